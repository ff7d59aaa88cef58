/* fuzz_smtp_client.c - fuzz the SMTP client engine (smtp-gw/smtp_client.c,
 * RFC 5321 with PIPELINING, CHUNKING/BINARYMIME, 8BITMIME, SIZE, DSN,
 * SMTPUTF8): any bytes from a server, cut anywhere, with content fed
 * whenever the engine asks and timeouts now and then.  Never a crash,
 * never a hang; in the end (after the connection closes) every recipient
 * has exactly one result, with a 2xx/4xx/5xx code and a well-formed
 * enhanced status of the same class, and done came exactly once.
 *
 * Input: byte 0 selects the message (recipients, MAIL parameters, content
 * class) and the client's options, byte 1 seeds the cuts and the timeouts;
 * the rest is what the server sends.  The seed corpus is plain SMTP server
 * conversations with a two-byte prefix.
 */
#include "fuzz.h"
#include "smtp-gw/smtpgw.h"

#include <stdio.h>
#include <string.h>

#define FZ_RCPTS 4

struct fz {
    int results[FZ_RCPTS];
    int done;
    size_t sent;
};

/* fz_send - count what the client sends */
static int fz_send(void *user, const uint8_t *data, size_t len)
{
    struct fz *f = user;
    (void)data;
    f->sent += len;
    return 0;
}

/* fz_rcpt - a result: once per recipient, a sane code and status */
static void fz_rcpt(void *user, size_t i, int code, const char *status, const char *reply)
{
    struct fz *f = user;
    if (i >= FZ_RCPTS || f->done)
        __builtin_trap();
    f->results[i]++;
    if (code < 200 || code > 599 || code / 100 == 3)
        __builtin_trap();
    if (!status || status[0] != '0' + code / 100 || status[1] != '.' || !reply)
        __builtin_trap();
    if (strlen(reply) > 600)
        __builtin_trap();
}

/* fz_done - the end, once */
static void fz_done(void *user, int err)
{
    struct fz *f = user;
    (void)err;
    f->done++;
}

static const char *const mail_params[] = {
    NULL,
    "BODY=BINARYMIME",
    "BODY=8BITMIME SMTPUTF8 RET=FULL ENVID=abc+2Bd",
    "BY=60;R MT-PRIORITY=3 RET=HDRS",
};

static const struct smtpgw_client_rcpt rcpts[FZ_RCPTS] = {
    {"a@lan.example", "NOTIFY=SUCCESS ORCPT=rfc822;a@hf.example"},
    {"b@lan.example", NULL},
    {"j\xc3\xb6rg@lan.example", "NOTIFY=NEVER"},
    {"d@lan.example", ""},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t cfg = data[0];
    uint32_t seed = data[1] * 2654435761u + 1;
    data += 2;
    size -= 2;

    struct smtpgw_client_params p;
    smtpgw_client_params_default(&p);
    p.use_pipelining = cfg & 1;
    p.use_chunking = (cfg >> 1) & 1;
    struct smtpgw_client_msg m = {(cfg >> 2) & 1 ? "" : "s@hf.example",
                                  mail_params[(cfg >> 3) & 3],
                                  rcpts,
                                  1 + ((cfg >> 5) & 3),
                                  (uint64_t)cfg * 37,
                                  (uint8_t)((cfg >> 5) % 3)};
    static const struct smtpgw_client_callbacks cb = {fz_send, fz_rcpt, fz_done};
    struct fz f;
    memset(&f, 0, sizeof f);
    util_ms now = 1000;
    struct smtpgw_client *c = smtpgw_client_new(&p, &m, &cb, &f, now);
    if (!c)
        return 0;
    static const uint8_t body[] = "Subject: x\r\n\r\n.dot\r\nbare\nlf\rcr\0nul\r\n.";
    int pieces = 0;
    size_t off = 0;
    while (off < size && !smtpgw_client_finished(c)) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % 64;
        if (n > size - off)
            n = size - off;
        smtpgw_client_input(c, now, data + off, n);
        off += n;
        while (smtpgw_client_wants_body(c)) {
            bool last = ++pieces % 3 == 0;
            if (smtpgw_client_body(c, now, body, (seed >> 8) % sizeof body, last) != 0)
                __builtin_trap(); /* it asked for the content */
        }
        if (((seed >> 24) & 15) == 0) {
            util_ms exp = smtpgw_client_next_expiry(c);
            if (exp != UTIL_MS_NEVER) {
                now = exp;
                smtpgw_client_timeout(c, now);
            }
        }
        now += 10;
    }
    smtpgw_client_closed(c, now);
    if (!smtpgw_client_finished(c) || f.done != 1)
        __builtin_trap();
    for (size_t i = 0; i < m.n_rcpts; i++)
        if (f.results[i] != 1)
            __builtin_trap();
    if (smtpgw_client_next_expiry(c) != UTIL_MS_NEVER)
        __builtin_trap();
    smtpgw_client_free(c);
    return 0;
}
