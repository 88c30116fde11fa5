package model

import "github.com/gomerge/gomerge/tensor"

// wsumGeneric is the Go reference of wsum: acc = Σ_j p[j] ·
// v[j·stride : j·stride+len(acc)], accumulated in float32 in order of j.
func wsumGeneric(acc, p, v []float32, stride int) {
	if wsumNarrow(acc, p, v, stride) {
		return
	}
	clear(acc)
	hd := len(acc)
	for j, w := range p {
		tensor.Axpy(acc, w, v[j*stride:j*stride+hd])
	}
}
