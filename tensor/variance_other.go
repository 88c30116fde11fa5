//go:build !amd64 || !gc || purego

package tensor

func addWiden(acc []float64, x []float32)              { addWidenGeneric(acc, x) }
func divF64(x []float64, d float64)                    { divF64Generic(x, d) }
func addSquaredDiff(ss, mean []float64, x []float32)   { addSquaredDiffGeneric(ss, mean, x) }
func narrowDiv(dst []float32, ss []float64, d float64) { narrowDivGeneric(dst, ss, d) }
