/* smtpgw_deliver_tool.c - test program for tests/integration/smtp_client.sh:
 * spool a message (as an incoming one) and deliver it to an SMTP server
 * with the SMTP client glue (smtp-gw/smtp_deliver.c, RFC 5321), printing
 * one line per recipient and the end:
 *
 *     smtpgw_deliver_tool -s SPOOLDIR -H HOST -P PORT [-f FROM] [-m MAIL-PARAMS]
 *                         [-c] [-n] [-t CONNECT-MS] -r RCPT[|PARAMS]... FILE
 *
 *     rcpt ADDR code=N status=X.Y.Z reply="..."
 *     done err=N open=N
 *
 * -c uses BDAT for every message when offered, -n turns PIPELINING off.
 * The recipients' outcomes are written to the envelope (done / failed /
 * still open) and the spool is reopened to check they persisted.
 * Exit 0 when delivery ran to its end, 2 on usage or setup errors.
 */
#include "smtp-gw/smtpgw.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tool {
    struct smtpgw_spool *sp;
    bool done;
    int err;
};

/* on_rcpt - print and record an outcome */
static void on_rcpt(void *user, struct smtpgw_envelope *msg, size_t i, int code, const char *status,
                    const char *reply)
{
    (void)user;
    printf("rcpt %s code=%d status=%s reply=\"%s\"\n", msg->rcpts[i].addr, code, status, reply);
    char diag[700];
    snprintf(diag, sizeof diag, "smtp; %s", reply);
    smtpgw_envelope_set_rcpt(msg, i,
                             code / 100 == 2   ? SMTPGW_RCPT_DONE
                             : code / 100 == 5 ? SMTPGW_RCPT_FAILED
                                               : SMTPGW_RCPT_OPEN,
                             status, code / 100 == 2 ? NULL : diag);
}

/* on_done - the end: write the envelope */
static void on_done(void *user, struct smtpgw_envelope *msg, int err)
{
    struct tool *t = user;
    t->done = true;
    t->err = err;
    msg->attempts++;
    if (smtpgw_spool_update(t->sp, msg) != 0)
        t->err = 99;
    printf("done err=%d open=%zu\n", err, smtpgw_envelope_open_rcpts(msg));
    ev_break(EV_DEFAULT, EVBREAK_ALL);
}

/* usage - print how to call it */
static int usage(void)
{
    fprintf(stderr, "usage: smtpgw_deliver_tool -s SPOOLDIR -H HOST -P PORT [-f FROM] "
                    "[-m PARAMS] [-c] [-n] [-t MS] -r RCPT[|PARAMS]... FILE\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *from = "sender@hf.example", *params = "";
    struct smtpgw_deliver_params dp;
    smtpgw_deliver_params_default(&dp);
    dp.client.helo_name = "gw.test";
    struct smtpgw_spool_rcpt rc[16];
    size_t n = 0;
    int opt;
    memset(rc, 0, sizeof rc);
    while ((opt = getopt(argc, argv, "s:H:P:f:m:cnt:r:")) != -1) {
        switch (opt) {
        case 's': dir = optarg; break;
        case 'H': dp.host = optarg; break;
        case 'P': dp.port = (uint16_t)atoi(optarg); break;
        case 'f': from = optarg; break;
        case 'm': params = optarg; break;
        case 'c': dp.client.use_chunking = true; break;
        case 'n': dp.client.use_pipelining = false; break;
        case 't': dp.connect_timeout = (util_ms)atoll(optarg); break;
        case 'r': {
            if (n == 16)
                return usage();
            char *bar = strchr(optarg, '|');
            if (bar)
                *bar = '\0';
            rc[n].addr = optarg;
            rc[n].params = bar ? bar + 1 : "";
            rc[n].dest = -1;
            n++;
            break;
        }
        default: return usage();
        }
    }
    if (!dir || !dp.host || !n || optind + 1 != argc)
        return usage();
    util_log_set_level(UTIL_LOG_DEBUG);
    FILE *f = fopen(argv[optind], "rb");
    if (!f) {
        perror(argv[optind]);
        return 2;
    }
    struct util_buf content;
    util_buf_init(&content, 0);
    uint8_t buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        util_buf_append(&content, buf, got);
    fclose(f);

    int err;
    struct tool t = {0};
    t.sp = smtpgw_spool_open(dir, &err);
    if (!t.sp) {
        fprintf(stderr, "spool: %s\n", smtpgw_spool_strerror(err));
        return 2;
    }
    struct smtpgw_envelope env, *msg = NULL;
    memset(&env, 0, sizeof env);
    env.from = from;
    env.mail_params = params;
    env.rcpts = rc;
    env.n_rcpts = (uint16_t)n;
    env.priority = 6;
    err = smtpgw_spool_add_incoming(t.sp, &env, content.data, content.len, &msg);
    util_buf_free(&content);
    if (err != 0) {
        fprintf(stderr, "spool add: %s\n", smtpgw_spool_strerror(err));
        return 2;
    }
    char qid[SMTPGW_QID_LEN];
    memcpy(qid, msg->qid, sizeof qid);
    printf("spooled qid=%s content=%d size=%llu\n", qid, msg->content,
           (unsigned long long)msg->size);

    static const struct smtpgw_deliver_callbacks cb = {on_rcpt, on_done};
    struct smtpgw_deliver *d = smtpgw_deliver_start(EV_DEFAULT, &dp, t.sp, msg, &cb, &t, &err);
    if (!d) {
        fprintf(stderr, "deliver: %s\n", smtpgw_spool_strerror(err));
        return 2;
    }
    ev_run(EV_DEFAULT, 0);
    smtpgw_deliver_free(d);
    smtpgw_spool_close(t.sp);
    if (!t.done)
        return 2;

    /* the outcomes are on disk */
    t.sp = smtpgw_spool_open(dir, &err);
    msg = t.sp ? smtpgw_spool_find(t.sp, qid) : NULL;
    if (!msg) {
        fprintf(stderr, "reopen: message %s lost\n", qid);
        return 2;
    }
    for (size_t i = 0; i < msg->n_rcpts; i++)
        printf("stored %s state=%s status=%s\n", msg->rcpts[i].addr,
               smtpgw_rcpt_state_name(msg->rcpts[i].state), msg->rcpts[i].status);
    smtpgw_spool_close(t.sp);
    return 0;
}
