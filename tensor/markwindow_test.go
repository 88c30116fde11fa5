package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// markWindowChain is MarkWindow as the calls it replaces.
func markWindowChain(over, inside []uint64, x []float32, lo, hi uint32) {
	MarkAbove(over, x, hi)
	if lo == 0 {
		for w := range (len(x) + 63) / 64 {
			inside[w] = ^uint64(0) >> (64 - min(64, len(x)-w*64))
		}
	} else {
		MarkAbove(inside, x, lo-1)
	}
	for w := range (len(x) + 63) / 64 {
		inside[w] &^= over[w]
	}
}

// TestMarkWindow checks MarkWindow, generic and AVX-512, against the chain
// of calls it replaces: every length up to 70 and a few blocks, windows at
// 0, of one value, wide, and at the top of the range, magnitudes of both
// signs with zeros, infinities and NaNs, over words that hold stale bits.
func TestMarkWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(101, 102))
	one := math.Float32bits(1)
	windows := [][2]uint32{{0, 0}, {0, one}, {one, one}, {one - 3<<16, one + 2<<16}, {0x7f800000, math.MaxUint32 >> 1}, {1, math.MaxUint32}}
	for _, n := range append(asmLengths, 128, 1000, 2048) {
		x := make([]float32, n)
		for j := range x {
			x[j] = RoundBF16(float32(r.NormFloat64()))
			switch r.IntN(10) {
			case 0:
				x[j] = 0
			case 1:
				x[j] = float32(math.Inf(1 - 2*r.IntN(2)))
			case 2:
				x[j] = float32(math.NaN())
			case 3:
				x[j] = -1
			}
		}
		for _, win := range windows {
			words := (n + 63) / 64
			wantOver, wantInside := make([]uint64, words), make([]uint64, words)
			markWindowChain(wantOver, wantInside, x, win[0], win[1])
			for _, impl := range fusedImpls {
				name := fmt.Sprintf("%s n %d window %#x", impl.name, n, win)
				over, inside := make([]uint64, words), make([]uint64, words)
				for w := range over {
					over[w], inside[w] = r.Uint64(), r.Uint64()
				}
				restore := impl.use()
				MarkWindow(over, inside, x, win[0], win[1])
				restore()
				if !slices.Equal(over, wantOver) || !slices.Equal(inside, wantInside) {
					t.Fatalf("%s: over %#x inside %#x, want %#x and %#x", name, over, inside, wantOver, wantInside)
				}
			}
		}
	}
}

// FuzzMarkWindow checks the assembly against the Go reference on values
// and a window read from the fuzzer's bytes.
func FuzzMarkWindow(f *testing.F) {
	f.Add([]byte("\x00\x00\x80\x3f\x00\x00\x80\x7f\x01\x00\x80\xbf\x00\x00\xc0\x7f"+"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), uint32(0x3f000000), uint32(0x3f800000))
	f.Fuzz(func(t *testing.T, raw []byte, lo, hi uint32) {
		if !useAVX2 || !useAVX512BW {
			t.Skip("no AVX-512 kernel on this host")
		}
		lo, hi = min(lo, hi), max(lo, hi)
		n := len(raw) / 4
		x := make([]float32, n)
		for j := range x {
			x[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		words := (n + 63) / 64
		over, inside := make([]uint64, words), make([]uint64, words)
		wantOver, wantInside := make([]uint64, words), make([]uint64, words)
		w := markWindow(over, inside, x, lo, hi)
		if w != n/64 {
			t.Fatalf("marked %d words of %d", w, n/64)
		}
		markWindowGeneric(wantOver[:w], wantInside[:w], x[:w*64], lo, hi)
		if !slices.Equal(over[:w], wantOver[:w]) || !slices.Equal(inside[:w], wantInside[:w]) {
			t.Fatalf("over %#x inside %#x, want %#x and %#x", over[:w], inside[:w], wantOver[:w], wantInside[:w])
		}
	})
}
