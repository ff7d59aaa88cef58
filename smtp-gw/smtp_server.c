/* smtp_server.c - the SMTP server engine of mulegw: one struct
 * smtpgw_session per connection, bytes in, replies out through a
 * callback, no I/O and no clock.  This file has the session's life, its
 * replies and deadlines, the input (command lines, DATA text, BDAT
 * octets) and the end of a message; smtp_server_cmd.c takes each complete
 * command line (the commands), smtp_server_priv.h has what both share.
 *
 * Specifications:
 *   RFC 5321 (SMTP): 2.3.8 and 4.1.4 line ends, 3.1 the 554 greeting,
 *     3.3 the mail transaction, 4.2 replies, 4.4 the Received trace
 *     field, 4.5.2 transparency (dot-stuffing), 4.5.3.1 size limits,
 *     4.5.3.2 timeouts
 *   RFC 3030 CHUNKING (BDAT octets, the end of a chunk), RFC 2920
 *     PIPELINING (input held while a message waits for its answer),
 *     RFC 2034 and RFC 3463 enhanced status codes
 *
 * Shape (OpenSMTPD's smtp_session.c): a table of commands, each with the
 * states it is allowed in, a check (syntax, parameters; replies on error)
 * and a proceed function (the action and its reply), in smtp_server_cmd.c;
 * every state change goes through smtpd_session_set_state(), which logs it.
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

#include "smtp-gw/smtp_server_priv.h"

/* ---- session ------------------------------------------------------------------ */

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

/* smtpd_session_set_state - the one place the state changes; logs the transition */
void smtpd_session_set_state(struct smtpgw_session *s, enum smtpgw_state st)
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

/* smtpd_reply - send one reply line "code text" (text carries the enhanced code) */
void smtpd_reply(struct smtpgw_session *s, int code, const char *fmt, ...)
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

/* smtpd_reply_raw - send prepared reply lines (the EHLO response) */
void smtpd_reply_raw(struct smtpgw_session *s, const char *text, size_t len)
{
    if (s->state != SMTPGW_ST_CLOSED && s->cb.write)
        s->cb.write(s->user, text, len);
}

/* smtpd_session_close - the session ends: state CLOSED and the close callback, once */
void smtpd_session_close(struct smtpgw_session *s, const char *why)
{
    if (s->state == SMTPGW_ST_CLOSED)
        return;
    if (s->state != SMTPGW_ST_REFUSED) /* smtpd-refused said it */
        util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "smtpd-close",
                 "session=%llu peer=%s state=%s reason=%s", (unsigned long long)s->id, s->txn.peer,
                 smtpgw_session_state_name(s->state), why);
    smtpd_session_set_state(s, SMTPGW_ST_CLOSED);
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

/* smtpd_reply_user - reply with a code and text a user callback gave (checked) */
void smtpd_reply_user(struct smtpgw_session *s, int code, char *text, const char *def4, const char *def5)
{
    if (code < 400 || code > 599) {
        code = 451;
        text[0] = '\0';
    }
    int cls = code / 100;
    const char *def = cls == 4 ? def4 : def5;
    if (text[0] == '\0')
        smtpd_reply(s, code, "%s", def);
    else if (enhanced_ok(text, cls))
        smtpd_reply(s, code, "%s", text);
    else
        smtpd_reply(s, code, "%.5s %s", def, text);
}

/* ---- the transaction --------------------------------------------------------------- */

/* smtpd_txn_clear - forget the transaction (helo, peer and session id stay) */
void smtpd_txn_clear(struct smtpgw_session *s)
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

/* smtpd_txn_reset - end the transaction and go back to HELO (INIT before EHLO) */
void smtpd_txn_reset(struct smtpgw_session *s)
{
    smtpd_txn_clear(s);
    if (s->state != SMTPGW_ST_INIT && s->state != SMTPGW_ST_REFUSED && s->state != SMTPGW_ST_CLOSED)
        smtpd_session_set_state(s, SMTPGW_ST_HELO);
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
    smtpd_txn_clear(s);
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
        smtpd_reply(s, 554, "5.7.1 %s Access denied: client not in the allowed networks", s->hostname);
        smtpd_session_set_state(s, SMTPGW_ST_REFUSED);
        smtpd_session_close(s, "refused");
    } else {
        util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "smtpd-connect", "session=%llu peer=%s",
                 (unsigned long long)s->id, s->txn.peer);
        smtpd_reply(s, 220, "%s ESMTP mulegw", s->hostname);
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
    smtpd_reply(s, 421, "4.4.2 %s %s, closing connection", s->hostname, text[which]);
    smtpd_session_close(s, "timeout");
}

/* smtpgw_session_shutdown - 421 4.3.2 and close */
void smtpgw_session_shutdown(struct smtpgw_session *s, util_ms now)
{
    if (s->state == SMTPGW_ST_CLOSED)
        return;
    s->now = now;
    smtpd_reply(s, 421, "4.3.2 %s Service shutting down, closing connection", s->hostname);
    smtpd_session_close(s, "shutdown");
}

/* smtpgw_session_stalled_since - since when it has waited for a command:
 * the first byte of a partial line, else its last input */
util_ms smtpgw_session_stalled_since(const struct smtpgw_session *s)
{
    switch (s->state) {
    case SMTPGW_ST_INIT:
    case SMTPGW_ST_HELO:
    case SMTPGW_ST_MAIL:
    case SMTPGW_ST_RCPT: break;
    default: return UTIL_MS_NEVER; /* a transfer (its own deadline), refused or closed */
    }
    if (s->waiting || s->xfer)
        return UTIL_MS_NEVER; /* we owe it an answer */
    if (s->line_started && s->line_start < s->last_input)
        return s->line_start;
    return s->last_input;
}

/* smtpgw_session_busy_close - 421 4.7.0: its slot goes to a new client */
void smtpgw_session_busy_close(struct smtpgw_session *s, util_ms now)
{
    if (s->state == SMTPGW_ST_CLOSED)
        return;
    s->now = now;
    smtpd_reply(s, 421, "4.7.0 %s Too busy: closing the session that waited longest, try again later",
          s->hostname);
    smtpd_session_close(s, "busy");
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
    smtpd_txn_clear(s);
    smtpd_session_set_state(s, SMTPGW_ST_CLOSED);
}

/* ---- the end of a message ----------------------------------------------------------- */

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
            smtpd_reply(s, 552, "5.3.4 Message size exceeds fixed maximum message size (%zu)",
                  s->lim.max_message);
            break;
        case DE_BARE:
            why = "bare-cr-lf";
            smtpd_reply(s, 554, "5.6.0 Message contains a bare CR or LF (RFC 5321 2.3.8)");
            break;
        case DE_LONG_LINE:
            why = "long-line";
            smtpd_reply(s, 554, "5.6.0 Message contains a line longer than %zu octets",
                  s->lim.max_text_line);
            break;
        default:
            why = "no-memory";
            smtpd_reply(s, 451, "4.3.0 Out of memory");
            break;
        }
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "smtpd-message-rejected",
                 "session=%llu peer=%s from=<%s> rcpts=%zu size=%llu reason=%s",
                 (unsigned long long)s->id, t->peer, t->mail_from, t->n_rcpts,
                 (unsigned long long)s->dbytes, why);
        s->messages_rejected++;
        smtpd_txn_reset(s);
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
        smtpd_reply(s, 250, "2.0.0 Ok: queued as %s", qid);
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
        smtpd_reply_user(s, code, text, "4.3.0 Message not queued, try again later",
                   "5.3.0 Message refused");
    }
    smtpd_txn_reset(s);
}

/* smtpd_chunk_done - the whole chunk is in: reply, or finish the message */
void smtpd_chunk_done(struct smtpgw_session *s)
{
    s->in = IN_LINE;
    if (s->chunk_code || s->chunk_last)
        s->xfer = false;
    if (s->chunk_code) {
        smtpd_reply(s, s->chunk_code, "%s", s->chunk_msg);
        if (s->chunk_code == 552)
            s->messages_rejected++;
        if (s->in_txn) {
            util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "smtpd-message-rejected",
                     "session=%llu peer=%s from=<%s> code=%d reason=bdat",
                     (unsigned long long)s->id, s->txn.peer, s->txn.mail_from, s->chunk_code);
            smtpd_txn_reset(s);
        }
        return;
    }
    if (s->chunk_last) {
        finish_message(s);
        return;
    }
    smtpd_session_set_state(s, SMTPGW_ST_BDAT);
    smtpd_reply(s, 250, "2.0.0 %llu octets received", (unsigned long long)s->chunk_size);
}

/* ---- bad commands and input ---------------------------------------------------------- */

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
    smtpd_reply(s, 421, "4.7.0 %s Too many errors, closing connection", s->hostname);
    smtpd_session_close(s, "errors");
}

/* smtpd_log_once - a bad-input event, logged once per session (and rate-limited per client) */
void smtpd_log_once(struct smtpgw_session *s, unsigned bit, const char *what)
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
        smtpd_log_once(s, LOGGED_LONG_LINE, "long-line");
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
        smtpd_log_once(s, LOGGED_BARE_LF, "bare-lf");
        smtpd_reply(s, 500, "5.5.2 Syntax error: bare LF, lines end with CRLF (RFC 5321 2.3.8)");
    } else {
        smtpd_process_line(s, s->line, len - 1);
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
    smtpd_reply(s, 500, "5.5.2 Line too long (at most %zu octets)", s->lim.max_cmd_line);
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
        smtpd_log_once(s, LOGGED_BARE_LF, "bare-cr-lf-in-data");
    else if (e == DE_LONG_LINE)
        smtpd_log_once(s, LOGGED_LONG_LINE, "long-line-in-data");
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
        smtpd_chunk_done(s);
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
    smtpd_reply(s, 421, "4.7.0 %s Too much pipelined input, closing connection", s->hostname);
    smtpd_session_close(s, "overflow");
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
        smtpd_txn_clear(s);
        smtpd_session_set_state(s, SMTPGW_ST_CLOSED);
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
