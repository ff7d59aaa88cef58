/* pmul_sim_test.c - deterministic simulations of ACP 142 P_MUL: the pmul
 * engines of several nodes on the s5066 channel model (half-duplex HF at
 * 2400 bps, seeded U_PDU loss, EMCON), all in virtual time.  Each scenario
 * asserts byte-exact delivery, exactly once, and the acknowledgements the
 * sender ends with.  Plus a bearer that reorders and duplicates PDUs.
 */
#include "harness.h"
#include "pmul/pmul.h"
#include "s5066/s5066.h"

#include <stdlib.h>

#define MAX_NODES 10
#define MAX_DELIV 64
#define GROUP_ADDR 0x100 /* 16.0.1.0 */
#define WALL0 1700000000000LL
#define P2_GOAL 1.6 /* issue 14: completion at 10% loss / at none */

struct delivery {
    int node;
    uint32_t src, msgid;
    uint8_t *data;
    size_t len;
};

struct net;

struct node {
    struct net *net;
    int index;    /* channel node index */
    uint32_t id;  /* P_MUL node id */
    struct pmul_engine *eng;
    uint32_t next_msgid;
    uint32_t next_msn[MAX_NODES + 2];
    bool deaf;    /* drops everything it receives (a dead node) */
    bool refuse;  /* deliver callback refuses */
};

struct net {
    struct s5066_channel *ch;
    struct node nodes[MAX_NODES];
    int n;
    util_ms now;
    struct pmul_params params;
    struct delivery deliv[MAX_DELIV];
    int ndeliv;
    int dest_result[MAX_NODES + 2]; /* per destination id: -1 open, else result */
    int dest_done_calls;
    int msg_done_calls;
    size_t msg_done_acked, msg_done_failed;
    int discards_sent;
    uint64_t bytes_by_node_during_emcon[MAX_NODES];
    bool emcon_window;
    int emcon_node;
};

/* node_send - the pmul engine's bearer: P_MUL PDUs into the channel model */
static int node_send(void *user, const uint8_t *pdu, size_t len, const struct pmul_tx_info *info)
{
    struct node *nd = user;
    struct net *net = nd->net;
    struct s5066_channel_updu u;
    memset(&u, 0, sizeof u);
    u.src_sap = u.dest_sap = 2;
    u.priority = (uint8_t)(15 - UTIL_MIN(info->priority, 15));
    u.updu = pdu;
    u.len = len;
    if (info->type == PMUL_ACK) {
        u.dest = s5066_addr_make(info->to, false);
        u.tx_mode = S5066_TX_ARQ;
    } else {
        u.dest = info->ndests == 1 ? s5066_addr_make(info->dests[0], false)
                                   : s5066_addr_make(GROUP_ADDR, true);
        u.tx_mode = S5066_TX_NON_ARQ;
    }
    if (info->type == PMUL_DISCARD_MESSAGE)
        net->discards_sent++;
    int rc = s5066_channel_submit(net->ch, net->now, nd->index, &u, NULL);
    return rc < 0 ? -1 : 0;
}

/* node_deliver - a complete message at a node */
static int node_deliver(void *user, const struct pmul_rx_message *m)
{
    struct node *nd = user;
    struct net *net = nd->net;
    if (nd->refuse)
        return -1;
    if (net->ndeliv < MAX_DELIV) {
        struct delivery *d = &net->deliv[net->ndeliv++];
        d->node = nd->index;
        d->src = m->source_id;
        d->msgid = m->message_id;
        d->data = malloc(m->len ? m->len : 1);
        memcpy(d->data, m->data, m->len);
        d->len = m->len;
    }
    return 0;
}

/* node_dest_done - a destination of a sent message finished */
static void node_dest_done(void *user, uint64_t h, uint32_t msgid, uint32_t dest, int result)
{
    struct node *nd = user;
    (void)h;
    (void)msgid;
    if (dest < MAX_NODES + 2)
        nd->net->dest_result[dest] = result;
    nd->net->dest_done_calls++;
}

/* node_msg_done - a sent message finished */
static void node_msg_done(void *user, uint64_t h, uint32_t msgid, size_t acked, size_t failed)
{
    struct node *nd = user;
    (void)h;
    (void)msgid;
    nd->net->msg_done_calls++;
    nd->net->msg_done_acked += acked;
    nd->net->msg_done_failed += failed;
}

/* node_alloc_msgid - Message_IDs count up per node */
static int node_alloc_msgid(void *user, uint32_t *id)
{
    struct node *nd = user;
    *id = ++nd->next_msgid;
    return 0;
}

/* node_alloc_msn - sequence numbers count up per destination */
static int node_alloc_msn(void *user, uint32_t dest, uint32_t *msn)
{
    struct node *nd = user;
    *msn = ++nd->next_msn[dest % (MAX_NODES + 2)];
    return 0;
}

static const struct pmul_callbacks node_cb = {
    .send = node_send,
    .deliver = node_deliver,
    .dest_done = node_dest_done,
    .message_done = node_msg_done,
    .alloc_message_id = node_alloc_msgid,
    .alloc_msn = node_alloc_msn,
};

/* ch_deliver - the channel hands a U_PDU to a node */
static int ch_deliver(void *node_user, int node, const struct s5066_channel_rx *rx)
{
    struct node *nd = node_user;
    (void)node;
    if (nd->deaf || !nd->eng)
        return 0;
    int rc = pmul_engine_input(nd->eng, nd->net->now, rx->updu, rx->len);
    CHECK_EQ(rc, 0);
    return 0;
}

/* ch_flow - flow control from the channel to the node's engine */
static void ch_flow(void *node_user, int node, bool on)
{
    struct node *nd = node_user;
    (void)node;
    if (nd->eng)
        pmul_engine_set_blocked(nd->eng, nd->net->now, !on);
}

/* ch_transmit - count bytes on air while a node is in EMCON */
static void ch_transmit(void *user, const struct s5066_channel_tx *tx)
{
    struct net *net = user;
    if (net->emcon_window && tx->node >= 0 && tx->node < MAX_NODES)
        net->bytes_by_node_during_emcon[tx->node] += tx->bytes_on_air;
}

/* node_start - (re)create a node's engine */
static void node_start(struct net *net, int i)
{
    struct node *nd = &net->nodes[i];
    struct pmul_params p = net->params;
    p.node_id = nd->id;
    p.seed = 1000 + (uint64_t)i;
    nd->eng = pmul_engine_new(&p, &node_cb, nd);
    CHECK(nd->eng != NULL);
    pmul_engine_set_wall(nd->eng, net->now, WALL0 + (int64_t)net->now);
}

/* net_new - n nodes (ids 1..n, 5066 addresses 0.0.0.1..), receivers 2..n in one group */
static struct net *net_new(int n, double loss, uint64_t seed)
{
    struct net *net = calloc(1, sizeof *net);
    struct s5066_channel_params cp;
    s5066_channel_params_default(&cp);
    cp.rate = 2400;
    cp.loss = loss;
    cp.seed = seed;
    cp.max_queue = 16384;
    static const struct s5066_channel_callbacks ccb = {ch_deliver, NULL, ch_flow, ch_transmit};
    net->ch = s5066_channel_new(&cp, &ccb, net);
    CHECK(net->ch != NULL);
    pmul_params_default(&net->params);
    net->params.pdu_max = 1024;
    net->params.rate_bps = 2400;
    net->params.ack_retransmission_time = 30000;
    net->params.ack_pdu_time = 30000;
    net->params.ack_delay_max = 5000;
    net->params.emcon_rti = 30 * 60000;
    net->n = n;
    for (int i = 0; i < MAX_NODES + 2; i++)
        net->dest_result[i] = -1;
    struct s5066_addr group = s5066_addr_make(GROUP_ADDR, true);
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i + 1);
        struct s5066_channel_node cn = {name, s5066_addr_make((uint32_t)i + 1, false), &group, i > 0, false};
        net->nodes[i].net = net;
        net->nodes[i].id = (uint32_t)i + 1;
        net->nodes[i].index = s5066_channel_add_node(net->ch, &cn, &net->nodes[i]);
        CHECK_EQ(net->nodes[i].index, i);
    }
    for (int i = 0; i < n; i++)
        node_start(net, i);
    return net;
}

/* net_free - release everything */
static void net_free(struct net *net)
{
    for (int i = 0; i < net->n; i++)
        pmul_engine_free(net->nodes[i].eng);
    s5066_channel_free(net->ch);
    for (int i = 0; i < net->ndeliv; i++)
        free(net->deliv[i].data);
    free(net);
}

/* net_next - the earliest deadline of the channel and every engine */
static util_ms net_next(struct net *net)
{
    util_ms next = s5066_channel_next_expiry(net->ch);
    for (int i = 0; i < net->n; i++)
        if (net->nodes[i].eng)
            next = UTIL_MIN(next, pmul_engine_next_expiry(net->nodes[i].eng));
    return next;
}

/* net_run_until - advance virtual time until `until` or until done() is true */
static void net_run_until(struct net *net, util_ms until, bool (*done)(struct net *))
{
    for (long steps = 0; steps < 5000000; steps++) {
        if (done && done(net))
            return;
        util_ms next = net_next(net);
        if (next > until) {
            net->now = until;
            return;
        }
        if (next > net->now)
            net->now = next;
        s5066_channel_run(net->ch, net->now);
        for (int i = 0; i < net->n; i++)
            if (net->nodes[i].eng)
                pmul_engine_timeout(net->nodes[i].eng, net->now);
    }
    CHECK(!"simulation did not settle");
}

/* sender_done - the sender has no message left open */
static bool sender_done(struct net *net)
{
    return net->msg_done_calls > 0;
}

/* make_payload - deterministic pseudo-random bytes */
static uint8_t *make_payload(size_t len, uint64_t seed)
{
    uint8_t *p = malloc(len);
    struct util_rng r;
    util_rng_seed(&r, seed);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)util_rng_next(&r);
    return p;
}

/* send_from_first - node 1 sends len bytes to nodes 2..n+1 (ids), some in EMCON */
static uint64_t send_from_first(struct net *net, const uint8_t *data, size_t len, int ndest,
                                const bool *emcon, int64_t lifetime_s)
{
    struct pmul_dest_spec d[MAX_NODES];
    memset(d, 0, sizeof d);
    for (int i = 0; i < ndest; i++) {
        d[i].id = (uint32_t)i + 2;
        d[i].emcon = emcon ? emcon[i] : false;
    }
    struct pmul_message m = {data, len, d, (size_t)ndest, 6, (WALL0 + (int64_t)net->now) / 1000 + lifetime_s, 0};
    uint64_t h = 0;
    CHECK_EQ(pmul_engine_send(net->nodes[0].eng, net->now, &m, &h), 0);
    CHECK_EQ(m.message_id, 1);
    for (int i = 0; i < ndest; i++)
        CHECK_EQ(d[i].msn, 1);
    return h;
}

/* check_delivered_once - each of nodes 2..ndest+1 got exactly one byte-exact copy */
static void check_delivered_once(struct net *net, const uint8_t *data, size_t len, int ndest)
{
    for (int node = 1; node <= ndest; node++) {
        int copies = 0;
        for (int i = 0; i < net->ndeliv; i++)
            if (net->deliv[i].node == node) {
                copies++;
                CHECK_EQ(net->deliv[i].src, 1);
                CHECK_EQ(net->deliv[i].msgid, 1);
                CHECK_MEM(net->deliv[i].data, net->deliv[i].len, data, len);
            }
        if (copies != 1)
            printf("# node %d got %d copies\n", node + 1, copies);
        CHECK_EQ(copies, 1);
    }
}

/* run_transfer_timers - node 1 -> ndest receivers with loss; all must ack;
 * with the documented default timers (pmul_params_default) if asked; when
 * the sender was done, in radio time */
static util_ms run_transfer_timers(int ndest, double loss, uint64_t seed, size_t len, bool default_timers)
{
    struct net *net = net_new(ndest + 1, loss, seed);
    if (default_timers) {
        struct pmul_params d;
        pmul_params_default(&d);
        net->params.ack_retransmission_time = d.ack_retransmission_time;
        net->params.ack_pdu_time = d.ack_pdu_time;
        net->params.ack_delay_max = d.ack_delay_max;
        for (int i = 0; i < net->n; i++) {
            pmul_engine_free(net->nodes[i].eng);
            node_start(net, i);
        }
    }
    uint8_t *data = make_payload(len, seed);
    send_from_first(net, data, len, ndest, NULL, 4 * 3600);
    net_run_until(net, 4 * 3600 * 1000ull, sender_done);
    CHECK_EQ(net->msg_done_calls, 1);
    CHECK_EQ(net->msg_done_acked, (size_t)ndest);
    CHECK_EQ(net->msg_done_failed, 0);
    for (int i = 0; i < ndest; i++)
        CHECK_EQ(net->dest_result[i + 2], PMUL_DEST_ACKED);
    check_delivered_once(net, data, len, ndest);
    util_ms done_at = net->now;
    /* let the Ack-Ack and late acks settle: still exactly once */
    net_run_until(net, net->now + 600000, NULL);
    check_delivered_once(net, data, len, ndest);
    struct pmul_engine_stats st;
    pmul_engine_get_stats(net->nodes[0].eng, &st);
    printf("# %d dests, loss %.0f%%: done at %.1f min, data PDUs sent %llu (resent %llu), acks received %llu\n",
           ndest, loss * 100, (double)done_at / 60000.0, (unsigned long long)st.data_sent,
           (unsigned long long)st.data_resent, (unsigned long long)st.acks_received);
    if (loss == 0.0)
        CHECK_EQ(st.data_resent, 0);
    free(data);
    net_free(net);
    return done_at;
}

/* run_transfer - run_transfer_timers with the harness's 30 s timers */
static void run_transfer(int ndest, double loss, uint64_t seed, size_t len)
{
    run_transfer_timers(ndest, loss, seed, len, false);
}

TEST(one_destination_no_loss)
{
    run_transfer(1, 0.0, 11, 20000);
}

TEST(eight_destinations_no_loss)
{
    run_transfer(8, 0.0, 12, 20000);
}

TEST(one_destination_10_percent_loss)
{
    run_transfer(1, 0.10, 13, 20000);
}

TEST(eight_destinations_10_percent_loss)
{
    run_transfer(8, 0.10, 14, 20000);
}

TEST(one_destination_30_percent_loss)
{
    run_transfer(1, 0.30, 15, 20000);
}

TEST(eight_destinations_30_percent_loss)
{
    run_transfer(8, 0.30, 16, 20000);
}

TEST(four_destinations_10_percent_loss_costs_little_time)
{
    /* issue 14's P2 on the channel model: 20 kB to 4 nodes with the
     * default timers, seeds 1-5: completion at 10% U_PDU loss over
     * completion at none (a perfect selective-repeat multicast: ~1.39) */
    double sum = 0, lo = 1e9, hi = 0;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        util_ms clean = run_transfer_timers(4, 0.0, seed, 20000, true);
        util_ms lossy = run_transfer_timers(4, 0.10, seed, 20000, true);
        double r = (double)lossy / (double)clean;
        sum += r;
        lo = UTIL_MIN(lo, r);
        hi = UTIL_MAX(hi, r);
        printf("# seed %llu: %.1f s clean, %.1f s at 10%% loss: %.2f\n", (unsigned long long)seed,
               (double)clean / 1000.0, (double)lossy / 1000.0, r);
    }
    printf("# P2 (channel model): mean %.2f (%.2f-%.2f)\n", sum / 5, lo, hi);
    CHECK(sum / 5 <= P2_GOAL);
}

/* emcon_over - the EMCON receiver's window ended and the sender finished */
static bool emcon_over(struct net *net)
{
    return !net->emcon_window && net->msg_done_calls > 0;
}

TEST(receiver_in_emcon_for_six_hours)
{
    struct net *net = net_new(3, 0.10, 21);
    const size_t len = 8000;
    uint8_t *data = make_payload(len, 21);
    int quiet = 2; /* node id 3 (index 2) is in EMCON */
    s5066_channel_set_emcon(net->ch, 0, quiet, true);
    pmul_engine_set_emcon(net->nodes[quiet].eng, 0, true);
    net->emcon_window = true;
    bool emcon[2] = {false, true};
    send_from_first(net, data, len, 2, emcon, 12 * 3600);
    util_ms six_hours = 6 * 3600 * 1000ull;
    net_run_until(net, six_hours, NULL);
    /* the one not in EMCON is long done; the EMCON node has it but said nothing */
    CHECK_EQ(net->dest_result[2], PMUL_DEST_ACKED);
    CHECK_EQ(net->dest_result[3], -1);
    CHECK_EQ(net->bytes_by_node_during_emcon[quiet], 0);
    int got = 0;
    for (int i = 0; i < net->ndeliv; i++)
        got += net->deliv[i].node == quiet;
    CHECK_EQ(got, 1);
    struct pmul_engine_stats st;
    pmul_engine_get_stats(net->nodes[quiet].eng, &st);
    CHECK_EQ(st.pdus_sent, 0);
    /* EMCON ends: the deferred ack goes out and the sender completes */
    net->emcon_window = false;
    s5066_channel_set_emcon(net->ch, net->now, quiet, false);
    pmul_engine_set_emcon(net->nodes[quiet].eng, net->now, false);
    net_run_until(net, net->now + 3600 * 1000ull, emcon_over);
    CHECK_EQ(net->dest_result[3], PMUL_DEST_ACKED);
    CHECK_EQ(net->msg_done_acked, 2);
    CHECK_EQ(net->msg_done_failed, 0);
    check_delivered_once(net, data, len, 2);
    pmul_engine_get_stats(net->nodes[0].eng, &st);
    printf("# EMCON: sender data PDUs sent %llu over %.1f h\n", (unsigned long long)st.data_sent,
           (double)net->now / 3600000.0);
    /* EMCON_RTC repeats of the whole message, at most */
    CHECK(st.data_sent <= (uint64_t)(1 + net->params.emcon_rtc + 2) * ((len + 1007) / 1008));
    free(data);
    net_free(net);
}

TEST(expiry_sends_discard_and_fails_open_destinations)
{
    struct net *net = net_new(4, 0.0, 31);
    const size_t len = 6000;
    uint8_t *data = make_payload(len, 31);
    net->nodes[3].deaf = true;  /* node id 4 never hears anything */
    net->nodes[2].refuse = true; /* node id 3 hears all but cannot store it */
    send_from_first(net, data, len, 3, NULL, 1800);
    net_run_until(net, 3600 * 1000ull, sender_done);
    CHECK_EQ(net->msg_done_calls, 1);
    CHECK_EQ(net->dest_result[2], PMUL_DEST_ACKED);
    CHECK_EQ(net->dest_result[3], PMUL_DEST_EXPIRED);
    CHECK_EQ(net->dest_result[4], PMUL_DEST_EXPIRED);
    CHECK_EQ(net->msg_done_acked, 1);
    CHECK_EQ(net->msg_done_failed, 2);
    CHECK(net->now >= 1800 * 1000ull && net->now < 1801 * 1000ull);
    net_run_until(net, net->now + 60000, NULL);
    CHECK_EQ(net->discards_sent, 1);
    /* the one that got it, once; the refusing node none */
    check_delivered_once(net, data, len, 1);
    for (int i = 0; i < net->ndeliv; i++)
        CHECK(net->deliv[i].node != 2 && net->deliv[i].node != 3);
    struct pmul_engine_stats st;
    pmul_engine_get_stats(net->nodes[2].eng, &st);
    CHECK_EQ(st.discarded, 1);
    free(data);
    net_free(net);
}

/* half_received - node index 1 holds some Data_PDUs of the message */
static bool half_received(struct net *net)
{
    struct pmul_engine_stats st;
    pmul_engine_get_stats(net->nodes[1].eng, &st);
    return st.pdus_received >= 8;
}

TEST(receiver_restarted_mid_message)
{
    struct net *net = net_new(3, 0.05, 41);
    const size_t len = 20000;
    uint8_t *data = make_payload(len, 41);
    send_from_first(net, data, len, 2, NULL, 4 * 3600);
    net_run_until(net, 3600 * 1000ull, half_received);
    CHECK_EQ(net->ndeliv, 0);
    /* crash: all its state is gone */
    pmul_engine_free(net->nodes[1].eng);
    net->nodes[1].eng = NULL;
    net_run_until(net, net->now + 120000, NULL);
    node_start(net, 1);
    net_run_until(net, 4 * 3600 * 1000ull, sender_done);
    CHECK_EQ(net->msg_done_acked, 2);
    check_delivered_once(net, data, len, 2);
    free(data);
    net_free(net);
}

/* ---- reordering and duplication, without the channel ---- */

struct capture {
    uint8_t pdus[256][1100];
    size_t lens[256];
    int n;
    uint32_t ack_to;
    int acks;
    uint8_t ack[2048];
    size_t ack_len;
    int delivered;
    uint8_t got[40000];
    size_t got_len;
    unsigned got_priority;           /* of the last message delivered */
    unsigned tx_priority[256];       /* tx_info priority of each PDU kept in pdus */
    unsigned ack_priority;           /* tx_info priority of the last Ack_PDU */
};

/* cap_send - keep what an engine sends */
static int cap_send(void *user, const uint8_t *pdu, size_t len, const struct pmul_tx_info *info)
{
    struct capture *c = user;
    if (info->type == PMUL_ACK) {
        c->acks++;
        c->ack_to = info->to;
        c->ack_priority = info->priority;
        memcpy(c->ack, pdu, len);
        c->ack_len = len;
        return 0;
    }
    if (c->n < 256 && len <= sizeof c->pdus[0]) {
        c->tx_priority[c->n] = info->priority;
        memcpy(c->pdus[c->n], pdu, len);
        c->lens[c->n++] = len;
    }
    return 0;
}

/* cap_deliver - a complete message */
static int cap_deliver(void *user, const struct pmul_rx_message *m)
{
    struct capture *c = user;
    c->delivered++;
    c->got_priority = m->priority;
    memcpy(c->got, m->data, m->len);
    c->got_len = m->len;
    return 0;
}

/* cap_msgid - Message_ID 77 */
static int cap_msgid(void *user, uint32_t *id)
{
    (void)user;
    *id = 77;
    return 0;
}

/* cap_msn - Message_Sequence_Number 5 */
static int cap_msn(void *user, uint32_t dest, uint32_t *msn)
{
    (void)user;
    (void)dest;
    *msn = 5;
    return 0;
}

TEST(reordered_and_duplicated_pdus_deliver_once)
{
    static const struct pmul_callbacks cb = {
        .send = cap_send,
        .deliver = cap_deliver,
        .alloc_message_id = cap_msgid,
        .alloc_msn = cap_msn,
    };
    struct pmul_params p;
    pmul_params_default(&p);
    p.pdu_max = 1024;
    p.rate_bps = 0;
    p.ack_delay_max = 1000;
    static struct capture tx, rx;
    memset(&tx, 0, sizeof tx);
    memset(&rx, 0, sizeof rx);
    p.node_id = 10;
    struct pmul_engine *a = pmul_engine_new(&p, &cb, &tx);
    p.node_id = 20;
    struct pmul_engine *b = pmul_engine_new(&p, &cb, &rx);
    pmul_engine_set_wall(a, 0, WALL0);
    pmul_engine_set_wall(b, 0, WALL0);
    const size_t len = 30000;
    uint8_t *data = make_payload(len, 51);
    struct pmul_dest_spec d = {20, false, 0};
    struct pmul_message m = {data, len, &d, 1, 3, WALL0 / 1000 + 3600, 0};
    CHECK_EQ(pmul_engine_send(a, 0, &m, NULL), 0);
    CHECK_EQ(m.message_id, 77);
    CHECK_EQ(d.msn, 5);
    CHECK_EQ(tx.n, 1 + 30); /* Address + ceil(30000 / 1008) Data_PDUs */
    /* Data first (in reverse, each twice), the Address last */
    for (int i = tx.n - 1; i >= 1; i--) {
        CHECK_EQ(pmul_engine_input(b, 10, tx.pdus[i], tx.lens[i]), 0);
        CHECK_EQ(pmul_engine_input(b, 10, tx.pdus[i], tx.lens[i]), 0);
    }
    CHECK_EQ(rx.delivered, 0);
    CHECK_EQ(pmul_engine_input(b, 20, tx.pdus[0], tx.lens[0]), 0);
    CHECK_EQ(rx.delivered, 1);
    CHECK_MEM(rx.got, rx.got_len, data, len);
    /* everything again: no second delivery */
    for (int i = 0; i < tx.n; i++)
        pmul_engine_input(b, 30, tx.pdus[i], tx.lens[i]);
    CHECK_EQ(rx.delivered, 1);
    /* the ack goes to the originator after the random delay, complete */
    pmul_engine_timeout(b, 30 + 1000);
    CHECK_EQ(rx.acks, 1);
    CHECK_EQ(rx.ack_to, 10);
    struct pmul_pdu ack;
    CHECK_EQ(pmul_decode(rx.ack, rx.ack_len, &ack), (long long)rx.ack_len);
    CHECK_EQ(ack.type, PMUL_ACK);
    CHECK_EQ(ack.source_id, 20);
    CHECK_EQ(ack.u.ack.count, 1);
    struct pmul_ack_iter it;
    struct pmul_ack_entry e;
    pmul_ack_iter_init(&it, &ack);
    CHECK(pmul_ack_iter_next(&it, &e));
    CHECK_EQ(e.source_id, 10);
    CHECK_EQ(e.message_id, 77);
    CHECK_EQ(pmul_missing_count(&e, 0xFFFF), 0);
    /* the sender takes it: done, Ack-Ack queued */
    tx.n = 0;
    CHECK_EQ(pmul_engine_input(a, 2000, rx.ack, rx.ack_len), 0);
    CHECK_EQ(tx.n, 1);
    struct pmul_pdu aa;
    CHECK_EQ(pmul_decode(tx.pdus[0], tx.lens[0], &aa), (long long)tx.lens[0]);
    CHECK(pmul_is_ack_ack(&aa));
    struct pmul_engine_stats st;
    pmul_engine_get_stats(b, &st);
    CHECK(st.duplicates >= 30);
    pmul_engine_free(a);
    pmul_engine_free(b);
    free(data);
}

TEST(missing_list_is_selective_and_bounded_by_mm)
{
    static const struct pmul_callbacks cb = {
        .send = cap_send,
        .deliver = cap_deliver,
        .alloc_message_id = cap_msgid,
        .alloc_msn = cap_msn,
    };
    struct pmul_params p;
    pmul_params_default(&p);
    p.pdu_max = 256;
    p.rate_bps = 0;
    p.ack_delay_max = 0;
    p.mm = 3;
    static struct capture tx, rx;
    memset(&tx, 0, sizeof tx);
    memset(&rx, 0, sizeof rx);
    p.node_id = 10;
    struct pmul_engine *a = pmul_engine_new(&p, &cb, &tx);
    p.node_id = 20;
    struct pmul_engine *b = pmul_engine_new(&p, &cb, &rx);
    pmul_engine_set_wall(a, 0, WALL0);
    pmul_engine_set_wall(b, 0, WALL0);
    uint8_t *data = make_payload(4800, 61); /* 20 Data_PDUs of 240 bytes */
    struct pmul_dest_spec d = {20, false, 0};
    struct pmul_message m = {data, 4800, &d, 1, 0, WALL0 / 1000 + 3600, 0};
    CHECK_EQ(pmul_engine_send(a, 0, &m, NULL), 0);
    CHECK_EQ(tx.n, 21);
    /* lose Data 2, 5, 6, 7, 12 and 20 */
    for (int i = 0; i < tx.n; i++) {
        int seq = i; /* pdus[0] is the Address_PDU */
        if (seq == 2 || (seq >= 5 && seq <= 7) || seq == 12 || seq == 20)
            continue;
        pmul_engine_input(b, 100, tx.pdus[i], tx.lens[i]);
    }
    /* quiet for ACK_PDU_TIME: the receiver reports at most MM=3 ranges */
    pmul_engine_timeout(b, 100 + p.ack_pdu_time);
    CHECK_EQ(rx.acks, 1);
    struct pmul_pdu ack;
    CHECK(pmul_decode(rx.ack, rx.ack_len, &ack) > 0);
    struct pmul_ack_iter it;
    struct pmul_ack_entry e;
    pmul_ack_iter_init(&it, &ack);
    CHECK(pmul_ack_iter_next(&it, &e));
    struct pmul_missing_iter mi;
    uint16_t lo, hi;
    pmul_missing_init(&mi, &e, 20);
    static const uint16_t want[3][2] = {{2, 2}, {5, 7}, {12, 12}};
    int k = 0;
    while (pmul_missing_next_range(&mi, &lo, &hi)) {
        CHECK(k < 3);
        if (k < 3) {
            CHECK_EQ(lo, want[k][0]);
            CHECK_EQ(hi, want[k][1]);
        }
        k++;
    }
    CHECK_EQ(k, 3);
    /* the sender retransmits exactly those at once (all its destinations answered) */
    tx.n = 0;
    pmul_engine_input(a, 200, rx.ack, rx.ack_len);
    pmul_engine_timeout(a, 200);
    CHECK_EQ(tx.n, 1 + 5); /* Address + 2, 5, 6, 7, 12 */
    struct pmul_pdu dp;
    int seqs = 0;
    for (int i = 1; i < tx.n; i++) {
        CHECK(pmul_decode(tx.pdus[i], tx.lens[i], &dp) > 0);
        seqs = seqs * 100 + dp.u.data.seq;
    }
    CHECK_EQ(seqs, 205060712LL);
    pmul_engine_free(a);
    pmul_engine_free(b);
    free(data);
}

TEST(priorities_above_15_are_sent_received_and_acked)
{
    /* ACP 142 allows Priority 0..255: a message at 16, 200 or 255 goes out,
     * arrives with its priority and is acknowledged, and the SIS bearer's
     * table (16 entries) takes it as 15, the least urgent */
    static const struct pmul_callbacks cb = {
        .send = cap_send,
        .deliver = cap_deliver,
        .alloc_message_id = cap_msgid,
        .alloc_msn = cap_msn,
    };
    static const unsigned prios[] = {0, 15, 16, 200, 255};
    for (size_t k = 0; k < UTIL_ARRAY_LEN(prios); k++) {
        struct pmul_params p;
        pmul_params_default(&p);
        p.pdu_max = 1024;
        p.rate_bps = 0;
        p.ack_delay_max = 0;
        static struct capture tx, rx;
        memset(&tx, 0, sizeof tx);
        memset(&rx, 0, sizeof rx);
        p.node_id = 10;
        struct pmul_engine *a = pmul_engine_new(&p, &cb, &tx);
        p.node_id = 20;
        struct pmul_engine *b = pmul_engine_new(&p, &cb, &rx);
        pmul_engine_set_wall(a, 0, WALL0);
        pmul_engine_set_wall(b, 0, WALL0);
        uint8_t *data = make_payload(2500, 71);
        struct pmul_dest_spec d = {20, false, 0};
        struct pmul_message m = {data, 2500, &d, 1, (uint8_t)prios[k], WALL0 / 1000 + 3600, 0};
        CHECK_EQ(pmul_engine_send(a, 0, &m, NULL), 0);
        CHECK_EQ(tx.n, 1 + 3);
        for (int i = 0; i < tx.n; i++) {
            struct pmul_pdu pdu;
            CHECK(pmul_decode(tx.pdus[i], tx.lens[i], &pdu) > 0);
            CHECK_EQ(pdu.priority, prios[k]);
            CHECK_EQ(tx.tx_priority[i], prios[k]);
            CHECK_EQ(pmul_engine_input(b, 10, tx.pdus[i], tx.lens[i]), 0);
        }
        CHECK_EQ(rx.delivered, 1);
        CHECK_EQ(rx.got_priority, prios[k]);
        CHECK_MEM(rx.got, rx.got_len, data, 2500);
        pmul_engine_timeout(b, 10);
        CHECK_EQ(rx.acks, 1);
        CHECK_EQ(rx.ack_priority, prios[k]);
        tx.n = 0;
        CHECK_EQ(pmul_engine_input(a, 20, rx.ack, rx.ack_len), 0);
        struct pmul_engine_stats st;
        pmul_engine_get_stats(a, &st);
        CHECK_EQ(st.messages_acked, 1);
        pmul_engine_get_stats(b, &st);
        CHECK_EQ(st.bad_pdus, 0);
        pmul_engine_free(a);
        pmul_engine_free(b);
        free(data);
    }
    /* the SIS priority: the table's entry, 15's above 15 */
    struct pmul_bearer_config c;
    memset(&c, 0, sizeof c);
    for (int i = 0; i < 16; i++)
        c.sis_priority[i] = (uint8_t)(100 + i); /* distinct, to see which is read */
    CHECK_EQ(pmul_bearer_sis_priority(&c, 0), 100);
    CHECK_EQ(pmul_bearer_sis_priority(&c, 15), 115);
    CHECK_EQ(pmul_bearer_sis_priority(&c, 16), 115);
    CHECK_EQ(pmul_bearer_sis_priority(&c, 200), 115);
    CHECK_EQ(pmul_bearer_sis_priority(&c, 255), 115);
}

/* prio_order_send - keep the priority of each PDU in the order first sent
 * (a retransmission round's repeats are not the queue order under test) */
static int prio_order_send(void *user, const uint8_t *pdu, size_t len, const struct pmul_tx_info *info)
{
    struct capture *c = user;
    struct pmul_pdu p;
    if (pmul_decode(pdu, len, &p) != (int)len)
        return 0;
    uint32_t key = p.message_id << 16 | (p.type == PMUL_DATA ? p.u.data.seq : 0);
    for (int i = 0; i < c->n; i++)
        if (c->lens[i] == key)
            return 0;
    if (c->n < 256) {
        c->lens[c->n] = key;
        c->tx_priority[c->n++] = info->priority;
    }
    return 0;
}

TEST(priority_200_queues_behind_15)
{
    /* 0 is the most urgent: a message at 200 waits behind one at 15 */
    static const struct pmul_callbacks cb = {
        .send = prio_order_send,
        .alloc_message_id = cap_msgid,
        .alloc_msn = cap_msn,
    };
    struct pmul_params p;
    pmul_params_default(&p);
    p.pdu_max = 1024;
    p.rate_bps = 2400;
    p.burst_ms = 0;
    p.node_id = 10;
    static struct capture tx;
    memset(&tx, 0, sizeof tx);
    struct pmul_engine *a = pmul_engine_new(&p, &cb, &tx);
    pmul_engine_set_wall(a, 0, WALL0);
    uint8_t *data = make_payload(5000, 81);
    struct pmul_dest_spec d1 = {20, false, 1}, d2 = {20, false, 2}, d3 = {20, false, 3};
    struct pmul_message low = {data, 5000, &d1, 1, 200, WALL0 / 1000 + 3600, 1};
    struct pmul_message mid = {data, 5000, &d2, 1, 15, WALL0 / 1000 + 3600, 2};
    struct pmul_message last = {data, 5000, &d3, 1, 255, WALL0 / 1000 + 3600, 3};
    CHECK_EQ(pmul_engine_send(a, 0, &low, NULL), 0);
    CHECK_EQ(pmul_engine_send(a, 0, &last, NULL), 0);
    CHECK_EQ(pmul_engine_send(a, 0, &mid, NULL), 0);
    for (util_ms t = 0; t < 600000 && tx.n < 256; t += 1000)
        pmul_engine_timeout(a, t);
    /* the first PDU of the 200 message went at once; then 15 before 200 before 255 */
    CHECK(tx.n >= 3 * 6);
    int seen15 = -1, last200 = -1, first255 = -1;
    for (int i = 1; i < 3 * 6 && i < tx.n; i++) {
        if (tx.tx_priority[i] == 15 && seen15 < 0)
            seen15 = i;
        if (tx.tx_priority[i] == 200)
            last200 = i;
        if (tx.tx_priority[i] == 255 && first255 < 0)
            first255 = i;
    }
    CHECK_EQ(seen15, 1);
    CHECK(last200 > seen15 && first255 > last200);
    pmul_engine_free(a);
    free(data);
}

/* ---- Message_Sequence_Number gaps: final only after gap_wait ---- */

struct gaprx {
    int delivered;
    int gaps;
    uint32_t g_src[256], g_exp[256], g_got[256];
    int warn_lines, late_lines;
    char last_warn[512];
};

/* gap_send - acks go nowhere */
static int gap_send(void *user, const uint8_t *pdu, size_t len, const struct pmul_tx_info *info)
{
    (void)user;
    (void)pdu;
    (void)len;
    (void)info;
    return 0;
}

/* gap_deliver - count deliveries */
static int gap_deliver(void *user, const struct pmul_rx_message *m)
{
    struct gaprx *g = user;
    (void)m;
    g->delivered++;
    return 0;
}

/* gap_cb - the engine's final report of missing messages */
static void gap_cb(void *user, uint32_t src, uint32_t expected, uint32_t got)
{
    struct gaprx *g = user;
    if (g->gaps < 256) {
        g->g_src[g->gaps] = src;
        g->g_exp[g->gaps] = expected;
        g->g_got[g->gaps] = got;
    }
    g->gaps++;
}

/* gap_log - count the sequence-gap warnings and the late arrivals */
static void gap_log(void *user, enum util_log_level level, enum util_log_module module, const char *line)
{
    struct gaprx *g = user;
    (void)module;
    if (strncmp(line, "pmul sequence-gap ", 18) == 0) {
        CHECK_EQ(level, UTIL_LOG_WARN);
        g->warn_lines++;
        snprintf(g->last_warn, sizeof g->last_warn, "%s", line);
    }
    if (strncmp(line, "pmul sequence-late ", 19) == 0) {
        CHECK_EQ(level, UTIL_LOG_DEBUG);
        g->late_lines++;
    }
}

static const struct pmul_callbacks gap_cbs = {.send = gap_send, .deliver = gap_deliver, .gap = gap_cb};

/* gap_engine - a receiver, node 20, waiting `wait` before a gap is final */
static struct pmul_engine *gap_engine(struct gaprx *g, util_ms wait)
{
    memset(g, 0, sizeof *g);
    struct pmul_params p;
    pmul_params_default(&p);
    p.node_id = 20;
    p.rate_bps = 0;
    p.ack_delay_max = 0;
    p.gap_wait = wait;
    struct pmul_engine *e = pmul_engine_new(&p, &gap_cbs, g);
    CHECK(e != NULL);
    pmul_engine_set_wall(e, 0, WALL0);
    util_log_to_sink(gap_log, g);
    return e;
}

/* gap_pdus - feed the Address_PDU (naming node 20 with msn) and/or the one
 * Data_PDU of message msgid from src at now */
static void gap_pdus(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msgid, uint32_t msn,
                     bool addr, bool data)
{
    uint8_t b[256];
    struct pmul_pdu p;
    struct pmul_dest d = {20, msn, NULL};
    if (addr) {
        pmul_pdu_init(&p, PMUL_ADDRESS);
        p.source_id = src;
        p.message_id = msgid;
        p.u.address.total_pdus = 1;
        p.u.address.expiry = (uint32_t)(WALL0 / 1000 + 24 * 3600);
        p.u.address.count = 1;
        p.u.address.dests = &d;
        int n = pmul_encode(&p, b, sizeof b);
        CHECK(n > 0);
        CHECK_EQ(pmul_engine_input(e, now, b, (size_t)n), 0);
    }
    if (data) {
        pmul_pdu_init(&p, PMUL_DATA);
        p.source_id = src;
        p.message_id = msgid;
        p.u.data.seq = 1;
        p.u.data.data = (const uint8_t *)"x";
        p.u.data.len = 1;
        int n = pmul_encode(&p, b, sizeof b);
        CHECK(n > 0);
        CHECK_EQ(pmul_engine_input(e, now, b, (size_t)n), 0);
    }
}

/* gap_msg - a whole message (Address_PDU then Data_PDU) */
static void gap_msg(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msgid, uint32_t msn)
{
    gap_pdus(e, now, src, msgid, msn, true, true);
}

/* gap_run - run the engine's timers up to `until`, as the glue would */
static void gap_run(struct pmul_engine *e, util_ms until)
{
    for (int steps = 0; steps < 1000000; steps++) {
        util_ms t = pmul_engine_next_expiry(e);
        if (t > until)
            break;
        pmul_engine_timeout(e, t);
    }
    pmul_engine_timeout(e, until);
}

/* gap_done - release the engine and the log sink */
static void gap_done(struct pmul_engine *e)
{
    util_log_to_sink(NULL, NULL);
    pmul_engine_free(e);
}

TEST(gap_wait_default_is_generous_and_configurable)
{
    struct pmul_params p;
    pmul_params_default(&p);
    /* several retransmission rounds of ACK_RE-TRANSMISSION_TIME (60 s) */
    CHECK(p.gap_wait >= 5 * p.ack_retransmission_time);
    static const char text[] = "[pmul]\ngap_wait = 45m\n";
    int rc;
    char err[256];
    struct util_conf *conf = util_conf_parse("p.conf", text, strlen(text), err, sizeof err, &rc);
    CHECK(conf != NULL);
    CHECK_EQ(pmul_params_from_conf(conf, &p), 0);
    CHECK_EQ(p.gap_wait, 45 * 60000);
    CHECK_EQ(util_conf_check_unused(conf), 0);
    util_conf_free(conf);
    static const char bad[] = "[pmul]\ngap_wait = soon\n";
    conf = util_conf_parse("p.conf", bad, strlen(bad), err, sizeof err, &rc);
    CHECK(conf != NULL);
    CHECK(pmul_params_from_conf(conf, &p) < 0);
    CHECK_CONTAINS(util_conf_error(conf), "gap_wait");
    util_conf_free(conf);
}

TEST(reordered_messages_are_no_gap)
{
    enum util_log_level was = util_log_get_level();
    util_log_set_level(UTIL_LOG_DEBUG);
    struct gaprx g;
    const util_ms wait = 20 * 60000;
    struct pmul_engine *e = gap_engine(&g, wait);
    /* msn 1, 3, then 2 a moment later */
    gap_msg(e, 0, 10, 101, 1);
    gap_msg(e, 1000, 10, 103, 3);
    gap_msg(e, 2000, 10, 102, 2);
    /* msn 5's Address_PDU was lost: its Data came, msn 6 came, and the
     * retransmitted Address_PDU of 5 comes 3 minutes later */
    gap_msg(e, 3000, 10, 104, 4);
    gap_pdus(e, 4000, 10, 105, 5, false, true);
    gap_msg(e, 5000, 10, 106, 6);
    gap_pdus(e, 5000 + 180000, 10, 105, 5, true, false);
    gap_run(e, 10 * wait);
    CHECK_EQ(g.delivered, 6);
    CHECK_EQ(g.gaps, 0);
    CHECK_EQ(g.warn_lines, 0);
    CHECK_EQ(g.late_lines, 2); /* debug only */
    struct pmul_engine_stats st;
    pmul_engine_get_stats(e, &st);
    CHECK_EQ(st.gaps, 0);
    CHECK_EQ(st.gaps_open, 0);
    gap_done(e);
    util_log_set_level(was);
}

TEST(a_missing_message_is_reported_once_after_the_wait)
{
    struct gaprx g;
    const util_ms wait = 20 * 60000;
    struct pmul_engine *e = gap_engine(&g, wait);
    gap_msg(e, 0, 10, 101, 1);
    gap_msg(e, 1000, 10, 102, 2);
    gap_msg(e, 2000, 10, 104, 4); /* 3 never comes */
    gap_msg(e, 3000, 10, 105, 5);
    struct pmul_engine_stats st;
    pmul_engine_get_stats(e, &st);
    CHECK_EQ(st.gaps_open, 1);
    gap_run(e, 2000 + wait - 1);
    CHECK_EQ(g.gaps, 0);
    CHECK_EQ(g.warn_lines, 0);
    gap_run(e, 2000 + wait);
    CHECK_EQ(g.gaps, 1);
    CHECK_EQ(g.g_src[0], 10);
    CHECK_EQ(g.g_exp[0], 3);
    CHECK_EQ(g.g_got[0], 4);
    CHECK_EQ(g.warn_lines, 1);
    CHECK_CONTAINS(g.last_warn, "pmul sequence-gap src=0.0.0.10 expected_msn=3 got_msn=4 missing=1");
    /* hours later, and msn 3 turning up after all: still one report */
    gap_run(e, 10 * 3600 * 1000ull);
    gap_msg(e, 10 * 3600 * 1000ull, 10, 103, 3);
    gap_run(e, 20 * 3600 * 1000ull);
    CHECK_EQ(g.gaps, 1);
    CHECK_EQ(g.warn_lines, 1);
    pmul_engine_get_stats(e, &st);
    CHECK_EQ(st.gaps, 1);
    CHECK_EQ(st.gaps_open, 0);
    CHECK_EQ(g.delivered, 5);
    gap_done(e);
}

TEST(a_wild_msn_jump_is_bounded_and_reported_once)
{
    struct gaprx g;
    const util_ms wait = 20 * 60000;
    struct pmul_engine *e = gap_engine(&g, wait);
    gap_msg(e, 0, 10, 101, 1);
    gap_msg(e, 1000, 10, 102, 4000000000u); /* a peer claims 4 billion in between */
    struct pmul_engine_stats st;
    pmul_engine_get_stats(e, &st);
    CHECK_EQ(st.gaps_open, 1); /* one record for the range, nothing per number */
    CHECK_EQ(st.sources, 1);
    gap_msg(e, 2000, 10, 103, 7); /* one inside it arrives: two ranges now */
    pmul_engine_get_stats(e, &st);
    CHECK_EQ(st.gaps_open, 2);
    gap_run(e, 1000 + wait);
    CHECK_EQ(g.gaps, 2);
    CHECK_EQ(g.g_exp[0], 2);
    CHECK_EQ(g.g_got[0], 7);
    CHECK_EQ(g.g_exp[1], 8);
    CHECK_EQ(g.g_got[1], 4000000000u);
    CHECK_EQ(g.warn_lines, 2);
    CHECK_CONTAINS(g.last_warn, "missing=3999999992");
    /* the top of the range: no overflow past 0xFFFFFFFF */
    gap_msg(e, 3000000, 10, 104, 0xFFFFFFFFu);
    gap_run(e, 3000000 + wait);
    CHECK_EQ(g.gaps, 3);
    CHECK_EQ(g.g_exp[2], 4000000001u);
    CHECK_EQ(g.g_got[2], 0xFFFFFFFFu);
    gap_msg(e, 6000000, 10, 105, 1); /* back to 1: old, no gap */
    gap_run(e, 6000000 + 2 * wait);
    CHECK_EQ(g.gaps, 3);
    pmul_engine_get_stats(e, &st);
    CHECK_EQ(st.gaps_open, 0);
    gap_done(e);
}

TEST(open_gaps_and_sources_are_bounded)
{
    struct gaprx g;
    const util_ms wait = 20 * 60000;
    struct pmul_engine *e = gap_engine(&g, wait);
    /* 100 holes from one source: msn 1, 3, 5, ... 201 */
    for (uint32_t k = 0; k <= 100; k++)
        gap_msg(e, 1000 * k, 10, 1000 + k, 1 + 2 * k);
    struct pmul_engine_stats st;
    pmul_engine_get_stats(e, &st);
    CHECK_EQ(st.gaps_open, PMUL_RX_MAX_GAPS);
    /* the oldest beyond the bound are final at once, each once */
    CHECK_EQ(g.gaps, 100 - PMUL_RX_MAX_GAPS);
    CHECK_EQ(g.g_exp[0], 2);
    CHECK_EQ(g.g_got[0], 3);
    gap_run(e, 100000 + wait);
    CHECK_EQ(g.gaps, 100);
    int ok = 1;
    for (int i = 0; i < 100 && i < g.gaps; i++)
        ok &= g.g_exp[i] == (uint32_t)(2 + 2 * i) && g.g_got[i] == (uint32_t)(3 + 2 * i);
    CHECK(ok);
    /* many sources (spoofed Source_IDs): the table stays bounded */
    for (uint32_t s = 0; s < PMUL_RX_MAX_SOURCES + 500; s++) {
        gap_msg(e, 200000 + wait, 1000 + s, 1, 1);
        gap_msg(e, 200000 + wait, 1000 + s, 2, 3);
    }
    pmul_engine_get_stats(e, &st);
    CHECK(st.sources <= PMUL_RX_MAX_SOURCES);
    CHECK(st.gaps_open <= PMUL_RX_MAX_SOURCES);
    gap_done(e);
}

/* main - run the simulations */
int main(void)
{
    util_log_set_level(getenv("SIM_DEBUG") ? UTIL_LOG_DEBUG : UTIL_LOG_WARN);
    RUN(one_destination_no_loss);
    RUN(eight_destinations_no_loss);
    RUN(one_destination_10_percent_loss);
    RUN(eight_destinations_10_percent_loss);
    RUN(one_destination_30_percent_loss);
    RUN(eight_destinations_30_percent_loss);
    RUN(four_destinations_10_percent_loss_costs_little_time);
    RUN(receiver_in_emcon_for_six_hours);
    RUN(expiry_sends_discard_and_fails_open_destinations);
    RUN(receiver_restarted_mid_message);
    RUN(reordered_and_duplicated_pdus_deliver_once);
    RUN(missing_list_is_selective_and_bounded_by_mm);
    RUN(priorities_above_15_are_sent_received_and_acked);
    RUN(priority_200_queues_behind_15);
    RUN(gap_wait_default_is_generous_and_configurable);
    RUN(reordered_messages_are_no_gap);
    RUN(a_missing_message_is_reported_once_after_the_wait);
    RUN(a_wild_msn_jump_is_bounded_and_reported_once);
    RUN(open_gaps_and_sources_are_bounded);
    return harness_done();
}
