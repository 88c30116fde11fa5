package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// subVarianceChain is SubVarianceBF16 as the calls it replaces.
func subVarianceChain(v []float32, tvs [][]float32, xs [][]byte, base []byte, mins []uint32) int {
	for i, x := range xs {
		SubBF16Bytes(tvs[i], x, base)
	}
	nz := Variance(BF16, v, tvs)
	for i, tv := range tvs {
		mins[i] = min(mins[i], MinMagnitude(tv)-1)
	}
	return nz
}

// TestSubVarianceBF16 checks the fused kernel, generic and AVX-512 (with
// AVX2 alone it is the generic), against the chain of calls it replaces:
// lengths around the 16 lanes, one to six inputs (powers of two multiply,
// the others divide) and more than the AVX-512 body takes, aligned bytes
// and not, inputs equal to the base (τ and variances of 0), with
// infinities and NaNs, from minima already low and not.
func TestSubVarianceBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(91, 92))
	for _, n := range append(asmLengths, 1000, 2048) {
		for _, k := range []int{1, 2, 3, 4, 5, 6, 33} {
			if k == 33 && n > 100 {
				continue
			}
			for _, off := range []int{0, 1} {
				base := bf16Bytes(r, n, off)
				xs := make([][]byte, k)
				for i := range xs {
					xs[i] = bf16Bytes(r, n, off)
					for j := range n {
						if r.IntN(3) == 0 {
							copy(xs[i][2*j:2*j+2], base[2*j:2*j+2])
						}
					}
				}
				start := make([]uint32, k)
				for i := range start {
					start[i] = math.MaxUint32
					if i%2 == 1 {
						start[i] = 0x3c000000
					}
				}
				want, wantTvs, wantMins := make([]float32, n), make([][]float32, k), slices.Clone(start)
				for i := range wantTvs {
					wantTvs[i] = make([]float32, n)
				}
				wantNZ := subVarianceChain(want, wantTvs, xs, base, wantMins)
				for _, impl := range fusedImpls {
					name := fmt.Sprintf("%s n %d k %d off %d", impl.name, n, k, off)
					restore := impl.use()
					got, tvs, mins := make([]float32, n), make([][]float32, k), slices.Clone(start)
					for i := range tvs {
						tvs[i] = make([]float32, n)
					}
					nz := SubVarianceBF16(got, tvs, xs, base, mins)
					restore()
					if nz != wantNZ {
						t.Fatalf("%s: %d non-zero, want %d", name, nz, wantNZ)
					}
					sameOrBothNaN(t, name+" v", got, want)
					for i := range tvs {
						sameOrBothNaN(t, name+" tv", tvs[i], wantTvs[i])
					}
					if !slices.Equal(mins, wantMins) {
						t.Fatalf("%s: mins %#x, want %#x", name, mins, wantMins)
					}
				}
			}
		}
	}
}

// FuzzSubVarianceBF16 checks the assembly against the Go reference on
// inputs read from the fuzzer's bytes.
func FuzzSubVarianceBF16(f *testing.F) {
	f.Add([]byte("\x80\x3f\x00\x00\x80\x7f\x01\x00\x80\xbf\xc0\x7f\x00\x80\x10\x3c"+"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), uint8(2))
	f.Fuzz(func(t *testing.T, raw []byte, k uint8) {
		if !useAVX2 || !useAVX512BW {
			t.Skip("no AVX-512 kernel on this host")
		}
		inputs := 1 + int(k)%6
		n := len(raw) / (2 * (inputs + 1)) &^ 15
		if n == 0 {
			return
		}
		base := raw[:2*n]
		xs := make([][]byte, inputs)
		got, want := make([][]float32, inputs), make([][]float32, inputs)
		gotMins, wantMins := make([]uint32, inputs), make([]uint32, inputs)
		for i := range xs {
			xs[i] = raw[2*n*(i+1) : 2*n*(i+2)]
			got[i], want[i] = make([]float32, n), make([]float32, n)
			gotMins[i], wantMins[i] = math.MaxUint32, math.MaxUint32
		}
		gv, wv := make([]float32, n), make([]float32, n)
		m, gnz := subVariance(gv, got, xs, base, gotMins)
		if m != n {
			t.Fatalf("did %d of %d", m, n)
		}
		wnz := subVarianceBF16Generic(wv, want, xs, base, wantMins, 0)
		if gnz != wnz {
			t.Fatalf("%d non-zero, want %d", gnz, wnz)
		}
		sameOrBothNaN(t, "v", gv, wv)
		for i := range got {
			sameOrBothNaN(t, "tv", got[i], want[i])
		}
		if !slices.Equal(gotMins, wantMins) {
			t.Fatalf("mins %#x, want %#x", gotMins, wantMins)
		}
	})
}
