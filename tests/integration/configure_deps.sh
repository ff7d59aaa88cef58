#!/bin/sh
# configure_deps.sh - a missing dependency stops configure with a message
# naming the Debian package to install: zlib (pkg-config), libserialport
# (pkg-config) and libev (header and library; Debian ships no libev.pc).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need pkg-config
[ -x "$top_srcdir/configure" ] || { echo "SKIP: no configure script"; exit 77; }
# configure refuses a build directory of its own when the source tree is
# configured in place (the README's in-tree build): run a copy of what it
# reads (the script, its inputs, the aux scripts) from a scratch source tree.
mkdir -p "$T/src/util"
cp -p "$top_srcdir/configure" "$top_srcdir/config.h.in" "$top_srcdir/Makefile.in" "$T/src/" || fail "cannot copy configure"
cp -pR "$top_srcdir/build-aux" "$T/src/" || fail "cannot copy build-aux"
cp -p "$top_srcdir/util/util.h" "$T/src/util/" || fail "cannot copy util/util.h"
CONFIGURE="$T/src/configure"

# run_configure NAME ENV... - configure in its own directory with ENV set
run_configure() {
    name=$1
    shift
    mkdir -p "$T/$name"
    (cd "$T/$name" && env "$@" "$CONFIGURE" --quiet > "$T/$name.log" 2>&1)
}

# no pkg-config files at all: zlib is the first one missing
run_configure nozlib PKG_CONFIG_LIBDIR="$T/empty" PKG_CONFIG_PATH= && fail "configure passed without zlib"
assert_grep nozlib 'zlib not found: install the Debian package zlib1g-dev'

# only zlib's .pc file: libserialport is missing
mkdir -p "$T/pc-zlib"
zpc=$(pkg-config --variable=pcfiledir zlib)/zlib.pc
cp "$zpc" "$T/pc-zlib/"
run_configure noserial PKG_CONFIG_LIBDIR="$T/pc-zlib" PKG_CONFIG_PATH= && fail "configure passed without libserialport"
assert_grep noserial 'libserialport not found: install the Debian package libserialport-dev'

# libev's header missing (the cache variable stands in for an uninstalled package)
run_configure noev ac_cv_header_ev_h=no && fail "configure passed without ev.h"
assert_grep noev 'libev headers not found: install the Debian package libev-dev'
run_configure noevlib ac_cv_lib_ev_ev_run=no && fail "configure passed without libev"
assert_grep noevlib 'libev library not found: install the Debian package libev-dev'
echo "each missing dependency names its Debian package"
exit 0
