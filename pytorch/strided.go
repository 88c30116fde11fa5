package pytorch

// contiguous reports whether the view's elements are stored in row-major
// order without gaps, so that it can be read with one ReadAt.
func (t *tensorRef) contiguous() bool {
	want := int64(1)
	for i := len(t.shape) - 1; i >= 0; i-- {
		d := t.shape[i]
		if d == 0 {
			return true
		}
		if d != 1 && t.stride[i] != want {
			return false
		}
		want *= d
	}
	return true
}

// readView fills dst with bytes [off, off+len(dst)) of the view's row-major
// form. Non-contiguous views read the span of storage between the lowest and
// highest element the range needs and gather from it.
func (pf *File) readView(t *fileTensor, off int64, dst []byte) error {
	r := t.ref
	es := int64(r.dtype.Size())
	if r.contiguous() {
		return pf.readStorage(t.data, r.offset*es+off, dst)
	}
	first := off / es
	last := (off + int64(len(dst)) + es - 1) / es // exclusive
	lo, hi := int64(-1), int64(-1)
	step := r.innerStride()
	r.walk(first, last, func(_, idx, n int64) {
		end := idx + (n-1)*step
		if lo < 0 || idx < lo {
			lo = idx
		}
		hi = max(hi, end)
	})
	span := make([]byte, (hi-lo+1)*es)
	if err := pf.readStorage(t.data, lo*es, span); err != nil {
		return err
	}
	out := dst
	aligned := off%es == 0 && int64(len(dst))%es == 0
	if !aligned {
		out = make([]byte, (last-first)*es)
	}
	r.walk(first, last, func(i, idx, n int64) {
		gather(out[(i-first)*es:(i-first+n)*es], span[(idx-lo)*es:], int(es), int(step*es))
	})
	if !aligned {
		copy(dst, out[off-first*es:])
	}
	return nil
}

// gather copies len(dst)/size elements of size bytes from src, stride bytes
// apart.
func gather(dst, src []byte, size, stride int) {
	if stride == size {
		copy(dst, src)
		return
	}
	switch size {
	case 2:
		for i, j := 0, 0; i < len(dst); i, j = i+2, j+stride {
			dst[i], dst[i+1] = src[j], src[j+1]
		}
	case 4:
		for i, j := 0, 0; i < len(dst); i, j = i+4, j+stride {
			copy(dst[i:i+4], src[j:j+4])
		}
	default:
		for i, j := 0, 0; i < len(dst); i, j = i+size, j+stride {
			copy(dst[i:i+size], src[j:j+size])
		}
	}
}

// innerStride is the stride of the last dimension, 0 for a scalar.
func (r *tensorRef) innerStride() int64 {
	if len(r.stride) == 0 {
		return 0
	}
	return r.stride[len(r.stride)-1]
}

// walk calls fn for each run of the row-major elements [first, last) along
// the last dimension: the run's first element number i, its storage index and
// its length n; the run's elements are innerStride apart in storage.
func (r *tensorRef) walk(first, last int64, fn func(i, idx, n int64)) {
	nd := len(r.shape)
	if nd == 0 {
		if first == 0 && last > 0 {
			fn(0, r.offset, 1)
		}
		return
	}
	coord := make([]int64, nd)
	rem := first
	idx := r.offset
	for d := nd - 1; d >= 0; d-- {
		coord[d] = rem % r.shape[d]
		rem /= r.shape[d]
		idx += coord[d] * r.stride[d]
	}
	inner := r.shape[nd-1]
	for i := first; i < last; {
		n := min(inner-coord[nd-1], last-i)
		fn(i, idx, n)
		i += n
		if i >= last {
			return
		}
		// The run reached the end of the last dimension: carry.
		idx -= coord[nd-1] * r.stride[nd-1]
		coord[nd-1] = 0
		for d := nd - 2; d >= 0; d-- {
			coord[d]++
			idx += r.stride[d]
			if coord[d] < r.shape[d] {
				break
			}
			idx -= r.shape[d] * r.stride[d]
			coord[d] = 0
		}
	}
}
