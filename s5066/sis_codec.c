/* sis_codec.c - STANAG 5066 Ed.3 Annex A SIS codec: the S_Primitive
 * encoding of A.2.2 (generic format A.2.2.2, the primitives A.2.2.3 to
 * A.2.2.27, the common fields A.2.2.28), the client transport header of
 * Annex F (STANAG 4406 Annex E), address strings (Annex C), and a stream
 * decoder that resynchronises on the preamble.
 *
 * Pure: no I/O, no logging, no clock.  The only allocation is the stream
 * decoder's util_buf, bounded by its limit.
 *
 * Byte layouts follow Wireshark's packet-s5066sis.c, the judge of our
 * bytes.  Where Annex A (whose layouts are figures) and the dissector could
 * be read differently we follow the dissector:
 *  - S_UNIDATA_REQUEST: the service type takes one byte and the top nibble
 *    of the next; the TTL is the remaining 20 bits (byte 6 low nibble and
 *    bytes 7-8), so the request header is 11 bytes before the U_PDU.
 *  - S_EXPEDITED_UNIDATA_REQUEST / _INDICATION: the dissector shows the
 *    high nibble of the first byte as unused (Annex A has no priority);
 *    we carry it in `priority` so decode/encode is byte exact.
 *  - ..._REQUEST_REJECTED: reason is the 4-bit high nibble, SAP the low one.
 *  - S_UNIDATA_INDICATION: the 4 Rockwell Collins bytes sit right after the
 *    U_PDU size.  The dissector tests for them before looking at the tx
 *    mode; we accept them only outside tx mode 3, where the two block
 *    counts are real fields (a tx-mode-3 indication with two empty lists
 *    is mis-read by the dissector as the Rockwell layout; nothing to do).
 *  - The dissector reads a client transport header after the data of
 *    CONFIRM/REJECTED on SAP 2/6/7; that is its bug (oracle quirk Q1):
 *    the echoed U_PDU starts with the header, nothing follows it.
 */
#include <string.h>

#include "s5066/s5066.h"

/* s5066_strerror - text for an S5066_ERR_* (or UTIL_ERR_*) code */
const char *s5066_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case S5066_ERR_TRUNCATED: return "truncated S_Primitive";
    case S5066_ERR_BAD_PREAMBLE: return "bad S_Primitive preamble (not 90 EB)";
    case S5066_ERR_BAD_VERSION: return "unsupported S_Primitive version (not 00)";
    case S5066_ERR_TOO_LONG: return "S_Primitive size beyond the limit";
    case S5066_ERR_UNKNOWN_TYPE: return "unknown S_Primitive type";
    case S5066_ERR_BAD_FIELD: return "S_Primitive field out of range";
    case S5066_ERR_SIZE_MISMATCH: return "S_Primitive size does not match its fields";
    case S5066_ERR_OVERFLOW: return "output buffer too small";
    case S5066_ERR_BAD_ADDRESS: return "bad STANAG 5066 address";
    case S5066_ERR_NOMEM: return "out of memory";
    case S5066_ERR_INVAL: return "invalid argument";
    case S5066_ERR_UPDU_TOO_LARGE: return "U_PDU larger than the MTU";
    case S5066_ERR_QUEUE_FULL: return "send queue full";
    case S5066_ERR_LINK: return "link to the 5066 server failed";
    case S5066_ERR_TIMEOUT: return "no answer from the 5066 server";
    default: break;
    }
    if (err < 0 && err > -100)
        return util_strerror(err);
    return "unknown error";
}

static const char *const type_names[S5066_TYPE_MAX + 1] = {
    "S_UNKNOWN",
    "S_BIND_REQUEST",
    "S_UNBIND_REQUEST",
    "S_BIND_ACCEPTED",
    "S_BIND_REJECTED",
    "S_UNBIND_INDICATION",
    "S_HARD_LINK_ESTABLISH",
    "S_HARD_LINK_TERMINATE",
    "S_HARD_LINK_ESTABLISHED",
    "S_HARD_LINK_REJECTED",
    "S_HARD_LINK_TERMINATED",
    "S_HARD_LINK_INDICATION",
    "S_HARD_LINK_ACCEPT",
    "S_HARD_LINK_REJECT",
    "S_SUBNET_AVAILABILITY",
    "S_DATAFLOW_ON",
    "S_DATAFLOW_OFF",
    "S_KEEP_ALIVE",
    "S_MANAGEMENT_MESSAGE_REQUEST",
    "S_MANAGEMENT_MESSAGE_INDICATION",
    "S_UNIDATA_REQUEST",
    "S_UNIDATA_INDICATION",
    "S_UNIDATA_REQUEST_CONFIRM",
    "S_UNIDATA_REQUEST_REJECTED",
    "S_EXPEDITED_UNIDATA_REQUEST",
    "S_EXPEDITED_UNIDATA_INDICATION",
    "S_EXPEDITED_UNIDATA_REQUEST_CONFIRM",
    "S_EXPEDITED_UNIDATA_REQUEST_REJECTED",
};

/* s5066_type_name - "S_BIND_REQUEST" ..., or "S_UNKNOWN" */
const char *s5066_type_name(int type)
{
    if (type < S5066_TYPE_MIN || type > S5066_TYPE_MAX)
        return type_names[0];
    return type_names[type];
}

/* s5066_prim_init - zero a primitive and set its type */
void s5066_prim_init(struct s5066_prim *p, int type)
{
    memset(p, 0, sizeof(*p));
    p->type = type;
}

/* ---- blocks and addresses ---------------------------------------------- */

/* s5066_block_at - the i-th (pos, size) pair of a raw block list */
struct s5066_block s5066_block_at(const uint8_t *list, size_t i)
{
    struct s5066_block b;
    b.pos = util_get_u16(list + 4 * i);
    b.size = util_get_u16(list + 4 * i + 2);
    return b;
}

/* s5066_blocks_put - write n pairs as a raw block list into out (4n bytes) */
void s5066_blocks_put(uint8_t *out, const struct s5066_block *blocks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        util_put_u16(out + 4 * i, blocks[i].pos);
        util_put_u16(out + 4 * i + 2, blocks[i].size);
    }
}

/* s5066_addr_make - an address from a 28-bit address and the group bit (size 7) */
struct s5066_addr s5066_addr_make(uint32_t addr, bool group)
{
    struct s5066_addr a;
    a.addr = addr & S5066_MAX_ADDR;
    a.group = group ? 1 : 0;
    a.size = S5066_ADDR_SIZE_FULL;
    return a;
}

/* s5066_addr_to_u32 - group:1 address:28 as one number (the dotted quad's value) */
uint32_t s5066_addr_to_u32(const struct s5066_addr *a)
{
    return ((uint32_t)(a->group & 1) << 28) | (a->addr & S5066_MAX_ADDR);
}

/* s5066_addr_from_u32 - the inverse; S5066_ERR_BAD_ADDRESS above 31.255.255.255 */
int s5066_addr_from_u32(uint32_t v, struct s5066_addr *a)
{
    if (v > 0x1FFFFFFFu)
        return S5066_ERR_BAD_ADDRESS;
    *a = s5066_addr_make(v & S5066_MAX_ADDR, (v >> 28) & 1);
    return 0;
}

/* s5066_addr_is_broadcast - whether a is the group address 31.255.255.255 */
bool s5066_addr_is_broadcast(const struct s5066_addr *a)
{
    return a->group == 1 && a->addr == S5066_MAX_ADDR;
}

/* s5066_addr_format - dotted quad of a into buf (>= S5066_ADDR_STRLEN); returns buf */
char *s5066_addr_format(const struct s5066_addr *a, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    uint32_t v = s5066_addr_to_u32(a);
    char tmp[S5066_ADDR_STRLEN];
    char *o = tmp;
    for (int i = 3; i >= 0; i--) {
        unsigned octet = (v >> (8 * i)) & 0xFF;
        if (octet >= 100)
            *o++ = (char)('0' + octet / 100);
        if (octet >= 10)
            *o++ = (char)('0' + octet / 10 % 10);
        *o++ = (char)('0' + octet % 10);
        if (i)
            *o++ = '.';
    }
    *o = '\0';
    size_t n = (size_t)(o - tmp);
    if (n >= len)
        n = len - 1;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return buf;
}

/* s5066_addr_parse - "a.b.c.d" (decimal, no spaces, a <= 31) -> *a with size 7 */
int s5066_addr_parse(const char *s, struct s5066_addr *a)
{
    if (!s || !a)
        return S5066_ERR_INVAL;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned octet = 0;
        int digits = 0;
        while (*s >= '0' && *s <= '9') {
            if (++digits > 3)
                return S5066_ERR_BAD_ADDRESS;
            octet = octet * 10 + (unsigned)(*s - '0');
            s++;
        }
        if (digits == 0 || octet > 255)
            return S5066_ERR_BAD_ADDRESS;
        v = (v << 8) | octet;
        if (i < 3) {
            if (*s != '.')
                return S5066_ERR_BAD_ADDRESS;
            s++;
        }
    }
    if (*s != '\0' || v == 0)
        return S5066_ERR_BAD_ADDRESS;
    return s5066_addr_from_u32(v, a);
}

/* ---- client transport header ------------------------------------------- */

/* s5066_client_hdr_encode - write the 6 bytes; 6 or S5066_ERR_BAD_FIELD / _OVERFLOW */
int s5066_client_hdr_encode(const struct s5066_client_hdr *h, uint8_t *out, size_t cap)
{
    if (h->conn_id > 15 || h->reserved > 15)
        return S5066_ERR_BAD_FIELD;
    if (cap < S5066_CLIENT_HDR_LEN)
        return S5066_ERR_OVERFLOW;
    out[0] = (uint8_t)(h->conn_id << 4 | h->reserved);
    out[1] = h->updu_id;
    util_put_u16(out + 2, h->segment);
    util_put_u16(out + 4, h->app_id);
    return S5066_CLIENT_HDR_LEN;
}

/* s5066_client_hdr_decode - read the 6 bytes at in; 6 or S5066_ERR_TRUNCATED */
int s5066_client_hdr_decode(const uint8_t *in, size_t len, struct s5066_client_hdr *h)
{
    if (len < S5066_CLIENT_HDR_LEN)
        return S5066_ERR_TRUNCATED;
    h->conn_id = in[0] >> 4;
    h->reserved = in[0] & 0x0F;
    h->updu_id = in[1];
    h->segment = util_get_u16(in + 2);
    h->app_id = util_get_u16(in + 4);
    return S5066_CLIENT_HDR_LEN;
}

/* ---- field helpers -------------------------------------------------------- */

/* addr_ok - whether an address's fields fit their bits */
static bool addr_ok(const struct s5066_addr *a)
{
    return a->addr <= S5066_MAX_ADDR && a->group <= 1 && a->size <= 7;
}

/* put_addr - append the 4-byte address field */
static void put_addr(struct util_writer *w, const struct s5066_addr *a)
{
    util_wr_u32(w, (uint32_t)a->size << 29 | (uint32_t)a->group << 28 | a->addr);
}

/* get_addr - read the 4-byte address field */
static struct s5066_addr get_addr(struct util_reader *r)
{
    uint32_t v = util_rd_u32(r);
    struct s5066_addr a;
    a.size = (uint8_t)(v >> 29);
    a.group = (uint8_t)((v >> 28) & 1);
    a.addr = v & S5066_MAX_ADDR;
    return a;
}

/* service_ok - whether a service type's fields fit their bits */
static bool service_ok(const struct s5066_service *s)
{
    return s->tx_mode <= 15 && s->confirm <= 3 && s->order <= 1 && s->extended <= 1 &&
           s->min_retx <= 15;
}

/* service_byte - the first service-type byte: tx:4 confirm:2 order:1 ext:1 */
static uint8_t service_byte(const struct s5066_service *s)
{
    return (uint8_t)(s->tx_mode << 4 | s->confirm << 2 | s->order << 1 | s->extended);
}

/* get_service - split the first service-type byte and the retransmissions nibble */
static void get_service(uint8_t b0, uint8_t b1, struct s5066_service *s)
{
    s->tx_mode = b0 >> 4;
    s->confirm = (b0 >> 2) & 3;
    s->order = (b0 >> 1) & 1;
    s->extended = b0 & 1;
    s->min_retx = b1 >> 4;
}

/* hard_link_lead - 0 no leading byte, 1 status byte, 2 reason byte, -1 address only */
static int hard_link_lead(int type)
{
    switch (type) {
    case S5066_HARD_LINK_ESTABLISH:
    case S5066_HARD_LINK_ACCEPT:
        return 0;
    case S5066_HARD_LINK_ESTABLISHED:
    case S5066_HARD_LINK_INDICATION:
        return 1;
    case S5066_HARD_LINK_REJECTED:
    case S5066_HARD_LINK_TERMINATED:
    case S5066_HARD_LINK_REJECT:
        return 2;
    default:
        return -1; /* S5066_HARD_LINK_TERMINATE */
    }
}

/* body_len - bytes after the size field (type byte included), or a negative
 * error if a field does not fit its bits */
static long body_len(const struct s5066_prim *p)
{
    switch (p->type) {
    case S5066_BIND_REQUEST: {
        const struct s5066_bind_request *b = &p->u.bind_request;
        if (b->sap > 15 || b->rank > 15 || b->unused > 15 || !service_ok(&b->service))
            return S5066_ERR_BAD_FIELD;
        return 4;
    }
    case S5066_UNBIND_REQUEST:
    case S5066_DATAFLOW_ON:
    case S5066_DATAFLOW_OFF:
    case S5066_KEEP_ALIVE:
        return 1;
    case S5066_BIND_ACCEPTED:
        if (p->u.bind_accepted.sap > 15 || p->u.bind_accepted.unused > 15)
            return S5066_ERR_BAD_FIELD;
        return 4;
    case S5066_BIND_REJECTED:
    case S5066_UNBIND_INDICATION:
        return 2;
    case S5066_HARD_LINK_ESTABLISH:
    case S5066_HARD_LINK_TERMINATE:
    case S5066_HARD_LINK_ESTABLISHED:
    case S5066_HARD_LINK_REJECTED:
    case S5066_HARD_LINK_TERMINATED:
    case S5066_HARD_LINK_INDICATION:
    case S5066_HARD_LINK_ACCEPT:
    case S5066_HARD_LINK_REJECT: {
        const struct s5066_hard_link *h = &p->u.hard_link;
        int lead = hard_link_lead(p->type);
        if (!addr_ok(&h->remote))
            return S5066_ERR_BAD_FIELD;
        if (lead < 0)
            return 5;
        if (h->link_type > 3 || h->link_priority > 3 || h->sap > 15)
            return S5066_ERR_BAD_FIELD;
        return lead ? 7 : 6;
    }
    case S5066_SUBNET_AVAILABILITY:
        return 3;
    case S5066_MANAGEMENT_MSG_REQUEST:
    case S5066_MANAGEMENT_MSG_INDICATION:
        if (p->u.mgmt.body_len && !p->u.mgmt.body)
            return S5066_ERR_INVAL;
        if (p->u.mgmt.body_len > S5066_MAX_SIZE - 2)
            return S5066_ERR_TOO_LONG;
        return 2 + (long)p->u.mgmt.body_len;
    case S5066_UNIDATA_REQUEST:
    case S5066_EXPEDITED_UNIDATA_REQUEST: {
        const struct s5066_unidata_request *q = &p->u.req;
        if (q->priority > 15 || q->sap > 15 || !addr_ok(&q->dest) || !service_ok(&q->mode) ||
            q->ttl > S5066_MAX_TTL || q->updu_len > 0xFFFF)
            return S5066_ERR_BAD_FIELD;
        if (q->updu_len && !q->updu)
            return S5066_ERR_INVAL;
        return 12 + (long)q->updu_len;
    }
    case S5066_UNIDATA_INDICATION:
    case S5066_EXPEDITED_UNIDATA_INDICATION: {
        const struct s5066_unidata_indication *d = &p->u.ind;
        if (d->priority > 15 || d->dest_sap > 15 || d->src_sap > 15 || d->tx_mode > 15 ||
            !addr_ok(&d->dest) || !addr_ok(&d->src) || d->updu_len > 0xFFFF)
            return S5066_ERR_BAD_FIELD;
        if ((d->updu_len && !d->updu) || (d->n_err && !d->err_blocks) ||
            (d->n_nrx && !d->nrx_blocks))
            return S5066_ERR_INVAL;
        long n = 13 + (long)d->updu_len;
        if (d->tx_mode == S5066_TX_NON_ARQ_ERRORS) {
            if (d->rc_extra)
                return S5066_ERR_BAD_FIELD; /* the Rockwell bytes only outside mode 3 */
            n += 4 + 4L * d->n_err + 4L * d->n_nrx;
        } else {
            if (d->n_err || d->n_nrx)
                return S5066_ERR_BAD_FIELD; /* block lists only in tx mode 3 */
            if (d->rc_extra)
                n += 4;
        }
        return n;
    }
    case S5066_UNIDATA_REQUEST_CONFIRM:
    case S5066_UNIDATA_REQUEST_REJECTED:
    case S5066_EXPEDITED_UNIDATA_REQUEST_CONFIRM:
    case S5066_EXPEDITED_UNIDATA_REQUEST_REJECTED: {
        const struct s5066_unidata_result *c = &p->u.result;
        if (c->reason > 15 || c->sap > 15 || !addr_ok(&c->dest) || c->updu_len > 0xFFFF)
            return S5066_ERR_BAD_FIELD;
        if (c->updu_len && !c->updu)
            return S5066_ERR_INVAL;
        return 8 + (long)c->updu_len;
    }
    default:
        return S5066_ERR_UNKNOWN_TYPE;
    }
}

/* s5066_encoded_len - bytes s5066_encode() would write, or a negative error */
int s5066_encoded_len(const struct s5066_prim *p)
{
    if (!p)
        return S5066_ERR_INVAL;
    long n = body_len(p);
    if (n < 0)
        return (int)n;
    if (n > (long)S5066_MAX_SIZE)
        return S5066_ERR_TOO_LONG;
    return S5066_HDR_LEN + (int)n;
}

/* encode_body - write the type byte and the body of p */
static void encode_body(const struct s5066_prim *p, struct util_writer *w)
{
    util_wr_u8(w, (uint8_t)p->type);
    switch (p->type) {
    case S5066_BIND_REQUEST: {
        const struct s5066_bind_request *b = &p->u.bind_request;
        util_wr_u8(w, (uint8_t)(b->sap << 4 | b->rank));
        util_wr_u8(w, service_byte(&b->service));
        util_wr_u8(w, (uint8_t)(b->service.min_retx << 4 | b->unused));
        break;
    }
    case S5066_BIND_ACCEPTED:
        util_wr_u8(w, (uint8_t)(p->u.bind_accepted.sap << 4 | p->u.bind_accepted.unused));
        util_wr_u16(w, p->u.bind_accepted.mtu);
        break;
    case S5066_BIND_REJECTED:
    case S5066_UNBIND_INDICATION:
        util_wr_u8(w, p->u.reason.reason);
        break;
    case S5066_HARD_LINK_ESTABLISH:
    case S5066_HARD_LINK_TERMINATE:
    case S5066_HARD_LINK_ESTABLISHED:
    case S5066_HARD_LINK_REJECTED:
    case S5066_HARD_LINK_TERMINATED:
    case S5066_HARD_LINK_INDICATION:
    case S5066_HARD_LINK_ACCEPT:
    case S5066_HARD_LINK_REJECT: {
        const struct s5066_hard_link *h = &p->u.hard_link;
        int lead = hard_link_lead(p->type);
        if (lead == 1)
            util_wr_u8(w, h->status);
        else if (lead == 2)
            util_wr_u8(w, h->reason);
        if (lead >= 0)
            util_wr_u8(w, (uint8_t)(h->link_type << 6 | h->link_priority << 4 | h->sap));
        put_addr(w, &h->remote);
        break;
    }
    case S5066_SUBNET_AVAILABILITY:
        util_wr_u8(w, p->u.avail.status);
        util_wr_u8(w, p->u.avail.reason);
        break;
    case S5066_MANAGEMENT_MSG_REQUEST:
    case S5066_MANAGEMENT_MSG_INDICATION:
        util_wr_u8(w, p->u.mgmt.msg_type);
        util_wr_bytes(w, p->u.mgmt.body, p->u.mgmt.body_len);
        break;
    case S5066_UNIDATA_REQUEST:
    case S5066_EXPEDITED_UNIDATA_REQUEST: {
        const struct s5066_unidata_request *q = &p->u.req;
        util_wr_u8(w, (uint8_t)(q->priority << 4 | q->sap));
        put_addr(w, &q->dest);
        util_wr_u8(w, service_byte(&q->mode));
        util_wr_u8(w, (uint8_t)(q->mode.min_retx << 4 | q->ttl >> 16));
        util_wr_u16(w, (uint16_t)(q->ttl & 0xFFFF));
        util_wr_u16(w, (uint16_t)q->updu_len);
        util_wr_bytes(w, q->updu, q->updu_len);
        break;
    }
    case S5066_UNIDATA_INDICATION:
    case S5066_EXPEDITED_UNIDATA_INDICATION: {
        const struct s5066_unidata_indication *d = &p->u.ind;
        util_wr_u8(w, (uint8_t)(d->priority << 4 | d->dest_sap));
        put_addr(w, &d->dest);
        util_wr_u8(w, (uint8_t)(d->tx_mode << 4 | d->src_sap));
        put_addr(w, &d->src);
        util_wr_u16(w, (uint16_t)d->updu_len);
        if (d->tx_mode == S5066_TX_NON_ARQ_ERRORS) {
            util_wr_u16(w, d->n_err);
            util_wr_bytes(w, d->err_blocks, 4 * (size_t)d->n_err);
            util_wr_u16(w, d->n_nrx);
            util_wr_bytes(w, d->nrx_blocks, 4 * (size_t)d->n_nrx);
        } else if (d->rc_extra) {
            util_wr_bytes(w, d->rc_extra, 4);
        }
        util_wr_bytes(w, d->updu, d->updu_len);
        break;
    }
    case S5066_UNIDATA_REQUEST_CONFIRM:
    case S5066_UNIDATA_REQUEST_REJECTED:
    case S5066_EXPEDITED_UNIDATA_REQUEST_CONFIRM:
    case S5066_EXPEDITED_UNIDATA_REQUEST_REJECTED: {
        const struct s5066_unidata_result *c = &p->u.result;
        util_wr_u8(w, (uint8_t)(c->reason << 4 | c->sap));
        put_addr(w, &c->dest);
        util_wr_u16(w, (uint16_t)c->updu_len);
        util_wr_bytes(w, c->updu, c->updu_len);
        break;
    }
    default: /* 2, 15, 16, 17: the type byte only */
        break;
    }
}

/* s5066_encode - write the whole primitive (preamble to body) into out */
int s5066_encode(const struct s5066_prim *p, uint8_t *out, size_t cap)
{
    int total = s5066_encoded_len(p);
    if (total < 0)
        return total;
    if (!out || cap < (size_t)total)
        return S5066_ERR_OVERFLOW;
    struct util_writer w;
    util_wr_init(&w, out, cap);
    util_wr_u8(&w, S5066_PREAMBLE_0);
    util_wr_u8(&w, S5066_PREAMBLE_1);
    util_wr_u8(&w, S5066_VERSION);
    util_wr_u16(&w, (uint16_t)(total - S5066_HDR_LEN));
    encode_body(p, &w);
    if (util_wr_error(&w))
        return S5066_ERR_OVERFLOW;
    if (util_wr_len(&w) != (size_t)total)
        return S5066_ERR_INVAL; /* body_len() and encode_body() disagree: a bug */
    return total;
}

/* ---- decoding ------------------------------------------------------------- */

/* decode_unidata_ind - the body of 21/25 after the type byte */
static int decode_unidata_ind(struct util_reader *r, struct s5066_unidata_indication *d)
{
    uint8_t b = util_rd_u8(r);
    d->priority = b >> 4;
    d->dest_sap = b & 0x0F;
    d->dest = get_addr(r);
    b = util_rd_u8(r);
    d->tx_mode = b >> 4;
    d->src_sap = b & 0x0F;
    d->src = get_addr(r);
    d->updu_len = util_rd_u16(r);
    if (util_rd_error(r))
        return S5066_ERR_SIZE_MISMATCH;
    if (d->tx_mode == S5066_TX_NON_ARQ_ERRORS) {
        d->n_err = util_rd_u16(r);
        d->err_blocks = util_rd_ptr(r, 4 * (size_t)d->n_err);
        d->n_nrx = util_rd_u16(r);
        d->nrx_blocks = util_rd_ptr(r, 4 * (size_t)d->n_nrx);
        if (util_rd_error(r))
            return S5066_ERR_SIZE_MISMATCH;
        if (d->n_err == 0)
            d->err_blocks = NULL;
        if (d->n_nrx == 0)
            d->nrx_blocks = NULL;
    } else if (util_rd_remaining(r) == d->updu_len + 4) {
        /* Rockwell Collins <= 2.1: 4 bytes before the U_PDU, which is the
         * last updu_len bytes of the primitive */
        d->rc_extra = util_rd_ptr(r, 4);
    }
    if (util_rd_remaining(r) != d->updu_len)
        return S5066_ERR_SIZE_MISMATCH;
    d->updu = util_rd_ptr(r, d->updu_len);
    return 0;
}

/* decode_body - decode `len` bytes (type byte and body) into p */
static int decode_body(const uint8_t *in, size_t len, struct s5066_prim *p)
{
    struct util_reader r;
    util_rd_init(&r, in, len);
    s5066_prim_init(p, util_rd_u8(&r));
    uint8_t b;
    switch (p->type) {
    case S5066_BIND_REQUEST: {
        struct s5066_bind_request *q = &p->u.bind_request;
        b = util_rd_u8(&r);
        q->sap = b >> 4;
        q->rank = b & 0x0F;
        uint8_t s0 = util_rd_u8(&r);
        uint8_t s1 = util_rd_u8(&r);
        get_service(s0, s1, &q->service);
        q->unused = s1 & 0x0F;
        break;
    }
    case S5066_UNBIND_REQUEST:
    case S5066_DATAFLOW_ON:
    case S5066_DATAFLOW_OFF:
    case S5066_KEEP_ALIVE:
        break;
    case S5066_BIND_ACCEPTED:
        b = util_rd_u8(&r);
        p->u.bind_accepted.sap = b >> 4;
        p->u.bind_accepted.unused = b & 0x0F;
        p->u.bind_accepted.mtu = util_rd_u16(&r);
        break;
    case S5066_BIND_REJECTED:
    case S5066_UNBIND_INDICATION:
        p->u.reason.reason = util_rd_u8(&r);
        break;
    case S5066_HARD_LINK_ESTABLISH:
    case S5066_HARD_LINK_TERMINATE:
    case S5066_HARD_LINK_ESTABLISHED:
    case S5066_HARD_LINK_REJECTED:
    case S5066_HARD_LINK_TERMINATED:
    case S5066_HARD_LINK_INDICATION:
    case S5066_HARD_LINK_ACCEPT:
    case S5066_HARD_LINK_REJECT: {
        struct s5066_hard_link *h = &p->u.hard_link;
        int lead = hard_link_lead(p->type);
        if (lead == 1)
            h->status = util_rd_u8(&r);
        else if (lead == 2)
            h->reason = util_rd_u8(&r);
        if (lead >= 0) {
            b = util_rd_u8(&r);
            h->link_type = b >> 6;
            h->link_priority = (b >> 4) & 3;
            h->sap = b & 0x0F;
        }
        h->remote = get_addr(&r);
        break;
    }
    case S5066_SUBNET_AVAILABILITY:
        p->u.avail.status = util_rd_u8(&r);
        p->u.avail.reason = util_rd_u8(&r);
        break;
    case S5066_MANAGEMENT_MSG_REQUEST:
    case S5066_MANAGEMENT_MSG_INDICATION:
        p->u.mgmt.msg_type = util_rd_u8(&r);
        p->u.mgmt.body_len = util_rd_remaining(&r);
        p->u.mgmt.body = util_rd_ptr(&r, p->u.mgmt.body_len);
        break;
    case S5066_UNIDATA_REQUEST:
    case S5066_EXPEDITED_UNIDATA_REQUEST: {
        struct s5066_unidata_request *q = &p->u.req;
        b = util_rd_u8(&r);
        q->priority = b >> 4;
        q->sap = b & 0x0F;
        q->dest = get_addr(&r);
        uint8_t s0 = util_rd_u8(&r);
        uint8_t s1 = util_rd_u8(&r);
        get_service(s0, s1, &q->mode);
        q->ttl = (uint32_t)(s1 & 0x0F) << 16 | util_rd_u16(&r);
        q->updu_len = util_rd_u16(&r);
        if (util_rd_error(&r))
            return S5066_ERR_SIZE_MISMATCH;
        if (util_rd_remaining(&r) != q->updu_len)
            return S5066_ERR_SIZE_MISMATCH;
        q->updu = util_rd_ptr(&r, q->updu_len);
        break;
    }
    case S5066_UNIDATA_INDICATION:
    case S5066_EXPEDITED_UNIDATA_INDICATION: {
        int rc = decode_unidata_ind(&r, &p->u.ind);
        if (rc < 0)
            return rc;
        break;
    }
    case S5066_UNIDATA_REQUEST_CONFIRM:
    case S5066_UNIDATA_REQUEST_REJECTED:
    case S5066_EXPEDITED_UNIDATA_REQUEST_CONFIRM:
    case S5066_EXPEDITED_UNIDATA_REQUEST_REJECTED: {
        struct s5066_unidata_result *c = &p->u.result;
        b = util_rd_u8(&r);
        c->reason = b >> 4;
        c->sap = b & 0x0F;
        c->dest = get_addr(&r);
        c->updu_len = util_rd_u16(&r);
        if (util_rd_error(&r))
            return S5066_ERR_SIZE_MISMATCH;
        if (util_rd_remaining(&r) != c->updu_len)
            return S5066_ERR_SIZE_MISMATCH;
        c->updu = util_rd_ptr(&r, c->updu_len);
        break;
    }
    default:
        return S5066_ERR_UNKNOWN_TYPE;
    }
    /* too short for the fields, or bytes left over in a fixed-size type */
    if (util_rd_error(&r) || util_rd_remaining(&r) != 0)
        return S5066_ERR_SIZE_MISMATCH;
    return 0;
}

/* check_header - preamble and version of the bytes present (up to 3) */
static int check_header(const uint8_t *in, size_t len)
{
    if ((len > 0 && in[0] != S5066_PREAMBLE_0) || (len > 1 && in[1] != S5066_PREAMBLE_1))
        return S5066_ERR_BAD_PREAMBLE;
    if (len > 2 && in[2] != S5066_VERSION)
        return S5066_ERR_BAD_VERSION;
    return 0;
}

/* s5066_decode - decode one primitive at the start of in */
int s5066_decode(const uint8_t *in, size_t len, struct s5066_prim *p)
{
    if (!p || (!in && len))
        return S5066_ERR_INVAL;
    int rc = check_header(in, len);
    if (rc < 0)
        return rc;
    if (len < S5066_HDR_LEN)
        return S5066_ERR_TRUNCATED;
    size_t size = util_get_u16(in + 3);
    if (size == 0)
        return S5066_ERR_SIZE_MISMATCH; /* not even a type byte */
    if (len - S5066_HDR_LEN < size)
        return S5066_ERR_TRUNCATED;
    rc = decode_body(in + S5066_HDR_LEN, size, p);
    if (rc < 0)
        return rc;
    return S5066_HDR_LEN + (int)size;
}

/* ---- equality ------------------------------------------------------------- */

/* addr_eq - same address fields */
static bool addr_eq(const struct s5066_addr *a, const struct s5066_addr *b)
{
    return a->addr == b->addr && a->group == b->group && a->size == b->size;
}

/* service_eq - same service-type fields */
static bool service_eq(const struct s5066_service *a, const struct s5066_service *b)
{
    return a->tx_mode == b->tx_mode && a->confirm == b->confirm && a->order == b->order &&
           a->extended == b->extended && a->min_retx == b->min_retx;
}

/* bytes_eq - same length and content (NULL and empty are equal) */
static bool bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    if (alen != blen)
        return false;
    return alen == 0 || memcmp(a, b, alen) == 0;
}

/* s5066_prim_equal - whether two primitives have the same type and fields */
bool s5066_prim_equal(const struct s5066_prim *a, const struct s5066_prim *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case S5066_BIND_REQUEST: {
        const struct s5066_bind_request *x = &a->u.bind_request, *y = &b->u.bind_request;
        return x->sap == y->sap && x->rank == y->rank && x->unused == y->unused &&
               service_eq(&x->service, &y->service);
    }
    case S5066_UNBIND_REQUEST:
    case S5066_DATAFLOW_ON:
    case S5066_DATAFLOW_OFF:
    case S5066_KEEP_ALIVE:
        return true;
    case S5066_BIND_ACCEPTED:
        return a->u.bind_accepted.sap == b->u.bind_accepted.sap &&
               a->u.bind_accepted.unused == b->u.bind_accepted.unused &&
               a->u.bind_accepted.mtu == b->u.bind_accepted.mtu;
    case S5066_BIND_REJECTED:
    case S5066_UNBIND_INDICATION:
        return a->u.reason.reason == b->u.reason.reason;
    case S5066_HARD_LINK_ESTABLISH:
    case S5066_HARD_LINK_TERMINATE:
    case S5066_HARD_LINK_ESTABLISHED:
    case S5066_HARD_LINK_REJECTED:
    case S5066_HARD_LINK_TERMINATED:
    case S5066_HARD_LINK_INDICATION:
    case S5066_HARD_LINK_ACCEPT:
    case S5066_HARD_LINK_REJECT: {
        const struct s5066_hard_link *x = &a->u.hard_link, *y = &b->u.hard_link;
        return x->status == y->status && x->reason == y->reason &&
               x->link_type == y->link_type && x->link_priority == y->link_priority &&
               x->sap == y->sap && addr_eq(&x->remote, &y->remote);
    }
    case S5066_SUBNET_AVAILABILITY:
        return a->u.avail.status == b->u.avail.status && a->u.avail.reason == b->u.avail.reason;
    case S5066_MANAGEMENT_MSG_REQUEST:
    case S5066_MANAGEMENT_MSG_INDICATION:
        return a->u.mgmt.msg_type == b->u.mgmt.msg_type &&
               bytes_eq(a->u.mgmt.body, a->u.mgmt.body_len, b->u.mgmt.body, b->u.mgmt.body_len);
    case S5066_UNIDATA_REQUEST:
    case S5066_EXPEDITED_UNIDATA_REQUEST: {
        const struct s5066_unidata_request *x = &a->u.req, *y = &b->u.req;
        return x->priority == y->priority && x->sap == y->sap && addr_eq(&x->dest, &y->dest) &&
               service_eq(&x->mode, &y->mode) && x->ttl == y->ttl &&
               bytes_eq(x->updu, x->updu_len, y->updu, y->updu_len);
    }
    case S5066_UNIDATA_INDICATION:
    case S5066_EXPEDITED_UNIDATA_INDICATION: {
        const struct s5066_unidata_indication *x = &a->u.ind, *y = &b->u.ind;
        if ((x->rc_extra == NULL) != (y->rc_extra == NULL))
            return false;
        if (x->rc_extra && memcmp(x->rc_extra, y->rc_extra, 4) != 0)
            return false;
        return x->priority == y->priority && x->dest_sap == y->dest_sap &&
               addr_eq(&x->dest, &y->dest) && x->tx_mode == y->tx_mode &&
               x->src_sap == y->src_sap && addr_eq(&x->src, &y->src) &&
               x->n_err == y->n_err && x->n_nrx == y->n_nrx &&
               bytes_eq(x->err_blocks, 4 * (size_t)x->n_err, y->err_blocks,
                        4 * (size_t)y->n_err) &&
               bytes_eq(x->nrx_blocks, 4 * (size_t)x->n_nrx, y->nrx_blocks,
                        4 * (size_t)y->n_nrx) &&
               bytes_eq(x->updu, x->updu_len, y->updu, y->updu_len);
    }
    case S5066_UNIDATA_REQUEST_CONFIRM:
    case S5066_UNIDATA_REQUEST_REJECTED:
    case S5066_EXPEDITED_UNIDATA_REQUEST_CONFIRM:
    case S5066_EXPEDITED_UNIDATA_REQUEST_REJECTED: {
        const struct s5066_unidata_result *x = &a->u.result, *y = &b->u.result;
        return x->reason == y->reason && x->sap == y->sap && addr_eq(&x->dest, &y->dest) &&
               bytes_eq(x->updu, x->updu_len, y->updu, y->updu_len);
    }
    default:
        return true; /* same unknown type: no fields */
    }
}

/* ---- stream decoder ------------------------------------------------------- */

/* s5066_stream_init - an empty stream accepting size fields up to max_size */
void s5066_stream_init(struct s5066_stream *s, size_t max_size)
{
    if (max_size < 1)
        max_size = 1;
    if (max_size > S5066_MAX_SIZE)
        max_size = S5066_MAX_SIZE;
    util_buf_init(&s->buf, S5066_HDR_LEN + max_size);
    s->max_size = max_size;
    s->yielded = 0;
    s->skipped = 0;
    s->total_skipped = 0;
}

/* s5066_stream_free - release the buffer */
void s5066_stream_free(struct s5066_stream *s)
{
    util_buf_free(&s->buf);
    s->yielded = 0;
}

/* stream_drop_yielded - forget the primitive handed out by the last next() */
static void stream_drop_yielded(struct s5066_stream *s)
{
    if (s->yielded) {
        util_buf_consume(&s->buf, s->yielded);
        s->yielded = 0;
    }
}

/* stream_skip - drop n garbage bytes from the front and count them */
static void stream_skip(struct s5066_stream *s, size_t n)
{
    util_buf_consume(&s->buf, n);
    s->skipped += n;
    s->total_skipped += n;
}

/* s5066_stream_feed - append up to len bytes, as many as fit */
int s5066_stream_feed(struct s5066_stream *s, const void *data, size_t len, size_t *taken)
{
    *taken = 0;
    stream_drop_yielded(s);
    size_t room = s->buf.limit - s->buf.len;
    size_t n = len < room ? len : room;
    if (n == 0)
        return 0;
    if (util_buf_append(&s->buf, data, n) < 0)
        return S5066_ERR_NOMEM;
    *taken = n;
    return 0;
}

/* find_preamble - offset of the first 90 EB 00 in d[0..n), or of the tail
 * that could start one (a lone 90 or 90 EB at the end), or n */
static size_t find_preamble(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i] != S5066_PREAMBLE_0)
            continue;
        if (i + 1 == n)
            return i;
        if (d[i + 1] != S5066_PREAMBLE_1)
            continue;
        if (i + 2 == n || d[i + 2] == S5066_VERSION)
            return i;
    }
    return n;
}

/* s5066_stream_next - 1 and the next primitive, 0 for more bytes, or an error */
int s5066_stream_next(struct s5066_stream *s, struct s5066_prim *p)
{
    stream_drop_yielded(s);
    size_t off = find_preamble(s->buf.data, s->buf.len);
    if (off > 0)
        stream_skip(s, off);
    if (s->buf.len < S5066_HDR_LEN)
        return 0;
    const uint8_t *d = s->buf.data;
    size_t size = util_get_u16(d + 3);
    if (size == 0 || size > s->max_size) {
        /* not a primitive we can take: report it, resume after its preamble */
        util_buf_consume(&s->buf, 3);
        return size == 0 ? S5066_ERR_SIZE_MISMATCH : S5066_ERR_TOO_LONG;
    }
    if (s->buf.len < S5066_HDR_LEN + size)
        return 0;
    int rc = s5066_decode(d, S5066_HDR_LEN + size, p);
    if (rc < 0) {
        util_buf_consume(&s->buf, S5066_HDR_LEN + size);
        return rc;
    }
    s->yielded = (size_t)rc;
    return 1;
}

/* s5066_stream_take_skipped - garbage bytes skipped since the last call, and reset */
size_t s5066_stream_take_skipped(struct s5066_stream *s)
{
    size_t n = s->skipped;
    s->skipped = 0;
    return n;
}

/* s5066_stream_buffered - bytes held (never above 5 + max_size) */
size_t s5066_stream_buffered(const struct s5066_stream *s)
{
    return s->buf.len;
}
