/* fuzz_conf.c - fuzz the INI config parser and its typed getters
 * (util/conf.c): any bytes must parse or fail with a message, never crash.
 */
#include "fuzz.h"
#include "util.h"

#include <string.h>

/* LLVMFuzzerTestOneInput - parse the input as a config file and query it */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    int rc;
    struct util_conf *conf = util_conf_parse("fuzz.conf", (const char *)data, size, err, sizeof err, &rc);
    if (!conf) {
        if (rc >= 0 || strncmp(err, "fuzz.conf:", 10) != 0)
            __builtin_trap();
        return 0;
    }
    struct util_conf_section *s = NULL;
    while ((s = util_conf_next_section(conf, "node", s))) {
        long long i;
        bool b;
        double d;
        uint64_t u;
        const char *str;
        int e;
        static const char *const modes[] = {"arq", "nonarq", NULL};
        util_conf_int(conf, s, "address", 0, 0, 1000, &i);
        util_conf_bool(conf, s, "emcon", false, &b);
        util_conf_double(conf, s, "loss", 0, 0, 1, &d);
        util_conf_duration_ms(conf, s, "turnaround", 0, 0, 60000, &u);
        util_conf_size(conf, s, "mtu", 2048, 1, 4096, &u);
        util_conf_str(conf, s, "name", "", &str);
        util_conf_enum(conf, s, "mode", modes, 0, &e);
    }
    util_conf_check_unused(conf);
    (void)util_conf_error(conf);
    util_conf_free(conf);
    return 0;
}
