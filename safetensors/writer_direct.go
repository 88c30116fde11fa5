package safetensors

import (
	"errors"
	"os"
	"slices"
	"sync"
	"syscall"
	"unsafe"
)

// Tensor data is written with O_DIRECT where the file system allows it:
// copying hundreds of MB into fresh page-cache pages costs more CPU than
// the merge arithmetic on some machines, and the writes of several
// goroutines contend on the inode lock. Direct writes need aligned file
// offsets, lengths and memory, so each tensor is split at directAlign
// boundaries: its aligned middle is staged in reused aligned buffers and
// written through the shard's O_DIRECT descriptor, while the head before
// the first boundary and the tail after the last go through the buffered
// descriptor, like the header. A page shared by two tensors is then only
// ever written through the page cache, which merges the two writes, and
// direct and buffered writes never touch the same page.
//
// A stage has a few buffers: while some are written, each in its own
// goroutine, another fills, so the merge keeps going while the device
// works, with several requests in flight. The tensor's last block is
// written synchronously, after the others, so a tensor whose last piece
// was accepted is in the file.

// directAlign is the alignment of direct writes' offsets, lengths and
// memory: the page size, a multiple of every logical block size.
const directAlign = 4096

// Variables, so that tests can make small tensors take every path.
var (
	// stageSize is the size of one staging buffer and of most direct
	// writes; a multiple of directAlign. One huge page: the kernel pins
	// a buffer for each direct write, page by page unless it is one.
	stageSize = 2 << 20
	// stageBuffers is the number of staging buffers per tensor: all but
	// one can be on their way to the disk, which a single write at a
	// time, on a shared disk, keeps far from its bandwidth.
	stageBuffers = 3
	// directMin is the smallest aligned middle written directly; smaller
	// tensors cost less through the page cache than a wait for the device.
	directMin int64 = 64 << 10
)

// stage holds the direct-write state of one tensor. Only the goroutine
// that holds the tensor's entry in entryWriting touches it.
type stage struct {
	a0, a1 int64  // the aligned middle of the tensor, absolute offsets
	cur    []byte // the buffer being filled: stageSize bytes, directAlign-aligned
	pos    int64  // file offset of cur[0], aligned
	fill   int    // bytes staged in cur
	free   [][]byte
	// inflight are the writes started and not yet waited for, oldest
	// first; a failed one stays until a retry succeeds.
	inflight []*directWrite
}

// directWrite is one asynchronous direct write of a full stage buffer.
type directWrite struct {
	file int
	buf  []byte
	pos  int64
	err  error
	done chan struct{}
}

// newStage returns a stage for e, or nil if e should be written through
// the page cache. w.mu must be held.
func (w *Writer) newStage(e *entry) *stage {
	a0 := (e.off + directAlign - 1) &^ (directAlign - 1)
	a1 := (e.off + e.size) &^ (directAlign - 1)
	if a1-a0 < directMin || w.direct[e.file] == nil || w.noDirect.Load() {
		return nil
	}
	st := &stage{a0: a0, a1: a1, pos: a0}
	for range stageBuffers {
		st.free = append(st.free, getStageBuffer())
	}
	st.cur, st.free = st.free[0], st.free[1:]
	return st
}

// buffers returns the stage's buffers, once its writes are done.
func (st *stage) buffers() [][]byte {
	bufs := append(st.free, st.cur)
	for _, dw := range st.inflight { // failed and never retried
		bufs = append(bufs, dw.buf[:cap(dw.buf)])
	}
	return bufs
}

// releaseStages returns the buffers of tensors left half-written to the
// pool, once no write is under way.
func (w *Writer) releaseStages() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.entries {
		if e.stage != nil {
			putStageBuffers(e.stage.buffers())
			e.stage = nil
		}
	}
}

// stagePool holds the stage buffers of every Writer of the process, so
// that a merge after another (evolve runs hundreds) finds its buffers
// mapped: first touches of fresh memory are slow on some VMs.
var stagePool struct {
	sync.Mutex
	bufs [][]byte
}

// getStageBuffer returns a stageSize buffer aligned to directAlign.
func getStageBuffer() []byte {
	stagePool.Lock()
	defer stagePool.Unlock()
	for i := len(stagePool.bufs) - 1; i >= 0; i-- {
		if b := stagePool.bufs[i]; len(b) == stageSize {
			stagePool.bufs = slices.Delete(stagePool.bufs, i, i+1)
			return b
		}
	}
	if b := hugeBuffer(stageSize); b != nil {
		return b
	}
	b := make([]byte, stageSize+directAlign)
	skip := int(-uintptr(unsafe.Pointer(&b[0])) & (directAlign - 1))
	return b[skip : skip+stageSize : skip+stageSize]
}

// putStageBuffers returns buffers to the pool once their writes are done.
func putStageBuffers(bufs [][]byte) {
	stagePool.Lock()
	stagePool.bufs = append(stagePool.bufs, bufs...)
	stagePool.Unlock()
}

// writeStaged writes data, which starts at the absolute offset p0 and
// continues the bytes written so far of the tensor that st belongs to. On
// error the stage is as before the call, except that blocks written
// meanwhile are not staged again, so the same piece can be retried.
func (w *Writer) writeStaged(e *entry, st *stage, p0 int64, data []byte) error {
	f := w.files[e.file]
	p1 := p0 + int64(len(data))
	if p0 < st.a0 {
		if _, err := f.WriteAt(data[:min(p1, st.a0)-p0], p0); err != nil {
			return err
		}
	}
	// Bytes before staged were staged by an earlier, failed try.
	staged := st.pos + int64(st.fill)
	for s, hi := max(p0, staged), min(p1, st.a1); s < hi; {
		n := copy(st.cur[st.fill:], data[s-p0:hi-p0])
		st.fill += n
		s += int64(n)
		end := st.pos+int64(st.fill) == st.a1
		if st.fill < len(st.cur) && !end {
			continue
		}
		if err := w.flushStage(e.file, st, end); err != nil {
			// Unstage this call's bytes; earlier calls' stay.
			st.fill = int(max(0, staged-st.pos))
			return err
		}
	}
	if p1 > st.a1 {
		s := max(p0, st.a1)
		if _, err := f.WriteAt(data[s-p0:], s); err != nil {
			return err
		}
	}
	return nil
}

// flushStage writes the full buffer being filled, in the background
// unless it holds the tensor's last block, and starts filling a free one,
// waiting for the oldest write if none is. On error nothing changed.
func (w *Writer) flushStage(file int, st *stage, last bool) error {
	b := st.cur[:st.fill]
	if last {
		for len(st.inflight) > 0 {
			if err := w.settle(st); err != nil {
				return err
			}
		}
		if err := w.writeBlocks(file, b, st.pos); err != nil {
			return err
		}
	} else {
		if len(st.free) == 0 {
			if err := w.settle(st); err != nil {
				return err
			}
		}
		dw := &directWrite{file: file, buf: b, pos: st.pos, done: make(chan struct{})}
		w.flushes.Add(1)
		go func() {
			dw.err = w.writeBlocks(dw.file, dw.buf, dw.pos)
			close(dw.done)
			w.flushes.Done()
		}()
		st.inflight = append(st.inflight, dw)
		st.cur, st.free = st.free[len(st.free)-1], st.free[:len(st.free)-1]
	}
	st.pos += int64(st.fill)
	st.fill = 0
	return nil
}

// settle waits for the stage's oldest background write and frees its
// buffer. If the write failed, settle tries it again; if that fails too,
// the write stays pending for the next try and its error is returned.
func (w *Writer) settle(st *stage) error {
	dw := st.inflight[0]
	<-dw.done
	if dw.err != nil {
		if dw.err = w.writeBlocks(dw.file, dw.buf, dw.pos); dw.err != nil {
			return dw.err
		}
	}
	st.inflight = st.inflight[1:]
	st.free = append(st.free, dw.buf[:cap(dw.buf)])
	return nil
}

// writeBlocks writes aligned blocks to a shard with O_DIRECT, or through
// the page cache once the file system has refused a direct write.
func (w *Writer) writeBlocks(file int, b []byte, off int64) error {
	if !w.noDirect.Load() {
		_, err := directWriteAt(w.direct[file], b, off)
		if err == nil {
			w.directBytes.Add(int64(len(b)))
			return nil
		}
		if !errors.Is(err, syscall.EINVAL) {
			return err
		}
		// Some file systems accept O_DIRECT at open but not at write
		// time; the bytes are the same either way.
		w.noDirect.Store(true)
	}
	_, err := w.files[file].WriteAt(b, off)
	return err
}

// directWriteAt is (*os.File).WriteAt; tests make it fail.
var directWriteAt = (*os.File).WriteAt
