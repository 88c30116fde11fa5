//go:build !amd64 || !gc || purego

package tensor

func lanesSumOf(x []float32) lanesSum { return lanesSumGeneric(x) }

func roundedDotLanesOf(a, b []float32) lanesSum { return roundedDotLanesGeneric(a, b) }
