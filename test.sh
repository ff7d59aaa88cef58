#!/bin/sh
# test.sh - the README's test command: on a fresh Debian 12 machine (as root)
# install what the build and the tests need, bootstrap, configure, build and
# run `make check`.  Extra arguments go to configure.
#   ./test.sh                       # gcc, default flags
#   ./test.sh --enable-sanitizers   # ASan + UBSan
# Environment: BUILD_DIR (default ./build), CC, MAKEFLAGS.
set -eu
cd "$(dirname "$0")"
top=$(pwd)

. "$top/tests/debian-deps.sh"
install_debian_deps

# Loopback multicast for the UDP bearer tests.
ip link set lo multicast on 2>/dev/null || true

./autogen.sh
build=${BUILD_DIR:-$top/build}
mkdir -p "$build"
cd "$build"
"$top/configure" "$@"
make -j"$(nproc)"
make -j"$(nproc)" check
