package model

// wsumNarrow is wsum for heads narrower than 16 (stories260K's 8, the
// 4-wide heads of small generated models), which the vector kernel does
// not take: the accumulators stay in registers across all keys instead of
// one tensor.Axpy call per key, whose call and dispatch cost more than
// its 4 or 8 multiply-adds. Same order of summation as wsumGeneric. It
// reports false for other widths.
// minNormal32 is the smallest normal float32. Softmax weights far below
// the largest underflow to subnormals, and every scalar multiply by one
// takes a microcode assist (about a hundred cycles): such a weight times a
// value row adds less than 2⁻¹²⁶·|v| and is skipped.
const minNormal32 = 0x1p-126

func wsumNarrow(acc, p, v []float32, stride int) bool {
	switch len(acc) {
	case 8:
		var a0, a1, a2, a3, a4, a5, a6, a7 float32
		for j, w := range p {
			if w > -minNormal32 && w < minNormal32 {
				continue
			}
			r := v[j*stride : j*stride+8 : j*stride+8]
			a0 += w * r[0]
			a1 += w * r[1]
			a2 += w * r[2]
			a3 += w * r[3]
			a4 += w * r[4]
			a5 += w * r[5]
			a6 += w * r[6]
			a7 += w * r[7]
		}
		acc[0], acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7] = a0, a1, a2, a3, a4, a5, a6, a7
	case 4:
		var a0, a1, a2, a3 float32
		for j, w := range p {
			if w > -minNormal32 && w < minNormal32 {
				continue
			}
			r := v[j*stride : j*stride+4 : j*stride+4]
			a0 += w * r[0]
			a1 += w * r[1]
			a2 += w * r[2]
			a3 += w * r[3]
		}
		acc[0], acc[1], acc[2], acc[3] = a0, a1, a2, a3
	case 2:
		var a0, a1 float32
		for j, w := range p {
			if w > -minNormal32 && w < minNormal32 {
				continue
			}
			r := v[j*stride : j*stride+2 : j*stride+2]
			a0 += w * r[0]
			a1 += w * r[1]
		}
		acc[0], acc[1] = a0, a1
	default:
		return false
	}
	return true
}
