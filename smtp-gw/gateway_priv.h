/* gateway_priv.h - the gateway engine's state, shared by its files:
 * gateway.c (SMTP intake, sending over P_MUL, LAN delivery, time, the
 * operator), gateway_dsn.c (RFC 3464 DSNs: failed, delayed, relayed) and
 * gateway_rx.c (a message from HF: RFC 8494 section 3, relaying). */
#ifndef SMTPGW_GATEWAY_PRIV_H
#define SMTPGW_GATEWAY_PRIV_H

#include "smtp-gw/gateway.h"

#define GWE_MAX_ACKS  256 /* nodes whose last ack time is remembered */
#define GWE_MAX_EMCON 64
#define GWE_RX_LOG_BURST 5 /* per kind and minute (engine time) */

/* One P_MUL message in flight: a group of an outgoing envelope's destinations. */
struct gwe_flight {
    struct gwe_flight *next;
    uint64_t handle;
    char qid[SMTPGW_QID_LEN];
    uint32_t msgid;
};

/* One LAN delivery running. */
struct gwe_delivery {
    struct gwe_delivery *next;
    char qid[SMTPGW_QID_LEN];
};

struct smtpgw_gateway {
    struct smtpgw_gateway_config cfg;
    const struct smtpgw_gateway_spool_ops *sp;
    void *sph;
    struct smtpgw_gateway_callbacks cb;
    void *user;
    struct gwe_flight *flights;
    struct gwe_delivery *deliveries;
    unsigned n_deliveries;
    struct {
        uint32_t node;
        int64_t when;
    } acks[GWE_MAX_ACKS];
    size_t n_acks;
    uint32_t emcon[GWE_MAX_EMCON];
    size_t n_emcon;
    bool tick_wanted; /* something became due now (smtpgw_gateway_tick_wanted) */
    int64_t relay_fail_logged; /* when relay-spool-failed was last logged */
    /* lines a peer causes with what it sends (rx-refused, rx-too-big,
     * misrouted): GWE_RX_LOG_BURST per minute each, suppressed=N after */
    struct util_ratelimit rl_rx[3];
};

/* gwe_log - format one event line and pass it to the log callback */
void gwe_log(struct smtpgw_gateway *gw, enum util_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* gwe_mail_date - the real time for dates in generated mail */
int64_t gwe_mail_date(struct smtpgw_gateway *gw, int64_t now);

/* gwe_lifetime - the lifetime of a P_MUL priority (any 0..255) */
int64_t gwe_lifetime(const struct smtpgw_gateway *gw, unsigned priority);

/* gwe_submit - send an outgoing envelope's open destinations over P_MUL */
int gwe_submit(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env);

/* gwe_start_deliveries - start the LAN deliveries that are due */
void gwe_start_deliveries(struct smtpgw_gateway *gw, int64_t now);

/* gwe_maybe_remove - an envelope with nothing left to do leaves the spool */
void gwe_maybe_remove(struct smtpgw_gateway *gw, struct smtpgw_envelope *env);

/* gwe_finish_failed - DSNs for env's FAILED recipients, then REPORTED */
void gwe_finish_failed(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env, const char *status,
                       const char *diag);

/* gwe_dsn - spool a DSN of `action` for env's recipients idx[0..n) towards
 * the return path (over HF: submitted at once; to the LAN: delivered at
 * once); 0 (also when nobody asked for one), or negative */
int gwe_dsn(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env, const size_t *idx, size_t n,
            enum mule_dsn_action action, const char *status, const char *diag);

/* gwe_delay_check - a "delayed" DSN for env if it is due (once) */
void gwe_delay_check(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *env);

/* gwe_delay_due - when env's delayed DSN is due (INT64_MAX: never) */
int64_t gwe_delay_due(const struct smtpgw_gateway *gw, const struct smtpgw_envelope *env);

/* gwe_relay_pending - make the outgoing copy of an incoming message's
 * RELAY recipients; 0 or negative (they stay RELAY: tried again) */
int gwe_relay_pending(struct smtpgw_gateway *gw, int64_t now, struct smtpgw_envelope *in);

/* gwe_count_state - env's recipients in state */
size_t gwe_count_state(const struct smtpgw_envelope *env, enum smtpgw_rcpt_state state);

#endif
