"""Lesson 02: Qwen3 from scratch. Your exercise.

Write the three functions below; README.md ("The exercise") walks through
them. While your code runs, each one replaces the engine's own
(aios/course/plugin.py), so it takes the same arguments:

    target_name()            _target_name               aios/utils/loader.py
    attention_forward()      Qwen3Attention.forward     aios/models/qwen3.py
    decoder_layer_forward()  Qwen3DecoderLayer.forward  aios/models/qwen3.py

The last two are methods: `self` is the engine's layer, with its submodules
built and its weights loaded; you write only what happens in forward().

Check:  python -m pytest lessons/lesson02
Run:    python lessons/lesson02/run_lesson2.py
"""
import torch


def target_name(name: str, packed: dict) -> tuple[str, object]:
    """Step 1. A checkpoint tensor's name -> (our parameter's name, which slice of it).

    Our model fuses q/k/v into one `qkv_proj` and gate/up into one
    `gate_up_proj`; `packed` (Qwen3ForCausalLM.packed_modules_mapping) says how:
        {"q_proj": ("qkv_proj", "q"), "k_proj": ("qkv_proj", "k"), "v_proj": ("qkv_proj", "v"),
         "gate_proj": ("gate_up_proj", 0), "up_proj": ("gate_up_proj", 1)}
    "model.layers.3.self_attn.k_proj.weight" -> ("model.layers.3.self_attn.qkv_proj.weight", "k")
    "model.layers.3.mlp.down_proj.weight"    -> ("model.layers.3.mlp.down_proj.weight", None)
    Match whole parts of the name (".k_proj."), never a piece of one.
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 02, step 1: target_name() is yours to write "
                              "— see lessons/lesson02/README.md, or run with --solution")


def attention_forward(self, positions: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """Step 2. Qwen3Attention.forward: hidden [N, hidden_size] -> [N, hidden_size].

    self.qkv_proj, self.num_heads (H), self.num_kv_heads (Hkv), self.head_dim (D),
    self.qk_norm (bool), self.q_norm / self.k_norm (RMSNorm over D, when qk_norm),
    self.rotary_emb(positions, q, k), self.attn(q, k, v), self.o_proj.
      1. qkv_proj -> [N, (H + 2 * Hkv) * D]; split into q, k, v; view them as
         [N, H, D], [N, Hkv, D], [N, Hkv, D]
      2. if self.qk_norm: q, k = q_norm(q), k_norm(k)   (Qwen3 only)
      3. q, k = rotary_emb(positions, q, k)
      4. out = attn(q, k, v) -> [N, H, D]
      5. return o_proj(out as [N, H * D])
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 02, step 2: attention_forward() is yours to write "
                              "— see lessons/lesson02/README.md, or run with --solution")


def decoder_layer_forward(self, positions: torch.Tensor, hidden: torch.Tensor,
                          residual: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 3. Qwen3DecoderLayer.forward: one block, pre-norm, residual add fused into the norms.

    self.input_layernorm, self.self_attn, self.post_attention_layernorm, self.mlp.
    An RMSNorm called as norm(x, residual) returns (norm(x + residual), x + residual).
      1. first layer (residual is None): residual = hidden; hidden = input_layernorm(hidden)
         later layers: hidden, residual = input_layernorm(hidden, residual)
      2. hidden = self_attn(positions, hidden)
      3. hidden, residual = post_attention_layernorm(hidden, residual)
      4. return mlp(hidden), residual
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 02, step 3: decoder_layer_forward() is yours to write "
                              "— see lessons/lesson02/README.md, or run with --solution")
