/* s5066_codec_test.c - unit tests for the STANAG 5066 Ed.3 Annex A SIS codec
 * (s5066/sis_codec.c, A.2.2): golden bytes written out by hand from the
 * Annex A / Wireshark packet-s5066sis.c layouts for every primitive 1..27,
 * field checks, round trips, every decoder error path, encoder range
 * checks, addresses, the client transport header and the stream decoder.
 */
#include "harness.h"
#include "s5066/s5066.h"

#include <stdint.h>
#include <string.h>

static uint8_t encbuf[S5066_HDR_LEN + S5066_MAX_SIZE + 16];

/* golden - p encodes to exactly g, g decodes to p (into *d), every prefix of
 * g is truncated, a byte after g is not read, and *d re-encodes to g */
static void golden(const struct s5066_prim *p, const uint8_t *g, size_t glen, struct s5066_prim *d)
{
    CHECK_EQ(s5066_encoded_len(p), glen);
    int n = s5066_encode(p, encbuf, sizeof encbuf);
    CHECK_EQ(n, glen);
    if (n > 0)
        CHECK_MEM(encbuf, (size_t)n, g, glen);
    CHECK_EQ(s5066_encode(p, encbuf, glen - 1), S5066_ERR_OVERFLOW);
    CHECK_EQ(s5066_encode(p, NULL, 0), S5066_ERR_OVERFLOW);

    CHECK_EQ(s5066_decode(g, glen, d), glen);
    CHECK(s5066_prim_equal(p, d));
    CHECK_EQ(d->type, g[5]);

    for (size_t k = 0; k < glen; k++) {
        struct s5066_prim t;
        int rc = s5066_decode(g, k, &t);
        if (rc != S5066_ERR_TRUNCATED) {
            printf("# decode of %zu of %zu bytes returned %d\n", k, glen, rc);
            CHECK(0);
        }
    }
    /* the primitive cut short with a size field that agrees with the cut:
     * the fields do not fit (a management message only needs its type) */
    for (size_t k = 1; k + S5066_HDR_LEN < glen; k++) {
        struct s5066_prim t;
        memcpy(encbuf, g, S5066_HDR_LEN + k);
        util_put_u16(encbuf + 3, (uint16_t)k);
        int rc = s5066_decode(encbuf, S5066_HDR_LEN + k, &t);
        int mgmt = g[5] == S5066_MANAGEMENT_MSG_REQUEST || g[5] == S5066_MANAGEMENT_MSG_INDICATION;
        /* the Rockwell layout cut by its 4 extra bytes is the standard one */
        int rockwell = (g[5] == S5066_UNIDATA_INDICATION ||
                        g[5] == S5066_EXPEDITED_UNIDATA_INDICATION) &&
                       (g[11] >> 4) != S5066_TX_NON_ARQ_ERRORS &&
                       glen - S5066_HDR_LEN == 13u + util_get_u16(g + 16) + 4;
        int valid = (mgmt && k >= 2) || (rockwell && k + 4 + S5066_HDR_LEN == glen);
        int want = valid ? (int)(S5066_HDR_LEN + k) : S5066_ERR_SIZE_MISMATCH;
        if (rc != want) {
            printf("# size %zu of %zu returned %d\n", k, glen - S5066_HDR_LEN, rc);
            CHECK(0);
        }
    }
    memcpy(encbuf, g, glen);
    encbuf[glen] = 0x90;
    struct s5066_prim t;
    CHECK_EQ(s5066_decode(encbuf, glen + 1, &t), glen);
    CHECK(s5066_prim_equal(&t, d));

    n = s5066_encode(d, encbuf, sizeof encbuf);
    CHECK_EQ(n, glen);
    if (n > 0)
        CHECK_MEM(encbuf, (size_t)n, g, glen);
}

/* wrong_size - g with one more byte inside its size, and with one fewer,
 * both S5066_ERR_SIZE_MISMATCH */
static void wrong_size(const uint8_t *g, size_t glen)
{
    struct s5066_prim t;
    uint8_t buf[256];
    memcpy(buf, g, glen);
    buf[glen] = 0x00;
    util_put_u16(buf + 3, (uint16_t)(util_get_u16(g + 3) + 1));
    CHECK_EQ(s5066_decode(buf, glen + 1, &t), S5066_ERR_SIZE_MISMATCH);
    memcpy(buf, g, glen);
    util_put_u16(buf + 3, (uint16_t)(util_get_u16(g + 3) - 1));
    CHECK_EQ(s5066_decode(buf, glen - 1, &t), S5066_ERR_SIZE_MISMATCH);
}

/* addr_is - an address has these fields */
static int addr_is(const struct s5066_addr *a, uint32_t addr, int group, int size)
{
    return a->addr == addr && a->group == group && a->size == size;
}

#define NODE_0_0_1_2 s5066_addr_make(0x102, false)
#define NODE_0_0_0_1 s5066_addr_make(0x1, false)
#define GROUP_16_0_0_5 s5066_addr_make(0x5, true)

/* ---- 1..5 bind ---------------------------------------------------------- */

TEST(bind_request)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x04, 0x01, 0x27, 0x16, 0x30};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_BIND_REQUEST);
    p.u.bind_request.sap = 2;
    p.u.bind_request.rank = 7;
    p.u.bind_request.service.tx_mode = S5066_TX_ARQ;
    p.u.bind_request.service.confirm = S5066_CONFIRM_NODE;
    p.u.bind_request.service.order = S5066_ORDER_AS_ARRIVED;
    p.u.bind_request.service.extended = 0;
    p.u.bind_request.service.min_retx = 3;
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.bind_request.sap, 2);
    CHECK_EQ(d.u.bind_request.rank, 7);
    CHECK_EQ(d.u.bind_request.service.tx_mode, 1);
    CHECK_EQ(d.u.bind_request.service.confirm, 1);
    CHECK_EQ(d.u.bind_request.service.order, 1);
    CHECK_EQ(d.u.bind_request.service.extended, 0);
    CHECK_EQ(d.u.bind_request.service.min_retx, 3);
    CHECK_EQ(d.u.bind_request.unused, 0);
    wrong_size(g, sizeof g);
}

TEST(bind_request_unused_bits)
{
    /* SAP 15 rank 15, tx mode 15, confirm 3, order 0, extended 1, retx 15, unused 0xA */
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x04, 0x01, 0xFF, 0xFD, 0xFA};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_BIND_REQUEST);
    p.u.bind_request.sap = 15;
    p.u.bind_request.rank = 15;
    p.u.bind_request.service.tx_mode = 15;
    p.u.bind_request.service.confirm = 3;
    p.u.bind_request.service.order = 0;
    p.u.bind_request.service.extended = 1;
    p.u.bind_request.service.min_retx = 15;
    p.u.bind_request.unused = 0xA;
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.bind_request.sap, 15);
    CHECK_EQ(d.u.bind_request.rank, 15);
    CHECK_EQ(d.u.bind_request.service.tx_mode, 15);
    CHECK_EQ(d.u.bind_request.service.confirm, 3);
    CHECK_EQ(d.u.bind_request.service.order, 0);
    CHECK_EQ(d.u.bind_request.service.extended, 1);
    CHECK_EQ(d.u.bind_request.service.min_retx, 15);
    CHECK_EQ(d.u.bind_request.unused, 0xA);
}

TEST(unbind_request)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x01, 0x02};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_UNBIND_REQUEST);
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.type, S5066_UNBIND_REQUEST);
    wrong_size(g, sizeof g);
}

TEST(bind_accepted)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x04, 0x03, 0x20, 0x08, 0x00};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_BIND_ACCEPTED);
    p.u.bind_accepted.sap = 2;
    p.u.bind_accepted.mtu = 2048;
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.bind_accepted.sap, 2);
    CHECK_EQ(d.u.bind_accepted.unused, 0);
    CHECK_EQ(d.u.bind_accepted.mtu, 2048);
    wrong_size(g, sizeof g);
}

TEST(bind_rejected)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x02, 0x04, 0x03};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_BIND_REJECTED);
    p.u.reason.reason = S5066_BIND_REJ_SAP_IN_USE;
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.reason.reason, 3);
    wrong_size(g, sizeof g);
}

TEST(unbind_indication)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x02, 0x05, 0x02};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_UNBIND_INDICATION);
    p.u.reason.reason = S5066_UNBIND_INACTIVITY;
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.reason.reason, 2);
    wrong_size(g, sizeof g);
}

/* ---- 6..13 hard links ------------------------------------------------------ */

TEST(hard_link_establish)
{
    /* type 2, priority 1, remote SAP 3 -> 10 01 0011 = 0x93; 0.0.1.2 size 7 */
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x06, 0x06, 0x93, 0xE0, 0x00, 0x01, 0x02};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_HARD_LINK_ESTABLISH);
    p.u.hard_link.link_type = 2;
    p.u.hard_link.link_priority = 1;
    p.u.hard_link.sap = 3;
    p.u.hard_link.remote = NODE_0_0_1_2;
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.hard_link.link_type, 2);
    CHECK_EQ(d.u.hard_link.link_priority, 1);
    CHECK_EQ(d.u.hard_link.sap, 3);
    CHECK(addr_is(&d.u.hard_link.remote, 0x102, 0, 7));
    CHECK_EQ(d.u.hard_link.status, 0);
    CHECK_EQ(d.u.hard_link.reason, 0);
    wrong_size(g, sizeof g);
}

TEST(hard_link_terminate)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x05, 0x07, 0xE0, 0x00, 0x01, 0x02};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_HARD_LINK_TERMINATE);
    p.u.hard_link.remote = NODE_0_0_1_2;
    golden(&p, g, sizeof g, &d);
    CHECK(addr_is(&d.u.hard_link.remote, 0x102, 0, 7));
    CHECK_EQ(d.u.hard_link.link_type, 0);
    CHECK_EQ(d.u.hard_link.sap, 0);
    wrong_size(g, sizeof g);
}

TEST(hard_link_established)
{
    /* status 1; type 1, priority 3, SAP 2 -> 01 11 0010 = 0x72; 1.2.3.4 */
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x07, 0x08, 0x01, 0x72, 0xE1, 0x02, 0x03, 0x04};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_HARD_LINK_ESTABLISHED);
    p.u.hard_link.status = 1;
    p.u.hard_link.link_type = 1;
    p.u.hard_link.link_priority = 3;
    p.u.hard_link.sap = 2;
    p.u.hard_link.remote = s5066_addr_make(0x01020304, false);
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.hard_link.status, 1);
    CHECK_EQ(d.u.hard_link.link_type, 1);
    CHECK_EQ(d.u.hard_link.link_priority, 3);
    CHECK_EQ(d.u.hard_link.sap, 2);
    CHECK(addr_is(&d.u.hard_link.remote, 0x01020304, 0, 7));
    wrong_size(g, sizeof g);
}

TEST(hard_link_rejected)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x07, 0x09, 0x03, 0x05, 0xE0, 0x00, 0x01, 0x02};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_HARD_LINK_REJECTED);
    p.u.hard_link.reason = 3;
    p.u.hard_link.sap = 5;
    p.u.hard_link.remote = NODE_0_0_1_2;
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.hard_link.reason, 3);
    CHECK_EQ(d.u.hard_link.status, 0);
    CHECK_EQ(d.u.hard_link.link_type, 0);
    CHECK_EQ(d.u.hard_link.link_priority, 0);
    CHECK_EQ(d.u.hard_link.sap, 5);
    CHECK(addr_is(&d.u.hard_link.remote, 0x102, 0, 7));
    wrong_size(g, sizeof g);
}

TEST(hard_link_terminated)
{
    /* reason 5; type 2, priority 2, SAP 15 -> 0xAF; 15.255.255.255 */
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x07, 0x0A, 0x05, 0xAF, 0xEF, 0xFF, 0xFF, 0xFF};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_HARD_LINK_TERMINATED);
    p.u.hard_link.reason = 5;
    p.u.hard_link.link_type = 2;
    p.u.hard_link.link_priority = 2;
    p.u.hard_link.sap = 15;
    p.u.hard_link.remote = s5066_addr_make(0x0FFFFFFF, false);
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.hard_link.reason, 5);
    CHECK_EQ(d.u.hard_link.link_type, 2);
    CHECK_EQ(d.u.hard_link.link_priority, 2);
    CHECK_EQ(d.u.hard_link.sap, 15);
    CHECK(addr_is(&d.u.hard_link.remote, 0x0FFFFFFF, 0, 7));
    wrong_size(g, sizeof g);
}

TEST(hard_link_indication)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x07, 0x0B, 0x00, 0x89, 0xE0, 0x00, 0x00, 0x01};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_HARD_LINK_INDICATION);
    p.u.hard_link.status = 0;
    p.u.hard_link.link_type = 2;
    p.u.hard_link.sap = 9;
    p.u.hard_link.remote = NODE_0_0_0_1;
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.hard_link.status, 0);
    CHECK_EQ(d.u.hard_link.link_type, 2);
    CHECK_EQ(d.u.hard_link.link_priority, 0);
    CHECK_EQ(d.u.hard_link.sap, 9);
    CHECK(addr_is(&d.u.hard_link.remote, 1, 0, 7));
    wrong_size(g, sizeof g);
}

TEST(hard_link_accept)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x06, 0x0C, 0x89, 0xE0, 0x00, 0x00, 0x01};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_HARD_LINK_ACCEPT);
    p.u.hard_link.link_type = 2;
    p.u.hard_link.sap = 9;
    p.u.hard_link.remote = NODE_0_0_0_1;
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.hard_link.link_type, 2);
    CHECK_EQ(d.u.hard_link.link_priority, 0);
    CHECK_EQ(d.u.hard_link.sap, 9);
    CHECK(addr_is(&d.u.hard_link.remote, 1, 0, 7));
    wrong_size(g, sizeof g);
}

TEST(hard_link_reject)
{
    /* reason 1; type 2, priority 3, SAP 9 -> 0xB9; 0.0.0.1 with address size 4 */
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x07, 0x0D, 0x01, 0xB9, 0x80, 0x00, 0x00, 0x01};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_HARD_LINK_REJECT);
    p.u.hard_link.reason = 1;
    p.u.hard_link.link_type = 2;
    p.u.hard_link.link_priority = 3;
    p.u.hard_link.sap = 9;
    p.u.hard_link.remote = NODE_0_0_0_1;
    p.u.hard_link.remote.size = 4;
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.hard_link.reason, 1);
    CHECK_EQ(d.u.hard_link.link_type, 2);
    CHECK_EQ(d.u.hard_link.link_priority, 3);
    CHECK_EQ(d.u.hard_link.sap, 9);
    CHECK(addr_is(&d.u.hard_link.remote, 1, 0, 4));
    wrong_size(g, sizeof g);
}

/* ---- 14..19 ------------------------------------------------------------------ */

TEST(subnet_availability)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x03, 0x0E, 0x02, 0x01};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_SUBNET_AVAILABILITY);
    p.u.avail.status = S5066_SUBNET_RECEIVE_ONLY;
    p.u.avail.reason = S5066_SUBNET_REASON_EMCON;
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.avail.status, 2);
    CHECK_EQ(d.u.avail.reason, 1);
    wrong_size(g, sizeof g);
}

TEST(dataflow_on_off_keep_alive)
{
    static const uint8_t on[] = {0x90, 0xEB, 0x00, 0x00, 0x01, 0x0F};
    static const uint8_t off[] = {0x90, 0xEB, 0x00, 0x00, 0x01, 0x10};
    static const uint8_t ka[] = {0x90, 0xEB, 0x00, 0x00, 0x01, 0x11};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_DATAFLOW_ON);
    golden(&p, on, sizeof on, &d);
    CHECK_EQ(d.type, 15);
    wrong_size(on, sizeof on);
    s5066_prim_init(&p, S5066_DATAFLOW_OFF);
    golden(&p, off, sizeof off, &d);
    CHECK_EQ(d.type, 16);
    wrong_size(off, sizeof off);
    s5066_prim_init(&p, S5066_KEEP_ALIVE);
    golden(&p, ka, sizeof ka, &d);
    CHECK_EQ(d.type, 17);
    wrong_size(ka, sizeof ka);
}

TEST(management_message)
{
    static const uint8_t req[] = {0x90, 0xEB, 0x00, 0x00, 0x04, 0x12, 0x42, 0x68, 0x69};
    static const uint8_t ind[] = {0x90, 0xEB, 0x00, 0x00, 0x02, 0x13, 0x01};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_MANAGEMENT_MSG_REQUEST);
    p.u.mgmt.msg_type = 0x42;
    p.u.mgmt.body = (const uint8_t *)"hi";
    p.u.mgmt.body_len = 2;
    golden(&p, req, sizeof req, &d);
    CHECK_EQ(d.u.mgmt.msg_type, 0x42);
    CHECK_EQ(d.u.mgmt.body_len, 2);
    CHECK(d.u.mgmt.body == req + 7); /* points into the input */
    s5066_prim_init(&p, S5066_MANAGEMENT_MSG_INDICATION);
    p.u.mgmt.msg_type = 0x01;
    golden(&p, ind, sizeof ind, &d);
    CHECK_EQ(d.u.mgmt.msg_type, 1);
    CHECK_EQ(d.u.mgmt.body_len, 0);
    /* no message type byte */
    static const uint8_t shortm[] = {0x90, 0xEB, 0x00, 0x00, 0x01, 0x13};
    CHECK_EQ(s5066_decode(shortm, sizeof shortm, &d), S5066_ERR_SIZE_MISMATCH);
}

/* ---- 20..27 unidata ------------------------------------------------------------ */

/* client transport header (conn 0, U_PDU id 1, segment 0, ACP 142) and "PM" */
static const uint8_t updu_pm[] = {0x00, 0x01, 0x00, 0x00, 0x20, 0x00, 0x50, 0x4D};

TEST(unidata_request)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x14, 0x14, 0x62, 0xF0, 0x00, 0x00, 0x05,
                                0x20, 0x2A, 0xBC, 0xDE, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00,
                                0x20, 0x00, 0x50, 0x4D};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_UNIDATA_REQUEST);
    p.u.req.priority = 6;
    p.u.req.sap = 2;
    p.u.req.dest = GROUP_16_0_0_5;
    p.u.req.mode.tx_mode = S5066_TX_NON_ARQ;
    p.u.req.mode.min_retx = 2;
    p.u.req.ttl = 0xABCDE;
    p.u.req.updu = updu_pm;
    p.u.req.updu_len = sizeof updu_pm;
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.req.priority, 6);
    CHECK_EQ(d.u.req.sap, 2);
    CHECK(addr_is(&d.u.req.dest, 5, 1, 7));
    CHECK_EQ(d.u.req.mode.tx_mode, 2);
    CHECK_EQ(d.u.req.mode.confirm, 0);
    CHECK_EQ(d.u.req.mode.order, 0);
    CHECK_EQ(d.u.req.mode.extended, 0);
    CHECK_EQ(d.u.req.mode.min_retx, 2);
    CHECK_EQ(d.u.req.ttl, 0xABCDE);
    CHECK_EQ(d.u.req.updu_len, 8);
    CHECK(d.u.req.updu == g + 17);
    CHECK_MEM(d.u.req.updu, d.u.req.updu_len, updu_pm, sizeof updu_pm);
    struct s5066_client_hdr h;
    CHECK_EQ(s5066_client_hdr_decode(d.u.req.updu, d.u.req.updu_len, &h), 6);
    CHECK_EQ(h.app_id, S5066_APP_ID_ACP142);
    CHECK_EQ(h.updu_id, 1);
    wrong_size(g, sizeof g);
    /* U_PDU size field one more / one less than the bytes present */
    uint8_t b[sizeof g];
    memcpy(b, g, sizeof g);
    b[16] = 0x09;
    CHECK_EQ(s5066_decode(b, sizeof b, &d), S5066_ERR_SIZE_MISMATCH);
    b[16] = 0x07;
    CHECK_EQ(s5066_decode(b, sizeof b, &d), S5066_ERR_SIZE_MISMATCH);
}

TEST(unidata_request_ttl_bits)
{
    /* TTL's top nibble shares a byte with min_retx: 0 | F, then FF FF */
    static const uint8_t g1[] = {0x90, 0xEB, 0x00, 0x00, 0x0C, 0x14, 0xF1, 0xE0, 0x00, 0x01, 0x02,
                                 0x10, 0x0F, 0xFF, 0xFF, 0x00, 0x00};
    /* min_retx 15 with TTL 0x10000: F | 1, then 00 00 */
    static const uint8_t g2[] = {0x90, 0xEB, 0x00, 0x00, 0x0C, 0x14, 0x01, 0xE0, 0x00, 0x01, 0x02,
                                 0x20, 0xF1, 0x00, 0x00, 0x00, 0x00};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_UNIDATA_REQUEST);
    p.u.req.priority = 15;
    p.u.req.sap = 1;
    p.u.req.dest = NODE_0_0_1_2;
    p.u.req.mode.tx_mode = S5066_TX_ARQ;
    p.u.req.ttl = S5066_MAX_TTL;
    golden(&p, g1, sizeof g1, &d);
    CHECK_EQ(d.u.req.ttl, 0xFFFFF);
    CHECK_EQ(d.u.req.mode.min_retx, 0);
    CHECK_EQ(d.u.req.priority, 15);
    CHECK_EQ(d.u.req.updu_len, 0);

    s5066_prim_init(&p, S5066_UNIDATA_REQUEST);
    p.u.req.sap = 1;
    p.u.req.dest = NODE_0_0_1_2;
    p.u.req.mode.tx_mode = S5066_TX_NON_ARQ;
    p.u.req.mode.min_retx = 15;
    p.u.req.ttl = 0x10000;
    golden(&p, g2, sizeof g2, &d);
    CHECK_EQ(d.u.req.ttl, 0x10000);
    CHECK_EQ(d.u.req.mode.min_retx, 15);
    CHECK_EQ(d.u.req.priority, 0);

    p.u.req.ttl = S5066_MAX_TTL + 1;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
}

TEST(expedited_unidata_request)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x0E, 0x18, 0x01, 0xE0, 0x00, 0x01, 0x02,
                                0x1A, 0x00, 0x00, 0x05, 0x00, 0x02, 0x41, 0x42};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_EXPEDITED_UNIDATA_REQUEST);
    p.u.req.sap = 1;
    p.u.req.dest = NODE_0_0_1_2;
    p.u.req.mode.tx_mode = S5066_TX_ARQ;
    p.u.req.mode.confirm = S5066_CONFIRM_CLIENT;
    p.u.req.mode.order = S5066_ORDER_AS_ARRIVED;
    p.u.req.ttl = 5;
    p.u.req.updu = (const uint8_t *)"AB";
    p.u.req.updu_len = 2;
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.req.priority, 0);
    CHECK_EQ(d.u.req.sap, 1);
    CHECK(addr_is(&d.u.req.dest, 0x102, 0, 7));
    CHECK_EQ(d.u.req.mode.tx_mode, 1);
    CHECK_EQ(d.u.req.mode.confirm, 2);
    CHECK_EQ(d.u.req.mode.order, 1);
    CHECK_EQ(d.u.req.mode.extended, 0);
    CHECK_EQ(d.u.req.mode.min_retx, 0);
    CHECK_EQ(d.u.req.ttl, 5);
    CHECK_MEM(d.u.req.updu, d.u.req.updu_len, "AB", 2);
    wrong_size(g, sizeof g);
}

static const uint8_t ind_golden[] = {0x90, 0xEB, 0x00, 0x00, 0x12, 0x15, 0x62, 0xF0, 0x00, 0x00,
                                     0x05, 0x22, 0xE0, 0x00, 0x01, 0x02, 0x00, 0x05, 0x68, 0x65,
                                     0x6C, 0x6C, 0x6F};

TEST(unidata_indication)
{
    const uint8_t *g = ind_golden;
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_UNIDATA_INDICATION);
    p.u.ind.priority = 6;
    p.u.ind.dest_sap = 2;
    p.u.ind.dest = GROUP_16_0_0_5;
    p.u.ind.tx_mode = S5066_TX_NON_ARQ;
    p.u.ind.src_sap = 2;
    p.u.ind.src = NODE_0_0_1_2;
    p.u.ind.updu = (const uint8_t *)"hello";
    p.u.ind.updu_len = 5;
    golden(&p, g, sizeof ind_golden, &d);
    CHECK_EQ(d.u.ind.priority, 6);
    CHECK_EQ(d.u.ind.dest_sap, 2);
    CHECK(addr_is(&d.u.ind.dest, 5, 1, 7));
    CHECK_EQ(d.u.ind.tx_mode, 2);
    CHECK_EQ(d.u.ind.src_sap, 2);
    CHECK(addr_is(&d.u.ind.src, 0x102, 0, 7));
    CHECK_EQ(d.u.ind.n_err, 0);
    CHECK_EQ(d.u.ind.n_nrx, 0);
    CHECK(d.u.ind.err_blocks == NULL && d.u.ind.nrx_blocks == NULL);
    CHECK(d.u.ind.rc_extra == NULL);
    CHECK(d.u.ind.updu == g + 18);
    CHECK_MEM(d.u.ind.updu, d.u.ind.updu_len, "hello", 5);
    wrong_size(g, sizeof ind_golden);
    /* 2 or 3 extra bytes are neither layout */
    uint8_t b[64];
    memcpy(b, g, sizeof ind_golden);
    memset(b + sizeof ind_golden, 0, 3);
    b[4] = 0x14;
    CHECK_EQ(s5066_decode(b, sizeof ind_golden + 2, &d), S5066_ERR_SIZE_MISMATCH);
    b[4] = 0x15;
    CHECK_EQ(s5066_decode(b, sizeof ind_golden + 3, &d), S5066_ERR_SIZE_MISMATCH);
}

TEST(unidata_indication_rockwell)
{
    /* Rockwell Collins <= 2.1: 4 bytes between the U_PDU size and the U_PDU */
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x16, 0x15, 0x62, 0xF0, 0x00, 0x00, 0x05,
                                0x22, 0xE0, 0x00, 0x01, 0x02, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00,
                                0x68, 0x65, 0x6C, 0x6C, 0x6F};
    static const uint8_t zero4[4] = {0, 0, 0, 0};
    struct s5066_prim p, d, plain;
    s5066_prim_init(&p, S5066_UNIDATA_INDICATION);
    p.u.ind.priority = 6;
    p.u.ind.dest_sap = 2;
    p.u.ind.dest = GROUP_16_0_0_5;
    p.u.ind.tx_mode = S5066_TX_NON_ARQ;
    p.u.ind.src_sap = 2;
    p.u.ind.src = NODE_0_0_1_2;
    p.u.ind.rc_extra = zero4;
    p.u.ind.updu = (const uint8_t *)"hello";
    p.u.ind.updu_len = 5;
    golden(&p, g, sizeof g, &d);
    CHECK(d.u.ind.rc_extra == g + 18);
    CHECK(d.u.ind.updu == g + 22);
    CHECK_EQ(d.u.ind.updu_len, 5);
    CHECK_MEM(d.u.ind.updu, d.u.ind.updu_len, "hello", 5);
    CHECK_EQ(d.u.ind.src_sap, 2);
    CHECK(addr_is(&d.u.ind.src, 0x102, 0, 7));
    /* same fields as the standard layout but for the extra bytes */
    CHECK_EQ(s5066_decode(ind_golden, sizeof ind_golden, &plain), (int)sizeof ind_golden);
    CHECK(!s5066_prim_equal(&plain, &d));
    d.u.ind.rc_extra = NULL;
    CHECK(s5066_prim_equal(&plain, &d));
    /* tx mode 3 does not take the Rockwell bytes */
    p.u.ind.tx_mode = S5066_TX_NON_ARQ_ERRORS;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
}

TEST(unidata_indication_tx_mode_3)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x25, 0x15, 0x07, 0xE0, 0x00, 0x01,
                                0x02, 0x37, 0xE0, 0x00, 0x00, 0x01, 0x00, 0x08,
                                0x00, 0x01, 0x00, 0x02, 0x00, 0x03,                         /* 1 error block */
                                0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x02, /* 2 missing */
                                0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48};
    static const struct s5066_block err[] = {{2, 3}};
    static const struct s5066_block nrx[] = {{0, 1}, {6, 2}};
    uint8_t errb[4], nrxb[8];
    s5066_blocks_put(errb, err, 1);
    s5066_blocks_put(nrxb, nrx, 2);
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_UNIDATA_INDICATION);
    p.u.ind.dest_sap = 7;
    p.u.ind.dest = NODE_0_0_1_2;
    p.u.ind.tx_mode = S5066_TX_NON_ARQ_ERRORS;
    p.u.ind.src_sap = 7;
    p.u.ind.src = NODE_0_0_0_1;
    p.u.ind.n_err = 1;
    p.u.ind.err_blocks = errb;
    p.u.ind.n_nrx = 2;
    p.u.ind.nrx_blocks = nrxb;
    p.u.ind.updu = (const uint8_t *)"ABCDEFGH";
    p.u.ind.updu_len = 8;
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.ind.tx_mode, 3);
    CHECK_EQ(d.u.ind.dest_sap, 7);
    CHECK_EQ(d.u.ind.src_sap, 7);
    CHECK(addr_is(&d.u.ind.dest, 0x102, 0, 7));
    CHECK(addr_is(&d.u.ind.src, 1, 0, 7));
    CHECK_EQ(d.u.ind.n_err, 1);
    CHECK_EQ(s5066_block_at(d.u.ind.err_blocks, 0).pos, 2);
    CHECK_EQ(s5066_block_at(d.u.ind.err_blocks, 0).size, 3);
    CHECK_EQ(d.u.ind.n_nrx, 2);
    CHECK_EQ(s5066_block_at(d.u.ind.nrx_blocks, 0).pos, 0);
    CHECK_EQ(s5066_block_at(d.u.ind.nrx_blocks, 0).size, 1);
    CHECK_EQ(s5066_block_at(d.u.ind.nrx_blocks, 1).pos, 6);
    CHECK_EQ(s5066_block_at(d.u.ind.nrx_blocks, 1).size, 2);
    CHECK(d.u.ind.rc_extra == NULL);
    CHECK_MEM(d.u.ind.updu, d.u.ind.updu_len, "ABCDEFGH", 8);
    wrong_size(g, sizeof g);

    /* a count larger than the bytes present */
    uint8_t b[sizeof g];
    memcpy(b, g, sizeof g);
    b[25] = 0x0A; /* 10 missing blocks */
    CHECK_EQ(s5066_decode(b, sizeof b, &d), S5066_ERR_SIZE_MISMATCH);
    memcpy(b, g, sizeof g);
    b[19] = 0x03; /* 3 error blocks: the lists then eat the U_PDU */
    CHECK_EQ(s5066_decode(b, sizeof b, &d), S5066_ERR_SIZE_MISMATCH);
    /* tx mode 3 with empty lists: counts 0 0 */
    static const uint8_t e[] = {0x90, 0xEB, 0x00, 0x00, 0x12, 0x15, 0x07, 0xE0, 0x00, 0x01, 0x02,
                                0x37, 0xE0, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x5A};
    CHECK_EQ(s5066_decode(e, sizeof e, &d), (int)sizeof e);
    CHECK_EQ(d.u.ind.n_err, 0);
    CHECK_EQ(d.u.ind.n_nrx, 0);
    CHECK(d.u.ind.rc_extra == NULL);
    CHECK_MEM(d.u.ind.updu, d.u.ind.updu_len, "Z", 1);
    CHECK_EQ(s5066_encode(&d, encbuf, sizeof encbuf), (int)sizeof e);
    CHECK_MEM(encbuf, sizeof e, e, sizeof e);
    /* lists in a mode other than 3 */
    p.u.ind.tx_mode = S5066_TX_NON_ARQ;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
}

TEST(expedited_unidata_indication)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x0E, 0x19, 0x01, 0xE0, 0x00, 0x00, 0x01,
                                0x11, 0xE0, 0x00, 0x01, 0x02, 0x00, 0x01, 0x58};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_EXPEDITED_UNIDATA_INDICATION);
    p.u.ind.dest_sap = 1;
    p.u.ind.dest = NODE_0_0_0_1;
    p.u.ind.tx_mode = S5066_TX_ARQ;
    p.u.ind.src_sap = 1;
    p.u.ind.src = NODE_0_0_1_2;
    p.u.ind.updu = (const uint8_t *)"X";
    p.u.ind.updu_len = 1;
    golden(&p, g, sizeof g, &d);
    CHECK_EQ(d.u.ind.priority, 0);
    CHECK_EQ(d.u.ind.dest_sap, 1);
    CHECK(addr_is(&d.u.ind.dest, 1, 0, 7));
    CHECK_EQ(d.u.ind.tx_mode, 1);
    CHECK_EQ(d.u.ind.src_sap, 1);
    CHECK(addr_is(&d.u.ind.src, 0x102, 0, 7));
    CHECK_MEM(d.u.ind.updu, d.u.ind.updu_len, "X", 1);
    wrong_size(g, sizeof g);
}

/* result_case - a CONFIRM/REJECTED golden and its fields */
static void result_case(int type, int reason, int sap, struct s5066_addr dest, const uint8_t *updu,
                        size_t ulen, const uint8_t *g, size_t glen)
{
    struct s5066_prim p, d;
    s5066_prim_init(&p, type);
    p.u.result.reason = (uint8_t)reason;
    p.u.result.sap = (uint8_t)sap;
    p.u.result.dest = dest;
    p.u.result.updu = updu;
    p.u.result.updu_len = ulen;
    golden(&p, g, glen, &d);
    CHECK_EQ(d.type, type);
    CHECK_EQ(d.u.result.reason, reason);
    CHECK_EQ(d.u.result.sap, sap);
    CHECK(addr_is(&d.u.result.dest, dest.addr, dest.group, dest.size));
    CHECK_EQ(d.u.result.updu_len, ulen);
    if (ulen)
        CHECK_MEM(d.u.result.updu, d.u.result.updu_len, updu, ulen);
    CHECK(d.u.result.updu == g + 13);
    wrong_size(g, glen);
    uint8_t b[64];
    memcpy(b, g, glen);
    b[12]++;
    CHECK_EQ(s5066_decode(b, glen, &d), S5066_ERR_SIZE_MISMATCH);
}

TEST(unidata_request_confirm)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x0B, 0x16, 0x03, 0xE0, 0x00,
                                0x01, 0x02, 0x00, 0x03, 0x01, 0x02, 0x03};
    static const uint8_t u[] = {1, 2, 3};
    result_case(S5066_UNIDATA_REQUEST_CONFIRM, 0, 3, NODE_0_0_1_2, u, 3, g, sizeof g);
}

TEST(unidata_request_rejected)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x0A, 0x17, 0x43, 0xE0,
                                0x00, 0x01, 0x02, 0x00, 0x02, 0xAA, 0xBB};
    static const uint8_t u[] = {0xAA, 0xBB};
    result_case(S5066_UNIDATA_REQUEST_REJECTED, S5066_REJ_UPDU_TOO_LARGE, 3, NODE_0_0_1_2, u, 2, g,
                sizeof g);
}

TEST(expedited_unidata_request_confirm)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x08, 0x1A, 0x01,
                                0xE0, 0x00, 0x00, 0x01, 0x00, 0x00};
    result_case(S5066_EXPEDITED_UNIDATA_REQUEST_CONFIRM, 0, 1, NODE_0_0_0_1, NULL, 0, g, sizeof g);
}

TEST(expedited_unidata_request_rejected)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x09, 0x1B, 0x11,
                                0xF0, 0x00, 0x00, 0x05, 0x00, 0x01, 0x7F};
    static const uint8_t u[] = {0x7F};
    result_case(S5066_EXPEDITED_UNIDATA_REQUEST_REJECTED, S5066_REJ_TTL_EXPIRED, 1,
                GROUP_16_0_0_5, u, 1, g, sizeof g);
}

/* ---- addresses ------------------------------------------------------------------ */

TEST(broadcast_and_group_addresses)
{
    static const uint8_t g[] = {0x90, 0xEB, 0x00, 0x00, 0x0D, 0x14, 0x02, 0xFF, 0xFF, 0xFF, 0xFF,
                                0x20, 0x00, 0x00, 0x00, 0x00, 0x01, 0x55};
    struct s5066_prim p, d;
    s5066_prim_init(&p, S5066_UNIDATA_REQUEST);
    p.u.req.sap = 2;
    CHECK_EQ(s5066_addr_parse(S5066_ADDR_BROADCAST_STR, &p.u.req.dest), 0);
    p.u.req.mode.tx_mode = S5066_TX_NON_ARQ;
    p.u.req.updu = (const uint8_t *)"U";
    p.u.req.updu_len = 1;
    golden(&p, g, sizeof g, &d);
    CHECK(addr_is(&d.u.req.dest, 0x0FFFFFFF, 1, 7));
    CHECK(s5066_addr_is_broadcast(&d.u.req.dest));
    char s[S5066_ADDR_STRLEN];
    CHECK_STR(s5066_addr_format(&d.u.req.dest, s, sizeof s), "31.255.255.255");

    struct s5066_addr a = GROUP_16_0_0_5;
    CHECK(!s5066_addr_is_broadcast(&a));
    CHECK_STR(s5066_addr_format(&a, s, sizeof s), "16.0.0.5");
    CHECK_EQ(s5066_addr_to_u32(&a), 0x10000005);
    a = s5066_addr_make(0x0FFFFFFF, false);
    CHECK(!s5066_addr_is_broadcast(&a));
    CHECK_STR(s5066_addr_format(&a, s, sizeof s), "15.255.255.255");
}

TEST(address_parse_format)
{
    struct s5066_addr a;
    char s[S5066_ADDR_STRLEN];
    CHECK_EQ(s5066_addr_parse("0.0.0.1", &a), 0);
    CHECK(addr_is(&a, 1, 0, 7));
    CHECK_EQ(s5066_addr_parse("15.255.255.255", &a), 0);
    CHECK(addr_is(&a, 0x0FFFFFFF, 0, 7));
    CHECK_EQ(s5066_addr_parse("16.0.0.0", &a), 0);
    CHECK(addr_is(&a, 0, 1, 7));
    CHECK_STR(s5066_addr_format(&a, s, sizeof s), "16.0.0.0");
    CHECK_EQ(s5066_addr_parse("31.255.255.255", &a), 0);
    CHECK(s5066_addr_is_broadcast(&a));
    CHECK_EQ(s5066_addr_parse("10.20.30.40", &a), 0);
    CHECK(addr_is(&a, 0x0A141E28, 0, 7));
    CHECK_STR(s5066_addr_format(&a, s, sizeof s), "10.20.30.40");
    CHECK_EQ(s5066_addr_parse("26.1.200.3", &a), 0);
    CHECK(addr_is(&a, 0x0A01C803, 1, 7));
    CHECK_STR(s5066_addr_format(&a, s, sizeof s), "26.1.200.3");

    static const char *const bad[] = {
        "",        "0.0.0.0",   "32.0.0.0",    "255.255.255.255", "1.2.3",   "1.2.3.4.5",
        "1.2.3.256", "1..2.3",  "a.b.c.d",     " 1.2.3.4",        "1.2.3.4 ", "1.2.3.0004",
        "-1.2.3.4", "1.2.3.4x", "1.2.3.",      ".1.2.3",          "1,2,3,4", "0x1.2.3.4",
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        int rc = s5066_addr_parse(bad[i], &a);
        if (rc != S5066_ERR_BAD_ADDRESS) {
            printf("# \"%s\" parsed with %d\n", bad[i], rc);
            CHECK(0);
        }
    }
    CHECK_EQ(s5066_addr_parse(NULL, &a), S5066_ERR_INVAL);
    CHECK_EQ(s5066_addr_from_u32(0x20000000, &a), S5066_ERR_BAD_ADDRESS);
    CHECK_EQ(s5066_addr_from_u32(0x1FFFFFFF, &a), 0);
    CHECK(s5066_addr_is_broadcast(&a));

    /* format into a short buffer truncates and terminates */
    char small[5];
    a = s5066_addr_make(0x0A141E28, false);
    CHECK_STR(s5066_addr_format(&a, small, sizeof small), "10.2");
    /* format ignores the size bits */
    a.size = 3;
    CHECK_STR(s5066_addr_format(&a, s, sizeof s), "10.20.30.40");
}

/* ---- client transport header ------------------------------------------------------ */

TEST(client_header)
{
    static const uint8_t g[] = {0x10, 0x22, 0x03, 0x04, 0x20, 0x00};
    struct s5066_client_hdr h = {1, 0, 0x22, 0x0304, S5066_APP_ID_ACP142}, d;
    uint8_t b[8];
    CHECK_EQ(s5066_client_hdr_encode(&h, b, sizeof b), 6);
    CHECK_MEM(b, 6, g, sizeof g);
    CHECK_EQ(s5066_client_hdr_decode(g, sizeof g, &d), 6);
    CHECK_EQ(d.conn_id, 1);
    CHECK_EQ(d.reserved, 0);
    CHECK_EQ(d.updu_id, 0x22);
    CHECK_EQ(d.segment, 0x0304);
    CHECK_EQ(d.app_id, 0x2000);
    static const uint8_t g2[] = {0xF5, 0xFF, 0xFF, 0xFE, 0x12, 0x34};
    CHECK_EQ(s5066_client_hdr_decode(g2, sizeof g2, &d), 6);
    CHECK_EQ(d.conn_id, 15);
    CHECK_EQ(d.reserved, 5);
    CHECK_EQ(d.updu_id, 0xFF);
    CHECK_EQ(d.segment, 0xFFFE);
    CHECK_EQ(d.app_id, 0x1234);
    CHECK_EQ(s5066_client_hdr_encode(&d, b, sizeof b), 6);
    CHECK_MEM(b, 6, g2, sizeof g2);
    for (size_t k = 0; k < 6; k++)
        CHECK_EQ(s5066_client_hdr_decode(g, k, &d), S5066_ERR_TRUNCATED);
    CHECK_EQ(s5066_client_hdr_encode(&h, b, 5), S5066_ERR_OVERFLOW);
    h.conn_id = 16;
    CHECK_EQ(s5066_client_hdr_encode(&h, b, sizeof b), S5066_ERR_BAD_FIELD);
    h.conn_id = 0;
    h.reserved = 16;
    CHECK_EQ(s5066_client_hdr_encode(&h, b, sizeof b), S5066_ERR_BAD_FIELD);
}

/* ---- decoder errors ------------------------------------------------------------------- */

TEST(decode_header_errors)
{
    struct s5066_prim d;
    static const uint8_t pre1[] = {0x91, 0xEB, 0x00, 0x00, 0x01, 0x02};
    static const uint8_t pre2[] = {0x90, 0xEC, 0x00, 0x00, 0x01, 0x02};
    static const uint8_t swapped[] = {0xEB, 0x90, 0x00, 0x00, 0x01, 0x02};
    static const uint8_t ver[] = {0x90, 0xEB, 0x01, 0x00, 0x01, 0x02};
    static const uint8_t size0[] = {0x90, 0xEB, 0x00, 0x00, 0x00, 0x02};
    static const uint8_t type0[] = {0x90, 0xEB, 0x00, 0x00, 0x01, 0x00};
    static const uint8_t type28[] = {0x90, 0xEB, 0x00, 0x00, 0x01, 0x1C};
    static const uint8_t typeff[] = {0x90, 0xEB, 0x00, 0x00, 0x03, 0xFF, 0x00, 0x00};
    CHECK_EQ(s5066_decode(pre1, sizeof pre1, &d), S5066_ERR_BAD_PREAMBLE);
    CHECK_EQ(s5066_decode(pre1, 1, &d), S5066_ERR_BAD_PREAMBLE);
    CHECK_EQ(s5066_decode(pre2, sizeof pre2, &d), S5066_ERR_BAD_PREAMBLE);
    CHECK_EQ(s5066_decode(pre2, 2, &d), S5066_ERR_BAD_PREAMBLE);
    CHECK_EQ(s5066_decode(swapped, sizeof swapped, &d), S5066_ERR_BAD_PREAMBLE);
    CHECK_EQ(s5066_decode(ver, sizeof ver, &d), S5066_ERR_BAD_VERSION);
    CHECK_EQ(s5066_decode(ver, 3, &d), S5066_ERR_BAD_VERSION);
    CHECK_EQ(s5066_decode(size0, sizeof size0, &d), S5066_ERR_SIZE_MISMATCH);
    CHECK_EQ(s5066_decode(type0, sizeof type0, &d), S5066_ERR_UNKNOWN_TYPE);
    CHECK_EQ(s5066_decode(type28, sizeof type28, &d), S5066_ERR_UNKNOWN_TYPE);
    CHECK_EQ(s5066_decode(typeff, sizeof typeff, &d), S5066_ERR_UNKNOWN_TYPE);
    CHECK_EQ(s5066_decode(NULL, 0, &d), S5066_ERR_TRUNCATED);
    CHECK_EQ(s5066_decode(pre1, sizeof pre1, NULL), S5066_ERR_INVAL);
    /* a size the input does not hold */
    static const uint8_t big[] = {0x90, 0xEB, 0x00, 0xFF, 0xFF, 0x11};
    CHECK_EQ(s5066_decode(big, sizeof big, &d), S5066_ERR_TRUNCATED);
}

/* ---- encoder range checks ---------------------------------------------------------------- */

TEST(encode_range_errors)
{
    struct s5066_prim p;
    s5066_prim_init(&p, 0);
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_UNKNOWN_TYPE);
    s5066_prim_init(&p, 28);
    CHECK_EQ(s5066_encoded_len(&p), S5066_ERR_UNKNOWN_TYPE);
    CHECK_EQ(s5066_encoded_len(NULL), S5066_ERR_INVAL);

    s5066_prim_init(&p, S5066_BIND_REQUEST);
    p.u.bind_request.sap = 16;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.bind_request.sap = 0;
    p.u.bind_request.rank = 16;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.bind_request.rank = 0;
    p.u.bind_request.unused = 16;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.bind_request.unused = 0;
    p.u.bind_request.service.tx_mode = 16;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.bind_request.service.tx_mode = 1;
    p.u.bind_request.service.confirm = 4;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.bind_request.service.confirm = 0;
    p.u.bind_request.service.order = 2;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.bind_request.service.order = 0;
    p.u.bind_request.service.extended = 2;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.bind_request.service.extended = 0;
    p.u.bind_request.service.min_retx = 16;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.bind_request.service.min_retx = 0;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), 9);

    s5066_prim_init(&p, S5066_BIND_ACCEPTED);
    p.u.bind_accepted.sap = 16;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.bind_accepted.sap = 0;
    p.u.bind_accepted.unused = 16;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);

    for (int t = S5066_HARD_LINK_ESTABLISH; t <= S5066_HARD_LINK_REJECT; t++) {
        s5066_prim_init(&p, t);
        p.u.hard_link.remote = s5066_addr_make(1, false);
        p.u.hard_link.remote.addr = S5066_MAX_ADDR + 1;
        CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
        p.u.hard_link.remote.addr = 1;
        p.u.hard_link.remote.group = 2;
        CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
        p.u.hard_link.remote.group = 0;
        p.u.hard_link.remote.size = 8;
        CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
        p.u.hard_link.remote.size = 7;
        if (t == S5066_HARD_LINK_TERMINATE)
            continue;
        p.u.hard_link.link_type = 4;
        CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
        p.u.hard_link.link_type = 3;
        p.u.hard_link.link_priority = 4;
        CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
        p.u.hard_link.link_priority = 3;
        p.u.hard_link.sap = 16;
        CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
        p.u.hard_link.sap = 15;
        CHECK(s5066_encode(&p, encbuf, sizeof encbuf) > 0);
    }

    static uint8_t big[65536];
    s5066_prim_init(&p, S5066_UNIDATA_REQUEST);
    p.u.req.dest = s5066_addr_make(1, false);
    p.u.req.priority = 16;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.req.priority = 15;
    p.u.req.sap = 16;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.req.sap = 15;
    p.u.req.dest.addr = 0x10000000;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.req.dest.addr = 1;
    p.u.req.ttl = 1u << 20;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.req.ttl = 0;
    p.u.req.updu = big;
    p.u.req.updu_len = 65536;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.req.updu_len = 65535; /* fits its own field, not the primitive's size */
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_TOO_LONG);
    p.u.req.updu_len = 65535 - 12; /* the largest that fits */
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), 65540);
    CHECK_EQ(util_get_u16(encbuf + 3), 65535);
    struct s5066_prim d;
    CHECK_EQ(s5066_decode(encbuf, 65540, &d), 65540);
    CHECK_EQ(d.u.req.updu_len, 65523);
    p.u.req.updu = NULL;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_INVAL);

    s5066_prim_init(&p, S5066_UNIDATA_INDICATION);
    p.u.ind.src_sap = 16;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.ind.src_sap = 0;
    p.u.ind.dest_sap = 16;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.ind.dest_sap = 0;
    p.u.ind.tx_mode = 16;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.ind.tx_mode = 3;
    p.u.ind.src.addr = 0x10000000;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.ind.src.addr = 0;
    p.u.ind.n_err = 1; /* no list */
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_INVAL);
    p.u.ind.n_err = 16383; /* lists that do not fit the size field */
    p.u.ind.err_blocks = big;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_TOO_LONG);

    s5066_prim_init(&p, S5066_UNIDATA_REQUEST_REJECTED);
    p.u.result.reason = 16;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);
    p.u.result.reason = 0;
    p.u.result.sap = 16;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_BAD_FIELD);

    s5066_prim_init(&p, S5066_MANAGEMENT_MSG_REQUEST);
    p.u.mgmt.body = big;
    p.u.mgmt.body_len = 65534;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), S5066_ERR_TOO_LONG);
    p.u.mgmt.body_len = 65533;
    CHECK_EQ(s5066_encode(&p, encbuf, sizeof encbuf), 65540);
}

TEST(strerror_and_names)
{
    static const int codes[] = {S5066_ERR_TRUNCATED,  S5066_ERR_BAD_PREAMBLE, S5066_ERR_BAD_VERSION,
                                S5066_ERR_TOO_LONG,   S5066_ERR_UNKNOWN_TYPE, S5066_ERR_BAD_FIELD,
                                S5066_ERR_SIZE_MISMATCH, S5066_ERR_OVERFLOW, S5066_ERR_BAD_ADDRESS,
                                S5066_ERR_NOMEM,      S5066_ERR_INVAL};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(codes); i++) {
        CHECK(strcmp(s5066_strerror(codes[i]), "unknown error") != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(s5066_strerror(codes[i]), s5066_strerror(codes[j])) != 0);
    }
    CHECK_STR(s5066_strerror(-999), "unknown error");
    CHECK_STR(s5066_strerror(UTIL_ERR_NOMEM), util_strerror(UTIL_ERR_NOMEM));
    CHECK_STR(s5066_type_name(1), "S_BIND_REQUEST");
    CHECK_STR(s5066_type_name(20), "S_UNIDATA_REQUEST");
    CHECK_STR(s5066_type_name(27), "S_EXPEDITED_UNIDATA_REQUEST_REJECTED");
    CHECK_STR(s5066_type_name(0), "S_UNKNOWN");
    CHECK_STR(s5066_type_name(28), "S_UNKNOWN");
}

/* ---- stream decoder ------------------------------------------------------------------------- */

/* goldens for the stream tests */
static const uint8_t sg_bind_accepted[] = {0x90, 0xEB, 0x00, 0x00, 0x04, 0x03, 0x20, 0x08, 0x00};
static const uint8_t sg_keep_alive[] = {0x90, 0xEB, 0x00, 0x00, 0x01, 0x11};
static const uint8_t sg_mode3[] = {0x90, 0xEB, 0x00, 0x00, 0x25, 0x15, 0x07, 0xE0, 0x00, 0x01,
                                   0x02, 0x37, 0xE0, 0x00, 0x00, 0x01, 0x00, 0x08, 0x00, 0x01,
                                   0x00, 0x02, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01,
                                   0x00, 0x06, 0x00, 0x02, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46,
                                   0x47, 0x48};
static const uint8_t sg_request[] = {0x90, 0xEB, 0x00, 0x00, 0x14, 0x14, 0x62, 0xF0, 0x00,
                                     0x00, 0x05, 0x20, 0x2A, 0xBC, 0xDE, 0x00, 0x08, 0x00,
                                     0x01, 0x00, 0x00, 0x20, 0x00, 0x50, 0x4D};

struct stream_seg {
    const uint8_t *p;
    size_t n;
};

static uint8_t sbuf[4096];

/* join - concatenate segments into sbuf; returns the length */
static size_t join(const struct stream_seg *segs, size_t nsegs)
{
    size_t len = 0;
    for (size_t i = 0; i < nsegs; i++) {
        memcpy(sbuf + len, segs[i].p, segs[i].n);
        len += segs[i].n;
    }
    return len;
}

/* drain - call next() until 0; record results (1 or error) and check each
 * yielded primitive against the expected goldens in order */
static size_t drain(struct s5066_stream *st, int *results, size_t nres, size_t max,
                    const struct stream_seg *expect, size_t *nexp)
{
    struct s5066_prim p;
    int rc;
    while ((rc = s5066_stream_next(st, &p)) != 0) {
        if (nres < max)
            results[nres] = rc;
        nres++;
        if (rc > 0) {
            struct s5066_prim want;
            CHECK_EQ(s5066_decode(expect[*nexp].p, expect[*nexp].n, &want), (int)expect[*nexp].n);
            CHECK(s5066_prim_equal(&p, &want));
            (*nexp)++;
        }
        CHECK(s5066_stream_buffered(st) <= S5066_HDR_LEN + st->max_size);
    }
    return nres;
}

/* feed_chunks - feed len bytes of sbuf in chunks of `chunk` bytes, draining */
static size_t feed_chunks(struct s5066_stream *st, size_t len, size_t chunk, int *results,
                          size_t max, const struct stream_seg *expect, size_t *nexp,
                          size_t *skipped)
{
    size_t nres = 0, off = 0;
    *skipped = 0;
    while (off < len) {
        size_t n = UTIL_MIN(chunk, len - off);
        while (n > 0) {
            size_t taken;
            CHECK_EQ(s5066_stream_feed(st, sbuf + off, n, &taken), 0);
            CHECK(taken > 0);
            if (taken == 0)
                return nres;
            off += taken;
            n -= taken;
            nres = drain(st, results, nres, max, expect, nexp);
            *skipped += s5066_stream_take_skipped(st);
        }
    }
    return nres;
}

TEST(stream_byte_at_a_time)
{
    const struct stream_seg segs[] = {{sg_bind_accepted, sizeof sg_bind_accepted},
                                      {sg_keep_alive, sizeof sg_keep_alive},
                                      {sg_mode3, sizeof sg_mode3},
                                      {sg_request, sizeof sg_request},
                                      {ind_golden, sizeof ind_golden}};
    size_t len = join(segs, UTIL_ARRAY_LEN(segs));
    for (size_t chunk = 1; chunk <= len; chunk++) {
        struct s5066_stream st;
        s5066_stream_init(&st, S5066_STREAM_DEFAULT_MAX);
        int results[16];
        size_t nexp = 0, skipped;
        size_t n = feed_chunks(&st, len, chunk, results, 16, segs, &nexp, &skipped);
        CHECK_EQ(n, 5);
        CHECK_EQ(nexp, 5);
        CHECK_EQ(skipped, 0);
        CHECK_EQ(s5066_stream_buffered(&st), 0);
        s5066_stream_free(&st);
    }
}

TEST(stream_garbage_skipped)
{
    /* garbage with near-preambles: 90 90 EB 01 (wrong version), lone EB 00 */
    static const uint8_t junk1[] = {0x00, 0x90, 0x90, 0xEB, 0x01, 0xEB, 0x00, 0x55};
    static const uint8_t junk2[] = {0x90, 0xEB}; /* then a real 90 EB 00 */
    static const uint8_t junk3[] = {0x41, 0x54, 0x0D, 0x0A, 0x90};
    static const uint8_t tail[] = {0x90}; /* could start a preamble: held, not counted */
    const struct stream_seg segs[] = {{junk1, sizeof junk1},
                                      {sg_request, sizeof sg_request},
                                      {junk2, sizeof junk2},
                                      {sg_keep_alive, sizeof sg_keep_alive},
                                      {junk3, sizeof junk3},
                                      {sg_bind_accepted, sizeof sg_bind_accepted},
                                      {tail, sizeof tail}};
    const struct stream_seg expect[] = {{sg_request, sizeof sg_request},
                                        {sg_keep_alive, sizeof sg_keep_alive},
                                        {sg_bind_accepted, sizeof sg_bind_accepted}};
    size_t len = join(segs, UTIL_ARRAY_LEN(segs));
    static const size_t chunks[] = {1, 2, 3, 7, 64, 4096};
    for (size_t c = 0; c < UTIL_ARRAY_LEN(chunks); c++) {
        struct s5066_stream st;
        s5066_stream_init(&st, S5066_STREAM_DEFAULT_MAX);
        int results[16];
        size_t nexp = 0, skipped;
        size_t n = feed_chunks(&st, len, chunks[c], results, 16, expect, &nexp, &skipped);
        CHECK_EQ(n, 3);
        CHECK_EQ(nexp, 3);
        CHECK_EQ(skipped, sizeof junk1 + sizeof junk2 + sizeof junk3);
        CHECK_EQ(st.total_skipped, sizeof junk1 + sizeof junk2 + sizeof junk3);
        CHECK_EQ(s5066_stream_buffered(&st), 1);
        s5066_stream_free(&st);
    }

    /* only garbage: everything skipped, nothing held */
    struct s5066_stream st;
    s5066_stream_init(&st, 16);
    memset(sbuf, 0x55, 1000);
    int results[4];
    size_t nexp = 0, skipped;
    CHECK_EQ(feed_chunks(&st, 1000, 1000, results, 4, expect, &nexp, &skipped), 0);
    CHECK_EQ(skipped, 1000);
    CHECK_EQ(s5066_stream_buffered(&st), 0);
    s5066_stream_free(&st);
}

TEST(stream_oversized_size)
{
    /* size 0x1234 is beyond the default limit (4352) */
    static const uint8_t huge[] = {0x90, 0xEB, 0x00, 0x12, 0x34};
    static const uint8_t size0[] = {0x90, 0xEB, 0x00, 0x00, 0x00};
    const struct stream_seg segs[] = {{huge, sizeof huge},
                                      {sg_keep_alive, sizeof sg_keep_alive},
                                      {size0, sizeof size0},
                                      {sg_bind_accepted, sizeof sg_bind_accepted}};
    const struct stream_seg expect[] = {{sg_keep_alive, sizeof sg_keep_alive},
                                        {sg_bind_accepted, sizeof sg_bind_accepted}};
    size_t len = join(segs, UTIL_ARRAY_LEN(segs));
    struct s5066_stream st;
    s5066_stream_init(&st, S5066_STREAM_DEFAULT_MAX);
    int results[8];
    size_t nexp = 0, skipped;
    size_t n = feed_chunks(&st, len, len, results, 8, expect, &nexp, &skipped);
    CHECK_EQ(n, 4);
    CHECK_EQ(results[0], S5066_ERR_TOO_LONG);
    CHECK_EQ(results[1], 1);
    CHECK_EQ(results[2], S5066_ERR_SIZE_MISMATCH);
    CHECK_EQ(results[3], 1);
    CHECK_EQ(skipped, 4); /* the two size fields after their preambles */
    s5066_stream_free(&st);

    /* the limit is a parameter: with 16, the 20-byte UNIDATA_REQUEST is too long */
    const struct stream_seg segs2[] = {{sg_request, sizeof sg_request},
                                       {sg_keep_alive, sizeof sg_keep_alive}};
    len = join(segs2, UTIL_ARRAY_LEN(segs2));
    s5066_stream_init(&st, 16);
    nexp = 0;
    n = feed_chunks(&st, len, 3, results, 8, expect, &nexp, &skipped);
    CHECK_EQ(n, 2);
    CHECK_EQ(results[0], S5066_ERR_TOO_LONG);
    CHECK_EQ(results[1], 1);
    CHECK_EQ(skipped, sizeof sg_request - 3);
    s5066_stream_free(&st);

    /* the buffer never holds more than 5 + max_size */
    s5066_stream_init(&st, 16);
    memset(sbuf, 0x90, 100);
    size_t taken;
    CHECK_EQ(s5066_stream_feed(&st, sbuf, 100, &taken), 0);
    CHECK_EQ(taken, 21);
    CHECK_EQ(s5066_stream_buffered(&st), 21);
    CHECK_EQ(s5066_stream_feed(&st, sbuf, 100, &taken), 0);
    CHECK_EQ(taken, 0);
    struct s5066_prim p;
    CHECK_EQ(s5066_stream_next(&st, &p), 0); /* 20 skipped, a lone 90 kept */
    CHECK_EQ(s5066_stream_take_skipped(&st), 20);
    CHECK_EQ(s5066_stream_buffered(&st), 1);
    s5066_stream_free(&st);
}

TEST(stream_split_three_reads)
{
    struct s5066_stream st;
    s5066_stream_init(&st, S5066_STREAM_DEFAULT_MAX);
    struct s5066_prim p;
    size_t taken;
    CHECK_EQ(s5066_stream_feed(&st, sg_mode3, 4, &taken), 0);
    CHECK_EQ(taken, 4);
    CHECK_EQ(s5066_stream_next(&st, &p), 0);
    CHECK_EQ(s5066_stream_feed(&st, sg_mode3 + 4, 20, &taken), 0);
    CHECK_EQ(taken, 20);
    CHECK_EQ(s5066_stream_next(&st, &p), 0);
    CHECK_EQ(s5066_stream_feed(&st, sg_mode3 + 24, sizeof sg_mode3 - 24, &taken), 0);
    CHECK_EQ(taken, sizeof sg_mode3 - 24);
    CHECK_EQ(s5066_stream_next(&st, &p), 1);
    CHECK_EQ(p.type, S5066_UNIDATA_INDICATION);
    CHECK_EQ(p.u.ind.tx_mode, 3);
    CHECK_EQ(p.u.ind.n_err, 1);
    CHECK_EQ(p.u.ind.n_nrx, 2);
    CHECK_EQ(s5066_block_at(p.u.ind.nrx_blocks, 1).pos, 6);
    CHECK_MEM(p.u.ind.updu, p.u.ind.updu_len, "ABCDEFGH", 8);
    /* the U_PDU points into the stream's buffer */
    CHECK(p.u.ind.updu >= st.buf.data && p.u.ind.updu < st.buf.data + st.buf.len);
    CHECK_EQ(s5066_stream_next(&st, &p), 0);
    CHECK_EQ(s5066_stream_buffered(&st), 0);
    CHECK_EQ(s5066_stream_take_skipped(&st), 0);
    s5066_stream_free(&st);
}

TEST(stream_corrupt_then_good)
{
    static const uint8_t extra[] = {0x90, 0xEB, 0x00, 0x00, 0x02, 0x02, 0x00}; /* UNBIND + 1 */
    static const uint8_t unknown[] = {0x90, 0xEB, 0x00, 0x00, 0x01, 0x1C};     /* type 28 */
    static const uint8_t badlen[] = {0x90, 0xEB, 0x00, 0x00, 0x0A, 0x16, 0x03, 0xE0, 0x00,
                                     0x01, 0x02, 0x00, 0x09, 0x01, 0x02}; /* CONFIRM, size 9 of 2 */
    const struct stream_seg segs[] = {{extra, sizeof extra},
                                      {unknown, sizeof unknown},
                                      {badlen, sizeof badlen},
                                      {sg_bind_accepted, sizeof sg_bind_accepted},
                                      {sg_keep_alive, sizeof sg_keep_alive}};
    const struct stream_seg expect[] = {{sg_bind_accepted, sizeof sg_bind_accepted},
                                        {sg_keep_alive, sizeof sg_keep_alive}};
    size_t len = join(segs, UTIL_ARRAY_LEN(segs));
    static const size_t chunks[] = {1, 5, 4096};
    for (size_t c = 0; c < UTIL_ARRAY_LEN(chunks); c++) {
        struct s5066_stream st;
        s5066_stream_init(&st, S5066_STREAM_DEFAULT_MAX);
        int results[8];
        size_t nexp = 0, skipped;
        size_t n = feed_chunks(&st, len, chunks[c], results, 8, expect, &nexp, &skipped);
        CHECK_EQ(n, 5);
        CHECK_EQ(results[0], S5066_ERR_SIZE_MISMATCH);
        CHECK_EQ(results[1], S5066_ERR_UNKNOWN_TYPE);
        CHECK_EQ(results[2], S5066_ERR_SIZE_MISMATCH);
        CHECK_EQ(results[3], 1);
        CHECK_EQ(results[4], 1);
        CHECK_EQ(skipped, 0);
        s5066_stream_free(&st);
    }
}

TEST(stream_limit_bounds)
{
    struct s5066_stream st;
    s5066_stream_init(&st, 0); /* clamped to 1: only 1-byte primitives */
    CHECK_EQ(st.max_size, 1);
    size_t taken;
    CHECK_EQ(s5066_stream_feed(&st, sg_keep_alive, sizeof sg_keep_alive, &taken), 0);
    CHECK_EQ(taken, 6);
    struct s5066_prim p;
    CHECK_EQ(s5066_stream_next(&st, &p), 1);
    CHECK_EQ(p.type, S5066_KEEP_ALIVE);
    s5066_stream_free(&st);
    s5066_stream_init(&st, 1000000);
    CHECK_EQ(st.max_size, 65535);
    s5066_stream_free(&st);
}

int main(void)
{
    RUN(bind_request);
    RUN(bind_request_unused_bits);
    RUN(unbind_request);
    RUN(bind_accepted);
    RUN(bind_rejected);
    RUN(unbind_indication);
    RUN(hard_link_establish);
    RUN(hard_link_terminate);
    RUN(hard_link_established);
    RUN(hard_link_rejected);
    RUN(hard_link_terminated);
    RUN(hard_link_indication);
    RUN(hard_link_accept);
    RUN(hard_link_reject);
    RUN(subnet_availability);
    RUN(dataflow_on_off_keep_alive);
    RUN(management_message);
    RUN(unidata_request);
    RUN(unidata_request_ttl_bits);
    RUN(expedited_unidata_request);
    RUN(unidata_indication);
    RUN(unidata_indication_rockwell);
    RUN(unidata_indication_tx_mode_3);
    RUN(expedited_unidata_indication);
    RUN(unidata_request_confirm);
    RUN(unidata_request_rejected);
    RUN(expedited_unidata_request_confirm);
    RUN(expedited_unidata_request_rejected);
    RUN(broadcast_and_group_addresses);
    RUN(address_parse_format);
    RUN(client_header);
    RUN(decode_header_errors);
    RUN(encode_range_errors);
    RUN(strerror_and_names);
    RUN(stream_byte_at_a_time);
    RUN(stream_garbage_skipped);
    RUN(stream_oversized_size);
    RUN(stream_split_three_reads);
    RUN(stream_corrupt_then_good);
    RUN(stream_limit_bounds);
    return harness_done();
}
