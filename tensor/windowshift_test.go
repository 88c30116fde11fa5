package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// windowShiftSpec is CountAboveWindowShift's doc comment, literally.
func windowShiftSpec(hist []uint32, x []float32, lo, hi uint32, shift uint) int {
	n := 0
	for _, v := range x {
		u := math.Float32bits(v) &^ (1 << 31)
		switch {
		case u > hi:
			n++
		case u >= lo:
			hist[(u-lo)>>shift]++
		}
	}
	return n
}

// TestCountAboveWindowShift checks CountAboveWindowShift, with and without
// the assembly, against its documented loop on CountAboveWindow's windows
// and on windows of bfloat16 values, with shifts that give one counter
// per value, per bfloat16 value, per several and one for the whole
// window; counts add to what hist holds, and counters past the window
// stay as they are.
func TestCountAboveWindowShift(t *testing.T) {
	bf16 := [][2]uint32{{0x3a00 << 16, 0x3a3f << 16}, {0, 9 << 16}, {0x3c23 << 16, 0x3c23 << 16}, {0x7f70 << 16, 0x7f80 << 16}}
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(91, 92))
		for _, w := range append(slices.Clone(windows), bf16...) {
			lo, hi := w[0], w[1]
			for _, shift := range []uint{0, 3, 16, 31} {
				for _, n := range append(asmLengths, 1<<16+5) {
					every := 3
					if n > 4000 {
						every = 1 // the assembly's buffer of window elements filled
					}
					x := shifted(windowFloats(r, n, lo, hi, every), n%8)
					if lo&0xffff == 0 {
						Round(BF16, x) // values on the window's grid too
					}
					size := int((hi-lo)>>shift) + 1
					got, want := make([]uint32, size+5), make([]uint32, size+5)
					got[0], want[0] = 7, 7
					c := CountAboveWindowShift(got, x, lo, hi, shift)
					wantC := windowShiftSpec(want, x, lo, hi, shift)
					if c != wantC || !slices.Equal(got, want) {
						t.Fatalf("[%#x, %#x] >> %d, n %d: %d above, want %d; or histograms differ", lo, hi, shift, n, c, wantC)
					}
				}
			}
		}
	})
}

func TestCountAboveWindowShiftPanics(t *testing.T) {
	for _, c := range []struct {
		name   string
		size   int
		lo, hi uint32
		shift  uint
	}{
		{"lo above hi", 10, 5, 4, 0},
		{"hist of (hi-lo)>>shift counters", 2, 0, 2 << 16, 16},
		{"empty hist", 0, 0, 0, 16},
		{"shift 32", 1, 0, 0, 32},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("CountAboveWindowShift(%d counters, lo %#x, hi %#x, shift %d) did not panic", c.size, c.lo, c.hi, c.shift)
				}
			}()
			CountAboveWindowShift(make([]uint32, c.size), []float32{1}, c.lo, c.hi, c.shift)
		})
	}
}

// FuzzCountAboveWindowShift reads float32s from the input and checks the
// assembly against the Go reference for the window [lo, lo+width] and the
// shift the fuzzer picks.
func FuzzCountAboveWindowShift(f *testing.F) {
	f.Add([]byte{0, 0, 0x23, 0x3c, 0, 0, 0x24, 0x3c, 0, 0, 0x80, 0x7f}, uint32(0x3c230000), uint32(3<<16), uint8(16))
	f.Add(make([]byte, 4*33), uint32(0), uint32(0), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, lo, width uint32, shift uint8) {
		withAsm(t)
		x := make([]float32, len(b)/4)
		for i := range x {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		hi := lo + min(width, math.MaxUint32-lo)
		s := uint(shift % 32)
		size := int(min((hi-lo)>>s, 1<<20)) + 1
		if uint64(size) <= uint64((hi-lo)>>s) {
			return // a histogram too large to try
		}
		got, want := make([]uint32, size), make([]uint32, size)
		c := countAboveWindowShift(got, x, lo, hi, s)
		wantC := countAboveWindowShiftGeneric(want, x, lo, hi, s)
		if c != wantC || !slices.Equal(got, want) {
			t.Fatalf("[%#x, %#x] >> %d: %d above, want %d; or histograms differ", lo, hi, s, c, wantC)
		}
	})
}

// BenchmarkCountAboveWindowShift measures CountAboveWindowShift at shift
// 16 on windowWeights, its window widened to bfloat16 values: the data
// and window of BenchmarkCountAboveWindow.
func BenchmarkCountAboveWindowShift(b *testing.B) {
	benchMagnitude(b, func(b *testing.B, n int) func() {
		x, lo, hi := windowWeights(n)
		lo, hi = lo&^0xffff, hi&^0xffff
		hist := make([]uint32, (hi-lo)>>16+1)
		op := func() { sink += float64(CountAboveWindowShift(hist, x, lo, hi, 16)) }
		op()
		return op
	})
}
