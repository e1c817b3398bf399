"""Lesson 11, solved: the engine's own bucketing and decode inputs.

    capture_batch_sizes  aios/engine/cuda_graph.py, called by CUDAGraphRunner.__init__
    padded_batch_size    aios/engine/cuda_graph.py, called by padded_size and replay
    padded_size          CUDAGraphRunner.padded_size, called by ModelRunner.prepare_decode/run_model
    load                 DecodeInputs.load (aios/engine/decode_inputs.py), called by prepare_decode
"""
from aios.engine.cuda_graph import CUDAGraphRunner, capture_batch_sizes, padded_batch_size
from aios.engine.decode_inputs import DecodeInputs

padded_size = CUDAGraphRunner.padded_size
load = DecodeInputs.load

__all__ = ["capture_batch_sizes", "padded_batch_size", "padded_size", "load"]
