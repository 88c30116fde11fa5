package model

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

const refDir = "../../testdata/ref/eval"

// refTensors reads every tensor of a reference file: floats as float32,
// I64 ids as float32 too (they are small).
func refTensors(t testing.TB, path string) map[string][]float32 {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]float32{}
	for _, info := range f.Tensors() {
		buf := make([]byte, info.Size)
		if err := f.ReadTensorAt(info, buf); err != nil {
			t.Fatal(err)
		}
		n := int(info.NumElements())
		v := make([]float32, n)
		if info.DType == "I64" {
			for i := range v {
				v[i] = float32(int64(binary.LittleEndian.Uint64(buf[8*i:])))
			}
		} else {
			dt, err := tensor.ParseDType(string(info.DType))
			if err != nil {
				t.Fatal(err)
			}
			if err := tensor.Decode(v, buf, dt); err != nil {
				t.Fatal(err)
			}
		}
		out[info.Name] = v
	}
	return out
}

func toInts(v []float32) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// relErr returns max|a-b| / max|b|.
func relErr(a, b []float32) float64 {
	var d, s float64
	for i := range b {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		s = max(s, math.Abs(float64(b[i])))
	}
	return d / s
}

const tol = 1e-4

var families7 = []string{"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3"}

func TestReferenceLogits(t *testing.T) {
	for _, name := range families7 {
		t.Run(name, func(t *testing.T) {
			ref := refTensors(t, filepath.Join(refDir, name+".safetensors"))
			m, err := Open(filepath.Join(refDir, "models", name), Options{})
			if err != nil {
				t.Fatal(err)
			}
			ids := toInts(ref["input_ids"])
			hidden, err := m.HiddenStates(ids)
			if err != nil {
				t.Fatal(err)
			}
			// transformers lists the final norm's output last.
			last := hidden[len(hidden)-1]
			rmsNorm(last, last, m.norm, m.cfg.eps)
			n := len(ids) * m.cfg.hidden
			if len(hidden) != m.cfg.layers+1 || len(ref["hidden"]) != len(hidden)*n {
				t.Fatalf("%d hidden states of %d values, reference has %d values", len(hidden), n, len(ref["hidden"]))
			}
			for i, h := range hidden {
				if e := relErr(h, ref["hidden"][i*n:(i+1)*n]); e > tol {
					t.Errorf("hidden state %d: relative error %.3g", i, e)
				}
			}
			got, err := m.Logits(ids)
			if err != nil {
				t.Fatal(err)
			}
			e := relErr(got, ref["logits"])
			t.Logf("%s: logits relative error %.3g", name, e)
			if e > tol {
				t.Errorf("logits: relative error %.3g > %g", e, tol)
			}
		})
	}
}

// copyAs writes the model in srcDir to a new directory with every float
// tensor converted to dt, and config.json edited by edit (if not nil).
func copyAs(t testing.TB, srcDir string, dt tensor.DType, edit func(map[string]any)) string {
	t.Helper()
	dir := t.TempDir()
	if err := testmodel.CopyAs(dir, srcDir, dt, edit); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReferenceBF16(t *testing.T) {
	for _, name := range families7 {
		t.Run(name, func(t *testing.T) {
			ref := refTensors(t, filepath.Join(refDir, name+".safetensors"))
			dir := copyAs(t, filepath.Join(refDir, "models", name), tensor.BF16, nil)
			ids := toInts(ref["input_ids"])
			for _, compact := range []bool{false, true} {
				m, err := Open(dir, Options{Compact: compact})
				if err != nil {
					t.Fatal(err)
				}
				got, err := m.Logits(ids)
				if err != nil {
					t.Fatal(err)
				}
				e := relErr(got, ref["logits_bf16w"])
				t.Logf("%s bf16 (compact %v): logits relative error %.3g", name, compact, e)
				if e > tol {
					t.Errorf("compact %v: relative error %.3g > %g", compact, e, tol)
				}
			}
		})
	}
}

// v4Config rewrites a transformers-5 config.json (rope_parameters) into the
// transformers-4 form (rope_theta, rope_scaling with "type" or
// "rope_type", rope_local_base_freq for Gemma3).
func v4Config(m map[string]any, typeKey string) {
	rp, _ := m["rope_parameters"].(map[string]any)
	delete(m, "rope_parameters")
	if full, ok := rp["full_attention"].(map[string]any); ok {
		local := rp["sliding_attention"].(map[string]any)
		m["rope_local_base_freq"] = local["rope_theta"]
		rp = full
	}
	m["rope_theta"] = rp["rope_theta"]
	if rp["rope_type"] != "default" {
		sc := map[string]any{}
		for k, v := range rp {
			if k != "rope_theta" && k != "rope_type" {
				sc[k] = v
			}
		}
		sc[typeKey] = rp["rope_type"]
		m["rope_scaling"] = sc
	}
}

func TestTransformers4Config(t *testing.T) {
	for _, name := range families7 {
		for _, key := range []string{"type", "rope_type"} {
			t.Run(name+"/"+key, func(t *testing.T) {
				ref := refTensors(t, filepath.Join(refDir, name+".safetensors"))
				dir := copyAs(t, filepath.Join(refDir, "models", name), tensor.F32, func(m map[string]any) { v4Config(m, key) })
				m5, err := Open(filepath.Join(refDir, "models", name), Options{})
				if err != nil {
					t.Fatal(err)
				}
				m4, err := Open(dir, Options{})
				if err != nil {
					t.Fatal(err)
				}
				ids := toInts(ref["input_ids"])
				a, _ := m5.Logits(ids)
				b, _ := m4.Logits(ids)
				for i := range a {
					if a[i] != b[i] {
						t.Fatalf("logit %d: v5 config %v, v4 config %v", i, a[i], b[i])
					}
				}
			})
		}
	}
}

func TestReferenceGolden(t *testing.T) {
	for _, c := range []struct{ ref, dir string }{
		{"golden_models_base_f32", "../../testdata/golden/models/base_f32"},
		{"golden_models_ft1_bf16", "../../testdata/golden/models/ft1_bf16"},
		{"golden_ties_int8mask_lambda_f32", "../../testdata/golden/ties_int8mask_lambda_f32/output"},
	} {
		t.Run(c.ref, func(t *testing.T) {
			ref := refTensors(t, filepath.Join(refDir, c.ref+".safetensors"))
			for _, compact := range []bool{false, true} {
				m, err := Open(c.dir, Options{Compact: compact})
				if err != nil {
					t.Fatal(err)
				}
				got, err := m.Logits(toInts(ref["input_ids"]))
				if err != nil {
					t.Fatal(err)
				}
				e := relErr(got, ref["logits"])
				t.Logf("%s (compact %v): logits relative error %.3g", c.ref, compact, e)
				if e > tol {
					t.Errorf("relative error %.3g > %g", e, tol)
				}
			}
		})
	}
}

// TestFamiliesCacheAndBatch checks, for every family, that cached greedy
// generation past the sliding window picks the argmax of a full forward
// pass, and that a batch of sequences of different lengths gives each one
// the logits it gets alone.
func TestFamiliesCacheAndBatch(t *testing.T) {
	for _, name := range families7 {
		t.Run(name, func(t *testing.T) {
			ref := refTensors(t, filepath.Join(refDir, name+".safetensors"))
			ids := toInts(ref["input_ids"])
			m, err := Open(filepath.Join(refDir, "models", name), Options{Compact: name == "gemma2"})
			if err != nil {
				t.Fatal(err)
			}
			prompt := ids[:15]
			gen, err := m.Generate(prompt, 25)
			if err != nil {
				t.Fatal(err)
			}
			all := append(append([]int(nil), prompt...), gen...)
			logits, err := m.Logits(all[:len(all)-1])
			if err != nil {
				t.Fatal(err)
			}
			V := m.VocabSize()
			for i := len(prompt) - 1; i < len(all)-1; i++ {
				row := logits[i*V : (i+1)*V]
				best := 0
				for j, v := range row {
					if v > row[best] {
						best = j
					}
				}
				if best != all[i+1] && row[best]-row[all[i+1]] > 1e-5*max(1, abs32(row[best])) {
					t.Fatalf("position %d: cached generation chose %d, full forward %d", i, all[i+1], best)
				}
			}
			seqs := [][]int{ids, ids[:17], ids[5:30], ids[:1]}
			batch, err := m.LogitsBatch(seqs)
			if err != nil {
				t.Fatal(err)
			}
			for s, seq := range seqs {
				one, err := m.Logits(seq)
				if err != nil {
					t.Fatal(err)
				}
				if e := relErr(batch[s], one); e > 1e-6 {
					t.Errorf("sequence %d: batched logits differ by %.3g", s, e)
				}
			}
		})
	}
}
