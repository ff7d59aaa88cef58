/* engine_tx.c - the ACP 142 P_MUL transmitter (ACP 142 section 5.2
 * "Multicast_OUT": Address_PDU and Data_PDUs, selective retransmission on
 * Ack_PDUs, ACK_RE-TRANSMISSION_TIME with BACK-OFF_FACTOR, EMCON_RTC/EMCON_RTI
 * for receivers in EMCON, Discard_Message_PDU at Expiry_Time, the Ack-Ack),
 * and the public entry points about our own messages: send, cancel, retry,
 * a destination's EMCON, a message's status.  Parameter names are those of
 * ACP 142 Annex B.  The pump (engine.c) sends what a message has queued.
 */
#include "pmul/engine_priv.h"

#include <stdlib.h>
#include <string.h>

/* pmul_dest_result_name - "acked", "expired", "cancelled" */
const char *pmul_dest_result_name(int result)
{
    switch (result) {
    case PMUL_DEST_ACKED: return "acked";
    case PMUL_DEST_EXPIRED: return "expired";
    case PMUL_DEST_CANCELLED: return "cancelled";
    default: return "open";
    }
}

/* bit_get - test bit seq-1 */
static inline bool bit_get(const uint8_t *b, unsigned seq)
{
    return (b[(seq - 1) >> 3] >> ((seq - 1) & 7)) & 1;
}

/* bit_set - set bit seq-1 */
static inline void bit_set(uint8_t *b, unsigned seq)
{
    b[(seq - 1) >> 3] |= (uint8_t)(1u << ((seq - 1) & 7));
}

/* bit_clear - clear bit seq-1 */
static inline void bit_clear(uint8_t *b, unsigned seq)
{
    b[(seq - 1) >> 3] &= (uint8_t) ~(1u << ((seq - 1) & 7));
}

/* ---- transmitter -------------------------------------------------------------- */

/* tx_has_work - whether the message has PDUs to send */
bool tx_has_work(const struct tx_msg *m)
{
    return m->send_discard || m->send_ackack || m->send_addr || m->send_count > 0;
}

/* tx_enqueue - put m in the send queue by priority, then age */
static void tx_enqueue(struct pmul_engine *e, struct tx_msg *m)
{
    if (m->queued || !tx_has_work(m) || (m->held && !m->done))
        return;
    struct util_list *it;
    UTIL_LIST_FOREACH(it, &e->sendq) {
        struct tx_msg *o = UTIL_CONTAINER_OF(it, struct tx_msg, qlink);
        if (m->prio < o->prio || (m->prio == o->prio && m->handle < o->handle))
            break;
    }
    util_list_insert_before(it, &m->qlink);
    m->queued = true;
}

/* tx_dequeue - take m out of the send queue */
void tx_dequeue(struct tx_msg *m)
{
    if (m->queued) {
        util_list_remove(&m->qlink);
        m->queued = false;
    }
}

/* tx_refresh_open_ids - the ids of the destinations still open */
static void tx_refresh_open_ids(struct tx_msg *m)
{
    m->nopen_ids = 0;
    for (size_t i = 0; i < m->ndest; i++)
        if (m->dests[i].state < 0)
            m->open_ids[m->nopen_ids++] = m->dests[i].id;
}

/* tx_info - the bearer's view of a PDU of m */
static void tx_info(const struct tx_msg *m, uint8_t type, uint32_t node, struct pmul_tx_info *info)
{
    memset(info, 0, sizeof *info);
    info->type = type;
    info->priority = m->prio;
    info->expiry = m->expiry;
    info->dests = m->open_ids;
    info->ndests = m->nopen_ids;
    info->source_id = node;
    info->message_id = m->msgid;
}

/* tx_free_payload - release what a finished message no longer needs */
static void tx_free_payload(struct tx_msg *m)
{
    free(m->data);
    m->data = NULL;
    free(m->send_bits);
    m->send_bits = NULL;
    m->send_count = 0;
    free(m->addr_list);
    m->addr_list = NULL;
    m->send_addr = false;
    for (size_t i = 0; i < m->ndest; i++) {
        free(m->dests[i].missing);
        m->dests[i].missing = NULL;
    }
}

/* tx_destroy - unlink and free a message */
void tx_destroy(struct pmul_engine *e, struct tx_msg *m)
{
    tx_dequeue(m);
    util_list_remove(&m->link);
    util_timerheap_cancel(&e->timers, &m->t_rt.t);
    util_timerheap_cancel(&e->timers, &m->t_emcon.t);
    util_timerheap_cancel(&e->timers, &m->t_expiry.t);
    util_timerheap_cancel(&e->timers, &m->t_forget.t);
    tx_free_payload(m);
    free(m->dests);
    free(m->open_ids);
    free(m);
    e->st.tx_active--;
}

/* tx_finish - every destination is done: report, Ack-Ack, keep a tombstone */
static void tx_finish(struct pmul_engine *e, util_ms now, struct tx_msg *m)
{
    size_t acked = 0, failed = 0;
    for (size_t i = 0; i < m->ndest; i++) {
        if (m->dests[i].state == PMUL_DEST_ACKED)
            acked++;
        else
            failed++;
    }
    m->done = true;
    util_timerheap_cancel(&e->timers, &m->t_rt.t);
    util_timerheap_cancel(&e->timers, &m->t_emcon.t);
    bool discard = m->send_discard;
    tx_free_payload(m);
    m->send_discard = discard;
    if (failed == 0) {
        e->st.messages_acked++;
        if (e->p.send_ack_ack) {
            m->send_ackack = true;
            m->last_ackack = now;
        }
    }
    util_log(failed ? UTIL_LOG_NOTICE : UTIL_LOG_INFO, UTIL_MOD_PMUL, "message-done",
             "src=" PMUL_ID_FMT " msgid=%u acked=%zu failed=%zu rounds=%u",
             PMUL_ID_ARGS(e->p.node_id), m->msgid, acked, failed, m->round);
    tx_enqueue(e, m);
    /* keep a tombstone to answer late acks until the message would have expired */
    util_ms until = eng_mono_of_wall(e, m->expiry);
    eng_arm(e, &m->t_forget, UTIL_MAX(until, now + 1));
    if (e->cb.message_done)
        e->cb.message_done(e->user, m->handle, m->msgid, acked, failed);
}

/* tx_dest_finish - one destination is done */
static void tx_dest_finish(struct pmul_engine *e, util_ms now, struct tx_msg *m, struct tx_dest *d,
                           int result)
{
    if (d->state >= 0)
        return;
    d->state = result;
    m->open--;
    free(d->missing);
    d->missing = NULL;
    d->nmissing = 0;
    if (result == PMUL_DEST_ACKED)
        e->st.dest_acked++;
    else
        e->st.dest_failed++;
    util_log(result == PMUL_DEST_ACKED       ? UTIL_LOG_INFO
             : result == PMUL_DEST_CANCELLED ? UTIL_LOG_NOTICE
                                             : UTIL_LOG_WARN,
             UTIL_MOD_PMUL, "dest-done",
             "src=" PMUL_ID_FMT " msgid=%u dest=" PMUL_ID_FMT " msn=%u result=%s round=%u",
             PMUL_ID_ARGS(e->p.node_id), m->msgid, PMUL_ID_ARGS(d->id), d->msn,
             pmul_dest_result_name(result), m->round);
    tx_refresh_open_ids(m);
    if (e->cb.dest_done)
        e->cb.dest_done(e->user, m->handle, m->msgid, d->id, result);
    if (m->open == 0)
        tx_finish(e, now, m);
}

/* tx_dest_cmp - order destination entries by Destination_ID */
static int tx_dest_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct pmul_dest *)a)->dest_id, y = ((const struct pmul_dest *)b)->dest_id;
    return x < y ? -1 : x > y;
}

/* tx_plan_address - the Address_PDU(s) naming every open destination */
static void tx_plan_address(struct pmul_engine *e, struct tx_msg *m)
{
    free(m->addr_list);
    m->addr_list = calloc(m->open ? m->open : 1, sizeof *m->addr_list);
    m->addr_n = 0;
    if (!m->addr_list)
        return;
    for (size_t i = 0; i < m->ndest; i++)
        if (m->dests[i].state < 0) {
            m->addr_list[m->addr_n].dest_id = m->dests[i].id;
            m->addr_list[m->addr_n].msn = m->dests[i].msn;
            m->addr_n++;
        }
    qsort(m->addr_list, m->addr_n, sizeof *m->addr_list, tx_dest_cmp);
    int parts = pmul_address_parts(m->addr_n, e->p.pdu_max, 0);
    m->addr_parts = parts > 0 ? (size_t)parts : 1;
    m->addr_part = 0;
    m->send_addr = true;
}

/* tx_last_lacking - the highest Data_PDU d may lack: the highest it
 * reported missing, or the last one if it never said */
static unsigned tx_last_lacking(const struct tx_msg *m, const struct tx_dest *d)
{
    if (d->missing)
        for (unsigned s = m->npdu; s >= 1; s--)
            if (bit_get(d->missing, s))
                return s;
    return m->npdu;
}

/* tx_dest_needs - whether open destination d needs Data_PDU s this round:
 * what it reported missing after the last round; silent once, only the
 * last PDU it may lack (which makes it answer: ACP 142 5.2); silent again,
 * all it may lack.  Never an Address_PDU alone */
static bool tx_dest_needs(const struct tx_msg *m, const struct tx_dest *d, unsigned s)
{
    if (d->state >= 0 || d->emcon)
        return false;
    if (d->silent == 0)
        return d->missing && bit_get(d->missing, s);
    if (d->silent == 1)
        return s == tx_last_lacking(m, d);
    return !d->missing || bit_get(d->missing, s);
}

/* tx_start_round - an Address_PDU for the open destinations and the Data_PDUs they need */
void tx_start_round(struct pmul_engine *e, util_ms now, struct tx_msg *m, bool everything)
{
    if (m->done)
        return;
    size_t prompted = 0;
    for (size_t i = 0; !everything && i < m->ndest; i++) {
        struct tx_dest *d = &m->dests[i];
        if (d->state >= 0 || d->emcon)
            continue;
        if (d->heard && d->heard_round == m->round) {
            d->silent = 0;
        } else {
            d->silent++;
            prompted++;
        }
    }
    if (prompted)
        e->st.rounds_prompt++;
    m->round++;
    tx_plan_address(e, m);
    size_t added = 0;
    for (unsigned s = 1; s <= m->npdu; s++) {
        bool need = everything;
        for (size_t i = 0; !need && i < m->ndest; i++)
            need = tx_dest_needs(m, &m->dests[i], s);
        if (need && !bit_get(m->send_bits, s)) {
            bit_set(m->send_bits, s);
            m->send_count++;
            added++;
        }
    }
    m->scan = 1;
    util_log(UTIL_LOG_INFO, UTIL_MOD_PMUL, "retransmit",
             "src=" PMUL_ID_FMT " msgid=%u round=%u dests=%zu silent=%zu data_pdus=%zu rto_ms=%llu%s",
             PMUL_ID_ARGS(e->p.node_id), m->msgid, m->round, m->open, prompted, added,
             (unsigned long long)tx_rto(e, m), everything ? " emcon=yes" : "");
    tx_enqueue(e, m);
    (void)now;
}

/* tx_open_non_emcon - whether a destination not in EMCON is still open */
bool tx_open_non_emcon(const struct tx_msg *m)
{
    for (size_t i = 0; i < m->ndest; i++)
        if (m->dests[i].state < 0 && !m->dests[i].emcon)
            return true;
    return false;
}

/* tx_open_emcon - whether a destination in EMCON is still open */
bool tx_open_emcon(const struct tx_msg *m)
{
    for (size_t i = 0; i < m->ndest; i++)
        if (m->dests[i].state < 0 && m->dests[i].emcon)
            return true;
    return false;
}

/* tx_rto - how long after a round's end on the air to wait for its acks:
 * RFC 6298's SRTT + max(G, 4 RTTVAR) from the acks heard so far (before
 * any, what is known: the receivers' ack window and the acks' airtime with
 * turnarounds, plus TX_RTO_MIN), between TX_RTO_MIN and
 * ACK_RE-TRANSMISSION_TIME, times the
 * message's back-off, at most MAX_RE-TRANSMISSION_TIME */
util_ms tx_rto(const struct pmul_engine *e, const struct tx_msg *m)
{
    util_ms base;
    if (e->have_rtt) {
        base = e->srtt + UTIL_MAX((util_ms)TX_RTO_GRANULARITY, 4 * e->rttvar);
    } else {
        /* nothing measured yet: the receivers' ack window, then each ack
         * and its 5066 acknowledgement on the air, turnarounds included */
        util_ms window = UTIL_MIN(e->p.ack_delay_max, eng_airtime(e, RX_ACK_TYPICAL_LEN) * m->open);
        base = window + 2 * eng_airtime(e, 64) * m->open + TX_RTO_MIN;
    }
    base = UTIL_MIN(UTIL_MAX(base, (util_ms)TX_RTO_MIN), e->p.ack_retransmission_time);
    double b = (double)base * m->backoff;
    return b >= (double)e->p.max_retransmission_time ? e->p.max_retransmission_time : (util_ms)b;
}

/* tx_rtt_sample - an ack arrived `now` for the round that ended at
 * m->round_end: fold it into SRTT and RTTVAR (RFC 6298 2.2, 2.3) */
static void tx_rtt_sample(struct pmul_engine *e, util_ms now, const struct tx_msg *m)
{
    if (now < m->round_end)
        return; /* before the round was off the air: an earlier round's ack */
    util_ms r = now - m->round_end;
    if (!e->have_rtt) {
        e->srtt = r;
        e->rttvar = r / 2;
        e->have_rtt = true;
    } else {
        util_ms diff = e->srtt > r ? e->srtt - r : r - e->srtt;
        e->rttvar = (3 * e->rttvar + diff) / 4;
        e->srtt = (7 * e->srtt + r) / 8;
    }
}

/* tx_round_sent - the round's last PDU left: wait for acks, from when it
 * will be off the air (the pacing horizon) */
void tx_round_sent(struct pmul_engine *e, util_ms now, struct tx_msg *m)
{
    if (m->done)
        return;
    m->round_end = m->round_sent = UTIL_MAX(now, eng_free_at(e, m->prio));
    if (tx_open_non_emcon(m) && !util_timer_armed(&m->t_rt.t))
        eng_arm(e, &m->t_rt, m->round_end + tx_rto(e, m));
    if (tx_open_emcon(m) && m->emcon_rounds < e->p.emcon_rtc && !util_timer_armed(&m->t_emcon.t))
        eng_arm(e, &m->t_emcon, now + e->p.emcon_rti);
}

/* tx_emit_one - send the next PDU of m */
int tx_emit_one(struct pmul_engine *e, util_ms now, struct tx_msg *m)
{
    struct pmul_pdu pdu;
    struct pmul_tx_info info;
    int rc;
    if (m->send_discard) {
        pmul_pdu_init(&pdu, PMUL_DISCARD_MESSAGE);
        pdu.priority = m->prio;
        pdu.source_id = e->p.node_id;
        pdu.message_id = m->msgid;
        tx_info(m, PMUL_DISCARD_MESSAGE, e->p.node_id, &info);
        if ((rc = eng_emit(e, now, &pdu, &info)) < 0)
            return rc;
        m->send_discard = false;
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_PMUL, "discard-sent", "src=" PMUL_ID_FMT " msgid=%u",
                 PMUL_ID_ARGS(e->p.node_id), m->msgid);
        return 0;
    }
    if (m->send_ackack) {
        pmul_pdu_init(&pdu, PMUL_ADDRESS);
        pdu.priority = m->prio;
        pdu.source_id = e->p.node_id;
        pdu.message_id = m->msgid;
        pdu.u.address.total_pdus = m->npdu;
        pdu.u.address.expiry = (uint32_t)m->expiry;
        tx_info(m, PMUL_ADDRESS, e->p.node_id, &info);
        if ((rc = eng_emit(e, now, &pdu, &info)) < 0)
            return rc;
        m->send_ackack = false;
        return 0;
    }
    if (m->send_addr) {
        struct pmul_pdu whole, part;
        pmul_pdu_init(&whole, PMUL_ADDRESS);
        whole.priority = m->prio;
        whole.source_id = e->p.node_id;
        whole.message_id = m->msgid;
        whole.u.address.total_pdus = m->npdu;
        whole.u.address.expiry = (uint32_t)m->expiry;
        whole.u.address.count = m->addr_n;
        whole.u.address.dests = m->addr_list;
        rc = pmul_address_split(&whole, e->p.pdu_max, m->addr_part, &part);
        if (rc < 0) {
            util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "address-split-failed", "msgid=%u error=\"%s\"", m->msgid,
                     pmul_strerror(rc));
            m->send_addr = false;
            return 0;
        }
        tx_info(m, PMUL_ADDRESS, e->p.node_id, &info);
        if ((rc = eng_emit(e, now, &part, &info)) < 0)
            return rc;
        if (++m->addr_part >= m->addr_parts)
            m->send_addr = false;
        return 0;
    }
    while (m->scan <= m->npdu && !bit_get(m->send_bits, m->scan))
        m->scan++;
    if (m->scan > m->npdu) { /* cannot happen while send_count > 0 */
        m->send_count = 0;
        return 0;
    }
    unsigned seq = m->scan;
    size_t off = (size_t)(seq - 1) * m->frag;
    pmul_pdu_init(&pdu, PMUL_DATA);
    pdu.priority = m->prio;
    pdu.source_id = e->p.node_id;
    pdu.message_id = m->msgid;
    pdu.u.data.seq = (uint16_t)seq;
    pdu.u.data.data = m->data + off;
    pdu.u.data.len = UTIL_MIN(m->frag, m->len - off);
    tx_info(m, PMUL_DATA, e->p.node_id, &info);
    if ((rc = eng_emit(e, now, &pdu, &info)) < 0)
        return rc;
    bit_clear(m->send_bits, seq);
    m->send_count--;
    e->st.data_sent++;
    if (m->round > 0)
        e->st.data_resent++;
    return 0;
}

/* tx_on_expiry - Expiry_Time: every open destination fails, Discard goes out */
void tx_on_expiry(struct pmul_engine *e, util_ms now, struct tx_msg *m)
{
    if (m->done)
        return;
    util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "expired", "src=" PMUL_ID_FMT " msgid=%u open=%zu",
             PMUL_ID_ARGS(e->p.node_id), m->msgid, m->open);
    m->send_discard = true;
    m->send_count = 0;
    m->send_addr = false;
    for (size_t i = 0; i < m->ndest && !m->done; i++)
        tx_dest_finish(e, now, m, &m->dests[i], PMUL_DEST_EXPIRED);
}

/* ---- public entry points ---------------------------------------------------------- */

/* pmul_engine_send - start sending a message */
int pmul_engine_send(struct pmul_engine *e, util_ms now, struct pmul_message *msg, uint64_t *handle)
{
    if (!msg->ndests || (msg->len && !msg->data))
        return PMUL_ERR_ARG;
    if (msg->expiry * 1000 <= eng_wall_ms(e, now))
        return PMUL_ERR_ARG;
    size_t frag = e->p.pdu_max - DATA_HDR;
    size_t npdu = msg->len ? (msg->len + frag - 1) / frag : 1;
    if (npdu > 65535)
        return PMUL_ERR_TOO_BIG;
    for (size_t i = 0; i < msg->ndests; i++) {
        if (!msg->dests[i].id || msg->dests[i].id == e->p.node_id)
            return PMUL_ERR_ARG;
        for (size_t j = 0; j < i; j++)
            if (msg->dests[j].id == msg->dests[i].id)
                return PMUL_ERR_ARG;
    }
    int rc;
    if (!msg->message_id) {
        if (!e->cb.alloc_message_id)
            return PMUL_ERR_ARG;
        if ((rc = e->cb.alloc_message_id(e->user, &msg->message_id)) < 0)
            return rc;
    }
    for (size_t i = 0; i < msg->ndests; i++)
        if (!msg->dests[i].msn) {
            if (!e->cb.alloc_msn)
                return PMUL_ERR_ARG;
            if ((rc = e->cb.alloc_msn(e->user, msg->dests[i].id, &msg->dests[i].msn)) < 0)
                return rc;
        }
    struct tx_msg *m = calloc(1, sizeof *m);
    if (!m)
        return UTIL_ERR_NOMEM;
    m->dests = calloc(msg->ndests, sizeof *m->dests);
    m->open_ids = calloc(msg->ndests, sizeof *m->open_ids);
    m->data = malloc(msg->len ? msg->len : 1);
    m->send_bits = calloc((npdu + 7) / 8, 1);
    if (!m->dests || !m->open_ids || !m->data || !m->send_bits) {
        free(m->dests);
        free(m->open_ids);
        free(m->data);
        free(m->send_bits);
        free(m);
        return UTIL_ERR_NOMEM;
    }
    if (msg->len)
        memcpy(m->data, msg->data, msg->len);
    m->len = msg->len;
    m->frag = frag;
    m->npdu = (uint16_t)npdu;
    m->handle = e->next_handle++;
    m->msgid = msg->message_id;
    m->prio = msg->priority;
    m->expiry = msg->expiry;
    m->ndest = m->open = msg->ndests;
    for (size_t i = 0; i < msg->ndests; i++) {
        m->dests[i].id = msg->dests[i].id;
        m->dests[i].msn = msg->dests[i].msn;
        m->dests[i].emcon = msg->dests[i].emcon;
        m->dests[i].state = -1;
    }
    tx_refresh_open_ids(m);
    m->backoff = 1.0;
    eng_timer_init(&m->t_rt, T_TX_RT, m);
    eng_timer_init(&m->t_emcon, T_TX_EMCON, m);
    eng_timer_init(&m->t_expiry, T_TX_EXPIRY, m);
    eng_timer_init(&m->t_forget, T_TX_FORGET, m);
    util_list_init(&m->qlink);
    util_list_push_back(&e->tx_all, &m->link);
    e->st.tx_active++;
    e->st.messages_sent++;
    eng_arm(e, &m->t_expiry, eng_mono_of_wall(e, m->expiry));
    /* the first transmission: everything, to everyone */
    tx_plan_address(e, m);
    for (unsigned s = 1; s <= m->npdu; s++)
        bit_set(m->send_bits, s);
    m->send_count = m->npdu;
    m->scan = 1;
    tx_enqueue(e, m);
    char exp[UTIL_TIME_ISO_LEN];
    util_log(UTIL_LOG_INFO, UTIL_MOD_PMUL, "send",
             "src=" PMUL_ID_FMT " msgid=%u bytes=%zu pdus=%u dests=%zu priority=%u expiry=%s",
             PMUL_ID_ARGS(e->p.node_id), m->msgid, m->len, m->npdu, m->ndest, m->prio,
             util_time_iso(m->expiry, exp, sizeof exp));
    if (handle)
        *handle = m->handle;
    eng_pump(e, now);
    return 0;
}

/* tx_find_msgid - our message with this Message_ID, or NULL */
static struct tx_msg *tx_find_msgid(struct pmul_engine *e, uint32_t msgid)
{
    struct util_list *it;
    UTIL_LIST_FOREACH(it, &e->tx_all) {
        struct tx_msg *m = UTIL_CONTAINER_OF(it, struct tx_msg, link);
        if (m->msgid == msgid)
            return m;
    }
    return NULL;
}

/* tx_find_handle - our message with this handle, or NULL */
static struct tx_msg *tx_find_handle(const struct pmul_engine *e, uint64_t handle)
{
    struct util_list *it;
    UTIL_LIST_FOREACH(it, &e->tx_all) {
        struct tx_msg *m = UTIL_CONTAINER_OF(it, struct tx_msg, link);
        if (m->handle == handle)
            return m;
    }
    return NULL;
}

/* tx_on_ack_entry - one Ack_Info_Entry about our message from `from`;
 * whether it named one of ours that `from` is a destination of */
bool tx_on_ack_entry(struct pmul_engine *e, util_ms now, uint32_t from, const struct pmul_ack_entry *a)
{
    struct tx_msg *m = tx_find_msgid(e, a->message_id);
    if (!m)
        return false;
    struct tx_dest *d = NULL;
    for (size_t i = 0; i < m->ndest; i++)
        if (m->dests[i].id == from)
            d = &m->dests[i];
    if (!d)
        return false;
    if (m->done) {
        /* a late ack: it has not seen the Ack-Ack */
        if (e->p.send_ack_ack && now - m->last_ackack >= e->p.ack_pdu_time / 2) {
            m->send_ackack = true;
            m->last_ackack = now;
            tx_enqueue(e, m);
        }
        return true;
    }
    if (d->heard_round != m->round || !d->heard)
        tx_rtt_sample(e, now, m); /* its first answer to this round */
    m->backoff = 1.0; /* a new sample: no more back-off (RFC 6298 5.7) */
    if (d->state >= 0)
        return true;
    size_t nmiss = pmul_missing_count(a, m->npdu);
    if (nmiss == 0) {
        tx_dest_finish(e, now, m, d, PMUL_DEST_ACKED);
        return true;
    }
    if (!d->missing && !(d->missing = calloc((m->npdu + 7) / 8, 1)))
        return true;
    memset(d->missing, 0, (m->npdu + 7) / 8);
    struct pmul_missing_iter it;
    uint16_t seq;
    d->nmissing = 0;
    pmul_missing_init(&it, a, m->npdu);
    while (pmul_missing_next(&it, &seq))
        if (seq >= 1 && !bit_get(d->missing, seq)) {
            bit_set(d->missing, seq);
            d->nmissing++;
        }
    d->heard = true;
    d->heard_round = m->round;
    if (d->emcon) {
        d->emcon = false; /* it transmits: it is out of EMCON */
        util_log(UTIL_LOG_INFO, UTIL_MOD_PMUL, "dest-emcon-ended",
                 "src=" PMUL_ID_FMT " msgid=%u dest=" PMUL_ID_FMT, PMUL_ID_ARGS(e->p.node_id),
                 m->msgid, PMUL_ID_ARGS(d->id));
    }
    util_log(UTIL_LOG_DEBUG, UTIL_MOD_PMUL, "ack-missing",
             "src=" PMUL_ID_FMT " msgid=%u dest=" PMUL_ID_FMT " missing=%zu round=%u",
             PMUL_ID_ARGS(e->p.node_id), m->msgid, PMUL_ID_ARGS(d->id), d->nmissing, m->round);
    /* every open destination has answered this round: no need to wait longer */
    bool all = true;
    for (size_t i = 0; i < m->ndest; i++) {
        const struct tx_dest *x = &m->dests[i];
        if (x->state < 0 && !x->emcon && (!x->heard || x->heard_round != m->round))
            all = false;
    }
    if (!m->queued && (all || !util_timer_armed(&m->t_rt.t)))
        eng_arm(e, &m->t_rt, now + (all ? 0 : e->p.ack_delay_max));
    return true;
}

/* pmul_engine_set_dest_emcon - a destination entered or left EMCON */
void pmul_engine_set_dest_emcon(struct pmul_engine *e, util_ms now, uint32_t dest, bool emcon)
{
    struct util_list *it;
    UTIL_LIST_FOREACH(it, &e->tx_all) {
        struct tx_msg *m = UTIL_CONTAINER_OF(it, struct tx_msg, link);
        for (size_t i = 0; i < m->ndest; i++)
            if (m->dests[i].id == dest && m->dests[i].state < 0)
                m->dests[i].emcon = emcon;
        if (!m->done && !emcon && !m->queued && !util_timer_armed(&m->t_rt.t) && tx_open_non_emcon(m))
            eng_arm(e, &m->t_rt, now);
    }
    eng_pump(e, now);
}

/* pmul_engine_cancel - drop a message */
int pmul_engine_cancel(struct pmul_engine *e, util_ms now, uint64_t handle)
{
    struct tx_msg *m = tx_find_handle(e, handle);
    if (!m || m->done)
        return PMUL_ERR_ARG;
    m->send_discard = true;
    m->send_count = 0;
    m->send_addr = false;
    for (size_t i = 0; i < m->ndest && !m->done; i++)
        tx_dest_finish(e, now, m, &m->dests[i], PMUL_DEST_CANCELLED);
    eng_pump(e, now);
    return 0;
}

/* pmul_engine_hold - hold or release a message being sent */
int pmul_engine_hold(struct pmul_engine *e, util_ms now, uint64_t handle, bool hold)
{
    struct tx_msg *m = tx_find_handle(e, handle);
    if (!m || m->done)
        return PMUL_ERR_ARG;
    if (m->held == hold)
        return 0;
    m->held = hold;
    util_log(UTIL_LOG_INFO, UTIL_MOD_PMUL, hold ? "held" : "released",
             "src=" PMUL_ID_FMT " msgid=%u round=%u data_pdus_left=%zu", PMUL_ID_ARGS(e->p.node_id),
             m->msgid, m->round, m->send_count);
    if (hold) {
        /* what is not yet with the bearer stays here */
        tx_dequeue(m);
        util_timerheap_cancel(&e->timers, &m->t_rt.t);
        util_timerheap_cancel(&e->timers, &m->t_emcon.t);
        return 0;
    }
    if (tx_has_work(m)) {
        tx_enqueue(e, m); /* the rest of the round it was held in */
    } else {
        if (tx_open_non_emcon(m))
            eng_arm(e, &m->t_rt, now); /* a round at once: whoever is silent is prompted */
        if (tx_open_emcon(m) && m->emcon_rounds < e->p.emcon_rtc)
            eng_arm(e, &m->t_emcon, now + e->p.emcon_rti);
    }
    eng_pump(e, now);
    return 0;
}

/* pmul_engine_retry - start a new round for a message now */
int pmul_engine_retry(struct pmul_engine *e, util_ms now, uint64_t handle)
{
    struct tx_msg *m = tx_find_handle(e, handle);
    if (!m || m->done)
        return PMUL_ERR_ARG;
    util_timerheap_cancel(&e->timers, &m->t_rt.t);
    tx_start_round(e, now, m, true);
    eng_pump(e, now);
    return 0;
}

/* pmul_engine_message_status - a message's ids, round and destinations */
int pmul_engine_message_status(const struct pmul_engine *e, uint64_t handle, uint32_t *message_id,
                               unsigned *round, struct pmul_dest_status *d, size_t max)
{
    const struct tx_msg *m = tx_find_handle(e, handle);
    if (!m)
        return PMUL_ERR_ARG;
    if (message_id)
        *message_id = m->msgid;
    if (round)
        *round = m->round;
    for (size_t i = 0; i < m->ndest && i < max; i++) {
        d[i].id = m->dests[i].id;
        d[i].msn = m->dests[i].msn;
        d[i].emcon = m->dests[i].emcon;
        d[i].state = m->dests[i].state;
        d[i].missing = m->dests[i].nmissing;
        d[i].heard = m->dests[i].heard;
    }
    return (int)m->ndest;
}
