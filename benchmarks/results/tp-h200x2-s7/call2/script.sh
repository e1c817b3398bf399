# Session 7, call 2 (2x H200): all-reduce microbenchmark; 8B TP2 with the P2P all-reduce vs NCCL
# vs TP1 (same call); the TP tests that touch the P2P all-reduce (kill tests included).
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export AIOS_SKINNY_GEMM_CONFIGS=$PWD/scratch/skinny_configs.json
M=/tmp/mine; mkdir -p $M; cp scratch/commit.txt $M/
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
el start
timeout 100 python benchmarks/all_reduce.py --json $M/all_reduce.json > $M/all_reduce.log 2>&1; el allreduce; pk
AIOS_TP_ALL_REDUCE=symm_mem timeout 110 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --profile-prefill --out $M/tp2-p2p > $M/tp2-p2p.log 2>&1; el tp2-p2p; pk
AIOS_TP_ALL_REDUCE=nccl timeout 110 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --profile-prefill --out $M/tp2-nccl > $M/tp2-nccl.log 2>&1; el tp2-nccl; pk
timeout 100 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 1 --profile-prefill --out $M/tp1 > $M/tp1.log 2>&1; el tp1; pk
AIOS_TP_TEST_DEVICE=cuda AIOS_TP_TIMEOUT_S=60 AIOS_TP_TEST_TIMEOUT_S=50 timeout -k 5 170 python -m pytest -v -x \
  tests/test_tensor_parallel.py -k "tp2_matches or async or killed" -p no:cacheprovider > $M/tests.log 2>&1
echo "exit $?" >> $M/tests.log; el tests; pk
