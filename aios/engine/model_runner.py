"""Runs the model: builds each step's input tensors, owns the KV cache.

For a step it turns the scheduled sequences into flat tensors:
    input_ids, positions   [N]    the tokens to compute, packed
    slot_mapping           [N]    where each token's K/V goes in the cache
    cu_seqlens_q/k         [B+1]  prefill: sequence boundaries in the pack
    context_lens           [B]    decode: tokens in each sequence's cache
    block_tables           [B, M] each sequence's physical blocks
then runs the model, samples, and returns one token per sequence. The
`.tolist()` of the sampled tokens is the step's only host-device sync.
"""
import os
from functools import partial

import numpy as np
import torch
import torch.distributed as dist

from aios.backends import get_backend, resolve_backend_name
from aios.config import Config
from aios.engine import paging
from aios.engine.cuda_graph import CUDAGraphRunner
from aios.engine.decode_inputs import DecodeInputs, to_device
from aios.engine.kv_budget import count_kv_blocks
from aios.engine.logprobs import LogprobPlan, prompt_logit_rows
from aios.engine.sampling_inputs import SamplingInputs
from aios.engine.sequence import Sequence
from aios.engine.step_output import StepOutput, take_pending_tokens
from aios.layers.attention import Attention
from aios.layers.sampler import Sampler
from aios.models import get_model_class
from aios.utils.context import reset_context, set_context
from aios.utils.distributed import broadcast, get_tp_size, min_over_ranks
from aios.utils.loader import init_random_weights, load_model
from aios.utils.p2p import use_p2p_all_reduce


class ModelRunner:
    # Tensor parallelism: on rank 0, the engine sets this to its TPWorkers, so
    # that the workers run every step that rank 0 runs (aios/engine/tp_group.py).
    workers = None

    def __init__(self, config: Config):
        self.config = config
        self.hf_config = config.hf_config
        self.device = torch.device(config.device)
        self.dtype = config.torch_dtype
        self.block_size = config.block_size
        self.max_blocks_per_seq = -(-config.max_model_len // config.block_size)
        self.model = self._build_model()
        # Under TP on GPUs that can read each other's memory (AIOS_TP_ALL_REDUCE=auto): decode-sized
        # all-reduces read the peers' GPUs directly (aios/utils/p2p.py). all_reduce says which ran.
        p2p = use_p2p_all_reduce(config.max_num_seqs * self.hf_config.hidden_size, self.dtype, self.device)
        self.all_reduce = None if get_tp_size() == 1 else "p2p" if p2p else dist.get_backend()
        self.sampler = Sampler()
        self.backend_name = resolve_backend_name(config.attention_backend, self.device.type)
        backend = get_backend(self.backend_name)
        self.attention_layers = [m for m in self.model.modules() if isinstance(m, Attention)]
        for layer in self.attention_layers:
            layer.backend = backend
        if self.device.type == "cuda" and self.backend_name == "triton":
            from aios.kernels.decode_attention import FUSED_MERGE, merge_counters
            if FUSED_MERGE:
                merge_counters(self.device)   # now, so that no CUDA graph owns them
        if self.device.type == "cuda" and self.backend_name != "torch" and config.fused_kernels:
            self._use_triton_layer_kernels()
        self.num_kv_blocks = self._allocate_kv_cache()
        self.decode_inputs = DecodeInputs(config.max_num_seqs, self.max_blocks_per_seq, self.device)
        self.sampling_inputs = SamplingInputs(config.max_num_seqs, self.hf_config.vocab_size, self.device)
        self.last_step: StepOutput | None = None
        # Async scheduling under TP: every rank must hold each step's tokens on its own
        # device, for the next step's pending rows (tp_worker.py). Sampled by vocabulary
        # slices, they do; sampled by rank 0 alone, rank 0 broadcasts them.
        self.share_sampled = config.async_scheduling and get_tp_size() > 1
        self.slice_sampling, self.slice_cuts = self._can_sample_vocab_slices()
        self.graph_runner = None
        if (self.device.type == "cuda" and not config.enforce_eager and self.backend_name != "torch"
                and config.enable_kv_cache):
            # The torch backend sizes its tensors from host values: not capturable.
            self.graph_runner = CUDAGraphRunner(self.model, self.decode_inputs, config.max_num_seqs,
                                                self.hf_config.hidden_size, self.dtype)
            try:
                self.graph_runner.capture()
            except BaseException:
                self.release_cuda_graphs()  # else the process group could not be left
                raise

    def release_cuda_graphs(self) -> None:
        """Destroy the CUDA graphs; decode steps then run eagerly.

        Under TP this must come before leaving the process group: NCCL waits,
        forever, for every graph holding one of its collectives to be destroyed
        before it destroys (or aborts) a communicator."""
        if self.graph_runner is not None:
            self.graph_runner.release()
            self.graph_runner = None

    # ----------------------------------------------------------------- setup --
    def _build_model(self) -> torch.nn.Module:
        torch.set_default_dtype(self.dtype)
        try:
            with torch.device(self.device):
                model = get_model_class(self.hf_config)(self.hf_config)
        finally:
            torch.set_default_dtype(torch.float32)
        if self.config.is_random:
            init_random_weights(model, self.config.seed)
        else:
            load_model(model, self.config.model_path)
        return model.eval()

    def _use_triton_layer_kernels(self) -> None:
        """Swap the layers' PyTorch references for the fused Triton kernels."""
        from aios.kernels.qk_norm_rotary import STORE_KV, qk_norm_rotary
        from aios.kernels.rms_norm import rms_norm
        from aios.kernels.rotary import rotary
        from aios.kernels.silu_and_mul import silu_and_mul
        from aios.layers.activation import SiluAndMul
        from aios.layers.layernorm import RMSNorm
        from aios.layers.rotary_embedding import RotaryEmbedding
        from aios.models.qwen3 import Qwen3Attention
        kernels = {RMSNorm: rms_norm, SiluAndMul: silu_and_mul, RotaryEmbedding: rotary}
        for module in self.model.modules():
            if type(module) in kernels:
                module.impl = kernels[type(module)]
            elif isinstance(module, Qwen3Attention):   # Llama and Qwen2 use it too
                module.fused_qk_norm_rotary = qk_norm_rotary
                module.fused_kv_store = STORE_KV
        from aios.kernels.sampling import gumbel_sample
        from aios.kernels.top_k_top_p import top_k_top_p_thresholds
        self.sampler.impl = gumbel_sample   # one pass over the logits (aios/kernels/sampling.py)
        self.sampler.scores_impl = partial(gumbel_sample, with_scores=True)   # TP: a vocabulary slice
        self.sampler.threshold_impl = top_k_top_p_thresholds   # top-k / top-p without a sort
        if self.config.skinny_gemm:
            self._use_skinny_gemm()

    def _use_skinny_gemm(self) -> None:
        """Decode-sized matmuls through a kernel that spreads the weight read over every SM."""
        from aios.kernels.skinny_gemm import skinny_linear, tile_counters
        from aios.layers.fused_decode import FusedDecode
        from aios.layers.linear import LinearBase
        from aios.models.qwen3 import Qwen3Model
        for module in self.model.modules():
            if isinstance(module, LinearBase):
                module.impl = skinny_linear
            elif isinstance(module, Qwen3Model):   # its norms inside the GEMMs around them
                module.fused_decode = FusedDecode.for_model(module)
        tile_counters(self.device)   # now, so that no CUDA graph owns them

    def _can_sample_vocab_slices(self) -> tuple[bool, bool]:
        """TP: may each rank sample its own slice of the vocabulary, instead of rank 0
        gathering the whole logits (Sampler.sample_vocab_parallel)? And may steps with
        top-k / top-p rows too (their cuts from every rank's candidates)? Only with
        the engine's own samplers (a course plug-in sees whole rows).

        AIOS_TP_SAMPLING: slices (the default: steps of temperature-only rows by
        slices, faster than gathering on `nano`, 15,540 vs 15,360 tok/s), slices+cuts
        (top-k / top-p steps too: exact, but measured no faster on `nano` with chat
        clients' top_k / top_p, 14,620 vs 14,776, and suspected in lesson 14's 17%
        loss; BENCHMARKS.md, sessions 9 and 10), or gather (every step)."""
        choice = os.environ.get("AIOS_TP_SAMPLING", "slices")
        if choice not in ("slices", "slices+cuts", "gather"):
            raise ValueError(f"AIOS_TP_SAMPLING must be slices, slices+cuts or gather, got {choice!r}")
        ours = getattr(self.sampler.impl, "__module__", "") in ("aios.kernels.reference",
                                                               "aios.kernels.sampling")
        head, tp = self.model.lm_head, get_tp_size()
        every_rank_has_tokens = head.vocab_size - (tp - 1) * head.rows > 0   # the last slice is short
        exact_ids = head.vocab_size < 2**24   # ids travel as float32 (Sampler.sample_vocab_parallel)
        by_slices = tp > 1 and choice != "gather" and ours and every_rank_has_tokens and exact_ids
        return by_slices, by_slices and choice == "slices+cuts"

    def kv_bytes_per_block(self) -> int:
        layer = self.attention_layers[0]
        per_token = 2 * layer.num_kv_heads * layer.head_dim * self.dtype.itemsize
        return per_token * self.block_size * len(self.attention_layers)

    def _allocate_kv_cache(self) -> int:
        if not self.config.enable_kv_cache:
            # Blocks are still counted (the scheduler works the same) but hold
            # nothing: every step recomputes all tokens (see run()).
            return self.config.max_num_seqs * self.max_blocks_per_seq
        num_blocks = count_kv_blocks(self.config, self.model, self.device, self.kv_bytes_per_block(),
                                     self.max_blocks_per_seq)
        num_blocks = min_over_ranks(num_blocks, self.device)  # TP: all ranks agree
        layer = self.attention_layers[0]
        # [K/V, layer, block, offset in block, kv head, head dim]
        self.kv_cache = torch.empty(2, len(self.attention_layers), num_blocks, self.block_size,
                                    layer.num_kv_heads, layer.head_dim,
                                    dtype=self.dtype, device=self.device)
        for i, attn in enumerate(self.attention_layers):
            attn.k_cache, attn.v_cache = self.kv_cache[0, i], self.kv_cache[1, i]
        return num_blocks

    # --------------------------------------------------------------- inputs --
    def _tensor(self, data, dtype) -> torch.Tensor:
        return to_device(data, dtype, self.device)

    def _block_tables(self, seqs: list[Sequence], width: int) -> torch.Tensor:
        rows = [seq.block_table + [-1] * (width - len(seq.block_table)) for seq in seqs]
        return self._tensor(rows, torch.int32)

    def prepare_prefill(self, seqs: list[Sequence]):
        input_ids, positions, slot_mapping = [], [], []
        cu_q, cu_k = [0], [0]
        for seq in seqs:
            start = seq.prefill_start               # cached prefix: nothing to compute
            input_ids += seq.token_ids[start:]
            positions += range(start, len(seq))
            cu_q.append(cu_q[-1] + len(seq) - start)
            cu_k.append(cu_k[-1] + len(seq))
            # A recomputed cached prefix (prompt logprobs) is not stored again.
            slot_mapping += [-1] * (seq.num_cached_tokens - start)
            slot_mapping += paging.prefill_slots(seq, self.block_size)
        has_prefix_hits = cu_k[-1] > cu_q[-1]
        prompt_rows = prompt_logit_rows(seqs, cu_q)
        max_blocks = max(len(seq.block_table) for seq in seqs)
        set_context(
            is_prefill=True,
            cu_seqlens_q=self._tensor(cu_q, torch.int32),
            cu_seqlens_k=self._tensor(cu_k, torch.int32),
            max_seqlen_q=max(b - a for a, b in zip(cu_q, cu_q[1:])),
            max_seqlen_k=max(b - a for a, b in zip(cu_k, cu_k[1:])),
            slot_mapping=self._tensor(slot_mapping, torch.int32),
            block_tables=self._block_tables(seqs, max_blocks) if has_prefix_hits else None,
            logit_rows=self._tensor([end - 1 for end in cu_q[1:]] + prompt_rows, torch.long)
            if prompt_rows else None,
        )
        return self._tensor(input_ids, torch.long), self._tensor(positions, torch.long)

    def prepare_decode(self, seqs: list[Sequence]):
        # With CUDA graphs, fill the rows up to the captured size the step replays.
        padded = self.graph_runner.padded_size(len(seqs)) if self.graph_runner else None
        return self.decode_inputs.load(seqs, self.block_size, padded or len(seqs))

    def prepare_sampling(self, seqs: list[Sequence]) -> dict:
        return self.sampling_inputs.load(seqs)

    def pending_rows(self, seqs: list[Sequence]) -> "int | np.ndarray | None":
        """Async scheduling: the rows whose newest token is still pending, and
        where each is in the last step's output. -> n when they are rows 0..n-1
        of both (the usual case), else [2, n] (rows, last step's rows), or None."""
        if not any(seq.num_pending_tokens for seq in seqs):
            return None
        rows = {seq.seq_id: i for i, seq in enumerate(self.last_step.seqs)}
        dst, src = zip(*[(i, rows[seq.seq_id]) for i, seq in enumerate(seqs)
                         if seq.num_pending_tokens])
        if dst == src == tuple(range(len(dst))):
            return len(dst)
        return np.array([dst, src], dtype=np.int64)

    # ------------------------------------------------------------------ run --
    def run(self, seqs: list[Sequence], is_prefill: bool) -> list[int]:
        """Run one step; wait for and return its tokens, one per sequence."""
        return self.launch(seqs, is_prefill).token_ids()

    @torch.inference_mode()
    def launch(self, seqs: list[Sequence], is_prefill: bool) -> StepOutput:
        """Queue one step on the device and return without waiting for it."""
        if not self.config.enable_kv_cache:
            is_prefill = True  # no cache: run the whole sequence again, every step
        sampling = self.prepare_sampling(seqs)
        logprobs = LogprobPlan.of(seqs, is_prefill, self.device)   # None: nobody asks
        # TP: each rank samples its slice of the vocabulary, unless a row needs whole rows
        # of logits: log-probabilities normalise them, and a top-k / top-p cut comes from
        # every rank's candidates only with slice_cuts (a top-p cut with no top_k, or one
        # past the candidates, may reach past them).
        cuts = self.sampling_inputs.num_top_rows > 0
        by_slices = (self.slice_sampling and logprobs is None
                     and (not cuts or (self.slice_cuts and self.sampling_inputs.heads_fit_candidates)))
        slice_message = self.sampling_inputs.message(len(seqs)) if by_slices else None
        if is_prefill:
            if self.workers is not None:   # they prepare theirs while this rank prepares its own
                self.workers.send_prefill(seqs, slice_message)
            input_ids, positions = self.prepare_prefill(seqs)
        else:
            input_ids, positions = self.prepare_decode(seqs)
            pending = self.pending_rows(seqs)
            if self.workers is not None:   # the rows just filled: nothing left for them to build
                self.workers.send_decode(self.decode_inputs.message(), pending, slice_message)
            if pending is not None:
                take_pending_tokens(input_ids, pending, self.last_step.sampled)
        logits = self.run_model(input_ids, positions, is_prefill, gather_logits=not by_slices)
        if by_slices:
            sampled = self.sample_vocab_slice(logits, sampling)
        else:
            sampled = self.sampler(logits[:len(seqs)], **sampling)     # rows past B: prompt logprobs
            if self.share_sampled:
                broadcast(sampled, src=0)
        self.last_step = StepOutput(seqs, is_prefill, sampled, logprobs, logits)
        reset_context()
        return self.last_step

    def sample_vocab_slice(self, logits: torch.Tensor, sampling: dict) -> torch.Tensor:
        """TP, every rank: this rank's logits [B(+pad), V/tp] -> the step's tokens [B]."""
        head = self.model.lm_head
        b = sampling["temperatures"].shape[0]
        sampling = {k: v for k, v in sampling.items() if k != "top_rows"}   # rank 0's: unused
        return self.sampler.sample_vocab_parallel(logits[:b, :head.num_own_tokens], head.vocab_start,
                                                  head.vocab_size, **sampling)

    def run_model(self, input_ids, positions, is_prefill: bool, gather_logits: bool = True) -> torch.Tensor:
        if not is_prefill and self.graph_runner and self.graph_runner.padded_size(input_ids.shape[0]):
            hidden = self.graph_runner.replay(input_ids.shape[0])
        else:
            hidden = self.model(input_ids, positions)
        return self.model.compute_logits(hidden, gather_logits)
