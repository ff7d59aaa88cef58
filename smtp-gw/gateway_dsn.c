/* gateway_dsn.c - the gateway engine's delivery status notifications
 * (RFC 3461 NOTIFY, RFC 3464 format, built by mule/dsn.c): "failed" for
 * recipients that failed for good, "delayed" once per message after
 * delay_warning or at a DELIVERBY ;N deadline (RFC 2852 4.1), "relayed"
 * where the DSN chain ends.  A DSN goes to the return path over HF (as a
 * new outgoing message, submitted at once) or to the LAN MTA (incoming,
 * delivered at once); a DSN never gets a DSN.
 */
#include "smtp-gw/gateway_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* action_name - the DSN action as logged */
static const char *action_name(enum mule_dsn_action a)
{
    switch (a) {
    case MULE_DSN_FAILED: return "failed";
    case MULE_DSN_DELAYED: return "delayed";
    case MULE_DSN_RELAYED: return "relayed";
    case MULE_DSN_DELIVERED: return "delivered";
    }
    return "?";
}

/* return_route - the route of a return path over HF, or NULL (the LAN) */
static const struct mule_route *return_route(const struct smtpgw_gateway *gw, const char *addr)
{
    const char *dom = mule_address_domain(addr);
    if (!*dom || mule_domain_is_local(&gw->cfg.mule->routes, dom))
        return NULL;
    const struct mule_route *r = mule_route_lookup(&gw->cfg.mule->routes, dom);
    return r && r->node != gw->cfg.self ? r : NULL;
}

/* spool_dsn - spool the DSN message text towards env's return path and
 * send it on at once; 0 or negative */
static int spool_dsn(struct smtpgw_gateway *gw, int64_t now, const struct smtpgw_envelope *env,
                     const struct util_buf *text, enum mule_dsn_action action, size_t m)
{
    struct smtpgw_envelope de;
    struct smtpgw_spool_rcpt rr;
    struct smtpgw_spool_dest dd;
    memset(&de, 0, sizeof de);
    memset(&rr, 0, sizeof rr);
    memset(&dd, 0, sizeof dd);
    rr.addr = env->from;
    rr.params = "";
    rr.dest = -1;
    de.flags = SMTPGW_ENV_DSN;
    de.from = "";
    de.mail_params = "";
    de.rcpts = &rr;
    de.n_rcpts = 1;
    de.priority = env->priority;
    de.arrival = now;
    de.expiry = now + gwe_lifetime(gw, env->priority);
    const struct mule_route *r = return_route(gw, env->from);
    struct smtpgw_envelope *made = NULL;
    int rc;
    if (r) {
        dd.node = r->via ? r->via : r->node;
        dd.final_node = r->via ? r->node : 0;
        rr.dest = 0;
        de.dests = &dd;
        de.n_dests = 1;
        rc = gw->sp->add(gw->sph, SMTPGW_Q_OUTGOING, &de, text->data, text->len, &made);
    } else {
        rc = gw->sp->add(gw->sph, SMTPGW_Q_INCOMING, &de, text->data, text->len, &made);
    }
    gwe_log(gw, rc == 0 ? UTIL_LOG_NOTICE : UTIL_LOG_ERR, "dsn", "qid=%s action=%s rcpts=%zu to=<%s> via=%s dsn_qid=%s%s%s",
            env->qid, action_name(action), m, env->from, r ? "hf" : "lan", made ? made->qid : "-",
            rc == 0 ? "" : " error=", rc == 0 ? "" : smtpgw_spool_strerror(rc));
    /* over HF it travels at once, like any message; to the LAN it is due
     * at once (smtpgw_gateway_tick_wanted says so to the glue) */
    if (rc == 0 && made && r)
        gwe_submit(gw, now, made);
    gw->tick_wanted |= rc == 0;
    return rc;
}

/* gwe_dsn - spool a DSN of `action` for env's recipients idx[0..n) */
int gwe_dsn(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env, const size_t *idx, size_t n,
            enum mule_dsn_action action, const char *status, const char *diag)
{
    if (!*env->from || (env->flags & SMTPGW_ENV_DSN))
        return 0; /* null return path, or a DSN itself: never a DSN */
    bool trace = env->by_trace && (action == MULE_DSN_RELAYED || action == MULE_DSN_DELIVERED);
    struct mule_dsn_rcpt *dr = calloc(n ? n : 1, sizeof *dr);
    if (!dr)
        return UTIL_ERR_NOMEM;
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        const struct smtpgw_spool_rcpt *r = &env->rcpts[idx[k]];
        if (!trace && !mule_dsn_wanted(r->params, action))
            continue;
        dr[m].addr = r->addr;
        dr[m].params = r->params;
        dr[m].action = action;
        dr[m].status = r->status[0] ? r->status : status;
        dr[m].diagnostic = action == MULE_DSN_RELAYED ? NULL : r->diag ? r->diag : diag;
        if (action == MULE_DSN_DELAYED)
            dr[m].will_retry_until = env->queue == SMTPGW_Q_OUTGOING
                                         ? env->expiry
                                         : env->arrival + gw->cfg.retry.max_age_s;
        m++;
    }
    int rc = 0;
    if (m > 0) {
        struct util_buf orig, out;
        util_buf_init(&orig, 0);
        util_buf_init(&out, 0);
        rc = gw->sp->read_content(gw->sph, env, &orig);
        if (rc == 0) {
            struct mule_dsn d;
            memset(&d, 0, sizeof d);
            d.return_path = env->from;
            d.mail_params = env->mail_params;
            d.rcpts = dr;
            d.n_rcpts = m;
            d.message = orig.data;
            d.message_len = orig.len;
            d.hostname = gw->cfg.hostname;
            d.now = gwe_mail_date(gw, now); /* a DSN's Date is real time, even in a scaled test */
            d.arrival = env->arrival;
            d.force_trace = trace;
            rc = mule_dsn_build(&d, &out);
        }
        if (rc < 0)
            gwe_log(gw, UTIL_LOG_ERR, "dsn-failed", "qid=%s to=<%s> error=\"%s\"", env->qid, env->from,
                    mule_strerror(rc));
        else if (rc > 0 && out.len)
            rc = spool_dsn(gw, now, env, &out, action, m);
        else
            rc = 0;
        util_buf_free(&orig);
        util_buf_free(&out);
    }
    free(dr);
    return rc < 0 ? rc : 0;
}

/* gwe_finish_failed - DSNs for env's FAILED recipients, then REPORTED; if
 * the DSN cannot be spooled they stay FAILED (the message stays, and the
 * next tick tries again) */
void gwe_finish_failed(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env, const char *status,
                       const char *diag)
{
    size_t *idx = calloc(env->n_rcpts ? env->n_rcpts : 1, sizeof *idx);
    size_t n = 0;
    if (!idx)
        return;
    for (size_t i = 0; i < env->n_rcpts; i++)
        if (env->rcpts[i].state == SMTPGW_RCPT_FAILED)
            idx[n++] = i;
    if (n && gwe_dsn(gw, now, env, idx, n, MULE_DSN_FAILED, status, diag) == 0) {
        for (size_t k = 0; k < n; k++)
            smtpgw_envelope_set_rcpt(env, idx[k], SMTPGW_RCPT_REPORTED, NULL, NULL);
        gw->sp->update(gw->sph, env);
    }
    free(idx);
}

/* waiting - whether recipient i of env still waits (a delay is news for it) */
static bool waiting(const struct smtpgw_envelope *env, size_t i)
{
    uint8_t s = env->rcpts[i].state;
    return s == SMTPGW_RCPT_OPEN || s == SMTPGW_RCPT_RELAY;
}

/* gwe_delay_due - when env's delayed DSN is due (INT64_MAX: never) */
int64_t gwe_delay_due(const struct smtpgw_gateway *gw, const struct smtpgw_envelope *env)
{
    if ((env->flags & (SMTPGW_ENV_DSN | SMTPGW_ENV_DELAY)) || !*env->from)
        return INT64_MAX;
    bool any = false;
    for (size_t i = 0; i < env->n_rcpts && !any; i++)
        any = waiting(env, i) && mule_dsn_wanted(env->rcpts[i].params, MULE_DSN_DELAYED);
    if (!any)
        return INT64_MAX;
    int64_t due = INT64_MAX;
    if (gw->cfg.delay_warning > 0)
        due = env->arrival + gw->cfg.delay_warning;
    if (env->by_mode == 'N' && env->by_time > 0) /* RFC 2852 4.1: notify at the by-time */
        due = UTIL_MIN(due, env->arrival + env->by_time);
    return due;
}

/* gwe_delay_check - a "delayed" DSN for env's waiting recipients, once */
void gwe_delay_check(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env)
{
    if (env->flags & SMTPGW_ENV_HOLD)
        return;
    int64_t due = gwe_delay_due(gw, env);
    if (due > now)
        return;
    size_t *idx = calloc(env->n_rcpts, sizeof *idx);
    if (!idx)
        return;
    size_t n = 0;
    for (size_t i = 0; i < env->n_rcpts; i++)
        if (waiting(env, i))
            idx[n++] = i;
    if (gwe_dsn(gw, now, env, idx, n, MULE_DSN_DELAYED, "4.4.7", "x-mule; not yet delivered") == 0) {
        env->flags |= SMTPGW_ENV_DELAY;
        gw->sp->update(gw->sph, env);
    }
    free(idx);
}
