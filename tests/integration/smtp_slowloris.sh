#!/bin/sh
# smtp_slowloris.sh - issue 13: slow clients cannot hold the SMTP server
# (smtp-gw/smtp_server.c deadlines, smtp-gw/smtp_listen.c slots).
#
# 100 slowloris clients from one address (127.0.0.2) send a byte a second
# - 80 of a command line that never ends, 20 of a message after DATA -
# and reconnect a second after being closed or refused.  Once every one
# has been answered, a normal client from 127.0.0.1 sends a message: its
# 250 must come within 5 s (a wall-clock bound, on loopback sockets),
# because one address holds at most max_sessions_per_client slots (by
# default half of max_sessions).  Every slowloris session is closed by the
# server within 8 s of its connect: its command deadline (5 s from a
# line's first byte) or its transfer deadline (5 s + size / 500 bytes/s),
# neither restarted by each byte, while the idle timeout (20 s) never
# falls.  What they make the server log is rate-limited per address.
#
# Then 150 clients from a network that is not allowed (127.0.0.3) each get
# 554 5.7.1 and are disconnected without sending anything; they hold no
# slot, so more of them than max_sessions (100) are all answered 554, none
# 421, and a normal client is served beside them.
. "$top_srcdir/tests/integration/lib.sh"
need python3
TOOL="$top_builddir/tests/unit/smtpgw_server_tool"
CLIENT="python3 $top_srcdir/tests/integration/smtp_clients.py"
mkdir -p "$T/spool"
python3 -c 'import socket; socket.socket().bind(("127.0.0.3", 0))' 2>/dev/null ||
    { echo "SKIP: cannot bind 127.0.0.3"; exit 77; }

start gw "$TOOL" -d "$T/spool" -n 127.0.0.1/32 -n 127.0.0.2/32 \
    -r ship.example.mil -r '*.fleet.example.mil' -s 100 -t 20000 -T 5000 -D 5000
wait_for gw '^ready port=[0-9]+'
port=$(sed -n 's/^ready port=\([0-9]*\).*/\1/p' "$T/gw.log")

$CLIENT slowloris 127.0.0.1 "$port" 100 127.0.0.2 15 5 8 > "$T/slow.out" ||
    fail "slowloris: $(cat "$T/slow.out")"
cat "$T/slow.out"
assert_grep gw 'smtpd-timeout session=[0-9]+ peer=127.0.0.2 state=(init|data) what=(command|data)'
assert_grep gw 'smtpd-too-many-connections peer=127.0.0.2 open=50 max=50'
assert_grep gw 'smtpd-queued session=[0-9]+ peer=127.0.0.1 '
assert_count 0 gw 'smtpd-timeout .* what=idle'
assert_count 0 gw 'smtpd-too-many-sessions'
# a hundred clients, one address: a few lines a minute for each kind
n=$(grep -c 'smtpd-timeout session=[0-9]* peer=127.0.0.2' "$T/gw.log")
[ "$n" -le 5 ] || fail "$n smtpd-timeout lines for 127.0.0.2 in a minute, want at most 5"
n=$(grep -c 'smtpd-too-many-connections peer=127.0.0.2' "$T/gw.log")
[ "$n" -le 5 ] || fail "$n smtpd-too-many-connections lines in a minute, want at most 5"

$CLIENT refused_flood 127.0.0.1 "$port" 127.0.0.3 150 || fail "clients outside the networks"
assert_count 5 gw 'smtpd-refused session=[0-9]+ peer=127.0.0.3'
assert_count 0 gw 'smtpd-close session=[0-9]+ peer=127.0.0.3'

kill -USR1 "$gw_pid"
wait_for gw '^stats '
grep '^stats' "$T/gw.log"
n=$(find "$T/spool" -name '*.msg' | wc -l)
[ "$n" -eq 2 ] || fail "$n messages spooled, want 2 (one beside the slowloris, one beside the flood)"
kill -TERM "$gw_pid"
wait_exit "$gw_pid" || fail "the tool exited $?"
exit 0
