# lib.sh - shared helpers for integration scripts (sourced, POSIX sh + bash).
# Servers run on loopback ports chosen at run time and are stopped by PID
# on exit; readiness is awaited by polling a log for a line, never by a
# fixed sleep.
#   . "$top_srcdir/tests/integration/lib.sh"
#   need python3            # exit 77 (skip) if a tool is missing
#   start NAME cmd args...  # background; PID in $NAME_pid, log in $T/NAME.log
#   wait_for NAME 'regex' [seconds]
#   fail "message"          # print the logs and exit 1

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$(pwd)}"
T=$(mktemp -d "${TMPDIR:-/tmp}/mule5066-test.XXXXXX")
LIB_PIDS=""

# cleanup - stop everything started, remove the scratch directory
cleanup() {
    for p in $LIB_PIDS; do
        kill "$p" 2>/dev/null
    done
    for p in $LIB_PIDS; do
        # give each a moment to exit cleanly, then insist
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1; i=$((i + 1))
        done
        kill -9 "$p" 2>/dev/null
    done
    [ -n "${KEEP_TEST_DIR:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# need - skip the test (exit 77) unless every named tool is installed
need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not installed"; exit 77; }
    done
}

# start - run a command in the background with its output in $T/NAME.log
start() {
    name=$1; shift
    "$@" > "$T/$name.log" 2>&1 &
    eval "${name}_pid=$!"
    LIB_PIDS="$LIB_PIDS $!"
}

# wait_for - poll $T/NAME.log until it matches an extended regex (default 20 s)
wait_for() {
    name=$1 pattern=$2 secs=${3:-20}
    i=0
    while [ $i -lt $((secs * 20)) ]; do
        grep -Eq "$pattern" "$T/$name.log" 2>/dev/null && return 0
        sleep 0.05; i=$((i + 1))
    done
    fail "timed out after ${secs}s waiting for /$pattern/ in $name.log"
}

# wait_exit - wait for a background PID to exit (default 30 s); its status in $?
wait_exit() {
    pid=$1 secs=${2:-30}
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt $((secs * 20)) ]; do
        sleep 0.05; i=$((i + 1))
    done
    kill -0 "$pid" 2>/dev/null && fail "pid $pid still running after ${secs}s"
    wait "$pid"
}

# fail - report with every log and stop
fail() {
    echo "FAIL: $*"
    for f in "$T"/*.log; do
        [ -f "$f" ] || continue
        echo "----- ${f##*/} (last 40 lines)"
        tail -n 40 "$f"
    done
    exit 1
}

# assert_grep - a log must contain a line matching an extended regex
assert_grep() {
    grep -Eq "$2" "$T/$1.log" || fail "$1.log has no line matching /$2/"
}

# assert_count - a log must contain exactly N lines matching a regex
assert_count() {
    n=$(grep -Ec "$3" "$T/$2.log")
    [ "$n" -eq "$1" ] || fail "$2.log has $n lines matching /$3/, want $1"
}

# start_capture NAME FILTER - tshark on lo into $T/NAME.pcap, returning once
# packets are really being written.  libpcap hands packets over in blocks
# (TPACKET_V3), so "Capturing on" comes before the filter is live and a
# packet reaches the file up to a second late: a UDP probe to a port of our
# own, also in the filter, is sent until the file grows.
start_capture() {
    cname=$1 cfilter=$2
    cap_probe=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    start "$cname" tshark -i lo -F pcap -f "($cfilter) or (udp port $cap_probe)" -w "$T/$cname.pcap"
    capture_probe_until_grown "$cname" 24 || fail "tshark did not start capturing"
}

# capture_probe_until_grown NAME SIZE - send probes until the pcap exceeds SIZE bytes
capture_probe_until_grown() {
    i=0
    while [ $i -lt 300 ]; do
        python3 -c "import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'probe', ('127.0.0.1', int(sys.argv[1])))" "$cap_probe"
        size=$(stat -c %s "$T/$1.pcap" 2>/dev/null || echo 0)
        [ "$size" -gt "$2" ] && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

# sync_capture NAME - wait until the capture started last (start_capture)
# holds everything sent so far: a marker datagram must reach $T/NAME.pcap
sync_capture() {
    marker="mule5066-sync-$$-$(date +%s%N)"
    i=0
    while [ $i -lt 100 ]; do
        python3 -c "import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(sys.argv[2].encode(), ('127.0.0.1', int(sys.argv[1])))" "$cap_probe" "$marker"
        grep -aq "$marker" "$T/$1.pcap" 2>/dev/null && return 0
        sleep 0.1; i=$((i + 1))
    done
    fail "capture $1 did not catch up"
}

# stop_capture NAME - stop tshark once everything sent so far is in the
# file (sync_capture), so the pcap is complete
stop_capture() {
    sync_capture "$1"
    eval "cpid=\$${1}_pid"
    kill -INT "$cpid"
    wait_exit "$cpid" 20
    # A loaded machine can make loopback TCP retransmit a segment; the copy
    # carries no new byte and Wireshark shows it as undissected payload:
    # keep the capture without retransmissions (the original is NAME.raw.pcap).
    # Our own probe and marker datagrams go too: their port is whatever the
    # kernel gave, and when it is one Wireshark knows (47000 is HCrt's) it
    # judges them as that protocol and finds them malformed.
    mv "$T/$1.pcap" "$T/$1.raw.pcap"
    tshark -2 -r "$T/$1.raw.pcap" \
        -R "!tcp.analysis.retransmission && !tcp.analysis.spurious_retransmission && !(udp.port == $cap_probe)" \
        -F pcap -w "$T/$1.pcap" 2>/dev/null || fail "tshark could not filter the capture $1"
}

# sim_conf FILE SCALE NODE... - an s5066sim network at 2400 bps with those
# nodes (named alpha, bravo, charlie... addressed 0.0.0.1, 0.0.0.2, ...);
# SIM_LOSS (0) and SIM_SEED (1) set the channel's loss and seed
sim_conf() {
    f=$1 scale=$2
    shift 2
    {
        printf '[channel]\nrate = 2400\nturnaround = 500ms\nloss = %s\nseed = %s\ntime_scale = %s\n' \
            "${SIM_LOSS:-0}" "${SIM_SEED:-1}" "$scale"
        i=1
        for n in "$@"; do
            printf '[node %s]\naddress = 0.0.0.%d\nport = 0\n' "$n" "$i"
            i=$((i + 1))
        done
    } > "$f"
}

# gw_conf NAME ID LANPORT SIMPORT SCALE [EXTRA_MULEGW_KEYS] - a mulegw.conf
# for node 0.0.0.ID (domain NAME.example) in $T/NAME.conf: SMTP on a free
# loopback port, spool $T/spool-NAME, LAN MTA on LANPORT, routes and
# [node] entries for alpha..charlie (0.0.0.1-3) over s5066sim at SIMPORT.
# EXTRA (lines, may be empty) goes into [mulegw]; append more sections
# to the file afterwards.
gw_conf() {
    cat > "$T/$1.conf" <<CONF
[mulegw]
hostname = gw-$1.example
spool = $T/spool-$1
$6
[smtp]
listen = 127.0.0.1:0
[lan]
relay = 127.0.0.1:$3
retry_first = 2s
[mule]
local_domains = $1.example
[route alpha.example]
node = 0.0.0.1
[route bravo.example]
node = 0.0.0.2
[route charlie.example]
node = 0.0.0.3
[pmul]
node_id = 0.0.0.$2
rate = 2400
ack_retransmission_time = 20s
ack_delay_max = 2s
ack_pdu_time = 20s
[bearer]
kind = sis
target = 127.0.0.1:$4
time_scale = $5
[node alpha]
id = 0.0.0.1
address = 0.0.0.1
[node bravo]
id = 0.0.0.2
address = 0.0.0.2
[node charlie]
id = 0.0.0.3
address = 0.0.0.3
CONF
}

# free_port - a TCP port on 127.0.0.1 that nothing uses right now, for a
# server that cannot be told port 0 (Postfix) or must be known before it
# starts.  Not what bind 0 gives: that comes from the ephemeral range,
# where every outgoing connection of the tests running alongside takes its
# port too, and one of them could take it before the server binds it; a
# random free port below that range instead.
free_port() {
    python3 - <<'PYEOF'
import random, socket
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
for _ in range(1000):
    port = random.randrange(10000, max(low, 10001))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("no free port below the ephemeral range")
PYEOF
}
