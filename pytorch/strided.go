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
	r.walk(first, last, func(_, idx int64) {
		if lo < 0 || idx < lo {
			lo = idx
		}
		hi = max(hi, idx)
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
	r.walk(first, last, func(i, idx int64) {
		copy(out[(i-first)*es:(i-first+1)*es], span[(idx-lo)*es:])
	})
	if !aligned {
		copy(dst, out[off-first*es:])
	}
	return nil
}

// walk calls fn with each row-major element number i in [first, last) and
// its storage index.
func (r *tensorRef) walk(first, last int64, fn func(i, idx int64)) {
	nd := len(r.shape)
	if nd == 0 {
		if first == 0 && last > 0 {
			fn(0, r.offset)
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
	inner, innerStride := r.shape[nd-1], r.stride[nd-1]
	for i := first; i < last; {
		// Run along the last dimension, then carry.
		for ; coord[nd-1] < inner && i < last; coord[nd-1]++ {
			fn(i, idx)
			idx += innerStride
			i++
		}
		if i >= last {
			return
		}
		idx -= inner * innerStride
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
