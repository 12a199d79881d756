#!/usr/bin/env bash
# CPU per order, by process: how many milliseconds of CPU (user + system, from /proc/<pid>/stat) each process of the
# system spends on one order placed through the gateway and carried to Confirmed, at a rate well below capacity. It
# answers "what does this change cost per order?", which a capacity search (checkout.sh) cannot tell apart from the
# spread between runs.
#
#   bash bench/perorder.sh [--smoke]
#
# On a warm system (bench_warm_system), three load generator runs with the same users, back to back:
#   1. a set-up run that registers the users (not counted: registration hashes passwords);
#   2. a short run of BENCH_FIXED_SECONDS at 1 order/s: the fixed cost of a run (sign-ins, the rate-limit and stock
#      set-up, the audit) plus a few orders;
#   3. the measured run, BENCH_DURATION at BENCH_RATE orders/s with the end-state audit.
# Per order = (CPU of run 3 - CPU of run 2) / (orders of run 3 - orders of run 2).
# Environment: BENCH_RATE (15), BENCH_DURATION (30s), BENCH_USERS (20), BENCH_FIXED_SECONDS (2), BENCH_SETTLE_SECONDS
# (idle time before the first reading, 10), BENCH_BASELINE_REV (a git revision) and/or BENCH_BASELINE ("VAR=value ..."
# settings for every process): then measured first as that baseline, then as built, in this one run, each on a fresh
# system (bench/lib.sh); plus those of bench/lib.sh. With MERCATO_GATEWAY it measures that running system only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init perorder "$@"

if [[ "$SMOKE" == 1 ]]; then
  RATE=${BENCH_RATE:-3} DURATION=${BENCH_DURATION:-3s} USERS=${BENCH_USERS:-4} SETTLE=${BENCH_SETTLE_SECONDS:-1}
else
  RATE=${BENCH_RATE:-15} DURATION=${BENCH_DURATION:-30s} USERS=${BENCH_USERS:-20} SETTLE=${BENCH_SETTLE_SECONDS:-10}
fi
FIXED_SECONDS=${BENCH_FIXED_SECONDS:-2}
TICKS_PER_SECOND=$(getconf CLK_TCK)
RESULTS=$BENCH_OUT/per-order.jsonl
: >"$RESULTS"

# "name ticks" for every named process (replicas of a service add up), and "total ticks" for all of them.
cpu_ticks() {
  local pid
  for pid in "${!NAME_OF[@]}"; do
    # Fields 14 and 15 of /proc/<pid>/stat (utime, stime); the name in field 2 may hold spaces, so count from its ')'.
    [[ -r /proc/$pid/stat ]] || continue
    printf '%s\t%s\n' "${NAME_OF[$pid]}" "$(sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')"
  done | awk -F'\t' '{ t[$1] += $2; all += $2 } END { for (n in t) printf "%s\t%d\n", n, t[n]; printf "total\t%d\n", all }'
}

# Orders placed (202) in a load generator run, from its JSON.
orders_placed() { jq '[.series[] | select(.name == "checkout: place (202)") | .count][0] // 0' "$1"; }

measure() {
  local variant=$1 out=$BENCH_OUT/$1 rc=0
  mkdir -p "$out"
  if [[ -z "${MERCATO_GATEWAY:-}" ]]; then
    BENCH_FRESH=1
    if [[ $variant == baseline ]]; then bench_start_baseline_system; else bench_start_system; fi
  fi
  bench_wait_ready 240
  bench_warm_system
  bench_name_processes
  bench_loadgen checkout --rate 1 --duration 1s --warmup 0s --users "$USERS" --order-timeout 30s --quiet --no-audit \
    --label "perorder.sh $variant: set-up" >"$out/setup.txt" 2>&1 || bench_die "$variant: the set-up run failed: see $out/setup.txt"
  sleep "$SETTLE"
  cpu_ticks >"$out/cpu-a.tsv"
  bench_loadgen checkout --rate 1 --duration "${FIXED_SECONDS}s" --warmup 0s --users "$USERS" --order-timeout 30s --drain 20s \
    --quiet --json "$out/fixed.json" --label "perorder.sh $variant: fixed cost" >"$out/fixed.txt" 2>&1 || rc=$?
  cpu_ticks >"$out/cpu-b.tsv"
  bench_loadgen checkout --rate "$RATE" --duration "$DURATION" --warmup 0s --users "$USERS" --order-timeout 30s --drain 20s \
    --quiet --json "$out/run.json" --label "perorder.sh $variant: $RATE/s" >"$out/run.txt" 2>&1 || rc=$?
  cpu_ticks >"$out/cpu-c.tsv"
  ((rc < 2)) || bench_die "$variant: the load generator could not run (exit $rc): see $out/"
  local fixed_orders run_orders
  fixed_orders=$(orders_placed "$out/fixed.json")
  run_orders=$(orders_placed "$out/run.json")
  ((run_orders > fixed_orders)) || bench_die "$variant: the measured run placed $run_orders orders, the fixed-cost run $fixed_orders"
  # A process missing from one reading (it restarted) is left out rather than counted from zero.
  join -t $'\t' <(sort "$out/cpu-a.tsv") <(sort "$out/cpu-b.tsv") | join -t $'\t' - <(sort "$out/cpu-c.tsv") |
    awk -F'\t' -v variant="$variant" -v hz="$TICKS_PER_SECOND" -v n="$((run_orders - fixed_orders))" \
      -v orders="$run_orders" -v passed="$(jq .passed "$out/run.json")" '{
        fixed = $3 - $2; run = $4 - $3
        printf "{\"variant\":\"%s\",\"process\":\"%s\",\"run_cpu_s\":%.2f,\"fixed_cpu_s\":%.2f,\"ms_per_order\":%.2f,\"orders\":%d,\"audit_passed\":%s}\n",
          variant, $1, run / hz, fixed / hz, (run - fixed) * 1000 / hz / n, orders, passed }' >>"$RESULTS"
  [[ -n "${MERCATO_GATEWAY_GIVEN:-}" ]] || bench_stop_system
}

if [[ -n "${MERCATO_GATEWAY:-}" ]]; then
  MERCATO_GATEWAY_GIVEN=1
  bench_log "MERCATO_GATEWAY is set: measuring that running system (its AppHost's processes are not known, services only)"
  measure given
else
  if bench_prepare_baseline; then
    bench_log "baseline: $(bench_baseline_label)"
    measure baseline
    sleep 3
  fi
  measure current
fi

# One table: a column per variant, ms of CPU per order.
jq -rs '
  . as $all | (map(.variant) | unique) as $variants
  | def cell($v; f): (first($all[] | select(.variant == $v)) | f) // "-";
  (["ms of CPU per order"] + $variants),
    (group_by(.process) | sort_by(if .[0].process == "total" then 1 else 0 end, .[0].process)[]
      | . as $rows | [$rows[0].process] + ($variants | map(. as $v | first($rows[] | select(.variant == $v) | .ms_per_order) // "-"))),
    (["orders placed (measured run)"] + ($variants | map(cell(.; .orders)))),
    (["audit passed"] + ($variants | map(cell(.; .audit_passed | tostring))))
  | @tsv' "$RESULTS" | column -t -s $'\t'
jq -e -s 'all(.audit_passed)' "$RESULTS" >/dev/null || bench_die "an audit failed (see $BENCH_OUT/*/run.txt): its numbers do not count"
bench_log "results in $BENCH_OUT"
