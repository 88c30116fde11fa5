package tokenizer

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchCorpus is German text: the quotations of fortunes-de (1.9 MB) from
// ../shared when present, else the German test set.
func benchCorpus(b *testing.B) []string {
	var lines []string
	if shared != "" {
		if f, err := os.Open(filepath.Join(filepath.Dir(filepath.Dir(shared)), "testdata", "german", "fortunes-de_zitate.txt")); err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if l := strings.TrimSpace(sc.Text()); l != "" && l != "%" {
					lines = append(lines, sc.Text())
				}
			}
			return lines
		}
	}
	f, err := os.Open("../testdata/tokenizers/german_texts.jsonl")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var s string
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			b.Fatal(err)
		}
		lines = append(lines, s)
	}
	return lines
}

// BenchmarkEncode reports encode speed per family on German text, with
// the word cache (steady state of a long run) and without it. Mistral and
// Gemma have no pre-tokenizer, so their "words" are whole lines and the
// cached figure only shows a repeated corpus; read their nocache figure.
//
// fortunes-de (1.9 MB, 40k lines), one core of a 2-core AMD EPYC, go1.26.8,
// MB/s cache / nocache: mistral 30.6 / 9.9, qwen3 21.4 / 10.4, llama3
// 20.7 / 12.0, llama3_eot 19.7 / 11.6, gemma3 24.8 / 7.8, llama2
// tokenizer.model 7.4 (no cache).
func BenchmarkEncode(b *testing.B) {
	lines := benchCorpus(b)
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	for _, f := range append(families, family{name: "llama2_spm"}) {
		for _, cache := range []bool{true, false} {
			name := f.name + "/cache"
			if !cache {
				name = f.name + "/nocache"
			}
			b.Run(name, func(b *testing.B) {
				var tk *Tokenizer
				if f.name == "llama2_spm" {
					if !cache {
						b.Skip("no cache")
					}
					tk = loadLlama2(b)
				} else {
					tk = loadFamily(b, f)
				}
				if m, ok := tk.model.(*bpe); ok {
					m.noCache = !cache
					defer func() { m.noCache = false }()
				}
				b.SetBytes(int64(n))
				b.ResetTimer()
				for b.Loop() {
					for _, l := range lines {
						tk.Encode(l, true)
					}
				}
			})
		}
	}
}
