//go:build amd64 && gc && !purego

package tensor

// subCountWindowBF16AVX512 is subCountWindowBF16Generic on 16 lanes,
// adding to c, for a length that is a multiple of 16.
//
//go:noescape
func subCountWindowBF16AVX512(c *subWindowCounts, a, b []uint16, lo, hi uint32)

// subWindowCounts16 are the 16-bit lane counters of
// subCountWindowBF16CVT, laid out as subWindowCounts: row 0 counts the
// elements above the window, row 1+s those at its value s.
type subWindowCounts16 [1 + subWindowSlots][32]uint16

// subCountWindowBF16CVT is subCountWindowBF16AVX512 rounding with
// VCVTNE2PS2BF16, 32 elements per iteration and 16-bit lane counters, on
// the bfloat16 bits of a window whose lo is at least cvtWindowMin (see
// the assembly), for a length that is a multiple of 32
// and at most 32·65535.
//
//go:noescape
func subCountWindowBF16CVT(c *subWindowCounts16, a, b []uint16, lo, hi uint16)

// cvtWindowMin is the lowest window bound at which a denormal task vector
// entry, which VCVTNE2PS2BF16 flushes to zero, lies below the window either
// way: the smallest bfloat16 normal. (The difference of two bfloat16
// values is denormal only when both are below 2^-118, and then it is a
// multiple of 2^-133, a bfloat16 denormal that rounds to itself.)
const cvtWindowMin = 0x00800000

// subCountWindow runs the AVX-512 body over the longest multiple of 16
// elements, in runs short enough for its 32-bit lane counters, and
// returns how many elements it did and how many were above hi; without
// AVX-512 it does none, and SubCountAboveWindowBF16's blocks of AVX2
// kernels do them all.
func subCountWindow(win []uint32, a, b []uint16, lo, hi uint32) (done, above int) {
	if !useAVX2 || !useAVX512BW {
		return 0, 0
	}
	if useAVX512BF16 && lo >= cvtWindowMin {
		m := len(a) &^ 31
		for done < m {
			k := min(m-done, 32*65535)
			var c subWindowCounts16
			subCountWindowBF16CVT(&c, a[done:done+k], b[done:done+k], uint16(lo>>16), uint16(hi>>16))
			above += addWindowCounts16(win, &c, lo, hi)
			done += k
		}
	}
	n := len(a) &^ 15
	for done < n {
		m := min(n-done, 1<<30)
		var c subWindowCounts
		subCountWindowBF16AVX512(&c, a[done:done+m], b[done:done+m], lo, hi)
		above += addWindowCounts(win, &c, lo, hi)
		done += m
	}
	return done, above
}

// addWindowCounts16 adds the lanes of c to win and returns the count
// above, as addWindowCounts.
func addWindowCounts16(win []uint32, c *subWindowCounts16, lo, hi uint32) int {
	above := 0
	for _, v := range c[0] {
		above += int(v)
	}
	for s := range int((hi-lo)>>16) + 1 {
		for _, v := range c[1+s] {
			win[s] += uint32(v)
		}
	}
	return above
}
