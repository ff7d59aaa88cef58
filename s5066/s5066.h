/* s5066.h - STANAG 5066 Ed.3: the s5066 module's one public header.
 *
 * Sections:
 *   SIS codec  - Annex A, A.2.2: encode/decode of the S_Primitives
 *                exchanged between a client and the Subnetwork Interface
 *                Sublayer (SIS), the 6-byte client transport header of
 *                Annex F, address helpers, and a stream decoder for TCP
 *                or serial bytes.  Pure: no I/O, no logging, no clock.
 *   (the SIS client engine and the link glue add their sections below)
 *
 * Byte layouts follow Wireshark's packet-s5066sis.c dissector, which is the
 * judge of our bytes (see ../shared/oracle); where it and the text of
 * Annex A differ, sis_codec.c says so in a comment.
 */
#ifndef MULE5066_S5066_H
#define MULE5066_S5066_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* ---- SIS codec ---------------------------------------------------------- */

/* Every S_Primitive on the wire (A.2.2.2), all integers big-endian:
 *
 *     90 EB | version 00 | size:16 | type:8 | body
 *
 * `size` counts the type byte and the body. */
#define S5066_PREAMBLE_0 0x90
#define S5066_PREAMBLE_1 0xEB
#define S5066_VERSION 0x00
#define S5066_HDR_LEN 5          /* preamble, version, size */
#define S5066_MAX_SIZE 65535u    /* largest value of the size field */
#define S5066_MAX_UPDU 4096u     /* largest U_PDU a 5066 server hands out (MTU) */
#define S5066_MAX_TTL 0xFFFFFu   /* TTL is 20 bits, in units of 2 s */
#define S5066_MAX_ADDR 0x0FFFFFFFu
#define S5066_ADDR_SIZE_FULL 7   /* address size in nibbles: all 3.5 bytes */

/* Negative error codes.  They do not overlap util's UTIL_ERR_* (-1..-99),
 * which s5066_strerror() also knows. */
enum s5066_error {
    S5066_ERR_TRUNCATED = -101,     /* input ends before the primitive does */
    S5066_ERR_BAD_PREAMBLE = -102,  /* first two bytes are not 90 EB */
    S5066_ERR_BAD_VERSION = -103,   /* version byte is not 00 */
    S5066_ERR_TOO_LONG = -104,      /* size field beyond the limit */
    S5066_ERR_UNKNOWN_TYPE = -105,  /* type not in 1..27 */
    S5066_ERR_BAD_FIELD = -106,     /* a field out of range (encoders) */
    S5066_ERR_SIZE_MISMATCH = -107, /* size field disagrees with the fields */
    S5066_ERR_OVERFLOW = -108,      /* output buffer too small */
    S5066_ERR_BAD_ADDRESS = -109,   /* address string does not parse */
    S5066_ERR_NOMEM = -110,         /* stream buffer could not grow */
    S5066_ERR_INVAL = -111          /* invalid argument */
};

/* s5066_strerror - text for an S5066_ERR_* (or UTIL_ERR_*) code */
const char *s5066_strerror(int err);

/* S_Primitive type numbers (A.2.1, Table A-1). */
enum s5066_type {
    S5066_BIND_REQUEST = 1,
    S5066_UNBIND_REQUEST = 2,
    S5066_BIND_ACCEPTED = 3,
    S5066_BIND_REJECTED = 4,
    S5066_UNBIND_INDICATION = 5,
    S5066_HARD_LINK_ESTABLISH = 6,
    S5066_HARD_LINK_TERMINATE = 7,
    S5066_HARD_LINK_ESTABLISHED = 8,
    S5066_HARD_LINK_REJECTED = 9,
    S5066_HARD_LINK_TERMINATED = 10,
    S5066_HARD_LINK_INDICATION = 11,
    S5066_HARD_LINK_ACCEPT = 12,
    S5066_HARD_LINK_REJECT = 13,
    S5066_SUBNET_AVAILABILITY = 14,
    S5066_DATAFLOW_ON = 15,
    S5066_DATAFLOW_OFF = 16,
    S5066_KEEP_ALIVE = 17,
    S5066_MANAGEMENT_MSG_REQUEST = 18,
    S5066_MANAGEMENT_MSG_INDICATION = 19,
    S5066_UNIDATA_REQUEST = 20,
    S5066_UNIDATA_INDICATION = 21,
    S5066_UNIDATA_REQUEST_CONFIRM = 22,
    S5066_UNIDATA_REQUEST_REJECTED = 23,
    S5066_EXPEDITED_UNIDATA_REQUEST = 24,
    S5066_EXPEDITED_UNIDATA_INDICATION = 25,
    S5066_EXPEDITED_UNIDATA_REQUEST_CONFIRM = 26,
    S5066_EXPEDITED_UNIDATA_REQUEST_REJECTED = 27
};
#define S5066_TYPE_MIN 1
#define S5066_TYPE_MAX 27

/* s5066_type_name - "S_BIND_REQUEST" ..., or "S_UNKNOWN" */
const char *s5066_type_name(int type);

/* Transmission modes (service type, delivery mode, A.2.2.28.2/3). */
enum s5066_tx_mode {
    S5066_TX_DEFAULT = 0,       /* UNIDATA_REQUEST: use the bind's service type */
    S5066_TX_ARQ = 1,
    S5066_TX_NON_ARQ = 2,       /* "broadcast" */
    S5066_TX_NON_ARQ_ERRORS = 3 /* non-ARQ, deliver with errors */
};

/* Delivery confirmation (2 bits). */
enum s5066_confirm {
    S5066_CONFIRM_NONE = 0,
    S5066_CONFIRM_NODE = 1,
    S5066_CONFIRM_CLIENT = 2
};

/* Delivery order (1 bit); as the dissector names it: 0 in-order. */
enum s5066_order {
    S5066_ORDER_IN_ORDER = 0,
    S5066_ORDER_AS_ARRIVED = 1
};

/* A node or group address (A.2.2.28.1), 4 bytes on the wire:
 * size:3 (in nibbles) | group:1 | address:28. */
struct s5066_addr {
    uint32_t addr; /* 28 bits */
    uint8_t group; /* 0 or 1 */
    uint8_t size;  /* 3 bits, address length in nibbles (S5066_ADDR_SIZE_FULL) */
};

/* Service type (S_BIND_REQUEST) and delivery mode (UNIDATA_REQUEST), 2 bytes:
 * tx_mode:4 | confirm:2 | order:1 | extended:1 | min_retx:4 | 4 bits that
 * are unused in S_BIND_REQUEST and the top of the TTL in UNIDATA_REQUEST. */
struct s5066_service {
    uint8_t tx_mode;  /* enum s5066_tx_mode, 4 bits */
    uint8_t confirm;  /* enum s5066_confirm, 2 bits */
    uint8_t order;    /* enum s5066_order, 1 bit */
    uint8_t extended; /* 1 bit, always 0 in Ed.3 */
    uint8_t min_retx; /* minimum non-ARQ retransmissions, 4 bits */
};

/* 1 S_BIND_REQUEST: sap:4 | rank:4 | service type (with the 4 unused bits) */
struct s5066_bind_request {
    uint8_t sap;    /* 0..15 */
    uint8_t rank;   /* 0..15; 15 only for management clients */
    struct s5066_service service;
    uint8_t unused; /* the 4 low bits of the last byte, 0 when sent */
};

/* 3 S_BIND_ACCEPTED: sap:4 | unused:4 | mtu:16 */
struct s5066_bind_accepted {
    uint8_t sap;
    uint8_t unused; /* 4 bits */
    uint16_t mtu;
};

/* 4 S_BIND_REJECTED, 5 S_UNBIND_INDICATION: reason:8 */
struct s5066_reason {
    uint8_t reason;
};

/* Reasons in S_BIND_REJECTED. */
enum s5066_bind_reject_reason {
    S5066_BIND_REJ_UNKNOWN = 0,
    S5066_BIND_REJ_RESOURCES = 1,
    S5066_BIND_REJ_INVALID_SAP = 2,
    S5066_BIND_REJ_SAP_IN_USE = 3,
    S5066_BIND_REJ_ARQ_BROADCAST = 4
};

/* Reasons in S_UNBIND_INDICATION. */
enum s5066_unbind_reason {
    S5066_UNBIND_UNKNOWN = 0,
    S5066_UNBIND_PREEMPTED = 1,
    S5066_UNBIND_INACTIVITY = 2,
    S5066_UNBIND_INVALID_PRIMITIVES = 3,
    S5066_UNBIND_TOO_MANY_EXPEDITED = 4,
    S5066_UNBIND_ARQ_BROADCAST = 5
};

/* 6-13 hard link primitives.  Layout by type:
 *   6 ESTABLISH, 12 ACCEPT:               type:2 prio:2 sap:4 | addr
 *   7 TERMINATE:                          addr
 *   8 ESTABLISHED, 11 INDICATION:         status:8 | type:2 prio:2 sap:4 | addr
 *   9 REJECTED, 10 TERMINATED, 13 REJECT: reason:8 | type:2 prio:2 sap:4 | addr
 * Fields a type does not carry are 0 after decoding and ignored when encoding. */
struct s5066_hard_link {
    uint8_t status;        /* remote node status (8, 11): 0 error, >= 1 ok */
    uint8_t reason;        /* reason (9, 10, 13) */
    uint8_t link_type;     /* 0 link, 1 partial, 2 full bandwidth reservation (2 bits) */
    uint8_t link_priority; /* 2 bits */
    uint8_t sap;           /* remote SAP, 4 bits */
    struct s5066_addr remote;
};

/* 14 S_SUBNET_AVAILABILITY: status:8 | reason:8 */
struct s5066_subnet_availability {
    uint8_t status; /* enum s5066_subnet_status */
    uint8_t reason; /* enum s5066_subnet_reason */
};

enum s5066_subnet_status {
    S5066_SUBNET_OFF = 0,
    S5066_SUBNET_ON = 1,
    S5066_SUBNET_RECEIVE_ONLY = 2,
    S5066_SUBNET_HALF_DUPLEX = 3,
    S5066_SUBNET_FULL_DUPLEX = 4,
    S5066_SUBNET_TRANSMIT_ONLY = 5
};

enum s5066_subnet_reason {
    S5066_SUBNET_REASON_UNKNOWN = 0,
    S5066_SUBNET_REASON_EMCON = 1,
    S5066_SUBNET_REASON_HIGHER_PRIORITY_LINK = 2
};

/* 18/19 S_MANAGEMENT_MESSAGE_REQUEST/INDICATION: msg_type:8 | opaque body */
struct s5066_mgmt {
    uint8_t msg_type;
    const uint8_t *body; /* into the decoded input (see lifetime note) */
    size_t body_len;
};

/* 20 S_UNIDATA_REQUEST, 24 S_EXPEDITED_UNIDATA_REQUEST:
 *     priority:4 | sap:4 | dest addr:32 | tx_mode:4 confirm:2 order:1 ext:1 |
 *     min_retx:4 ttl:20 | updu_len:16 | U_PDU
 * In type 24 Annex A has no priority: the nibble is unused and sent as 0. */
struct s5066_unidata_request {
    uint8_t priority; /* 0..15, 15 highest */
    uint8_t sap;      /* destination SAP */
    struct s5066_addr dest;
    struct s5066_service mode; /* delivery mode */
    uint32_t ttl;              /* 20 bits, units of 2 s, 0 = no limit */
    const uint8_t *updu;
    size_t updu_len; /* <= 65535 and the primitive must fit its size field */
};

/* One (position, size) pair of the error / non-received block lists of a
 * tx-mode-3 UNIDATA_INDICATION. */
struct s5066_block {
    uint16_t pos;
    uint16_t size;
};

/* 21 S_UNIDATA_INDICATION, 25 S_EXPEDITED_UNIDATA_INDICATION:
 *     priority:4 | dest sap:4 | dest addr:32 | tx_mode:4 | src sap:4 |
 *     src addr:32 | updu_len:16 |
 *     [tx mode 3 only: n_err:16 | n_err x (pos:16 size:16) |
 *                      n_nrx:16 | n_nrx x (pos:16 size:16)] | U_PDU
 * The block lists are kept as raw big-endian bytes (4 per pair) pointing
 * into the decoded input; read them with s5066_block_at() and, to encode,
 * write them with s5066_blocks_put().  A non-NULL `rc_extra` marks the
 * variant of Rockwell Collins servers (<= 2.1) with 4 extra bytes (two
 * zero counts) after updu_len in tx modes other than 3; the decoder takes
 * the U_PDU as the last updu_len bytes. */
struct s5066_unidata_indication {
    uint8_t priority; /* in type 25 the nibble is unused (0) */
    uint8_t dest_sap;
    struct s5066_addr dest;
    uint8_t tx_mode; /* 4 bits */
    uint8_t src_sap;
    struct s5066_addr src;
    uint16_t n_err;
    const uint8_t *err_blocks; /* 4 * n_err bytes */
    uint16_t n_nrx;
    const uint8_t *nrx_blocks; /* 4 * n_nrx bytes */
    const uint8_t *rc_extra;   /* NULL, or the 4 extra bytes */
    const uint8_t *updu;
    size_t updu_len;
};

/* 22/26 ..._REQUEST_CONFIRM:  unused:4 | sap:4 | dest addr | updu_len:16 | U_PDU
 * 23/27 ..._REQUEST_REJECTED: reason:4 | sap:4 | dest addr | updu_len:16 | U_PDU
 * The U_PDU is the whole or the first part of the one confirmed/rejected. */
struct s5066_unidata_result {
    uint8_t reason; /* 4 bits: the reason for 23/27, unused (0) in 22/26 */
    uint8_t sap;
    struct s5066_addr dest;
    const uint8_t *updu;
    size_t updu_len;
};

/* Reasons in ..._REQUEST_REJECTED. */
enum s5066_reject_reason {
    S5066_REJ_UNKNOWN = 0,
    S5066_REJ_TTL_EXPIRED = 1,
    S5066_REJ_SAP_NOT_BOUND = 2,
    S5066_REJ_NODE_NOT_RESPONDING = 3,
    S5066_REJ_UPDU_TOO_LARGE = 4,
    S5066_REJ_TX_MODE_NOT_SPECIFIED = 5
};

/* One decoded or to-be-encoded primitive.  `type` selects the member:
 *   1 bind_request; 3 bind_accepted; 4, 5 reason; 6-13 hard_link;
 *   14 avail; 18, 19 mgmt; 20, 24 req; 21, 25 ind; 22, 23, 26, 27 result;
 *   2, 15, 16, 17 have no body.
 * Lifetime: a decoded primitive's pointers (U_PDU, management body, block
 * lists) point into the input given to s5066_decode(), or into the stream's
 * buffer for s5066_stream_next(); they stay valid while that input does
 * (for the stream: until its next call). */
struct s5066_prim {
    int type; /* enum s5066_type */
    union {
        struct s5066_bind_request bind_request;
        struct s5066_bind_accepted bind_accepted;
        struct s5066_reason reason;
        struct s5066_hard_link hard_link;
        struct s5066_subnet_availability avail;
        struct s5066_mgmt mgmt;
        struct s5066_unidata_request req;
        struct s5066_unidata_indication ind;
        struct s5066_unidata_result result;
    } u;
};

/* s5066_prim_init - zero a primitive and set its type */
void s5066_prim_init(struct s5066_prim *p, int type);

/* s5066_encoded_len - bytes s5066_encode() would write, or a negative error */
int s5066_encoded_len(const struct s5066_prim *p);

/* s5066_encode - write the whole primitive (preamble to body) into out;
 * returns the bytes written or S5066_ERR_BAD_FIELD / _UNKNOWN_TYPE /
 * _TOO_LONG (does not fit the size field) / _OVERFLOW (cap too small) */
int s5066_encode(const struct s5066_prim *p, uint8_t *out, size_t cap);

/* s5066_decode - decode one primitive at the start of in; returns the bytes
 * it occupies (5 + size; bytes after it are not looked at) or a negative
 * error.  Never allocates; pointers in *p point into in. */
int s5066_decode(const uint8_t *in, size_t len, struct s5066_prim *p);

/* s5066_prim_equal - whether two primitives have the same type and fields
 * (U_PDUs, bodies and block lists compared by content) */
bool s5066_prim_equal(const struct s5066_prim *a, const struct s5066_prim *b);

/* s5066_block_at - the i-th (pos, size) pair of a raw block list */
struct s5066_block s5066_block_at(const uint8_t *list, size_t i);

/* s5066_blocks_put - write n pairs as a raw block list into out (4n bytes) */
void s5066_blocks_put(uint8_t *out, const struct s5066_block *blocks, size_t n);

/* ---- addresses ---- */

/* Written as a dotted quad with the group bit inside: node addresses
 * 0.0.0.1 .. 15.255.255.255, group addresses 16.0.0.0 .. 31.255.255.255,
 * broadcast 31.255.255.255 (Annex C). */
#define S5066_ADDR_STRLEN 16 /* "31.255.255.255" and the NUL */
#define S5066_ADDR_BROADCAST_STR "31.255.255.255"

/* s5066_addr_make - an address from a 28-bit address and the group bit (size 7) */
struct s5066_addr s5066_addr_make(uint32_t addr, bool group);

/* s5066_addr_to_u32 - group:1 address:28 as one number (the dotted quad's value) */
uint32_t s5066_addr_to_u32(const struct s5066_addr *a);

/* s5066_addr_from_u32 - the inverse; S5066_ERR_BAD_ADDRESS above 31.255.255.255 */
int s5066_addr_from_u32(uint32_t v, struct s5066_addr *a);

/* s5066_addr_is_broadcast - whether a is the group address 31.255.255.255 */
bool s5066_addr_is_broadcast(const struct s5066_addr *a);

/* s5066_addr_format - dotted quad of a into buf (>= S5066_ADDR_STRLEN); returns buf */
char *s5066_addr_format(const struct s5066_addr *a, char *buf, size_t len);

/* s5066_addr_parse - "a.b.c.d" (decimal, no spaces, a <= 31) -> *a with size 7;
 * 0.0.0.0 is not an address; 0 or S5066_ERR_BAD_ADDRESS */
int s5066_addr_parse(const char *s, struct s5066_addr *a);

/* ---- client transport header (Annex F, STANAG 4406 Annex E) ---- */

/* The 6 bytes a client on SAP 2, 6 or 7 puts in front of each U_PDU:
 *     conn_id:4 | reserved:4 | updu_id:8 | segment:16 | app_id:16
 * Not part of any primitive: the caller prepends it to the U_PDU. */
#define S5066_CLIENT_HDR_LEN 6
#define S5066_APP_ID_ACP142 0x2000 /* STANAG 4406 Annex E TMI-1, P_MUL */

struct s5066_client_hdr {
    uint8_t conn_id;  /* 4 bits */
    uint8_t reserved; /* 4 bits */
    uint8_t updu_id;
    uint16_t segment;
    uint16_t app_id;
};

/* s5066_client_hdr_encode - write the 6 bytes; 6 or S5066_ERR_BAD_FIELD / _OVERFLOW */
int s5066_client_hdr_encode(const struct s5066_client_hdr *h, uint8_t *out, size_t cap);

/* s5066_client_hdr_decode - read the 6 bytes at in; 6 or S5066_ERR_TRUNCATED */
int s5066_client_hdr_decode(const uint8_t *in, size_t len, struct s5066_client_hdr *h);

/* ---- stream decoder ---- */

/* Cuts a byte stream (TCP, serial) into primitives.  It holds at most
 * 5 + max_size bytes: the caller feeds what it read (the stream takes what
 * fits) and then takes primitives out until there are none:
 *
 *     while (len > 0) {
 *         size_t n;
 *         if (s5066_stream_feed(&st, data, len, &n) < 0) ...out of memory...
 *         data += n; len -= n;
 *         while ((rc = s5066_stream_next(&st, &prim)) != 0)
 *             rc > 0 ? handle(&prim) : log_bad_primitive(rc);
 *         if ((skipped = s5066_stream_take_skipped(&st)) > 0) log_garbage(skipped);
 *     }
 *
 * It looks for the preamble 90 EB 00 and skips (and counts) anything else.
 * A size field of 0 or above max_size is reported (S5066_ERR_SIZE_MISMATCH,
 * S5066_ERR_TOO_LONG) and the search resumes after that preamble.  A
 * primitive whose body does not decode is reported once and the stream
 * continues after it. */
#define S5066_STREAM_OVERHEAD 256 /* primitive bytes besides the U_PDU, with room for block lists */
#define S5066_STREAM_DEFAULT_MAX (S5066_MAX_UPDU + S5066_STREAM_OVERHEAD)

struct s5066_stream {
    struct util_buf buf; /* limit = S5066_HDR_LEN + max_size */
    size_t max_size;     /* largest size field accepted */
    size_t yielded;      /* bytes of the primitive last returned, dropped on the next call */
    size_t skipped;      /* garbage bytes skipped, see s5066_stream_take_skipped */
    uint64_t total_skipped;
};

/* s5066_stream_init - an empty stream accepting size fields up to max_size (1..65535) */
void s5066_stream_init(struct s5066_stream *s, size_t max_size);

/* s5066_stream_free - release the buffer */
void s5066_stream_free(struct s5066_stream *s);

/* s5066_stream_feed - append up to len bytes, as many as fit; *taken says
 * how many.  0, or S5066_ERR_NOMEM if the buffer could not grow. */
int s5066_stream_feed(struct s5066_stream *s, const void *data, size_t len, size_t *taken);

/* s5066_stream_next - 1 and the next primitive in *p (valid until the next
 * call on s), 0 if more bytes are needed, or a negative error for one bad
 * primitive (call again: the stream has moved past it) */
int s5066_stream_next(struct s5066_stream *s, struct s5066_prim *p);

/* s5066_stream_take_skipped - garbage bytes skipped since the last call, and reset */
size_t s5066_stream_take_skipped(struct s5066_stream *s);

/* s5066_stream_buffered - bytes held (never above 5 + max_size) */
size_t s5066_stream_buffered(const struct s5066_stream *s);


/* ---- SIS client engine (Annex A.2.1, A.3: the client side) ---- */

/* The client engine binds one SAP and carries U_PDUs through a 5066
 * server.  It does no I/O and reads no clock: the glue (s5066_link) feeds it
 * decoded primitives, link up/down events and `now`, and it answers through
 * callbacks.  It binds (and rebinds with exponential backoff after
 * BIND_REJECTED or UNBIND_INDICATION; a final BIND_REJECTED holds until
 * the next connection), keeps the MTU from BIND_ACCEPTED,
 * answers and sends KEEP_ALIVE, obeys DATAFLOW_OFF/ON and
 * SUBNET_AVAILABILITY (off, receive-only, EMCON: hold transmissions), sends
 * UNIDATA and EXPEDITED_UNIDATA requests from a priority queue (never
 * dropped: a full queue refuses new work), and matches CONFIRM / REJECTED
 * to their request. */

enum s5066_client_error {
    S5066_ERR_UPDU_TOO_LARGE = -120, /* U_PDU larger than the bound MTU */
    S5066_ERR_QUEUE_FULL = -121,     /* the send queue is at its limit */
    S5066_ERR_LINK = -122,           /* link to the 5066 server failed */
    S5066_ERR_TIMEOUT = -123         /* no answer from the 5066 server in time */
};

enum s5066_client_state {
    S5066_CLIENT_DOWN = 0,     /* no link to the server */
    S5066_CLIENT_BINDING = 1,  /* BIND_REQUEST sent, waiting */
    S5066_CLIENT_BOUND = 2,    /* BIND_ACCEPTED: U_PDUs flow */
    S5066_CLIENT_BACKOFF = 3,  /* rejected or unbound: waiting to bind again */
    S5066_CLIENT_FAILED = 4    /* refused for a reason retrying cannot cure (on this connection) */
};

/* s5066_client_state_name - "down", "binding", "bound", "backoff", "failed" */
const char *s5066_client_state_name(int state);

/* Lines a server can cause (unexpected primitives, unmatched results,
 * unbinds, subnet and flow changes; the link's garbage, bad primitives and
 * hang-ups) are rate-limited per link and kind (util_ratelimit): at most
 * S5066_LOG_BURST per S5066_LOG_WINDOW_MS; the next line allowed says
 * suppressed=N, and what is still held back when the link goes down is
 * logged then (s5066 log-suppressed). */
#define S5066_LOG_BURST 5
#define S5066_LOG_WINDOW_MS 60000

struct s5066_client_config {
    uint8_t sap;                  /* 0..15; 2 for Annex E messaging clients */
    uint8_t rank;                 /* 0..15 (15 is for management clients) */
    struct s5066_service service; /* the bind's service type */
    util_ms bind_timeout_ms;      /* no answer to BIND_REQUEST: retry (30 s) */
    util_ms rebind_min_ms;        /* first backoff (1 s) */
    util_ms rebind_max_ms;        /* backoff cap (5 min) */
    util_ms keepalive_idle_ms;    /* silence before we send KEEP_ALIVE (>= 120 s) */
    util_ms keepalive_timeout_ms; /* no answer to our KEEP_ALIVE: link dead (30 s) */
    util_ms confirm_timeout_ms;   /* no CONFIRM/REJECTED for a TTL-less request (10 min) */
    size_t queue_limit_bytes;     /* U_PDU bytes held in the send queue (1 MiB) */
};

/* s5066_client_config_default - SAP 2, rank 0, ARQ with node delivery
 * confirmation, and the defaults above */
void s5066_client_config_default(struct s5066_client_config *cfg);

/* One U_PDU to send.  It is copied on submit. */
struct s5066_client_request {
    struct s5066_addr dest;
    uint8_t dest_sap;
    uint8_t priority;          /* 0..15, 15 highest */
    bool expedited;            /* EXPEDITED_UNIDATA_REQUEST, ahead of every priority */
    struct s5066_service mode; /* tx mode (0: the bind's), confirm, order, min_retx */
    util_ms ttl_ms;            /* 0: no limit; counts from submit, queueing included */
    const uint8_t *updu;
    size_t updu_len;
};

/* Outcome of a request, reported once (a non-confirmed request may later
 * also be REJECTED if the server says so). */
enum s5066_result {
    S5066_RESULT_SENT = 0,      /* handed to the server, no confirmation asked */
    S5066_RESULT_CONFIRMED = 1, /* UNIDATA_REQUEST_CONFIRM received */
    S5066_RESULT_REJECTED = 2,  /* UNIDATA_REQUEST_REJECTED, `reason` says why */
    S5066_RESULT_EXPIRED = 3,   /* its TTL ran out before it could be sent */
    S5066_RESULT_TOO_LARGE = 4, /* over the MTU the server granted */
    S5066_RESULT_TIMEOUT = 5    /* no CONFIRM or REJECTED in time */
};

/* s5066_result_name - "sent", "confirmed", "rejected", ... */
const char *s5066_result_name(int result);

struct s5066_client_callbacks {
    /* send: write these encoded primitive bytes to the link; 0 or negative */
    int (*send)(void *user, const uint8_t *bytes, size_t len);
    /* state: the engine changed state (bound: mtu is valid) */
    void (*state)(void *user, int state, uint16_t mtu);
    /* indication: a U_PDU arrived (pointers valid during the call only) */
    void (*indication)(void *user, const struct s5066_unidata_indication *ind, bool expedited);
    /* result: the outcome of request `id` (reason: the server's reject reason) */
    void (*result)(void *user, uint64_t id, int result, int reason);
    /* link_lost: the engine judged the link dead (KEEP_ALIVE unanswered); the
     * glue should close it and reconnect */
    void (*link_lost)(void *user);
    /* availability: SUBNET_AVAILABILITY or flow control changed whether we may send */
    void (*hold)(void *user, bool held, const char *why);
};

struct s5066_client;

/* s5066_client_new - an engine in state DOWN; NULL on allocation failure */
struct s5066_client *s5066_client_new(const struct s5066_client_config *cfg,
                                      const struct s5066_client_callbacks *cb, void *user);
/* s5066_client_free - release the engine and its queue */
void s5066_client_free(struct s5066_client *c);
/* s5066_client_link_up - the link is connected: bind */
void s5066_client_link_up(struct s5066_client *c, util_ms now);
/* s5066_client_link_down - the link is gone: unconfirmed requests go back to the queue */
void s5066_client_link_down(struct s5066_client *c, util_ms now);
/* s5066_client_input - one primitive from the server */
void s5066_client_input(struct s5066_client *c, util_ms now, const struct s5066_prim *p);
/* s5066_client_submit - queue a U_PDU; *id identifies it in result callbacks */
int s5066_client_submit(struct s5066_client *c, util_ms now, const struct s5066_client_request *req,
                        uint64_t *id);
/* s5066_client_timeout - run the timers due at now */
void s5066_client_timeout(struct s5066_client *c, util_ms now);
/* s5066_client_kick - send what may be sent now (the glue calls it when the link drains) */
void s5066_client_kick(struct s5066_client *c, util_ms now);
/* s5066_client_next_expiry - when s5066_client_timeout is next needed, or UTIL_MS_NEVER */
util_ms s5066_client_next_expiry(const struct s5066_client *c);
/* s5066_client_set_hold - an operator's hold (local EMCON): transmit nothing while set */
void s5066_client_set_hold(struct s5066_client *c, util_ms now, bool hold);

struct s5066_client_status {
    int state;
    uint16_t mtu;
    bool flow_on;         /* no DATAFLOW_OFF in force */
    uint8_t subnet;       /* last SUBNET_AVAILABILITY status (1 = on) */
    uint8_t subnet_reason;
    bool operator_hold;
    size_t queued;        /* requests waiting */
    size_t queued_bytes;
    size_t awaiting;      /* sent, waiting for CONFIRM/REJECTED */
    uint64_t sent, confirmed, rejected, received;
    unsigned binds;       /* successful binds so far */
};

/* s5066_client_get_status - a snapshot for logs and the operator tool */
void s5066_client_get_status(const struct s5066_client *c, struct s5066_client_status *st);
/* s5066_client_can_send - whether the engine would transmit now (bound, flow on, not held) */
bool s5066_client_can_send(const struct s5066_client *c);


/* ---- link glue: TCP and serial to a 5066 server (libev) ---- */

/* A serial line, 8N1, raw, non-blocking.  Real ports through
 * libserialport; pseudo-terminals (socat, ser2net) through termios. */
struct sp_port;
struct s5066_serial {
    int fd;
    struct sp_port *port; /* NULL when opened with termios */
};

/* s5066_serial_open - open a serial line 8N1 non-blocking; 0 or negative with err filled */
int s5066_serial_open(struct s5066_serial *s, const char *path, int baud, bool rtscts, char *err,
                      size_t errlen);
/* s5066_serial_close - close the line */
void s5066_serial_close(struct s5066_serial *s);
/* s5066_serial_baud_ok - whether a baud rate is supported */
bool s5066_serial_baud_ok(int baud);

enum s5066_link_kind { S5066_LINK_TCP = 0, S5066_LINK_SERIAL = 1 };

struct s5066_link_config {
    const char *name;  /* for log lines */
    int kind;          /* enum s5066_link_kind */
    char host[256];    /* TCP */
    uint16_t port;
    char device[256];  /* serial */
    int baud;
    bool rtscts;
    util_ms connect_timeout_ms; /* TCP connect (10 s) */
    util_ms reconnect_min_ms;   /* first wait after a failure (1 s) */
    util_ms reconnect_max_ms;   /* cap (60 s) */
    size_t out_limit;           /* bytes buffered towards the server (256 KiB) */
    struct s5066_client_config client;
};

/* s5066_link_config_default - TCP, the client defaults, the timers above */
void s5066_link_config_default(struct s5066_link_config *cfg);

/* s5066_link_parse_target - "host:port", "tcp:host:port", "[v6]:port",
 * "serial:/dev/ttyS0[:baud[:rtscts]]" or a path starting with / (serial,
 * 9600 baud) into cfg; 0 or S5066_ERR_INVAL */
int s5066_link_parse_target(const char *target, struct s5066_link_config *cfg);

struct ev_loop;
struct s5066_link;

/* s5066_link_new - a link that will connect and bind when started; the
 * callbacks' send and link_lost are the link's own (those given are ignored) */
struct s5066_link *s5066_link_new(struct ev_loop *loop, const struct s5066_link_config *cfg,
                                  const struct s5066_client_callbacks *cb, void *user);
/* s5066_link_start - connect (and keep reconnecting) */
int s5066_link_start(struct s5066_link *l);
/* s5066_link_free - close and release everything */
void s5066_link_free(struct s5066_link *l);
/* s5066_link_submit - queue a U_PDU (see s5066_client_submit) */
int s5066_link_submit(struct s5066_link *l, const struct s5066_client_request *req, uint64_t *id);
/* s5066_link_client - the engine inside, for status and holds */
struct s5066_client *s5066_link_client(struct s5066_link *l);
/* s5066_link_set_hold - operator hold (local EMCON) */
void s5066_link_set_hold(struct s5066_link *l, bool hold);
/* s5066_link_connected - whether the transport is up */
bool s5066_link_connected(const struct s5066_link *l);
/* s5066_link_send_prim - send one primitive outside the engine (e.g. an
 * S_MANAGEMENT_MSG_REQUEST of a rank-15 client); 0 or negative */
int s5066_link_send_prim(struct s5066_link *l, const struct s5066_prim *p);

/* ---- channel model (s5066sim, deterministic tests) ---- */

/* A simulated HF subnetwork: N nodes on one shared half-duplex channel,
 * with the delivery semantics a SIS client can observe (Annex A A.1.1 data
 * exchange sessions, Annex C ARQ and non-ARQ delivery).  An engine: no I/O,
 * no clock; every entry point takes `now` (virtual milliseconds) and
 * s5066_channel_next_expiry() says when s5066_channel_run() is next due.
 * It logs each transmission (module sim) and allocates one copy of each
 * queued U_PDU.
 *
 * The model:
 *  - One burst on the air at a time.  `copies` copies of a U_PDU of `len`
 *    bytes take   ceil(copies * (len + overhead) * 8000 / rate) + turnaround
 *    ms; an ARQ attempt adds the receiver's acknowledgement,
 *    ceil(overhead * 8000 / rate) + turnaround ms.  `overhead` stands for
 *    the D_PDU headers and CRCs (Annex C) of one copy or one ACK.
 *  - Next to transmit: the node whose next U_PDU ranks highest (expedited,
 *    then priority 15..0), ties round-robin; FIFO within a rank.
 *  - Loss: each copy is lost for each receiver with probability `loss`, and
 *    so is each ARQ acknowledgement, drawn from util_rng seeded with `seed`:
 *    the same inputs at the same times give the same outcome.
 *  - ARQ (to one node): up to 1 + arq_retries attempts.  The receiver
 *    delivers the first copy it gets, once; the sender succeeds at the
 *    first acknowledgement, else fails with S5066_REJ_NODE_NOT_RESPONDING.
 *    An EMCON node receives but never acknowledges.
 *  - Non-ARQ (a node, a group's members, or broadcast: every other node):
 *    one burst of min_retx + 1 copies; each receiver delivers its first
 *    intact copy, once.  With bit_errors, a receiver that got no intact
 *    copy is offered a corrupted one with its error blocks (tx mode 3),
 *    which it may refuse.  The sender succeeds when the burst ends.
 *  - EMCON nodes never transmit: their queue waits.  A U_PDU still queued
 *    (or between ARQ attempts) at its time to die fails with
 *    S5066_REJ_TTL_EXPIRED.
 *  - Flow control per node: queued bytes reaching max_queue turn flow off;
 *    falling to max_queue / 2 turn it on; beyond 2 * max_queue a submit is
 *    refused with S5066_ERR_QUEUE_FULL.
 *  - A U_PDU addressed to the sender's own node goes on the air like any
 *    other and is never lost.
 * Callbacks may submit again (a receiver answering): the U_PDU is queued
 * and goes on the air after the event being processed. */
#define S5066_CHANNEL_RATE_MIN 75u
#define S5066_CHANNEL_RATE_MAX 240000u
#define S5066_CHANNEL_BLOCK 128 /* bytes per block in a corrupted copy's error list */
#define S5066_CHANNEL_NAME_MAX 32

struct s5066_channel_params {
    uint32_t rate;        /* bits per second, S5066_CHANNEL_RATE_MIN..MAX (2400) */
    util_ms turnaround;   /* ms added to every burst (500) */
    double loss;          /* per copy and receiver, 0..1 (0) */
    uint64_t seed;        /* PRNG seed (1) */
    bool bit_errors;      /* offer corrupted copies in tx mode 3 (no) */
    unsigned arq_retries; /* ARQ attempts after the first (5) */
    size_t max_queue;     /* bytes per node before flow off, 0 for no limit (64 KiB) */
    util_ms max_ttl;      /* lifetime of a U_PDU with TTL 0, 0 for forever (0) */
    unsigned overhead;    /* bytes on air per copy and per ACK (16) */
};

/* s5066_channel_params_default - the defaults in brackets above */
void s5066_channel_params_default(struct s5066_channel_params *p);

/* One node of the network. */
struct s5066_channel_node {
    const char *name;                /* copied, < S5066_CHANNEL_NAME_MAX */
    struct s5066_addr addr;          /* a node address (group bit 0) */
    const struct s5066_addr *groups; /* group addresses it receives (copied) */
    size_t n_groups;
    bool emcon; /* receive only */
};

/* One U_PDU handed to the channel (s5066_channel_submit copies it). */
struct s5066_channel_updu {
    uint8_t src_sap;
    uint8_t dest_sap;
    struct s5066_addr dest; /* a node, a group, or S5066_ADDR_BROADCAST_STR */
    uint8_t priority;       /* 0..15, 15 highest */
    bool expedited;         /* ahead of every priority */
    uint8_t tx_mode;        /* S5066_TX_ARQ, _NON_ARQ or _NON_ARQ_ERRORS (not DEFAULT) */
    bool confirm;           /* delivery confirmation asked (reported in the result) */
    uint8_t min_retx;       /* non-ARQ: extra copies, 0..15 */
    util_ms ttl;            /* ms from submit, 0: the channel's max_ttl */
    const uint8_t *updu;
    size_t len;             /* <= 65535 */
    uint64_t tag;           /* the submitter's, returned in the result */
};

/* A U_PDU arriving at a node (pointers valid during the callback). */
struct s5066_channel_rx {
    uint64_t id; /* the channel's id of the U_PDU */
    struct s5066_addr src;
    uint8_t src_sap;
    struct s5066_addr dest; /* as addressed: the node, a group, broadcast */
    uint8_t dest_sap;
    uint8_t priority;
    bool expedited;
    uint8_t tx_mode;        /* the sender's (a corrupted copy is indicated in mode 3) */
    size_t n_err;           /* corrupted copy: blocks in error (0 when intact) */
    const struct s5066_block *err;
    const uint8_t *updu;
    size_t len;
};

/* The outcome of a submitted U_PDU, reported once. */
struct s5066_channel_result {
    uint64_t id;
    bool ok;    /* ARQ: acknowledged; non-ARQ: transmitted */
    int reason; /* enum s5066_reject_reason when !ok (or when the receiver refused it) */
    const struct s5066_channel_updu *u; /* as submitted, U_PDU included */
};

/* One burst on the air, for observers (tests, logs). */
struct s5066_channel_tx {
    int node; /* the transmitting node */
    uint64_t id;
    util_ms start, end;
    size_t bytes_on_air;
    unsigned copies;  /* copies of the U_PDU; 0 for an ARQ acknowledgement */
    unsigned attempt; /* ARQ attempt number from 1; 1 for non-ARQ */
};

struct s5066_channel_callbacks {
    /* deliver: a U_PDU for `node` (node_user from s5066_channel_add_node);
     * return 0 taken, a positive enum s5066_reject_reason (ARQ: reported to
     * the sender, e.g. S5066_REJ_SAP_NOT_BOUND), or negative: refused */
    int (*deliver)(void *node_user, int node, const struct s5066_channel_rx *rx);
    /* result: the outcome of a U_PDU submitted at `node` */
    void (*result)(void *node_user, int node, const struct s5066_channel_result *res);
    /* flow: `node`'s queue crossed a watermark (on = accept more) */
    void (*flow)(void *node_user, int node, bool on);
    /* transmit: a burst went on the air (optional; user from s5066_channel_new) */
    void (*transmit)(void *user, const struct s5066_channel_tx *tx);
};

struct s5066_channel_node_stats {
    uint64_t submitted;    /* U_PDUs accepted by submit */
    uint64_t bursts;       /* data bursts sent */
    uint64_t acks;         /* ARQ acknowledgements sent */
    uint64_t bytes_on_air; /* copies, overhead and acks */
    util_ms airtime;       /* ms on the air, turnarounds included */
    uint64_t retransmissions;
    uint64_t ok, failed, expired; /* results of its U_PDUs */
    uint64_t received;     /* U_PDUs delivered to it */
    uint64_t lost;         /* U_PDUs that did not reach it */
    uint64_t corrupted;    /* corrupted copies offered to it */
    size_t queued, queued_bytes;
    bool emcon, flow_off;
};

struct s5066_channel_stats {
    util_ms elapsed; /* since the first `now` the channel saw */
    util_ms busy;    /* ms with a burst on the air */
    uint64_t bursts;
    double utilisation; /* busy / elapsed, 0..1 */
};

struct s5066_channel;

/* s5066_channel_new - an empty channel; NULL on bad params or no memory */
struct s5066_channel *s5066_channel_new(const struct s5066_channel_params *p,
                                        const struct s5066_channel_callbacks *cb, void *user);
/* s5066_channel_free - release the channel and its queues (no callbacks) */
void s5066_channel_free(struct s5066_channel *ch);
/* s5066_channel_add_node - add a node; its index (0, 1, ...) or S5066_ERR_INVAL
 * (bad or duplicate address or name) / S5066_ERR_NOMEM */
int s5066_channel_add_node(struct s5066_channel *ch, const struct s5066_channel_node *n,
                           void *node_user);
/* s5066_channel_submit - queue a U_PDU at `node`; 0 and *id (may be NULL),
 * S5066_ERR_INVAL (bad field, ARQ to a group) or S5066_ERR_QUEUE_FULL */
int s5066_channel_submit(struct s5066_channel *ch, util_ms now, int node,
                         const struct s5066_channel_updu *u, uint64_t *id);
/* s5066_channel_run - process every event due at or before now */
void s5066_channel_run(struct s5066_channel *ch, util_ms now);
/* s5066_channel_next_expiry - when run is next needed, or UTIL_MS_NEVER */
util_ms s5066_channel_next_expiry(const struct s5066_channel *ch);
/* s5066_channel_set_emcon - put a node in or out of EMCON */
void s5066_channel_set_emcon(struct s5066_channel *ch, util_ms now, int node, bool emcon);
/* s5066_channel_airtime - ms on air for copies of len bytes (ARQ: with the ACK) */
util_ms s5066_channel_airtime(const struct s5066_channel *ch, size_t len, unsigned copies, bool arq);
/* s5066_channel_node_count - number of nodes */
int s5066_channel_node_count(const struct s5066_channel *ch);
/* s5066_channel_find_node - the index of the node with this node address, or -1 */
int s5066_channel_find_node(const struct s5066_channel *ch, const struct s5066_addr *a);
/* s5066_channel_node_name - a node's name ("" for a bad index) */
const char *s5066_channel_node_name(const struct s5066_channel *ch, int node);
/* s5066_channel_node_addr - a node's address */
struct s5066_addr s5066_channel_node_addr(const struct s5066_channel *ch, int node);
/* s5066_channel_node_emcon - whether a node is in EMCON */
bool s5066_channel_node_emcon(const struct s5066_channel *ch, int node);
/* s5066_channel_node_flow_on - whether a node's queue accepts more (no flow off) */
bool s5066_channel_node_flow_on(const struct s5066_channel *ch, int node);
/* s5066_channel_node_stats - a node's counters */
void s5066_channel_node_stats(const struct s5066_channel *ch, int node,
                              struct s5066_channel_node_stats *st);
/* s5066_channel_stats - the channel's counters at now */
void s5066_channel_stats(const struct s5066_channel *ch, util_ms now,
                         struct s5066_channel_stats *st);

/* ---- SIS server of a simulated node (s5066sim) ---- */

/* The server side of Annex A (A.2.1, A.3.1) for one node of the channel
 * model, one engine per node: it takes decoded primitives from client
 * connections and answers through callbacks.  BIND gets BIND_ACCEPTED with
 * the node's MTU, or BIND_REJECTED (2: SAP not allowed here, 3: SAP bound
 * by another connection); UNIDATA and EXPEDITED_UNIDATA requests go to the
 * channel (REJECTED 4 above the MTU, 5 with no tx mode, 0 for ARQ to a
 * group or a full queue); CONFIRM only when asked for, REJECTED for every
 * failure; KEEP_ALIVE answered (at most every keepalive_min); clients of an
 * EMCON node get SUBNET_AVAILABILITY receive-only/EMCON; channel flow
 * control becomes DATAFLOW_OFF/ON.  A corrupted copy (bit-error mode) is
 * indicated only to a client bound in tx mode 3 or when it was sent in
 * mode 3; an intact copy of a mode-3 U_PDU is indicated in mode 2 (no
 * empty block lists: Wireshark reads those as the Rockwell layout).  Each
 * invalid primitive (undecodable, server-to-client types,
 * requests before BIND, a BIND for another SAP while bound, management
 * below rank 15) is counted; at max_bad the client gets UNBIND_INDICATION
 * reason 3 and its connection is closed.  A sim extension: a rank-15
 * client's MANAGEMENT_MSG_REQUEST of type S5066_SIM_MGMT_EMCON with one
 * body byte (1 enter, 0 leave) puts the node in or out of EMCON.
 *
 * Room for connections (s5066_simnode_admit, before attaching a TCP
 * client): at most max_clients at once, and max_per_address from one
 * client address (the host of "host:port").  At a limit the most idle
 * connection of that address (or, the node's table being full, of the
 * node) is closed to make room: one that has not bound first, then the one
 * bound but silent longest (it gets UNBIND_INDICATION reason 2), oldest
 * activity first; so a new client that binds is always served.  With
 * refuse_when_full the newcomer is refused instead.  Connect lines and
 * closed-for-room lines are rate-limited per address (per log_window). */
#define S5066_SIM_MGMT_EMCON 1

struct s5066_simnode_params {
    const char *name;                /* copied */
    struct s5066_addr addr;
    const struct s5066_addr *groups; /* copied */
    size_t n_groups;
    bool emcon;
    uint16_t mtu;          /* in BIND_ACCEPTED, 1..S5066_MAX_UPDU (2048) */
    uint16_t saps;         /* bit i set: SAP i may be bound (0xFFFF) */
    unsigned max_bad;      /* invalid primitives before UNBIND_INDICATION (5) */
    util_ms keepalive_min; /* answer KEEP_ALIVE at most this often (120 s) */
    unsigned max_clients;     /* connections at once; 0: no limit (32) */
    unsigned max_per_address; /* of them from one client address; 0: no limit (16) */
    bool refuse_when_full;    /* refuse a newcomer instead of closing the most idle (false) */
    util_ms log_window;       /* per-address log limits count lines per this long (60 s) */
};

/* s5066_simnode_params_default - the defaults in brackets above */
void s5066_simnode_params_default(struct s5066_simnode_params *p);

struct s5066_simnode_callbacks {
    /* send: a primitive for the client on conn (pointers valid during the call) */
    void (*send)(void *user, void *conn, const struct s5066_prim *p);
    /* close: flush what was sent and close conn; its client is detached already */
    void (*close)(void *user, void *conn);
};

struct s5066_simnode;
struct s5066_simclient;

/* s5066_simnode_channel_callbacks - set cb's deliver, result and flow for a
 * channel whose nodes are s5066_simnodes (leaves transmit alone) */
void s5066_simnode_channel_callbacks(struct s5066_channel_callbacks *cb);
/* s5066_simnode_new - a server for a new node of ch (added to the channel);
 * NULL on error (bad params, duplicate address, no memory) */
struct s5066_simnode *s5066_simnode_new(struct s5066_channel *ch, const struct s5066_simnode_params *p,
                                        const struct s5066_simnode_callbacks *cb, void *user);
/* s5066_simnode_free - release the server and its clients (no callbacks) */
void s5066_simnode_free(struct s5066_simnode *n);
/* s5066_simnode_index - the node's index in the channel */
int s5066_simnode_index(const struct s5066_simnode *n);
/* s5066_simnode_set_emcon - enter or leave EMCON, telling bound clients */
void s5066_simnode_set_emcon(struct s5066_simnode *n, util_ms now, bool emcon);
/* s5066_simnode_clients - connections attached */
size_t s5066_simnode_clients(const struct s5066_simnode *n);
/* s5066_simnode_admit - room for a new connection from peer ("host:port"):
 * true if there is, after closing the most idle connection of that host or
 * of the node when one is at its limit (close callback); false when
 * refuse_when_full refuses it, *why ("too-many-clients",
 * "too-many-from-address") saying which limit */
bool s5066_simnode_admit(struct s5066_simnode *n, util_ms now, const char *peer, const char **why);
/* s5066_simnode_closed_for_room - connections closed to make room so far */
uint64_t s5066_simnode_closed_for_room(const struct s5066_simnode *n);
/* s5066_simnode_attach - a new client connection (peer: "host:port", the host
 * counted against max_per_address, or any name); NULL on no memory */
struct s5066_simclient *s5066_simnode_attach(struct s5066_simnode *n, util_ms now, void *conn,
                                             const char *peer);
/* s5066_simclient_quiet - whether its connect line was held back by the per-address
 * limit: then so are the other lines about its connection (at debug) */
bool s5066_simclient_quiet(const struct s5066_simclient *c);
/* s5066_simclient_detach - the connection is gone: release its SAP */
void s5066_simclient_detach(struct s5066_simclient *c);
/* s5066_simclient_input - one decoded primitive from the client */
void s5066_simclient_input(struct s5066_simclient *c, util_ms now, const struct s5066_prim *p);
/* s5066_simclient_error - one primitive from the client that did not decode (err < 0) */
void s5066_simclient_error(struct s5066_simclient *c, util_ms now, int err);

#endif /* MULE5066_S5066_H */
