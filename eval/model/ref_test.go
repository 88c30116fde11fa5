package model

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"

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
			var hidden [][]float32
			segs := []seg{{ids: ids, c: m.newCache()}}
			m.forward(segs, func(h []float32) { hidden = append(hidden, append([]float32(nil), h...)) })
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
