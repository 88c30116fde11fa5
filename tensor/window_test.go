package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// windowRef is KeepMagnitudeWindow's documented loop, written out.
func windowRef(x []float32, vLo, vHi uint32, rLo, rHi, lo, hi int) (int, int) {
	for j, v := range x {
		u := math.Float32bits(v) &^ (1 << 31)
		var keep bool
		switch {
		case u == vLo:
			keep = lo <= rLo && rLo < hi
			rLo++
		case u == vHi:
			keep = lo <= rHi && rHi < hi
			rHi++
		default:
			keep = vLo < u && u < vHi
		}
		if !keep {
			x[j] = 0
		}
	}
	return rLo, rHi
}

// TestKeepMagnitudeWindow checks KeepMagnitudeWindow, with and without
// the assembly, against its documented loop: few distinct magnitudes (so
// that the boundaries have many ties), windows of one value, boundaries
// with the sign bit set, rank ranges cutting through the ties, odd
// lengths, and calls over consecutive pieces.
func TestKeepMagnitudeWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, n := range asmLengths {
		for trial := range 6 {
			x := make([]float32, n)
			for j := range x {
				x[j] = math.Float32frombits(uint32(r.IntN(6))<<20 | uint32(r.IntN(2))<<31)
			}
			vLo, vHi := uint32(r.IntN(6))<<20, uint32(r.IntN(6))<<20
			if vLo > vHi {
				vLo, vHi = vHi, vLo
			}
			if trial == 5 {
				vHi |= 1 << 31 // not a magnitude: the reference's compares hold
			}
			rLo, rHi := r.IntN(5), r.IntN(5)
			lo, hi := r.IntN(n/2+1), r.IntN(n+2)
			want := append([]float32(nil), x...)
			wLo, wHi := windowRef(want, vLo, vHi, rLo, rHi, lo, hi)
			for _, avx := range []bool{false, true} {
				saved := useAVX2
				useAVX2 = useAVX2 && avx
				got := shifted(x, n%8)
				cut := n / 3
				gLo, gHi := KeepMagnitudeWindow(got[:cut], vLo, vHi, rLo, rHi, lo, hi)
				gLo, gHi = KeepMagnitudeWindow(got[cut:], vLo, vHi, gLo, gHi, lo, hi)
				useAVX2 = saved
				if gLo != wLo || gHi != wHi || !sameBits(got, want) {
					t.Fatalf("n %d trial %d avx %v: counts %d %d, want %d %d; or elements differ", n, trial, avx, gLo, gHi, wLo, wHi)
				}
			}
		}
	}
}

// FuzzKeepMagnitudeWindowMatchGeneric checks the assembly against the Go
// reference on float32s read from the input, the boundaries taken from
// two of its elements.
func FuzzKeepMagnitudeWindowMatchGeneric(f *testing.F) {
	f.Add([]byte("\x00\x00\x80\x3f\x00\x00\x80\xbf\x00\x00\x00\x40\x00\x00\x80\x3f0123456789abcdef0123456789abcdef"), 3, 9)
	f.Fuzz(func(t *testing.T, b []byte, lo, hi int) {
		if !useAVX2 {
			t.Skip("no assembly kernels on this host")
		}
		n := len(b) / 4
		if n < 2 {
			return
		}
		x := make([]float32, n)
		for i := range n {
			x[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
		}
		vLo, vHi := math.Float32bits(x[0])&^(1<<31), math.Float32bits(x[1])&^(1<<31)
		if vLo > vHi {
			vLo, vHi = vHi, vLo
		}
		got, want := append([]float32(nil), x...), append([]float32(nil), x...)
		gLo, gHi := keepMagnitudeWindow(got, vLo, vHi, 0, 0, lo, hi)
		wLo, wHi := keepMagnitudeWindowGeneric(want, vLo, vHi, 0, 0, lo, hi)
		if gLo != wLo || gHi != wHi || !sameBits(got, want) {
			t.Fatalf("counts %d %d, generic %d %d; or elements differ", gLo, gHi, wLo, wHi)
		}
	})
}
