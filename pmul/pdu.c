/* pdu.c - ACP 142 P_MUL PDU codec: the PDU formats of ACP 142 (Data_PDU,
 * Ack_PDU, Address_PDU, Discard_Message_PDU, Announce_PDU, Request_PDU,
 * Reject_PDU, Release_PDU; the FEC and Extra_Address types recognised and
 * refused), the Annex B-3 checksum we send and the RFC 1071 checksum we
 * also accept, Address_PDU splitting with the MAP bits, and iterators over
 * Ack_Info_Entries and their missing Data_PDU sequence numbers.
 *
 * Pure: no I/O, no logging, no clock, no allocation.
 *
 * Byte layouts follow Wireshark's packet-p_mul.c dissector (the judge of
 * our bytes) and the PDUs libjpmul sends (tests/data/pmul/acp142-libjpmul).
 * Where DESIGN.md reads differently, the dissector and the vectors win:
 *  - The Ack_PDU has no Message_ID in its header: after the checksum come
 *    Source_ID_of_Ack_Sender:32 and Count_of_Ack_Info_Entries:16 (14 bytes).
 *  - The optional 8-byte timestamp (100 ms units) is not part of an
 *    Ack_Info_Entry (its Length_of_Ack_Info_Entry never counts it): it
 *    follows the last entry, once per Ack_PDU, and is present when exactly
 *    8 bytes remain before Length_of_PDU.
 *  - X is Count_of_Destination_Entries in the Announce_PDU, whose body is
 *    Expiry_Time | Announced_Multicast_Group | Destination_IDs; Request,
 *    Reject and Release carry Multicast_Group:32.  The Priority byte is
 *    unused in Announce/Request/Reject/Release; X is unused in Ack,
 *    Discard_Message, Request, Reject, Release (ignored here, sent as 0).
 *  - MAP: wire bit 0x80 is "not first", 0x40 "not last" (libjpmul agrees).
 *  - Checksum: Wireshark >= 2.x accepts the RFC 1071 sum as well as the
 *    Annex B-3 one (it tries RFC 1071 first); we try Annex B-3 first and
 *    report which matched.  Both are computed over the whole PDU with
 *    bytes 6-7 taken as zero.
 *  - Missing lists: the dissector reads w, 0, x as the range w..x when w is
 *    not 0 and two more words follow, and flags w >= x as invalid.  We
 *    reject w > x and a lone 0, accept w == x (one number: harmless), and
 *    never send either: a range is written only for 3 or more numbers.
 */
#include <stdlib.h>
#include <string.h>

#include "pmul/pmul.h"

/* pmul_strerror - text for a PMUL_ERR_* (or UTIL_ERR_*) code */
const char *pmul_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case PMUL_ERR_TRUNCATED: return "truncated P_MUL PDU";
    case PMUL_ERR_LENGTH: return "P_MUL length or count does not match the PDU";
    case PMUL_ERR_CHECKSUM: return "bad P_MUL checksum";
    case PMUL_ERR_UNSUPPORTED: return "unsupported P_MUL PDU type";
    case PMUL_ERR_INVALID: return "invalid P_MUL field";
    case PMUL_ERR_OVERFLOW: return "output buffer too small";
    case PMUL_ERR_TOO_BIG: return "P_MUL PDU too big";
    case PMUL_ERR_ARG: return "invalid argument";
    default: break;
    }
    if (err < 0 && err > -100)
        return util_strerror(err);
    return "unknown error";
}

/* pmul_type_name - "Data_PDU", "Ack_PDU", ..., or "unknown" */
const char *pmul_type_name(int type)
{
    switch (type) {
    case PMUL_DATA: return "Data_PDU";
    case PMUL_ACK: return "Ack_PDU";
    case PMUL_ADDRESS: return "Address_PDU";
    case PMUL_DISCARD_MESSAGE: return "Discard_Message_PDU";
    case PMUL_ANNOUNCE: return "Announce_PDU";
    case PMUL_REQUEST: return "Request_PDU";
    case PMUL_REJECT: return "Reject_PDU";
    case PMUL_RELEASE: return "Release_PDU";
    case PMUL_FEC_ADDRESS: return "FEC_Address_PDU";
    case PMUL_EXTRA_ADDRESS: return "Extra_Address_PDU";
    case PMUL_EXTRA_FEC_ADDRESS: return "Extra_FEC_Address_PDU";
    default: return "unknown";
    }
}

/* pmul_pdu_init - zero a PDU and set its type */
void pmul_pdu_init(struct pmul_pdu *p, int type)
{
    memset(p, 0, sizeof *p);
    p->type = (uint8_t)type;
}

/* ---- checksums ------------------------------------------------------------ */

/* byte_at - pdu[i], with the checksum bytes 6-7 read as zero */
static inline unsigned byte_at(const uint8_t *pdu, size_t i)
{
    return (i == PMUL_CHECKSUM_OFF || i == PMUL_CHECKSUM_OFF + 1) ? 0u : pdu[i];
}

/* pmul_checksum_acp142 - the ACP 142 Annex B-3 checksum of a whole PDU */
uint16_t pmul_checksum_acp142(const uint8_t *pdu, size_t len)
{
    if (!pdu || len < PMUL_CHECKSUM_OFF + 2)
        return 0;
    /* Fletcher's two running sums mod 255, then the two check bytes that
     * make both sums zero when placed at offsets 6 and 7 (ISO 8473 style). */
    unsigned long c0 = 0, c1 = 0;
    for (size_t i = 0; i < len; i++) {
        c0 += byte_at(pdu, i);
        if (c0 >= 255)
            c0 -= 255;
        c1 += c0;
        if (c1 >= 255)
            c1 -= 255;
    }
    long long n = (long long)(len - PMUL_CHECKSUM_OFF - 1); /* bytes after the first check byte */
    long long x = (n * (long long)c0 - (long long)c1) % 255;
    if (x < 0)
        x += 255;
    long long y = ((long long)c1 - (n + 1) * (long long)c0) % 255;
    if (y < 0)
        y += 255;
    return (uint16_t)((x << 8) | y);
}

/* pmul_checksum_rfc1071 - the RFC 1071 Internet checksum of a whole PDU */
uint16_t pmul_checksum_rfc1071(const uint8_t *pdu, size_t len)
{
    if (!pdu)
        return 0;
    uint64_t sum = 0;
    size_t i = 0;
    for (; i + 1 < len; i += 2)
        sum += (byte_at(pdu, i) << 8) | byte_at(pdu, i + 1);
    if (i < len)
        sum += byte_at(pdu, i) << 8;
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)~sum;
}

/* pmul_checksum_verify - which checksum the PDU carries, or PMUL_ERR_CHECKSUM */
int pmul_checksum_verify(const uint8_t *pdu, size_t len)
{
    if (!pdu || len < PMUL_CHECKSUM_OFF + 2)
        return PMUL_ERR_TRUNCATED;
    uint16_t found = util_get_u16(pdu + PMUL_CHECKSUM_OFF);
    if (pmul_checksum_acp142(pdu, len) == found)
        return PMUL_CKSUM_ACP142;
    if (pmul_checksum_rfc1071(pdu, len) == found)
        return PMUL_CKSUM_RFC1071;
    return PMUL_ERR_CHECKSUM;
}

/* pmul_checksum_set - write a checksum of `kind` into bytes 6-7 */
int pmul_checksum_set(uint8_t *pdu, size_t len, int kind)
{
    if (!pdu || len < PMUL_CHECKSUM_OFF + 2)
        return PMUL_ERR_ARG;
    uint16_t c;
    if (kind == PMUL_CKSUM_ACP142)
        c = pmul_checksum_acp142(pdu, len);
    else if (kind == PMUL_CKSUM_RFC1071)
        c = pmul_checksum_rfc1071(pdu, len);
    else
        return PMUL_ERR_ARG;
    util_put_u16(pdu + PMUL_CHECKSUM_OFF, c);
    return 0;
}

/* ---- missing lists --------------------------------------------------------- */

/* word_at - the i-th big-endian 16-bit word of a raw list */
static inline uint16_t word_at(const uint8_t *raw, size_t i)
{
    return util_get_u16(raw + 2 * i);
}

/* missing_raw_check - whether a raw missing list is what we accept: no
 * lone 0, no range w, 0, x with w > x; 0 or PMUL_ERR_INVALID */
static int missing_raw_check(const uint8_t *raw, size_t nwords)
{
    size_t i = 0;
    while (i < nwords) {
        uint16_t w = word_at(raw, i);
        if (w != 0 && i + 2 < nwords && word_at(raw, i + 1) == 0) {
            if (w > word_at(raw, i + 2))
                return PMUL_ERR_INVALID;
            i += 3;
        } else if (w == 0) {
            return PMUL_ERR_INVALID;
        } else {
            i++;
        }
    }
    return 0;
}

/* range_words - words one range takes: a; a b; or a 0 b */
static inline size_t range_words(const struct pmul_range *r)
{
    return r->hi == r->lo ? 1 : r->hi == r->lo + 1 ? 2 : 3;
}

/* pmul_ranges_words - 16-bit words n ranges take on the wire */
size_t pmul_ranges_words(const struct pmul_range *r, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        w += range_words(&r[i]);
    return w;
}

/* entry_len - bytes of one entry to encode, or a negative error */
static long entry_len(const struct pmul_ack_entry *e)
{
    size_t words;
    if (e->ranges) {
        for (size_t i = 0; i < e->nranges; i++)
            if (e->ranges[i].lo == 0 || e->ranges[i].lo > e->ranges[i].hi)
                return PMUL_ERR_INVALID;
        if (e->nranges > PMUL_MAX_LEN)
            return PMUL_ERR_TOO_BIG;
        words = pmul_ranges_words(e->ranges, e->nranges);
    } else {
        if (e->missing_words > (PMUL_MAX_LEN - PMUL_ACK_ENTRY_MIN) / 2)
            return PMUL_ERR_TOO_BIG;
        if (e->missing_words > 0 && !e->raw)
            return PMUL_ERR_ARG;
        int rc = missing_raw_check(e->raw, e->missing_words);
        if (rc < 0)
            return rc;
        words = e->missing_words;
    }
    if (words > (PMUL_MAX_LEN - PMUL_ACK_ENTRY_MIN) / 2)
        return PMUL_ERR_TOO_BIG;
    return (long)(PMUL_ACK_ENTRY_MIN + 2 * words);
}

/* pmul_ack_entry_len - bytes one entry takes on the wire, 0 if invalid */
size_t pmul_ack_entry_len(const struct pmul_ack_entry *e)
{
    long n = entry_len(e);
    return n < 0 ? 0 : (size_t)n;
}

/* pmul_missing_init - start walking e's missing numbers, clipped to max_seq */
void pmul_missing_init(struct pmul_missing_iter *it, const struct pmul_ack_entry *e,
                       uint16_t max_seq)
{
    memset(it, 0, sizeof *it);
    it->e = e;
    it->max_seq = max_seq;
}

/* raw_next_range - the next range of a raw list as read, or false */
static bool raw_next_range(struct pmul_missing_iter *it, uint32_t *lo, uint32_t *hi)
{
    const struct pmul_ack_entry *e = it->e;
    size_t n = e->raw ? e->missing_words : 0;
    while (it->pos < n) {
        uint16_t w = word_at(e->raw, it->pos);
        if (w != 0 && it->pos + 2 < n && word_at(e->raw, it->pos + 1) == 0) {
            *lo = w;
            *hi = word_at(e->raw, it->pos + 2);
            it->pos += 3;
        } else {
            *lo = *hi = w;
            it->pos++;
        }
        if (*lo != 0 && *lo <= *hi)
            return true;
    }
    return false;
}

/* pmul_missing_next_range - the next range lo..hi, clipped; false at the end */
bool pmul_missing_next_range(struct pmul_missing_iter *it, uint16_t *lo, uint16_t *hi)
{
    for (;;) {
        uint32_t a, b;
        if (it->e->ranges) {
            if (it->pos >= it->e->nranges)
                return false;
            a = it->e->ranges[it->pos].lo;
            b = it->e->ranges[it->pos].hi;
            it->pos++;
            if (a == 0 || a > b)
                continue;
        } else if (!raw_next_range(it, &a, &b)) {
            return false;
        }
        if (a > it->max_seq)
            continue;
        if (b > it->max_seq)
            b = it->max_seq;
        *lo = (uint16_t)a;
        *hi = (uint16_t)b;
        return true;
    }
}

/* pmul_missing_next - the next missing number; false at the end */
bool pmul_missing_next(struct pmul_missing_iter *it, uint16_t *seq)
{
    while (!it->in_range || it->cur > it->hi) {
        uint16_t lo, hi;
        if (!pmul_missing_next_range(it, &lo, &hi)) {
            it->in_range = false;
            return false;
        }
        it->cur = lo;
        it->hi = hi;
        it->in_range = true;
    }
    *seq = (uint16_t)it->cur++;
    return true;
}

/* pmul_missing_count - how many numbers e names at or below max_seq */
size_t pmul_missing_count(const struct pmul_ack_entry *e, uint16_t max_seq)
{
    struct pmul_missing_iter it;
    uint16_t lo, hi;
    size_t n = 0;
    pmul_missing_init(&it, e, max_seq);
    while (pmul_missing_next_range(&it, &lo, &hi))
        n += (size_t)(hi - lo) + 1;
    return n;
}

/* ---- Ack_Info_Entries ------------------------------------------------------ */

/* raw_entry_at - parse the raw entry at off of a raw list of len bytes into
 * *e; its length, or a negative error (as the decoder reports it) */
static long raw_entry_at(const uint8_t *raw, size_t len, size_t off, struct pmul_ack_entry *e)
{
    if (len - off < 2)
        return PMUL_ERR_LENGTH;
    size_t elen = util_get_u16(raw + off);
    if (elen < PMUL_ACK_ENTRY_MIN)
        return PMUL_ERR_INVALID;
    if (elen > len - off)
        return PMUL_ERR_LENGTH;
    if ((elen - PMUL_ACK_ENTRY_MIN) % 2 != 0)
        return PMUL_ERR_LENGTH;
    memset(e, 0, sizeof *e);
    e->source_id = util_get_u32(raw + off + 2);
    e->message_id = util_get_u32(raw + off + 6);
    e->raw = raw + off + PMUL_ACK_ENTRY_MIN;
    e->missing_words = (elen - PMUL_ACK_ENTRY_MIN) / 2;
    int rc = missing_raw_check(e->raw, e->missing_words);
    if (rc < 0)
        return rc;
    return (long)elen;
}

/* raw_entries_check - whether a raw entry list holds exactly count valid
 * entries; 0 or a negative error */
static int raw_entries_check(const uint8_t *raw, size_t len, size_t count)
{
    size_t off = 0;
    if (len > 0 && !raw)
        return PMUL_ERR_ARG;
    for (size_t i = 0; i < count; i++) {
        struct pmul_ack_entry e;
        long n = raw_entry_at(raw, len, off, &e);
        if (n < 0)
            return (int)n;
        off += (size_t)n;
    }
    return off == len ? 0 : PMUL_ERR_LENGTH;
}

/* pmul_ack_iter_init - start at the first entry */
void pmul_ack_iter_init(struct pmul_ack_iter *it, const struct pmul_pdu *p)
{
    it->p = p;
    it->i = 0;
    it->off = 0;
}

/* pmul_ack_iter_next - the next entry into *e; false at the end */
bool pmul_ack_iter_next(struct pmul_ack_iter *it, struct pmul_ack_entry *e)
{
    const struct pmul_ack *a = &it->p->u.ack;
    if (it->p->type != PMUL_ACK || it->i >= a->count)
        return false;
    if (a->entries) {
        *e = a->entries[it->i++];
        return true;
    }
    if (!a->raw || it->off >= a->raw_len)
        return false;
    long n = raw_entry_at(a->raw, a->raw_len, it->off, e);
    if (n < 0)
        return false;
    it->off += (size_t)n;
    it->i++;
    return true;
}

/* ---- decode ------------------------------------------------------------- */

/* rd_end - the reader's sticky error, or PMUL_ERR_LENGTH if bytes remain
 * (inside a PDU whose Length_of_PDU matched the input, running out of bytes
 * or having some left over both mean its fields disagree with its length) */
static int rd_end(const struct util_reader *r)
{
    if (util_rd_error(r) || util_rd_remaining(r) != 0)
        return PMUL_ERR_LENGTH;
    return 0;
}

/* decode_ack - the body of an Ack_PDU after the checksum */
static int decode_ack(struct util_reader *r, struct pmul_pdu *p)
{
    struct pmul_ack *a = &p->u.ack;
    p->source_id = util_rd_u32(r);
    a->count = util_rd_u16(r);
    if (util_rd_error(r))
        return PMUL_ERR_LENGTH;
    const uint8_t *start = r->data + r->pos;
    size_t rem = util_rd_remaining(r);
    size_t off = 0;
    for (size_t i = 0; i < a->count; i++) {
        struct pmul_ack_entry e;
        long n = raw_entry_at(start, rem, off, &e);
        if (n < 0)
            return (int)n;
        off += (size_t)n;
    }
    a->raw = start;
    a->raw_len = off;
    util_rd_skip(r, off);
    if (util_rd_remaining(r) == PMUL_TIMESTAMP_LEN) {
        a->has_timestamp = true;
        a->timestamp = util_rd_u64(r);
    }
    return rd_end(r);
}

/* decode_address - the body of an Address_PDU after Message_ID */
static int decode_address(struct util_reader *r, struct pmul_pdu *p)
{
    struct pmul_address *a = &p->u.address;
    a->expiry = util_rd_u32(r);
    a->count = util_rd_u16(r);
    a->reserved_len = util_rd_u16(r);
    if (util_rd_error(r))
        return PMUL_ERR_LENGTH;
    size_t esz = PMUL_DEST_LEN + (size_t)a->reserved_len;
    size_t rem = util_rd_remaining(r);
    if (a->count > rem / esz || a->count * esz != rem)
        return PMUL_ERR_LENGTH;
    a->raw = util_rd_ptr(r, rem);
    return rd_end(r);
}

/* decode_announce - the body of an Announce_PDU after Message_ID */
static int decode_announce(struct util_reader *r, struct pmul_pdu *p, uint16_t count)
{
    struct pmul_announce *a = &p->u.announce;
    a->expiry = util_rd_u32(r);
    a->group = util_rd_u32(r);
    a->count = count;
    if (util_rd_error(r) || util_rd_remaining(r) != 4 * (size_t)count)
        return PMUL_ERR_LENGTH;
    a->raw = util_rd_ptr(r, 4 * (size_t)count);
    return rd_end(r);
}

/* pmul_decode - decode the one PDU that is the whole of in[0..len) */
int pmul_decode(const uint8_t *in, size_t len, struct pmul_pdu *p)
{
    return pmul_decode_ex(in, len, 0, p);
}

/* pmul_decode_ex - pmul_decode() with PMUL_DEC_* flags */
int pmul_decode_ex(const uint8_t *in, size_t len, unsigned flags, struct pmul_pdu *p)
{
    if (!p || (!in && len > 0))
        return PMUL_ERR_ARG;
    memset(p, 0, sizeof *p);
    if (len < 2)
        return PMUL_ERR_TRUNCATED;
    size_t length = util_get_u16(in);
    if (length > len)
        return PMUL_ERR_TRUNCATED;
    size_t whole = len;
    if (length < len) {
        if (!(flags & PMUL_DEC_PADDED) || length < 2)
            return PMUL_ERR_LENGTH;
        p->padding = (uint16_t)UTIL_MIN(len - length, (size_t)UINT16_MAX);
        len = length; /* the PDU is what its Length_of_PDU says; the rest is padding */
    }

    struct util_reader r;
    util_rd_init(&r, in, len);
    p->length = util_rd_u16(&r);
    p->priority = util_rd_u8(&r);
    uint8_t b = util_rd_u8(&r);
    p->map = (uint8_t)(b >> 6);
    p->type = b & 0x3F;
    uint16_t x = util_rd_u16(&r);
    p->checksum = util_rd_u16(&r);
    if (util_rd_error(&r))
        return PMUL_ERR_LENGTH;

    int kind = pmul_checksum_verify(in, len);
    if (kind < 0 && whole > len)
        kind = pmul_checksum_verify(in, whole); /* over the padding too, as some pad */
    if (kind < 0) {
        if (!(flags & PMUL_DEC_NO_CHECKSUM))
            return PMUL_ERR_CHECKSUM;
        kind = PMUL_CKSUM_NONE;
    }
    p->cksum_kind = (uint8_t)kind;

    if (p->type == PMUL_ACK) {
        int rc = decode_ack(&r, p);
        return rc < 0 ? rc : (int)whole;
    }

    p->source_id = util_rd_u32(&r);
    p->message_id = util_rd_u32(&r);
    if (util_rd_error(&r))
        return PMUL_ERR_LENGTH;

    int rc;
    switch (p->type) {
    case PMUL_DATA:
        if (x == 0)
            return PMUL_ERR_INVALID;
        p->u.data.seq = x;
        p->u.data.len = util_rd_remaining(&r);
        p->u.data.data = util_rd_ptr(&r, p->u.data.len);
        rc = rd_end(&r);
        break;
    case PMUL_ADDRESS:
        p->u.address.total_pdus = x;
        rc = decode_address(&r, p);
        break;
    case PMUL_DISCARD_MESSAGE: rc = rd_end(&r); break;
    case PMUL_ANNOUNCE: rc = decode_announce(&r, p, x); break;
    case PMUL_REQUEST:
    case PMUL_REJECT:
    case PMUL_RELEASE:
        p->u.group.group = util_rd_u32(&r);
        rc = rd_end(&r);
        break;
    default:
        /* FEC_Address, Extra_Address, Extra_FEC_Address, unknown: the
         * common header is filled in, the rest is not ours to read. */
        return PMUL_ERR_UNSUPPORTED;
    }
    return rc < 0 ? rc : (int)whole;
}

/* ---- encode ------------------------------------------------------------- */

/* ack_body_len - bytes of an Ack_PDU's entries, or a negative error */
static long ack_body_len(const struct pmul_ack *a)
{
    if (a->count > 0xFFFF)
        return PMUL_ERR_TOO_BIG;
    if (!a->entries) {
        int rc = raw_entries_check(a->raw, a->raw_len, a->count);
        return rc < 0 ? rc : (long)a->raw_len;
    }
    long total = 0;
    for (size_t i = 0; i < a->count; i++) {
        long n = entry_len(&a->entries[i]);
        if (n < 0)
            return n;
        total += n;
        if (total > (long)PMUL_MAX_LEN)
            return PMUL_ERR_TOO_BIG;
    }
    return total;
}

/* body_len - the PDU's whole length as it would be encoded, or a negative error */
static long body_len(const struct pmul_pdu *p)
{
    size_t n;
    switch (p->type) {
    case PMUL_DATA:
        if (p->u.data.seq == 0)
            return PMUL_ERR_INVALID;
        if (p->u.data.len > 0 && !p->u.data.data)
            return PMUL_ERR_ARG;
        if (p->u.data.len > PMUL_MAX_LEN - PMUL_HDR_LEN)
            return PMUL_ERR_TOO_BIG;
        return (long)(PMUL_HDR_LEN + p->u.data.len);
    case PMUL_ACK: {
        long b = ack_body_len(&p->u.ack);
        if (b < 0)
            return b;
        n = PMUL_ACK_HDR_LEN + (size_t)b + (p->u.ack.has_timestamp ? PMUL_TIMESTAMP_LEN : 0);
        return n > PMUL_MAX_LEN ? PMUL_ERR_TOO_BIG : (long)n;
    }
    case PMUL_ADDRESS: {
        const struct pmul_address *a = &p->u.address;
        size_t esz = PMUL_DEST_LEN + (size_t)a->reserved_len;
        if (a->count > 0xFFFF || a->count > (PMUL_MAX_LEN - PMUL_ADDRESS_HDR_LEN) / esz)
            return PMUL_ERR_TOO_BIG;
        if (a->count > 0 && !a->dests && !a->raw)
            return PMUL_ERR_ARG;
        return (long)(PMUL_ADDRESS_HDR_LEN + a->count * esz);
    }
    case PMUL_DISCARD_MESSAGE: return PMUL_HDR_LEN;
    case PMUL_ANNOUNCE: {
        const struct pmul_announce *a = &p->u.announce;
        if (a->count > 0xFFFF || a->count > (PMUL_MAX_LEN - PMUL_ANNOUNCE_HDR_LEN) / 4)
            return PMUL_ERR_TOO_BIG;
        if (a->count > 0 && !a->dest_ids && !a->raw)
            return PMUL_ERR_ARG;
        return (long)(PMUL_ANNOUNCE_HDR_LEN + 4 * a->count);
    }
    case PMUL_REQUEST:
    case PMUL_REJECT:
    case PMUL_RELEASE: return PMUL_GROUP_PDU_LEN;
    case PMUL_FEC_ADDRESS:
    case PMUL_EXTRA_ADDRESS:
    case PMUL_EXTRA_FEC_ADDRESS: return PMUL_ERR_UNSUPPORTED;
    default: return PMUL_ERR_ARG;
    }
}

/* pmul_encoded_len - bytes pmul_encode() would write, or a negative error */
int pmul_encoded_len(const struct pmul_pdu *p)
{
    if (!p || p->map > 3)
        return PMUL_ERR_ARG;
    long n = body_len(p);
    return (int)n;
}

/* put_missing - write an entry's missing list */
static void put_missing(struct util_writer *w, const struct pmul_ack_entry *e)
{
    if (!e->ranges) {
        util_wr_bytes(w, e->raw, 2 * e->missing_words);
        return;
    }
    for (size_t i = 0; i < e->nranges; i++) {
        const struct pmul_range *r = &e->ranges[i];
        util_wr_u16(w, r->lo);
        if (r->hi == r->lo)
            continue;
        if (r->hi != r->lo + 1)
            util_wr_u16(w, 0);
        util_wr_u16(w, r->hi);
    }
}

/* put_ack - an Ack_PDU's body after the checksum */
static void put_ack(struct util_writer *w, const struct pmul_pdu *p)
{
    const struct pmul_ack *a = &p->u.ack;
    util_wr_u32(w, p->source_id);
    util_wr_u16(w, (uint16_t)a->count);
    if (a->entries) {
        for (size_t i = 0; i < a->count; i++) {
            const struct pmul_ack_entry *e = &a->entries[i];
            util_wr_u16(w, (uint16_t)entry_len(e)); /* checked by body_len */
            util_wr_u32(w, e->source_id);
            util_wr_u32(w, e->message_id);
            put_missing(w, e);
        }
    } else {
        util_wr_bytes(w, a->raw, a->raw_len);
    }
    if (a->has_timestamp)
        util_wr_u64(w, a->timestamp);
}

/* put_address - an Address_PDU's body after Message_ID */
static void put_address(struct util_writer *w, const struct pmul_pdu *p)
{
    const struct pmul_address *a = &p->u.address;
    util_wr_u32(w, a->expiry);
    util_wr_u16(w, (uint16_t)a->count);
    util_wr_u16(w, a->reserved_len);
    if (!a->dests) {
        util_wr_bytes(w, a->raw, a->count * (PMUL_DEST_LEN + (size_t)a->reserved_len));
        return;
    }
    for (size_t i = 0; i < a->count; i++) {
        util_wr_u32(w, a->dests[i].dest_id);
        util_wr_u32(w, a->dests[i].msn);
        if (a->dests[i].reserved)
            util_wr_bytes(w, a->dests[i].reserved, a->reserved_len);
        else
            util_wr_zero(w, a->reserved_len);
    }
}

/* pmul_encode - write the PDU with its Length and Annex B-3 checksum */
int pmul_encode(const struct pmul_pdu *p, uint8_t *out, size_t cap)
{
    int n = pmul_encoded_len(p);
    if (n < 0)
        return n;
    if ((size_t)n > cap || !out)
        return PMUL_ERR_OVERFLOW;

    uint16_t x = 0;
    if (p->type == PMUL_DATA)
        x = p->u.data.seq;
    else if (p->type == PMUL_ADDRESS)
        x = p->u.address.total_pdus;
    else if (p->type == PMUL_ANNOUNCE)
        x = (uint16_t)p->u.announce.count;

    struct util_writer w;
    util_wr_init(&w, out, cap);
    util_wr_u16(&w, (uint16_t)n);
    util_wr_u8(&w, p->priority);
    util_wr_u8(&w, (uint8_t)((p->map << 6) | (p->type & 0x3F)));
    util_wr_u16(&w, x);
    util_wr_u16(&w, 0); /* checksum, below */
    if (p->type == PMUL_ACK) {
        put_ack(&w, p);
    } else {
        util_wr_u32(&w, p->source_id);
        util_wr_u32(&w, p->message_id);
        switch (p->type) {
        case PMUL_DATA: util_wr_bytes(&w, p->u.data.data, p->u.data.len); break;
        case PMUL_ADDRESS: put_address(&w, p); break;
        case PMUL_ANNOUNCE:
            util_wr_u32(&w, p->u.announce.expiry);
            util_wr_u32(&w, p->u.announce.group);
            for (size_t i = 0; i < p->u.announce.count; i++)
                util_wr_u32(&w, pmul_announce_dest(p, i));
            break;
        case PMUL_REQUEST:
        case PMUL_REJECT:
        case PMUL_RELEASE: util_wr_u32(&w, p->u.group.group); break;
        default: break; /* Discard_Message: nothing more */
        }
    }
    if (util_wr_error(&w) || util_wr_len(&w) != (size_t)n)
        return PMUL_ERR_OVERFLOW; /* cannot happen: n was computed from the same fields */
    util_put_u16(out + PMUL_CHECKSUM_OFF, pmul_checksum_acp142(out, (size_t)n));
    return n;
}

/* ---- Address_PDU destinations and splitting ---------------------------- */

/* pmul_address_dest - the i-th destination entry of an Address_PDU */
int pmul_address_dest(const struct pmul_pdu *p, size_t i, struct pmul_dest *d)
{
    const struct pmul_address *a = &p->u.address;
    if (p->type != PMUL_ADDRESS || i >= a->count)
        return PMUL_ERR_ARG;
    if (a->dests) {
        *d = a->dests[i];
        return 0;
    }
    if (!a->raw)
        return PMUL_ERR_ARG;
    const uint8_t *e = a->raw + i * (PMUL_DEST_LEN + (size_t)a->reserved_len);
    d->dest_id = util_get_u32(e);
    d->msn = util_get_u32(e + 4);
    d->reserved = e + PMUL_DEST_LEN;
    return 0;
}

/* dest_cmp - qsort order by Destination_ID */
static int dest_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct pmul_dest *)a)->dest_id;
    uint32_t y = ((const struct pmul_dest *)b)->dest_id;
    return x < y ? -1 : x > y;
}

/* pmul_dests_sort - sort entries by Destination_ID */
void pmul_dests_sort(struct pmul_dest *d, size_t n)
{
    if (d && n > 1)
        qsort(d, n, sizeof *d, dest_cmp);
}

/* pmul_address_fit - how many destination entries fit one Address_PDU in room bytes */
size_t pmul_address_fit(size_t room, uint16_t reserved_len)
{
    size_t esz = PMUL_DEST_LEN + (size_t)reserved_len;
    if (room > PMUL_MAX_LEN)
        room = PMUL_MAX_LEN;
    if (room < PMUL_ADDRESS_HDR_LEN + esz)
        return 0;
    size_t n = (room - PMUL_ADDRESS_HDR_LEN) / esz;
    return n > 0xFFFF ? 0xFFFF : n;
}

/* pmul_address_parts - how many Address_PDUs carry ndest entries */
int pmul_address_parts(size_t ndest, size_t room, uint16_t reserved_len)
{
    if (room < PMUL_ADDRESS_HDR_LEN)
        return PMUL_ERR_TOO_BIG;
    if (ndest == 0)
        return 1;
    size_t fit = pmul_address_fit(room, reserved_len);
    if (fit == 0)
        return PMUL_ERR_TOO_BIG;
    size_t parts = ndest / fit + (ndest % fit != 0);
    if (parts > 0x7FFFFFFF)
        return PMUL_ERR_TOO_BIG;
    return (int)parts;
}

/* pmul_address_split - the part-th Address_PDU of a split destination list */
int pmul_address_split(const struct pmul_pdu *whole, size_t room, size_t part, struct pmul_pdu *out)
{
    if (!whole || !out || whole->type != PMUL_ADDRESS)
        return PMUL_ERR_ARG;
    const struct pmul_address *a = &whole->u.address;
    int parts = pmul_address_parts(a->count, room, a->reserved_len);
    if (parts < 0)
        return parts;
    if (part >= (size_t)parts)
        return PMUL_ERR_ARG;
    size_t fit = pmul_address_fit(room, a->reserved_len);
    size_t first = part * fit;
    size_t n = a->count == 0 ? 0 : UTIL_MIN(fit, a->count - first);
    *out = *whole;
    out->u.address.count = n;
    if (a->dests)
        out->u.address.dests = a->dests + first;
    else if (a->raw)
        out->u.address.raw = a->raw + first * (PMUL_DEST_LEN + (size_t)a->reserved_len);
    out->map = 0;
    if (parts > 1) {
        if (part > 0)
            out->map |= PMUL_MAP_NOT_FIRST;
        if (part + 1 < (size_t)parts)
            out->map |= PMUL_MAP_NOT_LAST;
    }
    return 0;
}

/* pmul_announce_dest - the i-th Destination_ID of an Announce_PDU */
uint32_t pmul_announce_dest(const struct pmul_pdu *p, size_t i)
{
    const struct pmul_announce *a = &p->u.announce;
    if (p->type != PMUL_ANNOUNCE || i >= a->count)
        return 0;
    if (a->dest_ids)
        return a->dest_ids[i];
    return a->raw ? util_get_u32(a->raw + 4 * i) : 0;
}

/* ---- comparison ---------------------------------------------------------- */

/* A missing-list walk that merges adjacent ranges, so that 5..6 given as a
 * range and 5, 6 read off the wire compare equal. */
struct merged_iter {
    struct pmul_missing_iter it;
    bool have;
    uint16_t lo, hi;
};

/* merged_next - the next maximal run of adjacent ranges */
static bool merged_next(struct merged_iter *m, uint16_t *lo, uint16_t *hi)
{
    if (!m->have && !pmul_missing_next_range(&m->it, &m->lo, &m->hi))
        return false;
    uint16_t a = m->lo, b = m->hi;
    m->have = false;
    while (pmul_missing_next_range(&m->it, &m->lo, &m->hi)) {
        if (b != 0xFFFF && m->lo == b + 1) {
            b = m->hi;
            continue;
        }
        m->have = true;
        break;
    }
    *lo = a;
    *hi = b;
    return true;
}

/* missing_equal - whether two entries name the same numbers in the same order */
static bool missing_equal(const struct pmul_ack_entry *x, const struct pmul_ack_entry *y)
{
    struct merged_iter a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    pmul_missing_init(&a.it, x, 0xFFFF);
    pmul_missing_init(&b.it, y, 0xFFFF);
    for (;;) {
        uint16_t alo, ahi, blo, bhi;
        bool ma = merged_next(&a, &alo, &ahi);
        bool mb = merged_next(&b, &blo, &bhi);
        if (ma != mb)
            return false;
        if (!ma)
            return true;
        if (alo != blo || ahi != bhi)
            return false;
    }
}

/* ack_equal - whether two Ack_PDU bodies carry the same entries */
static bool ack_equal(const struct pmul_pdu *a, const struct pmul_pdu *b)
{
    const struct pmul_ack *x = &a->u.ack, *y = &b->u.ack;
    if (x->count != y->count || x->has_timestamp != y->has_timestamp)
        return false;
    if (x->has_timestamp && x->timestamp != y->timestamp)
        return false;
    struct pmul_ack_iter ia, ib;
    struct pmul_ack_entry ea, eb;
    pmul_ack_iter_init(&ia, a);
    pmul_ack_iter_init(&ib, b);
    for (size_t i = 0; i < x->count; i++) {
        if (!pmul_ack_iter_next(&ia, &ea) || !pmul_ack_iter_next(&ib, &eb))
            return false;
        if (ea.source_id != eb.source_id || ea.message_id != eb.message_id)
            return false;
        if (!missing_equal(&ea, &eb))
            return false;
    }
    return true;
}

/* reserved_equal - compare two reserved fields (NULL reads as zeros) */
static bool reserved_equal(const uint8_t *x, const uint8_t *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((x ? x[i] : 0) != (y ? y[i] : 0))
            return false;
    return true;
}

/* address_equal - whether two Address_PDU bodies are the same */
static bool address_equal(const struct pmul_pdu *a, const struct pmul_pdu *b)
{
    const struct pmul_address *x = &a->u.address, *y = &b->u.address;
    if (x->total_pdus != y->total_pdus || x->expiry != y->expiry ||
        x->reserved_len != y->reserved_len || x->count != y->count)
        return false;
    for (size_t i = 0; i < x->count; i++) {
        struct pmul_dest da, db;
        if (pmul_address_dest(a, i, &da) < 0 || pmul_address_dest(b, i, &db) < 0)
            return false;
        if (da.dest_id != db.dest_id || da.msn != db.msn ||
            !reserved_equal(da.reserved, db.reserved, x->reserved_len))
            return false;
    }
    return true;
}

/* pmul_pdu_equal - whether two PDUs have the same type and fields */
bool pmul_pdu_equal(const struct pmul_pdu *a, const struct pmul_pdu *b)
{
    if (a->type != b->type || a->priority != b->priority || a->map != b->map ||
        a->source_id != b->source_id || a->message_id != b->message_id)
        return false;
    switch (a->type) {
    case PMUL_DATA:
        return a->u.data.seq == b->u.data.seq && a->u.data.len == b->u.data.len &&
               (a->u.data.len == 0 || memcmp(a->u.data.data, b->u.data.data, a->u.data.len) == 0);
    case PMUL_ACK: return ack_equal(a, b);
    case PMUL_ADDRESS: return address_equal(a, b);
    case PMUL_ANNOUNCE:
        if (a->u.announce.expiry != b->u.announce.expiry ||
            a->u.announce.group != b->u.announce.group ||
            a->u.announce.count != b->u.announce.count)
            return false;
        for (size_t i = 0; i < a->u.announce.count; i++)
            if (pmul_announce_dest(a, i) != pmul_announce_dest(b, i))
                return false;
        return true;
    case PMUL_REQUEST:
    case PMUL_REJECT:
    case PMUL_RELEASE: return a->u.group.group == b->u.group.group;
    default: return true; /* Discard_Message, and the header of the others */
    }
}
