/* log.c - mule5066's logging: `<module> <event> key=value ...` lines to
 * stderr (with an ISO 8601 UTC timestamp and the level), to syslog(3), or
 * to a caller's sink; a level filter and a trace bit per module.
 *
 * The line format is the project's event log convention (CONTRIBUTING.md),
 * modelled on OpenSMTPD's key=value event logs.
 */
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

enum util_log_target { UTIL_LOG_TARGET_STDERR, UTIL_LOG_TARGET_SYSLOG, UTIL_LOG_TARGET_SINK };

static struct {
    enum util_log_target target;
    enum util_log_level level;
    unsigned trace_bits;
    util_log_sink_fn sink;
    void *sink_user;
    bool echo_stderr; /* syslog's err and warn lines to stderr too (start-up) */
} util_log_state = {UTIL_LOG_TARGET_STDERR, UTIL_LOG_INFO, 0, NULL, NULL, false};

static const char *const util_log_module_names[UTIL_MOD_COUNT] = {
    [UTIL_MOD_UTIL] = "util",   [UTIL_MOD_S5066] = "s5066",   [UTIL_MOD_SIM] = "sim",
    [UTIL_MOD_PMUL] = "pmul",   [UTIL_MOD_MULE] = "mule",     [UTIL_MOD_SMTPGW] = "smtpgw",
    [UTIL_MOD_MAIN] = "main",
};

static const char *const util_log_level_names[] = {"err", "warn", "notice", "info", "debug", "trace"};

/* util_log_to_stderr - write log lines to stderr with a timestamp (the default) */
void util_log_to_stderr(void)
{
    util_log_state.target = UTIL_LOG_TARGET_STDERR;
}

/* util_log_to_syslog - write log lines to syslog under ident */
void util_log_to_syslog(const char *ident)
{
    openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
    util_log_state.target = UTIL_LOG_TARGET_SYSLOG;
}

/* util_log_to_sink - hand every line to fn (tests use it to assert what was logged) */
void util_log_to_sink(util_log_sink_fn fn, void *user)
{
    util_log_state.sink = fn;
    util_log_state.sink_user = user;
    util_log_state.target = fn ? UTIL_LOG_TARGET_SINK : UTIL_LOG_TARGET_STDERR;
}

/* util_log_echo_stderr - while on, err and warn lines sent to syslog are also
 * written to stderr: a daemon's start-up, so that a failure before it runs
 * reaches whoever started it even when syslog keeps nothing */
void util_log_echo_stderr(bool on)
{
    util_log_state.echo_stderr = on;
}

/* util_log_set_level - lines above this level are dropped */
void util_log_set_level(enum util_log_level level)
{
    util_log_state.level = level;
}

/* util_log_get_level - the current level */
enum util_log_level util_log_get_level(void)
{
    return util_log_state.level;
}

/* util_log_parse_level - "err", "warn", "notice", "info", "debug" -> level, or negative */
int util_log_parse_level(const char *name)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(util_log_level_names); i++)
        if (strcmp(name, util_log_level_names[i]) == 0)
            return (int)i;
    return UTIL_ERR_INVAL;
}

/* util_log_module_name - "s5066", "pmul", ... */
const char *util_log_module_name(enum util_log_module module)
{
    if ((unsigned)module >= UTIL_MOD_COUNT)
        return "?";
    return util_log_module_names[module];
}

/* util_log_set_trace - enable tracing for a comma list of modules ("s5066,pmul", "all", "") */
int util_log_set_trace(const char *list)
{
    unsigned bits = 0;
    const char *p = list;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && (*p == ' ')) {
            p++;
            n--;
        }
        while (n && p[n - 1] == ' ')
            n--;
        if (n == 3 && strncmp(p, "all", 3) == 0) {
            bits = (1u << UTIL_MOD_COUNT) - 1;
        } else if (n) {
            int found = -1;
            for (int m = 0; m < UTIL_MOD_COUNT; m++)
                if (strlen(util_log_module_names[m]) == n && strncmp(p, util_log_module_names[m], n) == 0)
                    found = m;
            if (found < 0)
                return UTIL_ERR_UNKNOWN;
            bits |= 1u << found;
        }
        p = end ? end + 1 : NULL;
    }
    util_log_state.trace_bits = bits;
    return UTIL_OK;
}

/* util_log_trace_on - whether module's trace bit is set */
bool util_log_trace_on(enum util_log_module module)
{
    return (unsigned)module < UTIL_MOD_COUNT && (util_log_state.trace_bits & (1u << module));
}

/* util_log_enabled - whether a line at this level from this module would be written */
bool util_log_enabled(enum util_log_level level, enum util_log_module module)
{
    if (level == UTIL_LOG_TRACE)
        return util_log_trace_on(module);
    return level <= util_log_state.level;
}

/* util_log_syslog_priority - syslog priority for a level */
static int util_log_syslog_priority(enum util_log_level level)
{
    switch (level) {
    case UTIL_LOG_ERR: return LOG_ERR;
    case UTIL_LOG_WARN: return LOG_WARNING;
    case UTIL_LOG_NOTICE: return LOG_NOTICE;
    case UTIL_LOG_INFO: return LOG_INFO;
    default: return LOG_DEBUG;
    }
}

/* util_log_write_stderr - one line on stderr with its UTC timestamp and level */
static void util_log_write_stderr(enum util_log_level level, const char *line)
{
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %-6s %s\n", stamp, ts.tv_nsec / 1000000L,
            util_log_level_names[level], line);
}

/* The last err or warning line, for status displays (mulectl status). */
static struct {
    char line[512];
    enum util_log_level level;
    int64_t when;
} last_problem;

/* util_log_last_problem - the last err/warning line written (or filtered
 * in: only lines that pass the level), its level and UNIX time; false if none */
bool util_log_last_problem(char *out, size_t cap, enum util_log_level *level, int64_t *when)
{
    if (!last_problem.when)
        return false;
    if (out && cap)
        snprintf(out, cap, "%s", last_problem.line);
    if (level)
        *level = last_problem.level;
    if (when)
        *when = last_problem.when;
    return true;
}

/* util_vlog - va_list form of util_log */
void util_vlog(enum util_log_level level, enum util_log_module module, const char *event,
               const char *fmt, va_list ap)
{
    if (!util_log_enabled(level, module))
        return;
    char line[2048];
    int n = snprintf(line, sizeof line, "%s %s", util_log_module_name(module), event);
    if (n < 0)
        return;
    if (fmt && *fmt && (size_t)n < sizeof line - 1) {
        line[n++] = ' ';
        line[n] = '\0';
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    }
    /* Never let a peer's bytes forge a second log line. */
    for (char *c = line; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    if (level <= UTIL_LOG_WARN) {
        size_t len = strnlen(line, sizeof last_problem.line - 1);
        memcpy(last_problem.line, line, len);
        last_problem.line[len] = '\0';
        last_problem.level = level;
        last_problem.when = (int64_t)time(NULL);
    }

    switch (util_log_state.target) {
    case UTIL_LOG_TARGET_SINK:
        util_log_state.sink(util_log_state.sink_user, level, module, line);
        break;
    case UTIL_LOG_TARGET_SYSLOG:
        syslog(util_log_syslog_priority(level), "%s", line);
        if (util_log_state.echo_stderr && level <= UTIL_LOG_WARN)
            util_log_write_stderr(level, line);
        break;
    case UTIL_LOG_TARGET_STDERR: util_log_write_stderr(level, line); break;
    }
}

/* util_log - write `<module> <event> <fmt...>` at a level */
void util_log(enum util_log_level level, enum util_log_module module, const char *event,
              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    util_vlog(level, module, event, fmt, ap);
    va_end(ap);
}
