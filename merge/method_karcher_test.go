package merge

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

func TestKarcher(t *testing.T) {
	const h = math.Sqrt2 / 2
	none := func(n int) []map[string]float64 { return make([]map[string]float64, n) }
	tests := []struct {
		name string
		data [][]float32
		want []float32
	}{
		{"one input", [][]float32{{3, 4}}, []float32{3, 4}},
		{"orthogonal", [][]float32{{1, 0}, {0, 1}}, []float32{h, h}},
		{"scaled by the mean norm", [][]float32{{2, 0}, {0, 4}}, []float32{3 * h, 3 * h}},
		{"identical", [][]float32{{1, 2}, {1, 2}, {1, 2}}, []float32{1, 2}},
		// The zero input is no direction but counts in the mean norm.
		{"zero input", [][]float32{{1, 0}, {0, 0}}, []float32{0.5, 0}},
		{"all zero", [][]float32{{0, 0}, {0, 0}}, []float32{0, 0}},
		// Three directions at 0°, 90°, 45°: the mean is 45°.
		{"three", [][]float32{{1, 0}, {0, 1}, {h, h}}, []float32{h, h}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := runMethod(t, Karcher, &Tensors{Work: tensor.F32, Base: -1, Inputs: inputs(none(len(tc.data)), tc.data...)})
			if !near(got, tc.want, 1e-6) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	// Unequal angles: the Karcher mean of 0° and 60° with a third at 0°
	// lies at 20° (the mean of the angles), not at the chordal mean.
	got := runMethod(t, Karcher, &Tensors{Work: tensor.F32, Base: -1, Inputs: inputs(none(3),
		[]float32{1, 0}, []float32{0.5, float32(math.Sqrt(3) / 2)}, []float32{1, 0})})
	if angle := math.Atan2(float64(got[1]), float64(got[0])) * 180 / math.Pi; math.Abs(angle-20) > 1e-3 {
		t.Errorf("mean at %.5f°, want 20°", angle)
	}
}

// startedCtx tells when a method first asks for its Done channel, which
// karcher does just before its iterations start.
type startedCtx struct {
	context.Context
	once    sync.Once
	started chan struct{}
}

func (c *startedCtx) Done() <-chan struct{} {
	c.once.Do(func() { close(c.started) })
	return c.Context.Done()
}

// TestKarcherCancel: max_iter comes from the config, and with tol 0 the
// iterations never converge: only the context ends them. A hang is the
// failure.
func TestKarcherCancel(t *testing.T) {
	data := [][]float32{{1, 0, 0}, {0, 1, 0}, {0, 0.5, 1}}
	newTensors := func(ctx context.Context) *Tensors {
		return &Tensors{ctx: ctx, Shape: []int64{3}, Work: tensor.F32, Base: -1, Inputs: inputs(make([]map[string]float64, 3), data...),
			Global: map[string]float64{"max_iter": 1e9, "tol": 0}}
	}
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := Karcher.Merge(newTensors(ctx), make([]float32, 3)); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want %v", err, context.Canceled)
		}
	})
	t.Run("cancelled while iterating", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		defer cancel()
		ctx := &startedCtx{Context: parent, started: make(chan struct{})}
		go func() {
			<-ctx.started
			cancel()
		}()
		if err := Karcher.Merge(newTensors(ctx), make([]float32, 3)); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want %v", err, context.Canceled)
		}
	})
}
