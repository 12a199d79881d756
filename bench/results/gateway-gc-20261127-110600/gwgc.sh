#!/usr/bin/env bash
# Ad-hoc: extra gateway processes with identical environment except the knobs, wrk alternating.
set -euo pipefail
cd /work/main
ROUNDS=${ROUNDS:-3}; SECS=${SECS:-10}; CONN=${CONN:-64}
P=/api/catalog/products/00000000-0000-4000-8000-000000000001
gwpid=$(pgrep -f 'Mercato.Gateway.dll' | head -1)
tr '\0' '\n' < /proc/$gwpid/environ | grep -v '^HTTP_PORTS=\|^ASPNETCORE_URLS=\|^OTEL_SERVICE_INSTANCE_ID=' > /tmp/exp/gw.env
cwd=$(readlink /proc/$gwpid/cwd)
dll=$(tr '\0' ' ' < /proc/$gwpid/cmdline | awk '{print $2}')
PIDS=()
declare -A GWPID
start_gw() { # port extra-env...
  local port=$1; shift
  cd "$cwd"; env -i $(cat /tmp/exp/gw.env) "$@" ASPNETCORE_URLS=http://127.0.0.1:$port dotnet "$dll" > /tmp/exp/gw-$port.log 2>&1 &
  PIDS+=($!); GWPID[$port]=$!; cd /work/main
}
ticks() { awk '{print $14+$15}' /proc/$1/stat; }
BENCH_OUT=/tmp/exp/gwgc; mkdir -p $BENCH_OUT
source bench/lib.sh
bench_init gwexp
export MERCATO_GATEWAY=http://127.0.0.1:18080
bench_raise_limits
bench_on_exit 'kill ${PIDS[*]} 2>/dev/null; sleep 5'
cd /work/main
start_gw 18096
start_gw 18097 DOTNET_GCDynamicAdaptationMode=0
start_gw 18098 DOTNET_gcServer=0
start_gw 18099 DOTNET_gcServer=0 DOTNET_gcConcurrent=0
for port in 18096 18097 18098 18099; do
  for i in $(seq 1 200); do curl -sf -o /dev/null http://127.0.0.1:$port$P && break; sleep 0.2; done
done
echo "extra gateways up"
declare -A URL=([server-datas]=http://127.0.0.1:18096$P [server-nodatas]=http://127.0.0.1:18097$P [ws-conc]=http://127.0.0.1:18098$P [ws-nonconc]=http://127.0.0.1:18099$P)
T=(server-datas server-nodatas ws-conc ws-nonconc)
for t in "${T[@]}"; do wrk -t2 -c$CONN -d10s ${URL[$t]} >/dev/null; done
for r in $(seq 1 $ROUNDS); do
  for t in "${T[@]}"; do
    port=${URL[$t]#http://127.0.0.1:}; port=${port%%/*}; c0=$(ticks ${GWPID[$port]})
    out=$(wrk -t2 -c$CONN -d${SECS}s --latency ${URL[$t]})
    c1=$(ticks ${GWPID[$port]}); reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out"); p99=$(awk '$1=="99%" {print $2}' <<<"$out"); p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    echo "round $r $t rps=$rps p50=$p50 p99=$p99 gateway_cpu_us_per_request=$(awk -v a=$c0 -v b=$c1 -v n=$reqs 'BEGIN{printf "%.1f", (b-a)*10000/n}')"
  done
  T=("${T[@]:1}" "${T[0]}")
done
for port in 18096 18097 18098 18099; do echo "port $port rss_kb=$(awk '/VmRSS/{print $2}' /proc/${GWPID[$port]}/status) hwm_kb=$(awk '/VmHWM/{print $2}' /proc/${GWPID[$port]}/status)"; done
