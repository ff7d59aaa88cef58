/* cdt.c - MULE's CompressedData (RFC 8494 section 4, STANAG 4406 Annex E
 * CompressedData with the tagging DESIGN.md "Wire formats" gives), BER
 * per X.690 8.1 (definite lengths only), zlib streams per RFC 1950, and
 * the discard rule of RFC 8494 5.1 for content that is not MULE.
 *
 *     CompressedData ::= SEQUENCE {
 *         compressionAlgorithm  CHOICE { algorithmID-ShortForm [0] INTEGER (0 = zlib),
 *                                        algorithmID-OID [1] OBJECT IDENTIFIER },
 *         compressedContentInfo SEQUENCE {
 *             contentType CHOICE { contentType-ShortForm [0] INTEGER (25 = MULE),
 *                                  contentType-OID [1] OBJECT IDENTIFIER },
 *             compressedContent [0] EXPLICIT OCTET STRING } }
 *
 * We write the short forms with implicit tags (80 01 00, 80 01 19), which
 * Wireshark's cdt dissector decodes; we read those and the explicit-tag
 * form (A0 03 02 01 00) too.  The zlib stream comes from zlib's deflate or,
 * when built with it and chosen, zopfli's (Debian libzopfli): the same
 * RFC 1950/1951 format, a few per cent smaller, any inflate reads it.  Codec functions (wrap, encode, decode,
 * inflate) do no logging; mule_cdt_open() is the receive helper that logs
 * what it discards.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef HAVE_ZOPFLI
#include <zopfli/zopfli.h>
#endif

#include "mule/mule.h"

/* ---- BER writing ------------------------------------------------------------- */

/* ber_len_size - bytes of a definite length field for n */
static size_t ber_len_size(size_t n)
{
    if (n < 0x80)
        return 1;
    size_t k = 1;
    while (k < sizeof n && (n >> (8 * k)) != 0)
        k++;
    return 1 + k;
}

/* ber_put_hdr - write tag and the minimal definite length */
static void ber_put_hdr(struct util_writer *w, uint8_t tag, size_t n)
{
    util_wr_u8(w, tag);
    size_t ls = ber_len_size(n);
    if (ls == 1) {
        util_wr_u8(w, (uint8_t)n);
        return;
    }
    util_wr_u8(w, (uint8_t)(0x80 | (ls - 1)));
    for (size_t k = ls - 1; k > 0; k--)
        util_wr_u8(w, (uint8_t)(n >> (8 * (k - 1))));
}

/* mule_cdt_wrap - append CompressedData for an already compressed zlib stream */
int mule_cdt_wrap(const uint8_t *zdata, size_t zlen, struct util_buf *out)
{
    if (!zdata && zlen)
        return MULE_ERR_INVAL;
    size_t oct = 1 + ber_len_size(zlen) + zlen; /* 04 L z */
    size_t cc = 1 + ber_len_size(oct) + oct;    /* A0 L oct */
    size_t cci_body = 3 + cc;                   /* 80 01 19 | cc */
    size_t cci = 1 + ber_len_size(cci_body) + cci_body;
    size_t outer_body = 3 + cci; /* 80 01 00 | cci */
    size_t total = 1 + ber_len_size(outer_body) + outer_body;
    if (zlen > SIZE_MAX / 2 || total < zlen)
        return UTIL_ERR_NOMEM;
    int rc = util_buf_reserve(out, total);
    if (rc < 0)
        return rc;
    struct util_writer w;
    util_wr_init(&w, out->data + out->len, total);
    ber_put_hdr(&w, 0x30, outer_body);
    util_wr_u8(&w, 0x80);
    util_wr_u8(&w, 0x01);
    util_wr_u8(&w, MULE_CDT_ALG_ZLIB);
    ber_put_hdr(&w, 0x30, cci_body);
    util_wr_u8(&w, 0x80);
    util_wr_u8(&w, 0x01);
    util_wr_u8(&w, MULE_CDT_CT_MULE);
    ber_put_hdr(&w, 0xA0, oct);
    ber_put_hdr(&w, 0x04, zlen);
    util_wr_bytes(&w, zdata, zlen);
    if (util_wr_error(&w) || util_wr_len(&w) != total)
        return MULE_ERR_INVAL;
    out->len += total;
    return 0;
}

/* One deflate stream kept per thread and level, reset between messages:
 * deflateInit at level 9 allocates about 270 kB and clears a 64 kB hash
 * table, which a gateway sending many small messages would otherwise pay
 * each time.  deflateReset gives byte-identical output. */
static _Thread_local struct {
    z_stream s;
    int level; /* -1: none */
    bool live;
} deflater = {.level = -1};

/* mule_cdt_encode_release - free the cached deflate stream (at exit; optional) */
void mule_cdt_encode_release(void)
{
    if (deflater.live)
        deflateEnd(&deflater.s);
    deflater.live = false;
    deflater.level = -1;
}

/* get_deflater - the cached stream for level, reset; NULL if zlib fails */
static z_stream *get_deflater(int level)
{
    if (deflater.live && deflater.level == level) {
        if (deflateReset(&deflater.s) == Z_OK)
            return &deflater.s;
        mule_cdt_encode_release();
    }
    if (deflater.live)
        mule_cdt_encode_release();
    memset(&deflater.s, 0, sizeof deflater.s);
    if (deflateInit(&deflater.s, level) != Z_OK)
        return NULL;
    deflater.live = true;
    deflater.level = level;
    return &deflater.s;
}

/* mule_cdt_encode - compress payload with zlib at level and append the CompressedData */
int mule_cdt_encode(const uint8_t *payload, size_t len, int level, struct util_buf *out)
{
    if ((!payload && len) || level < 0 || level > 9 || len > UINT_MAX)
        return MULE_ERR_INVAL;
    z_stream *s = get_deflater(level);
    if (!s)
        return MULE_ERR_ZLIB;
    uLong bound = deflateBound(s, (uLong)len);
    uint8_t *z = malloc(bound ? bound : 1);
    if (!z)
        return UTIL_ERR_NOMEM;
    s->next_in = (Bytef *)(uintptr_t)payload;
    s->avail_in = (uInt)len;
    s->next_out = z;
    s->avail_out = (uInt)bound;
    int zr = deflate(s, Z_FINISH);
    size_t zlen = (size_t)s->total_out;
    int rc = zr == Z_STREAM_END ? mule_cdt_wrap(z, zlen, out) : MULE_ERR_ZLIB;
    free(z);
    if (zr != Z_STREAM_END)
        mule_cdt_encode_release(); /* start afresh next time */
    return rc;
}

/* mule_zopfli_available - whether this build has zopfli */
bool mule_zopfli_available(void)
{
#ifdef HAVE_ZOPFLI
    return true;
#else
    return false;
#endif
}

/* mule_cdt_encode_zopfli - compress payload with zopfli into a zlib stream
 * and append the CompressedData */
int mule_cdt_encode_zopfli(const uint8_t *payload, size_t len, int iterations, struct util_buf *out)
{
    if ((!payload && len) || iterations < 1 || iterations > 1000)
        return MULE_ERR_INVAL;
#ifdef HAVE_ZOPFLI
    ZopfliOptions opt;
    ZopfliInitOptions(&opt);
    opt.numiterations = iterations;
    unsigned char *z = NULL; /* zopfli grows it with realloc: ours to free */
    size_t zlen = 0;
    ZopfliCompress(&opt, ZOPFLI_FORMAT_ZLIB, payload, len, &z, &zlen);
    if (!z)
        return UTIL_ERR_NOMEM;
    int rc = mule_cdt_wrap(z, zlen, out);
    free(z);
    return rc;
#else
    return MULE_ERR_NO_ZOPFLI;
#endif
}

/* mule_compress_payload - the encoder cfg chooses, zlib beyond zopfli_max_size */
int mule_compress_payload(const struct mule_config *cfg, const uint8_t *payload, size_t len,
                          struct util_buf *out, enum mule_compress *used)
{
    bool zopfli = cfg->compress == MULE_COMPRESS_ZOPFLI && len <= cfg->zopfli_max_size;
    if (used)
        *used = zopfli ? MULE_COMPRESS_ZOPFLI : MULE_COMPRESS_ZLIB;
    if (zopfli)
        return mule_cdt_encode_zopfli(payload, len, cfg->zopfli_iterations, out);
    return mule_cdt_encode(payload, len, cfg->compression_level, out);
}

/* ---- BER reading --------------------------------------------------------------- */

/* ber_hdr - read a tag (low tag numbers only) and a definite length that
 * fits the bytes left; 0 or MULE_ERR_BER / _BER_INDEFINITE */
static int ber_hdr(struct util_reader *r, uint8_t *tag, size_t *len)
{
    *tag = util_rd_u8(r);
    uint8_t l = util_rd_u8(r);
    if (util_rd_error(r))
        return MULE_ERR_BER;
    if ((*tag & 0x1F) == 0x1F)
        return MULE_ERR_BER;
    if (l == 0x80)
        return MULE_ERR_BER_INDEFINITE;
    if (l < 0x80) {
        *len = l;
    } else {
        size_t n = l & 0x7F, v = 0;
        if (n > 4)
            return MULE_ERR_BER;
        for (size_t i = 0; i < n; i++)
            v = (v << 8) | util_rd_u8(r);
        if (util_rd_error(r))
            return MULE_ERR_BER;
        *len = v;
    }
    if (*len > util_rd_remaining(r))
        return MULE_ERR_BER;
    return 0;
}

/* ber_int_value - a BER INTEGER's contents as a long (LONG_MAX if too long) */
static int ber_int_value(const uint8_t *p, size_t n, long *out)
{
    if (n == 0)
        return MULE_ERR_BER;
    if (n > sizeof(long)) {
        *out = LONG_MAX;
        return 0;
    }
    unsigned long v = (p[0] & 0x80) ? ~0UL : 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    *out = (long)v;
    return 0;
}

/* ber_choice_int - a CHOICE of [0] INTEGER (implicit 80 or explicit A0 02)
 * and [1] OBJECT IDENTIFIER (81 or A1: *out = -1); 0 or error */
static int ber_choice_int(struct util_reader *r, long *out, bool *explicit_tag)
{
    uint8_t tag;
    size_t len;
    int rc = ber_hdr(r, &tag, &len);
    if (rc < 0)
        return rc;
    const uint8_t *p = util_rd_ptr(r, len);
    if (!p && len)
        return MULE_ERR_BER;
    switch (tag) {
    case 0x80: *explicit_tag = false; return ber_int_value(p, len, out);
    case 0xA0: {
        struct util_reader in;
        util_rd_init(&in, p, len);
        uint8_t t2;
        size_t l2;
        if ((rc = ber_hdr(&in, &t2, &l2)) < 0)
            return rc;
        if (t2 != 0x02 || l2 != util_rd_remaining(&in))
            return MULE_ERR_BER;
        *explicit_tag = true;
        return ber_int_value(util_rd_ptr(&in, l2), l2, out);
    }
    case 0x81:
    case 0xA1:
        if (len == 0)
            return MULE_ERR_BER;
        *out = -1;
        return 0;
    default: return MULE_ERR_BER;
    }
}

/* mule_cdt_decode - parse CompressedData (no inflation) */
int mule_cdt_decode(const uint8_t *in, size_t len, struct mule_cdt *out)
{
    memset(out, 0, sizeof *out);
    out->algorithm = out->content_type = -1;
    if (!in && len)
        return MULE_ERR_INVAL;
    struct util_reader r, body, cci;
    util_rd_init(&r, in, len);
    uint8_t tag;
    size_t n;
    int rc = ber_hdr(&r, &tag, &n);
    if (rc < 0)
        return rc;
    if (tag != 0x30)
        return MULE_ERR_BER;
    util_rd_init(&body, util_rd_ptr(&r, n), n);
    bool ex1 = false, ex2 = false;
    if ((rc = ber_choice_int(&body, &out->algorithm, &ex1)) < 0)
        return rc;
    if ((rc = ber_hdr(&body, &tag, &n)) < 0)
        return rc;
    if (tag != 0x30 || n != util_rd_remaining(&body))
        return MULE_ERR_BER;
    util_rd_init(&cci, util_rd_ptr(&body, n), n);
    if ((rc = ber_choice_int(&cci, &out->content_type, &ex2)) < 0)
        return rc;
    if ((rc = ber_hdr(&cci, &tag, &n)) < 0)
        return rc;
    if (tag != 0xA0 || n != util_rd_remaining(&cci))
        return MULE_ERR_BER;
    if ((rc = ber_hdr(&cci, &tag, &n)) < 0)
        return rc;
    if (tag != 0x04 || n != util_rd_remaining(&cci))
        return MULE_ERR_BER; /* constructed (24) octet strings are not used by MULE */
    out->zdata = util_rd_ptr(&cci, n);
    out->zlen = n;
    out->explicit_tags = ex1 || ex2;
    if (util_rd_error(&cci) || util_rd_error(&body) || util_rd_error(&r))
        return MULE_ERR_BER;
    if (util_rd_remaining(&r) != 0)
        return MULE_ERR_BER_TRAILING;
    if (out->algorithm != MULE_CDT_ALG_ZLIB)
        return MULE_ERR_ALGORITHM;
    if (out->content_type != MULE_CDT_CT_MULE)
        return MULE_ERR_CONTENT_TYPE;
    return (int)(len > INT_MAX ? INT_MAX : len);
}

/* ---- bounded inflation ------------------------------------------------------------ */

/* zlib's allocations, counted: each block carries its size in front. */
struct zcount {
    size_t cur, peak;
};

union zhdr {
    size_t n;
    max_align_t align;
};

/* zc_alloc - zalloc that counts the bytes zlib holds */
static voidpf zc_alloc(voidpf opaque, uInt items, uInt size)
{
    struct zcount *zc = opaque;
    if (size && items > (SIZE_MAX - sizeof(union zhdr)) / size)
        return Z_NULL;
    size_t n = (size_t)items * size;
    union zhdr *h = malloc(sizeof *h + n);
    if (!h)
        return Z_NULL;
    h->n = n;
    zc->cur += n;
    if (zc->cur > zc->peak)
        zc->peak = zc->cur;
    return h + 1;
}

/* zc_free - zfree matching zc_alloc */
static void zc_free(voidpf opaque, voidpf p)
{
    struct zcount *zc = opaque;
    if (!p)
        return;
    union zhdr *h = (union zhdr *)p - 1;
    zc->cur -= h->n;
    free(h);
}

#define MULE_INFLATE_CHUNK (64u * 1024)

/* inflate_bounded - inflate a zlib stream, appending at most limit bytes
 * to out; on an error out is cut back to where it was, unless keep_head
 * and the error is MULE_ERR_TOO_BIG (out then holds the first limit bytes) */
static int inflate_bounded(const uint8_t *z, size_t zlen, size_t limit, struct util_buf *out,
                           struct mule_inflate_stats *stats, bool keep_head)
{
    if ((!z && zlen) || !out)
        return MULE_ERR_INVAL;
    struct zcount zc = {0, 0};
    z_stream s;
    memset(&s, 0, sizeof s);
    s.zalloc = zc_alloc;
    s.zfree = zc_free;
    s.opaque = &zc;
    if (inflateInit(&s) != Z_OK)
        return UTIL_ERR_NOMEM;
    /* the buffer may not grow past what this call is allowed to add */
    size_t start = out->len, saved_limit = out->limit;
    if (limit > SIZE_MAX - start)
        limit = SIZE_MAX - start;
    if (out->limit && out->limit - (out->limit < start ? out->limit : start) < limit)
        limit = out->limit < start ? 0 : out->limit - start; /* the caller's own bound */
    out->limit = start + limit;
    const uint8_t *zin = z;
    size_t zleft = zlen;
    int rc = 0;
    for (;;) {
        if (s.avail_in == 0 && zleft) {
            s.next_in = (Bytef *)(uintptr_t)zin;
            s.avail_in = zleft > UINT_MAX ? UINT_MAX : (uInt)zleft;
            zin += s.avail_in;
            zleft -= s.avail_in;
        }
        size_t room = start + limit - out->len;
        uint8_t probe;
        size_t avail;
        if (room == 0) {
            /* at the limit: one more byte of output means too big */
            s.next_out = &probe;
            avail = 1;
        } else {
            avail = room < MULE_INFLATE_CHUNK ? room : MULE_INFLATE_CHUNK;
            if (util_buf_reserve(out, avail) < 0) {
                rc = UTIL_ERR_NOMEM;
                break;
            }
            s.next_out = out->data + out->len;
        }
        s.avail_out = (uInt)avail;
        size_t in_before = s.avail_in;
        int zr = inflate(&s, Z_NO_FLUSH);
        size_t produced = avail - s.avail_out;
        if (room == 0 && produced > 0) {
            rc = MULE_ERR_TOO_BIG;
            break;
        }
        if (room > 0)
            out->len += produced;
        if (zr == Z_STREAM_END) {
            if (s.avail_in != 0 || zleft != 0)
                rc = MULE_ERR_ZLIB; /* bytes after the end of the stream */
            break;
        }
        if (zr == Z_MEM_ERROR) {
            rc = UTIL_ERR_NOMEM;
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = MULE_ERR_ZLIB;
            break;
        }
        if (produced == 0 && s.avail_in == in_before) {
            rc = MULE_ERR_ZLIB; /* no progress: the stream ends before its end */
            break;
        }
    }
    if (stats) {
        stats->zlib_peak = zc.peak;
        stats->out_cap = out->cap;
    }
    inflateEnd(&s);
    out->limit = saved_limit;
    if (rc < 0 && !(keep_head && rc == MULE_ERR_TOO_BIG))
        out->len = start;
    return rc;
}

/* mule_inflate - inflate a zlib stream, appending at most limit bytes to out */
int mule_inflate(const uint8_t *z, size_t zlen, size_t limit, struct util_buf *out,
                 struct mule_inflate_stats *stats)
{
    return inflate_bounded(z, zlen, limit, out, stats, false);
}

/* mule_inflate_head - the first limit bytes of a zlib stream (all of it if
 * shorter): MULE_ERR_TOO_BIG with those bytes in out when there is more */
int mule_inflate_head(const uint8_t *z, size_t zlen, size_t limit, struct util_buf *out)
{
    return inflate_bounded(z, zlen, limit, out, NULL, true);
}

/* mule_cdt_open - decode CompressedData and inflate it into payload, logging a discard */
int mule_cdt_open(const uint8_t *in, size_t len, size_t max_size, const char *ids,
                  struct util_buf *payload)
{
    struct mule_cdt cdt;
    int rc = mule_cdt_decode(in, len, &cdt);
    if (rc >= 0)
        rc = mule_inflate(cdt.zdata, cdt.zlen, max_size ? max_size : MULE_DEFAULT_MAX_MESSAGE,
                          payload, NULL);
    if (rc >= 0)
        return 0;
    const char *sep = ids && *ids ? " " : "";
    switch (rc) {
    case MULE_ERR_ALGORITHM:
        util_log(UTIL_LOG_ERR, UTIL_MOD_MULE, "cdt-discard", "%s%sreason=algorithm alg=%ld",
                 ids ? ids : "", sep, cdt.algorithm);
        break;
    case MULE_ERR_CONTENT_TYPE:
        util_log(UTIL_LOG_ERR, UTIL_MOD_MULE, "cdt-discard", "%s%sreason=content-type ct=%ld",
                 ids ? ids : "", sep, cdt.content_type);
        break;
    case MULE_ERR_TOO_BIG:
        util_log(UTIL_LOG_ERR, UTIL_MOD_MULE, "cdt-discard", "%s%sreason=too-big limit=%zu",
                 ids ? ids : "", sep, max_size ? max_size : (size_t)MULE_DEFAULT_MAX_MESSAGE);
        break;
    default:
        util_log(UTIL_LOG_ERR, UTIL_MOD_MULE, "cdt-discard", "%s%sreason=malformed error=\"%s\"",
                 ids ? ids : "", sep, mule_strerror(rc));
        break;
    }
    return rc;
}
