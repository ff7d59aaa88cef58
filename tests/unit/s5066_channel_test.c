/* s5066_channel_test.c - the s5066sim channel model (s5066/channel.c) in
 * virtual time: air time, half-duplex serialisation, priority order, ARQ
 * (retransmission, exactly-once delivery, REJECTED when retries run out),
 * non-ARQ group and broadcast delivery (once despite repeats), EMCON, TTL
 * expiry, flow control, bit-error mode (tx mode 3 with error blocks) and
 * reproducibility from the seed.  STANAG 5066 Annex A/C semantics as
 * described in s5066.h ("channel model").
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "s5066/s5066.h"

#define MAX_REC 4096

struct rx_rec {
    int node;
    uint64_t id;
    struct s5066_addr src, dest;
    uint8_t src_sap, dest_sap, tx_mode, priority;
    size_t n_err;
    struct s5066_block err[8];
    uint8_t data[512];
    size_t len;
};

struct res_rec {
    int node;
    uint64_t id, tag;
    bool ok;
    int reason;
    util_ms t;
};

struct flow_rec {
    int node;
    bool on;
};

struct rec {
    struct s5066_channel *ch; /* for the time of events */
    util_ms now;
    struct rx_rec rx[MAX_REC];
    size_t n_rx;
    struct res_rec res[MAX_REC];
    size_t n_res;
    struct flow_rec flow[64];
    size_t n_flow;
    struct s5066_channel_tx tx[MAX_REC];
    size_t n_tx;
    int deliver_rc;     /* what deliver answers */
    bool refuse_errors; /* refuse corrupted copies */
    int reply_from;     /* node that answers each U_PDU it receives (-1: none) */
};

static struct rec R;

/* rec_deliver - record a delivery (and maybe answer it) */
static int rec_deliver(void *node_user, int node, const struct s5066_channel_rx *rx)
{
    struct rec *r = node_user;
    if (rx->n_err && r->refuse_errors)
        return -1;
    if (r->n_rx < MAX_REC) {
        struct rx_rec *x = &r->rx[r->n_rx++];
        x->node = node;
        x->id = rx->id;
        x->src = rx->src;
        x->dest = rx->dest;
        x->src_sap = rx->src_sap;
        x->dest_sap = rx->dest_sap;
        x->tx_mode = rx->tx_mode;
        x->priority = rx->priority;
        x->n_err = rx->n_err;
        for (size_t i = 0; i < rx->n_err && i < 8; i++)
            x->err[i] = rx->err[i];
        x->len = UTIL_MIN(rx->len, sizeof x->data);
        memcpy(x->data, rx->updu, x->len);
    }
    if (node == r->reply_from) {
        struct s5066_channel_updu u = {.src_sap = 2,
                                       .dest_sap = 2,
                                       .dest = rx->src,
                                       .tx_mode = S5066_TX_ARQ,
                                       .updu = (const uint8_t *)"ack",
                                       .len = 3,
                                       .tag = 1000 + rx->id};
        CHECK_EQ(s5066_channel_submit(r->ch, r->now, node, &u, NULL), 0);
    }
    return r->deliver_rc;
}

/* rec_result - record a result */
static void rec_result(void *node_user, int node, const struct s5066_channel_result *res)
{
    struct rec *r = node_user;
    if (r->n_res < MAX_REC) {
        struct res_rec *x = &r->res[r->n_res++];
        x->node = node;
        x->id = res->id;
        x->tag = res->u->tag;
        x->ok = res->ok;
        x->reason = res->reason;
        x->t = r->now;
    }
}

/* rec_flow - record flow control */
static void rec_flow(void *node_user, int node, bool on)
{
    struct rec *r = node_user;
    if (r->n_flow < 64)
        r->flow[r->n_flow++] = (struct flow_rec){node, on};
}

/* rec_transmit - record a burst */
static void rec_transmit(void *user, const struct s5066_channel_tx *tx)
{
    struct rec *r = user;
    if (r->n_tx < MAX_REC)
        r->tx[r->n_tx++] = *tx;
}

/* new_channel - a channel recording into R with the given params */
static struct s5066_channel *new_channel(const struct s5066_channel_params *p)
{
    memset(&R, 0, sizeof R);
    R.reply_from = -1;
    struct s5066_channel_callbacks cb = {rec_deliver, rec_result, rec_flow, rec_transmit};
    R.ch = s5066_channel_new(p, &cb, &R);
    return R.ch;
}

/* add - add node `name` at address 0.0.0.a with up to two groups (0 = none) */
static int add(struct s5066_channel *ch, const char *name, uint32_t a, uint32_t g1, uint32_t g2,
               bool emcon)
{
    struct s5066_addr groups[2];
    size_t n = 0;
    if (g1)
        groups[n++] = s5066_addr_make(g1, true);
    if (g2)
        groups[n++] = s5066_addr_make(g2, true);
    struct s5066_channel_node cfg = {.name = name,
                                     .addr = s5066_addr_make(a, false),
                                     .groups = groups,
                                     .n_groups = n,
                                     .emcon = emcon};
    return s5066_channel_add_node(ch, &cfg, &R);
}

/* submit - queue a U_PDU from node to dest; its id */
static uint64_t submit(struct s5066_channel *ch, util_ms now, int node, struct s5066_addr dest,
                       int mode, int prio, bool expedited, unsigned min_retx, util_ms ttl,
                       const char *data, uint64_t tag)
{
    struct s5066_channel_updu u = {.src_sap = 2,
                                   .dest_sap = 2,
                                   .dest = dest,
                                   .priority = (uint8_t)prio,
                                   .expedited = expedited,
                                   .tx_mode = (uint8_t)mode,
                                   .confirm = true,
                                   .min_retx = (uint8_t)min_retx,
                                   .ttl = ttl,
                                   .updu = (const uint8_t *)data,
                                   .len = strlen(data),
                                   .tag = tag};
    uint64_t id = 0;
    R.now = now;
    int rc = s5066_channel_submit(ch, now, node, &u, &id);
    CHECK_EQ(rc, 0);
    return id;
}

/* run_idle - advance virtual time event by event until nothing is due; the final time */
static util_ms run_idle(struct s5066_channel *ch, util_ms now, util_ms limit)
{
    for (int i = 0; i < 1000000; i++) {
        util_ms t = s5066_channel_next_expiry(ch);
        if (t == UTIL_MS_NEVER || t > limit)
            break;
        if (t > now)
            now = t;
        R.now = now;
        s5066_channel_run(ch, now);
    }
    return now;
}

/* count_rx - deliveries of id to node */
static int count_rx(int node, uint64_t id)
{
    int n = 0;
    for (size_t i = 0; i < R.n_rx; i++)
        if (R.rx[i].node == node && R.rx[i].id == id)
            n++;
    return n;
}

/* find_res - the result of id, or NULL */
static const struct res_rec *find_res(uint64_t id)
{
    for (size_t i = 0; i < R.n_res; i++)
        if (R.res[i].id == id)
            return &R.res[i];
    return NULL;
}

/* params - defaults with a rate and loss */
static struct s5066_channel_params params(uint32_t rate, double loss, uint64_t seed)
{
    struct s5066_channel_params p;
    s5066_channel_params_default(&p);
    p.rate = rate;
    p.loss = loss;
    p.seed = seed;
    return p;
}

#define NODE(a)  s5066_addr_make((a), false)
#define GROUP(a) s5066_addr_make((a), true)

TEST(airtime_matches_formula)
{
    struct s5066_channel_params p = params(2400, 0.0, 1);
    struct s5066_channel *ch = new_channel(&p);
    /* (100 + 16) bytes * 8 / 2400 bps = 386.67 ms -> 387, + 500 turnaround */
    CHECK_EQ(s5066_channel_airtime(ch, 100, 1, false), 887);
    /* two copies: 232 bytes = 773.33 -> 774 */
    CHECK_EQ(s5066_channel_airtime(ch, 100, 2, false), 1274);
    /* ARQ adds the ACK: 16 bytes = 53.33 -> 54, + 500 */
    CHECK_EQ(s5066_channel_airtime(ch, 100, 1, true), 887 + 554);
    int a = add(ch, "a", 1, 0, 0, false), b = add(ch, "b", 2, 0, 0, false);
    CHECK_EQ(a, 0);
    CHECK_EQ(b, 1);
    char data[101];
    memset(data, 'x', 100);
    data[100] = 0;
    uint64_t id = submit(ch, 1000, a, NODE(2), S5066_TX_NON_ARQ, 0, false, 0, 0, data, 1);
    CHECK_EQ(R.n_tx, 1);
    CHECK_EQ(R.tx[0].start, 1000);
    CHECK_EQ(R.tx[0].end, 1887);
    CHECK_EQ(R.tx[0].bytes_on_air, 116);
    CHECK_EQ(s5066_channel_next_expiry(ch), 1887);
    s5066_channel_run(ch, 1886);
    CHECK_EQ(R.n_rx, 0);
    run_idle(ch, 1886, UTIL_MS_NEVER - 1);
    CHECK_EQ(count_rx(b, id), 1);
    const struct res_rec *r = find_res(id);
    CHECK(r && r->ok && r->t == 1887);
    /* an ARQ unicast: data burst by a, ACK by b, done at 1887 + 1441 */
    id = submit(ch, 1887, a, NODE(2), S5066_TX_ARQ, 0, false, 0, 0, data, 2);
    run_idle(ch, 1887, UTIL_MS_NEVER - 1);
    r = find_res(id);
    CHECK(r && r->ok && r->t == 1887 + 1441);
    CHECK_EQ(R.n_tx, 3);
    CHECK_EQ(R.tx[2].node, b);
    CHECK_EQ(R.tx[2].copies, 0);
    CHECK_EQ(R.tx[2].start, 1887 + 887);
    CHECK_EQ(R.tx[2].end, 1887 + 1441);
    struct s5066_channel_stats st;
    s5066_channel_stats(ch, 1887 + 1441, &st);
    CHECK_EQ(st.elapsed, 1887 + 1441 - 1000);
    CHECK_EQ(st.busy, 887 + 1441);
    s5066_channel_free(ch);
}

TEST(half_duplex_never_overlaps)
{
    struct s5066_channel_params p = params(2400, 0.2, 3);
    p.arq_retries = 20;
    struct s5066_channel *ch = new_channel(&p);
    int n[3];
    n[0] = add(ch, "a", 1, 16, 0, false);
    n[1] = add(ch, "b", 2, 16, 0, false);
    n[2] = add(ch, "c", 3, 16, 0, false);
    uint64_t ids[30];
    int k = 0;
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 3; j++) {
            util_ms t = (util_ms)i * 300 + (util_ms)j * 7;
            run_idle(ch, t, t);
            ids[k] = submit(ch, t, n[j], i % 2 ? NODE((uint32_t)((j + 1) % 3 + 1)) : GROUP(16),
                            i % 2 ? S5066_TX_ARQ : S5066_TX_NON_ARQ, i % 16, false, 1, 0,
                            "half duplex", (uint64_t)k);
            k++;
        }
    run_idle(ch, 3000, UTIL_MS_NEVER - 1);
    CHECK(R.n_tx >= 30);
    for (size_t i = 1; i < R.n_tx; i++) {
        if (R.tx[i].start < R.tx[i - 1].end) {
            printf("# burst %zu (node %d, %llu..%llu) overlaps burst %zu (node %d, ..%llu)\n", i,
                   R.tx[i].node, (unsigned long long)R.tx[i].start, (unsigned long long)R.tx[i].end,
                   i - 1, R.tx[i - 1].node, (unsigned long long)R.tx[i - 1].end);
            CHECK(0);
        }
        CHECK(R.tx[i].end > R.tx[i].start);
    }
    for (int i = 0; i < 30; i++)
        CHECK(find_res(ids[i]) != NULL);
    struct s5066_channel_stats st;
    util_ms end = R.tx[R.n_tx - 1].end;
    s5066_channel_stats(ch, end, &st);
    CHECK(st.busy <= st.elapsed);
    CHECK(st.utilisation > 0.5); /* the queue kept the channel busy */
    s5066_channel_free(ch);
}

TEST(priority_order)
{
    struct s5066_channel_params p = params(2400, 0.0, 1);
    struct s5066_channel *ch = new_channel(&p);
    int a = add(ch, "a", 1, 0, 0, false), b = add(ch, "b", 2, 0, 0, false);
    /* the first goes on the air at once; the rest wait and go by rank */
    uint64_t first = submit(ch, 0, a, NODE(2), S5066_TX_NON_ARQ, 0, false, 0, 0, "first", 0);
    uint64_t p0 = submit(ch, 1, a, NODE(2), S5066_TX_NON_ARQ, 0, false, 0, 0, "p0", 0);
    uint64_t p5 = submit(ch, 2, a, NODE(2), S5066_TX_NON_ARQ, 5, false, 0, 0, "p5", 0);
    uint64_t p15 = submit(ch, 3, a, NODE(2), S5066_TX_NON_ARQ, 15, false, 0, 0, "p15", 0);
    uint64_t exp = submit(ch, 4, a, NODE(2), S5066_TX_NON_ARQ, 0, true, 0, 0, "exp", 0);
    uint64_t p5b = submit(ch, 5, a, NODE(2), S5066_TX_NON_ARQ, 5, false, 0, 0, "p5b", 0);
    /* another node's higher priority goes before this node's lower */
    uint64_t b10 = submit(ch, 6, b, NODE(1), S5066_TX_NON_ARQ, 10, false, 0, 0, "b10", 0);
    run_idle(ch, 6, UTIL_MS_NEVER - 1);
    uint64_t want[] = {first, exp, p15, b10, p5, p5b, p0};
    CHECK_EQ(R.n_tx, 7);
    for (size_t i = 0; i < 7 && i < R.n_tx; i++)
        CHECK_EQ(R.tx[i].id, want[i]);
    s5066_channel_free(ch);
}

TEST(arq_with_loss_exactly_once_confirmed)
{
    struct s5066_channel_params p = params(9600, 0.3, 11);
    p.arq_retries = 20;
    p.max_queue = 0;
    struct s5066_channel *ch = new_channel(&p);
    int a = add(ch, "a", 1, 0, 0, false), b = add(ch, "b", 2, 0, 0, false);
    uint64_t ids[50];
    for (int i = 0; i < 50; i++)
        ids[i] = submit(ch, 0, a, NODE(2), S5066_TX_ARQ, 0, false, 0, 0, "reliable", (uint64_t)i);
    run_idle(ch, 0, UTIL_MS_NEVER - 1);
    for (int i = 0; i < 50; i++) {
        CHECK_EQ(count_rx(b, ids[i]), 1);
        const struct res_rec *r = find_res(ids[i]);
        CHECK(r && r->ok && r->tag == (uint64_t)i);
    }
    CHECK_EQ(R.n_res, 50);
    struct s5066_channel_node_stats st;
    s5066_channel_node_stats(ch, a, &st);
    CHECK(st.retransmissions > 10); /* the loss was real */
    CHECK_EQ(st.ok, 50);
    CHECK_EQ(st.failed, 0);
    s5066_channel_node_stats(ch, b, &st);
    CHECK_EQ(st.received, 50);
    s5066_channel_free(ch);
}

TEST(arq_total_loss_rejected_after_retries)
{
    struct s5066_channel_params p = params(2400, 1.0, 1);
    p.arq_retries = 3;
    struct s5066_channel *ch = new_channel(&p);
    int a = add(ch, "a", 1, 0, 0, false), b = add(ch, "b", 2, 0, 0, false);
    uint64_t id = submit(ch, 0, a, NODE(2), S5066_TX_ARQ, 0, false, 0, 0, "into the void", 7);
    run_idle(ch, 0, UTIL_MS_NEVER - 1);
    CHECK_EQ(count_rx(b, id), 0);
    const struct res_rec *r = find_res(id);
    CHECK(r && !r->ok && r->reason == S5066_REJ_NODE_NOT_RESPONDING && r->tag == 7);
    CHECK_EQ(R.n_tx, 4); /* 1 + 3 retries, no ACK ever sent */
    CHECK_EQ(r ? r->t : 0, 4 * s5066_channel_airtime(ch, 13, 1, true));
    /* ARQ to an address no node has: the same */
    id = submit(ch, R.now, a, NODE(9), S5066_TX_ARQ, 0, false, 0, 0, "nobody", 8);
    run_idle(ch, R.now, UTIL_MS_NEVER - 1);
    r = find_res(id);
    CHECK(r && !r->ok && r->reason == S5066_REJ_NODE_NOT_RESPONDING);
    /* ARQ to a group is refused at submit */
    struct s5066_channel_updu u = {.dest = GROUP(16), .tx_mode = S5066_TX_ARQ};
    CHECK_EQ(s5066_channel_submit(ch, R.now, a, &u, NULL), S5066_ERR_INVAL);
    s5066_channel_free(ch);
}

TEST(arq_receiver_refusal_is_reported)
{
    struct s5066_channel_params p = params(2400, 0.0, 1);
    struct s5066_channel *ch = new_channel(&p);
    int a = add(ch, "a", 1, 0, 0, false);
    add(ch, "b", 2, 0, 0, false);
    R.deliver_rc = S5066_REJ_SAP_NOT_BOUND;
    uint64_t id = submit(ch, 0, a, NODE(2), S5066_TX_ARQ, 0, false, 0, 0, "no sap", 0);
    run_idle(ch, 0, UTIL_MS_NEVER - 1);
    const struct res_rec *r = find_res(id);
    CHECK(r && !r->ok && r->reason == S5066_REJ_SAP_NOT_BOUND);
    s5066_channel_free(ch);
}

TEST(non_arq_group_members_only_once)
{
    struct s5066_channel_params p = params(2400, 0.0, 5);
    struct s5066_channel *ch = new_channel(&p);
    int a = add(ch, "a", 1, 5, 0, false);
    int b = add(ch, "b", 2, 5, 0, false);
    int c = add(ch, "c", 3, 6, 5, false);
    int d = add(ch, "d", 4, 6, 0, false);
    uint64_t id = submit(ch, 0, a, GROUP(5), S5066_TX_NON_ARQ, 0, false, 3, 0, "group", 0);
    run_idle(ch, 0, UTIL_MS_NEVER - 1);
    CHECK_EQ(R.tx[0].copies, 4);
    CHECK_EQ(count_rx(b, id), 1);
    CHECK_EQ(count_rx(c, id), 1);
    CHECK_EQ(count_rx(d, id), 0);
    CHECK_EQ(count_rx(a, id), 0); /* the sender does not hear itself */
    CHECK_EQ(R.n_rx, 2);
    CHECK(R.rx[0].dest.group && R.rx[0].dest.addr == 5);
    CHECK(!R.rx[0].src.group && R.rx[0].src.addr == 1);
    CHECK_EQ(R.rx[0].tx_mode, S5066_TX_NON_ARQ);
    const struct res_rec *r = find_res(id);
    CHECK(r && r->ok);
    s5066_channel_free(ch);

    /* with loss: never more than once, and the repeats get most through */
    p = params(2400, 0.4, 5);
    ch = new_channel(&p);
    a = add(ch, "a", 1, 0, 0, false);
    b = add(ch, "b", 2, 5, 0, false);
    c = add(ch, "c", 3, 5, 0, false);
    d = add(ch, "d", 4, 0, 0, false);
    uint64_t ids[40];
    for (int i = 0; i < 40; i++)
        ids[i] = submit(ch, 0, a, GROUP(5), S5066_TX_NON_ARQ, 0, false, 3, 0, "lossy", 0);
    run_idle(ch, 0, UTIL_MS_NEVER - 1);
    int got = 0;
    for (int i = 0; i < 40; i++) {
        CHECK(count_rx(b, ids[i]) <= 1);
        CHECK(count_rx(c, ids[i]) <= 1);
        CHECK_EQ(count_rx(d, ids[i]), 0);
        got += count_rx(b, ids[i]) + count_rx(c, ids[i]);
    }
    CHECK(got >= 70); /* P(4 copies lost) = 0.0256 */
    CHECK(got < 80 || R.n_rx == 80);
    s5066_channel_free(ch);
}

TEST(broadcast_reaches_every_other_node)
{
    struct s5066_channel_params p = params(2400, 0.0, 1);
    struct s5066_channel *ch = new_channel(&p);
    int n[4];
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof name, "n%d", i);
        n[i] = add(ch, name, (uint32_t)i + 1, 0, 0, i == 3);
    }
    struct s5066_addr bc;
    CHECK_EQ(s5066_addr_parse(S5066_ADDR_BROADCAST_STR, &bc), 0);
    uint64_t id = submit(ch, 0, n[1], bc, S5066_TX_NON_ARQ, 0, false, 0, 0, "all", 0);
    run_idle(ch, 0, UTIL_MS_NEVER - 1);
    CHECK_EQ(count_rx(n[0], id), 1);
    CHECK_EQ(count_rx(n[1], id), 0);
    CHECK_EQ(count_rx(n[2], id), 1);
    CHECK_EQ(count_rx(n[3], id), 1); /* EMCON nodes receive */
    CHECK(s5066_addr_is_broadcast(&R.rx[0].dest));
    s5066_channel_free(ch);
}

TEST(emcon_node_transmits_nothing)
{
    struct s5066_channel_params p = params(2400, 0.0, 1);
    p.arq_retries = 2;
    struct s5066_channel *ch = new_channel(&p);
    int a = add(ch, "a", 1, 0, 0, false);
    int e = add(ch, "e", 2, 0, 0, true);
    uint64_t q1 = submit(ch, 0, e, NODE(1), S5066_TX_ARQ, 0, false, 0, 0, "held arq", 0);
    uint64_t q2 = submit(ch, 0, e, GROUP(9), S5066_TX_NON_ARQ, 0, false, 0, 0, "held non-arq", 0);
    CHECK_EQ(s5066_channel_next_expiry(ch), UTIL_MS_NEVER);
    run_idle(ch, 0, UTIL_MS_NEVER - 1);
    s5066_channel_run(ch, 3600000);
    CHECK_EQ(R.n_tx, 0);
    CHECK_EQ(R.n_res, 0);
    struct s5066_channel_node_stats st;
    s5066_channel_node_stats(ch, e, &st);
    CHECK_EQ(st.queued, 2);
    CHECK(st.emcon);
    CHECK_EQ(st.bursts, 0);
    /* ARQ to the EMCON node: it receives once but never acknowledges */
    uint64_t to_e = submit(ch, 3600000, a, NODE(2), S5066_TX_ARQ, 0, false, 0, 0, "to emcon", 0);
    run_idle(ch, 3600000, UTIL_MS_NEVER - 1);
    CHECK_EQ(count_rx(e, to_e), 1);
    const struct res_rec *r = find_res(to_e);
    CHECK(r && !r->ok && r->reason == S5066_REJ_NODE_NOT_RESPONDING);
    for (size_t i = 0; i < R.n_tx; i++)
        CHECK(R.tx[i].node != e);
    /* out of EMCON, the held traffic goes */
    size_t before = R.n_tx;
    s5066_channel_set_emcon(ch, R.now, e, false);
    run_idle(ch, R.now, UTIL_MS_NEVER - 1);
    CHECK(R.n_tx > before);
    CHECK_EQ(R.tx[before].node, e);
    CHECK_EQ(count_rx(a, q1), 1);
    r = find_res(q1);
    CHECK(r && r->ok);
    r = find_res(q2);
    CHECK(r && r->ok);
    s5066_channel_free(ch);
}

TEST(ttl_expiry_rejects)
{
    struct s5066_channel_params p = params(2400, 0.0, 1);
    p.max_ttl = 60000;
    struct s5066_channel *ch = new_channel(&p);
    add(ch, "a", 1, 0, 0, false);
    int e = add(ch, "e", 2, 0, 0, true);
    uint64_t id = submit(ch, 1000, e, NODE(1), S5066_TX_ARQ, 0, false, 0, 10000, "short life", 3);
    uint64_t id2 =
        submit(ch, 1000, e, NODE(1), S5066_TX_NON_ARQ, 0, false, 0, 0, "default life", 4);
    CHECK_EQ(s5066_channel_next_expiry(ch), 11000);
    s5066_channel_run(ch, 10999);
    CHECK_EQ(R.n_res, 0);
    s5066_channel_run(ch, 20000);
    const struct res_rec *r = find_res(id);
    CHECK(r && !r->ok && r->reason == S5066_REJ_TTL_EXPIRED && r->tag == 3);
    CHECK_EQ(s5066_channel_next_expiry(ch), 61000); /* max_ttl for TTL 0 */
    run_idle(ch, 20000, UTIL_MS_NEVER - 1);
    r = find_res(id2);
    CHECK(r && !r->ok && r->reason == S5066_REJ_TTL_EXPIRED);
    struct s5066_channel_node_stats st;
    s5066_channel_node_stats(ch, e, &st);
    CHECK_EQ(st.expired, 2);
    CHECK_EQ(st.queued, 0);
    /* ARQ retrying past its TTL: TTL expired, not "not responding" */
    struct s5066_channel_params p2 = params(2400, 1.0, 1);
    p2.arq_retries = 100;
    s5066_channel_free(ch);
    ch = new_channel(&p2);
    int a = add(ch, "a", 1, 0, 0, false);
    add(ch, "b", 2, 0, 0, false);
    id = submit(ch, 0, a, NODE(2), S5066_TX_ARQ, 0, false, 0, 5000, "retrying", 0);
    run_idle(ch, 0, UTIL_MS_NEVER - 1);
    r = find_res(id);
    CHECK(r && !r->ok && r->reason == S5066_REJ_TTL_EXPIRED);
    CHECK(r && r->t >= 5000 && r->t < 5000 + s5066_channel_airtime(ch, 8, 1, true));
    /* freed with U_PDUs on the air and waiting with a TTL */
    submit(ch, R.now, a, NODE(2), S5066_TX_ARQ, 0, false, 0, 5000, "on air", 0);
    submit(ch, R.now, a, NODE(2), S5066_TX_ARQ, 0, false, 0, 5000, "waiting", 0);
    s5066_channel_free(ch);
}

TEST(flow_off_and_on)
{
    struct s5066_channel_params p = params(75, 0.0, 1);
    p.max_queue = 1000;
    struct s5066_channel *ch = new_channel(&p);
    int a = add(ch, "a", 1, 0, 0, false);
    add(ch, "b", 2, 0, 0, false);
    char data[201];
    memset(data, 'f', 200);
    data[200] = 0;
    for (int i = 0; i < 4; i++)
        submit(ch, 0, a, NODE(2), S5066_TX_NON_ARQ, 0, false, 0, 0, data, 0);
    CHECK_EQ(R.n_flow, 0);
    CHECK(s5066_channel_node_flow_on(ch, a));
    submit(ch, 0, a, NODE(2), S5066_TX_NON_ARQ, 0, false, 0, 0, data, 0); /* 1000 bytes */
    CHECK_EQ(R.n_flow, 1);
    CHECK(R.flow[0].node == a && !R.flow[0].on);
    CHECK(!s5066_channel_node_flow_on(ch, a));
    for (int i = 0; i < 5; i++)
        submit(ch, 0, a, NODE(2), S5066_TX_NON_ARQ, 0, false, 0, 0, data, 0); /* up to 2000 */
    struct s5066_channel_updu u = {
        .dest = NODE(2), .tx_mode = S5066_TX_NON_ARQ, .updu = (const uint8_t *)data, .len = 1};
    CHECK_EQ(s5066_channel_submit(ch, 0, a, &u, NULL), S5066_ERR_QUEUE_FULL);
    CHECK_EQ(R.n_flow, 1);
    /* drain: on again at 500 bytes or less, once */
    run_idle(ch, 0, UTIL_MS_NEVER - 1);
    CHECK_EQ(R.n_flow, 2);
    CHECK(R.flow[1].node == a && R.flow[1].on);
    CHECK(s5066_channel_node_flow_on(ch, a));
    CHECK_EQ(R.n_res, 10);
    s5066_channel_free(ch);
}

TEST(bit_errors_give_tx_mode_3_with_blocks)
{
    struct s5066_channel_params p = params(2400, 1.0, 9);
    p.bit_errors = true;
    struct s5066_channel *ch = new_channel(&p);
    int a = add(ch, "a", 1, 0, 0, false), b = add(ch, "b", 2, 0, 0, false);
    char data[301];
    for (int i = 0; i < 300; i++)
        data[i] = (char)('A' + i % 26);
    data[300] = 0;
    uint64_t id = submit(ch, 0, a, NODE(2), S5066_TX_NON_ARQ_ERRORS, 0, false, 1, 0, data, 0);
    run_idle(ch, 0, UTIL_MS_NEVER - 1);
    CHECK_EQ(count_rx(b, id), 1);
    CHECK_EQ(R.n_rx, 1);
    const struct rx_rec *x = &R.rx[0];
    CHECK_EQ(x->tx_mode, S5066_TX_NON_ARQ_ERRORS);
    CHECK(x->n_err >= 1 && x->n_err <= 3);
    CHECK_EQ(x->len, 300);
    /* every changed byte lies in an error block, and each block has one */
    for (size_t i = 0; i < 300; i++) {
        if (x->data[i] == (uint8_t)data[i])
            continue;
        bool inside = false;
        for (size_t k = 0; k < x->n_err && k < 8; k++)
            inside |= i >= x->err[k].pos && i < (size_t)x->err[k].pos + x->err[k].size;
        CHECK(inside);
    }
    for (size_t k = 0; k < x->n_err && k < 8; k++) {
        CHECK(x->err[k].pos % S5066_CHANNEL_BLOCK == 0);
        CHECK(x->err[k].pos + x->err[k].size <= 300);
        CHECK(memcmp(x->data + x->err[k].pos, data + x->err[k].pos, x->err[k].size) != 0);
    }
    /* a receiver may refuse a corrupted copy: then it is lost */
    R.refuse_errors = true;
    id = submit(ch, R.now, a, NODE(2), S5066_TX_NON_ARQ, 0, false, 0, 0, data, 0);
    run_idle(ch, R.now, UTIL_MS_NEVER - 1);
    CHECK_EQ(count_rx(b, id), 0);
    struct s5066_channel_node_stats st;
    s5066_channel_node_stats(ch, b, &st);
    CHECK_EQ(st.corrupted, 2);
    CHECK_EQ(st.lost, 1);
    /* without bit-error mode, total loss delivers nothing */
    s5066_channel_free(ch);
    p.bit_errors = false;
    ch = new_channel(&p);
    a = add(ch, "a", 1, 0, 0, false);
    b = add(ch, "b", 2, 0, 0, false);
    submit(ch, 0, a, NODE(2), S5066_TX_NON_ARQ_ERRORS, 0, false, 0, 0, data, 0);
    run_idle(ch, 0, UTIL_MS_NEVER - 1);
    CHECK_EQ(R.n_rx, 0);
    s5066_channel_free(ch);
}

/* scenario - a lossy mixed workload; fills out[] with a trace of what happened */
static size_t scenario(uint64_t seed, uint64_t *out, size_t cap)
{
    struct s5066_channel_params p = params(1200, 0.35, seed);
    p.bit_errors = true;
    p.arq_retries = 4;
    struct s5066_channel *ch = new_channel(&p);
    int n[3];
    n[0] = add(ch, "a", 1, 7, 0, false);
    n[1] = add(ch, "b", 2, 7, 0, false);
    n[2] = add(ch, "c", 3, 7, 0, false);
    for (int i = 0; i < 30; i++) {
        util_ms t = (util_ms)i * 450;
        run_idle(ch, t, t);
        int from = i % 3;
        if (i % 3 == 0)
            submit(ch, t, n[from], GROUP(7), S5066_TX_NON_ARQ_ERRORS, 0, false, 1, 0, "grp", 0);
        else
            submit(ch, t, n[from], NODE((uint32_t)(from + 1) % 3 + 1), S5066_TX_ARQ, i % 4, false,
                   0, 0, "uni", 0);
    }
    run_idle(ch, 30 * 450, UTIL_MS_NEVER - 1);
    size_t k = 0;
    for (size_t i = 0; i < R.n_tx && k + 3 <= cap; i++) {
        out[k++] = R.tx[i].start;
        out[k++] = (uint64_t)R.tx[i].node;
        out[k++] = R.tx[i].id;
    }
    for (size_t i = 0; i < R.n_rx && k + 3 <= cap; i++) {
        out[k++] = R.rx[i].id;
        out[k++] = (uint64_t)R.rx[i].node;
        out[k++] = R.rx[i].n_err;
    }
    for (size_t i = 0; i < R.n_res && k + 2 <= cap; i++) {
        out[k++] = R.res[i].id;
        out[k++] = (uint64_t)(R.res[i].ok ? 0 : R.res[i].reason + 1);
    }
    s5066_channel_free(ch);
    return k;
}

TEST(same_seed_same_outcome)
{
    static uint64_t t1[8192], t2[8192], t3[8192];
    size_t n1 = scenario(42, t1, 8192);
    size_t n2 = scenario(42, t2, 8192);
    size_t n3 = scenario(43, t3, 8192);
    CHECK(n1 > 90);
    CHECK_EQ(n1, n2);
    CHECK(memcmp(t1, t2, n1 * sizeof t1[0]) == 0);
    CHECK(n1 != n3 || memcmp(t1, t3, n1 * sizeof t1[0]) != 0);
}

TEST(callback_may_submit_a_reply)
{
    struct s5066_channel_params p = params(2400, 0.0, 1);
    struct s5066_channel *ch = new_channel(&p);
    int a = add(ch, "a", 1, 0, 0, false), b = add(ch, "b", 2, 0, 0, false);
    add(ch, "c", 3, 0, 0, false);
    R.reply_from = b;
    uint64_t id = submit(ch, 0, a, NODE(2), S5066_TX_ARQ, 0, false, 0, 0, "ping", 0);
    uint64_t other = submit(ch, 0, 2, NODE(1), S5066_TX_NON_ARQ, 0, false, 0, 0, "other", 0);
    run_idle(ch, 0, UTIL_MS_NEVER - 1);
    CHECK_EQ(count_rx(b, id), 1);
    CHECK_EQ(count_rx(a, other), 1);
    /* b's reply went on the air after the ping's burst, and arrived */
    int replies = 0;
    for (size_t i = 0; i < R.n_rx; i++)
        if (R.rx[i].node == a && R.rx[i].len == 3 && memcmp(R.rx[i].data, "ack", 3) == 0)
            replies++;
    CHECK_EQ(replies, 1);
    for (size_t i = 1; i < R.n_tx; i++)
        CHECK(R.tx[i].start >= R.tx[i - 1].end);
    CHECK_EQ(R.n_res, 3);
    s5066_channel_free(ch);
}

TEST(rejects_bad_input)
{
    struct s5066_channel_params p = params(2400, 0.0, 1);
    p.rate = 50;
    CHECK(s5066_channel_new(&p, NULL, NULL) == NULL);
    p.rate = 2400;
    p.loss = 1.5;
    CHECK(s5066_channel_new(&p, NULL, NULL) == NULL);
    p.loss = 0.0;
    struct s5066_channel *ch = new_channel(&p);
    CHECK_EQ(add(ch, "a", 1, 0, 0, false), 0);
    CHECK_EQ(add(ch, "a", 2, 0, 0, false), S5066_ERR_INVAL); /* name taken */
    CHECK_EQ(add(ch, "b", 1, 0, 0, false), S5066_ERR_INVAL); /* address taken */
    struct s5066_channel_node g = {.name = "g", .addr = GROUP(3)};
    CHECK_EQ(s5066_channel_add_node(ch, &g, NULL), S5066_ERR_INVAL);
    struct s5066_channel_updu u = {.dest = NODE(1), .tx_mode = S5066_TX_DEFAULT};
    CHECK_EQ(s5066_channel_submit(ch, 0, 0, &u, NULL), S5066_ERR_INVAL);
    u.tx_mode = S5066_TX_ARQ;
    CHECK_EQ(s5066_channel_submit(ch, 0, 5, &u, NULL), S5066_ERR_INVAL); /* no such node */
    u.priority = 16;
    CHECK_EQ(s5066_channel_submit(ch, 0, 0, &u, NULL), S5066_ERR_INVAL);
    CHECK_EQ(s5066_channel_node_count(ch), 1);
    CHECK_EQ(s5066_channel_find_node(ch, &(struct s5066_addr){1, 0, 7}), 0);
    CHECK_EQ(s5066_channel_find_node(ch, &(struct s5066_addr){2, 0, 7}), -1);
    CHECK_STR(s5066_channel_node_name(ch, 0), "a");
    CHECK_STR(s5066_channel_node_name(ch, 9), "");
    s5066_channel_free(ch);
}

/* 10 kB at 2400 bps: 10000 * 8 / 2400 = 33.333 s of data, plus per U_PDU
 * the configured overhead bytes and one turnaround, within 5% */
TEST(ten_kilobytes_at_2400_bps_take_their_air_time)
{
    struct s5066_channel_params p = params(2400, 0.0, 1);
    struct s5066_channel *ch = new_channel(&p);
    int a = add(ch, "a", 1, 0, 0, false), b = add(ch, "b", 2, 0, 0, false);
    static uint8_t data[10000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + i / 251);
    uint64_t ids[5];
    R.now = 0;
    for (int k = 0; k < 5; k++) {
        struct s5066_channel_updu u = {.src_sap = 2,
                                       .dest_sap = 2,
                                       .dest = NODE(2),
                                       .tx_mode = S5066_TX_NON_ARQ,
                                       .updu = data + k * 2000,
                                       .len = 2000,
                                       .tag = (uint64_t)k};
        CHECK_EQ(s5066_channel_submit(ch, 0, a, &u, &ids[k]), 0);
    }
    run_idle(ch, 0, UTIL_MS_NEVER - 1);
    /* each once, in order, intact */
    CHECK_EQ(R.n_rx, 5);
    for (size_t k = 0; k < 5 && k < R.n_rx; k++) {
        CHECK_EQ(R.rx[k].node, b);
        CHECK_EQ(R.rx[k].id, ids[k]);
        CHECK_EQ(R.rx[k].len, 512); /* the record keeps the first 512 bytes */
        CHECK_MEM(R.rx[k].data, 512, data + k * 2000, 512);
    }
    CHECK_EQ(R.n_res, 5);
    const struct res_rec *last = find_res(ids[4]);
    CHECK(last && last->ok);
    if (!last)
        return;
    double data_ms = 10000.0 * 8 * 1000 / 2400;                                          /* 33333 */
    double extra_ms = 5 * ((double)p.overhead * 8 * 1000 / 2400 + (double)p.turnaround); /* 2767 */
    double took = (double)last->t;
    printf("# 10 kB at 2400 bps: %.0f ms (data %.0f + overhead and turnarounds %.0f)\n", took,
           data_ms, extra_ms);
    CHECK(took - extra_ms >= data_ms * 0.95);
    CHECK(took - extra_ms <= data_ms * 1.05);
    /* and exactly what the formula gives: 5 * (ceil(2016 * 8000 / 2400) + 500) */
    CHECK_EQ(last->t, 5 * s5066_channel_airtime(ch, 2000, 1, false));
    CHECK_EQ(last->t, 36100);
    struct s5066_channel_stats st;
    s5066_channel_stats(ch, last->t, &st);
    CHECK_EQ(st.busy, last->t); /* the channel never idled */
    s5066_channel_free(ch);
}

int main(void)
{
    util_log_set_level(UTIL_LOG_WARN);
    RUN(airtime_matches_formula);
    RUN(half_duplex_never_overlaps);
    RUN(priority_order);
    RUN(arq_with_loss_exactly_once_confirmed);
    RUN(arq_total_loss_rejected_after_retries);
    RUN(arq_receiver_refusal_is_reported);
    RUN(non_arq_group_members_only_once);
    RUN(broadcast_reaches_every_other_node);
    RUN(emcon_node_transmits_nothing);
    RUN(ttl_expiry_rejects);
    RUN(flow_off_and_on);
    RUN(bit_errors_give_tx_mode_3_with_blocks);
    RUN(same_seed_same_outcome);
    RUN(callback_may_submit_a_reply);
    RUN(rejects_bad_input);
    RUN(ten_kilobytes_at_2400_bps_take_their_air_time);
    return harness_done();
}
