package merge

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/lapack/lapack64"
	"gonum.org/v1/gonum/mat"
)

// The randomized truncated SVD of extract-lora (Halko, Martinsson and
// Tropp, "Finding structure with randomness: probabilistic algorithms for
// constructing approximate matrix decompositions", SIAM Review 53(2),
// 2011, arXiv:0909.4061): a Gaussian sketch Y = A·Ω of r + rsvdOversample
// columns, rsvdPowerIters rounds of subspace iteration re-orthonormalised
// by QR (their Algorithm 4.4), then the exact SVD of the small matrix
// B = Qᵀ·A (Algorithm 5.1). It costs a few products with A instead of a
// full SVD: O(m·n·(r+p)) against O(m·n·min(m, n)).
const (
	// rsvdMaxRank is the largest rank computed this way.
	rsvdMaxRank = 256
	// rsvdOversample is how many more columns than the rank the sketch has.
	rsvdOversample = 16
)

// rsvdPowerIters is the number of subspace iterations: singular values of
// a fine-tune's delta decay slowly, and each iteration sharpens the sketch
// towards the top of the spectrum (a variable for the benchmark).
var rsvdPowerIters = 4

// useRandomized reports whether the top r singular triplets of an m×n
// matrix are found by randomizedSVD: r ≤ rsvdMaxRank and the sketch at
// most half as wide as the matrix's smaller side, where it saves work.
func useRandomized(m, n, r int) bool {
	return r <= rsvdMaxRank && 2*(r+rsvdOversample) <= min(m, n)
}

// randomizedSVD returns an approximation of the top singular triplets of a
// (m×n): l = r + rsvdOversample singular values s in decreasing order and
// the matching columns of u (m×l) and v (n×l), so that a ≈ u·diag(s)·vᵀ.
// The sketch is drawn from seed: the same seed gives the same bytes
// whatever the thread count. ctx is checked between the products.
func randomizedSVD(ctx context.Context, a mat.Matrix, r int, seed uint64) (u, v *mat.Dense, s []float64, err error) {
	m, n := a.Dims()
	l := min(r+rsvdOversample, m, n)
	omega := mat.NewDense(n, l, gaussian(n*l, seed))
	y := mat.NewDense(m, l, nil)
	y.Mul(a, omega)
	orthonormalize(y)
	z := mat.NewDense(n, l, nil)
	for range rsvdPowerIters {
		if err := ctx.Err(); err != nil {
			return nil, nil, nil, err
		}
		z.Mul(a.T(), y)
		orthonormalize(z)
		y.Mul(a, z)
		orthonormalize(y)
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	var b mat.Dense // l×n
	b.Mul(y.T(), a)
	var svd mat.SVD
	if !svd.Factorize(&b, mat.SVDThin) {
		return nil, nil, nil, fmt.Errorf("the SVD of the %d×%d sketch did not converge", l, n)
	}
	var ub mat.Dense
	svd.UTo(&ub)
	u, v = mat.NewDense(m, l, nil), &mat.Dense{}
	u.Mul(y, &ub)
	svd.VTo(v)
	return u, v, svd.Values(nil), nil
}

// orthonormalize replaces the columns of a tall matrix by an orthonormal
// basis of their span: the thin Q of its Householder QR.
func orthonormalize(a *mat.Dense) {
	raw := a.RawMatrix()
	tau := make([]float64, min(raw.Rows, raw.Cols))
	work := []float64{0}
	lapack64.Geqrf(raw, tau, work, -1)
	work = make([]float64, int(work[0]))
	lapack64.Geqrf(raw, tau, work, len(work))
	lapack64.Orgqr(raw, tau, work[:1], -1)
	if need := int(work[0]); need > len(work) {
		work = make([]float64, need)
	}
	lapack64.Orgqr(raw, tau, work, len(work))
}

// gaussian returns n standard normal values drawn from seed (Box–Muller
// over gomerge's SplitMix64 stream, so the values do not depend on the Go
// release's math/rand).
func gaussian(n int, seed uint64) []float64 {
	src := &randomSource{key: mix64(seed)}
	out := make([]float64, n)
	for i := 0; i < n; i += 2 {
		u1 := (float64(src.Uint64()>>11) + 1) / (1 << 53) // (0, 1]
		u2 := float64(src.Uint64()>>11) / (1 << 53)
		rad := math.Sqrt(-2 * math.Log(u1))
		out[i] = rad * math.Cos(2*math.Pi*u2)
		if i+1 < n {
			out[i+1] = rad * math.Sin(2*math.Pi*u2)
		}
	}
	return out
}
