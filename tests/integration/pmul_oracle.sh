#!/bin/sh
# pmul_oracle.sh - Wireshark judges our P_MUL over SIS bytes: capture a
# live transfer between pmulcat processes through s5066sim (three nodes,
# no loss; a 6 kB file from alpha to bravo and charlie: Address_PDU and
# Data_PDUs to the group, Ack_PDUs back, the Ack-Ack) on the simulator's
# loopback ports, and run ../shared/oracle over it with -m none (the
# payload is not MULE).  Every P_MUL PDU must be handed from SIS to the
# p_mul dissector (SAP 2, client header, app id 0x2000), none malformed,
# no warnings (a bad checksum is one), and tshark must find every checksum
# good.
. "$top_srcdir/tests/integration/lib.sh"
need python3 tshark
ORACLE="$top_srcdir/../shared/oracle/oracle.sh"
[ -f "$ORACLE" ] || { echo "SKIP: $ORACLE not found"; exit 77; }
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
pdu_overhead = 166
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

bash "$ORACLE" -m none -p "$PA" -p "$PB" -p "$PCH" -x 'pmul>=1' -x 'sis>=10' "$T/cap.pcap" \
    > "$T/oracle.log" 2>&1 || fail "oracle rejected the capture (exit $?)"
cat "$T/oracle.log" | tail -n 3
assert_grep oracle 'malformed: 0, warnings: 0'

# every P_MUL PDU's checksum, as Wireshark computes it
tshark -n -r "$T/cap.pcap" -d "tcp.port==$PA,s5066sis" -d "tcp.port==$PB,s5066sis" \
    -d "tcp.port==$PCH,s5066sis" -o s5066sis.desegment_pdus:TRUE -o p_mul.decode:none \
    -Y p_mul -T fields -E occurrence=a -E aggregator=' ' -e p_mul.pdu_type -e p_mul.checksum_good \
    -e p_mul.checksum_bad > "$T/cksum.txt" 2> "$T/tshark.log" || fail "tshark failed"
python3 - "$T/cksum.txt" <<'PY' || fail "checksums: $(cat "$T/cksum.txt")"
import sys
types, good, bad = {}, 0, 0
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    for t in f[0].split():
        types[t] = types.get(t, 0) + 1
    good += sum(1 for v in f[1].split() if v in ("1", "True"))
    bad += sum(1 for v in f[2].split() if v in ("1", "True"))
n = sum(types.values())
print("p_mul PDUs by type %s: checksums good %d, bad %d" % (types, good, bad))
assert n > 0 and bad == 0 and good == n, "want every checksum good"
for t in ("0", "1", "2"):  # Data, Ack, Address
    assert types.get(t, 0) > 0 or types.get("0x0" + t, 0) > 0 or types.get("0x%02x" % int(t), 0) > 0, "no PDU of type " + t
PY
exit 0
