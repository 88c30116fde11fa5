//go:build !amd64 || !gc || purego

package tensor

func subCountWindowsBF16(hist0, hist1 []uint32, a, b []uint16, lo0, hi0, lo1, hi1 uint32) (int, int) {
	return subCountWindowsBF16Generic(hist0, hist1, a, b, lo0, hi0, lo1, hi1)
}
