"""GPU micro-benchmarks of aios's Triton kernels (needs CUDA).

    python benchmarks/kernels.py [--json results.json] [--sweep]

Each kernel is first checked against its reference at the benchmark size,
then timed with triton.testing.do_bench (median of the runs; do_bench clears
the L2 cache between runs, so every run reads from HBM):

  * decode attention, 256 sequences x 1,000 tokens, Qwen3-0.6B shapes
    (16 query heads, 8 KV heads, head_dim 128, bf16), KV block sizes
    16/32/64/256: achieved GB/s, bytes = K+V actually read + q + out, and the
    fraction of PEAK_GBS (the copy bandwidth measured on our H100);
  * prefill attention, 8 sequences x 4,096 tokens: TFLOP/s with causal FLOPs
    counted once (2 matmuls * 2 FLOPs * B*H*D*L^2 / 2), fresh and read
    through block tables (a full prefix-cache layout), with torch's SDPA as
    a yardstick;
  * RMSNorm (+residual), SiLU-and-mul, rotary and store_kvcache against
    their PyTorch references; Qwen3's fused q/k-norm + rotary against the
    three Triton kernels it replaces (q norm, k norm, rotary). At 32 tokens
    (a decode step's batch) these kernels are bound by launch, not bytes.

With the flash-attn package importable, the attention parts add flash-attn
rows beside the Triton ones (benchmarks/kernels_flash_attn.py says which).

--sweep also times a few tile configurations of the attention kernels (for
tuning the defaults in aios/kernels/{decode,prefill}_attention.py).
"""
import argparse
import importlib.util
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PEAK_GBS = 3000.0          # measured device-to-device copy bandwidth of the H100, GB/s
BYTES = {torch.bfloat16: 2, torch.float16: 2, torch.float32: 4}

# Qwen3-0.6B
HEADS, KV_HEADS, HEAD_DIM, HIDDEN, INTERMEDIATE = 16, 8, 128, 1024, 3072
DTYPE = torch.bfloat16
DEVICE = "cuda"


def rel_err(out, ref):
    out, ref = out.double(), ref.double()
    return ((out - ref).norm() / ref.norm()).item()


class Report:
    def __init__(self):
        self.rows, self.failures = [], []

    def check(self, name, out, ref, tol=1e-2):
        err = rel_err(out, ref)
        ok = err < tol
        print(f"  check {name:38s} rel L2 err {err:.2e}  {'ok' if ok else 'FAIL'}", flush=True)
        if not ok:
            self.failures.append(name)
        return err

    def add(self, **row):
        self.rows.append(row)
        print("  " + "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in row.items()), flush=True)


def bench(fn):
    from triton.testing import do_bench
    return do_bench(fn, warmup=25, rep=200, return_mode="median")  # ms


def paged_tables(lens, block_size, device, width=None):
    """Shuffled block ids (no sequence's blocks contiguous), -1 padded."""
    need = [math.ceil(n / block_size) for n in lens]
    width = width or max(need)
    num_blocks = sum(need)
    perm = torch.randperm(num_blocks, device=device).to(torch.int32)
    table = torch.full((len(lens), width), -1, dtype=torch.int32, device=device)
    used = 0
    for b, n in enumerate(need):
        table[b, :n] = perm[used:used + n]
        used += n
    return table, num_blocks


# ------------------------------------------------------------------- decode --
def bench_decode(report, sweep, flash=False, batch=256, ctx=1000):
    from aios.kernels.decode_attention import decode_attention
    from aios.kernels.reference import decode_attention_ref
    print(f"\ndecode attention: {batch} seqs x {ctx} tokens, H={HEADS} Hkv={KV_HEADS} "
          f"D={HEAD_DIM} {DTYPE}", flush=True)
    dev, scale = DEVICE, HEAD_DIM ** -0.5
    lens = [ctx] * batch
    for block_size in (16, 32, 64, 256):
        table, num_blocks = paged_tables(lens, block_size, dev)
        shape = (num_blocks, block_size, KV_HEADS, HEAD_DIM)
        k_cache = torch.randn(shape, device=dev, dtype=DTYPE)
        v_cache = torch.randn(shape, device=dev, dtype=DTYPE)
        q = torch.randn(batch, HEADS, HEAD_DIM, device=dev, dtype=DTYPE)
        context_lens = torch.tensor(lens, dtype=torch.int32, device=dev)
        out = decode_attention(q, k_cache, v_cache, context_lens, table, scale, ctx)
        ref = torch.cat([decode_attention_ref(q[i:i + 32].float(), k_cache, v_cache,
                                              context_lens[i:i + 32], table[i:i + 32], scale, ctx)
                         for i in range(0, batch, 32)])
        report.check(f"decode bs={block_size}", out, ref)
        nbytes = (2 * sum(lens) * KV_HEADS * HEAD_DIM + 2 * batch * HEADS * HEAD_DIM) * BYTES[DTYPE]
        configs = [{}]
        if sweep:
            configs += [dict(block_n=bn, num_warps=nw, num_stages=ns)
                        for bn in (32, 64, 128) for nw in (4, 8) for ns in (2, 3, 4)]
        for cfg in configs:
            try:
                ms = bench(lambda: decode_attention(q, k_cache, v_cache, context_lens, table,
                                                    scale, ctx, **cfg))
            except Exception as e:  # noqa: BLE001 - e.g. out of shared memory
                print(f"  config {cfg} failed: {type(e).__name__}: {str(e)[:80]}")
                continue
            gbs = nbytes / ms / 1e6
            report.add(kernel="decode_attention", block_size=block_size,
                       config=str(cfg or "default"), us=ms * 1e3, GBps=gbs,
                       frac_peak=gbs / PEAK_GBS)
        if flash and block_size % 256 == 0:
            from benchmarks.kernels_flash_attn import bench_flash_decode
            bench_flash_decode(report, q, k_cache, v_cache, context_lens, table, scale, out, nbytes)
        del k_cache, v_cache
        torch.cuda.empty_cache()


# ------------------------------------------------------------------ prefill --
def bench_prefill(report, sweep, flash=False, batch=8, seqlen=4096):
    import torch.nn.functional as F

    from aios.kernels.prefill_attention import prefill_attention
    from aios.kernels.reference import attention_ref
    print(f"\nprefill attention: {batch} seqs x {seqlen} tokens, H={HEADS} Hkv={KV_HEADS} "
          f"D={HEAD_DIM} {DTYPE}", flush=True)
    dev, scale = DEVICE, HEAD_DIM ** -0.5
    n = batch * seqlen
    q = torch.randn(n, HEADS, HEAD_DIM, device=dev, dtype=DTYPE)
    k = torch.randn(n, KV_HEADS, HEAD_DIM, device=dev, dtype=DTYPE)
    v = torch.randn(n, KV_HEADS, HEAD_DIM, device=dev, dtype=DTYPE)
    cu = torch.arange(0, n + 1, seqlen, dtype=torch.int32, device=dev)
    lens_t = torch.tensor([seqlen], device=dev)
    flops = 2 * 2 * batch * HEADS * HEAD_DIM * seqlen * seqlen / 2

    out = prefill_attention(q, k, v, cu, cu, seqlen, seqlen, scale)
    for b in range(batch):  # the reference one sequence at a time ([H, L, L] scores)
        rows = slice(b * seqlen, (b + 1) * seqlen)
        ref = attention_ref(q[None, rows].float(), k[None, rows], v[None, rows],
                            lens_t, lens_t, scale)[0]
        report.check(f"prefill seq {b}", out[rows], ref)

    # The same keys read from a paged cache through block tables.
    block_size = 16
    table, num_blocks = paged_tables([seqlen] * batch, block_size, dev)
    k_cache = torch.empty(num_blocks, block_size, KV_HEADS, HEAD_DIM, device=dev, dtype=DTYPE)
    v_cache = torch.empty_like(k_cache)
    pos = torch.arange(seqlen, device=dev)
    for b in range(batch):
        slots = table[b, pos // block_size].long() * block_size + pos % block_size
        k_cache.view(-1, KV_HEADS, HEAD_DIM)[slots] = k[b * seqlen:(b + 1) * seqlen]
        v_cache.view(-1, KV_HEADS, HEAD_DIM)[slots] = v[b * seqlen:(b + 1) * seqlen]
    out_paged = prefill_attention(q, k, v, cu, cu, seqlen, seqlen, scale, k_cache, v_cache, table)
    report.check("prefill paged == packed", out_paged, out.float(), tol=1e-3)

    configs = [{}]
    if sweep:
        configs += [dict(block_m=bm, block_n=bn, num_warps=nw, num_stages=ns)
                    for bm, bn, nw, ns in [(128, 64, 8, 3), (128, 64, 8, 4), (128, 128, 8, 3),
                                           (128, 128, 8, 2), (128, 64, 4, 3), (64, 64, 4, 3),
                                           (128, 32, 8, 4), (64, 128, 8, 3)]]
    for cfg in configs:
        for paged in (False, True):
            args = (k_cache, v_cache, table) if paged else ()
            try:
                ms = bench(lambda: prefill_attention(q, k, v, cu, cu, seqlen, seqlen, scale,
                                                     *args, **cfg))
            except Exception as e:  # noqa: BLE001
                print(f"  config {cfg} failed: {type(e).__name__}: {str(e)[:80]}")
                continue
            report.add(kernel="prefill_attention" + ("_paged" if paged else ""),
                       config=str(cfg or "default"), ms=ms, TFLOPs=flops / ms / 1e9)

    if flash:
        from benchmarks.kernels_flash_attn import bench_flash_prefill
        bench_flash_prefill(report, q, k, v, cu, batch, seqlen, scale, out, flops)

    # Yardstick: torch SDPA (flash attention) on the same problem.
    qs = q.view(batch, seqlen, HEADS, HEAD_DIM).transpose(1, 2)
    ks = k.view(batch, seqlen, KV_HEADS, HEAD_DIM).transpose(1, 2)
    vs = v.view(batch, seqlen, KV_HEADS, HEAD_DIM).transpose(1, 2)
    group = HEADS // KV_HEADS
    ks, vs = ks.repeat_interleave(group, 1).contiguous(), vs.repeat_interleave(group, 1).contiguous()
    qs = qs.contiguous()
    try:
        ms = bench(lambda: F.scaled_dot_product_attention(qs, ks, vs, is_causal=True, scale=scale))
        report.add(kernel="torch_sdpa (yardstick)", config="is_causal", ms=ms,
                   TFLOPs=flops / ms / 1e9)
    except Exception as e:  # noqa: BLE001
        print(f"  torch SDPA failed: {e}")


# ---------------------------------------------------------------- pointwise --
def bench_pointwise(report, tokens_list=(32, 256, 8192)):
    from aios.kernels.qk_norm_rotary import qk_norm_rotary
    from aios.kernels.reference import (qk_norm_rotary_ref, rms_norm_ref, rotary_ref,
                                        silu_and_mul_ref, store_kvcache_ref)
    from aios.kernels.rms_norm import rms_norm
    from aios.kernels.rotary import rotary
    from aios.kernels.silu_and_mul import silu_and_mul
    from aios.kernels.store_kvcache import store_kvcache
    print(f"\npointwise kernels (hidden {HIDDEN}, intermediate {INTERMEDIATE}, {DTYPE})", flush=True)
    dev, B = DEVICE, BYTES[DTYPE]

    def row(name, n, fused, ref, nbytes, baseline="torch"):
        t_fused, t_ref = bench(fused), bench(ref)
        report.add(kernel=name, tokens=n, us=t_fused * 1e3, torch_us=t_ref * 1e3,
                   baseline=baseline, speedup=t_ref / t_fused, GBps=nbytes / t_fused / 1e6)

    for n in tokens_list:
        x = torch.randn(n, HIDDEN, device=dev, dtype=DTYPE)
        res = torch.randn(n, HIDDEN, device=dev, dtype=DTYPE)
        w = torch.randn(HIDDEN, device=dev, dtype=DTYPE)
        out, new_res = rms_norm(x, w, 1e-6, res)
        ref_out, ref_res = rms_norm_ref(x.float(), w.float(), 1e-6, res.float())
        report.check(f"rms_norm+residual n={n}", out, ref_out)
        report.check(f"rms_norm new residual n={n}", new_res, ref_res)
        row("rms_norm+residual", n, lambda: rms_norm(x, w, 1e-6, res),
            lambda: rms_norm_ref(x, w, 1e-6, res), 4 * n * HIDDEN * B)

        g = torch.randn(n, 2 * INTERMEDIATE, device=dev, dtype=DTYPE)
        report.check(f"silu_and_mul n={n}", silu_and_mul(g), silu_and_mul_ref(g.float()))
        row("silu_and_mul", n, lambda: silu_and_mul(g), lambda: silu_and_mul_ref(g),
            3 * n * INTERMEDIATE * B)

        inv_freq = 1.0 / 1e6 ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float64) / HEAD_DIM)
        angles = torch.outer(torch.arange(40960, dtype=torch.float64), inv_freq)
        cache = torch.cat((angles.cos(), angles.sin()), -1).float().to(dev)
        positions = torch.randint(0, 40960, (n,), device=dev)
        q = torch.randn(n, HEADS, HEAD_DIM, device=dev, dtype=DTYPE)
        k = torch.randn(n, KV_HEADS, HEAD_DIM, device=dev, dtype=DTYPE)
        q_ref, k_ref = rotary_ref(positions, q.float(), k.float(), cache)
        q2, k2 = rotary(positions, q.clone(), k.clone(), cache)
        report.check(f"rotary q n={n}", q2, q_ref)
        report.check(f"rotary k n={n}", k2, k_ref)
        row("rotary (in place)", n, lambda: rotary(positions, q, k, cache),
            lambda: rotary_ref(positions, q, k, cache), 2 * n * (HEADS + KV_HEADS) * HEAD_DIM * B)

        qw = 1 + 0.1 * torch.randn(HEAD_DIM, device=dev, dtype=DTYPE)
        kw = 1 + 0.1 * torch.randn(HEAD_DIM, device=dev, dtype=DTYPE)
        q_ref, k_ref = qk_norm_rotary_ref(positions, q.float(), k.float(), qw.float(), kw.float(),
                                          1e-6, cache)
        q2, k2 = qk_norm_rotary(positions, q.clone(), k.clone(), qw, kw, 1e-6, cache)
        report.check(f"qk_norm_rotary q n={n}", q2, q_ref)
        report.check(f"qk_norm_rotary k n={n}", k2, k_ref)

        def three_kernels():  # what a layer ran before the fusion
            rotary(positions, rms_norm(q, qw, 1e-6), rms_norm(k, kw, 1e-6), cache)
        row("qk_norm+rotary (fused)", n, lambda: qk_norm_rotary(positions, q, k, qw, kw, 1e-6, cache),
            three_kernels, 2 * n * (HEADS + KV_HEADS) * HEAD_DIM * B, baseline="3 kernels")

        block_size = 16
        num_blocks = n // block_size + 1
        kc = torch.zeros(num_blocks, block_size, KV_HEADS, HEAD_DIM, device=dev, dtype=DTYPE)
        vc, kc_ref, vc_ref = torch.zeros_like(kc), torch.zeros_like(kc), torch.zeros_like(kc)
        slots = torch.randperm(num_blocks * block_size, device=dev)[:n].to(torch.int32)
        store_kvcache(k, k, kc, vc, slots)
        store_kvcache_ref(k, k, kc_ref, vc_ref, slots)
        ok = torch.equal(kc, kc_ref) and torch.equal(vc, vc_ref)
        print(f"  check store_kvcache n={n}: {'ok' if ok else 'FAIL'}")
        if not ok:
            report.failures.append(f"store_kvcache n={n}")
        row("store_kvcache", n, lambda: store_kvcache(k, k, kc, vc, slots),
            lambda: store_kvcache_ref(k, k, kc_ref, vc_ref, slots), 4 * n * KV_HEADS * HEAD_DIM * B)


def print_table(rows):
    print("\n" + "=" * 108)
    for r in rows:
        kern = r["kernel"]
        if kern.startswith("decode"):
            print(f"{kern:36s} bs={r['block_size']:<4d} {r['config']:<44s} {r['us']:9.1f} us "
                  f"{r['GBps']:8.0f} GB/s  {100 * r['frac_peak']:5.1f}% of {PEAK_GBS:.0f}")
        elif "prefill" in kern or "sdpa" in kern:
            print(f"{kern:36s} {r['config']:<52s} {r['ms']:9.3f} ms {r['TFLOPs']:8.1f} TFLOP/s")
        else:
            print(f"{kern:36s} n={r['tokens']:<6d} triton {r['us']:8.1f} us  "
                  f"{r.get('baseline', 'torch')} {r['torch_us']:8.1f} us"
                  f"  x{r['speedup']:5.2f}  {r['GBps']:7.0f} GB/s")
    print("=" * 108)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="PATH", help="save the results as JSON")
    parser.add_argument("--sweep", action="store_true", help="also time other tile configs")
    parser.add_argument("--only", choices=["decode", "prefill", "attention", "pointwise"], default=None,
                        help="one part (attention = decode and prefill)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("benchmarks/kernels.py needs a CUDA GPU (the Triton kernels are timed on it); "
                 "on a CPU run `python -m pytest tests/test_kernels.py` instead.")
    import triton
    torch.manual_seed(0)
    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}  "
          f"triton {triton.__version__}")
    flash = importlib.util.find_spec("flash_attn") is not None
    print("flash-attn rows:", "yes" if flash else "no (the flash-attn package is not installed)")
    report = Report()
    if args.only in (None, "decode", "attention"):
        bench_decode(report, args.sweep, flash)
    if args.only in (None, "prefill", "attention"):
        bench_prefill(report, args.sweep, flash)
    if args.only in (None, "pointwise"):
        bench_pointwise(report)
    print_table(report.rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                       "triton": triton.__version__, "peak_GBps": PEAK_GBS,
                       "results": report.rows, "failures": report.failures}, f, indent=1)
        print(f"saved {args.json}")
    if report.failures:
        sys.exit(f"correctness FAILED: {report.failures}")
    print("all correctness checks passed")


if __name__ == "__main__":
    main()
