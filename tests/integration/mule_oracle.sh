#!/bin/sh
# mule_oracle.sh - Wireshark judges our CompressedData: the RFC 8494 example
# payload, compressed and wrapped by mule_cdt_encode(), is cut into P_MUL
# Data_PDUs behind an Address_PDU, carried in S_UNIDATA_INDICATIONs on SAP 2
# over a (synthetic) loopback TCP capture by tests/unit/mule_pcap_tool, and
# ../shared/oracle must decode it cleanly: P_MUL reassembled, cdt with
# content type 25 (algorithm 0), and the inflated text equal to the payload.
. "$top_srcdir/tests/integration/lib.sh"
need python3 tshark
ORACLE="$top_srcdir/../shared/oracle/oracle.sh"
[ -f "$ORACLE" ] || { echo "SKIP: $ORACLE not found"; exit 77; }
TOOL="$top_builddir/tests/unit/mule_pcap_tool"
PAYLOAD="$top_srcdir/tests/data/mule/rfc8494_example.bsmtp"
PORT=25066

"$TOOL" "$PAYLOAD" "$T/mule.pcap" $PORT > "$T/tool.log" 2>&1 || fail "mule_pcap_tool exited $?"
bash "$ORACLE" -p $PORT -x 'cdt==1' -x 'pmul==3' -x 'pmul_msgs_reassembled==1' -x 'sis>=5' \
    "$T/mule.pcap" > "$T/oracle.log" 2>&1 || fail "oracle rejected the capture"
cat "$T/oracle.log"
assert_grep oracle 'malformed: 0, warnings: 0, lint: 0'
assert_grep oracle 'cdt\[alg=0 ct=25 inflated=[0-9]+B\]'

# the text Wireshark inflated is the payload, byte for byte
tshark -n -r "$T/mule.pcap" -d tcp.port==$PORT,s5066sis -o p_mul.decode:cdt \
    -o s5066sis.desegment_pdus:TRUE -Y cdt -T fields -e cdt.contentType_ShortForm \
    -e cdt.algorithmID_ShortForm -e data.data > "$T/fields.txt" 2> "$T/tshark.log" \
    || fail "tshark failed"
python3 - "$T/fields.txt" "$PAYLOAD" <<'PY' || fail "inflated content differs from the payload"
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
want = open(sys.argv[2], "rb").read()
assert len(rows) == 1, rows
ct, alg, data = rows[0][0], rows[0][1], rows[0][2]
assert ct == "25", "content type %r" % ct
assert alg == "0", "algorithm %r" % alg
got = bytes.fromhex(data.split(",")[-1].replace(":", ""))
assert got == want, "inflated %d bytes, payload %d" % (len(got), len(want))
print("tshark: cdt content type %s, algorithm %s, inflated %d bytes == payload" % (ct, alg, len(got)))
PY
exit 0
