#!/usr/bin/env bash
# CPU per order by process, with LoadGen's setup (sign-ins, restock) subtracted: a setup-only run (2 orders), then a
# 30 s run at RATE orders/s; per order = (run - setup-only run) / orders placed in the run.
set -euo pipefail
cd /work/main
source bench/lib.sh
bench_init perorder
bench_start_system
bench_wait_ready
bench_warm_system
snap() { for p in $(bench_system_pids "$BENCH_APPHOST_PID"); do [[ -n "$p" ]] || continue; [[ -r /proc/$p/stat ]] || continue; n=$(tr '\0' ' ' </proc/$p/cmdline | grep -oE '[A-Za-z.]+\.dll|dcp[a-z]*|Aspire.Dashboard' | head -1 || true); echo "$p $n $(awk '{print $14+$15}' /proc/$p/stat)"; done; }
rate=${RATE:-15}
sleep 10
snap > "$BENCH_OUT/a.txt"
bench_loadgen checkout --rate 1 --duration 2s --warmup 0s --users 20 --order-timeout 30s --drain 10s --quiet --no-audit --label setup > "$BENCH_OUT/setup.txt" 2>&1 || true
snap > "$BENCH_OUT/b.txt"
bench_loadgen checkout --rate "$rate" --duration 30s --warmup 0s --users 20 --order-timeout 30s --drain 20s --quiet --no-audit --label run > "$BENCH_OUT/run.txt" 2>&1 || true
snap > "$BENCH_OUT/c.txt"
orders=$(grep -E "checkout: place" "$BENCH_OUT/run.txt" | head -1 | awk -F'│' '{gsub(/ /,"",$3); print $3}')
echo "orders placed: $orders (rate $rate/s, 30 s)" | tee "$BENCH_OUT/per-order.txt"
join <(sort "$BENCH_OUT/a.txt") <(sort "$BENCH_OUT/b.txt") | awk '{print $1, $2, $5-$3}' | sort > "$BENCH_OUT/setup-ticks.txt"
join <(sort "$BENCH_OUT/b.txt") <(sort "$BENCH_OUT/c.txt") | awk '{print $1, $2, $5-$3}' | sort > "$BENCH_OUT/run-ticks.txt"
join "$BENCH_OUT/setup-ticks.txt" "$BENCH_OUT/run-ticks.txt" | awk -v n="$orders" '$2 !~ /^dcp/ {net=$5-$3; tot+=net; printf "%-28s run %6.2f s  setup %5.2f s  per order %5.1f ms\n", $2, $5/100, $3/100, net*10/n} END {printf "%-28s per order %5.1f ms\n", "sum", tot*10/n}' | sort -t'r' -k1,1 | tee -a "$BENCH_OUT/per-order.txt"
bench_stop_system
echo "$BENCH_OUT"
