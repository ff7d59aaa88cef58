/* payload.c - the BSMTP-like payload of RFC 8494 section 3.1: the FROM-line,
 * one RCPT-line per recipient with its ESMTP parameters kept verbatim, an
 * empty line and the message; CRLF line ends; no dot-stuffing.  Addresses
 * follow RFC 5321 4.1.2 (Mailbox, with the UTF-8 of RFC 6531 3.3) and the
 * length limits of RFC 5321 4.5.3.1; ESMTP parameters RFC 5321 4.1.2
 * (esmtp-param); xtext RFC 3461 4.
 *
 * Codec rules: no logging, no I/O.  The parser allocates one array of
 * recipients and one block for the strings (mule_envelope_free).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mule/mule.h"

/* mule_strerror - text for a MULE_ERR_* (or UTIL_ERR_*) code */
const char *mule_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case MULE_ERR_NO_FROM: return "payload does not start with a FROM-line";
    case MULE_ERR_NO_RCPT: return "payload has no RCPT-line";
    case MULE_ERR_BAD_ADDRESS: return "malformed address";
    case MULE_ERR_BARE_LF: return "bare LF in the envelope";
    case MULE_ERR_BAD_LINE: return "malformed envelope line";
    case MULE_ERR_BAD_PARAM: return "malformed ESMTP parameter";
    case MULE_ERR_ENVELOPE_TOO_LONG: return "envelope too long";
    case MULE_ERR_TRUNCATED: return "payload ends inside the envelope";
    case MULE_ERR_BER: return "malformed BER in CompressedData";
    case MULE_ERR_BER_INDEFINITE: return "indefinite BER length";
    case MULE_ERR_BER_TRAILING: return "bytes after the CompressedData";
    case MULE_ERR_ALGORITHM: return "compression algorithm is not zlib";
    case MULE_ERR_CONTENT_TYPE: return "content type is not MULE (25)";
    case MULE_ERR_ZLIB: return "corrupt zlib stream";
    case MULE_ERR_TOO_BIG: return "message larger than the maximum size";
    case MULE_ERR_NO_ROUTE: return "no route for the recipient";
    case MULE_ERR_BAD_NODE: return "bad ACP 142 node id";
    case MULE_ERR_EXPIRED: return "delivery deadline passed";
    case MULE_ERR_NOMEM: return "out of memory";
    case MULE_ERR_INVAL: return "invalid argument";
    case MULE_ERR_NO_ZOPFLI: return "built without zopfli (configure --with-zopfli, Debian libzopfli-dev)";
    default: break;
    }
    if (err < 0 && err > -100)
        return util_strerror(err);
    return "unknown error";
}

/* ---- address syntax (RFC 5321 4.1.2, RFC 6531 3.3) ------------------------- */

/* is_alpha - ASCII letter */
static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* is_digit - ASCII digit */
static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* is_atext - RFC 5322 atext, or a UTF-8 octet (RFC 6531) */
static bool is_atext(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c >= 0x80 || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* is_letdig - RFC 5321 Let-dig, or a UTF-8 octet of a U-label */
static bool is_letdig(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c >= 0x80;
}

/* valid_local - Dot-string or Quoted-string, at most 64 octets */
static bool valid_local(const char *b, const char *e)
{
    if (b >= e || e - b > 64)
        return false;
    if (*b == '"') {
        if (e - b < 2 || e[-1] != '"')
            return false;
        for (const char *p = b + 1; p < e - 1; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == '\\') {
                if (p + 1 >= e - 1 || (unsigned char)p[1] < 32 || (unsigned char)p[1] > 126)
                    return false;
                p++;
            } else if (c == '"' || (c < 32) || c == 127) {
                return false;
            }
        }
        return true;
    }
    bool atom_start = true;
    for (const char *p = b; p < e; p++) {
        if (*p == '.') {
            if (atom_start)
                return false;
            atom_start = true;
        } else if (is_atext((unsigned char)*p)) {
            atom_start = false;
        } else {
            return false;
        }
    }
    return !atom_start;
}

/* valid_domain - Domain (dot-separated sub-domains) or address-literal, <= 255 */
static bool valid_domain(const char *b, const char *e)
{
    if (b >= e || e - b > 255)
        return false;
    if (*b == '[') {
        if (e - b < 3 || e[-1] != ']')
            return false;
        for (const char *p = b + 1; p < e - 1; p++) {
            unsigned char c = (unsigned char)*p;
            if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\')
                return false;
        }
        return true;
    }
    const char *label = b;
    for (const char *p = b; p <= e; p++) {
        if (p == e || *p == '.') {
            if (p == label || p - label > 63)
                return false;
            if (!is_letdig((unsigned char)*label) || !is_letdig((unsigned char)p[-1]))
                return false;
            label = p + 1;
        } else if (!is_letdig((unsigned char)*p) && *p != '-') {
            return false;
        }
    }
    return true;
}

/* valid_mailbox - Local-part "@" Domain over [b, e) */
static bool valid_mailbox(const char *b, const char *e)
{
    if (e - b > MULE_MAX_PATH - 2)
        return false;
    /* the last '@' outside a quoted local part separates the domain */
    const char *at = NULL;
    bool quoted = false;
    for (const char *p = b; p < e; p++) {
        if (quoted && *p == '\\' && p + 1 < e) {
            p++;
            continue;
        }
        if (*p == '"')
            quoted = !quoted;
        else if (*p == '@' && !quoted)
            at = p;
    }
    if (!at)
        return false;
    return valid_local(b, at) && valid_domain(at + 1, e);
}

/* is_postmaster - the bare "Postmaster" a RCPT may name (RFC 5321 4.1.1.3) */
static bool is_postmaster(const char *b, const char *e)
{
    static const char pm[] = "postmaster";
    if ((size_t)(e - b) != sizeof pm - 1)
        return false;
    for (size_t i = 0; i < sizeof pm - 1; i++) {
        char c = b[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != pm[i])
            return false;
    }
    return true;
}

/* mule_address_valid - whether s is an RFC 5321 Mailbox (UTF-8 allowed,
 * RFC 6531); with null_ok the empty (null) path is accepted too */
bool mule_address_valid(const char *s, bool null_ok)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n == 0)
        return null_ok;
    return valid_mailbox(s, s + n) || is_postmaster(s, s + n);
}

/* mule_address_domain - the domain part of an address ("" if none) */
const char *mule_address_domain(const char *addr)
{
    const char *at = NULL;
    bool quoted = false;
    for (const char *p = addr; *p; p++) {
        if (quoted && *p == '\\' && p[1]) {
            p++;
            continue;
        }
        if (*p == '"')
            quoted = !quoted;
        else if (*p == '@' && !quoted)
            at = p;
    }
    return at ? at + 1 : addr + strlen(addr);
}

/* ---- ESMTP parameters (RFC 5321 4.1.2) ---------------------------------------- */

/* valid_params - esmtp-param *(SP esmtp-param) over [b, e) */
static bool valid_params(const char *b, const char *e)
{
    const char *p = b;
    while (p < e) {
        /* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
        if (!is_alpha((unsigned char)*p) && !is_digit((unsigned char)*p))
            return false;
        while (p < e && (is_alpha((unsigned char)*p) || is_digit((unsigned char)*p) || *p == '-'))
            p++;
        if (p < e && *p == '=') {
            /* esmtp-value = 1*(%d33-60 / %d62-126), UTF-8 allowed (RFC 6531) */
            const char *v = ++p;
            while (p < e && *p != ' ') {
                unsigned char c = (unsigned char)*p;
                if (c < 33 || c == '=' || c == 127)
                    return false;
                p++;
            }
            if (p == v)
                return false;
        }
        if (p < e) {
            if (*p != ' ' || p + 1 == e)
                return false;
            p++;
        }
    }
    return true;
}

/* mule_param_get - the value of keyword (case-insensitive) in a verbatim
 * parameter string: true with *val and *len set ("" for a keyword without
 * value), false if absent */
bool mule_param_get(const char *params, const char *keyword, const char **val, size_t *len)
{
    if (!params)
        return false;
    size_t klen = strlen(keyword);
    const char *p = params;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *t = p;
        while (*p && *p != ' ')
            p++;
        const char *eq = memchr(t, '=', (size_t)(p - t));
        const char *kend = eq ? eq : p;
        if ((size_t)(kend - t) == klen && strncasecmp(t, keyword, klen) == 0) {
            *val = eq ? eq + 1 : kend;
            *len = eq ? (size_t)(p - eq - 1) : 0;
            return true;
        }
    }
    return false;
}

/* hexval - value of an upper-case hex digit, -1 otherwise */
static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* mule_xtext_decode - decode RFC 3461 xtext ("+2B" escapes) into out (NUL
 * terminated); returns the length or MULE_ERR_BAD_PARAM / UTIL_ERR_OVERFLOW */
int mule_xtext_decode(const char *in, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '+') {
            if (i + 2 >= len)
                return MULE_ERR_BAD_PARAM;
            int hi = hexval(in[i + 1]), lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return MULE_ERR_BAD_PARAM;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        } else if (c < 33 || c > 126 || c == '=') {
            return MULE_ERR_BAD_PARAM;
        }
        if (n + 1 >= cap)
            return UTIL_ERR_OVERFLOW;
        out[n++] = (char)c;
    }
    if (cap == 0)
        return UTIL_ERR_OVERFLOW;
    out[n] = '\0';
    return (int)n;
}

/* ---- the payload ------------------------------------------------------------------ */

/* One envelope line, split into its path and parameters. */
struct env_line {
    const char *path, *path_end;
    const char *par, *par_end;
};

/* split_line - "<" path ">" [SP params] over [b, e) (no CRLF); 0 or error */
static int split_line(const char *b, const char *e, struct env_line *l)
{
    if (b >= e || *b != '<')
        return MULE_ERR_BAD_LINE;
    const char *p = b + 1;
    bool quoted = false;
    for (; p < e; p++) {
        if (quoted && *p == '\\' && p + 1 < e) {
            p++;
            continue;
        }
        if (*p == '"')
            quoted = !quoted;
        else if (*p == '>' && !quoted)
            break;
    }
    if (p >= e)
        return MULE_ERR_BAD_ADDRESS;
    l->path = b + 1;
    l->path_end = p;
    p++;
    if (p == e) {
        l->par = l->par_end = e;
        return 0;
    }
    if (*p != ' ')
        return MULE_ERR_BAD_PARAM;
    while (p < e && *p == ' ')
        p++;
    const char *pe = e;
    while (pe > p && pe[-1] == ' ')
        pe--;
    if (!valid_params(p, pe))
        return MULE_ERR_BAD_PARAM;
    l->par = p;
    l->par_end = pe;
    return 0;
}

/* next_line - the line at pos within in[0..limit): [*b, *e) without CRLF and
 * *next after it; 0, 1 at the end of the input or a negative error */
static int next_line(const uint8_t *in, size_t len, size_t limit, size_t pos, const char **b,
                     const char **e, size_t *next)
{
    size_t end = len < limit ? len : limit;
    const uint8_t *lf = pos < end ? memchr(in + pos, '\n', end - pos) : NULL;
    if (!lf) {
        if (len > limit)
            return MULE_ERR_ENVELOPE_TOO_LONG;
        return MULE_ERR_TRUNCATED;
    }
    size_t lfpos = (size_t)(lf - in);
    if (lfpos == pos || in[lfpos - 1] != '\r')
        return MULE_ERR_BARE_LF;
    if (lfpos - pos > MULE_MAX_LINE)
        return MULE_ERR_ENVELOPE_TOO_LONG;
    *b = (const char *)in + pos;
    *e = (const char *)in + lfpos - 1;
    for (const char *p = *b; p < *e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 32 || c == 127)
            return MULE_ERR_BAD_LINE;
    }
    *next = lfpos + 1;
    return 0;
}

/* walk - run through the envelope: count recipients and string bytes, and
 * when env->arena_ is set copy the strings; returns the message offset */
static int walk(const uint8_t *in, size_t len, size_t limit, struct mule_envelope *env,
                size_t *n_rcpts, size_t *bytes)
{
    size_t pos = 0, nr = 0, nb = 0;
    char *arena = env->arena_;
    if (len == 0 || in[0] != '<')
        return MULE_ERR_NO_FROM;
    for (int lineno = 0;; lineno++) {
        const char *b, *e;
        size_t next;
        int rc = next_line(in, len, limit, pos, &b, &e, &next);
        if (rc < 0)
            return rc;
        pos = next;
        if (b == e) {
            if (nr == 0)
                return MULE_ERR_NO_RCPT;
            break;
        }
        if (*b != '<')
            return nr == 0 ? MULE_ERR_NO_RCPT : MULE_ERR_BAD_LINE;
        struct env_line l;
        if ((rc = split_line(b, e, &l)) < 0)
            return rc;
        bool ok = lineno == 0
                      ? (l.path == l.path_end || valid_mailbox(l.path, l.path_end))
                      : (valid_mailbox(l.path, l.path_end) || is_postmaster(l.path, l.path_end));
        if (!ok)
            return MULE_ERR_BAD_ADDRESS;
        size_t alen = (size_t)(l.path_end - l.path), plen = (size_t)(l.par_end - l.par);
        if (arena) {
            char *a = arena + nb, *pp = a + alen + 1;
            memcpy(a, l.path, alen);
            a[alen] = '\0';
            memcpy(pp, l.par, plen);
            pp[plen] = '\0';
            if (lineno == 0) {
                env->from = a;
                env->from_params = pp;
            } else {
                env->rcpts[nr].addr = a;
                env->rcpts[nr].params = pp;
            }
        }
        nb += alen + plen + 2;
        if (lineno > 0)
            nr++;
    }
    *n_rcpts = nr;
    *bytes = nb;
    return (int)pos;
}

/* mule_payload_parse - parse the envelope at the start of in; returns the
 * offset of the message or a negative MULE_ERR_* */
int mule_payload_parse(const uint8_t *in, size_t len, size_t max_envelope,
                       struct mule_envelope *env)
{
    memset(env, 0, sizeof *env);
    if (!in && len)
        return MULE_ERR_INVAL;
    size_t limit = max_envelope ? max_envelope : MULE_DEFAULT_MAX_ENVELOPE;
    if (limit > (size_t)INT32_MAX)
        limit = INT32_MAX;
    size_t nr = 0, nb = 0;
    int rc = walk(in, len, limit, env, &nr, &nb);
    if (rc < 0)
        return rc;
    env->arena_ = malloc(nb);
    env->rcpts = calloc(nr, sizeof *env->rcpts);
    if (!env->arena_ || !env->rcpts) {
        mule_envelope_free(env);
        return UTIL_ERR_NOMEM;
    }
    env->n_rcpts = nr;
    rc = walk(in, len, limit, env, &nr, &nb);
    return rc;
}

/* mule_envelope_free - release what mule_payload_parse() allocated */
void mule_envelope_free(struct mule_envelope *env)
{
    free(env->arena_);
    free(env->rcpts);
    memset(env, 0, sizeof *env);
}

/* put_line - append "<path>[ params]" CRLF after checking both */
static int put_line(struct util_buf *out, const char *path, const char *params, bool from)
{
    if (!path)
        return MULE_ERR_BAD_ADDRESS;
    size_t n = strlen(path);
    bool ok = from ? (n == 0 || valid_mailbox(path, path + n))
                   : (valid_mailbox(path, path + n) || is_postmaster(path, path + n));
    if (!ok)
        return MULE_ERR_BAD_ADDRESS;
    size_t pn = params ? strlen(params) : 0;
    if (pn && !valid_params(params, params + pn))
        return MULE_ERR_BAD_PARAM;
    if (2 + n + (pn ? pn + 1 : 0) + 1 > MULE_MAX_LINE) /* as next_line counts: with the CR */
        return MULE_ERR_ENVELOPE_TOO_LONG;
    int rc = util_buf_printf(out, "<%s>%s%s\r\n", path, pn ? " " : "", pn ? params : "");
    return rc < 0 ? rc : 0;
}

/* mule_payload_build - append the payload for env and the message to out */
int mule_payload_build(const struct mule_envelope *env, const uint8_t *msg, size_t msg_len,
                       struct util_buf *out)
{
    if (!env || (!msg && msg_len))
        return MULE_ERR_INVAL;
    if (env->n_rcpts == 0)
        return MULE_ERR_NO_RCPT;
    size_t start = out->len;
    int rc = put_line(out, env->from, env->from_params, true);
    for (size_t i = 0; rc == 0 && i < env->n_rcpts; i++)
        rc = put_line(out, env->rcpts[i].addr, env->rcpts[i].params, false);
    if (rc == 0)
        rc = util_buf_append(out, "\r\n", 2);
    if (rc == 0)
        rc = util_buf_append(out, msg, msg_len);
    if (rc < 0)
        out->len = start;
    return rc;
}
