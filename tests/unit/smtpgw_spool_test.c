/* smtpgw_spool_test.c - the durable spool (smtp-gw/spool.c): add, update,
 * move, remove; what is on disk; recovery after a crash at every step
 * (leftover tmp files, content without an envelope, envelope without
 * content, a process killed at each file-system operation); counters and
 * the duplicate set across reopen; the group commit (stage + sync, ids
 * given out in memory, deferred updates) under faults and kills; every error path (unwritable directory,
 * write errors, corrupt envelopes and state quarantined and logged); the
 * memory 10,000 queued envelopes take.
 */
#include "harness.h"
#include "smtp-gw/smtpgw.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* fault injection in spool.c (tests only): mode 1 fails the nth file
 * operation with EIO, mode 2 exits the process there (a kill -9); returns
 * how many operations the previous arming still had to go (0: it fired) */
long smtpgw_spool_test_fault(long nth, int mode);

/* ---- helpers ----------------------------------------------------------------- */

static char logbuf[1 << 16];
static size_t loglen;

/* log_sink - keep every log line */
static void log_sink(void *user, enum util_log_level level, enum util_log_module module,
                     const char *line)
{
    (void)user;
    (void)level;
    (void)module;
    size_t n = strlen(line);
    if (loglen + n + 2 < sizeof logbuf) {
        memcpy(logbuf + loglen, line, n);
        loglen += n;
        logbuf[loglen++] = '\n';
        logbuf[loglen] = '\0';
    }
}

/* log_reset - forget captured lines */
static void log_reset(void)
{
    loglen = 0;
    logbuf[0] = '\0';
}

static char *tops[1024];
static size_t ntops;

/* newdir - a fresh, empty directory path for a spool (not created) */
static char *newdir(void)
{
    static char path[512];
    char tmpl[400];
    const char *t = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/spooltestXXXXXX", t && *t ? t : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d)
        abort();
    if (ntops < UTIL_ARRAY_LEN(tops))
        tops[ntops++] = strdup(d);
    snprintf(path, sizeof path, "%s/spool", d);
    return path;
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

/* cleanup - remove every directory the tests made */
static void cleanup(void)
{
    for (size_t i = 0; i < ntops; i++) {
        char note[600];
        snprintf(note, sizeof note, "%s/spool.note", tops[i]);
        unlink(note);
        nftw(tops[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(tops[i]);
    }
}

/* pathf - a path under dir */
static const char *pathf(const char *dir, const char *sub)
{
    static char p[2][512];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, sub);
    return p[k];
}

/* exists - whether a path exists */
static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* count_dir - entries in a directory (no . and ..), -1 if it cannot be read */
static int count_dir(const char *p)
{
    DIR *d = opendir(p);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* slurp - a whole file (NUL-terminated, static, truncated at 64 KiB) */
static const char *slurp(const char *p, size_t *len)
{
    static char buf[1 << 16];
    FILE *f = fopen(p, "rb");
    size_t n = 0;
    if (f) {
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return f ? buf : NULL;
}

/* put - write a file */
static void put(const char *p, const char *text)
{
    FILE *f = fopen(p, "wb");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

static struct smtpgw_spool_rcpt R[3];
static struct smtpgw_spool_dest D[2];

/* sample - an outgoing envelope with every field set */
static void sample(struct smtpgw_envelope *e)
{
    memset(e, 0, sizeof *e);
    memset(R, 0, sizeof R);
    memset(D, 0, sizeof D);
    e->from = "alice@hq.example.mil";
    e->mail_params = "BODY=8BITMIME ENVID=abc+2Bdef RET=HDRS MT-PRIORITY=3 BY=3600;RT SMTPUTF8";
    R[0].addr = "bob@a.example.mil";
    R[0].params = "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@a.example.mil";
    R[0].dest = 0;
    R[1].addr = "carol@b.example.mil";
    R[1].params = "";
    R[1].dest = 1;
    R[2].addr = "d\xc3\xa9sir\xc3\xa9@c.example.mil";
    R[2].params = NULL;
    R[2].dest = -1;
    R[2].state = SMTPGW_RCPT_FAILED;
    R[2].diag = "smtp; 550 5.1.1 line1\nline2 100% = sure";
    snprintf(R[2].status, sizeof R[2].status, "5.1.1");
    D[0].node = 0x0a000002;
    D[1].node = 0x0a000009;
    D[1].final_node = 0x0a000003;
    D[1].msgid = 77;
    D[1].msn = 5;
    D[1].state = SMTPGW_DEST_ACKED;
    e->rcpts = R;
    e->n_rcpts = 3;
    e->dests = D;
    e->n_dests = 2;
    e->priority = 3;
    e->arrival = 1700000000;
    e->expiry = util_wall_s() + 86400;
    e->flags = SMTPGW_ENV_HOLD;
}

/* same_env - compare two envelopes field by field */
static void same_env(const struct smtpgw_envelope *a, const struct smtpgw_envelope *b)
{
    CHECK_STR(a->qid, b->qid);
    CHECK_EQ(a->queue, b->queue);
    CHECK_EQ(a->flags, b->flags);
    CHECK_EQ(a->content, b->content);
    CHECK_EQ(a->priority, b->priority);
    CHECK_EQ(a->arrival, b->arrival);
    CHECK_EQ(a->expiry, b->expiry);
    CHECK_EQ(a->size, b->size);
    CHECK_STR(a->from, b->from);
    CHECK_STR(a->mail_params, b->mail_params);
    CHECK((a->envid == NULL) == (b->envid == NULL));
    if (a->envid && b->envid)
        CHECK_STR(a->envid, b->envid);
    CHECK_EQ(a->ret, b->ret);
    CHECK_EQ(a->body, b->body);
    CHECK_EQ(a->mt_priority, b->mt_priority);
    CHECK_EQ(a->smtputf8, b->smtputf8);
    CHECK_EQ(a->by_mode, b->by_mode);
    CHECK_EQ(a->by_trace, b->by_trace);
    CHECK_EQ(a->by_time, b->by_time);
    CHECK_EQ(a->src_node, b->src_node);
    CHECK_EQ(a->src_msgid, b->src_msgid);
    CHECK_EQ(a->attempts, b->attempts);
    CHECK_EQ(a->next_attempt, b->next_attempt);
    CHECK_EQ(a->n_rcpts, b->n_rcpts);
    for (size_t i = 0; i < a->n_rcpts && i < b->n_rcpts; i++) {
        CHECK_STR(a->rcpts[i].addr, b->rcpts[i].addr);
        CHECK_STR(a->rcpts[i].params, b->rcpts[i].params);
        CHECK_STR(a->rcpts[i].status, b->rcpts[i].status);
        CHECK((a->rcpts[i].diag == NULL) == (b->rcpts[i].diag == NULL));
        if (a->rcpts[i].diag && b->rcpts[i].diag)
            CHECK_STR(a->rcpts[i].diag, b->rcpts[i].diag);
        CHECK_EQ(a->rcpts[i].dest, b->rcpts[i].dest);
        CHECK_EQ(a->rcpts[i].state, b->rcpts[i].state);
    }
    CHECK_EQ(a->n_dests, b->n_dests);
    for (size_t i = 0; i < a->n_dests && i < b->n_dests; i++)
        CHECK_MEM(&a->dests[i], sizeof a->dests[i], &b->dests[i], sizeof b->dests[i]);
}

static const char MSG7[] = "Subject: hi\r\n\r\nline one\r\n.leading dot\r\n";

/* ---- basic operations ---------------------------------------------------------- */

TEST(open_creates_layout)
{
    const char *dir = newdir();
    int err = 1;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    CHECK(sp != NULL);
    CHECK_EQ(err, 0);
    const char *subs[] = {"tmp",     "data",  "outgoing", "incoming",
                          "corrupt", "state", "lock",     "delivered"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(subs); i++)
        CHECK(exists(pathf(dir, subs[i])));
    CHECK_EQ(smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING), 0);
    CHECK_EQ(smtpgw_spool_count(sp, SMTPGW_Q_INCOMING), 0);
    CHECK(smtpgw_spool_first(sp, SMTPGW_Q_OUTGOING) == NULL);
    CHECK_CONTAINS(logbuf, "smtpgw spool-open dir=");
    CHECK_STR(slurp(pathf(dir, "state"), NULL),
              "mule5066-spool-state 1\nnext_message_id=1\nend=\n");
    smtpgw_spool_close(sp);
}

TEST(add_outgoing_round_trip)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    struct smtpgw_envelope in, *e = NULL;
    sample(&in);
    CHECK_EQ(smtpgw_spool_add_outgoing(sp, &in, (const uint8_t *)MSG7, sizeof MSG7 - 1, &e), 0);
    CHECK(e != NULL);
    if (!e) {
        smtpgw_spool_close(sp);
        return;
    }
    CHECK_EQ(strlen(e->qid), 12);
    CHECK_EQ(e->queue, SMTPGW_Q_OUTGOING);
    CHECK_EQ(e->size, sizeof MSG7 - 1);
    CHECK_EQ(e->content, SMTPGW_CONTENT_7BIT);
    CHECK(e->from != in.from); /* copied */
    CHECK_STR(e->envid, "abc+2Bdef");
    CHECK_EQ(e->ret, SMTPGW_RET_HDRS);
    CHECK_EQ(e->body, SMTPGW_BODY_8BITMIME);
    CHECK_EQ(e->mt_priority, 3);
    CHECK_EQ(e->smtputf8, 1);
    CHECK_EQ(e->by_mode, 'R');
    CHECK_EQ(e->by_trace, 1);
    CHECK_EQ(e->by_time, 3600);
    CHECK_STR(e->rcpts[2].params, "");
    CHECK_STR(e->rcpts[2].diag, R[2].diag);
    size_t len;
    char rel[64];
    snprintf(rel, sizeof rel, "data/%s", e->qid);
    const char *data = slurp(pathf(dir, rel), &len);
    CHECK_MEM(data, len, MSG7, sizeof MSG7 - 1);
    snprintf(rel, sizeof rel, "outgoing/%s", e->qid);
    const char *env = slurp(pathf(dir, rel), NULL);
    CHECK_CONTAINS(env, "mule5066-envelope 1\nqid=");
    CHECK_CONTAINS(env, "\nrcpt.diag=smtp; 550 5.1.1 line1%0Aline2 100%25 = sure\n");
    CHECK_CONTAINS(env, "\nrcpt=d\xc3\xa9sir\xc3\xa9@c.example.mil\n");
    CHECK_CONTAINS(env, "\ndest=10.0.0.9\ndest.final=10.0.0.3\ndest.msgid=77\ndest.msn=5\n"
                        "dest.state=acked\n");
    CHECK_CONTAINS(env, "\nby=3600;RT\n");
    CHECK_CONTAINS(env, "\nend=\n");
    CHECK_EQ(count_dir(pathf(dir, "tmp")), 0);
    struct util_buf b;
    util_buf_init(&b, 0);
    CHECK_EQ(smtpgw_spool_read_content(sp, e, &b), 0);
    CHECK_MEM(b.data, b.len, MSG7, sizeof MSG7 - 1);
    util_buf_free(&b);

    /* a fresh process sees the same envelope */
    char qid[SMTPGW_QID_LEN];
    memcpy(qid, e->qid, sizeof qid);
    struct smtpgw_spool *sp2;
    smtpgw_spool_close(sp);
    sp2 = smtpgw_spool_open(dir, &err);
    CHECK(sp2 != NULL);
    struct smtpgw_spool *sp3 = smtpgw_spool_open(newdir(), &err);
    struct smtpgw_envelope *ref = NULL;
    smtpgw_spool_add_outgoing(sp3, &in, (const uint8_t *)MSG7, sizeof MSG7 - 1, &ref);
    struct smtpgw_envelope *got = smtpgw_spool_find(sp2, qid);
    CHECK(got != NULL);
    if (got && ref) {
        memcpy(ref->qid, qid, sizeof qid); /* compare everything but the id */
        same_env(got, ref);
    }
    smtpgw_spool_close(sp3);
    smtpgw_spool_close(sp2);
}

TEST(queue_ids_unique_sorted_and_iteration)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    struct smtpgw_envelope in;
    sample(&in);
    char ids[40][SMTPGW_QID_LEN];
    for (int i = 0; i < 40; i++) {
        struct smtpgw_envelope *e = NULL;
        CHECK_EQ(smtpgw_spool_add_outgoing(sp, &in, (const uint8_t *)"x", 1, &e), 0);
        if (e)
            memcpy(ids[i], e->qid, SMTPGW_QID_LEN);
        if (i)
            CHECK(strcmp(ids[i - 1], ids[i]) < 0);
    }
    CHECK_EQ(smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING), 40);
    smtpgw_spool_close(sp);
    sp = smtpgw_spool_open(dir, &err);
    int i = 0;
    for (struct smtpgw_envelope *e = smtpgw_spool_first(sp, SMTPGW_Q_OUTGOING); e;
         e = smtpgw_spool_next(sp, e), i++)
        CHECK_STR(e->qid, ids[i]);
    CHECK_EQ(i, 40);
    smtpgw_spool_close(sp);
}

TEST(update_move_remove)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    struct smtpgw_envelope in, *e = NULL;
    sample(&in);
    in.n_dests = 0;
    in.dests = NULL;
    R[0].dest = R[1].dest = -1;
    in.src_node = 0x0a000001;
    in.src_msgid = 42;
    CHECK_EQ(smtpgw_spool_add_incoming(sp, &in, (const uint8_t *)MSG7, sizeof MSG7 - 1, &e), 0);
    if (!e) {
        smtpgw_spool_close(sp);
        return;
    }
    char qid[SMTPGW_QID_LEN];
    memcpy(qid, e->qid, sizeof qid);
    CHECK_EQ(smtpgw_envelope_set_rcpt(e, 0, SMTPGW_RCPT_DONE, "2.0.0", NULL), 0);
    CHECK_EQ(smtpgw_envelope_set_rcpt(e, 1, SMTPGW_RCPT_OPEN, "4.4.1", "smtp; 451 try later"), 0);
    CHECK_EQ(smtpgw_envelope_set_rcpt(e, 5, SMTPGW_RCPT_OPEN, NULL, NULL), UTIL_ERR_INVAL);
    CHECK_EQ(smtpgw_envelope_set_rcpt(e, 0, SMTPGW_RCPT_OPEN, "bad status", NULL), UTIL_ERR_INVAL);
    CHECK_EQ(smtpgw_envelope_open_rcpts(e), 1);
    e->attempts = 3;
    e->next_attempt = 1700000600;
    CHECK_EQ(smtpgw_spool_update(sp, e), 0);
    CHECK_EQ(count_dir(pathf(dir, "tmp")), 0);
    smtpgw_spool_close(sp);

    sp = smtpgw_spool_open(dir, &err);
    e = smtpgw_spool_find(sp, qid);
    CHECK(e != NULL);
    if (!e) {
        smtpgw_spool_close(sp);
        return;
    }
    CHECK_EQ(e->queue, SMTPGW_Q_INCOMING);
    CHECK_EQ(e->rcpts[0].state, SMTPGW_RCPT_DONE);
    CHECK_STR(e->rcpts[1].status, "4.4.1");
    CHECK_STR(e->rcpts[1].diag, "smtp; 451 try later");
    CHECK_EQ(e->attempts, 3);
    CHECK_EQ(e->next_attempt, 1700000600);
    CHECK(smtpgw_spool_find_incoming(sp, 0x0a000001, 42) == e);
    CHECK(smtpgw_spool_was_delivered(sp, 0x0a000001, 42)); /* spooled counts */

    /* relay on: the same message moves to outgoing/ with a destination */
    struct smtpgw_spool_dest dd = {.node = 0x0a000005};
    CHECK_EQ(smtpgw_envelope_set_dests(e, &dd, 1), 0);
    e->rcpts[1].dest = 0;
    CHECK_EQ(smtpgw_envelope_set_mail_params(e, "BODY=BINARYMIME MT-PRIORITY=-2"), 0);
    CHECK_EQ(e->body, SMTPGW_BODY_BINARYMIME);
    CHECK_EQ(e->mt_priority, -2);
    CHECK(e->envid == NULL);
    CHECK_EQ(smtpgw_spool_update(sp, e), 0);
    CHECK_EQ(smtpgw_spool_move(sp, e, SMTPGW_Q_OUTGOING), 0);
    CHECK_EQ(smtpgw_spool_count(sp, SMTPGW_Q_INCOMING), 0);
    CHECK_EQ(smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING), 1);
    CHECK(exists(pathf(dir, "outgoing")) && count_dir(pathf(dir, "incoming")) == 0);
    smtpgw_spool_close(sp);

    sp = smtpgw_spool_open(dir, &err);
    e = smtpgw_spool_first(sp, SMTPGW_Q_OUTGOING);
    CHECK(e != NULL);
    if (e) {
        CHECK_STR(e->qid, qid);
        CHECK_EQ(e->dests[0].node, 0x0a000005);
        CHECK_EQ(e->body, SMTPGW_BODY_BINARYMIME);
        CHECK_EQ(smtpgw_spool_move(sp, e, SMTPGW_Q_INCOMING), 0);
        CHECK_EQ(smtpgw_spool_remove(sp, e), 0);
    }
    CHECK_EQ(count_dir(pathf(dir, "incoming")), 0);
    CHECK_EQ(count_dir(pathf(dir, "data")), 0);
    CHECK(smtpgw_spool_find(sp, qid) == NULL);
    /* removed incoming message from a node: remembered as delivered */
    CHECK(smtpgw_spool_was_delivered(sp, 0x0a000001, 42));
    smtpgw_spool_close(sp);
    sp = smtpgw_spool_open(dir, &err);
    CHECK(smtpgw_spool_was_delivered(sp, 0x0a000001, 42));
    CHECK(!smtpgw_spool_was_delivered(sp, 0x0a000001, 43));
    smtpgw_spool_close(sp);
}

TEST(duplicates_across_reopen)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    struct smtpgw_envelope in, *e = NULL;
    sample(&in);
    in.n_dests = 0;
    R[0].dest = R[1].dest = -1;
    in.src_node = 0x0a000001;
    in.src_msgid = 9;
    in.expiry = util_wall_s() + 3600;
    CHECK_EQ(smtpgw_spool_add_incoming(sp, &in, (const uint8_t *)"a", 1, &e), 0);
    log_reset();
    CHECK_EQ(smtpgw_spool_add_incoming(sp, &in, (const uint8_t *)"a", 1, NULL),
             SMTPGW_ERR_SPOOL_DUPLICATE);
    CHECK_CONTAINS(logbuf, "smtpgw spool-duplicate src=10.0.0.1 msgid=9");
    /* the same message id from another source is another message */
    in.src_node = 0x0a000002;
    CHECK_EQ(smtpgw_spool_add_incoming(sp, &in, (const uint8_t *)"a", 1, NULL), 0);
    /* generated here (src 0): never a duplicate */
    in.src_node = 0;
    CHECK_EQ(smtpgw_spool_add_incoming(sp, &in, (const uint8_t *)"a", 1, NULL), 0);
    CHECK_EQ(smtpgw_spool_add_incoming(sp, &in, (const uint8_t *)"a", 1, NULL), 0);
    /* outgoing messages are not checked */
    in.src_node = 0x0a000001;
    CHECK_EQ(smtpgw_spool_add_outgoing(sp, &in, (const uint8_t *)"a", 1, NULL), 0);
    CHECK_EQ(smtpgw_spool_count(sp, SMTPGW_Q_INCOMING), 4);
    smtpgw_spool_close(sp);

    sp = smtpgw_spool_open(dir, &err);
    CHECK_EQ(smtpgw_spool_add_incoming(sp, &in, (const uint8_t *)"a", 1, NULL),
             SMTPGW_ERR_SPOOL_DUPLICATE);
    e = smtpgw_spool_find_incoming(sp, 0x0a000001, 9);
    CHECK(e != NULL);
    if (e)
        CHECK_EQ(smtpgw_spool_remove(sp, e), 0);
    smtpgw_spool_close(sp);
    sp = smtpgw_spool_open(dir, &err);
    CHECK_EQ(smtpgw_spool_add_incoming(sp, &in, (const uint8_t *)"a", 1, NULL),
             SMTPGW_ERR_SPOOL_DUPLICATE);
    CHECK_EQ(count_dir(pathf(dir, "tmp")), 0);
    smtpgw_spool_close(sp);
}

TEST(delivered_set_expiry_compaction_and_torn_line)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    int64_t now = util_wall_s();
    CHECK_EQ(smtpgw_spool_record_delivered(sp, 1, 1, now - 10), 0); /* expired */
    CHECK_EQ(smtpgw_spool_record_delivered(sp, 1, 2, now + 3600), 0);
    CHECK_EQ(smtpgw_spool_record_delivered(sp, 0, 2, now + 3600), SMTPGW_ERR_SPOOL_INVAL);
    for (uint32_t i = 0; i < 3000; i++)
        CHECK_EQ(smtpgw_spool_record_delivered(sp, 7, 1000 + i, i % 2 ? now + 3600 : now - 1), 0);
    CHECK(smtpgw_spool_was_delivered(sp, 1, 1)); /* until the next compaction */
    CHECK(smtpgw_spool_was_delivered(sp, 7, 1001));
    smtpgw_spool_close(sp);
    /* a torn last line: the write was never acknowledged */
    FILE *f = fopen(pathf(dir, "delivered"), "ab");
    fputs("5 5 99999999999", f);
    fclose(f);
    log_reset();
    sp = smtpgw_spool_open(dir, &err);
    CHECK(sp != NULL);
    if (!sp)
        return;
    CHECK_CONTAINS(logbuf, "bad-lines=1");
    CHECK(!smtpgw_spool_was_delivered(sp, 1, 1));
    CHECK(smtpgw_spool_was_delivered(sp, 1, 2));
    CHECK(!smtpgw_spool_was_delivered(sp, 5, 5));
    CHECK(smtpgw_spool_was_delivered(sp, 7, 1001));
    CHECK(!smtpgw_spool_was_delivered(sp, 7, 1000));
    /* compacted at open: the header and the 1501 live entries */
    const char *t = slurp(pathf(dir, "delivered"), NULL);
    int lines = 0;
    for (; t && *t; t++)
        lines += *t == '\n';
    CHECK_EQ(lines, 1 + 1 + 1500);
    smtpgw_spool_close(sp);
}

TEST(counters_persist_and_rise_past_envelopes)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    uint32_t id = 0, msn = 0;
    CHECK_EQ(smtpgw_spool_alloc_message_id(sp, &id), 0);
    CHECK_EQ(id, 1);
    CHECK_EQ(smtpgw_spool_alloc_message_id(sp, &id), 0);
    CHECK_EQ(id, 2);
    CHECK_EQ(smtpgw_spool_alloc_msn(sp, 0x0a000002, &msn), 0);
    CHECK_EQ(msn, 1);
    CHECK_EQ(smtpgw_spool_alloc_msn(sp, 0x0a000002, &msn), 0);
    CHECK_EQ(msn, 2);
    CHECK_EQ(smtpgw_spool_alloc_msn(sp, 0x0a000003, &msn), 0);
    CHECK_EQ(msn, 1);
    CHECK_EQ(smtpgw_spool_alloc_msn(sp, 0, &msn), SMTPGW_ERR_SPOOL_INVAL);
    CHECK_STR(slurp(pathf(dir, "state"), NULL),
              "mule5066-spool-state 1\nnext_message_id=3\nmsn.10.0.0.2=3\nmsn.10.0.0.3=2\nend=\n");
    /* an envelope written with ids the state file never saw (a crash between) */
    struct smtpgw_envelope in;
    sample(&in);
    D[0].msgid = 100;
    D[0].msn = 50;
    CHECK_EQ(smtpgw_spool_add_outgoing(sp, &in, (const uint8_t *)"x", 1, NULL), 0);
    smtpgw_spool_close(sp);
    sp = smtpgw_spool_open(dir, &err);
    CHECK_EQ(smtpgw_spool_alloc_message_id(sp, &id), 0);
    CHECK_EQ(id, 101);
    CHECK_EQ(smtpgw_spool_alloc_msn(sp, 0x0a000002, &msn), 0);
    CHECK_EQ(msn, 51);
    CHECK_EQ(smtpgw_spool_alloc_msn(sp, 0x0a000003, &msn), 0);
    CHECK_EQ(msn, 2);
    CHECK_EQ(smtpgw_spool_alloc_msn(sp, 0x0a000009, &msn), 0); /* D[1] had msn 5 */
    CHECK_EQ(msn, 6);
    smtpgw_spool_close(sp);
}

TEST(corrupt_state_is_quarantined_and_ids_jump_past_the_past)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    uint32_t id;
    smtpgw_spool_alloc_message_id(sp, &id);
    smtpgw_spool_record_delivered(sp, 3, 3, util_wall_s() + 100);
    smtpgw_spool_close(sp);
    put(pathf(dir, "state"), "mule5066-spool-state 1\nnext_message_id=banana\n");
    log_reset();
    sp = smtpgw_spool_open(dir, &err);
    CHECK(sp != NULL);
    if (!sp)
        return;
    CHECK_CONTAINS(logbuf, "smtpgw spool-corrupt file=");
    CHECK_EQ(count_dir(pathf(dir, "corrupt")), 1);
    CHECK_EQ(smtpgw_spool_alloc_message_id(sp, &id), 0);
    CHECK(id >= (uint32_t)(util_wall_s() - 5)); /* never an id a receiver may remember */
    smtpgw_spool_close(sp);
    /* a lost state file on a used spool: the same */
    unlink(pathf(dir, "state"));
    sp = smtpgw_spool_open(dir, &err);
    CHECK_EQ(smtpgw_spool_alloc_message_id(sp, &id), 0);
    CHECK(id >= (uint32_t)(util_wall_s() - 5));
    smtpgw_spool_close(sp);
}

TEST(writer_streams_and_classifies)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    struct smtpgw_envelope in, *e;
    sample(&in);
    static const struct {
        const char *text;
        int cls;
    } cases[] = {
        {"a\r\nb\r\n", SMTPGW_CONTENT_7BIT},
        {"a\r\nb", SMTPGW_CONTENT_7BIT},
        {"caf\xc3\xa9\r\n", SMTPGW_CONTENT_8BIT},
        {"a\nb\r\n", SMTPGW_CONTENT_BINARY},
        {"a\rb\r\n", SMTPGW_CONTENT_BINARY},
        {"a\r\nb\r", SMTPGW_CONTENT_BINARY},
        {"", SMTPGW_CONTENT_7BIT},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct smtpgw_spool_writer *w = smtpgw_spool_writer_new(sp, &err);
        CHECK(w != NULL);
        if (!w)
            continue;
        const char *t = cases[i].text;
        for (size_t k = 0; t[k]; k++) /* one byte at a time: state crosses the calls */
            CHECK_EQ(smtpgw_spool_writer_write(w, t + k, 1), 0);
        CHECK_EQ(smtpgw_spool_writer_bytes(w), strlen(t));
        e = NULL;
        CHECK_EQ(smtpgw_spool_writer_commit(w, &in, SMTPGW_Q_OUTGOING, &e), 0);
        if (e) {
            CHECK_EQ(e->content, cases[i].cls);
            CHECK_EQ(e->size, strlen(t));
        }
    }
    /* NUL, and a line of 999 bytes */
    uint8_t big[70000];
    memset(big, 'x', sizeof big);
    struct smtpgw_spool_writer *w = smtpgw_spool_writer_new(sp, &err);
    CHECK_EQ(smtpgw_spool_writer_write(w, big, 999), 0);
    e = NULL;
    CHECK_EQ(smtpgw_spool_writer_commit(w, &in, SMTPGW_Q_OUTGOING, &e), 0);
    CHECK(e && e->content == SMTPGW_CONTENT_BINARY);
    w = smtpgw_spool_writer_new(sp, &err);
    CHECK_EQ(smtpgw_spool_writer_write(w, "a\0b", 3), 0);
    e = NULL;
    CHECK_EQ(smtpgw_spool_writer_commit(w, &in, SMTPGW_Q_OUTGOING, &e), 0);
    CHECK(e && e->content == SMTPGW_CONTENT_BINARY);
    /* large writes bypass the buffer; the bytes are exact */
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i % 97 == 0 ? '\r' : i % 97 == 1 ? '\n' : 'a' + i % 26);
    w = smtpgw_spool_writer_new(sp, &err);
    CHECK_EQ(smtpgw_spool_writer_write(w, big, 10), 0);
    CHECK_EQ(smtpgw_spool_writer_write(w, big + 10, sizeof big - 10), 0);
    e = NULL;
    CHECK_EQ(smtpgw_spool_writer_commit(w, &in, SMTPGW_Q_OUTGOING, &e), 0);
    if (e) {
        struct util_buf b;
        util_buf_init(&b, 0);
        CHECK_EQ(smtpgw_spool_read_content(sp, e, &b), 0);
        CHECK(b.len == sizeof big && memcmp(b.data, big, sizeof big) == 0);
        util_buf_free(&b);
        int fd = smtpgw_spool_content_fd(sp, e);
        CHECK(fd >= 0);
        if (fd >= 0)
            close(fd);
    }
    /* abort leaves nothing */
    w = smtpgw_spool_writer_new(sp, &err);
    CHECK_EQ(strlen(smtpgw_spool_writer_qid(w)), 12);
    smtpgw_spool_writer_write(w, "abc", 3);
    smtpgw_spool_writer_abort(w);
    CHECK_EQ(count_dir(pathf(dir, "tmp")), 0);
    CHECK_EQ((size_t)count_dir(pathf(dir, "data")), smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING));
    smtpgw_spool_close(sp);
}

TEST(add_copy_shares_content)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    struct smtpgw_envelope in, *a = NULL, *b = NULL;
    sample(&in);
    CHECK_EQ(smtpgw_spool_add_incoming(sp, &in, (const uint8_t *)MSG7, sizeof MSG7 - 1, &a), 0);
    if (!a) {
        smtpgw_spool_close(sp);
        return;
    }
    CHECK_EQ(smtpgw_spool_add_copy(sp, a, &in, SMTPGW_Q_OUTGOING, &b), 0);
    CHECK(b && strcmp(a->qid, b->qid) != 0);
    CHECK(b && b->size == a->size && b->content == a->content);
    CHECK_EQ(smtpgw_spool_remove(sp, a), 0);
    struct util_buf buf;
    util_buf_init(&buf, 0);
    if (b)
        CHECK_EQ(smtpgw_spool_read_content(sp, b, &buf), 0);
    CHECK_MEM(buf.data, buf.len, MSG7, sizeof MSG7 - 1);
    util_buf_free(&buf);
    smtpgw_spool_close(sp);
    sp = smtpgw_spool_open(dir, &err);
    CHECK_EQ(smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING), 1);
    CHECK_EQ(count_dir(pathf(dir, "corrupt")), 0);
    smtpgw_spool_close(sp);
}

TEST(invalid_envelopes_are_refused_without_trace)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    struct smtpgw_envelope in;
    sample(&in);
    in.n_rcpts = 0;
    CHECK_EQ(smtpgw_spool_add_outgoing(sp, &in, (const uint8_t *)"x", 1, NULL),
             SMTPGW_ERR_SPOOL_INVAL);
    sample(&in);
    R[0].dest = 2; /* no such destination */
    CHECK_EQ(smtpgw_spool_add_outgoing(sp, &in, (const uint8_t *)"x", 1, NULL),
             SMTPGW_ERR_SPOOL_INVAL);
    sample(&in);
    R[1].addr = "";
    CHECK_EQ(smtpgw_spool_add_outgoing(sp, &in, (const uint8_t *)"x", 1, NULL),
             SMTPGW_ERR_SPOOL_INVAL);
    sample(&in);
    D[0].node = 0;
    CHECK_EQ(smtpgw_spool_add_outgoing(sp, &in, (const uint8_t *)"x", 1, NULL),
             SMTPGW_ERR_SPOOL_INVAL);
    sample(&in);
    in.priority = 255; /* every P_MUL priority 0..255 is valid (ACP 142) */
    in.content = SMTPGW_CONTENT_BINARY + 1;
    CHECK_EQ(smtpgw_spool_add_outgoing(sp, &in, (const uint8_t *)"x", 1, NULL),
             SMTPGW_ERR_SPOOL_INVAL);
    sample(&in);
    in.n_rcpts = SMTPGW_MAX_RCPTS + 1;
    CHECK_EQ(smtpgw_spool_add_outgoing(sp, &in, (const uint8_t *)"x", 1, NULL),
             SMTPGW_ERR_SPOOL_TOO_BIG);
    sample(&in);
    struct smtpgw_spool_writer *w = smtpgw_spool_writer_new(sp, &err);
    CHECK_EQ(smtpgw_spool_writer_commit(w, &in, (enum smtpgw_queue)7, NULL),
             SMTPGW_ERR_SPOOL_INVAL);
    CHECK_EQ(count_dir(pathf(dir, "tmp")), 0);
    CHECK_EQ(count_dir(pathf(dir, "data")), 0);
    CHECK_EQ(count_dir(pathf(dir, "outgoing")), 0);
    CHECK_STR(smtpgw_spool_strerror(SMTPGW_ERR_SPOOL_DUPLICATE),
              "spool: message already spooled or delivered");
    CHECK_STR(smtpgw_queue_name(SMTPGW_Q_INCOMING), "incoming");
    CHECK_STR(smtpgw_rcpt_state_name(SMTPGW_RCPT_REPORTED), "reported");
    CHECK_STR(smtpgw_dest_state_name(SMTPGW_DEST_ACKED), "acked");
    smtpgw_spool_close(sp);
}

/* ---- recovery ---------------------------------------------------------------------- */

TEST(recovery_removes_unfinished_writes_and_orphans)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    struct smtpgw_envelope in, *e = NULL;
    sample(&in);
    smtpgw_spool_add_outgoing(sp, &in, (const uint8_t *)"keep", 4, &e);
    char keep[SMTPGW_QID_LEN];
    snprintf(keep, sizeof keep, "%s", e ? e->qid : "");
    smtpgw_spool_close(sp);
    /* crash points: content being written; envelope being written; content
     * renamed but the envelope never was (never acknowledged) */
    put(pathf(dir, "tmp/0000000A0000.d"), "partial content");
    put(pathf(dir, "tmp/0000000A0000.e"), "mule5066-envelope 1\nqid=0000000A0000\n");
    put(pathf(dir, "tmp/state"), "mule5066-spool-state 1\n");
    put(pathf(dir, "data/0000000B0000"), "orphan");
    log_reset();
    sp = smtpgw_spool_open(dir, &err);
    CHECK(sp != NULL);
    if (!sp)
        return;
    CHECK_EQ(count_dir(pathf(dir, "tmp")), 0);
    CHECK(!exists(pathf(dir, "data/0000000B0000")));
    CHECK_EQ(count_dir(pathf(dir, "data")), 1);
    CHECK_EQ(count_dir(pathf(dir, "corrupt")), 0);
    CHECK(smtpgw_spool_find(sp, keep) != NULL);
    CHECK_CONTAINS(logbuf, "spool-recover removed=tmp/0000000A0000.d reason=\"unfinished write\"");
    CHECK_CONTAINS(logbuf,
                   "spool-recover removed=data/0000000B0000 reason=\"content without envelope\"");
    CHECK_CONTAINS(logbuf, "tmp-removed=3 orphans=1");
    smtpgw_spool_close(sp);
}

TEST(corrupt_envelopes_are_quarantined_and_logged)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    struct smtpgw_envelope in, *e = NULL;
    sample(&in);
    smtpgw_spool_add_outgoing(sp, &in, (const uint8_t *)"x", 1, &e);
    char good[SMTPGW_QID_LEN];
    snprintf(good, sizeof good, "%s", e ? e->qid : "");
    char rel[300];
    snprintf(rel, sizeof rel, "outgoing/%s", good);
    char text[8192];
    snprintf(text, sizeof text, "%s", slurp(pathf(dir, rel), NULL));
    smtpgw_spool_close(sp);

    /* each a copy of the good envelope, broken one way */
    static const struct {
        const char *from, *to; /* replace (first occurrence); from NULL: the whole text */
        const char *whole;
    } breaks[] = {
        {"mule5066-envelope 1", "mule5066-envelope 2", NULL},
        {"\nflags=", "\nflagz=", NULL},
        {"\nend=\n", "\n", NULL},
        {"\nend=\n", "\nend=\nfrom=x\n", NULL},
        {"\npriority=3", "\npriority=256", NULL},
        {"\nrcpt.dest=1", "\nrcpt.dest=2", NULL},
        {"\nrcpt.state=open", "\nrcpt.state=opened", NULL},
        {"\ndest.state=acked", "\ndest.state=gone", NULL},
        {"\nsize=1", "\nsize=2", NULL},
        {"line1%0Aline2", "line1%0line2", NULL},
        {"line1%0Aline2", "line1%00line2", NULL},
        {"\narrival=", "\narrival=x", NULL},
        {"\nby=3600;RT", "\nby=3600;X", NULL},
        {"\ndest=10.0.0.2", "\ndest=0.0.0.0", NULL},
        {NULL, NULL, ""},
        {NULL, NULL, "garbage\0\n"},
    };
    char names[UTIL_ARRAY_LEN(breaks)][SMTPGW_QID_LEN];
    for (size_t i = 0; i < UTIL_ARRAY_LEN(breaks); i++) {
        snprintf(names[i], sizeof names[i], "%08X%04X", 0x100u + (unsigned)i, 0u);
        char bad[8192], *t = bad;
        if (breaks[i].whole) {
            snprintf(bad, sizeof bad, "%s", breaks[i].whole);
        } else {
            const char *at = strstr(text, breaks[i].from);
            CHECK(at != NULL);
            if (!at)
                continue;
            snprintf(bad, sizeof bad, "%.*s%s%s", (int)(at - text), text, breaks[i].to,
                     at + strlen(breaks[i].from));
        }
        /* its own queue id inside */
        char *q = strstr(bad, good);
        if (q)
            memcpy(q, names[i], 12);
        snprintf(rel, sizeof rel, "outgoing/%s", names[i]);
        put(pathf(dir, rel), t);
        snprintf(rel, sizeof rel, "data/%s", names[i]);
        put(pathf(dir, rel), "x");
    }
    /* an envelope whose content is gone; a file that is not a queue id; an id in both queues */
    snprintf(rel, sizeof rel, "incoming/%s", "0000FFFF0000");
    put(pathf(dir, rel), text);
    put(pathf(dir, "outgoing/README~"), "junk");
    snprintf(rel, sizeof rel, "incoming/%s", good);
    put(pathf(dir, rel), text);
    log_reset();
    sp = smtpgw_spool_open(dir, &err);
    CHECK(sp != NULL);
    if (!sp)
        return;
    CHECK_EQ(smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING) + smtpgw_spool_count(sp, SMTPGW_Q_INCOMING),
             1);
    CHECK(smtpgw_spool_find(sp, good) != NULL);
    for (size_t i = 0; i < UTIL_ARRAY_LEN(breaks); i++) {
        char line[300];
        snprintf(line, sizeof line, "smtpgw spool-corrupt qid=%s queue=outgoing reason=", names[i]);
        CHECK_CONTAINS(logbuf, line);
        snprintf(rel, sizeof rel, "corrupt/%s.outgoing.env", names[i]);
        CHECK(exists(pathf(dir, rel)));
        snprintf(rel, sizeof rel, "corrupt/%s.data", names[i]);
        CHECK(exists(pathf(dir, rel)));
    }
    CHECK_CONTAINS(logbuf, "qid=0000FFFF0000 queue=incoming reason=\"content missing\"");
    CHECK_CONTAINS(logbuf, "qid=README~ queue=outgoing reason=\"name is not a queue id\"");
    CHECK_CONTAINS(logbuf, "queue=incoming reason=\"queue id already in another queue\"");
    CHECK_CONTAINS(logbuf, "reason=\"unknown key: flagz\"");
    CHECK_CONTAINS(logbuf, "reason=\"no end line\"");
    CHECK_CONTAINS(logbuf, "reason=\"content size differs from the envelope\"");
    CHECK_EQ(count_dir(pathf(dir, "outgoing")), 1);
    CHECK_EQ(count_dir(pathf(dir, "incoming")), 0);
    smtpgw_spool_close(sp);
    /* and the next start is clean */
    log_reset();
    sp = smtpgw_spool_open(dir, &err);
    CHECK_CONTAINS(logbuf, "corrupt=0 tmp-removed=0 orphans=0");
    smtpgw_spool_close(sp);
}

/* ---- errors ------------------------------------------------------------------------ */

TEST(second_open_is_locked)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    struct smtpgw_spool *sp2 = smtpgw_spool_open(dir, &err);
    CHECK(sp2 == NULL);
    CHECK_EQ(err, SMTPGW_ERR_SPOOL_LOCKED);
    CHECK_CONTAINS(logbuf, "smtpgw spool-locked dir=");
    smtpgw_spool_close(sp);
    sp2 = smtpgw_spool_open(dir, &err);
    CHECK(sp2 != NULL);
    smtpgw_spool_close(sp2);
}

TEST(unusable_directories_fail_cleanly)
{
    int err = 0;
    /* below a regular file: mkdir fails (ENOTDIR), even for root */
    log_reset();
    CHECK(smtpgw_spool_open("/dev/null/spool", &err) == NULL);
    CHECK_EQ(err, SMTPGW_ERR_SPOOL_IO);
    CHECK_CONTAINS(logbuf, "smtpgw spool-io op=mkdir path=/dev/null/spool");
    /* a subdirectory's name taken by a file */
    const char *dir = newdir();
    mkdir(dir, 0700);
    put(pathf(dir, "data"), "not a directory");
    err = 0;
    CHECK(smtpgw_spool_open(dir, &err) == NULL);
    CHECK_EQ(err, SMTPGW_ERR_SPOOL_IO);
    /* a missing parent */
    err = 0;
    CHECK(smtpgw_spool_open("/nonexistent-dir-xyz/a/b", &err) == NULL);
    CHECK_EQ(err, SMTPGW_ERR_SPOOL_IO);
}

TEST(write_errors_leave_nothing_behind)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    struct smtpgw_envelope in;
    sample(&in);
    /* a file-size limit makes write() fail (EFBIG), as a full disk would */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 4096;
    setrlimit(RLIMIT_FSIZE, &lim);
    uint8_t big[100000];
    memset(big, 'a', sizeof big);
    log_reset();
    CHECK_EQ(smtpgw_spool_add_outgoing(sp, &in, big, sizeof big, NULL), SMTPGW_ERR_SPOOL_IO);
    CHECK_CONTAINS(logbuf, "smtpgw spool-io op=write");
    struct smtpgw_spool_writer *w = smtpgw_spool_writer_new(sp, &err);
    int rc = 0;
    for (int i = 0; i < 10 && rc == 0; i++)
        rc = smtpgw_spool_writer_write(w, big, 10000);
    CHECK_EQ(rc, SMTPGW_ERR_SPOOL_IO);
    CHECK_EQ(smtpgw_spool_writer_write(w, big, 1), SMTPGW_ERR_SPOOL_IO); /* sticky */
    CHECK_EQ(smtpgw_spool_writer_commit(w, &in, SMTPGW_Q_OUTGOING, NULL), SMTPGW_ERR_SPOOL_IO);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    CHECK_EQ(count_dir(pathf(dir, "tmp")), 0);
    CHECK_EQ(count_dir(pathf(dir, "data")), 0);
    CHECK_EQ(smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING), 0);
    CHECK_EQ(smtpgw_spool_add_outgoing(sp, &in, big, sizeof big, NULL), 0);
    smtpgw_spool_close(sp);
}

TEST(every_failing_operation_keeps_the_spool_consistent)
{
    /* make the nth file operation of each API call fail with EIO, for every
     * n until the call succeeds; the call reports an error, and a reopen
     * finds the old state or the new one, never a mix, never corrupt */
    struct smtpgw_envelope in;
    int calls_checked = 0;
    for (int op = 0; op < 6; op++) {
        for (long n = 1; n < 40; n++) {
            const char *dir = newdir();
            int err;
            struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
            sample(&in);
            in.src_node = 0x0a000001;
            in.src_msgid = 5;
            struct smtpgw_envelope *e = NULL;
            smtpgw_spool_add_incoming(sp, &in, (const uint8_t *)"base", 4, &e);
            char qid[SMTPGW_QID_LEN];
            memcpy(qid, e->qid, SMTPGW_QID_LEN);
            uint32_t v;
            smtpgw_spool_test_fault(n, 1);
            int rc = 0;
            switch (op) {
            case 0: rc = smtpgw_spool_add_outgoing(sp, &in, (const uint8_t *)MSG7, 10, NULL); break;
            case 1:
                e->attempts = 9;
                rc = smtpgw_spool_update(sp, e);
                break;
            case 2: rc = smtpgw_spool_move(sp, e, SMTPGW_Q_OUTGOING); break;
            case 3: rc = smtpgw_spool_remove(sp, e); break;
            case 4: rc = smtpgw_spool_alloc_message_id(sp, &v); break;
            case 5: rc = smtpgw_spool_add_copy(sp, e, &in, SMTPGW_Q_OUTGOING, NULL); break;
            }
            bool fired = smtpgw_spool_test_fault(0, 0) == 0;
            CHECK(rc == 0 || fired); /* no error without a fault */
            smtpgw_spool_close(sp);
            sp = smtpgw_spool_open(dir, &err);
            CHECK(sp != NULL);
            if (!sp)
                break;
            calls_checked++;
            CHECK_EQ(count_dir(pathf(dir, "corrupt")), 0);
            if (count_dir(pathf(dir, "corrupt")) != 0)
                printf("# op %d fault at %ld: %s", op, n, logbuf);
            log_reset();
            CHECK_EQ(count_dir(pathf(dir, "tmp")), 0);
            size_t total = smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING) +
                           smtpgw_spool_count(sp, SMTPGW_Q_INCOMING);
            CHECK_EQ((size_t)count_dir(pathf(dir, "data")), total);
            struct smtpgw_envelope *f = smtpgw_spool_find(sp, qid);
            switch (op) {
            case 0:
            case 5: CHECK(total == 2 || (total == 1 && fired)); break;
            case 1: CHECK(f && (f->attempts == 9 || (fired && f->attempts == 0))); break;
            case 2: CHECK(f && (f->queue == SMTPGW_Q_OUTGOING || fired)); break;
            case 3:
                CHECK(!f || fired);
                /* once the envelope is gone, the duplicate record is on disk */
                CHECK(f || smtpgw_spool_was_delivered(sp, 0x0a000001, 5));
                break;
            case 4: /* a failed allocation handed nothing out */
                smtpgw_spool_alloc_message_id(sp, &v);
                CHECK(v >= (fired ? 1u : 2u));
                break;
            }
            smtpgw_spool_close(sp);
            if (!fired)
                break;
        }
    }
    CHECK(calls_checked > 20);
}

TEST(killed_at_every_step_acknowledged_means_kept)
{
    /* a child process is killed (exits on the spot) at the nth file
     * operation of add + alloc + update + remove; it writes a note
     * outside the spool after each call returned 0 (what it would have
     * acknowledged).  The parent reopens: everything acknowledged is there
     * and whole, ids are never handed out twice, nothing is corrupt. */
    int runs = 0, completed = 0;
    for (long n = 1; n < 80 && !completed; n++) {
        const char *dir = newdir();
        char note[600];
        snprintf(note, sizeof note, "%s.note", dir);
        int err;
        struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
        struct smtpgw_envelope in;
        sample(&in);
        in.src_node = 0x0a000001;
        in.src_msgid = 77;
        smtpgw_spool_add_incoming(sp, &in, (const uint8_t *)"old", 3, NULL);
        smtpgw_spool_close(sp);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            util_log_set_level(UTIL_LOG_ERR);
            FILE *nf = fopen(note, "w");
            setvbuf(nf, NULL, _IONBF, 0);
            struct smtpgw_spool *c = smtpgw_spool_open(dir, &err);
            smtpgw_spool_test_fault(n, 2);
            struct smtpgw_envelope cin, *e = NULL;
            sample(&cin);
            uint32_t id, msn;
            if (smtpgw_spool_alloc_message_id(c, &id) == 0)
                fprintf(nf, "id %u\n", id);
            if (smtpgw_spool_alloc_msn(c, 0x0a000002, &msn) == 0)
                fprintf(nf, "msn %u\n", msn);
            if (smtpgw_spool_add_outgoing(c, &cin, (const uint8_t *)MSG7, sizeof MSG7 - 1, &e) == 0)
                fprintf(nf, "qid %s\n", e->qid);
            if (e) {
                e->dests[0].msgid = id;
                e->dests[0].msn = msn;
                if (smtpgw_spool_update(c, e) == 0)
                    fprintf(nf, "updated\n");
            }
            struct smtpgw_envelope *old = smtpgw_spool_find_incoming(c, 0x0a000001, 77);
            if (old && smtpgw_spool_remove(c, old) == 0)
                fprintf(nf, "removed\n");
            fprintf(nf, "complete\n");
            _exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        runs++;
        sp = smtpgw_spool_open(dir, &err);
        CHECK(sp != NULL);
        if (!sp)
            break;
        const char *t = slurp(note, NULL);
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", t ? t : "");
        unsigned id = 0, msn = 0;
        char qid[32] = "";
        const char *p;
        if ((p = strstr(buf, "id ")) != NULL)
            sscanf(p, "id %u", &id);
        if ((p = strstr(buf, "msn ")) != NULL)
            sscanf(p, "msn %u", &msn);
        if ((p = strstr(buf, "qid ")) != NULL)
            sscanf(p, "qid %12s", qid);
        uint32_t nid, nmsn;
        CHECK_EQ(smtpgw_spool_alloc_message_id(sp, &nid), 0);
        CHECK(nid > id);
        CHECK_EQ(smtpgw_spool_alloc_msn(sp, 0x0a000002, &nmsn), 0);
        CHECK(nmsn > msn);
        if (*qid) {
            struct smtpgw_envelope *e = smtpgw_spool_find(sp, qid);
            CHECK(e != NULL);
            struct util_buf b;
            util_buf_init(&b, 0);
            if (e)
                CHECK_EQ(smtpgw_spool_read_content(sp, e, &b), 0);
            CHECK_MEM(b.data, b.len, MSG7, sizeof MSG7 - 1);
            util_buf_free(&b);
            if (e && strstr(buf, "updated"))
                CHECK(e->dests[0].msgid == id && e->dests[0].msn == msn);
        }
        struct smtpgw_envelope *old = smtpgw_spool_find_incoming(sp, 0x0a000001, 77);
        if (strstr(buf, "removed"))
            CHECK(old == NULL);
        /* delivered once: either still spooled, or remembered as delivered */
        CHECK(smtpgw_spool_was_delivered(sp, 0x0a000001, 77));
        CHECK_EQ(count_dir(pathf(dir, "corrupt")), 0);
        CHECK_EQ(count_dir(pathf(dir, "tmp")), 0);
        size_t total =
            smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING) + smtpgw_spool_count(sp, SMTPGW_Q_INCOMING);
        CHECK_EQ((size_t)count_dir(pathf(dir, "data")), total);
        if (strstr(buf, "complete"))
            completed = 1;
        smtpgw_spool_close(sp);
    }
    CHECK(completed);
    CHECK(runs > 20);
    printf("# killed at %d different file operations\n", runs - 1);
}

/* ---- group commit --------------------------------------------------------------- */

struct done_log {
    int calls;
    char qid[8][SMTPGW_QID_LEN];
    int err[8];
    int order[8];
};

/* on_done - smtpgw_spool_sync's report: remember what was committed */
static void on_done(void *cbuser, void *user, struct smtpgw_envelope *env, int err)
{
    struct done_log *d = cbuser;
    int i = d->calls++;
    if (i >= 8)
        return;
    d->order[i] = (int)(intptr_t)user;
    d->err[i] = err;
    snprintf(d->qid[i], sizeof d->qid[i], "%s", env ? env->qid : "");
    CHECK((env != NULL) == (err == 0));
}

/* stage_one - a message (content MSG7 + i) staged with user tag i; 0 or error */
static int stage_one(struct smtpgw_spool *sp, int i, struct smtpgw_spool_dest *dd, size_t nd)
{
    struct smtpgw_envelope in;
    sample(&in);
    in.flags = 0;
    if (dd) {
        in.dests = dd;
        in.n_dests = (uint16_t)nd;
    }
    int err;
    struct smtpgw_spool_writer *w = smtpgw_spool_writer_new(sp, &err);
    if (!w)
        return err;
    char extra[8];
    snprintf(extra, sizeof extra, "%d\r\n", i);
    int rc = smtpgw_spool_writer_write(w, MSG7, sizeof MSG7 - 1);
    if (rc == 0)
        rc = smtpgw_spool_writer_write(w, extra, strlen(extra));
    if (rc != 0) {
        smtpgw_spool_writer_abort(w);
        return rc;
    }
    return smtpgw_spool_writer_stage(w, &in, SMTPGW_Q_OUTGOING, (void *)(intptr_t)i);
}

TEST(group_commit_stages_then_commits_together)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    CHECK(!smtpgw_spool_sync_pending(sp));
    /* ids given out in memory: one Message_ID shared, or one each (split) */
    struct smtpgw_spool_dest dd[2], ds[2];
    memset(dd, 0, sizeof dd);
    dd[0].node = 0x0a000002;
    dd[1].node = 0x0a000003;
    memcpy(ds, dd, sizeof ds);
    CHECK_EQ(smtpgw_spool_assign_ids(sp, dd, 2, false), 0);
    CHECK(dd[0].msgid != 0 && dd[0].msgid == dd[1].msgid);
    CHECK_EQ(dd[0].msn, 1);
    CHECK_EQ(dd[1].msn, 1);
    CHECK_EQ(smtpgw_spool_assign_ids(sp, ds, 2, true), 0);
    CHECK(ds[0].msgid > dd[0].msgid && ds[1].msgid > ds[0].msgid);
    CHECK_EQ(ds[0].msn, 2);
    CHECK(smtpgw_spool_sync_pending(sp)); /* the counters are not on disk yet */
    CHECK_EQ(stage_one(sp, 0, dd, 2), 0);
    CHECK_EQ(stage_one(sp, 1, ds, 2), 0);
    CHECK_EQ(stage_one(sp, 2, NULL, 0), 0);
    /* staged: in tmp/, not in the queue, not acknowledged */
    CHECK_EQ(smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING), 0);
    CHECK_EQ(count_dir(pathf(dir, "tmp")), 6);
    CHECK_EQ(count_dir(pathf(dir, "outgoing")), 0);
    struct done_log d;
    memset(&d, 0, sizeof d);
    CHECK_EQ(smtpgw_spool_sync(sp, on_done, &d), 3);
    CHECK_EQ(d.calls, 3);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(d.order[i], i);
        CHECK_EQ(d.err[i], 0);
    }
    CHECK(!smtpgw_spool_sync_pending(sp));
    CHECK_EQ(smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING), 3);
    CHECK_EQ(count_dir(pathf(dir, "tmp")), 0);
    CHECK_CONTAINS(logbuf, "spool-add");
    struct smtpgw_envelope *e0 = smtpgw_spool_find(sp, d.qid[0]);
    CHECK(e0 && e0->dests[0].msgid == dd[0].msgid && e0->dests[1].msn == 1);
    /* an update left for the next sync, and one made moot by a removal */
    e0->attempts = 4;
    smtpgw_spool_update_later(sp, e0);
    smtpgw_spool_update_later(sp, e0); /* twice is once */
    struct smtpgw_envelope *e2 = smtpgw_spool_find(sp, d.qid[2]);
    e2->attempts = 5;
    smtpgw_spool_update_later(sp, e2);
    CHECK_EQ(smtpgw_spool_remove(sp, e2), 0);
    CHECK(smtpgw_spool_sync_pending(sp));
    memset(&d.calls, 0, sizeof d.calls);
    CHECK_EQ(smtpgw_spool_sync(sp, on_done, &d), 0);
    CHECK_EQ(d.calls, 0);
    CHECK(!smtpgw_spool_sync_pending(sp));
    char q0[SMTPGW_QID_LEN], q1[SMTPGW_QID_LEN], q2[SMTPGW_QID_LEN];
    memcpy(q0, d.qid[0], sizeof q0);
    memcpy(q1, d.qid[1], sizeof q1);
    memcpy(q2, d.qid[2], sizeof q2);
    smtpgw_spool_close(sp);
    sp = smtpgw_spool_open(dir, &err);
    CHECK_EQ(smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING), 2);
    e0 = smtpgw_spool_find(sp, q0);
    CHECK(e0 && e0->attempts == 4);
    CHECK(smtpgw_spool_find(sp, q2) == NULL);
    struct smtpgw_envelope *e1 = smtpgw_spool_find(sp, q1);
    CHECK(e1 && e1->dests[1].msgid == ds[1].msgid);
    struct util_buf b;
    util_buf_init(&b, 0);
    CHECK_EQ(smtpgw_spool_read_content(sp, e1, &b), 0);
    char want[128];
    snprintf(want, sizeof want, "%s1\r\n", MSG7);
    CHECK_MEM(b.data, b.len, want, strlen(want));
    util_buf_free(&b);
    /* what was given out survived: never handed out again */
    uint32_t id, msn;
    CHECK_EQ(smtpgw_spool_alloc_message_id(sp, &id), 0);
    CHECK(id > ds[1].msgid);
    CHECK_EQ(smtpgw_spool_alloc_msn(sp, 0x0a000003, &msn), 0);
    CHECK_EQ(msn, 3);
    /* staged but never synced (the process stopped): nothing is acknowledged
     * and the tmp files go at the next open */
    CHECK_EQ(stage_one(sp, 7, NULL, 0), 0);
    smtpgw_spool_close(sp);
    sp = smtpgw_spool_open(dir, &err);
    CHECK_EQ(smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING), 2);
    CHECK_EQ(count_dir(pathf(dir, "tmp")), 0);
    smtpgw_spool_close(sp);
}

TEST(group_commit_fails_cleanly_at_every_operation)
{
    /* the nth file operation of a sync of three staged messages fails:
     * a message reported committed is on disk and whole after a reopen,
     * one reported failed is not, nothing is left in tmp/ or corrupt */
    int fired_runs = 0;
    for (long n = 1; n < 60; n++) {
        const char *dir = newdir();
        int err;
        struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
        struct smtpgw_spool_dest dd[2];
        memset(dd, 0, sizeof dd);
        dd[0].node = 0x0a000002;
        dd[1].node = 0x0a000003;
        smtpgw_spool_assign_ids(sp, dd, 2, false);
        for (int i = 0; i < 3; i++)
            CHECK_EQ(stage_one(sp, i, i == 0 ? dd : NULL, i == 0 ? 2 : 0), 0);
        struct done_log d;
        memset(&d, 0, sizeof d);
        smtpgw_spool_test_fault(n, 1);
        smtpgw_spool_sync(sp, on_done, &d);
        bool fired = smtpgw_spool_test_fault(0, 0) == 0;
        CHECK_EQ(d.calls, 3);
        int ok = 0;
        for (int i = 0; i < 3; i++)
            ok += d.err[i] == 0;
        CHECK(ok == 3 || fired);
        smtpgw_spool_close(sp);
        sp = smtpgw_spool_open(dir, &err);
        CHECK(sp != NULL);
        if (!sp)
            break;
        CHECK_EQ(count_dir(pathf(dir, "corrupt")), 0);
        CHECK_EQ(count_dir(pathf(dir, "tmp")), 0);
        CHECK_EQ(smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING), (size_t)ok);
        CHECK_EQ((size_t)count_dir(pathf(dir, "data")), (size_t)ok);
        for (int i = 0; i < 3; i++) {
            if (d.err[i])
                continue;
            struct smtpgw_envelope *e = smtpgw_spool_find(sp, d.qid[i]);
            CHECK(e != NULL);
            struct util_buf b;
            util_buf_init(&b, 0);
            if (e)
                CHECK_EQ(smtpgw_spool_read_content(sp, e, &b), 0);
            CHECK_EQ(b.len, sizeof MSG7 + 2);
            util_buf_free(&b);
        }
        if (d.err[0] == 0) { /* its Message_ID is never handed out again */
            uint32_t id;
            CHECK_EQ(smtpgw_spool_alloc_message_id(sp, &id), 0);
            CHECK(id > dd[0].msgid);
        }
        smtpgw_spool_close(sp);
        if (!fired)
            break;
        fired_runs++;
    }
    CHECK(fired_runs > 10);
    printf("# a sync failed at %d different file operations\n", fired_runs);
}

TEST(group_commit_killed_at_every_step_acknowledged_means_kept)
{
    /* a child stages three messages and is killed at the nth file operation
     * of the sync; it notes each message reported committed (what it would
     * have answered 250).  After a reopen every noted message is there,
     * whole, with its ids, and its Message_ID is never handed out again. */
    int runs = 0, completed = 0;
    for (long n = 1; n < 60 && !completed; n++) {
        const char *dir = newdir();
        char note[600];
        snprintf(note, sizeof note, "%s.note", dir);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            util_log_set_level(UTIL_LOG_ERR);
            int err;
            struct smtpgw_spool *c = smtpgw_spool_open(dir, &err);
            struct smtpgw_spool_dest dd[2];
            memset(dd, 0, sizeof dd);
            dd[0].node = 0x0a000002;
            dd[1].node = 0x0a000003;
            smtpgw_spool_assign_ids(c, dd, 2, false);
            for (int i = 0; i < 3; i++)
                stage_one(c, i, dd, 2);
            FILE *nf = fopen(note, "w");
            setvbuf(nf, NULL, _IONBF, 0);
            fprintf(nf, "msgid %u\n", dd[0].msgid);
            smtpgw_spool_test_fault(n, 2);
            struct done_log d;
            memset(&d, 0, sizeof d);
            smtpgw_spool_sync(c, on_done, &d);
            for (int i = 0; i < d.calls; i++)
                if (d.err[i] == 0)
                    fprintf(nf, "qid %s\n", d.qid[i]);
            fprintf(nf, "complete\n");
            _exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        runs++;
        int err;
        struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
        CHECK(sp != NULL);
        if (!sp)
            break;
        const char *t = slurp(note, NULL);
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", t ? t : "");
        unsigned msgid = 0;
        const char *p = strstr(buf, "msgid ");
        if (p)
            sscanf(p, "msgid %u", &msgid);
        int kept = 0;
        for (p = strstr(buf, "qid "); p; p = strstr(p + 4, "qid ")) {
            char qid[32] = "";
            sscanf(p, "qid %12s", qid);
            struct smtpgw_envelope *e = smtpgw_spool_find(sp, qid);
            CHECK(e != NULL);
            if (e)
                CHECK_EQ(e->dests[0].msgid, msgid);
            kept++;
        }
        if (kept) {
            uint32_t id;
            CHECK_EQ(smtpgw_spool_alloc_message_id(sp, &id), 0);
            CHECK(id > msgid);
        }
        CHECK(smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING) >= (size_t)kept);
        CHECK_EQ(count_dir(pathf(dir, "corrupt")), 0);
        CHECK_EQ(count_dir(pathf(dir, "tmp")), 0);
        CHECK_EQ((size_t)count_dir(pathf(dir, "data")), smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING));
        if (strstr(buf, "complete")) {
            completed = 1;
            CHECK_EQ(kept, 3);
        }
        smtpgw_spool_close(sp);
    }
    CHECK(completed);
    CHECK(runs > 10);
    printf("# sync killed at %d different file operations\n", runs - 1);
}

/* ---- memory ------------------------------------------------------------------------ */

TEST(ten_thousand_envelopes_fit_in_memory)
{
    const char *dir = newdir();
    int err;
    struct smtpgw_spool *sp = smtpgw_spool_open(dir, &err);
    struct smtpgw_envelope in, *e = NULL;
    sample(&in);
    smtpgw_spool_add_outgoing(sp, &in, (const uint8_t *)MSG7, sizeof MSG7 - 1, &e);
    char rel[64];
    snprintf(rel, sizeof rel, "outgoing/%s", e->qid);
    char text[8192];
    snprintf(text, sizeof text, "%s", slurp(pathf(dir, rel), NULL));
    char first[SMTPGW_QID_LEN];
    memcpy(first, e->qid, sizeof first);
    smtpgw_spool_close(sp);
    /* 10,000 copies written directly (no fsync: this is about memory) */
    for (int i = 0; i < 10000; i++) {
        char q[SMTPGW_QID_LEN], path[600], body[8192];
        snprintf(q, sizeof q, "%08X%04X", 0x20000000u, (unsigned)i);
        snprintf(body, sizeof body, "%s", text);
        char *at = strstr(body, first);
        memcpy(at, q, 12);
        snprintf(path, sizeof path, "%s/outgoing/%s", dir, q);
        put(path, body);
        snprintf(path, sizeof path, "%s/data/%s", dir, q);
        put(path, MSG7);
    }
    struct mallinfo2 before = mallinfo2();
    sp = smtpgw_spool_open(dir, &err);
    struct mallinfo2 after = mallinfo2();
    CHECK(sp != NULL);
    CHECK_EQ(smtpgw_spool_count(sp, SMTPGW_Q_OUTGOING), 10001);
    size_t used = after.uordblks - before.uordblks;
    if (after.uordblks == 0) /* a sanitizer's allocator: mallinfo knows nothing */
        used = 0;
    printf("# 10001 envelopes (3 recipients, 2 destinations each): %zu bytes of heap, %zu per "
           "message\n",
           used, used / 10001);
    CHECK(used < 8u * 1024 * 1024);
    int n = 0;
    for (e = smtpgw_spool_first(sp, SMTPGW_Q_OUTGOING); e; e = smtpgw_spool_next(sp, e))
        n++;
    CHECK_EQ(n, 10001);
    smtpgw_spool_close(sp);
}

int main(void)
{
    util_log_to_sink(log_sink, NULL);
    util_log_set_level(UTIL_LOG_DEBUG);
    RUN(open_creates_layout);
    RUN(add_outgoing_round_trip);
    RUN(queue_ids_unique_sorted_and_iteration);
    RUN(update_move_remove);
    RUN(duplicates_across_reopen);
    RUN(delivered_set_expiry_compaction_and_torn_line);
    RUN(counters_persist_and_rise_past_envelopes);
    RUN(corrupt_state_is_quarantined_and_ids_jump_past_the_past);
    RUN(writer_streams_and_classifies);
    RUN(add_copy_shares_content);
    RUN(invalid_envelopes_are_refused_without_trace);
    RUN(recovery_removes_unfinished_writes_and_orphans);
    RUN(corrupt_envelopes_are_quarantined_and_logged);
    RUN(second_open_is_locked);
    RUN(unusable_directories_fail_cleanly);
    RUN(write_errors_leave_nothing_behind);
    RUN(every_failing_operation_keeps_the_spool_consistent);
    RUN(killed_at_every_step_acknowledged_means_kept);
    RUN(group_commit_stages_then_commits_together);
    RUN(group_commit_fails_cleanly_at_every_operation);
    RUN(group_commit_killed_at_every_step_acknowledged_means_kept);
    RUN(ten_thousand_envelopes_fit_in_memory);
    cleanup();
    return harness_done();
}
