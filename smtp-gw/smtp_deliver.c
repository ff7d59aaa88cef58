/* smtp_deliver.c - glue: deliver one spooled message to the LAN MTA over
 * SMTP (RFC 5321 3.3, 4.5.3.2) with the engine of smtp_client.c, on libev.
 * It connects over TCP (every address of the host in turn, each with the
 * connect timeout), feeds the engine the server's bytes, streams the
 * content from the spool in pieces as the socket drains (never the whole
 * message in memory), keeps one ev_timer from the engine's next expiry, and
 * reports one outcome per attempted recipient, then done.
 *
 * Callbacks: rcpt_result must not free the delivery; done may (it is the
 * last thing the delivery does).  Logs `smtpgw deliver-* qid=...` lines.
 */
#include "smtp-gw/smtpgw.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define DELIVER_OUT_HIGH (64u * 1024) /* stop feeding content above this much unsent */
#define DELIVER_CHUNK    (16u * 1024) /* content read per piece (one BDAT chunk) */
#define DELIVER_READ     4096

struct smtpgw_deliver {
    struct ev_loop *loop;
    struct smtpgw_deliver_params p;
    char *host;
    struct smtpgw_spool *sp;
    struct smtpgw_envelope *msg;
    struct smtpgw_deliver_callbacks cb;
    void *user;

    struct addrinfo *ai_list, *ai_next;
    int fd;
    int content_fd;
    uint64_t content_size, content_off;
    bool connecting;
    ev_io rio, wio;
    ev_timer timer;
    struct util_buf out;

    struct smtpgw_client *client;
    struct smtpgw_client_msg cmsg;
    struct smtpgw_client_rcpt *crcpts;
    size_t *map; /* client recipient index -> msg->rcpts index */
    bool finished;
    int err;
    int connect_errno;
};

/* smtpgw_deliver_params_default - port 25, 30 s, client defaults; host NULL */
void smtpgw_deliver_params_default(struct smtpgw_deliver_params *p)
{
    memset(p, 0, sizeof *p);
    p->port = 25;
    p->connect_timeout = 30 * 1000;
    smtpgw_client_params_default(&p->client);
}

/* quote_safe - copy s into out with '"' and control bytes replaced (for a log value) */
static void quote_safe(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; s && *s && o + 1 < cap; s++)
        out[o++] = (*s == '"' || (unsigned char)*s < 0x20) ? '\'' : *s;
    out[o] = '\0';
}

/* ---- engine callbacks --------------------------------------------------------- */

/* on_send - queue the engine's bytes and wait for the socket to take them */
static int on_send(void *user, const uint8_t *data, size_t len)
{
    struct smtpgw_deliver *d = user;
    if (util_buf_append(&d->out, data, len) != 0)
        return UTIL_ERR_NOMEM;
    if (d->fd >= 0 && !ev_is_active(&d->wio))
        ev_io_start(d->loop, &d->wio);
    return 0;
}

/* on_rcpt - one recipient's outcome: log it and pass it on */
static void on_rcpt(void *user, size_t i, int code, const char *status, const char *reply)
{
    struct smtpgw_deliver *d = user;
    size_t ri = d->map[i];
    char q[600];
    quote_safe(reply, q, sizeof q);
    util_log(code / 100 == 2 ? UTIL_LOG_INFO : code / 100 == 4 ? UTIL_LOG_NOTICE : UTIL_LOG_WARN, UTIL_MOD_SMTPGW,
             code / 100 == 2   ? "deliver-ok"
             : code / 100 == 4 ? "deliver-deferred"
                               : "deliver-failed",
             "qid=%s rcpt=<%s> relay=%s:%u code=%d status=%s reply=\"%s\"", d->msg->qid,
             d->msg->rcpts[ri].addr, d->host, d->p.port, code, status, q);
    if (d->cb.rcpt_result)
        d->cb.rcpt_result(d->user, d->msg, ri, code, status, reply);
}

/* on_done - the session is over; completion runs once the engine has returned */
static void on_done(void *user, int err)
{
    struct smtpgw_deliver *d = user;
    d->finished = true;
    d->err = err;
}

/* ---- lifecycle ------------------------------------------------------------------ */

/* stop_io - stop the watchers and close the socket and content */
static void stop_io(struct smtpgw_deliver *d)
{
    ev_io_stop(d->loop, &d->rio);
    ev_io_stop(d->loop, &d->wio);
    ev_timer_stop(d->loop, &d->timer);
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    if (d->content_fd >= 0)
        close(d->content_fd);
    d->content_fd = -1;
}

/* complete - report done (the last thing; the user may free d in it) */
static void complete(struct smtpgw_deliver *d)
{
    stop_io(d);
    util_log(UTIL_LOG_DEBUG, UTIL_MOD_SMTPGW, "deliver-end", "qid=%s relay=%s:%u result=\"%s\"",
             d->msg->qid, d->host, d->p.port, d->err ? smtpgw_spool_strerror(d->err) : "ok");
    if (d->cb.done)
        d->cb.done(d->user, d->msg, d->err);
}

/* rearm - the timer from the engine's next expiry */
static void rearm(struct smtpgw_deliver *d)
{
    ev_timer_stop(d->loop, &d->timer);
    util_ms exp = smtpgw_client_next_expiry(d->client);
    if (exp == UTIL_MS_NEVER)
        return;
    util_ms now = util_now_ms();
    ev_timer_set(&d->timer, exp > now ? (double)(exp - now) / 1000.0 : 0.0, 0.0);
    ev_timer_start(d->loop, &d->timer);
}

/* pump - feed content while the engine wants it and the output is not backed up */
static void pump(struct smtpgw_deliver *d)
{
    static uint8_t buf[DELIVER_CHUNK];
    while (!d->finished && smtpgw_client_wants_body(d->client) && d->out.len < DELIVER_OUT_HIGH) {
        size_t want = (size_t)UTIL_MIN((uint64_t)DELIVER_CHUNK, d->content_size - d->content_off);
        size_t got = 0;
        while (got < want) {
            ssize_t n = pread(d->content_fd, buf + got, want - got, (off_t)(d->content_off + got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "deliver-read", "qid=%s error=\"%s\"",
                         d->msg->qid, n < 0 ? strerror(errno) : "short file");
                smtpgw_client_closed(d->client, util_now_ms()); /* 4xx for everyone: retry */
                return;
            }
            got += (size_t)n;
        }
        d->content_off += got;
        smtpgw_client_body(d->client, util_now_ms(), buf, got, d->content_off >= d->content_size);
    }
}

/* after_engine - what follows any engine call: completion, content, timer */
static void after_engine(struct smtpgw_deliver *d)
{
    if (!d->finished)
        pump(d);
    if (d->finished) {
        complete(d);
        return;
    }
    rearm(d);
}

/* on_read - server bytes for the engine */
static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct smtpgw_deliver *d = w->data;
    (void)loop;
    (void)revents;
    uint8_t buf[DELIVER_READ];
    ssize_t n = recv(d->fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0)
        smtpgw_client_closed(d->client, util_now_ms());
    else
        smtpgw_client_input(d->client, util_now_ms(), buf, (size_t)n);
    after_engine(d);
}

/* on_write - drain the output; then maybe more content */
static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct smtpgw_deliver *d = w->data;
    (void)revents;
    while (d->out.len > 0) {
        ssize_t n = send(d->fd, d->out.data, d->out.len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            smtpgw_client_closed(d->client, util_now_ms());
            after_engine(d);
            return;
        }
        util_buf_consume(&d->out, (size_t)n);
    }
    ev_io_stop(loop, &d->wio);
    after_engine(d);
}

/* on_engine_timer - the engine's timeouts */
static void on_engine_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct smtpgw_deliver *d = w->data;
    (void)loop;
    (void)revents;
    smtpgw_client_timeout(d->client, util_now_ms());
    after_engine(d);
}

/* ---- connecting ---------------------------------------------------------------- */

static void try_connect(struct smtpgw_deliver *d);
static void on_connect_timer(struct ev_loop *loop, ev_timer *w, int revents);
static void on_connect_ready(struct ev_loop *loop, ev_io *w, int revents);

/* connect_failed - every address failed: 4xx for every recipient, done */
static void connect_failed(struct smtpgw_deliver *d)
{
    char reply[300];
    snprintf(reply, sizeof reply, "451 4.4.1 cannot connect to the LAN MTA %s port %u: %s", d->host,
             d->p.port, d->connect_errno ? strerror(d->connect_errno) : "no address");
    util_log(UTIL_LOG_WARN, UTIL_MOD_SMTPGW, "deliver-connect-failed",
             "qid=%s relay=%s:%u error=\"%s\"", d->msg->qid, d->host, d->p.port,
             d->connect_errno ? strerror(d->connect_errno) : "no address");
    for (size_t i = 0; i < d->cmsg.n_rcpts; i++)
        on_rcpt(d, i, 451, "4.4.1", reply);
    d->finished = true;
    d->err = SMTPGW_ERR_CLIENT_CONNECT;
    complete(d);
}

/* connected - the socket is up: the engine waits for the greeting */
static void connected(struct smtpgw_deliver *d)
{
    d->connecting = false;
    ev_io_stop(d->loop, &d->wio);
    ev_timer_stop(d->loop, &d->timer);
    ev_timer_init(&d->timer, on_engine_timer, 0.0, 0.0);
    d->timer.data = d;
    int one = 1;
    (void)setsockopt(d->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ev_io_set(&d->rio, d->fd, EV_READ);
    ev_io_set(&d->wio, d->fd, EV_WRITE);
    ev_io_start(d->loop, &d->rio);
    util_log(UTIL_LOG_DEBUG, UTIL_MOD_SMTPGW, "deliver-connected", "qid=%s relay=%s:%u",
             d->msg->qid, d->host, d->p.port);
    rearm(d);
}

/* on_connect_ready - the pending connect finished (or failed) */
static void on_connect_ready(struct ev_loop *loop, ev_io *w, int revents)
{
    struct smtpgw_deliver *d = w->data;
    (void)loop;
    (void)revents;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        soerr = errno;
    if (soerr == 0) {
        /* never re-init an active watcher: libev would link it twice */
        ev_io_stop(d->loop, &d->wio);
        ev_io_init(&d->wio, on_write, d->fd, EV_WRITE);
        d->wio.data = d;
        connected(d);
        return;
    }
    d->connect_errno = soerr;
    ev_io_stop(d->loop, &d->wio);
    close(d->fd);
    d->fd = -1;
    try_connect(d);
}

/* on_connect_timer - connect timeout (next address), or a deferred failure report */
static void on_connect_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct smtpgw_deliver *d = w->data;
    (void)loop;
    (void)revents;
    if (d->fd >= 0) {
        d->connect_errno = ETIMEDOUT;
        ev_io_stop(d->loop, &d->wio);
        close(d->fd);
        d->fd = -1;
    }
    try_connect(d);
}

/* start_next - start a connect to the next address; false when none is left */
static bool start_next(struct smtpgw_deliver *d)
{
    while (d->ai_next) {
        struct addrinfo *ai = d->ai_next;
        d->ai_next = ai->ai_next;
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            d->connect_errno = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            d->connect_errno = errno;
            close(fd);
            continue;
        }
        d->fd = fd;
        d->connecting = true;
        ev_io_init(&d->wio, on_connect_ready, fd, EV_WRITE);
        d->wio.data = d;
        ev_io_start(d->loop, &d->wio);
        ev_timer_stop(d->loop, &d->timer);
        ev_timer_init(&d->timer, on_connect_timer, (double)d->p.connect_timeout / 1000.0, 0.0);
        d->timer.data = d;
        ev_timer_start(d->loop, &d->timer);
        return true;
    }
    return false;
}

/* try_connect - the next address; all failed: report */
static void try_connect(struct smtpgw_deliver *d)
{
    if (!start_next(d))
        connect_failed(d);
}

/* on_start_failed - report a connect failure found inside smtpgw_deliver_start, from the loop */
static void on_start_failed(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct smtpgw_deliver *d = w->data;
    (void)loop;
    (void)revents;
    connect_failed(d);
}

/* ---- public ---------------------------------------------------------------------- */

/* smtpgw_deliver_start - connect and deliver msg's open recipients */
struct smtpgw_deliver *smtpgw_deliver_start(struct ev_loop *loop,
                                            const struct smtpgw_deliver_params *p,
                                            struct smtpgw_spool *sp, struct smtpgw_envelope *msg,
                                            const struct smtpgw_deliver_callbacks *cb, void *user,
                                            int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    *err = SMTPGW_ERR_SPOOL_INVAL;
    if (!loop || !p || !p->host || !*p->host || !sp || !msg || !cb ||
        smtpgw_envelope_open_rcpts(msg) == 0)
        return NULL;
    struct smtpgw_deliver *d = calloc(1, sizeof *d);
    if (!d) {
        *err = UTIL_ERR_NOMEM;
        return NULL;
    }
    d->loop = loop;
    d->p = *p;
    d->sp = sp;
    d->msg = msg;
    d->cb = *cb;
    d->user = user;
    d->fd = d->content_fd = -1;
    util_buf_init(&d->out, 0);
    ev_io_init(&d->rio, on_read, -1, EV_READ);
    ev_io_init(&d->wio, on_write, -1, EV_WRITE);
    ev_timer_init(&d->timer, on_engine_timer, 0.0, 0.0);
    d->rio.data = d->wio.data = d->timer.data = d;
    d->host = strdup(p->host);
    size_t n = smtpgw_envelope_open_rcpts(msg);
    d->crcpts = calloc(n, sizeof *d->crcpts);
    d->map = calloc(n, sizeof *d->map);
    if (!d->host || !d->crcpts || !d->map) {
        *err = UTIL_ERR_NOMEM;
        goto fail;
    }
    for (size_t i = 0, k = 0; i < msg->n_rcpts; i++)
        if (msg->rcpts[i].state == SMTPGW_RCPT_OPEN) {
            d->crcpts[k] = (struct smtpgw_client_rcpt){msg->rcpts[i].addr, msg->rcpts[i].params};
            d->map[k++] = i;
        }
    d->cmsg = (struct smtpgw_client_msg){msg->from, msg->mail_params, d->crcpts,
                                         n,         msg->size,        msg->content};

    d->content_fd = smtpgw_spool_content_fd(sp, msg);
    struct stat st;
    if (d->content_fd < 0 || fstat(d->content_fd, &st) != 0) {
        *err = SMTPGW_ERR_SPOOL_IO;
        goto fail;
    }
    d->content_size = (uint64_t)st.st_size;
    d->cmsg.size = d->content_size;

    static const struct smtpgw_client_callbacks ccb = {on_send, on_rcpt, on_done};
    d->client = smtpgw_client_new(&p->client, &d->cmsg, &ccb, d, util_now_ms());
    if (!d->client) {
        *err = UTIL_ERR_NOMEM;
        goto fail;
    }

    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    char port[8];
    snprintf(port, sizeof port, "%u", p->port);
    int gai = getaddrinfo(d->host, port, &hints, &d->ai_list);
    if (gai != 0) {
        util_log(UTIL_LOG_WARN, UTIL_MOD_SMTPGW, "deliver-connect-failed",
                 "qid=%s relay=%s:%u error=\"%s\"", msg->qid, d->host, p->port, gai_strerror(gai));
        *err = SMTPGW_ERR_CLIENT_CONNECT;
        goto fail;
    }
    d->ai_next = d->ai_list;
    util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "deliver-start",
             "qid=%s relay=%s:%u rcpts=%zu size=%" PRIu64, msg->qid, d->host, p->port, n,
             d->content_size);
    /* connect to the first address that takes it; if none, report from the loop */
    if (!start_next(d)) {
        ev_timer_init(&d->timer, on_start_failed, 0.0, 0.0);
        d->timer.data = d;
        ev_timer_start(loop, &d->timer);
    }
    *err = 0;
    return d;
fail:
    smtpgw_deliver_free(d);
    return NULL;
}

/* smtpgw_deliver_dsn_passed - whether the LAN MTA advertised DSN (RFC 3461),
 * so that NOTIFY, ORCPT, ENVID and RET went on with the message */
bool smtpgw_deliver_dsn_passed(const struct smtpgw_deliver *d)
{
    return d && d->client && (smtpgw_client_extensions(d->client) & SMTPGW_EXT_DSN) != 0;
}

/* smtpgw_deliver_free - stop (no more callbacks) and release */
void smtpgw_deliver_free(struct smtpgw_deliver *d)
{
    if (!d)
        return;
    stop_io(d);
    if (d->ai_list)
        freeaddrinfo(d->ai_list);
    smtpgw_client_free(d->client);
    util_buf_free(&d->out);
    free(d->crcpts);
    free(d->map);
    free(d->host);
    free(d);
}
