package merge

import (
	"math"
	"sync"
	"unsafe"

	"github.com/gomerge/gomerge/tensor"
)

// bf16Keys is the number of magnitude keys of bfloat16 values: the high
// 16 bits of a float32 without its sign.
const bf16Keys = tensor.BF16Keys

// countTable is dropCounted's histogram of keys, zero between rows, and
// the next ranks of the last row's keys.
type countTable struct {
	hist, next [bf16Keys]int32
}

// dropCounted is dellaDrop for one row of bfloat16 values along dimension
// 1 (inner = 1): a counting sort instead of the radix sort of ranks. The
// magnitudes of bfloat16 values have at most 2¹⁵ bit patterns, so one
// histogram of them (tensor.CountKeys), its prefix sums over the keys the
// row uses (tensor.ScanKeys), and a walk in index order that hands out
// next[key]++ (tensor.RankKeep) give every element its rank with equal
// magnitudes in index order, as a stable sort would; the walk draws and
// masks in the same pass, so the ranks are never stored. draws holds the
// row's draws. When keep is not nil, the bit of every kept element is
// set, at position off + j for element j (see dellaDrop). limits, when
// not nil, are the bounds less one (see dellaLimits), for
// tensor.RankKeep's walk. all and kept, when not nil, get the magnitudes
// of x before and after the drop (AbsSum.Add), taken in RankKeep's walk
// (tensor.RankKeepAbsSum, tensor.RankKeepAbsSums) when it runs. It
// returns false, leaving x, all and kept untouched, when some magnitude
// has low bits (not a bfloat16 value) or the keys span too many for the
// row (wideSpan).
func (r *ranker) dropCounted(x []float32, draws []uint32, bounds []uint64, limits []uint32, keep []uint64, off int, all, kept *tensor.AbsSum) bool {
	if r.counts == nil {
		r.counts = new(countTable)
	}
	h, next := &r.counts.hist, &r.counts.next
	bits, lo, hi := tensor.CountKeys(x, h)
	a, b := countedSpan(lo, hi)
	if bits&0xffff != 0 || wideSpan(len(x), a, b) {
		for _, v := range x {
			h[math.Float32bits(v)>>16&(bf16Keys-1)] = 0
		}
		return false
	}
	// Key 0 (zeros are common in task vectors) and the span of the
	// others: a row's magnitudes span a thousand keys or so (2⁻¹⁵ to
	// 2⁻⁷, say). ScanKeys clears the histogram as it goes.
	tensor.ScanKeys(h, next, a, b, tensor.ScanKeys(h, next, 0, 16, 0))
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
		switch {
		case kept != nil && all != nil:
			tensor.RankKeepAbsSums(x, draws, next, limits[:len(x)], words, all, kept)
		case kept != nil:
			tensor.RankKeepAbsSum(x, draws, next, limits[:len(x)], words, kept)
		default:
			if all != nil {
				all.Add(x)
			}
			tensor.RankKeep(x, draws, next, limits[:len(x)], words)
		}
		return true
	}
	if all != nil {
		all.Add(x)
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
		for e := range n { // in index order: the ranks are handed out in it
			w |= dropOne(&x[j+e], draws[j+e], next, bounds) << (first + e)
		}
		if keep != nil {
			keep[g/64] |= w
		}
		j += n
	}
	if kept != nil {
		kept.Add(x)
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
func dropOne(x *float32, draw uint32, next *[bf16Keys]int32, bounds []uint64) uint64 {
	u := math.Float32bits(*x)
	k := u >> 16 & (bf16Keys - 1)
	rank := next[k]
	next[k] = rank + 1
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

// keepWords reuses dellaState's mask words across pieces and tensors: a
// fresh allocation per piece (a bit per element: 8 MB for a 64M-element
// tensor, per model) reaches the first write of RankKeep as new pages,
// whose faults cost more on this kind of VM than ranking them, and with
// two workers more of the heap is fresh (della-2, -j 2: 14 000 of its
// 21 000 page faults were RankKeep's first writes to the mask).
var keepWords sync.Pool

// getKeep returns n zeroed mask words, from keepWords when it holds a
// buffer large enough.
func getKeep(n int) []uint64 {
	if p, ok := keepWords.Get().(*[]uint64); ok {
		if cap(*p) >= n {
			k := (*p)[:n]
			clear(k)
			return k
		}
	}
	return make([]uint64, n)
}

// putKeep hands mask words back to keepWords once their piece is merged.
func putKeep(k []uint64) {
	if cap(k) > 0 {
		keepWords.Put(&k)
	}
}
