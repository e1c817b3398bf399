"""Lesson 14: tensor parallelism. Your exercise.

Split every layer over two processes (ranks): each holds half of the weights
and does half of the work, and the halves meet in an all-reduce. README.md
("The exercise") walks through the four pieces. While your code runs they
replace the engine's own (aios/layers/linear.py, aios/layers/embed_head.py);
`self` is the engine's layer:

    self.tp_rank, self.tp_size    this process's rank, and how many there are
    self.collectives              True under TP: call torch.distributed
    self.weight, self.bias        this rank's parameters (bias may be None)
    self.vocab_start, self.rows   (embedding) the first token id this rank owns, how many
    loaded                        the whole checkpoint tensor: take your slice with .narrow()

Check:  python -m pytest lessons/lesson14        (two gloo processes on the CPU)
Run:    python lessons/lesson14/run_lesson14.py
"""
import torch
import torch.distributed as dist  # noqa: F401
import torch.nn.functional as F  # noqa: F401
from torch import nn


def column_weight_loader(self, param: nn.Parameter, loaded: torch.Tensor, shard_id=None) -> None:
    """Step 1. Column-parallel: copy this rank's block of output rows into param.

    param is [out/tp, in] (or the bias, [out/tp]); loaded is the whole [out, in]
    (or [out]). Rank r takes rows r*rows .. (r+1)*rows, rows = param.shape[0].
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 14, step 1: column_weight_loader() is yours to write "
                              "— see lessons/lesson14/README.md, or run with --solution")


def row_weight_loader(self, param: nn.Parameter, loaded: torch.Tensor, shard_id=None) -> None:
    """Step 2. Row-parallel: copy this rank's block of input columns into param.

    The weight is [out, in/tp]: rank r takes columns r*cols .. (r+1)*cols of the
    whole [out, in]. The bias (1-D) is not split: every rank keeps all of it.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 14, step 2: row_weight_loader() is yours to write "
                              "— see lessons/lesson14/README.md, or run with --solution")


def row_forward(self, x: torch.Tensor) -> torch.Tensor:
    """Step 3. x is this rank's [tokens, in/tp]. -> the whole [tokens, out] on every rank.

    Each rank's x @ W_r.T is a partial sum; dist.all_reduce adds them in place
    (only when self.collectives). Add the bias once, after the sum.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 14, step 3: row_forward() is yours to write "
                              "— see lessons/lesson14/README.md, or run with --solution")


def embedding_forward(self, input_ids: torch.Tensor) -> torch.Tensor:
    """Step 4. Vocab-parallel embedding: this rank holds token ids vocab_start .. vocab_start+rows.

    Without collectives: F.embedding(input_ids, self.weight). Under TP: look up
    the ids this rank owns (shifted by vocab_start; clamp the others to a valid
    row), zero the rows of ids it does not own, then all_reduce: every token's
    row comes from exactly one rank.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 14, step 4: embedding_forward() is yours to write "
                              "— see lessons/lesson14/README.md, or run with --solution")
