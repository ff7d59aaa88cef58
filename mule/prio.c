/* prio.c - priority and expiry for MULE: MT-PRIORITY (RFC 6710 section 3,
 * -9..9, absent = 0) -> P_MUL priority 6 - x clamped to 0..15 (RFC 8494
 * section 3; 0 most urgent) -> STANAG 5066 SIS priority (Annex A, 15
 * highest) by a configurable table of 16 entries, which a P_MUL priority
 * from the wire (ACP 142: 0..255) indexes clamped to 15; DELIVERBY (RFC
 * 2852 section 4, BY=<by-time>;<R|N>[T]) -> ACP 142 Expiry_Time, with a
 * configurable default lifetime per P_MUL priority.  No clock: times are
 * passed in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mule/mule.h"

/* mule_prio_defaults - SIS 15 - p; lifetimes 1 h, 6 h, 24 h, 72 h */
void mule_prio_defaults(struct mule_prio *p)
{
    for (int i = 0; i <= MULE_PMUL_PRIO_MAX; i++) {
        p->sis[i] = (uint8_t)(15 - i);
        if (i <= 2)
            p->lifetime[i] = 3600;
        else if (i <= 5)
            p->lifetime[i] = 6 * 3600;
        else if (i == MULE_PMUL_PRIO_NORMAL)
            p->lifetime[i] = 24 * 3600;
        else
            p->lifetime[i] = 72 * 3600;
    }
}

#define MULE_LIFETIME_MAX_MS (366ull * 24 * 3600 * 1000)

/* mule_prio_load - defaults, then the [priority] section */
int mule_prio_load(struct util_conf *conf, struct mule_prio *p)
{
    mule_prio_defaults(p);
    struct util_conf_section *s = util_conf_section(conf, "priority", NULL);
    if (!s)
        return 0;
    uint64_t all_ms;
    int rc = util_conf_duration_ms(conf, s, "lifetime", 0, 1000, MULE_LIFETIME_MAX_MS, &all_ms);
    if (rc < 0)
        return rc;
    for (int i = 0; i <= MULE_PMUL_PRIO_MAX; i++) {
        char key[32];
        uint64_t ms;
        long long sis;
        uint64_t def = all_ms ? all_ms : (uint64_t)p->lifetime[i] * 1000;
        snprintf(key, sizeof key, "lifetime.%d", i);
        if ((rc = util_conf_duration_ms(conf, s, key, def, 1000, MULE_LIFETIME_MAX_MS, &ms)) < 0)
            return rc;
        p->lifetime[i] = (uint32_t)(ms / 1000);
        snprintf(key, sizeof key, "sis.%d", i);
        if ((rc = util_conf_int(conf, s, key, p->sis[i], 0, 15, &sis)) < 0)
            return rc;
        p->sis[i] = (uint8_t)sis;
    }
    return 0;
}

/* mule_mt_priority - MT-PRIORITY (RFC 6710, -9..9) from MAIL parameters */
int mule_mt_priority(const char *mail_params, int *x)
{
    const char *v;
    size_t n;
    *x = 0;
    if (!mule_param_get(mail_params, "MT-PRIORITY", &v, &n))
        return 0;
    int sign = 1;
    if (n == 2 && (v[0] == '-' || v[0] == '+')) {
        sign = v[0] == '-' ? -1 : 1;
        v++;
        n--;
    }
    if (n != 1 || v[0] < '0' || v[0] > '9')
        return MULE_ERR_BAD_PARAM;
    *x = sign * (v[0] - '0');
    return 0;
}

/* mule_pmul_priority - RFC 8494: 6 - x, clamped to 0..15 (0 most urgent) */
int mule_pmul_priority(int mt_priority)
{
    int p = MULE_PMUL_PRIO_NORMAL - mt_priority;
    return p < 0 ? 0 : p > MULE_PMUL_PRIO_MAX ? MULE_PMUL_PRIO_MAX : p;
}

/* prio_index - a P_MUL priority as an index of the tables: above 15 is 15 */
static unsigned prio_index(unsigned pmul_priority)
{
    return pmul_priority > MULE_PMUL_PRIO_MAX ? MULE_PMUL_PRIO_MAX : pmul_priority;
}

/* mule_prio_lifetime - the default lifetime (s) for a P_MUL priority, clamped */
uint32_t mule_prio_lifetime(const struct mule_prio *p, unsigned pmul_priority)
{
    return p->lifetime[prio_index(pmul_priority)];
}

/* mule_prio_sis - the SIS priority for a P_MUL priority, clamped */
uint8_t mule_prio_sis(const struct mule_prio *p, unsigned pmul_priority)
{
    return p->sis[prio_index(pmul_priority)];
}

/* mule_sis_priority - the SIS priority (15 highest) for a P_MUL priority */
int mule_sis_priority(const struct mule_prio *p, int pmul_priority)
{
    return mule_prio_sis(p, pmul_priority < 0 ? 0u : (unsigned)pmul_priority);
}

/* parse_by - by-value = by-time ";" by-mode [by-trace] over [v, v+n) */
static int parse_by(const char *v, size_t n, struct mule_deliverby *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && (v[i] == '-' || v[i] == '+'))
        neg = v[i++] == '-';
    size_t digits = 0;
    long long t = 0;
    while (i < n && v[i] >= '0' && v[i] <= '9') {
        t = t * 10 + (v[i++] - '0');
        if (++digits > 9)
            return MULE_ERR_BAD_PARAM;
    }
    if (digits == 0 || i >= n || v[i++] != ';' || i >= n)
        return MULE_ERR_BAD_PARAM;
    char mode = v[i++];
    if (mode == 'r')
        mode = 'R';
    if (mode == 'n')
        mode = 'N';
    if (mode != 'R' && mode != 'N')
        return MULE_ERR_BAD_PARAM;
    bool trace = false;
    if (i < n) {
        if (v[i] != 'T' && v[i] != 't')
            return MULE_ERR_BAD_PARAM;
        trace = true;
        i++;
    }
    if (i != n)
        return MULE_ERR_BAD_PARAM;
    out->present = true;
    out->by = neg ? -t : t;
    out->mode = mode;
    out->trace = trace;
    if (mode == 'R' && out->by <= 0)
        return MULE_ERR_BAD_PARAM; /* RFC 2852 4: R needs a positive by-time */
    return 0;
}

/* mule_deliverby_parse - the BY parameter from MAIL parameters */
int mule_deliverby_parse(const char *mail_params, struct mule_deliverby *out)
{
    memset(out, 0, sizeof *out);
    const char *v;
    size_t n;
    if (!mule_param_get(mail_params, "BY", &v, &n))
        return 0;
    int rc = parse_by(v, n, out);
    if (rc < 0)
        memset(out, 0, sizeof *out);
    return rc;
}

/* mule_expiry_compute - priorities and expiry for a message that arrived at `arrival` */
int mule_expiry_compute(const struct mule_prio *p, const char *mail_params, int64_t arrival,
                        struct mule_expiry *out)
{
    memset(out, 0, sizeof *out);
    int x, rc;
    struct mule_deliverby by;
    if ((rc = mule_mt_priority(mail_params, &x)) < 0)
        return rc;
    if ((rc = mule_deliverby_parse(mail_params, &by)) < 0)
        return rc;
    out->pmul_priority = mule_pmul_priority(x);
    out->sis_priority = mule_sis_priority(p, out->pmul_priority);
    out->return_on_expiry = true;
    out->trace = by.trace;
    if (by.present && by.mode == 'R') {
        out->expiry = arrival + by.by;
    } else {
        out->expiry = arrival + (int64_t)mule_prio_lifetime(p, (unsigned)out->pmul_priority);
        if (by.present) {
            out->notify_at = arrival + by.by;
            if (out->notify_at <= 0)
                out->notify_at = 1;
        }
    }
    return 0;
}

/* mule_deliverby_rewrite - copy MAIL parameters with the BY time reduced by elapsed */
int mule_deliverby_rewrite(const char *mail_params, long long elapsed, char *out, size_t cap)
{
    const char *params = mail_params ? mail_params : "";
    const char *v;
    size_t n;
    size_t plen = strlen(params);
    if (!mule_param_get(params, "BY", &v, &n)) {
        if (plen + 1 > cap)
            return UTIL_ERR_OVERFLOW;
        memcpy(out, params, plen + 1);
        return (int)plen;
    }
    struct mule_deliverby by;
    if (parse_by(v, n, &by) < 0)
        return MULE_ERR_BAD_PARAM;
    long long left = by.by - elapsed;
    if (by.mode == 'R' && left <= 0)
        return MULE_ERR_EXPIRED;
    if (left < -999999999LL)
        left = -999999999LL;
    size_t before = (size_t)(v - params), after_off = before + n;
    int w = snprintf(out, cap, "%.*s%lld;%c%s%s", (int)before, params, left, by.mode,
                     by.trace ? "T" : "", params + after_off);
    if (w < 0 || (size_t)w >= cap)
        return UTIL_ERR_OVERFLOW;
    return w;
}
