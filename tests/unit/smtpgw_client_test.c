/* smtpgw_client_test.c - the SMTP client engine (smtp-gw/smtp_client.c)
 * scripted against server replies (RFC 5321 3-4, RFC 2920, RFC 3030, RFC
 * 1870, RFC 6152, RFC 3461, RFC 6710, RFC 2852, RFC 6531): the bytes it sends
 * at each step, byte-exact dot-stuffing and CRLF normalisation, BDAT, the
 * BINARYMIME/8BITMIME decisions, parameters only when advertised, one
 * result per recipient for every 2xx/4xx/5xx path, session failures, and
 * the retry schedule.
 */
#include "harness.h"
#include "smtp-gw/smtpgw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a scripted server ---------------------------------------------------------- */

struct res {
    int code;
    char status[SMTPGW_STATUS_LEN];
    char reply[600];
    int count;
};

struct fx {
    struct util_buf sent;
    struct res res[8];
    int done_calls;
    int done_err;
    int fail_send; /* refuse sends from now on */
    struct smtpgw_client *c;
    util_ms now;
};

static struct fx F;

/* fx_send - capture what the client sends */
static int fx_send(void *user, const uint8_t *data, size_t len)
{
    struct fx *f = user;
    if (f->fail_send)
        return -1;
    return util_buf_append(&f->sent, data, len);
}

/* fx_rcpt - record a result (counted: it must come once) */
static void fx_rcpt(void *user, size_t i, int code, const char *status, const char *reply)
{
    struct fx *f = user;
    if (i >= 8)
        return;
    f->res[i].code = code;
    snprintf(f->res[i].status, sizeof f->res[i].status, "%s", status);
    snprintf(f->res[i].reply, sizeof f->res[i].reply, "%s", reply);
    f->res[i].count++;
}

/* fx_done - the end */
static void fx_done(void *user, int err)
{
    struct fx *f = user;
    f->done_calls++;
    f->done_err = err;
}

static const struct smtpgw_client_callbacks CB = {fx_send, fx_rcpt, fx_done};

/* start - a fresh session for msg with default params (helo gw.example) */
static void start(const struct smtpgw_client_msg *m, const struct smtpgw_client_params *pp)
{
    util_buf_free(&F.sent);
    memset(&F, 0, sizeof F);
    util_buf_init(&F.sent, 0);
    struct smtpgw_client_params p;
    smtpgw_client_params_default(&p);
    p.helo_name = "gw.example";
    F.now = 1000;
    F.c = smtpgw_client_new(pp ? pp : &p, m, &CB, &F, F.now);
}

/* feed - server bytes */
static int feed(const char *s)
{
    return smtpgw_client_input(F.c, F.now, (const uint8_t *)s, strlen(s));
}

/* sent - what was sent since the last call (NUL-terminated copy) */
static const char *sent(void)
{
    static char buf[1 << 16];
    size_t n = UTIL_MIN(F.sent.len, sizeof buf - 1);
    if (n)
        memcpy(buf, F.sent.data, n);
    buf[n] = '\0';
    util_buf_reset(&F.sent);
    return buf;
}

/* finish - free the session */
static void finish(void)
{
    smtpgw_client_free(F.c);
    F.c = NULL;
}

static const char EHLO_ALL[] = "250-mta.example hello\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n"
                               "250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n"
                               "250-MT-PRIORITY MIXER\r\n250-DELIVERBY 60\r\n250-CHUNKING\r\n"
                               "250-BINARYMIME\r\n250 SMTPUTF8\r\n";

static struct smtpgw_client_rcpt RC[3] = {
    {"bob@lan.example", "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@hf.example X-FOO=1"},
    {"carol@lan.example", NULL},
    {"dave@lan.example", "NOTIFY=NEVER"},
};

/* msg - a message with n recipients */
static struct smtpgw_client_msg msg(const char *params, int content, size_t n)
{
    struct smtpgw_client_msg m = {"alice@hf.example", params, RC, n, 120, (uint8_t)content};
    return m;
}

/* once - every recipient got exactly one result */
static void once(size_t n)
{
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(F.res[i].count, 1);
    CHECK_EQ(F.done_calls, 1);
}

/* ---- the DATA path ------------------------------------------------------------------- */

TEST(data_path_pipelined_with_every_parameter)
{
    struct smtpgw_client_msg m =
        msg("BODY=8BITMIME ENVID=q+2Bx RET=FULL MT-PRIORITY=2 BY=120;R SMTPUTF8 AUTH=<>",
            SMTPGW_CONTENT_8BIT, 3);
    start(&m, NULL);
    CHECK(F.c != NULL);
    CHECK_STR(sent(), "");
    CHECK_EQ(smtpgw_client_next_expiry(F.c), 1000 + 5 * 60 * 1000);
    CHECK_EQ(feed("220 mta.example ESMTP\r\n"), 0);
    CHECK_STR(sent(), "EHLO gw.example\r\n");
    CHECK_EQ(feed(EHLO_ALL), 0);
    CHECK_EQ(smtpgw_client_extensions(F.c), 0x3ff);
    CHECK_STR(sent(),
              "MAIL FROM:<alice@hf.example> SIZE=120 BODY=8BITMIME SMTPUTF8 RET=FULL "
              "ENVID=q+2Bx MT-PRIORITY=2 BY=120;R\r\n"
              "RCPT TO:<bob@lan.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@hf.example\r\n"
              "RCPT TO:<carol@lan.example>\r\n"
              "RCPT TO:<dave@lan.example> NOTIFY=NEVER\r\n"
              "DATA\r\n");
    CHECK(!smtpgw_client_wants_body(F.c));
    CHECK_EQ(feed("250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 <carol@lan.example>: no such user\r\n"
                  "250 2.1.5 ok\r\n354 go ahead\r\n"),
             0);
    CHECK_EQ(F.res[1].count, 1);
    CHECK_EQ(F.res[1].code, 550);
    CHECK_STR(F.res[1].status, "5.1.1");
    CHECK_STR(F.res[1].reply, "550 5.1.1 <carol@lan.example>: no such user");
    CHECK(smtpgw_client_wants_body(F.c));
    CHECK_EQ(smtpgw_client_next_expiry(F.c), UTIL_MS_NEVER);
    CHECK_EQ(smtpgw_client_body(F.c, F.now, (const uint8_t *)"Subject: x\r\n\r\ncaf\xc3\xa9\r\n",
                                20, true),
             0);
    CHECK_STR(sent(), "Subject: x\r\n\r\ncaf\xc3\xa9\r\n.\r\n");
    CHECK_EQ(smtpgw_client_next_expiry(F.c), 1000 + 10 * 60 * 1000);
    CHECK_EQ(F.res[0].count, 0);
    CHECK_EQ(feed("250 2.0.0 Ok: queued as ABC\r\n"), 0);
    CHECK_EQ(F.res[0].code, 250);
    CHECK_STR(F.res[0].status, "2.0.0");
    CHECK_STR(F.res[0].reply, "250 2.0.0 Ok: queued as ABC");
    CHECK_EQ(F.res[2].code, 250);
    CHECK_STR(sent(), "QUIT\r\n");
    CHECK_EQ(F.done_calls, 0);
    CHECK_EQ(feed("221 2.0.0 bye\r\n"), 0);
    once(3);
    CHECK_EQ(F.done_err, 0);
    CHECK(smtpgw_client_finished(F.c));
    CHECK_EQ(feed("250 late\r\n"), SMTPGW_ERR_CLIENT_STATE);
    finish();
}

TEST(no_extensions_one_command_at_a_time)
{
    struct smtpgw_client_msg m =
        msg("RET=HDRS ENVID=abc MT-PRIORITY=4 BY=60;N", SMTPGW_CONTENT_7BIT, 2);
    start(&m, NULL);
    feed("220 old.example\r\n");
    CHECK_STR(sent(), "EHLO gw.example\r\n");
    feed("250 old.example\r\n");
    CHECK_EQ(smtpgw_client_extensions(F.c), 0);
    CHECK_STR(sent(), "MAIL FROM:<alice@hf.example>\r\n");
    feed("250 ok\r\n");
    CHECK_STR(sent(), "RCPT TO:<bob@lan.example>\r\n"); /* no NOTIFY/ORCPT without DSN */
    feed("250 ok\r\n");
    CHECK_STR(sent(), "RCPT TO:<carol@lan.example>\r\n");
    feed("451 4.2.0 try later\r\n");
    CHECK_EQ(F.res[1].code, 451);
    CHECK_STR(F.res[1].status, "4.2.0");
    CHECK_STR(sent(), "DATA\r\n");
    feed("354 send it\r\n");
    smtpgw_client_body(F.c, F.now, (const uint8_t *)"hello", 5, false);
    smtpgw_client_body(F.c, F.now, (const uint8_t *)" world", 6, true);
    CHECK_STR(sent(), "hello world\r\n.\r\n");
    feed("452 4.3.1 insufficient storage\r\n"); /* a temporary failure after the data */
    CHECK_EQ(F.res[0].code, 452);
    CHECK_STR(F.res[0].status, "4.3.1");
    CHECK_STR(sent(), "QUIT\r\n");
    smtpgw_client_closed(F.c, F.now); /* no 221: fine */
    once(2);
    CHECK_EQ(F.done_err, 0);
    finish();
}

TEST(ehlo_refused_falls_back_to_helo)
{
    struct smtpgw_client_msg m = msg("BODY=8BITMIME RET=FULL", SMTPGW_CONTENT_7BIT, 1);
    start(&m, NULL);
    feed("220 ancient\r\n");
    CHECK_STR(sent(), "EHLO gw.example\r\n");
    feed("502 5.5.1 command not implemented\r\n");
    CHECK_STR(sent(), "HELO gw.example\r\n");
    feed("250 ancient\r\n");
    CHECK_STR(sent(), "MAIL FROM:<alice@hf.example>\r\n"); /* 7-bit content: no BODY needed */
    feed("250 ok\r\n");
    CHECK_STR(sent(), "RCPT TO:<bob@lan.example>\r\n");
    feed("250 ok\r\n");
    CHECK_STR(sent(), "DATA\r\n");
    feed("354 go\r\n");
    smtpgw_client_body(F.c, F.now, (const uint8_t *)"x\r\n", 3, true);
    CHECK_STR(sent(), "x\r\n.\r\n");
    feed("250 done\r\n");
    CHECK_EQ(F.res[0].code, 250);
    CHECK_STR(F.res[0].status, "2.0.0"); /* derived from the code */
    feed("221 bye\r\n");
    once(1);
    finish();
}

/* stuffed - run content through the DATA path in pieces of `step`; what went after 354 */
static const char *stuffed(const char *content, size_t len, size_t step)
{
    struct smtpgw_client_msg m = msg(NULL, SMTPGW_CONTENT_7BIT, 1);
    start(&m, NULL);
    feed("220 x\r\n");
    feed("250-x\r\n250 PIPELINING\r\n");
    feed("250 ok\r\n250 ok\r\n354 go\r\n");
    sent();
    size_t off = 0;
    do {
        size_t n = UTIL_MIN(step, len - off);
        smtpgw_client_body(F.c, F.now, (const uint8_t *)content + off, n, off + n == len);
        off += n;
    } while (off < len);
    const char *out = sent();
    finish();
    return out;
}

TEST(dot_stuffing_and_crlf_byte_exact)
{
#define S(x) x, sizeof(x) - 1
    static const struct {
        const char *in;
        size_t len;
        const char *out;
        size_t outlen;
    } cases[] = {
        {S(".\r\n..x\r\nbare\nlf\rcr\r\n."), S("..\r\n...x\r\nbare\r\nlf\r\ncr\r\n..\r\n.\r\n")},
        {S("no final newline"), S("no final newline\r\n.\r\n")},
        {S(""), S(".\r\n")},
        {S("ends in CR\r"), S("ends in CR\r\n.\r\n")},
        {S("a\r\n.\r\nb\r\n"), S("a\r\n..\r\nb\r\n.\r\n")},
        {S("\r\r\n\n."), S("\r\n\r\n\r\n..\r\n.\r\n")},
        {S("x.\r\n .y\r\n"), S("x.\r\n .y\r\n.\r\n")},
        {S("nul\0byte\r\n"), S("nul\0byte\r\n.\r\n")},
        {S(".."), S("...\r\n.\r\n")},
    };
#undef S
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        for (size_t step = 1; step <= 7; step += 3) {
            const char *got = stuffed(cases[i].in, cases[i].len, step);
            CHECK_MEM(got, cases[i].outlen, cases[i].out, cases[i].outlen);
        }
        const char *whole = stuffed(cases[i].in, cases[i].len, 1000);
        CHECK_MEM(whole, cases[i].outlen, cases[i].out, cases[i].outlen);
    }
    /* a large body in one call: the engine slices it, bytes exact */
    static char big[20000], want[40000];
    size_t w = 0;
    for (size_t i = 0; i < sizeof big; i++) {
        big[i] = i % 50 == 0 ? '.' : i % 50 == 49 ? '\n' : 'a';
        if (big[i] == '\n')
            want[w++] = '\r';
        if (big[i] == '.')
            want[w++] = '.';
        want[w++] = big[i];
    }
    memcpy(want + w, ".\r\n", 3);
    w += 3;
    struct smtpgw_client_msg m = msg(NULL, SMTPGW_CONTENT_7BIT, 1);
    start(&m, NULL);
    feed("220 x\r\n250 x\r\n");
    feed("250 ok\r\n");
    feed("250 ok\r\n");
    feed("354 go\r\n");
    sent();
    smtpgw_client_body(F.c, F.now, (const uint8_t *)big, sizeof big, true);
    CHECK_MEM(F.sent.data, F.sent.len, want, w);
    finish();
}

/* ---- BDAT and the content decisions --------------------------------------------------- */

TEST(bdat_path_for_binarymime)
{
    struct smtpgw_client_msg m = msg("BODY=BINARYMIME", SMTPGW_CONTENT_BINARY, 2);
    start(&m, NULL);
    feed("220 x\r\n");
    sent();
    feed(EHLO_ALL);
    CHECK_STR(sent(),
              "MAIL FROM:<alice@hf.example> SIZE=120 BODY=BINARYMIME\r\n"
              "RCPT TO:<bob@lan.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@hf.example\r\n"
              "RCPT TO:<carol@lan.example>\r\n");
    CHECK(!smtpgw_client_wants_body(F.c));
    feed("250 ok\r\n250 ok\r\n");
    CHECK(!smtpgw_client_wants_body(F.c));
    feed("250 ok\r\n");
    CHECK(smtpgw_client_wants_body(F.c));
    CHECK_EQ(smtpgw_client_body(F.c, F.now, (const uint8_t *)"ab\0\n.\r", 6, false), 0);
    CHECK_MEM(F.sent.data, F.sent.len, "BDAT 6\r\nab\0\n.\r", 14);
    util_buf_reset(&F.sent);
    CHECK(smtpgw_client_wants_body(F.c)); /* pipelined: more chunks may follow */
    CHECK_EQ(smtpgw_client_body(F.c, F.now, (const uint8_t *)"xyz", 3, true), 0);
    CHECK_STR(sent(), "BDAT 3 LAST\r\nxyz");
    CHECK(!smtpgw_client_wants_body(F.c));
    CHECK_EQ(smtpgw_client_next_expiry(F.c), 1000 + 5 * 60 * 1000);
    feed("250 2.0.0 6 octets received\r\n");
    CHECK_EQ(F.res[0].count, 0);
    CHECK_EQ(smtpgw_client_next_expiry(F.c), 1000 + 10 * 60 * 1000); /* now the LAST's reply */
    feed("250 2.0.0 message ok\r\n");
    CHECK_EQ(F.res[0].code, 250);
    CHECK_EQ(F.res[1].code, 250);
    CHECK_STR(F.res[1].reply, "250 2.0.0 message ok");
    CHECK_STR(sent(), "QUIT\r\n");
    feed("221 bye\r\n");
    once(2);
    finish();
}

TEST(bdat_without_pipelining_waits_and_a_failed_chunk_fails_all)
{
    struct smtpgw_client_msg m = msg("BODY=BINARYMIME", SMTPGW_CONTENT_BINARY, 2);
    start(&m, NULL);
    feed("220 x\r\n250-x\r\n250-CHUNKING\r\n250 BINARYMIME\r\n");
    CHECK_STR(sent(), "EHLO gw.example\r\nMAIL FROM:<alice@hf.example> BODY=BINARYMIME\r\n");
    feed("250 ok\r\n");
    feed("250 ok\r\n");
    feed("550 5.1.1 nope\r\n");
    CHECK_EQ(F.res[1].code, 550);
    CHECK_STR(sent(), "RCPT TO:<bob@lan.example>\r\nRCPT TO:<carol@lan.example>\r\n");
    CHECK(smtpgw_client_wants_body(F.c));
    smtpgw_client_body(F.c, F.now, (const uint8_t *)"abc", 3, false);
    CHECK(!smtpgw_client_wants_body(F.c)); /* one chunk at a time */
    CHECK_EQ(smtpgw_client_body(F.c, F.now, (const uint8_t *)"x", 1, false),
             SMTPGW_ERR_CLIENT_STATE);
    feed("250 ok\r\n");
    CHECK(smtpgw_client_wants_body(F.c));
    smtpgw_client_body(F.c, F.now, (const uint8_t *)"def", 3, false);
    CHECK_STR(sent(), "BDAT 3\r\nabcBDAT 3\r\ndef");
    feed("554 5.6.0 broken content\r\n");
    CHECK_EQ(F.res[0].code, 554);
    CHECK_STR(F.res[0].status, "5.6.0");
    CHECK(!smtpgw_client_wants_body(F.c));
    CHECK_STR(sent(), "QUIT\r\n");
    feed("221 bye\r\n");
    once(2);
    finish();
}

TEST(binarymime_without_chunking)
{
    /* binary bytes: nothing can carry them: 554 5.6.3 for all, no MAIL */
    struct smtpgw_client_msg m = msg("BODY=BINARYMIME", SMTPGW_CONTENT_BINARY, 3);
    start(&m, NULL);
    feed("220 x\r\n");
    sent();
    feed("250-x\r\n250-8BITMIME\r\n250-BINARYMIME\r\n250 PIPELINING\r\n"); /* no CHUNKING */
    CHECK_STR(sent(), "QUIT\r\n");
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(F.res[i].code, 554);
        CHECK_STR(F.res[i].status, "5.6.3");
    }
    CHECK_CONTAINS(F.res[0].reply, "554 5.6.3 conversion required but not supported");
    feed("221 bye\r\n");
    once(3);
    CHECK_EQ(F.done_err, 0);
    finish();

    /* 7-bit text declared BINARYMIME: DATA without BODY */
    m = msg("BODY=BINARYMIME", SMTPGW_CONTENT_7BIT, 1);
    start(&m, NULL);
    feed("220 x\r\n");
    sent();
    feed("250-x\r\n250 PIPELINING\r\n");
    CHECK_STR(sent(), "MAIL FROM:<alice@hf.example>\r\nRCPT TO:<bob@lan.example>\r\nDATA\r\n");
    finish();

    /* 8-bit text declared BINARYMIME: DATA with BODY=8BITMIME, or 5.6.3 without it */
    m = msg("BODY=BINARYMIME", SMTPGW_CONTENT_8BIT, 1);
    start(&m, NULL);
    feed("220 x\r\n");
    sent();
    feed("250-x\r\n250-8BITMIME\r\n250 PIPELINING\r\n");
    CHECK_STR(
        sent(),
        "MAIL FROM:<alice@hf.example> BODY=8BITMIME\r\nRCPT TO:<bob@lan.example>\r\nDATA\r\n");
    finish();
    start(&m, NULL);
    feed("220 x\r\n");
    sent();
    feed("250 x\r\n");
    CHECK_STR(sent(), "QUIT\r\n");
    CHECK_EQ(F.res[0].code, 554);
    CHECK_STR(F.res[0].status, "5.6.3");
    finish();

    /* BODY=8BITMIME with 8-bit content and no 8BITMIME: 5.6.3 */
    m = msg("BODY=8BITMIME", SMTPGW_CONTENT_8BIT, 1);
    start(&m, NULL);
    feed("220 x\r\n250 x\r\n");
    CHECK_EQ(F.res[0].code, 554);
    finish();

    /* undeclared 8-bit bytes go as they are (what MTAs do), without BODY= */
    m = msg(NULL, SMTPGW_CONTENT_8BIT, 1);
    start(&m, NULL);
    feed("220 x\r\n");
    sent();
    feed("250 x\r\n");
    CHECK_STR(sent(), "MAIL FROM:<alice@hf.example>\r\n");
    finish();

    /* use_chunking: BDAT for a plain message when offered, without BODY= */
    struct smtpgw_client_params p;
    smtpgw_client_params_default(&p);
    p.use_chunking = true;
    p.use_pipelining = false;
    m = msg(NULL, SMTPGW_CONTENT_7BIT, 1);
    start(&m, &p);
    feed("220 x\r\n");
    sent();
    feed("250-x\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
    CHECK_STR(sent(), "MAIL FROM:<alice@hf.example>\r\n"); /* pipelining off by parameter */
    feed("250 ok\r\n250 ok\r\n");
    CHECK(smtpgw_client_wants_body(F.c));
    smtpgw_client_body(F.c, F.now, (const uint8_t *)"a\nb", 3, true);
    CHECK_STR(sent(), "RCPT TO:<bob@lan.example>\r\nBDAT 3 LAST\r\na\nb");
    finish();
}

TEST(size_and_smtputf8_limits)
{
    struct smtpgw_client_msg m = msg(NULL, SMTPGW_CONTENT_7BIT, 2);
    m.size = 2000;
    start(&m, NULL);
    feed("220 x\r\n");
    sent();
    feed("250-x\r\n250 SIZE 1000\r\n");
    CHECK_STR(sent(), "QUIT\r\n");
    CHECK_EQ(F.res[0].code, 552);
    CHECK_STR(F.res[1].status, "5.3.4");
    feed("221 bye\r\n");
    once(2);
    finish();
    /* SIZE without a number (or 0): no limit */
    start(&m, NULL);
    feed("220 x\r\n");
    sent();
    feed("250-x\r\n250 SIZE\r\n");
    CHECK_STR(sent(), "MAIL FROM:<alice@hf.example> SIZE=2000\r\n");
    finish();

    static struct smtpgw_client_rcpt utf[1] = {{"j\xc3\xb6rg@lan.example", NULL}};
    struct smtpgw_client_msg u = {"alice@hf.example", "SMTPUTF8", utf, 1, 10, SMTPGW_CONTENT_8BIT};
    start(&u, NULL);
    feed("220 x\r\n");
    sent();
    feed("250-x\r\n250 8BITMIME\r\n");
    CHECK_EQ(F.res[0].code, 553);
    CHECK_STR(F.res[0].status, "5.6.7");
    finish();
    start(&u, NULL);
    feed("220 x\r\n");
    sent();
    feed("250-x\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n");
    CHECK_STR(sent(), "MAIL FROM:<alice@hf.example> SMTPUTF8\r\n");
    finish();
    /* SMTPUTF8 asked, all addresses ASCII, not offered: sent without it */
    struct smtpgw_client_msg a = msg("SMTPUTF8", SMTPGW_CONTENT_7BIT, 1);
    start(&a, NULL);
    feed("220 x\r\n");
    sent();
    feed("250 x\r\n");
    CHECK_STR(sent(), "MAIL FROM:<alice@hf.example>\r\n");
    finish();
}

/* ---- failures ------------------------------------------------------------------------ */

TEST(mail_refused_with_pipelining)
{
    struct smtpgw_client_msg m = msg(NULL, SMTPGW_CONTENT_7BIT, 2);
    start(&m, NULL);
    feed("220 x\r\n250-x\r\n250 PIPELINING\r\n");
    sent();
    feed("553 5.1.8 sender domain unknown\r\n503 5.5.1 no MAIL\r\n503 5.5.1 no MAIL\r\n");
    CHECK_EQ(F.res[0].code, 553);
    CHECK_STR(F.res[1].reply, "553 5.1.8 sender domain unknown");
    CHECK_STR(sent(), "");
    feed("503 5.5.1 no valid recipients\r\n");
    CHECK_STR(sent(), "QUIT\r\n");
    feed("221 bye\r\n");
    once(2);
    finish();

    /* a server that says 354 to a pipelined DATA with nobody accepted */
    start(&m, NULL);
    feed("220 x\r\n250-x\r\n250 PIPELINING\r\n");
    sent();
    feed("250 ok\r\n550 5.1.1 no\r\n550 5.1.1 no\r\n354 go\r\n");
    CHECK_STR(sent(), ".\r\n");
    CHECK(!smtpgw_client_wants_body(F.c));
    feed("554 5.5.1 no recipients\r\n");
    CHECK_STR(sent(), "QUIT\r\n");
    feed("221 bye\r\n");
    once(2);
    CHECK_EQ(F.res[0].code, 550);
    finish();

    /* every RCPT refused without pipelining: no DATA */
    start(&m, NULL);
    feed("220 x\r\n250 x\r\n250 ok\r\n450 4.2.1 busy\r\n550 5.7.1 denied\r\n");
    CHECK_STR(sent(),
              "EHLO gw.example\r\nMAIL FROM:<alice@hf.example>\r\nRCPT TO:<bob@lan.example>\r\n"
              "RCPT TO:<carol@lan.example>\r\nQUIT\r\n");
    CHECK_EQ(F.res[0].code, 450);
    CHECK_EQ(F.res[1].code, 550);
    finish();

    /* any 3xx to DATA means go ahead (as Postfix reads it) */
    start(&m, NULL);
    feed("220 x\r\n250 x\r\n250 ok\r\n250 ok\r\n250 ok\r\n314 go\r\n");
    CHECK(smtpgw_client_wants_body(F.c));
    smtpgw_client_body(F.c, F.now, (const uint8_t *)"x\r\n", 3, true);
    feed("250 ok\r\n221 bye\r\n");
    once(2);
    CHECK_EQ(F.res[0].code, 250);
    finish();

    /* DATA refused */
    start(&m, NULL);
    feed("220 x\r\n250 x\r\n250 ok\r\n250 ok\r\n250 ok\r\n554 5.3.0 no DATA today\r\n");
    CHECK_EQ(F.res[0].code, 554);
    CHECK_EQ(F.res[1].code, 554);
    CHECK_CONTAINS(sent(), "DATA\r\nQUIT\r\n");
    finish();
}

TEST(session_failures_are_temporary)
{
    struct smtpgw_client_msg m = msg(NULL, SMTPGW_CONTENT_7BIT, 2);
    /* 554 greeting */
    start(&m, NULL);
    feed("554 5.3.2 not now\r\n");
    CHECK_STR(sent(), "QUIT\r\n");
    CHECK_EQ(F.res[0].code, 451);
    CHECK_CONTAINS(F.res[0].reply, "refused the session: 554 5.3.2 not now");
    CHECK_STR(F.res[0].status, "4.3.0");
    feed("221 bye\r\n");
    once(2);
    CHECK_EQ(F.done_err, SMTPGW_ERR_CLIENT_REFUSED);
    finish();
    /* 421 greeting keeps its code */
    start(&m, NULL);
    feed("421 4.3.2 shutting down\r\n");
    CHECK_EQ(F.res[1].code, 421);
    CHECK_STR(F.res[1].status, "4.3.2");
    smtpgw_client_closed(F.c, F.now);
    once(2);
    finish();
    /* EHLO 421, HELO refused */
    start(&m, NULL);
    feed("220 x\r\n421 4.7.0 go away\r\n");
    CHECK_EQ(F.res[0].code, 421);
    finish();
    start(&m, NULL);
    feed("220 x\r\n500 no\r\n501 still no\r\n");
    CHECK_EQ(F.res[0].code, 451);
    CHECK_STR(sent(), "EHLO gw.example\r\nHELO gw.example\r\nQUIT\r\n");
    finish();
    /* connection lost after RCPT: accepted and pending both get 4.4.2 */
    start(&m, NULL);
    feed("220 x\r\n250 x\r\n250 ok\r\n250 ok\r\n");
    smtpgw_client_closed(F.c, F.now);
    once(2);
    CHECK_EQ(F.res[0].code, 451);
    CHECK_STR(F.res[0].status, "4.4.2");
    CHECK_EQ(F.done_err, SMTPGW_ERR_CLIENT_CLOSED);
    finish();
    /* lost after the final dot: we cannot know; 4xx (a duplicate beats a loss) */
    start(&m, NULL);
    feed("220 x\r\n250 x\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    smtpgw_client_body(F.c, F.now, (const uint8_t *)"x", 1, true);
    smtpgw_client_closed(F.c, F.now);
    CHECK_EQ(F.res[0].code, 451);
    once(2);
    finish();
    /* the glue cannot send */
    start(&m, NULL);
    feed("220 x\r\n");
    F.fail_send = 1;
    feed("250 x\r\n");
    once(2);
    CHECK_EQ(F.res[1].code, 451);
    CHECK_EQ(F.done_err, SMTPGW_ERR_CLIENT_CLOSED);
    finish();
}

TEST(timeouts)
{
    struct smtpgw_client_msg m = msg(NULL, SMTPGW_CONTENT_7BIT, 1);
    start(&m, NULL);
    smtpgw_client_timeout(F.c, 1000 + 5 * 60 * 1000 - 1);
    CHECK_EQ(F.done_calls, 0);
    feed("220 x\r\n");
    F.now = 5000;
    feed("250 x\r\n");
    CHECK_EQ(smtpgw_client_next_expiry(F.c), 5000 + 5 * 60 * 1000);
    smtpgw_client_timeout(F.c, 5000 + 5 * 60 * 1000);
    once(1);
    CHECK_EQ(F.res[0].code, 451);
    CHECK_STR(F.res[0].status, "4.4.2");
    CHECK_CONTAINS(F.res[0].reply, "timeout");
    CHECK_EQ(F.done_err, SMTPGW_ERR_CLIENT_TIMEOUT);
    CHECK_EQ(smtpgw_client_next_expiry(F.c), UTIL_MS_NEVER);
    finish();
    /* a server that never answers QUIT: done without error at the timeout */
    start(&m, NULL);
    feed("220 x\r\n250 x\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    smtpgw_client_body(F.c, F.now, (const uint8_t *)"x", 1, true);
    feed("250 ok\r\n");
    smtpgw_client_timeout(F.c, UTIL_MS_NEVER - 1);
    once(1);
    CHECK_EQ(F.res[0].code, 250);
    CHECK_EQ(F.done_err, 0);
    finish();
}

TEST(reply_parsing)
{
    struct smtpgw_client_msg m = msg(NULL, SMTPGW_CONTENT_7BIT, 1);
    /* split anywhere, bare LF, multi-line with the same code */
    m.size = 50;
    start(&m, NULL);
    const char *s = "220-first\n220 second\r\n250-x\r\n250-SIZE 99\r\n250 8BITMIME\r\n";
    for (size_t i = 0; s[i]; i++)
        CHECK_EQ(smtpgw_client_input(F.c, F.now, (const uint8_t *)s + i, 1), 0);
    CHECK_EQ(smtpgw_client_extensions(F.c), SMTPGW_EXT_SIZE | SMTPGW_EXT_8BITMIME);
    CHECK_STR(sent(), "EHLO gw.example\r\nMAIL FROM:<alice@hf.example> SIZE=50\r\n");
    CHECK_EQ(F.res[0].count, 0);
    finish();
    m.size = 120;
    static const char *bad[] = {
        "220 x\r\n250-x\r\n251 y\r\n",    /* code changes inside a multi-line reply */
        "hello\r\n",                      /* not a reply */
        "220x\r\n",                       /* no separator */
        "2\r\n",                          /* too short */
        "620 x\r\n",                      /* no such class */
        "220 x\r\n250 x\r\n354 what\r\n", /* 3xx to MAIL */
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        start(&m, NULL);
        CHECK_EQ(feed(bad[i]), SMTPGW_ERR_CLIENT_PROTO);
        once(1);
        CHECK_EQ(F.res[0].code, 451);
        CHECK_STR(F.res[0].status, "4.5.0");
        CHECK_EQ(F.done_err, SMTPGW_ERR_CLIENT_PROTO);
        finish();
    }
    /* an overlong line */
    start(&m, NULL);
    char lng[5000];
    memset(lng, 'x', sizeof lng);
    memcpy(lng, "220 ", 4);
    CHECK_EQ(smtpgw_client_input(F.c, F.now, (const uint8_t *)lng, sizeof lng), 0);
    CHECK_EQ(feed("\r\n"), SMTPGW_ERR_CLIENT_PROTO);
    once(1);
    finish();
    /* an unsolicited reply between commands */
    start(&m, NULL);
    feed("220 x\r\n250 x\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    CHECK_EQ(feed("421 4.4.2 idle\r\n"), SMTPGW_ERR_CLIENT_CLOSED);
    once(1);
    finish();
    /* enhanced status codes: taken when well formed and of the reply's class */
    static const struct {
        const char *reply;
        const char *status;
    } st[] = {
        {"550 5.1.1 user unknown\r\n", "5.1.1"},
        {"550 4.1.1 odd\r\n", "5.0.0"},
        {"550 5.1 short\r\n", "5.0.0"},
        {"550 5.1.1.1 long\r\n", "5.0.0"},
        {"550 5.123.456 big\r\n", "5.123.456"},
        {"550\r\n", "5.0.0"},
        {"550 5..1 bad\r\n", "5.0.0"},
        {"450-4.2.2 full\r\n450 4.2.2 really\r\n", "4.2.2"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(st); i++) {
        start(&m, NULL);
        feed("220 x\r\n250 x\r\n250 ok\r\n");
        feed(st[i].reply);
        CHECK_STR(F.res[0].status, st[i].status);
        finish();
    }
    start(&m, NULL);
    feed("220 x\r\n250 x\r\n250 ok\r\n450-4.2.2 mailbox full\r\n450 4.2.2 try later\r\n");
    CHECK_STR(F.res[0].reply, "450 4.2.2 mailbox full 4.2.2 try later");
    finish();
}

TEST(api_edges)
{
    struct smtpgw_client_msg m = msg(NULL, SMTPGW_CONTENT_7BIT, 0);
    CHECK(smtpgw_client_new(NULL, &m, &CB, &F, 0) == NULL);
    m = msg(NULL, SMTPGW_CONTENT_7BIT, 1);
    struct smtpgw_client_callbacks nocb = {NULL, NULL, NULL};
    CHECK(smtpgw_client_new(NULL, &m, &nocb, &F, 0) == NULL);
    start(&m, NULL);
    CHECK(!smtpgw_client_wants_body(F.c));
    CHECK_EQ(smtpgw_client_body(F.c, 0, (const uint8_t *)"x", 1, true), SMTPGW_ERR_CLIENT_STATE);
    finish();
    smtpgw_client_free(NULL);
    CHECK_STR(smtpgw_spool_strerror(SMTPGW_ERR_CLIENT_TIMEOUT), "SMTP client: timeout");
    /* a long HELO name falls back to localhost */
    struct smtpgw_client_params p;
    smtpgw_client_params_default(&p);
    char longname[400];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    p.helo_name = longname;
    start(&m, &p);
    feed("220 x\r\n");
    CHECK_STR(sent(), "EHLO localhost\r\n");
    finish();
}

TEST(retry_schedule)
{
    struct smtpgw_retry r;
    smtpgw_retry_default(&r);
    CHECK_EQ(r.first_s, 60);
    CHECK_EQ(r.max_s, 3600);
    int64_t t0 = 1700000000;
    CHECK_EQ(smtpgw_retry_next(&r, 0, t0, t0), t0 + 60);
    CHECK_EQ(smtpgw_retry_next(&r, 1, t0, t0), t0 + 60);
    CHECK_EQ(smtpgw_retry_next(&r, 2, t0, t0 + 100), t0 + 100 + 120);
    CHECK_EQ(smtpgw_retry_next(&r, 3, t0, t0 + 100), t0 + 100 + 240);
    CHECK_EQ(smtpgw_retry_next(&r, 7, t0, t0 + 100), t0 + 100 + 3600); /* 3840 capped */
    CHECK_EQ(smtpgw_retry_next(&r, 1000000, t0, t0 + 100), t0 + 100 + 3600);
    /* the last try lands on the deadline; after it, bounce */
    int64_t late = t0 + r.max_age_s - 10;
    CHECK_EQ(smtpgw_retry_next(&r, 20, t0, late), t0 + r.max_age_s);
    CHECK_EQ(smtpgw_retry_next(&r, 21, t0, t0 + r.max_age_s), -1);
}

int main(void)
{
    util_log_set_level(UTIL_LOG_WARN);
    RUN(data_path_pipelined_with_every_parameter);
    RUN(no_extensions_one_command_at_a_time);
    RUN(ehlo_refused_falls_back_to_helo);
    RUN(dot_stuffing_and_crlf_byte_exact);
    RUN(bdat_path_for_binarymime);
    RUN(bdat_without_pipelining_waits_and_a_failed_chunk_fails_all);
    RUN(binarymime_without_chunking);
    RUN(size_and_smtputf8_limits);
    RUN(mail_refused_with_pipelining);
    RUN(session_failures_are_temporary);
    RUN(timeouts);
    RUN(reply_parsing);
    RUN(api_edges);
    RUN(retry_schedule);
    util_buf_free(&F.sent);
    return harness_done();
}
