/* mule_payload_test.c - the BSMTP-like payload of RFC 8494 3.1 (mule/payload.c):
 * the RFC example round-trips byte for byte, golden output, and every parse
 * error the issue names (missing FROM-line or RCPT-line, malformed address,
 * bare LF in the envelope, oversized envelope) plus ESMTP parameters.
 */
#include "harness.h"
#include "mule/mule.h"
#include "mule_golden.h"

/* parse_str - parse a C string as a payload */
static int parse_str(const char *s, size_t max, struct mule_envelope *env)
{
    return mule_payload_parse((const uint8_t *)s, strlen(s), max, env);
}

TEST(rfc8494_example_roundtrips)
{
    size_t len;
    uint8_t *in = golden_read("rfc8494_example.bsmtp", &len);
    CHECK(in != NULL);
    if (!in)
        return;
    struct mule_envelope env;
    int off = mule_payload_parse(in, len, 0, &env);
    CHECK(off > 0);
    if (off <= 0) {
        free(in);
        return;
    }
    CHECK_STR(env.from, "from@example.com");
    CHECK_STR(env.from_params, "MT-PRIORITY=4 BODY=8BITMIME RET=HDRS ENVID=QQ314159");
    CHECK_EQ(env.n_rcpts, 2);
    CHECK_STR(env.rcpts[0].addr, "to1@example.net");
    CHECK_STR(env.rcpts[0].params, "NOTIFY=FAILURE ORCPT=rfc822;Bob@ent.example.net");
    CHECK_STR(env.rcpts[1].addr, "to2@example.net");
    CHECK_STR(env.rcpts[1].params, "NOTIFY=SUCCESS,FAILURE");
    CHECK(memcmp(in + off, "From: from@example.com\r\n", 24) == 0);
    struct util_buf out;
    util_buf_init(&out, 0);
    CHECK_EQ(mule_payload_build(&env, in + off, len - (size_t)off, &out), 0);
    CHECK_MEM(out.data, out.len, in, len);
    util_buf_free(&out);
    mule_envelope_free(&env);
    free(in);
}

TEST(build_matches_golden)
{
    struct mule_rcpt rcpts[] = {{"alice@hq.example.mil", ""},
                                {"bob@ship1.example.mil", "NOTIFY=SUCCESS,FAILURE"},
                                {"Postmaster", NULL}};
    struct mule_envelope env = {"ops@shore.example.mil", "BY=3600;R MT-PRIORITY=2", rcpts, 3, NULL};
    const char *msg = "Subject: hi\r\n\r\n.\r\n..leading dots stay\r\n";
    struct util_buf out;
    util_buf_init(&out, 0);
    CHECK_EQ(mule_payload_build(&env, (const uint8_t *)msg, strlen(msg), &out), 0);
    CHECK(golden_check("simple.bsmtp", out.data, out.len));
    /* and it parses back, the message verbatim (no dot-stuffing) */
    struct mule_envelope back;
    int off = mule_payload_parse(out.data, out.len, 0, &back);
    CHECK(off > 0);
    if (off > 0) {
        CHECK_EQ(back.n_rcpts, 3);
        CHECK_STR(back.rcpts[2].addr, "Postmaster");
        CHECK_STR(back.rcpts[2].params, "");
        CHECK_MEM(out.data + off, out.len - (size_t)off, msg, strlen(msg));
    }
    mule_envelope_free(&back);
    util_buf_free(&out);
}

TEST(null_reverse_path_and_quoted_local_part)
{
    struct mule_envelope env;
    const char *in = "<>\r\n<\"odd>name\"@example.mil> NOTIFY=NEVER\r\n\r\nX";
    int off = parse_str(in, 0, &env);
    CHECK_EQ(off, (int)strlen(in) - 1);
    if (off > 0) {
        CHECK_STR(env.from, "");
        CHECK_STR(env.from_params, "");
        CHECK_STR(env.rcpts[0].addr, "\"odd>name\"@example.mil");
        CHECK_STR(env.rcpts[0].params, "NOTIFY=NEVER");
    }
    mule_envelope_free(&env);
    /* UTF-8 (RFC 6531), address literals */
    off = parse_str("<j\xc3\xb6rg@b\xc3\xbc"
                    "ro.example> SMTPUTF8\r\n<x@[10.0.0.1]>\r\n\r\n",
                    0, &env);
    CHECK(off > 0);
    mule_envelope_free(&env);
}

TEST(missing_from_line)
{
    struct mule_envelope env;
    CHECK_EQ(parse_str("", 0, &env), MULE_ERR_NO_FROM);
    CHECK_EQ(parse_str("\r\n<a@b.c>\r\n\r\n", 0, &env), MULE_ERR_NO_FROM);
    CHECK_EQ(parse_str("MAIL FROM:<a@b.c>\r\n<d@e.f>\r\n\r\n", 0, &env), MULE_ERR_NO_FROM);
    CHECK(env.rcpts == NULL && env.n_rcpts == 0);
}

TEST(missing_rcpt_line)
{
    struct mule_envelope env;
    CHECK_EQ(parse_str("<a@b.c>\r\n\r\nbody", 0, &env), MULE_ERR_NO_RCPT);
    CHECK_EQ(parse_str("<a@b.c>\r\nSubject: x\r\n\r\nbody", 0, &env), MULE_ERR_NO_RCPT);
    /* after recipients, a line without <> is malformed (no empty line) */
    CHECK_EQ(parse_str("<a@b.c>\r\n<d@e.f>\r\nSubject: x\r\n\r\n", 0, &env), MULE_ERR_BAD_LINE);
}

TEST(malformed_addresses)
{
    static const char *const bad[] = {
        "<a@b.c>\r\n<d@>\r\n\r\n",      "<a@b.c>\r\n<@e.f>\r\n\r\n",
        "<a@b.c>\r\n<d e@f.g>\r\n\r\n", "<a@b.c>\r\n<d@e..f>\r\n\r\n",
        "<a@b.c>\r\n<d@-e.f>\r\n\r\n",  "<a@b.c>\r\n<d@e.f->\r\n\r\n",
        "<a@b.c>\r\n<d.@e.f>\r\n\r\n",  "<a@b.c>\r\n<d@e.f\r\n\r\n",
        "<a@b.c>\r\n<>\r\n\r\n",        "<a@b.c>\r\n<@x.y,@z.w:d@e.f>\r\n\r\n",
        "<a b.c>\r\n<d@e.f>\r\n\r\n",   "<a@b.c>\r\n<d@[]>\r\n\r\n",
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        struct mule_envelope env;
        int rc = parse_str(bad[i], 0, &env);
        if (rc != MULE_ERR_BAD_ADDRESS)
            printf("# case %zu: %d\n", i, rc);
        CHECK_EQ(rc, MULE_ERR_BAD_ADDRESS);
    }
    /* a local part of 65 octets, a domain label of 64 */
    char buf[512];
    snprintf(buf, sizeof buf, "<a@b.c>\r\n<%065d@e.f>\r\n\r\n", 0);
    struct mule_envelope env;
    CHECK_EQ(parse_str(buf, 0, &env), MULE_ERR_BAD_ADDRESS);
    snprintf(buf, sizeof buf, "<a@b.c>\r\n<d@x%063d.f>\r\n\r\n", 0);
    CHECK_EQ(parse_str(buf, 0, &env), MULE_ERR_BAD_ADDRESS);
    CHECK(mule_address_valid("d@x.f", false));
    CHECK(!mule_address_valid("", false));
    CHECK(mule_address_valid("", true));
}

TEST(bare_lf_in_envelope)
{
    struct mule_envelope env;
    CHECK_EQ(parse_str("<a@b.c>\n<d@e.f>\r\n\r\n", 0, &env), MULE_ERR_BARE_LF);
    CHECK_EQ(parse_str("<a@b.c>\r\n<d@e.f>\n\r\n", 0, &env), MULE_ERR_BARE_LF);
    CHECK_EQ(parse_str("<a@b.c>\r\n<d@e.f>\r\n\n", 0, &env), MULE_ERR_BARE_LF);
    /* bare CR and control characters are malformed lines */
    CHECK_EQ(parse_str("<a@b.c>\r<d@e.f>\r\n\r\n", 0, &env), MULE_ERR_BAD_LINE);
    CHECK_EQ(parse_str("<a@b.c>\r\n<d@e.f>\t\r\n\r\n", 0, &env), MULE_ERR_BAD_LINE);
    /* bare LF in the message itself is not the envelope's business */
    int off = parse_str("<a@b.c>\r\n<d@e.f>\r\n\r\nline\nline\n", 0, &env);
    CHECK_EQ(off, 20);
    mule_envelope_free(&env);
}

TEST(oversized_envelope)
{
    struct util_buf b;
    util_buf_init(&b, 0);
    util_buf_append_str(&b, "<a@b.c>\r\n");
    for (int i = 0; i < 200; i++)
        util_buf_printf(&b, "<user%03d@example.mil>\r\n", i);
    size_t env_len = b.len + 2;
    util_buf_append_str(&b, "\r\nbody\r\n");
    struct mule_envelope env;
    CHECK_EQ(mule_payload_parse(b.data, b.len, 1024, &env), MULE_ERR_ENVELOPE_TOO_LONG);
    CHECK_EQ(mule_payload_parse(b.data, b.len, env_len - 1, &env), MULE_ERR_ENVELOPE_TOO_LONG);
    CHECK_EQ(mule_payload_parse(b.data, b.len, env_len, &env), (int)env_len);
    CHECK_EQ(env.n_rcpts, 200);
    CHECK_STR(env.rcpts[199].addr, "user199@example.mil");
    mule_envelope_free(&env);
    /* one line longer than MULE_MAX_LINE */
    util_buf_reset(&b);
    util_buf_append_str(&b, "<a@b.c> X-LONG=");
    for (int i = 0; i < MULE_MAX_LINE; i++)
        util_buf_append(&b, "x", 1);
    util_buf_append_str(&b, "\r\n<d@e.f>\r\n\r\n");
    CHECK_EQ(mule_payload_parse(b.data, b.len, 0, &env), MULE_ERR_ENVELOPE_TOO_LONG);
    util_buf_free(&b);
}

TEST(truncated_and_bad_params)
{
    struct mule_envelope env;
    CHECK_EQ(parse_str("<a@b.c>\r\n<d@e.f>\r\n", 0, &env), MULE_ERR_TRUNCATED);
    CHECK_EQ(parse_str("<a@b.c>", 0, &env), MULE_ERR_TRUNCATED);
    CHECK_EQ(parse_str("<a@b.c> =X\r\n<d@e.f>\r\n\r\n", 0, &env), MULE_ERR_BAD_PARAM);
    CHECK_EQ(parse_str("<a@b.c> A=\r\n<d@e.f>\r\n\r\n", 0, &env), MULE_ERR_BAD_PARAM);
    CHECK_EQ(parse_str("<a@b.c>X\r\n<d@e.f>\r\n\r\n", 0, &env), MULE_ERR_BAD_PARAM);
    CHECK_EQ(parse_str("<a@b.c> A=b=c\r\n<d@e.f>\r\n\r\n", 0, &env), MULE_ERR_BAD_PARAM);
    /* trailing spaces are dropped, inner spaces of the list kept verbatim */
    int off = parse_str("<a@b.c> SIZE=10 BODY=7BIT  \r\n<d@e.f>\r\n\r\n", 0, &env);
    CHECK(off > 0);
    if (off > 0)
        CHECK_STR(env.from_params, "SIZE=10 BODY=7BIT");
    mule_envelope_free(&env);
}

TEST(build_rejects_bad_envelopes)
{
    struct util_buf out;
    util_buf_init(&out, 0);
    struct mule_rcpt ok[] = {{"d@e.f", NULL}};
    struct mule_rcpt badaddr[] = {{"d@", NULL}};
    struct mule_rcpt badpar[] = {{"d@e.f", "NOTIFY=NEVER\r\nX"}};
    struct mule_envelope e1 = {"a@b.c", NULL, ok, 0, NULL};
    CHECK_EQ(mule_payload_build(&e1, NULL, 0, &out), MULE_ERR_NO_RCPT);
    struct mule_envelope e2 = {"a@b.c", NULL, badaddr, 1, NULL};
    CHECK_EQ(mule_payload_build(&e2, NULL, 0, &out), MULE_ERR_BAD_ADDRESS);
    struct mule_envelope e3 = {"a@b.c", NULL, badpar, 1, NULL};
    CHECK_EQ(mule_payload_build(&e3, NULL, 0, &out), MULE_ERR_BAD_PARAM);
    struct mule_envelope e4 = {"a@b", "RET=HDRS", ok, 1, NULL};
    CHECK_EQ(mule_payload_build(&e4, (const uint8_t *)"x", 1, &out), 0);
    CHECK_MEM(out.data, out.len, "<a@b> RET=HDRS\r\n<d@e.f>\r\n\r\nx", 28);
    util_buf_free(&out);
}

TEST(params_and_xtext)
{
    const char *v;
    size_t n;
    const char *p = "MT-PRIORITY=4 BODY=8BITMIME RET=HDRS ENVID=QQ+2B314159 SMTPUTF8";
    CHECK(mule_param_get(p, "envid", &v, &n));
    CHECK_MEM(v, n, "QQ+2B314159", 11);
    CHECK(mule_param_get(p, "SMTPUTF8", &v, &n));
    CHECK_EQ(n, 0);
    CHECK(!mule_param_get(p, "RET=", &v, &n));
    CHECK(!mule_param_get(p, "BY", &v, &n));
    CHECK(!mule_param_get(NULL, "BY", &v, &n));
    char out[32];
    CHECK_EQ(mule_xtext_decode("QQ+2B314159", 11, out, sizeof out), 9);
    CHECK_STR(out, "QQ+314159");
    CHECK_EQ(mule_xtext_decode("a+2", 3, out, sizeof out), MULE_ERR_BAD_PARAM);
    CHECK_EQ(mule_xtext_decode("a+zz", 4, out, sizeof out), MULE_ERR_BAD_PARAM);
    CHECK_EQ(mule_xtext_decode("a=b", 3, out, sizeof out), MULE_ERR_BAD_PARAM);
    CHECK_EQ(mule_xtext_decode("abcdef", 6, out, 4), UTIL_ERR_OVERFLOW);
    CHECK_STR(mule_address_domain("\"a@b\"@c.d"), "c.d");
    CHECK_STR(mule_address_domain("postmaster"), "");
    CHECK_STR(mule_strerror(MULE_ERR_BARE_LF), "bare LF in the envelope");
    CHECK_STR(mule_strerror(UTIL_ERR_NOMEM), util_strerror(UTIL_ERR_NOMEM));
}

/* main - run the payload tests */
int main(void)
{
    RUN(rfc8494_example_roundtrips);
    RUN(build_matches_golden);
    RUN(null_reverse_path_and_quoted_local_part);
    RUN(missing_from_line);
    RUN(missing_rcpt_line);
    RUN(malformed_addresses);
    RUN(bare_lf_in_envelope);
    RUN(oversized_envelope);
    RUN(truncated_and_bad_params);
    RUN(build_rejects_bad_envelopes);
    RUN(params_and_xtext);
    return harness_done();
}
