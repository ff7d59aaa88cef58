#!/bin/sh
# s5066_timing.sh - the channel model's timing measured end to end:
# s5066sim at 2400 bps with time scale 10, s5066cat -f sends 10 000 bytes
# non-ARQ (5 U_PDUs) to a listener.  10000 * 8 / 2400 = 33.333 s of data,
# plus per U_PDU the configured overhead bytes and one turnaround, divided
# by the time scale, must be the wall-clock time from the first send to the
# last arrival within 5% (plus a small allowance for starting s5066cat and
# polling for the arrival); the simulator's own log (first burst to
# last indication) must be within 5% with no allowance.  The bytes must
# arrive intact, in order, once.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need python3
SIM="$top_builddir/s5066/s5066sim"
CAT="$top_builddir/s5066/s5066cat"
[ -x "$SIM" ] || fail "no $SIM"
[ -x "$CAT" ] || fail "no $CAT"

RATE=2400 TURNAROUND_MS=500 OVERHEAD=16 SCALE=10 BYTES=10000 MTU=2048
cat > "$T/net.conf" <<CONF
[channel]
rate = $RATE
turnaround = ${TURNAROUND_MS}ms
overhead = $OVERHEAD
loss = 0
time_scale = $SCALE

[node alpha]
address = 0.0.0.1
port = 0

[node bravo]
address = 0.0.0.2
port = 0
mtu = $MTU
CONF

python3 -c 'import random, string, sys
r = random.Random(2400)
sys.stdout.write("".join(r.choice(string.ascii_letters + string.digits) for _ in range(int(sys.argv[1]))))' \
    "$BYTES" > "$T/10k.txt"
[ "$(wc -c < "$T/10k.txt")" -eq "$BYTES" ] || fail "test file"

start sim "$SIM" -f -c "$T/net.conf" -p "$T/ports"
wait_for sim 'sim ready nodes=2'
PA=$(awk '$1 == "alpha" { print $2 }' "$T/ports")
PB=$(awk '$1 == "bravo" { print $2 }' "$T/ports")
UPDUS=$(((BYTES + MTU - 1) / MTU))

start rx "$CAT" -l -X -n "$UPDUS" -W 30 "127.0.0.1:$PB"
wait_for rx 's5066 bound sap=2'

t0=$(date +%s.%N)
"$CAT" -f "$T/10k.txt" -a 0.0.0.2 -m nonarq -w 0 -W 30 "127.0.0.1:$PA" > "$T/tx.out" 2> "$T/tx.log" ||
    fail "sender exited $?"
# the last arrival: the listener prints each as it comes; poll finely
i=0
while [ "$(grep -cE '^0\.0\.0\.1 2 ' "$T/rx.log")" -lt "$UPDUS" ]; do
    [ $i -lt 3000 ] || fail "not every U_PDU arrived within 30 s"
    sleep 0.01
    i=$((i + 1))
done
t1=$(date +%s.%N)
wait_exit "$rx_pid" 10 || fail "listener exited $?"

# intact, in order, once
grep -E '^0\.0\.0\.1 2 2 [0-9]+ ' "$T/rx.log" > "$T/rx.lines"
[ "$(wc -l < "$T/rx.lines")" -eq "$UPDUS" ] || fail "$(wc -l < "$T/rx.lines") U_PDUs arrived, want $UPDUS"
python3 - "$T/rx.lines" "$T/10k.txt" <<'PY' || fail "the bytes that arrived differ from the file"
import sys
got = b"".join(bytes.fromhex(line.split()[4]) for line in open(sys.argv[1]))
sys.exit(0 if got == open(sys.argv[2], "rb").read() else 1)
PY
assert_count "$UPDUS" sim 'sim tx node=alpha .*mode=non-arq .*copies=1 attempt=1'

# the sim's view: first burst on the air to last indication (ms stamps, UTC)
sim_s=$(python3 - "$T/sim.log" <<'PY'
import datetime, sys
def stamp(line):
    return datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
lines = open(sys.argv[1]).read().splitlines()
first = next(stamp(l) for l in lines if " sim tx node=alpha " in l)
last = [stamp(l) for l in lines if " sim indication node=bravo " in l][-1]
print("%.3f" % (last - first))
PY
)

python3 - "$t0" "$t1" "$sim_s" "$RATE" "$TURNAROUND_MS" "$OVERHEAD" "$SCALE" "$BYTES" "$MTU" <<'PY' || fail "timing out of bounds"
import sys
t0, t1, sim_s = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
rate, turn_ms, overhead, scale, nbytes, mtu = (int(x) for x in sys.argv[4:10])
updus = -(-nbytes // mtu)
data_s = nbytes * 8 / rate / scale                                # 33.333 s / 10
extra_s = updus * (overhead * 8 / rate + turn_ms / 1000) / scale  # per U_PDU, / 10
startup_s = 0.4  # starting s5066cat, connect and bind; 10 ms polls for the arrival
wall = t1 - t0
lo, hi = 0.95 * data_s + extra_s, 1.05 * data_s + extra_s
print("# %d bytes at %d bps, time scale %d: data %.3f s + overhead and turnarounds %.3f s = %.3f s"
      % (nbytes, rate, scale, data_s, extra_s, data_s + extra_s))
print("# measured: wall clock (first send to last arrival) %.3f s, simulator log %.3f s; "
      "5%% window %.3f .. %.3f s (+ %.1f s startup for the wall clock)" % (wall, sim_s, lo, hi, startup_s))
print("# model time: wall %.2f s, simulator %.2f s (33.333 s + %.3f s expected)"
      % (wall * scale, sim_s * scale, extra_s * scale))
ok = lo <= sim_s <= hi and lo <= wall <= hi + startup_s
sys.exit(0 if ok else 1)
PY
kill -TERM "$sim_pid"
wait_exit "$sim_pid" || fail "s5066sim exited with $?"
echo "PASS: s5066_timing"
