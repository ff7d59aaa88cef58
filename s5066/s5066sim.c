/* s5066sim.c - a simulated STANAG 5066 subnetwork in one process: N nodes,
 * each a SIS server (Annex A, the primitives of A.2.1 over TCP or a serial
 * line) on its own port, sharing one simulated half-duplex HF channel
 * (channel.c; Annex C ARQ / non-ARQ semantics, groups, EMCON).  The libev
 * glue: config, listeners, connections, one timer for the channel model,
 * signals.  The protocol is sim_node.c's, the channel is channel.c's.
 *
 *   s5066sim -c network.conf [-f] [-s scale] [-n] [-p portfile] [-v] [-T mods]
 *
 * Time: the engines run on a virtual clock, real elapsed time multiplied by
 * the time scale (-s N or time_scale): every duration of the model (air
 * time, turnaround, TTL, keep-alive spacing) passes N times faster.
 * Example network and every config key: conf/s5066sim.conf.
 */
#include "s5066/s5066.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define SIM_READ_CHUNK   65536
#define SIM_OUT_LIMIT    (1024 * 1024) /* bytes queued towards one client before it is dropped */
#define SIM_LINGER_MS    5000          /* a closing connection's time to take its last bytes */
#define SIM_SERIAL_RETRY 1.0           /* seconds between attempts to reopen a serial line */
#define SIM_MAX_GROUPS   64
#define SIM_ACCEPT_RETRY 1.0 /* seconds accept() rests after running out of descriptors */
#define SIM_REFUSE_LOG_S 10  /* one connect-refused line per node in this many seconds */
#define SIM_LOG_WINDOW_S 60  /* per-address log limits (connect, closed-for-room) per this long */
#define SIM_ACCEPT_BATCH 8   /* accepts per loop pass: the reads of those accepted go first */

/* ---- configuration ------------------------------------------------------ */

struct node_conf {
    char name[S5066_CHANNEL_NAME_MAX];
    struct s5066_addr addr;
    struct s5066_addr groups[SIM_MAX_GROUPS];
    size_t n_groups;
    bool emcon;
    unsigned mtu;
    uint16_t saps;
    unsigned max_bad;
    long port;          /* -1 when serial */
    const char *listen; /* pointers into the parsed config */
    const char *serial;
    int baud;
    bool rtscts;
};

struct sim_conf {
    struct s5066_channel_params ch;
    double time_scale;
    unsigned max_clients;
    unsigned max_per_address;
    bool refuse_when_full;
    struct node_conf *nodes;
    size_t n_nodes;
};

/* conf_split - the next comma-separated item of *p, trimmed, into buf; false at the end */
static bool conf_split(const char **p, char *buf, size_t len)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return false;
    const char *e = strchr(s, ',');
    const char *end = e ? e : s + strlen(s);
    *p = e ? e + 1 : end;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t n = (size_t)(end - s);
    if (n >= len)
        n = len - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

/* conf_group_addr - a group list item (a [group NAME] or a group address) -> address */
static int conf_group_addr(struct util_conf *conf, struct util_conf_section *node, const char *item,
                           struct s5066_addr *out)
{
    if (s5066_addr_parse(item, out) == 0) {
        if (!out->group)
            return util_conf_fail(
                conf, node, "groups", UTIL_ERR_RANGE,
                "%s is a node address, not a group address (16.0.0.0 .. 31.255.255.255)", item);
        return 0;
    }
    struct util_conf_section *g = util_conf_section(conf, "group", item);
    if (!g)
        return util_conf_fail(conf, node, "groups", UTIL_ERR_RANGE,
                              "'%s' is neither a group address nor a [group %s] section", item,
                              item);
    const char *v;
    if (util_conf_str_required(conf, g, "address", &v) < 0)
        return UTIL_ERR_MISSING;
    if (s5066_addr_parse(v, out) < 0 || !out->group)
        return util_conf_fail(conf, g, "address", UTIL_ERR_RANGE,
                              "'%s' is not a group address (16.0.0.0 .. 31.255.255.255)", v);
    return 0;
}

/* conf_saps - "0-15" or "2, 6, 7" -> bit mask */
static int conf_saps(struct util_conf *conf, struct util_conf_section *s, uint16_t *mask)
{
    const char *v;
    util_conf_str(conf, s, "saps", "0-15", &v);
    *mask = 0;
    char item[32];
    const char *p = v;
    while (conf_split(&p, item, sizeof item)) {
        long long a, b;
        char *dash = strchr(item, '-');
        if (dash) {
            *dash = '\0';
            if (util_parse_int(item, 0, 15, &a) < 0 || util_parse_int(dash + 1, 0, 15, &b) < 0 ||
                a > b)
                return util_conf_fail(conf, s, "saps", UTIL_ERR_RANGE,
                                      "'%s' is not a SAP list (e.g. 0-15 or 2, 6, 7)", v);
        } else {
            if (util_parse_int(item, 0, 15, &a) < 0)
                return util_conf_fail(conf, s, "saps", UTIL_ERR_RANGE,
                                      "'%s' is not a SAP list (e.g. 0-15 or 2, 6, 7)", v);
            b = a;
        }
        for (long long i = a; i <= b; i++)
            *mask |= (uint16_t)(1u << i);
    }
    if (!*mask)
        return util_conf_fail(conf, s, "saps", UTIL_ERR_RANGE, "no SAP left to bind");
    return 0;
}

/* numeric_ip - whether s is a numeric IPv4 or IPv6 address */
static bool numeric_ip(const char *s)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICHOST, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(s, "0", &hints, &res) != 0)
        return false;
    freeaddrinfo(res);
    return true;
}

/* conf_node - one [node NAME] section */
static int conf_node(struct util_conf *conf, struct util_conf_section *s, const char *def_listen,
                     struct node_conf *n)
{
    const char *name = util_conf_section_name(s);
    memset(n, 0, sizeof *n);
    if (!*name || strlen(name) >= sizeof n->name)
        return util_conf_fail(conf, s, NULL, UTIL_ERR_RANGE,
                              "a node needs a name of 1..%zu characters: [node NAME]",
                              sizeof n->name - 1);
    snprintf(n->name, sizeof n->name, "%s", name);
    const char *v;
    if (util_conf_str_required(conf, s, "address", &v) < 0)
        return UTIL_ERR_MISSING;
    if (s5066_addr_parse(v, &n->addr) < 0 || n->addr.group)
        return util_conf_fail(conf, s, "address", UTIL_ERR_RANGE,
                              "'%s' is not a node address (0.0.0.1 .. 15.255.255.255)", v);
    util_conf_str(conf, s, "groups", "", &v);
    char item[64];
    const char *p = v;
    while (conf_split(&p, item, sizeof item)) {
        if (n->n_groups == SIM_MAX_GROUPS)
            return util_conf_fail(conf, s, "groups", UTIL_ERR_RANGE, "more than %d groups",
                                  SIM_MAX_GROUPS);
        if (conf_group_addr(conf, s, item, &n->groups[n->n_groups]) < 0)
            return UTIL_ERR_RANGE;
        n->n_groups++;
    }
    long long ll;
    bool b;
    if (util_conf_bool(conf, s, "emcon", false, &b) < 0)
        return UTIL_ERR_TYPE;
    n->emcon = b;
    if (util_conf_int(conf, s, "mtu", 2048, 1, S5066_MAX_UPDU, &ll) < 0)
        return UTIL_ERR_RANGE;
    n->mtu = (unsigned)ll;
    if (conf_saps(conf, s, &n->saps) < 0)
        return UTIL_ERR_RANGE;
    if (util_conf_int(conf, s, "max_bad", 5, 1, 1000, &ll) < 0)
        return UTIL_ERR_RANGE;
    n->max_bad = (unsigned)ll;
    const char *nl;
    util_conf_str(conf, s, "listen", NULL, &nl);
    n->listen = nl ? nl : def_listen;
    util_conf_str(conf, s, "serial", NULL, &n->serial);
    if (util_conf_int(conf, s, "baud", 9600, 50, 4000000, &ll) < 0)
        return UTIL_ERR_RANGE;
    n->baud = (int)ll;
    if (util_conf_bool(conf, s, "rtscts", false, &b) < 0)
        return UTIL_ERR_TYPE;
    n->rtscts = b;
    const char *port;
    util_conf_str(conf, s, "port", NULL, &port);
    if (n->serial && port)
        return util_conf_fail(conf, s, "port", UTIL_ERR_RANGE, "give port or serial, not both");
    if (n->serial) {
        if (!*n->serial)
            return util_conf_fail(conf, s, "serial", UTIL_ERR_RANGE, "empty device path");
        if (!s5066_serial_baud_ok(n->baud))
            return util_conf_fail(conf, s, "baud", UTIL_ERR_RANGE,
                                  "%d is not a supported baud rate", n->baud);
        n->port = -1;
        return 0;
    }
    if (!port)
        return util_conf_fail(conf, s, NULL, UTIL_ERR_MISSING,
                              "set port (0: any free port) or serial");
    if (util_conf_int(conf, s, "port", 0, 0, 65535, &ll) < 0)
        return UTIL_ERR_RANGE;
    n->port = (long)ll;
    if (nl && !numeric_ip(nl))
        return util_conf_fail(conf, s, "listen", UTIL_ERR_RANGE, "'%s' is not a numeric IP address",
                              nl);
    return 0;
}

/* conf_load - parse and check a network config; 0, or negative with errbuf filled */
static int conf_load(const char *path, struct sim_conf *sc, struct util_conf **confp, char *errbuf,
                     size_t errlen)
{
    int err = 0;
    memset(sc, 0, sizeof *sc);
    struct util_conf *conf = util_conf_load(path, errbuf, errlen, &err);
    if (!conf)
        return err ? err : UTIL_ERR_IO;
    *confp = conf;
    struct util_conf_section *c = util_conf_section(conf, "channel", NULL);
    struct s5066_channel_params *p = &sc->ch;
    s5066_channel_params_default(p);
    long long ll;
    uint64_t u;
    double d;
    bool b;
    const char *listen;
    int rc = 0;
    if (util_conf_int(conf, c, "rate", p->rate, S5066_CHANNEL_RATE_MIN, S5066_CHANNEL_RATE_MAX,
                      &ll) == 0)
        p->rate = (uint32_t)ll;
    if (util_conf_duration_ms(conf, c, "turnaround", p->turnaround, 0, 60000, &u) == 0)
        p->turnaround = u;
    if (util_conf_double(conf, c, "loss", 0.0, 0.0, 1.0, &d) == 0)
        p->loss = d;
    if (util_conf_int(conf, c, "seed", 1, 0, INT64_MAX, &ll) == 0)
        p->seed = (uint64_t)ll;
    if (util_conf_bool(conf, c, "bit_errors", false, &b) == 0)
        p->bit_errors = b;
    if (util_conf_int(conf, c, "arq_retries", p->arq_retries, 0, 100, &ll) == 0)
        p->arq_retries = (unsigned)ll;
    if (util_conf_size(conf, c, "max_queue", p->max_queue, 0, 256u * 1024 * 1024, &u) == 0)
        p->max_queue = (size_t)u;
    if (util_conf_duration_ms(conf, c, "max_ttl", 0, 0, (uint64_t)S5066_MAX_TTL * 2000, &u) == 0)
        p->max_ttl = u;
    if (util_conf_int(conf, c, "overhead", p->overhead, 0, 1024, &ll) == 0)
        p->overhead = (unsigned)ll;
    if (util_conf_double(conf, c, "time_scale", 1.0, 0.001, 1000000.0, &d) == 0)
        sc->time_scale = d;
    if (util_conf_int(conf, c, "max_clients", 32, 1, 1024, &ll) == 0)
        sc->max_clients = (unsigned)ll;
    if (util_conf_int(conf, c, "max_clients_per_address", 16, 1, 1024, &ll) == 0)
        sc->max_per_address = (unsigned)ll;
    const char *when_full;
    util_conf_str(conf, c, "when_full", "close-idle", &when_full);
    if (strcmp(when_full, "refuse") == 0)
        sc->refuse_when_full = true;
    else if (strcmp(when_full, "close-idle") != 0 && !util_conf_errcode(conf))
        util_conf_fail(conf, c, "when_full", UTIL_ERR_RANGE,
                       "'%s' is neither close-idle nor refuse", when_full);
    util_conf_str(conf, c, "listen", "127.0.0.1", &listen);
    if (!util_conf_errcode(conf) && !numeric_ip(listen))
        util_conf_fail(conf, c, "listen", UTIL_ERR_RANGE, "'%s' is not a numeric IP address",
                       listen);
    if (util_conf_errcode(conf))
        goto out;

    struct util_conf_section *s = NULL;
    size_t count = 0;
    while ((s = util_conf_next_section(conf, "node", s)) != NULL)
        count++;
    if (!count) {
        util_conf_fail(conf, c, NULL, UTIL_ERR_MISSING,
                       "no [node NAME] section: a network needs nodes");
        goto out;
    }
    sc->nodes = calloc(count, sizeof *sc->nodes);
    if (!sc->nodes) {
        util_conf_fail(conf, c, NULL, UTIL_ERR_NOMEM, "out of memory");
        goto out;
    }
    s = NULL;
    while ((s = util_conf_next_section(conf, "node", s)) != NULL) {
        struct node_conf *n = &sc->nodes[sc->n_nodes];
        if (conf_node(conf, s, listen, n) < 0)
            goto out;
        for (size_t i = 0; i < sc->n_nodes; i++) {
            struct node_conf *o = &sc->nodes[i];
            if (strcmp(o->name, n->name) == 0) {
                util_conf_fail(conf, s, NULL, UTIL_ERR_DUPLICATE, "node %s is defined twice",
                               n->name);
                goto out;
            }
            if (o->addr.addr == n->addr.addr) {
                util_conf_fail(conf, s, "address", UTIL_ERR_DUPLICATE,
                               "node %s has this address too", o->name);
                goto out;
            }
            if (n->port > 0 && o->port == n->port && strcmp(o->listen, n->listen) == 0) {
                util_conf_fail(conf, s, "port", UTIL_ERR_DUPLICATE,
                               "node %s listens on port %ld too", o->name, n->port);
                goto out;
            }
            if (n->serial && o->serial && strcmp(n->serial, o->serial) == 0) {
                util_conf_fail(conf, s, "serial", UTIL_ERR_DUPLICATE, "node %s uses %s too",
                               o->name, n->serial);
                goto out;
            }
        }
        sc->n_nodes++;
    }
    /* every [group NAME] must have an address, even if no node names it */
    s = NULL;
    while ((s = util_conf_next_section(conf, "group", s)) != NULL) {
        const char *v;
        struct s5066_addr a;
        if (util_conf_str_required(conf, s, "address", &v) < 0)
            goto out;
        if (s5066_addr_parse(v, &a) < 0 || !a.group) {
            util_conf_fail(conf, s, "address", UTIL_ERR_RANGE,
                           "'%s' is not a group address (16.0.0.0 .. 31.255.255.255)", v);
            goto out;
        }
    }
    util_conf_check_unused(conf);
out:
    rc = util_conf_errcode(conf);
    if (rc < 0)
        snprintf(errbuf, errlen, "%s", util_conf_error(conf));
    return rc;
}

/* ---- runtime ---------------------------------------------------------------- */

struct sim;
struct node;

struct conn {
    struct util_list link; /* in sim->conns */
    struct sim *sim;
    struct node *node;
    int fd;
    bool serial;
    ev_io rio, wio;
    struct s5066_stream st;
    struct util_buf out;
    struct s5066_simclient *client; /* NULL once the server let go of it */
    char peer[64];
    bool closing; /* flush the output, then close */
    bool dead;    /* close now (error, hang-up, a client not reading) */
    util_ms closing_since;
    uint64_t garbage, bad;
};

struct node {
    struct sim *sim;
    const struct node_conf *cf;
    struct s5066_simnode *sn;
    int lfd;
    int port;
    ev_io accept_w;
    struct s5066_serial ser;
    struct conn *serial_conn;
    bool serial_failing;
    ev_timer reopen;
    ev_timer accept_pause;    /* accept() failed for want of descriptors: rest */
    uint64_t accept_failures; /* in the current episode, logged once */
    ev_timer refuse_timer;    /* summary of the refusals not logged one by one */
    uint64_t refused, refused_quiet;
    util_ms refused_logged_at; /* real ms of the last connect-refused line, 0 never */
};

struct sim {
    struct ev_loop *loop;
    struct sim_conf cf;
    struct s5066_channel *ch;
    struct node *nodes;
    size_t n_nodes;
    struct util_list conns;
    double scale;
    util_ms t0;
    ev_timer timer;
    ev_prepare prepare;
    ev_signal sigint, sigterm, sigusr1, sighup;
    bool stopping;
    int exit_code;
    int spare_fd; /* /dev/null, given up to shed a connection when out of descriptors */
};

/* vnow - the virtual clock: real ms since start times the scale */
static util_ms vnow(const struct sim *s)
{
    return (util_ms)((double)(util_now_ms() - s->t0) * s->scale);
}

static void conn_start_serial(struct node *n);

/* conn_destroy - close and free a connection (detaching its client) */
static void conn_destroy(struct conn *c)
{
    struct sim *s = c->sim;
    if (c->client)
        s5066_simclient_detach(c->client);
    c->client = NULL;
    ev_io_stop(s->loop, &c->rio);
    ev_io_stop(s->loop, &c->wio);
    if (c->garbage || c->bad)
        util_log(UTIL_LOG_INFO, UTIL_MOD_SIM, "conn-summary",
                 "node=%s peer=%s garbage=%llu bad=%llu", c->node->cf->name, c->peer,
                 (unsigned long long)c->garbage, (unsigned long long)c->bad);
    if (c->serial) {
        s5066_serial_close(&c->node->ser);
        c->node->serial_conn = NULL;
        if (!s->stopping) {
            ev_timer_set(&c->node->reopen, SIM_SERIAL_RETRY, 0.0);
            ev_timer_start(s->loop, &c->node->reopen);
        }
    } else if (c->fd >= 0) {
        close(c->fd);
    }
    util_list_remove(&c->link);
    s5066_stream_free(&c->st);
    util_buf_free(&c->out);
    free(c);
}

/* conn_flush - write what is buffered; false if the connection failed */
static bool conn_flush(struct conn *c)
{
    while (c->out.len > 0) {
        ssize_t n = c->serial ? write(c->fd, c->out.data, c->out.len)
                              : send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
        if (n > 0) {
            util_buf_consume(&c->out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        util_log(UTIL_LOG_INFO, UTIL_MOD_SIM, "write-failed", "node=%s peer=%s error=\"%s\"",
                 c->node->cf->name, c->peer, n < 0 ? strerror(errno) : "closed");
        c->dead = true;
        return false;
    }
    if (c->out.len > 0)
        ev_io_start(c->sim->loop, &c->wio);
    else
        ev_io_stop(c->sim->loop, &c->wio);
    return true;
}

/* on_send - simnode callback: encode a primitive into the connection's output */
static void on_send(void *user, void *connp, const struct s5066_prim *p)
{
    (void)user;
    struct conn *c = connp;
    if (c->dead)
        return;
    int len = s5066_encoded_len(p);
    if (len < 0) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_SIM, "encode-failed",
                 "node=%s peer=%s type=%s error=\"%s\"", c->node->cf->name, c->peer,
                 s5066_type_name(p->type), s5066_strerror(len));
        return;
    }
    if (util_buf_reserve(&c->out, (size_t)len) < 0) {
        util_log(UTIL_LOG_WARN, UTIL_MOD_SIM, "client-slow",
                 "node=%s peer=%s queued=%zu why=not-reading", c->node->cf->name, c->peer,
                 c->out.len);
        c->dead = true;
        return;
    }
    int n = s5066_encode(p, c->out.data + c->out.len, c->out.cap - c->out.len);
    if (n < 0) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_SIM, "encode-failed",
                 "node=%s peer=%s type=%s error=\"%s\"", c->node->cf->name, c->peer,
                 s5066_type_name(p->type), s5066_strerror(n));
        return;
    }
    c->out.len += (size_t)n;
    ev_io_start(c->sim->loop, &c->wio);
}

/* on_close - simnode callback: the server is done with this client */
static void on_close(void *user, void *connp)
{
    (void)user;
    struct conn *c = connp;
    c->client = NULL; /* the engine freed it */
    c->closing = true;
    c->closing_since = util_now_ms();
    ev_io_stop(c->sim->loop, &c->rio);
    ev_io_start(c->sim->loop, &c->wio);
}

/* conn_input - feed bytes read to the stream decoder and the server engine */
static void conn_input(struct conn *c, const uint8_t *data, size_t len)
{
    struct sim *s = c->sim;
    while (len > 0 && c->client && !c->dead) {
        size_t taken = 0;
        if (s5066_stream_feed(&c->st, data, len, &taken) < 0) {
            util_log(UTIL_LOG_ERR, UTIL_MOD_SIM, "no-memory", "node=%s peer=%s", c->node->cf->name,
                     c->peer);
            c->dead = true;
            return;
        }
        data += taken;
        len -= taken;
        struct s5066_prim p;
        int rc;
        while (c->client && !c->dead && (rc = s5066_stream_next(&c->st, &p)) != 0) {
            if (rc > 0) {
                s5066_simclient_input(c->client, vnow(s), &p);
            } else {
                c->bad++;
                s5066_simclient_error(c->client, vnow(s), rc);
            }
        }
        size_t skipped = s5066_stream_take_skipped(&c->st);
        if (skipped) {
            if (!c->garbage)
                util_log(UTIL_LOG_NOTICE, UTIL_MOD_SIM, "garbage", "node=%s peer=%s skipped=%zu",
                         c->node->cf->name, c->peer, skipped);
            c->garbage += skipped;
        }
        if (taken == 0 && len > 0)
            break; /* the stream holds a partial primitive as big as it may be: cannot happen */
    }
}

/* on_read - bytes from a client */
static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = w->data;
    uint8_t buf[SIM_READ_CHUNK];
    for (int i = 0; i < 16 && c->client && !c->dead; i++) {
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n > 0) {
            conn_input(c, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* A raw tty with VMIN = VTIME = 0 reads 0 when it is drained; only a
         * line that is readable yet gives nothing at once has hung up. */
        if (n == 0 && c->serial && i > 0)
            return;
        size_t partial = s5066_stream_buffered(&c->st);
        char cut[48] = "";
        if (partial) /* it hung up in the middle of a primitive */
            snprintf(cut, sizeof cut, " partial_bytes=%zu", partial);
        util_log(s5066_simclient_quiet(c->client) ? UTIL_LOG_DEBUG : UTIL_LOG_INFO, UTIL_MOD_SIM,
                 c->serial ? "serial-hangup" : "peer-closed", "node=%s peer=%s%s%s%s",
                 c->node->cf->name, c->peer, n < 0 ? " error=" : "", n < 0 ? strerror(errno) : "",
                 cut);
        c->dead = true;
        return;
    }
}

/* on_write - the client can take more bytes */
static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    conn_flush(w->data);
}

/* conn_new - a connection on fd for node n */
static struct conn *conn_new(struct node *n, int fd, bool serial, const char *peer)
{
    struct sim *s = n->sim;
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->sim = s;
    c->node = n;
    c->fd = fd;
    c->serial = serial;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    s5066_stream_init(&c->st, S5066_MAX_SIZE);
    util_buf_init(&c->out, SIM_OUT_LIMIT);
    ev_io_init(&c->rio, on_read, fd, EV_READ);
    ev_io_init(&c->wio, on_write, fd, EV_WRITE);
    c->rio.data = c;
    c->wio.data = c;
    c->client = s5066_simnode_attach(n->sn, vnow(s), c, c->peer);
    if (!c->client) {
        s5066_stream_free(&c->st);
        free(c);
        return NULL;
    }
    util_list_push_back(&s->conns, &c->link);
    ev_io_start(s->loop, &c->rio);
    return c;
}

/* node_refused - a connection refused (why: too many clients or from its
 * address with when_full = refuse, out of descriptors): logged with its peer
 * unless a line was logged in the last SIM_REFUSE_LOG_S, else counted for a
 * summary line, so that a flood of connections does not flood the log */
static void node_refused(struct node *n, const char *peer, const char *why)
{
    util_ms now = util_now_ms();
    n->refused++;
    if (n->refused_logged_at && now - n->refused_logged_at < SIM_REFUSE_LOG_S * 1000) {
        n->refused_quiet++;
        if (!ev_is_active(&n->refuse_timer)) {
            double left = (double)(n->refused_logged_at + SIM_REFUSE_LOG_S * 1000 - now) / 1000.0;
            ev_timer_set(&n->refuse_timer, left, 0.0);
            ev_timer_start(n->sim->loop, &n->refuse_timer);
        }
        return;
    }
    util_log(UTIL_LOG_WARN, UTIL_MOD_SIM, "connect-refused", "node=%s peer=%s why=%s max=%u",
             n->cf->name, peer, why,
             strcmp(why, "too-many-from-address") == 0 ? n->sim->cf.max_per_address
                                                       : n->sim->cf.max_clients);
    n->refused_logged_at = now;
}

/* on_refuse_timer - log how many refusals went unlogged */
static void on_refuse_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct node *n = w->data;
    if (!n->refused_quiet)
        return;
    util_log(UTIL_LOG_WARN, UTIL_MOD_SIM, "connect-refused-summary",
             "node=%s refused=%llu period_s=%d max=%u total=%llu", n->cf->name,
             (unsigned long long)n->refused_quiet, SIM_REFUSE_LOG_S, n->sim->cf.max_clients,
             (unsigned long long)n->refused);
    n->refused_quiet = 0;
    n->refused_logged_at = util_now_ms();
}

/* on_accept_pause - accept again after accept() failed */
static void on_accept_pause(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct node *n = w->data;
    ev_io_start(loop, &n->accept_w);
}

/* peer_name - "host:port" of a socket address */
static void peer_name(const struct sockaddr_storage *ss, socklen_t sl, char *out, size_t len)
{
    char host[64] = "?", serv[16] = "?";
    getnameinfo((const struct sockaddr *)ss, sl, host, sizeof host, serv, sizeof serv,
                NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(out, len, "%s:%s", host, serv);
}

/* accept_shed - out of descriptors: give up the spare one to take the first
 * queued connection and close it at once, so that it neither waits in the
 * queue nor keeps the listener readable (a loop that spins); 0 if one was shed */
static int accept_shed(struct node *n)
{
    struct sim *s = n->sim;
    if (s->spare_fd < 0)
        return -1;
    close(s->spare_fd);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept(n->lfd, (struct sockaddr *)&ss, &sl);
    int err = errno;
    if (fd >= 0)
        close(fd);
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno = err;
        return -1;
    }
    char peer[96];
    peer_name(&ss, sl, peer, sizeof peer);
    node_refused(n, peer, "out-of-descriptors");
    return 0;
}

/* on_accept - new client connections on a node's port: SIM_ACCEPT_BATCH per
 * pass (the watcher has a lower priority than the connections'), so that a
 * client accepted sends its BIND before more newcomers can take its room */
static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct node *n = w->data;
    for (int batch = 0; batch < SIM_ACCEPT_BATCH; batch++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept(n->lfd, (struct sockaddr *)&ss, &sl);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if ((errno == EMFILE || errno == ENFILE) && accept_shed(n) == 0)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* no spare descriptor, or no memory: the connection stays queued
             * and the listener readable, so rest instead of spinning; log once */
            if (n->accept_failures++ == 0)
                util_log(UTIL_LOG_WARN, UTIL_MOD_SIM, "accept-failed",
                         "node=%s error=\"%s\" retry_s=%g", n->cf->name, strerror(errno),
                         SIM_ACCEPT_RETRY);
            ev_io_stop(loop, &n->accept_w);
            ev_timer_set(&n->accept_pause, SIM_ACCEPT_RETRY, 0.0);
            ev_timer_start(loop, &n->accept_pause);
            return;
        }
        if (n->accept_failures) {
            util_log(UTIL_LOG_NOTICE, UTIL_MOD_SIM, "accept-resumed", "node=%s failures=%llu",
                     n->cf->name, (unsigned long long)n->accept_failures);
            n->accept_failures = 0;
        }
        char peer[96];
        peer_name(&ss, sl, peer, sizeof peer);
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
            fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
            close(fd);
            continue;
        }
        const char *why = "too-many-clients";
        if (!s5066_simnode_admit(n->sn, vnow(n->sim), peer, &why)) {
            node_refused(n, peer, why);
            close(fd);
            continue;
        }
        if (!conn_new(n, fd, false, peer)) {
            util_log(UTIL_LOG_ERR, UTIL_MOD_SIM, "no-memory", "node=%s peer=%s", n->cf->name, peer);
            close(fd);
        }
    }
}

/* conn_start_serial - open a node's serial line and attach its one client */
static void conn_start_serial(struct node *n)
{
    char err[512];
    if (s5066_serial_open(&n->ser, n->cf->serial, n->cf->baud, n->cf->rtscts, err, sizeof err) <
        0) {
        if (!n->serial_failing) /* once until it opens again */
            util_log(UTIL_LOG_WARN, UTIL_MOD_SIM, "serial-failed",
                     "node=%s device=%s error=\"%s\" retry_s=%g", n->cf->name, n->cf->serial, err,
                     SIM_SERIAL_RETRY);
        n->serial_failing = true;
        ev_timer_set(&n->reopen, SIM_SERIAL_RETRY, 0.0);
        ev_timer_start(n->sim->loop, &n->reopen);
        return;
    }
    n->serial_failing = false;
    n->serial_conn = conn_new(n, n->ser.fd, true, n->cf->serial);
    if (!n->serial_conn) {
        s5066_serial_close(&n->ser);
        return;
    }
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SIM, "listen", "node=%s addr=%s serial=%s baud=%d",
             n->cf->name,
             s5066_addr_format(&n->cf->addr, (char[S5066_ADDR_STRLEN]){0}, S5066_ADDR_STRLEN),
             n->cf->serial, n->cf->baud);
}

/* on_reopen - try a node's serial line again */
static void on_reopen(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct node *n = w->data;
    if (!n->serial_conn)
        conn_start_serial(n);
}

/* ---- statistics, timer, signals ------------------------------------------------ */

/* sim_stats - log the channel's statistics */
static void sim_stats(struct sim *s, const char *why)
{
    util_ms now = vnow(s);
    s5066_channel_run(s->ch, now);
    struct s5066_channel_stats cs;
    s5066_channel_stats(s->ch, now, &cs);
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SIM, "stats",
             "why=%s nodes=%zu rate=%u elapsed_s=%.3f busy_s=%.3f utilisation=%.1f%% bursts=%llu "
             "scale=%g",
             why, s->n_nodes, s->cf.ch.rate, (double)cs.elapsed / 1000.0, (double)cs.busy / 1000.0,
             cs.utilisation * 100.0, (unsigned long long)cs.bursts, s->scale);
    for (size_t i = 0; i < s->n_nodes; i++) {
        struct node *n = &s->nodes[i];
        struct s5066_channel_node_stats st;
        s5066_channel_node_stats(s->ch, s5066_simnode_index(n->sn), &st);
        char a[S5066_ADDR_STRLEN];
        double share = cs.elapsed ? 100.0 * (double)st.airtime / (double)cs.elapsed : 0.0;
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SIM, "stats",
                 "node=%s addr=%s bytes_on_air=%llu airtime_s=%.3f utilisation=%.1f%% bursts=%llu "
                 "acks=%llu "
                 "retransmissions=%llu submitted=%llu ok=%llu failed=%llu expired=%llu "
                 "received=%llu lost=%llu "
                 "corrupted=%llu queued=%zu queued_bytes=%zu emcon=%s flow=%s "
                 "closed_for_room=%llu clients=%zu refused=%llu",
                 n->cf->name, s5066_addr_format(&n->cf->addr, a, sizeof a),
                 (unsigned long long)st.bytes_on_air, (double)st.airtime / 1000.0, share,
                 (unsigned long long)st.bursts, (unsigned long long)st.acks,
                 (unsigned long long)st.retransmissions, (unsigned long long)st.submitted,
                 (unsigned long long)st.ok, (unsigned long long)st.failed,
                 (unsigned long long)st.expired, (unsigned long long)st.received,
                 (unsigned long long)st.lost, (unsigned long long)st.corrupted, st.queued,
                 st.queued_bytes, st.emcon ? "yes" : "no", st.flow_off ? "off" : "on",
                 (unsigned long long)s5066_simnode_closed_for_room(n->sn),
                 s5066_simnode_clients(n->sn), (unsigned long long)n->refused);
    }
}

/* on_timer - the channel model's next event is due */
static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct sim *s = w->data;
    s5066_channel_run(s->ch, vnow(s));
}

/* on_prepare - before the loop sleeps: close finished connections, re-arm the channel timer */
static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    struct sim *s = w->data;
    util_ms real = util_now_ms();
    struct util_list *it, *tmp;
    UTIL_LIST_FOREACH_SAFE(it, tmp, &s->conns) {
        struct conn *c = UTIL_CONTAINER_OF(it, struct conn, link);
        if (c->closing && !c->dead) {
            conn_flush(c);
            if (c->serial && c->out.len == 0 && !c->dead) {
                /* a serial line cannot be closed on the client: start afresh */
                c->closing = false;
                s5066_stream_free(&c->st);
                s5066_stream_init(&c->st, S5066_MAX_SIZE);
                c->client = s5066_simnode_attach(c->node->sn, vnow(s), c, c->peer);
                if (c->client)
                    ev_io_start(loop, &c->rio);
                else
                    c->dead = true;
            } else if (c->out.len == 0 || real - c->closing_since > SIM_LINGER_MS) {
                c->dead = true;
            }
        }
        if (c->dead)
            conn_destroy(c);
    }
    util_ms now = vnow(s);
    s5066_channel_run(s->ch, now);
    util_ms next = s5066_channel_next_expiry(s->ch);
    ev_timer_stop(loop, &s->timer);
    if (next == UTIL_MS_NEVER)
        return;
    double delay = next > now ? (double)(next - now) / s->scale / 1000.0 + 0.0005 : 0.0;
    ev_now_update(loop);
    ev_timer_set(&s->timer, delay, 0.0);
    ev_timer_start(loop, &s->timer);
}

/* on_signal - SIGUSR1: statistics; SIGINT/SIGTERM: statistics and exit */
static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    struct sim *s = w->data;
    if (w->signum == SIGUSR1) {
        sim_stats(s, "sigusr1");
        return;
    }
    if (w->signum == SIGHUP) {
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SIM, "sighup",
                 "action=ignored (restart to load a new config)");
        return;
    }
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SIM, "stopping", "signal=%s",
             w->signum == SIGINT ? "INT" : "TERM");
    ev_break(loop, EVBREAK_ALL);
}

/* ---- setup ------------------------------------------------------------------ */

/* node_listen - open a node's TCP listener; 0 or -1 with a log line */
static int node_listen(struct node *n)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char port[16];
    snprintf(port, sizeof port, "%ld", n->cf->port);
    int rc = getaddrinfo(n->cf->listen, port, &hints, &res);
    if (rc != 0) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_SIM, "listen-failed", "node=%s listen=%s error=\"%s\"",
                 n->cf->name, n->cf->listen, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_SIM, "listen-failed",
                 "node=%s listen=%s port=%ld error=\"%s\"", n->cf->name, n->cf->listen, n->cf->port,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[64] = "?", serv[16] = "0";
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV);
    n->lfd = fd;
    n->port = atoi(serv);
    ev_io_init(&n->accept_w, on_accept, fd, EV_READ);
    ev_set_priority(&n->accept_w, -1);
    n->accept_w.data = n;
    ev_io_start(n->sim->loop, &n->accept_w);
    char a[S5066_ADDR_STRLEN];
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SIM, "listen",
             "node=%s addr=%s port=%d listen=%s groups=%zu emcon=%s mtu=%u", n->cf->name,
             s5066_addr_format(&n->cf->addr, a, sizeof a), n->port, host, n->cf->n_groups,
             n->cf->emcon ? "yes" : "no", n->cf->mtu);
    return 0;
}

/* fd_limit - raise the soft descriptor limit to what max_clients on every
 * node needs (with the connections closing and the listeners), so that the
 * node's table fills, and its most idle connection makes room, before
 * accept() runs out of descriptors; a warning when the hard limit is lower */
static void fd_limit(const struct sim *s)
{
    rlim_t need = (rlim_t)s->n_nodes * (s->cf.max_clients + SIM_ACCEPT_BATCH + 1) + 32;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (rl.rlim_cur == was || setrlimit(RLIMIT_NOFILE, &rl) < 0)
        rl.rlim_cur = was;
    util_log(rl.rlim_cur >= need ? UTIL_LOG_INFO : UTIL_LOG_WARN, UTIL_MOD_SIM, "fd-limit",
             "nofile=%llu was=%llu needed=%llu nodes=%zu max_clients=%u",
             (unsigned long long)rl.rlim_cur, (unsigned long long)was, (unsigned long long)need,
             s->n_nodes, s->cf.max_clients);
}

/* write_portfile - "name port" per TCP node, written whole (rename) */
static int write_portfile(const struct sim *s, const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    for (size_t i = 0; i < s->n_nodes; i++)
        if (s->nodes[i].cf->port >= 0)
            fprintf(f, "%s %d\n", s->nodes[i].cf->name, s->nodes[i].port);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* usage - the help text on stdout, and exit */
static _Noreturn void usage(void)
{
    printf("usage: s5066sim -c FILE [-fnv] [-s SCALE] [-p PORTFILE] [-T MODULES]\n"
           "       s5066sim -h | -V\n"
           "A simulated STANAG 5066 HF subnetwork in one process: each node is a SIS\n"
           "server (Annex A) on a TCP port or a serial line, all sharing one simulated\n"
           "half-duplex HF channel.\n"
           "  -c FILE        the network: [channel], [node NAME], [group NAME]\n"
           "                 (see conf/s5066sim.conf) (required)\n"
           "  -f             stay in the foreground and log to stderr (default: once\n"
           "                 listening, detach into the background and log to syslog)\n"
           "  -n             check the configuration and exit (file:line: key on an error)\n"
           "  -s SCALE       time scale 0.001 to 1000000: every duration of the simulation\n"
           "                 divided by SCALE (overrides time_scale)\n"
           "  -p PORTFILE    once listening, write \"NAME PORT\" for every TCP node\n"
           "  -v             debug logs (every U_PDU queued and received)\n"
           "  -T MODULES     trace these modules (sim,s5066,...; comma-separated)\n"
           "  -h, --help     print this help and exit\n"
           "  -V, --version  print the version and exit\n"
           "Signals: USR1 logs statistics; INT/TERM log statistics and exit; HUP is\n"
           "ignored (restart to read a new configuration).\n"
           "Exit: 0 stopped by a signal (or -n: valid); 1 configuration or start-up\n"
           "error; 2 usage error.\n");
    exit(util_stdout_done("s5066sim"));
}

/* main - s5066sim */
int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    const char *cfg_path = NULL, *portfile = NULL, *trace = NULL;
    bool foreground = false, check = false, verbose = false;
    double scale_opt = 0.0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:fs:np:vT:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': cfg_path = optarg; break;
        case 'f': foreground = true; break;
        case 's': {
            char *end;
            scale_opt = strtod(optarg, &end);
            if (*end || !(scale_opt >= 0.001 && scale_opt <= 1000000.0)) {
                util_usage_error("s5066sim",
                                 "-s %s: a time scale is a number from 0.001 to 1000000", optarg);
                return 2;
            }
            break;
        }
        case 'n': check = true; break;
        case 'p': portfile = optarg; break;
        case 'v': verbose = true; break;
        case 'T': trace = optarg; break;
        case 'h': usage();
        case 'V': return util_print_version("s5066sim");
        default: util_usage_error("s5066sim", NULL); return 2;
        }
    }
    if (optind != argc) {
        util_usage_error("s5066sim", "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (!cfg_path) {
        util_usage_error("s5066sim", "no network: -c FILE is required");
        return 2;
    }
    if (trace && util_log_set_trace(trace) < 0) {
        util_usage_error("s5066sim", "-T %s: unknown module", trace);
        return 2;
    }
    util_log_set_level(trace ? UTIL_LOG_TRACE : verbose ? UTIL_LOG_DEBUG : UTIL_LOG_INFO);

    static struct sim sim; /* static: zeroed, and lives as long as the loop */
    struct sim *s = &sim;
    struct util_conf *conf = NULL;
    char err[1024];
    if (conf_load(cfg_path, &s->cf, &conf, err, sizeof err) < 0) {
        fprintf(stderr, "s5066sim: %s\n", err);
        util_conf_free(conf);
        free(s->cf.nodes);
        return 1;
    }
    s->scale = scale_opt > 0.0 ? scale_opt : s->cf.time_scale;
    if (check) {
        printf("s5066sim: %s: ok, %zu nodes, %u bps, time scale %g\n", cfg_path, s->cf.n_nodes,
               s->cf.ch.rate, s->scale);
        util_conf_free(conf);
        free(s->cf.nodes);
        return 0;
    }

    signal(SIGPIPE, SIG_IGN);
    s->loop = ev_default_loop(EVFLAG_AUTO);
    if (!s->loop) {
        fprintf(stderr, "s5066sim: cannot start libev\n");
        return 1;
    }
    util_list_init(&s->conns);
    s->t0 = util_now_ms();
    s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct s5066_channel_callbacks cb = {0};
    s5066_simnode_channel_callbacks(&cb);
    s->ch = s5066_channel_new(&s->cf.ch, &cb, s);
    s->nodes = calloc(s->cf.n_nodes, sizeof *s->nodes);
    if (!s->ch || !s->nodes) {
        fprintf(stderr, "s5066sim: out of memory\n");
        return 1;
    }
    struct s5066_simnode_callbacks ncb = {.send = on_send, .close = on_close};
    int rc = 0;
    for (size_t i = 0; i < s->cf.n_nodes; i++) {
        struct node *n = &s->nodes[i];
        const struct node_conf *nc = &s->cf.nodes[i];
        n->sim = s;
        n->cf = nc;
        n->lfd = -1;
        n->ser.fd = -1;
        ev_timer_init(&n->reopen, on_reopen, 0.0, 0.0);
        n->reopen.data = n;
        ev_timer_init(&n->accept_pause, on_accept_pause, 0.0, 0.0);
        n->accept_pause.data = n;
        ev_timer_init(&n->refuse_timer, on_refuse_timer, 0.0, 0.0);
        n->refuse_timer.data = n;
        struct s5066_simnode_params np;
        s5066_simnode_params_default(&np);
        np.name = nc->name;
        np.addr = nc->addr;
        np.groups = nc->groups;
        np.n_groups = nc->n_groups;
        np.emcon = nc->emcon;
        np.mtu = (uint16_t)nc->mtu;
        np.saps = nc->saps;
        np.max_bad = nc->max_bad;
        np.max_clients = s->cf.max_clients;
        np.max_per_address = s->cf.max_per_address;
        np.refuse_when_full = s->cf.refuse_when_full;
        np.log_window = (util_ms)(SIM_LOG_WINDOW_S * 1000.0 * s->scale); /* real time */
        if (np.log_window == 0)
            np.log_window = 1;
        n->sn = s5066_simnode_new(s->ch, &np, &ncb, s);
        if (!n->sn) {
            fprintf(stderr, "s5066sim: node %s: cannot create\n", nc->name);
            return 1;
        }
        s->n_nodes++;
        for (size_t g = 0; g < nc->n_groups; g++) {
            char a[S5066_ADDR_STRLEN];
            util_log(UTIL_LOG_INFO, UTIL_MOD_SIM, "member", "node=%s group=%s", nc->name,
                     s5066_addr_format(&nc->groups[g], a, sizeof a));
        }
        if (nc->port >= 0 && node_listen(n) < 0)
            rc = 1;
    }
    if (rc) {
        fprintf(stderr, "s5066sim: cannot listen on every port (see the log)\n");
        return 1;
    }
    fd_limit(s);
    if (portfile && write_portfile(s, portfile) < 0) {
        fprintf(stderr, "s5066sim: %s: %s\n", portfile, strerror(errno));
        return 1;
    }
    if (!foreground) {
        if (daemon(0, 0) < 0) {
            fprintf(stderr, "s5066sim: daemon: %s\n", strerror(errno));
            return 1;
        }
        util_log_to_syslog("s5066sim");
        ev_loop_fork(s->loop);
    }
    for (size_t i = 0; i < s->n_nodes; i++)
        if (s->nodes[i].cf->serial)
            conn_start_serial(&s->nodes[i]);

    ev_timer_init(&s->timer, on_timer, 0.0, 0.0);
    s->timer.data = s;
    ev_prepare_init(&s->prepare, on_prepare);
    s->prepare.data = s;
    ev_prepare_start(s->loop, &s->prepare);
    ev_signal_init(&s->sigint, on_signal, SIGINT);
    ev_signal_init(&s->sigterm, on_signal, SIGTERM);
    ev_signal_init(&s->sigusr1, on_signal, SIGUSR1);
    ev_signal_init(&s->sighup, on_signal, SIGHUP);
    s->sigint.data = s->sigterm.data = s->sigusr1.data = s->sighup.data = s;
    ev_signal_start(s->loop, &s->sigint);
    ev_signal_start(s->loop, &s->sigterm);
    ev_signal_start(s->loop, &s->sigusr1);
    ev_signal_start(s->loop, &s->sighup);

    char ch_desc[160];
    snprintf(ch_desc, sizeof ch_desc,
             "rate=%u turnaround_ms=%llu loss=%g seed=%llu bit_errors=%s scale=%g", s->cf.ch.rate,
             (unsigned long long)s->cf.ch.turnaround, s->cf.ch.loss,
             (unsigned long long)s->cf.ch.seed, s->cf.ch.bit_errors ? "yes" : "no", s->scale);
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SIM, "ready", "nodes=%zu %s pid=%ld", s->n_nodes, ch_desc,
             (long)getpid());

    ev_run(s->loop, 0);

    sim_stats(s, "exit");
    s->stopping = true;
    struct util_list *it, *tmp;
    UTIL_LIST_FOREACH_SAFE(it, tmp, &s->conns)
    conn_destroy(UTIL_CONTAINER_OF(it, struct conn, link));
    for (size_t i = 0; i < s->n_nodes; i++) {
        struct node *n = &s->nodes[i];
        ev_timer_stop(s->loop, &n->reopen);
        ev_timer_stop(s->loop, &n->accept_pause);
        ev_timer_stop(s->loop, &n->refuse_timer);
        if (n->lfd >= 0) {
            ev_io_stop(s->loop, &n->accept_w);
            close(n->lfd);
        }
        s5066_serial_close(&n->ser);
        s5066_simnode_free(n->sn);
    }
    s5066_channel_free(s->ch);
    if (s->spare_fd >= 0)
        close(s->spare_fd);
    free(s->nodes);
    free(s->cf.nodes);
    util_conf_free(conf);
    ev_loop_destroy(s->loop);
    return s->exit_code;
}
