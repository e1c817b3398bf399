# Session 9, call 4 (2x H200): random:Qwen3-8B nano and table at TP=1 and TP=2 (NCCL, the default; P2P 64x8192 with
# the all-reduce fused with RMSNorm), the fused kernel's tile and the unfused P2P on nano; the killed-worker test with P2P.
export PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
R=$PWD; M=/tmp/mine; mkdir -p $M; cp scratch/commit.txt $M/
C=/tmp/clean; mkdir -p $C && tar xf scratch/head.tar -C $C && cd $C
export PYTHONPATH=$C
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
el start
sc() { timeout -k 5 $1 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp $2 --workloads $3 --profile-batches "" --out $M/$4 > $M/$4.log 2>&1; el "$4 $?"; pk; }
sc 80 1 nano,table tp1
sc 80 2 nano,table tp2-nccl
export PYTHONPATH=$R/scratch/trace:$C
AIOS_TP_ALL_REDUCE=p2p sc 80 2 nano,table tp2-p2p-fused
AIOS_TP_ALL_REDUCE=p2p AIOS_P2P_TILE=4096 sc 50 2 nano tp2-p2p-fused-tile4096
AIOS_TP_ALL_REDUCE=p2p AIOS_P2P_FUSE=0 sc 50 2 nano tp2-p2p-unfused
export PYTHONPATH=$C
AIOS_TP_ALL_REDUCE=p2p AIOS_TP_TEST_DEVICE=cuda AIOS_TP_TIMEOUT_S=40 AIOS_TP_TEST_TIMEOUT_S=30 timeout -k 5 70 \
  python -m pytest -v -s -x tests/test_tensor_parallel.py -k "killed and inside and True" > $M/killed-inside-p2p.log 2>&1; el "killed-inside-p2p $?"; pk
for f in $M/*/*-tp*.json; do python -c "import json; r=json.load(open('$f'))['results'][0]; print('$f', round(r['output_tokens_per_s']))"; done | tee $M/summary.txt
pk
