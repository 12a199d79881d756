#!/usr/bin/env bash
# Spans per order by service and name: a system with span files, setup run, then N orders; count spans in the window.
set -euo pipefail
cd /work/main
source bench/lib.sh
bench_init spans
rm -rf /tmp/spans; mkdir -p /tmp/spans
bench_start_system --Mercato:SpanDirectory=/tmp/spans
bench_wait_ready
bench_warm_system
bench_loadgen checkout --rate 1 --duration 2s --warmup 0s --users 20 --order-timeout 30s --drain 10s --quiet --no-audit --label setup > /tmp/exp/spans-setup.txt 2>&1 || true
sleep 5
cat /tmp/spans/*.jsonl | wc -l > /tmp/exp/spans-before.txt
for f in /tmp/spans/*.jsonl; do echo "$f $(wc -l <$f)"; done > /tmp/exp/spans-offsets.txt
bench_loadgen checkout --rate 5 --duration 20s --warmup 0s --users 20 --order-timeout 30s --drain 20s --quiet --no-audit --label run > /tmp/exp/spans-run.txt 2>&1 || true
sleep 5
while read -r f n; do tail -n +$((n+1)) "$f"; done < /tmp/exp/spans-offsets.txt > /tmp/exp/spans-window.jsonl
bench_stop_system
