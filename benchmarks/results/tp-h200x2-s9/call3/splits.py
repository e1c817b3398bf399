"""Decode attention at TP=1 / TP=2 head counts (Qwen3-8B: 32/8 and 16/4 heads), nano-like contexts,
by split size (256 = what a CUDA graph gets when B * Hkv < 2 * SMs; 'direct' = one split)."""
import json, sys
import torch
from triton.testing import do_bench_cudagraph
from aios.kernels.decode_attention import decode_attention
torch.manual_seed(0)
dev = "cuda"; D = 128; BS = 16; CAP = 8192
out = []
for H, HKV in [(32, 8), (16, 4)]:
    for B in [8, 16, 32, 48, 64, 96, 128]:
        lens = torch.randint(200, 2048, (B,), dtype=torch.int32)
        nblk = int(sum((l + BS - 1) // BS for l in lens.tolist()))
        k = torch.randn(nblk + 1, BS, HKV, D, device=dev, dtype=torch.bfloat16)
        v = torch.randn_like(k)
        tables = torch.full((B, CAP // BS), -1, dtype=torch.int32)
        nxt = 0
        for i, l in enumerate(lens.tolist()):
            n = (l + BS - 1) // BS
            tables[i, :n] = torch.arange(nxt, nxt + n); nxt += n
        tables, lens_d = tables.to(dev), lens.to(dev)
        q = torch.randn(B, H, D, device=dev, dtype=torch.bfloat16)
        ref = decode_attention(q, k, v, lens_d, tables, D ** -0.5, split_tokens=CAP)
        row = {"H": H, "Hkv": HKV, "B": B, "kv_MB": round(2 * int(lens.sum()) * HKV * D * 2 / 1e6, 1)}
        for s in [256, 512, 1024, 2048, CAP, None]:
            f = lambda: decode_attention(q, k, v, lens_d, tables, D ** -0.5, split_tokens=s)
            err = (f().float() - ref.float()).abs().max().item()
            row[str(s if s != CAP else "direct") if s else "default"] = round(do_bench_cudagraph(f) * 1e3, 1)
            assert err < 2e-2, err
        print(row, flush=True); out.append(row)
json.dump(out, open(sys.argv[1], "w"), indent=1)
