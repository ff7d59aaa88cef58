/* spool.c - mulegw's durable spool: Postfix's queue model (files written in
 * tmp/, fsync'd, moved into place by rename(); the state of a message is
 * the directory its envelope is in) under DESIGN.md's reliability rules:
 * RFC 5321 4.1.1.4 / 6.1 (a 250 after DATA takes responsibility for the
 * message: we answer only after the fsync), ACP 142 5.3 (Message_IDs and
 * per-destination Message_Sequence_Numbers survive restarts; duplicates
 * suppressed by (Source_ID, Message_ID)), RFC 3461/6710/2852/3030 for the
 * MAIL parameters an envelope keeps.
 *
 * Layout (DIR = the spool directory):
 *
 *     DIR/lock          flock()ed by the process that has the spool open
 *     DIR/state         counters, replaced whole (tmp + fsync + rename + fsync DIR):
 *                           mule5066-spool-state 1
 *                           next_message_id=18
 *                           msn.10.0.0.2=5            (next MSN per destination)
 *                           end=
 *     DIR/delivered     journal of delivered (Source_ID, Message_ID):
 *                           mule5066-delivered 1
 *                           <src> <msgid> <expiry>    (decimal; one fsync'd line each)
 *                       compacted (expired entries dropped) at open and when it
 *                       grows past twice its live entries
 *     DIR/tmp/          QID.d (content), QID.e (envelope), state, delivered:
 *                       files being written, removed at open
 *     DIR/data/QID      the content: the RFC 5322 message, unstuffed, as given
 *     DIR/outgoing/QID  envelope of a message to send over HF
 *     DIR/incoming/QID  envelope of a message to deliver to the LAN MTA
 *     DIR/corrupt/      quarantined: QID.<queue>.env and QID.data, state.<time>
 *
 * Adding a message: content to tmp/QID.d, fsync, rename to data/QID, fsync
 * data/; envelope to tmp/QID.e, fsync, rename to <queue>/QID, fsync <queue>/.
 * The envelope's rename is the commit point, and its directory's fsync the
 * moment the message exists (the SMTP 250, the P_MUL ack).  A crash before
 * leaves tmp files (removed at open) or content without an envelope (an
 * orphan, removed at open): the message was never acknowledged.  A move is
 * one rename of the envelope; an update writes tmp/QID.e and renames it over
 * the old one; a removal unlinks the envelope (fsync'd), then the content.
 *
 * The envelope, one text file of key=value lines, in this order:
 *
 *     mule5066-envelope 1
 *     qid=0000ABCD0001       flags=0           content=7bit|8bit|binary
 *     priority=6             arrival=<UNIX s>  expiry=<UNIX s>   size=<bytes>
 *     from=<path>            mail_params=<verbatim>
 *     envid=<xtext>          (only if given)
 *     ret=none|full|hdrs     body=none|7bit|8bitmime|binarymime
 *     mt_priority=<-9..9>    smtputf8=0|1      by=<secs>;R|N[T]  (only if given)
 *     src=<a.b.c.d>          src_msgid=<n>     (incoming from a node only)
 *     attempts=<n>           next_attempt=<UNIX s>
 *     dest=<a.b.c.d>         then dest.final= dest.msgid= dest.msn= dest.state=
 *     rcpt=<addr>            then rcpt.params= rcpt.state= rcpt.dest= rcpt.status= rcpt.diag=
 *     end=
 *
 * (one key per line; "dest.*"/"rcpt.*" belong to the last dest=/rcpt=).
 * Values are escaped: bytes below 0x20, 0x7f and '%' as %XX.  A file that
 * does not parse (unknown key, bad value, missing end=, qid not its name)
 * or whose content is missing is quarantined to corrupt/ and logged.
 */
#include "smtp-gw/smtpgw.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENV_MAGIC         "mule5066-envelope 1"
#define STATE_MAGIC       "mule5066-spool-state 1"
#define DELIVERED_MAGIC   "mule5066-delivered 1"
#define ENV_MAX_FILE      (4u << 20) /* an envelope file larger than this is corrupt */
#define STATE_MAX_FILE    (4u << 20)
#define WRITER_BUF        (16u * 1024)
#define DELIVERED_MARGIN  (24 * 3600)     /* keep (src, msgid) this long past its expiry */
#define DELIVERED_DEFAULT (7 * 24 * 3600) /* ... or this long when it has no expiry */
#define MAX_TEXT_LINE     998

enum { DIR_TMP = 0, DIR_DATA, DIR_OUT, DIR_IN, DIR_CORRUPT, DIR_COUNT };
static const char *const dir_names[DIR_COUNT] = {"tmp", "data", "outgoing", "incoming", "corrupt"};

struct spool_msg {
    struct util_list link;
    struct util_list dirty; /* on sp->dirty while its envelope waits for smtpgw_spool_sync */
    struct smtpgw_envelope env;
};

/* A message staged for the next group commit (smtpgw_spool_writer_stage). */
struct spool_staged {
    struct spool_staged *next;
    struct smtpgw_spool_writer *w; /* tmp/QID.d, written, not yet fsync'd */
    struct spool_msg *m;           /* the envelope, also in tmp/QID.e */
    int efd;
    enum smtpgw_queue q;
    void *user;
    int err;
};

struct msn_entry {
    uint32_t node, next;
};

struct dlv_entry {
    uint64_t key; /* src << 32 | msgid; 0 = empty (src is never 0) */
    int64_t expiry;
};

struct smtpgw_spool {
    char *dir;
    int root_fd, lock_fd;
    int fds[DIR_COUNT];
    struct util_list q[SMTPGW_Q_COUNT];
    size_t count[SMTPGW_Q_COUNT];
    struct spool_msg **idx; /* every message, sorted by queue id */
    size_t nidx, capidx;
    /* counters */
    uint32_t next_msgid;
    struct msn_entry *msn;
    size_t n_msn, cap_msn;
    /* delivered set */
    struct dlv_entry *dlv;
    size_t dlv_cap, dlv_used;
    int journal_fd;
    size_t journal_lines;
    /* queue ids */
    uint32_t qid_t;
    uint32_t qid_seq;
    /* group commit (smtpgw_spool_sync) */
    struct spool_staged *staged, **staged_tail;
    size_t n_staged;
    bool state_dirty;          /* counters given out, DIR/state not yet rewritten */
    unsigned dirty_dirs;       /* 1 << DIR_*: entries removed, directory not yet fsync'd */
    struct util_list dirty;    /* envelopes changed in memory (smtpgw_spool_update_later) */
};

struct smtpgw_spool_writer {
    struct smtpgw_spool *sp;
    int fd;
    char qid[SMTPGW_QID_LEN];
    uint64_t bytes;
    int err;
    /* content classification */
    bool bin, eight, prev_cr;
    size_t line_len;
    size_t blen;
    uint8_t buf[WRITER_BUF];
};

/* ---- fault injection (tests) --------------------------------------------- */

/* Tests make the Nth file-system operation fail (mode 1: errno EIO) or the
 * process exit there (mode 2: a kill -9 at that point). */
static long fault_countdown; /* 0: off */
static int fault_mode;

/* smtpgw_spool_test_fault - arm fault injection at the nth operation from
 * now (0: off); returns the operations the previous arming still had to go
 * (0 if it fired or was off) (tests only) */
long smtpgw_spool_test_fault(long nth, int mode);
long smtpgw_spool_test_fault(long nth, int mode)
{
    long left = fault_countdown;
    fault_countdown = nth;
    fault_mode = mode;
    return left;
}

/* fault_hit - whether this operation is the one to fail */
static bool fault_hit(void)
{
    if (fault_countdown <= 0 || --fault_countdown > 0)
        return false;
    if (fault_mode == 2)
        _exit(0);
    errno = EIO;
    return true;
}

/* ---- errors and names -------------------------------------------------------- */

/* smtpgw_spool_strerror - text for a spool or SMTP client error code */
const char *smtpgw_spool_strerror(int err)
{
    switch (err) {
    case SMTPGW_ERR_SPOOL_IO: return "spool: file system error";
    case SMTPGW_ERR_SPOOL_CORRUPT: return "spool: corrupt envelope or state file";
    case SMTPGW_ERR_SPOOL_DUPLICATE: return "spool: message already spooled or delivered";
    case SMTPGW_ERR_SPOOL_NOTFOUND: return "spool: no such message";
    case SMTPGW_ERR_SPOOL_LOCKED: return "spool: in use by another process";
    case SMTPGW_ERR_SPOOL_INVAL: return "spool: invalid envelope or argument";
    case SMTPGW_ERR_SPOOL_TOO_BIG: return "spool: too many recipients or destinations";
    case SMTPGW_ERR_CLIENT_PROTO: return "SMTP client: malformed or unexpected reply";
    case SMTPGW_ERR_CLIENT_TIMEOUT: return "SMTP client: timeout";
    case SMTPGW_ERR_CLIENT_CLOSED: return "SMTP client: connection closed";
    case SMTPGW_ERR_CLIENT_CONNECT: return "SMTP client: cannot connect";
    case SMTPGW_ERR_CLIENT_STATE: return "SMTP client: call not allowed in this state";
    case SMTPGW_ERR_CLIENT_REFUSED: return "SMTP client: session refused by the server";
    default: return mule_strerror(err);
    }
}

/* smtpgw_queue_name - "outgoing", "incoming" */
const char *smtpgw_queue_name(int q)
{
    return q == SMTPGW_Q_OUTGOING ? "outgoing" : q == SMTPGW_Q_INCOMING ? "incoming" : "?";
}

static const char *const rcpt_state_names[] = {"open", "done", "failed", "reported", "skip", "relay"};
static const char *const dest_state_names[] = {"open", "acked", "failed"};
static const char *const content_names[] = {"7bit", "8bit", "binary"};
static const char *const body_names[] = {"none", "7bit", "8bitmime", "binarymime"};
static const char *const ret_names[] = {"none", "full", "hdrs"};

/* smtpgw_rcpt_state_name - "open", "done", "failed", "reported", "skip", "relay" */
const char *smtpgw_rcpt_state_name(int state)
{
    return state >= 0 && state < (int)UTIL_ARRAY_LEN(rcpt_state_names) ? rcpt_state_names[state]
                                                                       : "?";
}

/* smtpgw_dest_state_name - "open", "acked", "failed" */
const char *smtpgw_dest_state_name(int state)
{
    return state >= 0 && state < (int)UTIL_ARRAY_LEN(dest_state_names) ? dest_state_names[state]
                                                                       : "?";
}

/* name_index - index of s in names[n], or -1 */
static int name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

/* ---- small file helpers ------------------------------------------------------ */

/* log_io - one line for a failed file operation (errno kept) */
static void log_io(const struct smtpgw_spool *sp, const char *op, const char *dir, const char *name)
{
    int e = errno;
    util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "spool-io", "op=%s path=%s/%s%s%s error=\"%s\"", op,
             sp ? sp->dir : "?", dir ? dir : "", dir && name ? "/" : "", name ? name : "",
             strerror(e));
    errno = e;
}

/* write_all - write len bytes to fd */
static int write_all(int fd, const void *p, size_t len)
{
    const uint8_t *b = p;
    while (len > 0) {
        if (fault_hit())
            return -1;
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

/* do_fsync - fsync with fault injection */
static int do_fsync(int fd)
{
    if (fault_hit())
        return -1;
    return fsync(fd);
}

/* fsync_set - fsync n descriptors together (util_fsync_all); fault
 * injection decides each one's fate in order first, so that a test's nth
 * operation is the same whatever the threads do; errs[i] = 0 or an errno */
static void fsync_set(const int *fds, size_t n, int *errs)
{
    int *live = malloc((n ? n : 1) * sizeof *live);
    size_t *at = malloc((n ? n : 1) * sizeof *at);
    int *lerr = malloc((n ? n : 1) * sizeof *lerr);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        errs[i] = 0;
        if (fault_hit()) {
            errs[i] = EIO;
        } else if (live && at) {
            live[m] = fds[i];
            at[m++] = i;
        } else {
            errs[i] = fsync(fds[i]) == 0 ? 0 : errno;
        }
    }
    if (m && lerr) {
        util_fsync_all(live, m, lerr);
        for (size_t k = 0; k < m; k++)
            errs[at[k]] = lerr[k];
    } else {
        for (size_t k = 0; k < m; k++)
            errs[at[k]] = fsync(live[k]) == 0 ? 0 : errno;
    }
    free(live);
    free(at);
    free(lerr);
}

/* do_rename - renameat with fault injection */
static int do_rename(int ofd, const char *oname, int nfd, const char *nname)
{
    if (fault_hit())
        return -1;
    return renameat(ofd, oname, nfd, nname);
}

/* do_open - openat with fault injection */
static int do_open(int dfd, const char *name, int flags, mode_t mode)
{
    if (fault_hit())
        return -1;
    return openat(dfd, name, flags | O_CLOEXEC, mode);
}

/* atomic_write - write data to tmp/tmpname, fsync, rename to dfd/name, fsync dfd */
static int atomic_write(struct smtpgw_spool *sp, const char *tmpname, int dfd, const char *dname,
                        const char *name, const void *data, size_t len)
{
    int tfd = sp->fds[DIR_TMP];
    int fd = do_open(tfd, tmpname, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        log_io(sp, "open", "tmp", tmpname);
        return SMTPGW_ERR_SPOOL_IO;
    }
    if (write_all(fd, data, len) != 0 || do_fsync(fd) != 0) {
        log_io(sp, "write", "tmp", tmpname);
        close(fd);
        unlinkat(tfd, tmpname, 0);
        return SMTPGW_ERR_SPOOL_IO;
    }
    if (close(fd) != 0) {
        log_io(sp, "close", "tmp", tmpname);
        unlinkat(tfd, tmpname, 0);
        return SMTPGW_ERR_SPOOL_IO;
    }
    if (do_rename(tfd, tmpname, dfd, name) != 0) {
        log_io(sp, "rename", dname, name);
        unlinkat(tfd, tmpname, 0);
        return SMTPGW_ERR_SPOOL_IO;
    }
    if (do_fsync(dfd) != 0) {
        log_io(sp, "fsync", dname, NULL);
        return SMTPGW_ERR_SPOOL_IO;
    }
    return 0;
}

/* read_file - the whole of dfd/name (at most max bytes) into out; 0, -ENOENT-ish or error */
static int read_file(int dfd, const char *name, size_t max, struct util_buf *out)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? SMTPGW_ERR_SPOOL_NOTFOUND : SMTPGW_ERR_SPOOL_IO;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return SMTPGW_ERR_SPOOL_CORRUPT;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return SMTPGW_ERR_SPOOL_CORRUPT;
    }
    int rc = 0;
    for (;;) {
        if (util_buf_reserve(out, 4096) != 0) {
            rc = UTIL_ERR_NOMEM;
            break;
        }
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = SMTPGW_ERR_SPOOL_IO;
            break;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
        if (out->len > max) {
            rc = SMTPGW_ERR_SPOOL_CORRUPT;
            break;
        }
    }
    close(fd);
    return rc;
}

/* ---- values: escaping and numbers ------------------------------------------- */

/* esc_append - append s with bytes < 0x20, 0x7f and '%' as %XX */
static int esc_append(struct util_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '%') {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            if (util_buf_append(b, e, 3) != 0)
                return UTIL_ERR_NOMEM;
        } else if (util_buf_append(b, p, 1) != 0) {
            return UTIL_ERR_NOMEM;
        }
    }
    return 0;
}

/* hexval - value of a hex digit, or -1 */
static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* unescape - decode %XX in place; false for a bad escape or an escaped NUL */
static bool unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%') {
            int h = hexval((unsigned char)p[1]), l = h < 0 ? -1 : hexval((unsigned char)p[2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0))
                return false;
            *o++ = (char)(h * 16 + l);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return true;
}

/* parse_i64 - a whole decimal integer (optional '-') */
static bool parse_i64(const char *s, int64_t *out)
{
    bool neg = false;
    if (*s == '-') {
        neg = true;
        s++;
    }
    if (!*s)
        return false;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (uint64_t)INT64_MAX / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > (uint64_t)INT64_MAX)
            return false;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

/* parse_u32 - a whole decimal number 0..UINT32_MAX */
static bool parse_u32(const char *s, uint32_t *out)
{
    int64_t v;
    if (*s == '-' || !parse_i64(s, &v) || v > (int64_t)UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* parse_node - a dotted quad or number, 0 allowed */
static bool parse_node(const char *s, uint32_t *out)
{
    if (strcmp(s, "0") == 0 || strcmp(s, "0.0.0.0") == 0) {
        *out = 0;
        return true;
    }
    return mule_node_parse(s, out) == 0;
}

/* status_ok - a plausible enhanced status code ("" allowed) */
static bool status_ok(const char *s)
{
    size_t n = strlen(s);
    if (n >= SMTPGW_STATUS_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '.' || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* qid_ok - 12 upper-case hex digits */
static bool qid_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'A' && s[n] <= 'F')))
            return false;
    return n == SMTPGW_QID_LEN - 1;
}

/* ---- envelopes in memory ------------------------------------------------------ */

/* msg_of - the private message holding env */
static struct spool_msg *msg_of(struct smtpgw_envelope *env)
{
    return UTIL_CONTAINER_OF(env, struct spool_msg, env);
}

/* xstrdup - strdup of s (NULL -> "") */
static char *xstrdup(const char *s)
{
    return strdup(s ? s : "");
}

/* msg_free - release a message and its strings */
static void msg_free(struct spool_msg *m)
{
    if (!m)
        return;
    util_list_remove(&m->dirty);
    struct smtpgw_envelope *e = &m->env;
    free((char *)e->from);
    free((char *)e->mail_params);
    free((char *)e->envid);
    for (size_t i = 0; i < e->n_rcpts; i++) {
        free((char *)e->rcpts[i].addr);
        free((char *)e->rcpts[i].params);
        free((char *)e->rcpts[i].diag);
    }
    free(e->rcpts);
    free(e->dests);
    free(m);
}

/* parse_mail_params - fill the parsed MAIL fields of e from e->mail_params
 * (lenient: what does not parse stays at its default) */
static int parse_mail_params(struct smtpgw_envelope *e)
{
    const char *p = e->mail_params ? e->mail_params : "";
    const char *v;
    size_t n;
    free((char *)e->envid);
    e->envid = NULL;
    e->ret = SMTPGW_RET_NONE;
    e->body = SMTPGW_BODY_NONE;
    e->mt_priority = 0;
    e->smtputf8 = false;
    e->by_mode = 0;
    e->by_trace = false;
    e->by_time = 0;
    if (mule_param_get(p, "ENVID", &v, &n)) {
        char *s = strndup(v, n);
        if (!s)
            return UTIL_ERR_NOMEM;
        e->envid = s;
    }
    if (mule_param_get(p, "RET", &v, &n)) {
        if (n == 4 && strncasecmp(v, "FULL", 4) == 0)
            e->ret = SMTPGW_RET_FULL;
        else if (n == 4 && strncasecmp(v, "HDRS", 4) == 0)
            e->ret = SMTPGW_RET_HDRS;
    }
    if (mule_param_get(p, "BODY", &v, &n)) {
        if (n == 4 && strncasecmp(v, "7BIT", 4) == 0)
            e->body = SMTPGW_BODY_7BIT;
        else if (n == 8 && strncasecmp(v, "8BITMIME", 8) == 0)
            e->body = SMTPGW_BODY_8BITMIME;
        else if (n == 10 && strncasecmp(v, "BINARYMIME", 10) == 0)
            e->body = SMTPGW_BODY_BINARYMIME;
    }
    int x;
    if (mule_mt_priority(p, &x) == 0)
        e->mt_priority = (int8_t)x;
    if (mule_param_get(p, "SMTPUTF8", &v, &n))
        e->smtputf8 = true;
    struct mule_deliverby by;
    if (mule_deliverby_parse(p, &by) == 0 && by.present) {
        e->by_mode = by.mode;
        e->by_trace = by.trace;
        e->by_time = by.by;
    }
    return 0;
}

/* env_check - whether a caller's envelope can be spooled */
static int env_check(const struct smtpgw_envelope *in)
{
    if (!in || in->n_rcpts == 0 || !in->rcpts)
        return SMTPGW_ERR_SPOOL_INVAL;
    if (in->n_rcpts > SMTPGW_MAX_RCPTS || in->n_dests > SMTPGW_MAX_DESTS)
        return SMTPGW_ERR_SPOOL_TOO_BIG;
    if (in->n_dests && !in->dests)
        return SMTPGW_ERR_SPOOL_INVAL;
    if (in->content > SMTPGW_CONTENT_BINARY) /* every P_MUL priority 0-255 is valid */
        return SMTPGW_ERR_SPOOL_INVAL;
    for (size_t i = 0; i < in->n_rcpts; i++) {
        const struct smtpgw_spool_rcpt *r = &in->rcpts[i];
        if (!r->addr || !*r->addr || r->state > SMTPGW_RCPT_RELAY || !status_ok(r->status) ||
            r->dest < -1 || r->dest >= (int)in->n_dests)
            return SMTPGW_ERR_SPOOL_INVAL;
    }
    for (size_t i = 0; i < in->n_dests; i++)
        if (in->dests[i].node == 0 || in->dests[i].state > SMTPGW_DEST_FAILED)
            return SMTPGW_ERR_SPOOL_INVAL;
    return 0;
}

/* msg_clone - a spool-owned deep copy of a caller's envelope */
static struct spool_msg *msg_clone(const struct smtpgw_envelope *in)
{
    struct spool_msg *m = calloc(1, sizeof *m);
    if (m)
        util_list_init(&m->dirty);
    if (!m)
        return NULL;
    util_list_init(&m->link);
    struct smtpgw_envelope *e = &m->env;
    *e = *in;
    e->from = e->mail_params = e->envid = NULL;
    e->rcpts = NULL;
    e->dests = NULL;
    e->n_rcpts = e->n_dests = 0;
    e->user = NULL;
    e->from = xstrdup(in->from);
    e->mail_params = xstrdup(in->mail_params);
    if (!e->from || !e->mail_params)
        goto fail;
    e->rcpts = calloc(in->n_rcpts, sizeof *e->rcpts);
    if (!e->rcpts)
        goto fail;
    for (size_t i = 0; i < in->n_rcpts; i++) {
        struct smtpgw_spool_rcpt *r = &e->rcpts[i];
        *r = in->rcpts[i];
        r->addr = r->params = r->diag = NULL;
        e->n_rcpts = (uint16_t)(i + 1);
        r->addr = xstrdup(in->rcpts[i].addr);
        r->params = xstrdup(in->rcpts[i].params);
        if (in->rcpts[i].diag)
            r->diag = strdup(in->rcpts[i].diag);
        if (!r->addr || !r->params || (in->rcpts[i].diag && !r->diag))
            goto fail;
    }
    if (in->n_dests) {
        e->dests = malloc(in->n_dests * sizeof *e->dests);
        if (!e->dests)
            goto fail;
        memcpy(e->dests, in->dests, in->n_dests * sizeof *e->dests);
        e->n_dests = in->n_dests;
    }
    if (parse_mail_params(e) != 0)
        goto fail;
    return m;
fail:
    msg_free(m);
    return NULL;
}

/* ---- envelope files ------------------------------------------------------------ */

/* kv - append "key=<escaped value>\n" */
static int kv(struct util_buf *b, const char *key, const char *value)
{
    if (util_buf_append_str(b, key) != 0 || util_buf_append(b, "=", 1) != 0 ||
        esc_append(b, value ? value : "") != 0 || util_buf_append(b, "\n", 1) != 0)
        return UTIL_ERR_NOMEM;
    return 0;
}

/* kv_num - append "key=<number>\n" */
static int kv_num(struct util_buf *b, const char *key, int64_t v)
{
    return util_buf_printf(b, "%s=%" PRId64 "\n", key, v);
}

/* env_serialize - the envelope file's text */
static int env_serialize(const struct smtpgw_envelope *e, struct util_buf *b)
{
    char node[MULE_NODE_STRLEN];
    int rc = util_buf_printf(b, "%s\n", ENV_MAGIC);
    rc |= kv(b, "qid", e->qid);
    rc |= kv_num(b, "flags", e->flags);
    rc |= kv(b, "content", content_names[e->content <= 2 ? e->content : 2]);
    rc |= kv_num(b, "priority", e->priority);
    rc |= kv_num(b, "arrival", e->arrival);
    rc |= kv_num(b, "expiry", e->expiry);
    rc |= util_buf_printf(b, "size=%" PRIu64 "\n", e->size);
    rc |= kv(b, "from", e->from);
    rc |= kv(b, "mail_params", e->mail_params);
    if (e->envid)
        rc |= kv(b, "envid", e->envid);
    rc |= kv(b, "ret", ret_names[e->ret <= 2 ? e->ret : 0]);
    rc |= kv(b, "body", body_names[e->body <= 3 ? e->body : 0]);
    rc |= kv_num(b, "mt_priority", e->mt_priority);
    rc |= kv_num(b, "smtputf8", e->smtputf8);
    if (e->by_mode)
        rc |= util_buf_printf(b, "by=%" PRId64 ";%c%s\n", e->by_time, e->by_mode,
                              e->by_trace ? "T" : "");
    if (e->src_node) {
        rc |= kv(b, "src", mule_node_format(e->src_node, node, sizeof node));
        rc |= kv_num(b, "src_msgid", e->src_msgid);
    }
    rc |= kv_num(b, "attempts", e->attempts);
    rc |= kv_num(b, "next_attempt", e->next_attempt);
    for (size_t i = 0; i < e->n_dests; i++) {
        const struct smtpgw_spool_dest *d = &e->dests[i];
        rc |= kv(b, "dest", mule_node_format(d->node, node, sizeof node));
        if (d->final_node)
            rc |= kv(b, "dest.final", mule_node_format(d->final_node, node, sizeof node));
        rc |= kv_num(b, "dest.msgid", d->msgid);
        rc |= kv_num(b, "dest.msn", d->msn);
        rc |= kv(b, "dest.state", smtpgw_dest_state_name(d->state));
    }
    for (size_t i = 0; i < e->n_rcpts; i++) {
        const struct smtpgw_spool_rcpt *r = &e->rcpts[i];
        rc |= kv(b, "rcpt", r->addr);
        rc |= kv(b, "rcpt.params", r->params);
        rc |= kv(b, "rcpt.state", smtpgw_rcpt_state_name(r->state));
        rc |= kv_num(b, "rcpt.dest", r->dest);
        if (r->status[0])
            rc |= kv(b, "rcpt.status", r->status);
        if (r->diag)
            rc |= kv(b, "rcpt.diag", r->diag);
    }
    rc |= util_buf_printf(b, "end=\n");
    return rc ? UTIL_ERR_NOMEM : 0;
}

/* grow - make room for one more element in a uint16-counted array */
static bool grow(void **arr, size_t elem, size_t n)
{
    void *p = realloc(*arr, (n + 1) * elem);
    if (!p)
        return false;
    *arr = p;
    memset((char *)p + n * elem, 0, elem);
    return true;
}

/* env_parse - parse an envelope file's text (modified in place; text[len]
 * must be writable) named qid (NULL: any); a new message, or NULL with the
 * reason in why */
static struct spool_msg *env_parse(char *text, size_t len, const char *qid, char *whybuf,
                                   size_t whycap, int *err)
{
    const char *whys = "", **why = &whys;
    *err = SMTPGW_ERR_SPOOL_CORRUPT;
    struct spool_msg *m = calloc(1, sizeof *m);
    if (m)
        util_list_init(&m->dirty);
    if (!m) {
        *why = "out of memory";
        *err = UTIL_ERR_NOMEM;
        return NULL;
    }
    util_list_init(&m->link);
    struct smtpgw_envelope *e = &m->env;
    bool seen_end = false, seen_qid = false;
    int64_t v;
    if (memchr(text, '\0', len)) {
        *why = "NUL byte";
        goto fail;
    }
    text[len] = '\0';
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    if (!line || strcmp(line, ENV_MAGIC) != 0) {
        *why = "bad first line";
        goto fail;
    }
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        if (seen_end) {
            *why = "text after end";
            goto fail;
        }
        char *eq = strchr(line, '=');
        if (!eq) {
            *why = "line without =";
            goto fail;
        }
        *eq = '\0';
        const char *key = line;
        char *val = eq + 1;
        if (!unescape(val)) {
            *why = "bad escape";
            goto fail;
        }
        struct smtpgw_spool_rcpt *r = e->n_rcpts ? &e->rcpts[e->n_rcpts - 1] : NULL;
        struct smtpgw_spool_dest *d = e->n_dests ? &e->dests[e->n_dests - 1] : NULL;
        bool ok = true;
        *why = NULL;
        if (strcmp(key, "qid") == 0) {
            ok = qid_ok(val) && (!qid || strcmp(val, qid) == 0) && !seen_qid;
            if (ok) {
                memcpy(e->qid, val, SMTPGW_QID_LEN);
                seen_qid = true;
            }
        } else if (strcmp(key, "flags") == 0) {
            ok = parse_i64(val, &v) && v >= 0 && v <= 255;
            e->flags = (uint8_t)v;
        } else if (strcmp(key, "content") == 0) {
            int i = name_index(content_names, 3, val);
            ok = i >= 0;
            e->content = (uint8_t)(i < 0 ? 0 : i);
        } else if (strcmp(key, "priority") == 0) {
            ok = parse_i64(val, &v) && v >= 0 && v <= 255;
            e->priority = (uint8_t)v;
        } else if (strcmp(key, "arrival") == 0) {
            ok = parse_i64(val, &e->arrival);
        } else if (strcmp(key, "expiry") == 0) {
            ok = parse_i64(val, &e->expiry);
        } else if (strcmp(key, "size") == 0) {
            ok = parse_i64(val, &v) && v >= 0;
            e->size = (uint64_t)v;
        } else if (strcmp(key, "from") == 0) {
            ok = !e->from && (e->from = strdup(val)) != NULL;
        } else if (strcmp(key, "mail_params") == 0) {
            ok = !e->mail_params && (e->mail_params = strdup(val)) != NULL;
        } else if (strcmp(key, "envid") == 0) {
            ok = !e->envid && (e->envid = strdup(val)) != NULL;
        } else if (strcmp(key, "ret") == 0) {
            int i = name_index(ret_names, 3, val);
            ok = i >= 0;
            e->ret = (uint8_t)(i < 0 ? 0 : i);
        } else if (strcmp(key, "body") == 0) {
            int i = name_index(body_names, 4, val);
            ok = i >= 0;
            e->body = (uint8_t)(i < 0 ? 0 : i);
        } else if (strcmp(key, "mt_priority") == 0) {
            ok = parse_i64(val, &v) && v >= -9 && v <= 9;
            e->mt_priority = (int8_t)v;
        } else if (strcmp(key, "smtputf8") == 0) {
            ok = parse_i64(val, &v) && (v == 0 || v == 1);
            e->smtputf8 = v == 1;
        } else if (strcmp(key, "by") == 0) {
            char *semi = strchr(val, ';');
            ok = semi && (semi[1] == 'R' || semi[1] == 'N') &&
                 (semi[2] == '\0' || (semi[2] == 'T' && semi[3] == '\0'));
            if (ok) {
                *semi = '\0';
                ok = parse_i64(val, &e->by_time);
                e->by_mode = semi[1];
                e->by_trace = semi[2] == 'T';
            }
        } else if (strcmp(key, "src") == 0) {
            ok = parse_node(val, &e->src_node);
        } else if (strcmp(key, "src_msgid") == 0) {
            ok = parse_u32(val, &e->src_msgid);
        } else if (strcmp(key, "attempts") == 0) {
            ok = parse_u32(val, &e->attempts);
        } else if (strcmp(key, "next_attempt") == 0) {
            ok = parse_i64(val, &e->next_attempt);
        } else if (strcmp(key, "dest") == 0) {
            ok = e->n_dests < SMTPGW_MAX_DESTS && e->n_rcpts == 0 &&
                 grow((void **)&e->dests, sizeof *e->dests, e->n_dests);
            if (ok) {
                d = &e->dests[e->n_dests++];
                ok = mule_node_parse(val, &d->node) == 0;
            }
        } else if (strncmp(key, "dest.", 5) == 0) {
            const char *k = key + 5;
            ok = d && e->n_rcpts == 0;
            if (!ok) {
            } else if (strcmp(k, "final") == 0) {
                ok = parse_node(val, &d->final_node);
            } else if (strcmp(k, "msgid") == 0) {
                ok = parse_u32(val, &d->msgid);
            } else if (strcmp(k, "msn") == 0) {
                ok = parse_u32(val, &d->msn);
            } else if (strcmp(k, "state") == 0) {
                int i = name_index(dest_state_names, 3, val);
                ok = i >= 0;
                d->state = (uint8_t)(i < 0 ? 0 : i);
            } else {
                ok = false;
            }
        } else if (strcmp(key, "rcpt") == 0) {
            ok = *val && e->n_rcpts < SMTPGW_MAX_RCPTS &&
                 grow((void **)&e->rcpts, sizeof *e->rcpts, e->n_rcpts);
            if (ok) {
                r = &e->rcpts[e->n_rcpts++];
                r->dest = -1;
                ok = (r->addr = strdup(val)) != NULL;
            }
        } else if (strncmp(key, "rcpt.", 5) == 0) {
            const char *k = key + 5;
            ok = r != NULL;
            if (!ok) {
            } else if (strcmp(k, "params") == 0) {
                ok = !r->params && (r->params = strdup(val)) != NULL;
            } else if (strcmp(k, "state") == 0) {
                int i = name_index(rcpt_state_names, UTIL_ARRAY_LEN(rcpt_state_names), val);
                ok = i >= 0;
                r->state = (uint8_t)(i < 0 ? 0 : i);
            } else if (strcmp(k, "dest") == 0) {
                ok = parse_i64(val, &v) && v >= -1 && v < (int64_t)e->n_dests;
                r->dest = (int16_t)v;
            } else if (strcmp(k, "status") == 0) {
                ok = status_ok(val);
                if (ok)
                    snprintf(r->status, sizeof r->status, "%s", val);
            } else if (strcmp(k, "diag") == 0) {
                ok = !r->diag && (r->diag = strdup(val)) != NULL;
            } else {
                ok = false;
            }
        } else if (strcmp(key, "end") == 0) {
            ok = *val == '\0';
            seen_end = true;
        } else {
            ok = false;
            *why = "unknown key";
        }
        if (!ok) {
            snprintf(whybuf, whycap, "%s: %.40s", *why ? *why : "bad value or misplaced line", key);
            goto fail_named;
        }
    }
    if (!seen_end) {
        *why = "no end line";
        goto fail;
    }
    if (!seen_qid || !e->from || !e->mail_params || e->n_rcpts == 0) {
        *why = "missing qid, from, mail_params or rcpt";
        goto fail;
    }
    for (size_t i = 0; i < e->n_rcpts; i++)
        if (!e->rcpts[i].params && !(e->rcpts[i].params = strdup(""))) {
            *why = "out of memory";
            goto fail;
        }
    *err = 0;
    return m;
fail:
    snprintf(whybuf, whycap, "%s", *why);
fail_named:
    msg_free(m);
    return NULL;
}

/* smtpgw_envelope_parse - env_parse on a copy of the bytes, as a pure function */
int smtpgw_envelope_parse(const void *bytes, size_t len, const char *qid,
                          struct smtpgw_envelope **out, char *why, size_t whycap)
{
    char whybuf[96];
    int err = UTIL_ERR_NOMEM;
    *out = NULL;
    char *text = len < SIZE_MAX ? malloc(len + 1) : NULL;
    struct spool_msg *m = NULL;
    if (text) {
        if (len)
            memcpy(text, bytes, len);
        m = env_parse(text, len, qid, whybuf, sizeof whybuf, &err);
        free(text);
    } else {
        snprintf(whybuf, sizeof whybuf, "out of memory");
    }
    if (why && whycap)
        snprintf(why, whycap, "%s", m ? "" : whybuf);
    if (!m)
        return err;
    *out = &m->env;
    return 0;
}

/* smtpgw_envelope_free - release an envelope from smtpgw_envelope_parse */
void smtpgw_envelope_free(struct smtpgw_envelope *env)
{
    if (env)
        msg_free(msg_of(env));
}

/* ---- the index by queue id -------------------------------------------------------- */

/* idx_pos - where qid is (or would go) in the index */
static size_t idx_pos(const struct smtpgw_spool *sp, const char *qid)
{
    size_t lo = 0, hi = sp->nidx;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(sp->idx[mid]->env.qid, qid) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* idx_find - the message with qid, or NULL */
static struct spool_msg *idx_find(const struct smtpgw_spool *sp, const char *qid)
{
    size_t i = idx_pos(sp, qid);
    return i < sp->nidx && strcmp(sp->idx[i]->env.qid, qid) == 0 ? sp->idx[i] : NULL;
}

/* idx_reserve - room for one more entry */
static int idx_reserve(struct smtpgw_spool *sp)
{
    if (sp->nidx < sp->capidx)
        return 0;
    size_t cap = sp->capidx ? sp->capidx * 2 : 256;
    struct spool_msg **p = realloc(sp->idx, cap * sizeof *p);
    if (!p)
        return UTIL_ERR_NOMEM;
    sp->idx = p;
    sp->capidx = cap;
    return 0;
}

/* idx_insert - add m in order (room reserved by idx_reserve) */
static void idx_insert(struct smtpgw_spool *sp, struct spool_msg *m)
{
    size_t i = idx_pos(sp, m->env.qid);
    memmove(sp->idx + i + 1, sp->idx + i, (sp->nidx - i) * sizeof *sp->idx);
    sp->idx[i] = m;
    sp->nidx++;
}

/* idx_erase - drop m from the index */
static void idx_erase(struct smtpgw_spool *sp, struct spool_msg *m)
{
    size_t i = idx_pos(sp, m->env.qid);
    while (i < sp->nidx && sp->idx[i] != m && strcmp(sp->idx[i]->env.qid, m->env.qid) == 0)
        i++;
    if (i < sp->nidx && sp->idx[i] == m) {
        memmove(sp->idx + i, sp->idx + i + 1, (sp->nidx - i - 1) * sizeof *sp->idx);
        sp->nidx--;
    }
}

/* ---- queue lists ------------------------------------------------------------------ */

/* q_insert - put m into queue q, keeping queue id order */
static void q_insert(struct smtpgw_spool *sp, struct spool_msg *m, int q)
{
    struct util_list *pos = &sp->q[q];
    /* new ids are the largest: walk back from the tail */
    while (pos->prev != &sp->q[q]) {
        struct spool_msg *p = UTIL_CONTAINER_OF(pos->prev, struct spool_msg, link);
        if (strcmp(p->env.qid, m->env.qid) < 0)
            break;
        pos = pos->prev;
    }
    util_list_insert_before(pos, &m->link);
    m->env.queue = (uint8_t)q;
    sp->count[q]++;
}

/* q_remove - take m out of its queue */
static void q_remove(struct smtpgw_spool *sp, struct spool_msg *m)
{
    util_list_remove(&m->link);
    sp->count[m->env.queue]--;
}

/* smtpgw_spool_count - messages in a queue */
size_t smtpgw_spool_count(const struct smtpgw_spool *sp, enum smtpgw_queue q)
{
    return (unsigned)q < SMTPGW_Q_COUNT ? sp->count[q] : 0;
}

/* smtpgw_spool_first - the oldest message in a queue, or NULL */
struct smtpgw_envelope *smtpgw_spool_first(struct smtpgw_spool *sp, enum smtpgw_queue q)
{
    if ((unsigned)q >= SMTPGW_Q_COUNT || util_list_empty(&sp->q[q]))
        return NULL;
    return &UTIL_CONTAINER_OF(sp->q[q].next, struct spool_msg, link)->env;
}

/* smtpgw_spool_next - the message after env in its queue, or NULL */
struct smtpgw_envelope *smtpgw_spool_next(struct smtpgw_spool *sp, struct smtpgw_envelope *env)
{
    struct spool_msg *m = msg_of(env);
    if (m->link.next == &sp->q[env->queue])
        return NULL;
    return &UTIL_CONTAINER_OF(m->link.next, struct spool_msg, link)->env;
}

/* smtpgw_spool_find - the message with this queue id, or NULL */
struct smtpgw_envelope *smtpgw_spool_find(struct smtpgw_spool *sp, const char *qid)
{
    struct spool_msg *m = qid ? idx_find(sp, qid) : NULL;
    return m ? &m->env : NULL;
}

/* smtpgw_spool_find_incoming - the incoming message from (src, msgid), or NULL */
struct smtpgw_envelope *smtpgw_spool_find_incoming(struct smtpgw_spool *sp, uint32_t src,
                                                   uint32_t msgid)
{
    struct util_list *it;
    if (src == 0)
        return NULL;
    UTIL_LIST_FOREACH(it, &sp->q[SMTPGW_Q_INCOMING])
    {
        struct spool_msg *m = UTIL_CONTAINER_OF(it, struct spool_msg, link);
        if (m->env.src_node == src && m->env.src_msgid == msgid)
            return &m->env;
    }
    return NULL;
}

/* ---- counters (DIR/state) --------------------------------------------------------- */

/* msn_slot - the entry for node, created (next 1) if absent; NULL on no memory */
static struct msn_entry *msn_slot(struct smtpgw_spool *sp, uint32_t node)
{
    for (size_t i = 0; i < sp->n_msn; i++)
        if (sp->msn[i].node == node)
            return &sp->msn[i];
    if (sp->n_msn == sp->cap_msn) {
        size_t cap = sp->cap_msn ? sp->cap_msn * 2 : 16;
        struct msn_entry *p = realloc(sp->msn, cap * sizeof *p);
        if (!p)
            return NULL;
        sp->msn = p;
        sp->cap_msn = cap;
    }
    sp->msn[sp->n_msn] = (struct msn_entry){node, 1};
    return &sp->msn[sp->n_msn++];
}

/* state_save - write DIR/state atomically */
static int state_save(struct smtpgw_spool *sp)
{
    struct util_buf b;
    char node[MULE_NODE_STRLEN];
    util_buf_init(&b, 0);
    int rc = util_buf_printf(&b, "%s\nnext_message_id=%" PRIu32 "\n", STATE_MAGIC, sp->next_msgid);
    for (size_t i = 0; i < sp->n_msn; i++)
        rc |=
            util_buf_printf(&b, "msn.%s=%" PRIu32 "\n",
                            mule_node_format(sp->msn[i].node, node, sizeof node), sp->msn[i].next);
    rc |= util_buf_printf(&b, "end=\n");
    if (rc == 0)
        rc = atomic_write(sp, "state", sp->root_fd, "", "state", b.data, b.len);
    else
        rc = UTIL_ERR_NOMEM;
    util_buf_free(&b);
    if (rc == 0)
        sp->state_dirty = false;
    return rc;
}

/* state_load - read DIR/state; 0, SMTPGW_ERR_SPOOL_NOTFOUND, _CORRUPT or _IO */
static int state_load(struct smtpgw_spool *sp)
{
    struct util_buf b;
    util_buf_init(&b, 0);
    int rc = read_file(sp->root_fd, "state", STATE_MAX_FILE, &b);
    if (rc == 0 && util_buf_append(&b, "", 1) != 0)
        rc = UTIL_ERR_NOMEM;
    if (rc != 0) {
        util_buf_free(&b);
        return rc;
    }
    char *text = (char *)b.data, *save = NULL;
    bool end = false, have_id = false;
    rc = SMTPGW_ERR_SPOOL_CORRUPT;
    if (strlen(text) + 1 != b.len)
        goto out;
    char *line = strtok_r(text, "\n", &save);
    if (!line || strcmp(line, STATE_MAGIC) != 0)
        goto out;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        char *eq = strchr(line, '=');
        if (end || !eq)
            goto out;
        *eq = '\0';
        uint32_t u, node;
        if (strcmp(line, "next_message_id") == 0) {
            if (!parse_u32(eq + 1, &u) || u == 0)
                goto out;
            sp->next_msgid = u;
            have_id = true;
        } else if (strncmp(line, "msn.", 4) == 0) {
            if (mule_node_parse(line + 4, &node) != 0 || !parse_u32(eq + 1, &u) || u == 0)
                goto out;
            struct msn_entry *m = msn_slot(sp, node);
            if (!m) {
                rc = UTIL_ERR_NOMEM;
                goto out;
            }
            m->next = u;
        } else if (strcmp(line, "end") == 0 && eq[1] == '\0') {
            end = true;
        } else {
            goto out;
        }
    }
    if (end && have_id)
        rc = 0;
out:
    util_buf_free(&b);
    return rc;
}

/* smtpgw_spool_alloc_message_id - the next P_MUL Message_ID, persisted */
int smtpgw_spool_alloc_message_id(struct smtpgw_spool *sp, uint32_t *id)
{
    uint32_t cur = sp->next_msgid;
    sp->next_msgid = cur == UINT32_MAX ? 1 : cur + 1;
    int rc = state_save(sp);
    if (rc != 0) {
        /* keep the counter advanced: a number that may be on disk is never reused */
        return rc;
    }
    *id = cur;
    return 0;
}

/* smtpgw_spool_alloc_msn - the next Message_Sequence_Number for dest, persisted */
int smtpgw_spool_alloc_msn(struct smtpgw_spool *sp, uint32_t dest, uint32_t *msn)
{
    if (dest == 0)
        return SMTPGW_ERR_SPOOL_INVAL;
    struct msn_entry *m = msn_slot(sp, dest);
    if (!m)
        return UTIL_ERR_NOMEM;
    uint32_t cur = m->next;
    m->next = cur == UINT32_MAX ? 1 : cur + 1;
    int rc = state_save(sp);
    if (rc != 0) {
        m->next = cur; /* not on disk: a gap would be worse than a retry */
        return rc;
    }
    *msn = cur;
    return 0;
}

/* smtpgw_spool_assign_ids - Message_ID(s) and MSNs for a new envelope's
 * destinations, in memory; DIR/state follows at the next smtpgw_spool_sync,
 * before the envelope that carries them is committed */
int smtpgw_spool_assign_ids(struct smtpgw_spool *sp, struct smtpgw_spool_dest *dests, size_t n,
                            bool split)
{
    uint32_t shared = 0;
    for (size_t i = 0; i < n; i++) {
        if (dests[i].node == 0)
            return SMTPGW_ERR_SPOOL_INVAL;
        struct msn_entry *m = msn_slot(sp, dests[i].node);
        if (!m)
            return UTIL_ERR_NOMEM;
        if (split || shared == 0) {
            shared = sp->next_msgid;
            sp->next_msgid = shared == UINT32_MAX ? 1 : shared + 1;
        }
        dests[i].msgid = shared;
        dests[i].msn = m->next;
        m->next = m->next == UINT32_MAX ? 1 : m->next + 1;
    }
    if (n)
        sp->state_dirty = true;
    return 0;
}

/* ---- delivered set (DIR/delivered) --------------------------------------------------- */

/* dlv_hash - slot of a key */
static size_t dlv_hash(uint64_t key, size_t cap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)(key & (cap - 1));
}

/* dlv_find - the entry for key or NULL */
static struct dlv_entry *dlv_find(const struct smtpgw_spool *sp, uint64_t key)
{
    if (!sp->dlv_cap)
        return NULL;
    for (size_t i = dlv_hash(key, sp->dlv_cap);; i = (i + 1) & (sp->dlv_cap - 1)) {
        if (sp->dlv[i].key == key)
            return &sp->dlv[i];
        if (sp->dlv[i].key == 0)
            return NULL;
    }
}

/* dlv_put - insert or extend an entry; 0 or UTIL_ERR_NOMEM */
static int dlv_put(struct smtpgw_spool *sp, uint64_t key, int64_t expiry)
{
    struct dlv_entry *e = dlv_find(sp, key);
    if (e) {
        if (expiry > e->expiry)
            e->expiry = expiry;
        return 0;
    }
    if ((sp->dlv_used + 1) * 2 > sp->dlv_cap) {
        size_t cap = sp->dlv_cap ? sp->dlv_cap * 2 : 256;
        struct dlv_entry *t = calloc(cap, sizeof *t);
        if (!t)
            return UTIL_ERR_NOMEM;
        for (size_t i = 0; i < sp->dlv_cap; i++)
            if (sp->dlv[i].key) {
                size_t j = dlv_hash(sp->dlv[i].key, cap);
                while (t[j].key)
                    j = (j + 1) & (cap - 1);
                t[j] = sp->dlv[i];
            }
        free(sp->dlv);
        sp->dlv = t;
        sp->dlv_cap = cap;
    }
    size_t j = dlv_hash(key, sp->dlv_cap);
    while (sp->dlv[j].key)
        j = (j + 1) & (sp->dlv_cap - 1);
    sp->dlv[j] = (struct dlv_entry){key, expiry};
    sp->dlv_used++;
    return 0;
}

/* dlv_compact - drop expired entries, rewrite the journal atomically and reopen it */
static int dlv_compact(struct smtpgw_spool *sp, int64_t now)
{
    struct util_buf b;
    util_buf_init(&b, 0);
    struct dlv_entry *old = sp->dlv;
    size_t cap = sp->dlv_cap;
    sp->dlv = NULL;
    sp->dlv_cap = sp->dlv_used = 0;
    int rc = util_buf_printf(&b, "%s\n", DELIVERED_MAGIC);
    for (size_t i = 0; i < cap && rc == 0; i++) {
        if (!old[i].key || old[i].expiry < now)
            continue;
        rc = dlv_put(sp, old[i].key, old[i].expiry);
        if (rc == 0)
            rc = util_buf_printf(&b, "%" PRIu32 " %" PRIu32 " %" PRId64 "\n",
                                 (uint32_t)(old[i].key >> 32), (uint32_t)old[i].key, old[i].expiry);
    }
    free(old);
    if (rc == 0)
        rc = atomic_write(sp, "delivered", sp->root_fd, "", "delivered", b.data, b.len);
    util_buf_free(&b);
    if (rc != 0)
        return rc;
    if (sp->journal_fd >= 0)
        close(sp->journal_fd);
    sp->journal_fd = do_open(sp->root_fd, "delivered", O_WRONLY | O_APPEND, 0);
    if (sp->journal_fd < 0) {
        log_io(sp, "open", NULL, "delivered");
        return SMTPGW_ERR_SPOOL_IO;
    }
    sp->journal_lines = sp->dlv_used;
    return 0;
}

/* dlv_load - read the journal into the set (a torn last line is ignored) */
static int dlv_load(struct smtpgw_spool *sp, size_t *bad)
{
    struct util_buf b;
    util_buf_init(&b, 0);
    *bad = 0;
    int rc = read_file(sp->root_fd, "delivered", SIZE_MAX / 2, &b);
    if (rc == SMTPGW_ERR_SPOOL_NOTFOUND) {
        util_buf_free(&b);
        return 0;
    }
    if (rc == 0 && util_buf_append(&b, "", 1) != 0)
        rc = UTIL_ERR_NOMEM;
    if (rc != 0) {
        util_buf_free(&b);
        return rc;
    }
    char *p = (char *)b.data, *end = p + b.len - 1;
    bool first = true;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) { /* torn last write: not acknowledged, ignore */
            (*bad)++;
            break;
        }
        *nl = '\0';
        if (first) {
            if (strcmp(p, DELIVERED_MAGIC) != 0)
                (*bad)++;
            first = false;
        } else {
            char a[16], c[16], d[24], extra;
            uint32_t src, id;
            int64_t exp;
            if (strlen(p) < 64 && sscanf(p, "%15s %15s %23s %c", a, c, d, &extra) == 3 &&
                parse_u32(a, &src) && src != 0 && parse_u32(c, &id) && parse_i64(d, &exp)) {
                if (dlv_put(sp, (uint64_t)src << 32 | id, exp) != 0) {
                    util_buf_free(&b);
                    return UTIL_ERR_NOMEM;
                }
            } else {
                (*bad)++;
            }
        }
        p = nl + 1;
    }
    util_buf_free(&b);
    return 0;
}

/* smtpgw_spool_record_delivered - remember (src, msgid) until expiry, fsync'd */
int smtpgw_spool_record_delivered(struct smtpgw_spool *sp, uint32_t src, uint32_t msgid,
                                  int64_t expiry)
{
    if (src == 0)
        return SMTPGW_ERR_SPOOL_INVAL;
    char line[64];
    int n =
        snprintf(line, sizeof line, "%" PRIu32 " %" PRIu32 " %" PRId64 "\n", src, msgid, expiry);
    if (sp->journal_fd < 0 && dlv_compact(sp, util_wall_s()) != 0)
        return SMTPGW_ERR_SPOOL_IO;
    if (write_all(sp->journal_fd, line, (size_t)n) != 0 || do_fsync(sp->journal_fd) != 0) {
        log_io(sp, "append", NULL, "delivered");
        /* a partial line may be in the file: rewrite it whole next time */
        close(sp->journal_fd);
        sp->journal_fd = -1;
        return SMTPGW_ERR_SPOOL_IO;
    }
    sp->journal_lines++;
    if (dlv_put(sp, (uint64_t)src << 32 | msgid, expiry) != 0)
        return UTIL_ERR_NOMEM;
    if (sp->journal_lines > 2 * sp->dlv_used + 1024)
        (void)dlv_compact(sp, util_wall_s()); /* the line is durable already */
    return 0;
}

/* smtpgw_spool_was_delivered - (src, msgid) delivered or spooled in incoming/ */
bool smtpgw_spool_was_delivered(struct smtpgw_spool *sp, uint32_t src, uint32_t msgid)
{
    if (src == 0)
        return false;
    return dlv_find(sp, (uint64_t)src << 32 | msgid) != NULL ||
           smtpgw_spool_find_incoming(sp, src, msgid) != NULL;
}

/* ---- open and recovery ------------------------------------------------------------- */

/* open_dir - mkdir (if absent) and open a directory; -1 on failure */
static int open_dir(int parent, const char *name)
{
    if (fault_hit())
        return -1;
    if (mkdirat(parent, name, 0700) != 0 && errno != EEXIST)
        return -1;
    return openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* quarantine - move q's envelope (and its content, unless another envelope
 * owns it) to corrupt/, logged */
static void quarantine(struct smtpgw_spool *sp, int qdir, const char *name, const char *why,
                       bool with_content)
{
    char dst[NAME_MAX + 32];
    snprintf(dst, sizeof dst, "%s.%s.env", name, dir_names[qdir]);
    if (renameat(sp->fds[qdir], name, sp->fds[DIR_CORRUPT], dst) != 0)
        log_io(sp, "quarantine", dir_names[qdir], name);
    if (with_content && qid_ok(name)) {
        snprintf(dst, sizeof dst, "%s.data", name);
        if (renameat(sp->fds[DIR_DATA], name, sp->fds[DIR_CORRUPT], dst) != 0 && errno != ENOENT)
            log_io(sp, "quarantine", "data", name);
    }
    (void)fsync(sp->fds[DIR_CORRUPT]);
    (void)fsync(sp->fds[qdir]);
    util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "spool-corrupt",
             "qid=%s queue=%s reason=\"%s\" moved-to=%s/corrupt", name, dir_names[qdir], why,
             sp->dir);
}

/* msg_cmp - qsort by queue id */
static int msg_cmp(const void *a, const void *b)
{
    const struct spool_msg *x = *(struct spool_msg *const *)a, *y = *(struct spool_msg *const *)b;
    return strcmp(x->env.qid, y->env.qid);
}

/* load_queue - every envelope in one queue directory; *corrupt counts quarantines */
static int load_queue(struct smtpgw_spool *sp, int q, size_t *corrupt)
{
    int qdir = q == SMTPGW_Q_OUTGOING ? DIR_OUT : DIR_IN;
    int fd = dup(sp->fds[qdir]);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        log_io(sp, "opendir", dir_names[qdir], NULL);
        return SMTPGW_ERR_SPOOL_IO;
    }
    rewinddir(d);
    struct spool_msg **arr = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    struct util_buf b;
    util_buf_init(&b, 0);
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        const char *why = NULL;
        char whybuf[96];
        struct spool_msg *m = NULL;
        struct stat st;
        util_buf_reset(&b);
        if (!qid_ok(name)) {
            why = "name is not a queue id";
        } else if (fstatat(sp->fds[DIR_DATA], name, &st, 0) != 0 || !S_ISREG(st.st_mode)) {
            why = "content missing";
        } else {
            int err = read_file(sp->fds[qdir], name, ENV_MAX_FILE, &b);
            if (err == 0 && util_buf_reserve(&b, 1) != 0)
                err = UTIL_ERR_NOMEM;
            if (err == UTIL_ERR_NOMEM) {
                rc = err;
                break;
            }
            if (err == SMTPGW_ERR_SPOOL_NOTFOUND)
                continue; /* vanished */
            if (err != 0) {
                why = err == SMTPGW_ERR_SPOOL_IO ? "unreadable" : "not a file or too large";
            } else {
                m = env_parse((char *)b.data, b.len, name, whybuf, sizeof whybuf, &err);
                why = whybuf;
                if (!m && err == UTIL_ERR_NOMEM) {
                    rc = err;
                    break;
                }
                if (m && (uint64_t)st.st_size != m->env.size) {
                    msg_free(m);
                    m = NULL;
                    why = "content size differs from the envelope";
                }
            }
        }
        if (!m) {
            quarantine(sp, qdir, name, why, true);
            (*corrupt)++;
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct spool_msg **p = realloc(arr, nc * sizeof *p);
            if (!p) {
                msg_free(m);
                rc = UTIL_ERR_NOMEM;
                break;
            }
            arr = p;
            cap = nc;
        }
        if (idx_reserve(sp) != 0) {
            msg_free(m);
            rc = UTIL_ERR_NOMEM;
            break;
        }
        arr[n++] = m;
        sp->idx[sp->nidx++] = m; /* sorted once everything is loaded */
        util_list_push_back(&sp->q[q], &m->link);
        m->env.queue = (uint8_t)q;
        sp->count[q]++;
    }
    closedir(d);
    util_buf_free(&b);
    if (n > 1) {
        qsort(arr, n, sizeof *arr, msg_cmp);
        util_list_init(&sp->q[q]);
        for (size_t i = 0; i < n; i++)
            util_list_push_back(&sp->q[q], &arr[i]->link);
    }
    free(arr);
    return rc;
}

/* dedupe - a queue id in both queues (impossible by rename, but a hand
 * copy...): keep the outgoing envelope, quarantine the incoming one */
static void dedupe(struct smtpgw_spool *sp, size_t *corrupt)
{
    size_t o = 0;
    for (size_t i = 0; i < sp->nidx; i++) {
        struct spool_msg *m = sp->idx[i];
        if (o > 0 && strcmp(sp->idx[o - 1]->env.qid, m->env.qid) == 0) {
            struct spool_msg *drop = m->env.queue == SMTPGW_Q_INCOMING ? m : sp->idx[o - 1];
            if (drop != m)
                sp->idx[o - 1] = m;
            quarantine(sp, DIR_IN, drop->env.qid, "queue id already in another queue", false);
            q_remove(sp, drop);
            msg_free(drop);
            (*corrupt)++;
            continue;
        }
        sp->idx[o++] = m;
    }
    sp->nidx = o;
}

/* clean_dir - remove every entry of a directory (tmp/) or those without an
 * envelope (data/); returns how many were removed */
static size_t clean_dir(struct smtpgw_spool *sp, int which)
{
    int fd = dup(sp->fds[which]);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    size_t removed = 0;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    rewinddir(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (which == DIR_DATA && qid_ok(name) && smtpgw_spool_find(sp, name))
            continue;
        if (unlinkat(sp->fds[which], name, 0) == 0) {
            removed++;
            util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "spool-recover",
                     "removed=%s/%s reason=\"%s\"", dir_names[which], name,
                     which == DIR_TMP ? "unfinished write" : "content without envelope");
        } else if (errno == EISDIR || errno == EPERM) {
            log_io(sp, "unlink", dir_names[which], name);
        }
    }
    closedir(d);
    if (removed)
        (void)fsync(sp->fds[which]);
    return removed;
}

/* raise_counters - counters past every id an envelope holds (a crash between
 * an envelope write and a state write never reuses an id) */
static int raise_counters(struct smtpgw_spool *sp, bool *changed)
{
    struct util_list *it;
    *changed = false;
    UTIL_LIST_FOREACH(it, &sp->q[SMTPGW_Q_OUTGOING])
    {
        struct smtpgw_envelope *e = &UTIL_CONTAINER_OF(it, struct spool_msg, link)->env;
        for (size_t i = 0; i < e->n_dests; i++) {
            const struct smtpgw_spool_dest *d = &e->dests[i];
            /* ids are compared as if they never wrapped (4e9 messages) */
            if (d->msgid && d->msgid >= sp->next_msgid && d->msgid != UINT32_MAX) {
                sp->next_msgid = d->msgid + 1;
                *changed = true;
            }
            if (d->msn) {
                struct msn_entry *m = msn_slot(sp, d->node);
                if (!m)
                    return UTIL_ERR_NOMEM;
                if (d->msn >= m->next && d->msn != UINT32_MAX) {
                    m->next = d->msn + 1;
                    *changed = true;
                }
            }
        }
    }
    return 0;
}

/* smtpgw_spool_open - open or create the spool at dir and recover */
struct smtpgw_spool *smtpgw_spool_open(const char *dir, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    *err = SMTPGW_ERR_SPOOL_IO;
    struct smtpgw_spool *sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->dir = strdup(dir))) {
        free(sp);
        *err = UTIL_ERR_NOMEM;
        return NULL;
    }
    sp->root_fd = sp->lock_fd = sp->journal_fd = -1;
    for (int i = 0; i < DIR_COUNT; i++)
        sp->fds[i] = -1;
    for (int q = 0; q < SMTPGW_Q_COUNT; q++)
        util_list_init(&sp->q[q]);
    util_list_init(&sp->dirty);
    sp->staged_tail = &sp->staged;
    sp->next_msgid = 1;

    bool fresh = false;
    if (mkdir(dir, 0700) == 0)
        fresh = true;
    else if (errno != EEXIST) {
        log_io(sp, "mkdir", NULL, NULL);
        goto fail;
    }
    sp->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sp->root_fd < 0) {
        log_io(sp, "open", NULL, NULL);
        goto fail;
    }
    sp->lock_fd = do_open(sp->root_fd, "lock", O_RDWR | O_CREAT, 0600);
    if (sp->lock_fd < 0) {
        log_io(sp, "open", NULL, "lock");
        goto fail;
    }
    if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "spool-locked",
                     "dir=%s (another process has the spool open)", dir);
            *err = SMTPGW_ERR_SPOOL_LOCKED;
        } else {
            log_io(sp, "flock", NULL, "lock");
        }
        goto fail;
    }
    for (int i = 0; i < DIR_COUNT; i++) {
        sp->fds[i] = open_dir(sp->root_fd, dir_names[i]);
        if (sp->fds[i] < 0) {
            log_io(sp, "mkdir", dir_names[i], NULL);
            goto fail;
        }
    }
    if (do_fsync(sp->root_fd) != 0) {
        log_io(sp, "fsync", NULL, NULL);
        goto fail;
    }

    /* counters */
    int rc = state_load(sp);
    bool state_lost = false;
    if (rc == UTIL_ERR_NOMEM || rc == SMTPGW_ERR_SPOOL_IO) {
        *err = rc;
        goto fail;
    }
    if (rc == SMTPGW_ERR_SPOOL_CORRUPT) {
        char dst[64];
        snprintf(dst, sizeof dst, "state.%" PRId64, util_wall_s());
        (void)renameat(sp->root_fd, "state", sp->fds[DIR_CORRUPT], dst);
        util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "spool-corrupt",
                 "file=%s/state reason=\"does not parse\" moved-to=%s/corrupt/%s "
                 "(counters rebuilt from the envelopes and the clock)",
                 dir, dir, dst);
        state_lost = true;
        sp->n_msn = 0;
    } else if (rc == SMTPGW_ERR_SPOOL_NOTFOUND && !fresh) {
        /* an existing spool without counters: a lost state file unless nothing was ever sent */
        struct stat st;
        state_lost = fstatat(sp->root_fd, "delivered", &st, 0) == 0;
    }

    /* recovery */
    size_t tmp_removed = clean_dir(sp, DIR_TMP), corrupt = 0;
    for (int q = 0; q < SMTPGW_Q_COUNT; q++) {
        rc = load_queue(sp, q, &corrupt);
        if (rc != 0) {
            *err = rc;
            goto fail;
        }
    }
    if (sp->nidx > 1)
        qsort(sp->idx, sp->nidx, sizeof *sp->idx, msg_cmp);
    dedupe(sp, &corrupt);
    size_t orphans = clean_dir(sp, DIR_DATA);
    if (state_lost) {
        /* Message_IDs a receiver may remember: start past any we could have used */
        uint32_t t = (uint32_t)util_wall_s();
        if (t > sp->next_msgid)
            sp->next_msgid = t;
    }
    bool changed = false;
    rc = raise_counters(sp, &changed);
    if (rc == 0 && (changed || state_lost || fresh || sp->next_msgid == 1))
        rc = state_save(sp);
    if (rc != 0) {
        *err = rc;
        goto fail;
    }

    /* delivered journal */
    size_t bad = 0;
    rc = dlv_load(sp, &bad);
    if (rc == 0)
        rc = dlv_compact(sp, util_wall_s());
    if (rc != 0) {
        *err = rc;
        goto fail;
    }
    if (bad)
        util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "spool-recover",
                 "file=%s/delivered bad-lines=%zu (ignored; a torn last line is expected "
                 "after a crash)",
                 dir, bad);
    util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "spool-open",
             "dir=%s outgoing=%zu incoming=%zu corrupt=%zu tmp-removed=%zu orphans=%zu "
             "delivered=%zu next-msgid=%" PRIu32,
             dir, sp->count[SMTPGW_Q_OUTGOING], sp->count[SMTPGW_Q_INCOMING], corrupt, tmp_removed,
             orphans, sp->dlv_used, sp->next_msgid);
    *err = 0;
    return sp;
fail:
    smtpgw_spool_close(sp);
    return NULL;
}

/* smtpgw_spool_close - release memory and the lock */
void smtpgw_spool_close(struct smtpgw_spool *sp)
{
    if (!sp)
        return;
    while (sp->staged) { /* never acknowledged: their tmp files go at the next open */
        struct spool_staged *st = sp->staged;
        sp->staged = st->next;
        if (st->efd >= 0)
            close(st->efd);
        smtpgw_spool_writer_abort(st->w);
        msg_free(st->m);
        free(st);
    }
    for (int q = 0; q < SMTPGW_Q_COUNT; q++) {
        struct util_list *it, *tmp;
        UTIL_LIST_FOREACH_SAFE(it, tmp, &sp->q[q])
        msg_free(UTIL_CONTAINER_OF(it, struct spool_msg, link));
    }
    for (int i = 0; i < DIR_COUNT; i++)
        if (sp->fds[i] >= 0)
            close(sp->fds[i]);
    if (sp->journal_fd >= 0)
        close(sp->journal_fd);
    if (sp->lock_fd >= 0)
        close(sp->lock_fd);
    if (sp->root_fd >= 0)
        close(sp->root_fd);
    free(sp->idx);
    free(sp->msn);
    free(sp->dlv);
    free(sp->dir);
    free(sp);
}

/* ---- adding messages ---------------------------------------------------------------- */

/* new_qid - a fresh queue id (time + counter), not in use */
static void new_qid(struct smtpgw_spool *sp, char out[SMTPGW_QID_LEN])
{
    for (;;) {
        uint32_t t = (uint32_t)util_wall_s();
        if (t > sp->qid_t) {
            sp->qid_t = t;
            sp->qid_seq = 0;
        } else if (++sp->qid_seq > 0xFFFF) {
            sp->qid_t++;
            sp->qid_seq = 0;
        }
        snprintf(out, SMTPGW_QID_LEN, "%08" PRIX32 "%04" PRIX32, sp->qid_t, sp->qid_seq);
        struct stat st;
        char tmp[SMTPGW_QID_LEN + 2];
        snprintf(tmp, sizeof tmp, "%s.d", out);
        if (!smtpgw_spool_find(sp, out) && fstatat(sp->fds[DIR_DATA], out, &st, 0) != 0 &&
            fstatat(sp->fds[DIR_TMP], tmp, &st, 0) != 0)
            return;
    }
}

/* smtpgw_spool_writer_new - start a message in tmp/ */
struct smtpgw_spool_writer *smtpgw_spool_writer_new(struct smtpgw_spool *sp, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    struct smtpgw_spool_writer *w = malloc(sizeof *w);
    if (!w) {
        *err = UTIL_ERR_NOMEM;
        return NULL;
    }
    memset(w, 0, offsetof(struct smtpgw_spool_writer, buf));
    w->sp = sp;
    new_qid(sp, w->qid);
    char name[SMTPGW_QID_LEN + 2];
    snprintf(name, sizeof name, "%s.d", w->qid);
    w->fd = do_open(sp->fds[DIR_TMP], name, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (w->fd < 0) {
        log_io(sp, "open", "tmp", name);
        free(w);
        *err = SMTPGW_ERR_SPOOL_IO;
        return NULL;
    }
    *err = 0;
    return w;
}

/* smtpgw_spool_writer_qid - the queue id the message will have */
const char *smtpgw_spool_writer_qid(const struct smtpgw_spool_writer *w)
{
    return w->qid;
}

/* smtpgw_spool_writer_bytes - content bytes written so far */
uint64_t smtpgw_spool_writer_bytes(const struct smtpgw_spool_writer *w)
{
    return w->bytes;
}

/* classify - update the content classification with n more bytes */
static void classify(struct smtpgw_spool_writer *w, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (w->prev_cr) {
            w->prev_cr = false;
            if (c == '\n') {
                w->line_len = 0;
                continue;
            }
            w->bin = true; /* bare CR */
        }
        if (c == '\r') {
            w->prev_cr = true;
            continue;
        }
        if (c == '\n' || c == 0)
            w->bin = true; /* bare LF, NUL */
        if (c >= 0x80)
            w->eight = true;
        if (++w->line_len > MAX_TEXT_LINE)
            w->bin = true;
    }
}

/* writer_flush - write the buffered bytes */
static int writer_flush(struct smtpgw_spool_writer *w)
{
    if (w->blen && write_all(w->fd, w->buf, w->blen) != 0) {
        char name[SMTPGW_QID_LEN + 2];
        snprintf(name, sizeof name, "%s.d", w->qid);
        log_io(w->sp, "write", "tmp", name);
        w->err = SMTPGW_ERR_SPOOL_IO;
    }
    w->blen = 0;
    return w->err;
}

/* smtpgw_spool_writer_write - append content */
int smtpgw_spool_writer_write(struct smtpgw_spool_writer *w, const void *data, size_t len)
{
    if (w->err)
        return w->err;
    const uint8_t *p = data;
    classify(w, p, len);
    w->bytes += len;
    while (len > 0) {
        if (w->blen == WRITER_BUF && writer_flush(w) != 0)
            return w->err;
        if (w->blen == 0 && len >= WRITER_BUF) {
            if (write_all(w->fd, p, len) != 0) {
                w->err = SMTPGW_ERR_SPOOL_IO;
                log_io(w->sp, "write", "tmp", w->qid);
                return w->err;
            }
            return 0;
        }
        size_t n = UTIL_MIN(len, WRITER_BUF - w->blen);
        memcpy(w->buf + w->blen, p, n);
        w->blen += n;
        p += n;
        len -= n;
    }
    return 0;
}

/* smtpgw_spool_writer_abort - drop the content and free the writer */
void smtpgw_spool_writer_abort(struct smtpgw_spool_writer *w)
{
    if (!w)
        return;
    char name[SMTPGW_QID_LEN + 2];
    snprintf(name, sizeof name, "%s.d", w->qid);
    if (w->fd >= 0)
        close(w->fd);
    unlinkat(w->sp->fds[DIR_TMP], name, 0);
    free(w);
}

/* write_envelope - m's envelope to tmp/QID.e, fsync, rename into its queue, fsync */
static int write_envelope(struct smtpgw_spool *sp, struct spool_msg *m, int q)
{
    struct util_buf b;
    util_buf_init(&b, 0);
    int rc = env_serialize(&m->env, &b);
    if (rc == 0) {
        char tmp[SMTPGW_QID_LEN + 2];
        snprintf(tmp, sizeof tmp, "%s.e", m->env.qid);
        int qdir = q == SMTPGW_Q_OUTGOING ? DIR_OUT : DIR_IN;
        rc = atomic_write(sp, tmp, sp->fds[qdir], dir_names[qdir], m->env.qid, b.data, b.len);
    }
    util_buf_free(&b);
    return rc;
}

static void log_added(const struct spool_msg *m, enum smtpgw_queue q);

/* commit_common - with the content in data/QID (fsync'd), write the envelope and list it */
static int commit_common(struct smtpgw_spool *sp, struct spool_msg *m, enum smtpgw_queue q,
                         struct smtpgw_envelope **out)
{
    int rc = idx_reserve(sp);
    if (rc == 0)
        rc = write_envelope(sp, m, q);
    if (rc != 0) {
        /* not acknowledged: remove the envelope if its rename happened (only
         * its directory's fsync failed), then the content; whatever stays is
         * consistent (both, or an orphan removed at the next open) */
        int qdir = q == SMTPGW_Q_OUTGOING ? DIR_OUT : DIR_IN;
        if (unlinkat(sp->fds[qdir], m->env.qid, 0) == 0 || errno == ENOENT)
            unlinkat(sp->fds[DIR_DATA], m->env.qid, 0);
        msg_free(m);
        return rc;
    }
    q_insert(sp, m, q);
    idx_insert(sp, m);
    log_added(m, q);
    if (out)
        *out = &m->env;
    return 0;
}

/* log_added - the spool-add event of a committed message */
static void log_added(const struct spool_msg *m, enum smtpgw_queue q)
{
    char node[MULE_NODE_STRLEN];
    if (m->env.src_node)
        util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "spool-add",
                 "qid=%s queue=%s size=%" PRIu64 " rcpts=%u src=%s msgid=%" PRIu32, m->env.qid,
                 smtpgw_queue_name(q), m->env.size, m->env.n_rcpts,
                 mule_node_format(m->env.src_node, node, sizeof node), m->env.src_msgid);
    else
        util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "spool-add",
                 "qid=%s queue=%s size=%" PRIu64 " rcpts=%u from=<%s>%s", m->env.qid,
                 smtpgw_queue_name(q), m->env.size, m->env.n_rcpts, m->env.from,
                 (m->env.flags & SMTPGW_ENV_DSN) ? " dsn=yes" : "");
}

/* check_dup - SMTPGW_ERR_SPOOL_DUPLICATE if an incoming env's source is known */
static int check_dup(struct smtpgw_spool *sp, const struct smtpgw_envelope *env,
                     enum smtpgw_queue q)
{
    if (q != SMTPGW_Q_INCOMING || env->src_node == 0)
        return 0;
    if (!smtpgw_spool_was_delivered(sp, env->src_node, env->src_msgid))
        return 0;
    char node[MULE_NODE_STRLEN];
    util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "spool-duplicate", "src=%s msgid=%" PRIu32,
             mule_node_format(env->src_node, node, sizeof node), env->src_msgid);
    return SMTPGW_ERR_SPOOL_DUPLICATE;
}

/* writer_finish_checks - before a commit or stage: a valid envelope for
 * queue q, not a duplicate, every byte of content written; 0 or error */
static int writer_finish_checks(struct smtpgw_spool_writer *w, const struct smtpgw_envelope *env,
                                enum smtpgw_queue q)
{
    int rc = (unsigned)q < SMTPGW_Q_COUNT ? env_check(env) : SMTPGW_ERR_SPOOL_INVAL;
    if (rc == 0)
        rc = check_dup(w->sp, env, q);
    if (rc == 0)
        rc = writer_flush(w);
    return rc;
}

/* writer_describe - what the writer learned goes into the spool's copy of
 * the envelope: queue id, size, content class, arrival */
static void writer_describe(const struct smtpgw_spool_writer *w, struct spool_msg *m)
{
    memcpy(m->env.qid, w->qid, SMTPGW_QID_LEN);
    m->env.size = w->bytes;
    m->env.content = w->bin || w->prev_cr ? SMTPGW_CONTENT_BINARY /* prev_cr: ends in a bare CR */
                     : w->eight           ? SMTPGW_CONTENT_8BIT
                                          : SMTPGW_CONTENT_7BIT;
    if (m->env.arrival == 0)
        m->env.arrival = util_wall_s();
}

/* smtpgw_spool_writer_commit - make the message durable in queue q */
int smtpgw_spool_writer_commit(struct smtpgw_spool_writer *w, const struct smtpgw_envelope *env,
                               enum smtpgw_queue q, struct smtpgw_envelope **out)
{
    struct smtpgw_spool *sp = w->sp;
    int rc = writer_finish_checks(w, env, q);
    if (rc != 0) {
        smtpgw_spool_writer_abort(w);
        return rc;
    }
    char name[SMTPGW_QID_LEN + 2];
    snprintf(name, sizeof name, "%s.d", w->qid);
    if (do_fsync(w->fd) != 0 || close(w->fd) != 0) {
        log_io(sp, "fsync", "tmp", name);
        if (w->fd >= 0)
            close(w->fd);
        w->fd = -1;
        smtpgw_spool_writer_abort(w);
        return SMTPGW_ERR_SPOOL_IO;
    }
    w->fd = -1;
    struct spool_msg *m = msg_clone(env);
    if (!m) {
        smtpgw_spool_writer_abort(w);
        return UTIL_ERR_NOMEM;
    }
    writer_describe(w, m);
    if (do_rename(sp->fds[DIR_TMP], name, sp->fds[DIR_DATA], w->qid) != 0) {
        log_io(sp, "rename", "data", w->qid);
        msg_free(m);
        smtpgw_spool_writer_abort(w);
        return SMTPGW_ERR_SPOOL_IO;
    }
    free(w);
    if (do_fsync(sp->fds[DIR_DATA]) != 0) {
        log_io(sp, "fsync", "data", NULL);
        unlinkat(sp->fds[DIR_DATA], m->env.qid, 0);
        msg_free(m);
        return SMTPGW_ERR_SPOOL_IO;
    }
    return commit_common(sp, m, q, out);
}

/* ---- group commit ------------------------------------------------------------------ */

/* smtpgw_spool_writer_stage - write the envelope beside the content in tmp/
 * and queue both for the next smtpgw_spool_sync (nothing fsync'd yet) */
int smtpgw_spool_writer_stage(struct smtpgw_spool_writer *w, const struct smtpgw_envelope *env,
                              enum smtpgw_queue q, void *user)
{
    struct smtpgw_spool *sp = w->sp;
    int rc = writer_finish_checks(w, env, q);
    struct spool_staged *st = NULL;
    struct spool_msg *m = NULL;
    if (rc == 0 && (!(st = calloc(1, sizeof *st)) || !(m = msg_clone(env))))
        rc = UTIL_ERR_NOMEM;
    if (rc != 0) {
        free(st);
        smtpgw_spool_writer_abort(w);
        return rc;
    }
    writer_describe(w, m);
    struct util_buf b;
    util_buf_init(&b, 0);
    char tmp[SMTPGW_QID_LEN + 2];
    snprintf(tmp, sizeof tmp, "%s.e", w->qid);
    st->efd = -1;
    rc = env_serialize(&m->env, &b);
    if (rc == 0) {
        st->efd = do_open(sp->fds[DIR_TMP], tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (st->efd < 0 || write_all(st->efd, b.data, b.len) != 0) {
            log_io(sp, st->efd < 0 ? "open" : "write", "tmp", tmp);
            rc = SMTPGW_ERR_SPOOL_IO;
        }
    }
    util_buf_free(&b);
    if (rc != 0) {
        if (st->efd >= 0)
            close(st->efd);
        unlinkat(sp->fds[DIR_TMP], tmp, 0);
        msg_free(m);
        free(st);
        smtpgw_spool_writer_abort(w);
        return rc;
    }
    st->w = w;
    st->m = m;
    st->q = q;
    st->user = user;
    *sp->staged_tail = st;
    sp->staged_tail = &st->next;
    sp->n_staged++;
    return 0;
}

/* smtpgw_spool_sync_pending - whether smtpgw_spool_sync has work */
bool smtpgw_spool_sync_pending(const struct smtpgw_spool *sp)
{
    return sp->staged || sp->state_dirty || sp->dirty_dirs || !util_list_empty(&sp->dirty);
}

/* sync_dirty - rewrite the envelopes changed by smtpgw_spool_update_later
 * (each to tmp/, fsync'd, renamed), then fsync their directories once */
static void sync_dirty(struct smtpgw_spool *sp)
{
    struct util_list *it, *tmp;
    UTIL_LIST_FOREACH_SAFE(it, tmp, &sp->dirty)
    {
        struct spool_msg *m = UTIL_CONTAINER_OF(it, struct spool_msg, dirty);
        util_list_remove(&m->dirty);
        struct util_buf b;
        util_buf_init(&b, 0);
        int rc = env_serialize(&m->env, &b);
        char tname[SMTPGW_QID_LEN + 2];
        snprintf(tname, sizeof tname, "%s.e", m->env.qid);
        int qdir = m->env.queue == SMTPGW_Q_OUTGOING ? DIR_OUT : DIR_IN;
        int fd = rc == 0 ? do_open(sp->fds[DIR_TMP], tname, O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;
        if (fd < 0 || write_all(fd, b.data, b.len) != 0 || do_fsync(fd) != 0 ||
            do_rename(sp->fds[DIR_TMP], tname, sp->fds[qdir], m->env.qid) != 0) {
            /* the old envelope stays: at worst a retransmission after a restart */
            log_io(sp, "update", dir_names[qdir], m->env.qid);
            unlinkat(sp->fds[DIR_TMP], tname, 0);
        } else {
            sp->dirty_dirs |= 1u << qdir;
        }
        if (fd >= 0)
            close(fd);
        util_buf_free(&b);
    }
}

/* staged_fail - drop a staged message that will not be committed */
static void staged_fail(struct smtpgw_spool *sp, struct spool_staged *st, int err)
{
    char name[SMTPGW_QID_LEN + 2];
    snprintf(name, sizeof name, "%s.e", st->m->env.qid);
    unlinkat(sp->fds[DIR_TMP], name, 0);
    if (st->efd >= 0)
        close(st->efd);
    st->efd = -1;
    if (st->w) {
        smtpgw_spool_writer_abort(st->w);
        st->w = NULL;
    }
    st->err = err;
}

/* smtpgw_spool_sync - the group commit: DIR/state if counters were given
 * out, then every staged message (content and envelope fsync'd, content
 * renamed into data/, data/ fsync'd, envelopes renamed into their queues,
 * each queue directory fsync'd once), envelopes changed by update_later,
 * and directories that lost entries.  done(cbuser, user, env, 0) for each
 * committed message, done(cbuser, user, NULL, err) for each that failed,
 * in staging order; the number of staged messages handled */
size_t smtpgw_spool_sync(struct smtpgw_spool *sp, smtpgw_spool_done_fn done, void *cbuser)
{
    struct spool_staged *list = sp->staged;
    size_t n = sp->n_staged;
    sp->staged = NULL;
    sp->staged_tail = &sp->staged;
    sp->n_staged = 0;
    int state_rc = sp->state_dirty ? state_save(sp) : 0;
    char name[SMTPGW_QID_LEN + 2];
    /* 1: the files themselves, all at once */
    size_t nfd = 0;
    int *fds = malloc((2 * n + 1) * sizeof *fds), *errs = malloc((2 * n + 1) * sizeof *errs);
    for (struct spool_staged *st = list; st; st = st->next) {
        if (state_rc != 0 || !fds || !errs) {
            staged_fail(sp, st, state_rc ? state_rc : UTIL_ERR_NOMEM);
            continue;
        }
        fds[nfd++] = st->w->fd;
        fds[nfd++] = st->efd;
    }
    if (nfd)
        fsync_set(fds, nfd, errs);
    size_t k = 0;
    for (struct spool_staged *st = list; st; st = st->next) {
        if (st->err)
            continue;
        int cerr = errs[k++], eerr = errs[k++];
        int cfd = st->w->fd, efd = st->efd;
        st->w->fd = -1;
        st->efd = -1;
        bool bad = close(cfd) != 0 || cerr;
        bad = close(efd) != 0 || eerr || bad;
        if (bad) {
            errno = cerr ? cerr : eerr ? eerr : errno;
            snprintf(name, sizeof name, "%s.%c", st->m->env.qid, cerr ? 'd' : 'e');
            log_io(sp, "fsync", "tmp", name);
            staged_fail(sp, st, SMTPGW_ERR_SPOOL_IO);
        }
    }
    free(fds);
    free(errs);
    /* 2: the content into data/ */
    bool any = false;
    for (struct spool_staged *st = list; st; st = st->next) {
        if (st->err)
            continue;
        snprintf(name, sizeof name, "%s.d", st->m->env.qid);
        if (do_rename(sp->fds[DIR_TMP], name, sp->fds[DIR_DATA], st->m->env.qid) != 0) {
            log_io(sp, "rename", "data", st->m->env.qid);
            staged_fail(sp, st, SMTPGW_ERR_SPOOL_IO);
            continue;
        }
        free(st->w);
        st->w = NULL;
        any = true;
    }
    if (any && do_fsync(sp->fds[DIR_DATA]) != 0) {
        log_io(sp, "fsync", "data", NULL);
        for (struct spool_staged *st = list; st; st = st->next)
            if (!st->err) {
                unlinkat(sp->fds[DIR_DATA], st->m->env.qid, 0);
                staged_fail(sp, st, SMTPGW_ERR_SPOOL_IO);
            }
    }
    /* 3: the envelopes into their queues: the commit point */
    for (struct spool_staged *st = list; st; st = st->next) {
        if (st->err)
            continue;
        int qdir = st->q == SMTPGW_Q_OUTGOING ? DIR_OUT : DIR_IN;
        snprintf(name, sizeof name, "%s.e", st->m->env.qid);
        int rc = idx_reserve(sp);
        if (rc == 0 && do_rename(sp->fds[DIR_TMP], name, sp->fds[qdir], st->m->env.qid) != 0) {
            log_io(sp, "rename", dir_names[qdir], st->m->env.qid);
            rc = SMTPGW_ERR_SPOOL_IO;
        }
        if (rc != 0) {
            unlinkat(sp->fds[DIR_DATA], st->m->env.qid, 0);
            staged_fail(sp, st, rc);
            continue;
        }
        sp->dirty_dirs |= 1u << qdir;
        q_insert(sp, st->m, st->q);
        idx_insert(sp, st->m);
    }
    /* 4: changed envelopes, then each directory once */
    sync_dirty(sp);
    int dfds[2] = {-1, -1}, derrs[2] = {0, 0}, dwhich[2] = {0, 0};
    size_t nd = 0;
    for (int d = DIR_OUT; d <= DIR_IN; d++)
        if (sp->dirty_dirs & (1u << d)) {
            dwhich[nd] = d;
            dfds[nd++] = sp->fds[d];
        }
    fsync_set(dfds, nd, derrs);
    for (size_t j = 0; j < nd; j++) {
        int d = dwhich[j];
        if (derrs[j] == 0)
            continue;
        errno = derrs[j];
        log_io(sp, "fsync", dir_names[d], NULL);
        /* what was renamed in is not known to be durable: not acknowledged */
        for (struct spool_staged *st = list; st; st = st->next) {
            int qdir = st->q == SMTPGW_Q_OUTGOING ? DIR_OUT : DIR_IN;
            if (st->err || qdir != d)
                continue;
            if (unlinkat(sp->fds[d], st->m->env.qid, 0) == 0 || errno == ENOENT)
                unlinkat(sp->fds[DIR_DATA], st->m->env.qid, 0);
            q_remove(sp, st->m);
            idx_erase(sp, st->m);
            st->err = SMTPGW_ERR_SPOOL_IO;
        }
    }
    sp->dirty_dirs = 0;
    /* 5: report */
    while (list) {
        struct spool_staged *st = list;
        list = st->next;
        if (st->err) {
            msg_free(st->m);
            if (done)
                done(cbuser, st->user, NULL, st->err);
        } else {
            log_added(st->m, st->q);
            if (done)
                done(cbuser, st->user, &st->m->env, 0);
        }
        free(st);
    }
    return n;
}

/* smtpgw_spool_update_later - msg's envelope changed in memory: rewrite it
 * at the next smtpgw_spool_sync (or never, if it is removed before) */
void smtpgw_spool_update_later(struct smtpgw_spool *sp, struct smtpgw_envelope *msg)
{
    struct spool_msg *m = msg_of(msg);
    if (util_list_empty(&m->dirty))
        util_list_push_back(&sp->dirty, &m->dirty);
}

/* add_bytes - spool content held in memory */
static int add_bytes(struct smtpgw_spool *sp, const struct smtpgw_envelope *env,
                     const uint8_t *content, size_t len, enum smtpgw_queue q,
                     struct smtpgw_envelope **out)
{
    int rc = env_check(env);
    if (rc == 0)
        rc = check_dup(sp, env, q);
    if (rc != 0)
        return rc;
    struct smtpgw_spool_writer *w = smtpgw_spool_writer_new(sp, &rc);
    if (!w)
        return rc;
    rc = smtpgw_spool_writer_write(w, content, len);
    if (rc != 0) {
        smtpgw_spool_writer_abort(w);
        return rc;
    }
    return smtpgw_spool_writer_commit(w, env, q, out);
}

/* smtpgw_spool_add_outgoing - spool a message to send over HF */
int smtpgw_spool_add_outgoing(struct smtpgw_spool *sp, const struct smtpgw_envelope *env,
                              const uint8_t *content, size_t len, struct smtpgw_envelope **out)
{
    return add_bytes(sp, env, content, len, SMTPGW_Q_OUTGOING, out);
}

/* smtpgw_spool_add_incoming - spool a message to deliver to the LAN MTA */
int smtpgw_spool_add_incoming(struct smtpgw_spool *sp, const struct smtpgw_envelope *env,
                              const uint8_t *content, size_t len, struct smtpgw_envelope **out)
{
    return add_bytes(sp, env, content, len, SMTPGW_Q_INCOMING, out);
}

/* smtpgw_spool_add_copy - a new message with env and the content of another */
int smtpgw_spool_add_copy(struct smtpgw_spool *sp, const struct smtpgw_envelope *content_of,
                          const struct smtpgw_envelope *env, enum smtpgw_queue q,
                          struct smtpgw_envelope **out)
{
    int rc = (unsigned)q < SMTPGW_Q_COUNT && content_of ? env_check(env) : SMTPGW_ERR_SPOOL_INVAL;
    if (rc == 0)
        rc = check_dup(sp, env, q);
    if (rc != 0)
        return rc;
    struct spool_msg *m = msg_clone(env);
    if (!m)
        return UTIL_ERR_NOMEM;
    new_qid(sp, m->env.qid);
    m->env.size = content_of->size;
    m->env.content = content_of->content;
    if (m->env.arrival == 0)
        m->env.arrival = util_wall_s();
    if (fault_hit() ||
        linkat(sp->fds[DIR_DATA], content_of->qid, sp->fds[DIR_DATA], m->env.qid, 0) != 0) {
        log_io(sp, "link", "data", content_of->qid);
        msg_free(m);
        return SMTPGW_ERR_SPOOL_IO;
    }
    if (do_fsync(sp->fds[DIR_DATA]) != 0) {
        log_io(sp, "fsync", "data", NULL);
        unlinkat(sp->fds[DIR_DATA], m->env.qid, 0);
        msg_free(m);
        return SMTPGW_ERR_SPOOL_IO;
    }
    return commit_common(sp, m, q, out);
}

/* ---- changing messages --------------------------------------------------------------- */

/* smtpgw_spool_update - rewrite msg's envelope atomically */
int smtpgw_spool_update(struct smtpgw_spool *sp, struct smtpgw_envelope *msg)
{
    int rc = env_check(msg);
    if (rc != 0)
        return rc;
    return write_envelope(sp, msg_of(msg), msg->queue);
}

/* smtpgw_spool_move - move msg into queue q (one rename of its envelope) */
int smtpgw_spool_move(struct smtpgw_spool *sp, struct smtpgw_envelope *msg, enum smtpgw_queue q)
{
    if ((unsigned)q >= SMTPGW_Q_COUNT)
        return SMTPGW_ERR_SPOOL_INVAL;
    if (msg->queue == q)
        return 0;
    int from = msg->queue == SMTPGW_Q_OUTGOING ? DIR_OUT : DIR_IN;
    int to = q == SMTPGW_Q_OUTGOING ? DIR_OUT : DIR_IN;
    if (do_rename(sp->fds[from], msg->qid, sp->fds[to], msg->qid) != 0) {
        log_io(sp, "rename", dir_names[to], msg->qid);
        return SMTPGW_ERR_SPOOL_IO;
    }
    struct spool_msg *m = msg_of(msg);
    q_remove(sp, m);
    q_insert(sp, m, q);
    if (do_fsync(sp->fds[to]) != 0 || do_fsync(sp->fds[from]) != 0) {
        log_io(sp, "fsync", dir_names[to], NULL);
        return SMTPGW_ERR_SPOOL_IO;
    }
    util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "spool-move", "qid=%s from=%s to=%s", msg->qid,
             dir_names[from], dir_names[to]);
    return 0;
}

/* smtpgw_spool_remove - the message is finished: record it (incoming), unlink, free */
int smtpgw_spool_remove(struct smtpgw_spool *sp, struct smtpgw_envelope *msg)
{
    struct spool_msg *m = msg_of(msg);
    if (msg->queue == SMTPGW_Q_INCOMING && msg->src_node) {
        int64_t until =
            msg->expiry > 0 ? msg->expiry + DELIVERED_MARGIN : util_wall_s() + DELIVERED_DEFAULT;
        int rc = smtpgw_spool_record_delivered(sp, msg->src_node, msg->src_msgid, until);
        if (rc != 0)
            return rc; /* still spooled: the caller may retry */
    }
    int qdir = msg->queue == SMTPGW_Q_OUTGOING ? DIR_OUT : DIR_IN;
    if (fault_hit() || unlinkat(sp->fds[qdir], msg->qid, 0) != 0) {
        if (errno != ENOENT) {
            log_io(sp, "unlink", dir_names[qdir], msg->qid);
            return SMTPGW_ERR_SPOOL_IO;
        }
    }
    /* the envelope is unlinked: the message is gone for us; its directory
     * is fsync'd at the next smtpgw_spool_sync, once for every removal of
     * the loop pass (a crash before may bring it back: the receiver
     * suppresses the duplicate by (Source_ID, Message_ID)) */
    sp->dirty_dirs |= 1u << qdir;
    unlinkat(sp->fds[DIR_DATA], msg->qid, 0); /* an orphan left here goes at the next open */
    util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "spool-remove", "qid=%s queue=%s", msg->qid,
             dir_names[qdir]);
    q_remove(sp, m);
    idx_erase(sp, m);
    msg_free(m);
    return 0;
}

/* smtpgw_spool_content_fd - open msg's content for reading */
int smtpgw_spool_content_fd(struct smtpgw_spool *sp, const struct smtpgw_envelope *msg)
{
    int fd = do_open(sp->fds[DIR_DATA], msg->qid, O_RDONLY, 0);
    if (fd < 0) {
        log_io(sp, "open", "data", msg->qid);
        return SMTPGW_ERR_SPOOL_IO;
    }
    return fd;
}

/* smtpgw_spool_read_content - append msg's whole content to out */
int smtpgw_spool_read_content(struct smtpgw_spool *sp, const struct smtpgw_envelope *msg,
                              struct util_buf *out)
{
    size_t before = out->len;
    int rc = read_file(sp->fds[DIR_DATA], msg->qid, SIZE_MAX / 2, out);
    if (rc == SMTPGW_ERR_SPOOL_NOTFOUND || rc == SMTPGW_ERR_SPOOL_CORRUPT)
        rc = SMTPGW_ERR_SPOOL_IO;
    if (rc != 0) {
        log_io(sp, "read", "data", msg->qid);
        out->len = before;
    }
    return rc;
}

/* ---- envelope setters ---------------------------------------------------------------- */

/* smtpgw_envelope_set_rcpt - recipient i's state, status and diagnostic */
int smtpgw_envelope_set_rcpt(struct smtpgw_envelope *msg, size_t i, enum smtpgw_rcpt_state state,
                             const char *status, const char *diag)
{
    if (i >= msg->n_rcpts || (unsigned)state > SMTPGW_RCPT_RELAY || (status && !status_ok(status)))
        return UTIL_ERR_INVAL;
    struct smtpgw_spool_rcpt *r = &msg->rcpts[i];
    char *d = NULL;
    if (diag && !(d = strdup(diag)))
        return UTIL_ERR_NOMEM;
    free((char *)r->diag);
    r->diag = d;
    r->state = (uint8_t)state;
    snprintf(r->status, sizeof r->status, "%s", status ? status : "");
    return 0;
}

/* smtpgw_envelope_set_dests - replace msg's destinations */
int smtpgw_envelope_set_dests(struct smtpgw_envelope *msg, const struct smtpgw_spool_dest *dests,
                              size_t n)
{
    if (n > SMTPGW_MAX_DESTS)
        return UTIL_ERR_INVAL;
    for (size_t i = 0; i < msg->n_rcpts; i++)
        if (msg->rcpts[i].dest >= (int)n)
            return UTIL_ERR_INVAL;
    struct smtpgw_spool_dest *d = NULL;
    if (n) {
        d = malloc(n * sizeof *d);
        if (!d)
            return UTIL_ERR_NOMEM;
        memcpy(d, dests, n * sizeof *d);
    }
    free(msg->dests);
    msg->dests = d;
    msg->n_dests = (uint16_t)n;
    return 0;
}

/* smtpgw_envelope_set_mail_params - replace and reparse the MAIL parameters */
int smtpgw_envelope_set_mail_params(struct smtpgw_envelope *msg, const char *params)
{
    char *p = strdup(params ? params : "");
    if (!p)
        return UTIL_ERR_NOMEM;
    free((char *)msg->mail_params);
    msg->mail_params = p;
    return parse_mail_params(msg);
}

/* smtpgw_envelope_open_rcpts - recipients still open */
size_t smtpgw_envelope_open_rcpts(const struct smtpgw_envelope *msg)
{
    size_t n = 0;
    for (size_t i = 0; i < msg->n_rcpts; i++)
        n += msg->rcpts[i].state == SMTPGW_RCPT_OPEN;
    return n;
}
