/* error.c - smtpgw_strerror: texts of the smtp-gw module's negative error
 * codes (smtpgw.h "errors"); mule's and util's codes are passed on. */
#include "smtp-gw/smtpgw.h"

/* smtpgw_strerror - text for an SMTPGW_ERR_* (or MULE_ERR_*, UTIL_ERR_*) code */
const char *smtpgw_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case SMTPGW_ERR_CLOSED: return "SMTP session closed";
    case SMTPGW_ERR_LISTEN: return "cannot listen on the SMTP address";
    case SMTPGW_ERR_NETWORK: return "bad client network (CIDR)";
    case SMTPGW_ERR_CONFIG: return "invalid SMTP server setting";
    /* control channel: -480..-499 */
    case SMTPGW_ERR_CTL_NOTFOUND: return "no such message";
    case SMTPGW_ERR_CTL_NODE: return "no such node";
    case SMTPGW_ERR_CTL_USAGE: return "bad request";
    case SMTPGW_ERR_CTL_UNSUPPORTED: return "not supported by this gateway";
    case SMTPGW_ERR_CTL_STATE: return "not possible in the message's state";
    case SMTPGW_ERR_CTL_TOO_BIG: return "reply too large";
    case SMTPGW_ERR_CTL_SOCKET: return "cannot create the control socket";
    case SMTPGW_ERR_CTL_IN_USE: return "control socket in use by a running process";
    case SMTPGW_ERR_CTL_PATH: return "bad control socket path (too long, or not a socket)";
    case SMTPGW_ERR_CTL_PERM: return "cannot set the control socket's owner or mode";
    case SMTPGW_ERR_CTL_BUSY: return "busy";
    default:
        if (err <= -420 && err >= -459) /* spool, SMTP client */
            return smtpgw_spool_strerror(err);
        break;
    }
    return mule_strerror(err);
}
