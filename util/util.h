/* util.h - mule5066 generic helpers: error codes, byte buffers, read/write
 * cursors with a sticky error, big-endian fields, logging, the INI config
 * parser, --version and usage errors, monotonic time, a seeded PRNG, an
 * intrusive timer heap and list.
 *
 * This is util's one public header.  Nothing here knows about STANAG 5066,
 * P_MUL or mail.  See CONTRIBUTING.md for the conventions it sets:
 * negative error codes with util_strerror(), `module event key=value`
 * log lines, and the codec/engine/glue split.
 */
#ifndef MULE5066_UTIL_H
#define MULE5066_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define UTIL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define UTIL_UNUSED __attribute__((unused))
#else
#define UTIL_PRINTF(fmt, args)
#define UTIL_UNUSED
#endif

#define UTIL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define UTIL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define UTIL_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- error codes ------------------------------------------------------ */

enum util_error {
    UTIL_OK = 0,
    UTIL_ERR_NOMEM = -1,     /* allocation failed or limit reached */
    UTIL_ERR_TRUNCATED = -2, /* read past the end of the input */
    UTIL_ERR_OVERFLOW = -3,  /* write past the end of the output */
    UTIL_ERR_INVAL = -4,     /* invalid argument */
    UTIL_ERR_IO = -5,        /* file or system error (see errno) */
    UTIL_ERR_SYNTAX = -6,    /* config syntax error */
    UTIL_ERR_UNKNOWN = -7,   /* unknown key or section */
    UTIL_ERR_RANGE = -8,     /* value out of range */
    UTIL_ERR_TYPE = -9,      /* value of the wrong type */
    UTIL_ERR_MISSING = -10,  /* required key absent */
    UTIL_ERR_DUPLICATE = -11 /* key given twice */
};

/* util_strerror - text for a UTIL_ERR_* code */
const char *util_strerror(int err);

/* ---- growable byte buffer ----------------------------------------------- */

/* A heap byte buffer that grows on demand up to `limit` bytes (0 = no
 * limit).  Bytes are appended at the end and consumed from the front. */
struct util_buf {
    uint8_t *data;
    size_t len;   /* bytes held */
    size_t cap;   /* bytes allocated */
    size_t limit; /* maximum len, 0 for none */
};

/* util_buf_init - an empty buffer that may hold up to `limit` bytes */
void util_buf_init(struct util_buf *b, size_t limit);
/* util_buf_free - release the memory and empty the buffer */
void util_buf_free(struct util_buf *b);
/* util_buf_reserve - make room for `extra` more bytes; UTIL_ERR_NOMEM past the limit */
int util_buf_reserve(struct util_buf *b, size_t extra);
/* util_buf_append - copy n bytes to the end */
int util_buf_append(struct util_buf *b, const void *p, size_t n);
/* util_buf_append_str - append a NUL-terminated string (without the NUL) */
int util_buf_append_str(struct util_buf *b, const char *s);
/* util_buf_printf - append formatted text */
int util_buf_printf(struct util_buf *b, const char *fmt, ...) UTIL_PRINTF(2, 3);
/* util_buf_consume - drop n bytes from the front */
void util_buf_consume(struct util_buf *b, size_t n);
/* util_buf_reset - forget the contents, keep the memory */
void util_buf_reset(struct util_buf *b);

/* ---- cursors with a sticky error ---------------------------------------- */

/* A reader over const bytes.  Reading past the end sets err to
 * UTIL_ERR_TRUNCATED; from then on every call returns zero and does nothing,
 * so a decoder reads all its fields and checks util_rd_error() once. */
struct util_reader {
    const uint8_t *data;
    size_t len;
    size_t pos;
    int err;
};

/* util_rd_init - a reader over len bytes at data */
void util_rd_init(struct util_reader *r, const void *data, size_t len);
/* util_rd_u8 - next byte, 0 after an error */
uint8_t util_rd_u8(struct util_reader *r);
/* util_rd_u16 - next big-endian 16-bit field */
uint16_t util_rd_u16(struct util_reader *r);
/* util_rd_u24 - next big-endian 24-bit field */
uint32_t util_rd_u24(struct util_reader *r);
/* util_rd_u32 - next big-endian 32-bit field */
uint32_t util_rd_u32(struct util_reader *r);
/* util_rd_u64 - next big-endian 64-bit field */
uint64_t util_rd_u64(struct util_reader *r);
/* util_rd_bytes - copy n bytes out (zero-filled after an error) */
void util_rd_bytes(struct util_reader *r, void *out, size_t n);
/* util_rd_ptr - pointer to the next n bytes and advance, NULL on error */
const uint8_t *util_rd_ptr(struct util_reader *r, size_t n);
/* util_rd_skip - advance n bytes */
void util_rd_skip(struct util_reader *r, size_t n);
/* util_rd_remaining - bytes left, 0 after an error */
size_t util_rd_remaining(const struct util_reader *r);
/* util_rd_error - 0 or the sticky error */
static inline int util_rd_error(const struct util_reader *r) { return r->err; }
/* util_rd_fail - set the sticky error (a decoder's own consistency check) */
void util_rd_fail(struct util_reader *r, int err);

/* A writer into a caller's buffer of `cap` bytes.  Writing past the end
 * sets err to UTIL_ERR_OVERFLOW and nothing more is written. */
struct util_writer {
    uint8_t *data;
    size_t cap;
    size_t pos;
    int err;
};

/* util_wr_init - a writer into cap bytes at data (data may be NULL if cap is 0) */
void util_wr_init(struct util_writer *w, void *data, size_t cap);
/* util_wr_u8 - append one byte */
void util_wr_u8(struct util_writer *w, uint8_t v);
/* util_wr_u16 - append a big-endian 16-bit field */
void util_wr_u16(struct util_writer *w, uint16_t v);
/* util_wr_u24 - append a big-endian 24-bit field (top 8 bits of v must be 0) */
void util_wr_u24(struct util_writer *w, uint32_t v);
/* util_wr_u32 - append a big-endian 32-bit field */
void util_wr_u32(struct util_writer *w, uint32_t v);
/* util_wr_u64 - append a big-endian 64-bit field */
void util_wr_u64(struct util_writer *w, uint64_t v);
/* util_wr_bytes - append n bytes */
void util_wr_bytes(struct util_writer *w, const void *p, size_t n);
/* util_wr_zero - append n zero bytes */
void util_wr_zero(struct util_writer *w, size_t n);
/* util_wr_put_u16_at - overwrite a 16-bit field already written at off */
void util_wr_put_u16_at(struct util_writer *w, size_t off, uint16_t v);
/* util_wr_len - bytes written so far */
static inline size_t util_wr_len(const struct util_writer *w) { return w->pos; }
/* util_wr_error - 0 or the sticky error */
static inline int util_wr_error(const struct util_writer *w) { return w->err; }
/* util_wr_fail - set the sticky error (an encoder's own consistency check) */
void util_wr_fail(struct util_writer *w, int err);

/* Plain big-endian loads and stores for code that has already checked lengths. */
/* util_get_u16 - load a big-endian 16-bit value */
static inline uint16_t util_get_u16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
/* util_get_u32 - load a big-endian 32-bit value */
static inline uint32_t util_get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
/* util_put_u16 - store a big-endian 16-bit value */
static inline void util_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
/* util_put_u32 - store a big-endian 32-bit value */
static inline void util_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* util_hex_decode - parse hex digits (whitespace ignored) into out; bytes or negative */
int util_hex_decode(const char *hex, uint8_t *out, size_t cap);
/* util_hex_encode - lower-case hex of n bytes into out (2n+1 bytes); returns out */
char *util_hex_encode(const uint8_t *p, size_t n, char *out);

/* ---- durability (fsync.c) --------------------------------------------------- */

/* util_fsync_all - fsync n descriptors at once (a pool of threads: fsyncs
 * in flight together share the file system's journal commits); blocks
 * until all are done; errs[i] = 0 or fds[i]'s errno; the number failed */
size_t util_fsync_all(const int *fds, size_t n, int *errs);

/* ---- logging -------------------------------------------------------------- */

/* Every line is `<module> <event> key=value ...`.  The level filters; a
 * trace bit per module enables UTIL_LOG_TRACE lines for that module only. */
enum util_log_level {
    UTIL_LOG_ERR = 0,
    UTIL_LOG_WARN = 1,
    UTIL_LOG_NOTICE = 2,
    UTIL_LOG_INFO = 3,
    UTIL_LOG_DEBUG = 4,
    UTIL_LOG_TRACE = 5
};

enum util_log_module {
    UTIL_MOD_UTIL = 0,
    UTIL_MOD_S5066,
    UTIL_MOD_SIM,
    UTIL_MOD_PMUL,
    UTIL_MOD_MULE,
    UTIL_MOD_SMTPGW,
    UTIL_MOD_MAIN,
    UTIL_MOD_COUNT
};

/* A test or a program may take every formatted line through a sink. */
typedef void (*util_log_sink_fn)(void *user, enum util_log_level level,
                                 enum util_log_module module, const char *line);

/* util_log_to_stderr - write log lines to stderr with a timestamp (the default) */
void util_log_to_stderr(void);
/* util_log_to_syslog - write log lines to syslog under ident */
void util_log_to_syslog(const char *ident);
/* util_log_to_sink - hand every line to fn (tests use it to assert what was logged) */
void util_log_to_sink(util_log_sink_fn fn, void *user);
/* util_log_echo_stderr - while on, err and warn lines sent to syslog are also
 * written to stderr: a daemon's start-up, so that a failure before it runs
 * reaches whoever started it even when syslog keeps nothing */
void util_log_echo_stderr(bool on);
/* util_log_set_level - lines above this level are dropped */
void util_log_set_level(enum util_log_level level);
/* util_log_get_level - the current level */
enum util_log_level util_log_get_level(void);
/* util_log_parse_level - "err", "warn", "notice", "info", "debug" -> level, or negative */
int util_log_parse_level(const char *name);
/* util_log_set_trace - enable tracing for a comma list of modules ("s5066,pmul", "all", "") */
int util_log_set_trace(const char *list);
/* util_log_trace_on - whether module's trace bit is set */
bool util_log_trace_on(enum util_log_module module);
/* util_log_module_name - "s5066", "pmul", ... */
const char *util_log_module_name(enum util_log_module module);
/* util_log_enabled - whether a line at this level from this module would be written */
bool util_log_enabled(enum util_log_level level, enum util_log_module module);
/* util_log_last_problem - the last err/warning line logged (truncated to
 * cap), its level and UNIX time; false if there was none */
bool util_log_last_problem(char *out, size_t cap, enum util_log_level *level, int64_t *when);
/* util_log - write `<module> <event> <fmt...>` at a level */
void util_log(enum util_log_level level, enum util_log_module module, const char *event,
              const char *fmt, ...) UTIL_PRINTF(4, 5);
/* util_vlog - va_list form of util_log */
void util_vlog(enum util_log_level level, enum util_log_module module, const char *event,
               const char *fmt, va_list ap) UTIL_PRINTF(4, 0);

#define UTIL_LOG_ERR_(mod, ev, ...) util_log(UTIL_LOG_ERR, (mod), (ev), __VA_ARGS__)
#define UTIL_TRACE(mod, ev, ...)                                          \
    do {                                                                  \
        if (util_log_trace_on(mod))                                       \
            util_log(UTIL_LOG_TRACE, (mod), (ev), __VA_ARGS__);           \
    } while (0)

/* ---- INI configuration -------------------------------------------------- */

/* Config files are INI style:
 *
 *     # comment            ; comment
 *     [section]            [section name]     (a typed, named section)
 *     key = value          value may be "quoted" to keep spaces / # ;
 *
 * The parser keeps every key with its file and line.  A program looks up
 * each key it knows with a typed getter (which checks type and range) and
 * then calls util_conf_check_unused(): any key never looked up is an
 * unknown key, rejected with file:line.  Errors are never silently
 * defaulted; the first one is kept in util_conf_error(). */
struct util_conf;
struct util_conf_section;

/* util_conf_load - parse a file; NULL with *err set (and errbuf filled) on failure */
struct util_conf *util_conf_load(const char *path, char *errbuf, size_t errlen, int *err);
/* util_conf_parse - parse text held in memory; `name` stands for the file in messages */
struct util_conf *util_conf_parse(const char *name, const char *text, size_t len, char *errbuf,
                                  size_t errlen, int *err);
/* util_conf_free - release a parsed config */
void util_conf_free(struct util_conf *conf);
/* util_conf_error - the first error's message ("file:line: key: problem"), or "" */
const char *util_conf_error(const struct util_conf *conf);
/* util_conf_errcode - the first error's code, or 0 */
int util_conf_errcode(const struct util_conf *conf);

/* util_conf_section - the first section with this type (and name, if non-NULL) */
struct util_conf_section *util_conf_section(struct util_conf *conf, const char *type,
                                            const char *name);
/* util_conf_next_section - the section of this type after prev (prev NULL: the first) */
struct util_conf_section *util_conf_next_section(struct util_conf *conf, const char *type,
                                                 struct util_conf_section *prev);
/* util_conf_section_type - "node" for [node alpha] */
const char *util_conf_section_type(const struct util_conf_section *s);
/* util_conf_section_name - "alpha" for [node alpha], "" for [node] */
const char *util_conf_section_name(const struct util_conf_section *s);
/* util_conf_section_line - the line of the section header */
int util_conf_section_line(const struct util_conf_section *s);
/* util_conf_section_keys - number of keys in a section */
size_t util_conf_section_keys(const struct util_conf_section *s);
/* util_conf_section_key_at - the i-th key's name and value (marks it used) */
int util_conf_section_key_at(struct util_conf_section *s, size_t i, const char **key,
                             const char **value, int *line);

/* Typed getters.  `s` may be NULL (a missing section): the default is used.
 * They return 0, or a negative code after recording the error. */
/* util_conf_str - a string value (pointer valid while conf lives) */
int util_conf_str(struct util_conf *conf, struct util_conf_section *s, const char *key,
                  const char *def, const char **out);
/* util_conf_str_required - a string value that must be present */
int util_conf_str_required(struct util_conf *conf, struct util_conf_section *s, const char *key,
                           const char **out);
/* util_conf_int - an integer in [min, max] (decimal, 0x hex) */
int util_conf_int(struct util_conf *conf, struct util_conf_section *s, const char *key,
                  long long def, long long min, long long max, long long *out);
/* util_conf_bool - yes/no, true/false, on/off, 1/0 */
int util_conf_bool(struct util_conf *conf, struct util_conf_section *s, const char *key,
                   bool def, bool *out);
/* util_conf_double - a real number in [min, max] */
int util_conf_double(struct util_conf *conf, struct util_conf_section *s, const char *key,
                     double def, double min, double max, double *out);
/* util_conf_duration_ms - "250ms", "30s", "5m", "2h", "1d" or plain seconds, in [min, max] ms */
int util_conf_duration_ms(struct util_conf *conf, struct util_conf_section *s, const char *key,
                          uint64_t def, uint64_t min, uint64_t max, uint64_t *out);
/* util_conf_size - "512", "64k", "10M", "1G" bytes, in [min, max] */
int util_conf_size(struct util_conf *conf, struct util_conf_section *s, const char *key,
                   uint64_t def, uint64_t min, uint64_t max, uint64_t *out);
/* util_conf_enum - one of names[] (NULL-terminated) -> its index */
int util_conf_enum(struct util_conf *conf, struct util_conf_section *s, const char *key,
                   const char *const *names, int def, int *out);
/* util_conf_fail - record a caller's own error against a key ("file:line: key: msg") */
int util_conf_fail(struct util_conf *conf, struct util_conf_section *s, const char *key, int err,
                   const char *fmt, ...) UTIL_PRINTF(5, 6);
/* util_conf_check_unused - reject the first key or section nobody looked up */
int util_conf_check_unused(struct util_conf *conf);

/* Plain value parsers shared with command-line options. */
/* util_parse_int - a whole string as an integer in [min, max] */
int util_parse_int(const char *s, long long min, long long max, long long *out);
/* util_parse_duration_ms - a whole string as a duration in milliseconds */
int util_parse_duration_ms(const char *s, uint64_t *out);
/* util_parse_size - a whole string as a byte count with k/M/G suffix */
int util_parse_size(const char *s, uint64_t *out);
/* util_parse_bool - a whole string as a boolean */
int util_parse_bool(const char *s, bool *out);

/* ---- command line (cli.c) --------------------------------------------------- */

/* util_print_version - "PROG (mule5066) VERSION" on stdout; the exit status */
int util_print_version(const char *prog);
/* util_usage_error - "PROG: message" (none if fmt is NULL, as after getopt's
 * own) and "Try 'PROG --help' for more information." on stderr */
void util_usage_error(const char *prog, const char *fmt, ...) UTIL_PRINTF(2, 3);
/* util_stdout_done - flush stdout after --help or --version; the exit status:
 * 0, or 1 with a message on stderr when the text could not be written */
int util_stdout_done(const char *prog);

/* ---- time ------------------------------------------------------------------ */

/* Milliseconds on the monotonic clock.  Only glue calls this: engines get
 * `now` passed in. */
typedef uint64_t util_ms;
#define UTIL_MS_NEVER UINT64_MAX

/* util_now_ms - CLOCK_MONOTONIC in milliseconds */
util_ms util_now_ms(void);
/* util_wall_s - wall-clock UNIX seconds (for Expiry_Time and logs) */
int64_t util_wall_s(void);
/* util_time_iso - UNIX seconds as ISO 8601 UTC ("2026-12-03T14:05:10Z") into buf
 * (>= UTIL_TIME_ISO_LEN); returns buf.  Logs show times this way. */
#define UTIL_TIME_ISO_LEN 32
char *util_time_iso(int64_t unix_s, char *buf, size_t len);

/* ---- rate limit for lines a peer can trigger (ratelimit.c) ------------------- */

/* One per peer and kind of complaint: at most `burst` lines per `window`
 * ms; the first line allowed after a quiet spell reports how many were
 * suppressed meanwhile (log it as suppressed=N).  No clock: now is passed
 * in, so engines use it with their own time. */
struct util_ratelimit {
    util_ms window_start; /* start of the current window */
    unsigned lines;       /* lines allowed in it */
    unsigned suppressed;  /* lines refused since the last allowed one */
    bool started;
};

/* util_ratelimit_allow - whether one more line may be logged at now (at
 * most burst per window ms); *suppressed (may be NULL) gets the number
 * refused since the last allowed line when it returns true, else 0 */
bool util_ratelimit_allow(struct util_ratelimit *r, util_ms now, unsigned burst, util_ms window,
                          unsigned *suppressed);

/* ---- deterministic PRNG ------------------------------------------------ */

/* xoshiro256** seeded with splitmix64: the same seed gives the same
 * sequence on every machine, so simulated loss is reproducible. */
struct util_rng {
    uint64_t s[4];
};

/* util_rng_seed - seed the generator */
void util_rng_seed(struct util_rng *r, uint64_t seed);
/* util_rng_next - next 64 random bits */
uint64_t util_rng_next(struct util_rng *r);
/* util_rng_below - uniform integer in [0, n) (n > 0) */
uint64_t util_rng_below(struct util_rng *r, uint64_t n);
/* util_rng_unit - uniform double in [0, 1) */
double util_rng_unit(struct util_rng *r);

/* ---- intrusive timer heap ---------------------------------------------- */

/* A binary min-heap of timers embedded in the caller's structures.  Each
 * timer knows its slot, so removal and re-arming are O(log n). */
struct util_timer {
    util_ms expiry;
    size_t slot; /* index in the heap, SIZE_MAX when not armed */
};

struct util_timerheap {
    struct util_timer **items;
    size_t len;
    size_t cap;
};

/* util_timer_init - a timer that is not armed */
static inline void util_timer_init(struct util_timer *t) { t->expiry = UTIL_MS_NEVER; t->slot = SIZE_MAX; }
/* util_timer_armed - whether the timer is in a heap */
static inline bool util_timer_armed(const struct util_timer *t) { return t->slot != SIZE_MAX; }
/* util_timerheap_init - an empty heap */
void util_timerheap_init(struct util_timerheap *h);
/* util_timerheap_free - release the heap's array (the timers are the caller's) */
void util_timerheap_free(struct util_timerheap *h);
/* util_timerheap_arm - (re)arm t to fire at expiry */
int util_timerheap_arm(struct util_timerheap *h, struct util_timer *t, util_ms expiry);
/* util_timerheap_cancel - disarm t if armed */
void util_timerheap_cancel(struct util_timerheap *h, struct util_timer *t);
/* util_timerheap_peek - the earliest timer, or NULL */
static inline struct util_timer *util_timerheap_peek(const struct util_timerheap *h)
{
    return h->len ? h->items[0] : NULL;
}
/* util_timerheap_next_expiry - the earliest expiry, or UTIL_MS_NEVER */
static inline util_ms util_timerheap_next_expiry(const struct util_timerheap *h)
{
    return h->len ? h->items[0]->expiry : UTIL_MS_NEVER;
}
/* util_timerheap_pop_due - remove and return a timer with expiry <= now, or NULL */
struct util_timer *util_timerheap_pop_due(struct util_timerheap *h, util_ms now);

/* ---- intrusive doubly linked list -------------------------------------- */

struct util_list {
    struct util_list *prev, *next;
};

/* util_list_init - an empty list head (or an unlinked node) */
static inline void util_list_init(struct util_list *l) { l->prev = l->next = l; }
/* util_list_empty - whether the head has no nodes */
static inline bool util_list_empty(const struct util_list *l) { return l->next == l; }
/* util_list_insert_before - link n before pos (before the head = at the tail) */
static inline void util_list_insert_before(struct util_list *pos, struct util_list *n)
{
    n->prev = pos->prev; n->next = pos; pos->prev->next = n; pos->prev = n;
}
/* util_list_push_back - append n to the list */
static inline void util_list_push_back(struct util_list *head, struct util_list *n)
{
    util_list_insert_before(head, n);
}
/* util_list_remove - unlink n (safe on an unlinked, initialised node) */
static inline void util_list_remove(struct util_list *n)
{
    n->prev->next = n->next; n->next->prev = n->prev; n->prev = n->next = n;
}
#define UTIL_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define UTIL_LIST_FOREACH(it, head) for ((it) = (head)->next; (it) != (head); (it) = (it)->next)
#define UTIL_LIST_FOREACH_SAFE(it, tmp, head) \
    for ((it) = (head)->next, (tmp) = (it)->next; (it) != (head); (it) = (tmp), (tmp) = (it)->next)

#endif /* MULE5066_UTIL_H */
