#!/usr/bin/env python3
"""Checks gomerge's stories260K conversion and eval with sentencepiece and transformers.

    python3 tools/refgen/interop2.py DIR   # DIR as prepared in the session (converted model, sentences, outputs)

The converted tokenizer.model must load in sentencepiece and encode like gomerge's tokenizer; the
per-document log-likelihoods of `gomerge eval --per-item` must equal transformers' sum of
log p(token_i | BOS, tokens_<i).
"""
import json, os, sys
import torch
import sentencepiece as spm
from transformers import LlamaForCausalLM

D = sys.argv[1]
sp = spm.SentencePieceProcessor(model_file=os.path.join(D, "stories", "tokenizer.model"))
rep = {}
ours = [json.loads(l) for l in open(os.path.join(D, "ids.txt"))]
texts = [l.rstrip("\n") for l in open(os.path.join(D, "sents.txt"))]
theirs = [sp.encode(t) for t in texts]
rep["tokenize_agree"] = sum(a == b for a, b in zip(ours, theirs))
rep["tokenize_total"] = len(texts)
story = open(os.path.join(D, "story.txt")).read().rstrip("\n")
rep["story_ids_agree"] = json.loads(open(os.path.join(D, "story_ids.txt")).read()) == sp.encode(story)
m = LlamaForCausalLM.from_pretrained(os.path.join(D, "stories"), dtype=torch.float64).eval()
ev = json.load(open(os.path.join(D, "eval.json")))
items = ev["tasks"][0]["items"]
worst = 0.0
for it, ids in zip(items, theirs):
    x = torch.tensor([[1] + ids])
    with torch.no_grad():
        lp = torch.log_softmax(m(input_ids=x).logits[0, :-1], dim=-1)
    ll = lp.gather(1, x[0, 1:].unsqueeze(1)).sum().item()
    worst = max(worst, abs(ll - it["loglikelihood"]) / abs(ll))
    rep.setdefault("pairs", []).append([round(ll, 6), it["loglikelihood"], it["tokens"], len(ids)])
rep["max_rel_diff_loglikelihood"] = worst
print(json.dumps(rep, indent=1))
