/* pmul_codec_test.c - tests of the ACP 142 P_MUL PDU codec (pmul/pdu.c):
 * golden bytes for every PDU type (laid out from Wireshark's packet-p_mul.c,
 * checksums from an independent transliteration of its Annex B-3 routine),
 * round trips, both checksums, every decoder error path, Address_PDU
 * splitting with MAP bits, the missing-number iterators, and known-answer
 * tests over the libjpmul vectors in tests/data/pmul/acp142-libjpmul.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "pmul/pmul.h"

#include "pmul_vectors.h"

/* ---- helpers -------------------------------------------------------------- */

/* hex - decode a hex string into out; the byte count (aborts on bad hex) */
static size_t hex(const char *s, uint8_t *out, size_t cap)
{
    int n = util_hex_decode(s, out, cap);
    if (n < 0) {
        printf("# bad hex in test: %s\n", s);
        abort();
    }
    return (size_t)n;
}

/* Golden PDUs, one per type, laid out by hand from packet-p_mul.c. */
/* Data_PDU: prio 3, seq 2, Source_ID 10.0.0.1, Message_ID 0x102, "abc" */
static const char *const G_DATA = "0013 03 00 0002 2989 0a000001 00000102 616263";
/* Ack_PDU: prio 1, ack sender 10.0.0.2, 2 entries:
 *   len 18, 10.0.0.1, 0x102, missing 2 and 4..9 (4, 0, 9)
 *   len 10, 10.0.0.1, 0x103, nothing missing
 * and the timestamp 0x123 */
static const char *const G_ACK = "0032 01 01 0000 024f 0a000002 0002"
                                 " 0012 0a000001 00000102 0002 0004 0000 0009"
                                 " 000a 0a000001 00000103"
                                 " 0000000000000123";
/* Address_PDU: prio 2, 4 Data_PDUs, expiry 0x5f000000, 3 entries with a
 * 2-byte reserved field: (10.0.0.2, 7, 0102) (10.0.0.3, 9, 0000) (10.0.0.4, 1, ffee) */
static const char *const G_ADDRESS = "0036 02 02 0004 fe26 0a000001 00000102 5f000000 0003 0002"
                                     " 0a000002 00000007 0102"
                                     " 0a000003 00000009 0000"
                                     " 0a000004 00000001 ffee";
/* the Ack-Ack: an Address_PDU with no entries */
static const char *const G_ACKACK = "0018 02 02 0004 d49d 0a000001 00000102 5f000000 0000 0000";
static const char *const G_DISCARD = "0010 04 03 0000 a436 0a000001 00000102";
/* Announce_PDU: count 2 in X, expiry, group 224.1.2.3, 10.0.0.2, 10.0.0.3 */
static const char *const G_ANNOUNCE =
    "0020 00 04 0002 600c 0a000001 00000102 5f000000 e0010203 0a000002 0a000003";
static const char *const G_REQUEST = "0014 00 05 0000 c42d 0a000001 00000102 e0010203";
static const char *const G_REJECT = "0014 00 06 0000 c030 0a000001 00000102 e0010203";
static const char *const G_RELEASE = "0014 00 07 0000 bc33 0a000001 00000102 e0010203";
/* types we refuse: FEC_Address, Extra_Address (MAP "not first"), unknown 0x3f */
static const char *const G_FEC = "001a 02 08 0001 c4a7 0a000001 00000102 5f000000 00 01 0000 0000";
static const char *const G_EXTRA =
    "0020 02 92 0001 1ea7 0a000001 00000102 5f000000 0001 0000 0a000009 00000003";
static const char *const G_UNKNOWN = "0010 00 3f 0000 c7da 0a000001 00000102";

static const char *const ALL_GOLDEN[] = {G_DATA,     G_ACK,     G_ADDRESS, G_ACKACK, G_DISCARD,
                                         G_ANNOUNCE, G_REQUEST, G_REJECT,  G_RELEASE};

/* fix_checksum - recompute the Annex B-3 checksum after editing bytes */
static void fix_checksum(uint8_t *b, size_t n)
{
    CHECK_EQ(pmul_checksum_set(b, n, PMUL_CKSUM_ACP142), 0);
}

/* decode_hex - decode golden hex into buf and *p; the decode result */
static int decode_hex(const char *h, uint8_t *buf, size_t cap, struct pmul_pdu *p, size_t *len)
{
    *len = hex(h, buf, cap);
    return pmul_decode(buf, *len, p);
}

/* encode_check - encode p and compare with golden hex */
static void encode_check(const struct pmul_pdu *p, const char *h)
{
    uint8_t want[512], got[512];
    size_t n = hex(h, want, sizeof want);
    int m = pmul_encode(p, got, sizeof got);
    CHECK_EQ(m, (int)n);
    CHECK_EQ(pmul_encoded_len(p), (int)n);
    if (m > 0)
        CHECK_MEM(got, (size_t)m, want, n);
}

/* ---- checksums ------------------------------------------------------------ */

static const char *const VECTORS[] = {
    "run1_address_pdu_1", "run1_data_pdu_1",    "run1_ack_pdu_1",     "run2_ack_pdu_1",
    "run2_ack_pdu_2",     "run3_address_pdu_1", "run3_address_pdu_2", "run3_address_pdu_3",
    "run3_address_pdu_4", "run3_data_pdu_1",    "run3_data_pdu_2",    "run3_data_pdu_3",
    "run3_data_pdu_4",    "run4_address_pdu_1", "run4_data_pdu_1",    "run5_address_pdu_1",
    "run5_data_pdu_1",    "run5_data_pdu_2",    "run5_data_pdu_3",    "run5_data_pdu_4",
    "run5_data_pdu_5",    "run5_ack_pdu_1"};

TEST(checksums_match_every_vector)
{
    /* The vectors' comments state both sums as computed by the capture tool. */
    for (size_t i = 0; i < UTIL_ARRAY_LEN(VECTORS); i++) {
        struct vector v;
        if (load_vector(VECTORS[i], &v) < 0) {
            CHECK(0);
            continue;
        }
        uint16_t field = util_get_u16(v.pdu + 6);
        CHECK_EQ(pmul_checksum_acp142(v.pdu, v.len), v.fletcher);
        CHECK_EQ(pmul_checksum_acp142(v.pdu, v.len), field);
        CHECK_EQ(pmul_checksum_rfc1071(v.pdu, v.len), v.rfc1071);
        CHECK_EQ(pmul_checksum_verify(v.pdu, v.len), PMUL_CKSUM_ACP142);
    }
}

TEST(checksum_ignores_its_own_field_and_short_input)
{
    uint8_t b[64];
    size_t n = hex(G_DATA, b, sizeof b);
    uint16_t a = pmul_checksum_acp142(b, n), r = pmul_checksum_rfc1071(b, n);
    b[6] = 0x55;
    b[7] = 0xAA;
    CHECK_EQ(pmul_checksum_acp142(b, n), a);
    CHECK_EQ(pmul_checksum_rfc1071(b, n), r);
    CHECK_EQ(pmul_checksum_rfc1071(b, n), 0x2d85); /* independent computation */
    CHECK_EQ(pmul_checksum_acp142(b, 7), 0);
    CHECK_EQ(pmul_checksum_verify(b, 7), PMUL_ERR_TRUNCATED);
    CHECK_EQ(pmul_checksum_set(b, n, 99), PMUL_ERR_ARG);
    CHECK_EQ(pmul_checksum_set(b, 4, PMUL_CKSUM_ACP142), PMUL_ERR_ARG);
}

TEST(rfc1071_checksum_accepted)
{
    uint8_t b[512];
    for (size_t i = 0; i < UTIL_ARRAY_LEN(ALL_GOLDEN); i++) {
        size_t n = hex(ALL_GOLDEN[i], b, sizeof b);
        CHECK_EQ(pmul_checksum_set(b, n, PMUL_CKSUM_RFC1071), 0);
        CHECK_EQ(util_get_u16(b + 6), pmul_checksum_rfc1071(b, n));
        struct pmul_pdu p;
        CHECK_EQ(pmul_decode(b, n, &p), (int)n);
        /* where both sums happen to agree, Annex B-3 is reported */
        CHECK(p.cksum_kind == PMUL_CKSUM_RFC1071 ||
              pmul_checksum_acp142(b, n) == pmul_checksum_rfc1071(b, n));
        CHECK_EQ(p.checksum, util_get_u16(b + 6));
    }
}

TEST(corrupted_checksum_rejected)
{
    uint8_t b[512];
    for (size_t i = 0; i < UTIL_ARRAY_LEN(ALL_GOLDEN); i++) {
        size_t n = hex(ALL_GOLDEN[i], b, sizeof b);
        struct pmul_pdu p;
        b[7] ^= 0x01;
        CHECK_EQ(pmul_decode(b, n, &p), PMUL_ERR_CHECKSUM);
        /* the flag lets it through, saying nothing matched */
        CHECK_EQ(pmul_decode_ex(b, n, PMUL_DEC_NO_CHECKSUM, &p), (int)n);
        CHECK_EQ(p.cksum_kind, PMUL_CKSUM_NONE);
        b[7] ^= 0x01;
        b[n - 1] ^= 0x10; /* a body byte */
        CHECK_EQ(pmul_decode(b, n, &p), PMUL_ERR_CHECKSUM);
    }
}

/* ---- golden bytes per type --------------------------------------------- */

TEST(data_golden)
{
    uint8_t b[64];
    size_t n;
    struct pmul_pdu p;
    CHECK_EQ(decode_hex(G_DATA, b, sizeof b, &p, &n), (int)n);
    CHECK_EQ(p.type, PMUL_DATA);
    CHECK_EQ(p.length, 19);
    CHECK_EQ(p.priority, 3);
    CHECK_EQ(p.map, 0);
    CHECK_EQ(p.checksum, 0x2989);
    CHECK_EQ(p.cksum_kind, PMUL_CKSUM_ACP142);
    CHECK_EQ(p.source_id, 0x0a000001);
    CHECK_EQ(p.message_id, 0x102);
    CHECK_EQ(p.u.data.seq, 2);
    CHECK_MEM(p.u.data.data, p.u.data.len, "abc", 3);

    struct pmul_pdu q;
    pmul_pdu_init(&q, PMUL_DATA);
    q.priority = 3;
    q.source_id = 0x0a000001;
    q.message_id = 0x102;
    q.u.data.seq = 2;
    q.u.data.data = (const uint8_t *)"abc";
    q.u.data.len = 3;
    encode_check(&q, G_DATA);
    CHECK(pmul_pdu_equal(&p, &q));
}

/* ack_entries - the typed form of G_ACK's entries */
static const struct pmul_range ACK_RANGES[] = {{2, 2}, {4, 9}};

TEST(ack_golden_several_entries_range_timestamp)
{
    uint8_t b[128];
    size_t n;
    struct pmul_pdu p;
    CHECK_EQ(decode_hex(G_ACK, b, sizeof b, &p, &n), (int)n);
    CHECK_EQ(p.type, PMUL_ACK);
    CHECK_EQ(p.length, 50);
    CHECK_EQ(p.priority, 1);
    CHECK_EQ(p.source_id, 0x0a000002); /* Source_ID_of_Ack_Sender */
    CHECK_EQ(p.message_id, 0);
    CHECK_EQ(p.u.ack.count, 2);
    CHECK(p.u.ack.has_timestamp);
    CHECK_EQ(p.u.ack.timestamp, 0x123);

    struct pmul_ack_iter it;
    struct pmul_ack_entry e;
    pmul_ack_iter_init(&it, &p);
    CHECK(pmul_ack_iter_next(&it, &e));
    CHECK_EQ(e.source_id, 0x0a000001);
    CHECK_EQ(e.message_id, 0x102);
    CHECK_EQ(e.missing_words, 4);
    CHECK_EQ(pmul_ack_entry_len(&e), 18);
    uint16_t want[] = {2, 4, 5, 6, 7, 8, 9}, seq;
    size_t k = 0;
    struct pmul_missing_iter mi;
    pmul_missing_init(&mi, &e, 0xFFFF);
    while (pmul_missing_next(&mi, &seq)) {
        CHECK(k < UTIL_ARRAY_LEN(want));
        if (k < UTIL_ARRAY_LEN(want))
            CHECK_EQ(seq, want[k]);
        k++;
    }
    CHECK_EQ(k, 7);
    CHECK_EQ(pmul_missing_count(&e, 0xFFFF), 7);
    uint16_t lo, hi;
    pmul_missing_init(&mi, &e, 0xFFFF);
    CHECK(pmul_missing_next_range(&mi, &lo, &hi));
    CHECK_EQ(lo, 2);
    CHECK_EQ(hi, 2);
    CHECK(pmul_missing_next_range(&mi, &lo, &hi));
    CHECK_EQ(lo, 4);
    CHECK_EQ(hi, 9);
    CHECK(!pmul_missing_next_range(&mi, &lo, &hi));
    CHECK(pmul_ack_iter_next(&it, &e));
    CHECK_EQ(e.message_id, 0x103);
    CHECK_EQ(e.missing_words, 0);
    CHECK_EQ(pmul_missing_count(&e, 0xFFFF), 0);
    CHECK(!pmul_ack_iter_next(&it, &e));

    struct pmul_ack_entry es[2] = {
        {.source_id = 0x0a000001, .message_id = 0x102, .ranges = ACK_RANGES, .nranges = 2},
        {.source_id = 0x0a000001, .message_id = 0x103, .ranges = NULL, .nranges = 0},
    };
    struct pmul_pdu q;
    pmul_pdu_init(&q, PMUL_ACK);
    q.priority = 1;
    q.source_id = 0x0a000002;
    q.u.ack.count = 2;
    q.u.ack.entries = es;
    q.u.ack.has_timestamp = true;
    q.u.ack.timestamp = 0x123;
    encode_check(&q, G_ACK);
    CHECK(pmul_pdu_equal(&p, &q));
    /* the typed form iterates too */
    pmul_ack_iter_init(&it, &q);
    CHECK(pmul_ack_iter_next(&it, &e));
    CHECK_EQ(pmul_missing_count(&e, 0xFFFF), 7);
    CHECK_EQ(pmul_missing_count(&e, 5), 3); /* 2, 4, 5 */
}

TEST(ack_without_timestamp)
{
    /* G_ACK minus the 8 timestamp bytes is a valid Ack_PDU without one */
    uint8_t b[128];
    size_t n = hex(G_ACK, b, sizeof b) - 8;
    util_put_u16(b, (uint16_t)n);
    fix_checksum(b, n);
    struct pmul_pdu p;
    CHECK_EQ(pmul_decode(b, n, &p), (int)n);
    CHECK(!p.u.ack.has_timestamp);
    CHECK_EQ(p.u.ack.count, 2);
    uint8_t out[128];
    CHECK_EQ(pmul_encode(&p, out, sizeof out), (int)n);
    CHECK_MEM(out, n, b, n);
}

static const uint8_t RES1[] = {0x01, 0x02}, RES3[] = {0xff, 0xee};

TEST(address_golden_with_reserved_field)
{
    uint8_t b[128];
    size_t n;
    struct pmul_pdu p;
    CHECK_EQ(decode_hex(G_ADDRESS, b, sizeof b, &p, &n), (int)n);
    CHECK_EQ(p.type, PMUL_ADDRESS);
    CHECK_EQ(p.length, 54);
    CHECK_EQ(p.priority, 2);
    CHECK_EQ(p.map, 0);
    CHECK_EQ(p.source_id, 0x0a000001);
    CHECK_EQ(p.message_id, 0x102);
    CHECK_EQ(p.u.address.total_pdus, 4);
    CHECK_EQ(p.u.address.expiry, 0x5f000000);
    CHECK_EQ(p.u.address.count, 3);
    CHECK_EQ(p.u.address.reserved_len, 2);
    CHECK(!pmul_is_ack_ack(&p));
    struct pmul_dest d;
    CHECK_EQ(pmul_address_dest(&p, 0, &d), 0);
    CHECK_EQ(d.dest_id, 0x0a000002);
    CHECK_EQ(d.msn, 7);
    CHECK_MEM(d.reserved, 2, RES1, 2);
    CHECK_EQ(pmul_address_dest(&p, 2, &d), 0);
    CHECK_EQ(d.dest_id, 0x0a000004);
    CHECK_EQ(d.msn, 1);
    CHECK_MEM(d.reserved, 2, RES3, 2);
    CHECK_EQ(pmul_address_dest(&p, 3, &d), PMUL_ERR_ARG);

    struct pmul_dest ds[3] = {{0x0a000002, 7, RES1}, {0x0a000003, 9, NULL}, {0x0a000004, 1, RES3}};
    struct pmul_pdu q;
    pmul_pdu_init(&q, PMUL_ADDRESS);
    q.priority = 2;
    q.source_id = 0x0a000001;
    q.message_id = 0x102;
    q.u.address.total_pdus = 4;
    q.u.address.expiry = 0x5f000000;
    q.u.address.reserved_len = 2;
    q.u.address.count = 3;
    q.u.address.dests = ds;
    encode_check(&q, G_ADDRESS);
    CHECK(pmul_pdu_equal(&p, &q));
}

TEST(ack_ack_golden)
{
    uint8_t b[64];
    size_t n;
    struct pmul_pdu p;
    CHECK_EQ(decode_hex(G_ACKACK, b, sizeof b, &p, &n), (int)n);
    CHECK_EQ(p.type, PMUL_ADDRESS);
    CHECK(pmul_is_ack_ack(&p));
    CHECK_EQ(p.u.address.total_pdus, 4);
    struct pmul_pdu q;
    pmul_pdu_init(&q, PMUL_ADDRESS);
    q.priority = 2;
    q.source_id = 0x0a000001;
    q.message_id = 0x102;
    q.u.address.total_pdus = 4;
    q.u.address.expiry = 0x5f000000;
    encode_check(&q, G_ACKACK);
}

TEST(discard_golden)
{
    uint8_t b[64];
    size_t n;
    struct pmul_pdu p;
    CHECK_EQ(decode_hex(G_DISCARD, b, sizeof b, &p, &n), (int)n);
    CHECK_EQ(p.type, PMUL_DISCARD_MESSAGE);
    CHECK_EQ(p.priority, 4);
    CHECK_EQ(p.message_id, 0x102);
    struct pmul_pdu q;
    pmul_pdu_init(&q, PMUL_DISCARD_MESSAGE);
    q.priority = 4;
    q.source_id = 0x0a000001;
    q.message_id = 0x102;
    encode_check(&q, G_DISCARD);
}

TEST(every_priority_0_to_255_round_trips)
{
    /* ACP 142's Priority is a whole byte (0 most urgent): nothing above 15
     * is an error, on either side of the codec */
    static const unsigned prios[] = {0, 15, 16, 200, 255};
    static const int types[] = {PMUL_DATA, PMUL_ADDRESS, PMUL_DISCARD_MESSAGE, PMUL_ACK};
    struct pmul_dest d = {0x0a000002, 7, NULL};
    struct pmul_ack_entry ae = {0x0a000001, 0x102, NULL, 0, NULL, 0};
    for (size_t k = 0; k < UTIL_ARRAY_LEN(prios); k++)
        for (size_t t = 0; t < UTIL_ARRAY_LEN(types); t++) {
            struct pmul_pdu q, p;
            pmul_pdu_init(&q, types[t]);
            q.priority = (uint8_t)prios[k];
            q.source_id = 0x0a000001;
            q.message_id = types[t] == PMUL_ACK ? 0 : 0x102;
            if (types[t] == PMUL_DATA) {
                q.u.data.seq = 1;
                q.u.data.data = (const uint8_t *)"abc";
                q.u.data.len = 3;
            } else if (types[t] == PMUL_ADDRESS) {
                q.u.address.total_pdus = 1;
                q.u.address.expiry = 0x5f000000;
                q.u.address.count = 1;
                q.u.address.dests = &d;
            } else if (types[t] == PMUL_ACK) {
                q.u.ack.count = 1;
                q.u.ack.entries = &ae;
            }
            uint8_t b[128];
            int n = pmul_encode(&q, b, sizeof b);
            CHECK(n > 0);
            if (n <= 0)
                continue;
            CHECK_EQ(b[2], prios[k]);
            CHECK_EQ(pmul_decode(b, (size_t)n, &p), n);
            CHECK_EQ(p.priority, prios[k]);
            CHECK(pmul_pdu_equal(&p, &q));
        }
}

TEST(announce_golden)
{
    uint8_t b[64];
    size_t n;
    struct pmul_pdu p;
    CHECK_EQ(decode_hex(G_ANNOUNCE, b, sizeof b, &p, &n), (int)n);
    CHECK_EQ(p.type, PMUL_ANNOUNCE);
    CHECK_EQ(p.u.announce.expiry, 0x5f000000);
    CHECK_EQ(p.u.announce.group, 0xe0010203);
    CHECK_EQ(p.u.announce.count, 2);
    CHECK_EQ(pmul_announce_dest(&p, 0), 0x0a000002);
    CHECK_EQ(pmul_announce_dest(&p, 1), 0x0a000003);
    CHECK_EQ(pmul_announce_dest(&p, 2), 0);
    uint32_t ids[] = {0x0a000002, 0x0a000003};
    struct pmul_pdu q;
    pmul_pdu_init(&q, PMUL_ANNOUNCE);
    q.source_id = 0x0a000001;
    q.message_id = 0x102;
    q.u.announce.expiry = 0x5f000000;
    q.u.announce.group = 0xe0010203;
    q.u.announce.count = 2;
    q.u.announce.dest_ids = ids;
    encode_check(&q, G_ANNOUNCE);
    CHECK(pmul_pdu_equal(&p, &q));
}

TEST(request_reject_release_golden)
{
    const char *const g[] = {G_REQUEST, G_REJECT, G_RELEASE};
    const int types[] = {PMUL_REQUEST, PMUL_REJECT, PMUL_RELEASE};
    for (int i = 0; i < 3; i++) {
        uint8_t b[64];
        size_t n;
        struct pmul_pdu p;
        CHECK_EQ(decode_hex(g[i], b, sizeof b, &p, &n), (int)n);
        CHECK_EQ(p.type, types[i]);
        CHECK_EQ(p.u.group.group, 0xe0010203);
        CHECK_EQ(p.source_id, 0x0a000001);
        CHECK_EQ(p.message_id, 0x102);
        struct pmul_pdu q;
        pmul_pdu_init(&q, types[i]);
        q.source_id = 0x0a000001;
        q.message_id = 0x102;
        q.u.group.group = 0xe0010203;
        encode_check(&q, g[i]);
    }
}

TEST(fec_and_extra_address_refused_cleanly)
{
    const char *const g[] = {G_FEC, G_EXTRA, G_UNKNOWN};
    const int types[] = {PMUL_FEC_ADDRESS, PMUL_EXTRA_ADDRESS, 0x3f};
    for (int i = 0; i < 3; i++) {
        uint8_t b[64];
        size_t n;
        struct pmul_pdu p;
        CHECK_EQ(decode_hex(g[i], b, sizeof b, &p, &n), PMUL_ERR_UNSUPPORTED);
        CHECK_EQ(p.type, types[i]);
        CHECK_EQ(p.length, n);
        CHECK_EQ(p.source_id, 0x0a000001);
        CHECK_EQ(p.message_id, 0x102);
        CHECK_EQ(p.cksum_kind, PMUL_CKSUM_ACP142);
        uint8_t out[64];
        CHECK(pmul_encode(&p, out, sizeof out) < 0);
    }
    uint8_t b[64];
    size_t n;
    struct pmul_pdu p;
    decode_hex(G_EXTRA, b, sizeof b, &p, &n);
    CHECK_EQ(p.map, PMUL_MAP_NOT_FIRST);
    CHECK_EQ(p.priority, 2);
    /* still checked first: a bad checksum is a bad checksum */
    b[n - 1] ^= 1;
    CHECK_EQ(pmul_decode(b, n, &p), PMUL_ERR_CHECKSUM);
    CHECK_STR(pmul_type_name(PMUL_EXTRA_FEC_ADDRESS), "Extra_FEC_Address_PDU");
}

TEST(every_golden_round_trips_byte_exact)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(ALL_GOLDEN); i++) {
        uint8_t b[512], out[512];
        size_t n;
        struct pmul_pdu p, q;
        CHECK_EQ(decode_hex(ALL_GOLDEN[i], b, sizeof b, &p, &n), (int)n);
        int m = pmul_encode(&p, out, sizeof out);
        CHECK_EQ(m, (int)n);
        CHECK_MEM(out, n, b, n);
        CHECK_EQ(pmul_decode(out, n, &q), (int)n);
        CHECK(pmul_pdu_equal(&p, &q));
    }
}

/* ---- decoder error paths ------------------------------------------------- */

TEST(truncation_at_every_length)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(ALL_GOLDEN); i++) {
        uint8_t b[512];
        size_t n = hex(ALL_GOLDEN[i], b, sizeof b);
        for (size_t k = 0; k < n; k++) {
            struct pmul_pdu p;
            int rc = pmul_decode(b, k, &p);
            CHECK_EQ(rc, PMUL_ERR_TRUNCATED);
            /* also with the checksum ignored */
            CHECK_EQ(pmul_decode_ex(b, k, PMUL_DEC_NO_CHECKSUM, &p), PMUL_ERR_TRUNCATED);
        }
    }
}

TEST(length_field_shrunk_to_every_length)
{
    /* A PDU whose Length_of_PDU (and bytes) are cut short, with a valid
     * checksum: the fields no longer add up.  Data_PDUs and the Ack_PDU
     * minus its timestamp stay valid, so they are not in this list. */
    const char *const g[] = {G_ADDRESS, G_ACKACK, G_DISCARD, G_ANNOUNCE,
                             G_REQUEST, G_REJECT, G_RELEASE};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(g); i++) {
        uint8_t b[512];
        size_t n = hex(g[i], b, sizeof b);
        for (size_t k = 2; k < n; k++) {
            uint8_t c[512];
            memcpy(c, b, k);
            util_put_u16(c, (uint16_t)k);
            if (k >= 8)
                fix_checksum(c, k);
            struct pmul_pdu p;
            int rc = pmul_decode_ex(c, k, PMUL_DEC_NO_CHECKSUM, &p);
            CHECK(rc == PMUL_ERR_LENGTH);
        }
    }
    /* the Ack_PDU cut anywhere but at the end of an entry or the timestamp */
    uint8_t b[128];
    size_t n = hex(G_ACK, b, sizeof b);
    for (size_t k = 2; k < n; k++) {
        uint8_t c[128];
        memcpy(c, b, k);
        util_put_u16(c, (uint16_t)k);
        if (k >= 8)
            fix_checksum(c, k);
        struct pmul_pdu p;
        int rc = pmul_decode(c, k, &p);
        if (k == n - 8)
            CHECK_EQ(rc, (int)k); /* without the timestamp */
        else
            CHECK(rc == PMUL_ERR_LENGTH || rc == PMUL_ERR_INVALID);
    }
}

TEST(length_field_mismatch)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(ALL_GOLDEN); i++) {
        uint8_t b[512];
        size_t n = hex(ALL_GOLDEN[i], b, sizeof b);
        struct pmul_pdu p;
        /* Length says one more than there is */
        util_put_u16(b, (uint16_t)(n + 1));
        fix_checksum(b, n);
        CHECK_EQ(pmul_decode(b, n, &p), PMUL_ERR_TRUNCATED);
        /* Length says one less: a trailing byte */
        util_put_u16(b, (uint16_t)(n - 1));
        fix_checksum(b, n);
        CHECK_EQ(pmul_decode(b, n, &p), PMUL_ERR_LENGTH);
        /* right Length, one extra byte after the PDU */
        hex(ALL_GOLDEN[i], b, sizeof b);
        b[n] = 0;
        CHECK_EQ(pmul_decode(b, n + 1, &p), PMUL_ERR_LENGTH);
        /* padding allowed: zeros (libjpmul) or anything, up to a datagram's
         * worth; the PDU decodes as without, the padding counted */
        struct pmul_pdu want, got;
        CHECK_EQ(pmul_decode(b, n, &want), (int)n);
        for (size_t pad = 1; pad <= 100; pad += 33) {
            memset(b + n, pad == 34 ? 0xA5 : 0, pad);
            CHECK_EQ(pmul_decode_ex(b, n + pad, PMUL_DEC_PADDED, &got), (int)(n + pad));
            CHECK_EQ(got.padding, pad);
            CHECK_EQ(got.type, want.type);
            CHECK_EQ(got.length, want.length);
            CHECK_EQ(got.source_id, want.source_id);
            CHECK_EQ(got.message_id, want.message_id);
            CHECK_EQ(got.cksum_kind, want.cksum_kind);
        }
        /* a checksum over the padded datagram is taken too */
        memset(b + n, 0, 8);
        fix_checksum(b, n + 8);
        CHECK_EQ(pmul_decode_ex(b, n + 8, PMUL_DEC_PADDED, &got), (int)(n + 8));
        CHECK_EQ(got.padding, 8);
    }
    uint8_t tiny[8] = {0x00, 0x04, 0x00, 0x03};
    struct pmul_pdu p;
    CHECK_EQ(pmul_decode(tiny, 4, &p), PMUL_ERR_LENGTH); /* Length 4: no room for a header */
    CHECK_EQ(pmul_decode(tiny, 0, &p), PMUL_ERR_TRUNCATED);
    CHECK_EQ(pmul_decode(tiny, 1, &p), PMUL_ERR_TRUNCATED);
    CHECK_EQ(pmul_decode(NULL, 4, &p), PMUL_ERR_ARG);
    CHECK_EQ(pmul_decode(tiny, 4, NULL), PMUL_ERR_ARG);
}

/* patched - decode golden hex after b[off..] = bytes (hex) and a checksum fix */
static int patched(const char *g, size_t off, const char *bytes, size_t *len)
{
    static uint8_t b[512];
    size_t n = hex(g, b, sizeof b);
    uint8_t p[64];
    size_t m = hex(bytes, p, sizeof p);
    memcpy(b + off, p, m);
    fix_checksum(b, n);
    *len = n;
    struct pmul_pdu pdu;
    return pmul_decode(b, n, &pdu);
}

TEST(address_counts_overflowing)
{
    size_t n;
    CHECK_EQ(patched(G_ADDRESS, 20, "ffff", &n), PMUL_ERR_LENGTH); /* count */
    CHECK_EQ(patched(G_ADDRESS, 20, "0004", &n), PMUL_ERR_LENGTH);
    CHECK_EQ(patched(G_ADDRESS, 20, "0002", &n), PMUL_ERR_LENGTH);
    CHECK_EQ(patched(G_ADDRESS, 22, "ffff", &n), PMUL_ERR_LENGTH); /* reserved length */
    CHECK_EQ(patched(G_ADDRESS, 22, "0000", &n), PMUL_ERR_LENGTH);
    CHECK_EQ(patched(G_ADDRESS, 22, "0003", &n), PMUL_ERR_LENGTH);
    /* 3 entries of 10 bytes = 5 entries of 6? no: entries are at least 8 */
    CHECK_EQ(patched(G_ADDRESS, 20, "0005", &n), PMUL_ERR_LENGTH);
    CHECK_EQ(patched(G_ACKACK, 20, "0001", &n), PMUL_ERR_LENGTH);
    CHECK_EQ(patched(G_ANNOUNCE, 4, "0003", &n), PMUL_ERR_LENGTH); /* Announce count in X */
    CHECK_EQ(patched(G_ANNOUNCE, 4, "0001", &n), PMUL_ERR_LENGTH);
    CHECK_EQ(patched(G_ANNOUNCE, 4, "ffff", &n), PMUL_ERR_LENGTH);
}

TEST(ack_entry_errors)
{
    size_t n;
    /* entry 1 at offset 14: length 18 */
    CHECK_EQ(patched(G_ACK, 14, "0009", &n), PMUL_ERR_INVALID); /* < 10 */
    CHECK_EQ(patched(G_ACK, 14, "0000", &n), PMUL_ERR_INVALID);
    CHECK_EQ(patched(G_ACK, 14, "0013", &n), PMUL_ERR_LENGTH); /* odd */
    CHECK_EQ(patched(G_ACK, 14, "ffff", &n), PMUL_ERR_LENGTH); /* beyond the PDU */
    /* lengths that make the next entry start in the wrong place: whatever
     * is read there is refused, as a bad length or a bad field */
    int rc = patched(G_ACK, 14, "0010", &n);
    CHECK(rc == PMUL_ERR_LENGTH || rc == PMUL_ERR_INVALID);
    rc = patched(G_ACK, 14, "0024", &n);
    CHECK(rc == PMUL_ERR_LENGTH || rc == PMUL_ERR_INVALID);
    rc = patched(G_ACK, 14, "000c", &n);
    CHECK(rc == PMUL_ERR_LENGTH || rc == PMUL_ERR_INVALID);
    /* count of entries */
    rc = patched(G_ACK, 12, "0003", &n); /* a third entry read from the timestamp */
    CHECK(rc == PMUL_ERR_LENGTH || rc == PMUL_ERR_INVALID);
    rc = patched(G_ACK, 12, "ffff", &n);
    CHECK(rc == PMUL_ERR_LENGTH || rc == PMUL_ERR_INVALID);
    CHECK_EQ(patched(G_ACK, 12, "0004", &n), PMUL_ERR_INVALID);
    CHECK_EQ(patched(G_ACK, 12, "0001", &n), PMUL_ERR_LENGTH); /* 18 bytes left, not 0 or 8 */
    CHECK_EQ(patched(G_ACK, 12, "0000", &n), PMUL_ERR_LENGTH);
    /* entry 2 (offset 32) grown to swallow the timestamp: 4 missing words */
    CHECK_EQ(patched(G_ACK, 32, "0012", &n), PMUL_ERR_INVALID); /* 0 0 0 0x123: a lone 0 */
}

TEST(ack_missing_list_errors)
{
    size_t n;
    /* entry 1's list at offset 24: 0002 0004 0000 0009 */
    CHECK_EQ(patched(G_ACK, 24, "0002 0009 0000 0004", &n), PMUL_ERR_INVALID); /* 9..4 */
    CHECK_EQ(patched(G_ACK, 24, "0000 0004 0000 0009", &n), PMUL_ERR_INVALID); /* lone 0 */
    CHECK_EQ(patched(G_ACK, 24, "0002 0004 0009 0000", &n), PMUL_ERR_INVALID); /* a, 0 at end */
    CHECK_EQ(patched(G_ACK, 24, "0002 0004 0000 0000", &n), PMUL_ERR_INVALID); /* 4..0 */
    CHECK_EQ(patched(G_ACK, 24, "ffff 0000 0001 0003", &n), PMUL_ERR_INVALID);
    /* tolerated: a one-number range, unsorted numbers, repeats */
    CHECK_EQ(patched(G_ACK, 24, "0002 0004 0000 0004", &n), (int)n);
    CHECK_EQ(patched(G_ACK, 24, "0009 0004 0000 0009", &n), (int)n);
    CHECK_EQ(patched(G_ACK, 24, "0002 0002 0002 0002", &n), (int)n);
}

TEST(field_errors)
{
    size_t n;
    CHECK_EQ(patched(G_DATA, 4, "0000", &n), PMUL_ERR_INVALID); /* Data_PDU sequence 0 */
    CHECK_EQ(patched(G_DATA, 4, "ffff", &n), (int)n);
    /* MAP bits and unused fields are tolerated on receive */
    CHECK_EQ(patched(G_DATA, 3, "c0", &n), (int)n);
    CHECK_EQ(patched(G_DISCARD, 4, "1234", &n), (int)n);
    CHECK_EQ(patched(G_REQUEST, 2, "07", &n), (int)n);
    /* an empty Data_PDU is well-formed */
    uint8_t b[32];
    size_t m = hex(G_DATA, b, sizeof b) - 3;
    util_put_u16(b, (uint16_t)m);
    fix_checksum(b, m);
    struct pmul_pdu p;
    CHECK_EQ(pmul_decode(b, m, &p), (int)m);
    CHECK_EQ(p.u.data.len, 0);
}

/* ---- encoder errors ------------------------------------------------------ */

TEST(encode_errors)
{
    uint8_t out[256];
    for (size_t i = 0; i < UTIL_ARRAY_LEN(ALL_GOLDEN); i++) {
        uint8_t b[512];
        size_t n;
        struct pmul_pdu p;
        decode_hex(ALL_GOLDEN[i], b, sizeof b, &p, &n);
        for (size_t cap = 0; cap < n; cap++)
            CHECK_EQ(pmul_encode(&p, out, cap), PMUL_ERR_OVERFLOW);
        CHECK_EQ(pmul_encode(&p, NULL, 1000), PMUL_ERR_OVERFLOW);
    }
    struct pmul_pdu p;
    pmul_pdu_init(&p, PMUL_DATA);
    CHECK_EQ(pmul_encode(&p, out, sizeof out), PMUL_ERR_INVALID); /* seq 0 */
    p.u.data.seq = 1;
    p.u.data.len = 3;
    CHECK_EQ(pmul_encode(&p, out, sizeof out), PMUL_ERR_ARG); /* NULL data */
    static const uint8_t big[PMUL_MAX_LEN];
    p.u.data.data = big;
    p.u.data.len = PMUL_MAX_LEN - PMUL_HDR_LEN + 1;
    CHECK_EQ(pmul_encoded_len(&p), PMUL_ERR_TOO_BIG);
    p.u.data.len = PMUL_MAX_LEN - PMUL_HDR_LEN;
    CHECK_EQ(pmul_encoded_len(&p), (int)PMUL_MAX_LEN);
    p.map = 4;
    CHECK_EQ(pmul_encoded_len(&p), PMUL_ERR_ARG);

    pmul_pdu_init(&p, PMUL_FEC_ADDRESS);
    CHECK_EQ(pmul_encode(&p, out, sizeof out), PMUL_ERR_UNSUPPORTED);
    pmul_pdu_init(&p, 0x3f);
    CHECK_EQ(pmul_encode(&p, out, sizeof out), PMUL_ERR_ARG);
    CHECK_EQ(pmul_encoded_len(NULL), PMUL_ERR_ARG);

    pmul_pdu_init(&p, PMUL_ADDRESS);
    p.u.address.count = 2;
    CHECK_EQ(pmul_encode(&p, out, sizeof out), PMUL_ERR_ARG); /* no list */
    struct pmul_dest ds[1] = {{1, 1, NULL}};
    p.u.address.dests = ds;
    p.u.address.count = 0x10000;
    CHECK_EQ(pmul_encoded_len(&p), PMUL_ERR_TOO_BIG);
    p.u.address.count = (PMUL_MAX_LEN - PMUL_ADDRESS_HDR_LEN) / 8 + 1;
    CHECK_EQ(pmul_encoded_len(&p), PMUL_ERR_TOO_BIG);
    p.u.address.count = 1;
    p.u.address.reserved_len = 0xFFFF;
    CHECK_EQ(pmul_encoded_len(&p), PMUL_ERR_TOO_BIG);

    pmul_pdu_init(&p, PMUL_ANNOUNCE);
    p.u.announce.count = 1;
    CHECK_EQ(pmul_encode(&p, out, sizeof out), PMUL_ERR_ARG);
    p.u.announce.count = 0x10000;
    CHECK_EQ(pmul_encoded_len(&p), PMUL_ERR_TOO_BIG);

    /* Ack entries the decoder would refuse */
    struct pmul_range bad1[] = {{0, 3}}, bad2[] = {{5, 4}};
    struct pmul_ack_entry e = {.source_id = 1, .message_id = 2, .ranges = bad1, .nranges = 1};
    pmul_pdu_init(&p, PMUL_ACK);
    p.u.ack.count = 1;
    p.u.ack.entries = &e;
    CHECK_EQ(pmul_encode(&p, out, sizeof out), PMUL_ERR_INVALID);
    CHECK_EQ(pmul_ack_entry_len(&e), 0);
    e.ranges = bad2;
    CHECK_EQ(pmul_encode(&p, out, sizeof out), PMUL_ERR_INVALID);
    uint8_t rawbad[] = {0x00, 0x00};
    e.ranges = NULL;
    e.raw = rawbad;
    e.missing_words = 1;
    CHECK_EQ(pmul_encode(&p, out, sizeof out), PMUL_ERR_INVALID);
    e.raw = NULL;
    CHECK_EQ(pmul_encode(&p, out, sizeof out), PMUL_ERR_ARG);
    e.raw = big; /* all zeros, but the size is checked first */
    e.missing_words = 40000;
    CHECK_EQ(pmul_encoded_len(&p), PMUL_ERR_TOO_BIG);
    /* singles adding up beyond 65535 bytes over several entries */
    static struct pmul_range many[20000];
    for (size_t i = 0; i < 20000; i++)
        many[i].lo = many[i].hi = (uint16_t)(2 * i + 1);
    struct pmul_ack_entry two[2] = {{1, 2, many, 20000, NULL, 0}, {1, 3, many, 20000, NULL, 0}};
    p.u.ack.entries = two;
    p.u.ack.count = 2;
    CHECK_EQ(pmul_encoded_len(&p), PMUL_ERR_TOO_BIG);
    p.u.ack.count = 1;
    CHECK_EQ(pmul_encoded_len(&p), 14 + 10 + 40000);
    p.u.ack.count = 0x10000;
    CHECK_EQ(pmul_encoded_len(&p), PMUL_ERR_TOO_BIG);
    /* a raw entry list that does not hold `count` entries */
    uint8_t b[128];
    size_t n;
    struct pmul_pdu d;
    decode_hex(G_ACK, b, sizeof b, &d, &n);
    d.u.ack.count = 3;
    CHECK_EQ(pmul_encode(&d, out, sizeof out), PMUL_ERR_LENGTH);
    d.u.ack.count = 1;
    CHECK_EQ(pmul_encode(&d, out, sizeof out), PMUL_ERR_LENGTH);
}

TEST(ack_ranges_encoding)
{
    /* 1 word for a single, 2 for a pair, a 0 b from 3 numbers on */
    struct pmul_range r[] = {{7, 7}, {10, 11}, {20, 22}, {30, 300}};
    CHECK_EQ(pmul_ranges_words(r, 4), 1 + 2 + 3 + 3);
    struct pmul_ack_entry e = {.source_id = 0x01020304, .message_id = 9, .ranges = r, .nranges = 4};
    CHECK_EQ(pmul_ack_entry_len(&e), 10 + 2 * 9);
    CHECK_EQ(pmul_missing_count(&e, 0xFFFF), 1 + 2 + 3 + 271);
    CHECK_EQ(pmul_missing_count(&e, 21), 1 + 2 + 2);
    CHECK_EQ(pmul_missing_count(&e, 6), 0);
    struct pmul_pdu p, q;
    pmul_pdu_init(&p, PMUL_ACK);
    p.source_id = 5;
    p.u.ack.count = 1;
    p.u.ack.entries = &e;
    uint8_t out[128], want[128];
    int n = pmul_encode(&p, out, sizeof out);
    CHECK_EQ(n, 14 + 28);
    /* every byte but the checksum (checked by the decode below) */
    hex("002a 00 01 0000", want, sizeof want);
    CHECK_MEM(out, 6, want, 6);
    hex("00000005 0001 001c 01020304 00000009 0007 000a 000b 0014 0000 0016 001e 0000 012c", want,
        sizeof want);
    CHECK_MEM(out + 8, 34, want, 34);
    CHECK_EQ(pmul_decode(out, (size_t)n, &q), n);
    CHECK(pmul_pdu_equal(&p, &q));
}

/* ---- missing-number iterators --------------------------------------------- */

TEST(missing_iterator_clips_and_bounds)
{
    /* raw list 1, 0, 65535 (a peer claiming everything is missing) and 3 */
    uint8_t raw[] = {0x00, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x03};
    struct pmul_ack_entry e = {.raw = raw, .missing_words = 4};
    CHECK_EQ(pmul_missing_count(&e, 0xFFFF), 65535 + 1);
    CHECK_EQ(pmul_missing_count(&e, 5), 5 + 1);
    struct pmul_missing_iter it;
    uint16_t seq, got[16];
    size_t n = 0;
    pmul_missing_init(&it, &e, 5);
    while (pmul_missing_next(&it, &seq) && n < 16)
        got[n++] = seq;
    CHECK_EQ(n, 6);
    CHECK_EQ(got[0], 1);
    CHECK_EQ(got[4], 5);
    CHECK_EQ(got[5], 3);
    CHECK(!pmul_missing_next(&it, &seq));
    /* 65535 itself is reachable and ends the walk (no wrap to 0) */
    uint8_t top[] = {0xff, 0xfe, 0x00, 0x00, 0xff, 0xff};
    struct pmul_ack_entry t = {.raw = top, .missing_words = 3};
    n = 0;
    pmul_missing_init(&it, &t, 0xFFFF);
    while (pmul_missing_next(&it, &seq) && n < 16)
        got[n++] = seq;
    CHECK_EQ(n, 2);
    CHECK_EQ(got[1], 0xFFFF);
    /* a raw list nobody validated: zeros and reversed ranges are skipped */
    uint8_t junk[] = {0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x04, 0x00, 0x06};
    struct pmul_ack_entry j = {.raw = junk, .missing_words = 5};
    CHECK_EQ(pmul_missing_count(&j, 0xFFFF), 1);
    /* no list at all */
    struct pmul_ack_entry z = {0};
    CHECK_EQ(pmul_missing_count(&z, 0xFFFF), 0);
    z.missing_words = 3; /* raw NULL: nothing, no crash */
    CHECK_EQ(pmul_missing_count(&z, 0xFFFF), 0);
}

/* ---- Address_PDU splitting ----------------------------------------------- */

TEST(address_fit_and_parts)
{
    CHECK_EQ(pmul_address_fit(2048 - 6, 0), (2042 - 24) / 8);
    CHECK_EQ(pmul_address_fit(24 + 8, 0), 1);
    CHECK_EQ(pmul_address_fit(24 + 7, 0), 0);
    CHECK_EQ(pmul_address_fit(100, 4), (100 - 24) / 12);
    CHECK_EQ(pmul_address_fit(1000000, 0), (65535 - 24) / 8);
    CHECK_EQ(pmul_address_fit(1000000, 0xFFFF), 0);
    CHECK_EQ(pmul_address_parts(0, 24, 0), 1);
    CHECK_EQ(pmul_address_parts(0, 23, 0), PMUL_ERR_TOO_BIG);
    CHECK_EQ(pmul_address_parts(5, 24 + 7, 0), PMUL_ERR_TOO_BIG);
    CHECK_EQ(pmul_address_parts(8, 24 + 32, 0), 2);
    CHECK_EQ(pmul_address_parts(9, 24 + 32, 0), 3);
    CHECK_EQ(pmul_address_parts(100000, 65535, 0), 13);
}

TEST(address_split_sets_map_bits)
{
    struct pmul_dest ds[10];
    for (int i = 0; i < 10; i++) {
        ds[i].dest_id = 0x0a000010 + (uint32_t)i;
        ds[i].msn = (uint32_t)(100 + i);
        ds[i].reserved = NULL;
    }
    struct pmul_pdu whole;
    pmul_pdu_init(&whole, PMUL_ADDRESS);
    whole.priority = 2;
    whole.source_id = 0x0a000001;
    whole.message_id = 77;
    whole.u.address.total_pdus = 3;
    whole.u.address.expiry = 1234567;
    whole.u.address.count = 10;
    whole.u.address.dests = ds;
    size_t room = 24 + 4 * 8 + 7; /* 4 entries fit, not 5 */
    CHECK_EQ(pmul_address_parts(10, room, 0), 3);
    const uint8_t maps[3] = {PMUL_MAP_NOT_LAST, PMUL_MAP_NOT_FIRST | PMUL_MAP_NOT_LAST,
                             PMUL_MAP_NOT_FIRST};
    const uint8_t wire[3] = {0x42, 0xc2, 0x82};
    const size_t counts[3] = {4, 4, 2};
    size_t seen = 0;
    for (size_t k = 0; k < 3; k++) {
        struct pmul_pdu part, back;
        uint8_t out[256];
        CHECK_EQ(pmul_address_split(&whole, room, k, &part), 0);
        CHECK_EQ(part.map, maps[k]);
        CHECK_EQ(part.u.address.count, counts[k]);
        int n = pmul_encode(&part, out, sizeof out);
        CHECK(n > 0 && (size_t)n <= room);
        CHECK_EQ(out[3], wire[k]);
        CHECK_EQ(pmul_decode(out, (size_t)n, &back), n);
        CHECK_EQ(back.map, maps[k]);
        CHECK_EQ(back.message_id, 77);
        CHECK_EQ(back.u.address.total_pdus, 3);
        CHECK_EQ(back.u.address.expiry, 1234567);
        for (size_t i = 0; i < back.u.address.count; i++) {
            struct pmul_dest d;
            CHECK_EQ(pmul_address_dest(&back, i, &d), 0);
            CHECK_EQ(d.dest_id, ds[seen].dest_id);
            CHECK_EQ(d.msn, ds[seen].msn);
            seen++;
        }
    }
    CHECK_EQ(seen, 10);
    struct pmul_pdu part;
    CHECK_EQ(pmul_address_split(&whole, room, 3, &part), PMUL_ERR_ARG);
    /* all of it fits: one PDU, MAP 0 */
    CHECK_EQ(pmul_address_split(&whole, 2048, 0, &part), 0);
    CHECK_EQ(part.map, 0);
    CHECK_EQ(part.u.address.count, 10);
    CHECK_EQ(pmul_address_split(&whole, 2048, 1, &part), PMUL_ERR_ARG);
    /* nothing fits */
    CHECK_EQ(pmul_address_split(&whole, 30, 0, &part), PMUL_ERR_TOO_BIG);
    /* the Ack-Ack: one PDU without entries */
    whole.u.address.count = 0;
    CHECK_EQ(pmul_address_split(&whole, room, 0, &part), 0);
    CHECK(pmul_is_ack_ack(&part));
    CHECK_EQ(part.map, 0);
    /* not an Address_PDU */
    whole.type = PMUL_DATA;
    CHECK_EQ(pmul_address_split(&whole, room, 0, &part), PMUL_ERR_ARG);
}

TEST(address_split_of_a_decoded_list)
{
    /* the raw (decoded) form splits too: G_ADDRESS's 3 entries of 10 bytes */
    uint8_t b[128];
    size_t n;
    struct pmul_pdu p, part;
    decode_hex(G_ADDRESS, b, sizeof b, &p, &n);
    size_t room = 24 + 2 * 10;
    CHECK_EQ(pmul_address_parts(3, room, 2), 2);
    CHECK_EQ(pmul_address_split(&p, room, 1, &part), 0);
    CHECK_EQ(part.map, PMUL_MAP_NOT_FIRST);
    CHECK_EQ(part.u.address.count, 1);
    struct pmul_dest d;
    CHECK_EQ(pmul_address_dest(&part, 0, &d), 0);
    CHECK_EQ(d.dest_id, 0x0a000004);
    CHECK_MEM(d.reserved, 2, RES3, 2);
    uint8_t out[128];
    CHECK_EQ(pmul_encode(&part, out, sizeof out), 34);
}

TEST(dests_sort_by_id)
{
    struct pmul_dest ds[4] = {{30, 1, NULL}, {10, 2, NULL}, {0xffffffff, 3, NULL}, {20, 4, NULL}};
    pmul_dests_sort(ds, 4);
    CHECK_EQ(ds[0].dest_id, 10);
    CHECK_EQ(ds[0].msn, 2);
    CHECK_EQ(ds[1].dest_id, 20);
    CHECK_EQ(ds[2].dest_id, 30);
    CHECK_EQ(ds[3].dest_id, 0xffffffff);
}

TEST(pdu_equal_notices_differences)
{
    uint8_t b[128], c[128];
    size_t n;
    struct pmul_pdu p, q;
    decode_hex(G_ACK, b, sizeof b, &p, &n);
    decode_hex(G_ACK, c, sizeof c, &q, &n);
    CHECK(pmul_pdu_equal(&p, &q));
    q.u.ack.timestamp = 1;
    CHECK(!pmul_pdu_equal(&p, &q));
    /* 4..9 -> 4..8 */
    CHECK_EQ(patched(G_ACK, 28, "0008", &n), (int)n);
    uint8_t d[128];
    memcpy(d, c, n);
    util_put_u16(d + 28, 8);
    fix_checksum(d, n);
    CHECK_EQ(pmul_decode(d, n, &q), (int)n);
    CHECK(!pmul_pdu_equal(&p, &q));
    /* 2, 4..9 written as 2, 4, 5, 6..9 is the same list */
    struct pmul_range r[] = {{2, 2}, {4, 4}, {5, 5}, {6, 9}};
    struct pmul_ack_entry es[2] = {{0x0a000001, 0x102, r, 4, NULL, 0},
                                   {0x0a000001, 0x103, NULL, 0, NULL, 0}};
    q = p;
    q.u.ack.entries = es;
    CHECK(pmul_pdu_equal(&p, &q));
    es[1].message_id = 0x104;
    CHECK(!pmul_pdu_equal(&p, &q));
    decode_hex(G_ADDRESS, b, sizeof b, &p, &n);
    decode_hex(G_ADDRESS, c, sizeof c, &q, &n);
    c[n - 1] ^= 1; /* a reserved byte */
    CHECK(!pmul_pdu_equal(&p, &q));
    q.priority = 9;
    CHECK(!pmul_pdu_equal(&p, &q));
}

TEST(strerror_and_names)
{
    CHECK_STR(pmul_strerror(0), "success");
    CHECK_STR(pmul_strerror(PMUL_ERR_CHECKSUM), "bad P_MUL checksum");
    CHECK_CONTAINS(pmul_strerror(PMUL_ERR_TRUNCATED), "truncated");
    CHECK_STR(pmul_strerror(UTIL_ERR_NOMEM), util_strerror(UTIL_ERR_NOMEM));
    CHECK_STR(pmul_strerror(-999), "unknown error");
    for (int e = PMUL_ERR_ARG; e <= PMUL_ERR_TRUNCATED; e++)
        CHECK(strcmp(pmul_strerror(e), "unknown error") != 0);
    CHECK_STR(pmul_type_name(PMUL_ACK), "Ack_PDU");
    CHECK_STR(pmul_type_name(PMUL_DISCARD_MESSAGE), "Discard_Message_PDU");
    CHECK_STR(pmul_type_name(63), "unknown");
}

/* ---- the libjpmul vectors --------------------------------------------------- */

/* type_of - the PDU type a vector's file name announces */
static int type_of(const char *name)
{
    if (strstr(name, "address"))
        return PMUL_ADDRESS;
    if (strstr(name, "data"))
        return PMUL_DATA;
    return PMUL_ACK;
}

TEST(vectors_decode)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(VECTORS); i++) {
        struct vector v;
        struct pmul_pdu p;
        if (load_vector(VECTORS[i], &v) < 0) {
            CHECK(0);
            continue;
        }
        int rc = pmul_decode(v.pdu, v.len, &p);
        if (rc != (int)v.len)
            printf("# %s: %s\n", VECTORS[i], pmul_strerror(rc));
        CHECK_EQ(rc, (int)v.len);
        CHECK_EQ(p.type, type_of(VECTORS[i]));
        CHECK_EQ(p.length, v.len);
        CHECK_EQ(p.cksum_kind, PMUL_CKSUM_ACP142);
        CHECK_EQ(p.map, 0);
        /* the sender is 127.0.0.1, the receiver 127.0.0.2 */
        CHECK_EQ(p.source_id, p.type == PMUL_ACK ? 0x7f000002 : 0x7f000001);
    }
}

TEST(vectors_match_run_summaries)
{
    /* run1_summary.txt and run5_summary.txt list every PDU of their runs in
     * order: check length, priority, MAP and checksum of each file */
    const char *runs[] = {"run1", "run5"};
    int lines = 0;
    for (size_t r = 0; r < 2; r++) {
        char path[1024], line[512];
        snprintf(path, sizeof path, "%s/%s_summary.txt", PMUL_VECTORS, runs[r]);
        FILE *f = fopen(path, "r");
        CHECK(f != NULL);
        if (!f)
            continue;
        int k_addr = 0, k_data = 0, k_ack = 0;
        while (fgets(line, sizeof line, f)) {
            int no;
            char src[64], dst[64], type[64];
            unsigned len, len2, prio, map, ck, fl, ip;
            if (sscanf(line,
                       "#%d %63s -> %63s %63s len=%u (Length_of_PDU=%u) prio=%u map=%u "
                       "cksum=0x%x fletcher=0x%x ip=0x%x",
                       &no, src, dst, type, &len, &len2, &prio, &map, &ck, &fl, &ip) != 11)
                continue;
            char name[64];
            if (strcmp(type, "Address_PDU") == 0)
                snprintf(name, sizeof name, "%s_address_pdu_%d", runs[r], ++k_addr);
            else if (strcmp(type, "Data_PDU") == 0)
                snprintf(name, sizeof name, "%s_data_pdu_%d", runs[r], ++k_data);
            else
                snprintf(name, sizeof name, "%s_ack_pdu_%d", runs[r], ++k_ack);
            struct vector v;
            struct pmul_pdu p;
            CHECK_EQ(load_vector(name, &v), 0);
            CHECK_EQ(pmul_decode(v.pdu, v.len, &p), (int)v.len);
            CHECK_STR(pmul_type_name(p.type), type);
            CHECK_EQ(v.len, len);
            CHECK_EQ(p.length, len2);
            CHECK_EQ(p.priority, prio);
            CHECK_EQ(p.map, map);
            CHECK_EQ(p.checksum, ck);
            CHECK_EQ(pmul_checksum_acp142(v.pdu, v.len), fl);
            CHECK_EQ(pmul_checksum_rfc1071(v.pdu, v.len), ip);
            lines++;
        }
        fclose(f);
    }
    CHECK_EQ(lines, 3 + 7);
}

/* address_of - the typed Address_PDU libjpmul sends: one destination */
static void address_of(struct pmul_pdu *p, struct pmul_dest *d, uint16_t total, uint32_t msgid,
                       uint32_t expiry)
{
    pmul_pdu_init(p, PMUL_ADDRESS);
    p->priority = 2;
    p->source_id = 0x7f000001;
    p->message_id = msgid;
    p->u.address.total_pdus = total;
    p->u.address.expiry = expiry;
    d->dest_id = 0x7f000002;
    d->msn = 1;
    d->reserved = NULL;
    p->u.address.count = 1;
    p->u.address.dests = d;
}

/* data_of - the typed Data_PDU libjpmul sends */
static void data_of(struct pmul_pdu *p, uint16_t seq, uint32_t msgid, const char *s, size_t len)
{
    pmul_pdu_init(p, PMUL_DATA);
    p->priority = 2;
    p->source_id = 0x7f000001;
    p->message_id = msgid;
    p->u.data.seq = seq;
    p->u.data.data = (const uint8_t *)s;
    p->u.data.len = len;
}

/* vector_check - encode p and compare with a vector file, decode and compare */
static void vector_check(const struct pmul_pdu *p, const char *name)
{
    struct vector v;
    uint8_t out[256];
    struct pmul_pdu d;
    if (load_vector(name, &v) < 0) {
        CHECK(0);
        return;
    }
    int n = pmul_encode(p, out, sizeof out);
    CHECK_EQ(n, (int)v.len);
    if (n > 0)
        CHECK_MEM(out, (size_t)n, v.pdu, v.len);
    CHECK_EQ(pmul_decode(v.pdu, v.len, &d), (int)v.len);
    CHECK(pmul_pdu_equal(p, &d));
    /* and the decoded form re-encodes to the same bytes */
    CHECK_EQ(pmul_encode(&d, out, sizeof out), (int)v.len);
    CHECK_MEM(out, v.len, v.pdu, v.len);
}

TEST(vectors_reencode_sender_side)
{
    struct pmul_pdu p;
    struct pmul_dest d;
    /* run1: one 37-byte message to 127.0.0.2 */
    address_of(&p, &d, 1, 0x6b03c0d8, 0x6b03c150);
    vector_check(&p, "run1_address_pdu_1");
    const char *hello = "Hello from libjpmul over P_MUL/ACP142";
    CHECK_EQ(strlen(hello), 37);
    data_of(&p, 1, 0x6b03c0d8, hello, 37);
    vector_check(&p, "run1_data_pdu_1");
    /* run3: one PDU, sent four times */
    char name[64];
    for (int k = 1; k <= 4; k++) {
        address_of(&p, &d, 1, 0x6b03c145, 0x6b03c1bd);
        snprintf(name, sizeof name, "run3_address_pdu_%d", k);
        vector_check(&p, name);
        data_of(&p, 1, 0x6b03c145, "ack-style test spec", 19);
        snprintf(name, sizeof name, "run3_data_pdu_%d", k);
        vector_check(&p, name);
    }
    /* run4 */
    address_of(&p, &d, 1, 0x6b03c170, 0x6b03c1e8);
    vector_check(&p, "run4_address_pdu_1");
    data_of(&p, 1, 0x6b03c170, "ack-style test jpmul", 20);
    vector_check(&p, "run4_data_pdu_1");
    /* run5: 200 bytes of ABC...Z ABC... cut at 48 bytes of data per PDU
     * (PDU size limit 64) */
    char msg[200];
    for (int i = 0; i < 200; i++)
        msg[i] = (char)('A' + i % 26);
    address_of(&p, &d, 5, 0x6b03c19c, 0x6b03c214);
    vector_check(&p, "run5_address_pdu_1");
    for (int k = 0; k < 5; k++) {
        size_t off = (size_t)k * 48, len = k < 4 ? 48 : 200 - 4 * 48;
        data_of(&p, (uint16_t)(k + 1), 0x6b03c19c, msg + off, len);
        snprintf(name, sizeof name, "run5_data_pdu_%d", k + 1);
        vector_check(&p, name);
    }
}

TEST(vectors_reencode_acks)
{
    /* libjpmul puts the acking receiver's ID (127.0.0.2) in the entry's
     * Source_ID (see the README); we carry whatever is there */
    struct {
        const char *name;
        uint32_t msgid;
        uint16_t missing; /* 0: none */
    } acks[] = {{"run1_ack_pdu_1", 0x6b03c0d8, 0},
                {"run2_ack_pdu_1", 0x6b03c123, 2},
                {"run2_ack_pdu_2", 0x6b03c123, 0},
                {"run5_ack_pdu_1", 0x6b03c19c, 0}};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(acks); i++) {
        struct pmul_range r = {acks[i].missing, acks[i].missing};
        struct pmul_ack_entry e = {.source_id = 0x7f000002,
                                   .message_id = acks[i].msgid,
                                   .ranges = &r,
                                   .nranges = acks[i].missing ? 1 : 0};
        struct pmul_pdu p;
        pmul_pdu_init(&p, PMUL_ACK);
        p.priority = 0;
        p.source_id = 0x7f000002;
        p.u.ack.count = 1;
        p.u.ack.entries = &e;
        vector_check(&p, acks[i].name);

        struct vector v;
        struct pmul_pdu d;
        struct pmul_ack_iter it;
        struct pmul_ack_entry got;
        load_vector(acks[i].name, &v);
        pmul_decode(v.pdu, v.len, &d);
        CHECK(!d.u.ack.has_timestamp);
        pmul_ack_iter_init(&it, &d);
        CHECK(pmul_ack_iter_next(&it, &got));
        CHECK_EQ(got.message_id, acks[i].msgid);
        CHECK_EQ(pmul_missing_count(&got, 0xFFFF), acks[i].missing ? 1 : 0);
        struct pmul_missing_iter mi;
        uint16_t seq;
        pmul_missing_init(&mi, &got, 0xFFFF);
        if (acks[i].missing) {
            CHECK(pmul_missing_next(&mi, &seq));
            CHECK_EQ(seq, acks[i].missing);
        }
        CHECK(!pmul_missing_next(&mi, &seq));
    }
}

TEST(vectors_reassemble_run5)
{
    char want[200], got[200];
    size_t off = 0;
    for (int i = 0; i < 200; i++)
        want[i] = (char)('A' + i % 26);
    for (int k = 1; k <= 5; k++) {
        char name[64];
        struct vector v;
        struct pmul_pdu p;
        snprintf(name, sizeof name, "run5_data_pdu_%d", k);
        CHECK_EQ(load_vector(name, &v), 0);
        CHECK_EQ(pmul_decode(v.pdu, v.len, &p), (int)v.len);
        CHECK_EQ(p.u.data.seq, k);
        if (off + p.u.data.len <= sizeof got)
            memcpy(got + off, p.u.data.data, p.u.data.len);
        off += p.u.data.len;
    }
    CHECK_EQ(off, 200);
    CHECK_MEM(got, 200, want, 200);
}

/* main - run every test */
int main(void)
{
    RUN(checksums_match_every_vector);
    RUN(checksum_ignores_its_own_field_and_short_input);
    RUN(rfc1071_checksum_accepted);
    RUN(corrupted_checksum_rejected);
    RUN(data_golden);
    RUN(ack_golden_several_entries_range_timestamp);
    RUN(ack_without_timestamp);
    RUN(address_golden_with_reserved_field);
    RUN(ack_ack_golden);
    RUN(discard_golden);
    RUN(every_priority_0_to_255_round_trips);
    RUN(announce_golden);
    RUN(request_reject_release_golden);
    RUN(fec_and_extra_address_refused_cleanly);
    RUN(every_golden_round_trips_byte_exact);
    RUN(truncation_at_every_length);
    RUN(length_field_shrunk_to_every_length);
    RUN(length_field_mismatch);
    RUN(address_counts_overflowing);
    RUN(ack_entry_errors);
    RUN(ack_missing_list_errors);
    RUN(field_errors);
    RUN(encode_errors);
    RUN(ack_ranges_encoding);
    RUN(missing_iterator_clips_and_bounds);
    RUN(address_fit_and_parts);
    RUN(address_split_sets_map_bits);
    RUN(address_split_of_a_decoded_list);
    RUN(dests_sort_by_id);
    RUN(pdu_equal_notices_differences);
    RUN(strerror_and_names);
    RUN(vectors_decode);
    RUN(vectors_match_run_summaries);
    RUN(vectors_reencode_sender_side);
    RUN(vectors_reencode_acks);
    RUN(vectors_reassemble_run5);
    return harness_done();
}
