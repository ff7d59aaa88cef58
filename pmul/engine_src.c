/* engine_src.c - the ACP 142 P_MUL receiver's originators (ACP 142 section
 * 5.3 "Multicast_IN"): loss detection from the Message_Sequence_Number
 * (5.3.3: a missing number is a gap, final and reported only when it stays
 * missing for gap_wait, since a late one is usually just reordered), and
 * the receive limits (issue 13): receive state counted in bytes against
 * rx_max_total, the hash tables of records and originators (they double
 * only when there is room), the originators themselves (idle ones forgotten
 * beyond PMUL_RX_MAX_SOURCES, least recently heard first), two heaps that
 * keep the busy ones in order of the share they hold (of all, of orphans)
 * so that room is made from the largest, and what a peer can make us log,
 * rate-limited per originator and kind (util_ratelimit).
 */
#include "pmul/engine_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- receiver: accounting and limits ----------------------------------------- */

/* rx_state_add - count delta bytes more (or fewer) of receive state */
void rx_state_add(struct pmul_engine *e, long long delta)
{
    e->st.rx_state = (size_t)((long long)e->st.rx_state + delta);
    if (e->st.rx_state > e->st.rx_state_peak)
        e->st.rx_state_peak = e->st.rx_state;
}

/* rx_room - whether bytes more fit under rx_max_total without making room */
bool rx_room(const struct pmul_engine *e, size_t bytes)
{
    return e->st.rx_state + bytes <= e->p.rx_max_total;
}

/* eng_hash - a bucket hash of two 32-bit keys */
uint32_t eng_hash(uint32_t a, uint32_t b)
{
    uint32_t h = a * 2654435761u ^ b * 2246822519u;
    return h ^ (h >> 15);
}

/* eng_table_init - a table of TABLE_MIN buckets, counted; 0 or UTIL_ERR_NOMEM */
int eng_table_init(struct pmul_engine *e, struct eng_table *t)
{
    t->b = malloc(TABLE_MIN * sizeof *t->b);
    if (!t->b)
        return UTIL_ERR_NOMEM;
    t->nb = TABLE_MIN;
    t->n = 0;
    for (size_t i = 0; i < t->nb; i++)
        util_list_init(&t->b[i]);
    rx_state_add(e, (long long)(t->nb * sizeof *t->b + ALLOC_COST));
    return 0;
}

/* eng_table_free - release the buckets (the entries are gone) */
void eng_table_free(struct pmul_engine *e, struct eng_table *t)
{
    if (t->b)
        rx_state_add(e, -(long long)(t->nb * sizeof *t->b + ALLOC_COST));
    free(t->b);
    t->b = NULL;
}

/* eng_table_need - the bytes one more entry may cost the table (its doubling) */
size_t eng_table_need(const struct eng_table *t)
{
    return t->n + 1 > t->nb ? t->nb * sizeof *t->b : 0;
}

/* eng_table_bucket - the bucket of hash h */
struct util_list *eng_table_bucket(const struct eng_table *t, uint32_t h)
{
    return &t->b[h & (t->nb - 1)];
}

/* eng_table_add - link node under hash h; the table doubles when it is fuller
 * than its buckets and there is room (else the chains grow) */
void eng_table_add(struct pmul_engine *e, struct eng_table *t, struct util_list *node,
               uint32_t h, uint32_t (*hash_of)(const struct util_list *))
{
    size_t extra = t->nb * sizeof *t->b;
    struct util_list *nb;
    if (t->n + 1 > t->nb && t->nb < ((size_t)1 << 26) && rx_room(e, extra) &&
        (nb = malloc(2 * extra))) {
        for (size_t i = 0; i < 2 * t->nb; i++)
            util_list_init(&nb[i]);
        struct util_list *old = t->b;
        size_t oldn = t->nb;
        t->b = nb;
        t->nb *= 2;
        for (size_t i = 0; i < oldn; i++)
            while (!util_list_empty(&old[i])) {
                struct util_list *x = old[i].next;
                util_list_remove(x);
                util_list_push_back(eng_table_bucket(t, hash_of(x)), x);
            }
        free(old);
        rx_state_add(e, (long long)extra);
    }
    util_list_push_back(eng_table_bucket(t, h), node);
    t->n++;
}

/* eng_table_del - unlink node */
void eng_table_del(struct eng_table *t, struct util_list *node)
{
    util_list_remove(node);
    t->n--;
}

/* src_hash - the hash of a src_state's table node */
static uint32_t src_hash(const struct util_list *node)
{
    const struct src_state *s = UTIL_CONTAINER_OF(node, const struct src_state, link);
    return eng_hash(s->src, 0);
}

/* src_share - how much of the receive limits s holds: of everything
 * (which 0) or of orphans (1), the larger of its slots and bytes shares */
static double src_share(const struct pmul_engine *e, const struct src_state *s, int which)
{
    double n = (double)(which ? s->norphans : s->nmsgs) / (double)e->p.rx_max_messages;
    double c = (double)(which ? s->orphan_cost : s->cost) / (double)e->p.rx_max_total;
    return n > c ? n : c;
}

/* eng_heap_swap - swap two places of heap w */
static void eng_heap_swap(struct pmul_engine *e, int w, size_t i, size_t j)
{
    struct src_state **h = e->heap[w], *t = h[i];
    h[i] = h[j];
    h[j] = t;
    h[i]->hi[w] = i;
    h[j]->hi[w] = j;
}

/* eng_heap_fix - restore heap w (largest share on top) after s's share changed */
static void eng_heap_fix(struct pmul_engine *e, int w, struct src_state *s)
{
    struct src_state **h = e->heap[w];
    size_t i = s->hi[w];
    double v = src_share(e, s, w);
    while (i > 0 && src_share(e, h[(i - 1) / 2], w) < v) {
        eng_heap_swap(e, w, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        double vm = v;
        if (l < e->heap_n && src_share(e, h[l], w) > vm) {
            m = l;
            vm = src_share(e, h[l], w);
        }
        if (r < e->heap_n && src_share(e, h[r], w) > vm)
            m = r;
        if (m == i)
            break;
        eng_heap_swap(e, w, i, m);
        i = m;
    }
}

/* src_heaps_fix - s's shares changed */
void src_heaps_fix(struct pmul_engine *e, struct src_state *s)
{
    if (s->nmsgs) {
        eng_heap_fix(e, 0, s);
        eng_heap_fix(e, 1, s);
    }
}

/* eng_heap_need - the bytes making one more originator busy may cost the heaps */
size_t eng_heap_need(const struct pmul_engine *e)
{
    return e->heap_n == e->heap_cap ? 2 * e->heap_cap * sizeof(void *) : 0;
}

/* eng_heap_grow - room in the heaps for cap originators; 0 or UTIL_ERR_NOMEM */
int eng_heap_grow(struct pmul_engine *e, size_t cap)
{
    for (int w = 0; w < 2; w++) {
        struct src_state **h = realloc(e->heap[w], cap * sizeof *h);
        if (!h)
            return UTIL_ERR_NOMEM;
        e->heap[w] = h;
    }
    rx_state_add(e, (long long)(2 * (cap - e->heap_cap) * sizeof(void *) +
                                (e->heap_cap ? 0 : 2 * ALLOC_COST)));
    e->heap_cap = cap;
    return 0;
}

/* src_busy - s collects its first message: off the idle list, into the heaps */
bool src_busy(struct pmul_engine *e, struct src_state *s)
{
    if (e->heap_n == e->heap_cap && eng_heap_grow(e, 2 * e->heap_cap) < 0)
        return false;
    util_list_remove(&s->lru);
    util_list_init(&s->lru);
    e->src_idle_n--;
    for (int w = 0; w < 2; w++) {
        s->hi[w] = e->heap_n;
        e->heap[w][e->heap_n] = s;
    }
    e->heap_n++;
    eng_heap_fix(e, 0, s);
    eng_heap_fix(e, 1, s);
    return true;
}

/* src_idle - s collects nothing any more: out of the heaps, most recent on the idle list */
void src_idle(struct pmul_engine *e, struct src_state *s)
{
    size_t last = --e->heap_n;
    for (int w = 0; w < 2; w++) {
        size_t i = s->hi[w];
        if (i != last) {
            eng_heap_swap(e, w, i, last);
            eng_heap_fix(e, w, e->heap[w][i]);
        }
    }
    util_list_push_back(&e->src_idle, &s->lru);
    e->src_idle_n++;
}

/* src_find - the originator's record, or NULL */
struct src_state *src_find(const struct pmul_engine *e, uint32_t src)
{
    struct util_list *b = eng_table_bucket(&e->src_table, eng_hash(src, 0)), *it;
    UTIL_LIST_FOREACH(it, b) {
        struct src_state *s = UTIL_CONTAINER_OF(it, struct src_state, link);
        if (s->src == src)
            return s;
    }
    return NULL;
}

/* src_touch - s was heard: the idle list keeps the least recently heard first */
static void src_touch(struct pmul_engine *e, struct src_state *s)
{
    if (!s->nmsgs) {
        util_list_remove(&s->lru);
        util_list_push_back(&e->src_idle, &s->lru);
    }
}

/* src_forget - drop an idle originator's record and its open gaps */
void src_forget(struct pmul_engine *e, struct src_state *s)
{
    util_timerheap_cancel(&e->timers, &s->t_gap.t);
    e->st.gaps_open -= s->ngaps;
    e->st.sources--;
    eng_table_del(&e->src_table, &s->link);
    util_list_remove(&s->lru);
    e->src_idle_n--;
    if (s->gaps)
        rx_state_add(e, -(long long)GAPS_COST);
    if (s->rl)
        rx_state_add(e, -(long long)RL_COST);
    rx_state_add(e, -(long long)SRC_COST);
    free(s->gaps);
    free(s->rl);
    free(s);
}

/* src_new - a record for an originator (the caller made room for SRC_COST);
 * beyond PMUL_RX_MAX_SOURCES idle ones, the one heard least recently goes */
struct src_state *src_new(struct pmul_engine *e, uint32_t src)
{
    if (e->src_idle_n >= PMUL_RX_MAX_SOURCES) {
        struct src_state *old = UTIL_CONTAINER_OF(e->src_idle.next, struct src_state, lru);
        util_log(UTIL_LOG_DEBUG, UTIL_MOD_PMUL, "sequence-forgotten",
                 "src=" PMUL_ID_FMT " last_msn=%lu open_gaps=%zu", PMUL_ID_ARGS(old->src),
                 (unsigned long)old->last_msn, old->ngaps);
        src_forget(e, old);
    }
    struct src_state *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->src = src;
    util_list_init(&s->orphans);
    util_list_init(&s->addressed);
    eng_timer_init(&s->t_gap, T_SRC_GAP, s);
    eng_table_add(e, &e->src_table, &s->link, eng_hash(src, 0), src_hash);
    util_list_push_back(&e->src_idle, &s->lru);
    e->src_idle_n++;
    e->st.sources++;
    rx_state_add(e, (long long)SRC_COST);
    return s;
}

/* eng_peer_allow - whether a line of `kind` that src triggered may be
 * logged at `level` now: at most PMUL_LOG_BURST per source and kind and
 * PMUL_LOG_BURST_ALL per kind per PMUL_LOG_WINDOW_MS.  sup gets
 * " suppressed=N" when lines were held back since the last one (else ""),
 * to end the line with. */
bool eng_peer_allow(struct pmul_engine *e, util_ms now, uint32_t src, int kind,
                    enum util_log_level level, char sup[24])
{
    sup[0] = 0;
    if (!util_log_enabled(level, UTIL_MOD_PMUL))
        return false;
    struct src_state *s = src_find(e, src);
    unsigned held = 0, held_all = 0;
    if (s && !s->rl && rx_room(e, RL_COST) && (s->rl = calloc(RL_KINDS, sizeof *s->rl)))
        rx_state_add(e, (long long)RL_COST);
    if (s && !s->rl)
        s = NULL; /* no room for its own limits: the shared ones only */
    if (s && !util_ratelimit_allow(&s->rl[kind], now, PMUL_LOG_BURST, PMUL_LOG_WINDOW_MS, &held)) {
        e->st.log_suppressed++;
        return false;
    }
    if (!util_ratelimit_allow(&e->rl_all[kind], now, PMUL_LOG_BURST_ALL, PMUL_LOG_WINDOW_MS,
                              &held_all)) {
        if (s) /* the source's next line counts this one too */
            s->rl[kind].suppressed += held + 1;
        e->st.log_suppressed++;
        return false;
    }
    if (!s)
        held = held_all;
    if (held)
        snprintf(sup, 24, " suppressed=%u", held);
    return true;
}

/* ---- receiver: sequence gaps ------------------------------------------------------ */

/* src_arm - the originator's timer at its oldest open gap, or none */
void src_arm(struct pmul_engine *e, struct src_state *s)
{
    if (s->ngaps)
        eng_arm(e, &s->t_gap, s->gaps[0].final_at);
    else
        util_timerheap_cancel(&e->timers, &s->t_gap.t);
}

/* src_gap_remove - drop gap i from the table */
static void src_gap_remove(struct pmul_engine *e, struct src_state *s, size_t i)
{
    memmove(&s->gaps[i], &s->gaps[i + 1], (s->ngaps - i - 1) * sizeof *s->gaps);
    s->ngaps--;
    e->st.gaps_open--;
    if (!s->ngaps) {
        free(s->gaps);
        s->gaps = NULL;
        rx_state_add(e, -(long long)GAPS_COST);
    }
}

/* src_gap_final - gap i is lost for good: warn (rate-limited), report once, forget it */
void src_gap_final(struct pmul_engine *e, util_ms now, struct src_state *s, size_t i)
{
    struct src_gap g = s->gaps[i];
    src_gap_remove(e, s, i);
    e->st.gaps++;
    char sup[24];
    if (eng_peer_allow(e, now, s->src, RL_GAP, UTIL_LOG_WARN, sup))
        util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "sequence-gap",
                 "src=" PMUL_ID_FMT " expected_msn=%lu got_msn=%lu missing=%lu%s",
                 PMUL_ID_ARGS(s->src), (unsigned long)g.lo, (unsigned long)g.hi + 1,
                 (unsigned long)(g.hi - g.lo) + 1, sup);
    if (e->cb.gap)
        e->cb.gap(e->user, s->src, g.lo, g.hi + 1);
}

/* src_gap_bound - beyond PMUL_RX_MAX_GAPS open gaps the oldest is final now */
static void src_gap_bound(struct pmul_engine *e, util_ms now, struct src_state *s)
{
    while (s->ngaps > PMUL_RX_MAX_GAPS)
        src_gap_final(e, now, s, 0);
}

/* src_gap_open - messages lo..hi have not arrived (one entry, whatever the
 * size); the table is counted and needs room under rx_max_total */
static void src_gap_open(struct pmul_engine *e, util_ms now, struct src_state *s, uint32_t lo,
                         uint32_t hi)
{
    if (!s->gaps) {
        if (!rx_room(e, GAPS_COST) || !(s->gaps = malloc((PMUL_RX_MAX_GAPS + 1) * sizeof *s->gaps)))
            return; /* no room: this gap goes unnoticed */
        rx_state_add(e, (long long)GAPS_COST);
    }
    struct src_gap *g = &s->gaps[s->ngaps++];
    g->lo = lo;
    g->hi = hi;
    g->final_at = now + e->p.gap_wait; /* >= every open one's: the table stays in order */
    e->st.gaps_open++;
    src_gap_bound(e, now, s);
    src_arm(e, s);
}

/* src_gap_close - msn, missing until now, arrived: its gap shrinks, splits or closes */
static bool src_gap_close(struct pmul_engine *e, util_ms now, struct src_state *s, uint32_t msn)
{
    for (size_t i = 0; i < s->ngaps; i++) {
        struct src_gap *g = &s->gaps[i];
        if (msn < g->lo || msn > g->hi)
            continue;
        if (g->lo == g->hi) {
            src_gap_remove(e, s, i);
        } else if (msn == g->lo) {
            g->lo++;
        } else if (msn == g->hi) {
            g->hi--;
        } else {
            /* the two halves keep the deadline, side by side: still in order */
            memmove(&s->gaps[i + 2], &s->gaps[i + 1], (s->ngaps - i - 1) * sizeof *s->gaps);
            s->gaps[i + 1].lo = msn + 1;
            s->gaps[i + 1].hi = g->hi;
            s->gaps[i + 1].final_at = g->final_at;
            g->hi = msn - 1;
            s->ngaps++;
            e->st.gaps_open++;
            src_gap_bound(e, now, s);
        }
        src_arm(e, s);
        return true;
    }
    return false;
}

/* rx_note_msn - our Message_Sequence_Number in a message from src: a jump
 * opens a gap, a number missing until now closes (part of) one; repeats
 * change nothing, so every Address_PDU naming us may be noted.  A new
 * originator is recorded only if it fits under rx_max_total as it is. */
void rx_note_msn(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msn)
{
    if (msn == 0)
        return;
    struct src_state *s = src_find(e, src);
    if (s)
        src_touch(e, s);
    else if (!rx_room(e, SRC_COST + eng_table_need(&e->src_table)) || !(s = src_new(e, src)))
        return;
    if (msn > s->last_msn) {
        if (s->last_msn && msn - s->last_msn > 1)
            src_gap_open(e, now, s, s->last_msn + 1, msn - 1);
        s->last_msn = msn;
    } else if (src_gap_close(e, now, s, msn)) {
        util_log(UTIL_LOG_DEBUG, UTIL_MOD_PMUL, "sequence-late",
                 "src=" PMUL_ID_FMT " msn=%lu last_msn=%lu open_gaps=%zu", PMUL_ID_ARGS(src),
                 (unsigned long)msn, (unsigned long)s->last_msn, s->ngaps);
    }
}
