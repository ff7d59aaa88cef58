#!/bin/sh
# sim_serial.sh - an s5066sim node served on a serial line (a socat pty
# pair), and interoperation with the project's own SIS client: s5066cat on
# the serial line sends an ARQ U_PDU with confirmation to s5066cat listening
# on another node over TCP.  Then the "cable" (socat) goes: the simulator
# logs the hang-up once and keeps serving.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need socat
SIM="$top_builddir/s5066/s5066sim"
CAT="$top_builddir/s5066/s5066cat"
[ -x "$SIM" ] || fail "no $SIM"
[ -x "$CAT" ] || { echo "SKIP: no s5066cat"; exit 77; }

start socat socat -d -d "pty,raw,echo=0,link=$T/simtty" "pty,raw,echo=0,link=$T/host"
wait_for socat 'starting data transfer loop'
cat > "$T/net.conf" <<CONF
[channel]
time_scale = 50

[node alpha]
address = 0.0.0.1
serial = $T/simtty
baud = 9600

[node bravo]
address = 0.0.0.2
port = 0
CONF
start sim "$SIM" -f -c "$T/net.conf" -p "$T/ports"
wait_for sim 'sim ready nodes=2'
assert_grep sim "sim listen node=alpha addr=0\.0\.0\.1 serial=$T/simtty baud=9600"
port=$(awk '$1 == "bravo" {print $2}' "$T/ports")
[ -n "$port" ] || fail "no port for bravo: $(cat "$T/ports")"
grep -q alpha "$T/ports" && fail "a serial node has no port: $(cat "$T/ports")"

start listener "$CAT" -l -n 1 "127.0.0.1:$port"
wait_for listener 'bound sap=2 mtu=2048'
printf 'over serial\n' | "$CAT" -a 0.0.0.2 -c -w 1 "serial:$T/host:9600" > "$T/sender.out" 2> "$T/sender.log" \
    || fail "s5066cat on the serial line exited $?"
grep -q 'confirmed' "$T/sender.log" || fail "no confirmation: $(cat "$T/sender.log")"
wait_exit "$listener_pid" 20 || fail "listener exited $?"
grep -qx '0.0.0.1 2 1 11 over serial' "$T/listener.log" || fail "not received: $(cat "$T/listener.log")"
assert_grep sim 'sim bind node=alpha peer=.*simtty sap=2'

# the cable goes: logged once, the simulator stays up
kill "$socat_pid"
wait_for sim 'sim serial-hangup node=alpha'
kill -0 "$sim_pid" || fail "s5066sim died"
wait_for sim 'sim serial-failed node=alpha'
kill -TERM "$sim_pid"
wait_exit "$sim_pid" || fail "s5066sim exited with $?"
assert_count 1 sim 'sim serial-failed'
echo "PASS: sim_serial"
