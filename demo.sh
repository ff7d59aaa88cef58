#!/bin/sh
# demo.sh - mule5066's first command: a simulated STANAG 5066 HF network on
# this machine, first with raw SIS clients, then carrying mail.  Installs what is missing (Debian 12, as root), builds,
# starts s5066sim with three nodes on one 2400 bps channel with 5% loss,
# and exchanges messages between s5066cat clients: a unicast ARQ message
# with delivery confirmation, a group message (non-ARQ), and traffic to and
# from a node in EMCON (radio silence).  Shows what arrived and the
# channel statistics.  Then the mission: three mulegw gateways on the same
# network, mail into the first over SMTP (a message to two nodes, an
# MT-PRIORITY urgent message overtaking a large routine one, one to a node
# in EMCON that is released later), what each node delivered, and the log
# lines that follow one message from SMTP queue id to P_MUL ids to 5066
# addresses.  Stops everything it started.
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
    [ -n "${DEMO_KEEP:-}" ] || rm -rf "$work"
}
trap stop EXIT
[ -n "${DEMO_KEEP:-}" ] && echo "demo: keeping $work"
trap 'exit 1' INT TERM

# wait_line FILE REGEX [SECONDS] - until FILE has a matching line (30 s by default)
wait_line() {
    i=0
    until grep -Eq "$2" "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt $((${3:-30} * 20)) ] || { echo "demo: timed out waiting for /$2/ in $1" >&2; exit 1; }
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

# ---------------------------------------------------------------------------
# Part 2: the mission - mail over HF.  The same three nodes, each with a
# mulegw gateway and a stand-in LAN MTA; charlie in EMCON until released.
# ---------------------------------------------------------------------------
kill "$sim" 2>/dev/null || true
GW="$build/smtp-gw/mulegw"
SINK="$top/tests/integration/smtp_sink.py"
mscale=${DEMO_MAIL_SCALE:-10}
sed "s/^time_scale = .*/time_scale = $mscale/" "$work/net.conf" > "$work/mail-net.conf"
echo
echo "== mail over HF: three mulegw gateways on the same network (radio time x$mscale) =="
"$SIM" -f -c "$work/mail-net.conf" -p "$work/mail-ports" > "$work/mail-sim.log" 2>&1 &
msim=$!
pids="$pids $msim"
wait_line "$work/mail-sim.log" 'sim ready nodes=3'
mport() { awk -v n="$1" '$1 == n { print $2 }' "$work/mail-ports"; }
nid=1
for n in alpha bravo charlie; do
    python3 "$SINK" --portfile "$work/sink-$n.port" --dir "$work/lan-$n" > "$work/lan-$n.log" 2>&1 &
    pids="$pids $!"
    wait_line "$work/lan-$n.log" '^READY'
    emcon=""
    [ $n = alpha ] && emcon="emcon_nodes = 0.0.0.3"
    cat > "$work/gw-$n.conf" <<GWCONF
[mulegw]
hostname = gw-$n.example
spool = $work/spool-$n
$emcon
[smtp]
listen = 127.0.0.1:0
[lan]
relay = 127.0.0.1:$(cat "$work/sink-$n.port")
[mule]
local_domains = $n.example
[route alpha.example]
node = 0.0.0.1
[route bravo.example]
node = 0.0.0.2
[route charlie.example]
node = 0.0.0.3
[pmul]
node_id = 0.0.0.$nid
rate = 2400
ack_retransmission_time = 30s
emcon_rti = 2m
[bearer]
kind = sis
target = 127.0.0.1:$(mport $n)
time_scale = $mscale
[node alpha]
id = 0.0.0.1
address = 0.0.0.1
[node bravo]
id = 0.0.0.2
address = 0.0.0.2
[node charlie]
id = 0.0.0.3
address = 0.0.0.3
[group ops]
address = 16.0.0.1
members = alpha, bravo, charlie
GWCONF
    "$GW" -f -c "$work/gw-$n.conf" -p "$work/gw-$n.smtp" > "$work/gw-$n.log" 2>&1 &
    pids="$pids $!"
    nid=$((nid + 1))
done
for n in alpha bravo charlie; do wait_line "$work/gw-$n.log" 'smtpgw bearer-up'; done
echo "   alpha, bravo and charlie are bound to their 5066 nodes; charlie is in EMCON"

cat > "$work/send.py" <<'PYSEND'
import random, smtplib, string, sys
port = int(open(sys.argv[1]).read().split()[1])
def send(subject, to, body, opts=()):
    msg = "From: ops@alpha.example\r\nTo: %s\r\nSubject: %s\r\n\r\n%s" % (", ".join(to), subject, body)
    with smtplib.SMTP("127.0.0.1", port) as s:
        s.sendmail("ops@alpha.example", to, msg, mail_options=list(opts))
    print("   sent: %-34s to %s%s" % (subject, ", ".join(to), " " + " ".join(opts) if opts else ""))
send("SITREP 1 (to two nodes)", ["bob@bravo.example", "carol@charlie.example"], "All stations: situation normal.\r\n")
random.seed(7)
bulk = "".join("".join(random.choice(string.ascii_letters) for _ in range(76)) + "\r\n" for _ in range(300))
send("Routine logistics annex (large)", ["bob@bravo.example"], bulk)
send("FLASH: change of frequency", ["bob@bravo.example"], "Shift to the alternate at 1300Z.\r\n", ["MT-PRIORITY=6"])
send("To charlie, in EMCON", ["carol@charlie.example"], "Acknowledge when EMCON is lifted.\r\n")
PYSEND
echo
echo "== mail into alpha over SMTP =="
python3 "$work/send.py" "$work/gw-alpha.smtp"

wait_line "$work/lan-bravo.log" 'MSG 3 ' 180
wait_line "$work/lan-charlie.log" 'MSG 2 ' 180
echo
echo "== charlie's LAN has its mail (received in EMCON); alpha still waits for charlie's acks =="
echo "   acks from charlie so far: $(grep -c 'dest-done .*dest=0.0.0.3 result=acked' "$work/gw-alpha.log")"
echo "   lifting EMCON at charlie (s5066cat -E off, a management client on its node)"
"$CAT" -E off -s 15 -W 20 "127.0.0.1:$(mport charlie)" 2>&1 | grep '^s5066cat: EMCON' | sed 's/^/   /'
k=0
while [ "$(grep -c 'dest-done .*dest=0.0.0.3 result=acked' "$work/gw-alpha.log")" -lt 2 ] && [ $k -lt 1800 ]; do
    sleep 0.1
    k=$((k + 1))
done
echo "   acks from charlie now: $(grep -c 'dest-done .*dest=0.0.0.3 result=acked' "$work/gw-alpha.log")"

echo
echo "== what each node's LAN MTA received, in order =="
for n in alpha bravo charlie; do
    echo "-- $n:"
    for f in $(ls "$work/lan-$n" 2>/dev/null | grep '\.eml$' | sort -n); do
        grep -m1 '^Subject:' "$work/lan-$n/$f" | sed 's/^/   /'
    done
done
echo
echo "== one message followed: SMTP queue id -> P_MUL ids -> 5066 addresses -> far queue ids =="
qid=$(grep -m1 -o 'queued qid=[0-9A-F]*' "$work/gw-alpha.log" | cut -d= -f2)
msgid=$(grep -m1 -o "submitted qid=$qid src=[0-9.]* msgid=[0-9]*" "$work/gw-alpha.log" | sed 's/.*msgid=//')
strip() { sed 's/^[^ ]* *[a-z]* *//; s/^/   /'; }
grep -E "qid=$qid" "$work/gw-alpha.log" | grep -E 'queued|submitted|dest-done' | strip
grep -E "sim tx node=alpha .*dst=16\.0\.0\.1" "$work/mail-sim.log" | head -2 | strip
for n in bravo charlie; do
    grep -E "received qid=[0-9A-F]+ src=0\.0\.0\.1 msgid=$msgid " "$work/gw-$n.log" | strip
    fq=$(grep -m1 -o "received qid=[0-9A-F]* src=0\.0\.0\.1 msgid=$msgid " "$work/gw-$n.log" | sed 's/received qid=\([0-9A-F]*\).*/\1/')
    [ -n "$fq" ] && grep -E "smtpgw delivered qid=$fq" "$work/gw-$n.log" | strip
done
echo
echo "demo: done; stopping the simulators, gateways and clients"
