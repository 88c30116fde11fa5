//go:build !amd64 || !gc || purego

package model

func siluMul(g, u, e []float32) { siluMulGeneric(g, u, e) }
