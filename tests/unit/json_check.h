/* json_check.h - a strict JSON validator for tests (RFC 8259): one value,
 * surrounded by whitespace only; strings with valid escapes, no raw control
 * characters, valid UTF-8 (no overlongs, no surrogates); nesting bounded.
 * Used by the control channel's unit test and fuzz target.
 */
#ifndef MULE5066_JSON_CHECK_H
#define MULE5066_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct json_cursor {
    const unsigned char *p, *end;
    int depth;
};

static bool json_value(struct json_cursor *c);

/* json_ws - skip whitespace */
static inline void json_ws(struct json_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* json_lit - a keyword (true, false, null) */
static inline bool json_lit(struct json_cursor *c, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* json_utf8 - one valid UTF-8 sequence of 2-4 bytes */
static inline bool json_utf8(struct json_cursor *c)
{
    unsigned char b = *c->p;
    size_t n;
    unsigned v, min;
    if (b >= 0xc2 && b <= 0xdf)
        n = 2, v = b & 0x1fu, min = 0x80;
    else if (b >= 0xe0 && b <= 0xef)
        n = 3, v = b & 0x0fu, min = 0x800;
    else if (b >= 0xf0 && b <= 0xf4)
        n = 4, v = b & 0x07u, min = 0x10000;
    else
        return false;
    if ((size_t)(c->end - c->p) < n)
        return false;
    for (size_t i = 1; i < n; i++) {
        if ((c->p[i] & 0xc0) != 0x80)
            return false;
        v = (v << 6) | (c->p[i] & 0x3fu);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return false;
    c->p += n;
    return true;
}

/* json_string - a string literal */
static inline bool json_string(struct json_cursor *c)
{
    if (c->p >= c->end || *c->p != '"')
        return false;
    c->p++;
    while (c->p < c->end) {
        unsigned char b = *c->p;
        if (b == '"') {
            c->p++;
            return true;
        }
        if (b < 0x20)
            return false;
        if (b == '\\') {
            if (c->end - c->p < 2)
                return false;
            unsigned char e = c->p[1];
            if (e == 'u') {
                if (c->end - c->p < 6)
                    return false;
                for (int i = 2; i < 6; i++) {
                    unsigned char h = c->p[i];
                    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') ||
                          (h >= 'A' && h <= 'F')))
                        return false;
                }
                c->p += 6;
            } else if (strchr("\"\\/bfnrt", e) && e) {
                c->p += 2;
            } else {
                return false;
            }
        } else if (b >= 0x80) {
            if (!json_utf8(c))
                return false;
        } else {
            c->p++;
        }
    }
    return false;
}

/* json_number - -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static inline bool json_number(struct json_cursor *c)
{
    const unsigned char *s = c->p;
    if (c->p < c->end && *c->p == '-')
        c->p++;
    if (c->p >= c->end)
        return false;
    if (*c->p == '0') {
        c->p++;
    } else if (*c->p >= '1' && *c->p <= '9') {
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
    } else {
        return false;
    }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        const unsigned char *d = c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
        if (c->p == d)
            return false;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        const unsigned char *d = c->p;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
        if (c->p == d)
            return false;
    }
    return c->p > s;
}

/* json_container - an object or an array */
static inline bool json_container(struct json_cursor *c, bool object)
{
    if (++c->depth > 64)
        return false;
    c->p++;
    json_ws(c);
    if (c->p < c->end && *c->p == (object ? '}' : ']')) {
        c->p++;
        c->depth--;
        return true;
    }
    for (;;) {
        json_ws(c);
        if (object) {
            if (!json_string(c))
                return false;
            json_ws(c);
            if (c->p >= c->end || *c->p != ':')
                return false;
            c->p++;
        }
        if (!json_value(c))
            return false;
        json_ws(c);
        if (c->p >= c->end)
            return false;
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p != (object ? '}' : ']'))
            return false;
        c->p++;
        c->depth--;
        return true;
    }
}

/* json_value - any value */
static bool json_value(struct json_cursor *c)
{
    json_ws(c);
    if (c->p >= c->end)
        return false;
    switch (*c->p) {
    case '{': return json_container(c, true);
    case '[': return json_container(c, false);
    case '"': return json_string(c);
    case 't': return json_lit(c, "true");
    case 'f': return json_lit(c, "false");
    case 'n': return json_lit(c, "null");
    default: return json_number(c);
    }
}

/* json_valid - whether len bytes at s are exactly one JSON document */
static inline bool json_valid(const void *s, size_t len)
{
    struct json_cursor c = {(const unsigned char *)s, (const unsigned char *)s + len, 0};
    if (!json_value(&c))
        return false;
    json_ws(&c);
    return c.p == c.end;
}

#endif /* MULE5066_JSON_CHECK_H */
