/* mule.h - the mail side of MULE (RFC 8494): the mule module's one public
 * header.  A library with no I/O and no knowledge of P_MUL or STANAG 5066;
 * the gateway passes payloads between it and the P_MUL layer.
 *
 * Sections:
 *   errors        - MULE_ERR_* and mule_strerror()
 *   payload       - the BSMTP-like payload of RFC 8494 3.1 (payload.c)
 *   ESMTP params  - lookup of MAIL/RCPT parameters, xtext (payload.c)
 *   CompressedData- zlib (RFC 1950) + BER with the STANAG 4406 Annex E
 *                   tagging, bounded inflation (cdt.c)
 *   routing       - static routes from the config, the send plan and the
 *                   receive dispositions of RFC 8494 3 (route.c)
 *   priority      - MT-PRIORITY (RFC 6710) -> P_MUL -> SIS priority,
 *                   DELIVERBY (RFC 2852) -> Expiry_Time (prio.c)
 *   trace         - the Received header field, protocol MULE (RFC 8494
 *                   6.2, RFC 5321 4.4) and RFC 5322 dates (trace.c)
 *   DSN           - RFC 3464 delivery status notifications (dsn.c)
 *
 * Configuration keys (util_conf; see conf/mulegw.conf), all optional
 * except that a [route] section needs `node`:
 *
 *     [mule]
 *     local_domains = hq.example.mil *.hq.example.mil
 *                         # domains this node delivers to its LAN MTA
 *                         # (space or comma separated; "*.d" = subdomains of d)
 *     max_message_size = 10M   # largest payload after inflation (1k..1G)
 *     max_envelope = 64k       # largest FROM-line + RCPT-lines (1k..16M)
 *     compress = zlib          # zlib, or zopfli (a better deflate, same zlib stream)
 *     compression_level = 9    # zlib level 1..9
 *     zopfli_iterations = 15   # zopfli's effort (1..1000)
 *     zopfli_max_size = 64k    # bigger payloads use zlib (zopfli is slow)
 *     split = no               # one P_MUL message per destination (hides Bcc)
 *
 *     [route example.mil]      # exact domain (case-insensitive)
 *     node = 10.0.0.2          # ACP 142 Destination_ID: dotted quad or number
 *     via = 10.0.0.9           # optional relay node the message goes through;
 *                              # on the relay itself via = its own id: that
 *                              # is what makes it forward what it receives
 *     [route *.example.mil]    # any subdomain of example.mil (longest wins)
 *     node = 10.0.0.3
 *     [route default]          # everything else
 *     node = 10.0.0.1
 *
 *     [priority]
 *     lifetime = 24h           # default lifetime for every P_MUL priority
 *     lifetime.0 = 1h          # ... overridden for P_MUL priority 0..15
 *     sis.0 = 15               # SIS priority for P_MUL priority 0..15
 *                              # (default 15 - p: SIS 15 is the highest)
 *                              # (a received P_MUL priority 16..255 uses 15's)
 */
#ifndef MULE5066_MULE_H
#define MULE5066_MULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* ---- errors ------------------------------------------------------------ */

/* Negative error codes.  They do not overlap util's UTIL_ERR_* (-1..-99),
 * which mule_strerror() also knows. */
enum mule_error {
    MULE_ERR_NO_FROM = -301,           /* payload does not start with a FROM-line */
    MULE_ERR_NO_RCPT = -302,           /* no RCPT-line before the empty line */
    MULE_ERR_BAD_ADDRESS = -303,       /* malformed address inside <> */
    MULE_ERR_BARE_LF = -304,           /* LF without CR in the envelope */
    MULE_ERR_BAD_LINE = -305,          /* bare CR, control character or missing <> */
    MULE_ERR_BAD_PARAM = -306,         /* malformed ESMTP parameter */
    MULE_ERR_ENVELOPE_TOO_LONG = -307, /* envelope beyond the configured limit */
    MULE_ERR_TRUNCATED = -308,         /* input ends inside the envelope */
    MULE_ERR_BER = -310,               /* malformed BER */
    MULE_ERR_BER_INDEFINITE = -311,    /* indefinite length (not allowed) */
    MULE_ERR_BER_TRAILING = -312,      /* bytes after the CompressedData */
    MULE_ERR_ALGORITHM = -313,         /* compression algorithm is not zlib (0) */
    MULE_ERR_CONTENT_TYPE = -314,      /* content type is not MULE (25) */
    MULE_ERR_ZLIB = -315,              /* the zlib stream is corrupt or incomplete */
    MULE_ERR_TOO_BIG = -316,           /* inflated content beyond the limit */
    MULE_ERR_NO_ROUTE = -320,          /* no route for a recipient */
    MULE_ERR_BAD_NODE = -321,          /* node id does not parse */
    MULE_ERR_EXPIRED = -322,           /* a DELIVERBY R deadline has passed */
    MULE_ERR_NOMEM = -330,             /* out of memory */
    MULE_ERR_INVAL = -331,             /* invalid argument */
    MULE_ERR_NO_ZOPFLI = -332,         /* built without zopfli (configure --with-zopfli) */
};

/* mule_strerror - text for a MULE_ERR_* (or UTIL_ERR_*) code */
const char *mule_strerror(int err);

/* ---- BSMTP-like payload (RFC 8494 3.1) ------------------------------------- */

/* The payload is
 *
 *     "<" reverse-path ">" [SP Mail-parameters] CRLF      the FROM-line
 *     1*( "<" forward-path ">" [SP Rcpt-parameters] CRLF ) the RCPT-lines
 *     CRLF                                                 the empty line
 *     message                                              RFC 5322, verbatim
 *
 * CRLF line ends, no dot-stuffing.  ESMTP parameters are kept verbatim. */
#define MULE_MAX_PATH             256  /* RFC 5321 4.5.3.1.3 */
#define MULE_MAX_LINE             2048 /* one envelope line, parameters included */
#define MULE_DEFAULT_MAX_ENVELOPE (64u * 1024)

struct mule_rcpt {
    const char *addr;   /* forward-path without <>, NUL-terminated */
    const char *params; /* RCPT parameters verbatim, "" if none */
};

/* An envelope.  To build a payload the caller fills from, from_params,
 * rcpts and n_rcpts; mule_payload_parse() fills it with copies it owns
 * (free them with mule_envelope_free). */
struct mule_envelope {
    const char *from;        /* reverse-path without <>; "" is the null path */
    const char *from_params; /* MAIL parameters verbatim, "" if none */
    struct mule_rcpt *rcpts;
    size_t n_rcpts;
    char *arena_; /* private: the strings of a parsed envelope */
};

/* mule_payload_build - append the payload for env and the message to out;
 * 0 or MULE_ERR_BAD_ADDRESS / _BAD_PARAM / _NO_RCPT / UTIL_ERR_NOMEM */
int mule_payload_build(const struct mule_envelope *env, const uint8_t *msg, size_t msg_len,
                       struct util_buf *out);

/* mule_payload_parse - parse the envelope at the start of in (at most
 * max_envelope bytes, 0 for MULE_DEFAULT_MAX_ENVELOPE); returns the
 * offset of the message (after the empty line) or a negative MULE_ERR_*.
 * Allocates the recipient array and one block of strings, released by
 * mule_envelope_free() (also on error, env is left empty). */
int mule_payload_parse(const uint8_t *in, size_t len, size_t max_envelope,
                       struct mule_envelope *env);

/* mule_envelope_free - release what mule_payload_parse() allocated */
void mule_envelope_free(struct mule_envelope *env);

/* mule_address_valid - whether s is an RFC 5321 Mailbox (UTF-8 allowed,
 * RFC 6531); with null_ok the empty (null) path is accepted too */
bool mule_address_valid(const char *s, bool null_ok);

/* mule_address_domain - the domain part of an address ("" if none) */
const char *mule_address_domain(const char *addr);

/* ---- ESMTP parameters ---------------------------------------------------------- */

/* mule_param_get - the value of keyword (case-insensitive) in a verbatim
 * parameter string: true with *val and *len set ("" for a keyword without
 * value), false if absent */
bool mule_param_get(const char *params, const char *keyword, const char **val, size_t *len);

/* mule_xtext_decode - decode RFC 3461 xtext ("+2B" escapes) into out (NUL
 * terminated); returns the length or MULE_ERR_BAD_PARAM / UTIL_ERR_OVERFLOW */
int mule_xtext_decode(const char *in, size_t len, char *out, size_t cap);

/* ---- CompressedData (STANAG 4406 Annex E, RFC 8494 4) ------------------------- */

/* On the wire (DESIGN.md "Wire formats"), with definite lengths:
 *
 *     30 L | 80 01 00 | 30 L | 80 01 19 | A0 L 04 L <zlib stream>
 *
 * algorithmID-ShortForm [0] 0 (zlib), contentType-ShortForm [0] 25 (MULE),
 * compressedContent [0] EXPLICIT OCTET STRING.  The decoder also takes the
 * explicit-tag form A0 03 02 01 00 / A0 03 02 01 19 and long-form lengths. */
#define MULE_CDT_ALG_ZLIB        0
#define MULE_CDT_CT_MULE         25
#define MULE_DEFAULT_MAX_MESSAGE (10u * 1024 * 1024)

struct mule_cdt {
    long algorithm;       /* algorithmID-ShortForm, -1 for the OID form */
    long content_type;    /* contentType-ShortForm, -1 for the OID form */
    bool explicit_tags;   /* the A0 03 02 01 xx form was used */
    const uint8_t *zdata; /* the compressed content, into the input */
    size_t zlen;
};

/* mule_cdt_wrap - append CompressedData for an already compressed zlib
 * stream to out; 0 or UTIL_ERR_NOMEM */
int mule_cdt_wrap(const uint8_t *zdata, size_t zlen, struct util_buf *out);

/* mule_cdt_encode - compress payload with zlib (RFC 1950) at level 1..9 and
 * append the CompressedData to out; 0 or MULE_ERR_ZLIB / UTIL_ERR_NOMEM */
int mule_cdt_encode(const uint8_t *payload, size_t len, int level, struct util_buf *out);
/* mule_cdt_encode_zopfli - the same with zopfli's deflate (iterations
 * 1..1000: its effort), a standard zlib stream a few per cent smaller;
 * 0, MULE_ERR_NO_ZOPFLI (not built in), MULE_ERR_INVAL or UTIL_ERR_NOMEM */
int mule_cdt_encode_zopfli(const uint8_t *payload, size_t len, int iterations, struct util_buf *out);
/* mule_zopfli_available - whether this build has zopfli */
bool mule_zopfli_available(void);
/* mule_cdt_encode_release - free the deflate stream mule_cdt_encode keeps
 * (one per thread, reset between messages); optional, e.g. at exit */
void mule_cdt_encode_release(void);

/* mule_cdt_decode - parse CompressedData (no inflation); returns len or
 * MULE_ERR_BER / _BER_INDEFINITE / _BER_TRAILING, and MULE_ERR_ALGORITHM /
 * MULE_ERR_CONTENT_TYPE (with *out filled) for what MULE does not carry */
int mule_cdt_decode(const uint8_t *in, size_t len, struct mule_cdt *out);

/* Memory a bounded inflation used: zlib's own state and the output buffer. */
struct mule_inflate_stats {
    size_t zlib_peak; /* most bytes zlib held at once */
    size_t out_cap;   /* the output buffer's allocation at the end */
};

/* mule_inflate - inflate a zlib stream, appending at most limit bytes to
 * out (whose own limit, if any, must allow them); stops with
 * MULE_ERR_TOO_BIG as soon as the output would pass limit, so a small
 * stream never allocates past it.  MULE_ERR_ZLIB for a corrupt, truncated
 * or over-long stream (bytes after its end).  stats may be NULL. */
int mule_inflate(const uint8_t *z, size_t zlen, size_t limit, struct util_buf *out,
                 struct mule_inflate_stats *stats);

/* mule_cdt_open - decode CompressedData and inflate it into payload
 * (at most max_size bytes, 0 for MULE_DEFAULT_MAX_MESSAGE).  A unit that
 * is not MULE (algorithm or content type) or is malformed is logged once
 * as `mule cdt-discard <ids> reason=...` (RFC 8494 5.1: discard it) and
 * the error returned.  ids is put in the log line as is (e.g.
 * "src=10.0.0.1 msgid=7"); may be NULL. */
int mule_cdt_open(const uint8_t *in, size_t len, size_t max_size, const char *ids,
                  struct util_buf *payload);

/* mule_inflate_head - like mule_inflate, but on MULE_ERR_TOO_BIG out keeps
 * the first limit bytes: enough to read the envelope of a message too big
 * to take, and answer it with a DSN */
int mule_inflate_head(const uint8_t *z, size_t zlen, size_t limit, struct util_buf *out);

/* ---- routing (RFC 8494 3) ------------------------------------------------------- */

/* An ACP 142 node id (Destination_ID / Source_ID), 32 bits, written as a
 * dotted quad ("10.0.0.2") or a number ("167772162", "0x0a000002"). */
#define MULE_NODE_STRLEN 16

/* mule_node_parse - parse a node id (0 is not a node); 0 or MULE_ERR_BAD_NODE */
int mule_node_parse(const char *s, uint32_t *out);

/* mule_node_format - dotted quad of node into buf (>= MULE_NODE_STRLEN); returns buf */
char *mule_node_format(uint32_t node, char *buf, size_t len);

/* mule_node_str - dotted quad of node in one of 8 static buffers (for log
 * lines with up to 8 nodes; not thread-safe) */
const char *mule_node_str(uint32_t node);

struct mule_route {
    char *pattern; /* "example.mil", "*.example.mil" or "default" */
    uint32_t node; /* destination node */
    uint32_t via;  /* relay node, 0 for none */
    int line;      /* config line of the section */
};

struct mule_routes {
    struct mule_route *routes; /* exact and wildcard routes */
    size_t n_routes;
    struct mule_route *def; /* the default route, or NULL */
    char **local;           /* local domains ("d" or "*.d") */
    size_t n_local;
};

/* Which deflate encoder writes the zlib stream (RFC 1950) of the
 * CompressedData; the stream is standard either way. */
enum mule_compress {
    MULE_COMPRESS_ZLIB = 0, /* zlib's deflate at compression_level */
    MULE_COMPRESS_ZOPFLI    /* zopfli's (Debian libzopfli): smaller, ~100x slower */
};

/* The mule module's settings from the config file. */
struct mule_config {
    struct mule_routes routes;
    size_t max_message_size;
    size_t max_envelope;
    int compression_level;
    enum mule_compress compress;
    int zopfli_iterations;
    size_t zopfli_max_size;
    bool split;
};

/* mule_compress_payload - compress and wrap a payload as cfg says: zopfli
 * when chosen and the payload is at most zopfli_max_size, else zlib at
 * compression_level; *used (may be NULL) gets the encoder used */
int mule_compress_payload(const struct mule_config *cfg, const uint8_t *payload, size_t len,
                          struct util_buf *out, enum mule_compress *used);

/* mule_routes_init - an empty table */
void mule_routes_init(struct mule_routes *r);

/* mule_routes_free - release a table */
void mule_routes_free(struct mule_routes *r);

/* mule_routes_add - add a route ("default" for the default route); 0 or
 * MULE_ERR_INVAL (bad pattern, node 0, duplicate) / UTIL_ERR_NOMEM */
int mule_routes_add(struct mule_routes *r, const char *pattern, uint32_t node, uint32_t via);

/* mule_routes_add_local - add local domains (space/comma list); 0 or MULE_ERR_INVAL */
int mule_routes_add_local(struct mule_routes *r, const char *list);

/* mule_routes_load - read [route ...] sections and [mule] local_domains;
 * errors go through util_conf_fail (file:line: key); 0 or negative */
int mule_routes_load(struct util_conf *conf, struct mule_routes *r);

/* mule_config_load - mule_routes_load plus the other [mule] keys */
int mule_config_load(struct util_conf *conf, struct mule_config *cfg);

/* mule_config_free - release a loaded config */
void mule_config_free(struct mule_config *cfg);

/* mule_route_lookup - the route for a domain: exact match, then the
 * longest matching "*." wildcard, then the default; NULL if none */
const struct mule_route *mule_route_lookup(const struct mule_routes *r, const char *domain);

/* mule_domain_is_local - whether domain is one of the local domains */
bool mule_domain_is_local(const struct mule_routes *r, const char *domain);

/* A send plan.  Each destination is a first hop (the relay if the route
 * has one, else the destination node) with the recipients it is
 * responsible for.  groups are the P_MUL messages to send: without split
 * one group with every destination and every routed recipient; with split
 * one group per destination (RFC 8494 3 step 6, for Bcc). */
struct mule_dest {
    uint32_t node;
    const size_t *rcpt; /* indexes into the recipient list */
    size_t n_rcpt;
};

struct mule_group {
    const uint32_t *nodes; /* destination nodes, ascending */
    size_t n_nodes;
    const size_t *rcpt; /* recipients in the payload, in the original order */
    size_t n_rcpt;
};

struct mule_plan {
    struct mule_dest *dests; /* ascending by node */
    size_t n_dests;
    struct mule_group *groups;
    size_t n_groups;
    size_t *local; /* recipients in local domains (not sent over MULE) */
    size_t n_local;
    size_t *unroutable; /* recipients with no route */
    size_t n_unroutable;
    void *mem_; /* private */
};

/* mule_route_plan - plan the transmission of one message to n recipients
 * (addresses without <>); self is this node (a route to it is local).
 * Allocates the plan (mule_plan_free); 0 or UTIL_ERR_NOMEM */
int mule_route_plan(const struct mule_routes *r, uint32_t self, const char *const *addrs, size_t n,
                    bool split, struct mule_plan *plan);

/* mule_plan_free - release a plan */
void mule_plan_free(struct mule_plan *plan);

/* What a receiving node does with each recipient of a payload. */
enum mule_disp {
    MULE_DISP_LOCAL = 0, /* deliver to the LAN MTA */
    MULE_DISP_RELAY = 1, /* send on over MULE to `next` */
    MULE_DISP_OTHER = 2, /* not this node's: its route names another node, or none */
    MULE_DISP_BOUNCE = 3 /* ours but undeliverable: DSN with `status` */
};

struct mule_rx_rcpt {
    enum mule_disp disp;
    uint32_t next;      /* RELAY: the next hop */
    const char *status; /* BOUNCE: enhanced status code (RFC 3463) */
    const char *reason; /* BOUNCE: text for the DSN's Diagnostic-Code */
};

/* The P_MUL message a payload came in: who sent it and to whom.  dests and
 * n_dests are for the caller's logs and records only: mule_route_receive
 * ignores them (a retransmitted Address_PDU lists only the destinations
 * that have not acknowledged, so their number says nothing about whose
 * recipients these are). */
struct mule_rx_ctx {
    uint32_t self;         /* this node */
    uint32_t source;       /* Source_ID of the message, 0 if unknown */
    const uint32_t *dests; /* its Destination_IDs, NULL if unknown (not used to decide) */
    size_t n_dests;        /* (not used to decide) */
};

/* mule_route_receive - RFC 8494 3 steps 3 to 6 for n recipients, decided
 * by this node's routes and local domains only, never by how many
 * destinations the Address_PDU (re)lists (DESIGN.md, Reliability rules):
 *   a local domain, or a route whose node is self       -> LOCAL;
 *   a route `node = X, via = self`                      -> RELAY to X,
 *     unless X is the message's source                  -> BOUNCE 5.4.6 (loop);
 *   a route to another node (not through self)          -> OTHER;
 *   no route and not local                              -> OTHER (the sender
 *     routed it to whoever owns it; not ours to bounce).
 * The same recipients give the same result whatever ctx->dests holds.
 * Fills out[0..n-1]; returns the number of recipients this node handles
 * (LOCAL + RELAY + BOUNCE). */
size_t mule_route_receive(const struct mule_routes *r, const struct mule_rx_ctx *ctx,
                          const char *const *addrs, size_t n, struct mule_rx_rcpt *out);

/* mule_disp_name - "local", "relay", "other", "bounce" */
const char *mule_disp_name(enum mule_disp d);

/* ---- priority and expiry ------------------------------------------------------ */

#define MULE_PMUL_PRIO_MAX    15
#define MULE_PMUL_PRIO_NORMAL 6

struct mule_prio {
    uint8_t sis[MULE_PMUL_PRIO_MAX + 1];       /* SIS priority for each P_MUL priority */
    uint32_t lifetime[MULE_PMUL_PRIO_MAX + 1]; /* default lifetime, seconds */
};

/* mule_prio_defaults - SIS 15 - p; lifetime 1 h for P_MUL 0-2, 6 h for 3-5,
 * 24 h for 6 (MT-PRIORITY 0), 72 h for 7-15 */
void mule_prio_defaults(struct mule_prio *p);

/* mule_prio_load - defaults, then the [priority] section; 0 or negative
 * (errors through util_conf_fail) */
int mule_prio_load(struct util_conf *conf, struct mule_prio *p);

/* mule_mt_priority - MT-PRIORITY (RFC 6710, -9..9) from MAIL parameters;
 * absent -> 0; 0 or MULE_ERR_BAD_PARAM */
int mule_mt_priority(const char *mail_params, int *x);

/* mule_pmul_priority - RFC 8494: 6 - x, clamped to 0..15 (0 most urgent) */
int mule_pmul_priority(int mt_priority);

/* mule_sis_priority - the SIS priority (15 highest) for a P_MUL priority
 * (below 0 as 0, above 15 as 15) */
int mule_sis_priority(const struct mule_prio *p, int pmul_priority);

/* The tables have an entry for P_MUL priorities 0..15, but ACP 142 allows
 * 0..255 on the wire: index them through these two, which read any larger
 * value as 15, the least urgent (P_MUL 0 is the most urgent). */

/* mule_prio_lifetime - the default lifetime (s) for a P_MUL priority, clamped */
uint32_t mule_prio_lifetime(const struct mule_prio *p, unsigned pmul_priority);

/* mule_prio_sis - the SIS priority for a P_MUL priority, clamped */
uint8_t mule_prio_sis(const struct mule_prio *p, unsigned pmul_priority);

/* DELIVERBY (RFC 2852): BY=<seconds>;R|N[T] */
struct mule_deliverby {
    bool present;
    long long by; /* seconds after arrival (may be <= 0 with N) */
    char mode;    /* 'R' return, 'N' notify */
    bool trace;   /* T: report as the message passes each MTA */
};

/* mule_deliverby_parse - the BY parameter from MAIL parameters; absent is
 * not an error (present = false); MULE_ERR_BAD_PARAM if malformed or an R
 * with by-time <= 0 */
int mule_deliverby_parse(const char *mail_params, struct mule_deliverby *out);

/* When a message expires and what happens then. */
struct mule_expiry {
    int pmul_priority;
    int sis_priority;
    int64_t expiry;        /* P_MUL Expiry_Time, UNIX seconds */
    int64_t notify_at;     /* BY ...;N: time for a "delayed" DSN, 0 for none */
    bool return_on_expiry; /* a "failed" DSN when it expires undelivered */
    bool trace;            /* BY ...T: "relayed" DSNs as it goes */
};

/* mule_expiry_compute - priorities and expiry for a message that arrived
 * at `arrival` (UNIX s) with these MAIL parameters: BY=n;R expires at
 * arrival + n; otherwise at arrival + the lifetime for its priority, and
 * BY=n;N asks for a delay notice at arrival + n.  0 or MULE_ERR_BAD_PARAM */
int mule_expiry_compute(const struct mule_prio *p, const char *mail_params, int64_t arrival,
                        struct mule_expiry *out);

/* mule_deliverby_rewrite - copy MAIL parameters to out (cap bytes) with
 * the BY time reduced by `elapsed` seconds, as RFC 2852 4 asks of a relay;
 * returns the length, or MULE_ERR_BAD_PARAM, UTIL_ERR_OVERFLOW, and
 * MULE_ERR_EXPIRED when an R deadline has passed (return the message) */
int mule_deliverby_rewrite(const char *mail_params, long long elapsed, char *out, size_t cap);

/* ---- trace (RFC 8494 6.2, RFC 5321 4.4) ------------------------------------------ */

#define MULE_DATE_STRLEN 40

/* mule_date_format - RFC 5322 date-time of UNIX time t in UTC
 * ("Thu, 27 Apr 2017 15:17:00 +0000") into buf; returns buf */
char *mule_date_format(int64_t t, char *buf, size_t len);

struct mule_trace {
    const char *from_name; /* the sending gateway's name, NULL if unknown */
    uint32_t source;       /* Source_ID of the P_MUL message */
    uint32_t msgid;        /* Message_ID */
    const char *by_host;   /* this gateway's host name */
    const char *for_addr;  /* the single recipient, or NULL (never reveal several) */
    int64_t now;           /* UNIX seconds */
};

/* mule_trace_received - append
 *   Received: from NAME ([a.b.c.d]) by HOST with MULE id <msgid@a.b.c.d>
 *    [for <addr>]; DATE CRLF
 * (folded) to out; 0 or MULE_ERR_INVAL / UTIL_ERR_NOMEM */
int mule_trace_received(const struct mule_trace *t, struct util_buf *out);

/* ---- delivery status notifications (RFC 3464, RFC 3461) -------------------------- */

enum mule_dsn_action {
    MULE_DSN_FAILED = 0,
    MULE_DSN_DELAYED = 1,
    MULE_DSN_RELAYED = 2,
    MULE_DSN_DELIVERED = 3
};

struct mule_dsn_rcpt {
    const char *addr;   /* the forward-path (Final-Recipient) */
    const char *params; /* its RCPT parameters verbatim (NOTIFY, ORCPT), may be NULL */
    enum mule_dsn_action action;
    const char *status;       /* enhanced status code "5.4.7" (RFC 3463) */
    const char *diagnostic;   /* Diagnostic-Code text ("smtp; 550 ..."), may be NULL */
    const char *remote_mta;   /* Remote-MTA ("dns; host"), may be NULL */
    int64_t will_retry_until; /* DELAYED: UNIX s, 0 for none */
};

struct mule_dsn {
    const char *return_path; /* the FROM-line's reverse-path; "" = null: no DSN */
    const char *mail_params; /* its MAIL parameters verbatim (RET, ENVID, BY), may be NULL */
    const struct mule_dsn_rcpt *rcpts;
    size_t n_rcpts;
    const uint8_t *message; /* the original message (headers and body) */
    size_t message_len;
    const char *hostname; /* the reporting MTA */
    int64_t now;          /* UNIX seconds (Date) */
    int64_t arrival;      /* when the message arrived, 0 if unknown */
    bool force_trace;     /* DELIVERBY T: report RELAYED/DELIVERED without NOTIFY=SUCCESS */
};

/* mule_dsn_wanted - whether a recipient's NOTIFY (RFC 3461 4.1) asks for
 * a notice of this action: absent NOTIFY means FAILURE,DELAY; NEVER none */
bool mule_dsn_wanted(const char *rcpt_params, enum mule_dsn_action action);

/* mule_dsn_build - append the whole RFC 5322 message of a DSN for the
 * recipients whose NOTIFY asks for it (or force_trace), addressed to the
 * return path, to out: multipart/report with a text/plain part, the
 * message/delivery-status part and the original (message/rfc822 for
 * RET=FULL, text/rfc822-headers otherwise).  Returns the number of
 * recipients reported; 0 (nothing written) for a null return path or
 * when nobody asked; MULE_ERR_INVAL / UTIL_ERR_NOMEM. */
int mule_dsn_build(const struct mule_dsn *d, struct util_buf *out);

#endif /* MULE5066_MULE_H */
