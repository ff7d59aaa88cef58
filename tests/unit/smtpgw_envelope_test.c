/* smtpgw_envelope_test.c - the parser of the spool's envelope files as a
 * pure function (smtpgw_envelope_parse, smtp-gw/spool.c): the seed corpus
 * of tests/fuzz/fuzz_spool_envelope (files the spool wrote) parses to the
 * envelopes it holds, under its own queue id and under none given, never
 * under another; each damaged seed is refused with its reason; and what
 * the spool writes now reads back field by field.
 */
#include "harness.h"
#include "smtp-gw/smtpgw.h"

#include <ftw.h>
#include <unistd.h>

/* slurp - a seed file of the corpus into a new buffer (*len bytes) */
static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char *p = malloc(*len + 1);
    if (p) {
        memcpy(p, buf, *len);
        p[*len] = '\0';
    }
    return p;
}

/* parse_seed - parse one seed; its result code, *e the envelope or NULL */
static int parse_seed(const char *name, const char *qid, struct smtpgw_envelope **e, char *why,
                      size_t whycap)
{
    size_t len = 0;
    char *text = slurp(FUZZ_CORPUS, name, &len);
    if (!text) {
        printf("# no seed %s\n", name);
        return 1;
    }
    int rc = smtpgw_envelope_parse(text, len, qid, e, why, whycap);
    free(text);
    return rc;
}

TEST(seeds_written_by_the_spool_parse)
{
    static const char *const good[] = {"outgoing_full", "outgoing_expired", "incoming_retry",
                                       "incoming_dsn", "incoming_relay"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(good); i++) {
        struct smtpgw_envelope *e = NULL, *again = NULL;
        char why[128] = "x";
        CHECK_EQ(parse_seed(good[i], NULL, &e, why, sizeof why), 0);
        CHECK_STR(why, "");
        CHECK(e != NULL);
        if (!e)
            continue;
        CHECK_EQ(parse_seed(good[i], e->qid, &again, NULL, 0), 0);
        smtpgw_envelope_free(again);
        again = NULL;
        CHECK_EQ(parse_seed(good[i], "000000000000", &again, why, sizeof why),
                 SMTPGW_ERR_SPOOL_CORRUPT);
        CHECK(again == NULL);
        CHECK_STR(why, "bad value or misplaced line: qid");
        smtpgw_envelope_free(e);
    }
}

TEST(an_outgoing_envelope_holds_every_field)
{
    struct smtpgw_envelope *e = NULL;
    CHECK_EQ(parse_seed("outgoing_full", NULL, &e, NULL, 0), 0);
    if (!e)
        return;
    CHECK_STR(e->qid, "6B11A9B30000");
    CHECK_EQ(e->flags, SMTPGW_ENV_HOLD);
    CHECK_EQ(e->priority, 3);
    CHECK_EQ(e->arrival, 1700000000);
    CHECK_EQ(e->size, 39);
    CHECK_STR(e->from, "alice@hq.example.mil");
    CHECK_STR(e->envid, "abc+2Bdef");
    CHECK_EQ(e->ret, SMTPGW_RET_HDRS);
    CHECK_EQ(e->body, SMTPGW_BODY_8BITMIME);
    CHECK_EQ(e->mt_priority, 3);
    CHECK(e->smtputf8);
    CHECK_EQ(e->by_mode, 'R');
    CHECK(e->by_trace);
    CHECK_EQ(e->by_time, 3600);
    CHECK_EQ(e->n_dests, 2);
    CHECK_EQ(e->dests[1].node, 0x0a000009);
    CHECK_EQ(e->dests[1].final_node, 0x0a000003);
    CHECK_EQ(e->dests[1].msn, 5);
    CHECK_EQ(e->dests[1].state, SMTPGW_DEST_ACKED);
    CHECK_EQ(e->n_rcpts, 3);
    CHECK_STR(e->rcpts[0].params, "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@a.example.mil");
    CHECK_EQ(e->rcpts[1].dest, 1);
    CHECK_STR(e->rcpts[2].addr, "d\xc3\xa9sir\xc3\xa9@c.example.mil");
    CHECK_EQ(e->rcpts[2].state, SMTPGW_RCPT_FAILED);
    CHECK_STR(e->rcpts[2].status, "5.1.1");
    CHECK_STR(e->rcpts[2].diag, "smtp; 550 5.1.1 line1\nline2 100% = sure"); /* unescaped */
    CHECK_EQ(smtpgw_envelope_open_rcpts(e), 2);
    smtpgw_envelope_free(e);

    CHECK_EQ(parse_seed("incoming_retry", NULL, &e, NULL, 0), 0);
    if (!e)
        return;
    CHECK_EQ(e->src_node, 0x0a000001);
    CHECK_EQ(e->src_msgid, 42);
    CHECK_EQ(e->attempts, 3);
    CHECK_EQ(e->next_attempt, 1700000500);
    CHECK_EQ(e->rcpts[0].state, SMTPGW_RCPT_DONE);
    CHECK_STR(e->rcpts[1].diag, "smtp; 451 try later");
    smtpgw_envelope_free(e);
}

TEST(damaged_envelopes_are_refused_with_their_reason)
{
    static const char *const bad[][2] = {
        {"bad_truncated", "no end line"},
        {"bad_escape", "bad escape"},
        {"bad_escaped_nul", "bad escape"},
        {"bad_nul", "NUL byte"},
        {"bad_after_end", "text after end"},
        {"bad_unknown_key", "unknown key: colour"},
        {"bad_rcpt_dest", "bad value or misplaced line: rcpt.dest"},
        {"bad_dest_after_rcpt", "bad value or misplaced line: dest"},
        {"bad_two_qids", "bad value or misplaced line: qid"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        static struct smtpgw_envelope stale;
        struct smtpgw_envelope *e = &stale; /* must become NULL */
        char why[128] = "";
        CHECK_EQ(parse_seed(bad[i][0], NULL, &e, why, sizeof why), SMTPGW_ERR_SPOOL_CORRUPT);
        CHECK(e == NULL);
        if (strcmp(why, bad[i][1]) != 0)
            printf("# %s: ", bad[i][0]);
        CHECK_STR(why, bad[i][1]);
    }
    struct smtpgw_envelope *e = NULL;
    char why[128] = "";
    CHECK_EQ(smtpgw_envelope_parse("", 0, NULL, &e, why, sizeof why), SMTPGW_ERR_SPOOL_CORRUPT);
    CHECK_STR(why, "bad first line");
    CHECK_EQ(smtpgw_envelope_parse(NULL, 0, NULL, &e, NULL, 0), SMTPGW_ERR_SPOOL_CORRUPT);
    CHECK(e == NULL);
}

/* rm_entry - nftw callback removing one entry */
static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

TEST(what_the_spool_writes_reads_back)
{
    char tmpl[400];
    const char *t = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/envtestXXXXXX", t && *t ? t : "/tmp");
    char *top = mkdtemp(tmpl);
    CHECK(top != NULL);
    if (!top)
        return;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/spool", top);
    util_log_set_level(UTIL_LOG_ERR);
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    CHECK(sp != NULL);
    struct smtpgw_spool_rcpt r[2];
    memset(r, 0, sizeof r);
    r[0].addr = "a@ship.example.mil";
    r[0].params = "NOTIFY=DELAY";
    r[0].dest = 0;
    r[1].addr = "b%c@ship.example.mil"; /* '%' is escaped in the file */
    r[1].params = "";
    r[1].dest = 0;
    struct smtpgw_spool_dest d = {.node = 0x0a000002};
    struct smtpgw_envelope in, *e = NULL;
    memset(&in, 0, sizeof in);
    in.from = "ops@hq.example.mil";
    in.mail_params = "MT-PRIORITY=4 RET=FULL";
    in.rcpts = r;
    in.n_rcpts = 2;
    in.dests = &d;
    in.n_dests = 1;
    in.expiry = 2000000000;
    CHECK(sp && smtpgw_spool_add_outgoing(sp, &in, (const uint8_t *)"x\r\n", 3, &e) == 0 && e);
    if (sp && e) {
        char name[600];
        size_t len = 0;
        snprintf(name, sizeof name, "outgoing/%s", e->qid);
        char *text = slurp(dir, name, &len);
        struct smtpgw_envelope *back = NULL;
        CHECK(text && smtpgw_envelope_parse(text, len, e->qid, &back, NULL, 0) == 0 && back);
        if (back) {
            CHECK_STR(back->from, e->from);
            CHECK_STR(back->mail_params, e->mail_params);
            CHECK_EQ(back->mt_priority, 4);
            CHECK_EQ(back->ret, SMTPGW_RET_FULL);
            CHECK_EQ(back->expiry, e->expiry);
            CHECK_EQ(back->size, 3);
            CHECK_EQ(back->n_rcpts, 2);
            CHECK_STR(back->rcpts[1].addr, "b%c@ship.example.mil");
            CHECK_STR(back->rcpts[0].params, "NOTIFY=DELAY");
            CHECK_EQ(back->n_dests, 1);
            CHECK_EQ(back->dests[0].node, 0x0a000002);
        }
        smtpgw_envelope_free(back);
        free(text);
    }
    smtpgw_spool_close(sp);
    nftw(top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* main - run every case */
int main(void)
{
    RUN(seeds_written_by_the_spool_parse);
    RUN(an_outgoing_envelope_holds_every_field);
    RUN(damaged_envelopes_are_refused_with_their_reason);
    RUN(what_the_spool_writes_reads_back);
    return harness_done();
}
