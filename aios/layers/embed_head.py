"""Token embedding and LM head, split over the vocabulary for TP.

Each rank holds vocab_size/tp rows. The embedding looks up the tokens it owns
(zeros for the rest) and an all-reduce sums the ranks' rows; the head
computes its slice of the logits, and rank 0 gathers the full vocabulary,
unless each rank samples its own slice (Sampler.sample_vocab_parallel).
"""
import torch
import torch.nn.functional as F
from torch import nn

from aios.utils import distributed
from aios.utils.context import get_context
from aios.utils.distributed import all_reduce, get_tp_rank, get_tp_size, in_process_group


class VocabParallelEmbedding(nn.Module):
    def __init__(self, vocab_size: int, hidden_size: int):
        super().__init__()
        self.tp_rank, self.tp_size = get_tp_rank(), get_tp_size()
        self.collectives = in_process_group()
        self.vocab_size = vocab_size
        self.rows = (vocab_size + self.tp_size - 1) // self.tp_size
        self.vocab_start = self.tp_rank * self.rows
        self.weight = nn.Parameter(torch.empty(self.rows, hidden_size), requires_grad=False)
        self.weight.weight_loader = self.weight_loader

    def weight_loader(self, param, loaded, shard_id=None):
        shard = loaded[self.vocab_start:self.vocab_start + self.rows]
        param.data.zero_()
        param.data[:shard.shape[0]].copy_(shard)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        if not self.collectives:
            return F.embedding(input_ids, self.weight)
        local = input_ids - self.vocab_start
        owned = (local >= 0) & (local < self.rows)
        y = F.embedding(local.clamp(0, self.rows - 1), self.weight) * owned.unsqueeze(-1)
        return all_reduce(y)


class ParallelLMHead(VocabParallelEmbedding):
    @property
    def num_own_tokens(self) -> int:
        """Columns of this rank's slice that are real tokens (the last rank's
        slice is padded when tp does not divide the vocabulary)."""
        return min(self.rows, self.vocab_size - self.vocab_start)

    def forward(self, hidden: torch.Tensor, gather: bool = True) -> torch.Tensor | None:
        """hidden: [N, hidden] for all tokens -> logits [B (+ R), vocab] (rank 0;
        None on the others), or, with gather=False, every rank's own slice
        [B (+ R), rows]: token ids vocab_start.. (num_own_tokens of them are real).

        Only each sequence's last token needs logits: in a prefill those are
        the rows just before each sequence's end in the packed batch (and,
        after them, any rows the Context names for prompt log-probabilities).
        """
        ctx = get_context()
        if ctx.is_prefill:
            rows = ctx.logit_rows if ctx.logit_rows is not None else ctx.cu_seqlens_q[1:] - 1
            hidden = hidden[rows]
        logits = F.linear(hidden, self.weight)
        if not self.collectives or not gather:
            return logits
        parts = [torch.empty_like(logits) for _ in range(self.tp_size)] if self.tp_rank == 0 else None
        distributed.gather(logits, parts, dst=0)
        return torch.cat(parts, dim=-1)[:, :self.vocab_size] if self.tp_rank == 0 else None
