package safetensors

// DType is a safetensors dtype name ("F32", "BF16", "F8_E4M3", ...).
type DType string

// The dtypes this package knows.
const (
	Bool       DType = "BOOL"
	U8         DType = "U8"
	I8         DType = "I8"
	U16        DType = "U16"
	I16        DType = "I16"
	F16        DType = "F16"
	BF16       DType = "BF16"
	U32        DType = "U32"
	I32        DType = "I32"
	F32        DType = "F32"
	F64        DType = "F64"
	U64        DType = "U64"
	I64        DType = "I64"
	F8E4M3     DType = "F8_E4M3"
	F8E5M2     DType = "F8_E5M2"
	F8E8M0     DType = "F8_E8M0"
	F8E4M3FNUZ DType = "F8_E4M3FNUZ"
	F8E5M2FNUZ DType = "F8_E5M2FNUZ"
)

// Size returns the number of bytes per element of d, or 0 if d is unknown.
//
// Sub-byte dtypes (F4, F6_*) have no whole-byte size and are unknown here.
func (d DType) Size() int {
	switch d {
	case Bool, U8, I8, F8E4M3, F8E5M2, F8E8M0, F8E4M3FNUZ, F8E5M2FNUZ:
		return 1
	case U16, I16, F16, BF16:
		return 2
	case U32, I32, F32:
		return 4
	case F64, U64, I64:
		return 8
	}
	return 0
}
