#!/bin/sh
# pmul_config.sh - pmulcat's config and options: the example configs in
# conf/ check clean; unknown keys, bad values, unknown group members,
# duplicate nodes and bad options are refused with exit 2 and file:line.
. "$top_srcdir/tests/integration/lib.sh"
PC="$top_builddir/pmul/pmulcat"
[ -x "$PC" ] || fail "no $PC"

"$PC" -C -c "$top_srcdir/conf/pmulcat-sis.conf" -i alpha > "$T/ok1.log" 2>&1 || fail "pmulcat-sis.conf: $(cat "$T/ok1.log")"
grep -q 'ok, node 1, sis bearer, 3 nodes, 1 groups' "$T/ok1.log" || fail "$(cat "$T/ok1.log")"
"$PC" -C -c "$top_srcdir/conf/pmulcat-udp.conf" > "$T/ok2.log" 2>&1 || fail "pmulcat-udp.conf: $(cat "$T/ok2.log")"
grep -q 'ok, node 2130706433, udp bearer' "$T/ok2.log" || fail "$(cat "$T/ok2.log")"

# refused CONF-TEXT PATTERN [options] - pmulcat -C must exit 2 with a matching message
refused() {
    printf "$1" > "$T/bad.conf"
    pat=$2; shift 2
    "$PC" -C -c "$T/bad.conf" "$@" > "$T/bad.log" 2>&1
    rc=$?
    [ $rc -eq 2 ] || fail "exit $rc for: $(cat "$T/bad.conf")"
    grep -Eq -e "$pat" "$T/bad.log" || fail "want /$pat/, got: $(cat "$T/bad.log")"
}
refused '[pmul]\nnode_id = 1\nbogus = 3\n' "bad\.conf:3: \[pmul\] key 'bogus': unknown key"
refused '[bearer]\nkind = tcp\n' "bad\.conf:2: .*'tcp' is not one of: sis, udp" -i 1
refused '[bearer]\nkind = udp\ntarget = 1.2.3.4:5\n' "bad\.conf:3: .*'target': unknown key" -i 1
refused '[node a]\nid = 1\naddress = 16.0.0.1\n' "bad\.conf:3: .*a 5066 node address" -i 1
refused '[node a]\nid = 2\n[node b]\nid = 2\n' "bad\.conf:4: \[node b\] key 'id': node name or id given twice" -i 1
refused '[node a]\nid = 2\nack_source_id = receiver\n' "bad\.conf:3: \[node a\] key 'ack_source_id'" -i 1
refused '[group g]\naddress = 16.0.0.1\nmembers = nobody\n' "bad\.conf:3: .*'nobody' is neither" -i 1
refused '[group g]\naddress = 0.0.0.1\nmembers = 2\n' "bad\.conf:2: .*group address" -i 1
refused '[bearer]\nsis_priority = 15,99\n' "bad\.conf:2: .*sis_priority" -i 1
refused '[pmul]\nback_off_factor = 0.5\n' "bad\.conf:2: .*back_off_factor" -i 1
refused '[bearer]\nkind = udp\ngroup = 10.0.0.1\n' "bad\.conf:3: .*multicast" -i 1
refused '[pmul]\n' "no node id"
refused '[node a]\nid = 1\n' "'zulu' is neither" -i 1 -d zulu
refused '[node a]\nid = 1\n' "is this node" -i 1 -d a
refused '[node a]\nid = 1\n' "-f needs destinations" -i 1 -f /dev/null
"$PC" -i 1 -s 127.0.0.1:1 > "$T/nothing.log" 2>&1
[ $? -eq 2 ] || fail "nothing to do accepted"
grep -q 'nothing to do' "$T/nothing.log" || fail "$(cat "$T/nothing.log")"
echo "PASS: pmul_config"
exit 0
