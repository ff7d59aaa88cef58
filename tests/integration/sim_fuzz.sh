#!/bin/sh
# sim_fuzz.sh - s5066sim never crashes on what clients send: six clients
# write 3000 random byte strings and random (often invalid) primitives at
# three nodes (one in EMCON) over a lossy channel in bit-error mode, with a
# fixed seed; then a well-behaved pair of clients must still get a U_PDU
# through, and the simulator must exit cleanly on SIGTERM.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
SIM="$top_builddir/s5066/s5066sim"
[ -x "$SIM" ] || fail "no $SIM"

cat > "$T/net.conf" <<'CONF'
[channel]
rate = 9600
loss = 0.2
bit_errors = yes
arq_retries = 2
max_queue = 16k
time_scale = 100000

[node alpha]
address = 0.0.0.1
port = 0
groups = 16.0.0.1

[node bravo]
address = 0.0.0.2
port = 0
groups = 16.0.0.1

[node charlie]
address = 0.0.0.3
port = 0
groups = 16.0.0.1
emcon = yes
CONF

start sim "$SIM" -f -c "$T/net.conf" -p "$T/ports"
wait_for sim 'sim ready nodes=3'
"$PY" "$top_srcdir/tests/integration/sim_sis.py" fuzz "$T/ports" > "$T/client.log" 2>&1 \
    || fail "fuzz scenario failed: $(tail -3 "$T/client.log")"
cat "$T/client.log"
kill -0 "$sim_pid" || fail "s5066sim died"
kill -TERM "$sim_pid"
wait_exit "$sim_pid" || fail "s5066sim exited with $?"
assert_grep sim 'sim stats why=exit nodes=3'
echo "PASS: sim_fuzz"
