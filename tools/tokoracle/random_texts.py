#!/usr/bin/env python3
"""Writes random strings built from the characters that decide the split
regexes and normalizers (spaces of several kinds, newlines, apostrophes,
letters incl. ſ/ß/umlauts, digits incl. superscripts, punctuation, emoji,
combining marks, added-token fragments), one JSON string per line.

usage: python3 tools/tokoracle/random_texts.py N SEED > testdata/tokenizers/random_texts.jsonl
"""
import json, random, sys

n, seed = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
atoms = [" ", " ", " ", "  ", "\n", "\r\n", "\r", "\t", "\u00a0", "\u3000", "\u2009", "\u200b",
         "'", "'s", "'S", "'ll", "'LL", "'re", "'ve", "'m", "'d", "'t", "'ſ", "'x",
         "a", "B", "ß", "ä", "Ö", "ü", "ſ", "é", "Straße", "Haus", "über", "Ω", "я", "中", "ﬁ",
         "0", "7", "42", "2024", "12345", "²", "٣", "Ⅻ", "½",
         ".", ",", "!", "?", "-", "(", ")", "\"", "„", "“", "…", "—", "€", "$", "_", "#", "*", "/", "\\",
         "😀", "🇩🇪", "👨‍👩‍👧", "\u0308", "e\u0301", "▁", "\x00", "\x7f",
         "<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|begin_of_text|>", "<|eot_id|>",
         "<start_of_turn>", "<end_of_turn>", "<think>", "<", "|", ">"]
for _ in range(n):
    k = rng.randint(0, 12)
    print(json.dumps("".join(rng.choice(atoms) for _ in range(k)), ensure_ascii=False))
