"""Lesson 01: the layers a transformer is made of. Your exercise.

Write the four functions below; README.md ("The exercise") walks through
them. While your code runs, each one replaces the engine's own function of
the same arguments (aios/course/plugin.py):

    rms_norm()      RMSNorm.impl             aios/layers/layernorm.py
    rotary()        RotaryEmbedding.impl     aios/layers/rotary_embedding.py
    causal_mask()   causal_mask              aios/kernels/reference.py
    attention()     attention_ref            aios/kernels/reference.py

Check:  python -m pytest lessons/lesson01
Run:    python lessons/lesson01/run_lesson1.py
"""
import torch


def rms_norm(x, weight, eps, residual=None):
    """Step 1. RMSNorm, optionally adding the residual stream first.

    x: [..., hidden]; weight: [hidden]; eps: a float.
    Without residual: return weight * x / sqrt(mean(x ** 2 over the last dim) + eps).
    With residual:    s = x + residual; return (that norm of s, s).
    Take the mean of squares in float32, cast the normed x back to x.dtype,
    then multiply by the weight.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 01, step 1: rms_norm() is yours to write "
                              "— see lessons/lesson01/README.md, or run with --solution")


def rotary(positions, q, k, cos_sin_cache):
    """Step 2. Rotary position embedding (RoPE), "rotate half" layout.

    positions: [N] ints; q: [N, H, D]; k: [N, Hkv, D];
    cos_sin_cache: [max_positions, D] = [cos | sin] of the D/2 angles of each position.
    Split each head in halves x1 = x[..., :D/2], x2 = x[..., D/2:] and return
    cat(x1 * cos - x2 * sin, x2 * cos + x1 * sin) for q and for k, with cos
    and sin cast to their dtype (as Hugging Face's models do): (q_rotated, k_rotated).
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 01, step 2: rotary() is yours to write "
                              "— see lessons/lesson01/README.md, or run with --solution")


def causal_mask(q_lens, k_lens, max_q, max_k):
    """Step 3. Which keys each query may see: a bool tensor [B, max_q, max_k].

    q_lens, k_lens: [B] ints. The queries of sequence b are its LAST q_lens[b]
    positions, so query j sits at position (k_lens[b] - q_lens[b]) + j.
    It sees key t when t <= its position (not the future) and t < k_lens[b]
    (not the padding past the end of the sequence).
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 01, step 3: causal_mask() is yours to write "
                              "— see lessons/lesson01/README.md, or run with --solution")


def attention(q, k, v, q_lens, k_lens, scale):
    """Step 4. Causal attention over a padded batch, with grouped KV heads.

    q: [B, Lq, H, D]; k, v: [B, Lk, Hkv, D]; q_lens, k_lens: [B]; scale: a float.
    Query head h uses KV head h // (H // Hkv). Scores q.k * scale, masked
    with causal_mask() to -inf, softmax over the keys (in float32), weighted
    sum of v; returned in q's dtype: [B, Lq, H, D].
    Keys and values past k_lens[b] may hold anything, NaN included: a zero
    weight does not cancel a NaN (0 * NaN = NaN), so zero those values first.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 01, step 4: attention() is yours to write "
                              "— see lessons/lesson01/README.md, or run with --solution")
