/* mule_cdt_test.c - CompressedData (mule/cdt.c): golden BER from our
 * encoder, the explicit-tag form from an independent encoder, long-form
 * lengths, rejection of indefinite lengths, trailing bytes, algorithms other
 * than zlib and content types other than 25 (logged and discarded, RFC 8494
 * 5.1), corrupt zlib, inflation exactly up to the limit, and zopfli's
 * smaller stream that any inflate reads ([mule] compress = zopfli).
 */
#include <zlib.h>

#include "harness.h"
#include "mule/mule.h"
#include "mule_golden.h"

/* hex - bytes from a hex string (static buffer) */
static const uint8_t *hex(const char *h, size_t *n)
{
    static uint8_t buf[4096];
    int rc = util_hex_decode(h, buf, sizeof buf);
    *n = rc < 0 ? 0 : (size_t)rc;
    return buf;
}

TEST(encode_matches_golden)
{
    size_t len;
    uint8_t *payload = golden_read("rfc8494_example.bsmtp", &len);
    CHECK(payload != NULL);
    if (!payload)
        return;
    struct util_buf out;
    util_buf_init(&out, 0);
    CHECK_EQ(mule_cdt_encode(payload, len, 9, &out), 0);
    /* the Annex E tagging with long-form lengths, and a zlib header 78 DA */
    static const uint8_t head[] = {0x30, 0x82, 0x01, 0x36, 0x80, 0x01, 0x00, 0x30,
                                   0x82, 0x01, 0x2f, 0x80, 0x01, 0x19, 0xa0, 0x82,
                                   0x01, 0x2a, 0x04, 0x82, 0x01, 0x26, 0x78, 0xda};
    CHECK(out.len > sizeof head);
    size_t zlen = out.len - 22;
    uint8_t want_head[sizeof head];
    memcpy(want_head, head, sizeof head);
    /* lengths follow the zlib stream's size (zlib may differ by a byte or two) */
    util_put_u16(want_head + 2, (uint16_t)(zlen + 18));
    util_put_u16(want_head + 9, (uint16_t)(zlen + 11));
    util_put_u16(want_head + 16, (uint16_t)(zlen + 4));
    util_put_u16(want_head + 20, (uint16_t)zlen);
    CHECK_MEM(out.data, sizeof head, want_head, sizeof head);
    /* the BER wrapper around the golden zlib stream is byte exact */
    size_t glen;
    uint8_t *g = golden_read("rfc8494_example.cdt", &glen);
    if (getenv("MULE_UPDATE_GOLDEN")) {
        CHECK(golden_check("rfc8494_example.cdt", out.data, out.len));
    } else {
        CHECK(g != NULL && glen > 22);
        if (g && glen > 22) {
            struct util_buf w;
            util_buf_init(&w, 0);
            CHECK_EQ(mule_cdt_wrap(g + 22, glen - 22, &w), 0);
            CHECK_MEM(w.data, w.len, g, glen);
            util_buf_free(&w);
        }
    }
    free(g);
    /* and it decodes and inflates back to the payload */
    struct mule_cdt cdt;
    CHECK_EQ(mule_cdt_decode(out.data, out.len, &cdt), (int)out.len);
    CHECK_EQ(cdt.algorithm, 0);
    CHECK_EQ(cdt.content_type, 25);
    CHECK(!cdt.explicit_tags);
    struct util_buf back;
    util_buf_init(&back, 0);
    CHECK_EQ(mule_inflate(cdt.zdata, cdt.zlen, len, &back, NULL), 0);
    CHECK_MEM(back.data, back.len, payload, len);
    util_buf_free(&back);
    util_buf_free(&out);
    free(payload);
}

TEST(reused_deflate_stream_gives_the_same_bytes)
{
    /* mule_cdt_encode keeps its deflate stream between calls: the bytes
     * must not depend on what was compressed before, or at which level */
    static const char a[] = "Subject: one\r\n\r\nthe same text, the same text, the same text\r\n";
    static const char b[] = "something else entirely, 0123456789 0123456789";
    struct util_buf first, other, again, fresh;
    util_buf_init(&first, 0);
    util_buf_init(&other, 0);
    util_buf_init(&again, 0);
    util_buf_init(&fresh, 0);
    CHECK_EQ(mule_cdt_encode((const uint8_t *)a, sizeof a - 1, 9, &first), 0);
    CHECK_EQ(mule_cdt_encode((const uint8_t *)b, sizeof b - 1, 1, &other), 0);
    CHECK_EQ(mule_cdt_encode((const uint8_t *)b, sizeof b - 1, 9, &other), 0);
    CHECK_EQ(mule_cdt_encode((const uint8_t *)a, sizeof a - 1, 9, &again), 0);
    mule_cdt_encode_release();
    CHECK_EQ(mule_cdt_encode((const uint8_t *)a, sizeof a - 1, 9, &fresh), 0);
    CHECK_MEM(again.data, again.len, first.data, first.len);
    CHECK_MEM(fresh.data, fresh.len, first.data, first.len);
    mule_cdt_encode_release();
    mule_cdt_encode_release(); /* twice is harmless */
    util_buf_free(&first);
    util_buf_free(&other);
    util_buf_free(&again);
    util_buf_free(&fresh);
}

/* english - n bytes of seeded word salad in lines, like a message body */
static uint8_t *english(size_t n)
{
    static const char *const w[] = {"the",     "radio",   "message", "of",     "and",    "to",
                                    "station", "will",    "report",  "at",     "hours",  "ship",
                                    "convoy",  "weather", "north",   "wind",   "signal", "is",
                                    "a",       "with",    "for",     "orders", "from",   "command"};
    uint8_t *b = malloc(n);
    uint64_t x = 8494;
    size_t i = 0, col = 0;
    while (b && i < n) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const char *word = w[(x >> 33) % UTIL_ARRAY_LEN(w)];
        for (const char *c = word; *c && i < n; c++, col++)
            b[i++] = (uint8_t)*c;
        if (i < n)
            b[i++] = col > 64 ? '\n' : ' ';
        col = col > 64 ? 0 : col + 1;
    }
    return b;
}

TEST(zopfli_writes_a_smaller_standard_zlib_stream)
{
    size_t n = 10800;
    uint8_t *text = english(n);
    CHECK(text != NULL);
    struct util_buf z, zo, again;
    util_buf_init(&z, 0);
    util_buf_init(&zo, 0);
    util_buf_init(&again, 0);
    CHECK_EQ(mule_cdt_encode_zopfli(text, n, 0, &zo), MULE_ERR_INVAL);
    CHECK_EQ(mule_cdt_encode_zopfli(text, n, 1001, &zo), MULE_ERR_INVAL);
    if (!mule_zopfli_available()) {
        printf("# built without zopfli\n");
        CHECK_EQ(mule_cdt_encode_zopfli(text, n, 15, &zo), MULE_ERR_NO_ZOPFLI);
        free(text);
        return;
    }
    CHECK_EQ(mule_cdt_encode(text, n, 9, &z), 0);
    CHECK_EQ(mule_cdt_encode_zopfli(text, n, 15, &zo), 0);
    CHECK_EQ(mule_cdt_encode_zopfli(text, n, 15, &again), 0);
    CHECK_MEM(again.data, again.len, zo.data, zo.len); /* deterministic */
    printf("# %zu bytes of text: zlib -9 %zu, zopfli %zu (%.3f)\n", n, z.len, zo.len,
           (double)zo.len / (double)z.len);
    CHECK(zo.len < z.len);
    /* the same CompressedData around a standard zlib stream: it opens and inflates */
    struct mule_cdt cdt;
    CHECK_EQ(mule_cdt_decode(zo.data, zo.len, &cdt), (int)zo.len);
    CHECK_EQ(cdt.algorithm, 0);
    CHECK_EQ(cdt.content_type, 25);
    CHECK(cdt.zlen > 2 && cdt.zdata[0] == 0x78);
    struct util_buf back;
    util_buf_init(&back, 0);
    CHECK_EQ(mule_inflate(cdt.zdata, cdt.zlen, n, &back, NULL), 0);
    CHECK_MEM(back.data, back.len, text, n);
    /* and zlib's own inflate agrees */
    uLongf outlen = (uLongf)n;
    uint8_t *raw = malloc(n);
    CHECK(raw && uncompress(raw, &outlen, cdt.zdata, (uLong)cdt.zlen) == Z_OK && outlen == n);
    CHECK(raw && memcmp(raw, text, n) == 0);
    free(raw);
    util_buf_free(&back);
    util_buf_free(&z);
    util_buf_free(&zo);
    util_buf_free(&again);
    free(text);
}

TEST(the_config_chooses_the_encoder_by_size)
{
    struct mule_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.compression_level = 9;
    cfg.compress = mule_zopfli_available() ? MULE_COMPRESS_ZOPFLI : MULE_COMPRESS_ZLIB;
    cfg.zopfli_iterations = 1;
    cfg.zopfli_max_size = 2000;
    uint8_t *text = english(4000);
    struct util_buf a, b;
    util_buf_init(&a, 0);
    util_buf_init(&b, 0);
    enum mule_compress used;
    CHECK_EQ(mule_compress_payload(&cfg, text, 2000, &a, &used), 0);
    CHECK_EQ(used, cfg.compress);
    CHECK_EQ(mule_compress_payload(&cfg, text, 4000, &b, &used), 0);
    CHECK_EQ(used, MULE_COMPRESS_ZLIB); /* beyond zopfli_max_size */
    struct util_buf want;
    util_buf_init(&want, 0);
    CHECK_EQ(mule_cdt_encode(text, 4000, 9, &want), 0);
    CHECK_MEM(b.data, b.len, want.data, want.len);
    util_buf_free(&a);
    util_buf_free(&b);
    util_buf_free(&want);
    free(text);
}

TEST(golden_cdt_opens)
{
    size_t plen, glen;
    uint8_t *payload = golden_read("rfc8494_example.bsmtp", &plen);
    uint8_t *g = golden_read("rfc8494_example.cdt", &glen);
    CHECK(payload && g);
    if (payload && g) {
        struct util_buf out;
        util_buf_init(&out, 0);
        CHECK_EQ(mule_cdt_open(g, glen, 0, "src=10.0.0.1 msgid=1", &out), 0);
        CHECK_MEM(out.data, out.len, payload, plen);
        util_buf_free(&out);
    }
    free(payload);
    free(g);
}

TEST(short_form_lengths)
{
    struct util_buf out;
    util_buf_init(&out, 0);
    CHECK_EQ(mule_cdt_encode((const uint8_t *)"x", 1, 9, &out), 0);
    /* 30 L 80 01 00 30 L 80 01 19 A0 L 04 L 78 DA ... */
    CHECK(out.len > 14);
    size_t z = out.len - 14;
    const uint8_t want[] = {
        0x30, (uint8_t)(z + 12), 0x80, 0x01,       0x00, 0x30, (uint8_t)(z + 7), 0x80, 0x01, 0x19,
        0xa0, (uint8_t)(z + 2),  0x04, (uint8_t)z, 0x78, 0xda};
    CHECK_MEM(out.data, sizeof want, want, sizeof want);
    struct util_buf back;
    util_buf_init(&back, 0);
    CHECK_EQ(mule_cdt_open(out.data, out.len, 1, NULL, &back), 0);
    CHECK_MEM(back.data, back.len, "x", 1);
    /* an empty payload is a valid (if useless) stream too */
    util_buf_reset(&out);
    util_buf_reset(&back);
    CHECK_EQ(mule_cdt_encode(NULL, 0, 9, &out), 0);
    CHECK_EQ(mule_cdt_open(out.data, out.len, 1, NULL, &back), 0);
    CHECK_EQ(back.len, 0);
    util_buf_free(&back);
    util_buf_free(&out);
}

TEST(explicit_tags_from_another_encoder)
{
    size_t plen, glen;
    uint8_t *payload = golden_read("rfc8494_example.bsmtp", &plen);
    uint8_t *g = golden_read("rfc8494_example_explicit.cdt", &glen);
    CHECK(payload && g);
    if (payload && g) {
        struct mule_cdt cdt;
        CHECK_EQ(mule_cdt_decode(g, glen, &cdt), (int)glen);
        CHECK(cdt.explicit_tags);
        CHECK_EQ(cdt.algorithm, 0);
        CHECK_EQ(cdt.content_type, 25);
        struct util_buf out;
        util_buf_init(&out, 0);
        CHECK_EQ(mule_cdt_open(g, glen, 0, NULL, &out), 0);
        CHECK_MEM(out.data, out.len, payload, plen);
        util_buf_free(&out);
    }
    free(payload);
    free(g);
}

/* Log lines captured from mule_cdt_open. */
static char logged[8][256];
static int n_logged;

/* sink - keep log lines */
static void sink(void *user, enum util_log_level level, enum util_log_module module,
                 const char *line)
{
    (void)user;
    (void)level;
    if (module == UTIL_MOD_MULE && n_logged < 8)
        snprintf(logged[n_logged++], sizeof logged[0], "%s", line);
}

TEST(rejects_what_mule_does_not_carry)
{
    size_t n;
    struct mule_cdt cdt;
    /* algorithm 1 */
    const uint8_t *b = hex("300f 800101 300a 800119 a005 0403 789c03", &n);
    CHECK_EQ(mule_cdt_decode(b, n, &cdt), MULE_ERR_ALGORITHM);
    CHECK_EQ(cdt.algorithm, 1);
    /* content type 26, explicit form */
    b = hex("3013 a003020100 300c a00302011a a005 0403 789c03", &n);
    CHECK_EQ(mule_cdt_decode(b, n, &cdt), MULE_ERR_CONTENT_TYPE);
    CHECK_EQ(cdt.content_type, 26);
    /* algorithmID-OID [1] and contentType-OID [1] */
    b = hex("3011 8103 2a0304 300a 800119 a005 0403 789c03", &n);
    CHECK_EQ(mule_cdt_decode(b, n, &cdt), MULE_ERR_ALGORITHM);
    b = hex("3011 800100 300c a105 0603 2a0304 a003 0401 00", &n);
    CHECK_EQ(mule_cdt_decode(b, n, &cdt), MULE_ERR_CONTENT_TYPE);
    /* logged and discarded */
    util_log_to_sink(sink, NULL);
    n_logged = 0;
    struct util_buf out;
    util_buf_init(&out, 0);
    b = hex("3013 a003020100 300c a00302011a a005 0403 789c03", &n);
    CHECK_EQ(mule_cdt_open(b, n, 0, "src=10.0.0.7 msgid=42", &out), MULE_ERR_CONTENT_TYPE);
    CHECK_EQ(out.len, 0);
    CHECK_EQ(n_logged, 1);
    CHECK_CONTAINS(logged[0], "mule cdt-discard src=10.0.0.7 msgid=42 reason=content-type ct=26");
    b = hex("300f 800101 300a 800119 a005 0403 789c03", &n);
    CHECK_EQ(mule_cdt_open(b, n, 0, NULL, &out), MULE_ERR_ALGORITHM);
    CHECK_CONTAINS(logged[1], "cdt-discard reason=algorithm alg=1");
    util_log_to_stderr();
    util_buf_free(&out);
}

TEST(rejects_malformed_ber)
{
    size_t n;
    struct mule_cdt cdt;
    static const struct {
        const char *hex;
        int err;
    } cases[] = {
        {"3080 800100 3080 800119 a080 0403 789c03 0000 0000 0000", MULE_ERR_BER_INDEFINITE},
        {"300f 800100 3080 800119 a005 0403 789c03", MULE_ERR_BER_INDEFINITE},
        {"300f 800100 300a 800119 a005 0403 789c03 00", MULE_ERR_BER_TRAILING},
        {"310f 800100 300a 800119 a005 0403 789c03", MULE_ERR_BER},         /* SET */
        {"3010 800100 300a 800119 a005 0403 789c03", MULE_ERR_BER},         /* too long */
        {"300e 800100 300a 800119 a005 0403 789c03", MULE_ERR_BER},         /* inner overruns */
        {"300f 800100 3009 800119 a005 0403 789c03", MULE_ERR_BER},         /* cci too short */
        {"300f 800100 300a 800119 a005 2403 789c03", MULE_ERR_BER},         /* constructed */
        {"300f 800100 300a 800119 a005 0404 789c03", MULE_ERR_BER},         /* octets overrun */
        {"3010 800100 300b 800119 a006 0403 789c03 00", MULE_ERR_BER},      /* junk in [0] */
        {"3085 0000000010 800100", MULE_ERR_BER},                           /* 5-byte length */
        {"300d 8000 300a 800119 a005 0403 789c03", MULE_ERR_BER},           /* empty INTEGER */
        {"3012 a004 0402 0000 300a 800119 a005 0403 789c03", MULE_ERR_BER}, /* not INTEGER */
        {"1f01 00", MULE_ERR_BER},                                          /* high tag */
        {"", MULE_ERR_BER},
        {"30", MULE_ERR_BER},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        const uint8_t *b = hex(cases[i].hex, &n);
        int rc = mule_cdt_decode(b, n, &cdt);
        if (rc != cases[i].err)
            printf("# case %zu: %d\n", i, rc);
        CHECK_EQ(rc, cases[i].err);
    }
    /* a long-form length with leading zero octets is still BER */
    const uint8_t *b = hex("3081 0f 800100 3082000a 800119 a005 0403 789c03", &n);
    CHECK_EQ(mule_cdt_decode(b, n, &cdt), MULE_ERR_BER); /* outer length now too short */
    b = hex("3081 12 800100 3083 00000a 800119 a005 0403 789c03", &n);
    CHECK_EQ(mule_cdt_decode(b, n, &cdt), (int)n);
    /* every prefix of a good unit is an error, never a crash */
    size_t glen;
    uint8_t *g = golden_read("rfc8494_example.cdt", &glen);
    CHECK(g != NULL);
    for (size_t i = 0; g && i < glen; i++)
        CHECK(mule_cdt_decode(g, i, &cdt) < 0);
    free(g);
}

/* deflate_buf - a zlib stream of n bytes at p */
static size_t deflate_buf(const void *p, size_t n, uint8_t *out, size_t cap)
{
    uLongf zl = cap;
    compress2(out, &zl, p, n, 9);
    return zl;
}

TEST(inflate_errors_and_exact_limit)
{
    static uint8_t z[4096], data[3000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + i / 13);
    size_t zl = deflate_buf(data, sizeof data, z, sizeof z);
    struct util_buf out;
    util_buf_init(&out, 0);
    CHECK_EQ(mule_inflate(z, zl, sizeof data, &out, NULL), 0);
    CHECK_MEM(out.data, out.len, data, sizeof data);
    util_buf_reset(&out);
    CHECK_EQ(mule_inflate(z, zl, sizeof data - 1, &out, NULL), MULE_ERR_TOO_BIG);
    CHECK_EQ(out.len, 0);
    CHECK_EQ(mule_inflate(z, zl - 1, sizeof data, &out, NULL), MULE_ERR_ZLIB); /* truncated */
    CHECK_EQ(mule_inflate(z, zl / 2, sizeof data, &out, NULL), MULE_ERR_ZLIB);
    z[zl] = 0;
    CHECK_EQ(mule_inflate(z, zl + 1, sizeof data, &out, NULL), MULE_ERR_ZLIB); /* trailing */
    z[zl - 1] ^= 1;
    CHECK_EQ(mule_inflate(z, zl, sizeof data, &out, NULL), MULE_ERR_ZLIB);         /* Adler-32 */
    CHECK_EQ(mule_inflate(z + 2, zl - 2, sizeof data, &out, NULL), MULE_ERR_ZLIB); /* raw */
    CHECK_EQ(mule_inflate(z, 0, sizeof data, &out, NULL), MULE_ERR_ZLIB);
    CHECK_EQ(out.len, 0);
    /* appending to a buffer that already holds bytes: the limit counts new bytes */
    z[zl - 1] ^= 1;
    util_buf_append(&out, "abc", 3);
    CHECK_EQ(mule_inflate(z, zl, sizeof data, &out, NULL), 0);
    CHECK_EQ(out.len, 3 + sizeof data);
    util_buf_free(&out);
}

/* main - run the CompressedData tests */
int main(void)
{
    RUN(encode_matches_golden);
    RUN(reused_deflate_stream_gives_the_same_bytes);
    RUN(zopfli_writes_a_smaller_standard_zlib_stream);
    RUN(the_config_chooses_the_encoder_by_size);
    RUN(golden_cdt_opens);
    RUN(short_form_lengths);
    RUN(explicit_tags_from_another_encoder);
    RUN(rejects_what_mule_does_not_carry);
    RUN(rejects_malformed_ber);
    RUN(inflate_errors_and_exact_limit);
    return harness_done();
}
