#!/usr/bin/env bash
# Gateway overhead: the same catalog request sent straight to the catalog instance, through the Mercato gateway,
# through nginx (a plain reverse proxy with upstream keep-alive) and through a plain YARP (bench/PlainProxy: YARP's
# defaults, nothing of the gateway's pipeline), by wrk at a fixed number of connections; they alternate, round after
# round, so drift (JIT, caches, the machine) hits them alike. Two gateway targets: "gateway" sends
# Cache-Control: no-store, so every request goes through the proxy to the catalog (the gateway's overhead, comparable
# with nginx and YARP, which proxy every request too); "cached" is the same request as a browser sends it, which the
# gateway answers from its shared response cache (the catalog allows 10 s). Prints requests/s, p50 and p99 of each
# (median over the rounds) and the ratios, each the median of the ratios within a round: gateway/direct, gateway/nginx,
# gateway/yarp (what the gateway's pipeline costs), yarp/nginx (what YARP itself costs against nginx on this machine)
# and cached/nginx. Every target also reports the CPU time (user + system, from /proc) that the proxy's processes and
# the catalog's spent per request while it ran: on a box where wrk, the proxy and the catalog share the cores,
# requests/s is set by the sum of what each takes per request, and this says which part is the proxy's. The Aspire
# dashboard's too when this script started the system: it records the spans of every request (Mercato__TraceSampleRatio
# in the environment sets how many are kept, as for `dotnet run --project src/AppHost`).
#
#   bash bench/gateway.sh [--smoke]
#
# Environment: MERCATO_GATEWAY (use a running system), BENCH_ROUNDS (5), BENCH_SECONDS per measurement (10),
# BENCH_WARMUP_SECONDS per target (15; a freshly started system needs it), BENCH_CONNECTIONS (64), BENCH_THREADS (2), BENCH_PATH (one product's detail),
# BENCH_NGINX_PORT (18090), BENCH_NGINX_WORKERS (auto), BENCH_YARP_PORT (18095), plus those of bench/lib.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
bench_init gateway "$@"
bench_need wrk nginx

if [[ "$SMOKE" == 1 ]]; then
  ROUNDS=${BENCH_ROUNDS:-1} SECONDS_PER_RUN=${BENCH_SECONDS:-1} WARMUP=${BENCH_WARMUP_SECONDS:-1} CONNECTIONS=${BENCH_CONNECTIONS:-4}
else
  ROUNDS=${BENCH_ROUNDS:-5} SECONDS_PER_RUN=${BENCH_SECONDS:-10} WARMUP=${BENCH_WARMUP_SECONDS:-15} CONNECTIONS=${BENCH_CONNECTIONS:-64}
fi
THREADS=${BENCH_THREADS:-2}
REQUEST_PATH=${BENCH_PATH:-/api/catalog/products/00000000-0000-4000-8000-000000000001}
NGINX_PORT=${BENCH_NGINX_PORT:-18090}
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-auto}
YARP_PORT=${BENCH_YARP_PORT:-18095}

bench_ensure_system
GATEWAY=$(bench_gateway)
# wrk is anonymous: one client IP, so the per-IP token bucket would cap the gateway at 200/s.
bench_raise_limits

# One healthy catalog instance: direct, nginx and the plain YARP each reach that one, so the gateway must have no other
# to balance over (it would compare two instances' capacity with one's).
catalogs=$(bench_api GET /api/registry/services | jq -r '.[] | select(.name == "catalog") | .instances[] | select(.status == "healthy") | .address')
[[ -n "$catalogs" ]] || bench_die "no healthy catalog instance in the registry"
if [[ $(wc -l <<<"$catalogs") != 1 ]]; then
  why="the gateway balances over $(wc -l <<<"$catalogs") catalog instances, the direct, nginx and YARP targets reach one"
  # The smoke only proves the script runs, against the end-to-end tests' system (two catalogs: a canary beside it).
  [[ "$SMOKE" == 1 ]] || bench_die "$why: run one catalog instance"
  bench_log "WARNING: $why; the ratios compare unlike targets (smoke only)"
fi
catalog=$(head -1 <<<"$catalogs")
catalog=${catalog%/}
bench_log "catalog instance: $catalog"
curl -sf -o /dev/null "$catalog$REQUEST_PATH" || bench_die "the catalog does not answer $REQUEST_PATH directly"

# The processes, for their CPU time: every instance reports its pid to the registry.
instances=$(bench_instances)
CATALOG_PID=$(awk -v a="$catalog" '$1 == "catalog" && $3 != "-" && ($4 == a || $4 == a "/") { print $3; exit }' <<<"$instances")
GATEWAY_PID=$(awk '$1 == "gateway" && $3 != "-" { print $3; exit }' <<<"$instances")
[[ -n "$CATALOG_PID" && -n "$GATEWAY_PID" ]] || bench_die "the registry does not report the catalog's or the gateway's pid"
# The Aspire dashboard of a system this script started: it ingests every span the requests make, on the same cores.
DASHBOARD_PID=""
if [[ -n "$BENCH_APPHOST_PID" ]]; then
  for pid in $(bench_system_pids "$BENCH_APPHOST_PID"); do
    if grep -q 'Aspire.Dashboard' "/proc/$pid/cmdline" 2>/dev/null; then DASHBOARD_PID=$pid; fi
  done
fi

# nginx: our own process and configuration, loopback only, no system service.
nginx_dir=$BENCH_OUT/nginx
mkdir -p "$nginx_dir/tmp"
upstream=${catalog#http://}
cat >"$nginx_dir/nginx.conf" <<CONF
# Plain reverse proxy in front of the catalog instance, keep-alive on both sides (bench/gateway.sh).
worker_processes $NGINX_WORKERS;
daemon off;
pid $nginx_dir/nginx.pid;
error_log $nginx_dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $nginx_dir/tmp/body;
  proxy_temp_path $nginx_dir/tmp/proxy;
  fastcgi_temp_path $nginx_dir/tmp/fastcgi;
  uwsgi_temp_path $nginx_dir/tmp/uwsgi;
  scgi_temp_path $nginx_dir/tmp/scgi;
  keepalive_requests 1000000;
  upstream catalog {
    server $upstream;
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://catalog;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_buffering on;
    }
  }
}
CONF
answers_within_10s() {
  local _
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  return 1
}

bench_port_busy "$NGINX_PORT" && bench_die "port $NGINX_PORT is in use (BENCH_NGINX_PORT)"
nginx -t -q -e "$nginx_dir/error.log" -p "$nginx_dir" -c "$nginx_dir/nginx.conf"
nginx -e "$nginx_dir/error.log" -p "$nginx_dir" -c "$nginx_dir/nginx.conf" &
NGINX_PID=$!
nginx_pids() { echo "$NGINX_PID $(bench_descendants "$NGINX_PID" | tr '\n' ' ')"; }
bench_on_exit 'kill -TERM $NGINX_PID 2>/dev/null; wait $NGINX_PID 2>/dev/null'
answers_within_10s "http://127.0.0.1:$NGINX_PORT$REQUEST_PATH" || bench_die "nginx does not answer (see $nginx_dir/error.log)"
bench_log "nginx (pid $NGINX_PID, $NGINX_WORKERS workers) on 127.0.0.1:$NGINX_PORT -> $catalog"

# The plain YARP: built like the system's services (same configuration), started on the same catalog instance.
bench_log "building bench/PlainProxy ($BENCH_CONFIGURATION)"
dotnet build "$BENCH_DIR/PlainProxy" -c "$BENCH_CONFIGURATION" -nologo -v quiet >&2 || bench_die "bench/PlainProxy did not build"
bench_port_busy "$YARP_PORT" && bench_die "port $YARP_PORT is in use (BENCH_YARP_PORT)"
dotnet "$BENCH_DIR/PlainProxy/bin/$BENCH_CONFIGURATION/net10.0/Mercato.PlainProxy.dll" --urls "http://127.0.0.1:$YARP_PORT" --Upstream "$catalog" \
  >"$BENCH_OUT/plain-yarp.log" 2>&1 &
YARP_PID=$!
bench_on_exit 'kill -TERM $YARP_PID 2>/dev/null; wait $YARP_PID 2>/dev/null'
answers_within_10s "http://127.0.0.1:$YARP_PORT$REQUEST_PATH" || bench_die "the plain YARP does not answer (see $BENCH_OUT/plain-yarp.log)"
bench_log "plain YARP (pid $YARP_PID) on 127.0.0.1:$YARP_PORT -> $catalog"

declare -A URL=(
  [direct]="$catalog$REQUEST_PATH"
  [gateway]="$GATEWAY$REQUEST_PATH"
  [nginx]="http://127.0.0.1:$NGINX_PORT$REQUEST_PATH"
  [yarp]="http://127.0.0.1:$YARP_PORT$REQUEST_PATH"
  [cached]="$GATEWAY$REQUEST_PATH"
)
declare -A HEADER=([gateway]="Cache-Control: no-store")
# The proxy processes of each target (nginx: its master and workers, read at each measurement).
proxy_pids() {
  case $1 in
    direct) ;;
    gateway | cached) echo "$GATEWAY_PID" ;;
    nginx) nginx_pids ;;
    yarp) echo "$YARP_PID" ;;
  esac
}
CLOCK_TICKS=$(getconf CLK_TCK)
cpu_ticks() { # pids... -> user + system clock ticks summed
  local pid total=0
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] && total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  echo "$total"
}
TARGETS=(direct gateway nginx yarp cached)

# wrk's own summary, plus one JSON line from its latency histogram (microseconds).
lua=$BENCH_OUT/report.lua
cat >"$lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"errors":%d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.status + e.timeout))
end
LUA

run_wrk() { # target seconds -> JSON line
  local target=$1 seconds=$2 out proxy proxy0 catalog0 dashboard0
  local header=(${HEADER[$target]:+-H "${HEADER[$target]}"})
  proxy=($(proxy_pids "$target"))
  proxy0=$(cpu_ticks "${proxy[@]}")
  catalog0=$(cpu_ticks "$CATALOG_PID")
  dashboard0=$(cpu_ticks $DASHBOARD_PID)
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${seconds}s" --timeout 10s "${header[@]}" -s "$lua" "${URL[$target]}" 2>&1) || {
    echo "$out" >&2
    bench_die "wrk failed against $target"
  }
  echo "$out" >>"$BENCH_OUT/wrk-$target.txt"
  grep '^RESULT ' <<<"$out" | sed 's/^RESULT //' | jq -c --argjson tick_us $((1000000 / CLOCK_TICKS)) \
    --argjson proxy $(($(cpu_ticks "${proxy[@]}") - proxy0)) --argjson catalog $(($(cpu_ticks "$CATALOG_PID") - catalog0)) \
    --argjson dashboard "$(if [[ -n "$DASHBOARD_PID" ]]; then echo $(($(cpu_ticks $DASHBOARD_PID) - dashboard0)); else echo null; fi)" '
    def per_request($ticks): if .requests > 0 and $ticks != null then $ticks * $tick_us / .requests else null end;
    . + { proxy_cpu_us: per_request($proxy), catalog_cpu_us: per_request($catalog), dashboard_cpu_us: per_request($dashboard) }'
}

bench_log "warm-up: ${WARMUP}s per target"
for target in "${TARGETS[@]}"; do
  bench_check_stop
  run_wrk "$target" "$WARMUP" >/dev/null
done

results=$BENCH_OUT/gateway.jsonl
: >"$results"
for round in $(seq 1 "$ROUNDS"); do
  # Rotate the order every round.
  order=("${TARGETS[@]:$(((round - 1) % ${#TARGETS[@]}))}" "${TARGETS[@]:0:$(((round - 1) % ${#TARGETS[@]}))}")
  for target in "${order[@]}"; do
    bench_check_stop
    line=$(run_wrk "$target" "$SECONDS_PER_RUN")
    jq -c --arg t "$target" --argjson r "$round" '{target: $t, round: $r} + .' <<<"$line" | tee -a "$results" >&2
  done
done

summary=$(jq -s --arg path "$REQUEST_PATH" --argjson c "$CONNECTIONS" --argjson threads "$THREADS" --argjson s "$SECONDS_PER_RUN" \
  --arg cores "$(nproc)" --arg mem "$(free -g | awk '/^Mem:/ { print $2 }')" '
  def median: sort | if length == 0 then 0 elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  (group_by(.target) | map({key: .[0].target, value: {
      rounds: length,
      rps: (map(.rps) | median),
      p50_ms: (map(.p50_us) | median / 1000),
      p90_ms: (map(.p90_us) | median / 1000),
      p99_ms: (map(.p99_us) | median / 1000),
      max_ms: (map(.max_us) | max / 1000),
      proxy_cpu_us_per_request: (map(.proxy_cpu_us) | median),
      catalog_cpu_us_per_request: (map(.catalog_cpu_us) | median),
      dashboard_cpu_us_per_request: (map(.dashboard_cpu_us // empty) | if length == 0 then null else median end),
      errors: (map(.errors) | add)
    }}) | from_entries) as $t
  # A ratio is taken within each round, where the two targets ran minutes apart at most, then its median over the
  # rounds: dividing the medians of two targets could pair measurements from different rounds.
  | (group_by(.round) | map(map({key: .target, value: .}) | from_entries)) as $rounds
  | def ratio($a; $b): {
      rps: ($rounds | map(.[$a].rps / .[$b].rps) | median),
      p99: ($rounds | map(.[$a].p99_us / .[$b].p99_us) | median) };
    { path: $path, connections: $c, threads: $threads, seconds_per_run: $s, cores: ($cores | tonumber), memory_gib: ($mem | tonumber),
      targets: $t,
      ratios: {
        gateway_over_direct: ratio("gateway"; "direct"),
        gateway_over_nginx:  ratio("gateway"; "nginx"),
        gateway_over_yarp:   ratio("gateway"; "yarp"),
        yarp_over_nginx:     ratio("yarp"; "nginx"),
        cached_over_nginx:   ratio("cached"; "nginx")
      } }' "$results")
echo "$summary" >"$BENCH_OUT/gateway-summary.json"

echo
echo "GET $REQUEST_PATH — wrk -t$THREADS -c$CONNECTIONS, ${SECONDS_PER_RUN}s × $ROUNDS rounds per target (median), $(nproc) cores"
jq -r '
  ["target", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "proxy CPU µs/req", "catalog CPU µs/req", "dashboard CPU µs/req"],
  (["direct", "gateway", "nginx", "yarp", "cached"][] as $k | .targets[$k] | [$k, (.rps | floor), .p50_ms, .p90_ms, .p99_ms, .max_ms, .errors,
    (.proxy_cpu_us_per_request | round), (.catalog_cpu_us_per_request | round), (.dashboard_cpu_us_per_request // "-" | if type == "number" then round else . end)])
  | @tsv' <<<"$summary" | column -t -s $'\t'
jq -r '.ratios | to_entries[] | .key |= sub("_over_"; "/")
  | "\(.key | . + ":" + (" " * (15 - length))) req/s \(.value.rps * 100 | round / 100), p99 \(.value.p99 * 100 | round / 100)"' <<<"$summary"
errors=$(jq '[.targets[].errors] | add' <<<"$summary")
echo "results: $BENCH_OUT"
if [[ "$errors" != 0 ]]; then
  bench_log "wrk saw $errors errors (non-2xx, timeouts or socket errors): see $BENCH_OUT/wrk-*.txt"
  exit 1
fi
