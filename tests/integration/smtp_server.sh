#!/bin/sh
# smtp_server.sh - the SMTP server glue (smtp-gw/smtp_listen.c) with its
# engine, run by tests/unit/smtpgw_server_tool and driven by Python's
# smtplib and raw sockets (tests/integration/smtp_clients.py): EHLO
# advertises every extension; a message by DATA (dot-stuffed lines intact,
# MT-PRIORITY, BY, RET, ENVID and NOTIFY carried into the MULE envelope),
# one by BDAT with BODY=BINARYMIME (every octet intact); relay denied for a
# domain with no HF route and for a local one; a client outside the
# networks gets 554 5.7.1 (RFC 5321 3.1) and may only QUIT; limits on
# recipients and size; SMTPUTF8; IPv6 when the host has it.  QUIT sent in
# the same segment as the final dot (as Postfix's SMTP client does), with
# and without a half-close after it, gets 250 then 221 - also when the
# message is answered after a group commit as mulegw does (the tool's -P),
# and then answering it succeeds (the client did not leave before its 250).
. "$top_srcdir/tests/integration/lib.sh"
need python3
TOOL="$top_builddir/tests/unit/smtpgw_server_tool"
CLIENT="python3 $top_srcdir/tests/integration/smtp_clients.py"
mkdir -p "$T/spool" "$T/spool2"

v6=""
python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null && v6="-l [::1]:0"
# shellcheck disable=SC2086
start gw "$TOOL" -d "$T/spool" -l 127.0.0.1:0 $v6 -n 127.0.0.0/8 -n ::1 -H mx.test \
    -r ship.example.mil -r '*.fleet.example.mil' -r hq.example.mil -L hq.example.mil \
    -m 100k -R 5 -u
wait_for gw '^ready port=[0-9]+'
port=$(sed -n 's/^ready port=\([0-9]*\).*/\1/p' "$T/gw.log")
assert_grep gw 'smtpgw smtpd-listen addr=127.0.0.1 port='

$CLIENT ehlo 127.0.0.1 "$port" 1 || fail "EHLO"
$CLIENT data 127.0.0.1 "$port" || fail "DATA"
$CLIENT bdat 127.0.0.1 "$port" || fail "BDAT"
$CLIENT refusals 127.0.0.1 "$port" || fail "refusals and limits"
$CLIENT utf8 127.0.0.1 "$port" || fail "SMTPUTF8"
$CLIENT dot_quit 127.0.0.1 "$port" || fail "QUIT behind the final dot"
$CLIENT dot_quit 127.0.0.1 "$port" 1 || fail "QUIT behind the final dot, then a half-close"
if [ -n "$v6" ]; then
    port6=$(sed -n 's/^listener 1 port=\([0-9]*\).*/\1/p' "$T/gw.log")
    $CLIENT data ::1 "$port6" || fail "DATA over IPv6"
    assert_grep gw 'smtpd-connect session=[0-9]+ peer=::1'
fi

# what was spooled: the MULE payload (envelope lines, empty line, Received + message)
python3 - "$T/spool" <<'PY' || fail "spooled messages"
import os, sys
d = sys.argv[1]
msgs = [open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d))]
def die(m):
    print("FAIL: " + m); sys.exit(1)
data = [m for m in msgs if b"Subject: over HF" in m]
bdat = [m for m in msgs if b"BODY=BINARYMIME" in m]
utf8 = [m for m in msgs if b"SMTPUTF8" in m]
if len(data) < 1 or len(bdat) != 1 or len(utf8) != 1:
    die("spool holds %d messages: %r" % (len(msgs), [m[:80] for m in msgs]))
m = data[0]
env, body = m.split(b"\r\n\r\n", 1)
lines = env.split(b"\r\n")
if not lines[0].startswith(b"<ops@hq.example.mil> ") or b"MT-PRIORITY=3" not in lines[0] \
        or b"BY=3600;R" not in lines[0] or b"RET=HDRS" not in lines[0] or b"ENVID=abc+2Bdef" not in lines[0] \
        or b"BODY=8BITMIME" not in lines[0]:
    die("FROM-line %r" % lines[0])
if lines[1:] != [b"<a@ship.example.mil> NOTIFY=SUCCESS,FAILURE", b"<b@one.fleet.example.mil> NOTIFY=SUCCESS,FAILURE"]:
    die("RCPT-lines %r" % lines[1:])
if not body.startswith(b"Received: from client.test ([127.0.0.1])\r\n\tby mx.test (mulegw) with ESMTP id "):
    die("Received %r" % body[:120])
if not body.endswith(b"first line\r\n.a line with a leading dot\r\n..two dots\r\n.\r\nlast line\r\n"):
    die("body %r" % body[-100:])
b = bdat[0]
if not b.endswith(bytes(range(256)) * 4 + b"\r\n.\r\n\n.\n"):
    die("binary body %r" % b[-40:])
u = utf8[0].split(b"\r\n")
if not u[0].startswith("<j\u00f6rg@hq.example.mil> ".encode()) or b"SMTPUTF8" not in u[0].split() \
        or u[1] != "<z\u00fc@ship.example.mil>".encode() or b"with UTF8SMTP id" not in utf8[0]:
    die("utf8 %r" % utf8[0][:200])
print("spool ok: %d messages" % len(msgs))
PY
assert_grep gw 'smtpd-rcpt-rejected session=[0-9]+ peer=127.0.0.1 from=<ops@hq.example.mil> to=<x@gmail.example> code=550'
assert_grep gw 'smtpd-queued session=[0-9]+ peer=127.0.0.1 qid=[0-9A-F]+ from=<ops@hq.example.mil> rcpts=2'

# a client outside the configured networks
start gw2 "$TOOL" -d "$T/spool2" -n 10.0.0.0/8 -n 2001:db8::/32 -r ship.example.mil
wait_for gw2 '^ready port=[0-9]+'
port2=$(sed -n 's/^ready port=\([0-9]*\).*/\1/p' "$T/gw2.log")
$CLIENT outsider 127.0.0.1 "$port2" || fail "client outside the networks"
assert_grep gw2 'smtpd-refused session=1 peer=127.0.0.1'
[ -z "$(ls "$T/spool2")" ] || fail "an outsider's message was spooled"

# answers after a group commit (-P, as mulegw): QUIT pipelined behind the
# final dot waits for the 250, and answering reports the client present
mkdir -p "$T/spool3"
start gwp "$TOOL" -d "$T/spool3" -P -n 127.0.0.0/8 -H mx.test -r ship.example.mil \
    -r '*.fleet.example.mil'
wait_for gwp '^ready port=[0-9]+'
portp=$(sed -n 's/^ready port=\([0-9]*\).*/\1/p' "$T/gwp.log")
$CLIENT data 127.0.0.1 "$portp" || fail "DATA, answered after the commit"
$CLIENT bdat 127.0.0.1 "$portp" || fail "BDAT, answered after the commit"
$CLIENT dot_quit 127.0.0.1 "$portp" > "$T/dq.out" ||
    fail "QUIT behind the final dot, answered after the commit: $(cat "$T/dq.out")"
$CLIENT dot_quit 127.0.0.1 "$portp" 1 > "$T/dqs.out" ||
    fail "QUIT behind the final dot and a half-close, answered after the commit: $(cat "$T/dqs.out")"
cat "$T/dq.out" "$T/dqs.out"
for f in dq dqs; do
    qid=$(sed -n 's/.* ok qid=\([0-9A-F]*\)$/\1/p' "$T/$f.out")
    [ -n "$qid" ] || fail "no queue id in $(cat "$T/$f.out")"
    # the tool prints the answer's outcome after the 221 and the close went out
    wait_for gwp "^answered session=[0-9]+ qid=$qid "
    assert_grep gwp "^answered session=[0-9]+ qid=$qid code=0 rc=0\$"
done
assert_count 4 gwp '^answered session=[0-9]+ qid=[0-9A-F]+ code=0 rc=0$'
assert_count 0 gwp '^answered .* rc=-'
n=$(find "$T/spool3" -name '*.msg' | wc -l)
[ "$n" -eq 4 ] || fail "spool3 holds $n messages, want 4"
kill -TERM "$gwp_pid"
wait_exit "$gwp_pid" || fail "the -P tool exited $?"
assert_grep gwp '^stats open=0 total=4 refused=0 busy_closed=0 accepted=4 rejected=0'

# stats, then a clean shutdown
kill -USR1 "$gw_pid"
wait_for gw '^stats open=0 total=[0-9]+ refused=0 busy_closed=0 accepted=[0-9]+ rejected=[0-9]+'
kill -TERM "$gw_pid"
wait_exit "$gw_pid" || fail "the tool exited $?"
kill -TERM "$gw2_pid"
wait_exit "$gw2_pid" || fail "the second tool exited $?"
assert_grep gw2 '^stats open=0 total=2 refused=2 busy_closed=0 accepted=0'
grep '^stats' "$T/gw.log"
exit 0
