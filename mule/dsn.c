/* dsn.c - delivery status notifications: the multipart/report of RFC 6522
 * (report-type=delivery-status) with the message/delivery-status body of
 * RFC 3464 section 2 (per-message fields 2.2, per-recipient fields 2.3),
 * as the DSN extension of RFC 3461 asks (NOTIFY 4.1, ORCPT 4.2, RET 4.3,
 * ENVID 4.4), with RFC 3463 enhanced status codes and the trace modifier
 * of DELIVERBY (RFC 2852 4).  Never one for the null reverse-path
 * (RFC 3461 6.2, RFC 5321 4.5.5).  The message is RFC 5322 text with
 * CRLF line ends; Auto-Submitted per RFC 3834 5.
 *
 * No clock and no host lookups: `now` and the host name are passed in, so
 * the same input gives the same bytes (boundary and Message-ID are derived
 * from a hash of the input).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mule/mule.h"

/* mule_dsn_wanted - whether a recipient's NOTIFY asks for a notice of this action */
bool mule_dsn_wanted(const char *rcpt_params, enum mule_dsn_action action)
{
    const char *v;
    size_t n;
    if (!mule_param_get(rcpt_params, "NOTIFY", &v, &n))
        return action == MULE_DSN_FAILED || action == MULE_DSN_DELAYED;
    const char *want = action == MULE_DSN_FAILED    ? "FAILURE"
                       : action == MULE_DSN_DELAYED ? "DELAY"
                                                    : "SUCCESS";
    size_t wl = strlen(want);
    const char *p = v, *e = v + n;
    while (p < e) {
        const char *c = memchr(p, ',', (size_t)(e - p));
        const char *t = c ? c : e;
        if ((size_t)(t - p) == wl && strncasecmp(p, want, wl) == 0)
            return true;
        p = t + 1;
    }
    return false;
}

/* fnv - FNV-1a over n bytes, continuing from h */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* contains - whether needle occurs in [h, h+n) */
static bool contains(const uint8_t *h, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    if (k == 0 || n < k)
        return false;
    for (size_t i = 0; i + k <= n; i++)
        if (h[i] == (uint8_t)needle[0] && memcmp(h + i, needle, k) == 0)
            return true;
    return false;
}

/* action_name - the RFC 3464 2.3.3 action-value */
static const char *action_name(enum mule_dsn_action a)
{
    switch (a) {
    case MULE_DSN_FAILED: return "failed";
    case MULE_DSN_DELAYED: return "delayed";
    case MULE_DSN_RELAYED: return "relayed";
    case MULE_DSN_DELIVERED: return "delivered";
    }
    return "failed";
}

/* status_ok - an enhanced status code class.subject.detail (RFC 3463 2) */
static bool status_ok(const char *s)
{
    if (!s || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return false;
    const char *p = s + 2;
    for (int part = 0; part < 2; part++) {
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            p++;
            digits++;
        }
        if (digits < 1 || digits > 3)
            return false;
        if (part == 0 && *p++ != '.')
            return false;
    }
    return *p == '\0';
}

/* text_ok - a header value without CR, LF or other controls */
static bool text_ok(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 32 || *s == 127)
            return false;
    return true;
}

/* has_8bit - whether any octet is above 127 */
static bool has_8bit(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] & 0x80)
            return true;
    return false;
}

/* addr_type - "utf-8" for an address with non-ASCII octets (RFC 6533), else "rfc822" */
static const char *addr_type(const char *a)
{
    return has_8bit((const uint8_t *)a, strlen(a)) ? "utf-8" : "rfc822";
}

/* append_crlf - append n bytes with every line end made CRLF */
static int append_crlf(struct util_buf *out, const uint8_t *p, size_t n)
{
    int rc = 0;
    size_t run = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (p[i] == '\r' || p[i] == '\n') {
            rc = util_buf_append(out, p + run, i - run);
            if (rc == 0)
                rc = util_buf_append(out, "\r\n", 2);
            if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
                i++;
            run = i + 1;
        }
    }
    if (rc == 0)
        rc = util_buf_append(out, p + run, n - run);
    if (rc == 0 && n > 0 && p[n - 1] != '\n' && p[n - 1] != '\r')
        rc = util_buf_append(out, "\r\n", 2);
    return rc;
}

/* header_len - the length of the header section (up to, without, the empty line) */
static size_t header_len(const uint8_t *m, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (m[i] != '\n')
            continue;
        if (m[i + 1] == '\n')
            return i + 1;
        if (m[i + 1] == '\r' && i + 2 < n && m[i + 2] == '\n')
            return i + 1;
    }
    return n;
}

/* original_rcpt - "type; address" from an ORCPT value (xtext decoded) into buf */
static bool original_rcpt(const char *params, char *buf, size_t cap)
{
    const char *v;
    size_t n;
    if (!mule_param_get(params, "ORCPT", &v, &n))
        return false;
    const char *semi = memchr(v, ';', n);
    if (!semi || semi == v || (size_t)(semi - v) > 32)
        return false;
    char addr[1024];
    int an = mule_xtext_decode(semi + 1, n - (size_t)(semi + 1 - v), addr, sizeof addr);
    if (an <= 0 || !text_ok(addr))
        return false;
    int w = snprintf(buf, cap, "%.*s; %s", (int)(semi - v), v, addr);
    return w > 0 && (size_t)w < cap;
}

/* severity - which action heads the report: failed > delayed > relayed > delivered */
static int severity(enum mule_dsn_action a)
{
    return a == MULE_DSN_FAILED ? 3 : a == MULE_DSN_DELAYED ? 2 : a == MULE_DSN_RELAYED ? 1 : 0;
}

/* human_line - the text/plain sentence for one recipient */
static int human_line(struct util_buf *out, const struct mule_dsn_rcpt *r)
{
    const char *what = r->action == MULE_DSN_FAILED    ? "could not be delivered"
                       : r->action == MULE_DSN_DELAYED ? "has not been delivered yet"
                       : r->action == MULE_DSN_RELAYED ? "was relayed onwards"
                                                       : "was delivered";
    int rc = util_buf_printf(out, "  <%s>: %s (%s)", r->addr, what, r->status);
    if (rc >= 0 && r->diagnostic)
        rc = util_buf_printf(out, "\r\n    %s", r->diagnostic);
    if (rc >= 0)
        rc = util_buf_append(out, "\r\n", 2);
    return rc < 0 ? rc : 0;
}

/* mule_dsn_build - append the whole RFC 5322 message of a DSN to out */
int mule_dsn_build(const struct mule_dsn *d, struct util_buf *out)
{
    if (!d || (!d->rcpts && d->n_rcpts) || (!d->message && d->message_len))
        return MULE_ERR_INVAL;
    if (!d->return_path || !*d->return_path)
        return 0; /* never a DSN to the null reverse-path */
    if (!mule_address_valid(d->return_path, false) || !d->hostname || !*d->hostname ||
        !text_ok(d->hostname) || strchr(d->hostname, ' '))
        return MULE_ERR_INVAL;
    size_t count = 0;
    int top = -1;
    enum mule_dsn_action head = MULE_DSN_FAILED;
    for (size_t i = 0; i < d->n_rcpts; i++) {
        const struct mule_dsn_rcpt *r = &d->rcpts[i];
        if (!r->addr || !mule_address_valid(r->addr, false) || !status_ok(r->status) ||
            !text_ok(r->diagnostic) || !text_ok(r->remote_mta))
            return MULE_ERR_INVAL;
        bool traced =
            d->force_trace && (r->action == MULE_DSN_RELAYED || r->action == MULE_DSN_DELIVERED);
        if (!mule_dsn_wanted(r->params, r->action) && !traced)
            continue;
        count++;
        if (severity(r->action) > top) {
            top = severity(r->action);
            head = r->action;
        }
    }
    if (count == 0)
        return 0;

    /* RET (RFC 3461 4.3): FULL returns the message, HDRS or nothing the header */
    const char *v;
    size_t n;
    bool full =
        mule_param_get(d->mail_params, "RET", &v, &n) && n == 4 && strncasecmp(v, "FULL", 4) == 0;
    char envid[128] = "";
    if (mule_param_get(d->mail_params, "ENVID", &v, &n) &&
        (mule_xtext_decode(v, n, envid, sizeof envid) <= 0 || !text_ok(envid)))
        envid[0] = '\0';

    /* deterministic boundary and Message-ID, the boundary absent from the original */
    uint64_t h = fnv(0xcbf29ce484222325ULL, &d->now, sizeof d->now);
    h = fnv(h, d->hostname, strlen(d->hostname));
    h = fnv(h, d->return_path, strlen(d->return_path));
    h = fnv(h, d->message, d->message_len);
    char boundary[64];
    for (unsigned k = 0;; k++) {
        snprintf(boundary, sizeof boundary, "=_mule-dsn-%016llx-%u", (unsigned long long)h, k);
        if (!contains(d->message, d->message_len, boundary))
            break;
    }
    char date[MULE_DATE_STRLEN], when[MULE_DATE_STRLEN];
    mule_date_format(d->now, date, sizeof date);
    const char *subject = head == MULE_DSN_FAILED    ? "Undelivered Mail Returned to Sender"
                          : head == MULE_DSN_DELAYED ? "Delayed Mail (still being retried)"
                          : head == MULE_DSN_RELAYED ? "Mail Relayed (no further notices)"
                                                     : "Successful Mail Delivery Report";
    size_t start = out->len;
    int rc = util_buf_printf(out,
                             "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
                             "To: <%s>\r\n"
                             "Subject: %s\r\n"
                             "Date: %s\r\n"
                             "Message-ID: <%lld.%016llx@%s>\r\n"
                             "Auto-Submitted: auto-replied\r\n"
                             "MIME-Version: 1.0\r\n"
                             "Content-Type: multipart/report; report-type=delivery-status;\r\n"
                             "\tboundary=\"%s\"\r\n"
                             "\r\n"
                             "This is a MIME-encapsulated message.\r\n"
                             "\r\n"
                             "--%s\r\n"
                             "Content-Type: text/plain; charset=utf-8\r\n"
                             "Content-Description: Notification\r\n"
                             "\r\n"
                             "This is the MULE mail gateway at %s.\r\n"
                             "\r\n",
                             d->hostname, d->return_path, subject, date, (long long)d->now,
                             (unsigned long long)h, d->hostname, boundary, boundary, d->hostname);
    if (rc >= 0)
        rc = util_buf_printf(out, "%s\r\n\r\n",
                             head == MULE_DSN_FAILED
                                 ? "Your message could not be delivered to one or more recipients."
                             : head == MULE_DSN_DELAYED
                                 ? "Your message has not yet been delivered to one or more "
                                   "recipients.\r\nDelivery will be retried; you need not resend."
                                 : "This is a report on the delivery of your message.");
    for (size_t i = 0; rc >= 0 && i < d->n_rcpts; i++) {
        const struct mule_dsn_rcpt *r = &d->rcpts[i];
        bool traced =
            d->force_trace && (r->action == MULE_DSN_RELAYED || r->action == MULE_DSN_DELIVERED);
        if (mule_dsn_wanted(r->params, r->action) || traced)
            rc = human_line(out, r);
    }
    /* message/delivery-status: per-message fields (RFC 3464 2.2) */
    if (rc >= 0)
        rc = util_buf_printf(out,
                             "\r\n--%s\r\n"
                             "Content-Type: message/delivery-status\r\n"
                             "Content-Description: Delivery report\r\n"
                             "\r\n"
                             "Reporting-MTA: dns; %s\r\n",
                             boundary, d->hostname);
    if (rc >= 0 && envid[0])
        rc = util_buf_printf(out, "Original-Envelope-Id: %s\r\n", envid);
    if (rc >= 0 && d->arrival > 0)
        rc = util_buf_printf(out, "Arrival-Date: %s\r\n",
                             mule_date_format(d->arrival, when, sizeof when));
    /* per-recipient fields (RFC 3464 2.3) */
    for (size_t i = 0; rc >= 0 && i < d->n_rcpts; i++) {
        const struct mule_dsn_rcpt *r = &d->rcpts[i];
        bool traced =
            d->force_trace && (r->action == MULE_DSN_RELAYED || r->action == MULE_DSN_DELIVERED);
        if (!mule_dsn_wanted(r->params, r->action) && !traced)
            continue;
        char orcpt[1100];
        rc = util_buf_append(out, "\r\n", 2);
        if (rc >= 0 && original_rcpt(r->params, orcpt, sizeof orcpt))
            rc = util_buf_printf(out, "Original-Recipient: %s\r\n", orcpt);
        if (rc >= 0)
            rc = util_buf_printf(out, "Final-Recipient: %s; %s\r\nAction: %s\r\nStatus: %s\r\n",
                                 addr_type(r->addr), r->addr, action_name(r->action), r->status);
        if (rc >= 0 && r->remote_mta)
            rc = util_buf_printf(out, "Remote-MTA: %s\r\n", r->remote_mta);
        if (rc >= 0 && r->diagnostic)
            rc = util_buf_printf(out, "Diagnostic-Code: %s%s\r\n",
                                 strchr(r->diagnostic, ';') ? "" : "X-MULE; ", r->diagnostic);
        if (rc >= 0 && (r->action == MULE_DSN_FAILED || r->action == MULE_DSN_DELAYED))
            rc = util_buf_printf(out, "Last-Attempt-Date: %s\r\n", date);
        if (rc >= 0 && r->action == MULE_DSN_DELAYED && r->will_retry_until > 0)
            rc = util_buf_printf(out, "Will-Retry-Until: %s\r\n",
                                 mule_date_format(r->will_retry_until, when, sizeof when));
    }
    /* the original: whole (RET=FULL) or its header section */
    size_t olen = full ? d->message_len : header_len(d->message, d->message_len);
    if (rc >= 0)
        rc = util_buf_printf(out, "\r\n--%s\r\nContent-Type: %s\r\n%s%s\r\n", boundary,
                             full ? "message/rfc822" : "text/rfc822-headers",
                             full ? "Content-Description: Undelivered Message\r\n"
                                  : "Content-Description: Undelivered Message Headers\r\n",
                             has_8bit(d->message, olen) ? "Content-Transfer-Encoding: 8bit\r\n"
                                                        : "");
    if (rc >= 0)
        rc = append_crlf(out, d->message, olen);
    if (rc >= 0)
        rc = util_buf_printf(out, "\r\n--%s--\r\n", boundary);
    if (rc < 0) {
        out->len = start;
        return rc;
    }
    return (int)count;
}
