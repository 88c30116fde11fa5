package merge

import (
	"math/rand/v2"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

// bf16TaskVector returns n elements of X − B in bfloat16 for weights B
// drawn from N(0, 0.02²) and a fine-tune X = B + N(0, 0.002²), both
// rounded to bfloat16, like the benchmark models of bench/run.sh.
func bf16TaskVector(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	d := make([]float32, n)
	for j := range d {
		b := tensor.RoundScalar(tensor.BF16, float32(r.NormFloat64()*0.02))
		x := tensor.RoundScalar(tensor.BF16, b+float32(r.NormFloat64()*0.002))
		d[j] = tensor.RoundScalar(tensor.BF16, x-b)
	}
	return d
}

// BenchmarkDellaDrop times DELLA's analysis of one streamed piece (rows
// of 2048 bfloat16 task vector entries): ranks, draws, masks and keep
// bits, by counting (bfloat16 keys) and by the radix ranker.
func BenchmarkDellaDrop(b *testing.B) {
	const c = 2048
	n := int(chunkElements)
	d := bf16TaskVector(n, 1)
	bounds := dellaBounds(tensor.BF16, c, 0.5, 0.1)
	for _, counted := range []bool{true, false} {
		name := "radix"
		if counted {
			name = "counted"
		}
		b.Run(name, func(b *testing.B) {
			x := make([]float32, n)
			keep := make([]uint64, n/64)
			rank := make([]int32, c)
			var rk ranker
			b.SetBytes(int64(4 * n))
			cpu := cpuSeconds()
			for b.Loop() {
				copy(x, d)
				clear(keep)
				dellaDrop(x, c, 1, bounds, newRandomSource(1, "m"), &rk, rank, keep, counted, nil, nil, nil)
			}
			reportCPU(b, cpu)
		})
	}
	// With the L1 rescale's kept sum, as dellaState.Piece takes it: in
	// the walk (tensor.RankKeepAbsSum), and by AbsSum.Add after each row.
	for _, fused := range []bool{true, false} {
		name := "counted-kept-after"
		if fused {
			name = "counted-kept-fused"
		}
		b.Run(name, func(b *testing.B) {
			x := make([]float32, n)
			keep := make([]uint64, n/64)
			rank := make([]int32, c)
			var rk ranker
			b.SetBytes(int64(4 * n))
			cpu := cpuSeconds()
			for b.Loop() {
				copy(x, d)
				clear(keep)
				var kept tensor.AbsSum
				if fused {
					dellaDrop(x, c, 1, bounds, newRandomSource(1, "m"), &rk, rank, keep, true, nil, nil, &kept)
					continue
				}
				// dellaDrop's loop with the sum after each row.
				src, draws := newRandomSource(1, "m"), rk.draws(c)
				limits := dellaLimits(bounds, rk.limits)
				rk.limits = limits
				for lo := 0; lo < n; lo += c {
					src.fill(draws)
					dellaDropRow(x[lo:lo+c], lo, c, 1, bounds, draws, limits, &rk, rank, keep, true, nil, nil)
					kept.Add(x[lo : lo+c])
				}
			}
			reportCPU(b, cpu)
		})
	}
	// With both sums of the L1 rescale, as dellaState.Piece takes them:
	// in the walk (tensor.RankKeepAbsSums), and the sum of all entries
	// by AbsSum.Add before each row's drop (prep) with the kept one in
	// the walk.
	for _, fused := range []bool{true, false} {
		name := "counted-sums-all-before"
		if fused {
			name = "counted-sums-fused"
		}
		b.Run(name, func(b *testing.B) {
			x := make([]float32, n)
			keep := make([]uint64, n/64)
			rank := make([]int32, c)
			var rk ranker
			b.SetBytes(int64(4 * n))
			cpu := cpuSeconds()
			for b.Loop() {
				copy(x, d)
				clear(keep)
				var all, kept tensor.AbsSum
				if fused {
					dellaDrop(x, c, 1, bounds, newRandomSource(1, "m"), &rk, rank, keep, true, nil, &all, &kept)
					continue
				}
				prep := func(row []float32, _ int) { all.Add(row) }
				dellaDrop(x, c, 1, bounds, newRandomSource(1, "m"), &rk, rank, keep, true, prep, nil, &kept)
			}
			reportCPU(b, cpu)
		})
	}
}

// reportCPU reports the process's CPU time per op since cpu (from
// cpuSeconds) as cpu-ns/op, steadier than ns/op on a loaded machine.
func reportCPU(b *testing.B, cpu float64) {
	if cpu >= 0 {
		b.ReportMetric((cpuSeconds()-cpu)*1e9/float64(b.N), "cpu-ns/op")
	}
}
