// Command gendata builds the German task sets embedded in package eval
// from the third-party text listed in ../shared/testdata/README.md §4.
// Every choice it makes (which sentences, which words to swap, the order
// of the choices) comes from FNV-1a hashes of the text, so the output is
// the same on every run and every Go version; the .zst files are
// byte-identical for the same github.com/klauspost/compress version.
//
//	go generate ./eval     (runs: go run ./internal/gendata -src … -out data)
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
)

func main() {
	def := os.Getenv("GOMERGE_SHARED")
	if def == "" {
		def = "../../shared"
	}
	src := flag.String("src", filepath.Join(def, "testdata", "german"), "directory with the German source files")
	bench := flag.String("bench", filepath.Join(def, "testdata", "german-bench"), "directory with the leaderboard sets (Belebele, PAWS-X, MGSM)")
	out := flag.String("out", "data", "output directory")
	flag.Parse()
	if err := run(*src, *bench, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}

type set struct {
	name, yaml, license string
	docs                []any
	// fewshot, when set, is written to NAME.fewshot.jsonl.zst.
	fewshot []any
}

func run(src, benchSrc, out string) error {
	gsd, err := readLines(filepath.Join(src, "ud_german_gsd_test.sentences.txt"))
	if err != nil {
		return err
	}
	pud, err := readLines(filepath.Join(src, "ud_german_pud_test.sentences.txt"))
	if err != nil {
		return err
	}
	xq, err := os.ReadFile(filepath.Join(src, "xquad.de.json"))
	if err != nil {
		return err
	}
	xqDocs, err := xquadChoices(xq)
	if err != nil {
		return err
	}
	sets := []set{
		{name: "de_ud_gsd_ppl", yaml: yamlPPL, license: licenseGSD, docs: perplexityDocs(gsd, 400)},
		{name: "de_ud_pud_order", yaml: yamlOrder, license: licensePUD, docs: orderPairs(pud)},
		{name: "de_xquad_mc", yaml: yamlXQuAD, license: licenseXQuAD, docs: xqDocs},
	}
	bench, err := benchSets(benchSrc)
	if err != nil {
		return err
	}
	sets = append(sets, bench...)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, s := range sets {
		jsonl := func(docs []any) ([]byte, error) {
			var buf bytes.Buffer
			for _, d := range docs {
				b, err := marshal(d)
				if err != nil {
					return nil, err
				}
				buf.Write(b)
				buf.WriteByte('\n')
			}
			return buf.Bytes(), nil
		}
		raw, err := jsonl(s.docs)
		if err != nil {
			return err
		}
		z := enc.EncodeAll(raw, nil)
		files := map[string][]byte{
			s.name + ".jsonl.zst":   z,
			s.name + ".yaml":        []byte(fmt.Sprintf(s.yaml, len(s.docs))),
			s.name + ".LICENSE.txt": []byte(s.license),
		}
		if s.fewshot != nil {
			b, err := jsonl(s.fewshot)
			if err != nil {
				return err
			}
			files[s.name+".fewshot.jsonl.zst"] = enc.EncodeAll(b, nil)
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
				return err
			}
		}
		fmt.Printf("%-18s %4d docs  %7d bytes jsonl  %6d bytes zstd\n", s.name, len(s.docs), len(raw), len(z))
	}
	return nil
}

// marshal is json.Marshal without HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

func readLines(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, sc.Err()
}

func hash(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

type textDoc struct {
	Text string `json:"text"`
}

type choiceDoc struct {
	Context string   `json:"context"`
	Choices []string `json:"choices"`
	Gold    int      `json:"gold"`
}

// perplexityDocs keeps n sentences, those with the smallest hashes, in
// their original order.
func perplexityDocs(lines []string, n int) []any {
	idx := make([]int, len(lines))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return hash("ppl", lines[idx[a]]) < hash("ppl", lines[idx[b]]) })
	idx = idx[:min(n, len(idx))]
	sort.Ints(idx)
	docs := make([]any, len(idx))
	for i, j := range idx {
		docs[i] = textDoc{lines[j]}
	}
	return docs
}

func isWord(w string) bool {
	if w == "" {
		return false
	}
	for _, r := range w {
		if !unicode.IsLetter(r) && r != '-' {
			return false
		}
	}
	return true
}

// orderPairs makes a minimal pair from every other sentence: the sentence
// and the same sentence with two adjacent words swapped. Only words made
// of letters count, and never the first word, so capitalisation and
// punctuation give nothing away.
func orderPairs(lines []string) []any {
	var docs []any
	for i := 0; i < len(lines); i += 2 {
		words := strings.Split(lines[i], " ")
		var cand []int
		for j := 1; j+1 < len(words); j++ {
			if isWord(words[j]) && isWord(words[j+1]) && words[j] != words[j+1] {
				cand = append(cand, j)
			}
		}
		if len(cand) == 0 {
			continue
		}
		j := cand[hash("swap", lines[i])%uint64(len(cand))]
		w := append([]string(nil), words...)
		w[j], w[j+1] = w[j+1], w[j]
		bad := strings.Join(w, " ")
		d := choiceDoc{Choices: []string{lines[i], bad}}
		if hash("order", lines[i])%2 == 1 {
			d.Choices[0], d.Choices[1], d.Gold = bad, lines[i], 1
		}
		docs = append(docs, d)
	}
	return docs
}

type squad struct {
	Data []struct {
		Title      string `json:"title"`
		Paragraphs []struct {
			Context string `json:"context"`
			QAs     []struct {
				ID       string `json:"id"`
				Question string `json:"question"`
				Answers  []struct {
					Text  string `json:"text"`
					Start int    `json:"answer_start"`
				} `json:"answers"`
			} `json:"qas"`
		} `json:"paragraphs"`
	} `json:"data"`
}

// xquadChoices makes one item per paragraph of at most 1500 characters:
// the first question with at least two usable distractors, which are the
// answers to the paragraph's other questions that neither contain nor are
// contained in the gold answer. At most three distractors are kept, the
// choices are ordered by hash.
func xquadChoices(data []byte) ([]any, error) {
	var sq squad
	if err := json.Unmarshal(data, &sq); err != nil {
		return nil, fmt.Errorf("xquad: %w", err)
	}
	var docs []any
	for _, art := range sq.Data {
		for _, p := range art.Paragraphs {
			if utf8.RuneCountInString(p.Context) > 1500 {
				continue
			}
			for qi, qa := range p.QAs {
				if len(qa.Answers) == 0 {
					continue
				}
				gold := strings.TrimSpace(qa.Answers[0].Text)
				lg := strings.ToLower(gold)
				var dis []string
				seen := map[string]bool{lg: true}
				for oi, o := range p.QAs {
					if oi == qi || len(o.Answers) == 0 {
						continue
					}
					a := strings.TrimSpace(o.Answers[0].Text)
					la := strings.ToLower(a)
					if a == "" || seen[la] || strings.Contains(la, lg) || strings.Contains(lg, la) {
						continue
					}
					seen[la] = true
					dis = append(dis, a)
				}
				if len(dis) < 2 {
					continue
				}
				choices := append([]string{gold}, dis[:min(3, len(dis))]...)
				sort.SliceStable(choices, func(a, b int) bool { return hash(qa.ID, choices[a]) < hash(qa.ID, choices[b]) })
				g := 0
				for k, c := range choices {
					if c == gold {
						g = k
					}
				}
				docs = append(docs, choiceDoc{
					Context: "Text: " + p.Context + "\nFrage: " + strings.TrimSpace(qa.Question) + "\nAntwort:",
					Choices: choices, Gold: g,
				})
				break
			}
		}
	}
	return docs, nil
}

const yamlPPL = `# Generated by internal/gendata; do not edit. Licence: de_ud_gsd_ppl.LICENSE.txt
task: de_ud_gsd_ppl
output_type: loglikelihood_rolling
license: CC BY-SA 4.0 (UD German-GSD, test split)
# %d sentences, each its own document.
dataset_path: de_ud_gsd_ppl.jsonl.zst
`

const yamlOrder = `# Generated by internal/gendata; do not edit. Licence: de_ud_pud_order.LICENSE.txt
# Minimal pairs: a sentence against the same sentence with two adjacent
# words swapped, scored from an empty context (as lm-eval's BLiMP).
task: de_ud_pud_order
output_type: multiple_choice
license: CC BY-SA 3.0 (UD German-PUD)
metric_list: [acc]
# %d pairs.
dataset_path: de_ud_pud_order.jsonl.zst
`

const yamlXQuAD = `# Generated by internal/gendata; do not edit. Licence: de_xquad_mc.LICENSE.txt
# Reading comprehension: the answer span against answers to other
# questions about the same paragraph.
task: de_xquad_mc
output_type: multiple_choice
license: CC BY-SA 4.0 (XQuAD, German)
metric_list: [acc, acc_norm]
# %d questions.
dataset_path: de_xquad_mc.jsonl.zst
`

const licenseGSD = `de_ud_gsd_ppl: 400 sentences of the test split of UD German-GSD
(de_gsd-ud-test.conllu, "# text =" lines), chosen by hash, unchanged.

Source: Universal Dependencies, UD_German-GSD, commit 297fcf3,
https://github.com/UniversalDependencies/UD_German-GSD
Contributors: Slav Petrov, Wolfgang Seeker, Ryan McDonald, Joakim Nivre,
Daniel Zeman, Adriane Boyd, Verena Blaschke.
Licence: Creative Commons Attribution-ShareAlike 4.0 International,
https://creativecommons.org/licenses/by-sa/4.0/legalcode
This selection is distributed under the same licence.
`

const licensePUD = `de_ud_pud_order: minimal pairs built from every other sentence of UD
German-PUD (de_pud-ud-test.conllu, "# text =" lines): the sentence and a
copy with two adjacent words swapped.

Source: Universal Dependencies, UD_German-PUD (Parallel Universal
Dependencies, CoNLL 2017 shared task), commit ff80846,
https://github.com/UniversalDependencies/UD_German-PUD
Text and translations made available by Google; translation to German by
DFKI. Contributors: Hans Uszkoreit, Vivien Macketanz, Aljoscha Burchardt,
Georg Rehm, Kim Harris, Katrin Marheinecke, Slav Petrov, Tolga Kayadelen,
Mohammed Attia, Ali Elkahky, Zhuoran Yu, Emily Pitler, Saran Lertpradit,
Michael Mandl, Sebastian Bank, Martin Popel, Daniel Zeman.
Licence: Creative Commons Attribution-ShareAlike 3.0,
https://creativecommons.org/licenses/by-sa/3.0/legalcode
The text is provided without any warranty of any kind. This adaptation
is distributed under the same licence.
`

const licenseXQuAD = `de_xquad_mc: multiple-choice items built from XQuAD (German): for one
question per paragraph of at most 1500 characters, the paragraph and the
question as context, the answer span as the gold choice and up to three
answers to other questions about the same paragraph as distractors.

Source: XQuAD, google-deepmind/xquad, xquad.de.json, commit 7d30520,
https://github.com/google-deepmind/xquad
Mikel Artetxe, Sebastian Ruder, Dani Yogatama: On the cross-lingual
transferability of monolingual representations, arXiv:1910.11856 (2019).
Licence: Creative Commons Attribution-ShareAlike 4.0 International,
https://creativecommons.org/licenses/by-sa/4.0/legalcode
This adaptation is distributed under the same licence.
`
