//go:build !amd64 || !gc || purego

package tensor

// useAVX512VL is false where there is no assembly (tests switch it).
var useAVX512VL = false

func addRowsFrom(acc *[squaresFromRows][8]float64, buf *[dotsRows * dotsBlock]float64, rows int, v []float32, gt *[8]int32) {
	addRowsFromGeneric(acc, buf, rows, v, gt)
}

func minMagnitude(x []float32) uint32 { return minMagnitudeGeneric(x) }

func squaresFromGroup() int { return squaresFromRows }
