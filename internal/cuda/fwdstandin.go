//go:build cuda && linux && amd64

package cuda

// TEMPORARY STAND-INS, to be deleted as gpuk's kernels (fwdkernels.go,
// branch h-gpuk) are merged: each copies its device buffers to the host,
// computes with a Go reference and copies the result back, so that the
// forward pass (forward.go) runs and is tested on the fake driver before
// the kernels exist. Same signatures as the kernels' launchers; the
// caller has entered.

import (
	"math"
	"unsafe"

	"github.com/gomerge/gomerge/tensor"
)

// Activations of actDev.
const (
	actSiLU     int32 = 0
	actGELUTanh int32 = 1
	actGELUErf  int32 = 2
)

// attnParams describes one sequence's attention: tokens new queries at
// positions past.., heads query heads over kvHeads key/value heads of
// headDim; window > 0 limits each query to itself and the window-1
// positions before it; softcap > 0 caps scores (cap·tanh(s/cap)).
type attnParams struct {
	tokens, past, heads, kvHeads, headDim int
	scale                                 float32
	window                                int
	softcap                               float32
}

func (d *Device) hostF32(p uint64, n int) ([]float32, error) {
	x := make([]float32, n)
	return x, d.copyOut(f32s(x), p)
}

func (d *Device) actDev(kind int32, g, u uint64, n int) error {
	gs, err := d.hostF32(g, n)
	if err != nil {
		return err
	}
	us, err := d.hostF32(u, n)
	if err != nil {
		return err
	}
	for i, v := range gs {
		x := float64(v)
		var a float64
		switch kind {
		case actSiLU:
			a = x / (1 + math.Exp(-x))
		case actGELUTanh:
			a = 0.5 * x * (1 + math.Tanh(0.7978845608028654*(x+0.044715*x*x*x)))
		default:
			a = 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
		}
		gs[i] = float32(a) * us[i]
	}
	return d.copyIn(g, f32s(gs))
}

func (d *Device) attentionDev(out, q, k, v uint64, p attnParams) error {
	hd, qDim, kvDim := p.headDim, p.heads*p.headDim, p.kvHeads*p.headDim
	total := p.past + p.tokens
	qs, err := d.hostF32(q, p.tokens*qDim)
	if err != nil {
		return err
	}
	ks, err := d.hostF32(k, total*kvDim)
	if err != nil {
		return err
	}
	vs, err := d.hostF32(v, total*kvDim)
	if err != nil {
		return err
	}
	o := make([]float32, p.tokens*qDim)
	sc := make([]float64, total)
	for t := range p.tokens {
		me := p.past + t
		lo := 0
		if p.window > 0 {
			lo = max(0, me-p.window+1)
		}
		for h := range p.heads {
			kh := h / (p.heads / p.kvHeads)
			qh := qs[t*qDim+h*hd : t*qDim+(h+1)*hd]
			best := math.Inf(-1)
			for j := lo; j <= me; j++ {
				s := float64(float32(tensor.Dot(qh, ks[j*kvDim+kh*hd:j*kvDim+(kh+1)*hd])) * p.scale)
				if p.softcap > 0 {
					s = float64(p.softcap) * math.Tanh(s/float64(p.softcap))
				}
				sc[j] = s
				best = max(best, s)
			}
			var sum float64
			for j := lo; j <= me; j++ {
				sc[j] = math.Exp(sc[j] - best)
				sum += sc[j]
			}
			for i := range hd {
				var acc float64
				for j := lo; j <= me; j++ {
					acc += sc[j] / sum * float64(vs[j*kvDim+kh*hd+i])
				}
				o[t*qDim+h*hd+i] = float32(acc)
			}
		}
	}
	return d.copyIn(out, f32s(o))
}

func (d *Device) logProbsDev(out, logits, targets uint64, rows, vocab int) error {
	lg, err := d.hostF32(logits, rows*vocab)
	if err != nil {
		return err
	}
	tg := make([]int32, rows)
	if err := d.copyOut(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(tg))), 4*rows), targets); err != nil {
		return err
	}
	lp := make([]float64, rows)
	for r := range rows {
		row := lg[r*vocab : (r+1)*vocab]
		best := math.Inf(-1)
		for _, v := range row {
			best = max(best, float64(v))
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v) - best)
		}
		lp[r] = float64(row[tg[r]]) - best - math.Log(sum)
	}
	return d.copyIn(out, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(lp))), 8*rows))
}

func (d *Device) toBF16Dev(dst, src uint64, n int) error {
	x, err := d.hostF32(src, n)
	if err != nil {
		return err
	}
	b := make([]uint16, n)
	for i, v := range x {
		b[i] = tensor.F32ToBF16(v)
	}
	return d.copyIn(dst, u16s(b))
}

func (d *Device) embedDev(dst, table, ids uint64, n, hidden int, scale float32) error {
	id := make([]int32, n)
	if err := d.copyOut(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(id))), 4*n), ids); err != nil {
		return err
	}
	x := make([]float32, n*hidden)
	row := make([]uint16, hidden)
	for t, i := range id {
		if err := d.copyOut(u16s(row), table+uint64(i)*uint64(2*hidden)); err != nil {
			return err
		}
		for j, b := range row {
			x[t*hidden+j] = tensor.BF16ToF32(b) * scale
		}
	}
	return d.copyIn(dst, f32s(x))
}

func (d *Device) addBiasDev(x, b uint64, rows, dim int) error {
	xs, err := d.hostF32(x, rows*dim)
	if err != nil {
		return err
	}
	bs, err := d.hostF32(b, dim)
	if err != nil {
		return err
	}
	for r := range rows {
		for j, v := range bs {
			xs[r*dim+j] += v
		}
	}
	return d.copyIn(x, f32s(xs))
}
