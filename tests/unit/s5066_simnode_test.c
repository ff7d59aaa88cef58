/* s5066_simnode_test.c - the per-node SIS server engine of s5066sim
 * (s5066/sim_node.c) over the channel model, in virtual time: STANAG 5066
 * Annex A from the server side - BIND_ACCEPTED with the MTU, BIND_REJECTED
 * reasons 2 and 3, UNIDATA to CONFIRM / REJECTED (4 over the MTU, 5 no tx
 * mode), KEEP_ALIVE, UNBIND_INDICATION reason 3 after too many invalid
 * primitives, SUBNET_AVAILABILITY for EMCON, DATAFLOW_OFF/ON, tx mode 3;
 * room for connections: per address and per node, the most idle connection
 * (unbound first, then bound and silent longest: UNBIND_INDICATION reason 2)
 * closed for a newcomer, or the newcomer refused, and the lines about it
 * rate-limited per address.
 * What the server sends is encoded and decoded again, so the bytes are the
 * codec's.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "s5066/s5066.h"

/* A fake connection: the encoded primitives the server sent to it. */
struct conn {
    uint8_t out[65536];
    size_t len, pos;
    bool closed;
    struct s5066_simclient *client;
};

static int encode_errors;
static char logged[16384]; /* log lines, for asserting what was logged */

/* t_sink - keep log lines */
static void t_sink(void *user, enum util_log_level level, enum util_log_module module,
                   const char *line)
{
    (void)user;
    (void)level;
    (void)module;
    size_t n = strlen(logged);
    snprintf(logged + n, sizeof logged - n, "%s\n", line);
}

/* t_send - the server's send callback: encode into the connection */
static void t_send(void *user, void *connp, const struct s5066_prim *p)
{
    (void)user;
    struct conn *c = connp;
    int n = s5066_encode(p, c->out + c->len, sizeof c->out - c->len);
    if (n < 0)
        encode_errors++;
    else
        c->len += (size_t)n;
}

/* t_close - the server's close callback */
static void t_close(void *user, void *connp)
{
    (void)user;
    struct conn *c = connp;
    c->closed = true;
    c->client = NULL;
}

static const struct s5066_simnode_callbacks CB = {t_send, t_close};

/* next - the next primitive the connection got: 1, or 0 if none */
static int next(struct conn *c, struct s5066_prim *p)
{
    if (c->pos >= c->len)
        return 0;
    int n = s5066_decode(c->out + c->pos, c->len - c->pos, p);
    CHECK(n > 0);
    if (n <= 0)
        return 0;
    c->pos += (size_t)n;
    return 1;
}

/* expect - the next primitive must be of this type */
static struct s5066_prim expect(struct conn *c, int type)
{
    struct s5066_prim p;
    memset(&p, 0, sizeof p);
    if (!next(c, &p)) {
        printf("# expected %s, got nothing\n", s5066_type_name(type));
        CHECK(0);
        return p;
    }
    if (p.type != type)
        printf("# expected %s, got %s\n", s5066_type_name(type), s5066_type_name(p.type));
    CHECK_EQ(p.type, type);
    return p;
}

/* nothing - the connection got nothing more */
static void nothing(struct conn *c)
{
    struct s5066_prim p;
    if (next(c, &p)) {
        printf("# unexpected %s\n", s5066_type_name(p.type));
        CHECK(0);
    }
}

struct net {
    struct s5066_channel *ch;
    struct s5066_simnode *node[3];
};

/* net_new - three nodes 0.0.0.1..3 (the third in EMCON if asked), all in group 16.0.0.1 */
static void net_new(struct net *net, const struct s5066_channel_params *cp, uint16_t mtu,
                    bool emcon3)
{
    struct s5066_channel_callbacks cb = {0};
    s5066_simnode_channel_callbacks(&cb);
    net->ch = s5066_channel_new(cp, &cb, NULL);
    CHECK(net->ch != NULL);
    struct s5066_addr group = s5066_addr_make(1, true);
    for (int i = 0; i < 3; i++) {
        struct s5066_simnode_params p;
        s5066_simnode_params_default(&p);
        char name[8];
        snprintf(name, sizeof name, "n%d", i + 1);
        p.name = name;
        p.addr = s5066_addr_make((uint32_t)i + 1, false);
        p.groups = &group;
        p.n_groups = 1;
        p.emcon = emcon3 && i == 2;
        p.mtu = mtu;
        p.saps = 0xFFFF & ~(1u << 9); /* SAP 9 is not for clients */
        net->node[i] = s5066_simnode_new(net->ch, &p, &CB, NULL);
        CHECK(net->node[i] != NULL);
        CHECK_EQ(s5066_simnode_index(net->node[i]), i);
    }
}

/* net_free - release the network */
static void net_free(struct net *net)
{
    for (int i = 0; i < 3; i++)
        s5066_simnode_free(net->node[i]);
    s5066_channel_free(net->ch);
}

/* default_params - 2400 bps, no loss */
static struct s5066_channel_params default_params(void)
{
    struct s5066_channel_params p;
    s5066_channel_params_default(&p);
    return p;
}

/* input - hand a primitive to the server (encoded and decoded first, as from the wire) */
static void input(struct conn *c, util_ms now, const struct s5066_prim *p)
{
    uint8_t buf[8192];
    int n = s5066_encode(p, buf, sizeof buf);
    CHECK(n > 0);
    struct s5066_prim d;
    CHECK_EQ(s5066_decode(buf, (size_t)n, &d), n);
    s5066_simclient_input(c->client, now, &d);
}

/* do_bind - a BIND_REQUEST */
static void do_bind(struct conn *c, util_ms now, uint8_t sap, uint8_t rank, uint8_t mode,
                    uint8_t confirm)
{
    struct s5066_prim p;
    s5066_prim_init(&p, S5066_BIND_REQUEST);
    p.u.bind_request.sap = sap;
    p.u.bind_request.rank = rank;
    p.u.bind_request.service.tx_mode = mode;
    p.u.bind_request.service.confirm = confirm;
    input(c, now, &p);
}

/* attach - a connection to node i */
static void attach(struct net *net, int i, struct conn *c)
{
    memset(c, 0, sizeof *c);
    c->client = s5066_simnode_attach(net->node[i], 0, c, "test");
    CHECK(c->client != NULL);
}

/* unidata - a UNIDATA_REQUEST */
static void unidata(struct conn *c, util_ms now, const char *dest, uint8_t sap, uint8_t mode,
                    uint8_t confirm, const uint8_t *data, size_t len)
{
    struct s5066_prim p;
    s5066_prim_init(&p, S5066_UNIDATA_REQUEST);
    CHECK_EQ(s5066_addr_parse(dest, &p.u.req.dest), 0);
    p.u.req.sap = sap;
    p.u.req.priority = 3;
    p.u.req.mode.tx_mode = mode;
    p.u.req.mode.confirm = confirm;
    p.u.req.updu = data;
    p.u.req.updu_len = len;
    input(c, now, &p);
}

/* run - advance the channel until idle; the final time */
static util_ms run(struct net *net, util_ms now)
{
    for (int i = 0; i < 100000; i++) {
        util_ms t = s5066_channel_next_expiry(net->ch);
        if (t == UTIL_MS_NEVER)
            break;
        now = t > now ? t : now;
        s5066_channel_run(net->ch, now);
    }
    return now;
}

TEST(bind_accepted_with_mtu)
{
    struct net net;
    struct s5066_channel_params cp = default_params();
    net_new(&net, &cp, 2048, false);
    struct conn a;
    attach(&net, 0, &a);
    do_bind(&a, 0, 2, 0, S5066_TX_ARQ, 1);
    struct s5066_prim p = expect(&a, S5066_BIND_ACCEPTED);
    CHECK_EQ(p.u.bind_accepted.sap, 2);
    CHECK_EQ(p.u.bind_accepted.mtu, 2048);
    nothing(&a);
    net_free(&net);
    /* a broadcast node may have up to 4096 */
    net_new(&net, &cp, 4096, false);
    attach(&net, 1, &a);
    do_bind(&a, 0, 6, 0, S5066_TX_NON_ARQ, 0);
    p = expect(&a, S5066_BIND_ACCEPTED);
    CHECK_EQ(p.u.bind_accepted.sap, 6);
    CHECK_EQ(p.u.bind_accepted.mtu, 4096);
    net_free(&net);
    CHECK_EQ(encode_errors, 0);
}

TEST(second_bind_on_sap_rejected_3)
{
    struct net net;
    struct s5066_channel_params cp = default_params();
    net_new(&net, &cp, 2048, false);
    struct conn a, b;
    attach(&net, 0, &a);
    attach(&net, 0, &b);
    CHECK_EQ(s5066_simnode_clients(net.node[0]), 2);
    do_bind(&a, 0, 2, 0, S5066_TX_ARQ, 0);
    expect(&a, S5066_BIND_ACCEPTED);
    do_bind(&b, 0, 2, 0, S5066_TX_ARQ, 0);
    struct s5066_prim p = expect(&b, S5066_BIND_REJECTED);
    CHECK_EQ(p.u.reason.reason, S5066_BIND_REJ_SAP_IN_USE);
    /* another node's SAP 2 is free */
    struct conn c;
    attach(&net, 1, &c);
    do_bind(&c, 0, 2, 0, S5066_TX_ARQ, 0);
    expect(&c, S5066_BIND_ACCEPTED);
    /* a SAP the node does not offer */
    do_bind(&b, 0, 9, 0, S5066_TX_ARQ, 0);
    p = expect(&b, S5066_BIND_REJECTED);
    CHECK_EQ(p.u.reason.reason, S5066_BIND_REJ_INVALID_SAP);
    /* once the first client goes, the SAP is free */
    s5066_simclient_detach(a.client);
    do_bind(&b, 0, 2, 0, S5066_TX_ARQ, 0);
    expect(&b, S5066_BIND_ACCEPTED);
    /* UNBIND_REQUEST frees it too */
    struct s5066_prim u;
    s5066_prim_init(&u, S5066_UNBIND_REQUEST);
    input(&b, 0, &u);
    nothing(&b);
    attach(&net, 0, &a);
    do_bind(&a, 0, 2, 0, S5066_TX_ARQ, 0);
    expect(&a, S5066_BIND_ACCEPTED);
    net_free(&net);
}

TEST(unicast_indication_and_confirm)
{
    struct net net;
    struct s5066_channel_params cp = default_params();
    net_new(&net, &cp, 2048, false);
    struct conn a, b, c;
    attach(&net, 0, &a);
    attach(&net, 1, &b);
    attach(&net, 2, &c);
    do_bind(&a, 0, 2, 0, S5066_TX_ARQ, 1);
    do_bind(&b, 0, 2, 0, S5066_TX_ARQ, 0);
    do_bind(&c, 0, 2, 0, S5066_TX_ARQ, 0);
    expect(&a, S5066_BIND_ACCEPTED);
    expect(&b, S5066_BIND_ACCEPTED);
    expect(&c, S5066_BIND_ACCEPTED);
    /* tx mode 0: the bind's ARQ with confirmation */
    unidata(&a, 10, "0.0.0.2", 2, S5066_TX_DEFAULT, 0, (const uint8_t *)"hello", 5);
    nothing(&b);
    run(&net, 10);
    struct s5066_prim p = expect(&b, S5066_UNIDATA_INDICATION);
    CHECK_EQ(p.u.ind.src.addr, 1);
    CHECK_EQ(p.u.ind.src_sap, 2);
    CHECK_EQ(p.u.ind.dest.addr, 2);
    CHECK_EQ(p.u.ind.dest_sap, 2);
    CHECK_EQ(p.u.ind.tx_mode, S5066_TX_ARQ);
    CHECK_EQ(p.u.ind.priority, 3);
    CHECK_MEM(p.u.ind.updu, p.u.ind.updu_len, "hello", 5);
    p = expect(&a, S5066_UNIDATA_REQUEST_CONFIRM);
    CHECK_EQ(p.u.result.sap, 2);
    CHECK_EQ(p.u.result.dest.addr, 2);
    CHECK_MEM(p.u.result.updu, p.u.result.updu_len, "hello", 5);
    nothing(&c);
    /* non-ARQ to the group: the two members, no CONFIRM */
    unidata(&b, 20000, "16.0.0.1", 2, S5066_TX_NON_ARQ, 0, (const uint8_t *)"group", 5);
    run(&net, 20000);
    p = expect(&a, S5066_UNIDATA_INDICATION);
    CHECK(p.u.ind.dest.group && p.u.ind.dest.addr == 1);
    CHECK_EQ(p.u.ind.src.addr, 2);
    CHECK_EQ(p.u.ind.tx_mode, S5066_TX_NON_ARQ);
    p = expect(&c, S5066_UNIDATA_INDICATION);
    CHECK_EQ(p.u.ind.src.addr, 2);
    nothing(&a);
    nothing(&b);
    nothing(&c);
    /* ARQ to a node whose SAP nobody bound: REJECTED 2 */
    unidata(&a, 40000, "0.0.0.3", 7, S5066_TX_ARQ, 1, (const uint8_t *)"x", 1);
    run(&net, 40000);
    p = expect(&a, S5066_UNIDATA_REQUEST_REJECTED);
    CHECK_EQ(p.u.result.reason, S5066_REJ_SAP_NOT_BOUND);
    CHECK_EQ(p.u.result.sap, 7);
    net_free(&net);
}

TEST(requests_rejected_as_annex_a_says)
{
    struct net net;
    struct s5066_channel_params cp = default_params();
    net_new(&net, &cp, 2048, false);
    struct conn a;
    attach(&net, 0, &a);
    do_bind(&a, 0, 2, 0, S5066_TX_DEFAULT, 0);
    expect(&a, S5066_BIND_ACCEPTED);
    static uint8_t big[2049];
    memset(big, 0x55, sizeof big);
    unidata(&a, 0, "0.0.0.2", 2, S5066_TX_ARQ, 1, big, 2049);
    struct s5066_prim p = expect(&a, S5066_UNIDATA_REQUEST_REJECTED);
    CHECK_EQ(p.u.result.reason, S5066_REJ_UPDU_TOO_LARGE);
    CHECK_EQ(p.u.result.dest.addr, 2);
    CHECK_EQ(p.u.result.sap, 2);
    CHECK(p.u.result.updu_len > 0 && p.u.result.updu_len <= 2048);
    /* exactly the MTU is fine */
    unidata(&a, 0, "0.0.0.2", 2, S5066_TX_NON_ARQ, 0, big, 2048);
    nothing(&a);
    /* no tx mode in the request nor in the bind */
    unidata(&a, 0, "0.0.0.2", 2, S5066_TX_DEFAULT, 0, big, 10);
    p = expect(&a, S5066_UNIDATA_REQUEST_REJECTED);
    CHECK_EQ(p.u.result.reason, S5066_REJ_TX_MODE_NOT_SPECIFIED);
    /* ARQ to a group */
    unidata(&a, 0, "16.0.0.1", 2, S5066_TX_ARQ, 0, big, 10);
    p = expect(&a, S5066_UNIDATA_REQUEST_REJECTED);
    CHECK_EQ(p.u.result.reason, S5066_REJ_UNKNOWN);
    CHECK(p.u.result.dest.group);
    /* the expedited form answers in the expedited form */
    struct s5066_prim q;
    s5066_prim_init(&q, S5066_EXPEDITED_UNIDATA_REQUEST);
    q.u.req.dest = s5066_addr_make(2, false);
    q.u.req.sap = 2;
    q.u.req.mode.tx_mode = S5066_TX_ARQ;
    q.u.req.updu = big;
    q.u.req.updu_len = 2049;
    input(&a, 0, &q);
    p = expect(&a, S5066_EXPEDITED_UNIDATA_REQUEST_REJECTED);
    CHECK_EQ(p.u.result.reason, S5066_REJ_UPDU_TOO_LARGE);
    nothing(&a);
    net_free(&net);
}

TEST(keep_alive_answered)
{
    struct net net;
    struct s5066_channel_params cp = default_params();
    net_new(&net, &cp, 2048, false);
    struct conn a;
    attach(&net, 0, &a);
    struct s5066_prim k;
    s5066_prim_init(&k, S5066_KEEP_ALIVE);
    input(&a, 1000, &k); /* answered even before BIND */
    expect(&a, S5066_KEEP_ALIVE);
    input(&a, 60000, &k); /* not more often than every 120 s */
    nothing(&a);
    input(&a, 121000, &k);
    expect(&a, S5066_KEEP_ALIVE);
    net_free(&net);
}

TEST(too_many_invalid_primitives_unbind_3)
{
    struct net net;
    struct s5066_channel_params cp = default_params();
    net_new(&net, &cp, 2048, false);
    struct conn a;
    attach(&net, 0, &a);
    do_bind(&a, 0, 2, 0, S5066_TX_ARQ, 0);
    expect(&a, S5066_BIND_ACCEPTED);
    struct s5066_prim p;
    logged[0] = 0;
    s5066_prim_init(&p, S5066_BIND_ACCEPTED); /* a server's primitive */
    input(&a, 0, &p);
    s5066_simclient_error(a.client, 0, S5066_ERR_SIZE_MISMATCH);
    s5066_prim_init(&p, S5066_DATAFLOW_OFF);
    input(&a, 0, &p);
    s5066_prim_init(&p, S5066_MANAGEMENT_MSG_REQUEST); /* below rank 15 */
    input(&a, 0, &p);
    nothing(&a);
    CHECK(!a.closed);
    /* each kind logged once: DATAFLOW_OFF is "unexpected" like BIND_ACCEPTED */
    int lines = 0;
    for (const char *q = logged; (q = strstr(q, "sim pdu-bad")) != NULL; q++)
        lines++;
    CHECK_EQ(lines, 3);
    CHECK_CONTAINS(logged, "what=unexpected type=S_BIND_ACCEPTED count=1");
    CHECK_CONTAINS(logged, "what=management-below-rank-15");
    logged[0] = 0;
    s5066_simclient_error(a.client, 0, S5066_ERR_UNKNOWN_TYPE); /* the 5th */
    /* a second undecodable one: its kind was logged already, the unbind line counts */
    CHECK(strstr(logged, "sim pdu-bad") == NULL);
    CHECK_CONTAINS(logged, "sim unbind-indication node=n1 peer=test reason=3");
    CHECK_CONTAINS(logged, "bad=5 max=5 last=undecodable");
    p = expect(&a, S5066_UNBIND_INDICATION);
    CHECK_EQ(p.u.reason.reason, S5066_UNBIND_INVALID_PRIMITIVES);
    nothing(&a);
    CHECK(a.closed);
    CHECK(a.client == NULL);
    CHECK_EQ(s5066_simnode_clients(net.node[0]), 0);
    /* its SAP is free again */
    struct conn b;
    attach(&net, 0, &b);
    do_bind(&b, 0, 2, 0, S5066_TX_ARQ, 0);
    expect(&b, S5066_BIND_ACCEPTED);
    /* data before BIND counts too */
    struct conn c;
    attach(&net, 0, &c);
    for (int i = 0; i < 5; i++)
        unidata(&c, 0, "0.0.0.2", 2, S5066_TX_ARQ, 0, (const uint8_t *)"x", 1);
    p = expect(&c, S5066_UNBIND_INDICATION);
    CHECK_EQ(p.u.reason.reason, S5066_UNBIND_INVALID_PRIMITIVES);
    CHECK(c.closed);
    net_free(&net);
}

TEST(emcon_availability_and_management)
{
    struct net net;
    struct s5066_channel_params cp = default_params();
    net_new(&net, &cp, 2048, true);
    struct conn e, m, a;
    attach(&net, 2, &e);
    do_bind(&e, 0, 2, 0, S5066_TX_ARQ, 0);
    expect(&e, S5066_BIND_ACCEPTED);
    struct s5066_prim p = expect(&e, S5066_SUBNET_AVAILABILITY);
    CHECK_EQ(p.u.avail.status, S5066_SUBNET_RECEIVE_ONLY);
    CHECK_EQ(p.u.avail.reason, S5066_SUBNET_REASON_EMCON);
    attach(&net, 0, &a);
    do_bind(&a, 0, 2, 0, S5066_TX_ARQ, 0);
    expect(&a, S5066_BIND_ACCEPTED);
    nothing(&a);
    /* the EMCON node holds what its client sends */
    unidata(&e, 0, "0.0.0.1", 2, S5066_TX_NON_ARQ, 0, (const uint8_t *)"held", 4);
    run(&net, 0);
    s5066_channel_run(net.ch, 600000);
    nothing(&a);
    /* a rank-15 client ends EMCON */
    attach(&net, 2, &m);
    do_bind(&m, 600000, 0, 15, S5066_TX_ARQ, 0);
    expect(&m, S5066_BIND_ACCEPTED);
    expect(&m, S5066_SUBNET_AVAILABILITY);
    struct s5066_prim q;
    s5066_prim_init(&q, S5066_MANAGEMENT_MSG_REQUEST);
    q.u.mgmt.msg_type = S5066_SIM_MGMT_EMCON;
    uint8_t off = 0;
    q.u.mgmt.body = &off;
    q.u.mgmt.body_len = 1;
    input(&m, 600000, &q);
    p = expect(&e, S5066_SUBNET_AVAILABILITY);
    CHECK_EQ(p.u.avail.status, S5066_SUBNET_ON);
    p = expect(&m, S5066_SUBNET_AVAILABILITY);
    CHECK_EQ(p.u.avail.status, S5066_SUBNET_ON);
    run(&net, 600000);
    p = expect(&a, S5066_UNIDATA_INDICATION);
    CHECK_MEM(p.u.ind.updu, p.u.ind.updu_len, "held", 4);
    CHECK_EQ(p.u.ind.src.addr, 3);
    net_free(&net);
}

TEST(dataflow_off_and_on)
{
    struct net net;
    struct s5066_channel_params cp = default_params();
    cp.max_queue = 4000;
    net_new(&net, &cp, 2048, true);
    struct conn e;
    attach(&net, 2, &e);
    do_bind(&e, 0, 2, 0, S5066_TX_NON_ARQ, 0);
    expect(&e, S5066_BIND_ACCEPTED);
    expect(&e, S5066_SUBNET_AVAILABILITY);
    static uint8_t data[1000];
    for (int i = 0; i < 3; i++)
        unidata(&e, 0, "16.0.0.1", 2, S5066_TX_NON_ARQ, 0, data, sizeof data);
    nothing(&e);
    unidata(&e, 0, "16.0.0.1", 2, S5066_TX_NON_ARQ, 0, data, sizeof data);
    expect(&e, S5066_DATAFLOW_OFF);
    /* a client binding now learns it at once */
    struct conn f;
    attach(&net, 2, &f);
    do_bind(&f, 0, 3, 0, S5066_TX_NON_ARQ, 0);
    expect(&f, S5066_BIND_ACCEPTED);
    expect(&f, S5066_SUBNET_AVAILABILITY);
    expect(&f, S5066_DATAFLOW_OFF);
    /* past twice the limit: REJECTED */
    for (int i = 0; i < 4; i++)
        unidata(&e, 0, "16.0.0.1", 2, S5066_TX_NON_ARQ, 0, data, sizeof data);
    nothing(&e);
    unidata(&e, 0, "16.0.0.1", 2, S5066_TX_NON_ARQ, 0, data, sizeof data);
    expect(&e, S5066_UNIDATA_REQUEST_REJECTED);
    /* out of EMCON the queue drains: DATAFLOW_ON */
    s5066_simnode_set_emcon(net.node[2], 1000, false);
    expect(&e, S5066_SUBNET_AVAILABILITY);
    run(&net, 1000);
    expect(&e, S5066_DATAFLOW_ON);
    nothing(&e);
    expect(&f, S5066_SUBNET_AVAILABILITY);
    expect(&f, S5066_DATAFLOW_ON);
    net_free(&net);
}

TEST(tx_mode_3_indication_with_errors)
{
    struct net net;
    struct s5066_channel_params cp = default_params();
    cp.loss = 1.0;
    cp.bit_errors = true;
    net_new(&net, &cp, 2048, false);
    struct conn a, b, c;
    attach(&net, 0, &a);
    attach(&net, 1, &b);
    attach(&net, 2, &c);
    do_bind(&a, 0, 2, 0, S5066_TX_NON_ARQ, 0);
    do_bind(&b, 0, 2, 0, S5066_TX_NON_ARQ_ERRORS, 0); /* takes U_PDUs with errors */
    do_bind(&c, 0, 2, 0, S5066_TX_NON_ARQ, 0);        /* does not */
    expect(&a, S5066_BIND_ACCEPTED);
    expect(&b, S5066_BIND_ACCEPTED);
    expect(&c, S5066_BIND_ACCEPTED);
    static uint8_t data[400];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)i;
    unidata(&a, 0, "16.0.0.1", 2, S5066_TX_NON_ARQ, 0, data, sizeof data);
    run(&net, 0);
    struct s5066_prim p = expect(&b, S5066_UNIDATA_INDICATION);
    CHECK_EQ(p.u.ind.tx_mode, S5066_TX_NON_ARQ_ERRORS);
    CHECK(p.u.ind.n_err >= 1);
    CHECK_EQ(p.u.ind.n_nrx, 0);
    CHECK_EQ(p.u.ind.updu_len, sizeof data);
    for (size_t i = 0; i < p.u.ind.n_err; i++) {
        struct s5066_block blk = s5066_block_at(p.u.ind.err_blocks, i);
        CHECK(blk.size > 0 && (size_t)blk.pos + blk.size <= sizeof data);
        CHECK(memcmp(p.u.ind.updu + blk.pos, data + blk.pos, blk.size) != 0);
    }
    CHECK(memcmp(p.u.ind.updu, data, sizeof data) != 0);
    nothing(&c);
    /* intact, a mode-3 U_PDU is indicated in mode 2, without block lists */
    net_free(&net);
    cp.loss = 0.0;
    net_new(&net, &cp, 2048, false);
    attach(&net, 0, &a);
    attach(&net, 1, &b);
    attach(&net, 2, &c);
    do_bind(&a, 0, 2, 0, S5066_TX_NON_ARQ, 0);
    do_bind(&b, 0, 2, 0, S5066_TX_NON_ARQ_ERRORS, 0);
    do_bind(&c, 0, 2, 0, S5066_TX_NON_ARQ, 0);
    expect(&a, S5066_BIND_ACCEPTED);
    expect(&b, S5066_BIND_ACCEPTED);
    expect(&c, S5066_BIND_ACCEPTED);
    unidata(&a, 0, "0.0.0.2", 2, S5066_TX_NON_ARQ_ERRORS, 0, data, 100);
    run(&net, 0);
    p = expect(&b, S5066_UNIDATA_INDICATION);
    CHECK_EQ(p.u.ind.tx_mode, S5066_TX_NON_ARQ);
    CHECK_EQ(p.u.ind.n_err, 0);
    CHECK_MEM(p.u.ind.updu, p.u.ind.updu_len, data, 100);
    net_free(&net);
    cp.loss = 1.0;
    net_new(&net, &cp, 2048, false);
    attach(&net, 1, &b);
    attach(&net, 2, &c);
    do_bind(&b, 0, 2, 0, S5066_TX_NON_ARQ_ERRORS, 0);
    do_bind(&c, 0, 2, 0, S5066_TX_NON_ARQ, 0);
    expect(&b, S5066_BIND_ACCEPTED);
    expect(&c, S5066_BIND_ACCEPTED);
    /* sent in tx mode 3, even a mode-1 client gets the corrupted copy */
    unidata(&b, 10000, "0.0.0.3", 2, S5066_TX_NON_ARQ_ERRORS, 0, data, 100);
    run(&net, 10000);
    p = expect(&c, S5066_UNIDATA_INDICATION);
    CHECK_EQ(p.u.ind.tx_mode, S5066_TX_NON_ARQ_ERRORS);
    CHECK(p.u.ind.n_err >= 1);
    net_free(&net);
}

TEST(result_for_a_departed_client_is_dropped)
{
    struct net net;
    struct s5066_channel_params cp = default_params();
    net_new(&net, &cp, 2048, false);
    struct conn a, b;
    attach(&net, 0, &a);
    attach(&net, 1, &b);
    do_bind(&a, 0, 2, 0, S5066_TX_ARQ, 1);
    do_bind(&b, 0, 2, 0, S5066_TX_ARQ, 0);
    expect(&a, S5066_BIND_ACCEPTED);
    expect(&b, S5066_BIND_ACCEPTED);
    unidata(&a, 0, "0.0.0.2", 2, S5066_TX_ARQ, 1, (const uint8_t *)"bye", 3);
    s5066_simclient_detach(a.client);
    /* a new client on the same SAP must not get the old one's CONFIRM */
    struct conn a2;
    attach(&net, 0, &a2);
    do_bind(&a2, 0, 2, 0, S5066_TX_ARQ, 1);
    expect(&a2, S5066_BIND_ACCEPTED);
    run(&net, 0);
    expect(&b, S5066_UNIDATA_INDICATION);
    nothing(&a2);
    net_free(&net);
}

/* ---- room for connections ------------------------------------------------------ */

/* limits_net - one node 0.0.0.1 with these limits (and a second, 0.0.0.2, with the defaults) */
static void limits_net(struct net *net, unsigned max_clients, unsigned per_address, bool refuse)
{
    struct s5066_channel_callbacks cb = {0};
    s5066_simnode_channel_callbacks(&cb);
    struct s5066_channel_params cp = default_params();
    net->ch = s5066_channel_new(&cp, &cb, NULL);
    CHECK(net->ch != NULL);
    for (int i = 0; i < 2; i++) {
        struct s5066_simnode_params p;
        s5066_simnode_params_default(&p);
        p.name = i == 0 ? "n1" : "n2";
        p.addr = s5066_addr_make((uint32_t)i + 1, false);
        if (i == 0) {
            p.max_clients = max_clients;
            p.max_per_address = per_address;
            p.refuse_when_full = refuse;
        }
        net->node[i] = s5066_simnode_new(net->ch, &p, &CB, NULL);
        CHECK(net->node[i] != NULL);
    }
    net->node[2] = NULL;
}

/* arrive - a connection from peer to node 0 at now, as s5066sim admits it: true if admitted */
static bool arrive(struct net *net, struct conn *c, util_ms now, const char *peer)
{
    memset(c, 0, sizeof *c);
    const char *why = NULL;
    if (!s5066_simnode_admit(net->node[0], now, peer, &why))
        return false;
    c->client = s5066_simnode_attach(net->node[0], now, c, peer);
    CHECK(c->client != NULL);
    return true;
}

/* count - occurrences of needle in the lines logged */
static int count(const char *needle)
{
    int k = 0;
    for (const char *q = logged; (q = strstr(q, needle)) != NULL; q++)
        k++;
    return k;
}

TEST(room_per_address_oldest_idle_first)
{
    struct net net;
    limits_net(&net, 16, 3, false);
    static struct conn x[5], y[3], v[4];
    CHECK(arrive(&net, &x[0], 0, "10.0.0.1:1000"));
    CHECK(arrive(&net, &x[1], 1, "10.0.0.1:1001"));
    CHECK(arrive(&net, &x[2], 2, "10.0.0.1:1002"));
    logged[0] = 0;
    /* the address is at its limit: its oldest idle connection makes room */
    CHECK(arrive(&net, &x[3], 10, "10.0.0.1:1003"));
    CHECK(x[0].closed);
    CHECK(!x[1].closed && !x[2].closed);
    CHECK_EQ(s5066_simnode_clients(net.node[0]), 3);
    CHECK_EQ(s5066_simnode_closed_for_room(net.node[0]), 1);
    CHECK_CONTAINS(logged, "sim closed-for-room node=n1 peer=10.0.0.1:1000 why=per-address "
                           "bound=no idle_ms=10 for=10.0.0.1:1003 total=1");
    nothing(&x[0]); /* never bound: no UNBIND_INDICATION */
    /* activity counts: x[1] speaks, so x[2] is now the most idle */
    struct s5066_prim k;
    s5066_prim_init(&k, S5066_KEEP_ALIVE);
    input(&x[1], 20, &k);
    CHECK(arrive(&net, &x[4], 30, "10.0.0.1:1004"));
    CHECK(x[2].closed);
    CHECK(!x[1].closed && !x[3].closed);
    /* another address has its own share: nothing closed */
    for (int i = 0; i < 3; i++) {
        char peer[32];
        snprintf(peer, sizeof peer, "10.0.0.2:%d", 2000 + i);
        CHECK(arrive(&net, &y[i], 40, peer));
    }
    CHECK(!x[1].closed && !x[3].closed && !x[4].closed);
    CHECK_EQ(s5066_simnode_clients(net.node[0]), 6);
    CHECK_EQ(s5066_simnode_closed_for_room(net.node[0]), 2);
    /* an IPv6 peer: the address is all before the port */
    for (int i = 0; i < 4; i++) {
        char peer[32];
        snprintf(peer, sizeof peer, "::1:%d", 3000 + i);
        CHECK(arrive(&net, &v[i], 50 + (util_ms)i, peer));
    }
    CHECK(v[0].closed && !v[1].closed);
    CHECK(!x[1].closed && !y[0].closed);
    net_free(&net);
}

TEST(room_unbound_before_bound_then_silent_longest)
{
    struct net net;
    limits_net(&net, 8, 3, false);
    static struct conn a, b, c, d, e;
    CHECK(arrive(&net, &a, 0, "10.0.0.1:1"));
    do_bind(&a, 0, 2, 0, S5066_TX_ARQ, 0);
    expect(&a, S5066_BIND_ACCEPTED);
    CHECK(arrive(&net, &b, 100, "10.0.0.1:2"));
    CHECK(arrive(&net, &c, 200, "10.0.0.1:3"));
    /* a bound client, silent longest, stays: the unbound ones go first */
    CHECK(arrive(&net, &d, 300, "10.0.0.1:4"));
    CHECK(b.closed && !a.closed && !c.closed);
    do_bind(&c, 310, 3, 0, S5066_TX_ARQ, 0);
    expect(&c, S5066_BIND_ACCEPTED);
    do_bind(&d, 320, 4, 0, S5066_TX_ARQ, 0);
    expect(&d, S5066_BIND_ACCEPTED);
    /* all bound: the one silent longest gets UNBIND_INDICATION 2 (inactivity), logged */
    logged[0] = 0;
    CHECK(arrive(&net, &e, 400, "10.0.0.1:5"));
    CHECK(a.closed && !c.closed && !d.closed);
    struct s5066_prim p = expect(&a, S5066_UNBIND_INDICATION);
    CHECK_EQ(p.u.reason.reason, S5066_UNBIND_INACTIVITY);
    nothing(&a);
    CHECK_CONTAINS(logged, "sim closed-for-room node=n1 peer=10.0.0.1:1 why=per-address bound=yes "
                           "sap=2 idle_ms=400 for=10.0.0.1:5 total=2");
    /* its SAP is free for the newcomer, who is served */
    do_bind(&e, 400, 2, 0, S5066_TX_ARQ, 0);
    expect(&e, S5066_BIND_ACCEPTED);
    struct conn r;
    memset(&r, 0, sizeof r);
    r.client = s5066_simnode_attach(net.node[1], 400, &r, "10.0.0.9:1");
    do_bind(&r, 400, 2, 0, S5066_TX_ARQ, 0);
    expect(&r, S5066_BIND_ACCEPTED);
    unidata(&e, 500, "0.0.0.2", 2, S5066_TX_ARQ, 0, (const uint8_t *)"made room", 9);
    run(&net, 500);
    p = expect(&r, S5066_UNIDATA_INDICATION);
    CHECK_MEM(p.u.ind.updu, p.u.ind.updu_len, "made room", 9);
    net_free(&net);
}

TEST(room_in_a_full_table_from_the_node_oldest_idle)
{
    struct net net;
    limits_net(&net, 4, 3, false);
    static struct conn x[3], y, z, w;
    for (int i = 0; i < 3; i++) {
        char peer[32];
        snprintf(peer, sizeof peer, "10.0.0.1:%d", 1000 + i);
        CHECK(arrive(&net, &x[i], (util_ms)i, peer));
    }
    CHECK(arrive(&net, &y, 5, "10.0.0.2:1"));
    do_bind(&x[0], 6, 2, 0, S5066_TX_ARQ, 0); /* bound: not the first to go */
    expect(&x[0], S5066_BIND_ACCEPTED);
    logged[0] = 0;
    CHECK(arrive(&net, &z, 10, "10.0.0.3:1"));
    CHECK(x[1].closed);
    CHECK(!x[0].closed && !x[2].closed && !y.closed);
    CHECK_CONTAINS(logged, "peer=10.0.0.1:1001 why=table-full bound=no idle_ms=9 for=10.0.0.3:1");
    CHECK(arrive(&net, &w, 11, "10.0.0.3:2"));
    CHECK(x[2].closed && !y.closed);
    CHECK_EQ(s5066_simnode_clients(net.node[0]), 4);
    CHECK_EQ(s5066_simnode_closed_for_room(net.node[0]), 2);
    net_free(&net);
}

TEST(room_refused_when_asked)
{
    struct net net;
    limits_net(&net, 2, 1, true);
    struct conn a, b, c;
    const char *why = NULL;
    CHECK(arrive(&net, &a, 0, "10.0.0.1:1"));
    CHECK(!s5066_simnode_admit(net.node[0], 1, "10.0.0.1:2", &why));
    CHECK_STR(why, "too-many-from-address");
    CHECK(arrive(&net, &b, 2, "10.0.0.2:1"));
    CHECK(!s5066_simnode_admit(net.node[0], 3, "10.0.0.3:1", &why));
    CHECK_STR(why, "too-many-clients");
    CHECK(!a.closed && !b.closed);
    CHECK_EQ(s5066_simnode_closed_for_room(net.node[0]), 0);
    /* room again once one leaves */
    s5066_simclient_detach(b.client);
    CHECK(arrive(&net, &c, 4, "10.0.0.3:1"));
    net_free(&net);
}

TEST(room_lines_rate_limited_per_address)
{
    struct net net;
    limits_net(&net, 32, 1, false);
    util_log_set_level(UTIL_LOG_INFO);
    logged[0] = 0;
    static struct conn x[41];
    for (int i = 0; i <= 20; i++) {
        char peer[32];
        snprintf(peer, sizeof peer, "10.0.0.1:%d", 1000 + i);
        CHECK(arrive(&net, &x[i], (util_ms)i, peer));
    }
    CHECK_EQ(s5066_simnode_closed_for_room(net.node[0]), 20);
    CHECK_EQ(count("sim closed-for-room"), 5);
    CHECK_EQ(count("sim connect "), 10);
    CHECK_EQ(count("sim disconnect"), 0); /* a connection closed for room: its line says so */
    /* another address has its own allowance */
    struct conn y;
    CHECK(arrive(&net, &y, 30, "10.0.0.2:1"));
    CHECK_CONTAINS(logged, "sim connect node=n1 peer=10.0.0.2:1 clients=2");
    /* a minute later: the next lines say how many were held back */
    logged[0] = 0;
    char peer[32];
    snprintf(peer, sizeof peer, "10.0.0.1:%d", 2000);
    CHECK(arrive(&net, &x[21], 60020, peer));
    CHECK_CONTAINS(logged, "sim connect node=n1 peer=10.0.0.1:2000 clients=2 suppressed=11");
    CHECK_CONTAINS(logged, "sim closed-for-room node=n1 peer=10.0.0.1:1020 why=per-address");
    CHECK_CONTAINS(logged, "total=21 suppressed=15");
    CHECK(!s5066_simclient_quiet(x[21].client));
    /* past the allowance again, a connection is quiet (so is the glue's line about it) ... */
    for (int i = 22; i <= 31; i++) {
        snprintf(peer, sizeof peer, "10.0.0.1:%d", 2000 + i);
        CHECK(arrive(&net, &x[i], 60000 + (util_ms)i, peer));
    }
    CHECK(s5066_simclient_quiet(x[31].client));
    /* ... until it binds: a client, whose lines are logged again */
    do_bind(&x[31], 60100, 2, 0, S5066_TX_ARQ, 0);
    expect(&x[31], S5066_BIND_ACCEPTED);
    CHECK(!s5066_simclient_quiet(x[31].client));
    logged[0] = 0;
    s5066_simclient_detach(x[31].client);
    CHECK_CONTAINS(logged, "sim disconnect node=n1 peer=10.0.0.1:2031 clients=1");
    util_log_set_level(UTIL_LOG_NOTICE);
    net_free(&net);
}

int main(void)
{
    util_log_set_level(UTIL_LOG_NOTICE);
    util_log_to_sink(t_sink, NULL);
    RUN(bind_accepted_with_mtu);
    RUN(second_bind_on_sap_rejected_3);
    RUN(unicast_indication_and_confirm);
    RUN(requests_rejected_as_annex_a_says);
    RUN(keep_alive_answered);
    RUN(too_many_invalid_primitives_unbind_3);
    RUN(emcon_availability_and_management);
    RUN(dataflow_off_and_on);
    RUN(tx_mode_3_indication_with_errors);
    RUN(result_for_a_departed_client_is_dropped);
    RUN(room_per_address_oldest_idle_first);
    RUN(room_unbound_before_bound_then_silent_longest);
    RUN(room_in_a_full_table_from_the_node_oldest_idle);
    RUN(room_refused_when_asked);
    RUN(room_lines_rate_limited_per_address);
    return harness_done();
}
