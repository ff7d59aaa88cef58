/* smtp_server.c - the SMTP server engine of mulegw: one struct
 * smtpgw_session per connection, bytes in, replies out through a
 * callback, no I/O and no clock.
 *
 * Specifications:
 *   RFC 5321 (SMTP): 2.3.8 and 4.1.4 line ends, 3.1 the 554 greeting,
 *     3.3 the mail transaction, 4.1.1 commands, 4.1.2 syntax of paths and
 *     parameters, 4.2 replies, 4.4 the Received trace field, 4.5.2
 *     transparency (dot-stuffing), 4.5.3.1 size limits, 4.5.3.2 timeouts
 *   RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 3461 DSN (NOTIFY, ORCPT, RET,
 *     ENVID, xtext), RFC 6710 MT-PRIORITY, RFC 2852 DELIVERBY, RFC 3030
 *     CHUNKING (BDAT) and BINARYMIME, RFC 2920 PIPELINING, RFC 2034 and
 *     RFC 3463 enhanced status codes, RFC 6531 SMTPUTF8
 *
 * Shape (OpenSMTPD's smtp_session.c): a table of commands, each with the
 * states it is allowed in, a check (syntax, parameters; replies on error)
 * and a proceed function (the action and its reply); every state change
 * goes through session_set_state(), which logs it.
 *
 * Line ends.  Only CRLF ends a line (RFC 5321 2.3.8).  A bare LF in a
 * command line makes that line a bad command (500 5.5.2), so a client
 * using bare LF gets an answer instead of a hang and nothing it sends is
 * ever taken for a command.  In DATA a bare LF or bare CR never ends a
 * line and never takes part in the end-of-data sequence CRLF.CRLF (the
 * "SMTP smuggling" of 2023 cannot happen here); the message is read to
 * its real end and then refused with 554 5.6.0, not normalised: RFC 5321
 * 4.1.4 does not allow a client to send them, and repairing them would
 * hand the next hop a message other than the one the client sent.  BDAT
 * content is taken as it is (RFC 3030: no line structure is examined).
 *
 * Memory per session is bounded: the command line by max_cmd_line (a
 * longer line is discarded as it arrives and answered with 500 5.5.2),
 * the recipients by max_rcpts, the message by max_message (the rest of a
 * bigger message is counted, not stored, then refused with 552 5.3.4).
 *
 * Time per session is bounded too (RFC 5321 4.5.3.2 gives minimum
 * timeouts per read; a client sending one byte a second satisfies every
 * one of them forever).  Besides the idle timeout, restarted by any input,
 * two deadlines are not moved by each byte: a command line must be
 * complete within cmd_timeout of its first byte, and a DATA or BDAT
 * transfer must end by its start + data_timeout + its octets so far /
 * min_data_rate (Postfix's smtpd_timeout with smtpd_min_data_rate): a
 * fast client is never cut, a slow one is, however it paces its bytes.
 *
 * A client outside the allowed networks gets its 554 and the session ends
 * there: RFC 5321 3.1 would wait for its QUIT, but waiting is what lets it
 * hold a session (RFC 7504 closes after 521 in the same way).  The lines a
 * client can cause at notice level (and smtpd-refused) go through its
 * address's rate limiters (smtpgw_session_set_log_limits).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp-gw/smtpgw.h"

/* ---- session ------------------------------------------------------------------ */

enum in_mode {
    IN_LINE = 0, /* reading a command line */
    IN_DISCARD,  /* discarding the rest of an over-long command line */
    IN_DATA,     /* reading DATA text */
    IN_CHUNK     /* reading the octets of a BDAT chunk */
};

enum data_state {
    DS_BOL = 0, /* at the beginning of a line */
    DS_DOT,     /* "." at the beginning of a line */
    DS_DOT_CR,  /* ".\r" at the beginning of a line */
    DS_MID,     /* inside a line */
    DS_CR       /* "\r" inside a line */
};

enum data_err {
    DE_NONE = 0,
    DE_TOO_BIG,   /* more than max_message */
    DE_BARE,      /* bare CR or LF */
    DE_LONG_LINE, /* a line longer than max_text_line */
    DE_NOMEM      /* allocation failed */
};

/* What to log only once per session (CONTRIBUTING: once per peer and event). */
#define LOGGED_LONG_LINE 0x1u
#define LOGGED_BARE_LF   0x2u
#define LOGGED_CTRL      0x4u

struct smtpgw_session {
    struct smtpgw_callbacks cb;
    void *user;
    struct smtpgw_limits lim;
    char hostname[256];
    uint64_t id;
    enum smtpgw_state state;
    enum in_mode in;
    util_ms now;        /* of the call being handled */
    util_ms last_input; /* the idle timeout runs from here */
    struct util_ratelimit *log_limits;
    unsigned bad;    /* bad commands so far */
    unsigned logged; /* LOGGED_* */
    bool esmtp;      /* EHLO seen (kept across transactions) */
    bool in_txn;     /* MAIL accepted */

    /* the command line being read */
    char *line;
    size_t line_len;
    size_t line_cap;    /* max_cmd_line - 1: the content and its CR */
    bool line_started;  /* part of a command line is in: its deadline runs */
    util_ms line_start; /* when its first byte came */

    /* what MAIL / RCPT's check parsed, for its proceed */
    char path[MULE_MAX_PATH + 1];
    char *params; /* normalised parameters (single spaces), line_cap bytes */
    struct smtpgw_txn pend;
    unsigned pend_notify;
    const char *pend_orcpt; /* into params */
    size_t pend_orcpt_len;

    /* the transaction */
    struct smtpgw_txn txn;
    size_t rcpt_cap;

    /* DATA */
    enum data_state ds;
    size_t dline; /* octets of the current line on the wire */
    enum data_err derr;
    uint64_t dbytes; /* octets of message text received */

    /* the DATA or BDAT transfer in progress: its deadline */
    bool xfer;
    util_ms xfer_start;
    uint64_t xfer_bytes; /* octets of it received so far */

    /* BDAT */
    uint64_t chunk_left;
    uint64_t chunk_size;
    bool chunk_last;
    int chunk_code;        /* reply code for a chunk that is discarded, 0 if kept */
    const char *chunk_msg; /* its text */

    /* a message handed to the user that has not been answered yet
     * (SMTPGW_MESSAGE_PENDING): input that arrives meanwhile waits here */
    bool waiting;
    struct util_buf held;
    bool input_ended; /* the client's input ended (EOF) while a message waited */
    bool quit;        /* QUIT received */

    /* counters */
    uint64_t messages_accepted;
    uint64_t messages_rejected;
};

/* Input held while a message waits for its answer: what one read brings,
 * and a pipelining client's next transaction; more closes the session. */
#define HELD_MAX (256u * 1024)
#define MESSAGE_TEXT_MAX 256 /* the user's reply text for a message */

/* smtpgw_limits_default - fill in the SMTPGW_DEFAULT_* values (smtputf8 off) */
void smtpgw_limits_default(struct smtpgw_limits *lim)
{
    lim->max_cmd_line = SMTPGW_DEFAULT_MAX_CMD_LINE;
    lim->max_text_line = SMTPGW_DEFAULT_MAX_TEXT_LINE;
    lim->max_rcpts = SMTPGW_DEFAULT_MAX_RCPTS;
    lim->max_message = SMTPGW_DEFAULT_MAX_MESSAGE;
    lim->idle_timeout = SMTPGW_DEFAULT_IDLE_TIMEOUT;
    lim->max_bad_commands = SMTPGW_DEFAULT_MAX_BAD;
    lim->smtputf8 = false;
    lim->cmd_timeout = SMTPGW_DEFAULT_CMD_TIMEOUT;
    lim->data_timeout = SMTPGW_DEFAULT_DATA_TIMEOUT;
    lim->min_data_rate = SMTPGW_DEFAULT_MIN_DATA_RATE;
}

/* smtpgw_session_state_name - "init", "helo", "mail", ... */
const char *smtpgw_session_state_name(enum smtpgw_state st)
{
    switch (st) {
    case SMTPGW_ST_INIT: return "init";
    case SMTPGW_ST_HELO: return "helo";
    case SMTPGW_ST_MAIL: return "mail";
    case SMTPGW_ST_RCPT: return "rcpt";
    case SMTPGW_ST_DATA: return "data";
    case SMTPGW_ST_BDAT: return "bdat";
    case SMTPGW_ST_REFUSED: return "refused";
    case SMTPGW_ST_CLOSED: return "closed";
    }
    return "?";
}

/* session_set_state - the one place the state changes; logs the transition */
static void session_set_state(struct smtpgw_session *s, enum smtpgw_state st)
{
    if (s->state == st)
        return;
    util_log(UTIL_LOG_DEBUG, UTIL_MOD_SMTPGW, "smtpd-state", "session=%llu peer=%s from=%s to=%s",
             (unsigned long long)s->id, s->txn.peer, smtpgw_session_state_name(s->state),
             smtpgw_session_state_name(st));
    s->state = st;
}

/* log_allowed - whether a line of kind k the client caused may be logged
 * now (its address's limiter); *sup gets how many were held back before */
static bool log_allowed(struct smtpgw_session *s, enum smtpgw_log_kind k, unsigned *sup)
{
    *sup = 0;
    if (!s->log_limits)
        return true;
    return util_ratelimit_allow(&s->log_limits[k], s->now, SMTPGW_LOG_BURST, SMTPGW_LOG_WINDOW,
                                sup);
}

/* sup_text - " suppressed=N" for a rate-limited line, "" when none was held back */
static const char *sup_text(char *buf, size_t cap, unsigned n)
{
    if (n == 0)
        return "";
    snprintf(buf, cap, " suppressed=%u", n);
    return buf;
}

/* ---- replies ------------------------------------------------------------------- */

/* counts_as_bad - replies that mean the client sent something wrong */
static bool counts_as_bad(int code)
{
    return code == 500 || code == 501 || code == 503 || code == 504 || code == 555;
}

/* sanitize - replace anything but printable ASCII and UTF-8 by '?' */
static void sanitize(char *t)
{
    for (; *t; t++)
        if ((unsigned char)*t < 32 || *t == 127)
            *t = '?';
}

/* reply - send one reply line "code text" (text carries the enhanced code) */
static void reply(struct smtpgw_session *s, int code, const char *fmt, ...) UTIL_PRINTF(3, 4);
static void reply(struct smtpgw_session *s, int code, const char *fmt, ...)
{
    if (s->state == SMTPGW_ST_CLOSED)
        return;
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%03d ", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof buf - (size_t)n - 2, fmt, ap);
    va_end(ap);
    sanitize(buf);
    size_t len = strlen(buf);
    UTIL_TRACE(UTIL_MOD_SMTPGW, "smtpd-reply", "session=%llu reply=\"%s\"",
               (unsigned long long)s->id, buf);
    buf[len++] = '\r';
    buf[len++] = '\n';
    if (counts_as_bad(code))
        s->bad++;
    if (s->cb.write)
        s->cb.write(s->user, buf, len);
}

/* reply_raw - send prepared reply lines (the EHLO response) */
static void reply_raw(struct smtpgw_session *s, const char *text, size_t len)
{
    if (s->state != SMTPGW_ST_CLOSED && s->cb.write)
        s->cb.write(s->user, text, len);
}

/* session_close - the session ends: state CLOSED and the close callback, once */
static void session_close(struct smtpgw_session *s, const char *why)
{
    if (s->state == SMTPGW_ST_CLOSED)
        return;
    if (s->state != SMTPGW_ST_REFUSED) /* smtpd-refused said it */
        util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "smtpd-close",
                 "session=%llu peer=%s state=%s reason=%s", (unsigned long long)s->id, s->txn.peer,
                 smtpgw_session_state_name(s->state), why);
    session_set_state(s, SMTPGW_ST_CLOSED);
    if (s->cb.close)
        s->cb.close(s->user);
}

/* enhanced_ok - whether text starts with an enhanced status code of class cls */
static bool enhanced_ok(const char *t, int cls)
{
    if (t[0] != '0' + cls || t[1] != '.')
        return false;
    const char *p = t + 2;
    for (int part = 0; part < 2; part++) {
        int d = 0;
        while (*p >= '0' && *p <= '9' && d < 4) {
            p++;
            d++;
        }
        if (d == 0 || d > 3)
            return false;
        if (part == 0 && *p++ != '.')
            return false;
    }
    return *p == ' ' || *p == '\0';
}

/* reply_user - reply with a code and text a user callback gave (checked) */
static void reply_user(struct smtpgw_session *s, int code, char *text, const char *def4,
                       const char *def5)
{
    if (code < 400 || code > 599) {
        code = 451;
        text[0] = '\0';
    }
    int cls = code / 100;
    const char *def = cls == 4 ? def4 : def5;
    if (text[0] == '\0')
        reply(s, code, "%s", def);
    else if (enhanced_ok(text, cls))
        reply(s, code, "%s", text);
    else
        reply(s, code, "%.5s %s", def, text);
}

/* ---- the transaction --------------------------------------------------------------- */

/* txn_clear - forget the transaction (helo, peer and session id stay) */
static void txn_clear(struct smtpgw_session *s)
{
    struct smtpgw_txn *t = &s->txn;
    for (size_t i = 0; i < t->n_rcpts; i++) {
        free(t->rcpts[i].addr);
        free(t->rcpts[i].params);
        free(t->rcpts[i].orcpt);
    }
    t->n_rcpts = 0;
    free(t->mail_from);
    free(t->mail_params);
    t->mail_from = NULL;
    t->mail_params = NULL;
    t->size = 0;
    t->body = SMTPGW_BODY_NONE;
    t->ret = SMTPGW_RET_NONE;
    t->envid[0] = '\0';
    t->has_envid = false;
    t->mt_priority = 0;
    t->has_mt_priority = false;
    memset(&t->by, 0, sizeof t->by);
    t->smtputf8 = false;
    t->chunking = false;
    util_buf_free(&t->data);
    util_buf_init(&t->data, s->lim.max_message);
    s->in_txn = false;
    s->derr = DE_NONE;
    s->dbytes = 0;
    s->xfer = false;
}

/* txn_reset - end the transaction and go back to HELO (INIT before EHLO) */
static void txn_reset(struct smtpgw_session *s)
{
    txn_clear(s);
    if (s->state != SMTPGW_ST_INIT && s->state != SMTPGW_ST_REFUSED && s->state != SMTPGW_ST_CLOSED)
        session_set_state(s, SMTPGW_ST_HELO);
}

/* smtpgw_txn_envelope - a MULE envelope pointing into txn */
void smtpgw_txn_envelope(const struct smtpgw_txn *txn, struct mule_envelope *env)
{
    env->from = txn->mail_from ? txn->mail_from : "";
    env->from_params = txn->mail_params ? txn->mail_params : "";
    env->rcpts = txn->mule_rcpts_;
    env->n_rcpts = txn->n_rcpts;
    env->arena_ = NULL;
}

/* ---- session life ---------------------------------------------------------------- */

/* smtpgw_session_new - a session for a client at peer */
struct smtpgw_session *smtpgw_session_new(const struct smtpgw_session_config *cfg,
                                          const struct smtpgw_callbacks *cb, void *user,
                                          const char *peer, uint64_t id, util_ms now)
{
    struct smtpgw_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cb = *cb;
    s->user = user;
    s->lim = cfg->limits;
    if (s->lim.max_cmd_line < 64)
        s->lim.max_cmd_line = 64;
    if (s->lim.max_rcpts == 0)
        s->lim.max_rcpts = 1;
    if (s->lim.max_message == 0)
        s->lim.max_message = SMTPGW_DEFAULT_MAX_MESSAGE;
    snprintf(s->hostname, sizeof s->hostname, "%s",
             cfg->hostname && cfg->hostname[0] ? cfg->hostname : "localhost");
    sanitize(s->hostname);
    s->id = id;
    s->now = now;
    s->last_input = now;
    s->line_cap = s->lim.max_cmd_line - 1;
    s->line = malloc(s->line_cap + 1);
    s->params = malloc(s->line_cap + 1);
    if (!s->line || !s->params) {
        free(s->line);
        free(s->params);
        free(s);
        return NULL;
    }
    s->txn.session = id;
    snprintf(s->txn.peer, sizeof s->txn.peer, "%s", peer ? peer : "");
    sanitize(s->txn.peer);
    util_buf_init(&s->txn.data, s->lim.max_message);
    util_buf_init(&s->held, HELD_MAX);
    s->state = SMTPGW_ST_INIT;
    return s;
}

/* smtpgw_session_free - release a session (no callback is called) */
void smtpgw_session_free(struct smtpgw_session *s)
{
    if (!s)
        return;
    txn_clear(s);
    util_buf_free(&s->txn.data);
    util_buf_free(&s->held);
    free(s->txn.rcpts);
    free(s->txn.mule_rcpts_);
    free(s->line);
    free(s->params);
    free(s);
}

/* smtpgw_session_set_log_limits - the rate limiters of the client's address */
void smtpgw_session_set_log_limits(struct smtpgw_session *s, struct util_ratelimit *limits)
{
    s->log_limits = limits;
}

/* smtpgw_session_start - greet with 220, or with 554 5.7.1 and close when refused */
void smtpgw_session_start(struct smtpgw_session *s, util_ms now, bool refuse)
{
    s->now = now;
    s->last_input = now;
    if (refuse) {
        /* RFC 5321 3.1 allows 554 at opening; not waiting for the QUIT
         * (see the file's comment) frees the session at once */
        unsigned sup;
        char sb[32];
        if (log_allowed(s, SMTPGW_LOG_REFUSED, &sup))
            util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "smtpd-refused", "session=%llu peer=%s%s",
                     (unsigned long long)s->id, s->txn.peer, sup_text(sb, sizeof sb, sup));
        reply(s, 554, "5.7.1 %s Access denied: client not in the allowed networks", s->hostname);
        session_set_state(s, SMTPGW_ST_REFUSED);
        session_close(s, "refused");
    } else {
        util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "smtpd-connect", "session=%llu peer=%s",
                 (unsigned long long)s->id, s->txn.peer);
        reply(s, 220, "%s ESMTP mulegw", s->hostname);
    }
}

/* smtpgw_session_state - the current state */
enum smtpgw_state smtpgw_session_state(const struct smtpgw_session *s)
{
    return s->state;
}

/* smtpgw_session_memory - bytes the session holds */
size_t smtpgw_session_memory(const struct smtpgw_session *s)
{
    size_t m = sizeof *s + 2 * (s->line_cap + 1) + s->txn.data.cap + s->held.cap;
    m += s->rcpt_cap * (sizeof(struct smtpgw_rcpt) + sizeof(struct mule_rcpt));
    for (size_t i = 0; i < s->txn.n_rcpts; i++) {
        const struct smtpgw_rcpt *r = &s->txn.rcpts[i];
        m += strlen(r->addr) + 1 + strlen(r->params) + 1 + (r->orcpt ? strlen(r->orcpt) + 1 : 0);
    }
    if (s->txn.mail_from)
        m += strlen(s->txn.mail_from) + 1 + strlen(s->txn.mail_params) + 1;
    return m;
}

/* smtpgw_session_counters - messages accepted and refused so far */
void smtpgw_session_counters(const struct smtpgw_session *s, uint64_t *accepted, uint64_t *rejected)
{
    *accepted = s->messages_accepted;
    *rejected = s->messages_rejected;
}

/* The deadlines of a session (which one falls first, for the logs). */
enum deadline { DL_IDLE = 0, DL_COMMAND, DL_DATA };

/* next_deadline - the earliest of the idle, command and transfer deadlines */
static util_ms next_deadline(const struct smtpgw_session *s, enum deadline *which)
{
    util_ms at = UTIL_MS_NEVER;
    *which = DL_IDLE;
    if (s->state == SMTPGW_ST_CLOSED || s->waiting)
        return UTIL_MS_NEVER; /* not idle while we owe the client an answer */
    if (s->lim.idle_timeout)
        at = s->last_input + s->lim.idle_timeout;
    if (s->lim.cmd_timeout && s->line_started && (s->in == IN_LINE || s->in == IN_DISCARD) &&
        s->line_start + s->lim.cmd_timeout < at) {
        at = s->line_start + s->lim.cmd_timeout;
        *which = DL_COMMAND;
    }
    if (s->xfer && s->lim.min_data_rate) {
        uint64_t r = s->lim.min_data_rate, b = s->xfer_bytes;
        util_ms end = s->xfer_start + s->lim.data_timeout + b / r * 1000 + b % r * 1000 / r;
        if (end < at) {
            at = end;
            *which = DL_DATA;
        }
    }
    return at;
}

/* smtpgw_session_next_expiry - the earliest deadline */
util_ms smtpgw_session_next_expiry(const struct smtpgw_session *s)
{
    enum deadline which;
    return next_deadline(s, &which);
}

/* smtpgw_session_expire - 421 4.4.2 once a deadline has passed */
void smtpgw_session_expire(struct smtpgw_session *s, util_ms now)
{
    enum deadline which;
    if (s->state == SMTPGW_ST_CLOSED || now < next_deadline(s, &which))
        return;
    static const char *const what[] = {"idle", "command", "data"};
    static const char *const text[] = {"Idle timeout", "Command timeout", "Data transfer too slow"};
    s->now = now;
    unsigned sup;
    char sb[32];
    if (log_allowed(s, SMTPGW_LOG_TIMEOUT, &sup))
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "smtpd-timeout",
                 "session=%llu peer=%s state=%s what=%s%s", (unsigned long long)s->id, s->txn.peer,
                 smtpgw_session_state_name(s->state), what[which], sup_text(sb, sizeof sb, sup));
    reply(s, 421, "4.4.2 %s %s, closing connection", s->hostname, text[which]);
    session_close(s, "timeout");
}

/* smtpgw_session_shutdown - 421 4.3.2 and close */
void smtpgw_session_shutdown(struct smtpgw_session *s, util_ms now)
{
    if (s->state == SMTPGW_ST_CLOSED)
        return;
    s->now = now;
    reply(s, 421, "4.3.2 %s Service shutting down, closing connection", s->hostname);
    session_close(s, "shutdown");
}

/* smtpgw_session_eof - the client went away, or (while a message waits for
 * its answer) its input ended: the answer and what it sent before the end
 * are still due, and smtpgw_session_message_done judges whether it has
 * gone (no QUIT) or only half-closed after QUIT */
void smtpgw_session_eof(struct smtpgw_session *s, util_ms now)
{
    if (s->state == SMTPGW_ST_CLOSED)
        return;
    s->now = now;
    if (s->waiting) {
        if (!s->input_ended)
            util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "smtpd-disconnect",
                     "session=%llu peer=%s state=%s", (unsigned long long)s->id, s->txn.peer,
                     smtpgw_session_state_name(s->state));
        s->input_ended = true;
        return;
    }
    bool lost = s->in_txn;
    util_log(lost ? UTIL_LOG_NOTICE : UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "smtpd-disconnect",
             "session=%llu peer=%s state=%s%s", (unsigned long long)s->id, s->txn.peer,
             smtpgw_session_state_name(s->state), lost ? " transaction=dropped" : "");
    txn_clear(s);
    session_set_state(s, SMTPGW_ST_CLOSED);
}

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
        reply(s, 501, "5.5.4 Syntax: EHLO domain or address literal");
        return -1;
    }
    for (char *p = arg; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 33 || c > 126) {
            reply(s, 501, "5.5.4 Invalid domain in EHLO/HELO");
            return -1;
        }
    }
    return 0;
}

/* helo_common - what EHLO and HELO do: reset the transaction, keep the name */
static void helo_common(struct smtpgw_session *s, const char *arg, bool esmtp)
{
    txn_clear(s);
    snprintf(s->txn.helo, sizeof s->txn.helo, "%s", arg);
    s->esmtp = esmtp;
    s->txn.esmtp = esmtp;
    session_set_state(s, SMTPGW_ST_HELO);
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
        reply_raw(s, buf, (size_t)n);
}

/* proceed_helo - HELO: no extensions */
static void proceed_helo(struct smtpgw_session *s, char *arg)
{
    helo_common(s, arg, false);
    reply(s, 250, "%s Hello %s", s->hostname, s->txn.helo);
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
        reply(s, 555, "5.5.4 Unsupported MAIL parameter %.*s", (int)UTIL_MIN(pr->klen, 40),
              pr->key);
        return -1;
    }
    if (*seen & (1u << k)) {
        reply(s, 501, "5.5.4 Duplicate MAIL parameter %s", known[k]);
        return -1;
    }
    *seen |= 1u << k;
    if ((k == 6) != (pr->val == NULL)) {
        reply(s, 501, "5.5.4 Malformed MAIL parameter %s", known[k]);
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
                reply(s, 501, "5.5.4 Malformed SIZE parameter");
                return -1;
            }
            if (size > (UINT64_MAX - 9) / 10)
                over = true;
            else
                size = size * 10 + (uint64_t)(v[i] - '0');
        }
        if (over || size > s->lim.max_message) {
            reply(s, 552, "5.3.4 Message size exceeds fixed maximum message size (%zu)",
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
            reply(s, 501, "5.5.4 Unknown BODY type");
            return -1;
        }
        break;
    case 2: /* RET=FULL / HDRS (RFC 3461 4.3) */
        if (eq_ci(v, n, "FULL"))
            t->ret = SMTPGW_RET_FULL;
        else if (eq_ci(v, n, "HDRS"))
            t->ret = SMTPGW_RET_HDRS;
        else {
            reply(s, 501, "5.5.4 RET must be FULL or HDRS");
            return -1;
        }
        break;
    case 3: /* ENVID=xtext, at most 100 characters (RFC 3461 4.4) */
        if (!xtext_ok(v, n, SMTPGW_MAX_ENVID, t->envid, sizeof t->envid)) {
            reply(s, 501, "5.5.4 Malformed ENVID (xtext, at most 100 characters)");
            return -1;
        }
        t->has_envid = true;
        break;
    case 4: { /* MT-PRIORITY=-9..9 (RFC 6710 3), mule's parser */
        char one[32];
        snprintf(one, sizeof one, "MT-PRIORITY=%.*s", (int)UTIL_MIN(n, 8), v);
        if (n > 8 || mule_mt_priority(one, &t->mt_priority) < 0) {
            reply(s, 501, "5.5.4 MT-PRIORITY must be an integer from -9 to 9");
            return -1;
        }
        t->has_mt_priority = true;
        break;
    }
    case 5: { /* BY=time;R|N[T] (RFC 2852 4), mule's parser */
        char one[48];
        snprintf(one, sizeof one, "BY=%.*s", (int)UTIL_MIN(n, 24), v);
        if (n > 24 || mule_deliverby_parse(one, &t->by) < 0) {
            reply(s, 501, "5.5.4 Malformed BY parameter (RFC 2852)");
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
        reply(s, 503, "5.5.1 Nested MAIL command");
        return -1;
    }
    if (!prefix_ci(arg, "FROM:")) {
        reply(s, 501, "5.5.4 Syntax: MAIL FROM:<address>");
        return -1;
    }
    const char *p = arg + 5;
    while (*p == ' ')
        p++;
    p = parse_path(p, s->path, sizeof s->path);
    if (!p || (*p && *p != ' ') || !mule_address_valid(s->path, true)) {
        reply(s, 501, "5.1.7 Bad sender address syntax");
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
            reply(s, 555, "5.5.4 MAIL parameters need EHLO");
            return -1;
        }
        if (mail_param(s, &pr, &seen) < 0)
            return -1;
        append_param(s->params, &pr);
    }
    if (rc < 0) {
        reply(s, 501, "5.5.4 Syntax error in MAIL parameters");
        return -1;
    }
    if (has_8bit(s->path) && !s->pend.smtputf8) {
        reply(s, 553, "5.6.7 Non-ASCII address needs SMTPUTF8");
        return -1;
    }
    return 0;
}

/* proceed_mail - start the transaction, after the user's mail_check */
static void proceed_mail(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    struct smtpgw_txn *t = &s->txn;
    txn_clear(s);
    t->mail_from = strdup(s->path);
    t->mail_params = strdup(s->params);
    if (!t->mail_from || !t->mail_params) {
        txn_clear(s);
        reply(s, 451, "4.3.0 Out of memory");
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
            reply_user(s, code, text, "4.0.0 Sender temporarily refused", "5.7.1 Sender refused");
            txn_clear(s);
            return;
        }
    }
    s->in_txn = true;
    session_set_state(s, SMTPGW_ST_MAIL);
    util_log(UTIL_LOG_DEBUG, UTIL_MOD_SMTPGW, "smtpd-mail", "session=%llu from=<%s> params=\"%s\"",
             (unsigned long long)s->id, t->mail_from, t->mail_params);
    reply(s, 250, "2.1.0 Sender ok");
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
        reply(s, 501, "5.5.4 Syntax: RCPT TO:<address>");
        return -1;
    }
    const char *p = arg + 3;
    while (*p == ' ')
        p++;
    p = parse_path(p, s->path, sizeof s->path);
    if (!p || (*p && *p != ' ') || !mule_address_valid(s->path, false)) {
        reply(s, 501, "5.1.3 Bad recipient address syntax");
        return -1;
    }
    if (has_8bit(s->path) && !s->txn.smtputf8) {
        reply(s, 553, "5.6.7 Non-ASCII address needs SMTPUTF8");
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
            reply(s, 555, "5.5.4 RCPT parameters need EHLO");
            return -1;
        }
        if (eq_ci(pr.key, pr.klen, "NOTIFY")) {
            if (seen & 1u) {
                reply(s, 501, "5.5.4 Duplicate RCPT parameter NOTIFY");
                return -1;
            }
            seen |= 1u;
            s->pend_notify = pr.val ? notify_parse(pr.val, pr.vlen) : 0;
            if (!s->pend_notify) {
                reply(s, 501, "5.5.4 NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY");
                return -1;
            }
        } else if (eq_ci(pr.key, pr.klen, "ORCPT")) {
            if (seen & 2u) {
                reply(s, 501, "5.5.4 Duplicate RCPT parameter ORCPT");
                return -1;
            }
            seen |= 2u;
            if (!pr.val || !orcpt_ok(pr.val, pr.vlen)) {
                reply(s, 501, "5.5.4 Malformed ORCPT (addr-type;xtext)");
                return -1;
            }
        } else {
            reply(s, 555, "5.5.4 Unsupported RCPT parameter %.*s", (int)UTIL_MIN(pr.klen, 40),
                  pr.key);
            return -1;
        }
        append_param(s->params, &pr);
    }
    if (rc < 0) {
        reply(s, 501, "5.5.4 Syntax error in RCPT parameters");
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
            reply(s, 250, "2.1.5 Recipient ok (duplicate)");
            return;
        }
    if (t->n_rcpts >= s->lim.max_rcpts) {
        reply(s, 452, "4.5.3 Too many recipients");
        return;
    }
    if (rcpt_add(s) < 0) {
        reply(s, 451, "4.3.0 Out of memory");
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
            reply_user(s, code, text, "4.0.0 Recipient temporarily refused",
                       "5.7.1 Recipient refused");
            rcpt_drop(s);
            return;
        }
    }
    t->mule_rcpts_[t->n_rcpts].addr = r->addr;
    t->mule_rcpts_[t->n_rcpts].params = r->params;
    t->n_rcpts++;
    session_set_state(s, SMTPGW_ST_RCPT);
    util_log(UTIL_LOG_DEBUG, UTIL_MOD_SMTPGW, "smtpd-rcpt", "session=%llu to=<%s> params=\"%s\"",
             (unsigned long long)s->id, r->addr, r->params);
    reply(s, 250, "2.1.5 Recipient ok");
}

/* check_data - recipients first; BINARYMIME only by BDAT (RFC 3030 3) */
static int check_data(struct smtpgw_session *s, char *arg)
{
    if (*arg) {
        reply(s, 501, "5.5.4 DATA takes no argument");
        return -1;
    }
    if (s->txn.n_rcpts == 0) {
        reply(s, 554, "5.5.1 No valid recipients");
        return -1;
    }
    if (s->txn.body == SMTPGW_BODY_BINARYMIME) {
        reply(s, 503, "5.5.1 BODY=BINARYMIME requires BDAT");
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
    session_set_state(s, SMTPGW_ST_DATA);
    reply(s, 354, "End data with <CR><LF>.<CR><LF>");
}

static void message_reply(struct smtpgw_session *s, int code, char *qid, char *text);

/* finish_message - end of DATA or BDAT LAST: refuse or hand to the user */
static void finish_message(struct smtpgw_session *s)
{
    struct smtpgw_txn *t = &s->txn;
    s->xfer = false;
    if (s->derr != DE_NONE) {
        const char *why = "";
        switch (s->derr) {
        case DE_TOO_BIG:
            why = "too-big";
            reply(s, 552, "5.3.4 Message size exceeds fixed maximum message size (%zu)",
                  s->lim.max_message);
            break;
        case DE_BARE:
            why = "bare-cr-lf";
            reply(s, 554, "5.6.0 Message contains a bare CR or LF (RFC 5321 2.3.8)");
            break;
        case DE_LONG_LINE:
            why = "long-line";
            reply(s, 554, "5.6.0 Message contains a line longer than %zu octets",
                  s->lim.max_text_line);
            break;
        default:
            why = "no-memory";
            reply(s, 451, "4.3.0 Out of memory");
            break;
        }
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "smtpd-message-rejected",
                 "session=%llu peer=%s from=<%s> rcpts=%zu size=%llu reason=%s",
                 (unsigned long long)s->id, t->peer, t->mail_from, t->n_rcpts,
                 (unsigned long long)s->dbytes, why);
        s->messages_rejected++;
        txn_reset(s);
        return;
    }
    char qid[SMTPGW_MAX_QUEUE_ID] = "";
    char text[MESSAGE_TEXT_MAX] = "";
    int code = s->cb.message ? s->cb.message(s->user, t, qid, sizeof qid, text, sizeof text) : 451;
    if (code == SMTPGW_MESSAGE_PENDING) {
        s->waiting = true; /* smtpgw_session_message_done answers */
        return;
    }
    message_reply(s, code, qid, text);
}

/* message_reply - the answer to a complete message: 250 with the queue id,
 * or the user's refusal; the transaction ends */
static void message_reply(struct smtpgw_session *s, int code, char *qid, char *text)
{
    struct smtpgw_txn *t = &s->txn;
    if (code == 0) {
        qid[SMTPGW_MAX_QUEUE_ID - 1] = '\0';
        sanitize(qid);
        util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "smtpd-queued",
                 "session=%llu peer=%s qid=%s from=<%s> rcpts=%zu size=%zu body=%s",
                 (unsigned long long)s->id, t->peer, qid, t->mail_from, t->n_rcpts, t->data.len,
                 t->chunking ? "bdat" : "data");
        s->messages_accepted++;
        reply(s, 250, "2.0.0 Ok: queued as %s", qid);
    } else {
        if (code < 0) {
            code = 451;
            text[0] = '\0';
        }
        text[MESSAGE_TEXT_MAX - 1] = '\0';
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "smtpd-message-rejected",
                 "session=%llu peer=%s from=<%s> rcpts=%zu size=%zu code=%d",
                 (unsigned long long)s->id, t->peer, t->mail_from, t->n_rcpts, t->data.len, code);
        s->messages_rejected++;
        reply_user(s, code, text, "4.3.0 Message not queued, try again later",
                   "5.3.0 Message refused");
    }
    txn_reset(s);
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
            reply(s, 501, "5.5.4 BDAT chunk size too large");
            return -1;
        }
        size = size * 10 + (uint64_t)(*p++ - '0');
    }
    if (digits == 0 || (*p && *p != ' ')) {
        reply(s, 501, "5.5.4 Syntax: BDAT size [LAST]");
        return -1;
    }
    while (*p == ' ')
        p++;
    bool last = false;
    if (*p) {
        if (strcasecmp(p, "LAST") != 0) {
            reply(s, 501, "5.5.4 Syntax: BDAT size [LAST]");
            return -1;
        }
        last = true;
    }
    s->chunk_size = size;
    s->chunk_last = last;
    return 0;
}

/* chunk_done - the whole chunk is in: reply, or finish the message */
static void chunk_done(struct smtpgw_session *s)
{
    s->in = IN_LINE;
    if (s->chunk_code || s->chunk_last)
        s->xfer = false;
    if (s->chunk_code) {
        reply(s, s->chunk_code, "%s", s->chunk_msg);
        if (s->chunk_code == 552)
            s->messages_rejected++;
        if (s->in_txn) {
            util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "smtpd-message-rejected",
                     "session=%llu peer=%s from=<%s> code=%d reason=bdat",
                     (unsigned long long)s->id, s->txn.peer, s->txn.mail_from, s->chunk_code);
            txn_reset(s);
        }
        return;
    }
    if (s->chunk_last) {
        finish_message(s);
        return;
    }
    session_set_state(s, SMTPGW_ST_BDAT);
    reply(s, 250, "2.0.0 %llu octets received", (unsigned long long)s->chunk_size);
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
        session_set_state(s, SMTPGW_ST_BDAT);
    }
    s->chunk_left = s->chunk_size;
    s->in = IN_CHUNK;
    if (s->chunk_left == 0)
        chunk_done(s);
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
        reply(s, 501, "5.5.4 This command takes no argument");
        return -1;
    }
    return 0;
}

/* proceed_rset - abort the transaction */
static void proceed_rset(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    txn_reset(s);
    reply(s, 250, "2.0.0 Ok");
}

/* proceed_noop - nothing */
static void proceed_noop(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    reply(s, 250, "2.0.0 Ok");
}

/* proceed_quit - 221 and close */
static void proceed_quit(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    s->quit = true;
    reply(s, 221, "2.0.0 %s Bye", s->hostname);
    session_close(s, "quit");
}

/* check_vrfy - VRFY needs an argument */
static int check_vrfy(struct smtpgw_session *s, char *arg)
{
    if (!*arg) {
        reply(s, 501, "5.5.4 Syntax: VRFY address");
        return -1;
    }
    return 0;
}

/* proceed_vrfy - refused politely (RFC 5321 3.5.3, 7.3) */
static void proceed_vrfy(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    reply(s, 252, "2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
}

/* proceed_expn - mailing lists are not disclosed (RFC 5321 7.3) */
static void proceed_expn(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    reply(s, 502, "5.5.1 EXPN not available");
}

/* proceed_help - a pointer to the standard */
static void proceed_help(struct smtpgw_session *s, char *arg)
{
    (void)arg;
    reply(s, 214,
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

/* check_errors - too many bad commands: 421 and close */
static void check_errors(struct smtpgw_session *s)
{
    if (s->state == SMTPGW_ST_CLOSED || s->lim.max_bad_commands == 0 ||
        s->bad < s->lim.max_bad_commands)
        return;
    unsigned sup;
    char sb[32];
    if (log_allowed(s, SMTPGW_LOG_ERRORS, &sup))
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "smtpd-too-many-errors",
                 "session=%llu peer=%s errors=%u%s", (unsigned long long)s->id, s->txn.peer, s->bad,
                 sup_text(sb, sizeof sb, sup));
    reply(s, 421, "4.7.0 %s Too many errors, closing connection", s->hostname);
    session_close(s, "errors");
}

/* log_once - a bad-input event, logged once per session (and rate-limited per client) */
static void log_once(struct smtpgw_session *s, unsigned bit, const char *what)
{
    if (s->logged & bit)
        return;
    s->logged |= bit;
    unsigned sup;
    char sb[32];
    if (log_allowed(s, SMTPGW_LOG_BAD_INPUT, &sup))
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "smtpd-bad-input",
                 "session=%llu peer=%s what=%s%s", (unsigned long long)s->id, s->txn.peer, what,
                 sup_text(sb, sizeof sb, sup));
}

/* process_line - dispatch one command line (CRLF removed) through the table */
static void process_line(struct smtpgw_session *s, char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    line[len] = '\0';
    UTIL_TRACE(UTIL_MOD_SMTPGW, "smtpd-command", "session=%llu line=\"%.*s\"",
               (unsigned long long)s->id, (int)UTIL_MIN(len, 200), line);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 32 && c != '\t') || c == 127) {
            log_once(s, LOGGED_CTRL, "control-character");
            reply(s, 500, "5.5.2 Syntax error: control character in command");
            return;
        }
    }
    if (len == 0) {
        reply(s, 500, "5.5.2 Syntax error: empty command");
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
        reply(s, 500, "5.5.1 Command unrecognized");
        return;
    }
    if (!(cmd->states & (1u << s->state))) {
        if (s->state == SMTPGW_ST_INIT)
            reply(s, 503, "5.5.1 Send EHLO or HELO first");
        else if (s->state == SMTPGW_ST_BDAT)
            reply(s, 503, "5.5.1 Only BDAT, RSET, NOOP or QUIT after BDAT");
        else
            reply(s, 503, "5.5.1 Bad sequence of commands");
        return;
    }
    if (cmd->check(s, arg) < 0)
        return;
    cmd->proceed(s, arg);
}

/* ---- input ------------------------------------------------------------------------------- */

/* feed_line - command mode: collect up to CRLF; bytes used.  The first
 * byte of a line starts its deadline (cmd_timeout) */
static size_t feed_line(struct smtpgw_session *s, const uint8_t *p, size_t n)
{
    const uint8_t *lf = memchr(p, '\n', n);
    size_t take = lf ? (size_t)(lf - p) : n;
    if (!s->line_started) {
        s->line_started = true;
        s->line_start = s->now;
    }
    if (s->line_len + take > s->line_cap) {
        /* over-long: forget it and discard until the line ends */
        log_once(s, LOGGED_LONG_LINE, "long-line");
        s->line_len = 0;
        s->in = IN_DISCARD;
        return 0;
    }
    memcpy(s->line + s->line_len, p, take);
    s->line_len += take;
    if (!lf)
        return n;
    s->line_started = false;
    size_t len = s->line_len;
    s->line_len = 0;
    if (len == 0 || s->line[len - 1] != '\r') {
        log_once(s, LOGGED_BARE_LF, "bare-lf");
        reply(s, 500, "5.5.2 Syntax error: bare LF, lines end with CRLF (RFC 5321 2.3.8)");
    } else {
        process_line(s, s->line, len - 1);
    }
    check_errors(s);
    return take + 1;
}

/* feed_discard - the rest of an over-long line: up to and including LF */
static size_t feed_discard(struct smtpgw_session *s, const uint8_t *p, size_t n)
{
    const uint8_t *lf = memchr(p, '\n', n);
    if (!lf)
        return n;
    s->in = IN_LINE;
    s->line_started = false;
    reply(s, 500, "5.5.2 Line too long (at most %zu octets)", s->lim.max_cmd_line);
    check_errors(s);
    return (size_t)(lf - p) + 1;
}

/* data_fail - record the first problem with the message and stop storing it */
static void data_fail(struct smtpgw_session *s, enum data_err e)
{
    if (s->derr != DE_NONE)
        return;
    s->derr = e;
    util_buf_free(&s->txn.data);
    util_buf_init(&s->txn.data, s->lim.max_message);
    if (e == DE_BARE)
        log_once(s, LOGGED_BARE_LF, "bare-cr-lf-in-data");
    else if (e == DE_LONG_LINE)
        log_once(s, LOGGED_LONG_LINE, "long-line-in-data");
}

/* data_put - store message octets (within max_message) */
static void data_put(struct smtpgw_session *s, const void *p, size_t n)
{
    s->dbytes += n;
    if (s->derr != DE_NONE)
        return;
    if (n > s->lim.max_message - s->txn.data.len) {
        data_fail(s, DE_TOO_BIG);
        return;
    }
    if (util_buf_append(&s->txn.data, p, n) < 0)
        data_fail(s, DE_NOMEM);
}

/* data_line_len - count octets of the current line; too long marks the message */
static void data_line_len(struct smtpgw_session *s, size_t n)
{
    s->dline += n;
    if (s->lim.max_text_line && s->dline + 2 > s->lim.max_text_line)
        data_fail(s, DE_LONG_LINE);
}

/* feed_data - DATA mode: unstuff, find CRLF.CRLF; bytes used */
static size_t feed_data(struct smtpgw_session *s, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        switch (s->ds) {
        case DS_BOL:
            s->dline = 0;
            if (c == '.') {
                s->ds = DS_DOT;
                i++;
            } else {
                s->ds = DS_MID;
            }
            break;
        case DS_DOT:
            if (c == '\r') {
                s->ds = DS_DOT_CR;
                i++;
            } else {
                data_line_len(s, 1); /* the stuffed dot is dropped (RFC 5321 4.5.2) */
                s->ds = DS_MID;
            }
            break;
        case DS_DOT_CR:
            if (c == '\n') {
                s->in = IN_LINE;
                finish_message(s);
                return i + 1;
            }
            data_line_len(s, 2);
            data_fail(s, DE_BARE); /* ".\r" then not LF: a bare CR */
            s->ds = DS_MID;
            break;
        case DS_MID: {
            size_t j = i;
            while (j < n && p[j] != '\r' && p[j] != '\n')
                j++;
            if (j > i) {
                data_line_len(s, j - i);
                data_put(s, p + i, j - i);
                i = j;
            } else if (c == '\r') {
                s->ds = DS_CR;
                i++;
            } else { /* a bare LF ends nothing */
                data_fail(s, DE_BARE);
                data_line_len(s, 1);
                s->dbytes++;
                i++;
            }
            break;
        }
        case DS_CR:
            if (c == '\n') {
                data_put(s, "\r\n", 2);
                s->ds = DS_BOL;
                i++;
            } else {
                data_fail(s, DE_BARE);
                data_line_len(s, 1);
                s->dbytes++;
                s->ds = DS_MID; /* c again, inside the line */
            }
            break;
        }
    }
    return n;
}

/* feed_chunk - BDAT mode: count the chunk's octets, keep them if wanted */
static size_t feed_chunk(struct smtpgw_session *s, const uint8_t *p, size_t n)
{
    size_t m = s->chunk_left < n ? (size_t)s->chunk_left : n;
    if (!s->chunk_code && util_buf_append(&s->txn.data, p, m) < 0) {
        s->chunk_code = 451;
        s->chunk_msg = "4.3.0 Out of memory";
    }
    s->chunk_left -= m;
    if (s->chunk_left == 0) {
        chunk_done(s);
        check_errors(s);
    }
    return m;
}

/* hold_input - keep input that arrives while a message waits for its
 * answer; beyond HELD_MAX: 421 and close.  0 or SMTPGW_ERR_CLOSED */
static int hold_input(struct smtpgw_session *s, const uint8_t *p, size_t n)
{
    if (util_buf_append(&s->held, p, n) == 0)
        return 0;
    unsigned sup;
    char sb[32];
    if (log_allowed(s, SMTPGW_LOG_ERRORS, &sup))
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "smtpd-overflow",
                 "session=%llu peer=%s held=%zu%s", (unsigned long long)s->id, s->txn.peer,
                 s->held.len, sup_text(sb, sizeof sb, sup));
    reply(s, 421, "4.7.0 %s Too much pipelined input, closing connection", s->hostname);
    session_close(s, "overflow");
    return SMTPGW_ERR_CLOSED;
}

/* smtpgw_session_input - consume bytes from the client, in any split */
int smtpgw_session_input(struct smtpgw_session *s, util_ms now, const void *bytes, size_t len)
{
    if (s->state == SMTPGW_ST_CLOSED)
        return SMTPGW_ERR_CLOSED;
    s->now = now;
    s->last_input = now;
    const uint8_t *p = bytes;
    size_t off = 0;
    if (s->waiting || s->held.len) /* after what waits for its answer, in order */
        return hold_input(s, p, len);
    while (off < len && s->state != SMTPGW_ST_CLOSED) {
        if (s->waiting) {
            hold_input(s, p + off, len - off);
            break;
        }
        switch (s->in) {
        case IN_LINE: off += feed_line(s, p + off, len - off); break;
        case IN_DISCARD: off += feed_discard(s, p + off, len - off); break;
        case IN_DATA:
        case IN_CHUNK: {
            size_t k = s->in == IN_DATA ? feed_data(s, p + off, len - off)
                                        : feed_chunk(s, p + off, len - off);
            s->xfer_bytes += k; /* the transfer's deadline moves by what came, not by when */
            off += k;
            break;
        }
        }
    }
    return s->state == SMTPGW_ST_CLOSED ? SMTPGW_ERR_CLOSED : 0;
}

/* smtpgw_session_id - the id given at creation */
uint64_t smtpgw_session_id(const struct smtpgw_session *s)
{
    return s->id;
}

/* smtpgw_session_waiting - whether a message waits for its answer (the
 * glue stops reading meanwhile) */
bool smtpgw_session_waiting(const struct smtpgw_session *s)
{
    return s->waiting;
}

/* smtpgw_session_message_done - the answer to the message that returned
 * SMTPGW_MESSAGE_PENDING: code 0 (queued as queue_id) or a reply code with
 * text; then the input held meanwhile is processed.
 *
 * The result says whether the client was there for its answer, not how
 * the session goes on: a QUIT pipelined behind the final dot (Postfix's
 * SMTP client sends it in the same segment) is held until now, answered
 * 221 after the 250 and ends the session, and that is a success (0).
 * SMTPGW_ERR_CLOSED only when the client has gone: the session ended
 * before the answer (its input ended outside a message, an overflow, a
 * shutdown), or its input ended while the message waited and nothing it
 * sent before the end was a QUIT.  With more held behind a pipelined next
 * message that waits in turn, that is judged when that one is answered. */
int smtpgw_session_message_done(struct smtpgw_session *s, util_ms now, int code,
                                const char *queue_id, const char *text)
{
    if (!s->waiting)
        return UTIL_ERR_INVAL;
    s->waiting = false;
    s->now = now;
    if (s->state == SMTPGW_ST_CLOSED)
        return SMTPGW_ERR_CLOSED;
    char qid[SMTPGW_MAX_QUEUE_ID], t[MESSAGE_TEXT_MAX];
    snprintf(qid, sizeof qid, "%s", queue_id ? queue_id : "");
    snprintf(t, sizeof t, "%s", text ? text : "");
    message_reply(s, code, qid, t);
    s->last_input = now;
    if (s->held.len > 0) {
        struct util_buf held = s->held; /* fed again: what still cannot be taken is held anew */
        util_buf_init(&s->held, HELD_MAX);
        smtpgw_session_input(s, now, held.data, held.len); /* may end the session: QUIT */
        util_buf_free(&held);
    }
    if (!s->input_ended || s->quit || s->held.len > 0)
        return 0;
    /* the client's input ended with no QUIT in it: it has gone */
    if (!s->waiting && s->state != SMTPGW_ST_CLOSED) {
        txn_clear(s);
        session_set_state(s, SMTPGW_ST_CLOSED);
    }
    return SMTPGW_ERR_CLOSED;
}

/* ---- trace and relay control ------------------------------------------------------------- */

/* smtpgw_txn_received - append the Received: trace field for txn */
int smtpgw_txn_received(const struct smtpgw_txn *txn, const char *hostname, const char *queue_id,
                        int64_t now, struct util_buf *out)
{
    char date[MULE_DATE_STRLEN];
    mule_date_format(now, date, sizeof date);
    const char *proto = txn->smtputf8 ? "UTF8SMTP" : txn->esmtp ? "ESMTP" : "SMTP";
    bool v6 = strchr(txn->peer, ':') != NULL;
    int rc = util_buf_printf(out, "Received: from %s ([%s%s])\r\n\tby %s (mulegw) with %s",
                             txn->helo[0] ? txn->helo : "unknown", v6 ? "IPv6:" : "", txn->peer,
                             hostname && hostname[0] ? hostname : "localhost", proto);
    if (rc == 0 && queue_id && queue_id[0])
        rc = util_buf_printf(out, " id %s", queue_id);
    if (rc == 0 && txn->n_rcpts == 1)
        rc = util_buf_printf(out, "\r\n\tfor <%s>", txn->rcpts[0].addr);
    if (rc == 0)
        rc = util_buf_printf(out, ";\r\n\t%s\r\n", date);
    return rc;
}

/* smtpgw_relay_check - relay control by the routes (a ready rcpt_check) */
int smtpgw_relay_check(const struct mule_routes *routes, const char *addr, char *text, size_t cap)
{
    const char *domain = mule_address_domain(addr);
    if (!domain[0] || !mule_route_lookup(routes, domain)) {
        snprintf(text, cap, "5.7.1 Relaying denied: recipient domain is not routed over HF");
        return 550;
    }
    if (mule_domain_is_local(routes, domain)) {
        snprintf(text, cap, "5.1.2 Recipient domain is local, not routed over HF");
        return 550;
    }
    return 0;
}
