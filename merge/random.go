package merge

import (
	"hash/fnv"
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/gomerge/gomerge/tensor"
)

// randomSource is the random stream of one input model for one output
// tensor: the DARE and DELLA masks and arcee_fusion's samples are drawn
// from it.
//
// mergekit draws from torch's global generator, so its masks depend on the
// torch build and on the order tasks run in; gomerge cannot replay that
// stream and does not try. Instead each stream is a PCG generator
// (math/rand/v2) seeded with the tensor's seed (Tensors.Seed, itself
// derived from the run's seed and the output tensor name) and the FNV-64a
// hash of the model reference. A run's seed therefore gives the same bytes
// on every machine, thread count and task order, and two models of one
// tensor never share a mask. Results are statistically, not bitwise,
// equivalent to mergekit's.
type randomSource struct {
	pcg  *rand.PCG
	bits uint64 // unused half of the last 64-bit draw
	have bool
}

// newRandomSource returns the stream of model for the tensor seeded seed.
func newRandomSource(seed uint64, model string) *randomSource {
	h := fnv.New64a()
	h.Write([]byte(model))
	return &randomSource{pcg: rand.NewPCG(seed, h.Sum64())}
}

// uint32 returns 32 uniform bits; each 64-bit PCG draw serves two calls.
func (r *randomSource) uint32() uint32 {
	if r.have {
		r.have = false
		return uint32(r.bits >> 32)
	}
	r.bits = r.pcg.Uint64()
	r.have = true
	return uint32(r.bits)
}

// intN returns a uniform integer in [0, n), n > 0 (Lemire's
// multiply-shift with rejection, as math/rand/v2's Uint64N).
func (r *randomSource) intN(n uint64) uint64 {
	hi, lo := bits.Mul64(r.pcg.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(r.pcg.Uint64(), n)
		}
	}
	return hi
}

// randomThreshold turns a keep probability into the bound a uint32 draw is
// compared with: the element is kept when draw < bound, which happens with
// probability bound/2³², the float32 probability to within 2⁻³². p ≤ 0
// never keeps, p ≥ 1 always keeps.
func randomThreshold(p float32) uint64 {
	switch {
	case !(p > 0): // also NaN; callers reject NaN before
		return 0
	case p >= 1:
		return 1 << 32
	}
	return uint64(math.Round(float64(p) * (1 << 32)))
}

// bernoulli zeroes each element of x independently with probability
// 1 − bound/2³² and reports how many it kept. It consumes the stream
// exactly as one uint32 call per element would, two elements per 64-bit
// draw, and masks without branches (the outcomes are random).
func (r *randomSource) bernoulli(x []float32, bound uint64) int {
	kept := 0
	keep := func(j int, draw uint32) {
		k := b2u(uint64(draw) < bound)
		x[j] = math.Float32frombits(math.Float32bits(x[j]) & -k)
		kept += int(k)
	}
	j := 0
	if r.have && len(x) > 0 {
		keep(0, r.uint32())
		j = 1
	}
	// The bulk: draws in stream order (low half, then high half of each
	// 64-bit output), masked by a vector kernel.
	var draws [1024]uint32
	for j+1 < len(x) {
		n := min(len(draws), (len(x)-j)&^1)
		for i := 0; i < n; i += 2 {
			b := r.pcg.Uint64()
			draws[i], draws[i+1] = uint32(b), uint32(b>>32)
		}
		if bound >= 1<<32 {
			kept += n
		} else {
			kept += tensor.KeepBelow(x[j:j+n], draws[:n], uint32(bound))
		}
		j += n
	}
	if j < len(x) {
		keep(j, r.uint32())
	}
	return kept
}

// randomProbability rounds a keep probability the way mergekit's
// probability tensors hold it: in bfloat16 when the working dtype is
// bfloat16, else in float32 (torch.bernoulli has no float16 CPU kernel).
func randomProbability(work tensor.DType, p float64) float32 {
	if work == tensor.BF16 {
		return tensor.RoundScalar(tensor.BF16, float32(p))
	}
	return float32(p)
}

// sample returns k distinct indices drawn uniformly from [0, n)
// (Floyd's algorithm: k draws whatever n), in draw order. It remembers
// the drawn indices in a bitmap when that is small, else in a map.
func (r *randomSource) sample(n, k uint64) []uint64 {
	if k > n {
		k = n
	}
	out := make([]uint64, 0, k)
	var bitmap []uint64
	var seen map[uint64]struct{}
	if n/64 <= 4*k {
		bitmap = make([]uint64, (n+63)/64)
	} else {
		seen = make(map[uint64]struct{}, k)
	}
	for j := n - k; j < n; j++ {
		v := r.intN(j + 1)
		if bitmap != nil {
			if bitmap[v/64]&(1<<(v%64)) != 0 {
				v = j
			}
			bitmap[v/64] |= 1 << (v % 64)
		} else {
			if _, dup := seen[v]; dup {
				v = j
			}
			seen[v] = struct{}{}
		}
		out = append(out, v)
	}
	return out
}

// b2u is 1 for true and 0 for false; the compiler makes it a SETcc.
func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
