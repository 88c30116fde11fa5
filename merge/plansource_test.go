package merge

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/safetensors"
)

// TestPlanSource reads merges through Plan.Source and compares every byte
// with the written model, and scores the in-memory result with the
// forward pass: the same logits as the model on disk.
func TestPlanSource(t *testing.T) {
	models, _ := filepath.Abs("../testdata/golden/models")
	for _, method := range []string{"ties", "dare_ties", "slerp"} {
		t.Run(method, func(t *testing.T) {
			yml := "merge_method: " + method + "\nbase_model: " + models + "/base_f32\ndtype: float32\nparameters: {t: 0.3}\nmodels:\n" +
				"  - model: " + models + "/ft1_f32\n    parameters: {weight: 0.6, density: 0.5}\n"
			if method != "slerp" {
				yml += "  - model: " + models + "/ft2_f32\n    parameters: {weight: 0.4, density: 0.5}\n"
			}
			cfg, err := ParseConfig([]byte(yml), "c.yml")
			if err != nil {
				t.Fatal(err)
			}
			opt := Options{Seed: 42}
			out := filepath.Join(t.TempDir(), "out")
			if _, err := Run(t.Context(), cfg, out, opt); err != nil {
				t.Fatal(err)
			}
			plan, err := NewPlan(cfg, opt.PlanOptions)
			if err != nil {
				t.Fatal(err)
			}
			defer plan.Close()
			src := plan.Source(opt)
			disk, err := safetensors.OpenModel(out)
			if err != nil {
				t.Fatal(err)
			}
			defer disk.Close()
			if !slices.Equal(sortedCopy(src.Names()), disk.Names()) {
				t.Fatalf("names differ")
			}
			for _, n := range disk.Names() {
				info, _ := src.Tensor(n)
				got := make([]byte, info.Size)
				// Two halves, as a reader in pieces would.
				h := info.Size / 2
				if err := src.ReadTensorRange(n, 0, got[:h]); err != nil {
					t.Fatal(err)
				}
				if err := src.ReadTensorRange(n, h, got[h:]); err != nil {
					t.Fatal(err)
				}
				want := make([]byte, info.Size)
				if err := disk.ReadTensor(n, want); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s differs from the written model", n)
				}
			}
			cj, err := plan.ConfigJSON()
			if err != nil {
				t.Fatal(err)
			}
			mem, err := model.Load(cj, plan.Source(opt), model.Options{})
			if err != nil {
				t.Fatal(err)
			}
			onDisk, err := model.Open(out, model.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ids := []int{1, 5, 9, 200, 31, 7}
			a, err := mem.Logits(ids)
			if err != nil {
				t.Fatal(err)
			}
			b, err := onDisk.Logits(ids)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a, b) {
				t.Error("logits of the in-memory merge differ from the written one")
			}
		})
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
