"""The flash_attn attention backend (aios/backends/flash_attn_backend.py).

On a CPU (no flash-attn there): how the backend is chosen and what asking for
it says when it cannot run; then its own logic (which flash-attn call gets
which arguments: packed or paged keys, block tables, sequence lengths, prefix
hits) through a stand-in `flash_attn` module whose two functions are the
PyTorch reference (attention_ref, gather_kv_ref) behind the checks flash-attn
makes on its arguments. A tiny model runs end to end through it and must give
the torch backend's tokens and logits.

On a GPU with flash-attn installed: the real kernels against the Triton
backend's outputs (the tolerance of tests/test_kernels.py), in eager mode and
replayed from a CUDA graph, and an engine run against the Triton engine.
"""
import importlib.util
import sys
import types

import pytest
import torch

import aios.backends
import aios.engine.model_runner
from aios import LLM
from aios.backends import get_backend, resolve_backend_name
from aios.kernels.reference import attention_ref, gather_kv_ref, pad_packed
from conftest import assert_all_blocks_free, greedy, random_prompts, run_to_completion

CUDA = torch.cuda.is_available()
HAS_FLASH_ATTN = importlib.util.find_spec("flash_attn") is not None


# ------------------------------------------------------- selection, errors --
def test_flash_attn_not_installed_says_how_to_install(monkeypatch):
    monkeypatch.setattr(aios.backends, "_has", lambda package: package != "flash_attn")
    with pytest.raises(ValueError, match=r"needs the flash-attn package, which is not installed: "
                                         r"pip install flash-attn --no-build-isolation"):
        resolve_backend_name("flash_attn", "cuda")


def test_flash_attn_installed_is_chosen_only_when_asked(monkeypatch):
    monkeypatch.setattr(aios.backends, "_has", lambda package: True)
    assert resolve_backend_name("flash_attn", "cuda") == "flash_attn"
    assert resolve_backend_name("auto", "cuda") == "triton"
    assert resolve_backend_name("auto", "cpu") == "torch"
    with pytest.raises(ValueError, match="attention_backend='flash_attn' needs a CUDA GPU"):
        resolve_backend_name("flash_attn", "cpu")
    with pytest.raises(ValueError, match="'flashinfer' is not available in this version"):
        resolve_backend_name("flashinfer", "cuda")


def test_flash_attn_that_does_not_import_says_how_to_reinstall(monkeypatch):
    monkeypatch.setitem(sys.modules, "flash_attn", None)     # `import flash_attn` fails
    with pytest.raises(ImportError, match=r"does not import .*built for this torch and CUDA: "
                                          r"pip install flash-attn --no-build-isolation"):
        get_backend("flash_attn")


@pytest.mark.parametrize("block_size", [16, 128])
def test_flash_attn_block_size_must_be_a_multiple_of_256(tiny_qwen3_dir, block_size):
    with pytest.raises(ValueError, match=rf"attention_backend='flash_attn' needs block_size to be a "
                                         rf"multiple of 256 .*got {block_size}; pass block_size=256 "
                                         rf"\(--block-size 256\)"):
        LLM(tiny_qwen3_dir, attention_backend="flash_attn", block_size=block_size)


@pytest.mark.skipif(CUDA, reason="checks the CPU-only error; this machine has a GPU")
def test_flash_attn_with_block_size_256_on_a_cpu_needs_a_gpu(tiny_qwen3_dir):
    with pytest.raises(ValueError, match="attention_backend='flash_attn' needs a CUDA GPU"):
        LLM(tiny_qwen3_dir, attention_backend="flash_attn", block_size=256)
    assert LLM(tiny_qwen3_dir).model_runner.backend_name == "torch"   # auto on a CPU


# ----------------------------------------- a stand-in flash_attn on the CPU --
def _check_paged(k_cache, v_cache, block_table, batch):
    """What flash-attn checks of a paged cache and its block table."""
    assert k_cache.dim() == 4 and k_cache.shape == v_cache.shape, "paged k/v: (blocks, page, Hkv, D)"
    assert k_cache.shape[1] % 256 == 0, "Paged KV cache block size must be divisible by 256"
    assert block_table.dtype == torch.int32 and block_table.stride(-1) == 1
    assert block_table.dim() == 2 and block_table.shape[0] == batch


def fake_flash_attn(calls: list) -> types.ModuleType:
    """A `flash_attn` module computing with the PyTorch reference; each call
    is logged in `calls` as (function name, paged?)."""

    def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
                               dropout_p=0.0, softmax_scale=None, causal=False,
                               window_size=(-1, -1), softcap=0.0, alibi_slopes=None,
                               deterministic=False, return_attn_probs=False, block_table=None):
        batch = cu_seqlens_q.numel() - 1
        assert causal and dropout_p == 0.0 and softmax_scale is not None
        assert cu_seqlens_q.dtype == cu_seqlens_k.dtype == torch.int32
        assert cu_seqlens_k.shape == (batch + 1,) and q.dim() == 3
        q_lens, k_lens = cu_seqlens_q.diff(), cu_seqlens_k.diff()
        assert int(q_lens.max()) == max_seqlen_q and int(k_lens.max()) == max_seqlen_k
        if block_table is None:
            assert k.dim() == 3 and k.shape[0] == int(cu_seqlens_k[-1]), "packed k: (total_k, Hkv, D)"
            k_pad, _ = pad_packed(k, cu_seqlens_k, max_seqlen_k)
            v_pad, _ = pad_packed(v, cu_seqlens_k, max_seqlen_k)
        else:
            _check_paged(k, v, block_table, batch)
            k_pad = gather_kv_ref(k, block_table, max_seqlen_k)
            v_pad = gather_kv_ref(v, block_table, max_seqlen_k)
        calls.append(("varlen", block_table is not None))
        q_pad, q_valid = pad_packed(q, cu_seqlens_q, max_seqlen_q)
        return attention_ref(q_pad, k_pad, v_pad, q_lens, k_lens, softmax_scale)[q_valid]

    def flash_attn_with_kvcache(q, k_cache, v_cache, k=None, v=None, rotary_cos=None,
                                rotary_sin=None, cache_seqlens=None, cache_batch_idx=None,
                                cache_leftpad=None, block_table=None, softmax_scale=None,
                                causal=False, window_size=(-1, -1), softcap=0.0,
                                rotary_interleaved=True, alibi_slopes=None, num_splits=0,
                                return_softmax_lse=False):
        batch, seqlen_q = q.shape[:2]
        assert q.dim() == 4 and k is None and v is None and softmax_scale is not None
        assert block_table is not None, "aios's cache is paged"
        _check_paged(k_cache, v_cache, block_table, batch)
        assert cache_seqlens.dtype == torch.int32 and cache_seqlens.shape == (batch,)
        # As flash-attn, read as far as the table reaches; cache_seqlens masks the rest.
        width = block_table.shape[1] * k_cache.shape[1]
        k_pad = gather_kv_ref(k_cache, block_table, width)
        v_pad = gather_kv_ref(v_cache, block_table, width)
        calls.append(("with_kvcache", True))
        q_lens = torch.full_like(cache_seqlens, seqlen_q)
        return attention_ref(q, k_pad, v_pad, q_lens, cache_seqlens, softmax_scale)

    module = types.ModuleType("flash_attn")
    module.flash_attn_varlen_func = flash_attn_varlen_func
    module.flash_attn_with_kvcache = flash_attn_with_kvcache
    return module


@pytest.fixture
def flash_attn_calls(monkeypatch):
    """Install the stand-in module; let flash_attn past the CPU's "needs a GPU"
    check (nothing else of the selection changes). -> the call log.

    The K/V are stored by the PyTorch reference instead of the Triton kernel
    (tested in test_kernels.py), which a machine with a GPU would launch on
    the GPU, not on these CPU tensors."""
    import aios.backends.flash_attn_backend
    from aios.kernels.reference import store_kvcache_ref
    calls = []
    monkeypatch.setitem(sys.modules, "flash_attn", fake_flash_attn(calls))
    monkeypatch.setattr(aios.backends.flash_attn_backend, "store_kvcache", store_kvcache_ref)
    real = aios.engine.model_runner.resolve_backend_name
    monkeypatch.setattr(aios.engine.model_runner, "resolve_backend_name",
                        lambda name, device: name if name == "flash_attn" else real(name, device))
    return calls


def test_tiny_model_through_flash_attn_matches_torch_backend(tiny_qwen3_dir, flash_attn_calls):
    """Fresh prompts of one and two blocks, a decode crossing into a second
    block, then prefix-cache hits next to a fresh prompt in one prefill."""
    options = dict(device="cpu", block_size=256, max_num_seqs=4)
    engines = {name: LLM(tiny_qwen3_dir, attention_backend=name, **options)
               for name in ("torch", "flash_attn")}
    assert engines["flash_attn"].model_runner.backend_name == "flash_attn"
    long, short, near_full = random_prompts([300, 40, 250], seed=11)
    first = [long, short, near_full]                     # 250 + 12 tokens: into block 2

    results = {}
    for name, llm in engines.items():
        seqs, logits = run_to_completion(llm, first, greedy(12), record_logits=True)
        # The first block of `long` is cached now: two prompts reuse it.
        second = [long + seqs[0].completion_token_ids[:3], long[:260] + [7, 8], short[:20]]
        more, more_logits = run_to_completion(llm, second, greedy(8), record_logits=True)
        results[name] = (seqs + more, {**logits, **more_logits})
        assert_all_blocks_free(llm)
    bm = engines["flash_attn"].scheduler.block_manager
    assert bm.num_prefix_hit_tokens == 2 * 256

    (ref_seqs, ref_logits), (fa_seqs, fa_logits) = results["torch"], results["flash_attn"]
    for ref, got in zip(ref_seqs, fa_seqs):
        assert got.completion_token_ids == ref.completion_token_ids
        torch.testing.assert_close(fa_logits[got.seq_id], ref_logits[ref.seq_id], atol=1e-4, rtol=0)
    # Every path ran: packed prefill, paged prefill (the prefix hits), paged decode.
    assert set(flash_attn_calls) == {("varlen", False), ("varlen", True), ("with_kvcache", True)}


# ---------------------------------------------------- the real one, on a GPU --
gpu_only = pytest.mark.skipif(not (CUDA and HAS_FLASH_ATTN),
                              reason="needs a CUDA GPU and the flash-attn package")
# The shapes the trimmed build of shared/flash-attn compiles: bf16, head_dim 128.
HEADS, KV_HEADS, HEAD_DIM, DTYPE, PAGE = 16, 8, 128, torch.bfloat16, 256


def rel_err(out, ref):
    out, ref = out.double(), ref.double()
    return ((out - ref).norm() / ref.norm()).item()


def _paged(lens, width_extra=1):
    """Shuffled block tables (-1 padded) over a pool of PAGE-token blocks."""
    need = [-(-n // PAGE) for n in lens]
    num_blocks = sum(need) + 2
    perm = torch.randperm(num_blocks).tolist()
    table = torch.full((len(lens), max(need) + width_extra), -1, dtype=torch.int32)
    used = 0
    for b, n in enumerate(need):
        table[b, :n] = torch.tensor(perm[used:used + n], dtype=torch.int32)
        used += n
    return table.cuda(), num_blocks


def _slots(table, starts, ends):
    """Flat cache slots of positions [start, end) of each sequence, packed."""
    rows = [table[b, torch.arange(s, e, device="cuda") // PAGE].long() * PAGE
            + torch.arange(s, e, device="cuda") % PAGE for b, (s, e) in enumerate(zip(starts, ends))]
    return torch.cat(rows).to(torch.int32)


def _cu(lens):
    return torch.tensor([0] + torch.tensor(lens).cumsum(0).tolist(), dtype=torch.int32, device="cuda")


@gpu_only
def test_flash_attn_refuses_float32(tiny_qwen3_dir):
    with pytest.raises(ValueError, match="computes in bfloat16 or float16, not float32"):
        LLM(tiny_qwen3_dir, attention_backend="flash_attn", block_size=256, dtype="float32")


@gpu_only
def test_flash_attn_backend_matches_triton_backend():
    """store + prefill (fresh, then prefix hits) + decode: flash vs Triton."""
    from aios.backends.triton_backend import TritonBackend
    from aios.utils.context import Context
    torch.manual_seed(0)
    flash, triton_be = get_backend("flash_attn"), TritonBackend()
    scale = HEAD_DIM ** -0.5
    lens = [1, 255, 256, 700, 1500]          # within, at and across page edges
    table, num_blocks = _paged([n + 300 for n in lens])
    shape = (num_blocks, PAGE, KV_HEADS, HEAD_DIM)
    k_cache = torch.zeros(shape, device="cuda", dtype=DTYPE)
    v_cache = torch.zeros_like(k_cache)

    def rand(n, heads):
        return torch.randn(n, heads, HEAD_DIM, device="cuda", dtype=DTYPE)

    def both(method, *args):
        out = getattr(flash, method)(*args)
        ref = getattr(triton_be, method)(*args)
        assert out.shape == ref.shape and out.dtype == ref.dtype
        err = rel_err(out, ref)
        assert err < 1e-2, f"{method}: relative L2 error {err:.3g} vs the Triton backend"

    # 1. Fresh prompts.
    n = sum(lens)
    q, k, v = rand(n, HEADS), rand(n, KV_HEADS), rand(n, KV_HEADS)
    slots = _slots(table, [0] * len(lens), lens)
    flash.store_kvcache(k, v, k_cache, v_cache, slots)
    cu = _cu(lens)
    both("prefill", q, k, v, k_cache, v_cache,
         Context(is_prefill=True, cu_seqlens_q=cu, cu_seqlens_k=cu, max_seqlen_q=max(lens),
                 max_seqlen_k=max(lens), slot_mapping=slots), scale)
    # 2. Prefix hits: each sequence adds `new` tokens to its cached ones.
    new = [1, 100, 3, 300, 17]
    q2, k2, v2 = rand(sum(new), HEADS), rand(sum(new), KV_HEADS), rand(sum(new), KV_HEADS)
    ends = [a + b for a, b in zip(lens, new)]
    slots2 = _slots(table, lens, ends)
    flash.store_kvcache(k2, v2, k_cache, v_cache, slots2)
    both("prefill", q2, k2, v2, k_cache, v_cache,
         Context(is_prefill=True, cu_seqlens_q=_cu(new), cu_seqlens_k=_cu(ends),
                 max_seqlen_q=max(new), max_seqlen_k=max(ends), slot_mapping=slots2,
                 block_tables=table), scale)
    # 3. Decode one token per sequence.
    kd, vd = rand(len(lens), KV_HEADS), rand(len(lens), KV_HEADS)
    slots3 = _slots(table, ends, [e + 1 for e in ends])
    flash.store_kvcache(kd, vd, k_cache, v_cache, slots3)
    context_lens = torch.tensor([e + 1 for e in ends], dtype=torch.int32, device="cuda")
    both("decode", rand(len(lens), HEADS), k_cache, v_cache,
         Context(is_prefill=False, slot_mapping=slots3, context_lens=context_lens,
                 block_tables=table, max_seqlen_k=max(ends) + 1), scale)


@gpu_only
def test_flash_attn_decode_replays_from_a_cuda_graph():
    """Captured once with the engine's fixed buffers; lengths and tables change in place."""
    from aios.backends.triton_backend import TritonBackend
    from aios.utils.context import Context
    torch.manual_seed(0)
    flash, triton_be = get_backend("flash_attn"), TritonBackend()
    B, width = 8, 8
    num_blocks = B * width
    k_cache = torch.randn(num_blocks, PAGE, KV_HEADS, HEAD_DIM, device="cuda", dtype=DTYPE)
    v_cache = torch.randn_like(k_cache)
    q = torch.randn(B, HEADS, HEAD_DIM, device="cuda", dtype=DTYPE)
    table = torch.zeros(B, width, dtype=torch.int32, device="cuda")
    context_lens = torch.ones(B, dtype=torch.int32, device="cuda")
    ctx = Context(is_prefill=False, context_lens=context_lens, block_tables=table, max_seqlen_k=0)
    flash.decode(q, k_cache, v_cache, ctx, 0.1)                  # warm up outside the graph
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = flash.decode(q, k_cache, v_cache, ctx, 0.1)
    for lens in ([1, 256, 257, 2048, 1000, 3, 511, 1777], [5] * 7 + [width * PAGE]):
        table.copy_(torch.randperm(num_blocks, device="cuda").view(B, width).to(torch.int32))
        context_lens.copy_(torch.tensor(lens, dtype=torch.int32))
        q.copy_(torch.randn_like(q))
        graph.replay()
        ref = triton_be.decode(q, k_cache, v_cache, ctx, 0.1)
        err = rel_err(out, ref)
        assert err < 1e-2, f"replayed decode: relative L2 error {err:.3g} vs the Triton backend"


@gpu_only
def test_engine_with_flash_attn_matches_triton_engine(monkeypatch):
    """random:Qwen3-0.6B cut to 2 layers (head_dim 128, GQA 16/8), bf16, CUDA
    graphs, block size 256, then prefix hits: the Triton engine's logits.

    Two bf16 kernels round differently, so a greedy pick may flip where the
    two best logits nearly tie; after that the sequences differ. So logits are
    compared at every step up to and including a sequence's first differing
    token (until then both engines saw the same tokens)."""
    import aios.config
    from aios.models.random_configs import random_model_config

    def two_layers(name):
        config = random_model_config(name)
        config.num_hidden_layers = 2
        return config

    monkeypatch.setattr(aios.config, "random_model_config", two_layers)
    prompts = random_prompts([600, 40, 250, 1100], seed=3, vocab=151_936)
    again = [prompts[0][:520] + [11, 12], prompts[3] + [5]]   # 2 and 4 cached blocks
    results = {}
    for name in ("triton", "flash_attn"):
        # (sync steps: run_to_completion pairs each step's logits with its sequences)
        llm = LLM("random:Qwen3-0.6B", attention_backend=name, block_size=PAGE,
                  max_model_len=2048, max_num_seqs=8, num_kv_blocks=64, async_scheduling=False)
        assert llm.model_runner.graph_runner is not None       # decode replays CUDA graphs
        seqs, logits = run_to_completion(llm, prompts, greedy(24), record_logits=True)
        hits = llm.scheduler.block_manager.num_prefix_hit_tokens
        more, more_logits = run_to_completion(llm, again, greedy(24), record_logits=True)
        assert llm.scheduler.block_manager.num_prefix_hit_tokens - hits == 6 * PAGE
        logits.update(more_logits)
        results[name] = [(s.completion_token_ids, logits[s.seq_id]) for s in seqs + more]
    for (got, got_logits), (want, want_logits) in zip(results["flash_attn"], results["triton"]):
        same = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), len(want) - 1)
        for step in range(same + 1):
            err = rel_err(got_logits[step], want_logits[step])
            assert err < 5e-2, f"step {step}: logits differ from the Triton engine's by {err:.3g}"
