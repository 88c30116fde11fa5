package safetensors

import (
	"errors"
	"strconv"
	"strings"
)

// ErrFormat is wrapped by every error that reports an invalid safetensors
// header or data layout.
var ErrFormat = errors.New("safetensors: invalid file")

// FormatError reports an invalid safetensors file. It wraps both Err and
// [ErrFormat].
type FormatError struct {
	File   string // file name, if known
	Tensor string // offending tensor, if any
	Err    error  // what is wrong
}

// Error returns the message, naming the file and tensor when known.
func (e *FormatError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Tensor != "" {
		b.WriteString("tensor ")
		b.WriteString(strconv.Quote(e.Tensor))
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
		if errors.Is(e.Err, ErrFormat) {
			return b.String()
		}
		b.WriteString(": ")
	}
	b.WriteString(ErrFormat.Error())
	return b.String()
}

// Unwrap returns Err and ErrFormat.
func (e *FormatError) Unwrap() []error { return []error{e.Err, ErrFormat} }

// Kinds of header problems that tests tell apart; they are wrapped inside a
// FormatError's Err.
var (
	errDuplicateKey = errors.New("duplicate key")
	errRange        = errors.New("out of range")
)
