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
 *
 * The receiver holds only what arrived (issue 13): a message's fragments
 * sit in runs of 32 sequence numbers, only the runs that hold any, so no
 * array is sized by a peer's Sequence_Number or Total_Number_of_PDUs; every
 * record (messages, fragments, destination lists, duplicate records,
 * originators, the tables) is counted in bytes against rx_max_total; a
 * message leaves its slot as soon as it is delivered, refused or known not
 * to be for us, and a compact duplicate record stays; at a limit, room is
 * made from the originator holding the largest share (two heaps keep them
 * in order: of all, of orphans), orphans first; and what a peer can make us
 * log is rate-limited per originator and kind (util_ratelimit).
 */
#include "pmul/pmul.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Receive state (issue 13).  Everything below is counted, in bytes, in
 * st.rx_state against rx_max_total: what it allocates plus ALLOC_COST per
 * block and TIMER_COST per armed timer.  Nothing is sized by a peer's claim
 * (Total_Number_of_PDUs, Sequence_Number, counts) before the data is here. */
#define ALLOC_COST 16 /* what the allocator adds to every block */
#define TIMER_COST 8  /* an armed timer's slot in the heap */
#define RX_RUN     32 /* sequence numbers per run of fragments */
#define TABLE_MIN  64 /* buckets a hash table starts with */

/* The kinds of an incoming record: a message being collected (struct
 * rx_msg), or what is left of a finished one (struct rx_dup). */
enum { RX_COLLECTING = 0, RX_DELIVERED, RX_DISCARDED, RX_NOT_FOR_US, RX_REFUSED };

/* What incoming messages and duplicate records share: the (Source_ID,
 * Message_ID) key and what an acknowledgement needs. */
struct rx_ent {
    struct util_list hlink;  /* e->rx_table bucket */
    struct util_list rlink;  /* e->ack_ready */
    struct eng_timer ack;    /* T_RX_ACK: time to acknowledge */
    struct eng_timer life;   /* T_RX_LIFE: forget it */
    uint32_t src, msgid;
    int64_t expiry; /* Expiry_Time, UNIX s (0: not known yet) */
    uint8_t kind;   /* RX_COLLECTING (an rx_msg) or a finished kind (an rx_dup) */
    uint8_t prio;
    bool ready;    /* on e->ack_ready */
    bool finished; /* the sender has our ack (Ack-Ack, or a retransmission without us) */
    uint16_t acks_sent;
};

/* A compact duplicate record: a delivered (or refused, discarded, not for
 * us) message, until Expiry_Time + rx_keep_done.  A delivered one answers
 * retransmissions with a complete ack; a refused one lets the message be
 * collected again when the sender retransmits it. */
struct rx_dup {
    struct rx_ent h;
    struct util_list fifo; /* e->dups, oldest first */
};

/* Fragments of sequence numbers base+1 .. base+RX_RUN that arrived, in
 * order, each as length:16 | bytes.  A message holds only the runs that
 * hold something, sorted by base. */
struct rx_run {
    uint16_t base;
    uint32_t bits; /* bit i: base+1+i is here */
    uint32_t used, cap;
    uint8_t *buf;
};

/* An incoming message being collected: one slot of rx_max_messages. */
struct rx_msg {
    struct rx_ent h;
    struct util_list plink; /* its source's orphans or addressed list, oldest first */
    struct src_state *src;
    bool have_addr, for_us; /* for_us: an Address_PDU named us (else an orphan) */
    uint16_t total;
    uint32_t msn;
    struct rx_run *runs;
    uint16_t nruns, runs_cap;
    uint32_t *dests; /* Destination_IDs named by its Address_PDU(s), at most RX_MAX_DESTS */
    uint16_t ndests, dests_cap;
    uint32_t have; /* Data_PDUs held */
    size_t bytes;  /* their data bytes */
    size_t cost;   /* receive state it counts */
};

/* Message_Sequence_Numbers lo..hi from one originator have not arrived. */
struct src_gap {
    uint32_t lo, hi;
    util_ms final_at; /* opened + gap_wait: then it is lost for good */
};

/* Kinds of warnings a peer can trigger, each rate-limited per source. */
enum { RL_LIMIT = 0, RL_EVICTED, RL_MEMORY, RL_TOTAL, RL_REFUSED, RL_DISCARDED, RL_GAP, RL_KINDS };

/* An originator: what it holds of the receive limits (its share decides
 * whose messages go first when room is needed), its sequence gaps (ACP 142
 * 5.3.3) and its warnings' rate limits.  Idle (collecting nothing) it is
 * on e->src_idle and may be forgotten; busy it is in e->heap. */
struct src_state {
    struct util_list link; /* e->src_table bucket */
    struct util_list lru;  /* e->src_idle while idle, least recently heard first */
    uint32_t src;
    struct util_list orphans;   /* its messages without an Address_PDU naming us, oldest first */
    struct util_list addressed; /* its other messages, oldest first */
    size_t nmsgs, norphans;     /* messages being collected, of which orphans */
    size_t cost, orphan_cost;   /* their receive state, of which orphans' */
    size_t hi[2];               /* its places in e->heap[0] and [1] (busy only) */
    uint32_t last_msn;     /* highest Message_Sequence_Number seen for us */
    bool heard_whole;      /* a message of its was complete: it may be asked for missing data */
    struct src_gap *gaps;  /* open gaps by final_at (PMUL_RX_MAX_GAPS + 1 slots), or NULL */
    size_t ngaps;
    struct eng_timer t_gap; /* at gaps[0].final_at */
    struct util_ratelimit *rl; /* RL_KINDS, from its first warning (if it fits: RL_COST) */
};

/* A hash table of util_list nodes that doubles when it holds more entries
 * than buckets (and there is room under rx_max_total). */
struct eng_table {
    struct util_list *b;
    size_t nb, n;
};

#define MSG_COST  (sizeof(struct rx_msg) + ALLOC_COST + 2 * TIMER_COST)
#define DUP_COST  (sizeof(struct rx_dup) + ALLOC_COST + 2 * TIMER_COST)
#define SRC_COST  (sizeof(struct src_state) + ALLOC_COST + TIMER_COST)
#define GAPS_COST ((PMUL_RX_MAX_GAPS + 1) * sizeof(struct src_gap) + ALLOC_COST)
#define RL_COST   (RL_KINDS * sizeof(struct util_ratelimit) + ALLOC_COST)

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
    struct eng_table rx_table; /* rx_ent by (Source_ID, Message_ID) */
    struct util_list ack_ready;
    struct util_list dups;      /* rx_dup, oldest first */
    struct eng_table src_table; /* src_state by Source_ID */
    struct util_list src_idle;  /* idle originators, least recently heard first */
    size_t src_idle_n;
    struct src_state **heap[2]; /* busy originators by share: [0] of all, [1] of orphans */
    size_t heap_n, heap_cap;
    struct util_ratelimit rl_all[RL_KINDS];
    struct util_ratelimit rl_emcon; /* emcon-on/off: the 5066 server's SUBNET_AVAILABILITY drives them */
    struct pmul_engine_stats st;
    uint8_t *buf;
    size_t buf_len;
    struct pmul_ack_entry ack_ents[MAX_ACK_ENTRIES];
    struct pmul_range ack_ranges[MAX_ACK_RANGES];
    struct rx_ent *ack_msgs[MAX_ACK_ENTRIES];
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

/* ---- receiver: accounting and limits ----------------------------------------- */

/* rx_state_add - count delta bytes more (or fewer) of receive state */
static void rx_state_add(struct pmul_engine *e, long long delta)
{
    e->st.rx_state = (size_t)((long long)e->st.rx_state + delta);
    if (e->st.rx_state > e->st.rx_state_peak)
        e->st.rx_state_peak = e->st.rx_state;
}

/* rx_room - whether bytes more fit under rx_max_total without making room */
static bool rx_room(const struct pmul_engine *e, size_t bytes)
{
    return e->st.rx_state + bytes <= e->p.rx_max_total;
}

/* eng_hash - a bucket hash of two 32-bit keys */
static uint32_t eng_hash(uint32_t a, uint32_t b)
{
    uint32_t h = a * 2654435761u ^ b * 2246822519u;
    return h ^ (h >> 15);
}

/* table_init - a table of TABLE_MIN buckets, counted; 0 or UTIL_ERR_NOMEM */
static int table_init(struct pmul_engine *e, struct eng_table *t)
{
    t->b = malloc(TABLE_MIN * sizeof *t->b);
    if (!t->b)
        return UTIL_ERR_NOMEM;
    t->nb = TABLE_MIN;
    t->n = 0;
    for (size_t i = 0; i < t->nb; i++)
        util_list_init(&t->b[i]);
    rx_state_add(e, (long long)(t->nb * sizeof *t->b + ALLOC_COST));
    return 0;
}

/* table_free - release the buckets (the entries are gone) */
static void table_free(struct pmul_engine *e, struct eng_table *t)
{
    if (t->b)
        rx_state_add(e, -(long long)(t->nb * sizeof *t->b + ALLOC_COST));
    free(t->b);
    t->b = NULL;
}

/* table_need - the bytes one more entry may cost the table (its doubling) */
static size_t table_need(const struct eng_table *t)
{
    return t->n + 1 > t->nb ? t->nb * sizeof *t->b : 0;
}

/* table_bucket - the bucket of hash h */
static struct util_list *table_bucket(const struct eng_table *t, uint32_t h)
{
    return &t->b[h & (t->nb - 1)];
}

/* table_add - link node under hash h; the table doubles when it is fuller
 * than its buckets and there is room (else the chains grow) */
static void table_add(struct pmul_engine *e, struct eng_table *t, struct util_list *node,
                      uint32_t h, uint32_t (*hash_of)(const struct util_list *))
{
    size_t extra = t->nb * sizeof *t->b;
    struct util_list *nb;
    if (t->n + 1 > t->nb && t->nb < ((size_t)1 << 26) && rx_room(e, extra) &&
        (nb = malloc(2 * extra))) {
        for (size_t i = 0; i < 2 * t->nb; i++)
            util_list_init(&nb[i]);
        struct util_list *old = t->b;
        size_t oldn = t->nb;
        t->b = nb;
        t->nb *= 2;
        for (size_t i = 0; i < oldn; i++)
            while (!util_list_empty(&old[i])) {
                struct util_list *x = old[i].next;
                util_list_remove(x);
                util_list_push_back(table_bucket(t, hash_of(x)), x);
            }
        free(old);
        rx_state_add(e, (long long)extra);
    }
    util_list_push_back(table_bucket(t, h), node);
    t->n++;
}

/* table_del - unlink node */
static void table_del(struct eng_table *t, struct util_list *node)
{
    util_list_remove(node);
    t->n--;
}

/* ent_hash - the hash of an rx_ent's table node */
static uint32_t ent_hash(const struct util_list *node)
{
    const struct rx_ent *h = UTIL_CONTAINER_OF(node, const struct rx_ent, hlink);
    return eng_hash(h->src, h->msgid);
}

/* src_hash - the hash of a src_state's table node */
static uint32_t src_hash(const struct util_list *node)
{
    const struct src_state *s = UTIL_CONTAINER_OF(node, const struct src_state, link);
    return eng_hash(s->src, 0);
}

/* src_share - how much of the receive limits s holds: of everything
 * (which 0) or of orphans (1), the larger of its slots and bytes shares */
static double src_share(const struct pmul_engine *e, const struct src_state *s, int which)
{
    double n = (double)(which ? s->norphans : s->nmsgs) / (double)e->p.rx_max_messages;
    double c = (double)(which ? s->orphan_cost : s->cost) / (double)e->p.rx_max_total;
    return n > c ? n : c;
}

/* heap_swap - swap two places of heap w */
static void heap_swap(struct pmul_engine *e, int w, size_t i, size_t j)
{
    struct src_state **h = e->heap[w], *t = h[i];
    h[i] = h[j];
    h[j] = t;
    h[i]->hi[w] = i;
    h[j]->hi[w] = j;
}

/* heap_fix - restore heap w (largest share on top) after s's share changed */
static void heap_fix(struct pmul_engine *e, int w, struct src_state *s)
{
    struct src_state **h = e->heap[w];
    size_t i = s->hi[w];
    double v = src_share(e, s, w);
    while (i > 0 && src_share(e, h[(i - 1) / 2], w) < v) {
        heap_swap(e, w, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        double vm = v;
        if (l < e->heap_n && src_share(e, h[l], w) > vm) {
            m = l;
            vm = src_share(e, h[l], w);
        }
        if (r < e->heap_n && src_share(e, h[r], w) > vm)
            m = r;
        if (m == i)
            break;
        heap_swap(e, w, i, m);
        i = m;
    }
}

/* src_heaps_fix - s's shares changed */
static void src_heaps_fix(struct pmul_engine *e, struct src_state *s)
{
    if (s->nmsgs) {
        heap_fix(e, 0, s);
        heap_fix(e, 1, s);
    }
}

/* heap_need - the bytes making one more originator busy may cost the heaps */
static size_t heap_need(const struct pmul_engine *e)
{
    return e->heap_n == e->heap_cap ? 2 * e->heap_cap * sizeof(void *) : 0;
}

/* heap_grow - room in the heaps for cap originators; 0 or UTIL_ERR_NOMEM */
static int heap_grow(struct pmul_engine *e, size_t cap)
{
    for (int w = 0; w < 2; w++) {
        struct src_state **h = realloc(e->heap[w], cap * sizeof *h);
        if (!h)
            return UTIL_ERR_NOMEM;
        e->heap[w] = h;
    }
    rx_state_add(e, (long long)(2 * (cap - e->heap_cap) * sizeof(void *) +
                                (e->heap_cap ? 0 : 2 * ALLOC_COST)));
    e->heap_cap = cap;
    return 0;
}

/* src_busy - s collects its first message: off the idle list, into the heaps */
static bool src_busy(struct pmul_engine *e, struct src_state *s)
{
    if (e->heap_n == e->heap_cap && heap_grow(e, 2 * e->heap_cap) < 0)
        return false;
    util_list_remove(&s->lru);
    util_list_init(&s->lru);
    e->src_idle_n--;
    for (int w = 0; w < 2; w++) {
        s->hi[w] = e->heap_n;
        e->heap[w][e->heap_n] = s;
    }
    e->heap_n++;
    heap_fix(e, 0, s);
    heap_fix(e, 1, s);
    return true;
}

/* src_idle - s collects nothing any more: out of the heaps, most recent on the idle list */
static void src_idle(struct pmul_engine *e, struct src_state *s)
{
    size_t last = --e->heap_n;
    for (int w = 0; w < 2; w++) {
        size_t i = s->hi[w];
        if (i != last) {
            heap_swap(e, w, i, last);
            heap_fix(e, w, e->heap[w][i]);
        }
    }
    util_list_push_back(&e->src_idle, &s->lru);
    e->src_idle_n++;
}

/* src_find - the originator's record, or NULL */
static struct src_state *src_find(const struct pmul_engine *e, uint32_t src)
{
    struct util_list *b = table_bucket(&e->src_table, eng_hash(src, 0)), *it;
    UTIL_LIST_FOREACH(it, b) {
        struct src_state *s = UTIL_CONTAINER_OF(it, struct src_state, link);
        if (s->src == src)
            return s;
    }
    return NULL;
}

/* src_touch - s was heard: the idle list keeps the least recently heard first */
static void src_touch(struct pmul_engine *e, struct src_state *s)
{
    if (!s->nmsgs) {
        util_list_remove(&s->lru);
        util_list_push_back(&e->src_idle, &s->lru);
    }
}

/* src_forget - drop an idle originator's record and its open gaps */
static void src_forget(struct pmul_engine *e, struct src_state *s)
{
    util_timerheap_cancel(&e->timers, &s->t_gap.t);
    e->st.gaps_open -= s->ngaps;
    e->st.sources--;
    table_del(&e->src_table, &s->link);
    util_list_remove(&s->lru);
    e->src_idle_n--;
    if (s->gaps)
        rx_state_add(e, -(long long)GAPS_COST);
    if (s->rl)
        rx_state_add(e, -(long long)RL_COST);
    rx_state_add(e, -(long long)SRC_COST);
    free(s->gaps);
    free(s->rl);
    free(s);
}

/* src_new - a record for an originator (the caller made room for SRC_COST);
 * beyond PMUL_RX_MAX_SOURCES idle ones, the one heard least recently goes */
static struct src_state *src_new(struct pmul_engine *e, uint32_t src)
{
    if (e->src_idle_n >= PMUL_RX_MAX_SOURCES) {
        struct src_state *old = UTIL_CONTAINER_OF(e->src_idle.next, struct src_state, lru);
        util_log(UTIL_LOG_DEBUG, UTIL_MOD_PMUL, "sequence-forgotten",
                 "src=" PMUL_ID_FMT " last_msn=%lu open_gaps=%zu", PMUL_ID_ARGS(old->src),
                 (unsigned long)old->last_msn, old->ngaps);
        src_forget(e, old);
    }
    struct src_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->src = src;
    util_list_init(&s->orphans);
    util_list_init(&s->addressed);
    eng_timer_init(&s->t_gap, T_SRC_GAP, s);
    table_add(e, &e->src_table, &s->link, eng_hash(src, 0), src_hash);
    util_list_push_back(&e->src_idle, &s->lru);
    e->src_idle_n++;
    e->st.sources++;
    rx_state_add(e, (long long)SRC_COST);
    return s;
}

/* eng_peer_allow - whether a line of `kind` that src triggered may be
 * logged at `level` now: at most PMUL_LOG_BURST per source and kind and
 * PMUL_LOG_BURST_ALL per kind per PMUL_LOG_WINDOW_MS.  sup gets
 * " suppressed=N" when lines were held back since the last one (else ""),
 * to end the line with. */
static bool eng_peer_allow(struct pmul_engine *e, util_ms now, uint32_t src, int kind,
                           enum util_log_level level, char sup[24])
{
    sup[0] = 0;
    if (!util_log_enabled(level, UTIL_MOD_PMUL))
        return false;
    struct src_state *s = src_find(e, src);
    unsigned held = 0, held_all = 0;
    if (s && !s->rl && rx_room(e, RL_COST) && (s->rl = calloc(RL_KINDS, sizeof *s->rl)))
        rx_state_add(e, (long long)RL_COST);
    if (s && !s->rl)
        s = NULL; /* no room for its own limits: the shared ones only */
    if (s && !util_ratelimit_allow(&s->rl[kind], now, PMUL_LOG_BURST, PMUL_LOG_WINDOW_MS, &held)) {
        e->st.log_suppressed++;
        return false;
    }
    if (!util_ratelimit_allow(&e->rl_all[kind], now, PMUL_LOG_BURST_ALL, PMUL_LOG_WINDOW_MS,
                              &held_all)) {
        if (s) /* the source's next line counts this one too */
            s->rl[kind].suppressed += held + 1;
        e->st.log_suppressed++;
        return false;
    }
    if (!s)
        held = held_all;
    if (held)
        snprintf(sup, 24, " suppressed=%u", held);
    return true;
}

/* ---- receiver: incoming records ------------------------------------------------ */

/* rx_find - the incoming record (src, msgid), or NULL */
static struct rx_ent *rx_find(struct pmul_engine *e, uint32_t src, uint32_t msgid)
{
    struct util_list *b = table_bucket(&e->rx_table, eng_hash(src, msgid)), *it;
    UTIL_LIST_FOREACH(it, b)
    {
        struct rx_ent *h = UTIL_CONTAINER_OF(it, struct rx_ent, hlink);
        if (h->src == src && h->msgid == msgid)
            return h;
    }
    return NULL;
}

/* rx_msg_of - the message of a record that is being collected, else NULL */
static struct rx_msg *rx_msg_of(struct rx_ent *h)
{
    return h && h->kind == RX_COLLECTING ? UTIL_CONTAINER_OF(h, struct rx_msg, h) : NULL;
}

/* rx_ent_init - the shared part of a new record, linked into the table */
static void rx_ent_init(struct pmul_engine *e, struct rx_ent *h, uint32_t src, uint32_t msgid,
                        int kind)
{
    h->src = src;
    h->msgid = msgid;
    h->kind = (uint8_t)kind;
    util_list_init(&h->rlink);
    eng_timer_init(&h->ack, T_RX_ACK, h);
    eng_timer_init(&h->life, T_RX_LIFE, h);
    table_add(e, &e->rx_table, &h->hlink, eng_hash(src, msgid), ent_hash);
}

/* rx_unready - take a record off the list of acks ready to go */
static void rx_unready(struct rx_ent *h)
{
    if (h->ready) {
        util_list_remove(&h->rlink);
        h->ready = false;
    }
}

/* rx_ent_unlink - the shared part of forgetting a record */
static void rx_ent_unlink(struct pmul_engine *e, struct rx_ent *h)
{
    rx_unready(h);
    table_del(&e->rx_table, &h->hlink);
    util_timerheap_cancel(&e->timers, &h->ack.t);
    util_timerheap_cancel(&e->timers, &h->life.t);
}

/* rx_account - m costs delta bytes more (or fewer) */
static void rx_account(struct pmul_engine *e, struct rx_msg *m, long long delta)
{
    m->cost = (size_t)((long long)m->cost + delta);
    m->src->cost = (size_t)((long long)m->src->cost + delta);
    if (!m->for_us)
        m->src->orphan_cost = (size_t)((long long)m->src->orphan_cost + delta);
    rx_state_add(e, delta);
    src_heaps_fix(e, m->src);
}

/* rx_msg_destroy - forget an incoming message and give up its slot */
static void rx_msg_destroy(struct pmul_engine *e, struct rx_msg *m)
{
    struct src_state *s = m->src;
    rx_ent_unlink(e, &m->h);
    for (uint16_t i = 0; i < m->nruns; i++)
        free(m->runs[i].buf);
    free(m->runs);
    free(m->dests);
    util_list_remove(&m->plink);
    rx_account(e, m, -(long long)m->cost);
    if (!m->for_us) {
        s->norphans--;
        e->st.rx_orphans--;
    }
    e->st.rx_bytes -= m->bytes;
    e->st.rx_active--;
    if (--s->nmsgs == 0)
        src_idle(e, s);
    else
        src_heaps_fix(e, s);
    free(m);
}

/* rx_dup_destroy - forget a duplicate record */
static void rx_dup_destroy(struct pmul_engine *e, struct rx_dup *d)
{
    rx_ent_unlink(e, &d->h);
    util_list_remove(&d->fifo);
    e->st.rx_dups--;
    rx_state_add(e, -(long long)DUP_COST);
    free(d);
}

/* rx_ent_destroy - forget a record of either kind */
static void rx_ent_destroy(struct pmul_engine *e, struct rx_ent *h)
{
    struct rx_msg *m = rx_msg_of(h);
    if (m)
        rx_msg_destroy(e, m);
    else
        rx_dup_destroy(e, UTIL_CONTAINER_OF(h, struct rx_dup, h));
}

/* rx_oldest - s's oldest orphan (orphans_only) or message, other than pin */
static struct rx_msg *rx_oldest(struct src_state *s, bool orphans_only, const struct rx_msg *pin)
{
    struct util_list *lists[2] = {&s->orphans, &s->addressed};
    for (int k = 0; k < (orphans_only ? 1 : 2); k++) {
        struct util_list *it;
        UTIL_LIST_FOREACH(it, lists[k])
        {
            struct rx_msg *m = UTIL_CONTAINER_OF(it, struct rx_msg, plink);
            if (m != pin)
                return m;
        }
    }
    return NULL;
}

/* rx_evict - drop an incoming message to make room for one from `for_src` */
static void rx_evict(struct pmul_engine *e, util_ms now, struct rx_msg *m, uint32_t for_src)
{
    e->st.rx_evicted++;
    char sup[24];
    if (eng_peer_allow(e, now, m->h.src, RL_EVICTED, UTIL_LOG_WARN, sup))
        util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "rx-evicted",
                 "src=" PMUL_ID_FMT " msgid=%u kind=%s had=%u bytes=%zu for=" PMUL_ID_FMT
                 " messages=%zu state=%zu%s",
                 PMUL_ID_ARGS(m->h.src), m->h.msgid, m->for_us ? "incomplete" : "orphan", m->have,
                 m->bytes, PMUL_ID_ARGS(for_src), e->st.rx_active, e->st.rx_state, sup);
    rx_msg_destroy(e, m);
}

/* rx_make_room - room for `slots` more messages and `bytes` more bytes of
 * receive state, for something from for_src: first the oldest orphan of
 * the originator holding the largest share of orphans, then (bytes) the
 * oldest duplicate record, then, unless the newcomer is an orphan itself,
 * the oldest message of the originator holding the largest share of all.
 * `pin` (the message being added to) is never dropped.  false: no room. */
static bool rx_make_room(struct pmul_engine *e, util_ms now, const struct rx_msg *pin, bool orphan,
                         size_t slots, size_t bytes, uint32_t for_src)
{
    for (;;) {
        bool slots_short = slots && e->st.rx_active + slots > e->p.rx_max_messages;
        bool bytes_short = !rx_room(e, bytes);
        if (!slots_short && !bytes_short)
            return true;
        struct rx_msg *v = e->heap_n ? rx_oldest(e->heap[1][0], true, pin) : NULL;
        if (v) {
            rx_evict(e, now, v, for_src);
            continue;
        }
        if (bytes_short && !util_list_empty(&e->dups)) {
            struct rx_dup *d = UTIL_CONTAINER_OF(e->dups.next, struct rx_dup, fifo);
            util_log(UTIL_LOG_DEBUG, UTIL_MOD_PMUL, "rx-dup-evicted",
                     "src=" PMUL_ID_FMT " msgid=%u for=" PMUL_ID_FMT, PMUL_ID_ARGS(d->h.src),
                     d->h.msgid, PMUL_ID_ARGS(for_src));
            e->st.rx_evicted++;
            rx_dup_destroy(e, d);
            continue;
        }
        if (orphan || !e->heap_n || !(v = rx_oldest(e->heap[0][0], false, pin)))
            return false;
        rx_evict(e, now, v, for_src);
    }
}

/* rx_limited - something of (src, msgid) did not fit the receive limits */
static void rx_limited(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msgid,
                       const char *what)
{
    e->st.rx_limited++;
    char sup[24];
    if (eng_peer_allow(e, now, src, RL_LIMIT, UTIL_LOG_WARN, sup))
        util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "rx-limit",
                 "src=" PMUL_ID_FMT " msgid=%u what=%s messages=%zu state=%zu%s", PMUL_ID_ARGS(src),
                 msgid, what, e->st.rx_active, e->st.rx_state, sup);
}

/* rx_dup_new - a duplicate record (the caller made room for DUP_COST), alive until `until` */
static struct rx_dup *rx_dup_new(struct pmul_engine *e, uint32_t src, uint32_t msgid, int kind,
                                 uint8_t prio, int64_t expiry, util_ms until)
{
    struct rx_dup *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    rx_ent_init(e, &d->h, src, msgid, kind);
    d->h.prio = prio;
    d->h.expiry = expiry;
    util_list_push_back(&e->dups, &d->fifo);
    e->st.rx_dups++;
    rx_state_add(e, (long long)DUP_COST);
    eng_arm(e, &d->h.life, until);
    return d;
}

/* rx_keep_until - when a finished record of a message expiring then goes */
static util_ms rx_keep_until(const struct pmul_engine *e, util_ms now, int64_t expiry)
{
    if (!expiry)
        return now + e->p.rx_orphan_time;
    return UTIL_MAX(eng_mono_of_wall(e, expiry) + e->p.rx_keep_done, now + 1000);
}

/* rx_finish - a message leaves collecting: it gives up its slot at once and
 * only a duplicate record of `kind` is left, until `until` */
static struct rx_dup *rx_finish(struct pmul_engine *e, struct rx_msg *m, int kind, util_ms until)
{
    uint32_t src = m->h.src, msgid = m->h.msgid;
    uint8_t prio = m->h.prio;
    int64_t expiry = m->h.expiry;
    rx_msg_destroy(e, m); /* frees more than the record takes */
    return rx_dup_new(e, src, msgid, kind, prio, expiry, until);
}

/* rx_create - a new incoming message, or NULL at the limits (logged) */
static struct rx_msg *rx_create(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msgid,
                                bool orphan)
{
    struct src_state *s = src_find(e, src);
    if (!s && rx_make_room(e, now, NULL, orphan, 0, SRC_COST + table_need(&e->src_table), src))
        s = src_new(e, src);
    size_t need = MSG_COST + table_need(&e->rx_table) + heap_need(e);
    if (!s || !rx_make_room(e, now, NULL, orphan, 1, need, src)) {
        rx_limited(e, now, src, msgid, orphan ? "orphan" : "message");
        return NULL;
    }
    struct rx_msg *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (!s->nmsgs && !src_busy(e, s)) {
        free(m);
        return NULL;
    }
    rx_ent_init(e, &m->h, src, msgid, RX_COLLECTING);
    m->src = s;
    util_list_push_back(&s->orphans, &m->plink);
    s->nmsgs++;
    s->norphans++;
    e->st.rx_active++;
    e->st.rx_orphans++;
    rx_account(e, m, (long long)MSG_COST);
    eng_arm(e, &m->h.life, now + e->p.rx_orphan_time);
    return m;
}

/* rx_set_for_us - an Address_PDU names us: m is an orphan no more */
static void rx_set_for_us(struct pmul_engine *e, struct rx_msg *m)
{
    if (m->for_us)
        return;
    struct src_state *s = m->src;
    s->orphan_cost -= m->cost;
    s->norphans--;
    e->st.rx_orphans--;
    m->for_us = true;
    util_list_remove(&m->plink);
    util_list_push_back(&s->addressed, &m->plink);
    src_heaps_fix(e, s);
}

/* rx_already - whether a new (src, msgid) is one the application delivered
 * before (a restart, or its duplicate record was pushed out): then *dup is
 * a new duplicate record for it (NULL if none fits) */
static bool rx_already(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msgid,
                       struct rx_dup **dup)
{
    *dup = NULL;
    if (!e->cb.already_delivered || !e->cb.already_delivered(e->user, src, msgid))
        return false;
    e->st.duplicates++;
    if (rx_make_room(e, now, NULL, false, 0, DUP_COST + table_need(&e->rx_table), src))
        *dup = rx_dup_new(e, src, msgid, RX_DELIVERED, 0, 0, now + e->p.rx_orphan_time);
    return true;
}

/* ---- receiver: sequence gaps ------------------------------------------------------ */

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
        rx_state_add(e, -(long long)GAPS_COST);
    }
}

/* src_gap_final - gap i is lost for good: warn (rate-limited), report once, forget it */
static void src_gap_final(struct pmul_engine *e, util_ms now, struct src_state *s, size_t i)
{
    struct src_gap g = s->gaps[i];
    src_gap_remove(e, s, i);
    e->st.gaps++;
    char sup[24];
    if (eng_peer_allow(e, now, s->src, RL_GAP, UTIL_LOG_WARN, sup))
        util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "sequence-gap",
                 "src=" PMUL_ID_FMT " expected_msn=%lu got_msn=%lu missing=%lu%s",
                 PMUL_ID_ARGS(s->src), (unsigned long)g.lo, (unsigned long)g.hi + 1,
                 (unsigned long)(g.hi - g.lo) + 1, sup);
    if (e->cb.gap)
        e->cb.gap(e->user, s->src, g.lo, g.hi + 1);
}

/* src_gap_bound - beyond PMUL_RX_MAX_GAPS open gaps the oldest is final now */
static void src_gap_bound(struct pmul_engine *e, util_ms now, struct src_state *s)
{
    while (s->ngaps > PMUL_RX_MAX_GAPS)
        src_gap_final(e, now, s, 0);
}

/* src_gap_open - messages lo..hi have not arrived (one entry, whatever the
 * size); the table is counted and needs room under rx_max_total */
static void src_gap_open(struct pmul_engine *e, util_ms now, struct src_state *s, uint32_t lo,
                         uint32_t hi)
{
    if (!s->gaps) {
        if (!rx_room(e, GAPS_COST) || !(s->gaps = malloc((PMUL_RX_MAX_GAPS + 1) * sizeof *s->gaps)))
            return; /* no room: this gap goes unnoticed */
        rx_state_add(e, (long long)GAPS_COST);
    }
    struct src_gap *g = &s->gaps[s->ngaps++];
    g->lo = lo;
    g->hi = hi;
    g->final_at = now + e->p.gap_wait; /* >= every open one's: the table stays in order */
    e->st.gaps_open++;
    src_gap_bound(e, now, s);
    src_arm(e, s);
}

/* src_gap_close - msn, missing until now, arrived: its gap shrinks, splits or closes */
static bool src_gap_close(struct pmul_engine *e, util_ms now, struct src_state *s, uint32_t msn)
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
            src_gap_bound(e, now, s);
        }
        src_arm(e, s);
        return true;
    }
    return false;
}

/* rx_note_msn - our Message_Sequence_Number in a message from src: a jump
 * opens a gap, a number missing until now closes (part of) one; repeats
 * change nothing, so every Address_PDU naming us may be noted.  A new
 * originator is recorded only if it fits under rx_max_total as it is. */
static void rx_note_msn(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msn)
{
    if (msn == 0)
        return;
    struct src_state *s = src_find(e, src);
    if (s)
        src_touch(e, s);
    else if (!rx_room(e, SRC_COST + table_need(&e->src_table)) || !(s = src_new(e, src)))
        return;
    if (msn > s->last_msn) {
        if (s->last_msn && msn - s->last_msn > 1)
            src_gap_open(e, now, s, s->last_msn + 1, msn - 1);
        s->last_msn = msn;
    } else if (src_gap_close(e, now, s, msn)) {
        util_log(UTIL_LOG_DEBUG, UTIL_MOD_PMUL, "sequence-late",
                 "src=" PMUL_ID_FMT " msn=%lu last_msn=%lu open_gaps=%zu", PMUL_ID_ARGS(src),
                 (unsigned long)msn, (unsigned long)s->last_msn, s->ngaps);
    }
}

/* ---- receiver: fragments ------------------------------------------------------------ */

/* rx_run_find - the index of the run starting at base, or where it would go (*found false) */
static size_t rx_run_find(const struct rx_msg *m, uint16_t base, bool *found)
{
    size_t lo = 0, hi = m->nruns;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->runs[mid].base < base)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < m->nruns && m->runs[lo].base == base;
    return lo;
}

/* rx_run_offset - where fragment bit `bit` of run r starts (or would) in its buffer */
static size_t rx_run_offset(const struct rx_run *r, unsigned bit)
{
    size_t off = 0;
    for (unsigned i = 0; i < bit; i++)
        if (r->bits >> i & 1)
            off += 2 + util_get_u16(r->buf + off);
    return off;
}

/* rx_store - keep one fragment (making room for it); false if it is a
 * duplicate, bogus or refused */
static bool rx_store(struct pmul_engine *e, util_ms now, struct rx_msg *m, uint16_t seq,
                     const uint8_t *d, size_t len)
{
    if (seq == 0 || (m->have_addr && seq > m->total))
        return false;
    uint16_t base = (uint16_t)((seq - 1) / RX_RUN * RX_RUN);
    unsigned bit = (unsigned)(seq - 1) % RX_RUN;
    bool found;
    size_t i = rx_run_find(m, base, &found);
    if (found && (m->runs[i].bits >> bit & 1))
        return false; /* a duplicate */
    if (m->bytes + len > e->p.rx_max_message) {
        e->st.rx_limited++;
        char sup[24];
        if (eng_peer_allow(e, now, m->h.src, RL_MEMORY, UTIL_LOG_WARN, sup))
            util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "rx-memory-limit",
                     "src=" PMUL_ID_FMT " msgid=%u bytes=%zu max=%zu%s", PMUL_ID_ARGS(m->h.src),
                     m->h.msgid, m->bytes, e->p.rx_max_message, sup);
        return false;
    }
    /* what it costs: perhaps a bigger run array, a new or bigger run buffer */
    size_t runs_cap = m->runs_cap, add = 0;
    if (!found && m->nruns == m->runs_cap) {
        runs_cap = m->runs_cap ? 2u * m->runs_cap : 1;
        add += (runs_cap - m->runs_cap) * sizeof *m->runs + (m->runs_cap ? 0 : ALLOC_COST);
    }
    size_t used = found ? m->runs[i].used : 0, cap = found ? m->runs[i].cap : 0;
    size_t need = used + 2 + len, ncap = cap;
    if (need > cap) {
        ncap = cap ? UTIL_MAX(need, cap + cap / 2) : need;
        add += ncap - cap + (cap ? 0 : ALLOC_COST);
    }
    if (!rx_make_room(e, now, m, !m->for_us, 0, add, m->h.src)) {
        rx_limited(e, now, m->h.src, m->h.msgid, "fragment");
        return false;
    }
    if (runs_cap != m->runs_cap) {
        struct rx_run *nr = realloc(m->runs, runs_cap * sizeof *nr);
        if (!nr)
            return false;
        m->runs = nr;
        rx_account(
            e, m,
            (long long)((runs_cap - m->runs_cap) * sizeof *nr + (m->runs_cap ? 0 : ALLOC_COST)));
        m->runs_cap = (uint16_t)runs_cap;
    }
    if (!found) {
        memmove(&m->runs[i + 1], &m->runs[i], (m->nruns - i) * sizeof *m->runs);
        memset(&m->runs[i], 0, sizeof m->runs[i]);
        m->runs[i].base = base;
        m->nruns++;
    }
    struct rx_run *r = &m->runs[i];
    if (ncap != cap) {
        uint8_t *nb = realloc(r->buf, ncap);
        if (!nb) {
            if (!r->bits) { /* the run just made: take it out again */
                memmove(&m->runs[i], &m->runs[i + 1], (m->nruns - i - 1) * sizeof *m->runs);
                m->nruns--;
            }
            return false;
        }
        r->buf = nb;
        r->cap = (uint32_t)ncap;
        rx_account(e, m, (long long)(ncap - cap + (cap ? 0 : ALLOC_COST)));
    }
    size_t off = rx_run_offset(r, bit);
    memmove(r->buf + off + 2 + len, r->buf + off, r->used - off);
    util_put_u16(r->buf + off, (uint16_t)len);
    if (len)
        memcpy(r->buf + off + 2, d, len);
    r->used = (uint32_t)need;
    r->bits |= 1u << bit;
    m->have++;
    m->bytes += len;
    e->st.rx_bytes += len;
    return true;
}

/* rx_trim - drop the fragments beyond total (bogus: they came before the Address_PDU) */
static void rx_trim(struct pmul_engine *e, struct rx_msg *m, uint16_t total)
{
    while (m->nruns) {
        struct rx_run *r = &m->runs[m->nruns - 1];
        if ((uint32_t)r->base + RX_RUN <= total)
            break;
        unsigned keep = r->base < total ? (unsigned)(total - r->base) : 0; /* bits 0..keep-1 stay */
        size_t off = rx_run_offset(r, keep), pos = off;
        for (unsigned b = keep; b < RX_RUN; b++)
            if (r->bits >> b & 1) {
                size_t l = util_get_u16(r->buf + pos);
                pos += 2 + l;
                m->have--;
                m->bytes -= l;
                e->st.rx_bytes -= l;
            }
        r->used = (uint32_t)off;
        r->bits &= keep ? (uint32_t)((1ull << keep) - 1) : 0;
        if (r->bits)
            break;
        rx_account(e, m, -(long long)(r->cap + ALLOC_COST));
        free(r->buf);
        m->nruns--;
    }
}

/* rx_complete - whether every Data_PDU is here */
static bool rx_complete(const struct rx_msg *m)
{
    return m->have_addr && m->total > 0 && m->have == m->total;
}

/* rx_missing_ranges - the missing Data_PDUs of m as at most max ranges */
static size_t rx_missing_ranges(const struct rx_msg *m, struct pmul_range *r, size_t max)
{
    size_t n = 0;
    if (!m->have_addr)
        return 0;
    uint32_t next = 1; /* the first number not yet accounted for */
    for (uint16_t i = 0; i < m->nruns && n < max; i++) {
        uint32_t bits = m->runs[i].bits;
        while (bits && n < max) {
            unsigned b = (unsigned)__builtin_ctz(bits);
            bits &= bits - 1;
            uint32_t seq = (uint32_t)m->runs[i].base + 1 + b;
            if (seq > m->total)
                break;
            if (seq > next) {
                r[n].lo = (uint16_t)next;
                r[n].hi = (uint16_t)(seq - 1);
                n++;
            }
            next = seq + 1;
        }
    }
    if (n < max && next <= m->total) {
        r[n].lo = (uint16_t)next;
        r[n].hi = m->total;
        n++;
    }
    return n;
}

/* ---- receiver: PDUs ------------------------------------------------------------------ */

/* rx_schedule_ack - acknowledge after a random delay (sooner if already due) */
static void rx_schedule_ack(struct pmul_engine *e, util_ms now, struct rx_ent *h, util_ms base)
{
    if (h->ready)
        return;
    util_ms delay = e->p.ack_delay_max ? util_rng_below(&e->rng, e->p.ack_delay_max + 1) : 0;
    util_ms when = now + base + delay;
    if (util_timer_armed(&h->ack.t) && h->ack.t.expiry <= when)
        return;
    eng_arm(e, &h->ack, when);
}

/* rx_may_ask - whether an Ack_PDU listing missing Data_PDUs may go to src:
 * a known node, or one heard whole (pmul_callbacks.source_known) */
static bool rx_may_ask(const struct pmul_engine *e, uint32_t src)
{
    if (!e->cb.source_known || e->cb.source_known(e->user, src))
        return true;
    const struct src_state *s = src_find(e, src);
    return s && s->heard_whole;
}

/* rx_deliver - the message is complete: assemble, hand over, then
 * acknowledge; either way it gives up its slot at once */
static void rx_deliver(struct pmul_engine *e, util_ms now, struct rx_msg *m)
{
    uint8_t *all = malloc(m->bytes ? m->bytes : 1);
    if (!all) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "deliver-failed",
                 "src=" PMUL_ID_FMT " msgid=%u error=\"out of memory\"", PMUL_ID_ARGS(m->h.src),
                 m->h.msgid);
        return;
    }
    size_t off = 0;
    for (uint16_t i = 0; i < m->nruns; i++) {
        const struct rx_run *r = &m->runs[i];
        for (size_t pos = 0; pos < r->used;) {
            size_t l = util_get_u16(r->buf + pos);
            memcpy(all + off, r->buf + pos + 2, l);
            off += l;
            pos += 2 + l;
        }
    }
    struct src_state *s = src_find(e, m->h.src);
    if (s)
        s->heard_whole = true; /* a real originator: it may be asked for what it lacks from now on */
    struct pmul_rx_message rx = {m->h.src, m->h.msgid, m->msn,   m->h.prio, m->h.expiry,
                                 all,      off,        m->dests, m->ndests};
    int rc = e->cb.deliver ? e->cb.deliver(e->user, &rx) : 0;
    free(all);
    if (rc < 0) {
        /* not stored: no ack; the retransmissions bring it again */
        e->st.rx_refused++;
        char sup[24];
        if (eng_peer_allow(e, now, m->h.src, RL_REFUSED, UTIL_LOG_WARN, sup))
            util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "deliver-refused",
                     "src=" PMUL_ID_FMT " msgid=%u rc=%d%s", PMUL_ID_ARGS(m->h.src), m->h.msgid, rc,
                     sup);
        rx_finish(e, m, RX_REFUSED, rx_keep_until(e, now, m->h.expiry));
        return;
    }
    e->st.messages_delivered++;
    util_log(UTIL_LOG_INFO, UTIL_MOD_PMUL, "delivered",
             "src=" PMUL_ID_FMT " msgid=%u msn=%u bytes=%zu pdus=%u", PMUL_ID_ARGS(m->h.src),
             m->h.msgid, m->msn, off, m->total);
    struct rx_dup *d = rx_finish(e, m, RX_DELIVERED, rx_keep_until(e, now, m->h.expiry));
    if (d)
        rx_schedule_ack(e, now, &d->h, 0);
}

/* rx_on_data - a Data_PDU */
static void rx_on_data(struct pmul_engine *e, util_ms now, const struct pmul_pdu *p)
{
    if (p->source_id == e->p.node_id)
        return; /* our own, looped back */
    struct rx_ent *h = rx_find(e, p->source_id, p->message_id);
    if (h && h->kind == RX_REFUSED) {
        rx_ent_destroy(e, h); /* the sender brings it again: collect it again */
        h = NULL;
    }
    struct rx_dup *dup;
    if (!h && rx_already(e, now, p->source_id, p->message_id, &dup))
        return;
    struct rx_msg *m = h ? rx_msg_of(h) : rx_create(e, now, p->source_id, p->message_id, true);
    if (!m) {
        if (h && h->kind == RX_DELIVERED)
            e->st.duplicates++;
        return;
    }
    if (!rx_store(e, now, m, p->u.data.seq, p->u.data.data, p->u.data.len))
        return;
    if (!m->have_addr)
        return;
    if (rx_complete(m)) {
        rx_deliver(e, now, m);
    } else if (m->for_us && !m->h.ready) {
        /* ACK_PDU_TIME after the last Data_PDU heard, report what is missing */
        eng_arm(e, &m->h.ack, now + e->p.ack_pdu_time);
    }
}

/* rx_note_dests - remember the Destination_IDs an Address_PDU names (the
 * first one seen of each part; at most RX_MAX_DESTS), for the deliverer;
 * the list grows with what is named, within the receive limits */
static void rx_note_dests(struct pmul_engine *e, util_ms now, struct rx_msg *m,
                          const struct pmul_pdu *p)
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
        if (m->ndests == m->dests_cap) {
            size_t cap = m->dests_cap ? UTIL_MIN(2u * m->dests_cap, (unsigned)RX_MAX_DESTS) : 4;
            size_t add = (cap - m->dests_cap) * sizeof *m->dests + (m->dests_cap ? 0 : ALLOC_COST);
            uint32_t *nd;
            if (!rx_make_room(e, now, m, !m->for_us, 0, add, m->h.src) ||
                !(nd = realloc(m->dests, cap * sizeof *nd)))
                return;
            m->dests = nd;
            m->dests_cap = (uint16_t)cap;
            rx_account(e, m, (long long)add);
        }
        m->dests[m->ndests++] = d.dest_id;
    }
}

/* rx_on_address - an Address_PDU (or the Ack-Ack) */
static void rx_on_address(struct pmul_engine *e, util_ms now, const struct pmul_pdu *p)
{
    if (p->source_id == e->p.node_id)
        return;
    if (pmul_is_ack_ack(p)) {
        struct rx_ent *h = rx_find(e, p->source_id, p->message_id);
        if (h) {
            h->finished = true;
            rx_unready(h);
            util_timerheap_cancel(&e->timers, &h->ack.t);
            struct rx_msg *m = rx_msg_of(h);
            if (m && !m->for_us)
                rx_finish(e, m, RX_NOT_FOR_US, rx_keep_until(e, now, m->h.expiry));
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
    uint16_t total = p->u.address.total_pdus;
    struct rx_ent *h = rx_find(e, p->source_id, p->message_id);
    if (h && h->kind != RX_COLLECTING) {
        if (!h->expiry && p->u.address.expiry) { /* it came from already_delivered */
            h->expiry = p->u.address.expiry;
            h->prio = p->priority;
            eng_arm(e, &h->life, rx_keep_until(e, now, h->expiry));
        }
        if (h->kind == RX_DELIVERED) {
            if (listed) {
                h->finished = false;
                rx_schedule_ack(e, now, h, 0); /* the sender lacks our ack */
            } else if (p->map == 0) {
                h->finished = true; /* a retransmission without us: the sender has our ack */
                rx_unready(h);
                util_timerheap_cancel(&e->timers, &h->ack.t);
            }
            return;
        }
        if (h->kind == RX_DISCARDED || !listed)
            return;
        rx_ent_destroy(e, h); /* not for us before, for us now: collect it */
        h = NULL;
    }
    struct rx_msg *m = rx_msg_of(h);
    if (!m) {
        if (!listed)
            return; /* not for us and nothing collected: nothing to do */
        struct rx_dup *dup;
        if (rx_already(e, now, p->source_id, p->message_id, &dup)) {
            if (dup) { /* the sender lacks our ack */
                dup->h.expiry = p->u.address.expiry;
                dup->h.prio = p->priority;
                eng_arm(e, &dup->h.life, rx_keep_until(e, now, dup->h.expiry));
                rx_schedule_ack(e, now, &dup->h, 0);
            }
            return;
        }
        if (!(m = rx_create(e, now, p->source_id, p->message_id, false)))
            return;
    }
    rx_note_dests(e, now, m, p);
    if (!m->have_addr && total > 0) {
        m->have_addr = true;
        m->total = total;
        m->h.prio = p->priority;
        m->h.expiry = p->u.address.expiry;
        rx_trim(e, m, total); /* fragments beyond the total are bogus */
        eng_arm(e, &m->h.life, rx_keep_until(e, now, m->h.expiry));
    } else if (m->have_addr && total != m->total) {
        e->st.bad_pdus++;
        char sup[24];
        if (eng_peer_allow(e, now, m->h.src, RL_TOTAL, UTIL_LOG_WARN, sup))
            util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "total-changed",
                     "src=" PMUL_ID_FMT " msgid=%u was=%u now=%u%s", PMUL_ID_ARGS(m->h.src),
                     m->h.msgid, m->total, total, sup);
        return;
    }
    if (!listed) {
        if (p->map == 0) {
            if (m->for_us) {
                /* a retransmission without us: the sender has our ack */
                m->h.finished = true;
                rx_unready(&m->h);
                util_timerheap_cancel(&e->timers, &m->h.ack.t);
            } else {
                rx_finish(e, m, RX_NOT_FOR_US, rx_keep_until(e, now, m->h.expiry));
            }
        }
        return;
    }
    if (!m->for_us)
        m->msn = msn;
    rx_set_for_us(e, m);
    m->h.finished = false;
    if (rx_complete(m)) {
        rx_deliver(e, now, m);
        return;
    }
    /* incomplete: the round's Data_PDUs follow; ack after a quiet ACK_PDU_TIME */
    if (!m->h.ready)
        eng_arm(e, &m->h.ack, now + e->p.ack_pdu_time);
}

/* rx_on_discard - a Discard_Message_PDU: the partial copy goes, a short
 * record stays (nothing is kept for a message never seen) */
static void rx_on_discard(struct pmul_engine *e, util_ms now, const struct pmul_pdu *p)
{
    if (p->source_id == e->p.node_id)
        return;
    struct rx_ent *h = rx_find(e, p->source_id, p->message_id);
    struct rx_msg *m = rx_msg_of(h);
    if (!h || (!m && h->kind != RX_REFUSED))
        return;
    if (!m || m->for_us) {
        e->st.discarded++;
        char sup[24];
        if (eng_peer_allow(e, now, h->src, RL_DISCARDED, UTIL_LOG_NOTICE, sup))
            util_log(UTIL_LOG_NOTICE, UTIL_MOD_PMUL, "discarded",
                     "src=" PMUL_ID_FMT " msgid=%u had=%u of=%u%s", PMUL_ID_ARGS(h->src), h->msgid,
                     m ? m->have : 0, m ? m->total : 0, sup);
    }
    if (m) {
        rx_finish(e, m, RX_DISCARDED, now + e->p.rx_keep_done);
    } else {
        h->kind = RX_DISCARDED;
        eng_arm(e, &h->life, now + e->p.rx_keep_done);
    }
}

/* rx_send_acks - one Ack_PDU for the first ready originator, with every
 * ready message of that originator that fits */
static int rx_send_acks(struct pmul_engine *e, util_ms now)
{
    struct rx_ent *first = UTIL_CONTAINER_OF(e->ack_ready.next, struct rx_ent, rlink);
    uint32_t src = first->src;
    size_t n = 0, nranges = 0, len = PMUL_ACK_HDR_LEN;
    struct util_list *it;
    UTIL_LIST_FOREACH(it, &e->ack_ready) {
        struct rx_ent *h = UTIL_CONTAINER_OF(it, struct rx_ent, rlink);
        if (h->src != src)
            continue;
        if (n >= MAX_ACK_ENTRIES)
            break;
        struct rx_msg *m = rx_msg_of(h);
        size_t room = UTIL_MIN((size_t)e->p.mm, MAX_ACK_RANGES - nranges);
        struct pmul_ack_entry *a = &e->ack_ents[n];
        memset(a, 0, sizeof *a);
        a->source_id = h->src;
        a->message_id = h->msgid;
        a->ranges = &e->ack_ranges[nranges];
        a->nranges = m ? rx_missing_ranges(m, &e->ack_ranges[nranges], room) : 0;
        size_t elen = pmul_ack_entry_len(a);
        while (a->nranges > 0 && len + elen > e->p.pdu_max) {
            a->nranges--;
            elen = pmul_ack_entry_len(a);
        }
        if (len + elen > e->p.pdu_max)
            break;
        if (m && a->nranges == 0)
            continue; /* cannot describe it within the PDU: next time */
        len += elen;
        nranges += a->nranges;
        e->ack_msgs[n++] = h;
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
        struct rx_ent *h = e->ack_msgs[i];
        rx_unready(h);
        if (h->acks_sent < UINT16_MAX)
            h->acks_sent++;
        util_log(UTIL_LOG_DEBUG, UTIL_MOD_PMUL, "ack-sent",
                 "to=" PMUL_ID_FMT " msgid=%u missing_ranges=%zu complete=%s", PMUL_ID_ARGS(h->src),
                 h->msgid, e->ack_ents[i].nranges, h->kind == RX_COLLECTING ? "no" : "yes");
        if (h->kind == RX_COLLECTING) {
            /* ask again after a quiet ACK_PDU_TIME, backing off, until expiry */
            util_ms wait = e->p.ack_pdu_time * UTIL_MIN(h->acks_sent, 8u);
            eng_arm(e, &h->ack, now + wait);
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
    util_list_init(&e->dups);
    util_list_init(&e->src_idle);
    e->next_handle = 1;
    if (table_init(e, &e->rx_table) < 0 || table_init(e, &e->src_table) < 0 ||
        heap_grow(e, 16) < 0) {
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
    table_free(e, &e->rx_table);
    table_free(e, &e->src_table);
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
