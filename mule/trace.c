/* trace.c - the trace a MULE relay or inbound gateway adds: the Received
 * header field of RFC 5321 4.4 (Time-stamp-line) with the protocol MULE
 * registered by RFC 8494 section 6.2 in its "with" clause, and RFC 5322
 * 3.3 date-times.  No clock: the time is passed in.
 *
 *     Received: from gw-a.example.mil ([10.0.0.1])
 *             by gw-b.example.mil with MULE id <42@10.0.0.1>
 *             for <bob@example.mil>; Thu, 27 Apr 2017 15:17:00 +0000
 *
 * The P_MUL Source_ID is written as an address literal (ACP 142 node ids
 * are by default the node's IPv4 address) and the Message_ID at it as the
 * id.  "for" only names a single recipient, so Bcc recipients stay hidden.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mule/mule.h"

/* mule_date_format - RFC 5322 date-time of UNIX time t in UTC into buf */
char *mule_date_format(int64_t t, char *buf, size_t len)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    time_t tt = (time_t)t;
    if (len == 0)
        return buf;
    if (!gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 1900) {
        tt = 0;
        gmtime_r(&tt, &tm);
    }
    snprintf(buf, len, "%s, %d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
             months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

/* host_ok - a domain name fit for the from / by clauses */
static bool host_ok(const char *h)
{
    if (!h || !*h || strlen(h) > 255)
        return false;
    char probe[300];
    snprintf(probe, sizeof probe, "x@%s", h);
    return mule_address_valid(probe, false) && h[0] != '[';
}

/* mule_trace_received - append the folded Received header field to out */
int mule_trace_received(const struct mule_trace *t, struct util_buf *out)
{
    if (!t || !host_ok(t->by_host) || (t->from_name && !host_ok(t->from_name)) ||
        (t->for_addr && (!mule_address_valid(t->for_addr, false) || !strchr(t->for_addr, '@'))))
        return MULE_ERR_INVAL;
    char node[MULE_NODE_STRLEN], date[MULE_DATE_STRLEN];
    mule_node_format(t->source, node, sizeof node);
    mule_date_format(t->now, date, sizeof date);
    size_t start = out->len;
    int rc;
    if (t->from_name)
        rc = util_buf_printf(out, "Received: from %s ([%s])\r\n", t->from_name, node);
    else
        rc = util_buf_printf(out, "Received: from [%s] ([%s])\r\n", node, node);
    if (rc >= 0)
        rc = util_buf_printf(out, "\tby %s with MULE id <%u@%s>", t->by_host, (unsigned)t->msgid,
                             node);
    if (rc >= 0 && t->for_addr)
        rc = util_buf_printf(out, "\r\n\tfor <%s>", t->for_addr);
    if (rc >= 0)
        rc = util_buf_printf(out, "; %s\r\n", date);
    if (rc < 0) {
        out->len = start;
        return rc;
    }
    return 0;
}
