//go:build !linux

package safetensors

import "os"

// startWriteback is a no-op where sync_file_range does not exist.
func startWriteback(*os.File, int64, int64) {}

// preallocate does nothing where fallocate does not exist.
func preallocate(*os.File, int64) error { return nil }

// openDirect returns nil: tensor data goes through the page cache where
// O_DIRECT does not exist.
func openDirect(string) *os.File { return nil }

// hugeBuffer returns nil: stage buffers come from the Go heap.
func hugeBuffer(int) []byte { return nil }
