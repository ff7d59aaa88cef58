#!/bin/sh
# pmul_amplify.sh - issue 13: receive state costs what was received, not
# what a peer claims.  1000 messages from node 127.0.0.9, each a one-byte
# Data_PDU with Sequence_Number 65535 and an Address_PDU naming the
# receiver with Total_Number_of_PDUs 65535 (2000 PDUs, about 80 kB on the
# wire), must grow a pmulcat receiver's peak RSS (VmHWM) by less than 4 MB
# (they once took 648 MB: arrays sized by the sequence number).  The
# receiver stays healthy: a valid message from 127.0.0.3 is delivered.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/pmul_limits_lib.sh"

limits_start "ack_pdu_time = 1h"
hwm0=$(kb "$rx_pid" VmHWM)
$FLOOD "$GROUP" "$BASE" "$rx_pid" amplify 127.0.0.9 1000 127.0.0.2 > "$T/flood.log" 2>&1 ||
    fail "the flood tool failed"
hwm1=$(kb "$rx_pid" VmHWM)
kill -0 "$rx_pid" || fail "the receiver died"
$FLOOD "$GROUP" "$BASE" "$rx_pid" valid 127.0.0.3 127.0.0.2 > "$T/valid.log" 2>&1
valid_rc=$?
cat "$T/flood.log" "$T/valid.log"
grew=$((hwm1 - hwm0))
echo "receiver VmHWM: ${hwm0} kB at start, ${hwm1} kB after 1000 x (Data_PDU seq 65535 + Address_PDU total 65535): +${grew} kB"
limit=4096
[ "$ASAN" = 1 ] && limit=65536
[ "$grew" -lt "$limit" ] || fail "1000 amplification messages grew the peak RSS by $grew kB (limit $limit kB)"
[ "$valid_rc" -eq 0 ] || fail "the valid message from 127.0.0.3 was not acknowledged"
[ -f "$T/rx/2130706435-4242" ] || fail "the valid message was not stored"
echo "PASS: pmul_amplify: 1000 messages claiming 65535 Data_PDUs each, peak RSS +$grew kB"
exit 0
