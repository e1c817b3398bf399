"""Model classes by the `architectures` name in a checkpoint's config.json."""
from aios.models.llama import LlamaForCausalLM
from aios.models.qwen2 import Qwen2ForCausalLM
from aios.models.qwen3 import Qwen3ForCausalLM

MODEL_REGISTRY = {
    "Qwen3ForCausalLM": Qwen3ForCausalLM,
    "Qwen2ForCausalLM": Qwen2ForCausalLM,
    "LlamaForCausalLM": LlamaForCausalLM,
}


def get_model_class(hf_config):
    names = getattr(hf_config, "architectures", None) or []
    for name in names:
        if name in MODEL_REGISTRY:
            return MODEL_REGISTRY[name]
    raise ValueError(f"unsupported architecture {names or '(none given)'} in config.json; "
                     f"aios supports {', '.join(MODEL_REGISTRY)}")
