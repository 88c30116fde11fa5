//go:build !amd64 || !gc || purego

package tensor

// absSumLanes says that SumAbs adds in the lanes of a SIMD body: not
// here, it adds in order.
func absSumLanes() bool { return false }

func absSumAdd(x []float32, lanes *[16]float64) { absSumAddGeneric(x, lanes) }
