/* link.c - glue between the SIS client engine and a 5066 server: a TCP
 * connection (Annex A.2.1: the SIS over TCP port 5066 by default) or a
 * serial line, driven by libev.  It connects (with a timeout), reconnects
 * with exponential backoff, cuts the byte stream into primitives with the
 * stream decoder (garbage and bad primitives logged once per connection,
 * then counted; those lines and link-down rate-limited per link across
 * connections, S5066_LOG_BURST per S5066_LOG_WINDOW_MS), buffers output
 * up to a limit, detects hang-up, and keeps one ev_timer armed from
 * s5066_client_next_expiry().
 */
#include "s5066/s5066.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct s5066_link {
    struct ev_loop *loop;
    struct s5066_link_config cfg;
    char name[64];
    struct s5066_client_callbacks user_cb;
    void *user;
    struct s5066_client *client;

    int fd;
    struct s5066_serial serial;
    bool connecting, connected, started;
    ev_io rio, wio;
    ev_timer conn_timer;   /* connect timeout, or the wait before reconnecting */
    ev_timer engine_timer; /* the engine's next expiry */
    util_ms backoff;
    struct util_buf out;
    struct s5066_stream stream;
    /* per-connection counters, logged once and summarised at close */
    uint64_t garbage, bad_prims;
    /* across connections: a server that hangs up and comes back cannot
     * make these lines flood the log */
    struct util_ratelimit rl_garbage, rl_bad, rl_down;
    bool connect_fail_logged;
    /* a write failed because the server went away: what it sent before
     * (a CONFIRM, say) is read before the link is closed */
    bool write_dead;
    char write_err[64];
};

/* s5066_link_config_default - TCP, the client defaults, the timers above */
void s5066_link_config_default(struct s5066_link_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->name = "sis";
    cfg->kind = S5066_LINK_TCP;
    snprintf(cfg->host, sizeof cfg->host, "127.0.0.1");
    cfg->port = 5066;
    cfg->baud = 9600;
    cfg->connect_timeout_ms = 10000;
    cfg->reconnect_min_ms = 1000;
    cfg->reconnect_max_ms = 60000;
    cfg->out_limit = 256 * 1024;
    s5066_client_config_default(&cfg->client);
}

/* link_log_ok - whether a line of this kind may be logged now; sup gets
 * " suppressed=N" (lines held back since the last one) or "" */
static bool link_log_ok(struct util_ratelimit *r, char *sup, size_t cap)
{
    unsigned n;
    if (!util_ratelimit_allow(r, util_now_ms(), S5066_LOG_BURST, S5066_LOG_WINDOW_MS, &n))
        return false;
    if (n)
        snprintf(sup, cap, " suppressed=%u", n);
    else
        sup[0] = '\0';
    return true;
}

/* link_parse_port - a decimal TCP port 1..65535 */
static int link_parse_port(const char *s, uint16_t *port)
{
    long long v;
    if (util_parse_int(s, 1, 65535, &v) < 0)
        return S5066_ERR_INVAL;
    *port = (uint16_t)v;
    return 0;
}

/* s5066_link_parse_target - "host:port", "tcp:host:port", "serial:/dev/x[:baud[:rtscts]]", "/dev/x" */
int s5066_link_parse_target(const char *target, struct s5066_link_config *cfg)
{
    char tmp[300];
    if (!target || strlen(target) >= sizeof tmp)
        return S5066_ERR_INVAL;
    snprintf(tmp, sizeof tmp, "%s", target);
    char *t = tmp;
    if (strncmp(t, "serial:", 7) == 0 || t[0] == '/') {
        if (t[0] != '/')
            t += 7;
        char *colon = strchr(t, ':');
        int baud = 9600;
        bool rtscts = false;
        if (colon) {
            *colon = '\0';
            char *opt = strchr(colon + 1, ':');
            if (opt) {
                *opt = '\0';
                if (strcmp(opt + 1, "rtscts") != 0)
                    return S5066_ERR_INVAL;
                rtscts = true;
            }
            long long v;
            if (util_parse_int(colon + 1, 1, 4000000, &v) < 0 || !s5066_serial_baud_ok((int)v))
                return S5066_ERR_INVAL;
            baud = (int)v;
        }
        if (!*t || strlen(t) >= sizeof cfg->device)
            return S5066_ERR_INVAL;
        cfg->kind = S5066_LINK_SERIAL;
        snprintf(cfg->device, sizeof cfg->device, "%s", t);
        cfg->baud = baud;
        cfg->rtscts = rtscts;
        return 0;
    }
    if (strncmp(t, "tcp:", 4) == 0)
        t += 4;
    char *host = t, *port;
    if (t[0] == '[') {
        char *close = strchr(t, ']');
        if (!close || close[1] != ':')
            return S5066_ERR_INVAL;
        *close = '\0';
        host = t + 1;
        port = close + 2;
    } else {
        port = strrchr(t, ':');
        if (!port)
            return S5066_ERR_INVAL;
        *port++ = '\0';
    }
    if (!*host || strlen(host) >= sizeof cfg->host || link_parse_port(port, &cfg->port) < 0)
        return S5066_ERR_INVAL;
    cfg->kind = S5066_LINK_TCP;
    snprintf(cfg->host, sizeof cfg->host, "%s", host);
    return 0;
}

static void link_schedule_reconnect(struct s5066_link *l);

/* link_rearm_engine_timer - one timer from the engine's next expiry */
static void link_rearm_engine_timer(struct s5066_link *l)
{
    ev_timer_stop(l->loop, &l->engine_timer);
    util_ms next = s5066_client_next_expiry(l->client);
    if (next == UTIL_MS_NEVER)
        return;
    util_ms now = util_now_ms();
    double delay = next > now ? (double)(next - now) / 1000.0 : 0.0;
    ev_timer_set(&l->engine_timer, delay, 0.0);
    ev_timer_start(l->loop, &l->engine_timer);
}

/* link_close - drop the transport; the engine hears link_down */
static void link_close(struct s5066_link *l, const char *why)
{
    if (l->fd < 0 && !l->connecting)
        return;
    ev_io_stop(l->loop, &l->rio);
    ev_io_stop(l->loop, &l->wio);
    ev_timer_stop(l->loop, &l->conn_timer);
    bool was_connected = l->connected;
    if (l->cfg.kind == S5066_LINK_SERIAL)
        s5066_serial_close(&l->serial);
    else if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    l->connecting = l->connected = false;
    l->write_dead = false;
    util_buf_reset(&l->out);
    size_t partial = s5066_stream_buffered(&l->stream); /* a primitive cut short */
    s5066_stream_free(&l->stream);
    s5066_stream_init(&l->stream, S5066_STREAM_DEFAULT_MAX);
    char sup[32];
    if (was_connected && link_log_ok(&l->rl_down, sup, sizeof sup))
        util_log(UTIL_LOG_WARN, UTIL_MOD_S5066, "link-down",
                 "link=%s why=\"%s\" garbage_bytes=%llu bad_primitives=%llu partial_bytes=%zu%s",
                 l->name, why, (unsigned long long)l->garbage, (unsigned long long)l->bad_prims,
                 partial, sup);
    if (was_connected) {
        s5066_client_link_down(l->client, util_now_ms());
    }
    l->garbage = l->bad_prims = 0;
    link_rearm_engine_timer(l);
}

/* link_fail - close and try again later */
static void link_fail(struct s5066_link *l, const char *why)
{
    link_close(l, why);
    link_schedule_reconnect(l);
}

/* link_established - the transport is up: tell the engine */
static void link_established(struct s5066_link *l)
{
    l->connecting = false;
    l->connected = true;
    l->connect_fail_logged = false;
    ev_timer_stop(l->loop, &l->conn_timer);
    if (l->cfg.kind == S5066_LINK_TCP)
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_S5066, "link-up", "link=%s peer=%s:%u", l->name, l->cfg.host,
                 l->cfg.port);
    else
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_S5066, "link-up", "link=%s device=%s baud=%d rtscts=%s",
                 l->name, l->cfg.device, l->cfg.baud, l->cfg.rtscts ? "yes" : "no");
    ev_io_set(&l->rio, l->fd, EV_READ);
    ev_io_start(l->loop, &l->rio);
    s5066_client_link_up(l->client, util_now_ms());
    link_rearm_engine_timer(l);
}

/* link_flush - write buffered output; false if the link failed */
static bool link_flush(struct s5066_link *l)
{
    while (l->out.len) {
        ssize_t n = write(l->fd, l->out.data, l->out.len);
        if (n > 0) {
            util_buf_consume(&l->out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET) && l->cfg.kind == S5066_LINK_TCP) {
            /* the server hung up: read what it sent first (link_on_read
             * closes at the end of it), send nothing more */
            snprintf(l->write_err, sizeof l->write_err, "%s", strerror(errno));
            l->write_dead = true;
            util_buf_reset(&l->out);
            ev_io_stop(l->loop, &l->wio);
            ev_feed_event(l->loop, &l->rio, EV_READ);
            return false;
        }
        link_fail(l, n < 0 ? strerror(errno) : "write returned 0");
        return false;
    }
    if (l->out.len) {
        if (!ev_is_active(&l->wio)) {
            ev_io_set(&l->wio, l->fd, EV_WRITE);
            ev_io_start(l->loop, &l->wio);
        }
    } else {
        ev_io_stop(l->loop, &l->wio);
    }
    return true;
}

/* link_send - the engine's send callback: buffer and write */
static int link_send(void *user, const uint8_t *bytes, size_t len)
{
    struct s5066_link *l = user;
    if (!l->connected || l->write_dead)
        return S5066_ERR_LINK;
    if (util_buf_append(&l->out, bytes, len) < 0)
        return S5066_ERR_QUEUE_FULL; /* the engine keeps it queued; we kick it on drain */
    if (!ev_is_active(&l->wio)) {
        ev_io_set(&l->wio, l->fd, EV_WRITE);
        ev_io_start(l->loop, &l->wio);
    }
    return 0;
}

/* link_lost - the engine judged the link dead (keep-alive unanswered) */
static void link_lost(void *user)
{
    struct s5066_link *l = user;
    link_fail(l, "keep-alive unanswered");
}

/* link_fwd_state - pass state changes to the user, resetting backoff on a bind */
static void link_fwd_state(void *user, int state, uint16_t mtu)
{
    struct s5066_link *l = user;
    if (state == S5066_CLIENT_BOUND)
        l->backoff = 0;
    if (l->user_cb.state)
        l->user_cb.state(l->user, state, mtu);
}

/* link_fwd_ind - pass indications to the user */
static void link_fwd_ind(void *user, const struct s5066_unidata_indication *ind, bool expedited)
{
    struct s5066_link *l = user;
    if (l->user_cb.indication)
        l->user_cb.indication(l->user, ind, expedited);
}

/* link_fwd_result - pass results to the user */
static void link_fwd_result(void *user, uint64_t id, int result, int reason)
{
    struct s5066_link *l = user;
    if (l->user_cb.result)
        l->user_cb.result(l->user, id, result, reason);
}

/* link_fwd_hold - pass hold changes to the user */
static void link_fwd_hold(void *user, bool held, const char *why)
{
    struct s5066_link *l = user;
    if (l->user_cb.hold)
        l->user_cb.hold(l->user, held, why);
}

/* link_on_read - bytes from the server */
static void link_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct s5066_link *l = w->data;
    (void)loop;
    (void)revents;
    uint8_t buf[8192];
    for (int rounds = 0; rounds < 16 && l->connected; rounds++) {
        ssize_t n = read(l->fd, buf, sizeof buf);
        if (n == 0 && l->cfg.kind == S5066_LINK_SERIAL) {
            /* a raw tty (VMIN=0) also reads 0 when merely drained: only
             * POLLHUP says the line is gone */
            struct pollfd pfd = {l->fd, POLLIN, 0};
            if (poll(&pfd, 1, 0) < 0 || !(pfd.revents & (POLLHUP | POLLERR)))
                break;
        }
        if (n == 0 || (n < 0 && errno == EIO)) {
            link_fail(l, "hang-up");
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                link_fail(l, strerror(errno));
            else if (l->write_dead)
                link_fail(l, l->write_err); /* drained, and no hang-up seen */
            break;
        }
        const uint8_t *p = buf;
        size_t left = (size_t)n;
        while (left > 0 && l->connected) {
            size_t taken = 0;
            if (s5066_stream_feed(&l->stream, p, left, &taken) < 0) {
                link_fail(l, "out of memory");
                return;
            }
            p += taken;
            left -= taken;
            struct s5066_prim prim;
            int rc;
            while (l->connected && (rc = s5066_stream_next(&l->stream, &prim)) != 0) {
                if (rc > 0) {
                    s5066_client_input(l->client, util_now_ms(), &prim);
                    continue;
                }
                char sup[32];
                if (l->bad_prims++ == 0 && link_log_ok(&l->rl_bad, sup, sizeof sup))
                    util_log(UTIL_LOG_WARN, UTIL_MOD_S5066, "bad-primitive",
                             "link=%s error=\"%s\"%s", l->name, s5066_strerror(rc), sup);
            }
            size_t skipped = s5066_stream_take_skipped(&l->stream);
            if (skipped) {
                char sup[32];
                if (l->garbage == 0 && link_log_ok(&l->rl_garbage, sup, sizeof sup))
                    util_log(UTIL_LOG_WARN, UTIL_MOD_S5066, "garbage", "link=%s bytes=%zu%s",
                             l->name, skipped, sup);
                l->garbage += skipped;
            }
        }
        if ((size_t)n < sizeof buf)
            break;
    }
    if (l->connected)
        link_rearm_engine_timer(l);
}

/* link_on_write - the transport can take more (or a TCP connect finished) */
static void link_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct s5066_link *l = w->data;
    (void)loop;
    (void)revents;
    if (l->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        ev_io_stop(l->loop, &l->wio);
        if (err) {
            if (!l->connect_fail_logged)
                util_log(UTIL_LOG_WARN, UTIL_MOD_S5066, "connect-failed", "link=%s peer=%s:%u error=\"%s\"",
                         l->name, l->cfg.host, l->cfg.port, strerror(err));
            l->connect_fail_logged = true;
            link_fail(l, strerror(err));
            return;
        }
        link_established(l);
        return;
    }
    if (!link_flush(l))
        return;
    if (!l->out.len) {
        s5066_client_kick(l->client, util_now_ms());
        link_flush(l);
    }
    if (l->connected)
        link_rearm_engine_timer(l);
}

/* link_on_engine_timer - run the engine's timers */
static void link_on_engine_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct s5066_link *l = w->data;
    (void)loop;
    (void)revents;
    s5066_client_timeout(l->client, util_now_ms());
    if (l->connected)
        link_flush(l);
    link_rearm_engine_timer(l);
}

/* link_connect_tcp - start a non-blocking connect to host:port */
static int link_connect_tcp(struct s5066_link *l)
{
    struct addrinfo hints = {0}, *res = NULL;
    char port[8];
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%u", l->cfg.port);
    int rc = getaddrinfo(l->cfg.host, port, &hints, &res);
    if (rc != 0) {
        if (!l->connect_fail_logged)
            util_log(UTIL_LOG_WARN, UTIL_MOD_S5066, "connect-failed", "link=%s peer=%s:%u error=\"%s\"",
                     l->name, l->cfg.host, l->cfg.port, gai_strerror(rc));
        l->connect_fail_logged = true;
        return S5066_ERR_LINK;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) {
        freeaddrinfo(res);
        return S5066_ERR_LINK;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    rc = connect(fd, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0 && errno != EINPROGRESS) {
        if (!l->connect_fail_logged)
            util_log(UTIL_LOG_WARN, UTIL_MOD_S5066, "connect-failed", "link=%s peer=%s:%u error=\"%s\"",
                     l->name, l->cfg.host, l->cfg.port, strerror(errno));
        l->connect_fail_logged = true;
        close(fd);
        return S5066_ERR_LINK;
    }
    l->fd = fd;
    l->connecting = true;
    ev_io_set(&l->wio, fd, EV_WRITE);
    ev_io_start(l->loop, &l->wio);
    ev_timer_set(&l->conn_timer, (double)l->cfg.connect_timeout_ms / 1000.0, 0.0);
    ev_timer_start(l->loop, &l->conn_timer);
    return 0;
}

/* link_connect - open the transport */
static void link_connect(struct s5066_link *l)
{
    if (l->cfg.kind == S5066_LINK_SERIAL) {
        char err[512];
        if (s5066_serial_open(&l->serial, l->cfg.device, l->cfg.baud, l->cfg.rtscts, err, sizeof err) < 0) {
            if (!l->connect_fail_logged)
                util_log(UTIL_LOG_WARN, UTIL_MOD_S5066, "open-failed", "link=%s error=\"%s\"", l->name, err);
            l->connect_fail_logged = true;
            link_schedule_reconnect(l);
            return;
        }
        l->fd = l->serial.fd;
        link_established(l);
        return;
    }
    if (link_connect_tcp(l) < 0)
        link_schedule_reconnect(l);
}

/* link_on_conn_timer - connect timed out, or the reconnect wait ended */
static void link_on_conn_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct s5066_link *l = w->data;
    (void)loop;
    (void)revents;
    if (l->connecting) {
        if (!l->connect_fail_logged)
            util_log(UTIL_LOG_WARN, UTIL_MOD_S5066, "connect-timeout", "link=%s peer=%s:%u", l->name,
                     l->cfg.host, l->cfg.port);
        l->connect_fail_logged = true;
        link_fail(l, "connect timeout");
        return;
    }
    link_connect(l);
}

/* link_schedule_reconnect - wait (doubling up to the cap) and connect again */
static void link_schedule_reconnect(struct s5066_link *l)
{
    if (!l->started)
        return;
    util_ms wait = l->backoff ? l->backoff : l->cfg.reconnect_min_ms;
    l->backoff = UTIL_MIN(wait * 2, l->cfg.reconnect_max_ms);
    util_log(UTIL_LOG_DEBUG, UTIL_MOD_S5066, "reconnect-wait", "link=%s wait_ms=%llu", l->name,
             (unsigned long long)wait);
    ev_timer_stop(l->loop, &l->conn_timer);
    ev_timer_set(&l->conn_timer, (double)wait / 1000.0, 0.0);
    ev_timer_start(l->loop, &l->conn_timer);
}

/* s5066_link_new - a link that will connect and bind when started */
struct s5066_link *s5066_link_new(struct ev_loop *loop, const struct s5066_link_config *cfg,
                                  const struct s5066_client_callbacks *cb, void *user)
{
    struct s5066_link *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->loop = loop;
    l->cfg = *cfg;
    snprintf(l->name, sizeof l->name, "%s", cfg->name ? cfg->name : "sis");
    l->cfg.name = l->name;
    l->user_cb = *cb;
    l->user = user;
    l->fd = -1;
    l->serial.fd = -1;
    struct s5066_client_callbacks mine = {
        link_send, link_fwd_state, link_fwd_ind, link_fwd_result, link_lost, link_fwd_hold,
    };
    l->client = s5066_client_new(&cfg->client, &mine, l);
    if (!l->client) {
        free(l);
        return NULL;
    }
    util_buf_init(&l->out, cfg->out_limit ? cfg->out_limit : 256 * 1024);
    s5066_stream_init(&l->stream, S5066_STREAM_DEFAULT_MAX);
    ev_io_init(&l->rio, link_on_read, -1, EV_READ);
    ev_io_init(&l->wio, link_on_write, -1, EV_WRITE);
    ev_timer_init(&l->conn_timer, link_on_conn_timer, 0.0, 0.0);
    ev_timer_init(&l->engine_timer, link_on_engine_timer, 0.0, 0.0);
    l->rio.data = l->wio.data = l->conn_timer.data = l->engine_timer.data = l;
    return l;
}

/* s5066_link_start - connect (and keep reconnecting) */
int s5066_link_start(struct s5066_link *l)
{
    l->started = true;
    link_connect(l);
    return 0;
}

/* s5066_link_free - close and release everything */
void s5066_link_free(struct s5066_link *l)
{
    if (!l)
        return;
    l->started = false;
    link_close(l, "shutdown");
    ev_timer_stop(l->loop, &l->conn_timer);
    ev_timer_stop(l->loop, &l->engine_timer);
    s5066_client_free(l->client);
    util_buf_free(&l->out);
    s5066_stream_free(&l->stream);
    free(l);
}

/* s5066_link_submit - queue a U_PDU (see s5066_client_submit) */
int s5066_link_submit(struct s5066_link *l, const struct s5066_client_request *req, uint64_t *id)
{
    int rc = s5066_client_submit(l->client, util_now_ms(), req, id);
    if (l->connected)
        link_flush(l);
    link_rearm_engine_timer(l);
    return rc;
}

/* s5066_link_client - the engine inside, for status and holds */
struct s5066_client *s5066_link_client(struct s5066_link *l)
{
    return l->client;
}

/* s5066_link_set_hold - operator hold (local EMCON) */
void s5066_link_set_hold(struct s5066_link *l, bool hold)
{
    s5066_client_set_hold(l->client, util_now_ms(), hold);
    if (l->connected)
        link_flush(l);
    link_rearm_engine_timer(l);
}

/* s5066_link_connected - whether the transport is up */
bool s5066_link_connected(const struct s5066_link *l)
{
    return l->connected;
}

/* s5066_link_send_prim - send one primitive outside the engine */
int s5066_link_send_prim(struct s5066_link *l, const struct s5066_prim *p)
{
    uint8_t buf[S5066_HDR_LEN + 1024];
    int n = s5066_encode(p, buf, sizeof buf);
    if (n < 0)
        return n;
    int rc = link_send(l, buf, (size_t)n);
    if (rc == 0)
        link_flush(l);
    return rc;
}
