#!/usr/bin/env bash
# Idle CPU per process: start, warm, settle 20 s, then 60 s of ticks. TRACE=ordering also records a 30 s dotnet-trace of it idle.
set -euo pipefail
cd /work/main
source bench/lib.sh
bench_init idle; BENCH_FRESH=1
bench_start_system
bench_wait_ready
bench_warm_system
snap() { for p in $(bench_system_pids "$BENCH_APPHOST_PID"); do [[ -n "$p" ]] || continue; [[ -r /proc/$p/stat ]] || continue; n=$(tr '\0' ' ' </proc/$p/cmdline | grep -oE '[A-Za-z.]+\.dll|dcp[a-z]*|Aspire.Dashboard' | head -1 || true); echo "$p $n $(awk '{print $14+$15}' /proc/$p/stat)"; done; }
sleep 20
snap > "$BENCH_OUT/i0.txt"; sleep 60; snap > "$BENCH_OUT/i1.txt"
join <(sort "$BENCH_OUT/i0.txt") <(sort "$BENCH_OUT/i1.txt") | awk '{d=$5-$3; tot+=d; printf "%-28s %5.1f%%\n", $2, d/60} END {printf "total %.1f%%\n", tot/60}' | sort -k2 -nr | grep -v "^dcp " | tee "$BENCH_OUT/idle.txt"
if [[ -n ${TRACE:-} ]]; then
  for p in $(bench_system_pids "$BENCH_APPHOST_PID"); do
    if tr '\0' ' ' </proc/$p/cmdline 2>/dev/null | grep -qi "Mercato.${TRACE}.dll"; then
      ~/.dotnet/tools/dotnet-trace collect -p "$p" --duration 00:00:00:30 --profile cpu-sampling -o "$BENCH_OUT/$TRACE-idle.nettrace" >/dev/null 2>&1 || true
    fi
  done
fi
bench_stop_system
echo "$BENCH_OUT"
