package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// Lines written by CPython's json.dumps(…, ensure_ascii=False) from the
// sample dicts lm-eval's evaluator and EvaluationTracker build for the
// same documents and responses (see the comment in each test).
const (
	goldenChoiceSample = `{"doc_id": 0, "doc": {"link": "https://x/ü", "flores_passage": "Ein \"Text\".", "question": " Frage? ", "mc_answer1": "a", "mc_answer2": "b", "mc_answer3": "c", "mc_answer4": "d", "correct_answer_num": "2"}, "target": "1", "arguments": {"gen_args_0": {"arg_0": "P: Ein \"Text\".\nQ: Frage?\nA: a\nB: b\nC: c\nD: d\nAnswer:", "arg_1": " A"}, "gen_args_1": {"arg_0": "P: Ein \"Text\".\nQ: Frage?\nA: a\nB: b\nC: c\nD: d\nAnswer:", "arg_1": " B"}, "gen_args_2": {"arg_0": "P: Ein \"Text\".\nQ: Frage?\nA: a\nB: b\nC: c\nD: d\nAnswer:", "arg_1": " C"}, "gen_args_3": {"arg_0": "P: Ein \"Text\".\nQ: Frage?\nA: a\nB: b\nC: c\nD: d\nAnswer:", "arg_1": " D"}}, "resps": [[["-1.5", "False"]], [["-0.25", "True"]], [["-3.0", "False"]], [["-20.125", "False"]]], "filtered_resps": [["-1.5", "False"], ["-0.25", "True"], ["-3.0", "False"], ["-20.125", "False"]], "filter": "none", "metrics": ["acc", "acc_norm"], "doc_hash": "798f1084cae4922442b3e30748fe43d7a1f8ed39e45c65ccba7a211a0ba86f4d", "prompt_hash": "0a2491af02afb2706a1c9c32a889217bb7ae82b05070e89378f7c08632dbd5da", "target_hash": "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b", "acc": 1.0, "acc_norm": 1.0}`
	goldenGenSample1   = `{"doc_id": 0, "doc": {"question": "Wie viel?", "answer": null, "answer_number": 18, "equation_solution": null}, "target": "18", "arguments": {"gen_args_0": {"arg_0": "Frage: Wie viel?\nAntwort:", "arg_1": {"do_sample": false, "until": ["Frage:", "</s>", "<|im_end|>"]}}}, "resps": [[" 18 Euro\n\n"]], "filtered_resps": ["18 Euro"], "filter": "remove_whitespace", "metrics": ["exact_match"], "doc_hash": "4ab3f6e7b42301647e38e8d80c56f273f23dc93b99ffdb4485c7b7ebcae0f7a2", "prompt_hash": "f7b532e26155ac7b2edc3565d9102c7afeb7dd3c2788c1c4d69095a66d6eff71", "target_hash": "4ec9599fc203d176a301536c2e091a19bc852759b255bd6818810a42c5fed14a", "exact_match": 0.0}`
	goldenGenSample2   = `{"doc_id": 0, "doc": {"question": "Wie viel?", "answer": null, "answer_number": 18, "equation_solution": null}, "target": "18", "arguments": {"gen_args_0": {"arg_0": "Frage: Wie viel?\nAntwort:", "arg_1": {"do_sample": false, "until": ["Frage:", "</s>", "<|im_end|>"]}}}, "resps": [[" 18 Euro\n\n"]], "filtered_resps": ["18"], "filter": "flexible-extract", "metrics": ["exact_match"], "doc_hash": "4ab3f6e7b42301647e38e8d80c56f273f23dc93b99ffdb4485c7b7ebcae0f7a2", "prompt_hash": "f7b532e26155ac7b2edc3565d9102c7afeb7dd3c2788c1c4d69095a66d6eff71", "target_hash": "4ec9599fc203d176a301536c2e091a19bc852759b255bd6818810a42c5fed14a", "exact_match": 1.0}`
)

func sampleLogs(logs map[string]*bytes.Buffer) func(string) (io.Writer, error) {
	return func(task string) (io.Writer, error) {
		b := &bytes.Buffer{}
		logs[task] = b
		return b, nil
	}
}

// A belebele document scored with log-likelihoods −1.5, −0.25 (greedy),
// −3, −20.125 for " A" … " D".
func TestChoiceSampleLog(t *testing.T) {
	task, err := Builtin("belebele_deu_Latn")
	if err != nil {
		t.Fatal(err)
	}
	task.Docs = []Doc{{
		Context: "P: Ein \"Text\".\nQ: Frage?\nA: a\nB: b\nC: c\nD: d\nAnswer:", Choices: []string{"A", "B", "C", "D"}, Gold: []int{1},
		Raw: json.RawMessage(`{"link": "https://x/ü", "flores_passage": "Ein \"Text\".", "question": " Frage? ", "mc_answer1": "a", "mc_answer2": "b", "mc_answer3": "c", "mc_answer4": "d", "correct_answer_num": "2"}`),
	}}
	lm := &choiceLM{ll: map[string]float64{" A": -1.5, " B": -0.25, " C": -3, " D": -20.125}, greedy: map[string]bool{" B": true}}
	logs := map[string]*bytes.Buffer{}
	if _, err := Score(context.Background(), lm, byteTokenizer{}, []*Task{task}, Options{SampleLog: sampleLogs(logs)}); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSuffix(logs["belebele_deu_Latn"].String(), "\n"); got != goldenChoiceSample {
		t.Errorf("sample log\n got %s\nwant %s", got, goldenChoiceSample)
	}
}

// decodingTokenizer is byteTokenizer with Decode.
type decodingTokenizer struct{ byteTokenizer }

func (decodingTokenizer) Decode(ids []int) string { return decodeBytes(ids) }

// scriptLM generates a fixed text byte by byte after any prompt and
// records how many tokens it was asked for.
type scriptLM struct {
	choiceLM
	script    string
	generated int
	prompts   []string
}

func (m *scriptLM) GenerateGreedy(ctx context.Context, prompt []int, maxNew int, stop []int, yield func(int) bool) ([]int, error) {
	m.prompts = append(m.prompts, decodeBytes(prompt))
	var out []int
	for i := 0; i < len(m.script) && len(out) < maxNew; i++ {
		tok := int(m.script[i]) + 3
		out = append(out, tok)
		m.generated++
		if !yield(tok) || containsInt(stop, tok) {
			break
		}
	}
	return out, nil
}

// mgsm_direct_de's filters on a generation that runs into the next
// "Frage:": generation stops there, the stop string is cut, and both
// filters are logged, one line per filter.
func TestGenerateSampleLog(t *testing.T) {
	task, err := Builtin("mgsm_direct_de")
	if err != nil {
		t.Fatal(err)
	}
	task.Docs = []Doc{{Context: "Frage: Wie viel?\nAntwort:", Target: "18",
		Raw: json.RawMessage(`{"question": "Wie viel?", "answer": null, "answer_number": 18, "equation_solution": null}`)}}
	lm := &scriptLM{script: " 18 Euro\n\nFrage: Wie weiter? Antwort: 3\n\n"}
	logs := map[string]*bytes.Buffer{}
	rep, err := Score(context.Background(), lm, decodingTokenizer{}, []*Task{task}, Options{SampleLog: sampleLogs(logs), PerItem: true})
	if err != nil {
		t.Fatal(err)
	}
	want := goldenGenSample1 + "\n" + goldenGenSample2 + "\n"
	if got := logs["mgsm_direct_de"].String(); got != want {
		t.Errorf("sample log\n got %s\nwant %s", got, want)
	}
	if n := len(" 18 Euro\n\nFrage:"); lm.generated != n {
		t.Errorf("generated %d tokens, want %d (stop at \"Frage:\")", lm.generated, n)
	}
	tr := rep.Tasks[0]
	if tr.Metrics["exact_match,remove_whitespace"] != 0 || tr.Metrics["exact_match,flexible-extract"] != 1 {
		t.Errorf("metrics %v", tr.Metrics)
	}
	if v, ok := tr.Metric("exact_match"); !ok || v != 0 {
		t.Errorf("Metric(exact_match) = %v %v, want the first filter's", v, ok)
	}
	if v, ok := tr.Metric("exact_match,flexible-extract"); !ok || v != 1 {
		t.Errorf("Metric(exact_match,flexible-extract) = %v %v", v, ok)
	}
	if it := tr.Items[0]; *it.Response != " 18 Euro\n\n" || it.Filtered["flexible-extract"] != "18" {
		t.Errorf("item %+v", it)
	}
	// 3-shot: worked examples 8, 1 and 7, as random.Random(1234).sample(train, 3) draws them.
	task.NumFewshot = 3
	lm.prompts = nil
	if _, err := Score(context.Background(), lm, decodingTokenizer{}, []*Task{task}, Options{}); err != nil {
		t.Fatal(err)
	}
	if p := lm.prompts[0]; !strings.HasPrefix(p, "Frage: Wenn 3 Autos") || !strings.Contains(p, "\nAntwort:5\n\nFrage: Roger") || !strings.HasSuffix(p, "\nAntwort:8\n\nFrage: Wie viel?\nAntwort:") {
		t.Errorf("3-shot prompt %q", p)
	}
}

// Without a way to generate, a generate_until task is refused.
func TestGenerateNeedsGenerator(t *testing.T) {
	task, _ := Builtin("mgsm_direct_de")
	_, err := Score(context.Background(), &choiceLM{}, byteTokenizer{}, []*Task{task}, Options{Limit: 1})
	if err == nil || !strings.Contains(err.Error(), "generate") {
		t.Errorf("err = %v", err)
	}
}

// A perplexity document is logged with the harness's (loglikelihood,
// count) pairs.
func TestPerplexitySampleLog(t *testing.T) {
	task, err := Builtin("de_ud_gsd_ppl")
	if err != nil {
		t.Fatal(err)
	}
	logs := map[string]*bytes.Buffer{}
	if _, err := Score(context.Background(), FromLogProbs(bigramLogProbs, 64), byteTokenizer{}, []*Task{task}, Options{Limit: 1, SampleLog: sampleLogs(logs)}); err != nil {
		t.Fatal(err)
	}
	got := logs["de_ud_gsd_ppl"].String()
	for _, want := range []string{`"resps": [["-87.75"]], "filtered_resps": ["-87.75"], "filter": "none"`, `"word_perplexity": [-87.75, 19], "byte_perplexity": [-87.75, 143]`} {
		if !strings.Contains(got, want) {
			t.Errorf("sample log %s lacks %s", got, want)
		}
	}
}
