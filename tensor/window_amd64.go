//go:build amd64 && gc && !purego

package tensor

// keepWindowAVX2 is keepMagnitudeWindowGeneric for vLo, vHi < 2^31 up to
// the first vector of 8 whose boundary values' ranks reach past the next
// of lo and hi above the rank it started from (where keeping them
// changes); it returns how many elements it did and the counts after
// them. len(x) is a multiple of 8.
//
//go:noescape
func keepWindowAVX2(x []float32, vLo, vHi uint32, rLo, rHi, lo, hi int) (done, newLo, newHi int)

// keepMagnitudeWindow hands the vectors where the boundary values' ranks
// reach lo or hi to the Go reference.
func keepMagnitudeWindow(x []float32, vLo, vHi uint32, rLo, rHi, lo, hi int) (int, int) {
	if useAVX2 && vLo < 1<<31 && vHi < 1<<31 {
		for {
			n := len(x) &^ 7
			var done int
			done, rLo, rHi = keepWindowAVX2(x[:n], vLo, vHi, rLo, rHi, lo, hi)
			x = x[done:]
			if done == n {
				break
			}
			rLo, rHi = keepMagnitudeWindowGeneric(x[:8], vLo, vHi, rLo, rHi, lo, hi)
			x = x[8:]
		}
	}
	return keepMagnitudeWindowGeneric(x, vLo, vHi, rLo, rHi, lo, hi)
}
