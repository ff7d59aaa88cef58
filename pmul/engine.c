/* engine.c - the ACP 142 P_MUL protocol engine: its parameters, its clock
 * and timers, the pump that picks what goes on the bearer next (Ack_PDUs
 * first, then the most urgent message's next PDU) and the public entry
 * points that are neither side's alone (new, free, input, timeout, EMCON,
 * the bearer's state, stats).  Parameter names are those of ACP 142 Annex
 * B; the [pmul] config section that sets them is read here too.
 *
 * The transmitter (ACP 142 section 5.2 "Multicast_OUT") is engine_tx.c;
 * the receiver (5.3 "Multicast_IN") is engine_rx.c, and its originators
 * (receive limits, loss detection from the Message_Sequence_Number)
 * engine_src.c; engine_priv.h holds the state they share.
 *
 * An engine: no I/O, no clock.  Every timer sits in one util_timerheap;
 * pacing at the bearer's rate adds one more deadline.  The glue calls
 * pmul_engine_timeout() at pmul_engine_next_expiry().
 */
#include "pmul/engine_priv.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* pmul_params_default - the documented defaults */
void pmul_params_default(struct pmul_params *p)
{
    memset(p, 0, sizeof *p);
    p->pdu_max = 2042;
    p->rate_bps = 2400;
    p->pdu_overhead = 32;
    p->turnaround_ms = 500;
    p->burst_ms = 2000;
    p->ack_retransmission_time = 60000;
    p->back_off_factor = 1.5;
    p->max_retransmission_time = 30 * 60000;
    p->emcon_rtc = 4;
    p->emcon_rti = 10 * 60000;
    p->mm = 20;
    p->ack_pdu_time = 60000;
    p->ack_delay_max = 5000;
    p->seed = 1;
    p->rx_max_message = 16u << 20;
    p->rx_max_total = 64u << 20;
    p->rx_max_messages = 20000;
    p->rx_orphan_time = 3600000;
    p->rx_keep_done = 3600000;
    p->send_ack_ack = true;
    p->gap_wait = 30 * 60000;
}

/* pmul_parse_node_id - decimal, 0x hex or a dotted quad -> a non-zero id */
int pmul_parse_node_id(const char *s, uint32_t *id)
{
    long long v;
    if (!s || !*s)
        return UTIL_ERR_INVAL;
    if (strchr(s, '.')) {
        struct in_addr a;
        if (inet_pton(AF_INET, s, &a) != 1)
            return UTIL_ERR_INVAL;
        *id = ntohl(a.s_addr);
    } else {
        if (util_parse_int(s, 1, 0xFFFFFFFFLL, &v) < 0)
            return UTIL_ERR_INVAL;
        *id = (uint32_t)v;
    }
    return *id ? 0 : UTIL_ERR_INVAL;
}

/* pmul_params_from_conf - the [pmul] section into p */
int pmul_params_from_conf(struct util_conf *conf, struct pmul_params *p)
{
    struct util_conf_section *s = util_conf_section(conf, "pmul", NULL);
    const char *id;
    if (util_conf_str(conf, s, "node_id", NULL, &id) == 0 && id &&
        pmul_parse_node_id(id, &p->node_id) < 0)
        util_conf_fail(conf, s, "node_id", UTIL_ERR_INVAL,
                       "a node id: 1..4294967295, 0x.. or a.b.c.d");
    long long v;
    uint64_t u;
    if (util_conf_int(conf, s, "rate", p->rate_bps, 0, 100000000, &v) == 0)
        p->rate_bps = (uint32_t)v;
    if (util_conf_int(conf, s, "pdu_overhead", p->pdu_overhead, 0, 65535, &v) == 0)
        p->pdu_overhead = (unsigned)v;
    util_conf_duration_ms(conf, s, "burst", p->burst_ms, 0, 3600000, &p->burst_ms);
    util_conf_duration_ms(conf, s, "turnaround", p->turnaround_ms, 0, 60000, &p->turnaround_ms);
    util_conf_duration_ms(conf, s, "ack_retransmission_time", p->ack_retransmission_time, 1,
                          86400000, &p->ack_retransmission_time);
    util_conf_double(conf, s, "back_off_factor", p->back_off_factor, 1.0, 100.0,
                     &p->back_off_factor);
    util_conf_duration_ms(conf, s, "max_retransmission_time", p->max_retransmission_time, 1,
                          7 * 86400000ULL, &p->max_retransmission_time);
    if (util_conf_int(conf, s, "emcon_rtc", p->emcon_rtc, 0, 1000, &v) == 0)
        p->emcon_rtc = (unsigned)v;
    util_conf_duration_ms(conf, s, "emcon_rti", p->emcon_rti, 1, 7 * 86400000ULL, &p->emcon_rti);
    if (util_conf_int(conf, s, "mm", p->mm, 1, 30000, &v) == 0)
        p->mm = (unsigned)v;
    util_conf_duration_ms(conf, s, "ack_pdu_time", p->ack_pdu_time, 1, 86400000, &p->ack_pdu_time);
    util_conf_duration_ms(conf, s, "ack_delay_max", p->ack_delay_max, 0, 3600000,
                          &p->ack_delay_max);
    if (util_conf_int(conf, s, "seed", (long long)p->seed, 0, INT64_MAX, &v) == 0)
        p->seed = (uint64_t)v;
    if (util_conf_size(conf, s, "rx_max_message", p->rx_max_message, 1, (uint64_t)1 << 32, &u) == 0)
        p->rx_max_message = (size_t)u;
    if (util_conf_size(conf, s, "rx_max_total", p->rx_max_total, 1, (uint64_t)1 << 40, &u) == 0)
        p->rx_max_total = (size_t)u;
    if (util_conf_int(conf, s, "rx_max_messages", (long long)p->rx_max_messages, 1, 10000000, &v) ==
        0)
        p->rx_max_messages = (size_t)v;
    util_conf_duration_ms(conf, s, "rx_orphan_time", p->rx_orphan_time, 1, 7 * 86400000ULL,
                          &p->rx_orphan_time);
    util_conf_duration_ms(conf, s, "rx_keep_done", p->rx_keep_done, 0, 30 * 86400000ULL,
                          &p->rx_keep_done);
    util_conf_bool(conf, s, "send_ack_ack", p->send_ack_ack, &p->send_ack_ack);
    util_conf_duration_ms(conf, s, "gap_wait", p->gap_wait, 0, 7 * 86400000ULL, &p->gap_wait);
    return util_conf_errcode(conf);
}

/* ---- small helpers ---------------------------------------------------------- */

/* eng_arm - arm one of the engine's timers */
void eng_arm(struct pmul_engine *e, struct eng_timer *t, util_ms when)
{
    if (util_timerheap_arm(&e->timers, &t->t, when) < 0)
        util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "timer-failed", "error=\"out of memory\"");
}

/* eng_timer_init - a disarmed timer of a kind for an owner */
void eng_timer_init(struct eng_timer *t, int kind, void *owner)
{
    util_timer_init(&t->t);
    t->kind = (uint8_t)kind;
    t->owner = owner;
}

/* eng_wall_ms - the wall clock at now */
int64_t eng_wall_ms(const struct pmul_engine *e, util_ms now)
{
    return (int64_t)now + e->wall_offset;
}

/* eng_mono_of_wall - the monotonic time of a wall-clock UNIX second */
util_ms eng_mono_of_wall(const struct pmul_engine *e, int64_t wall_s)
{
    int64_t m = wall_s * 1000 - e->wall_offset;
    return m < 0 ? 0 : (util_ms)m;
}

/* eng_airtime - ms the bearer needs for one PDU of len bytes */
util_ms eng_airtime(const struct pmul_engine *e, size_t len)
{
    if (!e->p.rate_bps)
        return 0;
    uint64_t bits = (uint64_t)(len + e->p.pdu_overhead) * 8000u;
    return (bits + e->p.rate_bps - 1) / e->p.rate_bps + e->p.turnaround_ms;
}

/* eng_charge - a PDU of priority prio taking `air` ms went to the bearer:
 * its class and every more routine one wait for it (the 5066 server sends
 * it before their queued U_PDUs: they are pushed back by as much); the
 * more urgent classes do not */
void eng_charge(struct pmul_engine *e, util_ms now, unsigned prio, util_ms air)
{
    unsigned c = eng_pace_class(prio);
    util_ms end = UTIL_MAX(e->tx_free[c], now) + air;
    for (unsigned k = c; k < PMUL_PACE_CLASSES; k++)
        e->tx_free[k] = UTIL_MAX(UTIL_MAX(e->tx_free[k], now) + air, end);
}

/* eng_free_at - when the channel is free for a PDU of priority prio */
util_ms eng_free_at(const struct pmul_engine *e, unsigned prio)
{
    return e->tx_free[eng_pace_class(prio)];
}

/* eng_emit - encode and hand a PDU to the bearer; 0, or negative (not sent) */
int eng_emit(struct pmul_engine *e, util_ms now, const struct pmul_pdu *pdu,
             const struct pmul_tx_info *info)
{
    int n = pmul_encode(pdu, e->buf, e->buf_len);
    if (n < 0) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "encode-failed", "type=%s error=\"%s\"",
                 pmul_type_name(pdu->type), pmul_strerror(n));
        return n;
    }
    int rc = e->cb.send(e->user, e->buf, (size_t)n, info);
    if (rc < 0) {
        /* the bearer could not take it: try again a little later */
        e->retry_at = now + 1000;
        return rc;
    }
    e->st.pdus_sent++;
    e->st.bytes_sent += (uint64_t)n;
    if (e->p.rate_bps)
        eng_charge(e, now, info->priority, eng_airtime(e, (size_t)n));
    UTIL_TRACE(UTIL_MOD_PMUL, "tx", "type=%s src=" PMUL_ID_FMT " msgid=%u len=%d",
               pmul_type_name(pdu->type), PMUL_ID_ARGS(pdu->source_id), pdu->message_id, n);
    return 0;
}

/* ---- the pump and the timers -------------------------------------------------- */

/* eng_next_prio - the priority of the PDU the pump would send next (acks
 * first, then the most urgent message), or -1 if nothing waits */
static int eng_next_prio(const struct pmul_engine *e)
{
    if (!util_list_empty(&e->ack_ready))
        return UTIL_CONTAINER_OF(e->ack_ready.next, struct rx_ent, rlink)->prio;
    if (!util_list_empty(&e->sendq))
        return UTIL_CONTAINER_OF(e->sendq.next, struct tx_msg, qlink)->prio;
    return -1;
}

/* eng_can_send - whether the engine may put a PDU of priority prio on the
 * bearer now: at most burst_ms ahead of the channel, as its class sees it */
static bool eng_can_send(const struct pmul_engine *e, util_ms now, int prio)
{
    if (prio < 0 || e->emcon || e->blocked || now < e->retry_at)
        return false;
    return !e->p.rate_bps || eng_free_at(e, (unsigned)prio) <= now + e->p.burst_ms;
}

/* eng_pump - send acks first, then the most urgent message's next PDU, while pacing allows */
void eng_pump(struct pmul_engine *e, util_ms now)
{
    while (eng_can_send(e, now, eng_next_prio(e))) {
        if (!util_list_empty(&e->ack_ready)) {
            if (rx_send_acks(e, now) < 0)
                break;
            continue;
        }
        if (util_list_empty(&e->sendq))
            break;
        struct tx_msg *m = UTIL_CONTAINER_OF(e->sendq.next, struct tx_msg, qlink);
        if (tx_emit_one(e, now, m) < 0)
            break;
        if (!tx_has_work(m)) {
            tx_dequeue(m);
            if (!m->done)
                tx_round_sent(e, now, m);
        }
    }
}

/* eng_on_timer - one due timer */
static void eng_on_timer(struct pmul_engine *e, util_ms now, struct eng_timer *t)
{
    switch (t->kind) {
    case T_TX_RT: {
        struct tx_msg *m = t->owner;
        bool silent = false; /* a timeout, not every destination answering */
        for (size_t i = 0; i < m->ndest; i++) {
            const struct tx_dest *d = &m->dests[i];
            silent |= d->state < 0 && !d->emcon && !(d->heard && d->heard_round == m->round);
        }
        if (m->held)
            break; /* pmul_engine_hold(..., false) starts the round */
        util_ms own = e->tx_free[PMUL_PACE_CLASSES - 1];
        if (silent && e->p.rate_bps && own > now && own - m->round_sent < e->p.max_retransmission_time) {
            /* our own later PDUs are still going out: on a half-duplex
             * channel the acks come once we are quiet (a receiver that
             * lacks the round's last PDU asks after ACK_PDU_TIME anyway);
             * at most MAX_RE-TRANSMISSION_TIME of this */
            m->round_end = own;
            eng_arm(e, &m->t_rt, own + tx_rto(e, m));
            break;
        }
        if (silent && m->backoff < 1e6)
            m->backoff *= e->p.back_off_factor;
        if (!m->done && tx_open_non_emcon(m))
            tx_start_round(e, now, m, false);
        break;
    }
    case T_TX_EMCON: {
        struct tx_msg *m = t->owner;
        if (!m->done && !m->held && tx_open_emcon(m)) {
            m->emcon_rounds++;
            tx_start_round(e, now, m, true);
        }
        break;
    }
    case T_TX_EXPIRY:
        tx_on_expiry(e, now, t->owner);
        break;
    case T_TX_FORGET: {
        struct tx_msg *m = t->owner;
        if (tx_has_work(m))
            eng_arm(e, &m->t_forget, now + 60000); /* its Discard/Ack-Ack has not gone yet */
        else
            tx_destroy(e, m);
        break;
    }
    case T_RX_ACK: {
        struct rx_ent *h = t->owner;
        struct rx_msg *m = rx_msg_of(h);
        if (h->finished || (m ? !m->for_us : h->kind != RX_DELIVERED))
            break;
        if (m && h->expiry && eng_wall_ms(e, now) > h->expiry * 1000)
            break; /* expired: no point asking */
        if (m && !rx_may_ask(e, h->src)) {
            e->st.acks_withheld++; /* its completion is acknowledged; nothing is asked before */
            util_log(UTIL_LOG_DEBUG, UTIL_MOD_PMUL, "ack-withheld",
                     "to=" PMUL_ID_FMT " msgid=%u have=%u of=%u (unknown originator)",
                     PMUL_ID_ARGS(h->src), h->msgid, m->have, m->total);
            break;
        }
        if (!h->ready) {
            util_list_push_back(&e->ack_ready, &h->rlink);
            h->ready = true;
        }
        break;
    }
    case T_RX_LIFE: rx_ent_destroy(e, t->owner); break;
    case T_SRC_GAP: {
        struct src_state *s = t->owner;
        while (s->ngaps && s->gaps[0].final_at <= now)
            src_gap_final(e, now, s, 0);
        src_arm(e, s);
        break;
    }
    default: break;
    }
}

/* pmul_engine_timeout - run what is due at now */
void pmul_engine_timeout(struct pmul_engine *e, util_ms now)
{
    struct util_timer *t;
    while ((t = util_timerheap_pop_due(&e->timers, now)))
        eng_on_timer(e, now, UTIL_CONTAINER_OF(t, struct eng_timer, t));
    eng_pump(e, now);
}

/* pmul_engine_next_expiry - when pmul_engine_timeout is next needed */
util_ms pmul_engine_next_expiry(const struct pmul_engine *e)
{
    util_ms next = util_timerheap_next_expiry(&e->timers);
    int prio = eng_next_prio(e);
    if (prio >= 0 && !e->emcon && !e->blocked) {
        util_ms free_at = eng_free_at(e, (unsigned)prio);
        util_ms pace = e->p.rate_bps && free_at > e->p.burst_ms ? free_at - e->p.burst_ms : 0;
        next = UTIL_MIN(next, UTIL_MAX(pace, e->retry_at));
    }
    return next;
}

/* ---- public entry points ---------------------------------------------------------- */

/* pmul_engine_new - an engine; NULL on bad params or no memory */
struct pmul_engine *pmul_engine_new(const struct pmul_params *p, const struct pmul_callbacks *cb,
                                    void *user)
{
    if (!p->node_id || p->pdu_max < 64 || !cb->send || p->back_off_factor < 1.0 || !p->ack_retransmission_time)
        return NULL;
    struct pmul_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->p = *p;
    if (e->p.pdu_max > PMUL_MAX_LEN)
        e->p.pdu_max = PMUL_MAX_LEN;
    if (!e->p.mm)
        e->p.mm = 1;
    e->cb = *cb;
    e->user = user;
    e->buf_len = PMUL_MAX_LEN;
    e->buf = malloc(e->buf_len);
    if (!e->buf) {
        free(e);
        return NULL;
    }
    util_timerheap_init(&e->timers);
    /* the node id is mixed in: receivers with the same configured seed must
     * not draw the same ack delays (they would all answer at once) */
    util_rng_seed(&e->rng, p->seed ^ ((uint64_t)p->node_id * 0x9E3779B97F4A7C15ull));
    util_list_init(&e->tx_all);
    util_list_init(&e->sendq);
    util_list_init(&e->ack_ready);
    util_list_init(&e->dups);
    util_list_init(&e->src_idle);
    e->next_handle = 1;
    if (eng_table_init(e, &e->rx_table) < 0 || eng_table_init(e, &e->src_table) < 0 ||
        eng_heap_grow(e, 16) < 0) {
        pmul_engine_free(e);
        return NULL;
    }
    return e;
}

/* pmul_engine_free - release everything (no callbacks) */
void pmul_engine_free(struct pmul_engine *e)
{
    if (!e)
        return;
    while (!util_list_empty(&e->tx_all))
        tx_destroy(e, UTIL_CONTAINER_OF(e->tx_all.next, struct tx_msg, link));
    for (size_t i = 0; e->rx_table.b && i < e->rx_table.nb; i++)
        while (!util_list_empty(&e->rx_table.b[i]))
            rx_ent_destroy(e, UTIL_CONTAINER_OF(e->rx_table.b[i].next, struct rx_ent, hlink));
    while (!util_list_empty(&e->src_idle)) /* every originator is idle now */
        src_forget(e, UTIL_CONTAINER_OF(e->src_idle.next, struct src_state, lru));
    eng_table_free(e, &e->rx_table);
    eng_table_free(e, &e->src_table);
    if (e->heap_cap)
        rx_state_add(e, -(long long)(2 * (e->heap_cap * sizeof(void *) + ALLOC_COST)));
    free(e->heap[0]);
    free(e->heap[1]);
    util_timerheap_free(&e->timers);
    free(e->buf);
    free(e);
}

/* pmul_engine_set_wall - the wall clock at `now` */
void pmul_engine_set_wall(struct pmul_engine *e, util_ms now, int64_t wall_ms)
{
    e->wall_offset = wall_ms - (int64_t)now;
}

/* eng_peer_convention - a peer follows another reading of ACP 142 than
 * ours (what: PEER_CONV_*): taken, and said once per peer and kind */
void eng_peer_convention(struct pmul_engine *e, uint32_t peer, uint8_t what)
{
    size_t i = 0;
    while (i < e->nconv && e->conv[i].peer != peer)
        i++;
    if (i == e->nconv) {
        if (e->nconv == PMUL_CONV_PEERS)
            return; /* counted in the stats; no more lines */
        e->conv[i].peer = peer;
        e->conv[i].what = 0;
        e->nconv++;
    }
    if (e->conv[i].what & what)
        return;
    e->conv[i].what |= what;
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_PMUL, "peer-convention",
             "peer=" PMUL_ID_FMT " convention=%s (%s)", PMUL_ID_ARGS(peer),
             what == PEER_CONV_ACKER_ID ? "ack-source-acker" : "padding",
             what == PEER_CONV_ACKER_ID
                 ? "its Ack_Info_Entries carry its own id as Source_ID: taken as acks of our messages"
                 : "its PDUs have bytes after Length_of_PDU: taken as padding");
}

/* pmul_engine_input - one PDU from the bearer */
int pmul_engine_input(struct pmul_engine *e, util_ms now, const uint8_t *in, size_t len)
{
    struct pmul_pdu p;
    int rc = pmul_decode_ex(in, len, PMUL_DEC_PADDED, &p);
    if (rc < 0) {
        e->st.bad_pdus++;
        return rc;
    }
    e->st.pdus_received++;
    if (p.padding) {
        e->st.padded_in++;
        eng_peer_convention(e, p.source_id, PEER_CONV_PADDING);
    }
    switch (p.type) {
    case PMUL_DATA: rx_on_data(e, now, &p); break;
    case PMUL_ADDRESS: rx_on_address(e, now, &p); break;
    case PMUL_DISCARD_MESSAGE: rx_on_discard(e, now, &p); break;
    case PMUL_ACK: {
        e->st.acks_received++;
        struct pmul_ack_iter it;
        struct pmul_ack_entry a;
        pmul_ack_iter_init(&it, &p);
        while (pmul_ack_iter_next(&it, &a)) {
            if (a.source_id == e->p.node_id) {
                tx_on_ack_entry(e, now, p.source_id, &a);
            } else if (a.source_id == p.source_id && tx_on_ack_entry(e, now, p.source_id, &a)) {
                /* the acker's own id where ACP 142 puts the originator's: no
                 * receiver acks its own message, so it can only mean ours */
                e->st.acks_acker_id++;
                eng_peer_convention(e, p.source_id, PEER_CONV_ACKER_ID);
            }
        }
        break;
    }
    default:
        /* Announce/Request/Reject/Release: dynamic multicast groups are not used here */
        UTIL_TRACE(UTIL_MOD_PMUL, "ignored", "type=%s src=" PMUL_ID_FMT, pmul_type_name(p.type),
                   PMUL_ID_ARGS(p.source_id));
        break;
    }
    eng_pump(e, now);
    return 0;
}

/* pmul_engine_set_emcon - own node in EMCON: transmit nothing; acks wait for the end */
void pmul_engine_set_emcon(struct pmul_engine *e, util_ms now, bool emcon)
{
    if (e->emcon == emcon)
        return;
    e->emcon = emcon;
    unsigned suppressed = 0;
    if (util_ratelimit_allow(&e->rl_emcon, now, 2 * PMUL_LOG_BURST, PMUL_LOG_WINDOW_MS, &suppressed))
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_PMUL, emcon ? "emcon-on" : "emcon-off", "node=" PMUL_ID_FMT " suppressed=%u",
                 PMUL_ID_ARGS(e->p.node_id), suppressed);
    if (!emcon) {
        /* the deferred acks go out, each after its own random delay */
        while (!util_list_empty(&e->ack_ready)) {
            struct rx_ent *h = UTIL_CONTAINER_OF(e->ack_ready.next, struct rx_ent, rlink);
            rx_unready(h);
            rx_schedule_ack(e, now, h, 0);
        }
        for (unsigned k = 0; k < PMUL_PACE_CLASSES; k++)
            e->tx_free[k] = UTIL_MAX(e->tx_free[k], now);
    }
    eng_pump(e, now);
}

/* pmul_engine_set_blocked - the bearer cannot take PDUs now */
void pmul_engine_set_blocked(struct pmul_engine *e, util_ms now, bool blocked)
{
    e->blocked = blocked;
    if (!blocked)
        for (unsigned k = 0; k < PMUL_PACE_CLASSES; k++)
            e->tx_free[k] = UTIL_MIN(e->tx_free[k], now);
    eng_pump(e, now);
}

/* pmul_engine_set_pdu_max - the bearer's PDU size changed */
void pmul_engine_set_pdu_max(struct pmul_engine *e, size_t pdu_max)
{
    if (pdu_max >= 64)
        e->p.pdu_max = UTIL_MIN(pdu_max, (size_t)PMUL_MAX_LEN);
}

/* pmul_engine_get_stats - counters and sizes */
void pmul_engine_get_stats(const struct pmul_engine *e, struct pmul_engine_stats *st)
{
    *st = e->st;
    st->srtt_ms = e->have_rtt ? e->srtt : 0;
    st->rttvar_ms = e->have_rtt ? e->rttvar : 0;
}
