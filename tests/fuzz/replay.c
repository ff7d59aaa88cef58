/* replay.c - run a fuzz target over its seed corpus, as an ordinary test
 * with any compiler: every file in FUZZ_CORPUS (or the directories and
 * files given as arguments) is passed once to LLVMFuzzerTestOneInput.
 * Prints TAP: one line per corpus file.  A crash fails the test.
 */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int replay_count;

/* replay_file - feed one file to the target */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("not ok %d - cannot open %s\n", ++replay_count, path);
        return 1;
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        printf("not ok %d - out of memory reading %s\n", ++replay_count, path);
        return 1;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    const char *base = strrchr(path, '/');
    printf("ok %d - %s (%zu bytes)\n", ++replay_count, base ? base + 1 : path, len);
    return 0;
}

/* replay_path - a file, or every regular file in a directory (sorted) */
static int replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("not ok %d - missing %s\n", ++replay_count, path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        printf("not ok %d - cannot read %s\n", ++replay_count, path);
        return 1;
    }
    int failed = 0;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char full[4096];
            snprintf(full, sizeof full, "%s/%s", path, names[i]->d_name);
            failed |= replay_file(full);
        }
        free(names[i]);
    }
    free(names);
    return failed;
}

/* main - replay the compiled-in corpus or the arguments */
int main(int argc, char **argv)
{
    int failed = 0;
    if (argc > 1)
        for (int i = 1; i < argc; i++)
            failed |= replay_path(argv[i]);
#ifdef FUZZ_CORPUS
    else
        failed |= replay_path(FUZZ_CORPUS);
#endif
    printf("1..%d\n", replay_count);
    return failed;
}
