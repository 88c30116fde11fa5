package tensor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// electValues draws n float32s: noise, small integers, zeros of both signs
// and special values.
func electValues(r *rand.Rand, n int) []float32 {
	special := []uint32{0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffc00001,
		0x00000001, 0x80000001, 0x7f7fffff, 0x3f800000, 0xbf800000}
	x := make([]float32, n)
	for j := range x {
		switch r.IntN(8) {
		case 0:
			x[j] = math.Float32frombits(special[r.IntN(len(special))])
		case 1:
			x[j] = float32(r.IntN(5) - 2)
		case 2:
			x[j] = math.Float32frombits(r.Uint32())
		default:
			x[j] = float32(r.NormFloat64() * 0.01)
		}
	}
	return x
}

// sameFloatBits requires equal bits, but lets a NaN stand for any NaN:
// where two NaNs meet, which payload wins depends on the operand order the
// compiler picks.
func sameFloatBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for j := range got {
		nans := math.IsNaN(float64(got[j])) && math.IsNaN(float64(want[j]))
		if math.Float32bits(got[j]) != math.Float32bits(want[j]) && !nans {
			t.Fatalf("%s: [%d] = %#08x, want %#08x", what, j, math.Float32bits(got[j]), math.Float32bits(want[j]))
		}
	}
}

// TestElectKernels checks AddElectedRound and DivMaxAddRound for bfloat16,
// with and without AVX2, against their documented loops (with RoundBF16),
// bit for bit, on every length up to 70 and longer ones.
func TestElectKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	lengths := []int{1000, 4099}
	for n := 0; n <= 70; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		x, sum, base := electValues(r, n), electValues(r, n), electValues(r, n)
		num0, den0 := electValues(r, n), electValues(r, n)
		for _, q := range []float32{0.3, 0, 1e-30, float32(math.NaN()), -2} {
			wantNum, wantDen := slices.Clone(num0), slices.Clone(den0)
			for j := range wantNum {
				var p, w float32
				if v := x[j]; v != 0 && (v > 0) == (sum[j] >= 0) {
					p, w = RoundBF16(v*q), q
				}
				wantNum[j] += p
				wantDen[j] += w
			}
			for _, avx := range []bool{false, true} {
				saved := useAVX2
				useAVX2 = useAVX2 && avx
				num, den := slices.Clone(num0), slices.Clone(den0)
				AddElectedRound(BF16, num, den, x, sum, q)
				useAVX2 = saved
				sameFloatBits(t, "AddElectedRound num", num, wantNum)
				sameFloatBits(t, "AddElectedRound den", den, wantDen)
			}
		}
		rs := RoundBF16
		for _, eps := range []float32{1e-6, 0.5} {
			want := make([]float32, n)
			for j := range want {
				want[j] = rs(base[j] + rs(rs(num0[j])/max(rs(den0[j]), eps)))
			}
			for _, avx := range []bool{false, true} {
				saved := useAVX2
				useAVX2 = useAVX2 && avx
				got := make([]float32, n)
				DivMaxAddRound(BF16, got, base, num0, den0, eps)
				useAVX2 = saved
				sameFloatBits(t, "DivMaxAddRound", got, want)
			}
		}
	}
}

// FuzzElectKernels reads the input as five float32 slices (x, sum, num,
// den, base) and checks the bfloat16 erase kernels' AVX2 bodies against
// their Go references.
func FuzzElectKernels(f *testing.F) {
	f.Add([]byte("\x00\x00\x80\x7f\x01\x00\x80\x7f\x00\x80\x80\x3f\x00\x10\x80\x3f"+"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), float32(0.5))
	f.Fuzz(func(t *testing.T, b []byte, q float32) {
		if !useAVX2 {
			t.Skip("no assembly kernels on this host")
		}
		n := len(b) / 20
		vs := make([][]float32, 5)
		for i := range vs {
			vs[i] = make([]float32, n)
			for j := range n {
				k := 4 * (i*n + j)
				vs[i][j] = math.Float32frombits(uint32(b[k]) | uint32(b[k+1])<<8 | uint32(b[k+2])<<16 | uint32(b[k+3])<<24)
			}
		}
		x, sum, num0, den0, base := vs[0], vs[1], vs[2], vs[3], vs[4]
		num, den := slices.Clone(num0), slices.Clone(den0)
		addElectedRoundBF16(num, den, x, sum, q)
		wantNum, wantDen := slices.Clone(num0), slices.Clone(den0)
		addElectedRoundBF16Generic(wantNum, wantDen, x, sum, q)
		sameFloatBits(t, "addElectedRoundBF16 num", num, wantNum)
		sameFloatBits(t, "addElectedRoundBF16 den", den, wantDen)
		eps := float32(1e-6)
		if q > 0 && !math.IsInf(float64(q), 0) {
			eps = q
		}
		got, want := make([]float32, n), make([]float32, n)
		divMaxAddRoundBF16(got, base, num0, den0, eps)
		divMaxAddRoundBF16Generic(want, base, num0, den0, eps)
		sameFloatBits(t, "divMaxAddRoundBF16", got, want)
	})
}
