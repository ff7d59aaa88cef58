#!/bin/sh
# s5066cat_serial.sh - the SIS client over a serial line: a socat pty pair,
# the scripted 5066 server on one end, s5066cat on the other (termios path,
# as libserialport cannot open ptys).  Then a hang-up: detected and logged,
# and the client does not spin on the dead line.
. "$top_srcdir/tests/integration/lib.sh"
need python3 socat
CAT="$top_builddir/s5066/s5066cat"
FAKE="$top_srcdir/tests/integration/sis_fake_server.py"

start socat socat -d -d "pty,raw,echo=0,link=$T/modem" "pty,raw,echo=0,link=$T/host"
wait_for socat 'starting data transfer loop'
start srv python3 "$FAKE" --serial "$T/modem" --hangup-after 2
wait_for srv '^READY'

printf 'over\nserial\n' | "$CAT" -a 0.0.0.1 -c -n 2 "serial:$T/host:9600" > "$T/cat.out" 2> "$T/cat.log" \
    || fail "s5066cat exited $?"
grep -qx '0.0.0.9 2 1 4 OVER' "$T/cat.out" || fail "OVER not received"
grep -qx '0.0.0.9 2 1 6 SERIAL' "$T/cat.out" || fail "SERIAL not received"
assert_grep cat 'link-up link=s5066cat device=.*/host baud=9600 rtscts=no'
assert_count 2 srv '^REQ type=20'

# A listener on a line that goes dead (socat, the "cable", ends) must see
# the hang-up, log it, and not burn the CPU.
wait_exit "$srv_pid" 10
start socat2 socat -d -d "pty,raw,echo=0,link=$T/modem2" "pty,raw,echo=0,link=$T/host2"
wait_for socat2 'starting data transfer loop'
start listener "$CAT" -l "serial:$T/host2:9600"
wait_for listener 'link-up link=s5066cat'
kill "$socat2_pid"
wait_for listener 'link-down link=s5066cat why="hang-up"'
# two seconds on a dead line: CPU time must stay small (no busy loop)
sleep 2
ticks=$(awk '{print $14 + $15}' "/proc/$listener_pid/stat")
[ "$ticks" -lt 50 ] || fail "s5066cat used $ticks ticks of CPU on a dead line"
assert_count 1 listener 'open-failed'
exit 0
