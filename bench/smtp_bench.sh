#!/bin/sh
# smtp_bench.sh - how fast mulegw accepts mail from the LAN, against Postfix,
# in the same run.  smtp-source (from the postfix package) sends COUNT
# (1000) messages of 4096 bytes over SESSIONS (20) parallel sessions, one
# message per connection, to:
#   mulegw alpha: spool fsync'd before every 250 (always on), bearer
#     s5066sim at 240000 bps to mulegw bravo, which delivers to smtp-sink;
#   Postfix: a private instance (Debian's defaults, queue files fsync'd),
#     relaying bravo.example to the same smtp-sink.
# Rounds alternate mulegw / Postfix (ROUNDS, default 3) after a warm-up of
# 40 messages each; before each round both queues are drained so neither
# competes with the other's background work.  Prints messages/s per round,
# the medians and their ratio (target: mulegw >= 1.5 x Postfix).
#   BUILD=/path/to/build sh bench/smtp_bench.sh      (run as root)
# Environment: COUNT SESSIONS ROUNDS RATE GW_LOG_LEVEL (info) KEEP_TEST_DIR
# PERF_DIR (perf record of mulegw alpha during each round into PERF_DIR/roundN.data)
. "$(dirname "$0")/bench_lib.sh"
COUNT=${COUNT:-1000}
SESSIONS=${SESSIONS:-20}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-240000}
GW_LOG_LEVEL=${GW_LOG_LEVEL:-info}

SINK=$(free_port)
start sink smtp-sink -u postfix 127.0.0.1:"$SINK" 256
i=0
until "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$SINK" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || fail "smtp-sink did not listen"; sleep 0.1
done

sim_start "$RATE" no
gwconf alpha 1 "$SINK" "$RATE"
gwconf bravo 2 "$SINK" "$RATE"
for n in alpha bravo; do
    start "gw_$n" "$GW" -f -c "$T/$n.conf" -p "$T/$n.smtp"
done
for n in alpha bravo; do
    wait_for "gw_$n" 'smtpgw bearer-up'
done
GWP=$(gw_port alpha)

PFP=$(free_port)
pf_setup "$T/pf" bench "$PFP"
echo "transport_maps = texthash:$T/pf/transport" >> "$T/pf/etc/main.cf"
echo "bravo.example smtp:[127.0.0.1]:$SINK" > "$T/pf/transport"
ln -s "$T/pf/maillog" "$T/postfix.log"
pf_start "$T/pf"

# drain - wait until mulegw has sent and delivered everything and Postfix's queue is empty
drain() {
    i=0
    while [ $i -lt 6000 ]; do
        a=$(ls "$T/spool-alpha/outgoing" | wc -l)
        b=$(ls "$T/spool-bravo/incoming" | wc -l)
        p=$(pf_queued "$T/pf")
        [ "$a" -eq 0 ] && [ "$b" -eq 0 ] && [ "$p" -eq 0 ] && return 0
        sleep 0.1; i=$((i + 1))
    done
    fail "queues not drained after 600 s: mulegw alpha $a, bravo $b, Postfix $p"
}

# cpu_ticks PID - user + system CPU time of a process so far, in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

probe0=$(fsync_probe)
source_run warm_gw "$GWP" 40 "$SESSIONS"
source_run warm_pf "$PFP" 40 "$SESSIONS"
drain
gw_rates="" pf_rates="" gw_cpu=0 gw_wall=0
r=1
while [ $r -le "$ROUNDS" ]; do
    c0=$(cpu_ticks "$gw_alpha_pid")
    if [ -n "${PERF_DIR:-}" ]; then # profile mulegw alpha while it receives
        perf record -q -F 999 -g -p "$gw_alpha_pid" -o "$PERF_DIR/round$r.data" 2>/dev/null &
        perf_pid=$!
        sleep 0.5
    fi
    source_run "gw_$r" "$GWP" "$COUNT" "$SESSIONS"
    c1=$(cpu_ticks "$gw_alpha_pid")
    if [ -n "${PERF_DIR:-}" ]; then
        kill -INT "$perf_pid"
        wait "$perf_pid" 2>/dev/null
    fi
    gw_cpu=$((gw_cpu + c1 - c0))
    gw_wall=$(awk -v a="$gw_wall" -v b="$elapsed" 'BEGIN { print a + b }')
    echo "round $r mulegw:  $COUNT messages in ${elapsed}s = $rate messages/s"
    gw_rates="$gw_rates $rate"
    drain
    source_run "pf_$r" "$PFP" "$COUNT" "$SESSIONS"
    echo "round $r Postfix: $COUNT messages in ${elapsed}s = $rate messages/s"
    pf_rates="$pf_rates $rate"
    drain
    r=$((r + 1))
done

probe1=$(fsync_probe)
# every message was accepted by the one it was sent to
want=$((40 + ROUNDS * COUNT))
n=$(grep -c 'smtpgw queued qid=' "$T/gw_alpha.log")
[ "$n" -eq "$want" ] || fail "mulegw alpha queued $n messages, want $want"
n=$(grep -c 'postfix/cleanup\[[0-9]*\]: [0-9A-F]*: message-id=' "$T/pf/maillog")
[ "$n" -eq "$want" ] || fail "Postfix queued $n messages, want $want"
n=$(grep -c 'smtpgw delivered qid=' "$T/gw_bravo.log")
[ "$n" -eq "$want" ] || fail "mulegw bravo delivered $n messages, want $want"

median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# shellcheck disable=SC2086
gw_med=$(median $gw_rates)
# shellcheck disable=SC2086
pf_med=$(median $pf_rates)
ratio=$(awk -v a="$gw_med" -v b="$pf_med" 'BEGIN { printf "%.2f", a / b }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r >= 1.5) ? "met" : "MISSED" }')
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); one durable file write (write+fsync+rename+fsync dir) took ${probe0} ms before, ${probe1} ms after (median of 50)"
echo "command: $(sed "s/:$PFP\$/:PORT/" "$T/pf_1.cmd")"
echo "mulegw  messages/s:$gw_rates (median $gw_med)"
echo "Postfix messages/s:$pf_rates (median $pf_med)"
awk -v t="$gw_cpu" -v hz="$HZ" -v w="$gw_wall" -v n=$((ROUNDS * COUNT)) 'BEGIN {
    printf "mulegw alpha CPU while receiving: %.2f s user+sys in %.1f s (%.0f%% of one core, %.2f ms/message)\n", t / hz, w, 100 * t / hz / w, 1000 * t / hz / n }'
echo "ratio mulegw/Postfix = $ratio (target >= 1.5: $verdict)"
exit 0
