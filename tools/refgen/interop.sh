#!/usr/bin/env bash
# Prepares gomerge outputs for tools/refgen/interop.py, which loads them with
# transformers and PEFT on a machine that has them (see testdata/ref/README.md).
# Usage: tools/refgen/interop.sh DIR   (run from the repo root)
set -euo pipefail
D=${1:?usage: interop.sh DIR}
rm -rf "$D" && mkdir -p "$D/models" "$D/out"
go build -o "$D/gomerge" ./cmd/gomerge
gen() { go run ./internal/testmodel/cmd/genmodel -size 2e5 -hidden 64 -intermediate 128 -dtype float32 -shard-size 1e9 -vocab "$2" -seed "$3" "$D/models/$1" >/dev/null; }
gen base 64 1; gen padded 64 2; gen chatml 66 3
python3 - "$D/models" <<'PY'
import json, sys, os
root = sys.argv[1]
def tok(name, added):
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for i in range(3, 64): vocab[f"_tok_{i}"] = i
    at = [dict(id=i, content=c, single_word=False, lstrip=False, rstrip=False, normalized=False, special=True) for i, c in enumerate(["<unk>", "<s>", "</s>"])]
    at += [dict(id=64 + i, content=c, single_word=False, lstrip=False, rstrip=False, normalized=True, special=False) for i, c in enumerate(added)]
    doc = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": at, "normalizer": None, "pre_tokenizer": None,
           "post_processor": None, "decoder": None, "model": {"type": "BPE", "dropout": None, "unk_token": None, "vocab": vocab, "merges": []}}
    json.dump(doc, open(os.path.join(root, name, "tokenizer.json"), "w"))
    json.dump({"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
              open(os.path.join(root, name, "tokenizer_config.json"), "w"))
tok("base", []); tok("padded", [f"<UNUSED_{i}>" for i in range(4)]); tok("chatml", ["<|im_start|>", "<|im_end|>"])
PY
cfg() { printf 'merge_method: linear\nbase_model: %s\ndtype: float32\n%s\nmodels:\n' "$1" "$2"; shift 2; for m in "$@"; do printf '  - model: %s\n    parameters: {weight: 1.0}\n' "$m"; done; }
M="$D/models"
cfg $M/base "tokenizer_source: union" $M/base $M/padded $M/chatml > "$D/union.yml"
cfg $M/base "tokenizer_source: base" $M/base $M/padded $M/chatml > "$D/base.yml"
cfg $M/base "tokenizer_source: $M/chatml" $M/base $M/padded $M/chatml > "$D/model.yml"
cfg $M/chatml "tokenizer: {source: base, pad_to_multiple_of: 16}" $M/chatml > "$D/pad.yml"
cfg $M/base "tokenizer: {source: union, tokens: {_tok_10: {source: $M/chatml, force: true}}}" $M/base $M/chatml > "$D/force.yml"
for c in union base model pad force; do "$D/gomerge" "$D/$c.yml" "$D/out/$c" --quiet; done
G=testdata/golden/models
"$D/gomerge" extract-lora --model $G/ft1_f32 --base-model $G/base_f32 --out-path "$D/out/lora" --max-rank 8 2>/dev/null
printf 'merge_method: passthrough\ndtype: float32\nmodels:\n  - model: %s+%s\n' "$PWD/$G/base_f32" "$D/out/lora" > "$D/applied.yml"
"$D/gomerge" "$D/applied.yml" "$D/out/lora_applied" --quiet
"$D/gomerge" tokensurgeon "$M/base" "$M/chatml" "$D/out/surgeon" -k 8 2>/dev/null
cp -r $G/base_f32 "$D/models/golden_base"
rm "$D/gomerge"
