# Session 10, call 3 (2x H200): the P2P all-reduce as the default (AIOS_TP_ALL_REDUCE=auto): lesson 14 on two
# GPUs, nano + table at TP=1 and TP=2, then the whole TP test file in one run, timed.
export PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
R=$PWD; M=/tmp/mine; mkdir -p $M; cp scratch/commit.txt scratch/s10c3.sh $M/
C=/tmp/clean; mkdir -p $C && tar xf scratch/head.tar -C $C && cd $C
export PYTHONPATH=$C
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
left() { echo $(( 575 - ($(date +%s) - T0) )); }
el start
timeout -k 5 120 python lessons/lesson14/run_lesson14.py --solution --device cuda --json $M/lesson14.json \
  > $M/lesson14.log 2>&1; el "lesson14 $?"; tail -6 $M/lesson14.log; pk
sc() { timeout -k 5 $1 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp $2 --workloads nano,table --profile-batches "" --out $M/$3 > $M/$3.log 2>&1; el "$3 $?"; pk; }
sc 75 1 tp1
sc 75 2 tp2-auto
AIOS_TP_TEST_DEVICE=cuda AIOS_TP_TIMEOUT_S=50 AIOS_TP_TEST_TIMEOUT_S=60 timeout -k 5 $(left) python -m pytest -v -s --durations=0 \
  tests/test_tensor_parallel.py > $M/tests-file.log 2>&1
el "tests-file $?"; grep -E "passed|failed" $M/tests-file.log | tail -1; pk
for f in $M/*/*-tp*.json; do python -c "import json; r=json.load(open('$f'))['results'][0]; print('$f', round(r['output_tokens_per_s']))"; done | tee $M/summary.txt
pk
