"""Every Triton kernel in aios/kernels/ against its PyTorch reference.

Inputs are fresh random tensors; the reference runs in float32 on float32
copies of them. The error is the relative L2 norm ||out - ref|| / ||ref||,
with thresholds of 1e-4 for float32 and 1e-2 for 16-bit dtypes.

Buffers the kernels allocate are poisoned with NaN (torch.empty is patched),
and caches are poisoned before a store, so an element a kernel forgets to
write shows up as an error instead of passing by luck.

Without a GPU the kernels run in Triton's CPU interpreter, which is slow:
sizes are kept small there (and tile sizes are shrunk so that several tiles,
splits and diagonal cases are still exercised). On a GPU the sizes grow.
"""
import os

import torch

CUDA = torch.cuda.is_available()
if not CUDA:
    os.environ["TRITON_INTERPRET"] = "1"   # must be set before triton is imported

import pytest  # noqa: E402

from aios.backends.torch_backend import TorchBackend  # noqa: E402
from aios.backends.triton_backend import TritonBackend  # noqa: E402
from aios.kernels.decode_attention import (MIN_SPLIT_TOKENS, SMALL_BATCH_SPLIT_TOKENS,  # noqa: E402
                                           choose_split_tokens, decode_attention, merge_counters)
from aios.kernels.prefill_attention import prefill_attention  # noqa: E402
from aios.kernels.qk_norm_rotary import qk_norm_rotary  # noqa: E402
from aios.kernels.reference import (decode_attention_ref, linear_ref,  # noqa: E402
                                    prefill_attention_ref, qk_norm_rotary_ref, rms_norm_ref, rotary_ref,
                                    silu_and_mul_ref, store_kvcache_ref)
from aios.kernels.rms_norm import rms_norm  # noqa: E402
from aios.kernels.rotary import rotary  # noqa: E402
from aios.kernels.silu_and_mul import silu_and_mul  # noqa: E402
from aios.kernels.skinny_gemm import (CONFIGS, GemmConfig, load_configs, skinny_gemm,  # noqa: E402
                                      skinny_linear, tile_counters)
from aios.kernels.store_kvcache import store_kvcache  # noqa: E402
from aios.utils.context import Context  # noqa: E402

DEVICE = "cuda" if CUDA else "cpu"
TOL = {torch.float32: 1e-4, torch.bfloat16: 1e-2, torch.float16: 1e-2}
DTYPES = [torch.float32, torch.bfloat16, torch.float16] if CUDA else [torch.float32, torch.bfloat16]
# Tile overrides for the attention kernels: the defaults, plus small tiles on
# the CPU so that short sequences still span several tiles.
PREFILL_TILES = [{}] if CUDA else [{}, {"block_m": 16, "block_n": 16}, {"block_m": 32, "block_n": 16}]
PREFIX_TILES = [{}] if CUDA else PREFILL_TILES[1:]


def rel_err(out, ref):
    out, ref = out.double(), ref.double()
    return ((out - ref).norm() / ref.norm()).item()


def check(out, ref, dtype):
    err = rel_err(out, ref)
    assert err < TOL[dtype], f"relative L2 error {err:.3g} >= {TOL[dtype]:g} ({dtype})"


@pytest.fixture(autouse=True)
def poison_empty(monkeypatch):
    """Every torch.empty (the kernels' outputs and workspaces) starts as NaN."""
    real_empty = torch.empty

    def empty(*args, **kwargs):
        t = real_empty(*args, **kwargs)
        if t.is_floating_point():
            t.fill_(float("nan"))
        return t

    monkeypatch.setattr(torch, "empty", empty)
    yield


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def randn(*shape, dtype=torch.float32):
    return torch.randn(*shape, device=DEVICE, dtype=torch.float32).to(dtype)


def paged_layout(lens, block_size, extra_blocks=3, extra_width=1):
    """Block tables for sequences of the given lengths over a shuffled pool.

    Returns (block_tables [B, width] int32 padded with -1, num_blocks).
    Block ids are a random permutation, so no sequence's blocks are contiguous.
    """
    need = [(n + block_size - 1) // block_size for n in lens]
    num_blocks = sum(need) + extra_blocks
    perm = torch.randperm(num_blocks).tolist()
    width = max(need) + extra_width
    table = torch.full((len(lens), width), -1, dtype=torch.int32)
    used = 0
    for b, n in enumerate(need):
        table[b, :n] = torch.tensor(perm[used:used + n], dtype=torch.int32)
        used += n
    return table.to(DEVICE), num_blocks


def cu_seqlens(lens):
    return torch.tensor([0] + list(torch.tensor(lens).cumsum(0)), dtype=torch.int32, device=DEVICE)


# ------------------------------------------------------------ store_kvcache --
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("num_kv_heads,head_dim,block_size", [(1, 64, 16), (2, 128, 32), (8, 128, 256), (3, 32, 64)])
def test_store_kvcache(dtype, num_kv_heads, head_dim, block_size):
    num_blocks = 5 if CUDA else 3
    n = 40 if CUDA else 20
    n = min(n, num_blocks * block_size)
    # key/value as strided views into one fused qkv buffer, as a model makes them.
    qkv = randn(n, 3 * num_kv_heads * head_dim, dtype=dtype)
    key = qkv[:, num_kv_heads * head_dim:2 * num_kv_heads * head_dim].view(n, num_kv_heads, head_dim)
    value = qkv[:, 2 * num_kv_heads * head_dim:].view(n, num_kv_heads, head_dim)
    slots = torch.randperm(num_blocks * block_size)[:n].to(torch.int32)
    slots[::3] = -1                                          # skipped rows
    slots = slots.to(DEVICE)
    shape = (num_blocks, block_size, num_kv_heads, head_dim)
    k_cache = torch.full(shape, 7.0, device=DEVICE, dtype=dtype)   # poison
    v_cache = torch.full(shape, -7.0, device=DEVICE, dtype=dtype)
    k_ref, v_ref = k_cache.clone(), v_cache.clone()
    store_kvcache(key, value, k_cache, v_cache, slots)
    store_kvcache_ref(key, value, k_ref, v_ref, slots)
    assert torch.equal(k_cache, k_ref) and torch.equal(v_cache, v_ref)


# ----------------------------------------------------------------- rms_norm --
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows,hidden", [(1, 64), (7, 1000), (33, 1024), (4, 4096)])
@pytest.mark.parametrize("with_residual", [False, True])
def test_rms_norm(dtype, rows, hidden, with_residual):
    x = randn(rows, hidden, dtype=dtype)
    weight = (1 + 0.1 * randn(hidden)).to(dtype)
    residual = randn(rows, hidden, dtype=dtype) if with_residual else None
    x0 = x.clone()
    r0 = residual.clone() if with_residual else None
    got = rms_norm(x, weight, 1e-6, residual)
    ref = rms_norm_ref(x.float(), weight.float(), 1e-6, residual.float() if with_residual else None)
    assert torch.equal(x, x0), "rms_norm must not modify x"
    if with_residual:
        assert torch.equal(residual, r0), "rms_norm must not modify residual"
        check(got[0], ref[0], dtype)
        check(got[1], ref[1], dtype)
        assert got[0].dtype == dtype and got[1].dtype == dtype
    else:
        check(got, ref, dtype)
        assert got.dtype == dtype


@pytest.mark.skipif(not CUDA, reason="the CPU interpreter truncates float32 -> bfloat16 "
                                     "instead of rounding to nearest")
def test_rms_norm_3d_and_exact_rounding():
    """[N, H, D] input (Qwen3's q/k norm) and bf16 rounding like the reference."""
    x = randn(5, 4, 128, dtype=torch.bfloat16)
    w = randn(128, dtype=torch.bfloat16)
    out = rms_norm(x, w, 1e-6)
    ref = rms_norm_ref(x, w, 1e-6)
    assert out.shape == x.shape
    # Same roundings in the same places: at most one bf16 ulp apart.
    assert rel_err(out, ref) < 4e-3


# ------------------------------------------------------------- silu_and_mul --
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows,inter", [(1, 64), (9, 1000), (16, 3072)])
def test_silu_and_mul(dtype, rows, inter):
    x = 3 * randn(rows, 2 * inter, dtype=dtype)
    out = silu_and_mul(x)
    assert out.shape == (rows, inter) and out.dtype == dtype
    check(out, silu_and_mul_ref(x.float()), dtype)


# -------------------------------------------------------------- skinny_gemm --
GEMM_DTYPES = [torch.bfloat16, torch.float16]
# (N, K, bias, config): N and K not multiples of the tiles; split-K with an
# uneven last split; one split; the default heuristic, which splits K here.
GEMM_SHAPES = [(100, 200, True, GemmConfig(16, 64, 3)),
               (72, 328, False, GemmConfig(32, 64, 1)),
               (48, 520, True, None)]


def _linear_ref64(x, weight, bias):
    return linear_ref(x.double(), weight.double(), None if bias is None else bias.double())


@pytest.mark.parametrize("dtype", GEMM_DTYPES)
@pytest.mark.parametrize("n,k,with_bias,config", GEMM_SHAPES)
@pytest.mark.parametrize("rows", [1, 3, 16, 32, 100])
def test_skinny_gemm(rows, n, k, with_bias, config, dtype):
    x, weight = randn(rows, k, dtype=dtype), randn(n, k, dtype=dtype) / k ** 0.5
    bias = randn(n, dtype=dtype) if with_bias else None
    out = skinny_gemm(x, weight, bias, config)
    assert out.shape == (rows, n) and out.dtype == dtype
    check(out, _linear_ref64(x, weight, bias), dtype)


def test_skinny_gemm_configs_file_adds_entries(tmp_path):
    """AIOS_SKINNY_GEMM_CONFIGS: the table benchmarks/skinny_gemm.py measured elsewhere."""
    path = tmp_path / "configs.json"
    path.write_text('{"16,3072,4096": [32, 256, 1, 4, 3], "32,4096,6144": [16, 128, 4, 4, 3]}')
    assert load_configs(str(path)) == {(16, 3072, 4096): GemmConfig(32, 256, 1, 4, 3),
                                       (32, 4096, 6144): GemmConfig(16, 128, 4, 4, 3)}
    path.write_text('{"16,3072": [32, 256, 1, 4, 3]}')   # a key without K
    with pytest.raises(ValueError, match="AIOS_SKINNY_GEMM_CONFIGS"):
        load_configs(str(path))


def test_skinny_gemm_strided_rows_and_leading_dims():
    """x [2, 3, K] whose rows are 8 elements apart, as a slice of a wider tensor."""
    k, n = 96, 40
    x = randn(2, 3, k + 8, dtype=torch.bfloat16)[..., :k]
    weight = randn(n, k, dtype=torch.bfloat16)
    out = skinny_gemm(x, weight, None, GemmConfig(16, 32, 2))
    assert out.shape == (2, 3, n)
    check(out, _linear_ref64(x, weight, None), torch.bfloat16)


def test_skinny_gemm_split_k_is_repeatable_and_leaves_its_counters_at_zero():
    """The last split adds the partials in split order: the same bits every call.
    The counters must be zero after every launch, or the next launch (or the
    next replay of a CUDA graph) would pick the wrong split to finish a tile."""
    x, weight = randn(5, 300, dtype=torch.bfloat16), randn(70, 300, dtype=torch.bfloat16)
    config = GemmConfig(16, 32, 4)
    first = skinny_gemm(x, weight, None, config)
    assert torch.equal(skinny_gemm(x, weight, None, config), first)
    assert tile_counters(x.device).count_nonzero().item() == 0


def test_skinny_linear_is_f_linear_where_the_kernel_does_not_apply():
    """On a CPU, in float32, or past MAX_ROWS rows: F.linear itself, bit for bit."""
    cases = [randn(4, 64), randn(4, 64, dtype=torch.bfloat16).cpu(), randn(129, 64, dtype=torch.bfloat16)]
    for x in cases:
        weight = torch.randn(24, 64, dtype=x.dtype, device=x.device)
        assert torch.equal(skinny_linear(x, weight), torch.nn.functional.linear(x, weight))


@pytest.mark.skipif(not CUDA, reason="CUDA graphs need a GPU")
def test_skinny_linear_runs_the_kernel_only_inside_a_graph_capture():
    """Eagerly the launch costs more host time than the kernel saves: cuBLAS there;
    captured, a shape in CONFIGS takes the skinny GEMM (whose split-K sums differ
    from cuBLAS's in the last bits)."""
    rows, n, k = next(key for key in CONFIGS)
    x = randn(rows, k, dtype=torch.bfloat16)
    weight = randn(n, k, dtype=torch.bfloat16)
    assert torch.equal(skinny_linear(x, weight), torch.nn.functional.linear(x, weight))
    skinny_gemm(x, weight)   # compile outside the capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = skinny_linear(x, weight)
    graph.replay()
    assert torch.equal(out, skinny_gemm(x, weight))


@pytest.mark.skipif(not CUDA, reason="CUDA graphs need a GPU")
def test_skinny_gemm_cuda_graph_replay():
    """Captured once, replayed with new inputs written in place: the split-K
    tickets must come back to zero between replays."""
    x = randn(8, 1024, dtype=torch.bfloat16)
    weight = randn(1024, 1024, dtype=torch.bfloat16)
    config = GemmConfig(16, 128, 8)
    skinny_gemm(x, weight, None, config)   # compile, and allocate the counters outside the graph
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = skinny_gemm(x, weight, None, config)
    for _ in range(3):
        x.copy_(randn(8, 1024, dtype=torch.bfloat16))
        graph.replay()
        check(out, _linear_ref64(x, weight, None), torch.bfloat16)


# ------------------------------------------------------------------- rotary --
def _cos_sin_cache(max_pos, head_dim, base=10000.0):
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(max_pos, dtype=torch.float64), inv_freq)
    return torch.cat((angles.cos(), angles.sin()), dim=-1).float().to(DEVICE)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,heads,kv_heads,head_dim", [(1, 2, 1, 64), (13, 16, 8, 128), (6, 9, 3, 32)])
def test_rotary(dtype, n, heads, kv_heads, head_dim):
    cache = _cos_sin_cache(4096, head_dim)
    positions = torch.randint(0, 4096, (n,), device=DEVICE)
    # q/k as strided views into a fused qkv buffer (the in-place case that matters).
    qkv = randn(n, (heads + 2 * kv_heads) * head_dim, dtype=dtype)
    q = qkv[:, :heads * head_dim].view(n, heads, head_dim)
    k = qkv[:, heads * head_dim:(heads + kv_heads) * head_dim].view(n, kv_heads, head_dim)
    q_ref, k_ref = rotary_ref(positions, q.float(), k.float(), cache)
    q_out, k_out = rotary(positions, q, k, cache)
    assert q_out.data_ptr() == q.data_ptr() and k_out.data_ptr() == k.data_ptr(), "in place"
    check(q, q_ref, dtype)
    check(k, k_ref, dtype)


# ----------------------------------------------------------- qk_norm_rotary --
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,heads,kv_heads,head_dim", [(1, 2, 1, 64), (13, 16, 8, 128), (6, 9, 3, 32)])
def test_qk_norm_rotary(dtype, n, heads, kv_heads, head_dim):
    cache = _cos_sin_cache(4096, head_dim)
    positions = torch.randint(0, 4096, (n,), device=DEVICE)
    qkv = 3 * randn(n, (heads + 2 * kv_heads) * head_dim, dtype=dtype)
    q = qkv[:, :heads * head_dim].view(n, heads, head_dim)
    k = qkv[:, heads * head_dim:(heads + kv_heads) * head_dim].view(n, kv_heads, head_dim)
    v_before = qkv[:, (heads + kv_heads) * head_dim:].clone()
    q_w, k_w = (1 + 0.1 * randn(head_dim)).to(dtype), (1 + 0.1 * randn(head_dim)).to(dtype)
    q_ref, k_ref = qk_norm_rotary_ref(positions, q.float(), k.float(), q_w.float(), k_w.float(),
                                      1e-6, cache)
    q_out, k_out = qk_norm_rotary(positions, q, k, q_w, k_w, 1e-6, cache)
    assert q_out.data_ptr() == q.data_ptr() and k_out.data_ptr() == k.data_ptr(), "in place"
    check(q, q_ref, dtype)
    check(k, k_ref, dtype)
    assert torch.equal(qkv[:, (heads + kv_heads) * head_dim:], v_before), "v must be untouched"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("heads,kv_heads,head_dim,block_size", [(4, 2, 64, 16), (6, 3, 32, 1), (16, 8, 128, 256)])
def test_qk_norm_rotary_stores_kv(dtype, heads, kv_heads, head_dim, block_size):
    """With kv_store the kernel also writes the rotated k, and v, into their cache
    slots: the cache equals store_kvcache_ref of what it returns; -1 slots stay."""
    n = num_blocks = 9
    cache = _cos_sin_cache(4096, head_dim)
    positions = torch.randint(0, 4096, (n,), device=DEVICE)
    qkv = 3 * randn(n, (heads + 2 * kv_heads) * head_dim, dtype=dtype)
    q = qkv[:, :heads * head_dim].view(n, heads, head_dim)
    k = qkv[:, heads * head_dim:(heads + kv_heads) * head_dim].view(n, kv_heads, head_dim)
    v = qkv[:, (heads + kv_heads) * head_dim:].view(n, kv_heads, head_dim)
    q_w, k_w = (1 + 0.1 * randn(head_dim)).to(dtype), (1 + 0.1 * randn(head_dim)).to(dtype)
    slots = torch.randperm(num_blocks * block_size)[:n].to(torch.int32)
    slots[::4] = -1                                              # a CUDA graph's padding
    slots = slots.to(DEVICE)
    shape = (num_blocks, block_size, kv_heads, head_dim)
    k_cache = torch.full(shape, 7.0, device=DEVICE, dtype=dtype)   # poison
    v_cache = torch.full(shape, -7.0, device=DEVICE, dtype=dtype)
    q_plain, k_plain = qk_norm_rotary(positions, q.clone(), k.clone(), q_w, k_w, 1e-6, cache)
    qk_norm_rotary(positions, q, k, q_w, k_w, 1e-6, cache, (v, k_cache, v_cache, slots))
    assert torch.equal(q, q_plain) and torch.equal(k, k_plain), "storing changes nothing else"
    k_ref, v_ref = torch.full_like(k_cache, 7.0), torch.full_like(v_cache, -7.0)
    store_kvcache_ref(k, v, k_ref, v_ref, slots)
    assert torch.equal(k_cache, k_ref) and torch.equal(v_cache, v_ref)


@pytest.mark.skipif(not CUDA, reason="the CPU interpreter truncates float32 -> bfloat16 "
                                     "instead of rounding to nearest")
def test_qk_norm_rotary_bf16_is_as_close_to_exact_as_the_layers():
    """bf16: the fused kernel rounds the norm as Qwen3's RMSNorm does (normalized,
    rounded, times the weight, rounded), then rotates in float32 and rounds once;
    the layers rotate in bf16 (as Hugging Face's RoPE does), rounding each product.
    So the kernel is nearer the exact float32 result than the layers are
    (relative error ~2.9e-3 against ~3.2e-3, emulated on a CPU), and the two are
    about one bf16 rounding apart (~4.2e-3; an H100 measured 4.18e-3)."""
    cache = _cos_sin_cache(4096, 128)
    positions = torch.randint(0, 4096, (64,), device=DEVICE)
    q, k = randn(64, 16, 128, dtype=torch.bfloat16), randn(64, 8, 128, dtype=torch.bfloat16)
    q_w, k_w = randn(128, dtype=torch.bfloat16), randn(128, dtype=torch.bfloat16)
    q_layers, k_layers = qk_norm_rotary_ref(positions, q, k, q_w, k_w, 1e-6, cache)
    q_exact, k_exact = qk_norm_rotary_ref(positions, q.float(), k.float(), q_w.float(), k_w.float(), 1e-6, cache)
    qk_norm_rotary(positions, q, k, q_w, k_w, 1e-6, cache)
    for out, layers, exact in ((q, q_layers, q_exact), (k, k_layers, k_exact)):
        assert rel_err(out, exact) < rel_err(layers, exact)
        assert rel_err(out, layers) < 6e-3


# -------------------------------------------------------- prefill attention --
PREFILL_SHAPES = [  # (num_heads, num_kv_heads, head_dim): GQA groups 1, 2, 4, 8, 3
    (2, 2, 64), (4, 2, 128), (4, 1, 64), (8, 1, 128), (6, 2, 32),
]
if CUDA:
    PREFILL_SHAPES += [(16, 8, 128), (9, 3, 64), (4, 2, 256), (4, 2, 16)]  # Qwen3, SmolLM2, ...
if CUDA:
    PREFILL_LENS = [[1, 300, 77, 512, 1000], [1024, 1, 129]]
    PREFIX_CASES = [([0, 62, 257, 17], [50, 1, 300, 64]), ([513, 1000], [1, 700])]
else:
    PREFILL_LENS = [[1, 45, 17, 70]]
    PREFIX_CASES = [([0, 32, 17, 30], [20, 1, 40, 9])]  # (cached prefix, new tokens) per sequence


@pytest.mark.parametrize("tiles", PREFILL_TILES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("heads,kv_heads,head_dim", PREFILL_SHAPES)
@pytest.mark.parametrize("lens", PREFILL_LENS)
def test_prefill_packed(lens, heads, kv_heads, head_dim, dtype, tiles):
    n = sum(lens)
    q = randn(n, heads, head_dim, dtype=dtype)
    k = randn(n, kv_heads, head_dim, dtype=dtype)
    v = randn(n, kv_heads, head_dim, dtype=dtype)
    cu = cu_seqlens(lens)
    scale = head_dim ** -0.5
    out = prefill_attention(q, k, v, cu, cu, max(lens), max(lens), scale, **tiles)
    ref = prefill_attention_ref(q.float(), k.float(), v.float(), cu, cu, max(lens), max(lens), scale)
    check(out, ref, dtype)


def test_prefill_packed_longer_keys():
    """Packed keys longer than the queries: the queries are the last positions."""
    q_lens, k_lens = [3, 20, 1], [17, 20, 31]
    q = randn(sum(q_lens), 4, 64)
    k, v = randn(sum(k_lens), 2, 64), randn(sum(k_lens), 2, 64)
    cu_q, cu_k = cu_seqlens(q_lens), cu_seqlens(k_lens)
    out = prefill_attention(q, k, v, cu_q, cu_k, 20, 31, 0.125, block_m=16, block_n=16)
    ref = prefill_attention_ref(q, k, v, cu_q, cu_k, 20, 31, 0.125)
    check(out, ref, torch.float32)


def _prefix_cached_batch(prefix, new, kv_heads, head_dim, block_size, dtype):
    """A prefill batch where sequence b reuses prefix[b] cached tokens.

    The cache (shuffled blocks) holds all prefix[b] + new[b] keys of each
    sequence, as it does once store_kvcache has run for the new tokens.
    """
    k_lens = [p + n for p, n in zip(prefix, new)]
    table, num_blocks = paged_layout(k_lens, block_size)
    shape = (num_blocks, block_size, kv_heads, head_dim)
    k_cache, v_cache = randn(*shape, dtype=dtype), randn(*shape, dtype=dtype)
    return table, k_cache, v_cache, cu_seqlens(new), cu_seqlens(k_lens), max(new), max(k_lens)


@pytest.mark.parametrize("tiles", PREFIX_TILES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("heads,kv_heads,head_dim", [(4, 2, 128), (8, 1, 64), (2, 2, 64)])
@pytest.mark.parametrize("block_size", [16, 32] + ([256] if CUDA else []))
@pytest.mark.parametrize("prefix,new", PREFIX_CASES)
def test_prefill_prefix_cached(prefix, new, block_size, heads, kv_heads, head_dim, dtype, tiles):
    table, k_cache, v_cache, cu_q, cu_k, max_q, max_k = _prefix_cached_batch(
        prefix, new, kv_heads, head_dim, block_size, dtype)
    q = randn(sum(new), heads, head_dim, dtype=dtype)
    # The packed k/v must be ignored when block tables are given: poison them.
    junk = torch.full((sum(new), kv_heads, head_dim), float("nan"), device=DEVICE, dtype=dtype)
    scale = head_dim ** -0.5
    out = prefill_attention(q, junk, junk, cu_q, cu_k, max_q, max_k, scale,
                            k_cache, v_cache, table, **tiles)
    ref = prefill_attention_ref(q.float(), None, None, cu_q, cu_k, max_q, max_k, scale,
                                k_cache.float(), v_cache.float(), table)
    check(out, ref, dtype)


# --------------------------------------------------------- decode attention --
DECODE_SHAPES = [(2, 2, 64), (4, 2, 128), (8, 2, 64), (8, 1, 128), (6, 2, 32)]  # group 1, 2, 4, 8, 3
if CUDA:
    DECODE_SHAPES += [(16, 8, 128), (9, 3, 64), (4, 2, 256), (4, 2, 16)]  # Qwen3, SmolLM2, ...
if CUDA:
    DECODE_LENS = [[1, 17, 1000, 333, 4097, 64], [5] * 64 + [2048] * 4]
    DECODE_SPLITS = [None, 256, 64]
else:
    DECODE_LENS = [[1, 17, 100, 64, 33]]
    DECODE_SPLITS = [None, 32]      # None = heuristic; 32 forces many splits + the merge


def _check_decode(lens, block_size, heads, kv_heads, head_dim, dtype, split_tokens):
    table, num_blocks = paged_layout(lens, block_size)
    shape = (num_blocks, block_size, kv_heads, head_dim)
    k_cache, v_cache = randn(*shape, dtype=dtype), randn(*shape, dtype=dtype)
    q = randn(len(lens), heads, head_dim, dtype=dtype)
    context_lens = torch.tensor(lens, dtype=torch.int32, device=DEVICE)
    scale = head_dim ** -0.5
    kwargs = {}
    if split_tokens is not None:
        kwargs = {"split_tokens": split_tokens, "block_n": None if CUDA else 16}
    out = decode_attention(q, k_cache, v_cache, context_lens, table, scale, **kwargs)
    ref = decode_attention_ref(q.float(), k_cache.float(), v_cache.float(), context_lens, table, scale)
    check(out, ref, dtype)


@pytest.mark.parametrize("split_tokens", DECODE_SPLITS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("heads,kv_heads,head_dim", DECODE_SHAPES)
@pytest.mark.parametrize("block_size", [16] if CUDA else [16, 64])
@pytest.mark.parametrize("lens", DECODE_LENS)
def test_decode(lens, block_size, heads, kv_heads, head_dim, dtype, split_tokens):
    _check_decode(lens, block_size, heads, kv_heads, head_dim, dtype, split_tokens)


@pytest.mark.parametrize("split_tokens", DECODE_SPLITS[:2])
@pytest.mark.parametrize("dtype", DTYPES[:2])
@pytest.mark.parametrize("block_size", [32, 64, 128, 256] if CUDA else [256])
def test_decode_block_sizes(block_size, dtype, split_tokens):
    _check_decode(DECODE_LENS[0], block_size, 4, 2, 128, dtype, split_tokens)


def test_decode_splits_shorter_for_small_batches():
    """Inside a CUDA graph (no length hint) the splits are as short as allowed: 128
    positions while (sequence, KV head) rows are few (<= 64), 256 past that; a batch
    that fills the GPU by itself gets one split over the whole capacity."""
    def split(batch):
        return choose_split_tokens(batch, 8, 8192, 64, num_sms=132)
    assert [split(b) for b in (1, 4, 8)] == [SMALL_BATCH_SPLIT_TOKENS] * 3
    assert [split(b) for b in (16, 32)] == [MIN_SPLIT_TOKENS] * 2
    assert split(64) == 8192


@pytest.mark.parametrize("hint", [None, 1, 10_000])
def test_decode_hint_is_only_a_hint(hint):
    """A wrong max_context_len (as a captured CUDA graph may replay) stays correct."""
    lens = [30, 70, 3] if not CUDA else [300, 1700, 3]
    table, num_blocks = paged_layout(lens, 16, extra_width=4)
    k_cache, v_cache = randn(num_blocks, 16, 2, 64), randn(num_blocks, 16, 2, 64)
    q = randn(len(lens), 4, 64)
    context_lens = torch.tensor(lens, dtype=torch.int32, device=DEVICE)
    out = decode_attention(q, k_cache, v_cache, context_lens, table, 0.125, hint)
    ref = decode_attention_ref(q, k_cache, v_cache, context_lens, table, 0.125)
    check(out, ref, torch.float32)


@pytest.mark.parametrize("split_tokens", [None, 16])
def test_decode_empty_sequence_gives_zeros(split_tokens):
    """A padding row (context length 0) gets zeros, not NaN; the others are right."""
    lens = [0, 40, 0, 9]
    table, num_blocks = paged_layout([max(n, 1) for n in lens], 16)
    k_cache, v_cache = randn(num_blocks, 16, 2, 64), randn(num_blocks, 16, 2, 64)
    q = randn(len(lens), 2, 64)
    context_lens = torch.tensor(lens, dtype=torch.int32, device=DEVICE)
    out = decode_attention(q, k_cache, v_cache, context_lens, table, 0.125,
                           split_tokens=split_tokens, block_n=16)
    ref = decode_attention_ref(q, k_cache, v_cache, context_lens, table, 0.125, 40)
    assert torch.equal(out[[0, 2]], torch.zeros_like(out[[0, 2]]))
    check(out[[1, 3]], ref[[1, 3]], torch.float32)


@pytest.mark.parametrize("fused_merge", [False, True])
@pytest.mark.parametrize("programs_per_row", [1, 2, 3])
def test_decode_programs_taking_several_splits_match_one_program_a_split(programs_per_row, fused_merge):
    """A program that takes every P-th split of its row writes each split's partial as
    a program of its own would: the same output, bit for bit, whatever P; a short
    context leaves the programs past its last split nothing to do."""
    lens = [0, 1, 17, 100, 64, 33] if not CUDA else [0, 1, 17, 1000, 333, 4097]
    table, num_blocks = paged_layout([max(n, 1) for n in lens], 16, extra_width=8)
    k_cache, v_cache = randn(num_blocks, 16, 2, 64), randn(num_blocks, 16, 2, 64)
    q = randn(len(lens), 4, 64)
    context_lens = torch.tensor(lens, dtype=torch.int32, device=DEVICE)
    split = {"split_tokens": 16 if not CUDA else 128, "block_n": 16 if not CUDA else None,
             "fused_merge": fused_merge}
    one_each = decode_attention(q, k_cache, v_cache, context_lens, table, 0.125,
                                programs_per_row=10**6, **split)
    looped = decode_attention(q, k_cache, v_cache, context_lens, table, 0.125,
                              programs_per_row=programs_per_row, **split)
    assert torch.equal(looped, one_each)
    ref = decode_attention_ref(q, k_cache, v_cache, context_lens, table, 0.125)
    check(looped[1:], ref[1:], torch.float32)


@pytest.mark.parametrize("dtype", DTYPES[:2])
@pytest.mark.parametrize("heads,kv_heads", [(4, 2), (8, 1)])
def test_decode_fused_merge_matches_the_merge_kernel(heads, kv_heads, dtype):
    """The last split to finish merges (one launch): the same output as the merge
    kernel's, zeros for an empty sequence, and counters left at zero for the next launch."""
    lens = [0, 1, 17, 100, 64, 33] if not CUDA else [0, 1, 17, 1000, 333, 4097]
    table, num_blocks = paged_layout([max(n, 1) for n in lens], 16)
    shape = (num_blocks, 16, kv_heads, 64)
    k_cache, v_cache = randn(*shape, dtype=dtype), randn(*shape, dtype=dtype)
    q = randn(len(lens), heads, 64, dtype=dtype)
    context_lens = torch.tensor(lens, dtype=torch.int32, device=DEVICE)
    split = {"split_tokens": 32 if not CUDA else 256, "block_n": 16 if not CUDA else None}
    two_kernels = decode_attention(q, k_cache, v_cache, context_lens, table, 0.125, fused_merge=False, **split)
    for _ in range(2):   # the second launch finds the counters zeroed by the first
        fused = decode_attention(q, k_cache, v_cache, context_lens, table, 0.125, fused_merge=True, **split)
        torch.testing.assert_close(fused, two_kernels, atol=1e-6, rtol=1e-5)
    assert torch.equal(fused[0], torch.zeros_like(fused[0]))
    assert int(merge_counters(q.device)[: len(lens) * kv_heads].abs().sum()) == 0


@pytest.mark.skipif(not CUDA, reason="CUDA graphs need a GPU")
def test_decode_cuda_graph_replay():
    """Capture once, then change lengths and block tables in place and replay."""
    B, width, bs, kv_heads, heads, D = 8, 64, 16, 8, 16, 128
    num_blocks = B * width
    k_cache = randn(num_blocks, bs, kv_heads, D, dtype=torch.bfloat16)
    v_cache = randn(num_blocks, bs, kv_heads, D, dtype=torch.bfloat16)

    def tables(lens):
        table = torch.randperm(num_blocks, device=DEVICE).view(B, width).to(torch.int32)
        blocks = torch.tensor([(n + bs - 1) // bs for n in lens], device=DEVICE)
        table[torch.arange(width, device=DEVICE)[None, :] >= blocks[:, None]] = -1
        return table, torch.tensor(lens, dtype=torch.int32, device=DEVICE)

    table, context_lens = tables([1000, 1, 17, 512, 1023, 64, 200, 999])
    q = randn(B, heads, D, dtype=torch.bfloat16)
    decode_attention(q, k_cache, v_cache, context_lens, table, 0.1, 1024)  # compile first
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = decode_attention(q, k_cache, v_cache, context_lens, table, 0.1, 1024)
    for _ in range(3):
        new_table, new_lens = tables(torch.randint(1, width * bs + 1, (B,)).tolist())
        table.copy_(new_table)
        context_lens.copy_(new_lens)
        q.copy_(randn(B, heads, D, dtype=torch.bfloat16))
        graph.replay()
        ref = decode_attention_ref(q.float(), k_cache.float(), v_cache.float(), context_lens,
                                   table, 0.1)
        check(out, ref, torch.bfloat16)


# ------------------------------------------------------------------ backend --
@pytest.mark.parametrize("dtype", DTYPES)
def test_triton_backend_matches_torch_backend(dtype):
    """store + prefill (fresh and prefix-cached) + decode through the interface."""
    heads, kv_heads, head_dim, bs = 4, 2, 64, 16
    triton_be, torch_be = TritonBackend(), TorchBackend()
    assert triton_be.name == "triton"
    scale = head_dim ** -0.5
    lens = [5, 40, 17]
    table, num_blocks = paged_layout([n + 1 for n in lens], bs)
    shape = (num_blocks, bs, kv_heads, head_dim)
    caches = {name: (torch.zeros(shape, device=DEVICE, dtype=dtype),
                     torch.zeros(shape, device=DEVICE, dtype=dtype)) for name in ("triton", "torch")}
    # 1. Prefill of fresh prompts: store, then attend over the packed k/v.
    n = sum(lens)
    q, k, v = randn(n, heads, head_dim, dtype=dtype), randn(n, kv_heads, head_dim, dtype=dtype), randn(n, kv_heads, head_dim, dtype=dtype)
    pos = torch.cat([torch.arange(L) for L in lens]).to(DEVICE)
    seq = torch.cat([torch.full((L,), b) for b, L in enumerate(lens)]).to(DEVICE)
    slots = (table[seq, pos // bs].long() * bs + pos % bs).to(torch.int32)
    cu = cu_seqlens(lens)
    ctx = Context(is_prefill=True, cu_seqlens_q=cu, cu_seqlens_k=cu, max_seqlen_q=max(lens),
                  max_seqlen_k=max(lens), slot_mapping=slots)
    outs = {}
    for name, be in (("triton", triton_be), ("torch", torch_be)):
        be.store_kvcache(k, v, *caches[name], slots)
        outs[name] = be.prefill(q, k, v, *caches[name], ctx, scale)
    assert torch.equal(caches["triton"][0], caches["torch"][0])
    check(outs["triton"], prefill_attention_ref(q.float(), k.float(), v.float(), cu, cu,
                                                max(lens), max(lens), scale), dtype)
    # 2. The same prompts again, re-read from the cache (a full prefix hit but
    #    the last token): only the last token is a new query.
    q_last = randn(len(lens), heads, head_dim, dtype=dtype)
    last = cu[1:].long() - 1
    ctx = Context(is_prefill=True, cu_seqlens_q=cu_seqlens([1] * len(lens)), cu_seqlens_k=cu,
                  max_seqlen_q=1, max_seqlen_k=max(lens), slot_mapping=slots[last],
                  block_tables=table)
    got = triton_be.prefill(q_last, k[last], v[last], *caches["triton"], ctx, scale)
    want = torch_be.prefill(q_last.float(), k[last].float(), v[last].float(),
                            caches["torch"][0].float(), caches["torch"][1].float(), ctx, scale)
    check(got, want, dtype)
    # 3. Decode one new token per sequence.
    ctx_lens = torch.tensor([L + 1 for L in lens], dtype=torch.int32, device=DEVICE)
    dec_slots = (table[torch.arange(len(lens), device=DEVICE), torch.tensor(lens, device=DEVICE) // bs].long() * bs
                 + torch.tensor(lens, device=DEVICE) % bs).to(torch.int32)
    qd = randn(len(lens), heads, head_dim, dtype=dtype)
    kd, vd = randn(len(lens), kv_heads, head_dim, dtype=dtype), randn(len(lens), kv_heads, head_dim, dtype=dtype)
    ctx = Context(is_prefill=False, slot_mapping=dec_slots, context_lens=ctx_lens,
                  block_tables=table, max_seqlen_k=max(lens) + 1)
    for name, be in (("triton", triton_be), ("torch", torch_be)):
        be.store_kvcache(kd, vd, *caches[name], dec_slots)
    got = triton_be.decode(qd, *caches["triton"], ctx, scale)
    want = torch_be.decode(qd.float(), caches["torch"][0].float(), caches["torch"][1].float(), ctx, scale)
    check(got, want, dtype)


def test_host_math_is_tritons_arithmetic():
    """The wrappers' plain-Python cdiv / next_power_of_2 give Triton's numbers."""
    import triton
    from aios.kernels.host_math import cdiv, next_power_of_2
    for n in range(0, 5000):
        assert next_power_of_2(n) == triton.next_power_of_2(n)
        for d in (1, 3, 16, 128, 1024):
            assert cdiv(n, d) == triton.cdiv(n, d)
    assert next_power_of_2(151936) == triton.next_power_of_2(151936)
