package merge

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/gomerge/gomerge/tensor"
)

// bf16Keys is the number of magnitude keys of bfloat16 values: the high
// 16 bits of a float32 without its sign.
const bf16Keys = tensor.BF16Keys

// keyBlock is the span of keys dropCounted flags as one block in use.
const keyBlock = 64

// countTable is dropCounted's histogram of keys and its flags of the key
// blocks in use, zero between rows.
type countTable struct {
	hist [bf16Keys]int32
	used [bf16Keys / keyBlock]byte
}

// dropCounted is dellaDrop for one row of bfloat16 values along dimension
// 1 (inner = 1): a counting sort instead of the radix sort of ranks. The
// magnitudes of bfloat16 values have at most 2¹⁵ bit patterns, so one
// histogram of them, its prefix sums over the keys the row uses, and a
// walk in index order that hands out hist[key]++ give every element its
// rank with equal magnitudes in index order, as a stable sort would; the
// walk draws and masks in the same pass, so the ranks are never stored.
// draws holds the row's draws. When keep is not nil, the bit of every
// kept element is set, at position off + j for element j (see dellaDrop).
// limits, when not nil, are the bounds less one (see dellaLimits), for
// tensor.RankKeep's vector walk. It returns false, leaving x untouched,
// when some magnitude has low bits (not a bfloat16 value).
func (r *ranker) dropCounted(x []float32, draws []uint32, bounds []uint64, limits []uint32, keep []uint64, off int) bool {
	if r.counts == nil {
		r.counts = new(countTable)
	}
	h, used := &r.counts.hist, &r.counts.used
	var low uint32
	for _, v := range x {
		u := math.Float32bits(v)
		low |= u
		k := u >> 16 & (bf16Keys - 1)
		h[k]++
		used[k/keyBlock] = 1 // a store, not a read-modify-write: no chain from element to element
	}
	if low&0xffff != 0 {
		r.counts.clear()
		return false
	}
	// Prefix sums over the blocks in use only: a row's magnitudes span
	// thousands of keys (zeros and 2⁻¹⁵ to 2⁻⁷, say) but few blocks.
	var sum int32
	for w := 0; w < len(used); w += 8 {
		if binary.NativeEndian.Uint64(used[w:w+8]) == 0 { // eight blocks at a time
			continue
		}
		for b := w; b < w+8; b++ {
			if used[b] == 0 {
				continue
			}
			for k := b * keyBlock; k < (b+1)*keyBlock; k++ {
				n := h[k]
				h[k] = sum
				sum += n
			}
		}
	}
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
		tensor.RankKeep(x, draws, h, limits[:len(x)], words)
		r.counts.clear()
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
		if n == 64 {
			w = dropWord((*[64]float32)(x[j:]), (*[64]uint32)(draws[j:]), h, bounds)
		} else {
			for e := range n { // in index order: the ranks are handed out in it
				w |= dropOne(&x[j+e], draws[j+e], h, bounds) << (first + e)
			}
		}
		if keep != nil {
			keep[g/64] |= w
		}
		j += n
	}
	r.counts.clear()
	return true
}

// clear zeroes the blocks in use.
func (c *countTable) clear() {
	for w := 0; w < len(c.used); w += 8 {
		if binary.NativeEndian.Uint64(c.used[w:w+8]) == 0 { // eight blocks at a time
			continue
		}
		for b := w; b < w+8; b++ {
			if c.used[b] != 0 {
				clear(c.hist[b*keyBlock : (b+1)*keyBlock])
				c.used[b] = 0
			}
		}
	}
}

// dropWord runs dropCounted's walk over 64 elements and returns their keep
// bits, element b's in bit b.
func dropWord(x *[64]float32, draws *[64]uint32, h *[bf16Keys]int32, bounds []uint64) uint64 {
	var w uint64
	for b := range x {
		u := math.Float32bits(x[b])
		k := u >> 16 & (bf16Keys - 1)
		rank := h[k]
		h[k] = rank + 1
		// Branch-free: the outcomes are random.
		kept := b2u(uint64(draws[b]) < bounds[rank])
		x[b] = math.Float32frombits(u & -kept)
		w = w>>1 | uint64(kept)<<63
	}
	return w
}

// dropOne is one step of dropWord.
func dropOne(x *float32, draw uint32, h *[bf16Keys]int32, bounds []uint64) uint64 {
	u := math.Float32bits(*x)
	k := u >> 16 & (bf16Keys - 1)
	rank := h[k]
	h[k] = rank + 1
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
