package tensor

import "math"

// Round rounds every element of x in place to the nearest value of type dt,
// so that a float32 buffer behaves like a tensor of that dtype. For every dt,
// Round agrees bit for bit with Encode followed by Decode:
//
//   - BF16, F16: round to nearest, ties to even, through the 16-bit type
//     (overflow gives ±Inf, NaN stays NaN);
//   - F32, F64: unchanged;
//   - integer types: truncate toward zero, saturate at the type's limits,
//     NaN becomes 0;
//   - Bool: 1 for every value other than ±0, else 0.
//
// The F8 types and Invalid have no float32 arithmetic; x is left unchanged.
func Round(dt DType, x []float32) {
	switch dt {
	case BF16:
		roundBF16(x)
	case F16:
		roundF16(x)
	case F32, F64:
	default:
		if !dt.Arithmetic() {
			return
		}
		for i, v := range x {
			x[i] = RoundScalar(dt, v)
		}
	}
}

// RoundScalar returns v rounded to the nearest value of type dt, exactly as
// Round does for each element.
func RoundScalar(dt DType, v float32) float32 {
	switch dt {
	case BF16:
		return roundBF16Scalar(v)
	case F16:
		return roundF16Scalar(v)
	case Bool:
		if v != 0 {
			return 1
		}
		return 0
	case U8:
		return float32(toUint(v, math.MaxUint8))
	case I8:
		return float32(toInt(v, math.MinInt8, math.MaxInt8))
	case I16:
		return float32(toInt(v, math.MinInt16, math.MaxInt16))
	case U16:
		return float32(toUint(v, math.MaxUint16))
	case I32:
		return float32(toInt(v, math.MinInt32, math.MaxInt32))
	case U32:
		return float32(toUint(v, math.MaxUint32))
	case I64:
		return float32(toInt(v, math.MinInt64, math.MaxInt64))
	case U64:
		return float32(toUint(v, math.MaxUint64))
	}
	return v
}
