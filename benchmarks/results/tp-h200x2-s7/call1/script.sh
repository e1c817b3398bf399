# Session 7, call 1 (2x H200): skinny tables for TP shards, TP1 baselines on GPU 1 meanwhile,
# the P2P all-reduce's correctness, TP2 with NCCL / symm_mem, 14B.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
M=/tmp/mine; mkdir -p $M; cp scratch/commit.txt $M/
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
nvidia-smi topo -m > $M/topo.txt 2>&1; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> $M/topo.txt
python -c "import torch; print('torch', torch.__version__, 'nccl', torch.cuda.nccl.version(), torch.cuda.device_count())" >> $M/topo.txt
el start
# 1) tuning on GPU 0 while the TP=1 baselines run on GPU 1
CUDA_VISIBLE_DEVICES=0 timeout 200 python benchmarks/skinny_gemm.py --models Qwen3-8B/tp2,Qwen3-14B/tp2,Qwen3-14B \
  --buckets 16,32 --budget-s 130 --json $M/skinny_tp.json --engine-configs $M/skinny_configs.json > $M/skinny.log 2>&1 &
TUNE=$!
( export CUDA_VISIBLE_DEVICES=1
  timeout 130 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 1 --profile-prefill --out $M/tp1 > $M/tp1.log 2>&1
  timeout 110 python benchmarks/tp_scaling.py --model random:Qwen3-14B --tp 1 --profile-batches 32 --out $M/tp1-14b > $M/tp1-14b.log 2>&1 ) &
BASE=$!
wait $TUNE; el tuned; pk
wait $BASE; el baselines; pk
export AIOS_SKINNY_GEMM_CONFIGS=$M/skinny_configs.json
# 2) the P2P all-reduce: TP2 == TP1 on the tiny float32 models
AIOS_TP_ALL_REDUCE=symm_mem AIOS_TP_TEST_DEVICE=cuda AIOS_TP_TIMEOUT_S=60 AIOS_TP_TEST_TIMEOUT_S=80 \
  timeout -k 5 100 python -m pytest -v -x tests/test_tensor_parallel.py -k "tp2_matches or async" > $M/symm_tests.log 2>&1
code=$?; echo "exit $code" >> $M/symm_tests.log; el symm-tests; pk
[ "$code" = 0 ] && AR=symm_mem || AR=nccl
# 3) TP2, NCCL, tuned skinny table
timeout 110 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --profile-prefill --out $M/tp2-nccl > $M/tp2-nccl.log 2>&1
el tp2-nccl; pk
# 4) TP2, P2P all-reduce, tuned skinny table
[ "$AR" = symm_mem ] && AIOS_TP_ALL_REDUCE=symm_mem timeout 110 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --profile-prefill --out $M/tp2-symm > $M/tp2-symm.log 2>&1
el tp2-symm; pk
# 5) TP2, NCCL, no tuned table (the skinny table's share alone), table + profile 32
AIOS_SKINNY_GEMM_CONFIGS= timeout 80 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --workloads table --profile-batches 32 --out $M/tp2-nccl-notune > $M/tp2-nccl-notune.log 2>&1
el tp2-notune; pk
# 6) 14B TP2 with the P2P all-reduce
AIOS_TP_ALL_REDUCE=$AR timeout 100 python benchmarks/tp_scaling.py --model random:Qwen3-14B --tp 2 --profile-batches 32 --out $M/tp2-14b-symm > $M/tp2-14b-symm.log 2>&1
el tp2-14b; pk
