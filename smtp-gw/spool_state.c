/* spool_state.c - the spool's counters and delivered journal, for ACP 142
 * 5.3: Message_IDs and per-destination Message_Sequence_Numbers survive
 * restarts (DIR/state, replaced whole by Postfix's tmp + fsync + rename,
 * under DESIGN.md's reliability rules) and duplicates are suppressed by
 * (Source_ID, Message_ID) (DIR/delivered, a journal of one fsync'd line per
 * delivered message, compacted when it grows).  As for RFC 5321 4.1.1.4 /
 * 6.1, a message is acknowledged only once it is durable: so is the line
 * that makes its retransmission a duplicate.  (The MAIL parameters of RFC
 * 3461/6710/2852/3030 are kept by the envelopes, spool_envelope.c.)  The
 * files' formats are in spool.c's layout.
 */
#include "smtp-gw/spool_priv.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_MAGIC     "mule5066-spool-state 1"
#define DELIVERED_MAGIC "mule5066-delivered 1"
#define STATE_MAX_FILE  (4u << 20)

/* ---- counters (DIR/state) --------------------------------------------------------- */

/* spool_msn_slot - the entry for node, created (next 1) if absent; NULL on no memory */
struct msn_entry *spool_msn_slot(struct smtpgw_spool *sp, uint32_t node)
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

/* spool_state_save - write DIR/state atomically */
int spool_state_save(struct smtpgw_spool *sp)
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
        rc = spool_atomic_write(sp, "state", sp->root_fd, "", "state", b.data, b.len);
    else
        rc = UTIL_ERR_NOMEM;
    util_buf_free(&b);
    if (rc == 0)
        sp->state_dirty = false;
    return rc;
}

/* spool_state_load - read DIR/state; 0, SMTPGW_ERR_SPOOL_NOTFOUND, _CORRUPT or _IO */
int spool_state_load(struct smtpgw_spool *sp)
{
    struct util_buf b;
    util_buf_init(&b, 0);
    int rc = spool_read_file(sp->root_fd, "state", STATE_MAX_FILE, &b);
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
            if (!spool_parse_u32(eq + 1, &u) || u == 0)
                goto out;
            sp->next_msgid = u;
            have_id = true;
        } else if (strncmp(line, "msn.", 4) == 0) {
            if (mule_node_parse(line + 4, &node) != 0 || !spool_parse_u32(eq + 1, &u) || u == 0)
                goto out;
            struct msn_entry *m = spool_msn_slot(sp, node);
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
    int rc = spool_state_save(sp);
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
    struct msn_entry *m = spool_msn_slot(sp, dest);
    if (!m)
        return UTIL_ERR_NOMEM;
    uint32_t cur = m->next;
    m->next = cur == UINT32_MAX ? 1 : cur + 1;
    int rc = spool_state_save(sp);
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
        struct msn_entry *m = spool_msn_slot(sp, dests[i].node);
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

/* spool_dlv_compact - drop expired entries, rewrite the journal atomically and reopen it */
int spool_dlv_compact(struct smtpgw_spool *sp, int64_t now)
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
        rc = spool_atomic_write(sp, "delivered", sp->root_fd, "", "delivered", b.data, b.len);
    util_buf_free(&b);
    if (rc != 0)
        return rc;
    if (sp->journal_fd >= 0)
        close(sp->journal_fd);
    sp->journal_fd = spool_do_open(sp->root_fd, "delivered", O_WRONLY | O_APPEND, 0);
    if (sp->journal_fd < 0) {
        spool_log_io(sp, "open", NULL, "delivered");
        return SMTPGW_ERR_SPOOL_IO;
    }
    sp->journal_lines = sp->dlv_used;
    return 0;
}

/* spool_dlv_load - read the journal into the set (a torn last line is ignored) */
int spool_dlv_load(struct smtpgw_spool *sp, size_t *bad)
{
    struct util_buf b;
    util_buf_init(&b, 0);
    *bad = 0;
    int rc = spool_read_file(sp->root_fd, "delivered", SIZE_MAX / 2, &b);
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
                spool_parse_u32(a, &src) && src != 0 && spool_parse_u32(c, &id) && spool_parse_i64(d, &exp)) {
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
    if (sp->journal_fd < 0 && spool_dlv_compact(sp, util_wall_s()) != 0)
        return SMTPGW_ERR_SPOOL_IO;
    if (spool_write_all(sp->journal_fd, line, (size_t)n) != 0 || spool_do_fsync(sp->journal_fd) != 0) {
        spool_log_io(sp, "append", NULL, "delivered");
        /* a partial line may be in the file: rewrite it whole next time */
        close(sp->journal_fd);
        sp->journal_fd = -1;
        return SMTPGW_ERR_SPOOL_IO;
    }
    sp->journal_lines++;
    if (dlv_put(sp, (uint64_t)src << 32 | msgid, expiry) != 0)
        return UTIL_ERR_NOMEM;
    if (sp->journal_lines > 2 * sp->dlv_used + 1024)
        (void)spool_dlv_compact(sp, util_wall_s()); /* the line is durable already */
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
