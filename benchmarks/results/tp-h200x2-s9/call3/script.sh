# Session 9, call 3 (2x H200): where the TP tests hang (async with P2P; a killed worker with P2P and
# with NCCL): the test's own timer dumps rank 0's threads at 40 s, py-spy dumps every process at 30 s.
# Then decode attention by split size at TP=1 / TP=2 head counts (scratch/splits.py).
export PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
R=$PWD; M=/tmp/mine; mkdir -p $M; cp scratch/commit.txt $M/
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/pyspy .whl/py_spy-*.whl > $M/pip.log 2>&1
C=/tmp/clean; mkdir -p $C && tar xf scratch/head.tar -C $C && cd $C
export PYTHONPATH=$C
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
el start
timeout -k 5 60 python $R/scratch/splits.py $M/splits.json > $M/splits.log 2>&1; el "splits $?"; pk
TT="AIOS_TP_TEST_DEVICE=cuda AIOS_TP_TIMEOUT_S=50 AIOS_TP_TEST_TIMEOUT_S=40"
run() {  # name, all-reduce, -k
  env $TT AIOS_TP_ALL_REDUCE=$2 timeout -k 5 80 python -m pytest -v -s -x tests/test_tensor_parallel.py -k "$3" > "$M/$1.log" 2>&1 &
  local p=$!
  for i in $(seq 1 30); do sleep 1; kill -0 $p 2>/dev/null || break; done
  if kill -0 $p 2>/dev/null; then
    for pid in $(pgrep -f "pytest|multiprocessing.spawn"); do echo "== $pid $(tr '\0' ' ' < /proc/$pid/cmdline | cut -c1-100)"; /tmp/pyspy/bin/py-spy dump --native --pid $pid 2>&1 | head -50; done > "$M/$1.pyspy.txt" 2>&1
  fi
  wait $p; el "$1 $?"; grep -E "passed|failed" "$M/$1.log" | tail -1; pk
}
run async-p2p p2p "async"
run killed-between-p2p p2p "killed and between"
run killed-between-nccl nccl "killed and between"
run killed-inside-nccl nccl "killed and inside and True"
