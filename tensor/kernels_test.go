package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Tests that hold the assembly kernels (dispatch_amd64.go) to their portable
// references. Element-wise kernels must agree bit for bit, NaN payloads
// included (for two NaN operands, see compareArith); the float64 reductions
// within a relative 1e-12 of the sum of the terms' magnitudes.

// forEachImpl runs f as the subtest "generic", with the assembly switched
// off, and then as "asm" where this host runs assembly kernels.
func forEachImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	avx2, f16c := useAVX2, useF16C
	defer func() { useAVX2, useF16C = avx2, f16c }()
	useAVX2, useF16C = false, false
	t.Run("generic", f)
	if avx2 || f16c {
		useAVX2, useF16C = avx2, f16c
		t.Run("asm", f)
	}
}

// withAsm skips the test unless this host runs assembly kernels, which the
// test then compares with the references.
func withAsm(t *testing.T) {
	t.Helper()
	if !useAVX2 && !useF16C {
		t.Skip("no assembly kernels on this host")
	}
}

// asmLengths are the lengths the comparisons run: every length up to a few
// vectors, and some that exercise the unrolled loops and their tails.
var asmLengths = func() []int {
	var l []int
	for n := range 71 {
		l = append(l, n)
	}
	return append(l, 127, 128, 129, 255, 1000, 4099)
}()

// specialBits are float32 bit patterns where conversions and arithmetic
// have edge cases: zeros, subnormals, Inf, quiet and signalling NaNs with
// payloads, overflow thresholds, and halfway cases of both 16-bit roundings.
var specialBits = []uint32{
	0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x00400000, 0x3f800000, 0xbf800000,
	0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fa00000,
	0x7fbfffff, 0x7fc0ffff, 0xffffffff, 0x7f812345, 0x7fc12345, 0x7f80ffff, 0x7f81ffff,
	0x7f7fffff, 0xff7f7fff, 0x7f7f8000, 0x7f7f7fff, // bfloat16 overflow edge
	0x3f808000, 0x3f818000, 0x3f807fff, 0x3f808001, 0xbf808000, // bfloat16 ties
	0x3f801000, 0x3f803000, 0x3f800fff, 0x3f801001, // binary16 ties
	0x477fe000, 0x477fefff, 0x477ff000, 0xc77ff000, 0x47800000, // binary16 overflow edge
	0x38800000, 0x387fffff, 0x38000000, 0x33800000, 0x33000000, 0x33000001, 0x32ffffff,
	0x33c00000, 0x34200000, 0x34400000, 0xb3400000, 0x387fe000, 0x387ff000, // binary16 subnormals
}

// kernelFloats returns n float32s mixing weight-like values, random bit
// patterns and specialBits, the last two often enough that two NaNs meet in
// binary kernels.
func kernelFloats(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		switch r.IntN(8) {
		case 0, 1:
			x[i] = math.Float32frombits(specialBits[r.IntN(len(specialBits))])
		case 2:
			x[i] = math.Float32frombits(r.Uint32())
		case 3: // NaN with a random payload
			x[i] = math.Float32frombits(0x7f800000 | r.Uint32()&0x807fffff | 1)
		default:
			x[i] = float32(r.NormFloat64() * 0.02)
		}
	}
	return x
}

// kernelHalves returns n 16-bit patterns, a third of them NaNs or Infs of
// both 16-bit types.
func kernelHalves(r *rand.Rand, n int) []uint16 {
	h := make([]uint16, n)
	for i := range h {
		h[i] = uint16(r.Uint32())
		switch r.IntN(6) {
		case 0:
			h[i] |= 0x7c00 // binary16 Inf or NaN
		case 1:
			h[i] |= 0x7f80 // bfloat16 Inf or NaN
		}
	}
	return h
}

const guardBits16 = 0xdead

// placed returns a copy of x at offset off of a buffer with guard values
// before and after it, and x's window in it; float32 and uint16 buffers.
func placed[T float32 | uint16](x []T, off int, guard T) (all, win []T) {
	all = make([]T, off+len(x)+guardLen)
	for i := range all {
		all[i] = guard
	}
	win = all[off : off+len(x) : off+len(x)]
	copy(win, x)
	return all, win
}

func guardsKept[T float32 | uint16](all []T, off, n int, guard T) bool {
	for i, v := range all {
		if (i < off || i >= off+n) && v != guard {
			return false
		}
	}
	return true
}

func bitsOf[T float32 | uint16](v T) uint32 {
	switch v := any(v).(type) {
	case float32:
		return math.Float32bits(v)
	case uint16:
		return uint32(v)
	}
	panic("unreachable")
}

// compareKernel runs one kernel with the assembly on (got) and its
// reference (want) on equal copies of a destination at every offset up to
// 7 of a guarded buffer, and reports the first difference.
func compareKernel[T float32 | uint16](t *testing.T, name string, dst []T, guard T, got, want func(dst []T)) {
	t.Helper()
	compareWith(t, name, dst, guard, got, want, func(int, uint32, uint32) bool { return false })
}

// compareArith is compareKernel for the float32 arithmetic, where one
// difference is allowed: when both operands of an operation are NaNs, the
// result may be either one, quieted. Go leaves that choice open, and the gc
// compiler's code for the references changes it with -race or -N; the
// assembly matches the optimized code, which is the default. The operands
// are the kernel's inputs, dst's old values among them; one of length 1
// stands for a scalar. An intermediate NaN made by an invalid operation
// (Inf*0, Inf-Inf) is x86's default NaN, 0xffc00000.
func compareArith(t *testing.T, name string, dst []float32, got, want func(dst []float32), operands ...[]float32) {
	t.Helper()
	compareWith(t, name, dst, guardVal, got, want, func(i int, g, w uint32) bool {
		if !isNaN32(math.Float32frombits(g)) || !isNaN32(math.Float32frombits(w)) {
			return false
		}
		if g == 0xffc00000 {
			return true
		}
		for _, op := range operands {
			v := op[min(i, len(op)-1)]
			if isNaN32(v) && math.Float32bits(v)|0x00400000 == g {
				return true
			}
		}
		return false
	})
}

// compareWith runs the comparison for compareKernel and compareArith;
// allowed says whether result i may differ as it does.
func compareWith[T float32 | uint16](t *testing.T, name string, dst []T, guard T, got, want func(dst []T), allowed func(i int, got, want uint32) bool) {
	t.Helper()
	for off := range 8 {
		allG, g := placed(dst, off, guard)
		_, w := placed(dst, off, guard)
		got(g)
		want(w)
		if !guardsKept(allG, off, len(dst), guard) {
			t.Fatalf("%s n=%d offset %d: wrote outside dst", name, len(dst), off)
		}
		for i := range g {
			if gb, wb := bitsOf(g[i]), bitsOf(w[i]); gb != wb && !allowed(i, gb, wb) {
				t.Fatalf("%s n=%d offset %d [%d]: %#x, generic %#x", name, len(dst), off, i, gb, wb)
			}
		}
	}
}

// shifted returns x copied to an offset of off elements in a fresh buffer,
// so that sources are misaligned too.
func shifted[T float32 | uint16](x []T, off int) []T {
	return append(make([]T, off, off+len(x)), x...)[off:]
}

func TestConversionKernelsMatchGeneric(t *testing.T) {
	withAsm(t)
	r := rand.New(rand.NewPCG(21, 22))
	for _, n := range asmLengths {
		f := shifted(kernelFloats(r, n), n%8)
		h := shifted(kernelHalves(r, n), (n+3)%8)
		compareKernel(t, "decodeBF16", make([]float32, n), guardVal,
			func(d []float32) { decodeBF16(d, h) }, func(d []float32) { decodeBF16Generic(d, h) })
		compareKernel(t, "decodeF16", make([]float32, n), guardVal,
			func(d []float32) { decodeF16(d, h) }, func(d []float32) { decodeF16Generic(d, h) })
		compareKernel(t, "encodeBF16", make([]uint16, n), guardBits16,
			func(d []uint16) { encodeBF16(d, f) }, func(d []uint16) { encodeBF16Generic(d, f) })
		compareKernel(t, "encodeF16", make([]uint16, n), guardBits16,
			func(d []uint16) { encodeF16(d, f) }, func(d []uint16) { encodeF16Generic(d, f) })
		compareKernel(t, "roundBF16", f, guardVal, roundBF16, roundBF16Generic)
		compareKernel(t, "roundF16", f, guardVal, roundF16, roundF16Generic)
	}
}

// TestConversionKernelsAllPatterns runs the 16-bit decoders on all 2^16
// patterns and the encoders and roundings on 2^24 float32 patterns: the
// upper 16 bits all, with lower halves chosen to hit both roundings' ties
// and NaN payloads.
func TestConversionKernelsAllPatterns(t *testing.T) {
	withAsm(t)
	h := make([]uint16, 1<<16)
	for i := range h {
		h[i] = uint16(i)
	}
	compareKernel(t, "decodeBF16", make([]float32, len(h)), guardVal,
		func(d []float32) { decodeBF16(d, h) }, func(d []float32) { decodeBF16Generic(d, h) })
	compareKernel(t, "decodeF16", make([]float32, len(h)), guardVal,
		func(d []float32) { decodeF16(d, h) }, func(d []float32) { decodeF16Generic(d, h) })

	lows := []uint32{0, 1, 0x0fff, 0x1000, 0x1001, 0x2000, 0x3000, 0x7fff, 0x8000, 0x8001, 0x9000, 0xa000, 0xe000, 0xefff, 0xf000, 0xffff}
	x := make([]float32, 1<<16*len(lows))
	for i := range x {
		x[i] = math.Float32frombits(uint32(i/len(lows))<<16 | lows[i%len(lows)])
	}
	for _, k := range []struct {
		name      string
		got, want func([]uint16, []float32)
	}{{"encodeBF16", encodeBF16, encodeBF16Generic}, {"encodeF16", encodeF16, encodeF16Generic}} {
		g, w := make([]uint16, len(x)), make([]uint16, len(x))
		k.got(g, x)
		k.want(w, x)
		for i := range g {
			if g[i] != w[i] {
				t.Fatalf("%s(%#08x) = %#04x, generic %#04x", k.name, math.Float32bits(x[i]), g[i], w[i])
			}
		}
	}
	for _, k := range []struct {
		name      string
		got, want func([]float32)
	}{{"roundBF16", roundBF16, roundBF16Generic}, {"roundF16", roundF16, roundF16Generic}} {
		g, w := append([]float32(nil), x...), append([]float32(nil), x...)
		k.got(g)
		k.want(w)
		for i := range g {
			if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
				t.Fatalf("%s(%#08x) = %#08x, generic %#08x", k.name, math.Float32bits(x[i]), math.Float32bits(g[i]), math.Float32bits(w[i]))
			}
		}
	}
}

// scalars are the multipliers Axpy and Scale are tried with.
var scalars = []float32{0.37, -1e-3, 0, float32(math.Copysign(0, -1)), 1, float32(math.Inf(-1)),
	math.Float32frombits(0x7fc01234), math.Float32frombits(0xff800321), 0x1p-140, 3e38}

func TestArithKernelsMatchGeneric(t *testing.T) {
	withAsm(t)
	r := rand.New(rand.NewPCG(23, 24))
	for _, n := range asmLengths {
		d := kernelFloats(r, n)
		x := shifted(kernelFloats(r, n), n%8)
		y := shifted(kernelFloats(r, n), (n+5)%8)
		for _, a := range scalars {
			compareArith(t, fmt.Sprintf("axpy(a=%#x)", math.Float32bits(a)), d,
				func(d []float32) { axpy(d, a, x) }, func(d []float32) { axpyGeneric(d, a, x) }, d, x, []float32{a})
			compareArith(t, fmt.Sprintf("scale(a=%#x)", math.Float32bits(a)), d,
				func(d []float32) { scale(d, a) }, func(d []float32) { scaleGeneric(d, a) }, d, []float32{a})
		}
		compareArith(t, "add", d,
			func(d []float32) { add(d, x) }, func(d []float32) { addGeneric(d, x) }, d, x)
		compareArith(t, "sub", d,
			func(d []float32) { sub(d, x, y) }, func(d []float32) { subGeneric(d, x, y) }, x, y)
		compareArith(t, "sub aliasing a", d,
			func(d []float32) { sub(d, d, y) }, func(d []float32) { subGeneric(d, d, y) }, d, y)
		compareArith(t, "sub aliasing b", d,
			func(d []float32) { sub(d, x, d) }, func(d []float32) { subGeneric(d, x, d) }, x, d)
	}
}

// TestArithKernelsNaNPairs puts two NaNs with different payloads into every
// operation, in every lane position; the result must be one of them.
func TestArithKernelsNaNPairs(t *testing.T) {
	withAsm(t)
	const n = 40
	d, x, y := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range d {
		d[i] = math.Float32frombits(0x7f800000 | uint32(i+1))
		x[i] = math.Float32frombits(0xffc00000 | uint32(i+1)<<8)
		y[i] = math.Float32frombits(0x7fc00000 | uint32(i+1)<<12)
	}
	a := math.Float32frombits(0xff812345)
	compareArith(t, "axpy", d, func(d []float32) { axpy(d, a, x) }, func(d []float32) { axpyGeneric(d, a, x) }, d, x, []float32{a})
	compareArith(t, "scale", d, func(d []float32) { scale(d, a) }, func(d []float32) { scaleGeneric(d, a) }, d, []float32{a})
	compareArith(t, "add", d, func(d []float32) { add(d, x) }, func(d []float32) { addGeneric(d, x) }, d, x)
	compareArith(t, "sub", d, func(d []float32) { sub(d, x, y) }, func(d []float32) { subGeneric(d, x, y) }, x, y)
}

// closeSum reports whether got is within a relative 1e-12 of the sum of
// the terms' magnitudes from want, or both are the same non-finite value.
func closeSum(got, want, magnitude float64) bool {
	if math.IsNaN(want) || math.IsInf(want, 0) {
		return math.IsNaN(got) == math.IsNaN(want) && (math.IsNaN(got) || got == want)
	}
	return math.Abs(got-want) <= 1e-12*magnitude
}

func TestReductionKernelsMatchGeneric(t *testing.T) {
	withAsm(t)
	r := rand.New(rand.NewPCG(25, 26))
	lengths := append(asmLengths, 1<<16+13, 1<<20)
	for _, n := range lengths {
		x := shifted(randFloats(r, n), n%8)
		y := shifted(randFloats(r, n), (n+1)%8)
		for i := range x { // magnitudes from 2^-30 to 2^30
			x[i] = float32(math.Ldexp(float64(x[i]), r.IntN(61)-30))
		}
		var absDot float64
		for i := range x {
			absDot += math.Abs(float64(x[i]) * float64(y[i]))
		}
		if got, want := dot(x, y), dotGeneric(x, y); !closeSum(got, want, absDot) {
			t.Errorf("dot n=%d = %v, generic %v", n, got, want)
		}
		if got, want := sumAbs(x), sumAbsGeneric(x); !closeSum(got, want, want) {
			t.Errorf("sumAbs n=%d = %v, generic %v", n, got, want)
		}
		if got, want := sumSquares(x), sumSquaresGeneric(x); !closeSum(got, want, want) {
			t.Errorf("sumSquares n=%d = %v, generic %v", n, got, want)
		}
	}
}

func TestReductionKernelsNonFinite(t *testing.T) {
	withAsm(t)
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	for _, c := range []struct {
		name string
		at   map[int]float32
	}{
		{"+Inf", map[int]float32{3: inf}},
		{"-Inf", map[int]float32{17: -inf}},
		{"+Inf-Inf", map[int]float32{2: inf, 29: -inf}},
		{"NaN", map[int]float32{30: nan}},
		{"max", map[int]float32{0: math.MaxFloat32, 8: math.MaxFloat32, 16: math.MaxFloat32}},
	} {
		for _, n := range []int{33, 40} {
			x := make([]float32, n)
			for i := range x {
				x[i] = 1
			}
			for i, v := range c.at {
				x[i] = v
			}
			for name, k := range map[string][2]float64{
				"dot":        {dot(x, x), dotGeneric(x, x)},
				"sumAbs":     {sumAbs(x), sumAbsGeneric(x)},
				"sumSquares": {sumSquares(x), sumSquaresGeneric(x)},
			} {
				if !closeSum(k[0], k[1], math.Abs(k[1])) {
					t.Errorf("%s with %s, n=%d = %v, generic %v", name, c.name, n, k[0], k[1])
				}
			}
		}
	}
}

// FuzzKernelsMatchGeneric reads the input as float32s (and as 16-bit
// patterns) and checks every element-wise kernel against its reference;
// SplitMix64 takes its key from the input and its counter from a.
func FuzzKernelsMatchGeneric(f *testing.F) {
	f.Add([]byte("\x00\x00\x80\x7f\x01\x00\x80\x7f\x00\x80\x80\x3f\x00\x10\x80\x3f"+"0123456789abcdef0123456789abcdef"), float32(0.5))
	f.Fuzz(func(t *testing.T, b []byte, a float32) {
		if !useAVX2 && !useF16C {
			t.Skip("no assembly kernels on this host")
		}
		n := len(b) / 8
		x, d := make([]float32, n), make([]float32, n)
		h := make([]uint16, n)
		for i := range n {
			x[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
			j := 4 * (n + i)
			d[i] = math.Float32frombits(uint32(b[j]) | uint32(b[j+1])<<8 | uint32(b[j+2])<<16 | uint32(b[j+3])<<24)
			h[i] = uint16(b[4*i]) | uint16(b[j])<<8
		}
		compareKernel(t, "decodeBF16", d, guardVal, func(d []float32) { decodeBF16(d, h) }, func(d []float32) { decodeBF16Generic(d, h) })
		compareKernel(t, "decodeF16", d, guardVal, func(d []float32) { decodeF16(d, h) }, func(d []float32) { decodeF16Generic(d, h) })
		compareKernel(t, "encodeBF16", h, guardBits16, func(h []uint16) { encodeBF16(h, x) }, func(h []uint16) { encodeBF16Generic(h, x) })
		compareKernel(t, "encodeF16", h, guardBits16, func(h []uint16) { encodeF16(h, x) }, func(h []uint16) { encodeF16Generic(h, x) })
		compareKernel(t, "roundBF16", x, guardVal, roundBF16, roundBF16Generic)
		compareKernel(t, "roundF16", x, guardVal, roundF16, roundF16Generic)
		compareArith(t, "axpy", d, func(d []float32) { axpy(d, a, x) }, func(d []float32) { axpyGeneric(d, a, x) }, d, x, []float32{a})
		compareArith(t, "scale", d, func(d []float32) { scale(d, a) }, func(d []float32) { scaleGeneric(d, a) }, d, []float32{a})
		compareArith(t, "add", d, func(d []float32) { add(d, x) }, func(d []float32) { addGeneric(d, x) }, d, x)
		compareArith(t, "sub", d, func(d []float32) { sub(d, x, d) }, func(d []float32) { subGeneric(d, x, d) }, x, d)
		as := []float32{a}
		compareWith(t, "subRoundBF16", d, guardVal, func(d []float32) { subRoundBF16(d, x, d) }, func(d []float32) { subRoundBF16Generic(d, x, d) }, nanPair(x, d))
		compareWith(t, "subRoundF16", d, guardVal, func(d []float32) { subRoundF16(d, x, d) }, func(d []float32) { subRoundF16Generic(d, x, d) }, nanPair(x, d))
		compareWith(t, "scaleRoundBF16", d, guardVal, func(d []float32) { scaleRoundBF16(d, a) }, func(d []float32) { scaleRoundBF16Generic(d, a) }, nanPair(d, as))
		compareWith(t, "scaleRoundF16", d, guardVal, func(d []float32) { scaleRoundF16(d, a) }, func(d []float32) { scaleRoundF16Generic(d, a) }, nanPair(d, as))
		compareWith(t, "axpyRoundBF16", d, guardVal, func(d []float32) { axpyRoundBF16(d, a, x) }, func(d []float32) { axpyRoundBF16Generic(d, a, x) }, nanPair(d, x, as))
		compareWith(t, "axpyRoundF16", d, guardVal, func(d []float32) { axpyRoundF16(d, a, x) }, func(d []float32) { axpyRoundF16Generic(d, a, x) }, nanPair(d, x, as))
		compareWith(t, "divScalarRoundBF16", d, guardVal, func(d []float32) { divScalarRoundBF16(d, a) }, func(d []float32) { divScalarRoundBF16Generic(d, a) }, nanPair(d, as))
		compareWith(t, "divScalarRoundF16", d, guardVal, func(d []float32) { divScalarRoundF16(d, a) }, func(d []float32) { divScalarRoundF16Generic(d, a) }, nanPair(d, as))
		compareWith(t, "divNonZeroRoundBF16", d, guardVal, func(d []float32) { divNonZeroRoundBF16(d, x) }, func(d []float32) { divNonZeroRoundBF16Generic(d, x) }, nanPair(d, x))
		compareWith(t, "divNonZeroRoundF16", d, guardVal, func(d []float32) { divNonZeroRoundF16(d, x) }, func(d []float32) { divNonZeroRoundF16Generic(d, x) }, nanPair(d, x))
		// nuslerp's fused steps, with the scalars taken from a and the
		// first elements.
		da, db := a, float32(1.5)
		if n > 0 {
			db = x[0]
		}
		compareWith(t, "divMulRoundBF16", d, guardVal, func(d []float32) { divMulRoundBF16(d, x, d, da, db) },
			func(d []float32) { divMulRoundBF16Generic(d, x, d, da, db) }, nanPair(x, d, []float32{da}, []float32{db}))
		compareWith(t, "divMulRoundVecBF16", d, guardVal, func(d []float32) { divMulRoundVecBF16(d, x, d, d, x) },
			func(d []float32) { divMulRoundVecBF16Generic(d, x, d, d, x) }, nanPair(x, d))
		compareWith(t, "combineDivRoundVecBF16", d, guardVal, func(d []float32) { combineDivRoundVecBF16(d, x, d, x, d, x) },
			func(d []float32) { combineDivRoundVecBF16Generic(d, x, d, x, d, x) }, nanPair(x, d))
		for _, base := range [][]float32{nil, x} {
			compareWith(t, "combineDivRoundBF16", d, guardVal, func(d []float32) { combineDivRoundBF16(d, x, d, base, da, db, a) },
				func(d []float32) { combineDivRoundBF16Generic(d, x, d, base, da, db, a) }, nanPair(x, d, []float32{da}, []float32{db}, as))
		}
		// Magnitude kernels, with the threshold taken from a.
		thr := math.Float32bits(a) &^ (1 << 31)
		if got, want := countMagnitude(x, thr), countMagnitudeGeneric(x, thr); got != want {
			t.Fatalf("countMagnitude(%#x) = %d, generic %d", thr, got, want)
		}
		for _, ties := range []int{0, 1, 2, 100} {
			got, want := slices.Clone(x), slices.Clone(x)
			if l1, l2 := pruneMagnitude(got, thr, ties), pruneMagnitudeGeneric(want, thr, ties); l1 != l2 || !sameBits(got, want) {
				t.Fatalf("pruneMagnitude(%#x, %d): %d ties left, generic %d; or elements differ", thr, ties, l1, l2)
			}
		}
		// CountAboveWindow, with windows starting at the threshold and around
		// the first element's magnitude.
		var first uint32
		if n > 0 {
			first = math.Float32bits(x[0]) &^ (1 << 31)
		}
		for _, w := range [][2]uint32{{thr, thr}, {thr, thr + 37}, {first, first}, {first - min(first, 3), first + 3}, {first - min(first, 200), first + 100}} {
			lo, hi := w[0], w[1]
			got, want := make([]uint32, hi-lo+1), make([]uint32, hi-lo+1)
			if c1, c2 := countAboveWindow(got, x, lo, hi), countAboveWindowGeneric(want, x, lo, hi); c1 != c2 || !slices.Equal(got, want) {
				t.Fatalf("countAboveWindow(%#x, %#x) = %d, generic %d; or histograms differ", lo, hi, c1, c2)
			}
		}
		// SplitMix64, keyed by the first 8 bytes, n draws, and a counter
		// from a that is near 2^64 (and wraps inside dst) for small a.
		var key uint64
		for i, c := range b[:min(len(b), 8)] {
			key |= uint64(c) << (8 * i)
		}
		ctr := -uint64(math.Float32bits(a))
		want := make([]uint64, n)
		splitMix64Generic(want, key, ctr)
		for _, wide := range []bool{true, false} {
			saved := useAVX512
			useAVX512 = saved && wide
			got := make([]uint64, n)
			splitMix64(got, key, ctr)
			useAVX512 = saved
			if !slices.Equal(got, want) {
				t.Fatalf("splitMix64(key %#x, ctr %#x), AVX-512 %v: differs from generic", key, ctr, wide)
			}
		}
	})
}

// TestStagedCodecNoAllocs checks that the assembly stubs do not make
// Decode's and Encode's staging buffers escape to the heap.
func TestStagedCodecNoAllocs(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		x := make([]float32, 3*chunk+5)
		raw := make([]byte, 2*len(x)+1)[1:]
		for _, dt := range []DType{BF16, F16} {
			if n := testing.AllocsPerRun(5, func() { Encode(raw, x, dt) }); n != 0 {
				t.Errorf("Encode %v, unaligned: %v allocations", dt, n)
			}
			if n := testing.AllocsPerRun(5, func() { Decode(x, raw, dt) }); n != 0 {
				t.Errorf("Decode %v, unaligned: %v allocations", dt, n)
			}
		}
	})
}

// TestAddAgreeingMatchesGeneric compares the AVX2 body of AddAgreeing with
// the Go one on odd lengths, unaligned slices, zeros of both signs and
// random signs.
func TestAddAgreeingMatchesGeneric(t *testing.T) {
	withAsm(t)
	r := rand.New(rand.NewPCG(31, 32))
	pick := func(n int) []float32 {
		v := make([]float32, n+3)
		for i := range v {
			switch r.IntN(7) {
			case 0:
				v[i] = 0
			case 2:
				v[i] = float32(math.NaN())
			case 1:
				v[i] = float32(math.Copysign(0, -1))
			default:
				v[i] = float32(r.NormFloat64())
			}
		}
		return v[r.IntN(3):][:n]
	}
	for _, n := range asmLengths {
		x, sign := pick(n), pick(n)
		s1, w1 := pick(n), pick(n)
		s2, w2 := slices.Clone(s1), slices.Clone(w1)
		addAgreeing(s1, w1, x, sign, 0.375)
		addAgreeingGeneric(s2, w2, x, sign, 0.375)
		for i := range s1 {
			if math.Float32bits(s1[i]) != math.Float32bits(s2[i]) || math.Float32bits(w1[i]) != math.Float32bits(w2[i]) {
				t.Fatalf("n=%d i=%d x=%g sign=%g: asm (%g, %g), Go (%g, %g)", n, i, x[i], sign[i], s1[i], w1[i], s2[i], w2[i])
			}
		}
	}
}

// TestDivNonZeroMatchesGeneric compares the AVX2 body of DivNonZero with
// the Go one, zeros of both signs, NaNs and infinities included.
func TestDivNonZeroMatchesGeneric(t *testing.T) {
	withAsm(t)
	r := rand.New(rand.NewPCG(41, 42))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e-40}
	pick := func(n int) []float32 {
		v := make([]float32, n+3)
		for i := range v {
			if r.IntN(4) == 0 {
				v[i] = special[r.IntN(len(special))]
			} else {
				v[i] = float32(r.NormFloat64())
			}
		}
		return v[r.IntN(3):][:n]
	}
	for _, n := range asmLengths {
		d1, div := pick(n), pick(n)
		d2 := slices.Clone(d1)
		divNonZero(d1, div)
		divNonZeroGeneric(d2, div)
		for i := range d1 {
			if math.Float32bits(d1[i]) != math.Float32bits(d2[i]) && !(d1[i] != d1[i] && d2[i] != d2[i]) {
				t.Fatalf("n=%d i=%d div=%g: asm %g, Go %g", n, i, div[i], d1[i], d2[i])
			}
		}
	}
}

// TestKeepBelowMatchesGeneric compares the AVX2 body of KeepBelow with the
// Go one, bounds at the edges of the unsigned range included.
func TestKeepBelowMatchesGeneric(t *testing.T) {
	withAsm(t)
	r := rand.New(rand.NewPCG(51, 52))
	for _, bound := range []uint32{0, 1, 1 << 31, 1<<31 + 1, 3_000_000_000, math.MaxUint32} {
		for _, n := range asmLengths {
			x1 := make([]float32, n)
			draws := make([]uint32, n)
			for i := range x1 {
				x1[i] = float32(r.NormFloat64())
				draws[i] = r.Uint32()
				if r.IntN(5) == 0 {
					draws[i] = bound + uint32(r.IntN(3)) - 1
				}
			}
			x2 := slices.Clone(x1)
			k1, k2 := keepBelow(x1, draws, bound), keepBelowGeneric(x2, draws, bound)
			if k1 != k2 || !slices.Equal(x1, x2) {
				t.Fatalf("bound %d n %d: asm kept %d, Go %d", bound, n, k1, k2)
			}
		}
	}
}

// TestDivScalarMatchesGeneric compares the AVX2 body of DivScalar with the
// Go one.
func TestDivScalarMatchesGeneric(t *testing.T) {
	withAsm(t)
	r := rand.New(rand.NewPCG(61, 62))
	for _, d := range []float32{3, 0.1, -7.25, 1e-30, 0} {
		for _, n := range asmLengths {
			x1 := make([]float32, n)
			for i := range x1 {
				x1[i] = float32(r.NormFloat64())
			}
			x2 := slices.Clone(x1)
			divScalar(x1, d)
			divScalarGeneric(x2, d)
			for i := range x1 {
				if math.Float32bits(x1[i]) != math.Float32bits(x2[i]) {
					t.Fatalf("d=%g n=%d i=%d: asm %g, Go %g", d, n, i, x1[i], x2[i])
				}
			}
		}
	}
}

// splitMix64Formula is SplitMix64's doc-comment loop, written out with the
// multiplication by the counter rather than the generic's running sum.
func splitMix64Formula(dst []uint64, key, ctr uint64) {
	for i := range dst {
		z := key + (ctr+1+uint64(i))*0x9e3779b97f4a7c15
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		dst[i] = z ^ z>>31
	}
}

// forEachSplitMixImpl is forEachImpl, with the asm subtest running the
// AVX-512 body where this host has one, and then "asm-avx2" the AVX2 one.
func forEachSplitMixImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	forEachImpl(t, f)
	if useAVX2 && useAVX512 {
		useAVX512 = false
		defer func() { useAVX512 = true }()
		t.Run("asm-avx2", f)
	}
}

// TestSplitMix64KnownAnswer checks the first draws of Vigna's splitmix64.c
// from state 0, and the same draws reached through key and ctr.
func TestSplitMix64KnownAnswer(t *testing.T) {
	want := []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f, 0xf88bb8a8724c81ec}
	forEachSplitMixImpl(t, func(t *testing.T) {
		tests := []struct {
			name     string
			key, ctr uint64
			skip     int
		}{
			{"key 0 ctr 0", 0, 0, 0},
			{"key golden ctr max", 0x9e3779b97f4a7c15, math.MaxUint64, 0},
			{"ctr 2", 0, 2, 2},
			{"key -2golden ctr 4", 0xc3910c8d016b07d6, 4, 2}, // 2^64 - 2*golden
		}
		for _, tt := range tests {
			// A length past one unrolled iteration, so that the
			// assembly makes the known draws it is compared on.
			got := make([]uint64, 21)
			SplitMix64(got, tt.key, tt.ctr)
			for i, w := range want[tt.skip:] {
				if got[i] != w {
					t.Errorf("%s: draw %d = %#016x, want %#016x", tt.name, i, got[i], w)
				}
			}
		}
	})
}

// TestSplitMix64MatchesGeneric compares the assembly with the generic and
// with the formula at every length in asmLengths, unaligned destinations,
// counters that wrap around 2^64 inside the buffer, and split calls.
func TestSplitMix64MatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	starts := []struct{ key, ctr uint64 }{
		{0, 0}, {1, 0}, {r.Uint64(), r.Uint64()},
		{r.Uint64(), math.MaxUint64}, {r.Uint64(), math.MaxUint64 - 7},
		{r.Uint64(), math.MaxUint64 - 100}, {math.MaxUint64, 1 << 63},
	}
	const guard = 0xdeadbeefdeadbeef
	forEachSplitMixImpl(t, func(t *testing.T) {
		for _, st := range starts {
			for _, n := range asmLengths {
				want := make([]uint64, n)
				splitMix64Formula(want, st.key, st.ctr)
				gen := make([]uint64, n)
				splitMix64Generic(gen, st.key, st.ctr)
				if !slices.Equal(gen, want) {
					t.Fatalf("key %#x ctr %#x n %d: generic differs from the formula", st.key, st.ctr, n)
				}
				off := n % 4
				all := make([]uint64, off+n+guardLen)
				for i := range all {
					all[i] = guard
				}
				got := all[off : off+n : off+n]
				SplitMix64(got, st.key, st.ctr)
				for i, v := range all {
					if (i < off || i >= off+n) && v != guard {
						t.Fatalf("key %#x ctr %#x n %d: wrote outside dst", st.key, st.ctr, n)
					}
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("key %#x ctr %#x n %d [%d]: %#016x, want %#016x", st.key, st.ctr, n, i, got[i], want[i])
					}
				}
				// The same stream in two pieces.
				k := r.IntN(n + 1)
				split := make([]uint64, n)
				SplitMix64(split[:k], st.key, st.ctr)
				SplitMix64(split[k:], st.key, st.ctr+uint64(k))
				if !slices.Equal(split, want) {
					t.Fatalf("key %#x ctr %#x n %d: split at %d differs", st.key, st.ctr, n, k)
				}
			}
		}
	})
}
