#!/bin/sh
# s5066_oracle.sh - Wireshark judges our SIS bytes: capture s5066cat
# talking to a 5066 server on loopback (bind, UNIDATA and EXPEDITED
# requests, confirmations, indications) and run ../shared/oracle over it.
. "$top_srcdir/tests/integration/lib.sh"
need python3 tshark
ORACLE="$top_srcdir/../shared/oracle/oracle.sh"
[ -x "$ORACLE" ] || [ -f "$ORACLE" ] || { echo "SKIP: $ORACLE not found"; exit 77; }
CAT="$top_builddir/s5066/s5066cat"
FAKE="$top_srcdir/tests/integration/sis_fake_server.py"

start srv python3 "$FAKE" --portfile "$T/port" --connections 2
wait_for srv '^READY'
port=$(cat "$T/port")
start_capture cap "tcp port $port"
# SAP 3: plain U_PDUs (SAP 2/6/7 would be decoded as P_MUL)
printf 'alpha\nbravo\n' | "$CAT" -s 3 -a 0.0.0.1 -c -p 9 -t 120 -w 0 "127.0.0.1:$port" > "$T/cat1.out" 2> "$T/cat1.log" \
    || fail "s5066cat exited $?"
printf 'charlie\n' | "$CAT" -s 3 -a 16.0.0.1 -m nonarq -R 3 -x -w 0 "127.0.0.1:$port" > "$T/cat2.out" 2> "$T/cat2.log" \
    || fail "s5066cat exited $?"
wait_exit "$srv_pid" 10
stop_capture cap
"$ORACLE" -p "$port" -x 'sis>=10' "$T/cap.pcap" > "$T/oracle.log" 2>&1 || fail "oracle rejected the capture"
assert_grep oracle 'malformed: 0'
cat "$T/oracle.log"
exit 0
