/* smtpgw.h - the mail gateway mulegw: the smtp-gw module's one public
 * header.  SMTP server (RFC 5321 and its service extensions), SMTP client,
 * the durable spool, and what the daemon wires between them.
 *
 * Sections (each part adds its own; keep edits small, never rewrite):
 *   errors        - SMTPGW_ERR_* and smtpgw_strerror() (error.c)
 *   SMTP server   - engine (smtp_server.c) and libev glue (smtp_listen.c)
 *   spool         - the durable spool: directories, rename(), fsync (spool*.c)
 *   SMTP client   - engine (smtp_client.c) and libev glue (smtp_deliver.c)
 *   control channel - mulectl's requests: engine and libev glue (control.c)
 */
#ifndef MULE5066_SMTPGW_H
#define MULE5066_SMTPGW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mule/mule.h"
#include "util.h"

struct ev_loop;

/* ---- errors ------------------------------------------------------------ */

/* Negative error codes in -400..-499, apart from util's UTIL_ERR_* and
 * mule's MULE_ERR_* (smtpgw_strerror() knows both).  Ranges: SMTP server
 * -400..-419, spool -420..-439, SMTP client -440..-459, daemon -460..-479,
 * control channel -480..-499 (its own section below).
 * Add a code here and its text in smtp-gw/error.c. */
enum smtpgw_error {
    SMTPGW_ERR_CLOSED = -400,  /* the session is closed */
    SMTPGW_ERR_LISTEN = -401,  /* a listen address does not parse or bind */
    SMTPGW_ERR_NETWORK = -402, /* a client network (CIDR) does not parse */
    SMTPGW_ERR_CONFIG = -403,  /* an SMTP server setting is invalid */
    /* spool: -420..-439 */
    /* SMTP client: -440..-459 */
};

/* smtpgw_strerror - text for an SMTPGW_ERR_* (or MULE_ERR_*, UTIL_ERR_*) code */
const char *smtpgw_strerror(int err);

/* ---- SMTP server ---- */

/* The engine (smtp_server.c) is one struct smtpgw_session per connection:
 * bytes in through smtpgw_session_input(), replies out through the write
 * callback, no I/O and no clock (`now` is passed in).  Commands are
 * dispatched from a table (name, allowed states, check, proceed) in the
 * style of OpenSMTPD's smtp_session.c; every state change goes through one
 * function that logs it.  The glue (smtp_listen.c) runs the listeners and
 * sockets on libev.
 *
 * Extensions (EHLO): SIZE (RFC 1870), 8BITMIME (RFC 6152), DSN (RFC 3461),
 * MT-PRIORITY (RFC 6710), DELIVERBY (RFC 2852), BINARYMIME and CHUNKING
 * (RFC 3030), PIPELINING (RFC 2920), ENHANCEDSTATUSCODES (RFC 2034, codes
 * of RFC 3463 on every reply but the greeting and EHLO/HELO), and
 * SMTPUTF8 (RFC 6531) when smtputf8 is set in the limits. */

/* Defaults of struct smtpgw_limits. */
#define SMTPGW_DEFAULT_MAX_CMD_LINE  2048 /* 512 (RFC 5321 4.5.3.1.4) + extension increments */
#define SMTPGW_DEFAULT_MAX_TEXT_LINE 1000 /* RFC 5321 4.5.3.1.6, CRLF included */
#define SMTPGW_DEFAULT_MAX_RCPTS     100  /* RFC 5321 4.5.3.1.8 */
#define SMTPGW_DEFAULT_MAX_MESSAGE   (10u * 1024 * 1024)
#define SMTPGW_DEFAULT_IDLE_TIMEOUT  (5u * 60 * 1000) /* RFC 5321 4.5.3.2.7 */
#define SMTPGW_DEFAULT_CMD_TIMEOUT   (60u * 1000)
#define SMTPGW_DEFAULT_DATA_TIMEOUT  (60u * 1000)
#define SMTPGW_DEFAULT_MIN_DATA_RATE 500 /* bytes/s, Postfix's smtpd_min_data_rate */
#define SMTPGW_DEFAULT_MAX_BAD       20
#define SMTPGW_DEFAULT_MAX_SESSIONS  100
#define SMTPGW_DEFAULT_MAX_OUTPUT    (64u * 1024)

/* Per-session limits.  Three clocks end a session with 421 4.4.2, none of
 * them restarted by each byte but the first (a client sending one byte a
 * second cannot hold a session): idle_timeout since the last input;
 * cmd_timeout since the first byte of a command line not yet complete;
 * and a DATA or BDAT transfer must end by its start + data_timeout +
 * (octets received so far) / min_data_rate, as Postfix's smtpd_timeout
 * with smtpd_min_data_rate. */
struct smtpgw_limits {
    size_t max_cmd_line;       /* a command line, CRLF included: longer -> 500 5.5.2 */
    size_t max_text_line;      /* a DATA line, CRLF included: longer -> message refused (0: none) */
    size_t max_rcpts;          /* recipients per transaction: beyond -> 452 4.5.3 */
    size_t max_message;        /* message bytes (SIZE advertised): beyond -> 552 5.3.4 */
    util_ms idle_timeout;      /* no input for this long -> 421 4.4.2 and close (0: never) */
    unsigned max_bad_commands; /* bad commands before 421 4.7.0 and close */
    bool smtputf8;             /* advertise and accept SMTPUTF8 (RFC 6531) */
    util_ms cmd_timeout;       /* a command line complete within this of its first byte (0: none) */
    util_ms data_timeout;      /* the grace of a DATA/BDAT transfer (see above) */
    uint32_t min_data_rate;    /* bytes/s a DATA/BDAT transfer keeps up on average (0: no deadline) */
};

/* smtpgw_limits_default - fill in the SMTPGW_DEFAULT_* values (smtputf8 off) */
void smtpgw_limits_default(struct smtpgw_limits *lim);

/* BODY= (RFC 6152, RFC 3030) */
enum smtpgw_body {
    SMTPGW_BODY_NONE = 0, /* not given (7BIT) */
    SMTPGW_BODY_7BIT,
    SMTPGW_BODY_8BITMIME,
    SMTPGW_BODY_BINARYMIME
};

/* RET= (RFC 3461 4.3) */
enum smtpgw_ret { SMTPGW_RET_NONE = 0, SMTPGW_RET_FULL, SMTPGW_RET_HDRS };

/* NOTIFY= bits (RFC 3461 4.1); 0 when not given */
#define SMTPGW_NOTIFY_NEVER   0x1u
#define SMTPGW_NOTIFY_SUCCESS 0x2u
#define SMTPGW_NOTIFY_FAILURE 0x4u
#define SMTPGW_NOTIFY_DELAY   0x8u

#define SMTPGW_MAX_HELO   255 /* a domain or address literal */
#define SMTPGW_MAX_ENVID  100 /* RFC 3461 4.4, decoded */
#define SMTPGW_MAX_PEER   64  /* "2001:db8::1" or "192.0.2.1" */
#define SMTPGW_MAX_QUEUE_ID 64

/* One accepted recipient. */
struct smtpgw_rcpt {
    char *addr;       /* forward-path without <> (source route dropped) */
    char *params;     /* RCPT parameters verbatim, "" if none */
    unsigned notify;  /* SMTPGW_NOTIFY_* bits, 0 if absent */
    char *orcpt;      /* ORCPT value as sent ("rfc822;xtext"), NULL if absent */
};

/* The transaction a session collects from MAIL to the end of the data.
 * Everything is owned by the session and valid during the callbacks. */
struct smtpgw_txn {
    uint64_t session;             /* session id (logs) */
    char peer[SMTPGW_MAX_PEER];   /* client address */
    char helo[SMTPGW_MAX_HELO + 1]; /* EHLO/HELO argument */
    bool esmtp;                   /* EHLO rather than HELO */
    char *mail_from;              /* reverse-path without <>; "" for <> */
    char *mail_params;            /* MAIL parameters verbatim, "" if none */
    uint64_t size;                /* SIZE=, 0 if absent */
    enum smtpgw_body body;
    enum smtpgw_ret ret;
    char envid[SMTPGW_MAX_ENVID + 1]; /* ENVID= decoded from xtext, "" if absent */
    bool has_envid;
    int mt_priority;              /* MT-PRIORITY= -9..9, 0 if absent */
    bool has_mt_priority;
    struct mule_deliverby by;     /* BY= (by.present) */
    bool smtputf8;                /* SMTPUTF8 given */
    struct smtpgw_rcpt *rcpts;
    size_t n_rcpts;
    struct mule_rcpt *mule_rcpts_; /* private: the same recipients for smtpgw_txn_envelope */
    struct util_buf data;         /* the message: unstuffed, CRLF lines; limit = max_message */
    bool chunking;                /* the data came by BDAT */
};

/* Callbacks.  The engine calls write and close; the others are the
 * user's (the daemon's) decisions, called by the engine directly or
 * through the server glue, with `user`.
 *
 * Checks return 0 to accept, or an SMTP reply code (4xx/5xx) with the
 * rest of the reply in text ("5.7.1 Relaying denied"); an empty text
 * gets a default for the code.  message returns 0 only once the message
 * is durably spooled (fsync), with its queue id in queue_id; otherwise a
 * reply code (451, 452, 552, 554) with text, or a negative error (451
 * 4.3.0).  Or message returns SMTPGW_MESSAGE_PENDING and answers later
 * with smtpgw_session_message_done / smtpgw_server_message_done (group
 * commit: one fsync for every message of a loop pass); the session reads
 * nothing more until then (input already received is held, in order), and
 * txn stays valid until then. */
#define SMTPGW_MESSAGE_PENDING 1
struct smtpgw_callbacks {
    /* write - send reply bytes to the client (engine only; the glue's own) */
    void (*write)(void *user, const void *bytes, size_t len);
    /* close - the session has ended: flush what was written, then close
     * (engine only; must not free the session from inside) */
    void (*close)(void *user);
    /* mail_check - MAIL FROM accepted by syntax; NULL accepts */
    int (*mail_check)(void *user, const struct smtpgw_txn *txn, char *text, size_t cap);
    /* rcpt_check - relay control for one recipient; NULL accepts */
    int (*rcpt_check)(void *user, const struct smtpgw_txn *txn, const struct smtpgw_rcpt *rcpt,
                      char *text, size_t cap);
    /* message - spool the complete message durably */
    int (*message)(void *user, const struct smtpgw_txn *txn, char *queue_id, size_t qcap,
                   char *text, size_t tcap);
};

/* Session states (smtpgw_session_state_name: "init", "helo", ...). */
enum smtpgw_state {
    SMTPGW_ST_INIT = 0, /* greeted, waiting for EHLO/HELO */
    SMTPGW_ST_HELO,     /* between transactions */
    SMTPGW_ST_MAIL,     /* MAIL accepted, no recipient yet */
    SMTPGW_ST_RCPT,     /* at least one recipient */
    SMTPGW_ST_DATA,     /* reading DATA text */
    SMTPGW_ST_BDAT,     /* between BDAT chunks of a transaction */
    SMTPGW_ST_REFUSED,  /* greeted with 554, closing at once (see smtpgw_session_start) */
    SMTPGW_ST_CLOSED
};

/* What a client can make a session log at notice level or above (and
 * smtpd-refused) is rate-limited per client address and kind: at most
 * SMTPGW_LOG_BURST lines per SMTPGW_LOG_WINDOW, the next one allowed
 * carrying suppressed=N.  The glue keeps one array of limiters per client
 * address, shared by its sessions (smtpgw_session_set_log_limits). */
enum smtpgw_log_kind {
    SMTPGW_LOG_REFUSED = 0, /* smtpd-refused */
    SMTPGW_LOG_TIMEOUT,     /* smtpd-timeout */
    SMTPGW_LOG_BAD_INPUT,   /* smtpd-bad-input */
    SMTPGW_LOG_ERRORS,      /* smtpd-too-many-errors, smtpd-overflow */
    SMTPGW_LOG_SESSIONS,    /* glue: smtpd-too-many-sessions, smtpd-too-many-connections */
    SMTPGW_LOG_KINDS
};
#define SMTPGW_LOG_BURST  5
#define SMTPGW_LOG_WINDOW (60u * 1000)

struct smtpgw_session_config {
    const char *hostname;       /* our name in the greeting and EHLO */
    struct smtpgw_limits limits;
};

struct smtpgw_session;

/* smtpgw_session_new - a session for a client at peer (copied); id for the
 * logs; NULL on allocation failure.  Nothing is written until start. */
struct smtpgw_session *smtpgw_session_new(const struct smtpgw_session_config *cfg,
                                          const struct smtpgw_callbacks *cb, void *user,
                                          const char *peer, uint64_t id, util_ms now);
/* smtpgw_session_free - release a session (no callback is called) */
void smtpgw_session_free(struct smtpgw_session *s);
/* smtpgw_session_set_log_limits - the SMTPGW_LOG_KINDS limiters of the
 * client's address (they must outlive the session), before start; without
 * them every line is logged */
void smtpgw_session_set_log_limits(struct smtpgw_session *s, struct util_ratelimit *limits);
/* smtpgw_session_start - greet: 220 (refuse false), or (refuse true) 554
 * 5.7.1 and close at once.  RFC 5321 3.1 would wait for a QUIT, answering
 * 503 meanwhile; a client outside the networks is not kept waiting for, so
 * that it holds no session slot (RFC 7504 2 closes after its 521 too) */
void smtpgw_session_start(struct smtpgw_session *s, util_ms now, bool refuse);
/* smtpgw_session_input - consume bytes from the client (any split);
 * 0, or SMTPGW_ERR_CLOSED once the session has closed */
int smtpgw_session_input(struct smtpgw_session *s, util_ms now, const void *bytes, size_t len);
/* smtpgw_session_next_expiry - when smtpgw_session_expire must run: the
 * earliest of the idle, command and transfer deadlines (see the limits) */
util_ms smtpgw_session_next_expiry(const struct smtpgw_session *s);
/* smtpgw_session_expire - at or after the expiry: 421 4.4.2 and close
 * (logged smtpd-timeout what=idle|command|data) */
void smtpgw_session_expire(struct smtpgw_session *s, util_ms now);
/* smtpgw_session_shutdown - 421 4.3.2 (the service is stopping) and close */
void smtpgw_session_shutdown(struct smtpgw_session *s, util_ms now);
/* smtpgw_session_stalled_since - since when the session has waited for the
 * client to complete its next command: the first byte of a partial command
 * line, else its last input (or its start); UTIL_MS_NEVER when it is not
 * waiting for a command (a DATA/BDAT transfer, an answer we owe, closed) */
util_ms smtpgw_session_stalled_since(const struct smtpgw_session *s);
/* smtpgw_session_busy_close - 421 4.7.0 (too busy: the server needs the
 * slot of this stalled session for a new client) and close */
void smtpgw_session_busy_close(struct smtpgw_session *s, util_ms now);
/* smtpgw_session_eof - the client went away (logged; an open transaction is dropped).
 * While a message waits for its answer, only the client's input has ended:
 * smtpgw_session_message_done still answers it, runs what was held, and
 * says whether the client has gone */
void smtpgw_session_eof(struct smtpgw_session *s, util_ms now);
/* smtpgw_session_id - the id given to smtpgw_session_new */
uint64_t smtpgw_session_id(const struct smtpgw_session *s);
/* smtpgw_session_waiting - whether a message waits for its answer */
bool smtpgw_session_waiting(const struct smtpgw_session *s);
/* smtpgw_session_message_done - answer the message whose callback returned
 * SMTPGW_MESSAGE_PENDING: code 0 = queued as queue_id (250), else the
 * reply code and text as the callback would have returned them; then the
 * input held meanwhile is processed.  0 when the answer was given, even if
 * held input then ends the session (a QUIT pipelined behind the final dot:
 * 250, then 221); SMTPGW_ERR_CLOSED if the client has gone (the session
 * ended before the answer, or its input ended with no QUIT); or
 * UTIL_ERR_INVAL when nothing waits */
int smtpgw_session_message_done(struct smtpgw_session *s, util_ms now, int code,
                                const char *queue_id, const char *text);
/* smtpgw_session_state - the current state */
enum smtpgw_state smtpgw_session_state(const struct smtpgw_session *s);
/* smtpgw_session_state_name - "init", "helo", "mail", "rcpt", "data", "bdat", "refused", "closed" */
const char *smtpgw_session_state_name(enum smtpgw_state st);
/* smtpgw_session_memory - bytes the session holds (tests bound it) */
size_t smtpgw_session_memory(const struct smtpgw_session *s);
/* smtpgw_session_counters - messages accepted (queued) and refused so far */
void smtpgw_session_counters(const struct smtpgw_session *s, uint64_t *accepted,
                             uint64_t *rejected);

/* smtpgw_txn_envelope - a MULE envelope (RFC 8494 3.1) pointing into txn:
 * reverse-path, MAIL parameters and every recipient with its RCPT
 * parameters verbatim; valid while txn is */
void smtpgw_txn_envelope(const struct smtpgw_txn *txn, struct mule_envelope *env);
/* smtpgw_txn_received - append the Received: trace field (RFC 5321 4.4)
 * for txn to out: from helo (peer) by hostname with ESMTP/SMTP/UTF8ESMTP
 * id queue_id [for <rcpt> when one]; date of UNIX time now */
int smtpgw_txn_received(const struct smtpgw_txn *txn, const char *hostname, const char *queue_id,
                        int64_t now, struct util_buf *out);
/* smtpgw_relay_check - relay control by the routes: a recipient whose
 * domain has a route over HF (mule_route_lookup, not a local domain) -> 0;
 * otherwise 550 with "5.7.1 Relaying denied ..." in text (a local domain:
 * 550 5.1.2) - a ready rcpt_check for the daemon */
int smtpgw_relay_check(const struct mule_routes *routes, const char *addr, char *text, size_t cap);

/* The server glue (smtp_listen.c). */
struct smtpgw_server_config {
    const char *const *listen;   /* "127.0.0.1:25", "[::1]:2525", "[::]:25" (IPv6 only),
                                  * "*:25" (0.0.0.0); port 0: any, see smtpgw_server_port */
    size_t n_listen;
    const char *const *networks; /* client networks "10.0.0.0/8", "::1/128", "192.0.2.7";
                                  * none: loopback only.  Others get 554 5.7.1 */
    size_t n_networks;
    const char *hostname;        /* greeting and EHLO name */
    unsigned max_sessions;       /* beyond: 421 4.7.0 and close (0: default); a session
                                  * holds its slot until it ends (not while its last
                                  * reply drains), a client outside the networks none */
    unsigned max_sessions_per_client; /* sessions of one client address: beyond, 421 4.7.0
                                       * (0: half of max_sessions, at least 1) */
    size_t max_output;           /* per session: stop reading while more is unsent (0: default) */
    struct smtpgw_limits limits;
};

/* smtpgw_server_config_default - defaults: no listener, loopback clients,
 * hostname "localhost", default limits */
void smtpgw_server_config_default(struct smtpgw_server_config *cfg);

struct smtpgw_server_stats {
    uint64_t sessions_open;    /* connections, those draining their last reply included */
    uint64_t sessions_total;
    uint64_t sessions_refused; /* not in the networks, too many, or too many of one client */
    uint64_t sessions_busy_closed; /* stalled sessions closed to let a new client in (busy mode) */
    uint64_t messages_accepted;
    uint64_t messages_rejected;
};

struct smtpgw_server;

/* smtpgw_server_new - bind and listen on every address in cfg (strings
 * copied) and serve on loop; cb->mail_check, rcpt_check and message are
 * called with user (cb->write and close are ignored).  NULL on failure
 * with *err (may be NULL) set to SMTPGW_ERR_LISTEN / _NETWORK / _CONFIG /
 * UTIL_ERR_NOMEM; the reason is logged */
struct smtpgw_server *smtpgw_server_new(struct ev_loop *loop, const struct smtpgw_server_config *cfg,
                                        const struct smtpgw_callbacks *cb, void *user, int *err);
/* smtpgw_server_port - the port listener i is bound to (port 0 resolved), -1 if none */
int smtpgw_server_port(const struct smtpgw_server *srv, size_t i);
/* smtpgw_server_stats - counters */
void smtpgw_server_stats(const struct smtpgw_server *srv, struct smtpgw_server_stats *out);
/* smtpgw_server_message_done - the answer to a pending message of session
 * id (smtpgw_txn.session); 0, or SMTPGW_ERR_CLOSED if the client has gone */
int smtpgw_server_message_done(struct smtpgw_server *srv, uint64_t session, int code,
                               const char *queue_id, const char *text);
/* smtpgw_server_shutdown - stop listening and end every session with 421 4.3.2 */
void smtpgw_server_shutdown(struct smtpgw_server *srv);
/* smtpgw_server_free - close everything and release the server */
void smtpgw_server_free(struct smtpgw_server *srv);

/* ---- end of SMTP server ---- */

/* ---- spool ---- */

/* The durable spool (spool*.c), Postfix's queue model: files are written in
 * tmp/, fsync'd, and moved into place by rename(); a message's state is the
 * directory its envelope is in.  On disk (DIR = the spool directory):
 *
 *     DIR/lock        flock()ed while a process has the spool open
 *     DIR/state       counters: next P_MUL Message_ID, next
 *                     Message_Sequence_Number per destination node
 *                     (replaced whole: tmp + fsync + rename + fsync DIR)
 *     DIR/delivered   journal of (Source_ID, Message_ID, expiry) of received
 *                     messages already delivered: one fsync'd line each,
 *                     compacted (expired entries dropped) at open
 *     DIR/tmp/        files being written; emptied at open
 *     DIR/data/QID    the message content, written once, never rewritten
 *     DIR/outgoing/QID  envelopes of messages to send over HF
 *     DIR/incoming/QID  envelopes of messages to deliver to the LAN MTA
 *     DIR/corrupt/    quarantined envelopes (and their content)
 *
 * The envelope is a text file of key=value lines (see spool_envelope.c); its rename
 * into outgoing/ or incoming/ is the commit point.  Queue ids are 12
 * upper-case hex digits (8 of UNIX seconds, 4 of a counter): unique, short,
 * sortable.  Envelopes live in memory (compact: no content); content is
 * read from DIR/data on demand.  Every function that changes the spool
 * returns only after the change is on disk, except the group-commit ones
 * (stage, update_later, assign_ids) and remove's directory fsync, which
 * smtpgw_spool_sync completes. */

/* Spool error codes, in the range the errors section reserves (-420..-439).
 * smtpgw_spool_strerror() knows them and the SMTP client's. */
enum smtpgw_spool_error {
    SMTPGW_ERR_SPOOL_IO = -420,        /* file system error (logged with errno) */
    SMTPGW_ERR_SPOOL_CORRUPT = -421,   /* an envelope or state file does not parse */
    SMTPGW_ERR_SPOOL_DUPLICATE = -422, /* (Source_ID, Message_ID) already spooled or delivered */
    SMTPGW_ERR_SPOOL_NOTFOUND = -423,  /* no such message */
    SMTPGW_ERR_SPOOL_LOCKED = -424,    /* another process has the spool open */
    SMTPGW_ERR_SPOOL_INVAL = -425,     /* invalid envelope or argument */
    SMTPGW_ERR_SPOOL_TOO_BIG = -426,   /* more recipients/destinations than an envelope holds */
};

#define SMTPGW_QID_LEN       13   /* 12 hex digits and the NUL */
#define SMTPGW_MAX_RCPTS     1000 /* recipients per envelope */
#define SMTPGW_MAX_DESTS     250  /* P_MUL destinations per envelope */
#define SMTPGW_STATUS_LEN    12   /* "5.1.1" enhanced status and the NUL */

/* The state directories. */
enum smtpgw_queue {
    SMTPGW_Q_OUTGOING = 0, /* accepted over SMTP (or a DSN to the far side): send over HF */
    SMTPGW_Q_INCOMING = 1, /* received over HF (or a DSN for a local sender): deliver to the LAN MTA */
    SMTPGW_Q_COUNT = 2
};

/* What a recipient still needs. */
enum smtpgw_rcpt_state {
    SMTPGW_RCPT_OPEN = 0,     /* to send over HF / to deliver to the LAN MTA */
    SMTPGW_RCPT_DONE = 1,     /* acknowledged over HF / accepted by the LAN MTA */
    SMTPGW_RCPT_FAILED = 2,   /* failed for good: a DSN is owed */
    SMTPGW_RCPT_REPORTED = 3, /* failed, and the DSN is spooled (or was not asked for) */
    SMTPGW_RCPT_SKIP = 4,     /* not this gateway's (another destination delivers it) */
    SMTPGW_RCPT_RELAY = 5     /* incoming, to go on over HF: its outgoing copy is not yet spooled */
};

/* Per P_MUL destination of an outgoing message. */
enum smtpgw_dest_state {
    SMTPGW_DEST_OPEN = 0,  /* not yet acknowledged */
    SMTPGW_DEST_ACKED = 1, /* acknowledged the whole message */
    SMTPGW_DEST_FAILED = 2 /* expired, cancelled or refused */
};

/* Content as written, classified by the spool while it is written. */
enum smtpgw_content {
    SMTPGW_CONTENT_7BIT = 0,  /* US-ASCII text: CRLF lines of <= 998 bytes, no NUL */
    SMTPGW_CONTENT_8BIT = 1,  /* text with bytes >= 0x80 (8BITMIME) */
    SMTPGW_CONTENT_BINARY = 2 /* NUL, bare CR/LF or lines > 998 bytes (BINARYMIME) */
};

/* Envelope flags. */
#define SMTPGW_ENV_DSN   0x01 /* generated here (a DSN): never answered with another DSN */
#define SMTPGW_ENV_HOLD  0x02 /* held by the operator: not sent, not delivered */
#define SMTPGW_ENV_DELAY 0x04 /* a "delayed" DSN was already sent */

struct smtpgw_spool_rcpt {
    const char *addr;   /* forward-path without <> (owned by the spool) */
    const char *params; /* RCPT parameters verbatim (NOTIFY, ORCPT), "" if none */
    const char *diag;   /* last failure ("smtp; 550 5.1.1 ..."), NULL if none */
    char status[SMTPGW_STATUS_LEN]; /* last enhanced status ("4.4.1"), "" if none */
    int16_t dest;       /* outgoing: index into dests, -1 for none */
    uint8_t state;      /* enum smtpgw_rcpt_state */
};

struct smtpgw_spool_dest {
    uint32_t node;       /* P_MUL Destination_ID (the first hop) */
    uint32_t final_node; /* the route's destination when node is a relay, else 0 */
    uint32_t msgid;      /* P_MUL Message_ID of the message to this node, 0 = not yet */
    uint32_t msn;        /* its Message_Sequence_Number, 0 = not yet */
    uint8_t state;       /* enum smtpgw_dest_state */
};

/* A message's envelope.  Strings are owned by the spool once the message is
 * added: change them only through smtpgw_envelope_set_*(), then write the
 * envelope with smtpgw_spool_update().  For smtpgw_spool_add_*() the caller
 * fills one with its own strings (they are copied). */
struct smtpgw_envelope {
    char qid[SMTPGW_QID_LEN]; /* queue id (set by the spool) */
    uint8_t queue;            /* enum smtpgw_queue (set by the spool) */
    uint8_t flags;            /* SMTPGW_ENV_* */
    uint8_t content;          /* enum smtpgw_content (set by the spool) */
    uint8_t priority;         /* P_MUL priority 0..255 (ACP 142), 0 most urgent */
    int64_t arrival;          /* UNIX s it was accepted (0: the spool sets now) */
    int64_t expiry;           /* UNIX s: P_MUL Expiry_Time / give up delivering */
    uint64_t size;            /* content bytes (set by the spool) */

    const char *from;        /* reverse-path without <>, "" = null path */
    const char *mail_params; /* MAIL parameters verbatim, "" if none */
    /* MAIL parameters, parsed by the spool from mail_params at add time */
    const char *envid;  /* ENVID (xtext as given), NULL if absent */
    uint8_t ret;        /* enum smtpgw_ret (server section) */
    uint8_t body;       /* enum smtpgw_body (server section) */
    int8_t mt_priority; /* MT-PRIORITY (RFC 6710) -9..9, 0 if absent */
    bool smtputf8;      /* SMTPUTF8 given */
    char by_mode;       /* DELIVERBY (RFC 2852): 'R', 'N', or 0 if absent */
    bool by_trace;      /* ... with T */
    int64_t by_time;    /* ... its by-time, seconds */

    struct smtpgw_spool_rcpt *rcpts;
    uint16_t n_rcpts;

    /* outgoing: one entry per P_MUL destination */
    struct smtpgw_spool_dest *dests;
    uint16_t n_dests;

    /* incoming: where it came from, and delivery to the LAN MTA */
    uint32_t src_node;     /* Source_ID, 0 if generated here */
    uint32_t src_msgid;    /* its Message_ID */
    uint32_t attempts;     /* delivery attempts so far */
    int64_t next_attempt;  /* UNIX s of the next attempt, 0 = now */

    void *user; /* the daemon's own pointer (not stored) */
};

struct smtpgw_spool;

/* smtpgw_spool_strerror - text for a SMTPGW_ERR_SPOOL_* or SMTPGW_ERR_CLIENT_*
 * code (others: mule_strerror, which knows UTIL_ERR_* too) */
const char *smtpgw_spool_strerror(int err);

/* smtpgw_spool_open - open (creating it and its subdirectories) the spool
 * at dir and recover: remove tmp/ leftovers, load every envelope in
 * outgoing/ and incoming/ (one that does not parse, or whose content is
 * missing, goes to corrupt/ with a log line), remove content without an
 * envelope, load the counters (raised past every id found in an envelope)
 * and the delivered journal.  NULL with *err on failure (SMTPGW_ERR_SPOOL_IO,
 * _LOCKED, UTIL_ERR_NOMEM). */
struct smtpgw_spool *smtpgw_spool_open(const char *dir, int *err);

/* smtpgw_spool_close - release memory and the lock (everything is already on disk) */
void smtpgw_spool_close(struct smtpgw_spool *sp);

/* smtpgw_spool_count - messages in a queue */
size_t smtpgw_spool_count(const struct smtpgw_spool *sp, enum smtpgw_queue q);

/* smtpgw_spool_first - the oldest message in a queue (queue id order), or NULL */
struct smtpgw_envelope *smtpgw_spool_first(struct smtpgw_spool *sp, enum smtpgw_queue q);

/* smtpgw_spool_next - the message after env in its queue, or NULL (take it
 * before moving or removing env) */
struct smtpgw_envelope *smtpgw_spool_next(struct smtpgw_spool *sp, struct smtpgw_envelope *env);

/* smtpgw_spool_find - the message with this queue id, or NULL */
struct smtpgw_envelope *smtpgw_spool_find(struct smtpgw_spool *sp, const char *qid);

/* smtpgw_spool_find_incoming - the incoming message from (src, msgid), or NULL */
struct smtpgw_envelope *smtpgw_spool_find_incoming(struct smtpgw_spool *sp, uint32_t src,
                                                   uint32_t msgid);

/* Content written piece by piece (an SMTP server streams DATA here). */
struct smtpgw_spool_writer;

/* smtpgw_spool_writer_new - start a message in tmp/ (its queue id is chosen now); NULL with *err */
struct smtpgw_spool_writer *smtpgw_spool_writer_new(struct smtpgw_spool *sp, int *err);

/* smtpgw_spool_writer_qid - the queue id the message will have */
const char *smtpgw_spool_writer_qid(const struct smtpgw_spool_writer *w);

/* smtpgw_spool_writer_write - append content; 0 or SMTPGW_ERR_SPOOL_IO */
int smtpgw_spool_writer_write(struct smtpgw_spool_writer *w, const void *data, size_t len);

/* smtpgw_spool_writer_bytes - content bytes written so far */
uint64_t smtpgw_spool_writer_bytes(const struct smtpgw_spool_writer *w);

/* smtpgw_spool_writer_commit - fsync the content, write the envelope (a
 * copy of env) into queue q, fsync both and their directories; only then
 * the message exists (SMTP 250 / P_MUL ack after this returns 0).  *out (may
 * be NULL) is the spool's envelope.  For SMTPGW_Q_INCOMING with a nonzero
 * env->src_node, SMTPGW_ERR_SPOOL_DUPLICATE if (src_node, src_msgid) is
 * spooled or was delivered (the content is dropped: acknowledge it, it is
 * safe).  The writer is freed whatever the result. */
int smtpgw_spool_writer_commit(struct smtpgw_spool_writer *w, const struct smtpgw_envelope *env,
                               enum smtpgw_queue q, struct smtpgw_envelope **out);

/* Group commit: messages staged during one pass of the event loop become
 * durable together in smtpgw_spool_sync, with one fsync per file and one
 * per directory for the whole batch, instead of four fsyncs each.  The
 * SMTP 250 (or P_MUL ack) is sent from done(), after the sync. */
typedef void (*smtpgw_spool_done_fn)(void *cbuser, void *user, struct smtpgw_envelope *env, int err);

/* smtpgw_spool_writer_stage - like commit, but the content and the
 * envelope (a copy of env) are only written to tmp/ here; the message is
 * committed by the next smtpgw_spool_sync, which reports it to done with
 * user.  0, or an error (the writer is freed whatever the result) */
int smtpgw_spool_writer_stage(struct smtpgw_spool_writer *w, const struct smtpgw_envelope *env,
                              enum smtpgw_queue q, void *user);

/* smtpgw_spool_sync - commit everything staged (see above), persist
 * counters given out by smtpgw_spool_assign_ids, rewrite envelopes passed
 * to smtpgw_spool_update_later and fsync directories that lost entries;
 * done(cbuser, user, env, 0) per committed message and done(cbuser, user,
 * NULL, err) per failed one, in staging order.  Returns how many staged
 * messages it handled.  done may stage more: call again while
 * smtpgw_spool_sync_pending() */
size_t smtpgw_spool_sync(struct smtpgw_spool *sp, smtpgw_spool_done_fn done, void *cbuser);

/* smtpgw_spool_sync_pending - whether smtpgw_spool_sync has anything to do */
bool smtpgw_spool_sync_pending(const struct smtpgw_spool *sp);

/* smtpgw_spool_update_later - msg was changed in memory: rewrite its
 * envelope at the next smtpgw_spool_sync (skipped if it is removed first).
 * For changes whose loss in a crash only repeats work (an ack recorded:
 * at worst the message is sent again and the receiver drops the duplicate) */
void smtpgw_spool_update_later(struct smtpgw_spool *sp, struct smtpgw_envelope *msg);

/* smtpgw_spool_assign_ids - give n destinations of a new envelope their
 * P_MUL Message_ID (one shared, or one each with split) and their next
 * Message_Sequence_Number, in memory; DIR/state is rewritten by the next
 * smtpgw_spool_sync before any envelope carrying them is committed */
int smtpgw_spool_assign_ids(struct smtpgw_spool *sp, struct smtpgw_spool_dest *dests, size_t n,
                            bool split);

/* smtpgw_spool_writer_abort - drop the content and free the writer */
void smtpgw_spool_writer_abort(struct smtpgw_spool_writer *w);

/* smtpgw_spool_add_outgoing - spool a message to send over HF: content and
 * envelope fsync'd and renamed before it returns 0 (then answer 250) */
int smtpgw_spool_add_outgoing(struct smtpgw_spool *sp, const struct smtpgw_envelope *env,
                              const uint8_t *content, size_t len, struct smtpgw_envelope **out);

/* smtpgw_spool_add_incoming - spool a message received over HF (or a DSN
 * for the LAN, src_node 0) to deliver to the LAN MTA; SMTPGW_ERR_SPOOL_DUPLICATE
 * if (env->src_node, env->src_msgid) is already spooled or was delivered */
int smtpgw_spool_add_incoming(struct smtpgw_spool *sp, const struct smtpgw_envelope *env,
                              const uint8_t *content, size_t len, struct smtpgw_envelope **out);

/* smtpgw_spool_add_copy - spool a new message with env's envelope and the
 * content of an existing message (hard link; e.g. relaying an incoming
 * message on over HF) into queue q */
int smtpgw_spool_add_copy(struct smtpgw_spool *sp, const struct smtpgw_envelope *content_of,
                          const struct smtpgw_envelope *env, enum smtpgw_queue q,
                          struct smtpgw_envelope **out);

/* smtpgw_spool_update - rewrite msg's envelope atomically (tmp, fsync, rename, fsync dir) */
int smtpgw_spool_update(struct smtpgw_spool *sp, struct smtpgw_envelope *msg);

/* smtpgw_spool_move - move msg into queue q (one rename of its envelope) */
int smtpgw_spool_move(struct smtpgw_spool *sp, struct smtpgw_envelope *msg, enum smtpgw_queue q);

/* smtpgw_spool_remove - the message is finished: for an incoming message
 * from a node, record (src_node, src_msgid) as delivered first (until its
 * expiry + 1 day; 7 days without one); then unlink its envelope and
 * content (the directory is fsync'd by the next smtpgw_spool_sync).  0: msg is freed.  An error (SMTPGW_ERR_SPOOL_IO): msg is
 * still spooled and valid; try again later. */
int smtpgw_spool_remove(struct smtpgw_spool *sp, struct smtpgw_envelope *msg);

/* smtpgw_spool_content_fd - open msg's content for reading (the caller
 * closes it); the fd, or SMTPGW_ERR_SPOOL_IO */
int smtpgw_spool_content_fd(struct smtpgw_spool *sp, const struct smtpgw_envelope *msg);

/* smtpgw_spool_read_content - append msg's whole content to out */
int smtpgw_spool_read_content(struct smtpgw_spool *sp, const struct smtpgw_envelope *msg,
                              struct util_buf *out);

/* smtpgw_spool_alloc_message_id - the next P_MUL Message_ID (never 0),
 * persisted before it returns 0 (pmul_callbacks.alloc_message_id) */
int smtpgw_spool_alloc_message_id(struct smtpgw_spool *sp, uint32_t *id);

/* smtpgw_spool_alloc_msn - the next Message_Sequence_Number (from 1, never
 * 0) for destination node dest, persisted (pmul_callbacks.alloc_msn) */
int smtpgw_spool_alloc_msn(struct smtpgw_spool *sp, uint32_t dest, uint32_t *msn);

/* smtpgw_spool_record_delivered - remember (src, msgid) as delivered until
 * expiry (UNIX s), fsync'd before it returns 0 */
int smtpgw_spool_record_delivered(struct smtpgw_spool *sp, uint32_t src, uint32_t msgid,
                                  int64_t expiry);

/* smtpgw_spool_was_delivered - whether (src, msgid) was delivered or is
 * spooled in incoming/ (pmul_callbacks.already_delivered) */
bool smtpgw_spool_was_delivered(struct smtpgw_spool *sp, uint32_t src, uint32_t msgid);

/* smtpgw_envelope_set_rcpt - set recipient i's state, status ("5.1.1" or
 * NULL) and diagnostic (NULL to clear); 0 or UTIL_ERR_NOMEM / _INVAL */
int smtpgw_envelope_set_rcpt(struct smtpgw_envelope *msg, size_t i, enum smtpgw_rcpt_state state,
                             const char *status, const char *diag);

/* smtpgw_envelope_set_dests - replace msg's destinations (copied); 0 or UTIL_ERR_NOMEM */
int smtpgw_envelope_set_dests(struct smtpgw_envelope *msg, const struct smtpgw_spool_dest *dests,
                              size_t n);

/* smtpgw_envelope_set_mail_params - replace the MAIL parameters (e.g. BY
 * rewritten for a relay) and parse them again; 0, UTIL_ERR_NOMEM or _INVAL */
int smtpgw_envelope_set_mail_params(struct smtpgw_envelope *msg, const char *params);

/* smtpgw_envelope_open_rcpts - recipients still SMTPGW_RCPT_OPEN */
size_t smtpgw_envelope_open_rcpts(const struct smtpgw_envelope *msg);

/* smtpgw_envelope_parse - the parser of envelope files (what the spool
 * reads back after a crash) as a pure function: len bytes of a file, whose
 * queue id must be qid (NULL: any), into a new *out freed with
 * smtpgw_envelope_free.  No file, no log, no clock.  0, or
 * SMTPGW_ERR_SPOOL_CORRUPT with the reason in why (may be NULL), or
 * UTIL_ERR_NOMEM */
int smtpgw_envelope_parse(const void *bytes, size_t len, const char *qid,
                          struct smtpgw_envelope **out, char *why, size_t whycap);

/* smtpgw_envelope_free - release an envelope from smtpgw_envelope_parse */
void smtpgw_envelope_free(struct smtpgw_envelope *env);

/* smtpgw_queue_name - "outgoing", "incoming" */
const char *smtpgw_queue_name(int q);

/* smtpgw_rcpt_state_name - "open", "done", "failed", "reported", "skip", "relay" */
const char *smtpgw_rcpt_state_name(int state);

/* smtpgw_dest_state_name - "open", "acked", "failed" */
const char *smtpgw_dest_state_name(int state);

/* ---- SMTP client ---- */

/* The SMTP client that delivers incoming messages and DSNs to the LAN MTA
 * (RFC 5321).  smtp_client.c is the engine: no I/O, no clock; it takes the
 * server's bytes and emits commands through a callback.  One message per
 * session: EHLO (HELO if EHLO is refused), MAIL FROM with the parameters
 * the server advertises (SIZE, BODY=8BITMIME/BINARYMIME (RFC 6152, RFC
 * 3030), ENVID/RET (RFC 3461), MT-PRIORITY (RFC 6710), BY (RFC 2852),
 * SMTPUTF8 (RFC 6531)), RCPT TO with NOTIFY/ORCPT when DSN is offered,
 * then DATA with dot-stuffing and CRLF normalisation, or BDAT chunks
 * (CHUNKING) for BINARYMIME; PIPELINING (RFC 2920) when offered; QUIT.
 * Every recipient gets exactly one result.  smtp_deliver.c is the glue
 * (libev TCP connect with timeout, content from the spool). */

/* SMTP client error codes, in the range the errors section reserves (-440..-459). */
enum smtpgw_client_error {
    SMTPGW_ERR_CLIENT_PROTO = -440,   /* malformed or unexpected server reply */
    SMTPGW_ERR_CLIENT_TIMEOUT = -441, /* the server did not answer in time */
    SMTPGW_ERR_CLIENT_CLOSED = -442,  /* the connection closed before the end */
    SMTPGW_ERR_CLIENT_CONNECT = -443, /* connect failed (glue) */
    SMTPGW_ERR_CLIENT_STATE = -444,   /* call not allowed in this state */
    SMTPGW_ERR_CLIENT_REFUSED = -445, /* the server refused the session (greeting, EHLO/HELO) */
};

/* Extensions the server advertised in its EHLO reply. */
#define SMTPGW_EXT_SIZE        0x0001
#define SMTPGW_EXT_8BITMIME    0x0002
#define SMTPGW_EXT_BINARYMIME  0x0004
#define SMTPGW_EXT_CHUNKING    0x0008
#define SMTPGW_EXT_PIPELINING  0x0010
#define SMTPGW_EXT_DSN         0x0020
#define SMTPGW_EXT_ENHANCED    0x0040 /* ENHANCEDSTATUSCODES */
#define SMTPGW_EXT_MTPRIORITY  0x0080
#define SMTPGW_EXT_DELIVERBY   0x0100
#define SMTPGW_EXT_SMTPUTF8    0x0200

struct smtpgw_client_params {
    const char *helo_name;  /* our name in EHLO/HELO ("localhost") */
    bool use_pipelining;    /* pipeline MAIL/RCPT/DATA when offered (yes) */
    bool use_chunking;      /* BDAT for every message when CHUNKING is offered,
                               not only BINARYMIME (no) */
    util_ms cmd_timeout;    /* greeting, EHLO, MAIL, RCPT, DATA, BDAT, QUIT replies (5 min) */
    util_ms final_timeout;  /* the reply after the final "." or BDAT LAST (10 min) */
};

/* smtpgw_client_params_default - the defaults in brackets above */
void smtpgw_client_params_default(struct smtpgw_client_params *p);

struct smtpgw_client_rcpt {
    const char *addr;   /* forward-path without <> */
    const char *params; /* RCPT parameters verbatim (NOTIFY, ORCPT forwarded under DSN), may be NULL */
};

/* The message to deliver; pointers must stay valid for the session. */
struct smtpgw_client_msg {
    const char *from;        /* reverse-path without <>, "" = null path */
    const char *mail_params; /* MAIL parameters verbatim (BODY, ENVID, RET, MT-PRIORITY, BY, SMTPUTF8), may be NULL */
    const struct smtpgw_client_rcpt *rcpts;
    size_t n_rcpts;
    uint64_t size;   /* content bytes (SIZE=) */
    uint8_t content; /* enum smtpgw_content: what the bytes are */
};

/* Per-recipient outcome: code is the SMTP reply code (2xx delivered, 4xx
 * try again later, 5xx failed for good); status the enhanced status code
 * ("2.0.0", from the reply or derived from the code); reply the server's
 * reply ("550 5.1.1 <x@y>: no such user", lines joined by spaces) or our own
 * text for a failure of ours ("554 5.6.3 ..." conversion, "451 4.4.2 ..."
 * connection lost).  A DSN's Diagnostic-Code is "smtp; " + reply. */
struct smtpgw_client_callbacks {
    /* send: bytes for the server (the glue queues them); 0, or negative to abort */
    int (*send)(void *user, const uint8_t *data, size_t len);
    /* rcpt_result: recipient i's final outcome, exactly once per recipient */
    void (*rcpt_result)(void *user, size_t i, int code, const char *status, const char *reply);
    /* done: the session is over (every recipient has a result); err 0, or
     * why it ended early (the glue closes the connection) */
    void (*done)(void *user, int err);
};

struct smtpgw_client;

/* smtpgw_client_new - a session for msg; it waits for the greeting.
 * NULL on no memory or a message without recipients. */
struct smtpgw_client *smtpgw_client_new(const struct smtpgw_client_params *p,
                                        const struct smtpgw_client_msg *msg,
                                        const struct smtpgw_client_callbacks *cb, void *user,
                                        util_ms now);

/* smtpgw_client_free - release the session (no callbacks) */
void smtpgw_client_free(struct smtpgw_client *c);

/* smtpgw_client_input - bytes from the server; 0 or a negative error (the
 * session is then over: done was called) */
int smtpgw_client_input(struct smtpgw_client *c, util_ms now, const uint8_t *data, size_t len);

/* smtpgw_client_wants_body - whether the engine takes content now
 * (smtpgw_client_body); false while it waits for a reply */
bool smtpgw_client_wants_body(const struct smtpgw_client *c);

/* smtpgw_client_body - the next piece of content, in order, with last set
 * on the final one (len may be 0); the engine dot-stuffs it (DATA) or sends
 * it as one BDAT chunk.  0 or SMTPGW_ERR_CLIENT_STATE */
int smtpgw_client_body(struct smtpgw_client *c, util_ms now, const uint8_t *data, size_t len,
                       bool last);

/* smtpgw_client_closed - the connection is gone (EOF or error): every
 * recipient without a result gets 451 4.4.2, then done */
void smtpgw_client_closed(struct smtpgw_client *c, util_ms now);

/* smtpgw_client_timeout - run what is due (reply timeouts) */
void smtpgw_client_timeout(struct smtpgw_client *c, util_ms now);

/* smtpgw_client_next_expiry - when smtpgw_client_timeout is next needed */
util_ms smtpgw_client_next_expiry(const struct smtpgw_client *c);

/* smtpgw_client_finished - whether done was called */
bool smtpgw_client_finished(const struct smtpgw_client *c);

/* smtpgw_client_extensions - SMTPGW_EXT_* the server advertised */
unsigned smtpgw_client_extensions(const struct smtpgw_client *c);

/* Retry schedule for delivery to the LAN MTA: the daemon's policy, this
 * module's helper.  Delay after attempt n (1-based) = first * 2^(n-1),
 * capped at max; give up (bounce) once now - arrival >= max_age. */
struct smtpgw_retry {
    int64_t first_s;   /* 60 */
    int64_t max_s;     /* 3600 */
    int64_t max_age_s; /* 5 days */
};

/* smtpgw_retry_default - the defaults above */
void smtpgw_retry_default(struct smtpgw_retry *r);

/* smtpgw_retry_next - UNIX s of the next attempt after `attempts` failed
 * attempts at now, or -1 when the message should be bounced instead */
int64_t smtpgw_retry_next(const struct smtpgw_retry *r, uint32_t attempts, int64_t arrival,
                          int64_t now);

/* Delivery of one spooled message to the LAN MTA (glue, smtp_deliver.c). */
struct smtpgw_deliver;

struct smtpgw_deliver_params {
    const char *host;           /* the LAN MTA: an address or a name (resolved, blocking) */
    uint16_t port;              /* 25 */
    util_ms connect_timeout;    /* 30 s */
    struct smtpgw_client_params client;
};

/* smtpgw_deliver_params_default - port 25, 30 s, client defaults; host NULL */
void smtpgw_deliver_params_default(struct smtpgw_deliver_params *p);

/* Outcome callbacks: i indexes msg->rcpts (only SMTPGW_RCPT_OPEN recipients
 * are delivered; the others get no result).  done comes last, once, after
 * every attempted recipient has a result; the daemon then updates the
 * envelope and frees the delivery. */
struct smtpgw_deliver_callbacks {
    void (*rcpt_result)(void *user, struct smtpgw_envelope *msg, size_t i, int code,
                        const char *status, const char *reply);
    void (*done)(void *user, struct smtpgw_envelope *msg, int err);
};

/* smtpgw_deliver_start - connect and deliver msg's open recipients from the
 * spool (msg must stay in the spool until done or smtpgw_deliver_free).
 * NULL with *err (no open recipient: SMTPGW_ERR_SPOOL_INVAL; content
 * unreadable: SMTPGW_ERR_SPOOL_IO; bad host: SMTPGW_ERR_CLIENT_CONNECT). */
struct smtpgw_deliver *smtpgw_deliver_start(struct ev_loop *loop,
                                            const struct smtpgw_deliver_params *p,
                                            struct smtpgw_spool *sp, struct smtpgw_envelope *msg,
                                            const struct smtpgw_deliver_callbacks *cb, void *user,
                                            int *err);

/* smtpgw_deliver_dsn_passed - whether the LAN MTA advertised DSN (RFC 3461),
 * so NOTIFY/ORCPT/ENVID/RET went on and the DSN chain goes on there (valid
 * from the first rcpt_result) */
bool smtpgw_deliver_dsn_passed(const struct smtpgw_deliver *d);

/* smtpgw_deliver_free - stop (if running, no more callbacks) and release */
void smtpgw_deliver_free(struct smtpgw_deliver *d);

/* ---- end of spool and SMTP client ---- */

/* ---- control channel (control.c) ---- */

/* The operator's control channel: mulectl talks to mulegw over a UNIX
 * stream socket (protocol in control.c's header comment).  In short: the
 * client connects and sends ONE request line `VERB [ARG...]\n` (at most
 * SMTPGW_CTL_MAX_LINE bytes with the newline, words separated by single
 * spaces, printable ASCII); the server writes the whole reply and closes.
 * The reply's first line is `ok` or `error <text>`; an `ok` is followed by
 * the body: text lines, or one JSON document when the request carried the
 * word `--json` anywhere after the verb.
 *
 * Verbs: status, queue, retry ID|all, drop ID, hold ID|all, release
 * ID|all, emcon [NODE] on|off, log-level [LEVEL [MODULES]], help.
 *
 * The engine (smtpgw_ctl_handle) parses a request, calls the daemon
 * through struct smtpgw_ctl_ops and renders the reply: no I/O, no clock
 * (wall-clock times come from the ops).  The glue (smtpgw_ctl_listen)
 * runs the socket on libev. */

enum smtpgw_ctl_error {
    SMTPGW_ERR_CTL_NOTFOUND = -480,    /* no such message */
    SMTPGW_ERR_CTL_NODE = -481,        /* no such node */
    SMTPGW_ERR_CTL_USAGE = -482,       /* bad request: unknown verb, arguments, characters */
    SMTPGW_ERR_CTL_UNSUPPORTED = -483, /* the gateway does not offer this command */
    SMTPGW_ERR_CTL_STATE = -484,       /* not possible in the message's state (release: not held) */
    SMTPGW_ERR_CTL_TOO_BIG = -485,     /* the reply exceeds its buffer's limit */
    SMTPGW_ERR_CTL_SOCKET = -486,      /* the control socket cannot be created, bound or listened on */
    SMTPGW_ERR_CTL_IN_USE = -487,      /* a process is listening on the control socket path */
    SMTPGW_ERR_CTL_PATH = -488,        /* socket path too long, or a file that is not a socket */
    SMTPGW_ERR_CTL_PERM = -489,        /* chmod/chown of the socket failed */
    SMTPGW_ERR_CTL_BUSY = -490,        /* too many control connections */
};

#define SMTPGW_CTL_MAX_LINE     1024            /* request bytes, newline included */
#define SMTPGW_CTL_MAX_CONNS    16              /* concurrent connections; more: `error busy` */
#define SMTPGW_CTL_TIMEOUT_MS   10000           /* request must arrive (and reply drain) within */
#define SMTPGW_CTL_MAX_REPLY    (64u << 20)     /* the glue's reply buffer limit */
#define SMTPGW_CTL_DEFAULT_MODE 0660            /* [control] mode */
#define SMTPGW_CTL_LEVEL_LEN    128             /* cap of log_level's out */

/* One P_MUL node of the routing tables, for status. */
struct smtpgw_ctl_node {
    uint32_t node;    /* P_MUL node id / 5066 address */
    const char *name; /* the [node NAME] section, "" if none */
    size_t pending;   /* outgoing messages not yet acknowledged by it */
    int64_t last_ack; /* UNIX s of its last Ack_PDU, 0 never */
    bool emcon;       /* held in EMCON (we send it nothing) */
};

/* The gateway's state, filled by ops->status.  Strings may be NULL (shown
 * as ""); everything must stay valid until ops->status_done (or, without
 * it, until smtpgw_ctl_handle returns). */
struct smtpgw_ctl_status {
    const char *version;      /* "0.1.0" */
    const char *node;         /* our node, dotted quad */
    int64_t now, started;     /* UNIX s; ages are computed from now */
    const char *bearer;       /* "sis" or "udp" */
    const char *server;       /* 5066 server "host:port" or serial device, or UDP group */
    const char *link;         /* "bound", "connecting", "down" ... */
    unsigned sap;             /* SAP bound */
    size_t mtu;               /* largest U_PDU (BIND_ACCEPTED) */
    bool flow_on;             /* DATAFLOW_ON */
    const char *availability; /* "available", "emcon", "unavailable" ... */
    bool emcon;               /* local node in EMCON (radio silence) */
    const char *last_error;   /* "" if none */
    size_t outgoing, incoming, held, deliveries; /* queue counts; deliveries to the LAN MTA running */
    const char *log_level;    /* "info" */
    struct smtpgw_ctl_node *nodes;
    size_t n_nodes;
};

/* One P_MUL destination of an outgoing message. */
struct smtpgw_ctl_dest {
    uint32_t node;
    const char *name;  /* node name, "" or NULL if none */
    const char *state; /* "open", "acked", "failed" */
    uint32_t msgid;    /* P_MUL Message_ID, 0 = not sent yet */
};

/* One spooled message, for queue; valid during the each() call only. */
struct smtpgw_ctl_msg {
    const char *qid;
    const char *queue; /* "outgoing" / "incoming" */
    int64_t arrival;   /* UNIX s */
    uint64_t size;     /* content bytes */
    unsigned priority; /* P_MUL priority 0..15, 0 most urgent */
    const char *from;  /* reverse-path without <>, "" = null path */
    bool held;         /* held by the operator */
    unsigned attempts; /* incoming: delivery attempts so far */
    int64_t next_attempt; /* incoming: UNIX s of the next one, 0 = now */
    size_t n_rcpts;
    const char *const *rcpts; /* forward-paths without <> */
    const struct smtpgw_ctl_dest *dests;
    size_t n_dests;
};

/* smtpgw_ctl_msg_fn - ops->queue calls it once per message */
typedef void (*smtpgw_ctl_msg_fn)(void *ctx, const struct smtpgw_ctl_msg *m);

/* What the engine calls, with `user`.  A NULL entry makes its command
 * answer `error ...: not supported`.  Every int result is >= 0 on success
 * (for retry/drop/hold/release: the number of messages affected) or a
 * negative error code whose smtpgw_strerror() text is the error reply
 * (SMTPGW_ERR_CTL_NOTFOUND: no such message). */
struct smtpgw_ctl_ops {
    /* status - fill *st (zeroed by the engine) */
    int (*status)(void *user, struct smtpgw_ctl_status *st);
    /* status_done - optional: release what status allocated, after rendering */
    void (*status_done)(void *user, struct smtpgw_ctl_status *st);
    /* queue - call each(ctx, m) for every spooled message, in queue order */
    int (*queue)(void *user, smtpgw_ctl_msg_fn each, void *ctx);
    /* now - optional: wall-clock UNIX s, for the ages in the text queue ("-" without it) */
    int64_t (*now)(void *user);
    /* retry - id is a queue id or "all": attempt now (send again / deliver again) */
    int (*retry)(void *user, const char *id);
    /* drop - id is a queue id: remove the message from the spool */
    int (*drop)(void *user, const char *id);
    /* hold - id is a queue id or "all": neither send nor deliver until released */
    int (*hold)(void *user, const char *id);
    /* release - id is a queue id or "all": undo hold */
    int (*release)(void *user, const char *id);
    /* emcon - node 0: the local node (radio silence on/off); else mark that node */
    int (*emcon)(void *user, uint32_t node, bool on);
    /* node_lookup - a node name -> its id (dotted quads are parsed by the engine) */
    int (*node_lookup)(void *user, const char *name, uint32_t *id);
    /* log_level - level NULL: only show.  Else level is util's spelling
     * ("err", "warn", "notice", "info", "debug"), or "trace" with trace
     * the modules to trace (util_log_set_trace syntax; "" none).  Always
     * write the current state to out as "LEVEL" or "LEVEL MODULE,MODULE"
     * (smtpgw_ctl_log_level_apply does all this with util's logger) */
    int (*log_level)(void *user, const char *level, const char *trace, char *out, size_t cap);
};

/* smtpgw_ctl_handle - answer one request line (without its newline; a
 * trailing "\n" or "\r\n" is ignored): parse, call ops, append the whole
 * reply (first line, body) to reply.  Returns >= 0 for an `ok` reply (the
 * count for retry/drop/hold/release, else 0), or the negative code of the
 * `error` reply written: SMTPGW_ERR_CTL_USAGE for a malformed request */
int smtpgw_ctl_handle(const struct smtpgw_ctl_ops *ops, void *user, const char *line,
                      struct util_buf *reply);

/* smtpgw_ctl_json_string - append s as a JSON string literal: quotes,
 * backslashes and control characters escaped, invalid UTF-8 as U+FFFD.
 * 0 or UTIL_ERR_NOMEM */
int smtpgw_ctl_json_string(struct util_buf *out, const char *s);

/* smtpgw_ctl_log_level_apply - a ready ops->log_level on util's logger
 * (util_log_set_level, util_log_set_trace); user is ignored */
int smtpgw_ctl_log_level_apply(void *user, const char *level, const char *trace, char *out,
                               size_t cap);

/* The [control] section of mulegw.conf, read by mulegw and mulectl:
 *     [control]
 *     socket = /run/mulegw/mulegw.sock   # default: smtpgw_ctl_default_socket()
 *     mode = 0660                        # octal permissions of the socket
 *     group = mail                       # optional: the socket's group */
struct smtpgw_ctl_conf {
    const char *socket; /* valid while the conf (or the default) is */
    unsigned mode;
    const char *group;  /* NULL if not set */
    int gid;            /* group's id, -1 if not set */
};

/* smtpgw_ctl_default_socket - the compiled-in socket path
 * (MULEGW_DEFAULT_SOCKET: $(localstatedir)/run/mulegw/mulegw.sock) */
const char *smtpgw_ctl_default_socket(void);

/* smtpgw_ctl_conf_read - [control] socket, mode, group of conf (conf may
 * be NULL: the defaults); an error is recorded in conf (util_conf_fail) and
 * returned.  A group name is resolved with getgrnam */
int smtpgw_ctl_conf_read(struct util_conf *conf, struct smtpgw_ctl_conf *out);

struct smtpgw_ctl_server;

/* smtpgw_ctl_listen - create the control socket at path and serve requests
 * with ops/user on loop.  A socket file already there is removed only if
 * nothing answers on it (stale); if something does: SMTPGW_ERR_CTL_IN_USE.
 * The socket is created mode 0600 (umask), then given gid (-1: unchanged)
 * and mode.  A missing last directory of path is created (0755).  NULL on
 * failure with *err (may be NULL) set; the reason is logged */
struct smtpgw_ctl_server *smtpgw_ctl_listen(struct ev_loop *loop, const char *path, unsigned mode,
                                            int gid, const struct smtpgw_ctl_ops *ops, void *user,
                                            int *err);

/* smtpgw_ctl_connections - control connections open now */
size_t smtpgw_ctl_connections(const struct smtpgw_ctl_server *srv);

/* smtpgw_ctl_set_timeout - the time a client has to send its request
 * line, and to read the reply (default SMTPGW_CTL_TIMEOUT_MS; tests) */
void smtpgw_ctl_set_timeout(struct smtpgw_ctl_server *srv, util_ms ms);

/* smtpgw_ctl_close - stop listening, drop open connections, unlink the
 * socket (if it is still ours) and free srv (NULL: nothing) */
void smtpgw_ctl_close(struct smtpgw_ctl_server *srv);

/* ---- end of control channel ---- */

#endif /* MULE5066_SMTPGW_H */
