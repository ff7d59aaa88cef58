# postfix.sh - private Postfix instances for tests and benchmarks (sourced
# after lib.sh): each runs from its own main.cf/master.cf, queue and maillog
# under a directory of the caller's, with smtpd on a loopback port, and is
# stopped (postfix stop, then its master by PID) when the script exits.
PF_DIRS=""
PF_PIDS=""

# pf_cleanup - stop every Postfix instance this test started (postfix stop,
# then its master by PID: SIGTERM makes it stop its children), then the rest
pf_cleanup() {
    for d in $PF_DIRS; do
        /usr/sbin/postfix -c "$d/etc" stop >/dev/null 2>&1
    done
    for p in $PF_PIDS; do
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do
            [ $i -eq 50 ] && kill "$p" 2>/dev/null
            sleep 0.1; i=$((i + 1))
        done
    done
    cleanup
}
trap pf_cleanup EXIT

# (free_port is lib.sh's: Postfix cannot be told port 0)

# pf_setup DIR NAME PORT - main.cf and master.cf of a private instance whose
# smtpd listens on 127.0.0.1:PORT; no local delivery to system users
pf_setup() {
    d=$1 name=$2 port=$3
    mkdir -p "$d/etc" "$d/queue" "$d/data"
    chown postfix "$d/data"
    : > "$d/maillog"
    cat > "$d/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $d/maillog
maillog_file_prefixes = $d
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mta.$name.example
mydomain = $name.example
myorigin = \$mydomain
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery here
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_host_lookup = native
smtp_dns_support_level = disabled
smtputf8_enable = no
biff = no
EOF
    cat > "$d/etc/master.cf" <<EOF
127.0.0.1:$port inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# pf_start DIR - start the instance, wait for "daemon started" in its
# maillog (linked as $T/NAME.log for fail()) and note its master's PID
pf_start() {
    PF_DIRS="$PF_DIRS $1"
    /usr/sbin/postfix -c "$1/etc" start > "$1/start.out" 2>&1 ||
        fail "postfix -c $1/etc start: $(cat "$1/start.out" "$1/maillog")"
    wait_file_grep "$1/maillog" 'daemon started' 20
    mpid=$(tr -d ' \n' < "$1/queue/pid/master.pid")
    [ -n "$mpid" ] || fail "no master.pid in $1/queue/pid"
    PF_PIDS="$PF_PIDS $mpid"
}

# wait_file_grep FILE REGEX SECS - poll a file for a line
wait_file_grep() {
    i=0
    while [ $i -lt $(($3 * 20)) ]; do
        grep -Eq "$2" "$1" 2>/dev/null && return 0
        sleep 0.05; i=$((i + 1))
    done
    fail "timed out after ${3}s waiting for /$2/ in $1"
}
