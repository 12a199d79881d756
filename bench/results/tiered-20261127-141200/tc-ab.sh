#!/usr/bin/env bash
# Idle RSS and start-up with tiered compilation on (default) and off, alternating fresh systems.
set -uo pipefail
cd /work/main
OUT=/tmp/exp/tc-ab; mkdir -p $OUT
for round in 1 2; do
  for variant in default tc0; do
    (
      set -euo pipefail
      source bench/lib.sh
      bench_init tcab
      BENCH_OUT=$OUT/$variant-$round; mkdir -p $BENCH_OUT
      BENCH_FRESH=1
      [[ $variant == tc0 ]] && export DOTNET_TieredCompilation=0
      bench_start_system
      bench_wait_ready 240
      echo "$variant $round gateway_ready=${BENCH_GATEWAY_READY_S} all_ready=${BENCH_SYSTEM_READY_S}" | tee -a $OUT/summary.txt
      sleep 40
      for pid in $(pgrep -f 'Mercato\.[A-Za-z]*\.dll'); do
        name=$(tr '\0' ' ' </proc/$pid/cmdline | grep -o 'Mercato\.[A-Za-z]*\.dll' | head -1)
        tc=$(tr '\0' '\n' </proc/$pid/environ | grep -c '^DOTNET_TieredCompilation=0' || true)
        awk -v n="$name" -v v="$variant" -v r="$round" -v tc="$tc" '/^Rss:/{x=$2}/^Pss:/{p=$2} END{printf "%s %s %-26s rss %6.1f pss %6.1f tc0env=%s\n", v, r, n, x/1024, p/1024, tc}' /proc/$pid/smaps_rollup
      done | sort -k3 | tee -a $OUT/rss.txt
      bench_stop_system
    )
  done
done
