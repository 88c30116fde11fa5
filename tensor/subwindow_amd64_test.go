//go:build amd64 && gc && !purego

package tensor

import (
	"encoding/binary"
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
	})
}
