#!/bin/sh
# cli_options.sh - every installed program answers as GNU programs do:
# --help and -h print a usage on stdout (exit 0, nothing on stderr) that
# names the program and every option its manual page documents; --version
# and -V print "PROG (mule5066) VERSION" with configure's version; an
# unknown option exits with the program's usage code, "Try 'PROG --help'"
# on stderr and nothing on stdout.  mulegw started without -f (logging to
# syslog, which may keep nothing) still says on stderr why it cannot start:
# an SMTP port in use, a configuration file that does not exist, a spool it
# cannot create, no -c.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need python3
LC_ALL=C
export LC_ALL

VERSION=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")
[ -n "$VERSION" ] || fail "no PACKAGE_VERSION in $top_builddir/config.h"

# run NAME PROGRAM ARGS... - stdout in $T/NAME.out, stderr in $T/NAME.err, status in $rc
run() {
    rname=$1; shift
    "$@" > "$T/$rname.out" 2> "$T/$rname.err"
    rc=$?
}

# man_options PAGE - every option the OPTIONS section of PAGE (.in) documents:
# -x for `.It Fl x`, --long for `Fl -long`
man_options() {
    sed -n '/^\.Sh OPTIONS$/,/^\.Sh /p' "$1" | grep '^\.It Fl ' |
        grep -o 'Fl -\{0,1\}[A-Za-z][A-Za-z-]*' | sed 's/^Fl /-/' | sort -u
}

# check PROGRAM USAGE_EXIT PAGE - the GNU habits of one program
check() {
    exe=$top_builddir/$1 bad=$2 page=$top_srcdir/doc/$3.in
    name=${1##*/}
    [ -x "$exe" ] || fail "no $exe"
    [ -f "$page" ] || fail "no $page"
    opts=$(man_options "$page")
    [ -n "$opts" ] || fail "$page documents no option"
    echo "$opts" | grep -qx -- '--help' || fail "$page does not document --help"
    echo "$opts" | grep -qx -- '--version' || fail "$page does not document --version"
    echo "$opts" | grep -qx -- '-V' || fail "$page does not document -V"
    for h in --help -h; do
        run help "$exe" $h
        [ "$rc" -eq 0 ] || fail "$name $h exited $rc: $(cat "$T/help.err")"
        [ -s "$T/help.err" ] && fail "$name $h wrote on stderr: $(cat "$T/help.err")"
        grep -Eiq "^usage: $name( |$)" "$T/help.out" || fail "$name $h: no 'usage: $name' line: $(head -n 2 "$T/help.out")"
        for o in $opts; do
            # -x as "  -x " or "-x," or "[-...x...]" in the synopsis line; --long anywhere
            case $o in
            --*) grep -q -e "$o" "$T/help.out" ;;
            *) grep -Eq -e "(^|[ ,|])$o([ ,]|$)" "$T/help.out" ;;
            esac || fail "$name $h does not mention $o (documented in $3): $(cat "$T/help.out")"
        done
    done
    for v in --version -V; do
        run version "$exe" $v
        [ "$rc" -eq 0 ] || fail "$name $v exited $rc: $(cat "$T/version.err")"
        [ -s "$T/version.err" ] && fail "$name $v wrote on stderr: $(cat "$T/version.err")"
        first=$(head -n 1 "$T/version.out")
        [ "$first" = "$name (mule5066) $VERSION" ] || fail "$name $v printed '$first', want '$name (mule5066) $VERSION'"
    done
    run bad "$exe" --no-such-option
    [ "$rc" -eq "$bad" ] || fail "$name --no-such-option exited $rc, want $bad"
    [ -s "$T/bad.out" ] && fail "$name --no-such-option wrote on stdout: $(cat "$T/bad.out")"
    grep -q -- "no-such-option" "$T/bad.err" || fail "$name --no-such-option: the option is not named: $(cat "$T/bad.err")"
    grep -q "^Try '$name --help' for more information\.$" "$T/bad.err" ||
        fail "$name --no-such-option: no 'Try' on stderr: $(cat "$T/bad.err")"
    echo "ok - $name: --help, -h, --version, -V, --no-such-option ($(echo $opts | wc -w) documented options in the usage)"
}

check smtp-gw/mulegw 2 mulegw.8
check smtp-gw/mulectl 64 mulectl.8
check s5066/s5066sim 2 s5066sim.8
check s5066/s5066cat 2 s5066cat.1
check pmul/pmulcat 2 pmulcat.1

# ---- mulegw's start-up errors reach stderr without -f ----------------------
GW=$top_builddir/smtp-gw/mulegw

# gw_start NAME ARGS... - mulegw ARGS in the background, without -f; it must
# stop by itself: status in $rc, stdout and stderr in $T/NAME.out/.err
gw_start() {
    gname=$1; shift
    "$GW" "$@" > "$T/$gname.out" 2> "$T/$gname.err" &
    gpid=$!
    LIB_PIDS="$LIB_PIDS $gpid"
    wait_exit "$gpid" 30
    rc=$?
}

# expect_start_error NAME PATTERN - mulegw exited 1, said PATTERN on stderr, nothing on stdout
expect_start_error() {
    [ "$rc" -eq 1 ] || fail "mulegw ($1) exited $rc, want 1: $(cat "$T/$1.err")"
    grep -Eq -e "$2" "$T/$1.err" || fail "mulegw ($1): no /$2/ on stderr: '$(cat "$T/$1.err")'"
    [ -s "$T/$1.out" ] && fail "mulegw ($1) wrote on stdout: $(cat "$T/$1.out")"
    echo "ok - mulegw without -f: $1: $(tail -n 1 "$T/$1.err")"
}

# an SMTP port in use: a loopback port bound and held by python3
start holder python3 -c 'import signal, socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print("port", s.getsockname()[1], flush=True)
signal.pause()'
wait_for holder '^port [0-9]+$'
busy=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$T/holder.log")
gw_conf busy 1 1 1 1
sed "s/^listen = 127\.0\.0\.1:0\$/listen = 127.0.0.1:$busy/" "$T/busy.conf" > "$T/busy2.conf"
grep -q "^listen = 127.0.0.1:$busy\$" "$T/busy2.conf" || fail "could not set the listen address: $(cat "$T/busy2.conf")"
"$GW" -n -c "$T/busy2.conf" > "$T/busy-check.log" 2>&1 || fail "the port-in-use config is invalid: $(cat "$T/busy-check.log")"
gw_start busy -c "$T/busy2.conf"
expect_start_error busy "smtp-failed"
grep -q "127.0.0.1:$busy.*Address already in use" "$T/busy.err" || fail "mulegw (busy): the reason is not on stderr: $(cat "$T/busy.err")"
kill -0 "$holder_pid" 2>/dev/null || fail "the port holder died: the test proves nothing"

# a configuration file that does not exist
gw_start missing -c "$T/no-such.conf"
expect_start_error missing "no-such\.conf.*No such file"

# a spool that cannot be created (its parent is a file)
: > "$T/plainfile"
gw_conf spool 1 1 1 1
sed "s|^spool = .*|spool = $T/plainfile/spool|" "$T/spool.conf" > "$T/spool2.conf"
gw_start spool -c "$T/spool2.conf"
expect_start_error spool "spool-open-failed"

# no -c: a usage error, exit 2 with the hint
gw_start noconf
[ "$rc" -eq 2 ] || fail "mulegw without -c exited $rc, want 2"
grep -q -- "-c FILE" "$T/noconf.err" && grep -q "^Try 'mulegw --help'" "$T/noconf.err" ||
    fail "mulegw without -c: $(cat "$T/noconf.err")"
[ -s "$T/noconf.out" ] && fail "mulegw without -c wrote on stdout"
echo "ok - mulegw without -c: $(head -n 1 "$T/noconf.err")"

echo "PASS: cli_options"
exit 0
