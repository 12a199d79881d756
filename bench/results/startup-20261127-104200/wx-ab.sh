#!/usr/bin/env bash
# Alternating warm starts: W^X on (default) vs DOTNET_EnableWriteXorExecute=0 inherited by every process.
set -uo pipefail
for i in 1 2 3 4 5; do
  for v in on off; do
    if [[ $v == off ]]; then export DOTNET_EnableWriteXorExecute=0; else unset DOTNET_EnableWriteXorExecute; fi
    bash /work/main/bench/results/startup-20261127-015700/timeline.sh /work/main wx-$v-$i > /dev/null 2>&1
    f=/tmp/exp/tl-wx-$v-$i/timeline.txt
    echo "$(head -1 $f) gw_start=$(awk '/Gateway/{print $1}' $f) svc_cpu=$(awk '/Mercato\.[A-Za-z]+\.dll/{s+=$2} END{print s}' $f) all_cpu=$(awk 'NR>1{s+=$2} END{print s}' $f)"
    sleep 3
  done
done
unset DOTNET_EnableWriteXorExecute
