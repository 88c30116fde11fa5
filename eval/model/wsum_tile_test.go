package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestWsumTile compares the tiled weighted sum (AVX-512 where available)
// and its Go reference with float64 on odd strides, every tile size and
// head sizes the assembly takes and does not, adding to what acc holds;
// and, starting from zero, with wsum query by query: attention relies on
// the two giving the same bits wherever tileQueries tiles.
func TestWsumTile(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, hd := range []int{8, 16, 32, 48, 128, 144} {
		for _, n := range []int{1, 3, 100} {
			for q := 1; q <= 4; q++ {
				stride, accStride, pStride := hd*2+3, hd+5, n+3
				v := make([]float32, (n-1)*stride+hd)
				p := make([]float32, (q-1)*pStride+n)
				init := make([]float32, (q-1)*accStride+hd)
				for _, s := range [][]float32{v, p, init} {
					for i := range s {
						s[i] = float32(rng.NormFloat64())
					}
				}
				for _, fast := range []bool{true, false} {
					name := fmt.Sprintf("hd %d n %d q %d fast %v", hd, n, q, fast)
					saved := useAVX512
					useAVX512 = useAVX512 && fast
					acc := append([]float32(nil), init...)
					wsumTile(acc, accStride, p, pStride, v, stride, n, q, hd)
					zero := make([]float32, len(init))
					wsumTile(zero, accStride, p, pStride, v, stride, n, q, hd)
					one := make([]float32, hd)
					for u := range q {
						wsum(one, p[u*pStride:u*pStride+n], v, stride)
						if tileQueries(hd) > 1 {
							for d := range hd {
								if got, want := zero[u*accStride+d], one[d]; math.Float32bits(got) != math.Float32bits(want) {
									t.Fatalf("%s: query %d [%d] = %v, wsum gives %v", name, u, d, got, want)
								}
							}
						}
					}
					useAVX512 = saved
					for u := range q {
						for d := range hd {
							want, scale := float64(init[u*accStride+d]), math.Abs(float64(init[u*accStride+d]))
							for j := range n {
								x := float64(p[u*pStride+j]) * float64(v[j*stride+d])
								want += x
								scale += math.Abs(x)
							}
							if got := acc[u*accStride+d]; math.Abs(float64(got)-want) > 1e-6*(scale+1) {
								t.Fatalf("%s: query %d [%d] = %v, want %v", name, u, d, got, want)
							}
						}
					}
					// Rows between the queries' are left alone.
					for i := range acc {
						if i%accStride >= hd && acc[i] != init[i] {
							t.Fatalf("%s: acc[%d] changed", name, i)
						}
					}
				}
			}
		}
	}
}

// TestDot2xN checks that scoring two queries against runs of keys in one
// call gives the same bits as dot2x4 block by block, which it replaces in
// attention, on head sizes the assembly takes (multiples of 8) and not.
func TestDot2xN(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{8, 12, 16, 32, 128} {
		for _, blocks := range []int{1, 2, 7} {
			ws := n + 5
			w := make([]float32, (4*blocks-1)*ws+n)
			x0, x1 := make([]float32, n), make([]float32, n)
			for _, s := range [][]float32{w, x0, x1} {
				for i := range s {
					s[i] = float32(rng.NormFloat64())
				}
			}
			p0, p1 := make([]float32, 4*blocks+1), make([]float32, 4*blocks+1)
			q0, q1 := make([]float32, 4*blocks+1), make([]float32, 4*blocks+1)
			dot2xN(p0, p1, x0, x1, w, ws, n, blocks)
			dot2xNGeneric(q0, q1, x0, x1, w, ws, n, blocks)
			for r := range p0 {
				if math.Float32bits(p0[r]) != math.Float32bits(q0[r]) || math.Float32bits(p1[r]) != math.Float32bits(q1[r]) {
					t.Fatalf("n %d blocks %d row %d: %v, %v; dot2x4 gives %v, %v", n, blocks, r, p0[r], p1[r], q0[r], q1[r])
				}
			}
			if p0[4*blocks] != 0 || p1[4*blocks] != 0 {
				t.Fatalf("n %d blocks %d: wrote past the last block", n, blocks)
			}
			var want float64
			for i := range n {
				want += float64(x1[i]) * float64(w[(4*blocks-1)*ws+i])
			}
			if math.Abs(float64(p1[4*blocks-1])-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("n %d blocks %d: last score %v, want %v", n, blocks, p1[4*blocks-1], want)
			}
		}
	}
}
