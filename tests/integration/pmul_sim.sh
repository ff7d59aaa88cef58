#!/bin/sh
# pmul_sim.sh - P_MUL over STANAG 5066 end to end with real processes: an
# s5066sim network of four nodes at 2400 bps with 10% loss per copy and
# receiver, three pmulcat receivers and one sender of a 100 kB file of
# random bytes to all three (SAP 2, client header, app id 0x2000, one
# group address for the three).  Every receiver must store the file byte
# for byte, and the sender must report all three destinations acked.
#
# Time: s5066sim -s $SCALE runs the channel $SCALE times faster than real
# time, and pmulcat --time-scale $SCALE runs the P_MUL clock (pacing at
# 2400 bps, ACK_RE-TRANSMISSION_TIME 60 s, ack delays, TTLs) at the same
# speed, so the ACP 142 defaults stay as they would be on the air: about
# 700 s of radio time pass in about 35 s.
. "$top_srcdir/tests/integration/lib.sh"
SIM="$top_builddir/s5066/s5066sim"
PC="$top_builddir/pmul/pmulcat"
[ -x "$SIM" ] || fail "no $SIM"
[ -x "$PC" ] || fail "no $PC"
SCALE=${PMUL_SIM_SCALE:-20}

cat > "$T/net.conf" <<'CONF'
[channel]
rate = 2400
turnaround = 500ms
loss = 0.1
seed = 7

[group pmul]
address = 16.0.0.1

[node alpha]
address = 0.0.0.1
port = 0

[node bravo]
address = 0.0.0.2
port = 0
groups = pmul

[node charlie]
address = 0.0.0.3
port = 0
groups = pmul

[node delta]
address = 0.0.0.4
port = 0
groups = pmul
CONF

# One config for every node; -i picks the node.  pdu_overhead and
# turnaround: the sim's 16 bytes per copy and its 500 ms turnaround, so the
# engine paces at what the channel really carries.
cat > "$T/pmul.conf" <<'CONF'
[pmul]
rate = 2400
pdu_overhead = 16
turnaround = 500ms

[bearer]
kind = sis
sap = 2
client_header = yes
app_id = 0x2000
data_mode = nonarq
ack_mode = arq

[node alpha]
id = 1
address = 0.0.0.1

[node bravo]
id = 2
address = 0.0.0.2

[node charlie]
id = 3
address = 0.0.0.3

[node delta]
id = 4
address = 0.0.0.4

[group all]
address = 16.0.0.1
members = bravo, charlie, delta
CONF

"$PC" -C -c "$T/pmul.conf" -i alpha > "$T/check.log" 2>&1 || fail "config check: $(cat "$T/check.log")"

start sim "$SIM" -f -c "$T/net.conf" -s "$SCALE" -p "$T/ports"
wait_for sim 'sim ready nodes=4'
port() { awk -v n="$1" '$1 == n { print $2 }' "$T/ports"; }

head -c 102400 /dev/urandom > "$T/file.bin"

for n in bravo charlie delta; do
    mkdir "$T/rx-$n"
    start "$n" "$PC" -c "$T/pmul.conf" -i "$n" -s "127.0.0.1:$(port "$n")" -r "$T/rx-$n" \
        --time-scale "$SCALE"
done
for n in bravo charlie delta; do
    wait_for "$n" 'pmul bearer-up bearer=pmulcat kind=sis sap=2 mtu=2048 pdu_max=2042'
done

t0=$(date +%s)
start alpha "$PC" -c "$T/pmul.conf" -i alpha -s "127.0.0.1:$(port alpha)" -d bravo,charlie,delta \
    -f "$T/file.bin" --time-scale "$SCALE" -t 150
wait_exit "$alpha_pid" 160 || fail "the sender exited $? (not every destination acked)"
t1=$(date +%s)

assert_count 3 alpha '^sent .*/file\.bin msgid=[0-9]+ dest=(bravo|charlie|delta) result=acked$'
assert_grep alpha 'sent 1 of 1 message\(s\) to 3 destination\(s\): 3 acked, 0 failed'
# the loss was real: some Data_PDUs went out again
assert_grep alpha 'main stats .*data_resent=[1-9]'
# data to the group address, non-ARQ; acks unicast ARQ to alpha
assert_grep sim 'sim tx node=alpha .*dst=16\.0\.0\.1 .*mode=non-arq'
assert_grep sim 'sim tx node=bravo .*dst=0\.0\.0\.1 .*mode=arq'

for n in bravo charlie delta; do
    set -- "$T/rx-$n"/1-*
    [ $# -eq 1 ] && [ -f "$1" ] || fail "$n: want one file from node 1, have: $(ls "$T/rx-$n")"
    cmp "$T/file.bin" "$1" || fail "$n: the received file differs"
    assert_count 1 "$n" '^received src=1 msgid=[0-9]+ len=102400 '
done
grep -q 'pdu-bad' "$T"/*.log && fail "a bad PDU was logged"

for n in bravo charlie delta; do kill "$(eval echo \$${n}_pid)"; done
echo "PASS: pmul_sim: 100 kB to 3 nodes at 2400 bps, 10% loss, scale $SCALE, $((t1 - t0)) s"
exit 0
