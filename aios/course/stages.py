"""The course in one table: each lesson, its promise, and its engine's options.

Every idea a lesson adds is an engine option (aios/config.py), switched on
in that lesson's engine and left on in all the later ones. So "the engine as
of lesson N" is a dict of Config options, built here and nowhere else:

    LLM(model, **stage_options(6, "cuda"))     # lessons 1..6, nothing later
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Lesson:
    number: int
    title: str
    promise: str                   # what the course promises, as the table says it
    promised_tok_s: float | None   # that promise in output tokens/s on a GPU, if it is one
    exercise: str | None = None    # the exercise file: lessons/lessonNN/<exercise>.py


LESSONS = {lesson.number: lesson for lesson in [
    Lesson(0, "Introduction: the engine as an operating system", "-", None),
    Lesson(1, "LLM basics: attention, RoPE, RMSNorm", "-", None, "layers"),
    Lesson(2, "Run Qwen3 from scratch", "one forward pass equal to the reference", None, "decoder"),
    Lesson(3, "Baseline generation, no KV cache", "~5 tok/s", 5, "loop"),
    Lesson(4, "KV cache", "~25 tok/s", 25, "kv_cache"),
    Lesson(5, "Pre-allocated KV cache", "~30 tok/s", 30, "kv_slots"),
    Lesson(6, "Paged KV cache", "~30 tok/s, less KV memory", 30, "block_manager"),
    Lesson(7, "Static batching", "~400 tok/s", 400, "batching"),
    Lesson(8, "Continuous batching", "~600 tok/s", 600, "scheduler"),
    Lesson(9, "FlashAttention", "~900 tok/s", 900, "flash_attention"),
    Lesson(10, "Fused layers", "~1000 tok/s", 1000, "fused"),
    Lesson(11, "CUDA graphs", "~1200 tok/s", 1200, "cuda_graphs"),
    Lesson(12, "Sampling", "~1200 tok/s", 1200, "sampling"),
    Lesson(13, "Prefix caching", "prefill savings", None, "prefix_cache"),
    Lesson(14, "Tensor parallelism", "~2000 tok/s on 2 GPUs", 2000, "tensor_parallel"),
    Lesson(15, "Serving", "an OpenAI-compatible server", None, "streaming"),
]}

# What each lesson must buy on a GPU, as a ratio of output tokens/s to the lesson
# before it on the same workload (lesson 14: on two GPUs). Paging (6) buys memory,
# not speed, and sampling (12) buys quality: "no more than a few percent slower".
TARGET_RATIO = {4: 2.0, 5: 0.97, 6: 0.97, 7: 10.0, 8: 1.3, 9: 1.1, 10: 1.1, 11: 1.1,
                12: 0.95, 13: 1.0, 14: 1.6}

# Prompt + output tokens at most, in every stage. A power of two, so that
# lesson 5's one block can be a whole context (block_size is a power of two).
MAX_MODEL_LEN = {"cpu": 256, "cuda": 4096}
# Sequences in one step once batching arrives (lesson 7). Fewer than the
# workload's requests (aios/course/measure.py), so that lesson 7's batches
# must take turns and lesson 8 has empty seats to fill.
MAX_BATCH = {"cpu": 4, "cuda": 32}


def _changes(device: str) -> dict[int, dict]:
    """What each lesson switches on, on top of the lesson before it."""
    return {
        # The loop, one request at a time, every step recomputing every token.
        3: dict(enable_kv_cache=False, max_num_seqs=1),
        # A cache that grows one slot per token: blocks of one token.
        4: dict(enable_kv_cache=True, block_size=1),
        # One block per sequence, as long as the whole context: a fixed buffer.
        5: dict(block_size=MAX_MODEL_LEN[device]),
        # Paging: 16-token blocks, handed out as the sequence grows.
        6: dict(block_size=16),
        # Many requests in one step; a batch runs to its end before the next.
        7: dict(scheduling="static", max_num_seqs=MAX_BATCH[device]),
        # Requests join and leave the batch at every step.
        8: dict(scheduling="continuous"),
        # Prefill attention as one tiled Triton kernel (FlashAttention). Triton's
        # CPU interpreter is far too slow for a whole model, so on a CPU the
        # engine keeps the PyTorch backend; lesson 9 checks your kernel on small
        # tensors there instead.
        9: dict(attention_backend="triton" if device == "cuda" else "torch"),
        # RMSNorm (+ residual), SiLU-and-mul, RoPE as Triton kernels. They run only on a
        # GPU with a Triton backend; on a CPU this changes nothing.
        10: dict(fused_kernels=True),
        # The decode step captured as CUDA graphs, one per batch-size bucket, and
        # replayed. Graphs need a GPU (and a Triton backend); on a CPU this changes nothing.
        11: dict(enforce_eager=False),
        # Lesson 12 changes no engine option: its workload samples (workload_sampling).
        12: dict(),
        # Full blocks named by chained hashes and shared; its workload shares a prefix.
        13: dict(enable_prefix_caching=True),
        # Two processes, each holding half of every layer (gloo on a CPU, NCCL on GPUs).
        14: dict(tensor_parallel_size=2),
    }


def workload_sampling(lesson: int) -> dict:
    """How the course workload's requests choose tokens in lesson N's engine.

    Greedy until lesson 12, which brings sampling; from then on temperature,
    top-p and top-k, with one seed per request (aios/course/measure.py).
    """
    return dict(temperature=0.8, top_p=0.95, top_k=50) if lesson >= 12 else dict(temperature=0.0)


def stage_options(lesson: int, device: str) -> dict:
    """Config options for the engine of `lesson` (1 to the last stage) on `device` ("cpu" or "cuda").

    Lessons 1 and 2 have no loop of their own: their pieces run in lesson 3's
    engine. Until the lessons that bring them (9 to 13), the faster attention
    backends, the fused kernels, CUDA graphs and prefix caching stay off.
    Lesson 14's engine runs in two processes (tensor_parallel_size=2): on a
    CPU it needs a model whose heads split in two (not SmolLM2's 9).
    """
    changes = _changes(device)
    if not 1 <= lesson <= max(changes):
        raise ValueError(f"no engine stage for lesson {lesson}; stages exist for lessons 1 to {max(changes)}")
    options = dict(device=device, max_model_len=MAX_MODEL_LEN[device], attention_backend="torch",
                   enforce_eager=True, fused_kernels=False, enable_prefix_caching=False)
    for number in sorted(changes):
        if number <= max(lesson, 3):
            options.update(changes[number])
    return options
