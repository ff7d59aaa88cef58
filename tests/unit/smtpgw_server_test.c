/* smtpgw_server_test.c - the SMTP server engine (smtp-gw/smtp_server.c)
 * driven by scripted input: every command, every parameter validation
 * (RFC 1870, 6152, 3461, 6710, 2852, 3030, 6531), pipelining, BDAT chunks
 * with LAST and BINARYMIME, DATA with dot-stuffing (RFC 5321 4.5.2), bare
 * LF and CR (RFC 5321 2.3.8), each limit and each error reply.  Every
 * script is also run in random splits and byte by byte: the replies must
 * be the same, and every reply but the greeting, EHLO/HELO and 354 must
 * carry an enhanced status code of its class (RFC 2034, RFC 3463).
 */
#include "harness.h"
#include "smtp-gw/smtpgw.h"

/* ---- a scripted client ---------------------------------------------------------- */

struct tctx {
    struct util_buf out;     /* every reply */
    int closed;              /* close callbacks */
    int messages;            /* message callbacks */
    struct util_buf msg;     /* the last message */
    struct util_buf payload; /* the last message as a MULE payload (envelope + message) */
    char from[300];          /* its reverse-path */
    size_t n_rcpts;
    struct smtpgw_txn last;   /* scalar fields of the last transaction */
    char rcpt_params[4][200]; /* params of its first recipients */
    unsigned rcpt_notify[4];
    char rcpt_orcpt[4][200];
    int message_rc; /* what the message callback returns */
    bool defer;     /* keep the message, answer SMTPGW_MESSAGE_PENDING */
    const char *message_text;
    int mail_rc;             /* what mail_check returns */
    const char *deny_domain; /* rcpt_check refuses this domain */
    int deny_code;
    const char *deny_text;
};

/* t_write - collect replies */
static void t_write(void *user, const void *b, size_t n)
{
    struct tctx *t = user;
    util_buf_append(&t->out, b, n);
}

/* t_close - count closes */
static void t_close(void *user)
{
    ((struct tctx *)user)->closed++;
}

/* t_mail_check - accept, or t->mail_rc */
static int t_mail_check(void *user, const struct smtpgw_txn *txn, char *text, size_t cap)
{
    struct tctx *t = user;
    (void)txn;
    if (t->mail_rc)
        snprintf(text, cap, "5.7.1 Sender blocked");
    return t->mail_rc;
}

/* t_rcpt_check - refuse deny_domain */
static int t_rcpt_check(void *user, const struct smtpgw_txn *txn, const struct smtpgw_rcpt *r,
                        char *text, size_t cap)
{
    struct tctx *t = user;
    (void)txn;
    if (t->deny_domain && strcmp(mule_address_domain(r->addr), t->deny_domain) == 0) {
        snprintf(text, cap, "%s", t->deny_text ? t->deny_text : "");
        return t->deny_code ? t->deny_code : 550;
    }
    return 0;
}

/* t_message - keep a copy of the message and its envelope */
static int t_message(void *user, const struct smtpgw_txn *txn, char *qid, size_t qcap, char *text,
                     size_t tcap)
{
    struct tctx *t = user;
    if (t->message_rc) {
        if (t->message_text)
            snprintf(text, tcap, "%s", t->message_text);
        return t->message_rc;
    }
    t->messages++;
    util_buf_reset(&t->msg);
    util_buf_append(&t->msg, txn->data.data, txn->data.len);
    snprintf(t->from, sizeof t->from, "%s", txn->mail_from);
    t->n_rcpts = txn->n_rcpts;
    t->last = *txn;
    t->last.rcpts = NULL;
    t->last.n_rcpts = 0;
    t->last.mule_rcpts_ = NULL;
    t->last.mail_from = NULL;
    t->last.mail_params = NULL;
    memset(&t->last.data, 0, sizeof t->last.data);
    for (size_t i = 0; i < txn->n_rcpts && i < 4; i++) {
        snprintf(t->rcpt_params[i], sizeof t->rcpt_params[i], "%s", txn->rcpts[i].params);
        t->rcpt_notify[i] = txn->rcpts[i].notify;
        snprintf(t->rcpt_orcpt[i], sizeof t->rcpt_orcpt[i], "%s",
                 txn->rcpts[i].orcpt ? txn->rcpts[i].orcpt : "");
    }
    struct mule_envelope env;
    smtpgw_txn_envelope(txn, &env);
    util_buf_reset(&t->payload);
    mule_payload_build(&env, txn->data.data, txn->data.len, &t->payload);
    snprintf(qid, qcap, "Q%d", t->messages);
    return t->defer ? SMTPGW_MESSAGE_PENDING : 0;
}

static const struct smtpgw_callbacks tcb = {t_write, t_close, t_mail_check, t_rcpt_check,
                                            t_message};

/* tctx_init - an empty client context */
static void tctx_init(struct tctx *t)
{
    memset(t, 0, sizeof *t);
    util_buf_init(&t->out, 0);
    util_buf_init(&t->msg, 0);
    util_buf_init(&t->payload, 0);
}

/* tctx_free - release the buffers */
static void tctx_free(struct tctx *t)
{
    util_buf_free(&t->out);
    util_buf_free(&t->msg);
    util_buf_free(&t->payload);
}

/* out_str - the replies so far as a C string */
static const char *out_str(struct tctx *t)
{
    util_buf_append(&t->out, "", 1);
    t->out.len--;
    return (const char *)t->out.data;
}

/* lim_test - default limits */
static struct smtpgw_limits lim_test(void)
{
    struct smtpgw_limits l;
    smtpgw_limits_default(&l);
    return l;
}

/* open_session - a started session on t */
static struct smtpgw_session *open_session(struct tctx *t, const struct smtpgw_limits *lim)
{
    struct smtpgw_session_config cfg = {"mx.test", *lim};
    struct smtpgw_session *s = smtpgw_session_new(&cfg, &tcb, t, "192.0.2.1", 7, 1000);
    if (s)
        smtpgw_session_start(s, 1000, false);
    return s;
}

/* feed - a C string as one input */
static void feed(struct smtpgw_session *s, const char *in)
{
    smtpgw_session_input(s, 2000, in, strlen(in));
}

/* run - a whole script through a new session, cut by seed (0: whole,
 * 1: byte by byte, else random cuts); replies in t->out */
static void run(struct tctx *t, const struct smtpgw_limits *lim, const void *in, size_t len,
                uint64_t seed)
{
    struct smtpgw_session *s = open_session(t, lim);
    if (!s)
        return;
    struct util_rng rng;
    util_rng_seed(&rng, seed);
    size_t off = 0;
    while (off < len) {
        size_t n = len - off;
        if (seed == 1)
            n = 1;
        else if (seed > 1) {
            size_t cut = 1 + (size_t)util_rng_below(&rng, 64);
            n = UTIL_MIN(n, cut);
        }
        smtpgw_session_input(s, 2000, (const uint8_t *)in + off, n);
        off += n;
    }
    smtpgw_session_free(s);
}

/* reply_codes_ok - every reply line well formed, with an enhanced code of its class */
static bool reply_codes_ok(const char *out)
{
    const char *p = out;
    bool in_ehlo = false;
    while (*p) {
        const char *e = strstr(p, "\r\n");
        if (!e)
            return false;
        if (e - p < 4 || p[0] < '2' || p[0] > '5' || (p[3] != ' ' && p[3] != '-'))
            return false;
        int code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
        bool multi = p[3] == '-';
        bool exempt = code == 220 || code == 354 || in_ehlo || multi ||
                      (code == 250 && strstr(p, " Hello ") && strstr(p, " Hello ") < e);
        if (!exempt) {
            if (p[4] != p[0] || p[5] != '.')
                return false;
        }
        in_ehlo = multi;
        p = e + 2;
    }
    return true;
}

/* same_in_every_split - the replies do not depend on how the input is cut */
static bool same_in_every_split(const struct smtpgw_limits *lim, const void *in, size_t len,
                                struct tctx *whole)
{
    tctx_init(whole);
    run(whole, lim, in, len, 0);
    bool ok = reply_codes_ok(out_str(whole));
    if (!ok)
        printf("# bad reply codes in:\n%s", out_str(whole));
    for (uint64_t seed = 1; seed < 40 && ok; seed++) {
        struct tctx t;
        tctx_init(&t);
        run(&t, lim, in, len, seed);
        if (t.out.len != whole->out.len || memcmp(t.out.data, whole->out.data, t.out.len) != 0 ||
            t.messages != whole->messages || t.msg.len != whole->msg.len ||
            (t.msg.len && memcmp(t.msg.data, whole->msg.data, t.msg.len) != 0)) {
            printf("# seed %llu differs:\n%s\n# whole:\n%s", (unsigned long long)seed, out_str(&t),
                   out_str(whole));
            ok = false;
        }
        tctx_free(&t);
    }
    return ok;
}

/* count - occurrences of needle in hay */
static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

#define S(str) str, sizeof(str) - 1

/* ---- greeting, EHLO, HELO, simple commands ----------------------------------------------- */

TEST(greets_with_hostname)
{
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_limits lim = lim_test();
    struct smtpgw_session *s = open_session(&t, &lim);
    CHECK_STR(out_str(&t), "220 mx.test ESMTP mulegw\r\n");
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_INIT);
    smtpgw_session_free(s);
    tctx_free(&t);
}

TEST(ehlo_advertises_every_extension)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] = "EHLO client.test\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    const char *o = out_str(&t);
    CHECK_CONTAINS(o, "250-mx.test Hello client.test\r\n");
    CHECK_CONTAINS(o, "250-SIZE 10485760\r\n");
    CHECK_CONTAINS(o, "250-8BITMIME\r\n");
    CHECK_CONTAINS(o, "250-DSN\r\n");
    CHECK_CONTAINS(o, "250-MT-PRIORITY\r\n");
    CHECK_CONTAINS(o, "250-DELIVERBY\r\n");
    CHECK_CONTAINS(o, "250-BINARYMIME\r\n");
    CHECK_CONTAINS(o, "250-CHUNKING\r\n");
    CHECK_CONTAINS(o, "250-PIPELINING\r\n");
    CHECK_CONTAINS(o, "250 ENHANCEDSTATUSCODES\r\n");
    CHECK(!strstr(o, "SMTPUTF8"));
    tctx_free(&t);

    lim.smtputf8 = true;
    lim.max_message = 1000;
    CHECK(same_in_every_split(&lim, S(in), &t));
    CHECK_CONTAINS(out_str(&t), "250-SMTPUTF8\r\n");
    CHECK_CONTAINS(out_str(&t), "250-SIZE 1000\r\n");
    tctx_free(&t);
}

TEST(helo_has_no_extensions_and_no_parameters)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] = "HELO client.test\r\n"
                             "MAIL FROM:<a@b.test> SIZE=10\r\n"
                             "MAIL FROM:<a@b.test>\r\n"
                             "RCPT TO:<c@d.test> NOTIFY=NEVER\r\n"
                             "RCPT TO:<c@d.test>\r\n"
                             "BDAT 3 LAST\r\nabc"
                             "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
                             "DATA\r\nhi\r\n.\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    const char *o = out_str(&t);
    CHECK_CONTAINS(o, "250 mx.test Hello client.test\r\n");
    CHECK(!strstr(o, "250-"));
    CHECK_CONTAINS(o, "555 5.5.4 MAIL parameters need EHLO\r\n");
    CHECK_CONTAINS(o, "555 5.5.4 RCPT parameters need EHLO\r\n");
    CHECK_CONTAINS(o, "503 5.5.1 BDAT needs EHLO\r\n");
    CHECK_CONTAINS(o, "250 2.0.0 Ok: queued as Q1\r\n");
    CHECK_EQ(t.messages, 1);
    CHECK(!t.last.esmtp);
    tctx_free(&t);
}

TEST(ehlo_needs_a_domain)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    CHECK(
        same_in_every_split(&lim, S("EHLO\r\nHELO \r\nEHLO a\001b\r\nEHLO ok.test extra\r\n"), &t));
    const char *o = out_str(&t);
    CHECK_EQ(count(o, "501 5.5.4 Syntax: EHLO domain or address literal\r\n"), 2);
    CHECK_CONTAINS(o, "500 5.5.2 Syntax error: control character in command\r\n");
    CHECK_CONTAINS(o, "250-mx.test Hello ok.test\r\n");
    tctx_free(&t);
}

TEST(simple_commands)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] = "NOOP\r\n"
                             "noop whatever\r\n"
                             "RSET\r\n"
                             "RSET x\r\n"
                             "VRFY postmaster\r\n"
                             "VRFY\r\n"
                             "EXPN staff\r\n"
                             "HELP\r\n"
                             "STARTTLS\r\n"
                             "MAIL FROM:<a@b.test>\r\n"
                             "QUIT\r\n"
                             "NOOP\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    CHECK_STR(out_str(&t),
              "220 mx.test ESMTP mulegw\r\n"
              "250 2.0.0 Ok\r\n"
              "250 2.0.0 Ok\r\n"
              "250 2.0.0 Ok\r\n"
              "501 5.5.4 This command takes no argument\r\n"
              "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery\r\n"
              "501 5.5.4 Syntax: VRFY address\r\n"
              "502 5.5.1 EXPN not available\r\n"
              "214 2.0.0 mulegw: see RFC 5321; commands EHLO HELO MAIL RCPT DATA BDAT "
              "RSET NOOP QUIT VRFY HELP\r\n"
              "500 5.5.1 Command unrecognized\r\n"
              "503 5.5.1 Send EHLO or HELO first\r\n"
              "221 2.0.0 mx.test Bye\r\n");
    CHECK_EQ(t.closed, 1);
    tctx_free(&t);
}

TEST(quit_closes_and_ignores_the_rest)
{
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_limits lim = lim_test();
    struct smtpgw_session *s = open_session(&t, &lim);
    CHECK_EQ(smtpgw_session_input(s, 2000, S("QUIT\r\nNOOP\r\n")), SMTPGW_ERR_CLOSED);
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_CLOSED);
    CHECK_EQ(smtpgw_session_input(s, 2000, S("NOOP\r\n")), SMTPGW_ERR_CLOSED);
    CHECK_EQ(count(out_str(&t), "\r\n"), 2);
    CHECK_EQ(t.closed, 1);
    CHECK_EQ(smtpgw_session_next_expiry(s), UTIL_MS_NEVER);
    smtpgw_session_free(s);
    tctx_free(&t);
}

/* ---- transactions ------------------------------------------------------------------------ */

TEST(data_transaction_delivers_the_unstuffed_message)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] = "EHLO client.test\r\n"
                             "MAIL FROM:<ops@shore.test> SIZE=100 BODY=8BITMIME\r\n"
                             "RCPT TO:<alice@ship.test>\r\n"
                             "RCPT TO:<bob@ship.test> NOTIFY=SUCCESS,FAILURE\r\n"
                             "DATA\r\n"
                             "Subject: hi\r\n"
                             "\r\n"
                             "..leading dot\r\n"
                             "...two\r\n"
                             ".\tx\r\n"
                             "a.\r\n"
                             ". \r\n"
                             ".\r\n"
                             "QUIT\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    CHECK_STR(out_str(&t), "220 mx.test ESMTP mulegw\r\n"
                           "250-mx.test Hello client.test\r\n"
                           "250-SIZE 10485760\r\n"
                           "250-8BITMIME\r\n"
                           "250-DSN\r\n"
                           "250-MT-PRIORITY\r\n"
                           "250-DELIVERBY\r\n"
                           "250-BINARYMIME\r\n"
                           "250-CHUNKING\r\n"
                           "250-PIPELINING\r\n"
                           "250 ENHANCEDSTATUSCODES\r\n"
                           "250 2.1.0 Sender ok\r\n"
                           "250 2.1.5 Recipient ok\r\n"
                           "250 2.1.5 Recipient ok\r\n"
                           "354 End data with <CR><LF>.<CR><LF>\r\n"
                           "250 2.0.0 Ok: queued as Q1\r\n"
                           "221 2.0.0 mx.test Bye\r\n");
    static const char msg[] = "Subject: hi\r\n\r\n.leading dot\r\n..two\r\n\tx\r\na.\r\n \r\n";
    CHECK_MEM(t.msg.data, t.msg.len, msg, sizeof msg - 1);
    CHECK_STR(t.from, "ops@shore.test");
    CHECK_EQ(t.n_rcpts, 2);
    CHECK_EQ(t.last.size, 100);
    CHECK_EQ(t.last.body, SMTPGW_BODY_8BITMIME);
    CHECK(!t.last.chunking);
    CHECK(t.last.esmtp);
    CHECK_STR(t.last.helo, "client.test");
    CHECK_STR(t.last.peer, "192.0.2.1");
    CHECK_EQ(t.rcpt_notify[1], SMTPGW_NOTIFY_SUCCESS | SMTPGW_NOTIFY_FAILURE);
    /* the MULE payload carries the envelope and its parameters verbatim */
    static const char payload[] = "<ops@shore.test> SIZE=100 BODY=8BITMIME\r\n"
                                  "<alice@ship.test>\r\n"
                                  "<bob@ship.test> NOTIFY=SUCCESS,FAILURE\r\n"
                                  "\r\n"
                                  "Subject: hi\r\n\r\n.leading dot\r\n..two\r\n\tx\r\na.\r\n \r\n";
    CHECK_MEM(t.payload.data, t.payload.len, payload, sizeof payload - 1);
    tctx_free(&t);
}

TEST(empty_message_and_null_sender)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] = "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<Postmaster>\r\nDATA\r\n.\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    CHECK_CONTAINS(out_str(&t), "250 2.0.0 Ok: queued as Q1\r\n");
    CHECK_EQ(t.msg.len, 0);
    CHECK_STR(t.from, "");
    tctx_free(&t);
}

TEST(several_transactions_in_one_session)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] = "EHLO c\r\n"
                             "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\none\r\n.\r\n"
                             "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\ntwo\r\n.\r\n"
                             "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 5 LAST\r\nthree";
    CHECK(same_in_every_split(&lim, S(in), &t));
    CHECK_EQ(t.messages, 3);
    CHECK_CONTAINS(out_str(&t), "queued as Q3\r\n");
    CHECK_MEM(t.msg.data, t.msg.len, "three", 5);
    tctx_free(&t);
}

TEST(source_route_is_dropped)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] = "EHLO c\r\nMAIL FROM:<@r1.test,@r2.test:a@x.test>\r\n"
                             "RCPT TO: <@r1.test:\"q>t\"@y.test>\r\nDATA\r\n.\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    CHECK_EQ(t.messages, 1);
    CHECK_STR(t.from, "a@x.test");
    CHECK_CONTAINS((const char *)t.payload.data, "<\"q>t\"@y.test>\r\n");
    tctx_free(&t);
}

TEST(sequence_errors)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] = "RCPT TO:<b@y.test>\r\n"
                             "DATA\r\n"
                             "EHLO c\r\n"
                             "RCPT TO:<b@y.test>\r\n"
                             "DATA\r\n"
                             "MAIL FROM:<a@x.test>\r\n"
                             "MAIL FROM:<a@x.test>\r\n"
                             "DATA\r\n"
                             "RCPT TO:<b@y.test>\r\n"
                             "MAIL FROM:<a@x.test>\r\n"
                             "RSET\r\n"
                             "DATA\r\n"
                             "MAIL FROM:<a@x.test>\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    const char *o = out_str(&t);
    CHECK_EQ(count(o, "503 5.5.1 Send EHLO or HELO first\r\n"), 2);
    CHECK_EQ(count(o, "503 5.5.1 Bad sequence of commands\r\n"), 3);
    CHECK_EQ(count(o, "503 5.5.1 Nested MAIL command\r\n"), 2);
    CHECK_EQ(count(o, "554 5.5.1 No valid recipients\r\n"), 1);
    CHECK_EQ(count(o, "250 2.1.0 Sender ok\r\n"), 2);
    tctx_free(&t);
}

TEST(address_syntax)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] = "EHLO c\r\n"
                             "MAIL FROM:a@x.test\r\n"
                             "MAIL FROM:<a@x.test\r\n"
                             "MAIL FROM:<a@@x.test>\r\n"
                             "MAIL FROM:<a@x.test>SIZE=1\r\n"
                             "MAIL TO:<a@x.test>\r\n"
                             "MAIL FROM:<a@x.test>\r\n"
                             "RCPT TO:<>\r\n"
                             "RCPT TO:<b@-bad.test>\r\n"
                             "RCPT FROM:<b@y.test>\r\n"
                             "RCPT TO:<b@y.test> NOTIFY=NEVER junk=\r\n"
                             "RCPT TO:<b\xc3\xa9@y.test>\r\n"
                             "RCPT TO:<b@y.test>\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    const char *o = out_str(&t);
    CHECK_EQ(count(o, "501 5.1.7 Bad sender address syntax\r\n"), 4);
    CHECK_EQ(count(o, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"), 1);
    CHECK_EQ(count(o, "501 5.1.3 Bad recipient address syntax\r\n"), 2);
    CHECK_EQ(count(o, "501 5.5.4 Syntax: RCPT TO:<address>\r\n"), 1);
    CHECK_EQ(count(o, "501 5.5.4 Syntax error in RCPT parameters\r\n"), 1);
    CHECK_EQ(count(o, "553 5.6.7 Non-ASCII address needs SMTPUTF8\r\n"), 1);
    CHECK_EQ(count(o, "250 2.1.5 Recipient ok\r\n"), 1);
    tctx_free(&t);
}

/* ---- MAIL and RCPT parameters ----------------------------------------------------------- */

/* mail_reply - the reply to one MAIL command after EHLO (the last line) */
static void mail_reply(const struct smtpgw_limits *lim, const char *cmd, char *out, size_t cap,
                       struct tctx *t)
{
    tctx_init(t);
    struct smtpgw_session *s = open_session(t, lim);
    feed(s, "EHLO c\r\n");
    size_t before = t->out.len;
    feed(s, cmd);
    feed(s, "\r\n");
    const char *o = out_str(t) + before;
    snprintf(out, cap, "%s", o);
    char *crlf = strstr(out, "\r\n");
    if (crlf)
        *crlf = '\0';
    feed(s, "RCPT TO:<r@y.test>\r\nDATA\r\n.\r\n");
    smtpgw_session_free(s);
}

TEST(mail_parameters)
{
    static const struct {
        const char *cmd;
        const char *reply;
    } cases[] = {
        {"MAIL FROM:<a@x.test> SIZE=0", "250 2.1.0 Sender ok"},
        {"MAIL FROM:<a@x.test> size=10485760", "250 2.1.0 Sender ok"},
        {"MAIL FROM:<a@x.test> SIZE=10485761",
         "552 5.3.4 Message size exceeds fixed maximum message size (10485760)"},
        {"MAIL FROM:<a@x.test> SIZE=99999999999999999999999",
         "552 5.3.4 Message size exceeds fixed maximum message size (10485760)"},
        {"MAIL FROM:<a@x.test> SIZE=1k", "501 5.5.4 Malformed SIZE parameter"},
        {"MAIL FROM:<a@x.test> SIZE", "501 5.5.4 Malformed MAIL parameter SIZE"},
        {"MAIL FROM:<a@x.test> BODY=7BIT", "250 2.1.0 Sender ok"},
        {"MAIL FROM:<a@x.test> BODY=8bitmime", "250 2.1.0 Sender ok"},
        {"MAIL FROM:<a@x.test> BODY=BINARYMIME", "250 2.1.0 Sender ok"},
        {"MAIL FROM:<a@x.test> BODY=9BIT", "501 5.5.4 Unknown BODY type"},
        {"MAIL FROM:<a@x.test> RET=FULL", "250 2.1.0 Sender ok"},
        {"MAIL FROM:<a@x.test> RET=HDRS", "250 2.1.0 Sender ok"},
        {"MAIL FROM:<a@x.test> RET=ALL", "501 5.5.4 RET must be FULL or HDRS"},
        {"MAIL FROM:<a@x.test> ENVID=QQ314159+2B", "250 2.1.0 Sender ok"},
        {"MAIL FROM:<a@x.test> ENVID=bad+2",
         "501 5.5.4 Malformed ENVID (xtext, at most 100 characters)"},
        {"MAIL FROM:<a@x.test> ENVID=bad+zz",
         "501 5.5.4 Malformed ENVID (xtext, at most 100 characters)"},
        {"MAIL FROM:<a@x.test> ENVID=0123456789012345678901234567890123456789012345678901234567890"
         "12345678901234567890123456789012345678901",
         "501 5.5.4 Malformed ENVID (xtext, at most 100 characters)"},
        {"MAIL FROM:<a@x.test> MT-PRIORITY=-9", "250 2.1.0 Sender ok"},
        {"MAIL FROM:<a@x.test> MT-PRIORITY=9", "250 2.1.0 Sender ok"},
        {"MAIL FROM:<a@x.test> MT-PRIORITY=+3", "250 2.1.0 Sender ok"},
        {"MAIL FROM:<a@x.test> MT-PRIORITY=10",
         "501 5.5.4 MT-PRIORITY must be an integer from -9 to 9"},
        {"MAIL FROM:<a@x.test> MT-PRIORITY=-10",
         "501 5.5.4 MT-PRIORITY must be an integer from -9 to 9"},
        {"MAIL FROM:<a@x.test> MT-PRIORITY=x",
         "501 5.5.4 MT-PRIORITY must be an integer from -9 to 9"},
        {"MAIL FROM:<a@x.test> BY=3600;R", "250 2.1.0 Sender ok"},
        {"MAIL FROM:<a@x.test> BY=-60;NT", "250 2.1.0 Sender ok"},
        {"MAIL FROM:<a@x.test> BY=0;R", "501 5.5.4 Malformed BY parameter (RFC 2852)"},
        {"MAIL FROM:<a@x.test> BY=60;X", "501 5.5.4 Malformed BY parameter (RFC 2852)"},
        {"MAIL FROM:<a@x.test> BY=60", "501 5.5.4 Malformed BY parameter (RFC 2852)"},
        {"MAIL FROM:<a@x.test> BY=9999999999;R", "501 5.5.4 Malformed BY parameter (RFC 2852)"},
        {"MAIL FROM:<a@x.test> SMTPUTF8", "555 5.5.4 Unsupported MAIL parameter SMTPUTF8"},
        {"MAIL FROM:<a@x.test> AUTH=<>", "555 5.5.4 Unsupported MAIL parameter AUTH"},
        {"MAIL FROM:<a@x.test> SIZE=1 SIZE=2", "501 5.5.4 Duplicate MAIL parameter SIZE"},
        {"MAIL FROM:<a@x.test> =1", "501 5.5.4 Syntax error in MAIL parameters"},
        {"MAIL FROM:<a@x.test> SIZE=", "501 5.5.4 Syntax error in MAIL parameters"},
        {"MAIL FROM:<a@x.test> -X=1", "501 5.5.4 Syntax error in MAIL parameters"},
        {"MAIL FROM:<a@x.test> ENVID=a\xc3\xa9", "501 5.5.4 Syntax error in MAIL parameters"},
        {"MAIL FROM:<\xc3\xa9@x.test>", "553 5.6.7 Non-ASCII address needs SMTPUTF8"},
        {"MAIL FROM:<a@x.test>   SIZE=5    BODY=7BIT  ", "250 2.1.0 Sender ok"},
    };
    struct smtpgw_limits lim = lim_test();
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct tctx t;
        char got[300];
        mail_reply(&lim, cases[i].cmd, got, sizeof got, &t);
        if (strcmp(got, cases[i].reply) != 0) {
            printf("# %s\n#   got      %s\n#   expected %s\n", cases[i].cmd, got, cases[i].reply);
            harness_current_failed = 1;
        }
        tctx_free(&t);
    }
}

TEST(mail_parameters_are_parsed_and_carried)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] =
        "EHLO c\r\n"
        "MAIL FROM:<a@x.test>  MT-PRIORITY=-4 BY=120;RT RET=HDRS ENVID=id+2B1  SIZE=12\r\n"
        "RCPT TO:<b@y.test> ORCPT=rfc822;b+40y.test NOTIFY=NEVER\r\n"
        "RCPT TO:<c@y.test> NOTIFY=delay\r\n"
        "DATA\r\nbody\r\n.\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    CHECK_EQ(t.messages, 1);
    CHECK(t.last.has_mt_priority);
    CHECK_EQ(t.last.mt_priority, -4);
    CHECK(t.last.by.present);
    CHECK_EQ(t.last.by.by, 120);
    CHECK_EQ(t.last.by.mode, 'R');
    CHECK(t.last.by.trace);
    CHECK_EQ(t.last.ret, SMTPGW_RET_HDRS);
    CHECK(t.last.has_envid);
    CHECK_STR(t.last.envid, "id+1");
    CHECK_EQ(t.last.size, 12);
    CHECK_EQ(t.rcpt_notify[0], SMTPGW_NOTIFY_NEVER);
    CHECK_STR(t.rcpt_orcpt[0], "rfc822;b+40y.test");
    CHECK_STR(t.rcpt_params[0], "ORCPT=rfc822;b+40y.test NOTIFY=NEVER");
    CHECK_EQ(t.rcpt_notify[1], SMTPGW_NOTIFY_DELAY);
    CHECK_STR(t.rcpt_orcpt[1], "");
    static const char payload[] =
        "<a@x.test> MT-PRIORITY=-4 BY=120;RT RET=HDRS ENVID=id+2B1 SIZE=12\r\n"
        "<b@y.test> ORCPT=rfc822;b+40y.test NOTIFY=NEVER\r\n"
        "<c@y.test> NOTIFY=delay\r\n"
        "\r\n"
        "body\r\n";
    CHECK_MEM(t.payload.data, t.payload.len, payload, sizeof payload - 1);
    /* and mule reads the priority and the deadline back from it */
    struct mule_envelope env;
    CHECK(mule_payload_parse(t.payload.data, t.payload.len, 0, &env) > 0);
    int x = 0;
    CHECK_EQ(mule_mt_priority(env.from_params, &x), 0);
    CHECK_EQ(x, -4);
    mule_envelope_free(&env);
    tctx_free(&t);
}

TEST(rcpt_parameters)
{
    static const struct {
        const char *params;
        const char *reply;
    } cases[] = {
        {"NOTIFY=NEVER", "250 2.1.5 Recipient ok"},
        {"NOTIFY=SUCCESS", "250 2.1.5 Recipient ok"},
        {"NOTIFY=failure,DELAY,success", "250 2.1.5 Recipient ok"},
        {"NOTIFY=NEVER,SUCCESS",
         "501 5.5.4 NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY"},
        {"NOTIFY=SUCCESS,SUCCESS",
         "501 5.5.4 NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY"},
        {"NOTIFY=SUCCESS,", "501 5.5.4 NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY"},
        {"NOTIFY=ALWAYS", "501 5.5.4 NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY"},
        {"NOTIFY", "501 5.5.4 NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY"},
        {"ORCPT=rfc822;bob+40y.test", "250 2.1.5 Recipient ok"},
        {"ORCPT=utf-8;bob@y.test", "250 2.1.5 Recipient ok"},
        {"ORCPT=rfc822", "501 5.5.4 Malformed ORCPT (addr-type;xtext)"},
        {"ORCPT=;bob", "501 5.5.4 Malformed ORCPT (addr-type;xtext)"},
        {"ORCPT=rfc822;", "501 5.5.4 Malformed ORCPT (addr-type;xtext)"},
        {"ORCPT=rfc822;a+4", "501 5.5.4 Malformed ORCPT (addr-type;xtext)"},
        {"ORCPT=rfc822;a NOTIFY=NEVER ORCPT=rfc822;b", "501 5.5.4 Duplicate RCPT parameter ORCPT"},
        {"NOTIFY=NEVER NOTIFY=NEVER", "501 5.5.4 Duplicate RCPT parameter NOTIFY"},
        {"FOO=1", "555 5.5.4 Unsupported RCPT parameter FOO"},
        {"SIZE=1", "555 5.5.4 Unsupported RCPT parameter SIZE"},
    };
    struct smtpgw_limits lim = lim_test();
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct tctx t;
        tctx_init(&t);
        struct smtpgw_session *s = open_session(&t, &lim);
        feed(s, "EHLO c\r\nMAIL FROM:<a@x.test>\r\n");
        size_t before = t.out.len;
        char cmd[300];
        snprintf(cmd, sizeof cmd, "RCPT TO:<b@y.test> %s\r\n", cases[i].params);
        feed(s, cmd);
        char got[300];
        snprintf(got, sizeof got, "%s", out_str(&t) + before);
        char *crlf = strstr(got, "\r\n");
        if (crlf)
            *crlf = '\0';
        if (strcmp(got, cases[i].reply) != 0) {
            printf("# %s\n#   got      %s\n#   expected %s\n", cmd, got, cases[i].reply);
            harness_current_failed = 1;
        }
        smtpgw_session_free(s);
        tctx_free(&t);
    }
}

TEST(smtputf8_when_enabled)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    lim.smtputf8 = true;
    static const char in[] = "EHLO c\r\n"
                             "MAIL FROM:<\xc3\xa9t\xc3\xa9@x.test>\r\n"
                             "MAIL FROM:<\xc3\xa9t\xc3\xa9@x.test> SMTPUTF8=yes\r\n"
                             "MAIL FROM:<\xc3\xa9t\xc3\xa9@x.test> SMTPUTF8 ENVID=\xc3\xa9\r\n"
                             "MAIL FROM:<\xc3\xa9t\xc3\xa9@x.test> SMTPUTF8\r\n"
                             "RCPT TO:<j\xc3\xbcrgen@y.test>\r\n"
                             "DATA\r\n.\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    const char *o = out_str(&t);
    CHECK_CONTAINS(o, "553 5.6.7 Non-ASCII address needs SMTPUTF8\r\n");
    CHECK_CONTAINS(o, "501 5.5.4 Malformed MAIL parameter SMTPUTF8\r\n");
    CHECK_CONTAINS(o, "501 5.5.4 Malformed ENVID (xtext, at most 100 characters)\r\n");
    CHECK_EQ(t.messages, 1);
    CHECK(t.last.smtputf8);
    /* the trace field says UTF8SMTP (RFC 6531 4.3) */
    struct util_buf rb;
    util_buf_init(&rb, 0);
    CHECK_EQ(smtpgw_txn_received(&t.last, "gw.test", "Q1", 0, &rb), 0);
    util_buf_append(&rb, "", 1);
    CHECK_CONTAINS((const char *)rb.data, " with UTF8SMTP id Q1");
    util_buf_free(&rb);
    tctx_free(&t);
}

/* ---- DATA: line ends, dot-stuffing, limits ----------------------------------------------- */

TEST(bare_lf_in_a_command_is_refused)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] = "EHLO c\nNOOP\r\n\nQUIT\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    const char *o = out_str(&t);
    CHECK_EQ(count(o, "500 5.5.2 Syntax error: bare LF, lines end with CRLF (RFC 5321 2.3.8)\r\n"),
             3);
    CHECK_CONTAINS(o, "250 2.0.0 Ok\r\n");
    CHECK(!strstr(o, "221"));
    tctx_free(&t);
}

TEST(bare_lf_never_ends_data_smuggling_fails)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    /* "\n.\n" and "\n.\r\n" and "\r\n.\n" are not the end of the data: the
     * MAIL inside is message text, and the message is refused at the real end */
    static const char in[] = "EHLO c\r\n"
                             "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
                             "Subject: one\r\n\r\nbody\n.\n"
                             "MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@y.test>\r\nDATA\r\n"
                             "smuggled\n.\r\n"
                             "more\r\n.\n"
                             "end\r\n.\r\n"
                             "NOOP\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    static const char tail[] = "354 End data with <CR><LF>.<CR><LF>\r\n"
                               "554 5.6.0 Message contains a bare CR or LF (RFC 5321 2.3.8)\r\n"
                               "250 2.0.0 Ok\r\n";
    CHECK_STR(out_str(&t) + strlen(out_str(&t)) - (sizeof tail - 1), tail);
    CHECK_EQ(count(out_str(&t), "250 2.1.0"), 1);
    CHECK_EQ(count(out_str(&t), "354 "), 1);
    CHECK_EQ(t.messages, 0);
    tctx_free(&t);
}

TEST(bare_cr_in_data_is_refused)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
                             "a\rb\r\n.\r\n"
                             "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
                             ".\r.\r\n.\r\n"
                             "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
                             "x\r\r\n.\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    CHECK_EQ(count(out_str(&t), "554 5.6.0 Message contains a bare CR or LF (RFC 5321 2.3.8)\r\n"),
             3);
    CHECK_EQ(t.messages, 0);
    tctx_free(&t);
}

TEST(long_command_line_is_refused_and_resynced)
{
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_limits lim = lim_test();
    struct smtpgw_session *s = open_session(&t, &lim);
    size_t mem0 = smtpgw_session_memory(s);
    feed(s, "EHLO c\r\n");
    static char big[10240];
    memset(big, 'A', sizeof big);
    for (int i = 0; i < 50; i++) {
        smtpgw_session_input(s, 2000, "NOOP ", 5);
        smtpgw_session_input(s, 2000, big, sizeof big);
        CHECK(smtpgw_session_memory(s) <= mem0);
        smtpgw_session_input(s, 2000, "\r\n", 2);
        if (i == 10)
            feed(s, "NOOP\r\n");
    }
    const char *o = out_str(&t);
    CHECK_EQ(count(o, "500 5.5.2 Line too long (at most 2048 octets)\r\n"), 20);
    CHECK_CONTAINS(o, "250 2.0.0 Ok\r\n");
    CHECK_CONTAINS(o, "421 4.7.0 mx.test Too many errors, closing connection\r\n");
    CHECK_EQ(t.closed, 1);
    smtpgw_session_free(s);
    tctx_free(&t);

    /* a line of exactly max_cmd_line octets (CRLF included) is fine; one more is not */
    char line[4200];
    memset(line, ' ', sizeof line);
    memcpy(line, "NOOP", 4);
    memcpy(line + 2046, "\r\n", 2);
    memcpy(line + 2048, "NOOP", 4);
    memcpy(line + 2048 + 2047, "\r\n", 2);
    CHECK(same_in_every_split(&lim, line, 2048 + 2049, &t));
    CHECK_STR(out_str(&t), "220 mx.test ESMTP mulegw\r\n250 2.0.0 Ok\r\n"
                           "500 5.5.2 Line too long (at most 2048 octets)\r\n");
    tctx_free(&t);
}

TEST(long_data_line_refuses_the_message)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static char in[20000];
    size_t n = 0;
    n +=
        (size_t)sprintf(in + n, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
    memset(in + n, 'x', 998);
    n += 998;
    n +=
        (size_t)sprintf(in + n, "\r\n.\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n.");
    memset(in + n, 'x', 998);
    n += 998;
    n += (size_t)sprintf(in + n, "\r\n.\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
    memset(in + n, 'y', 10240);
    n += 10240;
    n += (size_t)sprintf(in + n, "\r\n.\r\n");
    CHECK(same_in_every_split(&lim, in, n, &t));
    const char *o = out_str(&t);
    CHECK_EQ(count(o, "queued as"), 1);
    CHECK_EQ(count(o, "554 5.6.0 Message contains a line longer than 1000 octets\r\n"), 2);
    tctx_free(&t);

    lim.max_text_line = 0; /* no limit */
    CHECK(same_in_every_split(&lim, in, n, &t));
    CHECK_EQ(count(out_str(&t), "queued as"), 3);
    CHECK_EQ(t.msg.len, 10242);
    tctx_free(&t);
}

TEST(message_size_limit)
{
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_limits lim = lim_test();
    lim.max_message = 1000;
    struct smtpgw_session *s = open_session(&t, &lim);
    feed(s, "EHLO c\r\nMAIL FROM:<a@x.test> SIZE=1001\r\nMAIL FROM:<a@x.test> SIZE=1000\r\n"
            "RCPT TO:<b@y.test>\r\nDATA\r\n");
    size_t mem0 = smtpgw_session_memory(s);
    char line[100];
    memset(line, 'z', 98);
    memcpy(line + 98, "\r\n", 2);
    for (int i = 0; i < 10000; i++) {
        smtpgw_session_input(s, 2000, line, sizeof line);
        CHECK(smtpgw_session_memory(s) <= mem0 + 2048);
    }
    feed(s, ".\r\n");
    const char *o = out_str(&t);
    CHECK_CONTAINS(o, "552 5.3.4 Message size exceeds fixed maximum message size (1000)\r\n"
                      "250 2.1.0 Sender ok\r\n");
    CHECK(strstr(o, "354 End data with <CR><LF>.<CR><LF>\r\n"
                    "552 5.3.4 Message size exceeds fixed maximum message size (1000)\r\n"));
    CHECK_EQ(t.messages, 0);
    uint64_t acc, rej;
    smtpgw_session_counters(s, &acc, &rej);
    CHECK_EQ(acc, 0);
    CHECK_EQ(rej, 1);
    /* exactly the limit passes */
    feed(s, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
    for (int i = 0; i < 10; i++)
        smtpgw_session_input(s, 2000, line, sizeof line);
    feed(s, ".\r\n");
    CHECK_EQ(t.messages, 1);
    CHECK_EQ(t.msg.len, 1000);
    smtpgw_session_free(s);
    tctx_free(&t);
}

TEST(too_many_recipients)
{
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_limits lim = lim_test();
    struct smtpgw_session *s = open_session(&t, &lim);
    feed(s, "EHLO c\r\nMAIL FROM:<a@x.test>\r\n");
    size_t mem_max = 0;
    for (int i = 0; i < 5000; i++) {
        char cmd[80];
        snprintf(cmd, sizeof cmd, "RCPT TO:<user%d@y.test> NOTIFY=NEVER\r\n", i);
        feed(s, cmd);
        size_t m = smtpgw_session_memory(s);
        if (i == 99)
            mem_max = m;
        if (i > 99)
            CHECK(m <= mem_max);
    }
    feed(s, "RCPT TO:<user5@y.test>\r\nDATA\r\nhi\r\n.\r\n");
    const char *o = out_str(&t);
    CHECK_EQ(count(o, "250 2.1.5 Recipient ok\r\n"), 100);
    CHECK_EQ(count(o, "452 4.5.3 Too many recipients\r\n"), 4900);
    CHECK_EQ(count(o, "250 2.1.5 Recipient ok (duplicate)\r\n"), 1);
    CHECK_EQ(t.messages, 1);
    CHECK_EQ(t.n_rcpts, 100);
    CHECK_EQ(t.closed, 0);
    smtpgw_session_free(s);
    tctx_free(&t);

    lim.max_rcpts = 2;
    static const char in[] = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<1@y.test>\r\n"
                             "RCPT TO:<2@y.test>\r\nRCPT TO:<3@y.test>\r\nDATA\r\n.\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    CHECK_EQ(count(out_str(&t), "452 4.5.3 Too many recipients\r\n"), 1);
    CHECK_EQ(t.n_rcpts, 2);
    tctx_free(&t);
}

TEST(idle_timeout)
{
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_limits lim = lim_test();
    struct smtpgw_session *s = open_session(&t, &lim);
    CHECK_EQ(smtpgw_session_next_expiry(s), 1000 + 300000);
    feed(s, "EHLO c\r\n"); /* at 2000 */
    CHECK_EQ(smtpgw_session_next_expiry(s), 2000 + 300000);
    smtpgw_session_expire(s, 301999);
    CHECK_EQ(t.closed, 0);
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_HELO);
    smtpgw_session_expire(s, 302000);
    CHECK_EQ(t.closed, 1);
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_CLOSED);
    CHECK(strstr(out_str(&t), "421 4.4.2 mx.test Idle timeout, closing connection\r\n"));
    CHECK_EQ(smtpgw_session_next_expiry(s), UTIL_MS_NEVER);
    smtpgw_session_free(s);
    tctx_free(&t);
}

/* feed_at - a C string as one input at time now */
static int feed_at(struct smtpgw_session *s, util_ms now, const char *in)
{
    return smtpgw_session_input(s, now, in, strlen(in));
}

TEST(command_deadline_is_not_reset_by_each_byte)
{
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_limits lim = lim_test();
    lim.cmd_timeout = 10000;
    struct smtpgw_session *s = open_session(&t, &lim);
    CHECK_EQ(smtpgw_session_next_expiry(s), 1000 + 300000); /* waiting for a command: idle */
    feed_at(s, 2000, "EHLO c\r\n");
    CHECK_EQ(smtpgw_session_next_expiry(s), 2000 + 300000);
    /* a line completed in time resets it */
    feed_at(s, 3000, "NO");
    CHECK_EQ(smtpgw_session_next_expiry(s), 3000 + 10000);
    feed_at(s, 12999, "OP\r\n");
    CHECK_CONTAINS(out_str(&t), "250 2.0.0 Ok\r\n");
    CHECK_EQ(smtpgw_session_next_expiry(s), 12999 + 300000);
    /* one byte a second: the deadline stays 10 s after the first */
    feed_at(s, 20000, "N");
    for (util_ms now = 21000; now < 30000; now += 1000) {
        feed_at(s, now, "x");
        CHECK_EQ(smtpgw_session_next_expiry(s), 20000 + 10000);
    }
    smtpgw_session_expire(s, 29999);
    CHECK_EQ(t.closed, 0);
    smtpgw_session_expire(s, 30000);
    CHECK_EQ(t.closed, 1);
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_CLOSED);
    CHECK(strstr(out_str(&t), "421 4.4.2 mx.test Command timeout, closing connection\r\n"));
    CHECK_EQ(smtpgw_session_next_expiry(s), UTIL_MS_NEVER);
    smtpgw_session_free(s);
    tctx_free(&t);
}

TEST(over_long_line_keeps_its_command_deadline)
{
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_limits lim = lim_test();
    lim.max_cmd_line = 64;
    lim.cmd_timeout = 10000;
    struct smtpgw_session *s = open_session(&t, &lim);
    char big[101];
    memset(big, 'A', 100);
    big[100] = '\0';
    feed_at(s, 2000, big); /* discarded as it comes */
    CHECK_EQ(smtpgw_session_next_expiry(s), 12000);
    feed_at(s, 8000, big);
    CHECK_EQ(smtpgw_session_next_expiry(s), 12000);
    feed_at(s, 9000, "\r\n");
    CHECK_CONTAINS(out_str(&t), "500 5.5.2 Line too long");
    CHECK_EQ(smtpgw_session_next_expiry(s), 9000 + 300000);
    feed_at(s, 9500, big);
    smtpgw_session_expire(s, 19500);
    CHECK_EQ(t.closed, 1);
    smtpgw_session_free(s);
    tctx_free(&t);
}

TEST(data_transfer_keeps_the_floor_rate)
{
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_limits lim = lim_test();
    lim.cmd_timeout = 10000;
    lim.data_timeout = 10000;
    lim.min_data_rate = 100; /* 10 ms per byte */
    struct smtpgw_session *s = open_session(&t, &lim);
    feed_at(s, 2000, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_DATA);
    CHECK_EQ(smtpgw_session_next_expiry(s), 2000 + 10000);
    /* one byte a second: each adds 10 ms, not a new idle period */
    for (util_ms now = 3000; now <= 12000; now += 1000)
        feed_at(s, now, "y");
    CHECK_EQ(smtpgw_session_next_expiry(s), 2000 + 10000 + 10 * 10);
    smtpgw_session_expire(s, 12099);
    CHECK_EQ(t.closed, 0);
    smtpgw_session_expire(s, 12100);
    CHECK_EQ(t.closed, 1);
    CHECK_EQ(t.messages, 0);
    CHECK(strstr(out_str(&t), "421 4.4.2 mx.test Data transfer too slow, closing connection\r\n"));
    smtpgw_session_free(s);
    tctx_free(&t);

    /* a client above the floor rate: 5000 octets at once buy it 50 s */
    tctx_init(&t);
    s = open_session(&t, &lim);
    feed_at(s, 2000, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
    char body[5001];
    for (int i = 0; i < 100; i++)
        memcpy(body + 50 * i, "012345678901234567890123456789012345678901234567\r\n", 50);
    body[5000] = '\0';
    feed_at(s, 2500, body);
    CHECK_EQ(smtpgw_session_next_expiry(s), 2000 + 10000 + 50000);
    smtpgw_session_expire(s, 61999);
    CHECK_EQ(t.closed, 0);
    feed_at(s, 61999, ".\r\n");
    CHECK_CONTAINS(out_str(&t), "250 2.0.0 Ok: queued as Q1\r\n");
    CHECK_EQ(t.msg.len, 5000);
    CHECK_EQ(smtpgw_session_next_expiry(s), 61999 + 300000); /* the transfer is over */
    smtpgw_session_free(s);
    tctx_free(&t);
}

TEST(bdat_transfer_keeps_the_floor_rate)
{
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_limits lim = lim_test();
    lim.cmd_timeout = 10000;
    lim.data_timeout = 10000;
    lim.min_data_rate = 100;
    struct smtpgw_session *s = open_session(&t, &lim);
    feed_at(s, 2000, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 100\r\n");
    CHECK_EQ(smtpgw_session_next_expiry(s), 2000 + 10000);
    feed_at(s, 3000, "01234567890123456789");
    CHECK_EQ(smtpgw_session_next_expiry(s), 2000 + 10000 + 200);
    feed_at(s, 5000,
            "01234567890123456789012345678901234567890123456789012345678901234567890123456789");
    CHECK_CONTAINS(out_str(&t), "250 2.0.0 100 octets received\r\n");
    /* between chunks the transfer's deadline goes on */
    CHECK_EQ(smtpgw_session_next_expiry(s), 2000 + 10000 + 1000);
    feed_at(s, 6000, "BDAT 5 LAST\r\nhello");
    CHECK_CONTAINS(out_str(&t), "250 2.0.0 Ok: queued as Q1\r\n");
    CHECK_EQ(smtpgw_session_next_expiry(s), 6000 + 300000);
    /* a chunk that is refused is read all the same: the same deadline */
    feed_at(s, 7000, "RSET\r\nBDAT 100000\r\n"); /* no transaction: 503 once it is read */
    CHECK_EQ(smtpgw_session_next_expiry(s), 7000 + 10000);
    for (util_ms now = 8000; now < 17000; now += 1000)
        feed_at(s, now, "z");
    smtpgw_session_expire(s, 17089);
    CHECK_EQ(t.closed, 0);
    smtpgw_session_expire(s, 17090);
    CHECK_EQ(t.closed, 1);
    CHECK(strstr(out_str(&t), "421 4.4.2 mx.test Data transfer too slow, closing connection\r\n"));
    CHECK(!strstr(out_str(&t), "503 "));
    smtpgw_session_free(s);
    tctx_free(&t);
}

TEST(deadlines_of_zero_are_off)
{
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_limits lim = lim_test();
    lim.cmd_timeout = 0;
    lim.min_data_rate = 0;
    struct smtpgw_session *s = open_session(&t, &lim);
    feed_at(s, 2000, "EHLO c\r\nNO");
    CHECK_EQ(smtpgw_session_next_expiry(s), 2000 + 300000);
    feed_at(s, 3000, "OP\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nx");
    CHECK_EQ(smtpgw_session_next_expiry(s), 3000 + 300000);
    smtpgw_session_free(s);
    tctx_free(&t);
}

TEST(too_many_bad_commands)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    lim.max_bad_commands = 3;
    static const char in[] = "EHLO c\r\nFOO\r\n\r\nBAR\r\nNOOP\r\nNOOP\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    CHECK_STR(strstr(out_str(&t), "500 5.5.1 Command unrecognized\r\n"),
              "500 5.5.1 Command unrecognized\r\n"
              "500 5.5.2 Syntax error: empty command\r\n"
              "500 5.5.1 Command unrecognized\r\n"
              "421 4.7.0 mx.test Too many errors, closing connection\r\n");
    CHECK_EQ(t.closed, 1);
    tctx_free(&t);
}

TEST(pipelined_garbage_is_bounded)
{
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_limits lim = lim_test();
    struct smtpgw_session *s = open_session(&t, &lim);
    size_t mem0 = smtpgw_session_memory(s);
    struct util_rng rng;
    util_rng_seed(&rng, 42);
    uint8_t junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)util_rng_next(&rng);
    for (int i = 0; i < 100 && smtpgw_session_state(s) != SMTPGW_ST_CLOSED; i++)
        smtpgw_session_input(s, 2000, junk, sizeof junk);
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_CLOSED);
    CHECK(smtpgw_session_memory(s) <= mem0);
    CHECK(t.out.len < 4096);
    smtpgw_session_free(s);
    tctx_free(&t);
}

/* ---- PIPELINING ---------------------------------------------------------------------------- */

TEST(pipelining_keeps_the_order)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
                             "RCPT TO:<c@deny.test>\r\nRCPT TO:<d@y.test>\r\nDATA\r\nx\r\n.\r\n"
                             "RSET\r\nNOOP\r\nQUIT\r\n";
    tctx_init(&t);
    t.deny_domain = "deny.test";
    t.deny_text = "5.7.1 Relaying denied";
    run(&t, &lim, S(in), 0);
    CHECK_STR(strstr(out_str(&t), "250 2.1.0"), "250 2.1.0 Sender ok\r\n"
                                                "250 2.1.5 Recipient ok\r\n"
                                                "550 5.7.1 Relaying denied\r\n"
                                                "250 2.1.5 Recipient ok\r\n"
                                                "354 End data with <CR><LF>.<CR><LF>\r\n"
                                                "250 2.0.0 Ok: queued as Q1\r\n"
                                                "250 2.0.0 Ok\r\n"
                                                "250 2.0.0 Ok\r\n"
                                                "221 2.0.0 mx.test Bye\r\n");
    CHECK_EQ(t.n_rcpts, 2);
    tctx_free(&t);
}

/* ---- answers after a group commit (SMTPGW_MESSAGE_PENDING) ---------------------------------- */

TEST(pending_message_is_answered_later_and_pipelined_input_waits)
{
    struct tctx t;
    tctx_init(&t);
    t.defer = true;
    struct smtpgw_limits lim = lim_test();
    struct smtpgw_session *s = open_session(&t, &lim);
    /* a pipelining client sends two transactions at once */
    feed(s, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\none\r\n.\r\n"
            "MAIL FROM:<c@x.test>\r\nRCPT TO:<d@y.test>\r\nDATA\r\ntwo\r\n.\r\nNOOP\r\n");
    CHECK(smtpgw_session_waiting(s));
    CHECK_EQ(t.messages, 1);
    CHECK(strstr(out_str(&t), "354 ") != NULL);
    CHECK(strstr(out_str(&t), "250 2.0.0 Ok: queued") == NULL); /* nothing before the commit */
    CHECK(strstr(out_str(&t), "Sender ok\r\n250 2.1.5 Recipient ok\r\n354") != NULL);
    CHECK_EQ(smtpgw_session_next_expiry(s), UTIL_MS_NEVER); /* not idle: we owe the answer */
    size_t before = t.out.len;
    feed(s, "NOOP\r\n"); /* more while waiting: held, in order */
    CHECK_EQ(t.out.len, before);
    CHECK_EQ(smtpgw_session_message_done(s, 3000, 0, "AAA1", NULL), 0);
    /* the 250, then the held second transaction up to its own commit */
    CHECK_STR(out_str(&t) + before, "250 2.0.0 Ok: queued as AAA1\r\n"
                                    "250 2.1.0 Sender ok\r\n"
                                    "250 2.1.5 Recipient ok\r\n"
                                    "354 End data with <CR><LF>.<CR><LF>\r\n");
    CHECK(smtpgw_session_waiting(s));
    CHECK_EQ(t.messages, 2);
    CHECK_STR(t.from, "c@x.test");
    before = t.out.len;
    CHECK_EQ(smtpgw_session_message_done(s, 3000, 451, NULL, "4.3.0 Could not store"), 0);
    CHECK_STR(out_str(&t) + before, "451 4.3.0 Could not store\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n");
    CHECK(!smtpgw_session_waiting(s));
    CHECK_EQ(smtpgw_session_next_expiry(s), 3000 + 300000);
    CHECK_EQ(smtpgw_session_message_done(s, 3000, 0, "X", NULL), UTIL_ERR_INVAL); /* nothing waits */
    uint64_t acc, rej;
    smtpgw_session_counters(s, &acc, &rej);
    CHECK_EQ(acc, 1);
    CHECK_EQ(rej, 1);
    smtpgw_session_free(s);
    tctx_free(&t);
}

TEST(pending_message_bounds_held_input_and_survives_the_client_leaving)
{
    struct tctx t;
    tctx_init(&t);
    t.defer = true;
    struct smtpgw_limits lim = lim_test();
    struct smtpgw_session *s = open_session(&t, &lim);
    feed(s, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 3 LAST\r\nabc");
    CHECK(smtpgw_session_waiting(s));
    /* a client that floods while it waits is cut off, not buffered without end */
    char junk[4096];
    memset(junk, 'N', sizeof junk);
    int rc = 0;
    for (int i = 0; i < 200 && rc == 0; i++)
        rc = smtpgw_session_input(s, 2000, junk, sizeof junk);
    CHECK_EQ(rc, SMTPGW_ERR_CLOSED);
    CHECK(smtpgw_session_memory(s) < 600u * 1024);
    CHECK(strstr(out_str(&t), "421 4.7.0") != NULL);
    CHECK_EQ(smtpgw_session_message_done(s, 3000, 0, "Q", NULL), SMTPGW_ERR_CLOSED);
    smtpgw_session_free(s);
    /* the same flood in the very read that ends the message */
    s = open_session(&t, &lim);
    static const char head[] = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\n";
    size_t big = sizeof head - 1 + 300u * 1024;
    char *flood = malloc(big);
    CHECK(flood != NULL);
    if (flood) {
        memcpy(flood, head, sizeof head - 1);
        memset(flood + sizeof head - 1, 'N', big - (sizeof head - 1));
        smtpgw_session_input(s, 2000, flood, big);
        free(flood);
    }
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_CLOSED);
    CHECK(smtpgw_session_memory(s) < 600u * 1024);
    smtpgw_session_free(s);
    /* the client goes away while its message is committed (no QUIT): the
     * answer says so and the session ends */
    s = open_session(&t, &lim);
    feed(s, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\n");
    CHECK(smtpgw_session_waiting(s));
    int closed = t.closed;
    smtpgw_session_eof(s, 2500);
    CHECK_EQ(smtpgw_session_message_done(s, 3000, 0, "Q", NULL), SMTPGW_ERR_CLOSED);
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_CLOSED);
    CHECK_EQ(t.closed, closed); /* as for any EOF: no close callback */
    smtpgw_session_free(s);
    tctx_free(&t);
}

/* Postfix's SMTP client pipelines QUIT behind the final dot, in the same
 * segment, and then waits for the 250 before it calls the message sent.
 * The QUIT is held (not executed) until the message is answered; then
 * the 250 and the 221 go out in that order, and answering the message is
 * a success: the client did not leave before its 250. */
TEST(pending_message_with_pipelined_quit_gets_250_then_221)
{
    static const char head[] = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n";
    static const char tail[] = "Subject: t\r\n\r\nbody\r\n.\r\nQUIT\r\n";
    static const char want[] = "250 2.0.0 Ok: queued as Q1\r\n221 2.0.0 mx.test Bye\r\n";
    struct smtpgw_limits lim = lim_test();
    struct tctx t;
    tctx_init(&t);
    t.defer = true;
    struct smtpgw_session *s = open_session(&t, &lim);
    feed(s, head);
    CHECK(strstr(out_str(&t), "354 ") != NULL);
    size_t before = t.out.len;
    CHECK_EQ(smtpgw_session_input(s, 2000, S(tail)), 0); /* dot and QUIT in one read */
    CHECK(smtpgw_session_waiting(s));
    CHECK_EQ(t.messages, 1);
    CHECK_EQ(t.out.len, before); /* neither the 250 nor the 221 before the commit */
    CHECK_EQ(t.closed, 0);
    CHECK(smtpgw_session_state(s) != SMTPGW_ST_CLOSED); /* QUIT not executed yet */
    CHECK_EQ(smtpgw_session_message_done(s, 3000, 0, "Q1", NULL), 0);
    CHECK_STR(out_str(&t) + before, want);
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_CLOSED);
    CHECK_EQ(t.closed, 1);
    uint64_t acc, rej;
    smtpgw_session_counters(s, &acc, &rej);
    CHECK_EQ(acc, 1);
    CHECK_EQ(rej, 0);
    smtpgw_session_free(s);
    tctx_free(&t);

    /* the same however the tail is cut: QUIT in the read of the dot or after it */
    for (size_t cut = 1; cut < sizeof tail - 1; cut++) {
        tctx_init(&t);
        t.defer = true;
        s = open_session(&t, &lim);
        feed(s, head);
        before = t.out.len;
        smtpgw_session_input(s, 2000, tail, cut);
        smtpgw_session_input(s, 2000, tail + cut, sizeof tail - 1 - cut);
        CHECK(smtpgw_session_waiting(s));
        CHECK_EQ(t.out.len, before);
        CHECK_EQ(smtpgw_session_message_done(s, 3000, 0, "Q1", NULL), 0);
        CHECK_STR(out_str(&t) + before, want);
        CHECK_EQ(t.closed, 1);
        smtpgw_session_free(s);
        tctx_free(&t);
    }

    /* a refusal is answered before the QUIT too */
    tctx_init(&t);
    t.defer = true;
    s = open_session(&t, &lim);
    feed(s, head);
    before = t.out.len;
    feed(s, tail);
    CHECK_EQ(smtpgw_session_message_done(s, 3000, 451, NULL, "4.3.0 Could not store"), 0);
    CHECK_STR(out_str(&t) + before, "451 4.3.0 Could not store\r\n221 2.0.0 mx.test Bye\r\n");
    smtpgw_session_free(s);
    tctx_free(&t);
}

/* The client's input ends (EOF: a half-close or a close) while its
 * message waits.  With QUIT sent first it still gets its 250 and the 221
 * (the glue writes them if the socket takes them); without QUIT it has
 * gone, and answering says so. */
TEST(pending_message_and_the_end_of_the_client_input)
{
    static const char head[] = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n";
    struct smtpgw_limits lim = lim_test();
    struct tctx t;
    /* QUIT, then shutdown(SHUT_WR) */
    tctx_init(&t);
    t.defer = true;
    struct smtpgw_session *s = open_session(&t, &lim);
    feed(s, head);
    size_t before = t.out.len;
    feed(s, "x\r\n.\r\nQUIT\r\n");
    smtpgw_session_eof(s, 2500);
    CHECK(smtpgw_session_waiting(s));
    CHECK_EQ(t.out.len, before);
    CHECK_EQ(smtpgw_session_message_done(s, 3000, 0, "Q1", NULL), 0);
    CHECK_STR(out_str(&t) + before, "250 2.0.0 Ok: queued as Q1\r\n221 2.0.0 mx.test Bye\r\n");
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_CLOSED);
    CHECK_EQ(t.closed, 1);
    smtpgw_session_free(s);
    tctx_free(&t);

    /* no QUIT: the client has gone (the 250 may not reach it) */
    tctx_init(&t);
    t.defer = true;
    s = open_session(&t, &lim);
    feed(s, head);
    feed(s, "x\r\n.\r\nNOOP\r\n");
    smtpgw_session_eof(s, 2500);
    CHECK_EQ(smtpgw_session_message_done(s, 3000, 0, "Q1", NULL), SMTPGW_ERR_CLOSED);
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_CLOSED);
    CHECK(!smtpgw_session_waiting(s));
    CHECK_EQ(smtpgw_session_next_expiry(s), UTIL_MS_NEVER);
    CHECK_EQ(smtpgw_session_input(s, 3000, S("QUIT\r\n")), SMTPGW_ERR_CLOSED);
    CHECK(strstr(out_str(&t), "221 ") == NULL);
    smtpgw_session_free(s);
    tctx_free(&t);

    /* no QUIT, a pipelined second message: each answer says the client has gone */
    tctx_init(&t);
    t.defer = true;
    s = open_session(&t, &lim);
    feed(s, head);
    feed(s, "x\r\n.\r\nMAIL FROM:<c@x.test>\r\nRCPT TO:<d@y.test>\r\nDATA\r\ny\r\n.\r\n");
    smtpgw_session_eof(s, 2500);
    CHECK_EQ(smtpgw_session_message_done(s, 3000, 0, "Q1", NULL), SMTPGW_ERR_CLOSED);
    CHECK(smtpgw_session_waiting(s)); /* the second message, read before the end, waits */
    CHECK_EQ(t.messages, 2);
    CHECK_EQ(smtpgw_session_message_done(s, 3000, 0, "Q2", NULL), SMTPGW_ERR_CLOSED);
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_CLOSED);
    smtpgw_session_free(s);
    tctx_free(&t);

    /* the same with QUIT behind the second message: both answers reach it */
    tctx_init(&t);
    t.defer = true;
    s = open_session(&t, &lim);
    feed(s, head);
    before = t.out.len;
    feed(s, "x\r\n.\r\nMAIL FROM:<c@x.test>\r\nRCPT TO:<d@y.test>\r\nDATA\r\ny\r\n.\r\nQUIT\r\n");
    smtpgw_session_eof(s, 2500);
    CHECK_EQ(smtpgw_session_message_done(s, 3000, 0, "Q1", NULL), 0);
    CHECK(smtpgw_session_waiting(s));
    CHECK_EQ(smtpgw_session_message_done(s, 3000, 0, "Q2", NULL), 0);
    CHECK_STR(out_str(&t) + before, "250 2.0.0 Ok: queued as Q1\r\n"
                                    "250 2.1.0 Sender ok\r\n"
                                    "250 2.1.5 Recipient ok\r\n"
                                    "354 End data with <CR><LF>.<CR><LF>\r\n"
                                    "250 2.0.0 Ok: queued as Q2\r\n"
                                    "221 2.0.0 mx.test Bye\r\n");
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_CLOSED);
    smtpgw_session_free(s);
    tctx_free(&t);
}

/* ---- BDAT (RFC 3030) --------------------------------------------------------------------------
 */

TEST(bdat_chunks_and_last)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
                             "BDAT 7\r\nhello\r\n"
                             "BDAT 0\r\n"
                             "bdat 8 last\r\n.\r\nworld"
                             "NOOP\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    CHECK_STR(strstr(out_str(&t), "250 2.1.5"), "250 2.1.5 Recipient ok\r\n"
                                                "250 2.0.0 7 octets received\r\n"
                                                "250 2.0.0 0 octets received\r\n"
                                                "250 2.0.0 Ok: queued as Q1\r\n"
                                                "250 2.0.0 Ok\r\n");
    CHECK_MEM(t.msg.data, t.msg.len, "hello\r\n.\r\nworld", 15);
    CHECK(t.last.chunking);
    tctx_free(&t);
}

TEST(bdat_binarymime)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] =
        "EHLO c\r\nMAIL FROM:<a@x.test> BODY=BINARYMIME\r\nRCPT TO:<b@y.test>\r\n"
        "DATA\r\n"
        "BDAT 9 LAST\r\n\0\n.\n\r\xff\r\n."
        "MAIL FROM:<a@x.test> BODY=BINARYMIME\r\nRCPT TO:<b@y.test>\r\n"
        "BDAT 0 LAST\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    const char *o = out_str(&t);
    CHECK_CONTAINS(o, "503 5.5.1 BODY=BINARYMIME requires BDAT\r\n250 2.0.0 Ok: queued as Q1\r\n");
    CHECK_CONTAINS(o, "250 2.0.0 Ok: queued as Q2\r\n");
    CHECK_EQ(t.messages, 2);
    CHECK_EQ(t.last.body, SMTPGW_BODY_BINARYMIME);
    CHECK_EQ(t.msg.len, 0);
    tctx_free(&t);
    /* the binary chunk arrived intact */
    tctx_init(&t);
    run(&t, &lim, in,
        sizeof in - 1 -
            strlen("MAIL FROM:<a@x.test> BODY=BINARYMIME\r\nRCPT TO:<b@y.test>\r\n"
                   "BDAT 0 LAST\r\n"),
        0);
    CHECK_MEM(t.msg.data, t.msg.len, "\0\n.\n\r\xff\r\n.", 9);
    CHECK_STR(t.from, "a@x.test");
    tctx_free(&t);
}

TEST(bdat_errors_consume_the_chunk)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    lim.max_message = 10;
    static const char in[] = "BDAT 4\r\nQUIT" /* before EHLO: consumed, 503 */
                             "EHLO c\r\n"
                             "BDAT 6 LAST\r\nRSET\r\n" /* no transaction */
                             "MAIL FROM:<a@x.test>\r\n"
                             "BDAT 4\r\nQUIT" /* no recipients: 554, reset */
                             "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
                             "BDAT 8\r\n12345678"
                             "BDAT 8 LAST\r\n12345678" /* 16 > 10: 552, reset */
                             "BDAT 1 LAST\r\nX"        /* no transaction any more */
                             "BDAT x\r\n"
                             "BDAT 1 FIRST\r\n"
                             "BDAT\r\n"
                             "BDAT 99999999999999999999\r\n"
                             "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
                             "BDAT 2\r\nok"
                             "DATA\r\n" /* not after BDAT */
                             "MAIL FROM:<a@x.test>\r\n"
                             "RCPT TO:<b@y.test>\r\n"
                             "BDAT 1 LAST\r\n!";
    CHECK(same_in_every_split(&lim, S(in), &t));
    CHECK_STR(out_str(&t), "220 mx.test ESMTP mulegw\r\n"
                           "503 5.5.1 BDAT needs EHLO\r\n"
                           "250-mx.test Hello c\r\n"
                           "250-SIZE 10\r\n"
                           "250-8BITMIME\r\n"
                           "250-DSN\r\n"
                           "250-MT-PRIORITY\r\n"
                           "250-DELIVERBY\r\n"
                           "250-BINARYMIME\r\n"
                           "250-CHUNKING\r\n"
                           "250-PIPELINING\r\n"
                           "250 ENHANCEDSTATUSCODES\r\n"
                           "503 5.5.1 No transaction: MAIL first\r\n"
                           "250 2.1.0 Sender ok\r\n"
                           "554 5.5.1 No valid recipients\r\n"
                           "250 2.1.0 Sender ok\r\n"
                           "250 2.1.5 Recipient ok\r\n"
                           "250 2.0.0 8 octets received\r\n"
                           "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
                           "503 5.5.1 No transaction: MAIL first\r\n"
                           "501 5.5.4 Syntax: BDAT size [LAST]\r\n"
                           "501 5.5.4 Syntax: BDAT size [LAST]\r\n"
                           "501 5.5.4 Syntax: BDAT size [LAST]\r\n"
                           "501 5.5.4 BDAT chunk size too large\r\n"
                           "250 2.1.0 Sender ok\r\n"
                           "250 2.1.5 Recipient ok\r\n"
                           "250 2.0.0 2 octets received\r\n"
                           "503 5.5.1 Only BDAT, RSET, NOOP or QUIT after BDAT\r\n"
                           "503 5.5.1 Only BDAT, RSET, NOOP or QUIT after BDAT\r\n"
                           "503 5.5.1 Only BDAT, RSET, NOOP or QUIT after BDAT\r\n"
                           "250 2.0.0 Ok: queued as Q1\r\n");
    CHECK_MEM(t.msg.data, t.msg.len, "ok!", 3);
    tctx_free(&t);
}

TEST(client_vanishing_mid_bdat)
{
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_limits lim = lim_test();
    struct smtpgw_session *s = open_session(&t, &lim);
    feed(s, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nBDAT 1000000 LAST\r\n");
    size_t mem0 = smtpgw_session_memory(s);
    feed(s, "only part of it");
    CHECK(smtpgw_session_memory(s) < mem0 + 4096); /* no up-front allocation of the chunk */
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_BDAT);
    smtpgw_session_eof(s, 3000);
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_CLOSED);
    CHECK_EQ(t.messages, 0);
    CHECK_EQ(t.closed, 0);
    CHECK_EQ(smtpgw_session_input(s, 3000, "x", 1), SMTPGW_ERR_CLOSED);
    smtpgw_session_free(s);
    tctx_free(&t);
}

/* ---- user decisions ------------------------------------------------------------------------- */

TEST(user_callbacks_decide)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@deny.test>\r\n"
                             "RCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\n";
    /* a refusal with its own text, with a text lacking the enhanced code, without text */
    const char *texts[] = {"5.1.2 Unroutable", "no such domain", ""};
    const char *want[] = {"550 5.1.2 Unroutable\r\n", "550 5.7.1 no such domain\r\n",
                          "550 5.7.1 Recipient refused\r\n"};
    for (int i = 0; i < 3; i++) {
        tctx_init(&t);
        t.deny_domain = "deny.test";
        t.deny_text = texts[i];
        run(&t, &lim, S(in), 0);
        CHECK_CONTAINS(out_str(&t), want[i]);
        CHECK_EQ(t.messages, 1);
        tctx_free(&t);
    }
    /* a temporary refusal; a code that is not an error becomes 451 */
    tctx_init(&t);
    t.deny_domain = "deny.test";
    t.deny_code = 450;
    run(&t, &lim, S(in), 0);
    CHECK_CONTAINS(out_str(&t), "450 4.0.0 Recipient temporarily refused\r\n");
    tctx_free(&t);
    tctx_init(&t);
    t.deny_domain = "deny.test";
    t.deny_code = 250;
    t.deny_text = "2.0.0 fine";
    run(&t, &lim, S(in), 0);
    CHECK_CONTAINS(out_str(&t), "451 4.0.0 Recipient temporarily refused\r\n");
    tctx_free(&t);
    /* mail_check */
    tctx_init(&t);
    t.mail_rc = 553;
    run(&t, &lim, S(in), 0);
    CHECK_CONTAINS(out_str(&t),
                   "553 5.7.1 Sender blocked\r\n503 5.5.1 Bad sequence of commands\r\n");
    CHECK_EQ(t.messages, 0);
    tctx_free(&t);
    /* the spool fails: a code with text, a negative error, a text without a code */
    tctx_init(&t);
    t.message_rc = 452;
    t.message_text = "4.3.1 Spool full";
    run(&t, &lim, S(in), 0);
    CHECK_CONTAINS(out_str(&t), "452 4.3.1 Spool full\r\n");
    tctx_free(&t);
    tctx_init(&t);
    t.message_rc = UTIL_ERR_IO;
    run(&t, &lim, S(in), 0);
    CHECK_CONTAINS(out_str(&t), "451 4.3.0 Message not queued, try again later\r\n");
    tctx_free(&t);
    tctx_init(&t);
    t.message_rc = 554;
    t.message_text = "virus found";
    run(&t, &lim, S(in), 0);
    CHECK_CONTAINS(out_str(&t), "554 5.3.0 virus found\r\n");
    tctx_free(&t);
}

TEST(relay_check_by_routes)
{
    struct mule_routes r;
    mule_routes_init(&r);
    CHECK_EQ(mule_routes_add(&r, "ship.example.mil", 0x0a000002, 0), 0);
    CHECK_EQ(mule_routes_add(&r, "*.fleet.example.mil", 0x0a000003, 0), 0);
    CHECK_EQ(mule_routes_add_local(&r, "hq.example.mil"), 0);
    CHECK_EQ(mule_routes_add(&r, "hq.example.mil", 0x0a000001, 0), 0);
    char text[200];
    CHECK_EQ(smtpgw_relay_check(&r, "a@ship.example.mil", text, sizeof text), 0);
    CHECK_EQ(smtpgw_relay_check(&r, "a@Ship.Example.MIL", text, sizeof text), 0);
    CHECK_EQ(smtpgw_relay_check(&r, "a@one.fleet.example.mil", text, sizeof text), 0);
    CHECK_EQ(smtpgw_relay_check(&r, "a@gmail.example", text, sizeof text), 550);
    CHECK_STR(text, "5.7.1 Relaying denied: recipient domain is not routed over HF");
    CHECK_EQ(smtpgw_relay_check(&r, "Postmaster", text, sizeof text), 550);
    CHECK_EQ(smtpgw_relay_check(&r, "a@hq.example.mil", text, sizeof text), 550);
    CHECK_STR(text, "5.1.2 Recipient domain is local, not routed over HF");
    mule_routes_free(&r);
}

/* ---- refused clients, shutdown, trace, logs ---------------------------------------------------
 */

TEST(refused_client_is_disconnected_after_554)
{
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_limits lim = lim_test();
    struct smtpgw_session_config cfg = {"mx.test", lim};
    struct smtpgw_session *s = smtpgw_session_new(&cfg, &tcb, &t, "203.0.113.9", 1, 0);
    smtpgw_session_start(s, 0, true);
    /* not kept waiting for a QUIT: the session ends with its 554 */
    CHECK_STR(out_str(&t), "554 5.7.1 mx.test Access denied: client not in the allowed networks\r\n");
    CHECK_EQ(t.closed, 1);
    CHECK_EQ(smtpgw_session_state(s), SMTPGW_ST_CLOSED);
    CHECK_EQ(smtpgw_session_next_expiry(s), UTIL_MS_NEVER);
    CHECK_EQ(feed_at(s, 10, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nQUIT\r\n"), SMTPGW_ERR_CLOSED);
    CHECK_EQ(t.out.len, strlen("554 5.7.1 mx.test Access denied: client not in the allowed "
                               "networks\r\n"));
    CHECK_EQ(t.closed, 1);
    smtpgw_session_free(s);
    tctx_free(&t);
}

TEST(shutdown_says_421)
{
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_limits lim = lim_test();
    struct smtpgw_session *s = open_session(&t, &lim);
    feed(s, "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\npartial");
    smtpgw_session_shutdown(s, 5000);
    CHECK_CONTAINS(out_str(&t), "421 4.3.2 mx.test Service shutting down, closing connection\r\n");
    CHECK_EQ(t.closed, 1);
    CHECK_EQ(t.messages, 0);
    smtpgw_session_free(s);
    tctx_free(&t);
}

TEST(received_trace_field)
{
    struct smtpgw_txn txn;
    memset(&txn, 0, sizeof txn);
    snprintf(txn.peer, sizeof txn.peer, "192.0.2.1");
    snprintf(txn.helo, sizeof txn.helo, "mta.lan.test");
    txn.esmtp = true;
    char *addr = "bob@ship.test";
    struct smtpgw_rcpt r = {addr, "", 0, NULL};
    txn.rcpts = &r;
    txn.n_rcpts = 1;
    struct util_buf b;
    util_buf_init(&b, 0);
    CHECK_EQ(smtpgw_txn_received(&txn, "gw.test", "A1B2", 1493306220, &b), 0);
    util_buf_append(&b, "", 1);
    CHECK_STR((const char *)b.data, "Received: from mta.lan.test ([192.0.2.1])\r\n"
                                    "\tby gw.test (mulegw) with ESMTP id A1B2\r\n"
                                    "\tfor <bob@ship.test>;\r\n"
                                    "\tThu, 27 Apr 2017 15:17:00 +0000\r\n");
    util_buf_reset(&b);
    snprintf(txn.peer, sizeof txn.peer, "2001:db8::1");
    txn.esmtp = false;
    txn.n_rcpts = 2;
    CHECK_EQ(smtpgw_txn_received(&txn, "gw.test", NULL, 1493306220, &b), 0);
    util_buf_append(&b, "", 1);
    CHECK_STR((const char *)b.data, "Received: from mta.lan.test ([IPv6:2001:db8::1])\r\n"
                                    "\tby gw.test (mulegw) with SMTP;\r\n"
                                    "\tThu, 27 Apr 2017 15:17:00 +0000\r\n");
    util_buf_free(&b);
}

struct logcap {
    struct util_buf lines;
};

/* log_sink - keep every log line */
static void log_sink(void *user, enum util_log_level level, enum util_log_module module,
                     const char *line)
{
    (void)level;
    (void)module;
    struct logcap *c = user;
    util_buf_append_str(&c->lines, line);
    util_buf_append(&c->lines, "\n", 1);
}

TEST(state_changes_and_events_are_logged)
{
    struct logcap cap;
    util_buf_init(&cap.lines, 0);
    util_log_to_sink(log_sink, &cap);
    enum util_log_level old = util_log_get_level();
    util_log_set_level(UTIL_LOG_DEBUG);
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    static const char in[] = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
                             "DATA\r\nx\n\r\n.\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\n"
                             "DATA\r\ny\r\n.\r\nQUIT\r\n";
    tctx_init(&t);
    run(&t, &lim, S(in), 0);
    util_log_set_level(old);
    util_log_to_stderr();
    util_buf_append(&cap.lines, "", 1);
    const char *l = (const char *)cap.lines.data;
    CHECK_CONTAINS(l, "smtpgw smtpd-connect session=7 peer=192.0.2.1\n");
    CHECK_CONTAINS(l, "smtpgw smtpd-state session=7 peer=192.0.2.1 from=init to=helo\n");
    CHECK_CONTAINS(l, "smtpgw smtpd-state session=7 peer=192.0.2.1 from=helo to=mail\n");
    CHECK_CONTAINS(l, "smtpgw smtpd-state session=7 peer=192.0.2.1 from=mail to=rcpt\n");
    CHECK_CONTAINS(l, "smtpgw smtpd-state session=7 peer=192.0.2.1 from=rcpt to=data\n");
    CHECK_CONTAINS(l, "smtpgw smtpd-state session=7 peer=192.0.2.1 from=data to=helo\n");
    CHECK_CONTAINS(l, "smtpgw smtpd-bad-input session=7 peer=192.0.2.1 what=bare-cr-lf-in-data\n");
    CHECK_CONTAINS(l, "smtpgw smtpd-message-rejected session=7 peer=192.0.2.1 from=<a@x.test> "
                      "rcpts=1 size=4 reason=bare-cr-lf\n");
    CHECK_CONTAINS(l, "smtpgw smtpd-queued session=7 peer=192.0.2.1 qid=Q1 from=<a@x.test> "
                      "rcpts=1 size=3 body=data\n");
    CHECK_CONTAINS(l, "smtpgw smtpd-close session=7 peer=192.0.2.1 state=helo reason=quit\n");
    CHECK_EQ(count(l, "smtpd-state"), 10);
    tctx_free(&t);
    util_buf_free(&cap.lines);
}

TEST(a_clients_lines_are_rate_limited_across_its_sessions)
{
    struct logcap cap;
    util_buf_init(&cap.lines, 0);
    util_log_to_sink(log_sink, &cap);
    enum util_log_level old = util_log_get_level();
    util_log_set_level(UTIL_LOG_INFO);
    struct util_ratelimit rl[SMTPGW_LOG_KINDS];
    memset(rl, 0, sizeof rl);
    struct smtpgw_limits lim = lim_test();
    lim.idle_timeout = 1000;
    struct smtpgw_session_config cfg = {"mx.test", lim};
    /* eight sessions of one client time out, and seven are refused, within a minute */
    for (int i = 0; i < 8; i++) {
        struct tctx t;
        tctx_init(&t);
        struct smtpgw_session *s = smtpgw_session_new(&cfg, &tcb, &t, "192.0.2.66", 10 + i, 1000);
        smtpgw_session_set_log_limits(s, rl);
        smtpgw_session_start(s, 1000, false);
        feed_at(s, 1500, "EHLO c\r\n");
        smtpgw_session_expire(s, 2500);
        CHECK_EQ(t.closed, 1); /* every one ends, logged or not */
        smtpgw_session_free(s);
        tctx_free(&t);
    }
    for (int i = 0; i < 7; i++) {
        struct tctx t;
        tctx_init(&t);
        struct smtpgw_session *s = smtpgw_session_new(&cfg, &tcb, &t, "192.0.2.66", 20 + i, 3000);
        smtpgw_session_set_log_limits(s, rl);
        smtpgw_session_start(s, 3000, true);
        CHECK_EQ(t.closed, 1);
        smtpgw_session_free(s);
        tctx_free(&t);
    }
    /* a minute later: logged again, with the count of what was held back */
    struct tctx t;
    tctx_init(&t);
    struct smtpgw_session *s = smtpgw_session_new(&cfg, &tcb, &t, "192.0.2.66", 30, 70000);
    smtpgw_session_set_log_limits(s, rl);
    smtpgw_session_start(s, 70000, false);
    smtpgw_session_expire(s, 71000);
    smtpgw_session_free(s);
    tctx_free(&t);
    tctx_init(&t);
    s = smtpgw_session_new(&cfg, &tcb, &t, "192.0.2.66", 31, 70000);
    smtpgw_session_set_log_limits(s, rl);
    smtpgw_session_start(s, 70000, true);
    smtpgw_session_free(s);
    tctx_free(&t);
    util_log_set_level(old);
    util_log_to_stderr();
    util_buf_append(&cap.lines, "", 1);
    const char *l = (const char *)cap.lines.data;
    CHECK_EQ(count(l, "smtpd-timeout"), SMTPGW_LOG_BURST + 1);
    CHECK_CONTAINS(l, "smtpgw smtpd-timeout session=10 peer=192.0.2.66 state=helo what=idle\n");
    CHECK_CONTAINS(l, "smtpgw smtpd-timeout session=30 peer=192.0.2.66 state=init what=idle "
                      "suppressed=3\n");
    CHECK_EQ(count(l, "smtpd-refused"), SMTPGW_LOG_BURST + 1);
    CHECK_CONTAINS(l, "smtpgw smtpd-refused session=20 peer=192.0.2.66\n");
    CHECK_CONTAINS(l, "smtpgw smtpd-refused session=31 peer=192.0.2.66 suppressed=2\n");
    CHECK_EQ(count(l, "smtpd-close session=2"), 0); /* the refused line says it all */
    util_buf_free(&cap.lines);
}

/* ---- one long script in every split --------------------------------------------------------- */

TEST(everything_in_random_splits)
{
    struct tctx t;
    struct smtpgw_limits lim = lim_test();
    lim.max_rcpts = 3;
    lim.max_message = 200;
    static const char in[] =
        "HELP\r\nEHLO a.test\r\nHELO b.test\r\nEHLO c.test\r\n"
        "MAIL FROM:<x@y.test> SIZE=50 BODY=8BITMIME RET=FULL ENVID=e1 MT-PRIORITY=2 BY=60;N\r\n"
        "RCPT TO:<a@b.test> NOTIFY=SUCCESS ORCPT=rfc822;a+40b.test\r\n"
        "RCPT TO:<c@d.test>\r\nRCPT TO:<e@f.test>\r\nRCPT TO:<g@h.test>\r\n"
        "DATA\r\n.hidden\r\n..\r\n\r\n.\r\n"
        "VRFY x\r\nNOOP\r\n"
        "MAIL FROM:<> BODY=BINARYMIME\r\nRCPT TO:<p@q.test>\r\n"
        "BDAT 3\r\n\r\n.BDAT 2 LAST\r\n\r\n"
        "MAIL FROM:<big@y.test>\r\nRCPT TO:<p@q.test>\r\nDATA\r\n"
        "0123456789012345678901234567890123456789012345678901234567890123456789\r\n"
        "0123456789012345678901234567890123456789012345678901234567890123456789\r\n"
        "0123456789012345678901234567890123456789012345678901234567890123456789\r\n"
        ".\r\n"
        "RSET\r\nQUIT\r\n";
    CHECK(same_in_every_split(&lim, S(in), &t));
    const char *o = out_str(&t);
    CHECK_EQ(count(o, "queued as"), 2);
    CHECK_EQ(count(o, "552 5.3.4"), 1);
    CHECK_EQ(count(o, "452 4.5.3"), 1);
    CHECK_MEM(t.msg.data, t.msg.len, "\r\n.\r\n", 5);
    CHECK_EQ(t.closed, 1);
    tctx_free(&t);
}

/* main - run every case */
int main(void)
{
    util_log_set_level(UTIL_LOG_ERR);
    RUN(greets_with_hostname);
    RUN(ehlo_advertises_every_extension);
    RUN(helo_has_no_extensions_and_no_parameters);
    RUN(ehlo_needs_a_domain);
    RUN(simple_commands);
    RUN(quit_closes_and_ignores_the_rest);
    RUN(data_transaction_delivers_the_unstuffed_message);
    RUN(empty_message_and_null_sender);
    RUN(several_transactions_in_one_session);
    RUN(source_route_is_dropped);
    RUN(sequence_errors);
    RUN(address_syntax);
    RUN(mail_parameters);
    RUN(mail_parameters_are_parsed_and_carried);
    RUN(rcpt_parameters);
    RUN(smtputf8_when_enabled);
    RUN(bare_lf_in_a_command_is_refused);
    RUN(bare_lf_never_ends_data_smuggling_fails);
    RUN(bare_cr_in_data_is_refused);
    RUN(long_command_line_is_refused_and_resynced);
    RUN(long_data_line_refuses_the_message);
    RUN(message_size_limit);
    RUN(too_many_recipients);
    RUN(idle_timeout);
    RUN(command_deadline_is_not_reset_by_each_byte);
    RUN(over_long_line_keeps_its_command_deadline);
    RUN(data_transfer_keeps_the_floor_rate);
    RUN(bdat_transfer_keeps_the_floor_rate);
    RUN(deadlines_of_zero_are_off);
    RUN(too_many_bad_commands);
    RUN(pipelined_garbage_is_bounded);
    RUN(pipelining_keeps_the_order);
    RUN(pending_message_is_answered_later_and_pipelined_input_waits);
    RUN(pending_message_bounds_held_input_and_survives_the_client_leaving);
    RUN(pending_message_with_pipelined_quit_gets_250_then_221);
    RUN(pending_message_and_the_end_of_the_client_input);
    RUN(bdat_chunks_and_last);
    RUN(bdat_binarymime);
    RUN(bdat_errors_consume_the_chunk);
    RUN(client_vanishing_mid_bdat);
    RUN(user_callbacks_decide);
    RUN(relay_check_by_routes);
    RUN(refused_client_is_disconnected_after_554);
    RUN(shutdown_says_421);
    RUN(received_trace_field);
    RUN(state_changes_and_events_are_logged);
    RUN(a_clients_lines_are_rate_limited_across_its_sessions);
    RUN(everything_in_random_splits);
    return harness_done();
}
