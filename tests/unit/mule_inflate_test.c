/* mule_inflate_test.c - bounded inflation (mule/cdt.c mule_inflate): a
 * small zlib stream that inflates past the configured maximum message size
 * is rejected as soon as the output would pass the limit, and memory stays
 * under the limit: the output buffer never grows past it, zlib's own state
 * is counted, and the process's peak RSS (getrusage) barely moves.  Its own
 * program, so the RSS high-water mark is not hidden by other tests.
 */
#include <sys/resource.h>
#include <zlib.h>

#include "harness.h"
#include "mule/mule.h"

/* maxrss_kb - the process's peak resident set so far, in KiB */
static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* zeros_stream - a level-9 zlib stream of `total` zero bytes, made in small steps */
static uint8_t *zeros_stream(size_t total, size_t *zlen)
{
    static uint8_t zeros[64 * 1024];
    z_stream s;
    memset(&s, 0, sizeof s);
    if (deflateInit(&s, 9) != Z_OK)
        return NULL;
    size_t cap = total / 512 + 4096, n = 0;
    uint8_t *out = malloc(cap);
    while (out) {
        size_t chunk = total > sizeof zeros ? sizeof zeros : total;
        total -= chunk;
        s.next_in = zeros;
        s.avail_in = (uInt)chunk;
        int flush = total ? Z_NO_FLUSH : Z_FINISH;
        int rc;
        do {
            s.next_out = out + n;
            s.avail_out = (uInt)(cap - n);
            rc = deflate(&s, flush);
            n = cap - s.avail_out;
        } while (s.avail_out == 0 && rc == Z_OK);
        if (flush == Z_FINISH)
            break;
    }
    deflateEnd(&s);
    *zlen = n;
    return out;
}

/* bomb - inflate `total` zeros from a small stream under a limit and check the bounds */
static void bomb(size_t total, size_t limit, size_t max_stream)
{
    size_t zlen = 0;
    uint8_t *z = zeros_stream(total, &zlen);
    CHECK(z != NULL);
    if (!z)
        return;
    printf("# %zu zero bytes -> %zu byte zlib stream, limit %zu\n", total, zlen, limit);
    CHECK(zlen <= max_stream);
    /* also wrap it as CompressedData: the whole receive path */
    struct util_buf cdt;
    util_buf_init(&cdt, 0);
    CHECK_EQ(mule_cdt_wrap(z, zlen, &cdt), 0);
    long before = maxrss_kb();
    struct util_buf out;
    util_buf_init(&out, 0);
    struct mule_inflate_stats st;
    CHECK_EQ(mule_inflate(z, zlen, limit, &out, &st), MULE_ERR_TOO_BIG);
    CHECK_EQ(out.len, 0);
    printf("# output buffer %zu bytes, zlib peak %zu bytes\n", st.out_cap, st.zlib_peak);
    CHECK(st.out_cap <= limit);
    CHECK(st.zlib_peak <= 64 * 1024);
    util_buf_free(&out);
    util_buf_init(&out, 0);
    CHECK_EQ(mule_cdt_open(cdt.data, cdt.len, limit, "src=10.0.0.66 msgid=1", &out),
             MULE_ERR_TOO_BIG);
    long grew = maxrss_kb() - before;
    printf("# peak RSS grew by %ld KiB\n", grew);
    /* exact: the output buffer plus what zlib held stays within the limit and
     * zlib's fixed ~40 KiB; coarse (RSS, with allocator and sanitizer slack,
     * e.g. ASan's quarantine of the buffer's earlier sizes): nowhere near `total` */
    CHECK(st.out_cap + st.zlib_peak <= limit + 64 * 1024);
    CHECK(grew * 1024L < (long)(4 * limit + 4 * 1024 * 1024));
    if (total >= 16 * limit)
        CHECK(grew * 1024L < (long)total / 16);
    util_buf_free(&out);
    util_buf_free(&cdt);
    free(z);
}

TEST(one_kilobyte_stream_over_the_limit)
{
    /* 1 MiB of zeros compresses to about 1 kB; the limit is 256 KiB */
    bomb(1024 * 1024, 256 * 1024, 1100);
}

TEST(hundred_megabytes_under_one_megabyte_limit)
{
    bomb(100u * 1024 * 1024, 1024 * 1024, 110 * 1024);
}

TEST(caller_buffer_limit_is_kept)
{
    size_t zlen;
    uint8_t *z = zeros_stream(64 * 1024, &zlen);
    struct util_buf out;
    util_buf_init(&out, 1000); /* the caller's own limit is smaller */
    CHECK_EQ(mule_inflate(z, zlen, 1u << 20, &out, NULL), MULE_ERR_TOO_BIG);
    CHECK(out.cap <= 1000);
    CHECK_EQ(out.len, 0);
    CHECK_EQ(out.limit, 1000);
    util_buf_free(&out);
    free(z);
}

TEST(head_of_a_bomb_is_kept_and_bounded)
{
    /* what the receiver reads of a message too big to take: its first bytes */
    size_t zlen;
    uint8_t *z = zeros_stream(10u * 1024 * 1024, &zlen);
    struct util_buf out;
    util_buf_init(&out, 0);
    util_buf_append(&out, "x", 1); /* appended after what is there */
    CHECK_EQ(mule_inflate_head(z, zlen, 4096, &out), MULE_ERR_TOO_BIG);
    CHECK_EQ(out.len, 4097);
    CHECK(out.cap <= 4097 + 64 * 1024);
    CHECK_EQ(out.data[0], 'x');
    CHECK_EQ(out.data[4096], 0);
    util_buf_free(&out);
    free(z);
    /* a stream shorter than the head: all of it, and no error */
    z = zeros_stream(1000, &zlen);
    util_buf_init(&out, 0);
    CHECK_EQ(mule_inflate_head(z, zlen, 4096, &out), 0);
    CHECK_EQ(out.len, 1000);
    util_buf_free(&out);
    free(z);
}

/* main - the bomb tests first, while the RSS high-water mark is low */
int main(void)
{
    util_log_set_level(UTIL_LOG_ERR);
    RUN(one_kilobyte_stream_over_the_limit);
    RUN(hundred_megabytes_under_one_megabyte_limit);
    RUN(caller_buffer_limit_is_kept);
    RUN(head_of_a_bomb_is_kept_and_bounded);
    return harness_done();
}
