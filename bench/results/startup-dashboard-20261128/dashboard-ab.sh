#!/usr/bin/env bash
# Ad-hoc: warm starts alternating between revision 1a35271 (the Aspire dashboard with the runtime's defaults) and the
# working tree (the dashboard without dynamic PGO and spinning workers, DashboardRuntime.cs). Same data folder, each
# variant in its own build. Gateway ready, all services ready, and the dashboard's CPU seconds at the moment every
# service was ready.
set -euo pipefail
cd /work/main
PAIRS=${PAIRS:-6}
export BENCH_OUT=/work/main/bench/results/startup-dashboard-20261128
export BENCH_BASELINE_REV=1a35271
source bench/lib.sh
bench_init startup-dashboard
bench_prepare_baseline
for i in $(seq 1 "$PAIRS"); do
  order=(dashboard-default dashboard-no-pgo)
  ((i % 2 == 0)) && order=(dashboard-no-pgo dashboard-default)
  for v in "${order[@]}"; do
    if [[ $v == dashboard-default ]]; then bench_start_baseline_system; else bench_start_system; fi
    bench_wait_ready 240
    d=$(pgrep -f "tools/Aspire.Dashboard" | head -1)
    cpu=$(awk '{ printf "%.2f", ($14 + $15) / 100 }' /proc/$d/stat)
    pgo=$(tr '\0' '\n' < /proc/$d/environ | grep -c '^DOTNET_TieredPGO=0' || true)
    unset MERCATO_GATEWAY
    echo "{\"pair\":$i,\"variant\":\"$v\",\"gateway_ready_s\":$BENCH_GATEWAY_READY_S,\"all_ready_s\":$BENCH_SYSTEM_READY_S,\"dashboard_cpu_s_at_all_ready\":$cpu,\"dashboard_pgo_off\":$pgo}" | tee -a "$BENCH_OUT/starts.jsonl"
    bench_stop_system
  done
done
