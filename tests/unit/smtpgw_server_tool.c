/* smtpgw_server_tool.c - the SMTP server glue (smtp-gw/smtp_listen.c) as a
 * program for the integration tests: it listens, applies relay control
 * with smtpgw_relay_check() over routes given on the command line, and
 * writes every accepted message durably (write, fsync, rename, fsync of
 * the directory, then 250) into a directory as its MULE payload (RFC 8494
 * 3.1: the envelope lines, an empty line, the message with a Received
 * field of RFC 5321 4.4 in front).
 *
 * Usage: smtpgw_server_tool -d DIR [-l ADDR:PORT]... [-n CIDR]...
 *            [-r DOMAIN]... [-L DOMAIN]... [-m MAXSIZE] [-R MAXRCPTS]
 *            [-s MAXSESSIONS] [-c MAXSESSIONS_PER_CLIENT] [-t IDLE_MS]
 *            [-T COMMAND_MS] [-D DATA_MS] [-M MIN_DATA_RATE] [-b MAXBAD]
 *            [-H HOSTNAME] [-P] [-u] [-v]
 *
 * -c, -T, -D and -M set max_sessions_per_client, and the limits
 * cmd_timeout, data_timeout and min_data_rate (bytes/s; 0: no floor).
 *
 * -P answers as mulegw does after its group commit: the message callback
 * stores the message, returns SMTPGW_MESSAGE_PENDING, and the answer goes
 * out with smtpgw_server_message_done() at the end of the loop pass (an
 * ev_prepare watcher), which prints "answered session=N qid=Q code=C
 * rc=R" (rc non-zero: the server says the client left before its answer).
 *
 * Prints "listener I port=N" for each listener and then "ready port=N
 * sanitizer=0|1" on stdout once listening (N of the first listener); SIGUSR1 prints "stats open=..
 * total=.. refused=.. accepted=.. rejected=.."; SIGTERM shuts down (421 to every session) and exits
 * 0. A sender whose local part is "tempfail" gets 451 from the spool.
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp-gw/smtpgw.h"

#define MAX_LIST    16
#define MAX_ANSWERS 256 /* pending answers of one loop pass */

/* whether AddressSanitizer is on (the RSS bound of the tests allows for its shadow) */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* A message stored, its answer not given yet (-P). */
struct answer {
    uint64_t session;
    int code;
    char qid[SMTPGW_MAX_QUEUE_ID];
    char text[128];
};

struct tool {
    const char *dir;
    struct mule_routes routes;
    const char *hostname;
    unsigned seq;
    struct smtpgw_server *srv;
    struct ev_loop *loop;
    bool pending; /* -P */
    struct answer answers[MAX_ANSWERS];
    size_t n_answers;
};

/* tool_rcpt_check - relay control by the routes */
static int tool_rcpt_check(void *user, const struct smtpgw_txn *txn, const struct smtpgw_rcpt *rcpt,
                           char *text, size_t cap)
{
    struct tool *t = user;
    (void)txn;
    return smtpgw_relay_check(&t->routes, rcpt->addr, text, cap);
}

/* write_all - the whole buffer to fd */
static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* spool_message - the message durably: payload to a temporary file, fsync, rename */
static int spool_message(void *user, const struct smtpgw_txn *txn, char *qid, size_t qcap,
                         char *text, size_t tcap)
{
    struct tool *t = user;
    if (strncmp(txn->mail_from, "tempfail@", 9) == 0) {
        snprintf(text, tcap, "4.3.0 Spool refused (test)");
        return 451;
    }
    char id[32];
    snprintf(id, sizeof id, "%08X%04X", (unsigned)getpid(), ++t->seq);
    struct util_buf msg, payload;
    util_buf_init(&msg, 0);
    util_buf_init(&payload, 0);
    int rc = smtpgw_txn_received(txn, t->hostname, id, util_wall_s(), &msg);
    if (rc == 0)
        rc = util_buf_append(&msg, txn->data.data, txn->data.len);
    struct mule_envelope env;
    smtpgw_txn_envelope(txn, &env);
    if (rc == 0)
        rc = mule_payload_build(&env, msg.data, msg.len, &payload);
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", t->dir, id);
    snprintf(path, sizeof path, "%s/%s.msg", t->dir, id);
    int fd = rc == 0 ? open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
    if (fd < 0 || write_all(fd, payload.data, payload.len) < 0 || fsync(fd) < 0 || close(fd) < 0 ||
        rename(tmp, path) < 0) {
        if (fd >= 0)
            unlink(tmp);
        util_buf_free(&msg);
        util_buf_free(&payload);
        snprintf(text, tcap, "4.3.0 Spool error: %s", rc ? smtpgw_strerror(rc) : strerror(errno));
        return 451;
    }
    int dfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    util_buf_free(&msg);
    util_buf_free(&payload);
    snprintf(qid, qcap, "%s", id);
    return 0;
}

/* tool_message - spool the message and answer now, or (-P) after the loop pass */
static int tool_message(void *user, const struct smtpgw_txn *txn, char *qid, size_t qcap,
                        char *text, size_t tcap)
{
    struct tool *t = user;
    int code = spool_message(user, txn, qid, qcap, text, tcap);
    if (!t->pending || t->n_answers == MAX_ANSWERS)
        return code;
    struct answer *a = &t->answers[t->n_answers++];
    a->session = txn->session;
    a->code = code;
    snprintf(a->qid, sizeof a->qid, "%s", code == 0 ? qid : "");
    snprintf(a->text, sizeof a->text, "%s", code == 0 ? "" : text);
    return SMTPGW_MESSAGE_PENDING;
}

/* on_prepare - the answers of this loop pass (as mulegw's group commit);
 * answering may hand over a pipelined client's next message: again */
static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    struct tool *t = w->data;
    while (t->n_answers > 0) {
        struct answer now[MAX_ANSWERS];
        size_t n = t->n_answers;
        memcpy(now, t->answers, n * sizeof now[0]);
        t->n_answers = 0;
        for (size_t i = 0; i < n; i++) {
            int rc = smtpgw_server_message_done(t->srv, now[i].session, now[i].code, now[i].qid,
                                                now[i].text);
            printf("answered session=%llu qid=%s code=%d rc=%d\n",
                   (unsigned long long)now[i].session, now[i].qid[0] ? now[i].qid : "-",
                   now[i].code, rc);
        }
        fflush(stdout);
    }
}

/* print_stats - one line on stdout */
static void print_stats(struct tool *t)
{
    struct smtpgw_server_stats st;
    smtpgw_server_stats(t->srv, &st);
    printf("stats open=%llu total=%llu refused=%llu busy_closed=%llu accepted=%llu rejected=%llu\n",
           (unsigned long long)st.sessions_open, (unsigned long long)st.sessions_total,
           (unsigned long long)st.sessions_refused, (unsigned long long)st.sessions_busy_closed,
           (unsigned long long)st.messages_accepted,
           (unsigned long long)st.messages_rejected);
    fflush(stdout);
}

/* on_usr1 - stats on demand */
static void on_usr1(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    print_stats(w->data);
}

/* on_term - shut down: 421 to everyone, then leave the loop */
static void on_term(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    struct tool *t = w->data;
    smtpgw_server_shutdown(t->srv);
    ev_break(loop, EVBREAK_ALL);
}

/* usage - the options */
static int usage(void)
{
    fprintf(stderr,
            "usage: smtpgw_server_tool -d DIR [-l ADDR:PORT]... [-n CIDR]... [-r DOMAIN]...\n"
            "       [-L DOMAIN]... [-m MAXSIZE] [-R MAXRCPTS] [-s MAXSESSIONS]\n"
            "       [-c MAXSESSIONS_PER_CLIENT] [-t IDLE_MS] [-T COMMAND_MS] [-D DATA_MS]\n"
            "       [-M MIN_DATA_RATE] [-b MAXBAD] [-H HOSTNAME] [-P] [-u] [-v]\n");
    return 2;
}

/* main - parse the options, serve until SIGTERM */
int main(int argc, char **argv)
{
    struct tool t;
    memset(&t, 0, sizeof t);
    mule_routes_init(&t.routes);
    struct smtpgw_server_config cfg;
    smtpgw_server_config_default(&cfg);
    const char *listen[MAX_LIST], *nets[MAX_LIST];
    size_t n_listen = 0, n_nets = 0;
    t.hostname = "mx.test";
    int opt;
    long long v;
    uint64_t u;
    while ((opt = getopt(argc, argv, "d:l:n:r:L:m:R:s:c:t:T:D:M:b:H:Puv")) != -1) {
        switch (opt) {
        case 'd': t.dir = optarg; break;
        case 'l':
            if (n_listen == MAX_LIST)
                return usage();
            listen[n_listen++] = optarg;
            break;
        case 'n':
            if (n_nets == MAX_LIST)
                return usage();
            nets[n_nets++] = optarg;
            break;
        case 'r':
            if (mule_routes_add(&t.routes, optarg, 1, 0) < 0)
                return usage();
            break;
        case 'L':
            if (mule_routes_add_local(&t.routes, optarg) < 0)
                return usage();
            break;
        case 'm':
            if (util_parse_size(optarg, &u) < 0)
                return usage();
            cfg.limits.max_message = (size_t)u;
            break;
        case 'R':
            if (util_parse_int(optarg, 1, 100000, &v) < 0)
                return usage();
            cfg.limits.max_rcpts = (size_t)v;
            break;
        case 's':
            if (util_parse_int(optarg, 1, 100000, &v) < 0)
                return usage();
            cfg.max_sessions = (unsigned)v;
            break;
        case 'c':
            if (util_parse_int(optarg, 1, 100000, &v) < 0)
                return usage();
            cfg.max_sessions_per_client = (unsigned)v;
            break;
        case 't':
            if (util_parse_int(optarg, 0, 86400000, &v) < 0)
                return usage();
            cfg.limits.idle_timeout = (util_ms)v;
            break;
        case 'T':
            if (util_parse_int(optarg, 0, 86400000, &v) < 0)
                return usage();
            cfg.limits.cmd_timeout = (util_ms)v;
            break;
        case 'D':
            if (util_parse_int(optarg, 0, 86400000, &v) < 0)
                return usage();
            cfg.limits.data_timeout = (util_ms)v;
            break;
        case 'M':
            if (util_parse_int(optarg, 0, 1000000000, &v) < 0)
                return usage();
            cfg.limits.min_data_rate = (uint32_t)v;
            break;
        case 'b':
            if (util_parse_int(optarg, 0, 100000, &v) < 0)
                return usage();
            cfg.limits.max_bad_commands = (unsigned)v;
            break;
        case 'H': t.hostname = optarg; break;
        case 'P': t.pending = true; break;
        case 'u': cfg.limits.smtputf8 = true; break;
        case 'v': util_log_set_level(UTIL_LOG_DEBUG); break;
        default: return usage();
        }
    }
    if (!t.dir || optind != argc)
        return usage();
    if (n_listen == 0)
        listen[n_listen++] = "127.0.0.1:0";
    cfg.listen = listen;
    cfg.n_listen = n_listen;
    cfg.networks = nets;
    cfg.n_networks = n_nets;
    cfg.hostname = t.hostname;
    signal(SIGPIPE, SIG_IGN);
    t.loop = EV_DEFAULT;
    static const struct smtpgw_callbacks cb = {NULL, NULL, NULL, tool_rcpt_check, tool_message};
    int err;
    t.srv = smtpgw_server_new(t.loop, &cfg, &cb, &t, &err);
    if (!t.srv) {
        fprintf(stderr, "smtpgw_server_tool: %s\n", smtpgw_strerror(err));
        mule_routes_free(&t.routes);
        return 1;
    }
    for (size_t i = 0; i < n_listen; i++)
        printf("listener %zu port=%d\n", i, smtpgw_server_port(t.srv, i));
    printf("ready port=%d sanitizer=%d\n", smtpgw_server_port(t.srv, 0), SANITIZED);
    fflush(stdout);
    ev_prepare answer;
    ev_prepare_init(&answer, on_prepare);
    answer.data = &t;
    ev_prepare_start(t.loop, &answer);
    ev_signal sterm, sint, susr1;
    ev_signal_init(&sterm, on_term, SIGTERM);
    ev_signal_init(&sint, on_term, SIGINT);
    ev_signal_init(&susr1, on_usr1, SIGUSR1);
    sterm.data = sint.data = susr1.data = &t;
    ev_signal_start(t.loop, &sterm);
    ev_signal_start(t.loop, &sint);
    ev_signal_start(t.loop, &susr1);
    ev_run(t.loop, 0);
    print_stats(&t);
    smtpgw_server_free(t.srv);
    mule_routes_free(&t.routes);
    return 0;
}
