//go:build !amd64 || !gc || purego

package tensor

func subPruneScaleBF16(dst, sum []float32, a, b []uint16, min uint32, w float32, first, last bool) {
	subPruneScaleBF16Generic(dst, sum, a, b, min, w, first, last)
}

func subKeepScaleBF16(dst, sum []float32, a, b []uint16, draws []uint32, bound uint32, f, w float32, first, last bool) {
	subKeepScaleBF16Generic(dst, sum, a, b, draws, bound, f, w, first, last)
}

// useAVX512BW is false: there are no AVX-512 bodies here.
var useAVX512BW = false

// useAVX512BF16 is false: no VCVTNE2PS2BF16 kernels either.
var useAVX512BF16 = false
