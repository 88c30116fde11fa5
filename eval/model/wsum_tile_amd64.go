//go:build amd64 && gc && !purego

package model

//go:noescape
func wsumTileAVX512(acc, p, v *float32, accStride, pStride, stride, n, q int)

// tileQueries is how many queries attention weighs together against each
// value row (wsumTile's q), 1 where the vector kernel cannot take the head.
func tileQueries(hd int) int {
	if useAVX512 && hd%16 == 0 && hd <= 128 {
		return maxTile
	}
	return 1
}

// wsumTile adds, for each query u < q (at most 4), Σ_{j<n} p[u·pStride+j] ·
// v[j·stride : j·stride+hd] to acc[u·accStride : u·accStride+hd]. With
// AVX-512 and hd a multiple of 16 every value row is loaded once for the
// whole tile, and each query's sum is the same fused multiply-adds in the
// same order as wsum's, so the same bits.
func wsumTile(acc []float32, accStride int, p []float32, pStride int, v []float32, stride, n, q, hd int) {
	if !useAVX512 || hd%16 != 0 || n == 0 || q == 0 {
		wsumTileGeneric(acc, accStride, p, pStride, v, stride, n, q, hd)
		return
	}
	_ = acc[(q-1)*accStride+hd-1]
	_ = p[(q-1)*pStride+n-1]
	_ = v[(n-1)*stride+hd-1]
	for c := 0; c < hd; c += 16 {
		wsumTileAVX512(&acc[c], &p[0], &v[c], accStride, pStride, stride, n, q)
	}
}
