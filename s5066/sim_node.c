/* sim_node.c - the SIS server of one s5066sim node: STANAG 5066 Ed.3
 * Annex A seen from the subnetwork side.  A.2.1.1-5 (BIND_REQUEST,
 * UNBIND_REQUEST, BIND_ACCEPTED with the MTU of A.2.1.3, BIND_REJECTED and
 * UNBIND_INDICATION reasons), A.2.1.6-9 and A.2.1.11-14 (UNIDATA and
 * EXPEDITED_UNIDATA requests, indications, CONFIRM only when delivery
 * confirmation was asked, REJECTED reasons, over-MTU rejection), A.2.1.15
 * (DATA_FLOW_ON/OFF), A.2.1.16 (management only from rank 15), A.2.1.17
 * (KEEP_ALIVE answered, no more often than every 120 s), A.2.1.18-25 (hard
 * links, answered at once: the simulated channel has no link set-up) and
 * A.2.1.26 (SUBNET_AVAILABILITY: EMCON is receive-only, reason 1).
 *
 * An engine: no I/O, no clock.  Decoded primitives come in through
 * s5066_simclient_input(), primitives go out through the send callback,
 * and the U_PDUs go to the channel model (channel.c), whose deliver,
 * result and flow callbacks land here.
 *
 * Room for connections (s5066_simnode_admit): per node and per client
 * address; at a limit the most idle connection (not bound, then bound and
 * silent longest; A.2.1.5 UNBIND_INDICATION reason 2, inactivity, to a
 * bound one) is closed so that a newcomer that binds is served.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s5066/s5066.h"

#define SN_HOST_MAX      48 /* a numeric IPv6 address and then some */
#define SN_HOSTS         16 /* per-address log limiters kept per node (LRU) */
#define SN_CONNECT_BURST 10 /* connect lines per address per log window */
#define SN_CLOSED_BURST  5  /* closed-for-room lines per address per log window */

/* The log limiters of one client address. */
struct sn_host {
    char host[SN_HOST_MAX]; /* "" when the slot is free */
    util_ms used;
    struct util_ratelimit connect;
    struct util_ratelimit closed[2]; /* for room within the address, in a full table */
};

struct s5066_simclient {
    struct util_list link; /* in node->clients */
    struct s5066_simnode *node;
    void *conn;
    char peer[64];
    char host[SN_HOST_MAX]; /* peer's address, counted against max_per_address */
    util_ms active_at;      /* attached or last primitive from it */
    bool quiet;             /* its connect line was held back: so is its disconnect line */
    uint64_t id;            /* the tag of its U_PDUs in the channel */
    bool bound;
    uint8_t sap;
    uint8_t rank;
    struct s5066_service service;
    unsigned bad;
    unsigned bad_logged; /* kinds of invalid primitive logged (bad_kind bits) */
    bool keepalive_sent;
    util_ms keepalive_at;
};

struct s5066_simnode {
    struct s5066_channel *ch;
    int idx;
    struct s5066_simnode_params p;
    struct s5066_simnode_callbacks cb;
    void *user;
    struct util_list clients;
    size_t n_clients;
    struct s5066_simclient *sap_owner[16];
    uint64_t next_id;
    uint64_t closed_for_room;
    struct sn_host hosts[SN_HOSTS];
};

/* s5066_simnode_params_default - MTU 2048, every SAP, 5 invalid primitives, 120 s
 * keep-alive, 32 connections (16 per address), closing the most idle, 60 s log window */
void s5066_simnode_params_default(struct s5066_simnode_params *p)
{
    memset(p, 0, sizeof *p);
    p->mtu = 2048;
    p->saps = 0xFFFF;
    p->max_bad = 5;
    p->keepalive_min = 120000;
    p->max_clients = 32;
    p->max_per_address = 16;
    p->log_window = 60000;
}

/* name - the node's name for logs */
static const char *name(const struct s5066_simnode *n)
{
    return s5066_channel_node_name(n->ch, n->idx);
}

/* sn_send - one primitive to a client */
static void sn_send(struct s5066_simclient *c, const struct s5066_prim *p)
{
    struct s5066_simnode *n = c->node;
    UTIL_TRACE(UTIL_MOD_SIM, "send", "node=%s peer=%s type=%s", name(n), c->peer,
               s5066_type_name(p->type));
    if (n->cb.send)
        n->cb.send(n->user, c->conn, p);
}

/* send_simple - a primitive without a body (KEEP_ALIVE, DATAFLOW_ON/OFF) */
static void send_simple(struct s5066_simclient *c, int type)
{
    struct s5066_prim p;
    s5066_prim_init(&p, type);
    sn_send(c, &p);
}

/* send_reason - BIND_REJECTED or UNBIND_INDICATION */
static void send_reason(struct s5066_simclient *c, int type, uint8_t reason)
{
    struct s5066_prim p;
    s5066_prim_init(&p, type);
    p.u.reason.reason = reason;
    sn_send(c, &p);
}

/* send_availability - SUBNET_AVAILABILITY for the node's EMCON state */
static void send_availability(struct s5066_simclient *c, bool emcon)
{
    struct s5066_prim p;
    s5066_prim_init(&p, S5066_SUBNET_AVAILABILITY);
    p.u.avail.status = emcon ? S5066_SUBNET_RECEIVE_ONLY : S5066_SUBNET_ON;
    p.u.avail.reason = emcon ? S5066_SUBNET_REASON_EMCON : S5066_SUBNET_REASON_UNKNOWN;
    sn_send(c, &p);
}

/* send_result - CONFIRM (reason < 0) or REJECTED for a request, echoing its U_PDU */
static void send_result(struct s5066_simclient *c, bool expedited, int reason,
                        const struct s5066_addr *dest, uint8_t sap, const uint8_t *updu, size_t len)
{
    struct s5066_prim p;
    if (reason < 0)
        s5066_prim_init(&p, expedited ? S5066_EXPEDITED_UNIDATA_REQUEST_CONFIRM
                                      : S5066_UNIDATA_REQUEST_CONFIRM);
    else
        s5066_prim_init(&p, expedited ? S5066_EXPEDITED_UNIDATA_REQUEST_REJECTED
                                      : S5066_UNIDATA_REQUEST_REJECTED);
    p.u.result.reason = reason < 0 ? 0 : (uint8_t)reason;
    p.u.result.sap = sap;
    p.u.result.dest = *dest;
    p.u.result.updu = updu;
    p.u.result.updu_len = len;
    sn_send(c, &p);
}

/* release - free a client's SAP */
static void release(struct s5066_simclient *c)
{
    if (c->bound && c->node->sap_owner[c->sap] == c)
        c->node->sap_owner[c->sap] = NULL;
    c->bound = false;
}

/* client_free - unlink and free a client */
static void client_free(struct s5066_simclient *c)
{
    release(c);
    util_list_remove(&c->link);
    c->node->n_clients--;
    free(c);
}

/* ---- lifecycle ------------------------------------------------------------- */

/* s5066_simnode_new - a server for a new node of ch (added to the channel) */
struct s5066_simnode *s5066_simnode_new(struct s5066_channel *ch,
                                        const struct s5066_simnode_params *p,
                                        const struct s5066_simnode_callbacks *cb, void *user)
{
    if (!ch || !p || p->mtu == 0 || p->mtu > S5066_MAX_UPDU || p->max_bad == 0 ||
        p->log_window == 0)
        return NULL;
    struct s5066_simnode *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    struct s5066_channel_node cn = {.name = p->name,
                                    .addr = p->addr,
                                    .groups = p->groups,
                                    .n_groups = p->n_groups,
                                    .emcon = p->emcon};
    n->idx = s5066_channel_add_node(ch, &cn, n);
    if (n->idx < 0) {
        free(n);
        return NULL;
    }
    n->ch = ch;
    n->p = *p;
    n->p.name = NULL;   /* the channel keeps the name */
    n->p.groups = NULL; /* and the groups */
    if (cb)
        n->cb = *cb;
    n->user = user;
    util_list_init(&n->clients);
    return n;
}

/* s5066_simnode_free - release the server and its clients (no callbacks) */
void s5066_simnode_free(struct s5066_simnode *n)
{
    if (!n)
        return;
    struct util_list *it, *tmp;
    UTIL_LIST_FOREACH_SAFE(it, tmp, &n->clients)
    client_free(UTIL_CONTAINER_OF(it, struct s5066_simclient, link));
    free(n);
}

/* s5066_simnode_index - the node's index in the channel */
int s5066_simnode_index(const struct s5066_simnode *n)
{
    return n->idx;
}

/* s5066_simnode_clients - connections attached */
size_t s5066_simnode_clients(const struct s5066_simnode *n)
{
    return n->n_clients;
}

/* s5066_simnode_set_emcon - enter or leave EMCON, telling bound clients */
void s5066_simnode_set_emcon(struct s5066_simnode *n, util_ms now, bool emcon)
{
    if (s5066_channel_node_emcon(n->ch, n->idx) == emcon) {
        s5066_channel_run(n->ch, now);
        return;
    }
    s5066_channel_set_emcon(n->ch, now, n->idx, emcon);
    struct util_list *it;
    UTIL_LIST_FOREACH(it, &n->clients) {
        struct s5066_simclient *c = UTIL_CONTAINER_OF(it, struct s5066_simclient, link);
        if (c->bound)
            send_availability(c, emcon);
    }
}

/* ---- room for connections ------------------------------------------------------ */

/* peer_host - the address of "host:port" (all of peer when it ends in no :port) */
static void peer_host(const char *peer, char *out, size_t len)
{
    size_t n = strlen(peer);
    const char *colon = strrchr(peer, ':');
    if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1))
        n = (size_t)(colon - peer);
    if (n >= len)
        n = len - 1;
    memcpy(out, peer, n);
    out[n] = '\0';
}

/* host_log - the log limiters of a client address (a free or the least recently used slot
 * for a new one) */
static struct sn_host *host_log(struct s5066_simnode *n, const char *host, util_ms now)
{
    struct sn_host *slot = NULL;
    for (size_t i = 0; i < SN_HOSTS; i++) {
        struct sn_host *h = &n->hosts[i];
        if (h->host[0] && strcmp(h->host, host) == 0) {
            h->used = now;
            return h;
        }
        if (!slot || (slot->host[0] && (!h->host[0] || h->used < slot->used)))
            slot = h;
    }
    memset(slot, 0, sizeof *slot);
    snprintf(slot->host, sizeof slot->host, "%s", host);
    slot->used = now;
    return slot;
}

/* host_clients - connections from this client address */
static unsigned host_clients(const struct s5066_simnode *n, const char *host)
{
    unsigned count = 0;
    const struct util_list *it;
    UTIL_LIST_FOREACH(it, &n->clients) {
        const struct s5066_simclient *c = UTIL_CONTAINER_OF(it, struct s5066_simclient, link);
        count += strcmp(c->host, host) == 0;
    }
    return count;
}

/* most_idle - the connection to close for room (of host, or of the node when NULL): one
 * not bound before a bound one, then the longest silent, then the oldest */
static struct s5066_simclient *most_idle(struct s5066_simnode *n, const char *host)
{
    struct s5066_simclient *best = NULL;
    struct util_list *it;
    UTIL_LIST_FOREACH(it, &n->clients) {
        struct s5066_simclient *c = UTIL_CONTAINER_OF(it, struct s5066_simclient, link);
        if (host && strcmp(c->host, host) != 0)
            continue;
        if (!best || (best->bound && !c->bound) ||
            (best->bound == c->bound && c->active_at < best->active_at))
            best = c;
    }
    return best;
}

/* close_for_room - close a connection to make room for a newcomer (a bound one gets
 * UNBIND_INDICATION reason 2, inactivity); logged rate-limited per address, every bound
 * one logged */
static void close_for_room(struct s5066_simclient *c, util_ms now, const char *why,
                           const char *newcomer)
{
    struct s5066_simnode *n = c->node;
    n->closed_for_room++;
    struct sn_host *h = host_log(n, c->host, now);
    unsigned held = 0;
    struct util_ratelimit *rl = &h->closed[strcmp(why, "table-full") == 0];
    if (c->bound || util_ratelimit_allow(rl, now, SN_CLOSED_BURST, n->p.log_window, &held)) {
        char sap[16] = "";
        char sup[32] = "";
        if (c->bound)
            snprintf(sap, sizeof sap, " sap=%u", c->sap);
        if (held)
            snprintf(sup, sizeof sup, " suppressed=%u", held);
        util_log(UTIL_LOG_WARN, UTIL_MOD_SIM, "closed-for-room",
                 "node=%s peer=%s why=%s bound=%s%s idle_ms=%llu for=%s total=%llu%s", name(n),
                 c->peer, why, c->bound ? "yes" : "no", sap,
                 (unsigned long long)(now > c->active_at ? now - c->active_at : 0), newcomer,
                 (unsigned long long)n->closed_for_room, sup);
    }
    if (c->bound)
        send_reason(c, S5066_UNBIND_INDICATION, S5066_UNBIND_INACTIVITY);
    void *conn = c->conn;
    client_free(c);
    if (n->cb.close)
        n->cb.close(n->user, conn);
}

/* s5066_simnode_admit - room for a new connection from peer, closing the most idle if need be */
bool s5066_simnode_admit(struct s5066_simnode *n, util_ms now, const char *peer, const char **why)
{
    char host[SN_HOST_MAX];
    peer_host(peer ? peer : "-", host, sizeof host);
    for (;;) {
        bool host_full = n->p.max_per_address && host_clients(n, host) >= n->p.max_per_address;
        bool table_full = n->p.max_clients && n->n_clients >= n->p.max_clients;
        if (!host_full && !table_full)
            return true;
        const char *refusal = table_full ? "too-many-clients" : "too-many-from-address";
        struct s5066_simclient *victim =
            n->p.refuse_when_full ? NULL : most_idle(n, host_full ? host : NULL);
        if (!victim) {
            if (why)
                *why = refusal;
            return false;
        }
        close_for_room(victim, now, host_full ? "per-address" : "table-full", peer ? peer : "-");
    }
}

/* s5066_simnode_closed_for_room - connections closed to make room so far */
uint64_t s5066_simnode_closed_for_room(const struct s5066_simnode *n)
{
    return n->closed_for_room;
}

/* s5066_simnode_attach - a new client connection */
struct s5066_simclient *s5066_simnode_attach(struct s5066_simnode *n, util_ms now, void *conn,
                                             const char *peer)
{
    struct s5066_simclient *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->node = n;
    c->conn = conn;
    snprintf(c->peer, sizeof c->peer, "%s", peer ? peer : "-");
    peer_host(c->peer, c->host, sizeof c->host);
    c->active_at = now;
    c->id = ++n->next_id;
    util_list_push_back(&n->clients, &c->link);
    n->n_clients++;
    unsigned held = 0;
    struct sn_host *h = host_log(n, c->host, now);
    c->quiet = !util_ratelimit_allow(&h->connect, now, SN_CONNECT_BURST, n->p.log_window, &held);
    char sup[32] = "";
    if (held)
        snprintf(sup, sizeof sup, " suppressed=%u", held);
    util_log(c->quiet ? UTIL_LOG_DEBUG : UTIL_LOG_INFO, UTIL_MOD_SIM, "connect",
             "node=%s peer=%s clients=%zu%s", name(n), c->peer, n->n_clients, sup);
    return c;
}

/* s5066_simclient_quiet - whether the client's connect line was held back (rate limit) */
bool s5066_simclient_quiet(const struct s5066_simclient *c)
{
    return c && c->quiet;
}

/* s5066_simclient_detach - the connection is gone: release its SAP */
void s5066_simclient_detach(struct s5066_simclient *c)
{
    if (!c)
        return;
    struct s5066_simnode *n = c->node;
    if (c->bound)
        util_log(UTIL_LOG_INFO, UTIL_MOD_SIM, "unbind", "node=%s peer=%s sap=%u why=disconnect",
                 name(n), c->peer, c->sap);
    util_log(c->quiet ? UTIL_LOG_DEBUG : UTIL_LOG_INFO, UTIL_MOD_SIM, "disconnect",
             "node=%s peer=%s clients=%zu", name(n), c->peer, n->n_clients - 1);
    client_free(c);
}

/* ---- invalid primitives ------------------------------------------------------ */

/* bad_kind - a bit per kind of invalid primitive, so that each is logged once per client */
static unsigned bad_kind(const char *what)
{
    static const char *const kinds[] = {"undecodable",      "unexpected",
                                        "not-bound",        "bind-while-bound",
                                        "bad-service-type", "management-below-rank-15"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(kinds); i++)
        if (strcmp(what, kinds[i]) == 0)
            return 1u << i;
    return 1u << 31;
}

/* bad - count an invalid primitive (logged once per client and kind, the rest at debug); at
 * the limit unbind and close (c is freed then: returns true) */
static bool bad(struct s5066_simclient *c, const char *what, const char *type)
{
    struct s5066_simnode *n = c->node;
    unsigned kind = bad_kind(what);
    c->bad++;
    util_log(c->bad_logged & kind ? UTIL_LOG_DEBUG : UTIL_LOG_NOTICE, UTIL_MOD_SIM, "pdu-bad",
             "node=%s peer=%s what=%s type=%s count=%u max=%u", name(n), c->peer, what, type,
             c->bad, n->p.max_bad);
    c->bad_logged |= kind;
    if (c->bad < n->p.max_bad)
        return false;
    util_log(UTIL_LOG_WARN, UTIL_MOD_SIM, "unbind-indication",
             "node=%s peer=%s reason=3 why=too-many-invalid bad=%u max=%u last=%s", name(n),
             c->peer, c->bad, n->p.max_bad, what);
    send_reason(c, S5066_UNBIND_INDICATION, S5066_UNBIND_INVALID_PRIMITIVES);
    void *conn = c->conn;
    client_free(c);
    if (n->cb.close)
        n->cb.close(n->user, conn);
    return true;
}

/* s5066_simclient_error - one primitive from the client that did not decode */
void s5066_simclient_error(struct s5066_simclient *c, util_ms now, int err)
{
    char why[96];
    snprintf(why, sizeof why, "\"%s\"", s5066_strerror(err));
    if (!c)
        return;
    c->active_at = now;
    bad(c, "undecodable", why);
}

/* ---- requests ------------------------------------------------------------------ */

/* on_bind - S_BIND_REQUEST */
static void on_bind(struct s5066_simclient *c, const struct s5066_bind_request *b)
{
    struct s5066_simnode *n = c->node;
    if (c->bound && c->sap == b->sap) {
        /* the same SAP again: take the new rank and service type */
    } else if (c->bound) {
        send_reason(c, S5066_BIND_REJECTED, S5066_BIND_REJ_UNKNOWN);
        bad(c, "bind-while-bound", "S_BIND_REQUEST");
        return;
    } else if (!(n->p.saps & (1u << b->sap))) {
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SIM, "bind-rejected",
                 "node=%s peer=%s sap=%u reason=2 why=sap-not-allowed", name(n), c->peer, b->sap);
        send_reason(c, S5066_BIND_REJECTED, S5066_BIND_REJ_INVALID_SAP);
        return;
    } else if (n->sap_owner[b->sap]) {
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SIM, "bind-rejected",
                 "node=%s peer=%s sap=%u reason=3 why=sap-in-use", name(n), c->peer, b->sap);
        send_reason(c, S5066_BIND_REJECTED, S5066_BIND_REJ_SAP_IN_USE);
        return;
    }
    if (b->service.tx_mode > S5066_TX_NON_ARQ_ERRORS) {
        send_reason(c, S5066_BIND_REJECTED, S5066_BIND_REJ_UNKNOWN);
        bad(c, "bad-service-type", "S_BIND_REQUEST");
        return;
    }
    c->bound = true;
    c->quiet = false; /* a client, not one of a flood: its lines are logged again */
    c->sap = b->sap;
    c->rank = b->rank;
    c->service = b->service;
    n->sap_owner[b->sap] = c;
    util_log(UTIL_LOG_INFO, UTIL_MOD_SIM, "bind",
             "node=%s peer=%s sap=%u rank=%u mode=%u confirm=%u mtu=%u", name(n), c->peer, b->sap,
             b->rank, b->service.tx_mode, b->service.confirm, n->p.mtu);
    struct s5066_prim p;
    s5066_prim_init(&p, S5066_BIND_ACCEPTED);
    p.u.bind_accepted.sap = b->sap;
    p.u.bind_accepted.mtu = n->p.mtu;
    sn_send(c, &p);
    if (s5066_channel_node_emcon(n->ch, n->idx))
        send_availability(c, true);
    if (!s5066_channel_node_flow_on(n->ch, n->idx))
        send_simple(c, S5066_DATAFLOW_OFF);
}

/* on_unidata - S_UNIDATA_REQUEST / S_EXPEDITED_UNIDATA_REQUEST */
static void on_unidata(struct s5066_simclient *c, util_ms now,
                       const struct s5066_unidata_request *q, bool expedited)
{
    struct s5066_simnode *n = c->node;
    char d[S5066_ADDR_STRLEN];
    s5066_addr_format(&q->dest, d, sizeof d);
    const struct s5066_service *mode = q->mode.tx_mode ? &q->mode : &c->service;
    int reject = -1;
    const char *why = "";
    if (q->updu_len > n->p.mtu) {
        reject = S5066_REJ_UPDU_TOO_LARGE;
        why = "over-mtu";
    } else if (mode->tx_mode == S5066_TX_DEFAULT || mode->tx_mode > S5066_TX_NON_ARQ_ERRORS) {
        reject = S5066_REJ_TX_MODE_NOT_SPECIFIED;
        why = "no-tx-mode";
    } else if (mode->tx_mode == S5066_TX_ARQ && q->dest.group) {
        reject = S5066_REJ_UNKNOWN;
        why = "arq-to-group";
    } else if (!q->dest.group && q->dest.addr == 0) {
        reject = S5066_REJ_UNKNOWN;
        why = "bad-address";
    }
    if (reject < 0) {
        struct s5066_channel_updu u = {
            .src_sap = c->sap,
            .dest_sap = q->sap,
            .dest = q->dest,
            .priority = expedited ? 15 : q->priority,
            .expedited = expedited,
            .tx_mode = mode->tx_mode,
            .confirm = mode->tx_mode == S5066_TX_ARQ && mode->confirm != S5066_CONFIRM_NONE,
            .min_retx = mode->min_retx,
            .ttl = (util_ms)q->ttl * 2000,
            .updu = q->updu,
            .len = q->updu_len,
            .tag = c->id,
        };
        uint64_t id = 0;
        int rc = s5066_channel_submit(n->ch, now, n->idx, &u, &id);
        if (rc == 0) {
            util_log(UTIL_LOG_DEBUG, UTIL_MOD_SIM, "request",
                     "node=%s peer=%s id=%llu dst=%s sap=%u len=%zu", name(n), c->peer,
                     (unsigned long long)id, d, q->sap, q->updu_len);
            return;
        }
        reject = S5066_REJ_UNKNOWN;
        why = rc == S5066_ERR_QUEUE_FULL ? "queue-full" : "invalid";
    }
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SIM, "request-rejected",
             "node=%s peer=%s dst=%s sap=%u len=%zu reason=%d why=%s", name(n), c->peer, d, q->sap,
             q->updu_len, reject, why);
    send_result(c, expedited, reject, &q->dest, q->sap, q->updu,
                UTIL_MIN(q->updu_len, (size_t)n->p.mtu));
}

/* on_hard_link - S_HARD_LINK_ESTABLISH: granted at once if the remote node exists */
static void on_hard_link(struct s5066_simclient *c, const struct s5066_hard_link *h)
{
    struct s5066_simnode *n = c->node;
    struct s5066_prim p;
    int remote = s5066_channel_find_node(n->ch, &h->remote);
    bool ok = remote >= 0 && remote != n->idx && !s5066_channel_node_emcon(n->ch, n->idx);
    s5066_prim_init(&p, ok ? S5066_HARD_LINK_ESTABLISHED : S5066_HARD_LINK_REJECTED);
    p.u.hard_link = *h;
    p.u.hard_link.status = ok ? 1 : 0;
    p.u.hard_link.reason = ok ? 0 : 3; /* remote node not responding */
    char d[S5066_ADDR_STRLEN];
    util_log(UTIL_LOG_INFO, UTIL_MOD_SIM, ok ? "hard-link" : "hard-link-rejected",
             "node=%s peer=%s remote=%s type=%u", name(n), c->peer,
             s5066_addr_format(&h->remote, d, sizeof d), h->link_type);
    sn_send(c, &p);
}

/* on_management - S_MANAGEMENT_MSG_REQUEST from a rank-15 client */
static void on_management(struct s5066_simclient *c, util_ms now, const struct s5066_mgmt *m)
{
    struct s5066_simnode *n = c->node;
    if (m->msg_type == S5066_SIM_MGMT_EMCON && m->body_len == 1) {
        s5066_simnode_set_emcon(n, now, m->body[0] != 0);
        return;
    }
    util_log(UTIL_LOG_INFO, UTIL_MOD_SIM, "management-ignored",
             "node=%s peer=%s msg_type=%u len=%zu", name(n), c->peer, m->msg_type, m->body_len);
}

/* s5066_simclient_input - one decoded primitive from the client */
void s5066_simclient_input(struct s5066_simclient *c, util_ms now, const struct s5066_prim *p)
{
    if (!c || !p)
        return;
    struct s5066_simnode *n = c->node;
    const char *type = s5066_type_name(p->type);
    UTIL_TRACE(UTIL_MOD_SIM, "recv", "node=%s peer=%s type=%s", name(n), c->peer, type);
    c->active_at = now;
    s5066_channel_run(n->ch, now);
    switch (p->type) {
    case S5066_BIND_REQUEST: on_bind(c, &p->u.bind_request); return;
    case S5066_UNBIND_REQUEST:
        if (c->bound)
            util_log(UTIL_LOG_INFO, UTIL_MOD_SIM, "unbind", "node=%s peer=%s sap=%u why=request",
                     name(n), c->peer, c->sap);
        release(c);
        return;
    case S5066_KEEP_ALIVE:
        if (!c->keepalive_sent || now - c->keepalive_at >= n->p.keepalive_min) {
            c->keepalive_sent = true;
            c->keepalive_at = now;
            send_simple(c, S5066_KEEP_ALIVE);
        } else {
            util_log(UTIL_LOG_DEBUG, UTIL_MOD_SIM, "keepalive-too-often", "node=%s peer=%s",
                     name(n), c->peer);
        }
        return;
    default: break;
    }
    /* the rest needs a bound client */
    switch (p->type) {
    case S5066_UNIDATA_REQUEST:
    case S5066_EXPEDITED_UNIDATA_REQUEST:
        if (!c->bound)
            break;
        on_unidata(c, now, &p->u.req, p->type == S5066_EXPEDITED_UNIDATA_REQUEST);
        return;
    case S5066_HARD_LINK_ESTABLISH:
        if (!c->bound)
            break;
        on_hard_link(c, &p->u.hard_link);
        return;
    case S5066_HARD_LINK_TERMINATE:
        if (!c->bound)
            break;
        util_log(UTIL_LOG_INFO, UTIL_MOD_SIM, "hard-link-terminate", "node=%s peer=%s", name(n),
                 c->peer);
        return;
    case S5066_MANAGEMENT_MSG_REQUEST:
        if (!c->bound || c->rank != 15) {
            bad(c, "management-below-rank-15", type);
            return;
        }
        on_management(c, now, &p->u.mgmt);
        return;
    default:
        /* a server-to-client primitive, or a hard-link answer to nothing we asked */
        bad(c, "unexpected", type);
        return;
    }
    bad(c, "not-bound", type);
}

/* ---- channel callbacks ------------------------------------------------------- */

/* find_client - the client with this id, or NULL (it went away) */
static struct s5066_simclient *find_client(struct s5066_simnode *n, uint64_t id)
{
    struct util_list *it;
    UTIL_LIST_FOREACH(it, &n->clients) {
        struct s5066_simclient *c = UTIL_CONTAINER_OF(it, struct s5066_simclient, link);
        if (c->id == id)
            return c;
    }
    return NULL;
}

/* ch_deliver - a U_PDU arrived at the node: indicate it to the client bound on its SAP */
static int ch_deliver(void *node_user, int node, const struct s5066_channel_rx *rx)
{
    (void)node;
    struct s5066_simnode *n = node_user;
    struct s5066_simclient *c = n->sap_owner[rx->dest_sap];
    char s[S5066_ADDR_STRLEN], d[S5066_ADDR_STRLEN];
    s5066_addr_format(&rx->src, s, sizeof s);
    s5066_addr_format(&rx->dest, d, sizeof d);
    if (!c) {
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SIM, "rx-no-client",
                 "node=%s id=%llu src=%s dst=%s sap=%u", name(n), (unsigned long long)rx->id, s, d,
                 rx->dest_sap);
        return S5066_REJ_SAP_NOT_BOUND;
    }
    if (rx->n_err && rx->tx_mode != S5066_TX_NON_ARQ_ERRORS &&
        c->service.tx_mode != S5066_TX_NON_ARQ_ERRORS)
        return -1; /* nobody here takes U_PDUs with errors */
    uint8_t blocks[4 * ((S5066_MAX_SIZE + S5066_CHANNEL_BLOCK - 1) / S5066_CHANNEL_BLOCK)];
    struct s5066_prim p;
    s5066_prim_init(&p,
                    rx->expedited ? S5066_EXPEDITED_UNIDATA_INDICATION : S5066_UNIDATA_INDICATION);
    struct s5066_unidata_indication *ind = &p.u.ind;
    ind->priority = rx->expedited ? 0 : rx->priority;
    ind->dest_sap = rx->dest_sap;
    ind->dest = rx->dest;
    /* An intact copy of a tx-mode-3 U_PDU is indicated as plain non-ARQ:
     * mode 3 with two empty block lists is what Rockwell Collins servers
     * send in every mode, and Wireshark's dissector reads it so (the oracle
     * calls it malformed).  The block lists appear only when there are
     * errors, which A.2.1.9 allows: they describe errors there are. */
    if (rx->n_err)
        ind->tx_mode = S5066_TX_NON_ARQ_ERRORS;
    else
        ind->tx_mode = rx->tx_mode == S5066_TX_NON_ARQ_ERRORS ? S5066_TX_NON_ARQ : rx->tx_mode;
    ind->src_sap = rx->src_sap;
    ind->src = rx->src;
    ind->updu = rx->updu;
    ind->updu_len = rx->len;
    if (rx->n_err) {
        size_t nb = UTIL_MIN(rx->n_err, sizeof blocks / 4);
        s5066_blocks_put(blocks, rx->err, nb);
        ind->n_err = (uint16_t)nb;
        ind->err_blocks = blocks;
    }
    util_log(UTIL_LOG_INFO, UTIL_MOD_SIM, "indication",
             "node=%s peer=%s id=%llu src=%s src_sap=%u dst=%s sap=%u mode=%u len=%zu errors=%zu",
             name(n), c->peer, (unsigned long long)rx->id, s, rx->src_sap, d, rx->dest_sap,
             ind->tx_mode, rx->len, rx->n_err);
    sn_send(c, &p);
    return 0;
}

/* ch_result - the outcome of a U_PDU a client of this node submitted */
static void ch_result(void *node_user, int node, const struct s5066_channel_result *res)
{
    (void)node;
    struct s5066_simnode *n = node_user;
    struct s5066_simclient *c = find_client(n, res->u->tag);
    if (!c || !c->bound || c->sap != res->u->src_sap) {
        util_log(UTIL_LOG_DEBUG, UTIL_MOD_SIM, "result-orphan", "node=%s id=%llu ok=%d", name(n),
                 (unsigned long long)res->id, res->ok);
        return;
    }
    if (res->ok && !res->u->confirm)
        return;
    send_result(c, res->u->expedited, res->ok ? -1 : res->reason, &res->u->dest, res->u->dest_sap,
                res->u->updu, res->u->len);
}

/* ch_flow - the node's queue crossed a watermark: DATAFLOW_ON/OFF to its clients */
static void ch_flow(void *node_user, int node, bool on)
{
    (void)node;
    struct s5066_simnode *n = node_user;
    struct util_list *it;
    UTIL_LIST_FOREACH(it, &n->clients) {
        struct s5066_simclient *c = UTIL_CONTAINER_OF(it, struct s5066_simclient, link);
        if (c->bound)
            send_simple(c, on ? S5066_DATAFLOW_ON : S5066_DATAFLOW_OFF);
    }
}

/* s5066_simnode_channel_callbacks - set cb's deliver, result and flow for simnodes */
void s5066_simnode_channel_callbacks(struct s5066_channel_callbacks *cb)
{
    cb->deliver = ch_deliver;
    cb->result = ch_result;
    cb->flow = ch_flow;
}
