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
    default:
        if (err <= -420 && err >= -459) /* spool, SMTP client */
            return smtpgw_spool_strerror(err);
        break;
    }
    return mule_strerror(err);
}
