#!/bin/sh
# smtp_bad_input.sh - bad SMTP input never crashes the server and never
# grows its memory without bound: 10 kB lines (RFC 5321 4.5.3.1), bare LF
# (2.3.8, with a smuggling attempt), 5000 pipelined RCPTs (4.5.3.1.8),
# pipelined random garbage, clients vanishing mid-BDAT (RFC 3030), a client
# that pipelines and never reads, 200 idle connections (each gets 421 4.4.2
# after the idle timeout, 4.5.3.2) and sessions beyond the maximum (421
# 4.7.0).  All of it twice: the resident set after the second round may not
# exceed the first by more than a little, its peak stays under a bound, and
# the server still serves a normal smtplib client at the end.
. "$top_srcdir/tests/integration/lib.sh"
need python3
TOOL="$top_builddir/tests/unit/smtpgw_server_tool"
CLIENT="python3 $top_srcdir/tests/integration/smtp_clients.py"
mkdir -p "$T/spool"
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
export ASAN_OPTIONS

# every client here is 127.0.0.1: its share of the sessions (-c) is all of them
start gw "$TOOL" -d "$T/spool" -r ship.example.mil -r '*.fleet.example.mil' -s 205 -c 205 -t 3000 -m 1M
wait_for gw '^ready port=[0-9]+'
port=$(sed -n 's/^ready port=\([0-9]*\).*/\1/p' "$T/gw.log")
sanitizer=$(sed -n 's/^ready port=[0-9]* sanitizer=\([01]\)/\1/p' "$T/gw.log")

# kb FIELD - VmRSS or VmHWM of the server in kB
kb() {
    sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$gw_pid/status"
}

# open_sessions - the server's count of open sessions (SIGUSR1 prints stats)
open_sessions() {
    n=$(grep -c '^stats' "$T/gw.log")
    kill -USR1 "$gw_pid"
    i=0
    while [ "$(grep -c '^stats' "$T/gw.log")" -le "$n" ] && [ $i -lt 200 ]; do
        sleep 0.05; i=$((i + 1))
    done
    grep '^stats' "$T/gw.log" | tail -n 1 | sed 's/.*open=\([0-9]*\).*/\1/'
}

# wait_idle_server - until every session is gone
wait_idle_server() {
    i=0
    while [ "$(open_sessions)" != 0 ]; do
        i=$((i + 1)); [ $i -lt 100 ] || fail "sessions still open"
        sleep 0.1
    done
}

round() {
    $CLIENT long_lines 127.0.0.1 "$port" || fail "10 kB lines"
    $CLIENT bare_lf 127.0.0.1 "$port" || fail "bare LF"
    $CLIENT many_rcpts 127.0.0.1 "$port" 5000 || fail "5000 RCPTs"
    for seed in 1 2 3; do
        $CLIENT garbage 127.0.0.1 "$port" $seed || fail "pipelined garbage"
    done
    $CLIENT vanish 127.0.0.1 "$port" 20 || fail "vanishing mid-BDAT"
    $CLIENT never_reads 127.0.0.1 "$port" 2 || fail "a client that never reads"
    $CLIENT idle 127.0.0.1 "$port" 200 4 || fail "200 idle connections"
    wait_idle_server
    $CLIENT max_sessions 127.0.0.1 "$port" 205 3 || fail "sessions beyond the maximum"
    wait_idle_server
    kill -0 "$gw_pid" || fail "the server died"
}

$CLIENT data 127.0.0.1 "$port" || fail "a normal client first"
round
rss1=$(kb VmRSS)
round
rss2=$(kb VmRSS)
hwm=$(kb VmHWM)
$CLIENT data 127.0.0.1 "$port" || fail "a normal client after the abuse"
echo "VmRSS after round 1: $rss1 kB, after round 2: $rss2 kB, peak $hwm kB (sanitizer=$sanitizer)"
# AddressSanitizer: shadow memory, and freed blocks held in its quarantine (16 MB)
limit=65536 slack=8192
[ "$sanitizer" = 1 ] && limit=524288 slack=$((8192 + 16384))
[ "$hwm" -lt "$limit" ] || fail "peak RSS $hwm kB over $limit kB"
[ "$rss2" -le $((rss1 + slack)) ] || fail "RSS grew from $rss1 kB to $rss2 kB between identical rounds"

assert_grep gw 'smtpd-bad-input session=[0-9]+ peer=127.0.0.1 what=long-line'
assert_grep gw 'smtpd-bad-input session=[0-9]+ peer=127.0.0.1 what=bare-lf'
assert_grep gw 'smtpd-too-many-errors session=[0-9]+ peer=127.0.0.1'
assert_grep gw 'smtpd-disconnect session=[0-9]+ peer=127.0.0.1 state=bdat transaction=dropped'
assert_grep gw 'smtpd-timeout session=[0-9]+ peer=127.0.0.1 state=init'
assert_grep gw 'smtpd-too-many-sessions peer=127.0.0.1 open=205 max=205'
n=$(ls "$T/spool" | wc -l)
[ "$n" -eq 6 ] || fail "$n messages spooled, want 6 (2 normal + 2 x (5000 RCPTs + one beside 200 idle))"
kill -TERM "$gw_pid"
wait_exit "$gw_pid" || fail "the server exited $?"
exit 0
