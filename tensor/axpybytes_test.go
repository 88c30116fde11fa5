package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAxpyRoundBF16Bytes checks the fused kernel, with and without AVX2,
// against Decode followed by AxpyRound on the same path, bit for bit: on
// random bfloat16 patterns (NaNs, infinities, zeros and subnormals
// included), accumulators with NaNs of their own, every length up to 70
// plus long ones, and stored bytes aligned and not.
func TestAxpyRoundBF16Bytes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	special := []uint16{0, 0x8000, 0x7f80, 0xff80, 0x7fc0, 0x7f81, 0xffc1, 0x0001, 0x8001, 0x7f7f, 0x3f80}
	lengths := []int{1000, 4099}
	for n := 0; n <= 70; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		raw := make([]byte, 2*n+1)
		for i := 0; i < n; i++ {
			v := uint16(r.Uint32())
			if r.IntN(4) == 0 {
				v = special[r.IntN(len(special))]
			}
			binary.LittleEndian.PutUint16(raw[2*i:], v)
		}
		acc0 := make([]float32, n)
		for i := range acc0 {
			acc0[i] = math.Float32frombits(r.Uint32())
		}
		for _, w := range []float32{0.3, -1.7, 0, float32(math.Inf(1))} {
			for _, shift := range []int{0, 1} {
				x := raw[:2*n]
				if shift == 1 {
					copy(raw[1:], raw[:2*n])
					x = raw[1 : 2*n+1]
				}
				for _, avx := range []bool{false, true} {
					saved := useAVX2
					useAVX2 = useAVX2 && avx
					want := append([]float32(nil), acc0...)
					dec := make([]float32, n)
					if err := Decode(dec, x, BF16); err != nil {
						t.Fatal(err)
					}
					AxpyRound(BF16, want, w, dec)
					got := append([]float32(nil), acc0...)
					AxpyRoundBF16Bytes(got, w, x)
					useAVX2 = saved
					for i := range got {
						if g, e := math.Float32bits(got[i]), math.Float32bits(want[i]); g != e {
							t.Fatalf("n %d w %v shift %d avx %v: [%d] = %#08x, want %#08x", n, w, shift, avx, i, g, e)
						}
					}
				}
				if shift == 1 {
					copy(raw, raw[1:2*n+1])
				}
			}
		}
	}
}

func BenchmarkAxpyRoundBF16Bytes(b *testing.B) {
	const n = 2048
	acc, dec, x := make([]float32, n), make([]float32, n), make([]byte, 2*n)
	for i := range x {
		x[i] = byte(i * 7)
	}
	b.Run("fused", func(b *testing.B) {
		b.SetBytes(2 * n)
		for b.Loop() {
			AxpyRoundBF16Bytes(acc, 0.5, x)
		}
	})
	b.Run("decode+axpy", func(b *testing.B) {
		b.SetBytes(2 * n)
		for b.Loop() {
			Decode(dec, x, BF16)
			AxpyRound(BF16, acc, 0.5, dec)
		}
	})
}
