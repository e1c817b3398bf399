"""Lesson 11: CUDA graphs, the decode step replayed. Your exercise.

A CUDA graph replays fixed shapes at fixed addresses, so the engine captures
one graph per batch size in a short list, pads every decode step up to the
next captured size, and fills the padding rows so that they do no harm.
README.md ("The exercise") walks through the four pieces. While your code runs
they replace the engine's own:

    capture_batch_sizes, padded_batch_size   aios/engine/cuda_graph.py
    padded_size        CUDAGraphRunner.padded_size   (self: the runner; self.batch_sizes)
    load               DecodeInputs.load             aios/engine/decode_inputs.py
                       (self.host: numpy arrays [max_num_seqs(, max_blocks)] to fill;
                        self._copy_to_device(num_rows, width) -> the device tensors)

The graphs themselves need a GPU; these four run on every step, CPU included
(load fills the decode inputs whether or not a graph replays them).

Check:  python -m pytest lessons/lesson11
Run:    python lessons/lesson11/run_lesson11.py
"""
from aios.engine import paging  # noqa: F401  (paging.decode_slot: lesson 5's)
from aios.engine.sequence import Sequence
from aios.utils.context import set_context  # noqa: F401


def capture_batch_sizes(max_num_seqs: int) -> list[int]:
    """Step 1. The batch sizes to capture a graph for, ascending, no repeats.

    1, 2, 4, 8 and every multiple of 16 up to max_num_seqs, each capped at
    max_num_seqs (with max_num_seqs 6: [1, 2, 4, 6]; with 20: [1, 2, 4, 8, 16],
    and a batch of 17 to 20 then runs eagerly, step 3).
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 11, step 1: capture_batch_sizes() is yours to write "
                              "— see lessons/lesson11/README.md, or run with --solution")


def padded_batch_size(batch_size: int, batch_sizes: list[int]) -> int:
    """Step 2. The smallest captured size (batch_sizes, ascending) that fits batch_size."""
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 11, step 2: padded_batch_size() is yours to write "
                              "— see lessons/lesson11/README.md, or run with --solution")


def padded_size(self, batch_size: int) -> int | None:
    """Step 3. The size this step replays with, or None when batch_size is larger
    than every captured size (the step then runs eagerly, without a graph)."""
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 11, step 3: padded_size() is yours to write "
                              "— see lessons/lesson11/README.md, or run with --solution")


def load(self, seqs: list[Sequence], block_size: int, num_rows: int):
    """Step 4. Fill rows [0, num_rows) of the decode inputs; rows past len(seqs) are padding.

    For real row i (seq = seqs[i]): input_ids = seq.last_token, positions =
    len(seq) - 1, context_lens = len(seq), slot_mapping = paging.decode_slot(seq,
    block_size), block_tables[i, :len(seq.block_table)] = seq.block_table.
    Padding rows: input_ids 0, positions 0, context_lens 1 (read one cached
    token), slot_mapping -1 (write nothing), block_tables[:, :width] 0, where
    width = the longest block table among seqs.
    Then d = self._copy_to_device(num_rows, width), and set_context(is_prefill=False,
    slot_mapping, context_lens, block_tables (d's first len(seqs) rows; block
    tables [:, :width]), max_seqlen_k = the longest len(seq)).
    -> (d["input_ids"][:len(seqs)], d["positions"][:len(seqs)])
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 11, step 4: load() is yours to write "
                              "— see lessons/lesson11/README.md, or run with --solution")
