//go:build !(cuda && linux && amd64)

package main

import "github.com/gomerge/gomerge/tensor"

// cudaBuilt says that this build has the CUDA backend.
const cudaBuilt = false

func openCUDA() (tensor.Backend, func(), error) { return nil, nil, errNoCUDABuild }
