package eval

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestLoadTaskYAML(t *testing.T) {
	task, err := LoadTask("testdata/hauptstaedte.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if task.Name != "hauptstaedte" || task.Type != MultipleChoice || task.NumFewshot != 1 ||
		task.TargetDelimiter != " " || task.FewshotDelimiter != "\n\n" {
		t.Errorf("task = %+v", task)
	}
	if !reflect.DeepEqual(task.Metrics, []string{"acc", "acc_norm"}) {
		t.Errorf("metrics = %v", task.Metrics)
	}
	golds := [][]int{{1}, {0}, {0, 1}}
	for i, d := range task.Docs {
		if !reflect.DeepEqual(d.Gold, golds[i]) {
			t.Errorf("doc %d gold = %v, want %v", i, d.Gold, golds[i])
		}
	}
	want := "Die folgenden Fragen betreffen Geografie.\n\n" +
		"Frage: Was ist die Hauptstadt von Frankreich?\nAntwort: Paris\n\n" +
		"Frage: Was ist die Hauptstadt von Deutschland?\nAntwort:"
	ctxs, err := renderContexts(task, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := ctxs[0]; got != want {
		t.Errorf("context %q, want %q", got, want)
	}
}

func TestLoadTaskJSONL(t *testing.T) {
	task, err := LoadTask("testdata/saetze.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if task.Name != "saetze" || task.Type != Perplexity || len(task.Docs) != 4 ||
		!reflect.DeepEqual(task.Metrics, PerplexityMetrics) {
		t.Errorf("task = %+v", task)
	}
	if d := task.Docs[2]; d.Text != "Der schnelle braune Fuchs" || len(d.IDs) != 5 {
		t.Errorf("doc 3 = %+v", d)
	}
	mc, err := LoadTask("testdata/mit_datei.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if mc.Name != "wahr_falsch_datei" || len(mc.Docs) != 2 || mc.Docs[1].Context != "" {
		t.Errorf("task = %+v", mc)
	}
}

func TestLoadTaskZstd(t *testing.T) {
	raw, err := os.ReadFile("testdata/wahr_falsch.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := zstd.NewWriter(nil)
	p := filepath.Join(t.TempDir(), "wf.jsonl.zst")
	if err := os.WriteFile(p, enc.EncodeAll(raw, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	task, err := LoadTask(p)
	if err != nil {
		t.Fatal(err)
	}
	if task.Name != "wf" || len(task.Docs) != 2 {
		t.Errorf("task = %+v", task)
	}
}

func TestParseErrors(t *testing.T) {
	jsonl := []struct{ in, want string }{
		{`{"text": "a"}` + "\n" + `{"txt": "b"}`, "x.jsonl:2:"},
		{`{"choices": ["a"], "gold": 1}`, "out of range"},
		{`{"choices": ["a", "b"], "gold": 0.5}`, "out of range"},
		{`{"choices": ["a", "b"], "gold": "c"}`, "not one of the choices"},
		{`{"choices": ["a", "b"]}`, "missing gold"},
		{`{"choices": [], "gold": 0}`, "empty choices"},
		{`{"text": "a", "choices": ["a"], "gold": 0}`, "either choices"},
		{`{"ids": [1, -2]}`, "negative"},
		{`{"ids": []}`, "empty ids"},
		{`{}`, "needs text"},
		{`{"text": "a"} {"text": "b"}`, "more than one"},
		{"\n\n" + `{"context": "x"}`, "x.jsonl:3:"},
	}
	for _, tt := range jsonl {
		_, err := ParseDocsJSONL(strings.NewReader(tt.in), "x.jsonl")
		if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseDocsJSONL(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
	yml := []struct{ in, want string }{
		{"output_type: generate_until\ndocs: [{text: a}]", "does not fit"},
		{"output_type: greedy_until\ndocs: [{text: a}]", "output_type"},
		{"output_type: multiple_choice\ngeneration_kwargs: {until: [x]}\ndocs: [{context: a, choices: [b], gold: 0}]", "generation_kwargs needs"},
		{"output_type: generate_until\ngeneration_kwargs: {do_sample: true}\ndocs: [{context: a, target: b}]", "greedily"},
		{"output_type: generate_until\nfilter_list: [{name: x, filter: [{function: regex, regex_pattern: '(?<=a)b'}]}]\ndocs: [{context: a, target: b}]", "regex_pattern"},
		{"output_type: generate_until\nfilter_list: [{name: x, filter: [{function: majority_vote}]}]\ndocs: [{context: a, target: b}]", "majority_vote"},
		{"docs: [{context: a, target: b, choices: [c]}]", "context and target only"},
		{"fewshot_config: {sampler: balanced}\ndocs: [{context: a, target: b}]", "sampler"},
		{"docs:\n  - text: a\n  - choices: [a]\n    gold: 0\n", "does not fit"},
		{"docs:\n  - text: a\n  - txt: b\n", "t.yaml:3:"},
		{"metric_list: [acc]\ndocs: [{text: a}]", `metric "acc"`},
		{"num_fewshot: 2\ndocs: [{text: a}]", "num_fewshot"},
		{"dataset_path: x.jsonl\noutput_type: perplexity", "needs LoadTask"},
		{"foo: 1", "field foo"},
		{"", "no documents"},
	}
	for _, tt := range yml {
		_, err := ParseTaskYAML([]byte(tt.in), "t.yaml")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseTaskYAML(%q) = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func FuzzParseDocsJSONL(f *testing.F) {
	for _, name := range []string{"testdata/saetze.jsonl", "testdata/wahr_falsch.jsonl"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"choices": ["a", "b"], "gold": [1, 0]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := ParseDocsJSONL(bytes.NewReader(data), "fuzz.jsonl")
		if err != nil {
			return
		}
		task := &Task{Name: "fuzz", Docs: docs}
		if task.init() != nil {
			return
		}
		for _, d := range task.Docs {
			for _, g := range d.Gold {
				if g < 0 || g >= len(d.Choices) {
					t.Fatalf("gold %d of %d choices accepted", g, len(d.Choices))
				}
			}
		}
	})
}

func FuzzParseTaskYAML(f *testing.F) {
	b, err := os.ReadFile("testdata/hauptstaedte.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("output_type: loglikelihood_rolling\ndocs: [{text: a}, {ids: [1, 2]}]"))
	if b, err := fs.ReadFile(builtinFS, "data/mgsm_native_cot_de.yaml"); err == nil {
		// Inline documents instead of the data set.
		b = bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("dataset_path:"), []byte("#")), []byte("fewshot_path:"), []byte("#"))
		f.Add(append(b, "docs: [{context: \"Frage: 1+1?\", target: \"2\"}]\nnum_fewshot: 0\n"...))
	}
	f.Add([]byte("output_type: generate_until\ngeneration_kwargs: {until: \"\\n\", max_gen_toks: 5}\nfewshot_config: {sampler: default}\nnum_fewshot: 1\nmetric_list: [{metric: exact_match, regexes_to_ignore: [\",\"]}]\ndocs: [{context: a, target: b}, {context: c, target: \"\"}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		task, err := ParseTaskYAML(data, "fuzz.yaml")
		if err != nil {
			return
		}
		if task.Type != MultipleChoice && task.Type != Perplexity && task.Type != GenerateUntil {
			t.Fatalf("type %q accepted", task.Type)
		}
		if task.Type != Perplexity && len(task.Docs) > 0 {
			_, _ = renderContexts(task, len(task.Docs))
		}
		for _, d := range task.Docs {
			for _, f := range task.Filters {
				_, _ = f.Apply(d.Target)
			}
			task.Match.ExactMatch(d.Context, d.Target)
		}
	})
}
