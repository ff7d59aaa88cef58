#!/bin/sh
# sim_network.sh - s5066sim end to end: three nodes on port 0, raw SIS
# clients (sim_sis.py) bind on them, send an ARQ unicast and a non-ARQ group
# U_PDU and check source address, SAP and exactly-once delivery; a second
# bind on a SAP, an over-MTU U_PDU, KEEP_ALIVE; garbage and invalid
# primitives answered with UNBIND_INDICATION reason 3; the simulator stays
# up, prints statistics on SIGUSR1 and at exit, and stops on SIGTERM.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
SIM="$top_builddir/s5066/s5066sim"
[ -x "$SIM" ] || fail "no $SIM"

cat > "$T/net.conf" <<'CONF'
[channel]
rate = 2400
turnaround = 500ms
loss = 0
seed = 7
time_scale = 100

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
groups = 16.0.0.1
CONF

start sim "$SIM" -f -c "$T/net.conf" -p "$T/ports"
wait_for sim 'sim ready nodes=3'
assert_count 3 sim 'sim listen node=[a-z]+ addr=0\.0\.0\.[123] port=[1-9][0-9]*'
[ -s "$T/ports" ] || fail "no port file"
grep -q '^alpha [1-9][0-9]*$' "$T/ports" || fail "port file: $(cat "$T/ports")"

"$PY" "$top_srcdir/tests/integration/sim_sis.py" network "$T/ports" > "$T/client.log" 2>&1 \
    || fail "client scenario failed"
cat "$T/client.log"

kill -0 "$sim_pid" || fail "s5066sim died"
assert_grep sim 'sim garbage node=alpha peer=127\.0\.0\.1:[0-9]+ skipped=[1-9]'
# five invalid primitives of three kinds: each kind logged once
assert_count 3 sim 'sim pdu-bad node=alpha'
assert_grep sim 'sim unbind-indication node=alpha .*reason=3 .*bad=5'
assert_grep sim 'sim unbind-indication node=alpha .*reason=3'
assert_grep sim 'sim tx node=alpha .*dst=0\.0\.0\.2 .*mode=arq'
assert_grep sim 'sim tx node=alpha .*dst=16\.0\.0\.1 .*mode=non-arq .*copies=2'

kill -USR1 "$sim_pid"
wait_for sim 'sim stats why=sigusr1 nodes=3 rate=2400'
wait_for sim 'sim stats node=alpha addr=0\.0\.0\.1 bytes_on_air=[1-9]'
assert_grep sim 'sim stats node=bravo addr=0\.0\.0\.2 .*received=[1-9]'
kill -TERM "$sim_pid"
wait_exit "$sim_pid" || fail "s5066sim exited with $?"
assert_grep sim 'sim stats why=exit nodes=3'
echo "PASS: sim_network"
