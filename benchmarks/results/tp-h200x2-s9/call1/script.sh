# Session 9, call 1 (2x H200): vocabulary-slice sampling A/B at TP=2 (P2P 64x8192), TP=1 nano,
# the all-reduce's push mode, and the sampling kernel's GPU tests. Runs commit in commit.txt
# (git archive HEAD, unpacked in a fresh dir: the working tree holds a helper's unfinished edits).
export PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
R=$PWD; M=/tmp/mine; mkdir -p $M; cp scratch/commit.txt $M/
C=/tmp/clean; mkdir -p $C && tar xf scratch/head.tar -C $C && cd $C
export PYTHONPATH=$C
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
el start
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > $M/gpu.txt
timeout -k 5 100 python -m pytest -q -x tests/test_sampling_kernel.py > $M/sampling_tests.log 2>&1; el "sampling tests $?"; tail -3 $M/sampling_tests.log; pk
timeout -k 5 100 python benchmarks/all_reduce.py --modes nccl,p2p-32x8192,p2p-64x8192,p2p-32x8192-push,p2p-64x8192-push \
  --rows 32,128,256 --json $M/all_reduce.json > $M/all_reduce.log 2>&1; el "allreduce $?"; tail -8 $M/all_reduce.log; pk
timeout -k 5 70 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 1 --workloads nano --profile-batches "" \
  --out $M/tp1 > $M/tp1.log 2>&1; el "tp1 $?"; pk
for how in slices gather; do
  AIOS_TP_SAMPLING=$how AIOS_P2P_PROGRAMS=64 AIOS_P2P_BLOCK=8192 AIOS_TP_ALL_REDUCE=p2p PYTHONPATH=$R/scratch/trace:$C \
    timeout -k 5 90 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --workloads nano --profile-batches 256 \
    --out $M/tp2-$how > $M/tp2-$how.log 2>&1; el "tp2-$how $?"; pk
done
for f in $M/*/nano-tp*.json; do python -c "import json; r=json.load(open('$f'))['results'][0]; print('$f', round(r['output_tokens_per_s']))"; done | tee $M/summary.txt
pk
