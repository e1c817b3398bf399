"""Lessons 9 to 11: their pieces checked on their own, before the engine runs them.

    check_prefill_attention   lesson 9: your kernel vs prefill_attention_ref, packed and paged
    check_fused_kernels       lesson 10: your rms_norm and silu_and_mul vs the references
    check_graph_buckets       lesson 11: the batch sizes captured, and the padding they cost

run_lessonN.py (aios/course/measure.py) calls KERNEL_CHECKS[N](module, args)
first, prints what it finds and keeps it in the results' "kernel_check".
Without a GPU the kernels run in Triton's CPU interpreter, on small tensors.
"""
import time

import torch

from aios.course.stages import stage_options


def _kernel_device() -> str:
    """Kernels are checked on the GPU when there is one, else in Triton's interpreter."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _packed(lens: list[int], device: str) -> torch.Tensor:
    return torch.tensor([0, *torch.tensor(lens).cumsum(0).tolist()], dtype=torch.int32, device=device)


def check_prefill_attention(module, args) -> dict:
    """Lesson 9: your prefill_attention against prefill_attention_ref, packed and paged.

    Small sizes: on a CPU the kernel runs in Triton's interpreter (seconds).
    """
    from aios.kernels.reference import prefill_attention_ref
    device = _kernel_device()
    small = args.tiny or device == "cpu"
    g = torch.Generator().manual_seed(0)
    heads, kv_heads, head_dim = (4, 2, 32) if small else (16, 8, 128)
    lens = [7, 33, 20] if small else [100, 513, 1024, 77]
    rand = lambda *shape: torch.randn(*shape, generator=g).to(device)  # noqa: E731
    scale = head_dim ** -0.5
    errors = {}
    # Packed: every sequence all new tokens.
    n, cu = sum(lens), _packed(lens, device)
    q, k, v = rand(n, heads, head_dim), rand(n, kv_heads, head_dim), rand(n, kv_heads, head_dim)
    case = (q, k, v, cu, cu, max(lens), max(lens), scale)
    start = time.perf_counter()
    out = module.prefill_attention(*case)
    seconds = time.perf_counter() - start
    errors["packed"] = (out - prefill_attention_ref(*case)).abs().max().item()
    # Paged: a cached prefix of `cached` tokens, keys read through block tables.
    block, cached = 16, [16, 0, 32, 64][:len(lens)]
    k_lens = [c + n for c, n in zip(cached, lens)]
    per_seq = [-(-n // block) for n in k_lens]
    k_cache, v_cache = rand(sum(per_seq), block, kv_heads, head_dim), rand(sum(per_seq), block, kv_heads, head_dim)
    perm = torch.randperm(sum(per_seq), generator=g).tolist()
    tables = torch.full((len(lens), max(per_seq)), -1, dtype=torch.int32)
    for b, count in enumerate(per_seq):
        tables[b, :count] = torch.tensor(perm[sum(per_seq[:b]):sum(per_seq[:b + 1])])
    case = (q, k, v, cu, _packed(k_lens, device), max(lens), max(k_lens), scale,
            k_cache, v_cache, tables.to(device))
    errors["paged"] = (module.prefill_attention(*case) - prefill_attention_ref(*case)).abs().max().item()
    where = "Triton's CPU interpreter" if device == "cpu" else torch.cuda.get_device_name()
    print(f"your prefill_attention vs prefill_attention_ref ({where}; float32; lengths {lens}, "
          f"{heads} query heads on {kv_heads} KV heads, head_dim {head_dim}):")
    for name, error in errors.items():
        print(f"  {name:<7} max |difference| = {error:.2e}  {'ok' if error < 1e-3 else 'WRONG'}")
    print(f"  packed: {seconds:.3f} s for one call{' (the interpreter: slow by design)' * (device == 'cpu')}")
    if device == "cpu":
        print("On a CPU lesson 9's engine keeps the PyTorch backend: both engines below run the same\n"
              "attention, so their ratio is noise. The kernel's speed-up needs a GPU.")
    print()
    return {"device": device, "lengths": lens, "max_abs_error": errors, "seconds": seconds,
            "ok": all(e < 1e-3 for e in errors.values())}


def check_fused_kernels(module, args) -> dict:
    """Lesson 10: your rms_norm (with and without the residual) and silu_and_mul vs the references."""
    from aios.kernels.reference import rms_norm_ref, silu_and_mul_ref
    device = _kernel_device()
    rows, hidden, inter = (8, 576, 1536) if device == "cpu" else (4096, 1024, 3072)
    g = torch.Generator().manual_seed(0)
    rand = lambda *shape: torch.randn(*shape, generator=g).to(device)  # noqa: E731
    x, res, w, gate_up = rand(rows, hidden), rand(rows, hidden), rand(hidden), rand(rows, 2 * inter)

    def rel(out, ref) -> float:
        return ((out - ref).norm() / ref.norm()).item()

    errors = {"rms_norm": rel(module.rms_norm(x, w, 1e-6), rms_norm_ref(x, w, 1e-6))}
    out, new_res = module.rms_norm(x, w, 1e-6, res)
    ref_out, ref_res = rms_norm_ref(x, w, 1e-6, res)
    errors["rms_norm + residual"] = max(rel(out, ref_out), rel(new_res, ref_res))
    errors["silu_and_mul"] = rel(module.silu_and_mul(gate_up), silu_and_mul_ref(gate_up))
    where = "Triton's CPU interpreter" if device == "cpu" else torch.cuda.get_device_name()
    print(f"your kernels vs the PyTorch references ({where}; float32; {rows} tokens, "
          f"hidden {hidden}, intermediate {inter}):")
    for name, error in errors.items():
        print(f"  {name:<20} relative error {error:.1e}  {'ok' if error < 1e-4 else 'WRONG'}")
    if device == "cpu":
        print("On a CPU the engine runs the PyTorch layers (the fused kernels need a GPU); your weight\n"
              "loaders do load the model below, so the tokens it generates check them.")
    print()
    return {"device": device, "relative_error": errors, "ok": all(e < 1e-4 for e in errors.values())}


def check_graph_buckets(module, args) -> dict:
    """Lesson 11: the captured batch sizes, and the padding they cost, from your functions."""
    from aios.course.measure import resolve_device  # measure imports this module: not at the top
    device = resolve_device(args.device)
    max_num_seqs = stage_options(11, device)["max_num_seqs"]
    print("CUDA graphs: the batch sizes captured and the padding each batch size replays with:")
    rows = {}
    for most in sorted({max_num_seqs, 32, 256}):
        sizes = module.capture_batch_sizes(most)
        padded = [module.padded_batch_size(b, sizes) for b in range(1, most + 1)]
        waste = sum(p - b for b, p in zip(range(1, most + 1), padded)) / sum(padded)
        rows[most] = {"batch_sizes": sizes, "padded_rows_fraction": waste}
        shown = ", ".join(f"{b}->{p}" for b, p in zip(range(1, most + 1), padded) if b != p)
        print(f"  max_num_seqs {most:>3}: {len(sizes)} graphs {sizes}")
        print(f"      padding: {shown[:100] + (' ...' if len(shown) > 100 else '') or 'none'}; "
              f"padded rows {waste:.1%} of the rows replayed, batch sizes 1..{most} equally likely")
    if device == "cpu":
        print("On a CPU there are no graphs: lesson 11's engine runs eagerly, like lesson 10's, and\n"
              "their ratio is noise. Your load() still fills every decode step's inputs below.")
    print()
    return {"buckets": rows}


KERNEL_CHECKS = {9: check_prefill_attention, 10: check_fused_kernels, 11: check_graph_buckets}
