#!/usr/bin/env python3
"""Reference data for gomerge's tests, computed with PyTorch, transformers and PEFT.

gomerge has no Python dependency. These references were made once, on a machine that has
PyTorch 2.11, transformers 5.x and PEFT (see versions.json in the output), with:

    python3 tools/refgen/refgen.py OUTDIR [STORIES260K_DIR] [LLAMA2_TOKENIZER_MODEL] [GERMAN_SENTENCES]

and the result unpacked into testdata/ref/. Every part is independent: a failing part prints
its traceback and the others still run. Parts:

  eval/     tiny random decoder models (Llama with llama3 rope scaling and GQA, Mistral, Qwen2,
            Qwen3, Gemma, Gemma2, Gemma3) saved as HF safetensors directories, plus logits and
            hidden states for a fixed token sequence, computed in float64 with eager attention;
            also logits with the weights rounded to bfloat16 (math still float64), logits of the
            golden tiny Llama models, and stories260K converted and decoded greedily.
  torch/    pytorch_model.bin files written by torch.save: every dtype, shared storages, views
            with offsets and strides, legacy (non-zip) format, a module state_dict (with
            _metadata), and an HF-style sharded checkpoint with its index; expected tensors as
            safetensors.
  lora/     PEFT adapters (rank/alpha patterns, rsLoRA, DoRA, fan_in_fan_out on GPT-2,
            embedding LoRA, modules_to_save) and the merged weights PEFT's merge_and_unload
            gives, computed in float64 and stored as float32.
  tokenizer/ ids of German sentences under Meta's Llama-2 SentencePiece model (sentencepiece).
"""
import functools
import json
import os
import sys
import traceback
from collections import OrderedDict

import torch
from safetensors.torch import save_file

OUT = sys.argv[1]
STORIES = sys.argv[2] if len(sys.argv) > 2 else None
SPM = sys.argv[3] if len(sys.argv) > 3 else None
GERMAN = sys.argv[4] if len(sys.argv) > 4 else None
os.makedirs(OUT, exist_ok=True)
FAILED = []


def part(fn):
    @functools.wraps(fn)
    def run():
        try:
            fn()
            print("OK", fn.__name__, flush=True)
        except Exception:
            traceback.print_exc()
            FAILED.append(fn.__name__)
            print("FAILED", fn.__name__, flush=True)
    return run


def randomize(model, gemma_norm=False, seed=0):
    """Weights large enough that every part of the forward pass moves the logits."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and "norm" in name:
                if gemma_norm:
                    p.copy_(0.2 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif p.ndim == 1:  # biases
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embed" in name or name.endswith("wte.weight") or name.endswith("wpe.weight"):
                s = 0.15 if gemma_norm else 1.0
                p.copy_(s * torch.randn(p.shape, generator=g))
            else:
                fan_in = p.shape[1] if p.ndim == 2 else p.shape[0]
                p.copy_(torch.randn(p.shape, generator=g) * (1.5 / fan_in ** 0.5))


def eager(cls_or_auto, cfg):
    from transformers import AutoModelForCausalLM
    try:
        m = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    except TypeError:
        cfg._attn_implementation = "eager"
        m = AutoModelForCausalLM.from_config(cfg)
    return m.float().eval()


def forward64(model, ids):
    m = model.double()
    with torch.no_grad():
        out = m(input_ids=ids.unsqueeze(0), output_hidden_states=True, use_cache=False)
    logits = out.logits[0].float().contiguous()
    hidden = torch.stack([h[0] for h in out.hidden_states]).float().contiguous()
    model.float()
    return logits, hidden


def bf16_rounded_logits(model, ids):
    import copy
    m = copy.deepcopy(model)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.to(torch.bfloat16).to(p.dtype))
    return forward64(m, ids)[0]


def eval_configs():
    from transformers import (LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config,
                              GemmaConfig, Gemma2Config, Gemma3TextConfig)
    common = dict(vocab_size=320, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                  bos_token_id=1, eos_token_id=2, pad_token_id=0)
    out = OrderedDict()
    out["llama"] = (LlamaConfig(**common, rms_norm_eps=1e-5, rope_theta=500000.0,
                                rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                              "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
                                tie_word_embeddings=False), False)
    out["mistral"] = (MistralConfig(**common, rms_norm_eps=1e-6, rope_theta=10000.0, sliding_window=None,
                                    tie_word_embeddings=False), False)
    out["qwen2"] = (Qwen2Config(**common, rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
                                use_sliding_window=False), False)
    out["qwen3"] = (Qwen3Config(**common, head_dim=32, rms_norm_eps=1e-6, rope_theta=1000000.0,
                                tie_word_embeddings=True, attention_bias=False), False)
    out["gemma"] = (GemmaConfig(**common, head_dim=32, rms_norm_eps=1e-6, rope_theta=10000.0,
                                hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True), True)
    out["gemma2"] = (Gemma2Config(**common, head_dim=32, rms_norm_eps=1e-6, rope_theta=10000.0,
                                  hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=24,
                                  sliding_window=12, final_logit_softcapping=3.0, attn_logit_softcapping=1.5,
                                  tie_word_embeddings=True), True)
    out["gemma3"] = (Gemma3TextConfig(**common, head_dim=32, rms_norm_eps=1e-6, rope_theta=1000000.0,
                                      rope_local_base_freq=10000.0, hidden_activation="gelu_pytorch_tanh",
                                      query_pre_attn_scalar=24, sliding_window=12,
                                      layer_types=["sliding_attention", "full_attention"],
                                      tie_word_embeddings=True), True)
    return out


def token_ids(vocab, n=40, seed=7):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (n,), generator=g)
    ids[0] = 1
    return ids


@part
def eval_models():
    for name, (cfg, gemma) in eval_configs().items():
        torch.manual_seed(0)
        model = eager(None, cfg)
        randomize(model, gemma_norm=gemma, seed=len(name))
        d = os.path.join(OUT, "eval", "models", name)
        model.save_pretrained(d)
        ids = token_ids(cfg.vocab_size)
        logits, hidden = forward64(model, ids)
        lb = bf16_rounded_logits(model, ids)
        save_file({"input_ids": ids.to(torch.int64), "logits": logits, "hidden": hidden, "logits_bf16w": lb},
                  os.path.join(OUT, "eval", name + ".safetensors"))
        print(name, "logits std %.3f max %.3f" % (logits.std().item(), logits.abs().max().item()), flush=True)
        print(open(os.path.join(d, "config.json")).read(), flush=True)
        for mn, mod in model.named_modules():
            if hasattr(mod, "inv_freq"):
                print("  ", mn, "inv_freq", [round(x, 6) for x in mod.inv_freq.tolist()[:4]], "...",
                      mod.inv_freq.tolist()[-1], "attention_scaling", getattr(mod, "attention_scaling", None))


@part
def eval_golden():
    from transformers import AutoModelForCausalLM
    root = os.path.join("testdata", "golden")
    cases = ["models/base_f32", "models/ft1_bf16", "ties_int8mask_lambda_f32"]
    for c in cases:
        d = os.path.join(root, c)
        if c.startswith("models/"):
            pass
        else:
            d = os.path.join(d, "output")
        if not os.path.isdir(d):
            print("skip", d)
            continue
        model = AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager", dtype=torch.float32).eval()
        ids = token_ids(model.config.vocab_size, n=32, seed=3)
        logits, hidden = forward64(model, ids)
        save_file({"input_ids": ids, "logits": logits, "hidden": hidden},
                  os.path.join(OUT, "eval", "golden_" + c.replace("/", "_") + ".safetensors"))


def read_llama2c(path):
    import struct
    with open(path, "rb") as f:
        dim, hidden, layers, heads, kv, vocab, seq = struct.unpack("7i", f.read(28))
        shared = vocab > 0
        vocab = abs(vocab)
        buf = torch.frombuffer(bytearray(f.read()), dtype=torch.float32)
    off = [0]

    def take(*shape):
        n = 1
        for s in shape:
            n *= s
        t = buf[off[0]:off[0] + n].reshape(shape).clone()
        off[0] += n
        return t
    hd = dim // heads
    w = {}
    w["tok"] = take(vocab, dim)
    w["rms_att"] = take(layers, dim)
    w["wq"] = take(layers, dim, dim)
    w["wk"] = take(layers, kv * hd, dim)
    w["wv"] = take(layers, kv * hd, dim)
    w["wo"] = take(layers, dim, dim)
    w["rms_ffn"] = take(layers, dim)
    w["w1"] = take(layers, hidden, dim)
    w["w2"] = take(layers, dim, hidden)
    w["w3"] = take(layers, hidden, dim)
    w["rms_final"] = take(dim)
    return dict(dim=dim, hidden=hidden, layers=layers, heads=heads, kv=kv, vocab=vocab, seq=seq, shared=shared), w


@part
def eval_stories():
    if not STORIES:
        print("no stories260K dir")
        return
    from transformers import LlamaConfig, LlamaForCausalLM
    h, w = read_llama2c(os.path.join(STORIES, "stories260K.bin"))
    cfg = LlamaConfig(vocab_size=h["vocab"], hidden_size=h["dim"], intermediate_size=h["hidden"],
                      num_hidden_layers=h["layers"], num_attention_heads=h["heads"], num_key_value_heads=h["kv"],
                      max_position_embeddings=h["seq"], rms_norm_eps=1e-5, rope_theta=10000.0,
                      tie_word_embeddings=h["shared"], bos_token_id=1, eos_token_id=2)
    cfg._attn_implementation = "eager"
    model = LlamaForCausalLM(cfg).eval()

    def permute(t, nh):
        d1, d2 = t.shape
        return t.view(nh, d1 // nh // 2, 2, d2).transpose(1, 2).reshape(d1, d2)
    sd = {"model.embed_tokens.weight": w["tok"], "model.norm.weight": w["rms_final"]}
    for i in range(h["layers"]):
        p = "model.layers.%d." % i
        sd[p + "input_layernorm.weight"] = w["rms_att"][i]
        sd[p + "post_attention_layernorm.weight"] = w["rms_ffn"][i]
        sd[p + "self_attn.q_proj.weight"] = permute(w["wq"][i], h["heads"])
        sd[p + "self_attn.k_proj.weight"] = permute(w["wk"][i], h["kv"])
        sd[p + "self_attn.v_proj.weight"] = w["wv"][i]
        sd[p + "self_attn.o_proj.weight"] = w["wo"][i]
        sd[p + "mlp.gate_proj.weight"] = w["w1"][i]
        sd[p + "mlp.down_proj.weight"] = w["w2"][i]
        sd[p + "mlp.up_proj.weight"] = w["w3"][i]
    sd["lm_head.weight"] = w["tok"]
    missing, unexpected = model.load_state_dict(sd, strict=False)
    print("stories missing", missing, "unexpected", unexpected)
    model = model.float()
    with torch.no_grad():
        ids = torch.tensor([[1]])
        for _ in range(199):
            nxt = model(input_ids=ids, use_cache=False).logits[0, -1].argmax()
            ids = torch.cat([ids, nxt.view(1, 1)], dim=1)
    ids = ids[0]
    logits, hidden = forward64(model, ids[:64])
    save_file({"greedy_ids": ids.clone().to(torch.int64), "logits": logits, "input_ids": ids[:64].clone().to(torch.int64)},
              os.path.join(OUT, "eval", "stories260K.safetensors"))
    print("stories greedy", ids[:40].tolist())


def dtype_variants():
    g = torch.Generator().manual_seed(11)
    base = torch.randn(10, 6, generator=g)
    sd = OrderedDict()
    sd["f32"] = torch.randn(3, 4, generator=g)
    sd["f64"] = torch.randn(2, 3, generator=g).double()
    sd["f16"] = torch.randn(5, generator=g).half()
    sd["bf16"] = torch.randn(2, 3, generator=g).bfloat16()
    sd["i64"] = torch.arange(-3, 4, dtype=torch.int64)
    sd["i32"] = torch.arange(-2, 3, dtype=torch.int32)
    sd["i16"] = torch.arange(-2, 3, dtype=torch.int16)
    sd["i8"] = torch.arange(-4, 4, dtype=torch.int8)
    sd["u8"] = torch.arange(0, 250, 50, dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["f8_e4m3"] = torch.randn(4, generator=g).to(torch.float8_e4m3fn)
    sd["f8_e5m2"] = torch.randn(4, generator=g).to(torch.float8_e5m2)
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 4)
    sd["tied_a"] = base
    sd["tied_b"] = base
    sd["view_rows"] = base[2:5]
    sd["view_t"] = base.t()
    sd["view_col"] = base[:, 1]
    sd["view_step"] = base[1::3, ::2]
    sd["expand"] = base[0:1].expand(3, 6)
    return sd


@part
def torch_bins():
    d = os.path.join(OUT, "torch", "variants")
    os.makedirs(d, exist_ok=True)
    sd = dtype_variants()
    torch.save(sd, os.path.join(d, "variants.bin"))
    torch.save(sd, os.path.join(d, "variants_legacy.bin"), _use_new_zipfile_serialization=False)
    torch.save(sd, os.path.join(d, "variants_proto4.bin"), pickle_protocol=4)
    save_file({k: v.contiguous().clone() for k, v in sd.items()}, os.path.join(d, "expected.safetensors"))


@part
def torch_sharded():
    from transformers import LlamaConfig, AutoModelForCausalLM
    cfg, _ = eval_configs()["llama"]
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg)
    randomize(model, seed=99)
    model = model.to(torch.bfloat16)
    d = os.path.join(OUT, "torch", "sharded")
    os.makedirs(d, exist_ok=True)
    cfg.torch_dtype = "bfloat16"
    model.config.to_json_file(os.path.join(d, "config.json"))
    full = model.state_dict()
    # one file with the module's own state_dict (an OrderedDict carrying _metadata)
    s = os.path.join(OUT, "torch", "statedict")
    os.makedirs(s, exist_ok=True)
    torch.save(full, os.path.join(s, "pytorch_model.bin"))
    model.config.to_json_file(os.path.join(s, "config.json"))
    names = list(full.keys())
    shards = [names[: len(names) // 3], names[len(names) // 3: 2 * len(names) // 3], names[2 * len(names) // 3:]]
    wm = {}
    total = 0
    for i, ns in enumerate(shards):
        fn = "pytorch_model-%05d-of-%05d.bin" % (i + 1, len(shards))
        torch.save({n: full[n] for n in ns}, os.path.join(d, fn))
        for n in ns:
            wm[n] = fn
            total += full[n].numel() * full[n].element_size()
    json.dump({"metadata": {"total_size": total}, "weight_map": wm},
              open(os.path.join(d, "pytorch_model.bin.index.json"), "w"), indent=2)
    save_file({k: v.contiguous().clone() for k, v in full.items()}, os.path.join(OUT, "torch", "sharded_expected.safetensors"))


def save_merged(model, path):
    sd = {k: v.detach().float().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(sd, path)


@part
def lora_cases():
    from peft import LoraConfig, get_peft_model, PeftModel
    from transformers import AutoModelForCausalLM, GPT2Config
    base_dir = os.path.join(OUT, "eval", "models", "llama")
    cases = OrderedDict()
    cases["lora_patterns"] = dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                                                     "gate_proj", "up_proj", "down_proj"],
                                  rank_pattern={"k_proj": 2}, alpha_pattern={"v_proj": 16})
    cases["rslora"] = dict(r=4, lora_alpha=8, target_modules=["q_proj", "down_proj"], use_rslora=True)
    cases["dora"] = dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"], use_dora=True)
    cases["embed"] = dict(r=4, lora_alpha=4, target_modules=["embed_tokens", "lm_head", "o_proj"])
    cases["modules_to_save"] = dict(r=2, lora_alpha=4, target_modules=["q_proj"], modules_to_save=["lm_head"])
    cases["layers"] = dict(r=2, lora_alpha=2, target_modules=["gate_proj"], layers_to_transform=[1])
    for name, kw in cases.items():
        torch.manual_seed(123)
        base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
        pm = get_peft_model(base, LoraConfig(init_lora_weights=False, lora_dropout=0.0, **kw))
        g = torch.Generator().manual_seed(5)
        with torch.no_grad():
            for n, p in pm.named_parameters():
                if "lora_magnitude_vector" in n:
                    p.mul_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
                if "modules_to_save" in n:
                    p.add_(0.1 * torch.randn(p.shape, generator=g))
                if "lora_B" in n or "lora_embedding_B" in n:
                    p.add_(0.2 * torch.randn(p.shape, generator=g))
        d = os.path.join(OUT, "lora", name)
        pm.save_pretrained(os.path.join(d, "adapter"))
        base64 = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float64)
        pm64 = PeftModel.from_pretrained(base64, os.path.join(d, "adapter"))
        merged = pm64.merge_and_unload()
        save_merged(merged, os.path.join(d, "merged.safetensors"))
    # fan_in_fan_out: GPT-2's Conv1D stores weights [in, out]
    cfg = GPT2Config(vocab_size=320, n_embd=64, n_layer=2, n_head=4, n_positions=64)
    torch.manual_seed(0)
    gpt = AutoModelForCausalLM.from_config(cfg).float()
    randomize(gpt, seed=3)
    gdir = os.path.join(OUT, "lora", "gpt2_base")
    gpt.save_pretrained(gdir)
    torch.manual_seed(321)
    base = AutoModelForCausalLM.from_pretrained(gdir, dtype=torch.float32)
    pm = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj"],
                                         fan_in_fan_out=True, init_lora_weights=False, lora_dropout=0.0))
    d = os.path.join(OUT, "lora", "gpt2_fan_in_fan_out")
    pm.save_pretrained(os.path.join(d, "adapter"))
    base64 = AutoModelForCausalLM.from_pretrained(gdir, dtype=torch.float64)
    merged = PeftModel.from_pretrained(base64, os.path.join(d, "adapter")).merge_and_unload()
    save_merged(merged, os.path.join(d, "merged.safetensors"))


@part
def lora_bin():
    """The lora_patterns adapter saved the old way (adapter_model.bin), with its merged weights."""
    from peft import LoraConfig, get_peft_model, PeftModel
    from transformers import AutoModelForCausalLM
    import shutil
    base_dir = os.path.join(OUT, "eval", "models", "llama")
    src = os.path.join(OUT, "lora", "lora_patterns", "adapter")
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    pm = PeftModel.from_pretrained(base, src)
    d = os.path.join(OUT, "lora", "lora_patterns_bin")
    pm.save_pretrained(os.path.join(d, "adapter"), safe_serialization=False)
    print(os.listdir(os.path.join(d, "adapter")))


@part
def spm_ids():
    if not (SPM and GERMAN):
        print("no spm model or text")
        return
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=SPM)
    lines = [l.rstrip("\n") for l in open(GERMAN, encoding="utf-8")][:200]
    extra = ["", " ", "  zwei  Leerzeichen", "Grüße\taus\nMünchen", "ß ẞ ÄÖÜ äöü", "def f(x):\n    return x**2",
             "Emoji: 😀🇩🇪", "Donaudampfschifffahrtsgesellschaftskapitän", "1234567890", "<s> </s> [INST]"]
    d = os.path.join(OUT, "tokenizer")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "llama2_spm_ids.jsonl"), "w", encoding="utf-8") as f:
        for t in lines + extra:
            f.write(json.dumps({"text": t, "ids": sp.encode(t)}, ensure_ascii=False) + "\n")
    try:
        from transformers import LlamaTokenizerFast
        tok = LlamaTokenizerFast(vocab_file=SPM, legacy=True, from_slow=True)
        tok.save_pretrained(os.path.join(d, "llama2_fast"))
    except Exception:
        traceback.print_exc()


def versions():
    v = {"torch": torch.__version__}
    for mod in ["transformers", "peft", "safetensors", "sentencepiece", "tokenizers"]:
        try:
            v[mod] = __import__(mod).__version__
        except Exception as e:  # noqa
            v[mod] = "missing: %s" % e
    json.dump(v, open(os.path.join(OUT, "versions.json"), "w"), indent=2)
    print(v)


if __name__ == "__main__":
    versions()
    only = os.environ.get("REFGEN_ONLY", "").split(",")
    for fn in [eval_models, eval_golden, eval_stories, torch_bins, torch_sharded, lora_cases, lora_bin, spm_ids]:
        if only == [""] or fn.__name__ in only:
            fn()
    print("FAILED PARTS:", FAILED)
