#!/usr/bin/env python3
"""Runs lm-evaluation-harness's own code on cases for gomerge's eval tests.

The functions are taken from the harness source with `ast` and executed
as they are (no lm_eval install, no torch): utils.get_rolling_token_windows,
utils.make_disjoint_window, TemplateLM._encode_pair and the empty-context
branch of TemplateLM.loglikelihood (with a byte-level tokenizer: id = byte+3,
BOS 1), and Task.count_words.

    python3 make_golden.py /path/to/lm-evaluation-harness > golden.json
"""
import ast
import json
import random
import re
import subprocess
import sys

root = sys.argv[1]


def extract(path, names):
    src = open(f"{root}/{path}").read()
    out = {}
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.FunctionDef) and node.name in names:
            node.decorator_list = []
            out[node.name] = ast.get_source_segment(src, node)
    return out


ns = {"Generator": object, "Any": object, "tqdm": lambda x, **k: x}
exec("from __future__ import annotations\n" + "\n\n".join(
    extract("lm_eval/utils.py", {"get_rolling_token_windows", "make_disjoint_window"}).values()), ns)
import textwrap
methods = extract("lm_eval/api/model.py", {"_encode_pair", "loglikelihood"})
exec("from __future__ import annotations\n" + "\n\n".join(textwrap.dedent(m) for m in methods.values()), ns)


class FakeLM:
    backend = "causal"

    def __init__(self, add_bos, prefix):
        self.add_bos, self.prefix_token_id = add_bos, prefix

    def tok_encode(self, s, add_special_tokens=None):
        ids = [b + 3 for b in s.encode()]
        if self.add_bos and add_special_tokens is not False:
            ids = [1] + ids
        return ids

    def _loglikelihood_tokens(self, reqs, **kw):
        return [(c, k) for _, c, k in reqs]


FakeLM._encode_pair = ns["_encode_pair"]
FakeLM.loglikelihood = ns["loglikelihood"]


class Req:
    def __init__(self, args):
        self.args = args


rnd = random.Random(20261127)
windows = []
for _ in range(100):
    n = rnd.randrange(0, 30)
    max_len = rnd.randrange(1, 12)
    ctx_len = rnd.randrange(1, max_len + 1)
    toks = list(range(n))
    ws = list(ns["get_rolling_token_windows"](toks, -7, max_len, ctx_len))
    windows.append({"tokens": toks, "max_len": max_len, "context_len": ctx_len,
                    "windows": [list(w) for w in ws],
                    "disjoint": [list(ns["make_disjoint_window"](w)) for w in ws]})

pairs = []
contexts = ["Frage: Wer?\nAntwort:", "Antwort: ", "Text \t\n", "A\u00a0", "x\u2003\u3000", "x\x1c", "x\u200b",
            "", "Grüße ", "  "]
conts = [" Ja", "Nein", " Äpfel", "\n", "xy", "\x00z"]
for c in contexts:
    for k in conts:
        for add_bos in (False, True):
            for prefix in (1, ord("x") + 3, 3):
                try:
                    (ctx, cont), = FakeLM(add_bos, prefix).loglikelihood([Req((c, k))])
                except (AssertionError, IndexError) as e:
                    ctx, cont = None, None
                pairs.append({"context": c, "continuation": k, "add_bos": add_bos, "prefix": prefix,
                              "context_enc": ctx, "continuation_enc": cont})

words = ["", " ", "a", "a b", " a", "a ", "a  b", "\ta\nb\r\n", "a\u00a0b", "a\x1cb", "a\x1fb", "a\u200bb",
         "a\u3000b", "a\u2028b", "a\x85b", "a\u180eb", "a\ufeffb", "Grüße aus Köln", "  x  y  "]
count_words = [{"text": w, "words": len(re.split(r"\s+", w))} for w in words]

commit = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
json.dump({"harness_commit": commit, "python": sys.version.split()[0], "windows": windows,
           "pairs": pairs, "count_words": count_words}, sys.stdout, ensure_ascii=False, separators=(",", ":"))
print()
