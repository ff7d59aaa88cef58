/* harness.h - mule5066's tiny unit-test harness: TAP output for automake's
 * tap-driver, one line per test case, failures with file:line and values.
 *
 * Usage:
 *     TEST(cursor_reads_u16) { ... CHECK(x); CHECK_EQ(a, b); ... }
 *     int main(void) { RUN(cursor_reads_u16); ... return harness_done(); }
 *
 * A CHECK that fails marks the current test failed and keeps going, so one
 * run reports every broken assertion.  CHECK_EQ compares as long long;
 * CHECK_MEM compares bytes and prints both sides in hex.
 */
#ifndef MULE5066_HARNESS_H
#define MULE5066_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int harness_count;
static int harness_failed_tests;
static int harness_current_failed;

#define TEST(name) static void test_##name(void)

#define RUN(name)                                                          \
    do {                                                                   \
        harness_current_failed = 0;                                        \
        test_##name();                                                     \
        harness_count++;                                                   \
        if (harness_current_failed)                                        \
            harness_failed_tests++;                                        \
        printf("%s %d - %s\n", harness_current_failed ? "not ok" : "ok",   \
               harness_count, #name);                                      \
        fflush(stdout);                                                    \
    } while (0)

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            printf("# %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            harness_current_failed = 1;                                    \
        }                                                                  \
    } while (0)

#define CHECK_EQ(a, b)                                                     \
    do {                                                                   \
        long long harness_a_ = (long long)(a), harness_b_ = (long long)(b); \
        if (harness_a_ != harness_b_) {                                    \
            printf("# %s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld\n",      \
                   __FILE__, __LINE__, #a, #b, harness_a_, harness_b_);     \
            harness_current_failed = 1;                                    \
        }                                                                  \
    } while (0)

#define CHECK_STR(a, b)                                                    \
    do {                                                                   \
        const char *harness_sa_ = (a), *harness_sb_ = (b);                 \
        if (!harness_sa_ || !harness_sb_ || strcmp(harness_sa_, harness_sb_) != 0) { \
            printf("# %s:%d: CHECK_STR(%s, %s) failed: \"%s\" != \"%s\"\n", \
                   __FILE__, __LINE__, #a, #b,                              \
                   harness_sa_ ? harness_sa_ : "(null)",                    \
                   harness_sb_ ? harness_sb_ : "(null)");                   \
            harness_current_failed = 1;                                    \
        }                                                                  \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                        \
    do {                                                                   \
        const char *harness_h_ = (hay), *harness_n_ = (needle);            \
        if (!harness_h_ || !strstr(harness_h_, harness_n_)) {               \
            printf("# %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,   \
                   __LINE__, harness_h_ ? harness_h_ : "(null)", harness_n_); \
            harness_current_failed = 1;                                    \
        }                                                                  \
    } while (0)

/* harness_hexdump - print bytes as a TAP comment */
static inline void harness_hexdump(const char *label, const void *p, size_t n)
{
    const unsigned char *b = (const unsigned char *)p;
    printf("#   %s (%zu):", label, n);
    for (size_t i = 0; i < n; i++)
        printf(" %02x", b[i]);
    printf("\n");
}

#define CHECK_MEM(a, alen, b, blen)                                        \
    do {                                                                   \
        size_t harness_al_ = (size_t)(alen), harness_bl_ = (size_t)(blen);  \
        if (harness_al_ != harness_bl_ || memcmp((a), (b), harness_al_) != 0) { \
            printf("# %s:%d: CHECK_MEM(%s, %s) failed\n", __FILE__, __LINE__, #a, #b); \
            harness_hexdump(#a, (a), harness_al_);                          \
            harness_hexdump(#b, (b), harness_bl_);                          \
            harness_current_failed = 1;                                    \
        }                                                                  \
    } while (0)

/* harness_done - print the TAP plan and return the exit status */
static inline int harness_done(void)
{
    printf("1..%d\n", harness_count);
    return harness_failed_tests ? 1 : 0;
}

#endif /* MULE5066_HARNESS_H */
