# Session 10, call 1 (2x H200): the whole TP test file over NCCL (the killed-worker fix of session 9,
# unverified there), nano with chat sampling at TP=1 and TP=2 (P2P; slices vs gather), then the
# P2P engine tests that hung once in session 9 (one process each).
export PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
R=$PWD; M=/tmp/mine; mkdir -p $M; cp scratch/commit.txt scratch/s10c1.sh $M/
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/pyspy .whl/py_spy-*.whl > $M/pip.log 2>&1
C=/tmp/clean; mkdir -p $C && tar xf scratch/head.tar -C $C && cd $C
export PYTHONPATH=$C
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
el start
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > $M/gpu.txt
TT="AIOS_TP_TEST_DEVICE=cuda AIOS_TP_TIMEOUT_S=50 AIOS_TP_TEST_TIMEOUT_S=60"
run() {  # name, limit s, py-spy dump after s, all-reduce, pytest args...
  local name=$1 lim=$2 dump=$3 ar=$4; shift 4
  env $TT AIOS_TP_ALL_REDUCE=$ar timeout -k 5 $lim python -m pytest -v -s tests/test_tensor_parallel.py "$@" > "$M/$name.log" 2>&1 &
  local p=$!
  for i in $(seq 1 $dump); do sleep 1; kill -0 $p 2>/dev/null || break; done
  if kill -0 $p 2>/dev/null; then
    for pid in $(pgrep -f "pytest|multiprocessing.spawn"); do echo "== $pid $(tr '\0' ' ' < /proc/$pid/cmdline | cut -c1-100)"; /tmp/pyspy/bin/py-spy dump --native --pid $pid 2>&1 | head -60; done > "$M/$name.pyspy.txt" 2>&1
  fi
  wait $p; el "$name $?"; grep -E "passed|failed" "$M/$name.log" | tail -1; pk
}
run tests-file-nccl 250 200 nccl
sc() { timeout -k 5 $1 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp $2 --workloads nano --chat-sampling --profile-batches "" --out $M/$3 > $M/$3.log 2>&1; el "$3 $?"; pk; }
sc 70 1 tp1-chat
AIOS_TP_ALL_REDUCE=p2p AIOS_TP_SAMPLING=slices sc 70 2 tp2-p2p-chat-slices
AIOS_TP_ALL_REDUCE=p2p AIOS_TP_SAMPLING=gather sc 70 2 tp2-p2p-chat-gather
for k in "async" "killed and between" "killed and inside and True" "killed and inside and False"; do
  run "p2p-$(echo "$k" | tr ' ' '_')" 50 35 p2p -x -k "$k"
done
for f in $M/*/nano-tp*.json; do python -c "import json; r=json.load(open('$f'))['results'][0]; print('$f', round(r['output_tokens_per_s']))"; done | tee $M/summary.txt
pk
