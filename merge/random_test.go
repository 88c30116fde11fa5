package merge

import (
	"math"
	"slices"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

func TestRandomThreshold(t *testing.T) {
	tests := []struct {
		p    float32
		want uint64
	}{
		{0, 0}, {-0.5, 0}, {float32(math.NaN()), 0}, {1, 1 << 32}, {2, 1 << 32},
		{0.5, 1 << 31}, {0.25, 1 << 30},
	}
	for _, tc := range tests {
		if got := randomThreshold(tc.p); got != tc.want {
			t.Errorf("randomThreshold(%v) = %d, want %d", tc.p, got, tc.want)
		}
	}
}

func TestRandomProbability(t *testing.T) {
	if got := randomProbability(tensor.BF16, 0.66); got != 0.66015625 {
		t.Errorf("bf16 probability of 0.66 = %v, want 0.66015625 (mergekit's bf16 probability tensor)", got)
	}
	if got := randomProbability(tensor.F16, 0.66); got != float32(0.66) {
		t.Errorf("f16 probability of 0.66 = %v, want float32 (mergekit upcasts)", got)
	}
}

// TestRandomSourcePinned pins the stream of one (seed, model): a change
// here changes every random merge gomerge has produced.
func TestRandomSourcePinned(t *testing.T) {
	r := newRandomSource(42, "models/ft1")
	got := []uint32{r.uint32(), r.uint32(), r.uint32(), r.uint32()}
	want := []uint32{0x36cb56fd, 0x00a3c6e9, 0x586266b4, 0x33614f59} // SplitMix64 since 2026-11-27
	if !slices.Equal(got, want) {
		t.Errorf("stream of (42, models/ft1) = %#x, want %#x", got, want)
	}
}

func TestRandomSourceStreams(t *testing.T) {
	draw := func(seed uint64, model string) []uint32 {
		r := newRandomSource(seed, model)
		out := make([]uint32, 16)
		for i := range out {
			out[i] = r.uint32()
		}
		return out
	}
	if !slices.Equal(draw(1, "a"), draw(1, "a")) {
		t.Error("same seed and model give different streams")
	}
	if slices.Equal(draw(1, "a"), draw(1, "b")) {
		t.Error("two models share a stream")
	}
	if slices.Equal(draw(1, "a"), draw(2, "a")) {
		t.Error("two seeds share a stream")
	}
}

func TestRandomBernoulliRate(t *testing.T) {
	const n = 1 << 20
	for _, p := range []float32{0, 0.1, 0.5, 0.9, 1} {
		x := make([]float32, n)
		for i := range x {
			x[i] = 1
		}
		kept := newRandomSource(7, "m").bernoulli(x, randomThreshold(p))
		nonzero := 0
		for _, v := range x {
			if v != 0 {
				nonzero++
			}
		}
		if nonzero != kept {
			t.Fatalf("p=%v: reported %d kept, %d non-zero", p, kept, nonzero)
		}
		sd := math.Sqrt(float64(p) * float64(1-p) / n)
		if got := float64(kept) / n; math.Abs(got-float64(p)) > 5*sd+1e-9 {
			t.Errorf("p=%v: kept fraction %v, more than 5σ off", p, got)
		}
	}
}

func TestRandomSample(t *testing.T) {
	r := newRandomSource(3, "m")
	for _, tc := range []struct{ n, k uint64 }{{10, 10}, {10, 3}, {1000, 999}, {5, 9}, {1 << 40, 1000}} {
		s := r.sample(tc.n, tc.k)
		if want := min(tc.n, tc.k); uint64(len(s)) != want {
			t.Fatalf("sample(%d, %d) has %d values, want %d", tc.n, tc.k, len(s), want)
		}
		seen := map[uint64]bool{}
		for _, v := range s {
			if v >= tc.n || seen[v] {
				t.Fatalf("sample(%d, %d): %d out of range or repeated", tc.n, tc.k, v)
			}
			seen[v] = true
		}
	}
	// Every index is equally likely: 3 of 4, 40000 times.
	counts := make([]int, 4)
	for range 40000 {
		for _, v := range r.sample(4, 3) {
			counts[v]++
		}
	}
	for i, c := range counts {
		if math.Abs(float64(c)-30000) > 500 {
			t.Errorf("index %d drawn %d times, want about 30000", i, c)
		}
	}
}

// TestBernoulliStream checks that the two-per-draw, branch-free Bernoulli
// consumes the stream exactly as one uint32 per element, across calls
// that leave half a draw over.
func TestBernoulliStream(t *testing.T) {
	bound := randomThreshold(0.3)
	fast, slow := newRandomSource(7, "m"), newRandomSource(7, "m")
	for _, n := range []int{0, 1, 2, 3, 5, 8, 1, 1, 13, 64, 7} {
		x := make([]float32, n)
		y := make([]float32, n)
		for j := range x {
			x[j], y[j] = float32(j+1), float32(j+1)
		}
		kept := fast.bernoulli(x, bound)
		want := 0
		for j := range y {
			if uint64(slow.uint32()) < bound {
				want++
			} else {
				y[j] = 0
			}
		}
		if kept != want || !slices.Equal(x, y) {
			t.Fatalf("n=%d: kept %d %v, want %d %v", n, kept, x, want, y)
		}
	}
}

// TestSplitMix64 checks the generator against SplitMix64's published
// first outputs for state 0 (Vigna's splitmix64.c).
func TestSplitMix64(t *testing.T) {
	r := &randomSource{}
	for i, want := range []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f, 0xf88bb8a8724c81ec} {
		if got := r.Uint64(); got != want {
			t.Errorf("draw %d: %#x, want %#x", i, got, want)
		}
	}
}

func TestRandomSkip(t *testing.T) {
	// Skipping draws of the 32-bit stream, odd counts included.
	for _, n := range []uint64{0, 1, 2, 5, 1001} {
		seq := newRandomSource(9, "m")
		for range n {
			seq.uint32()
		}
		jump := newRandomSource(9, "m")
		jump.skip(n)
		for i := range 5 {
			if a, b := jump.uint32(), seq.uint32(); a != b {
				t.Fatalf("skip(%d) draw %d: %#x, want %#x", n, i, a, b)
			}
		}
	}
}

// TestFillMatchesUint32 checks that fill gives the draws of as many
// uint32 calls, from an even and an odd position in the stream, for
// lengths around the kernel's batch, into an 8-byte aligned buffer (the
// draws written as words) and a misaligned one (copied).
func TestFillMatchesUint32(t *testing.T) {
	for _, start := range []uint64{0, 1, 1001} {
		for _, n := range []int{0, 1, 2, 3, 1023, 1024, 1025, 3001} {
			for _, off := range []int{0, 1} {
				a, b := newRandomSource(7, "m"), newRandomSource(7, "m")
				a.skip(start)
				b.skip(start)
				got := make([]uint32, n+off)[off:] // allocations of 4 KiB and more are 8-byte aligned
				a.fill(got)
				for j := range got {
					if want := b.uint32(); got[j] != want {
						t.Fatalf("start %d, n %d, off %d: draw %d = %#x, want %#x", start, n, off, j, got[j], want)
					}
				}
				if x, y := a.uint32(), b.uint32(); x != y {
					t.Fatalf("start %d, n %d, off %d: the stream goes on at %#x, want %#x", start, n, off, x, y)
				}
			}
		}
	}
}
