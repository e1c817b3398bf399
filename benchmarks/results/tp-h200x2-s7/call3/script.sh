# Session 7, call 3 (2x H200): the Triton P2P all-reduce (now the default): microbenchmark,
# the TP tests that touch it (kill tests included), 8B TP2 vs TP1, 14B TP2 vs TP1.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
M=/tmp/mine; mkdir -p $M; cp scratch/commit.txt $M/
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
el start
timeout 70 python benchmarks/all_reduce.py --modes p2p,nccl --rows 32,128,256 --json $M/all_reduce.json > $M/all_reduce.log 2>&1; el allreduce; pk
grep -q "p2p.*correct=True" $M/all_reduce.log && P2P_OK=1 || P2P_OK=0
AIOS_TP_TEST_DEVICE=cuda AIOS_TP_TIMEOUT_S=60 AIOS_TP_TEST_TIMEOUT_S=45 timeout -k 5 150 python -m pytest -v -s -x \
  tests/test_tensor_parallel.py -k "tp2_matches or async or killed" -p no:cacheprovider > $M/tests.log 2>&1
echo "exit $?" >> $M/tests.log; el tests; pk
timeout 100 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --profile-prefill --out $M/tp2 > $M/tp2.log 2>&1; el tp2; pk
timeout 90 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 1 --out $M/tp1 --profile-batches 256 > $M/tp1.log 2>&1; el tp1; pk
timeout 90 python benchmarks/tp_scaling.py --model random:Qwen3-14B --tp 2 --profile-batches 32,256 --out $M/tp2-14b > $M/tp2-14b.log 2>&1; el tp2-14b; pk
timeout 90 python benchmarks/tp_scaling.py --model random:Qwen3-14B --tp 1 --profile-batches 32 --out $M/tp1-14b > $M/tp1-14b.log 2>&1; el tp1-14b; pk
