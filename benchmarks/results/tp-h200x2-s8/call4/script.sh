# Session 8, call 4 (2x H200): P2P grid/block sweep alone; 8B TP=2 with the best <=64-program P2P;
# lesson 14 on two GPUs; aios serve --tp 2 at 32/128 streams; 8B TP=2 with P2P on 132 programs (traced).
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
M=/tmp/mine; mkdir -p $M; cp scratch/commit.txt $M/
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
left() { echo $(( 555 - ($(date +%s) - T0) )); }
cap() { local l; l=$(left); [ "$1" -lt "$l" ] && echo "$1" || echo "$l"; }
el start
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/serve/*.whl > $M/pip.log 2>&1
timeout -k 5 90 python benchmarks/all_reduce.py --modes p2p-32,p2p-32x8192,p2p-32x16384,p2p-64x8192,p2p-132 \
  --rows 32,128,256 --json $M/all_reduce.json > $M/all_reduce.log 2>&1; el "allreduce $?"; grep "us (" $M/all_reduce.log; pk
BEST=$(python - $M/all_reduce.json <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
ok = {m: r["256"]["us"] for m, r in t.items() if m != "p2p-132" and all(v["correct"] for v in r.values())}
m = min(ok, key=ok.get) if ok else "p2p-32"
n, _, b = m.split("-")[1].partition("x")
print(n, b or 2048)
PY
)
set -- $BEST; P=$1; B=$2; el "best <=64 programs: $P x $B"
AIOS_P2P_PROGRAMS=$P AIOS_P2P_BLOCK=$B AIOS_TP_ALL_REDUCE=p2p PYTHONPATH=$PWD/scratch/trace:$PWD timeout -k 5 $(cap 100) \
  python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --profile-batches 256 --out $M/tp2-p2p-best \
  > $M/tp2-p2p-best.log 2>&1; el "tp2-p2p-best $?"; pk
timeout -k 5 $(cap 220) python lessons/lesson14/run_lesson14.py --solution --device cuda --json $M/lesson14.json \
  > $M/lesson14.log 2>&1; el "lesson14 $?"; tail -25 $M/lesson14.log; pk
t=$(cap 150); [ $t -gt 50 ] && { PYTHONPATH=/tmp/site:$PWD timeout -k 10 $t python benchmarks/serve.py --model random:Qwen3-8B \
  --server-args "--tp 2" --concurrency 32,128 --input-len 256 --output-len 128 --client-processes 4 \
  --json $M/serve-tp2.json > $M/serve-tp2.log 2>&1; el "serve $?"; tail -8 $M/serve-tp2.log; pk; }
t=$(cap 90); [ $t -gt 60 ] && { mkdir -p $M/p2p132; AIOS_P2P_PROGRAMS=132 AIOS_TP_ALL_REDUCE=p2p AIOS_TP_TIMEOUT_S=30 \
  AIOS_TRACE_DIR=$M/p2p132 PYTHONPATH=$PWD/scratch/trace:$PWD timeout -k 5 $t python benchmarks/tp_scaling.py \
  --model random:Qwen3-8B --tp 2 --workloads nano --profile-batches 256 --out $M/p2p132 > $M/p2p132/run.log 2>&1
  el "p2p132 $?"; grep -h STALL $M/p2p132/trace-*.log | cut -c1-300; pk; }
