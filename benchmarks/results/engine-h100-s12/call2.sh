#!/usr/bin/env bash
# Session 12, call 2: the A/B rows of call1.sh again, on the same warm H100
# (Triton's cache already filled), each row's summary line into one file.
export PYTHONPATH=$PWD
B="python3 benchmark.py --model random:Qwen3-0.6B"
for r in "table-store:" "table-nostore:AIOS_QK_NORM_STORE_KV=0" "nano-store:" "nano-nostore:AIOS_QK_NORM_STORE_KV=0"; do
  n=${r%%:*}; e=${r#*:}; w=${n%%-*}
  env $e timeout 40 $B --workload $w --json $OUT/$n.json > /tmp/$n.log 2>&1
  echo "$n $(grep -E '^aios ' /tmp/$n.log)" | tee -a $OUT/summary.txt
done
