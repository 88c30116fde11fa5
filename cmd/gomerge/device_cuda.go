//go:build cuda && linux && amd64

package main

import (
	"log/slog"
	"os"

	"github.com/gomerge/gomerge/internal/cuda"
	"github.com/gomerge/gomerge/tensor"
)

// cudaBuilt says that this build has the CUDA backend.
const cudaBuilt = true

// openCUDA opens GPU 0; GOMERGE_LIBCUDA and GOMERGE_LIBCUBLAS name the
// driver and cuBLAS libraries where the default search misses them.
func openCUDA() (tensor.Backend, func(), error) {
	d, err := cuda.Open(cuda.Config{Driver: os.Getenv("GOMERGE_LIBCUDA"), BLAS: os.Getenv("GOMERGE_LIBCUBLAS")})
	if err != nil {
		return nil, nil, err
	}
	slog.Debug("CUDA device opened", "device", d.String())
	return d, func() { d.Close() }, nil
}
