#!/bin/sh
# pmul_oracle.sh - the wire judge (tests/wire/wire_judge.py: Wireshark's
# s5066sis and p_mul dissectors and our own STANAG 5066 Annex A and ACP 142
# checks) judges our P_MUL over SIS bytes: capture a live transfer between
# pmulcat processes through s5066sim (three nodes, no loss; a 6 kB file from
# alpha to bravo and charlie: Address_PDU and Data_PDUs to the group,
# Ack_PDUs back, the Ack-Ack) on the simulator's loopback ports, judged with
# -m none (the payload is not MULE).  Every P_MUL PDU must be handed from SIS
# to the p_mul dissector (SAP 2, client header, app id 0x2000), none
# malformed, no warnings (Wireshark's bad checksum is one), every Annex B-3
# checksum and Length_of_PDU right as the judge recomputes them, PDUs of
# each type (Address, Data, Ack) present and the message reassembled.
. "$top_srcdir/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY" tshark
JUDGE="$top_srcdir/tests/wire/wire_judge.py"
SIM="$top_builddir/s5066/s5066sim"
PC="$top_builddir/pmul/pmulcat"
SCALE=20

cat > "$T/net.conf" <<'CONF'
[channel]
rate = 2400
loss = 0
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
CONF
cat > "$T/pmul.conf" <<'CONF'
[pmul]
pdu_overhead = 16
turnaround = 500ms
[bearer]
kind = sis
[node alpha]
id = 1
address = 0.0.0.1
[node bravo]
id = 2
address = 0.0.0.2
[node charlie]
id = 3
address = 0.0.0.3
[group all]
address = 16.0.0.1
members = bravo, charlie
CONF

start sim "$SIM" -f -c "$T/net.conf" -s "$SCALE" -p "$T/ports"
wait_for sim 'sim ready nodes=3'
port() { awk -v n="$1" '$1 == n { print $2 }' "$T/ports"; }
PA=$(port alpha) PB=$(port bravo) PCH=$(port charlie)
start_capture cap "tcp port $PA or tcp port $PB or tcp port $PCH"

head -c 6000 /dev/urandom > "$T/file.bin"
for n in bravo charlie; do
    mkdir "$T/rx-$n"
    start "$n" "$PC" -c "$T/pmul.conf" -i "$n" -s "127.0.0.1:$(port "$n")" -r "$T/rx-$n" -n 1 \
        --time-scale "$SCALE" -t 60
done
for n in bravo charlie; do wait_for "$n" 'pmul bearer-up'; done
start alpha "$PC" -c "$T/pmul.conf" -i alpha -s "127.0.0.1:$PA" -d bravo,charlie -f "$T/file.bin" \
    --time-scale "$SCALE" -t 60
wait_exit "$alpha_pid" 70 || fail "the sender exited $?"
# the receivers exit once they have seen the Ack-Ack (or a quiet spell)
for n in bravo charlie; do
    wait_exit "$(eval echo \$${n}_pid)" 70 || fail "$n exited $?"
    cmp "$T/file.bin" "$T/rx-$n"/1-* || fail "$n: the received file differs"
done
assert_count 2 alpha '^sent .* result=acked$'
stop_capture cap

"$PY" "$JUDGE" -m none -p "$PA" -p "$PB" -p "$PCH" -x 'sis>=10' -x 'pmul>=1' \
    -x 'pmul_address>=1' -x 'pmul_data>=1' -x 'pmul_ack>=1' -x 'pmul_msgs==1' \
    --save-messages "$T" "$T/cap.pcap" > "$T/judge.log" 2>&1 \
    || fail "the wire judge rejected the capture (exit $?)"
tail -n 12 "$T/judge.log"
# the one message the judge reassembled itself from the Data_PDUs on the
# air (P_MUL Source_ID 0.0.0.1, alpha's id 1) is the file
set -- "$T"/0.0.0.1-*.bin
[ $# -eq 1 ] && [ -f "$1" ] || fail "the judge saved no message from alpha: $*"
cmp "$1" "$T/file.bin" || fail "the P_MUL message on the air is not the file"
exit 0
