/* mule_route_test.c - routing from the config (mule/route.c): exact domains,
 * *.domain wildcards (longest wins), the default route, relays; errors with
 * file:line and key; the send plan with and without the per-destination
 * split; the receive dispositions of RFC 8494 3 steps 3 to 6, decided by
 * routes and local domains, never by how many destinations are listed.
 */
#include "harness.h"
#include "mule/mule.h"
#include "mule_golden.h"

static const char conf_text[] = "# routes for the test network\n" /* 1 */
                                "[mule]\n"                        /* 2 */
                                "local_domains = hq.example.mil, *.hq.example.mil\n"
                                "max_message_size = 2M\n"       /* 4 */
                                "split = yes\n"                 /* 5 */
                                "\n"                            /* 6 */
                                "[route ship1.example.mil]\n"   /* 7 */
                                "node = 10.0.0.2\n"             /* 8 */
                                "[route *.example.mil]\n"       /* 9 */
                                "node = 10.0.0.3\n"             /* 10 */
                                "[route *.fleet.example.mil]\n" /* 11 */
                                "node = 167772164\n"            /* 12: 10.0.0.4 */
                                "[route far.example.org]\n"     /* 13 */
                                "node = 10.0.0.5\n"             /* 14 */
                                "via = 0x0a000009\n"            /* 15: 10.0.0.9 */
                                "[route default]\n"             /* 16 */
                                "node = 10.0.0.1\n";            /* 17 */

/* load - parse text and load the mule config; returns rc and the message */
static int load(const char *text, struct mule_config *cfg, char *err, size_t errlen)
{
    int rc;
    struct util_conf *conf = util_conf_parse("test.conf", text, strlen(text), err, errlen, &rc);
    if (!conf)
        return rc;
    rc = mule_config_load(conf, cfg);
    if (rc == 0)
        rc = util_conf_check_unused(conf);
    snprintf(err, errlen, "%s", util_conf_error(conf));
    if (rc < 0 && rc != MULE_ERR_INVAL && util_conf_errcode(conf) == 0)
        snprintf(err, errlen, "%s", mule_strerror(rc));
    if (rc == 0 && util_conf_errcode(conf) != 0)
        rc = util_conf_errcode(conf);
    if (rc < 0)
        mule_config_free(cfg);
    util_conf_free(conf);
    return rc;
}

#define N(a, b, c, d) (((uint32_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))

TEST(node_ids)
{
    uint32_t v;
    char buf[MULE_NODE_STRLEN];
    CHECK_EQ(mule_node_parse("10.0.0.2", &v), 0);
    CHECK_EQ(v, N(10, 0, 0, 2));
    CHECK_EQ(mule_node_parse("167772162", &v), 0);
    CHECK_EQ(v, N(10, 0, 0, 2));
    CHECK_EQ(mule_node_parse("0xFFFFFFFF", &v), 0);
    CHECK_STR(mule_node_format(v, buf, sizeof buf), "255.255.255.255");
    static const char *const bad[] = {"",          "0",         "0.0.0.0", "1.2.3",
                                      "1.2.3.4.5", "256.1.1.1", "1..2.3",  "4294967296",
                                      "-1",        "1.2.3.4 ",  "0x",      "abc"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++)
        CHECK_EQ(mule_node_parse(bad[i], &v), MULE_ERR_BAD_NODE);
}

TEST(lookup_from_config)
{
    struct mule_config cfg;
    char err[256];
    CHECK_EQ(load(conf_text, &cfg, err, sizeof err), 0);
    const struct mule_routes *r = &cfg.routes;
    CHECK_EQ(cfg.max_message_size, 2 * 1024 * 1024);
    CHECK_EQ(cfg.compression_level, 9);
    CHECK_EQ(cfg.compress, MULE_COMPRESS_ZLIB);
    CHECK_EQ(cfg.zopfli_iterations, 15);
    CHECK_EQ(cfg.zopfli_max_size, 64 * 1024);
    CHECK(cfg.split);
    const struct mule_route *rt = mule_route_lookup(r, "ship1.example.mil");
    CHECK(rt && rt->node == N(10, 0, 0, 2) && rt->line == 7);
    rt = mule_route_lookup(r, "SHIP1.Example.MIL.");
    CHECK(rt && rt->node == N(10, 0, 0, 2));
    rt = mule_route_lookup(r, "ship2.example.mil");
    CHECK(rt && rt->node == N(10, 0, 0, 3));
    rt = mule_route_lookup(r, "a.b.fleet.example.mil"); /* the longer wildcard wins */
    CHECK(rt && rt->node == N(10, 0, 0, 4));
    rt = mule_route_lookup(r, "example.mil"); /* *.d does not match d itself */
    CHECK(rt && rt->node == N(10, 0, 0, 1) && rt == r->def);
    rt = mule_route_lookup(r, "far.example.org");
    CHECK(rt && rt->node == N(10, 0, 0, 5) && rt->via == N(10, 0, 0, 9));
    rt = mule_route_lookup(r, "[10.1.2.3]");
    CHECK(rt == r->def);
    CHECK(mule_domain_is_local(r, "hq.example.mil"));
    CHECK(mule_domain_is_local(r, "ops.HQ.example.mil"));
    CHECK(!mule_domain_is_local(r, "xhq.example.mil"));
    mule_config_free(&cfg);
    /* without a default route an unknown domain has none */
    struct mule_routes t;
    mule_routes_init(&t);
    CHECK_EQ(mule_routes_add(&t, "a.mil", 5, 0), 0);
    CHECK_EQ(mule_routes_add(&t, "A.mil", 6, 0), MULE_ERR_INVAL);
    CHECK_EQ(mule_routes_add(&t, "*.", 6, 0), MULE_ERR_INVAL);
    CHECK_EQ(mule_routes_add(&t, "b.mil", 0, 0), MULE_ERR_INVAL);
    CHECK(mule_route_lookup(&t, "b.mil") == NULL);
    mule_routes_free(&t);
}

TEST(config_errors_name_file_line_key)
{
    static const struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"[route a.mil]\nvia = 10.0.0.9\n", "test.conf:1: [route a.mil] key 'node': required"},
        {"\n[route a.mil]\nnode = 1.2.3\n",
         "test.conf:3: [route a.mil] key 'node': '1.2.3' is not an ACP 142 node id"},
        {"[route a.mil]\nnode = 1.2.3.4\nvia = 1.2.3.4\n",
         "test.conf:3: [route a.mil] key 'via': the relay is the destination"},
        {"[route]\nnode = 1.2.3.4\n", "test.conf:1: [route]: a route needs a domain"},
        {"[route a..mil]\nnode = 1.2.3.4\n",
         "test.conf:1: [route a..mil]: 'a..mil' is not a domain"},
        {"[route *x.mil]\nnode = 1.2.3.4\n", "'*x.mil' is not a domain"},
        {"[route a.mil]\nnode = 1.2.3.4\nnodes = 2\n",
         "test.conf:3: [route a.mil] key 'nodes': unknown key"},
        {"[mule]\nlocal_domains = a.mil b..mil\n", "test.conf:2: [mule] key 'local_domains'"},
        {"[mule]\ncompression_level = 10\n", "test.conf:2: [mule] key 'compression_level'"},
        {"[mule]\ncompress = brotli\n", "test.conf:2: [mule] key 'compress'"},
        {"[mule]\nzopfli_iterations = 0\n", "test.conf:2: [mule] key 'zopfli_iterations'"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct mule_config cfg;
        char err[256] = "";
        int rc = load(cases[i].text, &cfg, err, sizeof err);
        CHECK(rc < 0);
        if (!strstr(err, cases[i].msg))
            printf("# case %zu: %s\n", i, err);
        CHECK_CONTAINS(err, cases[i].msg);
        if (rc == 0)
            mule_config_free(&cfg);
    }
}

TEST(compress_zopfli_in_the_config)
{
    struct mule_config cfg;
    char err[256] = "";
    int rc = load("[mule]\ncompress = zopfli\nzopfli_iterations = 5\nzopfli_max_size = 1M\n", &cfg, err,
                  sizeof err);
    if (mule_zopfli_available()) {
        CHECK_EQ(rc, 0);
        CHECK_EQ(cfg.compress, MULE_COMPRESS_ZOPFLI);
        CHECK_EQ(cfg.zopfli_iterations, 5);
        CHECK_EQ(cfg.zopfli_max_size, 1024 * 1024);
        if (rc == 0)
            mule_config_free(&cfg);
    } else {
        /* a build without zopfli says so at -n time, file:line */
        CHECK(rc < 0);
        CHECK_CONTAINS(err, "test.conf:2: [mule] key 'compress': zopfli: this build has no zopfli");
    }
}

TEST(plan_with_and_without_split)
{
    struct mule_config cfg;
    char err[256];
    CHECK_EQ(load(conf_text, &cfg, err, sizeof err), 0);
    const char *rcpts[] = {
        "a@ship2.example.mil",   /* 0 -> 10.0.0.3 */
        "b@ship1.example.mil",   /* 1 -> 10.0.0.2 */
        "c@hq.example.mil",      /* 2 local */
        "d@x.fleet.example.mil", /* 3 -> 10.0.0.4 */
        "e@ship1.example.mil",   /* 4 -> 10.0.0.2 */
        "f@far.example.org",     /* 5 -> via 10.0.0.9 */
        "g@elsewhere.net",       /* 6 -> default 10.0.0.1 */
    };
    struct mule_plan p;
    CHECK_EQ(mule_route_plan(&cfg.routes, N(10, 0, 0, 100), rcpts, 7, false, &p), 0);
    CHECK_EQ(p.n_local, 1);
    CHECK_EQ(p.local[0], 2);
    CHECK_EQ(p.n_unroutable, 0);
    CHECK_EQ(p.n_dests, 5);
    static const uint32_t nodes[] = {N(10, 0, 0, 1), N(10, 0, 0, 2), N(10, 0, 0, 3), N(10, 0, 0, 4),
                                     N(10, 0, 0, 9)};
    for (size_t k = 0; k < 5 && k < p.n_dests; k++)
        CHECK_EQ(p.dests[k].node, nodes[k]);
    CHECK_EQ(p.dests[1].n_rcpt, 2);
    CHECK_EQ(p.dests[1].rcpt[0], 1);
    CHECK_EQ(p.dests[1].rcpt[1], 4);
    CHECK_EQ(p.n_groups, 1);
    CHECK_EQ(p.groups[0].n_nodes, 5);
    CHECK_EQ(p.groups[0].n_rcpt, 6);
    CHECK_EQ(p.groups[0].rcpt[0], 0);
    CHECK_EQ(p.groups[0].rcpt[5], 6);
    mule_plan_free(&p);
    /* split: one message per destination with only its recipients (Bcc) */
    CHECK_EQ(mule_route_plan(&cfg.routes, N(10, 0, 0, 100), rcpts, 7, true, &p), 0);
    CHECK_EQ(p.n_groups, 5);
    CHECK_EQ(p.groups[1].n_nodes, 1);
    CHECK_EQ(p.groups[1].nodes[0], N(10, 0, 0, 2));
    CHECK_EQ(p.groups[1].n_rcpt, 2);
    CHECK_EQ(p.groups[4].nodes[0], N(10, 0, 0, 9));
    CHECK_EQ(p.groups[4].rcpt[0], 5);
    mule_plan_free(&p);
    /* on the relay itself, the destination is the next hop */
    CHECK_EQ(mule_route_plan(&cfg.routes, N(10, 0, 0, 9), rcpts + 5, 1, false, &p), 0);
    CHECK_EQ(p.n_dests, 1);
    CHECK_EQ(p.dests[0].node, N(10, 0, 0, 5));
    mule_plan_free(&p);
    /* a route to ourselves is local; no default: unroutable */
    struct mule_routes t;
    mule_routes_init(&t);
    mule_routes_add(&t, "a.mil", 7, 0);
    const char *two[] = {"x@a.mil", "y@b.mil"};
    CHECK_EQ(mule_route_plan(&t, 7, two, 2, false, &p), 0);
    CHECK_EQ(p.n_local, 1);
    CHECK_EQ(p.n_unroutable, 1);
    CHECK_EQ(p.unroutable[0], 1);
    CHECK_EQ(p.n_dests, 0);
    CHECK_EQ(p.n_groups, 0);
    mule_plan_free(&p);
    mule_routes_free(&t);
    mule_config_free(&cfg);
}

TEST(receive_dispositions)
{
    struct mule_routes r;
    mule_routes_init(&r);
    mule_routes_add_local(&r, "hq.example.mil");
    mule_routes_add(&r, "ship1.example.mil", N(10, 0, 0, 2), 0);
    mule_routes_add(&r, "ship2.example.mil", N(10, 0, 0, 3), 0);
    mule_routes_add(&r, "far.example.org", N(10, 0, 0, 5), N(10, 0, 0, 9));
    mule_routes_add(&r, "back.example.org", N(10, 0, 0, 1), 0);
    const char *rcpts[] = {"a@hq.example.mil",  "b@ship1.example.mil", "c@ship2.example.mil",
                           "d@far.example.org", "e@nowhere.example",   "f@back.example.org"};
    struct mule_rx_rcpt out[6];
    /* node 10.0.0.2 got a multicast to 10.0.0.2, 10.0.0.3 and 10.0.0.9 from 10.0.0.1 */
    uint32_t dests[] = {N(10, 0, 0, 2), N(10, 0, 0, 3), N(10, 0, 0, 9)};
    struct mule_rx_ctx ctx = {N(10, 0, 0, 2), N(10, 0, 0, 1), dests, 3};
    CHECK_EQ(mule_route_receive(&r, &ctx, rcpts, 6, out), 2);
    CHECK_EQ(out[0].disp, MULE_DISP_LOCAL);
    CHECK_EQ(out[1].disp, MULE_DISP_LOCAL);
    CHECK_EQ(out[2].disp, MULE_DISP_OTHER);
    CHECK_EQ(out[3].disp, MULE_DISP_OTHER);
    CHECK_EQ(out[4].disp, MULE_DISP_OTHER); /* no route: whoever owns it was sent it */
    CHECK_EQ(out[5].disp, MULE_DISP_OTHER);
    /* the relay 10.0.0.9 of the same message (with this table's local domain) */
    ctx.self = N(10, 0, 0, 9);
    CHECK_EQ(mule_route_receive(&r, &ctx, rcpts, 6, out), 2);
    CHECK_EQ(out[0].disp, MULE_DISP_LOCAL);
    CHECK_EQ(out[1].disp, MULE_DISP_OTHER);
    CHECK_EQ(out[3].disp, MULE_DISP_RELAY);
    CHECK_EQ(out[3].next, N(10, 0, 0, 5));
    CHECK_STR(mule_disp_name(out[3].disp), "relay");
    /* listed alone, or with the destinations unknown: the routes still decide,
     * so nothing another node serves is relayed and nothing unroutable bounced */
    ctx.self = N(10, 0, 0, 2);
    ctx.n_dests = 1;
    CHECK_EQ(mule_route_receive(&r, &ctx, rcpts, 6, out), 2);
    CHECK_EQ(out[2].disp, MULE_DISP_OTHER);
    CHECK_EQ(out[3].disp, MULE_DISP_OTHER);
    CHECK_EQ(out[4].disp, MULE_DISP_OTHER);
    CHECK_EQ(out[5].disp, MULE_DISP_OTHER);
    ctx.dests = NULL;
    ctx.n_dests = 0;
    CHECK_EQ(mule_route_receive(&r, &ctx, rcpts, 6, out), 2);
    CHECK_EQ(out[4].disp, MULE_DISP_OTHER);
    mule_routes_free(&r);
}

/* rx_table - the routes of node 10.0.0.2 for the receive-rule tests */
static void rx_table(struct mule_routes *r)
{
    mule_routes_init(r);
    mule_routes_add_local(r, "hq.example.mil");
    mule_routes_add(r, "ship1.example.mil", N(10, 0, 0, 2), 0);                /* self */
    mule_routes_add(r, "ship2.example.mil", N(10, 0, 0, 3), 0);                /* another node */
    mule_routes_add(r, "far.example.org", N(10, 0, 0, 5), N(10, 0, 0, 2));     /* via self */
    mule_routes_add(r, "other.example.org", N(10, 0, 0, 6), N(10, 0, 0, 9));   /* via another */
    mule_routes_add(r, "home.example.org", N(10, 0, 0, 1), N(10, 0, 0, 2));    /* via self, to the source */
}

TEST(receive_rules_ignore_the_number_of_destinations)
{
    struct mule_routes r;
    rx_table(&r);
    const char *rcpts[] = {"a@hq.example.mil",    "b@ship1.example.mil", "c@ship2.example.mil",
                           "d@far.example.org",   "e@other.example.org", "f@home.example.org",
                           "g@nowhere.example"};
    enum { NR = UTIL_ARRAY_LEN(rcpts) };
    static const enum mule_disp want[NR] = {MULE_DISP_LOCAL, MULE_DISP_LOCAL,  MULE_DISP_OTHER,
                                            MULE_DISP_RELAY, MULE_DISP_OTHER,  MULE_DISP_BOUNCE,
                                            MULE_DISP_OTHER};
    const uint32_t self = N(10, 0, 0, 2), src = N(10, 0, 0, 1);
    uint32_t only_self[] = {self};
    uint32_t with_other[] = {self, N(10, 0, 0, 3)};
    uint32_t other_first[] = {N(10, 0, 0, 3), N(10, 0, 0, 5), self, N(10, 0, 0, 9)};
    const struct mule_rx_ctx ctxs[] = {
        {self, src, only_self, 1},  {self, src, with_other, 2}, {self, src, NULL, 0},
        {self, src, other_first, 4}, {self, src, with_other, 0}, /* a count of 0 with a list */
    };
    struct mule_rx_rcpt first[NR];
    for (size_t k = 0; k < UTIL_ARRAY_LEN(ctxs); k++) {
        struct mule_rx_rcpt out[NR];
        size_t h = mule_route_receive(&r, &ctxs[k], rcpts, NR, out);
        CHECK_EQ(h, 4); /* a, b local; d relayed; f bounced */
        for (size_t i = 0; i < NR; i++) {
            if (out[i].disp != want[i])
                printf("# ctx %zu <%s>: %s, want %s\n", k, rcpts[i], mule_disp_name(out[i].disp),
                       mule_disp_name(want[i]));
            CHECK_EQ(out[i].disp, want[i]);
            if (k == 0)
                continue;
            CHECK_EQ(out[i].disp, first[i].disp);
            CHECK_EQ(out[i].next, first[i].next);
            CHECK((out[i].status == NULL) == (first[i].status == NULL));
            if (out[i].status && first[i].status)
                CHECK_STR(out[i].status, first[i].status);
        }
        if (k == 0)
            memcpy(first, out, sizeof first);
    }
    CHECK_EQ(first[3].next, N(10, 0, 0, 5)); /* relayed to the route's node */
    CHECK_STR(first[5].status, "5.4.6");     /* relaying it back to its source is a loop */
    CHECK(first[5].reason != NULL);
    CHECK(first[6].status == NULL && first[6].reason == NULL);
    mule_routes_free(&r);
}

TEST(node_back_from_offline_does_not_relay_another_nodes_recipient)
{
    /* 10.0.0.1 sent one message to 10.0.0.2 (b@ship1) and 10.0.0.3 (c@ship2).
     * 10.0.0.3 acknowledged; 10.0.0.2 was off the air and comes back.  The
     * retransmitted Address_PDU lists only 10.0.0.2: it must still deliver
     * only b, not relay c over HF (10.0.0.3 delivered it already). */
    struct mule_routes r;
    rx_table(&r);
    const char *rcpts[] = {"b@ship1.example.mil", "c@ship2.example.mil"};
    uint32_t first_round[] = {N(10, 0, 0, 2), N(10, 0, 0, 3)};
    uint32_t retransmission[] = {N(10, 0, 0, 2)};
    struct mule_rx_ctx ctx = {N(10, 0, 0, 2), N(10, 0, 0, 1), retransmission, 1};
    struct mule_rx_rcpt out[2];
    CHECK_EQ(mule_route_receive(&r, &ctx, rcpts, 2, out), 1);
    CHECK_EQ(out[0].disp, MULE_DISP_LOCAL);
    CHECK_EQ(out[1].disp, MULE_DISP_OTHER);
    CHECK_EQ(out[1].next, 0);
    /* the same as had it heard the first round */
    ctx.dests = first_round;
    ctx.n_dests = 2;
    CHECK_EQ(mule_route_receive(&r, &ctx, rcpts, 2, out), 1);
    CHECK_EQ(out[1].disp, MULE_DISP_OTHER);
    mule_routes_free(&r);
}

TEST(relay_via_self_and_loop_bounce)
{
    struct mule_routes r;
    rx_table(&r);
    const char *rcpts[] = {"d@far.example.org", "f@home.example.org"};
    struct mule_rx_rcpt out[2];
    uint32_t alone[] = {N(10, 0, 0, 2)};
    /* from 10.0.0.1: d goes on to 10.0.0.5; f would go back to 10.0.0.1 */
    struct mule_rx_ctx ctx = {N(10, 0, 0, 2), N(10, 0, 0, 1), alone, 1};
    CHECK_EQ(mule_route_receive(&r, &ctx, rcpts, 2, out), 2);
    CHECK_EQ(out[0].disp, MULE_DISP_RELAY);
    CHECK_EQ(out[0].next, N(10, 0, 0, 5));
    CHECK_EQ(out[1].disp, MULE_DISP_BOUNCE);
    CHECK_STR(out[1].status, "5.4.6");
    /* from 10.0.0.5 itself: d is the loop now, f is relayed to 10.0.0.1 */
    ctx.source = N(10, 0, 0, 5);
    CHECK_EQ(mule_route_receive(&r, &ctx, rcpts, 2, out), 2);
    CHECK_EQ(out[0].disp, MULE_DISP_BOUNCE);
    CHECK_STR(out[0].status, "5.4.6");
    CHECK_EQ(out[1].disp, MULE_DISP_RELAY);
    CHECK_EQ(out[1].next, N(10, 0, 0, 1));
    /* source unknown (0): relays, no loop to detect */
    ctx.source = 0;
    CHECK_EQ(mule_route_receive(&r, &ctx, rcpts, 2, out), 2);
    CHECK_EQ(out[0].disp, MULE_DISP_RELAY);
    CHECK_EQ(out[1].disp, MULE_DISP_RELAY);
    mule_routes_free(&r);
}

/* dump_plan - one line per group of a plan */
static void dump_plan(struct util_buf *b, const struct mule_plan *p, const char *const *rcpts)
{
    char node[MULE_NODE_STRLEN];
    for (size_t g = 0; g < p->n_groups; g++) {
        util_buf_printf(b, "  message %zu to", g + 1);
        for (size_t k = 0; k < p->groups[g].n_nodes; k++)
            util_buf_printf(b, " %s", mule_node_format(p->groups[g].nodes[k], node, sizeof node));
        util_buf_printf(b, ":");
        for (size_t k = 0; k < p->groups[g].n_rcpt; k++)
            util_buf_printf(b, " <%s>", rcpts[p->groups[g].rcpt[k]]);
        util_buf_printf(b, "\n");
    }
    for (size_t k = 0; k < p->n_local; k++)
        util_buf_printf(b, "  local <%s>\n", rcpts[p->local[k]]);
    for (size_t k = 0; k < p->n_unroutable; k++)
        util_buf_printf(b, "  unroutable <%s>\n", rcpts[p->unroutable[k]]);
}

TEST(routing_report_matches_golden)
{
    struct mule_config cfg;
    char err[256], node[MULE_NODE_STRLEN], via[MULE_NODE_STRLEN];
    CHECK_EQ(load(conf_text, &cfg, err, sizeof err), 0);
    const char *rcpts[] = {"a@ship2.example.mil",   "b@ship1.example.mil", "c@hq.example.mil",
                           "d@x.fleet.example.mil", "e@far.example.org",   "f@elsewhere.net",
                           "g@EXAMPLE.mil"};
    struct util_buf b;
    util_buf_init(&b, 0);
    util_buf_printf(&b, "# lookups\n");
    for (size_t i = 0; i < UTIL_ARRAY_LEN(rcpts); i++) {
        const struct mule_route *rt = mule_route_lookup(&cfg.routes, mule_address_domain(rcpts[i]));
        util_buf_printf(&b, "<%s> route=%s node=%s via=%s\n", rcpts[i], rt ? rt->pattern : "-",
                        rt ? mule_node_format(rt->node, node, sizeof node) : "-",
                        rt && rt->via ? mule_node_format(rt->via, via, sizeof via) : "-");
    }
    struct mule_plan p;
    for (int split = 0; split <= 1; split++) {
        util_buf_printf(&b, "# plan at 10.0.0.100, split=%s\n", split ? "yes" : "no");
        CHECK_EQ(
            mule_route_plan(&cfg.routes, N(10, 0, 0, 100), rcpts, UTIL_ARRAY_LEN(rcpts), split, &p),
            0);
        dump_plan(&b, &p, rcpts);
        mule_plan_free(&p);
    }
    /* each receiver of the unsplit message, and the relay as sole destination
     * (the same as in the group: the number of destinations decides nothing);
     * a receiver has the same routes but not the sender's local domains */
    size_t n_local = cfg.routes.n_local;
    cfg.routes.n_local = 0;
    static const uint32_t dests[] = {N(10, 0, 0, 1), N(10, 0, 0, 2), N(10, 0, 0, 3), N(10, 0, 0, 4),
                                     N(10, 0, 0, 9)};
    for (size_t k = 0; k <= UTIL_ARRAY_LEN(dests); k++) {
        bool alone = k == UTIL_ARRAY_LEN(dests);
        struct mule_rx_ctx ctx = {alone ? N(10, 0, 0, 9) : dests[k], N(10, 0, 0, 100), dests,
                                  alone ? 1 : UTIL_ARRAY_LEN(dests)};
        if (alone)
            ctx.dests = &dests[4];
        struct mule_rx_rcpt out[UTIL_ARRAY_LEN(rcpts)];
        size_t h = mule_route_receive(&cfg.routes, &ctx, rcpts, UTIL_ARRAY_LEN(rcpts), out);
        util_buf_printf(&b, "# receive at %s%s: %zu handled\n",
                        mule_node_format(ctx.self, node, sizeof node),
                        alone ? " (sole destination)" : "", h);
        for (size_t i = 0; i < UTIL_ARRAY_LEN(rcpts); i++) {
            if (out[i].disp == MULE_DISP_OTHER)
                continue;
            util_buf_printf(&b, "  <%s> %s", rcpts[i], mule_disp_name(out[i].disp));
            if (out[i].disp == MULE_DISP_RELAY)
                util_buf_printf(&b, " to %s", mule_node_format(out[i].next, node, sizeof node));
            if (out[i].disp == MULE_DISP_BOUNCE)
                util_buf_printf(&b, " %s (%s)", out[i].status, out[i].reason);
            util_buf_printf(&b, "\n");
        }
    }
    cfg.routes.n_local = n_local;
    CHECK(golden_check("routing_report.txt", b.data, b.len));
    util_buf_free(&b);
    mule_config_free(&cfg);
}

/* main - run the routing tests */
int main(void)
{
    RUN(routing_report_matches_golden);
    RUN(node_ids);
    RUN(lookup_from_config);
    RUN(config_errors_name_file_line_key);
    RUN(compress_zopfli_in_the_config);
    RUN(plan_with_and_without_split);
    RUN(receive_dispositions);
    RUN(receive_rules_ignore_the_number_of_destinations);
    RUN(node_back_from_offline_does_not_relay_another_nodes_recipient);
    RUN(relay_via_self_and_loop_bounce);
    return harness_done();
}
