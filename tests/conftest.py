"""Shared fixtures and helpers for the engine's tests.

Models:
  default_llm       LLM(): the embedded SmolLM2-135M-Instruct (real weights)
  hf_gguf_model     transformers loading the very same GGUF file by itself
  tiny_qwen3_dir    small random Qwen3 (q/k norm, GQA, untied LM head)
  tiny_qwen2_dir    small random Qwen2 (q/k/v bias, tied LM head)
  tiny_llama3_dir   small random Llama with rope_scaling of type llama3
The tiny folders are written by transformers' own save_pretrained, with every
weight random (biases and norm weights too, so a loader that skips or swaps
one of them changes the output). They have no tokenizer: prompts are token ids.
"""
import os

import pytest
import torch

# Without a GPU, Triton kernels run in Triton's CPU interpreter. Triton reads the
# switch when it is first imported, and any test module may import it first.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from aios import LLM, SamplingParams  # noqa: E402

TINY_VOCAB = 512

# Two cores, often shared with other jobs: with more than one intra-op thread,
# small CPU matmuls slow down many times over when another process competes
# for the cores (measured: a [9, 576] x [576, 1536] matmul took 5.7 ms with 2
# threads vs 0.3 ms with 1). One thread keeps the suite fast and predictable.
torch.set_num_threads(int(os.environ.get("AIOS_TEST_THREADS", "1")))


# ------------------------------------------------------------------ helpers --
def greedy(max_tokens: int = 64, ignore_eos: bool = True, **kwargs) -> SamplingParams:
    """Greedy decoding of max_tokens tokens (exactly that many: EOS does not stop it)."""
    return SamplingParams(temperature=0.0, max_tokens=max_tokens, ignore_eos=ignore_eos, **kwargs)


def assert_all_blocks_free(llm) -> None:
    """After a workload: no request left, every KV block free, no reference held."""
    scheduler = llm.scheduler
    bm = scheduler.block_manager
    assert not scheduler.waiting and not scheduler.running
    assert bm.num_free_blocks == bm.num_blocks, (bm.num_free_blocks, bm.num_blocks)
    assert sorted(bm.free_block_ids) == list(range(bm.num_blocks)), "a block is listed free twice"
    held = {b.block_id: b.ref_count for b in bm.blocks if b.ref_count != 0}
    assert not held, f"blocks still referenced: {held}"
    assert not llm.detokenizers, "a finished request left its detokenizer behind"


def run_to_completion(llm, prompts, params, record_logits: bool = False):
    """Queue every prompt, step until all are done.

    -> (sequences in prompt order, {seq_id: [V] logits of each step, stacked}).
    With record_logits the model runner's sampler is wrapped for the duration,
    so the logits the engine actually sampled from are seen; nothing is added
    to the engine.
    """
    if not isinstance(params, list):
        params = [params] * len(prompts)
    seqs = [llm.add_request(p, sp) for p, sp in zip(prompts, params)]
    logits = {s.seq_id: [] for s in seqs}
    runner = llm.model_runner
    original = runner.sampler
    seen = []

    def recording_sampler(step_logits, *args, **kwargs):
        seen.append(step_logits.float().clone())
        return original(step_logits, *args, **kwargs)

    if record_logits:
        runner.sampler = recording_sampler
    try:
        while not llm.is_finished():
            stepped, _ = llm.step()
            if record_logits and stepped:
                for row, seq in zip(seen.pop(), stepped):
                    logits[seq.seq_id].append(row)
    finally:
        runner.sampler = original
    return seqs, {k: torch.stack(v) if v else None for k, v in logits.items()}


def hf_logprobs(hf_model, token_ids: list[int]) -> torch.Tensor:
    """transformers' log_softmax of its logits at every position of token_ids:
    row i is the distribution of token i + 1. [len - 1, V], float32."""
    with torch.inference_mode():
        logits = hf_model(torch.tensor([token_ids[:-1]])).logits[0]
    return logits.float().log_softmax(dim=-1)


def generate_ids(llm, prompts, params) -> list[list[int]]:
    outputs = llm.generate(prompts, params, use_tqdm=False)
    return [o["token_ids"] for o in outputs]


def random_prompts(n_tokens: list[int], seed: int = 0, vocab: int = TINY_VOCAB) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab, (n,), generator=g).tolist() for n in n_tokens]


# ------------------------------------------------------- the default model --
@pytest.fixture(scope="session")
def default_llm():
    return LLM()


@pytest.fixture(scope="session")
def hf_gguf_model():
    """transformers' own reading of the GGUF that aios converts (not aios' folder)."""
    from transformers import AutoModelForCausalLM

    from aios.utils.default_model import default_gguf_path
    path = default_gguf_path()
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(path),
                                                 gguf_file=os.path.basename(path))
    assert model.dtype == torch.float32      # dequantized to float32, like aios
    return model.eval()


# A long (~300 tokens) user message for the chat prompts.
LONG_TEXT = (
    "The history of computing stretches back much further than the electronic machines of the "
    "twentieth century. People have always needed to count, measure and record, and the first tools "
    "for this were fingers, pebbles and notched sticks. The abacus, used in Mesopotamia, China and "
    "Rome, let merchants add and subtract large numbers quickly. In the seventeenth century Blaise "
    "Pascal built a mechanical calculator with gears to help his father with tax accounts, and "
    "Gottfried Leibniz designed a machine that could also multiply. In the nineteenth century Charles "
    "Babbage planned the Analytical Engine, a general purpose machine driven by punched cards, and "
    "Ada Lovelace wrote what many consider the first program for it, a method to compute Bernoulli "
    "numbers. The engine was never finished, but its ideas of a store, a mill and a sequence of "
    "instructions return in every modern computer. During the Second World War, machines such as "
    "Colossus in Britain and ENIAC in the United States used thousands of vacuum tubes to break codes "
    "and compute artillery tables. They filled whole rooms, consumed enormous amounts of power and "
    "failed often. The invention of the transistor in 1947 and of the integrated circuit about ten "
    "years later made computers smaller, cheaper and far more reliable, which eventually put a "
    "computer on every desk and then in every pocket."
)

CHAT_CONVERSATIONS = [
    [{"role": "user", "content": "Hi!"}],
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": LONG_TEXT + "\n\nSummarize the text above in two sentences."}],
    [{"role": "user", "content": "Write a Python function that checks whether a number is prime."}],
    [{"role": "user", "content": "What is 17 * 23? Show your steps, then add 1234 to the result."}],
    [{"role": "user", "content": "Quelle est la capitale de l'Allemagne ? Réponds en français."}],
    [{"role": "user", "content": "请用一句话介绍一下你自己。"}],
    [{"role": "system", "content": "You are a pirate. Answer every question like a pirate."},
     {"role": "user", "content": "How do I boil an egg?"},
     {"role": "assistant", "content": "Arr, ye drop the egg in boilin' water, matey!"},
     {"role": "user", "content": "And how long should it cook?"}],
    [{"role": "user", "content": "List five fruits, one per line, and nothing else."}],
]


@pytest.fixture(scope="session")
def chat_prompts(default_llm) -> list[list[int]]:
    """CHAT_CONVERSATIONS through the model's own chat template, as token ids."""
    return [default_llm.apply_chat_template(c) for c in CHAT_CONVERSATIONS]


# ------------------------------------------------------- tiny random models --
def _randomize(model: torch.nn.Module, seed: int) -> None:
    """Every parameter random: weights N(0, 0.1), biases N(0, 0.1), norms 1 + N(0, 0.2)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=g)
            if "norm" in name:
                param.copy_(1.0 + 0.2 * noise)
            else:
                param.copy_(0.1 * noise)


def _save_tiny(config, path, seed: int) -> str:
    from transformers import AutoModelForCausalLM
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    _randomize(model, seed)
    if config.tie_word_embeddings:
        assert model.lm_head.weight is model.model.embed_tokens.weight
    model.save_pretrained(path)
    return str(path)


_TINY_COMMON = dict(vocab_size=TINY_VOCAB, hidden_size=64, intermediate_size=128,
                    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                    max_position_embeddings=512, bos_token_id=1, eos_token_id=2)


@pytest.fixture(scope="session")
def tiny_qwen3_dir(tmp_path_factory):
    from transformers import Qwen3Config
    # head_dim 32 != hidden / heads (16), as in the real Qwen3 models
    config = Qwen3Config(**_TINY_COMMON, head_dim=32, tie_word_embeddings=False,
                         rope_theta=1_000_000.0, architectures=["Qwen3ForCausalLM"])
    return _save_tiny(config, tmp_path_factory.mktemp("tiny-qwen3"), seed=1)


@pytest.fixture(scope="session")
def tiny_qwen2_dir(tmp_path_factory):
    from transformers import Qwen2Config
    config = Qwen2Config(**_TINY_COMMON, tie_word_embeddings=True,
                         architectures=["Qwen2ForCausalLM"])
    return _save_tiny(config, tmp_path_factory.mktemp("tiny-qwen2"), seed=2)


LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 64,
               "rope_theta": 10000.0}


@pytest.fixture(scope="session")
def tiny_llama3_dir(tmp_path_factory):
    from transformers import LlamaConfig
    # original_max_position_embeddings=64: prompts of a few hundred tokens reach
    # the scaled, the blended and the unscaled frequency bands.
    config = LlamaConfig(**_TINY_COMMON, head_dim=32, tie_word_embeddings=False,
                         rope_scaling=dict(LLAMA3_ROPE), architectures=["LlamaForCausalLM"])
    return _save_tiny(config, tmp_path_factory.mktemp("tiny-llama3"), seed=3)


@pytest.fixture(scope="session")
def tiny_qwen3_llm(tiny_qwen3_dir):
    return LLM(tiny_qwen3_dir)
