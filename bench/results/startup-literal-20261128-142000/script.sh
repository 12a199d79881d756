#!/usr/bin/env bash
# The issue's literal start-up measure: plain `dotnet run --project src/AppHost` (launch profile, up-to-date tree, so
# MSBuild's up-to-date check runs first) until the gateway answers /health/ready on http://localhost:8080.
set -uo pipefail
cd /work/main
source bench/lib.sh
for i in 1 2 3; do
  start=$(date +%s.%N)
  setsid dotnet run --project src/AppHost > /tmp/literal2-$i.log 2>&1 &
  leader=$!
  until curl -sf -o /dev/null http://localhost:8080/health/ready; do sleep 0.1; done
  end=$(date +%s.%N)
  printf 'run %d: gateway ready %.2f s after `dotnet run --project src/AppHost`\n' "$i" "$(echo "$end - $start" | bc)"
  BENCH_APPHOST_PID=$leader BENCH_GATEWAY_PORT=8080 bench_stop_system >/dev/null 2>&1
  sleep 5
done
