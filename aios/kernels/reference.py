"""Plain PyTorch references for every kernel in `aios/kernels/`.

These are the definitions: each Triton kernel must compute the same function
(tests/test_kernels.py holds them together), and the `torch` attention backend
and the layers run these directly on a CPU. They favour clarity over speed.

KV-cache layout used everywhere in aios (one tensor per layer for K, one for V):
    k_cache, v_cache: [num_blocks, block_size, num_kv_heads, head_dim]
A token at position p of a sequence lives in block block_table[p // block_size]
at offset p % block_size, i.e. in flat slot block_id * block_size + offset.
"""
import torch
import torch.nn.functional as F

from aios.utils.context import per_step


# ---------------------------------------------------------------- KV cache ---
# Eagerly, every tensor op is a kernel launch, and a decode step is bound by
# those launches, not by its arithmetic. The index math that only depends on
# the step (which rows to store, which slots to read, the masks) is the same in
# every layer: per_step() makes it in the first layer and hands it to the rest.
def rows_to_store(slot_mapping):
    """(rows, slots): the rows of a step that store their K/V, and where.

    slot_mapping: [N], -1 = skip. Selecting the kept rows is one host-device
    sync (their number is known only on the device): once per step.
    """
    rows = (slot_mapping >= 0).nonzero().squeeze(1)     # [n kept]
    return rows, slot_mapping[rows].long()


def store_kvcache_ref(key, value, k_cache, v_cache, slot_mapping):
    """Write new K/V rows into their cache slots.

    key, value: [N, num_kv_heads, head_dim]; slot_mapping: [N], -1 = skip.
    """
    rows, slots = per_step(rows_to_store, slot_mapping)
    k_cache.view(-1, *k_cache.shape[2:])[slots] = key[rows]
    v_cache.view(-1, *v_cache.shape[2:])[slots] = value[rows]


def kv_slots(block_tables, block_size, max_len):
    """[B, max_len]: the flat cache slot of each sequence's first max_len positions.

    Position p of sequence b is in block block_tables[b, p // block_size], at
    offset p % block_size. Past a sequence's end the table holds -1 padding,
    clamped to block 0: those slots hold garbage (callers mask them).
    """
    pos = torch.arange(max_len, device=block_tables.device)
    block_ids = block_tables[:, pos // block_size].long().clamp(min=0)  # [B, max_len]
    return block_ids * block_size + pos % block_size


def gather_kv_ref(cache, block_tables, max_len):
    """Read the first max_len positions of each sequence out of the paged cache.

    cache: [num_blocks, block_size, Hkv, D]; block_tables: [B, max_blocks].
    Returns [B, max_len, Hkv, D]; positions past a sequence's end hold garbage
    (callers mask them). The slots are computed once per step (per_step).
    """
    slots = per_step(kv_slots, block_tables, cache.shape[1], max_len)
    return cache.view(-1, *cache.shape[2:])[slots]


# --------------------------------------------------------------- attention ---
def causal_mask(q_lens, k_lens, max_q, max_k):
    """Which keys each query may see: [B, max_q, max_k] bool.

    The queries of sequence b are its last q_lens[b] positions, so query j may
    see key t when t <= (k_lens[b] - q_lens[b]) + j (not the future) and
    t < k_lens[b] (not the padding past the sequence's end).
    """
    j = torch.arange(max_q, device=q_lens.device)[None, :, None]  # [1, Lq, 1]
    t = torch.arange(max_k, device=q_lens.device)[None, None, :]  # [1, 1, Lk]
    offset = (k_lens - q_lens)[:, None, None]                     # [B, 1, 1]
    return (t <= offset + j) & (t < k_lens[:, None, None])        # [B, Lq, Lk]


def attention_masks(q_lens, k_lens, max_q, max_k):
    """(hidden, past_end): what attention_ref masks, shaped for its scores and values.

    hidden: [B, 1, 1, max_q, max_k], True where a query may NOT see a key;
    past_end: [B, max_k, 1, 1], True for keys past a sequence's end.
    """
    visible = causal_mask(q_lens, k_lens, max_q, max_k)                      # [B, Lq, Lk]
    past_end = torch.arange(max_k, device=k_lens.device)[None, :] >= k_lens[:, None]   # [B, Lk]
    return ~visible[:, None, None], past_end[:, :, None, None]


def attention_ref(q, k, v, q_lens, k_lens, scale):
    """Causal attention over padded batches, GQA-aware.

    q: [B, Lq, H, D]; k, v: [B, Lk, Hkv, D]; q_lens, k_lens: [B].
    The queries of sequence b are its last q_lens[b] positions (causal_mask).
    Returns [B, Lq, H, D] (rows past q_lens are garbage).

    The products run in the activations' dtype (the GPU accumulates them in
    float32) and the softmax in float32, as Hugging Face's eager attention
    does: no float32 copies of q, k and v, which eagerly are a launch each.
    """
    B, Lq, H, D = q.shape
    Lk, Hkv = k.shape[1], k.shape[2]
    group = H // Hkv
    hidden, past_end = per_step(attention_masks, q_lens, k_lens, Lq, Lk)   # the same in every layer
    qg = q.view(B, Lq, Hkv, group, D)
    scores = torch.einsum("bqhgd,bkhd->bhgqk", qg, k) * scale
    probs = torch.softmax(scores.masked_fill(hidden, float("-inf")), dim=-1, dtype=torch.float32)
    # Keys past a sequence's end are read from unwritten cache slots, which may
    # hold anything, NaN included; a zero weight does not cancel a NaN
    # (0 * NaN = NaN), so those values are zeroed too.
    v = v.masked_fill(past_end, 0.0)
    out = torch.einsum("bhgqk,bkhd->bqhgd", probs.to(v.dtype), v)
    return out.reshape(B, Lq, H, D)


def padded_rows(cu_seqlens, max_len, num_rows):
    """(index, valid) [B, max_len]: which packed row fills each padded place, and
    whether it is one of the sequence's own (the rest repeat a clamped row)."""
    lens = cu_seqlens[1:] - cu_seqlens[:-1]
    pos = torch.arange(max_len, device=cu_seqlens.device)
    valid = pos[None, :] < lens[:, None]
    index = (cu_seqlens[:-1, None] + pos[None, :]).clamp(max=num_rows - 1)
    return index.long(), valid


def pad_packed(packed, cu_seqlens, max_len):
    """[N, ...] packed rows -> ([B, max_len, ...] padded, [B, max_len] valid)."""
    index, valid = per_step(padded_rows, cu_seqlens, max_len, packed.shape[0])   # the same in every layer
    return packed[index], valid


def seq_lens(cu_seqlens):
    """[B+1] sequence boundaries -> [B] lengths."""
    return cu_seqlens[1:] - cu_seqlens[:-1]


def prefill_attention_ref(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
                          max_seqlen_k, scale, k_cache=None, v_cache=None,
                          block_tables=None):
    """Variable-length causal attention for a prefill batch.

    q: [Nq, H, D] packed new tokens. Keys come from the packed k, v
    ([Nk, Hkv, D]) or, when block_tables is given, from the paged cache, which
    then already holds both the reused prefix and the new tokens.
    Returns [Nq, H, D].
    """
    q_pad, q_valid = pad_packed(q, cu_seqlens_q, max_seqlen_q)
    q_lens, k_lens = per_step(seq_lens, cu_seqlens_q), per_step(seq_lens, cu_seqlens_k)
    if block_tables is None:
        k_pad, _ = pad_packed(k, cu_seqlens_k, max_seqlen_k)
        v_pad, _ = pad_packed(v, cu_seqlens_k, max_seqlen_k)
    else:
        k_pad = gather_kv_ref(k_cache, block_tables, max_seqlen_k)
        v_pad = gather_kv_ref(v_cache, block_tables, max_seqlen_k)
    out = attention_ref(q_pad, k_pad, v_pad, q_lens, k_lens, scale)     # [B, max_seqlen_q, H, D]
    return out.flatten(0, 1)[per_step(packed_rows, q_valid)]


def packed_rows(valid):
    """[B, L] valid places -> [N] their flat indices, in order: back from padded to packed.
    (How many there are is known only on the device: one sync, once per step.)"""
    return valid.flatten().nonzero().squeeze(1)


def decode_attention_ref(q, k_cache, v_cache, context_lens, block_tables, scale,
                         max_context_len=None):
    """One new query per sequence against its whole paged context.

    q: [B, H, D]; context_lens: [B] (incl. the new token). Returns [B, H, D].
    """
    if max_context_len is None:
        max_context_len = int(context_lens.max())
    k = gather_kv_ref(k_cache, block_tables, max_context_len)
    v = gather_kv_ref(v_cache, block_tables, max_context_len)
    ones = per_step(torch.ones_like, context_lens)    # one query each; the same tensor in every layer
    return attention_ref(q[:, None], k, v, ones, context_lens, scale)[:, 0]


# ------------------------------------------------------------------ linear --
def linear_ref(x, weight, bias=None):
    """y = x @ weight.T + bias; x: [..., K], weight: [N, K], bias: [N] or None."""
    return F.linear(x, weight, bias)


# ------------------------------------------------------------ pointwise ops --
def rms_norm_ref(x, weight, eps, residual=None):
    """RMSNorm, optionally adding the residual stream first:

        weight * x / sqrt(mean(x ** 2 over the last dim) + eps)

    Returns normed x, or (normed x, new residual) when residual is given.
    F.rms_norm computes exactly that, with the statistics in float32 as
    Hugging Face's models take them. Written out op by op (cast, square, mean,
    add, rsqrt, multiply, cast back, multiply) it is eight kernel launches on a
    GPU; F.rms_norm is one, and eagerly a decode step waits on its launches
    (lesson 4). The residual add stays in the activations' dtype.
    """
    if residual is not None:
        x = x + residual
        residual = x
    out = F.rms_norm(x, (x.shape[-1],), weight, eps)
    return out if residual is None else (out, residual)


def silu_and_mul_ref(x):
    """SwiGLU's gate: x = [gate | up] along the last dim -> silu(gate) * up."""
    gate, up = x.chunk(2, dim=-1)
    return F.silu(gate) * up


def rotary_angles(positions, cos_sin_cache, dtype):
    """(cos, sin) [N, 1, D] in `dtype` for rotating whole heads: [cos | cos] and [-sin | sin].

    The same in every layer of a step (the layers share one cos_sin_cache), so
    rotary_ref asks for it through per_step.
    """
    cos, sin = cos_sin_cache[positions].to(dtype).chunk(2, dim=-1)  # [N, D/2] each
    return torch.cat((cos, cos), dim=-1)[:, None], torch.cat((-sin, sin), dim=-1)[:, None]


def rotary_ref(positions, q, k, cos_sin_cache):
    """Rotary embedding, "rotate half" (NeoX) layout, in q's and k's own dtype.

    positions: [N]; q: [N, H, D]; k: [N, Hkv, D];
    cos_sin_cache: [max_positions, D] holding [cos | sin] of the D/2 frequencies
    (float32; cast to q's dtype once per step, as Hugging Face's models do).
    With x = [x1 | x2]: [x1 * cos - x2 * sin | x2 * cos + x1 * sin], written as
    x * [cos | cos] + [x2 | x1] * [-sin | sin], where [x2 | x1] is x rolled by D/2.
    """
    cos, sin = per_step(rotary_angles, positions, cos_sin_cache, q.dtype)

    def rotate(x):
        return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * sin

    return rotate(q), rotate(k)


def qk_norm_rotary_ref(positions, q, k, q_weight, k_weight, eps, cos_sin_cache):
    """Qwen3's per-head q/k RMSNorm, then the rotary embedding (what
    aios/kernels/qk_norm_rotary.py fuses). Shapes as rotary_ref; weights: [D]."""
    return rotary_ref(positions, rms_norm_ref(q, q_weight, eps),
                      rms_norm_ref(k, k_weight, eps), cos_sin_cache)


# ---------------------------------------------------------------- sampling ---
# The noise of sampling is a counter, not a random stream: E[b, v] is a pure
# function of (seed, position, token id). aios/layers/sampler.py says why.
_MASK32 = 0xFFFFFFFF


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mixer (bijective on [0, 2^32)), on int64 tensors.

    Products may pass 2^63 and wrap; only the low 32 bits are kept, and the
    wrap-around cannot change those. (The kernel does the same on uint32.)
    """
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)


def exponential_from_bits(bits: torch.Tensor) -> torch.Tensor:
    """Exp(1) noise from 32 random bits: E = -log(U), U = (bits + 0.5) / 2^32.

    bits: int64 in [0, 2^32). Returns float32, computed in float32 with steps
    the Triton kernel repeats exactly (the int -> float conversions round to
    nearest, the constants are float32); only the log may round differently
    (aios/kernels/sampling.py says by how much).

    Small E matters most: the argmax of p / E goes to a small E (about 1/V
    among V equal tokens). Small E comes from U near 1, where a float32 U
    moves in steps of 2^-24: E would be off by up to ~0.5% at the E ~ 1e-5
    that wins among 150k tokens. So there E comes from c = 1 - U, which the
    complemented bits give exactly, through the series
        -log(1 - c) = c + c^2/2 + c^3/3 + c^4/4 + c^5/5 + ...
    cut after c^5 (c < 2^-5: the rest is below 2^-25 of E).
    """
    u = (bits.float() + 0.5) * 2.0**-32                   # U, fine near 0
    c = ((bits ^ _MASK32).float() + 0.5) * 2.0**-32       # 1 - U, fine near 0 (U near 1)
    series = c * (1.0 + c * (0.5 + c * (0.3333333333333333 + c * (0.25 + c * 0.2))))
    return torch.where((bits ^ _MASK32) < 2**27, series, -torch.log(u))


def seeded_exponential_noise(seeds, positions, vocab_size, first_id=0):
    """Exp(1) noise [B, V] float32, a pure function of (seed, position, token id).

    seeds, positions: [B] integer tensors (only their low 32 bits count).
    Columns are token ids first_id .. first_id + V - 1 (a TP rank's vocabulary shard).
    """
    row_key = _hash32(_hash32(seeds & _MASK32) ^ (positions & _MASK32))      # [B]
    token_ids = torch.arange(first_id, first_id + vocab_size, device=seeds.device)
    bits = _hash32(row_key[:, None] ^ token_ids[None, :])                      # [B, V]
    return exponential_from_bits(bits)


def sample_ref(logits, temperatures, seeds, positions, thresholds=None):
    """Next token ids [B] (int64), by the Gumbel-max trick on counter noise.

    logits: [B, V] any float dtype; temperatures: [B] (0 = greedy);
    seeds, positions: [B] int64. With E = seeded_exponential_noise(...):
        T > 0:  argmax_v  logit_v * (1 / T) - log E_v
        T = 0:  argmax_v  logit_v
    (1 / T is rounded once and then multiplies, as in the kernel.) Ties go
    to the lowest token id, as torch.argmax does.
    thresholds: [B] float32 or None: a token whose logit is below its row's
    threshold scores -inf (top-k / top-p, see top_k_top_p_threshold_ref).
    """
    return sample_scores_ref(logits, temperatures, seeds, positions, thresholds)[1]


def sample_scores_ref(logits, temperatures, seeds, positions, thresholds=None, first_id=0):
    """sample_ref, with the winning score: -> (score [B] float32, token id [B] int64).

    The score is what the argmax maximised (logit / T - log E, or the logit
    itself for a greedy row). first_id: the token id of column 0. A TP rank
    samples its own vocabulary shard this way, and the ranks' best scores
    then decide (aios/layers/sampler.py, sample_vocab_parallel): the noise is
    a function of the token id, so the winner is the one of the whole row.
    """
    x = logits.float()
    if thresholds is not None:
        x = x.masked_fill(x < thresholds[:, None], float("-inf"))
    t = temperatures.float()[:, None]                                        # [B, 1]
    inv_t = torch.reciprocal(torch.where(t > 0, t, 1.0))
    noise = seeded_exponential_noise(seeds, positions, x.shape[-1], first_id)  # [B, V]
    scores = torch.where(t > 0, x * inv_t - torch.log(noise), x)
    best = scores.argmax(dim=-1)                                             # the lowest id on ties
    return scores.gather(1, best[:, None])[:, 0], best + first_id


# ------------------------------------------------------------ top-k / top-p ---
def top_k_top_p_threshold_ref(logits, temperatures, top_ks, top_ps, num_candidates=None):
    """Each row's top-k / top-p cut as a logit: [B] float32; keep logit >= it.

    logits: [B, V] any float dtype; temperatures: [B] (0 = greedy);
    top_ks: [B] int (>= V = off); top_ps: [B] in (0, 1] (1 = off).

    The rule of aios.layers.top_k_top_p.sorted_top_k_top_p on p = softmax(logits / T):
    rank the tokens most likely first; drop rank >= top_k, and drop a token
    when the mass ranked above it already reaches top_p. The kept tokens are
    a head of that ranking; the threshold is the logit of its last one. Tokens
    tied with it are all kept (the ranking orders ties arbitrarily).
    Rows that are greedy or truncate nothing get -inf. (num_candidates only
    tunes the kernel; the reference takes it to be called the same way.)
    """
    x = logits.float()
    t = temperatures.float()
    inv_t = torch.reciprocal(torch.where(t > 0, t, 1.0))                     # [B]
    ranked = x.sort(dim=-1, descending=True).values                          # [B, V]
    lse = torch.logsumexp(ranked * inv_t[:, None], dim=-1)
    return thresholds_from_candidates(ranked, lse, temperatures, top_ks, top_ps, x.shape[-1])


def mass_before(probs):
    """[B, K] probabilities, largest first -> the mass of the ranks above each one.

    An exclusive running sum, not cumsum - probs: 0.5 + 0.3 - 0.3 comes back as
    0.49999997 in float32, and a top_p of 0.5 would keep the 0.3 token too."""
    running = probs.cumsum(dim=-1)
    return torch.cat([torch.zeros_like(running[:, :1]), running[:, :-1]], dim=-1)


def thresholds_from_candidates(candidates, lse, temperatures, top_ks, top_ps, vocab_size):
    """top_k_top_p_threshold_ref's rule on each row's best logits: candidates [B, K]
    (float32, largest first; the whole sorted row in the reference), lse [B] =
    logsumexp(row / T) over the whole row. Exact whenever each row's kept head lies
    among its candidates, as it does when top_k <= K. (Under TP each rank brings its
    slice's best and logsumexp: aios/layers/sampler.py, slice_thresholds.)"""
    t = temperatures.float()
    inv_t = torch.reciprocal(torch.where(t > 0, t, 1.0))                     # [B]
    probs = torch.exp(candidates * inv_t[:, None] - lse[:, None])            # [B, K]
    rank = torch.arange(candidates.shape[-1], device=candidates.device)[None, :]
    p_cut = torch.where(top_ps < 1, top_ps.float(), float("inf"))  # 1 = off, whatever the rounding
    keep = (rank < top_ks[:, None]) & (mass_before(probs) < p_cut[:, None])
    last_kept = keep.sum(dim=-1, keepdim=True).clamp(min=1) - 1              # [B, 1]
    threshold = candidates.gather(1, last_kept).squeeze(1)
    off = (t == 0) | ((top_ks >= vocab_size) & (top_ps >= 1))
    return threshold.masked_fill(off, float("-inf"))
