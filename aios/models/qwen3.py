"""Qwen3: the course's model, written from scratch.

A decoder-only transformer: embedding, N x (RMSNorm -> attention -> RMSNorm
-> SwiGLU MLP, each with a residual), final RMSNorm, LM head. Qwen3's one
twist on Llama is an RMSNorm on each query and key head before RoPE (q/k
norm). Llama and Qwen2 are this same decoder with a few flags changed
(llama.py, qwen2.py).

Activations are packed: a batch is one row of N tokens ([N, hidden]), with no
padding; the attention backend finds each sequence's boundaries in the
Context.
"""
from torch import nn

from aios.layers.activation import SiluAndMul
from aios.layers.attention import Attention
from aios.layers.embed_head import ParallelLMHead, VocabParallelEmbedding
from aios.layers.layernorm import RMSNorm
from aios.layers.linear import MergedColumnParallelLinear, QKVParallelLinear, RowParallelLinear
from aios.layers.rotary_embedding import RotaryEmbedding


def rope_settings(config) -> tuple[float, dict | None]:
    """(rope_theta, rope_scaling) from either transformers config style."""
    params = getattr(config, "rope_parameters", None) or {}
    theta = params.get("rope_theta", getattr(config, "rope_theta", 10000.0))
    scaling = getattr(config, "rope_scaling", None) or params
    return theta, scaling or None


def head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


class Qwen3Attention(nn.Module):
    # On a GPU the model runner sets this to a kernel that does q_norm, k_norm
    # and RoPE in one launch (aios/kernels/qk_norm_rotary.py), and writes k and v
    # into the KV cache on the way (unless fused_kv_store is False); None = the layers.
    fused_qk_norm_rotary = None
    fused_kv_store = True

    def __init__(self, config, qkv_bias: bool, qk_norm: bool, rotary_emb: RotaryEmbedding):
        super().__init__()
        self.head_dim = head_dim(config)
        self.qkv_proj = QKVParallelLinear(config.hidden_size, self.head_dim, config.num_attention_heads,
                                          config.num_key_value_heads, bias=qkv_bias)
        self.num_heads, self.num_kv_heads = self.qkv_proj.num_heads, self.qkv_proj.num_kv_heads
        self.o_proj = RowParallelLinear(config.num_attention_heads * self.head_dim, config.hidden_size)
        self.rotary_emb = rotary_emb   # one for all layers: the angles are the same
        self.attn = Attention(self.num_heads, self.head_dim, self.head_dim ** -0.5, self.num_kv_heads)
        self.qk_norm = qk_norm
        if qk_norm:
            self.q_norm = RMSNorm(self.head_dim, config.rms_norm_eps)
            self.k_norm = RMSNorm(self.head_dim, config.rms_norm_eps)

    def forward(self, positions, hidden):
        return self.o_proj(self.attend(positions, self.qkv_proj(hidden)))

    def attend(self, positions, qkv):
        """qkv [N, (H + 2Hkv) * D] -> attention's output [N, H * D], before o_proj."""
        q_size, kv_size = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        q, k, v = qkv.split([q_size, kv_size, kv_size], dim=-1)
        q = q.view(-1, self.num_heads, self.head_dim)
        k = k.view(-1, self.num_kv_heads, self.head_dim)
        v = v.view(-1, self.num_kv_heads, self.head_dim)
        if self.qk_norm and self.fused_qk_norm_rotary is not None:
            kv_store = self.attn.kv_store(v) if self.fused_kv_store else None
            q, k = self.fused_qk_norm_rotary(positions, q, k, self.q_norm.weight, self.k_norm.weight,
                                             self.q_norm.eps, self.rotary_emb.cos_sin_cache, kv_store)
            out = self.attn(q, k, v, kv_stored=kv_store is not None)  # [N, H, D]
        else:
            q, k = self.norm_and_rotate(positions, q, k)
            out = self.attn(q, k, v)
        return out.flatten(1)

    def norm_and_rotate(self, positions, q, k):
        """Qwen3's q/k norm (per head, over D), then RoPE."""
        if self.qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        return self.rotary_emb(positions, q, k)


class Qwen3MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        inter = config.intermediate_size
        self.gate_up_proj = MergedColumnParallelLinear(config.hidden_size, [inter, inter])
        self.down_proj = RowParallelLinear(inter, config.hidden_size)
        self.act = SiluAndMul()

    def forward(self, x):
        return self.down_proj(self.act(self.gate_up_proj(x)))


class Qwen3DecoderLayer(nn.Module):
    def __init__(self, config, qkv_bias: bool, qk_norm: bool, rotary_emb: RotaryEmbedding):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Qwen3Attention(config, qkv_bias, qk_norm, rotary_emb)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = Qwen3MLP(config)

    def forward(self, positions, hidden, residual):
        # The residual add is fused into the next norm: norm(hidden + residual).
        if residual is None:
            residual, hidden = hidden, self.input_layernorm(hidden)
        else:
            hidden, residual = self.input_layernorm(hidden, residual)
        hidden = self.self_attn(positions, hidden)
        hidden, residual = self.post_attention_layernorm(hidden, residual)
        return self.mlp(hidden), residual

    def forward_fused(self, positions, residual, norm_input, next_norm, fused):
        """The same layer on one running sum, its norms inside the GEMMs
        (aios/layers/fused_decode.py) -> (the new residual, next_norm's input or None)."""
        attn, mlp = self.self_attn, self.mlp
        qkv = fused.norm_linear(residual, norm_input, self.input_layernorm, attn.qkv_proj)
        residual, norm_input = fused.linear_add(attn.attend(positions, qkv), attn.o_proj, residual,
                                                self.post_attention_layernorm)
        act = mlp.act(fused.norm_linear(residual, norm_input, None, mlp.gate_up_proj))
        return fused.linear_add(act, mlp.down_proj, residual, next_norm)


class Qwen3Model(nn.Module):
    # On a GPU the model runner may set this to a FusedDecode, which runs the decode
    # batches it takes with fewer launches (aios/layers/fused_decode.py).
    fused_decode = None

    def __init__(self, config, qkv_bias: bool, qk_norm: bool):
        super().__init__()
        self.embed_tokens = VocabParallelEmbedding(config.vocab_size, config.hidden_size)
        theta, scaling = rope_settings(config)
        # One table of cos/sin for every layer: the layers rotate by the same angles, and an
        # eager step computes each position's angles once (aios/kernels/reference.py: per_step).
        rotary_emb = RotaryEmbedding(head_dim(config), config.max_position_embeddings, theta, scaling)
        self.layers = nn.ModuleList(Qwen3DecoderLayer(config, qkv_bias, qk_norm, rotary_emb)
                                    for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, input_ids, positions):
        hidden, residual = self.embed_tokens(input_ids), None
        fused = self.fused_decode
        if fused is not None and fused.takes(hidden):
            norm_input, last = None, len(self.layers) - 1
            for i, layer in enumerate(self.layers):
                next_norm = self.layers[i + 1].input_layernorm if i < last else None
                hidden, norm_input = layer.forward_fused(positions, hidden, norm_input, next_norm, fused)
            return self.norm(hidden)
        for layer in self.layers:
            hidden, residual = layer(positions, hidden, residual)
        hidden, _ = self.norm(hidden, residual)
        return hidden


class Qwen3ForCausalLM(nn.Module):
    # checkpoint name -> (our fused parameter, which slice of it)
    packed_modules_mapping = {
        "q_proj": ("qkv_proj", "q"),
        "k_proj": ("qkv_proj", "k"),
        "v_proj": ("qkv_proj", "v"),
        "gate_proj": ("gate_up_proj", 0),
        "up_proj": ("gate_up_proj", 1),
    }
    qk_norm = True

    def qkv_bias(self, config) -> bool:
        return getattr(config, "attention_bias", False)

    def __init__(self, config):
        super().__init__()
        self.model = Qwen3Model(config, self.qkv_bias(config), self.qk_norm)
        self.lm_head = ParallelLMHead(config.vocab_size, config.hidden_size)
        if getattr(config, "tie_word_embeddings", False):
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(self, input_ids, positions):
        """input_ids, positions: [N] -> hidden states [N, hidden]."""
        return self.model(input_ids, positions)

    def compute_logits(self, hidden, gather: bool = True):
        """-> logits [B, vocab] of each sequence's last token (gather=False, under
        TP: each rank's slice of the vocabulary, see ParallelLMHead)."""
        return self.lm_head(hidden, gather)
