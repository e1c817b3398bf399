"""Where a model comes from: the default model, a folder, a Hub id, or random.

    None / "default"        the embedded SmolLM2-135M-Instruct (converted once)
    "random:Qwen3-0.6B"     published shapes, seeded random weights (benchmarks)
    "/path/to/folder"       a Hugging Face model folder
    "Qwen/Qwen3-0.6B"       a Hub id, downloaded into the Hugging Face cache
"""
import os

from aios.models.random_configs import RANDOM_PREFIX


def is_random_model(model: str | None) -> bool:
    return bool(model) and model.startswith(RANDOM_PREFIX)


def resolve_model_path(model: str | None) -> str:
    """A local folder holding config.json (downloading or converting if needed)."""
    if model in (None, "", "default"):
        from aios.utils.default_model import default_model_path
        return default_model_path()
    if os.path.isdir(model):
        if not os.path.isfile(os.path.join(model, "config.json")):
            raise ValueError(f"model folder {model!r} has no config.json; "
                             f"pass a Hugging Face model folder")
        return model
    if os.path.exists(model) or model.startswith((".", "/", "~")) or model.count("/") != 1:
        raise ValueError(f"model {model!r} not found: pass a Hugging Face model folder, a Hub id "
                         f"like Qwen/Qwen3-0.6B, 'random:Qwen3-0.6B', or nothing for the default model")
    return _download(model)


def _download(repo_id: str) -> str:
    from huggingface_hub import snapshot_download
    try:
        return snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.txt",
                                                          "*.model", "*.jinja"])
    except Exception as e:  # offline, unknown repo, gated model ...
        raise ValueError(f"could not download {repo_id!r} from the Hugging Face Hub "
                         f"({type(e).__name__}); if you have no network, download it elsewhere and "
                         f"pass the local folder, e.g. LLM('/path/to/Qwen3-0.6B')") from None
