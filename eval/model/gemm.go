package model

import (
	"sync"

	"github.com/gomerge/gomerge/tensor"
)

// The packed matrix product (prompt processing on AVX-512): weight rows
// go 32 at a time, and kBlock columns at a time, into a panel that holds
// them interleaved (panel[32l+j] = w[row j, column l]), widened to float32
// as they are packed if stored in 16 bits; gemm8x32 then multiplies eight
// tokens by the panel with no horizontal sums. A task is up to
// superRows panels of rows; it walks the columns in blocks of kBlock so
// that the tokens' slice of x stays in cache while it serves every panel.
const (
	panelRows = 32
	kBlock    = 512
	superRows = 8
	tileToks  = 8
)

type panelBuf struct {
	panel []float32
	rows  []float32
	tile  [tileToks * panelRows]float32
}

func (b *panelBuf) tiles() *[tileToks * panelRows]float32 { return &b.tile }

var panelPool = sync.Pool{New: func() any {
	return &panelBuf{panel: make([]float32, panelRows*kBlock), rows: make([]float32, 4*kBlock)}
}}

// packed reports whether matmul should take the packed path for n tokens.
func packed(n int) bool { return useAVX512 && n >= tileToks }

// matmulPacked is matmul's packed path: dst[t, r] = x[t, :] · w[r, :]
// (+ bias[r]), each sum accumulated in float32 in column order, kBlock
// columns into dst at a time. The result does not depend on threads.
func matmulPacked(threads int, dst, x []float32, n int, w *matrix, bias []float32) {
	panelTasks(threads, dst, x, n, w.cols, kBlock, w, bias, func(b *panelBuf, lo, hi, k0, k1 int) []float32 {
		w.pack(b.panel, b.rows, lo, hi, k0, k1)
		return b.panel
	}, &panelPool, gemm8x32)
}

// panelTasks is the packed products' driver, for float32 panels
// (matmulPacked) and bf16 pairs (matmulBF16): x is n rows of cols
// elements, walked kStep at a time; each task is up to superRows panels
// of 32 weight rows, which pack fills for columns [k0, k1) of x's
// elements from a buffer of pool, and gemm multiplies eight tokens by.
func panelTasks[E float32 | uint32, B interface {
	tiles() *[tileToks * panelRows]float32
}](threads int, dst []float32, x []E, n, cols, kStep int,
	w *matrix, bias []float32, pack func(b B, lo, hi, k0, k1 int) []E, pool *sync.Pool,
	gemm func(xs *[tileToks][]E, panel []E, k int, out *[tileToks * panelRows]float32)) {
	out := w.rows
	panels := (out + panelRows - 1) / panelRows
	per := max(1, min(superRows, panels/(4*threads)))
	tasks := (panels + per - 1) / per
	if n*w.cols*out < 1<<16 {
		threads = 1
	}
	parallel(threads, tasks, func(task int) {
		b := pool.Get().(B)
		defer pool.Put(b)
		tile := b.tiles()
		p0, p1 := task*per, min(panels, (task+1)*per)
		var xs [tileToks][]E
		for k0 := 0; k0 < cols; k0 += kStep {
			k1 := min(cols, k0+kStep)
			for p := p0; p < p1; p++ {
				lo, hi := p*panelRows, min(out, (p+1)*panelRows)
				panel := pack(b, lo, hi, k0, k1)
				for t0 := 0; t0 < n; t0 += tileToks {
					for i := range xs {
						t := min(t0+i, n-1) // a short last tile repeats a token
						xs[i] = x[t*cols+k0 : t*cols+k1]
					}
					gemm(&xs, panel, k1-k0, tile)
					for i := range min(tileToks, n-t0) {
						d := dst[(t0+i)*out+lo : (t0+i)*out+hi]
						if k0 == 0 {
							copy(d, tile[i*panelRows:])
						} else {
							tensor.Add(d, tile[i*panelRows:i*panelRows+hi-lo])
						}
					}
				}
			}
		}
		if bias != nil {
			lo, hi := p0*panelRows, min(out, p1*panelRows)
			for t := range n {
				tensor.Add(dst[t*out+lo:t*out+hi], bias[lo:hi])
			}
		}
	})
}

// pack writes columns [k0, k1) of rows [lo, hi) into panel, interleaved
// (panel[32l+j] = w[lo+j, k0+l]) and widened to float32; rows past hi (in
// the last panel) are zero. rows is scratch of 4·kBlock floats. Four rows
// go at a time, so that each column's store is 16 contiguous bytes.
func (w *matrix) pack(panel, rows []float32, lo, hi, k0, k1 int) {
	k := k1 - k0
	if hi-lo < panelRows {
		clear(panel[:panelRows*k])
	}
	sz := w.dt.Size()
	src := func(j, i int) []float32 {
		if w.f32 != nil {
			return w.f32[j*w.cols+k0 : j*w.cols+k1]
		}
		// The dtype and lengths were checked at load; Decode cannot fail.
		buf := rows[i*kBlock : i*kBlock+k]
		_ = tensor.Decode(buf, w.raw[(j*w.cols+k0)*sz:(j*w.cols+k1)*sz], w.dt)
		return buf
	}
	j := lo
	for ; j+4 <= hi; j += 4 {
		r0, r1, r2, r3 := src(j, 0), src(j+1, 1), src(j+2, 2), src(j+3, 3)
		r1, r2, r3 = r1[:len(r0)], r2[:len(r0)], r3[:len(r0)]
		col := panel[j-lo : j-lo+panelRows*(k-1)+4]
		for l, v := range r0 {
			c := col[l*panelRows : l*panelRows+4]
			c[0], c[1], c[2], c[3] = v, r1[l], r2[l], r3[l]
		}
	}
	for ; j < hi; j++ {
		col := panel[j-lo:]
		for l, v := range src(j, 0) {
			col[l*panelRows] = v
		}
	}
}

// gemm8x32Generic is the Go reference of gemm8x32: out[32i+j] =
// Σ_{l<k} xs[i][l] · panel[32l+j], each sum in float32 in order of l.
func gemm8x32Generic(xs *[8][]float32, panel []float32, k int, out *[256]float32) {
	clear(out[:])
	for l := range k {
		p := panel[l*panelRows : (l+1)*panelRows]
		for i, x := range xs {
			v := x[l]
			o := out[i*panelRows : (i+1)*panelRows]
			for j, pj := range p {
				o[j] += v * pj
			}
		}
	}
}
