/* spool_envelope.c - the spool's envelopes: in memory (copies, checks, the
 * MAIL parameters they keep, parsed: RFC 3461 ENVID/RET, RFC 6710
 * MT-PRIORITY, RFC 2852 BY, RFC 3030 BODY, RFC 6531 SMTPUTF8) and as files
 * (the writer and the parser, smtpgw_envelope_parse).  The files are what
 * survives a crash under DESIGN.md's reliability rules and Postfix's queue
 * model (spool.c): RFC 5321 4.1.1.4 / 6.1 (what was answered 250 is read
 * back after a restart) and ACP 142 5.3 (each destination's Message_ID and
 * Message_Sequence_Number, and an incoming message's (Source_ID,
 * Message_ID), are kept in its envelope), so the parser trusts nothing in
 * them (tests/fuzz/fuzz_spool_envelope.c).
 *
 * The envelope, one text file of key=value lines, in this order:
 *
 *     mule5066-envelope 1
 *     qid=0000ABCD0001       flags=0           content=7bit|8bit|binary
 *     priority=6             arrival=<UNIX s>  expiry=<UNIX s>   size=<bytes>
 *     from=<path>            mail_params=<verbatim>
 *     envid=<xtext>          (only if given)
 *     ret=none|full|hdrs     body=none|7bit|8bitmime|binarymime
 *     mt_priority=<-9..9>    smtputf8=0|1      by=<secs>;R|N[T]  (only if given)
 *     src=<a.b.c.d>          src_msgid=<n>     (incoming from a node only)
 *     attempts=<n>           next_attempt=<UNIX s>
 *     dest=<a.b.c.d>         then dest.final= dest.msgid= dest.msn= dest.state=
 *     rcpt=<addr>            then rcpt.params= rcpt.state= rcpt.dest= rcpt.status= rcpt.diag=
 *     end=
 *
 * (one key per line; "dest.*"/"rcpt.*" belong to the last dest=/rcpt=).
 * Values are escaped: bytes below 0x20, 0x7f and '%' as %XX.  A file that
 * does not parse (unknown key, bad value, missing end=, qid not its name)
 * or whose content is missing is quarantined to corrupt/ and logged.
 */
#include "smtp-gw/spool_priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENV_MAGIC "mule5066-envelope 1"

/* ---- names --------------------------------------------------------------------- */

static const char *const rcpt_state_names[] = {"open", "done", "failed", "reported", "skip", "relay"};
static const char *const dest_state_names[] = {"open", "acked", "failed"};
static const char *const content_names[] = {"7bit", "8bit", "binary"};
static const char *const body_names[] = {"none", "7bit", "8bitmime", "binarymime"};
static const char *const ret_names[] = {"none", "full", "hdrs"};

/* smtpgw_rcpt_state_name - "open", "done", "failed", "reported", "skip", "relay" */
const char *smtpgw_rcpt_state_name(int state)
{
    return state >= 0 && state < (int)UTIL_ARRAY_LEN(rcpt_state_names) ? rcpt_state_names[state]
                                                                       : "?";
}

/* smtpgw_dest_state_name - "open", "acked", "failed" */
const char *smtpgw_dest_state_name(int state)
{
    return state >= 0 && state < (int)UTIL_ARRAY_LEN(dest_state_names) ? dest_state_names[state]
                                                                       : "?";
}

/* name_index - index of s in names[n], or -1 */
static int name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

/* ---- values: escaping and numbers ------------------------------------------- */

/* esc_append - append s with bytes < 0x20, 0x7f and '%' as %XX */
static int esc_append(struct util_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '%') {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            if (util_buf_append(b, e, 3) != 0)
                return UTIL_ERR_NOMEM;
        } else if (util_buf_append(b, p, 1) != 0) {
            return UTIL_ERR_NOMEM;
        }
    }
    return 0;
}

/* hexval - value of a hex digit, or -1 */
static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* unescape - decode %XX in place; false for a bad escape or an escaped NUL */
static bool unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%') {
            int h = hexval((unsigned char)p[1]), l = h < 0 ? -1 : hexval((unsigned char)p[2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0))
                return false;
            *o++ = (char)(h * 16 + l);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return true;
}

/* spool_parse_i64 - a whole decimal integer (optional '-') */
bool spool_parse_i64(const char *s, int64_t *out)
{
    bool neg = false;
    if (*s == '-') {
        neg = true;
        s++;
    }
    if (!*s)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (uint64_t)INT64_MAX / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > (uint64_t)INT64_MAX)
            return false;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

/* spool_parse_u32 - a whole decimal number 0..UINT32_MAX */
bool spool_parse_u32(const char *s, uint32_t *out)
{
    int64_t v;
    if (*s == '-' || !spool_parse_i64(s, &v) || v > (int64_t)UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* parse_node - a dotted quad or number, 0 allowed */
static bool parse_node(const char *s, uint32_t *out)
{
    if (strcmp(s, "0") == 0 || strcmp(s, "0.0.0.0") == 0) {
        *out = 0;
        return true;
    }
    return mule_node_parse(s, out) == 0;
}

/* status_ok - a plausible enhanced status code ("" allowed) */
static bool status_ok(const char *s)
{
    size_t n = strlen(s);
    if (n >= SMTPGW_STATUS_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '.' || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* spool_qid_ok - 12 upper-case hex digits */
bool spool_qid_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'A' && s[n] <= 'F')))
            return false;
    return n == SMTPGW_QID_LEN - 1;
}

/* ---- envelopes in memory ------------------------------------------------------ */

/* spool_msg_of - the private message holding env */
struct spool_msg *spool_msg_of(struct smtpgw_envelope *env)
{
    return UTIL_CONTAINER_OF(env, struct spool_msg, env);
}

/* xstrdup - strdup of s (NULL -> "") */
static char *xstrdup(const char *s)
{
    return strdup(s ? s : "");
}

/* spool_msg_free - release a message and its strings */
void spool_msg_free(struct spool_msg *m)
{
    if (!m)
        return;
    util_list_remove(&m->dirty);
    struct smtpgw_envelope *e = &m->env;
    free((char *)e->from);
    free((char *)e->mail_params);
    free((char *)e->envid);
    for (size_t i = 0; i < e->n_rcpts; i++) {
        free((char *)e->rcpts[i].addr);
        free((char *)e->rcpts[i].params);
        free((char *)e->rcpts[i].diag);
    }
    free(e->rcpts);
    free(e->dests);
    free(m);
}

/* parse_mail_params - fill the parsed MAIL fields of e from e->mail_params
 * (lenient: what does not parse stays at its default) */
static int parse_mail_params(struct smtpgw_envelope *e)
{
    const char *p = e->mail_params ? e->mail_params : "";
    const char *v;
    size_t n;
    free((char *)e->envid);
    e->envid = NULL;
    e->ret = SMTPGW_RET_NONE;
    e->body = SMTPGW_BODY_NONE;
    e->mt_priority = 0;
    e->smtputf8 = false;
    e->by_mode = 0;
    e->by_trace = false;
    e->by_time = 0;
    if (mule_param_get(p, "ENVID", &v, &n)) {
        char *s = strndup(v, n);
        if (!s)
            return UTIL_ERR_NOMEM;
        e->envid = s;
    }
    if (mule_param_get(p, "RET", &v, &n)) {
        if (n == 4 && strncasecmp(v, "FULL", 4) == 0)
            e->ret = SMTPGW_RET_FULL;
        else if (n == 4 && strncasecmp(v, "HDRS", 4) == 0)
            e->ret = SMTPGW_RET_HDRS;
    }
    if (mule_param_get(p, "BODY", &v, &n)) {
        if (n == 4 && strncasecmp(v, "7BIT", 4) == 0)
            e->body = SMTPGW_BODY_7BIT;
        else if (n == 8 && strncasecmp(v, "8BITMIME", 8) == 0)
            e->body = SMTPGW_BODY_8BITMIME;
        else if (n == 10 && strncasecmp(v, "BINARYMIME", 10) == 0)
            e->body = SMTPGW_BODY_BINARYMIME;
    }
    int x;
    if (mule_mt_priority(p, &x) == 0)
        e->mt_priority = (int8_t)x;
    if (mule_param_get(p, "SMTPUTF8", &v, &n))
        e->smtputf8 = true;
    struct mule_deliverby by;
    if (mule_deliverby_parse(p, &by) == 0 && by.present) {
        e->by_mode = by.mode;
        e->by_trace = by.trace;
        e->by_time = by.by;
    }
    return 0;
}

/* spool_env_check - whether a caller's envelope can be spooled */
int spool_env_check(const struct smtpgw_envelope *in)
{
    if (!in || in->n_rcpts == 0 || !in->rcpts)
        return SMTPGW_ERR_SPOOL_INVAL;
    if (in->n_rcpts > SMTPGW_MAX_RCPTS || in->n_dests > SMTPGW_MAX_DESTS)
        return SMTPGW_ERR_SPOOL_TOO_BIG;
    if (in->n_dests && !in->dests)
        return SMTPGW_ERR_SPOOL_INVAL;
    if (in->content > SMTPGW_CONTENT_BINARY) /* every P_MUL priority 0-255 is valid */
        return SMTPGW_ERR_SPOOL_INVAL;
    for (size_t i = 0; i < in->n_rcpts; i++) {
        const struct smtpgw_spool_rcpt *r = &in->rcpts[i];
        if (!r->addr || !*r->addr || r->state > SMTPGW_RCPT_RELAY || !status_ok(r->status) ||
            r->dest < -1 || r->dest >= (int)in->n_dests)
            return SMTPGW_ERR_SPOOL_INVAL;
    }
    for (size_t i = 0; i < in->n_dests; i++)
        if (in->dests[i].node == 0 || in->dests[i].state > SMTPGW_DEST_FAILED)
            return SMTPGW_ERR_SPOOL_INVAL;
    return 0;
}

/* spool_msg_clone - a spool-owned deep copy of a caller's envelope */
struct spool_msg *spool_msg_clone(const struct smtpgw_envelope *in)
{
    struct spool_msg *m = calloc(1, sizeof *m);
    if (m)
        util_list_init(&m->dirty);
    if (!m)
        return NULL;
    util_list_init(&m->link);
    struct smtpgw_envelope *e = &m->env;
    *e = *in;
    e->from = e->mail_params = e->envid = NULL;
    e->rcpts = NULL;
    e->dests = NULL;
    e->n_rcpts = e->n_dests = 0;
    e->user = NULL;
    e->from = xstrdup(in->from);
    e->mail_params = xstrdup(in->mail_params);
    if (!e->from || !e->mail_params)
        goto fail;
    e->rcpts = calloc(in->n_rcpts, sizeof *e->rcpts);
    if (!e->rcpts)
        goto fail;
    for (size_t i = 0; i < in->n_rcpts; i++) {
        struct smtpgw_spool_rcpt *r = &e->rcpts[i];
        *r = in->rcpts[i];
        r->addr = r->params = r->diag = NULL;
        e->n_rcpts = (uint16_t)(i + 1);
        r->addr = xstrdup(in->rcpts[i].addr);
        r->params = xstrdup(in->rcpts[i].params);
        if (in->rcpts[i].diag)
            r->diag = strdup(in->rcpts[i].diag);
        if (!r->addr || !r->params || (in->rcpts[i].diag && !r->diag))
            goto fail;
    }
    if (in->n_dests) {
        e->dests = malloc(in->n_dests * sizeof *e->dests);
        if (!e->dests)
            goto fail;
        memcpy(e->dests, in->dests, in->n_dests * sizeof *e->dests);
        e->n_dests = in->n_dests;
    }
    if (parse_mail_params(e) != 0)
        goto fail;
    return m;
fail:
    spool_msg_free(m);
    return NULL;
}

/* ---- envelope files ------------------------------------------------------------ */

/* kv - append "key=<escaped value>\n" */
static int kv(struct util_buf *b, const char *key, const char *value)
{
    if (util_buf_append_str(b, key) != 0 || util_buf_append(b, "=", 1) != 0 ||
        esc_append(b, value ? value : "") != 0 || util_buf_append(b, "\n", 1) != 0)
        return UTIL_ERR_NOMEM;
    return 0;
}

/* kv_num - append "key=<number>\n" */
static int kv_num(struct util_buf *b, const char *key, int64_t v)
{
    return util_buf_printf(b, "%s=%" PRId64 "\n", key, v);
}

/* spool_env_serialize - the envelope file's text */
int spool_env_serialize(const struct smtpgw_envelope *e, struct util_buf *b)
{
    char node[MULE_NODE_STRLEN];
    int rc = util_buf_printf(b, "%s\n", ENV_MAGIC);
    rc |= kv(b, "qid", e->qid);
    rc |= kv_num(b, "flags", e->flags);
    rc |= kv(b, "content", content_names[e->content <= 2 ? e->content : 2]);
    rc |= kv_num(b, "priority", e->priority);
    rc |= kv_num(b, "arrival", e->arrival);
    rc |= kv_num(b, "expiry", e->expiry);
    rc |= util_buf_printf(b, "size=%" PRIu64 "\n", e->size);
    rc |= kv(b, "from", e->from);
    rc |= kv(b, "mail_params", e->mail_params);
    if (e->envid)
        rc |= kv(b, "envid", e->envid);
    rc |= kv(b, "ret", ret_names[e->ret <= 2 ? e->ret : 0]);
    rc |= kv(b, "body", body_names[e->body <= 3 ? e->body : 0]);
    rc |= kv_num(b, "mt_priority", e->mt_priority);
    rc |= kv_num(b, "smtputf8", e->smtputf8);
    if (e->by_mode)
        rc |= util_buf_printf(b, "by=%" PRId64 ";%c%s\n", e->by_time, e->by_mode,
                              e->by_trace ? "T" : "");
    if (e->src_node) {
        rc |= kv(b, "src", mule_node_format(e->src_node, node, sizeof node));
        rc |= kv_num(b, "src_msgid", e->src_msgid);
    }
    rc |= kv_num(b, "attempts", e->attempts);
    rc |= kv_num(b, "next_attempt", e->next_attempt);
    for (size_t i = 0; i < e->n_dests; i++) {
        const struct smtpgw_spool_dest *d = &e->dests[i];
        rc |= kv(b, "dest", mule_node_format(d->node, node, sizeof node));
        if (d->final_node)
            rc |= kv(b, "dest.final", mule_node_format(d->final_node, node, sizeof node));
        rc |= kv_num(b, "dest.msgid", d->msgid);
        rc |= kv_num(b, "dest.msn", d->msn);
        rc |= kv(b, "dest.state", smtpgw_dest_state_name(d->state));
    }
    for (size_t i = 0; i < e->n_rcpts; i++) {
        const struct smtpgw_spool_rcpt *r = &e->rcpts[i];
        rc |= kv(b, "rcpt", r->addr);
        rc |= kv(b, "rcpt.params", r->params);
        rc |= kv(b, "rcpt.state", smtpgw_rcpt_state_name(r->state));
        rc |= kv_num(b, "rcpt.dest", r->dest);
        if (r->status[0])
            rc |= kv(b, "rcpt.status", r->status);
        if (r->diag)
            rc |= kv(b, "rcpt.diag", r->diag);
    }
    rc |= util_buf_printf(b, "end=\n");
    return rc ? UTIL_ERR_NOMEM : 0;
}

/* grow - make room for one more element in a uint16-counted array */
static bool grow(void **arr, size_t elem, size_t n)
{
    void *p = realloc(*arr, (n + 1) * elem);
    if (!p)
        return false;
    *arr = p;
    memset((char *)p + n * elem, 0, elem);
    return true;
}

/* spool_env_parse - parse an envelope file's text (modified in place; text[len]
 * must be writable) named qid (NULL: any); a new message, or NULL with the
 * reason in why */
struct spool_msg *spool_env_parse(char *text, size_t len, const char *qid, char *whybuf,
                            size_t whycap, int *err)
{
    const char *whys = "", **why = &whys;
    *err = SMTPGW_ERR_SPOOL_CORRUPT;
    struct spool_msg *m = calloc(1, sizeof *m);
    if (m)
        util_list_init(&m->dirty);
    if (!m) {
        *why = "out of memory";
        *err = UTIL_ERR_NOMEM;
        return NULL;
    }
    util_list_init(&m->link);
    struct smtpgw_envelope *e = &m->env;
    bool seen_end = false, seen_qid = false;
    int64_t v;
    if (memchr(text, '\0', len)) {
        *why = "NUL byte";
        goto fail;
    }
    text[len] = '\0';
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    if (!line || strcmp(line, ENV_MAGIC) != 0) {
        *why = "bad first line";
        goto fail;
    }
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        if (seen_end) {
            *why = "text after end";
            goto fail;
        }
        char *eq = strchr(line, '=');
        if (!eq) {
            *why = "line without =";
            goto fail;
        }
        *eq = '\0';
        const char *key = line;
        char *val = eq + 1;
        if (!unescape(val)) {
            *why = "bad escape";
            goto fail;
        }
        struct smtpgw_spool_rcpt *r = e->n_rcpts ? &e->rcpts[e->n_rcpts - 1] : NULL;
        struct smtpgw_spool_dest *d = e->n_dests ? &e->dests[e->n_dests - 1] : NULL;
        bool ok = true;
        *why = NULL;
        if (strcmp(key, "qid") == 0) {
            ok = spool_qid_ok(val) && (!qid || strcmp(val, qid) == 0) && !seen_qid;
            if (ok) {
                memcpy(e->qid, val, SMTPGW_QID_LEN);
                seen_qid = true;
            }
        } else if (strcmp(key, "flags") == 0) {
            ok = spool_parse_i64(val, &v) && v >= 0 && v <= 255;
            e->flags = (uint8_t)v;
        } else if (strcmp(key, "content") == 0) {
            int i = name_index(content_names, 3, val);
            ok = i >= 0;
            e->content = (uint8_t)(i < 0 ? 0 : i);
        } else if (strcmp(key, "priority") == 0) {
            ok = spool_parse_i64(val, &v) && v >= 0 && v <= 255;
            e->priority = (uint8_t)v;
        } else if (strcmp(key, "arrival") == 0) {
            ok = spool_parse_i64(val, &e->arrival);
        } else if (strcmp(key, "expiry") == 0) {
            ok = spool_parse_i64(val, &e->expiry);
        } else if (strcmp(key, "size") == 0) {
            ok = spool_parse_i64(val, &v) && v >= 0;
            e->size = (uint64_t)v;
        } else if (strcmp(key, "from") == 0) {
            ok = !e->from && (e->from = strdup(val)) != NULL;
        } else if (strcmp(key, "mail_params") == 0) {
            ok = !e->mail_params && (e->mail_params = strdup(val)) != NULL;
        } else if (strcmp(key, "envid") == 0) {
            ok = !e->envid && (e->envid = strdup(val)) != NULL;
        } else if (strcmp(key, "ret") == 0) {
            int i = name_index(ret_names, 3, val);
            ok = i >= 0;
            e->ret = (uint8_t)(i < 0 ? 0 : i);
        } else if (strcmp(key, "body") == 0) {
            int i = name_index(body_names, 4, val);
            ok = i >= 0;
            e->body = (uint8_t)(i < 0 ? 0 : i);
        } else if (strcmp(key, "mt_priority") == 0) {
            ok = spool_parse_i64(val, &v) && v >= -9 && v <= 9;
            e->mt_priority = (int8_t)v;
        } else if (strcmp(key, "smtputf8") == 0) {
            ok = spool_parse_i64(val, &v) && (v == 0 || v == 1);
            e->smtputf8 = v == 1;
        } else if (strcmp(key, "by") == 0) {
            char *semi = strchr(val, ';');
            ok = semi && (semi[1] == 'R' || semi[1] == 'N') &&
                 (semi[2] == '\0' || (semi[2] == 'T' && semi[3] == '\0'));
            if (ok) {
                *semi = '\0';
                ok = spool_parse_i64(val, &e->by_time);
                e->by_mode = semi[1];
                e->by_trace = semi[2] == 'T';
            }
        } else if (strcmp(key, "src") == 0) {
            ok = parse_node(val, &e->src_node);
        } else if (strcmp(key, "src_msgid") == 0) {
            ok = spool_parse_u32(val, &e->src_msgid);
        } else if (strcmp(key, "attempts") == 0) {
            ok = spool_parse_u32(val, &e->attempts);
        } else if (strcmp(key, "next_attempt") == 0) {
            ok = spool_parse_i64(val, &e->next_attempt);
        } else if (strcmp(key, "dest") == 0) {
            ok = e->n_dests < SMTPGW_MAX_DESTS && e->n_rcpts == 0 &&
                 grow((void **)&e->dests, sizeof *e->dests, e->n_dests);
            if (ok) {
                d = &e->dests[e->n_dests++];
                ok = mule_node_parse(val, &d->node) == 0;
            }
        } else if (strncmp(key, "dest.", 5) == 0) {
            const char *k = key + 5;
            ok = d && e->n_rcpts == 0;
            if (!ok) {
            } else if (strcmp(k, "final") == 0) {
                ok = parse_node(val, &d->final_node);
            } else if (strcmp(k, "msgid") == 0) {
                ok = spool_parse_u32(val, &d->msgid);
            } else if (strcmp(k, "msn") == 0) {
                ok = spool_parse_u32(val, &d->msn);
            } else if (strcmp(k, "state") == 0) {
                int i = name_index(dest_state_names, 3, val);
                ok = i >= 0;
                d->state = (uint8_t)(i < 0 ? 0 : i);
            } else {
                ok = false;
            }
        } else if (strcmp(key, "rcpt") == 0) {
            ok = *val && e->n_rcpts < SMTPGW_MAX_RCPTS &&
                 grow((void **)&e->rcpts, sizeof *e->rcpts, e->n_rcpts);
            if (ok) {
                r = &e->rcpts[e->n_rcpts++];
                r->dest = -1;
                ok = (r->addr = strdup(val)) != NULL;
            }
        } else if (strncmp(key, "rcpt.", 5) == 0) {
            const char *k = key + 5;
            ok = r != NULL;
            if (!ok) {
            } else if (strcmp(k, "params") == 0) {
                ok = !r->params && (r->params = strdup(val)) != NULL;
            } else if (strcmp(k, "state") == 0) {
                int i = name_index(rcpt_state_names, UTIL_ARRAY_LEN(rcpt_state_names), val);
                ok = i >= 0;
                r->state = (uint8_t)(i < 0 ? 0 : i);
            } else if (strcmp(k, "dest") == 0) {
                ok = spool_parse_i64(val, &v) && v >= -1 && v < (int64_t)e->n_dests;
                r->dest = (int16_t)v;
            } else if (strcmp(k, "status") == 0) {
                ok = status_ok(val);
                if (ok)
                    snprintf(r->status, sizeof r->status, "%s", val);
            } else if (strcmp(k, "diag") == 0) {
                ok = !r->diag && (r->diag = strdup(val)) != NULL;
            } else {
                ok = false;
            }
        } else if (strcmp(key, "end") == 0) {
            ok = *val == '\0';
            seen_end = true;
        } else {
            ok = false;
            *why = "unknown key";
        }
        if (!ok) {
            snprintf(whybuf, whycap, "%s: %.40s", *why ? *why : "bad value or misplaced line", key);
            goto fail_named;
        }
    }
    if (!seen_end) {
        *why = "no end line";
        goto fail;
    }
    if (!seen_qid || !e->from || !e->mail_params || e->n_rcpts == 0) {
        *why = "missing qid, from, mail_params or rcpt";
        goto fail;
    }
    for (size_t i = 0; i < e->n_rcpts; i++)
        if (!e->rcpts[i].params && !(e->rcpts[i].params = strdup(""))) {
            *why = "out of memory";
            goto fail;
        }
    *err = 0;
    return m;
fail:
    snprintf(whybuf, whycap, "%s", *why);
fail_named:
    spool_msg_free(m);
    return NULL;
}

/* smtpgw_envelope_parse - env_parse on a copy of the bytes, as a pure function */
int smtpgw_envelope_parse(const void *bytes, size_t len, const char *qid,
                          struct smtpgw_envelope **out, char *why, size_t whycap)
{
    char whybuf[96];
    int err = UTIL_ERR_NOMEM;
    *out = NULL;
    char *text = len < SIZE_MAX ? malloc(len + 1) : NULL;
    struct spool_msg *m = NULL;
    if (text) {
        if (len)
            memcpy(text, bytes, len);
        m = spool_env_parse(text, len, qid, whybuf, sizeof whybuf, &err);
        free(text);
    } else {
        snprintf(whybuf, sizeof whybuf, "out of memory");
    }
    if (why && whycap)
        snprintf(why, whycap, "%s", m ? "" : whybuf);
    if (!m)
        return err;
    *out = &m->env;
    return 0;
}

/* smtpgw_envelope_free - release an envelope from smtpgw_envelope_parse */
void smtpgw_envelope_free(struct smtpgw_envelope *env)
{
    if (env)
        spool_msg_free(spool_msg_of(env));
}

/* ---- envelope setters ---------------------------------------------------------------- */

/* smtpgw_envelope_set_rcpt - recipient i's state, status and diagnostic */
int smtpgw_envelope_set_rcpt(struct smtpgw_envelope *msg, size_t i, enum smtpgw_rcpt_state state,
                             const char *status, const char *diag)
{
    if (i >= msg->n_rcpts || (unsigned)state > SMTPGW_RCPT_RELAY || (status && !status_ok(status)))
        return UTIL_ERR_INVAL;
    struct smtpgw_spool_rcpt *r = &msg->rcpts[i];
    char *d = NULL;
    if (diag && !(d = strdup(diag)))
        return UTIL_ERR_NOMEM;
    free((char *)r->diag);
    r->diag = d;
    r->state = (uint8_t)state;
    snprintf(r->status, sizeof r->status, "%s", status ? status : "");
    return 0;
}

/* smtpgw_envelope_set_dests - replace msg's destinations */
int smtpgw_envelope_set_dests(struct smtpgw_envelope *msg, const struct smtpgw_spool_dest *dests,
                              size_t n)
{
    if (n > SMTPGW_MAX_DESTS)
        return UTIL_ERR_INVAL;
    for (size_t i = 0; i < msg->n_rcpts; i++)
        if (msg->rcpts[i].dest >= (int)n)
            return UTIL_ERR_INVAL;
    struct smtpgw_spool_dest *d = NULL;
    if (n) {
        d = malloc(n * sizeof *d);
        if (!d)
            return UTIL_ERR_NOMEM;
        memcpy(d, dests, n * sizeof *d);
    }
    free(msg->dests);
    msg->dests = d;
    msg->n_dests = (uint16_t)n;
    return 0;
}

/* smtpgw_envelope_set_mail_params - replace and reparse the MAIL parameters */
int smtpgw_envelope_set_mail_params(struct smtpgw_envelope *msg, const char *params)
{
    char *p = strdup(params ? params : "");
    if (!p)
        return UTIL_ERR_NOMEM;
    free((char *)msg->mail_params);
    msg->mail_params = p;
    return parse_mail_params(msg);
}

/* smtpgw_envelope_open_rcpts - recipients still open */
size_t smtpgw_envelope_open_rcpts(const struct smtpgw_envelope *msg)
{
    size_t n = 0;
    for (size_t i = 0; i < msg->n_rcpts; i++)
        n += msg->rcpts[i].state == SMTPGW_RCPT_OPEN;
    return n;
}
