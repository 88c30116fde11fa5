//go:build amd64 && gc && !purego

package tensor

import (
	"math"

	"golang.org/x/sys/cpu"
)

// addRowsFrom2AVX2 and addRowsFrom4AVX2 add element j of the first 2 or
// 4 rows of buf (rows of dotsBlock) to the eight sums of acc[r] whose
// gt[s] the magnitude bits of v[j] are above (VPCMPGTD on the broadcast
// bits, widened to a 64-bit lane mask), for j < n in index order: each
// sum one chain of VADDPD with the sum as first operand (as ADDSD in
// s += v), adding the element or, masked off, +0.
//
//go:noescape
func addRowsFrom2AVX2(acc *[squaresFromRows][8]float64, buf *[dotsRows * dotsBlock]float64, v *float32, n int, gt *[8]int32)

//go:noescape
func addRowsFrom4AVX2(acc *[squaresFromRows][8]float64, buf *[dotsRows * dotsBlock]float64, v *float32, n int, gt *[8]int32)

// addRowsFrom2AVX512 and addRowsFrom4AVX512 are addRowsFrom2AVX2 and
// addRowsFrom4AVX2 with the eight sums of a row in one register: the
// comparison (VPCMPGTD) leaves a mask register, and VADDPD adds the
// broadcast element under it, leaving the masked-off sums as they are (as
// adding +0 does to a sum that is not −0).
//
//go:noescape
func addRowsFrom2AVX512(acc *[squaresFromRows][8]float64, buf *[dotsRows * dotsBlock]float64, v *float32, n int, gt *[8]int32)

//go:noescape
func addRowsFrom4AVX512(acc *[squaresFromRows][8]float64, buf *[dotsRows * dotsBlock]float64, v *float32, n int, gt *[8]int32)

//go:noescape
func addRowsFrom8AVX512(acc *[squaresFromRows][8]float64, buf *[dotsRows * dotsBlock]float64, v *float32, n int, gt *[8]int32)

// squaresFromGroup is how many vectors SquaresFromBF16 sums side by side:
// the AVX2 bodies hold the sums of four in registers, the AVX-512 ones
// of eight.
func squaresFromGroup() int {
	if useAVX2 && useAVX512VL {
		return 8
	}
	return 4
}

// useAVX512VL selects addRowsFrom's AVX-512 bodies (with useAVX2, so that
// tests clearing useAVX2 run the reference).
var useAVX512VL = useAVX512 && cpu.X86.HasAVX512VL

// minMagnitudeAVX2 returns the unsigned minimum of the magnitude bits
// minus one (VPMINUD) of x, a multiple of 8 long, starting from m.
//
//go:noescape
func minMagnitudeAVX2(x []float32, m uint32) uint32

// addRowsFrom runs the kernel for the fewest rows that covers rows: the
// rows after them add into sums of acc that the caller does not read.
func addRowsFrom(acc *[squaresFromRows][8]float64, buf *[dotsRows * dotsBlock]float64, rows int, v []float32, gt *[8]int32) {
	switch {
	case !useAVX2 || len(v) == 0:
		addRowsFromGeneric(acc, buf, rows, v, gt)
	case useAVX512VL && rows <= 2:
		addRowsFrom2AVX512(acc, buf, &v[0], len(v), gt)
	case useAVX512VL && rows <= 4:
		addRowsFrom4AVX512(acc, buf, &v[0], len(v), gt)
	case useAVX512VL:
		addRowsFrom8AVX512(acc, buf, &v[0], len(v), gt)
	case rows <= 2:
		addRowsFrom2AVX2(acc, buf, &v[0], len(v), gt)
	default:
		addRowsFrom4AVX2(acc, buf, &v[0], len(v), gt)
	}
}

func minMagnitude(x []float32) uint32 {
	m := ^uint32(0)
	if useAVX2 {
		if n := len(x) &^ 7; n > 0 {
			m = minMagnitudeAVX2(x[:n], m)
			x = x[n:]
		}
	}
	for _, a := range x {
		m = min(m, math.Float32bits(a)&^(1<<31)-1)
	}
	return m + 1
}
