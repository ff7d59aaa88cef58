/* util_test.c - unit tests for util/: buffer, cursors (every error path),
 * hex, logging, the config parser (every error path), value parsers,
 * PRNG and timer heap.
 */
#include "harness.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- buffer ---- */

TEST(buf_grows_and_consumes)
{
    struct util_buf b;
    util_buf_init(&b, 0);
    for (int i = 0; i < 1000; i++) {
        uint8_t v = (uint8_t)i;
        CHECK_EQ(util_buf_append(&b, &v, 1), 0);
    }
    CHECK_EQ(b.len, 1000);
    CHECK(b.cap >= 1000);
    util_buf_consume(&b, 10);
    CHECK_EQ(b.len, 990);
    CHECK_EQ(b.data[0], 10);
    util_buf_consume(&b, 5000);
    CHECK_EQ(b.len, 0);
    CHECK_EQ(util_buf_append(&b, NULL, 0), 0);
    CHECK_EQ(util_buf_append_str(&b, "abc"), 0);
    CHECK_EQ(util_buf_printf(&b, "-%d-%s", 42, "x"), 0);
    CHECK_MEM(b.data, b.len, "abc-42-x", 8);
    util_buf_reset(&b);
    CHECK_EQ(b.len, 0);
    util_buf_free(&b);
    CHECK(b.data == NULL);
}

TEST(buf_limit_is_enforced)
{
    struct util_buf b;
    util_buf_init(&b, 10);
    CHECK_EQ(util_buf_append(&b, "0123456789", 10), 0);
    CHECK_EQ(util_buf_append(&b, "x", 1), UTIL_ERR_NOMEM);
    CHECK_EQ(b.len, 10);
    CHECK(b.cap <= 10);
    CHECK_EQ(util_buf_printf(&b, "%s", "y"), UTIL_ERR_NOMEM);
    CHECK_EQ(util_buf_reserve(&b, SIZE_MAX), UTIL_ERR_NOMEM);
    util_buf_consume(&b, 4);
    CHECK_EQ(util_buf_append(&b, "abcd", 4), 0);
    CHECK_MEM(b.data, b.len, "456789abcd", 10);
    util_buf_free(&b);
}

/* ---- reader ---- */

TEST(reader_reads_big_endian)
{
    static const uint8_t in[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
                                 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14};
    struct util_reader r;
    util_rd_init(&r, in, sizeof in);
    CHECK_EQ(util_rd_u8(&r), 0x01);
    CHECK_EQ(util_rd_u16(&r), 0x0203);
    CHECK_EQ(util_rd_u24(&r), 0x040506);
    CHECK_EQ(util_rd_u32(&r), 0x0708090a);
    CHECK(util_rd_u64(&r) == 0x0b0c0d0e0f101112ull);
    CHECK_EQ(util_rd_remaining(&r), 2);
    const uint8_t *p = util_rd_ptr(&r, 1);
    CHECK(p == in + 18);
    uint8_t last;
    util_rd_bytes(&r, &last, 1);
    CHECK_EQ(last, 0x14);
    CHECK_EQ(util_rd_remaining(&r), 0);
    CHECK_EQ(util_rd_error(&r), 0);
}

TEST(reader_error_is_sticky)
{
    static const uint8_t in[] = {0xAA, 0xBB, 0xCC};
    struct util_reader r;
    /* each width past the end */
    util_rd_init(&r, in, 1);
    CHECK_EQ(util_rd_u16(&r), 0);
    CHECK_EQ(util_rd_error(&r), UTIL_ERR_TRUNCATED);
    CHECK_EQ(util_rd_u8(&r), 0); /* sticky: even a byte that exists is not read */
    CHECK_EQ(util_rd_remaining(&r), 0);
    util_rd_init(&r, in, 2);
    CHECK_EQ(util_rd_u24(&r), 0);
    CHECK_EQ(util_rd_error(&r), UTIL_ERR_TRUNCATED);
    util_rd_init(&r, in, 3);
    CHECK_EQ(util_rd_u32(&r), 0);
    CHECK_EQ(util_rd_error(&r), UTIL_ERR_TRUNCATED);
    util_rd_init(&r, in, 3);
    CHECK(util_rd_u64(&r) == 0);
    CHECK_EQ(util_rd_error(&r), UTIL_ERR_TRUNCATED);
    util_rd_init(&r, in, 3);
    CHECK(util_rd_ptr(&r, 4) == NULL);
    CHECK_EQ(util_rd_error(&r), UTIL_ERR_TRUNCATED);
    util_rd_init(&r, in, 3);
    uint8_t out[4] = {1, 2, 3, 4};
    util_rd_bytes(&r, out, 4);
    CHECK_EQ(util_rd_error(&r), UTIL_ERR_TRUNCATED);
    CHECK_EQ(out[0] | out[1] | out[2] | out[3], 0);
    util_rd_init(&r, in, 3);
    util_rd_skip(&r, 2);
    CHECK_EQ(util_rd_remaining(&r), 1);
    util_rd_skip(&r, 2);
    CHECK_EQ(util_rd_error(&r), UTIL_ERR_TRUNCATED);
    /* a huge length cannot wrap the position */
    util_rd_init(&r, in, 3);
    util_rd_u8(&r);
    CHECK(util_rd_ptr(&r, SIZE_MAX) == NULL);
    CHECK_EQ(util_rd_error(&r), UTIL_ERR_TRUNCATED);
    /* a NULL input is an empty one */
    util_rd_init(&r, NULL, 10);
    CHECK_EQ(util_rd_remaining(&r), 0);
    CHECK_EQ(util_rd_u8(&r), 0);
    CHECK_EQ(util_rd_error(&r), UTIL_ERR_TRUNCATED);
}

TEST(reader_fail_keeps_first_error)
{
    static const uint8_t in[] = {1, 2};
    struct util_reader r;
    util_rd_init(&r, in, 2);
    util_rd_fail(&r, UTIL_ERR_RANGE);
    util_rd_fail(&r, UTIL_ERR_TRUNCATED);
    CHECK_EQ(util_rd_error(&r), UTIL_ERR_RANGE);
    CHECK_EQ(util_rd_u8(&r), 0);
    CHECK_EQ(util_rd_remaining(&r), 0);
}

/* ---- writer ---- */

TEST(writer_writes_big_endian)
{
    uint8_t out[32];
    struct util_writer w;
    util_wr_init(&w, out, sizeof out);
    util_wr_u8(&w, 0x01);
    util_wr_u16(&w, 0x0203);
    util_wr_u24(&w, 0x040506);
    util_wr_u32(&w, 0x0708090a);
    util_wr_u64(&w, 0x0b0c0d0e0f101112ull);
    util_wr_bytes(&w, "\x13\x14", 2);
    util_wr_zero(&w, 2);
    util_wr_put_u16_at(&w, 0, 0xFFEE);
    static const uint8_t want[] = {0xff, 0xee, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                                   0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0, 0};
    CHECK_EQ(util_wr_error(&w), 0);
    CHECK_MEM(out, util_wr_len(&w), want, sizeof want);
    /* zero-length writes are fine anywhere */
    util_wr_bytes(&w, NULL, 0);
    util_wr_zero(&w, 0);
    CHECK_EQ(util_wr_error(&w), 0);
}

TEST(writer_error_is_sticky)
{
    uint8_t out[8];
    struct util_writer w;
    static const size_t widths[] = {1, 2, 3, 4, 8};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(widths); i++) {
        util_wr_init(&w, out, widths[i] - 1);
        switch (widths[i]) {
        case 1: util_wr_u8(&w, 1); break;
        case 2: util_wr_u16(&w, 1); break;
        case 3: util_wr_u24(&w, 1); break;
        case 4: util_wr_u32(&w, 1); break;
        default: util_wr_u64(&w, 1); break;
        }
        CHECK_EQ(util_wr_error(&w), UTIL_ERR_OVERFLOW);
        CHECK_EQ(util_wr_len(&w), 0);
    }
    util_wr_init(&w, out, 3);
    util_wr_u16(&w, 0x1122);
    util_wr_u16(&w, 0x3344); /* overflows */
    util_wr_u8(&w, 0x55);    /* would fit, but the error is sticky */
    CHECK_EQ(util_wr_error(&w), UTIL_ERR_OVERFLOW);
    CHECK_EQ(util_wr_len(&w), 2);
    util_wr_init(&w, out, 3);
    util_wr_bytes(&w, "abcd", 4);
    CHECK_EQ(util_wr_error(&w), UTIL_ERR_OVERFLOW);
    util_wr_init(&w, out, 3);
    util_wr_zero(&w, 4);
    CHECK_EQ(util_wr_error(&w), UTIL_ERR_OVERFLOW);
    /* u24 range */
    util_wr_init(&w, out, 8);
    util_wr_u24(&w, 0x1000000);
    CHECK_EQ(util_wr_error(&w), UTIL_ERR_INVAL);
    /* patching outside what was written */
    util_wr_init(&w, out, 8);
    util_wr_u8(&w, 1);
    util_wr_put_u16_at(&w, 0, 7);
    CHECK_EQ(util_wr_error(&w), UTIL_ERR_OVERFLOW);
    util_wr_init(&w, out, 8);
    util_wr_u16(&w, 1);
    util_wr_put_u16_at(&w, 5, 7);
    CHECK_EQ(util_wr_error(&w), UTIL_ERR_OVERFLOW);
    /* fail keeps the first error; NULL buffer has no room */
    util_wr_init(&w, out, 8);
    util_wr_fail(&w, UTIL_ERR_RANGE);
    util_wr_fail(&w, UTIL_ERR_INVAL);
    CHECK_EQ(util_wr_error(&w), UTIL_ERR_RANGE);
    util_wr_put_u16_at(&w, 0, 1);
    CHECK_EQ(util_wr_len(&w), 0);
    util_wr_init(&w, NULL, 100);
    util_wr_u8(&w, 1);
    CHECK_EQ(util_wr_error(&w), UTIL_ERR_OVERFLOW);
}

TEST(hex_round_trip_and_errors)
{
    uint8_t out[8];
    char txt[17];
    CHECK_EQ(util_hex_decode("90 EB:00\n0a", out, sizeof out), 4);
    CHECK_STR(util_hex_encode(out, 4, txt), "90eb000a");
    CHECK_EQ(util_hex_decode("9", out, sizeof out), UTIL_ERR_SYNTAX);
    CHECK_EQ(util_hex_decode("zz", out, sizeof out), UTIL_ERR_SYNTAX);
    CHECK_EQ(util_hex_decode("001122", out, 2), UTIL_ERR_OVERFLOW);
    CHECK_EQ(util_hex_decode("", out, 2), 0);
}

TEST(strerror_covers_every_code)
{
    for (int e = 0; e >= UTIL_ERR_DUPLICATE; e--)
        CHECK(strcmp(util_strerror(e), "unknown error") != 0);
    CHECK_STR(util_strerror(-999), "unknown error");
}

/* ---- logging ---- */

struct log_capture {
    char lines[8][256];
    int n;
    enum util_log_level last_level;
};

/* capture_sink - keep logged lines for assertions */
static void capture_sink(void *user, enum util_log_level level, enum util_log_module module,
                         const char *line)
{
    struct log_capture *c = user;
    (void)module;
    if (c->n < 8)
        snprintf(c->lines[c->n++], sizeof c->lines[0], "%s", line);
    c->last_level = level;
}

TEST(time_iso_is_utc_and_bounded)
{
    char b[UTIL_TIME_ISO_LEN];
    CHECK_STR(util_time_iso(0, b, sizeof b), "1970-01-01T00:00:00Z");
    CHECK_STR(util_time_iso(1796393116, b, sizeof b), "2026-12-04T14:05:16Z");
    CHECK_STR(util_time_iso(951782400, b, sizeof b), "2000-02-29T00:00:00Z"); /* leap day */
    char small[8];
    util_time_iso(1796393116, small, sizeof small); /* too small: cut, terminated */
    CHECK(strlen(small) < sizeof small);
}

TEST(log_formats_filters_and_traces)
{
    struct log_capture cap = {.n = 0};
    util_log_to_sink(capture_sink, &cap);
    util_log_set_level(UTIL_LOG_INFO);
    util_log(UTIL_LOG_INFO, UTIL_MOD_S5066, "bind", "sap=%d mtu=%u", 2, 2048u);
    util_log(UTIL_LOG_DEBUG, UTIL_MOD_S5066, "dropped", "x=1");
    util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "bad-pdu", "peer=%s reason=\"%s\"", "1.2.3.4", "a\nb");
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_MAIN, "start", NULL);
    UTIL_TRACE(UTIL_MOD_PMUL, "rx", "len=%d", 5); /* off */
    CHECK_EQ(util_log_set_trace("pmul, s5066"), 0);
    CHECK(util_log_trace_on(UTIL_MOD_PMUL));
    CHECK(!util_log_trace_on(UTIL_MOD_MULE));
    UTIL_TRACE(UTIL_MOD_PMUL, "rx", "len=%d", 5);
    UTIL_TRACE(UTIL_MOD_MULE, "rx", "len=%d", 6);
    CHECK_EQ(cap.n, 4);
    CHECK_STR(cap.lines[0], "s5066 bind sap=2 mtu=2048");
    CHECK_STR(cap.lines[1], "pmul bad-pdu peer=1.2.3.4 reason=\"a b\"");
    CHECK_STR(cap.lines[2], "main start");
    CHECK_STR(cap.lines[3], "pmul rx len=5");
    CHECK_EQ(cap.last_level, UTIL_LOG_TRACE);
    CHECK_EQ(util_log_set_trace("nosuch"), UTIL_ERR_UNKNOWN);
    CHECK(util_log_trace_on(UTIL_MOD_PMUL)); /* unchanged by the bad call */
    CHECK_EQ(util_log_set_trace("all"), 0);
    CHECK(util_log_trace_on(UTIL_MOD_SMTPGW));
    CHECK_EQ(util_log_set_trace(""), 0);
    CHECK(!util_log_trace_on(UTIL_MOD_SMTPGW));
    CHECK(!util_log_trace_on((enum util_log_module)99));
    CHECK_EQ(util_log_parse_level("debug"), UTIL_LOG_DEBUG);
    CHECK_EQ(util_log_parse_level("warn"), UTIL_LOG_WARN);
    CHECK(util_log_parse_level("loud") < 0);
    util_log_set_level(UTIL_LOG_DEBUG);
    CHECK_EQ(util_log_get_level(), UTIL_LOG_DEBUG);
    CHECK(util_log_enabled(UTIL_LOG_DEBUG, UTIL_MOD_UTIL));
    CHECK_STR(util_log_module_name(UTIL_MOD_SIM), "sim");
    CHECK_STR(util_log_module_name((enum util_log_module)42), "?");
    util_log_set_level(UTIL_LOG_INFO);
    util_log_to_stderr();
}

/* ---- config ---- */

/* parse_ok - parse text that must parse */
static struct util_conf *parse_ok(const char *text)
{
    char err[256];
    int rc;
    struct util_conf *c = util_conf_parse("t.conf", text, strlen(text), err, sizeof err, &rc);
    if (!c)
        printf("# unexpected parse error: %s\n", err);
    return c;
}

/* parse_err - parse text that must fail; the message must contain want */
static int parse_err(const char *text, int want_rc, const char *want)
{
    char err[256];
    int rc = 0;
    struct util_conf *c = util_conf_parse("t.conf", text, strlen(text), err, sizeof err, &rc);
    if (c) {
        util_conf_free(c);
        printf("# parsed but should not: %s\n", text);
        return 0;
    }
    if (rc != want_rc || !strstr(err, want)) {
        printf("# got rc=%d \"%s\", want rc=%d \"%s\"\n", rc, err, want_rc, want);
        return 0;
    }
    return 1;
}

TEST(conf_parses_sections_keys_and_values)
{
    struct util_conf *c = parse_ok("top = 1\r\n"
                                   "# comment\n"
                                   "; comment\n"
                                   "\n"
                                   "[channel]   # trailing comment\n"
                                   "rate = 2400\n"
                                   "name = HF net # inline comment\n"
                                   "hash = a#b\n"
                                   "quoted = \"  spaced # \\\"kept\\\" \\\\ \"  ; c\n"
                                   "empty =\n"
                                   "[node alpha]\n"
                                   "address = 0x10\n"
                                   "[node bravo]\n"
                                   "address = 2\n");
    CHECK(c != NULL);
    if (!c)
        return;
    const char *v;
    long long i;
    struct util_conf_section *top = util_conf_section(c, "", NULL);
    CHECK_EQ(util_conf_int(c, top, "top", 0, 0, 10, &i), 0);
    CHECK_EQ(i, 1);
    struct util_conf_section *ch = util_conf_section(c, "channel", NULL);
    CHECK(ch != NULL);
    CHECK_EQ(util_conf_section_line(ch), 5);
    CHECK_EQ(util_conf_section_keys(ch), 5);
    CHECK_EQ(util_conf_int(c, ch, "rate", 0, 75, 240000, &i), 0);
    CHECK_EQ(i, 2400);
    util_conf_str(c, ch, "name", NULL, &v);
    CHECK_STR(v, "HF net");
    util_conf_str(c, ch, "hash", NULL, &v);
    CHECK_STR(v, "a#b");
    util_conf_str(c, ch, "quoted", NULL, &v);
    CHECK_STR(v, "  spaced # \"kept\" \\ ");
    util_conf_str(c, ch, "empty", "dflt", &v);
    CHECK_STR(v, "");
    util_conf_str(c, ch, "absent", "dflt", &v);
    CHECK_STR(v, "dflt");
    int count = 0;
    for (struct util_conf_section *s = NULL; (s = util_conf_next_section(c, "node", s));) {
        CHECK_STR(util_conf_section_type(s), "node");
        CHECK_EQ(util_conf_int(c, s, "address", 0, 0, 100, &i), 0);
        CHECK_EQ(i, count == 0 ? 16 : 2);
        CHECK_STR(util_conf_section_name(s), count == 0 ? "alpha" : "bravo");
        count++;
    }
    CHECK_EQ(count, 2);
    CHECK(util_conf_section(c, "node", "bravo") != NULL);
    CHECK(util_conf_section(c, "node", "charlie") == NULL);
    CHECK_EQ(util_conf_check_unused(c), 0);
    CHECK_STR(util_conf_error(c), "");
    CHECK_EQ(util_conf_errcode(c), 0);
    const char *k;
    int line;
    CHECK_EQ(util_conf_section_key_at(ch, 0, &k, &v, &line), 0);
    CHECK_STR(k, "rate");
    CHECK_EQ(line, 6);
    CHECK_EQ(util_conf_section_key_at(ch, 99, &k, &v, &line), UTIL_ERR_INVAL);
    CHECK_EQ(util_conf_section_key_at(NULL, 0, &k, &v, &line), UTIL_ERR_INVAL);
    util_conf_free(c);
    util_conf_free(NULL);
}

TEST(conf_rejects_syntax_errors_with_file_and_line)
{
    CHECK(parse_err("[node a\n", UTIL_ERR_SYNTAX, "t.conf:1: section header without ']'"));
    CHECK(parse_err("\n[node] x\n", UTIL_ERR_SYNTAX, "t.conf:2: text after section header"));
    CHECK(parse_err("[ ]\n", UTIL_ERR_SYNTAX, "t.conf:1: empty or invalid section type"));
    CHECK(parse_err("[no$de]\n", UTIL_ERR_SYNTAX, "invalid character '$' in section header"));
    CHECK(parse_err("[node a b]\n", UTIL_ERR_SYNTAX, "invalid character in section name"));
    CHECK(parse_err("[node a]\n[node a]\n", UTIL_ERR_DUPLICATE, "t.conf:2: section [node a] already defined at line 1"));
    CHECK(parse_err("a\n", UTIL_ERR_SYNTAX, "t.conf:1: expected 'key = value'"));
    CHECK(parse_err("= 1\n", UTIL_ERR_SYNTAX, "expected 'key = value'"));
    CHECK(parse_err("k$ = 1\n", UTIL_ERR_SYNTAX, "expected 'key = value'"));
    CHECK(parse_err("[s]\nk = 1\nk = 2\n", UTIL_ERR_DUPLICATE, "t.conf:3: key 'k' already set at line 2"));
    CHECK(parse_err("k = \"a\\n\"\n", UTIL_ERR_SYNTAX, "bad escape in quoted value"));
    CHECK(parse_err("k = \"a\\", UTIL_ERR_SYNTAX, "bad escape"));
    CHECK(parse_err("k = \"abc\n", UTIL_ERR_SYNTAX, "unterminated quoted value"));
    CHECK(parse_err("k = \"abc\" d\n", UTIL_ERR_SYNTAX, "text after quoted value"));
    static const char nul[] = "k = a\0b\n";
    char err[128];
    int rc;
    CHECK(util_conf_parse("t.conf", nul, sizeof nul - 1, err, sizeof err, &rc) == NULL);
    CHECK_EQ(rc, UTIL_ERR_SYNTAX);
    CHECK_CONTAINS(err, "t.conf:1: NUL byte");
    char *longline = malloc(5000);
    memset(longline, 'a', 4999);
    longline[0] = 'k';
    longline[1] = '=';
    longline[4999] = '\0';
    CHECK(parse_err(longline, UTIL_ERR_SYNTAX, "line longer than 4096 bytes"));
    free(longline);
    /* the first error wins and the rest is not parsed */
    CHECK(parse_err("ok = 1\nbad\n[x\n", UTIL_ERR_SYNTAX, "t.conf:2:"));
}

TEST(conf_rejects_bad_values_naming_key)
{
    struct util_conf *c = parse_ok("[node a]\nrate = fast\nport = 70000\nemcon = maybe\nloss = 1.5\n"
                                   "lossx = x\nturn = 5 parsecs\nturn2 = 2h\nmtu = 9000\nmtux = 2 lots\n"
                                   "mode = fast\nhex = 0x\nneg = -0x5\nsp = \" 5\"\n");
    CHECK(c != NULL);
    if (!c)
        return;
    struct util_conf_section *s = util_conf_section(c, "node", "a");
    long long i;
    bool b;
    double d;
    uint64_t u;
    int e;
    static const char *const modes[] = {"arq", "nonarq", NULL};
    CHECK_EQ(util_conf_int(c, s, "rate", 0, 0, 10, &i), UTIL_ERR_TYPE);
    CHECK_STR(util_conf_error(c), "t.conf:2: [node a] key 'rate': 'fast' is not an integer");
    CHECK_EQ(util_conf_errcode(c), UTIL_ERR_TYPE);
    /* later errors are returned, but the first message is kept */
    CHECK_EQ(util_conf_int(c, s, "port", 0, 1, 65535, &i), UTIL_ERR_RANGE);
    CHECK_CONTAINS(util_conf_error(c), "t.conf:2:");
    util_conf_free(c);

    /* each error path in its own config so its message can be checked */
    struct {
        const char *text;
        int rc;
        const char *msg;
    } cases[] = {
        {"[n]\nport = 70000\n", UTIL_ERR_RANGE, "t.conf:2: [n] key 'port': 70000 is out of range 1..65535"},
        {"[n]\nemcon = maybe\n", UTIL_ERR_TYPE, "t.conf:2: [n] key 'emcon': 'maybe' is not yes/no"},
        {"[n]\nloss = 1.5\n", UTIL_ERR_RANGE, "key 'loss': 1.5 is out of range 0..1"},
        {"[n]\nloss = x\n", UTIL_ERR_TYPE, "key 'loss': 'x' is not a number"},
        {"[n]\nloss = nan\n", UTIL_ERR_TYPE, "is not a number"},
        {"[n]\nturn = 5 parsecs\n", UTIL_ERR_TYPE, "key 'turn': '5 parsecs' is not a duration"},
        {"[n]\nturn = 2h\n", UTIL_ERR_RANGE, "key 'turn': 2h is out of range 0ms..60000ms"},
        {"[n]\nturn = 99999999999999999999\n", UTIL_ERR_RANGE, "out of range"},
        {"[n]\nmtu = 9000\n", UTIL_ERR_RANGE, "key 'mtu': 9000 is out of range 1..4096 bytes"},
        {"[n]\nmtu = 2 lots\n", UTIL_ERR_TYPE, "key 'mtu': '2 lots' is not a size"},
        {"[n]\nmode = fast\n", UTIL_ERR_RANGE, "key 'mode': 'fast' is not one of: arq, nonarq"},
        {"[n]\nport = 0x\n", UTIL_ERR_TYPE, "'0x' is not an integer"},
        {"[n]\nport = -0x5\n", UTIL_ERR_TYPE, "is not an integer"},
        {"[n]\nport = \" 5\"\n", UTIL_ERR_TYPE, "is not an integer"},
        {"[n]\nport = 99999999999999999999999\n", UTIL_ERR_RANGE, "out of range"},
        {"[n]\n", UTIL_ERR_MISSING, "t.conf:1: [n] key 'name': required but not set"},
        {"[n]\nname =\n", UTIL_ERR_MISSING, "t.conf:2: [n] key 'name': must not be empty"},
    };
    for (size_t k = 0; k < UTIL_ARRAY_LEN(cases); k++) {
        c = parse_ok(cases[k].text);
        CHECK(c != NULL);
        if (!c)
            continue;
        s = util_conf_section(c, "n", NULL);
        int rc = 0;
        const char *v;
        if (strstr(cases[k].text, "port"))
            rc = util_conf_int(c, s, "port", 5, 1, 65535, &i);
        else if (strstr(cases[k].text, "emcon"))
            rc = util_conf_bool(c, s, "emcon", false, &b);
        else if (strstr(cases[k].text, "loss"))
            rc = util_conf_double(c, s, "loss", 0, 0, 1, &d);
        else if (strstr(cases[k].text, "turn"))
            rc = util_conf_duration_ms(c, s, "turn", 0, 0, 60000, &u);
        else if (strstr(cases[k].text, "mtu"))
            rc = util_conf_size(c, s, "mtu", 0, 1, 4096, &u);
        else if (strstr(cases[k].text, "mode"))
            rc = util_conf_enum(c, s, "mode", modes, 0, &e);
        else
            rc = util_conf_str_required(c, s, "name", &v);
        CHECK_EQ(rc, cases[k].rc);
        CHECK_CONTAINS(util_conf_error(c), cases[k].msg);
        /* check_unused reports the recorded error, not a new one */
        CHECK_EQ(util_conf_check_unused(c), cases[k].rc);
        util_conf_free(c);
    }
}

TEST(conf_typed_values_and_defaults)
{
    struct util_conf *c = parse_ok("[n]\nb1 = YES\nb2 = off\nd = 0.25\nt1 = 250ms\nt2 = 30\n"
                                   "t3 = 5m\nt4 = 2h\nt5 = 1d\nt6 = 3min\ns1 = 64k\ns2 = 10M\ns3 = 1G\n"
                                   "s4 = 512\nmode = nonarq\nneg = -5\n");
    CHECK(c != NULL);
    if (!c)
        return;
    struct util_conf_section *s = util_conf_section(c, "n", NULL);
    bool b;
    double d;
    uint64_t u;
    long long i;
    int e;
    static const char *const modes[] = {"arq", "nonarq", NULL};
    util_conf_bool(c, s, "b1", false, &b);
    CHECK(b);
    util_conf_bool(c, s, "b2", true, &b);
    CHECK(!b);
    util_conf_bool(c, s, "b3", true, &b);
    CHECK(b);
    util_conf_double(c, s, "d", 0, 0, 1, &d);
    CHECK(d == 0.25);
    util_conf_double(c, s, "dx", 0.5, 0, 1, &d);
    CHECK(d == 0.5);
    static const struct {
        const char *k;
        uint64_t ms;
    } durs[] = {{"t1", 250}, {"t2", 30000}, {"t3", 300000}, {"t4", 7200000}, {"t5", 86400000}, {"t6", 180000}};
    for (size_t k = 0; k < UTIL_ARRAY_LEN(durs); k++) {
        CHECK_EQ(util_conf_duration_ms(c, s, durs[k].k, 0, 0, UINT64_MAX, &u), 0);
        CHECK_EQ(u, durs[k].ms);
    }
    util_conf_duration_ms(c, s, "tx", 77, 0, 100, &u);
    CHECK_EQ(u, 77);
    static const struct {
        const char *k;
        uint64_t v;
    } sizes[] = {{"s1", 65536}, {"s2", 10485760}, {"s3", 1073741824}, {"s4", 512}};
    for (size_t k = 0; k < UTIL_ARRAY_LEN(sizes); k++) {
        CHECK_EQ(util_conf_size(c, s, sizes[k].k, 0, 0, UINT64_MAX, &u), 0);
        CHECK_EQ(u, sizes[k].v);
    }
    util_conf_size(c, s, "sx", 9, 0, 100, &u);
    CHECK_EQ(u, 9);
    util_conf_enum(c, s, "mode", modes, 0, &e);
    CHECK_EQ(e, 1);
    util_conf_enum(c, s, "modex", modes, 0, &e);
    CHECK_EQ(e, 0);
    util_conf_int(c, s, "neg", 0, -10, 10, &i);
    CHECK_EQ(i, -5);
    /* lookups in a missing section give defaults */
    util_conf_int(c, NULL, "x", 3, 0, 10, &i);
    CHECK_EQ(i, 3);
    CHECK_EQ(util_conf_check_unused(c), 0);
    util_conf_free(c);
}

TEST(conf_rejects_unknown_keys_and_sections)
{
    struct util_conf *c = parse_ok("[channel]\nrate = 1\nrat = 2\n");
    long long i;
    util_conf_int(c, util_conf_section(c, "channel", NULL), "rate", 0, 0, 10, &i);
    CHECK_EQ(util_conf_check_unused(c), UTIL_ERR_UNKNOWN);
    CHECK_STR(util_conf_error(c), "t.conf:3: [channel] key 'rat': unknown key");
    util_conf_free(c);

    c = parse_ok("[channel]\nrate = 1\n\n[chanel]\nrate = 2\n");
    util_conf_int(c, util_conf_section(c, "channel", NULL), "rate", 0, 0, 10, &i);
    CHECK_EQ(util_conf_check_unused(c), UTIL_ERR_UNKNOWN);
    CHECK_STR(util_conf_error(c), "t.conf:4: unknown section [chanel]");
    util_conf_free(c);

    c = parse_ok("stray = 1\n");
    CHECK_EQ(util_conf_check_unused(c), UTIL_ERR_UNKNOWN);
    CHECK_STR(util_conf_error(c), "t.conf:1: (top) key 'stray': unknown key");
    util_conf_free(c);

    /* a caller's own error names the key's line */
    c = parse_ok("[route x]\nvia = 1.2.3\n");
    struct util_conf_section *s = util_conf_section(c, "route", "x");
    CHECK_EQ(util_conf_fail(c, s, "via", UTIL_ERR_TYPE, "'%s' is not an address", "1.2.3"), UTIL_ERR_TYPE);
    CHECK_STR(util_conf_error(c), "t.conf:2: [route x] key 'via': '1.2.3' is not an address");
    util_conf_free(c);
    c = parse_ok("[route x]\n");
    s = util_conf_section(c, "route", "x");
    util_conf_fail(c, s, NULL, UTIL_ERR_MISSING, "needs a destination");
    CHECK_STR(util_conf_error(c), "t.conf:1: [route x]: needs a destination");
    util_conf_free(c);
}

TEST(conf_load_from_file)
{
    char path[] = "/tmp/util_test_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *text = "[a]\nk = v\n";
    CHECK_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);
    char err[256];
    int rc;
    struct util_conf *c = util_conf_load(path, err, sizeof err, &rc);
    CHECK(c != NULL);
    CHECK_EQ(rc, 0);
    const char *v;
    util_conf_str(c, util_conf_section(c, "a", NULL), "k", NULL, &v);
    CHECK_STR(v, "v");
    util_conf_free(c);
    unlink(path);
    c = util_conf_load(path, err, sizeof err, &rc);
    CHECK(c == NULL);
    CHECK_EQ(rc, UTIL_ERR_IO);
    CHECK_CONTAINS(err, "cannot open");
    /* a syntax error in a file names that file */
    strcpy(path, "/tmp/util_test_XXXXXX");
    fd = mkstemp(path);
    CHECK_EQ(write(fd, "x\n", 2), 2);
    close(fd);
    c = util_conf_load(path, err, sizeof err, &rc);
    CHECK(c == NULL);
    CHECK_EQ(rc, UTIL_ERR_SYNTAX);
    char want[64];
    snprintf(want, sizeof want, "%s:1:", path);
    CHECK_CONTAINS(err, want);
    unlink(path);
}

TEST(value_parsers)
{
    long long i;
    uint64_t u;
    bool b;
    CHECK_EQ(util_parse_int("0x1F", 0, 100, &i), 0);
    CHECK_EQ(i, 31);
    CHECK_EQ(util_parse_int("", 0, 100, &i), UTIL_ERR_TYPE);
    CHECK_EQ(util_parse_int(NULL, 0, 100, &i), UTIL_ERR_TYPE);
    CHECK_EQ(util_parse_int("12a", 0, 100, &i), UTIL_ERR_TYPE);
    CHECK_EQ(util_parse_int("101", 0, 100, &i), UTIL_ERR_RANGE);
    CHECK_EQ(util_parse_int("-1", 0, 100, &i), UTIL_ERR_RANGE);
    CHECK_EQ(util_parse_duration_ms("1500ms", &u), 0);
    CHECK_EQ(u, 1500);
    CHECK_EQ(util_parse_duration_ms("ms", &u), UTIL_ERR_TYPE);
    CHECK_EQ(util_parse_duration_ms("5 y", &u), UTIL_ERR_TYPE);
    CHECK_EQ(util_parse_duration_ms("18446744073709551615d", &u), UTIL_ERR_RANGE);
    CHECK_EQ(util_parse_size("2 M", &u), 0);
    CHECK_EQ(u, 2097152);
    CHECK_EQ(util_parse_size("-1", &u), UTIL_ERR_TYPE);
    CHECK_EQ(util_parse_bool("TRUE", &b), 0);
    CHECK(b);
    CHECK_EQ(util_parse_bool("0", &b), 0);
    CHECK(!b);
    CHECK_EQ(util_parse_bool("nah", &b), UTIL_ERR_TYPE);
}

/* ---- time, rng, heap ---- */

TEST(clock_is_monotonic)
{
    util_ms a = util_now_ms(), b = util_now_ms();
    CHECK(b >= a);
    CHECK(util_wall_s() > 1700000000);
}

TEST(rng_is_deterministic_and_bounded)
{
    struct util_rng a, b;
    util_rng_seed(&a, 42);
    util_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        CHECK(util_rng_next(&a) == util_rng_next(&b));
    util_rng_seed(&b, 43);
    CHECK(util_rng_next(&a) != util_rng_next(&b));
    int hist[10] = {0};
    for (int i = 0; i < 10000; i++) {
        uint64_t v = util_rng_below(&a, 10);
        CHECK(v < 10);
        if (v < 10)
            hist[v]++;
        double d = util_rng_unit(&a);
        CHECK(d >= 0.0 && d < 1.0);
    }
    for (int i = 0; i < 10; i++)
        CHECK(hist[i] > 800 && hist[i] < 1200);
    CHECK_EQ(util_rng_below(&a, 1), 0);
    CHECK_EQ(util_rng_below(&a, 0), 0);
}

TEST(timerheap_orders_rearms_and_cancels)
{
    enum { N = 500 };
    static struct util_timer t[N];
    struct util_timerheap h;
    struct util_rng rng;
    util_rng_seed(&rng, 7);
    util_timerheap_init(&h);
    CHECK(util_timerheap_peek(&h) == NULL);
    CHECK(util_timerheap_next_expiry(&h) == UTIL_MS_NEVER);
    for (int i = 0; i < N; i++) {
        util_timer_init(&t[i]);
        CHECK(!util_timer_armed(&t[i]));
        CHECK_EQ(util_timerheap_arm(&h, &t[i], util_rng_below(&rng, 100000)), 0);
    }
    /* re-arm some earlier and later, cancel others */
    for (int i = 0; i < N; i += 3)
        util_timerheap_arm(&h, &t[i], util_rng_below(&rng, 100000));
    int cancelled = 0;
    for (int i = 1; i < N; i += 7) {
        util_timerheap_cancel(&h, &t[i]);
        CHECK(!util_timer_armed(&t[i]));
        cancelled++;
    }
    util_timerheap_cancel(&h, &t[1]); /* twice is harmless */
    CHECK_EQ(h.len, N - cancelled);
    CHECK(util_timerheap_pop_due(&h, 0) == NULL || util_timerheap_peek(&h)->expiry == 0 ||
          h.len == (size_t)(N - cancelled - 1));
    util_ms last = 0;
    size_t popped = 0;
    struct util_timer *x;
    while ((x = util_timerheap_pop_due(&h, UTIL_MS_NEVER - 1))) {
        CHECK(x->expiry >= last);
        CHECK(!util_timer_armed(x));
        last = x->expiry;
        popped++;
    }
    CHECK(popped + cancelled >= (size_t)N - 1);
    CHECK_EQ(h.len, 0);
    util_timerheap_arm(&h, &t[0], 10);
    util_timerheap_arm(&h, &t[2], 5);
    CHECK(util_timerheap_pop_due(&h, 4) == NULL);
    CHECK(util_timerheap_pop_due(&h, 5) == &t[2]);
    util_timerheap_free(&h);
    CHECK(!util_timer_armed(&t[0]));
}

TEST(list_links_and_unlinks)
{
    struct item {
        int v;
        struct util_list link;
    } items[3] = {{1, {0}}, {2, {0}}, {3, {0}}};
    struct util_list head, *it, *tmp;
    util_list_init(&head);
    CHECK(util_list_empty(&head));
    for (int i = 0; i < 3; i++)
        util_list_push_back(&head, &items[i].link);
    int sum = 0, order = 0;
    UTIL_LIST_FOREACH(it, &head) {
        struct item *x = UTIL_CONTAINER_OF(it, struct item, link);
        order = order * 10 + x->v;
        sum += x->v;
    }
    CHECK_EQ(order, 123);
    UTIL_LIST_FOREACH_SAFE(it, tmp, &head) {
        struct item *x = UTIL_CONTAINER_OF(it, struct item, link);
        if (x->v == 2)
            util_list_remove(it);
    }
    order = 0;
    UTIL_LIST_FOREACH(it, &head) order = order * 10 + UTIL_CONTAINER_OF(it, struct item, link)->v;
    CHECK_EQ(order, 13);
    CHECK_EQ(sum, 6);
}

/* main - run every util test */
TEST(fsync_all_flushes_every_descriptor_and_reports_each_failure)
{
    char dir[] = "/tmp/util-fsync-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    int fds[24], errs[24];
    for (int round = 0; round < 3; round++) { /* the pool is reused */
        for (int i = 0; i < 24; i++) {
            char path[64];
            snprintf(path, sizeof path, "%s/f%d", dir, i);
            fds[i] = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
            CHECK(fds[i] >= 0);
            CHECK_EQ(write(fds[i], "x", 1), 1);
        }
        int bad = round; /* one bad descriptor at a different place each round */
        int keep = fds[bad * 7];
        fds[bad * 7] = -1;
        CHECK_EQ(util_fsync_all(fds, 24, errs), 1);
        for (int i = 0; i < 24; i++)
            CHECK_EQ(errs[i], i == bad * 7 ? EBADF : 0);
        fds[bad * 7] = keep;
        for (int i = 0; i < 24; i++)
            close(fds[i]);
    }
    CHECK_EQ(util_fsync_all(fds, 0, errs), 0);
    fds[0] = -1;
    CHECK_EQ(util_fsync_all(fds, 1, errs), 1); /* one: no thread needed */
    CHECK_EQ(errs[0], EBADF);
    for (int i = 0; i < 24; i++) {
        char path[64];
        snprintf(path, sizeof path, "%s/f%d", dir, i);
        unlink(path);
    }
    rmdir(dir);
}

TEST(ratelimit_allows_a_burst_per_window_and_counts_the_rest)
{
    struct util_ratelimit r;
    memset(&r, 0, sizeof r);
    unsigned sup = 99;
    CHECK(util_ratelimit_allow(&r, 1000, 2, 60000, &sup));
    CHECK_EQ(sup, 0);
    CHECK(util_ratelimit_allow(&r, 1001, 2, 60000, &sup));
    for (int i = 0; i < 500; i++)
        CHECK(!util_ratelimit_allow(&r, 1002 + (util_ms)i, 2, 60000, &sup));
    CHECK_EQ(sup, 0);
    CHECK(!util_ratelimit_allow(&r, 60999, 2, 60000, NULL)); /* still the same window */
    CHECK(util_ratelimit_allow(&r, 61000, 2, 60000, &sup));   /* a new one: says what it held back */
    CHECK_EQ(sup, 501);
    CHECK(util_ratelimit_allow(&r, 61001, 2, 60000, &sup));
    CHECK_EQ(sup, 0);
    CHECK(util_ratelimit_allow(&r, 5, 2, 60000, &sup)); /* time going back restarts the window */
}

int main(void)
{
    RUN(buf_grows_and_consumes);
    RUN(buf_limit_is_enforced);
    RUN(reader_reads_big_endian);
    RUN(reader_error_is_sticky);
    RUN(reader_fail_keeps_first_error);
    RUN(writer_writes_big_endian);
    RUN(writer_error_is_sticky);
    RUN(hex_round_trip_and_errors);
    RUN(strerror_covers_every_code);
    RUN(time_iso_is_utc_and_bounded);
    RUN(log_formats_filters_and_traces);
    RUN(conf_parses_sections_keys_and_values);
    RUN(conf_rejects_syntax_errors_with_file_and_line);
    RUN(conf_rejects_bad_values_naming_key);
    RUN(conf_typed_values_and_defaults);
    RUN(conf_rejects_unknown_keys_and_sections);
    RUN(conf_load_from_file);
    RUN(value_parsers);
    RUN(clock_is_monotonic);
    RUN(rng_is_deterministic_and_bounded);
    RUN(timerheap_orders_rearms_and_cancels);
    RUN(list_links_and_unlinks);
    RUN(fsync_all_flushes_every_descriptor_and_reports_each_failure);
    RUN(ratelimit_allows_a_burst_per_window_and_counts_the_rest);
    return harness_done();
}
