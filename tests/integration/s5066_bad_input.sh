#!/bin/sh
# s5066_bad_input.sh - bad input leaves s5066sim and the SIS client
# (s5066cat) running, each bad peer logged once per kind of problem:
#  - s5066sim: garbage, truncated primitives, a size of 0xFFFF, unknown
#    types, a peer closing mid-primitive and a peer that never stops, each
#    from its own connection (sis_bad_peer.py): each connection still served
#    (KEEP_ALIVE answered) or unbound with reason 3 at the limit, and no
#    event logged twice for one peer address:port;
#  - 1000 concurrent connections from one address: it keeps
#    max_clients_per_address of them, closing the oldest idle ones to make
#    room, in a few rate-limited lines; out of file descriptors (ulimit -n
#    64, max_clients 1024) the simulator sheds them instead of spinning on
#    accept(), logged in one line and a summary;
#  - afterwards a pair of s5066cat clients still exchanges U_PDUs;
#  - s5066cat against a scripted server (sis_fake_server.py --bad-input
#    --cut-after 1): garbage and bad primitives logged once per connection,
#    a summary at link-down, the half primitive before the hang-up counted;
#    it reconnects, and every line is delivered and confirmed once.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need python3
SIM="$top_builddir/s5066/s5066sim"
CAT="$top_builddir/s5066/s5066cat"
BAD="$top_srcdir/tests/integration/sis_bad_peer.py"
FAKE="$top_srcdir/tests/integration/sis_fake_server.py"
[ -x "$SIM" ] || fail "no $SIM"
[ -x "$CAT" ] || fail "no $CAT"

# 1000 sockets for the flood (and the simulator's 32 + 3 of them)
N=1000
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt $((N + 100)) ]; then
    N=$((nofile - 100))
    echo "# fd limit $nofile: flooding with $N connections"
fi

cat > "$T/net.conf" <<'CONF'
[channel]
rate = 2400
time_scale = 100
loss = 0
max_clients = 32

[node alpha]
address = 0.0.0.1
port = 0

[node bravo]
address = 0.0.0.2
port = 0
CONF

# port FILE NODE - a node's port from a port file
port() {
    awk -v n="$2" '$1 == n { print $2 }' "$1"
}

# per_peer_once LOG PEER - no event is logged twice for one peer (host:port)
per_peer_once() {
    awk -v p="peer=$2" '{ for (i = 5; i <= NF; i++) if ($i == p) { n[$4]++; break } }
        END { for (e in n) if (n[e] > 1) { print e " " n[e]; bad = 1 } exit bad }' "$T/$1.log" \
        > "$T/twice.txt" || fail "$2 logged more than once per event: $(cat "$T/twice.txt")"
}

# stats_until LOG PID REGEX - SIGUSR1 until a statistics line matches REGEX
# (connections closing are not all logged: past 10 per address and minute
# their lines are debug)
stats_until() {
    i=0
    until grep -Eq "$3" "$T/$1.log"; do
        [ $i -lt 100 ] || fail "$1.log: no statistics line matching /$3/"
        kill -USR1 "$2"; sleep 0.1; i=$((i + 1))
    done
}

# pair SIM_PORTFILE TAG - a well-behaved s5066cat pair still works: alpha -> bravo, 3 lines
pair() {
    pa=$(port "$1" alpha) pb=$(port "$1" bravo)
    start "rx$2" "$CAT" -l -s 9 -n 3 -W 30 "127.0.0.1:$pb"
    wait_for "rx$2" 's5066 bound sap=9'
    printf 'after %s 1\nafter %s 2\nafter %s 3\n' "$2" "$2" "$2" |
        "$CAT" -s 9 -a 0.0.0.2 -m arq -c -w 0 -W 30 "127.0.0.1:$pa" > "$T/tx$2.out" 2> "$T/tx$2.log" ||
        fail "sender after $2 exited $?"
    assert_count 3 "tx$2" 'U_PDU [0-9]+ confirmed'
    eval "rxpid=\$rx${2}_pid"
    wait_exit "$rxpid" 20 || fail "listener after $2 exited $?"
    grep -E '^0\.0\.0\.1 9 1 ' "$T/rx$2.log" | cut -d' ' -f5- > "$T/rx$2.got"
    printf 'after %s 1\nafter %s 2\nafter %s 3\n' "$2" "$2" "$2" | cmp -s - "$T/rx$2.got" ||
        fail "after $2: the pair got $(cat "$T/rx$2.got")"
}

start sim "$SIM" -f -c "$T/net.conf" -p "$T/ports"
wait_for sim 'sim ready nodes=2'
PA=$(port "$T/ports" alpha)
PB=$(port "$T/ports" bravo)

# 1. N connections at once to bravo from 127.0.0.1: 16 kept
# (max_clients_per_address), the oldest idle ones closed to make room
rm -f "$T/release"
start flood python3 "$BAD" flood "$PB" "$N" "$T/release" 16
wait_for flood '^flood settled' 40
touch "$T/release"
wait_exit "$flood_pid" 30 || fail "flood exited $?"
closed=$((N - 16))
assert_count 0 sim 'sim connect-refused'
assert_count 5 sim "sim closed-for-room node=bravo peer=127\.0\.0\.1:[0-9]+ why=per-address bound=no"
n=$(grep -c 'sim connect node=bravo' "$T/sim.log")
[ "$n" -le 20 ] || fail "$n connect lines for $N connections"
stats_until sim "$sim_pid" "sim stats node=bravo .*closed_for_room=$closed clients=0 refused=0\$"
lines=$(wc -l < "$T/sim.log")
[ "$lines" -lt 150 ] || fail "$lines log lines after a flood of $N connections"
echo "ok - $N connections: 16 kept, $closed closed for room, $lines log lines"

# 2. one connection per kind of bad input, to alpha
python3 "$BAD" kinds "$PA" > "$T/kinds.log" 2>&1 || fail "bad peers: $(tail -n 3 "$T/kinds.log")"
cat "$T/kinds.log"
for k in garbage truncated size-ffff unknown-type mid-primitive persistent; do
    p=$(awk -v k="$k" '$1 == "peer" && $2 == k { print $3 }' "$T/kinds.log")
    [ -n "$p" ] || fail "no peer address for $k"
    eval "peer_$(echo "$k" | tr - _)=\$p"
    # the last line about each: the summary at close (none for a peer
    # that sent nothing bad: its disconnect)
    if [ "$k" = mid-primitive ]; then
        wait_for sim "sim disconnect node=alpha peer=$p "
    else
        wait_for sim "sim conn-summary node=alpha peer=$p "
    fi
done
for k in garbage truncated size-ffff unknown-type mid-primitive persistent; do
    per_peer_once sim "$(awk -v k="$k" '$1 == "peer" && $2 == k { print $3 }' "$T/kinds.log")"
done
# what each was logged for
assert_count 1 sim "sim garbage node=alpha peer=$peer_garbage skipped=[0-9]+"
assert_count 1 sim "sim conn-summary node=alpha peer=$peer_garbage garbage=8192 bad=0"
assert_count 1 sim "sim pdu-bad node=alpha peer=$peer_truncated what=undecodable"
assert_count 1 sim "sim conn-summary node=alpha peer=$peer_truncated garbage=0 bad=3"
assert_count 1 sim "sim pdu-bad node=alpha peer=$peer_size_ffff what=undecodable"
assert_count 1 sim "sim conn-summary node=alpha peer=$peer_size_ffff garbage=0 bad=1"
assert_count 1 sim "sim pdu-bad node=alpha peer=$peer_unknown_type what=undecodable"
assert_count 1 sim "sim conn-summary node=alpha peer=$peer_unknown_type garbage=0 bad=3"
assert_count 1 sim "sim peer-closed node=alpha peer=$peer_mid_primitive partial_bytes=105\$"
assert_count 0 sim "peer=$peer_mid_primitive .*(pdu-bad|garbage)"
assert_count 1 sim "sim pdu-bad node=alpha peer=$peer_persistent what=undecodable"
assert_count 1 sim "sim unbind-indication node=alpha peer=$peer_persistent reason=3 why=too-many-invalid bad=5 max=5"
assert_count 1 sim "sim conn-summary node=alpha peer=$peer_persistent garbage=0 bad=5"
echo "ok - each bad peer logged once per kind of problem"

# 3. the simulator still serves
kill -0 "$sim_pid" || fail "s5066sim died"
pair "$T/ports" flood
echo "ok - after the bad peers a pair of s5066cat clients still works"

# 4. out of file descriptors: the simulator sheds connections and recovers
sed 's/^max_clients = 32$/max_clients = 1024\nmax_clients_per_address = 1024/' "$T/net.conf" > "$T/fd.conf"
start simfd sh -c 'ulimit -n 64 && exec "$0" -f -c "$1" -p "$2"' "$SIM" "$T/fd.conf" "$T/fdports"
wait_for simfd 'sim ready nodes=2'
fpid=$simfd_pid
if [ -d "/proc/$fpid/fd" ]; then
    used=$(ls "/proc/$fpid/fd" | awk '$1 < 64' | wc -l)
    keep=$((64 - used))
    rm -f "$T/release"
    start flood2 python3 "$BAD" flood "$(port "$T/fdports" bravo)" "$N" "$T/release" "$keep"
    wait_for flood2 '^flood settled' 40
    kill -0 "$fpid" || fail "s5066sim died out of descriptors"
    assert_count 1 simfd "sim connect-refused node=bravo peer=127\.0\.0\.1:[0-9]+ why=out-of-descriptors"
    assert_count 0 simfd 'accept-failed'
    touch "$T/release"
    wait_exit "$flood2_pid" 30 || fail "flood exited $?"
    stats_until simfd "$fpid" "sim stats node=bravo .*clients=0 refused=$((N - keep))\$"
    # the refusals were summarised (one line per 10 s at most)
    wait_for simfd "sim connect-refused-summary node=bravo refused=$((N - keep - 1)) period_s=10 max=1024 total=$((N - keep))" 15
    pair "$T/fdports" fdlimit
    echo "ok - out of descriptors: $keep served, $((N - keep)) shed, logged once; it serves again"
else
    echo "# no /proc: out-of-descriptor check skipped"
fi
kill -TERM "$fpid"
wait_exit "$fpid" || fail "s5066sim (fd limit) exited with $?"

# 5. the client: bad input on every connection, a hang-up mid-primitive
rm -f "$T/fake.port"
start fake python3 "$FAKE" --portfile "$T/fake.port" --bad-input --cut-after 1 --connections 2
wait_for fake '^READY'
printf 'one\ntwo\nthree\n' |
    "$CAT" -a 0.0.0.1 -c -w 1 -W 30 "127.0.0.1:$(cat "$T/fake.port")" > "$T/cat.out" 2> "$T/cat.log" ||
    fail "s5066cat exited $?"
assert_count 2 fake '^ACCEPT'
assert_count 1 fake '^CUT$'
assert_count 1 fake 'data=6f6e65$'
assert_count 1 fake 'data=74776f$'
assert_count 1 fake 'data=7468726565$'
assert_count 2 cat 's5066 garbage link=s5066cat bytes=[0-9]+'
assert_count 2 cat 's5066 bad-primitive link=s5066cat error="S_Primitive size beyond the limit"'
assert_count 1 cat 's5066 link-down link=s5066cat why="hang-up" garbage_bytes=119 bad_primitives=7 partial_bytes=9'
assert_count 1 cat 's5066 link-down link=s5066cat why="shutdown" garbage_bytes=119 bad_primitives=7 partial_bytes=0'
assert_count 2 cat 's5066 bound sap=2'
assert_count 3 cat 'U_PDU [0-9]+ confirmed'
assert_grep cat 'sent 3, received 3, failed 0'
printf '0.0.0.9 2 1 3 ONE\n0.0.0.9 2 1 3 TWO\n0.0.0.9 2 1 5 THREE\n' | cmp -s - "$T/cat.out" ||
    fail "s5066cat printed: $(cat "$T/cat.out")"
echo "ok - s5066cat: bad input logged once per connection, reconnected, every line once"

kill -0 "$sim_pid" || fail "s5066sim died"
kill -TERM "$sim_pid"
wait_exit "$sim_pid" || fail "s5066sim exited with $?"
echo "PASS: s5066_bad_input"
