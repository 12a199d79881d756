#!/usr/bin/env bash
# Whole-system CPU profile (perf, all CPUs, call graphs) during 20 s of checkout at RATE orders/s on a warm system.
set -euo pipefail
cd /work/main
source bench/lib.sh
bench_init perf
export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
bench_start_system
bench_wait_ready
bench_warm_system
bench_loadgen checkout --rate 1 --duration 2s --warmup 0s --users 20 --order-timeout 30s --drain 10s --quiet --no-audit --label setup > "$BENCH_OUT/setup.txt" 2>&1 || true
sleep 5
rate=${RATE:-15}
bench_loadgen checkout --rate "$rate" --duration 40s --warmup 0s --users 20 --order-timeout 30s --drain 20s --quiet --no-audit --label run > "$BENCH_OUT/run.txt" 2>&1 &
lg=$!
sleep 12
perf record -a -g -F 499 -o "$BENCH_OUT/perf.data" -- sleep 20 > "$BENCH_OUT/perf-record.txt" 2>&1
wait $lg || true
bench_stop_system
echo "$BENCH_OUT"
