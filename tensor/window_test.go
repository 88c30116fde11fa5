package tensor

import (
	"math"
	"math/rand/v2"
	"slices"
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

// BenchmarkKeepMagnitudeWindow prunes task vectors of bfloat16 weights
// (a fine-tune minus its base, both rounded, so the magnitudes crowd on
// few values and many equal a boundary) to the ranks between the 49th and
// 99th percentiles, as breadcrumbs' Merge does: in blocks of 2048 copied
// into a buffer that stays in the L1 cache, over 1M elements so that the
// branch predictor cannot learn the data. The copies are part of the op.
func BenchmarkKeepMagnitudeWindow(b *testing.B) {
	const n, block = 1 << 20, 2048
	base := append([]float32(nil), weights(n)...)
	Round(BF16, base)
	ft := append([]float32(nil), weights2(n)...)
	Scale(ft, 0.05) // 1.4% of the elements equal the lower boundary, 0.2% the upper
	Add(ft, base)
	Round(BF16, ft)
	x := make([]float32, n)
	SubRound(BF16, x, ft, base)
	u := make([]uint32, n)
	for i, v := range x {
		u[i] = magnitudeBits(v)
	}
	slices.Sort(u)
	vLo, vHi := u[n*49/100], u[n*99/100]
	below := func(v uint32) int { i, _ := slices.BinarySearch(u, v); return i }
	lo, hi := n*49/100, n*99/100
	buf := make([]float32, block)
	for _, impl := range []struct {
		name string
		asm  bool
	}{{"generic", false}, {"avx2", true}} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			if impl.asm && !useAVX2 {
				b.Skip("no AVX2")
			}
			saved := useAVX2
			useAVX2 = impl.asm
			defer func() { useAVX2 = saved }()
			b.SetBytes(4 * n)
			for b.Loop() {
				rLo, rHi := below(vLo), below(vHi)
				for off := 0; off < n; off += block {
					copy(buf, x[off:off+block])
					rLo, rHi = KeepMagnitudeWindow(buf, vLo, vHi, rLo, rHi, lo, hi)
				}
			}
		})
	}
}
