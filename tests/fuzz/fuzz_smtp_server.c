/* fuzz_smtp_server.c - fuzz the SMTP server engine (smtp-gw/smtp_server.c,
 * RFC 5321 with its extensions): any bytes from a client, cut anywhere,
 * under small limits.  Never a crash; every reply a well-formed line
 * ("ddd" SP/"-" text CRLF, RFC 5321 4.2); the session's memory never
 * beyond what its limits allow; every accepted message within max_message
 * and its MULE envelope buildable.
 *
 * Input: byte 0 selects the limits (max_cmd_line, max_rcpts,
 * max_message, SMTPUTF8, a refused client), byte 1 seeds the cuts; the
 * rest is what the client sends.  The seed corpus is plain SMTP
 * conversations with a two-byte prefix.
 */
#include "fuzz.h"
#include "smtp-gw/smtpgw.h"

#include <stdio.h>
#include <string.h>

struct fz {
    struct smtpgw_limits lim;
    int messages;
    bool closed;
};

/* fz_write - every reply must be whole lines of the right shape */
static void fz_write(void *user, const void *bytes, size_t len)
{
    (void)user;
    const char *p = bytes, *e = p + len;
    while (p < e) {
        const char *crlf = memchr(p, '\n', (size_t)(e - p));
        if (!crlf || crlf - p < 5 || crlf[-1] != '\r')
            __builtin_trap();
        if (p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9' ||
            (p[3] != ' ' && p[3] != '-'))
            __builtin_trap();
        for (const char *q = p; q < crlf - 1; q++)
            if ((unsigned char)*q < 32 || *q == 127)
                __builtin_trap();
        p = crlf + 1;
    }
}

/* fz_close - the session says it is over */
static void fz_close(void *user)
{
    struct fz *f = user;
    if (f->closed)
        __builtin_trap(); /* only once */
    f->closed = true;
}

/* fz_rcpt_check - refuse domains starting with 'd' */
static int fz_rcpt_check(void *user, const struct smtpgw_txn *txn, const struct smtpgw_rcpt *rcpt,
                         char *text, size_t cap)
{
    (void)user;
    (void)txn;
    const char *d = mule_address_domain(rcpt->addr);
    if (!mule_address_valid(rcpt->addr, false))
        __builtin_trap();
    if (d[0] == 'd') {
        snprintf(text, cap, "5.7.1 Relaying denied");
        return 550;
    }
    return 0;
}

/* fz_message - accept every other message, check its envelope */
static int fz_message(void *user, const struct smtpgw_txn *txn, char *qid, size_t qcap, char *text,
                      size_t tcap)
{
    struct fz *f = user;
    if (txn->data.len > f->lim.max_message || txn->n_rcpts == 0 || txn->n_rcpts > f->lim.max_rcpts)
        __builtin_trap();
    struct mule_envelope env;
    smtpgw_txn_envelope(txn, &env);
    struct util_buf b;
    util_buf_init(&b, 0);
    if (mule_payload_build(&env, txn->data.data, txn->data.len, &b) != 0)
        __builtin_trap(); /* what the server accepted, MULE must carry */
    struct mule_envelope back;
    int off = mule_payload_parse(b.data, b.len, 0, &back);
    if (off < 0 || back.n_rcpts != txn->n_rcpts || strcmp(back.from, env.from) != 0)
        __builtin_trap();
    mule_envelope_free(&back);
    util_buf_reset(&b);
    if (smtpgw_txn_received(txn, "gw.test", "Q", 0, &b) != 0)
        __builtin_trap();
    util_buf_free(&b);
    if (++f->messages % 2 == 0) {
        snprintf(text, tcap, "4.3.0 try later");
        return 451;
    }
    snprintf(qid, qcap, "Q%d", f->messages);
    return 0;
}

/* LLVMFuzzerTestOneInput - one client conversation */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        util_log_set_level(UTIL_LOG_ERR);
        quiet = true;
    }
    if (size < 2)
        return 0;
    struct fz f;
    memset(&f, 0, sizeof f);
    smtpgw_limits_default(&f.lim);
    uint8_t sel = data[0];
    static const size_t lines[] = {64, 128, 512, 2048};
    static const size_t msgs[] = {16, 300, 4096, 65536};
    f.lim.max_cmd_line = lines[sel & 3];
    f.lim.max_message = msgs[(sel >> 2) & 3];
    f.lim.max_rcpts = 1 + ((sel >> 4) & 3);
    f.lim.smtputf8 = sel & 0x40;
    f.lim.max_text_line = (sel & 0x20) ? 0 : 100;
    bool refuse = (sel & 0x80) && (data[1] & 1);
    struct smtpgw_session_config cfg = {"mx.fuzz", f.lim};
    static const struct smtpgw_callbacks cb = {fz_write, fz_close, NULL, fz_rcpt_check, fz_message};
    struct smtpgw_session *s = smtpgw_session_new(&cfg, &cb, &f, "192.0.2.1", 1, 0);
    if (!s)
        return 0;
    smtpgw_session_start(s, 0, refuse);
    size_t bound = sizeof(struct smtpgw_txn) + 4096 + 2 * f.lim.max_cmd_line + f.lim.max_message +
                   f.lim.max_rcpts * (2 * f.lim.max_cmd_line + 400);
    struct util_rng rng;
    util_rng_seed(&rng, data[1]);
    size_t off = 2;
    util_ms now = 0;
    while (off < size) {
        size_t n = size - off;
        if (data[1] & 0x80) {
            size_t cut = 1 + (size_t)util_rng_below(&rng, 32);
            n = n < cut ? n : cut;
        }
        now += 10;
        int rc = smtpgw_session_input(s, now, data + off, n);
        off += n;
        if (smtpgw_session_memory(s) > bound)
            __builtin_trap();
        if (rc == SMTPGW_ERR_CLOSED) {
            if (!f.closed || smtpgw_session_state(s) != SMTPGW_ST_CLOSED)
                __builtin_trap();
            break;
        }
    }
    smtpgw_session_expire(s, now + 1);
    if (smtpgw_session_state(s) == SMTPGW_ST_CLOSED ? !f.closed : f.closed)
        __builtin_trap();
    smtpgw_session_expire(s, now + SMTPGW_DEFAULT_IDLE_TIMEOUT);
    if (smtpgw_session_state(s) != SMTPGW_ST_CLOSED || !f.closed)
        __builtin_trap();
    smtpgw_session_free(s);
    return 0;
}
