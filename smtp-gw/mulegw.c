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
 * This file is glue: it reads the config, owns the event loop and calls the
 * modules.  Every log line that concerns a message carries its queue id,
 * and the P_MUL (src, msgid) and destinations, so one message can be
 * followed from SMTP to HF and back.
 *
 *   mulegw -c mulegw.conf [-f] [-n] [-v] [-p portfile]
 *
 * It never forks: it runs in the foreground, as systemd expects; -f only
 * chooses stderr over syslog for the log.  Until it runs, every error that
 * stops it also reaches stderr (util_log_echo_stderr when logging to syslog).
 */
#include "mule/mule.h"
#include "pmul/pmul.h"
#include "s5066/s5066.h"
#include "smtp-gw/smtpgw.h"

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

#define GW_MAX_LISTEN 8
#define GW_MAX_NETS 32
#define GW_MAX_DELIVERIES_DEFAULT 4
#define GW_MAX_EMCON 64
#define GW_MAX_ACKS 256 /* nodes whose last ack time is remembered */

/* One P_MUL message in flight: a group of an outgoing envelope's destinations. */
struct gw_flight {
    struct gw_flight *next;
    uint64_t handle;
    char qid[SMTPGW_QID_LEN];
    uint32_t msgid;
};

/* A message from an SMTP session, staged in the spool: its 250 goes out
 * after the next group commit (gw_sync). */
struct gw_staged {
    uint64_t session;
    char peer[64];
    size_t rcpts, dests;
};

/* One delivery to the LAN MTA in progress. */
struct gw_delivery {
    struct gw_delivery *next;
    struct smtpgw_deliver *d;
    char qid[SMTPGW_QID_LEN];
    struct gw *gw;
};

struct gw {
    struct ev_loop *loop;
    const char *conf_path;
    struct util_conf *conf;
    /* settings */
    const char *hostname;
    const char *spool_dir;
    const char *run_user; /* become this user after binding ("" = stay) */
    uid_t run_uid;        /* its ids, looked up once with the config */
    gid_t run_gid;
    uint32_t self;
    struct mule_config mule;
    struct mule_prio prio;
    struct pmul_params pparams;
    struct pmul_bearer_config bcfg;
    struct smtpgw_server_config scfg;
    const char *listen[GW_MAX_LISTEN];
    const char *nets[GW_MAX_NETS];
    char listen_buf[512], nets_buf[1024];
    struct smtpgw_deliver_params dparams;
    char lan_host[256];
    struct smtpgw_retry retry;
    unsigned max_deliveries;
    uint32_t emcon_nodes[GW_MAX_EMCON];
    size_t n_emcon;
    const char *portfile;
    struct smtpgw_ctl_conf ctl_conf;
    bool ctl_on; /* a [control] section: serve mulectl */
    /* running */
    int64_t started;
    bool local_emcon;
    struct {
        uint32_t node;
        int64_t when;
    } acks[GW_MAX_ACKS];
    size_t n_acks;
    char server_buf[300], level_buf[SMTPGW_CTL_LEVEL_LEN], problem_buf[512];
    struct smtpgw_ctl_server *ctl;
    struct smtpgw_spool *spool;
    struct smtpgw_server *smtp;
    struct pmul_bearer *bearer;
    struct gw_flight *flights;
    struct gw_delivery *deliveries;
    unsigned n_deliveries;
    ev_timer tick;
    ev_prepare sync; /* the group commit at the end of each loop pass */
    ev_signal sigint, sigterm, sigusr1;
    bool stopping;
    bool verbose;
};

static void gw_pump(struct gw *gw);

/* ---- small helpers ------------------------------------------------------------ */

/* gw_now - the gateway's clock for arrival, expiry and retries (UNIX s), in
 * step with the P_MUL engine (scaled in simulator tests); dates written in
 * mail (Received, DSN Date) use the real clock */
static int64_t gw_now(const struct gw *gw)
{
    return gw->bearer ? pmul_bearer_wall_s(gw->bearer) : util_wall_s();
}

/* gw_split_list - split a comma/space list in buf into out (at most max); count */
static size_t gw_split_list(char *buf, const char **out, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(buf, ", \t"); tok && n < max; tok = strtok(NULL, ", \t"))
        out[n++] = tok;
    return n;
}

/* gw_node_str - a node id as a dotted quad (static ring of buffers) */
static const char *gw_node_str(uint32_t node)
{
    static char ring[8][MULE_NODE_STRLEN];
    static unsigned i;
    char *b = ring[i++ & 7];
    return mule_node_format(node, b, MULE_NODE_STRLEN);
}

/* gw_is_emcon - whether a destination node is known to be in EMCON */
static bool gw_is_emcon(const struct gw *gw, uint32_t node)
{
    for (size_t i = 0; i < gw->n_emcon; i++)
        if (gw->emcon_nodes[i] == node)
            return true;
    return false;
}

/* gw_flight_find - the flight of a P_MUL handle, or NULL */
static struct gw_flight *gw_flight_find(struct gw *gw, uint64_t handle, struct gw_flight ***link)
{
    for (struct gw_flight **p = &gw->flights; *p; p = &(*p)->next)
        if ((*p)->handle == handle) {
            if (link)
                *link = p;
            return *p;
        }
    return NULL;
}

/* gw_in_flight - whether an envelope's P_MUL message msgid is in flight
 * (env->user counts its flights, so most envelopes answer at once) */
static bool gw_in_flight(struct gw *gw, const char *qid, uint32_t msgid)
{
    struct smtpgw_envelope *env = smtpgw_spool_find(gw->spool, qid);
    if (env && !env->user)
        return false;
    for (struct gw_flight *f = gw->flights; f; f = f->next)
        if (strcmp(f->qid, qid) == 0 && (msgid == 0 || f->msgid == msgid))
            return true;
    return false;
}

/* ---- DSNs ------------------------------------------------------------------------- */

/* gw_return_over_hf - whether a return path's domain is reached over HF */
static bool gw_return_over_hf(const struct gw *gw, const char *addr)
{
    const char *dom = mule_address_domain(addr);
    if (!*dom || mule_domain_is_local(&gw->mule.routes, dom))
        return false;
    const struct mule_route *r = mule_route_lookup(&gw->mule.routes, dom);
    return r && r->node != gw->self;
}

/* gw_spool_dsn - build a DSN for env's recipients in `idx` and spool it
 * towards the return path (over HF or to the LAN); 0, or negative */
static int gw_spool_dsn(struct gw *gw, struct smtpgw_envelope *env, const size_t *idx, size_t n,
                        enum mule_dsn_action action, const char *status, const char *diag)
{
    if (!*env->from || (env->flags & SMTPGW_ENV_DSN))
        return 0; /* null return path, or a DSN itself: never a DSN */
    struct mule_dsn_rcpt *dr = calloc(n ? n : 1, sizeof *dr);
    if (!dr)
        return UTIL_ERR_NOMEM;
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        const struct smtpgw_spool_rcpt *r = &env->rcpts[idx[k]];
        if (!mule_dsn_wanted(r->params, action))
            continue;
        dr[m].addr = r->addr;
        dr[m].params = r->params;
        dr[m].action = action;
        dr[m].status = r->status[0] ? r->status : status;
        dr[m].diagnostic = r->diag ? r->diag : diag;
        m++;
    }
    int rc = 0;
    if (m > 0) {
        struct util_buf orig, out;
        util_buf_init(&orig, 0);
        util_buf_init(&out, 0);
        smtpgw_spool_read_content(gw->spool, env, &orig);
        struct mule_dsn d;
        memset(&d, 0, sizeof d);
        d.return_path = env->from;
        d.mail_params = env->mail_params;
        d.rcpts = dr;
        d.n_rcpts = m;
        d.message = orig.data;
        d.message_len = orig.len;
        d.hostname = gw->hostname;
        d.now = util_wall_s(); /* the Date of a DSN is real time, even in a scaled test */
        d.arrival = env->arrival;
        rc = mule_dsn_build(&d, &out);
        if (rc < 0)
            util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "dsn-failed", "qid=%s to=<%s> error=\"%s\"", env->qid,
                     env->from, mule_strerror(rc));
        if (rc > 0 && out.len) { /* the number of recipients reported */
            struct smtpgw_envelope de;
            struct smtpgw_spool_rcpt rr;
            memset(&de, 0, sizeof de);
            memset(&rr, 0, sizeof rr);
            rr.addr = env->from;
            rr.params = "";
            rr.dest = -1;
            de.flags = SMTPGW_ENV_DSN;
            de.from = "";
            de.mail_params = "";
            de.rcpts = &rr;
            de.n_rcpts = 1;
            de.priority = env->priority;
            de.arrival = gw_now(gw);
            de.expiry = de.arrival + (int64_t)gw->prio.lifetime[env->priority];
            struct smtpgw_envelope *made = NULL;
            bool over_hf = gw_return_over_hf(gw, env->from);
            if (over_hf) {
                const struct mule_route *r = mule_route_lookup(&gw->mule.routes, mule_address_domain(env->from));
                struct smtpgw_spool_dest dd;
                memset(&dd, 0, sizeof dd);
                dd.node = r->via ? r->via : r->node;
                dd.final_node = r->via ? r->node : 0;
                rr.dest = 0;
                de.dests = &dd;
                de.n_dests = 1;
                rc = smtpgw_spool_add_outgoing(gw->spool, &de, out.data, out.len, &made);
            } else {
                rc = smtpgw_spool_add_incoming(gw->spool, &de, out.data, out.len, &made);
            }
            util_log(rc == 0 ? UTIL_LOG_NOTICE : UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "dsn",
                     "qid=%s action=%s rcpts=%zu to=<%s> via=%s dsn_qid=%s rc=%d", env->qid,
                     action == MULE_DSN_FAILED ? "failed" : action == MULE_DSN_DELAYED ? "delayed" : "relayed",
                     m, env->from, over_hf ? "hf" : "lan", made ? made->qid : "-", rc);
        }
        util_buf_free(&orig);
        util_buf_free(&out);
    }
    free(dr);
    return rc;
}

/* gw_finish_failed - DSNs for an envelope's FAILED recipients, then REPORTED */
static void gw_finish_failed(struct gw *gw, struct smtpgw_envelope *env, const char *status, const char *diag)
{
    size_t *idx = calloc(env->n_rcpts ? env->n_rcpts : 1, sizeof *idx);
    size_t n = 0;
    if (!idx)
        return;
    for (size_t i = 0; i < env->n_rcpts; i++)
        if (env->rcpts[i].state == SMTPGW_RCPT_FAILED)
            idx[n++] = i;
    if (n && gw_spool_dsn(gw, env, idx, n, MULE_DSN_FAILED, status, diag) == 0) {
        for (size_t k = 0; k < n; k++)
            smtpgw_envelope_set_rcpt(env, idx[k], SMTPGW_RCPT_REPORTED, NULL, NULL);
        smtpgw_spool_update(gw->spool, env);
    }
    free(idx);
}

/* gw_maybe_remove - an envelope with nothing left to do leaves the spool */
static void gw_maybe_remove(struct gw *gw, struct smtpgw_envelope *env)
{
    if (smtpgw_envelope_open_rcpts(env) > 0)
        return;
    for (size_t i = 0; i < env->n_rcpts; i++)
        if (env->rcpts[i].state == SMTPGW_RCPT_FAILED)
            return;
    if (env->queue == SMTPGW_Q_OUTGOING && gw_in_flight(gw, env->qid, 0))
        return;
    util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "removed", "qid=%s queue=%s", env->qid, smtpgw_queue_name(env->queue));
    smtpgw_spool_remove(gw->spool, env);
}

/* ---- outgoing: spool -> MULE -> P_MUL ------------------------------------------------- */

/* gw_submit - send the open destinations of an outgoing envelope over P_MUL,
 * one P_MUL message per group of destinations sharing a Message_ID (all of
 * them, or one each with split); 0 or negative */
static int gw_submit(struct gw *gw, struct smtpgw_envelope *env)
{
    if (!gw->bearer || !pmul_bearer_ready(gw->bearer) || (env->flags & SMTPGW_ENV_HOLD))
        return 0;
    if (env->expiry <= gw_now(gw)) {
        /* expired while waiting (a restart after expiry): fail what is open */
        for (size_t d = 0; d < env->n_dests; d++)
            if (env->dests[d].state == SMTPGW_DEST_OPEN)
                env->dests[d].state = SMTPGW_DEST_FAILED;
        for (size_t i = 0; i < env->n_rcpts; i++)
            if (env->rcpts[i].state == SMTPGW_RCPT_OPEN)
                smtpgw_envelope_set_rcpt(env, i, SMTPGW_RCPT_FAILED, "4.4.7", "x-mule; delivery time expired");
        smtpgw_spool_update(gw->spool, env);
        gw_finish_failed(gw, env, "4.4.7", "x-mule; delivery time expired");
        gw_maybe_remove(gw, env);
        return 0;
    }
    bool split = gw->mule.split;
    for (size_t first = 0; first < env->n_dests; first++) {
        struct smtpgw_spool_dest *fd = &env->dests[first];
        if (fd->state != SMTPGW_DEST_OPEN)
            continue;
        if (fd->msgid && gw_in_flight(gw, env->qid, fd->msgid))
            continue;
        /* the group: this destination and (without split) every other open one
         * with the same Message_ID (0 = not yet sent) */
        size_t gidx[SMTPGW_MAX_DESTS];
        size_t ng = 0;
        for (size_t d = first; d < env->n_dests; d++) {
            struct smtpgw_spool_dest *x = &env->dests[d];
            if (x->state != SMTPGW_DEST_OPEN || x->msgid != fd->msgid)
                continue;
            if (d != first && (split || gw_in_flight(gw, env->qid, x->msgid)))
                continue;
            if (d != first && fd->msgid == 0 && split)
                continue;
            gidx[ng++] = d;
            if (split)
                break;
        }
        /* the payload: the envelope's recipients those destinations carry */
        struct mule_rcpt *mr = calloc(env->n_rcpts, sizeof *mr);
        if (!mr)
            return UTIL_ERR_NOMEM;
        size_t nr = 0;
        for (size_t i = 0; i < env->n_rcpts; i++) {
            if (env->rcpts[i].state != SMTPGW_RCPT_OPEN)
                continue;
            for (size_t k = 0; k < ng; k++)
                if (env->rcpts[i].dest == (int16_t)gidx[k]) {
                    mr[nr].addr = env->rcpts[i].addr;
                    mr[nr].params = env->rcpts[i].params;
                    nr++;
                    break;
                }
        }
        if (nr == 0) {
            free(mr);
            for (size_t k = 0; k < ng; k++)
                env->dests[gidx[k]].state = SMTPGW_DEST_ACKED; /* nothing left for them */
            smtpgw_spool_update(gw->spool, env);
            continue;
        }
        /* a relay lowers DELIVERBY by the time it held the message (RFC 2852 4) */
        char params[1024];
        const char *mail_params = env->mail_params;
        if (env->by_mode && env->src_node) {
            int n = mule_deliverby_rewrite(env->mail_params, gw_now(gw) - env->arrival, params, sizeof params);
            if (n >= 0)
                mail_params = params;
        }
        struct mule_envelope me = {env->from, mail_params, mr, nr, NULL};
        struct util_buf content, payload, cdt;
        util_buf_init(&content, 0);
        util_buf_init(&payload, 0);
        util_buf_init(&cdt, 0);
        int rc = smtpgw_spool_read_content(gw->spool, env, &content);
        if (rc == 0)
            rc = mule_payload_build(&me, content.data, content.len, &payload);
        if (rc == 0)
            rc = mule_cdt_encode(payload.data, payload.len, gw->mule.compression_level, &cdt);
        free(mr);
        if (rc < 0) {
            util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "encode-failed", "qid=%s error=\"%s\"", env->qid, smtpgw_strerror(rc));
            util_buf_free(&content);
            util_buf_free(&payload);
            util_buf_free(&cdt);
            return rc;
        }
        struct pmul_dest_spec ds[SMTPGW_MAX_DESTS];
        char list[SMTPGW_MAX_DESTS * 17];
        size_t off = 0;
        list[0] = '\0';
        for (size_t k = 0; k < ng; k++) {
            struct smtpgw_spool_dest *x = &env->dests[gidx[k]];
            ds[k].id = x->node;
            ds[k].msn = x->msn;
            ds[k].emcon = gw_is_emcon(gw, x->node);
            int w = snprintf(list + off, sizeof list - off, "%s%s", k ? "," : "", gw_node_str(x->node));
            if (w > 0 && (size_t)w < sizeof list - off)
                off += (size_t)w;
        }
        struct pmul_message pm = {cdt.data, cdt.len, ds, ng, env->priority, env->expiry, fd->msgid};
        uint64_t handle = 0;
        rc = pmul_bearer_send(gw->bearer, &pm, &handle);
        util_buf_free(&content);
        util_buf_free(&payload);
        util_buf_free(&cdt);
        if (rc < 0) {
            util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "submit-failed", "qid=%s error=\"%s\"", env->qid, pmul_strerror(rc));
            return rc;
        }
        bool changed = false;
        for (size_t k = 0; k < ng; k++) {
            changed |= env->dests[gidx[k]].msgid != pm.message_id || env->dests[gidx[k]].msn != ds[k].msn;
            env->dests[gidx[k]].msgid = pm.message_id;
            env->dests[gidx[k]].msn = ds[k].msn;
        }
        if (changed)
            smtpgw_spool_update(gw->spool, env); /* the ids survive a restart */
        struct gw_flight *f = calloc(1, sizeof *f);
        if (f) {
            f->handle = handle;
            f->msgid = pm.message_id;
            snprintf(f->qid, sizeof f->qid, "%s", env->qid);
            f->next = gw->flights;
            gw->flights = f;
            env->user = (void *)((uintptr_t)env->user + 1);
        }
        char exp[UTIL_TIME_ISO_LEN];
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "submitted",
                 "qid=%s src=%s msgid=%u dests=%s rcpts=%zu bytes=%zu priority=%u expiry=%s", env->qid,
                 gw_node_str(gw->self), pm.message_id, list, nr, pm.len, env->priority,
                 util_time_iso(env->expiry, exp, sizeof exp));
    }
    return 0;
}

/* gw_heard_ack - remember when node last acknowledged one of our messages */
static void gw_heard_ack(struct gw *gw, uint32_t node)
{
    size_t i = 0;
    while (i < gw->n_acks && gw->acks[i].node != node)
        i++;
    if (i == gw->n_acks) {
        if (gw->n_acks == GW_MAX_ACKS)
            return;
        gw->n_acks++;
    }
    gw->acks[i].node = node;
    gw->acks[i].when = util_wall_s();
}

/* gw_on_dest_done - P_MUL: one destination of one of our messages finished */
static void gw_on_dest_done(void *user, uint64_t handle, uint32_t msgid, uint32_t dest, int result)
{
    struct gw *gw = user;
    struct gw_flight *f = gw_flight_find(gw, handle, NULL);
    struct smtpgw_envelope *env = f ? smtpgw_spool_find(gw->spool, f->qid) : NULL;
    if (!env)
        return;
    size_t *relayed = calloc(env->n_rcpts ? env->n_rcpts : 1, sizeof *relayed);
    size_t nrel = 0;
    for (size_t d = 0; d < env->n_dests; d++) {
        struct smtpgw_spool_dest *x = &env->dests[d];
        if (x->node != dest || x->msgid != msgid)
            continue;
        x->state = result == PMUL_DEST_ACKED ? SMTPGW_DEST_ACKED : SMTPGW_DEST_FAILED;
        for (size_t i = 0; i < env->n_rcpts; i++) {
            if (env->rcpts[i].dest != (int16_t)d || env->rcpts[i].state != SMTPGW_RCPT_OPEN)
                continue;
            if (result == PMUL_DEST_ACKED) {
                smtpgw_envelope_set_rcpt(env, i, SMTPGW_RCPT_DONE, "2.0.0", NULL);
                if (relayed)
                    relayed[nrel++] = i;
            } else {
                smtpgw_envelope_set_rcpt(env, i, SMTPGW_RCPT_FAILED,
                                         result == PMUL_DEST_EXPIRED ? "4.4.7" : "5.3.0",
                                         result == PMUL_DEST_EXPIRED
                                             ? "x-mule; no acknowledgement from the HF node before the message expired"
                                             : "x-mule; dropped by the operator");
            }
        }
    }
    /* written at the end of the loop pass, unless the message is finished
     * and removed first (a lost ack record only means a retransmission
     * that the receiver suppresses as a duplicate) */
    smtpgw_spool_update_later(gw->spool, env);
    if (result == PMUL_DEST_ACKED)
        gw_heard_ack(gw, dest);
    util_log(result == PMUL_DEST_EXPIRED ? UTIL_LOG_WARN : UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "dest-done",
             "qid=%s src=%s msgid=%u dest=%s result=%s", env->qid, gw_node_str(gw->self), msgid,
             gw_node_str(dest), pmul_dest_result_name(result));
    /* RFC 3461: NOTIFY=SUCCESS on a message that left the Internet mail system: "relayed" */
    if (relayed && nrel)
        gw_spool_dsn(gw, env, relayed, nrel, MULE_DSN_RELAYED, "2.0.0", NULL);
    free(relayed);
}

/* gw_on_message_done - P_MUL: every destination of a message finished */
static void gw_on_message_done(void *user, uint64_t handle, uint32_t msgid, size_t acked, size_t failed)
{
    struct gw *gw = user;
    struct gw_flight **link = NULL;
    struct gw_flight *f = gw_flight_find(gw, handle, &link);
    if (!f)
        return;
    char qid[SMTPGW_QID_LEN];
    snprintf(qid, sizeof qid, "%s", f->qid);
    *link = f->next;
    free(f);
    struct smtpgw_envelope *env = smtpgw_spool_find(gw->spool, qid);
    if (env && env->user)
        env->user = (void *)((uintptr_t)env->user - 1);
    util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "pmul-done", "qid=%s msgid=%u acked=%zu failed=%zu", qid, msgid,
             acked, failed);
    if (!env)
        return;
    if (failed)
        gw_finish_failed(gw, env, "4.4.7", "x-mule; delivery time expired");
    gw_maybe_remove(gw, env);
}

/* ---- incoming: P_MUL -> MULE -> spool ------------------------------------------------- */

/* gw_on_deliver - P_MUL: a complete message arrived; 0 once it is spooled */
static int gw_on_deliver(void *user, const struct pmul_rx_message *m)
{
    struct gw *gw = user;
    char ids[96];
    snprintf(ids, sizeof ids, "src=%s msgid=%u", gw_node_str(m->source_id), m->message_id);
    if (smtpgw_spool_was_delivered(gw->spool, m->source_id, m->message_id)) {
        util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "duplicate", "%s", ids);
        return 0;
    }
    struct util_buf payload;
    util_buf_init(&payload, 0);
    if (mule_cdt_open(m->data, m->len, gw->mule.max_message_size, ids, &payload) < 0) {
        util_buf_free(&payload);
        return 0; /* not MULE: logged and discarded (RFC 8494 5.1); acknowledged */
    }
    struct mule_envelope me;
    int off = mule_payload_parse(payload.data, payload.len, gw->mule.max_envelope, &me);
    if (off < 0) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "payload-bad", "%s error=\"%s\"", ids, mule_strerror(off));
        util_buf_free(&payload);
        return 0;
    }
    const uint8_t *msg = payload.data + off;
    size_t msg_len = payload.len - (size_t)off;
    size_t n = me.n_rcpts;
    const char **addrs = calloc(n, sizeof *addrs);
    struct mule_rx_rcpt *disp = calloc(n, sizeof *disp);
    struct smtpgw_spool_rcpt *rr = calloc(n, sizeof *rr);
    int rc = 0;
    if (!addrs || !disp || !rr) {
        rc = UTIL_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        addrs[i] = me.rcpts[i].addr;
    struct mule_rx_ctx ctx = {gw->self, m->source_id, m->dests, m->ndests};
    mule_route_receive(&gw->mule.routes, &ctx, addrs, n, disp);
    /* the trace field every copy of this message carries */
    struct util_buf content;
    util_buf_init(&content, 0);
    struct mule_trace tr = {NULL, m->source_id, m->message_id, gw->hostname, n == 1 ? addrs[0] : NULL, util_wall_s()};
    mule_trace_received(&tr, &content);
    util_buf_append(&content, msg, msg_len);
    size_t n_local = 0, n_relay = 0, n_bounce = 0;
    for (size_t i = 0; i < n; i++) {
        rr[i].addr = me.rcpts[i].addr;
        rr[i].params = me.rcpts[i].params;
        rr[i].dest = -1;
        switch (disp[i].disp) {
        case MULE_DISP_LOCAL: rr[i].state = SMTPGW_RCPT_OPEN; n_local++; break;
        case MULE_DISP_BOUNCE:
            rr[i].state = SMTPGW_RCPT_FAILED;
            snprintf(rr[i].status, sizeof rr[i].status, "%s", disp[i].status ? disp[i].status : "5.4.4");
            rr[i].diag = disp[i].reason;
            n_bounce++;
            break;
        case MULE_DISP_RELAY: rr[i].state = SMTPGW_RCPT_SKIP; n_relay++; break;
        default: rr[i].state = SMTPGW_RCPT_SKIP; break;
        }
    }
    struct smtpgw_envelope env;
    memset(&env, 0, sizeof env);
    env.from = me.from;
    env.mail_params = me.from_params;
    env.rcpts = rr;
    env.n_rcpts = (uint16_t)n;
    env.priority = m->priority;
    env.arrival = gw_now(gw);
    env.expiry = m->expiry;
    env.src_node = m->source_id;
    env.src_msgid = m->message_id;
    struct smtpgw_envelope *in = NULL;
    if (n_local || n_bounce) {
        rc = smtpgw_spool_add_incoming(gw->spool, &env, content.data, content.len, &in);
        if (rc == SMTPGW_ERR_SPOOL_DUPLICATE) {
            util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "duplicate", "%s", ids);
            rc = 0;
            util_buf_free(&content);
            goto out;
        }
        if (rc < 0) {
            util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "spool-failed", "%s error=\"%s\"", ids, smtpgw_spool_strerror(rc));
            util_buf_free(&content);
            goto out; /* not acknowledged: it will come again */
        }
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "received", "qid=%s %s from=<%s> local=%zu relay=%zu bounce=%zu bytes=%zu",
                 in->qid, ids, me.from, n_local, n_relay, n_bounce, msg_len);
        if (n_bounce) {
            gw_finish_failed(gw, in, "5.4.4", NULL);
            gw_maybe_remove(gw, in);
        }
    }
    if (n_relay) {
        /* the relayed recipients go on over HF, as a new outgoing message */
        struct smtpgw_spool_dest dd[SMTPGW_MAX_DESTS];
        size_t nd = 0;
        for (size_t i = 0; i < n; i++) {
            if (disp[i].disp != MULE_DISP_RELAY)
                continue;
            size_t d;
            for (d = 0; d < nd && dd[d].node != disp[i].next; d++)
                ;
            if (d == nd && nd < SMTPGW_MAX_DESTS) {
                memset(&dd[nd], 0, sizeof dd[nd]);
                dd[nd++].node = disp[i].next;
            }
            rr[i].state = SMTPGW_RCPT_OPEN;
            rr[i].dest = (int16_t)d;
        }
        for (size_t i = 0; i < n; i++)
            if (disp[i].disp != MULE_DISP_RELAY)
                rr[i].state = SMTPGW_RCPT_SKIP;
        env.dests = dd;
        env.n_dests = (uint16_t)nd;
        struct smtpgw_envelope *out = NULL;
        rc = smtpgw_spool_add_outgoing(gw->spool, &env, content.data, content.len, &out);
        if (rc == 0) {
            util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "relay", "qid=%s %s rcpts=%zu", out->qid, ids, n_relay);
            if (!in)
                smtpgw_spool_record_delivered(gw->spool, m->source_id, m->message_id, m->expiry);
            gw_submit(gw, out);
        } else {
            util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "spool-failed", "%s error=\"%s\"", ids, smtpgw_spool_strerror(rc));
        }
    }
    if (!n_local && !n_bounce && !n_relay) {
        util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "not-ours", "%s rcpts=%zu", ids, n);
        smtpgw_spool_record_delivered(gw->spool, m->source_id, m->message_id, m->expiry);
    }
    util_buf_free(&content);
out:
    free(addrs);
    free(disp);
    free(rr);
    mule_envelope_free(&me);
    util_buf_free(&payload);
    if (rc == 0)
        ev_feed_event(gw->loop, &gw->tick, EV_TIMER); /* deliver without waiting */
    return rc < 0 ? -1 : 0;
}

/* ---- delivery to the LAN MTA --------------------------------------------------------- */

/* gw_delivery_find - the delivery of a queue id, or NULL */
static struct gw_delivery *gw_delivery_find(struct gw *gw, const char *qid)
{
    for (struct gw_delivery *d = gw->deliveries; d; d = d->next)
        if (strcmp(d->qid, qid) == 0)
            return d;
    return NULL;
}

/* gw_on_rcpt_result - the LAN MTA's answer for one recipient */
static void gw_on_rcpt_result(void *user, struct smtpgw_envelope *msg, size_t i, int code, const char *status,
                              const char *reply)
{
    struct gw_delivery *dl = user;
    char diag[600];
    snprintf(diag, sizeof diag, "smtp; %s", reply ? reply : "");
    if (code >= 200 && code < 300)
        smtpgw_envelope_set_rcpt(msg, i, SMTPGW_RCPT_DONE, status, NULL);
    else if (code >= 500)
        smtpgw_envelope_set_rcpt(msg, i, SMTPGW_RCPT_FAILED, status, diag);
    else
        smtpgw_envelope_set_rcpt(msg, i, SMTPGW_RCPT_OPEN, status, diag);
    util_log(code < 500 ? UTIL_LOG_NOTICE : UTIL_LOG_WARN, UTIL_MOD_SMTPGW, code < 300 ? "delivered" : "delivery-failed",
             "qid=%s rcpt=<%s> relay=%s:%u code=%d reply=\"%s\"", msg->qid, msg->rcpts[i].addr, dl->gw->lan_host,
             dl->gw->dparams.port, code, reply ? reply : "");
}

/* gw_on_delivery_done - a delivery session ended: retry, bounce or finish */
static void gw_on_delivery_done(void *user, struct smtpgw_envelope *msg, int err)
{
    struct gw_delivery *dl = user;
    struct gw *gw = dl->gw;
    if (smtpgw_envelope_open_rcpts(msg) > 0) {
        msg->attempts++;
        int64_t next = smtpgw_retry_next(&gw->retry, msg->attempts, msg->arrival, gw_now(gw));
        if (next < 0) {
            for (size_t i = 0; i < msg->n_rcpts; i++)
                if (msg->rcpts[i].state == SMTPGW_RCPT_OPEN)
                    smtpgw_envelope_set_rcpt(msg, i, SMTPGW_RCPT_FAILED, "4.4.7",
                                             msg->rcpts[i].diag ? msg->rcpts[i].diag : "x-mule; delivery time expired");
        } else {
            msg->next_attempt = next;
            util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "deferred", "qid=%s attempts=%u next_in_s=%lld error=\"%s\"",
                     msg->qid, msg->attempts, (long long)(next - gw_now(gw)), err ? smtpgw_spool_strerror(err) : "");
        }
    }
    smtpgw_spool_update(gw->spool, msg);
    gw_finish_failed(gw, msg, "5.0.0", NULL);
    /* unlink and free the delivery after this callback returns: at the next pump */
    dl->qid[0] = '\0';
    gw_maybe_remove(gw, msg);
    ev_feed_event(gw->loop, &gw->tick, EV_TIMER);
}

/* gw_reap_deliveries - free the deliveries that have finished */
static void gw_reap_deliveries(struct gw *gw)
{
    for (struct gw_delivery **p = &gw->deliveries; *p;) {
        struct gw_delivery *d = *p;
        if (d->qid[0]) {
            p = &d->next;
            continue;
        }
        *p = d->next;
        smtpgw_deliver_free(d->d);
        free(d);
        gw->n_deliveries--;
    }
}

/* gw_start_deliveries - start deliveries that are due, up to the limit */
static void gw_start_deliveries(struct gw *gw)
{
    int64_t now = gw_now(gw);
    struct smtpgw_envelope *env = smtpgw_spool_first(gw->spool, SMTPGW_Q_INCOMING);
    while (env && gw->n_deliveries < gw->max_deliveries && !gw->stopping) {
        struct smtpgw_envelope *next = smtpgw_spool_next(gw->spool, env);
        if (!(env->flags & SMTPGW_ENV_HOLD) && env->next_attempt <= now && !gw_delivery_find(gw, env->qid)) {
            if (smtpgw_envelope_open_rcpts(env) == 0) {
                gw_finish_failed(gw, env, "5.0.0", NULL);
                gw_maybe_remove(gw, env);
            } else {
                struct gw_delivery *dl = calloc(1, sizeof *dl);
                if (!dl)
                    return;
                dl->gw = gw;
                snprintf(dl->qid, sizeof dl->qid, "%s", env->qid);
                static const struct smtpgw_deliver_callbacks cb = {gw_on_rcpt_result, gw_on_delivery_done};
                int err = 0;
                dl->d = smtpgw_deliver_start(gw->loop, &gw->dparams, gw->spool, env, &cb, dl, &err);
                if (!dl->d) {
                    free(dl);
                    env->attempts++;
                    int64_t nx = smtpgw_retry_next(&gw->retry, env->attempts, env->arrival, now);
                    env->next_attempt = nx < 0 ? now : nx;
                    smtpgw_spool_update(gw->spool, env);
                    util_log(UTIL_LOG_WARN, UTIL_MOD_SMTPGW, "delivery-start-failed", "qid=%s error=\"%s\"", env->qid,
                             smtpgw_spool_strerror(err));
                } else {
                    dl->next = gw->deliveries;
                    gw->deliveries = dl;
                    gw->n_deliveries++;
                }
            }
        }
        env = next;
    }
}

/* ---- the SMTP server's decisions ------------------------------------------------------ */

/* gw_rcpt_check - relay control: only recipients routed over HF */
static int gw_rcpt_check(void *user, const struct smtpgw_txn *txn, const struct smtpgw_rcpt *rcpt, char *text,
                         size_t cap)
{
    struct gw *gw = user;
    (void)txn;
    const struct mule_route *r = mule_route_lookup(&gw->mule.routes, mule_address_domain(rcpt->addr));
    if (r && r->node == gw->self && !r->via) {
        snprintf(text, cap, "5.1.2 <%s>: this gateway delivers that domain from HF only", rcpt->addr);
        return 550;
    }
    return smtpgw_relay_check(&gw->mule.routes, rcpt->addr, text, cap);
}

/* gw_on_message - spool a complete SMTP message (fsync before 250) and send it */
static int gw_on_message(void *user, const struct smtpgw_txn *txn, char *queue_id, size_t qcap, char *text,
                         size_t tcap)
{
    struct gw *gw = user;
    size_t n = txn->n_rcpts;
    const char **addrs = calloc(n ? n : 1, sizeof *addrs);
    struct smtpgw_spool_rcpt *rr = calloc(n ? n : 1, sizeof *rr);
    if (!addrs || !rr) {
        free(addrs);
        free(rr);
        snprintf(text, tcap, "4.3.0 Out of memory");
        return 451;
    }
    for (size_t i = 0; i < n; i++)
        addrs[i] = txn->rcpts[i].addr;
    struct mule_plan plan;
    int rc = mule_route_plan(&gw->mule.routes, gw->self, addrs, n, gw->mule.split, &plan);
    if (rc < 0) {
        free(addrs);
        free(rr);
        snprintf(text, tcap, "4.3.0 Routing failed");
        return 451;
    }
    struct smtpgw_spool_dest dd[SMTPGW_MAX_DESTS];
    size_t nd = UTIL_MIN(plan.n_dests, (size_t)SMTPGW_MAX_DESTS);
    for (size_t d = 0; d < nd; d++) {
        memset(&dd[d], 0, sizeof dd[d]);
        dd[d].node = plan.dests[d].node;
        for (size_t k = 0; k < plan.dests[d].n_rcpt; k++) {
            size_t i = plan.dests[d].rcpt[k];
            rr[i].dest = (int16_t)d;
        }
    }
    for (size_t i = 0; i < n; i++) {
        rr[i].addr = txn->rcpts[i].addr;
        rr[i].params = txn->rcpts[i].params;
        bool routed = false;
        for (size_t d = 0; d < nd && !routed; d++)
            for (size_t k = 0; k < plan.dests[d].n_rcpt; k++)
                if (plan.dests[d].rcpt[k] == i)
                    routed = true;
        if (!routed) { /* cannot happen after rcpt_check, but be safe */
            rr[i].dest = -1;
            rr[i].state = SMTPGW_RCPT_FAILED;
            snprintf(rr[i].status, sizeof rr[i].status, "5.4.4");
            rr[i].diag = "x-mule; no route";
        }
    }
    mule_plan_free(&plan);
    int pmul_prio = mule_pmul_priority(txn->has_mt_priority ? txn->mt_priority : 0);
    struct mule_expiry ex;
    int64_t now = gw_now(gw);
    if (mule_expiry_compute(&gw->prio, txn->mail_params, now, &ex) < 0)
        ex.expiry = now + gw->prio.lifetime[pmul_prio];
    struct smtpgw_envelope env;
    memset(&env, 0, sizeof env);
    env.from = txn->mail_from;
    env.mail_params = txn->mail_params;
    env.rcpts = rr;
    env.n_rcpts = (uint16_t)n;
    env.dests = dd;
    env.n_dests = (uint16_t)nd;
    env.priority = (uint8_t)pmul_prio;
    env.arrival = now;
    env.expiry = ex.expiry;
    /* the P_MUL ids now, so that the envelope is written once with them */
    (void)queue_id;
    (void)qcap;
    struct gw_staged *st = calloc(1, sizeof *st);
    if (!st)
        rc = UTIL_ERR_NOMEM;
    else
        rc = smtpgw_spool_assign_ids(gw->spool, dd, nd, gw->mule.split);
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
            st->rcpts = n;
            st->dests = nd;
            rc = smtpgw_spool_writer_stage(w, &env, SMTPGW_Q_OUTGOING, st);
        } else {
            smtpgw_spool_writer_abort(w);
        }
    }
    util_buf_free(&content);
    free(addrs);
    free(rr);
    if (rc < 0) {
        free(st);
        util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "spool-failed", "session=%llu error=\"%s\"",
                 (unsigned long long)txn->session, smtpgw_spool_strerror(rc));
        snprintf(text, tcap, "4.3.0 Could not store the message, try again later");
        return 451;
    }
    return SMTPGW_MESSAGE_PENDING; /* 250 after the group commit: gw_on_committed */
}

/* gw_on_committed - a staged SMTP message is durable (or failed): answer
 * its client, then send it */
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
    gw_finish_failed(gw, made, "5.4.4", NULL);
    if (!gw->stopping)
        gw_submit(gw, made);
}

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

/* gw_on_prepare - libev: the loop is about to wait */
static void gw_on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    gw_sync(w->data);
}

/* ---- the loop ---------------------------------------------------------------------- */

/* gw_pump - submit what waits for HF, start due deliveries, reap finished ones */
static void gw_pump(struct gw *gw)
{
    gw_reap_deliveries(gw);
    if (gw->stopping)
        return;
    for (struct smtpgw_envelope *env = smtpgw_spool_first(gw->spool, SMTPGW_Q_OUTGOING); env;) {
        struct smtpgw_envelope *next = smtpgw_spool_next(gw->spool, env);
        gw_submit(gw, env);
        env = next;
    }
    gw_start_deliveries(gw);
}

/* gw_on_tick - the periodic (and nudged) pump */
static void gw_on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct gw *gw = w->data;
    (void)loop;
    (void)revents;
    gw_reap_deliveries(gw);
    gw_start_deliveries(gw);
}

/* gw_on_ready - the bearer came up (bound, MTU known) or went down */
static void gw_on_ready(void *user, bool ready, size_t pdu_max)
{
    struct gw *gw = user;
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, ready ? "bearer-up" : "bearer-down", "pdu_max=%zu", pdu_max);
    if (ready)
        gw_pump(gw);
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
                 gw->n_deliveries, pmul_bearer_ready(gw->bearer) ? "up" : "down", st.tx_active, st.rx_active,
                 (unsigned long long)st.pdus_sent, (unsigned long long)st.pdus_received);
        return;
    }
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_MAIN, "stopping", "signal=%d", w->signum);
    gw->stopping = true;
    ev_break(loop, EVBREAK_ALL);
}

/* ---- configuration -------------------------------------------------------------------- */

/* gw_one_sis_table - the SIS priority of each P_MUL priority may be set as
 * [priority] sis.N (the MULE mapping) or [bearer] sis_priority (the
 * bearer's list); one table serves both.  With only one of them set, it
 * is the table; with both, every sis.N given must agree with the list
 * (an error names the first that does not) */
static void gw_one_sis_table(struct gw *gw, struct util_conf *c)
{
    struct util_conf_section *ps = util_conf_section(c, "priority", NULL);
    struct util_conf_section *bs = util_conf_section(c, "bearer", NULL);
    const char *list = NULL;
    util_conf_str(c, bs, "sis_priority", NULL, &list);
    bool any = false;
    for (int i = 0; i <= MULE_PMUL_PRIO_MAX; i++) {
        char key[16];
        const char *v = NULL;
        snprintf(key, sizeof key, "sis.%d", i);
        util_conf_str(c, ps, key, NULL, &v);
        if (!v)
            continue;
        any = true;
        if (list && gw->prio.sis[i] != gw->bcfg.sis_priority[i]) {
            util_conf_fail(c, ps, key, UTIL_ERR_RANGE,
                           "%u disagrees with [bearer] sis_priority (%u): set the table in one place",
                           gw->prio.sis[i], gw->bcfg.sis_priority[i]);
            return;
        }
    }
    for (int i = 0; i <= MULE_PMUL_PRIO_MAX; i++) {
        if (any && !list)
            gw->bcfg.sis_priority[i] = gw->prio.sis[i];
        else
            gw->prio.sis[i] = gw->bcfg.sis_priority[i];
    }
}

/* gw_load_config - read and check every section; 0 or negative (message printed) */
static int gw_load_config(struct gw *gw)
{
    char err[512];
    int rc;
    gw->conf = util_conf_load(gw->conf_path, err, sizeof err, &rc);
    if (!gw->conf) {
        fprintf(stderr, "mulegw: %s\n", err);
        return rc;
    }
    struct util_conf *c = gw->conf;
    struct util_conf_section *s = util_conf_section(c, "mulegw", NULL);
    const char *level, *trace, *emcon, *lan;
    long long maxd;
    util_conf_str(c, s, "hostname", "localhost", &gw->hostname);
    util_conf_str_required(c, s, "spool", &gw->spool_dir);
    util_conf_str(c, s, "log_level", "info", &level);
    util_conf_str(c, s, "trace", "", &trace);
    util_conf_str(c, s, "emcon_nodes", "", &emcon);
    util_conf_int(c, s, "max_deliveries", GW_MAX_DELIVERIES_DEFAULT, 1, 64, &maxd);
    util_conf_str(c, s, "user", "", &gw->run_user);
    if (*gw->run_user) {
        struct passwd *pw = getpwnam(gw->run_user);
        if (!pw) {
            util_conf_fail(c, s, "user", UTIL_ERR_RANGE, "no such user '%s'", gw->run_user);
        } else {
            gw->run_uid = pw->pw_uid;
            gw->run_gid = pw->pw_gid;
        }
    }
    gw->max_deliveries = (unsigned)maxd;
    if (util_log_parse_level(level) < 0)
        util_conf_fail(c, s, "log_level", UTIL_ERR_RANGE, "'%s' is not one of err, warn, notice, info, debug", level);
    else if (!gw->verbose)
        util_log_set_level((enum util_log_level)util_log_parse_level(level));
    if (util_log_set_trace(trace) < 0)
        util_conf_fail(c, s, "trace", UTIL_ERR_RANGE, "'%s' names an unknown module", trace);
    if (*emcon) {
        char buf[1024];
        const char *list[GW_MAX_EMCON];
        snprintf(buf, sizeof buf, "%s", emcon);
        size_t n = gw_split_list(buf, list, GW_MAX_EMCON);
        for (size_t i = 0; i < n; i++)
            if (mule_node_parse(list[i], &gw->emcon_nodes[gw->n_emcon]) == 0)
                gw->n_emcon++;
            else
                util_conf_fail(c, s, "emcon_nodes", UTIL_ERR_TYPE, "'%s' is not a node id", list[i]);
    }
    /* [smtp] */
    struct util_conf_section *sm = util_conf_section(c, "smtp", NULL);
    smtpgw_server_config_default(&gw->scfg);
    const char *listen, *nets;
    long long v;
    uint64_t u;
    util_conf_str(c, sm, "listen", "127.0.0.1:2525", &listen);
    util_conf_str(c, sm, "networks", "127.0.0.0/8, ::1/128", &nets);
    snprintf(gw->listen_buf, sizeof gw->listen_buf, "%s", listen);
    snprintf(gw->nets_buf, sizeof gw->nets_buf, "%s", nets);
    gw->scfg.n_listen = gw_split_list(gw->listen_buf, gw->listen, GW_MAX_LISTEN);
    gw->scfg.listen = gw->listen;
    gw->scfg.n_networks = gw_split_list(gw->nets_buf, gw->nets, GW_MAX_NETS);
    gw->scfg.networks = gw->nets;
    gw->scfg.hostname = gw->hostname;
    util_conf_int(c, sm, "max_sessions", SMTPGW_DEFAULT_MAX_SESSIONS, 1, 10000, &v);
    gw->scfg.max_sessions = (unsigned)v;
    util_conf_int(c, sm, "max_recipients", SMTPGW_DEFAULT_MAX_RCPTS, 1, SMTPGW_MAX_RCPTS, &v);
    gw->scfg.limits.max_rcpts = (size_t)v;
    util_conf_duration_ms(c, sm, "idle_timeout", SMTPGW_DEFAULT_IDLE_TIMEOUT, 1000, 3600000, &u);
    gw->scfg.limits.idle_timeout = u;
    /* [lan] */
    struct util_conf_section *ls = util_conf_section(c, "lan", NULL);
    smtpgw_deliver_params_default(&gw->dparams);
    smtpgw_retry_default(&gw->retry);
    util_conf_str(c, ls, "relay", "127.0.0.1:25", &lan);
    const char *colon = strrchr(lan, ':');
    long long port = 25;
    if (!colon || colon == lan || (size_t)(colon - lan) >= sizeof gw->lan_host ||
        util_parse_int(colon + 1, 1, 65535, &port) < 0)
        util_conf_fail(c, ls, "relay", UTIL_ERR_TYPE, "'%s' is not host:port", lan);
    else
        snprintf(gw->lan_host, sizeof gw->lan_host, "%.*s", (int)(colon - lan), lan);
    gw->dparams.host = gw->lan_host;
    gw->dparams.port = (uint16_t)port;
    gw->dparams.client.helo_name = gw->hostname;
    util_conf_duration_ms(c, ls, "retry_first", 60000, 1000, 86400000, &u);
    gw->retry.first_s = (int64_t)(u / 1000);
    util_conf_duration_ms(c, ls, "retry_max", 3600000, 1000, 86400000, &u);
    gw->retry.max_s = (int64_t)(u / 1000);
    util_conf_duration_ms(c, ls, "max_age", 5 * 86400000ull, 60000, 30 * 86400000ull, &u);
    gw->retry.max_age_s = (int64_t)(u / 1000);
    /* [mule], [route ...], [priority] */
    rc = mule_config_load(c, &gw->mule);
    if (rc == 0)
        rc = mule_prio_load(c, &gw->prio);
    gw->scfg.limits.max_message = gw->mule.max_message_size;
    /* [pmul], [bearer], [node], [group] */
    pmul_params_default(&gw->pparams);
    pmul_bearer_config_init(&gw->bcfg);
    if (rc == 0)
        rc = pmul_params_from_conf(c, &gw->pparams);
    if (rc == 0)
        rc = pmul_bearer_config_from_conf(c, &gw->bcfg);
    if (rc == 0)
        gw_one_sis_table(gw, c);
    gw->self = gw->pparams.node_id;
    if (!gw->self && !util_conf_errcode(c))
        util_conf_fail(c, util_conf_section(c, "pmul", NULL), "node_id", UTIL_ERR_MISSING, "this gateway's node id is required");
    /* the control channel is on with a [control] section (the example
     * config has one); tests and extra gateways on a host run without */
    gw->ctl_on = util_conf_section(c, "control", NULL) != NULL;
    smtpgw_ctl_conf_read(c, &gw->ctl_conf);
    int crc = util_conf_check_unused(c);
    if (crc < 0 || util_conf_errcode(c) || rc < 0) {
        fprintf(stderr, "mulegw: %s\n", util_conf_error(c)[0] ? util_conf_error(c) : mule_strerror(rc));
        return crc < 0 ? crc : rc < 0 ? rc : util_conf_errcode(c);
    }
    return 0;
}

/* ---- the operator's control channel (mulectl) ---------------------------------------- */

/* gw_ctl_node_add - add node to the status list once (not ourselves) */
static void gw_ctl_node_add(struct gw *gw, struct smtpgw_ctl_node *nodes, size_t *n, size_t cap, uint32_t node)
{
    if (!node || node == gw->self)
        return;
    for (size_t i = 0; i < *n; i++)
        if (nodes[i].node == node)
            return;
    if (*n < cap)
        nodes[(*n)++].node = node;
}

/* gw_ctl_status - ops->status: link, queues and every known node */
static int gw_ctl_status(void *user, struct smtpgw_ctl_status *st)
{
    struct gw *gw = user;
    st->version = PACKAGE_VERSION;
    st->node = gw_node_str(gw->self);
    st->now = util_wall_s();
    st->started = gw->started;
    st->bearer = gw->bcfg.kind == PMUL_BEARER_UDP ? "udp" : "sis";
    const struct s5066_link_config *lc = &gw->bcfg.link;
    if (gw->bcfg.kind == PMUL_BEARER_UDP)
        snprintf(gw->server_buf, sizeof gw->server_buf, "%s:%u", gw->bcfg.udp_group, (unsigned)gw->bcfg.udp_port);
    else if (lc->kind == S5066_LINK_SERIAL)
        snprintf(gw->server_buf, sizeof gw->server_buf, "%s:%d", lc->device, lc->baud);
    else
        snprintf(gw->server_buf, sizeof gw->server_buf, "%s:%u", lc->host, (unsigned)lc->port);
    st->server = gw->server_buf;
    struct s5066_link *link = gw->bearer ? pmul_bearer_link(gw->bearer) : NULL;
    st->availability = "";
    if (link) {
        struct s5066_client_status cs;
        s5066_client_get_status(s5066_link_client(link), &cs);
        bool connected = s5066_link_connected(link);
        st->link = connected ? s5066_client_state_name(cs.state) : "disconnected";
        st->sap = lc->client.sap;
        st->mtu = cs.mtu;
        st->flow_on = connected && cs.flow_on;
        switch (connected ? cs.subnet : -1) {
        case S5066_SUBNET_OFF: st->availability = "off"; break;
        case S5066_SUBNET_ON: st->availability = "on"; break;
        case S5066_SUBNET_RECEIVE_ONLY:
            st->availability = cs.subnet_reason == S5066_SUBNET_REASON_EMCON ? "receive-only (emcon)" : "receive-only";
            break;
        case S5066_SUBNET_HALF_DUPLEX: st->availability = "half-duplex"; break;
        case S5066_SUBNET_FULL_DUPLEX: st->availability = "full-duplex"; break;
        case S5066_SUBNET_TRANSMIT_ONLY: st->availability = "transmit-only"; break;
        default: st->availability = "unknown"; break;
        }
    } else {
        st->link = gw->bearer && pmul_bearer_ready(gw->bearer) ? "up" : "down";
        st->flow_on = gw->bearer && pmul_bearer_ready(gw->bearer);
        st->mtu = gw->bearer ? pmul_bearer_pdu_max(gw->bearer) : 0;
    }
    st->emcon = gw->local_emcon;
    gw->problem_buf[0] = '\0';
    char line[400];
    enum util_log_level lvl;
    int64_t when;
    if (util_log_last_problem(line, sizeof line, &lvl, &when)) {
        /* when and how bad: an old warning is not today's problem */
        char date[MULE_DATE_STRLEN];
        struct tm tm;
        time_t t = (time_t)when;
        if (gmtime_r(&t, &tm) && strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", &tm) > 0)
            snprintf(gw->problem_buf, sizeof gw->problem_buf, "%s %s: %s", date,
                     lvl == UTIL_LOG_ERR ? "err" : "warn", line);
    }
    st->last_error = gw->problem_buf;
    st->outgoing = smtpgw_spool_count(gw->spool, SMTPGW_Q_OUTGOING);
    st->incoming = smtpgw_spool_count(gw->spool, SMTPGW_Q_INCOMING);
    st->deliveries = gw->n_deliveries;
    smtpgw_ctl_log_level_apply(NULL, NULL, NULL, gw->level_buf, sizeof gw->level_buf);
    st->log_level = gw->level_buf;
    /* the nodes: the [node] table, the routes, the EMCON list */
    size_t cap = gw->bcfg.nnodes + gw->mule.routes.n_routes * 2 + 2 + gw->n_emcon;
    struct smtpgw_ctl_node *nodes = calloc(cap ? cap : 1, sizeof *nodes);
    if (!nodes)
        return UTIL_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < gw->bcfg.nnodes; i++)
        gw_ctl_node_add(gw, nodes, &n, cap, gw->bcfg.nodes[i].id);
    for (size_t i = 0; i < gw->mule.routes.n_routes; i++) {
        gw_ctl_node_add(gw, nodes, &n, cap, gw->mule.routes.routes[i].node);
        gw_ctl_node_add(gw, nodes, &n, cap, gw->mule.routes.routes[i].via);
    }
    if (gw->mule.routes.def) {
        gw_ctl_node_add(gw, nodes, &n, cap, gw->mule.routes.def->node);
        gw_ctl_node_add(gw, nodes, &n, cap, gw->mule.routes.def->via);
    }
    for (size_t i = 0; i < gw->n_emcon; i++)
        gw_ctl_node_add(gw, nodes, &n, cap, gw->emcon_nodes[i]);
    for (size_t k = 0; k < n; k++) {
        struct smtpgw_ctl_node *nd = &nodes[k];
        const char *name = pmul_bearer_node_name(&gw->bcfg, nd->node);
        nd->name = name ? name : "";
        nd->emcon = gw_is_emcon(gw, nd->node);
        for (size_t i = 0; i < gw->n_acks; i++)
            if (gw->acks[i].node == nd->node)
                nd->last_ack = gw->acks[i].when;
    }
    /* one pass over the spool: held messages, and each node's pending ones
     * (a message counts once per node even if it names the node twice) */
    for (int q = 0; q < SMTPGW_Q_COUNT; q++)
        for (struct smtpgw_envelope *e = smtpgw_spool_first(gw->spool, q); e; e = smtpgw_spool_next(gw->spool, e)) {
            st->held += (e->flags & SMTPGW_ENV_HOLD) != 0;
            if (q != SMTPGW_Q_OUTGOING)
                continue;
            for (size_t k = 0; k < n; k++)
                for (size_t d = 0; d < e->n_dests; d++)
                    if (e->dests[d].node == nodes[k].node && e->dests[d].state == SMTPGW_DEST_OPEN) {
                        nodes[k].pending++;
                        break;
                    }
        }
    st->nodes = nodes;
    st->n_nodes = n;
    return 0;
}

/* gw_ctl_status_done - ops->status_done: free the node list */
static void gw_ctl_status_done(void *user, struct smtpgw_ctl_status *st)
{
    (void)user;
    free(st->nodes);
}

/* gw_ctl_queue - ops->queue: every spooled message, outgoing then incoming */
static int gw_ctl_queue(void *user, smtpgw_ctl_msg_fn each, void *ctx)
{
    struct gw *gw = user;
    for (int q = 0; q < SMTPGW_Q_COUNT; q++) {
        for (struct smtpgw_envelope *e = smtpgw_spool_first(gw->spool, q); e; e = smtpgw_spool_next(gw->spool, e)) {
            const char **rcpts = calloc(e->n_rcpts ? e->n_rcpts : 1, sizeof *rcpts);
            struct smtpgw_ctl_dest *dests = calloc(e->n_dests ? e->n_dests : 1, sizeof *dests);
            if (!rcpts || !dests) {
                free(rcpts);
                free(dests);
                return UTIL_ERR_NOMEM;
            }
            for (size_t i = 0; i < e->n_rcpts; i++)
                rcpts[i] = e->rcpts[i].addr;
            for (size_t d = 0; d < e->n_dests; d++) {
                const char *name = pmul_bearer_node_name(&gw->bcfg, e->dests[d].node);
                dests[d].node = e->dests[d].node;
                dests[d].name = name ? name : "";
                dests[d].state = smtpgw_dest_state_name(e->dests[d].state);
                dests[d].msgid = e->dests[d].msgid;
            }
            struct smtpgw_ctl_msg m = {e->qid,
                                       smtpgw_queue_name(e->queue),
                                       e->arrival,
                                       e->size,
                                       e->priority,
                                       e->from,
                                       (e->flags & SMTPGW_ENV_HOLD) != 0,
                                       e->attempts,
                                       e->next_attempt,
                                       e->n_rcpts,
                                       rcpts,
                                       dests,
                                       e->n_dests};
            each(ctx, &m);
            free(rcpts);
            free(dests);
        }
    }
    return 0;
}

/* gw_ctl_now - ops->now: the clock the spool's times are in */
static int64_t gw_ctl_now(void *user)
{
    return gw_now(user);
}

/* gw_ctl_each - apply fn to the message id names, or to every message
 * ("all"); the number affected, or SMTPGW_ERR_CTL_NOTFOUND */
static int gw_ctl_each(struct gw *gw, const char *id, int (*fn)(struct gw *, struct smtpgw_envelope *))
{
    if (strcmp(id, "all") != 0) {
        struct smtpgw_envelope *e = smtpgw_spool_find(gw->spool, id);
        if (!e)
            return SMTPGW_ERR_CTL_NOTFOUND;
        return fn(gw, e);
    }
    int n = 0;
    for (int q = 0; q < SMTPGW_Q_COUNT; q++)
        for (struct smtpgw_envelope *e = smtpgw_spool_first(gw->spool, q); e;) {
            struct smtpgw_envelope *next = smtpgw_spool_next(gw->spool, e);
            int rc = fn(gw, e);
            if (rc > 0)
                n += rc;
            e = next;
        }
    return n;
}

/* gw_ctl_retry_one - send (outgoing, not in flight) or deliver (incoming) now */
static int gw_ctl_retry_one(struct gw *gw, struct smtpgw_envelope *e)
{
    if (e->flags & SMTPGW_ENV_HOLD)
        return 0;
    if (e->queue == SMTPGW_Q_INCOMING) {
        if (gw_delivery_find(gw, e->qid))
            return 0;
        e->next_attempt = 0;
        smtpgw_spool_update(gw->spool, e);
        return 1;
    }
    if (gw_in_flight(gw, e->qid, 0))
        return 0; /* P_MUL is at it: its own retransmissions */
    gw_submit(gw, e);
    return 1;
}

/* gw_ctl_retry - ops->retry */
static int gw_ctl_retry(void *user, const char *id)
{
    struct gw *gw = user;
    int n = gw_ctl_each(gw, id, gw_ctl_retry_one);
    if (n > 0) {
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "operator-retry", "id=%s messages=%d", id, n);
        gw_start_deliveries(gw);
    }
    return n;
}

/* gw_ctl_drop_one - fail what is open (a DSN to the sender) and remove */
static int gw_ctl_drop_one(struct gw *gw, struct smtpgw_envelope *e)
{
    static const char diag[] = "x-mule; dropped by the operator";
    if (e->queue == SMTPGW_Q_INCOMING && gw_delivery_find(gw, e->qid))
        return SMTPGW_ERR_CTL_STATE; /* being delivered right now */
    char qid[SMTPGW_QID_LEN];
    snprintf(qid, sizeof qid, "%s", e->qid);
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "operator-drop", "qid=%s queue=%s", qid, smtpgw_queue_name(e->queue));
    if (e->queue == SMTPGW_Q_OUTGOING && gw_in_flight(gw, qid, 0)) {
        /* P_MUL cancels it: dest_done (CANCELLED) fails the recipients,
         * message_done sends the DSN and removes it */
        util_ms now = pmul_bearer_now(gw->bearer);
        for (struct gw_flight *f = gw->flights, *next; f; f = next) {
            next = f->next;
            if (strcmp(f->qid, qid) == 0)
                pmul_engine_cancel(pmul_bearer_engine(gw->bearer), now, f->handle);
        }
        pmul_bearer_kick(gw->bearer);
        return 1;
    }
    for (size_t d = 0; d < e->n_dests; d++)
        if (e->dests[d].state == SMTPGW_DEST_OPEN)
            e->dests[d].state = SMTPGW_DEST_FAILED;
    for (size_t i = 0; i < e->n_rcpts; i++)
        if (e->rcpts[i].state == SMTPGW_RCPT_OPEN)
            smtpgw_envelope_set_rcpt(e, i, SMTPGW_RCPT_FAILED, "5.3.0", diag);
    smtpgw_spool_update(gw->spool, e);
    gw_finish_failed(gw, e, "5.3.0", diag);
    e = smtpgw_spool_find(gw->spool, qid);
    if (e) { /* reported (or no DSN wanted): nothing keeps it */
        for (size_t i = 0; i < e->n_rcpts; i++)
            if (e->rcpts[i].state == SMTPGW_RCPT_FAILED)
                smtpgw_envelope_set_rcpt(e, i, SMTPGW_RCPT_REPORTED, NULL, NULL);
        gw_maybe_remove(gw, e);
    }
    return 1;
}

/* gw_ctl_drop - ops->drop (one message; "all" is refused by the engine) */
static int gw_ctl_drop(void *user, const char *id)
{
    return gw_ctl_each(user, id, gw_ctl_drop_one);
}

/* gw_ctl_hold_one - set the hold flag (an in-flight P_MUL message finishes) */
static int gw_ctl_hold_one(struct gw *gw, struct smtpgw_envelope *e)
{
    if (e->flags & SMTPGW_ENV_HOLD)
        return 0;
    e->flags |= SMTPGW_ENV_HOLD;
    smtpgw_spool_update(gw->spool, e);
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "operator-hold", "qid=%s queue=%s", e->qid, smtpgw_queue_name(e->queue));
    return 1;
}

/* gw_ctl_release_one - clear the hold flag and carry on */
static int gw_ctl_release_one(struct gw *gw, struct smtpgw_envelope *e)
{
    if (!(e->flags & SMTPGW_ENV_HOLD))
        return 0;
    e->flags &= (uint8_t)~SMTPGW_ENV_HOLD;
    smtpgw_spool_update(gw->spool, e);
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "operator-release", "qid=%s queue=%s", e->qid,
             smtpgw_queue_name(e->queue));
    if (e->queue == SMTPGW_Q_OUTGOING)
        gw_submit(gw, e);
    return 1;
}

/* gw_ctl_hold - ops->hold */
static int gw_ctl_hold(void *user, const char *id)
{
    struct gw *gw = user;
    int n = gw_ctl_each(gw, id, gw_ctl_hold_one);
    if (n == 0 && strcmp(id, "all") != 0)
        return SMTPGW_ERR_CTL_STATE; /* already held */
    return n;
}

/* gw_ctl_release - ops->release */
static int gw_ctl_release(void *user, const char *id)
{
    struct gw *gw = user;
    int n = gw_ctl_each(gw, id, gw_ctl_release_one);
    if (n == 0 && strcmp(id, "all") != 0)
        return SMTPGW_ERR_CTL_STATE; /* not held */
    gw_start_deliveries(gw);
    return n;
}

/* gw_ctl_emcon - ops->emcon: our own radio silence, or a destination's */
static int gw_ctl_emcon(void *user, uint32_t node, bool on)
{
    struct gw *gw = user;
    if (node == 0) {
        gw->local_emcon = on;
        pmul_bearer_set_emcon(gw->bearer, on);
        pmul_bearer_kick(gw->bearer);
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "operator-emcon", "node=local emcon=%s", on ? "on" : "off");
        return 0;
    }
    if (node == gw->self)
        return gw_ctl_emcon(user, 0, on);
    bool was = gw_is_emcon(gw, node);
    if (on && !was) {
        if (gw->n_emcon == GW_MAX_EMCON)
            return UTIL_ERR_RANGE;
        gw->emcon_nodes[gw->n_emcon++] = node;
    } else if (!on && was) {
        for (size_t i = 0; i < gw->n_emcon; i++)
            if (gw->emcon_nodes[i] == node)
                gw->emcon_nodes[i] = gw->emcon_nodes[--gw->n_emcon];
    }
    pmul_engine_set_dest_emcon(pmul_bearer_engine(gw->bearer), pmul_bearer_now(gw->bearer), node, on);
    pmul_bearer_kick(gw->bearer);
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "operator-emcon", "node=%s emcon=%s", gw_node_str(node),
             on ? "on" : "off");
    return 0;
}

/* gw_ctl_node_lookup - ops->node_lookup: a [node NAME] */
static int gw_ctl_node_lookup(void *user, const char *name, uint32_t *id)
{
    struct gw *gw = user;
    return pmul_bearer_find_node(&gw->bcfg, name, id) == 0 ? 0 : SMTPGW_ERR_CTL_NODE;
}

/* gw_ctl_log_level - ops->log_level: util's logger, and say so in the log */
static int gw_ctl_log_level(void *user, const char *level, const char *trace, char *out, size_t cap)
{
    (void)user;
    int rc = smtpgw_ctl_log_level_apply(NULL, level, trace, out, cap);
    if (rc >= 0 && level)
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_MAIN, "log-level", "now=\"%s\"", out);
    return rc;
}

static const struct smtpgw_ctl_ops gw_ctl_ops = {
    gw_ctl_status, gw_ctl_status_done, gw_ctl_queue,   gw_ctl_now,         gw_ctl_retry,    gw_ctl_drop,
    gw_ctl_hold,   gw_ctl_release,     gw_ctl_emcon,   gw_ctl_node_lookup, gw_ctl_log_level,
};

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
        printf("mulegw: %s: configuration OK (node %s, %zu routes)\n", gw->conf_path, gw_node_str(gw->self),
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
             "node=%s smtp_port=%d outgoing=%zu incoming=%zu spool=%s control=%s", gw_node_str(gw->self),
             smtpgw_server_port(gw->smtp, 0), smtpgw_spool_count(gw->spool, SMTPGW_Q_OUTGOING),
             smtpgw_spool_count(gw->spool, SMTPGW_Q_INCOMING), gw->spool_dir,
             gw->ctl_on ? gw->ctl_conf.socket : "off");
    util_log_echo_stderr(false);
    gw_pump(gw);
    ev_run(gw->loop, 0);

    gw_sync(gw); /* what was received in full is committed and answered */
    smtpgw_server_shutdown(gw->smtp);
    while (gw->deliveries) {
        struct gw_delivery *d = gw->deliveries;
        gw->deliveries = d->next;
        smtpgw_deliver_free(d->d);
        free(d);
    }
    while (gw->flights) {
        struct gw_flight *f = gw->flights;
        gw->flights = f->next;
        free(f);
    }
    smtpgw_ctl_close(gw->ctl);
    smtpgw_server_free(gw->smtp);
    pmul_bearer_free(gw->bearer);
    smtpgw_spool_close(gw->spool);
    mule_config_free(&gw->mule);
    pmul_bearer_config_free(&gw->bcfg);
    util_conf_free(gw->conf);
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_MAIN, "stopped", "node=%s", gw_node_str(gw->self));
    return 0;
}
