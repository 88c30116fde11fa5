package tensor

import (
	"fmt"
	"strings"
)

// DType is an element type of a tensor.
type DType uint8

// The element types gomerge knows. The F8 types are carried through
// unchanged; they cannot be decoded to float32 for arithmetic.
const (
	Invalid DType = iota
	Bool
	U8
	I8
	I16
	U16
	I32
	U32
	I64
	U64
	F16
	BF16
	F32
	F64
	F8E4M3
	F8E5M2
)

type dtypeInfo struct {
	st    string // safetensors name
	torch string // torch name without the "torch." prefix
	size  int
	float bool
}

var dtypes = [...]dtypeInfo{
	Invalid: {"", "", 0, false},
	Bool:    {"BOOL", "bool", 1, false},
	U8:      {"U8", "uint8", 1, false},
	I8:      {"I8", "int8", 1, false},
	I16:     {"I16", "int16", 2, false},
	U16:     {"U16", "uint16", 2, false},
	I32:     {"I32", "int32", 4, false},
	U32:     {"U32", "uint32", 4, false},
	I64:     {"I64", "int64", 8, false},
	U64:     {"U64", "uint64", 8, false},
	F16:     {"F16", "float16", 2, true},
	BF16:    {"BF16", "bfloat16", 2, true},
	F32:     {"F32", "float32", 4, true},
	F64:     {"F64", "float64", 8, true},
	F8E4M3:  {"F8_E4M3", "float8_e4m3fn", 1, true},
	F8E5M2:  {"F8_E5M2", "float8_e5m2", 1, true},
}

// String returns the safetensors name of d ("BF16", "F32", ...).
func (d DType) String() string {
	if int(d) >= len(dtypes) || d == Invalid {
		return fmt.Sprintf("DType(%d)", uint8(d))
	}
	return dtypes[d].st
}

// TorchName returns the PyTorch name of d without the "torch." prefix
// ("bfloat16", "float32", ...), as written into config.json.
func (d DType) TorchName() string {
	if int(d) >= len(dtypes) {
		return ""
	}
	return dtypes[d].torch
}

// Size returns the size of one element in bytes, or 0 for Invalid.
func (d DType) Size() int {
	if int(d) >= len(dtypes) {
		return 0
	}
	return dtypes[d].size
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	return int(d) < len(dtypes) && dtypes[d].float
}

// Arithmetic reports whether values of d can be decoded to float32 for
// merge arithmetic (F16, BF16, F32, F64 and the integer types).
func (d DType) Arithmetic() bool {
	switch d {
	case F16, BF16, F32, F64, I8, U8, I16, U16, I32, U32, I64, U64, Bool:
		return true
	}
	return false
}

// ParseDType parses a safetensors dtype name such as "BF16".
func ParseDType(s string) (DType, error) {
	for i, info := range dtypes {
		if i != 0 && info.st == s {
			return DType(i), nil
		}
	}
	return Invalid, fmt.Errorf("unknown safetensors dtype %q", s)
}

// ParseTorchDType parses the dtype names mergekit accepts in a config's
// dtype and out_dtype keys: "bfloat16", "float16", "float32", "int64",
// optionally prefixed with "torch.". gomerge also accepts "float64".
func ParseTorchDType(s string) (DType, error) {
	name := strings.TrimPrefix(s, "torch.")
	switch name {
	case "bfloat16":
		return BF16, nil
	case "float16":
		return F16, nil
	case "float32":
		return F32, nil
	case "float64":
		return F64, nil
	case "int64":
		return I64, nil
	}
	return Invalid, fmt.Errorf("unknown dtype %q (want bfloat16, float16, float32 or int64)", s)
}
