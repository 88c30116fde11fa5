// Package gguf writes GGUF files (version 3), the model format of
// llama.cpp, and reads their headers back. It exists so that the
// benchmarks can run llama.cpp on the very models gomerge's forward pass
// (eval/model) runs: ConvertLlama writes a Hugging Face Llama directory as
// a GGUF file for llama.cpp's "llama" architecture. Tests and benchmarks
// only.
package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Magic is the first four bytes of a GGUF file.
const Magic = "GGUF"

// Version is the GGUF version Writer writes.
const Version = 3

// Alignment is the alignment of the tensor data (general.alignment's
// default, which Writer does not override).
const Alignment = 32

// ErrFormat is wrapped by every error about a malformed GGUF header.
var ErrFormat = errors.New("gguf: bad format")

// ValueType is the type of a metadata value.
type ValueType uint32

// The metadata value types.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

// TensorType is ggml's element type of a tensor.
type TensorType uint32

// The tensor types Writer writes.
const (
	F32  TensorType = 0
	F16  TensorType = 1
	BF16 TensorType = 30
)

// Size returns the bytes per element of t, or 0 if Writer does not know t.
func (t TensorType) Size() int {
	switch t {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

// String returns ggml's name of t.
func (t TensorType) String() string {
	switch t {
	case F32:
		return "F32"
	case F16:
		return "F16"
	case BF16:
		return "BF16"
	}
	return fmt.Sprintf("type%d", uint32(t))
}

// KV is one metadata entry. Value is one of uint8, int8, uint16, int16,
// uint32, int32, float32, bool, string, uint64, int64, float64, or a slice
// of one of them ([]string, []float32, []int32, ...), which is written as an
// array.
type KV struct {
	Key   string
	Value any
}

// Tensor describes one tensor: Shape in ggml's order, the fastest-varying
// dimension first (a PyTorch [rows, cols] matrix has Shape {cols, rows}).
type Tensor struct {
	Name   string
	Type   TensorType
	Shape  []uint64
	Offset uint64 // from the start of the data section; set by WriteHeader, read by ReadHeader
}

// Bytes returns the size of t's data.
func (t Tensor) Bytes() uint64 {
	n := uint64(t.Type.Size())
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Header is everything before the tensor data.
type Header struct {
	KV      []KV
	Tensors []Tensor
}

// Get returns the value of key, or nil.
func (h *Header) Get(key string) any {
	for _, kv := range h.KV {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

func pad(n uint64) uint64 { return (n + Alignment - 1) / Alignment * Alignment }

// WriteHeader lays the tensors out in order, each at an aligned offset
// (setting h.Tensors[i].Offset), and writes the header and the padding that
// precedes the data. The caller then writes each tensor's Bytes() bytes in
// order, each followed by Padding(bytes) zero bytes.
func WriteHeader(w io.Writer, h *Header) error {
	bw := bufio.NewWriter(w)
	e := &encoder{w: bw}
	e.raw([]byte(Magic))
	e.u32(Version)
	e.u64(uint64(len(h.Tensors)))
	e.u64(uint64(len(h.KV)))
	for _, kv := range h.KV {
		e.str(kv.Key)
		e.value(kv.Key, kv.Value)
	}
	off := uint64(0)
	for i := range h.Tensors {
		t := &h.Tensors[i]
		if t.Type.Size() == 0 {
			return fmt.Errorf("gguf: tensor %s: unsupported type %v", t.Name, t.Type)
		}
		t.Offset = off
		e.str(t.Name)
		e.u32(uint32(len(t.Shape)))
		for _, d := range t.Shape {
			e.u64(d)
		}
		e.u32(uint32(t.Type))
		e.u64(t.Offset)
		off = pad(off + t.Bytes())
	}
	if e.err != nil {
		return e.err
	}
	e.raw(make([]byte, pad(e.n)-e.n))
	if e.err != nil {
		return e.err
	}
	return bw.Flush()
}

// Padding returns how many zero bytes follow n bytes of tensor data.
func Padding(n uint64) int { return int(pad(n) - n) }

type encoder struct {
	w   io.Writer
	n   uint64
	err error
}

func (e *encoder) raw(b []byte) {
	if e.err != nil {
		return
	}
	n, err := e.w.Write(b)
	e.n += uint64(n)
	e.err = err
}

func (e *encoder) u32(v uint32) { e.raw(binary.LittleEndian.AppendUint32(nil, v)) }
func (e *encoder) u64(v uint64) { e.raw(binary.LittleEndian.AppendUint64(nil, v)) }
func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	e.raw([]byte(s))
}

// scalar writes v without its type; it reports v's type, or false.
func (e *encoder) scalar(v any) (ValueType, bool) {
	var b []byte
	var t ValueType
	switch v := v.(type) {
	case uint8:
		b, t = []byte{v}, TypeUint8
	case int8:
		b, t = []byte{byte(v)}, TypeInt8
	case uint16:
		b, t = binary.LittleEndian.AppendUint16(nil, v), TypeUint16
	case int16:
		b, t = binary.LittleEndian.AppendUint16(nil, uint16(v)), TypeInt16
	case uint32:
		b, t = binary.LittleEndian.AppendUint32(nil, v), TypeUint32
	case int32:
		b, t = binary.LittleEndian.AppendUint32(nil, uint32(v)), TypeInt32
	case float32:
		b, t = binary.LittleEndian.AppendUint32(nil, math.Float32bits(v)), TypeFloat32
	case bool:
		b, t = []byte{0}, TypeBool
		if v {
			b[0] = 1
		}
	case uint64:
		b, t = binary.LittleEndian.AppendUint64(nil, v), TypeUint64
	case int64:
		b, t = binary.LittleEndian.AppendUint64(nil, uint64(v)), TypeInt64
	case float64:
		b, t = binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)), TypeFloat64
	case string:
		e.str(v)
		return TypeString, true
	default:
		return 0, false
	}
	e.raw(b)
	return t, true
}

// typeOf returns the metadata type of a scalar value.
func typeOf(v any) (ValueType, bool) {
	var e encoder
	e.w = io.Discard
	return e.scalar(v)
}

func (e *encoder) value(key string, v any) {
	if t, ok := typeOf(v); ok {
		e.u32(uint32(t))
		e.scalar(v)
		return
	}
	var elems []any
	switch v := v.(type) {
	case []string:
		elems = each(v)
	case []float32:
		elems = each(v)
	case []int32:
		elems = each(v)
	case []uint32:
		elems = each(v)
	case []uint8:
		elems = each(v)
	case []int64:
		elems = each(v)
	default:
		if e.err == nil {
			e.err = fmt.Errorf("gguf: %s: unsupported value type %T", key, v)
		}
		return
	}
	e.u32(uint32(TypeArray))
	et := TypeUint8
	switch v.(type) {
	case []string:
		et = TypeString
	case []float32:
		et = TypeFloat32
	case []int32:
		et = TypeInt32
	case []uint32:
		et = TypeUint32
	case []int64:
		et = TypeInt64
	}
	e.u32(uint32(et))
	e.u64(uint64(len(elems)))
	for _, x := range elems {
		e.scalar(x)
	}
}

func each[T any](s []T) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

// ReadHeader reads the header of a GGUF file: its metadata (arrays come
// back as slices of the element's Go type: []string, []float32, []int32,
// ...) and its tensor table. It returns the offset of the data section.
func ReadHeader(r io.Reader) (*Header, uint64, error) {
	d := &decoder{r: bufio.NewReader(r)}
	if m := string(d.raw(4)); d.err == nil && m != Magic {
		return nil, 0, fmt.Errorf("%w: magic %q", ErrFormat, m)
	}
	if v := d.u32(); d.err == nil && v != Version {
		return nil, 0, fmt.Errorf("%w: version %d", ErrFormat, v)
	}
	nt, nkv := d.u64(), d.u64()
	if d.err == nil && (nt > 1<<24 || nkv > 1<<24) {
		return nil, 0, fmt.Errorf("%w: %d tensors, %d metadata entries", ErrFormat, nt, nkv)
	}
	h := &Header{}
	for i := uint64(0); i < nkv && d.err == nil; i++ {
		k := d.str()
		h.KV = append(h.KV, KV{k, d.value(ValueType(d.u32()), true)})
	}
	for i := uint64(0); i < nt && d.err == nil; i++ {
		t := Tensor{Name: d.str()}
		nd := d.u32()
		if nd > 4 {
			d.fail("tensor %s: %d dimensions", t.Name, nd)
		}
		for j := uint32(0); j < nd && d.err == nil; j++ {
			t.Shape = append(t.Shape, d.u64())
		}
		t.Type = TensorType(d.u32())
		t.Offset = d.u64()
		h.Tensors = append(h.Tensors, t)
	}
	if d.err != nil {
		return nil, 0, d.err
	}
	return h, pad(d.n), nil
}

type decoder struct {
	r   io.Reader
	n   uint64
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
	}
}

// raw reads n bytes; after an error it returns n zero bytes (none for
// lengths above 8), so that callers need not check every read.
func (d *decoder) raw(n uint64) []byte {
	if n > 1<<30 {
		d.fail("length %d", n)
	}
	if d.err != nil {
		return make([]byte, min(n, 8))
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.err = fmt.Errorf("%w: %v", ErrFormat, err)
		return make([]byte, min(n, 8))
	}
	d.n += n
	return b
}

func (d *decoder) u32() uint32 { return binary.LittleEndian.Uint32(d.raw(4)) }
func (d *decoder) u64() uint64 { return binary.LittleEndian.Uint64(d.raw(8)) }

func (d *decoder) str() string { return string(d.raw(d.u64())) }

// value reads a value of type t; arrays only where array is true (GGUF
// has no arrays of arrays here).
func (d *decoder) value(t ValueType, array bool) any {
	switch t {
	case TypeUint8:
		return d.raw(1)[0]
	case TypeInt8:
		return int8(d.raw(1)[0])
	case TypeUint16:
		return binary.LittleEndian.Uint16(d.raw(2))
	case TypeInt16:
		return int16(binary.LittleEndian.Uint16(d.raw(2)))
	case TypeUint32:
		return d.u32()
	case TypeInt32:
		return int32(d.u32())
	case TypeFloat32:
		return math.Float32frombits(d.u32())
	case TypeBool:
		return d.raw(1)[0] != 0
	case TypeString:
		return d.str()
	case TypeUint64:
		return d.u64()
	case TypeInt64:
		return int64(d.u64())
	case TypeFloat64:
		return math.Float64frombits(d.u64())
	case TypeArray:
		if array {
			return d.array()
		}
	}
	d.fail("value type %d", t)
	return nil
}

func (d *decoder) array() any {
	et := ValueType(d.u32())
	n := d.u64()
	if d.err != nil {
		return nil
	}
	if n > 1<<24 {
		d.fail("array of %d", n)
		return nil
	}
	switch et {
	case TypeString:
		return collect[string](d, et, n)
	case TypeFloat32:
		return collect[float32](d, et, n)
	case TypeInt32:
		return collect[int32](d, et, n)
	case TypeUint32:
		return collect[uint32](d, et, n)
	case TypeUint8:
		return collect[uint8](d, et, n)
	case TypeInt64:
		return collect[int64](d, et, n)
	}
	d.fail("array of type %d", et)
	return nil
}

func collect[T any](d *decoder, et ValueType, n uint64) []T {
	out := make([]T, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		v, _ := d.value(et, false).(T)
		out = append(out, v)
	}
	return out
}
