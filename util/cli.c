/* cli.c - what every mule5066 program says on its command line, the GNU
 * way: `PROG --version` prints "PROG (mule5066) VERSION" (PACKAGE_NAME and
 * PACKAGE_VERSION of config.h), a usage error ends with "Try 'PROG --help'
 * for more information." on stderr, and --help or --version that cannot be
 * written (stdout full or closed) fail instead of exiting 0.
 */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* util_stdout_done - flush stdout after --help or --version; the exit status:
 * 0, or 1 with a message on stderr when the text could not be written */
int util_stdout_done(const char *prog)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    fprintf(stderr, "%s: write error%s%s\n", prog, errno ? ": " : "", errno ? strerror(errno) : "");
    return 1;
}

/* util_print_version - "PROG (mule5066) VERSION" on stdout; the exit status */
int util_print_version(const char *prog)
{
    printf("%s (%s) %s\n", prog, PACKAGE_NAME, PACKAGE_VERSION);
    return util_stdout_done(prog);
}

/* util_usage_error - "PROG: message" (unless fmt is NULL: getopt has
 * already said what is wrong) and the --help hint, on stderr */
void util_usage_error(const char *prog, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s: ", prog);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    fprintf(stderr, "Try '%s --help' for more information.\n", prog);
}
