/* route.c - MULE routing (RFC 8494 section 3): recipient domain -> ACP 142
 * destination node by static routes (exact domains, "*.domain" wildcards,
 * a default route, each optionally through a relay node), the send plan
 * (steps 1 and 2: which destinations, which recipients each is responsible
 * for, and the per-destination split of step 6 that keeps Bcc recipients
 * from other destinations) and the receive dispositions of steps 3 to 6
 * (deliver locally, relay, leave to another destination, bounce).
 * Node ids are ACP 142 Destination_IDs (ACP 142 5.3.3), 32 bits.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mule/mule.h"

/* ---- node ids --------------------------------------------------------------- */

/* parse_u32 - a whole decimal (or 0x hex) number into *out */
static bool parse_u32(const char *s, uint32_t *out)
{
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!*s)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            return false;
        v = v * (uint64_t)base + (uint64_t)d;
        if (v > UINT32_MAX)
            return false;
    }
    *out = (uint32_t)v;
    return true;
}

/* mule_node_parse - parse a node id (0 is not a node); 0 or MULE_ERR_BAD_NODE */
int mule_node_parse(const char *s, uint32_t *out)
{
    if (!s || !*s)
        return MULE_ERR_BAD_NODE;
    uint32_t v = 0;
    if (strchr(s, '.')) {
        const char *p = s;
        for (int i = 0; i < 4; i++) {
            if (!isdigit((unsigned char)*p))
                return MULE_ERR_BAD_NODE;
            unsigned part = 0;
            int digits = 0;
            while (isdigit((unsigned char)*p)) {
                part = part * 10 + (unsigned)(*p++ - '0');
                if (++digits > 3 || part > 255)
                    return MULE_ERR_BAD_NODE;
            }
            v = (v << 8) | part;
            if (i < 3 && *p++ != '.')
                return MULE_ERR_BAD_NODE;
        }
        if (*p)
            return MULE_ERR_BAD_NODE;
    } else if (!parse_u32(s, &v)) {
        return MULE_ERR_BAD_NODE;
    }
    if (v == 0)
        return MULE_ERR_BAD_NODE;
    *out = v;
    return 0;
}

/* mule_node_format - dotted quad of node into buf (>= MULE_NODE_STRLEN); returns buf */
char *mule_node_format(uint32_t node, char *buf, size_t len)
{
    snprintf(buf, len, "%u.%u.%u.%u", (unsigned)(node >> 24), (unsigned)(node >> 16) & 255,
             (unsigned)(node >> 8) & 255, (unsigned)node & 255);
    return buf;
}

/* mule_node_str - dotted quad of node in one of 8 static buffers */
const char *mule_node_str(uint32_t node)
{
    static char ring[8][MULE_NODE_STRLEN];
    static unsigned i;
    return mule_node_format(node, ring[i++ & 7], MULE_NODE_STRLEN);
}

/* ---- the table ------------------------------------------------------------------- */

/* valid_domain_name - letters, digits, '-', UTF-8, dot-separated, no empty label */
static bool valid_domain_name(const char *d)
{
    size_t n = strlen(d);
    if (n == 0 || n > 255)
        return false;
    const char *label = d;
    for (const char *p = d;; p++) {
        if (*p == '.' || *p == '\0') {
            if (p == label || p - label > 63 || *label == '-' || p[-1] == '-')
                return false;
            if (*p == '\0')
                return true;
            label = p + 1;
        } else if (!isalnum((unsigned char)*p) && *p != '-' && (unsigned char)*p < 0x80) {
            return false;
        }
    }
}

/* valid_pattern - "domain" or "*.domain" */
static bool valid_pattern(const char *p)
{
    if (p[0] == '*' && p[1] == '.')
        p += 2;
    return valid_domain_name(p);
}

/* lower_dup - a lower-case copy of s (ASCII letters only) */
static char *lower_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++)
        d[i] = (char)tolower((unsigned char)s[i]);
    d[n] = '\0';
    return d;
}

/* mule_routes_init - an empty table */
void mule_routes_init(struct mule_routes *r)
{
    memset(r, 0, sizeof *r);
}

/* mule_routes_free - release a table */
void mule_routes_free(struct mule_routes *r)
{
    for (size_t i = 0; i < r->n_routes; i++)
        free(r->routes[i].pattern);
    free(r->routes);
    if (r->def)
        free(r->def->pattern);
    free(r->def);
    for (size_t i = 0; i < r->n_local; i++)
        free(r->local[i]);
    free(r->local);
    memset(r, 0, sizeof *r);
}

/* mule_routes_add - add a route ("default" for the default route) */
int mule_routes_add(struct mule_routes *r, const char *pattern, uint32_t node, uint32_t via)
{
    if (!pattern || node == 0 || via == node)
        return MULE_ERR_INVAL;
    if (strcasecmp(pattern, "default") == 0) {
        if (r->def)
            return MULE_ERR_INVAL;
        r->def = calloc(1, sizeof *r->def);
        if (!r->def || !(r->def->pattern = lower_dup("default", 7))) {
            free(r->def);
            r->def = NULL;
            return UTIL_ERR_NOMEM;
        }
        r->def->node = node;
        r->def->via = via;
        return 0;
    }
    if (!valid_pattern(pattern))
        return MULE_ERR_INVAL;
    for (size_t i = 0; i < r->n_routes; i++)
        if (strcasecmp(r->routes[i].pattern, pattern) == 0)
            return MULE_ERR_INVAL;
    struct mule_route *nv = realloc(r->routes, (r->n_routes + 1) * sizeof *nv);
    if (!nv)
        return UTIL_ERR_NOMEM;
    r->routes = nv;
    struct mule_route *rt = &r->routes[r->n_routes];
    memset(rt, 0, sizeof *rt);
    if (!(rt->pattern = lower_dup(pattern, strlen(pattern))))
        return UTIL_ERR_NOMEM;
    rt->node = node;
    rt->via = via;
    r->n_routes++;
    return 0;
}

/* mule_routes_add_local - add local domains (space/comma list); 0 or MULE_ERR_INVAL */
int mule_routes_add_local(struct mule_routes *r, const char *list)
{
    const char *p = list;
    while (p && *p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *b = p;
        while (*p && *p != ' ' && *p != ',' && *p != '\t')
            p++;
        if (p == b)
            break;
        char *d = lower_dup(b, (size_t)(p - b));
        if (!d)
            return UTIL_ERR_NOMEM;
        if (!valid_pattern(d)) {
            free(d);
            return MULE_ERR_INVAL;
        }
        char **nv = realloc(r->local, (r->n_local + 1) * sizeof *nv);
        if (!nv) {
            free(d);
            return UTIL_ERR_NOMEM;
        }
        r->local = nv;
        r->local[r->n_local++] = d;
    }
    return 0;
}

/* conf_node - read a node id key into *out (0 if absent and optional) */
static int conf_node(struct util_conf *conf, struct util_conf_section *s, const char *key,
                     bool required, uint32_t *out)
{
    const char *v;
    int rc =
        required ? util_conf_str_required(conf, s, key, &v) : util_conf_str(conf, s, key, NULL, &v);
    *out = 0;
    if (rc < 0 || !v)
        return rc;
    if (mule_node_parse(v, out) < 0)
        return util_conf_fail(conf, s, key, UTIL_ERR_TYPE,
                              "'%s' is not an ACP 142 node id (dotted quad or number, not 0)", v);
    return 0;
}

/* mule_routes_load - read [route ...] sections and [mule] local_domains */
int mule_routes_load(struct util_conf *conf, struct mule_routes *r)
{
    mule_routes_init(r);
    struct util_conf_section *s = NULL;
    int rc = 0;
    while ((s = util_conf_next_section(conf, "route", s))) {
        const char *name = util_conf_section_name(s);
        uint32_t node, via;
        if ((rc = conf_node(conf, s, "node", true, &node)) < 0)
            goto fail;
        if ((rc = conf_node(conf, s, "via", false, &via)) < 0)
            goto fail;
        if (!*name) {
            rc = util_conf_fail(conf, s, NULL, UTIL_ERR_SYNTAX,
                                "a route needs a domain, *.domain or default: [route example.mil]");
            goto fail;
        }
        if (via == node) {
            rc = util_conf_fail(conf, s, "via", UTIL_ERR_RANGE,
                                "the relay is the destination itself");
            goto fail;
        }
        rc = mule_routes_add(r, name, node, via);
        if (rc == MULE_ERR_INVAL) {
            rc = util_conf_fail(conf, s, NULL, UTIL_ERR_SYNTAX,
                                "'%s' is not a domain, *.domain or default", name);
            goto fail;
        }
        if (rc < 0) {
            rc = util_conf_fail(conf, s, NULL, rc, "out of memory");
            goto fail;
        }
        struct mule_route *rt =
            strcasecmp(name, "default") == 0 ? r->def : &r->routes[r->n_routes - 1];
        rt->line = util_conf_section_line(s);
    }
    struct util_conf_section *m = util_conf_section(conf, "mule", NULL);
    const char *local;
    if ((rc = util_conf_str(conf, m, "local_domains", "", &local)) < 0)
        goto fail;
    if ((rc = mule_routes_add_local(r, local)) < 0) {
        rc = util_conf_fail(conf, m, "local_domains", UTIL_ERR_SYNTAX,
                            "'%s' is not a list of domains or *.domains", local);
        goto fail;
    }
    return 0;
fail:
    mule_routes_free(r);
    return rc;
}

/* mule_config_load - mule_routes_load plus the other [mule] keys */
int mule_config_load(struct util_conf *conf, struct mule_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    int rc = mule_routes_load(conf, &cfg->routes);
    if (rc < 0)
        return rc;
    struct util_conf_section *m = util_conf_section(conf, "mule", NULL);
    static const char *const compressors[] = {"zlib", "zopfli", NULL};
    uint64_t size, env, zmax;
    long long level, iterations;
    int compress;
    if ((rc = util_conf_size(conf, m, "max_message_size", MULE_DEFAULT_MAX_MESSAGE, 1024,
                             1024ull * 1024 * 1024, &size)) < 0 ||
        (rc = util_conf_size(conf, m, "max_envelope", MULE_DEFAULT_MAX_ENVELOPE, 1024,
                             16ull * 1024 * 1024, &env)) < 0 ||
        (rc = util_conf_int(conf, m, "compression_level", 9, 1, 9, &level)) < 0 ||
        (rc = util_conf_enum(conf, m, "compress", compressors, MULE_COMPRESS_ZLIB, &compress)) < 0 ||
        (rc = util_conf_int(conf, m, "zopfli_iterations", 15, 1, 1000, &iterations)) < 0 ||
        (rc = util_conf_size(conf, m, "zopfli_max_size", 64 * 1024, 0, 1024ull * 1024 * 1024,
                             &zmax)) < 0 ||
        (rc = util_conf_bool(conf, m, "split", false, &cfg->split)) < 0) {
        mule_config_free(cfg);
        return rc;
    }
    if (compress == MULE_COMPRESS_ZOPFLI && !mule_zopfli_available()) {
        rc = util_conf_fail(conf, m, "compress", MULE_ERR_NO_ZOPFLI,
                            "zopfli: this build has no zopfli (configure --with-zopfli, Debian "
                            "libzopfli-dev)");
        mule_config_free(cfg);
        return rc;
    }
    cfg->max_message_size = (size_t)size;
    cfg->max_envelope = (size_t)env;
    cfg->compression_level = (int)level;
    cfg->compress = (enum mule_compress)compress;
    cfg->zopfli_iterations = (int)iterations;
    cfg->zopfli_max_size = (size_t)zmax;
    return 0;
}

/* mule_config_free - release a loaded config */
void mule_config_free(struct mule_config *cfg)
{
    mule_routes_free(&cfg->routes);
}

/* domain_len - length of a domain without a trailing dot */
static size_t domain_len(const char *d)
{
    size_t n = strlen(d);
    if (n > 0 && d[n - 1] == '.')
        n--;
    return n;
}

/* pattern_match - whether domain [d, d+n) matches an exact or "*." pattern;
 * returns the pattern's weight (0 no match, longer suffixes weigh more) */
static size_t pattern_match(const char *pat, const char *d, size_t n)
{
    if (pat[0] == '*' && pat[1] == '.') {
        size_t sl = strlen(pat + 1); /* ".suffix" */
        if (n > sl && strncasecmp(d + n - sl, pat + 1, sl) == 0)
            return sl;
        return 0;
    }
    return strlen(pat) == n && strncasecmp(pat, d, n) == 0 ? SIZE_MAX : 0;
}

/* mule_route_lookup - the route for a domain: exact, longest wildcard, default */
const struct mule_route *mule_route_lookup(const struct mule_routes *r, const char *domain)
{
    size_t n = domain ? domain_len(domain) : 0;
    if (n == 0 || domain[0] == '[')
        return r->def;
    const struct mule_route *best = NULL;
    size_t best_w = 0;
    for (size_t i = 0; i < r->n_routes; i++) {
        size_t w = pattern_match(r->routes[i].pattern, domain, n);
        if (w > best_w) {
            best_w = w;
            best = &r->routes[i];
        }
    }
    return best ? best : r->def;
}

/* mule_domain_is_local - whether domain is one of the local domains */
bool mule_domain_is_local(const struct mule_routes *r, const char *domain)
{
    size_t n = domain ? domain_len(domain) : 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < r->n_local; i++)
        if (pattern_match(r->local[i], domain, n))
            return true;
    return false;
}

/* ---- the send plan (RFC 8494 3 steps 1, 2 and 6) ------------------------------------- */

/* Everything a plan points into, one allocation each. */
struct plan_mem {
    size_t *dest_rcpt; /* recipient indexes grouped by destination */
    size_t *all_rcpt;  /* routed recipients in their original order */
    uint32_t *nodes;   /* destination nodes, ascending */
    uint32_t *hop;     /* first hop of each recipient (0: not routed) */
};

/* mule_plan_free - release a plan */
void mule_plan_free(struct mule_plan *plan)
{
    struct plan_mem *m = plan->mem_;
    if (m) {
        free(m->dest_rcpt);
        free(m->all_rcpt);
        free(m->nodes);
        free(m->hop);
        free(m);
    }
    free(plan->dests);
    free(plan->groups);
    free(plan->local);
    free(plan->unroutable);
    memset(plan, 0, sizeof *plan);
}

/* cmp_u32 - qsort order for node ids */
static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* mule_route_plan - plan the transmission of one message to n recipients */
int mule_route_plan(const struct mule_routes *r, uint32_t self, const char *const *addrs, size_t n,
                    bool split, struct mule_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    size_t cnt = n ? n : 1;
    struct plan_mem *m = calloc(1, sizeof *m);
    plan->mem_ = m;
    if (!m)
        return UTIL_ERR_NOMEM;
    m->dest_rcpt = calloc(cnt, sizeof *m->dest_rcpt);
    m->all_rcpt = calloc(cnt, sizeof *m->all_rcpt);
    m->nodes = calloc(cnt, sizeof *m->nodes);
    m->hop = calloc(cnt, sizeof *m->hop);
    plan->dests = calloc(cnt, sizeof *plan->dests);
    plan->groups = calloc(cnt, sizeof *plan->groups);
    plan->local = calloc(cnt, sizeof *plan->local);
    plan->unroutable = calloc(cnt, sizeof *plan->unroutable);
    if (!m->dest_rcpt || !m->all_rcpt || !m->nodes || !m->hop || !plan->dests || !plan->groups ||
        !plan->local || !plan->unroutable) {
        mule_plan_free(plan);
        return UTIL_ERR_NOMEM;
    }
    size_t n_nodes = 0, n_all = 0;
    for (size_t i = 0; i < n; i++) {
        const char *dom = mule_address_domain(addrs[i]);
        if (mule_domain_is_local(r, dom)) {
            plan->local[plan->n_local++] = i;
            continue;
        }
        const struct mule_route *rt = mule_route_lookup(r, dom);
        if (!rt) {
            plan->unroutable[plan->n_unroutable++] = i;
            continue;
        }
        uint32_t hop = (rt->via && rt->via != self) ? rt->via : rt->node;
        if (hop == self) {
            plan->local[plan->n_local++] = i;
            continue;
        }
        m->hop[i] = hop;
        m->all_rcpt[n_all++] = i;
        bool seen = false;
        for (size_t k = 0; k < n_nodes && !seen; k++)
            seen = m->nodes[k] == hop;
        if (!seen)
            m->nodes[n_nodes++] = hop;
    }
    qsort(m->nodes, n_nodes, sizeof *m->nodes, cmp_u32);
    size_t pos = 0;
    for (size_t k = 0; k < n_nodes; k++) {
        struct mule_dest *d = &plan->dests[k];
        d->node = m->nodes[k];
        d->rcpt = m->dest_rcpt + pos;
        for (size_t j = 0; j < n_all; j++)
            if (m->hop[m->all_rcpt[j]] == d->node)
                m->dest_rcpt[pos++] = m->all_rcpt[j];
        d->n_rcpt = (size_t)(m->dest_rcpt + pos - d->rcpt);
    }
    plan->n_dests = n_nodes;
    if (n_nodes == 0)
        return 0;
    if (split) {
        for (size_t k = 0; k < n_nodes; k++) {
            plan->groups[k].nodes = &m->nodes[k];
            plan->groups[k].n_nodes = 1;
            plan->groups[k].rcpt = plan->dests[k].rcpt;
            plan->groups[k].n_rcpt = plan->dests[k].n_rcpt;
        }
        plan->n_groups = n_nodes;
    } else {
        plan->groups[0].nodes = m->nodes;
        plan->groups[0].n_nodes = n_nodes;
        plan->groups[0].rcpt = m->all_rcpt;
        plan->groups[0].n_rcpt = n_all;
        plan->n_groups = 1;
    }
    return 0;
}

/* ---- receive (RFC 8494 3 steps 3 to 6) ----------------------------------------------- */

/* mule_disp_name - "local", "relay", "other", "bounce" */
const char *mule_disp_name(enum mule_disp d)
{
    switch (d) {
    case MULE_DISP_LOCAL: return "local";
    case MULE_DISP_RELAY: return "relay";
    case MULE_DISP_OTHER: return "other";
    case MULE_DISP_BOUNCE: return "bounce";
    }
    return "?";
}

/* mule_route_receive - what this node does with each recipient of a payload,
 * by its routes and local domains alone (never by ctx->dests/n_dests) */
size_t mule_route_receive(const struct mule_routes *r, const struct mule_rx_ctx *ctx,
                          const char *const *addrs, size_t n, struct mule_rx_rcpt *out)
{
    size_t handled = 0;
    for (size_t i = 0; i < n; i++) {
        struct mule_rx_rcpt *o = &out[i];
        memset(o, 0, sizeof *o);
        const char *dom = mule_address_domain(addrs[i]);
        const struct mule_route *rt = mule_route_lookup(r, dom);
        if (mule_domain_is_local(r, dom) || (rt && rt->node == ctx->self)) {
            o->disp = MULE_DISP_LOCAL;
        } else if (rt && rt->via == ctx->self && ctx->self) {
            if (ctx->source && rt->node == ctx->source) {
                o->disp = MULE_DISP_BOUNCE;
                o->status = "5.4.6";
                o->reason = "routing loop: the next hop is where the message came from";
            } else {
                o->disp = MULE_DISP_RELAY;
                o->next = rt->node;
            }
        } else {
            /* routed to another node, or not routed here at all: the sender
             * addressed whoever owns it; a relisting of the destinations
             * (a retransmission naming only us) changes nothing */
            o->disp = MULE_DISP_OTHER;
        }
        if (o->disp != MULE_DISP_OTHER)
            handled++;
    }
    return handled;
}
