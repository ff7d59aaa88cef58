#!/bin/sh
# mule_oracle.sh - the wire judge (tests/wire/wire_judge.py: Wireshark's
# s5066sis, p_mul and cdt dissectors and our own checks of STANAG 5066
# Annex A, ACP 142 and RFC 8494 / RFC 3274 CompressedData) judges our
# CompressedData: the RFC 8494 example payload, compressed and wrapped by
# mule_cdt_encode(), is cut into P_MUL Data_PDUs behind an Address_PDU,
# carried in S_UNIDATA_INDICATIONs on SAP 2 over a (synthetic) loopback TCP
# capture by tests/unit/mule_pcap_tool.  It must decode cleanly: P_MUL
# reassembled, cdt with content type 25 (algorithm 0) and a zlib stream,
# and the text inflated both by the judge and by Wireshark equal to the
# payload.
. "$top_srcdir/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY" tshark
JUDGE="$top_srcdir/tests/wire/wire_judge.py"
TOOL="$top_builddir/tests/unit/mule_pcap_tool"
PAYLOAD="$top_srcdir/tests/data/mule/rfc8494_example.bsmtp"
PORT=25066

"$TOOL" "$PAYLOAD" "$T/mule.pcap" $PORT > "$T/tool.log" 2>&1 || fail "mule_pcap_tool exited $?"
mkdir "$T/msgs"
"$PY" "$JUDGE" -p $PORT -m cdt -x 'cdt==1' -x 'pmul==3' -x 'pmul_address==1' -x 'pmul_data==2' \
    -x 'pmul_msgs_reassembled==1' -x 'pmul_msgs==1' -x 'sis>=5' --save-messages "$T/msgs" \
    "$T/mule.pcap" > "$T/judge.log" 2>&1 || fail "the wire judge rejected the capture (exit $?)"
cat "$T/judge.log"
assert_grep judge 'cdt\[alg=0 ct=25 zlib [0-9]+B -> [0-9]+B\]'
# the text the judge inflated is the payload, byte for byte
set -- "$T/msgs"/*.inflated
[ $# -eq 1 ] && [ -f "$1" ] || fail "the judge inflated no message: $*"
cmp "$1" "$PAYLOAD" || fail "the judge's inflated message differs from the payload"

# the text Wireshark inflated is the payload, byte for byte
tshark -n -r "$T/mule.pcap" -d tcp.port==$PORT,s5066sis -o p_mul.decode:cdt \
    -o s5066sis.desegment_pdus:TRUE -Y cdt -T fields -e cdt.contentType_ShortForm \
    -e cdt.algorithmID_ShortForm -e data.data > "$T/fields.txt" 2> "$T/tshark.log" \
    || fail "tshark failed"
"$PY" - "$T/fields.txt" "$PAYLOAD" <<'PY' || fail "inflated content differs from the payload"
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
