/* gateway_rx.c - the gateway engine's receive side: a complete P_MUL
 * message (ACP 142) carrying MULE (RFC 8494 section 5: CompressedData,
 * zlib, the BSMTP-like payload) becomes an incoming message for the LAN
 * MTA and, for recipients routed through this node, an outgoing copy
 * (RFC 8494 section 3, steps 3 to 6).
 *
 * What is acknowledged (the deliver callback returns 0):
 *  - a message spooled (its recipients as the routes give them: local,
 *    relay, or failed with a DSN owed), or a duplicate of one;
 *  - a message bigger than this node takes (max_message_size, also a
 *    "zlib bomb"): its envelope is read from the first bytes, and a failed
 *    DSN (5.3.4) for this node's recipients is spooled before the ack;
 *  - a message addressed to this node of which no recipient is this
 *    node's by its routes (the sender's routes disagree): every recipient
 *    gets a failed DSN (5.4.4), spooled before the ack.
 * What is not (the sender retransmits, and bounces it when it expires):
 *  - what cannot be read as MULE at all (algorithm, content type, BER,
 *    zlib, envelope): there is no return path to send a DSN to;
 *  - anything the spool could not take (disk full, I/O error).
 * A recipient relayed on over HF is kept in the incoming message (state
 * RELAY) until its outgoing copy is spooled: a failure there is tried again
 * at every tick, and the retransmission the sender makes meanwhile is a
 * duplicate of something spooled, so nothing vanishes.
 */
#include "smtp-gw/gateway_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A message being taken in. */
struct rx {
    const struct pmul_rx_message *m;
    char ids[96];
    struct util_buf payload;
    struct mule_envelope me;
    bool have_env;
    bool too_big;
    const uint8_t *msg; /* the message after the envelope (all of it, or its head) */
    size_t msg_len;
};

/* Kinds of rate-limited receive lines (struct smtpgw_gateway rl_rx). */
enum { RX_LOG_REFUSED, RX_LOG_TOO_BIG, RX_LOG_MISROUTED };

/* rx_may_log - whether a line a peer caused may be logged now (kind:
 * RX_LOG_*); *suppressed gets what was held back before it */
static bool rx_may_log(struct smtpgw_gateway *gw, int64_t now, int kind, unsigned *suppressed)
{
    return util_ratelimit_allow(&gw->rl_rx[kind], (util_ms)(now < 0 ? 0 : now) * 1000, GWE_RX_LOG_BURST, 60000,
                                suppressed);
}

/* rx_refuse - log why a message is not acknowledged (rate-limited: every
 * retransmission comes here again); returns -1 */
static int rx_refuse(struct smtpgw_gateway *gw, int64_t now, const struct rx *x, const char *reason, int err)
{
    unsigned sup;
    if (rx_may_log(gw, now, RX_LOG_REFUSED, &sup))
        gwe_log(gw, UTIL_LOG_ERR, "rx-refused",
                "%s reason=%s error=\"%s\" suppressed=%u (not acknowledged: the sender retransmits, then bounces "
                "it at expiry)",
                x->ids, reason, mule_strerror(err), sup);
    return -1;
}

/* rx_open - CompressedData, inflation (bounded) and the envelope; 0 or -1 (refused) */
static int rx_open(struct smtpgw_gateway *gw, int64_t now, struct rx *x)
{
    struct mule_cdt cdt;
    int rc = mule_cdt_decode(x->m->data, x->m->len, &cdt);
    if (rc < 0)
        return rx_refuse(gw, now, x,
                         rc == MULE_ERR_ALGORITHM      ? "algorithm"
                         : rc == MULE_ERR_CONTENT_TYPE ? "content-type"
                                                       : "malformed",
                         rc);
    size_t max = gw->cfg.mule->max_message_size ? gw->cfg.mule->max_message_size : MULE_DEFAULT_MAX_MESSAGE;
    rc = mule_inflate(cdt.zdata, cdt.zlen, max, &x->payload, NULL);
    if (rc == MULE_ERR_TOO_BIG) {
        /* the envelope is at the start: read that much to answer with a DSN */
        x->too_big = true;
        size_t head = UTIL_MIN(max, gw->cfg.mule->max_envelope + 4096);
        rc = mule_inflate_head(cdt.zdata, cdt.zlen, head, &x->payload);
        if (rc == MULE_ERR_TOO_BIG)
            rc = 0;
        unsigned sup;
        if (rx_may_log(gw, now, RX_LOG_TOO_BIG, &sup))
            gwe_log(gw, UTIL_LOG_WARN, "rx-too-big", "%s limit=%zu suppressed=%u", x->ids, max, sup);
    }
    if (rc < 0)
        return rx_refuse(gw, now, x, "zlib", rc);
    int off = mule_payload_parse(x->payload.data, x->payload.len, gw->cfg.mule->max_envelope, &x->me);
    if (off < 0)
        return rx_refuse(gw, now, x, "envelope", off);
    x->have_env = true;
    x->msg = x->payload.data + off;
    x->msg_len = x->payload.len - (size_t)off;
    return 0;
}

/* unrouted - whether a recipient has no route here and is not local */
static bool unrouted(const struct smtpgw_gateway *gw, const char *addr)
{
    const char *dom = mule_address_domain(addr);
    return !mule_domain_is_local(&gw->cfg.mule->routes, dom) && !mule_route_lookup(&gw->cfg.mule->routes, dom);
}

/* rx_states - each recipient's state from the routes; *misrouted when
 * none was this node's (all bounced); 0, or UTIL_ERR_NOMEM */
static int rx_states(struct smtpgw_gateway *gw, const struct rx *x, struct smtpgw_spool_rcpt *rr, char *diag,
                     size_t dcap, bool *misrouted)
{
    size_t n = x->me.n_rcpts;
    const char **addrs = calloc(n, sizeof *addrs);
    struct mule_rx_rcpt *disp = calloc(n, sizeof *disp);
    if (!addrs || !disp) {
        free(addrs);
        free(disp);
        return UTIL_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        addrs[i] = x->me.rcpts[i].addr;
    struct mule_rx_ctx ctx = {gw->cfg.self, x->m->source_id, x->m->dests, x->m->ndests};
    mule_route_receive(&gw->cfg.mule->routes, &ctx, addrs, n, disp);
    size_t ours = 0;
    for (size_t i = 0; i < n; i++) {
        rr[i].addr = x->me.rcpts[i].addr;
        rr[i].params = x->me.rcpts[i].params;
        rr[i].dest = -1;
        switch (disp[i].disp) {
        case MULE_DISP_LOCAL: rr[i].state = SMTPGW_RCPT_OPEN; break;
        case MULE_DISP_RELAY: rr[i].state = SMTPGW_RCPT_RELAY; break;
        case MULE_DISP_BOUNCE:
            rr[i].state = SMTPGW_RCPT_FAILED;
            snprintf(rr[i].status, sizeof rr[i].status, "%s", disp[i].status ? disp[i].status : "5.4.4");
            rr[i].diag = disp[i].reason;
            break;
        default: rr[i].state = SMTPGW_RCPT_SKIP; break;
        }
        ours += rr[i].state != SMTPGW_RCPT_SKIP;
    }
    /* addressed to us and nothing ours: the sender's routes and ours
     * disagree (a relay without `via` naming itself, a domain unknown
     * here).  Acknowledging would drop the message; not acknowledging
     * would bounce it only at expiry: every recipient fails now, with a
     * DSN.  (With the same routes on both sides a node always has at
     * least one recipient in what is addressed to it.) */
    *misrouted = ours == 0;
    if (ours == 0)
        for (size_t i = 0; i < n; i++) {
            rr[i].state = SMTPGW_RCPT_FAILED;
            snprintf(rr[i].status, sizeof rr[i].status, "5.4.4");
            rr[i].diag = unrouted(gw, addrs[i])
                             ? "x-mule; no route to the recipient's domain at the receiving HF node"
                             : "x-mule; the receiving HF node is neither the destination nor a relay "
                               "(route via itself) of the recipient's domain";
        }
    if (x->too_big) {
        snprintf(diag, dcap, "x-mule; the message is larger than HF node %s takes (%zu bytes)",
                 mule_node_str(gw->cfg.self), gw->cfg.mule->max_message_size);
        for (size_t i = 0; i < n; i++)
            if (rr[i].state != SMTPGW_RCPT_SKIP) {
                rr[i].state = SMTPGW_RCPT_FAILED;
                snprintf(rr[i].status, sizeof rr[i].status, "5.3.4");
                rr[i].diag = diag;
            }
    }
    free(addrs);
    free(disp);
    return 0;
}

/* smtpgw_gateway_on_pmul_message - a complete P_MUL message arrived */
int smtpgw_gateway_on_pmul_message(struct smtpgw_gateway *gw, int64_t now, const struct pmul_rx_message *m)
{
    struct rx x;
    memset(&x, 0, sizeof x);
    x.m = m;
    snprintf(x.ids, sizeof x.ids, "src=%s msgid=%u", mule_node_str(m->source_id), m->message_id);
    if (gw->sp->was_delivered(gw->sph, m->source_id, m->message_id)) {
        gwe_log(gw, UTIL_LOG_INFO, "duplicate", "%s", x.ids);
        return 0;
    }
    util_buf_init(&x.payload, 0);
    int rc = rx_open(gw, now, &x);
    struct smtpgw_spool_rcpt *rr = NULL;
    struct util_buf content;
    util_buf_init(&content, 0);
    if (rc < 0)
        goto out;
    size_t n = x.me.n_rcpts;
    rr = calloc(n, sizeof *rr);
    if (!rr) {
        rc = UTIL_ERR_NOMEM;
        goto out;
    }
    char diag[160];
    bool misrouted = false;
    rc = rx_states(gw, &x, rr, diag, sizeof diag, &misrouted);
    if (rc < 0)
        goto out;
    unsigned sup;
    if (misrouted && rx_may_log(gw, now, RX_LOG_MISROUTED, &sup))
        gwe_log(gw, UTIL_LOG_WARN, "misrouted", "%s rcpts=%zu suppressed=%u", x.ids, n, sup);
    /* the trace field every copy of this message carries, then the message */
    struct mule_trace tr = {NULL, m->source_id, m->message_id, gw->cfg.hostname, n == 1 ? rr[0].addr : NULL,
                            gwe_mail_date(gw, now)};
    mule_trace_received(&tr, &content);
    if (util_buf_append(&content, x.msg, x.msg_len) < 0) {
        rc = UTIL_ERR_NOMEM;
        goto out;
    }
    struct smtpgw_envelope env;
    memset(&env, 0, sizeof env);
    env.from = x.me.from;
    env.mail_params = x.me.from_params;
    env.rcpts = rr;
    env.n_rcpts = (uint16_t)n;
    env.priority = m->priority;
    env.arrival = now;
    env.expiry = m->expiry;
    env.src_node = m->source_id;
    env.src_msgid = m->message_id;
    struct smtpgw_envelope *in = NULL;
    rc = gw->sp->add(gw->sph, SMTPGW_Q_INCOMING, &env, content.data, content.len, &in);
    if (rc == SMTPGW_ERR_SPOOL_DUPLICATE) {
        gwe_log(gw, UTIL_LOG_INFO, "duplicate", "%s", x.ids);
        rc = 0;
        goto out;
    }
    if (rc < 0) {
        gwe_log(gw, UTIL_LOG_ERR, "spool-failed", "%s error=\"%s\" (not acknowledged: it will come again)", x.ids,
                smtpgw_spool_strerror(rc));
        goto out;
    }
    size_t n_local = gwe_count_state(in, SMTPGW_RCPT_OPEN), n_relay = gwe_count_state(in, SMTPGW_RCPT_RELAY),
           n_bounce = gwe_count_state(in, SMTPGW_RCPT_FAILED);
    gwe_log(gw, UTIL_LOG_NOTICE, "received", "qid=%s %s from=<%s> local=%zu relay=%zu bounce=%zu bytes=%zu%s", in->qid,
            x.ids, x.me.from, n_local, n_relay, n_bounce, x.msg_len, x.too_big ? " too_big=yes" : "");
    gw->tick_wanted = true; /* for the LAN at once */
    char qid[SMTPGW_QID_LEN];
    snprintf(qid, sizeof qid, "%s", in->qid);
    if (n_relay)
        gwe_relay_pending(gw, now, in);
    if ((in = gw->sp->find(gw->sph, qid)) && gwe_count_state(in, SMTPGW_RCPT_FAILED))
        gwe_finish_failed(gw, now, in, "5.4.4", NULL);
    if ((in = gw->sp->find(gw->sph, qid)))
        gwe_maybe_remove(gw, in);
out:
    util_buf_free(&content);
    free(rr);
    if (x.have_env)
        mule_envelope_free(&x.me);
    util_buf_free(&x.payload);
    return rc < 0 ? -1 : 0;
}

/* relay_copy_exists - the outgoing copy of an incoming message, if one is spooled */
static struct smtpgw_envelope *relay_copy_exists(struct smtpgw_gateway *gw, const struct smtpgw_envelope *in)
{
    for (struct smtpgw_envelope *e = gw->sp->first(gw->sph, SMTPGW_Q_OUTGOING); e; e = gw->sp->next(gw->sph, e))
        if (e->src_node == in->src_node && e->src_msgid == in->src_msgid && !(e->flags & SMTPGW_ENV_DSN))
            return e;
    return NULL;
}

/* mark_relayed - the incoming message's RELAY recipients are now the outgoing copy's */
static void mark_relayed(struct smtpgw_gateway *gw, struct smtpgw_envelope *in)
{
    for (size_t i = 0; i < in->n_rcpts; i++)
        if (in->rcpts[i].state == SMTPGW_RCPT_RELAY)
            smtpgw_envelope_set_rcpt(in, i, SMTPGW_RCPT_DONE, "2.0.0", NULL);
    gw->sp->update(gw->sph, in);
}

/* gwe_relay_pending - the outgoing copy of an incoming message's RELAY recipients */
int gwe_relay_pending(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *in)
{
    if (relay_copy_exists(gw, in)) { /* made before a crash: never twice */
        mark_relayed(gw, in);
        return 0;
    }
    size_t n = in->n_rcpts;
    const char **addrs = calloc(n, sizeof *addrs);
    struct mule_rx_rcpt *disp = calloc(n, sizeof *disp);
    struct smtpgw_spool_rcpt *rr = calloc(n, sizeof *rr);
    int rc = 0;
    if (!addrs || !disp || !rr) {
        rc = UTIL_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        addrs[i] = in->rcpts[i].addr;
    struct mule_rx_ctx ctx = {gw->cfg.self, in->src_node, NULL, 0};
    mule_route_receive(&gw->cfg.mule->routes, &ctx, addrs, n, disp);
    struct smtpgw_spool_dest dd[SMTPGW_MAX_DESTS];
    size_t nd = 0, nr = 0;
    memset(dd, 0, sizeof dd);
    for (size_t i = 0; i < n; i++) {
        rr[i].addr = in->rcpts[i].addr;
        rr[i].params = in->rcpts[i].params;
        rr[i].dest = -1;
        rr[i].state = SMTPGW_RCPT_SKIP;
        if (in->rcpts[i].state != SMTPGW_RCPT_RELAY)
            continue;
        if (disp[i].disp != MULE_DISP_RELAY) { /* the routes changed since: bounce it */
            smtpgw_envelope_set_rcpt(in, i, SMTPGW_RCPT_FAILED, "5.4.4",
                                     "x-mule; no longer routed through this HF node");
            continue;
        }
        size_t d;
        for (d = 0; d < nd && dd[d].node != disp[i].next; d++)
            ;
        if (d == nd) {
            if (nd == SMTPGW_MAX_DESTS)
                continue;
            dd[nd++].node = disp[i].next;
        }
        rr[i].state = SMTPGW_RCPT_OPEN;
        rr[i].dest = (int16_t)d;
        nr++;
    }
    if (nr == 0) {
        gw->sp->update(gw->sph, in);
        goto out;
    }
    struct smtpgw_envelope env;
    memset(&env, 0, sizeof env);
    env.from = in->from;
    env.mail_params = in->mail_params;
    env.rcpts = rr;
    env.n_rcpts = (uint16_t)n;
    env.dests = dd;
    env.n_dests = (uint16_t)nd;
    env.priority = in->priority;
    env.arrival = in->arrival;
    env.expiry = in->expiry;
    env.src_node = in->src_node;
    env.src_msgid = in->src_msgid;
    struct smtpgw_envelope *out = NULL;
    rc = gw->sp->add_copy(gw->sph, in, &env, SMTPGW_Q_OUTGOING, &out);
    if (rc < 0) {
        /* tried again at every tick; said once a minute (engine time) */
        if (now >= gw->relay_fail_logged + 60) {
            gw->relay_fail_logged = now;
            gwe_log(gw, UTIL_LOG_ERR, "relay-spool-failed", "qid=%s src=%s msgid=%u error=\"%s\" (kept: tried again)",
                    in->qid, mule_node_str(in->src_node), in->src_msgid, smtpgw_spool_strerror(rc));
        }
        goto out;
    }
    gwe_log(gw, UTIL_LOG_NOTICE, "relay", "qid=%s from_qid=%s src=%s msgid=%u rcpts=%zu", out->qid, in->qid,
            mule_node_str(in->src_node), in->src_msgid, nr);
    mark_relayed(gw, in);
    gwe_submit(gw, now, out);
out:
    free(addrs);
    free(disp);
    free(rr);
    return rc;
}
