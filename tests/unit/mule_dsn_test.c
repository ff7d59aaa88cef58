/* mule_dsn_test.c - trace and DSNs (mule/trace.c, mule/dsn.c): RFC 5322
 * dates, the Received field with protocol MULE (golden), and RFC 3464
 * reports as NOTIFY asks (golden failure, delay and relayed notices), with
 * RET, ENVID, ORCPT, the DELIVERBY trace modifier, and none for the null
 * return path.  tests/integration/mule_dsn.sh parses them with Python's
 * email package.
 */
#include "harness.h"
#include "mule/mule.h"
#include "mule_golden.h"

#define T_2017 1493306220 /* Thu, 27 Apr 2017 15:17:00 +0000 */

TEST(dates)
{
    char d[MULE_DATE_STRLEN];
    CHECK_STR(mule_date_format(T_2017, d, sizeof d), "Thu, 27 Apr 2017 15:17:00 +0000");
    CHECK_STR(mule_date_format(0, d, sizeof d), "Thu, 1 Jan 1970 00:00:00 +0000");
    CHECK_STR(mule_date_format(951782400, d, sizeof d), "Tue, 29 Feb 2000 00:00:00 +0000");
}

TEST(received_matches_golden)
{
    struct util_buf b;
    util_buf_init(&b, 0);
    struct mule_trace t = {"gw-a.example.mil",      0x0a000001, 42, "gw-b.example.mil",
                           "bob@ship1.example.mil", T_2017};
    CHECK_EQ(mule_trace_received(&t, &b), 0);
    t.from_name = NULL;
    t.for_addr = NULL;
    t.msgid = 4294967295u;
    CHECK_EQ(mule_trace_received(&t, &b), 0);
    CHECK(golden_check("received.txt", b.data, b.len));
    CHECK_CONTAINS((util_buf_append(&b, "", 1), (const char *)b.data),
                   " with MULE id <42@10.0.0.1>");
    size_t n = b.len;
    t.by_host = "bad host";
    CHECK_EQ(mule_trace_received(&t, &b), MULE_ERR_INVAL);
    t.by_host = "gw-b.example.mil";
    t.for_addr = "x@";
    CHECK_EQ(mule_trace_received(&t, &b), MULE_ERR_INVAL);
    CHECK_EQ(b.len, n);
    util_buf_free(&b);
}

TEST(notify_decides)
{
    CHECK(mule_dsn_wanted(NULL, MULE_DSN_FAILED));
    CHECK(mule_dsn_wanted("", MULE_DSN_DELAYED));
    CHECK(!mule_dsn_wanted("", MULE_DSN_RELAYED));
    CHECK(!mule_dsn_wanted("NOTIFY=NEVER", MULE_DSN_FAILED));
    CHECK(mule_dsn_wanted("NOTIFY=SUCCESS,FAILURE", MULE_DSN_RELAYED));
    CHECK(mule_dsn_wanted("NOTIFY=SUCCESS,FAILURE", MULE_DSN_DELIVERED));
    CHECK(!mule_dsn_wanted("NOTIFY=SUCCESS,FAILURE", MULE_DSN_DELAYED));
    CHECK(mule_dsn_wanted("ORCPT=rfc822;x@y NOTIFY=delay", MULE_DSN_DELAYED));
    CHECK(!mule_dsn_wanted("NOTIFY=FAILURES", MULE_DSN_FAILED));
}

static const char original[] = "From: from@example.com\r\n"
                               "To: To1 <to1@example.net>, To2 <to2@example.net>\r\n"
                               "Date: 27 Apr 2017 16:17 +0100\r\n"
                               "Subject: a test\r\n"
                               "Message-ID: <t1@example.com>\r\n"
                               "\r\n"
                               "This is the body.\r\n";

/* build - a DSN into b for the RFC 8494 example envelope */
static int build(struct util_buf *b, const char *mail_params, struct mule_dsn_rcpt *r, size_t n)
{
    struct mule_dsn d = {"from@example.com",
                         mail_params,
                         r,
                         n,
                         (const uint8_t *)original,
                         sizeof original - 1,
                         "gw-b.example.mil",
                         T_2017 + 3600,
                         T_2017,
                         false};
    return mule_dsn_build(&d, b);
}

TEST(failure_notice_matches_golden)
{
    struct mule_dsn_rcpt r[] = {
        {"to1@example.net", "NOTIFY=FAILURE ORCPT=rfc822;Bob@ent.example.net", MULE_DSN_FAILED,
         "5.4.7", "X-MULE; the message expired before it was acknowledged", NULL, 0},
        {"to2@example.net", "NOTIFY=SUCCESS,FAILURE", MULE_DSN_FAILED, "5.4.4",
         "no route to the recipient's domain", "dns; gw-b.example.mil", 0},
    };
    struct util_buf b;
    util_buf_init(&b, 0);
    CHECK_EQ(build(&b, "MT-PRIORITY=4 BODY=8BITMIME RET=HDRS ENVID=QQ314159", r, 2), 2);
    CHECK(golden_check("dsn_failed.eml", b.data, b.len));
    util_buf_append(&b, "", 1);
    const char *s = (const char *)b.data;
    CHECK_CONTAINS(s, "To: <from@example.com>\r\n");
    CHECK_CONTAINS(s, "Content-Type: multipart/report; report-type=delivery-status;");
    CHECK_CONTAINS(s, "Original-Envelope-Id: QQ314159\r\n");
    CHECK_CONTAINS(s, "Original-Recipient: rfc822; Bob@ent.example.net\r\n");
    CHECK_CONTAINS(
        s, "Final-Recipient: rfc822; to1@example.net\r\nAction: failed\r\nStatus: 5.4.7\r\n");
    CHECK_CONTAINS(s, "Diagnostic-Code: X-MULE; no route");
    CHECK_CONTAINS(s, "Content-Type: text/rfc822-headers\r\n");
    CHECK(!strstr(s, "This is the body."));
    CHECK(!strstr(s, "\n\n") && !strstr(s, "\r\r"));
    util_buf_free(&b);
}

TEST(delay_and_relayed_notices_match_golden)
{
    struct mule_dsn_rcpt r[] = {
        {"to1@example.net", NULL, MULE_DSN_DELAYED, "4.4.7", NULL, NULL, T_2017 + 86400},
        {"to2@example.net", "NOTIFY=FAILURE", MULE_DSN_DELAYED, "4.4.7", NULL, NULL, 0},
    };
    struct util_buf b;
    util_buf_init(&b, 0);
    CHECK_EQ(build(&b, "BY=600;N ENVID=a+2Bb", r, 2), 1); /* to2 asked for failures only */
    CHECK(golden_check("dsn_delayed.eml", b.data, b.len));
    util_buf_append(&b, "", 1);
    CHECK_CONTAINS((const char *)b.data, "Action: delayed\r\nStatus: 4.4.7\r\n");
    CHECK_CONTAINS((const char *)b.data, "Will-Retry-Until: Fri, 28 Apr 2017 15:17:00 +0000\r\n");
    CHECK_CONTAINS((const char *)b.data, "Original-Envelope-Id: a+b\r\n");
    CHECK(!strstr((const char *)b.data, "to2@example.net>:"));
    util_buf_reset(&b);
    struct mule_dsn_rcpt rel[] = {
        {"to1@example.net", "NOTIFY=FAILURE", MULE_DSN_RELAYED, "2.0.0", NULL, NULL, 0},
        {"to2@example.net", "NOTIFY=SUCCESS", MULE_DSN_RELAYED, "2.0.0",
         "smtp; 250 2.0.0 queued as 1234", "dns; mta.example.net", 0},
    };
    CHECK_EQ(build(&b, "RET=FULL", rel, 2), 1);
    CHECK(golden_check("dsn_relayed.eml", b.data, b.len));
    util_buf_append(&b, "", 1);
    CHECK_CONTAINS((const char *)b.data, "Action: relayed\r\n");
    CHECK_CONTAINS((const char *)b.data, "Content-Type: message/rfc822\r\n");
    CHECK_CONTAINS((const char *)b.data, "This is the body.\r\n");
    util_buf_free(&b);
}

TEST(trace_modifier_and_nobody_asking)
{
    struct mule_dsn_rcpt r[] = {
        {"to1@example.net", "NOTIFY=NEVER", MULE_DSN_FAILED, "5.4.7", NULL, NULL, 0},
        {"to2@example.net", "NOTIFY=FAILURE", MULE_DSN_RELAYED, "2.0.0", NULL, NULL, 0},
    };
    struct util_buf b;
    util_buf_init(&b, 0);
    CHECK_EQ(build(&b, NULL, r, 2), 0);
    CHECK_EQ(b.len, 0);
    /* BY ...T: relayed notices whatever NOTIFY says (but never for NEVER's failure) */
    struct mule_dsn d = {
        "from@example.com",  "BY=60;NT",         r,      2, (const uint8_t *)original,
        sizeof original - 1, "gw-b.example.mil", T_2017, 0, true};
    CHECK_EQ(mule_dsn_build(&d, &b), 1);
    util_buf_append(&b, "", 1);
    CHECK_CONTAINS((const char *)b.data,
                   "Final-Recipient: rfc822; to2@example.net\r\nAction: relayed");
    CHECK(!strstr((const char *)b.data, "Arrival-Date"));
    util_buf_free(&b);
}

TEST(never_for_the_null_return_path)
{
    struct mule_dsn_rcpt r[] = {{"to1@example.net", NULL, MULE_DSN_FAILED, "5.4.7", NULL, NULL, 0}};
    struct util_buf b;
    util_buf_init(&b, 0);
    struct mule_dsn d = {
        "",     NULL, r,    1, (const uint8_t *)original, sizeof original - 1, "gw-b.example.mil",
        T_2017, 0,    false};
    CHECK_EQ(mule_dsn_build(&d, &b), 0);
    d.return_path = NULL;
    CHECK_EQ(mule_dsn_build(&d, &b), 0);
    CHECK_EQ(b.len, 0);
    /* bad input */
    d.return_path = "from@example.com";
    r[0].status = "5.4";
    CHECK_EQ(mule_dsn_build(&d, &b), MULE_ERR_INVAL);
    r[0].status = "5.4.7";
    r[0].diagnostic = "two\r\nlines";
    CHECK_EQ(mule_dsn_build(&d, &b), MULE_ERR_INVAL);
    r[0].diagnostic = NULL;
    d.hostname = "";
    CHECK_EQ(mule_dsn_build(&d, &b), MULE_ERR_INVAL);
    CHECK_EQ(b.len, 0);
    util_buf_free(&b);
}

TEST(original_with_bare_lf_and_8bit)
{
    static const char msg[] = "Subject: caf\xc3\xa9\nX: y\n\nbody\n";
    struct mule_dsn_rcpt r[] = {{"to1@example.net", NULL, MULE_DSN_FAILED, "5.1.1", NULL, NULL, 0}};
    struct mule_dsn d = {"from@example.com", "RET=FULL",         r,      1, (const uint8_t *)msg,
                         sizeof msg - 1,     "gw-b.example.mil", T_2017, 0, false};
    struct util_buf b;
    util_buf_init(&b, 0);
    CHECK_EQ(mule_dsn_build(&d, &b), 1);
    util_buf_append(&b, "", 1);
    const char *s = (const char *)b.data;
    CHECK_CONTAINS(
        s, "Content-Transfer-Encoding: 8bit\r\n\r\nSubject: caf\xc3\xa9\r\nX: y\r\n\r\nbody\r\n");
    CHECK(!strstr(s, "y\n\n"));
    util_buf_free(&b);
}

/* main - run the trace and DSN tests */
int main(void)
{
    RUN(dates);
    RUN(received_matches_golden);
    RUN(notify_decides);
    RUN(failure_notice_matches_golden);
    RUN(delay_and_relayed_notices_match_golden);
    RUN(trace_modifier_and_nobody_asking);
    RUN(never_for_the_null_return_path);
    RUN(original_with_bare_lf_and_8bit);
    return harness_done();
}
