package merge

import (
	"bytes"
	"context"
	"errors"
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
			opt := Options{Seed: new(uint64(42))}
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

// TestPlanSourceCancel: a tensor merged on its first read stops with the
// source's context; karcher with max_iter 1e9 and tol 0 would not stop
// otherwise, and runs in Execute with a cancelled context stop too.
func TestPlanSourceCancel(t *testing.T) {
	dir := tinyModels(t)
	cfg, err := ParseConfig([]byte("merge_method: karcher\nparameters: {max_iter: 1000000000, tol: 0}\nmodels: [{model: base}, {model: ft1}]\n"), "c.yml")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(cfg, PlanOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src := plan.SourceContext(ctx, Options{})
	name := src.Names()[0]
	info, _ := src.Tensor(name)
	if err := src.ReadTensorRange(name, 0, make([]byte, info.Size)); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadTensorRange: err = %v, want %v", err, context.Canceled)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Execute(ctx, plan, out, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Execute: err = %v, want %v", err, context.Canceled)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), "*")); len(left) != 0 {
		t.Errorf("Execute left %v", left)
	}
}

func TestNewPlanContextCancelled(t *testing.T) {
	dir := tinyModels(t)
	cfg, err := ParseConfig([]byte("merge_method: linear\nparameters: {weight: 1}\nmodels: [{model: base}, {model: ft1}]\n"), "c.yml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewPlanContext(ctx, cfg, PlanOptions{Dir: dir}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want %v", err, context.Canceled)
	}
}
