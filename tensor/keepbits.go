package tensor

// KeepBits sets x[j] to +0 wherever bit j of mask (bit j%64 of
// mask[j/64]) is clear, and leaves it alone where the bit is set. mask
// must hold at least len(x) bits.
func KeepBits(x []float32, mask []uint64) {
	if len(x) == 0 {
		return
	}
	_ = mask[(len(x)-1)>>6] // holds len(x) bits
	keepBits(x, mask)
}

func keepBitsGeneric(x []float32, mask []uint64) {
	for j := range x {
		if mask[j>>6]>>(j&63)&1 == 0 {
			x[j] = 0
		}
	}
}
