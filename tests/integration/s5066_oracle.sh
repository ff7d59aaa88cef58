#!/bin/sh
# s5066_oracle.sh - the wire judge (tests/wire/wire_judge.py: Wireshark's
# s5066sis dissector and our own STANAG 5066 Annex A checks) judges our SIS
# bytes: capture s5066cat talking to a 5066 server on loopback (bind,
# UNIDATA and EXPEDITED requests, confirmations, indications).
. "$top_srcdir/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY" tshark
JUDGE="$top_srcdir/tests/wire/wire_judge.py"
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
"$PY" "$JUDGE" -p "$port" -m none -x 'sis>=10' -x 'pmul==0' "$T/cap.pcap" > "$T/judge.log" 2>&1 \
    || fail "the wire judge rejected the capture (exit $?)"
cat "$T/judge.log"
exit 0
