/* fuzz_mule_ber.c - fuzz the CompressedData BER decoder and the bounded
 * inflation behind it (mule/cdt.c): any bytes decode or fail with a
 * MULE_ERR_*, a decoded unit's content lies inside the input, and inflation
 * never passes its limit.
 */
#include "fuzz.h"
#include "mule/mule.h"

#define FUZZ_LIMIT (64u * 1024)

/* LLVMFuzzerTestOneInput - decode the input as CompressedData and open it */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    util_log_set_level(UTIL_LOG_ERR); /* mule_cdt_open logs each discard at warn */
    struct mule_cdt cdt;
    int rc = mule_cdt_decode(data, size, &cdt);
    if (rc >= 0) {
        if ((size_t)rc != size || cdt.zdata < data || cdt.zdata + cdt.zlen > data + size ||
            cdt.algorithm != 0 || cdt.content_type != 25)
            __builtin_trap();
    } else if (rc > -301 || rc < -331) {
        __builtin_trap();
    }
    struct util_buf out;
    util_buf_init(&out, 0);
    rc = mule_cdt_open(data, size, FUZZ_LIMIT, "src=fuzz", &out);
    if (out.len > FUZZ_LIMIT || out.cap > FUZZ_LIMIT || (rc < 0 && out.len != 0))
        __builtin_trap();
    util_buf_free(&out);
    /* the raw input as a zlib stream too */
    struct mule_inflate_stats st;
    rc = mule_inflate(data, size, FUZZ_LIMIT, &out, &st);
    if (out.len > FUZZ_LIMIT || st.out_cap > FUZZ_LIMIT)
        __builtin_trap();
    util_buf_free(&out);
    return 0;
}
