#!/usr/bin/env bash
# Checkout capacity: the highest arrival rate of orders (open loop, constant rate) at which the p99 of placing an
# order stays under BENCH_P99_MS (250) and nothing is lost: no error of any kind, no order cancelled, the saga keeps up
# (p99 from intended start to the order's Confirmed event within BENCH_TERMINAL_P99_MS, 2000: on an idle system the
# saga takes ~0.1-0.3 s, ~1.05 s with Wolverine's default 250 ms sender batch window, so this bound catches a growing
# backlog, not the floor), and the end-state audit passes (every order terminal, stock arithmetic, captured - refunded = confirmed
# totals). Doubles the rate from BENCH_START_RATE until a step fails, then bisects to within 10 %; BENCH_RATES="a b c"
# runs exactly those rates instead.
#
#   bash bench/checkout.sh [--smoke]
#
# Runs on the embedded profile, then on scale-out when PostgreSQL (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672)
# answer (`sudo bash .ci/servers.sh`); with MERCATO_GATEWAY it measures that running system only.
# Environment: BENCH_START_RATE (50), BENCH_MAX_RATE (3200), BENCH_DURATION (20s), BENCH_WARMUP (5s), BENCH_USERS (100),
# BENCH_P99_MS (250), BENCH_TERMINAL_P99_MS (2000), BENCH_PROFILES ("embedded scale-out"), BENCH_SCALEOUT_ARGS
# (extra AppHost arguments for scale-out, e.g. "--replicas ordering=2,payment=2"), BENCH_FRESH (1: every profile
# starts on an empty data folder), BENCH_BASELINE_REV (a git revision) and/or BENCH_BASELINE ("VAR=value ..." settings
# for every process): each profile then runs first as that baseline, then as built, in this one run (bench/lib.sh),
# plus those of bench/lib.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init checkout "$@"

RATES_FIXED=${BENCH_RATES:-}
if [[ "$SMOKE" == 1 ]]; then
  # The search itself, at tiny rates: 5 then 10 orders/s, bisecting between them if 10 fails.
  DURATION=${BENCH_DURATION:-3s} WARMUP=${BENCH_WARMUP:-1s} USERS=${BENCH_USERS:-4}
  START_RATE=${BENCH_START_RATE:-5} MAX_RATE=${BENCH_MAX_RATE:-10}
else
  DURATION=${BENCH_DURATION:-20s} WARMUP=${BENCH_WARMUP:-5s} USERS=${BENCH_USERS:-100}
  START_RATE=${BENCH_START_RATE:-50} MAX_RATE=${BENCH_MAX_RATE:-3200}
fi
P99_MS=${BENCH_P99_MS:-250}
TERMINAL_P99_MS=${BENCH_TERMINAL_P99_MS:-2000}
# A smoke run proves the script on the embedded profile only (a few seconds), servers or not.
if [[ "$SMOKE" == 1 ]]; then PROFILES=${BENCH_PROFILES:-embedded}; else PROFILES=${BENCH_PROFILES:-embedded scale-out}; fi
export BENCH_FRESH=${BENCH_FRESH:-1}

STEPS=$BENCH_OUT/steps.jsonl
: >"$STEPS"

# One step at a given rate: prints PASS or FAIL (and why) and appends its summary to steps.jsonl.
step() {
  local profile=$1 rate=$2 json log rc=0
  bench_check_stop
  json=$BENCH_OUT/$profile-rate-$rate.json
  log=$BENCH_OUT/$profile-rate-$rate.log
  bench_log "$profile: $rate orders/s for $DURATION (warm-up $WARMUP, $USERS users)"
  bench_loadgen checkout --rate "$rate" --duration "$DURATION" --warmup "$WARMUP" --users "$USERS" \
    --order-timeout 30s --drain 30s --json "$json" --label "checkout.sh $profile $rate/s" >"$log.table" 2>"$log" || rc=$?
  if [[ $rc -ge 2 || ! -f "$json" ]]; then
    tail -20 "$log" >&2
    bench_die "the load generator could not run (exit $rc): see $log"
  fi
  local summary
  summary=$(jq -c --arg profile "$profile" --argjson rate "$rate" --argjson p99 "$P99_MS" --argjson tp99 "$TERMINAL_P99_MS" '
    (.series | map({key: .name, value: .}) | from_entries) as $s
    | { profile: $profile, rate: $rate,
        offered: .offeredPerSecond,
        place_p50: ($s["checkout: place (202)"].p50Ms // null), place_p99: ($s["checkout: place (202)"].p99Ms // null),
        place_max: ($s["checkout: place (202)"].maxMs // null),
        terminal_p50: ($s["checkout: order terminal"].p50Ms // null), terminal_p99: ($s["checkout: order terminal"].p99Ms // null),
        confirmed_per_s: ($s["checkout: order terminal"].throughputPerSecond // 0),
        errors: .errorsMeasured, error_kinds: .errors,
        placed: (.audit.orders.placed // 0), confirmed: (.audit.orders.confirmed // 0), cancelled: (.audit.orders.cancelled // 0),
        not_terminal: (.audit.orders.notTerminal // 0), audit: (.audit.passed // false), loadgen_passed: .passed }
    | .why = ([
        (if .loadgen_passed | not then "errors or audit" else empty end),
        (if (.place_p99 // 1e9) >= $p99 then "place p99 \(.place_p99) ms >= \($p99)" else empty end),
        (if (.terminal_p99 // 1e9) >= $tp99 then "terminal p99 \(.terminal_p99) ms >= \($tp99)" else empty end),
        (if .cancelled > 0 then "\(.cancelled) cancelled" else empty end)
      ] | join(", "))
    | .pass = (.why == "")' "$json")
  echo "$summary" >>"$STEPS"
  bench_log "$(jq -r '"\(.rate)/s: place p99 \(.place_p99) ms, terminal p99 \(.terminal_p99) ms, \(.errors) errors, \(.cancelled) cancelled, audit \(if .audit then "ok" else "FAILED" end) -> \(if .pass then "PASS" else "FAIL: \(.why)" end)"' <<<"$summary")"
  [[ "$(jq -r .pass <<<"$summary")" == true ]]
}

# Doubling, then bisection; prints the highest passing rate (0 if none).
search() {
  local profile=$1 best=0 fail="" rate
  if [[ -n "$RATES_FIXED" ]]; then
    for rate in $RATES_FIXED; do
      if step "$profile" "$rate" && ((rate > best)); then best=$rate; fi
    done
    echo "$best"
    return
  fi
  rate=$START_RATE
  while ((rate <= MAX_RATE)); do
    if step "$profile" "$rate"; then
      best=$rate
      rate=$((rate * 2))
    else
      fail=$rate
      break
    fi
    sleep 3
  done
  if [[ -n "$fail" ]]; then
    local lo=$best hi=$fail mid
    while (((hi - lo) * 10 > hi)); do
      mid=$(((lo + hi) / 2))
      ((mid > lo)) || break
      sleep 3
      if step "$profile" "$mid"; then lo=$mid; else hi=$mid; fi
    done
    best=$lo
  fi
  echo "$best"
}

scale_out_servers() { bench_port_busy 5432 && bench_port_busy 5672; }

# Starts the system for one profile (the baseline's when asked), measures it and stops it.
run_profile() {
  local profile=$1 label=$2 start=bench_start_system
  [[ "$label" == *-baseline ]] && start=bench_start_baseline_system
  case $profile in
    embedded)
      $start
      ;;
    scale-out)
      # shellcheck disable=SC2086
      $start --profile scale-out --Mercato:InstanceName=bench ${BENCH_SCALEOUT_ARGS:-}
      ;;
    *) bench_die "unknown profile '$profile' in BENCH_PROFILES" ;;
  esac
  bench_wait_ready 240
  bench_warm_system
  BEST[$label]=$(search "$label")
  bench_stop_system
}

declare -A BEST=()
if [[ -n "${MERCATO_GATEWAY:-}" ]]; then
  bench_ensure_system
  bench_warm_system
  BEST[given]=$(search given)
else
  HAVE_BASELINE=0
  if bench_prepare_baseline; then HAVE_BASELINE=1; fi
  for profile in $PROFILES; do
    if [[ $profile == scale-out ]] && ! scale_out_servers; then
      bench_log "scale-out: PostgreSQL (5432) or RabbitMQ (5672) not answering on 127.0.0.1: not measured (sudo bash .ci/servers.sh)"
      BEST[scale-out]="not measured (no servers)"
      continue
    fi
    if ((HAVE_BASELINE)); then
      bench_log "$profile-baseline: $(bench_baseline_label)"
      run_profile "$profile" "$profile-baseline"
    fi
    run_profile "$profile" "$profile"
  done
fi

jq -s '.' "$STEPS" >"$BENCH_OUT/steps.json"
echo
echo "checkout capacity — open loop, $DURATION measured after $WARMUP warm-up, $USERS users, $(nproc) cores;"
echo "a step passes with place p99 under $P99_MS ms, terminal p99 under $TERMINAL_P99_MS ms, no error, no cancellation, audit passed"
jq -r '
  ["profile", "rate/s", "place p50", "place p99", "terminal p50", "terminal p99", "confirmed/s", "errors", "cancelled", "audit", "result"],
  (.[] | [.profile, .rate, .place_p50, .place_p99, .terminal_p50, .terminal_p99, .confirmed_per_s, .errors, .cancelled,
          (if .audit then "ok" else "FAILED" end), (if .pass then "PASS" else "FAIL: " + .why end)])
  | @tsv' "$BENCH_OUT/steps.json" | column -t -s $'\t'
for profile in "${!BEST[@]}"; do
  echo "highest passing rate, $profile: ${BEST[$profile]} orders/s"
done
jq -n --argjson steps "$(cat "$BENCH_OUT/steps.json")" --arg best "$(for p in "${!BEST[@]}"; do echo "$p=${BEST[$p]}"; done)" \
  '{steps: $steps, best: ($best | split("\n") | map(select(length > 0) | split("=") | {key: .[0], value: .[1]}) | from_entries)}' \
  >"$BENCH_OUT/checkout-summary.json"
echo "results: $BENCH_OUT"
if [[ "$SMOKE" == 1 ]] && jq -e 'any(.[]; .audit | not)' "$BENCH_OUT/steps.json" >/dev/null; then
  bench_log "smoke: an end-state audit failed even at a tiny rate"
  exit 1
fi
