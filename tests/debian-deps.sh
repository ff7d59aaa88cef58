# debian-deps.sh - the Debian 12 packages mule5066's build, tests and demo
# need, in one place (sourced by test.sh, demo.sh and .ci/run).
# MULE5066_FORCE_INSTALL=1 installs them all (apt-get update first) even if
# present, as CI does on its clean machine.
#   install_debian_deps    # installs the missing ones (as root), or explains
# Why each: autoconf/automake/make/gcc/pkg-config build it; zlib1g-dev
# (MULE compression), libev-dev (event loops), libserialport-dev (serial
# modems) are the libraries, with libzopfli-dev ([mule] compress = zopfli:
# a deflate a few per cent smaller than zlib -9 in the same zlib stream,
# Debian's build of Google's zopfli rather than one of our own); python3
# (test clients, DSN parsing), socat (serial pty pairs), tshark (Wireshark's dissectors judge our bytes), clang
# and libclang-rt-14-dev (libFuzzer, sanitizers), postfix (the gateway's
# LAN MTA in tests and benchmarks), mandoc and groff-base (the manual pages
# are lint clean) run the tests.
MULE5066_PACKAGES="autoconf automake make gcc pkg-config zlib1g-dev libev-dev libserialport-dev libzopfli-dev \
python3 socat tshark clang libclang-rt-14-dev iproute2 postfix mandoc groff-base"

# install_debian_deps - apt-get install whatever of MULE5066_PACKAGES is missing
install_debian_deps() {
    missing=""
    for p in $MULE5066_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -n "${MULE5066_FORCE_INSTALL:-}" ] && missing=" $MULE5066_PACKAGES"
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "missing Debian packages:$missing (run as root, or install them)" >&2
        return 1
    fi
    echo "installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    # Postfix must not set up a system instance; tshark must not ask about capture rights.
    echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
    echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
    apt-get update -q || return 1
    # shellcheck disable=SC2086
    apt-get install -y -q -o DPkg::Lock::Timeout=600 $missing
}
