package model

import (
	"encoding/binary"
	"math"
	"sync"
)

// The bf16 packed product (Options.BF16Dot): like matmulPacked, but the
// weights stay bfloat16 and go into the panel as pairs of columns, one
// dword per row and pair (panel[32l+j] = w[lo+j, 2l] | w[lo+j, 2l+1]<<16),
// and each token's row of x is rounded to bfloat16 pairs once per product;
// gemm8x32BF16 then sums each pair of products with VDPBF16PS, as
// llama.cpp does on CPUs with AVX512_BF16. An odd last column is paired
// with zero.
const kPairs = kBlock / 2

type panelBF16 struct {
	panel []uint32
	tile  [tileToks * panelRows]float32
}

func (b *panelBF16) tiles() *[tileToks * panelRows]float32 { return &b.tile }

var panelBF16Pool = sync.Pool{New: func() any {
	return &panelBF16{panel: make([]uint32, panelRows*kPairs)}
}}

var pairsPool sync.Pool // *[]uint32: x as bf16 pairs

// matmulBF16 is matmul's packed path for a matrix stored in bf16 when
// Options.BF16Dot is set: dst[t, r] = x[t, :] · w[r, :] (+ bias[r]), with
// x rounded to bfloat16 and each pair of products added to a float32 sum
// per VDPBF16PS step, kBlock columns into dst at a time. The result does
// not depend on threads.
func matmulBF16(threads int, dst, x []float32, n int, w *matrix, bias []float32) {
	xb := pairsOf(threads, x, n, w.cols)
	defer pairsPool.Put(xb)
	matmulPairs(threads, dst, *xb, n, w, bias)
}

// matmulPairs is matmulBF16 on x already rounded to bfloat16 pairs
// (pairsOf).
func matmulPairs(threads int, dst []float32, xb []uint32, n int, w *matrix, bias []float32) {
	panelTasks(threads, dst, xb, n, (w.cols+1)/2, kPairs, w, bias, func(b *panelBF16, lo, hi, k0, k1 int) []uint32 {
		w.packBF16(b.panel, lo, hi, k0, k1)
		return b.panel
	}, &panelBF16Pool, gemm8x32BF16)
}

// pairsFor returns x [n, ws[0].cols] rounded to bfloat16 pairs (pairsOf)
// when matmul would round it for any of ws, which all read x: the products
// of one input then share one rounding (matmulWith). It returns nil when
// none would; put a result back with putPairs.
func (m *Model) pairsFor(x []float32, n int, ws ...*matrix) *[]uint32 {
	if !packed(n) {
		return nil
	}
	for _, w := range ws {
		if w.bf16dot {
			return pairsOf(m.threads, x, n, ws[0].cols)
		}
	}
	return nil
}

func putPairs(xb *[]uint32) {
	if xb != nil {
		pairsPool.Put(xb)
	}
}

// matmulWith is matmul with x's bf16 pairs made beforehand by pairsFor
// (or nil), the same result.
func matmulWith(threads int, dst, x []float32, xb *[]uint32, n int, w *matrix, bias []float32) {
	if xb != nil && packed(n) && w.bf16dot && len(*xb) == n*((w.cols+1)/2) {
		matmulPairs(threads, dst, *xb, n, w, bias)
		return
	}
	matmul(threads, dst, x, n, w, bias)
}

// pairsOf returns x [n, in] rounded to bfloat16, as n rows of (in+1)/2
// pairs (low half the even column), an odd last column paired with zero;
// rows in parallel on up to threads goroutines.
func pairsOf(threads int, x []float32, n, in int) *[]uint32 {
	pairs := (in + 1) / 2
	b, _ := pairsPool.Get().(*[]uint32)
	if b == nil || cap(*b) < n*pairs {
		s := make([]uint32, n*pairs)
		b = &s
	}
	*b = (*b)[:n*pairs]
	xp := *b
	const chunk = 16
	if n*in < 1<<15 {
		threads = 1
	}
	parallel(threads, (n+chunk-1)/chunk, func(c int) {
		for t := c * chunk; t < min(n, (c+1)*chunk); t++ {
			pairRow(xp[t*pairs:(t+1)*pairs], x[t*in:(t+1)*in])
		}
	})
	return b
}

// pairRowGeneric is the Go reference of pairRow: d[l] = x[2l] | x[2l+1]<<16
// rounded to bfloat16 by toBF16, x[2l+1] zero past the end.
func pairRowGeneric(d []uint32, x []float32) {
	in := len(x)
	for l := range in / 2 {
		d[l] = uint32(toBF16(x[2*l])) | uint32(toBF16(x[2*l+1]))<<16
	}
	if in%2 == 1 {
		d[in/2] = uint32(toBF16(x[in-1]))
	}
}

// toBF16 rounds f to bfloat16, to nearest even (NaN stays a quiet NaN), as
// VCVTNE2PS2BF16 and tensor's bf16 encoding do.
func toBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// packBF16 writes the column pairs [k0, k1) of rows [lo, hi) into panel,
// interleaved (panel[32l+j] = pair k0+l of row lo+j); rows past hi (in the
// last panel) are zero.
func (w *matrix) packBF16(panel []uint32, lo, hi, k0, k1 int) {
	k := k1 - k0
	if hi-lo == panelRows && packPanelBF16(w, panel, lo, k0, k1) {
		return
	}
	if hi-lo < panelRows {
		clear(panel[:panelRows*k])
	}
	cols := w.cols
	for j := lo; j < hi; j++ {
		col := panel[j-lo:]
		if cols%2 == 0 {
			row := w.raw[(j*cols+2*k0)*2 : (j*cols+2*k1)*2]
			for l := range k {
				col[l*panelRows] = binary.LittleEndian.Uint32(row[4*l:])
			}
			continue
		}
		row := w.raw[j*cols*2 : (j+1)*cols*2]
		for l := range k {
			c := 2 * (k0 + l)
			v := uint32(binary.LittleEndian.Uint16(row[2*c:]))
			if c+1 < cols {
				v |= uint32(binary.LittleEndian.Uint16(row[2*c+2:])) << 16
			}
			col[l*panelRows] = v
		}
	}
}

// dpBF16 is one lane of VDPBF16PS, as the Intel SDM defines it: acc plus
// the product of the high halves of a and b, then plus the product of the
// low halves, each step a float32 fused multiply-add rounded to nearest
// even, with denormal inputs read as zero and denormal results flushed to
// zero. (A product of two bfloat16 is exact in float32 short of overflow
// or underflow, so a float32 multiply then add rounds once, as the FMA.)
func dpBF16(acc float32, a, b uint32) float32 {
	acc = ftz(acc)
	acc = ftz(acc + bf16Float(uint16(a>>16))*bf16Float(uint16(b>>16)))
	return ftz(acc + bf16Float(uint16(a))*bf16Float(uint16(b)))
}

// bf16Float widens a bfloat16 to float32, a denormal read as zero.
func bf16Float(h uint16) float32 { return ftz(math.Float32frombits(uint32(h) << 16)) }

// ftz flushes a denormal float32 to zero of its sign.
func ftz(f float32) float32 {
	if u := math.Float32bits(f); u&0x7f800000 == 0 {
		return math.Float32frombits(u & 0x80000000)
	}
	return f
}

// gemm8x32BF16Generic is the Go reference of gemm8x32BF16: out[32i+j] is
// the VDPBF16PS sum over l < k of xs[i][l] and panel[32l+j], from zero.
func gemm8x32BF16Generic(xs *[8][]uint32, panel []uint32, k int, out *[256]float32) {
	clear(out[:])
	for l := range k {
		p := panel[l*panelRows : (l+1)*panelRows]
		for i, x := range xs {
			v := x[l]
			o := out[i*panelRows : (i+1)*panelRows]
			for j, pj := range p {
				o[j] = dpBF16(o[j], v, pj)
			}
		}
	}
}
