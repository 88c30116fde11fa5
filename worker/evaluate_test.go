package worker

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/eval/model"
)

func TestMain(m *testing.M) {
	if os.Getenv(workerProcEnv) != "" {
		os.Exit(workerProcess())
	}
	code := m.Run()
	if storiesTmp != "" {
		os.RemoveAll(storiesTmp)
	}
	os.Exit(code)
}

// TestEvaluateStories scores stories260K as a model and as a linear merge
// of itself (which is the same model): the scores must agree, and the
// score must be the weighted sum of the metrics.
func TestEvaluateStories(t *testing.T) {
	dir := storiesDir(t)
	ctx := context.Background()
	opt := Options{Name: "test", Cache: NewCache(1)}
	base := Job{ID: "m", Model: dir, Tasks: storiesTasks, TaskSearchPath: []string{"testdata"}}
	r := Evaluate(ctx, base, opt)
	if r.Err != "" {
		t.Fatalf("model: %s", r.Err)
	}
	acc, ppl := r.Scores["stories_mc"]["acc,none"], r.Scores["stories_ppl"]["word_perplexity,none"]
	if want := acc*1 + ppl*-0.01; r.Score != want {
		t.Errorf("score %v, want acc %v − 0.01 × ppl %v = %v", r.Score, acc, ppl, want)
	}
	if ppl <= 1 || acc < 0 || acc > 1 || r.Worker != "test" || r.ID != "m" {
		t.Errorf("implausible result %+v", r)
	}
	if _, ok := r.Scores["stories_ppl"]["bits_per_byte,none"]; !ok {
		t.Errorf("scores lack the task's other metrics: %v", r.Scores)
	}
	for _, w := range [][2]string{{"0.5", "0.5"}, {"1", "1"}} {
		j := base
		j.ID, j.Model, j.Config = "c", "", linearSelf(dir, w[0], w[1])
		c := Evaluate(ctx, j, opt)
		if c.Err != "" {
			t.Fatalf("config %v: %s", w, c.Err)
		}
		if math.Abs(c.Score-r.Score) > 1e-9*math.Abs(r.Score) {
			t.Errorf("linear %v of the model with itself scores %v, the model %v", w, c.Score, r.Score)
		}
	}
	// lm-eval's "perplexity" reads the rolling task's per-token perplexity.
	j := base
	j.Tasks = []Task{{Name: "stories_ppl", Metric: "perplexity,none", Weight: 2}}
	p := Evaluate(ctx, j, opt)
	if tp := p.Scores["stories_ppl"]["token_perplexity,none"]; p.Err != "" || tp <= 1 || p.Score != 2*tp {
		t.Errorf("perplexity,none: score %v, token_perplexity %v, err %q", p.Score, tp, p.Err)
	}
	// A generation task is named like any built-in one, its metric with
	// its filter; an unknown filter is refused, naming the task's filters.
	j = base
	j.Limit = 2
	j.Tasks = []Task{{Name: "mgsm_direct_de", Metric: "exact_match,flexible-extract", Weight: 1}}
	g := Evaluate(ctx, j, opt)
	if _, ok := g.Scores["mgsm_direct_de"]["exact_match,remove_whitespace"]; g.Err != "" || !ok {
		t.Errorf("mgsm_direct_de: scores %v, err %q", g.Scores, g.Err)
	}
	j.Tasks[0].Metric = "exact_match,strict-match"
	if g := Evaluate(ctx, j, opt); !strings.Contains(g.Err, "remove_whitespace, flexible-extract") {
		t.Errorf("unknown filter: err %q", g.Err)
	}
	// A different candidate scores differently.
	j = base
	j.Model, j.Config = "", linearSelf(dir, "0.9", "0.2")
	if c := Evaluate(ctx, j, opt); c.Err != "" || c.Score == r.Score {
		t.Errorf("a scaled model scores %v (err %q), the same as the model", c.Score, c.Err)
	}
}

// TestEvaluateErrors: every failure is a Result.Err naming what failed,
// never a panic.
func TestEvaluateErrors(t *testing.T) {
	dir := storiesDir(t)
	ok := linearSelf(dir, "0.5", "0.5")
	two := 2
	tests := []struct {
		name string
		job  Job
		want []string
	}{
		{"bad yaml", Job{Config: []byte("merge_method: [linear\n")}, []string{"config:1"}},
		{"unknown method", Job{Config: []byte("merge_method: blend\nmodels:\n  - model: " + dir + "\n")}, []string{"blend"}},
		{"missing model", Job{Config: []byte("merge_method: linear\nmodels:\n  - model: /nonexistent/m\n    parameters: {weight: 1}\n")}, []string{"/nonexistent/m"}},
		{"no model dir", Job{Model: "/nonexistent/m"}, []string{"/nonexistent/m"}},
		{"both", Job{Config: ok, Model: dir}, []string{"exactly one"}},
		{"neither", Job{}, []string{"exactly one"}},
		{"unknown metric", Job{Config: ok, Tasks: []Task{{Name: "stories_mc", Metric: "f1,none", Weight: 1}}},
			[]string{`"f1,none"`, "acc,none", "acc_norm,none"}},
		{"unknown filter", Job{Config: ok, Tasks: []Task{{Name: "stories_mc", Metric: "acc,strict-match", Weight: 1}}}, []string{"strict-match"}},
		{"unknown task", Job{Config: ok, Tasks: []Task{{Name: "no_such_task", Metric: "acc,none", Weight: 1}}}, []string{"no_such_task"}},
		{"few-shot perplexity", Job{Config: ok, NumFewshot: &two}, []string{"stories_ppl", "multiple-choice"}},
		{"nan weights", Job{Config: linearSelf(dir, ".nan", "0.5")}, []string{"NaN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.job.ID = "e"
			tt.job.TaskSearchPath = []string{"testdata"}
			if tt.job.Tasks == nil {
				tt.job.Tasks = storiesTasks
			}
			r := Evaluate(context.Background(), tt.job, Options{})
			if r.Err == "" {
				t.Fatalf("no error; result %+v", r)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.Err, w) {
					t.Errorf("error %q does not mention %q", r.Err, w)
				}
			}
			if r.ID != "e" || r.Scores != nil {
				t.Errorf("failed result %+v", r)
			}
		})
	}
}

// TestEvaluateModelDirs: a worker finds a job's model under its own model
// directories when the path the coordinator wrote does not exist here.
func TestEvaluateModelDirs(t *testing.T) {
	dir := storiesDir(t)
	elsewhere := filepath.Join("/nonexistent/coordinator/models", filepath.Base(dir))
	job := Job{ID: "d", Tasks: storiesTasks[:1], TaskSearchPath: []string{"testdata"}, Limit: 1,
		Config: linearSelf(elsewhere, "0.5", "0.5")}
	if r := Evaluate(context.Background(), job, Options{}); r.Err == "" {
		t.Fatalf("found %s without model dirs", elsewhere)
	}
	opt := Options{ModelDirs: []string{filepath.Dir(dir)}}
	if r := Evaluate(context.Background(), job, opt); r.Err != "" {
		t.Fatalf("config: %s", r.Err)
	}
	job.Config, job.Model = nil, elsewhere
	if r := Evaluate(context.Background(), job, opt); r.Err != "" {
		t.Fatalf("model: %s", r.Err)
	}
}

// TestEvaluateBF16Dot: Job.BF16Dot reaches the forward pass (a bfloat16
// candidate scores differently on a CPU with bfloat16 products, the same
// elsewhere), and the model cache keeps the two apart.
func TestEvaluateBF16Dot(t *testing.T) {
	dir := storiesDir(t)
	ctx := context.Background()
	opt := Options{Name: "test", Cache: NewCache(2)}
	cfg := strings.Replace(string(linearSelf(dir, "0.5", "0.5")), "float32", "bfloat16", 1)
	job := Job{ID: "c", Config: []byte(cfg), Tasks: storiesTasks, TaskSearchPath: []string{"testdata"}}
	plain := Evaluate(ctx, job, opt)
	job.BF16Dot = true
	dot := Evaluate(ctx, job, opt)
	if plain.Err != "" || dot.Err != "" {
		t.Fatalf("errors %q, %q", plain.Err, dot.Err)
	}
	if differ := dot.Score != plain.Score; differ != model.HasBF16Dot() {
		t.Errorf("score %v with bf16 products, %v without, on a CPU with them: %v", dot.Score, plain.Score, model.HasBF16Dot())
	}
	if math.Abs(dot.Score-plain.Score) > 1e-2*math.Abs(plain.Score) {
		t.Errorf("score %v with bf16 products, %v without: too far apart", dot.Score, plain.Score)
	}
	for _, b := range []bool{false, true} {
		j := Job{ID: "m", Model: dir, Tasks: storiesTasks, TaskSearchPath: []string{"testdata"}, BF16Dot: b}
		if r := Evaluate(ctx, j, opt); r.Err != "" {
			t.Fatal(r.Err)
		}
	}
	if n := len(opt.Cache.models); n != 2 {
		t.Errorf("the cache holds %d models of %s, want one per BF16Dot", n, dir)
	}
}
