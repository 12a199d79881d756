#!/usr/bin/env bash
# Ad-hoc: copies of a running service with its exact environment, with and without OTLP export; idle RSS after 40 s.
set -uo pipefail
SVC=${SVC:-Gateway}
pid=$(pgrep -f "Mercato.$SVC.dll" | head -1)
tr '\0' '\n' < /proc/$pid/environ | grep -v '^HTTP_PORTS=\|^ASPNETCORE_URLS=\|^OTEL_SERVICE_INSTANCE_ID=\|^ASPNETCORE_HTTP_PORTS=' > /tmp/exp/svc.env
cwd=$(readlink /proc/$pid/cwd)
dll=$(tr '\0' ' ' < /proc/$pid/cmdline | awk '{print $2}')
for round in 1 2 3; do
  PIDS=()
  cd "$cwd"
  env -i $(cat /tmp/exp/svc.env) ASPNETCORE_URLS=http://127.0.0.1:18096 dotnet "$dll" > /tmp/exp/otlp-on.log 2>&1 & PIDS+=($!)
  env -i $(grep -v '^OTEL_EXPORTER_OTLP' /tmp/exp/svc.env) ASPNETCORE_URLS=http://127.0.0.1:18097 dotnet "$dll" > /tmp/exp/otlp-off.log 2>&1 & PIDS+=($!)
  sleep 45
  for i in 0 1; do
    p=${PIDS[$i]}; v=$([ $i = 0 ] && echo on || echo off)
    awk -v r=$round -v v=$v '/^Rss:/{rss=$2} /^Anonymous:/{an=$2} /^Pss:/{pss=$2} END{printf "%s %s rss=%.1f pss=%.1f anon=%.1f\n", r, v, rss/1024, pss/1024, an/1024}' /proc/$p/smaps_rollup
  done
  kill ${PIDS[@]}; wait 2>/dev/null
done
