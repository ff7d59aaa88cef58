#!/bin/sh
# airtime.sh - issue 14's figures of the air, P_MUL over s5066sim, in
# radio time (the simulator's clock; -s SCALE only makes it run faster).
# pmulcat sends from node alpha to the receivers with the default ACP 142
# timers; s5066sim (rate, 500 ms turnaround, 16 bytes per burst, seeded
# U_PDU loss per receiver) counts every byte on the air.
#
#   P1  air bytes / payload: 20 kB of random bytes to 4 nodes, no loss,
#       2400 bit/s (every node's bytes on the air, acks included)
#   P2  completion at 10% loss / at none, 4 nodes, 20 kB, 2400 bit/s,
#       seeds 1-5 (completion: the sender's first transmission to the
#       last destination's ack on the air)
#   P4  payload bits / (rate x elapsed), 50 x 4 kB queued at once,
#       9600 bit/s, to one node and to a group of 4
#   P7  zopfli / zlib -9, the CompressedData of a 10.8 kB English text
#       (the first 10,800 bytes of /usr/share/common-licenses/GPL-3)
#
# It reports; it does not pass or fail.  Results with their commands go to
# BENCHMARKS.md.
#   BUILD=/path/to/builddir sh bench/airtime.sh [p1|p2|p4 ...]
#   AIRTIME_SCALE (50), AIRTIME_SEEDS ("1 2 3 4 5"), KEEP_TEST_DIR=1
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=$(cd "${BUILD:-.}" && pwd)
export top_srcdir top_builddir
. "$top_srcdir/tests/integration/lib.sh"
SIM="$top_builddir/s5066/s5066sim"
PC="$top_builddir/pmul/pmulcat"
[ -x "$SIM" ] && [ -x "$PC" ] || { echo "no s5066sim/pmulcat under $top_builddir (set BUILD=)"; exit 2; }
SCALE=${AIRTIME_SCALE:-50}
SEEDS=${AIRTIME_SEEDS:-1 2 3 4 5}
NAMES="bravo charlie delta echo"

# net_conf RATE LOSS SEED NRX - the network: alpha and NRX receivers in one group
net_conf() {
    {
        printf '[channel]\nrate = %s\nturnaround = 500ms\nloss = %s\nseed = %s\nmax_queue = 64k\n\n' "$1" "$2" "$3"
        printf '[group all]\naddress = 16.0.0.1\n\n[node alpha]\naddress = 0.0.0.1\nport = 0\n\n'
        i=2
        for n in $NAMES; do
            [ $i -le $(($4 + 1)) ] || break
            printf '[node %s]\naddress = 0.0.0.%d\nport = 0\ngroups = all\n\n' "$n" $i
            i=$((i + 1))
        done
    } > "$T/net.conf"
    {
        printf '[pmul]\nrate = %s\npdu_overhead = 16\nturnaround = 500ms\n\n' "$1"
        printf '[bearer]\nkind = sis\nsap = 2\nclient_header = yes\napp_id = 0x2000\n'
        printf 'data_mode = nonarq\nack_mode = arq\n\n[node alpha]\nid = 1\naddress = 0.0.0.1\n\n'
        i=2
        members=""
        for n in $NAMES; do
            [ $i -le $(($4 + 1)) ] || break
            printf '[node %s]\nid = %d\naddress = 0.0.0.%d\n\n' "$n" $i $i
            members="$members${members:+, }$n"
            i=$((i + 1))
        done
        printf '[group all]\naddress = 16.0.0.1\nmembers = %s\n' "$members"
    } > "$T/pmul.conf"
    # a build from before [pmul] turnaround: the 500 ms as bytes at the rate
    if ! "$PC" -C -c "$T/pmul.conf" -i alpha > /dev/null 2>&1; then
        sed -i "s/^pdu_overhead = 16$/pdu_overhead = $((16 + $1 / 16))/; /^turnaround = /d" "$T/pmul.conf"
        "$PC" -C -c "$T/pmul.conf" -i alpha > /dev/null || fail "pmulcat refuses $T/pmul.conf"
    fi
}

# run RATE LOSS SEED NRX NMSG SIZE - one transfer; sets AIR (bytes on the
# air, all nodes), ELAPSED (radio s, first burst of alpha to the last
# receiver's ack done) and PAYLOAD (bytes)
run() {
    rate=$1 loss=$2 seed=$3 nrx=$4 nmsg=$5 size=$6
    rm -rf "$T/run"
    mkdir -p "$T/run"
    net_conf "$rate" "$loss" "$seed" "$nrx"
    start sim "$SIM" -f -c "$T/net.conf" -s "$SCALE" -p "$T/ports"
    wait_for sim "sim ready nodes=$((nrx + 1))"
    rx=""
    i=0
    for n in $NAMES; do
        [ $i -lt "$nrx" ] || break
        mkdir -p "$T/run/rx-$n"
        start "$n" "$PC" -c "$T/pmul.conf" -i "$n" -s "127.0.0.1:$(awk -v n="$n" '$1 == n { print $2 }' "$T/ports")" \
            -r "$T/run/rx-$n" --time-scale "$SCALE"
        wait_for "$n" 'pmul bearer-up'
        rx="$rx${rx:+,}$n"
        i=$((i + 1))
    done
    files=""
    k=1
    while [ $k -le "$nmsg" ]; do
        head -c "$size" /dev/urandom > "$T/run/m$k.bin"
        files="$files -f $T/run/m$k.bin"
        k=$((k + 1))
    done
    # shellcheck disable=SC2086
    start alpha "$PC" -c "$T/pmul.conf" -i alpha -s "127.0.0.1:$(awk '$1 == "alpha" { print $2 }' "$T/ports")" \
        -d "$rx" $files --time-scale "$SCALE" -e 36000 -t 3000
    wait_exit "$alpha_pid" 3100 || fail "the sender exited $? (not every destination acked)"
    for n in $(echo "$rx" | tr , ' '); do kill "$(eval echo \$${n}_pid)"; done
    kill -TERM "$sim_pid"
    wait_exit "$sim_pid" 20 || true
    AIR=$(sed -n 's/.*sim stats node=.* bytes_on_air=\([0-9]*\) .*/\1/p' "$T/sim.log" | awk '{ s += $1 } END { print s }')
    t0=$(sed -n 's/.*sim tx node=alpha .* t=\([0-9.]*\)$/\1/p' "$T/sim.log" | head -n 1)
    t1=$(grep -E 'sim done node=(bravo|charlie|delta|echo) ' "$T/sim.log" | sed -n 's/.* t=\([0-9.]*\)$/\1/p' | tail -n 1)
    ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    PAYLOAD=$((nmsg * size))
    for n in $(echo "$rx" | tr , ' '); do
        got=$(find "$T/run/rx-$n" -type f | wc -l)
        [ "$got" -eq "$nmsg" ] || fail "$n received $got of $nmsg messages"
    done
    mv "$T/sim.log" "$T/sim-$rate-$loss-$seed-$nrx-$nmsg.log"
    for n in alpha $(echo "$rx" | tr , ' '); do mv "$T/$n.log" "$T/$n-$rate-$loss-$seed-$nrx-$nmsg.log"; done
}

p1() {
    run 2400 0 1 4 1 20000
    echo "P1 air bytes / payload, 20 kB to 4 nodes, no loss, 2400 bit/s: $AIR / $PAYLOAD =" \
        "$(awk -v a="$AIR" -v p="$PAYLOAD" 'BEGIN { printf "%.3f", a / p }') (elapsed $ELAPSED s)"
}

p2() {
    sum=0 lo="" hi="" list=""
    for s in $SEEDS; do
        run 2400 0 "$s" 4 1 20000
        clean=$ELAPSED
        run 2400 0.1 "$s" 4 1 20000
        lossy=$ELAPSED
        r=$(awk -v a="$lossy" -v b="$clean" 'BEGIN { printf "%.2f", a / b }')
        echo "P2 seed $s: $clean s clean, $lossy s at 10% loss: $r"
        list="$list $r"
    done
    echo "P2 completion at 10% loss / none, 4 nodes, 20 kB, 2400 bit/s, seeds $SEEDS:" \
        "$(echo "$list" | awk '{ for (i = 1; i <= NF; i++) { s += $i; if (!lo || $i < lo) lo = $i; if ($i > hi) hi = $i }
                                 printf "mean %.2f (%.2f-%.2f)", s / NF, lo, hi }')"
}

p4() {
    run 9600 0 1 1 50 4000
    echo "P4 50 x 4 kB to one node at 9600 bit/s: $ELAPSED s," \
        "$(awk -v p="$PAYLOAD" -v e="$ELAPSED" 'BEGIN { printf "%.1f%%", p * 8 * 100 / (9600 * e) }') of the channel"
    run 9600 0 1 4 50 4000
    echo "P4 50 x 4 kB to a group of 4 at 9600 bit/s: $ELAPSED s," \
        "$(awk -v p="$PAYLOAD" -v e="$ELAPSED" 'BEGIN { printf "%.1f%%", p * 8 * 100 / (9600 * e) }') of the channel"
}

p7() {
    head -c 10800 /usr/share/common-licenses/GPL-3 > "$T/text.txt"
    "$top_builddir/bench/mule_compress" "$T/text.txt" 15 || echo "P7: no bench/mule_compress (make check builds it)"
}

[ $# -gt 0 ] || set -- p1 p2 p4 p7
echo "# bench/airtime.sh, build at $(git -C "$top_builddir" rev-parse --short HEAD 2>/dev/null), scale $SCALE"
for f in "$@"; do
    "$f"
done
