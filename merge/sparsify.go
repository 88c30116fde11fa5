package merge

import (
	"fmt"
	"math"

	"github.com/gomerge/gomerge/tensor"
)

// sparsifyMagnitude keeps the k = ⌊density·n⌋ entries of largest magnitude
// over the whole tensor (mergekit's "magnitude" sparsifier) and zeroes the
// rest, restoring the tensor's L1 norm when rescale is set. Entries equal
// to the threshold are kept in index order. density ≥ 1 keeps everything;
// k = 0 is an error, as mergekit asserts.
func sparsifyMagnitude(t *Tensors, i int, delta []float32) error {
	density := t.Inputs[i].Params["density"]
	if density >= 1 {
		return nil
	}
	n := len(delta)
	k := int(density * float64(n))
	if k <= 0 {
		return fmt.Errorf("density %g keeps no element of the %d in %s for %s (mergekit fails here too)",
			density, n, t.Name, t.Inputs[i].Model)
	}
	abs := make([]float32, n)
	for j, v := range delta {
		abs[j] = float32(math.Abs(float64(v)))
	}
	thr := kthLargest(append([]float32(nil), abs...), k)
	above := 0
	for _, a := range abs {
		if a > thr {
			above++
		}
	}
	ties := k - above
	var orig float64
	if t.Global["rescale"] != 0 {
		orig = tensor.SumAbs(delta)
	}
	for j, a := range abs {
		switch {
		case a > thr:
		case a == thr && ties > 0:
			ties--
		default:
			delta[j] = 0
		}
	}
	if t.Global["rescale"] != 0 {
		rescaleL1(t.Work, delta, orig)
	}
	return nil
}

// rescaleL1 scales the pruned tensor m so that its L1 norm equals orig,
// the norm before pruning, unless either norm is below 1e-7 (mergekit's
// rescaled_masked_tensor with the L1 norm).
func rescaleL1(work tensor.DType, m []float32, orig float64) {
	kept := float64(tensor.RoundScalar(work, float32(tensor.SumAbs(m))))
	orig = float64(tensor.RoundScalar(work, float32(orig)))
	if orig < 1e-7 || kept < 1e-7 {
		return
	}
	f := tensor.RoundScalar(work, float32(orig/kept))
	tensor.Scale(m, f)
	tensor.Round(work, m)
}

// kthLargest returns the k-th largest value (1-based) of x, reordering x.
// It is Hoare's quickselect with a median-of-three pivot: O(n) expected,
// no full sort.
func kthLargest(x []float32, k int) float32 {
	lo, hi := 0, len(x)-1
	target := k - 1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// median of three, ordered descending
		if x[mid] > x[lo] {
			x[mid], x[lo] = x[lo], x[mid]
		}
		if x[hi] > x[lo] {
			x[hi], x[lo] = x[lo], x[hi]
		}
		if x[hi] > x[mid] {
			x[hi], x[mid] = x[mid], x[hi]
		}
		p := x[mid]
		i, j := lo, hi
		for i <= j {
			for x[i] > p {
				i++
			}
			for x[j] < p {
				j--
			}
			if i <= j {
				x[i], x[j] = x[j], x[i]
				i++
				j--
			}
		}
		switch {
		case target <= j:
			hi = j
		case target >= i:
			lo = i
		default:
			return x[target]
		}
	}
	return x[target]
}
