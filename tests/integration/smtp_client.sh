#!/bin/sh
# smtp_client.sh - the SMTP client (smtp-gw/smtp_client.c engine and
# smtp_deliver.c glue, RFC 5321) delivers spooled messages to a real server
# over loopback and the delivered bytes are checked:
#   - tests/integration/smtp_sink.py (PIPELINING, 8BITMIME, DSN, CHUNKING,
#     BINARYMIME): DATA with dot-stuffing and CRLF normalisation, per
#     recipient 250/550/451, BODY=BINARYMIME by BDAT byte for byte, the same
#     message to a sink without CHUNKING refused 554 5.6.3, no pipelining;
#   - a closed port: 451 4.4.1 for everyone;
#   - Postfix's smtp-sink, when installed (Debian package postfix).
# The outcomes are written to the envelope and read back after a reopen.
. "$top_srcdir/tests/integration/lib.sh"
need python3
PY=${PYTHON3:-python3}
TOOL="$top_builddir/tests/unit/smtpgw_deliver_tool"
SINK="$top_srcdir/tests/integration/smtp_sink.py"
[ -x "$TOOL" ] || fail "missing $TOOL"

# expect FILE SENT - the sink stored SENT's bytes as DATA carries them:
# every CR, LF and CRLF a CRLF, and a final CRLF
expect_data() {
    "$PY" - "$1" "$2" <<'EOF' || fail "delivered bytes differ: $1 vs $2"
import re, sys
got = open(sys.argv[1], "rb").read()
want = re.sub(rb"\r\n|\r|\n", b"\r\n", open(sys.argv[2], "rb").read())
if not want.endswith(b"\r\n"):
    want += b"\r\n"
if got != want:
    print("got  %r\nwant %r" % (got[:300], want[:300]))
    sys.exit(1)
EOF
}

start sink "$PY" "$SINK" --portfile "$T/sink.port" --dir "$T/sink" \
    --reject reject@lan.example=550 --reject defer@lan.example=451
wait_for sink '^READY port='
port=$(cat "$T/sink.port")

# 1. DATA: dot lines, a lone dot line, bare LF and CR, 8-bit text, no final newline
printf 'Subject: test\r\n\r\n.dot line\r\n..two dots\r\n.\r\nbare\nLF and\rCR\r\ncaf\303\251\r\nno final newline' > "$T/m1"
"$TOOL" -s "$T/spool1" -H 127.0.0.1 -P "$port" -f alice@hf.example -m "BODY=8BITMIME ENVID=e1 RET=HDRS" \
    -r 'ok@lan.example|NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;ok@hf.example' -r reject@lan.example \
    -r defer@lan.example "$T/m1" > "$T/tool1.log" 2>&1 || fail "delivery 1 did not run to its end"
assert_grep tool1 '^rcpt ok@lan.example code=250 status=2.0.0 reply="250 2.0.0 Ok: stored as 1"'
assert_grep tool1 '^rcpt reject@lan.example code=550 status=5.1.1 '
assert_grep tool1 '^rcpt defer@lan.example code=451 status=4.1.1 '
assert_grep tool1 '^done err=0 open=1$'
assert_grep tool1 '^stored ok@lan.example state=done status=2.0.0$'
assert_grep tool1 '^stored reject@lan.example state=failed status=5.1.1$'
assert_grep tool1 '^stored defer@lan.example state=open status=4.1.1$'
assert_grep tool1 'smtpgw deliver-ok qid=[0-9A-F]{12} rcpt=<ok@lan.example> relay=127.0.0.1:'
assert_grep tool1 'smtpgw deliver-failed qid=[0-9A-F]{12} rcpt=<reject@lan.example>'
expect_data "$T/sink/1.eml" "$T/m1"
"$PY" - "$T/sink/1.json" "$T/m1" <<'EOF' || fail "envelope 1 at the sink"
import json, os, sys
e = json.load(open(sys.argv[1]))
size = os.path.getsize(sys.argv[2])
assert e["from"] == "alice@hf.example", e
assert e["mail_params"].split() == ["SIZE=%d" % size, "BODY=8BITMIME", "RET=HDRS", "ENVID=e1"], e
assert e["rcpts"] == [{"addr": "ok@lan.example", "params": "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;ok@hf.example"}], e
assert e["bdat"] is False, e
EOF

# 2. BINARYMIME by BDAT: NULs, bare LFs, a CR at the end, a lone dot: unchanged
"$PY" -c 'import sys; sys.stdout.buffer.write(b"Content-Type: application/octet-stream\r\n\r\n" + bytes(range(256)) * 300 + b"\n.\n\r")' > "$T/m2"
"$TOOL" -s "$T/spool2" -H 127.0.0.1 -P "$port" -m BODY=BINARYMIME -r bin@lan.example "$T/m2" \
    > "$T/tool2.log" 2>&1 || fail "delivery 2 did not run to its end"
assert_grep tool2 '^spooled qid=[0-9A-F]{12} content=2 '
assert_grep tool2 '^rcpt bin@lan.example code=250 '
cmp "$T/sink/2.eml" "$T/m2" || fail "BDAT content differs"
grep -q '"bdat": true' "$T/sink/2.json" || fail "not sent by BDAT"
grep -q 'BODY=BINARYMIME' "$T/sink/2.json" || fail "no BODY=BINARYMIME"

# 3. the same to a sink without CHUNKING: 554 5.6.3 (a DSN's job), nothing sent
start sink2 "$PY" "$SINK" --portfile "$T/sink2.port" --dir "$T/sink2" --no-chunking
wait_for sink2 '^READY port='
port2=$(cat "$T/sink2.port")
"$TOOL" -s "$T/spool3" -H 127.0.0.1 -P "$port2" -m BODY=BINARYMIME -r a@lan.example -r b@lan.example \
    "$T/m2" > "$T/tool3.log" 2>&1 || fail "delivery 3 did not run to its end"
assert_count 2 tool3 '^rcpt [ab]@lan.example code=554 status=5.6.3 reply="554 5.6.3 conversion required'
assert_grep tool3 '^stored a@lan.example state=failed status=5.6.3$'
[ -z "$(ls "$T/sink2")" ] || fail "the sink without CHUNKING received something"
# ... while 7-bit text declared BINARYMIME goes by DATA, without pipelining too
printf 'Subject: plain\r\n\r\nhello\r\n' > "$T/m3"
"$TOOL" -s "$T/spool3" -H 127.0.0.1 -P "$port2" -n -m BODY=BINARYMIME -r c@lan.example "$T/m3" \
    > "$T/tool3b.log" 2>&1 || fail "delivery 3b did not run to its end"
assert_grep tool3b '^rcpt c@lan.example code=250 '
expect_data "$T/sink2/1.eml" "$T/m3"

# 4. nobody listening: a temporary failure for every recipient
closed=$(free_port)
"$TOOL" -s "$T/spool4" -H 127.0.0.1 -P "$closed" -t 2000 -r x@lan.example -r y@lan.example "$T/m3" \
    > "$T/tool4.log" 2>&1 || fail "delivery 4 did not run to its end"
assert_count 2 tool4 '^rcpt [xy]@lan.example code=451 status=4.4.1 reply="451 4.4.1 cannot connect'
assert_grep tool4 '^done err=-443 open=2$'
assert_grep tool4 'smtpgw deliver-connect-failed qid='

# 5. Postfix's smtp-sink (PIPELINING, 8BITMIME, no CHUNKING), when installed
SMTP_SINK=$(command -v smtp-sink || ls /usr/sbin/smtp-sink 2>/dev/null || true)
if [ -n "$SMTP_SINK" ]; then
    mkdir -p "$T/dump"
    sport=$(free_port)
    start smtpsink "$SMTP_SINK" -u "$(id -un)" -d "$T/dump/%M." "127.0.0.1:$sport" 10
    # ready once it accepts connections
    "$PY" - "$sport" <<'EOF' || fail "smtp-sink did not start"
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
EOF
    "$TOOL" -s "$T/spool5" -H 127.0.0.1 -P "$sport" -f alice@hf.example -m BODY=8BITMIME \
        -r p@lan.example -r q@lan.example "$T/m1" > "$T/tool5.log" 2>&1 || fail "delivery 5 did not run to its end"
    assert_count 2 tool5 '^rcpt [pq]@lan.example code=250 '
    assert_grep tool5 '^done err=0 open=0$'
    dump=$(ls "$T"/dump/* 2>/dev/null | head -n 1)
    [ -n "$dump" ] || fail "smtp-sink dumped nothing"
    # the dump holds the envelope as X- headers, its Received field, then
    # the message as received, unstuffed, with LF line ends
    grep -q 'X-Rcpt-Args: <p@lan.example>' "$dump" || fail "no recipient p in the smtp-sink dump"
    grep -q 'X-Mail-Args: <alice@hf.example> BODY=8BITMIME' "$dump" || fail "MAIL args in the smtp-sink dump"
    "$PY" - "$dump" "$T/m1" <<'EOF' || fail "smtp-sink got different bytes"
import re, sys
got = open(sys.argv[1], "rb").read()
want = re.sub(rb"\r\n|\r|\n", b"\n", open(sys.argv[2], "rb").read()) + b"\n"
body = got[got.index(b"\nSubject: test\n") + 1:]
if not body.startswith(want):
    print("dump %r\nwant %r" % (body[:300], want))
    sys.exit(1)
EOF
    echo "smtp-sink: delivered and checked"
else
    echo "smtp-sink not installed (Debian package postfix): that part skipped"
fi
echo "PASS"
exit 0
