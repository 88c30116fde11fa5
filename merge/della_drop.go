package merge

import (
	"math"
	"unsafe"

	"github.com/gomerge/gomerge/tensor"
)

// bf16Keys is the number of magnitude keys of bfloat16 values: the high
// 16 bits of a float32 without its sign.
const bf16Keys = tensor.BF16Keys

// countTable is dropCounted's histogram of keys, zero between rows, and
// the prefix sums of the last row's.
type countTable struct {
	hist, prefix [bf16Keys]int32
}

// dropCounted is dellaDrop for one row of bfloat16 values along dimension
// 1 (inner = 1): a counting sort instead of the radix sort of ranks. The
// magnitudes of bfloat16 values have at most 2¹⁵ bit patterns, so one
// pass in index order that counts them (tensor.CountKeys) and notes each
// element's count of earlier equal magnitudes, and the prefix sums of the
// counts over the keys the row uses (tensor.ScanKeys), give every element
// its rank, prefix[key] + occurrence, with equal magnitudes in index
// order as a stable sort would. No rank depends on another's, so the
// walk that draws and masks (tensor.RankKeep) has no chain from element
// to element through the table. draws holds the row's draws. When keep is
// not nil, the bit of every kept element is set, at position off + j for
// element j (see dellaDrop). limits, when not nil, are the bounds less
// one (see dellaLimits), for tensor.RankKeep's vector walk. It returns
// false, leaving x untouched, when some magnitude has low bits (not a
// bfloat16 value) or the keys span too many for the row (wideSpan).
func (r *ranker) dropCounted(x []float32, draws []uint32, bounds []uint64, limits []uint32, keep []uint64, off int) bool {
	if r.counts == nil {
		r.counts = new(countTable)
	}
	if cap(r.occ) < len(x) {
		r.occ = make([]int32, len(x))
	}
	occ := r.occ[:len(x)]
	h, prefix := &r.counts.hist, &r.counts.prefix
	bits, lo, hi := tensor.CountKeys(x, h, occ)
	a, b := countedSpan(lo, hi)
	if bits&0xffff != 0 || wideSpan(len(x), a, b) {
		for _, v := range x {
			h[math.Float32bits(v)>>16&(bf16Keys-1)] = 0
		}
		return false
	}
	// Key 0 (zeros are common in task vectors) and the span of the
	// others: a row's magnitudes span a thousand keys or so (2⁻¹⁵ to
	// 2⁻⁷, say).
	tensor.ScanKeys(h, prefix, a, b, tensor.ScanKeys(h, prefix, 0, 16, 0))
	if limits != nil && (keep == nil || off%16 == 0 && littleEndian) {
		// Keep bits as 16-bit words: on a little-endian CPU word i of keep
		// viewed as []uint16 holds bits 16i to 16i+15.
		var words []uint16
		if keep == nil {
			if cap(r.words) < (len(x)+15)/16 {
				r.words = make([]uint16, (len(x)+15)/16)
			}
			words = r.words[:(len(x)+15)/16]
		} else {
			words = unsafe.Slice((*uint16)(unsafe.Pointer(&keep[0])), 4*len(keep))[off/16:]
		}
		tensor.RankKeep(x, draws, prefix, occ, limits[:len(x)], words)
		return true
	}
	bounds = bounds[:len(x)]
	draws = draws[:len(x)]
	// Element j's keep bit is bit (off+j)%64 of word (off+j)/64: the walk
	// goes word by word, gathers each word's bits in a register and ors
	// them in once.
	for j := 0; j < len(x); {
		g := off + j
		first, n := g%64, min(len(x)-j, 64-g%64)
		var w uint64
		for e := range n {
			w |= dropOne(&x[j+e], draws[j+e], prefix, occ[j+e], bounds) << (first + e)
		}
		if keep != nil {
			keep[g/64] |= w
		}
		j += n
	}
	return true
}

// countedSpan returns the span of keys, aligned to 16, that dropCounted
// scans besides keys 0 to 15, for the smallest key other than 0 and the
// largest key of a row (tensor.CountKeys).
func countedSpan(lo, hi int) (a, b int) {
	if lo > hi { // only key 0
		return 16, 16
	}
	return max(lo&^15, 16), max(hi&^15+16, 16)
}

// wideSpan says that a row of n elements whose keys span a to b is
// ranked faster by the radix sort than by scanning the span (at most
// 2¹⁵ keys: rows of 1024 elements or more are always counted).
func wideSpan(n, a, b int) bool {
	return b-a > 32*n
}

// dropOne is the walk of dropCounted over one element and returns its
// keep bit.
func dropOne(x *float32, draw uint32, prefix *[bf16Keys]int32, occ int32, bounds []uint64) uint64 {
	u := math.Float32bits(*x)
	rank := prefix[u>>16&(bf16Keys-1)] + occ
	// Branch-free: the outcomes are random.
	kept := b2u(uint64(draw) < bounds[rank])
	*x = math.Float32frombits(u & -kept)
	return uint64(kept)
}

// dellaLimits returns the bounds less one as uint32s in buf (reused), so
// that draw < bound reads draw ≤ limit, or nil when a bound is 0 (never
// keep), which has no such limit.
func dellaLimits(bounds []uint64, buf []uint32) []uint32 {
	if cap(buf) < len(bounds) {
		buf = make([]uint32, len(bounds))
	}
	buf = buf[:len(bounds)]
	for r, b := range bounds {
		if b == 0 {
			return nil
		}
		buf[r] = uint32(b - 1) // bounds are at most 2³²
	}
	return buf
}
