//go:build amd64 && gc && !purego

package tensor

// disjointMergeBF16AVX2 is disjointMergeBF16Bits on eight lanes for a
// length that is a multiple of 8 and at least one input.
//
//go:noescape
func disjointMergeBF16AVX2(out []float32, x [][]float32, w, sign []float32, base []uint16, normalize bool)

// disjointMergeBF16AVX512 is disjointMergeBF16AVX2 on 16 lanes for a
// length that is a multiple of 16.
//
//go:noescape
func disjointMergeBF16AVX512(out []float32, x [][]float32, w, sign []float32, base []uint16, normalize bool)

func disjointMergeBF16(out []float32, x [][]float32, w, sign []float32, base []uint16, normalize bool) {
	// The bodies read the inputs from their starts: the one that runs
	// takes the longest prefix it can, the reference the rest (at most 15
	// elements).
	n := 0
	switch {
	case len(x) == 0:
	case useAVX2 && useAVX512BW:
		n = len(out) &^ 15
		disjointMergeBF16AVX512(out[:n], x, w, sign[:n], base[:n], normalize)
	case useAVX2:
		n = len(out) &^ 7
		disjointMergeBF16AVX2(out[:n], x, w, sign[:n], base[:n], normalize)
	}
	disjointMergeBF16Bits(out[n:], x, n, w, sign[n:], base[n:], normalize)
}
