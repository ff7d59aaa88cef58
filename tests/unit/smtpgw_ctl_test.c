/* smtpgw_ctl_test.c - the control channel's engine (smtp-gw/control.c,
 * smtpgw_ctl_handle) with a fake gateway (smtpgw_ctl_fake.h): every verb in
 * text and JSON, the reply framing of control.c's protocol comment, bad
 * requests, hostile strings in JSON (RFC 8259 section 7) and on a terminal,
 * the reply size limit, the JSON string helper, the util logger's
 * log_level and the [control] settings.
 */
#include "harness.h"
#include "json_check.h"
#include "smtpgw_ctl_fake.h"

/* CHECK_PREFIX - s starts with the literal p */
#define CHECK_PREFIX(s, p) CHECK(strncmp((s), (p), strlen(p)) == 0)

/* The reply of one request, NUL-terminated, and the handler's result. */
struct rep {
    struct util_buf b;
    int rc;
    const char *s;    /* the whole reply */
    const char *body; /* after the first line */
};

/* ask - run one request against f with a reply limit (0: none) */
static void ask_limit(struct rep *r, struct fake *f, const char *line, size_t limit)
{
    util_buf_init(&r->b, limit);
    r->rc = smtpgw_ctl_handle(&fake_ops, f, line, &r->b);
    util_buf_append(&r->b, "", 1); /* may fail at the limit: then checked by length */
    r->s = r->b.data ? (const char *)r->b.data : "";
    const char *nl = strchr(r->s, '\n');
    r->body = nl ? nl + 1 : "";
}

/* ask - run one request against f */
static void ask(struct rep *r, struct fake *f, const char *line)
{
    ask_limit(r, f, line, 0);
}

/* done - release a reply */
static void done(struct rep *r)
{
    util_buf_free(&r->b);
}

/* framed - the reply is `ok\n` + body or one `error <text>\n` line */
static bool framed(const struct rep *r)
{
    size_t n = strlen(r->s);
    if (n == 0 || r->s[n - 1] != '\n')
        return false;
    if (strncmp(r->s, "ok\n", 3) == 0)
        return r->rc >= 0;
    return strncmp(r->s, "error ", 6) == 0 && strchr(r->s, '\n') == r->s + n - 1 && r->rc < 0;
}

/* terminal_safe - no control byte but newline, no ESC, DEL or C1 in the reply */
static bool terminal_safe(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
            return false;
        if (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0)
            return false;
    }
    return true;
}

/* json_body_ok - an ok reply whose body is one JSON document and a newline */
static bool json_body_ok(const struct rep *r)
{
    size_t n = strlen(r->body);
    return strncmp(r->s, "ok\n", 3) == 0 && n > 1 && r->body[n - 1] == '\n' &&
           json_valid(r->body, n - 1);
}

TEST(status_text)
{
    struct fake f;
    fake_init(&f);
    struct rep r;
    ask(&r, &f, "status");
    CHECK_EQ(r.rc, 0);
    CHECK(framed(&r));
    CHECK_PREFIX(r.s, "ok\nversion:      0.1.0-test\n");
    CHECK_CONTAINS(r.body, "\nnode:         10.0.0.1\n");
    CHECK_CONTAINS(r.body, "started:      2023-11-14 20:10:16 UTC (2h03m ago)\n");
    CHECK_CONTAINS(r.body, "link:         bound\n");
    CHECK_CONTAINS(r.body, "server:       127.0.0.1:5066\n");
    CHECK_CONTAINS(r.body, "sap:          2\nmtu:          2048\nflow:         on\n");
    CHECK_CONTAINS(r.body, "availability: available\nemcon:        off\n");
    CHECK_CONTAINS(r.body, "last error:   none\n");
    CHECK_CONTAINS(r.body, "outgoing:     2\nincoming:     1\nheld:         1\ndeliveries:   1\n");
    CHECK_CONTAINS(r.body, "log level:    info\n");
    CHECK_CONTAINS(r.body, "\nNODE            NAME           PENDING  LAST-ACK          EMCON\n");
    CHECK_CONTAINS(r.body, "10.0.0.2        bravo                2  3m12s ago         no\n");
    CHECK_CONTAINS(r.body, "10.0.0.3        charlie              1  never             yes\n");
    CHECK_CONTAINS(r.body, "10.0.0.4        d\\x1b[2Jelta         0  1d01h ago         no\n");
    CHECK(terminal_safe(r.s));
    CHECK_EQ(f.status_calls, 1);
    CHECK_EQ(f.status_done_calls, 1);
    done(&r);
}

TEST(status_json)
{
    struct fake f;
    fake_init(&f);
    snprintf(f.last_error, sizeof f.last_error, "bind \"rejected\"\t3");
    struct rep r;
    ask(&r, &f, "status --json");
    CHECK_EQ(r.rc, 0);
    CHECK(framed(&r));
    CHECK(json_body_ok(&r));
    CHECK_PREFIX(r.body, "{\"version\":\"0.1.0-test\",\"node\":\"10.0.0.1\",\"now\":1700000000,"
                         "\"started\":1699992616,\"bearer\":\"sis\"");
    CHECK_CONTAINS(r.body, "\"sap\":2,\"mtu\":2048,\"flow_on\":true,\"availability\":\"available\","
                           "\"emcon\":false,\"last_error\":\"bind \\\"rejected\\\"\\t3\"");
    CHECK_CONTAINS(r.body, "\"outgoing\":2,\"incoming\":1,\"held\":1,\"deliveries\":1,"
                           "\"log_level\":\"info\",\"nodes\":[");
    CHECK_CONTAINS(r.body, "{\"node\":\"10.0.0.2\",\"node_id\":167772162,\"name\":\"bravo\","
                           "\"pending\":2,\"last_ack\":1699999808,\"emcon\":false}");
    CHECK_CONTAINS(r.body, "\"name\":\"d\\u001b[2Jelta\"");
    CHECK_EQ(f.status_done_calls, 1);
    done(&r);
}

TEST(status_without_nodes_and_strings)
{
    struct fake f;
    fake_init(&f);
    f.n_nodes = 0;
    struct smtpgw_ctl_ops ops = fake_ops;
    struct rep r;
    ask(&r, &f, "status");
    CHECK_CONTAINS(r.body, "nodes:        none\n");
    done(&r);
    /* a status that leaves every string NULL */
    ops.status = NULL;
    util_buf_init(&r.b, 0);
    r.rc = smtpgw_ctl_handle(&ops, &f, "status", &r.b);
    CHECK_EQ(r.rc, SMTPGW_ERR_CTL_UNSUPPORTED);
    util_buf_free(&r.b);
}

/* status_empty - ops->status that fills nothing */
static int status_empty(void *user, struct smtpgw_ctl_status *st)
{
    (void)user;
    (void)st;
    return 0;
}

TEST(status_null_strings)
{
    struct smtpgw_ctl_ops ops = {.status = status_empty};
    struct util_buf b;
    util_buf_init(&b, 0);
    CHECK_EQ(smtpgw_ctl_handle(&ops, NULL, "status --json", &b), 0);
    util_buf_append(&b, "", 1);
    const char *s = (const char *)b.data;
    CHECK(json_valid(s + 3, strlen(s + 3)));
    CHECK_CONTAINS(s, "\"version\":\"\",\"node\":\"\",\"now\":0,\"started\":0");
    util_buf_reset(&b);
    CHECK_EQ(smtpgw_ctl_handle(&ops, NULL, "status", &b), 0);
    util_buf_append(&b, "", 1);
    CHECK_CONTAINS((const char *)b.data, "started:      -\n");
    util_buf_free(&b);
}

TEST(queue_text)
{
    struct fake f;
    fake_init(&f);
    struct rep r;
    ask(&r, &f, "queue");
    CHECK_EQ(r.rc, 0);
    CHECK(framed(&r));
    CHECK(terminal_safe(r.s));
    CHECK_PREFIX(r.body, "QUEUE-ID          SIZE  AGE      PRIO  SENDER\n");
    CHECK_CONTAINS(r.body, "\n5F3A1B2C0001      4211  3m12s       2  <alice@alpha.example>\n"
                           "  (outgoing)\n"
                           "  -> 10.0.0.2 (bravo) acked msgid=17\n"
                           "  -> 10.0.0.3 (charlie) open msgid=17\n"
                           "     bob@bravo.example\n"
                           "     carol@charlie.example\n\n");
    CHECK_CONTAINS(r.body, "5F3A1B2C0002      1000  2h03m       6  <>\n"
                           "  (incoming, 3 attempts, next in 4m10s)\n"
                           "     alice@alpha.example\n\n");
    /* held: "!" after the queue id; hostile bytes escaped */
    CHECK_CONTAINS(r.body, "5F3A1B2C0003!   100000  5s          0  <ev\"il\\x5cx\\x01\\x1b[31m"
                           "\\x7f\\xff\\xfe\\xc0\\xaf\\xed\\xa0\\x80@x.example>\n"
                           "  (outgoing, held)\n"
                           "  -> 10.0.0.2 (bravo) failed\n"
                           "     j\xc3\xb6rg@bravo.example\n"
                           "     line\\x0abreak\xe2\x80\xa8@x\n\n");
    CHECK_CONTAINS(r.body, "\n-- 3 messages, 103 kbytes\n");
    done(&r);
}

TEST(queue_json)
{
    struct fake f;
    fake_init(&f);
    struct rep r;
    ask(&r, &f, "queue --json");
    CHECK_EQ(r.rc, 0);
    CHECK(json_body_ok(&r));
    CHECK_PREFIX(r.body, "{\"messages\":[{\"qid\":\"5F3A1B2C0001\",\"queue\":\"outgoing\","
                         "\"arrival\":1699999808,\"size\":4211,\"priority\":2,"
                         "\"from\":\"alice@alpha.example\",\"held\":false,\"attempts\":0,"
                         "\"next_attempt\":0,\"rcpts\":[\"bob@bravo.example\","
                         "\"carol@charlie.example\"],\"dests\":[{\"node\":\"10.0.0.2\","
                         "\"node_id\":167772162,\"name\":\"bravo\",\"state\":\"acked\","
                         "\"msgid\":17},");
    CHECK_CONTAINS(r.body, "\"from\":\"ev\\\"il\\\\x\\u0001\\u001b[31m\\u007f\\ufffd\\ufffd"
                           "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd@x.example\",\"held\":true");
    CHECK_CONTAINS(r.body, "\"rcpts\":[\"j\xc3\xb6rg@bravo.example\",\"line\\nbreak\\u2028@x\"]");
    CHECK_CONTAINS(r.body, "\"attempts\":3,\"next_attempt\":1700000250,\"rcpts\"");
    CHECK_CONTAINS(r.body, "\"dests\":[]}");
    done(&r);
}

TEST(queue_empty_and_now_unknown)
{
    struct fake f;
    fake_init(&f);
    f.n_msgs = 0;
    struct rep r;
    ask(&r, &f, "queue");
    CHECK_STR(r.s, "ok\nMail queue is empty\n");
    done(&r);
    ask(&r, &f, "queue --json");
    CHECK_STR(r.s, "ok\n{\"messages\":[]}\n");
    done(&r);
    /* without ops->now the ages are "-" and the next attempt absolute */
    fake_init(&f);
    struct smtpgw_ctl_ops ops = fake_ops;
    ops.now = NULL;
    struct util_buf b;
    util_buf_init(&b, 0);
    CHECK_EQ(smtpgw_ctl_handle(&ops, &f, "queue", &b), 0);
    util_buf_append(&b, "", 1);
    CHECK_CONTAINS((const char *)b.data, "5F3A1B2C0001      4211  -           2  <alice");
    CHECK_CONTAINS((const char *)b.data, "next 2023-11-14 22:17:30 UTC)");
    util_buf_free(&b);
}

TEST(one_message_singular)
{
    struct fake f;
    fake_init(&f);
    f.n_msgs = 1;
    f.msgs[0].size = 1;
    struct rep r;
    ask(&r, &f, "queue");
    CHECK_CONTAINS(r.body, "\n-- 1 message, 1 kbytes\n");
    done(&r);
}

TEST(retry)
{
    struct fake f;
    fake_init(&f);
    struct rep r;
    ask(&r, &f, "retry 5F3A1B2C0002");
    CHECK_STR(r.s, "ok\nretry: 1 message\n");
    CHECK_EQ(r.rc, 1);
    CHECK_EQ(f.msgs[1].retries, 1);
    done(&r);
    ask(&r, &f, "retry all");
    CHECK_STR(r.s, "ok\nretry: 3 messages\n");
    CHECK_EQ(r.rc, 3);
    done(&r);
    ask(&r, &f, "retry --json all");
    CHECK_STR(r.s, "ok\n{\"command\":\"retry\",\"id\":\"all\",\"count\":3}\n");
    CHECK(json_body_ok(&r));
    done(&r);
    ask(&r, &f, "retry 5F3A1B2C0009");
    CHECK_STR(r.s, "error retry 5F3A1B2C0009: no such message\n");
    CHECK_EQ(r.rc, SMTPGW_ERR_CTL_NOTFOUND);
    done(&r);
}

TEST(drop)
{
    struct fake f;
    fake_init(&f);
    struct rep r;
    ask(&r, &f, "drop 5F3A1B2C0001 --json");
    CHECK_STR(r.s, "ok\n{\"command\":\"drop\",\"id\":\"5F3A1B2C0001\",\"count\":1}\n");
    CHECK(f.msgs[0].dropped);
    done(&r);
    ask(&r, &f, "drop 5F3A1B2C0001");
    CHECK_STR(r.s, "error drop 5F3A1B2C0001: no such message\n");
    done(&r);
    ask(&r, &f, "drop all");
    CHECK_EQ(r.rc, SMTPGW_ERR_CTL_USAGE);
    CHECK_STR(r.s, "error drop: give one queue id ('all' is refused)\n");
    CHECK(!f.msgs[1].dropped);
    done(&r);
    ask(&r, &f, "queue");
    CHECK(!strstr(r.body, "5F3A1B2C0001"));
    CHECK_CONTAINS(r.body, "-- 2 messages");
    done(&r);
}

TEST(hold_and_release)
{
    struct fake f;
    fake_init(&f);
    struct rep r;
    ask(&r, &f, "hold 5F3A1B2C0001");
    CHECK_STR(r.s, "ok\nhold: 1 message\n");
    done(&r);
    ask(&r, &f, "queue");
    CHECK_CONTAINS(r.body, "\n5F3A1B2C0001!     4211");
    CHECK_CONTAINS(r.body, "  (outgoing, held)\n  -> 10.0.0.2 (bravo) acked");
    done(&r);
    ask(&r, &f, "hold all");
    CHECK_STR(r.s, "ok\nhold: 1 message\n"); /* only the one not yet held */
    done(&r);
    ask(&r, &f, "release all --json");
    CHECK_STR(r.s, "ok\n{\"command\":\"release\",\"id\":\"all\",\"count\":3}\n");
    done(&r);
    ask(&r, &f, "release 5F3A1B2C0001");
    CHECK_STR(r.s, "error release 5F3A1B2C0001: not possible in the message's state\n");
    CHECK_EQ(r.rc, SMTPGW_ERR_CTL_STATE);
    done(&r);
    ask(&r, &f, "hold 0123456789012345678901234567890123456789012345678901234567890123456789");
    CHECK_EQ(r.rc, SMTPGW_ERR_CTL_USAGE);
    CHECK_CONTAINS(r.s, "is not a queue id");
    done(&r);
}

TEST(emcon)
{
    struct fake f;
    fake_init(&f);
    struct rep r;
    ask(&r, &f, "emcon on");
    CHECK_STR(r.s, "ok\nemcon: on (local node)\n");
    CHECK(f.emcon_local);
    done(&r);
    ask(&r, &f, "emcon off --json");
    CHECK_STR(r.s, "ok\n{\"command\":\"emcon\",\"node\":null,\"emcon\":false}\n");
    CHECK(!f.emcon_local);
    done(&r);
    ask(&r, &f, "emcon bravo on");
    CHECK_STR(r.s, "ok\nemcon 10.0.0.2 (bravo): on\n");
    CHECK(f.nodes[0].emcon);
    done(&r);
    ask(&r, &f, "emcon 10.0.0.3 off");
    CHECK_STR(r.s, "ok\nemcon 10.0.0.3: off\n");
    CHECK(!f.nodes[1].emcon);
    done(&r);
    ask(&r, &f, "emcon --json charlie on");
    CHECK_STR(r.s, "ok\n{\"command\":\"emcon\",\"node\":\"10.0.0.3\",\"emcon\":true}\n");
    done(&r);
    /* a name nobody knows, an address the gateway does not know, 0.0.0.0 */
    ask(&r, &f, "emcon zulu on");
    CHECK_STR(r.s, "error emcon zulu: no such node\n");
    CHECK_EQ(r.rc, SMTPGW_ERR_CTL_NODE);
    done(&r);
    ask(&r, &f, "emcon 10.0.0.9 on");
    CHECK_STR(r.s, "error emcon 10.0.0.9: no such node\n");
    done(&r);
    ask(&r, &f, "emcon 0.0.0.0 on");
    CHECK_STR(r.s, "error emcon 0.0.0.0: no such node\n");
    done(&r);
    ask(&r, &f, "emcon 256.1.1.1 on"); /* not a quad: a name, unknown */
    CHECK_STR(r.s, "error emcon 256.1.1.1: no such node\n");
    done(&r);
    ask(&r, &f, "emcon bravo maybe");
    CHECK_EQ(r.rc, SMTPGW_ERR_CTL_USAGE);
    CHECK_CONTAINS(r.s, "'maybe' is not on or off; usage: emcon [NODE] on|off");
    done(&r);
    ask(&r, &f, "emcon");
    CHECK_STR(r.s, "error missing argument; usage: emcon [NODE] on|off\n");
    done(&r);
    ask(&r, &f, "emcon bravo on now");
    CHECK_STR(r.s, "error too many arguments; usage: emcon [NODE] on|off\n");
    done(&r);
}

TEST(log_level)
{
    struct fake f;
    fake_init(&f);
    struct rep r;
    ask(&r, &f, "log-level");
    CHECK_STR(r.s, "ok\nlevel: info\ntrace: none\n");
    done(&r);
    ask(&r, &f, "log-level warning");
    CHECK_STR(r.s, "ok\nlevel: warn\ntrace: none\n");
    CHECK_STR(f.level, "warn");
    done(&r);
    ask(&r, &f, "log-level trace s5066,pmul");
    CHECK_STR(r.s, "ok\nlevel: warn\ntrace: s5066,pmul\n");
    done(&r);
    ask(&r, &f, "log-level --json");
    CHECK_STR(
        r.s, "ok\n{\"command\":\"log-level\",\"level\":\"warn\",\"trace\":[\"s5066\",\"pmul\"]}\n");
    CHECK(json_body_ok(&r));
    done(&r);
    ask(&r, &f, "log-level trace none");
    CHECK_STR(r.s, "ok\nlevel: warn\ntrace: none\n");
    done(&r);
    ask(&r, &f, "log-level debug --json");
    CHECK_STR(r.s, "ok\n{\"command\":\"log-level\",\"level\":\"debug\",\"trace\":[]}\n");
    done(&r);
    ask(&r, &f, "log-level trace all");
    CHECK_STR(f.trace, "all");
    done(&r);
    static const char *const bad[] = {"log-level loud",        "log-level trace",
                                      "log-level debug pmul",  "log-level trace pmul,bogus",
                                      "log-level trace pmul,", "log-level trace ,pmul",
                                      "log-level a b c"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        ask(&r, &f, bad[i]);
        CHECK_EQ(r.rc, SMTPGW_ERR_CTL_USAGE);
        CHECK(framed(&r));
        done(&r);
    }
    CHECK_STR(f.level, "debug");
    CHECK_STR(f.trace, "all");
}

TEST(help)
{
    struct rep r;
    struct fake f;
    fake_init(&f);
    ask(&r, &f, "help");
    CHECK_EQ(r.rc, 0);
    CHECK(framed(&r));
    static const char *const verbs[] = {"status",
                                        "queue",
                                        "retry ID|all",
                                        "drop ID",
                                        "hold ID|all",
                                        "release ID|all",
                                        "emcon on|off",
                                        "emcon NODE on|off",
                                        "log-level trace MODULES"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(verbs); i++)
        CHECK_CONTAINS(r.body, verbs[i]);
    done(&r);
    ask(&r, &f, "help --json");
    CHECK(json_body_ok(&r));
    CHECK_PREFIX(r.body, "{\"commands\":[{\"usage\":\"status\",\"help\":");
    done(&r);
}

TEST(every_verb_json_is_valid)
{
    static const char *const reqs[] = {"status",
                                       "queue",
                                       "help",
                                       "log-level",
                                       "retry all",
                                       "retry 5F3A1B2C0002",
                                       "hold 5F3A1B2C0002",
                                       "release 5F3A1B2C0002",
                                       "emcon on",
                                       "emcon bravo off",
                                       "log-level info",
                                       "log-level trace smtpgw",
                                       "drop 5F3A1B2C0003"};
    struct fake f, g; /* f answers in JSON, g in text, each from the same start */
    fake_init(&f);
    fake_init(&g);
    for (size_t i = 0; i < UTIL_ARRAY_LEN(reqs); i++) {
        char line[128];
        snprintf(line, sizeof line, "%s --json", reqs[i]);
        struct rep r;
        ask(&r, &f, line);
        if (!json_body_ok(&r))
            printf("# not JSON: %s -> %s", line, r.s);
        CHECK(json_body_ok(&r));
        done(&r);
        ask(&r, &g, reqs[i]);
        CHECK(framed(&r));
        CHECK(terminal_safe(r.s));
        CHECK(strncmp(r.s, "ok\n", 3) == 0);
        done(&r);
    }
}

TEST(bad_requests)
{
    static const struct {
        const char *line, *text;
    } cases[] = {
        {"", "error empty request (try help)\n"},
        {"\n", "error empty request (try help)\n"},
        {"bogus", "error unknown command 'bogus' (try help)\n"},
        {"STATUS", "error unknown command 'STATUS' (try help)\n"},
        {"--json status", "error unknown command '--json' (try help)\n"},
        {" status", "error empty word (separate words by single spaces)\n"},
        {"status ", "error empty word (separate words by single spaces)\n"},
        {"retry  all", "error empty word (separate words by single spaces)\n"},
        {"status\tnow", "error non-printable byte 0x09 at offset 6 (printable ASCII only)\n"},
        {"status\x7f", "error non-printable byte 0x7f at offset 6 (printable ASCII only)\n"},
        {"st\xc3\xa4tus", "error non-printable byte 0xc3 at offset 2 (printable ASCII only)\n"},
        {"status\nqueue", "error non-printable byte 0x0a at offset 6 (printable ASCII only)\n"},
        {"status x", "error too many arguments; usage: status [--json]\n"},
        {"queue all", "error too many arguments; usage: queue [--json]\n"},
        {"retry", "error missing argument; usage: retry ID|all\n"},
        {"retry a b", "error too many arguments; usage: retry ID|all\n"},
        {"drop", "error missing argument; usage: drop ID\n"},
        {"hold", "error missing argument; usage: hold ID|all\n"},
        {"release", "error missing argument; usage: release ID|all\n"},
        {"help me", "error too many arguments; usage: help [--json]\n"},
        {"status --yaml", "error unknown option '--yaml' (only --json)\n"},
        {"a b c d e f", "error too many arguments\n"},
    };
    struct fake f;
    fake_init(&f);
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct rep r;
        ask(&r, &f, cases[i].line);
        if (strcmp(r.s, cases[i].text) != 0)
            printf("# case %zu\n", i);
        CHECK_STR(r.s, cases[i].text);
        CHECK_EQ(r.rc, SMTPGW_ERR_CTL_USAGE);
        done(&r);
    }
    CHECK_EQ(f.status_calls, 0);
}

TEST(line_endings_and_length)
{
    struct fake f;
    fake_init(&f);
    struct rep r;
    ask(&r, &f, "help\r\n");
    CHECK_EQ(r.rc, 0);
    done(&r);
    ask(&r, &f, "help\n");
    CHECK_EQ(r.rc, 0);
    done(&r);
    /* 1023 bytes and the newline are allowed; 1024 are not */
    char line[1100];
    memset(line, 'x', sizeof line);
    memcpy(line, "retry ", 6);
    line[1023] = '\n';
    line[1024] = '\0';
    ask(&r, &f, line);
    CHECK_STR(r.s, "error retry: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is not a queue id\n");
    done(&r);
    line[1023] = 'x';
    line[1024] = '\n';
    line[1025] = '\0';
    ask(&r, &f, line);
    CHECK_STR(r.s, "error request too long (at most 1024 bytes with the newline)\n");
    CHECK_EQ(r.rc, SMTPGW_ERR_CTL_USAGE);
    done(&r);
    /* a long unknown verb is echoed only in part */
    memset(line, 'v', 600);
    line[600] = '\0';
    ask(&r, &f, line);
    CHECK(strlen(r.s) < 120);
    CHECK(framed(&r));
    done(&r);
}

TEST(ops_errors_and_unsupported)
{
    struct fake f;
    fake_init(&f);
    f.fail = SMTPGW_ERR_SPOOL_IO;
    static const char *const reqs[] = {"status", "queue",     "retry all", "drop X",
                                       "hold X", "release X", "emcon on",  "log-level"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(reqs); i++) {
        struct rep r;
        ask(&r, &f, reqs[i]);
        CHECK_EQ(r.rc, SMTPGW_ERR_SPOOL_IO);
        CHECK(framed(&r));
        CHECK_CONTAINS(r.s, smtpgw_strerror(SMTPGW_ERR_SPOOL_IO));
        done(&r);
    }
    CHECK_EQ(f.status_done_calls, 1); /* released on the error path too */
    /* no ops at all: every command but help is unsupported, none crashes */
    struct util_buf b;
    util_buf_init(&b, 0);
    static const char *const all[] = {"status",   "queue",          "retry all",
                                      "drop X",   "hold X",         "release X",
                                      "emcon on", "emcon bravo on", "log-level"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(all); i++) {
        util_buf_reset(&b);
        int rc = smtpgw_ctl_handle(NULL, NULL, all[i], &b);
        util_buf_append(&b, "", 1);
        if (strcmp(all[i], "emcon bravo on") == 0) {
            CHECK_EQ(rc, SMTPGW_ERR_CTL_NODE);
        } else {
            CHECK_EQ(rc, SMTPGW_ERR_CTL_UNSUPPORTED);
            CHECK_CONTAINS((const char *)b.data, ": not supported by this gateway\n");
        }
    }
    util_buf_reset(&b);
    CHECK_EQ(smtpgw_ctl_handle(NULL, NULL, "help", &b), 0);
    util_buf_reset(&b);
    CHECK_EQ(smtpgw_ctl_handle(NULL, NULL, NULL, &b), SMTPGW_ERR_CTL_USAGE);
    util_buf_free(&b);
}

TEST(reply_limit)
{
    struct fake f;
    fake_init(&f);
    struct rep r;
    ask_limit(&r, &f, "queue", 200);
    CHECK_EQ(r.rc, SMTPGW_ERR_CTL_TOO_BIG);
    CHECK_STR(r.s, "error queue: reply too large (limit 200 bytes)\n");
    done(&r);
    /* not even the error fits: nothing is left half-written */
    struct util_buf b;
    util_buf_init(&b, 10);
    CHECK_EQ(smtpgw_ctl_handle(&fake_ops, &f, "queue", &b), SMTPGW_ERR_CTL_TOO_BIG);
    CHECK_EQ(b.len, 0);
    util_buf_free(&b);
    /* the reply is appended after what the buffer held */
    util_buf_init(&b, 0);
    util_buf_append_str(&b, "PREFIX");
    CHECK_EQ(smtpgw_ctl_handle(&fake_ops, &f, "bogus", &b), SMTPGW_ERR_CTL_USAGE);
    util_buf_append(&b, "", 1);
    CHECK_STR((const char *)b.data, "PREFIXerror unknown command 'bogus' (try help)\n");
    util_buf_free(&b);
}

/* json_of - smtpgw_ctl_json_string of s, NUL-terminated (static buffer) */
static const char *json_of(const char *s)
{
    static char out[256];
    struct util_buf b;
    util_buf_init(&b, 0);
    CHECK_EQ(smtpgw_ctl_json_string(&b, s), 0);
    snprintf(out, sizeof out, "%.*s", (int)b.len, (const char *)b.data);
    CHECK(json_valid(b.data, b.len));
    util_buf_free(&b);
    return out;
}

TEST(json_string_escapes)
{
    CHECK_STR(json_of(""), "\"\"");
    CHECK_STR(json_of(NULL), "\"\"");
    CHECK_STR(json_of("plain <a@b.example>"), "\"plain <a@b.example>\"");
    CHECK_STR(json_of("q\"b\\s/"), "\"q\\\"b\\\\s/\"");
    CHECK_STR(json_of("\b\f\n\r\t\x01\x1f\x7f"), "\"\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\"");
    CHECK_STR(json_of("j\xc3\xb6rg \xe2\x82\xac \xf0\x9f\x93\xa1"),
              "\"j\xc3\xb6rg \xe2\x82\xac \xf0\x9f\x93\xa1\"");
    CHECK_STR(json_of("\xc2\x85\xe2\x80\xa8\xe2\x80\xa9"), "\"\\u0085\\u2028\\u2029\"");
    /* invalid UTF-8: lone continuation, overlong, surrogate, beyond U+10FFFF, cut short */
    CHECK_STR(json_of("\x80"), "\"\\ufffd\"");
    CHECK_STR(json_of("\xc0\xaf"), "\"\\ufffd\\ufffd\"");
    CHECK_STR(json_of("\xe0\x80\xaf"), "\"\\ufffd\\ufffd\\ufffd\"");
    CHECK_STR(json_of("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");
    CHECK_STR(json_of("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    CHECK_STR(json_of("\xe2\x82"), "\"\\ufffd\\ufffd\"");
    CHECK_STR(json_of("a\xffz"), "\"a\\ufffdz\"");
    /* the limit: nothing half-written */
    struct util_buf b;
    util_buf_init(&b, 4);
    CHECK_EQ(smtpgw_ctl_json_string(&b, "abcdef"), UTIL_ERR_NOMEM);
    CHECK_EQ(b.len, 0);
    util_buf_free(&b);
}

TEST(json_checker_rejects)
{
    /* the validator the other tests lean on must itself reject bad JSON */
    static const char *const bad[] = {
        "",          "{",   "{\"a\":}", "[1,]",     "\"a\x01\"",        "\"\\x\"", "01",
        "{\"a\" 1}", "tru", "[] []",    "\"\xff\"", "\"\xed\xa0\x80\"", "1.",      "-"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++)
        CHECK(!json_valid(bad[i], strlen(bad[i])));
    static const char *const good[] = {"{}", "[]", "{\"a\":[1,-2.5e3,true,false,null,\"\\u00e9\"]}",
                                       " 0 ", "\"\xc3\xa9\""};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(good); i++)
        CHECK(json_valid(good[i], strlen(good[i])));
}

TEST(log_level_apply_util)
{
    enum util_log_level saved = util_log_get_level();
    char out[SMTPGW_CTL_LEVEL_LEN];
    CHECK_EQ(smtpgw_ctl_log_level_apply(NULL, "debug", NULL, out, sizeof out), 0);
    CHECK_STR(out, "debug");
    CHECK_EQ(util_log_get_level(), UTIL_LOG_DEBUG);
    CHECK_EQ(smtpgw_ctl_log_level_apply(NULL, "trace", "s5066,pmul", out, sizeof out), 0);
    CHECK_STR(out, "debug s5066,pmul");
    CHECK(util_log_trace_on(UTIL_MOD_PMUL));
    CHECK_EQ(smtpgw_ctl_log_level_apply(NULL, "trace", "all", out, sizeof out), 0);
    CHECK_STR(out, "debug all");
    CHECK_EQ(smtpgw_ctl_log_level_apply(NULL, "trace", "", out, sizeof out), 0);
    CHECK_STR(out, "debug");
    CHECK(!util_log_trace_on(UTIL_MOD_PMUL));
    CHECK(smtpgw_ctl_log_level_apply(NULL, "loud", NULL, out, sizeof out) < 0);
    CHECK(smtpgw_ctl_log_level_apply(NULL, "trace", "bogus", out, sizeof out) < 0);
    CHECK_EQ(smtpgw_ctl_log_level_apply(NULL, "warn", NULL, out, sizeof out), 0);
    CHECK_STR(out, "warn");
    CHECK_EQ(smtpgw_ctl_log_level_apply(NULL, NULL, NULL, out, sizeof out), 0);
    CHECK_STR(out, "warn");
    /* through the engine, with util's logger behind it */
    struct smtpgw_ctl_ops ops = {.log_level = smtpgw_ctl_log_level_apply};
    struct util_buf b;
    util_buf_init(&b, 0);
    CHECK_EQ(smtpgw_ctl_handle(&ops, NULL, "log-level trace smtpgw --json", &b), 0);
    util_buf_append(&b, "", 1);
    CHECK_STR((const char *)b.data,
              "ok\n{\"command\":\"log-level\",\"level\":\"warn\",\"trace\":[\"smtpgw\"]}\n");
    util_buf_free(&b);
    util_log_set_trace("");
    util_log_set_level(saved);
}

/* conf_of - parse text as a config (NULL-safe for the caller to free) */
static struct util_conf *conf_of(const char *text)
{
    char err[256];
    int rc;
    return util_conf_parse("test.conf", text, strlen(text), err, sizeof err, &rc);
}

TEST(conf_read)
{
    struct smtpgw_ctl_conf cc;
    CHECK_EQ(smtpgw_ctl_conf_read(NULL, &cc), 0);
    CHECK_STR(cc.socket, smtpgw_ctl_default_socket());
    CHECK_EQ(cc.mode, 0660);
    CHECK_EQ(cc.gid, -1);
    CHECK(cc.group == NULL);
    CHECK_CONTAINS(smtpgw_ctl_default_socket(), "/run/mulegw/mulegw.sock");

    struct util_conf *c = conf_of("[mulegw]\nx = 1\n");
    CHECK_EQ(smtpgw_ctl_conf_read(c, &cc), 0);
    CHECK_STR(cc.socket, smtpgw_ctl_default_socket());
    util_conf_free(c);

    c = conf_of("[control]\nsocket = /tmp/x.sock\nmode = 0600\ngroup = root\n");
    CHECK_EQ(smtpgw_ctl_conf_read(c, &cc), 0);
    CHECK_STR(cc.socket, "/tmp/x.sock");
    CHECK_EQ(cc.mode, 0600);
    CHECK_EQ(cc.gid, 0);
    CHECK_STR(cc.group, "root");
    CHECK_EQ(util_conf_check_unused(c), 0);
    util_conf_free(c);

    c = conf_of("[control]\ngroup = 4242\n");
    CHECK_EQ(smtpgw_ctl_conf_read(c, &cc), 0);
    CHECK_EQ(cc.gid, 4242);
    util_conf_free(c);

    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"[control]\nmode = 0999\n",
         "test.conf:2: [control] key 'mode': '0999' is not an octal mode"},
        {"[control]\nmode = 01777\n",
         "test.conf:2: [control] key 'mode': '01777' is not an octal mode"},
        {"[control]\nmode = rw\n", "test.conf:2: [control] key 'mode': 'rw' is not an octal mode"},
        {"[control]\nmode = -1\n", "test.conf:2: [control] key 'mode': '-1' is not an octal mode"},
        {"[control]\ngroup = no-such-group-zz\n",
         "test.conf:2: [control] key 'group': no such group"},
        {"[control]\nsocket = /x/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
         "test.conf:2: [control] key 'socket': a socket path is 1 to 107 bytes"},
        {"[control]\nsocket = \"\"\n",
         "test.conf:2: [control] key 'socket': a socket path is 1 to 107 bytes"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        c = conf_of(bad[i].text);
        CHECK(c != NULL);
        if (!c)
            continue;
        CHECK(smtpgw_ctl_conf_read(c, &cc) < 0);
        CHECK_CONTAINS(util_conf_error(c), bad[i].msg);
        util_conf_free(c);
    }
}

TEST(strerror_knows_the_range)
{
    for (int e = SMTPGW_ERR_CTL_BUSY; e <= SMTPGW_ERR_CTL_NOTFOUND; e++) {
        const char *t = smtpgw_strerror(e);
        CHECK(t && t[0]);
        CHECK(strstr(t, "unknown") == NULL);
    }
    CHECK_STR(smtpgw_strerror(SMTPGW_ERR_CTL_NOTFOUND), "no such message");
    CHECK_STR(smtpgw_strerror(SMTPGW_ERR_CTL_BUSY), "busy");
}

/* main - run every case */
int main(void)
{
    RUN(status_text);
    RUN(status_json);
    RUN(status_without_nodes_and_strings);
    RUN(status_null_strings);
    RUN(queue_text);
    RUN(queue_json);
    RUN(queue_empty_and_now_unknown);
    RUN(one_message_singular);
    RUN(retry);
    RUN(drop);
    RUN(hold_and_release);
    RUN(emcon);
    RUN(log_level);
    RUN(help);
    RUN(every_verb_json_is_valid);
    RUN(bad_requests);
    RUN(line_endings_and_length);
    RUN(ops_errors_and_unsupported);
    RUN(reply_limit);
    RUN(json_string_escapes);
    RUN(json_checker_rejects);
    RUN(log_level_apply_util);
    RUN(conf_read);
    RUN(strerror_knows_the_range);
    return harness_done();
}
