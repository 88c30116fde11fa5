//go:build cuda && linux && amd64

package cuda

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// blas holds the cuBLAS functions and the device's handle.
type blas struct {
	path   string
	handle uintptr

	create    func(h *uintptr) result
	destroyFn func(h uintptr) result
	setStream func(h uintptr, s uintptr) result
	gemmEx    func(h uintptr, transa, transb, m, n, k int32, alpha unsafe.Pointer, a uint64, atype, lda int32,
		b uint64, btype, ldb int32, beta unsafe.Pointer, c uint64, ctype, ldc, compute, algo int32) result
}

var blasPaths = []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so",
	"/usr/local/cuda/lib64/libcublas.so.13", "/usr/local/cuda/lib64/libcublas.so.12",
	"/usr/local/cuda/targets/x86_64-linux/lib/libcublas.so.13"}

// cuBLAS constants.
const (
	cudaR32F      = 0  // CUDA_R_32F
	cudaR16BF     = 14 // CUDA_R_16BF
	cublasCompute = 68 // CUBLAS_COMPUTE_32F
	cublasDefault = -1 // CUBLAS_GEMM_DEFAULT
	cublasNoTrans = 0
	cublasTrans   = 1
	cublasOK      = 0
)

// loadBLAS opens cuBLAS and creates a handle on stream; the caller has
// entered.
func (d *Device) loadBLAS() (*blas, error) {
	if d.blas != nil {
		return d.blas, nil
	}
	paths := blasPaths
	if d.cfg.BLAS != "" {
		paths = []string{d.cfg.BLAS}
	}
	var lib uintptr
	var p string
	var tried []string
	for _, try := range paths {
		// libcublas needs libcublasLt from its own directory, which the
		// loader may not search: load it first where the path names one.
		if dir, name := filepath.Split(try); dir != "" {
			purego.Dlopen(filepath.Join(dir, strings.Replace(name, "libcublas", "libcublasLt", 1)), purego.RTLD_NOW|purego.RTLD_GLOBAL)
		}
		h, err := purego.Dlopen(try, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			lib, p = h, try
			break
		}
		tried = append(tried, err.Error())
	}
	if lib == 0 {
		return nil, fmt.Errorf("cuda: cannot load cuBLAS (libcublas.so): %s", strings.Join(tried, "; "))
	}
	b := &blas{path: p}
	for _, s := range []struct {
		name string
		fn   any
	}{
		{"cublasCreate_v2", &b.create},
		{"cublasDestroy_v2", &b.destroyFn},
		{"cublasSetStream_v2", &b.setStream},
		{"cublasGemmEx", &b.gemmEx},
	} {
		if err := bind(lib, p, s.name, s.fn); err != nil {
			return nil, err
		}
	}
	if err := b.check("cublasCreate_v2", b.create(&b.handle)); err != nil {
		return nil, err
	}
	if err := b.check("cublasSetStream_v2", b.setStream(b.handle, d.streams[0])); err != nil {
		b.destroy()
		return nil, err
	}
	d.blas = b
	return b, nil
}

func (b *blas) check(call string, r result) error {
	if r == cublasOK {
		return nil
	}
	return &Error{Lib: b.path, Call: call, Code: int32(r)}
}

func (b *blas) destroy() {
	if b != nil && b.handle != 0 {
		b.destroyFn(b.handle)
		b.handle = 0
	}
}

// gemm computes C = A·B for row-major A (m×k) and B (k×n) in bfloat16 with
// float32 accumulation into C (m×n) of ctype (cudaR32F or cudaR16BF), all
// in device memory, on stream 0; the caller has entered. cuBLAS is
// column-major, so it computes Cᵀ = Bᵀ·Aᵀ.
func (d *Device) gemm(m, n, k int, a, b, c uint64, ctype int32) error {
	bl, err := d.loadBLAS()
	if err != nil {
		return err
	}
	ab := unsafe.Slice((*float32)(d.smallH), 2)
	ab[0], ab[1] = 1, 0 // alpha, beta: read by cuBLAS before the call returns
	r := bl.gemmEx(bl.handle, cublasNoTrans, cublasNoTrans, int32(n), int32(m), int32(k),
		d.smallH, b, cudaR16BF, int32(n), a, cudaR16BF, int32(k),
		unsafe.Add(d.smallH, 4), c, ctype, int32(n), cublasCompute, cublasDefault)
	return bl.check(fmt.Sprintf("cublasGemmEx %dx%dx%d", m, n, k), r)
}

// gemmNT computes C = A·Wᵀ for row-major A (m×k) and W (n×k), a
// weight stored as PyTorch's Linear stores it ([out, in]), in bfloat16
// with float32 accumulation into float32 C (m×n), in device memory on
// stream 0; the caller has entered. In cuBLAS's column-major terms:
// Cᵀ (n×m) = op(W)·Aᵀ with W transposed.
func (d *Device) gemmNT(m, n, k int, a, w, c uint64) error {
	bl, err := d.loadBLAS()
	if err != nil {
		return err
	}
	ab := unsafe.Slice((*float32)(d.smallH), 2)
	ab[0], ab[1] = 1, 0
	r := bl.gemmEx(bl.handle, cublasTrans, cublasNoTrans, int32(n), int32(m), int32(k),
		d.smallH, w, cudaR16BF, int32(k), a, cudaR16BF, int32(k),
		unsafe.Add(d.smallH, 4), c, cudaR32F, int32(n), cublasCompute, cublasDefault)
	return bl.check(fmt.Sprintf("cublasGemmEx %dx%dx%d (Wᵀ)", m, n, k), r)
}

// MatMulBF16 computes c = a·b for row-major a (m×k) and b (k×n) holding
// bfloat16 bits, accumulating in float32 (cuBLAS GemmEx, compute type
// 32F) into c (m×n). The sums' order is cuBLAS's, so c agrees with a
// float64 reference to float32 accumulation error, not bit for bit.
func (d *Device) MatMulBF16(c []float32, a, b []uint16, m, n, k int) error {
	if len(a) != m*k || len(b) != k*n || len(c) != m*n {
		return fmt.Errorf("cuda: MatMulBF16 %dx%dx%d: buffers of %d, %d and %d elements", m, n, k, len(a), len(b), len(c))
	}
	leave, err := d.enter()
	if err != nil {
		return err
	}
	defer leave()
	gemm := fmt.Sprintf("a %dx%dx%d GEMM", m, n, k)
	bufs, free, err := d.scratch(
		scratchBuf{2 * m * k, "matrix A of " + gemm},
		scratchBuf{2 * k * n, "matrix B of " + gemm},
		scratchBuf{4 * m * n, "matrix C of " + gemm})
	defer free()
	if err != nil {
		return err
	}
	da, db, dc := bufs[0], bufs[1], bufs[2]
	if err := d.copyIn(da, u16s(a)); err != nil {
		return err
	}
	if err := d.copyIn(db, u16s(b)); err != nil {
		return err
	}
	if err := d.gemm(m, n, k, da, db, dc, cudaR32F); err != nil {
		return err
	}
	return d.copyOut(f32s(c), dc)
}

// copyIn copies host bytes to device memory through the first slot's
// pinned buffer, a chunk at a time, on stream 0; the caller has entered.
func (d *Device) copyIn(dst uint64, src []byte) error {
	if err := d.ensure(1); err != nil {
		return err
	}
	s, stream, step := &d.slots[0], d.streams[0], d.chunk*4
	for off := 0; off < len(src); off += step {
		nb := min(step, len(src)-off)
		copy(unsafe.Slice((*byte)(s.host), nb), src[off:])
		if err := d.drv.check("cuMemcpyHtoDAsync", d.drv.cuMemcpyHtoDAsync(dst+uint64(off), s.host, uint64(nb), stream)); err != nil {
			return err
		}
		if err := d.drv.check("cuStreamSynchronize", d.drv.cuStreamSynchronize(stream)); err != nil {
			return err
		}
	}
	return nil
}

// copyOut copies device memory to host bytes like copyIn.
func (d *Device) copyOut(dst []byte, src uint64) error {
	if err := d.ensure(1); err != nil {
		return err
	}
	s, stream, step := &d.slots[0], d.streams[0], d.chunk*4
	for off := 0; off < len(dst); off += step {
		nb := min(step, len(dst)-off)
		if err := d.drv.check("cuMemcpyDtoHAsync", d.drv.cuMemcpyDtoHAsync(s.host, src+uint64(off), uint64(nb), stream)); err != nil {
			return err
		}
		if err := d.drv.check("cuStreamSynchronize", d.drv.cuStreamSynchronize(stream)); err != nil {
			return err
		}
		copy(dst[off:off+nb], unsafe.Slice((*byte)(s.host), nb))
	}
	return nil
}

// RMSNorm normalizes each row of x (len(w) floats) into dst as eval/model's
// rmsNorm: x·float32(1/sqrt(mean(x²)+eps))·w, the mean accumulated in
// float64 (in row order here, so the last bits of a row's scale may differ
// from the CPU's unrolled sum).
func (d *Device) RMSNorm(dst, x, w []float32, eps float64) error {
	n := len(w)
	if n == 0 || len(x)%n != 0 || len(dst) != len(x) {
		return fmt.Errorf("cuda: RMSNorm: buffers of %d and %d elements, rows of %d", len(dst), len(x), n)
	}
	leave, err := d.enter()
	if err != nil {
		return err
	}
	defer leave()
	bufs, free, err := d.scratch(
		scratchBuf{4 * len(x), "RMSNorm buffer"},
		scratchBuf{4 * len(x), "RMSNorm buffer"},
		scratchBuf{4 * n, "RMSNorm buffer"})
	defer free()
	if err != nil {
		return err
	}
	dd, dx, dw := bufs[0], bufs[1], bufs[2]
	if err := d.copyIn(dx, f32s(x)); err != nil {
		return err
	}
	if err := d.copyIn(dw, f32s(w)); err != nil {
		return err
	}
	if err := d.rmsNormDev(dd, dx, dw, len(x)/n, n, eps); err != nil {
		return err
	}
	return d.copyOut(f32s(dst), dd)
}

// rmsNormDev is RMSNorm on device buffers (dst may be x): rows rows of
// d floats; the caller has entered.
func (d *Device) rmsNormDev(dst, x, w uint64, rows, dim int, eps float64) error {
	if rows == 0 {
		return nil
	}
	return d.launch(rmsNormArgs(dst, x, w, uint64(rows), uint64(dim), math.Float64bits(eps)), rows, d.streams[0])
}

// ropeDev is RoPE on device buffers; the caller has entered.
func (d *Device) ropeDev(x, cos, sin uint64, n, heads, dim int) error {
	if n == 0 {
		return nil
	}
	return d.launch(ropeArgs(x, cos, sin, uint64(n), uint64(heads), uint64(dim)), n*heads*(dim/2), d.streams[0])
}

// addInPlaceDev is AddInPlace on device buffers of n floats; the caller
// has entered.
func (d *Device) addInPlaceDev(x, y uint64, n int) error {
	if n == 0 {
		return nil
	}
	return d.launch(addInplaceArgs(x, y, uint64(n)), n, d.streams[0])
}

// RoPE rotates each head of x ([n, heads·d], d even; HF's rotate_half
// layout) in place by the angles whose cosines and sines cos and sin hold
// ([n, d/2] each, computed on the host as eval/model's applyRope does).
func (d *Device) RoPE(x []float32, n, heads, dim int, cos, sin []float32) error {
	half := dim / 2
	if dim%2 != 0 || len(x) != n*heads*dim || len(cos) != n*half || len(sin) != n*half {
		return fmt.Errorf("cuda: RoPE: %d, %d and %d elements for %d rows of %d heads of %d", len(x), len(cos), len(sin), n, heads, dim)
	}
	if len(x) == 0 {
		return nil
	}
	leave, err := d.enter()
	if err != nil {
		return err
	}
	defer leave()
	bufs, free, err := d.scratch(
		scratchBuf{4 * len(x), "RoPE activations"},
		scratchBuf{4 * len(cos), "RoPE cosines"},
		scratchBuf{4 * len(sin), "RoPE sines"})
	defer free()
	if err != nil {
		return err
	}
	dx, dc, ds := bufs[0], bufs[1], bufs[2]
	for _, c := range []struct {
		p uint64
		h []float32
	}{{dx, x}, {dc, cos}, {ds, sin}} {
		if err := d.copyIn(c.p, f32s(c.h)); err != nil {
			return err
		}
	}
	if err := d.ropeDev(dx, dc, ds, n, heads, dim); err != nil {
		return err
	}
	return d.copyOut(f32s(x), dx)
}

// scratchBuf is one device buffer of a call: its size in bytes and what it
// holds, for the out-of-memory error.
type scratchBuf struct {
	bytes int
	what  string
}

// scratch allocates a call's device buffers, each at least 4 bytes so that
// an empty host slice still gets a valid pointer; free releases the ones
// allocated, after an error too (the caller defers it at once).
func (d *Device) scratch(bufs ...scratchBuf) (p []uint64, free func(), err error) {
	p = make([]uint64, len(bufs))
	free = func() {
		for _, q := range p {
			if q != 0 {
				d.drv.cuMemFree(q)
			}
		}
	}
	for i, b := range bufs {
		if err := d.alloc(&p[i], uint64(max(b.bytes, 4)), b.what); err != nil {
			return p, free, err
		}
	}
	return p, free, nil
}
