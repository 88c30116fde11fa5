package tensor

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// rankKeepCase builds a row of n bfloat16 values drawn from distinct
// magnitudes (either sign), next as the exclusive prefix sums of their
// keys' histogram, random draws and random limits for every rank.
func rankKeepCase(r *rand.Rand, n int, distinct uint32) (x []float32, draws []uint32, next *[BF16Keys]int32, limits []uint32) {
	x = make([]float32, n)
	for j := range x {
		x[j] = math.Float32frombits((r.Uint32()%distinct)<<16 | r.Uint32()&1<<31)
	}
	next = new([BF16Keys]int32)
	for _, v := range x {
		next[math.Float32bits(v)>>16&(BF16Keys-1)]++
	}
	var sum int32
	for k, c := range next {
		next[k], sum = sum, sum+c
	}
	draws, limits = make([]uint32, n), make([]uint32, n)
	for j := range draws {
		draws[j], limits[j] = r.Uint32(), r.Uint32()
	}
	return x, draws, next, limits
}

// TestRankKeep checks RankKeep, with and without AVX-512, against its
// documented loop: few keys (many equal keys in one vector of 16), many
// keys, odd lengths, and the next table it leaves.
func TestRankKeep(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, n := range append(asmLengths, 2048, 5000) {
		for _, distinct := range []uint32{1, 3, 40, 1 << 15} {
			x, draws, next, limits := rankKeepCase(r, n, distinct)
			want, wantNext, wantKeep := slices.Clone(x), *next, make([]uint16, (n+15)/16)
			for j := range want {
				u := math.Float32bits(want[j])
				k := u >> 16 & (BF16Keys - 1)
				rank := wantNext[k]
				wantNext[k]++
				if draws[j] <= limits[rank] {
					wantKeep[j/16] |= 1 << (j % 16)
				} else {
					want[j] = 0
				}
			}
			for _, simd := range []bool{false, true} {
				saved := useRankKeepAVX512
				useRankKeepAVX512 = useRankKeepAVX512 && simd
				got, gotNext, keep := shifted(x, n%16), *next, make([]uint16, len(wantKeep))
				RankKeep(got, draws, &gotNext, limits, keep)
				useRankKeepAVX512 = saved
				if !sameBits(got, want) || gotNext != wantNext || !slices.Equal(keep, wantKeep) {
					t.Fatalf("n %d distinct %d simd %v: elements, next table or keep bits differ", n, distinct, simd)
				}
			}
		}
	}
}

// FuzzRankKeepMatchGeneric checks the AVX-512 body against the Go
// reference on keys, draws and limits read from the input.
func FuzzRankKeepMatchGeneric(f *testing.F) {
	f.Add([]byte("\x00\x00\x80\x3f\x00\x00\x80\xbf\x00\x00\x00\x40\x00\x00\x80\x3f0123456789abcdef0123456789abcdef"), uint8(5))
	f.Fuzz(func(t *testing.T, b []byte, distinct uint8) {
		if !useRankKeepAVX512 {
			t.Skip("no AVX-512 rank kernel on this host")
		}
		n := len(b) / 2
		if n == 0 {
			return
		}
		d := uint32(distinct)%64 + 1
		x := make([]float32, n)
		next := new([BF16Keys]int32)
		for j := range x {
			x[j] = math.Float32frombits((uint32(b[2*j])%d)<<16 | uint32(b[2*j+1])<<31)
			next[math.Float32bits(x[j])>>16&(BF16Keys-1)]++
		}
		var sum int32
		for k, c := range next {
			next[k], sum = sum, sum+c
		}
		draws, limits := make([]uint32, n), make([]uint32, n)
		for j := range draws {
			draws[j] = uint32(b[(2*j+1)%len(b)]) << 24
			limits[j] = uint32(b[(3*j)%len(b)]) << 24
		}
		got, want := slices.Clone(x), slices.Clone(x)
		gNext, wNext := *next, *next
		gKeep, wKeep := make([]uint16, (n+15)/16), make([]uint16, (n+15)/16)
		rankKeep(got, draws, &gNext, limits, gKeep)
		rankKeepGeneric(want, draws, &wNext, limits, wKeep)
		if !sameBits(got, want) || gNext != wNext || !slices.Equal(gKeep, wKeep) {
			t.Fatal("AVX-512 and Go reference differ")
		}
	})
}
