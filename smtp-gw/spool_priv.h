/* spool_priv.h - the durable spool's state, shared by its files: spool.c
 * (the queues in memory, adding, moving, rewriting and removing messages;
 * the layout on disk and the reliability rules: Postfix's queue model under
 * DESIGN.md, RFC 5321 4.1.1.4 / 6.1, ACP 142 5.3, RFC 3461/6710/2852/3030),
 * spool_file.c (file operations: fsync discipline, fault injection),
 * spool_envelope.c (envelopes in memory and the envelope file's format),
 * spool_state.c (the counters and the delivered journal) and
 * spool_recover.c (open, recovery after a crash, close). */
#ifndef SMTPGW_SPOOL_PRIV_H
#define SMTPGW_SPOOL_PRIV_H

#include "smtp-gw/smtpgw.h"

#include <sys/types.h>

#define WRITER_BUF (16u * 1024)

enum { DIR_TMP = 0, DIR_DATA, DIR_OUT, DIR_IN, DIR_CORRUPT, DIR_COUNT };
extern const char *const spool_dir_names[DIR_COUNT]; /* spool.c */

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

/* ---- spool.c ---- */

/* spool_idx_reserve - room for one more entry */
int spool_idx_reserve(struct smtpgw_spool *sp);

/* spool_q_remove - take m out of its queue */
void spool_q_remove(struct smtpgw_spool *sp, struct spool_msg *m);

/* ---- spool_file.c ---- */

/* spool_fault_hit - whether this operation is the one to fail */
bool spool_fault_hit(void);

/* spool_log_io - one line for a failed file operation (errno kept) */
void spool_log_io(const struct smtpgw_spool *sp, const char *op, const char *dir, const char *name);

/* spool_write_all - write len bytes to fd */
int spool_write_all(int fd, const void *p, size_t len);

/* spool_do_fsync - fsync with fault injection */
int spool_do_fsync(int fd);

/* spool_fsync_set - fsync n descriptors together (util_fsync_all); errs[i] = 0 or an errno */
void spool_fsync_set(const int *fds, size_t n, int *errs);

/* spool_do_rename - renameat with fault injection */
int spool_do_rename(int ofd, const char *oname, int nfd, const char *nname);

/* spool_do_open - openat with fault injection */
int spool_do_open(int dfd, const char *name, int flags, mode_t mode);

/* spool_atomic_write - write data to tmp/tmpname, fsync, rename to dfd/name, fsync dfd */
int spool_atomic_write(struct smtpgw_spool *sp, const char *tmpname, int dfd, const char *dname,
                 const char *name, const void *data, size_t len);

/* spool_read_file - the whole of dfd/name (at most max bytes) into out; 0, -ENOENT-ish or error */
int spool_read_file(int dfd, const char *name, size_t max, struct util_buf *out);

/* ---- spool_envelope.c ---- */

/* spool_parse_i64 - a whole decimal integer (optional '-') */
bool spool_parse_i64(const char *s, int64_t *out);

/* spool_parse_u32 - a whole decimal number 0..UINT32_MAX */
bool spool_parse_u32(const char *s, uint32_t *out);

/* spool_qid_ok - 12 upper-case hex digits */
bool spool_qid_ok(const char *s);

/* spool_msg_of - the private message holding env */
struct spool_msg *spool_msg_of(struct smtpgw_envelope *env);

/* spool_msg_free - release a message and its strings */
void spool_msg_free(struct spool_msg *m);

/* spool_env_check - whether a caller's envelope can be spooled */
int spool_env_check(const struct smtpgw_envelope *in);

/* spool_msg_clone - a spool-owned deep copy of a caller's envelope */
struct spool_msg *spool_msg_clone(const struct smtpgw_envelope *in);

/* spool_env_serialize - the envelope file's text */
int spool_env_serialize(const struct smtpgw_envelope *e, struct util_buf *b);

/* spool_env_parse - parse an envelope file's text (modified in place; text[len]
 * must be writable) named qid (NULL: any); a new message, or NULL with the
 * reason in why */
struct spool_msg *spool_env_parse(char *text, size_t len, const char *qid, char *whybuf, size_t whycap,
                            int *err);

/* ---- spool_state.c ---- */

/* spool_msn_slot - the entry for node, created (next 1) if absent; NULL on no memory */
struct msn_entry *spool_msn_slot(struct smtpgw_spool *sp, uint32_t node);

/* spool_state_save - write DIR/state atomically */
int spool_state_save(struct smtpgw_spool *sp);

/* spool_state_load - read DIR/state; 0, SMTPGW_ERR_SPOOL_NOTFOUND, _CORRUPT or _IO */
int spool_state_load(struct smtpgw_spool *sp);

/* spool_dlv_compact - drop expired entries, rewrite the journal atomically and reopen it */
int spool_dlv_compact(struct smtpgw_spool *sp, int64_t now);

/* spool_dlv_load - read the journal into the set (a torn last line is ignored) */
int spool_dlv_load(struct smtpgw_spool *sp, size_t *bad);

#endif
