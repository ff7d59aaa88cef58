/* control.c - the operator control channel of mulegw (smtpgw.h "control
 * channel"): the request parser and reply renderer (engine, no I/O, no
 * clock) and the [control] settings.  The UNIX socket server on libev
 * (glue) is control_listen.c; the client is mulectl (mulectl.c).
 *
 * Protocol (ours; DESIGN.md "Operating": status of the link, the queue with
 * per-destination ack state, retry/drop/hold):
 *
 *   - A UNIX stream socket (default $(localstatedir)/run/mulegw/mulegw.sock,
 *     [control] socket).  Access is by the file's mode and group ([control]
 *     mode, default 0660, and group).
 *   - The client connects and sends ONE request line, `VERB [ARG...]\n`: at
 *     most 1024 bytes with the newline (a "\r" before it is ignored; EOF
 *     may stand for the newline), words separated by single spaces,
 *     printable ASCII (0x20-0x7e) only.  The word `--json` anywhere after
 *     the verb asks for a JSON body.  Nothing else is read.
 *   - The server writes the whole reply and closes.  The first line is `ok`
 *     or `error <text>`.  After `ok` comes the body: text lines, or (with
 *     --json) one JSON document (RFC 8259, UTF-8) and a newline.  An
 *     `error` reply has no body.
 *   - A client that sends 1024 bytes without a newline, or no complete
 *     line within 10 s, gets `error ...` (best effort) and is dropped, with
 *     one log line.  At most 16 connections are served at once; the 17th
 *     gets `error busy` and is closed.
 *
 * Requests:
 *
 *   status              link, bearer, EMCON, queue counts, one line per node
 *   queue               every spooled message with its destinations' state
 *   retry ID|all        try now (send again / deliver again)  -> "retry: N messages"
 *   drop ID             remove from the spool                 -> "drop: 1 message"
 *   hold ID|all         neither send nor deliver              -> "hold: N messages"
 *   release ID|all      undo hold                             -> "release: N messages"
 *   emcon on|off        the local node's radio silence
 *   emcon NODE on|off   mark a node (dotted quad or [node] name) in EMCON
 *   log-level           show the level and the traced modules
 *   log-level LEVEL     err, warning, notice, info or debug
 *   log-level trace MODULES   trace s5066,pmul,... (or all, or none)
 *   help                the list of requests
 *
 * JSON bodies: status -> one object with the status keys in snake_case and
 * "nodes": [...]; queue -> {"messages": [...]}; retry/drop/hold/release ->
 * {"command": "retry", "id": "all", "count": 3}; emcon -> {"command":
 * "emcon", "node": null | "10.0.0.2", "emcon": true}; log-level ->
 * {"command": "log-level", "level": "info", "trace": ["s5066"]}; help ->
 * {"commands": [{"usage": ..., "help": ...}]}.  Times are UNIX seconds.
 *
 * Every string from the spool or the network (addresses, names, errors) is
 * escaped: in JSON per RFC 8259 section 7 (quotes, backslashes, control
 * characters; invalid UTF-8 becomes U+FFFD), in text as \xNN for control
 * characters, C1 controls and invalid UTF-8 (no terminal escapes reach the
 * operator's terminal).
 */
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "smtp-gw/smtpgw.h"

#ifndef MULEGW_DEFAULT_SOCKET
#define MULEGW_DEFAULT_SOCKET "/var/run/mulegw/mulegw.sock"
#endif

#define CTL_MAX_ARGS   4 /* words after the verb, --json not counted */
#define CTL_MAX_ID     SMTPGW_MAX_QUEUE_ID
#define CTL_ECHO_MAX   64  /* bytes of a client's word quoted in an error */

/* ==== engine: rendering helpers ==== */

/* The reply under construction, with a sticky error (util_buf's limit). */
struct out {
    struct util_buf *b;
    int err;
};

/* o_bytes - append n bytes */
static void o_bytes(struct out *o, const void *p, size_t n)
{
    if (!o->err && util_buf_append(o->b, p, n) < 0)
        o->err = SMTPGW_ERR_CTL_TOO_BIG;
}

/* o_str - append a string (NULL: nothing) */
static void o_str(struct out *o, const char *s)
{
    if (s)
        o_bytes(o, s, strlen(s));
}

/* o_printf - append formatted text */
UTIL_PRINTF(2, 3) static void o_printf(struct out *o, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        o->err = UTIL_ERR_INVAL;
    else
        o_bytes(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* utf8_seq - length of the valid UTF-8 sequence at p (its code point in
 * *cp), 0 if invalid (overlong, surrogate, beyond U+10FFFF, cut short) */
static size_t utf8_seq(const unsigned char *p, uint32_t *cp)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2, v = c & 0x1fu, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, v = c & 0x0fu, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, v = c & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        v = (v << 6) | (p[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* json_escape - append s escaped as the inside of a JSON string */
static void json_escape(struct out *o, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p && !o->err) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
            p++;
        o_bytes(o, run, (size_t)(p - run));
        if (!*p)
            break;
        uint32_t cp;
        size_t n;
        switch (*p) {
        case '"':
            o_str(o, "\\\"");
            p++;
            break;
        case '\\':
            o_str(o, "\\\\");
            p++;
            break;
        case '\b':
            o_str(o, "\\b");
            p++;
            break;
        case '\f':
            o_str(o, "\\f");
            p++;
            break;
        case '\n':
            o_str(o, "\\n");
            p++;
            break;
        case '\r':
            o_str(o, "\\r");
            p++;
            break;
        case '\t':
            o_str(o, "\\t");
            p++;
            break;
        default:
            if (*p < 0x80) { /* other C0 controls and DEL */
                o_printf(o, "\\u%04x", *p);
                p++;
            } else if ((n = utf8_seq(p, &cp)) == 0) {
                o_str(o, "\\ufffd");
                p++;
            } else if (cp < 0xa0 || cp == 0x2028 || cp == 0x2029) {
                o_printf(o, "\\u%04x", (unsigned)cp); /* C1 controls, JS line separators */
                p += n;
            } else {
                o_bytes(o, p, n);
                p += n;
            }
        }
    }
}

/* o_json - append s as a JSON string literal (NULL: "") */
static void o_json(struct out *o, const char *s)
{
    o_str(o, "\"");
    json_escape(o, s);
    o_str(o, "\"");
}

/* o_jstr - append prefix (a key, its separators) and s as a JSON string */
static void o_jstr(struct out *o, const char *prefix, const char *s)
{
    o_str(o, prefix);
    o_json(o, s);
}

/* smtpgw_ctl_json_string - append s as a JSON string literal */
int smtpgw_ctl_json_string(struct util_buf *out, const char *s)
{
    struct out o = {out, 0};
    size_t start = out->len;
    o_json(&o, s);
    if (o.err)
        out->len = start;
    return o.err ? UTIL_ERR_NOMEM : 0;
}

/* o_text - append s for a terminal: printable ASCII and UTF-8 from U+00A0
 * as they are; backslash, controls, C1 controls and invalid bytes as \xNN */
static void o_text(struct out *o, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p && !o->err) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x7f && *p != '\\')
            p++;
        o_bytes(o, run, (size_t)(p - run));
        if (!*p)
            break;
        uint32_t cp;
        size_t n = *p >= 0x80 ? utf8_seq(p, &cp) : 0;
        if (n && cp >= 0xa0) {
            o_bytes(o, p, n);
            p += n;
        } else {
            n = n ? n : 1;
            for (size_t i = 0; i < n; i++)
                o_printf(o, "\\x%02x", p[i]);
            p += n;
        }
    }
}

/* o_tstr - append prefix, s escaped for a terminal (o_text), suffix */
static void o_tstr(struct out *o, const char *prefix, const char *s, const char *suffix)
{
    o_str(o, prefix);
    o_text(o, s);
    o_str(o, suffix);
}

/* o_key - a status key, "name:" padded to align the values */
static void o_key(struct out *o, const char *name)
{
    o_printf(o, "%s:%*s", name, (int)(13 - UTIL_MIN(strlen(name), 13)), "");
}

/* o_kv - a status line "name: value" (value escaped) */
static void o_kv(struct out *o, const char *name, const char *value)
{
    o_key(o, name);
    o_tstr(o, "", value, "\n");
}

/* columns - display columns of escaped text (UTF-8 lead bytes) */
static size_t columns(const char *s, size_t len)
{
    size_t c = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            c++;
    return c;
}

/* o_cell - append s escaped (o_text), padded with spaces to width
 * columns (right-aligned if right) */
static void o_cell(struct out *o, const char *s, size_t width, bool right)
{
    struct util_buf tmp;
    util_buf_init(&tmp, 4096);
    struct out t = {&tmp, 0};
    o_text(&t, s);
    size_t cols = t.err ? 0 : columns((const char *)tmp.data, tmp.len);
    size_t pad = cols < width ? width - cols : 0;
    if (!right)
        o_bytes(o, tmp.data ? (const char *)tmp.data : "", tmp.len);
    for (size_t i = 0; i < pad; i++)
        o_bytes(o, " ", 1);
    if (right)
        o_bytes(o, tmp.data ? (const char *)tmp.data : "", tmp.len);
    util_buf_free(&tmp);
}

/* text_width - columns s takes once escaped (o_text) */
static size_t text_width(const char *s)
{
    struct util_buf tmp;
    util_buf_init(&tmp, 4096);
    struct out t = {&tmp, 0};
    o_text(&t, s);
    size_t cols = columns((const char *)tmp.data, tmp.len);
    util_buf_free(&tmp);
    return cols;
}

/* node_str - a node id as a dotted quad */
static const char *node_str(uint32_t node, char *buf, size_t cap)
{
    snprintf(buf, cap, "%u.%u.%u.%u", (unsigned)(node >> 24), (unsigned)(node >> 16) & 255u,
             (unsigned)(node >> 8) & 255u, (unsigned)node & 255u);
    return buf;
}

/* parse_quad - a dotted quad "a.b.c.d" (each 0..255, 1-3 digits) -> id */
static bool parse_quad(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int part = 0; part < 4; part++) {
        unsigned n = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 4) {
            n = n * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (digits == 0 || digits > 3 || n > 255)
            return false;
        v = (v << 8) | n;
        if (part < 3 && *s++ != '.')
            return false;
    }
    if (*s)
        return false;
    *out = v;
    return true;
}

/* fmt_duration - seconds as "12s", "3m12s", "2h03m", "4d07h" */
static void fmt_duration(int64_t d, char *buf, size_t cap)
{
    long long v = (long long)d;
    if (v < 60)
        snprintf(buf, cap, "%llds", v);
    else if (v < 3600)
        snprintf(buf, cap, "%lldm%02llds", v / 60, v % 60);
    else if (v < 86400)
        snprintf(buf, cap, "%lldh%02lldm", v / 3600, v % 3600 / 60);
    else
        snprintf(buf, cap, "%lldd%02lldh", v / 86400, v % 86400 / 3600);
}

/* fmt_relative - t against now: "3m12s ago", "in 5m00s", "never" (t 0), "-" (now unknown) */
static void fmt_relative(int64_t now, int64_t t, char *buf, size_t cap)
{
    char d[32];
    if (t == 0) {
        snprintf(buf, cap, "never");
    } else if (now <= 0) {
        snprintf(buf, cap, "-");
    } else if (t <= now) {
        fmt_duration(now - t, d, sizeof d);
        snprintf(buf, cap, "%s ago", d);
    } else {
        fmt_duration(t - now, d, sizeof d);
        snprintf(buf, cap, "in %s", d);
    }
}

/* fmt_utc - UNIX seconds as "2024-05-01 10:00:00 UTC" */
static void fmt_utc(int64_t t, char *buf, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(buf, cap, "%lld", (long long)t);
}

/* ==== engine: requests ==== */

/* A parsed request: words point into buf. */
struct req {
    char buf[SMTPGW_CTL_MAX_LINE + 1];
    const char *verb;
    const char *args[CTL_MAX_ARGS];
    size_t n_args;
    bool json;
};

/* The state of one smtpgw_ctl_handle call. */
struct ctx {
    const struct smtpgw_ctl_ops *ops;
    void *user;
    struct req *r;
    struct out o;
    size_t start; /* reply length before this request */
};

/* reply_error - replace whatever was rendered with `error <text>`; returns code */
UTIL_PRINTF(3, 4) static int reply_error(struct ctx *c, int code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    c->o.b->len = c->start;
    c->o.err = 0;
    o_str(&c->o, "error ");
    o_text(&c->o, text); /* ops' error texts are ours, but never trust a newline */
    o_str(&c->o, "\n");
    if (c->o.err)
        c->o.b->len = c->start;
    return code;
}

/* finish - check the sticky error of a rendered `ok` reply; returns rc or the error */
static int finish(struct ctx *c, int rc)
{
    if (c->o.err)
        return reply_error(c, SMTPGW_ERR_CTL_TOO_BIG, "%s: reply too large (limit %zu bytes)",
                           c->r->verb, c->o.b->limit);
    return rc;
}

/* ops_error - the error reply for a failed ops call */
static int ops_error(struct ctx *c, const char *arg, int rc)
{
    if (arg)
        return reply_error(c, rc, "%s %.*s: %s", c->r->verb, CTL_ECHO_MAX, arg,
                           smtpgw_strerror(rc));
    return reply_error(c, rc, "%s: %s", c->r->verb, smtpgw_strerror(rc));
}

/* unsupported - the reply when the daemon left an ops entry NULL */
static int unsupported(struct ctx *c)
{
    return reply_error(c, SMTPGW_ERR_CTL_UNSUPPORTED, "%s: %s", c->r->verb,
                       smtpgw_strerror(SMTPGW_ERR_CTL_UNSUPPORTED));
}

/* req_parse - split a line into verb, arguments and --json; 0, or
 * SMTPGW_ERR_CTL_USAGE with the reason in why */
static int req_parse(struct req *r, const char *line, char *why, size_t cap)
{
    size_t len = strlen(line);
    if (len && line[len - 1] == '\n')
        len--;
    if (len && line[len - 1] == '\r')
        len--;
    if (len >= SMTPGW_CTL_MAX_LINE) {
        snprintf(why, cap, "request too long (at most %d bytes with the newline)",
                 SMTPGW_CTL_MAX_LINE);
        return SMTPGW_ERR_CTL_USAGE;
    }
    if (len == 0) {
        snprintf(why, cap, "empty request (try help)");
        return SMTPGW_ERR_CTL_USAGE;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)line[i];
        if (ch < 0x20 || ch > 0x7e) {
            snprintf(why, cap, "non-printable byte 0x%02x at offset %zu (printable ASCII only)", ch,
                     i);
            return SMTPGW_ERR_CTL_USAGE;
        }
    }
    memcpy(r->buf, line, len);
    r->buf[len] = '\0';
    r->verb = NULL;
    r->n_args = 0;
    r->json = false;
    char *p = r->buf;
    for (;;) {
        char *sp = strchr(p, ' ');
        if (sp)
            *sp = '\0';
        if (!*p) {
            snprintf(why, cap, "empty word (separate words by single spaces)");
            return SMTPGW_ERR_CTL_USAGE;
        }
        if (!r->verb) {
            r->verb = p;
        } else if (strcmp(p, "--json") == 0) {
            r->json = true;
        } else if (p[0] == '-' && p[1] == '-') {
            snprintf(why, cap, "unknown option '%.*s' (only --json)", CTL_ECHO_MAX, p);
            return SMTPGW_ERR_CTL_USAGE;
        } else if (r->n_args == CTL_MAX_ARGS) {
            snprintf(why, cap, "too many arguments");
            return SMTPGW_ERR_CTL_USAGE;
        } else {
            r->args[r->n_args++] = p;
        }
        if (!sp)
            break;
        p = sp + 1;
    }
    return 0;
}

/* ==== engine: commands ==== */

/* status_text - the text body of status */
static void status_text(struct ctx *c, const struct smtpgw_ctl_status *st)
{
    struct out *o = &c->o;
    char t1[64], t2[64];
    o_kv(o, "version", st->version);
    o_kv(o, "node", st->node);
    o_key(o, "started");
    if (st->started) {
        fmt_utc(st->started, t1, sizeof t1);
        fmt_relative(st->now, st->started, t2, sizeof t2);
        o_printf(o, "%s (%s)\n", t1, t2);
    } else {
        o_str(o, "-\n");
    }
    o_kv(o, "bearer", st->bearer);
    o_kv(o, "server", st->server);
    o_kv(o, "link", st->link);
    o_key(o, "sap");
    o_printf(o, "%u\n", st->sap);
    o_key(o, "mtu");
    o_printf(o, "%zu\n", st->mtu);
    o_kv(o, "flow", st->flow_on ? "on" : "off");
    o_kv(o, "availability", st->availability);
    o_kv(o, "emcon", st->emcon ? "on" : "off");
    o_kv(o, "last error", st->last_error && st->last_error[0] ? st->last_error : "none");
    o_key(o, "outgoing");
    o_printf(o, "%zu\n", st->outgoing);
    o_key(o, "incoming");
    o_printf(o, "%zu\n", st->incoming);
    o_key(o, "held");
    o_printf(o, "%zu\n", st->held);
    o_key(o, "deliveries");
    o_printf(o, "%zu\n", st->deliveries);
    o_kv(o, "log level", st->log_level);
    if (st->n_nodes == 0 || !st->nodes) {
        o_str(o, "nodes:        none\n");
        return;
    }
    size_t wname = 4;
    for (size_t i = 0; i < st->n_nodes; i++)
        wname = UTIL_MAX(wname, text_width(st->nodes[i].name));
    wname = UTIL_MIN(wname, 32);
    o_str(o, "\n");
    o_cell(o, "NODE", 16, false);
    o_cell(o, "NAME", wname + 2, false);
    o_str(o, " PENDING  LAST-ACK          EMCON\n");
    for (size_t i = 0; i < st->n_nodes; i++) {
        const struct smtpgw_ctl_node *n = &st->nodes[i];
        char q[20];
        o_cell(o, node_str(n->node, q, sizeof q), 16, false);
        o_cell(o, n->name, wname + 2, false);
        o_printf(o, "%8zu  ", n->pending);
        fmt_relative(st->now, n->last_ack, t1, sizeof t1);
        o_cell(o, t1, 18, false);
        o_str(o, n->emcon ? "yes\n" : "no\n");
    }
}

/* status_json - the JSON body of status */
static void status_json(struct ctx *c, const struct smtpgw_ctl_status *st)
{
    struct out *o = &c->o;
    o_jstr(o, "{\"version\":", st->version);
    o_jstr(o, ",\"node\":", st->node);
    o_printf(o, ",\"now\":%lld,\"started\":%lld", (long long)st->now, (long long)st->started);
    o_jstr(o, ",\"bearer\":", st->bearer);
    o_jstr(o, ",\"server\":", st->server);
    o_jstr(o, ",\"link\":", st->link);
    o_printf(o, ",\"sap\":%u,\"mtu\":%zu,\"flow_on\":%s", st->sap, st->mtu,
             st->flow_on ? "true" : "false");
    o_jstr(o, ",\"availability\":", st->availability);
    o_printf(o, ",\"emcon\":%s", st->emcon ? "true" : "false");
    o_jstr(o, ",\"last_error\":", st->last_error);
    o_printf(o, ",\"outgoing\":%zu,\"incoming\":%zu,\"held\":%zu,\"deliveries\":%zu", st->outgoing,
             st->incoming, st->held, st->deliveries);
    o_jstr(o, ",\"log_level\":", st->log_level);
    o_str(o, ",\"nodes\":[");
    for (size_t i = 0; st->nodes && i < st->n_nodes; i++) {
        const struct smtpgw_ctl_node *n = &st->nodes[i];
        char q[20];
        o_jstr(o, i ? ",{\"node\":" : "{\"node\":", node_str(n->node, q, sizeof q));
        o_printf(o, ",\"node_id\":%lu", (unsigned long)n->node);
        o_jstr(o, ",\"name\":", n->name);
        o_printf(o, ",\"pending\":%zu,\"last_ack\":%lld,\"emcon\":%s}", n->pending,
                 (long long)n->last_ack, n->emcon ? "true" : "false");
    }
    o_str(o, "]}\n");
}

/* cmd_status - status [--json] */
static int cmd_status(struct ctx *c)
{
    if (!c->ops->status)
        return unsupported(c);
    struct smtpgw_ctl_status st;
    memset(&st, 0, sizeof st);
    int rc = c->ops->status(c->user, &st);
    if (rc < 0) {
        if (c->ops->status_done)
            c->ops->status_done(c->user, &st);
        return ops_error(c, NULL, rc);
    }
    o_str(&c->o, "ok\n");
    if (c->r->json)
        status_json(c, &st);
    else
        status_text(c, &st);
    if (c->ops->status_done)
        c->ops->status_done(c->user, &st);
    return finish(c, 0);
}

/* The queue walk's state. */
struct qwalk {
    struct ctx *c;
    int64_t now; /* 0: unknown */
    size_t count;
    uint64_t bytes;
};

/* queue_msg_text - one message, Postfix mailq style */
static void queue_msg_text(struct qwalk *w, const struct smtpgw_ctl_msg *m)
{
    struct out *o = &w->c->o;
    char buf[80], age[32];
    if (w->count == 0)
        o_str(o, "QUEUE-ID          SIZE  AGE      PRIO  SENDER\n");
    snprintf(buf, sizeof buf, "%.*s%s", CTL_MAX_ID, m->qid ? m->qid : "", m->held ? "!" : "");
    o_cell(o, buf, 13, false);
    o_printf(o, " %8llu  ", (unsigned long long)m->size);
    if (w->now > 0 && m->arrival > 0)
        fmt_duration(w->now > m->arrival ? w->now - m->arrival : 0, age, sizeof age);
    else
        snprintf(age, sizeof age, "-");
    o_cell(o, age, 8, false);
    o_printf(o, " %4u  <", m->priority);
    o_text(o, m->from);
    o_str(o, ">\n  (");
    o_text(o, m->queue);
    if (m->held)
        o_str(o, ", held");
    if (m->queue && strcmp(m->queue, "incoming") == 0) {
        o_printf(o, ", %u attempt%s, next ", m->attempts, m->attempts == 1 ? "" : "s");
        if (m->next_attempt == 0 || (w->now > 0 && m->next_attempt <= w->now)) {
            o_str(o, "now");
        } else if (w->now > 0) {
            fmt_relative(w->now, m->next_attempt, buf, sizeof buf);
            o_str(o, buf);
        } else {
            fmt_utc(m->next_attempt, buf, sizeof buf);
            o_str(o, buf);
        }
    }
    o_str(o, ")\n");
    for (size_t i = 0; m->dests && i < m->n_dests; i++) {
        const struct smtpgw_ctl_dest *d = &m->dests[i];
        char q[20];
        o_printf(o, "  -> %s", node_str(d->node, q, sizeof q));
        if (d->name && d->name[0])
            o_tstr(o, " (", d->name, ")");
        o_tstr(o, " ", d->state && d->state[0] ? d->state : "?", "");
        if (d->msgid)
            o_printf(o, " msgid=%lu", (unsigned long)d->msgid);
        o_str(o, "\n");
    }
    for (size_t i = 0; m->rcpts && i < m->n_rcpts; i++)
        o_tstr(o, "     ", m->rcpts[i], "\n");
    o_str(o, "\n");
}

/* queue_msg_json - one message as a JSON object */
static void queue_msg_json(struct qwalk *w, const struct smtpgw_ctl_msg *m)
{
    struct out *o = &w->c->o;
    o_jstr(o, w->count ? ",{\"qid\":" : "{\"qid\":", m->qid);
    o_jstr(o, ",\"queue\":", m->queue);
    o_printf(o, ",\"arrival\":%lld,\"size\":%llu,\"priority\":%u,\"from\":", (long long)m->arrival,
             (unsigned long long)m->size, m->priority);
    o_json(o, m->from);
    o_printf(o, ",\"held\":%s,\"attempts\":%u,\"next_attempt\":%lld,\"rcpts\":[",
             m->held ? "true" : "false", m->attempts, (long long)m->next_attempt);
    for (size_t i = 0; m->rcpts && i < m->n_rcpts; i++)
        o_jstr(o, i ? "," : "", m->rcpts[i]);
    o_str(o, "],\"dests\":[");
    for (size_t i = 0; m->dests && i < m->n_dests; i++) {
        const struct smtpgw_ctl_dest *d = &m->dests[i];
        char q[20];
        o_jstr(o, i ? ",{\"node\":" : "{\"node\":", node_str(d->node, q, sizeof q));
        o_printf(o, ",\"node_id\":%lu", (unsigned long)d->node);
        o_jstr(o, ",\"name\":", d->name);
        o_jstr(o, ",\"state\":", d->state);
        o_printf(o, ",\"msgid\":%lu}", (unsigned long)d->msgid);
    }
    o_str(o, "]}");
}

/* queue_each - the callback ops->queue calls per message */
static void queue_each(void *ctx, const struct smtpgw_ctl_msg *m)
{
    struct qwalk *w = ctx;
    if (!m || w->c->o.err)
        return;
    if (w->c->r->json)
        queue_msg_json(w, m);
    else
        queue_msg_text(w, m);
    w->count++;
    w->bytes += m->size;
}

/* cmd_queue - queue [--json] */
static int cmd_queue(struct ctx *c)
{
    if (!c->ops->queue)
        return unsupported(c);
    struct qwalk w = {c, c->ops->now ? c->ops->now(c->user) : 0, 0, 0};
    o_str(&c->o, c->r->json ? "ok\n{\"messages\":[" : "ok\n");
    int rc = c->ops->queue(c->user, queue_each, &w);
    if (rc < 0)
        return ops_error(c, NULL, rc);
    if (c->r->json) {
        o_str(&c->o, "]}\n");
    } else if (w.count == 0) {
        o_str(&c->o, "Mail queue is empty\n");
    } else {
        unsigned long long kb = (unsigned long long)((w.bytes + 1023) / 1024);
        o_printf(&c->o, "-- %zu message%s, %llu kbytes\n", w.count, w.count == 1 ? "" : "s", kb);
    }
    return finish(c, 0);
}

/* cmd_message - retry/drop/hold/release ID (or all) */
static int cmd_message(struct ctx *c)
{
    const struct smtpgw_ctl_ops *ops = c->ops;
    const char *v = c->r->verb, *id = c->r->args[0];
    int (*fn)(void *, const char *) = strcmp(v, "retry") == 0  ? ops->retry
                                      : strcmp(v, "drop") == 0 ? ops->drop
                                      : strcmp(v, "hold") == 0 ? ops->hold
                                                               : ops->release;
    if (strcmp(v, "drop") == 0 && strcmp(id, "all") == 0)
        return reply_error(c, SMTPGW_ERR_CTL_USAGE, "drop: give one queue id ('all' is refused)");
    if (strlen(id) >= CTL_MAX_ID)
        return reply_error(c, SMTPGW_ERR_CTL_USAGE, "%s: '%.*s...' is not a queue id", v,
                           CTL_ECHO_MAX / 2, id);
    if (!fn)
        return unsupported(c);
    int rc = fn(c->user, id);
    if (rc < 0)
        return ops_error(c, id, rc);
    o_str(&c->o, "ok\n");
    if (c->r->json) {
        o_printf(&c->o, "{\"command\":\"%s\",\"id\":", v);
        o_json(&c->o, id);
        o_printf(&c->o, ",\"count\":%d}\n", rc);
    } else {
        o_printf(&c->o, "%s: %d message%s\n", v, rc, rc == 1 ? "" : "s");
    }
    return finish(c, rc);
}

/* parse_onoff - "on"/"off" */
static bool parse_onoff(const char *s, bool *on)
{
    if (strcmp(s, "on") == 0)
        *on = true;
    else if (strcmp(s, "off") == 0)
        *on = false;
    else
        return false;
    return true;
}

/* cmd_emcon - emcon [NODE] on|off */
static int cmd_emcon(struct ctx *c)
{
    struct req *r = c->r;
    bool on;
    if (!parse_onoff(r->args[r->n_args - 1], &on))
        return reply_error(c, SMTPGW_ERR_CTL_USAGE, "emcon: '%.*s' is not on or off; usage: %s",
                           CTL_ECHO_MAX, r->args[r->n_args - 1], "emcon [NODE] on|off");
    uint32_t node = 0;
    const char *name = r->n_args == 2 ? r->args[0] : NULL;
    if (name && !parse_quad(name, &node)) {
        int rc =
            c->ops->node_lookup ? c->ops->node_lookup(c->user, name, &node) : SMTPGW_ERR_CTL_NODE;
        if (rc < 0)
            return reply_error(c, rc, "emcon %.*s: %s", CTL_ECHO_MAX, name,
                               rc == UTIL_ERR_UNKNOWN || rc == SMTPGW_ERR_CTL_NODE
                                   ? smtpgw_strerror(SMTPGW_ERR_CTL_NODE)
                                   : smtpgw_strerror(rc));
    }
    if (name && node == 0)
        return reply_error(c, SMTPGW_ERR_CTL_NODE, "emcon %.*s: %s", CTL_ECHO_MAX, name,
                           smtpgw_strerror(SMTPGW_ERR_CTL_NODE));
    if (!c->ops->emcon)
        return unsupported(c);
    int rc = c->ops->emcon(c->user, node, on);
    if (rc < 0)
        return ops_error(c, name, rc);
    char q[20];
    o_str(&c->o, "ok\n");
    if (r->json) {
        o_str(&c->o, "{\"command\":\"emcon\",\"node\":");
        if (name)
            o_json(&c->o, node_str(node, q, sizeof q));
        else
            o_str(&c->o, "null");
        o_printf(&c->o, ",\"emcon\":%s}\n", on ? "true" : "false");
    } else if (name) {
        o_printf(&c->o, "emcon %s", node_str(node, q, sizeof q));
        if (strcmp(name, q) != 0)
            o_printf(&c->o, " (%s)", name);
        o_printf(&c->o, ": %s\n", on ? "on" : "off");
    } else {
        o_printf(&c->o, "emcon: %s (local node)\n", on ? "on" : "off");
    }
    return finish(c, 0);
}

/* trace_valid - a comma list of util's module names, or "all" */
static bool trace_valid(const char *list)
{
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        bool ok = n == 3 && strncmp(p, "all", 3) == 0;
        for (int m = 0; !ok && m < UTIL_MOD_COUNT; m++) {
            const char *name = util_log_module_name((enum util_log_module)m);
            ok = strlen(name) == n && strncmp(p, name, n) == 0;
        }
        if (!ok)
            return false;
        p = end ? end + 1 : p + n;
        if (end && !*p)
            return false; /* a trailing comma */
    }
    return true;
}

/* cmd_log_level - log-level [LEVEL | trace MODULES] */
static int cmd_log_level(struct ctx *c)
{
    static const char *const names[][2] = {
        {"err", "err"},       {"error", "err"}, {"warning", "warn"}, {"warn", "warn"},
        {"notice", "notice"}, {"info", "info"}, {"debug", "debug"},  {"trace", "trace"}};
    struct req *r = c->r;
    const char *level = NULL, *trace = NULL;
    if (r->n_args >= 1) {
        for (size_t i = 0; i < UTIL_ARRAY_LEN(names) && !level; i++)
            if (strcmp(r->args[0], names[i][0]) == 0)
                level = names[i][1];
        if (!level)
            return reply_error(c, SMTPGW_ERR_CTL_USAGE,
                               "log-level: unknown level '%.*s' (err, warning, notice, info, "
                               "debug, or trace MODULES)",
                               CTL_ECHO_MAX, r->args[0]);
        bool is_trace = strcmp(level, "trace") == 0;
        if (is_trace && r->n_args < 2)
            return reply_error(c, SMTPGW_ERR_CTL_USAGE,
                               "log-level trace needs modules: MODULE[,MODULE...], all or none");
        if (!is_trace && r->n_args > 1)
            return reply_error(c, SMTPGW_ERR_CTL_USAGE,
                               "log-level: only trace takes modules; usage: log-level LEVEL");
        if (is_trace) {
            trace = r->args[1];
            if (strcmp(trace, "none") == 0 || strcmp(trace, "off") == 0)
                trace = "";
            else if (!trace_valid(trace))
                return reply_error(c, SMTPGW_ERR_CTL_USAGE,
                                   "log-level trace: unknown module in '%.*s' (util, s5066, "
                                   "sim, pmul, mule, smtpgw, main, all, none)",
                                   CTL_ECHO_MAX, trace);
        }
    }
    if (!c->ops->log_level)
        return unsupported(c);
    char cur[SMTPGW_CTL_LEVEL_LEN] = "";
    int rc = c->ops->log_level(c->user, level, trace, cur, sizeof cur);
    if (rc < 0)
        return ops_error(c, NULL, rc);
    cur[sizeof cur - 1] = '\0';
    char *mods = strchr(cur, ' ');
    if (mods)
        *mods++ = '\0';
    if (mods && !*mods)
        mods = NULL;
    o_str(&c->o, "ok\n");
    if (r->json) {
        o_jstr(&c->o, "{\"command\":\"log-level\",\"level\":", cur);
        o_str(&c->o, ",\"trace\":[");
        for (char *p = mods, *end; p && *p; p = end ? end + 1 : NULL) {
            end = strchr(p, ',');
            if (end)
                *end = '\0';
            o_jstr(&c->o, p == mods ? "" : ",", p);
        }
        o_str(&c->o, "]}\n");
    } else {
        o_tstr(&c->o, "level: ", cur, "\n");
        o_tstr(&c->o, "trace: ", mods ? mods : "none", "\n");
    }
    return finish(c, 0);
}

/* The help text: usage and what it does. */
static const char *const help_lines[][2] = {
    {"status", "link, bearer, EMCON, queue counts and the nodes"},
    {"queue", "spooled messages with each destination's state"},
    {"retry ID|all", "send or deliver again now"},
    {"drop ID", "remove a message from the spool"},
    {"hold ID|all", "neither send nor deliver until released"},
    {"release ID|all", "let held messages go"},
    {"emcon on|off", "radio silence of this node"},
    {"emcon NODE on|off", "hold a node (dotted quad or name) in EMCON"},
    {"log-level", "show the log level and the traced modules"},
    {"log-level LEVEL", "set err, warning, notice, info or debug"},
    {"log-level trace MODULES", "trace s5066,pmul,... (all, none)"},
    {"help", "this list"},
};

/* cmd_help - help [--json] */
static int cmd_help(struct ctx *c)
{
    o_str(&c->o, "ok\n");
    if (c->r->json) {
        o_str(&c->o, "{\"commands\":[");
        for (size_t i = 0; i < UTIL_ARRAY_LEN(help_lines); i++) {
            o_jstr(&c->o, i ? ",{\"usage\":" : "{\"usage\":", help_lines[i][0]);
            o_jstr(&c->o, ",\"help\":", help_lines[i][1]);
            o_str(&c->o, "}");
        }
        o_str(&c->o, "]}\n");
    } else {
        for (size_t i = 0; i < UTIL_ARRAY_LEN(help_lines); i++)
            o_printf(&c->o, "%-25s %s\n", help_lines[i][0], help_lines[i][1]);
        o_str(&c->o, "Add --json to any command for a JSON reply.\n");
    }
    return finish(c, 0);
}

/* The verbs: argument counts, usage for errors, handler. */
static const struct cmd {
    const char *verb;
    size_t min_args, max_args;
    const char *usage;
    int (*run)(struct ctx *c);
} cmds[] = {
    {"status", 0, 0, "status [--json]", cmd_status},
    {"queue", 0, 0, "queue [--json]", cmd_queue},
    {"retry", 1, 1, "retry ID|all", cmd_message},
    {"drop", 1, 1, "drop ID", cmd_message},
    {"hold", 1, 1, "hold ID|all", cmd_message},
    {"release", 1, 1, "release ID|all", cmd_message},
    {"emcon", 1, 2, "emcon [NODE] on|off", cmd_emcon},
    {"log-level", 0, 2, "log-level [LEVEL | trace MODULES]", cmd_log_level},
    {"help", 0, 0, "help [--json]", cmd_help},
};

/* smtpgw_ctl_handle - answer one request line */
int smtpgw_ctl_handle(const struct smtpgw_ctl_ops *ops, void *user, const char *line,
                      struct util_buf *reply)
{
    static const struct smtpgw_ctl_ops none;
    struct req r;
    struct ctx c = {ops ? ops : &none, user, &r, {reply, 0}, reply->len};
    char why[256];
    if (!line)
        line = "";
    if (req_parse(&r, line, why, sizeof why) < 0)
        return reply_error(&c, SMTPGW_ERR_CTL_USAGE, "%s", why);
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cmds); i++) {
        const struct cmd *cmd = &cmds[i];
        if (strcmp(r.verb, cmd->verb) != 0)
            continue;
        if (r.n_args < cmd->min_args)
            return reply_error(&c, SMTPGW_ERR_CTL_USAGE, "missing argument; usage: %s", cmd->usage);
        if (r.n_args > cmd->max_args)
            return reply_error(&c, SMTPGW_ERR_CTL_USAGE, "too many arguments; usage: %s",
                               cmd->usage);
        return cmd->run(&c);
    }
    return reply_error(&c, SMTPGW_ERR_CTL_USAGE, "unknown command '%.*s' (try help)", CTL_ECHO_MAX,
                       r.verb);
}

/* smtpgw_ctl_log_level_apply - a ready ops->log_level on util's logger */
int smtpgw_ctl_log_level_apply(void *user, const char *level, const char *trace, char *out,
                               size_t cap)
{
    static const char *const names[] = {"err", "warn", "notice", "info", "debug", "trace"};
    (void)user;
    if (level && strcmp(level, "trace") == 0) {
        int rc = util_log_set_trace(trace ? trace : "");
        if (rc < 0)
            return rc;
    } else if (level) {
        int l = util_log_parse_level(level);
        if (l < 0 || l >= UTIL_LOG_TRACE)
            return UTIL_ERR_INVAL;
        util_log_set_level((enum util_log_level)l);
    }
    if (!out || cap == 0)
        return 0;
    unsigned lv = (unsigned)util_log_get_level();
    size_t n = (size_t)snprintf(out, cap, "%s", lv < UTIL_ARRAY_LEN(names) ? names[lv] : "?");
    bool all = true;
    for (int m = 0; m < UTIL_MOD_COUNT; m++)
        all = all && util_log_trace_on((enum util_log_module)m);
    for (int m = 0; m < UTIL_MOD_COUNT && n < cap; m++) {
        if (!util_log_trace_on((enum util_log_module)m))
            continue;
        const char *name = all ? "all" : util_log_module_name((enum util_log_module)m);
        bool first = !strchr(out, ' ');
        n += (size_t)snprintf(out + n, cap - n, "%s%s", first ? " " : ",", name);
        if (all)
            break;
    }
    return 0;
}

/* ==== [control] settings ==== */

/* smtpgw_ctl_default_socket - the compiled-in socket path */
const char *smtpgw_ctl_default_socket(void)
{
    return MULEGW_DEFAULT_SOCKET;
}

/* smtpgw_ctl_conf_read - [control] socket, mode, group of conf */
int smtpgw_ctl_conf_read(struct util_conf *conf, struct smtpgw_ctl_conf *out)
{
    out->socket = smtpgw_ctl_default_socket();
    out->mode = SMTPGW_CTL_DEFAULT_MODE;
    out->group = NULL;
    out->gid = -1;
    if (!conf)
        return 0;
    struct util_conf_section *s = util_conf_section(conf, "control", NULL);
    const char *sock, *mode, *group;
    int rc = util_conf_str(conf, s, "socket", out->socket, &sock);
    if (rc < 0)
        return rc;
    struct sockaddr_un sa;
    if (sock[0] == '\0' || strlen(sock) >= sizeof sa.sun_path)
        return util_conf_fail(conf, s, "socket", UTIL_ERR_RANGE, "a socket path is 1 to %zu bytes",
                              sizeof sa.sun_path - 1);
    out->socket = sock;
    rc = util_conf_str(conf, s, "mode", "0660", &mode);
    if (rc < 0)
        return rc;
    char *end;
    errno = 0;
    unsigned long m = strtoul(mode, &end, 8);
    if (!mode[0] || *end || errno || m > 0777 || mode[0] == '-' || mode[0] == '+')
        return util_conf_fail(conf, s, "mode", UTIL_ERR_TYPE,
                              "'%s' is not an octal mode (0600, 0660, 0666)", mode);
    out->mode = (unsigned)m;
    rc = util_conf_str(conf, s, "group", "", &group);
    if (rc < 0)
        return rc;
    if (group[0]) {
        struct group *gr = getgrnam(group);
        long long id;
        if (gr)
            out->gid = (int)gr->gr_gid;
        else if (util_parse_int(group, 0, 0x7fffffff, &id) == 0)
            out->gid = (int)id;
        else
            return util_conf_fail(conf, s, "group", UTIL_ERR_UNKNOWN, "no such group '%s'", group);
        out->group = group;
    }
    return 0;
}
