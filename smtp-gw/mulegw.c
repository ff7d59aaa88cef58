/* mulegw.c - the mail gateway daemon: SMTP in (RFC 5321), MULE (RFC 8494)
 * over ACP 142 P_MUL over STANAG 5066 (or UDP, ACP 142 Annex B), SMTP out.
 *
 *   LAN MTA --SMTP--> smtpgw_server --spool outgoing--> MULE payload,
 *   CompressedData --> pmul engine/bearer --HF--> far gateway: pmul deliver
 *   --> MULE decode, RFC 8494 3 receive rules --> spool incoming (then ack)
 *   --> SMTP client --> its LAN MTA.  DSNs (RFC 3464) for expiry, unroutable
 *   recipients and permanent SMTP failures go back to the return path, over
 *   MULE or to the LAN as its domain requires.
 *
 * This file is glue: main, the event loop, signals, privileges, and the
 * wiring of the gateway engine (gateway.h: every decision about a message)
 * to the spool, the P_MUL bearer, the SMTP server and the SMTP client.
 * mulegw_conf.c reads the config, mulegw_ctl.c serves mulectl.  Every log line that concerns a message carries its queue id,
 * and the P_MUL (src, msgid) and destinations, so one message can be
 * followed from SMTP to HF and back.
 *
 *   mulegw -c mulegw.conf [-f] [-n] [-v] [-p portfile]
 *
 * It never forks: it runs in the foreground, as systemd expects; -f only
 * chooses stderr over syslog for the log.  Until it runs, every error that
 * stops it also reaches stderr (util_log_echo_stderr when logging to syslog).
 */
#include "smtp-gw/mulegw.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- small helpers ------------------------------------------------------------ */

/* gw_now - the gateway's clock for arrival, expiry and retries (UNIX s), in
 * step with the P_MUL engine (scaled in simulator tests); dates written in
 * mail (Received, DSN Date) use the real clock */
int64_t gw_now(const struct gw *gw)
{
    return gw->bearer ? pmul_bearer_wall_s(gw->bearer) : util_wall_s();
}

/* ---- the engine's callbacks --------------------------------------------------------- */

/* eng_log - the engine's events, as smtpgw lines of the process log */
static void eng_log(void *user, enum util_log_level level, const char *event, const char *text)
{
    (void)user;
    util_log(level, UTIL_MOD_SMTPGW, event, "%s", text);
}

/* eng_bearer_ready - whether P_MUL takes a message now */
static bool eng_bearer_ready(void *user)
{
    struct gw *gw = user;
    return gw->bearer && pmul_bearer_ready(gw->bearer) && !gw->stopping;
}

/* eng_submit - hand a message to P_MUL */
static int eng_submit(void *user, struct pmul_message *pm, uint64_t *handle)
{
    struct gw *gw = user;
    return pmul_bearer_send(gw->bearer, pm, handle);
}

/* eng_cancel - the operator dropped a message P_MUL is sending */
static void eng_cancel(void *user, uint64_t handle)
{
    struct gw *gw = user;
    pmul_engine_cancel(pmul_bearer_engine(gw->bearer), pmul_bearer_now(gw->bearer), handle);
    pmul_bearer_kick(gw->bearer);
}

/* eng_hold - the operator held or released a message P_MUL is sending */
static void eng_hold(void *user, uint64_t handle, bool hold)
{
    struct gw *gw = user;
    pmul_engine_hold(pmul_bearer_engine(gw->bearer), pmul_bearer_now(gw->bearer), handle, hold);
    pmul_bearer_kick(gw->bearer);
}

/* eng_mail_date - real time for Date: and Received: */
static int64_t eng_mail_date(void *user)
{
    (void)user;
    return util_wall_s();
}

/* ---- delivery to the LAN MTA (glue: smtp_deliver.c) ------------------------------------ */

/* gw_on_rcpt_result - the LAN MTA's answer for one recipient */
static void gw_on_rcpt_result(void *user, struct smtpgw_envelope *msg, size_t i, int code, const char *status,
                              const char *reply)
{
    struct gw_delivery *dl = user;
    smtpgw_gateway_on_rcpt_result(dl->gw->engine, gw_now(dl->gw), msg, i, code, status, reply,
                                  smtpgw_deliver_dsn_passed(dl->d));
}

/* gw_on_delivery_done - a delivery session ended */
static void gw_on_delivery_done(void *user, struct smtpgw_envelope *msg, int err)
{
    struct gw_delivery *dl = user;
    dl->finished = true; /* freed at the next pass, after this callback returns */
    smtpgw_gateway_on_delivery_done(dl->gw->engine, gw_now(dl->gw), msg, err);
}

/* eng_deliver - start delivering env to the LAN MTA */
static int eng_deliver(void *user, struct smtpgw_envelope *env)
{
    struct gw *gw = user;
    if (gw->stopping)
        return SMTPGW_ERR_CLIENT_STATE;
    struct gw_delivery *dl = calloc(1, sizeof *dl);
    if (!dl)
        return UTIL_ERR_NOMEM;
    dl->gw = gw;
    snprintf(dl->qid, sizeof dl->qid, "%s", env->qid);
    static const struct smtpgw_deliver_callbacks cb = {gw_on_rcpt_result, gw_on_delivery_done};
    int err = 0;
    dl->d = smtpgw_deliver_start(gw->loop, &gw->dparams, gw->spool, env, &cb, dl, &err);
    if (!dl->d) {
        free(dl);
        return err ? err : SMTPGW_ERR_CLIENT_CONNECT;
    }
    dl->next = gw->deliveries;
    gw->deliveries = dl;
    return 0;
}

/* gw_reap_deliveries - free the deliveries that have finished */
static void gw_reap_deliveries(struct gw *gw)
{
    for (struct gw_delivery **p = &gw->deliveries; *p;) {
        struct gw_delivery *d = *p;
        if (!d->finished) {
            p = &d->next;
            continue;
        }
        *p = d->next;
        smtpgw_deliver_free(d->d);
        free(d);
    }
}

/* ---- P_MUL's callbacks -------------------------------------------------------------- */

/* gw_on_deliver - P_MUL: a complete message arrived; 0 acknowledges it */
static int gw_on_deliver(void *user, const struct pmul_rx_message *m)
{
    struct gw *gw = user;
    return smtpgw_gateway_on_pmul_message(gw->engine, gw_now(gw), m);
}

/* gw_on_dest_done - P_MUL: one destination of one of our messages finished */
static void gw_on_dest_done(void *user, uint64_t handle, uint32_t msgid, uint32_t dest, int result)
{
    struct gw *gw = user;
    smtpgw_gateway_on_dest_done(gw->engine, gw_now(gw), handle, msgid, dest, result);
}

/* gw_on_message_done - P_MUL: every destination of a message finished */
static void gw_on_message_done(void *user, uint64_t handle, uint32_t msgid, size_t acked, size_t failed)
{
    struct gw *gw = user;
    smtpgw_gateway_on_message_done(gw->engine, gw_now(gw), handle, msgid, acked, failed);
}

/* gw_on_ready - the bearer came up (bound, MTU known) or went down */
static void gw_on_ready(void *user, bool ready, size_t pdu_max)
{
    struct gw *gw = user;
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, ready ? "bearer-up" : "bearer-down", "pdu_max=%zu", pdu_max);
    smtpgw_gateway_on_bearer(gw->engine, gw_now(gw), ready);
}

/* gw_alloc_msgid - P_MUL Message_IDs from the spool (persisted) */
static int gw_alloc_msgid(void *user, uint32_t *id)
{
    return smtpgw_spool_alloc_message_id(((struct gw *)user)->spool, id);
}

/* gw_alloc_msn - P_MUL Message_Sequence_Numbers from the spool (persisted) */
static int gw_alloc_msn(void *user, uint32_t dest, uint32_t *msn)
{
    return smtpgw_spool_alloc_msn(((struct gw *)user)->spool, dest, msn);
}

/* gw_already - P_MUL: delivered before a restart? */
static bool gw_already(void *user, uint32_t src, uint32_t msgid)
{
    return smtpgw_spool_was_delivered(((struct gw *)user)->spool, src, msgid);
}

/* ---- the SMTP server's decisions ------------------------------------------------------ */

/* gw_rcpt_check - relay control and the far node's size limit */
static int gw_rcpt_check(void *user, const struct smtpgw_txn *txn, const struct smtpgw_rcpt *rcpt, char *text,
                         size_t cap)
{
    struct gw *gw = user;
    return smtpgw_gateway_rcpt_check(gw->engine, txn, rcpt->addr, text, cap);
}

/* gw_on_message - stage a complete SMTP message in the spool; its 250
 * goes out after the group commit (gw_on_committed) */
static int gw_on_message(void *user, const struct smtpgw_txn *txn, char *queue_id, size_t qcap, char *text,
                         size_t tcap)
{
    struct gw *gw = user;
    (void)queue_id;
    (void)qcap;
    struct smtpgw_gateway_intake in;
    int code = smtpgw_gateway_plan(gw->engine, gw_now(gw), txn, txn->data.len, &in, text, tcap);
    if (code)
        return code;
    /* the P_MUL ids now, so that the envelope is written once with them */
    struct gw_staged *st = calloc(1, sizeof *st);
    int rc = st ? smtpgw_spool_assign_ids(gw->spool, in.dests, in.env.n_dests, gw->mule.split) : UTIL_ERR_NOMEM;
    /* our trace field first, then the message */
    struct util_buf content;
    util_buf_init(&content, 0);
    struct smtpgw_spool_writer *w = rc == 0 ? smtpgw_spool_writer_new(gw->spool, &rc) : NULL;
    if (w) {
        smtpgw_txn_received(txn, gw->hostname, smtpgw_spool_writer_qid(w), util_wall_s(), &content);
        rc = smtpgw_spool_writer_write(w, content.data, content.len);
        if (rc == 0)
            rc = smtpgw_spool_writer_write(w, txn->data.data, txn->data.len);
        if (rc == 0) {
            st->session = txn->session;
            snprintf(st->peer, sizeof st->peer, "%s", txn->peer);
            st->rcpts = txn->n_rcpts;
            st->dests = in.env.n_dests;
            rc = smtpgw_spool_writer_stage(w, &in.env, SMTPGW_Q_OUTGOING, st);
        } else {
            smtpgw_spool_writer_abort(w);
        }
    }
    util_buf_free(&content);
    smtpgw_gateway_intake_free(&in);
    if (rc < 0) {
        free(st);
        util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "spool-failed", "session=%llu error=\"%s\"",
                 (unsigned long long)txn->session, smtpgw_spool_strerror(rc));
        snprintf(text, tcap, "4.3.0 Could not store the message, try again later");
        return 451;
    }
    return SMTPGW_MESSAGE_PENDING;
}

/* gw_on_committed - a staged SMTP message is durable (or failed): answer
 * its client, then the engine sends it */
static void gw_on_committed(void *cbuser, void *user, struct smtpgw_envelope *made, int err)
{
    struct gw *gw = cbuser;
    struct gw_staged *st = user;
    if (!made) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "spool-failed", "session=%llu error=\"%s\"",
                 (unsigned long long)st->session, smtpgw_spool_strerror(err));
        if (gw->smtp)
            smtpgw_server_message_done(gw->smtp, st->session, 451, NULL,
                                       "4.3.0 Could not store the message, try again later");
        free(st);
        return;
    }
    char exp[UTIL_TIME_ISO_LEN];
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "queued",
             "qid=%s from=<%s> rcpts=%zu dests=%zu size=%llu priority=%u expiry=%s peer=%s", made->qid,
             made->from, st->rcpts, st->dests, (unsigned long long)made->size, made->priority,
             util_time_iso(made->expiry, exp, sizeof exp), st->peer);
    if (gw->smtp && smtpgw_server_message_done(gw->smtp, st->session, 0, made->qid, NULL) != 0)
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "queued-client-gone",
                 "qid=%s session=%llu (the client left before its 250: it may send the message again)", made->qid,
                 (unsigned long long)st->session);
    free(st);
    smtpgw_gateway_on_accepted(gw->engine, gw_now(gw), made);
}

/* ---- the loop ---------------------------------------------------------------------- */

/* gw_sync - the group commit, before the loop waits: every message staged
 * in this pass becomes durable together, then their 250s go out */
static void gw_sync(struct gw *gw)
{
    /* again only if answering staged more (a pipelining client's next
     * message): a failing directory must not spin the loop */
    while (smtpgw_spool_sync_pending(gw->spool))
        if (smtpgw_spool_sync(gw->spool, gw_on_committed, gw) == 0)
            break;
}

/* gw_on_prepare - libev: the loop is about to wait: reap finished
 * deliveries, do what an event made due at once (once per pass; what is
 * due by time waits for the periodic tick), then the group commit */
static void gw_on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct gw *gw = w->data;
    (void)loop;
    (void)revents;
    gw_reap_deliveries(gw);
    gw_sync(gw);
    if (!gw->stopping && smtpgw_gateway_tick_wanted(gw->engine)) {
        smtpgw_gateway_tick(gw->engine, gw_now(gw));
        gw_reap_deliveries(gw);
        gw_sync(gw);
    }
}

/* gw_on_tick - the periodic pump: whatever is due */
static void gw_on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct gw *gw = w->data;
    (void)loop;
    (void)revents;
    gw_reap_deliveries(gw);
    if (!gw->stopping)
        smtpgw_gateway_tick(gw->engine, gw_now(gw));
}

/* gw_on_signal - INT/TERM stop cleanly; USR1 logs the state */
static void gw_on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct gw *gw = w->data;
    (void)revents;
    if (w->signum == SIGUSR1) {
        struct pmul_engine_stats st;
        pmul_engine_get_stats(pmul_bearer_engine(gw->bearer), &st);
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "status",
                 "outgoing=%zu incoming=%zu deliveries=%u bearer=%s pmul_tx=%zu pmul_rx=%zu pdus_sent=%llu pdus_received=%llu",
                 smtpgw_spool_count(gw->spool, SMTPGW_Q_OUTGOING), smtpgw_spool_count(gw->spool, SMTPGW_Q_INCOMING),
                 smtpgw_gateway_deliveries(gw->engine), pmul_bearer_ready(gw->bearer) ? "up" : "down", st.tx_active,
                 st.rx_active, (unsigned long long)st.pdus_sent, (unsigned long long)st.pdus_received);
        return;
    }
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_MAIN, "stopping", "signal=%d", w->signum);
    gw->stopping = true;
    ev_break(loop, EVBREAK_ALL);
}

/* ---- privileges ------------------------------------------------------------------------ */

static uid_t chown_uid;
static gid_t chown_gid;

/* chown_one - nftw: give one spool entry to the run user */
static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    if ((st->st_uid != chown_uid || st->st_gid != chown_gid) && lchown(path, chown_uid, chown_gid) != 0)
        return -1;
    return 0;
}

/* gw_drop_privileges - started as root with user= set: give the spool to
 * that user, then become it for good (after the listening sockets are
 * bound, so port 25 works); 0 or -1 (logged) */
static int gw_drop_privileges(struct gw *gw)
{
    if (!*gw->run_user)
        return 0;
    if (geteuid() != 0) {
        if (geteuid() == gw->run_uid)
            return 0; /* already that user */
        util_log(UTIL_LOG_ERR, UTIL_MOD_MAIN, "privileges-failed",
                 "user=%s error=\"only root can change to another user\"", gw->run_user);
        return -1;
    }
    chown_uid = gw->run_uid;
    chown_gid = gw->run_gid;
    struct stat st;
    if (mkdir(gw->spool_dir, 0700) != 0 && errno != EEXIST) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_MAIN, "privileges-failed", "user=%s spool=%s error=\"%s\"", gw->run_user,
                 gw->spool_dir, strerror(errno));
        return -1;
    }
    if (stat(gw->spool_dir, &st) == 0 && (st.st_uid != chown_uid || st.st_gid != chown_gid)) {
        if (nftw(gw->spool_dir, chown_one, 16, FTW_PHYS) != 0) {
            util_log(UTIL_LOG_ERR, UTIL_MOD_MAIN, "privileges-failed", "user=%s spool=%s error=\"chown: %s\"",
                     gw->run_user, gw->spool_dir, strerror(errno));
            return -1;
        }
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_MAIN, "spool-owner-changed", "spool=%s user=%s", gw->spool_dir,
                 gw->run_user);
    }
    if (initgroups(gw->run_user, gw->run_gid) != 0 || setgid(gw->run_gid) != 0 || setuid(gw->run_uid) != 0) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_MAIN, "privileges-failed", "user=%s error=\"%s\"", gw->run_user,
                 strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) { /* must be gone for good */
        util_log(UTIL_LOG_ERR, UTIL_MOD_MAIN, "privileges-failed", "user=%s error=\"root could be regained\"",
                 gw->run_user);
        return -1;
    }
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_MAIN, "privileges-dropped", "user=%s uid=%lu gid=%lu", gw->run_user,
             (unsigned long)gw->run_uid, (unsigned long)gw->run_gid);
    return 0;
}

/* usage - the help text on stdout, and exit */
static _Noreturn void usage(void)
{
    printf("usage: mulegw -c FILE [-fnv] [-p PORTFILE]\n"
           "       mulegw -h | -V\n"
           "The mule5066 mail gateway: mail from the LAN mail server over SMTP goes out\n"
           "as MULE (RFC 8494) with ACP 142 P_MUL over STANAG 5066 (or UDP), and mail\n"
           "from the radio goes to the LAN mail server over SMTP.  mulegw never forks:\n"
           "it always runs in the foreground (as systemd expects).\n"
           "  -c FILE        the configuration, mulegw.conf(5) (required)\n"
           "  -f             log to stderr (UTC timestamp and level on each line)\n"
           "                 instead of to syslog (facility mail)\n"
           "  -n             check the configuration and exit (file:line: key on an error)\n"
           "  -v             debug logs (overrides log_level)\n"
           "  -p PORTFILE    once listening, write \"smtp PORT\" per SMTP address (tests)\n"
           "  -h, --help     print this help and exit\n"
           "  -V, --version  print the version and exit\n"
           "An error that stops the start goes to stderr, also without -f.\n"
           "Signals: USR1 logs the queue and link state; INT/TERM stop.\n"
           "Exit: 0 stopped by a signal (or -n: valid); 1 configuration or start-up\n"
           "error; 2 usage error.\n");
    exit(util_stdout_done("mulegw"));
}

/* main - load the config, open the spool, start the bearer and the SMTP server, run */
int main(int argc, char **argv)
{
    static struct gw gwmem;
    struct gw *gw = &gwmem;
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    bool log_stderr = false, check = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:fnvp:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': gw->conf_path = optarg; break;
        case 'f': log_stderr = true; break; /* "foreground" once: mulegw never forks */
        case 'n': check = true; break;
        case 'v':
            util_log_set_level(UTIL_LOG_DEBUG);
            gw->verbose = true;
            break;
        case 'p': gw->portfile = optarg; break;
        case 'h': usage();
        case 'V': return util_print_version("mulegw");
        default: util_usage_error("mulegw", NULL); return 2;
        }
    }
    if (optind != argc) {
        util_usage_error("mulegw", "unexpected argument '%s'", argv[optind]);
        return 2;
    }
    if (!gw->conf_path) {
        util_usage_error("mulegw", "no configuration: -c FILE is required");
        return 2;
    }
    if (gw_load_config(gw) < 0)
        return 1;
    if (check) {
        printf("mulegw: %s: configuration OK (node %s, %zu routes)\n", gw->conf_path, mule_node_str(gw->self),
               gw->mule.routes.n_routes + (gw->mule.routes.def ? 1 : 0));
        return 0;
    }
    if (!log_stderr) {
        util_log_to_syslog("mulegw");
        util_log_echo_stderr(true); /* until it runs: syslog may keep nothing */
    }
    signal(SIGPIPE, SIG_IGN);
    gw->loop = EV_DEFAULT;
    int err = 0;
    /* the listening sockets first (port 25 needs root), then the user */
    static const struct smtpgw_callbacks scb = {NULL, NULL, NULL, gw_rcpt_check, gw_on_message};
    gw->smtp = smtpgw_server_new(gw->loop, &gw->scfg, &scb, gw, &err);
    if (!gw->smtp) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_MAIN, "smtp-failed", "error=\"%s\"", smtpgw_strerror(err));
        return 1;
    }
    if (gw->portfile) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", gw->portfile);
        FILE *f = fopen(tmp, "w");
        if (f) {
            for (size_t i = 0; i < gw->scfg.n_listen; i++)
                fprintf(f, "smtp %d\n", smtpgw_server_port(gw->smtp, i));
            fclose(f);
            rename(tmp, gw->portfile);
        }
    }
    gw->started = util_wall_s();
    if (gw->ctl_on) {
        gw->ctl = smtpgw_ctl_listen(gw->loop, gw->ctl_conf.socket, gw->ctl_conf.mode, gw->ctl_conf.gid, &gw_ctl_ops,
                                    gw, &err);
        if (!gw->ctl) {
            util_log(UTIL_LOG_ERR, UTIL_MOD_MAIN, "control-failed", "socket=%s error=\"%s\"", gw->ctl_conf.socket,
                     smtpgw_strerror(err));
            return 1;
        }
        if (*gw->run_user && geteuid() == 0) {
            /* the socket file belongs to the user we become, so it can remove it */
            if (chown(gw->ctl_conf.socket, gw->run_uid, gw->ctl_conf.gid >= 0 ? (gid_t)gw->ctl_conf.gid : gw->run_gid) != 0)
                util_log(UTIL_LOG_WARN, UTIL_MOD_MAIN, "control-chown-failed", "socket=%s error=\"%s\"",
                         gw->ctl_conf.socket, strerror(errno));
        }
    }
    if (gw_drop_privileges(gw) != 0)
        return 1;
    gw->spool = smtpgw_spool_open(gw->spool_dir, &err);
    if (!gw->spool) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_MAIN, "spool-open-failed", "dir=%s error=\"%s\"", gw->spool_dir,
                 smtpgw_spool_strerror(err));
        return 1;
    }
    gw->gcfg.self = gw->self;
    gw->gcfg.hostname = gw->hostname;
    gw->gcfg.mule = &gw->mule;
    gw->gcfg.prio = &gw->prio;
    static const struct smtpgw_gateway_callbacks ecb = {.log = eng_log,
                                                        .bearer_ready = eng_bearer_ready,
                                                        .submit = eng_submit,
                                                        .cancel = eng_cancel,
                                                        .deliver = eng_deliver,
                                                        .mail_date = eng_mail_date,
                                                        .hold = eng_hold};
    gw->engine = smtpgw_gateway_new(&gw->gcfg, &smtpgw_gateway_spool_real, gw->spool, &ecb, gw);
    if (!gw->engine) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_MAIN, "engine-failed", "error=\"%s\"", smtpgw_strerror(UTIL_ERR_NOMEM));
        return 1;
    }
    for (size_t i = 0; i < gw->n_emcon; i++)
        smtpgw_gateway_set_emcon(gw->engine, gw->emcon_nodes[i], true);
    struct pmul_bearer_callbacks bcb;
    memset(&bcb, 0, sizeof bcb);
    bcb.engine.deliver = gw_on_deliver;
    bcb.engine.dest_done = gw_on_dest_done;
    bcb.engine.message_done = gw_on_message_done;
    bcb.engine.alloc_message_id = gw_alloc_msgid;
    bcb.engine.alloc_msn = gw_alloc_msn;
    bcb.engine.already_delivered = gw_already;
    bcb.ready = gw_on_ready;
    gw->bearer = pmul_bearer_new(gw->loop, &gw->bcfg, &gw->pparams, &bcb, gw);
    if (!gw->bearer) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_MAIN, "bearer-failed", "conf=%s", gw->conf_path);
        return 1;
    }
    ev_timer_init(&gw->tick, gw_on_tick, 1.0, 1.0);
    gw->tick.data = gw;
    ev_timer_start(gw->loop, &gw->tick);
    ev_prepare_init(&gw->sync, gw_on_prepare);
    gw->sync.data = gw;
    ev_prepare_start(gw->loop, &gw->sync);
    ev_signal_init(&gw->sigint, gw_on_signal, SIGINT);
    ev_signal_init(&gw->sigterm, gw_on_signal, SIGTERM);
    ev_signal_init(&gw->sigusr1, gw_on_signal, SIGUSR1);
    gw->sigint.data = gw->sigterm.data = gw->sigusr1.data = gw;
    ev_signal_start(gw->loop, &gw->sigint);
    ev_signal_start(gw->loop, &gw->sigterm);
    ev_signal_start(gw->loop, &gw->sigusr1);
    pmul_bearer_start(gw->bearer);
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_MAIN, "ready",
             "node=%s smtp_port=%d outgoing=%zu incoming=%zu spool=%s control=%s", mule_node_str(gw->self),
             smtpgw_server_port(gw->smtp, 0), smtpgw_spool_count(gw->spool, SMTPGW_Q_OUTGOING),
             smtpgw_spool_count(gw->spool, SMTPGW_Q_INCOMING), gw->spool_dir,
             gw->ctl_on ? gw->ctl_conf.socket : "off");
    util_log_echo_stderr(false);
    smtpgw_gateway_tick(gw->engine, gw_now(gw));
    ev_run(gw->loop, 0);

    gw_sync(gw); /* what was received in full is committed and answered */
    smtpgw_server_shutdown(gw->smtp);
    while (gw->deliveries) {
        struct gw_delivery *d = gw->deliveries;
        gw->deliveries = d->next;
        smtpgw_deliver_free(d->d);
        free(d);
    }
    smtpgw_ctl_close(gw->ctl);
    smtpgw_server_free(gw->smtp);
    pmul_bearer_free(gw->bearer);
    smtpgw_gateway_free(gw->engine);
    smtpgw_spool_close(gw->spool);
    mule_config_free(&gw->mule);
    pmul_bearer_config_free(&gw->bcfg);
    util_conf_free(gw->conf);
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_MAIN, "stopped", "node=%s", mule_node_str(gw->self));
    return 0;
}
