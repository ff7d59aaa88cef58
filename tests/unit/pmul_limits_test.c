/* pmul_limits_test.c - issue 13: the P_MUL receiver under a hostile peer.
 * One engine (node 20) is fed crafted PDUs (ACP 142 section 5.3) with a
 * passed-in clock: receive state must cost what was received (at most
 * twice the wire bytes held plus a small fixed cost per message, counted
 * in pmul_engine_stats.rx_state, which these tests print), every record
 * counts against rx_max_total, a completed or refused message gives up its
 * slot at once, an orphan flood starves only its own source, and every
 * warning a peer can trigger is rate-limited per peer and kind.
 */
#include "harness.h"
#include "pmul/pmul.h"

#include <stdlib.h>

#define WALL0     1700000000000LL
#define ME        20u
#define FIXED     512 /* the goal: fixed receive state per message (and its sender), bytes */
#define MAX_LINES 4096

struct rx {
    int delivered;
    uint32_t last_src, last_msgid;
    uint8_t got[200000];
    size_t got_len;
    int refuse; /* refuse this many deliveries, then accept */
    int acks;
    uint8_t ack[4096];
    size_t ack_len;
    int lines; /* log lines captured */
    char line[MAX_LINES][200];
    struct pmul_engine *e;
};

/* rx_send - keep the last Ack_PDU */
static int rx_send(void *user, const uint8_t *pdu, size_t len, const struct pmul_tx_info *info)
{
    struct rx *r = user;
    if (info->type == PMUL_ACK && len <= sizeof r->ack) {
        r->acks++;
        memcpy(r->ack, pdu, len);
        r->ack_len = len;
    }
    return 0;
}

/* rx_deliver - keep the last message; refuse while told to */
static int rx_deliver(void *user, const struct pmul_rx_message *m)
{
    struct rx *r = user;
    if (r->refuse > 0) {
        r->refuse--;
        return -1;
    }
    r->delivered++;
    r->last_src = m->source_id;
    r->last_msgid = m->message_id;
    if (m->len <= sizeof r->got) {
        memcpy(r->got, m->data, m->len);
        r->got_len = m->len;
    }
    return 0;
}

/* rx_log - capture pmul warnings and notices */
static void rx_log(void *user, enum util_log_level level, enum util_log_module module,
                   const char *line)
{
    struct rx *r = user;
    (void)module;
    if (level > UTIL_LOG_NOTICE || strncmp(line, "pmul ", 5) != 0)
        return;
    if (r->lines < MAX_LINES)
        snprintf(r->line[r->lines], sizeof r->line[0], "%s", line);
    r->lines++;
}

static const struct pmul_callbacks rx_cbs = {.send = rx_send, .deliver = rx_deliver};

/* rx_new_cbs - a receiver, node 20, with p's limits and these callbacks */
static struct pmul_engine *rx_new_cbs(struct rx *r, struct pmul_params *p, const struct pmul_callbacks *cbs)
{
    memset(r, 0, sizeof *r);
    p->node_id = ME;
    p->rate_bps = 0;
    p->ack_delay_max = 0;
    r->e = pmul_engine_new(p, cbs, r);
    CHECK(r->e != NULL);
    pmul_engine_set_wall(r->e, 0, WALL0);
    util_log_to_sink(rx_log, r);
    return r->e;
}

/* rx_new - a receiver, node 20, with p's limits */
static struct pmul_engine *rx_new(struct rx *r, struct pmul_params *p)
{
    return rx_new_cbs(r, p, &rx_cbs);
}

/* rx_done - free the engine and the log sink */
static void rx_done(struct rx *r)
{
    util_log_to_sink(NULL, NULL);
    pmul_engine_free(r->e);
}

/* stats - the engine's counters */
static struct pmul_engine_stats stats(struct pmul_engine *e)
{
    struct pmul_engine_stats st;
    pmul_engine_get_stats(e, &st);
    return st;
}

/* data - one Data_PDU of len bytes (byte i = seq + i); its wire size */
static size_t data(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msgid, uint16_t seq,
                   size_t len)
{
    static uint8_t frag[4096], b[4096 + 64];
    for (size_t i = 0; i < len; i++)
        frag[i] = (uint8_t)(seq * 7 + i);
    struct pmul_pdu p;
    pmul_pdu_init(&p, PMUL_DATA);
    p.source_id = src;
    p.message_id = msgid;
    p.u.data.seq = seq;
    p.u.data.data = frag;
    p.u.data.len = len;
    int n = pmul_encode(&p, b, sizeof b);
    CHECK(n > 0);
    CHECK_EQ(pmul_engine_input(e, now, b, (size_t)n), 0);
    return (size_t)n;
}

/* addr - an Address_PDU of (src, msgid) with total Data_PDUs naming us (or
 * node 99 when !us); its wire size */
static size_t addr(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msgid, uint16_t total,
                   uint32_t msn, bool us)
{
    uint8_t b[256];
    struct pmul_pdu p;
    struct pmul_dest d = {us ? ME : 99u, msn, NULL};
    pmul_pdu_init(&p, PMUL_ADDRESS);
    p.source_id = src;
    p.message_id = msgid;
    p.u.address.total_pdus = total;
    p.u.address.expiry = (uint32_t)(WALL0 / 1000 + 3600);
    p.u.address.count = 1;
    p.u.address.dests = &d;
    int n = pmul_encode(&p, b, sizeof b);
    CHECK(n > 0);
    CHECK_EQ(pmul_engine_input(e, now, b, (size_t)n), 0);
    return (size_t)n;
}

/* message - a whole message of npdu Data_PDUs of len bytes, its Address_PDU first */
static void message(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msgid, uint16_t npdu,
                    size_t len)
{
    addr(e, now, src, msgid, npdu, msgid, true);
    for (uint16_t s = 1; s <= npdu; s++)
        data(e, now, src, msgid, s, len);
}

/* ack_complete - whether the last Ack_PDU acknowledges (src, msgid) whole */
static bool ack_complete(const struct rx *r, uint32_t src, uint32_t msgid)
{
    struct pmul_pdu p;
    if (!r->acks || pmul_decode(r->ack, r->ack_len, &p) < 0 || p.type != PMUL_ACK)
        return false;
    struct pmul_ack_iter it;
    struct pmul_ack_entry a;
    pmul_ack_iter_init(&it, &p);
    while (pmul_ack_iter_next(&it, &a))
        if (a.source_id == src && a.message_id == msgid)
            return pmul_missing_count(&a, 0xFFFF) == 0;
    return false;
}

/* ack_missing - how many Data_PDUs the last Ack_PDU says (src, msgid)
 * lacks, or -1 if it does not name it */
static int ack_missing(const struct rx *r, uint32_t src, uint32_t msgid)
{
    struct pmul_pdu p;
    if (!r->acks || pmul_decode(r->ack, r->ack_len, &p) < 0 || p.type != PMUL_ACK)
        return -1;
    struct pmul_ack_iter it;
    struct pmul_ack_entry a;
    pmul_ack_iter_init(&it, &p);
    while (pmul_ack_iter_next(&it, &a))
        if (a.source_id == src && a.message_id == msgid)
            return (int)pmul_missing_count(&a, 0xFFFF);
    return -1;
}

/* count_lines - captured lines containing s */
static int count_lines(const struct rx *r, const char *s)
{
    int n = 0;
    for (int i = 0; i < r->lines && i < MAX_LINES; i++)
        n += strstr(r->line[i], s) != NULL;
    return n;
}

/* last_line - the last captured line containing s, or "" */
static const char *last_line(const struct rx *r, const char *s)
{
    for (int i = UTIL_MIN(r->lines, MAX_LINES) - 1; i >= 0; i--)
        if (strstr(r->line[i], s))
            return r->line[i];
    return "";
}

TEST(a_claim_costs_nothing_until_its_data_is_there)
{
    struct pmul_params p;
    pmul_params_default(&p);
    static struct rx r;
    struct pmul_engine *e = rx_new(&r, &p);
    size_t base = stats(e).rx_state;
    /* one 17-byte orphan Data_PDU with Sequence_Number 65535 */
    size_t wire = data(e, 0, 9, 1, 65535, 1);
    struct pmul_engine_stats st = stats(e);
    printf("# one orphan, Sequence_Number 65535: wire %zu bytes, rx_state +%zu bytes\n", wire,
           st.rx_state - base);
    CHECK(st.rx_state - base <= 2 * wire + FIXED);
    CHECK_EQ(st.rx_active, 1);
    CHECK_EQ(st.rx_orphans, 1);
    /* its Address_PDU claims 65535 Data_PDUs: still only what came */
    wire += addr(e, 0, 9, 1, 65535, 1, true);
    st = stats(e);
    printf("# + Address_PDU Total 65535: wire %zu bytes, rx_state +%zu bytes\n", wire,
           st.rx_state - base);
    CHECK(st.rx_state - base <= 2 * wire + FIXED);
    CHECK_EQ(st.rx_orphans, 0);
    /* 1000 of them */
    for (uint32_t m = 2; m <= 1000; m++) {
        wire += data(e, 0, 9, m, 65535, 1);
        wire += addr(e, 0, 9, m, 65535, m, true);
    }
    st = stats(e);
    printf("# 1000 such messages: wire %zu bytes, rx_state +%zu bytes (%zu per message), "
           "peak %zu\n",
           wire, st.rx_state - base, (st.rx_state - base) / 1000, st.rx_state_peak);
    CHECK(st.rx_state - base <= 2 * wire + 1000 * FIXED);
    CHECK_EQ(st.rx_active, 1000);
    /* the acks name the missing range, 1..65534, in a few bytes */
    pmul_engine_timeout(e, p.ack_pdu_time);
    CHECK(r.acks >= 1);
    rx_done(&r);
}

TEST(state_grows_with_the_fragments_held_in_any_order)
{
    /* 4000 one-byte fragments of one message, from the top down and every
     * other one first: at every step at most twice the wire bytes held */
    struct pmul_params p;
    pmul_params_default(&p);
    static struct rx r;
    struct pmul_engine *e = rx_new(&r, &p);
    size_t base = stats(e).rx_state, wire = addr(e, 0, 9, 7, 4000, 1, true), worst = 0;
    bool ok = true;
    for (int pass = 0; pass < 2; pass++)
        for (int s = 4000 - pass; s >= 1; s -= 2) {
            wire += data(e, 0, 9, 7, (uint16_t)s, 1);
            size_t held = stats(e).rx_state - base;
            worst = UTIL_MAX(worst, held > FIXED ? (held - FIXED) * 100 / wire : 0);
            ok &= held <= 2 * wire + FIXED;
        }
    CHECK(ok);
    printf("# 4000 one-byte fragments out of order: worst (rx_state - %d) / wire = %zu%%\n", FIXED,
           worst);
    CHECK_EQ(r.delivered, 1);
    CHECK_EQ(r.got_len, 4000);
    bool same = true;
    for (int s = 1; s <= 4000; s++)
        same &= r.got[s - 1] == (uint8_t)(s * 7);
    CHECK(same);
    /* delivered: only a duplicate record is left */
    struct pmul_engine_stats st = stats(e);
    CHECK_EQ(st.rx_active, 0);
    CHECK_EQ(st.rx_dups, 1);
    CHECK(st.rx_state - base <= FIXED);
    printf("# after delivery: rx_state +%zu bytes (the duplicate record and its source)\n",
           st.rx_state - base);
    rx_done(&r);
}

TEST(a_whole_65535_pdu_message_in_reverse)
{
    /* the largest message there is, one-byte Data_PDUs from the last to the
     * first: twice the wire bytes at most, delivered whole */
    struct pmul_params p;
    pmul_params_default(&p);
    static struct rx r;
    struct pmul_engine *e = rx_new(&r, &p);
    size_t base = stats(e).rx_state, wire = addr(e, 0, 9, 8, 65535, 1, true), worst = 0;
    bool ok = true;
    for (int s = 65535; s >= 1; s--) {
        wire += data(e, 0, 9, 8, (uint16_t)s, 1);
        if (s % 1000 == 1) {
            size_t held = stats(e).rx_state - base;
            worst = UTIL_MAX(worst, held * 100 / wire);
            ok &= held <= 2 * wire + FIXED;
        }
    }
    CHECK(ok);
    printf("# 65535 one-byte Data_PDUs, last first: wire %zu bytes, worst rx_state / wire %zu%%\n",
           wire, worst);
    CHECK_EQ(r.delivered, 1);
    CHECK_EQ(r.got_len, 65535);
    bool same = true;
    for (int s = 1; s <= 65535; s++)
        same &= r.got[s - 1] == (uint8_t)(s * 7);
    CHECK(same);
    CHECK_EQ(stats(e).rx_bytes, 0);
    rx_done(&r);
}

TEST(fragments_reassemble_from_any_order_with_duplicates_and_bogus_ones)
{
    struct pmul_params p;
    pmul_params_default(&p);
    static struct rx r;
    struct pmul_engine *e = rx_new(&r, &p);
    /* 300 Data_PDUs of different sizes, shuffled, each twice; plus
     * fragments beyond the total that come before the Address_PDU */
    enum { N = 300 };
    uint16_t order[N];
    size_t lens[N + 1], want = 0;
    for (int i = 0; i < N; i++)
        order[i] = (uint16_t)(i + 1);
    uint64_t x = 12345;
    for (int i = N - 1; i > 0; i--) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int j = (int)((x >> 33) % (uint64_t)(i + 1));
        uint16_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int s = 1; s <= N; s++) {
        lens[s] = (size_t)(s * 37 % 400) + 1;
        want += lens[s];
    }
    data(e, 0, 9, 5, 301, 10);
    data(e, 0, 9, 5, 65535, 10);
    for (int i = 0; i < N / 2; i++) {
        data(e, 0, 9, 5, order[i], lens[order[i]]);
        data(e, 0, 9, 5, order[i], lens[order[i]]);
    }
    CHECK_EQ(stats(e).rx_orphans, 1);
    addr(e, 0, 9, 5, N, 1, true);
    for (int i = N / 2; i < N; i++) {
        data(e, 0, 9, 5, order[i], lens[order[i]]);
        data(e, 0, 9, 5, order[i], lens[order[i]]);
    }
    CHECK_EQ(r.delivered, 1);
    CHECK_EQ(r.got_len, want);
    size_t off = 0;
    bool same = true;
    for (int s = 1; s <= N; s++)
        for (size_t i = 0; i < lens[s]; i++)
            same &= r.got[off++] == (uint8_t)(s * 7 + i);
    CHECK(same);
    CHECK_EQ(stats(e).rx_bytes, 0);
    rx_done(&r);
}

TEST(rx_max_total_counts_every_record)
{
    struct pmul_params p;
    pmul_params_default(&p);
    p.rx_max_total = 64 * 1024;
    static struct rx r;
    struct pmul_engine *e = rx_new(&r, &p);
    bool ok = true;
    /* orphans */
    for (uint32_t m = 1; m <= 20000; m++) {
        data(e, 0, 9, m, 1, 1);
        ok &= stats(e).rx_state <= p.rx_max_total;
    }
    /* claims */
    for (uint32_t m = 30001; m <= 32000; m++) {
        data(e, 0, 9, m, 65535, 1);
        addr(e, 0, 9, m, 65535, m, true);
        ok &= stats(e).rx_state <= p.rx_max_total;
    }
    /* completed messages from another source: duplicate records */
    for (uint32_t m = 1; m <= 2000; m++) {
        message(e, 0, 3, m, 1, 20);
        ok &= stats(e).rx_state <= p.rx_max_total;
    }
    CHECK(ok);
    struct pmul_engine_stats st = stats(e);
    printf("# rx_max_total 64 KiB: rx_state %zu, peak %zu, collecting %zu, duplicate records %zu, "
           "evicted %llu\n",
           st.rx_state, st.rx_state_peak, st.rx_active, st.rx_dups,
           (unsigned long long)st.rx_evicted);
    CHECK(st.rx_state_peak <= p.rx_max_total);
    CHECK(st.rx_evicted > 0);
    CHECK_EQ(r.delivered, 2000); /* every valid message was taken */
    rx_done(&r);
}

TEST(an_orphan_flood_starves_only_its_source)
{
    struct pmul_params p;
    pmul_params_default(&p);
    static struct rx r;
    struct pmul_engine *e = rx_new(&r, &p);
    /* node 3 has one Data_PDU of a two-PDU message before its Address_PDU,
     * and node 4 an incomplete message addressed to us */
    data(e, 0, 3, 300, 1, 100);
    addr(e, 0, 4, 400, 2, 1, true);
    data(e, 0, 4, 400, 1, 100);
    /* node 9: 20,000 orphans fill the table (rx_max_messages 20000), and
     * 5000 more */
    for (uint32_t m = 1; m <= 25000; m++)
        data(e, 1000, 9, m, 1, 1);
    struct pmul_engine_stats st = stats(e);
    printf(
        "# 25000 orphans from node 9: collecting %zu (orphans %zu), rx_state %zu, evicted %llu\n",
        st.rx_active, st.rx_orphans, st.rx_state, (unsigned long long)st.rx_evicted);
    CHECK(st.rx_active <= p.rx_max_messages);
    CHECK(st.rx_evicted >= 5000);
    /* a valid message from node 5 is taken at once */
    message(e, 2000, 5, 500, 2, 50);
    CHECK_EQ(r.delivered, 1);
    CHECK_EQ(r.last_src, 5);
    pmul_engine_timeout(e, 2000);
    CHECK(ack_complete(&r, 5, 500));
    /* node 3's orphan and node 4's incomplete message survived the flood */
    addr(e, 3000, 3, 300, 2, 1, true);
    data(e, 3000, 3, 300, 2, 100);
    CHECK_EQ(r.delivered, 2);
    CHECK_EQ(r.last_src, 3);
    data(e, 3000, 4, 400, 2, 100);
    CHECK_EQ(r.delivered, 3);
    CHECK_EQ(r.last_src, 4);
    /* the flooding node's own valid message is taken too: it pushes out its own oldest orphan */
    message(e, 4000, 9, 99999, 1, 10);
    CHECK_EQ(r.delivered, 4);
    CHECK_EQ(r.last_src, 9);
    st = stats(e);
    CHECK(st.rx_active <= p.rx_max_messages);
    rx_done(&r);
}

TEST(a_completed_message_gives_up_its_slot_at_once)
{
    struct pmul_params p;
    pmul_params_default(&p);
    p.rx_max_messages = 50;
    static struct rx r;
    struct pmul_engine *e = rx_new(&r, &p);
    size_t base = stats(e).rx_state;
    for (uint32_t m = 1; m <= 60; m++) {
        message(e, m * 1000, 3, m, 2, 100);
        pmul_engine_timeout(e, m * 1000);
        CHECK(ack_complete(&r, 3, m));
    }
    CHECK_EQ(r.delivered, 60);
    struct pmul_engine_stats st = stats(e);
    CHECK_EQ(st.rx_active, 0);
    CHECK_EQ(st.rx_dups, 60);
    CHECK_EQ(st.rx_limited, 0);
    printf("# 60 delivered through 50 slots: rx_state +%zu bytes for 60 duplicate records\n",
           st.rx_state - base);
    CHECK(st.rx_state - base <= 60 * 256);
    /* a retransmission of message 1: re-acknowledged whole, not delivered again */
    int acks = r.acks;
    addr(e, 100000, 3, 1, 2, 1, true);
    data(e, 100000, 3, 1, 1, 100);
    pmul_engine_timeout(e, 100000);
    CHECK_EQ(r.acks, acks + 1);
    CHECK(ack_complete(&r, 3, 1));
    CHECK_EQ(r.delivered, 60);
    CHECK(stats(e).duplicates >= 1);
    /* the Ack-Ack: no more acks for it */
    uint8_t b[64];
    struct pmul_pdu aa;
    pmul_pdu_init(&aa, PMUL_ADDRESS);
    aa.source_id = 3;
    aa.message_id = 1;
    aa.u.address.total_pdus = 2;
    aa.u.address.expiry = (uint32_t)(WALL0 / 1000 + 3600);
    int n = pmul_encode(&aa, b, sizeof b);
    CHECK_EQ(pmul_engine_input(e, 100001, b, (size_t)n), 0);
    /* past Expiry_Time + rx_keep_done the records go */
    util_ms end = 3600000 + p.rx_keep_done + 1000;
    for (int i = 0; i < 1000; i++) {
        util_ms t = pmul_engine_next_expiry(e);
        if (t > end)
            break;
        pmul_engine_timeout(e, t);
    }
    pmul_engine_timeout(e, end);
    st = stats(e);
    CHECK_EQ(st.rx_dups, 0);
    CHECK_EQ(r.acks, acks + 1);
    rx_done(&r);
}

TEST(a_refused_message_gives_up_its_slot_and_comes_again)
{
    struct pmul_params p;
    pmul_params_default(&p);
    p.rx_max_messages = 1;
    static struct rx r;
    struct pmul_engine *e = rx_new(&r, &p);
    r.refuse = 1;
    message(e, 0, 3, 1, 2, 10);
    struct pmul_engine_stats st = stats(e);
    CHECK_EQ(st.rx_refused, 1);
    CHECK_EQ(st.rx_active, 0);
    CHECK_EQ(r.acks, 0);
    /* the one slot is free for another node's message */
    message(e, 1000, 4, 1, 1, 10);
    CHECK_EQ(r.delivered, 1);
    CHECK_EQ(r.last_src, 4);
    /* the refused one comes again and is stored and acknowledged */
    message(e, 60000, 3, 1, 2, 10);
    CHECK_EQ(r.delivered, 2);
    CHECK_EQ(r.last_src, 3);
    pmul_engine_timeout(e, 60000);
    CHECK(ack_complete(&r, 3, 1));
    rx_done(&r);
}

TEST(rx_limit_is_logged_after_a_refused_delivery)
{
    /* one refused delivery, then a flood that meets the limit: rx-limit
     * still says so (it once shared its once-only counter with rx_refused) */
    struct pmul_params p;
    pmul_params_default(&p);
    p.rx_max_messages = 10;
    static struct rx r;
    struct pmul_engine *e = rx_new(&r, &p);
    r.refuse = 1;
    message(e, 0, 3, 1, 1, 10);
    CHECK_EQ(count_lines(&r, "pmul deliver-refused src=0.0.0.3 msgid=1"), 1);
    /* node 4 has 10 incomplete messages for us: no room for node 9's orphans */
    for (uint32_t m = 1; m <= 10; m++) {
        addr(e, 0, 4, m, 2, m, true);
        data(e, 0, 4, m, 1, 10);
    }
    for (uint32_t m = 1; m <= 100; m++)
        data(e, 1000, 9, m, 1, 1);
    struct pmul_engine_stats st = stats(e);
    CHECK_EQ(st.rx_refused, 1);
    CHECK_EQ(st.rx_limited, 100);
    CHECK_EQ(count_lines(&r, "pmul rx-limit "), PMUL_LOG_BURST);
    CHECK_CONTAINS(last_line(&r, "pmul rx-limit "), "src=0.0.0.9");
    CHECK_EQ(st.log_suppressed, 100 - PMUL_LOG_BURST);
    /* a window later: one more line, saying what was held back */
    data(e, 1000 + PMUL_LOG_WINDOW_MS, 9, 101, 1, 1);
    CHECK_EQ(count_lines(&r, "pmul rx-limit "), PMUL_LOG_BURST + 1);
    CHECK_CONTAINS(last_line(&r, "pmul rx-limit "), "suppressed=97");
    rx_done(&r);
}

TEST(warnings_are_rate_limited_per_peer_and_kind)
{
    struct pmul_params p;
    pmul_params_default(&p);
    p.rx_max_messages = 100;
    static struct rx r;
    struct pmul_engine *e = rx_new(&r, &p);
    /* node 9 changes a message's total 50 times, and floods orphans */
    addr(e, 0, 9, 1, 2, 1, true);
    for (int i = 0; i < 50; i++)
        addr(e, 0, 9, 1, (uint16_t)(3 + i), 1, true);
    for (uint32_t m = 100; m < 5000; m++)
        data(e, 0, 9, m, 1, 1);
    CHECK_EQ(count_lines(&r, "pmul total-changed src=0.0.0.9"), PMUL_LOG_BURST);
    int evicted = count_lines(&r, "pmul rx-evicted ");
    CHECK(evicted >= 1 && evicted <= PMUL_LOG_BURST);
    /* another node's lines of the same kind are its own */
    addr(e, 0, 3, 1, 2, 1, true);
    addr(e, 0, 3, 1, 5, 1, true);
    CHECK_EQ(count_lines(&r, "pmul total-changed src=0.0.0.3"), 1);
    /* the next window: node 9's next line says how many were held back */
    addr(e, PMUL_LOG_WINDOW_MS, 9, 1, 99, 1, true);
    CHECK_EQ(count_lines(&r, "pmul total-changed src=0.0.0.9"), PMUL_LOG_BURST + 1);
    CHECK_CONTAINS(last_line(&r, "pmul total-changed src=0.0.0.9"), "suppressed=47");
    /* forged Source_IDs: all of them together are bounded too */
    int before = count_lines(&r, "pmul total-changed");
    for (uint32_t s = 1000; s < 6000; s++) {
        addr(e, 2 * PMUL_LOG_WINDOW_MS, s, 1, 2, 1, true);
        addr(e, 2 * PMUL_LOG_WINDOW_MS, s, 1, 3, 1, true);
    }
    int forged = count_lines(&r, "pmul total-changed") - before;
    printf("# 5000 forged sources: %d total-changed lines\n", forged);
    CHECK(forged <= PMUL_LOG_BURST_ALL);
    struct pmul_engine_stats st = stats(e);
    CHECK(st.rx_active <= p.rx_max_messages);
    CHECK(st.log_suppressed > 0);
    rx_done(&r);
}

TEST(a_message_not_for_us_gives_up_its_slot)
{
    struct pmul_params p;
    pmul_params_default(&p);
    p.rx_max_messages = 1;
    static struct rx r;
    struct pmul_engine *e = rx_new(&r, &p);
    data(e, 0, 3, 1, 1, 10);
    CHECK_EQ(stats(e).rx_active, 1);
    addr(e, 0, 3, 1, 2, 1, false); /* names node 99 only */
    struct pmul_engine_stats st = stats(e);
    CHECK_EQ(st.rx_active, 0);
    CHECK_EQ(st.rx_dups, 1);
    CHECK_EQ(st.rx_bytes, 0);
    data(e, 0, 3, 1, 2, 10); /* its other Data_PDU: nothing kept */
    CHECK_EQ(stats(e).rx_active, 0);
    message(e, 0, 4, 1, 1, 10); /* the one slot is free */
    CHECK_EQ(r.delivered, 1);
    rx_done(&r);
}

/* rx_already_delivered - (3, 1) was delivered before a restart */
static bool rx_already_delivered(void *user, uint32_t src, uint32_t msgid)
{
    (void)user;
    return src == 3 && msgid == 1;
}

TEST(a_message_delivered_before_a_restart_is_acked_from_a_record)
{
    static const struct pmul_callbacks cbs = {
        .send = rx_send, .deliver = rx_deliver, .already_delivered = rx_already_delivered};
    struct pmul_params p;
    pmul_params_default(&p);
    static struct rx r;
    struct pmul_engine *e = rx_new_cbs(&r, &p, &cbs);
    message(e, 0, 3, 1, 2, 10);
    pmul_engine_timeout(e, 0);
    struct pmul_engine_stats st = stats(e);
    CHECK_EQ(r.delivered, 0);
    CHECK(ack_complete(&r, 3, 1));
    CHECK_EQ(st.rx_active, 0);
    CHECK_EQ(st.rx_dups, 1);
    CHECK(st.duplicates >= 1);
    rx_done(&r);
}

/* rx_known_nodes - nodes 1..9 are configured; the rest made up */
static bool rx_known_nodes(void *user, uint32_t src)
{
    (void)user;
    return src >= 1 && src <= 9;
}

TEST(made_up_originators_cannot_make_us_transmit)
{
    static const struct pmul_callbacks cbs = {
        .send = rx_send, .deliver = rx_deliver, .source_known = rx_known_nodes};
    struct pmul_params p;
    pmul_params_default(&p);
    static struct rx r;
    struct pmul_engine *e = rx_new_cbs(&r, &p, &cbs);
    /* 400 made-up originators, each an Address_PDU naming us and one of two Data_PDUs */
    for (uint32_t src = 1000; src < 1400; src++) {
        addr(e, 0, src, 1, 2, 1, true);
        data(e, 0, src, 1, 1, 10);
    }
    /* half an hour of engine time (the messages expire in an hour): they never complete, so nothing
     * is asked of them */
    for (util_ms t = 0; t <= 1800000; t += 1000)
        pmul_engine_timeout(e, t);
    struct pmul_engine_stats st = stats(e);
    printf("# 400 made-up originators, 30 min: %d Ack_PDUs sent, %llu withheld\n", r.acks,
           (unsigned long long)st.acks_withheld);
    CHECK_EQ(r.acks, 0);
    CHECK(st.acks_withheld >= 400);
    /* a configured node's incomplete message is asked for */
    util_ms t = 1800000;
    addr(e, t, 3, 1, 2, 1, true);
    data(e, t, 3, 1, 1, 10);
    t += p.ack_pdu_time;
    pmul_engine_timeout(e, t);
    CHECK_EQ(r.acks, 1);
    CHECK_EQ(ack_missing(&r, 3, 1), 1);
    data(e, t, 3, 1, 2, 10);
    pmul_engine_timeout(e, t);
    CHECK_EQ(r.acks, 2);
    CHECK_EQ(ack_missing(&r, 3, 1), 0);
    /* a made-up originator whose message completes is acknowledged, and from
     * then on known: its next incomplete message is asked for */
    message(e, t, 5000, 1, 2, 10);
    pmul_engine_timeout(e, t);
    CHECK_EQ(r.acks, 3);
    CHECK_EQ(ack_missing(&r, 5000, 1), 0);
    addr(e, t, 5000, 2, 2, 2, true);
    data(e, t, 5000, 2, 2, 10);
    pmul_engine_timeout(e, t + p.ack_pdu_time);
    CHECK_EQ(r.acks, 4);
    CHECK_EQ(ack_missing(&r, 5000, 2), 1);
    rx_done(&r);
}

/* rnd - the next of a seeded sequence, below n */
static uint32_t rnd(uint64_t *x, uint32_t n)
{
    *x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)((*x >> 33) % n);
}

TEST(random_pdus_keep_every_limit)
{
    /* 200,000 random PDUs of 12 sources under small limits, with refused
     * deliveries and the clock running: the limits hold after every one
     * (and, under the sanitizers, nothing leaks or is used after free) */
    struct pmul_params p;
    pmul_params_default(&p);
    p.rx_max_messages = 64;
    p.rx_max_total = 48 * 1024;
    p.rx_max_message = 8 * 1024;
    p.rx_orphan_time = 20000;
    p.rx_keep_done = 30000;
    p.ack_pdu_time = 5000;
    static struct rx r;
    struct pmul_engine *e = rx_new(&r, &p);
    util_log_to_sink(NULL, NULL);
    enum util_log_level was = util_log_get_level();
    util_log_set_level(UTIL_LOG_ERR);
    uint64_t x = 42;
    util_ms now = 0;
    bool ok = true;
    uint8_t b[512];
    for (int i = 0; i < 200000; i++) {
        uint32_t src = 1 + rnd(&x, 12), msgid = 1 + rnd(&x, 8) + 100 * (uint32_t)(now / 600000);
        uint16_t big = rnd(&x, 20) == 0 ? 65535 : (uint16_t)(1 + rnd(&x, 6));
        uint32_t k = rnd(&x, 100);
        r.refuse = rnd(&x, 10) == 0;
        if (k < 60) {
            data(e, now, src, msgid, big, rnd(&x, 300));
        } else if (k < 90) {
            struct pmul_pdu pdu;
            struct pmul_dest d[2] = {{ME, msgid, NULL}, {99, msgid, NULL}};
            pmul_pdu_init(&pdu, PMUL_ADDRESS);
            pdu.source_id = src;
            pdu.message_id = msgid;
            pdu.map = (uint8_t)rnd(&x, 4);
            pdu.u.address.total_pdus = rnd(&x, 4) ? (uint16_t)(1 + rnd(&x, 6)) : big;
            pdu.u.address.expiry = (uint32_t)(WALL0 / 1000 + 60 + rnd(&x, 600));
            pdu.u.address.count = k < 85 ? 2 : (k < 88 ? 1 : 0); /* 0: the Ack-Ack */
            pdu.u.address.dests = k < 85 ? d : &d[1];
            int n = pmul_encode(&pdu, b, sizeof b);
            ok &= n > 0 && pmul_engine_input(e, now, b, (size_t)n) == 0;
        } else if (k < 95) {
            struct pmul_pdu pdu;
            pmul_pdu_init(&pdu, PMUL_DISCARD_MESSAGE);
            pdu.source_id = src;
            pdu.message_id = msgid;
            int n = pmul_encode(&pdu, b, sizeof b);
            ok &= n > 0 && pmul_engine_input(e, now, b, (size_t)n) == 0;
        } else {
            now += rnd(&x, 3000);
            pmul_engine_timeout(e, now);
        }
        struct pmul_engine_stats st = stats(e);
        ok &= st.rx_state <= p.rx_max_total && st.rx_active <= p.rx_max_messages &&
              st.rx_orphans <= st.rx_active;
    }
    CHECK(ok);
    struct pmul_engine_stats st = stats(e);
    printf("# 200000 random PDUs: delivered %d, refused %llu, evicted %llu, limited %llu, "
           "peak %zu bytes\n",
           r.delivered, (unsigned long long)st.rx_refused, (unsigned long long)st.rx_evicted,
           (unsigned long long)st.rx_limited, st.rx_state_peak);
    CHECK(r.delivered > 0);
    CHECK(st.rx_state_peak <= p.rx_max_total);
    /* hours later every record is gone: only the engine's own tables stay */
    for (int i = 0; i < 100000; i++) {
        util_ms t = pmul_engine_next_expiry(e);
        if (t > now + 24 * 3600000ull)
            break;
        pmul_engine_timeout(e, t);
    }
    st = stats(e);
    CHECK_EQ(st.rx_active, 0);
    CHECK_EQ(st.rx_dups, 0);
    CHECK_EQ(st.rx_bytes, 0);
    util_log_set_level(was);
    pmul_engine_free(e);
}

/* main - run the tests */
int main(void)
{
    util_log_set_level(UTIL_LOG_INFO);
    RUN(a_claim_costs_nothing_until_its_data_is_there);
    RUN(state_grows_with_the_fragments_held_in_any_order);
    RUN(a_whole_65535_pdu_message_in_reverse);
    RUN(fragments_reassemble_from_any_order_with_duplicates_and_bogus_ones);
    RUN(rx_max_total_counts_every_record);
    RUN(an_orphan_flood_starves_only_its_source);
    RUN(a_completed_message_gives_up_its_slot_at_once);
    RUN(a_refused_message_gives_up_its_slot_and_comes_again);
    RUN(rx_limit_is_logged_after_a_refused_delivery);
    RUN(warnings_are_rate_limited_per_peer_and_kind);
    RUN(a_message_not_for_us_gives_up_its_slot);
    RUN(a_message_delivered_before_a_restart_is_acked_from_a_record);
    RUN(made_up_originators_cannot_make_us_transmit);
    RUN(random_pdus_keep_every_limit);
    return harness_done();
}
