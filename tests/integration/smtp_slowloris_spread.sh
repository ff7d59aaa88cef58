#!/bin/sh
# smtp_slowloris_spread.sh - issue 13: slowloris clients spread over many
# allowed addresses cannot lock a normal client out either
# (smtp-gw/smtp_listen.c: busy mode).
#
# 100 slowloris clients from 50 addresses of an allowed network
# (127.0.1.1 .. 127.0.1.50, two each: under max_sessions_per_client) take
# all 100 slots - 80 trickling a command line, 20 a message after DATA - and
# reconnect a second after being closed.  The per-address cap cannot help
# here; the command deadline (5 s) frees their slots, but they come back at
# once.  When every slot is taken, a new client takes the slot of the
# session that has waited longest for a command (connected at least 2 s, not
# in a DATA/BDAT transfer, which the transfer deadline bounds): that one is
# told 421 4.7.0 and closed.  A normal client from 127.0.0.1 must have its
# 250 within 5 s, and what was done must be logged (smtpd-busy-close, rate
# limited).
. "$top_srcdir/tests/integration/lib.sh"
need python3
TOOL="$top_builddir/tests/unit/smtpgw_server_tool"
CLIENT="python3 $top_srcdir/tests/integration/smtp_clients.py"
mkdir -p "$T/spool"
python3 -c 'import socket; socket.socket().bind(("127.0.1.50", 0))' 2>/dev/null ||
    { echo "SKIP: cannot bind 127.0.1.50"; exit 77; }

start gw "$TOOL" -d "$T/spool" -n 127.0.0.1/32 -n 127.0.1.0/24 \
    -r ship.example.mil -r '*.fleet.example.mil' -s 100 -t 20000 -T 5000 -D 5000
wait_for gw '^ready port=[0-9]+'
port=$(sed -n 's/^ready port=\([0-9]*\).*/\1/p' "$T/gw.log")

$CLIENT slowloris 127.0.0.1 "$port" 100 127.0.1.1+50 15 5 8 > "$T/slow.out" ||
    fail "slowloris: $(cat "$T/slow.out")"
cat "$T/slow.out"
assert_grep gw 'smtpd-queued session=[0-9]+ peer=127.0.0.1 '
assert_grep gw 'smtpd-busy-close session=[0-9]+ peer=127\.0\.1\.[0-9]+ state=(init|helo|mail|rcpt) stalled_ms=[0-9]+ for=127\.0\.[01]\.[0-9]+ open=100'
assert_count 0 gw 'smtpd-busy-close .* state=(data|bdat)'
n=$(grep -c 'smtpd-busy-close' "$T/gw.log")
[ "$n" -le 30 ] || fail "$n smtpd-busy-close lines in 15 s: not rate-limited"
kill -USR1 "$gw_pid"
wait_for gw '^stats '
grep '^stats' "$T/gw.log"
grep -Eq '^stats .* busy_closed=[1-9]' "$T/gw.log" || fail "no session counted as closed in busy mode"
kill -TERM "$gw_pid"
wait_exit "$gw_pid" || fail "the tool exited $?"
exit 0
