/* mulegw.h - the daemon mulegw's own state, shared by its files: mulegw.c
 * (main, wiring, signals, privileges), mulegw_conf.c (mulegw.conf(5)) and
 * mulegw_ctl.c (the operator's control channel).  The policy is the
 * gateway engine's (gateway.h); these files are glue. */
#ifndef SMTPGW_MULEGW_H
#define SMTPGW_MULEGW_H

#include "mule/mule.h"
#include "pmul/pmul.h"
#include "s5066/s5066.h"
#include "smtp-gw/gateway.h"
#include "smtp-gw/smtpgw.h"

#include <ev.h>
#include <sys/types.h>

#define GW_MAX_LISTEN 8
#define GW_MAX_NETS 32
#define GW_MAX_DELIVERIES_DEFAULT 4
#define GW_MAX_EMCON 64
#define GW_MAX_LIMITS 64 /* [node] sections with their own max_message_size */

/* A message from an SMTP session, staged in the spool: its 250 goes out
 * after the next group commit (gw_sync). */
struct gw_staged {
    uint64_t session;
    char peer[64];
    size_t rcpts, dests;
};

/* One delivery to the LAN MTA in progress (the glue's half: the engine
 * knows it by queue id). */
struct gw_delivery {
    struct gw_delivery *next;
    struct smtpgw_deliver *d;
    char qid[SMTPGW_QID_LEN];
    bool finished; /* done was called: freed at the next pass */
    struct gw *gw;
};

struct gw {
    struct ev_loop *loop;
    const char *conf_path;
    struct util_conf *conf;
    /* settings */
    const char *hostname;
    const char *spool_dir;
    const char *run_user; /* become this user after binding ("" = stay) */
    uid_t run_uid;        /* its ids, looked up once with the config */
    gid_t run_gid;
    uint32_t self;
    struct mule_config mule;
    struct mule_prio prio;
    struct pmul_params pparams;
    struct pmul_bearer_config bcfg;
    struct smtpgw_server_config scfg;
    struct smtpgw_gateway_config gcfg;
    struct smtpgw_gateway_node_limit limits[GW_MAX_LIMITS];
    const char *listen[GW_MAX_LISTEN];
    const char *nets[GW_MAX_NETS];
    char listen_buf[512], nets_buf[1024];
    struct smtpgw_deliver_params dparams;
    char lan_host[256];
    char lan_relay[270]; /* host:port, for the logs */
    uint32_t emcon_nodes[GW_MAX_EMCON]; /* emcon_nodes= of the config */
    size_t n_emcon;
    const char *portfile;
    struct smtpgw_ctl_conf ctl_conf;
    bool ctl_on; /* a [control] section: serve mulectl */
    /* running */
    int64_t started;
    bool local_emcon;
    char server_buf[300], level_buf[SMTPGW_CTL_LEVEL_LEN], problem_buf[512];
    struct smtpgw_ctl_server *ctl;
    struct smtpgw_spool *spool;
    struct smtpgw_server *smtp;
    struct pmul_bearer *bearer;
    struct smtpgw_gateway *engine;
    struct gw_delivery *deliveries;
    ev_timer tick;
    ev_prepare sync; /* the group commit at the end of each loop pass */
    ev_signal sigint, sigterm, sigusr1;
    bool stopping;
    bool verbose;
};

/* gw_now - the gateway's clock (UNIX s), in step with the P_MUL engine */
int64_t gw_now(const struct gw *gw);

/* gw_load_config - read and check every section; 0 or negative (message printed) */
int gw_load_config(struct gw *gw);

/* The control channel's operations over the gateway (mulegw_ctl.c). */
extern const struct smtpgw_ctl_ops gw_ctl_ops;

#endif
