package tensor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrUnsupported is returned, wrapped, by Decode and Encode for element types
// that have no float32 conversion: the F8 types and Invalid.
var ErrUnsupported = errors.New("dtype has no float32 conversion")

// ErrLength is returned, wrapped, by Decode and Encode when the byte buffer's
// length is not the element count times the element size.
var ErrLength = errors.New("byte and element counts disagree")

// Decode converts the little-endian stored elements of type dt in src to
// float32 values in dst. len(src) must be dt.Size()*len(dst).
//
// BF16, F16 and F32 convert exactly; F64 rounds to nearest, ties to even
// (Go's float32(x)); integer types convert to the nearest float32 (exact up
// to 2^24 in magnitude); Bool gives 0 or 1. The F8 types and Invalid return
// an error wrapping ErrUnsupported.
func Decode(dst []float32, src []byte, dt DType) error {
	if err := check("decode", dt, len(src), len(dst)); err != nil {
		return err
	}
	switch dt {
	case BF16:
		decode16(dst, src, BF16)
	case F16:
		decode16(dst, src, F16)
	case F32:
		if littleEndian {
			copy(AsBytes(dst), src)
			break
		}
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
	default:
		decodeInt(dst, src, dt)
	}
	return nil
}

// Encode converts the float32 values in src to little-endian stored elements
// of type dt in dst. len(dst) must be dt.Size()*len(src).
//
// BF16 and F16 round to nearest, ties to even (F32ToBF16, F32ToF16); F32 and
// F64 are exact (widening to F64 may quiet a signalling NaN, as hardware
// conversions do). Integer types truncate toward zero, like torch's .to(int),
// and then saturate at the type's limits; NaN becomes 0. (PyTorch leaves
// out-of-range and NaN conversions undefined; gomerge pins them down.) Bool
// stores 1 for every value other than ±0, NaN included, as torch does. The F8
// types and Invalid return an error wrapping ErrUnsupported.
func Encode(dst []byte, src []float32, dt DType) error {
	if err := check("encode", dt, len(dst), len(src)); err != nil {
		return err
	}
	switch dt {
	case BF16:
		encode16(dst, src, BF16)
	case F16:
		encode16(dst, src, F16)
	case F32:
		if littleEndian {
			copy(dst, AsBytes(src))
			break
		}
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case F64:
		for i, v := range src {
			binary.LittleEndian.PutUint64(dst[8*i:], math.Float64bits(float64(v)))
		}
	default:
		encodeInt(dst, src, dt)
	}
	return nil
}

func check(op string, dt DType, nbytes, nelem int) error {
	if !dt.Arithmetic() {
		return fmt.Errorf("tensor: %s %v: %w", op, dt, ErrUnsupported)
	}
	if nbytes/dt.Size() != nelem || nbytes%dt.Size() != 0 {
		return fmt.Errorf("tensor: %s %v: %d bytes for %d elements: %w", op, dt, nbytes, nelem, ErrLength)
	}
	return nil
}

// chunk is the number of elements staged through a stack buffer when the
// byte slice cannot be viewed as []uint16 in place.
const chunk = 512

// decode16 decodes the BF16 or F16 elements in src, in place when the host
// is little-endian and src is 2-byte aligned, else staged in chunks.
func decode16(dst []float32, src []byte, dt DType) {
	if v, ok := view16(src); ok {
		decodeKernel(dt, dst, v)
		return
	}
	var buf [chunk]uint16
	for len(dst) > 0 {
		n := min(len(dst), chunk)
		if littleEndian {
			copy(bytes16(buf[:n]), src)
		} else {
			for i := range buf[:n] {
				buf[i] = binary.LittleEndian.Uint16(src[2*i:])
			}
		}
		decodeKernel(dt, dst[:n], buf[:n])
		dst, src = dst[n:], src[2*n:]
	}
}

// encode16 is decode16's counterpart.
func encode16(dst []byte, src []float32, dt DType) {
	if v, ok := view16(dst); ok {
		encodeKernel(dt, v, src)
		return
	}
	var buf [chunk]uint16
	for len(src) > 0 {
		n := min(len(src), chunk)
		encodeKernel(dt, buf[:n], src[:n])
		if littleEndian {
			copy(dst, bytes16(buf[:n]))
		} else {
			for i, h := range buf[:n] {
				binary.LittleEndian.PutUint16(dst[2*i:], h)
			}
		}
		dst, src = dst[2*n:], src[n:]
	}
}

// decodeKernel and encodeKernel pick the 16-bit kernel by direct calls,
// which let escape analysis keep the staging buffers on the stack.
func decodeKernel(dt DType, dst []float32, src []uint16) {
	if dt == BF16 {
		decodeBF16(dst, src)
	} else {
		decodeF16(dst, src)
	}
}

func encodeKernel(dt DType, dst []uint16, src []float32) {
	if dt == BF16 {
		encodeBF16(dst, src)
	} else {
		encodeF16(dst, src)
	}
}

func decodeInt(dst []float32, src []byte, dt DType) {
	le := binary.LittleEndian
	for i := range dst {
		var v float32
		switch dt {
		case Bool:
			if src[i] != 0 {
				v = 1
			}
		case U8:
			v = float32(src[i])
		case I8:
			v = float32(int8(src[i]))
		case I16:
			v = float32(int16(le.Uint16(src[2*i:])))
		case U16:
			v = float32(le.Uint16(src[2*i:]))
		case I32:
			v = float32(int32(le.Uint32(src[4*i:])))
		case U32:
			v = float32(le.Uint32(src[4*i:]))
		case I64:
			v = float32(int64(le.Uint64(src[8*i:])))
		case U64:
			v = float32(le.Uint64(src[8*i:]))
		}
		dst[i] = v
	}
}

func encodeInt(dst []byte, src []float32, dt DType) {
	le := binary.LittleEndian
	for i, v := range src {
		switch dt {
		case Bool:
			dst[i] = 0
			if v != 0 {
				dst[i] = 1
			}
		case U8:
			dst[i] = uint8(toUint(v, math.MaxUint8))
		case I8:
			dst[i] = uint8(toInt(v, math.MinInt8, math.MaxInt8))
		case I16:
			le.PutUint16(dst[2*i:], uint16(toInt(v, math.MinInt16, math.MaxInt16)))
		case U16:
			le.PutUint16(dst[2*i:], uint16(toUint(v, math.MaxUint16)))
		case I32:
			le.PutUint32(dst[4*i:], uint32(toInt(v, math.MinInt32, math.MaxInt32)))
		case U32:
			le.PutUint32(dst[4*i:], uint32(toUint(v, math.MaxUint32)))
		case I64:
			le.PutUint64(dst[8*i:], uint64(toInt(v, math.MinInt64, math.MaxInt64)))
		case U64:
			le.PutUint64(dst[8*i:], toUint(v, math.MaxUint64))
		}
	}
}

// toInt truncates v toward zero and clamps it to [lo, hi]; NaN gives 0.
func toInt(v float32, lo, hi int64) int64 {
	f := float64(v)
	switch {
	case f != f:
		return 0
	case f <= float64(lo): // float64(lo) is exact: lo is -2^k
		return lo
	case f >= float64(hi): // float64(MaxInt64) rounds up to 2^63; f below it fits
		return hi
	}
	return int64(f)
}

// toUint truncates v toward zero and clamps it to [0, hi]; NaN gives 0.
func toUint(v float32, hi uint64) uint64 {
	f := float64(v)
	switch {
	case !(f > 0): // NaN, zero and negatives
		return 0
	case f >= float64(hi):
		return hi
	}
	return uint64(f)
}

// SubBF16Bytes is SubBF16 on bfloat16 tensors as stored (little-endian
// bytes, two per element): dst = round_bf16(a − b). It panics if a or b
// does not hold 2·len(dst) bytes.
func SubBF16Bytes(dst []float32, a, b []byte) {
	mustSameLen("SubBF16Bytes", 2*len(dst), len(a))
	mustSameLen("SubBF16Bytes", 2*len(dst), len(b))
	va, okA := view16(a)
	vb, okB := view16(b)
	if okA && okB {
		subBF16(dst, va, vb)
		return
	}
	// Unaligned or big-endian: decode both, a piece at a time.
	var buf [chunk]float32
	for len(dst) > 0 {
		n := min(len(dst), chunk)
		decode16(dst[:n], a[:2*n], BF16)
		decode16(buf[:n], b[:2*n], BF16)
		subRoundBF16(dst[:n], dst[:n], buf[:n])
		dst, a, b = dst[n:], a[2*n:], b[2*n:]
	}
}
