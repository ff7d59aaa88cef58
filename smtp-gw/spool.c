/* spool.c - mulegw's durable spool: Postfix's queue model (files written in
 * tmp/, fsync'd, moved into place by rename(); the state of a message is
 * the directory its envelope is in) under DESIGN.md's reliability rules:
 * RFC 5321 4.1.1.4 / 6.1 (a 250 after DATA takes responsibility for the
 * message: we answer only after the fsync), ACP 142 5.3 (Message_IDs and
 * per-destination Message_Sequence_Numbers survive restarts; duplicates
 * suppressed by (Source_ID, Message_ID)), RFC 3461/6710/2852/3030 for the
 * MAIL parameters an envelope keeps.
 *
 * This file: the queues in memory (the index by queue id, the queue lists),
 * adding messages (the content writer, a commit of its own or the group
 * commit of smtpgw_spool_sync), moving, rewriting and removing them, and
 * reading their content.  The rest of the spool shares smtp-gw/spool_priv.h:
 *
 *     spool_file.c      file operations: fsync discipline, atomic writes, fault injection
 *     spool_envelope.c  envelopes in memory and the envelope file's format (writer, parser)
 *     spool_state.c     the counters (DIR/state) and the delivered journal (DIR/delivered)
 *     spool_recover.c   open (lock, recovery after a crash) and close
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
 * The envelope file's format is described in spool_envelope.c.
 */
#include "smtp-gw/spool_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DELIVERED_MARGIN  (24 * 3600)     /* keep (src, msgid) this long past its expiry */
#define DELIVERED_DEFAULT (7 * 24 * 3600) /* ... or this long when it has no expiry */
#define MAX_TEXT_LINE     998

const char *const spool_dir_names[DIR_COUNT] = {"tmp", "data", "outgoing", "incoming", "corrupt"};

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

/* spool_idx_reserve - room for one more entry */
int spool_idx_reserve(struct smtpgw_spool *sp)
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

/* spool_q_remove - take m out of its queue */
void spool_q_remove(struct smtpgw_spool *sp, struct spool_msg *m)
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
    struct spool_msg *m = spool_msg_of(env);
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
    w->fd = spool_do_open(sp->fds[DIR_TMP], name, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (w->fd < 0) {
        spool_log_io(sp, "open", "tmp", name);
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
    if (w->blen && spool_write_all(w->fd, w->buf, w->blen) != 0) {
        char name[SMTPGW_QID_LEN + 2];
        snprintf(name, sizeof name, "%s.d", w->qid);
        spool_log_io(w->sp, "write", "tmp", name);
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
            if (spool_write_all(w->fd, p, len) != 0) {
                w->err = SMTPGW_ERR_SPOOL_IO;
                spool_log_io(w->sp, "write", "tmp", w->qid);
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
    int rc = spool_env_serialize(&m->env, &b);
    if (rc == 0) {
        char tmp[SMTPGW_QID_LEN + 2];
        snprintf(tmp, sizeof tmp, "%s.e", m->env.qid);
        int qdir = q == SMTPGW_Q_OUTGOING ? DIR_OUT : DIR_IN;
        rc = spool_atomic_write(sp, tmp, sp->fds[qdir], spool_dir_names[qdir], m->env.qid, b.data, b.len);
    }
    util_buf_free(&b);
    return rc;
}

static void log_added(const struct spool_msg *m, enum smtpgw_queue q);

/* commit_common - with the content in data/QID (fsync'd), write the envelope and list it */
static int commit_common(struct smtpgw_spool *sp, struct spool_msg *m, enum smtpgw_queue q,
                         struct smtpgw_envelope **out)
{
    int rc = spool_idx_reserve(sp);
    if (rc == 0)
        rc = write_envelope(sp, m, q);
    if (rc != 0) {
        /* not acknowledged: remove the envelope if its rename happened (only
         * its directory's fsync failed), then the content; whatever stays is
         * consistent (both, or an orphan removed at the next open) */
        int qdir = q == SMTPGW_Q_OUTGOING ? DIR_OUT : DIR_IN;
        if (unlinkat(sp->fds[qdir], m->env.qid, 0) == 0 || errno == ENOENT)
            unlinkat(sp->fds[DIR_DATA], m->env.qid, 0);
        spool_msg_free(m);
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
    int rc = (unsigned)q < SMTPGW_Q_COUNT ? spool_env_check(env) : SMTPGW_ERR_SPOOL_INVAL;
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
    if (spool_do_fsync(w->fd) != 0 || close(w->fd) != 0) {
        spool_log_io(sp, "fsync", "tmp", name);
        if (w->fd >= 0)
            close(w->fd);
        w->fd = -1;
        smtpgw_spool_writer_abort(w);
        return SMTPGW_ERR_SPOOL_IO;
    }
    w->fd = -1;
    struct spool_msg *m = spool_msg_clone(env);
    if (!m) {
        smtpgw_spool_writer_abort(w);
        return UTIL_ERR_NOMEM;
    }
    writer_describe(w, m);
    if (spool_do_rename(sp->fds[DIR_TMP], name, sp->fds[DIR_DATA], w->qid) != 0) {
        spool_log_io(sp, "rename", "data", w->qid);
        spool_msg_free(m);
        smtpgw_spool_writer_abort(w);
        return SMTPGW_ERR_SPOOL_IO;
    }
    free(w);
    if (spool_do_fsync(sp->fds[DIR_DATA]) != 0) {
        spool_log_io(sp, "fsync", "data", NULL);
        unlinkat(sp->fds[DIR_DATA], m->env.qid, 0);
        spool_msg_free(m);
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
    if (rc == 0 && (!(st = calloc(1, sizeof *st)) || !(m = spool_msg_clone(env))))
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
    rc = spool_env_serialize(&m->env, &b);
    if (rc == 0) {
        st->efd = spool_do_open(sp->fds[DIR_TMP], tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (st->efd < 0 || spool_write_all(st->efd, b.data, b.len) != 0) {
            spool_log_io(sp, st->efd < 0 ? "open" : "write", "tmp", tmp);
            rc = SMTPGW_ERR_SPOOL_IO;
        }
    }
    util_buf_free(&b);
    if (rc != 0) {
        if (st->efd >= 0)
            close(st->efd);
        unlinkat(sp->fds[DIR_TMP], tmp, 0);
        spool_msg_free(m);
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
        int rc = spool_env_serialize(&m->env, &b);
        char tname[SMTPGW_QID_LEN + 2];
        snprintf(tname, sizeof tname, "%s.e", m->env.qid);
        int qdir = m->env.queue == SMTPGW_Q_OUTGOING ? DIR_OUT : DIR_IN;
        int fd = rc == 0 ? spool_do_open(sp->fds[DIR_TMP], tname, O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;
        if (fd < 0 || spool_write_all(fd, b.data, b.len) != 0 || spool_do_fsync(fd) != 0 ||
            spool_do_rename(sp->fds[DIR_TMP], tname, sp->fds[qdir], m->env.qid) != 0) {
            /* the old envelope stays: at worst a retransmission after a restart */
            spool_log_io(sp, "update", spool_dir_names[qdir], m->env.qid);
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
    int state_rc = sp->state_dirty ? spool_state_save(sp) : 0;
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
        spool_fsync_set(fds, nfd, errs);
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
            spool_log_io(sp, "fsync", "tmp", name);
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
        if (spool_do_rename(sp->fds[DIR_TMP], name, sp->fds[DIR_DATA], st->m->env.qid) != 0) {
            spool_log_io(sp, "rename", "data", st->m->env.qid);
            staged_fail(sp, st, SMTPGW_ERR_SPOOL_IO);
            continue;
        }
        free(st->w);
        st->w = NULL;
        any = true;
    }
    if (any && spool_do_fsync(sp->fds[DIR_DATA]) != 0) {
        spool_log_io(sp, "fsync", "data", NULL);
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
        int rc = spool_idx_reserve(sp);
        if (rc == 0 && spool_do_rename(sp->fds[DIR_TMP], name, sp->fds[qdir], st->m->env.qid) != 0) {
            spool_log_io(sp, "rename", spool_dir_names[qdir], st->m->env.qid);
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
    spool_fsync_set(dfds, nd, derrs);
    for (size_t j = 0; j < nd; j++) {
        int d = dwhich[j];
        if (derrs[j] == 0)
            continue;
        errno = derrs[j];
        spool_log_io(sp, "fsync", spool_dir_names[d], NULL);
        /* what was renamed in is not known to be durable: not acknowledged */
        for (struct spool_staged *st = list; st; st = st->next) {
            int qdir = st->q == SMTPGW_Q_OUTGOING ? DIR_OUT : DIR_IN;
            if (st->err || qdir != d)
                continue;
            if (unlinkat(sp->fds[d], st->m->env.qid, 0) == 0 || errno == ENOENT)
                unlinkat(sp->fds[DIR_DATA], st->m->env.qid, 0);
            spool_q_remove(sp, st->m);
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
            spool_msg_free(st->m);
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
    struct spool_msg *m = spool_msg_of(msg);
    if (util_list_empty(&m->dirty))
        util_list_push_back(&sp->dirty, &m->dirty);
}

/* add_bytes - spool content held in memory */
static int add_bytes(struct smtpgw_spool *sp, const struct smtpgw_envelope *env,
                     const uint8_t *content, size_t len, enum smtpgw_queue q,
                     struct smtpgw_envelope **out)
{
    int rc = spool_env_check(env);
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
    int rc = (unsigned)q < SMTPGW_Q_COUNT && content_of ? spool_env_check(env) : SMTPGW_ERR_SPOOL_INVAL;
    if (rc == 0)
        rc = check_dup(sp, env, q);
    if (rc != 0)
        return rc;
    struct spool_msg *m = spool_msg_clone(env);
    if (!m)
        return UTIL_ERR_NOMEM;
    new_qid(sp, m->env.qid);
    m->env.size = content_of->size;
    m->env.content = content_of->content;
    if (m->env.arrival == 0)
        m->env.arrival = util_wall_s();
    if (spool_fault_hit() ||
        linkat(sp->fds[DIR_DATA], content_of->qid, sp->fds[DIR_DATA], m->env.qid, 0) != 0) {
        spool_log_io(sp, "link", "data", content_of->qid);
        spool_msg_free(m);
        return SMTPGW_ERR_SPOOL_IO;
    }
    if (spool_do_fsync(sp->fds[DIR_DATA]) != 0) {
        spool_log_io(sp, "fsync", "data", NULL);
        unlinkat(sp->fds[DIR_DATA], m->env.qid, 0);
        spool_msg_free(m);
        return SMTPGW_ERR_SPOOL_IO;
    }
    return commit_common(sp, m, q, out);
}

/* ---- changing messages --------------------------------------------------------------- */

/* smtpgw_spool_update - rewrite msg's envelope atomically */
int smtpgw_spool_update(struct smtpgw_spool *sp, struct smtpgw_envelope *msg)
{
    int rc = spool_env_check(msg);
    if (rc != 0)
        return rc;
    return write_envelope(sp, spool_msg_of(msg), msg->queue);
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
    if (spool_do_rename(sp->fds[from], msg->qid, sp->fds[to], msg->qid) != 0) {
        spool_log_io(sp, "rename", spool_dir_names[to], msg->qid);
        return SMTPGW_ERR_SPOOL_IO;
    }
    struct spool_msg *m = spool_msg_of(msg);
    spool_q_remove(sp, m);
    q_insert(sp, m, q);
    if (spool_do_fsync(sp->fds[to]) != 0 || spool_do_fsync(sp->fds[from]) != 0) {
        spool_log_io(sp, "fsync", spool_dir_names[to], NULL);
        return SMTPGW_ERR_SPOOL_IO;
    }
    util_log(UTIL_LOG_INFO, UTIL_MOD_SMTPGW, "spool-move", "qid=%s from=%s to=%s", msg->qid,
             spool_dir_names[from], spool_dir_names[to]);
    return 0;
}

/* smtpgw_spool_remove - the message is finished: record it (incoming), unlink, free */
int smtpgw_spool_remove(struct smtpgw_spool *sp, struct smtpgw_envelope *msg)
{
    struct spool_msg *m = spool_msg_of(msg);
    if (msg->queue == SMTPGW_Q_INCOMING && msg->src_node) {
        int64_t until =
            msg->expiry > 0 ? msg->expiry + DELIVERED_MARGIN : util_wall_s() + DELIVERED_DEFAULT;
        int rc = smtpgw_spool_record_delivered(sp, msg->src_node, msg->src_msgid, until);
        if (rc != 0)
            return rc; /* still spooled: the caller may retry */
    }
    int qdir = msg->queue == SMTPGW_Q_OUTGOING ? DIR_OUT : DIR_IN;
    if (spool_fault_hit() || unlinkat(sp->fds[qdir], msg->qid, 0) != 0) {
        if (errno != ENOENT) {
            spool_log_io(sp, "unlink", spool_dir_names[qdir], msg->qid);
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
             spool_dir_names[qdir]);
    spool_q_remove(sp, m);
    idx_erase(sp, m);
    spool_msg_free(m);
    return 0;
}

/* smtpgw_spool_content_fd - open msg's content for reading */
int smtpgw_spool_content_fd(struct smtpgw_spool *sp, const struct smtpgw_envelope *msg)
{
    int fd = spool_do_open(sp->fds[DIR_DATA], msg->qid, O_RDONLY, 0);
    if (fd < 0) {
        spool_log_io(sp, "open", "data", msg->qid);
        return SMTPGW_ERR_SPOOL_IO;
    }
    return fd;
}

/* smtpgw_spool_read_content - append msg's whole content to out */
int smtpgw_spool_read_content(struct smtpgw_spool *sp, const struct smtpgw_envelope *msg,
                              struct util_buf *out)
{
    size_t before = out->len;
    int rc = spool_read_file(sp->fds[DIR_DATA], msg->qid, SIZE_MAX / 2, out);
    if (rc == SMTPGW_ERR_SPOOL_NOTFOUND || rc == SMTPGW_ERR_SPOOL_CORRUPT)
        rc = SMTPGW_ERR_SPOOL_IO;
    if (rc != 0) {
        spool_log_io(sp, "read", "data", msg->qid);
        out->len = before;
    }
    return rc;
}
