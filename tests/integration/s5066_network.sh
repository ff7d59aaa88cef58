#!/bin/sh
# s5066_network.sh - s5066sim with three nodes (charlie in EMCON) and
# s5066cat clients on them, asserting what arrives where, exactly once:
#  - a client started before the simulator listens: connect refused, logged
#    once, retried with backoff, bound once the simulator is up, and bound
#    again after the simulator is restarted;
#  - unicast ARQ with delivery confirmation (in order, confirmed);
#  - a non-ARQ group U_PDU sent in 3 copies: once to each other member;
#  - an EMCON node: receives ARQ (once, unacknowledged: REJECTED reason 3
#    at the sender) and non-ARQ; its own client is held (SUBNET_AVAILABILITY
#    EMCON) and its U_PDU expires without going on the air;
#  - DATAFLOW_OFF back-pressure: a burst over max_queue turns flow off, the
#    client holds what it has not sent (nothing goes out between tx-held
#    and tx-resumed), nothing is rejected, every line arrives once, in order;
#  - a listener killed with SIGKILL: the simulator frees its SAP, a new
#    listener binds it at once and receives;
#  - a second bind on a taken SAP: BIND_REJECTED reason 3, retried with
#    backoff, while the first client keeps receiving.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need python3
SIM="$top_builddir/s5066/s5066sim"
CAT="$top_builddir/s5066/s5066cat"
[ -x "$SIM" ] || fail "no $SIM"
[ -x "$CAT" ] || fail "no $CAT"

# a fixed free port for alpha: its client starts before the simulator
PA=$(free_port)

cat > "$T/net.conf" <<CONF
[channel]
rate = 2400
turnaround = 500ms
loss = 0
seed = 7
time_scale = 20
# small: a burst of lines from one client turns flow off
max_queue = 1000
arq_retries = 3

[group ops]
address = 16.0.0.1

[node alpha]
address = 0.0.0.1
port = $PA
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
CONF

# port NODE - the node's TCP port from the simulator's port file
port() {
    awk -v n="$1" '$1 == n { print $2 }' "$T/ports"
}

# arrivals NAME TEXT - how many times a listener printed exactly this line
arrivals() {
    grep -cx "$2" "$T/$1.log"
}

# want_arrivals N NAME TEXT - a listener printed this line exactly N times
want_arrivals() {
    n=$(arrivals "$2" "$3")
    [ "$n" -eq "$1" ] || fail "$2 printed '$3' $n times, want $1"
}

# wait_count NAME N REGEX [SECONDS] - poll a log until N lines match
wait_count() {
    wname=$1 wn=$2 wpat=$3 wsecs=${4:-20}
    i=0
    while [ "$(grep -Ec "$wpat" "$T/$wname.log")" -lt "$wn" ]; do
        [ $i -lt $((wsecs * 20)) ] || fail "timed out after ${wsecs}s waiting for $wn lines /$wpat/ in $wname.log"
        sleep 0.05; i=$((i + 1))
    done
}

# send NAME RC ARGS... - a sender in the foreground, stdin from $T/NAME.in;
# its exit status must be RC
send() {
    sname=$1 want_rc=$2
    shift 2
    "$CAT" -w 0 -W 30 "$@" < "$T/$sname.in" > "$T/$sname.out" 2> "$T/$sname.log"
    rc=$?
    [ "$rc" -eq "$want_rc" ] || fail "sender $sname exited $rc, want $want_rc"
}

# 1. a client before the simulator: refused, retried with backoff
start la "$CAT" -v -l -W 120 "127.0.0.1:$PA"
wait_for la 'reconnect-wait link=s5066cat wait_ms=2000' 10
start sim "$SIM" -f -c "$T/net.conf" -p "$T/ports"
wait_for sim 'sim ready nodes=3'
PB=$(port bravo)
PC=$(port charlie)
[ "$(port alpha)" = "$PA" ] || fail "alpha is not on port $PA: $(cat "$T/ports")"
wait_for la 's5066 bound sap=2 mtu=2048' 10
assert_count 1 la 'connect-failed link=s5066cat peer=127\.0\.0\.1:[0-9]+ error="Connection refused"'
assert_count 1 la 's5066 bound sap=2'
echo "ok - a client started before the simulator logged connect-failed once, retried, bound"

# the listeners
start lb "$CAT" -l -W 120 "127.0.0.1:$PB"
start lc "$CAT" -l -W 120 "127.0.0.1:$PC"
start l6 "$CAT" -l -s 6 -n 24 -W 60 "127.0.0.1:$PB"
wait_for lb 's5066 bound sap=2'
wait_for lc 's5066 bound sap=2'
wait_for l6 's5066 bound sap=6'
assert_grep lc 's5066 subnet status=2 reason=1 emcon=yes'

# 2. unicast ARQ with confirmation: alpha/3 -> bravo/2
printf 'unicast one\nunicast two\n' > "$T/s1.in"
send s1 0 -s 3 -S 2 -a 0.0.0.2 -m arq -c "127.0.0.1:$PA"
assert_count 2 s1 'U_PDU [0-9]+ confirmed'
assert_grep s1 'sent 2, received 0, failed 0'
wait_for lb '^0\.0\.0\.1 3 1 11 unicast two$'
grep -nx '0.0.0.1 3 1 11 unicast one' "$T/lb.log" > /dev/null || fail "unicast one did not arrive"
one=$(grep -nx '0.0.0.1 3 1 11 unicast one' "$T/lb.log" | cut -d: -f1)
two=$(grep -nx '0.0.0.1 3 1 11 unicast two' "$T/lb.log" | cut -d: -f1)
[ "$one" -lt "$two" ] || fail "unicast lines out of order"
echo "ok - unicast ARQ delivered in order with source 0.0.0.1/3 and confirmed"

# 3. non-ARQ to the group in 3 copies: bravo and charlie (EMCON nodes receive)
printf 'to the group\n' > "$T/s2.in"
send s2 0 -s 3 -S 2 -a 16.0.0.1 -m nonarq -R 2 "127.0.0.1:$PA"
wait_for lb '^0\.0\.0\.1 3 2 12 to the group$'
wait_for lc '^0\.0\.0\.1 3 2 12 to the group$'
assert_grep sim 'sim tx node=alpha .*dst=16\.0\.0\.1 sap=2 mode=non-arq .*copies=3'
echo "ok - group U_PDU delivered to bravo and charlie"

# 4. EMCON: ARQ to charlie arrives but is never acknowledged; non-ARQ arrives
printf 'arq to emcon\n' > "$T/s3.in"
send s3 1 -s 3 -S 2 -a 0.0.0.3 -m arq -c "127.0.0.1:$PA"
assert_grep s3 'U_PDU 1 rejected \(reason 3\)'
assert_grep sim 'sim failed node=alpha .*dst=0\.0\.0\.3 .*mode=arq attempts=4'
wait_for lc '^0\.0\.0\.1 3 1 12 arq to emcon$'
printf 'non-arq to emcon\n' > "$T/s4.in"
send s4 0 -s 3 -S 2 -a 0.0.0.3 -m nonarq "127.0.0.1:$PA"
wait_for lc '^0\.0\.0\.1 3 2 16 non-arq to emcon$'
# charlie's own client: held, and its U_PDU dies in the client's queue
printf 'from emcon\n' > "$T/s5.in"
send s5 1 -s 4 -S 2 -a 0.0.0.1 -m nonarq -t 2 "127.0.0.1:$PC"
assert_grep s5 's5066 subnet status=2 reason=1 emcon=yes'
assert_grep s5 's5066 tx-held sap=4 why=emcon'
assert_grep s5 'U_PDU 1 expired'
grep -q 'sim tx node=charlie' "$T/sim.log" && fail "charlie (EMCON) transmitted"
echo "ok - EMCON node received ARQ (unacknowledged: rejected 3) and non-ARQ, sent nothing"

# 5. back-pressure: 12 lines of 100 bytes (> max_queue 1000) turn flow off;
# 12 more written once the client holds are sent only after DATAFLOW_ON
python3 -c 'import sys
for i in range(1, 25):
    sys.stdout.write("line %03d %s\n" % (i, "x" * 90))' > "$T/burst.txt"
mkfifo "$T/s6.fifo"
exec 3<> "$T/s6.fifo" # read-write: opening it does not wait for the reader
# (not through start: an asynchronous list without job control reads /dev/null)
"$CAT" -v -T s5066 -s 6 -a 0.0.0.2 -m arq -c -w 0 -W 60 "127.0.0.1:$PA" \
    < "$T/s6.fifo" > "$T/s6.log" 2>&1 3>&- &
s6_pid=$!
LIB_PIDS="$LIB_PIDS $s6_pid"
head -n 12 "$T/burst.txt" >&3
wait_for s6 's5066 tx-held sap=6 why=dataflow-off'
tail -n 12 "$T/burst.txt" >&3
exec 3>&-
wait_exit "$s6_pid" 30 || fail "back-pressure sender exited $?"
wait_exit "$l6_pid" 30 || fail "back-pressure listener exited $?"
assert_grep s6 's5066 tx-resumed sap=6 why=dataflow-on'
assert_count 24 s6 'U_PDU [0-9]+ confirmed'
assert_grep s6 'sent 24, received 0, failed 0'
# requests on the wire before the client first resumed: only the first 12
before=$(awk '/tx-resumed/ { exit } /tx type=S_UNIDATA_REQUEST/ { n++ } END { print n + 0 }' "$T/s6.log")
[ "$before" -eq 12 ] || fail "$before requests sent before DATAFLOW_ON, want 12"
grep -E '^0\.0\.0\.1 6 1 99 ' "$T/l6.log" | cut -d' ' -f5- > "$T/l6.got"
cmp -s "$T/burst.txt" "$T/l6.got" || { diff "$T/burst.txt" "$T/l6.got" | head; fail "back-pressure lines differ"; }
assert_grep sim 'sim flow-off node=alpha'
assert_grep sim 'sim flow-on node=alpha'
grep -q 'request-rejected' "$T/sim.log" && fail "the simulator rejected a request"
echo "ok - DATAFLOW_OFF held the client; 24 lines arrived once, in order"

# 6. a listener killed: its SAP is freed, a new one binds and receives
start lk1 "$CAT" -l -s 7 -W 60 "127.0.0.1:$PB"
wait_for lk1 's5066 bound sap=7'
printf 'before kill\n' > "$T/s7.in"
send s7 0 -s 3 -S 7 -a 0.0.0.2 -m arq -c "127.0.0.1:$PA"
wait_for lk1 '^0\.0\.0\.1 3 1 11 before kill$'
kill -9 "$lk1_pid"
wait_for sim 'sim unbind node=bravo peer=127\.0\.0\.1:[0-9]+ sap=7 why=disconnect'
start lk2 "$CAT" -l -s 7 -n 1 -W 30 "127.0.0.1:$PB"
wait_for lk2 's5066 bound sap=7'
printf 'after kill\n' > "$T/s8.in"
send s8 0 -s 3 -S 7 -a 0.0.0.2 -m arq -c "127.0.0.1:$PA"
wait_exit "$lk2_pid" 20 || fail "new listener exited $?"
assert_count 0 lk2 'bind-rejected'
want_arrivals 1 lk2 '0.0.0.1 3 1 10 after kill'
echo "ok - after kill -9 the SAP was free: a new listener bound and received"

# 7. a second bind on bravo's SAP 2: rejected (3), retried, gives up; the
# first keeps receiving
"$CAT" -l -W 4 "127.0.0.1:$PB" > "$T/dup.out" 2> "$T/dup.log" && fail "second bind on SAP 2 succeeded"
n=$(grep -c 's5066 bind-rejected sap=2 reason=3' "$T/dup.log")
[ "$n" -ge 2 ] || fail "second bind: $n BIND_REJECTED, want a retry (>= 2)"
assert_grep dup 's5066 rebind-wait sap=2 wait_ms=1000'
assert_grep dup 'gave up after 4 s'
[ -s "$T/dup.out" ] && fail "the rejected client printed arrivals"
assert_grep sim 'sim bind-rejected node=bravo peer=127\.0\.0\.1:[0-9]+ sap=2 reason=3 why=sap-in-use'
printf 'after second bind\n' > "$T/s9.in"
send s9 0 -s 3 -S 2 -a 0.0.0.2 -m arq -c "127.0.0.1:$PA"
wait_for lb '^0\.0\.0\.1 3 1 17 after second bind$'
echo "ok - a second bind on a taken SAP was rejected with reason 3 and retried; the first still receives"

# 8. bravo -> alpha: the early client receives
printf 'to alpha\n' > "$T/s10.in"
send s10 0 -s 3 -S 2 -a 0.0.0.1 -m arq -c "127.0.0.1:$PB"
wait_for la '^0\.0\.0\.2 3 1 8 to alpha$'

# exactly once: every later U_PDU has arrived, so any duplicate would have too
want_arrivals 1 lb '0.0.0.1 3 1 11 unicast one'
want_arrivals 1 lb '0.0.0.1 3 1 11 unicast two'
want_arrivals 1 lb '0.0.0.1 3 2 12 to the group'
want_arrivals 1 lb '0.0.0.1 3 1 17 after second bind'
want_arrivals 1 lc '0.0.0.1 3 2 12 to the group'
want_arrivals 1 lc '0.0.0.1 3 1 12 arq to emcon'
want_arrivals 1 lc '0.0.0.1 3 2 16 non-arq to emcon'
want_arrivals 1 la '0.0.0.2 3 1 8 to alpha'
n=$(grep -cE '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+ ' "$T/la.log")
[ "$n" -eq 1 ] || fail "alpha's listener printed $n arrivals, want 1 (not its own group U_PDU, nothing from EMCON)"
n=$(grep -cE '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+ ' "$T/lb.log")
[ "$n" -eq 4 ] || fail "bravo's listener printed $n arrivals, want 4"
n=$(grep -cE '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+ ' "$T/lc.log")
[ "$n" -eq 3 ] || fail "charlie's listener printed $n arrivals, want 3"
echo "ok - every U_PDU arrived exactly once where it was sent"

# 9. the simulator restarts: the early client reconnects and binds again
kill -0 "$sim_pid" || fail "s5066sim died"
kill -TERM "$sim_pid"
wait_exit "$sim_pid" || fail "s5066sim exited with $?"
wait_for la 's5066 link-down link=s5066cat why="hang-up"'
start sim2 "$SIM" -f -c "$T/net.conf" -p "$T/ports2"
wait_for sim2 'sim ready nodes=3'
wait_count la 2 's5066 bound sap=2 mtu=2048' 10
printf 'after restart\n' > "$T/s11.in"
send s11 0 -s 3 -S 2 -a 0.0.0.1 -m arq -c "127.0.0.1:$PA"
wait_for la '^0\.0\.0\.1 3 1 13 after restart$'
want_arrivals 1 la '0.0.0.1 3 1 13 after restart'
echo "ok - after the simulator restarted the client reconnected, bound and received"
kill -TERM "$sim2_pid"
wait_exit "$sim2_pid" || fail "s5066sim exited with $?"
echo "PASS: s5066_network"
