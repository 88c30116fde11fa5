package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExp32 checks the float32 exponential against math.Exp over its
// range, and at the edges (underflow, zero, NaN).
func TestExp32(t *testing.T) {
	for x := float32(-90); x <= 0; x += 0.0137 {
		want := math.Exp(float64(x))
		got := float64(exp32(x))
		if x >= expLo && math.Abs(got-want) > 3e-7*want {
			t.Fatalf("exp32(%v) = %v, want %v", x, got, want)
		}
		if x < expLo && got > 1e-37 {
			t.Fatalf("exp32(%v) = %v, want about 0", x, got)
		}
	}
	if got := exp32(0); got != 1 {
		t.Errorf("exp32(0) = %v", got)
	}
	if got := exp32(float32(math.NaN())); got == got {
		t.Errorf("exp32(NaN) = %v", got)
	}
}

// TestSoftmaxKernels compares expSum and maxF32 (assembly where
// available) and their Go references with float64 on odd lengths and
// unaligned slices, and checks that NaN anywhere gives a NaN sum.
func TestSoftmaxKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 3, 7, 8, 9, 15, 16, 17, 63, 100, 1024, 1031, 32000} {
		buf := make([]float32, n+1)
		for i := range buf {
			buf[i] = float32(rng.NormFloat64() * 8)
		}
		x := buf[1:] // unaligned
		wantMax := math.Inf(-1)
		for _, v := range x {
			wantMax = max(wantMax, float64(v))
		}
		var wantSum float64
		for _, v := range x {
			wantSum += math.Exp(float64(v - float32(wantMax)))
		}
		for _, fast := range []bool{true, false} {
			saved := useFMA
			useFMA = useFMA && fast
			gotMax := maxF32(x)
			gotSum := expSum(x, float32(wantMax))
			keep := x[n/2]
			x[n/2] = float32(math.NaN())
			nan := expSum(x, float32(wantMax))
			x[n/2] = keep
			useFMA = saved
			if float64(gotMax) != wantMax {
				t.Errorf("n %d fast %v: max %v, want %v", n, fast, gotMax, wantMax)
			}
			tol := 1e-6 // logSoftmaxStats sums at most expChunk at a time
			if n > 2*expChunk {
				tol = 1e-5
			}
			if math.Abs(float64(gotSum)-wantSum) > tol*wantSum {
				t.Errorf("n %d fast %v: exp sum %v, want %v", n, fast, gotSum, wantSum)
			}
			if nan == nan {
				t.Errorf("n %d fast %v: exp sum with a NaN = %v", n, fast, nan)
			}
		}
	}
}

// TestLogSoftmaxStats compares the float32 log-sum-exp and argmax with
// float64 on a vocabulary-sized row with a repeated maximum.
func TestLogSoftmaxStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	row := make([]float32, 32000)
	for i := range row {
		row[i] = float32(rng.NormFloat64() * 4)
	}
	row[700], row[9000] = 30, 30
	lse, arg := logSoftmaxStats(row)
	var sum float64
	for _, v := range row {
		sum += math.Exp(float64(v) - 30)
	}
	if want := 30 + math.Log(sum); math.Abs(lse-want) > 1e-6 || arg != 700 {
		t.Errorf("got %v, %d; want %v, 700", lse, arg, want)
	}
	row[5] = float32(math.Inf(1))
	if lse, _ := logSoftmaxStats(row); !math.IsNaN(lse) && !math.IsInf(lse, 0) {
		t.Errorf("with +Inf: %v, want NaN or Inf", lse)
	}
}

// TestMulF64 checks the vector normalization of attention weights against
// its Go reference bit for bit, on odd lengths and unaligned starts, with
// subnormal, zero, infinite and NaN entries and scales that round
// differently in float32 than in float64.
func TestMulF64(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, n := range []int{1, 3, 4, 7, 8, 33, 1000} {
		for _, s := range []float64{1, 1.0 / 3, 1e-30, 7.123456789e12} {
			x := make([]float32, n+1)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			x[0] = 0x1p-140
			if n > 5 {
				x[2], x[3], x[5] = float32(math.Inf(1)), float32(math.NaN()), 0
			}
			got, want := append([]float32(nil), x[1:]...), append([]float32(nil), x[1:]...)
			mulF64(got, s)
			mulF64Generic(want, s)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n %d s %v: x[%d] = %v, want %v", n, s, i, got[i], want[i])
				}
			}
		}
	}
}
