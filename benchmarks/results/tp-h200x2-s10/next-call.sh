# Session 10's call 4, refused (no device time left). For the next session, on nvidia-h200-x2, from the
# repository root: bash benchmarks/results/tp-h200x2-s10/next-call.sh (results in $OUT/r.tgz).
# Lesson 14 measured 1.07x in call 3 against 1.24x in session 8 (NCCL, gathered sampling). The course
# workload at 32 seats (benchmarks/tp_scaling.py --workloads course): TP=1, and TP=2 with NCCL / P2P,
# gathered / sliced top-k cuts, and the P2P slot of call 3 (16 MB: prefills up to 2,048 tokens through
# P2P) against HEAD's (a decode step's); then lesson 14 itself. The slot is set through the debug hook
# beside this file (sitecustomize.py: AIOS_P2P_MIN_SLOT).
export PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
HERE=$(cd "$(dirname "$0")" && pwd)
M=/tmp/mine; mkdir -p $M; cp "$0" $M/; git rev-parse --short HEAD > $M/commit.txt 2>/dev/null
export PYTHONPATH=$HERE:$PWD
pk() { tar czf $OUT/r.tgz.tmp -C $M . && mv $OUT/r.tgz.tmp $OUT/r.tgz; }
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $M/timeline.txt; }
el start
python -c "import torch; torch.zeros(1, device='cuda'); from aios.utils.p2p import peer_atomics; print('peer atomics 0->1:', peer_atomics(0, 1))" 2>&1 | tee $M/peer_atomics.txt
sc() { timeout -k 5 $1 python benchmarks/tp_scaling.py --model random:Qwen3-8B --tp $2 --workloads course --max-num-seqs 32 --profile-batches "${PB:-}" --out $M/$3 > $M/$3.log 2>&1; el "$3 $?"; pk; }
sc 75 1 tp1
AIOS_TP_ALL_REDUCE=nccl AIOS_TP_SAMPLING=gather sc 75 2 tp2-nccl-gather
AIOS_TP_ALL_REDUCE=nccl AIOS_TP_SAMPLING=slices+cuts sc 75 2 tp2-nccl-slicescuts
AIOS_TP_SAMPLING=slices+cuts sc 75 2 tp2-auto-slicescuts
sc 75 2 tp2-auto-default
AIOS_TP_SAMPLING=gather sc 75 2 tp2-auto-gather
AIOS_TP_SAMPLING=slices+cuts AIOS_P2P_MIN_SLOT=8388608 sc 75 2 tp2-auto-slicescuts-16MBslot
PB=32 sc 90 2 tp2-auto-default-prof32
timeout -k 5 120 python lessons/lesson14/run_lesson14.py --solution --device cuda --json $M/lesson14.json \
  > $M/lesson14.log 2>&1; el "lesson14 $?"; pk
for f in $M/*/*-tp*.json; do python -c "import json; r=json.load(open('$f'))['results'][0]; print('$f', round(r['output_tokens_per_s']))"; done | tee $M/summary.txt
pk
