//go:build amd64 && gc && !purego

package tensor

import "golang.org/x/sys/cpu"

// useRankKeepAVX512 selects rankKeepAVX512 and scanKeysAVX512.
var useRankKeepAVX512 = cpu.X86.HasAVX512F

// rankKeepAVX512 looks up every element's limit, limits[prefix[k] +
// occ[j]], with scalar loads into occ (on AMD cores two VPGATHERDDs per 16
// elements cost more than the 32 loads), then compares 16 draws at a time
// with them (VPCMPUD) and masks x. No element's rank depends on
// another's, so neither pass has a chain from element to element. len(x)
// is a multiple of 16.
//
//go:noescape
func rankKeepAVX512(x []float32, draws *uint32, prefix *int32, occ *int32, limits *uint32, keep *uint16)

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

// countKeysAMD64 is countKeysLoop in assembly, four elements a step in
// index order, each key loaded as the high half of its float32 (no
// shift): the compiler's loop moves every element through a vector
// register and checks bounds.
//
//go:noescape
func countKeysAMD64(x []float32, hist *int32, occ *int32)

// keySpanAVX2 is keySpanAVX512 with 8 elements at a time. len(x) is a
// multiple of 8.
//
//go:noescape
func keySpanAVX2(x []float32) (bits, lowest, highest uint32)

func countKeys(x []float32, hist *[BF16Keys]int32, occ []int32) (bits uint32, lo, hi int) {
	if len(x) == 0 {
		return countKeysGeneric(x, hist, occ)
	}
	countKeysAMD64(x, &hist[0], &occ[0])
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

func rankKeep(x []float32, draws []uint32, prefix *[BF16Keys]int32, occ []int32, limits []uint32, keep []uint16) {
	n := 0
	if useRankKeepAVX512 && len(x) >= 16 {
		n = len(x) &^ 15
		rankKeepAVX512(x[:n], &draws[0], &prefix[0], &occ[0], &limits[0], &keep[0])
	}
	rankKeepGeneric(x[n:], draws[n:], prefix, occ[n:], limits, keep[n/16:])
}

func scanKeys(hist, prefix *[BF16Keys]int32, a, b int, sum int32) int32 {
	if !useRankKeepAVX512 || a == b {
		return scanKeysGeneric(hist, prefix, a, b, sum)
	}
	return scanKeysAVX512(&hist[a], &prefix[a], b-a, sum)
}
