package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomerge/gomerge/eval/model"
)

// TestEvalMergeConfig scores a merge config in memory and the same merge
// written to disk: the per-document log-likelihoods must be equal.
func TestEvalMergeConfig(t *testing.T) {
	models, _ := filepath.Abs("../../testdata/golden/models")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ties.yml")
	os.WriteFile(cfg, []byte("merge_method: ties\nbase_model: "+models+"/base_f32\ndtype: float32\nmodels:\n"+
		"  - model: "+models+"/ft1_f32\n    parameters: {weight: 0.5, density: 0.5}\n"+
		"  - model: "+models+"/ft2_f32\n    parameters: {weight: 0.5, density: 0.5}\n"), 0o644)
	task := filepath.Join(dir, "ids.jsonl")
	os.WriteFile(task, []byte("{\"ids\": [1, 17, 42, 99, 3, 250, 7, 7, 64]}\n{\"ids\": [2, 200, 31, 5, 180]}\n"), 0o644)
	score := func(model string) []any {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"eval", model, "--task", task, "--json", "--per-item"}, &stdout, &stderr); code != exitOK {
			t.Fatalf("eval %s: exit %d: %s", model, code, stderr.String())
		}
		var rep struct {
			Tasks []struct {
				Items []any `json:"items"`
			} `json:"tasks"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("%v: %s", err, stdout.String())
		}
		if len(rep.Tasks) != 1 || len(rep.Tasks[0].Items) != 2 {
			t.Fatalf("report: %s", stdout.String())
		}
		return rep.Tasks[0].Items
	}
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{cfg, out, "--quiet"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("merge: %s", stderr.String())
	}
	a, b := score(cfg), score(out)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("in memory %s\non disk   %s", ja, jb)
	}
}

// TestEvalBF16Dot: --bf16-dot reaches the forward pass of an in-memory
// bfloat16 merge (its log-likelihoods move in the low digits exactly when
// the CPU has the products) and the report says so; with --endpoint it is
// a usage error.
func TestEvalBF16Dot(t *testing.T) {
	models, _ := filepath.Abs("../../testdata/golden/models")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "linear.yml")
	os.WriteFile(cfg, []byte("merge_method: linear\ndtype: bfloat16\nmodels:\n"+
		"  - model: "+models+"/ft1_f32\n    parameters: {weight: 0.5}\n"+
		"  - model: "+models+"/ft2_f32\n    parameters: {weight: 0.5}\n"), 0o644)
	task := filepath.Join(dir, "ids.jsonl")
	os.WriteFile(task, []byte("{\"ids\": [1, 17, 42, 99, 3, 250, 7, 7, 64, 12, 9, 140]}\n"), 0o644)
	type report struct {
		BF16Dot bool `json:"bf16_dot"`
		Tasks   []struct {
			Items []struct {
				LogLikelihood float64 `json:"loglikelihood"`
			} `json:"items"`
		} `json:"tasks"`
	}
	score := func(extra ...string) report {
		var stdout, stderr bytes.Buffer
		args := append([]string{"eval", cfg, "--task", task, "--json", "--per-item"}, extra...)
		if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
			t.Fatalf("eval %v: exit %d: %s", extra, code, stderr.String())
		}
		var rep report
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || len(rep.Tasks) != 1 || len(rep.Tasks[0].Items) != 1 {
			t.Fatalf("report %v: %s", err, stdout.String())
		}
		return rep
	}
	plain, dot := score(), score("--bf16-dot")
	a, b := plain.Tasks[0].Items[0].LogLikelihood, dot.Tasks[0].Items[0].LogLikelihood
	if plain.BF16Dot || dot.BF16Dot != model.HasBF16Dot() || (a != b) != model.HasBF16Dot() || math.Abs(a-b) > 0.05*math.Abs(a) {
		t.Errorf("log-likelihood %v, %v with --bf16-dot; reports say %v, %v; the CPU has the products: %v", a, b, plain.BF16Dot, dot.BF16Dot, model.HasBF16Dot())
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"eval", "--endpoint", "http://127.0.0.1:1/v1/completions", "--task", task, "--bf16-dot"}, &stdout, &stderr); code != exitUsage {
		t.Errorf("--bf16-dot with --endpoint: exit %d: %s", code, stderr.String())
	}
}
