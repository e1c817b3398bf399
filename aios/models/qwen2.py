"""Qwen2 / Qwen2.5: Qwen3's decoder with biases on q/k/v and no q/k norm."""
from aios.models.qwen3 import Qwen3ForCausalLM


class Qwen2ForCausalLM(Qwen3ForCausalLM):
    qk_norm = False

    def qkv_bias(self, config) -> bool:
        return True
