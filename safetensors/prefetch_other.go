//go:build !linux

package safetensors

// prefetch does nothing where the system has no read-ahead hint.
func (f *File) prefetch(off, n int64) {}
