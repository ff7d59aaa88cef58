/* fuzz_ctl.c - fuzz the control channel's engine (smtp-gw/control.c,
 * smtpgw_ctl_handle) with the fake gateway of tests/unit/smtpgw_ctl_fake.h:
 * any request line must get a framed reply (`ok\n` + body, or one
 * `error ...\n` line), a JSON body must be valid JSON (RFC 8259), a text
 * body must carry no terminal control bytes; never a crash.  The input is
 * cut at its first NUL (the glue turns NUL into DEL before the engine).
 * The first byte, if it is 0x01, selects a reply limit of 300 bytes.
 */
#include "fuzz.h"
#include "json_check.h"
#include "smtpgw_ctl_fake.h"

#include <stdlib.h>

/* LLVMFuzzerTestOneInput - one request line against a fresh fake gateway */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t limit = 0;
    if (size && data[0] == 0x01) {
        limit = 300;
        data++;
        size--;
    }
    if (size > 4096)
        size = 4096;
    char line[4097];
    memcpy(line, data, size);
    line[size] = '\0';
    static struct fake f;
    fake_init(&f);
    struct util_buf b;
    util_buf_init(&b, limit);
    int rc = smtpgw_ctl_handle(&fake_ops, &f, line, &b);
    const char *r = (const char *)b.data;
    if (b.len == 0) {
        if (!limit || rc >= 0) /* only a limit too small for the error line leaves nothing */
            abort();
    } else if (r[b.len - 1] != '\n') {
        abort();
    } else if (b.len >= 3 && memcmp(r, "ok\n", 3) == 0) {
        if (rc < 0)
            abort();
        const char *body = r + 3;
        size_t n = b.len - 3;
        if (strstr(line, " --json")) {
            if (!json_valid(body, n - 1))
                abort();
        } else {
            for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)body[i];
                if ((ch < 0x20 && ch != '\n') || ch == 0x7f)
                    abort();
            }
        }
    } else if (b.len < 7 || memcmp(r, "error ", 6) != 0 ||
               memchr(r, '\n', b.len) != r + b.len - 1 || rc >= 0) {
        abort();
    }
    util_buf_free(&b);
    return 0;
}
