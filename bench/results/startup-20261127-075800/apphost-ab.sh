#!/usr/bin/env bash
# Alternating warm starts: AppHost runtimeconfig as built (base) vs PGO off + no spinning (knob).
set -uo pipefail
RC=/work/main/src/AppHost/bin/Debug/net10.0/Mercato.AppHost.runtimeconfig.json
cp $RC /tmp/exp/apphost.rc.orig
knob() { jq '.runtimeOptions.configProperties += {"System.Runtime.TieredPGO": false, "System.Threading.ThreadPool.UnfairSemaphoreSpinLimit": 0}' /tmp/exp/apphost.rc.orig > $RC; }
base() { cp /tmp/exp/apphost.rc.orig $RC; }
for i in 1 2 3; do  # then 4 5 6
  for v in base knob; do
    $v
    bash /work/main/bench/results/startup-20261127-015700/timeline.sh /work/main ah-$v-$i > /dev/null 2>&1
    head -1 /tmp/exp/tl-ah-$v-$i/timeline.txt; grep -E 'AppHost|Dashboard|Gateway' /tmp/exp/tl-ah-$v-$i/timeline.txt
    sleep 3
  done
done
base
