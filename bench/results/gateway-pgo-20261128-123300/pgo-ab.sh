#!/usr/bin/env bash
# Ad-hoc: two extra gateway processes beside a running system, with the system gateway's exact environment; one as
# built (dynamic PGO off, Directory.Build.props), one with DOTNET_TieredPGO=1. wrk alternating, CPU per request from /proc.
set -euo pipefail
cd /work/main
ROUNDS=${ROUNDS:-6}; SECS=${SECS:-10}; CONN=${CONN:-64}; WARM=${WARM:-30}
P=/api/catalog/products/00000000-0000-4000-8000-000000000001
source bench/lib.sh
bench_init gateway-pgo
bench_ensure_system
bench_raise_limits
gwpid=$(ss -Hltnp "sport = :18080" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
catalog=$(bench_api GET /api/registry/services | jq -r '.[] | select(.name == "catalog") | .instances[0].address' | sed 's#/$##')
catpid=$(ss -Hltnp "sport = :${catalog##*:}" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
mkdir -p /tmp/exp
tr '\0' '\n' < /proc/$gwpid/environ | grep -v '^HTTP_PORTS=\|^ASPNETCORE_URLS=\|^OTEL_SERVICE_INSTANCE_ID=\|^DOTNET_TieredPGO=' > /tmp/exp/gw.env
cwd=$(readlink /proc/$gwpid/cwd)
dll=$(tr '\0' ' ' < /proc/$gwpid/cmdline | awk '{print $2}')
declare -A GWPID
start_gw() { # port extra-env...
  local port=$1; shift
  (cd "$cwd"; exec env -i $(cat /tmp/exp/gw.env) "$@" ASPNETCORE_URLS=http://127.0.0.1:$port dotnet "$dll") > "$BENCH_OUT/gw-$port.log" 2>&1 &
  GWPID[$port]=$!
}
bench_on_exit 'kill ${GWPID[*]} 2>/dev/null; sleep 3'
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
start_gw 18096
start_gw 18097 DOTNET_TieredPGO=1
for port in 18096 18097; do
  for i in $(seq 1 200); do curl -sf -o /dev/null -H 'Cache-Control: no-store' http://127.0.0.1:$port$P && break; sleep 0.2; done
done
declare -A URL=([pgo-off]=http://127.0.0.1:18096$P [pgo-on]=http://127.0.0.1:18097$P)
declare -A PORT=([pgo-off]=18096 [pgo-on]=18097)
T=(pgo-off pgo-on)
for t in "${T[@]}"; do wrk -t2 -c$CONN -d${WARM}s -H 'Cache-Control: no-store' ${URL[$t]} >/dev/null; done
for r in $(seq 1 $ROUNDS); do
  for t in "${T[@]}"; do
    g0=$(ticks ${GWPID[${PORT[$t]}]}); c0=$(ticks $catpid)
    out=$(wrk -t2 -c$CONN -d${SECS}s --latency -H 'Cache-Control: no-store' ${URL[$t]})
    g1=$(ticks ${GWPID[${PORT[$t]}]}); c1=$(ticks $catpid)
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out"); p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    echo "round $r $t rps=$rps p50=$p50 p99=$p99 gateway_cpu_us=$(awk -v a=$g0 -v b=$g1 -v n=$reqs 'BEGIN{printf "%.1f", (b-a)*10000/n}') catalog_cpu_us=$(awk -v a=$c0 -v b=$c1 -v n=$reqs 'BEGIN{printf "%.1f", (b-a)*10000/n}')" | tee -a "$BENCH_OUT/rounds.txt"
  done
  T=("${T[@]:1}" "${T[0]}")
done
for port in 18096 18097; do echo "port $port rss_kb=$(awk '/VmRSS/{print $2}' /proc/${GWPID[$port]}/status)" | tee -a "$BENCH_OUT/rounds.txt"; done
