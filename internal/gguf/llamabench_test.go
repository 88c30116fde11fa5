package gguf

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/tensor"
)

// llamaBench is the llama-bench that bench/llamacpp/build.sh builds, or
// $LLAMA_BENCH.
func llamaBench(t *testing.T) string {
	p := os.Getenv("LLAMA_BENCH")
	if p == "" {
		p = "/tmp/llama/bin/llama-bench"
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no llama-bench at %s (bench/llamacpp/build.sh builds it; LLAMA_BENCH names another)", p)
	}
	return p
}

// TestLlamaBenchLoads runs llama.cpp on converted models: that it loads
// them (every tensor, shape and metadata key it wants) and runs a prompt.
func TestLlamaBenchLoads(t *testing.T) {
	bench := llamaBench(t)
	for _, tc := range []struct {
		name string
		spec testmodel.Spec
		typ  TensorType
	}{
		{"bf16", testmodel.Spec{Vocab: 300, DType: tensor.BF16, Seed: 1}, BF16},
		{"f32-tied", testmodel.Spec{Vocab: 320, Hidden: 96, Heads: 6, KVHeads: 3, Tied: true, Seed: 2}, F32},
		{"f16", testmodel.Spec{Vocab: 300, Seed: 3}, F16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			hf := filepath.Join(dir, "hf")
			if err := testmodel.Write(hf, tc.spec); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "m.gguf")
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := ConvertLlama(hf, f, tc.typ); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bench, "-m", out, "-p", "16", "-n", "0", "-r", "1", "-t", "1", "-o", "csv")
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("llama-bench: %v\n%s", err, b)
			}
			if !strings.Contains(string(b), "avg_ts") {
				t.Errorf("llama-bench printed no results:\n%s", b)
			}
		})
	}
}
