#!/bin/sh
# ctl_socket.sh - the control channel over its UNIX socket: mulectl against
# tests/unit/smtpgw_ctl_tool (smtpgw_ctl_listen with a fake gateway).
# Every command in text and --json (JSON checked by python3 -m json.tool),
# mulectl's exit codes and socket choice (-s, -c [control] socket), the
# socket file's type and mode, a second listener refused, a stale socket
# replaced, a file that is not a socket left alone, garbage and oversized
# requests, a silent client timed out, the 17th connection refused with
# `error busy`, and the socket removed at exit (control.c's protocol).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need python3

TOOL="$top_builddir/tests/unit/smtpgw_ctl_tool"
CTL="$top_builddir/smtp-gw/mulectl"
[ -x "$TOOL" ] && [ -x "$CTL" ] || fail "build tests/unit/smtpgw_ctl_tool and smtp-gw/mulectl first"
SOCK="$T/run/mulegw.sock" # run/ does not exist: the listener creates it

# raw REQUEST_PY_ARGS... - talk to the socket with python (bytes as a Python literal)
raw() {
    python3 - "$SOCK" "$@" <<'EOF'
import socket, sys, time
path, payload = sys.argv[1], eval(sys.argv[2])
mode = sys.argv[3] if len(sys.argv) > 3 else "reply"
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(path)
if payload:
    try:
        s.sendall(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass
if mode == "shut":
    s.shutdown(socket.SHUT_WR)
out = b""
t0 = time.time()
while True:
    try:
        d = s.recv(65536)
    except ConnectionResetError:
        break
    if not d:
        break
    out += d
sys.stdout.write(out.decode("utf-8", "backslashreplace"))
if mode == "timed":
    sys.stderr.write("%.1f\n" % (time.time() - t0))
EOF
}

start ctl "$TOOL" -m 0640 -t 1500 "$SOCK"
wait_for ctl 'smtpgw ctl-listen path=.* mode=0640'
assert_grep ctl 'ctl-listen .*mkdir=yes'

# ---- the socket file
[ "$(stat -c %F "$SOCK")" = socket ] || fail "$SOCK is $(stat -c %F "$SOCK"), not a socket"
[ "$(stat -c %a "$SOCK")" = 640 ] || fail "mode $(stat -c %a "$SOCK"), want 640"

# ---- every command, text and JSON
check_json() { # NAME: the output in $T/NAME.out must be one JSON document
    python3 -m json.tool "$T/$1.out" > /dev/null 2>"$T/$1.jsonerr" ||
        fail "$1: not JSON: $(cat "$T/$1.jsonerr"; head -c 300 "$T/$1.out")"
}
run_ok() { # NAME ARGS... - mulectl must exit 0
    name=$1; shift
    "$CTL" -s "$SOCK" "$@" > "$T/$name.out" 2> "$T/$name.err" ||
        fail "mulectl $* exited $?: $(cat "$T/$name.err")"
}
run_ok status status
grep -q '^link: *bound$' "$T/status.out" || fail "status: no link line"
grep -Eq '^10\.0\.0\.2 +bravo +2 +3m12s ago +no$' "$T/status.out" || fail "status: no bravo row"
run_ok status_j --json status;            check_json status_j
run_ok queue queue
grep -q '^5F3A1B2C0003! ' "$T/queue.out" || fail "queue: held message not marked"
grep -q '^  -> 10.0.0.2 (bravo) acked msgid=17$' "$T/queue.out" || fail "queue: no destination line"
grep -q '^-- 3 messages, 103 kbytes$' "$T/queue.out" || fail "queue: no summary"
# the hostile sender arrives escaped: no ESC byte reaches the terminal
if grep -q "$(printf '\033')" "$T/queue.out"; then fail "queue: raw ESC in the text output"; fi
run_ok queue_j queue --json;              check_json queue_j
python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["messages"]; assert len(m)==3 and m[2]["from"].startswith("ev\"il\\x\u0001\u001b[31m"), m[2]["from"]' "$T/queue_j.out" ||
    fail "queue --json: the hostile sender did not survive the round trip"
run_ok help help
grep -q '^emcon NODE on|off ' "$T/help.out" || fail "help: no emcon line"
run_ok help_j -j help;                    check_json help_j
run_ok ll log-level
[ "$(cat "$T/ll.out")" = "$(printf 'level: info\ntrace: none')" ] || fail "log-level: $(cat "$T/ll.out")"
run_ok ll_j log-level --json;             check_json ll_j
run_ok ll_set log-level debug
grep -q '^level: debug$' "$T/ll_set.out" || fail "log-level debug did not stick"
run_ok ll_tr_j --json log-level trace s5066,pmul; check_json ll_tr_j
grep -q '"trace":\["s5066","pmul"\]' "$T/ll_tr_j.out" || fail "log-level trace: $(cat "$T/ll_tr_j.out")"
run_ok retry retry all
[ "$(cat "$T/retry.out")" = "retry: 3 messages" ] || fail "retry: $(cat "$T/retry.out")"
run_ok retry_j retry 5F3A1B2C0002 --json; check_json retry_j
run_ok hold hold 5F3A1B2C0001
[ "$(cat "$T/hold.out")" = "hold: 1 message" ] || fail "hold: $(cat "$T/hold.out")"
run_ok hold_j -j hold all;                check_json hold_j
run_ok release release 5F3A1B2C0001
run_ok release_j release all --json;      check_json release_j
run_ok emcon emcon on
run_ok emcon_j emcon off --json;          check_json emcon_j
run_ok emcon_n emcon bravo on
[ "$(cat "$T/emcon_n.out")" = "emcon 10.0.0.2 (bravo): on" ] || fail "emcon bravo: $(cat "$T/emcon_n.out")"
run_ok emcon_q_j --json emcon 10.0.0.3 off; check_json emcon_q_j
run_ok drop drop 5F3A1B2C0003
run_ok drop_j drop 5F3A1B2C0002 --json;   check_json drop_j
run_ok queue2 queue
grep -q '^-- 1 message, 5 kbytes$' "$T/queue2.out" || fail "queue after drops: $(tail -1 "$T/queue2.out")"
assert_grep ctl 'ctl-command request="drop 5F3A1B2C0003" result=ok count=1 .*uid=[0-9]+ pid=[0-9]+'

# ---- errors: exit 1 with the gateway's text on stderr, nothing on stdout
expect_exit() { # CODE NAME ARGS...
    want=$1 name=$2; shift 2
    "$CTL" "$@" > "$T/$name.out" 2> "$T/$name.err"
    got=$?
    [ "$got" -eq "$want" ] || fail "mulectl $* exited $got, want $want: $(cat "$T/$name.err")"
}
expect_exit 1 e_nf -s "$SOCK" drop 5F3A1B2C0003
[ "$(cat "$T/e_nf.err")" = "mulectl: drop 5F3A1B2C0003: no such message" ] || fail "drop twice: $(cat "$T/e_nf.err")"
[ -s "$T/e_nf.out" ] && fail "an error reply printed on stdout"
expect_exit 1 e_verb -s "$SOCK" frobnicate
grep -q "unknown command 'frobnicate'" "$T/e_verb.err" || fail "unknown verb: $(cat "$T/e_verb.err")"
expect_exit 1 e_args -s "$SOCK" retry
grep -q 'usage: retry ID|all' "$T/e_args.err" || fail "missing argument: $(cat "$T/e_args.err")"
expect_exit 1 e_node -s "$SOCK" emcon zulu on
grep -q 'no such node' "$T/e_node.err" || fail "bad node: $(cat "$T/e_node.err")"
assert_grep ctl 'ctl-bad-request request="frobnicate" result=error'

# usage errors: 64, before any connection
expect_exit 64 u_none -s "$SOCK"
expect_exit 64 u_opt -s "$SOCK" -x status
expect_exit 64 u_space -s "$SOCK" retry "a b"
expect_exit 0 u_help -h
grep -q '^usage: mulectl' "$T/u_help.out" || fail "-h printed no usage"
expect_exit 0 u_version --version
grep -q '^mulectl (mule5066) ' "$T/u_version.out" || fail "--version: $(cat "$T/u_version.out")"

# no gateway: exit 2, the message names the socket
expect_exit 2 c_none -s "$T/nothing.sock" status
grep -q "cannot connect to $T/nothing.sock" "$T/c_none.err" || fail "no socket: $(cat "$T/c_none.err")"

# the socket from -c [control] socket; a bad [control] is a config error (78)
printf '[mulegw]\nspool = /nonexistent\n\n[control]\nsocket = %s\nmode = 0660\n' "$SOCK" > "$T/m.conf"
expect_exit 0 c_conf -c "$T/m.conf" status
grep -q '^node: *10.0.0.1$' "$T/c_conf.out" || fail "-c: no status"
printf '[control]\nsocket = %s\nmode = 0999\n' "$SOCK" > "$T/bad.conf"
expect_exit 78 c_bad -c "$T/bad.conf" status
grep -q "bad.conf:3: .*mode" "$T/c_bad.err" || fail "bad config: $(cat "$T/c_bad.err")"
expect_exit 78 c_missing -c "$T/missing.conf" status
# -s wins over -c
expect_exit 2 c_both -s "$T/nothing.sock" -c "$T/m.conf" status

# ---- a second listener on the same path is refused; the first keeps serving
"$TOOL" "$SOCK" > "$T/second.log" 2>&1 && fail "a second listener started on $SOCK"
grep -q 'in use by a running process' "$T/second.log" || fail "second listener: $(cat "$T/second.log")"
grep -q 'ctl-refused reason="cannot listen"' "$T/second.log" || fail "second listener logged no ctl-refused"
run_ok after_second status

# ---- garbage and oversized requests: answered or dropped, never a crash
out=$(raw "b'\\x00\\xff\\x1b[2J garbage\\n'")
case "$out" in "error non-printable byte"*) ;; *) fail "garbage: '$out'" ;; esac
out=$(raw "b'status\\r\\n'")
case "$out" in "ok"*) ;; *) fail "CRLF request: '$out'" ;; esac
out=$(raw "b'help'" shut)  # EOF ends the line
case "$out" in "ok"*) ;; *) fail "request without newline then EOF: '$out'" ;; esac
out=$(raw "b'x' * 5000")
[ "$out" = "error request too long" ] || fail "oversized request: '$out'"
out=$(raw "b'status\\nqueue\\n'")  # only the first line counts
case "$out" in "ok"*"version:"*) ;; *) fail "two lines: '$out'" ;; esac
assert_count 1 ctl 'ctl-bad-request reason="no newline in 1024 bytes"'
kill -0 "$ctl_pid" || fail "the server died on bad input"
run_ok after_garbage status

# ---- a silent client is dropped after the timeout (1.5 s here), logged once
out=$(raw "b''" timed 2> "$T/silent.time")
[ "$out" = "error timeout" ] || fail "silent client: '$out'"
python3 -c 'import sys; t=float(open(sys.argv[1]).read()); sys.exit(0 if 1.0 <= t <= 10 else 1)' "$T/silent.time" ||
    fail "silent client dropped after $(cat "$T/silent.time") s, want about 1.5"
assert_count 1 ctl 'ctl-bad-request reason="no request line in 1.5 s" bytes=0'

# ---- kill -9 leaves a stale socket: the next listener replaces it
kill -9 "$ctl_pid"
wait "$ctl_pid" 2>/dev/null
[ -S "$SOCK" ] || fail "kill -9 removed the socket file?"
expect_exit 2 stale_ctl -s "$SOCK" status
start ctl2 "$TOOL" -m 0600 "$SOCK"
wait_for ctl2 'smtpgw ctl-listen path=.* mode=0600 gid=-1 stale=removed'
[ "$(stat -c %a "$SOCK")" = 600 ] || fail "mode $(stat -c %a "$SOCK"), want 600"
run_ok after_stale status

# ---- 16 connections at once are served; the 17th gets `error busy` (10 s timeout here)
python3 - "$SOCK" > "$T/busy.out" 2>&1 <<'EOF' || fail "busy: $(cat "$T/busy.out")"
import socket, sys, time
path = sys.argv[1]
held = []
for i in range(16):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    held.append(s)
# no wait needed: the listener accepts in the order of connect(), so the
# 17th is accepted after the 16 held ones whenever the server gets to it
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(path)
reply = s.recv(100)
assert reply == b"error busy\n", reply
# the held ones still get their answers
for h in held:
    h.sendall(b"help\n")
for h in held:
    h.settimeout(10)
    data = b""
    while True:
        d = h.recv(65536)
        if not d:
            break
        data += d
    assert data.startswith(b"ok\n"), data
print("busy ok")
EOF
assert_grep ctl2 'ctl-refused reason=busy open=16 max=16'
expect_exit 1 busy_ctl_no -s "$SOCK" frobnicate  # served again once they are gone

# ---- a file that is not a socket is left alone
echo precious > "$T/file.sock"
"$TOOL" "$T/file.sock" > "$T/notsock.log" 2>&1 && fail "listened over a regular file"
grep -q 'not a socket' "$T/notsock.log" || fail "not a socket: $(cat "$T/notsock.log")"
[ "$(cat "$T/file.sock")" = precious ] || fail "the regular file was touched"

# ---- its directory is a regular file: refused, saying why
echo precious > "$T/plainfile"
"$TOOL" "$T/plainfile/x.sock" > "$T/notdir.log" 2>&1 && fail "listened below a regular file"
grep -q 'directory .*/plainfile: Not a directory' "$T/notdir.log" || fail "not a directory: $(cat "$T/notdir.log")"

# ---- gateways starting together create their shared directory once and
# all listen (the second mkdir of a missing directory is not an error);
# g, not i: lib.sh's wait_for counts with i
for g in 1 2 3 4 5 6 7 8; do
    start "race$g" "$TOOL" "$T/together/gw$g.sock"
done
for g in 1 2 3 4 5 6 7 8; do
    wait_for "race$g" 'smtpgw ctl-(listen|refused)'
    assert_grep "race$g" 'smtpgw ctl-listen path=.*/together/gw'"$g"'\.sock'
done
[ "$(grep -l 'ctl-listen .*mkdir=yes' "$T"/race*.log | wc -l)" -eq 1 ] ||
    fail "the directory was made by $(grep -l 'ctl-listen .*mkdir=yes' "$T"/race*.log | wc -l) listeners, want 1"
for g in 1 2 3 4 5 6 7 8; do
    eval "kill \$race${g}_pid"
done

# ---- a path too long for a UNIX socket
long="$T/$(python3 -c 'print("x" * 120)').sock"
"$TOOL" "$long" > "$T/long.log" 2>&1 && fail "listened on a path of $(printf %s "$long" | wc -c) bytes"

# ---- clean stop: the socket file goes away
kill "$ctl2_pid"
wait_exit "$ctl2_pid" 10 || fail "the tool exited $? on SIGTERM"
[ -e "$SOCK" ] && fail "$SOCK left behind after a clean stop"
echo "ctl_socket: ok"
exit 0
