#!/usr/bin/python3
"""Reference renderings of Hugging Face chat templates for package chat.

Renders every template x conversation x add_generation_prompt exactly as
transformers' tokenizer.apply_chat_template(messages, tokenize=False,
add_generation_prompt=...) does, without transformers (not installable
here): the same Jinja environment (ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks, the loopcontrols extension and a {% generation %}
tag rendering its body as transformers' AssistantTracker does), the same
globals (raise_exception raising TemplateError, strftime_now) and the same
tojson filter (json.dumps with ensure_ascii=False), and the same variables
(messages, tools=None, documents=None, add_generation_prompt, plus the
tokenizer's special tokens as strings). strftime_now is pinned to
2026-01-02 03:04:05 so that the output is reproducible; the Go test pins
the clock the same way.

Written for gomerge from transformers' src/transformers/utils/
chat_template_utils.py (_compile_jinja_template) and tokenization_utils_base
(apply_chat_template); no code copied.

Usage (Debian's python3-jinja2 3.1.2):
  /usr/bin/python3 tools/refgen/chat_templates.py > chat/testdata/reference.jsonl

Sources, in order:
  features:NAME templates of single features, chat/testdata/features.json
  ollama:N   line N (1-based) of chat/testdata/ollama_templates.jsonl
  hf:N       line N of chat/testdata/hf_templates.jsonl (real Hub templates
             gathered from huggingface.js and mistral.rs test data and
             chujiezheng/chat_templates)
  repo:PATH  a tokenizer_config.json in this repository
  shared:PATH a tokenizer_config.json(.gz) under ../shared (not vendored:
             Llama/Gemma licences; the Go test skips these without it)
"""

import glob
import gzip
import json
import os
import sys
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
NOW = datetime(2026, 1, 2, 3, 4, 5)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return NOW.strftime(fmt)


class GenerationTag(jinja2.ext.Extension):
    """{% generation %}...{% endgeneration %}: transformers' AssistantTracker
    renders the body unchanged (it only records where assistant text is)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def compile_template(source):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


SYS = {"role": "system", "content": "You are a helpful assistant."}
U1 = {"role": "user", "content": "Hello, who are you?"}
A1 = {"role": "assistant", "content": "I am a small language model."}
U2 = {"role": "user", "content": "What is 2+2?"}
DE_U = {"role": "user", "content": "Grüß Gott! Wie heißt die größte Stadt Österreichs?"}
DE_A = {"role": "assistant", "content": "Die größte Stadt Österreichs ist Wien – „Weltstadt“ mit ß und Ü."}
DE_SYS = {"role": "system", "content": "Antworte bitte auf Deutsch, höflich und kurz."}
A2 = {"role": "assistant", "content": "2+2 ist 4."}
EMPTY_SYS = {"role": "system", "content": ""}
EMPTY_U = {"role": "user", "content": ""}

CONVERSATIONS = [
    ("user", [U1]),
    ("system-user", [SYS, U1]),
    ("multi-turn", [U1, A1, U2]),
    ("system-multi-turn", [SYS, U1, A1, U2]),
    ("ends-assistant", [SYS, U1, A1]),
    ("german", [DE_SYS, DE_U, DE_A, DE_U]),
    ("bad-roles-user-user", [U1, U2]),
    ("bad-roles-assistant-first", [A1, U1]),
    ("empty-content", [EMPTY_SYS, EMPTY_U]),
    ("long", [SYS, U1, A1, U2, A2, DE_U]),
]


def token_str(v):
    if isinstance(v, dict):
        return v.get("content")
    return v


def special_tokens(cfg):
    # apply_chat_template passes tokenizer.special_tokens_map: the set ones as strings.
    out = {}
    for k in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
        v = token_str(cfg.get(k))
        if v is not None:
            out[k] = v
    return out


def templates_of(cfg):
    ct = cfg.get("chat_template")
    if ct is None:
        return []
    if isinstance(ct, str):
        return [("default", ct)]
    return [(t["name"], t["template"]) for t in ct]


def load_json(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def sources():
    with open(os.path.join(ROOT, "chat", "testdata", "features.json"), encoding="utf-8") as f:
        for name, tmpl in json.load(f).items():
            yield "features:" + name, name, tmpl, {"bos_token": "<s>", "eos_token": "</s>"}
    with open(os.path.join(ROOT, "chat", "testdata", "ollama_templates.jsonl"), encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            (name, tmpl), = json.loads(line).items()
            yield "ollama:%d" % i, name, tmpl, {"bos_token": "<s>", "eos_token": "</s>"}
    with open(os.path.join(ROOT, "chat", "testdata", "hf_templates.jsonl"), encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            (name, tmpl), = json.loads(line).items()
            yield "hf:%d" % i, name, tmpl, {"bos_token": "<s>", "eos_token": "</s>"}
    for path in sorted(glob.glob(os.path.join(ROOT, "testdata", "tokenizers", "*", "tokenizer_config.json"))):
        cfg = load_json(path)
        for name, tmpl in templates_of(cfg):
            yield "repo:" + os.path.relpath(path, ROOT), name, tmpl, special_tokens(cfg)
    for path in sorted(glob.glob(os.path.join(SHARED, "testdata", "tokenizers", "*", "tokenizer_config.json*"))):
        cfg = load_json(path)
        for name, tmpl in templates_of(cfg):
            yield "shared:" + os.path.relpath(path, SHARED), name, tmpl, special_tokens(cfg)


def main():
    for source, name, tmpl, tokens in sources():
        try:
            compiled = compile_template(tmpl)
        except jinja2.TemplateError as e:
            print(json.dumps({"source": source, "name": name, "compile_error": str(e)}, ensure_ascii=False))
            continue
        for conv_name, messages in CONVERSATIONS:
            for agp in (False, True):
                rec = {"source": source, "name": name, "conversation": conv_name,
                       "add_generation_prompt": agp, "special_tokens": tokens}
                try:
                    rec["output"] = compiled.render(messages=messages, tools=None, documents=None,
                                                    add_generation_prompt=agp, **tokens)
                except jinja2.TemplateError as e:
                    rec["error"] = str(e)
                except Exception as e:  # TypeError, ...: transformers lets these through too
                    rec["exception"] = "%s: %s" % (type(e).__name__, e)
                print(json.dumps(rec, ensure_ascii=False))


if __name__ == "__main__":
    main()
