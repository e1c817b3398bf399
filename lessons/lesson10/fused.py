"""Lesson 10: fused layers. Your exercise.

Two Triton kernels that do in one pass what PyTorch does in several, and the
two weight loaders that let one matmul do the work of three (QKV) or two
(gate/up). README.md ("The exercise") walks through them. While your code
runs they replace the engine's own:

    rms_norm, silu_and_mul   aios/kernels/rms_norm.py, aios/kernels/silu_and_mul.py
                             (the layers use them on a GPU with fused_kernels=True)
    merged_weight_loader     MergedColumnParallelLinear.weight_loader  [gate | up]
    qkv_weight_loader        QKVParallelLinear.weight_loader           [q | k | v]
                             (aios/layers/linear.py; `self` is the engine's layer)

Without a GPU Triton runs your kernels in its CPU interpreter: set
TRITON_INTERPRET=1 before triton is imported (the checks and the run script do).

Check:  python -m pytest lessons/lesson10
Run:    python lessons/lesson10/run_lesson10.py
"""
import torch
import triton  # noqa: F401  (your kernels')
import triton.language as tl  # noqa: F401


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float,
             residual: torch.Tensor | None = None):
    """Step 1. RMSNorm with the residual add fused in, as one Triton kernel.

    x: [..., hidden]; weight: [hidden]. One program per row (token):
      s = x + residual (rounded to x's dtype; stored as the new residual)
      out = weight * (s * rsqrt(mean(s*s) + eps))   mean in float32, the
            normalized row rounded to x's dtype before the weight multiplies it
    -> out, or (out, s) when residual is given; fresh tensors, inputs untouched.
    Hidden sizes need not be powers of two: tl.arange a power of two, mask the rest.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 10, step 1: rms_norm() is yours to write "
                              "— see lessons/lesson10/README.md, or run with --solution")


def silu_and_mul(x: torch.Tensor) -> torch.Tensor:
    """Step 2. SwiGLU's activation as one Triton kernel: x = [gate | up] -> silu(gate) * up.

    x: [..., 2I] -> a new [..., I] in x's dtype. Compute in float32:
    silu(g) = g / (1 + exp(-g)). Grid (rows, cdiv(I, BLOCK)): each program
    reads BLOCK columns of gate and the same columns of up (I further on).
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 10, step 2: silu_and_mul() is yours to write "
                              "— see lessons/lesson10/README.md, or run with --solution")


def merged_weight_loader(self, param, loaded: torch.Tensor, shard_id: int) -> None:
    """Step 3. Copy one checkpoint matrix into its rows of the fused [gate | up] weight.

    self.output_sizes: the rows of each part ([I, I] for gate and up); shard_id:
    which part `loaded` is (0 gate, 1 up). With tensor parallelism (lesson 14)
    this rank holds rows tp_rank*r .. (tp_rank+1)*r of each part, r = size // self.tp_size;
    on one GPU tp_rank = 0 and tp_size = 1. Copy into param.data, in place.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 10, step 3: merged_weight_loader() is yours to write "
                              "— see lessons/lesson10/README.md, or run with --solution")


def qkv_weight_loader(self, param, loaded: torch.Tensor, shard_id: str) -> None:
    """Step 4. Copy q_proj, k_proj or v_proj (shard_id "q", "k", "v") into the fused weight.

    The fused rows are [q: self.num_heads * self.head_dim | k: self.num_kv_heads * self.head_dim | v: same].
    With tensor parallelism this rank's q rows start at tp_rank * q_rows of the
    checkpoint's; its KV head is kv_head = tp_rank * self.total_num_kv_heads // self.tp_size
    (a KV head is shared when there are fewer than ranks), rows from kv_head * head_dim.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 10, step 4: qkv_weight_loader() is yours to write "
                              "— see lessons/lesson10/README.md, or run with --solution")
