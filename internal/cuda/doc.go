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
// clang 14.0.6 (clang-14 --cuda-device-only -nocudainc -nocudalib
// --cuda-gpu-arch=sm_80, PTX ISA 7.0; no nvcc) and embedded as PTX; the
// driver compiles the PTX for the GPU at hand when Open loads it. Tests
// check that the PTX is gen.sh's output, that it has no fused or
// approximate float instructions, and that every launch's arguments match
// its entry's parameters. They reproduce package tensor's
// arithmetic bit for bit (separately rounded float32 operations, IEEE
// division, denormals kept, the same round-to-nearest-even formulas for
// bfloat16 and float16, the same SplitMix64 stream for DARE masks); only
// NaN payloads may differ.
//
// A Device implements tensor.Backend: each operation copies a piece of a
// tensor to the GPU in chunks through pinned buffers, two chunks in flight
// on two streams so that copies overlap the kernels, and copies the result
// back. Device memory comes from cuMemAlloc, never managed memory; an
// allocation the GPU cannot satisfy is an error that says what it was for,
// the bytes needed and the bytes free. The memory needed does not grow
// with the tensors: two chunks of each buffer of an operation.
//
// A Device is also an eval/model Accelerator (forward.go): Upload puts a
// dense model's weights on the GPU once, and its log-prob scoring then
// runs there with every activation device-resident, the GEMMs in cuBLAS
// (bf16 inputs, float32 accumulation).
//
// Without a GPU the tests that need one skip, unless GOMERGE_REQUIRE_CUDA=1
// (bench/gpu.sh sets it). TestFakeDriver runs them against
// testdata/fakecuda.cpp, a fake libcuda and libcublas built with
// clang++-14 that runs kernels.cu on the host.
package cuda
