"""Writes german_bench_golden.json: contexts and continuations of chosen
documents of belebele_deu_Latn, paws_de, mgsm_direct_de and
mgsm_native_cot_de, rendered from the shared source files the way
lm-evaluation-harness 4e7e0d4 renders them (its task YAMLs and
paws-x/utils.py, samplers.py and build_qa_turn, re-stated here with
Python's own str.strip, re and random). Independent of gomerge's Go code.

    python3 german_bench_golden.py ../../../shared/testdata/german-bench > german_bench_golden.json
"""
import json
import random
import re
import sys

src = sys.argv[1]


def belebele():
    docs = [json.loads(l) for l in open(f"{src}/belebele_deu_Latn.jsonl", encoding="utf-8")]
    return docs


def bb_text(d, colon=":"):
    return (f"P: {d['flores_passage']}\nQ: {d['question'].strip()}\nA: {d['mc_answer1']}\nB: {d['mc_answer2']}"
            f"\nC: {d['mc_answer3']}\nD: {d['mc_answer4']}\nAnswer{colon}")


def bb_context(docs, i, k, quirk=False):
    colon = "\uff1a" if quirk else ":"
    if quirk:
        shots = docs[:k]
    else:
        shots = [x for x in docs if x != docs[i]][:k]
    out = ""
    for s in shots:
        out += bb_text(s, colon) + " " + ["A", "B", "C", "D"][["1", "2", "3", "4"].index(s["correct_answer_num"])] + "\n\n"
    return out + bb_text(docs[i], colon)


def detok(s):
    s = s.replace(" n't", "n't").replace(" )", ")").replace("( ", "(").replace('" ', '"').replace(' "', '"')
    return re.sub(r" (['.,])", r"\1", s)


def paws():
    lines = open(f"{src}/pawsx_de_test.tsv", encoding="utf-8").read().rstrip("\n").split("\n")[1:]
    raw, docs = [], []
    for l in lines:
        i, s1, s2, lab = l.split("\t")
        raw.append((s1, s2))
        if s1 in ("",) or s2 in ("",):
            continue
        s1 = detok(s1).strip()
        s2 = detok(s2).strip()
        if s1.endswith((".", ",", ";")):
            s1 = s1[:-1]
        s2 = s2[0].lower() + s2[1:]
        docs.append({"id": int(i), "sentence1": s1, "sentence2": s2, "label": int(lab)})
    return raw, docs


def mgsm():
    test = []
    for l in open(f"{src}/mgsm_de.tsv", encoding="utf-8").read().rstrip("\n").split("\n"):
        q, a = l.split("\t")
        test.append({"question": q, "answer": None, "answer_number": int(a.replace(",", "")), "equation_solution": None})
    ex = json.load(open(f"{src}/mgsm_de_exemplars.json", encoding="utf-8"))
    train = []
    for k in sorted(ex, key=int):
        a = ex[k]["a"]
        train.append({"question": ex[k]["q"], "answer": a, "answer_number": int(re.findall(r"\d+", a)[-1]),
                      "equation_solution": None})
    return test, train


def mgsm_text(d, cot):
    ans = "\nSchritt-für-Schritt-Antwort:" if cot else "\nAntwort:"
    return d["question"] + ans if d["answer"] is not None else "Frage: " + d["question"] + ans


def mgsm_target(d, cot):
    if cot and d["answer"] is not None:
        return d["answer"][29:]
    return str(d["answer_number"])


def mgsm_contexts(test, train, k, cot, n):
    rnd = random.Random(1234)
    delim = " " if cot else ""
    out = []
    for d in test[:n]:
        ctx = ""
        if k > 0:
            for s in rnd.sample(train, k):
                ctx += mgsm_text(s, cot) + delim + mgsm_target(s, cot) + "\n\n"
        out.append(ctx + mgsm_text(d, cot))
    return out


cases = []
bb = belebele()
for k, quirk, ids in [(0, False, [0, 899]), (1, False, [0, 1, 2]), (5, False, [0, 4, 5, 6, 898]), (5, True, [0, 3, 5, 899])]:
    for i in ids:
        cases.append({"task": "belebele_deu_Latn", "num_fewshot": k, "occiglot": quirk, "doc": i,
                      "context": bb_context(bb, i, k, quirk), "continuations": [" A", " B", " C", " D"],
                      "gold": ["1", "2", "3", "4"].index(bb[i]["correct_answer_num"])})

raw, pw = paws()
pick = [0]
edges = [lambda s: s == "NS", lambda s: " n't" in s or " )" in s or "( " in s, lambda s: ' "' in s or '" ' in s,
         lambda s: re.search(r" ['.,]", s) is not None, lambda s: s.rstrip().endswith(";"), lambda s: s.rstrip().endswith(","),
         lambda s: s != s.strip()]
for e in edges:
    for j, (s1, s2) in enumerate(raw):
        if (e(s1) or e(s2)) and j not in pick:
            pick.append(j)
            break
pick.append(len(pw) - 1)
for i in sorted(set(pick)):
    d = pw[i]
    cases.append({"task": "paws_de", "num_fewshot": 0, "doc": i, "context": "",
                  "continuations": [d["sentence1"] + ", richtig? Nein, " + d["sentence2"],
                                    d["sentence1"] + ", richtig? Ja, " + d["sentence2"]], "gold": d["label"]})

test, train = mgsm()
for cot in (False, True):
    name = "mgsm_native_cot_de" if cot else "mgsm_direct_de"
    for k in (0, 3, 8):
        ctxs = mgsm_contexts(test, train, k, cot, 250)
        for i in (0, 1, 2, 249):
            cases.append({"task": name, "num_fewshot": k, "doc": i, "context": ctxs[i],
                          "target": str(test[i]["answer_number"])})

json.dump(cases, sys.stdout, ensure_ascii=False, indent=1)
print()
