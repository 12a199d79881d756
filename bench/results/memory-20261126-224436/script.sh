#!/usr/bin/env bash
# Memory anatomy of every idle service: RSS, PSS, anonymous, file; then after a full GC induced by dotnet-gcdump.
set -euo pipefail
source /work/main/bench/lib.sh
bench_init mem "$@"
BENCH_FRESH=1
bench_start_system
bench_wait_ready 240
bench_log "ready gw=${BENCH_GATEWAY_READY_S} all=${BENCH_SYSTEM_READY_S}; idle ${IDLE:-40}s"
sleep "${IDLE:-40}"
read_mem() {
  local tag=$1
  for pid in $(pgrep -f 'Mercato\.[A-Za-z]*\.dll'); do
    name=$(tr '\0' ' ' </proc/$pid/cmdline | grep -o 'Mercato\.[A-Za-z]*\.dll' | head -1)
    awk -v n="$name" -v t="$tag" '/^Rss:/{r=$2}/^Pss:/{p=$2}/^Pss_Anon:/{a=$2}/^Pss_File:/{f=$2}/^Private_Dirty:/{d=$2}
      END{printf "%s %-28s rss %6.1f pss %6.1f anon %6.1f file %6.1f privdirty %6.1f\n", t, n, r/1024, p/1024, a/1024, f/1024, d/1024}' /proc/$pid/smaps_rollup
  done | sort -k2
}
read_mem idle | tee "$BENCH_OUT/idle.txt"
for pid in $(pgrep -f 'Mercato\.[A-Za-z]*\.dll' | grep -v "^$(pgrep -f Mercato.AppHost.dll | head -1)\$"); do
  dotnet-gcdump collect -p $pid -o "$BENCH_OUT/$pid.gcdump" >/dev/null 2>&1 || true
done
sleep 5
read_mem after-gc | tee "$BENCH_OUT/after-gc.txt"
