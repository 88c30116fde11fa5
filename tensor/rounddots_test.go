package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// roundedDotsRef is RoundedDotsBF16's documented loop.
func roundedDotsRef(sums []float64, xs [][]float32, pairs [][2]int) {
	for p, pr := range pairs {
		a, b := xs[pr[0]], xs[pr[1]]
		for j := range a {
			sums[p] += float64(RoundBF16(a[j] * b[j]))
		}
	}
}

// allPairs returns the pairs i < k of m vectors in order, then every
// vector with itself.
func allPairs(m int) [][2]int {
	var pairs [][2]int
	for i := range m {
		for k := i + 1; k < m; k++ {
			pairs = append(pairs, [2]int{i, k})
		}
	}
	for i := range m {
		pairs = append(pairs, [2]int{i, i})
	}
	return pairs
}

// checkRoundedDots compares RoundedDotsBF16, with and without AVX2, with
// the reference bit for bit (a NaN may carry any payload), starting from
// non-zero sums.
func checkRoundedDots(t *testing.T, xs [][]float32, pairs [][2]int) {
	t.Helper()
	want := make([]float64, len(pairs))
	for p := range want {
		want[p] = float64(p) * 0.25
	}
	start := append([]float64(nil), want...)
	roundedDotsRef(want, xs, pairs)
	for _, avx := range []bool{false, true} {
		saved := useAVX2
		useAVX2 = useAVX2 && avx
		got := append([]float64(nil), start...)
		RoundedDotsBF16(got, xs, pairs)
		useAVX2 = saved
		for p := range got {
			nans := math.IsNaN(got[p]) && math.IsNaN(want[p])
			if math.Float64bits(got[p]) != math.Float64bits(want[p]) && !nans {
				t.Fatalf("n %d pairs %d avx %v: sum %d %v = %v, want %v", len(xs[0]), len(pairs), avx, p, pairs[p], got[p], want[p])
			}
		}
	}
}

// TestRoundedDotsBF16 checks every length up to 40 and lengths across the
// blocks, with 1 to 30 pairs (more than one group of chains), on noise of
// mixed magnitudes (whose float64 sums round, so that their order shows),
// products that round to even and special values.
func TestRoundedDotsBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	special := []uint32{0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffc00001,
		0x00000001, 0x80000001, 0x7f7fffff, 0xff7fffff, 0x3f808000, 0x3f818000}
	lengths := []int{255, 256, 257, 511, 600, 1031}
	for n := 0; n <= 40; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		for _, m := range []int{1, 2, 3, 5, 8} {
			for _, withSpecial := range []bool{false, true} {
				xs := make([][]float32, m)
				for i := range xs {
					xs[i] = make([]float32, n)
					for j := range xs[i] {
						switch k := r.IntN(64); {
						case withSpecial && k == 0:
							xs[i][j] = math.Float32frombits(special[r.IntN(len(special))])
						case k < 8:
							xs[i][j] = math.Float32frombits(0x3f800000 | uint32(r.IntN(1<<16))<<7)
						default:
							xs[i][j] = float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(60)-30)))
						}
					}
				}
				pairs := allPairs(m)
				checkRoundedDots(t, xs, pairs)
				if len(pairs) > 1 {
					checkRoundedDots(t, xs, pairs[:len(pairs)/2])
				}
			}
		}
	}
}

// TestRoundedDotsBF16Lengths checks that vectors of other lengths and a
// sum per pair are required.
func TestRoundedDotsBF16Lengths(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sums  int
		xs    [][]float32
		pairs [][2]int
	}{
		{"short vector", 1, [][]float32{make([]float32, 3), make([]float32, 2)}, [][2]int{{0, 1}}},
		{"sums", 2, [][]float32{make([]float32, 3)}, [][2]int{{0, 0}}},
		{"pair", 1, [][]float32{make([]float32, 3)}, [][2]int{{0, 1}}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			RoundedDotsBF16(make([]float64, tc.sums), tc.xs, tc.pairs)
		}()
	}
}

// FuzzRoundedDotsBF16MatchGeneric reads the input as float32s cut into
// up to five vectors (its first byte says how many) and checks the
// assembly of RoundedDotsBF16, every pair and square, against the Go
// reference.
func FuzzRoundedDotsBF16MatchGeneric(f *testing.F) {
	f.Add([]byte("\x03\x00\x00\x80\x7f\x01\x00\x80\x7f\x00\x80\x80\x3f\x00\x10\x80\x3f" + "0123456789abcdef0123456789abcdef0123456789abcdef"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !useAVX2 {
			t.Skip("no assembly kernels on this host")
		}
		if len(b) == 0 {
			return
		}
		m := int(b[0])%5 + 1
		b = b[1:]
		n := len(b) / 4 / m
		xs := make([][]float32, m)
		for i := range xs {
			xs[i] = make([]float32, n)
			for j := range xs[i] {
				o := 4 * (i*n + j)
				xs[i][j] = math.Float32frombits(uint32(b[o]) | uint32(b[o+1])<<8 | uint32(b[o+2])<<16 | uint32(b[o+3])<<24)
			}
		}
		pairs := allPairs(m)
		want := make([]float64, len(pairs))
		got := make([]float64, len(pairs))
		roundedDotsGeneric(want, xs, pairs)
		RoundedDotsBF16(got, xs, pairs)
		for p := range got {
			nans := math.IsNaN(got[p]) && math.IsNaN(want[p])
			if math.Float64bits(got[p]) != math.Float64bits(want[p]) && !nans {
				t.Fatalf("sum %d %v = %v, want %v", p, pairs[p], got[p], want[p])
			}
		}
	})
}

// BenchmarkRoundedDotsBF16 times model_stock's ten pairs of five task
// vectors over a 2048-element segment, all chains side by side and pair by
// pair (roundedDotsGeneric, model_stock's former loop).
func BenchmarkRoundedDotsBF16(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([][]float32, 5)
	for i := range xs {
		xs[i] = make([]float32, 2048)
		for j := range xs[i] {
			xs[i][j] = RoundBF16(float32(r.NormFloat64() * 1e-3))
		}
	}
	var pairs [][2]int
	for i := range xs {
		for k := i + 1; k < len(xs); k++ {
			pairs = append(pairs, [2]int{i, k})
		}
	}
	sums := make([]float64, len(pairs))
	b.Run("fused", func(b *testing.B) {
		b.SetBytes(int64(4 * len(xs) * len(xs[0])))
		for range b.N {
			RoundedDotsBF16(sums, xs, pairs)
		}
	})
	b.Run("pairwise", func(b *testing.B) {
		b.SetBytes(int64(4 * len(xs) * len(xs[0])))
		for range b.N {
			roundedDotsGeneric(sums, xs, pairs)
		}
	})
}
