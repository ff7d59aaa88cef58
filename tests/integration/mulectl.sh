#!/bin/sh
# mulectl.sh - every mulectl command against a running gateway, with the
# answer checked in text and in JSON: status, queue, hold/release, drop
# (with its DSN), retry, emcon for the local node and for a destination,
# log-level; the error exits (no such message, unknown node, no socket,
# usage).  The sending gateway runs as root, binds its SMTP port and
# control socket, then drops to user nobody: the test checks its uid, the
# owner of its spool and of its socket, and the socket's mode.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
SIM="$top_builddir/s5066/s5066sim"
GW="${MULEGW:-$top_builddir/smtp-gw/mulegw}"
CTL="${MULECTL:-$top_builddir/smtp-gw/mulectl}"
SCALE=20
DROP_USER=""
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    DROP_USER=nobody
    chmod 755 "$T" # the user we become must reach its spool and socket
fi

sim_conf "$T/net.conf" $SCALE alpha bravo
start sim "$SIM" -f -c "$T/net.conf" -p "$T/ports"
wait_for sim 'sim ready nodes=2'
simport() { awk -v n="$1" '$1 == n { print $2 }' "$T/ports"; }
start sink "$PY" "$top_srcdir/tests/integration/smtp_sink.py" --portfile "$T/sink.port" --dir "$T/sink"
wait_for sink '^READY'
SINK=$(cat "$T/sink.port")

gw_conf alpha 1 "$SINK" "$(simport alpha)" $SCALE "${DROP_USER:+user = $DROP_USER}"
printf '[control]\nsocket = %s/ctl/alpha.sock\nmode = 0660\n' "$T" >> "$T/alpha.conf"
printf '[priority]\nsis.6 = 4\n' >> "$T/alpha.conf" # routine mail on the air at SIS priority 4
gw_conf bravo 2 "$SINK" "$(simport bravo)" $SCALE ""
printf '[control]\nsocket = %s/ctl/bravo.sock\n' "$T" >> "$T/bravo.conf"
start gw_alpha "$GW" -f -c "$T/alpha.conf" -p "$T/alpha.smtp"
start gw_bravo "$GW" -f -c "$T/bravo.conf" # no -p: as the systemd unit runs it
wait_for gw_alpha 'smtpgw bearer-up'
wait_for gw_bravo 'smtpgw bearer-up'

ctl() { "$CTL" -c "$T/alpha.conf" "$@"; }
# json EXPR - run mulectl --json ARGS (from $J) and evaluate a Python
# expression over the parsed answer `d`; fails unless it is true
json_check() {
    what=$1 expr=$2
    shift 2
    ctl --json "$@" > "$T/j.out" 2> "$T/j.err" || fail "mulectl --json $* failed: $(cat "$T/j.err")"
    "$PY" -c 'import json,sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$T/j.out" "$expr" ||
        fail "$what: JSON of 'mulectl $*' fails [$expr]: $(cat "$T/j.out")"
}
expect_exit() {
    want=$1
    shift
    "$@" > "$T/x.out" 2> "$T/x.err"
    got=$?
    [ "$got" = "$want" ] || fail "'$*' exited $got, not $want: $(cat "$T/x.out" "$T/x.err")"
}

# ---- privileges dropped after binding ----
if [ -n "$DROP_USER" ]; then
    uid=$(id -u "$DROP_USER")
    awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$gw_alpha_pid/status" | grep -qx "$uid $uid $uid $uid" ||
        fail "alpha still runs as $(grep '^Uid:' "/proc/$gw_alpha_pid/status")"
    assert_grep gw_alpha "main privileges-dropped user=$DROP_USER"
    [ "$(stat -c %U "$T/spool-alpha")" = "$DROP_USER" ] || fail "spool not owned by $DROP_USER"
    [ "$(stat -c %U:%a "$T/ctl/alpha.sock")" = "$DROP_USER:660" ] ||
        fail "socket is $(stat -c %U:%a "$T/ctl/alpha.sock"), not $DROP_USER:660"
fi

# ---- status ----
ctl status > "$T/status.txt" || fail "mulectl status failed"
for k in 'node: *0.0.0.1' 'bearer: *sis' 'sap: *2' 'flow: *on' 'outgoing: *0'; do
    grep -Eq "$k" "$T/status.txt" || fail "status lacks /$k/: $(cat "$T/status.txt")"
done
grep -Eq '0\.0\.0\.2 +bravo' "$T/status.txt" || fail "status lacks node bravo: $(cat "$T/status.txt")"
json_check status 'isinstance(d["last_error"], str) and d["node"] == "0.0.0.1" and d["bearer"] == "sis" and d["sap"] == 2 and d["mtu"] > 0 and d["flow_on"] is True and d["emcon"] is False and d["outgoing"] == 0 and any(n["name"] == "bravo" and n["node"] == "0.0.0.2" for n in d["nodes"])' status

# ---- local EMCON: nothing leaves, the queue fills ----
ctl emcon on > /dev/null || fail "emcon on failed"
json_check emcon 'd["emcon"] is True' status
assert_grep gw_alpha 'smtpgw operator-emcon node=local emcon=on'
cat > "$T/send.py" <<'PY'
import smtplib, sys
port = int(open(sys.argv[1]).read().split()[1])
for i in range(int(sys.argv[2])):
    msg = ("From: a@alpha.example\r\nTo: b@bravo.example\r\nSubject: ctl %d\r\n"
           "Message-ID: <ctl-%d@alpha.example>\r\n\r\nbody %d\r\n" % (i, i, i))
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.sendmail("a@alpha.example", ["b@bravo.example"], msg,
                   rcpt_options=["NOTIFY=FAILURE"])
PY
"$PY" "$T/send.py" "$T/alpha.smtp" 3 > "$T/send.log" 2>&1 || fail "sending failed: $(cat "$T/send.log")"
ctl queue > "$T/queue.txt" || fail "mulectl queue failed"
[ "$(grep -c '<a@alpha.example>' "$T/queue.txt")" -eq 3 ] || fail "queue does not list 3 messages: $(cat "$T/queue.txt")"
grep -q 'b@bravo.example' "$T/queue.txt" || fail "queue lacks the recipient: $(cat "$T/queue.txt")"
grep -Eq '0\.0\.0\.2.*bravo.*open' "$T/queue.txt" || fail "queue lacks bravo's open state: $(cat "$T/queue.txt")"
json_check queue 'len(d["messages"]) == 3 and all(m["queue"] == "outgoing" and m["from"] == "a@alpha.example" and m["dests"][0]["state"] == "open" and not m["held"] for m in d["messages"])' queue
"$PY" -c 'import json,sys; m = json.load(open(sys.argv[1]))["messages"]; print(m[0]["qid"], m[1]["qid"], m[2]["qid"])' "$T/j.out" > "$T/qids"
read -r Q1 Q2 Q3 < "$T/qids"
echo "--- mulectl status"; cat "$T/status.txt"
echo "--- mulectl queue"; cat "$T/queue.txt"

# ---- hold / release ----
ctl hold "$Q1" > "$T/hold.txt" || fail "hold failed"
grep -q '1 message' "$T/hold.txt" || fail "hold said: $(cat "$T/hold.txt")"
ctl queue | grep -q "^$Q1!" || fail "held message not marked: $(ctl queue)"
json_check hold "[m['held'] for m in d['messages'] if m['qid'] == '$Q1'] == [True]" queue
expect_exit 1 ctl hold "$Q1" # already held
json_check release 'd["count"] == 1' release "$Q1"
json_check released "[m['held'] for m in d['messages'] if m['qid'] == '$Q1'] == [False]" queue
expect_exit 1 ctl release "$Q1" # not held
assert_grep gw_alpha "smtpgw operator-hold qid=$Q1"
assert_grep gw_alpha "smtpgw operator-release qid=$Q1"

# ---- drop, with a DSN to the sender (alpha.example is local: to the LAN) ----
ctl drop "$Q2" > /dev/null || fail "drop failed"
json_check dropped "len(d['messages']) >= 2 and '$Q2' not in [m['qid'] for m in d['messages'] if m['queue'] == 'outgoing']" queue
assert_grep gw_alpha "smtpgw operator-drop qid=$Q2"
wait_for sink 'MSG .*from=<> rcpts=a@alpha.example' 60
grep -l 'dropped by the operator' "$T"/sink/*.eml > /dev/null || fail "no DSN saying the message was dropped"
expect_exit 1 ctl drop NOSUCHQUEUEID
grep -q 'no such message' "$T/x.err" || fail "drop of an unknown id said: $(cat "$T/x.err")"

# ---- EMCON of a destination ----
json_check emcon-node 'True' emcon bravo on
json_check emcon-node-status '[n["emcon"] for n in d["nodes"] if n["name"] == "bravo"] == [True]' status
ctl emcon 0.0.0.2 off > /dev/null || fail "emcon 0.0.0.2 off failed"
json_check emcon-node-off '[n["emcon"] for n in d["nodes"] if n["name"] == "bravo"] == [False]' status
expect_exit 1 ctl emcon nosuchnode on
expect_exit 1 ctl emcon bravo sideways

# ---- retry, then radio silence ends and the rest crosses ----
ctl retry all > "$T/retry.txt" || fail "retry all failed"
grep -q 'retry' "$T/retry.txt" || fail "retry said: $(cat "$T/retry.txt")"
json_check retry 'd["command"] == "retry" and d["count"] >= 0' retry all
ctl emcon off > /dev/null || fail "emcon off failed"
i=0
while [ $i -lt 1200 ] && [ "$(grep -c 'MSG .*rcpts=b@bravo.example' "$T/sink.log")" -lt 2 ]; do
    sleep 0.1
    i=$((i + 1))
done
[ "$(grep -c 'MSG .*rcpts=b@bravo.example' "$T/sink.log")" -eq 2 ] || fail "the two kept messages did not arrive"
for f in "$T"/sink/*.eml; do # (the DSN quotes it; the message itself must not arrive)
    grep -q '^Message-ID: <ctl-1@alpha.example>' "$f" && ! grep -q 'dropped by the operator' "$f" &&
        fail "the dropped message was delivered"
done
i=0
while [ $i -lt 300 ]; do
    ctl --json status > "$T/s.json" 2>/dev/null
    "$PY" -c 'import json,sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d["outgoing"] == 0 and [n["last_ack"] for n in d["nodes"] if n["name"] == "bravo"][0] else 1)' "$T/s.json" && break
    sleep 0.1
    i=$((i + 1))
done
[ $i -lt 300 ] || fail "alpha's queue did not empty or bravo's ack is not shown: $(cat "$T/s.json")"
ctl status | grep -Eq '0\.0\.0\.2 +bravo +0 +[0-9]+[smhd]' || fail "status shows no recent ack from bravo: $(ctl status)"
ctl queue | grep -q 'empty' || fail "queue not empty: $(ctl queue)"

# [priority] sis.6 = 4 is the SIS priority of routine mail on the air
grep -q 'sim tx node=alpha .*prio=4 ' "$T/sim.log" || fail "alpha's routine mail was not sent at SIS priority 4"
grep -q 'sim tx node=alpha .*prio=9 ' "$T/sim.log" && fail "alpha sent at the default SIS priority 9"

# ---- log-level ----
ctl log-level | grep -q 'info' || fail "log-level shows: $(ctl log-level)"
ctl log-level debug > /dev/null || fail "log-level debug failed"
json_check log-level 'd["level"] == "debug" and d["trace"] == []' log-level
ctl log-level trace pmul > /dev/null || fail "log-level trace pmul failed"
ctl log-level | grep -q 'pmul' || fail "trace not shown: $(ctl log-level)"
ctl log-level info > /dev/null
assert_grep gw_alpha 'main log-level now='
expect_exit 1 ctl log-level loud
json_check help 'True' help

# ---- errors outside the gateway ----
expect_exit 2 "$CTL" -s "$T/ctl/nobody-here.sock" status
grep -q "nobody-here.sock" "$T/x.err" || fail "no socket path in: $(cat "$T/x.err")"
expect_exit 64 "$CTL" -s "$T/ctl/alpha.sock"
expect_exit 1 ctl frobnicate

# bravo's own channel works too, and says it received
"$CTL" -c "$T/bravo.conf" --json status > "$T/b.json" || fail "bravo status failed"
"$PY" -m json.tool "$T/b.json" > /dev/null || fail "bravo's status is not JSON"
# config errors name the file, the line and the key
sed 's/^mode = 0660$/mode = 9999/' "$T/alpha.conf" > "$T/bad.conf"
line=$(grep -n '^mode = 9999' "$T/bad.conf" | cut -d: -f1)
expect_exit 1 "$GW" -n -c "$T/bad.conf"
grep -q "bad.conf:$line: \[control\] key 'mode'" "$T/x.err" || fail "bad mode reported as: $(cat "$T/x.err")"
sed 's/^hostname = .*/&\nuser = no-such-user-here/' "$T/bravo.conf" > "$T/bad.conf"
expect_exit 1 "$GW" -n -c "$T/bad.conf"
grep -q "bad.conf:3: \[mulegw\] key 'user'" "$T/x.err" || fail "bad user reported as: $(cat "$T/x.err")"
# the SIS priority table given twice, differently
sed 's/^kind = sis$/&\nsis_priority = 15,14,13,12,11,10,9/' "$T/bravo.conf" > "$T/bad.conf"
printf '[priority]\nsis.6 = 4\n' >> "$T/bad.conf"
expect_exit 1 "$GW" -n -c "$T/bad.conf"
grep -q "\[priority\] key 'sis.6': 4 disagrees with \[bearer\] sis_priority (9)" "$T/x.err" ||
    fail "two SIS priority tables reported as: $(cat "$T/x.err")"
expect_exit 0 "$GW" -n -c "$T/alpha.conf"

echo "every mulectl command answered, in text and JSON"
exit 0
