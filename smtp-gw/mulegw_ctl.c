/* mulegw_ctl.c - mulegw's side of the operator's control channel
 * (control.c's protocol, mulectl(8)): status of the link, the queue, and
 * retry/drop/hold/release/emcon/log-level, which the gateway engine does. */
#include "smtp-gw/mulegw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* gw_ctl_node_add - add node to the status list once (not ourselves) */
static void gw_ctl_node_add(struct gw *gw, struct smtpgw_ctl_node *nodes, size_t *n, size_t cap, uint32_t node)
{
    if (!node || node == gw->self)
        return;
    for (size_t i = 0; i < *n; i++)
        if (nodes[i].node == node)
            return;
    if (*n < cap)
        nodes[(*n)++].node = node;
}

/* gw_ctl_status - ops->status: link, queues and every known node */
static int gw_ctl_status(void *user, struct smtpgw_ctl_status *st)
{
    struct gw *gw = user;
    st->version = PACKAGE_VERSION;
    st->node = mule_node_str(gw->self);
    st->now = util_wall_s();
    st->started = gw->started;
    st->bearer = gw->bcfg.kind == PMUL_BEARER_UDP ? "udp" : "sis";
    const struct s5066_link_config *lc = &gw->bcfg.link;
    if (gw->bcfg.kind == PMUL_BEARER_UDP)
        snprintf(gw->server_buf, sizeof gw->server_buf, "%s:%u", gw->bcfg.udp_group, (unsigned)gw->bcfg.udp_port);
    else if (lc->kind == S5066_LINK_SERIAL)
        snprintf(gw->server_buf, sizeof gw->server_buf, "%s:%d", lc->device, lc->baud);
    else
        snprintf(gw->server_buf, sizeof gw->server_buf, "%s:%u", lc->host, (unsigned)lc->port);
    st->server = gw->server_buf;
    struct s5066_link *link = gw->bearer ? pmul_bearer_link(gw->bearer) : NULL;
    st->availability = "";
    if (link) {
        struct s5066_client_status cs;
        s5066_client_get_status(s5066_link_client(link), &cs);
        bool connected = s5066_link_connected(link);
        st->link = connected ? s5066_client_state_name(cs.state) : "disconnected";
        st->sap = lc->client.sap;
        st->mtu = cs.mtu;
        st->flow_on = connected && cs.flow_on;
        switch (connected ? cs.subnet : -1) {
        case S5066_SUBNET_OFF: st->availability = "off"; break;
        case S5066_SUBNET_ON: st->availability = "on"; break;
        case S5066_SUBNET_RECEIVE_ONLY:
            st->availability = cs.subnet_reason == S5066_SUBNET_REASON_EMCON ? "receive-only (emcon)" : "receive-only";
            break;
        case S5066_SUBNET_HALF_DUPLEX: st->availability = "half-duplex"; break;
        case S5066_SUBNET_FULL_DUPLEX: st->availability = "full-duplex"; break;
        case S5066_SUBNET_TRANSMIT_ONLY: st->availability = "transmit-only"; break;
        default: st->availability = "unknown"; break;
        }
    } else {
        st->link = gw->bearer && pmul_bearer_ready(gw->bearer) ? "up" : "down";
        st->flow_on = gw->bearer && pmul_bearer_ready(gw->bearer);
        st->mtu = gw->bearer ? pmul_bearer_pdu_max(gw->bearer) : 0;
    }
    st->emcon = gw->local_emcon;
    gw->problem_buf[0] = '\0';
    char line[400];
    enum util_log_level lvl;
    int64_t when;
    if (util_log_last_problem(line, sizeof line, &lvl, &when)) {
        /* when and how bad: an old warning is not today's problem */
        char date[MULE_DATE_STRLEN];
        struct tm tm;
        time_t t = (time_t)when;
        if (gmtime_r(&t, &tm) && strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S UTC", &tm) > 0)
            snprintf(gw->problem_buf, sizeof gw->problem_buf, "%s %s: %s", date,
                     lvl == UTIL_LOG_ERR ? "err" : "warn", line);
    }
    st->last_error = gw->problem_buf;
    st->outgoing = smtpgw_spool_count(gw->spool, SMTPGW_Q_OUTGOING);
    st->incoming = smtpgw_spool_count(gw->spool, SMTPGW_Q_INCOMING);
    st->deliveries = smtpgw_gateway_deliveries(gw->engine);
    smtpgw_ctl_log_level_apply(NULL, NULL, NULL, gw->level_buf, sizeof gw->level_buf);
    st->log_level = gw->level_buf;
    /* the nodes: the [node] table, the routes, the EMCON list */
    size_t cap = gw->bcfg.nnodes + gw->mule.routes.n_routes * 2 + 2 + gw->n_emcon;
    struct smtpgw_ctl_node *nodes = calloc(cap ? cap : 1, sizeof *nodes);
    if (!nodes)
        return UTIL_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < gw->bcfg.nnodes; i++)
        gw_ctl_node_add(gw, nodes, &n, cap, gw->bcfg.nodes[i].id);
    for (size_t i = 0; i < gw->mule.routes.n_routes; i++) {
        gw_ctl_node_add(gw, nodes, &n, cap, gw->mule.routes.routes[i].node);
        gw_ctl_node_add(gw, nodes, &n, cap, gw->mule.routes.routes[i].via);
    }
    if (gw->mule.routes.def) {
        gw_ctl_node_add(gw, nodes, &n, cap, gw->mule.routes.def->node);
        gw_ctl_node_add(gw, nodes, &n, cap, gw->mule.routes.def->via);
    }
    for (size_t i = 0; i < gw->n_emcon; i++)
        gw_ctl_node_add(gw, nodes, &n, cap, gw->emcon_nodes[i]);
    for (size_t k = 0; k < n; k++) {
        struct smtpgw_ctl_node *nd = &nodes[k];
        const char *name = pmul_bearer_node_name(&gw->bcfg, nd->node);
        nd->name = name ? name : "";
        nd->emcon = smtpgw_gateway_is_emcon(gw->engine, nd->node);
        int64_t heard = smtpgw_gateway_last_ack(gw->engine, nd->node);
        if (heard) /* in the engine's clock: as long ago in real time */
            nd->last_ack = st->now - (gw_now(gw) - heard);
    }
    /* one pass over the spool: held messages, and each node's pending ones
     * (a message counts once per node even if it names the node twice) */
    for (int q = 0; q < SMTPGW_Q_COUNT; q++)
        for (struct smtpgw_envelope *e = smtpgw_spool_first(gw->spool, q); e; e = smtpgw_spool_next(gw->spool, e)) {
            st->held += (e->flags & SMTPGW_ENV_HOLD) != 0;
            if (q != SMTPGW_Q_OUTGOING)
                continue;
            for (size_t k = 0; k < n; k++)
                for (size_t d = 0; d < e->n_dests; d++)
                    if (e->dests[d].node == nodes[k].node && e->dests[d].state == SMTPGW_DEST_OPEN) {
                        nodes[k].pending++;
                        break;
                    }
        }
    st->nodes = nodes;
    st->n_nodes = n;
    return 0;
}

/* gw_ctl_status_done - ops->status_done: free the node list */
static void gw_ctl_status_done(void *user, struct smtpgw_ctl_status *st)
{
    (void)user;
    free(st->nodes);
}

/* gw_ctl_queue - ops->queue: every spooled message, outgoing then incoming */
static int gw_ctl_queue(void *user, smtpgw_ctl_msg_fn each, void *ctx)
{
    struct gw *gw = user;
    for (int q = 0; q < SMTPGW_Q_COUNT; q++) {
        for (struct smtpgw_envelope *e = smtpgw_spool_first(gw->spool, q); e; e = smtpgw_spool_next(gw->spool, e)) {
            const char **rcpts = calloc(e->n_rcpts ? e->n_rcpts : 1, sizeof *rcpts);
            struct smtpgw_ctl_dest *dests = calloc(e->n_dests ? e->n_dests : 1, sizeof *dests);
            if (!rcpts || !dests) {
                free(rcpts);
                free(dests);
                return UTIL_ERR_NOMEM;
            }
            for (size_t i = 0; i < e->n_rcpts; i++)
                rcpts[i] = e->rcpts[i].addr;
            for (size_t d = 0; d < e->n_dests; d++) {
                const char *name = pmul_bearer_node_name(&gw->bcfg, e->dests[d].node);
                dests[d].node = e->dests[d].node;
                dests[d].name = name ? name : "";
                dests[d].state = smtpgw_dest_state_name(e->dests[d].state);
                dests[d].msgid = e->dests[d].msgid;
            }
            struct smtpgw_ctl_msg m = {e->qid,
                                       smtpgw_queue_name(e->queue),
                                       e->arrival,
                                       e->size,
                                       e->priority,
                                       e->from,
                                       (e->flags & SMTPGW_ENV_HOLD) != 0,
                                       e->attempts,
                                       e->next_attempt,
                                       e->n_rcpts,
                                       rcpts,
                                       dests,
                                       e->n_dests};
            each(ctx, &m);
            free(rcpts);
            free(dests);
        }
    }
    return 0;
}

/* gw_ctl_now - ops->now: the clock the spool's times are in */
static int64_t gw_ctl_now(void *user)
{
    return gw_now(user);
}

/* gw_ctl_retry - ops->retry */
static int gw_ctl_retry(void *user, const char *id)
{
    struct gw *gw = user;
    return smtpgw_gateway_retry(gw->engine, gw_now(gw), id);
}

/* gw_ctl_drop - ops->drop (one message; "all" is refused by the control engine) */
static int gw_ctl_drop(void *user, const char *id)
{
    struct gw *gw = user;
    int n = smtpgw_gateway_drop(gw->engine, gw_now(gw), id);
    pmul_bearer_kick(gw->bearer);
    return n;
}

/* gw_ctl_hold - ops->hold */
static int gw_ctl_hold(void *user, const char *id)
{
    struct gw *gw = user;
    return smtpgw_gateway_hold(gw->engine, gw_now(gw), id);
}

/* gw_ctl_release - ops->release */
static int gw_ctl_release(void *user, const char *id)
{
    struct gw *gw = user;
    return smtpgw_gateway_release(gw->engine, gw_now(gw), id);
}

/* gw_ctl_emcon - ops->emcon: our own radio silence, or a destination's */
static int gw_ctl_emcon(void *user, uint32_t node, bool on)
{
    struct gw *gw = user;
    if (node == 0) {
        gw->local_emcon = on;
        pmul_bearer_set_emcon(gw->bearer, on);
        pmul_bearer_kick(gw->bearer);
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "operator-emcon", "node=local emcon=%s", on ? "on" : "off");
        return 0;
    }
    if (node == gw->self)
        return gw_ctl_emcon(user, 0, on);
    int rc = smtpgw_gateway_set_emcon(gw->engine, node, on);
    if (rc < 0)
        return rc;
    bool listed = false; /* the status lists every node ever set */
    for (size_t i = 0; i < gw->n_emcon; i++)
        listed |= gw->emcon_nodes[i] == node;
    if (!listed && gw->n_emcon < GW_MAX_EMCON)
        gw->emcon_nodes[gw->n_emcon++] = node;
    pmul_engine_set_dest_emcon(pmul_bearer_engine(gw->bearer), pmul_bearer_now(gw->bearer), node, on);
    pmul_bearer_kick(gw->bearer);
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "operator-emcon", "node=%s emcon=%s", mule_node_str(node),
             on ? "on" : "off");
    return 0;
}

/* gw_ctl_node_lookup - ops->node_lookup: a [node NAME] */
static int gw_ctl_node_lookup(void *user, const char *name, uint32_t *id)
{
    struct gw *gw = user;
    return pmul_bearer_find_node(&gw->bcfg, name, id) == 0 ? 0 : SMTPGW_ERR_CTL_NODE;
}

/* gw_ctl_log_level - ops->log_level: util's logger, and say so in the log */
static int gw_ctl_log_level(void *user, const char *level, const char *trace, char *out, size_t cap)
{
    (void)user;
    int rc = smtpgw_ctl_log_level_apply(NULL, level, trace, out, cap);
    if (rc >= 0 && level)
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_MAIN, "log-level", "now=\"%s\"", out);
    return rc;
}

const struct smtpgw_ctl_ops gw_ctl_ops = {
    gw_ctl_status, gw_ctl_status_done, gw_ctl_queue,   gw_ctl_now,         gw_ctl_retry,    gw_ctl_drop,
    gw_ctl_hold,   gw_ctl_release,     gw_ctl_emcon,   gw_ctl_node_lookup, gw_ctl_log_level,
};

