//go:build amd64 && gc && !purego

package tensor

// countAboveWindowShift hands the assembly, whose compares are signed,
// bounds below 2^31 and at most 2^30 elements at a time, as
// countAboveWindow does.
func countAboveWindowShift(hist []uint32, x []float32, lo, hi uint32, shift uint) int {
	if !useAVX2 {
		return countAboveWindowShiftGeneric(hist, x, lo, hi, shift)
	}
	if lo >= 1<<31 {
		return 0
	}
	hi = min(hi, 1<<31-1)
	c := 0
	for len(x) >= 8 {
		n := min(len(x), 1<<30) &^ 7
		c += countAboveWindowShiftAVX2(hist, x[:n], lo, hi, shift)
		x = x[n:]
	}
	return c + countAboveWindowShiftGeneric(hist, x, lo, hi, shift)
}

// countAboveWindowShiftAVX2 is countAboveWindowAVX2 with the counters
// indexed by (u-lo)>>shift: countAboveWindowShiftGeneric for lo <= hi <
// 2^31, len(x) a multiple of 8 below 2^32, and hist holding more than
// (hi-lo)>>shift counters.
//
//go:noescape
func countAboveWindowShiftAVX2(hist []uint32, x []float32, lo, hi uint32, shift uint) int

// windowPack and windowIn, indexed by the outside mask m of a vector of 8
// (bit i set where lane i is outside the window): the lanes of the clear
// bits of m in ascending order, one byte each, and their number; the
// assembly packs a vector's window lanes with them.
var (
	windowPack [256]uint64
	windowIn   [256]uint8
)

func init() {
	for m := range 256 {
		var p uint64
		c := 0
		for lane := range 8 {
			if m>>lane&1 == 0 {
				p |= uint64(lane) << (8 * c)
				c++
			}
		}
		windowPack[m], windowIn[m] = p, uint8(c)
	}
}
