#!/usr/bin/env bash
# timeline.sh ROOT LABEL : start the system built in ROOT, print per-process start offset and CPU at "all ready"
set -euo pipefail
ROOT=$1 LABEL=$2
source /work/main/bench/lib.sh
bench_init timeline
BENCH_OUT=/tmp/exp/tl-$LABEL; mkdir -p $BENCH_OUT
BENCH_FRESH=${FRESH:-0}
BENCH_SYSTEM_ROOT=$ROOT bench_start_system
bench_wait_ready 240
HZ=$(getconf CLK_TCK); BOOT=$(awk '/btime/{print $2}' /proc/stat)
pids=$(bench_system_pids "$BENCH_APPHOST_PID")
{
echo "label=$LABEL gateway_ready=$BENCH_GATEWAY_READY_S all_ready=$BENCH_SYSTEM_READY_S"
for p in $pids; do
  [[ -r /proc/$p/stat ]] || continue
  read -r -a f < <(sed 's/^[0-9]* ([^)]*) //' /proc/$p/stat)
  # after stripping pid and comm: index 0 = state; utime=11, stime=12, starttime=19
  cpu=$(awk -v u=${f[11]} -v s=${f[12]} -v hz=$HZ 'BEGIN{printf "%.2f",(u+s)/hz}')
  st=$(awk -v b=$BOOT -v t=${f[19]} -v hz=$HZ -v s0=$BENCH_START_TIME 'BEGIN{printf "%.2f", b + t/hz - s0}')
  name=$(tr '\0' ' ' </proc/$p/cmdline | grep -oE 'Mercato\.[A-Za-z]+\.dll|Aspire.Dashboard|dcp[a-z]* [a-z-]*|Mercato.AppHost' | head -1 || true)
  echo "$st $cpu $p ${name:-$(cat /proc/$p/comm)}"
done | sort -n
} | tee $BENCH_OUT/timeline.txt
bench_stop_system
