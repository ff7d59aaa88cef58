/* fuzz_mule_bsmtp.c - fuzz the BSMTP-like payload parser (mule/payload.c)
 * and what reads its parameters (prio.c, dsn.c): any bytes parse or fail
 * with a MULE_ERR_*; a parsed envelope builds again and parses back to the
 * same addresses and parameters.
 */
#include <string.h>

#include "fuzz.h"
#include "mule/mule.h"

/* LLVMFuzzerTestOneInput - parse the input as a payload and use the result */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mule_envelope env;
    int off = mule_payload_parse(data, size, 4096, &env);
    if (off < 0) {
        if (off > -301 && off != UTIL_ERR_NOMEM)
            __builtin_trap();
        return 0;
    }
    if ((size_t)off > size || env.n_rcpts == 0 || off > 4096)
        __builtin_trap();
    struct util_buf b;
    util_buf_init(&b, 0);
    if (mule_payload_build(&env, data + off, size - (size_t)off, &b) != 0)
        __builtin_trap();
    struct mule_envelope back;
    int off2 = mule_payload_parse(b.data, b.len, 0, &back);
    if (off2 < 0 || back.n_rcpts != env.n_rcpts || strcmp(back.from, env.from) != 0 ||
        strcmp(back.from_params, env.from_params) != 0 ||
        b.len - (size_t)off2 != size - (size_t)off)
        __builtin_trap();
    for (size_t i = 0; i < env.n_rcpts; i++)
        if (strcmp(back.rcpts[i].addr, env.rcpts[i].addr) != 0 ||
            strcmp(back.rcpts[i].params, env.rcpts[i].params) != 0)
            __builtin_trap();
    mule_envelope_free(&back);
    /* the parameters feed priority, expiry and DSN decisions */
    struct mule_prio p;
    struct mule_expiry e;
    char rewritten[4200];
    mule_prio_defaults(&p);
    mule_expiry_compute(&p, env.from_params, 1700000000, &e);
    mule_deliverby_rewrite(env.from_params, 100, rewritten, sizeof rewritten);
    for (size_t i = 0; i < env.n_rcpts; i++) {
        mule_dsn_wanted(env.rcpts[i].params, MULE_DSN_FAILED);
        (void)mule_address_domain(env.rcpts[i].addr);
    }
    struct mule_dsn_rcpt r = {
        env.rcpts[0].addr, env.rcpts[0].params, MULE_DSN_FAILED, "5.4.7", NULL, NULL, 0};
    struct mule_dsn d = {env.from,           env.from_params,  &r,         1, data + off,
                         size - (size_t)off, "gw.example.mil", 1700000000, 0, false};
    util_buf_reset(&b);
    int n = mule_dsn_build(&d, &b);
    if (n < 0 && n != MULE_ERR_INVAL)
        __builtin_trap();
    if (n == 0 && b.len != 0)
        __builtin_trap();
    util_buf_free(&b);
    mule_envelope_free(&env);
    return 0;
}
