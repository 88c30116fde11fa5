//go:build amd64 && gc && !purego

package tensor

// markWindowAVX512 is markWindowGeneric on 16 lanes (VPCMPUD into mask
// registers, stored 16 bits at a time) for n elements, a multiple of 64.
//
//go:noescape
func markWindowAVX512(over, inside *uint64, x *float32, n int, lo, hi uint32)

// markWindow runs the AVX-512 body over the whole words of x and returns
// how many words it marked.
func markWindow(over, inside []uint64, x []float32, lo, hi uint32) int {
	if !useAVX2 || !useAVX512BW {
		return 0
	}
	w := len(x) >> 6
	if w > 0 {
		markWindowAVX512(&over[0], &inside[0], &x[0], w<<6, lo, hi)
	}
	return w
}
