#!/bin/sh
# demo.sh - mule5066's first command: a simulated STANAG 5066 HF network on
# this machine.  Installs what is missing (Debian 12, as root), builds,
# starts s5066sim with three nodes on one 2400 bps channel with 5% loss,
# and exchanges messages between s5066cat clients: a unicast ARQ message
# with delivery confirmation, a group message (non-ARQ), and traffic to and
# from a node in EMCON (radio silence).  Shows what arrived and the
# channel statistics, then stops everything it started.
#   ./demo.sh            # real time: about a minute
#   DEMO_SCALE=10 ./demo.sh   # the simulated radio ten times faster
set -eu
cd "$(dirname "$0")"
top=$(pwd)
build=${BUILD_DIR:-$top/build}
scale=${DEMO_SCALE:-1}

. "$top/tests/debian-deps.sh"
install_debian_deps

if [ ! -x "$build/s5066/s5066sim" ] || [ ! -x "$build/s5066/s5066cat" ]; then
    echo "== building (once) =="
    ./autogen.sh > /dev/null
    mkdir -p "$build"
    (cd "$build" && "$top/configure" > /dev/null && make -j"$(nproc)" > /dev/null)
fi
SIM="$build/s5066/s5066sim"
CAT="$build/s5066/s5066cat"

work=$(mktemp -d "${TMPDIR:-/tmp}/mule5066-demo.XXXXXX")
pids=""
# stop - stop everything this script started
stop() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    for p in $pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap stop EXIT
trap 'exit 1' INT TERM

# wait_line FILE REGEX - until FILE has a matching line (30 s at most)
wait_line() {
    i=0
    until grep -Eq "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 600 ] || { echo "demo: timed out waiting for /$2/ in $1" >&2; exit 1; }
        sleep 0.05
    done
}

cat > "$work/net.conf" <<EOF
# The demo network: three nodes, one group, charlie in EMCON.
[channel]
rate = 2400
turnaround = 500ms
loss = 0.05
seed = 42
time_scale = $scale

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
emcon = yes
EOF

echo "== s5066sim: alpha 0.0.0.1, bravo 0.0.0.2, charlie 0.0.0.3 (EMCON); group ops 16.0.0.1; 2400 bps, 5% loss =="
"$SIM" -f -c "$work/net.conf" -p "$work/ports" > "$work/sim.log" 2>&1 &
sim=$!
pids="$pids $sim"
wait_line "$work/sim.log" 'sim ready nodes=3'
port() { awk -v n="$1" '$1 == n { print $2 }' "$work/ports"; }
A="127.0.0.1:$(port alpha)" B="127.0.0.1:$(port bravo)" C="127.0.0.1:$(port charlie)"

# listeners on bravo and charlie print what arrives at their SAP 2
"$CAT" -l "$B" > "$work/bravo.out" 2> "$work/bravo.log" &
pids="$pids $!"
"$CAT" -l "$C" > "$work/charlie.out" 2> "$work/charlie.log" &
pids="$pids $!"
wait_line "$work/bravo.log" 'bound, MTU'
wait_line "$work/charlie.log" 'bound, MTU'

echo
echo "== 1. alpha -> bravo, unicast ARQ with delivery confirmation =="
printf 'Hello bravo, this is alpha. Over.\n' | "$CAT" -a 0.0.0.2 -m arq -c -p 4 -w 1 -W 60 "$A" 2>&1 | grep -E '^s5066cat: ' | sed 's/^/   /' || true

echo
echo "== 2. alpha -> group ops (16.0.0.1), non-ARQ with 2 extra copies =="
printf 'To all stations of ops: net check at 1200Z.\n' | "$CAT" -a 16.0.0.1 -m nonarq -R 2 -w 2 -W 60 "$A" 2>&1 | grep -E '^s5066cat: ' | sed 's/^/   /' || true

echo
echo "== 3. alpha -> charlie, who is in EMCON: it receives (non-ARQ), but may not answer =="
printf 'Charlie, stay silent; acknowledge after EMCON.\n' | "$CAT" -a 0.0.0.3 -m nonarq -R 1 -w 2 -W 60 "$A" 2>&1 | grep -E '^s5066cat: ' | sed 's/^/   /' || true
echo "   charlie tries to answer alpha (TTL 10 s); its 5066 server holds it: radio silence"
printf 'Roger (should not go out)\n' | "$CAT" -s 3 -S 2 -a 0.0.0.1 -m arq -c -t 10 -w 0 -W 30 "$C" > /dev/null 2> "$work/charlie-tx.log" || true
grep -E 'subnet status=2 reason=1|expired|tx-held' "$work/charlie-tx.log" | sed 's/^[^ ]* /   /' || true

# everything addressed to the listeners has arrived when they have it
wait_line "$work/bravo.out" 'net check'
wait_line "$work/charlie.out" 'EMCON'

echo
echo "== what arrived (source address, SAP, tx mode, bytes, text) =="
echo "-- at bravo:"
sed 's/^/   /' "$work/bravo.out"
echo "-- at charlie (in EMCON):"
sed 's/^/   /' "$work/charlie.out"

echo
echo "== channel statistics (s5066sim, SIGUSR1) =="
kill -USR1 "$sim"
wait_line "$work/sim.log" 'sim stats node=charlie'
grep 'sim stats' "$work/sim.log" | sed 's/^[^ ]* *[a-z]* *//; s/^/   /'
echo
echo "== each transmission, as the simulator logged it =="
grep 'sim tx ' "$work/sim.log" | sed 's/^[^ ]* *[a-z]* *//; s/^/   /' | head -20
echo
echo "demo: done; stopping s5066sim and the clients"
