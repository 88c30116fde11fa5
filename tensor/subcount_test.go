package tensor

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// subCountChain is SubCountWindowsBF16 as the calls it replaces.
func subCountChain(hist0, hist1 []uint32, a, b []byte, lo0, hi0, lo1, hi1 uint32) (int, int) {
	d := make([]float32, len(a)/2)
	SubBF16Bytes(d, a, b)
	return CountAboveWindowShift(hist0, d, lo0, hi0, 16), CountAboveWindowShift(hist1, d, lo1, hi1, 16)
}

// TestSubCountWindowsBF16 checks the fused kernel, with and without the
// assembly, aligned and not, against the chain of calls it replaces:
// task vectors crowded on few magnitudes (and special values), windows
// around their entries, of one value and of 64, overlapping, and above or
// below every entry, onto histograms that already hold counts, over
// lengths past one chunk of the assembly.
func TestSubCountWindowsBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	for _, n := range append(asmLengths, subCountChunk-1, subCountChunk+9, 3*subCountChunk) {
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
				u[j] = magnitudeBits(v) >> 16
			}
			slices.Sort(u)
			var win [2][2]uint32
			for k := range win {
				var mid uint32
				if n > 0 {
					mid = u[r.IntN(n)]
				}
				width := uint32(r.IntN(64))
				switch trial {
				case 2:
					width = 0
				case 3:
					mid = 0x7f00 // above every task vector entry but specials
				case 4:
					mid = 1 // below
				case 9:
					mid = 0x80 + uint32(r.IntN(2)) // at the smallest normal
				}
				lo := mid - min(mid, uint32(r.IntN(int(width)+1)))
				hi := min(lo+width, 1<<15-1)
				win[k] = [2]uint32{lo << 16, hi << 16}
			}
			h0 := make([]uint32, (win[0][1]-win[0][0])>>16+1)
			h1 := make([]uint32, (win[1][1]-win[1][0])>>16+1)
			for i := range h0 {
				h0[i] = uint32(r.IntN(5))
			}
			w0, w1 := slices.Clone(h0), slices.Clone(h1)
			wa0, wa1 := subCountChain(w0, w1, a, b, win[0][0], win[0][1], win[1][0], win[1][1])
			for _, impl := range fusedImpls {
				restore := impl.use()
				g0, g1 := slices.Clone(h0), slices.Clone(h1)
				ga0, ga1 := SubCountWindowsBF16(g0, g1, a, b, win[0][0], win[0][1], win[1][0], win[1][1])
				restore()
				if ga0 != wa0 || ga1 != wa1 || !slices.Equal(g0, w0) || !slices.Equal(g1, w1) {
					t.Fatalf("n %d trial %d %s: above %d %d, want %d %d; or histograms differ", n, trial, impl.name, ga0, ga1, wa0, wa1)
				}
			}
		}
	}
}

// TestSubCountWindowsBF16Panics checks the documented panics.
func TestSubCountWindowsBF16Panics(t *testing.T) {
	for _, c := range []struct {
		name               string
		h0, h1, a, b       int
		lo0, hi0, lo1, hi1 uint32
	}{
		{"short b", 2, 2, 16, 14, 0, 1 << 16, 0, 1 << 16},
		{"odd", 2, 2, 15, 15, 0, 1 << 16, 0, 1 << 16},
		{"lo above hi", 2, 2, 16, 16, 2 << 16, 1 << 16, 0, 1 << 16},
		{"short hist1", 2, 1, 16, 16, 0, 1 << 16, 0, 1 << 16},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			SubCountWindowsBF16(make([]uint32, c.h0), make([]uint32, c.h1), make([]byte, c.a), make([]byte, c.b), c.lo0, c.hi0, c.lo1, c.hi1)
		}()
	}
}

// FuzzSubCountWindowsBF16 checks the assembly against the Go reference on
// bfloat16 inputs read from the fuzzer's bytes and windows of up to 64
// bfloat16 values from its numbers.
func FuzzSubCountWindowsBF16(f *testing.F) {
	f.Add([]byte("\x80\x3f\x00\x00\x80\x7f\x01\x00\x80\xbf\xc0\x7f\x00\x80\x10\x3c"+"0123456789abcdef0123456789abcdef"), uint16(0x3c00), uint8(9), uint16(0x3f00), uint8(60))
	f.Fuzz(func(t *testing.T, raw []byte, lo0 uint16, w0 uint8, lo1 uint16, w1 uint8) {
		if !useAVX2 {
			t.Skip("no assembly kernels on this host")
		}
		n := len(raw) / 4
		va, vb := make([]uint16, n), make([]uint16, n)
		for i := range n {
			va[i], vb[i] = binary.LittleEndian.Uint16(raw[2*i:]), binary.LittleEndian.Uint16(raw[2*n+2*i:])
		}
		l0, l1 := uint32(lo0&0x7fff), uint32(lo1&0x7fff)
		h0, h1 := min(l0+uint32(w0%64), 0x7fff), min(l1+uint32(w1%64), 0x7fff)
		g0, g1 := make([]uint32, h0-l0+1), make([]uint32, h1-l1+1)
		ga0, ga1 := subCountWindowsBF16(g0, g1, va, vb, l0<<16, h0<<16, l1<<16, h1<<16)
		r0, r1 := make([]uint32, h0-l0+1), make([]uint32, h1-l1+1)
		wa0, wa1 := subCountWindowsBF16Generic(r0, r1, va, vb, l0<<16, h0<<16, l1<<16, h1<<16)
		if ga0 != wa0 || ga1 != wa1 || !slices.Equal(g0, r0) || !slices.Equal(g1, r1) {
			t.Fatalf("above %d %d, generic %d %d; or histograms differ", ga0, ga1, wa0, wa1)
		}
	})
}

// BenchmarkSubCountWindowsBF16 is breadcrumbs' window pass of one input
// on 1M stored bfloat16 elements, windows of 16 bfloat16 values around the
// 49th and 99th percentiles: the chain it replaces (the task vector into
// a block of 2048, then a CountAboveWindowShift per window) against the
// fused kernel.
func BenchmarkSubCountWindowsBF16(b *testing.B) {
	const block = 2048
	x, base, u := breadcrumbsInputs()
	n := len(u)
	win := func(v uint32) (uint32, uint32) { return v&^0xffff - 8<<16, v&^0xffff + 7<<16 }
	lo0, hi0 := win(u[n*49/100])
	lo1, hi1 := win(u[n*99/100])
	h0, h1 := make([]uint32, 16), make([]uint32, 16)
	d := make([]float32, block)
	b.Run("impl=chain", func(b *testing.B) {
		b.SetBytes(int64(2 * n))
		for b.Loop() {
			for off := 0; off < n; off += block {
				SubBF16Bytes(d, x[2*off:2*(off+block)], base[2*off:2*(off+block)])
				CountAboveWindowShift(h0, d, lo0, hi0, 16)
				CountAboveWindowShift(h1, d, lo1, hi1, 16)
			}
		}
	})
	b.Run("impl=fused", func(b *testing.B) {
		b.SetBytes(int64(2 * n))
		for b.Loop() {
			SubCountWindowsBF16(h0, h1, x, base, lo0, hi0, lo1, hi1)
		}
	})
}
