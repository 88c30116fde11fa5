//go:build amd64 && gc && !purego

package tensor

// disjointMergeBF16AVX2 is disjointMergeBF16Bits on eight lanes for a
// length that is a multiple of 8 and at least one input.
//
//go:noescape
func disjointMergeBF16AVX2(out []float32, x [][]float32, w, sign []float32, base []uint16, normalize bool)

func disjointMergeBF16(out []float32, x [][]float32, w, sign []float32, base []uint16, normalize bool) {
	n := 0
	if useAVX2 && len(x) > 0 {
		n = len(out) &^ 7
		disjointMergeBF16AVX2(out[:n], x, w, sign[:n], base[:n], normalize)
	}
	disjointMergeBF16Bits(out[n:], x, n, w, sign[n:], base[n:], normalize)
}
