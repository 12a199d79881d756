#!/usr/bin/env bash
# CPU per order, by process: how many milliseconds of CPU (user + system, from /proc/<pid>/stat) each process of the
# system spends on one order placed through the gateway and carried to Confirmed, at rates well below capacity. It
# answers "what does this change cost per order?", which a capacity search (checkout.sh) cannot tell apart from the
# spread between runs.
#
#   bash bench/perorder.sh [--smoke]
#
# On a warm system (bench_warm_system), after a set-up run that registers the users (registration hashes passwords),
# two load generator runs of the same length with the same users, back to back: one at BENCH_LOW_RATE, one at
# BENCH_RATE orders/s, each with its drain and end-state audit. What both runs cost alike (sign-ins, the rate-limit and
# stock set-up, the idle work of every process for that long) cancels out:
#   per order = (CPU of the fast run - CPU of the slow run) / (orders of the fast run - orders of the slow run).
# Environment: BENCH_RATE (15), BENCH_LOW_RATE (a fifth of it, at least 1), BENCH_DURATION (30s), BENCH_USERS (20),
# BENCH_SETTLE_SECONDS (idle time before the first run, 10), BENCH_BASELINE_REV (a git revision) and/or BENCH_BASELINE
# ("VAR=value ..." settings for every process): then measured first as that baseline, then as built, in this one run,
# each on a fresh system (bench/lib.sh); plus those of bench/lib.sh. With MERCATO_GATEWAY it measures that running
# system only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init perorder "$@"

if [[ "$SMOKE" == 1 ]]; then
  RATE=${BENCH_RATE:-10} DURATION=${BENCH_DURATION:-3s} USERS=${BENCH_USERS:-4} SETTLE=${BENCH_SETTLE_SECONDS:-1}
else
  RATE=${BENCH_RATE:-15} DURATION=${BENCH_DURATION:-30s} USERS=${BENCH_USERS:-20} SETTLE=${BENCH_SETTLE_SECONDS:-10}
fi
# Rates may be fractional (LoadGen takes 0.1 and up): worked out in awk, not in bash's integer arithmetic.
LOW_RATE=${BENCH_LOW_RATE:-$(awk -v r="$RATE" 'BEGIN { l = r / 5; print (l > 1 ? l : 1) }')}
awk -v r="$RATE" -v l="$LOW_RATE" 'BEGIN { exit !(r + 0 > l + 0 && l + 0 > 0) }' \
  || bench_die "BENCH_RATE ($RATE) must be above BENCH_LOW_RATE ($LOW_RATE), and both above 0"
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

# One measured run at the given rate: the CPU of every process around it (cpu-<label>-before/after.tsv) and its report.
run_at() {
  local variant=$1 label=$2 rate=$3 out=$BENCH_OUT/$1 rc=0
  cpu_ticks >"$out/cpu-$label-before.tsv"
  bench_loadgen checkout --rate "$rate" --duration "$DURATION" --warmup 0s --users "$USERS" --order-timeout 30s --drain 20s \
    --quiet --json "$out/$label.json" --label "perorder.sh $variant: $rate/s" >"$out/$label.txt" 2>&1 || rc=$?
  cpu_ticks >"$out/cpu-$label-after.tsv"
  ((rc < 2)) && [[ -f "$out/$label.json" ]] || bench_die "$variant: the load generator could not run (exit $rc): see $out/$label.txt"
}

# "process<TAB>ticks" spent during one run.
spent() { join -t $'\t' <(sort "$1-before.tsv") <(sort "$1-after.tsv") | awk -F'\t' '{ printf "%s\t%d\n", $1, $3 - $2 }'; }

measure() {
  local variant=$1 out=$BENCH_OUT/$1
  mkdir -p "$out"
  if [[ -z "${MERCATO_GATEWAY_GIVEN:-}" ]]; then
    BENCH_FRESH=1
    if [[ $variant == baseline ]]; then bench_start_baseline_system; else bench_start_system; fi
  fi
  bench_wait_ready 240
  bench_warm_system
  bench_name_processes
  bench_loadgen checkout --rate 1 --duration 1s --warmup 0s --users "$USERS" --order-timeout 30s --quiet --no-audit \
    --label "perorder.sh $variant: set-up" >"$out/setup.txt" 2>&1 || bench_die "$variant: the set-up run failed: see $out/setup.txt"
  sleep "$SETTLE"
  run_at "$variant" slow "$LOW_RATE"
  run_at "$variant" fast "$RATE"
  local slow_orders fast_orders
  slow_orders=$(orders_placed "$out/slow.json")
  fast_orders=$(orders_placed "$out/fast.json")
  ((fast_orders > slow_orders)) || bench_die "$variant: the fast run placed $fast_orders orders, the slow one $slow_orders"
  # A process missing from one reading (it restarted) is left out rather than counted from zero.
  join -t $'\t' <(spent "$out/cpu-slow" | sort) <(spent "$out/cpu-fast" | sort) |
    awk -F'\t' -v variant="$variant" -v hz="$TICKS_PER_SECOND" -v n="$((fast_orders - slow_orders))" -v orders="$fast_orders" \
      -v passed="$(jq -s 'all(.[]; .passed)' "$out/slow.json" "$out/fast.json")" '{
        printf "{\"variant\":\"%s\",\"process\":\"%s\",\"slow_cpu_s\":%.2f,\"fast_cpu_s\":%.2f,\"ms_per_order\":%.2f,\"orders\":%d,\"audit_passed\":%s}\n",
          variant, $1, $2 / hz, $3 / hz, ($3 - $2) * 1000 / hz / n, orders, passed }' >>"$RESULTS"
  [[ -n "${MERCATO_GATEWAY_GIVEN:-}" ]] || bench_stop_system
}

MERCATO_GATEWAY_GIVEN=${MERCATO_GATEWAY:+1}
if [[ -n "$MERCATO_GATEWAY_GIVEN" ]]; then
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
    (["orders placed (fast run)"] + ($variants | map(cell(.; .orders)))),
    (["audit passed"] + ($variants | map(cell(.; .audit_passed | tostring))))
  | @tsv' "$RESULTS" | column -t -s $'\t'
jq -e -s 'all(.audit_passed)' "$RESULTS" >/dev/null || bench_die "an audit failed (see $BENCH_OUT/*/slow.txt and fast.txt): its numbers do not count"
bench_log "results in $BENCH_OUT"
