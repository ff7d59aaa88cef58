/* s5066_client_test.c - the SIS client engine (s5066/client.c) against a
 * scripted 5066 server in virtual time: bind, MTU, priority queue, flow
 * control, EMCON, KEEP_ALIVE, rebind with backoff, CONFIRM/REJECTED
 * matching, TTL expiry and link loss; a hostile server (issue 13): every
 * line it can cause rate-limited, spurious unbinds not delaying the rebind,
 * a final bind refusal lasting one connection only.
 */
#include "harness.h"
#include "s5066/s5066.h"

#define MAX_SENT 64

struct fake {
    struct s5066_prim sent[MAX_SENT];
    uint8_t sent_bytes[MAX_SENT][600];
    int n_sent;
    int states[32];
    int n_states;
    uint64_t result_id[32];
    int result[32], result_reason[32];
    int n_results;
    int n_ind;
    char ind_src[32];
    uint8_t ind_sap;
    char ind_data[64];
    int link_lost;
    int holds, releases;
    int fail_send;
    char log[16][200];
    int n_log;
};

/* fake_send - decode and keep what the engine sends */
static int fake_send(void *user, const uint8_t *b, size_t len)
{
    struct fake *f = user;
    if (f->fail_send)
        return -1;
    if (f->n_sent >= MAX_SENT || len > sizeof f->sent_bytes[0])
        return -1;
    memcpy(f->sent_bytes[f->n_sent], b, len);
    int rc = s5066_decode(f->sent_bytes[f->n_sent], len, &f->sent[f->n_sent]);
    CHECK_EQ(rc, (long long)len);
    f->n_sent++;
    return 0;
}

/* fake_state - record state changes */
static void fake_state(void *user, int state, uint16_t mtu)
{
    struct fake *f = user;
    (void)mtu;
    if (f->n_states < 32)
        f->states[f->n_states++] = state;
}

/* fake_ind - record an indication */
static void fake_ind(void *user, const struct s5066_unidata_indication *ind, bool exp)
{
    struct fake *f = user;
    (void)exp;
    f->n_ind++;
    s5066_addr_format(&ind->src, f->ind_src, sizeof f->ind_src);
    f->ind_sap = ind->src_sap;
    snprintf(f->ind_data, sizeof f->ind_data, "%.*s", (int)ind->updu_len, (const char *)ind->updu);
}

/* fake_result - record a request's outcome */
static void fake_result(void *user, uint64_t id, int result, int reason)
{
    struct fake *f = user;
    if (f->n_results < 32) {
        f->result_id[f->n_results] = id;
        f->result[f->n_results] = result;
        f->result_reason[f->n_results++] = reason;
    }
}

/* fake_lost - the engine judged the link dead */
static void fake_lost(void *user)
{
    ((struct fake *)user)->link_lost++;
}

/* fake_hold - transmissions held or released */
static void fake_hold(void *user, bool held, const char *why)
{
    struct fake *f = user;
    (void)why;
    if (held)
        f->holds++;
    else
        f->releases++;
}

/* fake_log - capture log lines */
static void fake_log(void *user, enum util_log_level level, enum util_log_module m, const char *line)
{
    struct fake *f = user;
    (void)level;
    (void)m;
    if (f->n_log < 16)
        snprintf(f->log[f->n_log++], sizeof f->log[0], "%s", line);
}

static const struct s5066_client_callbacks fake_cb = {
    fake_send, fake_state, fake_ind, fake_result, fake_lost, fake_hold,
};

/* server - feed one primitive to the engine */
static void server(struct s5066_client *c, util_ms now, const struct s5066_prim *p)
{
    /* go through the bytes, as a real server would */
    uint8_t buf[700];
    int n = s5066_encode(p, buf, sizeof buf);
    CHECK(n > 0);
    struct s5066_prim d;
    CHECK_EQ(s5066_decode(buf, (size_t)n, &d), n);
    s5066_client_input(c, now, &d);
}

/* server_simple - a primitive with a byte reason or no body */
static void server_simple(struct s5066_client *c, util_ms now, int type, int reason)
{
    struct s5066_prim p;
    s5066_prim_init(&p, type);
    p.u.reason.reason = (uint8_t)reason;
    server(c, now, &p);
}

/* server_accept - BIND_ACCEPTED with an MTU */
static void server_accept(struct s5066_client *c, util_ms now, uint16_t mtu)
{
    struct s5066_prim p;
    s5066_prim_init(&p, S5066_BIND_ACCEPTED);
    p.u.bind_accepted.sap = 2;
    p.u.bind_accepted.mtu = mtu;
    server(c, now, &p);
}

/* server_result - CONFIRM or REJECTED echoing a sent request */
static void server_result(struct s5066_client *c, util_ms now, const struct s5066_prim *req, int type,
                          int reason)
{
    struct s5066_prim p;
    s5066_prim_init(&p, type);
    p.u.result.reason = (uint8_t)reason;
    p.u.result.sap = req->u.req.sap;
    p.u.result.dest = req->u.req.dest;
    p.u.result.updu = req->u.req.updu;
    p.u.result.updu_len = req->u.req.updu_len;
    server(c, now, &p);
}

/* new_bound - an engine bound with MTU 512 at time 0 */
static struct s5066_client *new_bound(struct fake *f, struct s5066_client_config *cfg)
{
    memset(f, 0, sizeof *f);
    struct s5066_client_config def;
    if (!cfg) {
        s5066_client_config_default(&def);
        cfg = &def;
    }
    struct s5066_client *c = s5066_client_new(cfg, &fake_cb, f);
    s5066_client_link_up(c, 0);
    server_accept(c, 0, 512);
    return c;
}

/* submit - queue a text U_PDU to a node address */
static uint64_t submit(struct s5066_client *c, util_ms now, uint32_t addr, int prio, const char *text,
                       util_ms ttl, int expect_rc)
{
    struct s5066_client_request r = {0};
    r.dest = s5066_addr_make(addr, false);
    r.dest_sap = 2;
    r.priority = (uint8_t)prio;
    r.ttl_ms = ttl;
    r.updu = (const uint8_t *)text;
    r.updu_len = strlen(text);
    uint64_t id = 0;
    CHECK_EQ(s5066_client_submit(c, now, &r, &id), expect_rc);
    return id;
}

TEST(binds_and_keeps_mtu)
{
    struct fake f = {0};
    struct s5066_client_config cfg;
    s5066_client_config_default(&cfg);
    cfg.sap = 6;
    cfg.rank = 3;
    struct s5066_client *c = s5066_client_new(&cfg, &fake_cb, &f);
    CHECK_STR(s5066_client_state_name(S5066_CLIENT_BOUND), "bound");
    s5066_client_link_up(c, 0);
    CHECK_EQ(f.n_sent, 1);
    CHECK_EQ(f.sent[0].type, S5066_BIND_REQUEST);
    CHECK_EQ(f.sent[0].u.bind_request.sap, 6);
    CHECK_EQ(f.sent[0].u.bind_request.rank, 3);
    CHECK_EQ(f.sent[0].u.bind_request.service.tx_mode, S5066_TX_ARQ);
    CHECK_EQ(f.sent[0].u.bind_request.service.confirm, S5066_CONFIRM_NODE);
    server_accept(c, 5, 2048);
    struct s5066_client_status st;
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.state, S5066_CLIENT_BOUND);
    CHECK_EQ(st.mtu, 2048);
    CHECK_EQ(st.binds, 1);
    CHECK(s5066_client_can_send(c));
    CHECK_EQ(f.n_states, 2);
    CHECK_EQ(f.states[0], S5066_CLIENT_BINDING);
    CHECK_EQ(f.states[1], S5066_CLIENT_BOUND);
    s5066_client_free(c);
}

TEST(sends_by_priority_expedited_first)
{
    struct fake f;
    struct s5066_client *c = new_bound(&f, NULL);
    server_simple(c, 1, S5066_DATAFLOW_OFF, 0);
    CHECK(!s5066_client_can_send(c));
    CHECK_EQ(f.holds, 1);
    submit(c, 2, 1, 0, "routine", 0, 0);
    submit(c, 2, 1, 5, "five", 0, 0);
    submit(c, 2, 1, 15, "fifteen", 0, 0);
    submit(c, 2, 1, 5, "five-b", 0, 0);
    struct s5066_client_request r = {0};
    r.dest = s5066_addr_make(1, false);
    r.dest_sap = 2;
    r.expedited = true;
    r.updu = (const uint8_t *)"exp";
    r.updu_len = 3;
    CHECK_EQ(s5066_client_submit(c, 2, &r, NULL), 0);
    CHECK_EQ(f.n_sent, 1); /* only the bind: flow is off, nothing dropped */
    struct s5066_client_status st;
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.queued, 5);
    CHECK_EQ(st.queued_bytes, 7 + 4 + 7 + 6 + 3);
    server_simple(c, 3, S5066_DATAFLOW_ON, 0);
    CHECK_EQ(f.releases, 1);
    CHECK_EQ(f.n_sent, 6);
    static const char *const order[] = {"exp", "fifteen", "five", "five-b", "routine"};
    for (int i = 0; i < 5; i++) {
        const struct s5066_prim *p = &f.sent[1 + i];
        CHECK_EQ(p->type, i == 0 ? S5066_EXPEDITED_UNIDATA_REQUEST : S5066_UNIDATA_REQUEST);
        CHECK_MEM(p->u.req.updu, p->u.req.updu_len, order[i], strlen(order[i]));
    }
    CHECK_EQ(f.sent[2].u.req.priority, 15);
    CHECK_EQ(f.sent[2].u.req.ttl, 0);
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.queued, 0);
    CHECK_EQ(st.awaiting, 5); /* ARQ + confirmation by default */
    s5066_client_free(c);
}

TEST(refuses_updu_over_mtu)
{
    struct fake f;
    struct s5066_client *c = new_bound(&f, NULL);
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    submit(c, 1, 1, 0, big, 0, S5066_ERR_UPDU_TOO_LARGE);
    CHECK_STR(s5066_strerror(S5066_ERR_UPDU_TOO_LARGE), "U_PDU larger than the MTU");
    CHECK_EQ(f.n_sent, 1);
    s5066_client_free(c);

    /* queued before the bind, refused once the MTU is known */
    memset(&f, 0, sizeof f);
    struct s5066_client_config cfg;
    s5066_client_config_default(&cfg);
    c = s5066_client_new(&cfg, &fake_cb, &f);
    uint64_t id = submit(c, 0, 1, 0, big, 0, 0);
    s5066_client_link_up(c, 0);
    server_accept(c, 1, 512);
    CHECK_EQ(f.n_results, 1);
    CHECK_EQ(f.result_id[0], id);
    CHECK_EQ(f.result[0], S5066_RESULT_TOO_LARGE);
    CHECK_EQ(f.n_sent, 1);
    s5066_client_free(c);
}

TEST(matches_confirm_and_rejected_to_requests)
{
    struct fake f;
    struct s5066_client *c = new_bound(&f, NULL);
    util_log_to_sink(fake_log, &f);
    uint64_t a = submit(c, 1, 1, 0, "to-one", 0, 0);
    uint64_t b = submit(c, 1, 2, 0, "to-two", 0, 0);
    uint64_t d = submit(c, 1, 1, 0, "to-one-again", 0, 0);
    CHECK_EQ(f.n_sent, 4);
    /* answers out of order */
    server_result(c, 2, &f.sent[2], S5066_UNIDATA_REQUEST_REJECTED, S5066_REJ_NODE_NOT_RESPONDING);
    server_result(c, 3, &f.sent[3], S5066_UNIDATA_REQUEST_CONFIRM, 0);
    server_result(c, 4, &f.sent[1], S5066_UNIDATA_REQUEST_CONFIRM, 0);
    CHECK_EQ(f.n_results, 3);
    CHECK_EQ(f.result_id[0], b);
    CHECK_EQ(f.result[0], S5066_RESULT_REJECTED);
    CHECK_EQ(f.result_reason[0], S5066_REJ_NODE_NOT_RESPONDING);
    CHECK_EQ(f.result_id[1], d);
    CHECK_EQ(f.result[1], S5066_RESULT_CONFIRMED);
    CHECK_EQ(f.result_id[2], a);
    CHECK_EQ(f.result[2], S5066_RESULT_CONFIRMED);
    /* a confirm for nothing is logged, not fatal */
    int before = f.n_log;
    server_result(c, 5, &f.sent[1], S5066_UNIDATA_REQUEST_CONFIRM, 0);
    CHECK_EQ(f.n_results, 3);
    CHECK(f.n_log > before);
    CHECK_CONTAINS(f.log[f.n_log - 1], "s5066 result-unmatched type=");
    CHECK_CONTAINS(f.log[f.n_log - 1], "dest=0.0.0.1 sap=2 len=6");
    struct s5066_client_status st;
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.confirmed, 2);
    CHECK_EQ(st.rejected, 1);
    CHECK_EQ(st.awaiting, 0);
    util_log_to_sink(NULL, NULL);
    s5066_client_free(c);
}

TEST(non_arq_reports_sent_and_late_reject)
{
    struct fake f;
    struct s5066_client *c = new_bound(&f, NULL);
    struct s5066_client_request r = {0};
    r.dest = s5066_addr_make(0x100, true);
    r.dest_sap = 2;
    r.mode.tx_mode = S5066_TX_NON_ARQ;
    r.mode.min_retx = 2;
    r.ttl_ms = 60000;
    r.updu = (const uint8_t *)"group";
    r.updu_len = 5;
    uint64_t id;
    CHECK_EQ(s5066_client_submit(c, 10, &r, &id), 0);
    CHECK_EQ(f.n_sent, 2);
    CHECK_EQ(f.sent[1].u.req.mode.tx_mode, S5066_TX_NON_ARQ);
    CHECK_EQ(f.sent[1].u.req.mode.min_retx, 2);
    CHECK_EQ(f.sent[1].u.req.ttl, 30); /* 60 s in 2 s units */
    CHECK(f.sent[1].u.req.dest.group);
    CHECK_EQ(f.n_results, 1);
    CHECK_EQ(f.result[0], S5066_RESULT_SENT);
    server_result(c, 20, &f.sent[1], S5066_UNIDATA_REQUEST_REJECTED, S5066_REJ_TTL_EXPIRED);
    CHECK_EQ(f.n_results, 2);
    CHECK_EQ(f.result_id[1], id);
    CHECK_EQ(f.result[1], S5066_RESULT_REJECTED);
    CHECK_EQ(f.result_reason[1], S5066_REJ_TTL_EXPIRED);
    s5066_client_free(c);
}

TEST(holds_in_emcon_and_resumes)
{
    struct fake f;
    struct s5066_client *c = new_bound(&f, NULL);
    struct s5066_prim p;
    s5066_prim_init(&p, S5066_SUBNET_AVAILABILITY);
    p.u.avail.status = S5066_SUBNET_RECEIVE_ONLY;
    p.u.avail.reason = S5066_SUBNET_REASON_EMCON;
    server(c, 1, &p);
    CHECK_EQ(f.holds, 1);
    submit(c, 2, 1, 0, "quiet", 0, 0);
    CHECK_EQ(f.n_sent, 1);
    struct s5066_client_status st;
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.subnet, S5066_SUBNET_RECEIVE_ONLY);
    CHECK_EQ(st.subnet_reason, S5066_SUBNET_REASON_EMCON);
    /* still receives */
    struct s5066_prim ind;
    s5066_prim_init(&ind, S5066_UNIDATA_INDICATION);
    ind.u.ind.dest_sap = 2;
    ind.u.ind.dest = s5066_addr_make(1, false);
    ind.u.ind.tx_mode = S5066_TX_ARQ;
    ind.u.ind.src_sap = 2;
    ind.u.ind.src = s5066_addr_make(0x030201, false);
    ind.u.ind.updu = (const uint8_t *)"hello";
    ind.u.ind.updu_len = 5;
    server(c, 3, &ind);
    CHECK_EQ(f.n_ind, 1);
    CHECK_STR(f.ind_src, "0.3.2.1");
    CHECK_STR(f.ind_data, "hello");
    p.u.avail.status = S5066_SUBNET_ON;
    p.u.avail.reason = 0;
    server(c, 4, &p);
    CHECK_EQ(f.releases, 1);
    CHECK_EQ(f.n_sent, 2);
    /* an operator hold works the same way */
    s5066_client_set_hold(c, 5, true);
    submit(c, 5, 1, 0, "held", 0, 0);
    CHECK_EQ(f.n_sent, 2);
    s5066_client_set_hold(c, 6, false);
    CHECK_EQ(f.n_sent, 3);
    s5066_client_free(c);
}

TEST(keepalive_answered_sent_and_timed_out)
{
    struct fake f;
    struct s5066_client *c = new_bound(&f, NULL);
    server_simple(c, 1000, S5066_KEEP_ALIVE, 0);
    CHECK_EQ(f.n_sent, 2);
    CHECK_EQ(f.sent[1].type, S5066_KEEP_ALIVE);
    /* idle for 120 s: we send one */
    CHECK_EQ(s5066_client_next_expiry(c), 121000);
    s5066_client_timeout(c, 120999);
    CHECK_EQ(f.n_sent, 2);
    s5066_client_timeout(c, 121000);
    CHECK_EQ(f.n_sent, 3);
    CHECK_EQ(f.sent[2].type, S5066_KEEP_ALIVE);
    /* the answer is not answered again */
    server_simple(c, 122000, S5066_KEEP_ALIVE, 0);
    CHECK_EQ(f.n_sent, 3);
    /* next one no sooner than 120 s after ours, then unanswered: link lost */
    s5066_client_timeout(c, 240999);
    CHECK_EQ(f.n_sent, 3);
    s5066_client_timeout(c, 242000);
    CHECK_EQ(f.n_sent, 4);
    s5066_client_timeout(c, 242000 + 29999);
    CHECK_EQ(f.link_lost, 0);
    s5066_client_timeout(c, 242000 + 30000);
    CHECK_EQ(f.link_lost, 1);
    struct s5066_client_status st;
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.state, S5066_CLIENT_DOWN);
    s5066_client_free(c);
}

TEST(rebinds_with_exponential_backoff)
{
    struct fake f = {0};
    struct s5066_client_config cfg;
    s5066_client_config_default(&cfg);
    struct s5066_client *c = s5066_client_new(&cfg, &fake_cb, &f);
    s5066_client_link_up(c, 0);
    server_simple(c, 10, S5066_BIND_REJECTED, S5066_BIND_REJ_SAP_IN_USE);
    struct s5066_client_status st;
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.state, S5066_CLIENT_BACKOFF);
    CHECK_EQ(s5066_client_next_expiry(c), 1010);
    s5066_client_timeout(c, 1010);
    CHECK_EQ(f.n_sent, 2);
    CHECK_EQ(f.sent[1].type, S5066_BIND_REQUEST);
    server_simple(c, 1020, S5066_BIND_REJECTED, S5066_BIND_REJ_RESOURCES);
    CHECK_EQ(s5066_client_next_expiry(c), 3020); /* doubled */
    s5066_client_timeout(c, 3020);
    /* no answer at all: the bind times out and the wait doubles again */
    s5066_client_timeout(c, 3020 + 30000);
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.state, S5066_CLIENT_BACKOFF);
    CHECK_EQ(s5066_client_next_expiry(c), 33020 + 4000);
    s5066_client_timeout(c, 37020);
    server_accept(c, 37030, 1024);
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.state, S5066_CLIENT_BOUND);
    CHECK_EQ(st.mtu, 1024);
    /* an unbind: unconfirmed work is sent again after the rebind */
    uint64_t id = submit(c, 37040, 7, 3, "important", 0, 0);
    int sent_before = f.n_sent;
    server_simple(c, 37050, S5066_UNBIND_INDICATION, S5066_UNBIND_PREEMPTED);
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.state, S5066_CLIENT_BACKOFF);
    CHECK_EQ(st.queued, 1);
    CHECK_EQ(s5066_client_next_expiry(c), 37050 + 8000);
    s5066_client_timeout(c, 45050);
    server_accept(c, 45060, 1024);
    CHECK_EQ(f.n_sent, sent_before + 2); /* bind + the resend */
    CHECK_EQ(f.sent[f.n_sent - 1].type, S5066_UNIDATA_REQUEST);
    server_result(c, 45070, &f.sent[f.n_sent - 1], S5066_UNIDATA_REQUEST_CONFIRM, 0);
    CHECK_EQ(f.result_id[f.n_results - 1], id);
    CHECK_EQ(f.result[f.n_results - 1], S5066_RESULT_CONFIRMED);
    CHECK_EQ(f.n_results, 1); /* exactly once */
    s5066_client_free(c);
}

TEST(invalid_sap_is_permanent)
{
    struct fake f = {0};
    struct s5066_client_config cfg;
    s5066_client_config_default(&cfg);
    struct s5066_client *c = s5066_client_new(&cfg, &fake_cb, &f);
    s5066_client_link_up(c, 0);
    server_simple(c, 10, S5066_BIND_REJECTED, S5066_BIND_REJ_INVALID_SAP);
    struct s5066_client_status st;
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.state, S5066_CLIENT_FAILED);
    CHECK_EQ(s5066_client_next_expiry(c), 120010); /* only the keep-alive remains */
    s5066_client_timeout(c, 100000);
    CHECK_EQ(f.n_sent, 1);
    s5066_client_free(c);
}

TEST(ttl_expires_in_queue_and_counts_queueing)
{
    struct fake f;
    struct s5066_client *c = new_bound(&f, NULL);
    server_simple(c, 0, S5066_DATAFLOW_OFF, 0);
    uint64_t a = submit(c, 0, 1, 0, "short", 10000, 0);
    submit(c, 0, 1, 0, "long", 100000, 0);
    s5066_client_timeout(c, 9999);
    CHECK_EQ(f.n_results, 0);
    s5066_client_timeout(c, 10000);
    CHECK_EQ(f.n_results, 1);
    CHECK_EQ(f.result_id[0], a);
    CHECK_EQ(f.result[0], S5066_RESULT_EXPIRED);
    server_simple(c, 40000, S5066_DATAFLOW_ON, 0);
    CHECK_EQ(f.n_sent, 2);
    CHECK_EQ(f.sent[1].u.req.ttl, 30); /* 60 s left of 100 */
    s5066_client_free(c);
}

TEST(link_loss_resends_unconfirmed)
{
    struct fake f;
    struct s5066_client *c = new_bound(&f, NULL);
    uint64_t id = submit(c, 1, 1, 0, "payload", 0, 0);
    CHECK_EQ(f.n_sent, 2);
    s5066_client_link_down(c, 2);
    struct s5066_client_status st;
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.state, S5066_CLIENT_DOWN);
    CHECK_EQ(st.queued, 1);
    CHECK_EQ(st.awaiting, 0);
    s5066_client_link_up(c, 3);
    server_accept(c, 4, 512);
    CHECK_EQ(f.n_sent, 4);
    CHECK_MEM(f.sent[3].u.req.updu, f.sent[3].u.req.updu_len, "payload", 7);
    server_result(c, 5, &f.sent[3], S5066_UNIDATA_REQUEST_CONFIRM, 0);
    CHECK_EQ(f.n_results, 1);
    CHECK_EQ(f.result_id[0], id);
    /* a send that fails leaves the request queued */
    f.fail_send = 1;
    submit(c, 6, 1, 0, "stuck", 0, 0);
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.queued, 1);
    f.fail_send = 0;
    s5066_client_kick(c, 7);
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.queued, 0);
    CHECK_EQ(st.awaiting, 1);
    /* no answer ever: a timeout result after confirm_timeout */
    s5066_client_timeout(c, 7 + 600000);
    CHECK_EQ(f.result[f.n_results - 1], S5066_RESULT_TIMEOUT);
    s5066_client_free(c);
}

TEST(queue_limit_refuses_new_work)
{
    struct fake f;
    struct s5066_client_config cfg;
    s5066_client_config_default(&cfg);
    cfg.queue_limit_bytes = 10;
    struct s5066_client *c = new_bound(&f, &cfg);
    server_simple(c, 0, S5066_DATAFLOW_OFF, 0);
    submit(c, 0, 1, 0, "123456", 0, 0);
    submit(c, 0, 1, 0, "12345", 0, S5066_ERR_QUEUE_FULL);
    submit(c, 0, 1, 0, "1234", 0, 0);
    struct s5066_client_request r = {0};
    r.priority = 16;
    CHECK_EQ(s5066_client_submit(c, 0, &r, NULL), S5066_ERR_INVAL);
    s5066_client_free(c);
}

/* main - run the client engine tests */
/* a capture that counts a flood's lines and keeps the first 64 */
struct logs {
    int n;
    char line[64][240];
};

/* logs_sink - count and keep log lines */
static void logs_sink(void *user, enum util_log_level level, enum util_log_module m,
                      const char *line)
{
    struct logs *l = user;
    (void)level;
    (void)m;
    if (l->n < 64)
        snprintf(l->line[l->n], sizeof l->line[0], "%s", line);
    l->n++;
}

/* logs_count - kept lines containing needle */
static int logs_count(const struct logs *l, const char *needle)
{
    int k = 0;
    for (int i = 0; i < l->n && i < 64; i++)
        k += strstr(l->line[i], needle) != NULL;
    return k;
}

/* logs_find - the first kept line containing needle, or "" */
static const char *logs_find(const struct logs *l, const char *needle)
{
    for (int i = 0; i < l->n && i < 64; i++)
        if (strstr(l->line[i], needle))
            return l->line[i];
    return "";
}

/* server_avail - SUBNET_AVAILABILITY (any status byte: straight to the engine) */
static void server_avail(struct s5066_client *c, util_ms now, int status, int reason)
{
    struct s5066_prim p;
    s5066_prim_init(&p, S5066_SUBNET_AVAILABILITY);
    p.u.avail.status = (uint8_t)status;
    p.u.avail.reason = (uint8_t)reason;
    s5066_client_input(c, now, &p);
}

TEST(server_caused_lines_are_rate_limited)
{
    struct fake f;
    struct s5066_client *c = new_bound(&f, NULL);
    uint64_t id = submit(c, 1, 1, 0, "mine", 0, 0);
    struct s5066_prim req = f.sent[1];
    struct logs l = {0};
    enum util_log_level level = util_log_get_level();
    util_log_set_level(UTIL_LOG_INFO);
    util_log_to_sink(logs_sink, &l);
    /* 1000 of each kind in one second: BIND_ACCEPTED while bound, a CONFIRM
     * for nothing, SUBNET_AVAILABILITY, DATAFLOW_OFF then ON */
    for (int i = 0; i < 1000; i++) {
        util_ms t = 10 + (util_ms)i;
        server_accept(c, t, 512);
        struct s5066_prim other = req;
        other.u.req.updu = (const uint8_t *)"nope";
        server_result(c, t, &other, S5066_UNIDATA_REQUEST_CONFIRM, 0);
        server_avail(c, t, S5066_SUBNET_ON, 0);
        server_simple(c, t, S5066_DATAFLOW_OFF, 0);
        server_simple(c, t, S5066_DATAFLOW_ON, 0);
    }
    CHECK_EQ(logs_count(&l, "s5066 unexpected type=S_BIND_ACCEPTED state=bound"), 5);
    CHECK_EQ(logs_count(&l, "s5066 result-unmatched "), 5);
    CHECK_EQ(logs_count(&l, "s5066 subnet status=1 reason=0"), 5);
    CHECK_EQ(logs_count(&l, "s5066 tx-held ") + logs_count(&l, "s5066 tx-resumed "), 5);
    CHECK_EQ(l.n, 20);
    CHECK_EQ(logs_count(&l, "suppressed="), 0);
    /* every primitive still did its work: only the lines were held back */
    CHECK_EQ(f.holds, 1000);
    CHECK_EQ(f.releases, 1000);
    CHECK(s5066_client_can_send(c));
    server_result(c, 2000, &req, S5066_UNIDATA_REQUEST_CONFIRM, 0);
    CHECK_EQ(f.n_results, 1);
    CHECK_EQ(f.result_id[0], id);
    CHECK_EQ(f.result[0], S5066_RESULT_CONFIRMED);
    /* a minute on, the next line says how many were held back */
    server_accept(c, 10 + S5066_LOG_WINDOW_MS, 512);
    CHECK_EQ(l.n, 21);
    CHECK_CONTAINS(l.line[20], "s5066 unexpected type=S_BIND_ACCEPTED state=bound suppressed=995");
    /* at link-down, what is still held back is counted, once per kind */
    s5066_client_link_down(c, 10 + S5066_LOG_WINDOW_MS);
    CHECK_CONTAINS(logs_find(&l, "log-suppressed sap=2 event=result-unmatched"), "suppressed=995");
    CHECK_CONTAINS(logs_find(&l, "log-suppressed sap=2 event=subnet"), "suppressed=995");
    CHECK_CONTAINS(logs_find(&l, "log-suppressed sap=2 event=tx-held"), "suppressed=1995");
    CHECK_EQ(logs_count(&l, "log-suppressed sap=2 event=unexpected"), 0);
    int n = l.n;
    s5066_client_link_down(c, 10 + S5066_LOG_WINDOW_MS);
    CHECK_EQ(l.n, n);
    util_log_to_sink(NULL, NULL);
    util_log_set_level(level);
    s5066_client_free(c);
}

TEST(unbind_when_not_bound_does_not_delay_the_rebind)
{
    struct fake f;
    struct s5066_client *c = new_bound(&f, NULL);
    struct logs l = {0};
    util_log_to_sink(logs_sink, &l);
    server_simple(c, 100, S5066_UNBIND_INDICATION, S5066_UNBIND_PREEMPTED);
    struct s5066_client_status st;
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.state, S5066_CLIENT_BACKOFF);
    CHECK_EQ(s5066_client_next_expiry(c), 1100);
    /* a server repeating itself while we wait: ignored, the wait unchanged */
    for (int i = 0; i < 100; i++)
        server_simple(c, 200 + (util_ms)i, S5066_UNBIND_INDICATION, S5066_UNBIND_PREEMPTED);
    CHECK_EQ(s5066_client_next_expiry(c), 1100);
    CHECK_EQ(logs_count(&l, "s5066 unbound sap=2 reason=1"), 1);
    CHECK_EQ(logs_count(&l, "s5066 unexpected type=S_UNBIND_INDICATION state=backoff"), 5);
    int sent = f.n_sent;
    s5066_client_timeout(c, 1100);
    CHECK_EQ(f.n_sent, sent + 1);
    CHECK_EQ(f.sent[f.n_sent - 1].type, S5066_BIND_REQUEST);
    /* an unbind answering the bind still counts: the wait doubles */
    server_simple(c, 1200, S5066_UNBIND_INDICATION, S5066_UNBIND_PREEMPTED);
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.state, S5066_CLIENT_BACKOFF);
    CHECK_EQ(s5066_client_next_expiry(c), 1200 + 2000);
    util_log_to_sink(NULL, NULL);
    s5066_client_free(c);
}

TEST(final_bind_rejection_lasts_one_connection)
{
    struct fake f = {0};
    struct s5066_client_config cfg;
    s5066_client_config_default(&cfg);
    struct s5066_client *c = s5066_client_new(&cfg, &fake_cb, &f);
    s5066_client_link_up(c, 0);
    server_simple(c, 10, S5066_BIND_REJECTED, S5066_BIND_REJ_ARQ_BROADCAST);
    struct s5066_client_status st;
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.state, S5066_CLIENT_FAILED);
    /* the server goes away and comes back (reconfigured, or it was not the
     * server's answer but line noise): we bind again, once */
    s5066_client_link_down(c, 5000);
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.state, S5066_CLIENT_DOWN);
    CHECK_EQ(f.n_sent, 1);
    s5066_client_link_up(c, 6000);
    CHECK_EQ(f.n_sent, 2);
    CHECK_EQ(f.sent[1].type, S5066_BIND_REQUEST);
    server_accept(c, 6010, 2048);
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.state, S5066_CLIENT_BOUND);
    CHECK_EQ(st.binds, 1);
    s5066_client_free(c);
}

TEST(subnet_status_out_of_range_is_ignored)
{
    struct fake f;
    struct s5066_client *c = new_bound(&f, NULL);
    struct logs l = {0};
    enum util_log_level level = util_log_get_level();
    util_log_set_level(UTIL_LOG_INFO);
    util_log_to_sink(logs_sink, &l);
    server_avail(c, 10, 170, 2);
    CHECK_EQ(logs_count(&l, "unexpected type=S_SUBNET_AVAILABILITY state=bound status=170"), 1);
    CHECK_EQ(logs_count(&l, "s5066 subnet "), 0);
    struct s5066_client_status st;
    s5066_client_get_status(c, &st);
    CHECK_EQ(st.subnet, S5066_SUBNET_ON);
    CHECK(s5066_client_can_send(c));
    server_avail(c, 20, S5066_SUBNET_RECEIVE_ONLY, S5066_SUBNET_REASON_EMCON);
    CHECK(!s5066_client_can_send(c));
    CHECK_EQ(logs_count(&l, "s5066 subnet status=2 reason=1 emcon=yes"), 1);
    util_log_to_sink(NULL, NULL);
    util_log_set_level(level);
    s5066_client_free(c);
}

int main(void)
{
    util_log_set_level(UTIL_LOG_WARN);
    RUN(binds_and_keeps_mtu);
    RUN(sends_by_priority_expedited_first);
    RUN(refuses_updu_over_mtu);
    RUN(matches_confirm_and_rejected_to_requests);
    RUN(non_arq_reports_sent_and_late_reject);
    RUN(holds_in_emcon_and_resumes);
    RUN(keepalive_answered_sent_and_timed_out);
    RUN(rebinds_with_exponential_backoff);
    RUN(invalid_sap_is_permanent);
    RUN(ttl_expires_in_queue_and_counts_queueing);
    RUN(link_loss_resends_unconfirmed);
    RUN(queue_limit_refuses_new_work);
    RUN(server_caused_lines_are_rate_limited);
    RUN(unbind_when_not_bound_does_not_delay_the_rebind);
    RUN(final_bind_rejection_lasts_one_connection);
    RUN(subnet_status_out_of_range_is_ignored);
    return harness_done();
}
