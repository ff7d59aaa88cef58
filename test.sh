#!/bin/sh
# test.sh - the README's test command: on a fresh Debian 12 machine (as root)
# install what the build and the tests need, bootstrap, configure, build and
# run `make check`.  Extra arguments go to configure.
#   ./test.sh                       # gcc, default flags
#   ./test.sh --enable-sanitizers   # ASan + UBSan
# Environment: BUILD_DIR (default ./build; the source tree itself if it is
# already configured in place), CC, MAKEFLAGS.
set -eu
cd "$(dirname "$0")"
top=$(pwd)

. "$top/tests/debian-deps.sh"
install_debian_deps

# Loopback multicast for the UDP bearer tests.
ip link set lo multicast on 2>/dev/null || true

./autogen.sh
# A source tree configured in place (README: ./configure && make) is built
# there: configure refuses a separate build directory beside it.
if [ -f "$top/config.status" ]; then
    [ -z "${BUILD_DIR:-}" ] || [ "$BUILD_DIR" = "$top" ] || {
        echo "test.sh: $top is configured in place; run 'make distclean' there to use BUILD_DIR=$BUILD_DIR" >&2
        exit 2
    }
    build=$top
else
    build=${BUILD_DIR:-$top/build}
fi
mkdir -p "$build"
cd "$build"
"$top/configure" "$@"
make -j"$(nproc)"
make -j"$(nproc)" check
