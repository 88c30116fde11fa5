package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/tensor"
)

// errNoCUDABuild is --device cuda in a build without the cuda tag.
var errNoCUDABuild = errors.New("built without CUDA support (rebuild with -tags cuda)")

// deviceUsage is the --device flag's help.
const deviceUsage = "math device: cpu, cuda (an NVIDIA GPU; needs a -tags cuda build) or auto (cuda when a GPU opens, else cpu with a notice)"

// checkDevice refuses a --device value that is not cpu, cuda or auto, and
// cuda in a build without the cuda tag.
func checkDevice(device string, stderr io.Writer) int {
	switch device {
	case "cpu", "auto":
		return exitOK
	case "cuda":
		if !cudaBuilt {
			fmt.Fprintf(stderr, "gomerge: %v\n", errNoCUDABuild)
			return exitUsage
		}
		return exitOK
	}
	fmt.Fprintf(stderr, "gomerge: unknown --device %q (want cpu, cuda or auto)\n", device)
	return exitUsage
}

// openDevice returns the backend --device asks for and a function that
// releases it: nil (the CPU) for cpu; the GPU for cuda, or an error when it
// cannot be opened; for auto the GPU when it opens, else nil and a
// one-line notice on stderr.
func openDevice(device string, stderr io.Writer) (tensor.Backend, func(), error) {
	if device == "cpu" {
		return nil, func() {}, nil
	}
	be, closeFn, err := openCUDA()
	if err == nil {
		return be, closeFn, nil
	}
	if device == "cuda" {
		return nil, nil, err
	}
	fmt.Fprintf(stderr, "gomerge: --device auto: %v; running on the CPU\n", err)
	return nil, func() {}, nil
}

// accelerator returns the backend as a forward-pass accelerator (the CUDA
// device of a -tags cuda build), or nil for the CPU.
func accelerator(be tensor.Backend) model.Accelerator {
	a, _ := be.(model.Accelerator)
	return a
}

// isConfigPath says that a MODEL argument names a merge config (merged in
// memory, on the --device) rather than a model directory.
func isConfigPath(path string) bool {
	ext := filepath.Ext(path)
	return ext == ".yml" || ext == ".yaml"
}
