package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Guards around every destination slice catch out-of-bounds writes, as in
// gonum's internal/asm tests.
const (
	guardLen = 5
	guardVal = float32(-123.25)
)

// guarded returns a copy of x inside guard values, and the window holding x.
func guarded(x []float32) (all, win []float32) {
	all = make([]float32, len(x)+2*guardLen)
	for i := range all {
		all[i] = guardVal
	}
	win = all[guardLen : guardLen+len(x) : guardLen+len(x)]
	copy(win, x)
	return all, win
}

func checkGuards(t *testing.T, name string, all []float32) {
	t.Helper()
	n := len(all)
	for i := range guardLen {
		if all[i] != guardVal || all[n-1-i] != guardVal {
			t.Errorf("%s: guard overwritten", name)
			return
		}
	}
}

var kernelLengths = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 1023}

func randFloats(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func TestElementwiseKernels(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, n := range kernelLengths {
			x, y, z := randFloats(r, n), randFloats(r, n), randFloats(r, n)
			a := float32(r.NormFloat64())
			kernels := []struct {
				name string
				run  func(dst []float32)
				ref  func(i int, d float32) float32
			}{
				{"Axpy", func(d []float32) { Axpy(d, a, x) }, func(i int, d float32) float32 { return d + float32(a*x[i]) }},
				{"Scale", func(d []float32) { Scale(d, a) }, func(i int, d float32) float32 { return d * a }},
				{"Add", func(d []float32) { Add(d, x) }, func(i int, d float32) float32 { return d + x[i] }},
				{"Sub", func(d []float32) { Sub(d, x, y) }, func(i int, d float32) float32 { return x[i] - y[i] }},
			}
			for _, k := range kernels {
				all, dst := guarded(z)
				k.run(dst)
				checkGuards(t, k.name, all)
				for i := range dst {
					if want := k.ref(i, z[i]); math.Float32bits(dst[i]) != math.Float32bits(want) {
						t.Errorf("%s n=%d [%d] = %v, want %v", k.name, n, i, dst[i], want)
					}
				}
			}
		}
	})
}

func TestSubAliased(t *testing.T) {
	a, b := []float32{5, 6, 7}, []float32{1, 2, 3}
	Sub(a, a, b)
	Sub(b, a, b)
	if a[0] != 4 || a[2] != 4 || b[0] != 3 || b[2] != 1 {
		t.Errorf("aliased Sub: a=%v b=%v", a, b)
	}
}

// TestAxpyNotFused picks values where a fused multiply-add differs from a
// multiply then an add: a*x = 1 + 2^-11 + 2^-24 exactly, which float32
// rounds (a tie, to even) to 1 + 2^-11, so the unfused sum is 0 and the
// fused one 2^-24. The test bites where Go fuses float32 multiply-adds
// (arm64, ppc64le, s390x, riscv64); amd64 gc fuses none of them.
func TestAxpyNotFused(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		a := float32(1 + 0x1p-12)
		for _, n := range []int{1, 4, 5} {
			x := make([]float32, n)
			dst := make([]float32, n)
			for i := range x {
				x[i] = a
				dst[i] = -(1 + 0x1p-11)
			}
			Axpy(dst, a, x)
			for i, v := range dst {
				if v != 0 {
					t.Errorf("Axpy n=%d [%d] = %g, want 0 (multiply and add were fused)", n, i, v)
				}
			}
		}
	})
}

// TestReductions checks the sums against in-order float64 loops: exactly
// for the references, within closeSum's tolerance for assembly kernels,
// which add in another order.
func TestReductions(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, n := range kernelLengths {
			x, y := randFloats(r, n), randFloats(r, n)
			var dot, absDot, abs, sq float64
			for i := range x {
				dot += float64(x[i]) * float64(y[i])
				absDot += math.Abs(float64(x[i]) * float64(y[i]))
				abs += math.Abs(float64(x[i]))
				sq += float64(x[i]) * float64(x[i])
			}
			near := func(got, want, magnitude float64) bool {
				return got == want || (useAVX2 && closeSum(got, want, magnitude))
			}
			if got := Dot(x, y); !near(got, dot, absDot) {
				t.Errorf("Dot n=%d = %v, want %v", n, got, dot)
			}
			if got := SumAbs(x); !near(got, abs, abs) {
				t.Errorf("SumAbs n=%d = %v, want %v", n, got, abs)
			}
			if got := SumSquares(x); !near(got, sq, sq) {
				t.Errorf("SumSquares n=%d = %v, want %v", n, got, sq)
			}
		}
		// Float32 products would lose this: (1+2^-12)^2 needs 25 bits. The
		// sum of 16 of them is exact in any order.
		v := make([]float32, 16)
		for i := range v {
			v[i] = 1 + 0x1p-12
		}
		if got, want := Dot(v, v), 16*(1+0x1p-11+0x1p-24); got != want {
			t.Errorf("Dot product not exact: %v, want %v", got, want)
		}
		if got := SumSquares(v); got != 16*(1+0x1p-11+0x1p-24) {
			t.Errorf("SumSquares product not exact: %v", got)
		}
	})
}

func TestKernelLengthMismatchPanics(t *testing.T) {
	x3, x4 := make([]float32, 3), make([]float32, 4)
	for name, f := range map[string]func(){
		"Axpy":  func() { Axpy(x3, 1, x4) },
		"Add":   func() { Add(x4, x3) },
		"Sub a": func() { Sub(x3, x4, x3) },
		"Sub b": func() { Sub(x3, x3, x4) },
		"Dot":   func() { Dot(x3, x4) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with unequal lengths did not panic", name)
				}
			}()
			f()
		}()
	}
}
