#!/bin/sh
# sim_config.sh - s5066sim -n: a good config passes; a syntax error, an
# unknown key and an out-of-range value each exit non-zero naming
# file:line and the key.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
SIM="$top_builddir/s5066/s5066sim"
[ -x "$SIM" ] || fail "no $SIM"

"$SIM" -n -c "$top_srcdir/conf/s5066sim.conf" > "$T/good.out" 2>&1 \
    || { cat "$T/good.out"; fail "conf/s5066sim.conf rejected"; }

# check_bad NAME REGEX - NAME.conf must be rejected with a message matching REGEX
check_bad() {
    if "$SIM" -n -c "$T/$1.conf" > "$T/$1.out" 2>&1; then
        cat "$T/$1.out"; fail "$1.conf accepted"
    fi
    grep -Eq "$2" "$T/$1.out" || { cat "$T/$1.out"; fail "$1: no /$2/ in the message"; }
    echo "ok - $1: $(cat "$T/$1.out")"
}

printf '[channel]\nrate = 2400\n[node alpha\naddress = 0.0.0.1\nport = 0\n' > "$T/syntax.conf"
check_bad syntax "syntax\.conf:3: "

printf '[channel]\nrate = 2400\n\n[node alpha]\naddress = 0.0.0.1\nport = 0\ncolour = blue\n' > "$T/unknown.conf"
check_bad unknown "unknown\.conf:7: .*colour"

printf '[channel]\nrate = 2400\nloss = 1.5\n[node alpha]\naddress = 0.0.0.1\nport = 0\n' > "$T/range.conf"
check_bad range "range\.conf:3: .*loss"

printf '[channel]\nrate = 50\n[node alpha]\naddress = 0.0.0.1\nport = 0\n' > "$T/rate.conf"
check_bad rate "rate\.conf:2: .*rate"

printf '[node alpha]\naddress = 16.0.0.1\nport = 0\n' > "$T/groupaddr.conf"
check_bad groupaddr "groupaddr\.conf:2: .*address"

printf '[node alpha]\naddress = 0.0.0.1\nport = 0\n[node bravo]\naddress = 0.0.0.1\nport = 0\n' > "$T/dupaddr.conf"
check_bad dupaddr "dupaddr\.conf:5: .*address"

printf '[node alpha]\naddress = 0.0.0.1\nport = 0\ngroups = nosuch\n' > "$T/nogroup.conf"
check_bad nogroup "nogroup\.conf:4: .*groups"

printf '[channel]\nrate = 2400\n' > "$T/nonodes.conf"
check_bad nonodes "nonodes\.conf:1: .*node"

echo "PASS: sim_config"
