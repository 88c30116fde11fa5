//go:build !amd64 || !gc || purego

package model

func expSum(x []float32, m float32) float32 { return expSumGeneric(x, m) }

func maxF32(x []float32) float32 { return maxGeneric(x) }

func expStore(x []float32, m float32) float32 { return expStoreGeneric(x, m) }

func mulF64(x []float32, s float64) { mulF64Generic(x, s) }
