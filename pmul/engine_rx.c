/* engine_rx.c - the ACP 142 P_MUL receiver (ACP 142 section 5.3
 * "Multicast_IN": reassembly, Ack_PDUs with Missing_Data_PDU_Seq_Numbers
 * bounded by MM, ACK_PDU_TIME, the Ack-Ack, duplicate suppression): the
 * incoming records, their fragments, the Address_, Data_ and
 * Discard_Message_PDUs that reach them and the Ack_PDUs that answer them.
 * Loss detection from the Message_Sequence_Number, and what is kept per
 * originator, are engine_src.c.
 *
 * The receiver holds only what arrived (issue 13): a message's fragments
 * sit in runs of 32 sequence numbers, only the runs that hold any, so no
 * array is sized by a peer's Sequence_Number or Total_Number_of_PDUs; every
 * record (messages, fragments, destination lists, duplicate records) is
 * counted in bytes against rx_max_total; a message leaves its slot as soon
 * as it is delivered, refused or known not to be for us, and a compact
 * duplicate record stays; at a limit, room is made from the originator
 * holding the largest share, orphans first.
 */
#include "pmul/engine_priv.h"

#include <stdlib.h>
#include <string.h>

/* ---- receiver: incoming records ------------------------------------------------ */

/* ent_hash - the hash of an rx_ent's table node */
static uint32_t ent_hash(const struct util_list *node)
{
    const struct rx_ent *h = UTIL_CONTAINER_OF(node, const struct rx_ent, hlink);
    return eng_hash(h->src, h->msgid);
}

/* rx_find - the incoming record (src, msgid), or NULL */
static struct rx_ent *rx_find(struct pmul_engine *e, uint32_t src, uint32_t msgid)
{
    struct util_list *b = eng_table_bucket(&e->rx_table, eng_hash(src, msgid)), *it;
    UTIL_LIST_FOREACH(it, b)
    {
        struct rx_ent *h = UTIL_CONTAINER_OF(it, struct rx_ent, hlink);
        if (h->src == src && h->msgid == msgid)
            return h;
    }
    return NULL;
}

/* rx_msg_of - the message of a record that is being collected, else NULL */
struct rx_msg *rx_msg_of(struct rx_ent *h)
{
    return h && h->kind == RX_COLLECTING ? UTIL_CONTAINER_OF(h, struct rx_msg, h) : NULL;
}

/* rx_ent_init - the shared part of a new record, linked into the table */
static void rx_ent_init(struct pmul_engine *e, struct rx_ent *h, uint32_t src, uint32_t msgid,
                        int kind)
{
    h->src = src;
    h->msgid = msgid;
    h->kind = (uint8_t)kind;
    util_list_init(&h->rlink);
    eng_timer_init(&h->ack, T_RX_ACK, h);
    eng_timer_init(&h->life, T_RX_LIFE, h);
    eng_table_add(e, &e->rx_table, &h->hlink, eng_hash(src, msgid), ent_hash);
}

/* rx_unready - take a record off the list of acks ready to go */
void rx_unready(struct rx_ent *h)
{
    if (h->ready) {
        util_list_remove(&h->rlink);
        h->ready = false;
    }
}

/* rx_ent_unlink - the shared part of forgetting a record */
static void rx_ent_unlink(struct pmul_engine *e, struct rx_ent *h)
{
    rx_unready(h);
    eng_table_del(&e->rx_table, &h->hlink);
    util_timerheap_cancel(&e->timers, &h->ack.t);
    util_timerheap_cancel(&e->timers, &h->life.t);
}

/* rx_account - m costs delta bytes more (or fewer) */
static void rx_account(struct pmul_engine *e, struct rx_msg *m, long long delta)
{
    m->cost = (size_t)((long long)m->cost + delta);
    m->src->cost = (size_t)((long long)m->src->cost + delta);
    if (!m->for_us)
        m->src->orphan_cost = (size_t)((long long)m->src->orphan_cost + delta);
    rx_state_add(e, delta);
    src_heaps_fix(e, m->src);
}

/* rx_msg_destroy - forget an incoming message and give up its slot */
static void rx_msg_destroy(struct pmul_engine *e, struct rx_msg *m)
{
    struct src_state *s = m->src;
    rx_ent_unlink(e, &m->h);
    for (uint16_t i = 0; i < m->nruns; i++)
        free(m->runs[i].buf);
    free(m->runs);
    free(m->dests);
    util_list_remove(&m->plink);
    rx_account(e, m, -(long long)m->cost);
    if (!m->for_us) {
        s->norphans--;
        e->st.rx_orphans--;
    }
    e->st.rx_bytes -= m->bytes;
    e->st.rx_active--;
    if (--s->nmsgs == 0)
        src_idle(e, s);
    else
        src_heaps_fix(e, s);
    free(m);
}

/* rx_dup_destroy - forget a duplicate record */
static void rx_dup_destroy(struct pmul_engine *e, struct rx_dup *d)
{
    rx_ent_unlink(e, &d->h);
    util_list_remove(&d->fifo);
    e->st.rx_dups--;
    rx_state_add(e, -(long long)DUP_COST);
    free(d);
}

/* rx_ent_destroy - forget a record of either kind */
void rx_ent_destroy(struct pmul_engine *e, struct rx_ent *h)
{
    struct rx_msg *m = rx_msg_of(h);
    if (m)
        rx_msg_destroy(e, m);
    else
        rx_dup_destroy(e, UTIL_CONTAINER_OF(h, struct rx_dup, h));
}

/* rx_oldest - s's oldest orphan (orphans_only) or message, other than pin */
static struct rx_msg *rx_oldest(struct src_state *s, bool orphans_only, const struct rx_msg *pin)
{
    struct util_list *lists[2] = {&s->orphans, &s->addressed};
    for (int k = 0; k < (orphans_only ? 1 : 2); k++) {
        struct util_list *it;
        UTIL_LIST_FOREACH(it, lists[k])
        {
            struct rx_msg *m = UTIL_CONTAINER_OF(it, struct rx_msg, plink);
            if (m != pin)
                return m;
        }
    }
    return NULL;
}

/* rx_evict - drop an incoming message to make room for one from `for_src` */
static void rx_evict(struct pmul_engine *e, util_ms now, struct rx_msg *m, uint32_t for_src)
{
    e->st.rx_evicted++;
    char sup[24];
    if (eng_peer_allow(e, now, m->h.src, RL_EVICTED, UTIL_LOG_WARN, sup))
        util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "rx-evicted",
                 "src=" PMUL_ID_FMT " msgid=%u kind=%s had=%u bytes=%zu for=" PMUL_ID_FMT
                 " messages=%zu state=%zu%s",
                 PMUL_ID_ARGS(m->h.src), m->h.msgid, m->for_us ? "incomplete" : "orphan", m->have,
                 m->bytes, PMUL_ID_ARGS(for_src), e->st.rx_active, e->st.rx_state, sup);
    rx_msg_destroy(e, m);
}

/* rx_make_room - room for `slots` more messages and `bytes` more bytes of
 * receive state, for something from for_src: first the oldest orphan of
 * the originator holding the largest share of orphans, then (bytes) the
 * oldest duplicate record, then, unless the newcomer is an orphan itself,
 * the oldest message of the originator holding the largest share of all.
 * `pin` (the message being added to) is never dropped.  false: no room. */
static bool rx_make_room(struct pmul_engine *e, util_ms now, const struct rx_msg *pin, bool orphan,
                         size_t slots, size_t bytes, uint32_t for_src)
{
    for (;;) {
        bool slots_short = slots && e->st.rx_active + slots > e->p.rx_max_messages;
        bool bytes_short = !rx_room(e, bytes);
        if (!slots_short && !bytes_short)
            return true;
        struct rx_msg *v = e->heap_n ? rx_oldest(e->heap[1][0], true, pin) : NULL;
        if (v) {
            rx_evict(e, now, v, for_src);
            continue;
        }
        if (bytes_short && !util_list_empty(&e->dups)) {
            struct rx_dup *d = UTIL_CONTAINER_OF(e->dups.next, struct rx_dup, fifo);
            util_log(UTIL_LOG_DEBUG, UTIL_MOD_PMUL, "rx-dup-evicted",
                     "src=" PMUL_ID_FMT " msgid=%u for=" PMUL_ID_FMT, PMUL_ID_ARGS(d->h.src),
                     d->h.msgid, PMUL_ID_ARGS(for_src));
            e->st.rx_evicted++;
            rx_dup_destroy(e, d);
            continue;
        }
        if (orphan || !e->heap_n || !(v = rx_oldest(e->heap[0][0], false, pin)))
            return false;
        rx_evict(e, now, v, for_src);
    }
}

/* rx_limited - something of (src, msgid) did not fit the receive limits */
static void rx_limited(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msgid,
                       const char *what)
{
    e->st.rx_limited++;
    char sup[24];
    if (eng_peer_allow(e, now, src, RL_LIMIT, UTIL_LOG_WARN, sup))
        util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "rx-limit",
                 "src=" PMUL_ID_FMT " msgid=%u what=%s messages=%zu state=%zu%s", PMUL_ID_ARGS(src),
                 msgid, what, e->st.rx_active, e->st.rx_state, sup);
}

/* rx_dup_new - a duplicate record (the caller made room for DUP_COST), alive until `until` */
static struct rx_dup *rx_dup_new(struct pmul_engine *e, uint32_t src, uint32_t msgid, int kind,
                                 uint8_t prio, int64_t expiry, util_ms until)
{
    struct rx_dup *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    rx_ent_init(e, &d->h, src, msgid, kind);
    d->h.prio = prio;
    d->h.expiry = expiry;
    util_list_push_back(&e->dups, &d->fifo);
    e->st.rx_dups++;
    rx_state_add(e, (long long)DUP_COST);
    eng_arm(e, &d->h.life, until);
    return d;
}

/* rx_keep_until - when a finished record of a message expiring then goes */
static util_ms rx_keep_until(const struct pmul_engine *e, util_ms now, int64_t expiry)
{
    if (!expiry)
        return now + e->p.rx_orphan_time;
    return UTIL_MAX(eng_mono_of_wall(e, expiry) + e->p.rx_keep_done, now + 1000);
}

/* rx_finish - a message leaves collecting: it gives up its slot at once and
 * only a duplicate record of `kind` is left, until `until` */
static struct rx_dup *rx_finish(struct pmul_engine *e, struct rx_msg *m, int kind, util_ms until)
{
    uint32_t src = m->h.src, msgid = m->h.msgid;
    uint8_t prio = m->h.prio;
    int64_t expiry = m->h.expiry;
    uint16_t ndests = m->h.ndests;
    rx_msg_destroy(e, m); /* frees more than the record takes */
    struct rx_dup *d = rx_dup_new(e, src, msgid, kind, prio, expiry, until);
    if (d)
        d->h.ndests = ndests;
    return d;
}

/* rx_create - a new incoming message, or NULL at the limits (logged) */
static struct rx_msg *rx_create(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msgid,
                                bool orphan)
{
    struct src_state *s = src_find(e, src);
    if (!s && rx_make_room(e, now, NULL, orphan, 0, SRC_COST + eng_table_need(&e->src_table), src))
        s = src_new(e, src);
    size_t need = MSG_COST + eng_table_need(&e->rx_table) + eng_heap_need(e);
    if (!s || !rx_make_room(e, now, NULL, orphan, 1, need, src)) {
        rx_limited(e, now, src, msgid, orphan ? "orphan" : "message");
        return NULL;
    }
    struct rx_msg *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (!s->nmsgs && !src_busy(e, s)) {
        free(m);
        return NULL;
    }
    rx_ent_init(e, &m->h, src, msgid, RX_COLLECTING);
    m->src = s;
    util_list_push_back(&s->orphans, &m->plink);
    s->nmsgs++;
    s->norphans++;
    e->st.rx_active++;
    e->st.rx_orphans++;
    rx_account(e, m, (long long)MSG_COST);
    eng_arm(e, &m->h.life, now + e->p.rx_orphan_time);
    return m;
}

/* rx_set_for_us - an Address_PDU names us: m is an orphan no more */
static void rx_set_for_us(struct pmul_engine *e, struct rx_msg *m)
{
    if (m->for_us)
        return;
    struct src_state *s = m->src;
    s->orphan_cost -= m->cost;
    s->norphans--;
    e->st.rx_orphans--;
    m->for_us = true;
    util_list_remove(&m->plink);
    util_list_push_back(&s->addressed, &m->plink);
    src_heaps_fix(e, s);
}

/* rx_already - whether a new (src, msgid) is one the application delivered
 * before (a restart, or its duplicate record was pushed out): then *dup is
 * a new duplicate record for it (NULL if none fits) */
static bool rx_already(struct pmul_engine *e, util_ms now, uint32_t src, uint32_t msgid,
                       struct rx_dup **dup)
{
    *dup = NULL;
    if (!e->cb.already_delivered || !e->cb.already_delivered(e->user, src, msgid))
        return false;
    e->st.duplicates++;
    if (rx_make_room(e, now, NULL, false, 0, DUP_COST + eng_table_need(&e->rx_table), src))
        *dup = rx_dup_new(e, src, msgid, RX_DELIVERED, 0, 0, now + e->p.rx_orphan_time);
    return true;
}

/* ---- receiver: fragments ------------------------------------------------------------ */

/* rx_run_find - the index of the run starting at base, or where it would go (*found false) */
static size_t rx_run_find(const struct rx_msg *m, uint16_t base, bool *found)
{
    size_t lo = 0, hi = m->nruns;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->runs[mid].base < base)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < m->nruns && m->runs[lo].base == base;
    return lo;
}

/* rx_run_offset - where fragment bit `bit` of run r starts (or would) in its buffer */
static size_t rx_run_offset(const struct rx_run *r, unsigned bit)
{
    size_t off = 0;
    for (unsigned i = 0; i < bit; i++)
        if (r->bits >> i & 1)
            off += 2 + util_get_u16(r->buf + off);
    return off;
}

/* rx_store - keep one fragment (making room for it); false if it is a
 * duplicate, bogus or refused */
static bool rx_store(struct pmul_engine *e, util_ms now, struct rx_msg *m, uint16_t seq,
                     const uint8_t *d, size_t len)
{
    if (seq == 0 || (m->have_addr && seq > m->total))
        return false;
    uint16_t base = (uint16_t)((seq - 1) / RX_RUN * RX_RUN);
    unsigned bit = (unsigned)(seq - 1) % RX_RUN;
    bool found;
    size_t i = rx_run_find(m, base, &found);
    if (found && (m->runs[i].bits >> bit & 1))
        return false; /* a duplicate */
    if (m->bytes + len > e->p.rx_max_message) {
        e->st.rx_limited++;
        char sup[24];
        if (eng_peer_allow(e, now, m->h.src, RL_MEMORY, UTIL_LOG_WARN, sup))
            util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "rx-memory-limit",
                     "src=" PMUL_ID_FMT " msgid=%u bytes=%zu max=%zu%s", PMUL_ID_ARGS(m->h.src),
                     m->h.msgid, m->bytes, e->p.rx_max_message, sup);
        return false;
    }
    /* what it costs: perhaps a bigger run array, a new or bigger run buffer */
    size_t runs_cap = m->runs_cap, add = 0;
    if (!found && m->nruns == m->runs_cap) {
        runs_cap = m->runs_cap ? 2u * m->runs_cap : 1;
        add += (runs_cap - m->runs_cap) * sizeof *m->runs + (m->runs_cap ? 0 : ALLOC_COST);
    }
    size_t used = found ? m->runs[i].used : 0, cap = found ? m->runs[i].cap : 0;
    size_t need = used + 2 + len, ncap = cap;
    if (need > cap) {
        ncap = cap ? UTIL_MAX(need, cap + cap / 2) : need;
        add += ncap - cap + (cap ? 0 : ALLOC_COST);
    }
    if (!rx_make_room(e, now, m, !m->for_us, 0, add, m->h.src)) {
        rx_limited(e, now, m->h.src, m->h.msgid, "fragment");
        return false;
    }
    if (runs_cap != m->runs_cap) {
        struct rx_run *nr = realloc(m->runs, runs_cap * sizeof *nr);
        if (!nr)
            return false;
        m->runs = nr;
        rx_account(
            e, m,
            (long long)((runs_cap - m->runs_cap) * sizeof *nr + (m->runs_cap ? 0 : ALLOC_COST)));
        m->runs_cap = (uint16_t)runs_cap;
    }
    if (!found) {
        memmove(&m->runs[i + 1], &m->runs[i], (m->nruns - i) * sizeof *m->runs);
        memset(&m->runs[i], 0, sizeof m->runs[i]);
        m->runs[i].base = base;
        m->nruns++;
    }
    struct rx_run *r = &m->runs[i];
    if (ncap != cap) {
        uint8_t *nb = realloc(r->buf, ncap);
        if (!nb) {
            if (!r->bits) { /* the run just made: take it out again */
                memmove(&m->runs[i], &m->runs[i + 1], (m->nruns - i - 1) * sizeof *m->runs);
                m->nruns--;
            }
            return false;
        }
        r->buf = nb;
        r->cap = (uint32_t)ncap;
        rx_account(e, m, (long long)(ncap - cap + (cap ? 0 : ALLOC_COST)));
    }
    size_t off = rx_run_offset(r, bit);
    memmove(r->buf + off + 2 + len, r->buf + off, r->used - off);
    util_put_u16(r->buf + off, (uint16_t)len);
    if (len)
        memcpy(r->buf + off + 2, d, len);
    r->used = (uint32_t)need;
    r->bits |= 1u << bit;
    m->have++;
    m->bytes += len;
    e->st.rx_bytes += len;
    return true;
}

/* rx_trim - drop the fragments beyond total (bogus: they came before the Address_PDU) */
static void rx_trim(struct pmul_engine *e, struct rx_msg *m, uint16_t total)
{
    while (m->nruns) {
        struct rx_run *r = &m->runs[m->nruns - 1];
        if ((uint32_t)r->base + RX_RUN <= total)
            break;
        unsigned keep = r->base < total ? (unsigned)(total - r->base) : 0; /* bits 0..keep-1 stay */
        size_t off = rx_run_offset(r, keep), pos = off;
        for (unsigned b = keep; b < RX_RUN; b++)
            if (r->bits >> b & 1) {
                size_t l = util_get_u16(r->buf + pos);
                pos += 2 + l;
                m->have--;
                m->bytes -= l;
                e->st.rx_bytes -= l;
            }
        r->used = (uint32_t)off;
        r->bits &= keep ? (uint32_t)((1ull << keep) - 1) : 0;
        if (r->bits)
            break;
        rx_account(e, m, -(long long)(r->cap + ALLOC_COST));
        free(r->buf);
        m->nruns--;
    }
}

/* rx_complete - whether every Data_PDU is here */
static bool rx_complete(const struct rx_msg *m)
{
    return m->have_addr && m->total > 0 && m->have == m->total;
}

/* rx_missing_ranges - the missing Data_PDUs of m as at most max ranges */
static size_t rx_missing_ranges(const struct rx_msg *m, struct pmul_range *r, size_t max)
{
    size_t n = 0;
    if (!m->have_addr)
        return 0;
    uint32_t next = 1; /* the first number not yet accounted for */
    for (uint16_t i = 0; i < m->nruns && n < max; i++) {
        uint32_t bits = m->runs[i].bits;
        while (bits && n < max) {
            unsigned b = (unsigned)__builtin_ctz(bits);
            bits &= bits - 1;
            uint32_t seq = (uint32_t)m->runs[i].base + 1 + b;
            if (seq > m->total)
                break;
            if (seq > next) {
                r[n].lo = (uint16_t)next;
                r[n].hi = (uint16_t)(seq - 1);
                n++;
            }
            next = seq + 1;
        }
    }
    if (n < max && next <= m->total) {
        r[n].lo = (uint16_t)next;
        r[n].hi = m->total;
        n++;
    }
    return n;
}

/* rx_none_missing_after - whether every Data_PDU numbered after seq is
 * held (runs from the last one back, stopping at the first gap) */
static bool rx_none_missing_after(const struct rx_msg *m, uint16_t seq)
{
    if (!m->have_addr)
        return false;
    uint32_t want_top = m->total; /* every number from here down to seq+1 must be held */
    for (int i = (int)m->nruns - 1; i >= 0 && want_top > seq; i--) {
        const struct rx_run *r = &m->runs[i];
        uint32_t lo = (uint32_t)r->base + 1, hi = UTIL_MIN((uint32_t)r->base + RX_RUN, (uint32_t)m->total);
        if (lo > want_top)
            continue; /* bogus numbers beyond the total */
        if (hi < want_top)
            return false; /* want_top falls between runs: missing */
        uint32_t from = UTIL_MAX(lo, (uint32_t)seq + 1);
        for (uint32_t n = want_top; n >= from; n--)
            if (!((r->bits >> (n - lo)) & 1))
                return false;
        want_top = lo - 1;
    }
    return want_top <= seq;
}

/* ---- receiver: PDUs ------------------------------------------------------------------ */

/* rx_ack_window - how long the receivers of a message spread their acks:
 * the airtime of one Ack_PDU per destination the Address_PDU named (so that
 * they rarely collide and the last answers soon), at most ack_delay_max;
 * ack_delay_max when the count is not known */
static util_ms rx_ack_window(const struct pmul_engine *e, const struct rx_ent *h)
{
    if (!h->ndests)
        return e->p.ack_delay_max;
    util_ms w = eng_airtime(e, RX_ACK_TYPICAL_LEN) * h->ndests;
    return UTIL_MIN(w, e->p.ack_delay_max);
}

/* rx_schedule_ack - acknowledge after a random delay within the ack window
 * (sooner if already due) */
void rx_schedule_ack(struct pmul_engine *e, util_ms now, struct rx_ent *h, util_ms base)
{
    if (h->ready)
        return;
    util_ms window = rx_ack_window(e, h);
    util_ms delay = window ? util_rng_below(&e->rng, window + 1) : 0;
    util_ms when = now + base + delay;
    if (util_timer_armed(&h->ack.t) && h->ack.t.expiry <= when)
        return;
    eng_arm(e, &h->ack, when);
}

/* rx_may_ask - whether an Ack_PDU listing missing Data_PDUs may go to src:
 * a known node, or one heard whole (pmul_callbacks.source_known) */
bool rx_may_ask(const struct pmul_engine *e, uint32_t src)
{
    if (!e->cb.source_known || e->cb.source_known(e->user, src))
        return true;
    const struct src_state *s = src_find(e, src);
    return s && s->heard_whole;
}

/* rx_deliver - the message is complete: assemble, hand over, then
 * acknowledge; either way it gives up its slot at once */
static void rx_deliver(struct pmul_engine *e, util_ms now, struct rx_msg *m)
{
    uint8_t *all = malloc(m->bytes ? m->bytes : 1);
    if (!all) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_PMUL, "deliver-failed",
                 "src=" PMUL_ID_FMT " msgid=%u error=\"out of memory\"", PMUL_ID_ARGS(m->h.src),
                 m->h.msgid);
        return;
    }
    size_t off = 0;
    for (uint16_t i = 0; i < m->nruns; i++) {
        const struct rx_run *r = &m->runs[i];
        for (size_t pos = 0; pos < r->used;) {
            size_t l = util_get_u16(r->buf + pos);
            memcpy(all + off, r->buf + pos + 2, l);
            off += l;
            pos += 2 + l;
        }
    }
    struct src_state *s = src_find(e, m->h.src);
    if (s)
        s->heard_whole = true; /* a real originator: it may be asked for what it lacks from now on */
    struct pmul_rx_message rx = {m->h.src, m->h.msgid, m->msn,   m->h.prio, m->h.expiry,
                                 all,      off,        m->dests, m->ndests};
    int rc = e->cb.deliver ? e->cb.deliver(e->user, &rx) : 0;
    free(all);
    if (rc < 0) {
        /* not stored: no ack; the retransmissions bring it again */
        e->st.rx_refused++;
        char sup[24];
        if (eng_peer_allow(e, now, m->h.src, RL_REFUSED, UTIL_LOG_WARN, sup))
            util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "deliver-refused",
                     "src=" PMUL_ID_FMT " msgid=%u rc=%d%s", PMUL_ID_ARGS(m->h.src), m->h.msgid, rc,
                     sup);
        rx_finish(e, m, RX_REFUSED, rx_keep_until(e, now, m->h.expiry));
        return;
    }
    e->st.messages_delivered++;
    util_log(UTIL_LOG_INFO, UTIL_MOD_PMUL, "delivered",
             "src=" PMUL_ID_FMT " msgid=%u msn=%u bytes=%zu pdus=%u", PMUL_ID_ARGS(m->h.src),
             m->h.msgid, m->msn, off, m->total);
    struct rx_dup *d = rx_finish(e, m, RX_DELIVERED, rx_keep_until(e, now, m->h.expiry));
    if (d)
        rx_schedule_ack(e, now, &d->h, 0);
}

/* rx_on_data - a Data_PDU */
void rx_on_data(struct pmul_engine *e, util_ms now, const struct pmul_pdu *p)
{
    if (p->source_id == e->p.node_id)
        return; /* our own, looped back */
    struct rx_ent *h = rx_find(e, p->source_id, p->message_id);
    if (h && h->kind == RX_REFUSED)
        return; /* the rest of the round it was refused in: the next round's
                 * Address_PDU starts collecting it again (rx_on_address) */
    struct rx_dup *dup;
    if (!h && rx_already(e, now, p->source_id, p->message_id, &dup))
        return;
    struct rx_msg *m = h ? rx_msg_of(h) : rx_create(e, now, p->source_id, p->message_id, true);
    if (!m) {
        if (h && h->kind == RX_DELIVERED)
            e->st.duplicates++;
        return;
    }
    if (!rx_store(e, now, m, p->u.data.seq, p->u.data.data, p->u.data.len))
        return;
    if (!m->have_addr)
        return;
    if (rx_complete(m)) {
        rx_deliver(e, now, m);
    } else if (m->for_us && !m->h.ready) {
        if (rx_none_missing_after(m, p->u.data.seq)) {
            /* the round's last Data_PDU (nothing after it is missing): report
             * what is, within the ack window, so the next round starts */
            m->h.ack_soon = true;
            rx_schedule_ack(e, now, &m->h, 0);
        } else if (!m->h.ack_soon) {
            /* else ACK_PDU_TIME after the last Data_PDU heard (its last was lost) */
            eng_arm(e, &m->h.ack, now + e->p.ack_pdu_time);
        }
    }
}

/* rx_note_dests - remember the Destination_IDs an Address_PDU names (the
 * first one seen of each part; at most RX_MAX_DESTS), for the deliverer;
 * the list grows with what is named, within the receive limits */
static void rx_note_dests(struct pmul_engine *e, util_ms now, struct rx_msg *m,
                          const struct pmul_pdu *p)
{
    struct pmul_dest d;
    for (size_t i = 0; i < p->u.address.count && m->ndests < RX_MAX_DESTS; i++) {
        if (pmul_address_dest(p, i, &d) < 0)
            break;
        bool known = false;
        for (size_t j = 0; j < m->ndests && !known; j++)
            known = m->dests[j] == d.dest_id;
        if (known)
            continue;
        if (m->ndests == m->dests_cap) {
            size_t cap = m->dests_cap ? UTIL_MIN(2u * m->dests_cap, (unsigned)RX_MAX_DESTS) : 4;
            size_t add = (cap - m->dests_cap) * sizeof *m->dests + (m->dests_cap ? 0 : ALLOC_COST);
            uint32_t *nd;
            if (!rx_make_room(e, now, m, !m->for_us, 0, add, m->h.src) ||
                !(nd = realloc(m->dests, cap * sizeof *nd)))
                return;
            m->dests = nd;
            m->dests_cap = (uint16_t)cap;
            rx_account(e, m, (long long)add);
        }
        m->dests[m->ndests++] = d.dest_id;
    }
    m->h.ndests = m->ndests;
}

/* rx_on_address - an Address_PDU (or the Ack-Ack) */
void rx_on_address(struct pmul_engine *e, util_ms now, const struct pmul_pdu *p)
{
    if (p->source_id == e->p.node_id)
        return;
    if (pmul_is_ack_ack(p)) {
        struct rx_ent *h = rx_find(e, p->source_id, p->message_id);
        if (h) {
            h->finished = true;
            rx_unready(h);
            util_timerheap_cancel(&e->timers, &h->ack.t);
            struct rx_msg *m = rx_msg_of(h);
            if (m && !m->for_us)
                rx_finish(e, m, RX_NOT_FOR_US, rx_keep_until(e, now, m->h.expiry));
        }
        return;
    }
    bool listed = false;
    uint32_t msn = 0;
    struct pmul_dest d;
    for (size_t i = 0; i < p->u.address.count; i++)
        if (pmul_address_dest(p, i, &d) == 0 && d.dest_id == e->p.node_id) {
            listed = true;
            msn = d.msn;
            break;
        }
    if (listed)
        rx_note_msn(e, now, p->source_id, msn);
    uint16_t total = p->u.address.total_pdus;
    struct rx_ent *h = rx_find(e, p->source_id, p->message_id);
    if (h && h->kind != RX_COLLECTING) {
        if (!h->expiry && p->u.address.expiry) { /* it came from already_delivered */
            h->expiry = p->u.address.expiry;
            h->prio = p->priority;
            eng_arm(e, &h->life, rx_keep_until(e, now, h->expiry));
        }
        if (h->kind == RX_DELIVERED) {
            if (listed) {
                h->finished = false;
                rx_schedule_ack(e, now, h, 0); /* the sender lacks our ack */
            } else if (p->map == 0) {
                h->finished = true; /* a retransmission without us: the sender has our ack */
                rx_unready(h);
                util_timerheap_cancel(&e->timers, &h->ack.t);
            }
            return;
        }
        if (h->kind == RX_DISCARDED || !listed)
            return;
        rx_ent_destroy(e, h); /* not for us before, for us now: collect it */
        h = NULL;
    }
    struct rx_msg *m = rx_msg_of(h);
    if (!m) {
        if (!listed)
            return; /* not for us and nothing collected: nothing to do */
        struct rx_dup *dup;
        if (rx_already(e, now, p->source_id, p->message_id, &dup)) {
            if (dup) { /* the sender lacks our ack */
                dup->h.expiry = p->u.address.expiry;
                dup->h.prio = p->priority;
                eng_arm(e, &dup->h.life, rx_keep_until(e, now, dup->h.expiry));
                rx_schedule_ack(e, now, &dup->h, 0);
            }
            return;
        }
        if (!(m = rx_create(e, now, p->source_id, p->message_id, false)))
            return;
    }
    rx_note_dests(e, now, m, p);
    if (!m->have_addr && total > 0) {
        m->have_addr = true;
        m->total = total;
        m->h.prio = p->priority;
        m->h.expiry = p->u.address.expiry;
        rx_trim(e, m, total); /* fragments beyond the total are bogus */
        eng_arm(e, &m->h.life, rx_keep_until(e, now, m->h.expiry));
    } else if (m->have_addr && total != m->total) {
        e->st.bad_pdus++;
        char sup[24];
        if (eng_peer_allow(e, now, m->h.src, RL_TOTAL, UTIL_LOG_WARN, sup))
            util_log(UTIL_LOG_WARN, UTIL_MOD_PMUL, "total-changed",
                     "src=" PMUL_ID_FMT " msgid=%u was=%u now=%u%s", PMUL_ID_ARGS(m->h.src),
                     m->h.msgid, m->total, total, sup);
        return;
    }
    if (!listed) {
        if (p->map == 0) {
            if (m->for_us) {
                /* a retransmission without us: the sender has our ack */
                m->h.finished = true;
                rx_unready(&m->h);
                util_timerheap_cancel(&e->timers, &m->h.ack.t);
            } else {
                rx_finish(e, m, RX_NOT_FOR_US, rx_keep_until(e, now, m->h.expiry));
            }
        }
        return;
    }
    if (!m->for_us)
        m->msn = msn;
    rx_set_for_us(e, m);
    m->h.finished = false;
    if (rx_complete(m)) {
        rx_deliver(e, now, m);
        return;
    }
    /* incomplete: the round's Data_PDUs follow; ack on its last one, or
     * after a quiet ACK_PDU_TIME */
    m->h.ack_soon = false;
    if (!m->h.ready)
        eng_arm(e, &m->h.ack, now + e->p.ack_pdu_time);
}

/* rx_on_discard - a Discard_Message_PDU: the partial copy goes, a short
 * record stays (nothing is kept for a message never seen) */
void rx_on_discard(struct pmul_engine *e, util_ms now, const struct pmul_pdu *p)
{
    if (p->source_id == e->p.node_id)
        return;
    struct rx_ent *h = rx_find(e, p->source_id, p->message_id);
    struct rx_msg *m = rx_msg_of(h);
    if (!h || (!m && h->kind != RX_REFUSED))
        return;
    if (!m || m->for_us) {
        e->st.discarded++;
        char sup[24];
        if (eng_peer_allow(e, now, h->src, RL_DISCARDED, UTIL_LOG_NOTICE, sup))
            util_log(UTIL_LOG_NOTICE, UTIL_MOD_PMUL, "discarded",
                     "src=" PMUL_ID_FMT " msgid=%u had=%u of=%u%s", PMUL_ID_ARGS(h->src), h->msgid,
                     m ? m->have : 0, m ? m->total : 0, sup);
    }
    if (m) {
        rx_finish(e, m, RX_DISCARDED, now + e->p.rx_keep_done);
    } else {
        h->kind = RX_DISCARDED;
        eng_arm(e, &h->life, now + e->p.rx_keep_done);
    }
}

/* rx_send_acks - one Ack_PDU for the first ready originator, with every
 * ready message of that originator that fits */
int rx_send_acks(struct pmul_engine *e, util_ms now)
{
    struct rx_ent *first = UTIL_CONTAINER_OF(e->ack_ready.next, struct rx_ent, rlink);
    uint32_t src = first->src;
    bool acker_id = e->cb.ack_names_acker && e->cb.ack_names_acker(e->user, src);
    size_t n = 0, nranges = 0, len = PMUL_ACK_HDR_LEN;
    struct util_list *it;
    UTIL_LIST_FOREACH(it, &e->ack_ready) {
        struct rx_ent *h = UTIL_CONTAINER_OF(it, struct rx_ent, rlink);
        if (h->src != src)
            continue;
        if (n >= MAX_ACK_ENTRIES)
            break;
        struct rx_msg *m = rx_msg_of(h);
        size_t room = UTIL_MIN((size_t)e->p.mm, MAX_ACK_RANGES - nranges);
        struct pmul_ack_entry *a = &e->ack_ents[n];
        memset(a, 0, sizeof *a);
        a->source_id = acker_id ? e->p.node_id : h->src;
        a->message_id = h->msgid;
        a->ranges = &e->ack_ranges[nranges];
        a->nranges = m ? rx_missing_ranges(m, &e->ack_ranges[nranges], room) : 0;
        size_t elen = pmul_ack_entry_len(a);
        while (a->nranges > 0 && len + elen > e->p.pdu_max) {
            a->nranges--;
            elen = pmul_ack_entry_len(a);
        }
        if (len + elen > e->p.pdu_max)
            break;
        if (m && a->nranges == 0)
            continue; /* cannot describe it within the PDU: next time */
        len += elen;
        nranges += a->nranges;
        e->ack_msgs[n++] = h;
    }
    if (n == 0) {
        /* nothing describable now (MM or the PDU size): ask again later */
        rx_unready(first);
        eng_arm(e, &first->ack, now + e->p.ack_pdu_time);
        return 0;
    }
    struct pmul_pdu pdu;
    pmul_pdu_init(&pdu, PMUL_ACK);
    pdu.source_id = e->p.node_id;
    pdu.u.ack.count = n;
    pdu.u.ack.entries = e->ack_ents;
    struct pmul_tx_info info;
    memset(&info, 0, sizeof info);
    info.type = PMUL_ACK;
    info.priority = first->prio;
    info.expiry = first->expiry;
    info.to = src;
    info.source_id = src;
    info.message_id = first->msgid;
    int rc = eng_emit(e, now, &pdu, &info);
    if (rc < 0)
        return rc;
    e->st.acks_sent++;
    for (size_t i = 0; i < n; i++) {
        struct rx_ent *h = e->ack_msgs[i];
        rx_unready(h);
        h->ack_soon = false;
        if (h->acks_sent < UINT16_MAX)
            h->acks_sent++;
        util_log(UTIL_LOG_DEBUG, UTIL_MOD_PMUL, "ack-sent",
                 "to=" PMUL_ID_FMT " msgid=%u missing_ranges=%zu complete=%s", PMUL_ID_ARGS(h->src),
                 h->msgid, e->ack_ents[i].nranges, h->kind == RX_COLLECTING ? "no" : "yes");
        if (h->kind == RX_COLLECTING) {
            /* ask again after a quiet ACK_PDU_TIME, backing off, until expiry */
            util_ms wait = e->p.ack_pdu_time * UTIL_MIN(h->acks_sent, 8u);
            eng_arm(e, &h->ack, now + wait);
        }
    }
    return 0;
}
