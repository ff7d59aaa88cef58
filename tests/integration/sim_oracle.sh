#!/bin/sh
# sim_oracle.sh - the wire judge (tests/wire/wire_judge.py: Wireshark's
# s5066sis dissector and our own STANAG 5066 Annex A checks) judges
# s5066sim's bytes: capture raw SIS clients talking to three simulated nodes
# (bind accepted and rejected, SUBNET_AVAILABILITY, KEEP_ALIVE, UNIDATA and
# EXPEDITED indications, CONFIRM, REJECTED, tx-mode-3 indications with error
# blocks) and judge the capture.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY" python3 tshark
JUDGE="$top_srcdir/tests/wire/wire_judge.py"
SIM="$top_builddir/s5066/s5066sim"
[ -x "$SIM" ] || fail "no $SIM"

cat > "$T/net.conf" <<'CONF'
[channel]
rate = 2400
loss = 0.5
bit_errors = yes
arq_retries = 60
time_scale = 200

[node alpha]
address = 0.0.0.1
port = 0

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
set -- $(awk '{print $2}' "$T/ports")
[ $# -eq 3 ] || fail "port file: $(cat "$T/ports")"
start_capture cap "tcp port $1 or tcp port $2 or tcp port $3"
"$PY" "$top_srcdir/tests/integration/sim_sis.py" oracle "$T/ports" > "$T/client.log" 2>&1 \
    || fail "client scenario failed: $(tail -3 "$T/client.log")"
sync_capture cap
stop_capture cap
"$PY" "$JUDGE" -q -p "$1" -p "$2" -p "$3" -m none -x 'sis>=20' "$T/cap.pcap" > "$T/judge.log" 2>&1 \
    || fail "the wire judge rejected the capture (exit $?)"
tail -3 "$T/judge.log"
kill -TERM "$sim_pid"
wait_exit "$sim_pid" || fail "s5066sim exited with $?"
echo "PASS: sim_oracle"
