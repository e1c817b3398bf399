"""What folding the RMSNorms into the skinny GEMMs buys (aios/layers/fused_decode.py; needs CUDA).

    python benchmarks/fused_decode.py [--rows 1,4,16,32] [--json PATH]

Two measurements, each a CUDA graph of back-to-back launches
(triton.testing.do_bench_cudagraph) on Qwen3-0.6B's shapes, with PDL as the
engine launches them:
  1. chains: the 28 decode layers minus attention (a slice of qkv stands in
     for it), each layer with its own weights, two ways:
        layers    RMSNorm kernels, GEMMs, SiLU-and-mul (the layers as written)
        fused     the norms inside the GEMMs around them (the engine's decode graphs)
     each also against the same chain in float32 (relative error);
  2. kernels: each GEMM alone, plain and with its part of the fusion, over
     copies of the weights past the L2 (as the layers stream them).
Results go to --json after each part.
"""
import argparse
import itertools
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aios.kernels.rms_norm import rms_norm  # noqa: E402
from aios.kernels.silu_and_mul import silu_and_mul  # noqa: E402
from aios.kernels.skinny_gemm import pick_config, skinny_gemm  # noqa: E402

HIDDEN, INTER, Q, KV, LAYERS = 1024, 3072, 2048, 1024, 28
BF16, DEVICE = torch.bfloat16, "cuda"


def time_us(fn) -> float:
    from triton.testing import do_bench_cudagraph
    return do_bench_cudagraph(fn, rep=20, return_mode="median") * 1e3


def make_layers():
    def w(n, k):
        return torch.randn(n, k, device=DEVICE, dtype=BF16) / k ** 0.5

    def g(n):
        return 1.0 + 0.1 * torch.randn(n, device=DEVICE, dtype=BF16)
    return [dict(qkv=w(Q + 2 * KV, HIDDEN), o=w(HIDDEN, Q), gate_up=w(2 * INTER, HIDDEN),
                 down=w(HIDDEN, INTER), ln1=g(HIDDEN), ln2=g(HIDDEN)) for _ in range(LAYERS)]


def attend(qkv):
    return qkv[:, :Q]          # a stand-in: the chain measures everything but attention


def chain(layers, x, fused: bool):
    """The 28 layers' non-attention work, as the engine launches it one way or the other."""
    if fused:
        s, norm_in = x, None
        for i, L in enumerate(layers):
            nxt = layers[i + 1]["ln1"] if i + 1 < len(layers) else None
            h = skinny_gemm(rms_norm(s, L["ln1"], 1e-6), L["qkv"]) if norm_in is None else \
                skinny_gemm(norm_in, L["qkv"])
            s, norm_in = skinny_gemm(attend(h), L["o"], residual=s, next_norm=(L["ln2"], 1e-6))
            act = silu_and_mul(skinny_gemm(norm_in, L["gate_up"]))
            if nxt is None:
                s = skinny_gemm(act, L["down"], residual=s)
            else:
                s, norm_in = skinny_gemm(act, L["down"], residual=s, next_norm=(nxt, 1e-6))
        return rms_norm(s, layers[0]["ln1"], 1e-6)
    return layers_chain(layers, x)


def layers_chain(layers, x, gemm=None):
    """The layers as written; gemm(a, layer index, name) launches each GEMM (default:
    the skinny GEMM with that layer's weight; benchmarks/l2_prefetch.py adds to it)."""
    gemm = gemm or (lambda a, i, name: skinny_gemm(a, layers[i][name]))
    h, r = x, None
    for i, L in enumerate(layers):
        if r is None:
            r, h = h, rms_norm(h, L["ln1"], 1e-6)
        else:
            h, r = rms_norm(h, L["ln1"], 1e-6, r)
        h = gemm(attend(gemm(h, i, "qkv")), i, "o")
        h, r = rms_norm(h, L["ln2"], 1e-6, r)
        h = gemm(silu_and_mul(gemm(h, i, "gate_up")), i, "down")
    return rms_norm(h, layers[0]["ln1"], 1e-6, r)[0]


def chain_exact(layers, x):
    """The same layers in float32 (PyTorch): what both ways should come close to."""
    def norm(t, w):
        return t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + 1e-6) * w.float()
    s = x.float()
    for L in layers:
        s = s + attend(norm(s, L["ln1"]) @ L["qkv"].float().T) @ L["o"].float().T
        gate, up = (norm(s, L["ln2"]) @ L["gate_up"].float().T).chunk(2, dim=-1)
        s = s + (torch.nn.functional.silu(gate) * up) @ L["down"].float().T
    return norm(s, layers[0]["ln1"])


def kernel_rows(m, rings):
    """Each GEMM alone: plain, and with its part of the fusion."""
    x1 = torch.randn(m, HIDDEN, device=DEVICE, dtype=BF16)
    g = 1.0 + 0.1 * torch.randn(HIDDEN, device=DEVICE, dtype=BF16)
    xo, xd = (torch.randn(m, k, device=DEVICE, dtype=BF16) for k in (Q, INTER))
    res = torch.randn(m, HIDDEN, device=DEVICE, dtype=BF16)
    _, norm_in = skinny_gemm(xo, rings["o"][0], residual=res, next_norm=(g, 1e-6))
    nxt = {name: itertools.cycle(ws) for name, ws in rings.items()}
    cases = {
        "rms_norm+residual": lambda: rms_norm(res, g, 1e-6, res),
        "qkv": lambda: skinny_gemm(x1, next(nxt["qkv"])),
        "qkv, 1/rms from the o GEMM": lambda: skinny_gemm(norm_in, next(nxt["qkv"])),
        "gate_up": lambda: skinny_gemm(x1, next(nxt["gate_up"])),
        "gate_up, 1/rms from the o GEMM": lambda: skinny_gemm(norm_in, next(nxt["gate_up"])),
        "o": lambda: skinny_gemm(xo, next(nxt["o"])),
        "o+residual": lambda: skinny_gemm(xo, next(nxt["o"]), residual=res),
        "o+residual+next norm's input": lambda: skinny_gemm(xo, next(nxt["o"]), residual=res,
                                                            next_norm=(g, 1e-6)),
        "down": lambda: skinny_gemm(xd, next(nxt["down"])),
        "down+residual+next norm's input": lambda: skinny_gemm(xd, next(nxt["down"]), residual=res,
                                                               next_norm=(g, 1e-6)),
    }
    return {name: time_us(fn) for name, fn in cases.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="1,4,16,32")
    p.add_argument("--json", default=os.path.join(os.environ.get("OUT", "."), "fused_decode.json"))
    args = p.parse_args()
    rows = [int(r) for r in args.rows.split(",")]
    results = {"gpu": torch.cuda.get_device_name(), "chains_us": {}, "kernels_us": {}}

    def save():
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)

    layers = make_layers()
    for m in rows:
        x = torch.randn(m, HIDDEN, device=DEVICE, dtype=BF16)
        ref = chain_exact(layers, x)
        row = {}
        for name, fused in (("layers", False), ("fused", True)):
            err = ((chain(layers, x, fused).float() - ref).norm() / ref.norm()).item()
            row[name] = time_us(lambda: chain(layers, x, fused))
            print(f"M={m:3d} chain {name:7s} {row[name]:8.1f} us  (rel. err. vs float32 {err:.2e})", flush=True)
        results["chains_us"][m] = row
        save()
    rings = {name: [L[name] for L in layers] for name in ("qkv", "o", "gate_up", "down")}
    for m in rows:
        res = kernel_rows(m, rings)
        for name, us in res.items():
            print(f"M={m:3d} {name:40s} {us:7.2f} us", flush=True)
        print(f"M={m:3d} configs picked: " + ", ".join(
            f"{n}={tuple(pick_config(m, *L.shape, torch.device(DEVICE)))}" for n, L in layers[0].items() if L.dim() == 2))
        results["kernels_us"][m] = res
        save()


if __name__ == "__main__":
    main()
