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

# Debian packages the build and the tests use (reasons in README.md).
PACKAGES="autoconf automake make gcc pkg-config zlib1g-dev libev-dev libserialport-dev \
python3 socat tshark clang libclang-rt-14-dev"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "test.sh: missing Debian packages:$missing (run as root, or install them)" >&2
        exit 1
    fi
    echo "test.sh: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    # Postfix (for the gateway tests) must not set up a system instance.
    echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
    echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q -o DPkg::Lock::Timeout=600 $missing
fi

# Loopback multicast for the UDP bearer tests.
ip link set lo multicast on 2>/dev/null || true

./autogen.sh
build=${BUILD_DIR:-$top/build}
mkdir -p "$build"
cd "$build"
"$top/configure" "$@"
make -j"$(nproc)"
make -j"$(nproc)" check
