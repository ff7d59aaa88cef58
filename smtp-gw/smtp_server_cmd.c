/* smtp_server_cmd.c - the commands of the SMTP server engine
 * (smtp_server.c): a complete command line from the input is dispatched
 * (smtpd_process_line) through the table of commands, each with the states it
 * is allowed in, a check of its syntax and parameters (check_*, which
 * reply on an error) and what it does and answers (proceed_*).  MAIL's
 * and RCPT's parameters are kept normalised (single spaces) for the
 * transaction.
 *
 * Specifications:
 *   RFC 5321 (SMTP): 3.3 the mail transaction, 3.5.3 and 7.3 VRFY and
 *     EXPN, 4.1.1 commands, 4.1.2 syntax of paths and parameters, 4.2
 *     replies, 4.5.3.1 size limits
 *   RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 3461 DSN (NOTIFY, ORCPT, RET,
 *     ENVID, xtext), RFC 6710 MT-PRIORITY, RFC 2852 DELIVERBY, RFC 3030
 *     CHUNKING (BDAT) and BINARYMIME, RFC 2920 PIPELINING (advertised),
 *     RFC 2034 and RFC 3463 enhanced status codes, RFC 6531 SMTPUTF8
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp-gw/smtp_server_priv.h"

/* ---- parsing helpers --------------------------------------------------------------- */

/* lower - ASCII lower case */
static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* prefix_ci - whether s starts with p (ASCII case-insensitive) */
static bool prefix_ci(const char *s, const char *p)
{
    for (; *p; s++, p++)
        if (lower(*s) != lower(*p))
            return false;
    return true;
}

/* eq_ci - whether [v, v+n) equals w (ASCII case-insensitive) */
static bool eq_ci(const char *v, size_t n, const char *w)
{
    return strlen(w) == n && strncasecmp(v, w, n) == 0;
}

/* has_8bit - whether s holds a non-ASCII octet */
static bool has_8bit(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return true;
    return false;
}

/* parse_path - "<...>" at p into out (source route dropped); the
 * position after '>' or NULL on a syntax error (or a path too long) */
static const char *parse_path(const char *p, char *out, size_t cap)
{
    if (*p != '<')
        return NULL;
    const char *b = ++p;
    bool quoted = false;
    for (; *p; p++) {
        if (quoted) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                quoted = false;
        } else if (*p == '"') {
            quoted = true;
        } else if (*p == '>') {
            break;
        }
    }
    if (*p != '>')
        return NULL;
    const char *e = p;
    if (b < e && *b == '@') {
        /* A-d-l ":" (RFC 5321 4.1.2): accepted and ignored (C and F.2) */
        const char *q = b;
        while (q < e && *q != ':') {
            char c = *q;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr("@.,-[]:", c)))
                return NULL;
            q++;
        }
        if (q == e)
            return NULL;
        b = q + 1;
    }
    if ((size_t)(e - b) >= cap)
        return NULL;
    memcpy(out, b, (size_t)(e - b));
    out[e - b] = '\0';
    return p + 1;
}

/* One parameter "KEYWORD[=value]" of a MAIL or RCPT command. */
struct param {
    const char *key;
    size_t klen;
    const char *val; /* NULL if no '=' */
    size_t vlen;
};

/* next_param - the next parameter at *pp (after spaces): 1 found, 0 at the
 * end, -1 a syntax error (RFC 5321 4.1.2 esmtp-param; 8-bit values only
 * with allow_8bit) */
static int next_param(const char **pp, struct param *out, bool allow_8bit)
{
    const char *p = *pp;
    while (*p == ' ')
        p++;
    if (!*p)
        return 0;
    out->key = p;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           (*p == '-' && p != out->key))
        p++;
    out->klen = (size_t)(p - out->key);
    if (out->klen == 0)
        return -1;
    out->val = NULL;
    out->vlen = 0;
    if (*p == '=') {
        out->val = ++p;
        while (*p && *p != ' ') {
            unsigned char c = (unsigned char)*p;
            if (c < 33 || c == '=' || c == 127 || (c >= 0x80 && !allow_8bit))
                return -1;
            p++;
        }
        out->vlen = (size_t)(p - out->val);
        if (out->vlen == 0)
            return -1;
    }
    if (*p && *p != ' ')
        return -1;
    *pp = p;
    return 1;
}

/* append_param - add one parameter to the normalised string (single spaces) */
static void append_param(char *dst, const struct param *pr)
{
    size_t n = strlen(dst);
    if (n)
        dst[n++] = ' ';
    size_t len = (size_t)(pr->val ? pr->val + pr->vlen - pr->key : (ptrdiff_t)pr->klen);
    memcpy(dst + n, pr->key, len);
    dst[n + len] = '\0';
}

/* xtext_ok - whether [v, v+n) is RFC 3461 xtext that decodes to at most max octets */
static bool xtext_ok(const char *v, size_t n, size_t max, char *out, size_t cap)
{
    char tmp[512];
    if (!out) {
        out = tmp;
        cap = sizeof tmp;
    }
    if (n == 0 || cap < max + 1)
        return false;
    int len = mule_xtext_decode(v, n, out, max + 1);
    return len >= 0 && (size_t)len <= max;
}

/* ---- commands ------------------------------------------------------------------------- */

#define ST(x)  (1u << SMTPGW_ST_##x)
#define ST_ANY (ST(INIT) | ST(HELO) | ST(MAIL) | ST(RCPT) | ST(BDAT))

struct smtp_cmd {
    const char *verb;
    unsigned states;                                   /* ST() bits it is allowed in */
    int (*check)(struct smtpgw_session *s, char *arg); /* 0 proceed, -1 replied */
    void (*proceed)(struct smtpgw_session *s, char *arg);
};

/* check_helo - EHLO/HELO need a domain or an address literal */
static int check_helo(struct smtpgw_session *s, char *arg)
{
    char *e = arg;
    while (*e && *e != ' ')
        e++;
    *e = '\0';
    if (!*arg || e - arg > SMTPGW_MAX_HELO) {
        smtpd_reply(s, 501, "5.5.4 Syntax: EHLO domain or address literal");
        return -1;
    }
    for (char *p = arg; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 33 || c > 126) {
            smtpd_reply(s, 501, "5.5.4 Invalid domain in EHLO/HELO");
            return -1;
        }
    }
    return 0;
}

/* helo_common - what EHLO and HELO do: reset the transaction, keep the name */
static void helo_common(struct smtpgw_session *s, const char *arg, bool esmtp)
{
    smtpd_txn_clear(s);
    snprintf(s->txn.helo, sizeof s->txn.helo, "%s", arg);
    s->esmtp = esmtp;
    s->txn.esmtp = esmtp;
    smtpd_session_set_state(s, SMTPGW_ST_HELO);
}

/* proceed_ehlo - the EHLO response with every extension */
static void proceed_ehlo(struct smtpgw_session *s, char *arg)
{
    helo_common(s, arg, true);
    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "250-%s Hello %s\r\n"
                     "250-SIZE %zu\r\n"
                     "250-8BITMIME\r\n"
                     "250-DSN\r\n"
                     "250-MT-PRIORITY\r\n"
                     "250-DELIVERBY\r\n"
                     "250-BINARYMIME\r\n"
                     "250-CHUNKING\r\n"
                     "250-PIPELINING\r\n"
                     "%s"
                     "250 ENHANCEDSTATUSCODES\r\n",
                     s->hostname, s->txn.helo, s->lim.max_message,
                     s->lim.smtputf8 ? "250-SMTPUTF8\r\n" : "");
    if (n > 0 && (size_t)n < sizeof buf)
        smtpd_reply_raw(s, buf, (size_t)n);
}

/* proceed_helo - HELO: no extensions */
static void proceed_helo(struct smtpgw_session *s, char *arg)
{
    helo_common(s, arg, false);
    smtpd_reply(s, 250, "%s Hello %s", s->hostname, s->txn.helo);
}

/* mail_param - validate one MAIL parameter into s->pend; 0 or -1 (replied) */
static int mail_param(struct smtpgw_session *s, const struct param *pr, unsigned *seen)
{
    struct smtpgw_txn *t = &s->pend;
    static const char *const known[] = {"SIZE",        "BODY", "RET",     "ENVID",
                                        "MT-PRIORITY", "BY",   "SMTPUTF8"};
    size_t k;
    for (k = 0; k < UTIL_ARRAY_LEN(known); k++)
        if (eq_ci(pr->key, pr->klen, known[k]))
            break;
    if (k == UTIL_ARRAY_LEN(known) || (k == 6 && !s->lim.smtputf8)) {
        smtpd_reply(s, 555, "5.5.4 Unsupported MAIL parameter %.*s", (int)UTIL_MIN(pr->klen, 40),
              pr->key);
        return -1;
    }
    if (*seen & (1u << k)) {
        smtpd_reply(s, 501, "5.5.4 Duplicate MAIL parameter %s", known[k]);
        return -1;
    }
    *seen |= 1u << k;
    if ((k == 6) != (pr->val == NULL)) {
        smtpd_reply(s, 501, "5.5.4 Malformed MAIL parameter %s", known[k]);
        return -1;
    }
    const char *v = pr->val;
    size_t n = pr->vlen;
    switch (k) {
    case 0: { /* SIZE=digits (RFC 1870) */
        uint64_t size = 0;
        bool over = n > 20;
        for (size_t i = 0; i < n; i++) {
            if (v[i] < '0' || v[i] > '9') {
                smtpd_reply(s, 501, "5.5.4 Malformed SIZE parameter");
                return -1;
            }
            if (size > (UINT64_MAX - 9) / 10)
                over = true;
            else
                size = size * 10 + (uint64_t)(v[i] - '0');
        }
        if (over || size > s->lim.max_message) {
            smtpd_reply(s, 552, "5.3.4 Message size exceeds fixed maximum message size (%zu)",
                  s->lim.max_message);
            return -1;
        }
        t->size = size;
        break;
    }
    case 1: /* BODY=7BIT / 8BITMIME (RFC 6152) / BINARYMIME (RFC 3030) */
        if (eq_ci(v, n, "7BIT"))
            t->body = SMTPGW_BODY_7BIT;
        else if (eq_ci(v, n, "8BITMIME"))
            t->body = SMTPGW_BODY_8BITMIME;
        else if (eq_ci(v, n, "BINARYMIME"))
            t->body = SMTPGW_BODY_BINARYMIME;
        else {
            smtpd_reply(s, 501, "5.5.4 Unknown BODY type");
            return -1;
        }
        break;
    case 2: /* RET=FULL / HDRS (RFC 3461 4.3) */
        if (eq_ci(v, n, "FULL"))
            t->ret = SMTPGW_RET_FULL;
        else if (eq_ci(v, n, "HDRS"))
            t->ret = SMTPGW_RET_HDRS;
        else {
            smtpd_reply(s, 501, "5.5.4 RET must be FULL or HDRS");
            return -1;
        }
        break;
    case 3: /* ENVID=xtext, at most 100 characters (RFC 3461 4.4) */
        if (!xtext_ok(v, n, SMTPGW_MAX_ENVID, t->envid, sizeof t->envid)) {
            smtpd_reply(s, 501, "5.5.4 Malformed ENVID (xtext, at most 100 characters)");
            return -1;
        }
        t->has_envid = true;
        break;
    case 4: { /* MT-PRIORITY=-9..9 (RFC 6710 3), mule's parser */
        char one[32];
        snprintf(one, sizeof one, "MT-PRIORITY=%.*s", (int)UTIL_MIN(n, 8), v);
        if (n > 8 || mule_mt_priority(one, &t->mt_priority) < 0) {
            smtpd_reply(s, 501, "5.5.4 MT-PRIORITY must be an integer from -9 to 9");
            return -1;
        }
        t->has_mt_priority = true;
        break;
    }
    case 5: { /* BY=time;R|N[T] (RFC 2852 4), mule's parser */
        char one[48];
        snprintf(one, sizeof one, "BY=%.*s", (int)UTIL_MIN(n, 24), v);
        if (n > 24 || mule_deliverby_parse(one, &t->by) < 0) {
            smtpd_reply(s, 501, "5.5.4 Malformed BY parameter (RFC 2852)");
            return -1;
        }
        break;
    }
    case 6: /* SMTPUTF8 (RFC 6531 3.4) */ t->smtputf8 = true; break;
    }
    return 0;
}

/* check_mail - MAIL FROM:<reverse-path> [parameters] */
static int check_mail(struct smtpgw_session *s, char *arg)
{
    if (s->in_txn) {
        smtpd_reply(s, 503, "5.5.1 Nested MAIL command");
        return -1;
    }
    if (!prefix_ci(arg, "FROM:")) {
        smtpd_reply(s, 501, "5.5.4 Syntax: MAIL FROM:<address>");
        return -1;
    }
    const char *p = arg + 5;
    while (*p == ' ')
        p++;
    p = parse_path(p, s->path, sizeof s->path);
    if (!p || (*p && *p != ' ') || !mule_address_valid(s->path, true)) {
        smtpd_reply(s, 501, "5.1.7 Bad sender address syntax");
        return -1;
    }
    memset(&s->pend, 0, sizeof s->pend);
    s->params[0] = '\0';
    /* SMTPUTF8 first: it allows 8-bit parameter values and addresses */
    bool utf8 = false;
    if (s->lim.smtputf8) {
        struct param pr;
        const char *q = p;
        int rc;
        while ((rc = next_param(&q, &pr, true)) > 0)
            if (eq_ci(pr.key, pr.klen, "SMTPUTF8"))
                utf8 = true;
    }
    unsigned seen = 0;
    struct param pr;
    int rc;
    while ((rc = next_param(&p, &pr, utf8)) > 0) {
        if (!s->esmtp) {
            smtpd_reply(s, 555, "5.5.4 MAIL parameters need EHLO");
            return -1;
        }
        if (mail_param(s, &pr, &seen) < 0)
            return -1;
        append_param(s->params, &pr);
    }
    if (rc < 0) {
        smtpd_reply(s, 501, "5.5.4 Syntax error in MAIL parameters");
        return -1;
    }
    if (has_8bit(s->path) && !s->pend.smtputf8) {
        smtpd_reply(s, 553, "5.6.7 Non-ASCII address needs SMTPUTF8");
        return -1;
    }
    return 0;
}

/* proceed_mail - start the transaction, after the user's mail_check */
static void proceed_mail(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    struct smtpgw_txn *t = &s->txn;
    smtpd_txn_clear(s);
    t->mail_from = strdup(s->path);
    t->mail_params = strdup(s->params);
    if (!t->mail_from || !t->mail_params) {
        smtpd_txn_clear(s);
        smtpd_reply(s, 451, "4.3.0 Out of memory");
        return;
    }
    t->size = s->pend.size;
    t->body = s->pend.body;
    t->ret = s->pend.ret;
    memcpy(t->envid, s->pend.envid, sizeof t->envid);
    t->has_envid = s->pend.has_envid;
    t->mt_priority = s->pend.mt_priority;
    t->has_mt_priority = s->pend.has_mt_priority;
    t->by = s->pend.by;
    t->smtputf8 = s->pend.smtputf8;
    if (s->cb.mail_check) {
        char text[256] = "";
        int code = s->cb.mail_check(s->user, t, text, sizeof text);
        if (code != 0) {
            util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "smtpd-mail-rejected",
                     "session=%llu peer=%s from=<%s> code=%d", (unsigned long long)s->id, t->peer,
                     t->mail_from, code);
            smtpd_reply_user(s, code, text, "4.0.0 Sender temporarily refused", "5.7.1 Sender refused");
            smtpd_txn_clear(s);
            return;
        }
    }
    s->in_txn = true;
    smtpd_session_set_state(s, SMTPGW_ST_MAIL);
    util_log(UTIL_LOG_DEBUG, UTIL_MOD_SMTPGW, "smtpd-mail", "session=%llu from=<%s> params=\"%s\"",
             (unsigned long long)s->id, t->mail_from, t->mail_params);
    smtpd_reply(s, 250, "2.1.0 Sender ok");
}

/* notify_parse - NOTIFY=NEVER | SUCCESS,FAILURE,DELAY (RFC 3461 4.1); bits or 0 */
static unsigned notify_parse(const char *v, size_t n)
{
    if (eq_ci(v, n, "NEVER"))
        return SMTPGW_NOTIFY_NEVER;
    unsigned bits = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        unsigned b = eq_ci(v + i, j - i, "SUCCESS")   ? SMTPGW_NOTIFY_SUCCESS
                     : eq_ci(v + i, j - i, "FAILURE") ? SMTPGW_NOTIFY_FAILURE
                     : eq_ci(v + i, j - i, "DELAY")   ? SMTPGW_NOTIFY_DELAY
                                                      : 0;
        if (!b || (bits & b))
            return 0;
        bits |= b;
        if (j < n && j + 1 == n)
            return 0; /* trailing comma */
        i = j + 1;
    }
    return bits;
}

/* orcpt_ok - ORCPT=addr-type ";" xtext (RFC 3461 4.2), at most 500 characters */
static bool orcpt_ok(const char *v, size_t n)
{
    if (n > 500)
        return false;
    size_t i = 0;
    while (i < n && v[i] != ';') {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
        i++;
    }
    if (i == 0 || i >= n)
        return false;
    return xtext_ok(v + i + 1, n - i - 1, 500, NULL, 0);
}

/* check_rcpt - RCPT TO:<forward-path> [parameters] */
static int check_rcpt(struct smtpgw_session *s, char *arg)
{
    if (!prefix_ci(arg, "TO:")) {
        smtpd_reply(s, 501, "5.5.4 Syntax: RCPT TO:<address>");
        return -1;
    }
    const char *p = arg + 3;
    while (*p == ' ')
        p++;
    p = parse_path(p, s->path, sizeof s->path);
    if (!p || (*p && *p != ' ') || !mule_address_valid(s->path, false)) {
        smtpd_reply(s, 501, "5.1.3 Bad recipient address syntax");
        return -1;
    }
    if (has_8bit(s->path) && !s->txn.smtputf8) {
        smtpd_reply(s, 553, "5.6.7 Non-ASCII address needs SMTPUTF8");
        return -1;
    }
    s->params[0] = '\0';
    s->pend_notify = 0;
    s->pend_orcpt = NULL;
    s->pend_orcpt_len = 0;
    unsigned seen = 0;
    struct param pr;
    int rc;
    while ((rc = next_param(&p, &pr, s->txn.smtputf8)) > 0) {
        if (!s->esmtp) {
            smtpd_reply(s, 555, "5.5.4 RCPT parameters need EHLO");
            return -1;
        }
        if (eq_ci(pr.key, pr.klen, "NOTIFY")) {
            if (seen & 1u) {
                smtpd_reply(s, 501, "5.5.4 Duplicate RCPT parameter NOTIFY");
                return -1;
            }
            seen |= 1u;
            s->pend_notify = pr.val ? notify_parse(pr.val, pr.vlen) : 0;
            if (!s->pend_notify) {
                smtpd_reply(s, 501, "5.5.4 NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY");
                return -1;
            }
        } else if (eq_ci(pr.key, pr.klen, "ORCPT")) {
            if (seen & 2u) {
                smtpd_reply(s, 501, "5.5.4 Duplicate RCPT parameter ORCPT");
                return -1;
            }
            seen |= 2u;
            if (!pr.val || !orcpt_ok(pr.val, pr.vlen)) {
                smtpd_reply(s, 501, "5.5.4 Malformed ORCPT (addr-type;xtext)");
                return -1;
            }
        } else {
            smtpd_reply(s, 555, "5.5.4 Unsupported RCPT parameter %.*s", (int)UTIL_MIN(pr.klen, 40),
                  pr.key);
            return -1;
        }
        append_param(s->params, &pr);
    }
    if (rc < 0) {
        smtpd_reply(s, 501, "5.5.4 Syntax error in RCPT parameters");
        return -1;
    }
    /* the ORCPT value in the normalised string (for the rcpt's copy) */
    const char *o = s->params;
    while (next_param(&o, &pr, true) > 0)
        if (eq_ci(pr.key, pr.klen, "ORCPT")) {
            s->pend_orcpt = pr.val;
            s->pend_orcpt_len = pr.vlen;
        }
    return 0;
}

/* rcpt_add - append the pending recipient to the transaction; 0 or -1 (no memory) */
static int rcpt_add(struct smtpgw_session *s)
{
    struct smtpgw_txn *t = &s->txn;
    if (t->n_rcpts == s->rcpt_cap) {
        size_t cap = s->rcpt_cap ? s->rcpt_cap * 2 : 8;
        if (cap > s->lim.max_rcpts)
            cap = s->lim.max_rcpts;
        struct smtpgw_rcpt *r = realloc(t->rcpts, cap * sizeof *r);
        if (!r)
            return -1;
        t->rcpts = r;
        struct mule_rcpt *m = realloc(t->mule_rcpts_, cap * sizeof *m);
        if (!m)
            return -1;
        t->mule_rcpts_ = m;
        s->rcpt_cap = cap;
    }
    struct smtpgw_rcpt *r = &t->rcpts[t->n_rcpts];
    r->addr = strdup(s->path);
    r->params = strdup(s->params);
    r->orcpt = s->pend_orcpt ? strndup(s->pend_orcpt, s->pend_orcpt_len) : NULL;
    r->notify = s->pend_notify;
    if (!r->addr || !r->params || (s->pend_orcpt && !r->orcpt)) {
        free(r->addr);
        free(r->params);
        free(r->orcpt);
        return -1;
    }
    /* the callback sees the candidate at rcpts[n_rcpts]; it counts once accepted */
    return 0;
}

/* rcpt_drop - forget the candidate at rcpts[n_rcpts] */
static void rcpt_drop(struct smtpgw_session *s)
{
    struct smtpgw_rcpt *r = &s->txn.rcpts[s->txn.n_rcpts];
    free(r->addr);
    free(r->params);
    free(r->orcpt);
    memset(r, 0, sizeof *r);
}

/* proceed_rcpt - the recipient limit, then the user's relay control */
static void proceed_rcpt(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    struct smtpgw_txn *t = &s->txn;
    for (size_t i = 0; i < t->n_rcpts; i++)
        if (strcmp(t->rcpts[i].addr, s->path) == 0) {
            smtpd_reply(s, 250, "2.1.5 Recipient ok (duplicate)");
            return;
        }
    if (t->n_rcpts >= s->lim.max_rcpts) {
        smtpd_reply(s, 452, "4.5.3 Too many recipients");
        return;
    }
    if (rcpt_add(s) < 0) {
        smtpd_reply(s, 451, "4.3.0 Out of memory");
        return;
    }
    struct smtpgw_rcpt *r = &t->rcpts[t->n_rcpts];
    if (s->cb.rcpt_check) {
        char text[256] = "";
        int code = s->cb.rcpt_check(s->user, t, r, text, sizeof text);
        if (code != 0) {
            util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "smtpd-rcpt-rejected",
                     "session=%llu peer=%s from=<%s> to=<%s> code=%d", (unsigned long long)s->id,
                     t->peer, t->mail_from, r->addr, code);
            smtpd_reply_user(s, code, text, "4.0.0 Recipient temporarily refused",
                       "5.7.1 Recipient refused");
            rcpt_drop(s);
            return;
        }
    }
    t->mule_rcpts_[t->n_rcpts].addr = r->addr;
    t->mule_rcpts_[t->n_rcpts].params = r->params;
    t->n_rcpts++;
    smtpd_session_set_state(s, SMTPGW_ST_RCPT);
    util_log(UTIL_LOG_DEBUG, UTIL_MOD_SMTPGW, "smtpd-rcpt", "session=%llu to=<%s> params=\"%s\"",
             (unsigned long long)s->id, r->addr, r->params);
    smtpd_reply(s, 250, "2.1.5 Recipient ok");
}

/* check_data - recipients first; BINARYMIME only by BDAT (RFC 3030 3) */
static int check_data(struct smtpgw_session *s, char *arg)
{
    if (*arg) {
        smtpd_reply(s, 501, "5.5.4 DATA takes no argument");
        return -1;
    }
    if (s->txn.n_rcpts == 0) {
        smtpd_reply(s, 554, "5.5.1 No valid recipients");
        return -1;
    }
    if (s->txn.body == SMTPGW_BODY_BINARYMIME) {
        smtpd_reply(s, 503, "5.5.1 BODY=BINARYMIME requires BDAT");
        return -1;
    }
    return 0;
}

/* xfer_begin - a DATA or BDAT transfer starts now (its deadline with it) */
static void xfer_begin(struct smtpgw_session *s)
{
    if (s->xfer)
        return; /* the next BDAT chunk of the same transfer */
    s->xfer = true;
    s->xfer_start = s->now;
    s->xfer_bytes = 0;
}

/* proceed_data - 354, then the text until CRLF.CRLF */
static void proceed_data(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    xfer_begin(s);
    s->in = IN_DATA;
    s->ds = DS_BOL;
    s->dline = 0;
    s->derr = DE_NONE;
    s->dbytes = 0;
    smtpd_session_set_state(s, SMTPGW_ST_DATA);
    smtpd_reply(s, 354, "End data with <CR><LF>.<CR><LF>");
}

/* check_bdat - BDAT size [LAST] (RFC 3030 2): only the syntax here; the
 * chunk is always consumed, even when it is refused */
static int check_bdat(struct smtpgw_session *s, char *arg)
{
    char *p = arg;
    uint64_t size = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        if (++digits > 19) {
            smtpd_reply(s, 501, "5.5.4 BDAT chunk size too large");
            return -1;
        }
        size = size * 10 + (uint64_t)(*p++ - '0');
    }
    if (digits == 0 || (*p && *p != ' ')) {
        smtpd_reply(s, 501, "5.5.4 Syntax: BDAT size [LAST]");
        return -1;
    }
    while (*p == ' ')
        p++;
    bool last = false;
    if (*p) {
        if (strcasecmp(p, "LAST") != 0) {
            smtpd_reply(s, 501, "5.5.4 Syntax: BDAT size [LAST]");
            return -1;
        }
        last = true;
    }
    s->chunk_size = size;
    s->chunk_last = last;
    return 0;
}

/* proceed_bdat - decide whether the chunk is kept, then read it */
static void proceed_bdat(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    struct smtpgw_txn *t = &s->txn;
    s->chunk_code = 0;
    s->chunk_msg = "";
    xfer_begin(s); /* a refused chunk is read all the same, against the same deadline */
    if (!s->esmtp) {
        s->chunk_code = 503;
        s->chunk_msg = "5.5.1 BDAT needs EHLO";
    } else if (!s->in_txn) {
        s->chunk_code = 503;
        s->chunk_msg = "5.5.1 No transaction: MAIL first";
    } else if (t->n_rcpts == 0) {
        s->chunk_code = 554;
        s->chunk_msg = "5.5.1 No valid recipients";
    } else if (s->chunk_size > s->lim.max_message - t->data.len) {
        s->chunk_code = 552;
        s->chunk_msg = "5.3.4 Message size exceeds fixed maximum message size";
    }
    if (!s->chunk_code) {
        t->chunking = true;
        smtpd_session_set_state(s, SMTPGW_ST_BDAT);
    }
    s->chunk_left = s->chunk_size;
    s->in = IN_CHUNK;
    if (s->chunk_left == 0)
        smtpd_chunk_done(s);
}

/* check_none - commands whose argument is free */
static int check_none(struct smtpgw_session *s, char *arg)
{
    (void)s;
    (void)arg;
    return 0;
}

/* check_noarg - commands that take no argument */
static int check_noarg(struct smtpgw_session *s, char *arg)
{
    if (*arg) {
        smtpd_reply(s, 501, "5.5.4 This command takes no argument");
        return -1;
    }
    return 0;
}

/* proceed_rset - abort the transaction */
static void proceed_rset(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    smtpd_txn_reset(s);
    smtpd_reply(s, 250, "2.0.0 Ok");
}

/* proceed_noop - nothing */
static void proceed_noop(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    smtpd_reply(s, 250, "2.0.0 Ok");
}

/* proceed_quit - 221 and close */
static void proceed_quit(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    s->quit = true;
    smtpd_reply(s, 221, "2.0.0 %s Bye", s->hostname);
    smtpd_session_close(s, "quit");
}

/* check_vrfy - VRFY needs an argument */
static int check_vrfy(struct smtpgw_session *s, char *arg)
{
    if (!*arg) {
        smtpd_reply(s, 501, "5.5.4 Syntax: VRFY address");
        return -1;
    }
    return 0;
}

/* proceed_vrfy - refused politely (RFC 5321 3.5.3, 7.3) */
static void proceed_vrfy(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    smtpd_reply(s, 252, "2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
}

/* proceed_expn - mailing lists are not disclosed (RFC 5321 7.3) */
static void proceed_expn(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    smtpd_reply(s, 502, "5.5.1 EXPN not available");
}

/* proceed_help - a pointer to the standard */
static void proceed_help(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    smtpd_reply(s, 214,
          "2.0.0 mulegw: see RFC 5321; commands EHLO HELO MAIL RCPT DATA BDAT RSET NOOP "
          "QUIT VRFY HELP");
}

static const struct smtp_cmd commands[] = {
    {"EHLO", ST_ANY, check_helo, proceed_ehlo},
    {"HELO", ST_ANY, check_helo, proceed_helo},
    {"MAIL", ST(HELO) | ST(MAIL) | ST(RCPT), check_mail, proceed_mail},
    {"RCPT", ST(MAIL) | ST(RCPT), check_rcpt, proceed_rcpt},
    {"DATA", ST(MAIL) | ST(RCPT), check_data, proceed_data},
    {"BDAT", ST_ANY, check_bdat, proceed_bdat},
    {"RSET", ST_ANY, check_noarg, proceed_rset},
    {"NOOP", ST_ANY, check_none, proceed_noop},
    {"QUIT", ST_ANY, check_noarg, proceed_quit},
    {"VRFY", ST_ANY, check_vrfy, proceed_vrfy},
    {"EXPN", ST_ANY, check_none, proceed_expn},
    {"HELP", ST_ANY, check_none, proceed_help},
};

/* smtpd_process_line - dispatch one command line (CRLF removed) through the table */
void smtpd_process_line(struct smtpgw_session *s, char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    line[len] = '\0';
    UTIL_TRACE(UTIL_MOD_SMTPGW, "smtpd-command", "session=%llu line=\"%.*s\"",
               (unsigned long long)s->id, (int)UTIL_MIN(len, 200), line);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 32 && c != '\t') || c == 127) {
            smtpd_log_once(s, LOGGED_CTRL, "control-character");
            smtpd_reply(s, 500, "5.5.2 Syntax error: control character in command");
            return;
        }
    }
    if (len == 0) {
        smtpd_reply(s, 500, "5.5.2 Syntax error: empty command");
        return;
    }
    size_t vlen = 0;
    while (vlen < len && line[vlen] != ' ')
        vlen++;
    char *arg = line + vlen;
    while (*arg == ' ')
        arg++;
    const struct smtp_cmd *cmd = NULL;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(commands); i++)
        if (eq_ci(line, vlen, commands[i].verb)) {
            cmd = &commands[i];
            break;
        }
    if (!cmd) {
        smtpd_reply(s, 500, "5.5.1 Command unrecognized");
        return;
    }
    if (!(cmd->states & (1u << s->state))) {
        if (s->state == SMTPGW_ST_INIT)
            smtpd_reply(s, 503, "5.5.1 Send EHLO or HELO first");
        else if (s->state == SMTPGW_ST_BDAT)
            smtpd_reply(s, 503, "5.5.1 Only BDAT, RSET, NOOP or QUIT after BDAT");
        else
            smtpd_reply(s, 503, "5.5.1 Bad sequence of commands");
        return;
    }
    if (cmd->check(s, arg) < 0)
        return;
    cmd->proceed(s, arg);
}
