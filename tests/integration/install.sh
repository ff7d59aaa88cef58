#!/bin/sh
# install.sh - `make install DESTDIR=...` from the build tree puts every file
# where the manual pages say: the programs in bin and sbin, each page in
# man1/man5/man8, the event catalogue and examples in docdir, mulegw.conf in
# $(sysconfdir)/mule5066, the systemd unit (with the installed paths in
# ExecStart) and the sysusers.d entry; every FILES path of an installed page
# that lies under the prefix or sysconfdir exists.  The installed mulegw
# accepts the installed example config (mulegw -n); a second install keeps
# an operator's edited mulegw.conf; uninstall removes everything else and
# keeps the edited config.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need make cmp
[ -f "$top_builddir/Makefile" ] || { echo "SKIP: no Makefile in $top_builddir"; exit 77; }

# run make in the build tree, not as part of the make that runs this test
bmake() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES make -C "$top_builddir" "$@"
}
bmake -s mule5066-installdirs > "$T/dirs" 2> "$T/dirs.log" || fail "make mule5066-installdirs failed: $(cat "$T/dirs.log")"
. "$T/dirs"
D="$T/dest"
bmake install DESTDIR="$D" > "$T/install.log" 2>&1 || fail "make install failed (install.log)"

# exists PATH [what] - PATH (under DESTDIR) is a file, or a directory if it ends in /
exists() {
    case "$1" in
    */) [ -d "$D$1" ] || fail "${2:-}$1 is not installed (no directory $D$1)" ;;
    *) [ -f "$D$1" ] || fail "${2:-}$1 is not installed (no file $D$1)" ;;
    esac
}

# the programs
for p in $bin_programs; do
    [ -x "$D$bindir/${p##*/}" ] || fail "program $bindir/${p##*/} not installed"
done
for p in $sbin_programs; do
    [ -x "$D$sbindir/${p##*/}" ] || fail "program $sbindir/${p##*/} not installed"
done
for p in s5066sim s5066cat pmulcat; do
    [ -x "$D$bindir/$p" ] || fail "$bindir/$p not installed"
done
[ -x "$D$sbindir/mulegw" ] || fail "$sbindir/mulegw not installed (a daemon: sbin)"
[ ! -e "$D$bindir/mulegw" ] || fail "mulegw installed in bin as well as sbin"

# the manual pages, each in its section's directory
npages=0
for m in $mans; do
    page=${m##*/}
    sec=${page##*.}
    exists "$mandir/man$sec/$page" "manual page "
    npages=$((npages + 1))
done
[ "$npages" -ge 6 ] || fail "only $npages manual pages: $mans"
for page in mulegw.8 mulegw.conf.5 mulectl.8 s5066sim.8 s5066cat.1 pmulcat.1; do
    sec=${page##*.}
    exists "$mandir/man$sec/$page" "manual page "
done

# every FILES path of every page that make install should have put there
nfiles=0
for m in $mans; do
    page=${m##*/}
    sec=${page##*.}
    f="$D$mandir/man$sec/$page"
    sed -n '/^\.Sh FILES/,/^\.Sh /s/^\.It Pa \([^ ]*\).*/\1/p' "$f" > "$T/files"
    while read -r path; do
        case "$path" in
        "$localstatedir"/*) ;; # made at run time (the control socket)
        "$prefix"/* | "$sysconfdir"/*)
            exists "$path" "$page FILES: "
            nfiles=$((nfiles + 1))
            ;;
        esac
    done < "$T/files"
done
[ "$nfiles" -ge 8 ] || fail "only $nfiles installed paths found in the FILES sections"

# what the pages promise, by name
conf="$sysconfdir/mule5066/mulegw.conf"
exists "$conf"
cmp -s "$top_srcdir/conf/mulegw.conf" "$D$conf" || fail "$conf is not the example conf/mulegw.conf"
exists "$docdir/events.md"
for e in mulegw.conf s5066sim.conf pmulcat-sis.conf pmulcat-udp.conf; do
    exists "$docdir/examples/$e"
done
exists "$sysusersdir/mulegw.conf"
grep -q '^u mulegw ' "$D$sysusersdir/mulegw.conf" || fail "the sysusers.d entry creates no user mulegw"
if [ "$systemdsystemunitdir" != no ]; then
    unit="$D$systemdsystemunitdir/mulegw.service"
    exists "$systemdsystemunitdir/mulegw.service"
    grep -qx "ExecStart=$sbindir/mulegw -f -c $conf" "$unit" \
        || fail "mulegw.service: no 'ExecStart=$sbindir/mulegw -f -c $conf': $(grep ExecStart "$unit")"
    grep -q '@[a-z]*@' "$unit" && fail "mulegw.service: a placeholder was not substituted"
    for k in Type=simple Restart=on-failure RuntimeDirectory=mulegw StateDirectory=mulegw \
        NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes; do
        grep -qx "$k" "$unit" || fail "mulegw.service has no $k"
    done
fi

# the installed gateway accepts the installed example (-n opens nothing: no
# spool needed).  It runs as user mulegw: without that account (before
# systemd-sysusers) -n names the key, and the rest of the file is valid.
checked="$D$conf"
if ! getent passwd mulegw > /dev/null 2>&1; then
    "$D$sbindir/mulegw" -n -c "$D$conf" > "$T/check-user.log" 2>&1 && fail "mulegw -n accepts user = mulegw without that account"
    line=$(grep -n '^user = mulegw$' "$D$conf" | cut -d: -f1)
    [ -n "$line" ] || fail "the installed config has no 'user = mulegw' line"
    grep -qF "mulegw: $D$conf:$line: [mulegw] key 'user': no such user 'mulegw'" "$T/check-user.log" \
        || fail "mulegw -n without the account said: $(cat "$T/check-user.log")"
    grep -v '^user = mulegw$' "$D$conf" > "$T/nouser.conf"
    checked="$T/nouser.conf"
fi
"$D$sbindir/mulegw" -n -c "$checked" > "$T/check.log" 2>&1 || fail "mulegw -n rejects the installed config: $(cat "$T/check.log")"
grep -q 'configuration OK' "$T/check.log" || fail "mulegw -n said: $(cat "$T/check.log")"

# a second install keeps an edited config
echo "# edited by the operator" >> "$D$conf"
cp "$D$conf" "$T/edited.conf"
bmake install DESTDIR="$D" > "$T/install2.log" 2>&1 || fail "second make install failed (install2.log)"
cmp -s "$T/edited.conf" "$D$conf" || fail "the second make install overwrote the edited $conf"
grep -q "keeping .*mulegw.conf" "$T/install2.log" || fail "the second make install did not say it kept $conf"

# uninstall: everything goes but the edited config
bmake uninstall DESTDIR="$D" > "$T/uninstall.log" 2>&1 || fail "make uninstall failed (uninstall.log)"
left=$(cd "$D" && find . -type f | sort)
[ "$left" = ".$conf" ] || fail "after make uninstall, left: $left (want only .$conf)"
cmp -s "$T/edited.conf" "$D$conf" || fail "make uninstall changed the edited $conf"

echo "installed $npages manual pages, $nfiles FILES paths checked, $conf kept when edited"
exit 0
