package merge

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"math/bits"
	"unsafe"

	"github.com/gomerge/gomerge/tensor"
)

// randomSource is the random stream of one input model for one output
// tensor: the DARE and DELLA masks and arcee_fusion's samples are drawn
// from it.
//
// mergekit draws from torch's global generator, so its masks depend on the
// torch build and on the order tasks run in; gomerge cannot replay that
// stream and does not try. Instead each stream is SplitMix64 (Steele, Lea
// and Flood, "Fast splittable pseudorandom number generators", OOPSLA
// 2014; Java's SplittableRandom) started from a key mixed from the
// tensor's seed (Tensors.Seed, itself derived from the run's seed and the
// output tensor name) and the FNV-64a hash of the model reference. Draw i
// is a function of the key and i alone, so a piece of a tensor draws its
// part of the stream without the draws before it, and a run's seed gives
// the same bytes on every machine, thread count and task order; two models
// of one tensor never share a mask. Results are statistically, not
// bitwise, equivalent to mergekit's.
type randomSource struct {
	key  uint64 // the stream's starting state
	ctr  uint64 // 64-bit draws made
	bits uint64 // unused half of the last 64-bit draw
	have bool
}

// littleEndian says that a uint64's low half comes first in memory.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// golden is SplitMix64's increment, 2⁶⁴/φ rounded to odd.
const golden = 0x9e3779b97f4a7c15

// mix64 is SplitMix64's output function (Stafford's Mix13 variant).
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// newRandomSource returns the stream of model for the tensor seeded seed.
func newRandomSource(seed uint64, model string) *randomSource {
	h := fnv.New64a()
	h.Write([]byte(model))
	return &randomSource{key: mix64(seed) ^ mix64(h.Sum64()+golden)}
}

// Uint64 returns the stream's next 64 bits.
func (r *randomSource) Uint64() uint64 {
	r.ctr++
	return mix64(r.key + r.ctr*golden)
}

// skip advances a fresh stream past its first n 32-bit draws, so that a
// piece of a tensor starting at element n draws what it would have drawn
// after the pieces before it.
func (r *randomSource) skip(n uint64) {
	r.ctr += n / 2
	if n%2 == 1 {
		r.uint32()
	}
}

// uint32 returns 32 uniform bits; each 64-bit PCG draw serves two calls.
func (r *randomSource) uint32() uint32 {
	if r.have {
		r.have = false
		return uint32(r.bits >> 32)
	}
	r.bits = r.Uint64()
	r.have = true
	return uint32(r.bits)
}

// intN returns a uniform integer in [0, n), n > 0 (Lemire's
// multiply-shift with rejection, as math/rand/v2's Uint64N).
func (r *randomSource) intN(n uint64) uint64 {
	hi, lo := bits.Mul64(r.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(r.Uint64(), n)
		}
	}
	return hi
}

// bernoulliOn is bernoulli run by the backend be: the same mask and the
// same stream position afterwards, whatever the backend.
func (r *randomSource) bernoulliOn(be tensor.Backend, x []float32, bound uint64) (int, error) {
	if be == tensor.CPU {
		return r.bernoulli(x, bound), nil
	}
	first := 2 * r.ctr // the next 32-bit draw
	if r.have {
		first-- // the high half of draw r.ctr's word
	}
	kept, err := be.Bernoulli(x, r.key, first, bound)
	if err != nil {
		return 0, err
	}
	next := first + uint64(len(x))
	r.ctr, r.have = (next+1)/2, next%2 == 1
	if r.have {
		r.bits = mix64(r.key + r.ctr*golden)
	}
	return kept, nil
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
	var words [512]uint64
	var split [1024]uint32
	for j+1 < len(x) {
		n := min(2*len(words), (len(x)-j)&^1)
		tensor.SplitMix64(words[:n/2], r.key, r.ctr)
		r.ctr += uint64(n / 2)
		draws := split[:n]
		if littleEndian {
			draws = unsafe.Slice((*uint32)(unsafe.Pointer(&words[0])), n) // low half first
		} else {
			for i, w := range words[:n/2] {
				draws[2*i], draws[2*i+1] = uint32(w), uint32(w>>32)
			}
		}
		if bound >= 1<<32 {
			kept += n
		} else {
			kept += tensor.KeepBelow(x[j:j+n], draws, uint32(bound))
		}
		j += n
	}
	if j < len(x) {
		keep(j, r.uint32())
	}
	return kept
}

// fill sets dst to the stream's next len(dst) 32-bit draws, exactly as
// that many uint32 calls would give them, the bulk from the vector kernel.
func (r *randomSource) fill(dst []uint32) {
	j := 0
	if r.have && len(dst) > 0 {
		dst[0] = r.uint32()
		j = 1
	}
	var words [512]uint64
	for j+1 < len(dst) {
		n := min(2*len(words), (len(dst)-j)&^1)
		if littleEndian && uintptr(unsafe.Pointer(&dst[j]))%8 == 0 {
			// Straight into dst, whose memory then holds the draws in
			// order, low half first.
			tensor.SplitMix64(unsafe.Slice((*uint64)(unsafe.Pointer(&dst[j])), n/2), r.key, r.ctr)
			r.ctr += uint64(n / 2)
			j += n
			continue
		}
		tensor.SplitMix64(words[:n/2], r.key, r.ctr)
		r.ctr += uint64(n / 2)
		if littleEndian { // the words' memory holds the draws in order, low half first
			copy(dst[j:j+n], unsafe.Slice((*uint32)(unsafe.Pointer(&words[0])), n))
		} else {
			for i, w := range words[:n/2] {
				dst[j+2*i], dst[j+2*i+1] = uint32(w), uint32(w>>32) // low half first
			}
		}
		j += n
	}
	if j < len(dst) {
		dst[j] = r.uint32()
	}
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
