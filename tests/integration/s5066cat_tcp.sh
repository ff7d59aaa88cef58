#!/bin/sh
# s5066cat_tcp.sh - the SIS client glue over TCP against a scripted 5066
# server: bind, send with confirmation, receive, garbage logged once,
# rebind after BIND_REJECTED and after UNBIND_INDICATION, nothing lost or
# sent twice.
. "$top_srcdir/tests/integration/lib.sh"
need python3
CAT="$top_builddir/s5066/s5066cat"
FAKE="$top_srcdir/tests/integration/sis_fake_server.py"

# serve NAME ARGS... - start the fake server and set $port
serve() {
    n=$1; shift
    rm -f "$T/$n.port"
    start "$n" python3 "$FAKE" --portfile "$T/$n.port" "$@"
    wait_for "$n" '^READY'
    port=$(cat "$T/$n.port")
}

# 1. plain exchange, with garbage from the server before its answer
serve srv1 --garbage
printf 'hello\nworld\n' | "$CAT" -a 0.0.0.1 -c -p 5 -t 60 -w 1 "127.0.0.1:$port" > "$T/cat1.out" 2> "$T/cat1.log" \
    || fail "s5066cat exited $?"
grep -qx '0.0.0.9 2 1 5 HELLO' "$T/cat1.out" || fail "HELLO not received"
grep -qx '0.0.0.9 2 1 5 WORLD' "$T/cat1.out" || fail "WORLD not received"
assert_count 2 srv1 '^REQ type=20 prio=5 sap=2 dest=0.0.0.1 mode=1 confirm=1 ttl=30 '
assert_count 1 cat1 's5066 garbage link=s5066cat bytes=15'
assert_count 2 cat1 'confirmed'
assert_grep cat1 'sent 2, received 2, failed 0'

# 2. first bind refused (SAP in use): backoff, bind again, deliver once
serve srv2 --reject-first-bind
printf 'one\n' | "$CAT" -a 0.0.0.1 -c -w 1 "127.0.0.1:$port" > "$T/cat2.out" 2> "$T/cat2.log" \
    || fail "s5066cat exited $?"
assert_count 2 srv2 '^BIND sap=2'
assert_count 1 srv2 '^REQ '
assert_grep cat2 'bind-rejected sap=2 reason=3'
assert_grep cat2 'rebind-wait sap=2 wait_ms=1000'
grep -qx '0.0.0.9 2 1 3 ONE' "$T/cat2.out" || fail "ONE not received"

# 3. UNBIND_INDICATION after the first request: rebind, second goes through
serve srv3 --unbind-after-first
printf 'first\nsecond\n' | "$CAT" -a 0.0.0.1 -c -w 1 "127.0.0.1:$port" > "$T/cat3.out" 2> "$T/cat3.log" \
    || fail "s5066cat exited $?"
assert_count 2 srv3 '^BIND sap=2'
assert_count 1 srv3 'data=6669727374$'
assert_count 1 srv3 'data=7365636f6e64$'
grep -qx '0.0.0.9 2 1 6 SECOND' "$T/cat3.out" || fail "SECOND not received"
assert_count 2 cat3 'U_PDU [0-9]+ confirmed'
assert_grep cat3 'unbound sap=2 reason=1'

# 4. expedited, non-ARQ to a group, client header on SAP 2, SAP 6 bind
serve srv4 --count 1
printf 'grp\n' | "$CAT" -s 6 -a 16.0.0.5 -m nonarq -R 2 -x -H -w 1 "127.0.0.1:$port" > "$T/cat4.out" 2> "$T/cat4.log" \
    || fail "s5066cat exited $?"
assert_grep srv4 '^BIND sap=6'
assert_grep srv4 '^REQ type=24 prio=0 sap=6 dest=16.0.0.5 mode=2 confirm=0 ttl=0 len=9 data=000000002000677270$'

# 5. a group with ARQ is refused before anything is sent
"$CAT" -a 16.0.0.5 -m arq 127.0.0.1:1 < /dev/null 2> "$T/cat5.log" && fail "ARQ to a group accepted"
assert_grep cat5 'only ever sent non-ARQ'
exit 0
