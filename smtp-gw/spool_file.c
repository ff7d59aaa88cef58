/* spool_file.c - the spool's file operations, with the fsync discipline of
 * Postfix's queue model (a file is written in tmp/, fsync'd, moved into
 * place by rename(), and its directory fsync'd) that DESIGN.md's
 * reliability rules ask for: RFC 5321 4.1.1.4 / 6.1 (a 250 after DATA
 * takes responsibility for the message: it is sent only after the fsync),
 * ACP 142 5.3 (the counters and the delivered (Source_ID, Message_ID)
 * journal survive restarts), and the envelopes that keep the MAIL
 * parameters of RFC 3461/6710/2852/3030 (spool_envelope.c).  Every write,
 * fsync, rename and open goes through here, so that tests can make the nth
 * of them fail or kill the process there (fault injection).  The layout
 * and the order of operations are described in spool.c.
 */
#include "smtp-gw/spool_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* spool_fault_hit - whether this operation is the one to fail */
bool spool_fault_hit(void)
{
    if (fault_countdown <= 0 || --fault_countdown > 0)
        return false;
    if (fault_mode == 2)
        _exit(0);
    errno = EIO;
    return true;
}

/* ---- small file helpers ------------------------------------------------------ */

/* spool_log_io - one line for a failed file operation (errno kept) */
void spool_log_io(const struct smtpgw_spool *sp, const char *op, const char *dir, const char *name)
{
    int e = errno;
    util_log(UTIL_LOG_ERR, UTIL_MOD_SMTPGW, "spool-io", "op=%s path=%s/%s%s%s error=\"%s\"", op,
             sp ? sp->dir : "?", dir ? dir : "", dir && name ? "/" : "", name ? name : "",
             strerror(e));
    errno = e;
}

/* spool_write_all - write len bytes to fd */
int spool_write_all(int fd, const void *p, size_t len)
{
    const uint8_t *b = p;
    while (len > 0) {
        if (spool_fault_hit())
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

/* spool_do_fsync - fsync with fault injection */
int spool_do_fsync(int fd)
{
    if (spool_fault_hit())
        return -1;
    return fsync(fd);
}

/* spool_fsync_set - fsync n descriptors together (util_fsync_all); fault
 * injection decides each one's fate in order first, so that a test's nth
 * operation is the same whatever the threads do; errs[i] = 0 or an errno */
void spool_fsync_set(const int *fds, size_t n, int *errs)
{
    int *live = malloc((n ? n : 1) * sizeof *live);
    size_t *at = malloc((n ? n : 1) * sizeof *at);
    int *lerr = malloc((n ? n : 1) * sizeof *lerr);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        errs[i] = 0;
        if (spool_fault_hit()) {
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

/* spool_do_rename - renameat with fault injection */
int spool_do_rename(int ofd, const char *oname, int nfd, const char *nname)
{
    if (spool_fault_hit())
        return -1;
    return renameat(ofd, oname, nfd, nname);
}

/* spool_do_open - openat with fault injection */
int spool_do_open(int dfd, const char *name, int flags, mode_t mode)
{
    if (spool_fault_hit())
        return -1;
    return openat(dfd, name, flags | O_CLOEXEC, mode);
}

/* spool_atomic_write - write data to tmp/tmpname, fsync, rename to dfd/name, fsync dfd */
int spool_atomic_write(struct smtpgw_spool *sp, const char *tmpname, int dfd, const char *dname,
                 const char *name, const void *data, size_t len)
{
    int tfd = sp->fds[DIR_TMP];
    int fd = spool_do_open(tfd, tmpname, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        spool_log_io(sp, "open", "tmp", tmpname);
        return SMTPGW_ERR_SPOOL_IO;
    }
    if (spool_write_all(fd, data, len) != 0 || spool_do_fsync(fd) != 0) {
        spool_log_io(sp, "write", "tmp", tmpname);
        close(fd);
        unlinkat(tfd, tmpname, 0);
        return SMTPGW_ERR_SPOOL_IO;
    }
    if (close(fd) != 0) {
        spool_log_io(sp, "close", "tmp", tmpname);
        unlinkat(tfd, tmpname, 0);
        return SMTPGW_ERR_SPOOL_IO;
    }
    if (spool_do_rename(tfd, tmpname, dfd, name) != 0) {
        spool_log_io(sp, "rename", dname, name);
        unlinkat(tfd, tmpname, 0);
        return SMTPGW_ERR_SPOOL_IO;
    }
    if (spool_do_fsync(dfd) != 0) {
        spool_log_io(sp, "fsync", dname, NULL);
        return SMTPGW_ERR_SPOOL_IO;
    }
    return 0;
}

/* spool_read_file - the whole of dfd/name (at most max bytes) into out; 0, -ENOENT-ish or error */
int spool_read_file(int dfd, const char *name, size_t max, struct util_buf *out)
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
