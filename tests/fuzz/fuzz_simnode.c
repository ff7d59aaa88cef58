/* fuzz_simnode.c - fuzz the s5066sim SIS server engine (s5066/sim_node.c)
 * over the channel model (s5066/channel.c): whatever clients send (STANAG
 * 5066 Annex A byte streams, valid or not), the server must not crash,
 * leak or hang, and every primitive it sends must encode and decode again.
 *
 * Input: byte 0 picks the channel (loss, bit errors, EMCON, MTU); then
 * records of  ctl:8 | len:8 | len bytes  where ctl's low 2 bits pick one of
 * four client connections (0, 1 on node n1; 2, 3 on node n2), bit 2
 * detaches that client first, and bits 3..7 advance virtual time by that
 * many seconds before the bytes are fed to the client's stream decoder.
 */
#include "fuzz.h"
#include "s5066/s5066.h"

#include <stdlib.h>
#include <string.h>

#define NCLIENTS 4

struct fconn {
    struct s5066_simclient *client;
    struct s5066_stream st;
    int node;
};

static struct fconn conns[NCLIENTS];
static struct s5066_simnode *nodes[2];

/* f_send - every primitive the server sends must encode and decode to itself */
static void f_send(void *user, void *connp, const struct s5066_prim *p)
{
    (void)user;
    (void)connp;
    static uint8_t out[S5066_HDR_LEN + S5066_MAX_SIZE];
    int n = s5066_encode(p, out, sizeof out);
    if (n <= 0)
        abort();
    struct s5066_prim q;
    if (s5066_decode(out, (size_t)n, &q) != n || q.type != p->type)
        abort();
}

/* f_close - the server let a client go */
static void f_close(void *user, void *connp)
{
    (void)user;
    struct fconn *c = connp;
    c->client = NULL;
}

/* LLVMFuzzerTestOneInput - build a two-node network and replay the records */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    util_log_set_level(UTIL_LOG_ERR);
    uint8_t cfg = data[0];
    struct s5066_channel_params cp;
    s5066_channel_params_default(&cp);
    cp.loss = (cfg & 3) * 0.3;
    cp.bit_errors = cfg & 4;
    cp.max_queue = (cfg & 8) ? 2000 : 64 * 1024;
    cp.arq_retries = 2;
    cp.max_ttl = (cfg & 64) ? 30000 : 0;
    struct s5066_channel_callbacks cb = {0};
    s5066_simnode_channel_callbacks(&cb);
    struct s5066_channel *ch = s5066_channel_new(&cp, &cb, NULL);
    if (!ch)
        abort();
    struct s5066_addr group = s5066_addr_make(1, true);
    struct s5066_simnode_callbacks ncb = {f_send, f_close};
    for (int i = 0; i < 2; i++) {
        struct s5066_simnode_params p;
        s5066_simnode_params_default(&p);
        p.name = i ? "n2" : "n1";
        p.addr = s5066_addr_make((uint32_t)i + 1, false);
        p.groups = &group;
        p.n_groups = 1;
        p.emcon = i == 1 && (cfg & 16);
        p.mtu = (cfg & 32) ? 4096 : 2048;
        nodes[i] = s5066_simnode_new(ch, &p, &ncb, NULL);
        if (!nodes[i])
            abort();
    }
    util_ms now = 0;
    for (int i = 0; i < NCLIENTS; i++) {
        conns[i].node = i / 2;
        conns[i].client = s5066_simnode_attach(nodes[i / 2], now, &conns[i], "fuzz");
        s5066_stream_init(&conns[i].st, S5066_MAX_SIZE);
    }
    size_t off = 1;
    while (off + 2 <= size) {
        uint8_t ctl = data[off], len = data[off + 1];
        off += 2;
        if (len > size - off)
            len = (uint8_t)(size - off);
        struct fconn *c = &conns[ctl & 3];
        if ((ctl & 4) && c->client) {
            s5066_simclient_detach(c->client);
            c->client = NULL;
        }
        now += (util_ms)(ctl >> 3) * 1000;
        s5066_channel_run(ch, now);
        if (!c->client) {
            s5066_stream_free(&c->st);
            s5066_stream_init(&c->st, S5066_MAX_SIZE);
            c->client = s5066_simnode_attach(nodes[c->node], now, c, "fuzz");
        }
        const uint8_t *p = data + off;
        size_t left = len;
        off += len;
        while (left > 0 && c->client) {
            size_t taken = 0;
            if (s5066_stream_feed(&c->st, p, left, &taken) < 0)
                abort();
            p += taken;
            left -= taken;
            struct s5066_prim prim;
            int rc;
            while (c->client && (rc = s5066_stream_next(&c->st, &prim)) != 0) {
                if (rc > 0)
                    s5066_simclient_input(c->client, now, &prim);
                else
                    s5066_simclient_error(c->client, now, rc);
            }
            s5066_stream_take_skipped(&c->st);
            if (taken == 0)
                break;
        }
    }
    /* let the channel finish what is queued (bounded: TTLs and retries end it) */
    for (int i = 0; i < 100000; i++) {
        util_ms t = s5066_channel_next_expiry(ch);
        if (t == UTIL_MS_NEVER)
            break;
        if (t > now)
            now = t;
        s5066_channel_run(ch, now);
    }
    for (int i = 0; i < NCLIENTS; i++) {
        if (conns[i].client)
            s5066_simclient_detach(conns[i].client);
        conns[i].client = NULL;
        s5066_stream_free(&conns[i].st);
    }
    s5066_simnode_free(nodes[0]);
    s5066_simnode_free(nodes[1]);
    s5066_channel_free(ch);
    return 0;
}
