#!/bin/sh
# pmul_orphan_flood.sh - issue 13: a flooding P_MUL peer starves only
# itself.  A pmulcat receiver (UDP, 127.0.0.2) with the default receive
# limits (rx_max_messages = 20000) takes 20,000 one-byte orphan Data_PDUs
# (no Address_PDU) from node 127.0.0.9; then a valid message from another
# node, 127.0.0.3, must be delivered and acknowledged at once, not after
# rx_orphan_time (1 h).  The receiver's peak RSS (VmHWM) growth is printed
# and bounded, and the warnings the flood triggers are rate-limited.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/pmul_limits_lib.sh"

limits_start ""
hwm0=$(kb "$rx_pid" VmHWM)
$FLOOD "$GROUP" "$BASE" "$rx_pid" orphans 127.0.0.9 20000 > "$T/flood.log" 2>&1 ||
    fail "the flood tool failed"
hwm1=$(kb "$rx_pid" VmHWM)
$FLOOD "$GROUP" "$BASE" "$rx_pid" valid 127.0.0.3 127.0.0.2 > "$T/valid.log" 2>&1
valid_rc=$?
hwm2=$(kb "$rx_pid" VmHWM)
cat "$T/flood.log" "$T/valid.log"
echo "receiver VmHWM: ${hwm0} kB at start, ${hwm1} kB after 20000 orphans (+$((hwm1 - hwm0)) kB), ${hwm2} kB after the valid message"
kill -0 "$rx_pid" || fail "the receiver died"
[ "$valid_rc" -eq 0 ] || fail "the valid message from 127.0.0.3 was not acknowledged after the orphan flood"
# node id 127.0.0.3 = 2130706435; the valid message is Message_ID 4242
[ -f "$T/rx/2130706435-4242" ] || fail "the valid message was not stored"
grep -q 'valid message part 3' "$T/rx/2130706435-4242" || fail "the valid message is not whole"
limit=32768
[ "$ASAN" = 1 ] && limit=262144
[ $((hwm1 - hwm0)) -lt "$limit" ] || fail "20000 orphans grew the peak RSS by $((hwm1 - hwm0)) kB (limit $limit kB)"
# the warnings a peer triggers are rate-limited: a handful, not thousands
nwarn=$(grep -Ec 'pmul (rx-limit|rx-evicted|rx-memory-limit) ' "$T/rx.log")
echo "receive-limit warning lines: $nwarn"
[ "$nwarn" -le 20 ] || fail "$nwarn receive-limit warnings for one flood"
echo "PASS: pmul_orphan_flood: 20000 orphans from 127.0.0.9, then a valid message from 127.0.0.3 delivered; peak RSS +$((hwm1 - hwm0)) kB"
exit 0
