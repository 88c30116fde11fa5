//go:build !amd64 || !gc || purego

package tensor

func meanBlendBF16AVX2(out []float32, xs [][]byte, base []byte, m, ratio, keep float32) {
	panic("tensor: no assembly kernels on this platform")
}
