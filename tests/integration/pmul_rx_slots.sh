#!/bin/sh
# pmul_rx_slots.sh - issue 13: a completed message gives up its slot at
# once.  A pmulcat receiver with rx_max_messages = 50 takes 60 ordinary
# messages from node 127.0.0.3, one after the other: every one must be
# stored and acknowledged whole (completed messages once kept their slot
# until their expiry + rx_keep_done, so the last 10 were ignored).  Then
# the first one again: it is acknowledged again (the sender must stop) and
# not stored twice.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/pmul_limits_lib.sh"

limits_start "rx_max_messages = 50"
hwm0=$(kb "$rx_pid" VmHWM)
$FLOOD "$GROUP" "$BASE" "$rx_pid" messages 127.0.0.3 60 127.0.0.2 > "$T/flood.log" 2>&1
rc=$?
hwm1=$(kb "$rx_pid" VmHWM)
cat "$T/flood.log"
stored=$(ls "$T/rx" | grep -c '^2130706435-')
echo "messages stored: $stored of 60; receiver VmHWM ${hwm0} kB -> ${hwm1} kB"
[ "$rc" -eq 0 ] || fail "not every message was acknowledged"
[ "$stored" -eq 60 ] || fail "$stored of 60 messages stored"
# the first message again: re-acknowledged from its duplicate record, not stored again
$FLOOD "$GROUP" "$BASE" "$rx_pid" messages 127.0.0.3 1 127.0.0.2 > "$T/again.log" 2>&1 ||
    fail "a retransmitted message was not acknowledged again"
assert_count 1 rx 'main received src=2130706435 msgid=1 '
assert_count 60 rx 'pmul delivered src=127\.0\.0\.3 '
grep -q 'pmul rx-limit' "$T/rx.log" && fail "rx-limit logged for 60 messages one after the other"
echo "PASS: pmul_rx_slots: 60 messages through 50 slots, all delivered once and acknowledged"
exit 0
