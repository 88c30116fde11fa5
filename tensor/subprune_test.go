package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// bf16Bytes returns n bfloat16 values as stored, weight-like most of the
// time, else kernelHalves' patterns (NaNs, Infs, subnormals), with off
// bytes before them so that odd offsets are misaligned.
func bf16Bytes(r *rand.Rand, n, off int) []byte {
	h := kernelHalves(r, n)
	b := make([]byte, off+2*n)[off:]
	for i := range h {
		if r.IntN(3) > 0 {
			h[i] = uint16(math.Float32bits(float32(r.NormFloat64()*0.02)) >> 16)
		}
		binary.LittleEndian.PutUint16(b[2*i:], h[i])
	}
	return b
}

// sameOrBothNaN compares float32 results bit for bit; where both are NaNs
// either may win, as compareArith explains.
func sameOrBothNaN(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		g, w := math.Float32bits(got[i]), math.Float32bits(want[i])
		if g != w && !(isNaN32(got[i]) && isNaN32(want[i])) {
			t.Fatalf("%s [%d] = %#08x, want %#08x", name, i, g, w)
		}
	}
}

// subPruneChain is SubPruneScaleBF16 as the calls it replaces.
func subPruneChain(dst, sum []float32, a, b []byte, min uint32, w float32, first, last bool) {
	SubBF16Bytes(dst, a, b)
	if min > 0 {
		PruneMagnitude(dst, minU32(min, 1<<31)-1, 0)
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

// TestSubPruneScaleBF16 checks the fused kernel, with and without AVX2,
// aligned and not, against the chain of calls it replaces, for thresholds
// that keep everything, nothing, and about half, with the sum's first and
// last calls.
func TestSubPruneScaleBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, n := range asmLengths {
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
			switch n % 9 {
			case 0:
				w = float32(math.Inf(-1))
			case 1, 5:
				w = float32(r.NormFloat64() * 1e-36) // terms below 2^-126
			case 2:
				w = 0
			}
			mins := []uint32{0, 1, 0x7f0000, 0x800000, 0x800001, 0x810000, 0x3c000000, 0x3c00ffff, 0x3c230000, 1 << 31, 1<<31 + 7, math.MaxUint32}
			for _, min := range mins {
				for _, fl := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
					want, wsum := make([]float32, n), append([]float32(nil), sum0...)
					subPruneChain(want, wsum, a, b, min, w, fl[0], fl[1])
					for _, impl := range fusedImpls {
						restore := impl.use()
						got, gsum := make([]float32, n), append([]float32(nil), sum0...)
						SubPruneScaleBF16(got, gsum, a, b, min, w, fl[0], fl[1])
						restore()
						sameOrBothNaN(t, "dst", got, want)
						sameOrBothNaN(t, "sum", gsum, wsum)
					}
				}
			}
		}
	}
}

// TestSubPruneScaleBF16Lengths checks that mismatched lengths panic.
func TestSubPruneScaleBF16Lengths(t *testing.T) {
	for _, c := range []struct {
		name           string
		dst, sum, a, b int
	}{
		{"short a", 8, 8, 14, 16},
		{"short b", 8, 8, 16, 15},
		{"short sum", 8, 7, 16, 16},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			SubPruneScaleBF16(make([]float32, c.dst), make([]float32, c.sum), make([]byte, c.a), make([]byte, c.b), 0, 1, true, true)
		}()
	}
}

// FuzzSubPruneScaleBF16 checks the assembly against the Go reference on
// bfloat16 inputs, threshold, weight and sum read from the fuzzer's bytes.
func FuzzSubPruneScaleBF16(f *testing.F) {
	f.Add([]byte("\x80\x3f\x00\x00\x80\x7f\x01\x00\x80\xbf\xc0\x7f\x00\x80\x10\x3c"+"0123456789abcdef0123456789abcdef"), uint32(0x3c000000), float32(0.5), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, min uint32, w float32, flags uint8) {
		if !useAVX2 {
			t.Skip("no assembly kernels on this host")
		}
		n := len(raw) / 4
		a, b := raw[:2*n], raw[2*n:4*n]
		va, vb := make([]uint16, n), make([]uint16, n)
		sum := make([]float32, n)
		for i := range n {
			va[i], vb[i] = binary.LittleEndian.Uint16(a[2*i:]), binary.LittleEndian.Uint16(b[2*i:])
			sum[i] = math.Float32frombits(uint32(va[i])<<16 | uint32(vb[i]))
		}
		min = minU32(min, 1<<31)
		first, last := flags&1 != 0, flags&2 != 0
		got, gsum := make([]float32, n), append([]float32(nil), sum...)
		subPruneScaleBF16(got, gsum, va, vb, min, w, first, last)
		want, wsum := make([]float32, n), append([]float32(nil), sum...)
		subPruneScaleBF16Generic(want, wsum, va, vb, min, w, first, last)
		sameOrBothNaN(t, "dst", got, want)
		sameOrBothNaN(t, "sum", gsum, wsum)
	})
}

// subKeepChain is SubKeepScaleBF16 as the calls it replaces.
func subKeepChain(dst, sum []float32, a, b []byte, draws []uint32, bound uint32, f, w float32, first, last bool) {
	SubBF16Bytes(dst, a, b)
	KeepBelow(dst, draws[:len(dst)], bound)
	if f != 0 {
		ScaleRound(BF16, dst, f)
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

// TestSubKeepScaleBF16 checks the fused kernel, with and without AVX2,
// aligned and not, against the chain of calls it replaces, for bounds
// that keep nothing, about half and nearly everything, with and without
// a rescale factor.
func TestSubKeepScaleBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	for _, n := range asmLengths {
		for _, off := range []int{0, 1} {
			a, b := bf16Bytes(r, n, off), bf16Bytes(r, n, off)
			sum0 := kernelFloats(r, n)
			draws := make([]uint32, n+3) // longer than dst: it must not matter
			for i := range draws {
				draws[i] = r.Uint32()
			}
			w := float32(r.NormFloat64())
			for _, bound := range []uint32{0, 1 << 31, math.MaxUint32} {
				for j := 3; j < n; j += 17 {
					draws[j] = bound // draw == bound drops
				}
				for _, f := range []float32{0, float32(math.Copysign(0, -1)), 2.015625, float32(math.Inf(1))} {
					for _, fl := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
						want, wsum := make([]float32, n), append([]float32(nil), sum0...)
						subKeepChain(want, wsum, a, b, draws, bound, f, w, fl[0], fl[1])
						for _, impl := range fusedImpls {
							restore := impl.use()
							got, gsum := make([]float32, n), append([]float32(nil), sum0...)
							SubKeepScaleBF16(got, gsum, a, b, draws, bound, f, w, fl[0], fl[1])
							restore()
							sameOrBothNaN(t, "dst", got, want)
							sameOrBothNaN(t, "sum", gsum, wsum)
						}
					}
				}
			}
		}
	}
}

// FuzzSubKeepScaleBF16 checks the assembly against the Go reference on
// inputs, draws, bound, factor and weight read from the fuzzer's bytes.
func FuzzSubKeepScaleBF16(f *testing.F) {
	f.Add([]byte("\x80\x3f\x00\x00\x80\x7f\x01\x00\x80\xbf\xc0\x7f\x00\x80\x10\x3c"+"0123456789abcdef0123456789abcdef"), uint32(1<<31), float32(2), float32(0.5), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, bound uint32, fac, w float32, flags uint8) {
		if !useAVX2 {
			t.Skip("no assembly kernels on this host")
		}
		n := len(raw) / 4
		va, vb := make([]uint16, n), make([]uint16, n)
		sum, draws := make([]float32, n), make([]uint32, n)
		for i := range n {
			va[i], vb[i] = binary.LittleEndian.Uint16(raw[2*i:]), binary.LittleEndian.Uint16(raw[2*n+2*i:])
			sum[i] = math.Float32frombits(uint32(va[i])<<16 | uint32(vb[i]))
			draws[i] = binary.LittleEndian.Uint32(raw[4*i:]) * 0x9e3779b9
		}
		first, last := flags&1 != 0, flags&2 != 0
		got, gsum := make([]float32, n), append([]float32(nil), sum...)
		subKeepScaleBF16(got, gsum, va, vb, draws, bound, fac, w, first, last)
		want, wsum := make([]float32, n), append([]float32(nil), sum...)
		subKeepScaleBF16Generic(want, wsum, va, vb, draws, bound, fac, w, first, last)
		sameOrBothNaN(t, "dst", got, want)
		sameOrBothNaN(t, "sum", gsum, wsum)
	})
}

// fusedImpls are the bodies the fused kernels' tests compare with the chains
// they replace: the Go references, AVX2 alone, and AVX2 with AVX-512 where
// the host has them.
var fusedImpls = []struct {
	name string
	use  func() (restore func())
}{
	{"generic", func() func() {
		a, b, c := useAVX2, useAVX512BW, useAVX512BF16
		useAVX2 = false
		return func() { useAVX2, useAVX512BW, useAVX512BF16 = a, b, c }
	}},
	{"avx2", func() func() {
		a, b, c := useAVX2, useAVX512BW, useAVX512BF16
		useAVX512BW, useAVX512BF16 = false, false
		return func() { useAVX2, useAVX512BW, useAVX512BF16 = a, b, c }
	}},
	{"avx512", func() func() {
		a, b, c := useAVX2, useAVX512BW, useAVX512BF16
		useAVX512BF16 = false
		return func() { useAVX2, useAVX512BW, useAVX512BF16 = a, b, c }
	}},
	{"avx512bf16", func() func() { return func() {} }},
}
