package evolve

import (
	"errors"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/worker"
)

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`genome:
  models:
    - org/a
    - model: {path: ./b, revision: v1}
  merge_method: dare_ties
  base_model: org/base
  layer_granularity: 4
  normalize: false
  filters: [self_attn, mlp]
tasks:
  - de_ud_gsd_ppl
  - name: saetze
    weight: -0.5
    metric: word_perplexity,none
  - {name: x, metric: "acc_norm,none"}
limit: 20
num_fewshot: 0
random_init: true
apply_chat_template: false
typo_key: 1
`), "evo.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := []worker.Task{
		{Name: "de_ud_gsd_ppl", Metric: "acc,none", Weight: 1},
		{Name: "saetze", Metric: "word_perplexity,none", Weight: -0.5},
		{Name: "x", Metric: "acc_norm,none", Weight: 1},
	}
	for i := range want {
		if c.Tasks[i] != want[i] {
			t.Errorf("task %d: %+v, want %+v", i, c.Tasks[i], want[i])
		}
	}
	g := c.Genome
	if g.MergeMethod != "dare_ties" || g.LayerGranularity != 4 || *g.Normalize || len(g.Filters) != 2 ||
		g.Models[1].Ref.Path != "./b" || g.Models[1].Ref.Revision != "v1" || g.BaseModel.Ref.Path != "org/base" {
		t.Errorf("genome %+v", g)
	}
	if *c.Limit != 20 || *c.NumFewshot != 0 || !c.RandomInit || c.ApplyChatTemplate || !c.FewshotAsMultiturn {
		t.Errorf("config %+v", c)
	}
	if len(c.Warnings) != 1 || !strings.HasPrefix(c.Warnings[0], "evo.yml:20:") {
		t.Errorf("warnings %q", c.Warnings)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"tasks: [a]\n", "genome is required"},
		{"genome: {models: [a], merge_method: linear}\n", "tasks must list"},
		{"genome: {models: [a], merge_method: linear}\ntasks: []\n", "tasks must list"},
		{"genome: {models: [a], merge_method: della}\ntasks: [t]\n", "evo.yml:1: genome.merge_method \"della\""},
		{"genome: {models: [a]}\ntasks: [t]\n", "merge_method is required"},
		{"genome: {models: [a, b], merge_method: ties}\ntasks: [t]\n", "base_model is required for ties"},
		{"genome: {models: [a, b], merge_method: task_arithmetic}\ntasks: [t]\n", "base_model is required"},
		{"genome: {models: [a, b], merge_method: slerp, smooth: true}\ntasks: [t]\n", "smooth is not supported for slerp"},
		{"genome: {models: [a, b], merge_method: slerp, filters: [mlp]}\ntasks: [t]\n", "filtering is not supported for slerp"},
		{"genome: {models: [a], merge_method: slerp}\ntasks: [t]\n", "at least two models"},
		{"genome: {models: [], merge_method: linear}\ntasks: [t]\n", "at least one model"},
		{"genome: {models: [a], merge_method: linear, layer_granularity: -1}\ntasks: [t]\n", "must not be negative"},
		{"genome: {models: [a], merge_method: linear}\ntasks: [{weight: 2}]\n", "tasks[0]: a task needs a name"},
		{"genome: {models: [a], merge_method: linear}\ntasks: [t]\nlimit: many\n", "evo.yml"},
		{"genome: {models: ['a+b+c'], merge_method: linear}\ntasks: [t]\n", "more than one '+'"},
		{"[1, 2]\n", "must be a mapping"},
		{"genome: {models: [a\n", "evo.yml"},
	} {
		_, err := ParseConfig([]byte(tc.src), "evo.yml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.src, err, tc.want)
		}
	}
}

// TestCheckTasks reproduces mergekit's guard: a plain prefix match,
// "_train" exempt, an error unless allowed.
func TestCheckTasks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		naughty bool
	}{
		{"mmlu", true}, {"mmlu_m_de", true}, {"arc_de", true}, {"arc_challenge_m_de", true},
		{"hellaswag_de", true}, {"truthfulqa_mc2_m_de", true}, {"leaderboard_bbh", true},
		{"gsm8k_train", false}, {"hellaswag_train", false}, {"belebele_deu_Latn", false},
		{"xnli_de", false}, {"m_mmlu_de", false}, {"de_ud_gsd_ppl", false}, {"arc", false},
	} {
		c := &Config{Tasks: []worker.Task{{Name: "ok"}, {Name: tc.name}}}
		_, err := c.CheckTasks(false)
		if got := errors.Is(err, ErrNaughtyTask); got != tc.naughty {
			t.Errorf("%s: refused %v, want %v (%v)", tc.name, got, tc.naughty, err)
		}
		w, err := c.CheckTasks(true)
		if err != nil || (len(w) == 1) != tc.naughty {
			t.Errorf("%s allowed: warnings %q, error %v", tc.name, w, err)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("genome: {models: [a, b], merge_method: slerp, layer_granularity: 1}\ntasks: [t]\n"))
	f.Add([]byte("genome: {models: [a, {model: {path: b}}], merge_method: ties, base_model: a, filters: [mlp], smooth: true}\ntasks: [{name: t, weight: -1}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, "fuzz.yml")
		if err != nil {
			return
		}
		l, err := c.Genome.Layout(4)
		if err != nil {
			return
		}
		if _, err := c.Genome.MergeConfig(l, l.Initial(false, nil)); err != nil {
			t.Fatalf("initial genotype of a valid genome: %v", err)
		}
	})
}

func TestSlerpSeparateBaseWarns(t *testing.T) {
	for src, warn := range map[string]bool{
		"genome: {models: [a, b], merge_method: slerp, base_model: c}\ntasks: [t]\n": true,
		"genome: {models: [a, b], merge_method: slerp, base_model: b}\ntasks: [t]\n": false,
		"genome: {models: [a, b], merge_method: ties, base_model: c}\ntasks: [t]\n":  false,
	} {
		c, err := ParseConfig([]byte(src), "evo.yml")
		if err != nil {
			t.Fatal(err)
		}
		if got := len(c.Warnings) == 1 && strings.Contains(c.Warnings[0], "third source"); got != warn {
			t.Errorf("%q: warnings %q", src, c.Warnings)
		}
	}
}
