#!/bin/sh
# rss_bench.sh - mulegw's memory with a deep queue: a gateway whose bearer
# cannot send (its s5066sim node is in EMCON, and the far node has no
# gateway) takes COUNT (10,000) messages of 4096 bytes from smtp-source over
# SESSIONS (20) sessions; all stay queued.  Reports VmHWM (peak RSS) from
# /proc/PID/status before and after, the peak of VmRSS sampled every 0.5 s,
# and the queue length (target: peak RSS <= 32 MB with 10,000 queued).
#   BUILD=/path/to/build sh bench/rss_bench.sh      (root not needed)
# Environment: COUNT SESSIONS RATE GW_LOG_LEVEL (info) KEEP_TEST_DIR
. "$(dirname "$0")/bench_lib.sh"
COUNT=${COUNT:-10000}
SESSIONS=${SESSIONS:-20}
RATE=${RATE:-240000}
GW_LOG_LEVEL=${GW_LOG_LEVEL:-info}

sim_start "$RATE" yes
gwconf alpha 1 "$(free_port)" "$RATE"
start gw_alpha "$GW" -f -c "$T/alpha.conf" -p "$T/alpha.smtp"
wait_for gw_alpha 'smtpgw bearer-up'
# the bearer reports the node's EMCON (SUBNET_AVAILABILITY) before any mail
wait_for sim 'bind node=alpha'
GWP=$(gw_port alpha)
pid=$gw_alpha_pid

# kb FIELD - a field of /proc/PID/status in kB
kb() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$pid/status"; }
hwm0=$(kb VmHWM)
rss0=$(kb VmRSS)

# sample VmRSS while smtp-source runs
( while kill -0 "$pid" 2>/dev/null; do
      awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2>/dev/null
      sleep 0.5
  done ) > "$T/rss.samples" &
sampler=$!
LIB_PIDS="$LIB_PIDS $sampler"

source_run fill "$GWP" "$COUNT" "$SESSIONS"
fill_elapsed=$elapsed fill_rate=$rate
sleep 2
hwm=$(kb VmHWM)
rss=$(kb VmRSS)
kill "$sampler" 2>/dev/null
peak_sampled=$(sort -n "$T/rss.samples" | tail -n 1)
queued=$(ls "$T/spool-alpha/outgoing" | wc -l)
accepted=$(grep -c 'smtpgw queued qid=' "$T/gw_alpha.log")
sent=$(grep -c 'sim tx node=alpha' "$T/sim.log")
kill -0 "$pid" || fail "mulegw died"

verdict=$(awk -v h="$hwm" 'BEGIN { print (h <= 32 * 1024) ? "met" : "MISSED" }')
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); one durable file write took $(fsync_probe) ms (median of 50)"
echo "command: $(sed "s/:$GWP\$/:PORT/" "$T/fill.cmd")"
echo "accepted $accepted messages in ${fill_elapsed}s ($fill_rate messages/s); in the spool's outgoing queue: $queued; transmissions by alpha: $sent"
echo "before: VmHWM ${hwm0} kB VmRSS ${rss0} kB"
echo "after:  VmHWM ${hwm} kB VmRSS ${rss} kB (largest VmRSS sampled: ${peak_sampled} kB)"
echo "peak RSS $(awk -v h="$hwm" 'BEGIN { printf "%.1f", h / 1024 }') MiB (target <= 32 MB: $verdict)"
[ "$queued" -eq "$COUNT" ] || fail "queued $queued, want $COUNT"
exit 0
