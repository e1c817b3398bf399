"""Sampling: every row's next token in one pass over its logits.

Reference: `sample_ref` in aios/kernels/reference.py (aios/layers/sampler.py
explains the method). Per row, with temperature T:

    T > 0:  argmax_v  logit_v / T - log E_v      (Gumbel-max)
    T = 0:  argmax_v  logit_v                    (greedy)

where E_v ~ Exp(1) is the counter noise of `seeded_exponential_noise`, a pure
function of (seed, position, token id). The first line is the exponential race
argmax_v p_v / E_v with p = softmax(logits / T): log is monotone and
log p_v = logit_v / T - logsumexp(logits / T), whose last term is the same
for every v, so both argmaxes pick the same token and no softmax is needed.

Unfused, torch makes ~7 passes over a float32 [B, V] tensor (convert, divide,
softmax, noise, divide, argmax); at batch 256 and Qwen3's 151,936 tokens that
is ~0.66 ms an H100 step. Here each program streams its logits once, in their
own dtype (bf16/fp16/fp32, converted in registers: no float32 copy), hashes
the noise of each token id on the fly (nothing else is read), and keeps a
running (max, argmax) in every lane, reduced once at the end.

What bounds it is arithmetic more than memory. Reading 256 x 151,936 bf16
logits (78 MB) takes ~26 us at 3 TB/s; per sampled token the kernel also
hashes (2 multiplies, shifts, xors), converts one int to float and takes two
logs: ~31 instructions on an H100 (sm_90 SASS of the loop, 8 tokens per
thread), two of them on the quarter-rate special-function unit, so ~40 us at
batch 256 by that count (an estimate, not a measurement). Greedy rows only
read and compare. Hence the fast log on a GPU (see _log).

Top-k / top-p: given a threshold per row (aios/kernels/top_k_top_p.py finds
it without a sort), a token whose logit is below it scores -inf, as if it had
been masked in a copy of the logits; no copy is made.

Ties go to the lowest token id, as with torch.argmax: a lane replaces its best
only on a strictly greater score and sees its ids in increasing order, and
the final reductions take the smallest id among the lanes (then the splits)
that hold the maximum.

Parallelism: a row of 151,936 bf16 logits is 300 KB. One program per row is
2 programs per SM at batch 256 on an H100 (132 SMs) and a single SM at batch
1. So the vocabulary is cut into splits, enough for ~4 programs per SM at any
batch (a split is never shorter than MIN_SPLIT_TOKENS): batch 256 gets 3
splits per row, batch 1 gets 149 of 1024 tokens. Each split writes its
(max, argmax) and a tiny second kernel picks each row's best; with a single
split the first kernel writes the token itself. The grid depends on shapes
only, and the host reads no values.

Exactness: the integer hash and the uniform are bit-identical to the
reference, and the float math is the reference's, step by step (under the
CPU interpreter the token ids come out identical). On a GPU the fast log
(error ~2e-7 absolute, up to 6e-6 of E where E comes from a log) and fused
multiply-adds round differently from torch, so a row can differ from the
reference when its two best scores lie within a few 1e-6 of each other:
around one row in 10^5 or fewer, and then between two tokens whose sampling
probabilities agree to that precision. Greedy rows involve no such math and
always agree.
"""

import torch
import triton
import triton.language as tl
from triton.language.extra import libdevice

from aios.kernels.host_math import cdiv, sm_count
from aios.kernels.pdl import pdl_options, wait_for_previous_kernel

BLOCK = 1024               # tokens per tile: 8 per thread with 4 warps
NUM_WARPS = 4
PROGRAMS_PER_SM = 4
MIN_SPLIT_TOKENS = 1024
MAX_SPLITS = 1024          # the merge kernel reads a row's splits in one tile (a power of 2)

_TWO_POW_M32 = tl.constexpr(2.0**-32)
_SERIES_BELOW = tl.constexpr(2**27)    # 1 - U < 2^-5: E from the series
_NO_ID = tl.constexpr(2**31 - 1)   # "no id": loses every min


@triton.jit
def _hash32(x):
    """reference._hash32 on uint32: the products wrap mod 2^32 by themselves."""
    x = x ^ (x >> 16)
    x = x * 0x7FEB352D
    x = x ^ (x >> 15)
    x = x * 0x846CA68B
    return x ^ (x >> 16)


@triton.jit
def _log(x, FAST_LOG: tl.constexpr):
    """Natural log. FAST_LOG (on a GPU): the special-function unit's
    lg2.approx times ln 2, 2 instructions instead of the ~20 of an exact log.
    Its error, under 2e-7 absolute, is below the float32 rounding of a score
    (logit / T ~ 10: ulp ~1e-6); and the log of U is only taken for U <= 31/32,
    where it stays under 6e-6 of E: no sampling probability moves by more
    than that factor. Under the CPU interpreter (no libdevice) the exact tl.log."""
    if FAST_LOG:
        return libdevice.fast_logf(x)
    else:
        return tl.log(x)


@triton.jit
def _log_exponential(bits, FAST_LOG: tl.constexpr):
    """log E for the bits' Exp(1) draw: reference.exponential_from_bits, then log.

    The same values, with one int -> float conversion per token instead of two
    (conversions run at a quarter of the FMA rate): each token converts only
    the integer its branch uses.
    """
    flipped = bits ^ 0xFFFFFFFF                    # 1 - U = (flipped + 0.5) / 2^32
    near_one = flipped < _SERIES_BELOW             # U > 1 - 2^-5: small E, from 1 - U
    x = (tl.where(near_one, flipped, bits).to(tl.float32) + 0.5) * _TWO_POW_M32  # 1 - U or U
    series = x * (1.0 + x * (0.5 + x * (0.3333333333333333 + x * (0.25 + x * 0.2))))
    e = tl.where(near_one, series, -_log(x, FAST_LOG))
    return _log(e, FAST_LOG)


@triton.jit
def _best_in_split(row_ptr, start, end, inv_t, key, threshold, first_id, BLOCK: tl.constexpr,
                   GREEDY: tl.constexpr, MASKED: tl.constexpr, FAST_LOG: tl.constexpr):
    """(max score, its lowest column) over columns [start, end) of one row, whose
    token ids start at first_id (a TP rank's shard: the noise hashes the token id).
    MASKED: a token whose logit is below threshold scores -inf (top-k / top-p)."""
    lanes = tl.arange(0, BLOCK)
    best = tl.full([BLOCK], float("-inf"), dtype=tl.float32)
    # A lane that never beats -inf keeps its first id: a row of -inf logits
    # still returns a token id (the lowest, as torch.argmax).
    best_id = start + lanes
    for tile in range(start, end, BLOCK):
        ids = tile + lanes                                           # [BLOCK]
        x = tl.load(row_ptr + ids, mask=ids < end, other=float("-inf")).to(tl.float32)
        if GREEDY:
            score = x
        else:
            log_e = _log_exponential(_hash32(key ^ (ids + first_id).to(tl.uint32)), FAST_LOG)
            score = x * inv_t - log_e                                # -inf past the end
            if MASKED:
                score = tl.where(x >= threshold, score, float("-inf"))
        better = score > best
        best = tl.where(better, score, best)
        best_id = tl.where(better, ids, best_id)
    top = tl.max(best, axis=0)
    top_id = tl.min(tl.where(best == top, best_id, _NO_ID), axis=0)
    return top, top_id


# first_id is 0 or a TP rank's first token id: one compiled kernel for either.
@triton.jit(do_not_specialize=["first_id"])
def _sample_split_kernel(
    logits_ptr, temps_ptr, seeds_ptr, positions_ptr, thresholds_ptr, out_ptr, out_score_ptr,
    part_score_ptr, part_id_ptr,
    stride_row,                     # logits [B, V]: row stride; columns are contiguous
    vocab, split_tokens, first_id,
    BLOCK: tl.constexpr,
    DIRECT: tl.constexpr,           # one split per row: write the token itself
    WITH_SCORE: tl.constexpr,       # also write the winner's score (vocabulary shards)
    MASKED: tl.constexpr,           # thresholds given (top-k / top-p)
    FAST_LOG: tl.constexpr,         # see _log
    USE_PDL: tl.constexpr, LAUNCH_EARLY: tl.constexpr,   # aios/kernels/pdl.py
):
    wait_for_previous_kernel(USE_PDL, LAUNCH_EARLY)
    row = tl.program_id(0)
    split = tl.program_id(1)
    start = split * split_tokens
    end = tl.minimum(start + split_tokens, vocab)
    row_ptr = logits_ptr + row.to(tl.int64) * stride_row
    temp = tl.load(temps_ptr + row).to(tl.float32)
    if temp == 0.0:
        top, top_id = _best_in_split(row_ptr, start, end, 1.0, 0, 0.0, first_id, BLOCK, True,
                                     False, FAST_LOG)
    else:
        # The row's key, as in seeded_exponential_noise (int64 -> uint32 keeps
        # the low 32 bits, like `& 0xFFFFFFFF`).
        seed = tl.load(seeds_ptr + row).to(tl.uint32)
        position = tl.load(positions_ptr + row).to(tl.uint32)
        key = _hash32(_hash32(seed) ^ position)
        inv_t = tl.math.div_rn(1.0, temp)        # correctly rounded, as torch's 1 / T
        if MASKED:
            threshold = tl.load(thresholds_ptr + row)
        else:
            threshold = float("-inf")
        top, top_id = _best_in_split(row_ptr, start, end, inv_t, key, threshold, first_id, BLOCK,
                                     False, MASKED, FAST_LOG)
    if DIRECT:
        tl.store(out_ptr + row, top_id.to(tl.int64) + first_id)
        if WITH_SCORE:
            tl.store(out_score_ptr + row, top)
    else:
        slot = row * tl.num_programs(1) + split                     # partials [B, num_splits]
        tl.store(part_score_ptr + slot, top)
        tl.store(part_id_ptr + slot, top_id)


# num_splits changes with the batch size: unspecialized, one compiled kernel
# serves every batch (a compile in the middle of serving costs ~0.2 s).
@triton.jit(do_not_specialize=["num_splits", "first_id"])
def _sample_merge_kernel(part_score_ptr, part_id_ptr, out_ptr, out_score_ptr, num_splits, first_id,
                         BLOCK_S: tl.constexpr, WITH_SCORE: tl.constexpr,
                         USE_PDL: tl.constexpr, LAUNCH_EARLY: tl.constexpr):
    """out[row] = the token id of the best split's best (the lowest id on ties)."""
    wait_for_previous_kernel(USE_PDL, LAUNCH_EARLY)
    row = tl.program_id(0)
    s = tl.arange(0, BLOCK_S)
    valid = s < num_splits
    score = tl.load(part_score_ptr + row * num_splits + s, mask=valid, other=float("-inf"))
    ids = tl.load(part_id_ptr + row * num_splits + s, mask=valid, other=_NO_ID)
    top = tl.max(score, axis=0)
    top_id = tl.min(tl.where(score == top, ids, _NO_ID), axis=0)
    tl.store(out_ptr + row, top_id.to(tl.int64) + first_id)
    if WITH_SCORE:
        tl.store(out_score_ptr + row, top)


def choose_split_tokens(batch: int, vocab: int, block: int, num_sms: int) -> int:
    """Tokens per split (a multiple of block), for ~PROGRAMS_PER_SM programs per SM."""
    want = cdiv(PROGRAMS_PER_SM * num_sms, batch)            # splits per row
    tokens = vocab if want <= 1 else max(cdiv(vocab, want), MIN_SPLIT_TOKENS)
    tokens = max(tokens, cdiv(vocab, MAX_SPLITS))
    return cdiv(tokens, block) * block


def gumbel_sample(logits, temperatures, seeds, positions, thresholds=None, *, first_id=0,
                  with_scores=False, split_tokens=None, block=None, num_warps=None):
    """logits: [B, V] float32/bfloat16/float16 (the last dim contiguous);
    temperatures: [B] (0 = greedy); seeds, positions: [B] int64;
    thresholds: [B] float32 or None: a sampled row's tokens with a logit below
    its threshold score -inf (top-k / top-p: aios/kernels/top_k_top_p.py).

    Returns the next token ids, a new [B] int64 tensor. first_id: the token id
    of column 0 (a TP rank's vocabulary shard); with_scores: return (scores
    [B] float32, ids), as reference.sample_scores_ref. The other keyword-only
    arguments override the defaults (tests, tuning); split_tokens is rounded
    up to a multiple of block.
    """
    assert logits.dim() == 2, f"logits must be [B, V], got {tuple(logits.shape)}"
    assert logits.dtype in (torch.float32, torch.bfloat16, torch.float16), logits.dtype
    batch, vocab = logits.shape
    assert temperatures.shape == seeds.shape == positions.shape == (batch,)
    assert vocab <= 2**30, "token ids (and split bounds) are int32 in the kernel"
    if logits.stride(1) != 1:
        logits = logits.contiguous()
    temperatures = temperatures.to(torch.float32).contiguous()
    seeds, positions = seeds.contiguous(), positions.contiguous()   # no-ops, as a rule
    out = torch.empty(batch, dtype=torch.int64, device=logits.device)
    out_score = torch.empty(batch, dtype=torch.float32, device=logits.device) if with_scores else out
    if batch == 0:
        return (out_score, out) if with_scores else out

    block = block or BLOCK
    if split_tokens is None:
        split_tokens = choose_split_tokens(batch, vocab, block, sm_count(logits.device))
    whole_row = cdiv(vocab, block) * block          # also keeps start + split in int32
    split_tokens = min(max(cdiv(split_tokens, block) * block, block), whole_row)
    num_splits = cdiv(vocab, split_tokens)
    assert num_splits <= MAX_SPLITS, f"{num_splits} splits > {MAX_SPLITS}: raise split_tokens"
    direct = num_splits == 1
    if direct:
        part_score = part_id = out                                  # unused
    else:
        part_score = torch.empty((batch, num_splits), dtype=torch.float32, device=logits.device)
        part_id = torch.empty((batch, num_splits), dtype=torch.int32, device=logits.device)
    masked = thresholds is not None
    _sample_split_kernel[(batch, num_splits)](
        logits, temperatures, seeds, positions, thresholds.contiguous() if masked else out,
        out, out_score, part_score, part_id, logits.stride(0), vocab, split_tokens, first_id,
        BLOCK=block, DIRECT=direct, WITH_SCORE=with_scores, MASKED=masked,
        FAST_LOG=logits.device.type == "cuda",
        num_warps=num_warps or NUM_WARPS, **pdl_options(logits.device),
    )
    if not direct:
        _sample_merge_kernel[(batch,)](
            part_score, part_id, out, out_score, num_splits, first_id,
            BLOCK_S=MAX_SPLITS, WITH_SCORE=with_scores, num_warps=4,   # one tile size: see above
            **pdl_options(logits.device),
        )
    return (out_score, out) if with_scores else out
