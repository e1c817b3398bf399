"""Top-k / top-p as one logit threshold per row, without sorting the vocabulary.

Reference: `top_k_top_p_threshold_ref` in aios/kernels/reference.py. The rule
(aios.layers.top_k_top_p.sorted_top_k_top_p): with p = softmax(logits / T), rank
the tokens most likely first; drop rank >= k, and drop a token when the mass
ranked above it already reaches top_p. What is kept is a head of the ranking,
so one number per row says it all: the logit of the last kept token. The
sampling kernel (aios/kernels/sampling.py) then gives every token below it a
score of -inf: no masked copy of the [B, V] logits is made.

Sorting 151,936 logits per row to find that number is what made top-k/top-p
cost half the throughput. Instead, per row:

1. Candidates: torch.topk gives the K largest logits, sorted (K a power of two,
   >= the largest top_k of the batch where that is at most MAX_CANDIDATES).
   With lse = logsumexp(logits / T) over the whole row (one pass here; rows
   with top-k alone need no probabilities and skip it), each
   candidate's probability is exp(logit / T - lse), so the rule runs on the
   candidates alone. That is exact whenever the kept head ends inside them:
   k <= K, or the mass of the candidates reaches top_p. Real models are
   peaked, and this is the rule.
2. Fallback, for rows whose kept head is longer than K (top-p over a flat
   distribution: random weights; or top_k > MAX_CANDIDATES): a token with
   logit v is kept iff
       #{x > v} < k   and   mass{x > v} < top_p,
   both true for large v, so the threshold is the smallest v that passes.
   A search over the logits' bit patterns (as ordered integers) finds it
   exactly: each pass over the row tries three pivots and keeps a quarter of
   the range, so two bits a pass, at most 8 passes for bf16/fp16 logits (16
   for fp32). Decided per row on the device; other rows skip it.

Ties: tokens tied with the last kept one are all kept, where a sort ranks
ties in some order and may keep only the first of them (bf16 logits tie
often: a top_k of 20 may keep 21). Sums round differently from the
reference's cumulative sum: a token whose mass above lies within float32
rounding (~1e-6, up to ~1e-5 over a flat row) of top_p may be decided the
other way.

No host sync, and shapes depend only on (B, V, K): the whole thing can be
captured in a CUDA graph. One program per row (a row is one SM's work).
"""
import torch
import triton
import triton.language as tl

from aios.kernels.host_math import next_power_of_2
from aios.kernels.pdl import pdl_options, wait_for_previous_kernel

BLOCK = 2048
NUM_WARPS = 8
MIN_CANDIDATES = 64
MAX_CANDIDATES = 1024


def num_candidates_for(max_top_k: int) -> int:
    """The candidate count for a batch whose largest top_k (0 = none) is this:
    a power of two, so that a serving run meets only a few shapes."""
    k = MIN_CANDIDATES
    while k < min(max_top_k, MAX_CANDIDATES):
        k *= 2
    return k


@triton.jit
def _ordered_key(x, BITS: tl.constexpr):
    """x's bits as an int32 that orders as x does (the sign-magnitude bits of a
    negative float, in two's complement, order backwards: flip them)."""
    if BITS == 16:
        b = x.to(tl.int16, bitcast=True).to(tl.int32)       # sign-extended
        key = b ^ ((b >> 15) & 0x7FFF)
    else:
        b = x.to(tl.int32, bitcast=True)
        key = b ^ ((b >> 31) & 0x7FFFFFFF)
    return key


@triton.jit
def _tally(key, xf, prob, inside, pivot, count, mass, lowest):
    """Add one tile to a pivot's tallies: how many tokens lie above it, their
    probability mass, and the smallest logit at or above it."""
    above = inside & (key > pivot)
    count += above.to(tl.int32)
    mass += tl.where(above, prob, 0.0)
    lowest = tl.minimum(lowest, tl.where(inside & (key >= pivot), xf, float("inf")))
    return count, mass, lowest


@triton.jit
def _top_k_top_p_threshold_kernel(
    logits_ptr, temps_ptr, top_ks_ptr, top_ps_ptr, cand_ptr, out_ptr,
    stride_row, vocab, num_cand,
    BITS: tl.constexpr,             # bits of the logits' dtype (16 or 32)
    CAND_BLOCK: tl.constexpr,       # a power of two >= num_cand
    BLOCK: tl.constexpr,
    USE_PDL: tl.constexpr, LAUNCH_EARLY: tl.constexpr,   # aios/kernels/pdl.py
):
    wait_for_previous_kernel(USE_PDL, LAUNCH_EARLY)
    row = tl.program_id(0)
    row_ptr = logits_ptr + row.to(tl.int64) * stride_row
    temp = tl.load(temps_ptr + row).to(tl.float32)
    k = tl.load(top_ks_ptr + row).to(tl.int64)
    p = tl.load(top_ps_ptr + row).to(tl.float32)
    top_p_on = p < 1.0
    p_cut = tl.where(top_p_on, p, float("inf"))   # top_p = 1: no mass reaches it
    threshold = tl.full([], float("-inf"), tl.float32)
    if (temp > 0.0) & ((k < vocab) | top_p_on):
        inv_t = tl.math.div_rn(1.0, temp)
        lanes = tl.arange(0, BLOCK)
        lse = tl.full([], 0.0, tl.float32)
        min_key = tl.full([], 0, tl.int32)
        if top_p_on | (k > num_cand):
            # One pass: logsumexp(logits / T) (a running max and sum per lane)
            # and the smallest key (the search's lower end).
            run_max = tl.full([BLOCK], float("-inf"), tl.float32)
            run_sum = tl.zeros([BLOCK], tl.float32)
            run_key = tl.full([BLOCK], 2147483647, tl.int32)
            for start in range(0, vocab, BLOCK):
                ids = start + lanes
                inside = ids < vocab
                x = tl.load(row_ptr + ids, mask=inside, other=float("-inf"))
                s = x.to(tl.float32) * inv_t
                new_max = tl.maximum(run_max, s)
                safe = tl.where(new_max == float("-inf"), 0.0, new_max)   # no -inf - -inf
                run_sum = run_sum * tl.exp(run_max - safe) + tl.exp(s - safe)
                run_max = new_max
                run_key = tl.minimum(run_key, tl.where(inside, _ordered_key(x, BITS), 2147483647))
            top = tl.max(run_max, axis=0)
            lse = top + tl.log(tl.sum(run_sum * tl.exp(run_max - top), axis=0))
            min_key = tl.min(run_key, axis=0)

        # The candidates: the row's num_cand largest logits, largest first.
        j = tl.arange(0, CAND_BLOCK)
        in_cand = j < num_cand
        c_raw = tl.load(cand_ptr + row * num_cand + j, mask=in_cand, other=float("-inf"))
        c = c_raw.to(tl.float32)
        # Without top-p no mass is needed, and lse may not have been computed
        # (0): exp(logit / T) could overflow to inf, and inf - inf = NaN fails
        # every comparison (a top-k row at a low temperature kept nothing).
        q = tl.where(in_cand, tl.exp(c * inv_t - lse), 0.0)
        q = tl.where(top_p_on, q, 0.0)
        # The mass of the ranks above each candidate, summed without it (cumsum - q
        # rounds 0.5 + 0.3 - 0.3 to 0.49999997 and keeps a token past a top_p of
        # 0.5): the running sum of the candidates shifted down one rank.
        above = in_cand & (j > 0)
        c_above = tl.load(cand_ptr + row * num_cand + j - 1, mask=above, other=float("-inf"))
        q_above = tl.where(above, tl.exp(c_above.to(tl.float32) * inv_t - lse), 0.0)
        q_above = tl.where(top_p_on, q_above, 0.0)
        mass_before = tl.cumsum(q_above, axis=0)
        keep = in_cand & (j < k) & (mass_before < p_cut)
        num_kept = tl.sum(keep.to(tl.int32), axis=0)
        threshold = tl.min(tl.where(keep, c, float("inf")), axis=0)
        fits = (num_kept < num_cand) | (k <= num_cand) | (top_p_on & (tl.sum(q, axis=0) >= p))
        if fits == 0:
            # Every candidate is kept and more are: search the keys between
            # the row's smallest (dropped) and the last candidate's (kept).
            last = j == num_cand - 1
            lo = min_key.to(tl.int64) - 1
            hi = tl.sum(tl.where(last, _ordered_key(c_raw, BITS), 0), axis=0).to(tl.int64)
            while hi - lo > 1:
                # Three pivots a pass: a quarter of the range is left after it.
                p1 = lo + (hi - lo) // 4
                p2 = lo + (hi - lo) // 2
                p3 = lo + (hi - lo) * 3 // 4                 # > lo: every pass moves
                count1 = tl.zeros([BLOCK], tl.int32)
                count2 = tl.zeros([BLOCK], tl.int32)
                count3 = tl.zeros([BLOCK], tl.int32)
                mass1 = tl.zeros([BLOCK], tl.float32)
                mass2 = tl.zeros([BLOCK], tl.float32)
                mass3 = tl.zeros([BLOCK], tl.float32)
                low1 = tl.full([BLOCK], float("inf"), tl.float32)
                low2 = tl.full([BLOCK], float("inf"), tl.float32)
                low3 = tl.full([BLOCK], float("inf"), tl.float32)
                for start in range(0, vocab, BLOCK):
                    ids = start + lanes
                    inside = ids < vocab
                    x = tl.load(row_ptr + ids, mask=inside, other=float("-inf"))
                    key = _ordered_key(x, BITS)
                    xf = x.to(tl.float32)
                    prob = tl.exp(xf * inv_t - lse)
                    count1, mass1, low1 = _tally(key, xf, prob, inside, p1, count1, mass1, low1)
                    count2, mass2, low2 = _tally(key, xf, prob, inside, p2, count2, mass2, low2)
                    count3, mass3, low3 = _tally(key, xf, prob, inside, p3, count3, mass3, low3)
                # kept(pivot) is monotone: the first pivot that keeps is the new hi.
                if (tl.sum(count1, axis=0) < k) & (tl.sum(mass1, axis=0) < p_cut):
                    hi = p1
                    threshold = tl.min(low1, axis=0)   # the logit whose key is hi, at the end
                elif (tl.sum(count2, axis=0) < k) & (tl.sum(mass2, axis=0) < p_cut):
                    lo = p1
                    hi = p2
                    threshold = tl.min(low2, axis=0)
                elif (tl.sum(count3, axis=0) < k) & (tl.sum(mass3, axis=0) < p_cut):
                    lo = p2
                    hi = p3
                    threshold = tl.min(low3, axis=0)
                else:
                    lo = p3
    tl.store(out_ptr + row, threshold)


def top_k_top_p_thresholds(logits, temperatures, top_ks, top_ps, num_candidates=None):
    """logits: [B, V] float32/bfloat16/float16; temperatures: [B] (0 = greedy);
    top_ks: [B] int (>= V = off); top_ps: [B] (1 = off); num_candidates: how
    many candidates torch.topk takes per row (None: MIN_CANDIDATES; the engine
    gives num_candidates_for(the batch's largest top_k); at most V).

    Returns [B] float32: keep the tokens whose logit is >= their row's value
    (-inf: keep all). Pass it to gumbel_sample(..., thresholds=...).
    """
    assert logits.dim() == 2, f"logits must be [B, V], got {tuple(logits.shape)}"
    assert logits.dtype in (torch.float32, torch.bfloat16, torch.float16), logits.dtype
    batch, vocab = logits.shape
    out = torch.empty(batch, dtype=torch.float32, device=logits.device)
    if batch == 0:
        return out
    if logits.stride(1) != 1:
        logits = logits.contiguous()
    k = min(num_candidates or MIN_CANDIDATES, vocab)
    candidates = torch.topk(logits, k, dim=-1, sorted=True).values.contiguous()   # [B, K]
    _top_k_top_p_threshold_kernel[(batch,)](
        logits, temperatures.contiguous(), top_ks.contiguous(), top_ps.contiguous(), candidates,
        out, logits.stride(0), vocab, k,
        BITS=logits.element_size() * 8, CAND_BLOCK=next_power_of_2(k),
        BLOCK=BLOCK if logits.is_cuda else 256, num_warps=NUM_WARPS, **pdl_options(logits.device),
    )
    return out
