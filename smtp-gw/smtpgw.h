/* smtpgw.h - the mail gateway mulegw: the smtp-gw module's one public
 * header.  SMTP server (RFC 5321 and its service extensions), SMTP client,
 * the durable spool, and what the daemon wires between them.
 *
 * Sections (each part adds its own; keep edits small, never rewrite):
 *   errors        - SMTPGW_ERR_* and smtpgw_strerror() (error.c)
 *   SMTP server   - engine (smtp_server.c) and libev glue (smtp_listen.c)
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
 * -400..-419, spool -420..-439, SMTP client -440..-459, daemon -460..-479.
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
#define SMTPGW_DEFAULT_MAX_BAD       20
#define SMTPGW_DEFAULT_MAX_SESSIONS  100
#define SMTPGW_DEFAULT_MAX_OUTPUT    (64u * 1024)

/* Per-session limits. */
struct smtpgw_limits {
    size_t max_cmd_line;       /* a command line, CRLF included: longer -> 500 5.5.2 */
    size_t max_text_line;      /* a DATA line, CRLF included: longer -> message refused */
    size_t max_rcpts;          /* recipients per transaction: beyond -> 452 4.5.3 */
    size_t max_message;        /* message bytes (SIZE advertised): beyond -> 552 5.3.4 */
    util_ms idle_timeout;      /* no input for this long -> 421 4.4.2 and close */
    unsigned max_bad_commands; /* bad commands before 421 4.7.0 and close */
    bool smtputf8;             /* advertise and accept SMTPUTF8 (RFC 6531) */
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
 * 4.3.0). */
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
    SMTPGW_ST_REFUSED,  /* greeted with 554: only QUIT (RFC 5321 3.1) */
    SMTPGW_ST_CLOSED
};

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
/* smtpgw_session_start - greet: 220 (refuse false) or 554 5.7.1 (refuse
 * true: the client may only QUIT, RFC 5321 3.1) */
void smtpgw_session_start(struct smtpgw_session *s, util_ms now, bool refuse);
/* smtpgw_session_input - consume bytes from the client (any split);
 * 0, or SMTPGW_ERR_CLOSED once the session has closed */
int smtpgw_session_input(struct smtpgw_session *s, util_ms now, const void *bytes, size_t len);
/* smtpgw_session_next_expiry - when smtpgw_session_expire must run (idle timeout) */
util_ms smtpgw_session_next_expiry(const struct smtpgw_session *s);
/* smtpgw_session_expire - at or after the expiry: 421 4.4.2 and close */
void smtpgw_session_expire(struct smtpgw_session *s, util_ms now);
/* smtpgw_session_shutdown - 421 4.3.2 (the service is stopping) and close */
void smtpgw_session_shutdown(struct smtpgw_session *s, util_ms now);
/* smtpgw_session_eof - the client went away (logged; an open transaction is dropped) */
void smtpgw_session_eof(struct smtpgw_session *s, util_ms now);
/* smtpgw_session_state - the current state */
enum smtpgw_state smtpgw_session_state(const struct smtpgw_session *s);
/* smtpgw_session_state_name - "init", "helo", "mail", "rcpt", "data", "bdat", "refused", "closed" */
const char *smtpgw_session_state_name(enum smtpgw_state st);
/* smtpgw_session_memory - bytes the session holds (tests bound it) */
size_t smtpgw_session_memory(const struct smtpgw_session *s);

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
    const char *const *listen;   /* "127.0.0.1:25", "[::1]:2525", "*:25"; port 0: any */
    size_t n_listen;
    const char *const *networks; /* client networks "10.0.0.0/8", "::1/128", "192.0.2.7";
                                  * none: loopback only.  Others get 554 5.7.1 */
    size_t n_networks;
    const char *hostname;        /* greeting and EHLO name */
    unsigned max_sessions;       /* beyond: 421 4.7.0 and close (0: default) */
    size_t max_output;           /* per session: stop reading while more is unsent (0: default) */
    struct smtpgw_limits limits;
};

/* smtpgw_server_config_default - defaults: no listener, loopback clients,
 * hostname "localhost", default limits */
void smtpgw_server_config_default(struct smtpgw_server_config *cfg);

struct smtpgw_server_stats {
    uint64_t sessions_open;
    uint64_t sessions_total;
    uint64_t sessions_refused; /* not in the networks, or too many */
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
/* smtpgw_server_shutdown - stop listening and end every session with 421 4.3.2 */
void smtpgw_server_shutdown(struct smtpgw_server *srv);
/* smtpgw_server_free - close everything and release the server */
void smtpgw_server_free(struct smtpgw_server *srv);

/* ---- end of SMTP server ---- */

#endif /* MULE5066_SMTPGW_H */
