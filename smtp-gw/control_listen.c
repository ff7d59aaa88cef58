/* control_listen.c - the glue of mulegw's control channel (smtpgw.h
 * "control channel"): the UNIX stream socket on libev.  It accepts at most
 * SMTPGW_CTL_MAX_CONNS connections, reads one request line (at most
 * SMTPGW_CTL_MAX_LINE bytes, within SMTPGW_CTL_TIMEOUT_MS), answers it with
 * smtpgw_ctl_handle (control.c, the engine) and closes.  The socket file
 * is created with the configured mode and group; a stale one is replaced,
 * a live one refused.  Protocol: control.c's header comment.
 */
#include <errno.h>
#include <ev.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "smtp-gw/smtpgw.h"

#define CTL_LOG_MAX    200 /* bytes of a request in a log line */
#define CTL_DRAIN_MAX  65536
#define ACCEPT_PAUSE_S 1.0
#define REFUSED_LOG_MS 1000 /* at most one ctl-refused line per second */

/* ==== glue: the socket on libev ==== */

struct ctl_conn {
    struct util_list link;
    struct smtpgw_ctl_server *srv;
    int fd;
    ev_io rio, wio;
    ev_timer timer;
    char in[SMTPGW_CTL_MAX_LINE + 1];
    size_t in_len;
    struct util_buf out;
    size_t sent;
    bool replying; /* the request is answered: writing the reply */
    long uid, pid; /* the peer (SO_PEERCRED), -1 unknown */
};

struct smtpgw_ctl_server {
    struct ev_loop *loop;
    int fd;
    ev_io accept_w;
    ev_timer accept_pause;
    char *path;
    dev_t dev;
    ino_t ino;
    struct smtpgw_ctl_ops ops;
    void *user;
    struct util_list conns;
    size_t n_conns;
    double timeout_s;          /* SMTPGW_CTL_TIMEOUT_MS, or smtpgw_ctl_set_timeout */
    uint64_t refused_unlogged; /* refused since the last ctl-refused line */
    util_ms refused_logged_at;
    bool refused_ever;
};

/* conn_destroy - stop the watchers, close and free */
static void conn_destroy(struct ctl_conn *c)
{
    struct smtpgw_ctl_server *srv = c->srv;
    ev_io_stop(srv->loop, &c->rio);
    ev_io_stop(srv->loop, &c->wio);
    ev_timer_stop(srv->loop, &c->timer);
    util_list_remove(&c->link);
    close(c->fd);
    util_buf_free(&c->out);
    free(c);
    srv->n_conns--;
}

/* log_safe - copy s (n bytes) for a quoted log value: non-printables,
 * quotes and backslashes become '?', long input ends in "..." */
static void log_safe(const char *s, size_t n, char *buf, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 4 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[j++] = ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\' ? '?' : (char)ch;
    }
    if (j + 4 >= cap && j < n)
        memcpy(buf + j, "...", 3), j += 3;
    buf[j] = '\0';
}

/* conn_send_best_effort - a one-line reply to a client being dropped */
static void conn_send_best_effort(struct ctl_conn *c, const char *line)
{
    if (send(c->fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        (void)0; /* the client learns from the close anyway */
}

/* conn_drain_and_destroy - read what the client sent after its line (so
 * the close does not reset the connection before it reads), then close */
static void conn_drain_and_destroy(struct ctl_conn *c)
{
    char tmp[4096];
    size_t total = 0;
    ssize_t n;
    while (total < CTL_DRAIN_MAX && (n = recv(c->fd, tmp, sizeof tmp, MSG_DONTWAIT)) > 0)
        total += (size_t)n;
    conn_destroy(c);
}

/* conn_flush - write the reply; destroy the connection once it is sent */
static void conn_flush(struct ctl_conn *c)
{
    while (c->sent < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->sent, c->out.len - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
            ev_timer_stop(c->srv->loop, &c->timer); /* progress: a new deadline */
            ev_timer_set(&c->timer, c->srv->timeout_s, 0.0);
            ev_timer_start(c->srv->loop, &c->timer);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev_io_start(c->srv->loop, &c->wio);
            return;
        }
        conn_destroy(c); /* the client went away: its loss */
        return;
    }
    conn_drain_and_destroy(c);
}

/* conn_answer - run the engine on the request line (len bytes) and send the reply */
static void conn_answer(struct ctl_conn *c, size_t len)
{
    struct smtpgw_ctl_server *srv = c->srv;
    ev_io_stop(srv->loop, &c->rio);
    c->replying = true;
    /* the engine takes a C string: a NUL in the line becomes DEL, which it rejects */
    for (size_t i = 0; i < len; i++)
        if (c->in[i] == '\0')
            c->in[i] = 0x7f;
    c->in[len] = '\0';
    int rc = smtpgw_ctl_handle(&srv->ops, srv->user, c->in, &c->out);
    if (c->out.len == 0) /* not even the error line fit */
        util_buf_append_str(&c->out, "error reply too large\n");
    char req[CTL_LOG_MAX + 4], err[CTL_LOG_MAX + 4];
    log_safe(c->in, len && c->in[len - 1] == '\r' ? len - 1 : len, req, sizeof req);
    if (rc >= 0) {
        util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "ctl-command",
                 "request=\"%s\" result=ok count=%d bytes=%zu uid=%ld pid=%ld", req, rc, c->out.len,
                 c->uid, c->pid);
    } else {
        const char *text = (const char *)c->out.data;
        size_t tl = 0;
        if (c->out.len > 6 && memcmp(text, "error ", 6) == 0) {
            text += 6;
            while (6 + tl < c->out.len && text[tl] != '\n')
                tl++;
        }
        log_safe(text, tl, err, sizeof err);
        util_log(rc == SMTPGW_ERR_CTL_USAGE ? UTIL_LOG_NOTICE : UTIL_LOG_INFO, UTIL_MOD_SMTPGW,
                 rc == SMTPGW_ERR_CTL_USAGE ? "ctl-bad-request" : "ctl-command",
                 "request=\"%s\" result=error error=\"%s\" uid=%ld pid=%ld", req, err, c->uid,
                 c->pid);
    }
    ev_timer_stop(srv->loop, &c->timer);
    ev_timer_set(&c->timer, c->srv->timeout_s, 0.0);
    ev_timer_start(srv->loop, &c->timer);
    conn_flush(c);
}

/* on_conn_read - request bytes */
static void on_conn_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct ctl_conn *c = w->data;
    ssize_t n = recv(c->fd, c->in + c->in_len, SMTPGW_CTL_MAX_LINE - c->in_len, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n < 0 || (n == 0 && c->in_len == 0)) {
        conn_destroy(c); /* gone before a request: a liveness probe, or a client that gave up */
        return;
    }
    if (n == 0) { /* EOF ends the line */
        conn_answer(c, c->in_len);
        return;
    }
    char *nl = memchr(c->in + c->in_len, '\n', (size_t)n);
    c->in_len += (size_t)n;
    if (nl) {
        conn_answer(c, (size_t)(nl - c->in));
        return;
    }
    if (c->in_len >= SMTPGW_CTL_MAX_LINE) {
        char req[CTL_LOG_MAX + 4];
        log_safe(c->in, UTIL_MIN(c->in_len, (size_t)60), req, sizeof req);
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "ctl-bad-request",
                 "reason=\"no newline in %d bytes\" start=\"%s\" uid=%ld pid=%ld",
                 SMTPGW_CTL_MAX_LINE, req, c->uid, c->pid);
        conn_send_best_effort(c, "error request too long\n");
        conn_destroy(c);
    }
}

/* on_conn_write - the socket takes more of the reply */
static void on_conn_write(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct ctl_conn *c = w->data;
    ev_io_stop(loop, &c->wio);
    conn_flush(c);
}

/* on_conn_timer - no request in time, or a reply nobody reads */
static void on_conn_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct ctl_conn *c = w->data;
    if (c->replying) {
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "ctl-bad-request",
                 "reason=\"reply not read in %g s\" unsent=%zu uid=%ld pid=%ld", c->srv->timeout_s,
                 c->out.len - c->sent, c->uid, c->pid);
    } else {
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "ctl-bad-request",
                 "reason=\"no request line in %g s\" bytes=%zu uid=%ld pid=%ld", c->srv->timeout_s,
                 c->in_len, c->uid, c->pid);
        conn_send_best_effort(c, "error timeout\n");
    }
    conn_destroy(c);
}

/* conn_new - serve an accepted socket; false if out of memory */
static bool conn_new(struct smtpgw_ctl_server *srv, int fd)
{
    struct ctl_conn *c = calloc(1, sizeof *c);
    if (!c)
        return false;
    c->srv = srv;
    c->fd = fd;
    c->uid = c->pid = -1;
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0) {
        c->uid = (long)cred.uid;
        c->pid = (long)cred.pid;
    }
    util_buf_init(&c->out, SMTPGW_CTL_MAX_REPLY);
    ev_io_init(&c->rio, on_conn_read, fd, EV_READ);
    ev_io_init(&c->wio, on_conn_write, fd, EV_WRITE);
    ev_timer_init(&c->timer, on_conn_timer, srv->timeout_s, 0.0);
    c->rio.data = c->wio.data = c->timer.data = c;
    util_list_push_back(&srv->conns, &c->link);
    srv->n_conns++;
    ev_io_start(srv->loop, &c->rio);
    ev_timer_start(srv->loop, &c->timer);
    return true;
}

/* refuse - the connection limit is reached: `error busy`, close, log (at most once a second) */
static void refuse(struct smtpgw_ctl_server *srv, int fd)
{
    static const char busy[] = "error busy\n";
    if (send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        (void)0; /* best effort */
    close(fd);
    srv->refused_unlogged++;
    util_ms now = util_now_ms();
    if (!srv->refused_ever || now - srv->refused_logged_at >= REFUSED_LOG_MS) {
        util_log(UTIL_LOG_WARN, UTIL_MOD_SMTPGW, "ctl-refused",
                 "reason=busy open=%zu max=%d refused=%llu", srv->n_conns, SMTPGW_CTL_MAX_CONNS,
                 (unsigned long long)srv->refused_unlogged);
        srv->refused_unlogged = 0;
        srv->refused_logged_at = now;
        srv->refused_ever = true;
    }
}

/* on_accept_pause - accept again after running out of descriptors */
static void on_accept_pause(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct smtpgw_ctl_server *srv = w->data;
    ev_io_start(loop, &srv->accept_w);
}

/* on_accept - new control connections */
static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct smtpgw_ctl_server *srv = w->data;
    for (;;) {
        int fd = accept4(srv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                util_log(UTIL_LOG_WARN, UTIL_MOD_SMTPGW, "ctl-refused",
                         "reason=\"accept paused\" path=%s error=\"%s\" open=%zu", srv->path,
                         strerror(errno), srv->n_conns);
                ev_io_stop(loop, &srv->accept_w);
                ev_timer_stop(loop, &srv->accept_pause);
                ev_timer_set(&srv->accept_pause, ACCEPT_PAUSE_S, 0.0);
                ev_timer_start(loop, &srv->accept_pause);
            }
            return;
        }
        if (srv->n_conns >= SMTPGW_CTL_MAX_CONNS) {
            refuse(srv, fd);
            continue;
        }
        if (!conn_new(srv, fd)) {
            util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "ctl-refused",
                     "reason=\"out of memory\" path=%s", srv->path);
            close(fd);
        }
    }
}

/* listen_fail - log why the control socket cannot be served; returns err */
static int listen_fail(const char *path, int err, const char *why)
{
    util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "ctl-refused",
             "reason=\"cannot listen\" path=%s error=\"%s\"", path ? path : "", why);
    return err;
}

/* make_parent_dir - create the last directory of path if it is missing
 * (*made set).  mkdir first and accept EEXIST if it is a directory: two
 * gateways starting together may both find it missing, and the second
 * mkdir must not fail. */
static int make_parent_dir(const char *path, bool *made)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    if (mkdir(dir, 0755) == 0) {
        *made = true;
        return 0;
    }
    int err = errno;
    struct stat st;
    if (err == EEXIST) {
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        err = ENOTDIR;
    }
    char why[300];
    snprintf(why, sizeof why, "directory %s: %s", dir, strerror(err));
    return listen_fail(path, SMTPGW_ERR_CTL_SOCKET, why);
}

/* clear_stale - remove a socket file nobody answers on (*removed set);
 * SMTPGW_ERR_CTL_IN_USE if somebody does, SMTPGW_ERR_CTL_PATH for a file
 * that is not a socket */
static int clear_stale(const struct sockaddr_un *sa, const char *path, bool *removed)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return listen_fail(path, SMTPGW_ERR_CTL_SOCKET, strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode))
        return listen_fail(path, SMTPGW_ERR_CTL_PATH, "exists and is not a socket");
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0)
        return listen_fail(path, SMTPGW_ERR_CTL_SOCKET, strerror(errno));
    int rc = connect(probe, (const struct sockaddr *)sa, sizeof *sa);
    int e = errno;
    close(probe);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS) /* EAGAIN: a full backlog is a listener */
        return listen_fail(path, SMTPGW_ERR_CTL_IN_USE,
                           "another process is listening on it (mulegw running?)");
    if (e != ECONNREFUSED)
        return listen_fail(path, SMTPGW_ERR_CTL_SOCKET, strerror(e));
    if (unlink(path) < 0 && errno != ENOENT)
        return listen_fail(path, SMTPGW_ERR_CTL_SOCKET, strerror(errno));
    *removed = true;
    return 0;
}

/* smtpgw_ctl_listen - create the control socket and serve it on loop */
struct smtpgw_ctl_server *smtpgw_ctl_listen(struct ev_loop *loop, const char *path, unsigned mode,
                                            int gid, const struct smtpgw_ctl_ops *ops, void *user,
                                            int *err)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    int e = 0, fd = -1;
    struct smtpgw_ctl_server *srv = NULL;
    if (!path || !path[0] || strlen(path) >= sizeof sa.sun_path) {
        e = listen_fail(path, SMTPGW_ERR_CTL_PATH, "path empty or too long");
        goto fail;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    bool made = false, stale = false;
    if ((e = make_parent_dir(path, &made)) < 0 || (e = clear_stale(&sa, path, &stale)) < 0)
        goto fail;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        e = listen_fail(path, SMTPGW_ERR_CTL_SOCKET, strerror(errno));
        goto fail;
    }
    /* created 0600 (nobody else can connect before chown and chmod);
     * umask is per process: mulegw is single-threaded */
    mode_t old = umask(0177);
    int rc = bind(fd, (const struct sockaddr *)&sa, sizeof sa);
    int be = errno;
    umask(old);
    if (rc < 0) {
        e = listen_fail(path, be == EADDRINUSE ? SMTPGW_ERR_CTL_IN_USE : SMTPGW_ERR_CTL_SOCKET,
                        strerror(be));
        goto fail_fd;
    }
    struct stat st;
    if (stat(path, &st) < 0) {
        e = listen_fail(path, SMTPGW_ERR_CTL_SOCKET, strerror(errno));
        goto fail_unlink;
    }
    if (gid >= 0 && chown(path, (uid_t)-1, (gid_t)gid) < 0) {
        char why[200];
        snprintf(why, sizeof why, "chown to group %d: %s", gid, strerror(errno));
        e = listen_fail(path, SMTPGW_ERR_CTL_PERM, why);
        goto fail_unlink;
    }
    if (chmod(path, (mode_t)(mode & 0777)) < 0) {
        char why[200];
        snprintf(why, sizeof why, "chmod %04o: %s", mode & 0777, strerror(errno));
        e = listen_fail(path, SMTPGW_ERR_CTL_PERM, why);
        goto fail_unlink;
    }
    if (listen(fd, SMTPGW_CTL_MAX_CONNS) < 0) {
        e = listen_fail(path, SMTPGW_ERR_CTL_SOCKET, strerror(errno));
        goto fail_unlink;
    }
    srv = calloc(1, sizeof *srv);
    if (!srv || !(srv->path = strdup(path))) {
        e = listen_fail(path, UTIL_ERR_NOMEM, "out of memory");
        goto fail_unlink;
    }
    srv->loop = loop;
    srv->fd = fd;
    srv->dev = st.st_dev;
    srv->ino = st.st_ino;
    if (ops)
        srv->ops = *ops;
    srv->user = user;
    srv->timeout_s = SMTPGW_CTL_TIMEOUT_MS / 1000.0;
    util_list_init(&srv->conns);
    ev_io_init(&srv->accept_w, on_accept, fd, EV_READ);
    srv->accept_w.data = srv;
    ev_timer_init(&srv->accept_pause, on_accept_pause, 0.0, 0.0);
    srv->accept_pause.data = srv;
    ev_io_start(loop, &srv->accept_w);
    util_log(stale || made ? UTIL_LOG_NOTICE : UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "ctl-listen",
             "path=%s mode=%04o gid=%d%s%s", path, mode & 0777, gid, stale ? " stale=removed" : "",
             made ? " mkdir=yes" : "");
    if (err)
        *err = 0;
    return srv;
fail_unlink:
    if (srv)
        free(srv->path);
    free(srv);
    unlink(path);
fail_fd:
    close(fd);
fail:
    if (err)
        *err = e;
    return NULL;
}

/* smtpgw_ctl_connections - control connections open now */
size_t smtpgw_ctl_connections(const struct smtpgw_ctl_server *srv)
{
    return srv ? srv->n_conns : 0;
}

/* smtpgw_ctl_set_timeout - change the request/reply timeout */
void smtpgw_ctl_set_timeout(struct smtpgw_ctl_server *srv, util_ms ms)
{
    if (srv && ms > 0)
        srv->timeout_s = (double)ms / 1000.0;
}

/* smtpgw_ctl_close - stop listening, drop connections, unlink our socket, free */
void smtpgw_ctl_close(struct smtpgw_ctl_server *srv)
{
    if (!srv)
        return;
    ev_io_stop(srv->loop, &srv->accept_w);
    ev_timer_stop(srv->loop, &srv->accept_pause);
    while (!util_list_empty(&srv->conns))
        conn_destroy(UTIL_CONTAINER_OF(srv->conns.next, struct ctl_conn, link));
    close(srv->fd);
    struct stat st;
    if (lstat(srv->path, &st) == 0 && st.st_dev == srv->dev && st.st_ino == srv->ino)
        unlink(srv->path); /* only our own: a successor may have replaced it */
    free(srv->path);
    free(srv);
}
