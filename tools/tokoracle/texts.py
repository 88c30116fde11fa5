#!/usr/bin/env python3
"""Writes testdata/tokenizers/german_texts.jsonl: the German test set for the
tokenizer agreement tests (one JSON string per line).

usage: python3 tools/tokoracle/texts.py /work/shared/testdata/german > testdata/tokenizers/german_texts.jsonl

The first 200 sentences of UD German-PUD (CC BY-SA 3.0) and 100 of UD
German-GSD test (CC BY-SA 4.0), then hand-written edge cases.
"""
import json, sys, os

d = sys.argv[1]
def lines(name, n):
    with open(os.path.join(d, name), encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if l.strip()][:n]

edge = [
    "", " ", "  ", "\n", "\t",
    "Der schnelle braune Fuchs springt über den faulen Hund. Grüße aus München – Straße, Öl, Äpfel!",
    "ß ẞ ÄÖÜ äöü Maße Masse STRASSE",
    "Mu\u0308nchen, Gru\u0308\u00dfe, A\u0308pfel (zerlegte Umlaute)",
    "Donaudampfschifffahrtsgesellschaftskapitän",
    "Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz",
    "Kraftfahrzeughaftpflichtversicherung und Bundesausbildungsförderungsgesetz",
    "def f(x):\n    return x**2",
    "for (int i = 0; i < 10; i++) {\n\tprintf(\"%d\\n\", i);\n}",
    "<html><body class=\"größe\">Überschrift</body></html>",
    "SELECT name FROM kunden WHERE stadt = 'Köln';",
    "Emoji: 😀🇩🇪 👨‍👩‍👧 ❤️ 👍🏽",
    "  zwei  Leerzeichen",
    "drei   Leerzeichen   hier",
    "Zeile eins\n\n\nZeile zwei",
    "Ende mit Leerzeichen   ",
    "\t\tTabulator\tund\tmehr",
    " \n \n  \n",
    "x \r\n y\r\n\r\nz",
    "a\u00a0b\u2009c\u3000d\u202fe",
    "1234567890 und 3,14 € sowie 1.000.000 $",
    "Kurs: 1,5 % (2023) — »Zitat« „Gänsefüßchen“ ‚einfach‘",
    "Don't you'll I'M HE'S it'ſ they've WE'D",
    "'s 'S 'll 'LL 'Re",
    "日本語と中文 und Ελληνικά und Русский",
    "𝔊𝔬𝔱𝔥𝔦𝔰𝔠𝔥 und ﬁ ﬂ Ligaturen",
    "Steuerzeichen\u0001\u0007 und \u200b unsichtbar",
    "hahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahahaha",
    "<s>Hallo</s> <unk> [INST] Frage [/INST]",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHallo<|eot_id|>",
    "<|im_start|>user\nWie geht's?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nGut!<|im_end|>",
    "<start_of_turn>user\nHallo Welt<end_of_turn>\n<start_of_turn>model\n",
    "<|endoftext|>Text nach dem Ende",
    "E-Mail: max.mustermann@beispiel.de, URL: https://www.beispiel.de/pfad?q=äöü&x=1",
    "Größenordnung:   10⁻³ m² · 5 km/h ≈ 1,39 m/s",
]
out = lines("ud_german_pud_test.sentences.txt", 200) + lines("ud_german_gsd_test.sentences.txt", 100) + edge
for t in out:
    print(json.dumps(t, ensure_ascii=False))
