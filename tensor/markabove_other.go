//go:build !amd64 || !gc || purego

package tensor

func markAbove(mask []uint64, x []float32, thr uint32) { markAboveGeneric(mask, x, thr) }
