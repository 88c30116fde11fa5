package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// keepBitsChain is the chain of calls SubKeepBitsScaleBF16 replaces: DELLA's
// stored-input pruner (KeepBits, or KeepBitsScaleRound with its rescale)
// between SubBF16Bytes and gta's weighing and summing.
func keepBitsChain(dst, sum []float32, a, b []byte, mask []uint64, f, w float32, first, last bool) {
	SubBF16Bytes(dst, a, b)
	if f == 0 {
		KeepBits(dst, mask)
	} else {
		KeepBitsScaleRound(BF16, dst, mask, f)
	}
	ScaleRound(BF16, dst, w)
	if first {
		clear(sum[:len(dst)])
	}
	Add(sum[:len(dst)], dst)
	if last {
		Round(BF16, sum[:len(dst)])
	}
}

// TestSubKeepBitsScaleBF16 checks the fused kernel, with and without AVX2
// and AVX-512, aligned and not, against the chain of calls it replaces,
// for masks that keep nothing, about half and everything, with and
// without a rescale factor.
func TestSubKeepBitsScaleBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	for _, n := range append(asmLengths, 2048, 2048+37) {
		for _, off := range []int{0, 1} {
			a, b := bf16Bytes(r, n, off), bf16Bytes(r, n, off)
			if n%4 == 3 {
				// Near and below the smallest normal: denormal task vectors.
				for i := range n {
					for _, x := range [][]byte{a, b} {
						binary.LittleEndian.PutUint16(x[2*i:], uint16(r.IntN(0x180))|uint16(r.IntN(2))<<15)
					}
				}
			}
			sum0 := kernelFloats(r, n)
			w := float32(r.NormFloat64())
			switch n % 5 {
			case 1:
				w = float32(r.NormFloat64() * 1e-36) // terms near 2^-126
			case 2:
				w = 0
			}
			for _, fill := range []string{"none", "half", "all"} {
				mask := make([]uint64, (n+63)/64+1) // longer than needed: it must not matter
				for i := range mask {
					switch fill {
					case "half":
						mask[i] = r.Uint64()
					case "all":
						mask[i] = math.MaxUint64
					}
				}
				for _, f := range []float32{0, float32(math.Copysign(0, -1)), 1.0078125, 2.015625, 0.0078125, float32(math.Inf(1)), float32(math.NaN())} {
					for _, fl := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
						want, wsum := make([]float32, n), append([]float32(nil), sum0...)
						keepBitsChain(want, wsum, a, b, mask, f, w, fl[0], fl[1])
						for _, impl := range fusedImpls {
							restore := impl.use()
							got, gsum := make([]float32, n), append([]float32(nil), sum0...)
							SubKeepBitsScaleBF16(got, gsum, a, b, mask, f, w, fl[0], fl[1])
							restore()
							sameOrBothNaN(t, impl.name+" "+fill+" dst", got, want)
							sameOrBothNaN(t, impl.name+" "+fill+" sum", gsum, wsum)
						}
					}
				}
			}
		}
	}
}

// TestSubKeepBitsScaleBF16Panics checks that a mask shorter than dst, or
// inputs of the wrong length, panic instead of reading past their ends.
func TestSubKeepBitsScaleBF16Panics(t *testing.T) {
	for _, c := range []struct {
		name      string
		n, na, nm int
	}{
		{"short mask", 65, 130, 1},
		{"short a", 16, 30, 1},
		{"long a", 16, 34, 1},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			dst, sum := make([]float32, c.n), make([]float32, c.n)
			SubKeepBitsScaleBF16(dst, sum, make([]byte, c.na), make([]byte, 2*c.n), make([]uint64, c.nm), 0, 1, true, true)
		}()
	}
}

// FuzzSubKeepBitsScaleBF16 checks the assembly against the Go reference on
// inputs, mask bits, factor and weight read from the fuzzer's bytes.
func FuzzSubKeepBitsScaleBF16(f *testing.F) {
	f.Add([]byte("\x80\x3f\x00\x00\x80\x7f\x01\x00\x80\xbf\xc0\x7f\x00\x80\x10\x3c"+"0123456789abcdef0123456789abcdef"), uint64(0x5555aaaa0f0f3c3c), float32(2), float32(0.5), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, seed uint64, fac, w float32, flags uint8) {
		if !useAVX2 {
			t.Skip("no assembly kernels on this host")
		}
		n := len(raw) / 4
		va, vb := make([]uint16, n), make([]uint16, n)
		sum := make([]float32, n)
		for i := range n {
			va[i], vb[i] = binary.LittleEndian.Uint16(raw[2*i:]), binary.LittleEndian.Uint16(raw[2*n+2*i:])
			sum[i] = math.Float32frombits(uint32(va[i])<<16 | uint32(vb[i]))
		}
		mask := make([]uint64, (n+63)/64+1)
		for i := range mask {
			seed += 0x9e3779b97f4a7c15
			mask[i] = seed ^ seed>>29
		}
		first, last := flags&1 != 0, flags&2 != 0
		got, gsum := make([]float32, n), append([]float32(nil), sum...)
		subKeepBitsScaleBF16(got, gsum, va, vb, mask, fac, w, first, last)
		want, wsum := make([]float32, n), append([]float32(nil), sum...)
		subKeepBitsScaleBF16Generic(want, wsum, va, vb, mask, 0, fac, w, first, last)
		sameOrBothNaN(t, "dst", got, want)
		sameOrBothNaN(t, "sum", gsum, wsum)
	})
}

// BenchmarkSubKeepBitsScale compares the fused kernel with the chain it
// replaces on one gta block (2048 elements, about half kept).
func BenchmarkSubKeepBitsScale(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 2048
	x, y := bf16Bytes(r, n, 0), bf16Bytes(r, n, 0)
	dst, sum := make([]float32, n), make([]float32, n)
	mask := make([]uint64, n/64)
	for i := range mask {
		mask[i] = r.Uint64()
	}
	b.Run("impl=chain", func(b *testing.B) {
		b.SetBytes(4 * n)
		for range b.N {
			keepBitsChain(dst, sum, x, y, mask, 1.5, 0.75, false, true)
		}
	})
	b.Run("impl=fused", func(b *testing.B) {
		b.SetBytes(4 * n)
		for range b.N {
			SubKeepBitsScaleBF16(dst, sum, x, y, mask, 1.5, 0.75, false, true)
		}
	})
}
