package model

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/gomerge/gomerge/tensor"
)

// parallel runs fn(i) for i in [0, n) on up to threads goroutines, handing
// out indices one at a time so that uneven work balances.
func parallel(threads, n int, fn func(i int)) {
	if threads > n {
		threads = n
	}
	if threads <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range threads {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}

// Blocking of matmul: a task is rowBlock weight rows (widened once if
// stored in 16 bits); within it, tokens go tokenTile at a time, and for
// each four rows (which stay in L1) the tile's tokens pass two at a time.
var (
	rowBlock  = 32
	tokenTile = 32
)

// matmul computes dst[t, r] = x[t, :] · w[r, :] (+ bias[r]) for t < n:
// x is [n, w.cols] and dst [n, w.rows], both row-major. Goroutines take
// blocks of rowBlock weight rows; dot2x4 computes two tokens against four
// rows at a time, accumulating in float32.
func matmul(threads int, dst, x []float32, n int, w *matrix, bias []float32) {
	if packed(n) && w.bf16dot {
		matmulBF16(threads, dst, x, n, w, bias)
		return
	}
	if packed(n) {
		matmulPacked(threads, dst, x, n, w, bias)
		return
	}
	in, out := w.cols, w.rows
	rb := rowBlock
	blocks := (out + rb - 1) / rb
	var pool sync.Pool
	if w.f32 == nil {
		pool.New = func() any { b := make([]float32, rb*in); return &b }
	}
	if n*in*out < 1<<16 {
		threads = 1
	}
	parallel(threads, blocks, func(b int) {
		lo, hi := b*rb, min(out, (b+1)*rb)
		var buf *[]float32
		var rows []float32
		if w.f32 == nil {
			buf = pool.Get().(*[]float32)
			rows = w.rowsInto(lo, hi, *buf)
		} else {
			rows = w.rowsInto(lo, hi, nil)
		}
		var acc [8]float32
		for t0 := 0; t0 < n; t0 += tokenTile {
			t1 := min(n, t0+tokenTile)
			r := lo
			for ; r+4 <= hi; r += 4 {
				wr := rows[(r-lo)*in:]
				for t := t0; t < t1; t += 2 {
					x0 := x[t*in : (t+1)*in]
					d0 := dst[t*out+r : t*out+r+4]
					x1, d1 := x0, d0
					if t+1 < t1 {
						x1 = x[(t+1)*in : (t+2)*in]
						d1 = dst[(t+1)*out+r : (t+1)*out+r+4]
					}
					dot2x4(&acc, x0, x1, wr, in, in)
					d0[0], d0[1], d0[2], d0[3] = acc[0], acc[2], acc[4], acc[6]
					d1[0], d1[1], d1[2], d1[3] = acc[1], acc[3], acc[5], acc[7]
				}
			}
			for ; r < hi; r++ {
				wr := rows[(r-lo)*in : (r-lo+1)*in]
				for t := t0; t < t1; t++ {
					dst[t*out+r] = float32(tensor.Dot(x[t*in:(t+1)*in], wr))
				}
			}
		}
		if bias != nil {
			for t := range n {
				tensor.Add(dst[t*out+lo:t*out+hi], bias[lo:hi])
			}
		}
		if buf != nil {
			pool.Put(buf)
		}
	})
}

// rmsNorm normalizes each of the n rows of x (length len(w)) into dst:
// x * rsqrt(mean(x²) + eps) * w, with the mean accumulated in float64.
func rmsNorm(dst, x []float32, w []float32, eps float64) {
	d := len(w)
	for t := 0; t+d <= len(x); t += d {
		xs, ds := x[t:t+d], dst[t:t+d]
		r := invSqrt(tensor.SumSquares(xs)/float64(d) + eps)
		for i, v := range xs {
			ds[i] = float32(v*r) * w[i]
		}
	}
}

// ropeAngles sets cos and sin (d/2 floats each) to the rotation of
// position p: HF multiplies inv_freq by the position in float32 and takes
// cos and sin of that float32 angle.
func ropeAngles(cos, sin []float32, r *rope, p int) {
	pf := float32(p)
	for i, f := range r.invFreq {
		a := float64(f * pf)
		cos[i], sin[i] = float32(math.Cos(a)), float32(math.Sin(a))
	}
}

// rotate rotates each of the heads heads of x (d floats each) in place by
// the angles of ropeAngles, in HF's rotate_half layout (pairs i and i+d/2).
func rotate(x []float32, heads, d int, cos, sin []float32) {
	half := d / 2
	cos, sin = cos[:half], sin[:half]
	for h := range heads {
		v := x[h*d : (h+1)*d]
		lo, hi := v[:half], v[half:]
		for i := range half {
			a, b := lo[i], hi[i]
			lo[i] = a*cos[i] - b*sin[i]
			hi[i] = b*cos[i] + a*sin[i]
		}
	}
}

// activate applies the MLP activation to gate and multiplies by up, in
// place in gate.
func activate(act string, gate, up []float32) {
	switch act {
	case "silu", "swish":
		for i, g := range gate {
			x := float64(g)
			gate[i] = float32(x/(1+math.Exp(-x))) * up[i]
		}
	case "gelu_pytorch_tanh", "gelu_tanh", "gelu_new":
		const c = 0.7978845608028654 // sqrt(2/pi)
		for i, g := range gate {
			x := float64(g)
			gate[i] = float32(0.5*x*(1+math.Tanh(c*(x+0.044715*x*x*x)))) * up[i]
		}
	default: // "gelu": exact, with erf
		for i, g := range gate {
			x := float64(g)
			gate[i] = float32(0.5*x*(1+math.Erf(x/math.Sqrt2))) * up[i]
		}
	}
}

// activateFast is activate for the layers whose products run in bfloat16
// (Options.BF16Dot), whose results already differ from the float32 path's
// in the low bits: SiLU takes the float32 exponential of the softmax
// (expStore: vectorised, relative error below 2e-7) instead of float64
// math.Exp one value at a time, a quarter of a prompt's time once the
// products run in bfloat16. The other activations are activate's.
func activateFast(act string, gate, up []float32) {
	if act != "silu" && act != "swish" {
		activate(act, gate, up)
		return
	}
	var e [256]float32
	for lo := 0; lo < len(gate); lo += len(e) {
		g := gate[lo:min(len(gate), lo+len(e))]
		u := up[lo : lo+len(g)]
		ek := e[:len(g)]
		for i, x := range g {
			ek[i] = -abs32(x)
		}
		expStore(ek, 0) // e^-|x|: ≤ 1, so 1 + e never overflows
		siluMul(g, u, ek)
	}
}

// siluMulGeneric sets g[i] to silu(g[i])·u[i] given e[i] = e^-|g[i]|:
// silu(x) = x/(1+e^-x), for x < 0 as x·e^x/(1+e^x). Below expLo, where
// e^x leaves float32's normal range, expStore returns e^expLo:
// |silu(x)| < 2e-36 either way.
func siluMulGeneric(g, u, e []float32) {
	u, e = u[:len(g)], e[:len(g)]
	for i, x := range g {
		num := x
		if x < 0 {
			num = x * e[i]
		}
		g[i] = num / (1 + e[i]) * u[i]
	}
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// softcap applies cap * tanh(x / cap) in place.
func softcap(x []float32, cp float64) {
	for i, v := range x {
		x[i] = float32(cp * math.Tanh(float64(v)/cp))
	}
}
