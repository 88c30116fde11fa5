package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The leaderboard sets (../shared/testdata/german-bench): each document
// is rendered here exactly as lm-evaluation-harness 4e7e0d4 renders it
// (doc_to_text, doc_to_choice, doc_to_target, process_docs), and carries
// the harness's document ("doc") for --log-samples.

// mcDoc is a multiple-choice document with the harness's own document.
type mcDoc struct {
	Context string   `json:"context"`
	Choices []string `json:"choices"`
	Gold    int      `json:"gold"`
	Doc     any      `json:"doc"`
}

// genDoc is a generate_until document with the harness's own document.
type genDoc struct {
	Context string `json:"context"`
	Target  string `json:"target"`
	Doc     any    `json:"doc"`
}

// belebeleRow has the field names and order of facebook/belebele as far
// as the shared file holds them.
type belebeleRow struct {
	Link             string `json:"link"`
	FloresPassage    string `json:"flores_passage"`
	Question         string `json:"question"`
	MCAnswer1        string `json:"mc_answer1"`
	MCAnswer2        string `json:"mc_answer2"`
	MCAnswer3        string `json:"mc_answer3"`
	MCAnswer4        string `json:"mc_answer4"`
	CorrectAnswerNum string `json:"correct_answer_num"`
}

// pawsRow is google-research-datasets/paws-x's row.
type pawsRow struct {
	ID        int    `json:"id"`
	Sentence1 string `json:"sentence1"`
	Sentence2 string `json:"sentence2"`
	Label     int    `json:"label"`
}

// mgsmRow is juletxara/mgsm's row: answer is null in the test split.
type mgsmRow struct {
	Question         string  `json:"question"`
	Answer           *string `json:"answer"`
	AnswerNumber     int     `json:"answer_number"`
	EquationSolution *string `json:"equation_solution"`
}

func benchSets(src string) ([]set, error) {
	bb, err := belebeleDocs(filepath.Join(src, "belebele_deu_Latn.jsonl"))
	if err != nil {
		return nil, err
	}
	paws, err := pawsDocs(filepath.Join(src, "pawsx_de_test.tsv"))
	if err != nil {
		return nil, err
	}
	test, err := mgsmTest(filepath.Join(src, "mgsm_de.tsv"))
	if err != nil {
		return nil, err
	}
	train, err := mgsmTrain(filepath.Join(src, "mgsm_de_exemplars.json"))
	if err != nil {
		return nil, err
	}
	direct, directShots := mgsmDocs(test, train, false)
	cot, cotShots := mgsmDocs(test, train, true)
	return []set{
		{name: "belebele_deu_Latn", yaml: yamlBelebele, license: licenseBelebele, docs: bb},
		{name: "paws_de", yaml: yamlPAWS, license: licensePAWS, docs: paws},
		{name: "mgsm_direct_de", yaml: yamlMGSMDirect, license: licenseMGSM, docs: direct, fewshot: directShots},
		{name: "mgsm_native_cot_de", yaml: yamlMGSMCoT, license: licenseMGSM, docs: cot, fewshot: cotShots},
	}, nil
}

// pyStrip is Python's str.strip() on str.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) })
}

func belebeleDocs(name string) ([]any, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var docs []any
	seen := map[belebeleRow]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		var r belebeleRow
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		gold := strings.Index("1234", r.CorrectAnswerNum)
		if len(r.CorrectAnswerNum) != 1 || gold < 0 {
			return nil, fmt.Errorf("%s:%d: correct_answer_num %q", name, line, r.CorrectAnswerNum)
		}
		// The harness drops the scored document from its few-shot pool by
		// equality: a duplicate would change which examples it keeps.
		if seen[r] {
			return nil, fmt.Errorf("%s:%d: duplicate row", name, line)
		}
		seen[r] = true
		ctx := "P: " + r.FloresPassage + "\nQ: " + pyStrip(r.Question) + "\nA: " + r.MCAnswer1 + "\nB: " + r.MCAnswer2 +
			"\nC: " + r.MCAnswer3 + "\nD: " + r.MCAnswer4 + "\nAnswer:"
		docs = append(docs, mcDoc{Context: ctx, Choices: []string{"A", "B", "C", "D"}, Gold: gold, Doc: r})
	}
	return docs, sc.Err()
}

var pawsPunct = regexp.MustCompile(` (['.,])`)

// pawsDetokenize is paws-x/utils.py's general_detokenize.
func pawsDetokenize(s string) string {
	s = strings.ReplaceAll(s, " n't", "n't")
	s = strings.ReplaceAll(s, " )", ")")
	s = strings.ReplaceAll(s, "( ", "(")
	s = strings.ReplaceAll(s, `" `, `"`)
	s = strings.ReplaceAll(s, ` "`, `"`)
	return pawsPunct.ReplaceAllString(s, "$1")
}

// pawsProcess is process_docs_paraphrases for one row; ok is false for a
// row the harness filters out.
func pawsProcess(r pawsRow) (pawsRow, bool) {
	if r.Sentence1 == "" || r.Sentence2 == "" {
		return r, false
	}
	r.Sentence1 = pyStrip(pawsDetokenize(r.Sentence1))
	r.Sentence2 = pyStrip(pawsDetokenize(r.Sentence2))
	if strings.HasSuffix(r.Sentence1, ".") || strings.HasSuffix(r.Sentence1, ",") || strings.HasSuffix(r.Sentence1, ";") {
		r.Sentence1 = r.Sentence1[:len(r.Sentence1)-1]
	}
	first, n := utf8.DecodeRuneInString(r.Sentence2)
	r.Sentence2 = string(unicode.ToLower(first)) + r.Sentence2[n:]
	return r, true
}

func pawsDocs(name string) ([]any, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) == 0 || lines[0] != "id\tsentence1\tsentence2\tlabel" {
		return nil, fmt.Errorf("%s: unexpected header", name)
	}
	var docs []any
	for i, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("%s:%d: %d fields", name, i+2, len(f))
		}
		id, err1 := strconv.Atoi(f[0])
		label, err2 := strconv.Atoi(f[3])
		if err := errors.Join(err1, err2); err != nil || label < 0 || label > 1 {
			return nil, fmt.Errorf("%s:%d: id %q label %q", name, i+2, f[0], f[3])
		}
		r, ok := pawsProcess(pawsRow{ID: id, Sentence1: f[1], Sentence2: f[2], Label: label})
		if !ok {
			continue
		}
		docs = append(docs, mcDoc{
			Choices: []string{r.Sentence1 + ", richtig? Nein, " + r.Sentence2, r.Sentence1 + ", richtig? Ja, " + r.Sentence2},
			Gold:    r.Label, Doc: r,
		})
	}
	return docs, nil
}

func mgsmTest(name string) ([]mgsmRow, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var rows []mgsmRow
	for i, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		q, a, ok := strings.Cut(l, "\t")
		// juletxara/mgsm holds the answer as an integer: "2,125" is 2125.
		n, err := strconv.Atoi(strings.ReplaceAll(a, ",", ""))
		if !ok || err != nil {
			return nil, fmt.Errorf("%s:%d: want question TAB integer answer", name, i+1)
		}
		rows = append(rows, mgsmRow{Question: q, AnswerNumber: n})
	}
	return rows, nil
}

var lastNumber = regexp.MustCompile(`(\d+)\D*$`)

// mgsmTrain reads the worked examples, juletxara/mgsm's train split:
// question with "Frage: ", answer with "Schritt-für-Schritt-Antwort: ",
// answer_number the answer's last number.
func mgsmTrain(name string) ([]mgsmRow, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var ex map[string]struct{ Q, A string }
	if err := json.Unmarshal(data, &ex); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	keys := make([]string, 0, len(ex))
	for k := range ex {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		return len(keys[a]) < len(keys[b]) || len(keys[a]) == len(keys[b]) && keys[a] < keys[b]
	})
	var rows []mgsmRow
	for _, k := range keys {
		e := ex[k]
		m := lastNumber.FindStringSubmatch(e.A)
		if m == nil {
			return nil, fmt.Errorf("%s: example %s has no answer number", name, k)
		}
		n, _ := strconv.Atoi(m[1])
		a := e.A
		rows = append(rows, mgsmRow{Question: e.Q, Answer: &a, AnswerNumber: n})
	}
	return rows, nil
}

// mgsmDocs renders the mgsm_direct_de or mgsm_native_cot_de documents and
// few-shot examples: doc_to_text and doc_to_target branch on whether the
// row has an answer (the train split does).
func mgsmDocs(test, train []mgsmRow, cot bool) (docs, shots []any) {
	answer, skip := "\nAntwort:", 0
	if cot {
		answer, skip = "\nSchritt-für-Schritt-Antwort:", utf8.RuneCountInString("Schritt-für-Schritt-Antwort:")+1
	}
	for _, r := range test {
		docs = append(docs, genDoc{Context: "Frage: " + r.Question + answer, Target: strconv.Itoa(r.AnswerNumber), Doc: r})
	}
	for _, r := range train {
		target := strconv.Itoa(r.AnswerNumber)
		if cot {
			target = string([]rune(*r.Answer)[skip:])
		}
		shots = append(shots, genDoc{Context: r.Question + answer, Target: target, Doc: r})
	}
	return docs, shots
}

const yamlBelebele = `# Generated by internal/gendata; do not edit. Licence: belebele_deu_Latn.LICENSE.txt
# lm-evaluation-harness's belebele_deu_Latn (4e7e0d4): contexts are
# doc_to_text, the choices " A" … " D"; few-shot examples are the first
# rows of the test split without the scored one (first_n).
task: belebele_deu_Latn
output_type: multiple_choice
license: CC BY-SA 4.0 (Belebele, Meta AI; FLORES-200 passages)
metric_list: [acc, acc_norm]
fewshot_split: test
fewshot_config:
  sampler: first_n
# %d questions.
dataset_path: belebele_deu_Latn.jsonl.zst
`

const yamlPAWS = `# Generated by internal/gendata; do not edit. Licence: paws_de.LICENSE.txt
# lm-evaluation-harness's paws_de (4e7e0d4): empty context, the two
# choices "sentence1, richtig? Nein, sentence2" and "…, richtig? Ja, …"
# after process_docs_paraphrases. Its few-shot examples come from PAWS-X's
# train split, which is not embedded.
task: paws_de
output_type: multiple_choice
license: PAWS-X, Google LLC (free for any purpose; acknowledgement appreciated)
target_delimiter: ""
metric_list: [acc]
fewshot_split: train
# %d pairs.
dataset_path: paws_de.jsonl.zst
`

const yamlMGSMDirect = `# Generated by internal/gendata; do not edit. Licence: mgsm_direct_de.LICENSE.txt
# lm-evaluation-harness's mgsm_direct_de (4e7e0d4); few-shot examples
# are the German worked examples (the train split), drawn as the
# harness's default sampler draws them (Python random, seed 1234).
task: mgsm_direct_de
output_type: generate_until
license: CC BY 4.0 (MGSM, Google)
target_delimiter: ""
generation_kwargs:
  do_sample: false
  until: ["Frage:", "</s>", "<|im_end|>"]
filter_list:
  - name: remove_whitespace
    filter:
      - function: remove_whitespace
      - function: take_first
  - name: flexible-extract
    filter:
      - function: regex
        group_select: -1
        regex_pattern: (-?[$0-9.,]{2,})|(-?[0-9]+)
      - function: take_first
metric_list:
  - metric: exact_match
    ignore_case: true
    ignore_punctuation: true
fewshot_split: train
fewshot_config:
  sampler: default
# %d problems.
dataset_path: mgsm_direct_de.jsonl.zst
fewshot_path: mgsm_direct_de.fewshot.jsonl.zst
`

const yamlMGSMCoT = `# Generated by internal/gendata; do not edit. Licence: mgsm_native_cot_de.LICENSE.txt
# lm-evaluation-harness's mgsm_native_cot_de (4e7e0d4); few-shot examples
# are the German worked examples (the train split), drawn as the
# harness's default sampler draws them (Python random, seed 1234).
task: mgsm_native_cot_de
output_type: generate_until
license: CC BY 4.0 (MGSM, Google)
target_delimiter: " "
generation_kwargs:
  do_sample: false
  until: ["Frage:", "</s>", "<|im_end|>"]
filter_list:
  - name: strict-match
    filter:
      - function: regex
        regex_pattern: Die Antwort lautet (\-?[0-9\.\,]+)
      - function: take_first
  - name: flexible-extract
    filter:
      - function: regex
        group_select: -1
        regex_pattern: (-?[$0-9.,]{2,})|(-?[0-9]+)
      - function: take_first
metric_list:
  - metric: exact_match
    ignore_case: true
    ignore_punctuation: true
fewshot_split: train
fewshot_config:
  sampler: default
# %d problems.
dataset_path: mgsm_native_cot_de.jsonl.zst
fewshot_path: mgsm_native_cot_de.fewshot.jsonl.zst
`

const licenseBelebele = `belebele_deu_Latn: the German (deu_Latn) test split of Belebele, 900
multiple-choice reading-comprehension questions on FLORES-200 passages,
rendered as lm-evaluation-harness renders them.

Source: github.com/saeub/item-evaluation @ c6332925,
data/belebele/deu_Latn.jsonl (the facebook/belebele rows, same order).
Lucas Bandarkar, Davis Liang, Benjamin Muller, Mikel Artetxe, Satya Narayan
Shukla, Donald Husa, Naman Goyal, Abhinandan Krishnan, Luke Zettlemoyer,
Madian Khabsa: The Belebele Benchmark: a Parallel Reading Comprehension
Dataset in 122 Language Variants, arXiv:2308.16884 (2023). Meta AI.
Passages: FLORES-200 (NLLB Team et al., arXiv:2207.04672), CC BY-SA 4.0.
Licence: Creative Commons Attribution-ShareAlike 4.0 International,
https://creativecommons.org/licenses/by-sa/4.0/legalcode
This adaptation is distributed under the same licence.
`

const licensePAWS = `paws_de: the German test set of PAWS-X, 2000 sentence pairs (paraphrase
or not), processed as lm-evaluation-harness's process_docs_paraphrases
processes them.

Source: PAWS-X x-final/de/test_2k.tsv, as github.com/LSX-UniWue/SuperGLEBer
@ 5d3c59a9, data/PAWSX/test.tsv.
Yinfei Yang, Yuan Zhang, Chris Tar, Jason Baldridge: PAWS-X: A
Cross-lingual Adversarial Dataset for Paraphrase Identification,
arXiv:1908.11828 (2019).
Licence: the dataset "may be freely used for any purpose, although
acknowledgement of Google LLC ("Google") as the data source would be
appreciated." Data source: Google LLC.
`

const licenseMGSM = `mgsm_direct_de, mgsm_native_cot_de: the German set of MGSM, 250
grade-school maths problems (translated from GSM8K) and 8 German worked
examples, rendered as lm-evaluation-harness renders them.

Source: github.com/google-research/url-nlp @ 452a21ad, mgsm/mgsm_de.tsv
and the "de" entry of mgsm/exemplars.py.
Freda Shi, Mirac Suzgun, Markus Freitag, Xuezhi Wang, Suraj Srivats,
Soroush Vosoughi, Hyung Won Chung, Yi Tay, Sebastian Ruder, Denny Zhou,
Dipanjan Das, Jason Wei: Language Models are Multilingual Chain-of-Thought
Reasoners, arXiv:2210.03057 (2022). GSM8K: Cobbe et al., arXiv:2110.14168.
Licence: Creative Commons Attribution 4.0 International,
https://creativecommons.org/licenses/by/4.0/legalcode
`
