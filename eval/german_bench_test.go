package eval

import (
	"encoding/json"
	"os"
	"testing"
)

// goldenCase is one entry of testdata/german_bench_golden.json, written by
// testdata/german_bench_golden.py from the shared source files with the
// harness's rules re-stated in Python.
type goldenCase struct {
	Task          string   `json:"task"`
	NumFewshot    int      `json:"num_fewshot"`
	Occiglot      bool     `json:"occiglot"`
	Doc           int      `json:"doc"`
	Context       string   `json:"context"`
	Continuations []string `json:"continuations"`
	Gold          int      `json:"gold"`
	Target        string   `json:"target"`
}

// The built-in leaderboard tasks render the contexts, continuations and
// targets the harness renders: belebele 0/1/5-shot (first_n without the
// scored question, so the first questions take their examples from
// further down), the occiglot prompt, paws_de's detokenisation edge cases
// and "NS" rows, and MGSM's examples drawn by Python's random (seed 1234)
// document after document.
func TestGermanBenchGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/german_bench_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	type key struct {
		task     string
		k        int
		occiglot bool
	}
	rendered := map[key][]string{}
	tasks := map[key]*Task{}
	for _, c := range cases {
		k := key{c.Task, c.NumFewshot, c.Occiglot}
		if rendered[k] == nil {
			task, err := Builtin(c.Task)
			if err != nil {
				t.Fatal(err)
			}
			task.NumFewshot = c.NumFewshot
			if c.Occiglot {
				if err := OcciglotPrompt(task); err != nil {
					t.Fatal(err)
				}
			}
			ctxs, err := renderContexts(task, len(task.Docs))
			if err != nil {
				t.Fatal(err)
			}
			rendered[k], tasks[k] = ctxs, task
		}
		task := tasks[k]
		if got := rendered[k][c.Doc]; got != c.Context {
			t.Errorf("%s %d-shot occiglot=%v doc %d:\n got %.300q…\nwant %.300q…", c.Task, c.NumFewshot, c.Occiglot, c.Doc, got, c.Context)
		}
		d := task.Docs[c.Doc]
		if c.Continuations != nil {
			for j, want := range c.Continuations {
				if got := task.TargetDelimiter + d.Choices[j]; got != want {
					t.Errorf("%s doc %d continuation %d: %q, want %q", c.Task, c.Doc, j, got, want)
				}
			}
			if len(d.Gold) != 1 || d.Gold[0] != c.Gold {
				t.Errorf("%s doc %d gold %v, want %d", c.Task, c.Doc, d.Gold, c.Gold)
			}
		} else if d.Target != c.Target {
			t.Errorf("%s doc %d target %q, want %q", c.Task, c.Doc, d.Target, c.Target)
		}
	}
}

func TestGermanBenchShape(t *testing.T) {
	for _, c := range []struct {
		name     string
		docs     int
		metrics  []string
		fewshot  int
		filters  []string
		delim    string
		wantSize int
	}{
		{"belebele_deu_Latn", 900, []string{"acc", "acc_norm"}, 0, nil, " ", 0},
		{"paws_de", 2000, []string{"acc"}, 0, nil, "", 0},
		{"mgsm_direct_de", 250, []string{"exact_match"}, 8, []string{"remove_whitespace", "flexible-extract"}, "", 0},
		{"mgsm_native_cot_de", 250, []string{"exact_match"}, 8, []string{"strict-match", "flexible-extract"}, " ", 0},
	} {
		task, err := Builtin(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if len(task.Docs) != c.docs || len(task.FewshotDocs) != c.fewshot || task.TargetDelimiter != c.delim || task.NumFewshot != 0 {
			t.Errorf("%s: %d docs, %d few-shot docs, delimiter %q, num_fewshot %d", c.name, len(task.Docs), len(task.FewshotDocs), task.TargetDelimiter, task.NumFewshot)
		}
		if len(task.Metrics) != len(c.metrics) || task.Metrics[0] != c.metrics[0] {
			t.Errorf("%s: metrics %v", c.name, task.Metrics)
		}
		var names []string
		for _, f := range task.Filters {
			names = append(names, f.Name)
		}
		if len(names) != len(c.filters) || (len(names) > 0 && (names[0] != c.filters[0] || names[1] != c.filters[1])) {
			t.Errorf("%s: filters %v", c.name, names)
		}
		for i, d := range task.Docs {
			if d.Raw == nil {
				t.Fatalf("%s doc %d has no harness document", c.name, i)
			}
		}
	}
	// paws_de's examples come from a split that is not embedded.
	task, _ := Builtin("paws_de")
	task.NumFewshot = 1
	if _, err := renderContexts(task, 1); err == nil {
		t.Error("paws_de 1-shot rendered without its train split")
	}
	mg, _ := Builtin("mgsm_direct_de")
	if mg.Generation == nil || len(mg.Generation.Until) != 3 || mg.Generation.Until[0] != "Frage:" || !mg.Match.IgnoreCase || !mg.Match.IgnorePunctuation {
		t.Errorf("mgsm_direct_de generation %+v match %+v", mg.Generation, mg.Match)
	}
	if got := pyJSON(mg.Generation.args(), -1); got != `{"do_sample": false, "until": ["Frage:", "</s>", "<|im_end|>"]}` {
		t.Errorf("generation args %s", got)
	}
	if err := OcciglotPrompt(mg); err == nil {
		t.Error("occiglot prompt applied to MGSM")
	}
}

// Values from CPython 3: random.Random(1234).getrandbits(32) three
// times, and .sample(range(n), k) in a row.
func TestPyRandom(t *testing.T) {
	r := newPyRandom(1234)
	for i, want := range []uint32{4150886329, 3342196574, 1892932127} {
		if got := r.uint32(); got != want {
			t.Errorf("draw %d: %d, want %d", i, got, want)
		}
	}
	for _, c := range []struct {
		n, k int
		want [][]int
	}{
		{8, 3, [][]int{{7, 0, 6}, {1, 6, 4}, {0, 5, 6}, {1, 0, 2}}},
		{900, 6, [][]int{{796, 451, 119, 7, 92, 826}, {596, 35, 687, 709, 85, 100}}},
		{8, 8, [][]int{{7, 0, 6, 5, 4, 2, 3, 1}, {5, 1, 0, 7, 4, 6, 2, 3}}},
	} {
		r := newPyRandom(1234)
		for i, want := range c.want {
			got := r.sample(c.n, c.k)
			for j := range want {
				if got[j] != want[j] {
					t.Errorf("sample(%d, %d) #%d = %v, want %v", c.n, c.k, i, got, want)
					break
				}
			}
		}
	}
}

// Outputs of the harness's RegexFilter and WhitespaceFilter, computed with
// Python's re and str.strip.
func TestFilters(t *testing.T) {
	flex := Filter{Name: "flexible-extract", Steps: []FilterStep{{Function: "regex", Pattern: `(-?[$0-9.,]{2,})|(-?[0-9]+)`, GroupSelect: -1}, {Function: "take_first"}}}
	strict := Filter{Name: "strict-match", Steps: []FilterStep{{Function: "regex", Pattern: `Die Antwort lautet (\-?[0-9\.\,]+)`}, {Function: "take_first"}}}
	ws := Filter{Name: "remove_whitespace", Steps: []FilterStep{{Function: "remove_whitespace"}, {Function: "take_first"}}}
	for _, c := range []struct{ in, flex, strict, ws string }{
		{" 18", "18", "[invalid]", "18"},
		{" Sie verdient 18 Dollar. Die Antwort lautet 18.", "18.", "18.", "Sie verdient 18 Dollar. Die Antwort lautet 18."},
		{"Die Antwort lautet 1.234,5 Euro", "1.234,5", "1.234,5", "Die Antwort lautet 1.234,5 Euro"},
		{"$1,000 und 7", "7", "[invalid]", "$1,000 und 7"},
		{"keine Zahl", "[invalid]", "[invalid]", "keine Zahl"},
		{"-5 Grad, dann 3", "3", "[invalid]", "-5 Grad, dann 3"},
		{" 3.\n", "3.", "[invalid]", "3."},
		{"Die Antwort lautet -12. Nein: Die Antwort lautet 13", "13", "-12.", "Die Antwort lautet -12. Nein: Die Antwort lautet 13"},
		{"a 1 b 22 c", "22", "[invalid]", "a 1 b 22 c"},
	} {
		for _, f := range []struct {
			f    Filter
			want string
		}{{flex, c.flex}, {strict, c.strict}, {ws, c.ws}} {
			got, err := f.f.Apply(c.in)
			if err != nil || got != f.want {
				t.Errorf("%s(%q) = %q, %v; want %q", f.f.Name, c.in, got, err, f.want)
			}
		}
	}
}

// exact_match with ignore_case and ignore_punctuation, as numpy's
// char.lower and str.translate over string.punctuation give it.
func TestExactMatch(t *testing.T) {
	o := MatchOptions{IgnoreCase: true, IgnorePunctuation: true}
	for _, c := range []struct {
		pred, ref string
		want      float64
	}{
		{"18.", "18", 1}, {"1,000", "1000", 1}, {"$18", "18", 1}, {"18 Dollar", "18", 0},
		{"ABC", "abc", 1}, {"-3", "3", 1}, {"[invalid]", "invalid", 1}, {"18", "18", 1}, {"19", "18", 0},
	} {
		if got := o.ExactMatch(c.pred, c.ref); got != c.want {
			t.Errorf("ExactMatch(%q, %q) = %v", c.pred, c.ref, got)
		}
	}
	plain := MatchOptions{}
	if plain.ExactMatch("18.", "18") != 0 || plain.ExactMatch("A", "a") != 0 {
		t.Error("exact_match without options ignores something")
	}
	rx := MatchOptions{RegexesToIgnore: []string{`,`, `\$`}}
	if rx.ExactMatch("$1,000", "1000") != 1 {
		t.Error("regexes_to_ignore not applied")
	}
}

// The lowercase and uppercase filters and ignore_case are Python's
// str.lower and str.upper: Unicode's full case mapping, not rune by rune
// (expected values printed by CPython 3.11).
func TestPythonCaseMapping(t *testing.T) {
	lower := Filter{Name: "lc", Steps: []FilterStep{{Function: "lowercase"}}}
	upper := Filter{Name: "uc", Steps: []FilterStep{{Function: "uppercase"}}}
	for _, c := range []struct{ in, lower, upper string }{
		{"Straße", "straße", "STRASSE"},
		{"İstanbul", "i\u0307stanbul", "İSTANBUL"},
		{"ΟΔΟΣ ΟΔΟΣ.", "οδος οδος.", "ΟΔΟΣ ΟΔΟΣ."},
		{"ﬁnal", "ﬁnal", "FINAL"},
		{"Die Antwort: 18", "die antwort: 18", "DIE ANTWORT: 18"},
	} {
		if got, _ := lower.Apply(c.in); got != c.lower {
			t.Errorf("lowercase(%q) = %q, want %q", c.in, got, c.lower)
		}
		if got, _ := upper.Apply(c.in); got != c.upper {
			t.Errorf("uppercase(%q) = %q, want %q", c.in, got, c.upper)
		}
	}
	o := MatchOptions{IgnoreCase: true}
	if o.ExactMatch("STRASSE", "strasse") != 1 || o.ExactMatch("ΑΣ", "ας") != 1 || o.ExactMatch("ΑΣ", "ασ") != 0 {
		t.Error("ignore_case does not fold as str.lower does")
	}
}

// Python's repr(float), as CPython 3 prints these values.
func TestPyFloatRepr(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{-0.5, "-0.5"}, {-1, "-1.0"}, {-123.456789, "-123.456789"}, {1e-05, "1e-05"}, {-2.5e-07, "-2.5e-07"},
		{1e16, "1e+16"}, {123456789012345.6, "123456789012345.6"}, {1234567890123456.7, "1234567890123456.8"},
		{0.0001, "0.0001"}, {100, "100.0"}, {3, "3.0"},
	} {
		if got := pyFloatRepr(c.f); got != c.want {
			t.Errorf("pyFloatRepr(%v) = %q, want %q", c.f, got, c.want)
		}
	}
	if got := pyJSON(pyDict{{"a", []any{"ü\n\"</s>", 1, pyFloat(2), nil, true}}, {"b", pyDict{}}}, -1); got != `{"a": ["ü\n\"</s>", 1, 2.0, null, true], "b": {}}` {
		t.Errorf("pyJSON = %s", got)
	}
	if got := pyJSON(pyDict{{"a", 1}, {"b", []any{"x"}}}, 2); got != "{\n  \"a\": 1,\n  \"b\": [\n    \"x\"\n  ]\n}" {
		t.Errorf("pyJSON indent 2 = %q", got)
	}
}
