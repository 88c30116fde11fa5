//go:build amd64 && gc && !purego

package tensor

// absSumLanes says that SumAbs adds in the lanes of its AVX2 body.
func absSumLanes() bool { return useAVX2 }

// sumAbsLanesAVX2 is sumAbsAVX2's loop over x (a multiple of 16
// elements) with its four accumulators loaded from and stored to lanes.
//
//go:noescape
func sumAbsLanesAVX2(x []float32, lanes *[16]float64)

func absSumAdd(x []float32, lanes *[16]float64) {
	if len(x) > 0 {
		sumAbsLanesAVX2(x, lanes)
	}
}
