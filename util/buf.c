/* buf.c - growable byte buffer, read/write cursors with a sticky error,
 * big-endian field access, hex helpers and util's error strings.
 *
 * Network byte order (big-endian) as every wire format of mule5066 uses:
 * STANAG 5066 Annex A, ACP 142 and BER (X.690).
 */
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* util_strerror - text for a UTIL_ERR_* code */
const char *util_strerror(int err)
{
    switch (err) {
    case UTIL_OK: return "success";
    case UTIL_ERR_NOMEM: return "out of memory or over the size limit";
    case UTIL_ERR_TRUNCATED: return "input truncated";
    case UTIL_ERR_OVERFLOW: return "output buffer too small";
    case UTIL_ERR_INVAL: return "invalid argument";
    case UTIL_ERR_IO: return "I/O error";
    case UTIL_ERR_SYNTAX: return "syntax error";
    case UTIL_ERR_UNKNOWN: return "unknown key";
    case UTIL_ERR_RANGE: return "value out of range";
    case UTIL_ERR_TYPE: return "value has the wrong type";
    case UTIL_ERR_MISSING: return "required key missing";
    case UTIL_ERR_DUPLICATE: return "duplicate key";
    default: return "unknown error";
    }
}

/* ---- growable buffer ---------------------------------------------------- */

/* util_buf_init - an empty buffer that may hold up to `limit` bytes */
void util_buf_init(struct util_buf *b, size_t limit)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->limit = limit;
}

/* util_buf_free - release the memory and empty the buffer */
void util_buf_free(struct util_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* util_buf_reserve - make room for `extra` more bytes; UTIL_ERR_NOMEM past the limit */
int util_buf_reserve(struct util_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return UTIL_ERR_NOMEM;
    size_t need = b->len + extra;
    if (b->limit && need > b->limit)
        return UTIL_ERR_NOMEM;
    if (need <= b->cap)
        return UTIL_OK;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (b->limit && ncap > b->limit)
        ncap = b->limit;
    uint8_t *p = realloc(b->data, ncap);
    if (!p)
        return UTIL_ERR_NOMEM;
    b->data = p;
    b->cap = ncap;
    return UTIL_OK;
}

/* util_buf_append - copy n bytes to the end */
int util_buf_append(struct util_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return UTIL_OK;
    int rc = util_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return UTIL_OK;
}

/* util_buf_append_str - append a NUL-terminated string (without the NUL) */
int util_buf_append_str(struct util_buf *b, const char *s)
{
    return util_buf_append(b, s, strlen(s));
}

/* util_buf_printf - append formatted text */
int util_buf_printf(struct util_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return UTIL_ERR_INVAL;
    int rc = util_buf_reserve(b, (size_t)n + 1);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return UTIL_OK;
}

/* util_buf_consume - drop n bytes from the front */
void util_buf_consume(struct util_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

/* util_buf_reset - forget the contents, keep the memory */
void util_buf_reset(struct util_buf *b)
{
    b->len = 0;
}

/* ---- reader ---------------------------------------------------------------- */

/* util_rd_init - a reader over len bytes at data */
void util_rd_init(struct util_reader *r, const void *data, size_t len)
{
    r->data = data;
    r->len = data ? len : 0;
    r->pos = 0;
    r->err = 0;
}

/* util_rd_take - pointer to the next n bytes, or NULL and the sticky error */
static const uint8_t *util_rd_take(struct util_reader *r, size_t n)
{
    if (r->err)
        return NULL;
    if (n > r->len - r->pos) {
        r->err = UTIL_ERR_TRUNCATED;
        return NULL;
    }
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

/* util_rd_u8 - next byte, 0 after an error */
uint8_t util_rd_u8(struct util_reader *r)
{
    const uint8_t *p = util_rd_take(r, 1);
    return p ? p[0] : 0;
}

/* util_rd_u16 - next big-endian 16-bit field */
uint16_t util_rd_u16(struct util_reader *r)
{
    const uint8_t *p = util_rd_take(r, 2);
    return p ? util_get_u16(p) : 0;
}

/* util_rd_u24 - next big-endian 24-bit field */
uint32_t util_rd_u24(struct util_reader *r)
{
    const uint8_t *p = util_rd_take(r, 3);
    return p ? ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2] : 0;
}

/* util_rd_u32 - next big-endian 32-bit field */
uint32_t util_rd_u32(struct util_reader *r)
{
    const uint8_t *p = util_rd_take(r, 4);
    return p ? util_get_u32(p) : 0;
}

/* util_rd_u64 - next big-endian 64-bit field */
uint64_t util_rd_u64(struct util_reader *r)
{
    const uint8_t *p = util_rd_take(r, 8);
    return p ? ((uint64_t)util_get_u32(p) << 32) | util_get_u32(p + 4) : 0;
}

/* util_rd_bytes - copy n bytes out (zero-filled after an error) */
void util_rd_bytes(struct util_reader *r, void *out, size_t n)
{
    const uint8_t *p = util_rd_take(r, n);
    if (p)
        memcpy(out, p, n);
    else if (n)
        memset(out, 0, n);
}

/* util_rd_ptr - pointer to the next n bytes and advance, NULL on error */
const uint8_t *util_rd_ptr(struct util_reader *r, size_t n)
{
    return util_rd_take(r, n);
}

/* util_rd_skip - advance n bytes */
void util_rd_skip(struct util_reader *r, size_t n)
{
    (void)util_rd_take(r, n);
}

/* util_rd_remaining - bytes left, 0 after an error */
size_t util_rd_remaining(const struct util_reader *r)
{
    return r->err ? 0 : r->len - r->pos;
}

/* util_rd_fail - set the sticky error (a decoder's own consistency check) */
void util_rd_fail(struct util_reader *r, int err)
{
    if (!r->err)
        r->err = err;
}

/* ---- writer ---------------------------------------------------------------- */

/* util_wr_init - a writer into cap bytes at data (data may be NULL if cap is 0) */
void util_wr_init(struct util_writer *w, void *data, size_t cap)
{
    w->data = data;
    w->cap = data ? cap : 0;
    w->pos = 0;
    w->err = 0;
}

/* util_wr_take - room for the next n bytes, or NULL and the sticky error */
static uint8_t *util_wr_take(struct util_writer *w, size_t n)
{
    if (w->err)
        return NULL;
    if (n > w->cap - w->pos) {
        w->err = UTIL_ERR_OVERFLOW;
        return NULL;
    }
    uint8_t *p = w->data + w->pos;
    w->pos += n;
    return p;
}

/* util_wr_u8 - append one byte */
void util_wr_u8(struct util_writer *w, uint8_t v)
{
    uint8_t *p = util_wr_take(w, 1);
    if (p)
        p[0] = v;
}

/* util_wr_u16 - append a big-endian 16-bit field */
void util_wr_u16(struct util_writer *w, uint16_t v)
{
    uint8_t *p = util_wr_take(w, 2);
    if (p)
        util_put_u16(p, v);
}

/* util_wr_u24 - append a big-endian 24-bit field (top 8 bits of v must be 0) */
void util_wr_u24(struct util_writer *w, uint32_t v)
{
    if (v > 0xFFFFFFu) {
        util_wr_fail(w, UTIL_ERR_INVAL);
        return;
    }
    uint8_t *p = util_wr_take(w, 3);
    if (p) {
        p[0] = (uint8_t)(v >> 16);
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)v;
    }
}

/* util_wr_u32 - append a big-endian 32-bit field */
void util_wr_u32(struct util_writer *w, uint32_t v)
{
    uint8_t *p = util_wr_take(w, 4);
    if (p)
        util_put_u32(p, v);
}

/* util_wr_u64 - append a big-endian 64-bit field */
void util_wr_u64(struct util_writer *w, uint64_t v)
{
    uint8_t *p = util_wr_take(w, 8);
    if (p) {
        util_put_u32(p, (uint32_t)(v >> 32));
        util_put_u32(p + 4, (uint32_t)v);
    }
}

/* util_wr_bytes - append n bytes */
void util_wr_bytes(struct util_writer *w, const void *src, size_t n)
{
    uint8_t *p = util_wr_take(w, n);
    if (p && n)
        memcpy(p, src, n);
}

/* util_wr_zero - append n zero bytes */
void util_wr_zero(struct util_writer *w, size_t n)
{
    uint8_t *p = util_wr_take(w, n);
    if (p && n)
        memset(p, 0, n);
}

/* util_wr_put_u16_at - overwrite a 16-bit field already written at off */
void util_wr_put_u16_at(struct util_writer *w, size_t off, uint16_t v)
{
    if (w->err)
        return;
    if (off > w->pos || w->pos - off < 2) {
        w->err = UTIL_ERR_OVERFLOW;
        return;
    }
    util_put_u16(w->data + off, v);
}

/* util_wr_fail - set the sticky error (an encoder's own consistency check) */
void util_wr_fail(struct util_writer *w, int err)
{
    if (!w->err)
        w->err = err;
}

/* ---- hex ------------------------------------------------------------------- */

/* util_hex_nibble - value of one hex digit, or -1 */
static int util_hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* util_hex_decode - parse hex digits (whitespace ignored) into out; bytes or negative */
int util_hex_decode(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (const char *p = hex; *p; p++) {
        if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' || *p == ':')
            continue;
        int v = util_hex_nibble(*p);
        if (v < 0)
            return UTIL_ERR_SYNTAX;
        if (hi < 0) {
            hi = v;
            continue;
        }
        if (n >= cap)
            return UTIL_ERR_OVERFLOW;
        out[n++] = (uint8_t)(hi << 4 | v);
        hi = -1;
    }
    if (hi >= 0)
        return UTIL_ERR_SYNTAX;
    return n > (size_t)INT32_MAX ? UTIL_ERR_OVERFLOW : (int)n;
}

/* util_hex_encode - lower-case hex of n bytes into out (2n+1 bytes); returns out */
char *util_hex_encode(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}
