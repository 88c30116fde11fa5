package model

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomerge/gomerge/eval"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// TestNaNWeightsFailScoring: a checkpoint with a NaN weight loads (weights
// are not scanned) but its scores are refused, not reported.
func TestNaNWeightsFailScoring(t *testing.T) {
	dir := copyAs(t, filepath.Join(refDir, "models", "llama"), tensor.F32, nil)
	path := filepath.Join(dir, "model.safetensors")
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := f.Tensor("model.norm.weight")
	f.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tensor.Encode(raw[info.Offset:info.Offset+4], []float32{float32(math.NaN())}, tensor.F32)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	lm := eval.FromLogitsBatch(m.LogitsBatch, m.VocabSize(), m.MaxPositions())
	if _, err := eval.LogLikelihoodRolling(context.Background(), lm, []int{5, 6, 7, 8}, 1); !errors.Is(err, eval.ErrNotFinite) {
		t.Fatalf("error %v, want eval.ErrNotFinite", err)
	}
}
