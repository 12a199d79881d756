#!/usr/bin/env bash
set -euo pipefail
cd /work/main
source bench/lib.sh
bench_init setupcost
bench_start_system
bench_wait_ready
bench_warm_system
snap() { for p in $(bench_system_pids "$BENCH_APPHOST_PID"); do [[ -n "$p" ]] || continue; [[ -r /proc/$p/stat ]] || continue; n=$(tr '\0' ' ' </proc/$p/cmdline | grep -oE '[A-Za-z.]+\.dll|dcp[a-z]*|Aspire.Dashboard' | head -1 || true); echo "$p $n $(awk '{print $14+$15}' /proc/$p/stat)"; done; }
sleep 10
for round in 1 2; do
  snap > "$BENCH_OUT/a$round.txt"
  bench_loadgen checkout --rate 1 --duration 2s --warmup 0s --users 20 --order-timeout 30s --drain 10s --quiet --no-audit --label s$round > "$BENCH_OUT/load-$round.txt" 2>&1 || true
  snap > "$BENCH_OUT/b$round.txt"
  echo "round $round (LoadGen setup of 20 users + 2 orders):"
  join <(sort "$BENCH_OUT/a$round.txt") <(sort "$BENCH_OUT/b$round.txt") | awk '{d=$5-$3; printf "  %-28s %5.2f s\n", $2, d/100}' | sort -k2 -nr | grep -v "^  dcp " | head -6
done
bench_stop_system
