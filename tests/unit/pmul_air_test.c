/* pmul_air_test.c - issue 14: when a P_MUL receiver (pmul/engine_rx.c,
 * ACP 142 5.3) answers, and what and when a sender (engine_tx.c, 5.2)
 * retransmits, in radio time passed in.  It acks as soon as it
 * holds the last Data_PDU of a round (nothing numbered after it missing),
 * after a random delay within a window of one Ack_PDU airtime per
 * destination; ACK_PDU_TIME of silence stays the fallback when that last
 * PDU is lost; and receivers configured alike draw different delays (the
 * seed is mixed with the node id), so they do not all answer at once.
 * The sender never sends an Address_PDU alone: a destination silent after
 * a round gets the last Data_PDU it may lack, silent again all it may
 * lack; and it waits for acks as long as they have been taking (RFC 6298),
 * from when the round is off the air.
 */
#include "harness.h"
#include "pmul/pmul.h"

#define WALL0 1700000000000LL
#define SRC   9u
#define ACK_AIR 740 /* one Ack_PDU (40 + 32 bytes at 2400 bit/s) and a 500 ms turnaround, ms */

struct rx {
    struct pmul_engine *e;
    int acks;
    util_ms first_ack_at;
    uint8_t ack[512];
    size_t ack_len;
    int delivered;
};

/* rx_send - the time of the first Ack_PDU, and the last one */
static int rx_send(void *user, const uint8_t *pdu, size_t len, const struct pmul_tx_info *info)
{
    (void)info;
    struct rx *r = user;
    struct pmul_pdu p;
    if (pmul_decode(pdu, len, &p) == (int)len && p.type == PMUL_ACK && len <= sizeof r->ack) {
        r->acks++;
        memcpy(r->ack, pdu, len);
        r->ack_len = len;
    }
    return 0;
}

/* rx_deliver - count */
static int rx_deliver(void *user, const struct pmul_rx_message *m)
{
    (void)m;
    ((struct rx *)user)->delivered++;
    return 0;
}

static const struct pmul_callbacks rx_cbs = {.send = rx_send, .deliver = rx_deliver};

/* rx_new - a receiver with the default timers at 2400 bit/s */
static void rx_new(struct rx *r, uint32_t id)
{
    memset(r, 0, sizeof *r);
    struct pmul_params p;
    pmul_params_default(&p);
    p.node_id = id;
    r->e = pmul_engine_new(&p, &rx_cbs, r);
    CHECK(r->e != NULL);
    pmul_engine_set_wall(r->e, 0, WALL0);
}

/* input - encode p and give it to the engine */
static void input(struct rx *r, util_ms now, struct pmul_pdu *p)
{
    uint8_t b[2048];
    int n = pmul_encode(p, b, sizeof b);
    CHECK(n > 0);
    CHECK_EQ(pmul_engine_input(r->e, now, b, (size_t)n), 0);
}

/* address - message 1 of SRC, total Data_PDUs, to nodes 20 .. 20+ndest-1 */
static void address(struct rx *r, util_ms now, uint16_t total, size_t ndest)
{
    struct pmul_dest d[16];
    for (size_t i = 0; i < ndest; i++)
        d[i] = (struct pmul_dest){20u + (uint32_t)i, 1, NULL};
    struct pmul_pdu p;
    pmul_pdu_init(&p, PMUL_ADDRESS);
    p.source_id = SRC;
    p.message_id = 1;
    p.u.address.total_pdus = total;
    p.u.address.expiry = (uint32_t)(WALL0 / 1000 + 3600);
    p.u.address.count = ndest;
    p.u.address.dests = d;
    input(r, now, &p);
}

/* data - Data_PDU seq of message 1 of SRC, 200 bytes */
static void data(struct rx *r, util_ms now, uint16_t seq)
{
    static uint8_t body[200];
    struct pmul_pdu p;
    pmul_pdu_init(&p, PMUL_DATA);
    p.source_id = SRC;
    p.message_id = 1;
    p.u.data.seq = seq;
    p.u.data.data = body;
    p.u.data.len = sizeof body;
    input(r, now, &p);
}

/* run_until_ack - step the engine's clock from `from` in 10 ms steps until
 * it sends one more Ack_PDU or `limit`; the time of that ack, or UTIL_MS_NEVER */
static util_ms run_until_ack(struct rx *r, util_ms from, util_ms limit)
{
    int before = r->acks;
    for (util_ms t = from; t <= limit; t += 10) {
        pmul_engine_timeout(r->e, t);
        if (r->acks > before)
            return t;
    }
    return UTIL_MS_NEVER;
}

/* missing_in_ack - Data_PDUs the last Ack_PDU says are missing */
static size_t missing_in_ack(const struct rx *r)
{
    struct pmul_pdu p;
    struct pmul_ack_iter it;
    struct pmul_ack_entry a;
    if (pmul_decode(r->ack, r->ack_len, &p) < 0)
        return 0;
    pmul_ack_iter_init(&it, &p);
    return pmul_ack_iter_next(&it, &a) ? pmul_missing_count(&a, 0xFFFF) : 0;
}

TEST(the_rounds_last_pdu_brings_the_ack_within_the_window)
{
    /* 4 destinations, Data_PDU 3 of 5 lost: the ack comes within 4 Ack_PDU
     * airtimes of the last one (ACK_AIR each), not after ACK_PDU_TIME (60 s)
     * of silence */
    static struct rx r;
    rx_new(&r, 20);
    address(&r, 0, 5, 4);
    for (uint16_t s = 1; s <= 5; s++)
        if (s != 3)
            data(&r, 0, s);
    util_ms at = run_until_ack(&r, 0, 120000);
    printf("# Data_PDU 3 of 5 lost, 4 destinations: ack after %lld ms\n", (long long)at);
    CHECK(at <= 4 * ACK_AIR);
    CHECK_EQ(missing_in_ack(&r), 1);
    /* the retransmitted PDU completes it, and the complete ack follows as soon */
    data(&r, 2000, 3);
    CHECK_EQ(r.delivered, 1);
    int before = r.acks;
    for (util_ms t = 2000; t <= 2000 + 4 * ACK_AIR; t += 10)
        pmul_engine_timeout(r.e, t);
    CHECK_EQ(r.acks, before + 1);
    CHECK_EQ(missing_in_ack(&r), 0);
    pmul_engine_free(r.e);
}

TEST(a_lost_last_pdu_leaves_ack_pdu_time)
{
    /* the round's last Data_PDU is lost: nothing says the round is over,
     * so the ack waits for ACK_PDU_TIME of silence */
    static struct rx r;
    rx_new(&r, 20);
    address(&r, 0, 5, 4);
    for (uint16_t s = 1; s <= 4; s++)
        data(&r, 0, s);
    util_ms at = run_until_ack(&r, 0, 120000);
    printf("# Data_PDU 5 of 5 lost: ack after %lld ms\n", (long long)at);
    CHECK_EQ(at, 60000);
    CHECK_EQ(missing_in_ack(&r), 1);
    pmul_engine_free(r.e);
}

TEST(a_retransmission_round_ends_at_its_own_last_pdu)
{
    /* 2 and 4 lost of 6; the sender's next round carries 2, 4 and 5 (5 for
     * another receiver): on 2 nothing is said yet (4 is still missing); on
     * 4, everything after it is held: the ack goes */
    static struct rx r;
    rx_new(&r, 20);
    address(&r, 0, 6, 2);
    for (uint16_t s = 1; s <= 6; s++)
        if (s != 2 && s != 4)
            data(&r, 0, s);
    util_ms at = run_until_ack(&r, 0, 5000);
    CHECK(at <= 2 * ACK_AIR);
    CHECK_EQ(missing_in_ack(&r), 2);
    int acks = r.acks;
    address(&r, 10000, 6, 2);
    data(&r, 10000, 2);
    for (util_ms t = 10000; t <= 12000; t += 10)
        pmul_engine_timeout(r.e, t);
    CHECK_EQ(r.acks, acks); /* 4 is still to come in this round */
    data(&r, 12000, 4);
    CHECK_EQ(r.delivered, 1);
    CHECK(run_until_ack(&r, 12000, 12000 + 2 * ACK_AIR) != UTIL_MS_NEVER);
    CHECK_EQ(r.acks, acks + 1);
    CHECK_EQ(missing_in_ack(&r), 0);
    pmul_engine_free(r.e);
}

TEST(receivers_alike_answer_at_different_times)
{
    /* 8 receivers with the same parameters get the same whole message at
     * once: their acks spread over the window of 8 airtimes */
    util_ms at[8];
    int distinct = 0;
    for (uint32_t i = 0; i < 8; i++) {
        static struct rx r;
        rx_new(&r, 20 + i);
        address(&r, 0, 2, 8);
        data(&r, 0, 1);
        data(&r, 0, 2);
        CHECK_EQ(r.delivered, 1);
        at[i] = run_until_ack(&r, 0, 10000);
        CHECK(at[i] <= 8 * ACK_AIR);
        bool seen = false;
        for (uint32_t j = 0; j < i; j++)
            seen |= at[j] == at[i];
        distinct += !seen;
        pmul_engine_free(r.e);
    }
    printf("# 8 receivers' acks at %lld %lld %lld %lld %lld %lld %lld %lld ms\n", (long long)at[0],
           (long long)at[1], (long long)at[2], (long long)at[3], (long long)at[4], (long long)at[5],
           (long long)at[6], (long long)at[7]);
    CHECK(distinct >= 6);
}

/* ---- the sender ---- */

struct tx {
    struct pmul_engine *e;
    int rounds;           /* Address_PDUs sent */
    uint16_t seqs[256];   /* Data_PDUs sent, in order */
    int ndata;
    int round_start[64];  /* index in seqs where each round began */
};

/* tx_send - note rounds and Data_PDUs */
static int tx_send(void *user, const uint8_t *pdu, size_t len, const struct pmul_tx_info *info)
{
    struct tx *t = user;
    struct pmul_pdu p;
    (void)info;
    if (pmul_decode(pdu, len, &p) != (int)len)
        return 0;
    if (p.type == PMUL_ADDRESS && p.u.address.count > 0 && t->rounds < 64)
        t->round_start[t->rounds++] = t->ndata;
    else if (p.type == PMUL_DATA && t->ndata < 256)
        t->seqs[t->ndata++] = p.u.data.seq;
    return 0;
}

/* tx_msgid - Message_ID 5 */
static int tx_msgid(void *user, uint32_t *id)
{
    (void)user;
    *id = 5;
    return 0;
}

/* tx_msn - 1 */
static int tx_msn(void *user, uint32_t dest, uint32_t *msn)
{
    (void)user;
    (void)dest;
    *msn = 1;
    return 0;
}

static const struct pmul_callbacks tx_cbs = {.send = tx_send, .alloc_message_id = tx_msgid, .alloc_msn = tx_msn};

/* tx_start - node 1 sends 5 Data_PDUs of 200 bytes to node 20 at 2400 bit/s */
static void tx_start(struct tx *t)
{
    memset(t, 0, sizeof *t);
    struct pmul_params p;
    pmul_params_default(&p);
    p.node_id = 1;
    p.pdu_max = 200 + 16;
    t->e = pmul_engine_new(&p, &tx_cbs, t);
    CHECK(t->e != NULL);
    pmul_engine_set_wall(t->e, 0, WALL0);
    static uint8_t body[1000];
    struct pmul_dest_spec d = {20, false, 0};
    struct pmul_message m = {body, sizeof body, &d, 1, 6, WALL0 / 1000 + 7200, 0};
    CHECK_EQ(pmul_engine_send(t->e, 0, &m, NULL), 0);
}

/* tx_run - step the sender's clock to `until` in 100 ms steps */
static void tx_run(struct tx *t, util_ms from, util_ms until)
{
    for (util_ms now = from; now <= until; now += 100)
        pmul_engine_timeout(t->e, now);
}

/* ack_from_20 - node 20's Ack_PDU for message 5 of node 1, missing lo..hi (none if 0) */
static void ack_from_20(struct tx *t, util_ms now, uint16_t lo, uint16_t hi)
{
    struct pmul_range r = {lo, hi};
    struct pmul_ack_entry a = {.source_id = 1, .message_id = 5, .ranges = &r, .nranges = lo ? 1 : 0};
    struct pmul_pdu p;
    pmul_pdu_init(&p, PMUL_ACK);
    p.source_id = 20;
    p.u.ack.count = 1;
    p.u.ack.entries = &a;
    uint8_t b[256];
    int n = pmul_encode(&p, b, sizeof b);
    CHECK(n > 0);
    CHECK_EQ(pmul_engine_input(t->e, now, b, (size_t)n), 0);
}

TEST(a_silent_destination_gets_its_last_pdu_then_all_it_may_lack)
{
    /* node 20 never answers: the second round carries Data_PDU 5 alone (it
     * makes a receiver that has the rest answer), the third all five; no
     * round is an Address_PDU alone */
    static struct tx t;
    tx_start(&t);
    tx_run(&t, 0, 3600000);
    CHECK(t.rounds >= 4);
    CHECK_EQ(t.round_start[1], 5);
    CHECK_EQ(t.round_start[2] - t.round_start[1], 1);
    CHECK_EQ(t.seqs[t.round_start[1]], 5);
    CHECK_EQ(t.round_start[3] - t.round_start[2], 5);
    for (int r = 1; r + 1 < t.rounds; r++)
        CHECK(t.round_start[r + 1] > t.round_start[r]);
    struct pmul_engine_stats st;
    pmul_engine_get_stats(t.e, &st);
    CHECK(st.rounds_prompt >= 3);
    pmul_engine_free(t.e);
}

TEST(a_destination_that_answered_gets_what_it_lacks_only)
{
    static struct tx t;
    tx_start(&t);
    tx_run(&t, 0, 8000); /* the round is off the air */
    ack_from_20(&t, 9000, 2, 3);
    tx_run(&t, 9000, 20000);
    /* the next round at once (every destination answered), with 2 and 3 */
    CHECK(t.rounds >= 2);
    CHECK_EQ(t.round_start[1], 5);
    CHECK(t.ndata >= 7);
    CHECK_EQ(t.seqs[5], 2);
    CHECK_EQ(t.seqs[6], 3);
    if (t.rounds >= 3) /* and then silence: a prompt with the last it lacks */
        CHECK(t.round_start[2] == 7 && t.ndata == 8 && t.seqs[7] == 3);
    pmul_engine_free(t.e);
}

TEST(the_retransmission_timeout_learns_the_ack_delay)
{
    /* node 20 answers each round 1.5 s after it is off the air, missing
     * Data_PDU 1 each time; then it falls silent: the prompt comes SRTT +
     * 4 RTTVAR after the round (RFC 6298), seconds, not
     * ACK_RE-TRANSMISSION_TIME (60 s) */
    static struct tx t;
    tx_start(&t);
    util_ms now = 0;
    for (int round = 0; round < 4; round++) {
        int sent = t.ndata;
        tx_run(&t, now, now + 30000); /* well off the air */
        CHECK(t.ndata > sent);
        now += 30000;
        ack_from_20(&t, now, 1, 1);
        tx_run(&t, now, now + 100);
        now += 100;
    }
    struct pmul_engine_stats st;
    pmul_engine_get_stats(t.e, &st);
    printf("# srtt %llu ms, rttvar %llu ms\n", (unsigned long long)st.srtt_ms,
           (unsigned long long)st.rttvar_ms);
    CHECK(st.srtt_ms > 0);
    int rounds = t.rounds;
    util_ms from = now;
    while (t.rounds == rounds && now < from + 120000) {
        pmul_engine_timeout(t.e, now);
        now += 100;
    }
    printf("# silent after its answers: prompted %llu ms after the last round began\n",
           (unsigned long long)(now - from));
    CHECK_EQ(t.rounds, rounds + 1);
    CHECK(now - from < 30000);
    CHECK_EQ(t.seqs[t.ndata - 1], 1); /* the last (only) PDU it lacks */
    pmul_engine_free(t.e);
}

/* ---- pacing per priority ---- */

struct paced {
    util_ms now;          /* the test's clock, for the record */
    util_ms at[512];      /* when each PDU went to the bearer */
    uint8_t prio[512];
    uint32_t msgid[512];
    uint16_t seq[512];    /* Data_PDUs: Sequence_Number; else 0 */
    int n;
};

/* paced_send - note when and at which priority */
static int paced_send(void *user, const uint8_t *pdu, size_t len, const struct pmul_tx_info *info)
{
    struct paced *c = user;
    struct pmul_pdu p;
    if (c->n < 512 && pmul_decode(pdu, len, &p) == (int)len) {
        c->at[c->n] = c->now;
        c->msgid[c->n] = p.message_id;
        c->seq[c->n] = p.type == PMUL_DATA ? p.u.data.seq : 0;
        c->prio[c->n++] = info->priority;
    }
    return 0;
}

/* paced_msgid - Message_IDs 1, 2, ... */
static int paced_msgid(void *user, uint32_t *id)
{
    static uint32_t next;
    (void)user;
    *id = ++next;
    return 0;
}

static const struct pmul_callbacks paced_cbs = {.send = paced_send, .alloc_message_id = paced_msgid, .alloc_msn = tx_msn};

/* paced_new - a sender, node 1, PDUs of 1024 bytes, the default pacing (2400 bit/s) */
static struct pmul_engine *paced_new(struct paced *c)
{
    memset(c, 0, sizeof *c);
    struct pmul_params p;
    pmul_params_default(&p);
    p.node_id = 1;
    p.pdu_max = 1024;
    struct pmul_engine *e = pmul_engine_new(&p, &paced_cbs, c);
    CHECK(e != NULL);
    pmul_engine_set_wall(e, 0, WALL0);
    return e;
}

TEST(an_urgent_pdu_does_not_wait_behind_routine_slots)
{
    /* 20 kB of routine traffic (priority 15) is being paced out at 2400
     * bit/s, burst 2 s; at t = 20 s a 300-byte message at priority 0 comes:
     * its PDUs go to the bearer at once (the 5066 server sends them ahead
     * of the routine U_PDUs it holds), and the routine ones wait longer */
    static struct paced c;
    struct pmul_engine *e = paced_new(&c);
    static uint8_t routine[20000], urgent[300];
    struct pmul_dest_spec d1 = {20, false, 0}, d2 = {20, false, 0};
    struct pmul_message r = {routine, sizeof routine, &d1, 1, 15, WALL0 / 1000 + 7200, 0};
    struct pmul_message u = {urgent, sizeof urgent, &d2, 1, 0, WALL0 / 1000 + 7200, 0};
    CHECK_EQ(pmul_engine_send(e, 0, &r, NULL), 0);
    for (c.now = 0; c.now < 20000; c.now += 10)
        pmul_engine_timeout(e, c.now);
    int before = c.n;
    CHECK(before > 2 && before < 22); /* the routine message is going out, paced */
    CHECK_EQ(pmul_engine_send(e, c.now, &u, NULL), 0);
    pmul_engine_timeout(e, c.now);
    /* the urgent Address_PDU and its Data_PDU went at once */
    CHECK(c.n >= before + 2);
    CHECK_EQ(c.prio[before], 0);
    CHECK_EQ(c.prio[before + 1], 0);
    CHECK_EQ(c.at[before + 1], 20000);
    /* the next routine PDU waited for the urgent ones' airtime too */
    util_ms gap_before = c.at[before - 1] - c.at[before - 2];
    for (c.now = 20000; c.now < 60000 && c.n < before + 3; c.now += 10)
        pmul_engine_timeout(e, c.now);
    CHECK_EQ(c.prio[before + 2], 15);
    printf("# routine PDUs every %llu ms; the urgent message went at once, the next routine one %llu ms later\n",
           (unsigned long long)gap_before, (unsigned long long)(c.at[before + 2] - 20000));
    CHECK(c.at[before + 2] - c.at[before - 1] > gap_before);
    pmul_engine_free(e);
}

TEST(hold_stops_every_pdu_not_yet_with_the_bearer)
{
    /* a 62 kB message at 2400 bit/s is going out; held at t = 30 s, no
     * PDU of it goes to the bearer for an hour (before, 7 more did);
     * released, the rest of its round follows, nothing twice */
    static struct paced c;
    struct pmul_engine *e = paced_new(&c);
    static uint8_t body[62000];
    struct pmul_dest_spec d = {20, false, 0};
    struct pmul_message m = {body, sizeof body, &d, 1, 6, WALL0 / 1000 + 7200, 0};
    uint64_t h;
    CHECK_EQ(pmul_engine_send(e, 0, &m, &h), 0);
    for (c.now = 0; c.now < 30000; c.now += 10)
        pmul_engine_timeout(e, c.now);
    int before = c.n;
    CHECK(before > 2 && before < 40);
    CHECK_EQ(pmul_engine_hold(e, c.now, h, true), 0);
    for (; c.now < 30000 + 3600000; c.now += 1000)
        pmul_engine_timeout(e, c.now);
    printf("# held after %d PDUs: %d more in the hour after\n", before, c.n - before);
    CHECK_EQ(c.n, before);
    CHECK_EQ(pmul_engine_hold(e, c.now, h, false), 0);
    util_ms released = c.now;
    for (; c.now < released + 600000 && c.n < 1 + 62; c.now += 100)
        pmul_engine_timeout(e, c.now);
    /* the round's Address_PDU and 62 Data_PDUs (1008 bytes of data each) */
    CHECK_EQ(c.n, 1 + 62);
    CHECK_EQ(c.at[before], released);
    CHECK_EQ(pmul_engine_hold(e, c.now, h + 100, true), PMUL_ERR_ARG);
    pmul_engine_free(e);
}

TEST(no_prompt_while_our_own_traffic_is_still_going_out)
{
    /* a one-PDU message, then 40 kB more to the same silent node, queued
     * at once at 2400 bit/s: the first one's acks cannot come while we
     * transmit (half duplex), so no prompt for it before our queue is off
     * the air */
    static struct paced c;
    struct pmul_engine *e = paced_new(&c);
    static uint8_t small[500], big[40000];
    struct pmul_dest_spec d1 = {20, false, 0}, d2 = {20, false, 0};
    struct pmul_message a = {small, sizeof small, &d1, 1, 6, WALL0 / 1000 + 7200, 0};
    struct pmul_message b = {big, sizeof big, &d2, 1, 6, WALL0 / 1000 + 7200, 0};
    CHECK_EQ(pmul_engine_send(e, 0, &a, NULL), 0);
    CHECK_EQ(pmul_engine_send(e, 0, &b, NULL), 0);
    for (c.now = 0; c.now < 600000; c.now += 100)
        pmul_engine_timeout(e, c.now);
    int last_big = -1, first_resend = -1;
    for (int i = 0; i < c.n; i++) {
        if (c.msgid[i] == a.message_id && c.seq[i] == 1 && i > 1 && first_resend < 0)
            first_resend = i;
        if (c.msgid[i] == b.message_id && c.seq[i] == 40 && last_big < 0)
            last_big = i;
    }
    printf("# the small message's prompt went as PDU %d, after the big one's last first copy (PDU %d)\n",
           first_resend, last_big);
    CHECK(last_big > 0 && first_resend > last_big);
    pmul_engine_free(e);
}

int main(void)
{
    RUN(the_rounds_last_pdu_brings_the_ack_within_the_window);
    RUN(a_lost_last_pdu_leaves_ack_pdu_time);
    RUN(a_retransmission_round_ends_at_its_own_last_pdu);
    RUN(receivers_alike_answer_at_different_times);
    RUN(a_silent_destination_gets_its_last_pdu_then_all_it_may_lack);
    RUN(a_destination_that_answered_gets_what_it_lacks_only);
    RUN(the_retransmission_timeout_learns_the_ack_delay);
    RUN(an_urgent_pdu_does_not_wait_behind_routine_slots);
    RUN(hold_stops_every_pdu_not_yet_with_the_bearer);
    RUN(no_prompt_while_our_own_traffic_is_still_going_out);
    return harness_done();
}
