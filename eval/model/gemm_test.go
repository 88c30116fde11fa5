package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

// TestMatmulPacked compares the packed matrix product (the AVX-512
// kernel where available, and its Go reference) with float64 sums, for
// float32 and 16-bit weights, row counts that leave a short last panel,
// column counts above kBlock, token counts that leave a short last tile,
// biases, and 1 and 3 threads: the result must not depend on threads.
func TestMatmulPacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, sz := range [][3]int{{8, 1, 1}, {9, 33, 5}, {17, 64, 100}, {8, 95, kBlock + 3}, {40, 300, 2*kBlock + 1}} {
		n, rows, cols := sz[0], sz[1], sz[2]
		x := make([]float32, n*cols)
		w := make([]float32, rows*cols)
		bias := make([]float32, rows)
		for _, s := range [][]float32{x, w, bias} {
			for i := range s {
				s[i] = float32(rng.NormFloat64())
			}
		}
		for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16} {
			m := &matrix{rows: rows, cols: cols, dt: dt}
			wq := w
			if dt == tensor.F32 {
				m.f32 = w
			} else {
				m.raw = make([]byte, rows*cols*dt.Size())
				tensor.Encode(m.raw, w, dt)
				wq = make([]float32, len(w))
				tensor.Decode(wq, m.raw, dt)
			}
			for _, fast := range []bool{true, false} {
				t.Run(fmt.Sprintf("%dx%dx%d/%s/fast=%v", n, rows, cols, dt, fast), func(t *testing.T) {
					saved := useAVX512
					useAVX512 = useAVX512 && fast
					defer func() { useAVX512 = saved }()
					one := make([]float32, n*rows)
					three := make([]float32, n*rows)
					matmulPacked(1, one, x, n, m, bias)
					matmulPacked(3, three, x, n, m, bias)
					for tk := range n {
						for r := range rows {
							var want, scale float64
							for c := range cols {
								p := float64(x[tk*cols+c]) * float64(wq[r*cols+c])
								want += p
								scale += math.Abs(p)
							}
							want += float64(bias[r])
							got := one[tk*rows+r]
							if math.Abs(float64(got)-want) > 1e-5*(scale+1) {
								t.Fatalf("token %d row %d: %v, want %v", tk, r, got, want)
							}
							if three[tk*rows+r] != got {
								t.Fatalf("token %d row %d: %v with 3 threads, %v with 1", tk, r, three[tk*rows+r], got)
							}
						}
					}
				})
			}
		}
	}
}

// TestWsum compares attention's weighted sum of value rows (AVX-512
// where available, for head sizes that are multiples of 16 up to 128) and
// its Go reference with float64, on head sizes the assembly takes, the
// narrow ones wsumNarrow keeps in registers (2, 4, 8) and others left to
// Go.
func TestWsum(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, hd := range []int{2, 4, 8, 12, 16, 20, 48, 64, 128, 144} {
		for _, n := range []int{1, 7, 100} {
			stride := hd*2 + 3
			v := make([]float32, (n-1)*stride+hd)
			p := make([]float32, n)
			for _, s := range [][]float32{v, p} {
				for i := range s {
					s[i] = float32(rng.NormFloat64())
				}
			}
			for _, fast := range []bool{true, false} {
				saved := useAVX512
				useAVX512 = useAVX512 && fast
				acc := make([]float32, hd)
				for i := range acc {
					acc[i] = 99 // overwritten, not added to
				}
				wsum(acc, p, v, stride)
				useAVX512 = saved
				for d := range hd {
					var want, scale float64
					for j := range n {
						x := float64(p[j]) * float64(v[j*stride+d])
						want += x
						scale += math.Abs(x)
					}
					if math.Abs(float64(acc[d])-want) > 1e-6*(scale+1) {
						t.Fatalf("hd %d n %d fast %v: acc[%d] = %v, want %v", hd, n, fast, d, acc[d], want)
					}
				}
			}
		}
	}
}
