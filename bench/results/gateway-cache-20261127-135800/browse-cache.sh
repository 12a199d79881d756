#!/usr/bin/env bash
# Browse through the gateway with and without its shared cache (--bypass-cache sends Cache-Control: no-store), on one
# running system (/tmp/exp/up.sh), alternating; LoadGen's output beside each JSON.
set -uo pipefail
cd /work/main
D=bench/results/gateway-cache-20261127-135800
LG="dotnet bench/LoadGen/bin/Release/net10.0/loadgen.dll"
export MERCATO_GATEWAY=http://127.0.0.1:18080
$LG browse --rate 250 --duration 10s --warmup 5s --quiet > $D/browse-warm.txt 2>&1
for round in 1 2; do
  for variant in cache bypass; do
    flag=; [[ $variant == bypass ]] && flag=--bypass-cache
    $LG browse --mode closed --concurrency 64 --duration 20s --warmup 5s --quiet $flag --label "closed-64 $variant round $round" --json $D/closed-64-$variant-$round.json > $D/closed-64-$variant-$round.txt 2>&1; echo "closed 64 $variant $round rc=$?"
  done
done
for rate in 2000 4000; do
  for variant in bypass cache; do
    flag=; [[ $variant == bypass ]] && flag=--bypass-cache
    $LG browse --rate $rate --duration 20s --warmup 5s --quiet $flag --label "open-$rate $variant" --json $D/open-$rate-$variant.json > $D/open-$rate-$variant.txt 2>&1; echo "open $rate $variant rc=$?"
  done
done
