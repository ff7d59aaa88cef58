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
    uint8_t priority;    /* 0..255, 0 most urgent; unused (0) in Announce/Request/Reject/Release */
    uint8_t map;         /* PMUL_MAP_* (written as given for every type) */
    uint32_t source_id;  /* Source_ID; the Source_ID_of_Ack_Sender in an Ack_PDU */
    uint32_t message_id; /* Message_ID; 0 in an Ack_PDU */
    /* filled by the decoder, ignored by the encoder: */
    uint16_t length;    /* Length_of_PDU */
    uint16_t checksum;  /* as received */
    uint8_t cksum_kind; /* enum pmul_cksum_kind that matched */
    uint16_t padding;   /* bytes after Length_of_PDU (PMUL_DEC_PADDED), at most 65535 counted */
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
/* bytes after Length_of_PDU are padding, not an error: the PDU is the
 * first Length_of_PDU bytes (checksum included), pmul_pdu.padding counts
 * the rest, and the whole input counts as read (libjpmul pads short
 * Data_PDUs with zeros; Wireshark's dissector takes such datagrams too) */
#define PMUL_DEC_PADDED 0x2

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


/* ---- engine: sender and receiver (ACP 142 section 5, Annex B parameters) ---- */

/* One engine per node holds both sides of P_MUL: the transmitter of the
 * messages this node originates and the receiver of everyone else's.  It
 * does no I/O and reads no clock: the glue passes `now` (monotonic ms) to
 * every entry point, tells it the wall clock once (pmul_engine_set_wall),
 * feeds it the PDUs that arrive, and sends what the `send` callback gives
 * it.  One timer: pmul_engine_next_expiry().
 *
 * Transmitter: a message becomes its Address_PDU(s) (split over pdu_max
 * with the MAP bits) and Data_PDUs of at most pdu_max bytes, paced at the
 * bearer's rate.  Per destination it tracks the acknowledgement; after each
 * round it waits ACK_RE-TRANSMISSION_TIME (times BACK-OFF_FACTOR per round)
 * and sends an Address_PDU naming the destinations still open with only
 * the Data_PDUs they reported missing.  Destinations in EMCON get the whole
 * message EMCON_RTC more times, every EMCON_RTI, and are complete when their
 * acks arrive, however late.  At Expiry_Time a Discard_Message_PDU goes out
 * and each open destination fails.  Higher priority (lower P_MUL value)
 * goes first, preempting between PDUs.  Message_ID and the per-destination
 * Message_Sequence_Number come from callbacks, so they survive restarts.
 *
 * Receiver: Data_PDUs may come before their Address_PDU, in any order,
 * duplicated; a complete message is delivered once (deliver returns 0 only
 * when it is safely stored: only then is it acknowledged); duplicates are
 * suppressed by (Source_ID, Message_ID); acks are delayed by a random
 * interval (implosion) and aggregated per originator; missing lists are
 * bounded by MM; in own-node EMCON nothing is sent and the acks go out when
 * EMCON ends; memory is bounded per message and in total; incomplete
 * messages expire; messages lost for good are detected from the
 * Message_Sequence_Number (below).
 *
 * Receive limits (issue 13): receive state costs what was received, never
 * what a peer claims.  Fragments are kept sparse (per run of 32 sequence
 * numbers that holds any), so a Sequence_Number or Total_Number_of_PDUs of
 * 65535 costs nothing until its data is here.  Everything the receiver
 * holds is counted in bytes against rx_max_total: message records,
 * fragments, destination lists, duplicate records and per-source records
 * (pmul_engine_stats.rx_state).  rx_max_messages counts the messages being
 * collected: a completed message (and one the application refused) gives
 * up its slot at once and keeps only a compact duplicate record (Source_ID,
 * Message_ID, expiry) until Expiry_Time + rx_keep_done, which still answers
 * a retransmission with a complete ack.  At a limit the receiver makes
 * room: first the oldest orphan (no Address_PDU naming us yet) of the
 * source holding the largest share of orphans, then the oldest duplicate
 * record, then the oldest incomplete message of the source holding the
 * largest share of all; a new orphan never pushes out anything but orphans
 * and duplicate records, and a message never pushes out itself.  So a
 * flooding source starves only itself, and a valid message from another
 * node is always taken.  Every warning a peer can trigger is rate-limited
 * per source and kind (PMUL_LOG_BURST lines per PMUL_LOG_WINDOW_MS of the
 * engine's clock, PMUL_LOG_BURST_ALL per kind over all sources); the next
 * line allowed says suppressed=N. */
#define PMUL_LOG_BURST      3     /* lines per source and kind per window */
#define PMUL_LOG_BURST_ALL  20    /* lines per kind per window, all sources together */
#define PMUL_LOG_WINDOW_MS  60000 /* the rate limit's window (engine time) */

struct pmul_params {
    uint32_t node_id;               /* our Source_ID / Destination_ID */
    size_t pdu_max;                 /* largest P_MUL PDU the bearer carries (2042) */
    uint32_t rate_bps;              /* pacing at the bearer's rate; 0 = none (2400) */
    unsigned pdu_overhead;          /* bearer bytes per PDU for pacing (32) */
    util_ms turnaround_ms;          /* the bearer's time per U_PDU beyond its bytes: modem turnaround (500 ms) */
    util_ms burst_ms;               /* how far ahead of the channel we may queue (2 s) */
    util_ms ack_retransmission_time; /* ACK_RE-TRANSMISSION_TIME (60 s) */
    double back_off_factor;          /* BACK-OFF_FACTOR (1.5) */
    util_ms max_retransmission_time; /* cap of the backed-off time (30 min) */
    unsigned emcon_rtc;              /* EMCON_RTC (4) */
    util_ms emcon_rti;               /* EMCON_RTI (10 min) */
    unsigned mm;                     /* MM: missing entries per Ack_Info_Entry (20) */
    util_ms ack_pdu_time;            /* ACK_PDU_TIME: re-ack an incomplete message (60 s) */
    util_ms ack_delay_max;           /* acks wait a random 0..this (5 s) */
    uint64_t seed;                   /* PRNG for ack delays (1), mixed with node_id */
    size_t rx_max_message;           /* data bytes of one incoming message (16 MiB) */
    size_t rx_max_total;             /* bytes of all receive state (pmul_engine_stats.rx_state:
                                        fragments, records, duplicate records) (64 MiB) */
    size_t rx_max_messages;          /* incoming messages being collected at once (20000) */
    util_ms rx_orphan_time;          /* Data_PDUs without their Address_PDU are kept (1 h) */
    util_ms rx_keep_done;            /* completed (Source_ID, Message_ID) are remembered
                                        this long past their expiry (1 h) */
    bool send_ack_ack;               /* send the Ack-Ack when every destination acked (yes) */
    util_ms gap_wait;                /* a missing Message_Sequence_Number is final (warned,
                                        reported through `gap`) after this long (30 min) */
};

/* Loss detection from the Message_Sequence_Number (ACP 142 5.3.3): per
 * originator, the numbers missing below the highest seen are open gaps, as
 * ranges (a jump of any size is one range).  A missing number that arrives
 * later (reordering, a lost Address_PDU retransmitted) closes its gap
 * quietly; a gap still open gap_wait after it opened is final: logged once
 * (`pmul sequence-gap`) and reported once through `gap`.  Bounded: at most
 * PMUL_RX_MAX_GAPS open gaps per originator (beyond, the oldest is final at
 * once) and PMUL_RX_MAX_SOURCES idle originators (beyond, the one heard
 * least recently is forgotten, with its open gaps; an originator whose
 * messages are being collected is never forgotten, and those messages are
 * bounded by the receive limits). */
#define PMUL_RX_MAX_GAPS    64
#define PMUL_RX_MAX_SOURCES 1024

/* pmul_params_default - the defaults in brackets above (node_id 0: set it) */
void pmul_params_default(struct pmul_params *p);

/* One destination of a message to send.  msn 0 = ask alloc_msn. */
struct pmul_dest_spec {
    uint32_t id;  /* Destination_ID */
    bool emcon;   /* known to be in EMCON: served by EMCON_RTC repeats */
    uint32_t msn; /* Message_Sequence_Number (filled in when 0) */
};

/* A message to send. */
struct pmul_message {
    const uint8_t *data;
    size_t len;
    struct pmul_dest_spec *dests; /* msn filled in by pmul_engine_send */
    size_t ndests;
    uint8_t priority;    /* P_MUL priority 0..255, 0 most urgent */
    int64_t expiry;      /* Expiry_Time, UNIX seconds */
    uint32_t message_id; /* 0 = ask alloc_message_id (filled in) */
};

/* What the bearer needs to know about a PDU it is asked to send. */
struct pmul_tx_info {
    uint8_t type;       /* enum pmul_type */
    uint8_t priority;   /* P_MUL priority */
    int64_t expiry;     /* Expiry_Time of its message (UNIX s); 0 unknown */
    uint32_t to;        /* Ack_PDU: the originator's node; 0 = to the destinations */
    const uint32_t *dests; /* the message's destinations still concerned */
    size_t ndests;
    uint32_t source_id, message_id;
};

/* A complete incoming message (pointers valid during the callback). */
struct pmul_rx_message {
    uint32_t source_id, message_id;
    uint32_t msn;   /* our Message_Sequence_Number from its originator */
    uint8_t priority;
    int64_t expiry; /* UNIX s */
    const uint8_t *data;
    size_t len;
    const uint32_t *dests; /* the Destination_IDs its Address_PDU(s) named (at most 250) */
    size_t ndests;
};

/* Per-destination outcomes. */
enum pmul_dest_result {
    PMUL_DEST_ACKED = 0,    /* the destination acknowledged the whole message */
    PMUL_DEST_EXPIRED = 1,  /* Expiry_Time passed first (Discard_Message sent) */
    PMUL_DEST_CANCELLED = 2 /* the operator dropped the message */
};

/* pmul_dest_result_name - "acked", "expired", "cancelled" */
const char *pmul_dest_result_name(int result);

struct pmul_callbacks {
    /* send: put one PDU on the bearer; 0, or negative (the engine retries later) */
    int (*send)(void *user, const uint8_t *pdu, size_t len, const struct pmul_tx_info *info);
    /* deliver: a complete message; return 0 once it is safely stored (then it
     * is acknowledged), negative to refuse it for now (not acknowledged) */
    int (*deliver)(void *user, const struct pmul_rx_message *m);
    /* dest_done: destination `dest` of our message `handle` finished */
    void (*dest_done)(void *user, uint64_t handle, uint32_t message_id, uint32_t dest, int result);
    /* message_done: every destination of `handle` finished (the engine forgets it) */
    void (*message_done)(void *user, uint64_t handle, uint32_t message_id, size_t acked, size_t failed);
    /* alloc_message_id: the next Message_ID, persisted before returning 0 */
    int (*alloc_message_id)(void *user, uint32_t *id);
    /* alloc_msn: the next Message_Sequence_Number for dest, persisted */
    int (*alloc_msn)(void *user, uint32_t dest, uint32_t *msn);
    /* already_delivered (optional): whether (src, msgid) was delivered before a restart */
    bool (*already_delivered)(void *user, uint32_t src, uint32_t message_id);
    /* gap (optional): messages expected..got-1 from src never arrived: a gap
     * still open gap_wait after it opened (each reported once) */
    void (*gap)(void *user, uint32_t src, uint32_t expected_msn, uint32_t got_msn);
    /* source_known (optional): whether src is a node we know (configured).
     * The incomplete messages of an originator neither known nor heard
     * whole are not asked for: no Ack_PDU listing missing Data_PDUs goes to
     * it until one of its messages is complete (then it is acknowledged and
     * counts as known while the engine remembers it), so PDUs from made-up
     * originators cannot make this node transmit.  NULL: every originator
     * is known. */
    bool (*source_known)(void *user, uint32_t src);
    /* ack_names_acker (optional): whether the Ack_Info_Entries of Ack_PDUs
     * to originator src carry our own id as Source_ID (libjpmul's reading)
     * instead of the originator's (ACP 142 5.3.5, the default) */
    bool (*ack_names_acker)(void *user, uint32_t src);
};

struct pmul_engine;

/* pmul_engine_new - an engine; NULL on bad params (node_id 0, pdu_max too small) or no memory */
struct pmul_engine *pmul_engine_new(const struct pmul_params *p, const struct pmul_callbacks *cb,
                                    void *user);
/* pmul_engine_free - release everything (no callbacks) */
void pmul_engine_free(struct pmul_engine *e);
/* pmul_engine_set_wall - the wall clock at `now`: wall_ms UNIX milliseconds */
void pmul_engine_set_wall(struct pmul_engine *e, util_ms now, int64_t wall_ms);
/* pmul_engine_send - start sending a message; *handle names it in callbacks.
 * Errors: PMUL_ERR_ARG (no destinations, duplicate or zero ids, already
 * expired, too many Data_PDUs for pdu_max), UTIL_ERR_NOMEM, or what an
 * alloc callback returned */
int pmul_engine_send(struct pmul_engine *e, util_ms now, struct pmul_message *m, uint64_t *handle);
/* pmul_engine_input - one PDU from the bearer; 0, or the decode error (the
 * caller logs it once per peer) */
int pmul_engine_input(struct pmul_engine *e, util_ms now, const uint8_t *pdu, size_t len);
/* pmul_engine_timeout - run what is due at now */
void pmul_engine_timeout(struct pmul_engine *e, util_ms now);
/* pmul_engine_next_expiry - when pmul_engine_timeout is next needed, or UTIL_MS_NEVER */
util_ms pmul_engine_next_expiry(const struct pmul_engine *e);
/* pmul_engine_set_emcon - own node in EMCON: transmit nothing; acks wait for the end */
void pmul_engine_set_emcon(struct pmul_engine *e, util_ms now, bool emcon);
/* pmul_engine_set_blocked - the bearer cannot take PDUs now (flow off, link down) */
void pmul_engine_set_blocked(struct pmul_engine *e, util_ms now, bool blocked);
/* pmul_engine_set_pdu_max - the bearer's PDU size changed (a new MTU) */
void pmul_engine_set_pdu_max(struct pmul_engine *e, size_t pdu_max);
/* pmul_engine_set_dest_emcon - a destination entered or left EMCON (operator knowledge) */
void pmul_engine_set_dest_emcon(struct pmul_engine *e, util_ms now, uint32_t dest, bool emcon);
/* pmul_engine_cancel - drop a message: its open destinations end CANCELLED
 * and a Discard_Message_PDU goes out; PMUL_ERR_ARG if unknown */
int pmul_engine_cancel(struct pmul_engine *e, util_ms now, uint64_t handle);
/* pmul_engine_hold - hold (hold true) or release a message being sent:
 * held, none of its PDUs goes to the bearer any more (those handed over
 * are the bearer's) and no round starts, while acks are still taken;
 * released, it carries on where it stopped (a silent round: a prompt at
 * once).  PMUL_ERR_ARG if unknown or finished */
int pmul_engine_hold(struct pmul_engine *e, util_ms now, uint64_t handle, bool hold);
/* pmul_engine_retry - start a new round for a message now; PMUL_ERR_ARG if unknown */
int pmul_engine_retry(struct pmul_engine *e, util_ms now, uint64_t handle);

struct pmul_engine_stats {
    uint64_t pdus_sent, bytes_sent, data_sent, data_resent, acks_sent;
    uint64_t pdus_received, bad_pdus, acks_received;
    uint64_t messages_sent, messages_acked, dest_acked, dest_failed;
    uint64_t messages_delivered, duplicates, gaps, discarded;
    uint64_t rx_refused;     /* complete messages the application refused (deliver < 0) */
    uint64_t rx_limited;     /* messages and fragments turned away at a receive limit */
    uint64_t rx_evicted;     /* incoming messages and duplicate records dropped to make room */
    uint64_t log_suppressed; /* peer-triggered warnings the rate limit held back */
    uint64_t acks_withheld;  /* Ack_PDUs asking an unknown originator for missing data, not sent */
    uint64_t acks_acker_id;  /* Ack_Info_Entries taken with the acker's id as Source_ID */
    uint64_t padded_in;      /* PDUs with bytes after Length_of_PDU (taken as padding) */
    size_t tx_active;
    size_t rx_active;        /* incoming messages being collected (the slots in use) */
    size_t rx_bytes;         /* data bytes of the fragments held */
    size_t rx_orphans;       /* of rx_active: no Address_PDU naming us yet */
    size_t rx_dups;          /* duplicate records of completed messages */
    size_t rx_state;         /* bytes of receive state, as counted against rx_max_total */
    size_t rx_state_peak;    /* its highest value */
    size_t gaps_open, sources; /* open sequence gaps, originators tracked */
    util_ms srtt_ms, rttvar_ms; /* ack arrival after a round's end (RFC 6298); 0 before any */
    uint64_t rounds_prompt;     /* retransmission rounds with a destination that had not answered */
};

/* pmul_engine_get_stats - counters and sizes */
void pmul_engine_get_stats(const struct pmul_engine *e, struct pmul_engine_stats *st);

/* Per destination state of a message being sent, for the operator tool. */
struct pmul_dest_status {
    uint32_t id, msn;
    bool emcon;
    int state; /* -1 open, else enum pmul_dest_result */
    size_t missing; /* Data_PDUs it last reported missing (0 unknown or none) */
    bool heard;     /* it has acknowledged at least once */
};

/* pmul_engine_message_status - a message's ids, round and destinations
 * (up to max); the number of destinations, or PMUL_ERR_ARG if unknown */
int pmul_engine_message_status(const struct pmul_engine *e, uint64_t handle, uint32_t *message_id,
                               unsigned *round, struct pmul_dest_status *d, size_t max);

/* ---- bearers (glue) ---- */

/* The glue between one pmul_engine and the network that carries its PDUs
 * (libev).  Two bearers:
 *
 *   SIS  - STANAG 5066 through the s5066 link glue (TCP or serial to a 5066
 *          server): one P_MUL PDU per U_PDU on SAP 2, behind the 6-byte
 *          client transport header with application id 0x2000 (STANAG 4406
 *          Annex E, TMI-1), both configurable.  Address/Data/Discard PDUs
 *          for one destination go to its 5066 address, for several to the
 *          smallest configured group address whose members cover them all,
 *          else to broadcast (31.255.255.255) if allowed, else one copy per
 *          destination; always non-ARQ when to a group.  An Address_PDU
 *          naming nobody (the Ack-Ack) goes where the message's first
 *          Address_PDU went.  Ack_PDUs go unicast (ARQ by default) to the
 *          originator.  Destination_ID -> 5066
 *          address: the [node] table, else the address the originator's
 *          PDUs came from, else the id itself when it is a node address.
 *          SIS priority = sis_priority[P_MUL priority] (15 - p; P_MUL
 *          priorities 16..255, which ACP 142 allows, as 15); TTL =
 *          Expiry_Time - now (at least min_ttl); pdu_max = bound MTU - 6.
 *          DATAFLOW_OFF, EMCON, operator hold and link down block the engine;
 *          SUBNET_AVAILABILITY receive-only for EMCON (and
 *          pmul_bearer_set_emcon) also puts the engine in EMCON.
 *          TTLs are in radio time (the engine's clock, see Time below).
 *   UDP  - ACP 142 Annex B: Request/Reject/Release to port 2751, Announce to
 *          2752, Address/Data/Discard to the multicast group on 2753, Acks
 *          unicast on 2754 to the originator's IPv4 address: where its PDUs
 *          came from, else its node id (node ids are IPv4 addresses by
 *          default).
 *
 * The bearer owns the engine (created with the caller's callbacks; the
 * bearer supplies `send`) and the one ev_timer armed from
 * pmul_engine_next_expiry().  A caller that calls the engine directly
 * (pmul_bearer_engine) calls pmul_bearer_kick() afterwards.
 *
 * Time: the engine's clock is the monotonic clock times `time_scale`
 * (1 = real time), so a simulated network that runs N times faster
 * (s5066sim -s N) and the P_MUL timers (ACP 142 values in radio time) stay
 * in step; the engine's wall clock starts at the real one and runs at the
 * same scaled speed. */
#include "s5066/s5066.h"

struct ev_loop;

enum pmul_bearer_kind { PMUL_BEARER_SIS = 0, PMUL_BEARER_UDP = 1 };

#define PMUL_BEARER_NAME_MAX 32
#define PMUL_UDP_PORT_BASE 2751 /* 2751 Request/Reject/Release, 2752 Announce,
                                   2753 Address/Data/Discard, 2754 Ack */
#define PMUL_UDP_GROUP "239.0.0.142"
#define PMUL_UDP_PDU_MAX 1472

/* A node of the table: its Destination_ID and (SIS) its 5066 address. */
struct pmul_bearer_node {
    char name[PMUL_BEARER_NAME_MAX];
    uint32_t id;
    bool has_addr;
    struct s5066_addr addr;
    bool ack_acker_id; /* our Ack_PDUs to it carry our id as Source_ID (ack_source_id = acker) */
};

/* A 5066 group address and the Destination_IDs it reaches. */
struct pmul_bearer_group {
    char name[PMUL_BEARER_NAME_MAX];
    struct s5066_addr addr;
    uint32_t *members; /* owned by the config */
    size_t nmembers;
};

struct pmul_bearer_config {
    int kind;           /* enum pmul_bearer_kind (SIS) */
    const char *name;   /* for log lines ("pmul") */
    double time_scale;  /* engine clock = real clock * this (1) */
    size_t pdu_max;     /* cap on the PDU size; 0: SIS bound MTU - header, UDP 1472 */
    /* node table (both bearers: names for Destination_IDs) */
    struct pmul_bearer_node *nodes;
    size_t nnodes;
    /* SIS */
    struct s5066_link_config link; /* target and client (SAP 2, rank 0) */
    bool client_hdr;               /* 6-byte client transport header (yes) */
    uint16_t app_id;               /* its application id (0x2000) */
    uint8_t data_tx_mode;          /* Address/Data/Discard to one node: S5066_TX_NON_ARQ or _ARQ */
    uint8_t data_min_retx;         /* non-ARQ extra copies of data (0) */
    uint8_t ack_tx_mode;           /* Ack_PDUs: S5066_TX_ARQ (or _NON_ARQ) */
    uint8_t ack_min_retx;          /* non-ARQ extra copies of acks (1) */
    bool broadcast;                /* several destinations, no group: broadcast (yes) */
    bool id_as_address;            /* an unknown id 1..0x0FFFFFFF is its 5066 address (yes) */
    uint8_t sis_priority[16];      /* P_MUL priority -> SIS priority (15 - p); above 15 as 15 */
    util_ms min_ttl_ms;            /* TTL floor: Discard after expiry, late acks (60 s) */
    util_ms max_ttl_ms;            /* TTL for PDUs without expiry, 0 = no limit (0) */
    struct pmul_bearer_group *groups;
    size_t ngroups;
    /* UDP */
    char udp_addr[64];  /* our IPv4 address, bound for unicast (127.0.0.1) */
    char udp_group[64]; /* multicast group (239.0.0.142) */
    char udp_iface[64]; /* interface address for multicast (127.0.0.1) */
    uint16_t udp_port;  /* first of the four ports (2751) */
    int udp_ttl;        /* multicast TTL (1) */
    bool udp_loop;      /* IP_MULTICAST_LOOP (yes: other nodes on this host hear us) */
    double udp_drop;    /* test aid: drop each received datagram with this probability (0) */
    uint64_t udp_seed;  /* its PRNG seed (1) */
};

/* pmul_bearer_sis_priority - the SIS priority for a P_MUL priority: ACP 142
 * allows 0..255 (0 most urgent) and the table has 16 entries, so anything
 * above 15 takes the entry of 15, the least urgent */
static inline uint8_t pmul_bearer_sis_priority(const struct pmul_bearer_config *c,
                                               unsigned pmul_priority)
{
    return c->sis_priority[pmul_priority > 15 ? 15 : pmul_priority];
}

/* pmul_bearer_config_init - the defaults in brackets above */
void pmul_bearer_config_init(struct pmul_bearer_config *c);
/* pmul_bearer_config_free - release the node and group tables */
void pmul_bearer_config_free(struct pmul_bearer_config *c);
/* pmul_bearer_config_add_node - add a node (addr NULL: none); 0, UTIL_ERR_DUPLICATE, _NOMEM, _INVAL */
int pmul_bearer_config_add_node(struct pmul_bearer_config *c, const char *name, uint32_t id,
                                const struct s5066_addr *addr);
/* pmul_bearer_config_add_group - add a group address and its members; 0 or negative */
int pmul_bearer_config_add_group(struct pmul_bearer_config *c, const char *name,
                                 const struct s5066_addr *addr, const uint32_t *members, size_t n);
/* pmul_bearer_config_copy - a deep copy of src into dst (dst uninitialised); 0 or UTIL_ERR_NOMEM */
int pmul_bearer_config_copy(struct pmul_bearer_config *dst, const struct pmul_bearer_config *src);
/* pmul_bearer_find_node - a node by name, or by id as decimal, 0x hex or a.b.c.d; 0 or UTIL_ERR_INVAL */
int pmul_bearer_find_node(const struct pmul_bearer_config *c, const char *s, uint32_t *id);
/* pmul_bearer_node_name - the table's name of id, or NULL */
const char *pmul_bearer_node_name(const struct pmul_bearer_config *c, uint32_t id);
/* PMUL_ID_FMT / PMUL_ID_ARGS - a node id in a format string, as the dotted quad the
 * configuration and the gateway's logs use: printf("src=" PMUL_ID_FMT, PMUL_ID_ARGS(id)) */
#define PMUL_ID_FMT "%u.%u.%u.%u"
#define PMUL_ID_ARGS(id)                                                                           \
    (unsigned)(((uint32_t)(id) >> 24) & 255u), (unsigned)(((uint32_t)(id) >> 16) & 255u),          \
        (unsigned)(((uint32_t)(id) >> 8) & 255u), (unsigned)((uint32_t)(id)&255u)
/* pmul_parse_node_id - decimal, 0x hex or a dotted quad (a.b.c.d) -> a non-zero id; 0 or
 * UTIL_ERR_INVAL */
int pmul_parse_node_id(const char *s, uint32_t *id);

/* Config files (util_conf):
 *   [pmul]    node_id and the engine parameters by their ACP 142 names
 *             (pmul_params_from_conf)
 *   [bearer]  kind = sis | udp, and the fields above (target = host:port)
 *   [node NAME]  id = (number or a.b.c.d), address = 5066 address
 *   [group NAME] address = 16.x.x.x, members = node names or ids
 * The functions look up only their keys; the caller ends with
 * util_conf_check_unused(). */
/* pmul_bearer_config_from_conf - [bearer], [node] and [group] into c (initialised); 0 or negative */
int pmul_bearer_config_from_conf(struct util_conf *conf, struct pmul_bearer_config *c);
/* pmul_params_from_conf - [pmul] into p (defaults already in p); 0 or negative */
int pmul_params_from_conf(struct util_conf *conf, struct pmul_params *p);

/* Callbacks: the engine's (whose `send` is ignored) and the bearer's own. */
struct pmul_bearer_callbacks {
    struct pmul_callbacks engine;
    /* ready (optional): the bearer can (true) or cannot (false) carry PDUs;
     * pdu_max is the engine's PDU size when ready */
    void (*ready)(void *user, bool ready, size_t pdu_max);
    /* pdu_in (optional): a PDU the engine accepted (for observers) */
    void (*pdu_in)(void *user, const uint8_t *pdu, size_t len);
};

struct pmul_bearer_stats {
    uint64_t pdus_out, bytes_out, copies_out; /* PDUs sent, and U_PDUs/datagrams for them */
    uint64_t pdus_in, bad_in, wrong_app, own_in, dropped_in;
    uint64_t no_route, send_failed, sent_ok, send_rejected;
};

struct pmul_bearer;

/* pmul_bearer_new - a bearer and its engine (params: node_id set; pdu_max is
 * the bearer's); NULL on bad config, socket errors (UDP) or no memory */
struct pmul_bearer *pmul_bearer_new(struct ev_loop *loop, const struct pmul_bearer_config *cfg,
                                    const struct pmul_params *params,
                                    const struct pmul_bearer_callbacks *cb, void *user);
/* pmul_bearer_start - connect (SIS) / start listening (UDP); 0 or negative */
int pmul_bearer_start(struct pmul_bearer *b);
/* pmul_bearer_free - close everything and free the engine (no callbacks) */
void pmul_bearer_free(struct pmul_bearer *b);
/* pmul_bearer_engine - the engine inside */
struct pmul_engine *pmul_bearer_engine(struct pmul_bearer *b);
/* pmul_bearer_kick - rearm the timer after calling the engine directly */
void pmul_bearer_kick(struct pmul_bearer *b);
/* pmul_bearer_now - the engine's clock now (monotonic ms, scaled) */
util_ms pmul_bearer_now(const struct pmul_bearer *b);
/* pmul_bearer_wall_s - the engine's wall clock now (UNIX s, scaled) for Expiry_Time */
int64_t pmul_bearer_wall_s(const struct pmul_bearer *b);
/* pmul_bearer_ready - whether the bearer can carry PDUs now */
bool pmul_bearer_ready(const struct pmul_bearer *b);
/* pmul_bearer_link - the SIS link inside (NULL for UDP), for status displays */
struct s5066_link *pmul_bearer_link(struct pmul_bearer *b);
/* pmul_bearer_pdu_max - the engine's PDU size (0 before the first bind) */
size_t pmul_bearer_pdu_max(const struct pmul_bearer *b);
/* pmul_bearer_send - pmul_engine_send at now and rearm */
int pmul_bearer_send(struct pmul_bearer *b, struct pmul_message *m, uint64_t *handle);
/* pmul_bearer_set_emcon - own node in EMCON: the engine and (SIS) the link hold */
void pmul_bearer_set_emcon(struct pmul_bearer *b, bool emcon);
/* pmul_bearer_idle - nothing waiting towards the network (SIS queue and link drained) */
bool pmul_bearer_idle(const struct pmul_bearer *b);
/* pmul_bearer_get_stats - counters */
void pmul_bearer_get_stats(const struct pmul_bearer *b, struct pmul_bearer_stats *st);

#endif /* MULE5066_PMUL_H */
