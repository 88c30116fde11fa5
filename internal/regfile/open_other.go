//go:build !unix

package regfile

import "os"

func open(name string) (*os.File, error) { return os.Open(name) }

func clearNonblock(*os.File) error { return nil }
