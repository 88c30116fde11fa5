//go:build cuda && linux && amd64

package cuda

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/gomerge/gomerge/tensor"
)

// Config says which libraries and device Open uses.
type Config struct {
	// Driver is the path of libcuda; empty searches the loader's path,
	// /usr/local/nvidia/lib64 and /usr/lib/x86_64-linux-gnu.
	Driver string
	// BLAS is the path of libcublas; empty searches for versions 13, 12
	// and 11. cuBLAS is loaded by the first GEMM, not by Open.
	BLAS string
	// Ordinal numbers the device among the driver's, from 0.
	Ordinal int
	// Chunk is the number of elements of each buffer one kernel launch
	// handles; 0 means 1<<22 (16 MiB of float32s).
	Chunk int
}

// Device is an open CUDA device. It implements tensor.Backend and is safe
// for concurrent use; operations run one at a time.
type Device struct {
	drv   *driver
	cfg   Config
	dev   int32
	ctx   uintptr
	mod   uintptr
	fns   map[string]uintptr
	name  string
	cc    [2]int32
	total uint64

	mu      sync.Mutex
	streams [2]uintptr
	slots   [2]slot
	arrays  int            // buffers each slot holds
	chunk   int            // elements per buffer
	params  unsafe.Pointer // pinned: launch parameter values and their pointers
	small   uint64         // device: weights
	smallH  unsafe.Pointer // pinned: weights and alpha/beta
	blas    *blas
	closed  bool
}

// slot is one chunk in flight: its device and pinned host buffers and the
// chunk it holds until its stream is waited for.
type slot struct {
	dev     uint64         // arrays × chunk × 4 bytes
	host    unsafe.Pointer // pinned, the same size
	counter uint64         // device: a kernel's count
	count   unsafe.Pointer // pinned: the count copied back
	pending bool
	lo, m   int
}

const (
	paramBytes = 4096
	smallBytes = 64 << 10
	maxInputs  = smallBytes / 4 / 2 // weights of one call
)

// Open loads the CUDA driver, initializes it, takes the device's primary
// context and loads the embedded kernels. Close releases them.
func Open(cfg Config) (*Device, error) {
	drv, err := loadDriver(cfg.Driver)
	if err != nil {
		return nil, err
	}
	if err := drv.check("cuInit", drv.cuInit(0)); err != nil {
		var e *Error
		if errors.As(err, &e) && result(e.Code) == errNoDevice {
			return nil, fmt.Errorf("%w (%v)", ErrNoDevice, err)
		}
		return nil, err
	}
	var count int32
	if err := drv.check("cuDeviceGetCount", drv.cuDeviceGetCount(&count)); err != nil {
		return nil, err
	}
	if cfg.Ordinal < 0 || cfg.Ordinal >= int(count) {
		if count == 0 {
			return nil, ErrNoDevice
		}
		return nil, fmt.Errorf("cuda: device %d asked for, the driver has %d", cfg.Ordinal, count)
	}
	d := &Device{drv: drv, cfg: cfg, fns: map[string]uintptr{}, chunk: cfg.Chunk}
	if d.chunk <= 0 {
		d.chunk = 1 << 22
	}
	d.chunk = (d.chunk + 63) &^ 63 // keep every buffer 256-byte aligned
	if err := drv.check("cuDeviceGet", drv.cuDeviceGet(&d.dev, int32(cfg.Ordinal))); err != nil {
		return nil, err
	}
	var name [256]byte
	if err := drv.check("cuDeviceGetName", drv.cuDeviceGetName(&name[0], int32(len(name)), d.dev)); err != nil {
		return nil, err
	}
	d.name = cString(unsafe.Pointer(&name[0]))
	drv.cuDeviceGetAttribute(&d.cc[0], 75, d.dev) // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
	drv.cuDeviceGetAttribute(&d.cc[1], 76, d.dev) // ..._MINOR
	drv.cuDeviceTotalMem(&d.total, d.dev)
	if err := drv.check("cuDevicePrimaryCtxRetain", drv.cuDevicePrimaryCtxRetain(&d.ctx, d.dev)); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := d.init(); err != nil {
		d.release()
		return nil, err
	}
	return d, nil
}

// init sets up the context's module, streams and small buffers; the
// caller holds the OS thread.
func (d *Device) init() error {
	drv := d.drv
	if err := drv.check("cuCtxSetCurrent", drv.cuCtxSetCurrent(d.ctx)); err != nil {
		return err
	}
	if err := drv.check("cuMemAllocHost", drv.cuMemAllocHost(&d.params, paramBytes)); err != nil {
		return err
	}
	if err := drv.check("cuMemAllocHost", drv.cuMemAllocHost(&d.smallH, smallBytes)); err != nil {
		return err
	}
	if err := d.alloc(&d.small, smallBytes, "the kernels' weights"); err != nil {
		return err
	}
	if err := d.loadModule(); err != nil {
		return err
	}
	for i := range d.streams {
		if err := drv.check("cuStreamCreate", drv.cuStreamCreate(&d.streams[i], 1)); err != nil { // CU_STREAM_NON_BLOCKING
			return err
		}
		s := &d.slots[i]
		if err := d.alloc(&s.counter, 8, "a kernel's counter"); err != nil {
			return err
		}
		if err := drv.check("cuMemAllocHost", drv.cuMemAllocHost(&s.count, 8)); err != nil {
			return err
		}
	}
	return nil
}

// loadModule JIT-compiles the embedded PTX and looks up every kernel; a
// JIT failure carries the compiler's log.
func (d *Device) loadModule() error {
	// Options in pinned memory: CU_JIT_ERROR_LOG_BUFFER (5) and its size (6).
	const logAt, logSize = 1024, 2048
	opts := unsafe.Slice((*int32)(d.params), 2)
	vals := unsafe.Slice((*unsafe.Pointer)(unsafe.Add(d.params, 16)), 2)
	opts[0], opts[1] = 5, 6
	vals[0] = unsafe.Add(d.params, logAt)
	*(*uint64)(unsafe.Pointer(&vals[1])) = logSize
	image := append([]byte(PTX), 0)
	r := d.drv.cuModuleLoadDataEx(&d.mod, &image[0], 2, &opts[0], &vals[0])
	runtime.KeepAlive(image)
	if err := d.drv.check("cuModuleLoadDataEx", r); err != nil {
		return fmt.Errorf("%w\nPTX JIT log: %s", err, cString(unsafe.Add(d.params, logAt)))
	}
	for _, l := range allLaunches() {
		var f uintptr
		if err := d.drv.check("cuModuleGetFunction "+l.name, d.drv.cuModuleGetFunction(&f, d.mod, l.name)); err != nil {
			return err
		}
		d.fns[l.name] = f
	}
	return nil
}

// alloc allocates size bytes of device memory into *p, with an error
// saying what for and how much is free when the GPU runs out.
func (d *Device) alloc(p *uint64, size uint64, what string) error {
	r := d.drv.cuMemAlloc(p, size)
	if r == errOutOfMemory {
		var free, total uint64
		d.drv.cuMemGetInfo(&free, &total)
		return fmt.Errorf("cuda: not enough GPU memory for %s (needs %d bytes, free %d of %d)", what, size, free, total)
	}
	return d.drv.check("cuMemAlloc", r)
}

// CheckFits reports an error naming what when need bytes exceed the
// device memory free now (cuMemGetInfo). Callers that upload a whole model
// ask before the first allocation, so that a model too big for the GPU
// fails with one clear message instead of midway through the upload.
func (d *Device) CheckFits(what string, need uint64) error {
	leave, err := d.enter()
	if err != nil {
		return err
	}
	defer leave()
	return d.checkFits(what, need)
}

// checkFits is CheckFits for a caller that has entered.
func (d *Device) checkFits(what string, need uint64) error {
	var free, total uint64
	if err := d.drv.check("cuMemGetInfo", d.drv.cuMemGetInfo(&free, &total)); err != nil {
		return err
	}
	if need > free {
		return fmt.Errorf("cuda: %s does not fit in GPU memory (needs %d bytes, free %d of %d)", what, need, free, total)
	}
	return nil
}

// Name returns "cuda", the tensor.Backend name.
func (d *Device) Name() string { return "cuda" }

// String describes the device: its name, compute capability and memory.
func (d *Device) String() string {
	return fmt.Sprintf("%s (sm_%d%d, %.1f GiB, driver %s)", d.name, d.cc[0], d.cc[1], float64(d.total)/(1<<30), d.drv.path)
}

// Close frees the device's buffers and releases its context.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d.drv.cuCtxSetCurrent(d.ctx)
	return d.release()
}

// release frees what init allocated; the caller holds the OS thread.
func (d *Device) release() error {
	drv := d.drv
	drv.cuCtxSetCurrent(d.ctx)
	d.blas.destroy()
	d.freeSlots()
	for i := range d.slots {
		s := &d.slots[i]
		if s.counter != 0 {
			drv.cuMemFree(s.counter)
		}
		if s.count != nil {
			drv.cuMemFreeHost(s.count)
		}
	}
	for _, s := range d.streams {
		if s != 0 {
			drv.cuStreamDestroy(s)
		}
	}
	if d.small != 0 {
		drv.cuMemFree(d.small)
	}
	for _, p := range []unsafe.Pointer{d.smallH, d.params} {
		if p != nil {
			drv.cuMemFreeHost(p)
		}
	}
	if d.mod != 0 {
		drv.cuModuleUnload(d.mod)
	}
	return drv.check("cuDevicePrimaryCtxRelease", drv.cuDevicePrimaryCtxRelease(d.dev))
}

func (d *Device) freeSlots() {
	for i := range d.slots {
		s := &d.slots[i]
		if s.dev != 0 {
			d.drv.cuMemFree(s.dev)
			s.dev = 0
		}
		if s.host != nil {
			d.drv.cuMemFreeHost(s.host)
			s.host = nil
		}
	}
	d.arrays = 0
}

// ensure grows the slots to hold n buffers of a chunk each.
func (d *Device) ensure(n int) error {
	if n <= d.arrays {
		return nil
	}
	d.freeSlots()
	size := uint64(n) * uint64(d.chunk) * 4
	for i := range d.slots {
		s := &d.slots[i]
		if err := d.alloc(&s.dev, size, fmt.Sprintf("%d buffers of %d elements", n, d.chunk)); err != nil {
			d.freeSlots()
			return err
		}
		if err := d.drv.check("cuMemAllocHost", d.drv.cuMemAllocHost(&s.host, size)); err != nil {
			d.freeSlots()
			return err
		}
	}
	d.arrays = n
	return nil
}

// enter locks the device for one operation on this OS thread; the
// returned function undoes it.
func (d *Device) enter() (func(), error) {
	d.mu.Lock()
	runtime.LockOSThread()
	leave := func() {
		runtime.UnlockOSThread()
		d.mu.Unlock()
	}
	if d.closed {
		leave()
		return nil, errors.New("cuda: device is closed")
	}
	if err := d.drv.check("cuCtxSetCurrent", d.drv.cuCtxSetCurrent(d.ctx)); err != nil {
		leave()
		return nil, err
	}
	return leave, nil
}

// launch runs kernel l over m elements on stream: blocks of 256 threads,
// at most 8192 of them (the kernels' loops stride over the grid).
func (d *Device) launch(l launch, m int, stream uintptr) error {
	const block = 256
	grid := min((m+block-1)/block, 8192)
	return d.launchGrid(l, max(grid, 1), block, 0, stream)
}

// launchGrid runs kernel l on stream as grid blocks of block threads, each
// with shared bytes of dynamic shared memory.
func (d *Device) launchGrid(l launch, grid, block, shared int, stream uintptr) error {
	f, ok := d.fns[l.name]
	if !ok {
		return fmt.Errorf("cuda: kernel %s not loaded", l.name)
	}
	// Values in 8-byte slots from offset 0, their addresses from 512.
	ptrs := unsafe.Slice((*unsafe.Pointer)(unsafe.Add(d.params, 512)), len(l.args))
	for i, a := range l.args {
		v := unsafe.Add(d.params, 8*i)
		switch a := a.(type) {
		case uint64:
			*(*uint64)(v) = a
		case int32:
			*(*int32)(v) = a
		case uint32:
			*(*uint32)(v) = a
		case float32:
			*(*float32)(v) = a
		default:
			return fmt.Errorf("cuda: %s: argument %d has type %T", l.name, i, a)
		}
		ptrs[i] = v
	}
	r := d.drv.cuLaunchKernel(f, uint32(grid), 1, 1, uint32(block), 1, 1, uint32(shared), stream, unsafe.Add(d.params, 512), nil)
	return d.drv.check("cuLaunchKernel "+l.name, r)
}

// array is one host buffer of a streamed operation: up is copied to the
// device before the kernel, down copied back after it.
type array struct {
	host     []byte
	size     int // bytes per element, at most 4
	up, down bool
}

func f32s(x []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*len(x))
}
func u16s(x []uint16) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 2*len(x))
}

// pipeline runs an element-wise operation over n elements in chunks, two
// in flight: for each chunk it copies the up arrays through the slot's
// pinned buffer to the device, calls kernel with the device address of
// each array's chunk, and copies the down arrays back; done runs for each
// chunk, in order, once its copies are complete. The caller has entered.
func (d *Device) pipeline(n int, arrays []array, kernel func(dev []uint64, lo, m int, s *slot, stream uintptr) error, done func(s *slot)) (err error) {
	if n == 0 {
		return nil
	}
	if err := d.ensure(len(arrays)); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			for i := range d.slots { // leave nothing in flight
				d.drv.cuStreamSynchronize(d.streams[i])
				d.slots[i].pending = false
			}
		}
	}()
	stride := d.chunk * 4
	wait := func(i int) error {
		s := &d.slots[i]
		if !s.pending {
			return nil
		}
		s.pending = false
		if err := d.drv.check("cuStreamSynchronize", d.drv.cuStreamSynchronize(d.streams[i])); err != nil {
			return err
		}
		host := unsafe.Slice((*byte)(s.host), len(arrays)*stride)
		for a, arr := range arrays {
			if arr.down {
				pcopy(arr.host[s.lo*arr.size:(s.lo+s.m)*arr.size], host[a*stride:])
			}
		}
		if done != nil {
			done(s)
		}
		return nil
	}
	dev := make([]uint64, len(arrays))
	c := 0
	for lo := 0; lo < n; lo += d.chunk {
		i := c % 2
		c++
		if err := wait(i); err != nil {
			return err
		}
		s, stream := &d.slots[i], d.streams[i]
		m := min(d.chunk, n-lo)
		host := unsafe.Slice((*byte)(s.host), len(arrays)*stride)
		for a, arr := range arrays {
			dev[a] = s.dev + uint64(a*stride)
			if arr.up {
				nb := m * arr.size
				pcopy(host[a*stride:a*stride+nb], arr.host[lo*arr.size:])
				r := d.drv.cuMemcpyHtoDAsync(dev[a], unsafe.Add(s.host, a*stride), uint64(nb), stream)
				if err := d.drv.check("cuMemcpyHtoDAsync", r); err != nil {
					return err
				}
			}
		}
		if err := kernel(dev, lo, m, s, stream); err != nil {
			return err
		}
		for a, arr := range arrays {
			if arr.down {
				r := d.drv.cuMemcpyDtoHAsync(unsafe.Add(s.host, a*stride), dev[a], uint64(m*arr.size), stream)
				if err := d.drv.check("cuMemcpyDtoHAsync", r); err != nil {
					return err
				}
			}
		}
		s.pending, s.lo, s.m = true, lo, m
	}
	if err := wait(c % 2); err != nil {
		return err
	}
	return wait((c + 1) % 2)
}

// pcopy is copy for the pinned staging buffers: a large copy is split
// over several goroutines, since one core's memcpy is slower than the PCIe
// link it feeds, and the device is locked meanwhile.
func pcopy(dst, src []byte) {
	n := min(len(dst), len(src))
	parts := min(runtime.GOMAXPROCS(0), 8, n>>20) // at least 1 MiB each
	if parts < 2 {
		copy(dst, src)
		return
	}
	var wg sync.WaitGroup
	step := (n + parts - 1) / parts
	for lo := 0; lo < n; lo += step {
		hi := min(n, lo+step)
		wg.Add(1)
		go func() {
			defer wg.Done()
			copy(dst[lo:hi], src[lo:hi])
		}()
	}
	wg.Wait()
}

// upload copies the weights into the device's small buffer.
func (d *Device) upload(ws []float32) error {
	if len(ws) > maxInputs {
		return fmt.Errorf("cuda: %d inputs, at most %d", len(ws), maxInputs)
	}
	copy(unsafe.Slice((*float32)(d.smallH), len(ws)), ws)
	r := d.drv.cuMemcpyHtoDAsync(d.small, d.smallH, uint64(4*len(ws)), d.streams[0])
	if err := d.drv.check("cuMemcpyHtoDAsync", r); err != nil {
		return err
	}
	return d.drv.check("cuStreamSynchronize", d.drv.cuStreamSynchronize(d.streams[0]))
}

// workCode is the kernels' code for a working dtype; ok is false for the
// dtypes the kernels do not round to (the integer types), which the CPU
// handles.
func workCode(work tensor.DType) (int32, bool) {
	switch work {
	case tensor.F32, tensor.F64:
		return workF32, true
	case tensor.BF16:
		return workBF16, true
	case tensor.F16:
		return workF16, true
	}
	return 0, false
}

func sameLen(op string, n int, xs ...[]float32) error {
	for _, x := range xs {
		if len(x) != n {
			return fmt.Errorf("cuda: %s: buffers of %d and %d elements", op, n, len(x))
		}
	}
	return nil
}

// combine runs gm_weighted_sum or gm_ties: the inputs are the first
// buffers of each chunk, out the last.
func (d *Device) combine(op string, work tensor.DType, out []float32, xs [][]float32, ws []float32, mk func(out, xs, stride, ws uint64, k int32, n uint64, w int32) launch) error {
	if len(xs) != len(ws) {
		return fmt.Errorf("cuda: %s: %d inputs and %d weights", op, len(xs), len(ws))
	}
	if err := sameLen(op, len(out), xs...); err != nil {
		return err
	}
	w, _ := workCode(work)
	leave, err := d.enter()
	if err != nil {
		return err
	}
	defer leave()
	if err := d.upload(ws); err != nil {
		return err
	}
	arrays := make([]array, 0, len(xs)+1)
	for _, x := range xs {
		arrays = append(arrays, array{host: f32s(x), size: 4, up: true})
	}
	arrays = append(arrays, array{host: f32s(out), size: 4, down: true})
	k := len(xs)
	return d.pipeline(len(out), arrays, func(dev []uint64, lo, m int, s *slot, stream uintptr) error {
		return d.launch(mk(dev[k], dev[0], uint64(d.chunk), d.small, int32(k), uint64(m), w), m, stream)
	}, nil)
}

// WeightedSum implements tensor.Backend.
func (d *Device) WeightedSum(work tensor.DType, out []float32, xs [][]float32, ws []float32, normalize bool, div float32) error {
	if _, ok := workCode(work); !ok || len(xs) == 0 {
		return tensor.CPU.WeightedSum(work, out, xs, ws, normalize, div)
	}
	return d.combine("WeightedSum", work, out, xs, ws, func(out, xs, stride, ws uint64, k int32, n uint64, w int32) launch {
		return weightedSumArgs(out, xs, stride, ws, k, n, w, b2i(normalize), div)
	})
}

// SignConsensus implements tensor.Backend. ds are left as they were.
func (d *Device) SignConsensus(work tensor.DType, out []float32, ds [][]float32, ws []float32, normalize bool) error {
	if _, ok := workCode(work); !ok || len(ds) == 0 {
		return tensor.CPU.SignConsensus(work, out, ds, ws, normalize)
	}
	return d.combine("SignConsensus", work, out, ds, ws, func(out, ds, stride, ws uint64, k int32, n uint64, w int32) launch {
		return tiesArgs(out, ds, stride, ws, k, n, w, b2i(normalize))
	})
}

// elementwise runs a kernel over the arrays, which the caller built from
// buffers of n elements.
func (d *Device) elementwise(n int, arrays []array, mk func(dev []uint64, lo, m int) launch) error {
	leave, err := d.enter()
	if err != nil {
		return err
	}
	defer leave()
	return d.pipeline(n, arrays, func(dev []uint64, lo, m int, s *slot, stream uintptr) error {
		return d.launch(mk(dev, lo, m), m, stream)
	}, nil)
}

// ScaleRound implements tensor.Backend.
func (d *Device) ScaleRound(work tensor.DType, x []float32, a float32) error {
	w, ok := workCode(work)
	if !ok {
		return tensor.CPU.ScaleRound(work, x, a)
	}
	return d.elementwise(len(x), []array{{host: f32s(x), size: 4, up: true, down: true}}, func(dev []uint64, lo, m int) launch {
		return scaleRoundArgs(dev[0], uint64(m), a, w)
	})
}

// SubRound implements tensor.Backend.
func (d *Device) SubRound(work tensor.DType, dst, a, b []float32) error {
	w, ok := workCode(work)
	if !ok {
		return tensor.CPU.SubRound(work, dst, a, b)
	}
	if err := sameLen("SubRound", len(dst), a, b); err != nil {
		return err
	}
	arrays := []array{{host: f32s(a), size: 4, up: true}, {host: f32s(b), size: 4, up: true}, {host: f32s(dst), size: 4, down: true}}
	return d.elementwise(len(dst), arrays, func(dev []uint64, lo, m int) launch {
		return subRoundArgs(dev[2], dev[0], dev[1], uint64(m), w)
	})
}

// AddInPlace adds y to x element by element in float32 (x[j] += y[j]),
// as tensor.Add: the forward pass's residual add.
func (d *Device) AddInPlace(x, y []float32) error {
	if err := sameLen("AddInPlace", len(x), y); err != nil {
		return err
	}
	arrays := []array{{host: f32s(y), size: 4, up: true}, {host: f32s(x), size: 4, up: true, down: true}}
	return d.elementwise(len(x), arrays, func(dev []uint64, lo, m int) launch {
		return addInplaceArgs(dev[1], dev[0], uint64(m))
	})
}

// Blend stores round(round(s0·a) + round(s1·b)) in out, rounding to work:
// the two-input linear blend. out may be a or b.
func (d *Device) Blend(work tensor.DType, out, a, b []float32, s0, s1 float32) error {
	w, ok := workCode(work)
	if !ok {
		return fmt.Errorf("cuda: Blend: working dtype %s", work)
	}
	if err := sameLen("Blend", len(out), a, b); err != nil {
		return err
	}
	arrays := []array{{host: f32s(a), size: 4, up: true}, {host: f32s(b), size: 4, up: true}, {host: f32s(out), size: 4, down: true}}
	return d.elementwise(len(out), arrays, func(dev []uint64, lo, m int) launch {
		return blendArgs(dev[2], dev[0], dev[1], uint64(m), s0, s1, w)
	})
}

// Bernoulli implements tensor.Backend.
func (d *Device) Bernoulli(x []float32, key, first, bound uint64) (int, error) {
	leave, err := d.enter()
	if err != nil {
		return 0, err
	}
	defer leave()
	kept := 0
	err = d.pipeline(len(x), []array{{host: f32s(x), size: 4, up: true, down: true}}, func(dev []uint64, lo, m int, s *slot, stream uintptr) error {
		if err := d.drv.check("cuMemsetD32Async", d.drv.cuMemsetD32Async(s.counter, 0, 2, stream)); err != nil {
			return err
		}
		if err := d.launch(bernoulliArgs(dev[0], uint64(m), key, first+uint64(lo), bound, s.counter), m, stream); err != nil {
			return err
		}
		return d.drv.check("cuMemcpyDtoHAsync", d.drv.cuMemcpyDtoHAsync(s.count, s.counter, 8, stream))
	}, func(s *slot) { kept += int(*(*uint64)(s.count)) })
	return kept, err
}

// PruneMagnitude implements tensor.Backend. The entries tied at thr are
// kept in index order: the CPU finds the index after the last tie to keep
// by counting ties block by block, which reads x up to that index.
func (d *Device) PruneMagnitude(x []float32, thr uint32, ties int) (int, error) {
	tieEnd := 0
	if ties > 0 {
		const block = 1 << 16
		for tieEnd < len(x) && ties > 0 {
			b := x[tieEnd:min(len(x), tieEnd+block)]
			if c := tensor.CountMagnitude(b, thr); c < ties {
				ties -= c
				tieEnd += len(b)
				continue
			}
			for _, v := range b { // the block holding the last tie kept
				tieEnd++
				if math.Float32bits(v)&^(1<<31) == thr {
					if ties--; ties == 0 {
						break
					}
				}
			}
		}
	}
	err := d.elementwise(len(x), []array{{host: f32s(x), size: 4, up: true, down: true}}, func(dev []uint64, lo, m int) launch {
		return pruneMagnitudeArgs(dev[0], uint64(m), thr, uint64(min(max(tieEnd-lo, 0), m)))
	})
	return ties, err
}

// DecodeBF16 converts bfloat16 bits to float32s; len(dst) = len(src).
func (d *Device) DecodeBF16(dst []float32, src []uint16) error {
	return d.convert("gm_bf16_to_f32", len(dst), len(src), array{host: u16s(src), size: 2, up: true}, array{host: f32s(dst), size: 4, down: true})
}

// EncodeBF16 rounds float32s to bfloat16, ties to even, as
// tensor.F32ToBF16 does; len(dst) = len(src).
func (d *Device) EncodeBF16(dst []uint16, src []float32) error {
	return d.convert("gm_f32_to_bf16", len(dst), len(src), array{host: f32s(src), size: 4, up: true}, array{host: u16s(dst), size: 2, down: true})
}

// DecodeF16 converts float16 bits to float32s; len(dst) = len(src).
func (d *Device) DecodeF16(dst []float32, src []uint16) error {
	return d.convert("gm_f16_to_f32", len(dst), len(src), array{host: u16s(src), size: 2, up: true}, array{host: f32s(dst), size: 4, down: true})
}

// EncodeF16 rounds float32s to float16, ties to even, as tensor.F32ToF16
// does; len(dst) = len(src).
func (d *Device) EncodeF16(dst []uint16, src []float32) error {
	return d.convert("gm_f32_to_f16", len(dst), len(src), array{host: f32s(src), size: 4, up: true}, array{host: u16s(dst), size: 2, down: true})
}

func (d *Device) convert(name string, nd, ns int, src, dst array) error {
	if nd != ns {
		return fmt.Errorf("cuda: %s: %d elements into %d", name, ns, nd)
	}
	return d.elementwise(nd, []array{src, dst}, func(dev []uint64, lo, m int) launch {
		return convertArgs(name, dev[1], dev[0], uint64(m))
	})
}

var _ tensor.Backend = (*Device)(nil)
