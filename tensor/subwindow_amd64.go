//go:build amd64 && gc && !purego

package tensor

// subCountWindowBF16AVX512 is subCountWindowBF16Generic on 16 lanes,
// adding to c, for a length that is a multiple of 16.
//
//go:noescape
func subCountWindowBF16AVX512(c *subWindowCounts, a, b []uint16, lo, hi uint32)

// subCountWindow runs the AVX-512 body over the longest multiple of 16
// elements, in runs short enough for its 32-bit lane counters, and
// returns how many elements it did and how many were above hi; without
// AVX-512 it does none, and SubCountAboveWindowBF16's blocks of AVX2
// kernels do them all.
func subCountWindow(win []uint32, a, b []uint16, lo, hi uint32) (done, above int) {
	if !useAVX2 || !useAVX512BW {
		return 0, 0
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
