//go:build amd64 && gc && !purego

package tensor

// eraseMergeBF16AVX512 is eraseMergeBF16Generic on 16 lanes for a length
// of out that is a multiple of 16, with the same comparisons as
// addElectedRoundBF16AVX2 (into mask registers) and its operands in the
// same order; a nil mask (0) keeps every position. tmp holds 16 floats per
// input: the task vectors of the current 16 positions, between the sum
// that elects the signs and the sums of the elected terms.
//
//go:noescape
func eraseMergeBF16AVX512(out []float32, xs [][]byte, base []byte, mask *uint64, q []float32, eps float32, tmp *float32)

// eraseMergeInputs is the most inputs the AVX-512 body takes (its tmp is
// on the stack); more are left to the Go reference.
const eraseMergeInputs = 32

// eraseMerge runs the AVX-512 body over the longest multiple of 16
// elements and returns how many it did.
func eraseMerge(out []float32, xs [][]byte, base []byte, mask []uint64, q []float32, eps float32) int {
	if !useAVX2 || !useAVX512BW || len(xs) == 0 || len(xs) > eraseMergeInputs {
		return 0
	}
	n := len(out) &^ 15
	if n == 0 {
		return 0
	}
	var m *uint64
	if mask != nil {
		m = &mask[0]
	}
	var tmp [16 * eraseMergeInputs]float32
	eraseMergeBF16AVX512(out[:n], xs, base, m, q, eps, &tmp[0])
	return n
}
