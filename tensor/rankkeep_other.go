//go:build !amd64 || !gc || purego

package tensor

// useRankKeepAVX512 exists so that tests can flip it on every platform.
var useRankKeepAVX512 = false

func rankKeep(x []float32, draws []uint32, next *[BF16Keys]int32, limits []uint32, keep []uint16) {
	rankKeepGeneric(x, draws, next, limits, keep)
}

func scanKeys(hist, prefix *[BF16Keys]int32, a, b int, sum int32) int32 {
	return scanKeysGeneric(hist, prefix, a, b, sum)
}

func countKeys(x []float32, hist *[BF16Keys]int32) (bits uint32, lo, hi int) {
	return countKeysGeneric(x, hist)
}

func rankKeepAbsSum(x []float32, draws []uint32, next *[BF16Keys]int32, limits []uint32, keep []uint16, sum *AbsSum) {
	rankKeepAbsSumGeneric(x, draws, next, limits, keep, sum)
}

func rankKeepAbsSums(x []float32, draws []uint32, next *[BF16Keys]int32, limits []uint32, keep []uint16, all, kept *AbsSum) {
	rankKeepAbsSumsGeneric(x, draws, next, limits, keep, all, kept)
}
