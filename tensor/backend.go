package tensor

import (
	"math"
	"runtime"
	"sync"
)

// Backend runs the coarse operations of the task-vector merge methods on
// one piece of a tensor at a time: whole buffers in, whole buffers out, so
// that an accelerator can copy a piece once and run a fused kernel over it.
// CPU is the reference and the default; package internal/cuda (build tag
// cuda) implements it on an NVIDIA GPU with the same bytes.
//
// Every operation rounds exactly as the composition of this package's
// kernels written in its doc comment does, so that a backend gives the
// same bits as CPU; only NaN payloads may differ. Slices must not overlap
// unless an operation says so. A Backend is safe for concurrent use.
type Backend interface {
	// Name is "cpu" or the accelerator's name ("cuda").
	Name() string
	// WeightedSum stores in out the sum of ws[i]·xs[i], each product
	// rounded to work, accumulated in float32 in input order and rounded
	// once, then divided by div and rounded again when normalize:
	//
	//	clear(out)
	//	for i := range xs { AxpyRound(work, out, ws[i], xs[i]) }
	//	Round(work, out)
	//	if normalize { DivScalarRound(work, out, div) }
	WeightedSum(work DType, out []float32, xs [][]float32, ws []float32, normalize bool, div float32) error
	// SignConsensus stores in out the TIES disjoint merge of the task
	// vectors ds: each is scaled by its weight and rounded
	// (ScaleRound(work, ds[i], ws[i])), the rounded sum of the scaled
	// vectors elects a sign per element (a sum ≥ 0 elects +), the non-zero
	// entries of that sign are summed (AddAgreeing) and rounded, and with
	// normalize divided by the rounded sum of their weights where it is not
	// zero (DivNonZeroRound). The contents of ds are undefined afterwards.
	SignConsensus(work DType, out []float32, ds [][]float32, ws []float32, normalize bool) error
	// ScaleRound is the package's ScaleRound.
	ScaleRound(work DType, x []float32, a float32) error
	// SubRound is the package's SubRound; dst may be a or b.
	SubRound(work DType, dst, a, b []float32) error
	// Bernoulli zeroes each element x[j] whose 32-bit draw first+j of the
	// SplitMix64 stream of key is not below bound (≤ 2³²) and returns how
	// many it kept (see KeepBelowStream).
	Bernoulli(x []float32, key, first, bound uint64) (int, error)
	// PruneMagnitude is the package's PruneMagnitude.
	PruneMagnitude(x []float32, thr uint32, ties int) (int, error)
}

// CPU is the Backend of this package's kernels.
var CPU Backend = cpuBackend{}

type cpuBackend struct{}

func (cpuBackend) Name() string { return "cpu" }

func (cpuBackend) WeightedSum(work DType, out []float32, xs [][]float32, ws []float32, normalize bool, div float32) error {
	mustSameLen("WeightedSum", len(xs), len(ws))
	clear(out)
	for i, x := range xs {
		AxpyRound(work, out, ws[i], x)
	}
	Round(work, out)
	if normalize {
		DivScalarRound(work, out, div)
	}
	return nil
}

func (cpuBackend) SignConsensus(work DType, out []float32, ds [][]float32, ws []float32, normalize bool) error {
	mustSameLen("SignConsensus", len(ds), len(ws))
	for i, d := range ds {
		mustSameLen("SignConsensus", len(out), len(d))
		ScaleRound(work, d, ws[i])
	}
	parallelRanges(len(out), func(lo, hi int) {
		var div, mixed [consensusBlock]float32
		for ; lo < hi; lo += consensusBlock {
			end := min(hi, lo+consensusBlock)
			consensusRange(work, out[lo:end], div[:end-lo], mixed[:end-lo], ds, ws, lo, normalize)
		}
	})
	return nil
}

const consensusBlock = 2048

// consensusRange is SignConsensus of out = elements [lo, lo+len(out)) of
// the scaled vectors; div and mixed are scratch of out's length.
func consensusRange(work DType, out, div, mixed []float32, ds [][]float32, ws []float32, lo int, normalize bool) {
	n := len(out)
	sign := out // the sum's sign is computed in out, then out takes the mixed sum
	clear(sign)
	for _, d := range ds {
		Add(sign, d[lo:lo+n])
	}
	Round(work, sign)
	clear(div)
	clear(mixed)
	for i, d := range ds {
		AddAgreeing(mixed, div, d[lo:lo+n], sign, ws[i])
	}
	Round(work, mixed)
	if normalize {
		Round(work, div)
		DivNonZeroRound(work, mixed, div)
	}
	copy(out, mixed)
}

// parallelRanges runs fn over [0, n) split into contiguous ranges, one per
// CPU, when n is large enough to pay for the goroutines. fn must treat
// elements independently, so the split never changes results.
func parallelRanges(n int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < 1<<18 || workers < 2 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	step := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += step {
		hi := min(n, lo+step)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

func (cpuBackend) ScaleRound(work DType, x []float32, a float32) error {
	ScaleRound(work, x, a)
	return nil
}

func (cpuBackend) SubRound(work DType, dst, a, b []float32) error {
	SubRound(work, dst, a, b)
	return nil
}

func (cpuBackend) Bernoulli(x []float32, key, first, bound uint64) (int, error) {
	return KeepBelowStream(x, key, first, bound), nil
}

func (cpuBackend) PruneMagnitude(x []float32, thr uint32, ties int) (int, error) {
	return PruneMagnitude(x, thr, ties), nil
}

// KeepBelowStream is KeepBelow with the draws taken from the SplitMix64
// stream of key (see SplitMix64): element j gets 32-bit draw d = first+j,
// the low half of 64-bit output d/2 when d is even and its high half when d
// is odd, and is kept when the draw is below bound; bound ≥ 2³² keeps
// everything. It returns how many elements it kept:
//
//	for j := range x {
//		d := first + uint64(j)
//		var w [1]uint64
//		SplitMix64(w[:], key, d/2)
//		draw := uint32(w[0] >> (32 * (d % 2)))
//		if uint64(draw) >= bound {
//			x[j] = 0
//		} else {
//			kept++
//		}
//	}
func KeepBelowStream(x []float32, key, first, bound uint64) int {
	kept := 0
	keep := func(j int, draw uint32) {
		if uint64(draw) < bound {
			kept++
		} else {
			x[j] = 0
		}
	}
	j := 0
	if first%2 == 1 && len(x) > 0 { // the high half of a word begun before x
		var w [1]uint64
		splitMix64(w[:], key, first/2)
		keep(0, uint32(w[0]>>32))
		j = 1
	}
	ctr := (first + uint64(j)) / 2
	var words [512]uint64
	var draws [1024]uint32
	for j < len(x) {
		m := min(len(draws), len(x)-j)
		nw := (m + 1) / 2
		splitMix64(words[:nw], key, ctr)
		ctr += uint64(nw)
		for i, w := range words[:nw] {
			draws[2*i], draws[2*i+1] = uint32(w), uint32(w>>32)
		}
		if bound >= math.MaxUint32+1 {
			kept += m
		} else {
			kept += keepBelow(x[j:j+m], draws[:m], uint32(bound))
		}
		j += m
	}
	return kept
}
