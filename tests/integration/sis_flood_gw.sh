#!/bin/sh
# sis_flood_gw.sh - issue 13 (SIS): a hostile 5066 server floods mulegw
# with mutated SIS primitives (sis_fake_server.py --mutate, seeded: bad
# preambles, sizes, types, addresses and U_PDU sizes, truncations, garbage;
# UNIDATA_INDICATIONs carrying P_MUL PDUs with valid checksums from random
# originators).  First SIS_FLOOD_BOUND s (default 100) of everything but
# BIND_REJECTED/UNBIND_INDICATION, so the gateway stays bound and P_MUL gets
# every U_PDU; then SIS_FLOOD_ALL s (default 20) of every type, unbinds and
# final bind rejections included: two minutes.  Then the server hangs up
# and relays the next connection to a real s5066sim node.  Expected:
#  - mulegw stays up; its peak RSS (VmHWM) stays under SIS_FLOOD_HWM_KB
#    (default 64 MB); the numbers before and after are printed.  In a
#    sanitizer build (SAN_CFLAGS set by make check) ASan's shadow memory
#    and quarantine are in VmHWM too: there the quarantine is held to 16 MB
#    and the bound is on the growth over the start (VmHWM after - before);
#  - the s5066 lines are rate-limited per link and kind: at most
#    SIS_FLOOD_MAX_WARN (default 200) at warn level, 5 a minute of each of
#    unexpected, result-unmatched, subnet and tx-held, and what was held
#    back is counted (suppressed=N on a later line, or s5066 log-suppressed
#    at link-down);
#  - afterwards it binds to the real server through the proxy, takes a
#    message for bravo and hands it to P_MUL, answers SIGUSR1 with the
#    bearer up, and the message reaches bravo's LAN MTA (the P_MUL PDUs of
#    made-up originators in the flood made it owe nothing: pmul asks only
#    known nodes for missing data, and drops U_PDUs from group addresses).
#   SIS_FLOOD_SEED (13), SIS_FLOOD_RAW=1 (U_PDUs of random bytes: no P_MUL
#   PDU gets through, the SIS side alone), KEEP_TEST_DIR=1
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
SIM="$top_builddir/s5066/s5066sim"
GW="${MULEGW:-$top_builddir/smtp-gw/mulegw}"
FAKE="$top_srcdir/tests/integration/sis_fake_server.py"
BOUND=${SIS_FLOOD_BOUND:-100}
ALL=${SIS_FLOOD_ALL:-20}
SEED=${SIS_FLOOD_SEED:-13}
HWM_MAX=${SIS_FLOOD_HWM_KB:-65536}
WARN_MAX=${SIS_FLOOD_MAX_WARN:-200}
SCALE=20
[ -x "$SIM" ] || fail "no $SIM"
[ -x "$GW" ] || fail "no $GW"
[ -r /proc/self/status ] || { echo "SKIP: no /proc to read VmHWM from"; exit 77; }
if [ -n "${SAN_CFLAGS:-}" ]; then
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
    export ASAN_OPTIONS
fi

# kb PID FIELD - a /proc/PID/status figure in kB (VmHWM, VmRSS)
kb() {
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

sim_conf "$T/net.conf" $SCALE alpha bravo
start sim "$SIM" -f -c "$T/net.conf" -p "$T/ports"
wait_for sim 'sim ready nodes=2'
simport() { awk -v n="$1" '$1 == n { print $2 }' "$T/ports"; }
start sink "$PY" "$top_srcdir/tests/integration/smtp_sink.py" --portfile "$T/sink.port" --dir "$T/sink"
wait_for sink '^READY'
start fake "$PY" "$FAKE" --portfile "$T/fake.port" --mutate "bound:$BOUND,all:$ALL" --seed "$SEED" \
    --node 0.0.0.1 --proxy "127.0.0.1:$(simport alpha)" ${SIS_FLOOD_RAW:+--raw-updu}
wait_for fake '^READY'

gw_conf alpha 1 "$(cat "$T/sink.port")" "$(cat "$T/fake.port")" $SCALE ""
gw_conf bravo 2 "$(cat "$T/sink.port")" "$(simport bravo)" $SCALE ""
start gw_bravo "$GW" -f -c "$T/bravo.conf"
wait_for gw_bravo 'smtpgw bearer-up'
start gw_alpha "$GW" -f -c "$T/alpha.conf" -p "$T/alpha.smtp"
wait_for gw_alpha 'main ready'
hwm0=$(kb "$gw_alpha_pid" VmHWM)
echo "# mulegw before the flood: VmHWM=${hwm0} kB VmRSS=$(kb "$gw_alpha_pid" VmRSS) kB"

# the flood; mulegw's peak is sampled as it goes, for the record
wait_for fake '^BIND ' 20
i=0
while ! grep -q '^MUTATE prims=' "$T/fake.log" && [ $i -lt $(((BOUND + ALL + 60) * 2)) ]; do
    kill -0 "$gw_alpha_pid" 2>/dev/null || fail "mulegw died during the flood"
    [ $((i % 10)) -eq 0 ] && echo "# t=$((i / 2))s VmHWM=$(kb "$gw_alpha_pid" VmHWM) kB"
    sleep 0.5
    i=$((i + 1))
done
wait_for fake '^MUTATE prims=' 5
kill -0 "$gw_alpha_pid" 2>/dev/null || fail "mulegw died during the flood"
hwm1=$(kb "$gw_alpha_pid" VmHWM)
sed -n 's/^MUTATE /# flood: /p' "$T/fake.log"
echo "# mulegw after the flood: VmHWM=${hwm1} kB VmRSS=$(kb "$gw_alpha_pid" VmRSS) kB (limit ${HWM_MAX} kB)"

# rate-limited warnings, counted once the flood is over (the link is down)
wait_for gw_alpha 's5066 link-down link=pmul why=' 20
warn=$(grep -Ec ' warn +s5066 ' "$T/gw_alpha.log")
echo "# s5066 lines at warn level: $warn; by event:"
grep -E ' (warn|notice|info) +s5066 ' "$T/gw_alpha.log" | awk '{ print $3, $4 }' | sort | uniq -c | sort -rn |
    sed 's/^/#   /'
echo "# other modules' lines during the flood, by event:"
grep -Ev ' s5066 ' "$T/gw_alpha.log" | awk '{ print $2, $3, $4 }' | sort | uniq -c | sort -rn | head -n 12 |
    sed 's/^/#   /'
# the memory verdict waits until the gateway has shown it still works
mem_fail=""
if [ -n "${SAN_CFLAGS:-}" ]; then
    [ $((hwm1 - hwm0)) -lt "$HWM_MAX" ] ||
        mem_fail="mulegw's VmHWM grew by $((hwm1 - hwm0)) kB in the flood (limit ${HWM_MAX} kB, sanitizer build)"
else
    [ "$hwm1" -lt "$HWM_MAX" ] || mem_fail="mulegw's VmHWM is ${hwm1} kB after the flood (limit ${HWM_MAX} kB)"
fi
[ "$warn" -le "$WARN_MAX" ] || fail "$warn s5066 warnings in the flood (limit $WARN_MAX)"
# each kind held back is accounted for: on a later line of its own, or at link-down
for ev in unexpected result-unmatched subnet tx-held; do
    n=$(grep -c " s5066 $ev " "$T/gw_alpha.log")
    [ "$n" -ge 1 ] || fail "no s5066 $ev line: the flood did not reach the client engine"
    burst=$((5 * ((BOUND + ALL) / 60 + 2))) # 5 a minute, in each window the flood touches
    [ "$n" -le "$burst" ] || fail "s5066 $ev: $n lines, more than 5 a minute"
    grep -Eq " s5066 ($ev .*suppressed=[1-9]|log-suppressed .*event=$ev suppressed=[1-9])" "$T/gw_alpha.log" ||
        fail "s5066 $ev: $n lines and no suppressed=N for the rest"
done
echo "ok - the flood: mulegw up, $warn s5066 warnings"

# the same gateway binds to the real server behind the proxy and carries mail
wait_for fake '^PROXY' 60
wait_for sim 'sim bind node=alpha ' 60
cat > "$T/send.py" <<'PY'
import smtplib, sys
port = int(open(sys.argv[1]).read().split()[1])
msg = ("From: a@alpha.example\r\nTo: b@bravo.example\r\nSubject: after the flood\r\n"
       "Message-ID: <after-flood@alpha.example>\r\n\r\nstill here\r\n")
with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
    s.sendmail("a@alpha.example", ["b@bravo.example"], msg)
PY
"$PY" "$T/send.py" "$T/alpha.smtp" > "$T/send.log" 2>&1 || fail "alpha refused mail: $(cat "$T/send.log")"
wait_for gw_alpha 'smtpgw submitted qid=[0-9A-F]+ .*dests=0\.0\.0\.2 ' 30
kill -USR1 "$gw_alpha_pid"
wait_for gw_alpha 'smtpgw status .*bearer=up'
echo "ok - afterwards: bound to s5066sim through the proxy, a message for bravo taken and submitted to P_MUL"
wait_for sink '^MSG ' 120
grep -l 'after-flood@alpha.example' "$T"/sink/*.eml > /dev/null 2>&1 || fail "the sink got another message"
echo "ok - and delivered to bravo's LAN MTA"
[ -z "$mem_fail" ] || fail "$mem_fail"
echo "ok - memory: VmHWM ${hwm0} -> ${hwm1} kB (limit ${HWM_MAX} kB)"

for p in "$gw_alpha_pid" "$gw_bravo_pid" "$sim_pid"; do
    kill -TERM "$p"
    wait_exit "$p" || fail "pid $p exited with $?"
done
echo "PASS: sis_flood_gw (seed $SEED, ${BOUND}s bound + ${ALL}s all: VmHWM ${hwm0} -> ${hwm1} kB, $warn warnings)"
