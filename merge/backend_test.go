package merge

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

// countingBackend runs tensor.CPU's operations behind another Backend
// value, so that the merge takes its accelerator paths (DARE masks by
// stream position instead of randomSource.bernoulli), and counts the calls.
type countingBackend struct {
	mu    sync.Mutex
	calls map[string]int
}

func (b *countingBackend) count(op string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.calls == nil {
		b.calls = map[string]int{}
	}
	b.calls[op]++
}

func (b *countingBackend) Name() string { return "counting" }
func (b *countingBackend) WeightedSum(work tensor.DType, out []float32, xs [][]float32, ws []float32, normalize bool, div float32) error {
	b.count("WeightedSum")
	return tensor.CPU.WeightedSum(work, out, xs, ws, normalize, div)
}
func (b *countingBackend) SignConsensus(work tensor.DType, out []float32, ds [][]float32, ws []float32, normalize bool) error {
	b.count("SignConsensus")
	return tensor.CPU.SignConsensus(work, out, ds, ws, normalize)
}
func (b *countingBackend) ScaleRound(work tensor.DType, x []float32, a float32) error {
	b.count("ScaleRound")
	return tensor.CPU.ScaleRound(work, x, a)
}
func (b *countingBackend) SubRound(work tensor.DType, dst, x, y []float32) error {
	b.count("SubRound")
	return tensor.CPU.SubRound(work, dst, x, y)
}
func (b *countingBackend) Bernoulli(x []float32, key, first, bound uint64) (int, error) {
	b.count("Bernoulli")
	return tensor.CPU.Bernoulli(x, key, first, bound)
}
func (b *countingBackend) PruneMagnitude(x []float32, thr uint32, ties int) (int, error) {
	b.count("PruneMagnitude")
	return tensor.CPU.PruneMagnitude(x, thr, ties)
}

// TestBackendSameBytes merges every golden config through a Backend other
// than tensor.CPU and checks that the output files are the CPU's, byte for
// byte, and that the task-vector methods hand their arithmetic to it.
func TestBackendSameBytes(t *testing.T) {
	want := map[string][]string{
		"linear":          {"WeightedSum"},
		"task_arithmetic": {"WeightedSum"},
		"ties":            {"SignConsensus", "PruneMagnitude"},
		"dare_ties":       {"SignConsensus", "Bernoulli"},
		"dare_linear":     {"WeightedSum", "Bernoulli"},
	}
	for _, c := range loadGoldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			if _, ok := LookupMethod(c.Method); !ok {
				t.Skipf("method %s not implemented", c.Method)
			}
			cfg, err := LoadConfig(filepath.Join(goldenDir, c.Config))
			if err != nil {
				t.Fatal(err)
			}
			be := &countingBackend{}
			var outs [2]string
			for k, backend := range []tensor.Backend{nil, be} {
				opt := Options{PlanOptions: PlanOptions{Dir: goldenDir}, Seed: new(uint64(42)), Threads: 2, ShardSize: 5e9, Backend: backend}
				outs[k] = filepath.Join(t.TempDir(), "out")
				if _, err := Run(context.Background(), cfg, outs[k], opt); err != nil {
					t.Fatal(err)
				}
			}
			sameFiles(t, outs[0], outs[1])
			for _, op := range want[c.Method] {
				if be.calls[op] == 0 {
					t.Errorf("%s made no %s call (calls: %v)", c.Method, op, be.calls)
				}
			}
		})
	}
}

// sameFiles fails unless directories a and b hold the same files with the
// same bytes, the output marker aside (it holds the time it was written).
func sameFiles(t *testing.T, a, b string) {
	t.Helper()
	names := func(dir string) []string {
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, e := range es {
			n = append(n, e.Name())
		}
		return n
	}
	na, nb := names(a), names(b)
	if !slices.Equal(na, nb) {
		t.Fatalf("files differ: %v vs %v", na, nb)
	}
	for _, n := range na {
		if n == ".gomerge-output.json" {
			continue
		}
		x, err := os.ReadFile(filepath.Join(a, n))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between the CPU and the other backend", n)
		}
	}
}

// TestBernoulliOn checks that a mask drawn by stream position, at every
// stream state a piece can start from, equals randomSource.bernoulli's and
// leaves the stream where bernoulli leaves it.
func TestBernoulliOn(t *testing.T) {
	be := &countingBackend{}
	for _, skip := range []uint64{0, 1, 2, 7, 1000, 1001, 4097} {
		for _, n := range []int{0, 1, 2, 3, 31, 1024, 2049, 5000} {
			x := make([]float32, n)
			for i := range x {
				x[i] = float32(i + 1)
			}
			y := slices.Clone(x)
			a, b := newRandomSource(9, "m"), newRandomSource(9, "m")
			a.skip(skip)
			b.skip(skip)
			bound := randomThreshold(0.3)
			ka := a.bernoulli(x, bound)
			kb, err := b.bernoulliOn(be, y, bound)
			if err != nil {
				t.Fatal(err)
			}
			if ka != kb || !slices.Equal(x, y) {
				t.Fatalf("skip %d n %d: kept %d vs %d, masks equal %v", skip, n, ka, kb, slices.Equal(x, y))
			}
			// the streams continue alike
			for range 3 {
				if u, v := a.uint32(), b.uint32(); u != v {
					t.Fatalf("skip %d n %d: next draw %#x vs %#x", skip, n, u, v)
				}
			}
		}
	}
}
