#!/usr/bin/env bash
# CI's proof that the benchmarks work (not a benchmark): every script in smoke mode, a few seconds of tiny load each.
# On its own, footprint.sh starts and stops its own system (it measures start-up) and the others share a second one;
# with MERCATO_GATEWAY every script runs against that running system (start-up is then not measured), and
# BENCH_SMOKE_STARTUP=1 adds footprint.sh's start-up path on a system of its own (the bench ports). CI runs it that
# way, against the end-to-end tests' system (tests/EndToEnd.Tests/BenchmarkSmokeTests.cs).
#
#   bash bench/smoke.sh            # needs src/ built (dotnet build src/AppHost), nginx, wrk, jq, curl (and NuGet for dotnet-trace)
#   MERCATO_GATEWAY=http://127.0.0.1:8080 bash bench/smoke.sh   # against a running system, ~1 minute
#   BENCH_BUILD=1 bash bench/smoke.sh   # builds src/AppHost first, and installs nginx, wrk and jq if missing (root, Debian)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
export SMOKE=1
if [[ "${BENCH_BUILD:-0}" == 1 ]]; then
  missing=()
  for tool in nginx wrk jq curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if ((${#missing[@]})); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
bench_init smoke --smoke
if [[ "${BENCH_BUILD:-0}" == 1 ]]; then
  bench_log "building src/AppHost ($BENCH_CONFIGURATION)"
  dotnet build "$BENCH_ROOT/src/AppHost" -c "$BENCH_CONFIGURATION" -nologo -v quiet >&2
fi
bench_build_loadgen
# Each script's results and data go under this run's folder.
export BENCH_DATA_DIR=$BENCH_OUT/data

if [[ -n "${MERCATO_GATEWAY:-}" ]]; then
  # A running system (the end-to-end tests' own): nothing to start, so footprint.sh measures memory only.
  bench_wait_ready 240
  bench_log "footprint.sh --smoke (memory of the running system)"
  BENCH_OUT=$BENCH_OUT/footprint bash "$BENCH_DIR/footprint.sh" --smoke
  if [[ "${BENCH_SMOKE_STARTUP:-0}" == 1 ]]; then
    bench_log "footprint.sh --smoke (start-up, on a system of its own)"
    MERCATO_GATEWAY="" BENCH_OUT=$BENCH_OUT/footprint-startup BENCH_DATA_DIR=$BENCH_OUT/footprint-startup/data \
      bash "$BENCH_DIR/footprint.sh" --smoke
  fi
else
  bench_log "footprint.sh --smoke"
  BENCH_OUT=$BENCH_OUT/footprint bash "$BENCH_DIR/footprint.sh" --smoke
  bench_start_system
  bench_wait_ready 240
fi
bench_log "gateway.sh --smoke"
BENCH_OUT=$BENCH_OUT/gateway bash "$BENCH_DIR/gateway.sh" --smoke
bench_log "profile.sh gateway wrk --smoke"
BENCH_OUT=$BENCH_OUT/profile bash "$BENCH_DIR/profile.sh" gateway wrk --smoke >"$BENCH_OUT/profile.txt"
bench_log "checkout.sh --smoke"
BENCH_OUT=$BENCH_OUT/checkout bash "$BENCH_DIR/checkout.sh" --smoke
bench_log "perorder.sh --smoke"
BENCH_OUT=$BENCH_OUT/perorder bash "$BENCH_DIR/perorder.sh" --smoke >"$BENCH_OUT/perorder.txt"
bench_log "loadgen browse, open loop"
bench_loadgen browse --rate 20 --duration 2s --warmup 1s --json "$BENCH_OUT/browse.json" >"$BENCH_OUT/browse.txt"
bench_log "loadgen mixed, closed loop"
bench_loadgen mixed --mode closed --concurrency 2 --duration 2s --warmup 1s --users 2 --checkout-share 0.3 \
  --json "$BENCH_OUT/mixed.json" >"$BENCH_OUT/mixed.txt"
jq -e '.passed' "$BENCH_OUT/browse.json" "$BENCH_OUT/mixed.json" >/dev/null
bench_log "smoke passed: every benchmark script ran (results in $BENCH_OUT)"
