"""Each step's sampling inputs, in buffers made once (like DecodeInputs).

Per row: its temperature (0 = greedy), and the counter of its noise, (seed,
position of the token being sampled); top-k / top-p (and which rows use
them) only in steps where some row asks for them. Every per-row array lives
in a pinned host buffer that numpy fills in place, copied each step into a
device twin of fixed address: no tensor is made per step.

Fixed addresses matter beyond the saved allocations: Triton compiles a kernel
variant per alignment of its pointer arguments. Slices of one fresh tensor
(seeds and positions used to be its two rows) start 16-byte aligned or not
depending on the batch size, and every new alignment compiled a new sampler
kernel in the middle of a run.
"""
import torch

from aios.engine.decode_inputs import CopyFence, pinned_buffers
from aios.engine.sequence import Sequence
from aios.kernels.top_k_top_p import MAX_CANDIDATES, num_candidates_for


class SamplingInputs:
    def __init__(self, max_num_seqs: int, vocab_size: int, device: torch.device):
        self.on_gpu = device.type == "cuda"
        self.vocab_size = vocab_size
        n = max_num_seqs
        self.host, self.device = pinned_buffers(
            (("temperatures", (n,), torch.float32), ("seeds", (n,), torch.long),
             ("positions", (n,), torch.long)), device)
        self.copied = CopyFence(self.on_gpu)   # the host buffers are refilled after it
        # Of the last load(): rows with top-k / top-p, whether every such row's top_k is
        # within the candidates, and the candidates per row (TP: message()).
        self.num_top_rows, self.heads_fit_candidates, self.num_candidates = 0, True, None
        # Filled only in steps where some row asks for top-k / top-p.
        self.top_host, self.top_device = pinned_buffers(
            (("top_ks", (n,), torch.long), ("top_ps", (n,), torch.float32),
             ("top_rows", (n,), torch.long)), device)

    def load(self, seqs: list[Sequence]) -> dict:
        """-> the Sampler's keyword arguments for these rows (device tensors)."""
        b, h = len(seqs), self.host
        params = [seq.sampling_params for seq in seqs]
        self.copied.wait()
        h["temperatures"][:b] = [0.0 if p.greedy else max(p.temperature, 1e-5) for p in params]
        # Every row's noise is a function of (its seed, the position sampled,
        # token id): the same whatever batch the sequence is in (Sampler).
        # Only a seed's low 32 bits count.
        h["seeds"][:b] = [seq.sampling_seed & 0xFFFFFFFF for seq in seqs]
        h["positions"][:b] = [len(seq) for seq in seqs]
        inputs = self._copy(self.host, self.device, b)
        top_rows = [i for i, p in enumerate(params) if not p.greedy and (p.top_k > 0 or p.top_p < 1)]
        # Under TP a top-k / top-p cut is found from every rank's best candidates, which
        # hold the whole kept head when each such row has a top_k within them.
        self.heads_fit_candidates = all(0 < params[i].top_k <= MAX_CANDIDATES for i in top_rows)
        self.num_top_rows = len(top_rows)
        if top_rows:
            h, r = self.top_host, len(top_rows)
            top_ks = [p.top_k if p.top_k > 0 else self.vocab_size for p in params]
            h["top_ks"][:b] = top_ks
            h["top_ps"][:b] = [p.top_p for p in params]
            h["top_rows"][:r] = top_rows
            inputs.update(self._copy(h, self.top_device, b))
            inputs["top_rows"] = inputs["top_rows"][:r]
            # The sampler's candidates per row: a power of two >= the largest
            # top_k (capped), so that few shapes ever occur.
            largest_k = max((params[i].top_k for i in top_rows if params[i].top_k > 0), default=0)
            self.num_candidates = inputs["num_candidates"] = num_candidates_for(largest_k)
        self.copied.record()
        return inputs

    def message(self, b: int) -> tuple:
        """The last load()'s rows, for the TP workers (each rank samples its slice of the
        vocabulary: Sampler.sample_vocab_parallel): temperatures, seeds, positions, and
        when some row asks for them, top_ks, top_ps and the candidates per row."""
        h, top = self.host, self.top_host
        rows = (h["temperatures"][:b].copy(), h["seeds"][:b].copy(), h["positions"][:b].copy())
        if not self.num_top_rows:
            return rows
        return rows + (top["top_ks"][:b].copy(), top["top_ps"][:b].copy(), self.num_candidates)

    def load_message(self, message: tuple) -> dict:
        """What load() does, from rank 0's message() (no top_rows: the slices need none)."""
        temperatures, seeds, positions, *top = message
        b, h = len(temperatures), self.host
        self.copied.wait()
        h["temperatures"][:b], h["seeds"][:b], h["positions"][:b] = temperatures, seeds, positions
        inputs = self._copy(self.host, self.device, b)
        if top:
            top_ks, top_ps, num_candidates = top
            self.top_host["top_ks"][:b], self.top_host["top_ps"][:b] = top_ks, top_ps
            inputs.update(self._copy({k: self.top_host[k] for k in ("top_ks", "top_ps")},
                                     {k: self.top_device[k] for k in ("top_ks", "top_ps")}, b))
            inputs["num_candidates"] = num_candidates
        self.copied.record()
        return inputs

    def _copy(self, host: dict, device: dict, b: int) -> dict:
        """Rows [0, b) of each host buffer into its device twin (no new tensors)."""
        out = {}
        for name, dev in device.items():
            if self.on_gpu:
                dev[:b].copy_(torch.from_numpy(host[name][:b]), non_blocking=True)
            out[name] = dev[:b]
        return out
