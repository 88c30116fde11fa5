package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Benchmarks reuse buffers allocated and written before the timer starts:
// first touches of fresh memory would dominate otherwise.

var benchSizes = []int{1 << 20, 16 << 20}

// weights returns n values distributed like LLM weights (σ = 0.02), so the
// branches in the F16 paths see realistic data.
func weights(n int) []float32 {
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.02)
	}
	return x
}

func BenchmarkDecode(b *testing.B) {
	for _, dt := range []DType{BF16, F16, F32} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%v/n=%dMi", dt, n>>20), func(b *testing.B) {
				src := make([]byte, n*dt.Size())
				if err := Encode(src, weights(n), dt); err != nil {
					b.Fatal(err)
				}
				dst := make([]float32, n)
				if err := Decode(dst, src, dt); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(src)))
				b.ResetTimer()
				for range b.N {
					Decode(dst, src, dt)
				}
			})
		}
	}
}

// BenchmarkDecodeUnaligned measures the staged path taken when the stored
// bytes are not 2-byte aligned.
func BenchmarkDecodeUnaligned(b *testing.B) {
	for _, dt := range []DType{BF16, F16} {
		b.Run(dt.String(), func(b *testing.B) {
			n := 1 << 20
			buf := make([]byte, 2*n+1)
			src := buf[1:]
			if err := Encode(src, weights(n), dt); err != nil {
				b.Fatal(err)
			}
			dst := make([]float32, n)
			b.SetBytes(int64(len(src)))
			b.ResetTimer()
			for range b.N {
				Decode(dst, src, dt)
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, dt := range []DType{BF16, F16, F32} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%v/n=%dMi", dt, n>>20), func(b *testing.B) {
				src := weights(n)
				dst := make([]byte, n*dt.Size())
				if err := Encode(dst, src, dt); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(dst)))
				b.ResetTimer()
				for range b.N {
					Encode(dst, src, dt)
				}
			})
		}
	}
}

func BenchmarkRound(b *testing.B) {
	for _, dt := range []DType{BF16, F16} {
		b.Run(dt.String(), func(b *testing.B) {
			x := weights(1 << 20)
			b.SetBytes(int64(4 * len(x)))
			b.ResetTimer()
			for range b.N {
				Round(dt, x)
			}
		})
	}
}

func BenchmarkAxpy(b *testing.B) {
	x, dst := weights(1<<20), weights(1<<20)
	b.SetBytes(int64(4 * len(x)))
	b.ResetTimer()
	for range b.N {
		Axpy(dst, 1e-9, x)
	}
}

func BenchmarkDot(b *testing.B) {
	x, y := weights(1<<20), weights(1<<20)
	b.SetBytes(int64(4 * len(x)))
	b.ResetTimer()
	for range b.N {
		Dot(x, y)
	}
}
