package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// streamDrawsFormula is the draws of SubKeepScaleStreamBF16's doc
// comment, one 64-bit output at a time.
func streamDrawsFormula(n int, key, at uint64) []uint32 {
	draws := make([]uint32, n)
	for j := range draws {
		d := at + uint64(j)
		var w [1]uint64
		SplitMix64(w[:], key, d/2)
		draws[j] = uint32(w[0] >> (32 * (d % 2)))
	}
	return draws
}

// streamStarts are draw positions for the stream kernels' tests: even and
// odd, and high ones.
var streamStarts = []uint64{0, 1, 2, 37, 1<<40 + 6, 1<<63 + 5, math.MaxUint64 - 1<<20}

// TestStreamDraws checks the buffered draws the kernels fall back on
// against the formula.
func TestStreamDraws(t *testing.T) {
	for _, n := range asmLengths {
		for _, at := range streamStarts {
			got := make([]uint32, n)
			streamDraws(got, 0x243f6a8885a308d3, at)
			want := streamDrawsFormula(n, 0x243f6a8885a308d3, at)
			for j := range want {
				if got[j] != want[j] {
					t.Fatalf("n %d at %d: draw %d = %#x, want %#x", n, at, j, got[j], want[j])
				}
			}
		}
	}
}

// TestSubKeepScaleStreamBF16 checks the kernel's bodies (fusedImpls),
// aligned and not, from even and odd draws, against SubKeepScaleBF16 on
// the formula's draws, for bounds that keep nothing, about half and nearly
// everything, with and without a rescale factor.
func TestSubKeepScaleStreamBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
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
			switch n % 5 {
			case 1:
				w = float32(r.NormFloat64() * 1e-36) // terms near 2^-126
			case 2:
				w = 0
			}
			key := r.Uint64()
			at := streamStarts[r.IntN(len(streamStarts))]
			draws := streamDrawsFormula(n, key, at)
			for _, bound := range []uint32{0, 1 << 31, math.MaxUint32} {
				for _, f := range []float32{0, 2.015625, 0.0078125, float32(math.Inf(1))} {
					for _, fl := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
						want, wsum := make([]float32, n), append([]float32(nil), sum0...)
						SubKeepScaleBF16(want, wsum, a, b, draws, bound, f, w, fl[0], fl[1])
						for _, impl := range fusedImpls {
							restore := impl.use()
							got, gsum := make([]float32, n), append([]float32(nil), sum0...)
							SubKeepScaleStreamBF16(got, gsum, a, b, key, at, bound, f, w, fl[0], fl[1])
							restore()
							sameOrBothNaN(t, impl.name+" dst", got, want)
							sameOrBothNaN(t, impl.name+" sum", gsum, wsum)
						}
					}
				}
			}
		}
	}
}

// TestSubKeepScaleStreamBF16Blocks checks that a vector done in blocks,
// each from the draw after the blocks before it, gives the bits of one
// call: gtaStored calls the kernel so.
func TestSubKeepScaleStreamBF16Blocks(t *testing.T) {
	r := rand.New(rand.NewPCG(83, 84))
	const n = 4099
	a, b := bf16Bytes(r, n, 0), bf16Bytes(r, n, 0)
	for _, at := range []uint64{0, 1} {
		want, wsum := make([]float32, n), make([]float32, n)
		SubKeepScaleStreamBF16(want, wsum, a, b, 7, at, 1<<30, 1.5, 0.75, true, true)
		got, gsum := make([]float32, n), make([]float32, n)
		for _, block := range []int{2048, 17, 1} {
			for lo := 0; lo < n; lo += block {
				hi := min(n, lo+block)
				SubKeepScaleStreamBF16(got[lo:hi], gsum[lo:hi], a[2*lo:2*hi], b[2*lo:2*hi], 7, at+uint64(lo), 1<<30, 1.5, 0.75, true, true)
			}
			sameOrBothNaN(t, "dst", got, want)
			sameOrBothNaN(t, "sum", gsum, wsum)
		}
	}
}

// TestSubKeepAbsSumsStreamBF16 checks the kernel's bodies, aligned and
// not, from even and odd draws, against SubKeepAbsSumsBF16 on the
// formula's draws, over one part and over parts of multiples of 16 with a
// last part of any length.
func TestSubKeepAbsSumsStreamBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(85, 86))
	for _, n := range asmLengths {
		for _, off := range []int{0, 1} {
			a, b := bf16Bytes(r, n, off), bf16Bytes(r, n, off)
			if off == 0 && n%3 == 0 {
				// Values of very different sizes: the order of the
				// additions shows in the sums.
				for j := range n {
					v := float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(60)-30)))
					binary.LittleEndian.PutUint16(a[2*j:], uint16(math.Float32bits(v)>>16))
				}
			}
			if n%3 == 1 {
				// Near and below the smallest normal: denormal task vectors.
				for j := range n {
					for _, x := range [][]byte{a, b} {
						binary.LittleEndian.PutUint16(x[2*j:], uint16(r.IntN(0x180))|uint16(r.IntN(2))<<15)
					}
				}
			}
			key := r.Uint64()
			at := streamStarts[r.IntN(len(streamStarts))]
			draws := streamDrawsFormula(n, key, at)
			for _, bound := range []uint32{0, 1 << 31, math.MaxUint32} {
				for _, parts := range [][]int{{n}, {16 * (n / 32), n - 16*(n/32)}, {0, 16 * (n / 16), n % 16}} {
					for _, impl := range fusedImpls {
						restore := impl.use()
						var wantAll, wantKept, all, kept AbsSum
						lo := 0
						for _, p := range parts {
							SubKeepAbsSumsBF16(&wantAll, &wantKept, a[2*lo:2*(lo+p)], b[2*lo:2*(lo+p)], draws[lo:lo+p], bound)
							SubKeepAbsSumsStreamBF16(&all, &kept, a[2*lo:2*(lo+p)], b[2*lo:2*(lo+p)], key, at+uint64(lo), bound)
							lo += p
						}
						restore()
						sameSum(t, impl.name+" all", all.Sum(), wantAll.Sum())
						sameSum(t, impl.name+" kept", kept.Sum(), wantKept.Sum())
					}
				}
			}
		}
	}
}

// FuzzSubKeepScaleStreamBF16 checks the assembly against the Go reference
// on inputs, key, draw position, bound, factor and weight read from the
// fuzzer's bytes.
func FuzzSubKeepScaleStreamBF16(f *testing.F) {
	f.Add([]byte("\x80\x3f\x00\x00\x80\x7f\x01\x00\x80\xbf\xc0\x7f\x00\x80\x10\x3c"+"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), uint64(1), uint64(2), uint32(1<<31), float32(2), float32(0.5), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, key, at uint64, bound uint32, fac, w float32, flags uint8) {
		if !useAVX2 {
			t.Skip("no assembly kernels on this host")
		}
		n := len(raw) / 4
		va, vb, sum := make([]uint16, n), make([]uint16, n), make([]float32, n)
		for i := range n {
			va[i], vb[i] = binary.LittleEndian.Uint16(raw[2*i:]), binary.LittleEndian.Uint16(raw[2*n+2*i:])
			sum[i] = math.Float32frombits(uint32(va[i])<<16 | uint32(vb[i]))
		}
		at &^= 1 // the bodies start on a word; SubKeepScaleStreamBF16 peels an odd first draw
		first, last := flags&1 != 0, flags&2 != 0
		got, gsum := make([]float32, n), append([]float32(nil), sum...)
		subKeepScaleStreamBF16(got, gsum, va, vb, key, at, bound, fac, w, first, last)
		want, wsum := make([]float32, n), append([]float32(nil), sum...)
		subKeepScaleStreamBF16Generic(want, wsum, va, vb, key, at, bound, fac, w, first, last)
		sameOrBothNaN(t, "dst", got, want)
		sameOrBothNaN(t, "sum", gsum, wsum)
	})
}

// FuzzSubKeepAbsSumsStreamBF16 checks the assembly against the Go
// reference on inputs, key, draw position and bound read from the
// fuzzer's bytes, starting from lanes that are not zero.
func FuzzSubKeepAbsSumsStreamBF16(f *testing.F) {
	f.Add([]byte("\x80\x3f\x00\x00\x80\x7f\x01\x00\x80\xbf\xc0\x7f\x00\x80\x10\x3c"+"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), uint64(1), uint64(2), uint32(1<<31))
	f.Fuzz(func(t *testing.T, raw []byte, key, at uint64, bound uint32) {
		if !useAVX2 || !useAVX512BW || !useAVX512 {
			t.Skip("no AVX-512 kernel on this host")
		}
		n := len(raw) / 4 &^ 15
		va, vb := make([]uint16, n), make([]uint16, n)
		for i := range n {
			va[i], vb[i] = binary.LittleEndian.Uint16(raw[2*i:]), binary.LittleEndian.Uint16(raw[2*n+2*i:])
		}
		at &^= 1
		var gotAll, gotKept, wantAll, wantKept [16]float64
		for l := range gotAll {
			gotAll[l], wantAll[l] = float64(l), float64(l)
			gotKept[l], wantKept[l] = float64(2*l), float64(2*l)
		}
		if m := subKeepAbsSumsStream(&gotAll, &gotKept, va, vb, key, at, bound); m != n {
			t.Fatalf("did %d of %d", m, n)
		}
		subKeepAbsSumsStreamBF16Generic(&wantAll, &wantKept, va, vb, key, at, bound)
		for l := range gotAll {
			sameSum(t, "all lane", gotAll[l], wantAll[l])
			sameSum(t, "kept lane", gotKept[l], wantKept[l])
		}
	})
}

// BenchmarkSubKeepScaleStream measures a 2048-element block of DARE's
// merge term: the draws made in registers (stream), against the draws
// written by SplitMix64 and read by SubKeepScaleBF16 (buffered).
func BenchmarkSubKeepScaleStream(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 2048
	x, y := bf16Bytes(r, n, 0), bf16Bytes(r, n, 0)
	dst, sum := make([]float32, n), make([]float32, n)
	words := make([]uint64, n/2)
	b.Run("impl=buffered", func(b *testing.B) {
		b.SetBytes(4 * n)
		for i := range b.N {
			SplitMix64(words, 5, uint64(i)*n/2)
			draws := unsafeDraws(words)
			SubKeepScaleBF16(dst, sum, x, y, draws, 1<<31, 1.5, 0.75, false, true)
		}
	})
	b.Run("impl=stream", func(b *testing.B) {
		b.SetBytes(4 * n)
		for i := range b.N {
			SubKeepScaleStreamBF16(dst, sum, x, y, 5, uint64(i)*n, 1<<31, 1.5, 0.75, false, true)
		}
	})
}

// BenchmarkSubKeepAbsSumsStream is BenchmarkSubKeepScaleStream for DARE's
// analysis sums.
func BenchmarkSubKeepAbsSumsStream(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 2048
	x, y := bf16Bytes(r, n, 0), bf16Bytes(r, n, 0)
	words := make([]uint64, n/2)
	var all, kept AbsSum
	b.Run("impl=buffered", func(b *testing.B) {
		b.SetBytes(4 * n)
		for i := range b.N {
			SplitMix64(words, 5, uint64(i)*n/2)
			SubKeepAbsSumsBF16(&all, &kept, x, y, unsafeDraws(words), 1<<31)
		}
	})
	b.Run("impl=stream", func(b *testing.B) {
		b.SetBytes(4 * n)
		for i := range b.N {
			SubKeepAbsSumsStreamBF16(&all, &kept, x, y, 5, uint64(i)*n, 1<<31)
		}
	})
}

// unsafeDraws views 64-bit draws as the 32-bit draws they hold, low half
// first on little-endian hosts.
func unsafeDraws(words []uint64) []uint32 {
	return unsafe.Slice((*uint32)(unsafe.Pointer(&words[0])), 2*len(words))
}
