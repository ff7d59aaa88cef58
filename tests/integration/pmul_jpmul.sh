#!/bin/sh
# pmul_jpmul.sh - issue 14: P_MUL over UDP with a peer that reads ACP 142
# as libjpmul does (tests/integration/pmul_jpmul_peer.py: the acker's own id
# in Ack_Info_Entry.Source_ID, Ack_PDUs at priority 0, short Data_PDUs
# padded with zeros beyond Length_of_PDU), both ways:
#  - the peer (127.0.0.5) sends a padded message to a pmulcat receiver
#    (127.0.0.2) whose [node jpmul] has ack_source_id = acker: the file
#    arrives without the padding, and the ack names the acker, as that peer
#    expects; the receiver says once what it saw (pmul peer-convention);
#  - a pmulcat sender (127.0.0.1) sends a file to the peer, which acks it
#    naming itself: the sender takes it as the ack of its message (result
#    acked, not a deadlock until expiry), and says so once.
# Skips (77) if loopback multicast cannot be set up.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/pmul_limits_lib.sh"
PEER="$PY $top_srcdir/tests/integration/pmul_jpmul_peer.py"

limits_start "ack_retransmission_time = 2s
[node jpmul]
id = 127.0.0.5
ack_source_id = acker"
$PEER "$GROUP" "$BASE" "$rx_pid" send 127.0.0.5 127.0.0.2 acker > "$T/send.out" 2>&1 ||
    fail "the peer's message: $(cat "$T/send.out")"
cat "$T/send.out"
wait_for rx '^received src=2130706437 '
set -- "$T/rx"/2130706437-*
[ $# -eq 1 ] && [ -f "$1" ] || fail "want one file from 127.0.0.5, have: $(ls "$T/rx")"
printf 'Hello from a libjpmul-style peer, part %d\n' 1 2 3 | cmp - "$1" || fail "the file differs (padding kept?)"
assert_count 1 rx 'pmul peer-convention peer=127\.0\.0\.5 convention=padding'
echo "ok - a padded message from the peer, acked naming the acker"

# the other way: pmulcat sends, the peer acks naming itself
start peer sh -c "exec $PEER $GROUP $BASE receive 127.0.0.5 127.0.0.1"
wait_for peer '^ready'
printf 'a file for a libjpmul-style peer\n' > "$T/file.txt"
cat > "$T/tx.conf" <<CONF
[pmul]
rate = 0
ack_retransmission_time = 2s
ack_delay_max = 100ms

[bearer]
kind = udp
group = $GROUP
interface = 127.0.0.1
port = $BASE
multicast_ttl = 0
CONF
start tx "$PC" -c "$T/tx.conf" -u 127.0.0.1 -d 127.0.0.5 -f "$T/file.txt" -t 30
wait_exit "$tx_pid" 40 || fail "the sender exited $? (the peer's ack was not taken)"
wait_for peer '^received len=33'
assert_grep tx '^sent .*/file\.txt msgid=[0-9]+ dest=127\.0\.0\.5 result=acked$'
assert_count 1 tx 'pmul peer-convention peer=127\.0\.0\.5 convention=ack-source-acker'
echo "ok - our message to the peer, acked the peer's way, taken"
kill "$rx_pid"
echo "PASS: pmul_jpmul"
exit 0
