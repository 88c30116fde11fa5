package tensor

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// bf16Row returns n bfloat16 values drawn from distinct magnitudes
// starting at key first (either sign).
func bf16Row(r *rand.Rand, n int, first, distinct uint32) []float32 {
	x := make([]float32, n)
	for j := range x {
		x[j] = math.Float32frombits((first+r.Uint32()%distinct)%BF16Keys<<16 | r.Uint32()&1<<31)
	}
	return x
}

// countScan runs CountKeys and ScanKeys over x the way a caller ranks a
// row: key 0's block, then the aligned span of the other keys present.
func countScan(x []float32, hist, prefix *[BF16Keys]int32) {
	_, lo, hi := CountKeys(x, hist)
	sum := ScanKeys(hist, prefix, 0, 16, 0)
	if lo <= hi {
		ScanKeys(hist, prefix, max(lo&^15, 16), hi&^15+16, sum)
	}
}

// TestCountKeys checks CountKeys, with its AVX-512, AVX2 and Go key span
// passes, against its documented loop: the histogram, the bits and the
// key span, with and
// without key 0 and a histogram that does not start empty.
func TestCountKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(53, 54))
	for _, n := range []int{0, 1, 2, 3, 4, 5, 8, 9, 16, 17, 31, 300, 2048} {
		for _, first := range []uint32{0, 1, 100, BF16Keys - 3} {
			for _, distinct := range []uint32{1, 3, 40, 1 << 15} {
				x := bf16Row(r, n, first, distinct)
				if n > 2 && distinct == 40 {
					x[1] = math.Float32frombits(math.Float32bits(x[1]) | 0x100) // low bits
				}
				var hist [BF16Keys]int32
				hist[first] = 7
				want := hist
				var wantBits uint32
				wantLo, wantHi := BF16Keys, 0
				for _, v := range x {
					u := math.Float32bits(v)
					wantBits |= u
					k := u >> 16 & (BF16Keys - 1)
					want[k]++
					if k != 0 {
						wantLo = min(wantLo, int(k))
					}
					wantHi = max(wantHi, int(k))
				}
				for _, simd := range [][2]bool{{false, false}, {true, false}, {true, true}} {
					saved, savedAVX2 := useRankKeepAVX512, useAVX2
					useAVX2, useRankKeepAVX512 = useAVX2 && simd[0], useRankKeepAVX512 && simd[1]
					h := hist
					bits, lo, hi := CountKeys(x, &h)
					useRankKeepAVX512, useAVX2 = saved, savedAVX2
					if h != want || bits != wantBits || lo != wantLo || hi != wantHi {
						t.Fatalf("n %d first %d distinct %d AVX2, AVX-512 %v: bits %x span [%d, %d], want %x [%d, %d]; or counts differ", n, first, distinct, simd, bits, lo, hi, wantBits, wantLo, wantHi)
					}
				}
			}
		}
	}
}

// TestScanKeys checks ScanKeys, with and without AVX-512, against its
// documented loop on spans of every alignment class and both table ends,
// and that it panics on spans not aligned to 16 keys.
func TestScanKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(55, 56))
	for _, span := range [][2]int{{0, 0}, {0, 16}, {16, 32}, {0, 48}, {160, 1440}, {BF16Keys - 64, BF16Keys}, {0, BF16Keys}} {
		var hist, prefix [BF16Keys]int32
		for k := range hist {
			if r.IntN(3) == 0 {
				hist[k] = int32(r.IntN(100))
			}
			prefix[k] = -1
		}
		sum0 := int32(r.IntN(1000))
		wantHist, wantPrefix, sum := hist, prefix, sum0
		for k := span[0]; k < span[1]; k++ {
			wantPrefix[k] = sum
			sum += wantHist[k]
			wantHist[k] = 0
		}
		for _, simd := range []bool{false, true} {
			saved := useRankKeepAVX512
			useRankKeepAVX512 = useRankKeepAVX512 && simd
			h, p := hist, prefix
			got := ScanKeys(&h, &p, span[0], span[1], sum0)
			useRankKeepAVX512 = saved
			if got != sum || h != wantHist || p != wantPrefix {
				t.Fatalf("span %v simd %v: total %d, want %d; or tables differ", span, simd, got, sum)
			}
		}
	}
	for _, span := range [][2]int{{1, 16}, {0, 15}, {16, 0}, {-16, 0}, {0, BF16Keys + 16}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("span %v: no panic", span)
				}
			}()
			var hist, prefix [BF16Keys]int32
			ScanKeys(&hist, &prefix, span[0], span[1], 0)
		}()
	}
}

// TestRankKeep checks CountKeys, ScanKeys and RankKeep, with and without
// AVX-512, against a stable sort by magnitude: few keys (many equal keys
// in one vector of 16), many keys, keys near 0 and near the table's end,
// odd lengths, and that the histogram is left empty.
func TestRankKeep(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, n := range append(asmLengths, 2048, 5000) {
		for _, first := range []uint32{0, 5, 0x3a00, BF16Keys - 20} {
			for _, distinct := range []uint32{1, 3, 40, 1 << 15} {
				x := bf16Row(r, n, first, distinct)
				order := make([]int, n)
				for k := range order {
					order[k] = k
				}
				sort.SliceStable(order, func(a, b int) bool {
					return math.Float32bits(x[order[a]])&0x7fffffff < math.Float32bits(x[order[b]])&0x7fffffff
				})
				draws, limits := make([]uint32, n), make([]uint32, n)
				for j := range draws {
					draws[j], limits[j] = r.Uint32(), r.Uint32()
				}
				want, wantKeep := slices.Clone(x), make([]uint16, (n+15)/16)
				for rank, j := range order {
					if draws[j] <= limits[rank] {
						wantKeep[j/16] |= 1 << (j % 16)
					} else {
						want[j] = 0
					}
				}
				for _, simd := range []bool{false, true} {
					saved := useRankKeepAVX512
					useRankKeepAVX512 = useRankKeepAVX512 && simd
					var hist, prefix [BF16Keys]int32
					got, keep := shifted(x, n%16), make([]uint16, len(wantKeep))
					countScan(got, &hist, &prefix)
					RankKeep(got, draws, &prefix, limits, keep)
					useRankKeepAVX512 = saved
					if !sameBits(got, want) || hist != ([BF16Keys]int32{}) || !slices.Equal(keep, wantKeep) {
						t.Fatalf("n %d first %d distinct %d simd %v: elements, histogram or keep bits differ", n, first, distinct, simd)
					}
				}
			}
		}
	}
}

// TestRankKeepAbsSum checks RankKeepAbsSum, with and without AVX-512,
// against RankKeep followed by AbsSum.Add: the elements, keep bits, next
// table and the sum's lanes, after no part and after one of 48 elements,
// for lengths with and without a tail; and that it panics after a part
// that is not a multiple of 16.
func TestRankKeepAbsSum(t *testing.T) {
	r := rand.New(rand.NewPCG(57, 58))
	for _, n := range append(asmLengths, 2048, 5000) {
		for _, first := range []uint32{0, 0x3a00, BF16Keys - 20} {
			for _, distinct := range []uint32{1, 40, 1 << 15} {
				for _, before := range []int{0, 48} {
					x := bf16Row(r, n, first, distinct)
					draws, limits := make([]uint32, n), make([]uint32, n)
					for j := range draws {
						draws[j], limits[j] = r.Uint32(), r.Uint32()
					}
					var hist, prefix [BF16Keys]int32
					countScan(x, &hist, &prefix)
					var sum0 AbsSum
					sum0.Add(bf16Row(r, before, 0x3c00, 300))
					want, wantKeep, wantNext, wantSum := slices.Clone(x), make([]uint16, (n+15)/16), prefix, sum0
					RankKeep(want, draws, &wantNext, limits, wantKeep)
					wantSum.Add(want)
					for _, simd := range []bool{false, true} {
						saved := useRankKeepAVX512
						useRankKeepAVX512 = useRankKeepAVX512 && simd
						got, keep, next, sum := shifted(x, n%16), make([]uint16, len(wantKeep)), prefix, sum0
						RankKeepAbsSum(got, draws, &next, limits, keep, &sum)
						useRankKeepAVX512 = saved
						if !sameBits(got, want) || next != wantNext || !slices.Equal(keep, wantKeep) || !sameAbsSum(sum, wantSum) {
							t.Fatalf("n %d first %d distinct %d before %d simd %v: elements, next, keep bits or sums differ (%v, want %v)", n, first, distinct, before, simd, sum.Sum(), wantSum.Sum())
						}
					}
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("no panic after a part of 17 elements")
		}
	}()
	var sum AbsSum
	sum.Add(make([]float32, 17))
	var next [BF16Keys]int32
	RankKeepAbsSum(make([]float32, 16), make([]uint32, 16), &next, make([]uint32, 16), make([]uint16, 1), &sum)
}

// TestRankKeepAbsSums checks RankKeepAbsSums, with and without AVX-512,
// against AbsSum.Add, RankKeep and AbsSum.Add again: the elements, keep
// bits, next table and both sums' lanes, after no part and after one of
// 48 elements (different for the two sums), for lengths with and without
// a tail; and that it panics after a part of either sum that is not a
// multiple of 16.
func TestRankKeepAbsSums(t *testing.T) {
	r := rand.New(rand.NewPCG(67, 68))
	for _, n := range append(asmLengths, 2048, 5000) {
		for _, first := range []uint32{0, 0x3a00, BF16Keys - 20} {
			for _, distinct := range []uint32{1, 40, 1 << 15} {
				for _, before := range []int{0, 48} {
					x := bf16Row(r, n, first, distinct)
					draws, limits := make([]uint32, n), make([]uint32, n)
					for j := range draws {
						draws[j], limits[j] = r.Uint32(), r.Uint32()
					}
					var hist, prefix [BF16Keys]int32
					countScan(x, &hist, &prefix)
					var all0, kept0 AbsSum
					all0.Add(bf16Row(r, before, 0x3c00, 300))
					kept0.Add(bf16Row(r, before, 0x3b00, 300))
					want, wantKeep, wantNext, wantAll, wantKept := slices.Clone(x), make([]uint16, (n+15)/16), prefix, all0, kept0
					wantAll.Add(want)
					RankKeep(want, draws, &wantNext, limits, wantKeep)
					wantKept.Add(want)
					for _, simd := range []bool{false, true} {
						saved := useRankKeepAVX512
						useRankKeepAVX512 = useRankKeepAVX512 && simd
						got, keep, next, all, kept := shifted(x, n%16), make([]uint16, len(wantKeep)), prefix, all0, kept0
						RankKeepAbsSums(got, draws, &next, limits, keep, &all, &kept)
						useRankKeepAVX512 = saved
						if !sameBits(got, want) || next != wantNext || !slices.Equal(keep, wantKeep) || !sameAbsSum(all, wantAll) || !sameAbsSum(kept, wantKept) {
							t.Fatalf("n %d first %d distinct %d before %d simd %v: elements, next, keep bits or sums differ (%v, %v, want %v, %v)", n, first, distinct, before, simd, all.Sum(), kept.Sum(), wantAll.Sum(), wantKept.Sum())
						}
					}
				}
			}
		}
	}
	for _, oddAll := range []bool{false, true} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("odd all %v: no panic after a part of 17 elements", oddAll)
				}
			}()
			var all, kept AbsSum
			if oddAll {
				all.Add(make([]float32, 17))
			} else {
				kept.Add(make([]float32, 17))
			}
			var next [BF16Keys]int32
			RankKeepAbsSums(make([]float32, 16), make([]uint32, 16), &next, make([]uint32, 16), make([]uint16, 1), &all, &kept)
		}()
	}
}

// FuzzRankKeepMatchGeneric checks the assembly count, AVX-512 walks
// (RankKeep's, RankKeepAbsSum's) and scan against the Go reference on
// keys, draws and limits read from the input.
func FuzzRankKeepMatchGeneric(f *testing.F) {
	f.Add([]byte("\x00\x00\x80\x3f\x00\x00\x80\xbf\x00\x00\x00\x40\x00\x00\x80\x3f0123456789abcdef0123456789abcdef"), uint8(5), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, distinct uint8, first uint16) {
		if !useRankKeepAVX512 {
			t.Skip("no AVX-512 rank kernel on this host")
		}
		n := len(b) / 2
		if n == 0 {
			return
		}
		d := uint32(distinct)%64 + 1
		x := make([]float32, n)
		for j := range x {
			x[j] = math.Float32frombits((uint32(first)+uint32(b[2*j])%d)%BF16Keys<<16 | uint32(b[2*j+1])<<31)
		}
		var hist, wHist0 [BF16Keys]int32
		bits, lo, hi := countKeys(x, &hist)
		wBits, wLo, wHi := countKeysGeneric(x, &wHist0)
		if bits != wBits || lo != wLo || hi != wHi || hist != wHist0 {
			t.Fatal("assembly and Go reference counts differ")
		}
		a, e := 0, hi&^15+16
		if lo <= hi && lo > 64 {
			a = lo &^ 15
		}
		var gPrefix, wPrefix [BF16Keys]int32
		gHist, wHist := hist, hist
		gSum := scanKeys(&gHist, &gPrefix, a, e, int32(first))
		wSum := scanKeysGeneric(&wHist, &wPrefix, a, e, int32(first))
		if gSum != wSum || gHist != wHist || gPrefix != wPrefix {
			t.Fatal("AVX-512 and Go reference scans differ")
		}
		// The ranks start at first here: limits cover them all.
		draws, limits := make([]uint32, n), make([]uint32, int(first)+n)
		for j := range draws {
			draws[j] = uint32(b[(2*j+1)%len(b)]) << 24
		}
		for k := range limits {
			limits[k] = uint32(b[(3*k)%len(b)]) << 24
		}
		if a > 0 { // key 0 outside the span
			wPrefix[0] = int32(first)
		}
		gNext, wNext := wPrefix, wPrefix
		got, want := slices.Clone(x), slices.Clone(x)
		gKeep, wKeep := make([]uint16, (n+15)/16), make([]uint16, (n+15)/16)
		rankKeep(got, draws, &gNext, limits, gKeep)
		rankKeepGeneric(want, draws, &wNext, limits, wKeep)
		if !sameBits(got, want) || gNext != wNext || !slices.Equal(gKeep, wKeep) {
			t.Fatal("AVX-512 and Go reference walks differ")
		}
		// The walk with the sums, after a part of 16 elements.
		var gAbs, wAbs AbsSum
		gAbs.Add(x[:min(16, n)&^15])
		wAbs = gAbs
		gNext, wNext = wPrefix, wPrefix
		got, want = slices.Clone(x), slices.Clone(x)
		gKeep, wKeep = make([]uint16, (n+15)/16), make([]uint16, (n+15)/16)
		rankKeepAbsSum(got, draws, &gNext, limits, gKeep, &gAbs)
		rankKeepAbsSumGeneric(want, draws, &wNext, limits, wKeep, &wAbs)
		if !sameBits(got, want) || gNext != wNext || !slices.Equal(gKeep, wKeep) || !sameAbsSum(gAbs, wAbs) {
			t.Fatal("AVX-512 and Go reference walks with sums differ")
		}
		// The walk with both sums, after the same parts.
		var gAll, wAll AbsSum
		gAll.Add(x[:min(32, n)&^15])
		wAll = gAll
		gAbs, wAbs = AbsSum{}, AbsSum{}
		gNext, wNext = wPrefix, wPrefix
		got, want = slices.Clone(x), slices.Clone(x)
		gKeep, wKeep = make([]uint16, (n+15)/16), make([]uint16, (n+15)/16)
		rankKeepAbsSums(got, draws, &gNext, limits, gKeep, &gAll, &gAbs)
		rankKeepAbsSumsGeneric(want, draws, &wNext, limits, wKeep, &wAll, &wAbs)
		if !sameBits(got, want) || gNext != wNext || !slices.Equal(gKeep, wKeep) || !sameAbsSum(gAll, wAll) || !sameAbsSum(gAbs, wAbs) {
			t.Fatal("AVX-512 and Go reference walks with both sums differ")
		}
	})
}

// BenchmarkRankKeep times the counted ranking of one row of 2048
// bfloat16 task-vector values (X − B with B ~ N(0, 0.02²) and X − B ~
// N(0, 0.002²), both rounded, ~300 distinct magnitudes like the
// benchmark models' rows): CountKeys, ScanKeys, RankKeep.
func BenchmarkRankKeep(b *testing.B) {
	const n = 2048
	r := rand.New(rand.NewPCG(1, 7))
	row := make([]float32, n)
	for j := range row {
		base := RoundScalar(BF16, float32(r.NormFloat64()*0.02))
		row[j] = RoundScalar(BF16, RoundScalar(BF16, base+float32(r.NormFloat64()*0.002))-base)
	}
	draws, limits := make([]uint32, n), make([]uint32, n)
	for j := range draws {
		draws[j], limits[j] = r.Uint32(), r.Uint32()
	}
	x, keep := make([]float32, n), make([]uint16, n/16)
	var hist, prefix [BF16Keys]int32
	b.SetBytes(4 * n)
	for b.Loop() {
		copy(x, row)
		_, lo, hi := CountKeys(x, &hist)
		sum := ScanKeys(&hist, &prefix, 0, 16, 0)
		if lo <= hi {
			ScanKeys(&hist, &prefix, max(lo&^15, 16), hi&^15+16, sum)
		}
		RankKeep(x, draws, &prefix, limits, keep)
	}
}

// sameAbsSum compares two sums bit for bit (NaN magnitudes included).
func sameAbsSum(a, b AbsSum) bool {
	for l := range a.lanes {
		if math.Float64bits(a.lanes[l]) != math.Float64bits(b.lanes[l]) {
			return false
		}
	}
	return math.Float64bits(a.seq) == math.Float64bits(b.seq) && a.odd == b.odd
}
