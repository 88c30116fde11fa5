//go:build amd64 && gc && !purego

package model

//go:noescape
func wsumAVX512(acc, p, v *float32, stride, n, chunks int)

// wsum sets acc to Σ_j p[j] · v[j·stride : j·stride+len(acc)].
func wsum(acc, p, v []float32, stride int) {
	hd := len(acc)
	if !useAVX512 || hd%16 != 0 || hd > 128 || len(p) == 0 {
		wsumGeneric(acc, p, v, stride)
		return
	}
	_ = v[(len(p)-1)*stride+hd-1]
	wsumAVX512(&acc[0], &p[0], &v[0], stride, len(p), hd/16)
}
