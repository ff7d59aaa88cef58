/* mule_compress.c - issue 14's P7: the CompressedData (RFC 8494 section 4)
 * of a file with zlib at level 9 and with zopfli ([mule] compress =
 * zopfli), their sizes, ratio and CPU time.  A benchmark, not a test.
 *   bench/mule_compress FILE [ITERATIONS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mule/mule.h"

/* cpu_ms - process CPU time in ms */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: mule_compress FILE [ITERATIONS]\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    static uint8_t buf[16u << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int it = argc > 2 ? atoi(argv[2]) : 15;
    struct util_buf z, zo;
    util_buf_init(&z, 0);
    util_buf_init(&zo, 0);
    double t0 = cpu_ms();
    int rc = mule_cdt_encode(buf, n, 9, &z);
    double t1 = cpu_ms();
    int rc2 = mule_cdt_encode_zopfli(buf, n, it, &zo);
    double t2 = cpu_ms();
    if (rc < 0 || rc2 < 0) {
        fprintf(stderr, "mule_compress: %s\n", mule_strerror(rc < 0 ? rc : rc2));
        return 1;
    }
    printf("P7 %zu bytes: zlib -9 %zu bytes (%.1f ms), zopfli %d iterations %zu bytes (%.1f ms): %.3f\n", n,
           z.len, t1 - t0, it, zo.len, t2 - t1, (double)zo.len / (double)z.len);
    util_buf_free(&z);
    util_buf_free(&zo);
    return 0;
}
