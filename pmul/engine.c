/* engine.c - the ACP 142 P_MUL protocol engine: the transmitter (ACP 142
 * section 5.2 "Multicast_OUT": Address_PDU and Data_PDUs, selective
 * retransmission on Ack_PDUs, ACK_RE-TRANSMISSION_TIME with BACK-OFF_FACTOR,
 * EMCON_RTC/EMCON_RTI for receivers in EMCON, Discard_Message_PDU at
 * Expiry_Time) and the receiver (5.3 "Multicast_IN": reassembly, Ack_PDUs
 * with Missing_Data_PDU_Seq_Numbers bounded by MM, ACK_PDU_TIME, the
 * Ack-Ack, duplicate suppression, loss detection from the
 * Message_Sequence_Number: a missing number is a gap, final and reported
 * only when it stays missing for gap_wait, since a late one is usually just
 * reordered).  Parameter names are those of ACP 142 Annex B; the [pmul]
 * config section that sets them is read here too.
 *
 * An engine: no I/O, no clock.  Every timer sits in one util_timerheap;
 * pacing at the bearer's rate adds one more deadline.  The glue calls
 * pmul_engine_timeout() at pmul_engine_next_expiry().
 */
#include "pmul/pmul.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define RX_BUCKETS 4096
#define SRC_BUCKETS 256
#define DATA_HDR PMUL_HDR_LEN
#define MAX_ACK_ENTRIES 64
#define MAX_ACK_RANGES 1024
#define RX_MAX_DESTS 250

enum timer_kind {
    T_TX_RT = 1,    /* retransmission round for destinations not in EMCON */
    T_TX_EMCON,     /* EMCON_RTI repeat */
    T_TX_EXPIRY,    /* Expiry_Time */
    T_TX_FORGET,    /* a finished message's tombstone */
    T_RX_ACK,       /* time to acknowledge */
    T_RX_LIFE,      /* forget an incoming message */
    T_SRC_GAP       /* an originator's oldest sequence gap is final */
};

struct eng_timer {
    struct util_timer t;
    uint8_t kind;
    void *owner;
};

enum { RX_COLLECTING = 0, RX_DELIVERED, RX_DISCARDED, RX_NOT_FOR_US };

struct tx_dest {
    uint32_t id, msn;
    bool emcon;
    int state; /* -1 open, else enum pmul_dest_result */
    bool heard;
    unsigned heard_round;
    uint8_t *missing; /* bitmap of npdu bits (bit seq-1), NULL when none reported */
    size_t nmissing;
};

struct tx_msg {
    struct util_list link;  /* e->tx_all */
    struct util_list qlink; /* e->sendq when it has PDUs to send */
    bool queued;
    uint64_t handle;
    uint32_t msgid;
    uint8_t prio;
    int64_t expiry;
    uint8_t *data;
    size_t len, frag;
    uint16_t npdu;
    struct tx_dest *dests;
    size_t ndest, open;
    uint32_t *open_ids; /* ids of open destinations, for the bearer */
    size_t nopen_ids;
    /* what the current round still has to send */
    bool send_addr, send_discard, send_ackack;
    struct pmul_dest *addr_list;
    size_t addr_n, addr_part, addr_parts;
    uint8_t *send_bits;
    size_t send_count;
    uint16_t scan;
    unsigned round, emcon_rounds;
    util_ms rt_cur;
    bool done;       /* every destination finished; only a tombstone remains */
    util_ms last_ackack;
    struct eng_timer t_rt, t_emcon, t_expiry, t_forget;
};

struct rx_msg {
    struct util_list hlink;  /* hash bucket */
    struct util_list rlink;  /* e->ack_ready */
    bool ready;
    uint32_t src, msgid;
    uint8_t state;
    bool have_addr, for_us, was_for_us, finished, ack_wanted;
    uint16_t total;
    uint8_t prio;
    int64_t expiry;
    uint32_t msn;
    uint8_t **frag;
    uint16_t *flen;
    uint32_t fcap;
    uint32_t *dests; /* Destination_IDs named by its Address_PDU(s), bounded */
    uint16_t ndests;
    uint32_t have;
    size_t bytes;
    unsigned acks_sent;
    struct eng_timer ack, life;
};

/* Message_Sequence_Numbers lo..hi from one originator have not arrived. */
struct src_gap {
    uint32_t lo, hi;
    util_ms final_at; /* opened + gap_wait: then it is lost for good */
};

/* An originator that addressed us: for loss detection (ACP 142 5.3.3). */
struct src_state {
    struct util_list link; /* hash bucket */
    struct util_list lru;  /* e->src_lru, least recently heard first */
    uint32_t src;
    uint32_t last_msn;     /* highest Message_Sequence_Number seen for us */
    struct src_gap *gaps;  /* open gaps by final_at (PMUL_RX_MAX_GAPS + 1 slots), or NULL */
    size_t ngaps;
    struct eng_timer t_gap; /* at gaps[0].final_at */
};

struct pmul_engine {
    struct pmul_params p;
    struct pmul_callbacks cb;
    void *user;
    struct util_timerheap timers;
    struct util_rng rng;
    int64_t wall_offset; /* wall ms = now + wall_offset */
    bool emcon, blocked;
    util_ms tx_free_at;
    util_ms retry_at; /* the bearer refused a PDU: not before this */
    uint64_t next_handle;
    struct util_list tx_all;
    struct util_list sendq;
    struct util_list rx_hash[RX_BUCKETS];
    struct util_list ack_ready;
    struct util_list src_hash[SRC_BUCKETS];
    struct util_list src_lru;
    size_t rx_count;
    struct pmul_engine_stats st;
    uint8_t *buf;
    size_t buf_len;
    struct pmul_ack_entry ack_ents[MAX_ACK_ENTRIES];
    struct pmul_range ack_ranges[MAX_ACK_RANGES];
    struct rx_msg *ack_msgs[MAX_ACK_ENTRIES];
};

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

/* pmul_params_default - the documented defaults */
void pmul_params_default(struct pmul_params *p)
{
    memset(p, 0, sizeof *p);
    p->pdu_max = 2042;
    p->rate_bps = 2400;
    p->pdu_overhead = 32;
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
static void eng_arm(struct pmul_engine *e, struct eng_timer *t, util_ms when)
{
    if (util_timerheap_arm(&e->timers, &t->t, when) < 0)
        util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "timer-failed", "error=\"out of memory\"");
}

/* eng_timer_init - a disarmed timer of a kind for an owner */
static void eng_timer_init(struct eng_timer *t, int kind, void *owner)
{
    util_timer_init(&t->t);
    t->kind = (uint8_t)kind;
    t->owner = owner;
}

/* eng_wall_ms - the wall clock at now */
static int64_t eng_wall_ms(const struct pmul_engine *e, util_ms now)
{
    return (int64_t)now + e->wall_offset;
}

/* eng_mono_of_wall - the monotonic time of a wall-clock UNIX second */
static util_ms eng_mono_of_wall(const struct pmul_engine *e, int64_t wall_s)
{
    int64_t m = wall_s * 1000 - e->wall_offset;
    return m < 0 ? 0 : (util_ms)m;
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

/* eng_airtime - ms the bearer needs for one PDU of len bytes */
static util_ms eng_airtime(const struct pmul_engine *e, size_t len)
{
    if (!e->p.rate_bps)
        return 0;
    uint64_t bits = (uint64_t)(len + e->p.pdu_overhead) * 8000u;
    return (bits + e->p.rate_bps - 1) / e->p.rate_bps;
}

/* eng_emit - encode and hand a PDU to the bearer; 0, or negative (not sent) */
static int eng_emit(struct pmul_engine *e, util_ms now, const struct pmul_pdu *pdu,
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
        e->tx_free_at = UTIL_MAX(e->tx_free_at, now) + eng_airtime(e, (size_t)n);
    UTIL_TRACE(UTIL_MOD_PMUL, "tx", "type=%s src=" PMUL_ID_FMT " msgid=%u len=%d",
               pmul_type_name(pdu->type), PMUL_ID_ARGS(pdu->source_id), pdu->message_id, n);
    return 0;
}

/* ---- transmitter -------------------------------------------------------------- */

/* tx_has_work - whether the message has PDUs to send */
static bool tx_has_work(const struct tx_msg *m)
{
    return m->send_discard || m->send_ackack || m->send_addr || m->send_count > 0;
}

/* tx_enqueue - put m in the send queue by priority, then age */
static void tx_enqueue(struct pmul_engine *e, struct tx_msg *m)
{
    if (m->queued || !tx_has_work(m))
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
static void tx_dequeue(struct tx_msg *m)
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
static void tx_destroy(struct pmul_engine *e, struct tx_msg *m)
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

/* tx_start_round - an Address_PDU for the open destinations and the Data_PDUs they need */
static void tx_start_round(struct pmul_engine *e, util_ms now, struct tx_msg *m, bool everything)
{
    if (m->done)
        return;
    m->round++;
    tx_plan_address(e, m);
    size_t added = 0;
    for (unsigned s = 1; s <= m->npdu; s++) {
        bool need = everything;
        for (size_t i = 0; !need && i < m->ndest; i++) {
            const struct tx_dest *d = &m->dests[i];
            need = d->state < 0 && d->missing && bit_get(d->missing, s);
        }
        if (need && !bit_get(m->send_bits, s)) {
            bit_set(m->send_bits, s);
            m->send_count++;
            added++;
        }
    }
    m->scan = 1;
    util_log(UTIL_LOG_INFO, UTIL_MOD_PMUL, "retransmit",
             "src=" PMUL_ID_FMT " msgid=%u round=%u dests=%zu data_pdus=%zu%s",
             PMUL_ID_ARGS(e->p.node_id), m->msgid, m->round, m->open, added,
             everything ? " emcon=yes" : "");
    tx_enqueue(e, m);
    (void)now;
}

/* tx_open_non_emcon - whether a destination not in EMCON is still open */
static bool tx_open_non_emcon(const struct tx_msg *m)
{
    for (size_t i = 0; i < m->ndest; i++)
        if (m->dests[i].state < 0 && !m->dests[i].emcon)
            return true;
    return false;
}

/* tx_open_emcon - whether a destination in EMCON is still open */
static bool tx_open_emcon(const struct tx_msg *m)
{
    for (size_t i = 0; i < m->ndest; i++)
        if (m->dests[i].state < 0 && m->dests[i].emcon)
            return true;
    return false;
}

/* tx_round_sent - the round's last PDU left: wait for acks */
static void tx_round_sent(struct pmul_engine *e, util_ms now, struct tx_msg *m)
{
    if (m->done)
        return;
    if (tx_open_non_emcon(m) && !util_timer_armed(&m->t_rt.t)) {
        /* the acks have their random delay and their own airtime to come back */
        util_ms allowance = e->p.ack_delay_max + (util_ms)m->open * eng_airtime(e, 64) * 2;
        eng_arm(e, &m->t_rt, now + m->rt_cur + allowance);
    }
    if (tx_open_emcon(m) && m->emcon_rounds < e->p.emcon_rtc && !util_timer_armed(&m->t_emcon.t))
        eng_arm(e, &m->t_emcon, now + e->p.emcon_rti);
}

/* tx_emit_one - send the next PDU of m */
static int tx_emit_one(struct pmul_engine *e, util_ms now, struct tx_msg *m)
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

/* ---- receiver ---------------------------------------------------------------- */

/* rx_bucket - the hash bucket of (src, msgid) */
static struct util_list *rx_bucket(struct pmul_engine *e, uint32_t src, uint32_t msgid)
{
    uint32_t h = src * 2654435761u ^ msgid * 2246822519u;
    return &e->rx_hash[(h ^ (h >> 15)) & (RX_BUCKETS - 1)];
}

/* rx_find - the incoming message (src, msgid), or NULL */
static struct rx_msg *rx_find(struct pmul_engine *e, uint32_t src, uint32_t msgid)
{
    struct util_list *b = rx_bucket(e, src, msgid), *it;
    UTIL_LIST_FOREACH(it, b) {
        struct rx_msg *m = UTIL_CONTAINER_OF(it, struct rx_msg, hlink);
        if (m->src == src && m->msgid == msgid)
            return m;
    }
    return NULL;
}

/* rx_free_frags - release the fragments held */
static void rx_free_frags(struct pmul_engine *e, struct rx_msg *m)
{
    if (m->frag) {
        for (uint32_t i = 0; i < m->fcap; i++)
            free(m->frag[i]);
    }
    free(m->frag);
    free(m->flen);
    m->frag = NULL;
    m->flen = NULL;
    m->fcap = 0;
    m->have = 0;
    e->st.rx_bytes -= m->bytes;
    m->bytes = 0;
}

/* rx_unready - take m off the list of acks ready to go */
static void rx_unready(struct rx_msg *m)
{
    if (m->ready) {
        util_list_remove(&m->rlink);
        m->ready = false;
    }
}

/* rx_destroy - forget an incoming message */
static void rx_destroy(struct pmul_engine *e, struct rx_msg *m)
{
    rx_free_frags(e, m);
    rx_unready(m);
    util_list_remove(&m->hlink);
    util_timerheap_cancel(&e->timers, &m->ack.t);
    util_timerheap_cancel(&e->timers, &m->life.t);
    free(m->dests);
    free(m);
    e->rx_count--;
    e->st.rx_active--;
}

/* rx_create - a new incoming message record, or NULL at the limit */
static struct rx_msg *rx_create(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msgid)
{
    if (e->rx_count >= e->p.rx_max_messages) {
        if (e->st.rx_refused++ == 0)
            util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "rx-limit",
                     "messages=%zu src=" PMUL_ID_FMT " msgid=%u", e->rx_count, PMUL_ID_ARGS(src),
                     msgid);
        return NULL;
    }
    struct rx_msg *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->src = src;
    m->msgid = msgid;
    util_list_init(&m->rlink);
    eng_timer_init(&m->ack, T_RX_ACK, m);
    eng_timer_init(&m->life, T_RX_LIFE, m);
    util_list_push_back(rx_bucket(e, src, msgid), &m->hlink);
    e->rx_count++;
    e->st.rx_active++;
    eng_arm(e, &m->life, now + e->p.rx_orphan_time);
    if (e->cb.already_delivered && e->cb.already_delivered(e->user, src, msgid)) {
        m->state = RX_DELIVERED;
        e->st.duplicates++;
    }
    return m;
}

/* src_arm - the originator's timer at its oldest open gap, or none */
static void src_arm(struct pmul_engine *e, struct src_state *s)
{
    if (s->ngaps)
        eng_arm(e, &s->t_gap, s->gaps[0].final_at);
    else
        util_timerheap_cancel(&e->timers, &s->t_gap.t);
}

/* src_gap_remove - drop gap i from the table */
static void src_gap_remove(struct pmul_engine *e, struct src_state *s, size_t i)
{
    memmove(&s->gaps[i], &s->gaps[i + 1], (s->ngaps - i - 1) * sizeof *s->gaps);
    s->ngaps--;
    e->st.gaps_open--;
    if (!s->ngaps) {
        free(s->gaps);
        s->gaps = NULL;
    }
}

/* src_gap_final - gap i is lost for good: warn once, report once, forget it */
static void src_gap_final(struct pmul_engine *e, struct src_state *s, size_t i)
{
    struct src_gap g = s->gaps[i];
    src_gap_remove(e, s, i);
    e->st.gaps++;
    util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "sequence-gap",
             "src=" PMUL_ID_FMT " expected_msn=%lu got_msn=%lu missing=%lu", PMUL_ID_ARGS(s->src),
             (unsigned long)g.lo, (unsigned long)g.hi + 1, (unsigned long)(g.hi - g.lo) + 1);
    if (e->cb.gap)
        e->cb.gap(e->user, s->src, g.lo, g.hi + 1);
}

/* src_gap_bound - beyond PMUL_RX_MAX_GAPS open gaps the oldest is final now */
static void src_gap_bound(struct pmul_engine *e, struct src_state *s)
{
    while (s->ngaps > PMUL_RX_MAX_GAPS)
        src_gap_final(e, s, 0);
}

/* src_gap_open - messages lo..hi have not arrived (one entry, whatever the size) */
static void src_gap_open(struct pmul_engine *e, util_ms now, struct src_state *s, uint32_t lo,
                         uint32_t hi)
{
    if (!s->gaps && !(s->gaps = malloc((PMUL_RX_MAX_GAPS + 1) * sizeof *s->gaps)))
        return; /* no memory: this gap goes unnoticed */
    struct src_gap *g = &s->gaps[s->ngaps++];
    g->lo = lo;
    g->hi = hi;
    g->final_at = now + e->p.gap_wait; /* >= every open one's: the table stays in order */
    e->st.gaps_open++;
    src_gap_bound(e, s);
    src_arm(e, s);
}

/* src_gap_close - msn, missing until now, arrived: its gap shrinks, splits or closes */
static bool src_gap_close(struct pmul_engine *e, struct src_state *s, uint32_t msn)
{
    for (size_t i = 0; i < s->ngaps; i++) {
        struct src_gap *g = &s->gaps[i];
        if (msn < g->lo || msn > g->hi)
            continue;
        if (g->lo == g->hi) {
            src_gap_remove(e, s, i);
        } else if (msn == g->lo) {
            g->lo++;
        } else if (msn == g->hi) {
            g->hi--;
        } else {
            /* the two halves keep the deadline, side by side: still in order */
            memmove(&s->gaps[i + 2], &s->gaps[i + 1], (s->ngaps - i - 1) * sizeof *s->gaps);
            s->gaps[i + 1].lo = msn + 1;
            s->gaps[i + 1].hi = g->hi;
            s->gaps[i + 1].final_at = g->final_at;
            g->hi = msn - 1;
            s->ngaps++;
            e->st.gaps_open++;
            src_gap_bound(e, s);
        }
        src_arm(e, s);
        return true;
    }
    return false;
}

/* src_forget - drop an originator's record and its open gaps */
static void src_forget(struct pmul_engine *e, struct src_state *s)
{
    util_timerheap_cancel(&e->timers, &s->t_gap.t);
    e->st.gaps_open -= s->ngaps;
    e->st.sources--;
    util_list_remove(&s->link);
    util_list_remove(&s->lru);
    free(s->gaps);
    free(s);
}

/* rx_src - the per-originator record (for sequence gaps), created on demand;
 * at PMUL_RX_MAX_SOURCES the one heard least recently makes room */
static struct src_state *rx_src(struct pmul_engine *e, uint32_t src)
{
    struct util_list *b = &e->src_hash[(src * 2654435761u >> 24) & (SRC_BUCKETS - 1)], *it;
    UTIL_LIST_FOREACH(it, b) {
        struct src_state *s = UTIL_CONTAINER_OF(it, struct src_state, link);
        if (s->src == src) {
            util_list_remove(&s->lru);
            util_list_push_back(&e->src_lru, &s->lru);
            return s;
        }
    }
    if (e->st.sources >= PMUL_RX_MAX_SOURCES) {
        struct src_state *old = UTIL_CONTAINER_OF(e->src_lru.next, struct src_state, lru);
        util_log(UTIL_LOG_DEBUG, UTIL_MOD_PMUL, "sequence-forgotten",
                 "src=" PMUL_ID_FMT " last_msn=%lu open_gaps=%zu", PMUL_ID_ARGS(old->src),
                 (unsigned long)old->last_msn, old->ngaps);
        src_forget(e, old);
    }
    struct src_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->src = src;
    eng_timer_init(&s->t_gap, T_SRC_GAP, s);
    util_list_push_back(b, &s->link);
    util_list_push_back(&e->src_lru, &s->lru);
    e->st.sources++;
    return s;
}

/* rx_note_msn - our Message_Sequence_Number in a message from src: a jump
 * opens a gap, a number missing until now closes (part of) one; repeats
 * change nothing, so every Address_PDU naming us may be noted */
static void rx_note_msn(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msn)
{
    if (msn == 0)
        return;
    struct src_state *s = rx_src(e, src);
    if (!s)
        return;
    if (msn > s->last_msn) {
        if (s->last_msn && msn - s->last_msn > 1)
            src_gap_open(e, now, s, s->last_msn + 1, msn - 1);
        s->last_msn = msn;
    } else if (src_gap_close(e, s, msn)) {
        util_log(UTIL_LOG_DEBUG, UTIL_MOD_PMUL, "sequence-late",
                 "src=" PMUL_ID_FMT " msn=%lu last_msn=%lu open_gaps=%zu", PMUL_ID_ARGS(src),
                 (unsigned long)msn, (unsigned long)s->last_msn, s->ngaps);
    }
}

/* rx_complete - whether every Data_PDU is here */
static bool rx_complete(const struct rx_msg *m)
{
    return m->have_addr && m->total > 0 && m->have == m->total;
}

/* rx_schedule_ack - acknowledge m after a random delay (sooner if already due) */
static void rx_schedule_ack(struct pmul_engine *e, util_ms now, struct rx_msg *m, util_ms base)
{
    if (m->ready)
        return;
    util_ms delay = e->p.ack_delay_max ? util_rng_below(&e->rng, e->p.ack_delay_max + 1) : 0;
    util_ms when = now + base + delay;
    if (util_timer_armed(&m->ack.t) && m->ack.t.expiry <= when)
        return;
    eng_arm(e, &m->ack, when);
}

/* rx_deliver - the message is complete: assemble, hand over, then acknowledge */
static void rx_deliver(struct pmul_engine *e, util_ms now, struct rx_msg *m)
{
    uint8_t *all = malloc(m->bytes ? m->bytes : 1);
    if (!all) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "deliver-failed",
                 "src=" PMUL_ID_FMT " msgid=%u error=\"out of memory\"", PMUL_ID_ARGS(m->src),
                 m->msgid);
        return;
    }
    size_t off = 0;
    for (uint32_t s = 1; s <= m->total; s++) {
        memcpy(all + off, m->frag[s - 1], m->flen[s - 1]);
        off += m->flen[s - 1];
    }
    struct pmul_rx_message rx = {m->src, m->msgid, m->msn, m->prio, m->expiry, all, off, m->dests, m->ndests};
    int rc = e->cb.deliver ? e->cb.deliver(e->user, &rx) : 0;
    free(all);
    rx_free_frags(e, m);
    if (rc < 0) {
        /* not stored: no ack, the retransmissions will bring it again */
        e->st.rx_refused++;
        util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "deliver-refused",
                 "src=" PMUL_ID_FMT " msgid=%u rc=%d", PMUL_ID_ARGS(m->src), m->msgid, rc);
        return;
    }
    m->state = RX_DELIVERED;
    e->st.messages_delivered++;
    util_log(UTIL_LOG_INFO, UTIL_MOD_PMUL, "delivered",
             "src=" PMUL_ID_FMT " msgid=%u msn=%u bytes=%zu pdus=%u", PMUL_ID_ARGS(m->src),
             m->msgid, m->msn, off, m->total);
    rx_schedule_ack(e, now, m, 0);
}

/* rx_store - keep one fragment; false if refused */
static bool rx_store(struct pmul_engine *e, struct rx_msg *m, uint16_t seq, const uint8_t *d, size_t len)
{
    if (seq == 0 || (m->have_addr && seq > m->total))
        return false;
    if (seq > m->fcap) {
        uint32_t ncap = UTIL_MAX((uint32_t)seq, m->fcap ? m->fcap * 2 : 16);
        if (m->have_addr)
            ncap = UTIL_MIN(ncap, (uint32_t)m->total);
        ncap = UTIL_MIN(ncap, 65535u);
        uint8_t **nf = realloc(m->frag, ncap * sizeof *nf);
        if (!nf)
            return false;
        m->frag = nf;
        uint16_t *nl = realloc(m->flen, ncap * sizeof *nl);
        if (!nl)
            return false;
        m->flen = nl;
        memset(m->frag + m->fcap, 0, (ncap - m->fcap) * sizeof *nf);
        memset(m->flen + m->fcap, 0, (ncap - m->fcap) * sizeof *nl);
        m->fcap = ncap;
    }
    if (m->frag[seq - 1])
        return false; /* a duplicate */
    if (m->bytes + len > e->p.rx_max_message || e->st.rx_bytes + len > e->p.rx_max_total) {
        if (e->st.rx_refused++ == 0 || !m->bytes)
            util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "rx-memory-limit",
                     "src=" PMUL_ID_FMT " msgid=%u bytes=%zu total=%zu", PMUL_ID_ARGS(m->src),
                     m->msgid, m->bytes, e->st.rx_bytes);
        return false;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return false;
    if (len)
        memcpy(copy, d, len);
    m->frag[seq - 1] = copy;
    m->flen[seq - 1] = (uint16_t)len;
    m->have++;
    m->bytes += len;
    e->st.rx_bytes += len;
    return true;
}

/* rx_on_data - a Data_PDU */
static void rx_on_data(struct pmul_engine *e, util_ms now, const struct pmul_pdu *p)
{
    if (p->source_id == e->p.node_id)
        return; /* our own, looped back */
    struct rx_msg *m = rx_find(e, p->source_id, p->message_id);
    if (!m && !(m = rx_create(e, now, p->source_id, p->message_id)))
        return;
    if (m->state != RX_COLLECTING) {
        if (m->state == RX_DELIVERED && m->for_us)
            e->st.duplicates++;
        return;
    }
    if (!rx_store(e, m, p->u.data.seq, p->u.data.data, p->u.data.len))
        return;
    if (!m->have_addr)
        return;
    if (rx_complete(m)) {
        rx_deliver(e, now, m);
    } else if (m->for_us && !m->ready) {
        /* ACK_PDU_TIME after the last Data_PDU heard, report what is missing */
        eng_arm(e, &m->ack, now + e->p.ack_pdu_time);
    }
}

/* rx_note_dests - remember the Destination_IDs an Address_PDU names (the
 * first one seen of each part; at most RX_MAX_DESTS), for the deliverer */
static void rx_note_dests(struct rx_msg *m, const struct pmul_pdu *p)
{
    struct pmul_dest d;
    for (size_t i = 0; i < p->u.address.count && m->ndests < RX_MAX_DESTS; i++) {
        if (pmul_address_dest(p, i, &d) < 0)
            break;
        bool known = false;
        for (size_t j = 0; j < m->ndests && !known; j++)
            known = m->dests[j] == d.dest_id;
        if (known)
            continue;
        if (!m->dests && !(m->dests = malloc(RX_MAX_DESTS * sizeof *m->dests)))
            return;
        m->dests[m->ndests++] = d.dest_id;
    }
}

/* rx_on_address - an Address_PDU (or the Ack-Ack) */
static void rx_on_address(struct pmul_engine *e, util_ms now, const struct pmul_pdu *p)
{
    if (p->source_id == e->p.node_id)
        return;
    struct rx_msg *m = rx_find(e, p->source_id, p->message_id);
    if (pmul_is_ack_ack(p)) {
        if (m) {
            m->finished = true;
            rx_unready(m);
            util_timerheap_cancel(&e->timers, &m->ack.t);
            if (m->state == RX_COLLECTING && !m->for_us) {
                rx_free_frags(e, m);
                m->state = RX_NOT_FOR_US;
            }
        }
        return;
    }
    bool listed = false;
    uint32_t msn = 0;
    struct pmul_dest d;
    for (size_t i = 0; i < p->u.address.count; i++)
        if (pmul_address_dest(p, i, &d) == 0 && d.dest_id == e->p.node_id) {
            listed = true;
            msn = d.msn;
            break;
        }
    if (listed)
        rx_note_msn(e, now, p->source_id, msn);
    if (m)
        rx_note_dests(m, p);
    uint16_t total = p->u.address.total_pdus;
    if (!m) {
        if (!listed)
            return; /* not for us and nothing collected: nothing to do */
        if (!(m = rx_create(e, now, p->source_id, p->message_id)))
            return;
        rx_note_dests(m, p);
    }
    if (!m->have_addr && total > 0) {
        m->have_addr = true;
        m->total = total;
        m->prio = p->priority;
        m->expiry = p->u.address.expiry;
        /* fragments beyond the total are bogus */
        for (uint32_t s = (uint32_t)total + 1; s <= m->fcap; s++)
            if (m->frag[s - 1]) {
                e->st.rx_bytes -= m->flen[s - 1];
                m->bytes -= m->flen[s - 1];
                free(m->frag[s - 1]);
                m->frag[s - 1] = NULL;
                m->have--;
            }
        util_ms life = eng_mono_of_wall(e, m->expiry) + e->p.rx_keep_done;
        eng_arm(e, &m->life, UTIL_MAX(life, now + 1000));
    } else if (m->have_addr && total != m->total) {
        e->st.bad_pdus++;
        util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "total-changed",
                 "src=" PMUL_ID_FMT " msgid=%u was=%u now=%u", PMUL_ID_ARGS(m->src), m->msgid,
                 m->total, total);
        return;
    }
    if (!listed) {
        if (p->map == 0) {
            if (m->was_for_us) {
                /* a retransmission without us: the sender has our ack */
                m->finished = true;
                rx_unready(m);
                util_timerheap_cancel(&e->timers, &m->ack.t);
            } else if (m->state == RX_COLLECTING) {
                rx_free_frags(e, m);
                m->state = RX_NOT_FOR_US;
            }
        }
        return;
    }
    if (!m->was_for_us)
        m->msn = msn;
    m->for_us = m->was_for_us = true;
    m->finished = false;
    if (m->state == RX_DISCARDED)
        return;
    if (m->state == RX_NOT_FOR_US)
        m->state = RX_COLLECTING;
    if (m->state == RX_DELIVERED) {
        rx_schedule_ack(e, now, m, 0); /* the sender lacks our ack */
        return;
    }
    if (rx_complete(m)) {
        rx_deliver(e, now, m);
        return;
    }
    /* incomplete: the round's Data_PDUs follow; ack after a quiet ACK_PDU_TIME */
    if (!m->ready)
        eng_arm(e, &m->ack, now + e->p.ack_pdu_time);
}

/* rx_on_discard - a Discard_Message_PDU */
static void rx_on_discard(struct pmul_engine *e, util_ms now, const struct pmul_pdu *p)
{
    if (p->source_id == e->p.node_id)
        return;
    struct rx_msg *m = rx_find(e, p->source_id, p->message_id);
    if (!m) {
        if (!(m = rx_create(e, now, p->source_id, p->message_id)))
            return;
    }
    if (m->state == RX_DELIVERED)
        return;
    if (m->state == RX_COLLECTING && m->for_us) {
        e->st.discarded++;
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_PMUL, "discarded",
                 "src=" PMUL_ID_FMT " msgid=%u had=%u of=%u", PMUL_ID_ARGS(m->src), m->msgid,
                 m->have, m->total);
    }
    rx_free_frags(e, m);
    m->state = RX_DISCARDED;
    rx_unready(m);
    util_timerheap_cancel(&e->timers, &m->ack.t);
    eng_arm(e, &m->life, now + e->p.rx_keep_done);
}

/* rx_missing_ranges - the missing Data_PDUs of m as at most max ranges */
static size_t rx_missing_ranges(const struct rx_msg *m, struct pmul_range *r, size_t max)
{
    size_t n = 0;
    if (m->state != RX_COLLECTING || !m->have_addr)
        return 0;
    uint32_t s = 1;
    while (s <= m->total && n < max) {
        if (s <= m->fcap && m->frag[s - 1]) {
            s++;
            continue;
        }
        uint32_t lo = s;
        while (s <= m->total && !(s <= m->fcap && m->frag[s - 1]))
            s++;
        r[n].lo = (uint16_t)lo;
        r[n].hi = (uint16_t)(s - 1);
        n++;
    }
    return n;
}

/* rx_send_acks - one Ack_PDU for the first ready originator, with every
 * ready message of that originator that fits */
static int rx_send_acks(struct pmul_engine *e, util_ms now)
{
    struct rx_msg *first = UTIL_CONTAINER_OF(e->ack_ready.next, struct rx_msg, rlink);
    uint32_t src = first->src;
    size_t n = 0, nranges = 0, len = PMUL_ACK_HDR_LEN;
    struct util_list *it;
    UTIL_LIST_FOREACH(it, &e->ack_ready) {
        struct rx_msg *m = UTIL_CONTAINER_OF(it, struct rx_msg, rlink);
        if (m->src != src)
            continue;
        if (n >= MAX_ACK_ENTRIES)
            break;
        size_t room = UTIL_MIN((size_t)e->p.mm, MAX_ACK_RANGES - nranges);
        struct pmul_ack_entry *a = &e->ack_ents[n];
        memset(a, 0, sizeof *a);
        a->source_id = m->src;
        a->message_id = m->msgid;
        a->ranges = &e->ack_ranges[nranges];
        a->nranges = rx_missing_ranges(m, &e->ack_ranges[nranges], room);
        size_t elen = pmul_ack_entry_len(a);
        while (a->nranges > 0 && len + elen > e->p.pdu_max) {
            a->nranges--;
            elen = pmul_ack_entry_len(a);
        }
        if (len + elen > e->p.pdu_max)
            break;
        if (m->state == RX_COLLECTING && a->nranges == 0)
            continue; /* cannot describe it within the PDU: next time */
        len += elen;
        nranges += a->nranges;
        e->ack_msgs[n++] = m;
    }
    if (n == 0) {
        /* nothing describable now (MM or the PDU size): ask again later */
        rx_unready(first);
        eng_arm(e, &first->ack, now + e->p.ack_pdu_time);
        return 0;
    }
    struct pmul_pdu pdu;
    pmul_pdu_init(&pdu, PMUL_ACK);
    pdu.source_id = e->p.node_id;
    pdu.u.ack.count = n;
    pdu.u.ack.entries = e->ack_ents;
    struct pmul_tx_info info;
    memset(&info, 0, sizeof info);
    info.type = PMUL_ACK;
    info.priority = first->prio;
    info.expiry = first->expiry;
    info.to = src;
    info.source_id = src;
    info.message_id = first->msgid;
    int rc = eng_emit(e, now, &pdu, &info);
    if (rc < 0)
        return rc;
    e->st.acks_sent++;
    for (size_t i = 0; i < n; i++) {
        struct rx_msg *m = e->ack_msgs[i];
        rx_unready(m);
        m->acks_sent++;
        util_log(UTIL_LOG_DEBUG, UTIL_MOD_PMUL, "ack-sent", "to=%u msgid=%u missing_ranges=%zu complete=%s",
                 m->src, m->msgid, e->ack_ents[i].nranges, m->state == RX_DELIVERED ? "yes" : "no");
        if (m->state == RX_COLLECTING) {
            /* ask again after a quiet ACK_PDU_TIME, backing off, until expiry */
            util_ms wait = e->p.ack_pdu_time * UTIL_MIN(m->acks_sent, 8u);
            eng_arm(e, &m->ack, now + wait);
        }
    }
    return 0;
}

/* ---- the pump and the timers -------------------------------------------------- */

/* eng_can_send - whether the engine may put a PDU on the bearer now */
static bool eng_can_send(const struct pmul_engine *e, util_ms now)
{
    if (e->emcon || e->blocked || now < e->retry_at)
        return false;
    return !e->p.rate_bps || e->tx_free_at <= now + e->p.burst_ms;
}

/* eng_pump - send acks first, then the most urgent message's next PDU, while pacing allows */
static void eng_pump(struct pmul_engine *e, util_ms now)
{
    while (eng_can_send(e, now)) {
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

/* tx_on_expiry - Expiry_Time: every open destination fails, Discard goes out */
static void tx_on_expiry(struct pmul_engine *e, util_ms now, struct tx_msg *m)
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

/* eng_on_timer - one due timer */
static void eng_on_timer(struct pmul_engine *e, util_ms now, struct eng_timer *t)
{
    switch (t->kind) {
    case T_TX_RT: {
        struct tx_msg *m = t->owner;
        if (!m->done && tx_open_non_emcon(m))
            tx_start_round(e, now, m, false);
        m->rt_cur = UTIL_MIN((util_ms)((double)m->rt_cur * e->p.back_off_factor), e->p.max_retransmission_time);
        break;
    }
    case T_TX_EMCON: {
        struct tx_msg *m = t->owner;
        if (!m->done && tx_open_emcon(m)) {
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
        struct rx_msg *m = t->owner;
        if (m->finished || !m->for_us || (m->state != RX_COLLECTING && m->state != RX_DELIVERED))
            break;
        if (m->state == RX_COLLECTING && m->expiry && eng_wall_ms(e, now) > m->expiry * 1000)
            break; /* expired: no point asking */
        if (!m->ready) {
            util_list_push_back(&e->ack_ready, &m->rlink);
            m->ready = true;
        }
        break;
    }
    case T_RX_LIFE:
        rx_destroy(e, t->owner);
        break;
    case T_SRC_GAP: {
        struct src_state *s = t->owner;
        while (s->ngaps && s->gaps[0].final_at <= now)
            src_gap_final(e, s, 0);
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
    bool work = !util_list_empty(&e->sendq) || !util_list_empty(&e->ack_ready);
    if (work && !e->emcon && !e->blocked) {
        util_ms pace = e->p.rate_bps && e->tx_free_at > e->p.burst_ms ? e->tx_free_at - e->p.burst_ms : 0;
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
    util_rng_seed(&e->rng, p->seed);
    util_list_init(&e->tx_all);
    util_list_init(&e->sendq);
    util_list_init(&e->ack_ready);
    for (size_t i = 0; i < RX_BUCKETS; i++)
        util_list_init(&e->rx_hash[i]);
    for (size_t i = 0; i < SRC_BUCKETS; i++)
        util_list_init(&e->src_hash[i]);
    util_list_init(&e->src_lru);
    e->next_handle = 1;
    return e;
}

/* pmul_engine_free - release everything (no callbacks) */
void pmul_engine_free(struct pmul_engine *e)
{
    if (!e)
        return;
    while (!util_list_empty(&e->tx_all))
        tx_destroy(e, UTIL_CONTAINER_OF(e->tx_all.next, struct tx_msg, link));
    for (size_t i = 0; i < RX_BUCKETS; i++)
        while (!util_list_empty(&e->rx_hash[i]))
            rx_destroy(e, UTIL_CONTAINER_OF(e->rx_hash[i].next, struct rx_msg, hlink));
    for (size_t i = 0; i < SRC_BUCKETS; i++)
        while (!util_list_empty(&e->src_hash[i]))
            src_forget(e, UTIL_CONTAINER_OF(e->src_hash[i].next, struct src_state, link));
    util_timerheap_free(&e->timers);
    free(e->buf);
    free(e);
}

/* pmul_engine_set_wall - the wall clock at `now` */
void pmul_engine_set_wall(struct pmul_engine *e, util_ms now, int64_t wall_ms)
{
    e->wall_offset = wall_ms - (int64_t)now;
}

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
    m->rt_cur = e->p.ack_retransmission_time;
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

/* tx_on_ack_entry - one Ack_Info_Entry about our message from `from` */
static void tx_on_ack_entry(struct pmul_engine *e, util_ms now, uint32_t from, const struct pmul_ack_entry *a)
{
    struct tx_msg *m = tx_find_msgid(e, a->message_id);
    if (!m)
        return;
    if (m->done) {
        /* a late ack: it has not seen the Ack-Ack */
        if (e->p.send_ack_ack && now - m->last_ackack >= e->p.ack_pdu_time / 2) {
            m->send_ackack = true;
            m->last_ackack = now;
            tx_enqueue(e, m);
        }
        return;
    }
    struct tx_dest *d = NULL;
    for (size_t i = 0; i < m->ndest; i++)
        if (m->dests[i].id == from)
            d = &m->dests[i];
    if (!d || d->state >= 0)
        return;
    size_t nmiss = pmul_missing_count(a, m->npdu);
    if (nmiss == 0) {
        tx_dest_finish(e, now, m, d, PMUL_DEST_ACKED);
        return;
    }
    if (!d->missing && !(d->missing = calloc((m->npdu + 7) / 8, 1)))
        return;
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
}

/* pmul_engine_input - one PDU from the bearer */
int pmul_engine_input(struct pmul_engine *e, util_ms now, const uint8_t *in, size_t len)
{
    struct pmul_pdu p;
    int rc = pmul_decode(in, len, &p);
    if (rc < 0) {
        e->st.bad_pdus++;
        return rc;
    }
    e->st.pdus_received++;
    switch (p.type) {
    case PMUL_DATA: rx_on_data(e, now, &p); break;
    case PMUL_ADDRESS: rx_on_address(e, now, &p); break;
    case PMUL_DISCARD_MESSAGE: rx_on_discard(e, now, &p); break;
    case PMUL_ACK: {
        e->st.acks_received++;
        struct pmul_ack_iter it;
        struct pmul_ack_entry a;
        pmul_ack_iter_init(&it, &p);
        while (pmul_ack_iter_next(&it, &a))
            if (a.source_id == e->p.node_id)
                tx_on_ack_entry(e, now, p.source_id, &a);
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
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_PMUL, emcon ? "emcon-on" : "emcon-off", "node=" PMUL_ID_FMT,
             PMUL_ID_ARGS(e->p.node_id));
    if (!emcon) {
        /* the deferred acks go out, each after its own random delay */
        while (!util_list_empty(&e->ack_ready)) {
            struct rx_msg *m = UTIL_CONTAINER_OF(e->ack_ready.next, struct rx_msg, rlink);
            rx_unready(m);
            rx_schedule_ack(e, now, m, 0);
        }
        e->tx_free_at = UTIL_MAX(e->tx_free_at, now);
    }
    eng_pump(e, now);
}

/* pmul_engine_set_blocked - the bearer cannot take PDUs now */
void pmul_engine_set_blocked(struct pmul_engine *e, util_ms now, bool blocked)
{
    e->blocked = blocked;
    if (!blocked)
        e->tx_free_at = UTIL_MIN(e->tx_free_at, now);
    eng_pump(e, now);
}

/* pmul_engine_set_pdu_max - the bearer's PDU size changed */
void pmul_engine_set_pdu_max(struct pmul_engine *e, size_t pdu_max)
{
    if (pdu_max >= 64)
        e->p.pdu_max = UTIL_MIN(pdu_max, (size_t)PMUL_MAX_LEN);
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

/* pmul_engine_get_stats - counters and sizes */
void pmul_engine_get_stats(const struct pmul_engine *e, struct pmul_engine_stats *st)
{
    *st = e->st;
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
