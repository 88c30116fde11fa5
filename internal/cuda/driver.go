//go:build cuda && linux && amd64

package cuda

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// result is a CUresult or cublasStatus_t; 0 is success.
type result int32

// Driver API error codes the package tells apart.
const (
	errOutOfMemory result = 2   // CUDA_ERROR_OUT_OF_MEMORY
	errNoDevice    result = 100 // CUDA_ERROR_NO_DEVICE
)

// ErrNoDevice is returned by Open when the driver loads but reports no
// CUDA device.
var ErrNoDevice = errors.New("cuda: no CUDA device")

// driver holds the Driver API functions, bound with purego.
type driver struct {
	path string

	cuInit                    func(flags uint32) result
	cuGetErrorString          func(r result, s *unsafe.Pointer) result
	cuGetErrorName            func(r result, s *unsafe.Pointer) result
	cuDeviceGetCount          func(n *int32) result
	cuDeviceGet               func(dev *int32, ordinal int32) result
	cuDeviceGetName           func(name *byte, n int32, dev int32) result
	cuDeviceGetAttribute      func(v *int32, attr int32, dev int32) result
	cuDevicePrimaryCtxRetain  func(ctx *uintptr, dev int32) result
	cuDevicePrimaryCtxRelease func(dev int32) result
	cuCtxSetCurrent           func(ctx uintptr) result
	cuCtxSynchronize          func() result
	cuModuleLoadDataEx        func(mod *uintptr, image *byte, n uint32, opts *int32, vals *unsafe.Pointer) result
	cuModuleUnload            func(mod uintptr) result
	cuModuleGetFunction       func(f *uintptr, mod uintptr, name string) result
	cuMemGetInfo              func(free, total *uint64) result
	cuMemAlloc                func(p *uint64, size uint64) result
	cuMemFree                 func(p uint64) result
	cuMemAllocHost            func(p *unsafe.Pointer, size uint64) result
	cuMemFreeHost             func(p unsafe.Pointer) result
	cuMemcpyHtoDAsync         func(dst uint64, src unsafe.Pointer, size uint64, stream uintptr) result
	cuMemcpyDtoHAsync         func(dst unsafe.Pointer, src uint64, size uint64, stream uintptr) result
	cuMemsetD32Async          func(dst uint64, v uint32, n uint64, stream uintptr) result
	cuStreamCreate            func(s *uintptr, flags uint32) result
	cuStreamDestroy           func(s uintptr) result
	cuStreamSynchronize       func(s uintptr) result
	cuLaunchKernel            func(f uintptr, gx, gy, gz, bx, by, bz, shared uint32, stream uintptr, params, extra unsafe.Pointer) result
	cuDeviceTotalMem          func(n *uint64, dev int32) result
	cuDriverGetVersion        func(v *int32) result
}

// libraries lists where libcuda is looked for, in order: the loader's
// search path, then the NVIDIA container toolkit's and Debian's places.
var driverPaths = []string{"libcuda.so.1", "/usr/local/nvidia/lib64/libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1"}

// dlopenFirst opens the first library of paths that loads and returns its
// handle and path, or an error listing every attempt.
func dlopenFirst(what string, paths []string) (uintptr, string, error) {
	var tried []string
	for _, p := range paths {
		h, err := purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			return h, p, nil
		}
		tried = append(tried, err.Error())
	}
	return 0, "", fmt.Errorf("cuda: cannot load %s: %s", what, strings.Join(tried, "; "))
}

// bind registers fn (a pointer to a func variable) as the library symbol
// name, or returns an error naming the library and the symbol.
func bind(lib uintptr, path, name string, fn any) error {
	sym, err := purego.Dlsym(lib, name)
	if err != nil {
		return fmt.Errorf("cuda: %s has no %s: %w", path, name, err)
	}
	purego.RegisterFunc(fn, sym)
	return nil
}

// loadDriver opens libcuda (path, or the default places when empty) and
// binds the Driver API.
func loadDriver(path string) (*driver, error) {
	paths := driverPaths
	if path != "" {
		paths = []string{path}
	}
	lib, p, err := dlopenFirst("the CUDA driver (libcuda.so.1)", paths)
	if err != nil {
		return nil, err
	}
	d := &driver{path: p}
	syms := []struct {
		name string
		fn   any
	}{
		{"cuInit", &d.cuInit},
		{"cuGetErrorString", &d.cuGetErrorString},
		{"cuGetErrorName", &d.cuGetErrorName},
		{"cuDeviceGetCount", &d.cuDeviceGetCount},
		{"cuDeviceGet", &d.cuDeviceGet},
		{"cuDeviceGetName", &d.cuDeviceGetName},
		{"cuDeviceGetAttribute", &d.cuDeviceGetAttribute},
		{"cuDeviceTotalMem_v2", &d.cuDeviceTotalMem},
		{"cuDriverGetVersion", &d.cuDriverGetVersion},
		{"cuDevicePrimaryCtxRetain", &d.cuDevicePrimaryCtxRetain},
		{"cuDevicePrimaryCtxRelease_v2", &d.cuDevicePrimaryCtxRelease},
		{"cuCtxSetCurrent", &d.cuCtxSetCurrent},
		{"cuCtxSynchronize", &d.cuCtxSynchronize},
		{"cuModuleLoadDataEx", &d.cuModuleLoadDataEx},
		{"cuModuleUnload", &d.cuModuleUnload},
		{"cuModuleGetFunction", &d.cuModuleGetFunction},
		{"cuMemGetInfo_v2", &d.cuMemGetInfo},
		{"cuMemAlloc_v2", &d.cuMemAlloc},
		{"cuMemFree_v2", &d.cuMemFree},
		{"cuMemAllocHost_v2", &d.cuMemAllocHost},
		{"cuMemFreeHost", &d.cuMemFreeHost},
		{"cuMemcpyHtoDAsync_v2", &d.cuMemcpyHtoDAsync},
		{"cuMemcpyDtoHAsync_v2", &d.cuMemcpyDtoHAsync},
		{"cuMemsetD32Async", &d.cuMemsetD32Async},
		{"cuStreamCreate", &d.cuStreamCreate},
		{"cuStreamDestroy_v2", &d.cuStreamDestroy},
		{"cuStreamSynchronize", &d.cuStreamSynchronize},
		{"cuLaunchKernel", &d.cuLaunchKernel},
	}
	for _, s := range syms {
		if err := bind(lib, p, s.name, s.fn); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Error is a failed CUDA Driver API or cuBLAS call.
type Error struct {
	Lib, Call string // the library path and the function
	Code      int32
	Name, Msg string // the driver's name and description of Code
}

func (e *Error) Error() string {
	if e.Name != "" {
		return fmt.Sprintf("cuda: %s (%s): %s: %s", e.Call, e.Lib, e.Name, e.Msg)
	}
	return fmt.Sprintf("cuda: %s (%s): error %d", e.Call, e.Lib, e.Code)
}

// check turns a Driver API result into an error naming the call.
func (d *driver) check(call string, r result) error {
	if r == 0 {
		return nil
	}
	e := &Error{Lib: d.path, Call: call, Code: int32(r)}
	var p unsafe.Pointer
	if d.cuGetErrorName(r, &p) == 0 {
		e.Name = cString(p)
	}
	if d.cuGetErrorString(r, &p) == 0 {
		e.Msg = cString(p)
	}
	return e
}

// cString copies the NUL-terminated C string at p.
func cString(p unsafe.Pointer) string {
	if p == nil {
		return ""
	}
	var b []byte
	for i := 0; i < 4096; i++ {
		c := *(*byte)(unsafe.Add(p, i))
		if c == 0 {
			break
		}
		b = append(b, c)
	}
	return string(b)
}
