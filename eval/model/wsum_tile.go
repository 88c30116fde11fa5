package model

// maxTile caps tileQueries; tests set it to 1 to compare tiled attention
// with attention query by query.
var maxTile = 4

// wsumTileGeneric is the Go reference of wsumTile: for each query u < q,
// acc[u·accStride : u·accStride+hd] += Σ_{j<n} p[u·pStride+j] ·
// v[j·stride : j·stride+hd], accumulated in float32 in order of j.
func wsumTileGeneric(acc []float32, accStride int, p []float32, pStride int, v []float32, stride, n, q, hd int) {
	for u := range q {
		a := acc[u*accStride : u*accStride+hd]
		pu := p[u*pStride : u*pStride+n]
		for j, w := range pu {
			r := v[j*stride : j*stride+hd]
			for i := range a {
				a[i] += w * r[i]
			}
		}
	}
}
