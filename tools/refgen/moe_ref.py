#!/usr/bin/env python3
"""Reference logits of tiny random mixtures of experts, for eval/model's MoE forward pass.

transformers cannot be installed where this was run (no PyPI; Debian's python3-torch 1.13 only),
so this is a plain-torch transcription of the forward passes, line by line, of:

  - MixtralForCausalLM: transformers src/transformers/models/mixtral/modular_mixtral.py
    (MixtralSparseMoeBlock, read at commit 008f5c8c29be) and, for the transformers-5 stacked
    experts, MixtralExperts.forward (gate_up_proj[e] -> chunk(2): gate rows, then up rows);
  - Qwen2MoeForCausalLM: src/transformers/models/qwen2_moe/modular_qwen2_moe.py at commit
    001f85b38fb4 (Qwen2MoeTopKRouter, Qwen2MoeSparseMoeBlock, Qwen2MoeDecoderLayer);
  - Qwen3MoeForCausalLM: the same router and experts without the shared expert, with
    Qwen3's per-head q_norm/k_norm and no q/k/v biases;
  - DeepseekForCausalLM (DeepSeek-MoE v1): the remote code modeling_deepseek.py of
    deepseek-ai/deepseek-moe-16b-base (MoEGate with scoring_func softmax, top-k sorted=False,
    renormalised only when top_k > 1 and norm_topk_prob, denominator + 1e-20; DeepseekMoE adds
    shared_experts, one MLP of n_shared_experts * moe_intermediate_size).

The attention, rotary embedding and RMSNorm are those of modeling_llama.py (eager attention).
As in transformers run in float64: RMSNorm computes in float32 and casts back, rotary angles
and their cos/sin are float32, the attention softmax is float32, and the Mixtral/Qwen router
softmax is float32 (dtype=torch.float) while DeepSeek's is in the activation dtype. Everything
else is float64. Weights are random (seeded), rounded to bfloat16 and stored so (the math uses
those rounded values); logits are stored as float32.

    /usr/bin/python3 tools/refgen/moe_ref.py testdata/ref/moe

writes, per case, CASE/config.json, CASE/model.safetensors and CASE/ref.safetensors with
ids_S (I64) and logits_S [len, vocab] for each test sequence S, and for sequence 0 the routing
of every sparse layer L: experts_L [len, k] (I64, highest weight first) and weights_L [len, k].
safetensors files are written by hand (8-byte header length, JSON header, raw little-endian
data), as the safetensors package is not installed either.
"""
import json
import math
import os
import struct
import sys

import torch

torch.set_grad_enabled(False)
OUT = sys.argv[1]
F64 = torch.float64

SEQS = [
    [1, 17, 42, 5, 90, 33, 33, 7, 64, 2, 88, 71, 12, 9, 50, 3, 95, 44, 20, 61, 8, 8, 30, 77],
    [4, 60, 15, 81, 26, 39, 2, 70, 11],
    [93],
]


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        if t.dtype == torch.bfloat16:
            dt, raw = "BF16", t.view(torch.int16).numpy().tobytes()
        elif t.dtype == torch.float32:
            dt, raw = "F32", t.numpy().astype("<f4").tobytes()
        elif t.dtype == torch.int64:
            dt, raw = "I64", t.numpy().astype("<i8").tobytes()
        else:
            raise ValueError(t.dtype)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class Weights:
    """Random weights, rounded to bfloat16: .saved holds what the file stores, .get the float64 math copy."""

    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)
        self.saved = {}

    def new(self, name, *shape, kind="matrix"):
        if kind == "norm":
            w = 1.0 + 0.2 * torch.randn(shape, generator=self.g)
        elif kind == "bias":
            w = 0.1 * torch.randn(shape, generator=self.g)
        elif kind == "embed":
            w = torch.randn(shape, generator=self.g)
        else:
            w = torch.randn(shape, generator=self.g) * (1.5 / shape[-1] ** 0.5)
        w = w.to(torch.bfloat16)
        self.saved[name] = w
        return w.to(F64)


def rms_norm(x, w, eps):
    # LlamaRMSNorm: computed in float32, cast back to the input dtype, then scaled.
    h = x.to(torch.float32)
    var = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(var + eps)
    return w * h.to(x.dtype)


def rope(cfg, n):
    d = cfg["head_dim"]
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    pos = torch.arange(n).float()
    freqs = pos[:, None] @ inv[None, :]  # float32, as LlamaRotaryEmbedding
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(F64), emb.sin().to(F64)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def attention(cfg, w, p, x, cos, sin):
    n, hd, nh, nkv = x.shape[0], cfg["head_dim"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    q = x @ w[p + "self_attn.q_proj.weight"].T
    k = x @ w[p + "self_attn.k_proj.weight"].T
    v = x @ w[p + "self_attn.v_proj.weight"].T
    if p + "self_attn.q_proj.bias" in w:
        q, k, v = q + w[p + "self_attn.q_proj.bias"], k + w[p + "self_attn.k_proj.bias"], v + w[p + "self_attn.v_proj.bias"]
    q = q.view(n, nh, hd).transpose(0, 1)
    k = k.view(n, nkv, hd).transpose(0, 1)
    v = v.view(n, nkv, hd).transpose(0, 1)
    if p + "self_attn.q_norm.weight" in w:  # Qwen3: per-head norm before the rotation
        q = rms_norm(q, w[p + "self_attn.q_norm.weight"], cfg["rms_norm_eps"])
        k = rms_norm(k, w[p + "self_attn.k_norm.weight"], cfg["rms_norm_eps"])
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    rep = nh // nkv
    k = k.repeat_interleave(rep, dim=0)
    v = v.repeat_interleave(rep, dim=0)
    s = (q @ k.transpose(1, 2)) * hd ** -0.5
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    mask = j > i
    if cfg.get("sliding_window"):
        mask = mask | (i - j >= cfg["sliding_window"])
    s = s.masked_fill(mask, float("-inf"))
    a = torch.softmax(s, dim=-1, dtype=torch.float32).to(F64)
    o = (a @ v).transpose(0, 1).reshape(n, nh * hd)
    return o @ w[p + "self_attn.o_proj.weight"].T


def mlp(x, gate, up, down):
    return (torch.nn.functional.silu(x @ gate.T) * (x @ up.T)) @ down.T


def route_topk_renorm(logits, k, norm):
    """Mixtral (norm always) and Qwen2/3-MoE routers: softmax in float32, top-k, renormalise."""
    probs = torch.softmax(logits, dim=-1, dtype=torch.float)
    top, idx = torch.topk(probs, k, dim=-1)
    if norm:
        top = top / top.sum(dim=-1, keepdim=True)
    return top.to(logits.dtype), idx


def route_deepseek(logits, k, norm):
    scores = logits.softmax(dim=-1)
    top, idx = torch.topk(scores, k=k, dim=-1, sorted=False)
    if k > 1 and norm:
        top = top / (top.sum(dim=-1, keepdim=True) + 1e-20)
    return top, idx


def sparse(cfg, m, x, routes, layer):
    """One MoE block; m holds the layer's router and experts (each expert: gate, up, down)."""
    fam = cfg["model_type"]
    logits = x @ m["router"].T
    if fam == "deepseek":
        w, idx = route_deepseek(logits, cfg["num_experts_per_tok"], cfg.get("norm_topk_prob", False))
    else:
        norm = True if fam == "mixtral" else cfg.get("norm_topk_prob", False)
        w, idx = route_topk_renorm(logits, cfg["num_experts_per_tok"], norm)
    order = torch.argsort(w, dim=-1, descending=True)
    routes[layer] = (torch.gather(idx, 1, order), torch.gather(w, 1, order))
    out = torch.zeros_like(x)
    for e, (g, u, d) in enumerate(m["experts"]):
        tok, slot = torch.where(idx == e)
        if len(tok) == 0:
            continue
        out.index_add_(0, tok, mlp(x[tok], g, u, d) * w[tok, slot, None])
    if "shared" in m:
        s = mlp(x, *m["shared"])
        if "shared_gate" in m:
            s = torch.sigmoid(x @ m["shared_gate"].T) * s
        out = out + s
    return out


def is_sparse(cfg, i):
    fam = cfg["model_type"]
    if fam == "mixtral":
        return True
    if fam == "deepseek":
        return i >= cfg["first_k_dense_replace"] and i % cfg["moe_layer_freq"] == 0
    return i not in cfg.get("mlp_only_layers", []) and (i + 1) % cfg.get("decoder_sparse_step", 1) == 0


def build(cfg, layout, seed):
    """Random weights for cfg; returns the math copy of every tensor and the per-layer MoE blocks."""
    W = Weights(seed)
    H, V, hd = cfg["hidden_size"], cfg["vocab_size"], cfg["head_dim"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    fam = cfg["model_type"]
    E = cfg.get("num_local_experts") or cfg.get("num_experts") or cfg.get("n_routed_experts")
    I = cfg["intermediate_size"] if fam == "mixtral" else cfg["moe_intermediate_size"]
    w, blocks = {}, {}
    w["model.embed_tokens.weight"] = W.new("model.embed_tokens.weight", V, H, kind="embed")
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        for n in ("input_layernorm", "post_attention_layernorm"):
            w[p + n + ".weight"] = W.new(p + n + ".weight", H, kind="norm")
        for n, rows in (("q", nh * hd), ("k", nkv * hd), ("v", nkv * hd)):
            w[p + f"self_attn.{n}_proj.weight"] = W.new(p + f"self_attn.{n}_proj.weight", rows, H)
            if fam == "qwen2_moe":
                w[p + f"self_attn.{n}_proj.bias"] = W.new(p + f"self_attn.{n}_proj.bias", rows, kind="bias")
        w[p + "self_attn.o_proj.weight"] = W.new(p + "self_attn.o_proj.weight", H, nh * hd)
        if fam == "qwen3_moe":
            for n in ("q_norm", "k_norm"):
                w[p + f"self_attn.{n}.weight"] = W.new(p + f"self_attn.{n}.weight", hd, kind="norm")
        if not is_sparse(cfg, i):
            D = cfg["intermediate_size"]
            for n, shape in (("gate_proj", (D, H)), ("up_proj", (D, H)), ("down_proj", (H, D))):
                w[p + f"mlp.{n}.weight"] = W.new(p + f"mlp.{n}.weight", *shape)
            continue
        m = {"experts": []}
        if layout == "legacy":  # Mixtral, transformers 4
            q = p + "block_sparse_moe."
            m["router"] = W.new(q + "gate.weight", E, H)
            for e in range(E):
                g = W.new(q + f"experts.{e}.w1.weight", I, H)
                d = W.new(q + f"experts.{e}.w2.weight", H, I)
                u = W.new(q + f"experts.{e}.w3.weight", I, H)
                m["experts"].append((g, u, d))
        elif layout == "per_expert":  # Qwen-MoE transformers 4, DeepSeek
            m["router"] = W.new(p + "mlp.gate.weight", E, H)
            for e in range(E):
                q = p + f"mlp.experts.{e}."
                g = W.new(q + "gate_proj.weight", I, H)
                u = W.new(q + "up_proj.weight", I, H)
                d = W.new(q + "down_proj.weight", H, I)
                m["experts"].append((g, u, d))
        else:  # transformers 5: stacked experts
            m["router"] = W.new(p + "mlp.gate.weight", E, H)
            gu = W.new(p + "mlp.experts.gate_up_proj", E, 2 * I, H)
            dn = W.new(p + "mlp.experts.down_proj", E, H, I)
            for e in range(E):
                g, u = gu[e].chunk(2, dim=0)  # F.linear(x, gate_up_proj[e]).chunk(2, dim=-1)
                m["experts"].append((g, u, dn[e]))
        if fam == "qwen2_moe":
            S = cfg["shared_expert_intermediate_size"]
            q = p + "mlp.shared_expert."
            m["shared"] = (W.new(q + "gate_proj.weight", S, H), W.new(q + "up_proj.weight", S, H),
                           W.new(q + "down_proj.weight", H, S))
            m["shared_gate"] = W.new(p + "mlp.shared_expert_gate.weight", 1, H)
        if fam == "deepseek" and cfg.get("n_shared_experts"):
            S = cfg["n_shared_experts"] * I
            q = p + "mlp.shared_experts."
            m["shared"] = (W.new(q + "gate_proj.weight", S, H), W.new(q + "up_proj.weight", S, H),
                           W.new(q + "down_proj.weight", H, S))
        blocks[i] = m
    w["model.norm.weight"] = W.new("model.norm.weight", H, kind="norm")
    w["lm_head.weight"] = W.new("lm_head.weight", V, H)
    return W.saved, w, blocks


def forward(cfg, w, blocks, ids, routes):
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    cos, sin = rope(cfg, len(ids))
    eps = cfg["rms_norm_eps"]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        x = x + attention(cfg, w, p, rms_norm(x, w[p + "input_layernorm.weight"], eps), cos, sin)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        if i in blocks:
            x = x + sparse(cfg, blocks[i], h, routes, i)
        else:
            x = x + mlp(h, w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"], w[p + "mlp.down_proj.weight"])
    x = rms_norm(x, w["model.norm.weight"], eps)
    return x @ w["lm_head.weight"].T


BASE = {
    "vocab_size": 96, "hidden_size": 32, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 64, "hidden_act": "silu",
    "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16",
}

CASES = {
    # transformers 4 layout, every layer sparse, top-2 renormalised.
    "mixtral_legacy": ("legacy", 11, {
        "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "num_hidden_layers": 2,
        "intermediate_size": 40, "num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": None}),
    # transformers 5 stacked experts, top-3, a sliding window shorter than sequence 0.
    "mixtral_fused": ("fused", 12, {
        "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "num_hidden_layers": 2,
        "intermediate_size": 40, "num_local_experts": 4, "num_experts_per_tok": 3, "sliding_window": 10}),
    # Shared expert with its sigmoid gate, top-k NOT renormalised, layer 1 dense (mlp_only_layers).
    "qwen2_moe": ("per_expert", 13, {
        "architectures": ["Qwen2MoeForCausalLM"], "model_type": "qwen2_moe", "num_hidden_layers": 3,
        "intermediate_size": 64, "moe_intermediate_size": 24, "shared_expert_intermediate_size": 40,
        "num_experts": 4, "num_experts_per_tok": 2, "norm_topk_prob": False, "decoder_sparse_step": 1,
        "mlp_only_layers": [1], "use_sliding_window": False, "sliding_window": None}),
    # q/k norms, head_dim 16 (q is wider than hidden), stacked experts, renormalised, layer 0 dense.
    "qwen3_moe": ("fused", 14, {
        "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "num_hidden_layers": 3,
        "head_dim": 16, "intermediate_size": 64, "moe_intermediate_size": 24, "num_experts": 4,
        "num_experts_per_tok": 2, "norm_topk_prob": True, "decoder_sparse_step": 1, "mlp_only_layers": [0],
        "attention_bias": False, "use_sliding_window": False, "sliding_window": None}),
    # Two shared experts, top-1 (norm_topk_prob does nothing for k = 1), first layer dense.
    "deepseek": ("per_expert", 15, {
        "architectures": ["DeepseekForCausalLM"], "model_type": "deepseek", "num_hidden_layers": 3,
        "intermediate_size": 64, "moe_intermediate_size": 24, "n_routed_experts": 4, "n_shared_experts": 2,
        "num_experts_per_tok": 1, "norm_topk_prob": True, "first_k_dense_replace": 1, "moe_layer_freq": 1,
        "scoring_func": "softmax", "attention_bias": False}),
}


def main():
    for name, (layout, seed, extra) in CASES.items():
        cfg = dict(BASE, **extra)
        saved, w, blocks = build(cfg, layout, seed)
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        write_safetensors(os.path.join(d, "model.safetensors"), saved)
        ref = {}
        for s, ids in enumerate(SEQS):
            routes = {}
            logits = forward(cfg, w, blocks, ids, routes)
            ref[f"ids_{s}"] = torch.tensor(ids, dtype=torch.int64)
            ref[f"logits_{s}"] = logits.to(torch.float32)
            if s == 0:
                for layer, (idx, wt) in routes.items():
                    ref[f"experts_{layer}"] = idx.to(torch.int64)
                    ref[f"weights_{layer}"] = wt.to(torch.float32)
        write_safetensors(os.path.join(d, "ref.safetensors"), ref)
        print(name, "layers", sorted(blocks), "logit std", float(ref["logits_0"].std()))
    with open(os.path.join(OUT, "versions.json"), "w") as f:
        json.dump({"torch": torch.__version__, "script": "tools/refgen/moe_ref.py"}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
