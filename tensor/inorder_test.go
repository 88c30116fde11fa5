package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// sameFloat64 reports whether a and b have the same bits or are both NaN
// (a NaN may carry any payload).
func sameFloat64(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b)
}

// withoutAVX512 runs f with the assembly kernels switched off, on the
// references.
func withoutAVX512(f func()) {
	saved := useAVX512
	useAVX512 = false
	defer func() { useAVX512 = saved }()
	f()
}

// inOrderVector returns n float32s of the given kind: bfloat16 values of
// one scale (whose sums the lanes can prove exact), float32 noise over 60
// binades (whose sums round), or either with specials and zeros.
func inOrderVector(r *rand.Rand, n int, kind string) []float32 {
	special := []uint32{0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffc00001,
		0x00000001, 0x80000001, 0x00010000, 0x7f7fffff, 0xff7f0000}
	x := make([]float32, n)
	for j := range x {
		switch kind {
		case "bf16":
			x[j] = RoundBF16(float32(r.NormFloat64() * 1e-3))
		case "bf16 zeros":
			if r.IntN(3) == 0 {
				x[j] = RoundBF16(float32(r.NormFloat64()))
			}
		case "bf16 tiny":
			x[j] = RoundBF16(float32(r.NormFloat64()))
			if r.IntN(200) == 0 {
				x[j] = RoundBF16(float32(r.NormFloat64() * 1e-20))
			}
		case "noise":
			x[j] = float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(60)-30)))
		case "special":
			x[j] = RoundBF16(float32(r.NormFloat64()))
			if r.IntN(100) == 0 {
				x[j] = math.Float32frombits(special[r.IntN(len(special))])
			}
		}
	}
	return x
}

// TestSumInOrder compares SumInOrder with its loop bit for bit, from
// starts that let the lanes prove their sums exact and starts that do
// not (a sum whose last bit is below the values', −0, infinities), over
// lengths across the vectors and blocks.
func TestSumInOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	starts := []float64{0, math.Copysign(0, -1), 1, -3.5, 1e-300, 0x1p52 + 1, 1.0000000000000002, 12345.678,
		math.Inf(1), math.NaN(), 0x1.fffffffffffffp1023}
	lengths := []int{0, 1, 15, 16, 17, 31, 33, 100, 1023, 1024, 1025, 4100}
	for _, kind := range []string{"bf16", "bf16 zeros", "bf16 tiny", "noise", "special"} {
		for _, n := range lengths {
			x := inOrderVector(r, n, kind)
			for _, s := range starts {
				want := sumInOrderGeneric(s, x)
				if got := SumInOrder(s, x); !sameFloat64(got, want) {
					t.Fatalf("%s n %d start %v: %v (%#x), want %v (%#x)", kind, n, s, got, math.Float64bits(got), want, math.Float64bits(want))
				}
				withoutAVX512(func() {
					if got := SumInOrder(s, x); !sameFloat64(got, want) {
						t.Fatalf("reference %s n %d start %v: %v, want %v", kind, n, s, got, want)
					}
				})
			}
		}
	}
}

// TestExactFrom checks the proof on chains it must reject (one addition
// rounds) and accept.
func TestExactFrom(t *testing.T) {
	f := float32frombitsList
	for _, tc := range []struct {
		name string
		s    float64
		x    []float32
		want bool
	}{
		{"empty", 1, nil, true},
		{"zeros", 0, []float32{0, 0}, true},
		{"minus zero start", math.Copysign(0, -1), []float32{0}, false},
		{"small values", 0, []float32{1, 2, 3, 0.5}, true},
		{"value below the sum's last bit", 1, []float32{0x1p-60}, false},
		{"value at the sum's last bit", 1, []float32{0x1p-52}, true},
		{"bfloat16 significand below the last bit", 0x1p46, []float32{1 + 0x1p-7}, false},
		{"carry out of the binade", 0x1.fffffffffffffp0, []float32{0x1p-52}, false},
		{"float32 significand below the last bit", 0x1p30, []float32{1 + 0x1p-23}, false},
		{"bfloat16 significand at the last bit", 0x1p45, []float32{1 + 0x1p-7}, true},
		{"sum past 2^53 of its last bit", 0, []float32{0x1p60, 1}, false},
		{"subnormal values", 0, f(0x00000001, 0x00000003), true},
		{"infinity", 0, []float32{float32(math.Inf(1))}, false},
		{"NaN", 0, f(0x7fc00000), false},
		{"infinite start", math.Inf(-1), []float32{1}, false},
	} {
		c := lanesSumGeneric(tc.x)
		if got := c.exactFrom(tc.s, len(tc.x)); got != tc.want {
			t.Errorf("%s: exactFrom = %v, want %v", tc.name, got, tc.want)
		}
		if got := lanesSumOf(tc.x); got.exactFrom(tc.s, len(tc.x)) != tc.want {
			t.Errorf("%s: lanesSumOf's exactFrom = %v, want %v", tc.name, !tc.want, tc.want)
		}
	}
}

func float32frombitsList(b ...uint32) []float32 {
	x := make([]float32, len(b))
	for i, v := range b {
		x[i] = math.Float32frombits(v)
	}
	return x
}

// TestLanesSumAVX512 compares the assembly's summaries with the Go
// reference's (the sums where the proof holds, as their order differs).
func TestLanesSumAVX512(t *testing.T) {
	if !useAVX512 {
		t.Skip("no AVX-512 on this host")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, kind := range []string{"bf16", "bf16 zeros", "bf16 tiny", "noise", "special"} {
		for _, n := range []int{0, 16, 17, 48, 1024} {
			x, y := inOrderVector(r, n, kind), inOrderVector(r, n, kind)
			for _, c := range []struct{ got, want lanesSum }{
				{lanesSumOf(x), lanesSumGeneric(x)},
				{roundedDotLanesOf(x, y), roundedDotLanesGeneric(x, y)},
			} {
				g, w := c.got, c.want
				if g.maxAbs != w.maxAbs || g.minAbs1 != w.minAbs1 || g.or != w.or {
					t.Fatalf("%s n %d: summary %+v, want %+v", kind, n, g, w)
				}
				if w.exactFrom(0, n) && !sameFloat64(g.sum, w.sum) {
					t.Fatalf("%s n %d: exact sum %v, want %v", kind, n, g.sum, w.sum)
				}
			}
		}
	}
}

// checkRoundedDotsExact compares RoundedDotsBF16Exact, with and without
// the assembly, with RoundedDotsBF16's reference bit for bit.
func checkRoundedDotsExact(t *testing.T, xs [][]float32, pairs [][2]int, start float64) {
	t.Helper()
	want := make([]float64, len(pairs))
	for p := range want {
		want[p] = start * float64(p+1)
	}
	init := append([]float64(nil), want...)
	roundedDotsRef(want, xs, pairs)
	for _, asm := range []bool{true, false} {
		got := append([]float64(nil), init...)
		if asm {
			RoundedDotsBF16Exact(got, xs, pairs)
		} else {
			withoutAVX512(func() { RoundedDotsBF16Exact(got, xs, pairs) })
		}
		for p := range got {
			if !sameFloat64(got[p], want[p]) {
				t.Fatalf("n %d asm %v start %v: sum %d %v = %v, want %v", len(xs[0]), asm, start, p, pairs[p], got[p], want[p])
			}
		}
	}
}

// TestRoundedDotsBF16Exact checks RoundedDotsBF16Exact on the kinds of
// vectors of TestSumInOrder, one to five of them, all pairs and squares.
func TestRoundedDotsBF16Exact(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, kind := range []string{"bf16", "bf16 zeros", "bf16 tiny", "noise", "special"} {
		for _, n := range []int{0, 1, 17, 1024, 1041, 3000} {
			for _, m := range []int{1, 2, 5} {
				xs := make([][]float32, m)
				for i := range xs {
					xs[i] = inOrderVector(r, n, kind)
				}
				for _, start := range []float64{0, 0.25, 1e6} {
					checkRoundedDotsExact(t, xs, allPairs(m), start)
				}
			}
		}
	}
}

// FuzzInOrderSumsMatchSequential reads the input as a start (8 bytes) and
// float32s, cut into one to four vectors (the next byte says how many),
// and checks SumInOrder over all of them and RoundedDotsBF16Exact over
// every pair against their sequential loops.
func FuzzInOrderSumsMatchSequential(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\xf0\x3f\x02\x00\x00\x80\x7f\x01\x00\x80\x7f\x00\x80\x80\x3f\x00\x10\x80\x3f" + "0123456789abcdef0123456789abcdef"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 9 {
			return
		}
		var bits uint64
		for i := range 8 {
			bits |= uint64(b[i]) << (8 * i)
		}
		s := math.Float64frombits(bits)
		m := int(b[8])%4 + 1
		b = b[9:]
		all := make([]float32, len(b)/4)
		for j := range all {
			all[j] = math.Float32frombits(uint32(b[4*j]) | uint32(b[4*j+1])<<8 | uint32(b[4*j+2])<<16 | uint32(b[4*j+3])<<24)
		}
		if got, want := SumInOrder(s, all), sumInOrderGeneric(s, all); !sameFloat64(got, want) {
			t.Fatalf("SumInOrder(%v, %d values) = %v, want %v", s, len(all), got, want)
		}
		n := len(all) / m
		xs := make([][]float32, m)
		for i := range xs {
			xs[i] = all[i*n : (i+1)*n]
		}
		pairs := allPairs(m)
		got, want := make([]float64, len(pairs)), make([]float64, len(pairs))
		for p := range got {
			got[p], want[p] = s, s
		}
		RoundedDotsBF16Exact(got, xs, pairs)
		roundedDotsRef(want, xs, pairs)
		for p := range got {
			if !sameFloat64(got[p], want[p]) {
				t.Fatalf("pair %v: %v, want %v", pairs[p], got[p], want[p])
			}
		}
	})
}

// BenchmarkInOrderSums times model_stock's ten pairs of five bfloat16 task
// vectors over a 2048-element segment (RoundedDotsBF16Exact against
// RoundedDotsBF16's chains) and nuslerp's sum of 2048 terms (SumInOrder
// against its loop). 2026-12-07, loaded 2-core EPYC VM: dots 17.7-24.7 →
// 4.1-9.1 µs, sum 1.6-1.8 → 0.24-0.25 µs.
func BenchmarkInOrderSums(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([][]float32, 5)
	for i := range xs {
		xs[i] = inOrderVector(r, 2048, "bf16")
	}
	var pairs [][2]int
	for i := range xs {
		for k := i + 1; k < len(xs); k++ {
			pairs = append(pairs, [2]int{i, k})
		}
	}
	sums := make([]float64, len(pairs))
	b.Run("dots-exact", func(b *testing.B) {
		b.SetBytes(int64(4 * len(xs) * len(xs[0])))
		for range b.N {
			RoundedDotsBF16Exact(sums, xs, pairs)
		}
	})
	b.Run("dots-chains", func(b *testing.B) {
		b.SetBytes(int64(4 * len(xs) * len(xs[0])))
		for range b.N {
			RoundedDotsBF16(sums, xs, pairs)
		}
	})
	b.Run("sum-exact", func(b *testing.B) {
		b.SetBytes(4 * 2048)
		s := 0.0
		for range b.N {
			s = SumInOrder(s, xs[0])
		}
	})
	b.Run("sum-loop", func(b *testing.B) {
		b.SetBytes(4 * 2048)
		s := 0.0
		for range b.N {
			s = sumInOrderGeneric(s, xs[0])
		}
	})
}
