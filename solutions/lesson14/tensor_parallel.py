"""Lesson 14, solved: the engine's own tensor-parallel pieces (aios/layers/).

    column_weight_loader   ColumnParallelLinear.weight_loader: this rank's rows
    row_weight_loader      RowParallelLinear.weight_loader: this rank's columns
    row_forward            RowParallelLinear.forward: partial sums, one all-reduce
    embedding_forward      VocabParallelEmbedding.forward: owned tokens, one all-reduce
"""
from aios.layers.embed_head import VocabParallelEmbedding
from aios.layers.linear import ColumnParallelLinear, RowParallelLinear

column_weight_loader = ColumnParallelLinear.weight_loader
row_weight_loader = RowParallelLinear.weight_loader
row_forward = RowParallelLinear.forward
embedding_forward = VocabParallelEmbedding.forward

__all__ = ["column_weight_loader", "row_weight_loader", "row_forward", "embedding_forward"]
