package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
)

// maxHeaderSize is the Rust crate's limit on the JSON header length.
const maxHeaderSize = 100_000_000

// TensorInfo describes one tensor of a safetensors file.
type TensorInfo struct {
	Name   string
	DType  DType
	Shape  []int64
	Offset int64 // absolute byte offset of the data in the file
	Size   int64 // bytes
}

// NumElements returns the number of elements: the product of Shape, which is
// 1 for a scalar (empty Shape).
func (t TensorInfo) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Reader reads tensors from a safetensors file whose header it has validated.
// Its methods are safe for concurrent use if the underlying io.ReaderAt is.
type Reader struct {
	r        io.ReaderAt
	name     string // file name for messages; may be empty
	tensors  []TensorInfo
	index    map[string]int
	metadata map[string]string
}

// NewReader reads and validates the header of the safetensors file held by r,
// which is size bytes long. Header problems are reported as a *FormatError.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	return newReader(r, size, "")
}

func newReader(r io.ReaderAt, size int64, name string) (*Reader, error) {
	fail := func(format string, args ...any) error {
		return &FormatError{File: name, Err: fmt.Errorf(format, args...)}
	}
	if size < 8 {
		return nil, fail("file is %d bytes, too short for the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if err := readAt(r, lenBuf[:], 0); err != nil {
		return nil, ioError(name, "read header length", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxHeaderSize {
		return nil, fail("header length %d exceeds the limit of %d bytes", n, maxHeaderSize)
	}
	if n > uint64(size-8) {
		return nil, fail("header length %d exceeds the %d bytes after the length field", n, size-8)
	}
	hdr := make([]byte, n)
	if err := readAt(r, hdr, 8); err != nil {
		return nil, ioError(name, "read header", err)
	}
	meta, tensors, err := parseHeader(hdr)
	if err != nil {
		return nil, withFile(err, name)
	}
	dataStart := 8 + int64(n)
	if err := checkLayout(tensors, size-dataStart); err != nil {
		return nil, withFile(err, name)
	}
	index := make(map[string]int, len(tensors))
	for i := range tensors {
		tensors[i].Offset += dataStart
		index[tensors[i].Name] = i
	}
	return &Reader{r: r, name: name, tensors: tensors, index: index, metadata: meta}, nil
}

// checkLayout sorts tensors by data offsets (Offset still relative to the data
// section) and checks that they tile the data section exactly.
func checkLayout(tensors []TensorInfo, dataLen int64) error {
	slices.SortStableFunc(tensors, func(a, b TensorInfo) int {
		if a.Offset != b.Offset {
			return compareInt64(a.Offset, b.Offset)
		}
		return compareInt64(a.Size, b.Size)
	})
	var end int64
	for _, t := range tensors {
		switch {
		case t.Offset > end:
			return &FormatError{Tensor: t.Name, Err: fmt.Errorf("data_offsets [%d,%d] leave a gap after offset %d", t.Offset, t.Offset+t.Size, end)}
		case t.Offset < end:
			return &FormatError{Tensor: t.Name, Err: fmt.Errorf("data_offsets [%d,%d] overlap data ending at offset %d", t.Offset, t.Offset+t.Size, end)}
		}
		end += t.Size
	}
	if end != dataLen {
		return &FormatError{Err: fmt.Errorf("tensors end at data offset %d but the data section is %d bytes", end, dataLen)}
	}
	return nil
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func withFile(err error, name string) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		fe.File = name
	}
	return err
}

func ioError(name, what string, err error) error {
	if name == "" {
		return fmt.Errorf("safetensors: %s: %w", what, err)
	}
	return fmt.Errorf("%s: %s: %w", name, what, err)
}

// readAt fills p from offset off, treating a short read as io.ErrUnexpectedEOF.
func readAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// Tensors returns the tensors in data-offset order. The caller must not
// modify the returned slice.
func (r *Reader) Tensors() []TensorInfo { return r.tensors }

// Tensor returns the tensor called name and whether it exists.
func (r *Reader) Tensor(name string) (TensorInfo, bool) {
	i, ok := r.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return r.tensors[i], true
}

// Metadata returns the header's __metadata__ map, nil if there is none. The
// caller must not modify it.
func (r *Reader) Metadata() map[string]string { return r.metadata }

// ReadTensor reads the data of the tensor called name into dst, whose length
// must equal the tensor's Size.
func (r *Reader) ReadTensor(name string, dst []byte) error {
	t, ok := r.Tensor(name)
	if !ok {
		return ioError(r.name, fmt.Sprintf("tensor %q", name), fs.ErrNotExist)
	}
	return r.ReadTensorAt(t, dst)
}

// ReadTensorAt reads the data of t, which should come from this Reader, into
// dst, whose length must equal t.Size. It issues a single ReadAt.
func (r *Reader) ReadTensorAt(t TensorInfo, dst []byte) error {
	what := fmt.Sprintf("read tensor %q", t.Name)
	if int64(len(dst)) != t.Size {
		return ioError(r.name, what, fmt.Errorf("buffer is %d bytes, tensor is %d", len(dst), t.Size))
	}
	if len(dst) == 0 {
		return nil
	}
	if err := readAt(r.r, dst, t.Offset); err != nil {
		return ioError(r.name, what, err)
	}
	return nil
}

// ReadTensorRange reads len(dst) bytes of t's data starting off bytes into
// the tensor, for streaming a large tensor in pieces.
func (r *Reader) ReadTensorRange(t TensorInfo, off int64, dst []byte) error {
	// The message is made only on error: pieces are read thousands of
	// times per tensor.
	what := func() string { return fmt.Sprintf("read tensor %q", t.Name) }
	if off < 0 || off+int64(len(dst)) > t.Size {
		return ioError(r.name, what(), fmt.Errorf("range [%d, %d) outside its %d bytes", off, off+int64(len(dst)), t.Size))
	}
	if len(dst) == 0 {
		return nil
	}
	if err := readAt(r.r, dst, t.Offset+off); err != nil {
		return ioError(r.name, what(), err)
	}
	return nil
}
