/* mulectl.c - the operator's client for mulegw's control channel: sends
 * one request line over the UNIX socket and prints the reply (protocol in
 * control.c's header comment; DESIGN.md "Operating").
 *
 *     mulectl [-s SOCKET] [-c mulegw.conf] [--json|-j] COMMAND [ARG...]
 *     mulectl --help | --version
 *
 * The socket is -s, else [control] socket of the -c config, else the
 * compiled-in default (smtpgw_ctl_default_socket).  The body of an `ok`
 * reply goes to stdout; an `error` reply's text to stderr.  Exit status
 * (sysexits.h style): 0 ok, 1 the gateway answered `error`, 2 no
 * connection or no reply, 64 usage, 78 the config file is bad.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "smtp-gw/smtpgw.h"

#define EXIT_ERROR_REPLY 1
#define EXIT_CONNECT     2
#define EXIT_USAGE       64
#define EXIT_CONFIG      78
#define REPLY_TIMEOUT_MS 120000       /* a queue of 10,000 messages takes a while */
#define REPLY_MAX        (256u << 20) /* beyond: the gateway is confused */

/* usage - the help text on stdout, and exit */
static _Noreturn void usage(void)
{
    printf("usage: mulectl [-s SOCKET] [-c mulegw.conf] [--json|-j] COMMAND [ARG...]\n"
           "       mulectl -h | -V\n"
           "Control a running mulegw over its control socket: show the link and the queue,\n"
           "retry, hold, release or drop messages, switch EMCON, change the log level.\n"
           "  -s SOCKET      mulegw's control socket (default: [control] socket of -c,\n"
           "                 else %s)\n"
           "  -c FILE        read the socket path from this mulegw configuration\n"
           "  -j, --json     ask for a JSON reply\n"
           "  -h, --help     print this help and exit\n"
           "  -V, --version  print the version and exit\n"
           "Options come before the COMMAND; its words go to the gateway as they are.\n"
           "Commands:\n"
           "  status                      link, bearer, EMCON, queue counts, nodes\n"
           "  queue                       spooled messages with each destination's state\n"
           "  retry ID|all                send or deliver again now\n"
           "  drop ID                     remove a message from the spool\n"
           "  hold ID|all, release ID|all keep messages back, let them go\n"
           "  emcon [NODE] on|off         radio silence of this node, or of NODE\n"
           "                              (its address or [node] name)\n"
           "  log-level [LEVEL]           show or set: err, warning, notice, info, debug\n"
           "  log-level trace MODULES     trace s5066,pmul,... (all, none)\n"
           "  help                        the gateway's own list\n"
           "Exit status: 0 ok, 1 the gateway refused (error on stderr), 2 cannot connect,\n"
           "64 usage, 78 bad config file.\n",
           smtpgw_ctl_default_socket());
    exit(util_stdout_done("mulectl"));
}

/* build_request - join the words into one request line (with its newline);
 * false with a message on a word mulegw would refuse */
static bool build_request(char *line, size_t cap, char **words, int n, bool json)
{
    size_t len = 0;
    bool has_json = false;
    for (int i = 0; i < n; i++) {
        const char *w = words[i];
        if (!w[0]) {
            fprintf(stderr, "mulectl: empty argument\n");
            return false;
        }
        for (const char *p = w; *p; p++) {
            if (*p <= ' ' || *p > '~') {
                fprintf(stderr, "mulectl: argument '%s': only printable ASCII without spaces\n", w);
                return false;
            }
        }
        has_json = has_json || (i > 0 && strcmp(w, "--json") == 0);
        size_t wl = strlen(w);
        if (len + (len ? 1 : 0) + wl + 1 >= cap) {
            fprintf(stderr, "mulectl: request longer than %d bytes\n", SMTPGW_CTL_MAX_LINE);
            return false;
        }
        if (len)
            line[len++] = ' ';
        memcpy(line + len, w, wl);
        len += wl;
    }
    if (json && !has_json) {
        if (len + 8 >= cap) {
            fprintf(stderr, "mulectl: request longer than %d bytes\n", SMTPGW_CTL_MAX_LINE);
            return false;
        }
        memcpy(line + len, " --json", 7);
        len += 7;
    }
    line[len++] = '\n';
    line[len] = '\0';
    return true;
}

/* socket_path - -s, else [control] socket of the config, else the default;
 * NULL (message printed) if the config is unusable */
static const char *socket_path(const char *opt_s, const char *conf_path, struct util_conf **conf)
{
    if (opt_s)
        return opt_s;
    if (!conf_path)
        return smtpgw_ctl_default_socket();
    char errbuf[512];
    int err;
    *conf = util_conf_load(conf_path, errbuf, sizeof errbuf, &err);
    if (!*conf) {
        fprintf(stderr, "mulectl: %s\n", errbuf);
        return NULL;
    }
    struct smtpgw_ctl_conf cc;
    if (smtpgw_ctl_conf_read(*conf, &cc) < 0) {
        fprintf(stderr, "mulectl: %s\n", util_conf_error(*conf));
        return NULL;
    }
    return cc.socket;
}

/* ctl_connect - a connected socket to path, or -1 (message printed) */
static int ctl_connect(const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "mulectl: %s: socket path too long\n", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        fprintf(stderr, "mulectl: cannot connect to %s: %s%s\n", path, strerror(e),
                e == ENOENT || e == ECONNREFUSED ? " (is mulegw running?)" : "");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* send_all - write the whole request */
static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* read_reply - read until the gateway closes; false (message printed) on a
 * timeout or an error before anything arrived */
static bool read_reply(int fd, const char *path, struct util_buf *reply)
{
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int pr = poll(&pfd, 1, REPLY_TIMEOUT_MS);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0) {
            fprintf(stderr, "mulectl: %s: no reply within %d s\n", path, REPLY_TIMEOUT_MS / 1000);
            return false;
        }
        if (util_buf_reserve(reply, 65536) < 0) {
            fprintf(stderr, "mulectl: %s: reply larger than %u bytes\n", path, REPLY_MAX);
            return false;
        }
        ssize_t n = recv(fd, reply->data + reply->len, reply->cap - reply->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return true;
        if (n < 0) {
            if (reply->len) /* the reply is complete before a reset */
                return true;
            fprintf(stderr, "mulectl: %s: %s\n", path, strerror(errno));
            return false;
        }
        reply->len += (size_t)n;
    }
}

/* main - parse options, send the request, print the reply */
int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, 'V'},
                                             {NULL, 0, NULL, 0}};
    const char *opt_s = NULL, *conf_path = NULL;
    bool json = false;
    int opt;
    /* "+": stop at the command, so its own words (even --json) are passed on */
    while ((opt = getopt_long(argc, argv, "+s:c:jhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 's': opt_s = optarg; break;
        case 'c': conf_path = optarg; break;
        case 'j': json = true; break;
        case 'h': usage();
        case 'V': return util_print_version("mulectl");
        default: util_usage_error("mulectl", NULL); return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        util_usage_error("mulectl", "no command (the gateway lists them: mulectl help)");
        return EXIT_USAGE;
    }
    char line[SMTPGW_CTL_MAX_LINE + 1];
    if (!build_request(line, sizeof line, argv + optind, argc - optind, json))
        return EXIT_USAGE;
    struct util_conf *conf = NULL;
    const char *path = socket_path(opt_s, conf_path, &conf);
    if (!path) {
        util_conf_free(conf);
        return EXIT_CONFIG;
    }
    int fd = ctl_connect(path);
    if (fd < 0) {
        util_conf_free(conf);
        return EXIT_CONNECT;
    }
    struct util_buf reply;
    util_buf_init(&reply, REPLY_MAX);
    bool ok = send_all(fd, line, strlen(line)) && read_reply(fd, path, &reply);
    close(fd);
    int rc = 0;
    const char *r = (const char *)reply.data;
    const char *nl = reply.len ? memchr(r, '\n', reply.len) : NULL;
    if (!ok) {
        rc = EXIT_CONNECT;
    } else if (!nl) {
        fprintf(stderr, "mulectl: %s: %s\n", path,
                reply.len ? "incomplete reply" : "closed without a reply");
        rc = EXIT_CONNECT;
    } else if (nl - r == 2 && memcmp(r, "ok", 2) == 0) {
        size_t body = (size_t)(nl + 1 - r);
        if (fwrite(r + body, 1, reply.len - body, stdout) != reply.len - body || fflush(stdout))
            rc = EXIT_CONNECT;
    } else if (nl - r > 6 && memcmp(r, "error ", 6) == 0) {
        fprintf(stderr, "mulectl: %.*s\n", (int)(nl - r - 6), r + 6);
        rc = EXIT_ERROR_REPLY;
    } else {
        fprintf(stderr, "mulectl: %s: not a mulegw control reply\n", path);
        rc = EXIT_CONNECT;
    }
    util_buf_free(&reply);
    util_conf_free(conf);
    return rc;
}
