/* spool_recover.c - opening the spool: the lock, its directories, and the
 * recovery after a crash or a kill -9 that DESIGN.md's reliability rules
 * and Postfix's queue model make possible (the state of a message is the
 * directory its envelope is in): files left in tmp/ and content without an
 * envelope were never acknowledged and go (RFC 5321 4.1.1.4 / 6.1: only
 * what was answered 250 must survive); an envelope that does not parse
 * (spool_envelope.c, with the MAIL parameters of RFC 3461/6710/2852/3030)
 * or whose content is missing is quarantined to corrupt/ and logged; the
 * counters are raised past every id an envelope holds and the delivered
 * journal is read back (ACP 142 5.3: no Message_ID or MSN reused, no
 * duplicate delivered).  And closing it.  The layout is in spool.c.
 */
#include "smtp-gw/spool_priv.h"

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

#define ENV_MAX_FILE (4u << 20) /* an envelope file larger than this is corrupt */

/* ---- open and recovery ------------------------------------------------------------- */

/* open_dir - mkdir (if absent) and open a directory; -1 on failure */
static int open_dir(int parent, const char *name)
{
    if (spool_fault_hit())
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
    snprintf(dst, sizeof dst, "%s.%s.env", name, spool_dir_names[qdir]);
    if (renameat(sp->fds[qdir], name, sp->fds[DIR_CORRUPT], dst) != 0)
        spool_log_io(sp, "quarantine", spool_dir_names[qdir], name);
    if (with_content && spool_qid_ok(name)) {
        snprintf(dst, sizeof dst, "%s.data", name);
        if (renameat(sp->fds[DIR_DATA], name, sp->fds[DIR_CORRUPT], dst) != 0 && errno != ENOENT)
            spool_log_io(sp, "quarantine", "data", name);
    }
    (void)fsync(sp->fds[DIR_CORRUPT]);
    (void)fsync(sp->fds[qdir]);
    util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "spool-corrupt",
             "qid=%s queue=%s reason=\"%s\" moved-to=%s/corrupt", name, spool_dir_names[qdir], why,
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
        spool_log_io(sp, "opendir", spool_dir_names[qdir], NULL);
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
        if (!spool_qid_ok(name)) {
            why = "name is not a queue id";
        } else if (fstatat(sp->fds[DIR_DATA], name, &st, 0) != 0 || !S_ISREG(st.st_mode)) {
            why = "content missing";
        } else {
            int err = spool_read_file(sp->fds[qdir], name, ENV_MAX_FILE, &b);
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
                m = spool_env_parse((char *)b.data, b.len, name, whybuf, sizeof whybuf, &err);
                why = whybuf;
                if (!m && err == UTIL_ERR_NOMEM) {
                    rc = err;
                    break;
                }
                if (m && (uint64_t)st.st_size != m->env.size) {
                    spool_msg_free(m);
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
                spool_msg_free(m);
                rc = UTIL_ERR_NOMEM;
                break;
            }
            arr = p;
            cap = nc;
        }
        if (spool_idx_reserve(sp) != 0) {
            spool_msg_free(m);
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
            spool_q_remove(sp, drop);
            spool_msg_free(drop);
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
        if (which == DIR_DATA && spool_qid_ok(name) && smtpgw_spool_find(sp, name))
            continue;
        if (unlinkat(sp->fds[which], name, 0) == 0) {
            removed++;
            util_log(UTIL_LOG_NOTICE, UTIL_MOD_SMTPGW, "spool-recover",
                     "removed=%s/%s reason=\"%s\"", spool_dir_names[which], name,
                     which == DIR_TMP ? "unfinished write" : "content without envelope");
        } else if (errno == EISDIR || errno == EPERM) {
            spool_log_io(sp, "unlink", spool_dir_names[which], name);
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
                struct msn_entry *m = spool_msn_slot(sp, d->node);
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
        spool_log_io(sp, "mkdir", NULL, NULL);
        goto fail;
    }
    sp->root_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sp->root_fd < 0) {
        spool_log_io(sp, "open", NULL, NULL);
        goto fail;
    }
    sp->lock_fd = spool_do_open(sp->root_fd, "lock", O_RDWR | O_CREAT, 0600);
    if (sp->lock_fd < 0) {
        spool_log_io(sp, "open", NULL, "lock");
        goto fail;
    }
    if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "spool-locked",
                     "dir=%s (another process has the spool open)", dir);
            *err = SMTPGW_ERR_SPOOL_LOCKED;
        } else {
            spool_log_io(sp, "flock", NULL, "lock");
        }
        goto fail;
    }
    for (int i = 0; i < DIR_COUNT; i++) {
        sp->fds[i] = open_dir(sp->root_fd, spool_dir_names[i]);
        if (sp->fds[i] < 0) {
            spool_log_io(sp, "mkdir", spool_dir_names[i], NULL);
            goto fail;
        }
    }
    if (spool_do_fsync(sp->root_fd) != 0) {
        spool_log_io(sp, "fsync", NULL, NULL);
        goto fail;
    }

    /* counters */
    int rc = spool_state_load(sp);
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
        rc = spool_state_save(sp);
    if (rc != 0) {
        *err = rc;
        goto fail;
    }

    /* delivered journal */
    size_t bad = 0;
    rc = spool_dlv_load(sp, &bad);
    if (rc == 0)
        rc = spool_dlv_compact(sp, util_wall_s());
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
        spool_msg_free(st->m);
        free(st);
    }
    for (int q = 0; q < SMTPGW_Q_COUNT; q++) {
        struct util_list *it, *tmp;
        UTIL_LIST_FOREACH_SAFE(it, tmp, &sp->q[q])
        spool_msg_free(UTIL_CONTAINER_OF(it, struct spool_msg, link));
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
