package lora

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

const ref = "../testdata/ref"

// TestPEFTMerged compares every tensor of base+adapter with PEFT's own
// merge_and_unload, computed in float64 (testdata/ref/README.md).
func TestPEFTMerged(t *testing.T) {
	llama := filepath.Join(ref, "eval/models/llama")
	cases := []struct {
		name, base string
		adapted    int // tensors that must differ from the base
	}{
		{"lora_patterns", llama, 14},
		{"rslora", llama, 4},
		{"dora", llama, 6},
		{"embed", llama, 4},
		{"modules_to_save", llama, 3},
		{"layers", llama, 1},
		{"lora_patterns_bin", llama, 14}, // the same adapter saved as adapter_model.bin
		{"gpt2_fan_in_fan_out", filepath.Join(ref, "lora/gpt2_base"), 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base, err := safetensors.OpenModel(c.base)
			if err != nil {
				t.Fatal(err)
			}
			defer base.Close()
			a, err := Open(filepath.Join(ref, "lora", c.name, "adapter"))
			if err != nil {
				t.Fatal(err)
			}
			m, err := Apply(base, a)
			if err != nil {
				t.Fatal(err)
			}
			merged := strings.TrimSuffix(c.name, "_bin") // a .bin adapter merges like its safetensors twin
			want, err := safetensors.Open(filepath.Join(ref, "lora", merged, "merged.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer want.Close()
			changed := 0
			for _, name := range m.Names() {
				info, _ := m.Tensor(name)
				got := make([]byte, info.Size)
				if err := m.ReadTensorRange(name, 0, got); err != nil {
					t.Fatal(err)
				}
				wi, ok := want.Tensor(name)
				if !ok {
					t.Fatalf("PEFT's merged model lacks %s", name)
				}
				exp := make([]byte, wi.Size)
				if err := want.ReadTensor(name, exp); err != nil {
					t.Fatal(err)
				}
				orig := make([]byte, info.Size)
				if err := base.ReadTensor(name, orig); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, orig) {
					changed++
				}
				if d := maxRelDiff(t, got, exp); d > 1e-6 {
					t.Errorf("%s: max |got-want| / max |want| = %.3g", name, d)
				}
				// A read of an odd range equals the same bytes of a whole read.
				if info.Size > 40 {
					part := make([]byte, info.Size/3+2)
					off := info.Size / 5
					if err := m.ReadTensorRange(name, off, part); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(part, got[off:off+int64(len(part))]) {
						t.Errorf("%s: range read differs from the whole read", name)
					}
				}
			}
			if changed != c.adapted {
				t.Errorf("%d tensors differ from the base, want %d", changed, c.adapted)
			}
		})
	}
}

func maxRelDiff(t *testing.T, got, want []byte) float64 {
	t.Helper()
	g := make([]float32, len(got)/4)
	w := make([]float32, len(want)/4)
	if len(g) != len(w) {
		t.Fatalf("sizes %d and %d", len(got), len(want))
	}
	if err := tensor.Decode(g, got, tensor.F32); err != nil {
		t.Fatal(err)
	}
	if err := tensor.Decode(w, want, tensor.F32); err != nil {
		t.Fatal(err)
	}
	var d, mx float64
	for i := range g {
		d = max(d, math.Abs(float64(g[i])-float64(w[i])))
		mx = max(mx, math.Abs(float64(w[i])))
	}
	if mx == 0 {
		return d
	}
	return d / mx
}

// TestBF16Base applies an adapter to a bfloat16 base: the result must be
// the float32 result rounded once.
func TestBF16Base(t *testing.T) {
	dir := t.TempDir()
	src, err := safetensors.OpenModel(filepath.Join(ref, "eval/models/llama"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	writeBF16(t, src, dir)
	base, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	a, err := Open(filepath.Join(ref, "lora/dora/adapter"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Apply(base, a)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	name := "model.layers.1.self_attn.q_proj.weight"
	info, _ := m.Tensor(name)
	if info.DType != safetensors.BF16 {
		t.Fatalf("dtype %s, want BF16", info.DType)
	}
	got := make([]byte, info.Size)
	if err := m.ReadTensorRange(name, 0, got); err != nil {
		t.Fatal(err)
	}
	gf := make([]float32, info.NumElements())
	if err := tensor.Decode(gf, got, tensor.BF16); err != nil {
		t.Fatal(err)
	}
	// Compare with the float32 computation on the same bf16 weights.
	f32 := make([]float32, len(gf))
	raw := make([]byte, info.Size)
	if err := base.ReadTensor(name, raw); err != nil {
		t.Fatal(err)
	}
	if err := tensor.Decode(f32, raw, tensor.BF16); err != nil {
		t.Fatal(err)
	}
	diff := 0
	for i := range gf {
		if gf[i] != f32[i] {
			diff++
		}
	}
	if diff == 0 {
		t.Fatal("DoRA left the bf16 weight unchanged")
	}
}

func writeBF16(t *testing.T, src *safetensors.Model, dir string) {
	t.Helper()
	var specs []safetensors.TensorSpec
	for _, n := range src.Names() {
		info, _ := src.Tensor(n)
		specs = append(specs, safetensors.TensorSpec{Name: n, DType: safetensors.BF16, Shape: info.Shape})
	}
	w, err := safetensors.Create(dir, specs, safetensors.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range src.Names() {
		info, _ := src.Tensor(n)
		raw := make([]byte, info.Size)
		if err := src.ReadTensor(n, raw); err != nil {
			t.Fatal(err)
		}
		f := make([]float32, info.NumElements())
		if err := tensor.Decode(f, raw, tensor.F32); err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 2*len(f))
		if err := tensor.Encode(out, f, tensor.BF16); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteTensor(n, out); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(ref, "eval/models/llama/config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBadAdapters checks that broken adapters fail with errors that name
// the problem.
func TestBadAdapters(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(cfg string) string
		errHas string
	}{
		{"rank", func(c string) string { return strings.Replace(c, `"r": 4`, `"r": 3`, 1) }, "rank"},
		{"peft type", func(c string) string { return strings.Replace(c, `"peft_type": "LORA"`, `"peft_type": "IA3"`, 1) }, "IA3"},
		{"bad pattern", func(c string) string {
			return strings.Replace(c, `"rank_pattern": {}`, `"rank_pattern": {"(": 2}`, 1)
		}, "pattern"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(ref, "lora/dora/adapter")
			cfg, err := os.ReadFile(filepath.Join(src, "adapter_config.json"))
			if err != nil {
				t.Fatal(err)
			}
			w, err := os.ReadFile(filepath.Join(src, "adapter_model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			edited := c.edit(string(cfg))
			if edited == string(cfg) {
				t.Fatal("edit did not apply")
			}
			os.WriteFile(filepath.Join(dir, "adapter_config.json"), []byte(edited), 0o644)
			os.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), w, 0o644)
			_, err = Open(dir)
			if err == nil || !strings.Contains(err.Error(), c.errHas) {
				t.Fatalf("error %v, want one mentioning %q", err, c.errHas)
			}
		})
	}
	// An adapter for another model: shapes do not match.
	base, err := safetensors.OpenModel(filepath.Join(ref, "lora/gpt2_base"))
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	a, err := Open(filepath.Join(ref, "lora/dora/adapter"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := Apply(base, a); err == nil || !strings.Contains(err.Error(), "the base model has no tensor model.layers.0.mlp.up_proj.weight") {
		t.Fatalf("Apply on the wrong base: %v", err)
	}
}

// TestSharedReference checks the adapter in ../shared/testdata/torch, made
// with PyTorch 1.13 and its expected W + (alpha/r)·B·A computed in float64.
func TestSharedReference(t *testing.T) {
	dir := "../../shared/testdata/torch"
	if _, err := os.Stat(dir); err != nil {
		t.Skip("../shared absent")
	}
	base, err := safetensors.OpenModel("../testdata/golden/models/base_f32")
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	a, err := Open(filepath.Join(dir, "lora_k_o_up"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Apply(base, a)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want, err := safetensors.OpenModel(filepath.Join(dir, "expected_base_plus_lora_k_o_up"))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	for _, name := range want.Names() {
		info, _ := m.Tensor(name)
		got := make([]byte, info.Size)
		if err := m.ReadTensorRange(name, 0, got); err != nil {
			t.Fatal(err)
		}
		exp := make([]byte, info.Size)
		if err := want.ReadTensor(name, exp); err != nil {
			t.Fatal(err)
		}
		if d := maxRelDiff(t, got, exp); d > 1e-6 {
			t.Errorf("%s: relative difference %.3g", name, d)
		}
	}
}

// TestAdaptersThatLie holds adapters whose config or factors would make
// Apply compute other weights than PEFT, or NaN ones: Open refuses them,
// naming the file and the module.
func TestAdaptersThatLie(t *testing.T) {
	const (
		upA   = "base_model.model.model.layers.0.mlp.up_proj.lora_A.weight"
		qB    = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"
		upMag = "base_model.model.model.layers.0.mlp.up_proj.lora_magnitude_vector"
	)
	nan, inf := float32(math.NaN()), float32(math.Inf(-1))
	cases := []struct {
		name, adapter string
		cfgFrom       string
		cfgTo         string
		tensor        string  // set one element of it to value
		elem          int64   // the element
		value         float32 // the value
		errHas        string
	}{
		{"dora without magnitudes", "lora_patterns", `"use_dora": false`, `"use_dora": true`, "", 0, 0,
			"adapter_model.safetensors: module model.layers.0.mlp.down_proj: adapter_config.json sets use_dora but the adapter has no lora_magnitude_vector"},
		{"magnitudes without dora", "dora", `"use_dora": true`, `"use_dora": false`, "", 0, 0,
			"adapter_model.safetensors: module model.layers.0.mlp.up_proj: the adapter has a DoRA magnitude vector"},
		{"nan in lora_A", "dora", "", "", upA, 77, nan,
			"adapter_model.safetensors: module model.layers.0.mlp.up_proj: tensor " + upA + " holds NaN at element 77"},
		{"inf in lora_B", "dora", "", "", qB, 255, inf,
			"adapter_model.safetensors: module model.layers.0.self_attn.q_proj: tensor " + qB + " holds -Inf at element 255"},
		{"nan in a magnitude", "dora", "", "", upMag, 0, nan,
			"tensor " + upMag + " holds NaN at element 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(ref, "lora", c.adapter, "adapter")
			cfg, err := os.ReadFile(filepath.Join(src, "adapter_config.json"))
			if err != nil {
				t.Fatal(err)
			}
			w, err := os.ReadFile(filepath.Join(src, "adapter_model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			if c.cfgFrom != "" {
				edited := strings.Replace(string(cfg), c.cfgFrom, c.cfgTo, 1)
				if edited == string(cfg) {
					t.Fatal("edit did not apply")
				}
				cfg = []byte(edited)
			}
			wpath := filepath.Join(dir, "adapter_model.safetensors")
			os.WriteFile(filepath.Join(dir, "adapter_config.json"), cfg, 0o644)
			os.WriteFile(wpath, w, 0o644)
			if c.tensor != "" {
				f, err := safetensors.Open(wpath)
				if err != nil {
					t.Fatal(err)
				}
				info, ok := f.Tensor(c.tensor)
				f.Close()
				if !ok || info.DType != safetensors.F32 {
					t.Fatalf("no F32 tensor %s", c.tensor)
				}
				tensor.Encode(w[info.Offset+4*c.elem:info.Offset+4*c.elem+4], []float32{c.value}, tensor.F32)
				os.WriteFile(wpath, w, 0o644)
			}
			a, err := Open(dir)
			if err == nil {
				a.Close()
			}
			if err == nil || !strings.Contains(err.Error(), c.errHas) {
				t.Fatalf("error %v, want one containing %q", err, c.errHas)
			}
		})
	}
}
