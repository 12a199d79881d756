#!/bin/bash
# Gateway alone, API reference on/off alternating: time from exec to /health/live 200, RSS after 10 s idle.
DLL=/work/main/src/Gateway/bin/Debug/net10.0/Mercato.Gateway.dll
for round in 1 2 3 4 5 6; do
  for variant in on off; do
    flag=true; [ $variant = off ] && flag=false
    start=$(date +%s.%N)
    ASPNETCORE_ENVIRONMENT=Development DOTNET_TieredPGO=0 dotnet $DLL --urls http://127.0.0.1:18090 --Registry:Url= \
      --Gateway:StaticDestinations:catalog=http://127.0.0.1:9 --Gateway:ApiReference=$flag > /tmp/gw-ab-$variant.log 2>&1 &
    pid=$!
    until curl -sf -o /dev/null http://127.0.0.1:18090/health/live; do sleep 0.05; done
    ready=$(echo "$(date +%s.%N) - $start" | bc)
    sleep 10
    rss=$(awk '/VmRSS/{print $2/1024}' /proc/$pid/status)
    echo "$round $variant ready_s=$ready rss_mb=$rss"
    kill $pid; wait $pid 2>/dev/null
  done
done
