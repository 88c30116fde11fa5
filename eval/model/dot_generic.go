package model

// dot2x4Generic is the Go reference of dot2x4: eight dot products of x0
// and x1 with the four rows of w that start ws floats apart, each
// accumulated in float32 in four interleaved partial sums.
func dot2x4Generic(out *[8]float32, x0, x1, w []float32, ws, n int) {
	for r := range 4 {
		wr := w[r*ws : r*ws+n]
		out[2*r] = dotGeneric(x0[:n], wr)
		out[2*r+1] = dotGeneric(x1[:n], wr)
	}
}

func dotGeneric(x, w []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(w); i += 4 {
		s0 += x[i] * w[i]
		s1 += x[i+1] * w[i+1]
		s2 += x[i+2] * w[i+2]
		s3 += x[i+3] * w[i+3]
	}
	for ; i < len(w); i++ {
		s0 += x[i] * w[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dot2xNGeneric is dot2xN through dot2x4, block by block.
func dot2xNGeneric(p0, p1, x0, x1, w []float32, ws, n, blocks int) {
	var out [8]float32
	for b := range blocks {
		dot2x4(&out, x0, x1, w[4*b*ws:], ws, n)
		for r := range 4 {
			p0[4*b+r], p1[4*b+r] = out[2*r], out[2*r+1]
		}
	}
}
