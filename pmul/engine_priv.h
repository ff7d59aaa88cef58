/* engine_priv.h - the ACP 142 P_MUL engine's private state, shared by its
 * files: engine.c (parameters, timers, the pump, the public entry points),
 * engine_tx.c (the transmitter, ACP 142 section 5.2 "Multicast_OUT"),
 * engine_rx.c (the receiver, 5.3 "Multicast_IN": incoming records,
 * fragments, PDUs, Ack_PDUs) and engine_src.c (the receiver's originators:
 * receive limits, sequence gaps).  Not API: pmul.h is.
 */
#ifndef MULE5066_PMUL_ENGINE_PRIV_H
#define MULE5066_PMUL_ENGINE_PRIV_H

#include "pmul/pmul.h"

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
    unsigned silent; /* rounds in a row it did not answer: 1 = prompt with its last PDU, 2+ = all it may lack */
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
    util_ms round_end; /* when the round's last PDU is expected to be off the air */
    util_ms round_sent; /* the same, before waiting for our own later traffic */
    double backoff;    /* the retransmission timeout's multiplier: back_off_factor per silent round */
    bool done;       /* every destination finished; only a tombstone remains */
    bool held;       /* the operator's hold: no PDU goes to the bearer, no round starts */
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
#define RX_ACK_TYPICAL_LEN 40 /* an Ack_PDU of one entry with a few missing ranges, bytes */
#define TX_RTO_MIN         2000 /* the retransmission timeout's floor, ms */
#define PMUL_PACE_CLASSES  16   /* pacing classes: P_MUL priorities 0..14, and 15..255 */
#define TX_RTO_GRANULARITY 100  /* RFC 6298's G, ms */
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
    bool ready : 1;    /* on e->ack_ready */
    bool finished : 1; /* the sender has our ack (Ack-Ack, or a retransmission without us) */
    bool ack_soon : 1; /* the round's last Data_PDU is in: its ack is due within the window */
    uint16_t acks_sent;
    uint16_t ndests; /* destinations its Address_PDU named: the width of the ack window */
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
#define PMUL_CONV_PEERS 32 /* peers whose conventions are remembered (and logged once) */
enum { PEER_CONV_ACKER_ID = 1, PEER_CONV_PADDING = 2 };

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
    util_ms tx_free[PMUL_PACE_CLASSES]; /* per priority class (0 most urgent): when the
                                         * channel is free for it, its own PDUs and the more
                                         * urgent ones counted, not the more routine */
    util_ms srtt, rttvar; /* ack arrival after a round's end (RFC 6298), radio ms */
    bool have_rtt;
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
    /* peers whose conventions differ from ours, each told once (pmul peer-convention) */
    struct {
        uint32_t peer;
        uint8_t what; /* PEER_CONV_* bits told */
    } conv[PMUL_CONV_PEERS];
    size_t nconv;
    struct pmul_engine_stats st;
    uint8_t *buf;
    size_t buf_len;
    struct pmul_ack_entry ack_ents[MAX_ACK_ENTRIES];
    struct pmul_range ack_ranges[MAX_ACK_RANGES];
    struct rx_ent *ack_msgs[MAX_ACK_ENTRIES];
};

/* ---- engine.c: the clock, timers and the bearer ---- */

/* eng_arm - arm one of the engine's timers */
void eng_arm(struct pmul_engine *e, struct eng_timer *t, util_ms when);

/* eng_timer_init - a disarmed timer of a kind for an owner */
void eng_timer_init(struct eng_timer *t, int kind, void *owner);

/* eng_wall_ms - the wall clock at now */
int64_t eng_wall_ms(const struct pmul_engine *e, util_ms now);

/* eng_mono_of_wall - the monotonic time of a wall-clock UNIX second */
util_ms eng_mono_of_wall(const struct pmul_engine *e, int64_t wall_s);

/* eng_airtime - ms the bearer needs for one PDU of len bytes */
util_ms eng_airtime(const struct pmul_engine *e, size_t len);

/* eng_emit - encode and hand a PDU to the bearer; 0, or negative (not sent) */
int eng_emit(struct pmul_engine *e, util_ms now, const struct pmul_pdu *pdu, const struct pmul_tx_info *info);

/* eng_pump - send acks first, then the most urgent message's next PDU, while pacing allows */
void eng_pump(struct pmul_engine *e, util_ms now);

/* ---- engine_tx.c: the transmitter ---- */

/* tx_has_work - whether the message has PDUs to send */
bool tx_has_work(const struct tx_msg *m);

/* tx_dequeue - take m out of the send queue */
void tx_dequeue(struct tx_msg *m);

/* tx_destroy - unlink and free a message */
void tx_destroy(struct pmul_engine *e, struct tx_msg *m);

/* tx_start_round - an Address_PDU for the open destinations and the Data_PDUs they need */
void tx_start_round(struct pmul_engine *e, util_ms now, struct tx_msg *m, bool everything);

/* tx_open_non_emcon - whether a destination not in EMCON is still open */
bool tx_open_non_emcon(const struct tx_msg *m);

/* tx_open_emcon - whether a destination in EMCON is still open */
bool tx_open_emcon(const struct tx_msg *m);

/* tx_round_sent - the round's last PDU left: wait for acks */
void tx_round_sent(struct pmul_engine *e, util_ms now, struct tx_msg *m);

/* tx_emit_one - send the next PDU of m */
int tx_emit_one(struct pmul_engine *e, util_ms now, struct tx_msg *m);

/* tx_on_expiry - Expiry_Time: every open destination fails, Discard goes out */
void tx_on_expiry(struct pmul_engine *e, util_ms now, struct tx_msg *m);

/* eng_charge - a PDU of priority prio taking `air` ms went to the bearer: charge the pacing clocks */
void eng_charge(struct pmul_engine *e, util_ms now, unsigned prio, util_ms air);

/* eng_free_at - when the channel is free for a PDU of priority prio */
util_ms eng_free_at(const struct pmul_engine *e, unsigned prio);

/* eng_peer_convention - a peer reads ACP 142 otherwise (PEER_CONV_*): said once per peer and kind */
void eng_peer_convention(struct pmul_engine *e, uint32_t peer, uint8_t what);

/* eng_pace_class - the pacing class of a P_MUL priority */
static inline unsigned eng_pace_class(unsigned prio)
{
    return prio < PMUL_PACE_CLASSES ? prio : PMUL_PACE_CLASSES - 1;
}

/* tx_rto - how long after a round's end to wait for its acks */
util_ms tx_rto(const struct pmul_engine *e, const struct tx_msg *m);

/* tx_on_ack_entry - one Ack_Info_Entry about our message from `from`;
 * whether it named one of ours that `from` is a destination of */
bool tx_on_ack_entry(struct pmul_engine *e, util_ms now, uint32_t from, const struct pmul_ack_entry *a);

/* ---- engine_src.c: receive state, originators, sequence gaps ---- */

/* rx_state_add - count delta bytes more (or fewer) of receive state */
void rx_state_add(struct pmul_engine *e, long long delta);

/* rx_room - whether bytes more fit under rx_max_total without making room */
bool rx_room(const struct pmul_engine *e, size_t bytes);

/* eng_hash - a bucket hash of two 32-bit keys */
uint32_t eng_hash(uint32_t a, uint32_t b);

/* eng_table_init - a table of TABLE_MIN buckets, counted; 0 or UTIL_ERR_NOMEM */
int eng_table_init(struct pmul_engine *e, struct eng_table *t);

/* eng_table_free - release the buckets (the entries are gone) */
void eng_table_free(struct pmul_engine *e, struct eng_table *t);

/* eng_table_need - the bytes one more entry may cost the table (its doubling) */
size_t eng_table_need(const struct eng_table *t);

/* eng_table_bucket - the bucket of hash h */
struct util_list *eng_table_bucket(const struct eng_table *t, uint32_t h);

/* eng_table_add - link node under hash h; the table doubles when it is fuller
 * than its buckets and there is room (else the chains grow) */
void eng_table_add(struct pmul_engine *e, struct eng_table *t, struct util_list *node,
               uint32_t h, uint32_t (*hash_of)(const struct util_list *));

/* eng_table_del - unlink node */
void eng_table_del(struct eng_table *t, struct util_list *node);

/* src_heaps_fix - s's shares changed */
void src_heaps_fix(struct pmul_engine *e, struct src_state *s);

/* eng_heap_need - the bytes making one more originator busy may cost the heaps */
size_t eng_heap_need(const struct pmul_engine *e);

/* eng_heap_grow - room in the heaps for cap originators; 0 or UTIL_ERR_NOMEM */
int eng_heap_grow(struct pmul_engine *e, size_t cap);

/* src_busy - s collects its first message: off the idle list, into the heaps */
bool src_busy(struct pmul_engine *e, struct src_state *s);

/* src_idle - s collects nothing any more: out of the heaps, most recent on the idle list */
void src_idle(struct pmul_engine *e, struct src_state *s);

/* src_find - the originator's record, or NULL */
struct src_state *src_find(const struct pmul_engine *e, uint32_t src);

/* src_forget - drop an idle originator's record and its open gaps */
void src_forget(struct pmul_engine *e, struct src_state *s);

/* src_new - a record for an originator (the caller made room for SRC_COST);
 * beyond PMUL_RX_MAX_SOURCES idle ones, the one heard least recently goes */
struct src_state *src_new(struct pmul_engine *e, uint32_t src);

/* eng_peer_allow - whether a line of `kind` that src triggered may be
 * logged at `level` now: at most PMUL_LOG_BURST per source and kind and
 * PMUL_LOG_BURST_ALL per kind per PMUL_LOG_WINDOW_MS.  sup gets
 * " suppressed=N" when lines were held back since the last one (else ""),
 * to end the line with. */
bool eng_peer_allow(struct pmul_engine *e, util_ms now, uint32_t src, int kind,
                    enum util_log_level level, char sup[24]);

/* src_arm - the originator's timer at its oldest open gap, or none */
void src_arm(struct pmul_engine *e, struct src_state *s);

/* src_gap_final - gap i is lost for good: warn (rate-limited), report once, forget it */
void src_gap_final(struct pmul_engine *e, util_ms now, struct src_state *s, size_t i);

/* rx_note_msn - our Message_Sequence_Number in a message from src: a jump
 * opens a gap, a number missing until now closes (part of) one; repeats
 * change nothing, so every Address_PDU naming us may be noted.  A new
 * originator is recorded only if it fits under rx_max_total as it is. */
void rx_note_msn(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msn);

/* ---- engine_rx.c: the receiver ---- */

/* rx_msg_of - the message of a record that is being collected, else NULL */
struct rx_msg *rx_msg_of(struct rx_ent *h);

/* rx_unready - take a record off the list of acks ready to go */
void rx_unready(struct rx_ent *h);

/* rx_ent_destroy - forget a record of either kind */
void rx_ent_destroy(struct pmul_engine *e, struct rx_ent *h);

/* rx_schedule_ack - acknowledge after a random delay (sooner if already due) */
void rx_schedule_ack(struct pmul_engine *e, util_ms now, struct rx_ent *h, util_ms base);

/* rx_may_ask - whether an Ack_PDU listing missing Data_PDUs may go to src:
 * a known node, or one heard whole (pmul_callbacks.source_known) */
bool rx_may_ask(const struct pmul_engine *e, uint32_t src);

/* rx_on_data - a Data_PDU */
void rx_on_data(struct pmul_engine *e, util_ms now, const struct pmul_pdu *p);

/* rx_on_address - an Address_PDU (or the Ack-Ack) */
void rx_on_address(struct pmul_engine *e, util_ms now, const struct pmul_pdu *p);

/* rx_on_discard - a Discard_Message_PDU: the partial copy goes, a short
 * record stays (nothing is kept for a message never seen) */
void rx_on_discard(struct pmul_engine *e, util_ms now, const struct pmul_pdu *p);

/* rx_send_acks - one Ack_PDU for the first ready originator, with every
 * ready message of that originator that fits */
int rx_send_acks(struct pmul_engine *e, util_ms now);

#endif /* MULE5066_PMUL_ENGINE_PRIV_H */
