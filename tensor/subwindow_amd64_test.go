//go:build amd64 && gc && !purego

package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// FuzzSubCountAboveWindowBF16 checks the assembly against the Go
// reference on inputs and a window read from the fuzzer's bytes.
func FuzzSubCountAboveWindowBF16(f *testing.F) {
	f.Add([]byte("\x80\x3f\x00\x00\x80\x7f\x01\x00\x80\xbf\xc0\x7f\x00\x80\x10\x3c"+"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), uint32(0x3c000000), uint8(4))
	f.Fuzz(func(t *testing.T, raw []byte, lo uint32, width uint8) {
		if !useAVX2 || !useAVX512BW {
			t.Skip("no AVX-512 kernel on this host")
		}
		lo &= 1<<31 - 1<<16
		hi := min(lo+uint32(width%subWindowSlots)<<16+uint32(width)>>3, 1<<31-1)
		n := len(raw) / 4 &^ 15
		va, vb := make([]uint16, n), make([]uint16, n)
		for i := range n {
			va[i], vb[i] = binary.LittleEndian.Uint16(raw[2*i:]), binary.LittleEndian.Uint16(raw[2*n+2*i:])
		}
		var got, want subWindowCounts
		for s := range got {
			for l := range got[s] {
				got[s][l], want[s][l] = uint32(s+l), uint32(s+l)
			}
		}
		subCountWindowBF16AVX512(&got, va, vb, lo, hi)
		subCountWindowBF16Generic(&want, va, vb, lo, hi)
		if got != want {
			t.Fatalf("window [%#x, %#x]: %v, want %v", lo, hi, got, want)
		}
		// The dispatch (the VCVTNE2PS2BF16 kernel where the host has it)
		// against the Go blocks.
		gw, ww := make([]uint32, subWindowSlots), make([]uint32, subWindowSlots)
		ga := SubCountAboveWindowBF16(gw, raw[:2*n], raw[2*n:4*n], lo, hi)
		saved := useAVX2
		useAVX2 = false
		wa := SubCountAboveWindowBF16(ww, raw[:2*n], raw[2*n:4*n], lo, hi)
		useAVX2 = saved
		if ga != wa || !slices.Equal(gw, ww) {
			t.Fatalf("window [%#x, %#x]: dispatch %v above %d, want %v above %d", lo, hi, gw, ga, ww, wa)
		}
	})
}

// TestSubCountWindowCVT checks SubCountAboveWindowBF16 with the
// VCVTNE2PS2BF16 kernel against the AVX-512 kernel and the Go reference,
// on task vectors crowded on a few bfloat16 values (as fine-tunes' are)
// and salted with denormals, infinities, NaNs and zeros, for windows at
// and around the bound the kernel takes (cvtWindowMin) and up to the NaNs.
func TestSubCountWindowCVT(t *testing.T) {
	if !useAVX512BF16 {
		t.Skip("no AVX512_BF16 on this host")
	}
	r := rand.New(rand.NewPCG(1, 2))
	bf := func(v float32) uint16 { return uint16(math.Float32bits(RoundBF16(v)) >> 16) }
	special := []uint16{0x0000, 0x8000, 0x0001, 0x8001, 0x007f, 0x0080, 0x0081, 0x00ff, 0x7f80, 0xff80, 0x7fc0, 0x7f81, 0xffff, 0x7f7f}
	for _, n := range []int{0, 31, 32, 33, 1000, 4096 + 17, 32*65535 + 100, -1000, -5000} {
		// n < 0: -n elements whose task vector holds only the values
		// 0x3c00..0x3c04 (a full window's), for counters that fill up.
		crowded := n < 0
		n = max(n, -n)
		a, b := make([]uint16, n), make([]uint16, n)
		for i := range a {
			x := float32(r.NormFloat64() * 0.02)
			a[i], b[i] = bf(x), bf(x+float32(r.NormFloat64()*0.002))
			if crowded {
				a[i], b[i] = 0x3c00+uint16(r.IntN(5)*(i%2)), 0
				continue
			}
			switch r.IntN(50) {
			case 0:
				a[i] = special[r.IntN(len(special))]
			case 1:
				b[i] = special[r.IntN(len(special))]
			case 2: // a tiny difference: denormal or near the smallest normal
				a[i] = uint16(r.IntN(0x200)) | uint16(r.IntN(2))<<15
				b[i] = uint16(r.IntN(0x200))
			}
		}
		ab, bb := make([]byte, 2*n), make([]byte, 2*n)
		for i := range a {
			binary.LittleEndian.PutUint16(ab[2*i:], a[i])
			binary.LittleEndian.PutUint16(bb[2*i:], b[i])
		}
		los := []uint32{0x00010000, 0x007f0000, cvtWindowMin, 0x00810000, 0x3a000000, 0x3b800000, 0x3c000000, 0x7f7d0000, 0x7f7f0000, 0x7fbe0000, 0x7ffc0000}
		if n > 0 && !crowded {
			// windows on values the task vector holds
			for range 4 {
				j := r.IntN(n)
				d := math.Float32bits(RoundBF16(math.Float32frombits(uint32(a[j])<<16)-math.Float32frombits(uint32(b[j])<<16))) &^ (1 << 31)
				if d < 0x7f800000 {
					los = append(los, d&^0xffff-uint32(r.IntN(3))<<16)
				}
			}
		}
		if crowded {
			los = []uint32{0x3bff0000, 0x3c000000}
		}
		for _, lo := range los {
			for width := range uint32(subWindowSlots) {
				hi := lo + width<<16 + uint32(r.IntN(2))*0x1234
				run := func(cvt, avx512, avx2 bool) ([]uint32, int) {
					defer func(c, w, v bool) { useAVX512BF16, useAVX512BW, useAVX2 = c, w, v }(useAVX512BF16, useAVX512BW, useAVX2)
					useAVX512BF16, useAVX512BW, useAVX2 = cvt, avx512, avx2
					win := make([]uint32, width+1)
					win[0] = 7 // added to
					above := SubCountAboveWindowBF16(win, ab, bb, lo, hi)
					return win, above
				}
				got, gotAbove := run(true, true, true)
				wantWin, wantAbove := run(false, false, false)
				avxWin, avxAbove := run(false, true, true)
				if gotAbove != wantAbove || !slices.Equal(got, wantWin) || avxAbove != wantAbove || !slices.Equal(avxWin, wantWin) {
					t.Fatalf("n %d window [%#x, %#x]: cvt %v above %d, avx512 %v above %d, want %v above %d",
						n, lo, hi, got, gotAbove, avxWin, avxAbove, wantWin, wantAbove)
				}
			}
		}
	}
}
