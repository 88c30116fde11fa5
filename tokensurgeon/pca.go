package tokensurgeon

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// landmarkPCA maps donor rows to the base space through the shared tokens
// (mergekit's landmark_pca): both shared sets are centred, projected on
// their top q = min(widths) principal directions, the orthogonal
// Procrustes rotation R between the projected landmarks is fitted (SVD of
// Bᵀ·A, R = U·Vᵀ), and a target goes through PCA_donor, R and back through
// PCA_baseᵀ, plus the base mean. gomerge uses exact eigenvectors of the
// covariance (mergekit: torch.pca_lowrank, randomised).
type landmarkPCA struct {
	meanD, meanB []float64
	vd, vb       *mat.Dense // width × q principal directions
	r            *mat.Dense // q × q
}

func newLandmarkPCA(a *Approximator) (*landmarkPCA, error) {
	n := len(a.DonorShared)
	if n < 2 {
		return nil, fmt.Errorf("landmark_pca needs at least 2 shared tokens, have %d", n)
	}
	hd, hb := len(a.DonorShared[0]), len(a.BaseShared[0])
	q := min(hd, hb, n)
	p := &landmarkPCA{}
	var cd, cb *mat.Dense
	p.meanD, cd = centred(a.DonorShared)
	p.meanB, cb = centred(a.BaseShared)
	var err error
	if p.vd, err = principal(cd, q); err != nil {
		return nil, err
	}
	if p.vb, err = principal(cb, q); err != nil {
		return nil, err
	}
	var pa, pb mat.Dense
	pa.Mul(cd, p.vd) // n × q
	pb.Mul(cb, p.vb)
	var m mat.Dense
	m.Mul(pb.T(), &pa) // q × q
	var svd mat.SVD
	if !svd.Factorize(&m, mat.SVDFull) {
		return nil, fmt.Errorf("landmark_pca: SVD did not converge")
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	p.r = mat.NewDense(q, q, nil)
	p.r.Mul(&u, v.T())
	return p, nil
}

func (p *landmarkPCA) apply(t []float64) []float64 {
	tc := slices.Clone(t)
	floats.Sub(tc, p.meanD)
	var a, b, out mat.VecDense
	a.MulVec(p.vd.T(), mat.NewVecDense(len(tc), tc))
	b.MulVec(p.r, &a)
	out.MulVec(p.vb, &b)
	row := slices.Clone(out.RawVector().Data)
	floats.Add(row, p.meanB)
	return row
}

// centred returns the column means of rows and the rows minus them.
func centred(rows [][]float64) ([]float64, *mat.Dense) {
	n, h := len(rows), len(rows[0])
	mean := make([]float64, h)
	for _, r := range rows {
		floats.Add(mean, r)
	}
	floats.Scale(1/float64(n), mean)
	m := mat.NewDense(n, h, nil)
	for i, r := range rows {
		for j, v := range r {
			m.Set(i, j, v-mean[j])
		}
	}
	return mean, m
}

// principal returns the top q eigenvectors of XᵀX as columns.
func principal(x *mat.Dense, q int) (*mat.Dense, error) {
	_, h := x.Dims()
	var c mat.SymDense
	c.SymOuterK(1, x.T())
	var eig mat.EigenSym
	if !eig.Factorize(&c, true) {
		return nil, fmt.Errorf("landmark_pca: eigendecomposition did not converge")
	}
	var vec mat.Dense
	eig.VectorsTo(&vec)
	// Eigenvalues come in ascending order: the last q columns.
	out := mat.NewDense(h, q, nil)
	for k := range q {
		for i := range h {
			out.Set(i, k, vec.At(i, h-1-k))
		}
	}
	return out, nil
}

// johnHewitt samples new rows from a normal distribution with the base
// embeddings' mean and covariance (Hewitt's vocabulary-expansion advice);
// when the covariance is not positive-definite it falls back to the mean
// plus N(0, 0.02²) noise (mergekit's intended fallback, which has a bug).
type johnHewitt struct {
	mean []float64
	chol *mat.TriDense // lower Cholesky factor, nil in the fallback
}

func newJohnHewitt(rows [][]float64) *johnHewitt {
	mean, c := centred(rows)
	var cov mat.SymDense
	cov.SymOuterK(1/float64(len(rows)), c.T())
	jh := &johnHewitt{mean: mean}
	var ch mat.Cholesky
	if ch.Factorize(&cov) {
		var l mat.TriDense
		ch.LTo(&l)
		jh.chol = &l
	}
	return jh
}

func (jh *johnHewitt) sample(rng *rand.Rand) []float64 {
	h := len(jh.mean)
	z := make([]float64, h)
	for i := range z {
		z[i] = rng.NormFloat64()
	}
	out := slices.Clone(jh.mean)
	if jh.chol == nil {
		floats.AddScaled(out, 0.02, z)
		return out
	}
	var v mat.VecDense
	v.MulVec(jh.chol, mat.NewVecDense(h, z))
	floats.Add(out, v.RawVector().Data)
	return out
}
