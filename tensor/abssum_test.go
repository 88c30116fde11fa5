package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAbsSum checks that AbsSum over parts equals SumAbs of the whole
// bit for bit, with and without AVX2: values of very different sizes
// (the order of the additions shows), parts of multiples of 16 and a
// last part of any length.
func TestAbsSum(t *testing.T) {
	r := rand.New(rand.NewPCG(57, 58))
	for _, parts := range [][]int{{}, {0}, {16}, {5}, {3}, {16, 32, 7}, {2048, 2048, 2048}, {48, 0, 16, 1}, {32, 19}, {64, 64, 30}} {
		var n int
		for _, p := range parts {
			n += p
		}
		x := make([]float32, n)
		for j := range x {
			x[j] = float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(60)-30)))
		}
		for _, simd := range []bool{false, true} {
			saved := useAVX2
			useAVX2 = useAVX2 && simd
			want := SumAbs(x)
			var s AbsSum
			lo := 0
			for _, p := range parts {
				s.Add(x[lo : lo+p])
				lo += p
			}
			got := s.Sum()
			useAVX2 = saved
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("parts %v simd %v: %v, SumAbs gives %v", parts, simd, got, want)
			}
		}
	}
}

// TestAbsSumPartAfterOdd checks that a part after one not a multiple of
// 16 elements panics.
func TestAbsSumPartAfterOdd(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	var s AbsSum
	s.Add(make([]float32, 5))
	s.Add(make([]float32, 16))
}

// FuzzAbsSumMatchGeneric checks the AVX2 lanes against the Go reference.
func FuzzAbsSumMatchGeneric(f *testing.F) {
	f.Add([]byte("\x00\x00\x80\x3f\x00\x00\x80\xbf0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
	f.Fuzz(func(t *testing.T, b []byte) {
		x := make([]float32, len(b)/4&^15)
		for j := range x {
			x[j] = math.Float32frombits(uint32(b[4*j]) | uint32(b[4*j+1])<<8 | uint32(b[4*j+2])<<16 | uint32(b[4*j+3])<<24)
		}
		var got, want [16]float64
		for l := range got {
			got[l], want[l] = float64(l), float64(l)
		}
		absSumAdd(x, &got)
		absSumAddGeneric(x, &want)
		for l := range got {
			if math.Float64bits(got[l]) != math.Float64bits(want[l]) && !(math.IsNaN(got[l]) && math.IsNaN(want[l])) {
				t.Fatalf("lane %d: %v, want %v", l, got[l], want[l])
			}
		}
	})
}
