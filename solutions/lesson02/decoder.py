"""Lesson 02, solved: the engine's own functions, imported from where they live.

    target_name            aios/utils/loader.py: _target_name, used by load_model()
    attention_forward      aios/models/qwen3.py: Qwen3Attention.forward
    decoder_layer_forward  aios/models/qwen3.py: Qwen3DecoderLayer.forward
(Llama and Qwen2 use these same classes: aios/models/llama.py, qwen2.py.)
"""
from aios.models.qwen3 import Qwen3Attention, Qwen3DecoderLayer
from aios.utils.loader import _target_name as target_name

attention_forward = Qwen3Attention.forward
decoder_layer_forward = Qwen3DecoderLayer.forward

__all__ = ["target_name", "attention_forward", "decoder_layer_forward"]
