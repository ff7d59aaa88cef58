# pmul_limits_lib.sh - shared set-up of the P_MUL receive-limit tests
# (issue 13: pmul_orphan_flood.sh, pmul_amplify.sh, pmul_rx_slots.sh),
# sourced after lib.sh: a pmulcat receiver on UDP 127.0.0.2 (node id =
# its address) in a random multicast group and port block, and
# pmul_flood.py, the hostile peer that crafts raw PDUs.  Skips (77) if
# loopback multicast cannot be set up.
#   limits_start "extra [pmul] lines"   # receiver started, $rx_pid, bearer up
#   kb PID VmHWM                        # a process's peak (or VmRSS) in kB
#   $FLOOD "$GROUP" "$BASE" "$rx_pid" CMD ...
#   $ASAN                               # 1 when built with AddressSanitizer
PY=${PYTHON3:-python3}
need "$PY"
PC="$top_builddir/pmul/pmulcat"
FLOOD="$PY $top_srcdir/tests/integration/pmul_flood.py"
[ -x "$PC" ] || fail "no $PC"
ip link set lo multicast on 2>/dev/null || true
probe=$($FLOOD probe)
[ -n "$probe" ] || { echo "SKIP: no multicast on loopback"; exit 77; }
set -- $probe
BASE=$1 GROUP=$2
ASAN=0
grep -aq __asan_init "$PC" && ASAN=1

# kb PID FIELD - VmHWM or VmRSS of a process in kB
kb() {
    sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"
}

# limits_start EXTRA - the receiver with EXTRA lines in [pmul], up and bound
limits_start() {
    cat > "$T/rx.conf" <<CONF
[pmul]
rate = 0
ack_delay_max = 100ms
$1

[bearer]
kind = udp
group = $GROUP
interface = 127.0.0.1
port = $BASE
multicast_ttl = 0
CONF
    mkdir -p "$T/rx"
    start rx "$PC" -c "$T/rx.conf" -u 127.0.0.2 -r "$T/rx"
    wait_for rx "pmul bearer-up bearer=pmulcat kind=udp address=127\.0\.0\.2 group=$GROUP"
}
