package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// meanBlendSteps runs MeanBlendBF16Bytes's documented sequence of kernels
// on the whole of out.
func meanBlendSteps(out []float32, xs [][]byte, base []byte, ratio, keep float32) {
	w := make([]float32, len(out))
	mustDecode(out, xs[0])
	for _, x := range xs[1:] {
		mustDecode(w, x)
		Add(out, w)
		Round(BF16, out)
	}
	DivScalarRound(BF16, out, float32(len(xs)))
	ScaleRound(BF16, out, ratio)
	mustDecode(w, base)
	AxpyRound(BF16, out, keep, w)
	Round(BF16, out)
}

// checkMeanBlend compares MeanBlendBF16Bytes with its sequence of kernels
// bit for bit, NaN payloads included, on the Go reference, the AVX2 body
// alone and the AVX-512 body (with the AVX2 one on an 8-element tail).
func checkMeanBlend(t *testing.T, xs [][]byte, base []byte, ratio, keep float32) {
	t.Helper()
	n := len(base) / 2
	for _, level := range []string{"go", "avx2", "avx512"} {
		saved, saved512 := useAVX2, useAVX512BW
		useAVX2 = useAVX2 && level != "go"
		useAVX512BW = useAVX512BW && level == "avx512"
		want := make([]float32, n)
		meanBlendSteps(want, xs, base, ratio, keep)
		got := make([]float32, n)
		MeanBlendBF16Bytes(got, xs, base, ratio, keep)
		useAVX2, useAVX512BW = saved, saved512
		for j := range got {
			if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
				t.Fatalf("n %d m %d %s ratio %v keep %v: [%d] = %#08x, want %#08x", n, len(xs), level, ratio, keep, j,
					math.Float32bits(got[j]), math.Float32bits(want[j]))
			}
		}
	}
}

// TestMeanBlendBF16Bytes checks lengths up to 40 and across blocks, one
// to six inputs, with noise, values whose sums round to even, and special
// values (NaNs with payloads, infinities, zeros of both signs,
// subnormals).
func TestMeanBlendBF16Bytes(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	special := []uint16{0, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0x7f81, 0xffc1, 0x0001, 0x8001, 0x7f7f, 0xff7f, 0x3f80}
	lengths := []int{255, 256, 257, 1000}
	for n := 0; n <= 40; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		for m := 1; m <= 6; m++ {
			for _, withSpecial := range []bool{false, true} {
				gen := func() []byte {
					b := make([]byte, 2*n)
					for j := range n {
						var v uint16
						switch k := r.IntN(32); {
						case withSpecial && k == 0:
							v = special[r.IntN(len(special))]
						case k < 8:
							v = 0x3f80 | uint16(r.IntN(128))
						default:
							v = F32ToBF16(float32(r.NormFloat64() * 0.02))
						}
						b[2*j], b[2*j+1] = byte(v), byte(v>>8)
					}
					return b
				}
				xs := make([][]byte, m)
				for i := range xs {
					xs[i] = gen()
				}
				ratio := RoundBF16(float32(r.Float64()))
				checkMeanBlend(t, xs, gen(), ratio, RoundBF16(1-ratio))
			}
		}
	}
}

// FuzzMeanBlendBF16BytesMatchSteps reads up to six bfloat16 inputs and a
// base from the input (its first byte says how many) and checks the
// assembly of MeanBlendBF16Bytes against its sequence of kernels.
func FuzzMeanBlendBF16BytesMatchSteps(f *testing.F) {
	f.Add([]byte("\x02\x80\x7f\x81\x7f\xc1\xff\x80\x3f\x00\x00\x01\x80"+"0123456789abcdef0123456789abcdef0123456789abcdef"), float32(0.7), float32(0.3))
	f.Fuzz(func(t *testing.T, b []byte, ratio, keep float32) {
		if !useAVX2 {
			t.Skip("no assembly kernels on this host")
		}
		if len(b) == 0 {
			return
		}
		m := int(b[0])%6 + 1
		b = b[1:]
		n := len(b) / 2 / (m + 1)
		xs := make([][]byte, m+1)
		for i := range xs {
			xs[i] = b[2*n*i : 2*n*(i+1)]
		}
		checkMeanBlend(t, xs[:m], xs[m], ratio, keep)
	})
}
