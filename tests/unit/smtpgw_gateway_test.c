/* smtpgw_gateway_test.c - the gateway engine (smtp-gw/gateway.h) driven
 * without a network, a clock or a LAN MTA: gateways are engines over real
 * spools in temporary directories, "P_MUL" is the test handing a submitted
 * message to another engine (and its acknowledgement back), and "the LAN
 * MTA" is the test answering each delivery.  Time is a number.
 *
 * Besides each DSN path (RFC 3461/3464: failed, delayed, relayed; at once,
 * once) and the receive rules (RFC 8494 section 3: by route, never by how
 * many nodes an Address_PDU lists), a fault matrix: every spool operation
 * of a transfer failing in turn, and each gateway "killed" after each of
 * its spool operations (every later operation fails, then it restarts from
 * what is on disk) - with the number of copies at the LAN sink and the
 * DSNs counted for each run: delivered once, or bounced.
 */
#include "harness.h"
#include "smtp-gw/gateway.h"

#include <ftw.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#define T0 1700000000LL

/* ---- a gateway under test ---------------------------------------------------------- */

struct sent {
    uint8_t *data;
    size_t len;
    uint32_t dests[8];
    size_t nd;
    uint8_t priority;
    int64_t expiry;
    uint32_t msgid;
    uint64_t handle;
    bool acked[8];
    bool cancelled;
    int held; /* the hold callback: 1 held, 0 never, -1 released */
};

struct node {
    const char *name;
    uint32_t self;
    char dir[512];
    struct smtpgw_spool *sp;
    struct smtpgw_gateway *gw;
    struct mule_config mule;
    struct mule_prio prio;
    struct smtpgw_gateway_config cfg;
    struct smtpgw_gateway_node_limit limits[4];
    /* faults: the operation numbered fail_at fails once; from crash_at on
     * every operation fails and the node is dead until restarted */
    int ops, fail_at, crash_at;
    bool dead;
    bool in_lan_window; /* inside the LAN MTA's 250 for a recipient */
    bool crashed_in_lan_window;
    /* what it did */
    struct sent sent[64];
    size_t n_sent;
    char deliveries[32][SMTPGW_QID_LEN];
    size_t n_deliveries;
    uint32_t next_msgid;
    uint64_t next_handle;
    char log[32768];
    size_t log_len;
    bool bearer_up;
};

/* newdir - a fresh directory path for a spool (not created) */
static void newdir(char *out, size_t cap)
{
    char tmpl[400];
    const char *t = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/gwtestXXXXXX", t && *t ? t : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d)
        abort();
    snprintf(out, cap, "%s/spool", d);
}

/* rm_entry - nftw: remove one entry */
static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

/* fault - count a spool operation; true when it must fail */
static bool fault(struct node *n)
{
    if (n->dead)
        return true;
    n->ops++;
    if (n->crash_at > 0 && n->ops >= n->crash_at) {
        n->dead = true;
        n->crashed_in_lan_window = n->in_lan_window;
        return true;
    }
    return n->ops == n->fail_at;
}

/* op_first - spool op */
static struct smtpgw_envelope *op_first(void *u, enum smtpgw_queue q)
{
    return smtpgw_spool_first(((struct node *)u)->sp, q);
}

/* op_next - spool op */
static struct smtpgw_envelope *op_next(void *u, struct smtpgw_envelope *e)
{
    return smtpgw_spool_next(((struct node *)u)->sp, e);
}

/* op_find - spool op */
static struct smtpgw_envelope *op_find(void *u, const char *qid)
{
    return smtpgw_spool_find(((struct node *)u)->sp, qid);
}

/* op_update - spool op (may fail) */
static int op_update(void *u, struct smtpgw_envelope *e)
{
    struct node *n = u;
    return fault(n) ? SMTPGW_ERR_SPOOL_IO : smtpgw_spool_update(n->sp, e);
}

/* op_update_later - spool op (lost when dead) */
static void op_update_later(void *u, struct smtpgw_envelope *e)
{
    struct node *n = u;
    if (!n->dead)
        smtpgw_spool_update_later(n->sp, e);
}

/* op_add - spool op (may fail) */
static int op_add(void *u, enum smtpgw_queue q, const struct smtpgw_envelope *env, const uint8_t *c, size_t len,
                  struct smtpgw_envelope **out)
{
    struct node *n = u;
    return fault(n) ? SMTPGW_ERR_SPOOL_IO : smtpgw_gateway_spool_real.add(n->sp, q, env, c, len, out);
}

/* op_add_copy - spool op (may fail) */
static int op_add_copy(void *u, const struct smtpgw_envelope *of, const struct smtpgw_envelope *env,
                       enum smtpgw_queue q, struct smtpgw_envelope **out)
{
    struct node *n = u;
    return fault(n) ? SMTPGW_ERR_SPOOL_IO : smtpgw_spool_add_copy(n->sp, of, env, q, out);
}

/* op_remove - spool op (may fail) */
static int op_remove(void *u, struct smtpgw_envelope *e)
{
    struct node *n = u;
    return fault(n) ? SMTPGW_ERR_SPOOL_IO : smtpgw_spool_remove(n->sp, e);
}

/* op_read_content - spool op (may fail) */
static int op_read_content(void *u, const struct smtpgw_envelope *e, struct util_buf *out)
{
    struct node *n = u;
    return fault(n) ? SMTPGW_ERR_SPOOL_IO : smtpgw_spool_read_content(n->sp, e, out);
}

/* op_was_delivered - spool op */
static bool op_was_delivered(void *u, uint32_t src, uint32_t msgid)
{
    return smtpgw_spool_was_delivered(((struct node *)u)->sp, src, msgid);
}

/* op_record_delivered - spool op (may fail) */
static int op_record_delivered(void *u, uint32_t src, uint32_t msgid, int64_t expiry)
{
    struct node *n = u;
    return fault(n) ? SMTPGW_ERR_SPOOL_IO : smtpgw_spool_record_delivered(n->sp, src, msgid, expiry);
}

static const struct smtpgw_gateway_spool_ops test_ops = {
    op_first,  op_next,     op_find,         op_update,        op_update_later,     op_add,
    op_add_copy, op_remove, op_read_content, op_was_delivered, op_record_delivered,
};

/* cb_log - keep the engine's lines */
static void cb_log(void *user, enum util_log_level level, const char *event, const char *text)
{
    struct node *n = user;
    (void)level;
    int w = snprintf(n->log + n->log_len, sizeof n->log - n->log_len, "%s %s\n", event, text);
    if (w > 0 && (size_t)w < sizeof n->log - n->log_len)
        n->log_len += (size_t)w;
}

/* cb_ready - the bearer */
static bool cb_ready(void *user)
{
    struct node *n = user;
    return n->bearer_up && !n->dead;
}

/* cb_submit - "P_MUL": keep the message for the test to carry */
static int cb_submit(void *user, struct pmul_message *pm, uint64_t *handle)
{
    struct node *n = user;
    if (n->dead || n->n_sent == UTIL_ARRAY_LEN(n->sent))
        return UTIL_ERR_NOMEM;
    struct sent *s = &n->sent[n->n_sent++];
    memset(s, 0, sizeof *s);
    s->data = malloc(pm->len);
    memcpy(s->data, pm->data, pm->len);
    s->len = pm->len;
    if (!pm->message_id)
        pm->message_id = ++n->next_msgid;
    for (size_t k = 0; k < pm->ndests && k < 8; k++) {
        s->dests[k] = pm->dests[k].id;
        if (!pm->dests[k].msn)
            pm->dests[k].msn = pm->message_id;
    }
    s->nd = pm->ndests;
    s->priority = pm->priority;
    s->expiry = pm->expiry;
    s->msgid = pm->message_id;
    s->handle = *handle = ++n->next_handle;
    return 0;
}

/* cb_cancel - the operator dropped a message in flight */
static void cb_cancel(void *user, uint64_t handle)
{
    struct node *n = user;
    for (size_t i = 0; i < n->n_sent; i++)
        if (n->sent[i].handle == handle)
            n->sent[i].cancelled = true;
}

/* cb_hold - the operator held or released a message in flight */
static void cb_hold(void *user, uint64_t handle, bool hold)
{
    struct node *n = user;
    for (size_t i = 0; i < n->n_sent; i++)
        if (n->sent[i].handle == handle)
            n->sent[i].held = hold ? 1 : -1;
}

/* cb_deliver - "the LAN MTA": the test answers */
static int cb_deliver(void *user, struct smtpgw_envelope *env)
{
    struct node *n = user;
    if (n->dead || n->n_deliveries == UTIL_ARRAY_LEN(n->deliveries))
        return SMTPGW_ERR_CLIENT_CONNECT;
    snprintf(n->deliveries[n->n_deliveries++], SMTPGW_QID_LEN, "%s", env->qid);
    return 0;
}

/* cb_date - mail dates */
static int64_t cb_date(void *user)
{
    (void)user;
    return T0;
}

static const struct smtpgw_gateway_callbacks test_cb = {
    .log = cb_log,
    .bearer_ready = cb_ready,
    .submit = cb_submit,
    .cancel = cb_cancel,
    .deliver = cb_deliver,
    .mail_date = cb_date,
    .hold = cb_hold,
};

/* node_open - (re)open the spool and a new engine over it */
static void node_open(struct node *n)
{
    int err = 0;
    n->sp = smtpgw_spool_open(n->dir, &err);
    if (!n->sp) {
        printf("# spool_open %s: %d\n", n->dir, err);
        abort();
    }
    n->gw = smtpgw_gateway_new(&n->cfg, &test_ops, n, &test_cb, n);
    n->dead = false;
    n->crash_at = 0;
    n->n_deliveries = 0;
}

/* node_init - a gateway: self, its local domain, and routes "dom=node[/via]" */
static void node_init(struct node *n, const char *name, uint32_t self, const char *local, ...)
{
    memset(n, 0, sizeof *n);
    n->name = name;
    n->self = self;
    newdir(n->dir, sizeof n->dir);
    mule_routes_init(&n->mule.routes);
    mule_routes_add_local(&n->mule.routes, local);
    va_list ap;
    va_start(ap, local);
    for (const char *r; (r = va_arg(ap, const char *));) {
        char dom[64];
        unsigned node = 0, via = 0;
        if (sscanf(r, "%63[^=]=%u/%u", dom, &node, &via) < 2)
            abort();
        mule_routes_add(&n->mule.routes, dom, node, via);
    }
    va_end(ap);
    n->mule.max_message_size = MULE_DEFAULT_MAX_MESSAGE;
    n->mule.max_envelope = MULE_DEFAULT_MAX_ENVELOPE;
    n->mule.compression_level = 9;
    mule_prio_defaults(&n->prio);
    n->cfg.self = self;
    n->cfg.hostname = name;
    n->cfg.mule = &n->mule;
    n->cfg.prio = &n->prio;
    smtpgw_retry_default(&n->cfg.retry);
    n->cfg.max_deliveries = 4;
    n->cfg.delay_warning = 4 * 3600;
    n->bearer_up = true;
    node_open(n);
}

/* node_crash_restart - the process died: forget memory, reopen from disk */
static void node_restart(struct node *n)
{
    smtpgw_gateway_free(n->gw);
    smtpgw_spool_close(n->sp);
    node_open(n);
}

/* node_free - close, forget, and remove its directory */
static void node_free(struct node *n)
{
    smtpgw_gateway_free(n->gw);
    smtpgw_spool_close(n->sp);
    mule_routes_free(&n->mule.routes);
    for (size_t i = 0; i < n->n_sent; i++)
        free(n->sent[i].data);
    char *slash = strrchr(n->dir, '/');
    if (slash) {
        *slash = '\0'; /* the mkdtemp directory above spool/ */
        nftw(n->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

/* sync_noop - group commit callback (nothing is staged in these tests) */
static void sync_noop(void *cbuser, void *user, struct smtpgw_envelope *env, int err)
{
    (void)cbuser;
    (void)user;
    (void)env;
    (void)err;
}

/* node_pass - the end of a loop pass: the group commit */
static void node_pass(struct node *n)
{
    if (!n->dead)
        smtpgw_spool_sync(n->sp, sync_noop, NULL);
}

/* count - messages in a queue */
static size_t count(struct node *n, enum smtpgw_queue q)
{
    return smtpgw_spool_count(n->sp, q);
}

/* ---- mail in ------------------------------------------------------------------------- */

/* smtp_in - a message from the LAN MTA: plan, spool (as the glue does), accept;
 * the SMTP code (0 = 250) */
static int smtp_in(struct node *n, int64_t now, const char *from, const char *mail_params, const char *const *rcpts,
                   const char *const *rparams, size_t nr, const char *msgid_hdr, size_t body_bytes)
{
    struct smtpgw_txn txn;
    memset(&txn, 0, sizeof txn);
    struct smtpgw_rcpt r[8];
    memset(r, 0, sizeof r);
    txn.mail_from = (char *)from;
    txn.mail_params = (char *)(mail_params ? mail_params : "");
    for (size_t i = 0; i < nr; i++) {
        r[i].addr = (char *)rcpts[i];
        r[i].params = (char *)(rparams && rparams[i] ? rparams[i] : "");
    }
    txn.rcpts = r;
    txn.n_rcpts = nr;
    for (size_t i = 0; i < nr; i++) {
        char text[256];
        int code = smtpgw_gateway_rcpt_check(n->gw, &txn, rcpts[i], text, sizeof text);
        if (code)
            return code;
    }
    util_buf_init(&txn.data, 0);
    char hdr[256];
    snprintf(hdr, sizeof hdr, "From: <%s>\r\nSubject: test\r\nMessage-ID: <%s>\r\n\r\n", from, msgid_hdr);
    util_buf_append(&txn.data, hdr, strlen(hdr));
    for (size_t k = 0; k < body_bytes; k += 64)
        util_buf_append(&txn.data, "a line of text to fill the message up to the size wanted, ok.\r\n", 64);
    struct smtpgw_gateway_intake in;
    char text[256];
    int code = smtpgw_gateway_plan(n->gw, now, &txn, txn.data.len, &in, text, sizeof text);
    if (code == 0) {
        smtpgw_spool_assign_ids(n->sp, in.dests, in.env.n_dests, n->mule.split);
        struct smtpgw_envelope *made = NULL;
        int rc = fault(n) ? SMTPGW_ERR_SPOOL_IO
                          : smtpgw_spool_add_outgoing(n->sp, &in.env, txn.data.data, txn.data.len, &made);
        smtpgw_gateway_intake_free(&in);
        if (rc < 0)
            code = 451;
        else
            smtpgw_gateway_on_accepted(n->gw, now, made);
    }
    util_buf_free(&txn.data);
    node_pass(n);
    return code;
}

/* ---- the air ------------------------------------------------------------------------- */

/* carry - hand every unacknowledged submission of `from` to each listed
 * destination that is one of `to` (alive); acknowledge what they take.
 * lose_ack: the destination takes it but the ack is lost.  Returns how
 * many were taken. */
static size_t carry(struct node *from, struct node **to, size_t nto, int64_t now, bool lose_ack)
{
    size_t taken = 0;
    for (size_t i = 0; i < from->n_sent; i++) {
        struct sent *s = &from->sent[i];
        if (s->cancelled)
            continue;
        for (size_t k = 0; k < s->nd; k++) {
            if (s->acked[k])
                continue;
            for (size_t t = 0; t < nto; t++) {
                struct node *n = to[t];
                if (n->self != s->dests[k] || n->dead)
                    continue;
                /* a retransmission lists only the destinations still open */
                uint32_t open[8];
                size_t no = 0;
                for (size_t j = 0; j < s->nd; j++)
                    if (!s->acked[j])
                        open[no++] = s->dests[j];
                struct pmul_rx_message m = {from->self, s->msgid, s->msgid, s->priority, s->expiry,
                                            s->data, s->len, open, no};
                int rc = smtpgw_gateway_on_pmul_message(n->gw, now, &m);
                node_pass(n);
                if (rc == 0 && !n->dead) {
                    taken++;
                    if (lose_ack)
                        continue;
                    s->acked[k] = true;
                    if (!from->dead) {
                        smtpgw_gateway_on_dest_done(from->gw, now, s->handle, s->msgid, n->self, PMUL_DEST_ACKED);
                        bool all = true;
                        for (size_t j = 0; j < s->nd; j++)
                            all &= s->acked[j];
                        if (all)
                            smtpgw_gateway_on_message_done(from->gw, now, s->handle, s->msgid, s->nd, 0);
                        node_pass(from);
                    }
                }
            }
        }
    }
    return taken;
}

/* expire_all - P_MUL gives up on every open destination of `from` */
static void expire_all(struct node *from, int64_t now)
{
    for (size_t i = 0; i < from->n_sent; i++) {
        struct sent *s = &from->sent[i];
        size_t failed = 0;
        for (size_t k = 0; k < s->nd; k++)
            if (!s->acked[k]) {
                s->acked[k] = true;
                failed++;
                smtpgw_gateway_on_dest_done(from->gw, now, s->handle, s->msgid, s->dests[k], PMUL_DEST_EXPIRED);
            }
        if (failed)
            smtpgw_gateway_on_message_done(from->gw, now, s->handle, s->msgid, s->nd - failed, failed);
    }
    node_pass(from);
}

/* ---- the LAN MTA ------------------------------------------------------------------- */

/* A LAN sink: every recipient a LAN MTA accepted, with the message's Message-ID. */
struct sink {
    char got[64][160];
    size_t n;
    int code;         /* its answer (250 by default) */
    bool offers_dsn;  /* advertises DSN */
};

/* sink_count - copies of (rcpt, Message-ID) accepted */
static size_t sink_count(const struct sink *k, const char *rcpt, const char *mid)
{
    char key[160];
    snprintf(key, sizeof key, "%s %s", rcpt, mid);
    size_t c = 0;
    for (size_t i = 0; i < k->n; i++)
        c += strcmp(k->got[i], key) == 0;
    return c;
}

/* header_value - the Message-ID in a message, into out */
static void message_id(const struct util_buf *b, char *out, size_t cap)
{
    snprintf(out, cap, "?");
    const char *p = memmem(b->data, b->len, "Message-ID: <", 13);
    if (!p)
        return;
    p += 13;
    const char *e = memchr(p, '>', b->len - (size_t)(p - (const char *)b->data));
    if (e)
        snprintf(out, cap, "%.*s", (int)(e - p), p);
}

/* lan - answer every delivery the node started; how many sessions */
static size_t lan(struct node *n, struct sink *k, int64_t now)
{
    size_t sessions = 0;
    while (n->n_deliveries && !n->dead) {
        char qid[SMTPGW_QID_LEN];
        snprintf(qid, sizeof qid, "%s", n->deliveries[0]);
        memmove(n->deliveries, n->deliveries + 1, --n->n_deliveries * sizeof n->deliveries[0]);
        struct smtpgw_envelope *env = smtpgw_spool_find(n->sp, qid);
        if (!env)
            continue;
        sessions++;
        struct util_buf content;
        util_buf_init(&content, 0);
        smtpgw_spool_read_content(n->sp, env, &content);
        char mid[100];
        message_id(&content, mid, sizeof mid);
        util_buf_free(&content);
        for (size_t i = 0; i < env->n_rcpts && !n->dead; i++) {
            if (env->rcpts[i].state != SMTPGW_RCPT_OPEN)
                continue;
            int code = k->code ? k->code : 250;
            if (code / 100 == 2 && k->n < UTIL_ARRAY_LEN(k->got))
                snprintf(k->got[k->n++], sizeof k->got[0], "%s %s", env->rcpts[i].addr, mid);
            n->in_lan_window = true;
            smtpgw_gateway_on_rcpt_result(n->gw, now, env, i, code, code / 100 == 2 ? "2.0.0" : "5.1.1",
                                          code / 100 == 2 ? "250 2.0.0 Ok" : "550 5.1.1 no such user",
                                          k->offers_dsn);
            n->in_lan_window = false;
        }
        if (!n->dead)
            smtpgw_gateway_on_delivery_done(n->gw, now, env, 0);
        node_pass(n);
    }
    return sessions;
}

/* dsn_count - DSN messages a node spooled or delivered, by action */
static size_t log_count(const struct node *n, const char *needle)
{
    size_t c = 0;
    for (const char *p = n->log; (p = strstr(p, needle)); p++)
        c++;
    return c;
}

/* ---- tests ------------------------------------------------------------------------- */

static const char *const bob[] = {"bob@bravo.example"};

/* three gateways: alpha (1), bravo (2), charlie (3); delta (4) only via bravo */
static void net3(struct node *a, struct node *b, struct node *c)
{
    node_init(a, "alpha", 1, "alpha.example", "bravo.example=2", "charlie.example=3", "delta.example=4/2", NULL);
    node_init(b, "bravo", 2, "bravo.example", "alpha.example=1", "charlie.example=3", "delta.example=4/2", NULL);
    node_init(c, "charlie", 3, "charlie.example", "alpha.example=1", "bravo.example=2", "delta.example=4/2", NULL);
}

TEST(message_goes_once_and_leaves_both_spools)
{
    struct node a, b, c;
    net3(&a, &b, &c);
    struct sink sb = {.code = 250};
    const char *np[] = {"NOTIFY=SUCCESS,FAILURE"};
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", bob, np, 1, "m1@alpha", 100), 0);
    CHECK_EQ(a.n_sent, 1);
    CHECK_EQ(a.sent[0].nd, 1);
    CHECK_EQ(a.sent[0].dests[0], 2);
    struct node *to[] = {&b, &c};
    CHECK_EQ(carry(&a, to, 2, T0 + 10, false), 1);
    CHECK_EQ(count(&a, SMTPGW_Q_OUTGOING), 0);
    smtpgw_gateway_tick(b.gw, T0 + 10);
    CHECK_EQ(lan(&b, &sb, T0 + 11), 1);
    CHECK_EQ(sink_count(&sb, "bob@bravo.example", "m1@alpha"), 1);
    CHECK_EQ(count(&b, SMTPGW_Q_INCOMING), 0);
    /* the ack at alpha is not the end of the DSN chain: no "relayed" DSN
     * there; bravo's LAN MTA does not offer DSN: bravo sends "relayed" */
    CHECK_EQ(log_count(&a, "action=relayed"), 0);
    CHECK_EQ(log_count(&b, "action=relayed"), 1);
    CHECK_EQ(count(&b, SMTPGW_Q_OUTGOING), 1); /* the DSN to alpha.example, over HF */
    CHECK_EQ(b.n_sent, 1);                     /* ... submitted at once */
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

TEST(lan_mta_with_dsn_gets_notify_and_no_relayed_dsn_is_sent)
{
    struct node a, b, c;
    net3(&a, &b, &c);
    struct sink sb = {.code = 250, .offers_dsn = true};
    const char *np[] = {"NOTIFY=SUCCESS"};
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", bob, np, 1, "m1@alpha", 10), 0);
    struct node *to[] = {&b};
    carry(&a, to, 1, T0 + 5, false);
    smtpgw_gateway_tick(b.gw, T0 + 5);
    lan(&b, &sb, T0 + 6);
    CHECK_EQ(sink_count(&sb, "bob@bravo.example", "m1@alpha"), 1);
    CHECK_EQ(log_count(&b, " dsn "), 0);
    CHECK_EQ(log_count(&a, " dsn "), 0);
    CHECK_EQ(b.n_sent, 0);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

TEST(receiver_takes_recipients_by_route_not_by_listed_destinations)
{
    /* one message to bravo and charlie; bravo is away while charlie acks;
     * the retransmission that bravo finally gets lists only bravo: it must
     * not take (and relay) charlie's recipient */
    struct node a, b, c;
    net3(&a, &b, &c);
    struct sink sb = {.code = 250}, sc = {.code = 250};
    const char *rc2[] = {"bob@bravo.example", "carol@charlie.example"};
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", rc2, NULL, 2, "m2@alpha", 10), 0);
    CHECK_EQ(a.n_sent, 1);
    CHECK_EQ(a.sent[0].nd, 2);
    struct node *only_c[] = {&c};
    CHECK_EQ(carry(&a, only_c, 1, T0 + 5, false), 1);
    struct node *only_b[] = {&b};
    CHECK_EQ(carry(&a, only_b, 1, T0 + 600, false), 1);
    for (int k = 0; k < 3; k++) {
        smtpgw_gateway_tick(b.gw, T0 + 601 + k);
        smtpgw_gateway_tick(c.gw, T0 + 601 + k);
        lan(&b, &sb, T0 + 601 + k);
        lan(&c, &sc, T0 + 601 + k);
        struct node *all[] = {&b, &c};
        carry(&b, all, 2, T0 + 601 + k, false);
        carry(&c, all, 2, T0 + 601 + k, false);
    }
    CHECK_EQ(sink_count(&sb, "bob@bravo.example", "m2@alpha"), 1);
    CHECK_EQ(sink_count(&sc, "carol@charlie.example", "m2@alpha"), 1);
    CHECK_EQ(sb.n + sc.n, 2);
    CHECK_EQ(b.n_sent, 0); /* nothing relayed */
    CHECK_EQ(count(&a, SMTPGW_Q_OUTGOING), 0);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

TEST(relay_through_a_node_even_when_its_copy_fails_once)
{
    struct node a, b, c, d;
    net3(&a, &b, &c);
    node_init(&d, "delta", 4, "delta.example", "alpha.example=1", NULL);
    struct sink sd = {.code = 250};
    const char *dl[] = {"dan@delta.example"};
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", dl, NULL, 1, "m3@alpha", 10), 0);
    CHECK_EQ(a.sent[0].dests[0], 2); /* first hop: bravo */
    b.fail_at = b.ops + 2;           /* the incoming message spools; its relay copy does not */
    struct node *to_b[] = {&b};
    CHECK_EQ(carry(&a, to_b, 1, T0 + 5, false), 1); /* acknowledged: it is on disk */
    CHECK_EQ(log_count(&b, "relay-spool-failed"), 1);
    CHECK_EQ(b.n_sent, 0);
    CHECK_EQ(count(&b, SMTPGW_Q_INCOMING), 1); /* kept, state relay */
    /* the sender's retransmission (ack lost) is a duplicate, not a loss */
    a.sent[0].acked[0] = false;
    CHECK_EQ(carry(&a, to_b, 1, T0 + 6, true), 1);
    CHECK(log_count(&b, "duplicate") >= 1);
    smtpgw_gateway_tick(b.gw, T0 + 7); /* tried again */
    node_pass(&b);
    CHECK_EQ(b.n_sent, 1);
    CHECK_EQ(b.sent[0].dests[0], 4);
    CHECK_EQ(count(&b, SMTPGW_Q_INCOMING), 0);
    smtpgw_gateway_tick(b.gw, T0 + 8); /* nothing twice */
    CHECK_EQ(b.n_sent, 1);
    struct node *to_d[] = {&d};
    carry(&b, to_d, 1, T0 + 9, false);
    smtpgw_gateway_tick(d.gw, T0 + 9);
    lan(&d, &sd, T0 + 10);
    CHECK_EQ(sink_count(&sd, "dan@delta.example", "m3@alpha"), 1);
    CHECK_EQ(count(&b, SMTPGW_Q_OUTGOING), 0);
    node_free(&a);
    node_free(&b);
    node_free(&c);
    node_free(&d);
}

TEST(far_550_bounces_back_over_hf_at_once)
{
    struct node a, b, c;
    net3(&a, &b, &c);
    struct sink sa = {.code = 250}, sb = {.code = 550};
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", bob, NULL, 1, "m4@alpha", 10), 0);
    struct node *to_b[] = {&b};
    carry(&a, to_b, 1, T0 + 5, false);
    smtpgw_gateway_tick(b.gw, T0 + 5);
    lan(&b, &sb, T0 + 6);
    CHECK_EQ(log_count(&b, "action=failed"), 1);
    CHECK_EQ(b.n_sent, 1); /* the DSN is on the air without a tick, a restart or mulectl */
    struct node *to_a[] = {&a};
    CHECK_EQ(carry(&b, to_a, 1, T0 + 7, false), 1);
    smtpgw_gateway_tick(a.gw, T0 + 7);
    lan(&a, &sa, T0 + 8);
    CHECK_EQ(sa.n, 1);
    CHECK_CONTAINS(sa.got[0], "alice@alpha.example");
    CHECK_EQ(count(&b, SMTPGW_Q_INCOMING) + count(&b, SMTPGW_Q_OUTGOING), 0);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

TEST(too_big_for_the_receiver_is_a_failed_dsn_not_a_silent_ack)
{
    struct node a, b, c;
    net3(&a, &b, &c);
    b.mule.max_message_size = 20000;
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", bob, NULL, 1, "m5@alpha", 40000), 0);
    struct node *to_b[] = {&b};
    CHECK_EQ(carry(&a, to_b, 1, T0 + 5, false), 1);
    CHECK_EQ(log_count(&b, "rx-too-big"), 1);
    CHECK_EQ(log_count(&b, "action=failed"), 1);
    CHECK_EQ(b.n_sent, 1); /* the DSN, over HF to alpha */
    CHECK_EQ(b.sent[0].dests[0], 1);
    CHECK_EQ(count(&b, SMTPGW_Q_INCOMING), 0);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

TEST(sender_refuses_what_the_far_node_cannot_take)
{
    struct node a, b, c;
    net3(&a, &b, &c);
    a.limits[0].node = 2;
    a.limits[0].max_message_size = 20000;
    a.cfg.limits = a.limits;
    a.cfg.n_limits = 1;
    node_restart(&a);
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", bob, NULL, 1, "m6@alpha", 40000), 552);
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", bob, NULL, 1, "m7@alpha", 1000), 0);
    /* MAIL SIZE= is checked at RCPT */
    struct smtpgw_txn txn;
    memset(&txn, 0, sizeof txn);
    txn.size = 30000;
    char text[200];
    CHECK_EQ(smtpgw_gateway_rcpt_check(a.gw, &txn, "bob@bravo.example", text, sizeof text), 552);
    CHECK_CONTAINS(text, "5.3.4");
    CHECK_EQ(smtpgw_gateway_rcpt_check(a.gw, &txn, "carol@charlie.example", text, sizeof text), 0);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

TEST(misrouted_message_is_bounced_not_acked_and_dropped)
{
    /* alpha relays delta.example through bravo, but bravo's route for it
     * does not name bravo as the relay: nothing in it is bravo's */
    struct node a, b, c;
    net3(&a, &b, &c);
    node_free(&b);
    node_init(&b, "bravo", 2, "bravo.example", "alpha.example=1", "charlie.example=3", "delta.example=4", NULL);
    const char *dl[] = {"dan@delta.example"};
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", dl, NULL, 1, "m13@alpha", 10), 0);
    struct node *to_b[] = {&b};
    CHECK_EQ(carry(&a, to_b, 1, T0 + 5, false), 1);
    CHECK_EQ(log_count(&b, "misrouted"), 1);
    CHECK_EQ(log_count(&b, "action=failed"), 1);
    CHECK_EQ(b.n_sent, 1); /* the DSN back to alpha, nothing to delta */
    CHECK_EQ(b.sent[0].dests[0], 1);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

TEST(not_mule_is_not_acknowledged)
{
    struct node a, b, c;
    net3(&a, &b, &c);
    static const uint8_t junk[] = {0x30, 0x03, 0x80, 0x01, 0x07};
    uint32_t dests[] = {2};
    struct pmul_rx_message m = {1, 77, 1, 6, T0 + 3600, junk, sizeof junk, dests, 1};
    CHECK(smtpgw_gateway_on_pmul_message(b.gw, T0, &m) < 0);
    CHECK_EQ(log_count(&b, "rx-refused"), 1);
    CHECK_EQ(count(&b, SMTPGW_Q_INCOMING), 0);
    /* every retransmission is refused again; the log says so 5 times a minute */
    for (int k = 0; k < 100; k++)
        CHECK(smtpgw_gateway_on_pmul_message(b.gw, T0 + 1, &m) < 0);
    CHECK_EQ(log_count(&b, "rx-refused"), 5);
    CHECK(smtpgw_gateway_on_pmul_message(b.gw, T0 + 61, &m) < 0);
    CHECK_EQ(log_count(&b, "rx-refused"), 6);
    CHECK_EQ(log_count(&b, "suppressed=96"), 1);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

TEST(every_pmul_priority_is_taken)
{
    struct node a, b, c;
    net3(&a, &b, &c);
    struct sink sb = {.code = 250};
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", bob, NULL, 1, "m8@alpha", 10), 0);
    static const unsigned prios[] = {16, 200, 255};
    for (size_t k = 0; k < 3; k++) {
        struct sent *s = &a.sent[0];
        uint32_t dests[] = {2};
        struct pmul_rx_message m = {1, 100 + (uint32_t)k, 1, (uint8_t)prios[k], T0 + 3600, s->data, s->len, dests, 1};
        CHECK_EQ(smtpgw_gateway_on_pmul_message(b.gw, T0, &m), 0);
        node_pass(&b);
    }
    smtpgw_gateway_tick(b.gw, T0 + 1);
    lan(&b, &sb, T0 + 1);
    CHECK_EQ(sink_count(&sb, "bob@bravo.example", "m8@alpha"), 3);
    CHECK_EQ(count(&b, SMTPGW_Q_INCOMING), 0);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

TEST(expired_destination_bounces_once)
{
    struct node a, b, c;
    net3(&a, &b, &c);
    struct sink sa = {.code = 250};
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", bob, NULL, 1, "m9@alpha", 10), 0);
    expire_all(&a, T0 + 7200);
    CHECK_EQ(log_count(&a, "action=failed"), 1);
    smtpgw_gateway_tick(a.gw, T0 + 7201);
    lan(&a, &sa, T0 + 7201);
    CHECK_EQ(sa.n, 1);
    smtpgw_gateway_tick(a.gw, T0 + 7300);
    CHECK_EQ(log_count(&a, "action=failed"), 1);
    CHECK_EQ(count(&a, SMTPGW_Q_OUTGOING) + count(&a, SMTPGW_Q_INCOMING), 0);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

TEST(delay_dsn_once_after_the_warning_time)
{
    struct node a, b, c;
    net3(&a, &b, &c);
    a.cfg.delay_warning = 3600;
    node_restart(&a);
    const char *none[] = {""}, *never[] = {"NOTIFY=NEVER"};
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", bob, none, 1, "m10@alpha", 10), 0);
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", bob, never, 1, "m11@alpha", 10), 0);
    smtpgw_gateway_tick(a.gw, T0 + 3599);
    CHECK_EQ(log_count(&a, "action=delayed"), 0);
    CHECK(smtpgw_gateway_next_expiry(a.gw, T0 + 3599) <= T0 + 3600);
    smtpgw_gateway_tick(a.gw, T0 + 3600);
    CHECK_EQ(log_count(&a, "action=delayed"), 1);
    node_pass(&a);
    node_restart(&a); /* once, also across a restart */
    smtpgw_gateway_tick(a.gw, T0 + 7200);
    CHECK_EQ(log_count(&a, "action=delayed"), 1);
    CHECK_EQ(log_count(&a, "rcpts=1 to=<alice@alpha.example>"), 1); /* m11 said NOTIFY=NEVER */
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

TEST(deliverby_notify_deadline_sends_a_delay_dsn)
{
    struct node a, b, c;
    net3(&a, &b, &c);
    a.cfg.delay_warning = 0; /* off: only the BY deadline */
    node_restart(&a);
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "BY=600;N", bob, NULL, 1, "m12@alpha", 10), 0);
    smtpgw_gateway_tick(a.gw, T0 + 599);
    CHECK_EQ(log_count(&a, "action=delayed"), 0);
    smtpgw_gateway_tick(a.gw, T0 + 600);
    CHECK_EQ(log_count(&a, "action=delayed"), 1);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

TEST(operator_drop_hold_release_retry)
{
    struct node a, b, c;
    net3(&a, &b, &c);
    a.bearer_up = false; /* nothing leaves: the operator acts on the queue */
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", bob, NULL, 1, "m14@alpha", 10), 0);
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", bob, NULL, 1, "m15@alpha", 10), 0);
    struct smtpgw_envelope *e1 = smtpgw_spool_first(a.sp, SMTPGW_Q_OUTGOING);
    struct smtpgw_envelope *e2 = smtpgw_spool_next(a.sp, e1);
    char q1[SMTPGW_QID_LEN], q2[SMTPGW_QID_LEN];
    snprintf(q1, sizeof q1, "%s", e1->qid);
    snprintf(q2, sizeof q2, "%s", e2->qid);
    CHECK_EQ(smtpgw_gateway_hold(a.gw, T0 + 1, q1), 1);
    CHECK_EQ(smtpgw_gateway_hold(a.gw, T0 + 1, q1), SMTPGW_ERR_CTL_STATE);
    CHECK_EQ(smtpgw_gateway_drop(a.gw, T0 + 1, "NOSUCHQID"), SMTPGW_ERR_CTL_NOTFOUND);
    a.bearer_up = true;
    smtpgw_gateway_tick(a.gw, T0 + 2);
    CHECK_EQ(a.n_sent, 1); /* the held one stays */
    CHECK_EQ(smtpgw_gateway_release(a.gw, T0 + 3, q1), 1);
    CHECK_EQ(a.n_sent, 2);
    CHECK_EQ(smtpgw_gateway_retry(a.gw, T0 + 4, q2), 0); /* P_MUL is at it */
    /* hold in flight: P_MUL stops its PDUs at once; release: it goes on */
    CHECK_EQ(a.sent[1].held, 0);
    CHECK_EQ(smtpgw_gateway_hold(a.gw, T0 + 4, q1), 1);
    CHECK_EQ(a.sent[1].held, 1);
    CHECK_EQ(a.sent[0].held, 0); /* the other message's flight is not touched */
    CHECK_EQ(smtpgw_gateway_release(a.gw, T0 + 4, q1), 1);
    CHECK_EQ(a.sent[1].held, -1);
    CHECK_EQ(a.n_sent, 2); /* not submitted twice */
    /* drop in flight: P_MUL cancels; its dest_done fails it with a DSN */
    CHECK_EQ(smtpgw_gateway_drop(a.gw, T0 + 5, q2), 1);
    CHECK(a.sent[0].cancelled || a.sent[1].cancelled);
    for (size_t i = 0; i < a.n_sent; i++)
        if (a.sent[i].cancelled) {
            smtpgw_gateway_on_dest_done(a.gw, T0 + 5, a.sent[i].handle, a.sent[i].msgid, 2, PMUL_DEST_CANCELLED);
            smtpgw_gateway_on_message_done(a.gw, T0 + 5, a.sent[i].handle, a.sent[i].msgid, 0, 1);
        }
    node_pass(&a);
    CHECK_EQ(log_count(&a, "action=failed"), 1);
    CHECK(smtpgw_spool_find(a.sp, q2) == NULL);
    CHECK(smtpgw_spool_find(a.sp, q1) != NULL);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

TEST(lan_deferrals_retry_then_bounce_at_max_age)
{
    struct node a, b, c;
    net3(&a, &b, &c);
    b.cfg.retry.first_s = 60;
    b.cfg.retry.max_s = 600;
    b.cfg.retry.max_age_s = 3600;
    b.cfg.delay_warning = 0;
    node_restart(&b);
    struct sink sb = {.code = 451};
    CHECK_EQ(smtp_in(&a, T0, "alice@alpha.example", "", bob, NULL, 1, "m16@alpha", 10), 0);
    struct node *to_b[] = {&b};
    carry(&a, to_b, 1, T0, false);
    size_t sessions = 0;
    for (int64_t t = T0; t <= T0 + 4000; t += 30) {
        smtpgw_gateway_tick(b.gw, t);
        sessions += lan(&b, &sb, t);
    }
    /* 60, 120, 240, 480, 600, 600... after the first: retried, never faster than retry_first */
    CHECK(sessions >= 5 && sessions <= 10);
    CHECK_EQ(log_count(&b, "action=failed"), 1); /* bounced once at max_age */
    CHECK_EQ(b.n_sent, 1);
    CHECK_EQ(count(&b, SMTPGW_Q_INCOMING), 0);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

/* one transfer alpha -> bravo -> bravo's LAN, with faults; the copies at
 * the sink, the failed DSNs alpha's LAN got, and whether a kill landed
 * between the LAN MTA's 250 and its record */
struct outcome {
    size_t copies, bounces;
    bool lan_window;
};

/* transfer - drive one message to the end (or 60 rounds) */
static struct outcome transfer(int a_fail, int a_crash, int b_fail, int b_crash)
{
    struct node a, b, c;
    net3(&a, &b, &c);
    struct sink sa = {.code = 250}, sb = {.code = 250};
    a.fail_at = a_fail ? a.ops + a_fail : 0;
    a.crash_at = a_crash ? a.ops + a_crash : 0;
    b.fail_at = b_fail ? b.ops + b_fail : 0;
    b.crash_at = b_crash ? b.ops + b_crash : 0;
    int64_t now = T0;
    int code = smtp_in(&a, now, "alice@alpha.example", "", bob, NULL, 1, "mx@alpha", 10);
    struct outcome o = {0, 0, false};
    bool accepted = code == 0 && !(a.dead && count(&a, SMTPGW_Q_OUTGOING) == 0);
    for (int round = 0; round < 60; round++) {
        now += 120;
        struct node *to_b[] = {&b}, *to_a[] = {&a};
        carry(&a, to_b, 1, now, false);
        carry(&b, to_a, 1, now, false);
        for (struct node *n = &a; n; n = n == &a ? &b : NULL) {
            if (n->dead) {
                o.lan_window |= n->crashed_in_lan_window;
                node_restart(n);
                for (size_t i = 0; i < n->n_sent; i++) /* P_MUL state is gone too */
                    n->sent[i].cancelled = true;
            }
            smtpgw_gateway_tick(n->gw, now);
            node_pass(n);
        }
        lan(&a, &sa, now);
        lan(&b, &sb, now);
        if (count(&a, SMTPGW_Q_OUTGOING) + count(&a, SMTPGW_Q_INCOMING) + count(&b, SMTPGW_Q_OUTGOING) +
                count(&b, SMTPGW_Q_INCOMING) ==
            0)
            break;
    }
    o.copies = sink_count(&sb, "bob@bravo.example", "mx@alpha");
    o.bounces = sa.n;
    if (!accepted && o.copies == 0)
        o.bounces = 1; /* never answered 250: the LAN MTA keeps it (not ours to lose) */
    node_free(&a);
    node_free(&b);
    node_free(&c);
    return o;
}

/* check_outcome - delivered once (twice only if killed inside the LAN window), or bounced */
static bool check_outcome(const char *what, int k, struct outcome o)
{
    bool good = (o.copies == 1 || (o.copies == 2 && o.lan_window) || (o.copies == 0 && o.bounces >= 1));
    if (!good)
        printf("# %s at operation %d: %zu copies, %zu bounces, lan_window=%d\n", what, k, o.copies, o.bounces,
               o.lan_window);
    return good;
}

TEST(fault_matrix_each_spool_operation_failing_once)
{
    for (int k = 1; k <= 40; k++) {
        CHECK(check_outcome("alpha's spool failing", k, transfer(k, 0, 0, 0)));
        CHECK(check_outcome("bravo's spool failing", k, transfer(0, 0, k, 0)));
    }
}

TEST(fault_matrix_each_gateway_killed_after_each_operation)
{
    size_t windows = 0;
    for (int k = 1; k <= 40; k++) {
        struct outcome oa = transfer(0, k, 0, 0), ob = transfer(0, 0, 0, k);
        CHECK(check_outcome("alpha killed", k, oa));
        CHECK(check_outcome("bravo killed", k, ob));
        CHECK(oa.copies <= 1);
        windows += ob.copies == 2;
    }
    printf("# kills inside the LAN window that delivered twice: %zu of 40\n", windows);
    CHECK(windows <= 1); /* only the one kill between the LAN MTA's 250 and its fsync */
}

int main(void)
{
    RUN(message_goes_once_and_leaves_both_spools);
    RUN(lan_mta_with_dsn_gets_notify_and_no_relayed_dsn_is_sent);
    RUN(receiver_takes_recipients_by_route_not_by_listed_destinations);
    RUN(relay_through_a_node_even_when_its_copy_fails_once);
    RUN(far_550_bounces_back_over_hf_at_once);
    RUN(too_big_for_the_receiver_is_a_failed_dsn_not_a_silent_ack);
    RUN(sender_refuses_what_the_far_node_cannot_take);
    RUN(misrouted_message_is_bounced_not_acked_and_dropped);
    RUN(not_mule_is_not_acknowledged);
    RUN(every_pmul_priority_is_taken);
    RUN(expired_destination_bounces_once);
    RUN(delay_dsn_once_after_the_warning_time);
    RUN(deliverby_notify_deadline_sends_a_delay_dsn);
    RUN(operator_drop_hold_release_retry);
    RUN(lan_deferrals_retry_then_bounce_at_max_age);
    RUN(fault_matrix_each_spool_operation_failing_once);
    RUN(fault_matrix_each_gateway_killed_after_each_operation);
    return harness_done();
}
