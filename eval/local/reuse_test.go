package local

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gomerge/gomerge/eval"
	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/merge"
)

// A candidate that changes only the MLP weights of a linear merge merges
// only the MLP tensors again, and scores exactly as the same candidate
// merged from scratch.
func TestMergeReuse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "stories")
	if err := model.ConvertLlama2C("../../testdata/stories260K/stories260K.bin", dir); err != nil {
		t.Fatal(err)
	}
	config := func(mlp float64) *merge.Config {
		y := fmt.Sprintf(`merge_method: linear
dtype: float32
models:
  - model: %[1]s
    parameters:
      weight: [{filter: mlp, value: %[2]v}, {value: 0.5}]
  - model: %[1]s
    parameters:
      weight: 0.5
`, dir, mlp)
		cfg, err := merge.ParseConfig([]byte(y), "test.yml")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	ctx := context.Background()
	reqs := []eval.Request{{Context: []int{1, 40, 50}, Continuation: []int{60, 70, 80}}, {Context: []int{1}, Continuation: []int{9, 99, 199}}}
	score := func(cfg *merge.Config, r *Reuse) []eval.Result {
		m, err := Merge(ctx, cfg, Options{Reuse: r})
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.LM.LogLikelihood(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	r := NewReuse(1 << 30)
	score(config(0.5), r)
	h0, m0 := r.Stats()
	if h0 != 0 || m0 == 0 {
		t.Fatalf("first candidate: %d kept, %d merged", h0, m0)
	}
	got := score(config(0.9), r)
	h1, m1 := r.Stats()
	const mlpTensors = 3 * 5 // gate, up, down in 5 layers
	if m1-m0 != mlpTensors || h1 != m0-mlpTensors {
		t.Errorf("second candidate: %d kept, %d merged; want %d, %d", h1, m1-m0, m0-mlpTensors, mlpTensors)
	}
	want := score(config(0.9), nil)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: %+v with reuse, %+v merged afresh", i, got[i], want[i])
		}
	}
	// A budget smaller than every tensor keeps nothing.
	small := NewReuse(1)
	score(config(0.5), small)
	score(config(0.5), small)
	if h, m := small.Stats(); h != 0 || m != 2*m0 {
		t.Errorf("budget 1: %d kept, %d merged; want 0, %d", h, m, 2*m0)
	}
}
