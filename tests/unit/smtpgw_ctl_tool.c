/* smtpgw_ctl_tool.c - serve the control channel's socket glue
 * (smtpgw_ctl_listen, smtp-gw/control.c) with the fake gateway of
 * smtpgw_ctl_fake.h, for tests/integration/ctl_socket.sh and mulectl.
 *
 *     smtpgw_ctl_tool [-m MODE] [-g GID] [-t TIMEOUT_MS] SOCKET
 *
 * Logs to stderr at debug level (the test waits for `smtpgw ctl-listen`).
 * SIGTERM/SIGINT close the socket (smtpgw_ctl_close unlinks it) and exit 0.
 * A socket that cannot be served: the error on stderr, exit 1.
 */
#include <ev.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "smtpgw_ctl_fake.h"

static struct smtpgw_ctl_server *tool_srv;

/* on_signal - close the socket and leave the loop */
static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    smtpgw_ctl_close(tool_srv);
    tool_srv = NULL;
    ev_break(loop, EVBREAK_ALL);
}

/* main - listen on the socket given and serve until a signal */
int main(int argc, char **argv)
{
    unsigned mode = SMTPGW_CTL_DEFAULT_MODE;
    int gid = -1;
    long long v;
    util_ms timeout = 0;
    int opt;
    while ((opt = getopt(argc, argv, "m:g:t:")) != -1) {
        switch (opt) {
        case 'm': mode = (unsigned)strtoul(optarg, NULL, 8); break;
        case 'g': gid = atoi(optarg); break;
        case 't':
            if (util_parse_int(optarg, 1, 600000, &v) < 0)
                return 64;
            timeout = (util_ms)v;
            break;
        default:
            fprintf(stderr, "usage: smtpgw_ctl_tool [-m MODE] [-g GID] [-t MS] SOCKET\n");
            return 64;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "usage: smtpgw_ctl_tool [-m MODE] [-g GID] [-t MS] SOCKET\n");
        return 64;
    }
    util_log_set_level(UTIL_LOG_DEBUG);
    signal(SIGPIPE, SIG_IGN);
    static struct fake f;
    fake_init(&f);
    struct ev_loop *loop = EV_DEFAULT;
    int err = 0;
    tool_srv = smtpgw_ctl_listen(loop, argv[optind], mode, gid, &fake_ops, &f, &err);
    if (!tool_srv) {
        fprintf(stderr, "smtpgw_ctl_tool: %s: %s\n", argv[optind], smtpgw_strerror(err));
        return 1;
    }
    if (timeout)
        smtpgw_ctl_set_timeout(tool_srv, timeout);
    ev_signal sterm, sint;
    ev_signal_init(&sterm, on_signal, SIGTERM);
    ev_signal_init(&sint, on_signal, SIGINT);
    ev_signal_start(loop, &sterm);
    ev_signal_start(loop, &sint);
    ev_run(loop, 0);
    fprintf(stderr, "smtpgw_ctl_tool: stopped\n");
    return 0;
}
