package merge

import (
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

// BenchmarkGTAPiece times what TIES and task arithmetic do to one streamed
// piece after pruning: the weighted task vectors, the sign consensus (or
// the weighted sum), lambda and the base, for two models in bfloat16.
func BenchmarkGTAPiece(b *testing.B) {
	n := int(chunkElements)
	src := newRandomSource(1, "bench")
	vals := func(scale float32) []float32 {
		x := make([]float32, n)
		for j := range x {
			x[j] = tensor.RoundScalar(tensor.BF16, scale*float32(int32(src.uint32()))/(1<<31))
		}
		return x
	}
	base, d1, d2 := vals(1), vals(0.01), vals(0.01)
	for _, c := range []struct {
		name      string
		method    *Method
		consensus bool
	}{{"ties", TIES, true}, {"task_arithmetic", TaskArithmetic, false}} {
		b.Run(c.name, func(b *testing.B) {
			merge := gta(sparsifyMagnitude, c.consensus)
			out := make([]float32, n)
			x1, x2 := make([]float32, n), make([]float32, n)
			t := &Tensors{Name: "x", Shape: []int64{int64(n)}, Base: 0, Work: tensor.BF16, Pieces: 1, Workers: 1,
				Global: map[string]float64{"normalize": 1, "lambda": 1, "rescale": 0},
				Inputs: []Input{{Model: "base", Data: base},
					{Model: "a", Data: x1, Params: map[string]float64{"weight": 0.6, "density": 1}},
					{Model: "b", Data: x2, Params: map[string]float64{"weight": 0.4, "density": 1}}},
				outRounds: true}
			b.SetBytes(int64(4 * n * 3))
			for b.Loop() {
				copy(x1, d1)
				copy(x2, d2)
				if err := merge(t, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
