/* mulegw_conf.c - mulegw's configuration, mulegw.conf(5): [mulegw],
 * [smtp], [lan], [control], and the sections the modules read themselves
 * ([mule], [route ...], [priority]: mule; [pmul], [bearer], [node ...],
 * [group ...]: pmul).  Every key is checked here, as start-up would, so
 * that mulegw -n catches every error (file:line: key: what is wrong). */
#include "smtp-gw/mulegw.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>

/* gw_split_list - split a comma/space list in buf into out (at most max); count */
static size_t gw_split_list(char *buf, const char **out, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(buf, ", \t"); tok && n < max; tok = strtok(NULL, ", \t"))
        out[n++] = tok;
    return n;
}

/* gw_node_limits - [node NAME] max_message_size: the largest message that
 * node's gateway takes (its own [mule] max_message_size); the sender
 * refuses bigger ones at SMTP time with 552 5.3.4 */
static void gw_node_limits(struct gw *gw, struct util_conf *c)
{
    struct util_conf_section *s = NULL;
    size_t n = 0;
    while ((s = util_conf_next_section(c, "node", s))) {
        uint64_t v;
        const char *str = NULL;
        util_conf_str(c, s, "max_message_size", NULL, &str);
        if (!str)
            continue;
        uint32_t id;
        if (util_conf_size(c, s, "max_message_size", gw->mule.max_message_size, 1024, (uint64_t)1 << 32, &v) < 0 ||
            pmul_bearer_find_node(&gw->bcfg, util_conf_section_name(s), &id) < 0)
            continue;
        if (n == GW_MAX_LIMITS) {
            util_conf_fail(c, s, "max_message_size", UTIL_ERR_RANGE, "more than %d nodes with their own limit",
                           GW_MAX_LIMITS);
            return;
        }
        gw->limits[n].node = id;
        gw->limits[n].max_message_size = v;
        n++;
    }
    gw->gcfg.limits = gw->limits;
    gw->gcfg.n_limits = n;
}

/* gw_one_sis_table - the SIS priority of each P_MUL priority may be set as
 * [priority] sis.N (the MULE mapping) or [bearer] sis_priority (the
 * bearer's list); one table serves both.  With only one of them set, it
 * is the table; with both, every sis.N given must agree with the list
 * (an error names the first that does not) */
static void gw_one_sis_table(struct gw *gw, struct util_conf *c)
{
    struct util_conf_section *ps = util_conf_section(c, "priority", NULL);
    struct util_conf_section *bs = util_conf_section(c, "bearer", NULL);
    const char *list = NULL;
    util_conf_str(c, bs, "sis_priority", NULL, &list);
    bool any = false;
    for (int i = 0; i <= MULE_PMUL_PRIO_MAX; i++) {
        char key[16];
        const char *v = NULL;
        snprintf(key, sizeof key, "sis.%d", i);
        util_conf_str(c, ps, key, NULL, &v);
        if (!v)
            continue;
        any = true;
        if (list && gw->prio.sis[i] != gw->bcfg.sis_priority[i]) {
            util_conf_fail(c, ps, key, UTIL_ERR_RANGE,
                           "%u disagrees with [bearer] sis_priority (%u): set the table in one place",
                           gw->prio.sis[i], gw->bcfg.sis_priority[i]);
            return;
        }
    }
    for (int i = 0; i <= MULE_PMUL_PRIO_MAX; i++) {
        if (any && !list)
            gw->bcfg.sis_priority[i] = gw->prio.sis[i];
        else
            gw->prio.sis[i] = gw->bcfg.sis_priority[i];
    }
}

/* gw_load_config - read and check every section; 0 or negative (message printed) */
int gw_load_config(struct gw *gw)
{
    char err[512];
    int rc;
    gw->conf = util_conf_load(gw->conf_path, err, sizeof err, &rc);
    if (!gw->conf) {
        fprintf(stderr, "mulegw: %s\n", err);
        return rc;
    }
    struct util_conf *c = gw->conf;
    struct util_conf_section *s = util_conf_section(c, "mulegw", NULL);
    const char *level, *trace, *emcon, *lan;
    long long maxd;
    util_conf_str(c, s, "hostname", "localhost", &gw->hostname);
    util_conf_str_required(c, s, "spool", &gw->spool_dir);
    util_conf_str(c, s, "log_level", "info", &level);
    util_conf_str(c, s, "trace", "", &trace);
    util_conf_str(c, s, "emcon_nodes", "", &emcon);
    util_conf_int(c, s, "max_deliveries", GW_MAX_DELIVERIES_DEFAULT, 1, 64, &maxd);
    util_conf_str(c, s, "user", "", &gw->run_user);
    uint64_t dw;
    util_conf_duration_ms(c, s, "delay_warning_time", SMTPGW_GATEWAY_DELAY_WARNING_DEFAULT * 1000ull, 0,
                          30 * 86400000ull, &dw);
    gw->gcfg.delay_warning = (int64_t)(dw / 1000);
    if (*gw->run_user) {
        struct passwd *pw = getpwnam(gw->run_user);
        if (!pw) {
            util_conf_fail(c, s, "user", UTIL_ERR_RANGE, "no such user '%s'", gw->run_user);
        } else {
            gw->run_uid = pw->pw_uid;
            gw->run_gid = pw->pw_gid;
        }
    }
    gw->gcfg.max_deliveries = (unsigned)maxd;
    if (util_log_parse_level(level) < 0)
        util_conf_fail(c, s, "log_level", UTIL_ERR_RANGE, "'%s' is not one of err, warn, notice, info, debug", level);
    else if (!gw->verbose)
        util_log_set_level((enum util_log_level)util_log_parse_level(level));
    if (util_log_set_trace(trace) < 0)
        util_conf_fail(c, s, "trace", UTIL_ERR_RANGE, "'%s' names an unknown module", trace);
    if (*emcon) {
        char buf[1024];
        const char *list[GW_MAX_EMCON];
        snprintf(buf, sizeof buf, "%s", emcon);
        size_t n = gw_split_list(buf, list, GW_MAX_EMCON);
        for (size_t i = 0; i < n; i++)
            if (mule_node_parse(list[i], &gw->emcon_nodes[gw->n_emcon]) == 0)
                gw->n_emcon++;
            else
                util_conf_fail(c, s, "emcon_nodes", UTIL_ERR_TYPE, "'%s' is not a node id", list[i]);
    }
    /* [smtp] */
    struct util_conf_section *sm = util_conf_section(c, "smtp", NULL);
    smtpgw_server_config_default(&gw->scfg);
    const char *listen, *nets;
    long long v;
    uint64_t u;
    util_conf_str(c, sm, "listen", "127.0.0.1:2525", &listen);
    util_conf_str(c, sm, "networks", "127.0.0.0/8, ::1/128", &nets);
    snprintf(gw->listen_buf, sizeof gw->listen_buf, "%s", listen);
    snprintf(gw->nets_buf, sizeof gw->nets_buf, "%s", nets);
    gw->scfg.n_listen = gw_split_list(gw->listen_buf, gw->listen, GW_MAX_LISTEN);
    gw->scfg.listen = gw->listen;
    gw->scfg.n_networks = gw_split_list(gw->nets_buf, gw->nets, GW_MAX_NETS);
    gw->scfg.networks = gw->nets;
    gw->scfg.hostname = gw->hostname;
    util_conf_int(c, sm, "max_sessions", SMTPGW_DEFAULT_MAX_SESSIONS, 1, 10000, &v);
    gw->scfg.max_sessions = (unsigned)v;
    util_conf_int(c, sm, "max_recipients", SMTPGW_DEFAULT_MAX_RCPTS, 1, SMTPGW_MAX_RCPTS, &v);
    gw->scfg.limits.max_rcpts = (size_t)v;
    util_conf_duration_ms(c, sm, "idle_timeout", SMTPGW_DEFAULT_IDLE_TIMEOUT, 1000, 3600000, &u);
    gw->scfg.limits.idle_timeout = u;
    /* issue 13: slow clients cannot hold a session, one client not every session */
    util_conf_int(c, sm, "max_sessions_per_client", UTIL_MAX(gw->scfg.max_sessions / 2, 1u), 1,
                  10000, &v);
    gw->scfg.max_sessions_per_client = (unsigned)v;
    util_conf_duration_ms(c, sm, "command_timeout", SMTPGW_DEFAULT_CMD_TIMEOUT, 1000, 3600000, &u);
    gw->scfg.limits.cmd_timeout = u;
    util_conf_duration_ms(c, sm, "data_timeout", SMTPGW_DEFAULT_DATA_TIMEOUT, 1000, 3600000, &u);
    gw->scfg.limits.data_timeout = u;
    util_conf_size(c, sm, "min_data_rate", SMTPGW_DEFAULT_MIN_DATA_RATE, 0, 1u << 30, &u);
    gw->scfg.limits.min_data_rate = (uint32_t)u;
    /* [lan] */
    struct util_conf_section *ls = util_conf_section(c, "lan", NULL);
    smtpgw_deliver_params_default(&gw->dparams);
    smtpgw_retry_default(&gw->gcfg.retry);
    util_conf_str(c, ls, "relay", "127.0.0.1:25", &lan);
    const char *colon = strrchr(lan, ':');
    long long port = 25;
    if (!colon || colon == lan || (size_t)(colon - lan) >= sizeof gw->lan_host ||
        util_parse_int(colon + 1, 1, 65535, &port) < 0)
        util_conf_fail(c, ls, "relay", UTIL_ERR_TYPE, "'%s' is not host:port", lan);
    else
        snprintf(gw->lan_host, sizeof gw->lan_host, "%.*s", (int)(colon - lan), lan);
    gw->dparams.host = gw->lan_host;
    gw->dparams.port = (uint16_t)port;
    snprintf(gw->lan_relay, sizeof gw->lan_relay, "%s:%u", gw->lan_host, (unsigned)port);
    gw->gcfg.lan_relay = gw->lan_relay;
    gw->dparams.client.helo_name = gw->hostname;
    util_conf_duration_ms(c, ls, "retry_first", 60000, 1000, 86400000, &u);
    gw->gcfg.retry.first_s = (int64_t)(u / 1000);
    util_conf_duration_ms(c, ls, "retry_max", 3600000, 1000, 86400000, &u);
    gw->gcfg.retry.max_s = (int64_t)(u / 1000);
    util_conf_duration_ms(c, ls, "max_age", 5 * 86400000ull, 60000, 30 * 86400000ull, &u);
    gw->gcfg.retry.max_age_s = (int64_t)(u / 1000);
    /* [mule], [route ...], [priority] */
    rc = mule_config_load(c, &gw->mule);
    if (rc == 0)
        rc = mule_prio_load(c, &gw->prio);
    gw->scfg.limits.max_message = gw->mule.max_message_size;
    /* [pmul], [bearer], [node], [group] */
    pmul_params_default(&gw->pparams);
    pmul_bearer_config_init(&gw->bcfg);
    if (rc == 0)
        rc = pmul_params_from_conf(c, &gw->pparams);
    if (rc == 0)
        rc = pmul_bearer_config_from_conf(c, &gw->bcfg);
    if (rc == 0)
        gw_one_sis_table(gw, c);
    gw->self = gw->pparams.node_id;
    if (rc == 0)
        gw_node_limits(gw, c);
    if (!gw->self && !util_conf_errcode(c))
        util_conf_fail(c, util_conf_section(c, "pmul", NULL), "node_id", UTIL_ERR_MISSING, "this gateway's node id is required");
    /* the control channel is on with a [control] section (the example
     * config has one); tests and extra gateways on a host run without */
    gw->ctl_on = util_conf_section(c, "control", NULL) != NULL;
    smtpgw_ctl_conf_read(c, &gw->ctl_conf);
    int crc = util_conf_check_unused(c);
    if (crc < 0 || util_conf_errcode(c) || rc < 0) {
        fprintf(stderr, "mulegw: %s\n", util_conf_error(c)[0] ? util_conf_error(c) : mule_strerror(rc));
        return crc < 0 ? crc : rc < 0 ? rc : util_conf_errcode(c);
    }
    return 0;
}

