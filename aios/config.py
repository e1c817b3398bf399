"""Engine options, with defaults that work and checks that say what is wrong."""
import os
from dataclasses import dataclass, field

import torch
from transformers import AutoConfig, PretrainedConfig

from aios.backends import BACKENDS, check_block_size
from aios.models.random_configs import random_model_config
from aios.utils.model_source import is_random_model, resolve_model_path

_DTYPES = {"auto": None, "float32": torch.float32, "bfloat16": torch.bfloat16,
           "float16": torch.float16}


@dataclass
class Config:
    model: str | None = None               # None = the embedded default model
    device: str = "auto"                   # "auto" = cuda if available, else cpu
    dtype: str = "auto"                    # "auto" = bfloat16 on a GPU, float32 on a CPU
    max_num_seqs: int = 256                # sequences in one step at most
    max_num_batched_tokens: int = 16384    # tokens in one prefill step at most
    max_model_len: int | None = None       # prompt + output; None = model's, capped at 8192
    block_size: int = 16                   # tokens per KV-cache block (flash_attn: 256)
    num_kv_blocks: int | None = None       # None = sized from free memory
    gpu_memory_utilization: float = 0.9    # share of GPU memory the engine may fill
    cpu_kv_cache_gb: float = 2.0           # KV-cache size on a CPU
    enable_prefix_caching: bool = True
    enable_kv_cache: bool = True           # False = recompute every token each step (lesson 3)
    scheduling: str = "continuous"         # or "static": a batch runs to its end (lesson 7)
    fused_kernels: bool = True             # Triton RMSNorm/SiLU/RoPE on a GPU (lesson 10)
    skinny_gemm: bool = True               # with fused_kernels: Triton GEMM for decode batches
    attention_backend: str = "auto"        # auto (triton on a GPU, torch on a CPU), torch,
                                           # triton, flash_attn (if installed), flashinfer
    enforce_eager: bool = False            # True = no CUDA graphs
    async_scheduling: bool | None = None   # plan step N+1 while the GPU runs step N;
                                           # None = on for GPUs with a KV cache
    tensor_parallel_size: int = 1
    seed: int = 0                          # random weights and unseeded sampling
    generation_config: str = "auto"        # temperature/top_k/top_p defaults: "auto" = the
                                           # model's generation_config.json, "none" = off
                                           # (aios/utils/generation_config.py)
    max_logprobs: int = 20                 # SamplingParams.logprobs / prompt_logprobs at most
    hf_config: PretrainedConfig | None = field(default=None, repr=False)
    model_path: str | None = field(default=None, repr=False)

    def __post_init__(self):
        self._check_options()
        if is_random_model(self.model):
            self.hf_config = random_model_config(self.model)
        else:
            self.model_path = resolve_model_path(self.model)
            self.hf_config = AutoConfig.from_pretrained(self.model_path)
        model_max = self.hf_config.max_position_embeddings
        if self.max_model_len is None:
            self.max_model_len = min(model_max, 8192)
        elif self.max_model_len > model_max:
            raise ValueError(f"max_model_len={self.max_model_len} exceeds the model's "
                             f"max_position_embeddings={model_max}")
        if self.max_num_batched_tokens < self.max_model_len:
            # A whole prompt must fit in one prefill step.
            self.max_num_batched_tokens = self.max_model_len

    def _check_options(self):
        def positive(name):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Config.{name} must be a positive integer, got {value!r}")
        for name in ("max_num_seqs", "max_num_batched_tokens", "block_size", "tensor_parallel_size"):
            positive(name)
        if self.max_model_len is not None:
            positive("max_model_len")
        if self.num_kv_blocks is not None:
            positive("num_kv_blocks")
        if self.block_size & (self.block_size - 1):
            raise ValueError(f"Config.block_size must be a power of two, got {self.block_size}")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(f"Config.gpu_memory_utilization must be in (0, 1], "
                             f"got {self.gpu_memory_utilization}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"Config.dtype must be one of {list(_DTYPES)}, got {self.dtype!r}")
        if self.attention_backend not in BACKENDS:
            raise ValueError(f"Config.attention_backend must be one of {BACKENDS}, "
                             f"got {self.attention_backend!r}")
        check_block_size(self.attention_backend, self.block_size)
        if self.scheduling not in ("continuous", "static"):
            raise ValueError(f"Config.scheduling must be 'continuous' or 'static', got {self.scheduling!r}")
        if not self.enable_kv_cache:
            self.enable_prefix_caching = False  # nothing is cached to reuse
        if not isinstance(self.max_logprobs, int) or self.max_logprobs < 0:
            raise ValueError(f"Config.max_logprobs must be an integer >= 0, got {self.max_logprobs!r}")
        if not isinstance(self.generation_config, str) or not self.generation_config:
            raise ValueError(f"Config.generation_config must be 'auto', 'none' or a folder, "
                             f"got {self.generation_config!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"Config.device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("Config.device='cuda' but no CUDA GPU is available; use device='cpu'")
        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.attention_backend == "flash_attn" and self.device == "cuda" and self.dtype == "float32":
            raise ValueError("attention_backend='flash_attn' computes in bfloat16 or float16, "
                             "not float32; pass dtype='bfloat16' (the GPU default)")
        if self.async_scheduling is None:
            self.async_scheduling = self.device == "cuda" and self.enable_kv_cache
        elif self.async_scheduling and not self.enable_kv_cache:
            raise ValueError("Config.async_scheduling needs a KV cache (enable_kv_cache=True); "
                             "leave it None or False")
        if self.device == "cuda" and self.tensor_parallel_size > torch.cuda.device_count():
            raise ValueError(f"tensor_parallel_size={self.tensor_parallel_size} but only "
                             f"{torch.cuda.device_count()} GPU(s) are present")

    @property
    def torch_dtype(self) -> torch.dtype:
        if self.dtype == "auto":
            return torch.bfloat16 if self.device == "cuda" else torch.float32
        return _DTYPES[self.dtype]

    @property
    def is_random(self) -> bool:
        return is_random_model(self.model)

    @property
    def model_name(self) -> str:
        return self.model or os.path.basename(self.model_path)
