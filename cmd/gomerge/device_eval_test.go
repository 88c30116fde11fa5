package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEvalDevice scores a bf16 model with `eval --device cuda` and
// `--device cpu`: the per-document log-likelihoods agree within the bf16
// activations' tolerance (internal/cuda's forwardTol per token), and a
// mixture of experts stays on the CPU with a notice. It needs a cuda
// build and a GPU (GOMERGE_REQUIRE_CUDA=1) or the fake driver
// (GOMERGE_LIBCUDA naming libfakecuda.so).
func TestEvalDevice(t *testing.T) {
	if !cudaBuilt || os.Getenv("GOMERGE_REQUIRE_CUDA") != "1" && os.Getenv("GOMERGE_LIBCUDA") == "" {
		t.Skip("needs a -tags cuda build and a GPU (GOMERGE_REQUIRE_CUDA=1) or GOMERGE_LIBCUDA")
	}
	base, _ := filepath.Abs("../../testdata/golden/models/base_bf16")
	moe, _ := filepath.Abs("../../testdata/ref/moe/mixtral_fused")
	task := filepath.Join(t.TempDir(), "ids.jsonl")
	os.WriteFile(task, []byte("{\"ids\": [1, 17, 42, 95, 3, 50, 7, 7, 64]}\n{\"ids\": [2, 20, 31, 5, 80]}\n{\"ids\": [9, 8]}\n"), 0o644) // ids < 96, the MoE's vocabulary
	type item struct {
		LogLikelihood float64 `json:"loglikelihood"`
		Tokens        int     `json:"tokens"`
	}
	score := func(model, device string) ([]item, string) {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"eval", model, "--task", task, "--json", "--per-item", "--device", device}, &stdout, &stderr); code != exitOK {
			t.Fatalf("eval %s --device %s: exit %d: %s", model, device, code, stderr.String())
		}
		var rep struct {
			Tasks []struct {
				Items []item `json:"items"`
			} `json:"tasks"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || len(rep.Tasks) != 1 || len(rep.Tasks[0].Items) != 3 {
			t.Fatalf("report %v: %s", err, stdout.String())
		}
		return rep.Tasks[0].Items, stderr.String()
	}
	cpu, _ := score(base, "cpu")
	gpu, errs := score(base, "cuda")
	for i := range cpu {
		if gpu[i].Tokens != cpu[i].Tokens || !(math.Abs(gpu[i].LogLikelihood-cpu[i].LogLikelihood) <= 0.3*float64(cpu[i].Tokens)) {
			t.Errorf("document %d: GPU %+v, CPU %+v", i, gpu[i], cpu[i])
		}
	}
	// The device rounds activations to bf16: its sums cannot all equal the
	// CPU's to the last bit unless the CPU scored them.
	same := 0
	for i := range cpu {
		if gpu[i].LogLikelihood == cpu[i].LogLikelihood {
			same++
		}
	}
	if same == len(cpu) {
		t.Errorf("--device cuda gave the CPU's log-likelihoods bit for bit: not scored on the device")
	}
	if errs != "" {
		t.Errorf("stderr of --device cuda: %q", errs)
	}
	_, errs = score(moe, "cuda")
	if !strings.Contains(errs, "mixture of experts") || !strings.Contains(errs, "scoring on the CPU") || strings.Count(errs, "\n") != 1 {
		t.Errorf("MoE on --device cuda: stderr %q", errs)
	}
}
