"""Each step's sampling inputs, in buffers made once (like DecodeInputs).

Per row: its temperature (0 = greedy), and the counter of its noise, (seed,
position of the token being sampled); top-k / top-p only for the rows that
ask for them. The three per-row arrays live in pinned host buffers that numpy
fills in place, copied each step into device twins of fixed address.

Fixed addresses matter beyond the saved allocations: Triton compiles a kernel
variant per alignment of its pointer arguments. Slices of one fresh tensor
(seeds and positions used to be its two rows) start 16-byte aligned or not
depending on the batch size, and every new alignment compiled a new sampler
kernel in the middle of a run.
"""
import torch

from aios.engine.decode_inputs import pinned_buffers, to_device
from aios.engine.sequence import Sequence


class SamplingInputs:
    def __init__(self, max_num_seqs: int, vocab_size: int, device: torch.device):
        self.on_gpu = device.type == "cuda"
        self.vocab_size = vocab_size
        self.torch_device = device
        n = max_num_seqs
        self.host, self.device = pinned_buffers(
            (("temperatures", (n,), torch.float32), ("seeds", (n,), torch.long),
             ("positions", (n,), torch.long)), device)

    def load(self, seqs: list[Sequence]) -> dict:
        """-> the Sampler's keyword arguments for these rows (device tensors)."""
        b, h = len(seqs), self.host
        params = [seq.sampling_params for seq in seqs]
        h["temperatures"][:b] = [0.0 if p.greedy else max(p.temperature, 1e-5) for p in params]
        # Every row's noise is a function of (its seed, the position sampled,
        # token id): the same whatever batch the sequence is in (Sampler).
        # Only a seed's low 32 bits count.
        h["seeds"][:b] = [seq.sampling_seed & 0xFFFFFFFF for seq in seqs]
        h["positions"][:b] = [len(seq) for seq in seqs]
        inputs = {}
        for name, dev in self.device.items():
            if self.on_gpu:
                dev[:b].copy_(torch.from_numpy(h[name][:b]), non_blocking=True)
            inputs[name] = dev[:b]
        top_rows = [i for i, p in enumerate(params) if not p.greedy and (p.top_k > 0 or p.top_p < 1)]
        if top_rows:  # only these rows are sorted (rare: plain tensors will do)
            dev = self.torch_device
            inputs["top_ks"] = to_device([p.top_k if p.top_k > 0 else self.vocab_size
                                          for p in params], torch.long, dev)
            inputs["top_ps"] = to_device([p.top_p for p in params], torch.float32, dev)
            inputs["top_rows"] = to_device(top_rows, torch.long, dev)
        return inputs
