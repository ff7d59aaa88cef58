/* gateway.c - the gateway engine (gateway.h): SMTP intake (RFC 5321
 * relay control, RFC 1870 SIZE against the far node's limit, RFC 6710
 * MT-PRIORITY and RFC 2852 DELIVERBY into P_MUL priority and expiry as
 * RFC 8494 section 4 maps them), sending over ACP 142 P_MUL (one message
 * per group of destinations, or one each with split: RFC 8494 section 3
 * step 6), delivery to the LAN MTA with retries, time, and the operator's
 * commands.  DSNs are in gateway_dsn.c, the receive side in gateway_rx.c.
 */
#include "smtp-gw/gateway_priv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the real spool ---------------------------------------------------------------- */

/* real_first - smtpgw_spool_first */
static struct smtpgw_envelope *real_first(void *sp, enum smtpgw_queue q)
{
    return smtpgw_spool_first(sp, q);
}

/* real_next - smtpgw_spool_next */
static struct smtpgw_envelope *real_next(void *sp, struct smtpgw_envelope *env)
{
    return smtpgw_spool_next(sp, env);
}

/* real_find - smtpgw_spool_find */
static struct smtpgw_envelope *real_find(void *sp, const char *qid)
{
    return smtpgw_spool_find(sp, qid);
}

/* real_update - smtpgw_spool_update */
static int real_update(void *sp, struct smtpgw_envelope *env)
{
    return smtpgw_spool_update(sp, env);
}

/* real_update_later - smtpgw_spool_update_later */
static void real_update_later(void *sp, struct smtpgw_envelope *env)
{
    smtpgw_spool_update_later(sp, env);
}

/* real_add - smtpgw_spool_add_outgoing / _incoming */
static int real_add(void *sp, enum smtpgw_queue q, const struct smtpgw_envelope *env, const uint8_t *content,
                    size_t len, struct smtpgw_envelope **out)
{
    return q == SMTPGW_Q_OUTGOING ? smtpgw_spool_add_outgoing(sp, env, content, len, out)
                                  : smtpgw_spool_add_incoming(sp, env, content, len, out);
}

/* real_add_copy - smtpgw_spool_add_copy */
static int real_add_copy(void *sp, const struct smtpgw_envelope *content_of, const struct smtpgw_envelope *env,
                         enum smtpgw_queue q, struct smtpgw_envelope **out)
{
    return smtpgw_spool_add_copy(sp, content_of, env, q, out);
}

/* real_remove - smtpgw_spool_remove */
static int real_remove(void *sp, struct smtpgw_envelope *env)
{
    return smtpgw_spool_remove(sp, env);
}

/* real_read_content - smtpgw_spool_read_content */
static int real_read_content(void *sp, const struct smtpgw_envelope *env, struct util_buf *out)
{
    return smtpgw_spool_read_content(sp, env, out);
}

/* real_was_delivered - smtpgw_spool_was_delivered */
static bool real_was_delivered(void *sp, uint32_t src, uint32_t msgid)
{
    return smtpgw_spool_was_delivered(sp, src, msgid);
}

/* real_record_delivered - smtpgw_spool_record_delivered */
static int real_record_delivered(void *sp, uint32_t src, uint32_t msgid, int64_t expiry)
{
    return smtpgw_spool_record_delivered(sp, src, msgid, expiry);
}

const struct smtpgw_gateway_spool_ops smtpgw_gateway_spool_real = {
    real_first,  real_next,         real_find,          real_update,          real_update_later, real_add,
    real_add_copy, real_remove,     real_read_content,  real_was_delivered,   real_record_delivered,
};

/* ---- small helpers --------------------------------------------------------------- */

/* gwe_log - format one event line and pass it to the log callback */
void gwe_log(struct smtpgw_gateway *gw, enum util_log_level level, const char *event, const char *fmt, ...)
{
    if (!gw->cb.log)
        return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    gw->cb.log(gw->user, level, event, text);
}

/* gwe_mail_date - the real time for dates in generated mail */
int64_t gwe_mail_date(struct smtpgw_gateway *gw, int64_t now)
{
    return gw->cb.mail_date ? gw->cb.mail_date(gw->user) : now;
}

/* gwe_lifetime - the lifetime of a P_MUL priority (any 0..255) */
int64_t gwe_lifetime(const struct smtpgw_gateway *gw, unsigned priority)
{
    return (int64_t)mule_prio_lifetime(gw->cfg.prio, priority);
}

/* gwe_count_state - env's recipients in state */
size_t gwe_count_state(const struct smtpgw_envelope *env, enum smtpgw_rcpt_state state)
{
    size_t n = 0;
    for (size_t i = 0; i < env->n_rcpts; i++)
        n += env->rcpts[i].state == state;
    return n;
}

/* flight_find - the flight of a P_MUL handle (and the link to it), or NULL */
static struct gwe_flight *flight_find(struct smtpgw_gateway *gw, uint64_t handle, struct gwe_flight ***link)
{
    for (struct gwe_flight **p = &gw->flights; *p; p = &(*p)->next)
        if ((*p)->handle == handle) {
            if (link)
                *link = p;
            return *p;
        }
    return NULL;
}

/* in_flight - whether P_MUL is sending message msgid of qid */
static bool in_flight(const struct smtpgw_gateway *gw, const char *qid, uint32_t msgid)
{
    for (const struct gwe_flight *f = gw->flights; f; f = f->next)
        if (strcmp(f->qid, qid) == 0 && f->msgid == msgid)
            return true;
    return false;
}

/* env_flying - whether P_MUL is sending any message of env (env->user
 * counts its flights: the engine's own field, not stored) */
static bool env_flying(const struct smtpgw_envelope *env)
{
    return env->user != NULL;
}

/* delivery_find - the running LAN delivery of qid (and the link to it), or NULL */
static struct gwe_delivery *delivery_find(const struct smtpgw_gateway *gw, const char *qid,
                                          struct gwe_delivery *const **link)
{
    for (struct gwe_delivery *const *p = &gw->deliveries; *p; p = &(*p)->next)
        if (strcmp((*p)->qid, qid) == 0) {
            if (link)
                *link = p;
            return *p;
        }
    return NULL;
}

/* smtpgw_gateway_is_emcon - whether node is known to be in EMCON */
bool smtpgw_gateway_is_emcon(const struct smtpgw_gateway *gw, uint32_t node)
{
    for (size_t i = 0; i < gw->n_emcon; i++)
        if (gw->emcon[i] == node)
            return true;
    return false;
}

/* smtpgw_gateway_set_emcon - a destination node's EMCON */
int smtpgw_gateway_set_emcon(struct smtpgw_gateway *gw, uint32_t node, bool on)
{
    bool was = smtpgw_gateway_is_emcon(gw, node);
    if (on && !was) {
        if (gw->n_emcon == GWE_MAX_EMCON)
            return UTIL_ERR_RANGE;
        gw->emcon[gw->n_emcon++] = node;
    } else if (!on && was) {
        for (size_t i = 0; i < gw->n_emcon; i++)
            if (gw->emcon[i] == node) {
                gw->emcon[i] = gw->emcon[--gw->n_emcon];
                break;
            }
    }
    return 0;
}

/* smtpgw_gateway_last_ack - when node last acknowledged a message of ours */
int64_t smtpgw_gateway_last_ack(const struct smtpgw_gateway *gw, uint32_t node)
{
    for (size_t i = 0; i < gw->n_acks; i++)
        if (gw->acks[i].node == node)
            return gw->acks[i].when;
    return 0;
}

/* heard_ack - remember when node last acknowledged one of our messages */
static void heard_ack(struct smtpgw_gateway *gw, int64_t now, uint32_t node)
{
    size_t i = 0;
    while (i < gw->n_acks && gw->acks[i].node != node)
        i++;
    if (i == gw->n_acks) {
        if (gw->n_acks == GWE_MAX_ACKS)
            return;
        gw->n_acks++;
    }
    gw->acks[i].node = node;
    gw->acks[i].when = now;
}

/* smtpgw_gateway_node_limit - the largest message node takes */
uint64_t smtpgw_gateway_node_limit(const struct smtpgw_gateway *gw, uint32_t node)
{
    for (size_t i = 0; i < gw->cfg.n_limits; i++)
        if (gw->cfg.limits[i].node == node)
            return gw->cfg.limits[i].max_message_size;
    return gw->cfg.mule->max_message_size;
}

/* route_limit - the largest message a route's nodes (relay and destination) take */
static uint64_t route_limit(const struct smtpgw_gateway *gw, const struct mule_route *r)
{
    uint64_t lim = smtpgw_gateway_node_limit(gw, r->node);
    if (r->via)
        lim = UTIL_MIN(lim, smtpgw_gateway_node_limit(gw, r->via));
    return lim;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

/* smtpgw_gateway_new - an engine over a spool */
struct smtpgw_gateway *smtpgw_gateway_new(const struct smtpgw_gateway_config *cfg,
                                          const struct smtpgw_gateway_spool_ops *ops, void *spool_handle,
                                          const struct smtpgw_gateway_callbacks *cb, void *user)
{
    struct smtpgw_gateway *gw = calloc(1, sizeof *gw);
    if (!gw)
        return NULL;
    gw->cfg = *cfg;
    if (!gw->cfg.max_deliveries)
        gw->cfg.max_deliveries = 1;
    gw->sp = ops;
    gw->sph = spool_handle;
    gw->cb = *cb;
    gw->user = user;
    return gw;
}

/* smtpgw_gateway_free - release */
void smtpgw_gateway_free(struct smtpgw_gateway *gw)
{
    if (!gw)
        return;
    while (gw->flights) {
        struct gwe_flight *f = gw->flights;
        gw->flights = f->next;
        free(f);
    }
    while (gw->deliveries) {
        struct gwe_delivery *d = gw->deliveries;
        gw->deliveries = d->next;
        free(d);
    }
    free(gw);
}

/* ---- removal ------------------------------------------------------------------------- */

/* gwe_maybe_remove - an envelope with nothing left to do leaves the spool */
void gwe_maybe_remove(struct smtpgw_gateway *gw, struct smtpgw_envelope *env)
{
    for (size_t i = 0; i < env->n_rcpts; i++) {
        uint8_t s = env->rcpts[i].state;
        if (s == SMTPGW_RCPT_OPEN || s == SMTPGW_RCPT_FAILED || s == SMTPGW_RCPT_RELAY)
            return;
    }
    if (env_flying(env))
        return;
    if (delivery_find(gw, env->qid, NULL))
        return;
    char qid[SMTPGW_QID_LEN];
    snprintf(qid, sizeof qid, "%s", env->qid);
    const char *q = smtpgw_queue_name(env->queue);
    int rc = gw->sp->remove(gw->sph, env);
    if (rc == 0)
        gwe_log(gw, UTIL_LOG_INFO, "removed", "qid=%s queue=%s", qid, q);
    else
        gwe_log(gw, UTIL_LOG_ERR, "remove-failed", "qid=%s queue=%s error=\"%s\"", qid, q,
                smtpgw_spool_strerror(rc));
}

/* ---- the SMTP side -------------------------------------------------------------------- */

/* smtpgw_gateway_rcpt_check - relay control and the destination's size limit */
int smtpgw_gateway_rcpt_check(struct smtpgw_gateway *gw, const struct smtpgw_txn *txn, const char *addr,
                              char *text, size_t cap)
{
    const struct mule_route *r = mule_route_lookup(&gw->cfg.mule->routes, mule_address_domain(addr));
    if (r && r->node == gw->cfg.self && !r->via) {
        snprintf(text, cap, "5.1.2 <%s>: this gateway delivers that domain from HF only", addr);
        return 550;
    }
    int code = smtpgw_relay_check(&gw->cfg.mule->routes, addr, text, cap);
    if (code || !r)
        return code;
    uint64_t lim = route_limit(gw, r);
    if (txn && txn->size > lim) {
        snprintf(text, cap, "5.3.4 <%s>: message size %llu exceeds the limit of HF node %s (%llu bytes)", addr,
                 (unsigned long long)txn->size, mule_node_str(r->node), (unsigned long long)lim);
        return 552;
    }
    return 0;
}

/* smtpgw_gateway_intake_free - release a plan */
void smtpgw_gateway_intake_free(struct smtpgw_gateway_intake *in)
{
    free(in->rcpts);
    in->rcpts = NULL;
}

/* smtpgw_gateway_plan - the envelope of a complete SMTP message */
int smtpgw_gateway_plan(struct smtpgw_gateway *gw, int64_t now, const struct smtpgw_txn *txn, uint64_t size,
                        struct smtpgw_gateway_intake *in, char *text, size_t cap)
{
    memset(in, 0, sizeof *in);
    size_t n = txn->n_rcpts;
    const char **addrs = calloc(n ? n : 1, sizeof *addrs);
    in->rcpts = calloc(n ? n : 1, sizeof *in->rcpts);
    if (!addrs || !in->rcpts) {
        free(addrs);
        smtpgw_gateway_intake_free(in);
        snprintf(text, cap, "4.3.0 Out of memory");
        return 451;
    }
    for (size_t i = 0; i < n; i++)
        addrs[i] = txn->rcpts[i].addr;
    /* the size every destination must take (RFC 1870: 552 after DATA) */
    for (size_t i = 0; i < n; i++) {
        const struct mule_route *r = mule_route_lookup(&gw->cfg.mule->routes, mule_address_domain(addrs[i]));
        if (r && size > route_limit(gw, r)) {
            snprintf(text, cap, "5.3.4 Message size %llu exceeds the limit of HF node %s (%llu bytes)",
                     (unsigned long long)size, mule_node_str(r->node), (unsigned long long)route_limit(gw, r));
            free(addrs);
            smtpgw_gateway_intake_free(in);
            return 552;
        }
    }
    struct mule_plan plan;
    if (mule_route_plan(&gw->cfg.mule->routes, gw->cfg.self, addrs, n, gw->cfg.mule->split, &plan) < 0) {
        free(addrs);
        smtpgw_gateway_intake_free(in);
        snprintf(text, cap, "4.3.0 Routing failed");
        return 451;
    }
    struct smtpgw_spool_rcpt *rr = in->rcpts;
    size_t nd = UTIL_MIN(plan.n_dests, (size_t)SMTPGW_MAX_DESTS);
    for (size_t i = 0; i < n; i++) {
        rr[i].addr = txn->rcpts[i].addr;
        rr[i].params = txn->rcpts[i].params;
        rr[i].dest = -1;
    }
    for (size_t d = 0; d < nd; d++) {
        in->dests[d].node = plan.dests[d].node;
        for (size_t k = 0; k < plan.dests[d].n_rcpt; k++)
            rr[plan.dests[d].rcpt[k]].dest = (int16_t)d;
    }
    for (size_t i = 0; i < n; i++)
        if (rr[i].dest < 0) { /* cannot happen after rcpt_check, but be safe */
            rr[i].state = SMTPGW_RCPT_FAILED;
            snprintf(rr[i].status, sizeof rr[i].status, "5.4.4");
            rr[i].diag = "x-mule; no route";
        }
    mule_plan_free(&plan);
    free(addrs);
    int pmul_prio = mule_pmul_priority(txn->has_mt_priority ? txn->mt_priority : 0);
    struct mule_expiry ex;
    if (mule_expiry_compute(gw->cfg.prio, txn->mail_params, now, &ex) < 0)
        ex.expiry = now + gwe_lifetime(gw, (unsigned)pmul_prio);
    struct smtpgw_envelope *env = &in->env;
    env->from = txn->mail_from;
    env->mail_params = txn->mail_params;
    env->rcpts = rr;
    env->n_rcpts = (uint16_t)n;
    env->dests = in->dests;
    env->n_dests = (uint16_t)nd;
    env->priority = (uint8_t)pmul_prio;
    env->arrival = now;
    env->expiry = ex.expiry;
    return 0;
}

/* smtpgw_gateway_on_accepted - an SMTP message is durable: DSNs, then send it */
void smtpgw_gateway_on_accepted(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env)
{
    char qid[SMTPGW_QID_LEN];
    snprintf(qid, sizeof qid, "%s", env->qid);
    gwe_finish_failed(gw, now, env, "5.4.4", NULL);
    env = gw->sp->find(gw->sph, qid);
    if (env)
        gwe_submit(gw, now, env);
}

/* ---- sending over P_MUL ------------------------------------------------------------------ */

/* expire_outgoing - an outgoing envelope expired while it waited: fail what is open */
static void expire_outgoing(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env)
{
    static const char diag[] = "x-mule; delivery time expired";
    for (size_t d = 0; d < env->n_dests; d++)
        if (env->dests[d].state == SMTPGW_DEST_OPEN)
            env->dests[d].state = SMTPGW_DEST_FAILED;
    for (size_t i = 0; i < env->n_rcpts; i++)
        if (env->rcpts[i].state == SMTPGW_RCPT_OPEN)
            smtpgw_envelope_set_rcpt(env, i, SMTPGW_RCPT_FAILED, "4.4.7", diag);
    gw->sp->update(gw->sph, env);
    gwe_log(gw, UTIL_LOG_WARN, "expired", "qid=%s queue=outgoing", env->qid);
    gwe_finish_failed(gw, now, env, "4.4.7", diag);
}

/* submit_group - send one group of env's destinations (gidx[0..ng)) over P_MUL */
static int submit_group(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env, const size_t *gidx,
                        size_t ng)
{
    struct smtpgw_spool_dest *fd = &env->dests[gidx[0]];
    /* the payload: the envelope's recipients those destinations carry */
    struct mule_rcpt *mr = calloc(env->n_rcpts ? env->n_rcpts : 1, sizeof *mr);
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
        gw->sp->update(gw->sph, env);
        return 0;
    }
    /* a relay lowers DELIVERBY by the time it held the message (RFC 2852 4) */
    char params[1024];
    const char *mail_params = env->mail_params;
    if (env->by_mode && env->src_node) {
        int n = mule_deliverby_rewrite(env->mail_params, now - env->arrival, params, sizeof params);
        if (n >= 0)
            mail_params = params;
    }
    struct mule_envelope me = {env->from, mail_params, mr, nr, NULL};
    struct util_buf content, payload, cdt;
    util_buf_init(&content, 0);
    util_buf_init(&payload, 0);
    util_buf_init(&cdt, 0);
    int rc = gw->sp->read_content(gw->sph, env, &content);
    if (rc == 0)
        rc = mule_payload_build(&me, content.data, content.len, &payload);
    if (rc == 0)
        rc = mule_compress_payload(gw->cfg.mule, payload.data, payload.len, &cdt, NULL);
    free(mr);
    util_buf_free(&content);
    util_buf_free(&payload);
    if (rc < 0) {
        gwe_log(gw, UTIL_LOG_ERR, "encode-failed", "qid=%s error=\"%s\"", env->qid, smtpgw_strerror(rc));
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
        ds[k].emcon = smtpgw_gateway_is_emcon(gw, x->node);
        int w = snprintf(list + off, sizeof list - off, "%s%s", k ? "," : "", mule_node_str(x->node));
        if (w > 0 && (size_t)w < sizeof list - off)
            off += (size_t)w;
    }
    struct pmul_message pm = {cdt.data, cdt.len, ds, ng, env->priority, env->expiry, fd->msgid};
    uint64_t handle = 0;
    rc = gw->cb.submit(gw->user, &pm, &handle);
    util_buf_free(&cdt);
    if (rc < 0) {
        gwe_log(gw, UTIL_LOG_ERR, "submit-failed", "qid=%s error=\"%s\"", env->qid, pmul_strerror(rc));
        return rc;
    }
    bool changed = false;
    for (size_t k = 0; k < ng; k++) {
        changed |= env->dests[gidx[k]].msgid != pm.message_id || env->dests[gidx[k]].msn != ds[k].msn;
        env->dests[gidx[k]].msgid = pm.message_id;
        env->dests[gidx[k]].msn = ds[k].msn;
    }
    if (changed)
        gw->sp->update(gw->sph, env); /* the ids survive a restart */
    struct gwe_flight *f = calloc(1, sizeof *f);
    if (f) {
        f->handle = handle;
        f->msgid = pm.message_id;
        snprintf(f->qid, sizeof f->qid, "%s", env->qid);
        f->next = gw->flights;
        gw->flights = f;
        env->user = (void *)((uintptr_t)env->user + 1);
    }
    char exp[UTIL_TIME_ISO_LEN];
    gwe_log(gw, UTIL_LOG_NOTICE, "submitted",
            "qid=%s src=%s msgid=%u dests=%s rcpts=%zu bytes=%zu priority=%u expiry=%s", env->qid,
            mule_node_str(gw->cfg.self), pm.message_id, list, nr, pm.len, env->priority,
            util_time_iso(env->expiry, exp, sizeof exp));
    return 0;
}

/* gwe_submit - send the open destinations of an outgoing envelope over
 * P_MUL, one message per group of destinations sharing a Message_ID (all
 * of them, or one each with split); 0 or negative */
int gwe_submit(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env)
{
    if (env->queue != SMTPGW_Q_OUTGOING || (env->flags & SMTPGW_ENV_HOLD) || !gw->cb.bearer_ready(gw->user))
        return 0;
    if (env->expiry <= now) {
        if (!env_flying(env)) {
            expire_outgoing(gw, now, env);
            gwe_maybe_remove(gw, env);
        }
        return 0;
    }
    bool split = gw->cfg.mule->split;
    for (size_t first = 0; first < env->n_dests; first++) {
        struct smtpgw_spool_dest *fd = &env->dests[first];
        if (fd->state != SMTPGW_DEST_OPEN)
            continue;
        if (fd->msgid && in_flight(gw, env->qid, fd->msgid))
            continue;
        /* the group: this destination and (without split) every other open
         * one with the same Message_ID (0 = not yet sent) */
        size_t gidx[SMTPGW_MAX_DESTS];
        size_t ng = 0;
        for (size_t d = first; d < env->n_dests; d++) {
            struct smtpgw_spool_dest *x = &env->dests[d];
            if (x->state != SMTPGW_DEST_OPEN || x->msgid != fd->msgid)
                continue;
            if (d != first && (split || in_flight(gw, env->qid, x->msgid)))
                continue;
            gidx[ng++] = d;
            if (split)
                break;
        }
        int rc = submit_group(gw, now, env, gidx, ng);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* smtpgw_gateway_on_dest_done - one destination of a message we sent finished */
void smtpgw_gateway_on_dest_done(struct smtpgw_gateway *gw, int64_t now, uint64_t handle, uint32_t msgid,
                                 uint32_t dest, int result)
{
    struct gwe_flight *f = flight_find(gw, handle, NULL);
    struct smtpgw_envelope *env = f ? gw->sp->find(gw->sph, f->qid) : NULL;
    if (!env)
        return;
    for (size_t d = 0; d < env->n_dests; d++) {
        struct smtpgw_spool_dest *x = &env->dests[d];
        if (x->node != dest || x->msgid != msgid)
            continue;
        x->state = result == PMUL_DEST_ACKED ? SMTPGW_DEST_ACKED : SMTPGW_DEST_FAILED;
        for (size_t i = 0; i < env->n_rcpts; i++) {
            if (env->rcpts[i].dest != (int16_t)d || env->rcpts[i].state != SMTPGW_RCPT_OPEN)
                continue;
            if (result == PMUL_DEST_ACKED)
                smtpgw_envelope_set_rcpt(env, i, SMTPGW_RCPT_DONE, "2.0.0", NULL);
            else
                smtpgw_envelope_set_rcpt(env, i, SMTPGW_RCPT_FAILED, result == PMUL_DEST_EXPIRED ? "4.4.7" : "5.3.0",
                                         result == PMUL_DEST_EXPIRED
                                             ? "x-mule; no acknowledgement from the HF node before the message expired"
                                             : "x-mule; dropped by the operator");
        }
    }
    /* written at the end of the loop pass, unless the message is finished
     * and removed first (a lost ack record only means a retransmission
     * that the receiver suppresses as a duplicate).  No "relayed" DSN
     * here: the far gateway carries NOTIFY on, and the DSN chain goes on
     * there (RFC 3461 5.2.2: "relayed" only where it ends) */
    gw->sp->update_later(gw->sph, env);
    if (result == PMUL_DEST_ACKED)
        heard_ack(gw, now, dest);
    gwe_log(gw, result == PMUL_DEST_EXPIRED ? UTIL_LOG_WARN : UTIL_LOG_NOTICE, "dest-done",
            "qid=%s src=%s msgid=%u dest=%s result=%s", env->qid, mule_node_str(gw->cfg.self), msgid,
            mule_node_str(dest), pmul_dest_result_name(result));
}

/* smtpgw_gateway_on_message_done - every destination of a message we sent finished */
void smtpgw_gateway_on_message_done(struct smtpgw_gateway *gw, int64_t now, uint64_t handle, uint32_t msgid,
                                    size_t acked, size_t failed)
{
    struct gwe_flight **link = NULL;
    struct gwe_flight *f = flight_find(gw, handle, &link);
    if (!f)
        return;
    char qid[SMTPGW_QID_LEN];
    snprintf(qid, sizeof qid, "%s", f->qid);
    *link = f->next;
    free(f);
    gwe_log(gw, UTIL_LOG_INFO, "pmul-done", "qid=%s msgid=%u acked=%zu failed=%zu", qid, msgid, acked, failed);
    struct smtpgw_envelope *env = gw->sp->find(gw->sph, qid);
    if (!env)
        return;
    if (env->user)
        env->user = (void *)((uintptr_t)env->user - 1);
    if (failed)
        gwe_finish_failed(gw, now, env, "4.4.7", "x-mule; delivery time expired");
    env = gw->sp->find(gw->sph, qid);
    if (env)
        gwe_maybe_remove(gw, env);
}

/* smtpgw_gateway_on_bearer - the bearer came up (send what waits) or went down */
void smtpgw_gateway_on_bearer(struct smtpgw_gateway *gw, int64_t now, bool ready)
{
    if (ready)
        smtpgw_gateway_tick(gw, now);
}

/* ---- delivery to the LAN MTA ------------------------------------------------------- */

/* smtpgw_gateway_delivering - whether a LAN delivery of qid is running */
bool smtpgw_gateway_delivering(const struct smtpgw_gateway *gw, const char *qid)
{
    return delivery_find(gw, qid, NULL) != NULL;
}

/* smtpgw_gateway_deliveries - LAN deliveries running */
unsigned smtpgw_gateway_deliveries(const struct smtpgw_gateway *gw)
{
    return gw->n_deliveries;
}

/* smtpgw_gateway_on_rcpt_result - the LAN MTA's answer for one recipient:
 * a 250 is on disk before anything else happens */
void smtpgw_gateway_on_rcpt_result(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env, size_t i,
                                   int code, const char *status, const char *reply, bool dsn_passed)
{
    char diag[600];
    snprintf(diag, sizeof diag, "smtp; %s", reply ? reply : "");
    if (code >= 200 && code < 300) {
        smtpgw_envelope_set_rcpt(env, i, SMTPGW_RCPT_DONE, status, NULL);
        int rc = gw->sp->update(gw->sph, env);
        if (rc < 0) /* the next attempt would deliver it again: say so */
            gwe_log(gw, UTIL_LOG_ERR, "delivered-not-recorded", "qid=%s rcpt=<%s> error=\"%s\"", env->qid,
                    env->rcpts[i].addr, smtpgw_spool_strerror(rc));
    } else if (code >= 500) {
        smtpgw_envelope_set_rcpt(env, i, SMTPGW_RCPT_FAILED, status, diag);
    } else {
        smtpgw_envelope_set_rcpt(env, i, SMTPGW_RCPT_OPEN, status, diag);
    }
    gwe_log(gw, code < 500 ? UTIL_LOG_NOTICE : UTIL_LOG_WARN, code < 300 ? "delivered" : "delivery-failed",
            "qid=%s rcpt=<%s> relay=%s code=%d reply=\"%s\"", env->qid, env->rcpts[i].addr,
            gw->cfg.lan_relay ? gw->cfg.lan_relay : "-", code, reply ? reply : "");
    /* RFC 3461 5.2.2: the DSN chain ends here when the LAN MTA does not
     * offer DSN: "relayed" for NOTIFY=SUCCESS.  Where it offers DSN,
     * NOTIFY went on and that MTA reports delivery itself. */
    if (code >= 200 && code < 300 && !dsn_passed && env->src_node)
        gwe_dsn(gw, now, env, &i, 1, MULE_DSN_RELAYED, "2.0.0", NULL);
}

/* smtpgw_gateway_on_delivery_done - a delivery session ended: retry, bounce or finish */
void smtpgw_gateway_on_delivery_done(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env, int err)
{
    gw->tick_wanted = true; /* a slot is free */
    struct gwe_delivery *const *link = NULL;
    struct gwe_delivery *dl = delivery_find(gw, env->qid, &link);
    if (dl) {
        *(struct gwe_delivery **)link = dl->next;
        free(dl);
        gw->n_deliveries--;
    }
    if (smtpgw_envelope_open_rcpts(env) > 0) {
        env->attempts++;
        int64_t next = smtpgw_retry_next(&gw->cfg.retry, env->attempts, env->arrival, now);
        if (next < 0) {
            for (size_t i = 0; i < env->n_rcpts; i++)
                if (env->rcpts[i].state == SMTPGW_RCPT_OPEN)
                    smtpgw_envelope_set_rcpt(env, i, SMTPGW_RCPT_FAILED, "4.4.7",
                                             env->rcpts[i].diag ? env->rcpts[i].diag : "x-mule; delivery time expired");
        } else {
            env->next_attempt = next;
            gwe_log(gw, UTIL_LOG_NOTICE, "deferred", "qid=%s attempts=%u next_in_s=%lld error=\"%s\"", env->qid,
                    env->attempts, (long long)(next - now), err ? smtpgw_spool_strerror(err) : "");
        }
    }
    gw->sp->update(gw->sph, env);
    char qid[SMTPGW_QID_LEN];
    snprintf(qid, sizeof qid, "%s", env->qid);
    gwe_finish_failed(gw, now, env, "5.0.0", NULL);
    env = gw->sp->find(gw->sph, qid);
    if (env)
        gwe_maybe_remove(gw, env);
}

/* gwe_start_deliveries - start deliveries that are due, up to the limit */
void gwe_start_deliveries(struct smtpgw_gateway *gw, int64_t now)
{
    struct smtpgw_envelope *env = gw->sp->first(gw->sph, SMTPGW_Q_INCOMING);
    while (env && gw->n_deliveries < gw->cfg.max_deliveries) {
        struct smtpgw_envelope *next = gw->sp->next(gw->sph, env);
        if ((env->flags & SMTPGW_ENV_HOLD) || env->next_attempt > now || delivery_find(gw, env->qid, NULL)) {
            env = next;
            continue;
        }
        if (smtpgw_envelope_open_rcpts(env) == 0) {
            char qid[SMTPGW_QID_LEN];
            snprintf(qid, sizeof qid, "%s", env->qid);
            gwe_finish_failed(gw, now, env, "5.0.0", NULL);
            env = gw->sp->find(gw->sph, qid);
            if (env)
                gwe_maybe_remove(gw, env);
            env = next;
            continue;
        }
        struct gwe_delivery *dl = calloc(1, sizeof *dl);
        if (!dl)
            return;
        snprintf(dl->qid, sizeof dl->qid, "%s", env->qid);
        dl->next = gw->deliveries;
        gw->deliveries = dl;
        gw->n_deliveries++;
        int err = gw->cb.deliver(gw->user, env);
        if (err < 0) {
            gw->deliveries = dl->next;
            gw->n_deliveries--;
            free(dl);
            env->attempts++;
            int64_t nx = smtpgw_retry_next(&gw->cfg.retry, env->attempts, env->arrival, now);
            env->next_attempt = nx < 0 ? now : nx;
            gw->sp->update(gw->sph, env);
            gwe_log(gw, UTIL_LOG_WARN, "delivery-start-failed", "qid=%s error=\"%s\"", env->qid,
                    smtpgw_spool_strerror(err));
        }
        env = next;
    }
}

/* ---- time --------------------------------------------------------------------------- */

/* settle - what one envelope needs besides sending and delivery: its
 * relay copy, DSNs owed (a DSN that could not be spooled before), a
 * delayed DSN, and leaving the spool when finished */
static void settle(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env)
{
    char qid[SMTPGW_QID_LEN];
    snprintf(qid, sizeof qid, "%s", env->qid);
    bool busy = env_flying(env) || delivery_find(gw, qid, NULL);
    if (gwe_count_state(env, SMTPGW_RCPT_RELAY))
        gwe_relay_pending(gw, now, env);
    if (!busy && (env = gw->sp->find(gw->sph, qid)) && gwe_count_state(env, SMTPGW_RCPT_FAILED))
        gwe_finish_failed(gw, now, env, "5.0.0", NULL);
    if ((env = gw->sp->find(gw->sph, qid)))
        gwe_delay_check(gw, now, env);
    if (!busy && (env = gw->sp->find(gw->sph, qid)))
        gwe_maybe_remove(gw, env);
}

/* smtpgw_gateway_tick_wanted - whether an event made work due at once */
bool smtpgw_gateway_tick_wanted(const struct smtpgw_gateway *gw)
{
    return gw->tick_wanted;
}

/* smtpgw_gateway_tick - do what is due */
void smtpgw_gateway_tick(struct smtpgw_gateway *gw, int64_t now)
{
    gw->tick_wanted = false;
    for (int q = 0; q < SMTPGW_Q_COUNT; q++)
        for (struct smtpgw_envelope *env = gw->sp->first(gw->sph, (enum smtpgw_queue)q); env;) {
            struct smtpgw_envelope *next = gw->sp->next(gw->sph, env);
            settle(gw, now, env);
            env = next;
        }
    for (struct smtpgw_envelope *env = gw->sp->first(gw->sph, SMTPGW_Q_OUTGOING); env;) {
        struct smtpgw_envelope *next = gw->sp->next(gw->sph, env);
        gwe_submit(gw, now, env);
        env = next;
    }
    gwe_start_deliveries(gw, now);
}

/* smtpgw_gateway_next_expiry - the earliest time tick has something to do */
int64_t smtpgw_gateway_next_expiry(struct smtpgw_gateway *gw, int64_t now)
{
    int64_t t = INT64_MAX;
    for (int q = 0; q < SMTPGW_Q_COUNT; q++)
        for (struct smtpgw_envelope *env = gw->sp->first(gw->sph, (enum smtpgw_queue)q); env;
             env = gw->sp->next(gw->sph, env)) {
            if (env->flags & SMTPGW_ENV_HOLD)
                continue;
            t = UTIL_MIN(t, gwe_delay_due(gw, env));
            bool busy = env_flying(env) || delivery_find(gw, env->qid, NULL);
            if (!busy && gwe_count_state(env, SMTPGW_RCPT_FAILED))
                t = UTIL_MIN(t, now); /* a DSN owed */
            if (q == SMTPGW_Q_INCOMING) {
                if (gwe_count_state(env, SMTPGW_RCPT_RELAY))
                    t = UTIL_MIN(t, now);
                if (smtpgw_envelope_open_rcpts(env) && !delivery_find(gw, env->qid, NULL))
                    t = UTIL_MIN(t, env->next_attempt);
            } else if (!env_flying(env)) {
                t = UTIL_MIN(t, env->expiry);
            }
        }
    return t;
}

/* ---- the operator ------------------------------------------------------------------ */

typedef int (*gwe_each_fn)(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env);

/* each - apply fn to the message id names, or to every message ("all");
 * the number affected, or SMTPGW_ERR_CTL_NOTFOUND */
static int each(struct smtpgw_gateway *gw, int64_t now, const char *id, gwe_each_fn fn)
{
    if (strcmp(id, "all") != 0) {
        struct smtpgw_envelope *e = gw->sp->find(gw->sph, id);
        if (!e)
            return SMTPGW_ERR_CTL_NOTFOUND;
        return fn(gw, now, e);
    }
    int n = 0;
    for (int q = 0; q < SMTPGW_Q_COUNT; q++)
        for (struct smtpgw_envelope *e = gw->sp->first(gw->sph, (enum smtpgw_queue)q); e;) {
            struct smtpgw_envelope *next = gw->sp->next(gw->sph, e);
            int rc = fn(gw, now, e);
            if (rc > 0)
                n += rc;
            e = next;
        }
    return n;
}

/* retry_one - send (outgoing, not in flight) or deliver (incoming) now */
static int retry_one(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *e)
{
    if (e->flags & SMTPGW_ENV_HOLD)
        return 0;
    if (e->queue == SMTPGW_Q_INCOMING) {
        if (delivery_find(gw, e->qid, NULL))
            return 0;
        e->next_attempt = 0;
        gw->sp->update(gw->sph, e);
        return 1;
    }
    if (env_flying(e))
        return 0; /* P_MUL is at it: its own retransmissions */
    gwe_submit(gw, now, e);
    return 1;
}

/* smtpgw_gateway_retry - the operator's retry */
int smtpgw_gateway_retry(struct smtpgw_gateway *gw, int64_t now, const char *id)
{
    int n = each(gw, now, id, retry_one);
    if (n > 0) {
        gwe_log(gw, UTIL_LOG_NOTICE, "operator-retry", "id=%s messages=%d", id, n);
        gwe_start_deliveries(gw, now);
    }
    return n;
}

/* drop_one - fail what is open (a DSN to the sender) and remove */
static int drop_one(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *e)
{
    static const char diag[] = "x-mule; dropped by the operator";
    if (e->queue == SMTPGW_Q_INCOMING && delivery_find(gw, e->qid, NULL))
        return SMTPGW_ERR_CTL_STATE; /* being delivered right now */
    char qid[SMTPGW_QID_LEN];
    snprintf(qid, sizeof qid, "%s", e->qid);
    gwe_log(gw, UTIL_LOG_NOTICE, "operator-drop", "qid=%s queue=%s", qid, smtpgw_queue_name(e->queue));
    if (env_flying(e)) {
        /* P_MUL cancels it: dest_done (CANCELLED) fails the recipients,
         * message_done sends the DSN and removes it */
        for (struct gwe_flight *f = gw->flights, *next; f; f = next) {
            next = f->next;
            if (strcmp(f->qid, qid) == 0 && gw->cb.cancel)
                gw->cb.cancel(gw->user, f->handle);
        }
        return 1;
    }
    for (size_t d = 0; d < e->n_dests; d++)
        if (e->dests[d].state == SMTPGW_DEST_OPEN)
            e->dests[d].state = SMTPGW_DEST_FAILED;
    for (size_t i = 0; i < e->n_rcpts; i++)
        if (e->rcpts[i].state == SMTPGW_RCPT_OPEN || e->rcpts[i].state == SMTPGW_RCPT_RELAY)
            smtpgw_envelope_set_rcpt(e, i, SMTPGW_RCPT_FAILED, "5.3.0", diag);
    gw->sp->update(gw->sph, e);
    gwe_finish_failed(gw, now, e, "5.3.0", diag);
    e = gw->sp->find(gw->sph, qid);
    if (e) { /* reported (or the DSN could not be spooled): the operator said drop */
        for (size_t i = 0; i < e->n_rcpts; i++)
            if (e->rcpts[i].state == SMTPGW_RCPT_FAILED)
                smtpgw_envelope_set_rcpt(e, i, SMTPGW_RCPT_REPORTED, NULL, NULL);
        gwe_maybe_remove(gw, e);
    }
    return 1;
}

/* smtpgw_gateway_drop - the operator's drop (one message) */
int smtpgw_gateway_drop(struct smtpgw_gateway *gw, int64_t now, const char *id)
{
    return each(gw, now, id, drop_one);
}

/* hold_flights - tell P_MUL to hold (or release) every message of qid it is sending */
static void hold_flights(struct smtpgw_gateway *gw, const char *qid, bool hold)
{
    for (struct gwe_flight *f = gw->flights; f; f = f->next)
        if (strcmp(f->qid, qid) == 0 && gw->cb.hold)
            gw->cb.hold(gw->user, f->handle, hold);
}

/* hold_one - set the hold flag; what P_MUL is sending of it stops at once
 * (its PDUs already with the 5066 server excepted) */
static int hold_one(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *e)
{
    (void)now;
    if (e->flags & SMTPGW_ENV_HOLD)
        return 0;
    e->flags |= SMTPGW_ENV_HOLD;
    gw->sp->update(gw->sph, e);
    gwe_log(gw, UTIL_LOG_NOTICE, "operator-hold", "qid=%s queue=%s", e->qid, smtpgw_queue_name(e->queue));
    hold_flights(gw, e->qid, true);
    return 1;
}

/* release_one - clear the hold flag and carry on */
static int release_one(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *e)
{
    if (!(e->flags & SMTPGW_ENV_HOLD))
        return 0;
    e->flags &= (uint8_t)~SMTPGW_ENV_HOLD;
    gw->sp->update(gw->sph, e);
    gwe_log(gw, UTIL_LOG_NOTICE, "operator-release", "qid=%s queue=%s", e->qid, smtpgw_queue_name(e->queue));
    hold_flights(gw, e->qid, false);
    if (e->queue == SMTPGW_Q_OUTGOING)
        gwe_submit(gw, now, e);
    return 1;
}

/* smtpgw_gateway_hold - the operator's hold */
int smtpgw_gateway_hold(struct smtpgw_gateway *gw, int64_t now, const char *id)
{
    int n = each(gw, now, id, hold_one);
    if (n == 0 && strcmp(id, "all") != 0)
        return SMTPGW_ERR_CTL_STATE; /* already held */
    return n;
}

/* smtpgw_gateway_release - the operator's release */
int smtpgw_gateway_release(struct smtpgw_gateway *gw, int64_t now, const char *id)
{
    int n = each(gw, now, id, release_one);
    if (n == 0 && strcmp(id, "all") != 0)
        return SMTPGW_ERR_CTL_STATE; /* not held */
    gwe_start_deliveries(gw, now);
    return n;
}
