"""The model's own sampling defaults, from its generation_config.json.

A checkpoint's authors often publish the sampling it was tuned for (Qwen3:
temperature 0.6, top_p 0.95, top_k 20). Like vLLM (`--generation-config
auto`), the engine uses those values for every request that does not set
them itself; `--generation-config none` turns this off (plain sampling:
temperature 1, no top-k, no top-p).

Only the values written in the file count, read as plain JSON: transformers'
GenerationConfig would add its own defaults (top_k=50) that the authors never
chose. `do_sample` is ignored, as vLLM does: a request's temperature says
whether it samples.
"""
import json
import os

MODES = ("auto", "none", "vllm")   # "vllm" = vLLM's spelling of "none"
SAMPLING_FIELDS = ("temperature", "top_k", "top_p")


def sampling_defaults(mode: str, model_path: str | None) -> dict:
    """{field: value} for the fields the generation config sets.

    mode: "auto" reads model_path's generation_config.json; "none"/"vllm"
    reads nothing; any other value is a folder holding generation_config.json.
    Random models (model_path None) have no file: {}.
    """
    if mode in ("none", "vllm"):
        return {}
    folder = model_path if mode == "auto" else mode
    if folder is None:
        return {}
    path = os.path.join(folder, "generation_config.json")
    if not os.path.isfile(path):
        if mode != "auto":
            raise ValueError(f"generation_config={mode!r}: no generation_config.json in that "
                             f"folder; give 'auto', 'none' or a folder that has one")
        return {}
    with open(path) as f:
        data = json.load(f)
    return {name: data[name] for name in SAMPLING_FIELDS
            if isinstance(data.get(name), (int, float)) and not isinstance(data[name], bool)}
