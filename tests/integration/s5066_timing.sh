#!/bin/sh
# s5066_timing.sh - the channel model's timing, end to end and in radio
# time: s5066sim at 2400 bps (time scale 10), s5066cat -f sends 10 000 bytes
# non-ARQ (5 U_PDUs) to a listener.  From the simulator's own log, in its
# virtual clock (never the wall clock, which a loaded machine stretches):
# each burst lasts exactly (len + overhead) * 8 / rate plus one turnaround;
# no burst starts before the previous one has ended; the channel's busy
# time and alpha's airtime (SIGUSR1 statistics) equal the model's total,
# 33.333 s of data plus overhead and turnarounds.  The bytes must arrive
# intact, in order, once.
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

"$CAT" -f "$T/10k.txt" -a 0.0.0.2 -m nonarq -w 0 -W 30 "127.0.0.1:$PA" > "$T/tx.out" 2> "$T/tx.log" ||
    fail "sender exited $?"
wait_exit "$rx_pid" 60 || fail "listener exited $?"

# intact, in order, once
grep -E '^0\.0\.0\.1 2 2 [0-9]+ ' "$T/rx.log" > "$T/rx.lines"
[ "$(wc -l < "$T/rx.lines")" -eq "$UPDUS" ] || fail "$(wc -l < "$T/rx.lines") U_PDUs arrived, want $UPDUS"
python3 - "$T/rx.lines" "$T/10k.txt" <<'PY' || fail "the bytes that arrived differ from the file"
import sys
got = b"".join(bytes.fromhex(line.split()[4]) for line in open(sys.argv[1]))
sys.exit(0 if got == open(sys.argv[2], "rb").read() else 1)
PY
assert_count "$UPDUS" sim 'sim tx node=alpha .*mode=non-arq .*copies=1 attempt=1'

# the channel's own totals, in radio time
kill -USR1 "$sim_pid"
wait_for sim 'sim stats node=alpha '
python3 - "$T/sim.log" "$RATE" "$TURNAROUND_MS" "$OVERHEAD" "$BYTES" "$MTU" <<'PY' || fail "radio timing is not the model's"
import re, sys
log = open(sys.argv[1]).read().splitlines()
rate, turn_ms, overhead, nbytes, mtu = (int(x) for x in sys.argv[2:7])

def ceil_ms(nb):  # bytes on air at rate, in whole ms (rounded up, as the model does)
    return -(-nb * 8000 // rate)

def keys(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)

bursts = [keys(l) for l in log if " sim tx node=alpha " in l]
want_total, end_prev, ok = 0, None, True
for i, b in enumerate(bursts):
    length, air, t = int(b["len"]), int(b["airtime_ms"]), round(float(b["t"]) * 1000)
    want = ceil_ms(length + overhead) + turn_ms
    want_total += want
    gap = None if end_prev is None else t - end_prev
    print("# burst %d: t=%.3f s len=%d airtime %d ms (model %d ms)%s"
          % (i + 1, t / 1000, length, air, want, "" if gap is None else ", %d ms after the previous ended" % gap))
    if air != want:
        print("burst %d lasts %d ms, the model says %d" % (i + 1, air, want)); ok = False
    if gap is not None and gap < 0:
        print("burst %d starts %d ms before the previous one ended" % (i + 1, -gap)); ok = False
    end_prev = t + air
lens = sorted(int(b["len"]) for b in bursts)
if sum(lens) != nbytes or max(lens) > mtu:
    print("U_PDU sizes %s do not carry %d bytes in %d-byte U_PDUs" % (lens, nbytes, mtu)); ok = False
data_s = nbytes * 8 / rate
print("# model: %.3f s of data + %.3f s overhead and turnarounds = %.3f s on air"
      % (data_s, want_total / 1000 - data_s, want_total / 1000))
ch = keys([l for l in log if " sim stats why=" in l][-1])
node = keys([l for l in log if " sim stats node=alpha " in l][-1])
busy, airtime = float(ch["busy_s"]), float(node["airtime_s"])
print("# simulator: channel busy %.3f s, alpha on air %.3f s, %s bursts" % (busy, airtime, ch["bursts"]))
for what, v in (("channel busy time", busy), ("alpha's airtime", airtime)):
    if abs(v * 1000 - want_total) > 1:
        print("%s %.3f s, the model says %.3f s" % (what, v, want_total / 1000)); ok = False
sys.exit(0 if ok else 1)
PY
kill -TERM "$sim_pid"
wait_exit "$sim_pid" || fail "s5066sim exited with $?"
echo "PASS: s5066_timing"
