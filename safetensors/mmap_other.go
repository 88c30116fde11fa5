//go:build !unix

package safetensors

import (
	"errors"
	"os"
)

func mapRange(*os.File, int64, int64) (*Mapping, error) {
	return nil, errors.New("memory mapping is not supported on this system")
}

// Release does nothing where mapping is not supported.
func (m *Mapping) Release(off, n int64) {}

// Close does nothing where mapping is not supported.
func (m *Mapping) Close() error { return nil }
