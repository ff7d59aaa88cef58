#!/bin/sh
# mule_dsn.sh - DSNs from mule_dsn_build() for the RFC 8494 example
# envelope, written by tests/unit/mule_dsn_tool and parsed by Python's email
# package (mule_dsn_check.py): multipart/report with a message/delivery-status
# part carrying the right Action, Status, Final-Recipient and
# Original-Envelope-Id; none for a null return path.
. "$top_srcdir/tests/integration/lib.sh"
need python3
"$top_builddir/tests/unit/mule_dsn_tool" "$top_srcdir/tests/data/mule/rfc8494_example.bsmtp" "$T" \
    > "$T/tool.log" 2>&1 || fail "mule_dsn_tool exited $?"
cat "$T/tool.log"
assert_grep tool '^failed.eml 3$'
assert_grep tool '^delayed.eml 1$'
assert_grep tool '^relayed.eml 1$'
assert_grep tool '^null 0$'
[ ! -e "$T/null" ] || fail "a DSN was written for the null return path"
python3 "$top_srcdir/tests/integration/mule_dsn_check.py" "$T" > "$T/check.log" 2>&1 \
    || fail "python email check failed"
cat "$T/check.log"
exit 0
