#!/usr/bin/env bash
# Where does a service spend its time under load? Samples one service's threads with dotnet-trace (~100 Hz, the
# dotnet-sampled-thread-time profile) while a load runs, and prints the methods that were on the stack the longest,
# exclusive and inclusive (`dotnet-trace report … topN`). Threads waiting show as wait methods (Monitor.Wait,
# LowLevelLifoSemaphore, WaitHandle …): what is left is where the CPU goes, or what it waits on.
#
#   bash bench/profile.sh gateway                 # wrk on a cached catalog read through the gateway
#   BENCH_HEADER='Cache-Control: no-store' bash bench/profile.sh gateway   # the same read, proxied every time
#   bash bench/profile.sh ordering checkout 25     # LoadGen checkout at 25 orders/s
#   bash bench/profile.sh gateway wrk --smoke       # 2 s sampled after 2 s of light load (CI)
#
# Environment: BENCH_PATH and BENCH_HEADER (the wrk load's request), BENCH_PROFILE_SECONDS (15, sampled after BENCH_PROFILE_LEAD_SECONDS = 10 s of load), BENCH_TOP (40),
# plus those of bench/lib.sh. dotnet-trace is the repository's local tool (.config/dotnet-tools.json, restored here);
# the wrk load needs wrk.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
positional=()
for arg in "$@"; do [[ "$arg" == --smoke ]] || positional+=("$arg"); done
SERVICE=${positional[0]:?which service to profile: gateway, ordering, payment, ...}
LOAD=${positional[1]:-wrk}
RATE=${positional[2]:-25}
bench_init "profile-$SERVICE" "$@"
if [[ "$SMOKE" == 1 ]]; then
  SECONDS_SAMPLED=${BENCH_PROFILE_SECONDS:-2} LEAD=${BENCH_PROFILE_LEAD_SECONDS:-2} CONNECTIONS=4
else
  SECONDS_SAMPLED=${BENCH_PROFILE_SECONDS:-15} LEAD=${BENCH_PROFILE_LEAD_SECONDS:-10} CONNECTIONS=64
fi
TOP=${BENCH_TOP:-40}
(cd "$BENCH_ROOT" && dotnet tool restore >/dev/null) || bench_die "dotnet tool restore failed (dotnet-trace is a local tool)"
dotnet_trace() { (cd "$BENCH_ROOT" && dotnet tool run dotnet-trace -- "$@"); }

bench_ensure_system
bench_raise_limits
pid=$(bench_instances | awk -v s="$SERVICE" '$1 == s && $3 != "-" { print $3; exit }')
[[ -n "$pid" ]] || bench_die "no running instance of $SERVICE reports its pid"
bench_log "$SERVICE is pid $pid"

case $LOAD in
  wrk)
    bench_need wrk
    path=${BENCH_PATH:-/api/catalog/products/00000000-0000-4000-8000-000000000001}
    header=(${BENCH_HEADER:+-H "$BENCH_HEADER"})
    wrk -t2 -c"$CONNECTIONS" "${header[@]}" -d$((SECONDS_SAMPLED + LEAD + 5))s "$(bench_gateway)$path" >"$BENCH_OUT/load.txt" 2>&1 &
    ;;
  checkout)
    # Built first, then exec'd in the background job: $! is the generator itself, so the exit hook stops it. A
    # backgrounded shell function would leave its dotnet child running, which would later put back the raised limits
    # it read at its start.
    bench_build_loadgen
    (exec dotnet "$BENCH_LOADGEN_DLL" --gateway "$(bench_gateway)" checkout --rate "$RATE" --duration "$((SECONDS_SAMPLED + 5))s" \
      --warmup "${LEAD}s" --users 50 --quiet --no-audit --label "profile.sh $SERVICE" >"$BENCH_OUT/load.txt" 2>&1) &
    ;;
  *) bench_die "load '$LOAD': use wrk or checkout" ;;
esac
LOAD_PID=$!
bench_on_exit 'kill -TERM $LOAD_PID 2>/dev/null; wait $LOAD_PID 2>/dev/null'
sleep "$LEAD"
trace=$BENCH_OUT/$SERVICE.nettrace
bench_log "sampling $SERVICE for ${SECONDS_SAMPLED}s"
dotnet_trace collect -p "$pid" --profile dotnet-sampled-thread-time --duration "00:00:00:$SECONDS_SAMPLED" -o "$trace" >"$BENCH_OUT/trace.log" 2>&1
wait "$LOAD_PID" || true
dotnet_trace report "$trace" topN -n "$TOP" | tee "$BENCH_OUT/top-exclusive.txt"
dotnet_trace report "$trace" topN -n "$TOP" --inclusive | tee "$BENCH_OUT/top-inclusive.txt"
echo "trace: $trace (not committed; open it in PerfView, or convert it: dotnet-trace convert --format speedscope)"
