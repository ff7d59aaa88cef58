/* client.c - the STANAG 5066 SIS client engine (Ed. 3 Annex A: A.2.1 the
 * S_primitives seen from the client, A.3.1 bind/unbind, A.2.1.4 KEEP_ALIVE,
 * A.2.1.5/6 DATAFLOW_ON/OFF, A.2.1.10 SUBNET_AVAILABILITY, A.2.1.16-23
 * UNIDATA and EXPEDITED_UNIDATA).
 *
 * An engine: no I/O and no clock.  Inputs are link events, decoded
 * primitives and `now`; outputs are callbacks.  One util_timerheap holds
 * every deadline (bind, backoff, keep-alive, per-request TTL and confirm),
 * so s5066_client_next_expiry() is O(1).
 */
#include "s5066/s5066.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENT_PRIORITIES 16
#define CLIENT_Q_EXPEDITED CLIENT_PRIORITIES /* queue index of expedited requests */
#define CLIENT_RECENT_MAX 64   /* unconfirmed requests remembered to match a late REJECTED */
#define CLIENT_RECENT_MS 120000
#define CLIENT_KEEPALIVE_MIN_MS 120000 /* Annex A: no more often than every 120 s */

/* lines a server can cause, each rate-limited on its own (S5066_LOG_BURST
 * per S5066_LOG_WINDOW_MS, per engine, so per link) */
enum {
    CLOG_UNEXPECTED,
    CLOG_UNMATCHED,
    CLOG_UNBOUND,
    CLOG_BIND_REJECTED,
    CLOG_SUBNET,
    CLOG_HOLD,
    CLOG_IGNORED,
    CLOG_KINDS
};
static const char *const clog_event[CLOG_KINDS] = {
    "unexpected", "result-unmatched", "unbound", "bind-rejected", "subnet", "tx-held", "ignored",
};

struct client_req {
    struct util_list link; /* in a queue, in awaiting, or in recent */
    struct util_timer timer;
    uint64_t id;
    struct s5066_client_request r;
    util_ms deadline; /* TTL end, UTIL_MS_NEVER for none */
    bool wants_confirm;
    uint8_t where; /* REQ_QUEUED, REQ_AWAITING, REQ_RECENT */
    uint8_t qidx;
    uint8_t data[]; /* the U_PDU copy */
};

enum { REQ_QUEUED, REQ_AWAITING, REQ_RECENT };

struct s5066_client {
    struct s5066_client_config cfg;
    struct s5066_client_callbacks cb;
    void *user;
    int state;
    bool link_up;
    uint16_t mtu;
    bool flow_on;
    uint8_t subnet, subnet_reason;
    bool op_hold;
    bool was_sendable;

    struct util_list queue[CLIENT_PRIORITIES + 1];
    size_t queued, queued_bytes;
    struct util_list awaiting; /* sent, waiting for CONFIRM/REJECTED */
    size_t n_awaiting;
    struct util_list recent; /* sent without confirmation, kept to match REJECTED */
    size_t n_recent;

    struct util_timerheap timers;
    struct util_timer bind_timer;      /* BINDING: give up; BACKOFF: bind again */
    struct util_timer keepalive_timer; /* send KEEP_ALIVE, or judge the link dead */
    util_ms backoff;
    util_ms bound_since;
    util_ms last_rx;
    util_ms ka_sent_at; /* UTIL_MS_NEVER when none is outstanding */
    util_ms ka_last_sent;

    uint64_t next_id;
    struct s5066_client_status stats;
    struct util_ratelimit rl[CLOG_KINDS];
    uint8_t *scratch; /* encode buffer */
    size_t scratch_len;
};

/* s5066_client_state_name - "down", "binding", "bound", "backoff", "failed" */
const char *s5066_client_state_name(int state)
{
    static const char *const names[] = {"down", "binding", "bound", "backoff", "failed"};
    return state >= 0 && state < (int)UTIL_ARRAY_LEN(names) ? names[state] : "?";
}

/* s5066_result_name - "sent", "confirmed", "rejected", ... */
const char *s5066_result_name(int result)
{
    static const char *const names[] = {"sent", "confirmed", "rejected", "expired", "too-large", "timeout"};
    return result >= 0 && result < (int)UTIL_ARRAY_LEN(names) ? names[result] : "?";
}

/* s5066_client_config_default - SAP 2, rank 0, ARQ with node delivery confirmation */
void s5066_client_config_default(struct s5066_client_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->sap = 2;
    cfg->rank = 0;
    cfg->service.tx_mode = S5066_TX_ARQ;
    cfg->service.confirm = S5066_CONFIRM_NODE;
    cfg->service.order = S5066_ORDER_IN_ORDER;
    cfg->bind_timeout_ms = 30000;
    cfg->rebind_min_ms = 1000;
    cfg->rebind_max_ms = 300000;
    cfg->keepalive_idle_ms = 120000;
    cfg->keepalive_timeout_ms = 30000;
    cfg->confirm_timeout_ms = 600000;
    cfg->queue_limit_bytes = 1u << 20;
}

/* client_log_ok - whether a line of this kind may be logged at now; sup
 * gets " suppressed=N" (N lines of the kind held back since the last one) or "" */
static bool client_log_ok(struct s5066_client *c, int kind, util_ms now, char *sup, size_t cap)
{
    unsigned n;
    if (!util_ratelimit_allow(&c->rl[kind], now, S5066_LOG_BURST, S5066_LOG_WINDOW_MS, &n))
        return false;
    if (n)
        snprintf(sup, cap, " suppressed=%u", n);
    else
        sup[0] = '\0';
    return true;
}

/* client_log_flush - say how many lines of each kind are still held back */
static void client_log_flush(struct s5066_client *c)
{
    for (int k = 0; k < CLOG_KINDS; k++)
        if (c->rl[k].suppressed) {
            /* "ignored" lines are debug: so is what counts them */
            util_log(k == CLOG_IGNORED ? UTIL_LOG_DEBUG : UTIL_LOG_WARN, UTIL_MOD_S5066,
                     "log-suppressed", "sap=%u event=%s suppressed=%u", c->cfg.sap, clog_event[k],
                     c->rl[k].suppressed);
            c->rl[k].suppressed = 0;
        }
}

/* client_unexpected - a primitive (or a value) not valid now: logged, rate-limited, and dropped */
static void client_unexpected(struct s5066_client *c, util_ms now, const struct s5066_prim *p,
                              const char *detail)
{
    char sup[32];
    if (client_log_ok(c, CLOG_UNEXPECTED, now, sup, sizeof sup))
        util_log(UTIL_LOG_WARN, UTIL_MOD_S5066, "unexpected", "type=%s state=%s%s%s",
                 s5066_type_name(p->type), s5066_client_state_name(c->state), detail, sup);
}

/* client_emit - encode a primitive and hand it to the send callback */
static int client_emit(struct s5066_client *c, const struct s5066_prim *p)
{
    int n = s5066_encode(p, c->scratch, c->scratch_len);
    if (n < 0) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_S5066, "encode-failed", "type=%s error=\"%s\"",
                 s5066_type_name(p->type), s5066_strerror(n));
        return n;
    }
    UTIL_TRACE(UTIL_MOD_S5066, "tx", "type=%s len=%d", s5066_type_name(p->type), n);
    return c->cb.send(c->user, c->scratch, (size_t)n);
}

/* client_emit_simple - send a primitive without a body (or a bind request) */
static int client_emit_type(struct s5066_client *c, int type)
{
    struct s5066_prim p;
    s5066_prim_init(&p, type);
    return client_emit(c, &p);
}

/* client_can_send - bound, flow on, subnet lets us transmit, no operator hold */
static bool client_can_send(const struct s5066_client *c)
{
    bool subnet_ok = c->subnet != S5066_SUBNET_OFF && c->subnet != S5066_SUBNET_RECEIVE_ONLY;
    return c->state == S5066_CLIENT_BOUND && c->flow_on && subnet_ok && !c->op_hold;
}

/* s5066_client_can_send - whether the engine would transmit now */
bool s5066_client_can_send(const struct s5066_client *c)
{
    return client_can_send(c);
}

/* client_note_sendable - tell the user when the hold state changes */
static void client_note_sendable(struct s5066_client *c, util_ms now, const char *why)
{
    bool now_ok = client_can_send(c);
    if (now_ok == c->was_sendable)
        return;
    c->was_sendable = now_ok;
    if (c->state != S5066_CLIENT_BOUND)
        return; /* state changes are reported through the state callback */
    char sup[32];
    if (client_log_ok(c, CLOG_HOLD, now, sup, sizeof sup))
        util_log(UTIL_LOG_INFO, UTIL_MOD_S5066, now_ok ? "tx-resumed" : "tx-held",
                 "sap=%u why=%s%s", c->cfg.sap, why, sup);
    if (c->cb.hold)
        c->cb.hold(c->user, !now_ok, why);
}

/* client_set_state - the one place the state changes, logged */
static void client_set_state(struct s5066_client *c, int state)
{
    if (c->state == state)
        return;
    util_log(state == S5066_CLIENT_FAILED ? UTIL_LOG_ERR : UTIL_LOG_INFO, UTIL_MOD_S5066, "state",
             "sap=%u from=%s to=%s mtu=%u", c->cfg.sap, s5066_client_state_name(c->state),
             s5066_client_state_name(state), c->mtu);
    c->state = state;
    c->was_sendable = client_can_send(c);
    if (c->cb.state)
        c->cb.state(c->user, state, c->mtu);
}

/* client_arm - arm a timer in the engine's heap (allocation failure: fire soon) */
static void client_arm(struct s5066_client *c, struct util_timer *t, util_ms when)
{
    if (util_timerheap_arm(&c->timers, t, when) < 0)
        util_log(UTIL_LOG_ERR, UTIL_MOD_S5066, "timer-failed", "error=\"out of memory\"");
}

/* client_req_free - unlink, disarm and free a request */
static void client_req_free(struct s5066_client *c, struct client_req *q)
{
    util_timerheap_cancel(&c->timers, &q->timer);
    util_list_remove(&q->link);
    switch (q->where) {
    case REQ_QUEUED:
        c->queued--;
        c->queued_bytes -= q->r.updu_len;
        break;
    case REQ_AWAITING: c->n_awaiting--; break;
    default: c->n_recent--; break;
    }
    free(q);
}

/* client_report - tell the user the outcome of a request */
static void client_report(struct s5066_client *c, const struct client_req *q, int result, int reason)
{
    char dest[S5066_ADDR_STRLEN];
    util_log(result == S5066_RESULT_CONFIRMED || result == S5066_RESULT_SENT ? UTIL_LOG_DEBUG
                                                                             : UTIL_LOG_NOTICE,
             UTIL_MOD_S5066, "result", "id=%llu dest=%s sap=%u len=%zu result=%s reason=%d",
             (unsigned long long)q->id, s5066_addr_format(&q->r.dest, dest, sizeof dest),
             q->r.dest_sap, q->r.updu_len, s5066_result_name(result), reason);
    if (c->cb.result)
        c->cb.result(c->user, q->id, result, reason);
}

/* client_enqueue - put a request in its priority queue (at the front on a resend) */
static void client_enqueue(struct s5066_client *c, struct client_req *q, bool front)
{
    q->where = REQ_QUEUED;
    q->qidx = q->r.expedited ? CLIENT_Q_EXPEDITED : q->r.priority;
    if (front)
        util_list_insert_before(c->queue[q->qidx].next, &q->link);
    else
        util_list_push_back(&c->queue[q->qidx], &q->link);
    c->queued++;
    c->queued_bytes += q->r.updu_len;
    if (q->deadline != UTIL_MS_NEVER)
        client_arm(c, &q->timer, q->deadline);
    else
        util_timerheap_cancel(&c->timers, &q->timer);
}

/* client_next_queued - the request to send next: expedited, then priority 15..0 */
static struct client_req *client_next_queued(struct s5066_client *c)
{
    for (int i = CLIENT_Q_EXPEDITED; i >= 0; i--)
        if (!util_list_empty(&c->queue[i]))
            return UTIL_CONTAINER_OF(c->queue[i].next, struct client_req, link);
    return NULL;
}

/* client_ttl_units - the TTL field (2 s units, rounded up) for what is left */
static uint32_t client_ttl_units(const struct client_req *q, util_ms now)
{
    if (q->deadline == UTIL_MS_NEVER)
        return 0;
    util_ms left = q->deadline - now;
    uint64_t units = (left + 1999) / 2000;
    return units > S5066_MAX_TTL ? S5066_MAX_TTL : (uint32_t)(units ? units : 1);
}

/* client_send_one - encode and send one request; 0 sent, negative to stop pumping */
static int client_send_one(struct s5066_client *c, struct client_req *q, util_ms now)
{
    struct s5066_prim p;
    s5066_prim_init(&p, q->r.expedited ? S5066_EXPEDITED_UNIDATA_REQUEST : S5066_UNIDATA_REQUEST);
    p.u.req.priority = q->r.expedited ? 0 : q->r.priority;
    p.u.req.sap = q->r.dest_sap;
    p.u.req.dest = q->r.dest;
    p.u.req.mode = q->r.mode;
    p.u.req.ttl = client_ttl_units(q, now);
    p.u.req.updu = q->data;
    p.u.req.updu_len = q->r.updu_len;
    int rc = client_emit(c, &p);
    if (rc < 0)
        return rc;
    c->stats.sent++;
    util_timerheap_cancel(&c->timers, &q->timer);
    util_list_remove(&q->link);
    c->queued--;
    c->queued_bytes -= q->r.updu_len;
    if (q->wants_confirm) {
        q->where = REQ_AWAITING;
        util_list_push_back(&c->awaiting, &q->link);
        c->n_awaiting++;
        util_ms limit = q->deadline != UTIL_MS_NEVER ? q->deadline + c->cfg.bind_timeout_ms
                                                     : now + c->cfg.confirm_timeout_ms;
        client_arm(c, &q->timer, limit);
    } else {
        client_report(c, q, S5066_RESULT_SENT, 0);
        q->where = REQ_RECENT;
        util_list_push_back(&c->recent, &q->link);
        c->n_recent++;
        client_arm(c, &q->timer, now + CLIENT_RECENT_MS);
        if (c->n_recent > CLIENT_RECENT_MAX)
            client_req_free(c, UTIL_CONTAINER_OF(c->recent.next, struct client_req, link));
    }
    return 0;
}

/* client_pump - send queued requests while we may */
static void client_pump(struct s5066_client *c, util_ms now)
{
    struct client_req *q;
    while (client_can_send(c) && (q = client_next_queued(c))) {
        if (q->r.updu_len > c->mtu) {
            client_report(c, q, S5066_RESULT_TOO_LARGE, 0);
            client_req_free(c, q);
            continue;
        }
        if (client_send_one(c, q, now) < 0)
            break;
    }
}

/* s5066_client_kick - send what may be sent now (the glue calls it when the link is writable) */
void s5066_client_kick(struct s5066_client *c, util_ms now)
{
    client_pump(c, now);
}

/* client_keepalive_rearm - next keep-alive check after traffic */
static void client_keepalive_rearm(struct s5066_client *c)
{
    if (!c->link_up) {
        util_timerheap_cancel(&c->timers, &c->keepalive_timer);
        return;
    }
    util_ms when;
    if (c->ka_sent_at != UTIL_MS_NEVER) {
        when = c->ka_sent_at + c->cfg.keepalive_timeout_ms;
    } else {
        util_ms idle = UTIL_MAX(c->cfg.keepalive_idle_ms, CLIENT_KEEPALIVE_MIN_MS);
        when = c->last_rx + idle;
        if (c->ka_last_sent != UTIL_MS_NEVER)
            when = UTIL_MAX(when, c->ka_last_sent + CLIENT_KEEPALIVE_MIN_MS);
    }
    client_arm(c, &c->keepalive_timer, when);
}

/* client_send_bind - send BIND_REQUEST and wait */
static void client_send_bind(struct s5066_client *c, util_ms now)
{
    struct s5066_prim p;
    s5066_prim_init(&p, S5066_BIND_REQUEST);
    p.u.bind_request.sap = c->cfg.sap;
    p.u.bind_request.rank = c->cfg.rank;
    p.u.bind_request.service = c->cfg.service;
    client_set_state(c, S5066_CLIENT_BINDING);
    util_log(UTIL_LOG_INFO, UTIL_MOD_S5066, "bind", "sap=%u rank=%u tx_mode=%u", c->cfg.sap,
             c->cfg.rank, c->cfg.service.tx_mode);
    client_emit(c, &p);
    client_arm(c, &c->bind_timer, now + c->cfg.bind_timeout_ms);
}

/* client_requeue_awaiting - on unbind or link loss, confirmable requests are sent again */
static void client_requeue_awaiting(struct s5066_client *c, util_ms now)
{
    /* walk backwards so that pushing each to the front keeps their order */
    while (!util_list_empty(&c->awaiting)) {
        struct client_req *q = UTIL_CONTAINER_OF(c->awaiting.prev, struct client_req, link);
        util_list_remove(&q->link);
        c->n_awaiting--;
        if (q->deadline != UTIL_MS_NEVER && q->deadline <= now) {
            client_report(c, q, S5066_RESULT_EXPIRED, 0);
            util_timerheap_cancel(&c->timers, &q->timer);
            free(q);
            continue;
        }
        client_enqueue(c, q, true);
    }
    while (!util_list_empty(&c->recent))
        client_req_free(c, UTIL_CONTAINER_OF(c->recent.next, struct client_req, link));
}

/* client_backoff - wait before binding again, doubling the wait each time */
static void client_backoff(struct s5066_client *c, util_ms now)
{
    if (c->bound_since != UTIL_MS_NEVER && now - c->bound_since >= c->cfg.rebind_max_ms)
        c->backoff = c->cfg.rebind_min_ms; /* a long, healthy bind: start over */
    c->bound_since = UTIL_MS_NEVER;
    util_ms wait = c->backoff ? c->backoff : c->cfg.rebind_min_ms;
    c->backoff = UTIL_MIN(wait * 2, c->cfg.rebind_max_ms);
    client_set_state(c, S5066_CLIENT_BACKOFF);
    util_log(UTIL_LOG_INFO, UTIL_MOD_S5066, "rebind-wait", "sap=%u wait_ms=%llu", c->cfg.sap,
             (unsigned long long)wait);
    client_arm(c, &c->bind_timer, now + wait);
}

/* s5066_client_new - an engine in state DOWN; NULL on allocation failure */
struct s5066_client *s5066_client_new(const struct s5066_client_config *cfg,
                                      const struct s5066_client_callbacks *cb, void *user)
{
    struct s5066_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->scratch_len = S5066_HDR_LEN + S5066_MAX_SIZE;
    c->scratch = malloc(c->scratch_len);
    if (!c->scratch) {
        free(c);
        return NULL;
    }
    c->cfg = *cfg;
    c->cb = *cb;
    c->user = user;
    c->state = S5066_CLIENT_DOWN;
    c->flow_on = true;
    c->subnet = S5066_SUBNET_ON;
    for (int i = 0; i <= CLIENT_PRIORITIES; i++)
        util_list_init(&c->queue[i]);
    util_list_init(&c->awaiting);
    util_list_init(&c->recent);
    util_timerheap_init(&c->timers);
    util_timer_init(&c->bind_timer);
    util_timer_init(&c->keepalive_timer);
    c->bound_since = UTIL_MS_NEVER;
    c->ka_sent_at = UTIL_MS_NEVER;
    c->ka_last_sent = UTIL_MS_NEVER;
    c->next_id = 1;
    return c;
}

/* s5066_client_free - release the engine and its queue */
void s5066_client_free(struct s5066_client *c)
{
    if (!c)
        return;
    struct util_list *lists[CLIENT_PRIORITIES + 3];
    size_t n = 0;
    for (int i = 0; i <= CLIENT_PRIORITIES; i++)
        lists[n++] = &c->queue[i];
    lists[n++] = &c->awaiting;
    lists[n++] = &c->recent;
    for (size_t i = 0; i < n; i++)
        while (!util_list_empty(lists[i]))
            client_req_free(c, UTIL_CONTAINER_OF(lists[i]->next, struct client_req, link));
    util_timerheap_free(&c->timers);
    free(c->scratch);
    free(c);
}

/* s5066_client_link_up - the link is connected: bind */
void s5066_client_link_up(struct s5066_client *c, util_ms now)
{
    c->link_up = true;
    c->last_rx = now;
    c->ka_sent_at = UTIL_MS_NEVER;
    c->flow_on = true;
    c->subnet = S5066_SUBNET_ON;
    client_keepalive_rearm(c);
    /* FAILED (a final BIND_REJECTED) holds for that connection only: a new
     * one may be a reconfigured server, and a hostile or broken one must
     * not keep us unbound for good */
    if (util_timer_armed(&c->bind_timer) && c->state == S5066_CLIENT_BACKOFF)
        return; /* bind when the backoff ends */
    client_send_bind(c, now);
}

/* s5066_client_link_down - the link is gone: unconfirmed requests go back to the queue */
void s5066_client_link_down(struct s5066_client *c, util_ms now)
{
    c->link_up = false;
    util_timerheap_cancel(&c->timers, &c->keepalive_timer);
    client_requeue_awaiting(c, now);
    if (c->state == S5066_CLIENT_BINDING)
        util_timerheap_cancel(&c->timers, &c->bind_timer);
    /* In BACKOFF the timer stays armed: the next link_up waits for it. */
    if (c->state == S5066_CLIENT_BOUND || c->state == S5066_CLIENT_BINDING ||
        c->state == S5066_CLIENT_FAILED)
        client_set_state(c, S5066_CLIENT_DOWN);
    client_log_flush(c);
}

/* client_match - the awaiting/recent request a CONFIRM or REJECTED refers to */
static struct client_req *client_match(struct s5066_client *c, const struct s5066_unidata_result *r,
                                       bool confirm)
{
    struct util_list *lists[2] = {&c->awaiting, &c->recent};
    uint32_t dest = s5066_addr_to_u32(&r->dest);
    for (int l = 0; l < (confirm ? 1 : 2); l++) {
        struct util_list *it;
        UTIL_LIST_FOREACH(it, lists[l]) {
            struct client_req *q = UTIL_CONTAINER_OF(it, struct client_req, link);
            if (s5066_addr_to_u32(&q->r.dest) != dest || q->r.dest_sap != r->sap)
                continue;
            if (r->updu_len > q->r.updu_len || (r->updu_len && memcmp(q->data, r->updu, r->updu_len)))
                continue;
            return q;
        }
    }
    return NULL;
}

/* client_on_result - CONFIRM or REJECTED from the server */
static void client_on_result(struct s5066_client *c, util_ms now, const struct s5066_prim *p)
{
    bool confirm = p->type == S5066_UNIDATA_REQUEST_CONFIRM ||
                   p->type == S5066_EXPEDITED_UNIDATA_REQUEST_CONFIRM;
    struct client_req *q = client_match(c, &p->u.result, confirm);
    if (!q) {
        char dest[S5066_ADDR_STRLEN], sup[32];
        if (client_log_ok(c, CLOG_UNMATCHED, now, sup, sizeof sup))
            util_log(UTIL_LOG_WARN, UTIL_MOD_S5066, "result-unmatched",
                     "type=%s dest=%s sap=%u len=%zu%s", s5066_type_name(p->type),
                     s5066_addr_format(&p->u.result.dest, dest, sizeof dest), p->u.result.sap,
                     p->u.result.updu_len, sup);
        return;
    }
    if (confirm) {
        c->stats.confirmed++;
        client_report(c, q, S5066_RESULT_CONFIRMED, 0);
    } else {
        c->stats.rejected++;
        client_report(c, q, S5066_RESULT_REJECTED, p->u.result.reason);
    }
    client_req_free(c, q);
}

/* s5066_client_input - one primitive from the server */
void s5066_client_input(struct s5066_client *c, util_ms now, const struct s5066_prim *p)
{
    c->last_rx = now;
    char sup[32];
    UTIL_TRACE(UTIL_MOD_S5066, "rx", "type=%s", s5066_type_name(p->type));
    switch (p->type) {
    case S5066_BIND_ACCEPTED:
        if (c->state != S5066_CLIENT_BINDING) {
            client_unexpected(c, now, p, "");
            break;
        }
        util_timerheap_cancel(&c->timers, &c->bind_timer);
        c->mtu = p->u.bind_accepted.mtu;
        c->bound_since = now;
        c->stats.binds++;
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_S5066, "bound", "sap=%u mtu=%u", c->cfg.sap, c->mtu);
        client_set_state(c, S5066_CLIENT_BOUND);
        break;
    case S5066_BIND_REJECTED: {
        if (c->state != S5066_CLIENT_BINDING) {
            client_unexpected(c, now, p, "");
            break;
        }
        int reason = p->u.reason.reason;
        util_timerheap_cancel(&c->timers, &c->bind_timer);
        bool final = reason == S5066_BIND_REJ_INVALID_SAP || reason == S5066_BIND_REJ_ARQ_BROADCAST;
        if (client_log_ok(c, CLOG_BIND_REJECTED, now, sup, sizeof sup))
            util_log(final ? UTIL_LOG_ERR : UTIL_LOG_WARN, UTIL_MOD_S5066, "bind-rejected",
                     "sap=%u reason=%d%s", c->cfg.sap, reason, sup);
        if (final)
            client_set_state(c, S5066_CLIENT_FAILED); /* our config: no retry on this connection */
        else
            client_backoff(c, now);
        break;
    }
    case S5066_UNBIND_INDICATION:
        if (c->state != S5066_CLIENT_BOUND && c->state != S5066_CLIENT_BINDING) {
            /* nothing to unbind: waiting to bind again, it must not push the
             * next bind further away (nor bring it nearer) */
            client_unexpected(c, now, p, "");
            break;
        }
        if (client_log_ok(c, CLOG_UNBOUND, now, sup, sizeof sup))
            util_log(UTIL_LOG_WARN, UTIL_MOD_S5066, "unbound", "sap=%u reason=%u%s", c->cfg.sap,
                     p->u.reason.reason, sup);
        util_timerheap_cancel(&c->timers, &c->bind_timer);
        client_requeue_awaiting(c, now);
        client_backoff(c, now);
        break;
    case S5066_KEEP_ALIVE:
        if (c->ka_sent_at != UTIL_MS_NEVER) {
            c->ka_sent_at = UTIL_MS_NEVER; /* the answer to ours */
        } else {
            client_emit_type(c, S5066_KEEP_ALIVE); /* Annex A: answer within 10 s */
        }
        break;
    case S5066_DATAFLOW_ON:
        c->flow_on = true;
        client_note_sendable(c, now, "dataflow-on");
        break;
    case S5066_DATAFLOW_OFF:
        c->flow_on = false;
        client_note_sendable(c, now, "dataflow-off");
        break;
    case S5066_SUBNET_AVAILABILITY:
        if (p->u.avail.status > S5066_SUBNET_TRANSMIT_ONLY) {
            char detail[32];
            snprintf(detail, sizeof detail, " status=%u", p->u.avail.status);
            client_unexpected(c, now, p, detail); /* Annex A defines 0..5 */
            break;
        }
        c->subnet = p->u.avail.status;
        c->subnet_reason = p->u.avail.reason;
        if (client_log_ok(c, CLOG_SUBNET, now, sup, sizeof sup))
            util_log(UTIL_LOG_NOTICE, UTIL_MOD_S5066, "subnet", "status=%u reason=%u%s%s",
                     c->subnet, c->subnet_reason,
                     c->subnet_reason == S5066_SUBNET_REASON_EMCON ? " emcon=yes" : "", sup);
        client_note_sendable(c, now,
                             c->subnet_reason == S5066_SUBNET_REASON_EMCON ? "emcon" : "subnet");
        break;
    case S5066_UNIDATA_INDICATION:
    case S5066_EXPEDITED_UNIDATA_INDICATION:
        if (c->state != S5066_CLIENT_BOUND) {
            client_unexpected(c, now, p, "");
            break;
        }
        c->stats.received++;
        if (c->cb.indication)
            c->cb.indication(c->user, &p->u.ind, p->type == S5066_EXPEDITED_UNIDATA_INDICATION);
        break;
    case S5066_UNIDATA_REQUEST_CONFIRM:
    case S5066_UNIDATA_REQUEST_REJECTED:
    case S5066_EXPEDITED_UNIDATA_REQUEST_CONFIRM:
    case S5066_EXPEDITED_UNIDATA_REQUEST_REJECTED:
        client_on_result(c, now, p);
        break;
    default:
        /* hard links and management are not used by this client */
        if (client_log_ok(c, CLOG_IGNORED, now, sup, sizeof sup))
            util_log(UTIL_LOG_DEBUG, UTIL_MOD_S5066, "ignored", "type=%s%s",
                     s5066_type_name(p->type), sup);
        break;
    }
    client_keepalive_rearm(c);
    client_pump(c, now);
}

/* s5066_client_submit - queue a U_PDU; *id identifies it in result callbacks */
int s5066_client_submit(struct s5066_client *c, util_ms now, const struct s5066_client_request *req,
                        uint64_t *id)
{
    if (req->priority > 15 || req->dest_sap > 15 || req->dest.addr > S5066_MAX_ADDR ||
        (req->updu_len && !req->updu))
        return S5066_ERR_INVAL;
    if (req->updu_len > S5066_MAX_UPDU || (c->mtu && req->updu_len > c->mtu))
        return S5066_ERR_UPDU_TOO_LARGE;
    if (c->queued_bytes + req->updu_len > c->cfg.queue_limit_bytes)
        return S5066_ERR_QUEUE_FULL;
    struct client_req *q = malloc(sizeof *q + req->updu_len);
    if (!q)
        return S5066_ERR_NOMEM;
    memset(q, 0, sizeof *q);
    util_list_init(&q->link);
    util_timer_init(&q->timer);
    q->id = c->next_id++;
    q->r = *req;
    if (req->updu_len)
        memcpy(q->data, req->updu, req->updu_len);
    q->r.updu = q->data;
    q->deadline = req->ttl_ms ? now + req->ttl_ms : UTIL_MS_NEVER;
    uint8_t tx_mode = req->mode.tx_mode ? req->mode.tx_mode : c->cfg.service.tx_mode;
    uint8_t confirm = req->mode.tx_mode ? req->mode.confirm : c->cfg.service.confirm;
    q->wants_confirm = tx_mode == S5066_TX_ARQ && confirm != S5066_CONFIRM_NONE;
    client_enqueue(c, q, false);
    if (id)
        *id = q->id;
    client_pump(c, now);
    return 0;
}

/* s5066_client_timeout - run the timers due at now */
void s5066_client_timeout(struct s5066_client *c, util_ms now)
{
    struct util_timer *t;
    while ((t = util_timerheap_pop_due(&c->timers, now))) {
        if (t == &c->bind_timer) {
            if (c->state == S5066_CLIENT_BINDING) {
                util_log(UTIL_LOG_WARN, UTIL_MOD_S5066, "bind-timeout", "sap=%u", c->cfg.sap);
                client_backoff(c, now);
            } else if (c->state == S5066_CLIENT_BACKOFF) {
                if (c->link_up)
                    client_send_bind(c, now);
                else
                    client_set_state(c, S5066_CLIENT_DOWN);
            }
        } else if (t == &c->keepalive_timer) {
            if (!c->link_up)
                continue;
            if (c->ka_sent_at != UTIL_MS_NEVER) {
                util_log(UTIL_LOG_WARN, UTIL_MOD_S5066, "keepalive-timeout", "sap=%u waited_ms=%llu",
                         c->cfg.sap, (unsigned long long)(now - c->ka_sent_at));
                c->ka_sent_at = UTIL_MS_NEVER;
                s5066_client_link_down(c, now);
                if (c->cb.link_lost)
                    c->cb.link_lost(c->user);
                continue;
            }
            c->ka_sent_at = now;
            c->ka_last_sent = now;
            client_emit_type(c, S5066_KEEP_ALIVE);
            client_keepalive_rearm(c);
        } else {
            struct client_req *q = UTIL_CONTAINER_OF(t, struct client_req, timer);
            if (q->where == REQ_QUEUED)
                client_report(c, q, S5066_RESULT_EXPIRED, S5066_REJ_TTL_EXPIRED);
            else if (q->where == REQ_AWAITING)
                client_report(c, q, S5066_RESULT_TIMEOUT, 0);
            client_req_free(c, q);
        }
    }
    client_pump(c, now);
}

/* s5066_client_next_expiry - when s5066_client_timeout is next needed, or UTIL_MS_NEVER */
util_ms s5066_client_next_expiry(const struct s5066_client *c)
{
    return util_timerheap_next_expiry(&c->timers);
}

/* s5066_client_set_hold - an operator's hold (local EMCON): transmit nothing while set */
void s5066_client_set_hold(struct s5066_client *c, util_ms now, bool hold)
{
    c->op_hold = hold;
    client_note_sendable(c, now, hold ? "operator-hold" : "operator-release");
    client_pump(c, now);
}

/* s5066_client_get_status - a snapshot for logs and the operator tool */
void s5066_client_get_status(const struct s5066_client *c, struct s5066_client_status *st)
{
    *st = c->stats;
    st->state = c->state;
    st->mtu = c->mtu;
    st->flow_on = c->flow_on;
    st->subnet = c->subnet;
    st->subnet_reason = c->subnet_reason;
    st->operator_hold = c->op_hold;
    st->queued = c->queued;
    st->queued_bytes = c->queued_bytes;
    st->awaiting = c->n_awaiting;
}
