#!/bin/sh
# mulegw_e2e.sh - the mission end to end on loopback: s5066sim with three
# nodes at 2400 bps (time scale 20), three mulegw gateways, and an SMTP
# sink per node standing for its LAN MTA.  Mail goes into alpha with
# Python's smtplib (mulegw_e2e.py checks): one message to two nodes,
# delivered byte-exact (trace fields aside) and sent once on the air; an
# unroutable recipient refused at RCPT; an MT-PRIORITY urgent message
# overtaking a large routine one; BDAT + BINARYMIME end to end; an
# expired message producing a DSN back to the sender.  README section 5
# (Read the logs) is checked against the first message's lines here
# (readme_logs.py).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
SIM="$top_builddir/s5066/s5066sim"
GW="$top_builddir/smtp-gw/mulegw"
SCALE=20

cat > "$T/net.conf" <<EOF
[channel]
rate = 2400
turnaround = 500ms
loss = 0
seed = 5
time_scale = $SCALE
max_queue = 16k

[group ops]
address = 16.0.0.1

[node alpha]
address = 0.0.0.1
port = 0
groups = ops

[node bravo]
address = 0.0.0.2
port = 0
groups = ops

[node charlie]
address = 0.0.0.3
port = 0
groups = ops
EOF
start sim "$SIM" -f -c "$T/net.conf" -p "$T/ports"
wait_for sim 'sim ready nodes=3'
simport() { awk -v n="$1" '$1 == n { print $2 }' "$T/ports"; }

for n in alpha bravo charlie; do
    start "sink_$n" "$PY" "$top_srcdir/tests/integration/smtp_sink.py" --portfile "$T/sink-$n.port" --dir "$T/sink-$n"
    wait_for "sink_$n" '^READY'
done

# gwconf NODE ID - a gateway config for one node: lib.sh's, with a route
# to a node nobody serves (delta) and the 5066 group of all three
gwconf() {
    gw_conf "$1" "$2" "$(cat "$T/sink-$1.port")" "$(simport "$1")" "$SCALE" "log_level = info"
    printf '[route delta.example]\nnode = 0.0.0.9\n[group ops]\naddress = 16.0.0.1\nmembers = alpha, bravo, charlie\n' >> "$T/$1.conf"
}

i=1
for n in alpha bravo charlie; do
    gwconf $n $i
    "$GW" -n -c "$T/$n.conf" > "$T/check-$n.log" 2>&1 || fail "config check failed for $n: $(cat "$T/check-$n.log")"
    start "gw_$n" "$GW" -f -c "$T/$n.conf" -p "$T/$n.smtp"
    i=$((i + 1))
done
for n in alpha bravo charlie; do
    wait_for "gw_$n" 'smtpgw bearer-up'
done

"$PY" "$top_srcdir/tests/integration/mulegw_e2e.py" "$T" > "$T/e2e.log" 2>&1 || fail "$(cat "$T/e2e.log")"
cat "$T/e2e.log"

# The message to two nodes went on the air once: alpha's transmissions of
# its first P_MUL message (Message_ID 1) are to the group, never unicast.
msgid=$(grep -m1 -o 'submitted qid=[0-9A-F]* src=0.0.0.1 msgid=[0-9]* dests=0.0.0.2,0.0.0.3' "$T/gw_alpha.log" | sed 's/.*msgid=\([0-9]*\).*/\1/')
[ -n "$msgid" ] || fail "no submission to both nodes in alpha's log"
assert_grep sim 'sim tx node=alpha .*dst=16\.0\.0\.1 '
# ... and both acknowledged the first transmission: no retransmission round
assert_grep gw_alpha "pmul dest-done src=0\.0\.0\.1 msgid=$msgid dest=0\.0\.0\.2 msn=[0-9]+ result=acked round=0"
assert_grep gw_alpha "pmul dest-done src=0\.0\.0\.1 msgid=$msgid dest=0\.0\.0\.3 msn=[0-9]+ result=acked round=0"
# follow one message: SMTP queue id -> P_MUL ids -> 5066 addresses -> far queue id
qid=$(grep -m1 -o "queued qid=[0-9A-F]*" "$T/gw_alpha.log" | cut -d= -f2)
assert_grep gw_alpha "submitted qid=$qid src=0\.0\.0\.1 msgid=$msgid dests=0\.0\.0\.2,0\.0\.0\.3"
assert_grep gw_bravo "received qid=[0-9A-F]+ src=0\.0\.0\.1 msgid=$msgid "
assert_grep gw_charlie "received qid=[0-9A-F]+ src=0\.0\.0\.1 msgid=$msgid "
assert_grep gw_alpha "dest-done qid=$qid src=0\.0\.0\.1 msgid=$msgid dest=0\.0\.0\.2 result=acked"
assert_grep gw_alpha "dest-done qid=$qid src=0\.0\.0\.1 msgid=$msgid dest=0\.0\.0\.3 result=acked"
# README section 5 shows this message's lines and how to grep for them:
# each example line must exist and each pattern match exactly the message
rq=$(grep -m1 -oE "received qid=[0-9A-F]+ src=0\.0\.0\.1 msgid=$msgid " "$T/gw_bravo.log" | sed 's/received qid=\([0-9A-F]*\).*/\1/')
wait_for gw_alpha "smtpgw spool-remove qid=$qid queue=outgoing"
wait_for gw_bravo "smtpgw spool-remove qid=$rq queue=incoming"
"$PY" "$top_srcdir/tests/integration/readme_logs.py" "$top_srcdir/README.md" "$T/gw_alpha.log" "$T/gw_bravo.log" \
    > "$T/readme.log" 2>&1 || fail "README section 5 does not match the logs: $(cat "$T/readme.log")"
cat "$T/readme.log"
for n in alpha bravo charlie; do
    kill -0 "$(eval echo \$gw_${n}_pid)" || fail "mulegw $n died"
done
exit 0
