package tokensurgeon

import (
	"context"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// Approximator computes base-space rows for donor tokens the base lacks,
// from the tokens both have: DonorShared and BaseShared are the shared
// tokens' rows in the donor's and the base's embedding spaces (the widths
// may differ).
type Approximator struct {
	DonorShared, BaseShared [][]float64
}

// OMP is Orthogonal Matching Pursuit (arXiv 2506.06607): pick k shared
// tokens whose donor rows best explain the target's donor row, greedily
// by |⟨residual, atom⟩| with the chosen atoms kept orthonormal, fit their
// coefficients by least squares, and apply the same coefficients to the
// base rows. Only coefficients cross between the spaces, so the widths
// may differ. Each pick scans every shared token and k may be as large as
// their number, so OMP returns ctx's error once ctx is done.
func (a *Approximator) OMP(ctx context.Context, t []float64, k int) ([]float64, error) {
	n := len(a.DonorShared)
	k = min(k, n)
	r := slices.Clone(t)
	var q [][]float64
	var chosen []int
	used := make([]bool, n)
	for range k {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		best, score := -1, -1.0
		for j, d := range a.DonorShared {
			if used[j] {
				continue
			}
			if s := math.Abs(floats.Dot(d, r)); s > score {
				best, score = j, s
			}
		}
		if best < 0 {
			break
		}
		used[best] = true
		v := slices.Clone(a.DonorShared[best])
		for range 2 { // Gram-Schmidt twice keeps q orthonormal in floating point
			for _, qi := range q {
				floats.AddScaled(v, -floats.Dot(qi, v), qi)
			}
		}
		nrm := floats.Norm(v, 2)
		if nrm <= 1e-10*floats.Norm(a.DonorShared[best], 2) || nrm == 0 {
			continue // linearly dependent on the chosen atoms
		}
		floats.Scale(1/nrm, v)
		q = append(q, v)
		chosen = append(chosen, best)
		floats.AddScaled(r, -floats.Dot(v, r), v)
		if floats.Norm(r, 2) <= 1e-12*floats.Norm(t, 2) {
			break
		}
	}
	if len(chosen) == 0 {
		return make([]float64, len(a.BaseShared[0])), nil
	}
	coef, err := leastSquares(a.DonorShared, chosen, t)
	if err != nil {
		return nil, err
	}
	return a.combine(chosen, coef), nil
}

// leastSquares solves min ‖Σ c_j rows[idx_j] − t‖.
func leastSquares(rows [][]float64, idx []int, t []float64) ([]float64, error) {
	h := len(t)
	A := mat.NewDense(h, len(idx), nil)
	for j, i := range idx {
		for r := range h {
			A.Set(r, j, rows[i][r])
		}
	}
	var c mat.VecDense
	if err := c.SolveVec(A, mat.NewVecDense(h, slices.Clone(t))); err != nil {
		// Rank-deficient: fall back to the minimum-norm solution via SVD.
		var svd mat.SVD
		if !svd.Factorize(A, mat.SVDThin) {
			return nil, fmt.Errorf("least squares: %w", err)
		}
		var x mat.Dense
		svd.SolveTo(&x, mat.NewDense(h, 1, slices.Clone(t)), svd.Rank(1e-12))
		return mat.Col(nil, 0, &x), nil
	}
	return c.RawVector().Data, nil
}

func (a *Approximator) combine(idx []int, coef []float64) []float64 {
	out := make([]float64, len(a.BaseShared[0]))
	for j, i := range idx {
		floats.AddScaled(out, coef[j], a.BaseShared[i])
	}
	return out
}

// Weight schemes of common_interpolation.
const (
	DistanceProportional = "distance_proportional"
	Barycentric          = "barycentric"
	LeastSquares         = "least_squares"
)

// Interpolate is common_interpolation: the k nearest shared tokens in
// donor space (Euclidean or cosine distance), weighted by the scheme.
func (a *Approximator) Interpolate(t []float64, k int, cosine bool, scheme string) ([]float64, error) {
	n := len(a.DonorShared)
	k = min(k, n)
	dist := make([]float64, n)
	tn := floats.Norm(t, 2)
	for j, d := range a.DonorShared {
		if cosine {
			dn := floats.Norm(d, 2)
			c := 0.0
			if dn > 0 && tn > 0 {
				c = floats.Dot(d, t) / (dn * tn)
			}
			dist[j] = 1 - c
		} else {
			dist[j] = floats.Distance(d, t, 2)
		}
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int {
		switch {
		case dist[x] < dist[y]:
			return -1
		case dist[x] > dist[y]:
			return 1
		}
		return 0
	})
	idx = idx[:k]
	var w []float64
	switch scheme {
	case DistanceProportional, "":
		w = make([]float64, k)
		for j, i := range idx {
			if cosine {
				w[j] = 1 - dist[i]
			} else {
				w[j] = 1 / max(dist[i], 1e-6)
			}
		}
		if s := floats.Sum(w); s != 0 {
			floats.Scale(1/s, w)
		}
	case Barycentric:
		// min ‖Σ w_j d_j − t‖ subject to Σ w_j = 1: the KKT system
		// [G 1; 1ᵀ 0][w; λ] = [D t; 1] with G the neighbours' Gram matrix.
		M := mat.NewDense(k+1, k+1, nil)
		b := mat.NewVecDense(k+1, nil)
		for x, i := range idx {
			for y, j := range idx {
				M.Set(x, y, floats.Dot(a.DonorShared[i], a.DonorShared[j]))
			}
			M.Set(x, k, 1)
			M.Set(k, x, 1)
			b.SetVec(x, floats.Dot(a.DonorShared[i], t))
		}
		b.SetVec(k, 1)
		var sol mat.VecDense
		if err := sol.SolveVec(M, b); err != nil {
			return nil, fmt.Errorf("barycentric weights: %w", err)
		}
		w = sol.RawVector().Data[:k]
	case LeastSquares:
		var err error
		if w, err = leastSquares(a.DonorShared, idx, t); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown weight scheme %q (want %s, %s or %s)", scheme, DistanceProportional, Barycentric, LeastSquares)
	}
	return a.combine(idx, w), nil
}
