/* channel.c - the channel model of s5066sim: N STANAG 5066 nodes sharing
 * one half-duplex HF channel, reduced to what a SIS client can observe:
 * Annex A A.1.1 (soft-link ARQ and broadcast data exchange sessions),
 * A.2.1.16-23 (UNIDATA TTL, priority, delivery confirmation and its
 * REJECTED reasons), Annex C C.3.3/C.3.4 (ARQ data with acknowledgements
 * and retransmission; non-ARQ data repeated min_retx + 1 times, delivered
 * once; delivery with errors and block lists), Annex C C.3.1.3 (group and
 * broadcast addresses) and EMCON (receive, transmit nothing).
 *
 * An engine: no I/O, no clock.  The model is described with the API in
 * s5066.h ("channel model").  Every entry point first advances the
 * simulation to `now`: events (the end of the burst on the air, a time to
 * die) are processed in time order, each at its own time, so the outcome
 * does not depend on how late the glue's timer fires.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s5066/s5066.h"

#define CH_NQ          17 /* queues per node: priorities 0..15, then expedited */
#define CH_Q_EXPEDITED 16

struct ch_item {
    struct util_list link;   /* in its node's queue (unlinked while on the air) */
    struct util_timer timer; /* time to die, in ch->ttd while queued */
    struct s5066_channel_updu u;
    uint64_t id;
    int node;
    util_ms ttd;       /* UTIL_MS_NEVER for none */
    unsigned attempts; /* bursts sent so far */
    bool delivered;    /* ARQ: the receiver has it (deliver_rc says how) */
    int deliver_rc;
    uint8_t data[]; /* the U_PDU copy */
};

struct ch_node {
    char name[S5066_CHANNEL_NAME_MAX];
    struct s5066_addr addr;
    uint32_t *groups; /* s5066_addr_to_u32 of each group */
    size_t n_groups;
    bool emcon;
    void *user;
    struct util_list q[CH_NQ];
    bool flow_off;
    struct s5066_channel_node_stats st;
};

struct s5066_channel {
    struct s5066_channel_params p;
    struct s5066_channel_callbacks cb;
    void *user;
    struct util_rng rng;
    struct ch_node **nodes;
    int n_nodes;
    struct util_timerheap ttd;
    util_ms now;         /* time of the event being (or last) processed */
    bool started;        /* now holds a time */
    util_ms start;       /* the first now */
    struct ch_item *cur; /* the U_PDU on the air, or NULL */
    util_ms cur_start, cur_end;
    int rr; /* round-robin: the node favoured on a tie */
    uint64_t next_id;
    bool running; /* inside advance(): nested entry points only queue */
    util_ms busy;
    uint64_t bursts;
    uint8_t *scratch; /* a corrupted copy */
    size_t scratch_cap;
};

/* s5066_channel_params_default - 2400 bps, 500 ms turnaround, no loss, 5 retries, 64 KiB queues */
void s5066_channel_params_default(struct s5066_channel_params *p)
{
    memset(p, 0, sizeof *p);
    p->rate = 2400;
    p->turnaround = 500;
    p->loss = 0.0;
    p->seed = 1;
    p->bit_errors = false;
    p->arq_retries = 5;
    p->max_queue = 64 * 1024;
    p->max_ttl = 0;
    p->overhead = 16;
}

/* ---- helpers ------------------------------------------------------------ */

/* bytes_ms - ceil(bytes * 8000 / rate) */
static util_ms bytes_ms(const struct s5066_channel *ch, uint64_t bytes)
{
    uint64_t bits = bytes * 8000u;
    return (bits + ch->p.rate - 1) / ch->p.rate;
}

/* s5066_channel_airtime - ms on air for copies of len bytes (ARQ: with the ACK) */
util_ms s5066_channel_airtime(const struct s5066_channel *ch, size_t len, unsigned copies, bool arq)
{
    util_ms t = bytes_ms(ch, (uint64_t)copies * (len + ch->p.overhead)) + ch->p.turnaround;
    if (arq)
        t += bytes_ms(ch, ch->p.overhead) + ch->p.turnaround;
    return t;
}

/* node_at - the node with this index, or NULL */
static struct ch_node *node_at(const struct s5066_channel *ch, int node)
{
    return node >= 0 && node < ch->n_nodes ? ch->nodes[node] : NULL;
}

/* addr_str - dotted quad of a into buf */
static const char *addr_str(const struct s5066_addr *a, char *buf)
{
    return s5066_addr_format(a, buf, S5066_ADDR_STRLEN);
}

/* mode_name - "arq", "non-arq", "non-arq-errors" */
static const char *mode_name(int mode)
{
    switch (mode) {
    case S5066_TX_ARQ: return "arq";
    case S5066_TX_NON_ARQ: return "non-arq";
    case S5066_TX_NON_ARQ_ERRORS: return "non-arq-errors";
    default: return "default";
    }
}

/* reason_name - short name of an enum s5066_reject_reason */
static const char *reason_name(int reason)
{
    switch (reason) {
    case S5066_REJ_TTL_EXPIRED: return "ttl-expired";
    case S5066_REJ_SAP_NOT_BOUND: return "sap-not-bound";
    case S5066_REJ_NODE_NOT_RESPONDING: return "node-not-responding";
    case S5066_REJ_UPDU_TOO_LARGE: return "too-large";
    case S5066_REJ_TX_MODE_NOT_SPECIFIED: return "no-tx-mode";
    default: return "unknown";
    }
}

/* vtime - virtual seconds.milliseconds for logs */
static void vtime(util_ms t, char *buf, size_t len)
{
    snprintf(buf, len, "%llu.%03llu", (unsigned long long)(t / 1000),
             (unsigned long long)(t % 1000));
}

/* lost - one draw: whether a copy (or an ACK) is lost */
static bool lost(struct s5066_channel *ch)
{
    if (ch->p.loss <= 0.0)
        return false;
    if (ch->p.loss >= 1.0)
        return true;
    return util_rng_unit(&ch->rng) < ch->p.loss;
}

/* is_member - whether node n receives U_PDUs sent to group address g */
static bool is_member(const struct ch_node *n, const struct s5066_addr *g)
{
    if (s5066_addr_is_broadcast(g))
        return true;
    uint32_t v = s5066_addr_to_u32(g);
    for (size_t i = 0; i < n->n_groups; i++)
        if (n->groups[i] == v)
            return true;
    return false;
}

/* find_node - index of the node with node address a, or -1 */
static int find_node(const struct s5066_channel *ch, const struct s5066_addr *a)
{
    if (a->group)
        return -1;
    for (int i = 0; i < ch->n_nodes; i++)
        if (ch->nodes[i]->addr.addr == a->addr)
            return i;
    return -1;
}

/* queued_bytes_add - account for a U_PDU entering (+) or leaving (-) a node, with flow control */
static void queue_account(struct s5066_channel *ch, int idx, size_t len, bool enter)
{
    struct ch_node *n = ch->nodes[idx];
    if (enter) {
        n->st.queued++;
        n->st.queued_bytes += len;
    } else {
        n->st.queued--;
        n->st.queued_bytes -= len;
    }
    if (!ch->p.max_queue)
        return;
    if (!n->flow_off && n->st.queued_bytes >= ch->p.max_queue) {
        n->flow_off = true;
        n->st.flow_off = true;
        util_log(UTIL_LOG_INFO, UTIL_MOD_SIM, "flow-off", "node=%s queued=%zu bytes=%zu", n->name,
                 n->st.queued, n->st.queued_bytes);
        if (ch->cb.flow)
            ch->cb.flow(n->user, idx, false);
    } else if (n->flow_off && n->st.queued_bytes <= ch->p.max_queue / 2) {
        n->flow_off = false;
        n->st.flow_off = false;
        util_log(UTIL_LOG_INFO, UTIL_MOD_SIM, "flow-on", "node=%s queued=%zu bytes=%zu", n->name,
                 n->st.queued, n->st.queued_bytes);
        if (ch->cb.flow)
            ch->cb.flow(n->user, idx, true);
    }
}

/* queue_index - which of a node's queues an item goes to */
static int queue_index(const struct ch_item *it)
{
    return it->u.expedited ? CH_Q_EXPEDITED : it->u.priority;
}

/* enqueue - put an item in its node's queue (at the head to retry it first) and arm its TTD */
static void enqueue(struct s5066_channel *ch, struct ch_item *it, bool at_head)
{
    struct util_list *q = &ch->nodes[it->node]->q[queue_index(it)];
    if (at_head)
        util_list_insert_before(q->next, &it->link);
    else
        util_list_push_back(q, &it->link);
    if (it->ttd != UTIL_MS_NEVER)
        util_timerheap_arm(&ch->ttd, &it->timer, it->ttd);
}

/* dequeue - take an item out of its queue and the TTD heap */
static void dequeue(struct s5066_channel *ch, struct ch_item *it)
{
    util_list_remove(&it->link);
    util_timerheap_cancel(&ch->ttd, &it->timer);
}

/* finish - report an item's outcome and release it */
static void finish(struct s5066_channel *ch, struct ch_item *it, bool ok, int reason)
{
    struct ch_node *n = ch->nodes[it->node];
    char d[S5066_ADDR_STRLEN], t[32];
    vtime(ch->now, t, sizeof t);
    if (ok) {
        n->st.ok++;
    } else {
        n->st.failed++;
        if (reason == S5066_REJ_TTL_EXPIRED)
            n->st.expired++;
    }
    util_log(ok ? UTIL_LOG_INFO : UTIL_LOG_NOTICE, UTIL_MOD_SIM, ok ? "done" : "failed",
             "node=%s id=%llu dst=%s sap=%u mode=%s attempts=%u%s%s t=%s", n->name,
             (unsigned long long)it->id, addr_str(&it->u.dest, d), it->u.dest_sap,
             mode_name(it->u.tx_mode), it->attempts,
             ok ? "" : " reason=", ok ? "" : reason_name(reason), t);
    struct s5066_channel_result res = {
        .id = it->id, .ok = ok, .reason = ok ? 0 : reason, .u = &it->u};
    size_t len = it->u.len;
    int idx = it->node;
    if (ch->cb.result)
        ch->cb.result(n->user, idx, &res);
    free(it);
    queue_account(ch, idx, len, false);
}

/* ---- lifecycle ---------------------------------------------------------- */

/* s5066_channel_new - an empty channel; NULL on bad params or no memory */
struct s5066_channel *s5066_channel_new(const struct s5066_channel_params *p,
                                        const struct s5066_channel_callbacks *cb, void *user)
{
    if (!p || p->rate < S5066_CHANNEL_RATE_MIN || p->rate > S5066_CHANNEL_RATE_MAX ||
        !(p->loss >= 0.0 && p->loss <= 1.0) || p->overhead > 65535 || p->turnaround > 3600000)
        return NULL;
    struct s5066_channel *ch = calloc(1, sizeof *ch);
    if (!ch)
        return NULL;
    ch->p = *p;
    if (cb)
        ch->cb = *cb;
    ch->user = user;
    util_rng_seed(&ch->rng, p->seed);
    util_timerheap_init(&ch->ttd);
    ch->next_id = 1;
    return ch;
}

/* s5066_channel_free - release the channel and its queues (no callbacks) */
void s5066_channel_free(struct s5066_channel *ch)
{
    if (!ch)
        return;
    util_timerheap_free(&ch->ttd); /* before the items it points to */
    free(ch->cur);
    for (int i = 0; i < ch->n_nodes; i++) {
        struct ch_node *n = ch->nodes[i];
        for (int q = 0; q < CH_NQ; q++) {
            struct util_list *it, *tmp;
            UTIL_LIST_FOREACH_SAFE(it, tmp, &n->q[q])
            free(UTIL_CONTAINER_OF(it, struct ch_item, link));
        }
        free(n->groups);
        free(n);
    }
    free(ch->nodes);
    free(ch->scratch);
    free(ch);
}

/* s5066_channel_add_node - add a node; its index or a negative error */
int s5066_channel_add_node(struct s5066_channel *ch, const struct s5066_channel_node *cfg,
                           void *node_user)
{
    if (!ch || !cfg || !cfg->name || !*cfg->name || strlen(cfg->name) >= S5066_CHANNEL_NAME_MAX ||
        cfg->addr.group || cfg->addr.addr == 0 || cfg->addr.addr > S5066_MAX_ADDR ||
        (cfg->n_groups && !cfg->groups) || ch->n_nodes >= 4096)
        return S5066_ERR_INVAL;
    for (int i = 0; i < ch->n_nodes; i++)
        if (ch->nodes[i]->addr.addr == cfg->addr.addr || strcmp(ch->nodes[i]->name, cfg->name) == 0)
            return S5066_ERR_INVAL;
    for (size_t i = 0; i < cfg->n_groups; i++)
        if (!cfg->groups[i].group)
            return S5066_ERR_INVAL;
    struct ch_node *n = calloc(1, sizeof *n);
    struct ch_node **nodes = realloc(ch->nodes, (size_t)(ch->n_nodes + 1) * sizeof *nodes);
    if (nodes)
        ch->nodes = nodes;
    if (!n || !nodes) {
        free(n);
        return S5066_ERR_NOMEM;
    }
    if (cfg->n_groups) {
        n->groups = calloc(cfg->n_groups, sizeof *n->groups);
        if (!n->groups) {
            free(n);
            return S5066_ERR_NOMEM;
        }
        for (size_t i = 0; i < cfg->n_groups; i++)
            n->groups[i] = s5066_addr_to_u32(&cfg->groups[i]);
        n->n_groups = cfg->n_groups;
    }
    snprintf(n->name, sizeof n->name, "%s", cfg->name);
    n->addr = s5066_addr_make(cfg->addr.addr, false);
    n->emcon = cfg->emcon;
    n->st.emcon = cfg->emcon;
    n->user = node_user;
    for (int q = 0; q < CH_NQ; q++)
        util_list_init(&n->q[q]);
    ch->nodes[ch->n_nodes] = n;
    return ch->n_nodes++;
}

/* ---- the medium ----------------------------------------------------------- */

/* head_rank - the rank of a node's next U_PDU (16 expedited .. 0), or -1 if none */
static int head_rank(const struct ch_node *n)
{
    for (int q = CH_NQ - 1; q >= 0; q--)
        if (!util_list_empty(&n->q[q]))
            return q;
    return -1;
}

/* report_burst - tell the observer about a burst and count it */
static void report_burst(struct s5066_channel *ch, int node, uint64_t id, util_ms start,
                         util_ms end, size_t bytes, unsigned copies, unsigned attempt)
{
    struct ch_node *n = ch->nodes[node];
    n->st.bytes_on_air += bytes;
    n->st.airtime += end - start;
    ch->bursts++;
    if (ch->cb.transmit) {
        struct s5066_channel_tx tx = {.node = node,
                                      .id = id,
                                      .start = start,
                                      .end = end,
                                      .bytes_on_air = bytes,
                                      .copies = copies,
                                      .attempt = attempt};
        ch->cb.transmit(ch->user, &tx);
    }
}

/* start_next - if the medium is free, put the best queued U_PDU on the air at ch->now */
static void start_next(struct s5066_channel *ch)
{
    if (ch->cur || !ch->n_nodes)
        return;
    int best = -1, best_rank = -1;
    for (int k = 0; k < ch->n_nodes; k++) {
        int i = (ch->rr + k) % ch->n_nodes;
        struct ch_node *n = ch->nodes[i];
        if (n->emcon)
            continue;
        int r = head_rank(n);
        if (r > best_rank) {
            best_rank = r;
            best = i;
        }
    }
    if (best < 0)
        return;
    struct ch_node *n = ch->nodes[best];
    ch->rr = (best + 1) % ch->n_nodes;
    struct ch_item *it = UTIL_CONTAINER_OF(n->q[best_rank].next, struct ch_item, link);
    dequeue(ch, it);
    it->attempts++;
    bool arq = it->u.tx_mode == S5066_TX_ARQ;
    unsigned copies = arq ? 1 : it->u.min_retx + 1u;
    util_ms data_ms = s5066_channel_airtime(ch, it->u.len, copies, false);
    ch->cur = it;
    ch->cur_start = ch->now;
    ch->cur_end = ch->now + s5066_channel_airtime(ch, it->u.len, copies, arq);
    ch->busy += ch->cur_end - ch->cur_start; /* the ACK slot too: the medium is held */
    size_t bytes = (size_t)copies * (it->u.len + ch->p.overhead);
    n->st.bursts++;
    if (it->attempts > 1)
        n->st.retransmissions++;
    char d[S5066_ADDR_STRLEN], t[32];
    vtime(ch->now, t, sizeof t);
    util_log(UTIL_LOG_INFO, UTIL_MOD_SIM, "tx",
             "node=%s id=%llu dst=%s sap=%u mode=%s prio=%u%s len=%zu copies=%u attempt=%u "
             "bytes=%zu airtime_ms=%llu t=%s",
             n->name, (unsigned long long)it->id, addr_str(&it->u.dest, d), it->u.dest_sap,
             mode_name(it->u.tx_mode), it->u.priority, it->u.expedited ? " expedited=yes" : "",
             it->u.len, copies, it->attempts, bytes, (unsigned long long)(ch->cur_end - ch->now),
             t);
    report_burst(ch, best, it->id, ch->now, ch->now + data_ms, bytes, copies, it->attempts);
}

/* make_rx - the delivery record of an item */
static void make_rx(const struct s5066_channel *ch, const struct ch_item *it,
                    struct s5066_channel_rx *rx)
{
    memset(rx, 0, sizeof *rx);
    rx->id = it->id;
    rx->src = ch->nodes[it->node]->addr;
    rx->src_sap = it->u.src_sap;
    rx->dest = it->u.dest;
    rx->dest_sap = it->u.dest_sap;
    rx->priority = it->u.priority;
    rx->expedited = it->u.expedited;
    rx->tx_mode = it->u.tx_mode;
    rx->updu = it->u.updu;
    rx->len = it->u.len;
}

/* deliver - hand a copy to node idx; the callback's answer */
static int deliver(struct s5066_channel *ch, int idx, const struct s5066_channel_rx *rx)
{
    struct ch_node *n = ch->nodes[idx];
    int rc = ch->cb.deliver ? ch->cb.deliver(n->user, idx, rx) : 0;
    char s[S5066_ADDR_STRLEN];
    if (rc < 0) {
        n->st.lost++;
        util_log(UTIL_LOG_DEBUG, UTIL_MOD_SIM, "rx-refused", "node=%s id=%llu src=%s errors=%zu",
                 n->name, (unsigned long long)rx->id, addr_str(&rx->src, s), rx->n_err);
    } else {
        n->st.received++;
        util_log(UTIL_LOG_DEBUG, UTIL_MOD_SIM, "rx",
                 "node=%s id=%llu src=%s sap=%u len=%zu errors=%zu%s%s", n->name,
                 (unsigned long long)rx->id, addr_str(&rx->src, s), rx->dest_sap, rx->len,
                 rx->n_err, rc > 0 ? " reason=" : "", rc > 0 ? reason_name(rc) : "");
    }
    return rc;
}

/* deliver_corrupted - offer node idx a copy with bit errors in some blocks */
static void deliver_corrupted(struct s5066_channel *ch, int idx, const struct ch_item *it)
{
    size_t len = it->u.len;
    if (ch->scratch_cap < len) {
        uint8_t *p = realloc(ch->scratch, len);
        if (!p)
            return;
        ch->scratch = p;
        ch->scratch_cap = len;
    }
    memcpy(ch->scratch, it->u.updu, len);
    size_t nblocks = (len + S5066_CHANNEL_BLOCK - 1) / S5066_CHANNEL_BLOCK;
    struct s5066_block blocks[(S5066_MAX_SIZE + S5066_CHANNEL_BLOCK - 1) / S5066_CHANNEL_BLOCK];
    size_t n_err = 0;
    size_t forced = (size_t)util_rng_below(&ch->rng, nblocks); /* at least this one */
    for (size_t b = 0; b < nblocks; b++) {
        if (b != forced && util_rng_below(&ch->rng, 2) == 0)
            continue;
        size_t pos = b * S5066_CHANNEL_BLOCK;
        size_t size = UTIL_MIN((size_t)S5066_CHANNEL_BLOCK, len - pos);
        unsigned flips = 1 + (unsigned)util_rng_below(&ch->rng, 3);
        for (unsigned f = 0; f < flips; f++)
            ch->scratch[pos + util_rng_below(&ch->rng, size)] ^=
                (uint8_t)(1u << util_rng_below(&ch->rng, 8));
        if (memcmp(ch->scratch + pos, it->u.updu + pos, size) == 0)
            ch->scratch[pos] ^= 1; /* two flips cancelled out: a block in error differs */
        blocks[n_err].pos = (uint16_t)pos;
        blocks[n_err].size = (uint16_t)size;
        n_err++;
    }
    struct s5066_channel_rx rx;
    make_rx(ch, it, &rx);
    rx.n_err = n_err;
    rx.err = blocks;
    rx.updu = ch->scratch;
    ch->nodes[idx]->st.corrupted++;
    deliver(ch, idx, &rx);
}

/* complete_arq - the end of an ARQ attempt */
static void complete_arq(struct s5066_channel *ch, struct ch_item *it)
{
    int dest = find_node(ch, &it->u.dest);
    bool self = dest == it->node;
    bool got = dest >= 0 && (self || !lost(ch));
    if (dest >= 0 && !got)
        ch->nodes[dest]->st.lost++;
    if (got && !it->delivered) {
        struct s5066_channel_rx rx;
        make_rx(ch, it, &rx);
        int rc = deliver(ch, dest, &rx);
        it->delivered = rc >= 0;
        it->deliver_rc = rc > 0 ? rc : 0;
    }
    bool acked = false;
    if (got && !ch->nodes[dest]->emcon) {
        /* the receiver acknowledges in the slot after the data */
        util_ms data_ms = s5066_channel_airtime(ch, it->u.len, 1, false);
        report_burst(ch, dest, it->id, ch->cur_start + data_ms, ch->cur_end, ch->p.overhead, 0,
                     it->attempts);
        ch->nodes[dest]->st.acks++;
        acked = self || !lost(ch);
    }
    if (acked) {
        if (it->deliver_rc > 0)
            finish(ch, it, false, it->deliver_rc);
        else
            finish(ch, it, true, 0);
        return;
    }
    if (it->ttd != UTIL_MS_NEVER && it->ttd <= ch->now) {
        finish(ch, it, false, S5066_REJ_TTL_EXPIRED);
        return;
    }
    if (it->attempts > ch->p.arq_retries) {
        finish(ch, it, false, S5066_REJ_NODE_NOT_RESPONDING);
        return;
    }
    enqueue(ch, it, true); /* retransmit it first */
}

/* complete_non_arq - the end of a non-ARQ burst: each receiver takes its first intact copy */
static void complete_non_arq(struct s5066_channel *ch, struct ch_item *it)
{
    unsigned copies = it->u.min_retx + 1u;
    struct s5066_channel_rx rx;
    make_rx(ch, it, &rx);
    for (int i = 0; i < ch->n_nodes; i++) {
        struct ch_node *n = ch->nodes[i];
        bool self = i == it->node;
        if (it->u.dest.group) {
            if (self || !is_member(n, &it->u.dest))
                continue;
        } else if (n->addr.addr != it->u.dest.addr) {
            continue;
        }
        bool intact = self;
        for (unsigned c = 0; c < copies && !intact; c++)
            intact = !lost(ch);
        if (intact)
            deliver(ch, i, &rx);
        else if (ch->p.bit_errors && it->u.len > 0)
            deliver_corrupted(ch, i, it);
        else
            n->st.lost++;
    }
    finish(ch, it, true, 0);
}

/* complete - the burst on the air ends at ch->now */
static void complete(struct s5066_channel *ch)
{
    struct ch_item *it = ch->cur;
    ch->cur = NULL;
    if (it->u.tx_mode == S5066_TX_ARQ)
        complete_arq(ch, it);
    else
        complete_non_arq(ch, it);
}

/* expire - a queued U_PDU reached its time to die */
static void expire(struct s5066_channel *ch, struct ch_item *it)
{
    dequeue(ch, it);
    finish(ch, it, false, S5066_REJ_TTL_EXPIRED);
}

/* advance - process every event up to now, then start a burst if the medium is free */
static void advance(struct s5066_channel *ch, util_ms now)
{
    if (ch->running)
        return; /* a callback's nested call: the outer loop carries on */
    if (!ch->started) {
        ch->started = true;
        ch->start = now;
        ch->now = now;
    }
    if (now < ch->now)
        now = ch->now;
    ch->running = true;
    for (;;) {
        util_ms t_end = ch->cur ? ch->cur_end : UTIL_MS_NEVER;
        util_ms t_ttd = util_timerheap_next_expiry(&ch->ttd);
        if (t_end <= t_ttd && t_end <= now) {
            ch->now = t_end;
            complete(ch);
        } else if (t_ttd < t_end && t_ttd <= now) {
            ch->now = t_ttd;
            struct util_timer *t = util_timerheap_peek(&ch->ttd);
            expire(ch, UTIL_CONTAINER_OF(t, struct ch_item, timer));
        } else {
            break;
        }
        start_next(ch);
    }
    ch->now = now;
    start_next(ch);
    ch->running = false;
}

/* ---- entry points --------------------------------------------------------- */

/* s5066_channel_submit - queue a U_PDU at node */
int s5066_channel_submit(struct s5066_channel *ch, util_ms now, int node,
                         const struct s5066_channel_updu *u, uint64_t *id)
{
    if (!ch || !u || !node_at(ch, node))
        return S5066_ERR_INVAL;
    if (u->tx_mode < S5066_TX_ARQ || u->tx_mode > S5066_TX_NON_ARQ_ERRORS || u->priority > 15 ||
        u->src_sap > 15 || u->dest_sap > 15 || u->min_retx > 15 || u->len > 0xFFFF ||
        (u->len && !u->updu) || u->dest.addr > S5066_MAX_ADDR || (!u->dest.group && !u->dest.addr))
        return S5066_ERR_INVAL;
    if (u->tx_mode == S5066_TX_ARQ && u->dest.group)
        return S5066_ERR_INVAL; /* a group address is only ever sent non-ARQ */
    advance(ch, now);
    struct ch_node *n = ch->nodes[node];
    if (ch->p.max_queue && n->st.queued_bytes + u->len > 2 * ch->p.max_queue)
        return S5066_ERR_QUEUE_FULL;
    struct ch_item *it = calloc(1, sizeof *it + u->len);
    if (!it)
        return S5066_ERR_NOMEM;
    util_list_init(&it->link);
    util_timer_init(&it->timer);
    it->u = *u;
    it->u.dest.size = S5066_ADDR_SIZE_FULL;
    if (u->len)
        memcpy(it->data, u->updu, u->len);
    it->u.updu = it->data;
    it->id = ch->next_id++;
    it->node = node;
    util_ms t = ch->now; /* == now, or the event being processed for a nested call */
    util_ms ttl = u->ttl ? u->ttl : ch->p.max_ttl;
    it->ttd = ttl ? t + ttl : UTIL_MS_NEVER;
    n->st.submitted++;
    if (id)
        *id = it->id;
    char d[S5066_ADDR_STRLEN];
    util_log(UTIL_LOG_DEBUG, UTIL_MOD_SIM, "queued",
             "node=%s id=%llu dst=%s sap=%u mode=%s prio=%u len=%zu", n->name,
             (unsigned long long)it->id, addr_str(&it->u.dest, d), u->dest_sap,
             mode_name(u->tx_mode), u->priority, u->len);
    enqueue(ch, it, false);
    queue_account(ch, node, u->len, true);
    if (!ch->running) {
        ch->running = true;
        start_next(ch);
        ch->running = false;
    }
    return 0;
}

/* s5066_channel_run - process every event due at or before now */
void s5066_channel_run(struct s5066_channel *ch, util_ms now)
{
    if (ch)
        advance(ch, now);
}

/* s5066_channel_next_expiry - when run is next needed, or UTIL_MS_NEVER */
util_ms s5066_channel_next_expiry(const struct s5066_channel *ch)
{
    if (!ch)
        return UTIL_MS_NEVER;
    util_ms t = util_timerheap_next_expiry(&ch->ttd);
    if (ch->cur && ch->cur_end < t)
        t = ch->cur_end;
    return t;
}

/* s5066_channel_set_emcon - put a node in or out of EMCON */
void s5066_channel_set_emcon(struct s5066_channel *ch, util_ms now, int node, bool emcon)
{
    struct ch_node *n = ch ? node_at(ch, node) : NULL;
    if (!n)
        return;
    advance(ch, now);
    if (n->emcon == emcon)
        return;
    n->emcon = emcon;
    n->st.emcon = emcon;
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SIM, "emcon", "node=%s state=%s queued=%zu", n->name,
             emcon ? "on" : "off", n->st.queued);
    if (!ch->running) {
        ch->running = true;
        start_next(ch);
        ch->running = false;
    }
}

/* ---- queries -------------------------------------------------------------- */

/* s5066_channel_node_count - number of nodes */
int s5066_channel_node_count(const struct s5066_channel *ch)
{
    return ch ? ch->n_nodes : 0;
}

/* s5066_channel_find_node - the index of the node with this node address, or -1 */
int s5066_channel_find_node(const struct s5066_channel *ch, const struct s5066_addr *a)
{
    return ch && a ? find_node(ch, a) : -1;
}

/* s5066_channel_node_name - a node's name ("" for a bad index) */
const char *s5066_channel_node_name(const struct s5066_channel *ch, int node)
{
    const struct ch_node *n = ch ? node_at(ch, node) : NULL;
    return n ? n->name : "";
}

/* s5066_channel_node_addr - a node's address */
struct s5066_addr s5066_channel_node_addr(const struct s5066_channel *ch, int node)
{
    const struct ch_node *n = ch ? node_at(ch, node) : NULL;
    struct s5066_addr none = {0, 0, 0};
    return n ? n->addr : none;
}

/* s5066_channel_node_emcon - whether a node is in EMCON */
bool s5066_channel_node_emcon(const struct s5066_channel *ch, int node)
{
    const struct ch_node *n = ch ? node_at(ch, node) : NULL;
    return n && n->emcon;
}

/* s5066_channel_node_flow_on - whether a node's queue accepts more */
bool s5066_channel_node_flow_on(const struct s5066_channel *ch, int node)
{
    const struct ch_node *n = ch ? node_at(ch, node) : NULL;
    return n && !n->flow_off;
}

/* s5066_channel_node_stats - a node's counters */
void s5066_channel_node_stats(const struct s5066_channel *ch, int node,
                              struct s5066_channel_node_stats *st)
{
    const struct ch_node *n = ch ? node_at(ch, node) : NULL;
    if (n)
        *st = n->st;
    else
        memset(st, 0, sizeof *st);
}

/* s5066_channel_stats - the channel's counters at now */
void s5066_channel_stats(const struct s5066_channel *ch, util_ms now,
                         struct s5066_channel_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!ch)
        return;
    st->elapsed = ch->started && now > ch->start ? now - ch->start : 0;
    /* count only the part of the burst on the air that has happened */
    st->busy = ch->busy;
    if (ch->cur && ch->cur_end > now)
        st->busy -= UTIL_MIN(ch->cur_end - now, ch->busy);
    st->bursts = ch->bursts;
    st->utilisation = st->elapsed ? (double)st->busy / (double)st->elapsed : 0.0;
    if (st->utilisation > 1.0)
        st->utilisation = 1.0;
}
