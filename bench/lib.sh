# shellcheck shell=bash
# Shared helpers for bench/*.sh (sourced, not run): start, wait for and stop the system, admin login, the gateway's
# rate limits, the load generator, process sizes. Every function logs to stderr; results go to stdout.
#
# Environment (all optional):
#   MERCATO_GATEWAY        use this running system (e.g. http://127.0.0.1:18080) instead of starting one
#   BENCH_GATEWAY_PORT     gateway port of a system the scripts start (18080); registry: BENCH_REGISTRY_PORT (18081)
#   BENCH_DATA_DIR         its data folder (/tmp/bench-data; smoke runs: inside BENCH_OUT); BENCH_FRESH=1 empties it first
#   BENCH_MESSAGING_PORT   first of five Wolverine TCP ports of the embedded profile (18101..18105)
#   BENCH_DASHBOARD_PORT   Aspire dashboard port (18888; OTLP and resource service on the next two ports)
#   BENCH_CONFIGURATION    configuration of the already built binaries the AppHost runs (Debug)
#   BENCH_OUT              where results are written (bench/results/<script>-<time>, or a temporary folder in smoke mode)
#   BENCH_STOP_FILE        if this file appears, the scripts stop between steps (and clean up)
#   BENCH_PID_LOG          a file to which the AppHost's process group id is appended (for an outside supervisor)
#   MERCATO_ADMIN_PASSWORD admin password (the dev default otherwise)

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=$BENCH_ROOT/bench
BENCH_NAME=${BENCH_NAME:-bench}
BENCH_CONFIGURATION=${BENCH_CONFIGURATION:-Debug}
BENCH_GATEWAY_PORT=${BENCH_GATEWAY_PORT:-18080}
BENCH_REGISTRY_PORT=${BENCH_REGISTRY_PORT:-18081}
BENCH_DATA_DIR_GIVEN=${BENCH_DATA_DIR:+1}
BENCH_DATA_DIR=${BENCH_DATA_DIR:-/tmp/bench-data}
BENCH_MESSAGING_PORT=${BENCH_MESSAGING_PORT:-18101}
BENCH_DASHBOARD_PORT=${BENCH_DASHBOARD_PORT:-18888}
BENCH_ADMIN_EMAIL=${BENCH_ADMIN_EMAIL:-admin@mercato.local}
BENCH_ADMIN_PASSWORD=${MERCATO_ADMIN_PASSWORD:-Admin123!}
BENCH_SERVICES=(registry gateway identity catalog inventory payment ordering notification analytics basket)
SMOKE=${SMOKE:-0}

BENCH_APPHOST_PID=""
BENCH_SYSTEM_PIDS=""
BENCH_POLICY_SAVED=""
BENCH_CLEANUP_HOOKS=()

bench_log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "$BENCH_NAME" "$*" >&2; }
bench_die() { bench_log "ERROR: $*"; exit 1; }

bench_need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || bench_die "$tool is required (Debian: apt-get install -y $tool)"
  done
}

bench_now() { date +%s.%N; }
bench_elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# Stops the script between steps when BENCH_STOP_FILE exists (the trap cleans up).
bench_check_stop() {
  if [[ -n "${BENCH_STOP_FILE:-}" && -e "$BENCH_STOP_FILE" ]]; then
    bench_log "stop file $BENCH_STOP_FILE found: stopping"
    exit 3
  fi
}

# Sets up a script: its name (for logs and the results folder), --smoke / SMOKE=1, the output folder BENCH_OUT, and
# the traps that clean up whatever it started, on any exit.
bench_init() {
  BENCH_NAME=$1
  shift
  local arg
  for arg in "$@"; do
    [[ "$arg" == --smoke ]] && SMOKE=1
  done
  if [[ -z "${BENCH_OUT:-}" ]]; then
    if [[ "$SMOKE" == 1 ]]; then
      BENCH_OUT=$(mktemp -d "/tmp/mercato-$BENCH_NAME-smoke.XXXXXX")
    else
      BENCH_OUT=$BENCH_DIR/results/$BENCH_NAME-$(date +%Y%m%d-%H%M%S)
    fi
  fi
  mkdir -p "$BENCH_OUT"
  # A smoke run keeps its data apart from real runs' (/tmp/bench-data), unless told otherwise.
  if [[ "$SMOKE" == 1 && -z "$BENCH_DATA_DIR_GIVEN" ]]; then
    BENCH_DATA_DIR=$BENCH_OUT/data
  fi
  bench_need curl jq dotnet
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# --- cleanup -----------------------------------------------------------------------------------------------------
bench_on_exit() { BENCH_CLEANUP_HOOKS+=("$1"); }

bench_cleanup() {
  local status=$? hook i
  trap - EXIT INT TERM
  for ((i = ${#BENCH_CLEANUP_HOOKS[@]} - 1; i >= 0; i--)); do
    hook=${BENCH_CLEANUP_HOOKS[i]}
    eval "$hook" || true
  done
  bench_restore_limits || true
  bench_stop_system || true
  exit "$status"
}

# --- the system --------------------------------------------------------------------------------------------------
bench_gateway() { echo "${MERCATO_GATEWAY:-http://127.0.0.1:$BENCH_GATEWAY_PORT}"; }

bench_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts the AppHost from the already built binaries (never builds): `dotnet run --project src/AppHost --no-build`,
# in its own process group, on the bench ports and data folder. Extra arguments go to the AppHost. Sets
# BENCH_START_TIME (epoch seconds, just before `dotnet run`).
bench_start_system() {
  local root=${BENCH_SYSTEM_ROOT:-$BENCH_ROOT}
  local apphost_dll="$root/src/AppHost/bin/$BENCH_CONFIGURATION/net10.0/Mercato.AppHost.dll"
  [[ -f "$apphost_dll" ]] || bench_die "no $BENCH_CONFIGURATION build of src/AppHost ($apphost_dll): build it first (dotnet build src/AppHost)"
  bench_port_busy "$BENCH_GATEWAY_PORT" && bench_die "port $BENCH_GATEWAY_PORT is in use: stop that system, or point MERCATO_GATEWAY at it"
  if [[ "${BENCH_FRESH:-0}" == 1 && -d "$BENCH_DATA_DIR" ]]; then
    # Only a folder these scripts made (marked) is emptied.
    [[ -f "$BENCH_DATA_DIR/.mercato-bench" ]] || bench_die "BENCH_FRESH=1 but $BENCH_DATA_DIR was not made by bench/ (no .mercato-bench): remove it yourself"
    rm -rf "$BENCH_DATA_DIR"
  fi
  if [[ ! -d "$BENCH_DATA_DIR" || -z "$(ls -A "$BENCH_DATA_DIR")" ]]; then
    mkdir -p "$BENCH_DATA_DIR"
    touch "$BENCH_DATA_DIR/.mercato-bench"
  fi
  BENCH_APPHOST_LOG=$BENCH_OUT/apphost-$(date +%H%M%S).log
  local m=$BENCH_MESSAGING_PORT d=$BENCH_DASHBOARD_PORT
  local args=(
    "--Mercato:GatewayPort=$BENCH_GATEWAY_PORT" "--Mercato:RegistryPort=$BENCH_REGISTRY_PORT" "--Mercato:DataDir=$BENCH_DATA_DIR"
    "--Mercato:MessagingPorts:ordering=$m" "--Mercato:MessagingPorts:payment=$((m + 1))" "--Mercato:MessagingPorts:inventory=$((m + 2))"
    "--Mercato:MessagingPorts:notification=$((m + 3))" "--Mercato:MessagingPorts:analytics=$((m + 4))"
    "$@"
  )
  bench_log "starting the system${BENCH_SYSTEM_ROOT:+ from $BENCH_SYSTEM_ROOT}: dotnet run --project src/AppHost --no-build -- ${args[*]}"
  BENCH_START_TIME=$(bench_now)
  # The launch profile's settings, with the dashboard's ports movable so a developer's own run is not disturbed.
  (
    cd "$root" || exit 1
    export ASPNETCORE_ENVIRONMENT=Development DOTNET_ENVIRONMENT=Development ASPIRE_ALLOW_UNSECURED_TRANSPORT=true \
      ASPNETCORE_URLS="http://localhost:$d" ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL="http://localhost:$((d + 1))" \
      ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL="http://localhost:$((d + 2))" DOTNET_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS=true \
      DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
    exec setsid dotnet run --project src/AppHost --no-build --no-launch-profile -c "$BENCH_CONFIGURATION" -- "${args[@]}"
  ) >"$BENCH_APPHOST_LOG" 2>&1 </dev/null &
  BENCH_APPHOST_PID=$!
  export MERCATO_GATEWAY="http://127.0.0.1:$BENCH_GATEWAY_PORT"
  bench_log "AppHost process group $BENCH_APPHOST_PID, log $BENCH_APPHOST_LOG"
  if [[ -n "${BENCH_PID_LOG:-}" ]]; then echo "$BENCH_APPHOST_PID" >>"$BENCH_PID_LOG"; fi
}

# A baseline to measure against in the same run: BENCH_BASELINE_REV (a git revision of this repository, checked out in
# a worktree under /tmp and built there) and/or BENCH_BASELINE ("VAR=value ..." settings given to every process of
# the baseline system; the AppHost's children inherit its environment). Sets BENCH_BASELINE_ROOT and BASELINE_SETTINGS;
# returns 1 when no baseline is asked for.
bench_prepare_baseline() {
  read -r -a BASELINE_SETTINGS <<<"${BENCH_BASELINE:-}"
  BENCH_BASELINE_ROOT=""
  if [[ -n "${BENCH_BASELINE_REV:-}" ]]; then
    local rev
    rev=$(git -C "$BENCH_ROOT" rev-parse --short "$BENCH_BASELINE_REV^{commit}") || bench_die "BENCH_BASELINE_REV=$BENCH_BASELINE_REV is not a commit"
    BENCH_BASELINE_ROOT=/tmp/mercato-baseline-$rev
    if [[ ! -d "$BENCH_BASELINE_ROOT" ]]; then
      git -C "$BENCH_ROOT" worktree add --detach "$BENCH_BASELINE_ROOT" "$rev" >&2
    fi
    bench_log "building the baseline $rev in $BENCH_BASELINE_ROOT ($BENCH_CONFIGURATION)"
    dotnet build "$BENCH_BASELINE_ROOT/src/AppHost" -c "$BENCH_CONFIGURATION" -nologo -v quiet >&2 || bench_die "the baseline $rev did not build"
  fi
  [[ -n "$BENCH_BASELINE_ROOT" || ${#BASELINE_SETTINGS[@]} -gt 0 ]]
}

# Describes the baseline for logs and results.
bench_baseline_label() {
  local parts=()
  [[ -n "${BENCH_BASELINE_REV:-}" ]] && parts+=("revision $BENCH_BASELINE_REV")
  ((${#BASELINE_SETTINGS[@]})) && parts+=("settings ${BASELINE_SETTINGS[*]}")
  local IFS=', '
  echo "${parts[*]}"
}

# bench_start_system for the baseline: its root and settings (they only need to be there when the AppHost starts).
# A variable the caller had set for the current system gets its value back afterwards.
bench_start_baseline_system() {
  local setting name saved=()
  for setting in "${BASELINE_SETTINGS[@]}"; do
    name=${setting%%=*}
    if [[ -v $name ]]; then saved+=("$name=${!name}"); else saved+=("$name"); fi
    export "${setting?}"
  done
  BENCH_SYSTEM_ROOT=$BENCH_BASELINE_ROOT
  bench_start_system "$@"
  BENCH_SYSTEM_ROOT=""
  for setting in "${saved[@]}"; do
    if [[ $setting == *=* ]]; then export "${setting?}"; else unset "$setting"; fi
  done
}

# Every process below the given one (pids, one per line).
bench_descendants() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      for (i = 1; i <= NR; i++) {
        p = pids[i]; q = parent[p]
        while (q != "" && q != 0 && q != 1) { if (q == root) { print p; break } q = parent[q] }
      }
    }'
}

# Every process of the system started from the given process group leader: its descendants, plus Aspire's DCP
# processes (they detach, and name the process they watch with --monitor <pid>) and everything below those.
bench_system_pids() {
  local leader=$1 set new p
  set=" $leader $(bench_descendants "$leader" | tr '\n' ' ') ${BENCH_SYSTEM_PIDS:-} "
  while true; do
    new=$(ps -e -o pid=,args= | awk -v set="$set" '
      BEGIN { n = split(set, s, " "); for (i = 1; i <= n; i++) known[s[i]] = 1 }
      !($1 in known) { for (i = 2; i < NF; i++) if ($i == "--monitor" && ($(i + 1) in known)) { print $1; break } }')
    [[ -z "$new" ]] && break
    for p in $new; do set+="$p $(bench_descendants "$p" | tr '\n' ' ') "; done
  done
  tr ' ' '\n' <<<"$set" | awk 'NF' | sort -un | tr '\n' ' '
}

# Waits until the gateway answers /health/ready (sets BENCH_GATEWAY_READY_S, seconds since BENCH_START_TIME when this
# script started the system), then until every service has a healthy instance in the registry and a catalog list
# answers through the gateway (BENCH_SYSTEM_READY_S).
bench_wait_ready() {
  local timeout=${1:-180} gateway deadline
  gateway=$(bench_gateway)
  deadline=$(($(date +%s) + timeout))
  BENCH_GATEWAY_READY_S=""
  BENCH_SYSTEM_READY_S=""
  until curl -sf -o /dev/null --max-time 2 "$gateway/health/ready"; do
    [[ -n "$BENCH_APPHOST_PID" ]] && ! kill -0 "$BENCH_APPHOST_PID" 2>/dev/null && {
      tail -30 "$BENCH_APPHOST_LOG" >&2
      bench_die "the AppHost exited before the gateway was ready"
    }
    (($(date +%s) < deadline)) || bench_die "the gateway at $gateway was not ready within ${timeout}s"
    sleep 0.1
  done
  [[ -n "${BENCH_START_TIME:-}" ]] && BENCH_GATEWAY_READY_S=$(bench_elapsed "$BENCH_START_TIME" "$(bench_now)")
  local missing="" token=""
  while true; do
    # One sign-in per start (the signing key does not change while the system runs): each costs identity a password
    # hash, on the CPU whose start-up this times.
    [[ -n "$token" ]] || token=$(bench_admin_token 2>/dev/null) || token=""
    if [[ -n "$token" ]]; then
      BENCH_ADMIN_TOKEN=$token
      local healthy
      healthy=$(bench_api GET /api/registry/services 2>/dev/null | jq -r '.[] | select(.healthyInstances > 0) | .name' 2>/dev/null || true)
      missing=""
      local s
      for s in "${BENCH_SERVICES[@]}"; do
        grep -qx "$s" <<<"$healthy" || missing+="$s "
      done
      if [[ -z "$missing" ]] && curl -sf -o /dev/null --max-time 5 "$gateway/api/catalog/products?pageSize=1"; then
        break
      fi
    fi
    (($(date +%s) < deadline)) || bench_die "not every service registered within ${timeout}s (missing: ${missing:-?})"
    sleep 0.25
  done
  [[ -n "${BENCH_START_TIME:-}" ]] && BENCH_SYSTEM_READY_S=$(bench_elapsed "$BENCH_START_TIME" "$(bench_now)")
  if [[ -n "$BENCH_APPHOST_PID" ]]; then
    BENCH_SYSTEM_PIDS="$(bench_instances | awk '$3 != "-" { print $3 }' | tr '\n' ' ')"
    BENCH_SYSTEM_PIDS=$(bench_system_pids "$BENCH_APPHOST_PID")
  fi
  bench_log "system ready at $gateway${BENCH_GATEWAY_READY_S:+ (gateway ready after ${BENCH_GATEWAY_READY_S}s, all services after ${BENCH_SYSTEM_READY_S}s)}"
}

# Starts the system unless MERCATO_GATEWAY names a running one; waits until it is ready.
bench_ensure_system() {
  if [[ -n "${MERCATO_GATEWAY:-}" ]]; then
    bench_log "using the running system at $MERCATO_GATEWAY"
  else
    bench_start_system "$@"
  fi
  bench_wait_ready 240
}

# Stops the system this script started: SIGTERM to the AppHost's process group (Aspire stops every resource), then
# waits until every process of the system (the instances, DCP) has exited and the gateway's port is free; SIGKILL to
# whatever is left after 45 s.
bench_stop_system() {
  [[ -n "$BENCH_APPHOST_PID" ]] || return 0
  local leader=$BENCH_APPHOST_PID pids p left i
  BENCH_APPHOST_PID=""
  pids=$(bench_system_pids "$leader")
  bench_log "stopping the system (process group $leader)"
  kill -TERM -- "-$leader" 2>/dev/null || true
  for i in $(seq 1 90); do
    left=""
    for p in $pids; do kill -0 "$p" 2>/dev/null && left+="$p "; done
    [[ -z "$left" ]] && break
    sleep 0.5
  done
  if [[ -n "$left" ]]; then
    bench_log "still running after 45 s, killing: $left"
    kill -KILL -- "-$leader" 2>/dev/null || true
    for p in $left; do kill -KILL "$p" 2>/dev/null || true; done
    sleep 1
  fi
  for i in $(seq 1 40); do
    bench_port_busy "$BENCH_GATEWAY_PORT" || break
    sleep 0.5
  done
  BENCH_SYSTEM_PIDS=""
  unset MERCATO_GATEWAY
  bench_log "system stopped"
}

# --- API -----------------------------------------------------------------------------------------------------------
bench_admin_token() {
  curl -sf --max-time 10 -X POST "$(bench_gateway)/api/identity/token" -H 'content-type: application/json' \
    -d "$(jq -nc --arg e "$BENCH_ADMIN_EMAIL" --arg p "$BENCH_ADMIN_PASSWORD" '{email: $e, password: $p}')" | jq -re .access_token
}

# bench_api METHOD PATH [JSON body] — as the admin; prints the body, fails on a non-2xx answer.
bench_api() {
  local method=$1 path=$2 body=${3:-}
  [[ -n "${BENCH_ADMIN_TOKEN:-}" ]] || BENCH_ADMIN_TOKEN=$(bench_admin_token)
  if [[ -n "$body" ]]; then
    curl -sf --max-time 30 -X "$method" "$(bench_gateway)$path" -H "authorization: Bearer $BENCH_ADMIN_TOKEN" \
      -H 'content-type: application/json' -d "$body"
  else
    curl -sf --max-time 30 -X "$method" "$(bench_gateway)$path" -H "authorization: Bearer $BENCH_ADMIN_TOKEN"
  fi
}

# Lines "service instanceId pid address" of every registered instance.
bench_instances() {
  bench_api GET /api/registry/services | jq -r '.[] | .instances[] | "\(.serviceName) \(.instanceId) \(.metadata.pid // "-") \(.address)"'
}

# The control plane's gateway.rateLimit sized for load tests (1,000,000/s per user and per IP); the document in
# force before is kept and put back by bench_restore_limits (also on exit).
bench_raise_limits() {
  local before raised version
  before=$(bench_api GET /api/registry/policies) || bench_die "cannot read the policy document"
  BENCH_POLICY_SAVED=$BENCH_OUT/policy-before.json
  echo "$before" >"$BENCH_POLICY_SAVED"
  # Systems from before the sign-in bucket refuse fields they do not know: it is raised only where it exists.
  raised=$(jq -c 'del(.version) | .gateway.rateLimit |= ({userPermitsPerSecond: 1000000, userBurst: 10000000, anonymousPermitsPerSecond: 1000000, anonymousBurst: 10000000}
    + (if has("credentialBurst") then {credentialPermitsPerMinute: 60000000, credentialBurst: 10000000} else {} end))' <<<"$before")
  version=$(bench_api PUT /api/registry/policies "$raised" | jq -r .version) || bench_die "the raised policy document was refused"
  bench_log "gateway rate limits raised for the run (policy version $version; version $(jq -r .version <<<"$before") is put back at the end)"
  local i
  for i in $(seq 1 60); do
    [[ "$(bench_api GET /api/gateway/admin/policies | jq -r .version)" -ge "$version" ]] && return 0
    sleep 0.25
  done
  bench_log "WARNING: the gateway did not report policy version $version within 15 s"
}

bench_restore_limits() {
  [[ -n "$BENCH_POLICY_SAVED" && -f "$BENCH_POLICY_SAVED" ]] || return 0
  local saved=$BENCH_POLICY_SAVED version
  BENCH_POLICY_SAVED=""
  if version=$(bench_api PUT /api/registry/policies "$(jq -c 'del(.version)' "$saved")" | jq -r .version); then
    bench_log "previous policy document put back (as version $version)"
  else
    bench_log "WARNING: could not put back the policy document saved in $saved: PUT it to /api/registry/policies by hand"
  fi
}

# --- processes -----------------------------------------------------------------------------------------------------
bench_rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "-"; }

# Fills the global map NAME_OF (pid -> name) with every process of the running system: each registered instance by
# its service name, and the rest of the system's processes of 5 MB or more (the AppHost, its dashboard, DCP) as
# "other: <program, or the dll dotnet runs>".
bench_name_processes() {
  local line name pid rss
  declare -gA NAME_OF=()
  mapfile -t INSTANCES < <(bench_instances | awk '$3 != "-" { print $1 " " $3 }' | sort)
  ((${#INSTANCES[@]} > 0)) || bench_die "no instance in the registry reports its pid"
  for line in "${INSTANCES[@]}"; do
    read -r name pid <<<"$line"
    NAME_OF[$pid]=$name
  done
  for pid in $(if [[ -n "$BENCH_APPHOST_PID" ]]; then bench_system_pids "$BENCH_APPHOST_PID"; fi); do
    [[ -n "${NAME_OF[$pid]:-}" ]] && continue
    rss=$(bench_rss_mb "$pid")
    [[ "$rss" == - ]] && continue
    # Only processes of some size: skip shells and tiny helpers.
    awk -v r="$rss" 'BEGIN { exit !(r >= 5) }' || continue
    NAME_OF[$pid]="other: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | awk '{
      n = split($1, a, "/"); cmd = a[n]
      if (cmd == "dotnet" && $2 == "run") {
        project = "?"; for (i = 3; i < NF; i++) if ($i == "--project") { m = split($(i + 1), p, "/"); project = p[m] }
        sub(/\.csproj$/, "", project); cmd = "dotnet run " project
      } else if (cmd == "dotnet" && $2 != "") { n = split($2, b, "/"); cmd = b[n] }
      print cmd }')"
  done
}

# --- the load generator --------------------------------------------------------------------------------------------
# Builds bench/LoadGen (Release) once: exported, so the scripts one script runs do not build it again.
BENCH_LOADGEN_DLL=$BENCH_DIR/LoadGen/bin/Release/net10.0/loadgen.dll

bench_build_loadgen() {
  [[ -z "${BENCH_LOADGEN_BUILT:-}" ]] || return 0
  bench_log "building bench/LoadGen (Release)"
  dotnet build "$BENCH_DIR/LoadGen" -c Release -nologo -v quiet >&2 || bench_die "bench/LoadGen did not build"
  export BENCH_LOADGEN_BUILT=1
}

# Runs the load generator against the gateway with the given arguments.
bench_loadgen() {
  bench_build_loadgen
  dotnet "$BENCH_LOADGEN_DLL" --gateway "$(bench_gateway)" "$@"
}

# A freshly started system compiles a lot on first use (JIT, Wolverine's message handlers): the first orders can take
# tens of seconds. Places orders slowly until they go through in time, so measurements start from a warm system.
bench_warm_system() {
  local i
  for i in 1 2 3 4 5 6; do
    bench_check_stop
    if bench_loadgen checkout --rate 5 --duration 5s --warmup 0s --users 2 --user-prefix bench-warm --order-timeout 20s \
      --quiet --no-audit --label warm-up >"$BENCH_OUT/warm-up-$i.txt" 2>&1; then
      bench_log "system warm (orders go through)"
      return 0
    fi
    bench_log "warming up the system ($i): orders not through in time yet"
  done
  bench_log "WARNING: orders were still failing or slow after 6 warm-up rounds (see $BENCH_OUT/warm-up-*.txt)"
}
