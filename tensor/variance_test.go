package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// varianceRef is Variance's documented loop, one position at a time.
func varianceRef(work DType, dst []float32, xs [][]float32) (nonzero int) {
	m := float64(len(xs))
	for j := range dst {
		var mean float64
		for _, x := range xs {
			mean += float64(x[j])
		}
		mean /= m
		var ss float64
		for _, x := range xs {
			d := float64(x[j]) - mean
			ss += d * d
		}
		if dst[j] = RoundScalar(work, float32(ss/m)); dst[j] != 0 {
			nonzero++
		}
	}
	return nonzero
}

// checkVariance compares Variance, with and without AVX2, with the
// reference bit for bit; a NaN may carry any payload.
func checkVariance(t *testing.T, work DType, xs [][]float32) {
	t.Helper()
	n := len(xs[0])
	want := make([]float32, n)
	wantNZ := varianceRef(work, want, xs)
	for _, avx := range []bool{false, true} {
		saved := useAVX2
		useAVX2 = useAVX2 && avx
		got := make([]float32, n)
		nz := Variance(work, got, xs)
		useAVX2 = saved
		if nz != wantNZ {
			t.Fatalf("%v n %d m %d avx %v: %d non-zero, want %d", work, n, len(xs), avx, nz, wantNZ)
		}
		for j := range got {
			nans := math.IsNaN(float64(got[j])) && math.IsNaN(float64(want[j]))
			if math.Float32bits(got[j]) != math.Float32bits(want[j]) && !nans {
				t.Fatalf("%v n %d m %d avx %v: [%d] = %#08x, want %#08x", work, n, len(xs), avx, j,
					math.Float32bits(got[j]), math.Float32bits(want[j]))
			}
		}
	}
}

// TestVariance checks Variance on every length up to 70 and across its
// blocks, for one to five inputs, on noise, small integers (exact) and
// special values (zeros of both signs, infinities, NaNs, subnormals, the
// largest finite values).
func TestVariance(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	special := []uint32{0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffc00001,
		0x00000001, 0x80000001, 0x7f7fffff, 0xff7fffff, 0x3f800000}
	lengths := []int{511, 512, 513, 1000, 4099}
	for n := 0; n <= 70; n++ {
		lengths = append(lengths, n)
	}
	for _, work := range []DType{F32, BF16, F16} {
		for _, n := range lengths {
			for m := 1; m <= 5; m++ {
				xs := make([][]float32, m)
				for i := range xs {
					xs[i] = make([]float32, n)
					for j := range xs[i] {
						switch r.IntN(8) {
						case 0:
							xs[i][j] = math.Float32frombits(special[r.IntN(len(special))])
						case 1:
							xs[i][j] = float32(r.IntN(5) - 2)
						case 2:
							xs[i][j] = math.Float32frombits(r.Uint32())
						default:
							xs[i][j] = float32(r.NormFloat64() * 0.01)
						}
					}
				}
				checkVariance(t, work, xs)
			}
		}
	}
}

// FuzzVariance reads the input as three inputs of float32s.
func FuzzVariance(f *testing.F) {
	f.Add([]byte("\x00\x00\x80\x7f\x01\x00\x80\x7f\x00\x80\x80\x3f\x00\x10\x80\x3f" + "0123456789abcdef0123456789abcdef"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := len(b) / 12
		xs := make([][]float32, 3)
		for i := range xs {
			xs[i] = make([]float32, n)
			for j := range n {
				k := 4 * (i*n + j)
				xs[i][j] = math.Float32frombits(uint32(b[k]) | uint32(b[k+1])<<8 | uint32(b[k+2])<<16 | uint32(b[k+3])<<24)
			}
		}
		for _, work := range []DType{F32, BF16, F16} {
			checkVariance(t, work, xs)
		}
	})
}

// FuzzVarianceMatchReference reads the input as float32s cut into one to
// eight vectors (its first byte says how many: powers of two take
// varianceAVX2's multiplying path, the others its dividing one) and checks Variance, with and
// without AVX2, against the reference loop.
func FuzzVarianceMatchReference(f *testing.F) {
	f.Add([]byte("\x01\x00\x00\x80\x7f\x01\x00\x80\x7f\x00\x80\x80\x3f\x00\x10\x80\x3f" + "0123456789abcdef0123456789abcdef0123456789abcdef"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		m := int(b[0])%8 + 1
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
		for _, work := range []DType{BF16, F32} {
			checkVariance(t, work, xs)
		}
	})
}
