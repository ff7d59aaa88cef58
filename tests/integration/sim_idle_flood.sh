#!/bin/sh
# sim_idle_flood.sh - issue 13: s5066sim serves a normal bind while
# hundreds of idle connections are open.  500 idle TCP connections to node
# alpha from 127.0.0.1; a SIS client from the same address binds within a
# short bound and a U_PDU passes alpha -> bravo; the simulator kept at most
# max_clients_per_address of that address, closing the oldest idle ones.
# Then 250 from 127.0.0.2 and 250 from 127.0.0.3 fill the node's table
# (max_clients): the oldest idle connections of the node make room, the
# bound client is never taken, and a second client still binds.  The
# closed-for-room lines are rate-limited per address, and SIGUSR1's
# statistics count every connection closed for room.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
SIM="$top_builddir/s5066/s5066sim"
[ -x "$SIM" ] || fail "no $SIM"

N=500
# the flood's descriptors (N at most at once) plus the clients and python's own
want=$((N + 64))
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt "$want" ]; then
    ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
    nofile=$(ulimit -n)
    [ "$nofile" = unlimited ] || [ "$nofile" -ge "$want" ] ||
        fail "this test needs $want file descriptors, and ulimit -n is $nofile (hard $(ulimit -Hn))"
fi

cat > "$T/net.conf" <<'CONF'
[channel]
rate = 2400
turnaround = 500ms
loss = 0
time_scale = 100
max_clients = 32
max_clients_per_address = 16

[node alpha]
address = 0.0.0.1
port = 0

[node bravo]
address = 0.0.0.2
port = 0
CONF

start sim "$SIM" -f -c "$T/net.conf" -p "$T/ports"
wait_for sim 'sim ready nodes=2'

"$PY" "$top_srcdir/tests/integration/sim_sis.py" idle_flood "$T/ports" "$N" 32 16 5 \
    > "$T/client.log" 2>&1 || fail "client scenario failed"
cat "$T/client.log"
closed=$(sed -n 's/^idle connections opened=[0-9]* closed_for_room=\([0-9]*\)$/\1/p' "$T/client.log")
[ -n "$closed" ] || fail "the scenario did not say how many connections were closed"
echo "# idle connections closed by the simulator to make room: $closed"

kill -0 "$sim_pid" || fail "s5066sim died"
kill -USR1 "$sim_pid"
wait_for sim "sim stats node=alpha .* closed_for_room=$closed clients=[0-9]+ refused=0\$"
assert_grep sim 'sim closed-for-room node=alpha peer=127\.0\.0\.1:[0-9]+ why=per-address bound=no idle_ms=[0-9]+ for=127\.0\.0\.1:[0-9]+'
assert_grep sim 'sim bind node=alpha peer=127\.0\.0\.1:[0-9]+ sap=2 '
assert_count 0 sim 'sim connect-refused'
assert_count 0 sim 'closed-for-room .*bound=yes'
if grep -q '^ok - table full' "$T/client.log"; then
    assert_grep sim 'sim closed-for-room node=alpha peer=127\.0\.0\.[12]:[0-9]+ why=table-full bound=no'
    assert_grep sim 'sim bind node=alpha peer=127\.0\.0\.1:[0-9]+ sap=3 '
fi
# rate-limited: a few lines per address and minute, not one per connection
lines=$(grep -c 'sim closed-for-room' "$T/sim.log")
[ "$lines" -le 30 ] || fail "$lines closed-for-room lines for $closed connections closed"
connects=$(grep -c 'sim connect ' "$T/sim.log")
[ "$connects" -le 40 ] || fail "$connects connect lines"
total=$(wc -l < "$T/sim.log")
[ "$total" -lt 200 ] || fail "$total log lines for a flood of idle connections"
echo "ok - $closed connections closed for room in $lines log lines ($total lines in all)"
kill -TERM "$sim_pid"
wait_exit "$sim_pid" || fail "s5066sim exited with $?"
echo "PASS: sim_idle_flood"
