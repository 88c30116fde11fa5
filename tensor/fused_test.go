package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Tests for the fused kernels (SubRound, ScaleRound, AxpyRound,
// DivScalarRound, DivNonZeroRound) and the magnitude kernels
// (PruneMagnitude, CountMagnitude, MagnitudeHistogram): the exported
// functions against the compositions they replace, and the assembly
// against the Go references.

// arithDTypes are the working dtypes the fused kernels are tried with.
var arithDTypes = []DType{BF16, F16, F32, F64, I8, U8, I16, U16, I32, U32, I64, U64, Bool}

// nanPair allows a difference at i where both results are NaNs and at least
// two of the operands at i are NaNs, or one of the results is x86's default
// NaN made by an invalid operation (Inf*0, Inf-Inf) that met a NaN operand:
// which NaN an operation on two of them returns is the compiler's choice
// (see compareArith). An operand of length 1 stands for a scalar.
func nanPair(operands ...[]float32) func(i int, got, want uint32) bool {
	return func(i int, g, w uint32) bool {
		if !isNaN32(math.Float32frombits(g)) || !isNaN32(math.Float32frombits(w)) {
			return false
		}
		if g == 0xffc00000 || w == 0xffc00000 {
			return true
		}
		n := 0
		for _, op := range operands {
			if isNaN32(op[min(i, len(op)-1)]) {
				n++
			}
		}
		return n >= 2
	}
}

// fusedCase is one fused kernel: run is the fused call, ref the unfused
// chain it replaces, both on dst; operands lists what nanPair looks at.
type fusedCase struct {
	name     string
	run, ref func(dst []float32)
	operands [][]float32
}

func fusedCases(work DType, d, x, y []float32, a float32) []fusedCase {
	as := []float32{a}
	return []fusedCase{
		{"SubRound", func(d []float32) { SubRound(work, d, x, y) },
			func(d []float32) { Sub(d, x, y); Round(work, d) }, [][]float32{x, y}},
		{"SubRound aliasing a", func(d []float32) { SubRound(work, d, d, y) },
			func(d []float32) { Sub(d, d, y); Round(work, d) }, [][]float32{d, y}},
		{"SubRound aliasing b", func(d []float32) { SubRound(work, d, x, d) },
			func(d []float32) { Sub(d, x, d); Round(work, d) }, [][]float32{x, d}},
		{"ScaleRound", func(d []float32) { ScaleRound(work, d, a) },
			func(d []float32) { Scale(d, a); Round(work, d) }, [][]float32{d, as}},
		{"AxpyRound", func(d []float32) { AxpyRound(work, d, a, x) },
			func(d []float32) {
				for j := range d {
					d[j] += RoundScalar(work, float32(a*x[j]))
				}
			}, [][]float32{d, x, as}},
		{"DivScalarRound", func(d []float32) { DivScalarRound(work, d, a) },
			func(d []float32) { DivScalar(d, a); Round(work, d) }, [][]float32{d, as}},
		{"DivNonZeroRound", func(d []float32) { DivNonZeroRound(work, d, y) },
			func(d []float32) { DivNonZero(d, y); Round(work, d) }, [][]float32{d, y}},
		{"DivMulRound", func(d []float32) { DivMulRound(work, d, x, y, a, 1.5) },
			func(d []float32) {
				for j := range d {
					d[j] = RoundScalar(work, RoundScalar(work, x[j]/a)*RoundScalar(work, y[j]/1.5))
				}
			}, [][]float32{x, y, as}},
		{"CombineDivRound", func(d []float32) { CombineDivRound(work, d, x, y, nil, a, -0.75, 1.25) },
			func(d []float32) {
				for j := range d {
					d[j] = RoundScalar(work, RoundScalar(work, RoundScalar(work, a*x[j])+RoundScalar(work, -0.75*y[j]))/1.25)
				}
			}, [][]float32{x, y, as}},
		{"DivMulRoundVec", func(d []float32) { DivMulRoundVec(work, d, x, y, y, x) },
			func(d []float32) {
				for j := range d {
					d[j] = RoundScalar(work, RoundScalar(work, x[j]/y[j])*RoundScalar(work, y[j]/x[j]))
				}
			}, [][]float32{x, y}},
		{"CombineDivRoundVec", func(d []float32) { CombineDivRoundVec(work, d, x, y, y, d, x) },
			func(d []float32) {
				for j := range d {
					d[j] = RoundScalar(work, RoundScalar(work, RoundScalar(work, y[j]*x[j])+RoundScalar(work, d[j]*y[j]))/x[j])
				}
			}, [][]float32{d, x, y}},
		{"CombineDivRound with base", func(d []float32) { CombineDivRound(work, d, x, y, d, 0.5, a, 0.75) },
			func(d []float32) {
				for j := range d {
					v := RoundScalar(work, RoundScalar(work, RoundScalar(work, 0.5*x[j])+RoundScalar(work, a*y[j]))/0.75)
					d[j] = RoundScalar(work, v+d[j])
				}
			}, [][]float32{d, x, y, as}},
	}
}

// TestFusedKernelsMatchComposition holds every fused kernel to the chain
// of kernels it replaces, for every arithmetic working dtype, with the
// assembly off and on.
func TestFusedKernelsMatchComposition(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(71, 72))
		for _, n := range []int{0, 1, 7, 8, 9, 16, 17, 33, 40, 129} {
			d, x, y := kernelFloats(r, n), kernelFloats(r, n), kernelFloats(r, n)
			for _, work := range arithDTypes {
				for _, a := range scalars {
					for _, c := range fusedCases(work, d, x, y, a) {
						name := fmt.Sprintf("%s(%v, a=%#x)", c.name, work, math.Float32bits(a))
						compareWith(t, name, d, guardVal, c.run, c.ref, nanPair(c.operands...))
					}
				}
			}
		}
	})
}

// TestFusedKernelsMatchGeneric compares the AVX2 bodies of the fused
// kernels with their Go references at every length up to 70 and some
// longer ones, at every offset, special values included.
func TestFusedKernelsMatchGeneric(t *testing.T) {
	withAsm(t)
	r := rand.New(rand.NewPCG(73, 74))
	for _, n := range asmLengths {
		d := kernelFloats(r, n)
		x := shifted(kernelFloats(r, n), n%8)
		y := shifted(kernelFloats(r, n), (n+5)%8)
		for i := range y { // zero divisors of both signs
			if r.IntN(8) == 0 {
				y[i] = float32(math.Copysign(0, float64(r.IntN(2)*2-1)))
			}
		}
		for _, a := range scalars {
			as := []float32{a}
			for _, c := range []struct {
				name      string
				got, want func(d []float32)
				ops       [][]float32
			}{
				{"subRoundBF16", func(d []float32) { subRoundBF16(d, x, y) }, func(d []float32) { subRoundBF16Generic(d, x, y) }, [][]float32{x, y}},
				{"subRoundF16", func(d []float32) { subRoundF16(d, x, y) }, func(d []float32) { subRoundF16Generic(d, x, y) }, [][]float32{x, y}},
				{"subRoundBF16 aliasing", func(d []float32) { subRoundBF16(d, d, y) }, func(d []float32) { subRoundBF16Generic(d, d, y) }, [][]float32{d, y}},
				{"subRoundF16 aliasing", func(d []float32) { subRoundF16(d, x, d) }, func(d []float32) { subRoundF16Generic(d, x, d) }, [][]float32{x, d}},
				{"scaleRoundBF16", func(d []float32) { scaleRoundBF16(d, a) }, func(d []float32) { scaleRoundBF16Generic(d, a) }, [][]float32{d, as}},
				{"scaleRoundF16", func(d []float32) { scaleRoundF16(d, a) }, func(d []float32) { scaleRoundF16Generic(d, a) }, [][]float32{d, as}},
				{"axpyRoundBF16", func(d []float32) { axpyRoundBF16(d, a, x) }, func(d []float32) { axpyRoundBF16Generic(d, a, x) }, [][]float32{d, x, as}},
				{"axpyRoundF16", func(d []float32) { axpyRoundF16(d, a, x) }, func(d []float32) { axpyRoundF16Generic(d, a, x) }, [][]float32{d, x, as}},
				{"divScalarRoundBF16", func(d []float32) { divScalarRoundBF16(d, a) }, func(d []float32) { divScalarRoundBF16Generic(d, a) }, [][]float32{d, as}},
				{"divScalarRoundF16", func(d []float32) { divScalarRoundF16(d, a) }, func(d []float32) { divScalarRoundF16Generic(d, a) }, [][]float32{d, as}},
				{"divNonZeroRoundBF16", func(d []float32) { divNonZeroRoundBF16(d, y) }, func(d []float32) { divNonZeroRoundBF16Generic(d, y) }, [][]float32{d, y}},
				{"divNonZeroRoundF16", func(d []float32) { divNonZeroRoundF16(d, y) }, func(d []float32) { divNonZeroRoundF16Generic(d, y) }, [][]float32{d, y}},
				{"divMulRoundBF16", func(d []float32) { divMulRoundBF16(d, x, y, a, 0.3) }, func(d []float32) { divMulRoundBF16Generic(d, x, y, a, 0.3) }, [][]float32{x, y, as}},
				{"divMulRoundBF16 zero divisors", func(d []float32) { divMulRoundBF16(d, x, y, 0, a) }, func(d []float32) { divMulRoundBF16Generic(d, x, y, 0, a) }, [][]float32{x, y, as}},
				{"combineDivRoundBF16", func(d []float32) { combineDivRoundBF16(d, x, y, nil, a, 0.3, 0.7) }, func(d []float32) { combineDivRoundBF16Generic(d, x, y, nil, a, 0.3, 0.7) }, [][]float32{x, y, as}},
				{"divMulRoundVecBF16", func(d []float32) { divMulRoundVecBF16(d, x, y, d, x) }, func(d []float32) { divMulRoundVecBF16Generic(d, x, y, d, x) }, [][]float32{d, x, y}},
				{"combineDivRoundVecBF16", func(d []float32) { combineDivRoundVecBF16(d, x, y, y, x, d) }, func(d []float32) { combineDivRoundVecBF16Generic(d, x, y, y, x, d) }, [][]float32{d, x, y}},
				{"combineDivRoundBF16 base", func(d []float32) { combineDivRoundBF16(d, x, y, d, 0.3, -0.6, a) }, func(d []float32) { combineDivRoundBF16Generic(d, x, y, d, 0.3, -0.6, a) }, [][]float32{d, x, y, as}},
			} {
				compareWith(t, fmt.Sprintf("%s(a=%#x)", c.name, math.Float32bits(a)), d, guardVal, c.got, c.want, nanPair(c.ops...))
			}
		}
	}
}

// pruneSpec is PruneMagnitude's doc comment, literally.
func pruneSpec(x []float32, thr uint32, ties int) int {
	for j, v := range x {
		u := math.Float32bits(v) &^ (1 << 31)
		switch {
		case u > thr:
		case u == thr && ties > 0:
			ties--
		default:
			x[j] = 0
		}
	}
	return ties
}

// magnitudeFloats returns n values of which about a third have the
// magnitude bits thr, of either sign, the rest weight-like or special.
func magnitudeFloats(r *rand.Rand, n int, thr uint32) []float32 {
	x := kernelFloats(r, n)
	for i := range x {
		if r.IntN(3) == 0 {
			x[i] = math.Float32frombits(thr | uint32(r.IntN(2))<<31)
		}
	}
	return x
}

// magnitudeThresholds are the thresholds the magnitude kernels are tried
// with: zero, a subnormal, a weight, Inf, NaNs, and patterns no magnitude
// reaches (2^31 and up).
var magnitudeThresholds = []uint32{0, 1, 0x3c23d70a, 0x3f800000, 0x7f800000, 0x7fc00000, 0x7fffffff, 0x80000000, 0xffffffff}

func TestPruneMagnitude(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(81, 82))
		for _, thr := range magnitudeThresholds {
			for _, n := range asmLengths {
				x := shifted(magnitudeFloats(r, n, thr), n%8)
				equal := CountMagnitude(x, thr)
				for _, ties := range []int{-1, 0, 1, 3, 7, 8, 9, equal / 2, equal - 1, equal, equal + 5} {
					got, want := slices.Clone(x), slices.Clone(x)
					left := PruneMagnitude(got, thr, ties)
					wantLeft := pruneSpec(want, thr, ties)
					if left != wantLeft || !sameBits(got, want) {
						t.Fatalf("thr %#x ties %d n %d: %d ties left, want %d; or elements differ", thr, ties, n, left, wantLeft)
					}
					// In pieces, the ties carried from one to the next.
					pieces := slices.Clone(x)
					left = ties
					for p := pieces; len(p) > 0; {
						k := min(len(p), 1+r.IntN(20))
						left = PruneMagnitude(p[:k], thr, left)
						p = p[k:]
					}
					if left != wantLeft || !sameBits(pieces, want) {
						t.Fatalf("thr %#x ties %d n %d in pieces: %d ties left, want %d; or elements differ", thr, ties, n, left, wantLeft)
					}
				}
			}
		}
	})
}

func TestCountMagnitude(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(83, 84))
		for _, thr := range magnitudeThresholds {
			for _, n := range append(asmLengths, 1<<16+5) {
				x := shifted(magnitudeFloats(r, n, thr), n%8)
				want := 0
				for _, v := range x {
					if math.Float32bits(v)&^(1<<31) == thr {
						want++
					}
				}
				if got := CountMagnitude(x, thr); got != want {
					t.Fatalf("thr %#x n %d: %d, want %d", thr, n, got, want)
				}
			}
		}
	})
}

func TestMagnitudeHistogram(t *testing.T) {
	r := rand.New(rand.NewPCG(85, 86))
	for _, shift := range []uint{12, 16, 20, 23, 24, 30, 31, 32, 40} {
		for _, n := range []int{0, 1, 3, 4, 5, 7, 8, 9, 31, 1000, 4099} {
			x := kernelFloats(r, n)
			for i := range x { // runs of equal bins
				if i > 0 && r.IntN(3) == 0 {
					x[i] = x[i-1]
				}
			}
			size := 1
			if shift < 31 {
				size = 1 << (31 - shift)
			}
			got, want := make([]uint32, size+3), make([]uint32, size+3)
			got[0], want[0] = 7, 7 // counts add to what is there
			MagnitudeHistogram(got, x, shift)
			for _, v := range x {
				want[(math.Float32bits(v)&^(1<<31))>>shift]++
			}
			if !slices.Equal(got, want) {
				t.Fatalf("shift %d n %d: histograms differ", shift, n)
			}
		}
	}
}

func TestMagnitudeHistogramShortPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MagnitudeHistogram with 1<<15-1 counters for shift 16 did not panic")
		}
	}()
	MagnitudeHistogram(make([]uint32, 1<<15-1), []float32{1}, 16)
}

// windowSpec is CountAboveWindow's doc comment, literally.
func windowSpec(hist []uint32, x []float32, lo, hi uint32) int {
	n := 0
	for _, v := range x {
		u := math.Float32bits(v) &^ (1 << 31)
		switch {
		case u > hi:
			n++
		case u >= lo:
			hist[u-lo]++
		}
	}
	return n
}

// windowFloats returns n values of which about one in every have magnitude
// bits in or next to [lo, hi] (up to 2 beyond either end), of either sign,
// the rest weight-like or special.
func windowFloats(r *rand.Rand, n int, lo, hi uint32, every int) []float32 {
	x := kernelFloats(r, n)
	a, b := uint64(lo)-min(uint64(lo), 2), min(uint64(hi)+2, 1<<31-1)
	if a > b {
		return x // no magnitude is near the window
	}
	for i := range x {
		if r.IntN(every) == 0 {
			u := uint32(a + r.Uint64N(b-a+1))
			x[i] = math.Float32frombits(u | uint32(r.IntN(2))<<31)
		}
	}
	return x
}

// windows are the [lo, hi] CountAboveWindow is tried with: single values
// (zero, a subnormal, a weight, Inf, a NaN), windows starting at zero,
// around a weight, around Inf, at the very top of the magnitudes, reaching
// past them, and beyond them (none of x in or above the window).
var windows = [][2]uint32{
	{0, 0}, {1, 1}, {0x3c23d70a, 0x3c23d70a}, {0x7f800000, 0x7f800000}, {0x7fc00000, 0x7fc00000},
	{0, 1}, {0, 300}, {0x3c23d70a - 200, 0x3c23d70a + 200}, {0x3c230000, 0x3c250000},
	{0x7f7fff00, 0x7f800100}, {0x7fffffff, 0x7fffffff}, {0x7fffff00, 0x7fffffff},
	{0x7fffff00, 0x800000ff}, {0x80000000, 0x80000000}, {0x80000000, 0x80000100}, {0xffffff00, 0xffffffff},
}

func TestCountAboveWindow(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(87, 88))
		for _, w := range windows {
			lo, hi := w[0], w[1]
			for _, n := range append(asmLengths, 1<<16+5) {
				every := 3
				if n > 4000 {
					every = 1 // the assembly's buffer of window elements filled
				}
				x := shifted(windowFloats(r, n, lo, hi, every), n%8)
				size := int(hi-lo) + 1
				// Counters past the window must stay as they are.
				got, want := make([]uint32, size+5), make([]uint32, size+5)
				got[0], want[0] = 7, 7 // counts add to what is there
				c := CountAboveWindow(got, x, lo, hi)
				wantC := windowSpec(want, x, lo, hi)
				if c != wantC || !slices.Equal(got, want) {
					t.Fatalf("[%#x, %#x] n %d: %d above, want %d; or histograms differ", lo, hi, n, c, wantC)
				}
				// An empty window: nothing in x falls in it.
				if n > 0 && lo > 0 && lo < 1<<31 {
					e := slices.Clone(x)
					for i, v := range e {
						if u := math.Float32bits(v) &^ (1 << 31); u >= lo && u <= hi {
							e[i] = 0
						}
					}
					clear(got)
					clear(want)
					if c, wantC = CountAboveWindow(got, e, lo, hi), windowSpec(want, e, lo, hi); c != wantC || !slices.Equal(got, want) {
						t.Fatalf("[%#x, %#x] n %d, no element in the window: %d above, want %d; or histograms differ", lo, hi, n, c, wantC)
					}
				}
			}
		}
	})
}

func TestCountAboveWindowPanics(t *testing.T) {
	for _, c := range []struct {
		name   string
		size   int
		lo, hi uint32
	}{
		{"lo above hi", 10, 5, 4},
		{"hist of hi-lo counters", 4, 1, 5},
		{"empty hist", 0, 0, 0},
		{"hist short of the full range", 1 << 10, 0, 0xffffffff},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("CountAboveWindow(%d counters, lo %#x, hi %#x) did not panic", c.size, c.lo, c.hi)
				}
			}()
			CountAboveWindow(make([]uint32, c.size), []float32{1}, c.lo, c.hi)
		})
	}
}
