"""Llama (2, 3.x) and SmolLM2: Qwen3's decoder without the q/k norm."""
from aios.models.qwen3 import Qwen3ForCausalLM


class LlamaForCausalLM(Qwen3ForCausalLM):
    qk_norm = False

    def __init__(self, config):
        if getattr(config, "mlp_bias", False):
            raise ValueError("Llama checkpoints with mlp_bias=True are not supported")
        super().__init__(config)
