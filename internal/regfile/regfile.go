// Package regfile opens and reads files that must be regular files: model
// shards, indexes, configs, tokenizer and task files. A FIFO, device,
// socket or directory given in their place is refused with ErrNotRegular
// instead of blocking in open or reading without end, and whole-file reads
// are bounded.
package regfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotRegular is the error, wrapped in an *fs.PathError, for a path that
// names something other than a regular file (or a link to one).
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is the error, wrapped in a *SizeError, for a file over the
// limit given to ReadFile.
var ErrTooLarge = errors.New("file too large")

// Limits for ReadFile.
const (
	// ConfigLimit bounds YAML and JSON configuration files: merge and
	// multi-stage configs, config.json, generation_config.json,
	// tokenizer_config.json, adapter_config.json, safetensors indexes.
	// The largest of these in the wild, the indexes of models with tens of
	// thousands of tensors and tokenizer configs with a hundred thousand
	// added tokens, stay under a few MiB.
	ConfigLimit = 16 << 20
	// TokenizerLimit bounds tokenizer.json, vocab and merges files: the
	// largest vocabularies (256k tokens and their merges) take some
	// tens of MiB.
	TokenizerLimit = 256 << 20
	// TaskLimit bounds evaluation task files and their data sets, the
	// largest of which (JSONL exports of lm-eval sets) are some hundreds
	// of MiB.
	TaskLimit = 1 << 30
)

// SizeError reports a file larger than the limit it was read with.
type SizeError struct {
	Path  string
	Limit int64
}

// Error names the file and the limit.
func (e *SizeError) Error() string {
	return fmt.Sprintf("read %s: %v (more than %d bytes)", e.Path, ErrTooLarge, e.Limit)
}

// Unwrap returns ErrTooLarge.
func (e *SizeError) Unwrap() error { return ErrTooLarge }

// Open opens the regular file name for reading. Anything else is refused
// before it is opened, and the opened file is checked again, so that a
// FIFO put in the file's place meanwhile neither blocks the open nor is
// read.
func Open(name string) (*os.File, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, asOpen(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(name)
	}
	f, err := open(name)
	if err != nil {
		return nil, err
	}
	if fi, err = f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = notRegular(name)
		}
		return nil, err
	}
	if err := clearNonblock(f); err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return f, nil
}

// asOpen reports a failed Stat as the open it stands for, as os.Open
// would have: "open NAME: no such file or directory".
func asOpen(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == "stat" {
		return &fs.PathError{Op: "open", Path: pe.Path, Err: pe.Err}
	}
	return err
}

func notRegular(name string) error {
	return &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
}

// ReadFile reads the regular file name whole, refusing one of more than
// limit bytes. It reads at most limit+1 bytes, so a file that grows while
// it is read, or whose size was misreported, is refused too.
func ReadFile(name string, limit int64) ([]byte, error) {
	f, err := Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return read(f, name, limit)
}

// ReadFileFS is ReadFile on a file system. An fs.FS cannot open without
// blocking, so a non-regular file is refused only by a Stat before the
// open.
func ReadFileFS(fsys fs.FS, name string, limit int64) ([]byte, error) {
	fi, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, asOpen(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(name)
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return read(f, name, limit)
}

func read(f fs.File, name string, limit int64) ([]byte, error) {
	size := int64(bytes.MinRead)
	if fi, err := f.Stat(); err == nil {
		if fi.Size() > limit {
			return nil, &SizeError{Path: name, Limit: limit}
		}
		size = max(size, fi.Size()+bytes.MinRead) // +MinRead: no growth to see EOF
	}
	buf := bytes.NewBuffer(make([]byte, 0, min(size, limit+1)))
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	if int64(buf.Len()) > limit {
		return nil, &SizeError{Path: name, Limit: limit}
	}
	return buf.Bytes(), nil
}
