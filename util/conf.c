/* conf.c - the INI-style configuration parser every mule5066 program uses.
 *
 * Format (the de-facto INI dialect of libinih and git-config, restricted):
 *   - `# comment` and `; comment` lines; blank lines;
 *   - `[type]` or `[type name]` section headers;
 *   - `key = value`, value optionally "double-quoted" (\" and \\ escapes);
 *     an unquoted value ends at ` #` or ` ;` (an inline comment).
 * Every key keeps its line, so each later error (wrong type, out of range,
 * unknown key) names file:line and the key.
 *
 * Written here rather than on Debian's libinih because libinih's Debian
 * build reports no line number to the handler (INI_HANDLER_LINENO is a
 * compile-time option) and we need one for every key, including keys that
 * are only found to be unknown after the program has looked up the rest.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UTIL_CONF_MAX_FILE (4u * 1024 * 1024)
#define UTIL_CONF_MAX_LINE 4096

struct util_conf_entry {
    char *key;
    char *value;
    int line;
    bool used;
};

struct util_conf_section {
    char *type;
    char *name;
    int line;
    bool used;
    struct util_conf_entry *entries;
    size_t n_entries;
    size_t cap_entries;
    struct util_conf *conf;
    struct util_conf_section *next;
};

struct util_conf {
    char *file;
    struct util_conf_section *first;
    struct util_conf_section *last;
    int errcode;
    char err[512];
};

/* util_conf_strdup_n - a NUL-terminated copy of n bytes */
static char *util_conf_strdup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* util_conf_set_error - record the first error with file:line */
static int util_conf_set_error(struct util_conf *conf, int line, int err, const char *fmt, ...)
    UTIL_PRINTF(4, 5);
static int util_conf_set_error(struct util_conf *conf, int line, int err, const char *fmt, ...)
{
    if (conf->errcode)
        return err;
    conf->errcode = err;
    int n = snprintf(conf->err, sizeof conf->err, "%s:%d: ", conf->file, line);
    if (n < 0 || (size_t)n >= sizeof conf->err)
        return err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(conf->err + n, sizeof conf->err - (size_t)n, fmt, ap);
    va_end(ap);
    return err;
}

/* util_conf_free - release a parsed config */
void util_conf_free(struct util_conf *conf)
{
    if (!conf)
        return;
    struct util_conf_section *s = conf->first;
    while (s) {
        struct util_conf_section *next = s->next;
        for (size_t i = 0; i < s->n_entries; i++) {
            free(s->entries[i].key);
            free(s->entries[i].value);
        }
        free(s->entries);
        free(s->type);
        free(s->name);
        free(s);
        s = next;
    }
    free(conf->file);
    free(conf);
}

/* util_conf_add_section - append a section; NULL on allocation failure */
static struct util_conf_section *util_conf_add_section(struct util_conf *conf, const char *type,
                                                       size_t tlen, const char *name, size_t nlen,
                                                       int line)
{
    struct util_conf_section *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->type = util_conf_strdup_n(type, tlen);
    s->name = util_conf_strdup_n(name, nlen);
    if (!s->type || !s->name) {
        free(s->type);
        free(s->name);
        free(s);
        return NULL;
    }
    s->line = line;
    s->conf = conf;
    if (conf->last)
        conf->last->next = s;
    else
        conf->first = s;
    conf->last = s;
    return s;
}

/* util_conf_find_entry - the entry for key in s, or NULL */
static struct util_conf_entry *util_conf_find_entry(struct util_conf_section *s, const char *key)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->n_entries; i++)
        if (strcmp(s->entries[i].key, key) == 0)
            return &s->entries[i];
    return NULL;
}

/* util_conf_is_word - whether c may appear in a key or section type */
static bool util_conf_is_word(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

/* util_conf_is_name - whether c may appear in a section name */
static bool util_conf_is_name(char c)
{
    return util_conf_is_word(c) || c == ':' || c == '@' || c == '/' || c == '*';
}

/* util_conf_trim - strip spaces and tabs from both ends of [*b, *e) */
static void util_conf_trim(const char **b, const char **e)
{
    while (*b < *e && (**b == ' ' || **b == '\t'))
        (*b)++;
    while (*e > *b && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

/* util_conf_only_comment - whether [p, e) is blank or a comment */
static bool util_conf_only_comment(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    return p == e || *p == '#' || *p == ';';
}

/* util_conf_parse_header - handle a `[type name]` line */
static int util_conf_parse_header(struct util_conf *conf, const char *p, const char *e, int line,
                                  struct util_conf_section **cur)
{
    const char *close = memchr(p, ']', (size_t)(e - p));
    if (!close)
        return util_conf_set_error(conf, line, UTIL_ERR_SYNTAX, "section header without ']'");
    if (!util_conf_only_comment(close + 1, e))
        return util_conf_set_error(conf, line, UTIL_ERR_SYNTAX, "text after section header");
    const char *b = p + 1, *ce = close;
    util_conf_trim(&b, &ce);
    const char *t = b;
    while (b < ce && util_conf_is_word(*b))
        b++;
    size_t tlen = (size_t)(b - t);
    if (tlen == 0)
        return util_conf_set_error(conf, line, UTIL_ERR_SYNTAX, "empty or invalid section type");
    const char *n = b;
    if (b < ce) {
        if (*b != ' ' && *b != '\t')
            return util_conf_set_error(conf, line, UTIL_ERR_SYNTAX, "invalid character '%c' in section header", *b);
        while (n < ce && (*n == ' ' || *n == '\t'))
            n++;
        for (const char *q = n; q < ce; q++)
            if (!util_conf_is_name(*q))
                return util_conf_set_error(conf, line, UTIL_ERR_SYNTAX, "invalid character in section name");
    }
    size_t nlen = (size_t)(ce - n);
    for (struct util_conf_section *s = conf->first; s; s = s->next)
        if (strlen(s->type) == tlen && strncmp(s->type, t, tlen) == 0 && strlen(s->name) == nlen &&
            strncmp(s->name, n, nlen) == 0 && s->line > 0)
            return util_conf_set_error(conf, line, UTIL_ERR_DUPLICATE,
                                       "section [%.*s%s%.*s] already defined at line %d", (int)tlen, t,
                                       nlen ? " " : "", (int)nlen, n, s->line);
    *cur = util_conf_add_section(conf, t, tlen, n, nlen, line);
    return *cur ? UTIL_OK : util_conf_set_error(conf, line, UTIL_ERR_NOMEM, "out of memory");
}

/* util_conf_parse_value - the value of a `key = value` line, unquoted; malloc'd */
static int util_conf_parse_value(struct util_conf *conf, const char *p, const char *e, int line,
                                 char **out)
{
    util_conf_trim(&p, &e);
    if (p < e && *p == '"') {
        char *v = malloc((size_t)(e - p) + 1);
        if (!v)
            return util_conf_set_error(conf, line, UTIL_ERR_NOMEM, "out of memory");
        size_t n = 0;
        const char *q = p + 1;
        for (; q < e && *q != '"'; q++) {
            if (*q == '\\') {
                if (q + 1 >= e || (q[1] != '"' && q[1] != '\\')) {
                    free(v);
                    return util_conf_set_error(conf, line, UTIL_ERR_SYNTAX, "bad escape in quoted value");
                }
                q++;
            }
            v[n++] = *q;
        }
        if (q >= e) {
            free(v);
            return util_conf_set_error(conf, line, UTIL_ERR_SYNTAX, "unterminated quoted value");
        }
        if (!util_conf_only_comment(q + 1, e)) {
            free(v);
            return util_conf_set_error(conf, line, UTIL_ERR_SYNTAX, "text after quoted value");
        }
        v[n] = '\0';
        *out = v;
        return UTIL_OK;
    }
    /* An unquoted value ends at whitespace followed by # or ; */
    for (const char *q = p; q < e; q++)
        if ((*q == '#' || *q == ';') && q > p && (q[-1] == ' ' || q[-1] == '\t')) {
            e = q;
            break;
        }
    util_conf_trim(&p, &e);
    *out = util_conf_strdup_n(p, (size_t)(e - p));
    return *out ? UTIL_OK : util_conf_set_error(conf, line, UTIL_ERR_NOMEM, "out of memory");
}

/* util_conf_parse_line - handle one line (without its end of line) */
static int util_conf_parse_line(struct util_conf *conf, const char *p, const char *e, int line,
                                struct util_conf_section **cur)
{
    util_conf_trim(&p, &e);
    if (p == e || *p == '#' || *p == ';')
        return UTIL_OK;
    if (*p == '[')
        return util_conf_parse_header(conf, p, e, line, cur);
    const char *k = p;
    while (p < e && util_conf_is_word(*p))
        p++;
    size_t klen = (size_t)(p - k);
    const char *eq = p;
    while (eq < e && (*eq == ' ' || *eq == '\t'))
        eq++;
    if (klen == 0 || eq >= e || *eq != '=')
        return util_conf_set_error(conf, line, UTIL_ERR_SYNTAX, "expected 'key = value'");
    if (!*cur) {
        *cur = util_conf_add_section(conf, "", 0, "", 0, 0);
        if (!*cur)
            return util_conf_set_error(conf, line, UTIL_ERR_NOMEM, "out of memory");
    }
    struct util_conf_section *s = *cur;
    for (size_t i = 0; i < s->n_entries; i++)
        if (strlen(s->entries[i].key) == klen && strncmp(s->entries[i].key, k, klen) == 0)
            return util_conf_set_error(conf, line, UTIL_ERR_DUPLICATE,
                                       "key '%.*s' already set at line %d", (int)klen, k,
                                       s->entries[i].line);
    char *value;
    int rc = util_conf_parse_value(conf, eq + 1, e, line, &value);
    if (rc < 0)
        return rc;
    if (s->n_entries == s->cap_entries) {
        size_t ncap = s->cap_entries ? s->cap_entries * 2 : 8;
        struct util_conf_entry *ne = realloc(s->entries, ncap * sizeof *ne);
        if (!ne) {
            free(value);
            return util_conf_set_error(conf, line, UTIL_ERR_NOMEM, "out of memory");
        }
        s->entries = ne;
        s->cap_entries = ncap;
    }
    struct util_conf_entry *en = &s->entries[s->n_entries];
    en->key = util_conf_strdup_n(k, klen);
    if (!en->key) {
        free(value);
        return util_conf_set_error(conf, line, UTIL_ERR_NOMEM, "out of memory");
    }
    en->value = value;
    en->line = line;
    en->used = false;
    s->n_entries++;
    return UTIL_OK;
}

/* util_conf_fill_err - copy the config's error into a caller's buffer */
static void util_conf_fill_err(const struct util_conf *conf, char *errbuf, size_t errlen)
{
    if (errbuf && errlen)
        snprintf(errbuf, errlen, "%s", conf->err);
}

/* util_conf_parse - parse text held in memory; `name` stands for the file in messages */
struct util_conf *util_conf_parse(const char *name, const char *text, size_t len, char *errbuf,
                                  size_t errlen, int *err)
{
    struct util_conf *conf = calloc(1, sizeof *conf);
    if (!conf || !(conf->file = strdup(name ? name : "(config)"))) {
        free(conf);
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "%s: out of memory", name ? name : "(config)");
        if (err)
            *err = UTIL_ERR_NOMEM;
        return NULL;
    }
    struct util_conf_section *cur = NULL;
    int line = 0, rc = UTIL_OK;
    const char *p = text, *end = text + len;
    while (p < end && rc == UTIL_OK) {
        line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (e > p && e[-1] == '\r')
            e--;
        if (memchr(p, '\0', (size_t)(e - p)))
            rc = util_conf_set_error(conf, line, UTIL_ERR_SYNTAX, "NUL byte in line");
        else if (e - p > UTIL_CONF_MAX_LINE)
            rc = util_conf_set_error(conf, line, UTIL_ERR_SYNTAX, "line longer than %d bytes",
                                     UTIL_CONF_MAX_LINE);
        else
            rc = util_conf_parse_line(conf, p, e, line, &cur);
        p = nl ? nl + 1 : end;
    }
    if (rc < 0) {
        util_conf_fill_err(conf, errbuf, errlen);
        if (err)
            *err = rc;
        util_conf_free(conf);
        return NULL;
    }
    if (err)
        *err = UTIL_OK;
    if (errbuf && errlen)
        errbuf[0] = '\0';
    return conf;
}

/* util_conf_load - parse a file; NULL with *err set (and errbuf filled) on failure */
struct util_conf *util_conf_load(const char *path, char *errbuf, size_t errlen, int *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
        if (err)
            *err = UTIL_ERR_IO;
        return NULL;
    }
    struct util_buf b;
    util_buf_init(&b, UTIL_CONF_MAX_FILE);
    char chunk[8192];
    size_t n;
    int rc = UTIL_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if ((rc = util_buf_append(&b, chunk, n)) < 0)
            break;
    bool ioerr = ferror(f);
    fclose(f);
    if (rc < 0 || ioerr) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "%s: %s", path,
                     rc < 0 ? "file larger than 4 MiB" : "read error");
        if (err)
            *err = rc < 0 ? rc : UTIL_ERR_IO;
        util_buf_free(&b);
        return NULL;
    }
    struct util_conf *conf = util_conf_parse(path, (const char *)b.data, b.len, errbuf, errlen, err);
    util_buf_free(&b);
    return conf;
}

/* util_conf_error - the first error's message ("file:line: key: problem"), or "" */
const char *util_conf_error(const struct util_conf *conf)
{
    return conf->err;
}

/* util_conf_errcode - the first error's code, or 0 */
int util_conf_errcode(const struct util_conf *conf)
{
    return conf->errcode;
}

/* util_conf_next_section - the section of this type after prev (prev NULL: the first) */
struct util_conf_section *util_conf_next_section(struct util_conf *conf, const char *type,
                                                 struct util_conf_section *prev)
{
    for (struct util_conf_section *s = prev ? prev->next : conf->first; s; s = s->next)
        if (strcmp(s->type, type) == 0) {
            s->used = true;
            return s;
        }
    return NULL;
}

/* util_conf_section - the first section with this type (and name, if non-NULL) */
struct util_conf_section *util_conf_section(struct util_conf *conf, const char *type,
                                            const char *name)
{
    for (struct util_conf_section *s = conf->first; s; s = s->next)
        if (strcmp(s->type, type) == 0 && (!name || strcmp(s->name, name) == 0)) {
            s->used = true;
            return s;
        }
    return NULL;
}

/* util_conf_section_type - "node" for [node alpha] */
const char *util_conf_section_type(const struct util_conf_section *s)
{
    return s->type;
}

/* util_conf_section_name - "alpha" for [node alpha], "" for [node] */
const char *util_conf_section_name(const struct util_conf_section *s)
{
    return s->name;
}

/* util_conf_section_line - the line of the section header */
int util_conf_section_line(const struct util_conf_section *s)
{
    return s->line;
}

/* util_conf_section_keys - number of keys in a section */
size_t util_conf_section_keys(const struct util_conf_section *s)
{
    return s ? s->n_entries : 0;
}

/* util_conf_section_key_at - the i-th key's name and value (marks it used) */
int util_conf_section_key_at(struct util_conf_section *s, size_t i, const char **key,
                             const char **value, int *line)
{
    if (!s || i >= s->n_entries)
        return UTIL_ERR_INVAL;
    s->entries[i].used = true;
    if (key)
        *key = s->entries[i].key;
    if (value)
        *value = s->entries[i].value;
    if (line)
        *line = s->entries[i].line;
    return UTIL_OK;
}

/* util_conf_where - "[type name]" label of a section for messages */
static void util_conf_where(const struct util_conf_section *s, char *out, size_t n)
{
    if (!s || !*s->type)
        snprintf(out, n, "(top)");
    else
        snprintf(out, n, "[%s%s%s]", s->type, *s->name ? " " : "", s->name);
}

/* util_conf_fail - record a caller's own error against a key ("file:line: key: msg") */
int util_conf_fail(struct util_conf *conf, struct util_conf_section *s, const char *key, int err,
                   const char *fmt, ...)
{
    char msg[300], where[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    util_conf_where(s, where, sizeof where);
    struct util_conf_entry *en = key ? util_conf_find_entry(s, key) : NULL;
    int line = en ? en->line : (s ? s->line : 0);
    if (key)
        return util_conf_set_error(conf, line, err, "%s key '%s': %s", where, key, msg);
    return util_conf_set_error(conf, line, err, "%s: %s", where, msg);
}

/* util_conf_lookup - the value for key, marking it used; NULL if absent */
static const char *util_conf_lookup(struct util_conf_section *s, const char *key)
{
    struct util_conf_entry *en = util_conf_find_entry(s, key);
    if (!en)
        return NULL;
    en->used = true;
    return en->value;
}

/* util_conf_str - a string value (pointer valid while conf lives) */
int util_conf_str(struct util_conf *conf, struct util_conf_section *s, const char *key,
                  const char *def, const char **out)
{
    (void)conf;
    const char *v = util_conf_lookup(s, key);
    *out = v ? v : def;
    return UTIL_OK;
}

/* util_conf_str_required - a string value that must be present */
int util_conf_str_required(struct util_conf *conf, struct util_conf_section *s, const char *key,
                           const char **out)
{
    const char *v = util_conf_lookup(s, key);
    *out = v;
    if (!v)
        return util_conf_fail(conf, s, key, UTIL_ERR_MISSING, "required but not set");
    if (!*v)
        return util_conf_fail(conf, s, key, UTIL_ERR_MISSING, "must not be empty");
    return UTIL_OK;
}

/* util_parse_int - a whole string as an integer in [min, max] */
int util_parse_int(const char *s, long long min, long long max, long long *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return UTIL_ERR_TYPE;
    char *end;
    errno = 0;
    int base = 10;
    const char *digits = s;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        base = 16;
    else if ((s[0] == '-' || s[0] == '+') && s[1] == '0' && (s[2] == 'x' || s[2] == 'X'))
        return UTIL_ERR_TYPE;
    long long v = strtoll(digits, &end, base);
    if (end == digits || *end)
        return UTIL_ERR_TYPE;
    if (errno == ERANGE || v < min || v > max)
        return UTIL_ERR_RANGE;
    *out = v;
    return UTIL_OK;
}

/* util_parse_bool - a whole string as a boolean */
int util_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return UTIL_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return UTIL_OK;
        }
    }
    return UTIL_ERR_TYPE;
}

/* util_parse_scaled - digits then a suffix from a table of multipliers */
static int util_parse_scaled(const char *s, const char *const *suffixes, const uint64_t *mult,
                             size_t n, uint64_t plain_mult, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return UTIL_ERR_TYPE;
    uint64_t v = 0;
    const char *p = s;
    while (isdigit((unsigned char)*p)) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return UTIL_ERR_RANGE;
        v = v * 10 + d;
        p++;
    }
    while (*p == ' ')
        p++;
    uint64_t m = plain_mult;
    if (*p) {
        size_t i;
        for (i = 0; i < n; i++)
            if (strcmp(p, suffixes[i]) == 0)
                break;
        if (i == n)
            return UTIL_ERR_TYPE;
        m = mult[i];
    }
    if (m && v > UINT64_MAX / m)
        return UTIL_ERR_RANGE;
    *out = v * m;
    return UTIL_OK;
}

/* util_parse_duration_ms - a whole string as a duration in milliseconds */
int util_parse_duration_ms(const char *s, uint64_t *out)
{
    static const char *const suf[] = {"ms", "s", "m", "min", "h", "d"};
    static const uint64_t mult[] = {1, 1000, 60000, 60000, 3600000, 86400000};
    return util_parse_scaled(s, suf, mult, UTIL_ARRAY_LEN(suf), 1000, out);
}

/* util_parse_size - a whole string as a byte count with k/M/G suffix */
int util_parse_size(const char *s, uint64_t *out)
{
    static const char *const suf[] = {"k", "K", "kB", "KB", "M", "MB", "G", "GB", "B"};
    static const uint64_t mult[] = {1024, 1024, 1024, 1024, 1048576, 1048576,
                                    1073741824, 1073741824, 1};
    return util_parse_scaled(s, suf, mult, UTIL_ARRAY_LEN(suf), 1, out);
}

/* util_conf_int - an integer in [min, max] (decimal, 0x hex) */
int util_conf_int(struct util_conf *conf, struct util_conf_section *s, const char *key,
                  long long def, long long min, long long max, long long *out)
{
    const char *v = util_conf_lookup(s, key);
    *out = def;
    if (!v)
        return UTIL_OK;
    int rc = util_parse_int(v, min, max, out);
    if (rc == UTIL_ERR_TYPE)
        return util_conf_fail(conf, s, key, rc, "'%s' is not an integer", v);
    if (rc == UTIL_ERR_RANGE)
        return util_conf_fail(conf, s, key, rc, "%s is out of range %lld..%lld", v, min, max);
    return rc;
}

/* util_conf_bool - yes/no, true/false, on/off, 1/0 */
int util_conf_bool(struct util_conf *conf, struct util_conf_section *s, const char *key,
                   bool def, bool *out)
{
    const char *v = util_conf_lookup(s, key);
    *out = def;
    if (!v)
        return UTIL_OK;
    if (util_parse_bool(v, out) < 0)
        return util_conf_fail(conf, s, key, UTIL_ERR_TYPE, "'%s' is not yes/no", v);
    return UTIL_OK;
}

/* util_conf_double - a real number in [min, max] */
int util_conf_double(struct util_conf *conf, struct util_conf_section *s, const char *key,
                     double def, double min, double max, double *out)
{
    const char *v = util_conf_lookup(s, key);
    *out = def;
    if (!v)
        return UTIL_OK;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || isspace((unsigned char)*v) || !isfinite(d))
        return util_conf_fail(conf, s, key, UTIL_ERR_TYPE, "'%s' is not a number", v);
    if (errno == ERANGE || d < min || d > max)
        return util_conf_fail(conf, s, key, UTIL_ERR_RANGE, "%s is out of range %g..%g", v, min, max);
    *out = d;
    return UTIL_OK;
}

/* util_conf_duration_ms - "250ms", "30s", "5m", "2h", "1d" or plain seconds, in [min, max] ms */
int util_conf_duration_ms(struct util_conf *conf, struct util_conf_section *s, const char *key,
                          uint64_t def, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *v = util_conf_lookup(s, key);
    *out = def;
    if (!v)
        return UTIL_OK;
    uint64_t d;
    int rc = util_parse_duration_ms(v, &d);
    if (rc == UTIL_ERR_TYPE)
        return util_conf_fail(conf, s, key, rc, "'%s' is not a duration (e.g. 500ms, 30s, 5m, 2h)", v);
    if (rc < 0 || d < min || d > max)
        return util_conf_fail(conf, s, key, UTIL_ERR_RANGE, "%s is out of range %llums..%llums", v,
                              (unsigned long long)min, (unsigned long long)max);
    *out = d;
    return UTIL_OK;
}

/* util_conf_size - "512", "64k", "10M", "1G" bytes, in [min, max] */
int util_conf_size(struct util_conf *conf, struct util_conf_section *s, const char *key,
                   uint64_t def, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *v = util_conf_lookup(s, key);
    *out = def;
    if (!v)
        return UTIL_OK;
    uint64_t d;
    int rc = util_parse_size(v, &d);
    if (rc == UTIL_ERR_TYPE)
        return util_conf_fail(conf, s, key, rc, "'%s' is not a size (e.g. 4096, 64k, 10M)", v);
    if (rc < 0 || d < min || d > max)
        return util_conf_fail(conf, s, key, UTIL_ERR_RANGE, "%s is out of range %llu..%llu bytes", v,
                              (unsigned long long)min, (unsigned long long)max);
    *out = d;
    return UTIL_OK;
}

/* util_conf_enum - one of names[] (NULL-terminated) -> its index */
int util_conf_enum(struct util_conf *conf, struct util_conf_section *s, const char *key,
                   const char *const *names, int def, int *out)
{
    const char *v = util_conf_lookup(s, key);
    *out = def;
    if (!v)
        return UTIL_OK;
    char list[256];
    size_t used = 0;
    list[0] = '\0';
    for (int i = 0; names[i]; i++) {
        if (strcmp(v, names[i]) == 0) {
            *out = i;
            return UTIL_OK;
        }
        int n = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
        if (n > 0 && (size_t)n < sizeof list - used)
            used += (size_t)n;
    }
    return util_conf_fail(conf, s, key, UTIL_ERR_RANGE, "'%s' is not one of: %s", v, list);
}

/* util_conf_check_unused - reject the first key or section nobody looked up */
int util_conf_check_unused(struct util_conf *conf)
{
    if (conf->errcode)
        return conf->errcode;
    for (struct util_conf_section *s = conf->first; s; s = s->next) {
        if (!s->used && *s->type) {
            char where[160];
            util_conf_where(s, where, sizeof where);
            return util_conf_set_error(conf, s->line, UTIL_ERR_UNKNOWN, "unknown section %s", where);
        }
        for (size_t i = 0; i < s->n_entries; i++)
            if (!s->entries[i].used) {
                char where[160];
                util_conf_where(s, where, sizeof where);
                return util_conf_set_error(conf, s->entries[i].line, UTIL_ERR_UNKNOWN,
                                           "%s key '%s': unknown key", where, s->entries[i].key);
            }
    }
    return UTIL_OK;
}
