package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// keepBelowStreamFormula is KeepBelowStream's doc comment, one draw at a
// time.
func keepBelowStreamFormula(x []float32, key, first, bound uint64) int {
	kept := 0
	for j := range x {
		d := first + uint64(j)
		var w [1]uint64
		SplitMix64(w[:], key, d/2)
		draw := uint32(w[0] >> (32 * (d % 2)))
		if uint64(draw) >= bound {
			x[j] = 0
		} else {
			kept++
		}
	}
	return kept
}

func TestKeepBelowStream(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 1023, 1024, 1025, 2049, 5000} {
		for _, first := range []uint64{0, 1, 2, 1023, 1<<63 + 1, math.MaxUint64} {
			for _, bound := range []uint64{0, 1, 1 << 31, 1<<32 - 1, 1 << 32, math.MaxUint64} {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				y := slices.Clone(x)
				key := r.Uint64()
				got, want := KeepBelowStream(x, key, first, bound), keepBelowStreamFormula(y, key, first, bound)
				if got != want || !slices.Equal(x, y) {
					t.Fatalf("n %d first %d bound %d: kept %d, formula %d; masks equal %v", n, first, bound, got, want, slices.Equal(x, y))
				}
			}
		}
	}
}

// TestKeepBelowStreamPieces checks that masking a buffer in pieces, each
// starting at its own draw, masks it as one call does.
func TestKeepBelowStreamPieces(t *testing.T) {
	x := make([]float32, 10000)
	for i := range x {
		x[i] = float32(i + 1)
	}
	whole := slices.Clone(x)
	k := KeepBelowStream(whole, 42, 7, 1<<31)
	kept := 0
	for lo := 0; lo < len(x); lo += 777 {
		hi := min(len(x), lo+777)
		kept += KeepBelowStream(x[lo:hi], 42, 7+uint64(lo), 1<<31)
	}
	if kept != k || !slices.Equal(x, whole) {
		t.Fatalf("pieces kept %d, whole %d; equal %v", kept, k, slices.Equal(x, whole))
	}
}

// TestCPUBackendFormulas checks WeightedSum and SignConsensus against
// their doc comments written element by element with RoundScalar.
func TestCPUBackendFormulas(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, work := range []DType{BF16, F16, F32, I8} {
		for _, n := range []int{0, 1, 7, 2048, 2049, 1<<18 + 3} {
			xs := make([][]float32, 3)
			ws := []float32{RoundScalar(work, 0.6), RoundScalar(work, -0.3), RoundScalar(work, 1.1)}
			for i := range xs {
				xs[i] = make([]float32, n)
				for j := range xs[i] {
					switch r.IntN(8) {
					case 0:
						xs[i][j] = 0
					case 1:
						xs[i][j] = float32(math.Copysign(0, -1))
					default:
						xs[i][j] = float32(r.NormFloat64() * 3)
					}
				}
				Round(work, xs[i])
			}
			for _, normalize := range []bool{false, true} {
				name := fmt.Sprintf("%s/%d/%v", work, n, normalize)
				div := RoundScalar(work, 1.4)
				got := make([]float32, n)
				if err := CPU.WeightedSum(work, got, xs, ws, normalize, div); err != nil {
					t.Fatal(err)
				}
				for j := range n {
					var acc float32
					for i := range xs {
						acc += RoundScalar(work, float32(ws[i]*xs[i][j]))
					}
					acc = RoundScalar(work, acc)
					if normalize {
						acc = RoundScalar(work, acc/div)
					}
					if math.Float32bits(acc) != math.Float32bits(got[j]) {
						t.Fatalf("WeightedSum %s: element %d = %g, formula %g", name, j, got[j], acc)
					}
				}
				ds := make([][]float32, len(xs))
				for i := range xs {
					ds[i] = slices.Clone(xs[i])
				}
				if err := CPU.SignConsensus(work, got, ds, ws, normalize); err != nil {
					t.Fatal(err)
				}
				for j := range n {
					var sign float32
					for i := range xs {
						sign += RoundScalar(work, float32(xs[i][j]*ws[i]))
					}
					sign = RoundScalar(work, sign)
					var m, dv float32
					for i := range xs {
						d := RoundScalar(work, float32(xs[i][j]*ws[i]))
						if d != 0 && (d < 0) == (sign < 0) {
							m += d
							dv += ws[i]
						}
					}
					m = RoundScalar(work, m)
					if normalize {
						if dv = RoundScalar(work, dv); dv != 0 {
							m = RoundScalar(work, m/dv)
						}
					}
					if math.Float32bits(m) != math.Float32bits(got[j]) {
						t.Fatalf("SignConsensus %s: element %d = %g, formula %g", name, j, got[j], m)
					}
				}
			}
		}
	}
}
