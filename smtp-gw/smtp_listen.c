/* smtp_listen.c - the SMTP server glue of mulegw: libev listeners on the
 * configured addresses (IPv4 and IPv6, port 0 resolved), non-blocking
 * sockets with a bounded output buffer, one timer per connection from the
 * engine's expiry, a maximum number of sessions and the client network
 * access list.  The protocol is the engine's (smtp_server.c).
 *
 * Slots.  A session holds one of max_sessions slots from its accept until
 * the engine ends it, not while its last reply drains (lingering, bounded
 * by max_sessions connections as well: beyond, a closing connection is
 * closed at once).  A client outside the networks gets 554 and is closed
 * (the engine ends its session at once): it never holds a slot.  One
 * client address holds at most max_sessions_per_client slots (Postfix's
 * smtpd_client_connection_count_limit), so that one host cannot take them
 * all.  A table of client addresses counts their slots and keeps their log
 * limiters (what a client can make us log is rate-limited per address):
 * every address with a connection, and the PEERS_KEPT last seen without.
 *
 * Specifications: RFC 5321 3.1 (the 554 greeting for a refused client, 421
 * when the service is not available: too many sessions), 4.5.3.2 (the
 * server timeout, from the engine), RFC 2920 (PIPELINING: replies are
 * buffered and flushed as the socket takes them; reading stops while more
 * than max_output is unsent, so a client that never reads cannot make the
 * buffer grow).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtp-gw/smtpgw.h"

#define READ_CHUNK      16384
#define CLOSE_LINGER_MS 5000 /* a closing connection may take this long to drain */
#define ACCEPT_PAUSE_S  1.0  /* out of descriptors: stop accepting this long */
#define PEERS_KEPT      256  /* client addresses remembered with no connection (their log limits) */
#define BUSY_MIN_WAIT_MS 1000 /* busy mode closes a session only once it has stalled this long */
#define BUSY_LOG_BURST   5    /* smtpd-busy-close lines per BUSY_LOG_WINDOW, for the whole server */
#define BUSY_LOG_WINDOW  60000

struct listener {
    ev_io w;
    int fd;
    int port;
    struct smtpgw_server *srv;
};

struct net {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int prefix;
};

/* A client address: its slots and its log limiters. */
struct peer {
    int family;
    uint8_t addr[16];
    unsigned active; /* its sessions holding a slot */
    unsigned conns;  /* its connections (their sessions use rl) */
    util_ms seen;    /* its last connection */
    struct util_ratelimit rl[SMTPGW_LOG_KINDS];
};

struct conn {
    struct util_list link;
    struct smtpgw_server *srv;
    struct peer *peer;
    char peer_text[SMTPGW_MAX_PEER];
    bool active; /* holds a slot */
    int fd;
    ev_io rio, wio;
    ev_timer timer;
    struct smtpgw_session *sess;
    struct util_buf out;
    bool closing; /* the engine has closed: send the output, drain the input, close */
    bool wr_shut; /* our side is shut down (all output sent) */
    util_ms close_deadline;
    uint64_t accepted, rejected; /* the session's counters already added to the stats */
};

struct smtpgw_server {
    struct ev_loop *loop;
    struct listener *ls;
    size_t n_ls;
    ev_timer accept_pause;
    struct net *nets;
    size_t n_nets;
    char hostname[256];
    struct smtpgw_session_config scfg;
    struct smtpgw_callbacks ucb;
    void *user;
    unsigned max_sessions;
    unsigned max_per_client;
    unsigned n_active;    /* sessions holding a slot */
    unsigned n_lingering; /* closing connections draining their last reply */
    struct peer **peers;
    size_t n_peers, cap_peers;
    size_t max_output;
    struct util_list conns;
    struct util_ratelimit rl_busy; /* smtpd-busy-close lines */
    struct smtpgw_server_stats st;
    uint64_t next_id;
    bool stopped;
};

/* smtpgw_server_config_default - no listener, loopback clients, default limits */
void smtpgw_server_config_default(struct smtpgw_server_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->hostname = "localhost";
    cfg->max_sessions = SMTPGW_DEFAULT_MAX_SESSIONS;
    cfg->max_output = SMTPGW_DEFAULT_MAX_OUTPUT;
    smtpgw_limits_default(&cfg->limits);
}

/* ---- addresses ------------------------------------------------------------------ */

/* net_parse - "a.b.c.d[/n]" or "v6[/n]" into n; 0 or SMTPGW_ERR_NETWORK */
static int net_parse(const char *s, struct net *n)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (strlen(s) >= sizeof buf)
        return SMTPGW_ERR_NETWORK;
    strcpy(buf, s);
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        *slash++ = '\0';
        char *end;
        if (!*slash || *slash < '0' || *slash > '9')
            return SMTPGW_ERR_NETWORK;
        prefix = strtol(slash, &end, 10);
        if (*end)
            return SMTPGW_ERR_NETWORK;
    }
    memset(n, 0, sizeof *n);
    if (inet_pton(AF_INET, buf, n->addr) == 1) {
        n->family = AF_INET;
        if (prefix > 32)
            return SMTPGW_ERR_NETWORK;
        n->prefix = prefix < 0 ? 32 : (int)prefix;
    } else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
        n->family = AF_INET6;
        if (prefix > 128)
            return SMTPGW_ERR_NETWORK;
        n->prefix = prefix < 0 ? 128 : (int)prefix;
    } else {
        return SMTPGW_ERR_NETWORK;
    }
    return 0;
}

/* net_match - whether addr (4 or 16 bytes of family) is inside n */
static bool net_match(const struct net *n, int family, const uint8_t *addr)
{
    if (n->family != family)
        return false;
    int bits = n->prefix;
    for (int i = 0; bits > 0; i++, bits -= 8) {
        uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
        if ((addr[i] & mask) != (n->addr[i] & mask))
            return false;
    }
    return true;
}

/* peer_parse - family, address bytes and text of a peer (IPv4-mapped IPv6 as IPv4) */
static void peer_parse(const struct sockaddr_storage *ss, int *family, uint8_t addr[16], char *text,
                       size_t cap)
{
    memset(addr, 0, 16);
    *family = AF_UNSPEC;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        *family = AF_INET;
        memcpy(addr, &in->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            *family = AF_INET;
            memcpy(addr, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            *family = AF_INET6;
            memcpy(addr, in6->sin6_addr.s6_addr, 16);
        }
    }
    if (*family == AF_UNSPEC || !inet_ntop(*family, addr, text, (socklen_t)cap))
        snprintf(text, cap, "unknown");
}

/* ---- client addresses ---------------------------------------------------------------- */

/* peer_get - the entry of a client address, made if new (reusing the
 * longest unseen address without a connection once PEERS_KEPT of them are
 * kept); NULL if out of memory */
static struct peer *peer_get(struct smtpgw_server *srv, int family, const uint8_t *addr,
                             util_ms now)
{
    struct peer *oldest = NULL;
    size_t idle = 0;
    for (size_t i = 0; i < srv->n_peers; i++) {
        struct peer *p = srv->peers[i];
        if (p->family == family && memcmp(p->addr, addr, sizeof p->addr) == 0) {
            p->seen = now;
            return p;
        }
        if (p->conns == 0) {
            idle++;
            if (!oldest || p->seen < oldest->seen)
                oldest = p;
        }
    }
    struct peer *p = oldest;
    if (idle < PEERS_KEPT) {
        if (srv->n_peers == srv->cap_peers) {
            size_t cap = srv->cap_peers ? srv->cap_peers * 2 : 64;
            struct peer **np = realloc(srv->peers, cap * sizeof *np);
            if (!np)
                return NULL;
            srv->peers = np;
            srv->cap_peers = cap;
        }
        p = malloc(sizeof *p);
        if (!p)
            return NULL;
        srv->peers[srv->n_peers++] = p;
    }
    memset(p, 0, sizeof *p);
    p->family = family;
    memcpy(p->addr, addr, sizeof p->addr);
    p->seen = now;
    return p;
}

/* peer_log_allowed - whether a per-client line of the glue may be logged
 * now (rate-limited per address); *sup: lines held back before it */
static bool peer_log_allowed(struct peer *p, util_ms now, unsigned *sup)
{
    *sup = 0;
    return !p || util_ratelimit_allow(&p->rl[SMTPGW_LOG_SESSIONS], now, SMTPGW_LOG_BURST,
                                      SMTPGW_LOG_WINDOW, sup);
}

/* ---- connections ------------------------------------------------------------------- */

static void conn_destroy(struct conn *c);

/* sync_stats - add what the session counted since last time */
static void sync_stats(struct conn *c)
{
    uint64_t a, r;
    smtpgw_session_counters(c->sess, &a, &r);
    c->srv->st.messages_accepted += a - c->accepted;
    c->srv->st.messages_rejected += r - c->rejected;
    c->accepted = a;
    c->rejected = r;
}

/* arm_timer - the connection's one timer: the engine's expiry, or the linger deadline */
static void arm_timer(struct conn *c)
{
    util_ms now = util_now_ms();
    util_ms at = c->closing ? c->close_deadline : smtpgw_session_next_expiry(c->sess);
    ev_timer_stop(c->srv->loop, &c->timer);
    if (at == UTIL_MS_NEVER)
        return;
    double secs = at > now ? (double)(at - now) / 1000.0 : 0.0;
    ev_timer_set(&c->timer, secs, 0.0);
    ev_timer_start(c->srv->loop, &c->timer);
}

/* conn_flush - write what the socket takes; false if the connection was destroyed.
 * Once a closing session's output is all out, our side is shut down and the
 * client's input is drained until it closes (or the linger deadline), so
 * that the last reply is not lost to a reset. */
static bool conn_flush(struct conn *c)
{
    while (c->out.len > 0) {
        ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
        if (n > 0) {
            util_buf_consume(&c->out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev_io_start(c->srv->loop, &c->wio);
            return true;
        }
        /* the peer is gone */
        smtpgw_session_eof(c->sess, util_now_ms());
        conn_destroy(c);
        return false;
    }
    ev_io_stop(c->srv->loop, &c->wio);
    if (c->closing && !c->wr_shut) {
        shutdown(c->fd, SHUT_WR);
        c->wr_shut = true;
    }
    return true;
}

/* slot_release - the session no longer holds its slot */
static void slot_release(struct conn *c)
{
    if (!c->active)
        return;
    c->active = false;
    c->srv->n_active--;
    c->peer->active--;
}

/* conn_update - after the engine ran: close, back-pressure, flush, timer;
 * false if the connection was destroyed (the peer is gone).  An ended
 * session gives its slot back at once and lingers while its last reply
 * drains: CLOSE_LINGER_MS, or not at all while max_sessions others do */
static bool conn_update(struct conn *c)
{
    sync_stats(c);
    if (smtpgw_session_state(c->sess) == SMTPGW_ST_CLOSED && !c->closing) {
        struct smtpgw_server *srv = c->srv;
        c->closing = true;
        slot_release(c);
        c->close_deadline = util_now_ms();
        if (srv->n_lingering < srv->max_sessions)
            c->close_deadline += CLOSE_LINGER_MS;
        srv->n_lingering++;
    }
    bool waiting = !c->closing && smtpgw_session_waiting(c->sess);
    if (!c->closing && (c->out.len >= c->srv->max_output || waiting))
        ev_io_stop(c->srv->loop, &c->rio);
    if (!conn_flush(c))
        return false;
    if (c->closing || (c->out.len < c->srv->max_output && !waiting))
        ev_io_start(c->srv->loop, &c->rio);
    arm_timer(c);
    return true;
}

/* on_read - bytes from the client into the engine */
static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = w->data;
    uint8_t buf[READ_CHUNK];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        smtpgw_session_eof(c->sess, util_now_ms());
        sync_stats(c);
        conn_destroy(c);
        return;
    }
    if (c->closing)
        return; /* draining after the session ended */
    smtpgw_session_input(c->sess, util_now_ms(), buf, (size_t)n);
    conn_update(c);
}

/* on_write - the socket takes more */
static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = w->data;
    if (conn_flush(c) &&
        (c->closing || (c->out.len < c->srv->max_output && !smtpgw_session_waiting(c->sess))))
        ev_io_start(c->srv->loop, &c->rio);
}

/* on_timer - idle timeout (the engine decides) or the end of lingering */
static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct conn *c = w->data;
    util_ms now = util_now_ms();
    if (c->closing) {
        if (now >= c->close_deadline) {
            conn_destroy(c);
            return;
        }
    } else {
        smtpgw_session_expire(c->sess, now);
    }
    conn_update(c);
}

/* glue_write - the engine's replies go to the output buffer */
static void glue_write(void *user, const void *bytes, size_t len)
{
    struct conn *c = user;
    if (util_buf_append(&c->out, bytes, len) < 0)
        util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "smtpd-no-memory", "fd=%d", c->fd);
}

/* glue_close - noticed after the engine returns (conn_update) */
static void glue_close(void *user)
{
    (void)user;
}

/* glue_mail_check - the user's MAIL decision */
static int glue_mail_check(void *user, const struct smtpgw_txn *txn, char *text, size_t cap)
{
    struct conn *c = user;
    struct smtpgw_server *srv = c->srv;
    return srv->ucb.mail_check ? srv->ucb.mail_check(srv->user, txn, text, cap) : 0;
}

/* glue_rcpt_check - the user's relay control */
static int glue_rcpt_check(void *user, const struct smtpgw_txn *txn, const struct smtpgw_rcpt *rcpt,
                           char *text, size_t cap)
{
    struct conn *c = user;
    struct smtpgw_server *srv = c->srv;
    return srv->ucb.rcpt_check ? srv->ucb.rcpt_check(srv->user, txn, rcpt, text, cap) : 0;
}

/* glue_message - the user spools the message */
static int glue_message(void *user, const struct smtpgw_txn *txn, char *qid, size_t qcap,
                        char *text, size_t tcap)
{
    struct conn *c = user;
    struct smtpgw_server *srv = c->srv;
    if (!srv->ucb.message)
        return 451;
    return srv->ucb.message(srv->user, txn, qid, qcap, text, tcap);
}

/* peek_end - reading stops while a message waits for its answer: whether
 * the client's input has ended (EOF: a close or a half-close) or the
 * connection was reset meanwhile, without taking any byte */
static bool peek_end(struct conn *c)
{
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* smtpgw_server_message_done - answer a pending message of session id */
int smtpgw_server_message_done(struct smtpgw_server *srv, uint64_t session, int code,
                               const char *queue_id, const char *text)
{
    struct util_list *it;
    UTIL_LIST_FOREACH(it, &srv->conns)
    {
        struct conn *c = UTIL_CONTAINER_OF(it, struct conn, link);
        if (smtpgw_session_id(c->sess) != session)
            continue;
        if (c->closing)
            return SMTPGW_ERR_CLOSED;
        if (smtpgw_session_waiting(c->sess) && peek_end(c))
            smtpgw_session_eof(c->sess, util_now_ms()); /* the engine judges: QUIT first or gone */
        int rc = smtpgw_session_message_done(c->sess, util_now_ms(), code, queue_id, text);
        if (!conn_update(c))
            return SMTPGW_ERR_CLOSED; /* the answer could not be sent: reset */
        return rc == SMTPGW_ERR_CLOSED ? rc : 0;
    }
    return SMTPGW_ERR_CLOSED;
}

/* conn_destroy - close the socket and release everything */
static void conn_destroy(struct conn *c)
{
    struct smtpgw_server *srv = c->srv;
    ev_io_stop(srv->loop, &c->rio);
    ev_io_stop(srv->loop, &c->wio);
    ev_timer_stop(srv->loop, &c->timer);
    util_list_remove(&c->link);
    close(c->fd);
    smtpgw_session_free(c->sess);
    util_buf_free(&c->out);
    slot_release(c);
    if (c->closing)
        srv->n_lingering--;
    c->peer->conns--;
    free(c);
    srv->st.sessions_open--;
}

/* conn_new - a session for an accepted socket from client address p,
 * holding a slot unless refused (its session ends with the 554); false if
 * out of memory */
static bool conn_new(struct smtpgw_server *srv, int fd, const char *peer, struct peer *p,
                     bool refuse)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return false;
    c->srv = srv;
    c->fd = fd;
    c->peer = p;
    snprintf(c->peer_text, sizeof c->peer_text, "%s", peer);
    util_buf_init(&c->out, 0);
    static const struct smtpgw_callbacks cb = {glue_write, glue_close, glue_mail_check,
                                               glue_rcpt_check, glue_message};
    util_ms now = util_now_ms();
    c->sess = smtpgw_session_new(&srv->scfg, &cb, c, peer, ++srv->next_id, now);
    if (!c->sess) {
        free(c);
        return false;
    }
    smtpgw_session_set_log_limits(c->sess, p->rl);
    p->conns++;
    if (!refuse) {
        c->active = true;
        p->active++;
        srv->n_active++;
    }
    ev_io_init(&c->rio, on_read, fd, EV_READ);
    ev_io_init(&c->wio, on_write, fd, EV_WRITE);
    ev_timer_init(&c->timer, on_timer, 0.0, 0.0);
    c->rio.data = c;
    c->wio.data = c;
    c->timer.data = c;
    util_list_push_back(&srv->conns, &c->link);
    srv->st.sessions_open++;
    srv->st.sessions_total++;
    if (refuse)
        srv->st.sessions_refused++;
    smtpgw_session_start(c->sess, now, refuse);
    conn_update(c);
    return true;
}

/* client_allowed - whether the peer is inside one of the client networks */
static bool client_allowed(const struct smtpgw_server *srv, int family, const uint8_t *addr)
{
    for (size_t i = 0; i < srv->n_nets; i++)
        if (net_match(&srv->nets[i], family, addr))
            return true;
    return false;
}

/* on_accept_pause - accept again after running out of descriptors */
static void on_accept_pause(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct smtpgw_server *srv = w->data;
    if (srv->stopped)
        return;
    for (size_t i = 0; i < srv->n_ls; i++)
        ev_io_start(loop, &srv->ls[i].w);
}

/* busy_victim - when every slot is taken: the session holding one that
 * has stalled longest waiting for a command (a partial line or nothing
 * since its last reply), at least BUSY_MIN_WAIT_MS; not one in a DATA/BDAT
 * transfer (the transfer deadline bounds those) nor one we owe an answer.
 * NULL if none qualifies */
static struct conn *busy_victim(struct smtpgw_server *srv, util_ms now)
{
    struct conn *best = NULL;
    util_ms best_since = UTIL_MS_NEVER;
    struct util_list *it;
    UTIL_LIST_FOREACH(it, &srv->conns) {
        struct conn *c = UTIL_CONTAINER_OF(it, struct conn, link);
        if (!c->active || c->closing)
            continue;
        util_ms since = smtpgw_session_stalled_since(c->sess);
        if (since != UTIL_MS_NEVER && since + BUSY_MIN_WAIT_MS <= now && since < best_since) {
            best = c;
            best_since = since;
        }
    }
    return best;
}

/* busy_make_room - every slot is taken and an allowed client with room in
 * its address's share knocks: close the longest stalled session (421
 * 4.7.0) so that the newcomer gets its slot (Postfix answers overload by
 * shortening its timeouts; this goes further: slow clients spread over
 * many addresses cannot keep a prompt one out).  Whether it made room */
static bool busy_make_room(struct smtpgw_server *srv, const char *for_peer, util_ms now)
{
    struct conn *c = busy_victim(srv, now);
    if (!c)
        return false;
    util_ms since = smtpgw_session_stalled_since(c->sess);
    enum smtpgw_state st = smtpgw_session_state(c->sess);
    unsigned sup = 0;
    if (util_ratelimit_allow(&srv->rl_busy, now, BUSY_LOG_BURST, BUSY_LOG_WINDOW, &sup)) {
        char sb[32] = "";
        if (sup)
            snprintf(sb, sizeof sb, " suppressed=%u", sup);
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "smtpd-busy-close",
                 "session=%llu peer=%s state=%s stalled_ms=%lld for=%s open=%u%s",
                 (unsigned long long)smtpgw_session_id(c->sess), c->peer_text,
                 smtpgw_session_state_name(st), (long long)(now - since), for_peer, srv->n_active, sb);
    }
    srv->st.sessions_busy_closed++;
    smtpgw_session_busy_close(c->sess, now);
    conn_update(c); /* gives its slot back (and may free c) */
    return srv->n_active < srv->max_sessions;
}

/* on_accept - new connections */
static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct listener *l = w->data;
    struct smtpgw_server *srv = l->srv;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                util_log(UTIL_LOG_WARN, UTIL_MOD_SMTPGW, "smtpd-accept-paused",
                         "port=%d error=\"%s\" open=%llu", l->port, strerror(errno),
                         (unsigned long long)srv->st.sessions_open);
                for (size_t i = 0; i < srv->n_ls; i++)
                    ev_io_stop(loop, &srv->ls[i].w);
                ev_timer_stop(loop, &srv->accept_pause);
                ev_timer_set(&srv->accept_pause, ACCEPT_PAUSE_S, 0.0);
                ev_timer_start(loop, &srv->accept_pause);
            }
            return;
        }
        int family;
        uint8_t addr[16];
        char peer[SMTPGW_MAX_PEER];
        peer_parse(&ss, &family, addr, peer, sizeof peer);
        util_ms now = util_now_ms();
        struct peer *p = peer_get(srv, family, addr, now);
        bool refuse = !client_allowed(srv, family, addr);
        bool all = srv->n_active >= srv->max_sessions;
        if (all && p && !refuse && p->active < srv->max_per_client && busy_make_room(srv, peer, now))
            all = false;
        if (p && !refuse && (all || p->active >= srv->max_per_client)) {
            /* 421 (RFC 5321 3.1): no slot for it, or its address has its share */
            char msg[320], sb[32] = "";
            unsigned sup;
            int n = snprintf(msg, sizeof msg, "421 4.7.0 %s Too many %s, try again later\r\n",
                             srv->hostname, all ? "sessions" : "sessions from your address");
            if (n > 0 && send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                (void)0; /* best effort: the client learns from the close anyway */
            close(fd);
            srv->st.sessions_refused++;
            if (peer_log_allowed(p, now, &sup)) {
                if (sup)
                    snprintf(sb, sizeof sb, " suppressed=%u", sup);
                util_log(UTIL_LOG_WARN, UTIL_MOD_SMTPGW,
                         all ? "smtpd-too-many-sessions" : "smtpd-too-many-connections",
                         "peer=%s open=%u max=%u%s", peer, all ? srv->n_active : p->active,
                         all ? srv->max_sessions : srv->max_per_client, sb);
            }
            continue;
        }
        if (!p || !conn_new(srv, fd, peer, p, refuse)) {
            util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "smtpd-no-memory", "peer=%s", peer);
            close(fd);
        }
    }
}

/* listen_one - bind and listen on "host:port" / "[v6]:port" / "*:port" */
static int listen_one(struct smtpgw_server *srv, const char *spec, struct listener *l)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(spec, ':');
    if (!colon || !colon[1] || (size_t)(colon - spec) >= sizeof host) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "smtpd-listen-failed",
                 "listen=\"%s\" error=\"expected host:port\"", spec);
        return SMTPGW_ERR_LISTEN;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    char *h = host;
    if (h[0] == '[') {
        size_t n = strlen(h);
        if (n < 3 || h[n - 1] != ']') {
            util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "smtpd-listen-failed",
                     "listen=\"%s\" error=\"unbalanced brackets\"", spec);
            return SMTPGW_ERR_LISTEN;
        }
        h[n - 1] = '\0';
        h++;
    }
    if (strcmp(h, "*") == 0 || h[0] == '\0')
        h = "0.0.0.0";
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(h, colon + 1, &hints, &res);
    if (rc != 0) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "smtpd-listen-failed", "listen=\"%s\" error=\"%s\"",
                 spec, gai_strerror(rc));
        return SMTPGW_ERR_LISTEN;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0 && res->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "smtpd-listen-failed", "listen=\"%s\" error=\"%s\"",
                 spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return SMTPGW_ERR_LISTEN;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char addr[64] = "?", serv[16] = "0";
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        getnameinfo((struct sockaddr *)&ss, sl, addr, sizeof addr, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV);
    l->fd = fd;
    l->port = atoi(serv);
    l->srv = srv;
    ev_io_init(&l->w, on_accept, fd, EV_READ);
    l->w.data = l;
    ev_io_start(srv->loop, &l->w);
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "smtpd-listen", "addr=%s port=%d", addr, l->port);
    return 0;
}

/* ---- the server ----------------------------------------------------------------------- */

/* smtpgw_server_new - listen on every address in cfg and serve on loop */
struct smtpgw_server *smtpgw_server_new(struct ev_loop *loop,
                                        const struct smtpgw_server_config *cfg,
                                        const struct smtpgw_callbacks *cb, void *user, int *err)
{
    int e = 0;
    struct smtpgw_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        e = UTIL_ERR_NOMEM;
        goto fail;
    }
    srv->loop = loop;
    util_list_init(&srv->conns);
    ev_timer_init(&srv->accept_pause, on_accept_pause, 0.0, 0.0);
    srv->accept_pause.data = srv;
    if (cb)
        srv->ucb = *cb;
    srv->user = user;
    snprintf(srv->hostname, sizeof srv->hostname, "%s",
             cfg->hostname && cfg->hostname[0] ? cfg->hostname : "localhost");
    srv->scfg.hostname = srv->hostname;
    srv->scfg.limits = cfg->limits;
    srv->max_sessions = cfg->max_sessions ? cfg->max_sessions : SMTPGW_DEFAULT_MAX_SESSIONS;
    srv->max_per_client = cfg->max_sessions_per_client ? cfg->max_sessions_per_client
                                                       : UTIL_MAX(srv->max_sessions / 2, 1u);
    srv->max_output = cfg->max_output ? cfg->max_output : SMTPGW_DEFAULT_MAX_OUTPUT;

    static const char *const loopback[] = {"127.0.0.0/8", "::1/128"};
    const char *const *nets = cfg->n_networks ? cfg->networks : loopback;
    size_t n_nets = cfg->n_networks ? cfg->n_networks : UTIL_ARRAY_LEN(loopback);
    srv->nets = calloc(n_nets, sizeof *srv->nets);
    if (!srv->nets) {
        e = UTIL_ERR_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n_nets; i++) {
        if (net_parse(nets[i], &srv->nets[i]) < 0) {
            util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "smtpd-bad-network", "network=\"%s\"", nets[i]);
            e = SMTPGW_ERR_NETWORK;
            goto fail;
        }
        srv->n_nets++;
    }
    if (cfg->n_listen == 0) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "smtpd-listen-failed",
                 "error=\"no listen address\"");
        e = SMTPGW_ERR_CONFIG;
        goto fail;
    }
    srv->ls = calloc(cfg->n_listen, sizeof *srv->ls);
    if (!srv->ls) {
        e = UTIL_ERR_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_listen; i++) {
        e = listen_one(srv, cfg->listen[i], &srv->ls[i]);
        if (e < 0)
            goto fail;
        srv->n_ls++;
    }
    if (err)
        *err = 0;
    return srv;
fail:
    if (err)
        *err = e;
    smtpgw_server_free(srv);
    return NULL;
}

/* smtpgw_server_port - the port listener i is bound to */
int smtpgw_server_port(const struct smtpgw_server *srv, size_t i)
{
    return srv && i < srv->n_ls ? srv->ls[i].port : -1;
}

/* smtpgw_server_stats - counters */
void smtpgw_server_stats(const struct smtpgw_server *srv, struct smtpgw_server_stats *out)
{
    *out = srv->st;
}

/* stop_listening - close the listeners */
static void stop_listening(struct smtpgw_server *srv)
{
    srv->stopped = true;
    ev_timer_stop(srv->loop, &srv->accept_pause);
    for (size_t i = 0; i < srv->n_ls; i++) {
        ev_io_stop(srv->loop, &srv->ls[i].w);
        if (srv->ls[i].fd >= 0)
            close(srv->ls[i].fd);
        srv->ls[i].fd = -1;
    }
}

/* smtpgw_server_shutdown - stop listening and end every session with 421 4.3.2 */
void smtpgw_server_shutdown(struct smtpgw_server *srv)
{
    stop_listening(srv);
    struct util_list *it, *tmp;
    UTIL_LIST_FOREACH_SAFE(it, tmp, &srv->conns)
    {
        struct conn *c = UTIL_CONTAINER_OF(it, struct conn, link);
        if (!c->closing) {
            smtpgw_session_shutdown(c->sess, util_now_ms());
            conn_update(c);
        }
    }
}

/* smtpgw_server_free - close everything and release the server */
void smtpgw_server_free(struct smtpgw_server *srv)
{
    if (!srv)
        return;
    stop_listening(srv);
    while (!util_list_empty(&srv->conns)) {
        struct conn *c = UTIL_CONTAINER_OF(srv->conns.next, struct conn, link);
        conn_destroy(c);
    }
    for (size_t i = 0; i < srv->n_peers; i++)
        free(srv->peers[i]);
    free(srv->peers);
    free(srv->ls);
    free(srv->nets);
    free(srv);
}
