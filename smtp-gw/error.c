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
    /* spool: -420..-439 */
    /* SMTP client: -440..-459 */
    default: break;
    }
    return mule_strerror(err);
}
