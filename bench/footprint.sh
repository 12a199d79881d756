#!/usr/bin/env bash
# Footprint: time from `dotnet run --project src/AppHost` (already built, --no-build) to the gateway answering
# /health/ready and to every service registered; then the resident memory (RSS) of every service process idle and
# under checkout load.
#
#   bash bench/footprint.sh [--smoke]
#
# The first start is on an empty data folder (cold: databases created, migrations, seed), the next ones on the same
# folder (warm). The system of the last start stays up for the memory measurements.
# Environment: BENCH_STARTS (3), BENCH_IDLE_SECONDS (settle time before the idle reading, 60), BENCH_LOAD_RATE
# (orders/s during the load reading, 200), BENCH_LOAD_SECONDS (60), BENCH_BASELINE_REV (a git revision) and/or
# BENCH_BASELINE ("VAR=value ..." settings for every process): everything is then measured first as that baseline,
# then as built, in this one run (bench/lib.sh), plus those of bench/lib.sh.
# With MERCATO_GATEWAY (a running system) only memory is measured: start-up needs a start.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init footprint "$@"

if [[ "$SMOKE" == 1 ]]; then
  STARTS=${BENCH_STARTS:-1} IDLE=${BENCH_IDLE_SECONDS:-2} LOAD_RATE=${BENCH_LOAD_RATE:-5} LOAD_SECONDS=${BENCH_LOAD_SECONDS:-3} LOAD_WARMUP=2
else
  STARTS=${BENCH_STARTS:-3} IDLE=${BENCH_IDLE_SECONDS:-60} LOAD_RATE=${BENCH_LOAD_RATE:-200} LOAD_SECONDS=${BENCH_LOAD_SECONDS:-60} LOAD_WARMUP=15
fi

STARTUP=$BENCH_OUT/startup.jsonl
SAMPLES=$BENCH_OUT/rss.jsonl
LOADS=$BENCH_OUT/loads.jsonl
: >"$STARTUP"
: >"$SAMPLES"
: >"$LOADS"

# Starts the system STARTS times (the first on an empty data folder; the baseline's system when the variant is the
# baseline), recording the time to ready; the last start stays up.
start_up() {
  local variant=$1 i kind start=bench_start_system
  [[ "$variant" == baseline ]] && start=bench_start_baseline_system
  for i in $(seq 1 "$STARTS"); do
    bench_check_stop
    kind=warm
    if ((i == 1)); then
      kind=cold
      BENCH_FRESH=1
    else
      BENCH_FRESH=0
    fi
    $start
    bench_wait_ready 240
    jq -nc --arg variant "$variant" --arg kind "$kind" --argjson run "$i" --argjson gw "$BENCH_GATEWAY_READY_S" --argjson all "$BENCH_SYSTEM_READY_S" \
      '{variant: $variant, run: $run, kind: $kind, gateway_ready_s: $gw, all_services_ready_s: $all}' | tee -a "$STARTUP" >&2
    if ((i < STARTS)); then
      bench_stop_system
      sleep 2
    fi
  done
}

# RSS of every process of the running system, idle and then under checkout load, as JSON lines in $SAMPLES.
measure_memory() {
  local variant=$1
  bench_name_processes

  sample() { # label -> one JSON line per process (printf, not jq: this runs every second under load)
    local at=$1 p
    for p in "${!NAME_OF[@]}"; do
      printf '{"variant":"%s","at":"%s","service":"%s","pid":%s,"rss_mb":%s}\n' "$variant" "$at" "${NAME_OF[$p]}" "$p" \
        "$(bench_rss_mb "$p" | sed 's/^-$/null/')"
    done
  }

  bench_log "$variant idle: waiting ${IDLE}s for the system to settle"
  sleep "$IDLE"
  for _ in 1 2 3; do
    sample idle >>"$SAMPLES"
    sleep 1
  done

  bench_check_stop
  bench_log "$variant under load: checkout at $LOAD_RATE orders/s for ${LOAD_WARMUP}s + ${LOAD_SECONDS}s, sampling RSS every second"
  # Built first, then exec'd in the background job: $! is the generator itself, so the exit hook's kill stops it (a
  # backgrounded shell function would leave its dotnet child running), and no build runs while RSS is sampled.
  bench_build_loadgen
  (exec dotnet "$BENCH_LOADGEN_DLL" --gateway "$(bench_gateway)" checkout --rate "$LOAD_RATE" --duration "${LOAD_SECONDS}s" \
    --warmup "${LOAD_WARMUP}s" --users 50 --quiet --json "$BENCH_OUT/$variant-load.json" --label "footprint.sh $variant load" \
    >"$BENCH_OUT/$variant-load.txt" 2>"$BENCH_OUT/$variant-load.log") &
  LOAD_PID=$!
  bench_on_exit 'kill -TERM $LOAD_PID 2>/dev/null; wait $LOAD_PID 2>/dev/null'
  while kill -0 "$LOAD_PID" 2>/dev/null; do
    sample load >>"$SAMPLES"
    sleep 1
  done
  local rc=0
  wait "$LOAD_PID" || rc=$?
  jq -nc --arg variant "$variant" --argjson rc "$rc" '{variant: $variant, loadgen_exit: $rc}' >>"$LOADS"
  if ((rc != 0)); then
    bench_log "$variant: the load run did not pass (exit $rc): see $BENCH_OUT/$variant-load.txt"
  fi
}

if [[ -n "${MERCATO_GATEWAY:-}" ]]; then
  bench_log "MERCATO_GATEWAY is set: start-up time not measured, memory of the running system only"
  bench_ensure_system
  measure_memory given
else
  if bench_prepare_baseline; then
    bench_log "baseline: $(bench_baseline_label)"
    start_up baseline
    measure_memory baseline
    bench_stop_system
    sleep 2
  fi
  start_up current
  measure_memory current
fi

summary=$(jq -s --slurpfile startup <(jq -s . "$STARTUP") --slurpfile loads <(jq -s . "$LOADS") --arg cores "$(nproc)" \
  --arg mem "$(free -g | awk '/^Mem:/ { print $2 }')" --argjson rate "$LOAD_RATE" --argjson seconds "$LOAD_SECONDS" '
  def median: sort | if length == 0 then null else .[length / 2 | floor] end;
  { cores: ($cores | tonumber), memory_gib: ($mem | tonumber), startup: $startup[0],
    load: { rate: $rate, seconds: $seconds, runs: $loads[0] },
    processes: (group_by([.variant, .pid]) | map({
      variant: .[0].variant, service: .[0].service, pid: .[0].pid,
      idle_mb: (map(select(.at == "idle") | .rss_mb) | median),
      load_peak_mb: (map(select(.at == "load") | .rss_mb) | max),
      load_end_mb: (map(select(.at == "load") | .rss_mb) | last)
    }) | sort_by(.variant, .service)) }' "$SAMPLES")
echo "$summary" >"$BENCH_OUT/footprint-summary.json"

echo
if [[ -s "$STARTUP" ]]; then
  echo "start-up: from \`dotnet run --project src/AppHost --no-build\` to ready ($BENCH_CONFIGURATION build, $(nproc) cores)"
  jq -r '["variant", "run", "data", "gateway /health/ready (s)", "all services registered (s)"],
    (.startup[] | [.variant, .run, .kind, .gateway_ready_s, .all_services_ready_s]) | @tsv' <<<"$summary" | column -t -s $'\t'
  echo
fi
echo "resident memory (RSS, MB): idle ${IDLE}s after start-up (no request served yet), and under checkout at $LOAD_RATE orders/s (${LOAD_WARMUP}s warm-up + ${LOAD_SECONDS}s)"
jq -r '["variant", "process", "pid", "idle", "load peak", "load end"], (.processes[] | [.variant, .service, .pid, .idle_mb, .load_peak_mb, .load_end_mb]) | @tsv' \
  <<<"$summary" | column -t -s $'\t'
jq -r '.processes | group_by(.variant)[] | map(select(.service | startswith("other:") | not)) |
  "\(.[0].variant): services total idle \([.[].idle_mb] | add | round) MB, load peak \([.[].load_peak_mb] | add | round) MB; largest idle \(max_by(.idle_mb) | "\(.service) \(.idle_mb) MB")"' <<<"$summary"
echo "results: $BENCH_OUT"
# A smoke run at a tiny rate must get its orders through; a real run may load the system past its capacity on purpose.
if [[ "$SMOKE" == 1 ]] && jq -e '.load.runs | any(.loadgen_exit != 0)' <<<"$summary" >/dev/null; then
  exit 1
fi
