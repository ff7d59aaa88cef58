/* pmul_interop_test.c - issue 14: the P_MUL engine (pmul/engine*.c) against
 * the recorded PDUs of an independent ACP 142 implementation, libjpmul
 * (tests/data/pmul/acp142-libjpmul), and its two readings of ACP 142 that
 * differ from ours:
 *  - its Ack_Info_Entry.Source_ID holds the ACKING node's id where ACP 142
 *    5.3.5 puts the originator's: taken, where unambiguous (an entry naming
 *    the acker itself can only be about a message of ours), and said once
 *    per peer (pmul peer-convention); a per-node option makes our own acks
 *    to such a peer name us (pmul_callbacks.ack_names_acker);
 *  - it pads short Data_PDUs with zeros beyond Length_of_PDU: taken.
 * Radio time is passed in; nothing here reads a clock.
 */
#include "harness.h"
#include "pmul/pmul.h"
#include "pmul_vectors.h"

#define JP_SENDER   0x7f000001u /* 127.0.0.1 in the recordings */
#define JP_RECEIVER 0x7f000002u /* 127.0.0.2 */
#define WALL_S      0x6b03c0d8LL

struct node {
    struct pmul_engine *e;
    bool acker_convention; /* ack_names_acker's answer */
    int acks, others;
    uint8_t ack[512];
    size_t ack_len;
    uint16_t data_seqs[64];
    int ndata;
    int delivered;
    uint8_t got[512];
    size_t got_len;
    int dest_acked;
    uint32_t next_msgid;
    int lines, convention_lines;
};

/* nd_send - record what the engine puts on the air */
static int nd_send(void *user, const uint8_t *pdu, size_t len, const struct pmul_tx_info *info)
{
    struct node *n = user;
    struct pmul_pdu p;
    CHECK(pmul_decode(pdu, len, &p) == (int)len);
    if (info->type == PMUL_ACK && len <= sizeof n->ack) {
        n->acks++;
        memcpy(n->ack, pdu, len);
        n->ack_len = len;
    } else if (info->type == PMUL_DATA && n->ndata < 64) {
        n->data_seqs[n->ndata++] = p.u.data.seq;
    } else {
        n->others++;
    }
    return 0;
}

/* nd_deliver - keep the message */
static int nd_deliver(void *user, const struct pmul_rx_message *m)
{
    struct node *n = user;
    n->delivered++;
    if (m->len <= sizeof n->got) {
        memcpy(n->got, m->data, m->len);
        n->got_len = m->len;
    }
    return 0;
}

/* nd_dest_done - count acked destinations */
static void nd_dest_done(void *user, uint64_t handle, uint32_t msgid, uint32_t dest, int result)
{
    struct node *n = user;
    (void)handle;
    (void)msgid;
    (void)dest;
    n->dest_acked += result == PMUL_DEST_ACKED;
}

/* nd_msgid - the Message_IDs of the recordings, in turn */
static int nd_msgid(void *user, uint32_t *id)
{
    struct node *n = user;
    *id = n->next_msgid;
    return 0;
}

/* nd_msn - 1 */
static int nd_msn(void *user, uint32_t dest, uint32_t *msn)
{
    (void)user;
    (void)dest;
    *msn = 1;
    return 0;
}

/* nd_acker - the per-node option: our acks name us */
static bool nd_acker(void *user, uint32_t src)
{
    const struct node *n = user;
    (void)src;
    return n->acker_convention;
}

/* nd_log - count pmul lines, and peer-convention ones */
static void nd_log(void *user, enum util_log_level level, enum util_log_module module,
                   const char *line)
{
    struct node *n = user;
    (void)module;
    if (level > UTIL_LOG_NOTICE)
        return;
    n->lines++;
    n->convention_lines += strstr(line, "pmul peer-convention ") != NULL;
}

static const struct pmul_callbacks nd_cbs = {
    .send = nd_send,
    .deliver = nd_deliver,
    .dest_done = nd_dest_done,
    .alloc_message_id = nd_msgid,
    .alloc_msn = nd_msn,
    .ack_names_acker = nd_acker,
};

/* nd_new - an engine as node id, PDUs up to pdu_max */
static void nd_new(struct node *n, uint32_t id, size_t pdu_max)
{
    memset(n, 0, sizeof *n);
    struct pmul_params p;
    pmul_params_default(&p);
    p.node_id = id;
    p.rate_bps = 0;
    p.ack_delay_max = 0;
    p.pdu_max = pdu_max;
    n->e = pmul_engine_new(&p, &nd_cbs, n);
    CHECK(n->e != NULL);
    pmul_engine_set_wall(n->e, 0, WALL_S * 1000);
    util_log_to_sink(nd_log, n);
}

/* nd_free - the engine and the log sink go */
static void nd_free(struct node *n)
{
    util_log_to_sink(NULL, NULL);
    pmul_engine_free(n->e);
}

/* feed - a recorded PDU (plus pad zero bytes) into the engine */
static void feed(struct node *n, util_ms now, const char *name, size_t pad)
{
    struct vector v;
    CHECK_EQ(load_vector(name, &v), 0);
    CHECK(v.len + pad <= sizeof v.pdu);
    memset(v.pdu + v.len, 0, pad);
    CHECK_EQ(pmul_engine_input(n->e, now, v.pdu, v.len + pad), 0);
}

/* send_msg - send len bytes to JP_RECEIVER as Message_ID msgid */
static void send_msg(struct node *n, util_ms now, uint32_t msgid, const void *data, size_t len)
{
    struct pmul_dest_spec d = {JP_RECEIVER, false, 0};
    struct pmul_message m = {(const uint8_t *)data, len, &d, 1, 2, WALL_S + 120, 0};
    uint64_t h;
    n->next_msgid = msgid;
    CHECK_EQ(pmul_engine_send(n->e, now, &m, &h), 0);
    pmul_engine_timeout(n->e, now);
}

/* first_entry - the first Ack_Info_Entry of the last Ack_PDU sent */
static bool first_entry(const struct node *n, struct pmul_pdu *p, struct pmul_ack_entry *a)
{
    struct pmul_ack_iter it;
    if (!n->acks || pmul_decode(n->ack, n->ack_len, p) < 0)
        return false;
    pmul_ack_iter_init(&it, p);
    return pmul_ack_iter_next(&it, a);
}

TEST(an_ack_naming_the_acker_completes_our_message)
{
    /* run1: libjpmul acked our 37 bytes with its own id in the entry */
    static struct node n;
    nd_new(&n, JP_SENDER, 2042);
    const char *hello = "Hello from libjpmul over P_MUL/ACP142";
    send_msg(&n, 0, 0x6b03c0d8, hello, 37);
    CHECK_EQ(n.ndata, 1);
    feed(&n, 1000, "run1_ack_pdu_1", 0);
    struct pmul_engine_stats st;
    pmul_engine_get_stats(n.e, &st);
    CHECK_EQ(n.dest_acked, 1);
    CHECK_EQ(st.acks_acker_id, 1);
    CHECK_EQ(st.messages_acked, 1);
    CHECK_EQ(n.convention_lines, 1);
    /* the same ack again (it missed our Ack-Ack): no second line */
    feed(&n, 2000, "run1_ack_pdu_1", 0);
    CHECK_EQ(n.convention_lines, 1);
    nd_free(&n);
}

TEST(a_missing_list_naming_the_acker_is_served)
{
    /* run2: libjpmul reports Data_PDU 2 missing, then acks the whole */
    static struct node n;
    nd_new(&n, JP_SENDER, 64);
    char msg[150];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (char)('a' + i % 26);
    send_msg(&n, 0, 0x6b03c123, msg, sizeof msg);
    int first_round = n.ndata;
    CHECK(first_round >= 3);
    feed(&n, 1000, "run2_ack_pdu_1", 0);
    pmul_engine_timeout(n.e, 1000 + 60000);
    /* the retransmission is selective: Data_PDU 2 and nothing else */
    CHECK_EQ(n.ndata, first_round + 1);
    CHECK_EQ(n.data_seqs[first_round], 2);
    feed(&n, 70000, "run2_ack_pdu_2", 0);
    CHECK_EQ(n.dest_acked, 1);
    nd_free(&n);
}

TEST(an_entry_naming_the_acker_about_no_message_of_ours_is_ignored)
{
    static struct node n;
    nd_new(&n, JP_SENDER, 2042);
    send_msg(&n, 0, 0x11111111, "x", 1); /* not the Message_ID the ack names */
    feed(&n, 1000, "run1_ack_pdu_1", 0);
    struct pmul_engine_stats st;
    pmul_engine_get_stats(n.e, &st);
    CHECK_EQ(n.dest_acked, 0);
    CHECK_EQ(st.acks_acker_id, 0);
    CHECK_EQ(n.convention_lines, 0);
    nd_free(&n);
}

TEST(padded_data_pdus_are_taken)
{
    /* run5 as libjpmul sent it, each Data_PDU padded with zeros to 96 bytes */
    static struct node n;
    nd_new(&n, JP_RECEIVER, 2042);
    feed(&n, 0, "run5_address_pdu_1", 0);
    for (int k = 1; k <= 5; k++) {
        char name[64];
        snprintf(name, sizeof name, "run5_data_pdu_%d", k);
        struct vector v;
        CHECK_EQ(load_vector(name, &v), 0);
        feed(&n, 0, name, 96 - v.len);
    }
    struct pmul_engine_stats st;
    pmul_engine_get_stats(n.e, &st);
    CHECK_EQ(n.delivered, 1);
    CHECK_EQ(n.got_len, 200);
    for (size_t i = 0; i < 200 && i < n.got_len; i++)
        CHECK_EQ(n.got[i], 'A' + i % 26);
    CHECK_EQ(st.padded_in, 5);
    CHECK_EQ(st.bad_pdus, 0);
    CHECK_EQ(n.convention_lines, 1);
    nd_free(&n);
}

TEST(our_acks_follow_the_standard_or_the_peers_reading)
{
    /* run1's Address_PDU and Data_PDU, received twice: acked with the
     * originator's id (ACP 142), then, for a node configured so, with ours,
     * as libjpmul's own ack of the same message reads */
    for (int acker = 0; acker <= 1; acker++) {
        static struct node n;
        nd_new(&n, JP_RECEIVER, 2042);
        n.acker_convention = acker;
        feed(&n, 0, "run1_address_pdu_1", 0);
        feed(&n, 0, "run1_data_pdu_1", 0);
        pmul_engine_timeout(n.e, 0);
        CHECK_EQ(n.delivered, 1);
        CHECK_EQ(n.got_len, 37);
        struct pmul_pdu p;
        struct pmul_ack_entry a;
        CHECK(first_entry(&n, &p, &a));
        CHECK_EQ(p.source_id, JP_RECEIVER);
        CHECK_EQ(a.message_id, 0x6b03c0d8);
        CHECK_EQ(pmul_missing_count(&a, 1), 0);
        CHECK_EQ(a.source_id, acker ? JP_RECEIVER : JP_SENDER);
        if (acker) {
            /* the entry is byte for byte libjpmul's */
            struct vector v;
            CHECK_EQ(load_vector("run1_ack_pdu_1", &v), 0);
            CHECK(n.ack_len >= 24);
            CHECK_MEM(n.ack + 14, 10, v.pdu + 14, 10);
        }
        nd_free(&n);
    }
}

int main(void)
{
    RUN(an_ack_naming_the_acker_completes_our_message);
    RUN(a_missing_list_naming_the_acker_is_served);
    RUN(an_entry_naming_the_acker_about_no_message_of_ours_is_ignored);
    RUN(padded_data_pdus_are_taken);
    RUN(our_acks_follow_the_standard_or_the_peers_reading);
    return harness_done();
}
