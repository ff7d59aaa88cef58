#!/bin/sh
# man_lint.sh - every manual page (made from doc/*.in in the build tree) is
# clean: no warning or error from `mandoc -T lint -W warning`, none from
# `groff -ww -z -mdoc` when groff is installed (but for "can't break line",
# which depends on the length of the prefix), and each has the sections an
# operator looks for (NAME, SYNOPSIS, DESCRIPTION, OPTIONS, FILES, EXIT
# STATUS, EXAMPLES, SEE ALSO).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need mandoc
pages="doc/mulegw.8 doc/mulegw.conf.5 doc/mulectl.8 doc/s5066sim.8 doc/s5066cat.1 doc/pmulcat.1"
for p in $pages; do
    [ -f "$top_builddir/$p" ] || fail "$top_builddir/$p was not made (make all makes it from $p.in)"
done
bad=0
for p in $pages; do
    f="$top_builddir/$p"
    mandoc -T lint -W warning "$f" > "$T/lint.out" 2>&1
    rc=$?
    if [ $rc -ne 0 ] || grep -q . "$T/lint.out"; then
        echo "$p: mandoc -T lint -W warning (exit $rc):"
        cat "$T/lint.out"
        bad=1
    fi
    if command -v groff > /dev/null 2>&1; then
        # every warning but "can't break line": whether a path fits a line
        # depends on the prefix substituted into it (distcheck's is long)
        groff -ww -Wbreak -z -mdoc "$f" > "$T/groff.out" 2>&1
        rc=$?
        if [ $rc -ne 0 ] || grep -q . "$T/groff.out"; then
            echo "$p: groff -ww -Wbreak -z -mdoc (exit $rc):"
            cat "$T/groff.out"
            bad=1
        fi
    fi
    for s in NAME SYNOPSIS DESCRIPTION OPTIONS FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
        grep -qx "\.Sh $s" "$f" || { echo "$p: no $s section"; bad=1; }
    done
    if grep -n '@[a-z]*dir@' "$f"; then
        echo "$p: a placeholder was not substituted"
        bad=1
    fi
done
[ $bad -eq 0 ] || { echo "FAIL: manual pages have warnings"; exit 1; }
echo "$(echo $pages | wc -w) manual pages lint clean"
exit 0
