#!/usr/bin/env bash
# Ad-hoc: warm starts alternating between the gateway with dynamic PGO on (as built) and off, switched in the
# gateway's own runtimeconfig.json between starts, so no other process changes (an environment variable would reach
# the Aspire dashboard too). Gateway ready and all-ready times.
set -euo pipefail
cd /work/main
PAIRS=${PAIRS:-5}
export BENCH_OUT=/work/main/bench/results/startup-pgo-20261128
source bench/lib.sh
bench_init startup-pgo
RC=src/Gateway/bin/Debug/net10.0/Mercato.Gateway.runtimeconfig.json
cp $RC /tmp/gw.runtimeconfig.orig
bench_on_exit 'cp /tmp/gw.runtimeconfig.orig $RC'
for i in $(seq 1 "$PAIRS"); do
  order=(gateway-pgo-off gateway-pgo-on)
  ((i % 2 == 0)) && order=(gateway-pgo-on gateway-pgo-off)
  for v in "${order[@]}"; do
    pgo=true; [[ $v == gateway-pgo-off ]] && pgo=false
    jq --argjson pgo $pgo '.runtimeOptions.configProperties["System.Runtime.TieredPGO"] = $pgo' /tmp/gw.runtimeconfig.orig > $RC
    bench_start_system
    bench_wait_ready 240
    unset MERCATO_GATEWAY
    gw=$(ss -Hltnp "sport = :18080" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
    echo "{\"pair\":$i,\"variant\":\"$v\",\"gateway_ready_s\":$BENCH_GATEWAY_READY_S,\"all_ready_s\":$BENCH_SYSTEM_READY_S,\"gateway_rss_mb\":$(bench_rss_mb $gw)}" | tee -a "$BENCH_OUT/starts.jsonl"
    bench_stop_system
  done
done
