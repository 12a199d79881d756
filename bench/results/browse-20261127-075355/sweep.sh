#!/usr/bin/env bash
set -uo pipefail
cd /work/main
D=bench/results/browse-20261127-$(date +%H%M%S); mkdir -p $D
LG="dotnet run --project bench/LoadGen -c Release --no-build --"
export MERCATO_GATEWAY=http://127.0.0.1:18080
# Warm the system once (browse at 250/s) before the measured steps.
$LG browse --rate 250 --duration 15s --warmup 5s --quiet > $D/warm.txt 2>&1
for r in 250 500 1000 2000; do
  $LG browse --rate $r --duration 20s --warmup 5s --quiet --json $D/open-$r.json > $D/open-$r.txt 2>&1; echo "open $r rc=$?"
done
for c in 16 64; do
  $LG browse --mode closed --concurrency $c --duration 20s --warmup 5s --quiet --json $D/closed-$c.json > $D/closed-$c.txt 2>&1; echo "closed $c rc=$?"
done
$LG mixed --rate 100 --checkout-share 0.1 --users 50 --duration 30s --warmup 5s --quiet --json $D/mixed-100.json > $D/mixed-100.txt 2>&1; echo "mixed 100 rc=$?"
$LG mixed --rate 200 --checkout-share 0.1 --users 50 --duration 30s --warmup 5s --quiet --json $D/mixed-200.json > $D/mixed-200.txt 2>&1; echo "mixed 200 rc=$?"
echo $D
