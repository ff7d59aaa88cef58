#!/bin/sh
# selftest.sh - the wire judge judged: selftest.py writes small pcaps by hand
# (STANAG 5066 Annex A SIS over TCP with ACP 142 P_MUL and RFC 8494 / RFC 3274
# CompressedData; STANAG 5066 Annex C D_PDUs of link type 237), clean ones and
# one per fault, and checks that tests/wire/wire_judge.py passes the clean
# ones and fails each fault with the counter that names it.
. "$top_srcdir/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY" tshark
"$PY" "$top_srcdir/tests/wire/selftest.py" "$top_srcdir/tests/wire/wire_judge.py" \
    "$top_srcdir/tests/data" "$T/pcaps" > "$T/selftest.log" 2>&1 \
    || fail "the judge misjudged: $(grep -c '^not ok' "$T/selftest.log") check(s)"
grep -q '^all checks passed$' "$T/selftest.log" || fail "selftest.py did not finish"
grep -v '^#' "$T/selftest.log"
exit 0
