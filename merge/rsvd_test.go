package merge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// spectrumMatrix returns an m×n matrix U·diag(s)·Vᵀ + noise·G with random
// orthonormal U, V and s_k = decay^k, G Gaussian.
func spectrumMatrix(m, n, k int, decay, noise float64, seed uint64) *mat.Dense {
	u := mat.NewDense(m, k, gaussian(m*k, seed))
	orthonormalize(u)
	v := mat.NewDense(n, k, gaussian(n*k, seed+1))
	orthonormalize(v)
	for j := range k {
		s := math.Pow(decay, float64(j))
		for i := range m {
			u.Set(i, j, u.At(i, j)*s)
		}
	}
	a := mat.NewDense(m, n, gaussian(m*n, seed+2))
	a.Scale(noise, a)
	var low mat.Dense
	low.Mul(u, v.T())
	a.Add(a, &low)
	return a
}

// residual is ‖a − u_r·diag(s_r)·v_rᵀ‖_F for the top r triplets.
func residual(a *mat.Dense, u, v *mat.Dense, s []float64, r int) float64 {
	m, n := a.Dims()
	us := mat.DenseCopyOf(u.Slice(0, m, 0, r))
	for j := range r {
		for i := range m {
			us.Set(i, j, us.At(i, j)*s[j])
		}
	}
	var approx mat.Dense
	approx.Mul(us, v.Slice(0, n, 0, r).T())
	approx.Sub(a, &approx)
	return mat.Norm(&approx, 2)
}

func exactSVD(t *testing.T, a mat.Matrix) (u, v *mat.Dense, s []float64) {
	t.Helper()
	u, v, s, err := truncatedSVD(context.Background(), a, 1<<30, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	return u, v, s
}

// TestRandomizedSVD compares the randomized decomposition with the exact
// one: a matrix of rank below the sketch's width comes back exactly; on
// decaying spectra with noise the rank-r error is within a few percent
// of the Eckart–Young optimum and the leading singular values agree.
func TestRandomizedSVD(t *testing.T) {
	for _, c := range []struct {
		name         string
		m, n, k, r   int
		decay, noise float64
		errRatio     float64 // largest residual / optimal residual
		svTol        float64 // relative error of the top r/2 singular values
	}{
		{"exact rank", 300, 200, 10, 16, 0.9, 0, 1, 1e-9},
		{"decay+noise tall", 400, 150, 60, 8, 0.95, 1e-3, 1.05, 1e-2},
		{"decay+noise wide", 120, 500, 60, 32, 0.97, 1e-3, 1.05, 1e-2},
		{"noise only", 200, 200, 1, 8, 0.9, 1, 1.1, 0.15},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := spectrumMatrix(c.m, c.n, c.k, c.decay, c.noise, 3)
			if !useRandomized(c.m, c.n, c.r) {
				t.Fatalf("%d×%d rank %d would not be randomized", c.m, c.n, c.r)
			}
			u, v, s, err := randomizedSVD(context.Background(), a, c.r, 42)
			if err != nil {
				t.Fatal(err)
			}
			if len(s) != c.r+rsvdOversample {
				t.Fatalf("%d values, want %d", len(s), c.r+rsvdOversample)
			}
			eu, ev, es := exactSVD(t, a)
			got, opt := residual(a, u, v, s, c.r), residual(a, eu, ev, es, c.r)
			if tol := c.errRatio * opt; got > tol+1e-9 {
				t.Errorf("rank-%d residual %.6g, exact %.6g (ratio %.4f, allowed %.4f)", c.r, got, opt, got/opt, c.errRatio)
			}
			for k := range c.r / 2 {
				if d := math.Abs(s[k]-es[k]) / es[k]; d > c.svTol {
					t.Errorf("σ_%d = %.6g, exact %.6g (relative error %.3g)", k, s[k], es[k], d)
				}
			}
			if !sortedDesc(s) {
				t.Error("singular values not in decreasing order")
			}
		})
	}
}

func sortedDesc(s []float64) bool {
	for i := 1; i < len(s); i++ {
		if s[i] > s[i-1] {
			return false
		}
	}
	return true
}

// TestRandomizedSVDDeterministic checks that a seed gives the same bits
// whatever GOMAXPROCS is, and another seed another sketch.
func TestRandomizedSVDDeterministic(t *testing.T) {
	a := spectrumMatrix(700, 300, 40, 0.95, 1e-3, 5)
	run := func(procs int, seed uint64) []float64 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		u, v, s, err := randomizedSVD(context.Background(), a, 20, seed)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Concat(s, u.RawMatrix().Data, v.RawMatrix().Data)
	}
	one := run(1, 7)
	if !slices.Equal(one, run(3, 7)) {
		t.Error("GOMAXPROCS 1 and 3 give different bits")
	}
	if slices.Equal(one, run(1, 8)) {
		t.Error("seeds 7 and 8 give the same bits")
	}
}

func TestRandomizedSVDCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, _, err := randomizedSVD(ctx, spectrumMatrix(100, 80, 5, 0.9, 0, 1), 4, 1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestUseRandomized(t *testing.T) {
	for _, c := range []struct {
		m, n, r int
		want    bool
	}{
		{4096, 4096, 128, true}, {4096, 14336, 256, true}, {4096, 4096, 257, false},
		{64, 128, 16, true}, {64, 128, 17, false}, {64, 64, 128, false},
	} {
		if got := useRandomized(c.m, c.n, c.r); got != c.want {
			t.Errorf("useRandomized(%d, %d, %d) = %v, want %v", c.m, c.n, c.r, got, c.want)
		}
	}
}

// BenchmarkTruncatedSVD times the rank-r decomposition of a synthetic
// fine-tune delta (geometric spectrum over 1024 directions plus Gaussian
// noise) by the randomized range finder, and reports its relative
// residual ‖A − A_r‖_F/‖A‖_F and that over the optimum (Eckart–Young,
// from the exact singular values: the eigenvalues of the Gram matrix of
// the smaller side). SVD_BENCH_SIZES picks the shapes (default
// "1024x1024"; the README's figures use "4096x4096 4096x14336"),
// SVD_BENCH_RANKS the ranks (default "64 128 256"), RSVD_POWER the
// subspace iterations, SVD_BENCH_NOOPT=1 skips the optimum, and
// SVD_BENCH_EXACT=1 times the exact thin SVD too. cpu-s/op is the
// process's CPU time per decomposition, all threads: on a shared machine
// it says more than the wall time.
func BenchmarkTruncatedSVD(b *testing.B) {
	sizes := "1024x1024"
	if s := os.Getenv("SVD_BENCH_SIZES"); s != "" {
		sizes = s
	}
	if q := os.Getenv("RSVD_POWER"); q != "" {
		defer func(v int) { rsvdPowerIters = v }(rsvdPowerIters)
		if _, err := fmt.Sscan(q, &rsvdPowerIters); err != nil {
			b.Fatal(err)
		}
	}
	for _, size := range strings.Fields(sizes) {
		var m, n int
		if _, err := fmt.Sscanf(size, "%dx%d", &m, &n); err != nil {
			b.Fatal(err)
		}
		a := spectrumMatrix(m, n, 1024, 0.995, 1e-3, 11)
		norm := mat.Norm(a, 2)
		var sv []float64
		if os.Getenv("SVD_BENCH_NOOPT") == "" {
			sv = gramSingularValues(b, a)
		}
		optimum := func(r int) float64 {
			rest := norm * norm
			for _, s := range sv[:r] {
				rest -= s * s
			}
			return math.Sqrt(max(rest, 0)) / norm
		}
		ranks := "64 128 256"
		if r := os.Getenv("SVD_BENCH_RANKS"); r != "" {
			ranks = r
		}
		for _, rank := range strings.Fields(ranks) {
			var r int
			if _, err := fmt.Sscan(rank, &r); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s randomized r=%d", size, r), func(b *testing.B) {
				var u, v *mat.Dense
				var s []float64
				cpu := cpuSeconds()
				for b.Loop() {
					var err error
					u, v, s, err = truncatedSVD(context.Background(), a, r, true, 1)
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric((cpuSeconds()-cpu)/float64(b.N), "cpu-s/op")
				got := residual(a, u, v, s, r) / norm
				b.ReportMetric(got, "resid")
				if sv != nil {
					b.ReportMetric(got/optimum(r), "resid/opt")
					b.ReportMetric(math.Abs(s[r-1]-sv[r-1])/sv[r-1], "σr-err")
				}
			})
		}
		if os.Getenv("SVD_BENCH_EXACT") == "" {
			continue
		}
		b.Run(size+" exact", func(b *testing.B) {
			cpu := cpuSeconds()
			for b.Loop() {
				if _, _, _, err := truncatedSVD(context.Background(), a, 256, false, 1); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((cpuSeconds()-cpu)/float64(b.N), "cpu-s/op")
		})
	}
}

// gramSingularValues returns the singular values of a in decreasing
// order, from the eigenvalues of a·aᵀ or aᵀ·a, whichever is smaller.
func gramSingularValues(b *testing.B, a *mat.Dense) []float64 {
	m, n := a.Dims()
	var g mat.SymDense
	if m <= n {
		g.SymOuterK(1, a)
	} else {
		g.SymOuterK(1, a.T())
	}
	var eig mat.EigenSym
	if !eig.Factorize(&g, false) {
		b.Fatal("eigendecomposition failed")
	}
	ev := eig.Values(nil)
	sv := make([]float64, len(ev))
	for i, e := range ev {
		sv[len(ev)-1-i] = math.Sqrt(max(e, 0)) // ascending → descending
	}
	return sv
}
