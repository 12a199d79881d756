#!/usr/bin/env bash
set -uo pipefail
for i in 1 2 3 4; do
  for v in wait nowait; do
    if [[ $v == nowait ]]; then export EXP_NOWAIT=1; else unset EXP_NOWAIT; fi
    bash /work/main/bench/results/startup-20261127-015700/timeline.sh /work/main nw-$v-$i > /dev/null 2>&1
    f=/tmp/exp/tl-nw-$v-$i/timeline.txt
    echo "$(head -1 $f) reg_start=$(awk '/Registry/{print $1}' $f) gw_start=$(awk '/Gateway/{print $1}' $f) svc_cpu=$(awk '/Mercato\.[A-Za-z]+\.dll/{s+=$2} END{print s}' $f)"
    sleep 3
  done
done
