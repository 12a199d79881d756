#!/usr/bin/env bash
# Ad-hoc: two extra gateways beside a running system (/tmp/exp/up.sh, ports 18080/18081), identical environment except
# Gateway__ResponseCache__Enabled; wrk alternating: "off" (cache switched off), "on-proxied" (cache on, request says
# Cache-Control: no-store, so it is proxied like "off"), "on-cached" (cache on, plain request, answered from the cache).
set -euo pipefail
cd /work/main
ROUNDS=${ROUNDS:-4}; SECS=${SECS:-10}; CONN=${CONN:-64}
P=/api/catalog/products/00000000-0000-4000-8000-000000000001
OUT=${OUT:-/tmp/exp/gwcache}; mkdir -p $OUT
gwpid=$(pgrep -f 'Mercato.Gateway.dll' | head -1)
tr '\0' '\n' < /proc/$gwpid/environ | grep -v '^HTTP_PORTS=\|^ASPNETCORE_URLS=\|^OTEL_SERVICE_INSTANCE_ID=' > $OUT/gw.env
cwd=$(readlink /proc/$gwpid/cwd)
dll=$(tr '\0' ' ' < /proc/$gwpid/cmdline | awk '{print $2}')
PIDS=()
declare -A GWPID
start_gw() { # port extra-env...
  local port=$1; shift
  cd "$cwd"; env -i $(cat $OUT/gw.env) "$@" ASPNETCORE_URLS=http://127.0.0.1:$port dotnet "$dll" > $OUT/gw-$port.log 2>&1 &
  PIDS+=($!); GWPID[$port]=$!; cd /work/main
}
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
catpid=$(pgrep -f 'Mercato.Catalog.dll' | head -1)
BENCH_OUT=$OUT
source bench/lib.sh
bench_init gwcache
export MERCATO_GATEWAY=http://127.0.0.1:18080
bench_raise_limits
bench_on_exit 'kill ${PIDS[*]} 2>/dev/null; sleep 5'
start_gw 18096
start_gw 18097 Gateway__ResponseCache__Enabled=false
for port in 18096 18097; do
  for i in $(seq 1 200); do curl -sf -o /dev/null http://127.0.0.1:$port$P && break; sleep 0.2; done
done
echo "extra gateways up"
declare -A URL=([off]=http://127.0.0.1:18097$P [on-proxied]=http://127.0.0.1:18096$P [on-cached]=http://127.0.0.1:18096$P)
declare -A HDR=([off]="Cache-Control: no-store" [on-proxied]="Cache-Control: no-store" [on-cached]="X-Bench: plain")
T=(off on-proxied on-cached)
for t in "${T[@]}"; do wrk -t2 -c$CONN -d10s -H "${HDR[$t]}" ${URL[$t]} >/dev/null; done
for r in $(seq 1 $ROUNDS); do
  for t in "${T[@]}"; do
    port=${URL[$t]#http://127.0.0.1:}; port=${port%%/*}; c0=$(ticks ${GWPID[$port]}); k0=$(ticks $catpid)
    out=$(wrk -t2 -c$CONN -d${SECS}s --latency -H "${HDR[$t]}" ${URL[$t]})
    c1=$(ticks ${GWPID[$port]}); k1=$(ticks $catpid); reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out"); p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    echo "round $r $t rps=$rps p50=$p50 p99=$p99 gateway_cpu_us_per_request=$(awk -v a=$c0 -v b=$c1 -v n=$reqs 'BEGIN{printf "%.1f", (b-a)*10000/n}') catalog_cpu_us_per_request=$(awk -v a=$k0 -v b=$k1 -v n=$reqs 'BEGIN{printf "%.1f", (b-a)*10000/n}')" | tee -a $OUT/rounds.txt
  done
  T=("${T[@]:1}" "${T[0]}")
done
for port in 18096 18097; do echo "port $port rss_kb=$(awk '/VmRSS/{print $2}' /proc/${GWPID[$port]}/status) hwm_kb=$(awk '/VmHWM/{print $2}' /proc/${GWPID[$port]}/status)" | tee -a $OUT/rounds.txt; done
curl -s http://127.0.0.1:18096/metrics | grep gateway_response_cache | tee -a $OUT/rounds.txt
