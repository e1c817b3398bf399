# Session 8, call 5 (2x H200): nano, one machine: TP=1, then TP=2 with the P2P all-reduce on 32x8192 and 64x8192.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
M=/tmp/mine; mkdir -p $M; cp scratch/commit.txt $M/
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
el start
timeout -k 5 60 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 1 --workloads nano --profile-batches "" \
  --out $M/tp1 > $M/tp1.log 2>&1; el "tp1 $?"; pk
for pb in 32x8192 64x8192; do
  AIOS_P2P_PROGRAMS=${pb%x*} AIOS_P2P_BLOCK=${pb#*x} AIOS_TP_ALL_REDUCE=p2p PYTHONPATH=$PWD/scratch/trace:$PWD timeout -k 5 60 \
    python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp 2 --workloads nano --profile-batches "" --out $M/p2p-$pb \
    > $M/p2p-$pb.log 2>&1; el "p2p-$pb $?"; pk
done
for f in $M/*/nano-tp*.json; do python -c "import json; r=json.load(open('$f'))['results'][0]; print('$f', round(r['output_tokens_per_s']), r.get('step_seconds'))"; done
