"""Lesson 05, solved: the engine's own functions, imported from where they live.

    prefill_slots  aios/engine/paging.py, called by ModelRunner.prepare_prefill
                   (aios/engine/model_runner.py)
    decode_slot    aios/engine/paging.py, called by DecodeInputs.load
                   (aios/engine/decode_inputs.py)
"""
from aios.engine.paging import decode_slot, prefill_slots

__all__ = ["prefill_slots", "decode_slot"]
