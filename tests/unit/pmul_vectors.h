/* pmul_vectors.h - the recorded libjpmul PDUs in tests/data/pmul/acp142-libjpmul
 * (PMUL_VECTORS, set by tests/pmul.mk): one .hex file per PDU, comment
 * lines stating its checksums.  For the P_MUL unit tests.
 */
#ifndef MULE5066_TESTS_PMUL_VECTORS_H
#define MULE5066_TESTS_PMUL_VECTORS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#ifndef PMUL_VECTORS
#define PMUL_VECTORS "tests/data/pmul/acp142-libjpmul"
#endif

/* A vector file: the PDU bytes and the checksums its comment states. */
struct vector {
    uint8_t pdu[256];
    size_t len;
    unsigned fletcher, rfc1071;
};

/* load_vector - read PMUL_VECTORS/<name>.hex; 0 or -1 */
static inline int load_vector(const char *name, struct vector *v)
{
    char path[1024], line[1024], hexbuf[1024] = "";
    snprintf(path, sizeof path, "%s/%s.hex", PMUL_VECTORS, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("# cannot open %s\n", path);
        return -1;
    }
    v->fletcher = v->rfc1071 = 0x10000;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') {
            const char *a = strstr(line, "Fletcher(offset 6)=0x");
            const char *b = strstr(line, "RFC1071=0x");
            if (a)
                v->fletcher = (unsigned)strtoul(a + strlen("Fletcher(offset 6)=0x"), NULL, 16);
            if (b)
                v->rfc1071 = (unsigned)strtoul(b + strlen("RFC1071=0x"), NULL, 16);
            continue;
        }
        strncat(hexbuf, line, sizeof hexbuf - strlen(hexbuf) - 1);
    }
    fclose(f);
    int n = util_hex_decode(hexbuf, v->pdu, sizeof v->pdu);
    if (n <= 0)
        return -1;
    v->len = (size_t)n;
    return 0;
}

#endif /* MULE5066_TESTS_PMUL_VECTORS_H */
