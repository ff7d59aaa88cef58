#!/bin/sh
# mulegw_crash.sh - kill -9 of a gateway in the middle of transfers, then
# restart: every accepted message is delivered exactly once.  Two gateways
# (alpha sends, bravo receives) over s5066sim with loss; 12 messages go
# into alpha; alpha is killed while they cross the air, bravo while it is
# delivering one to its LAN MTA (the sink holds back the reply to the first
# final dot, so the kill lands there and not at a guessed moment); both
# restart on the same spools.  The sink must hold each Message-ID exactly
# once.  (A kill between the LAN MTA's 250 and bravo's commit of it is the
# duplicate window RFC 1047 describes; it is not what this test is about.)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
SIM="$top_builddir/s5066/s5066sim"
GW="${MULEGW:-$top_builddir/smtp-gw/mulegw}"
SCALE=20
N=12

SIM_LOSS=0.05 SIM_SEED=9 sim_conf "$T/net.conf" $SCALE alpha bravo
start sim "$SIM" -f -c "$T/net.conf" -p "$T/ports"
wait_for sim 'sim ready nodes=2'
simport() { awk -v n="$1" '$1 == n { print $2 }' "$T/ports"; }
start sink "$PY" "$top_srcdir/tests/integration/smtp_sink.py" --portfile "$T/sink.port" --dir "$T/sink" --hold-first
wait_for sink '^READY'

gw_conf alpha 1 "$(cat "$T/sink.port")" "$(simport alpha)" $SCALE ""
gw_conf bravo 2 "$(cat "$T/sink.port")" "$(simport bravo)" $SCALE ""

start gw_alpha "$GW" -f -c "$T/alpha.conf" -p "$T/alpha.smtp"
start gw_bravo "$GW" -f -c "$T/bravo.conf" -p "$T/bravo.smtp"
wait_for gw_alpha 'smtpgw bearer-up'
wait_for gw_bravo 'smtpgw bearer-up'

# N messages, each with a unique Message-ID; 250 means spooled (fsync'd)
cat > "$T/send.py" <<'PY'
import smtplib, sys
port = int(open(sys.argv[1]).read().split()[1])
for i in range(int(sys.argv[2])):
    body = "".join("message %d line %d: some text to fill the HF channel\r\n" % (i, j) for j in range(60))
    msg = ("From: a@alpha.example\r\nTo: b@bravo.example\r\nSubject: crash %d\r\n"
           "Message-ID: <crash-%d@alpha.example>\r\n\r\n%s" % (i, i, body))
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.sendmail("a@alpha.example", ["b@bravo.example"], msg)
    print("sent", i, flush=True)
PY
"$PY" "$T/send.py" "$T/alpha.smtp" "$N" > "$T/send.log" 2>&1 || fail "sending failed: $(cat "$T/send.log")"

# kill -9 alpha while messages are on the air ...
wait_for gw_bravo 'smtpgw received qid=' 120
kill -9 "$gw_alpha_pid"
wait "$gw_alpha_pid" 2>/dev/null
mv "$T/gw_alpha.log" "$T/gw_alpha_1.log"
start gw_alpha "$GW" -f -c "$T/alpha.conf" -p "$T/alpha.smtp"
wait_for gw_alpha 'main ready'
grep -q 'main ready .*outgoing=[1-9]' "$T/gw_alpha.log" ||
    fail "alpha recovered no outgoing message: $(grep 'main ready' "$T/gw_alpha.log")"
# ... and bravo while it delivers to its LAN MTA
wait_for sink '^HOLD' 120
kill -9 "$gw_bravo_pid"
wait "$gw_bravo_pid" 2>/dev/null
wait_for sink '^ABANDONED'
mv "$T/gw_bravo.log" "$T/gw_bravo_1.log"
start gw_bravo "$GW" -f -c "$T/bravo.conf" -p "$T/bravo.smtp"

# every message arrives, exactly once
i=0
while [ $i -lt 2400 ] && [ "$(grep -c '^MSG ' "$T/sink.log")" -lt "$N" ]; do
    sleep 0.1
    i=$((i + 1))
done
# wait until both gateways have nothing left, then look for duplicates
i=0
while [ $i -lt 600 ]; do
    kill -USR1 "$gw_alpha_pid" "$gw_bravo_pid"
    sleep 0.2
    tail -n 50 "$T/gw_alpha.log" | grep -q 'status outgoing=0 incoming=0' &&
        tail -n 50 "$T/gw_bravo.log" | grep -q 'status outgoing=0 incoming=0' && break
    i=$((i + 1))
done
k=0
while [ $k -lt $N ]; do
    c=$(grep -l "^Message-ID: <crash-$k@alpha.example>" "$T"/sink/*.eml 2>/dev/null | wc -l)
    [ "$c" -eq 1 ] || fail "message $k delivered $c times"
    k=$((k + 1))
done
echo "all $N messages delivered exactly once across kill -9 of both gateways"
exit 0
