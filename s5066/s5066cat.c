/* s5066cat.c - bind a SAP on a STANAG 5066 server (TCP or serial), send
 * stdin lines or a file as U_PDUs, print what arrives.  What an operator
 * runs first against a new modem.  SIS client per STANAG 5066 Annex A;
 * the optional 6-byte client transport header per STANAG 4406 Annex E.
 *
 *   s5066cat [options] TARGET
 *   TARGET: host:port | tcp:host:port | serial:/dev/ttyS0[:baud[:rtscts]] | /dev/ttyUSB0
 */
#include "s5066/s5066.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cat {
    struct ev_loop *loop;
    struct s5066_link *link;
    struct s5066_addr dest;
    bool have_dest;
    uint8_t dest_sap;
    uint8_t priority;
    bool expedited;
    struct s5066_service mode;
    util_ms ttl_ms;
    bool client_hdr;
    uint16_t app_id;
    const char *file;
    bool listen_only;
    long expect;       /* exit after this many U_PDUs received (0: no limit) */
    double wait_s;     /* after input ends, wait this long for arrivals/results */
    double deadline_s; /* give up after this long in all (0: never) */
    int set_emcon;     /* -E: 1 on, 0 off, -1 not asked */
    ev_timer deadline;
    bool hex;
    uint16_t mtu;
    bool bound;
    /* input */
    ev_io stdin_w;
    struct util_buf line;
    bool input_done;
    uint8_t *file_data;
    size_t file_len, file_off;
    bool in_file_send; /* cat_send_file_chunks is on the stack */
    /* accounting */
    uint64_t submitted, outcomes, failures, received;
    uint8_t seg_id;
    ev_timer exit_timer;
    ev_signal sigint, sigterm;
    int exit_code;
};

/* usage - the help text on stdout, and exit */
static _Noreturn void usage(void)
{
    printf("usage: s5066cat [options] TARGET\n"
           "       s5066cat -h | -V\n"
           "A STANAG 5066 SIS client (Annex A): connect to a 5066 server, bind a SAP,\n"
           "send each line of stdin (or a file) as a U_PDU, print every U_PDU that\n"
           "arrives on stdout; results and a summary go to stderr.\n"
           "  TARGET            host:port, tcp:host:port, serial:/dev/ttyS0[:baud[:rtscts]],\n"
           "                    or a device path /dev/...\n"
           "  -s SAP            SAP to bind, 0..15 (default 2)\n"
           "  -r RANK           rank in BIND_REQUEST, 0..15 (default 0)\n"
           "  -a ADDR           destination 5066 address (e.g. 0.0.0.2, group 16.0.0.1);\n"
           "                    needed to send\n"
           "  -S SAP            destination SAP (default: the bound SAP)\n"
           "  -p PRIO           priority 0..15 (default 0, 15 highest)\n"
           "  -m MODE           arq | nonarq (or broadcast) | nonarq-errors (default arq)\n"
           "  -c                ask for delivery confirmation (ARQ only)\n"
           "  -R N              minimum non-ARQ retransmissions 0..15\n"
           "  -t SECONDS        time to live, up to 2097150 (0: no limit)\n"
           "  -x                send as EXPEDITED_UNIDATA\n"
           "  -H                add (and strip on arrival) the 6-byte client transport\n"
           "                    header (STANAG 4406 Annex E, app id 0x2000)\n"
           "  -f FILE           send FILE (at most 64 MiB) in MTU-sized U_PDUs instead of\n"
           "                    stdin lines\n"
           "  -l                listen only: send nothing, print what arrives\n"
           "  -n COUNT          exit after receiving COUNT U_PDUs\n"
           "  -w SECONDS        after the input ends, wait this long (default 5)\n"
           "  -W SECONDS        give up (exit 1) after this long in all\n"
           "  -X                print arrivals in hex\n"
           "  -E on|off         switch the node's EMCON (S_MANAGEMENT_MSG_REQUEST type 1;\n"
           "                    binds with rank 15, as Annex A asks of management\n"
           "                    clients), then exit\n"
           "  -v                debug logs\n"
           "  -T MODULES        trace these modules (s5066,...; comma-separated)\n"
           "  -h, --help        print this help and exit\n"
           "  -V, --version     print the version and exit\n"
           "Arrivals are printed as: <src-addr> <src-sap> <tx-mode> <len> <text>\n"
           "Exit: 0 bound and every U_PDU accepted; 1 bind refused, a U_PDU rejected or\n"
           "expired, the -W deadline, or an error; 2 usage error.\n");
    exit(util_stdout_done("s5066cat"));
}

/* cat_bad_value - a bad option argument: the message and the --help hint, exit 2 */
static _Noreturn void cat_bad_value(int opt, const char *arg, const char *what)
{
    util_usage_error("s5066cat", "-%c %s: %s", opt, arg, what);
    exit(2);
}

/* cat_maybe_exit - stop once everything was sent, answered, and received */
static void cat_maybe_exit(struct cat *c)
{
    if (c->expect > 0 && c->received >= (uint64_t)c->expect) {
        ev_break(c->loop, EVBREAK_ALL);
        return;
    }
    if (!c->input_done || c->listen_only || c->expect > 0)
        return;
    if (c->outcomes >= c->submitted && !ev_is_active(&c->exit_timer)) {
        ev_timer_set(&c->exit_timer, c->wait_s, 0.0);
        ev_timer_start(c->loop, &c->exit_timer);
    }
}

/* cat_submit - send one U_PDU (with the client header if asked) */
static int cat_submit(struct cat *c, const uint8_t *data, size_t len)
{
    uint8_t buf[S5066_MAX_UPDU + S5066_CLIENT_HDR_LEN];
    size_t off = 0;
    if (c->client_hdr) {
        struct s5066_client_hdr h = {0, 0, c->seg_id++, 0, c->app_id};
        s5066_client_hdr_encode(&h, buf, sizeof buf);
        off = S5066_CLIENT_HDR_LEN;
    }
    if (len > sizeof buf - off)
        len = sizeof buf - off;
    memcpy(buf + off, data, len);
    struct s5066_client_request r = {0};
    r.dest = c->dest;
    r.dest_sap = c->dest_sap;
    r.priority = c->priority;
    r.expedited = c->expedited;
    r.mode = c->mode;
    r.ttl_ms = c->ttl_ms;
    r.updu = buf;
    r.updu_len = off + len;
    uint64_t id;
    int rc = s5066_link_submit(c->link, &r, &id);
    if (rc == S5066_ERR_QUEUE_FULL && c->file)
        return rc; /* not a failure: the rest of the file waits for results */
    if (rc < 0) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_MAIN, "submit-failed", "len=%zu error=\"%s\"", r.updu_len,
                 s5066_strerror(rc));
        c->failures++;
        c->exit_code = 1;
        return rc;
    }
    c->submitted++;
    return 0;
}

/* cat_send_file_chunks - queue the file in MTU-sized U_PDUs */
static void cat_send_file_chunks(struct cat *c)
{
    /* a submit may report results at once (non-ARQ: sent), and results call
     * here again for the rest: the loop below goes on with it instead */
    if (c->in_file_send)
        return;
    c->in_file_send = true;
    size_t chunk = c->mtu - (c->client_hdr ? S5066_CLIENT_HDR_LEN : 0);
    while (c->file_off < c->file_len) {
        size_t n = UTIL_MIN(chunk, c->file_len - c->file_off);
        if (cat_submit(c, c->file_data + c->file_off, n) == S5066_ERR_QUEUE_FULL) {
            c->in_file_send = false;
            return; /* try again after results */
        }
        c->file_off += n;
    }
    c->in_file_send = false;
    c->input_done = true;
    cat_maybe_exit(c);
}

/* cat_on_stdin - read lines from stdin, one U_PDU each */
static void cat_on_stdin(struct ev_loop *loop, ev_io *w, int revents)
{
    struct cat *c = w->data;
    (void)revents;
    uint8_t buf[4096];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        ev_io_stop(loop, w);
        if (c->line.len)
            cat_submit(c, c->line.data, c->line.len);
        util_buf_reset(&c->line);
        c->input_done = true;
        cat_maybe_exit(c);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            size_t len = c->line.len;
            if (len && c->line.data[len - 1] == '\r')
                len--;
            cat_submit(c, c->line.data, len);
            util_buf_reset(&c->line);
        } else if (util_buf_append(&c->line, &buf[i], 1) < 0 || c->line.len >= c->mtu) {
            cat_submit(c, c->line.data, c->line.len);
            util_buf_reset(&c->line);
        }
    }
}

/* cat_start_input - once bound: start sending */
static void cat_start_input(struct cat *c)
{
    if (c->listen_only) {
        c->input_done = true;
        return;
    }
    if (c->file) {
        cat_send_file_chunks(c);
        return;
    }
    if (!ev_is_active(&c->stdin_w) && !c->input_done)
        ev_io_start(c->loop, &c->stdin_w);
}

/* cat_on_state - bound: report and start */
static void cat_on_state(void *user, int state, uint16_t mtu)
{
    struct cat *c = user;
    if (state == S5066_CLIENT_BOUND) {
        c->mtu = mtu;
        fprintf(stderr, "s5066cat: bound, MTU %u\n", mtu);
        if (!c->bound) {
            c->bound = true;
            if (c->set_emcon >= 0) {
                uint8_t body = (uint8_t)c->set_emcon;
                struct s5066_prim p;
                s5066_prim_init(&p, S5066_MANAGEMENT_MSG_REQUEST);
                p.u.mgmt.msg_type = 1;
                p.u.mgmt.body = &body;
                p.u.mgmt.body_len = 1;
                int rc = s5066_link_send_prim(c->link, &p);
                fprintf(stderr, "s5066cat: EMCON %s requested%s\n", body ? "on" : "off", rc < 0 ? " (send failed)" : "");
                if (rc < 0)
                    c->exit_code = 1;
                ev_break(c->loop, EVBREAK_ALL);
                return;
            }
            cat_start_input(c);
        }
    } else if (state == S5066_CLIENT_FAILED) {
        fprintf(stderr, "s5066cat: bind refused for good\n");
        c->exit_code = 1;
        ev_break(c->loop, EVBREAK_ALL);
    }
}

/* cat_on_ind - print one arrival */
static void cat_on_ind(void *user, const struct s5066_unidata_indication *ind, bool expedited)
{
    struct cat *c = user;
    char src[S5066_ADDR_STRLEN];
    const uint8_t *p = ind->updu;
    size_t len = ind->updu_len;
    struct s5066_client_hdr h;
    bool has_hdr = c->client_hdr && s5066_client_hdr_decode(p, len, &h) == S5066_CLIENT_HDR_LEN;
    if (has_hdr) {
        p += S5066_CLIENT_HDR_LEN;
        len -= S5066_CLIENT_HDR_LEN;
    }
    printf("%s %u %s%u %zu ", s5066_addr_format(&ind->src, src, sizeof src), ind->src_sap,
           expedited ? "x" : "", ind->tx_mode, len);
    if (c->hex) {
        for (size_t i = 0; i < len; i++)
            printf("%02x", p[i]);
    } else {
        for (size_t i = 0; i < len; i++) {
            if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
                putchar(p[i]);
            else
                printf("\\x%02x", p[i]);
        }
    }
    if (ind->tx_mode == S5066_TX_NON_ARQ_ERRORS && (ind->n_err || ind->n_nrx))
        printf(" [errors=%u missing=%u]", ind->n_err, ind->n_nrx);
    putchar('\n');
    fflush(stdout);
    c->received++;
    cat_maybe_exit(c);
}

/* cat_on_result - count outcomes */
static void cat_on_result(void *user, uint64_t id, int result, int reason)
{
    struct cat *c = user;
    if (result == S5066_RESULT_REJECTED && c->mode.tx_mode != S5066_TX_ARQ)
        return; /* a late reject of something already counted as sent */
    c->outcomes++;
    if (result != S5066_RESULT_SENT && result != S5066_RESULT_CONFIRMED) {
        fprintf(stderr, "s5066cat: U_PDU %llu %s (reason %d)\n", (unsigned long long)id,
                s5066_result_name(result), reason);
        c->failures++;
        c->exit_code = 1;
    } else if (result == S5066_RESULT_CONFIRMED) {
        fprintf(stderr, "s5066cat: U_PDU %llu confirmed\n", (unsigned long long)id);
    }
    if (c->file && c->file_off < c->file_len)
        cat_send_file_chunks(c);
    cat_maybe_exit(c);
}

/* cat_on_exit_timer - the grace period ended */
static void cat_on_exit_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* cat_on_deadline - -W: the whole run took too long */
static void cat_on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cat *c = w->data;
    (void)revents;
    fprintf(stderr, "s5066cat: gave up after %.0f s\n", c->deadline_s);
    c->exit_code = 1;
    ev_break(loop, EVBREAK_ALL);
}

/* cat_on_signal - stop on SIGINT/SIGTERM */
static void cat_on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* cat_read_file - the whole file into memory (bounded) */
static int cat_read_file(struct cat *c, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "s5066cat: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct util_buf b;
    util_buf_init(&b, 64u << 20);
    uint8_t chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if ((rc = util_buf_append(&b, chunk, n)) < 0)
            break;
    fclose(f);
    if (rc < 0) {
        fprintf(stderr, "s5066cat: %s: larger than 64 MiB\n", path);
        util_buf_free(&b);
        return -1;
    }
    c->file_data = b.data;
    c->file_len = b.len;
    return 0;
}

/* cat_mode - parse -m */
static int cat_mode(const char *s)
{
    if (strcmp(s, "arq") == 0)
        return S5066_TX_ARQ;
    if (strcmp(s, "nonarq") == 0 || strcmp(s, "broadcast") == 0)
        return S5066_TX_NON_ARQ;
    if (strcmp(s, "nonarq-errors") == 0)
        return S5066_TX_NON_ARQ_ERRORS;
    return -1;
}

/* main - parse options, connect, bind, run */
int main(int argc, char **argv)
{
    struct cat c;
    memset(&c, 0, sizeof c);
    struct s5066_link_config cfg;
    s5066_link_config_default(&cfg);
    cfg.name = "s5066cat";
    cfg.client.service.confirm = S5066_CONFIRM_NONE;
    c.mode.tx_mode = S5066_TX_ARQ;
    c.app_id = S5066_APP_ID_ACP142;
    c.wait_s = 5.0;
    c.set_emcon = -1;
    int dest_sap = -1;
    bool confirm = false;
    long long v;
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "s:r:a:S:p:m:cR:t:xHf:ln:w:W:XE:vT:hV", longopts,
                              NULL)) != -1) {
        switch (opt) {
        case 's':
            if (util_parse_int(optarg, 0, 15, &v) < 0)
                cat_bad_value(opt, optarg, "a SAP is 0 to 15");
            cfg.client.sap = (uint8_t)v;
            break;
        case 'r':
            if (util_parse_int(optarg, 0, 15, &v) < 0)
                cat_bad_value(opt, optarg, "a rank is 0 to 15");
            cfg.client.rank = (uint8_t)v;
            break;
        case 'a':
            if (s5066_addr_parse(optarg, &c.dest) < 0) {
                util_usage_error("s5066cat", "bad address '%s'", optarg);
                return 2;
            }
            c.have_dest = true;
            break;
        case 'S':
            if (util_parse_int(optarg, 0, 15, &v) < 0)
                cat_bad_value(opt, optarg, "a SAP is 0 to 15");
            dest_sap = (int)v;
            break;
        case 'p':
            if (util_parse_int(optarg, 0, 15, &v) < 0)
                cat_bad_value(opt, optarg, "a priority is 0 to 15");
            c.priority = (uint8_t)v;
            break;
        case 'm': {
            int m = cat_mode(optarg);
            if (m < 0)
                cat_bad_value(opt, optarg, "a mode is arq, nonarq, broadcast or nonarq-errors");
            c.mode.tx_mode = (uint8_t)m;
            break;
        }
        case 'c': confirm = true; break;
        case 'R':
            if (util_parse_int(optarg, 0, 15, &v) < 0)
                cat_bad_value(opt, optarg, "retransmissions are 0 to 15");
            c.mode.min_retx = (uint8_t)v;
            break;
        case 't':
            if (util_parse_int(optarg, 0, 2097150, &v) < 0)
                cat_bad_value(opt, optarg, "a time to live is 0 to 2097150 seconds");
            c.ttl_ms = (util_ms)v * 1000;
            break;
        case 'x': c.expedited = true; break;
        case 'H': c.client_hdr = true; break;
        case 'f': c.file = optarg; break;
        case 'l': c.listen_only = true; break;
        case 'n':
            if (util_parse_int(optarg, 1, 1000000000, &v) < 0)
                cat_bad_value(opt, optarg, "a count is 1 to 1000000000");
            c.expect = (long)v;
            break;
        case 'w':
            if (util_parse_int(optarg, 0, 86400, &v) < 0)
                cat_bad_value(opt, optarg, "a wait is 0 to 86400 seconds");
            c.wait_s = (double)v;
            break;
        case 'W':
            if (util_parse_int(optarg, 1, 864000, &v) < 0)
                cat_bad_value(opt, optarg, "a deadline is 1 to 864000 seconds");
            c.deadline_s = (double)v;
            break;
        case 'X': c.hex = true; break;
        case 'E':
            if (strcmp(optarg, "on") == 0)
                c.set_emcon = 1;
            else if (strcmp(optarg, "off") == 0)
                c.set_emcon = 0;
            else
                cat_bad_value(opt, optarg, "EMCON is on or off");
            cfg.client.rank = 15;
            c.listen_only = true;
            break;
        case 'v': util_log_set_level(UTIL_LOG_DEBUG); break;
        case 'T':
            if (util_log_set_trace(optarg) < 0) {
                util_usage_error("s5066cat", "unknown module in -T %s", optarg);
                return 2;
            }
            break;
        case 'h': usage();
        case 'V': return util_print_version("s5066cat");
        default: util_usage_error("s5066cat", NULL); return 2;
        }
    }
    if (optind >= argc) {
        util_usage_error("s5066cat", "no TARGET: the 5066 server, host:port or serial:DEVICE");
        return 2;
    }
    if (optind < argc - 1) {
        util_usage_error("s5066cat", "unexpected argument '%s' after the TARGET", argv[optind + 1]);
        return 2;
    }
    if (s5066_link_parse_target(argv[optind], &cfg) < 0) {
        util_usage_error("s5066cat", "bad target '%s'", argv[optind]);
        return 2;
    }
    if (!c.listen_only && !c.have_dest) {
        util_usage_error("s5066cat", "-a ADDR is needed to send (or -l to listen)");
        return 2;
    }
    if (c.have_dest && c.dest.group && c.mode.tx_mode == S5066_TX_ARQ) {
        util_usage_error("s5066cat", "a group address is only ever sent non-ARQ (-m nonarq)");
        return 2;
    }
    if (confirm && c.mode.tx_mode != S5066_TX_ARQ) {
        util_usage_error("s5066cat", "delivery confirmation needs ARQ");
        return 2;
    }
    c.mode.confirm = confirm ? S5066_CONFIRM_NODE : S5066_CONFIRM_NONE;
    c.dest_sap = dest_sap >= 0 ? (uint8_t)dest_sap : cfg.client.sap;
    cfg.client.service.tx_mode = c.mode.tx_mode;
    if (c.file && cat_read_file(&c, c.file) < 0)
        return 1;

    signal(SIGPIPE, SIG_IGN);
    c.loop = EV_DEFAULT;
    util_buf_init(&c.line, 65536);
    static const struct s5066_client_callbacks cb = {
        NULL, cat_on_state, cat_on_ind, cat_on_result, NULL, NULL,
    };
    c.link = s5066_link_new(c.loop, &cfg, &cb, &c);
    if (!c.link) {
        fprintf(stderr, "s5066cat: out of memory\n");
        return 1;
    }
    ev_io_init(&c.stdin_w, cat_on_stdin, STDIN_FILENO, EV_READ);
    c.stdin_w.data = &c;
    ev_timer_init(&c.exit_timer, cat_on_exit_timer, 0.0, 0.0);
    ev_signal_init(&c.sigint, cat_on_signal, SIGINT);
    ev_signal_init(&c.sigterm, cat_on_signal, SIGTERM);
    ev_signal_start(c.loop, &c.sigint);
    ev_signal_start(c.loop, &c.sigterm);
    ev_timer_init(&c.deadline, cat_on_deadline, c.deadline_s, 0.0);
    c.deadline.data = &c;
    if (c.deadline_s > 0)
        ev_timer_start(c.loop, &c.deadline);
    s5066_link_start(c.link);
    ev_run(c.loop, 0);

    fprintf(stderr, "s5066cat: sent %llu, received %llu, failed %llu\n", (unsigned long long)c.submitted,
            (unsigned long long)c.received, (unsigned long long)c.failures);
    if (!c.bound)
        c.exit_code = 1;
    if (!c.listen_only && c.outcomes < c.submitted)
        c.exit_code = 1;
    s5066_link_free(c.link);
    util_buf_free(&c.line);
    free(c.file_data);
    ev_loop_destroy(c.loop);
    return c.exit_code;
}
