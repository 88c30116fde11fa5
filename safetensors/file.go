package safetensors

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/gomerge/gomerge/internal/regfile"
)

// File is an open safetensors file.
type File struct {
	*Reader
	f *os.File
}

// Open opens the safetensors file at path and validates its header. Errors
// name the path; a path that is not a regular file (a FIFO, a device) is
// refused before it is opened.
func Open(path string) (*File, error) {
	f, err := regfile.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	r, err := newReader(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &File{Reader: r, f: f}, nil
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// Name returns the path the file was opened with.
func (f *File) Name() string { return f.name }

// Mapping is a tensor's data mapped into memory read-only.
type Mapping struct {
	// Data is the tensor's bytes. It must not be written, nor used after
	// Close.
	Data []byte

	whole      []byte // the mapping, from a page boundary
	skip, page int64
}

// MapTensor maps a tensor's data into memory read-only, where the system
// supports it. Reading Data reads the file through the page cache without
// copying it. If the file is truncated while it is mapped, reading faults
// (see runtime/debug.SetPanicOnFault).
func (f *File) MapTensor(name string) (*Mapping, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("%s: tensor %q: %w", f.name, name, fs.ErrNotExist)
	}
	m, err := mapRange(f.f, t.Offset, t.Size)
	if err != nil {
		return nil, ioError(f.name, fmt.Sprintf("map tensor %q", name), err)
	}
	return m, nil
}

// PrefetchTensor starts reading a tensor's data into the page cache in the
// background, so that a later read or mapping of it does not wait on the
// disk. It is a hint: it returns at once, and unknown names and systems
// without read-ahead hints are ignored.
func (f *File) PrefetchTensor(name string) {
	if t, ok := f.Tensor(name); ok {
		f.prefetch(t.Offset, t.Size)
	}
}
