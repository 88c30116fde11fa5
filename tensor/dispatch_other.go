//go:build !amd64 || !gc || purego

package tensor

// Without assembly every kernel is its portable Go reference. The variables
// exist so that tests can flip them on every platform.
var (
	useAVX2   = false
	useF16C   = false
	useAVX512 = false
)

func decodeBF16(dst []float32, src []uint16) { decodeBF16Generic(dst, src) }
func encodeBF16(dst []uint16, src []float32) { encodeBF16Generic(dst, src) }
func roundBF16(x []float32)                  { roundBF16Generic(x) }
func decodeF16(dst []float32, src []uint16)  { decodeF16Generic(dst, src) }
func encodeF16(dst []uint16, src []float32)  { encodeF16Generic(dst, src) }
func roundF16(x []float32)                   { roundF16Generic(x) }

func axpy(dst []float32, a float32, x []float32) { axpyGeneric(dst, a, x) }
func scale(dst []float32, a float32)             { scaleGeneric(dst, a) }
func add(dst, x []float32)                       { addGeneric(dst, x) }
func sub(dst, a, b []float32)                    { subGeneric(dst, a, b) }
func divNonZero(dst, div []float32)              { divNonZeroGeneric(dst, div) }
func addAgreeing(sum, weight, x, sign []float32, w float32) {
	addAgreeingGeneric(sum, weight, x, sign, w)
}
func dot(a, b []float32) float64            { return dotGeneric(a, b) }
func sumAbs(x []float32) float64            { return sumAbsGeneric(x) }
func sumSquares(x []float32) float64        { return sumSquaresGeneric(x) }
func addSquares(acc []float64, x []float32) { addSquaresGeneric(acc, x) }
func sumSquaresLanes(lanes *[SumSquaresBlock]float64, x []float32) {
	sumSquaresLanesGeneric(lanes, x)
}

func keepBelow(x []float32, draws []uint32, bound uint32) int {
	return keepBelowGeneric(x, draws, bound)
}

func divScalar(dst []float32, d float32) { divScalarGeneric(dst, d) }

func subRoundBF16(dst, a, b []float32)                    { subRoundBF16Generic(dst, a, b) }
func subRoundF16(dst, a, b []float32)                     { subRoundF16Generic(dst, a, b) }
func scaleRoundBF16(x []float32, a float32)               { scaleRoundBF16Generic(x, a) }
func scaleRoundF16(x []float32, a float32)                { scaleRoundF16Generic(x, a) }
func axpyRoundBF16(acc []float32, w float32, x []float32) { axpyRoundBF16Generic(acc, w, x) }
func axpyRoundF16(acc []float32, w float32, x []float32)  { axpyRoundF16Generic(acc, w, x) }
func divScalarRoundBF16(x []float32, d float32)           { divScalarRoundBF16Generic(x, d) }
func divScalarRoundF16(x []float32, d float32)            { divScalarRoundF16Generic(x, d) }
func divNonZeroRoundBF16(dst, div []float32)              { divNonZeroRoundBF16Generic(dst, div) }
func divNonZeroRoundF16(dst, div []float32)               { divNonZeroRoundF16Generic(dst, div) }

func pruneMagnitude(x []float32, thr uint32, ties int) int {
	return pruneMagnitudeGeneric(x, thr, ties)
}
func countMagnitude(x []float32, thr uint32) int { return countMagnitudeGeneric(x, thr) }
func countAboveWindow(hist []uint32, x []float32, lo, hi uint32) int {
	return countAboveWindowGeneric(hist, x, lo, hi)
}

func splitMix64(dst []uint64, key, ctr uint64) { splitMix64Generic(dst, key, ctr) }

func subBF16(dst []float32, a, b []uint16) { subBF16Generic(dst, a, b) }

func divMulRoundBF16(dst, a, b []float32, da, db float32) { divMulRoundBF16Generic(dst, a, b, da, db) }
func combineDivRoundBF16(dst, a, b, base []float32, ca, cb, d float32) {
	combineDivRoundBF16Generic(dst, a, b, base, ca, cb, d)
}
func divMulRoundVecBF16(dst, a, b, da, db []float32) { divMulRoundVecBF16Generic(dst, a, b, da, db) }
func combineDivRoundVecBF16(dst, a, b, ca, cb, d []float32) {
	combineDivRoundVecBF16Generic(dst, a, b, ca, cb, d)
}
