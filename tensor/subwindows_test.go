package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// subWindowChain is SubWindowScaleBF16 as the calls it replaces.
func subWindowChain(dst, sum []float32, a, b []byte, vLo, vHi uint32, rLo, rHi, lo, hi int, w float32, first, last bool) (int, int) {
	SubBF16Bytes(dst, a, b)
	rLo, rHi = KeepMagnitudeWindow(dst, vLo, vHi, rLo, rHi, lo, hi)
	ScaleRound(BF16, dst, w)
	if first {
		clear(sum[:len(dst)])
	}
	Add(sum[:len(dst)], dst)
	if last {
		Round(BF16, sum[:len(dst)])
	}
	return rLo, rHi
}

// crowdedBF16 returns the stored bytes of a base and a fine-tune whose
// task vector takes few distinct values, so that many entries equal the
// boundaries, with off bytes before each; with special, a third of the
// values are kernelHalves' patterns (NaNs, Infs, subnormals).
func crowdedBF16(r *rand.Rand, n, off int, special bool) (a, b []byte) {
	a, b = make([]byte, off+2*n)[off:], make([]byte, off+2*n)[off:]
	h := kernelHalves(r, 2*n)
	for i := range n {
		base := RoundBF16(float32(r.NormFloat64() * 0.02))
		ft := RoundBF16(base + float32(r.IntN(7)-3)*float32(math.Ldexp(1, -12)))
		x, y := uint16(math.Float32bits(ft)>>16), uint16(math.Float32bits(base)>>16)
		if special && r.IntN(3) == 0 {
			x, y = h[2*i], h[2*i+1]
		}
		binary.LittleEndian.PutUint16(a[2*i:], x)
		binary.LittleEndian.PutUint16(b[2*i:], y)
	}
	return a, b
}

// TestSubWindowScaleBF16 checks the fused kernel's bodies (fusedImpls),
// aligned and not, against the chain of calls it replaces: task vectors
// crowded on few magnitudes, boundaries taken from them (equal ones too),
// rank ranges cutting through their ties, starting ranks before and past
// the range, the sum's first and last calls, and calls over consecutive
// pieces.
func TestSubWindowScaleBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	for _, n := range append(asmLengths, 300, 1000) {
		for trial := range 10 {
			off := trial & 1
			a, b := crowdedBF16(r, n, off, trial >= 6)
			if trial >= 8 {
				// Near and below the smallest normal: denormal task vectors.
				for i := range n {
					binary.LittleEndian.PutUint16(a[2*i:], uint16(r.IntN(0x180))|uint16(r.IntN(2))<<15)
					binary.LittleEndian.PutUint16(b[2*i:], uint16(r.IntN(0x180)))
				}
			}
			d := make([]float32, n)
			SubBF16Bytes(d, a, b)
			u := make([]uint32, n)
			for j, v := range d {
				u[j] = magnitudeBits(v)
			}
			slices.Sort(u)
			var vLo, vHi uint32
			if n > 0 {
				vLo, vHi = u[r.IntN(n)], u[r.IntN(n)]
			}
			if vLo > vHi {
				vLo, vHi = vHi, vLo
			}
			if trial == 5 {
				vHi = vLo
			}
			below := func(v uint32) int { i, _ := slices.BinarySearch(u, v); return i }
			rLo, rHi := below(vLo), below(vHi)
			if trial == 4 {
				rLo, rHi = r.IntN(n+3), r.IntN(n+3)
			}
			lo, hi := r.IntN(n+1), r.IntN(n+2)
			sum0 := kernelFloats(r, n)
			w := float32(r.NormFloat64())
			switch n % 5 {
			case 1:
				w = float32(r.NormFloat64() * 1e-36) // terms near 2^-126
			case 2:
				w = 0
			}
			for _, fl := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				want, wsum := make([]float32, n), append([]float32(nil), sum0...)
				wLo, wHi := subWindowChain(want, wsum, a, b, vLo, vHi, rLo, rHi, lo, hi, w, fl[0], fl[1])
				for _, impl := range fusedImpls {
					restore := impl.use()
					got, gsum := make([]float32, n), append([]float32(nil), sum0...)
					cut := n / 3
					gLo, gHi := SubWindowScaleBF16(got[:cut], gsum[:cut], a[:2*cut], b[:2*cut], vLo, vHi, rLo, rHi, lo, hi, w, fl[0], fl[1])
					gLo, gHi = SubWindowScaleBF16(got[cut:], gsum[cut:], a[2*cut:], b[2*cut:], vLo, vHi, gLo, gHi, lo, hi, w, fl[0], fl[1])
					restore()
					if gLo != wLo || gHi != wHi {
						t.Fatalf("n %d trial %d %s: counts %d %d, want %d %d", n, trial, impl.name, gLo, gHi, wLo, wHi)
					}
					sameOrBothNaN(t, "dst", got, want)
					sameOrBothNaN(t, "sum", gsum, wsum)
				}
			}
		}
	}
}

// TestSubWindowScaleBF16Lengths checks that mismatched lengths panic.
func TestSubWindowScaleBF16Lengths(t *testing.T) {
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
			SubWindowScaleBF16(make([]float32, c.dst), make([]float32, c.sum), make([]byte, c.a), make([]byte, c.b), 0, 0, 0, 0, 0, 1, 1, true, true)
		}()
	}
}

// FuzzSubWindowScaleBF16 checks the assembly against the Go reference on
// bfloat16 inputs read from the fuzzer's bytes, the boundaries the
// magnitudes of two of their task vector's entries.
func FuzzSubWindowScaleBF16(f *testing.F) {
	f.Add([]byte("\x80\x3f\x00\x00\x80\x7f\x01\x00\x80\xbf\xc0\x7f\x00\x80\x10\x3c"+"0123456789abcdef0123456789abcdef"), 2, 3, 1, 9, float32(0.5), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, rLo, rHi, lo, hi int, w float32, flags uint8) {
		if !useAVX2 {
			t.Skip("no assembly kernels on this host")
		}
		n := len(raw) / 4
		if n < 2 {
			return
		}
		va, vb := make([]uint16, n), make([]uint16, n)
		sum := make([]float32, n)
		for i := range n {
			va[i], vb[i] = binary.LittleEndian.Uint16(raw[2*i:]), binary.LittleEndian.Uint16(raw[2*n+2*i:])
			sum[i] = math.Float32frombits(uint32(va[i])<<16 | uint32(vb[i]))
		}
		d := make([]float32, n)
		subBF16Generic(d, va, vb)
		vLo, vHi := magnitudeBits(d[0]), magnitudeBits(d[1])
		if vLo > vHi {
			vLo, vHi = vHi, vLo
		}
		first, last := flags&1 != 0, flags&2 != 0
		got, gsum := make([]float32, n), append([]float32(nil), sum...)
		gLo, gHi := subWindowScaleBF16(got, gsum, va, vb, vLo, vHi, rLo, rHi, lo, hi, w, first, last)
		want, wsum := make([]float32, n), append([]float32(nil), sum...)
		wLo, wHi := subWindowScaleBF16Generic(want, wsum, va, vb, vLo, vHi, rLo, rHi, lo, hi, w, first, last)
		if gLo != wLo || gHi != wHi {
			t.Fatalf("counts %d %d, generic %d %d", gLo, gHi, wLo, wHi)
		}
		sameOrBothNaN(t, "dst", got, want)
		sameOrBothNaN(t, "sum", gsum, wsum)
	})
}

// breadcrumbsInputs returns the stored bytes of 1M bfloat16 weights and a
// fine-tune of them, as breadcrumbs benchmarks use, and the sorted
// magnitude bits of their task vector.
func breadcrumbsInputs() (a, b []byte, sorted []uint32) {
	const n = 1 << 20
	base := append([]float32(nil), weights(n)...)
	Round(BF16, base)
	ft := append([]float32(nil), weights2(n)...)
	Scale(ft, 0.05)
	Add(ft, base)
	a, b = make([]byte, 2*n), make([]byte, 2*n)
	Encode(a, ft, BF16)
	Encode(b, base, BF16)
	d := make([]float32, n)
	SubBF16Bytes(d, a, b)
	sorted = make([]uint32, n)
	for i, v := range d {
		sorted[i] = magnitudeBits(v)
	}
	slices.Sort(sorted)
	return a, b, sorted
}

// BenchmarkSubWindowScaleBF16 is breadcrumbs_ties' term of one input on
// 1M stored bfloat16 elements, kept between the 49th and 99th percentiles,
// in blocks of 2048 as the merge runs it: the chain of calls it replaces
// against the fused kernel.
func BenchmarkSubWindowScaleBF16(b *testing.B) {
	const block = 2048
	x, base, u := breadcrumbsInputs()
	n := len(u)
	vLo, vHi := u[n*49/100], u[n*99/100]
	below := func(v uint32) int { i, _ := slices.BinarySearch(u, v); return i }
	lo, hi := n*49/100, n*99/100
	dst, sum := make([]float32, block), make([]float32, block)
	for _, impl := range []struct {
		name string
		fn   func(dst, sum []float32, a, b []byte, vLo, vHi uint32, rLo, rHi, lo, hi int, w float32, first, last bool) (int, int)
	}{{"chain", subWindowChain}, {"fused", SubWindowScaleBF16}} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			b.SetBytes(int64(2 * n))
			for b.Loop() {
				rLo, rHi := below(vLo), below(vHi)
				for off := 0; off < n; off += block {
					rLo, rHi = impl.fn(dst, sum, x[2*off:2*(off+block)], base[2*off:2*(off+block)], vLo, vHi, rLo, rHi, lo, hi, 0.5, false, true)
				}
			}
		})
	}
}
