//go:build amd64 && gc && !purego

package tensor

// subKeepAbsSumsBF16AVX512 is subKeepAbsSumsBF16Generic on 16 lanes for a
// length that is a multiple of 16: each lane's float64 sums are those of
// sumAbsLanesAVX2, kept's added under the mask draw < bound (adding
// nothing is adding the +0 of a dropped entry).
//
//go:noescape
func subKeepAbsSumsBF16AVX512(all, kept *[16]float64, a, b []uint16, draws []uint32, bound uint32)

// subKeepAbsSums runs the AVX-512 body over the longest multiple of 16
// elements and returns how many it did; without AVX-512 it does none, and
// SubKeepAbsSumsBF16's blocks of AVX2 kernels do them all.
func subKeepAbsSums(all, kept *[16]float64, a, b []uint16, draws []uint32, bound uint32) int {
	if !useAVX2 || !useAVX512BW {
		return 0
	}
	n := len(draws) &^ 15
	if n > 0 {
		subKeepAbsSumsBF16AVX512(all, kept, a[:n], b[:n], draws[:n], bound)
	}
	return n
}
