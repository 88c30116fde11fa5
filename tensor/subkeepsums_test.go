package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// subKeepSumsChain is SubKeepAbsSumsBF16 as the calls it replaces.
func subKeepSumsChain(all, kept *AbsSum, a, b []byte, draws []uint32, bound uint32) {
	d := make([]float32, len(draws))
	SubBF16Bytes(d, a, b)
	all.Add(d)
	KeepBelow(d, draws, bound)
	kept.Add(d)
}

// sameSum compares two sums bit for bit, any two NaNs alike.
func sameSum(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
		t.Fatalf("%s = %v (%#x), want %v (%#x)", name, got, math.Float64bits(got), want, math.Float64bits(want))
	}
}

// TestSubKeepAbsSumsBF16 checks the fused kernel, generic, AVX2 and
// AVX-512, aligned and not, against the chain of calls it replaces, for
// bounds that keep nothing, about half and nearly everything, over one
// part and over parts of multiples of 16 with a last part of any length.
func TestSubKeepAbsSumsBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	for _, n := range asmLengths {
		for _, off := range []int{0, 1} {
			a, b := bf16Bytes(r, n, off), bf16Bytes(r, n, off)
			if off == 0 && n%3 == 0 {
				// Values of very different sizes: the order of the
				// additions shows in the sums.
				for j := range n {
					v := float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(60)-30)))
					binary.LittleEndian.PutUint16(a[2*j:], uint16(math.Float32bits(v)>>16))
				}
			}
			draws := make([]uint32, n)
			for j := range draws {
				draws[j] = r.Uint32()
			}
			for _, bound := range []uint32{0, 1 << 31, math.MaxUint32} {
				for j := 5; j < n; j += 13 {
					draws[j] = bound // draw == bound drops
				}
				for _, parts := range [][]int{{n}, {16 * (n / 32), n - 16*(n/32)}, {0, 16 * (n / 16), n % 16}} {
					for _, impl := range fusedImpls {
						restore := impl.use()
						// The chain in the same mode: SumAbs adds in
						// lanes with AVX2 and in order without.
						var wantAll, wantKept AbsSum
						lo := 0
						for _, p := range parts {
							subKeepSumsChain(&wantAll, &wantKept, a[2*lo:2*(lo+p)], b[2*lo:2*(lo+p)], draws[lo:lo+p], bound)
							lo += p
						}
						var all, kept AbsSum
						lo = 0
						for _, p := range parts {
							SubKeepAbsSumsBF16(&all, &kept, a[2*lo:2*(lo+p)], b[2*lo:2*(lo+p)], draws[lo:lo+p], bound)
							lo += p
						}
						sameSum(t, impl.name+" all", all.Sum(), wantAll.Sum())
						sameSum(t, impl.name+" kept", kept.Sum(), wantKept.Sum())
						restore()
					}
				}
			}
		}
	}
}

// TestSubKeepAbsSumsBF16MatchesSumAbs checks the sums against SumAbs of
// the task vector before and after the drop, over a whole 4099-element
// vector in one part, the way DARE's analysis used them.
func TestSubKeepAbsSumsBF16MatchesSumAbs(t *testing.T) {
	r := rand.New(rand.NewPCG(73, 74))
	const n = 4099
	a, b := bf16Bytes(r, n, 0), bf16Bytes(r, n, 0)
	draws := make([]uint32, n)
	for j := range draws {
		draws[j] = r.Uint32()
	}
	d := make([]float32, n)
	SubBF16Bytes(d, a, b)
	wantAll := SumAbs(d)
	KeepBelow(d, draws, 1<<31)
	wantKept := SumAbs(d)
	var all, kept AbsSum
	SubKeepAbsSumsBF16(&all, &kept, a, b, draws, 1<<31)
	sameSum(t, "all", all.Sum(), wantAll)
	sameSum(t, "kept", kept.Sum(), wantKept)
}

// FuzzSubKeepAbsSumsBF16 checks the assembly against the Go reference on
// inputs, draws and bound read from the fuzzer's bytes, starting from
// lanes that are not zero.
func FuzzSubKeepAbsSumsBF16(f *testing.F) {
	f.Add([]byte("\x80\x3f\x00\x00\x80\x7f\x01\x00\x80\xbf\xc0\x7f\x00\x80\x10\x3c"+"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), uint32(1<<31))
	f.Fuzz(func(t *testing.T, raw []byte, bound uint32) {
		if !useAVX2 || !useAVX512BW {
			t.Skip("no AVX-512 kernel on this host")
		}
		n := len(raw) / 4 &^ 15
		va, vb, draws := make([]uint16, n), make([]uint16, n), make([]uint32, n)
		for i := range n {
			va[i], vb[i] = binary.LittleEndian.Uint16(raw[2*i:]), binary.LittleEndian.Uint16(raw[2*n+2*i:])
			draws[i] = binary.LittleEndian.Uint32(raw[4*i:]) * 0x9e3779b9
		}
		var gotAll, gotKept, wantAll, wantKept [16]float64
		for l := range gotAll {
			gotAll[l], wantAll[l] = float64(l), float64(l)
			gotKept[l], wantKept[l] = float64(2*l), float64(2*l)
		}
		if m := subKeepAbsSums(&gotAll, &gotKept, va, vb, draws, bound); m != n {
			t.Fatalf("did %d of %d", m, n)
		}
		subKeepAbsSumsBF16Generic(&wantAll, &wantKept, va, vb, draws, bound)
		for l := range gotAll {
			sameSum(t, "all lane", gotAll[l], wantAll[l])
			sameSum(t, "kept lane", gotKept[l], wantKept[l])
		}
	})
}
