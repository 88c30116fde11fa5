//go:build amd64 && gc && !purego

package tensor

import "golang.org/x/sys/cpu"

// useRankKeepAVX512 selects rankKeepAVX512, scanKeysAVX512 and
// keySpanAVX512.
var useRankKeepAVX512 = cpu.X86.HasAVX512F

// rankKeepAVX512 walks 16 elements at a time, each with scalar loads and
// stores of next[key] (a vector gather of next and scatter back would
// make the next vector's gather wait on the scatter whenever keys repeat,
// and on AMD cores a 16-lane gather costs more than 16 loads): the drop
// bits gather by RCR in a register, then one masked move zeroes the
// dropped elements. len(x) is a multiple of 16.
//
//go:noescape
func rankKeepAVX512(x []float32, draws *uint32, next *int32, limits *uint32, keep *uint16)

// rankKeepAbsSumAVX512 is rankKeepAVX512 that also adds the magnitudes of
// each 16 elements after the drop, as float64, to lanes (AbsSum's, element
// j in lane j%16), as sumAbsLanesAVX2 would. len(x) is a multiple of 16.
//
//go:noescape
func rankKeepAbsSumAVX512(x []float32, draws *uint32, next *int32, limits *uint32, keep *uint16, lanes *[16]float64)

// rankKeepAbsSumsAVX512 is rankKeepAbsSumAVX512 that also adds the
// magnitudes of each 16 elements before the drop to all's lanes, from the
// same load. len(x) is a multiple of 16.
//
//go:noescape
func rankKeepAbsSumsAVX512(x []float32, draws *uint32, next *int32, limits *uint32, keep *uint16, all, kept *[16]float64)

// scanKeysAVX512 is scanKeysGeneric over n keys (a multiple of 16) from
// hist and prefix: the prefix sums of 16 counts within a vector in four
// shift-and-add steps (VALIGND), plus the running sum.
//
//go:noescape
func scanKeysAVX512(hist *int32, prefix *int32, n int, sum int32) int32

// keySpanAVX512 is keySpanGeneric over x from its start values (0, ^0,
// 0), 16 elements at a time (VPORD, VPMINUD, VPMAXUD). len(x) is a
// multiple of 16.
//
//go:noescape
func keySpanAVX512(x []float32) (bits, lowest, highest uint32)

// countKeysAMD64 is countKeysLoop in assembly, four elements a step, each
// key loaded as the high half of its float32 (no shift): the compiler's
// loop moves every element through a vector register.
//
//go:noescape
func countKeysAMD64(x []float32, hist *int32)

// keySpanAVX2 is keySpanAVX512 with 8 elements at a time. len(x) is a
// multiple of 8.
//
//go:noescape
func keySpanAVX2(x []float32) (bits, lowest, highest uint32)

func countKeys(x []float32, hist *[BF16Keys]int32) (bits uint32, lo, hi int) {
	if len(x) == 0 {
		return countKeysGeneric(x, hist)
	}
	countKeysAMD64(x, &hist[0])
	var b, l, h uint32 = 0, ^uint32(0), 0
	n := 0
	switch {
	case useRankKeepAVX512 && len(x) >= 16:
		n = len(x) &^ 15
		b, l, h = keySpanAVX512(x[:n])
	case useAVX2 && len(x) >= 8:
		n = len(x) &^ 7
		b, l, h = keySpanAVX2(x[:n])
	}
	return keySpan(keySpanGeneric(x[n:], b, l, h))
}

func rankKeep(x []float32, draws []uint32, next *[BF16Keys]int32, limits []uint32, keep []uint16) {
	n := 0
	if useRankKeepAVX512 && len(x) >= 16 {
		n = len(x) &^ 15
		rankKeepAVX512(x[:n], &draws[0], &next[0], &limits[0], &keep[0])
	}
	rankKeepGeneric(x[n:], draws[n:], next, limits, keep[n/16:])
}

func scanKeys(hist, prefix *[BF16Keys]int32, a, b int, sum int32) int32 {
	if !useRankKeepAVX512 || a == b {
		return scanKeysGeneric(hist, prefix, a, b, sum)
	}
	return scanKeysAVX512(&hist[a], &prefix[a], b-a, sum)
}

func rankKeepAbsSum(x []float32, draws []uint32, next *[BF16Keys]int32, limits []uint32, keep []uint16, sum *AbsSum) {
	if !useRankKeepAVX512 || !absSumLanes() || len(x) < 16 {
		rankKeepAbsSumGeneric(x, draws, next, limits, keep, sum)
		return
	}
	n := len(x) &^ 15
	rankKeepAbsSumAVX512(x[:n], &draws[0], &next[0], &limits[0], &keep[0], &sum.lanes)
	rankKeepAbsSumGeneric(x[n:], draws[n:], next, limits, keep[n/16:], sum)
}

func rankKeepAbsSums(x []float32, draws []uint32, next *[BF16Keys]int32, limits []uint32, keep []uint16, all, kept *AbsSum) {
	if !useRankKeepAVX512 || !absSumLanes() || len(x) < 16 {
		rankKeepAbsSumsGeneric(x, draws, next, limits, keep, all, kept)
		return
	}
	n := len(x) &^ 15
	rankKeepAbsSumsAVX512(x[:n], &draws[0], &next[0], &limits[0], &keep[0], &all.lanes, &kept.lanes)
	rankKeepAbsSumsGeneric(x[n:], draws[n:], next, limits, keep[n/16:], all, kept)
}
