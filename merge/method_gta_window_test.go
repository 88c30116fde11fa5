package merge

import (
	"math"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

// TestMagnitudeWindow runs the sampled window on bfloat16 Gaussian task
// vectors: one pass must decide, with the threshold and ties of an exact
// radix selection.
func TestMagnitudeWindow(t *testing.T) {
	const n = 1 << 20
	r := newRandomSource(7, "window")
	d := make([]float32, n)
	for j := range d {
		// Box-Muller from two uniform draws.
		u1 := (float64(r.uint32()) + 1) / (1 << 32)
		u2 := float64(r.uint32()) / (1 << 32)
		d[j] = tensor.RoundScalar(tensor.BF16, float32(0.002*math.Sqrt(-2*math.Log(u1))*math.Cos(2*math.Pi*u2)))
	}
	for _, density := range []float64{0.1, 0.5, 0.9} {
		// The executor's sample: runs of consecutive elements.
		count, step, run := sampleRuns(n)
		var sample []float32
		for r := range count {
			sample = append(sample, d[r*step:r*step+run]...)
		}
		ts := &Tensors{Name: "w", Shape: []int64{n}, Base: 0, Work: tensor.BF16, Workers: 1, Pieces: 1, Sample: int(n / len(sample)),
			Global: map[string]float64{"rescale": 0},
			Inputs: []Input{{Model: "base"}, {Model: "ft", Params: map[string]float64{"density": density}, Data: sample}}}
		an, err := analyzeMagnitude(ts)
		if err != nil {
			t.Fatal(err)
		}
		ts.Inputs[1].Data = d
		if err := an.Piece(ts); err != nil {
			t.Fatal(err)
		}
		more, err := an.EndPass(0)
		if err != nil {
			t.Fatal(err)
		}
		if more {
			t.Errorf("density %g: the sample's window missed the threshold", density)
			continue
		}
		m := an.(*magnitudeState).models[1]
		thr, ties := topKThreshold(d, int(density*n))
		if m.thr != thr || m.ties != ties {
			t.Errorf("density %g: threshold %#x, ties %d; radix selection gives %#x, %d", density, m.thr, m.ties, thr, ties)
		}
	}
}
