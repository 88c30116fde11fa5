#!/usr/bin/env python3
"""Loads gomerge outputs (made by tools/refgen/interop.sh DIR) with transformers and PEFT.

    python3 tools/refgen/interop.py DIR

Checks: the tokenizer-building merges load with LlamaTokenizerFast and pass the checks of
mergekit's tests/test_tokenizer.py; merged models load with AutoModelForCausalLM and run;
the extracted LoRA adapter loads with PEFT and PEFT's merge equals gomerge's own application;
the tokensurgeon output loads and runs on the donor's tokenizer. Prints one JSON report.
"""
import json
import os
import sys
import traceback

import torch

D = sys.argv[1]
OUT = os.path.join(D, "out")
report = {}


def check(name):
    def wrap(fn):
        try:
            report[name] = {"ok": True, **(fn() or {})}
        except Exception as e:
            report[name] = {"ok": False, "error": repr(e), "trace": traceback.format_exc()[-1500:]}
        return fn
    return wrap


def tok_checks(path, size, added=None, must=(), must_not=()):
    from transformers import LlamaTokenizerFast
    tok = LlamaTokenizerFast.from_pretrained(path)
    vocab = tok.get_vocab()
    assert len(vocab) == size, f"vocab {len(vocab)} != {size}"
    if added is not None:
        assert len(tok.added_tokens_decoder) == added, f"added {len(tok.added_tokens_decoder)} != {added}"
    for t in must:
        assert t in vocab, t
    for t in must_not:
        assert t not in vocab, t
    return tok


def run_model(path, tok=None):
    from transformers import AutoModelForCausalLM, AutoConfig
    cfg = AutoConfig.from_pretrained(path)
    m = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    ids = torch.arange(min(cfg.vocab_size, 48)).unsqueeze(0) if tok is None else tok("_tok_5 _tok_6 <|im_end|>", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = m(input_ids=ids).logits
    assert torch.isfinite(logits).all()
    return {"vocab_size": cfg.vocab_size, "embed_rows": m.get_input_embeddings().weight.shape[0]}


@check("union")
def _():
    tok = tok_checks(os.path.join(OUT, "union"), 66, 5, ["<|im_start|>", "<|im_end|>"], [f"<UNUSED_{i}>" for i in range(4)])
    from safetensors.torch import load_file
    out = load_file(os.path.join(OUT, "union", "model.safetensors"))["model.embed_tokens.weight"]
    ch = load_file(os.path.join(D, "models", "chatml", "model.safetensors"))["model.embed_tokens.weight"]
    v = tok.get_vocab()
    assert torch.allclose(out[v["<|im_start|>"]], ch[64]), "<|im_start|> is not model_chatml's row"
    return run_model(os.path.join(OUT, "union"), tok)


@check("base")
def _():
    tok = tok_checks(os.path.join(OUT, "base"), 64, 3)
    return run_model(os.path.join(OUT, "base"))


@check("source_model")
def _():
    tok_checks(os.path.join(OUT, "model"), 66, None, ["<|im_start|>", "<|im_end|>"])
    return run_model(os.path.join(OUT, "model"))


@check("pad_to_multiple_of")
def _():
    tok_checks(os.path.join(OUT, "pad"), 66, None, ["<|im_start|>", "<|im_end|>"])
    r = run_model(os.path.join(OUT, "pad"))
    assert r["vocab_size"] == 80 and r["embed_rows"] == 80, r
    return r


@check("force")
def _():
    tok = tok_checks(os.path.join(OUT, "force"), 66, None, ["<|im_start|>"])
    from safetensors.torch import load_file
    out = load_file(os.path.join(OUT, "force", "model.safetensors"))["model.embed_tokens.weight"]
    ch = load_file(os.path.join(D, "models", "chatml", "model.safetensors"))["model.embed_tokens.weight"]
    assert torch.allclose(out[tok.get_vocab()["_tok_10"]], ch[10]), "_tok_10 is not model_chatml's"
    return {}


@check("extract_lora_peft")
def _():
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    from safetensors.torch import load_file
    base = AutoModelForCausalLM.from_pretrained(os.path.join(D, "models", "golden_base"), dtype=torch.float64)
    merged = PeftModel.from_pretrained(base, os.path.join(OUT, "lora")).merge_and_unload()
    ours = load_file(os.path.join(OUT, "lora_applied", "model.safetensors"))
    worst, n = 0.0, 0
    for k, v in merged.state_dict().items():
        if k not in ours:
            continue
        a, b = v.float(), ours[k].float()
        worst = max(worst, ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item())
        n += 1
    assert n > 30, n
    assert worst < 1e-5, worst
    return {"tensors": n, "max_rel_diff_vs_gomerge_apply": worst}


@check("tokensurgeon")
def _():
    from transformers import AutoTokenizer
    path = os.path.join(OUT, "surgeon")
    tok = AutoTokenizer.from_pretrained(path)
    return run_model(path, tok)


report["versions"] = {"torch": torch.__version__}
for mod in ["transformers", "peft"]:
    report["versions"][mod] = __import__(mod).__version__
print(json.dumps(report, indent=1))
failed = [k for k, v in report.items() if isinstance(v, dict) and v.get("ok") is False]
print("FAILED:", failed)
