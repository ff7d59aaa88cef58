/* smtpgw_ctl_fake.h - a fake gateway behind struct smtpgw_ctl_ops (smtpgw.h
 * "control channel") for the control channel's unit test, fuzz target and
 * socket test program: three nodes, three queued messages (one with hostile
 * strings: quotes, backslashes, control characters, terminal escapes,
 * invalid UTF-8), and operations that change that state like the daemon
 * would.  Header-only: every function is static.
 */
#ifndef MULE5066_SMTPGW_CTL_FAKE_H
#define MULE5066_SMTPGW_CTL_FAKE_H

#include <stdio.h>
#include <string.h>

#include "smtp-gw/smtpgw.h"

#define FAKE_NOW     1700000000
#define FAKE_MAX_MSG 4

/* The hostile sender: every class of byte an escaper must handle. */
#define FAKE_EVIL_FROM "ev\"il\\x\x01\x1b[31m\x7f\xff\xfe\xc0\xaf\xed\xa0\x80@x.example"

struct fake_msg {
    const char *qid, *queue, *from;
    int64_t arrival;
    uint64_t size;
    unsigned priority, attempts, retries;
    int64_t next_attempt;
    bool held, dropped;
    const char *rcpts[3];
    size_t n_rcpts;
    struct smtpgw_ctl_dest dests[3];
    size_t n_dests;
};

struct fake {
    struct fake_msg msgs[FAKE_MAX_MSG];
    size_t n_msgs;
    struct smtpgw_ctl_node nodes[3];
    size_t n_nodes;
    bool emcon_local;
    char level[16], trace[64];
    char last_error[64];
    int fail; /* nonzero: every operation returns it */
    int status_calls, status_done_calls;
    int64_t now;
};

/* fake_init - the fixed state every test starts from */
static void fake_init(struct fake *f)
{
    memset(f, 0, sizeof *f);
    f->now = FAKE_NOW;
    snprintf(f->level, sizeof f->level, "info");
    static const struct smtpgw_ctl_node nodes[] = {
        {0x0a000002u, "bravo", 2, FAKE_NOW - 192, false},
        {0x0a000003u, "charlie", 1, 0, true},
        {0x0a000004u, "d\x1b[2Jelta", 0, FAKE_NOW - 90000, false},
    };
    memcpy(f->nodes, nodes, sizeof nodes);
    f->n_nodes = 3;
    struct fake_msg *m = &f->msgs[0];
    m->qid = "5F3A1B2C0001", m->queue = "outgoing", m->from = "alice@alpha.example";
    m->arrival = FAKE_NOW - 192, m->size = 4211, m->priority = 2;
    m->rcpts[0] = "bob@bravo.example", m->rcpts[1] = "carol@charlie.example", m->n_rcpts = 2;
    m->dests[0] = (struct smtpgw_ctl_dest){0x0a000002u, "bravo", "acked", 17};
    m->dests[1] = (struct smtpgw_ctl_dest){0x0a000003u, "charlie", "open", 17};
    m->n_dests = 2;
    m = &f->msgs[1];
    m->qid = "5F3A1B2C0002", m->queue = "incoming", m->from = "";
    m->arrival = FAKE_NOW - 7384, m->size = 1000, m->priority = 6;
    m->attempts = 3, m->next_attempt = FAKE_NOW + 250;
    m->rcpts[0] = "alice@alpha.example", m->n_rcpts = 1;
    m = &f->msgs[2];
    m->qid = "5F3A1B2C0003", m->queue = "outgoing", m->from = FAKE_EVIL_FROM;
    m->arrival = FAKE_NOW - 5, m->size = 100000, m->priority = 0, m->held = true;
    m->rcpts[0] = "j\xc3\xb6rg@bravo.example", m->rcpts[1] = "line\nbreak\xe2\x80\xa8@x";
    m->n_rcpts = 2;
    m->dests[0] = (struct smtpgw_ctl_dest){0x0a000002u, "bravo", "failed", 0};
    m->n_dests = 1;
    f->n_msgs = 3;
}

/* fake_find - the live message with this queue id */
static struct fake_msg *fake_find(struct fake *f, const char *id)
{
    for (size_t i = 0; i < f->n_msgs; i++)
        if (!f->msgs[i].dropped && strcmp(f->msgs[i].qid, id) == 0)
            return &f->msgs[i];
    return NULL;
}

/* fake_status - ops->status */
static int fake_status(void *user, struct smtpgw_ctl_status *st)
{
    struct fake *f = user;
    f->status_calls++;
    if (f->fail)
        return f->fail;
    st->version = "0.1.0-test";
    st->node = "10.0.0.1";
    st->now = f->now;
    st->started = f->now - 7384;
    st->bearer = "sis";
    st->server = "127.0.0.1:5066";
    st->link = "bound";
    st->sap = 2;
    st->mtu = 2048;
    st->flow_on = true;
    st->availability = f->emcon_local ? "emcon" : "available";
    st->emcon = f->emcon_local;
    st->last_error = f->last_error;
    for (size_t i = 0; i < f->n_msgs; i++) {
        const struct fake_msg *m = &f->msgs[i];
        if (m->dropped)
            continue;
        if (strcmp(m->queue, "outgoing") == 0)
            st->outgoing++;
        else
            st->incoming++;
        st->held += m->held;
    }
    st->deliveries = 1;
    st->log_level = f->level;
    st->nodes = f->nodes;
    st->n_nodes = f->n_nodes;
    return 0;
}

/* fake_status_done - ops->status_done */
static void fake_status_done(void *user, struct smtpgw_ctl_status *st)
{
    struct fake *f = user;
    (void)st;
    f->status_done_calls++;
}

/* fake_queue - ops->queue */
static int fake_queue(void *user, smtpgw_ctl_msg_fn each, void *ctx)
{
    struct fake *f = user;
    if (f->fail)
        return f->fail;
    for (size_t i = 0; i < f->n_msgs; i++) {
        const struct fake_msg *fm = &f->msgs[i];
        if (fm->dropped)
            continue;
        struct smtpgw_ctl_msg m = {fm->qid,          fm->queue,   fm->arrival, fm->size,
                                   fm->priority,     fm->from,    fm->held,    fm->attempts,
                                   fm->next_attempt, fm->n_rcpts, fm->rcpts,   fm->dests,
                                   fm->n_dests};
        each(ctx, &m);
    }
    return 0;
}

/* fake_now - ops->now */
static int64_t fake_now(void *user)
{
    return ((struct fake *)user)->now;
}

/* fake_apply - run op on one message or on every one ("all", if allowed) */
static int fake_apply(struct fake *f, const char *id, bool all_ok, int (*op)(struct fake_msg *m))
{
    if (f->fail)
        return f->fail;
    if (all_ok && strcmp(id, "all") == 0) {
        int n = 0;
        for (size_t i = 0; i < f->n_msgs; i++)
            if (!f->msgs[i].dropped && op(&f->msgs[i]) > 0)
                n++;
        return n;
    }
    struct fake_msg *m = fake_find(f, id);
    return m ? op(m) : SMTPGW_ERR_CTL_NOTFOUND;
}

/* fake_op_retry - count a retry */
static int fake_op_retry(struct fake_msg *m)
{
    m->retries++;
    return 1;
}

/* fake_op_drop - drop the message */
static int fake_op_drop(struct fake_msg *m)
{
    m->dropped = true;
    return 1;
}

/* fake_op_hold - hold (0 if already held) */
static int fake_op_hold(struct fake_msg *m)
{
    if (m->held)
        return 0;
    m->held = true;
    return 1;
}

/* fake_op_release - release (a message not held: SMTPGW_ERR_CTL_STATE) */
static int fake_op_release(struct fake_msg *m)
{
    if (!m->held)
        return SMTPGW_ERR_CTL_STATE;
    m->held = false;
    return 1;
}

/* fake_retry - ops->retry */
static int fake_retry(void *user, const char *id)
{
    return fake_apply(user, id, true, fake_op_retry);
}

/* fake_drop - ops->drop */
static int fake_drop(void *user, const char *id)
{
    return fake_apply(user, id, false, fake_op_drop);
}

/* fake_hold - ops->hold */
static int fake_hold(void *user, const char *id)
{
    return fake_apply(user, id, true, fake_op_hold);
}

/* fake_release - ops->release */
static int fake_release(void *user, const char *id)
{
    return fake_apply(user, id, true, fake_op_release);
}

/* fake_emcon - ops->emcon */
static int fake_emcon(void *user, uint32_t node, bool on)
{
    struct fake *f = user;
    if (f->fail)
        return f->fail;
    if (node == 0) {
        f->emcon_local = on;
        return 0;
    }
    for (size_t i = 0; i < f->n_nodes; i++) {
        if (f->nodes[i].node == node) {
            f->nodes[i].emcon = on;
            return 0;
        }
    }
    return SMTPGW_ERR_CTL_NODE;
}

/* fake_node_lookup - ops->node_lookup */
static int fake_node_lookup(void *user, const char *name, uint32_t *id)
{
    struct fake *f = user;
    for (size_t i = 0; i < f->n_nodes; i++) {
        if (strcmp(f->nodes[i].name, name) == 0) {
            *id = f->nodes[i].node;
            return 0;
        }
    }
    return SMTPGW_ERR_CTL_NODE;
}

/* fake_log_level - ops->log_level */
static int fake_log_level(void *user, const char *level, const char *trace, char *out, size_t cap)
{
    struct fake *f = user;
    if (f->fail)
        return f->fail;
    if (level && strcmp(level, "trace") == 0)
        snprintf(f->trace, sizeof f->trace, "%s", trace ? trace : "");
    else if (level)
        snprintf(f->level, sizeof f->level, "%s", level);
    snprintf(out, cap, "%s%s%s", f->level, f->trace[0] ? " " : "", f->trace);
    return 0;
}

static const struct smtpgw_ctl_ops fake_ops = {
    .status = fake_status,
    .status_done = fake_status_done,
    .queue = fake_queue,
    .now = fake_now,
    .retry = fake_retry,
    .drop = fake_drop,
    .hold = fake_hold,
    .release = fake_release,
    .emcon = fake_emcon,
    .node_lookup = fake_node_lookup,
    .log_level = fake_log_level,
};

#endif /* MULE5066_SMTPGW_CTL_FAKE_H */
