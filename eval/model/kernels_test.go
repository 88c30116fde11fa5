package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestDot2x4 compares dot2x4 (assembly where available) and its Go
// reference with float64 dot products on odd lengths and strides.
func TestDot2x4(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 3, 7, 8, 9, 15, 16, 17, 48, 63, 64, 100, 768, 1001} {
		for _, extra := range []int{0, 5} {
			ws := n + extra
			x0 := make([]float32, n+1)
			x1 := make([]float32, n+3)
			w := make([]float32, 3*ws+n)
			for _, s := range [][]float32{x0, x1, w} {
				for i := range s {
					s[i] = float32(rng.NormFloat64())
				}
			}
			x0, x1 = x0[1:], x1[3:] // unaligned
			var scale float64
			want := [8]float64{}
			for r := range 4 {
				for i := range n {
					want[2*r] += float64(x0[i]) * float64(w[r*ws+i])
					want[2*r+1] += float64(x1[i]) * float64(w[r*ws+i])
					scale += math.Abs(float64(x0[i])*float64(w[r*ws+i])) + math.Abs(float64(x1[i])*float64(w[r*ws+i]))
				}
			}
			for _, fast := range []bool{true, false} {
				saved := useFMA
				useFMA = useFMA && fast
				var got [8]float32
				dot2x4(&got, x0, x1, w, ws, n)
				useFMA = saved
				for k := range 8 {
					if d := math.Abs(float64(got[k]) - want[k]); d > 1e-6*scale {
						t.Errorf("n %d stride %d fast %v: out[%d] = %v, want %v", n, ws, fast, k, got[k], want[k])
					}
				}
			}
		}
	}
}

// TestActivateFast holds the float32-exponential SiLU of the BF16Dot
// layers to activate's float64 one within a few float32 ulps, over
// lengths around its 256-value blocks and the vector width, from values
// far below to far above zero; other activations must be activate's.
func TestActivateFast(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 7, 8, 255, 256, 257, 1000} {
		gate := make([]float32, n)
		up := make([]float32, n)
		for i := range gate {
			switch i % 5 {
			case 0:
				gate[i] = float32(r.NormFloat64())
			case 1:
				gate[i] = float32(r.NormFloat64() * 30)
			case 2:
				gate[i] = float32(r.NormFloat64() * 1e-20)
			case 3:
				gate[i] = []float32{0, -100, 100, -88, 88, -17}[r.IntN(6)]
			default:
				gate[i] = float32(r.NormFloat64() * 5)
			}
			up[i] = float32(r.NormFloat64())
		}
		for _, act := range []string{"silu", "swish", "gelu_pytorch_tanh", "gelu"} {
			want, got := slices.Clone(gate), slices.Clone(gate)
			activate(act, want, up)
			activateFast(act, got, up)
			for i := range want {
				tol := float32(0)
				if act == "silu" || act == "swish" {
					// Relative, but absolute for x below e^x's normal
					// range, where both are under 2e-36·|up|.
					tol = 4e-7*abs32(want[i]) + 2e-36*(1+abs32(up[i]))
				}
				if abs32(got[i]-want[i]) > tol {
					t.Fatalf("%s n=%d x=%g: %g, want %g", act, n, gate[i], got[i], want[i])
				}
			}
		}
	}
}
