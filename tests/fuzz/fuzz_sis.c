/* fuzz_sis.c - fuzz the STANAG 5066 Annex A SIS codec (s5066/sis_codec.c,
 * A.2.2): any bytes must decode or fail with an S5066_ERR_* code, never
 * crash; whatever decodes must re-encode to the same bytes and decode to
 * the same fields; the stream decoder fed the input in random-sized chunks
 * must stay within its limit and agree with the one-shot decoder.
 */
#include "fuzz.h"
#include "s5066/s5066.h"

#include <stdlib.h>
#include <string.h>

/* check_roundtrip - re-encode p (decoded from in[0..n)) and decode it again */
static void check_roundtrip(const struct s5066_prim *p, const uint8_t *in, size_t n)
{
    static uint8_t out[S5066_HDR_LEN + S5066_MAX_SIZE];
    int len = s5066_encoded_len(p);
    if (len < 0 || (size_t)len != n)
        abort();
    int w = s5066_encode(p, out, sizeof out);
    if (w != len || memcmp(out, in, n) != 0)
        abort();
    struct s5066_prim q;
    if (s5066_decode(out, (size_t)w, &q) != w || !s5066_prim_equal(p, &q))
        abort();
}

/* next_rand - xorshift32 step */
static uint32_t next_rand(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* LLVMFuzzerTestOneInput - one-shot decode, round trip, and the stream decoder */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct s5066_prim p;
    int rc = s5066_decode(data, size, &p);
    if (rc > 0)
        check_roundtrip(&p, data, (size_t)rc);
    else if (rc == 0 || s5066_strerror(rc)[0] == '\0')
        abort();

    /* chunk sizes from a seed derived from the input (FNV-1a) */
    uint32_t seed = 2166136261u;
    for (size_t i = 0; i < size; i++)
        seed = (seed ^ data[i]) * 16777619u;
    if (seed == 0)
        seed = 1;
    size_t max_size = size > 0 ? 16 + data[0] * 32u : 64; /* small limits too */
    struct s5066_stream st;
    s5066_stream_init(&st, max_size);
    size_t off = 0, skipped = 0, yielded = 0;
    while (off < size) {
        size_t chunk = 1 + next_rand(&seed) % 64;
        if (chunk > size - off)
            chunk = size - off;
        while (chunk > 0) {
            size_t taken;
            if (s5066_stream_feed(&st, data + off, chunk, &taken) < 0)
                abort();
            off += taken;
            chunk -= taken;
            if (s5066_stream_buffered(&st) > S5066_HDR_LEN + st.max_size)
                abort();
            for (int guard = 0;; guard++) {
                if (guard > 100000)
                    abort(); /* no progress */
                rc = s5066_stream_next(&st, &p);
                if (rc == 0)
                    break;
                if (rc > 0) {
                    yielded++;
                    static uint8_t buf[S5066_HDR_LEN + S5066_MAX_SIZE];
                    int w = s5066_encode(&p, buf, sizeof buf);
                    if (w <= 0)
                        abort();
                    check_roundtrip(&p, buf, (size_t)w);
                }
            }
            skipped += s5066_stream_take_skipped(&st);
            if (taken == 0 && chunk > 0 && s5066_stream_buffered(&st) >= S5066_HDR_LEN + st.max_size)
                abort(); /* full and stuck */
        }
    }
    if (skipped > size || yielded * 6 > size)
        abort();
    s5066_stream_free(&st);
    return 0;
}
