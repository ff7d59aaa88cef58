# bench_lib.sh - helpers shared by the gateway benchmarks (sourced).
# Uses tests/integration/lib.sh for the scratch directory $T, start,
# wait_for, fail and the cleanup trap; adds private Postfix instances, a
# two-node s5066sim network and mulegw configs, all on loopback ports.
#   BUILD=/path/to/builddir bench/NAME.sh     (default: the current directory)
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=$(cd "${BUILD:-.}" && pwd)
export top_srcdir top_builddir
. "$top_srcdir/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
SIM="$top_builddir/s5066/s5066sim"
GW="$top_builddir/smtp-gw/mulegw"
[ -x "$SIM" ] && [ -x "$GW" ] || { echo "no s5066sim/mulegw under $top_builddir (set BUILD=)"; exit 2; }
need "$PY" smtp-source smtp-sink
[ -x /usr/sbin/postfix ] || { echo "SKIP: /usr/sbin/postfix not installed"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: postfix start needs root"; exit 77; }
chmod 755 "$T"
. "$top_srcdir/tests/integration/postfix.sh"

# pf_queued DIR - messages in the instance's queue now
pf_queued() {
    find "$1/queue/incoming" "$1/queue/active" "$1/queue/deferred" "$1/queue/maildrop" -type f 2>/dev/null | wc -l
}

# sim_start RATE ALPHA_EMCON - s5066sim with nodes alpha and bravo on one channel
sim_start() {
    cat > "$T/net.conf" <<EOF
[channel]
rate = $1
turnaround = 20ms
loss = 0
seed = 1
max_queue = 64k

[node alpha]
address = 0.0.0.1
port = 0
emcon = $2

[node bravo]
address = 0.0.0.2
port = 0
EOF
    start sim "$SIM" -f -c "$T/net.conf" -p "$T/ports"
    wait_for sim 'sim ready nodes=2'
}
simport() { awk -v n="$1" '$1 == n { print $2 }' "$T/ports"; }

# gwconf NODE ID LANPORT RATE [EXTRA] - a mulegw config for one node
gwconf() {
    cat > "$T/$1.conf" <<EOF
[mulegw]
hostname = gw-$1.example
spool = $T/spool-$1
log_level = ${GW_LOG_LEVEL:-notice}
$5

[smtp]
listen = 127.0.0.1:0
networks = 127.0.0.0/8

[lan]
relay = 127.0.0.1:$3

[mule]
local_domains = $1.example

[route alpha.example]
node = 0.0.0.1
[route bravo.example]
node = 0.0.0.2

[pmul]
node_id = 0.0.0.$2
rate = $4

[bearer]
kind = sis
target = 127.0.0.1:$(simport "$1")

[node alpha]
id = 0.0.0.1
address = 0.0.0.1
[node bravo]
id = 0.0.0.2
address = 0.0.0.2
EOF
    "$GW" -n -c "$T/$1.conf" > "$T/check-$1.log" 2>&1 || fail "config check failed for $1: $(cat "$T/check-$1.log")"
}

# gw_port NODE - the SMTP port mulegw NODE wrote to its port file
gw_port() {
    awk '$1 == "smtp" { print $2; exit }' "$T/$1.smtp"
}

# source_run NAME PORT COUNT SESSIONS - time smtp-source into 127.0.0.1:PORT;
# sets $elapsed (s) and $rate (messages/s); the command is in $T/NAME.cmd
source_run() {
    cmd="smtp-source -c -m $3 -s $4 -l 4096 -f from@alpha.example -t to@bravo.example 127.0.0.1:$2"
    echo "$cmd" > "$T/$1.cmd"
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    $cmd > "$T/$1.out" 2>&1 || fail "$1: smtp-source failed: $(tail -c 300 "$T/$1.out")"
    t1=$(date +%s.%N)
    elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    rate=$(awk -v n="$3" -v e="$elapsed" 'BEGIN { printf "%.1f", n / e }')
}

# fsync_probe - median latency (ms) of one durable small-file write (write,
# fsync, rename, fsync of the directory) in $T, of 50: how busy the disk is
fsync_probe() {
    "$PY" - "$T" <<'EOF'
import os, sys, time
d = os.path.join(sys.argv[1], "probe")
os.makedirs(d, exist_ok=True)
dfd = os.open(d, os.O_RDONLY)
lat = []
for i in range(50):
    t0 = time.perf_counter()
    fd = os.open(os.path.join(d, "tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, b"x" * 512)
    os.fsync(fd)
    os.close(fd)
    os.rename(os.path.join(d, "tmp"), os.path.join(d, "f%d" % i))
    os.fsync(dfd)
    lat.append(time.perf_counter() - t0)
lat.sort()
print("%.2f" % (1000 * lat[len(lat) // 2]))
EOF
}
