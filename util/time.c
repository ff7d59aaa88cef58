/* time.c - monotonic and wall clocks (for glue only), the deterministic
 * PRNG (xoshiro256** by Blackman and Vigna, seeded through splitmix64) and
 * the intrusive binary min-heap of timers that engines use for their
 * retransmission, ack-delay and expiry timers.
 */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* util_now_ms - CLOCK_MONOTONIC in milliseconds */
util_ms util_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (util_ms)ts.tv_sec * 1000u + (util_ms)(ts.tv_nsec / 1000000L);
}

/* util_wall_s - wall-clock UNIX seconds (for Expiry_Time and logs) */
int64_t util_wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

/* util_time_iso - UNIX seconds as ISO 8601 UTC ("2026-12-03T14:05:10Z") into buf
 * (>= UTIL_TIME_ISO_LEN); returns buf */
char *util_time_iso(int64_t unix_s, char *buf, size_t len)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (!len)
        return buf;
    if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, len, "%lld", (long long)unix_s);
    return buf;
}

/* ---- PRNG -------------------------------------------------------------------- */

/* util_splitmix64 - one step of splitmix64, used only to seed */
static uint64_t util_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* util_rng_seed - seed the generator */
void util_rng_seed(struct util_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = util_splitmix64(&seed);
}

/* util_rotl - rotate a 64-bit value left */
static inline uint64_t util_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* util_rng_next - next 64 random bits */
uint64_t util_rng_next(struct util_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = util_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = util_rotl(s[3], 45);
    return result;
}

/* util_rng_below - uniform integer in [0, n) (n > 0) */
uint64_t util_rng_below(struct util_rng *r, uint64_t n)
{
    if (n <= 1)
        return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* reject the biased tail */
    uint64_t v;
    do
        v = util_rng_next(r);
    while (v >= limit);
    return v % n;
}

/* util_rng_unit - uniform double in [0, 1) */
double util_rng_unit(struct util_rng *r)
{
    return (double)(util_rng_next(r) >> 11) * 0x1.0p-53;
}

/* ---- timer heap --------------------------------------------------------------- */

/* util_timerheap_init - an empty heap */
void util_timerheap_init(struct util_timerheap *h)
{
    h->items = NULL;
    h->len = h->cap = 0;
}

/* util_timerheap_free - release the heap's array (the timers are the caller's) */
void util_timerheap_free(struct util_timerheap *h)
{
    for (size_t i = 0; i < h->len; i++)
        h->items[i]->slot = SIZE_MAX;
    free(h->items);
    util_timerheap_init(h);
}

/* util_timerheap_place - put t at slot i */
static inline void util_timerheap_place(struct util_timerheap *h, size_t i, struct util_timer *t)
{
    h->items[i] = t;
    t->slot = i;
}

/* util_timerheap_up - restore order by moving slot i towards the root */
static void util_timerheap_up(struct util_timerheap *h, size_t i)
{
    struct util_timer *t = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->expiry <= t->expiry)
            break;
        util_timerheap_place(h, i, h->items[parent]);
        i = parent;
    }
    util_timerheap_place(h, i, t);
}

/* util_timerheap_down - restore order by moving slot i towards the leaves */
static void util_timerheap_down(struct util_timerheap *h, size_t i)
{
    struct util_timer *t = h->items[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len)
            break;
        if (c + 1 < h->len && h->items[c + 1]->expiry < h->items[c]->expiry)
            c++;
        if (t->expiry <= h->items[c]->expiry)
            break;
        util_timerheap_place(h, i, h->items[c]);
        i = c;
    }
    util_timerheap_place(h, i, t);
}

/* util_timerheap_arm - (re)arm t to fire at expiry */
int util_timerheap_arm(struct util_timerheap *h, struct util_timer *t, util_ms expiry)
{
    if (util_timer_armed(t)) {
        util_ms old = t->expiry;
        t->expiry = expiry;
        if (expiry < old)
            util_timerheap_up(h, t->slot);
        else
            util_timerheap_down(h, t->slot);
        return UTIL_OK;
    }
    if (h->len == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 16;
        struct util_timer **n = realloc(h->items, ncap * sizeof *n);
        if (!n)
            return UTIL_ERR_NOMEM;
        h->items = n;
        h->cap = ncap;
    }
    t->expiry = expiry;
    util_timerheap_place(h, h->len++, t);
    util_timerheap_up(h, t->slot);
    return UTIL_OK;
}

/* util_timerheap_cancel - disarm t if armed */
void util_timerheap_cancel(struct util_timerheap *h, struct util_timer *t)
{
    if (!util_timer_armed(t))
        return;
    size_t i = t->slot;
    t->slot = SIZE_MAX;
    h->len--;
    if (i == h->len)
        return;
    struct util_timer *last = h->items[h->len];
    util_timerheap_place(h, i, last);
    if (i > 0 && h->items[(i - 1) / 2]->expiry > last->expiry)
        util_timerheap_up(h, i);
    else
        util_timerheap_down(h, i);
}

/* util_timerheap_pop_due - remove and return a timer with expiry <= now, or NULL */
struct util_timer *util_timerheap_pop_due(struct util_timerheap *h, util_ms now)
{
    if (!h->len || h->items[0]->expiry > now)
        return NULL;
    struct util_timer *t = h->items[0];
    util_timerheap_cancel(h, t);
    return t;
}
