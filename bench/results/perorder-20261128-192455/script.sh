#!/usr/bin/env bash
# CPU per order by process, baseline revision and current build in one run: for each, a warm system, a setup-only
# LoadGen run (20 users, 2 orders), then 30 s of checkout at RATE orders/s; per order = (run - setup run) / orders placed.
# Also counts the order reads (GET /api/orders/{id}) the gateway served, from the dashboard's spans.
set -euo pipefail
cd /work/main
source bench/lib.sh
bench_init perorder
bench_prepare_baseline || bench_die "set BENCH_BASELINE_REV"
rate=${RATE:-15}
snap() { for p in $(bench_system_pids "$BENCH_APPHOST_PID"); do [[ -n "$p" ]] || continue; [[ -r /proc/$p/stat ]] || continue; n=$(tr '\0' ' ' </proc/$p/cmdline | grep -oE '[A-Za-z.]+\.dll|dcp[a-z]*|Aspire.Dashboard' | head -1 || true); echo "$p $n $(awk '{print $14+$15}' /proc/$p/stat)"; done; }
measure() {
  local variant=$1 out=$BENCH_OUT/$1
  mkdir -p "$out"
  BENCH_FRESH=1
  if [[ $variant == baseline ]]; then bench_start_baseline_system; else bench_start_system; fi
  bench_wait_ready
  bench_warm_system
  sleep 10
  snap > "$out/a.txt"
  bench_loadgen checkout --rate 1 --duration 2s --warmup 0s --users 20 --order-timeout 30s --drain 10s --quiet --no-audit --label setup > "$out/setup.txt" 2>&1 || true
  snap > "$out/b.txt"
  bench_loadgen checkout --rate "$rate" --duration 30s --warmup 0s --users 20 --order-timeout 30s --drain 20s --quiet --label run --json "$out/run.json" > "$out/run.txt" 2>&1 || true
  snap > "$out/c.txt"
  local orders
  orders=$(jq '[.. | objects | select(has("name") and (.name|tostring|startswith("checkout: place"))) | .count][0] // empty' "$out/run.json" 2>/dev/null || true)
  [[ -n "$orders" ]] || orders=$(grep -E "checkout: place" "$out/run.txt" | head -1 | awk -F'│' '{gsub(/ /,"",$3); print $3}')
  echo "$variant: orders placed $orders (rate $rate/s, 30 s)" | tee "$out/per-order.txt"
  join <(sort "$out/a.txt") <(sort "$out/b.txt") | awk '{print $1, $2, $5-$3}' | sort > "$out/setup-ticks.txt"
  join <(sort "$out/b.txt") <(sort "$out/c.txt") | awk '{print $1, $2, $5-$3}' | sort > "$out/run-ticks.txt"
  join "$out/setup-ticks.txt" "$out/run-ticks.txt" | awk -v n="$orders" '$2 !~ /^dcp/ {net=$5-$3; tot+=net; printf "%-28s run %6.2f s  setup %5.2f s  per order %5.1f ms\n", $2, $5/100, $3/100, net*10/n} END {printf "%-28s per order %5.1f ms\n", "sum", tot*10/n}' | sort | tee -a "$out/per-order.txt"
  local db
  db=$(ls -d /root/.aspire/dashboard/runs/*/ | tail -1)dashboard.db
  sqlite3 "file:$db?mode=ro" "select count(*) from telemetry_spans s join telemetry_resources r using(resource_id) where r.resource_name='gateway' and s.kind=2 and s.name like 'GET /api/orders/%'" > "$out/order-reads.txt" 2>/dev/null || true
  sqlite3 "file:$db?mode=ro" "select count(*) from telemetry_spans" > "$out/spans.txt" 2>/dev/null || true
  echo "$variant: order reads through the gateway (whole run incl. warm-up) $(cat "$out/order-reads.txt"), spans $(cat "$out/spans.txt")" | tee -a "$out/per-order.txt"
  bench_stop_system
  sleep 3
}
measure baseline
measure current
cat "$BENCH_OUT"/*/per-order.txt
