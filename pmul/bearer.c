/* bearer.c - the glue (libev) between a P_MUL engine and the network that
 * carries its PDUs:
 *
 *  - SIS: STANAG 5066 Annex A S_UNIDATA primitives through the s5066 link
 *    glue, bound on SAP 2 with the 6-byte client transport header and
 *    application id 0x2000 of STANAG 4406 Annex E (TMI-1, "P_MUL over
 *    5066" in DESIGN.md); Address/Data/Discard to a node, a group address
 *    (Annex C C.3.1.3, non-ARQ only) or broadcast; Acks unicast;
 *    priority and TTL from the P_MUL Priority (0..255; above 15 as 15) and
 *    Expiry_Time.
 *  - UDP: ACP 142 Annex B (B.2, "P_MUL over UDP/IP"): ports 2751 Request/
 *    Reject/Release, 2752 Announce, 2753 Address/Data/Discard to the
 *    multicast group, 2754 Acks unicast; node ids are IPv4 addresses.
 *
 * Also the config readers for [bearer], [node] and [group] ([pmul], the
 * engine's parameters, is read in engine.c).
 * The engine is called only from here, through bearer_enter/bearer_leave,
 * which apply flow changes and rearm the one timer once it returns.
 */
#include "pmul/pmul.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BEARER_LEARN_MAX  256 /* Source_ID -> 5066 address learnt from arrivals */
#define BEARER_LOGGED_MAX 256 /* (peer, event) pairs already logged */
#define BEARER_PEER_LOG_BURST 3                /* lines a peer may cause per window ... */
#define BEARER_PEER_LOG_WINDOW (10 * 60 * 1000) /* ... of 10 min, per kind */
#define BEARER_ROUTES_MAX 64  /* where our recent messages went (Ack-Ack, late Discard) */
#define BEARER_BUF        (65535 + S5066_CLIENT_HDR_LEN)

enum udp_sock { SOCK_REQ = 0, SOCK_ANN = 1, SOCK_DATA = 2, SOCK_ACK = 3, SOCK_COUNT = 4 };

/* events logged once per peer (local ones) or rate-limited per peer
 * (what a peer causes: bad PDUs and U_PDUs) */
enum log_once {
    ONCE_BAD = 1,
    ONCE_WRONG_APP,
    ONCE_NO_ROUTE,
    ONCE_SEND_ERR,
    ONCE_CORRUPT,
    ONCE_SHORT,
    ONCE_SRC_GROUP
};

/* Where a Source_ID's PDUs came from: its 5066 address (SIS) or IPv4
 * address (UDP), for the acks we send it. */
struct learned {
    uint32_t id;
    struct s5066_addr addr;
    uint32_t ip;
};

struct logged {
    uint32_t peer;
    uint8_t event;
    struct util_ratelimit rl; /* peer-triggered events: lines per window */
};

/* The 5066 address a message's first Address_PDU went to (a group,
 * broadcast or one node): where its Ack-Ack goes, which names nobody. */
struct route {
    uint32_t message_id;
    struct s5066_addr addr;
    bool used;
};

struct pmul_bearer {
    struct ev_loop *loop;
    struct pmul_bearer_config cfg;
    struct pmul_bearer_callbacks cb;
    void *user;
    struct pmul_engine *engine;
    const char *name;
    double scale;
    util_ms t0;       /* real monotonic ms at creation (= the engine's clock then) */
    int64_t wall0_ms; /* the real wall clock then, UNIX ms */
    ev_timer timer;   /* the engine's next expiry */
    ev_timer kick;    /* deferred: apply link changes outside the link's callbacks */
    int depth;        /* > 0 while inside an engine call */
    bool told_blocked, emcon, up, reported_up, started;
    bool told_emcon; /* what the engine was last told: operator or link EMCON */
    size_t pdu_max;
    struct pmul_bearer_stats st;
    uint8_t *buf; /* BEARER_BUF bytes: a U_PDU being built, a datagram read */
    /* SIS */
    struct s5066_link *link;
    bool bound, held, queue_full;
    uint16_t mtu;
    uint8_t updu_id;
    struct learned learned[BEARER_LEARN_MAX];
    size_t nlearned, learn_next;
    struct logged logged[BEARER_LOGGED_MAX];
    size_t nlogged;
    struct util_ratelimit rl_others; /* peer-triggered lines past the table */
    unsigned log_suppressed;         /* what bearer_peer_log held back before this line */
    struct route routes[BEARER_ROUTES_MAX];
    size_t route_next;
    /* UDP */
    int fd[SOCK_COUNT];
    ev_io rio[SOCK_COUNT];
    ev_io wio;
    bool wait_write;
    struct in_addr self, group, iface;
    uint16_t self_port; /* the port we send from */
    struct util_rng rng;
};

/* ---- configuration ------------------------------------------------------ */

/* pmul_bearer_config_init - the defaults */
void pmul_bearer_config_init(struct pmul_bearer_config *c)
{
    memset(c, 0, sizeof *c);
    c->kind = PMUL_BEARER_SIS;
    c->name = "pmul";
    c->time_scale = 1.0;
    s5066_link_config_default(&c->link);
    c->link.name = "pmul";
    c->link.client.sap = 2;
    c->link.client.service.tx_mode = S5066_TX_ARQ;
    c->link.client.service.confirm = S5066_CONFIRM_NONE;
    c->client_hdr = true;
    c->app_id = S5066_APP_ID_ACP142;
    c->data_tx_mode = S5066_TX_NON_ARQ;
    c->data_min_retx = 0;
    c->ack_tx_mode = S5066_TX_ARQ;
    c->ack_min_retx = 1;
    c->broadcast = true;
    c->id_as_address = true;
    for (int i = 0; i < 16; i++)
        c->sis_priority[i] = (uint8_t)(15 - i);
    c->min_ttl_ms = 60000;
    c->max_ttl_ms = 0;
    snprintf(c->udp_addr, sizeof c->udp_addr, "127.0.0.1");
    snprintf(c->udp_group, sizeof c->udp_group, "%s", PMUL_UDP_GROUP);
    snprintf(c->udp_iface, sizeof c->udp_iface, "127.0.0.1");
    c->udp_port = PMUL_UDP_PORT_BASE;
    c->udp_ttl = 1;
    c->udp_loop = true;
    c->udp_drop = 0.0;
    c->udp_seed = 1;
}

/* pmul_bearer_config_free - release the node and group tables */
void pmul_bearer_config_free(struct pmul_bearer_config *c)
{
    for (size_t i = 0; i < c->ngroups; i++)
        free(c->groups[i].members);
    free(c->groups);
    free(c->nodes);
    c->groups = NULL;
    c->nodes = NULL;
    c->ngroups = c->nnodes = 0;
}

/* pmul_bearer_config_add_node - add a node to the table */
int pmul_bearer_config_add_node(struct pmul_bearer_config *c, const char *name, uint32_t id,
                                const struct s5066_addr *addr)
{
    if (!name || strlen(name) >= PMUL_BEARER_NAME_MAX || id == 0 || (addr && addr->group))
        return UTIL_ERR_INVAL;
    for (size_t i = 0; i < c->nnodes; i++)
        if (c->nodes[i].id == id || (name[0] && strcmp(c->nodes[i].name, name) == 0))
            return UTIL_ERR_DUPLICATE;
    struct pmul_bearer_node *n = realloc(c->nodes, (c->nnodes + 1) * sizeof *n);
    if (!n)
        return UTIL_ERR_NOMEM;
    c->nodes = n;
    n = &c->nodes[c->nnodes++];
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", name);
    n->id = id;
    if (addr) {
        n->has_addr = true;
        n->addr = *addr;
    }
    return 0;
}

/* pmul_bearer_config_add_group - add a group address and its members */
int pmul_bearer_config_add_group(struct pmul_bearer_config *c, const char *name,
                                 const struct s5066_addr *addr, const uint32_t *members, size_t n)
{
    if (!name || strlen(name) >= PMUL_BEARER_NAME_MAX || !addr || !addr->group || (n && !members))
        return UTIL_ERR_INVAL;
    struct pmul_bearer_group *g = realloc(c->groups, (c->ngroups + 1) * sizeof *g);
    if (!g)
        return UTIL_ERR_NOMEM;
    c->groups = g;
    uint32_t *m = n ? malloc(n * sizeof *m) : NULL;
    if (n && !m)
        return UTIL_ERR_NOMEM;
    if (n)
        memcpy(m, members, n * sizeof *m);
    g = &c->groups[c->ngroups++];
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    g->addr = *addr;
    g->members = m;
    g->nmembers = n;
    return 0;
}

/* pmul_bearer_config_copy - a deep copy */
int pmul_bearer_config_copy(struct pmul_bearer_config *dst, const struct pmul_bearer_config *src)
{
    *dst = *src;
    dst->nodes = NULL;
    dst->groups = NULL;
    dst->nnodes = dst->ngroups = 0;
    for (size_t i = 0; i < src->nnodes; i++) {
        const struct pmul_bearer_node *n = &src->nodes[i];
        if (pmul_bearer_config_add_node(dst, n->name, n->id, n->has_addr ? &n->addr : NULL) < 0)
            goto fail;
        dst->nodes[dst->nnodes - 1].ack_acker_id = n->ack_acker_id;
    }
    for (size_t i = 0; i < src->ngroups; i++) {
        const struct pmul_bearer_group *g = &src->groups[i];
        if (pmul_bearer_config_add_group(dst, g->name, &g->addr, g->members, g->nmembers) < 0)
            goto fail;
    }
    return 0;
fail:
    pmul_bearer_config_free(dst);
    return UTIL_ERR_NOMEM;
}

/* pmul_bearer_find_node - a node by name, or an id in any notation */
int pmul_bearer_find_node(const struct pmul_bearer_config *c, const char *s, uint32_t *id)
{
    for (size_t i = 0; i < c->nnodes; i++)
        if (strcmp(c->nodes[i].name, s) == 0) {
            *id = c->nodes[i].id;
            return 0;
        }
    return pmul_parse_node_id(s, id);
}

/* pmul_bearer_node_name - the table's name of id, or NULL */
const char *pmul_bearer_node_name(const struct pmul_bearer_config *c, uint32_t id)
{
    for (size_t i = 0; i < c->nnodes; i++)
        if (c->nodes[i].id == id)
            return c->nodes[i].name;
    return NULL;
}

/* conf_tx_mode - "arq" / "nonarq" for a key */
static int conf_tx_mode(struct util_conf *conf, struct util_conf_section *s, const char *key,
                        uint8_t def, uint8_t *out)
{
    static const char *const names[] = {"default", "arq", "nonarq", NULL};
    int v;
    int rc = util_conf_enum(conf, s, key, names, def, &v);
    if (rc < 0)
        return rc;
    if (v == 0)
        return util_conf_fail(conf, s, key, UTIL_ERR_RANGE, "arq or nonarq");
    *out = (uint8_t)v;
    return 0;
}

/* conf_u8 - an integer key into a byte */
static int conf_u8(struct util_conf *conf, struct util_conf_section *s, const char *key,
                   uint8_t def, long long max, uint8_t *out)
{
    long long v;
    int rc = util_conf_int(conf, s, key, def, 0, max, &v);
    if (rc == 0)
        *out = (uint8_t)v;
    return rc;
}

/* conf_sis_priority - "15,14,...": one SIS priority per P_MUL priority 0..15 */
static int conf_sis_priority(struct util_conf *conf, struct util_conf_section *s,
                             struct pmul_bearer_config *c)
{
    const char *v;
    int rc = util_conf_str(conf, s, "sis_priority", NULL, &v);
    if (rc < 0 || !v)
        return rc;
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", v);
    int n = 0;
    for (char *save = NULL, *t = strtok_r(tmp, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        long long p;
        if (n >= 16 || util_parse_int(t, 0, 15, &p) < 0)
            return util_conf_fail(conf, s, "sis_priority", UTIL_ERR_RANGE,
                                  "16 numbers 0..15 (for P_MUL priorities 0..15)");
        c->sis_priority[n++] = (uint8_t)p;
    }
    for (; n > 0 && n < 16; n++) /* a short list: the rest as its last value */
        c->sis_priority[n] = c->sis_priority[n - 1];
    return 0;
}

/* conf_sis - the [bearer] keys of the SIS bearer */
static void conf_sis(struct util_conf *conf, struct util_conf_section *s,
                     struct pmul_bearer_config *c)
{
    const char *target;
    if (util_conf_str(conf, s, "target", NULL, &target) == 0 && target &&
        s5066_link_parse_target(target, &c->link) < 0)
        util_conf_fail(conf, s, "target", UTIL_ERR_INVAL,
                       "host:port, tcp:host:port or serial:/dev/tty[:baud[:rtscts]]");
    conf_u8(conf, s, "sap", c->link.client.sap, 15, &c->link.client.sap);
    conf_u8(conf, s, "rank", c->link.client.rank, 15, &c->link.client.rank);
    util_conf_bool(conf, s, "client_header", c->client_hdr, &c->client_hdr);
    long long v;
    if (util_conf_int(conf, s, "app_id", c->app_id, 0, 0xFFFF, &v) == 0)
        c->app_id = (uint16_t)v;
    conf_tx_mode(conf, s, "data_mode", c->data_tx_mode, &c->data_tx_mode);
    conf_u8(conf, s, "data_min_retx", c->data_min_retx, 15, &c->data_min_retx);
    conf_tx_mode(conf, s, "ack_mode", c->ack_tx_mode, &c->ack_tx_mode);
    conf_u8(conf, s, "ack_min_retx", c->ack_min_retx, 15, &c->ack_min_retx);
    util_conf_bool(conf, s, "broadcast", c->broadcast, &c->broadcast);
    util_conf_bool(conf, s, "id_as_address", c->id_as_address, &c->id_as_address);
    conf_sis_priority(conf, s, c);
    util_conf_duration_ms(conf, s, "min_ttl", c->min_ttl_ms, 0, (util_ms)S5066_MAX_TTL * 2000,
                          &c->min_ttl_ms);
    util_conf_duration_ms(conf, s, "max_ttl", c->max_ttl_ms, 0, (util_ms)S5066_MAX_TTL * 2000,
                          &c->max_ttl_ms);
    util_conf_duration_ms(conf, s, "connect_timeout", c->link.connect_timeout_ms, 100, 3600000,
                          &c->link.connect_timeout_ms);
    util_conf_duration_ms(conf, s, "reconnect_min", c->link.reconnect_min_ms, 10, 3600000,
                          &c->link.reconnect_min_ms);
    util_conf_duration_ms(conf, s, "reconnect_max", c->link.reconnect_max_ms, 10, 86400000,
                          &c->link.reconnect_max_ms);
    uint64_t q;
    if (util_conf_size(conf, s, "queue_limit", c->link.client.queue_limit_bytes, 65536,
                       (uint64_t)1 << 30, &q) == 0)
        c->link.client.queue_limit_bytes = (size_t)q;
}

/* conf_ipv4 - an IPv4 address key into a string field */
static void conf_ipv4(struct util_conf *conf, struct util_conf_section *s, const char *key,
                      char *out, size_t len, bool multicast)
{
    const char *v;
    if (util_conf_str(conf, s, key, NULL, &v) < 0 || !v)
        return;
    struct in_addr a;
    if (inet_pton(AF_INET, v, &a) != 1 || strlen(v) >= len) {
        util_conf_fail(conf, s, key, UTIL_ERR_INVAL, "an IPv4 address");
        return;
    }
    if (multicast && !IN_MULTICAST(ntohl(a.s_addr))) {
        util_conf_fail(conf, s, key, UTIL_ERR_RANGE, "a multicast address (224.0.0.0/4)");
        return;
    }
    snprintf(out, len, "%s", v);
}

/* conf_udp - the [bearer] keys of the UDP bearer */
static void conf_udp(struct util_conf *conf, struct util_conf_section *s,
                     struct pmul_bearer_config *c)
{
    conf_ipv4(conf, s, "address", c->udp_addr, sizeof c->udp_addr, false);
    conf_ipv4(conf, s, "group", c->udp_group, sizeof c->udp_group, true);
    conf_ipv4(conf, s, "interface", c->udp_iface, sizeof c->udp_iface, false);
    long long v;
    if (util_conf_int(conf, s, "port", c->udp_port, 1, 65532, &v) == 0)
        c->udp_port = (uint16_t)v;
    if (util_conf_int(conf, s, "multicast_ttl", c->udp_ttl, 0, 255, &v) == 0)
        c->udp_ttl = (int)v;
    util_conf_bool(conf, s, "multicast_loop", c->udp_loop, &c->udp_loop);
    util_conf_double(conf, s, "drop", c->udp_drop, 0.0, 1.0, &c->udp_drop);
    if (util_conf_int(conf, s, "seed", (long long)c->udp_seed, 0, INT64_MAX, &v) == 0)
        c->udp_seed = (uint64_t)v;
}

/* conf_nodes - every [node NAME] section */
static void conf_nodes(struct util_conf *conf, struct pmul_bearer_config *c)
{
    struct util_conf_section *s = NULL;
    while ((s = util_conf_next_section(conf, "node", s))) {
        const char *name = util_conf_section_name(s), *idstr, *addrstr;
        uint32_t id = 0;
        struct s5066_addr addr;
        bool has_addr = false;
        if (!*name || strlen(name) >= PMUL_BEARER_NAME_MAX) {
            util_conf_fail(conf, s, "id", UTIL_ERR_INVAL,
                           "[node NAME] needs a name of 1..%d characters",
                           PMUL_BEARER_NAME_MAX - 1);
            continue;
        }
        if (util_conf_str_required(conf, s, "id", &idstr) == 0 &&
            pmul_parse_node_id(idstr, &id) < 0)
            util_conf_fail(conf, s, "id", UTIL_ERR_INVAL,
                           "a node id: 1..4294967295, 0x.. or a.b.c.d");
        if (util_conf_str(conf, s, "address", NULL, &addrstr) == 0 && addrstr) {
            if (s5066_addr_parse(addrstr, &addr) < 0 || addr.group)
                util_conf_fail(conf, s, "address", UTIL_ERR_INVAL,
                               "a 5066 node address 0.0.0.1 .. 15.255.255.255");
            else
                has_addr = true;
        }
        static const char *const conventions[] = {"originator", "acker", NULL};
        int acker = 0;
        util_conf_enum(conf, s, "ack_source_id", conventions, 0, &acker);
        if (id && pmul_bearer_config_add_node(c, name, id, has_addr ? &addr : NULL) < 0)
            util_conf_fail(conf, s, "id", UTIL_ERR_DUPLICATE, "node name or id given twice");
        else if (id)
            c->nodes[c->nnodes - 1].ack_acker_id = acker == 1;
    }
}

/* conf_groups - every [group NAME] section (after the nodes) */
static void conf_groups(struct util_conf *conf, struct pmul_bearer_config *c)
{
    struct util_conf_section *s = NULL;
    while ((s = util_conf_next_section(conf, "group", s))) {
        const char *name = util_conf_section_name(s), *addrstr, *members;
        struct s5066_addr addr;
        bool ok = true;
        if (util_conf_str_required(conf, s, "address", &addrstr) < 0)
            ok = false;
        else if (s5066_addr_parse(addrstr, &addr) < 0 || !addr.group) {
            util_conf_fail(conf, s, "address", UTIL_ERR_INVAL,
                           "a 5066 group address 16.0.0.0 .. 31.255.255.255");
            ok = false;
        }
        if (util_conf_str_required(conf, s, "members", &members) < 0)
            continue;
        uint32_t ids[256];
        size_t n = 0;
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", members);
        for (char *save = NULL, *t = strtok_r(tmp, ", ", &save); t;
             t = strtok_r(NULL, ", ", &save)) {
            uint32_t id;
            if (n >= UTIL_ARRAY_LEN(ids) || pmul_bearer_find_node(c, t, &id) < 0) {
                util_conf_fail(conf, s, "members", UTIL_ERR_INVAL,
                               "'%s' is neither a [node] name nor a node id (at most %zu members)",
                               t, UTIL_ARRAY_LEN(ids));
                ok = false;
                break;
            }
            ids[n++] = id;
        }
        if (ok && n == 0) {
            util_conf_fail(conf, s, "members", UTIL_ERR_INVAL, "no members");
            ok = false;
        }
        if (ok && pmul_bearer_config_add_group(c, strlen(name) < PMUL_BEARER_NAME_MAX ? name : "",
                                               &addr, ids, n) < 0)
            util_conf_fail(conf, s, "members", UTIL_ERR_NOMEM, "out of memory");
    }
}

/* pmul_bearer_config_from_conf - [bearer], [node] and [group] into c */
int pmul_bearer_config_from_conf(struct util_conf *conf, struct pmul_bearer_config *c)
{
    struct util_conf_section *s = util_conf_section(conf, "bearer", NULL);
    static const char *const kinds[] = {"sis", "udp", NULL};
    int kind;
    if (util_conf_enum(conf, s, "kind", kinds, c->kind, &kind) == 0)
        c->kind = kind;
    util_conf_double(conf, s, "time_scale", c->time_scale, 0.001, 1000000.0, &c->time_scale);
    uint64_t v;
    if (util_conf_size(conf, s, "pdu_max", c->pdu_max, 0, PMUL_MAX_LEN, &v) == 0) {
        if (v && v < 64)
            util_conf_fail(conf, s, "pdu_max", UTIL_ERR_RANGE, "0 (from the bearer) or 64..65535");
        c->pdu_max = (size_t)v;
    }
    if (c->kind == PMUL_BEARER_SIS)
        conf_sis(conf, s, c);
    else
        conf_udp(conf, s, c);
    conf_nodes(conf, c);
    conf_groups(conf, c);
    return util_conf_errcode(conf);
}

/* ---- clock, engine calls, flow ----------------------------------------- */

/* pmul_bearer_now - the engine's clock: real monotonic ms, scaled */
util_ms pmul_bearer_now(const struct pmul_bearer *b)
{
    util_ms real = util_now_ms();
    if (b->scale == 1.0)
        return real;
    return b->t0 + (util_ms)((double)(real - b->t0) * b->scale);
}

/* bearer_wall_ms - the engine's wall clock in UNIX ms at engine time now */
static int64_t bearer_wall_ms(const struct pmul_bearer *b, util_ms now)
{
    return b->wall0_ms + (int64_t)(now - b->t0);
}

/* bearer_can_send - whether the engine may hand us PDUs now */
static bool bearer_can_send(const struct pmul_bearer *b)
{
    if (!b->up)
        return false;
    if (b->cfg.kind == PMUL_BEARER_SIS)
        return !b->held && !b->queue_full;
    return !b->wait_write;
}

/* bearer_rearm - one ev_timer from the engine's next expiry */
static void bearer_rearm(struct pmul_bearer *b)
{
    ev_timer_stop(b->loop, &b->timer);
    util_ms next = pmul_engine_next_expiry(b->engine);
    if (next == UTIL_MS_NEVER)
        return;
    util_ms now = pmul_bearer_now(b);
    double delay = next > now ? (double)(next - now) / b->scale / 1000.0 : 0.0;
    ev_timer_set(&b->timer, delay + 0.0005, 0.0);
    ev_timer_start(b->loop, &b->timer);
}

/* bearer_enter - about to call the engine */
static util_ms bearer_enter(struct pmul_bearer *b)
{
    b->depth++;
    return pmul_bearer_now(b);
}

/* bearer_leave - back from the engine: tell it about flow changes, rearm */
static void bearer_leave(struct pmul_bearer *b)
{
    if (--b->depth > 0)
        return;
    for (int i = 0; i < 8; i++) {
        bool blocked = !bearer_can_send(b);
        if (blocked == b->told_blocked)
            break;
        b->told_blocked = blocked;
        UTIL_TRACE(UTIL_MOD_PMUL, "bearer-flow", "bearer=%s blocked=%s", b->name,
                   blocked ? "yes" : "no");
        b->depth++;
        pmul_engine_set_blocked(b->engine, pmul_bearer_now(b), blocked);
        b->depth--;
    }
    bearer_rearm(b);
}

/* bearer_schedule_kick - apply changes soon, outside the current callback */
static void bearer_schedule_kick(struct pmul_bearer *b)
{
    if (!ev_is_active(&b->kick)) {
        ev_timer_set(&b->kick, 0.0, 0.0);
        ev_timer_start(b->loop, &b->kick);
    }
}

/* bearer_on_kick - report up/down, unblock or block the engine */
static void bearer_on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pmul_bearer *b = w->data;
    (void)loop;
    (void)revents;
    if (b->depth > 0) {
        bearer_schedule_kick(b);
        return;
    }
    if (b->up != b->reported_up) {
        b->reported_up = b->up;
        if (b->cb.ready)
            b->cb.ready(b->user, b->up, b->pdu_max);
    }
    /* EMCON: the operator's, or the 5066 server's SUBNET_AVAILABILITY
     * receive-only for EMCON; the engine then holds its acks and sends them
     * after fresh random delays when EMCON ends */
    bool emcon = b->emcon;
    if (b->link && b->bound) {
        struct s5066_client_status cs;
        s5066_client_get_status(s5066_link_client(b->link), &cs);
        emcon = emcon || (cs.subnet == S5066_SUBNET_RECEIVE_ONLY &&
                          cs.subnet_reason == S5066_SUBNET_REASON_EMCON);
    }
    util_ms now = bearer_enter(b);
    if (emcon != b->told_emcon) {
        b->told_emcon = emcon;
        pmul_engine_set_emcon(b->engine, now, emcon);
    }
    bearer_leave(b);
}

/* bearer_on_timer - the engine's timer */
static void bearer_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pmul_bearer *b = w->data;
    (void)loop;
    (void)revents;
    util_ms now = bearer_enter(b);
    pmul_engine_timeout(b->engine, now);
    bearer_leave(b);
}

/* pmul_bearer_kick - rearm after calling the engine directly */
void pmul_bearer_kick(struct pmul_bearer *b)
{
    if (b->depth > 0)
        return;
    bearer_enter(b);
    bearer_leave(b);
}

/* bearer_once - whether (peer, event) is logged for the first time */
static bool bearer_once(struct pmul_bearer *b, uint32_t peer, uint8_t event)
{
    for (size_t i = 0; i < b->nlogged; i++)
        if (b->logged[i].peer == peer && b->logged[i].event == event)
            return false;
    if (b->nlogged >= BEARER_LOGGED_MAX)
        return false; /* too many peers: count only */
    b->logged[b->nlogged].peer = peer;
    b->logged[b->nlogged].event = event;
    b->nlogged++;
    return true;
}

/* bearer_peer_log - whether a line a peer caused (bad PDU, bad U_PDU) may
 * be logged: at most BEARER_PEER_LOG_BURST per BEARER_PEER_LOG_WINDOW per
 * (peer, event), peers past the table sharing one limit; b->log_suppressed
 * is what was held back since the last one (log it as suppressed=N) */
static bool bearer_peer_log(struct pmul_bearer *b, uint32_t peer, uint8_t event)
{
    struct util_ratelimit *rl = &b->rl_others;
    size_t i = 0;
    while (i < b->nlogged && !(b->logged[i].peer == peer && b->logged[i].event == event))
        i++;
    if (i < b->nlogged) {
        rl = &b->logged[i].rl;
    } else if (b->nlogged < BEARER_LOGGED_MAX) {
        memset(&b->logged[i], 0, sizeof b->logged[i]);
        b->logged[i].peer = peer;
        b->logged[i].event = event;
        b->nlogged++;
        rl = &b->logged[i].rl;
    }
    return util_ratelimit_allow(rl, util_now_ms(), BEARER_PEER_LOG_BURST, BEARER_PEER_LOG_WINDOW,
                                &b->log_suppressed);
}

/* bearer_input - one PDU from the network for the engine */
static void bearer_input(struct pmul_bearer *b, uint32_t peer_key, const char *peer,
                         const uint8_t *pdu, size_t len, const struct s5066_addr *src,
                         uint32_t src_ip)
{
    b->st.pdus_in++;
    util_ms now = bearer_enter(b);
    int rc = pmul_engine_input(b->engine, now, pdu, len);
    bearer_leave(b);
    if (rc < 0) {
        b->st.bad_in++;
        if (bearer_peer_log(b, peer_key, ONCE_BAD))
            util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "pdu-bad",
                     "bearer=%s peer=%s len=%zu error=\"%s\" suppressed=%u", b->name, peer, len,
                     pmul_strerror(rc), b->log_suppressed);
        return;
    }
    if ((src || src_ip) && len >= 12) { /* bytes 8..11: the sender's Source_ID in every PDU type */
        uint32_t id = util_get_u32(pdu + 8);
        size_t i;
        for (i = 0; i < b->nlearned; i++)
            if (b->learned[i].id == id)
                break;
        if (i == b->nlearned) {
            if (b->nlearned < BEARER_LEARN_MAX)
                i = b->nlearned++;
            else
                i = b->learn_next++ % BEARER_LEARN_MAX;
        }
        b->learned[i].id = id;
        if (src)
            b->learned[i].addr = *src;
        b->learned[i].ip = src_ip;
    }
    if (b->cb.pdu_in)
        b->cb.pdu_in(b->user, pdu, len);
}

/* ---- SIS bearer ---------------------------------------------------------- */

/* sis_resolve - the 5066 address of a Destination_ID: table, learnt, the id itself */
static bool sis_resolve(const struct pmul_bearer *b, uint32_t id, struct s5066_addr *out)
{
    for (size_t i = 0; i < b->cfg.nnodes; i++)
        if (b->cfg.nodes[i].id == id && b->cfg.nodes[i].has_addr) {
            *out = b->cfg.nodes[i].addr;
            return true;
        }
    for (size_t i = 0; i < b->nlearned; i++)
        if (b->learned[i].id == id) {
            *out = b->learned[i].addr;
            return true;
        }
    if (b->cfg.id_as_address && id >= 1 && id <= S5066_MAX_ADDR) {
        *out = s5066_addr_make(id, false);
        return true;
    }
    return false;
}

/* sis_group_covers - whether every one of ids is a member of g */
static bool sis_group_covers(const struct pmul_bearer_group *g, const uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t j;
        for (j = 0; j < g->nmembers; j++)
            if (g->members[j] == ids[i])
                break;
        if (j == g->nmembers)
            return false;
    }
    return true;
}

/* sis_route_find - where message_id's first Address_PDU went, or NULL */
static const struct s5066_addr *sis_route_find(const struct pmul_bearer *b, uint32_t message_id)
{
    for (size_t i = 0; i < BEARER_ROUTES_MAX; i++)
        if (b->routes[i].used && b->routes[i].message_id == message_id)
            return &b->routes[i].addr;
    return NULL;
}

/* sis_route_note - remember where message_id went first (the last few messages) */
static void sis_route_note(struct pmul_bearer *b, uint32_t message_id, const struct s5066_addr *a)
{
    if (sis_route_find(b, message_id))
        return;
    struct route *r = &b->routes[b->route_next++ % BEARER_ROUTES_MAX];
    r->used = true;
    r->message_id = message_id;
    r->addr = *a;
}

/* sis_ttl_ms - U_PDU lifetime from the message's Expiry_Time (radio time) */
static util_ms sis_ttl_ms(const struct pmul_bearer *b, const struct pmul_tx_info *info, util_ms now)
{
    if (!info->expiry)
        return b->cfg.max_ttl_ms;
    int64_t left = info->expiry * 1000 - bearer_wall_ms(b, now);
    util_ms ttl = left > 0 ? (util_ms)left : 0;
    ttl = UTIL_MAX(ttl, b->cfg.min_ttl_ms);
    if (b->cfg.max_ttl_ms)
        ttl = UTIL_MIN(ttl, b->cfg.max_ttl_ms);
    return UTIL_MIN(ttl, (util_ms)S5066_MAX_TTL * 2000);
}

/* sis_submit - one U_PDU (the client header is already in b->buf) */
static int sis_submit(struct pmul_bearer *b, const struct s5066_addr *dest, uint8_t tx_mode,
                      uint8_t min_retx, uint8_t prio, util_ms ttl, size_t len,
                      const struct pmul_tx_info *info)
{
    struct s5066_client_request r;
    memset(&r, 0, sizeof r);
    r.dest = *dest;
    r.dest_sap = b->cfg.link.client.sap;
    r.priority = prio;
    r.mode.tx_mode = dest->group ? S5066_TX_NON_ARQ : tx_mode;
    r.mode.confirm = S5066_CONFIRM_NONE;
    r.mode.order = S5066_ORDER_AS_ARRIVED;
    r.mode.min_retx = r.mode.tx_mode == S5066_TX_ARQ ? 0 : min_retx;
    r.ttl_ms = ttl;
    r.updu = b->buf;
    r.updu_len = len;
    uint64_t id = 0;
    int rc = s5066_link_submit(b->link, &r, &id);
    char a[S5066_ADDR_STRLEN];
    s5066_addr_format(dest, a, sizeof a);
    if (rc < 0) {
        if (rc == S5066_ERR_QUEUE_FULL) {
            b->queue_full = true;
            bearer_schedule_kick(b);
        } else if (bearer_once(b, s5066_addr_to_u32(dest), ONCE_SEND_ERR)) {
            util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "send-failed",
                     "bearer=%s type=%s src=" PMUL_ID_FMT " msgid=%u dest=%s len=%zu error=\"%s\"",
                     b->name, pmul_type_name(info->type), PMUL_ID_ARGS(info->source_id),
                     info->message_id, a, len, s5066_strerror(rc));
        }
        return rc;
    }
    b->st.copies_out++;
    UTIL_TRACE(UTIL_MOD_PMUL, "bearer-tx",
               "bearer=%s type=%s src=" PMUL_ID_FMT
               " msgid=%u dest=%s mode=%s prio=%u ttl_ms=%llu len=%zu updu=%llu",
               b->name, pmul_type_name(info->type), PMUL_ID_ARGS(info->source_id), info->message_id,
               a, r.mode.tx_mode == S5066_TX_ARQ ? "arq" : "non-arq", prio, (unsigned long long)ttl,
               len, (unsigned long long)id);
    return 0;
}

/* sis_send - route one PDU to 5066 addresses */
static int sis_send(struct pmul_bearer *b, const uint8_t *pdu, size_t len,
                    const struct pmul_tx_info *info)
{
    if (!b->bound || b->held)
        return S5066_ERR_LINK;
    size_t hdr = b->cfg.client_hdr ? S5066_CLIENT_HDR_LEN : 0;
    if (len + hdr > b->mtu || len + hdr > BEARER_BUF) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "send-too-big",
                 "bearer=%s type=%s src=" PMUL_ID_FMT " msgid=%u len=%zu mtu=%u", b->name,
                 pmul_type_name(info->type), PMUL_ID_ARGS(info->source_id), info->message_id, len,
                 b->mtu);
        return PMUL_ERR_TOO_BIG;
    }
    if (hdr) {
        struct s5066_client_hdr h = {0, 0, b->updu_id++, 0, b->cfg.app_id};
        s5066_client_hdr_encode(&h, b->buf, S5066_CLIENT_HDR_LEN);
    }
    memcpy(b->buf + hdr, pdu, len);
    size_t ulen = len + hdr;
    util_ms now = pmul_bearer_now(b);
    uint8_t prio = pmul_bearer_sis_priority(&b->cfg, info->priority);
    util_ms ttl = sis_ttl_ms(b, info, now);

    /* the 5066 destinations */
    struct s5066_addr one;
    struct s5066_addr *dests = &one;
    size_t ndest = 0;
    uint8_t mode = b->cfg.data_tx_mode, retx = b->cfg.data_min_retx;
    struct s5066_addr *many = NULL;
    if (info->type == PMUL_ACK || (info->to && !info->ndests)) {
        mode = b->cfg.ack_tx_mode;
        retx = b->cfg.ack_min_retx;
        if (info->type != PMUL_ACK)
            mode = b->cfg.data_tx_mode;
        if (sis_resolve(b, info->to, &one))
            ndest = 1;
    } else if (info->ndests == 0) {
        /* the Ack-Ack (or a Discard after the last destination finished):
         * where the message went, else broadcast if allowed */
        const struct s5066_addr *r = sis_route_find(b, info->message_id);
        if (r) {
            one = *r;
            ndest = 1;
        } else if (b->cfg.broadcast) {
            s5066_addr_parse(S5066_ADDR_BROADCAST_STR, &one);
            ndest = 1;
        }
    } else if (info->ndests == 1) {
        if (sis_resolve(b, info->dests[0], &one)) {
            ndest = 1;
            sis_route_note(b, info->message_id, &one);
        }
    } else {
        const struct pmul_bearer_group *best = NULL;
        for (size_t i = 0; i < b->cfg.ngroups; i++) {
            const struct pmul_bearer_group *g = &b->cfg.groups[i];
            if (info->ndests && sis_group_covers(g, info->dests, info->ndests) &&
                (!best || g->nmembers < best->nmembers))
                best = g;
        }
        if (best) {
            one = best->addr;
            ndest = 1;
            sis_route_note(b, info->message_id, &one);
        } else if (b->cfg.broadcast) {
            s5066_addr_parse(S5066_ADDR_BROADCAST_STR, &one);
            ndest = 1;
            sis_route_note(b, info->message_id, &one);
        } else {
            many = calloc(info->ndests ? info->ndests : 1, sizeof *many);
            if (!many)
                return UTIL_ERR_NOMEM;
            dests = many;
            for (size_t i = 0; i < info->ndests; i++)
                if (sis_resolve(b, info->dests[i], &many[ndest]))
                    ndest++;
                else if (bearer_once(b, info->dests[i], ONCE_NO_ROUTE))
                    util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "no-route",
                             "bearer=%s dest=" PMUL_ID_FMT, b->name, PMUL_ID_ARGS(info->dests[i]));
        }
    }
    if (ndest == 0) {
        uint32_t who =
            info->type == PMUL_ACK || info->to ? info->to : (info->ndests ? info->dests[0] : 0);
        b->st.no_route++;
        if (bearer_once(b, who, ONCE_NO_ROUTE))
            util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "no-route",
                     "bearer=%s type=%s src=" PMUL_ID_FMT " msgid=%u dest=" PMUL_ID_FMT
                     " (no [node] address; dropped)",
                     b->name, pmul_type_name(info->type), PMUL_ID_ARGS(info->source_id),
                     info->message_id, PMUL_ID_ARGS(who));
        free(many);
        return 0; /* dropped: retrying cannot help */
    }
    struct s5066_client_status cs;
    s5066_client_get_status(s5066_link_client(b->link), &cs);
    if (cs.queued_bytes + ndest * ulen > b->cfg.link.client.queue_limit_bytes) {
        b->queue_full = true;
        bearer_schedule_kick(b);
        free(many);
        return S5066_ERR_QUEUE_FULL;
    }
    int rc = 0;
    for (size_t i = 0; i < ndest && rc == 0; i++)
        rc = sis_submit(b, &dests[i], mode, retx, prio, ttl, ulen, info);
    free(many);
    return rc;
}

/* sis_on_state - bound (with the MTU), or not */
static void sis_on_state(void *user, int state, uint16_t mtu)
{
    struct pmul_bearer *b = user;
    bool bound = state == S5066_CLIENT_BOUND;
    if (bound) {
        size_t hdr = b->cfg.client_hdr ? S5066_CLIENT_HDR_LEN : 0;
        size_t pdu = mtu > hdr ? mtu - hdr : 0;
        if (b->cfg.pdu_max)
            pdu = UTIL_MIN(pdu, b->cfg.pdu_max);
        if (pdu < 64) {
            util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "mtu-too-small", "bearer=%s mtu=%u", b->name,
                     mtu);
            bound = false;
        } else {
            b->mtu = mtu;
            b->pdu_max = pdu;
            pmul_engine_set_pdu_max(b->engine, pdu);
            util_log(UTIL_LOG_NOTICE, UTIL_MOD_PMUL, "bearer-up",
                     "bearer=%s kind=sis sap=%u mtu=%u pdu_max=%zu app_id=0x%04x", b->name,
                     b->cfg.link.client.sap, mtu, pdu, b->cfg.app_id);
        }
    } else if (b->bound) {
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_PMUL, "bearer-down", "bearer=%s kind=sis state=%s",
                 b->name, s5066_client_state_name(state));
    }
    if (state == S5066_CLIENT_FAILED)
        util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "bearer-failed",
                 "bearer=%s kind=sis sap=%u (bind refused: nothing is sent until the next connection)", b->name,
                 b->cfg.link.client.sap);
    b->bound = bound;
    b->up = bound;
    if (bound)
        b->held = !s5066_client_can_send(s5066_link_client(b->link));
    bearer_schedule_kick(b);
}

/* sis_on_hold - DATAFLOW_OFF/ON, SUBNET_AVAILABILITY, operator hold */
static void sis_on_hold(void *user, bool held, const char *why)
{
    struct pmul_bearer *b = user;
    b->held = held;
    UTIL_TRACE(UTIL_MOD_PMUL, "bearer-hold", "bearer=%s held=%s why=%s", b->name,
               held ? "yes" : "no", why);
    bearer_schedule_kick(b);
}

/* sis_on_result - a U_PDU's outcome: queue room again, failures counted */
static void sis_on_result(void *user, uint64_t id, int result, int reason)
{
    struct pmul_bearer *b = user;
    if (result == S5066_RESULT_SENT || result == S5066_RESULT_CONFIRMED)
        b->st.sent_ok++;
    else {
        b->st.send_rejected++;
        util_log(UTIL_LOG_DEBUG, UTIL_MOD_PMUL, "updu-failed",
                 "bearer=%s updu=%llu result=%s reason=%d", b->name, (unsigned long long)id,
                 s5066_result_name(result), reason);
    }
    if (b->queue_full) {
        struct s5066_client_status cs;
        s5066_client_get_status(s5066_link_client(b->link), &cs);
        if (cs.queued_bytes <= b->cfg.link.client.queue_limit_bytes / 2) {
            b->queue_full = false;
            bearer_schedule_kick(b);
        }
    }
}

/* sis_on_ind - a U_PDU: strip the client header, hand the PDU to the engine */
static void sis_on_ind(void *user, const struct s5066_unidata_indication *ind, bool expedited)
{
    struct pmul_bearer *b = user;
    (void)expedited;
    char peer[S5066_ADDR_STRLEN];
    s5066_addr_format(&ind->src, peer, sizeof peer);
    uint32_t key = s5066_addr_to_u32(&ind->src);
    const uint8_t *p = ind->updu;
    size_t len = ind->updu_len;
    if (ind->src.group) {
        /* a group address is a destination only (STANAG 5066 Annex A): no PDU from
         * it is taken, and no reply is ever addressed to it */
        b->st.bad_in++;
        if (bearer_peer_log(b, key, ONCE_SRC_GROUP))
            util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "updu-src-group",
                     "bearer=%s peer=%s len=%zu suppressed=%u (a group address as source: dropped)",
                     b->name, peer, ind->updu_len, b->log_suppressed);
        return;
    }
    if (ind->tx_mode == S5066_TX_NON_ARQ_ERRORS && (ind->n_err || ind->n_nrx)) {
        b->st.dropped_in++;
        if (bearer_peer_log(b, key, ONCE_CORRUPT))
            util_log(UTIL_LOG_INFO, UTIL_MOD_PMUL, "updu-corrupt",
                     "bearer=%s peer=%s len=%zu suppressed=%u (U_PDUs with errors are dropped)", b->name, peer,
                     len, b->log_suppressed);
        return;
    }
    if (b->cfg.client_hdr) {
        struct s5066_client_hdr h;
        if (s5066_client_hdr_decode(p, len, &h) != S5066_CLIENT_HDR_LEN) {
            b->st.bad_in++;
            if (bearer_peer_log(b, key, ONCE_SHORT))
                util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "updu-short",
                         "bearer=%s peer=%s len=%zu suppressed=%u (no client header)", b->name, peer, len,
                         b->log_suppressed);
            return;
        }
        if (h.app_id != b->cfg.app_id) {
            b->st.wrong_app++;
            if (bearer_peer_log(b, key, ONCE_WRONG_APP))
                util_log(UTIL_LOG_NOTICE, UTIL_MOD_PMUL, "wrong-app",
                         "bearer=%s peer=%s app_id=0x%04x want=0x%04x suppressed=%u (dropped)", b->name, peer,
                         h.app_id, b->cfg.app_id, b->log_suppressed);
            return;
        }
        p += S5066_CLIENT_HDR_LEN;
        len -= S5066_CLIENT_HDR_LEN;
    }
    UTIL_TRACE(UTIL_MOD_PMUL, "bearer-rx", "bearer=%s peer=%s dest_sap=%u mode=%u len=%zu type=%s",
               b->name, peer, ind->dest_sap, ind->tx_mode, len,
               len >= 4 ? pmul_type_name(p[3] & 0x3F) : "short");
    bearer_input(b, key, peer, p, len, &ind->src, 0);
}

/* sis_open - create the link (started by pmul_bearer_start) */
static int sis_open(struct pmul_bearer *b)
{
    static const struct s5066_client_callbacks cb = {
        NULL, sis_on_state, sis_on_ind, sis_on_result, NULL, sis_on_hold,
    };
    struct s5066_link_config lc = b->cfg.link;
    lc.name = b->name;
    b->link = s5066_link_new(b->loop, &lc, &cb, b);
    return b->link ? 0 : UTIL_ERR_NOMEM;
}

/* ---- UDP bearer ------------------------------------------------------------ */

/* udp_socket - a non-blocking UDP socket bound to addr:port */
static int udp_socket(struct pmul_bearer *b, struct in_addr addr, uint16_t port, bool reuse)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    if (reuse)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr = addr;
    sa.sin_port = htons(port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        char a[INET_ADDRSTRLEN];
        util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "udp-bind-failed",
                 "bearer=%s addr=%s port=%u error=\"%s\"", b->name,
                 inet_ntop(AF_INET, &addr, a, sizeof a), port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* udp_join - join the group on the interface */
static int udp_join(struct pmul_bearer *b, int fd)
{
    struct ip_mreq m;
    m.imr_multiaddr = b->group;
    m.imr_interface = b->iface;
    if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) < 0) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "udp-join-failed",
                 "bearer=%s group=%s interface=%s error=\"%s\"", b->name, b->cfg.udp_group,
                 b->cfg.udp_iface, strerror(errno));
        return -1;
    }
    return 0;
}

/* udp_on_read - datagrams on one of the four sockets */
static void udp_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pmul_bearer *b = w->data;
    (void)loop;
    (void)revents;
    for (int n = 0; n < 64; n++) {
        struct sockaddr_in from;
        socklen_t flen = sizeof from;
        ssize_t len = recvfrom(w->fd, b->buf, BEARER_BUF, 0, (struct sockaddr *)&from, &flen);
        if (len < 0)
            return; /* EAGAIN, or an error to forget */
        if (from.sin_addr.s_addr == b->self.s_addr && ntohs(from.sin_port) == b->self_port) {
            b->st.own_in++; /* our own multicast, looped back */
            continue;
        }
        if (b->cfg.udp_drop > 0.0 && util_rng_unit(&b->rng) < b->cfg.udp_drop) {
            b->st.dropped_in++;
            continue;
        }
        char peer[INET_ADDRSTRLEN + 8];
        char a[INET_ADDRSTRLEN];
        snprintf(peer, sizeof peer, "%s:%u", inet_ntop(AF_INET, &from.sin_addr, a, sizeof a),
                 ntohs(from.sin_port));
        UTIL_TRACE(UTIL_MOD_PMUL, "bearer-rx", "bearer=%s peer=%s len=%zd type=%s", b->name, peer,
                   len, len >= 4 ? pmul_type_name(b->buf[3] & 0x3F) : "short");
        bearer_input(b, ntohl(from.sin_addr.s_addr), peer, b->buf, (size_t)len, NULL,
                     ntohl(from.sin_addr.s_addr));
    }
}

/* udp_on_write - the send socket has room again */
static void udp_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pmul_bearer *b = w->data;
    (void)revents;
    ev_io_stop(loop, w);
    b->wait_write = false;
    bearer_schedule_kick(b);
}

/* udp_resolve - a node's IPv4 address: where its PDUs came from, else its id */
static uint32_t udp_resolve(const struct pmul_bearer *b, uint32_t id)
{
    for (size_t i = 0; i < b->nlearned; i++)
        if (b->learned[i].id == id && b->learned[i].ip)
            return b->learned[i].ip;
    return id;
}

/* udp_send - one datagram to the port and address ACP 142 Annex B gives its type */
static int udp_send(struct pmul_bearer *b, const uint8_t *pdu, size_t len,
                    const struct pmul_tx_info *info)
{
    struct sockaddr_in to;
    memset(&to, 0, sizeof to);
    to.sin_family = AF_INET;
    to.sin_addr = b->group;
    switch (info->type) {
    case PMUL_ACK:
        to.sin_port = htons((uint16_t)(b->cfg.udp_port + 3));
        if (info->to)
            to.sin_addr.s_addr = htonl(udp_resolve(b, info->to));
        break;
    case PMUL_ANNOUNCE: to.sin_port = htons((uint16_t)(b->cfg.udp_port + 1)); break;
    case PMUL_REQUEST:
    case PMUL_REJECT:
    case PMUL_RELEASE:
        to.sin_port = htons(b->cfg.udp_port);
        if (info->to)
            to.sin_addr.s_addr = htonl(udp_resolve(b, info->to));
        break;
    default:
        to.sin_port = htons((uint16_t)(b->cfg.udp_port + 2));
        if (info->to && !info->ndests)
            to.sin_addr.s_addr = htonl(udp_resolve(b, info->to));
        break;
    }
    ssize_t n = sendto(b->fd[SOCK_ACK], pdu, len, 0, (struct sockaddr *)&to, sizeof to);
    char a[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &to.sin_addr, a, sizeof a);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EINTR) {
            b->wait_write = true;
            ev_io_start(b->loop, &b->wio);
            return UTIL_ERR_IO;
        }
        b->st.send_rejected++;
        if (bearer_once(b, ntohl(to.sin_addr.s_addr), ONCE_SEND_ERR))
            util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "send-failed",
                     "bearer=%s type=%s src=" PMUL_ID_FMT
                     " msgid=%u to=%s:%u len=%zu error=\"%s\" (logged once)",
                     b->name, pmul_type_name(info->type), PMUL_ID_ARGS(info->source_id),
                     info->message_id, a, ntohs(to.sin_port), len, strerror(errno));
        return 0; /* dropped: the protocol retransmits */
    }
    b->st.copies_out++;
    b->st.sent_ok++;
    UTIL_TRACE(UTIL_MOD_PMUL, "bearer-tx",
               "bearer=%s type=%s src=" PMUL_ID_FMT " msgid=%u to=%s:%u len=%zu", b->name,
               pmul_type_name(info->type), PMUL_ID_ARGS(info->source_id), info->message_id, a,
               ntohs(to.sin_port), len);
    return 0;
}

/* udp_open - the four sockets: unicast 2751 and 2754 on our address, the
 * group's 2752 and 2753 (shared with other nodes on this host) */
static int udp_open(struct pmul_bearer *b)
{
    if (inet_pton(AF_INET, b->cfg.udp_addr, &b->self) != 1 ||
        inet_pton(AF_INET, b->cfg.udp_group, &b->group) != 1 ||
        inet_pton(AF_INET, b->cfg.udp_iface, &b->iface) != 1 ||
        !IN_MULTICAST(ntohl(b->group.s_addr)) || b->cfg.udp_port == 0 || b->cfg.udp_port > 65532) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "udp-config",
                 "bearer=%s address=%s group=%s interface=%s port=%u", b->name, b->cfg.udp_addr,
                 b->cfg.udp_group, b->cfg.udp_iface, b->cfg.udp_port);
        return UTIL_ERR_INVAL;
    }
    uint16_t base = b->cfg.udp_port;
    b->fd[SOCK_REQ] = udp_socket(b, b->self, base, true);
    b->fd[SOCK_ACK] = udp_socket(b, b->self, (uint16_t)(base + 3), true);
    b->fd[SOCK_ANN] = udp_socket(b, b->group, (uint16_t)(base + 1), true);
    b->fd[SOCK_DATA] = udp_socket(b, b->group, (uint16_t)(base + 2), true);
    for (int i = 0; i < SOCK_COUNT; i++)
        if (b->fd[i] < 0)
            return UTIL_ERR_IO;
    if (udp_join(b, b->fd[SOCK_ANN]) < 0 || udp_join(b, b->fd[SOCK_DATA]) < 0)
        return UTIL_ERR_IO;
    int fd = b->fd[SOCK_ACK];
    unsigned char ttl = (unsigned char)b->cfg.udp_ttl, loop = b->cfg.udp_loop ? 1 : 0;
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &b->iface, sizeof b->iface) < 0 ||
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) < 0 ||
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) < 0) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "udp-setup-failed",
                 "bearer=%s interface=%s error=\"%s\"", b->name, b->cfg.udp_iface, strerror(errno));
        return UTIL_ERR_IO;
    }
    int sndbuf = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    for (int i = 0; i < SOCK_COUNT; i++) {
        int rcvbuf = 1 << 20;
        setsockopt(b->fd[i], SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    b->self_port = (uint16_t)(base + 3);
    util_rng_seed(&b->rng, b->cfg.udp_seed);
    return 0;
}

/* ---- the bearer --------------------------------------------------------------- */

/* bearer_on_send - the engine's send callback */
static int bearer_on_send(void *user, const uint8_t *pdu, size_t len,
                          const struct pmul_tx_info *info)
{
    struct pmul_bearer *b = user;
    int rc =
        b->cfg.kind == PMUL_BEARER_SIS ? sis_send(b, pdu, len, info) : udp_send(b, pdu, len, info);
    if (rc == 0) {
        b->st.pdus_out++;
        b->st.bytes_out += len;
    } else {
        b->st.send_failed++;
    }
    return rc;
}

/* Forwarders: the engine's `user` is the bearer, the caller's is b->user. */

/* fwd_deliver - a complete message */
static int fwd_deliver(void *user, const struct pmul_rx_message *m)
{
    struct pmul_bearer *b = user;
    return b->cb.engine.deliver(b->user, m);
}

/* fwd_dest_done - one destination finished */
static void fwd_dest_done(void *user, uint64_t handle, uint32_t msgid, uint32_t dest, int result)
{
    struct pmul_bearer *b = user;
    b->cb.engine.dest_done(b->user, handle, msgid, dest, result);
}

/* fwd_message_done - every destination finished */
static void fwd_message_done(void *user, uint64_t handle, uint32_t msgid, size_t acked,
                             size_t failed)
{
    struct pmul_bearer *b = user;
    b->cb.engine.message_done(b->user, handle, msgid, acked, failed);
}

/* fwd_alloc_message_id - the next Message_ID */
static int fwd_alloc_message_id(void *user, uint32_t *id)
{
    struct pmul_bearer *b = user;
    return b->cb.engine.alloc_message_id(b->user, id);
}

/* fwd_alloc_msn - the next Message_Sequence_Number for dest */
static int fwd_alloc_msn(void *user, uint32_t dest, uint32_t *msn)
{
    struct pmul_bearer *b = user;
    return b->cb.engine.alloc_msn(b->user, dest, msn);
}

/* fwd_already_delivered - delivered before a restart? */
static bool fwd_already_delivered(void *user, uint32_t src, uint32_t msgid)
{
    struct pmul_bearer *b = user;
    return b->cb.engine.already_delivered(b->user, src, msgid);
}

/* fwd_gap - messages lost from src */
static void fwd_gap(void *user, uint32_t src, uint32_t expected, uint32_t got)
{
    struct pmul_bearer *b = user;
    b->cb.engine.gap(b->user, src, expected, got);
}

/* sis_source_known - whether an originator is a configured [node]: over
 * 5066 an Ack_PDU to a made-up one would hold the channel with ARQ retries */
static bool sis_source_known(void *user, uint32_t src)
{
    const struct pmul_bearer *b = user;
    for (size_t i = 0; i < b->cfg.nnodes; i++)
        if (b->cfg.nodes[i].id == src)
            return true;
    return false;
}

/* bearer_ack_names_acker - whether Ack_PDUs to originator src name us
 * in their entries ([node] ack_source_id = acker: libjpmul's reading) */
static bool bearer_ack_names_acker(void *user, uint32_t src)
{
    const struct pmul_bearer *b = user;
    for (size_t i = 0; i < b->cfg.nnodes; i++)
        if (b->cfg.nodes[i].id == src)
            return b->cfg.nodes[i].ack_acker_id;
    return false;
}

/* bearer_real_wall_ms - the real wall clock in UNIX ms */
static int64_t bearer_real_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* pmul_bearer_new - a bearer and its engine */
struct pmul_bearer *pmul_bearer_new(struct ev_loop *loop, const struct pmul_bearer_config *cfg,
                                    const struct pmul_params *params,
                                    const struct pmul_bearer_callbacks *cb, void *user)
{
    if (!loop || !cfg || !params || !cb || !(cfg->time_scale > 0.0) ||
        (cfg->kind != PMUL_BEARER_SIS && cfg->kind != PMUL_BEARER_UDP))
        return NULL;
    struct pmul_bearer *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    for (int i = 0; i < SOCK_COUNT; i++)
        b->fd[i] = -1;
    if (pmul_bearer_config_copy(&b->cfg, cfg) < 0) {
        free(b);
        return NULL;
    }
    b->loop = loop;
    b->cb = *cb;
    b->user = user;
    b->name = b->cfg.name ? b->cfg.name : "pmul";
    b->scale = b->cfg.time_scale;
    b->t0 = util_now_ms();
    b->wall0_ms = bearer_real_wall_ms();
    b->told_blocked = true;
    ev_timer_init(&b->timer, bearer_on_timer, 0.0, 0.0);
    b->timer.data = b;
    ev_timer_init(&b->kick, bearer_on_kick, 0.0, 0.0);
    b->kick.data = b;
    b->buf = malloc(BEARER_BUF);

    struct pmul_params p = *params;
    if (b->cfg.kind == PMUL_BEARER_UDP)
        p.pdu_max = b->cfg.pdu_max ? b->cfg.pdu_max : PMUL_UDP_PDU_MAX;
    else if (b->cfg.pdu_max)
        p.pdu_max = UTIL_MIN(p.pdu_max, b->cfg.pdu_max);
    struct pmul_callbacks ecb;
    memset(&ecb, 0, sizeof ecb);
    ecb.send = bearer_on_send;
    ecb.deliver = cb->engine.deliver ? fwd_deliver : NULL;
    ecb.dest_done = cb->engine.dest_done ? fwd_dest_done : NULL;
    ecb.message_done = cb->engine.message_done ? fwd_message_done : NULL;
    ecb.alloc_message_id = cb->engine.alloc_message_id ? fwd_alloc_message_id : NULL;
    ecb.alloc_msn = cb->engine.alloc_msn ? fwd_alloc_msn : NULL;
    ecb.already_delivered = cb->engine.already_delivered ? fwd_already_delivered : NULL;
    ecb.gap = cb->engine.gap ? fwd_gap : NULL;
    ecb.source_known = b->cfg.kind == PMUL_BEARER_SIS ? sis_source_known : NULL;
    ecb.ack_names_acker = bearer_ack_names_acker;
    b->engine = b->buf ? pmul_engine_new(&p, &ecb, b) : NULL;
    if (!b->engine) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "engine-failed",
                 "bearer=%s node_id=%u pdu_max=%zu (bad parameters or no memory)", b->name,
                 p.node_id, p.pdu_max);
        pmul_bearer_free(b);
        return NULL;
    }
    util_ms now = bearer_enter(b);
    pmul_engine_set_wall(b->engine, now, b->wall0_ms);
    pmul_engine_set_blocked(b->engine, now, true);
    b->depth--; /* no rearm until started */

    int rc = b->cfg.kind == PMUL_BEARER_SIS ? sis_open(b) : udp_open(b);
    if (rc < 0) {
        pmul_bearer_free(b);
        return NULL;
    }
    if (b->cfg.kind == PMUL_BEARER_UDP) {
        b->pdu_max = p.pdu_max;
        for (int i = 0; i < SOCK_COUNT; i++) {
            ev_io_init(&b->rio[i], udp_on_read, b->fd[i], EV_READ);
            b->rio[i].data = b;
        }
        ev_io_init(&b->wio, udp_on_write, b->fd[SOCK_ACK], EV_WRITE);
        b->wio.data = b;
    }
    return b;
}

/* pmul_bearer_start - connect (SIS) / start listening (UDP) */
int pmul_bearer_start(struct pmul_bearer *b)
{
    if (b->started)
        return 0;
    b->started = true;
    if (b->cfg.kind == PMUL_BEARER_SIS) {
        char a[300];
        if (b->cfg.link.kind == S5066_LINK_TCP)
            snprintf(a, sizeof a, "%s:%u", b->cfg.link.host, b->cfg.link.port);
        else
            snprintf(a, sizeof a, "%s", b->cfg.link.device);
        util_log(UTIL_LOG_INFO, UTIL_MOD_PMUL, "bearer-start",
                 "bearer=%s kind=sis target=%s sap=%u client_header=%s app_id=0x%04x time_scale=%g",
                 b->name, a, b->cfg.link.client.sap, b->cfg.client_hdr ? "yes" : "no",
                 b->cfg.app_id, b->scale);
        int rc = s5066_link_start(b->link);
        if (rc < 0)
            return rc;
    } else {
        for (int i = 0; i < SOCK_COUNT; i++)
            ev_io_start(b->loop, &b->rio[i]);
        b->up = true;
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_PMUL, "bearer-up",
                 "bearer=%s kind=udp address=%s group=%s interface=%s ports=%u-%u pdu_max=%zu "
                 "time_scale=%g",
                 b->name, b->cfg.udp_addr, b->cfg.udp_group, b->cfg.udp_iface, b->cfg.udp_port,
                 b->cfg.udp_port + 3, b->pdu_max, b->scale);
    }
    bearer_schedule_kick(b);
    return 0;
}

/* pmul_bearer_free - close everything and free the engine */
void pmul_bearer_free(struct pmul_bearer *b)
{
    if (!b)
        return;
    ev_timer_stop(b->loop, &b->timer);
    ev_timer_stop(b->loop, &b->kick);
    if (b->link)
        s5066_link_free(b->link);
    for (int i = 0; i < SOCK_COUNT; i++)
        if (b->fd[i] >= 0) {
            ev_io_stop(b->loop, &b->rio[i]);
            close(b->fd[i]);
        }
    if (b->fd[SOCK_ACK] >= 0 || b->wait_write)
        ev_io_stop(b->loop, &b->wio);
    pmul_engine_free(b->engine);
    pmul_bearer_config_free(&b->cfg);
    free(b->buf);
    free(b);
}

/* pmul_bearer_engine - the engine inside */
struct pmul_engine *pmul_bearer_engine(struct pmul_bearer *b)
{
    return b->engine;
}

/* pmul_bearer_wall_s - the engine's wall clock now, UNIX seconds */
int64_t pmul_bearer_wall_s(const struct pmul_bearer *b)
{
    return bearer_wall_ms(b, pmul_bearer_now(b)) / 1000;
}

/* pmul_bearer_ready - whether the bearer can carry PDUs now */
bool pmul_bearer_ready(const struct pmul_bearer *b)
{
    return b->up;
}

/* pmul_bearer_link - the SIS link (NULL for UDP), for status displays */
struct s5066_link *pmul_bearer_link(struct pmul_bearer *b)
{
    return b->link;
}

/* pmul_bearer_pdu_max - the engine's PDU size (0 before the first bind) */
size_t pmul_bearer_pdu_max(const struct pmul_bearer *b)
{
    return b->pdu_max;
}

/* pmul_bearer_send - pmul_engine_send at now, then rearm */
int pmul_bearer_send(struct pmul_bearer *b, struct pmul_message *m, uint64_t *handle)
{
    util_ms now = bearer_enter(b);
    int rc = pmul_engine_send(b->engine, now, m, handle);
    bearer_leave(b);
    return rc;
}

/* pmul_bearer_set_emcon - own node in EMCON: the engine and (SIS) the link hold */
void pmul_bearer_set_emcon(struct pmul_bearer *b, bool emcon)
{
    if (b->emcon == emcon)
        return;
    b->emcon = emcon;
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_PMUL, "emcon", "bearer=%s emcon=%s", b->name,
             emcon ? "on" : "off");
    if (b->link)
        s5066_link_set_hold(b->link, emcon);
    util_ms now = bearer_enter(b);
    pmul_engine_set_emcon(b->engine, now, emcon);
    bearer_leave(b);
}

/* pmul_bearer_idle - nothing waiting towards the network */
bool pmul_bearer_idle(const struct pmul_bearer *b)
{
    if (b->cfg.kind == PMUL_BEARER_UDP)
        return !b->wait_write;
    struct s5066_client_status cs;
    s5066_client_get_status(s5066_link_client(b->link), &cs);
    return cs.queued == 0 && cs.awaiting == 0;
}

/* pmul_bearer_get_stats - counters */
void pmul_bearer_get_stats(const struct pmul_bearer *b, struct pmul_bearer_stats *st)
{
    *st = b->st;
}
