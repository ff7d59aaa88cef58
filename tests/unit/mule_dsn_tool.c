/* mule_dsn_tool.c - a test program: read a BSMTP-like payload (RFC 8494
 * 3.1) and write the DSNs (RFC 3464) the gateway would send for it, one
 * file per notice, for tests/integration/mule_dsn.sh to parse with Python's
 * email package.  Prints `<name> <recipients reported>` per notice.
 *
 * usage: mule_dsn_tool PAYLOAD OUTDIR
 * To the payload's recipients it adds <to3@example.net> without NOTIFY
 * (RFC 3461 default: failures and delays).  Each notice covers every
 * recipient; the DSN reports those whose NOTIFY asks for it:
 *   failed.eml   failed (5.4.7, expired)
 *   delayed.eml  delayed (4.4.7)
 *   relayed.eml  relayed onwards (2.0.0), with RET=FULL
 *   null         the failure with a null return path: no file
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mule/mule.h"

/* write_dsn - build one DSN and write it to dir/name if there is one */
static int write_dsn(const char *dir, const char *name, struct mule_dsn *d)
{
    struct util_buf b;
    util_buf_init(&b, 0);
    int n = mule_dsn_build(d, &b);
    if (n < 0) {
        fprintf(stderr, "%s: %s\n", name, mule_strerror(n));
        return 1;
    }
    printf("%s %d\n", name, n);
    if (n > 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) {
            perror(path);
            return 1;
        }
    }
    util_buf_free(&b);
    return 0;
}

/* main - payload in, DSN files out */
int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s PAYLOAD OUTDIR\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    static uint8_t payload[1 << 20];
    size_t len = fread(payload, 1, sizeof payload, in);
    fclose(in);
    struct mule_envelope env;
    int off = mule_payload_parse(payload, len, 0, &env);
    if (off < 0) {
        fprintf(stderr, "payload: %s\n", mule_strerror(off));
        return 1;
    }
    size_t n = env.n_rcpts + 1;
    struct mule_dsn_rcpt *r = calloc(n, sizeof *r);
    if (!r)
        return 1;
    const int64_t arrival = 1493306220, now = arrival + 86400;
    struct mule_dsn d = {env.from,          env.from_params,    r,   n,       payload + off,
                         len - (size_t)off, "gw-b.example.mil", now, arrival, false};
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        r[i] = (struct mule_dsn_rcpt){i < env.n_rcpts ? env.rcpts[i].addr : "to3@example.net",
                                      i < env.n_rcpts ? env.rcpts[i].params : NULL,
                                      MULE_DSN_FAILED,
                                      "5.4.7",
                                      "X-MULE; expired before every node acknowledged",
                                      NULL,
                                      0};
    rc |= write_dsn(argv[2], "failed.eml", &d);
    for (size_t i = 0; i < n; i++) {
        r[i].action = MULE_DSN_DELAYED;
        r[i].status = "4.4.7";
        r[i].diagnostic = NULL;
        r[i].will_retry_until = now + 86400;
    }
    rc |= write_dsn(argv[2], "delayed.eml", &d);
    for (size_t i = 0; i < n; i++) {
        r[i].action = MULE_DSN_RELAYED;
        r[i].status = "2.0.0";
        r[i].remote_mta = "dns; mta.example.net";
        r[i].will_retry_until = 0;
    }
    d.mail_params = "RET=FULL ENVID=QQ314159";
    rc |= write_dsn(argv[2], "relayed.eml", &d);
    d.return_path = "";
    for (size_t i = 0; i < n; i++)
        r[i].action = MULE_DSN_FAILED;
    rc |= write_dsn(argv[2], "null", &d);
    free(r);
    mule_envelope_free(&env);
    return rc;
}
