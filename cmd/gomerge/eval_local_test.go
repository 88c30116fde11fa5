package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
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
