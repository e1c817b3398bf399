"""Published Qwen3 shapes, for `random:Qwen3-*` benchmark models.

Where no checkpoint can be downloaded, throughput can still be measured:
speed depends on the shapes, not on the values of the weights. Such a model
is built with seeded random weights and produces meaningless text.
"""
from transformers import Qwen3Config

# name: (hidden, intermediate, layers, q heads, kv heads, tied embeddings)
QWEN3_SHAPES = {
    "Qwen3-0.6B": (1024, 3072, 28, 16, 8, True),
    "Qwen3-1.7B": (2048, 6144, 28, 16, 8, True),
    "Qwen3-4B": (2560, 9728, 36, 32, 8, True),
    "Qwen3-8B": (4096, 12288, 36, 32, 8, False),
    "Qwen3-14B": (5120, 17408, 40, 40, 8, False),
    "Qwen3-32B": (5120, 25600, 64, 64, 8, False),
}

RANDOM_PREFIX = "random:"


def random_model_config(name: str) -> Qwen3Config:
    """'random:Qwen3-0.6B' -> its Qwen3Config."""
    short = name.removeprefix(RANDOM_PREFIX).split("/")[-1]
    if short not in QWEN3_SHAPES:
        raise ValueError(f"unknown random model {name!r}; choose one of "
                         + ", ".join(RANDOM_PREFIX + n for n in QWEN3_SHAPES))
    hidden, inter, layers, heads, kv_heads, tied = QWEN3_SHAPES[short]
    return Qwen3Config(
        architectures=["Qwen3ForCausalLM"], vocab_size=151936, hidden_size=hidden,
        intermediate_size=inter, num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=kv_heads, head_dim=128, max_position_embeddings=40960,
        rms_norm_eps=1e-6, rope_theta=1_000_000.0, tie_word_embeddings=tied,
        bos_token_id=151643, eos_token_id=151645, torch_dtype="bfloat16",
    )
