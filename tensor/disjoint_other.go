//go:build !amd64 || !gc || purego

package tensor

func disjointMergeBF16(out []float32, x [][]float32, w, sign []float32, base []uint16, normalize bool) {
	disjointMergeBF16Bits(out, x, 0, w, sign, base, normalize)
}
