// Package cuda runs gomerge's merge arithmetic on an NVIDIA GPU without
// cgo and without the CUDA toolkit at build time.
//
// The GPU code is behind the build tag cuda (on linux/amd64): Open loads
// libcuda.so.1 (and cuBLAS for GEMMs) at run time through
// github.com/ebitengine/purego, which makes the binary dynamically linked,
// so the default build leaves it out and stays static. A tagged build
// without a driver fails Open with an error that names the library and
// the call.
//
// The kernels are kernels.cu, compiled to PTX by gen.sh with Debian's
// clang (no nvcc) and embedded as PTX; the driver compiles the PTX for the
// GPU at hand when Open loads it. They reproduce package tensor's
// arithmetic bit for bit (separately rounded float32 operations, IEEE
// division, denormals kept, the same round-to-nearest-even formulas for
// bfloat16 and float16, the same SplitMix64 stream for DARE masks); only
// NaN payloads may differ.
//
// A Device implements tensor.Backend: each operation copies a piece of a
// tensor to the GPU in chunks through pinned buffers, two chunks in flight
// on two streams so that copies overlap the kernels, and copies the result
// back. Device memory comes from cuMemAlloc, never managed memory.
package cuda
