//go:build !amd64 || !gc || purego

package tensor

func addElectedRoundBF16(num, den, x, sum []float32, q float32) {
	addElectedRoundBF16Generic(num, den, x, sum, q)
}

func divMaxAddRoundBF16(out, base, num, den []float32, eps float32) {
	divMaxAddRoundBF16Generic(out, base, num, den, eps)
}
