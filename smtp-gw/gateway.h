/* gateway.h - the gateway engine: what mulegw does with each message.
 *
 * The policy between the SMTP side, the spool and P_MUL: route and size
 * checks for SMTP recipients, the envelope of an accepted message, sending
 * it over P_MUL (grouped, or split per destination), RFC 8494 section 3
 * receive rules for a message from HF, relaying, delivery to the LAN MTA
 * and its retries, DSNs (RFC 3461/3464: failed, delayed, relayed),
 * expiry, and the operator's retry/drop/hold/release.
 *
 * An engine as DESIGN.md describes: every entry point takes `now` (UNIX
 * seconds in the P_MUL engine's time, scaled in simulator tests); every
 * effect goes through callbacks (the spool through spool ops, P_MUL
 * submission and cancel, starting a LAN delivery, a log callback); it
 * reads no clock and does no I/O of its own.  mulegw.c wires it to the
 * spool, the bearer, the SMTP server and client, and the control channel.
 *
 * The rules it keeps (DESIGN.md "Reliability rules"):
 *  - a P_MUL message is acknowledged (deliver returns 0) only when it is
 *    spooled, or when a failed DSN for it is spooled; what cannot be
 *    read at all (not MULE, malformed) is not acknowledged, so the sender
 *    retries and finally bounces it: nothing is acked and dropped;
 *  - a receiver takes the recipients its routes give it, never from how
 *    many destinations an Address_PDU lists;
 *  - a DSN bound for HF is submitted the moment it is spooled; "relayed"
 *    is sent only where the DSN chain ends (the LAN MTA does not offer
 *    DSN); "delayed" at most once per message;
 *  - the LAN MTA's 250 for a recipient is written to disk before anything
 *    else happens (the remaining duplicate window is that one fsync).
 */
#ifndef SMTPGW_GATEWAY_H
#define SMTPGW_GATEWAY_H

#include "mule/mule.h"
#include "pmul/pmul.h"
#include "smtp-gw/smtpgw.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The spool as the engine uses it (smtpgw_gateway_spool_real wraps a
 * struct smtpgw_spool; a test may wrap it to fail any operation). */
struct smtpgw_gateway_spool_ops {
    struct smtpgw_envelope *(*first)(void *sp, enum smtpgw_queue q);
    struct smtpgw_envelope *(*next)(void *sp, struct smtpgw_envelope *env);
    struct smtpgw_envelope *(*find)(void *sp, const char *qid);
    /* update: rewrite durably now; update_later: at the next group commit */
    int (*update)(void *sp, struct smtpgw_envelope *env);
    void (*update_later)(void *sp, struct smtpgw_envelope *env);
    /* add: a new message with this content into queue q (durable on 0);
     * incoming with a src_node: SMTPGW_ERR_SPOOL_DUPLICATE if known */
    int (*add)(void *sp, enum smtpgw_queue q, const struct smtpgw_envelope *env, const uint8_t *content,
               size_t len, struct smtpgw_envelope **out);
    /* add_copy: a new message with env and the content of content_of */
    int (*add_copy)(void *sp, const struct smtpgw_envelope *content_of, const struct smtpgw_envelope *env,
                    enum smtpgw_queue q, struct smtpgw_envelope **out);
    int (*remove)(void *sp, struct smtpgw_envelope *env);
    int (*read_content)(void *sp, const struct smtpgw_envelope *env, struct util_buf *out);
    bool (*was_delivered)(void *sp, uint32_t src, uint32_t msgid);
    int (*record_delivered)(void *sp, uint32_t src, uint32_t msgid, int64_t expiry);
};

/* The operations over a struct smtpgw_spool (pass the spool as spool_handle). */
extern const struct smtpgw_gateway_spool_ops smtpgw_gateway_spool_real;

struct smtpgw_gateway_callbacks {
    /* log: one event line "key=value ..." (NULL: no logging) */
    void (*log)(void *user, enum util_log_level level, const char *event, const char *text);
    /* bearer_ready: whether P_MUL can take a message now */
    bool (*bearer_ready)(void *user);
    /* submit: hand a P_MUL message to the engine (its Message_ID and MSNs
     * are filled in); 0 with *handle, or negative */
    int (*submit)(void *user, struct pmul_message *pm, uint64_t *handle);
    /* cancel: the operator dropped a message P_MUL is sending */
    void (*cancel)(void *user, uint64_t handle);
    /* deliver: start delivering env's open recipients to the LAN MTA; 0
     * (results come back through smtpgw_gateway_on_rcpt_result and
     * smtpgw_gateway_on_delivery_done) or negative */
    int (*deliver)(void *user, struct smtpgw_envelope *env);
    /* mail_date: the real time for Date: and Received: in generated mail
     * (the engine's `now` may be scaled in tests); NULL: now */
    int64_t (*mail_date)(void *user);
    /* hold (optional): the operator held (hold true) or released a message
     * P_MUL is sending: none of its PDUs may go to the bearer meanwhile */
    void (*hold)(void *user, uint64_t handle, bool hold);
};

/* One node's largest message (the far gateway's [mule] max_message_size). */
struct smtpgw_gateway_node_limit {
    uint32_t node;
    uint64_t max_message_size;
};

#define SMTPGW_GATEWAY_DELAY_WARNING_DEFAULT (4 * 3600) /* seconds, as Postfix's delay_warning_time */

struct smtpgw_gateway_config {
    uint32_t self;                    /* this node's P_MUL id */
    const char *hostname;             /* in Received: and DSNs */
    const char *lan_relay;            /* the LAN MTA "host:port" (logs) */
    const struct mule_config *mule;   /* routes, split, limits, compression */
    const struct mule_prio *prio;     /* lifetimes per priority */
    struct smtpgw_retry retry;        /* LAN delivery retries */
    unsigned max_deliveries;          /* LAN deliveries at once */
    int64_t delay_warning;            /* seconds before a "delayed" DSN; 0 = never */
    const struct smtpgw_gateway_node_limit *limits; /* per node, else mule->max_message_size */
    size_t n_limits;
};

struct smtpgw_gateway;

/* smtpgw_gateway_new - an engine over a spool (ops + handle); NULL on no memory */
struct smtpgw_gateway *smtpgw_gateway_new(const struct smtpgw_gateway_config *cfg,
                                          const struct smtpgw_gateway_spool_ops *ops, void *spool_handle,
                                          const struct smtpgw_gateway_callbacks *cb, void *user);

/* smtpgw_gateway_free - release (the spool stays as it is) */
void smtpgw_gateway_free(struct smtpgw_gateway *gw);

/* ---- the SMTP side ---- */

/* smtpgw_gateway_rcpt_check - relay control and the destination node's size
 * limit for one RCPT (MAIL SIZE= against it); 0, or an SMTP code with the
 * text (enhanced code first) in text */
int smtpgw_gateway_rcpt_check(struct smtpgw_gateway *gw, const struct smtpgw_txn *txn, const char *addr,
                              char *text, size_t cap);

/* An accepted message's envelope, planned (the arrays belong to it). */
struct smtpgw_gateway_intake {
    struct smtpgw_envelope env;
    struct smtpgw_spool_rcpt *rcpts;
    struct smtpgw_spool_dest dests[SMTPGW_MAX_DESTS];
};

/* smtpgw_gateway_plan - the envelope of a complete SMTP message: routes,
 * destinations, priority (MT-PRIORITY), expiry (DELIVERBY or the
 * lifetime); 0, or an SMTP code with text (552 5.3.4 when the message is
 * bigger than a destination node takes, 451 on no memory).  Free with
 * smtpgw_gateway_intake_free. */
int smtpgw_gateway_plan(struct smtpgw_gateway *gw, int64_t now, const struct smtpgw_txn *txn, uint64_t size,
                        struct smtpgw_gateway_intake *in, char *text, size_t cap);

/* smtpgw_gateway_intake_free - release a plan */
void smtpgw_gateway_intake_free(struct smtpgw_gateway_intake *in);

/* smtpgw_gateway_on_accepted - an SMTP message is durable (its 250 is going
 * out): DSNs for what failed already, then send it */
void smtpgw_gateway_on_accepted(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env);

/* ---- the P_MUL side ---- */

/* smtpgw_gateway_on_pmul_message - a complete P_MUL message arrived; 0 to
 * acknowledge it (spooled, a DSN spooled, a duplicate, or not ours), or
 * negative: not acknowledged (the sender retransmits) */
int smtpgw_gateway_on_pmul_message(struct smtpgw_gateway *gw, int64_t now, const struct pmul_rx_message *m);

/* smtpgw_gateway_on_dest_done - one destination of a message we sent finished */
void smtpgw_gateway_on_dest_done(struct smtpgw_gateway *gw, int64_t now, uint64_t handle, uint32_t msgid,
                                 uint32_t dest, int result);

/* smtpgw_gateway_on_message_done - every destination of a message we sent finished */
void smtpgw_gateway_on_message_done(struct smtpgw_gateway *gw, int64_t now, uint64_t handle, uint32_t msgid,
                                    size_t acked, size_t failed);

/* smtpgw_gateway_on_bearer - the bearer came up (send what waits) or went down */
void smtpgw_gateway_on_bearer(struct smtpgw_gateway *gw, int64_t now, bool ready);

/* ---- the LAN side ---- */

/* smtpgw_gateway_on_rcpt_result - the LAN MTA's answer for recipient i;
 * dsn_passed: it offered DSN, so NOTIFY/ORCPT went on with the message */
void smtpgw_gateway_on_rcpt_result(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env, size_t i,
                                   int code, const char *status, const char *reply, bool dsn_passed);

/* smtpgw_gateway_on_delivery_done - a LAN delivery session ended (err: why
 * it ended early, 0 if it did not) */
void smtpgw_gateway_on_delivery_done(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env, int err);

/* smtpgw_gateway_delivering - whether a LAN delivery of qid is running */
bool smtpgw_gateway_delivering(const struct smtpgw_gateway *gw, const char *qid);

/* smtpgw_gateway_deliveries - LAN deliveries running */
unsigned smtpgw_gateway_deliveries(const struct smtpgw_gateway *gw);

/* ---- time ---- */

/* smtpgw_gateway_tick - do what is due: send what waits for HF, relay
 * copies not yet spooled, delay DSNs, expiry, LAN deliveries */
void smtpgw_gateway_tick(struct smtpgw_gateway *gw, int64_t now);

/* smtpgw_gateway_tick_wanted - whether an event made work due at once (a
 * DSN or a message for the LAN spooled, a delivery finished): the glue
 * ticks at the end of its loop pass (cheap; cleared by the tick) */
bool smtpgw_gateway_tick_wanted(const struct smtpgw_gateway *gw);

/* smtpgw_gateway_next_expiry - the earliest `now` at which tick has
 * something to do (INT64_MAX: nothing; <= now: at once) */
int64_t smtpgw_gateway_next_expiry(struct smtpgw_gateway *gw, int64_t now);

/* ---- the operator ---- */

/* smtpgw_gateway_retry / _drop / _hold / _release - on one queue id, or
 * "all" (drop refuses "all"); the number of messages affected,
 * SMTPGW_ERR_CTL_NOTFOUND, or SMTPGW_ERR_CTL_STATE (a drop of a message
 * being delivered; hold of a held one; release of one not held) */
int smtpgw_gateway_retry(struct smtpgw_gateway *gw, int64_t now, const char *id);
int smtpgw_gateway_drop(struct smtpgw_gateway *gw, int64_t now, const char *id);
int smtpgw_gateway_hold(struct smtpgw_gateway *gw, int64_t now, const char *id);
int smtpgw_gateway_release(struct smtpgw_gateway *gw, int64_t now, const char *id);

/* smtpgw_gateway_set_emcon - a destination node's EMCON (served by repeats) */
int smtpgw_gateway_set_emcon(struct smtpgw_gateway *gw, uint32_t node, bool on);

/* smtpgw_gateway_is_emcon - whether node is known to be in EMCON */
bool smtpgw_gateway_is_emcon(const struct smtpgw_gateway *gw, uint32_t node);

/* smtpgw_gateway_last_ack - when node last acknowledged a message of ours (0: never) */
int64_t smtpgw_gateway_last_ack(const struct smtpgw_gateway *gw, uint32_t node);

/* smtpgw_gateway_node_limit - the largest message node takes */
uint64_t smtpgw_gateway_node_limit(const struct smtpgw_gateway *gw, uint32_t node);

#endif
