package tensor

import "math"

// AxpyRoundBF16Bytes is AxpyRound(BF16, acc, w, x) with x as stored
// bfloat16 (little-endian bytes, two per element), decoded as it is read:
//
//	acc[i] += round_bf16(w · x[i])
//
// It gives the bytes of Decode followed by AxpyRound without writing the
// decoded values anywhere. It panics if x does not hold 2·len(acc) bytes.
func AxpyRoundBF16Bytes(acc []float32, w float32, x []byte) {
	mustSameLen("AxpyRoundBF16Bytes", 2*len(acc), len(x))
	if v, ok := view16(x); ok {
		axpyRoundBF16Stored(acc, w, v)
		return
	}
	// Unaligned or big-endian: decode a block at a time.
	var buf [chunk]float32
	for len(acc) > 0 {
		n := min(len(acc), chunk)
		decode16(buf[:n], x[:2*n], BF16)
		axpyRoundBF16(acc[:n], w, buf[:n])
		acc, x = acc[n:], x[2*n:]
	}
}

func axpyRoundBF16StoredGeneric(acc []float32, w float32, x []uint16) {
	x = x[:len(acc)]
	for i := range acc {
		acc[i] += roundBF16Scalar(w * math.Float32frombits(uint32(x[i])<<16))
	}
}
