/* mule_golden.h - golden files for the mule unit tests: tests/data/mule/.
 * golden_check() compares bytes with a file; with MULE_UPDATE_GOLDEN=1 in
 * the environment it (re)writes the file instead, to be reviewed by eye.
 */
#ifndef MULE5066_MULE_GOLDEN_H
#define MULE5066_MULE_GOLDEN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MULE_DATA_DIR
#error "MULE_DATA_DIR must name tests/data/mule"
#endif

/* golden_path - the full path of a golden file */
static inline const char *golden_path(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", MULE_DATA_DIR, name);
    return path;
}

/* golden_read - the whole file (malloc'd, NUL-terminated), NULL if missing */
static inline uint8_t *golden_read(const char *name, size_t *len)
{
    FILE *f = fopen(golden_path(name), "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, r;
    uint8_t *b = malloc(cap + 1);
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            uint8_t *nb = realloc(b, cap * 2 + 1);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (b)
        b[n] = 0;
    *len = n;
    return b;
}

/* golden_check - whether data equals the golden file (or rewrite it) */
static inline int golden_check(const char *name, const void *data, size_t len)
{
    const char *up = getenv("MULE_UPDATE_GOLDEN");
    if (up && *up == '1') {
        FILE *f = fopen(golden_path(name), "wb");
        if (!f)
            return 0;
        fwrite(data, 1, len, f);
        fclose(f);
        printf("# wrote golden %s (%zu bytes)\n", name, len);
        return 1;
    }
    size_t glen;
    uint8_t *g = golden_read(name, &glen);
    int ok = g && glen == len && memcmp(g, data, len) == 0;
    if (!ok)
        printf("# golden %s differs (%zu bytes, want %zu)\n", name, len, g ? glen : 0);
    free(g);
    return ok;
}

#endif
