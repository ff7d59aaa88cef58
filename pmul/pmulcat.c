/* pmulcat.c - send files to N destinations with ACP 142 P_MUL (section 5:
 * the Address_PDU/Data_PDU/Ack_PDU exchange, Annex B parameters) over
 * STANAG 5066 (SIS, SAP 2 with the STANAG 4406 Annex E client header) or
 * over UDP multicast (ACP 142 Annex B), and receive files into a directory.
 * Useful on its own, and the end-to-end test of the engine and bearers.
 *
 *   pmulcat [-c CONFIG] [-i ID] (-s TARGET | -u ADDR) [-d DESTS -f FILE...] [-r DIR] ...
 *
 * A received message is written to DIR/<source>-<message_id> (a temporary
 * name, fsync, rename, fsync of the directory) before deliver returns 0, so
 * the Ack_PDU follows the fsync (DESIGN.md, reliability rules).
 */
#include "pmul/pmul.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CAT_MAX_FILES  64
#define CAT_MAX_DESTS  1024
#define CAT_MAX_FILE   (64u << 20)
#define CAT_MAX_RECORD 4096 /* delivered messages remembered for the -n exit */

struct cat_file {
    const char *path;
    uint8_t *data;
    size_t len;
    struct pmul_dest_spec *dests;
    uint64_t handle;
    uint32_t msgid;
    bool started, done;
    size_t acked, failed;
};

struct cat_msn {
    uint32_t dest, next;
};

struct cat_rx {
    uint32_t src, msgid;
    bool ack_acked;
};

struct cat {
    struct ev_loop *loop;
    struct pmul_bearer *bearer;
    struct pmul_bearer_config bcfg;
    struct pmul_params params;
    /* sending */
    struct cat_file files[CAT_MAX_FILES];
    size_t nfiles, files_done;
    uint32_t dests[CAT_MAX_DESTS];
    size_t ndests;
    uint8_t priority;
    int64_t expiry_s;
    bool sending_started;
    size_t total_acked, total_failed;
    /* receiving */
    const char *recv_dir;
    long expect;
    uint64_t received, refused;
    struct cat_rx rx[CAT_MAX_RECORD];
    size_t nrx;
    double linger_s;
    ev_timer quiet;
    /* state */
    const char *state_dir;
    uint32_t next_msgid;
    struct cat_msn *msn;
    size_t nmsn;
    /* exit */
    double timeout_s;
    ev_timer timeout, drain;
    int drain_ticks;
    ev_signal sigint, sigterm;
    bool finishing, timed_out, interrupted;
    int exit_code;
};

/* usage - the help text on stdout, and exit */
static _Noreturn void usage(void)
{
    printf("usage: pmulcat [-c CONFIG] [options]\n"
           "       pmulcat -h | -V\n"
           "Send files with ACP 142 P_MUL and/or receive them, over STANAG 5066 or UDP.\n"
           "  -c FILE          config file ([pmul], [bearer], [node NAME], [group NAME])\n"
           "  -C, --check      check the config (and options) and exit\n"
           "  -i ID            our node id: decimal, 0x hex, a.b.c.d or a [node] name\n"
           "                   (UDP: our IPv4 address by default)\n"
           "  -s TARGET        SIS bearer: the 5066 server, host:port or\n"
           "                   serial:/dev/tty[:baud[:rtscts]]\n"
           "  -u ADDR          UDP bearer: our IPv4 address (e.g. 127.0.0.2)\n"
           "  -g GROUP         UDP multicast group (default %s)\n"
           "  -P PORT          UDP first port of four, 1..65532 (default %d: 2751-2754)\n"
           "  -d LIST          destinations: [node] names or ids, comma separated\n"
           "  -f FILE          send FILE as one message (repeatable, up to %d)\n"
           "  -p PRIO          P_MUL priority 0..15, 0 most urgent (default 6)\n"
           "  -e SECONDS       expiry, from now, in radio seconds (default 3600)\n"
           "  -r DIR           receive: write each message to DIR/<source>-<message_id>\n"
           "  -n N             exit after receiving N messages (once they are acknowledged:\n"
           "                   the sender's Ack-Ack, or -w seconds without P_MUL traffic)\n"
           "  -w SECONDS       quiet time for -n (default: 2 x ack_retransmission_time)\n"
           "  -t SECONDS       give up after SECONDS (real time): exit 1\n"
           "  -S DIR           keep the next Message_ID and the Message_Sequence_Numbers\n"
           "                   in DIR/pmulcat.state, across runs\n"
           "  -x, --time-scale N  run the P_MUL clock N times faster than real time\n"
           "                   (to match s5066sim -s N; timers stay in radio time)\n"
           "  -v               verbose (debug logs); -q quiet (warnings)\n"
           "  -T MODS          trace modules (pmul,s5066,...)\n"
           "  -h, --help       print this help and exit\n"
           "  -V, --version    print the version and exit\n"
           "Exit: 0 every destination acknowledged every file and N messages were\n"
           "received; 1 a destination failed, a timeout or an error; 2 usage/config.\n"
           "stdout: 'sent FILE msgid=M dest=D result=acked|expired|cancelled' per\n"
           "destination, 'received src=S msgid=M len=L file=PATH' per message.\n",
           PMUL_UDP_GROUP, PMUL_UDP_PORT_BASE, CAT_MAX_FILES);
    exit(util_stdout_done("pmulcat"));
}

/* cat_bad_value - a bad option argument: the message and the --help hint, exit 2 */
static _Noreturn void cat_bad_value(int opt, const char *arg, const char *what)
{
    util_usage_error("pmulcat", "-%c %s: %s", opt, arg, what);
    exit(2);
}

/* ---- state: Message_ID and Message_Sequence_Numbers -------------------- */

/* state_save - write DIR/pmulcat.state by rename (fsynced) */
static int state_save(struct cat *c)
{
    if (!c->state_dir)
        return 0;
    char path[4096], tmp[4096];
    snprintf(path, sizeof path, "%s/pmulcat.state", c->state_dir);
    snprintf(tmp, sizeof tmp, "%s/.pmulcat.state.tmp", c->state_dir);
    FILE *f = fopen(tmp, "w");
    if (!f)
        goto fail;
    fprintf(f, "message_id %" PRIu32 "\n", c->next_msgid);
    for (size_t i = 0; i < c->nmsn; i++)
        fprintf(f, "msn %" PRIu32 " %" PRIu32 "\n", c->msn[i].dest, c->msn[i].next);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        goto fail;
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        goto fail;
    return 0;
fail:
    util_log(UTIL_LOG_ERR, UTIL_MOD_MAIN, "state-save-failed", "path=%s error=\"%s\"", path,
             strerror(errno));
    return UTIL_ERR_IO;
}

/* state_load - read DIR/pmulcat.state if it exists */
static int state_load(struct cat *c)
{
    char path[4096], line[256];
    snprintf(path, sizeof path, "%s/pmulcat.state", c->state_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : UTIL_ERR_IO;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "message_id %lu", &a) == 1) {
            c->next_msgid = (uint32_t)a;
        } else if (sscanf(line, "msn %lu %lu", &a, &b) == 2) {
            struct cat_msn *m = realloc(c->msn, (c->nmsn + 1) * sizeof *m);
            if (!m) {
                rc = UTIL_ERR_NOMEM;
                break;
            }
            c->msn = m;
            c->msn[c->nmsn].dest = (uint32_t)a;
            c->msn[c->nmsn].next = (uint32_t)b;
            c->nmsn++;
        } else {
            rc = UTIL_ERR_SYNTAX;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* cat_alloc_message_id - the next Message_ID, saved before use */
static int cat_alloc_message_id(void *user, uint32_t *id)
{
    struct cat *c = user;
    if (++c->next_msgid == 0)
        c->next_msgid = 1;
    *id = c->next_msgid;
    return state_save(c);
}

/* cat_alloc_msn - the next Message_Sequence_Number for dest, saved before use */
static int cat_alloc_msn(void *user, uint32_t dest, uint32_t *msn)
{
    struct cat *c = user;
    size_t i;
    for (i = 0; i < c->nmsn; i++)
        if (c->msn[i].dest == dest)
            break;
    if (i == c->nmsn) {
        struct cat_msn *m = realloc(c->msn, (c->nmsn + 1) * sizeof *m);
        if (!m)
            return UTIL_ERR_NOMEM;
        c->msn = m;
        c->msn[c->nmsn].dest = dest;
        c->msn[c->nmsn].next = 1;
        c->nmsn++;
    }
    *msn = c->msn[i].next++;
    if (c->msn[i].next == 0)
        c->msn[i].next = 1;
    return state_save(c);
}

/* ---- exit ------------------------------------------------------------------- */

/* cat_on_drain - stop once the bearer has handed everything over (at most ~5 s) */
static void cat_on_drain(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cat *c = w->data;
    (void)revents;
    if (pmul_bearer_idle(c->bearer) || ++c->drain_ticks > 100) {
        ev_timer_stop(loop, w);
        ev_break(loop, EVBREAK_ALL);
    }
}

/* cat_finish - everything asked for is done: drain the bearer, then stop */
static void cat_finish(struct cat *c)
{
    if (c->finishing)
        return;
    c->finishing = true;
    ev_timer_set(&c->drain, 0.05, 0.05);
    ev_timer_start(c->loop, &c->drain);
}

/* cat_receive_done - -n satisfied and every delivered message settled */
static bool cat_receive_done(const struct cat *c)
{
    if (c->expect <= 0)
        return true;
    if (c->received < (uint64_t)c->expect)
        return false;
    for (size_t i = 0; i < c->nrx; i++)
        if (!c->rx[i].ack_acked)
            return false;
    return true;
}

/* cat_check_done - finish when the sends and the receives asked for are done */
static void cat_check_done(struct cat *c)
{
    bool send_done = c->nfiles == 0 || c->files_done == c->nfiles;
    bool recv_wanted = c->expect > 0;
    if (!send_done)
        return;
    if (c->nfiles == 0 && !recv_wanted)
        return; /* receive until stopped */
    if (recv_wanted && !cat_receive_done(c)) {
        if (c->received >= (uint64_t)c->expect && !ev_is_active(&c->quiet)) {
            ev_timer_set(&c->quiet, c->linger_s, 0.0);
            ev_timer_start(c->loop, &c->quiet);
        }
        return;
    }
    cat_finish(c);
}

/* cat_on_quiet - no P_MUL traffic for a while after the last message: done */
static void cat_on_quiet(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cat *c = w->data;
    (void)loop;
    (void)revents;
    util_log(UTIL_LOG_INFO, UTIL_MOD_MAIN, "quiet", "received=%" PRIu64 " linger_s=%g", c->received,
             c->linger_s);
    for (size_t i = 0; i < c->nrx; i++)
        c->rx[i].ack_acked = true;
    cat_check_done(c);
}

/* cat_on_timeout - -t expired */
static void cat_on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cat *c = w->data;
    (void)w;
    (void)revents;
    util_log(UTIL_LOG_ERR, UTIL_MOD_MAIN, "timeout",
             "after_s=%g files_done=%zu/%zu received=%" PRIu64, c->timeout_s, c->files_done,
             c->nfiles, c->received);
    c->timed_out = true;
    ev_break(loop, EVBREAK_ALL);
}

/* cat_on_signal - SIGINT/SIGTERM: stop now */
static void cat_on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct cat *c = w->data;
    (void)revents;
    c->interrupted = true;
    ev_break(loop, EVBREAK_ALL);
}

/* ---- receiving ------------------------------------------------------------- */

/* cat_rx_path - DIR/<src>-<msgid> */
static void cat_rx_path(const struct cat *c, uint32_t src, uint32_t msgid, char *out, size_t len,
                        bool tmp)
{
    snprintf(out, len, "%s/%s%" PRIu32 "-%" PRIu32 "%s", c->recv_dir, tmp ? "." : "", src, msgid,
             tmp ? ".tmp" : "");
}

/* cat_write_file - write data to path via a temporary name, fsync, rename, fsync dir */
static int cat_write_file(const struct cat *c, const char *tmp, const char *path,
                          const uint8_t *data, size_t len)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            unlink(tmp);
            return -1;
        }
        off += (size_t)n;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    int dfd = open(c->recv_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* cat_deliver - a complete message: on disk before we return 0 (then it is acked) */
static int cat_deliver(void *user, const struct pmul_rx_message *m)
{
    struct cat *c = user;
    if (!c->recv_dir) {
        if (c->refused++ == 0)
            util_log(UTIL_LOG_WARN, UTIL_MOD_MAIN, "refused",
                     "src=%" PRIu32 " msgid=%" PRIu32
                     " len=%zu (not receiving: no -r DIR; logged once)",
                     m->source_id, m->message_id, m->len);
        return -1;
    }
    char path[4096], tmp[4096];
    cat_rx_path(c, m->source_id, m->message_id, path, sizeof path, false);
    cat_rx_path(c, m->source_id, m->message_id, tmp, sizeof tmp, true);
    if (cat_write_file(c, tmp, path, m->data, m->len) < 0) {
        util_log(UTIL_LOG_ERR, UTIL_MOD_MAIN, "write-failed",
                 "src=%" PRIu32 " msgid=%" PRIu32 " path=%s error=\"%s\"", m->source_id,
                 m->message_id, path, strerror(errno));
        return -1;
    }
    c->received++;
    util_log(UTIL_LOG_INFO, UTIL_MOD_MAIN, "received",
             "src=%" PRIu32 " msgid=%" PRIu32 " msn=%" PRIu32 " prio=%u len=%zu file=%s",
             m->source_id, m->message_id, m->msn, m->priority, m->len, path);
    printf("received src=%" PRIu32 " msgid=%" PRIu32 " len=%zu file=%s\n", m->source_id,
           m->message_id, m->len, path);
    fflush(stdout);
    if (c->nrx < CAT_MAX_RECORD) {
        c->rx[c->nrx].src = m->source_id;
        c->rx[c->nrx].msgid = m->message_id;
        c->rx[c->nrx].ack_acked = false;
        c->nrx++;
    }
    cat_check_done(c);
    return 0;
}

/* cat_already_delivered - the file exists: delivered before a restart */
static bool cat_already_delivered(void *user, uint32_t src, uint32_t msgid)
{
    struct cat *c = user;
    if (!c->recv_dir)
        return false;
    char path[4096];
    struct stat st;
    cat_rx_path(c, src, msgid, path, sizeof path, false);
    return stat(path, &st) == 0;
}

/* cat_gap - messages from src never arrived */
static void cat_gap(void *user, uint32_t src, uint32_t expected, uint32_t got)
{
    (void)user;
    util_log(UTIL_LOG_WARN, UTIL_MOD_MAIN, "gap",
             "src=%" PRIu32 " expected_msn=%" PRIu32 " got_msn=%" PRIu32, src, expected, got);
}

/* cat_pdu_in - watch for the Ack-Ack of what we delivered; restart the quiet timer */
static void cat_pdu_in(void *user, const uint8_t *pdu, size_t len)
{
    struct cat *c = user;
    if (ev_is_active(&c->quiet)) {
        ev_timer_stop(c->loop, &c->quiet);
        ev_timer_set(&c->quiet, c->linger_s, 0.0);
        ev_timer_start(c->loop, &c->quiet);
    }
    /* an Address_PDU without destinations (bytes 20-21: the count) is the Ack-Ack */
    if (len < PMUL_ADDRESS_HDR_LEN || (pdu[3] & 0x3F) != PMUL_ADDRESS ||
        util_get_u16(pdu + 20) != 0)
        return;
    uint32_t src = util_get_u32(pdu + 8), msgid = util_get_u32(pdu + 12);
    for (size_t i = 0; i < c->nrx; i++)
        if (c->rx[i].src == src && c->rx[i].msgid == msgid && !c->rx[i].ack_acked) {
            c->rx[i].ack_acked = true;
            util_log(UTIL_LOG_DEBUG, UTIL_MOD_MAIN, "ack-ack", "src=%" PRIu32 " msgid=%" PRIu32,
                     src, msgid);
            cat_check_done(c);
        }
}

/* ---- sending ---------------------------------------------------------------- */

/* cat_node_label - the [node] name, else the id (a.b.c.d over UDP) */
static const char *cat_node_label(const struct cat *c, uint32_t id, char *buf, size_t len)
{
    const char *name = pmul_bearer_node_name(&c->bcfg, id);
    if (name)
        snprintf(buf, len, "%s", name);
    else if (c->bcfg.kind == PMUL_BEARER_UDP) /* node ids are IPv4 addresses */
        snprintf(buf, len, "%u.%u.%u.%u", id >> 24, (id >> 16) & 0xFF, (id >> 8) & 0xFF, id & 0xFF);
    else
        snprintf(buf, len, "%" PRIu32, id);
    return buf;
}

/* cat_find_file - the file a handle belongs to */
static struct cat_file *cat_find_file(struct cat *c, uint64_t handle)
{
    for (size_t i = 0; i < c->nfiles; i++)
        if (c->files[i].started && c->files[i].handle == handle)
            return &c->files[i];
    return NULL;
}

/* cat_dest_done - print one destination's outcome */
static void cat_dest_done(void *user, uint64_t handle, uint32_t msgid, uint32_t dest, int result)
{
    struct cat *c = user;
    struct cat_file *f = cat_find_file(c, handle);
    char label[64];
    cat_node_label(c, dest, label, sizeof label);
    printf("sent %s msgid=%" PRIu32 " dest=%s result=%s\n", f ? f->path : "?", msgid, label,
           pmul_dest_result_name(result));
    fflush(stdout);
    util_log(result == PMUL_DEST_ACKED ? UTIL_LOG_INFO : UTIL_LOG_WARN, UTIL_MOD_MAIN, "dest-done",
             "file=%s msgid=%" PRIu32 " dest=%s result=%s", f ? f->path : "?", msgid, label,
             pmul_dest_result_name(result));
    if (f) {
        if (result == PMUL_DEST_ACKED)
            f->acked++;
        else
            f->failed++;
    }
}

/* cat_message_done - a file is finished for every destination */
static void cat_message_done(void *user, uint64_t handle, uint32_t msgid, size_t acked,
                             size_t failed)
{
    struct cat *c = user;
    struct cat_file *f = cat_find_file(c, handle);
    util_log(UTIL_LOG_INFO, UTIL_MOD_MAIN, "message-done",
             "file=%s msgid=%" PRIu32 " acked=%zu failed=%zu", f ? f->path : "?", msgid, acked,
             failed);
    if (f && !f->done) {
        f->done = true;
        c->files_done++;
        c->total_acked += acked;
        c->total_failed += failed;
    }
    cat_check_done(c);
}

/* cat_start_sending - hand every file to the engine */
static void cat_start_sending(struct cat *c)
{
    if (c->sending_started)
        return;
    c->sending_started = true;
    for (size_t i = 0; i < c->nfiles; i++) {
        struct cat_file *f = &c->files[i];
        for (size_t d = 0; d < c->ndests; d++) {
            f->dests[d].id = c->dests[d];
            f->dests[d].emcon = false;
            f->dests[d].msn = 0;
        }
        struct pmul_message m;
        memset(&m, 0, sizeof m);
        m.data = f->data;
        m.len = f->len;
        m.dests = f->dests;
        m.ndests = c->ndests;
        m.priority = c->priority;
        m.expiry = pmul_bearer_wall_s(c->bearer) + c->expiry_s;
        int rc = pmul_bearer_send(c->bearer, &m, &f->handle);
        if (rc < 0) {
            util_log(UTIL_LOG_ERR, UTIL_MOD_MAIN, "send-failed", "file=%s len=%zu error=\"%s\"",
                     f->path, f->len, pmul_strerror(rc));
            fprintf(stderr, "pmulcat: %s: %s\n", f->path, pmul_strerror(rc));
            f->done = true;
            f->failed = c->ndests;
            c->total_failed += c->ndests;
            c->files_done++;
            continue;
        }
        f->started = true;
        f->msgid = m.message_id;
        char exp[UTIL_TIME_ISO_LEN];
        util_log(UTIL_LOG_INFO, UTIL_MOD_MAIN, "sending",
                 "file=%s len=%zu msgid=%" PRIu32 " dests=%zu prio=%u expiry=%s", f->path, f->len,
                 m.message_id, c->ndests, c->priority, util_time_iso(m.expiry, exp, sizeof exp));
    }
    cat_check_done(c);
}

/* cat_ready - the bearer is up (or down) */
static void cat_ready(void *user, bool ready, size_t pdu_max)
{
    struct cat *c = user;
    util_log(UTIL_LOG_INFO, UTIL_MOD_MAIN, ready ? "ready" : "not-ready", "pdu_max=%zu", pdu_max);
    if (ready) {
        fprintf(stderr, "pmulcat: ready, PDU size %zu\n", pdu_max);
        cat_start_sending(c);
    }
}

/* cat_read_file - a whole file into memory (bounded) */
static int cat_read_file(struct cat_file *f)
{
    FILE *fp = fopen(f->path, "rb");
    if (!fp) {
        fprintf(stderr, "pmulcat: %s: %s\n", f->path, strerror(errno));
        return -1;
    }
    struct util_buf b;
    util_buf_init(&b, CAT_MAX_FILE);
    uint8_t chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        if ((rc = util_buf_append(&b, chunk, n)) < 0)
            break;
    bool err = ferror(fp);
    fclose(fp);
    if (rc < 0 || err) {
        fprintf(stderr, "pmulcat: %s: %s\n", f->path, err ? "read error" : "larger than 64 MiB");
        util_buf_free(&b);
        return -1;
    }
    f->data = b.data;
    f->len = b.len;
    return 0;
}

/* cat_parse_dests - "-d alpha,2,0.0.0.3" into ids */
static int cat_parse_dests(struct cat *c, const char *list)
{
    char tmp[8192];
    if (strlen(list) >= sizeof tmp)
        return -1;
    snprintf(tmp, sizeof tmp, "%s", list);
    for (char *save = NULL, *t = strtok_r(tmp, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        uint32_t id;
        if (pmul_bearer_find_node(&c->bcfg, t, &id) < 0) {
            fprintf(stderr, "pmulcat: -d: '%s' is neither a [node] name nor a node id\n", t);
            return -1;
        }
        for (size_t i = 0; i < c->ndests; i++)
            if (c->dests[i] == id) {
                fprintf(stderr, "pmulcat: -d: '%s' given twice\n", t);
                return -1;
            }
        if (c->ndests >= CAT_MAX_DESTS)
            return -1;
        c->dests[c->ndests++] = id;
    }
    return c->ndests ? 0 : -1;
}

/* ---- main ------------------------------------------------------------------------ */

struct cat_opts {
    const char *config, *node_id, *sis_target, *udp_addr, *udp_group, *dests;
    long udp_port;
    double time_scale;
    bool check;
};

/* cat_configure - the config file, then the options over it; 0 or 2 (usage/config error) */
static int cat_configure(struct cat *c, const struct cat_opts *o)
{
    struct util_conf *conf = NULL;
    pmul_bearer_config_init(&c->bcfg);
    c->bcfg.name = "pmulcat";
    c->bcfg.link.name = "pmulcat";
    pmul_params_default(&c->params);
    if (o->config) {
        char err[512];
        int rc;
        conf = util_conf_load(o->config, err, sizeof err, &rc);
        if (!conf) {
            fprintf(stderr, "pmulcat: %s\n", err);
            return 2;
        }
        pmul_bearer_config_from_conf(conf, &c->bcfg);
    }
    if (o->sis_target) {
        c->bcfg.kind = PMUL_BEARER_SIS;
        if (s5066_link_parse_target(o->sis_target, &c->bcfg.link) < 0) {
            fprintf(stderr, "pmulcat: -s: bad target '%s'\n", o->sis_target);
            util_conf_free(conf);
            return 2;
        }
    }
    if (o->udp_addr) {
        c->bcfg.kind = PMUL_BEARER_UDP;
        snprintf(c->bcfg.udp_addr, sizeof c->bcfg.udp_addr, "%s", o->udp_addr);
    }
    if (o->udp_group)
        snprintf(c->bcfg.udp_group, sizeof c->bcfg.udp_group, "%s", o->udp_group);
    if (o->udp_port)
        c->bcfg.udp_port = (uint16_t)o->udp_port;
    if (o->time_scale > 0.0)
        c->bcfg.time_scale = o->time_scale;
    if (c->bcfg.kind == PMUL_BEARER_UDP)
        c->params.rate_bps = 0; /* no pacing on IP unless [pmul] rate says so */
    if (conf) {
        pmul_params_from_conf(conf, &c->params);
        util_conf_check_unused(conf);
        if (util_conf_errcode(conf) < 0) {
            fprintf(stderr, "pmulcat: %s\n", util_conf_error(conf));
            util_conf_free(conf);
            return 2;
        }
        util_conf_free(conf);
    }
    if (o->node_id && pmul_bearer_find_node(&c->bcfg, o->node_id, &c->params.node_id) < 0) {
        fprintf(stderr, "pmulcat: -i: bad node id '%s'\n", o->node_id);
        return 2;
    }
    if (!c->params.node_id && c->bcfg.kind == PMUL_BEARER_UDP &&
        pmul_parse_node_id(c->bcfg.udp_addr, &c->params.node_id) < 0) {
        fprintf(stderr, "pmulcat: bad UDP address '%s'\n", c->bcfg.udp_addr);
        return 2;
    }
    if (!c->params.node_id) {
        fprintf(stderr, "pmulcat: no node id: -i ID or [pmul] node_id\n");
        return 2;
    }
    if (o->dests && cat_parse_dests(c, o->dests) < 0)
        return 2;
    for (size_t i = 0; i < c->ndests; i++)
        if (c->dests[i] == c->params.node_id) {
            fprintf(stderr, "pmulcat: -d: %" PRIu32 " is this node\n", c->dests[i]);
            return 2;
        }
    if (c->nfiles && !c->ndests) {
        fprintf(stderr, "pmulcat: -f needs destinations (-d)\n");
        return 2;
    }
    return 0;
}

/* main - options, config, bearer, run */
int main(int argc, char **argv)
{
    static struct cat c; /* large: keep it off the stack */
    struct cat_opts o;
    memset(&o, 0, sizeof o);
    c.priority = 6;
    c.expiry_s = 3600;
    c.linger_s = -1.0;
    static const struct option longopts[] = {
        {"check", no_argument, NULL, 'C'},
        {"time-scale", required_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    long long v;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:Ci:s:u:g:P:d:f:p:e:r:n:w:t:S:x:vqT:hV", longopts,
                              NULL)) != -1) {
        switch (opt) {
        case 'c': o.config = optarg; break;
        case 'C': o.check = true; break;
        case 'i': o.node_id = optarg; break;
        case 's': o.sis_target = optarg; break;
        case 'u': o.udp_addr = optarg; break;
        case 'g': o.udp_group = optarg; break;
        case 'P':
            if (util_parse_int(optarg, 1, 65532, &v) < 0)
                cat_bad_value(opt, optarg, "a UDP port is 1 to 65532");
            o.udp_port = (long)v;
            break;
        case 'd': o.dests = optarg; break;
        case 'f':
            if (c.nfiles >= CAT_MAX_FILES) {
                util_usage_error("pmulcat", "at most %d files", CAT_MAX_FILES);
                return 2;
            }
            c.files[c.nfiles++].path = optarg;
            break;
        case 'p':
            if (util_parse_int(optarg, 0, 15, &v) < 0)
                cat_bad_value(opt, optarg, "a priority is 0 to 15");
            c.priority = (uint8_t)v;
            break;
        case 'e':
            if (util_parse_int(optarg, 1, 30LL * 86400, &v) < 0)
                cat_bad_value(opt, optarg, "an expiry is 1 to 2592000 seconds");
            c.expiry_s = v;
            break;
        case 'r': c.recv_dir = optarg; break;
        case 'n':
            if (util_parse_int(optarg, 1, CAT_MAX_RECORD, &v) < 0) {
                util_usage_error("pmulcat", "-n %s: a count is 1 to %d", optarg, CAT_MAX_RECORD);
                return 2;
            }
            c.expect = (long)v;
            break;
        case 'w':
        case 't': {
            char *end;
            double d = strtod(optarg, &end);
            if (*end || !(d >= 0.0 && d <= 1e7))
                cat_bad_value(opt, optarg, "seconds are a number from 0 to 10000000");
            if (opt == 'w')
                c.linger_s = d;
            else
                c.timeout_s = d;
            break;
        }
        case 'S': c.state_dir = optarg; break;
        case 'x': {
            char *end;
            o.time_scale = strtod(optarg, &end);
            if (*end || !(o.time_scale >= 0.001 && o.time_scale <= 1000000.0)) {
                util_usage_error("pmulcat", "--time-scale %s: a number from 0.001 to 1000000",
                                 optarg);
                return 2;
            }
            break;
        }
        case 'v': util_log_set_level(UTIL_LOG_DEBUG); break;
        case 'q': util_log_set_level(UTIL_LOG_WARN); break;
        case 'T':
            if (util_log_set_trace(optarg) < 0) {
                util_usage_error("pmulcat", "unknown module in -T %s", optarg);
                return 2;
            }
            break;
        case 'h': usage();
        case 'V': return util_print_version("pmulcat");
        default: util_usage_error("pmulcat", NULL); return 2;
        }
    }
    if (optind != argc) {
        util_usage_error("pmulcat", "unexpected argument '%s' (files to send go with -f)",
                         argv[optind]);
        return 2;
    }
    int rc = cat_configure(&c, &o);
    if (rc) {
        pmul_bearer_config_free(&c.bcfg);
        return rc;
    }
    if (!o.check && !c.nfiles && !c.recv_dir) {
        util_usage_error("pmulcat", "nothing to do: -f FILE (with -d) to send, -r DIR to receive");
        pmul_bearer_config_free(&c.bcfg);
        return 2;
    }
    if (c.expect && !c.recv_dir) {
        util_usage_error("pmulcat", "-n needs -r DIR");
        pmul_bearer_config_free(&c.bcfg);
        return 2;
    }
    if (o.check) {
        printf("pmulcat: %s: ok, node %" PRIu32 ", %s bearer, %zu nodes, %zu groups\n",
               o.config ? o.config : "(options)", c.params.node_id,
               c.bcfg.kind == PMUL_BEARER_SIS ? "sis" : "udp", c.bcfg.nnodes, c.bcfg.ngroups);
        pmul_bearer_config_free(&c.bcfg);
        return 0;
    }
    for (size_t i = 0; i < c.nfiles; i++) {
        if (cat_read_file(&c.files[i]) < 0)
            return 1;
        c.files[i].dests = calloc(c.ndests, sizeof *c.files[i].dests);
        if (!c.files[i].dests)
            return 1;
    }
    if (c.state_dir && state_load(&c) < 0) {
        fprintf(stderr, "pmulcat: %s/pmulcat.state: unreadable\n", c.state_dir);
        return 1;
    }
    if (!c.state_dir) { /* no state: a Message_ID unlikely to repeat an earlier run's */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        c.next_msgid = (uint32_t)(((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) ^
                                  ((uint64_t)getpid() << 20));
    }
    if (c.linger_s < 0.0)
        c.linger_s = UTIL_MAX(1.0, 2.0 * (double)c.params.ack_retransmission_time / 1000.0 /
                                       c.bcfg.time_scale);

    signal(SIGPIPE, SIG_IGN);
    c.loop = EV_DEFAULT;
    struct pmul_bearer_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.engine.deliver = cat_deliver;
    cb.engine.dest_done = cat_dest_done;
    cb.engine.message_done = cat_message_done;
    cb.engine.alloc_message_id = cat_alloc_message_id;
    cb.engine.alloc_msn = cat_alloc_msn;
    cb.engine.already_delivered = cat_already_delivered;
    cb.engine.gap = cat_gap;
    cb.ready = cat_ready;
    cb.pdu_in = cat_pdu_in;
    c.bearer = pmul_bearer_new(c.loop, &c.bcfg, &c.params, &cb, &c);
    if (!c.bearer) {
        fprintf(stderr, "pmulcat: cannot set up the bearer (see the log)\n");
        return 1;
    }
    ev_timer_init(&c.quiet, cat_on_quiet, 0.0, 0.0);
    c.quiet.data = &c;
    ev_timer_init(&c.drain, cat_on_drain, 0.0, 0.0);
    c.drain.data = &c;
    ev_timer_init(&c.timeout, cat_on_timeout, c.timeout_s, 0.0);
    c.timeout.data = &c;
    if (c.timeout_s > 0.0)
        ev_timer_start(c.loop, &c.timeout);
    ev_signal_init(&c.sigint, cat_on_signal, SIGINT);
    ev_signal_init(&c.sigterm, cat_on_signal, SIGTERM);
    c.sigint.data = c.sigterm.data = &c;
    ev_signal_start(c.loop, &c.sigint);
    ev_signal_start(c.loop, &c.sigterm);
    util_log(UTIL_LOG_INFO, UTIL_MOD_MAIN, "start",
             "node_id=%" PRIu32 " kind=%s files=%zu dests=%zu recv_dir=%s expect=%ld time_scale=%g",
             c.params.node_id, c.bcfg.kind == PMUL_BEARER_SIS ? "sis" : "udp", c.nfiles, c.ndests,
             c.recv_dir ? c.recv_dir : "-", c.expect, c.bcfg.time_scale);
    if (pmul_bearer_start(c.bearer) < 0) {
        fprintf(stderr, "pmulcat: cannot start the bearer\n");
        return 1;
    }
    ev_run(c.loop, 0);

    struct pmul_engine_stats es;
    pmul_engine_get_stats(pmul_bearer_engine(c.bearer), &es);
    struct pmul_bearer_stats bs;
    pmul_bearer_get_stats(c.bearer, &bs);
    util_log(
        UTIL_LOG_INFO, UTIL_MOD_MAIN, "stats",
        "pdus_sent=%" PRIu64 " data_sent=%" PRIu64 " data_resent=%" PRIu64 " acks_sent=%" PRIu64
        " pdus_received=%" PRIu64 " bad_pdus=%" PRIu64 " delivered=%" PRIu64 " duplicates=%" PRIu64
        " wrong_app=%" PRIu64 " dropped_in=%" PRIu64 " no_route=%" PRIu64,
        es.pdus_sent, es.data_sent, es.data_resent, es.acks_sent, es.pdus_received, es.bad_pdus,
        es.messages_delivered, es.duplicates, bs.wrong_app, bs.dropped_in, bs.no_route);
    if (c.nfiles)
        fprintf(
            stderr,
            "pmulcat: sent %zu of %zu message(s) to %zu destination(s): %zu acked, %zu failed\n",
            c.files_done, c.nfiles, c.ndests, c.total_acked, c.total_failed);
    if (c.recv_dir)
        fprintf(stderr, "pmulcat: received %" PRIu64 " message(s)\n", c.received);
    int code = 0;
    if (c.files_done < c.nfiles || c.total_failed > 0 || c.total_acked < c.nfiles * c.ndests)
        code = 1;
    if (c.expect > 0 && c.received < (uint64_t)c.expect)
        code = 1;
    if (c.timed_out)
        code = 1;
    if (c.interrupted && !c.nfiles && !c.expect)
        code = 0;
    pmul_bearer_free(c.bearer);
    pmul_bearer_config_free(&c.bcfg);
    for (size_t i = 0; i < c.nfiles; i++) {
        free(c.files[i].data);
        free(c.files[i].dests);
    }
    free(c.msn);
    ev_loop_destroy(c.loop);
    return code;
}
