package tensor

import "unsafe"

// littleEndian reports whether the host stores multi-byte values least
// significant byte first, as safetensors files do. When it is true a
// suitably aligned []byte can be read as []uint16 or []float32 in place.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// AsBytes returns the memory of x as a byte slice of length 4*len(x),
// without copying. On little-endian hosts (amd64, arm64, ...) that is the F32
// stored encoding of x, ready to write to a safetensors file; on big-endian
// hosts it is not, and Encode must be used instead.
func AsBytes(x []float32) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*len(x))
}

// AsFloat32s returns the F32 stored elements in b as a []float32 that shares
// b's memory, without copying. It reports false, and returns nil, when that
// is impossible: on a big-endian host, when len(b) is not a multiple of 4, or
// when b does not start on a 4-byte boundary. Decode works in every case.
func AsFloat32s(b []byte) ([]float32, bool) {
	if !littleEndian || len(b)%4 != 0 || !aligned(b, 4) {
		return nil, false
	}
	if len(b) == 0 {
		return nil, true
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4), true
}

// aligned reports whether b starts on an n-byte boundary.
func aligned(b []byte, n uintptr) bool {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b)))%n == 0
}

// view16 returns b as []uint16 sharing its memory, or ok == false when the
// host is big-endian or b is not 2-byte aligned. len(b) must be even.
func view16(b []byte) (v []uint16, ok bool) {
	if !littleEndian || !aligned(b, 2) {
		return nil, false
	}
	if len(b) == 0 {
		return nil, true
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/2), true
}

// bytes16 returns the memory of x as bytes, without copying.
func bytes16(x []uint16) []byte {
	if len(x) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 2*len(x))
}
