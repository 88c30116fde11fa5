//go:build !amd64 || !gc || purego

package model

func wsum(acc, p, v []float32, stride int) { wsumGeneric(acc, p, v, stride) }
