/* smtp_client.c - the SMTP client engine that delivers one message to the
 * LAN MTA: no I/O, no clock (`now` is passed in).  It takes the server's
 * bytes, emits commands through a callback and reports one result per
 * recipient.
 *
 * RFC 5321: 3.1 (greeting), 3.2 and 4.1.1.1 (EHLO, HELO when EHLO is
 * refused), 3.3 and 4.1.1.2-4 (MAIL, RCPT, DATA), 4.5.2 (dot-stuffing),
 * 2.3.8 (CRLF only: bare CR and LF become CRLF), 4.2 (replies, multi-line),
 * 4.5.3.2 (timeouts: 5 min per command, 10 min after the final dot).
 * Extensions, used only when the server advertises them: SIZE (RFC 1870),
 * 8BITMIME (RFC 6152), BINARYMIME and CHUNKING/BDAT (RFC 3030), PIPELINING
 * (RFC 2920: MAIL, RCPTs and DATA in one group), DSN (RFC 3461: RET,
 * ENVID, NOTIFY, ORCPT), ENHANCEDSTATUSCODES (RFC 2034/3463), MT-PRIORITY
 * (RFC 6710), DELIVERBY (RFC 2852), SMTPUTF8 (RFC 6531).
 *
 * Content: BODY=BINARYMIME goes by BDAT when the server offers CHUNKING and
 * BINARYMIME; otherwise text content (the spool's classification: CRLF
 * lines <= 998 bytes, no NUL) goes by DATA (BODY=8BITMIME if it has 8-bit
 * bytes and that is offered), and anything else fails every recipient with
 * 554 5.6.3 (conversion required but not supported, RFC 3463) so the daemon
 * sends a DSN.  The same for BODY=8BITMIME with 8-bit bytes and no 8BITMIME,
 * SMTPUTF8 addresses without SMTPUTF8 (553 5.6.7), and a message over the
 * advertised SIZE (552 5.3.4).  Session-level failures (greeting or EHLO
 * and HELO refused, timeouts, a closed connection, bad replies) are
 * temporary: every recipient without a result gets a 4xx.
 */
#include "smtp-gw/smtpgw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CLIENT_MAX_LINE  2048 /* a reply line (RFC 5321 says 512) */
#define CLIENT_MAX_REPLY 512  /* the reply text kept for a result */
#define CLIENT_MAX_LINES 1000 /* lines of one multi-line reply */
#define CLIENT_BDAT_INFL 8    /* BDAT chunks in flight with PIPELINING */
#define CLIENT_STUFF_IN  4096 /* input bytes transformed per send */

enum cstate {
    C_GREETING = 0,
    C_EHLO,
    C_HELO,
    C_TXN,   /* MAIL/RCPT/DATA replies */
    C_BODY,  /* DATA accepted (354): taking content */
    C_BDAT,  /* sending BDAT chunks */
    C_FINAL, /* waiting for the reply to the final dot */
    C_QUIT,
    C_DONE
};

enum pkind { P_MAIL, P_RCPT, P_DATA, P_BDAT, P_DOT, P_QUIT, P_DISCARD };

struct pend {
    uint8_t kind;
    bool last; /* P_BDAT: the LAST chunk */
    size_t rcpt;
};

enum rstate { R_NONE = 0, R_ACCEPTED, R_DONE };

struct smtpgw_client {
    struct smtpgw_client_params p;
    const struct smtpgw_client_msg *msg;
    struct smtpgw_client_callbacks cb;
    void *user;
    enum cstate st;
    unsigned ext;
    uint64_t size_max; /* SIZE's value, 0 if none */
    bool bdat;         /* content by BDAT */
    bool pipelining;
    const char *body_param; /* "8BITMIME", "BINARYMIME" or NULL */
    bool smtputf8;
    bool mail_failed;
    bool data_failed; /* DATA/BDAT refused: every accepted recipient has a result */
    size_t accepted;  /* recipients with a 2xx to RCPT */
    size_t rcpt_replies;
    int end_err; /* the error done() reports */
    uint8_t *rstate;
    /* expected replies, a ring */
    struct pend *pend;
    size_t pcap, phead, plen;
    size_t bdat_inflight;
    bool body_last_sent;
    /* reply assembly */
    char line[CLIENT_MAX_LINE + 1];
    size_t line_len;
    bool line_overflow;
    int code; /* of the reply being assembled, 0 if none */
    size_t nlines;
    char reply[CLIENT_MAX_REPLY + 1];
    size_t reply_len;
    /* dot-stuffing */
    bool at_bol, pending_cr;
    util_ms deadline;
    bool done;
};

/* smtpgw_client_params_default - pipelining on, BDAT only for BINARYMIME, RFC 5321 timeouts */
void smtpgw_client_params_default(struct smtpgw_client_params *p)
{
    memset(p, 0, sizeof *p);
    p->helo_name = "localhost";
    p->use_pipelining = true;
    p->use_chunking = false;
    p->cmd_timeout = 5 * 60 * 1000;
    p->final_timeout = 10 * 60 * 1000;
}

/* ---- small helpers ------------------------------------------------------------- */

/* emit - hand bytes to the glue; false (and the session aborted) if it refuses */
static bool emit(struct smtpgw_client *c, const void *data, size_t len)
{
    if (c->done || len == 0)
        return !c->done;
    if (c->cb.send(c->user, data, len) != 0) {
        c->end_err = SMTPGW_ERR_CLIENT_CLOSED;
        return false;
    }
    return true;
}

/* pend_push - expect one more reply */
static void pend_push(struct smtpgw_client *c, enum pkind k, size_t rcpt, bool last)
{
    if (c->plen == c->pcap)
        return; /* cannot happen: pcap covers MAIL + RCPTs + DATA + BDATs + QUIT */
    c->pend[(c->phead + c->plen) % c->pcap] = (struct pend){(uint8_t)k, last, rcpt};
    c->plen++;
}

/* arm - (re)arm the reply timeout */
static void arm(struct smtpgw_client *c, util_ms now, bool final)
{
    c->deadline = now + (final ? c->p.final_timeout : c->p.cmd_timeout);
}

/* status_of - the enhanced status code at the start of text for a code, or derived */
static void status_of(int code, const char *text, char out[SMTPGW_STATUS_LEN])
{
    /* text is "NNN[ -]x.y.z ..." */
    const char *s = text + 4;
    size_t n = strlen(text) >= 4 ? strspn(s, "0123456789.") : 0;
    int dots = 0;
    for (size_t i = 0; i < n; i++)
        dots += s[i] == '.';
    if (n >= 5 && n < SMTPGW_STATUS_LEN && dots == 2 && s[0] == '0' + code / 100 && s[1] == '.' &&
        s[n - 1] != '.' && (s[n] == ' ' || s[n] == '\0') && !strstr(s, "..")) {
        memcpy(out, s, n);
        out[n] = '\0';
        return;
    }
    out[0] = (char)('0' + (code / 100) % 10);
    memcpy(out + 1, ".0.0", 5);
}

/* result - give recipient i its final outcome (once) */
static void result(struct smtpgw_client *c, size_t i, int code, const char *reply)
{
    if (c->rstate[i] == R_DONE)
        return;
    if (c->rstate[i] == R_ACCEPTED)
        c->accepted--;
    c->rstate[i] = R_DONE;
    char st[SMTPGW_STATUS_LEN];
    status_of(code, reply, st);
    c->cb.rcpt_result(c->user, i, code, st, reply);
}

/* fail_open - every recipient without a result (accepted ones too) gets code/reply */
static void fail_open(struct smtpgw_client *c, int code, const char *reply)
{
    for (size_t i = 0; i < c->msg->n_rcpts; i++)
        result(c, i, code, reply);
}

/* finish - the session is over: results for the rest, then done (once) */
static void finish(struct smtpgw_client *c, int err)
{
    if (c->done)
        return;
    c->end_err = err;
    if (err) {
        const char *why =
            err == SMTPGW_ERR_CLIENT_TIMEOUT   ? "451 4.4.2 timeout waiting for the LAN MTA"
            : err == SMTPGW_ERR_CLIENT_PROTO   ? "451 4.5.0 bad reply from the LAN MTA"
            : err == SMTPGW_ERR_CLIENT_REFUSED ? "451 4.3.0 the LAN MTA refused the session"
            : err == UTIL_ERR_NOMEM            ? "451 4.3.0 out of memory"
                                               : "451 4.4.2 connection to the LAN MTA lost";
        fail_open(c, 451, why);
    }
    c->done = true;
    c->st = C_DONE;
    c->deadline = UTIL_MS_NEVER;
    c->cb.done(c->user, err);
}

/* send_quit - QUIT and wait for its reply (or the close) */
static void send_quit(struct smtpgw_client *c, util_ms now)
{
    static const char q[] = "QUIT\r\n";
    c->st = C_QUIT;
    pend_push(c, P_QUIT, 0, false);
    arm(c, now, false);
    if (!emit(c, q, sizeof q - 1))
        finish(c, c->end_err);
}

/* ---- commands ------------------------------------------------------------------ */

/* param_copy - append " KEY=value" from the MAIL/RCPT parameters, if present */
static int param_copy(struct util_buf *b, const char *params, const char *key)
{
    const char *v;
    size_t n;
    int rc = 0;
    if (params && mule_param_get(params, key, &v, &n)) {
        rc |= util_buf_printf(b, " %s", key);
        if (n) {
            rc |= util_buf_append(b, "=", 1);
            rc |= util_buf_append(b, v, n);
        }
    }
    return rc;
}

/* ascii_only - whether s has no byte >= 0x80 */
static bool ascii_only(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/* plan - decide BODY, BDAT/DATA and SMTPUTF8 after EHLO; false when the message cannot go */
static bool plan(struct smtpgw_client *c)
{
    const struct smtpgw_client_msg *m = c->msg;
    const char *mp = m->mail_params ? m->mail_params : "";
    const char *v;
    size_t n;
    char body[16] = "";
    if (mule_param_get(mp, "BODY", &v, &n) && n < sizeof body) {
        memcpy(body, v, n);
        body[n] = '\0';
    }
    bool binarymime = strcasecmp(body, "BINARYMIME") == 0;
    bool eightbitmime = strcasecmp(body, "8BITMIME") == 0;
    bool chunking = (c->ext & SMTPGW_EXT_CHUNKING) != 0;
    c->pipelining = c->p.use_pipelining && (c->ext & SMTPGW_EXT_PIPELINING);

    if (c->size_max && m->size > c->size_max) {
        char text[128];
        snprintf(text, sizeof text,
                 "552 5.3.4 message of %" PRIu64 " bytes exceeds the LAN MTA's SIZE %" PRIu64,
                 m->size, c->size_max);
        fail_open(c, 552, text);
        return false;
    }
    if (binarymime) {
        if (chunking && (c->ext & SMTPGW_EXT_BINARYMIME)) {
            c->bdat = true;
            c->body_param = "BINARYMIME";
        } else if (m->content == SMTPGW_CONTENT_BINARY) {
            fail_open(c, 554,
                      "554 5.6.3 conversion required but not supported: binary content and the "
                      "LAN MTA offers no BINARYMIME with CHUNKING");
            return false;
        } else if (m->content == SMTPGW_CONTENT_8BIT) {
            if (!(c->ext & SMTPGW_EXT_8BITMIME)) {
                fail_open(c, 554,
                          "554 5.6.3 conversion required but not supported: 8-bit content and "
                          "the LAN MTA offers neither BINARYMIME nor 8BITMIME");
                return false;
            }
            c->body_param = "8BITMIME"; /* text after all: DATA carries it unchanged */
        }
    } else if (eightbitmime) {
        if (c->ext & SMTPGW_EXT_8BITMIME) {
            c->body_param = "8BITMIME";
        } else if (m->content == SMTPGW_CONTENT_8BIT) {
            fail_open(c, 554,
                      "554 5.6.3 conversion required but not supported: 8-bit content and the "
                      "LAN MTA offers no 8BITMIME");
            return false;
        }
    }
    /* BDAT for everything only when asked; it sends the bytes unchanged */
    if (!c->bdat && chunking && c->p.use_chunking)
        c->bdat = true;

    if (mule_param_get(mp, "SMTPUTF8", &v, &n)) {
        if (c->ext & SMTPGW_EXT_SMTPUTF8) {
            c->smtputf8 = true;
        } else {
            bool ascii = ascii_only(m->from);
            for (size_t i = 0; i < m->n_rcpts; i++)
                ascii = ascii && ascii_only(m->rcpts[i].addr);
            if (!ascii) {
                fail_open(c, 553, "553 5.6.7 non-ASCII address and the LAN MTA offers no SMTPUTF8");
                return false;
            }
        }
    }
    return true;
}

/* mail_cmd - MAIL FROM with what the server supports */
static int mail_cmd(struct smtpgw_client *c, struct util_buf *b)
{
    const struct smtpgw_client_msg *m = c->msg;
    const char *mp = m->mail_params ? m->mail_params : "";
    int rc = util_buf_printf(b, "MAIL FROM:<%s>", m->from ? m->from : "");
    if (c->ext & SMTPGW_EXT_SIZE)
        rc |= util_buf_printf(b, " SIZE=%" PRIu64, m->size);
    if (c->body_param)
        rc |= util_buf_printf(b, " BODY=%s", c->body_param);
    if (c->smtputf8)
        rc |= util_buf_append_str(b, " SMTPUTF8");
    if (c->ext & SMTPGW_EXT_DSN) {
        rc |= param_copy(b, mp, "RET");
        rc |= param_copy(b, mp, "ENVID");
    }
    if (c->ext & SMTPGW_EXT_MTPRIORITY)
        rc |= param_copy(b, mp, "MT-PRIORITY");
    if (c->ext & SMTPGW_EXT_DELIVERBY)
        rc |= param_copy(b, mp, "BY");
    return rc | util_buf_append(b, "\r\n", 2);
}

/* rcpt_cmd - RCPT TO, with NOTIFY/ORCPT under DSN */
static int rcpt_cmd(struct smtpgw_client *c, struct util_buf *b, size_t i)
{
    const struct smtpgw_client_rcpt *r = &c->msg->rcpts[i];
    int rc = util_buf_printf(b, "RCPT TO:<%s>", r->addr ? r->addr : "");
    if (c->ext & SMTPGW_EXT_DSN) {
        rc |= param_copy(b, r->params, "NOTIFY");
        rc |= param_copy(b, r->params, "ORCPT");
    }
    return rc | util_buf_append(b, "\r\n", 2);
}

/* flush_buf - emit a command buffer (built with error bits err); false if the session ended */
static bool flush_buf(struct smtpgw_client *c, struct util_buf *b, int err)
{
    bool ok = err == 0 && emit(c, b->data, b->len);
    util_buf_free(b);
    if (!ok) {
        finish(c, c->end_err ? c->end_err : UTIL_ERR_NOMEM);
        return false;
    }
    return true;
}

/* start_txn - after EHLO/HELO: MAIL (and with PIPELINING the RCPTs and DATA) */
static void start_txn(struct smtpgw_client *c, util_ms now)
{
    if (!plan(c)) {
        send_quit(c, now);
        return;
    }
    struct util_buf b;
    util_buf_init(&b, 0);
    c->st = C_TXN;
    int err = mail_cmd(c, &b);
    pend_push(c, P_MAIL, 0, false);
    if (c->pipelining) {
        for (size_t i = 0; i < c->msg->n_rcpts; i++) {
            err |= rcpt_cmd(c, &b, i);
            pend_push(c, P_RCPT, i, false);
        }
        if (!c->bdat) {
            err |= util_buf_append_str(&b, "DATA\r\n");
            pend_push(c, P_DATA, 0, false);
        }
    }
    arm(c, now, false);
    flush_buf(c, &b, err);
}

/* after_rcpts - every RCPT answered: DATA/BDAT, or QUIT if nobody was accepted */
static void after_rcpts(struct smtpgw_client *c, util_ms now)
{
    if (c->accepted == 0) {
        if (c->plen == 0) /* a pipelined DATA still has its reply to come */
            send_quit(c, now);
        return;
    }
    if (c->bdat) {
        c->st = C_BDAT;
        c->deadline = UTIL_MS_NEVER; /* waiting for the glue's content */
        return;
    }
    if (!c->pipelining) {
        static const char d[] = "DATA\r\n";
        pend_push(c, P_DATA, 0, false);
        arm(c, now, false);
        if (!emit(c, d, sizeof d - 1))
            finish(c, c->end_err);
    }
}

/* ---- replies ---------------------------------------------------------------------- */

/* ext_line - one line of the EHLO reply (not the first): note the keyword */
static void ext_line(struct smtpgw_client *c, const char *text)
{
    char kw[32];
    size_t n = strcspn(text, " ");
    if (n == 0 || n >= sizeof kw)
        return;
    memcpy(kw, text, n);
    kw[n] = '\0';
    static const struct {
        const char *name;
        unsigned bit;
    } exts[] = {{"SIZE", SMTPGW_EXT_SIZE},
                {"8BITMIME", SMTPGW_EXT_8BITMIME},
                {"BINARYMIME", SMTPGW_EXT_BINARYMIME},
                {"CHUNKING", SMTPGW_EXT_CHUNKING},
                {"PIPELINING", SMTPGW_EXT_PIPELINING},
                {"DSN", SMTPGW_EXT_DSN},
                {"ENHANCEDSTATUSCODES", SMTPGW_EXT_ENHANCED},
                {"MT-PRIORITY", SMTPGW_EXT_MTPRIORITY},
                {"DELIVERBY", SMTPGW_EXT_DELIVERBY},
                {"SMTPUTF8", SMTPGW_EXT_SMTPUTF8}};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(exts); i++)
        if (strcasecmp(kw, exts[i].name) == 0) {
            c->ext |= exts[i].bit;
            if (exts[i].bit == SMTPGW_EXT_SIZE) {
                const char *p = text + n;
                while (*p == ' ')
                    p++;
                uint64_t v = 0;
                bool ok = *p != '\0';
                for (; *p >= '0' && *p <= '9'; p++) {
                    if (v > UINT64_MAX / 10 - 10) {
                        ok = false;
                        break;
                    }
                    v = v * 10 + (uint64_t)(*p - '0');
                }
                c->size_max = ok && (*p == '\0' || *p == ' ') ? v : 0;
            }
        }
}

/* refused - greeting, or EHLO and HELO, refused: a temporary failure for everyone, QUIT */
static void refused(struct smtpgw_client *c, util_ms now, int code)
{
    char text[CLIENT_MAX_REPLY + 64];
    if (code / 100 == 4)
        snprintf(text, sizeof text, "%s", c->reply);
    else
        snprintf(text, sizeof text, "451 4.3.0 the LAN MTA refused the session: %s", c->reply);
    fail_open(c, code / 100 == 4 ? code : 451, text);
    c->end_err = SMTPGW_ERR_CLIENT_REFUSED;
    send_quit(c, now);
}

/* on_reply - a complete reply (code, joined text in c->reply) */
static void on_reply(struct smtpgw_client *c, util_ms now, int code)
{
    const char *text = c->reply;
    UTIL_TRACE(UTIL_MOD_SMTPGW, "client-reply", "reply=\"%s\"", text);
    bool ok = code / 100 == 2;
    switch (c->st) {
    case C_GREETING:
        if (ok) {
            char cmd[SMTPGW_MAX_HELO + 16];
            int n = snprintf(cmd, sizeof cmd, "EHLO %s\r\n", c->p.helo_name);
            c->st = C_EHLO;
            arm(c, now, false);
            if (!emit(c, cmd, (size_t)n))
                finish(c, c->end_err);
        } else {
            refused(c, now, code);
        }
        return;
    case C_EHLO:
    case C_HELO:
        if (ok) {
            start_txn(c, now);
        } else if (c->st == C_EHLO && code / 100 == 5) {
            char cmd[SMTPGW_MAX_HELO + 16];
            int n = snprintf(cmd, sizeof cmd, "HELO %s\r\n", c->p.helo_name);
            c->st = C_HELO;
            c->ext = 0;
            c->size_max = 0;
            arm(c, now, false);
            if (!emit(c, cmd, (size_t)n))
                finish(c, c->end_err);
        } else {
            refused(c, now, code);
        }
        return;
    default: break;
    }

    if (c->plen == 0) { /* nothing asked: an unsolicited reply (421 before closing) */
        finish(c, code == 421 ? SMTPGW_ERR_CLIENT_CLOSED : SMTPGW_ERR_CLIENT_PROTO);
        return;
    }
    if (code / 100 == 3 && c->pend[c->phead].kind != P_DATA) {
        finish(c, SMTPGW_ERR_CLIENT_PROTO);
        return;
    }
    struct pend p = c->pend[c->phead];
    c->phead = (c->phead + 1) % c->pcap;
    c->plen--;
    if (c->plen)
        arm(c, now, p.kind == P_BDAT && c->pend[c->phead].last);
    else
        c->deadline = UTIL_MS_NEVER;

    switch ((enum pkind)p.kind) {
    case P_MAIL:
        if (!ok) {
            c->mail_failed = true;
            fail_open(c, code, text);
            if (c->plen == 0)
                send_quit(c, now);
            return;
        }
        if (!c->pipelining) {
            struct util_buf b;
            util_buf_init(&b, 0);
            int err = rcpt_cmd(c, &b, 0);
            pend_push(c, P_RCPT, 0, false);
            arm(c, now, false);
            flush_buf(c, &b, err);
        }
        return;
    case P_RCPT:
        c->rcpt_replies++;
        if (!c->mail_failed) {
            if (ok) {
                c->rstate[p.rcpt] = R_ACCEPTED;
                c->accepted++;
            } else {
                result(c, p.rcpt, code, text);
            }
        }
        if (c->rcpt_replies < c->msg->n_rcpts) {
            if (!c->pipelining) {
                struct util_buf b;
                util_buf_init(&b, 0);
                int err = rcpt_cmd(c, &b, p.rcpt + 1);
                pend_push(c, P_RCPT, p.rcpt + 1, false);
                arm(c, now, false);
                flush_buf(c, &b, err);
            }
            return;
        }
        if (c->mail_failed) {
            if (c->plen == 0)
                send_quit(c, now);
            return;
        }
        after_rcpts(c, now);
        return;
    case P_DATA:
        if (code / 100 == 3 && c->accepted > 0 && !c->mail_failed) { /* 354, as Postfix any 3xx */
            c->st = C_BODY;
            c->at_bol = true;
            c->deadline = UTIL_MS_NEVER;
            return;
        }
        if (code / 100 == 3) { /* pipelined DATA with nobody accepted: end it at once */
            static const char dot[] = ".\r\n";
            pend_push(c, P_DISCARD, 0, false);
            arm(c, now, true);
            if (!emit(c, dot, sizeof dot - 1))
                finish(c, c->end_err);
            return;
        }
        if (c->accepted > 0)
            fail_open(c, ok ? 451 : code, ok ? "451 4.5.0 DATA answered without 354" : text);
        send_quit(c, now);
        return;
    case P_BDAT:
        c->bdat_inflight--;
        if (!ok && !c->data_failed) {
            c->data_failed = true;
            fail_open(c, code, text);
        }
        if (p.last && ok && !c->data_failed) {
            for (size_t i = 0; i < c->msg->n_rcpts; i++)
                if (c->rstate[i] == R_ACCEPTED)
                    result(c, i, code, text);
        }
        if (c->plen == 0 && (c->data_failed || c->body_last_sent))
            send_quit(c, now);
        return;
    case P_DOT:
        for (size_t i = 0; i < c->msg->n_rcpts; i++)
            if (c->rstate[i] == R_ACCEPTED)
                result(c, i, code, text);
        send_quit(c, now);
        return;
    case P_DISCARD: send_quit(c, now); return;
    case P_QUIT: finish(c, c->end_err); return;
    }
}

/* reply_line - one complete line from the server */
static int reply_line(struct smtpgw_client *c, util_ms now, char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        line[--len] = '\0';
    if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
        line[2] < '0' || line[2] > '9' || (len > 3 && line[3] != ' ' && line[3] != '-'))
        return SMTPGW_ERR_CLIENT_PROTO;
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    bool more = len > 3 && line[3] == '-';
    const char *text = len > 4 ? line + 4 : "";
    if (c->code && code != c->code)
        return SMTPGW_ERR_CLIENT_PROTO;
    if (!c->code) {
        c->code = code;
        c->nlines = 0;
        c->reply_len =
            (size_t)snprintf(c->reply, sizeof c->reply, "%d%s%s", code, *text ? " " : "", text);
        if (c->reply_len > CLIENT_MAX_REPLY)
            c->reply_len = CLIENT_MAX_REPLY;
    } else if (*text && c->reply_len < CLIENT_MAX_REPLY) {
        int n = snprintf(c->reply + c->reply_len, sizeof c->reply - c->reply_len, " %s", text);
        c->reply_len = UTIL_MIN(CLIENT_MAX_REPLY, c->reply_len + (size_t)n);
    }
    if (++c->nlines > CLIENT_MAX_LINES)
        return SMTPGW_ERR_CLIENT_PROTO;
    if (c->st == C_EHLO && c->nlines > 1 && code / 100 == 2)
        ext_line(c, text);
    if (more)
        return 0;
    c->code = 0;
    on_reply(c, now, code);
    return 0;
}

/* ---- the public interface -------------------------------------------------------- */

/* smtpgw_client_new - a session for msg, waiting for the greeting */
struct smtpgw_client *smtpgw_client_new(const struct smtpgw_client_params *p,
                                        const struct smtpgw_client_msg *msg,
                                        const struct smtpgw_client_callbacks *cb, void *user,
                                        util_ms now)
{
    if (!msg || msg->n_rcpts == 0 || !msg->rcpts || !cb || !cb->send || !cb->rcpt_result ||
        !cb->done)
        return NULL;
    struct smtpgw_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (p)
        c->p = *p;
    else
        smtpgw_client_params_default(&c->p);
    if (!c->p.helo_name || !*c->p.helo_name || strlen(c->p.helo_name) > SMTPGW_MAX_HELO)
        c->p.helo_name = "localhost";
    c->msg = msg;
    c->cb = *cb;
    c->user = user;
    c->pcap = msg->n_rcpts + CLIENT_BDAT_INFL + 4;
    c->pend = calloc(c->pcap, sizeof *c->pend);
    c->rstate = calloc(msg->n_rcpts, 1);
    if (!c->pend || !c->rstate) {
        smtpgw_client_free(c);
        return NULL;
    }
    c->st = C_GREETING;
    arm(c, now, false);
    return c;
}

/* smtpgw_client_free - release the session */
void smtpgw_client_free(struct smtpgw_client *c)
{
    if (!c)
        return;
    free(c->pend);
    free(c->rstate);
    free(c);
}

/* smtpgw_client_input - bytes from the server */
int smtpgw_client_input(struct smtpgw_client *c, util_ms now, const uint8_t *data, size_t len)
{
    if (c->done)
        return SMTPGW_ERR_CLIENT_STATE;
    for (size_t i = 0; i < len && !c->done; i++) {
        uint8_t ch = data[i];
        if (ch == '\n') {
            int rc = 0;
            if (c->line_overflow)
                rc = SMTPGW_ERR_CLIENT_PROTO;
            else {
                c->line[c->line_len] = '\0';
                rc = reply_line(c, now, c->line, c->line_len);
            }
            c->line_len = 0;
            c->line_overflow = false;
            if (rc != 0) {
                finish(c, rc);
                return rc;
            }
        } else if (c->line_len < CLIENT_MAX_LINE) {
            c->line[c->line_len++] = ch == '\0' ? ' ' : (char)ch;
        } else {
            c->line_overflow = true;
        }
    }
    return c->done && c->end_err ? c->end_err : 0;
}

/* smtpgw_client_wants_body - whether the engine takes content now */
bool smtpgw_client_wants_body(const struct smtpgw_client *c)
{
    if (c->done || c->body_last_sent)
        return false;
    if (c->st == C_BODY)
        return true;
    if (c->st == C_BDAT && !c->data_failed)
        return c->bdat_inflight < (c->pipelining ? CLIENT_BDAT_INFL : 1);
    return false;
}

/* stuff - dot-stuff and CRLF-normalise n bytes into out (room for 2n+2); returns bytes out */
static size_t stuff(struct smtpgw_client *c, const uint8_t *in, size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = in[i];
        if (c->pending_cr) {
            c->pending_cr = false;
            out[o++] = '\r';
            out[o++] = '\n';
            c->at_bol = true;
            if (ch == '\n')
                continue;
        }
        if (ch == '\r') {
            c->pending_cr = true;
            continue;
        }
        if (ch == '\n') {
            out[o++] = '\r';
            out[o++] = '\n';
            c->at_bol = true;
            continue;
        }
        if (c->at_bol && ch == '.')
            out[o++] = '.';
        out[o++] = ch;
        c->at_bol = false;
    }
    return o;
}

/* smtpgw_client_body - the next piece of content */
int smtpgw_client_body(struct smtpgw_client *c, util_ms now, const uint8_t *data, size_t len,
                       bool last)
{
    if (!smtpgw_client_wants_body(c))
        return SMTPGW_ERR_CLIENT_STATE;
    if (c->st == C_BDAT) {
        char hdr[48];
        int n = snprintf(hdr, sizeof hdr, "BDAT %zu%s\r\n", len, last ? " LAST" : "");
        c->bdat_inflight++;
        pend_push(c, P_BDAT, 0, last);
        if (c->plen == 1)
            arm(c, now, last);
        if (last)
            c->body_last_sent = true;
        if (!emit(c, hdr, (size_t)n) || !emit(c, data, len)) {
            finish(c, c->end_err);
            return c->end_err;
        }
        return 0;
    }
    uint8_t out[2 * CLIENT_STUFF_IN + 8];
    while (len > 0) {
        size_t n = UTIL_MIN(len, (size_t)CLIENT_STUFF_IN);
        size_t o = stuff(c, data, n, out);
        if (!emit(c, out, o)) {
            finish(c, c->end_err);
            return c->end_err;
        }
        data += n;
        len -= n;
    }
    if (last) {
        size_t o = 0;
        if (c->pending_cr || !c->at_bol) {
            out[o++] = '\r';
            out[o++] = '\n';
            c->pending_cr = false;
        }
        memcpy(out + o, ".\r\n", 3);
        o += 3;
        c->body_last_sent = true;
        c->st = C_FINAL;
        pend_push(c, P_DOT, 0, false);
        arm(c, now, true);
        if (!emit(c, out, o)) {
            finish(c, c->end_err);
            return c->end_err;
        }
    }
    return 0;
}

/* smtpgw_client_closed - the connection is gone */
void smtpgw_client_closed(struct smtpgw_client *c, util_ms now)
{
    (void)now;
    if (c->done)
        return;
    if (c->st == C_QUIT) { /* every recipient has its result: closing without 221 is fine */
        finish(c, c->end_err);
        return;
    }
    finish(c, SMTPGW_ERR_CLIENT_CLOSED);
}

/* smtpgw_client_timeout - run what is due */
void smtpgw_client_timeout(struct smtpgw_client *c, util_ms now)
{
    if (c->done || c->deadline == UTIL_MS_NEVER || now < c->deadline)
        return;
    if (c->st == C_QUIT) {
        finish(c, c->end_err);
        return;
    }
    finish(c, SMTPGW_ERR_CLIENT_TIMEOUT);
}

/* smtpgw_client_next_expiry - when smtpgw_client_timeout is next needed */
util_ms smtpgw_client_next_expiry(const struct smtpgw_client *c)
{
    return c->done ? UTIL_MS_NEVER : c->deadline;
}

/* smtpgw_client_finished - whether done was called */
bool smtpgw_client_finished(const struct smtpgw_client *c)
{
    return c->done;
}

/* smtpgw_client_extensions - what the server advertised */
unsigned smtpgw_client_extensions(const struct smtpgw_client *c)
{
    return c->ext;
}

/* ---- retry schedule ------------------------------------------------------------------ */

/* smtpgw_retry_default - 1 min doubling to 1 h, bounce after 5 days */
void smtpgw_retry_default(struct smtpgw_retry *r)
{
    r->first_s = 60;
    r->max_s = 3600;
    r->max_age_s = 5 * 24 * 3600;
}

/* smtpgw_retry_next - UNIX s of the next attempt, or -1 to bounce */
int64_t smtpgw_retry_next(const struct smtpgw_retry *r, uint32_t attempts, int64_t arrival,
                          int64_t now)
{
    if (now - arrival >= r->max_age_s)
        return -1;
    int64_t d = r->first_s > 0 ? r->first_s : 1;
    for (uint32_t i = 1; i < attempts && d < r->max_s; i++)
        d *= 2;
    if (d > r->max_s)
        d = r->max_s;
    int64_t next = now + d;
    if (next > arrival + r->max_age_s)
        next = arrival + r->max_age_s; /* one last try at the deadline */
    return next;
}
