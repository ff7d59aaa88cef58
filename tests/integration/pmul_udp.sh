#!/bin/sh
# pmul_udp.sh - P_MUL over UDP (ACP 142 Annex B) on loopback with real
# processes: three pmulcat receivers on 127.0.0.2, .3 and .4 (node ids =
# their IPv4 addresses) share the multicast group, one sender on 127.0.0.1
# sends a 100 kB file of random bytes to all three; each receiver drops 10%
# of the datagrams it gets (the bearer's test aid), so retransmission is
# exercised.  Every receiver must store the file byte for byte and the
# sender must report all three acked.  A random multicast group and port
# block keep concurrent runs apart.  Skips (77) if loopback multicast
# cannot be set up.
. "$top_srcdir/tests/integration/lib.sh"
PY=${PYTHON3:-python3}
need "$PY"
PC="$top_builddir/pmul/pmulcat"
[ -x "$PC" ] || fail "no $PC"

# loopback multicast: set the flag if we may (root), then check it works
ip link set lo multicast on 2>/dev/null || true
probe=$("$PY" - <<'PY'
import random, socket
for _ in range(50):
    base = random.randrange(20000, 60000, 4)
    group = "239.%d.%d.%d" % (random.randrange(1, 255), random.randrange(0, 256), random.randrange(1, 255))
    socks = []
    try:
        for i in range(4):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", base + i))
            socks.append(s)
        r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        r.bind((group, base + 2))
        r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                     socket.inet_aton(group) + socket.inet_aton("127.0.0.1"))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        s.bind(("127.0.0.2", 0))
        s.sendto(b"probe", (group, base + 2))
        r.settimeout(2)
        if r.recv(16) == b"probe":
            print(base, group)
            break
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
PY
)
[ -n "$probe" ] || { echo "SKIP: no multicast on loopback"; exit 77; }
set -- $probe
BASE=$1 GROUP=$2

cat > "$T/udp.conf" <<CONF
[pmul]
# IP on loopback: no pacing; short timers instead of the radio defaults
rate = 0
ack_retransmission_time = 1s
back_off_factor = 1.2
ack_pdu_time = 1s
ack_delay_max = 200ms

[bearer]
kind = udp
group = $GROUP
interface = 127.0.0.1
port = $BASE
multicast_ttl = 0
drop = 0.1
CONF

head -c 102400 /dev/urandom > "$T/file.bin"
for i in 2 3 4; do
    mkdir "$T/rx-$i"
    start "rx$i" "$PC" -c "$T/udp.conf" -u "127.0.0.$i" -r "$T/rx-$i"
done
for i in 2 3 4; do
    wait_for "rx$i" "pmul bearer-up bearer=pmulcat kind=udp address=127\.0\.0\.$i group=$GROUP"
done

t0=$(date +%s)
start tx "$PC" -c "$T/udp.conf" -u 127.0.0.1 -d 127.0.0.2,127.0.0.3,127.0.0.4 -f "$T/file.bin" -t 90
wait_exit "$tx_pid" 100 || fail "the sender exited $? (not every destination acked)"
t1=$(date +%s)

assert_count 3 tx '^sent .*/file\.bin msgid=[0-9]+ dest=127\.0\.0\.[234] result=acked$'
assert_grep tx 'sent 1 of 1 message\(s\) to 3 destination\(s\): 3 acked, 0 failed'
assert_grep tx 'main stats .*data_resent=[1-9]'
# node id 127.0.0.1 = 2130706433
for i in 2 3 4; do
    set -- "$T/rx-$i"/2130706433-*
    [ $# -eq 1 ] && [ -f "$1" ] || fail "rx$i: want one file from 127.0.0.1, have: $(ls "$T/rx-$i")"
    cmp "$T/file.bin" "$1" || fail "rx$i: the received file differs"
done
grep -q 'pdu-bad' "$T"/*.log && fail "a bad PDU was logged"
echo "PASS: pmul_udp: 100 kB to 3 nodes over UDP multicast (group $GROUP ports $BASE-$((BASE + 3))), 10% drop, $((t1 - t0)) s"
exit 0
