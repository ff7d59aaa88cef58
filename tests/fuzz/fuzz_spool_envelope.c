/* fuzz_spool_envelope.c - fuzz the parser of the spool's envelope files
 * (smtp-gw/spool_envelope.c through smtpgw_envelope_parse): the files that survive
 * a crash or a kill -9 and are read back when mulegw starts (DESIGN.md,
 * reliability rules), so they may be cut short or damaged anywhere.
 *
 * Any bytes: never a crash, a leak or a hang.  An envelope that parses is
 * one the rest of mulegw can trust: a queue id of 12 upper-case hex
 * digits, a reverse-path and MAIL parameters, 1 to SMTPGW_MAX_RCPTS
 * recipients each with an address and parameters, at most
 * SMTPGW_MAX_DESTS destinations with a node, every rcpt.dest -1 or an
 * index into them, every state, content, body and RET in range.  It parses
 * again under its own queue id (as the spool reads it: the file's name),
 * never under another.  What does not parse is refused with a reason.
 *
 * The seed corpus is envelope files as smtp-gw/spool_envelope.c writes them
 * (outgoing with destinations, incoming from a node, DSN flags, escapes)
 * and a few damaged ones.
 */
#include "fuzz.h"
#include "smtp-gw/smtpgw.h"

#include <string.h>

/* check - an invariant of a parsed envelope */
static void check(bool ok)
{
    if (!ok)
        __builtin_trap();
}

/* check_envelope - everything a parsed envelope promises */
static void check_envelope(const struct smtpgw_envelope *e)
{
    check(strlen(e->qid) == SMTPGW_QID_LEN - 1);
    for (size_t i = 0; i < SMTPGW_QID_LEN - 1; i++)
        check((e->qid[i] >= '0' && e->qid[i] <= '9') || (e->qid[i] >= 'A' && e->qid[i] <= 'F'));
    check(e->from && e->mail_params);
    check(e->content <= SMTPGW_CONTENT_BINARY && e->body <= SMTPGW_BODY_BINARYMIME &&
          e->ret <= SMTPGW_RET_HDRS);
    check(e->mt_priority >= -9 && e->mt_priority <= 9);
    check(e->by_mode == 0 || e->by_mode == 'R' || e->by_mode == 'N');
    check(e->n_rcpts >= 1 && e->n_rcpts <= SMTPGW_MAX_RCPTS && e->rcpts);
    check(e->n_dests <= SMTPGW_MAX_DESTS && (e->n_dests == 0 || e->dests));
    for (size_t i = 0; i < e->n_dests; i++)
        check(e->dests[i].node != 0 && e->dests[i].state <= SMTPGW_DEST_FAILED);
    for (size_t i = 0; i < e->n_rcpts; i++) {
        const struct smtpgw_spool_rcpt *r = &e->rcpts[i];
        check(r->addr && r->addr[0] && r->params);
        check(r->state <= SMTPGW_RCPT_RELAY);
        check(r->dest >= -1 && r->dest < (int)e->n_dests);
        check(memchr(r->status, '\0', sizeof r->status) != NULL);
    }
    check(smtpgw_envelope_open_rcpts(e) <= e->n_rcpts);
}

/* LLVMFuzzerTestOneInput - one envelope file */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smtpgw_envelope *e = NULL;
    char why[128];
    int rc = smtpgw_envelope_parse(data, size, NULL, &e, why, sizeof why);
    if (rc != 0) {
        check(!e && (rc == SMTPGW_ERR_SPOOL_CORRUPT || rc == UTIL_ERR_NOMEM) && why[0]);
        return 0;
    }
    check(e != NULL);
    check_envelope(e);
    /* as the spool reads it: under its own name, and not under another */
    char qid[SMTPGW_QID_LEN], other[SMTPGW_QID_LEN];
    memcpy(qid, e->qid, sizeof qid);
    memcpy(other, qid, sizeof other);
    other[0] = other[0] == '0' ? '1' : '0';
    struct smtpgw_envelope *again = NULL;
    check(smtpgw_envelope_parse(data, size, qid, &again, NULL, 0) == 0 && again);
    check(again->n_rcpts == e->n_rcpts && again->n_dests == e->n_dests &&
          strcmp(again->from, e->from) == 0);
    smtpgw_envelope_free(again);
    again = NULL;
    check(smtpgw_envelope_parse(data, size, other, &again, why, sizeof why) ==
              SMTPGW_ERR_SPOOL_CORRUPT &&
          !again);
    smtpgw_envelope_free(e);
    return 0;
}
