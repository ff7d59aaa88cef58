/* ratelimit.c - a per-peer, per-kind limit on log lines (DESIGN.md: bad
 * input is "logged once (rate-limited)"): a fixed window of `burst` lines,
 * and a count of what was held back, reported with the next line. */
#include "util/util.h"

/* util_ratelimit_allow - whether one more line may be logged at now */
bool util_ratelimit_allow(struct util_ratelimit *r, util_ms now, unsigned burst, util_ms window,
                          unsigned *suppressed)
{
    if (suppressed)
        *suppressed = 0;
    if (!r->started || now < r->window_start || now - r->window_start >= window) {
        r->started = true;
        r->window_start = now;
        r->lines = 0;
    }
    if (r->lines >= burst) {
        if (r->suppressed < UINT32_MAX)
            r->suppressed++;
        return false;
    }
    r->lines++;
    if (suppressed)
        *suppressed = r->suppressed;
    r->suppressed = 0;
    return true;
}
