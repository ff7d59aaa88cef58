/* pmul.h - ACP 142 P_MUL: the pmul module's one public header.
 *
 * Sections:
 *   PDU codec  - ACP 142 (P_MUL) PDU formats (Data, Ack, Address,
 *                Discard_Message, Announce, Request, Reject, Release) and
 *                Annex B-3 (the checksum), with RFC 1071 accepted on
 *                receive: decode/encode of every P_MUL PDU, the Annex B-3
 *                and RFC 1071 checksums, Address_PDU splitting over the MTU
 *                (MAP bits), Ack_Info_Entry and missing-list iterators.
 *                Pure: no I/O, no logging, no clock, no allocation.
 *   (the sender and receiver engines and the bearers add their sections
 *   below)
 *
 * Byte layouts follow Wireshark's packet-p_mul.c dissector, which is the
 * judge of our bytes (see ../shared/oracle), and the PDUs of libjpmul, an
 * independent implementation (tests/data/pmul/acp142-libjpmul).  Where they
 * and DESIGN.md differ, pdu.c says so in its header comment.
 */
#ifndef MULE5066_PMUL_H
#define MULE5066_PMUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* ---- PDU codec ---------------------------------------------------------- */

/* Every P_MUL PDU starts with (all integers big-endian):
 *
 *     Length_of_PDU:16 | Priority:8 | MAP:2 PDU_Type:6 | X:16 | Checksum:16 |
 *
 * then, in every PDU but the Ack_PDU, Source_ID:32 | Message_ID:32 (16
 * bytes so far).  X is Total_Number_of_PDUs (Address), the Data_PDU's
 * Sequence_Number, Count_of_Destination_Entries (Announce), and unused (0)
 * elsewhere.  Priority is unused (0) in Announce/Request/Reject/Release.
 * After that, by type:
 *
 *   0 Data:     Fragment_of_Data (the rest of the PDU)
 *   1 Ack:      (no Source_ID/Message_ID) Source_ID_of_Ack_Sender:32 |
 *               Count_of_Ack_Info_Entries:16 | entries | [Timestamp:64]
 *               entry = Length_of_Ack_Info_Entry:16 (>= 10, counts itself) |
 *                       Source_ID:32 (the originator) | Message_ID:32 |
 *                       Missing_Data_PDU_Seq_Number:16 ... ("a, 0, b" is a..b)
 *               the optional Timestamp (units of 100 ms) follows the last
 *               entry and is present when 8 bytes remain.
 *   2 Address:  Expiry_Time:32 | Count_of_Destination_Entries:16 |
 *               Length_of_Reserved_Field:16 | entries of Destination_ID:32 |
 *               Message_Sequence_Number:32 | Reserved_Field[len]
 *               (no entries: the Ack-Ack)
 *   3 Discard_Message: nothing more
 *   4 Announce: Expiry_Time:32 | Announced_Multicast_Group:32 |
 *               Destination_ID:32 x Count (Count is X)
 *   5 Request, 6 Reject, 7 Release: Multicast_Group:32
 *   8 FEC_Address, 0x12 Extra_Address, 0x18 Extra_FEC_Address: decoded up
 *               to the common header, then PMUL_ERR_UNSUPPORTED.
 */
#define PMUL_HDR_LEN          16 /* common header with Source_ID, Message_ID */
#define PMUL_ACK_HDR_LEN      14 /* Ack_PDU up to its first Ack_Info_Entry */
#define PMUL_ADDRESS_HDR_LEN  24 /* Address_PDU up to its first entry */
#define PMUL_DEST_LEN         8  /* a destination entry without reserved field */
#define PMUL_ACK_ENTRY_MIN    10 /* an Ack_Info_Entry with no missing numbers */
#define PMUL_TIMESTAMP_LEN    8
#define PMUL_ANNOUNCE_HDR_LEN 24
#define PMUL_GROUP_PDU_LEN    20     /* Request, Reject, Release */
#define PMUL_MAX_LEN          65535u /* largest Length_of_PDU */
#define PMUL_CHECKSUM_OFF     6      /* where the checksum sits */

/* Negative error codes.  They do not overlap util's UTIL_ERR_* (-1..-99)
 * or s5066's (-100..-199); pmul_strerror() knows util's too. */
enum pmul_error {
    PMUL_ERR_TRUNCATED = -201,   /* input ends before the PDU (or a field) does */
    PMUL_ERR_LENGTH = -202,      /* Length_of_PDU, a count or an entry length
                                    disagrees with the bytes */
    PMUL_ERR_CHECKSUM = -203,    /* neither the Annex B-3 nor the RFC 1071 sum matches */
    PMUL_ERR_UNSUPPORTED = -204, /* FEC/Extra_Address or unknown type (header decoded) */
    PMUL_ERR_INVALID = -205,     /* a field the spec forbids (sequence number 0,
                                    ack entry < 10 bytes, bad missing range) */
    PMUL_ERR_OVERFLOW = -206,    /* output buffer too small */
    PMUL_ERR_TOO_BIG = -207,     /* PDU beyond 65535 bytes, a count beyond 16 bits,
                                    or nothing fits the MTU */
    PMUL_ERR_ARG = -208          /* invalid argument (type, index, NULL) */
};

/* pmul_strerror - text for a PMUL_ERR_* (or UTIL_ERR_*) code */
const char *pmul_strerror(int err);

/* PDU types (6 bits). */
enum pmul_type {
    PMUL_DATA = 0x00,
    PMUL_ACK = 0x01,
    PMUL_ADDRESS = 0x02,
    PMUL_DISCARD_MESSAGE = 0x03,
    PMUL_ANNOUNCE = 0x04,
    PMUL_REQUEST = 0x05,
    PMUL_REJECT = 0x06,
    PMUL_RELEASE = 0x07,
    PMUL_FEC_ADDRESS = 0x08,
    PMUL_EXTRA_ADDRESS = 0x12,
    PMUL_EXTRA_FEC_ADDRESS = 0x18
};

/* pmul_type_name - "Data_PDU", "Ack_PDU", ..., or "unknown" */
const char *pmul_type_name(int type);

/* MAP (2 bits above the type; Address and Announce PDUs): a destination
 * list split over several Address_PDUs has NOT_LAST on all but the last
 * and NOT_FIRST on all but the first; 0 = the only one. */
#define PMUL_MAP_NOT_LAST  0x1 /* wire bit 0x40 of byte 3 */
#define PMUL_MAP_NOT_FIRST 0x2 /* wire bit 0x80 of byte 3 */

/* Which checksum a decoded PDU carried. */
enum pmul_cksum_kind {
    PMUL_CKSUM_NONE = 0,   /* not checked (PMUL_DEC_NO_CHECKSUM) and neither matched */
    PMUL_CKSUM_ACP142 = 1, /* Annex B-3 (Fletcher mod 255); the one we send */
    PMUL_CKSUM_RFC1071 = 2 /* Internet checksum */
};

/* One destination entry of an Address_PDU. */
struct pmul_dest {
    uint32_t dest_id;        /* Destination_ID */
    uint32_t msn;            /* Message_Sequence_Number */
    const uint8_t *reserved; /* reserved_len bytes; NULL = zeros when encoding */
};

/* An inclusive range lo..hi of missing Data_PDU sequence numbers (1..65535). */
struct pmul_range {
    uint16_t lo, hi;
};

/* One Ack_Info_Entry.  To encode, give the missing numbers as `ranges`
 * (single numbers as lo == hi; written as a, a b, or a 0 b as is shortest);
 * or, when ranges is NULL, as `raw`: missing_words big-endian 16-bit words
 * exactly as on the wire (that is how the decoder and the iterator return
 * them, so a decoded entry re-encodes byte-exact). */
struct pmul_ack_entry {
    uint32_t source_id;  /* Source_ID of the message's originator */
    uint32_t message_id; /* Message_ID */
    const struct pmul_range *ranges;
    size_t nranges;
    const uint8_t *raw;
    size_t missing_words;
};

/* Type-specific parts.  Lists have two forms: the decoder fills the `raw`
 * pointers (into its input); an encoder caller fills the typed arrays.  The
 * accessors below read either, and pmul_encode() takes the typed array when
 * it is non-NULL, else the raw bytes (checked as the decoder would). */
struct pmul_data {
    uint16_t seq;        /* Sequence_Number, from 1 */
    const uint8_t *data; /* Fragment_of_Data */
    size_t len;
};

struct pmul_address {
    uint16_t total_pdus; /* Total_Number_of_PDUs (Data_PDUs of the message) */
    uint32_t expiry;     /* Expiry_Time, UNIX seconds */
    uint16_t reserved_len;
    size_t count;                  /* destination entries (<= 65535 on the wire) */
    const struct pmul_dest *dests; /* encode: count entries */
    const uint8_t *raw;            /* decoded: count * (8 + reserved_len) bytes */
};

struct pmul_ack {
    size_t count;                         /* Ack_Info_Entries (<= 65535 on the wire) */
    const struct pmul_ack_entry *entries; /* encode: count entries */
    const uint8_t *raw;                   /* decoded: the entries' bytes */
    size_t raw_len;
    bool has_timestamp;
    uint64_t timestamp; /* 100 ms units */
};

struct pmul_announce {
    uint32_t expiry;
    uint32_t group;           /* Announced_Multicast_Group */
    size_t count;             /* Destination_IDs (<= 65535) */
    const uint32_t *dest_ids; /* encode */
    const uint8_t *raw;       /* decoded: 4 * count bytes */
};

struct pmul_group {
    uint32_t group; /* Multicast_Group (Request, Reject, Release) */
};

/* One decoded or to-be-encoded PDU.  Lifetime: a decoded PDU's pointers
 * point into the input given to pmul_decode() and stay valid while it does. */
struct pmul_pdu {
    uint8_t type;        /* enum pmul_type */
    uint8_t priority;    /* 0 most urgent; unused (0) in Announce/Request/Reject/Release */
    uint8_t map;         /* PMUL_MAP_* (written as given for every type) */
    uint32_t source_id;  /* Source_ID; the Source_ID_of_Ack_Sender in an Ack_PDU */
    uint32_t message_id; /* Message_ID; 0 in an Ack_PDU */
    /* filled by the decoder, ignored by the encoder: */
    uint16_t length;    /* Length_of_PDU */
    uint16_t checksum;  /* as received */
    uint8_t cksum_kind; /* enum pmul_cksum_kind that matched */
    union {
        struct pmul_data data;
        struct pmul_address address;
        struct pmul_ack ack;
        struct pmul_announce announce;
        struct pmul_group group;
    } u;
};

/* pmul_pdu_init - zero a PDU and set its type */
void pmul_pdu_init(struct pmul_pdu *p, int type);

/* pmul_is_ack_ack - whether p is an Address_PDU without destinations (the Ack-Ack) */
static inline bool pmul_is_ack_ack(const struct pmul_pdu *p)
{
    return p->type == PMUL_ADDRESS && p->u.address.count == 0;
}

/* ---- checksums ---- */

/* pmul_checksum_acp142 - the ACP 142 Annex B-3 checksum (Fletcher mod 255,
 * check bytes at offset 6) of a whole PDU, as if bytes 6-7 were zero; 0 if
 * len < 8.  The input is not modified. */
uint16_t pmul_checksum_acp142(const uint8_t *pdu, size_t len);

/* pmul_checksum_rfc1071 - the RFC 1071 Internet checksum of a whole PDU,
 * as if bytes 6-7 were zero, as the big-endian value to store there */
uint16_t pmul_checksum_rfc1071(const uint8_t *pdu, size_t len);

/* pmul_checksum_verify - PMUL_CKSUM_ACP142 or _RFC1071 if the checksum at
 * bytes 6-7 matches (Annex B-3 is tried first), else PMUL_ERR_CHECKSUM
 * (PMUL_ERR_TRUNCATED below 8 bytes) */
int pmul_checksum_verify(const uint8_t *pdu, size_t len);

/* pmul_checksum_set - write the checksum of `kind` (PMUL_CKSUM_ACP142 or
 * _RFC1071) into bytes 6-7 of an encoded PDU; 0 or PMUL_ERR_ARG */
int pmul_checksum_set(uint8_t *pdu, size_t len, int kind);

/* ---- decode / encode ---- */

/* Flags for pmul_decode_ex(). */
#define PMUL_DEC_NO_CHECKSUM                                                                       \
    0x1 /* accept a PDU whose checksum matches neither                                             \
           (cksum_kind is then PMUL_CKSUM_NONE) */

/* pmul_decode - decode the one PDU that is the whole of in[0..len) (one
 * U_PDU or one UDP payload).  Returns len, or a negative error:
 * PMUL_ERR_TRUNCATED (Length_of_PDU > len, or fields beyond it),
 * PMUL_ERR_LENGTH (Length_of_PDU < len, counts or entry lengths that do not
 * add up to it), PMUL_ERR_CHECKSUM, PMUL_ERR_INVALID, and
 * PMUL_ERR_UNSUPPORTED after filling the common header of an FEC,
 * Extra_Address or unknown type.  Never allocates. */
int pmul_decode(const uint8_t *in, size_t len, struct pmul_pdu *p);

/* pmul_decode_ex - pmul_decode() with PMUL_DEC_* flags */
int pmul_decode_ex(const uint8_t *in, size_t len, unsigned flags, struct pmul_pdu *p);

/* pmul_encoded_len - bytes pmul_encode() would write, or a negative error */
int pmul_encoded_len(const struct pmul_pdu *p);

/* pmul_encode - write the PDU with its Length and its Annex B-3 checksum
 * into out; returns the bytes written or PMUL_ERR_ARG (type), _INVALID
 * (a field the decoder would reject), _TOO_BIG, _OVERFLOW (cap too small) */
int pmul_encode(const struct pmul_pdu *p, uint8_t *out, size_t cap);

/* pmul_pdu_equal - whether two PDUs have the same type and fields (lists
 * compared entry by entry, in either form; missing lists by the numbers
 * they name, in order; the decoder-only length/checksum fields ignored) */
bool pmul_pdu_equal(const struct pmul_pdu *a, const struct pmul_pdu *b);

/* ---- Address_PDU destinations and splitting ---- */

/* pmul_address_dest - the i-th destination entry of an Address_PDU (either
 * form); 0, or PMUL_ERR_ARG if i >= count or p is not an Address_PDU */
int pmul_address_dest(const struct pmul_pdu *p, size_t i, struct pmul_dest *d);

/* pmul_dests_sort - sort entries by Destination_ID, as ACP 142 sends them */
void pmul_dests_sort(struct pmul_dest *d, size_t n);

/* pmul_address_fit - how many destination entries fit one Address_PDU of
 * at most `room` bytes (the MTU left for the P_MUL PDU: over 5066, the
 * bound MTU minus the 6-byte client header); 0 if not even one fits */
size_t pmul_address_fit(size_t room, uint16_t reserved_len);

/* pmul_address_parts - how many Address_PDUs carry ndest entries within
 * `room` bytes each (1 for none: the Ack-Ack), or PMUL_ERR_TOO_BIG */
int pmul_address_parts(size_t ndest, size_t room, uint16_t reserved_len);

/* pmul_address_split - the part-th (from 0) of the Address_PDUs that carry
 * the whole destination list of `whole` (an Address_PDU in either form,
 * count may exceed 65535) within `room` bytes each: *out is `whole` with
 * its list narrowed to that part's entries and MAP set (0 when one PDU is
 * enough).  Encode each with pmul_encode().  0, PMUL_ERR_ARG (part out of
 * range, not an Address_PDU) or PMUL_ERR_TOO_BIG. */
int pmul_address_split(const struct pmul_pdu *whole, size_t room, size_t part,
                       struct pmul_pdu *out);

/* ---- Announce_PDU destinations ---- */

/* pmul_announce_dest - the i-th Destination_ID of an Announce_PDU (either
 * form); 0 if i >= count */
uint32_t pmul_announce_dest(const struct pmul_pdu *p, size_t i);

/* ---- Ack_PDU entries and missing numbers ---- */

/* Walks the Ack_Info_Entries of an Ack_PDU (either form):
 *
 *     struct pmul_ack_iter it; struct pmul_ack_entry e;
 *     pmul_ack_iter_init(&it, &pdu);
 *     while (pmul_ack_iter_next(&it, &e)) ...
 *
 * A decoded entry comes back in raw form (ranges NULL). */
struct pmul_ack_iter {
    const struct pmul_pdu *p;
    size_t i;   /* entries returned */
    size_t off; /* offset in the raw form */
};

/* pmul_ack_iter_init - start at the first entry */
void pmul_ack_iter_init(struct pmul_ack_iter *it, const struct pmul_pdu *p);

/* pmul_ack_iter_next - the next entry into *e; false at the end (or at a
 * malformed raw entry, which a decoded PDU never has) */
bool pmul_ack_iter_next(struct pmul_ack_iter *it, struct pmul_ack_entry *e);

/* Walks the missing numbers of one entry (either form), as ranges or one
 * number at a time.  Numbers above max_seq are dropped (ranges clipped), so
 * a receiver that knows the message has N Data_PDUs passes N and never
 * expands more than it has: never trust the peer's counts.  A raw list is
 * read as the dissector does: w, 0, x is the range w..x when w is not 0 and
 * two more words follow; any other word is one number (0 is skipped). */
struct pmul_missing_iter {
    const struct pmul_ack_entry *e;
    size_t pos;       /* next word (raw) or range (ranges) */
    uint16_t max_seq; /* clip bound */
    bool in_range;    /* expanding cur..hi */
    uint32_t cur, hi;
};

/* pmul_missing_init - start walking e's missing numbers, clipped to max_seq
 * (0xFFFF: no clipping) */
void pmul_missing_init(struct pmul_missing_iter *it, const struct pmul_ack_entry *e,
                       uint16_t max_seq);

/* pmul_missing_next_range - the next range lo..hi (a single number as
 * lo == hi); false at the end.  Do not mix with pmul_missing_next(). */
bool pmul_missing_next_range(struct pmul_missing_iter *it, uint16_t *lo, uint16_t *hi);

/* pmul_missing_next - the next missing number; false at the end */
bool pmul_missing_next(struct pmul_missing_iter *it, uint16_t *seq);

/* pmul_missing_count - how many numbers e names at or below max_seq
 * (repeats counted) */
size_t pmul_missing_count(const struct pmul_ack_entry *e, uint16_t max_seq);

/* pmul_ranges_words - 16-bit words n ranges take on the wire (1, 2 or 3 each) */
size_t pmul_ranges_words(const struct pmul_range *r, size_t n);

/* pmul_ack_entry_len - bytes one entry takes on the wire (10 + 2 per word),
 * or 0 if it is invalid or beyond 65535 */
size_t pmul_ack_entry_len(const struct pmul_ack_entry *e);

#endif /* MULE5066_PMUL_H */
