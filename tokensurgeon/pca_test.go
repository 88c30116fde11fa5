package tokensurgeon

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestLandmarkPCARecoversRotation: when the donor space is a rotation of
// the base space around the means, PCA + Procrustes maps every donor row
// back to its base row.
func TestLandmarkPCARecoversRotation(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const n, h = 200, 12
	var q mat.QR
	g := mat.NewDense(h, h, nil)
	for i := range h {
		for j := range h {
			g.Set(i, j, rng.NormFloat64())
		}
	}
	q.Factorize(g)
	var w mat.Dense
	q.QTo(&w)
	// Stretch the axes so that principal directions are well separated.
	scale := make([]float64, h)
	for i := range scale {
		scale[i] = float64(h - i)
	}
	muB, muD := make([]float64, h), make([]float64, h)
	for i := range h {
		muB[i], muD[i] = rng.NormFloat64(), rng.NormFloat64()
	}
	toDonor := func(b []float64) []float64 {
		out := make([]float64, h)
		for i := range h {
			out[i] = muD[i]
			for j := range h {
				out[i] += w.At(i, j) * (b[j] - muB[j])
			}
		}
		return out
	}
	a := &Approximator{}
	for range n {
		b := make([]float64, h)
		for j := range b {
			b[j] = muB[j] + scale[j]*rng.NormFloat64()
		}
		a.BaseShared = append(a.BaseShared, b)
		a.DonorShared = append(a.DonorShared, toDonor(b))
	}
	p, err := newLandmarkPCA(a)
	if err != nil {
		t.Fatal(err)
	}
	for k := range 5 {
		b := make([]float64, h)
		for j := range b {
			b[j] = muB[j] + scale[j]*rng.NormFloat64()
		}
		got := p.apply(toDonor(b))
		for j := range b {
			if math.Abs(got[j]-b[j]) > 1e-6 {
				t.Fatalf("target %d: component %d is %g, want %g", k, j, got[j], b[j])
			}
		}
	}
}

// TestJohnHewittMoments: samples have the base rows' mean and covariance;
// a singular covariance falls back to the mean plus N(0, 0.02²).
func TestJohnHewittMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	rows := make([][]float64, 500)
	for i := range rows {
		x, y, z := rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()
		rows[i] = []float64{2 + x, -1 + 0.5*x + 0.3*y, 3*y + z}
	}
	jh := newJohnHewitt(rows)
	if jh.chol == nil {
		t.Fatal("covariance of full-rank rows was not positive-definite")
	}
	const draws = 20000
	var sum [3]float64
	var cross float64 // E[(x0-m0)(x1-m1)]
	samples := make([][]float64, draws)
	for i := range samples {
		samples[i] = jh.sample(rng)
		for j := range 3 {
			sum[j] += samples[i][j]
		}
	}
	for j := range 3 {
		if m := sum[j] / draws; math.Abs(m-jh.mean[j]) > 0.05 {
			t.Errorf("mean[%d] = %g, want %g", j, m, jh.mean[j])
		}
	}
	var want float64
	for _, r := range rows {
		want += (r[0] - jh.mean[0]) * (r[1] - jh.mean[1])
	}
	want /= float64(len(rows))
	for _, s := range samples {
		cross += (s[0] - jh.mean[0]) * (s[1] - jh.mean[1])
	}
	if got := cross / draws; math.Abs(got-want) > 0.05 {
		t.Errorf("cov[0][1] = %g, want %g", got, want)
	}
	// Two rows in three dimensions: singular.
	flat := newJohnHewitt([][]float64{{1, 2, 3}, {1, 2, 3}})
	if flat.chol != nil {
		t.Fatal("singular covariance factorised")
	}
	s := flat.sample(rng)
	for j, v := range []float64{1, 2, 3} {
		if math.Abs(s[j]-v) > 0.2 {
			t.Errorf("fallback sample %v is not near the mean", s)
		}
	}
}
