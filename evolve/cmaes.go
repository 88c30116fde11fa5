package evolve

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"gonum.org/v1/gonum/mat"
)

// CMAES is an ask/tell CMA-ES minimiser with the defaults of Hansen's
// tutorial ("The CMA Evolution Strategy: A Tutorial", 2016), which are
// pycma's: λ = 4 + ⌊3 ln N⌋, μ = ⌊λ/2⌋ positive log-rank weights for the
// mean, negative ones for the active covariance update, cumulative
// step-size adaptation (c_σ, d_σ, χ_N) and the rank-one plus rank-μ
// covariance update (c_c, c_1, c_μ) with the h_σ stall. It has no bounds
// and no restarts, as mergekit-evolve runs pycma.
//
// gonum's optimize.CmaEsChol is not used: evolve must checkpoint the whole
// state (mean, σ, covariance, paths, random generator) between
// generations and resume it bit for bit, which CMAES does by marshalling
// to JSON.
type CMAES struct {
	n, lambda, mu int
	weights       []float64
	muEff         float64
	cc, cs        float64
	c1, cmu, ds   float64
	chiN          float64

	mean   []float64
	sigma  float64
	cov    *mat.SymDense
	b      *mat.Dense // eigenvectors of cov, as columns
	d      []float64  // square roots of cov's eigenvalues
	pc, ps []float64
	gen    int // generations told
	evals  int

	src *rand.PCG
	rng *rand.Rand
}

// NewCMAES starts a search at x0 with step size sigma0 in every
// coordinate. popsize ≤ 0 means the default λ = 4 + ⌊3 ln N⌋. The seed
// fixes every population the search asks for.
func NewCMAES(x0 []float64, sigma0 float64, popsize int, seed uint64) (*CMAES, error) {
	n := len(x0)
	if n == 0 {
		return nil, errors.New("cma-es: no coordinates")
	}
	if !(sigma0 > 0) || math.IsInf(sigma0, 0) {
		return nil, fmt.Errorf("cma-es: sigma0 %v must be positive", sigma0)
	}
	if popsize <= 0 {
		popsize = DefaultPopSize(n)
	}
	if popsize < 2 {
		return nil, fmt.Errorf("cma-es: population size %d, need at least 2", popsize)
	}
	c := &CMAES{n: n, lambda: popsize, mean: slices.Clone(x0), sigma: sigma0,
		pc: make([]float64, n), ps: make([]float64, n)}
	c.setConstants()
	c.cov = mat.NewSymDense(n, nil)
	c.b = mat.NewDense(n, n, nil)
	c.d = make([]float64, n)
	for i := range n {
		c.cov.SetSym(i, i, 1)
	}
	c.src = rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)
	c.rng = rand.New(c.src)
	// A restored state decomposes its covariance; so does a new one, so
	// that both ask from the same B and D.
	if err := c.decompose(); err != nil {
		return nil, err
	}
	return c, nil
}

// DefaultPopSize is pycma's default population size for n coordinates,
// 4 + ⌊3 ln n⌋.
func DefaultPopSize(n int) int { return 4 + int(math.Floor(3*math.Log(float64(n)))) }

// setConstants derives the strategy parameters from n and λ (the
// tutorial's Table 1, as pycma sets them): λ log-rank weights, the first
// μ positive and summing to one, the others negative for the active
// covariance update, scaled so that C stays positive definite.
func (c *CMAES) setConstants() {
	n := float64(c.n)
	c.mu = c.lambda / 2
	w := make([]float64, c.lambda)
	var pos, pos2, neg, neg2 float64
	for i := range w {
		w[i] = math.Log(float64(c.lambda+1)/2) - math.Log(float64(i+1))
		if i < c.mu {
			pos += w[i]
			pos2 += w[i] * w[i]
		} else {
			neg -= w[i]
			neg2 += w[i] * w[i]
		}
	}
	c.muEff = pos * pos / pos2
	const alphaCov = 2
	c.cc = (4 + c.muEff/n) / (n + 4 + 2*c.muEff/n)
	c.cs = (c.muEff + 2) / (n + c.muEff + 5)
	c.c1 = alphaCov / ((n+1.3)*(n+1.3) + c.muEff)
	c.cmu = min(1-c.c1, alphaCov*(0.25+c.muEff+1/c.muEff-2)/((n+2)*(n+2)+alphaCov*c.muEff/2))
	c.ds = 1 + 2*max(0, math.Sqrt((c.muEff-1)/(n+1))-1) + c.cs
	c.chiN = math.Sqrt(n) * (1 - 1/(4*n) + 1/(21*n*n))
	negScale := 0.0
	if neg > 0 {
		muEffNeg := neg * neg / neg2
		negScale = min(1+c.c1/c.cmu, 1+2*muEffNeg/(c.muEff+2), (1-c.c1-c.cmu)/(n*c.cmu)) / neg
	}
	for i := range w {
		if i < c.mu {
			w[i] /= pos
		} else {
			w[i] *= negScale
		}
	}
	c.weights = w
}

// PopSize is λ, the candidates of one generation.
func (c *CMAES) PopSize() int { return c.lambda }

// Dim is N, the number of coordinates.
func (c *CMAES) Dim() int { return c.n }

// Generation is the number of generations told so far.
func (c *CMAES) Generation() int { return c.gen }

// Evals is the number of candidates told so far.
func (c *CMAES) Evals() int { return c.evals }

// Sigma is the current overall step size.
func (c *CMAES) Sigma() float64 { return c.sigma }

// Mean is the current distribution mean.
func (c *CMAES) Mean() []float64 { return slices.Clone(c.mean) }

// Ask draws a new population of λ points from N(mean, σ²C). Each call
// draws afresh; a state restored from a checkpoint asks for the same
// population the checkpointed one would have.
func (c *CMAES) Ask() [][]float64 {
	pop := make([][]float64, c.lambda)
	z := make([]float64, c.n)
	for k := range pop {
		for i := range z {
			z[i] = c.rng.NormFloat64() * c.d[i]
		}
		x := make([]float64, c.n)
		for i := range x {
			var y float64
			for j := range z {
				y += c.b.At(i, j) * z[j]
			}
			x[i] = c.mean[i] + c.sigma*y
		}
		pop[k] = x
	}
	return pop
}

// Tell updates the distribution from a population and its objective values
// (lower is better). The points need not come from Ask, but there must be
// λ of them; a NaN value ranks last.
func (c *CMAES) Tell(xs [][]float64, f []float64) error {
	if len(xs) != c.lambda || len(f) != c.lambda {
		return fmt.Errorf("cma-es: told %d points and %d values, the population is %d", len(xs), len(f), c.lambda)
	}
	for _, x := range xs {
		if len(x) != c.n {
			return fmt.Errorf("cma-es: a point of %d coordinates, want %d", len(x), c.n)
		}
	}
	order := make([]int, c.lambda)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return less(f[order[a]], f[order[b]]) })

	n := c.n
	// y_k = (x_k − m)/σ in rank order; the best μ move the mean.
	ys := make([][]float64, c.lambda)
	yw := make([]float64, n)
	for k := range ys {
		y := make([]float64, n)
		for i := range y {
			y[i] = (xs[order[k]][i] - c.mean[i]) / c.sigma
			if k < c.mu {
				yw[i] += c.weights[k] * y[i]
			}
		}
		ys[k] = y
	}
	for i := range c.mean {
		c.mean[i] += c.sigma * yw[i]
	}

	// p_σ ← (1−c_σ) p_σ + √(c_σ(2−c_σ)μ_eff) C^{-1/2} y_w.
	ks := math.Sqrt(c.cs * (2 - c.cs) * c.muEff)
	white := c.invSqrt(yw)
	var psNorm float64
	for i := range n {
		c.ps[i] = (1-c.cs)*c.ps[i] + ks*white[i]
		psNorm += c.ps[i] * c.ps[i]
	}
	psNorm = math.Sqrt(psNorm)
	hs := psNorm/math.Sqrt(1-math.Pow(1-c.cs, 2*float64(c.gen+1))) < (1.4+2/float64(n+1))*c.chiN
	kc := math.Sqrt(c.cc * (2 - c.cc) * c.muEff)
	var delta float64
	for i := range n {
		c.pc[i] *= 1 - c.cc
		if hs {
			c.pc[i] += kc * yw[i]
		}
	}
	if !hs {
		delta = c.cc * (2 - c.cc)
	}
	// Rank-μ weights: a negative one is rescaled by n/‖C^{-1/2} y‖², so
	// that a long bad step does not shrink C too far.
	wo := make([]float64, c.lambda)
	var wsum float64
	for k, w := range c.weights {
		wsum += w
		wo[k] = w
		if w < 0 {
			var nn float64
			for _, v := range c.invSqrt(ys[k]) {
				nn += v * v
			}
			if nn > 0 {
				wo[k] = w * float64(n) / nn
			}
		}
	}
	decay := 1 + c.c1*delta - c.c1 - c.cmu*wsum
	for i := range n {
		for j := i; j < n; j++ {
			v := decay*c.cov.At(i, j) + c.c1*c.pc[i]*c.pc[j]
			for k, y := range ys {
				v += c.cmu * wo[k] * y[i] * y[j]
			}
			c.cov.SetSym(i, j, v)
		}
	}
	c.sigma *= math.Exp(c.cs / c.ds * (psNorm/c.chiN - 1))
	c.gen++
	c.evals += len(xs)
	return c.decompose()
}

// invSqrt returns C^{-1/2} y = B D⁻¹ Bᵀ y.
func (c *CMAES) invSqrt(y []float64) []float64 {
	bt := make([]float64, c.n)
	for j := range c.n {
		var s float64
		for i := range c.n {
			s += c.b.At(i, j) * y[i]
		}
		bt[j] = s / c.d[j]
	}
	out := make([]float64, c.n)
	for i := range c.n {
		var s float64
		for j := range c.n {
			s += c.b.At(i, j) * bt[j]
		}
		out[i] = s
	}
	return out
}

// less orders objective values with NaN last.
func less(a, b float64) bool {
	if math.IsNaN(b) {
		return !math.IsNaN(a)
	}
	return a < b
}

// decompose refreshes B and D from the covariance.
func (c *CMAES) decompose() error {
	var eig mat.EigenSym
	if !eig.Factorize(c.cov, true) {
		return errors.New("cma-es: covariance eigendecomposition failed")
	}
	vals := eig.Values(nil)
	eig.VectorsTo(c.b)
	for i, v := range vals {
		if !(v > 0) {
			return fmt.Errorf("cma-es: covariance lost positive definiteness (eigenvalue %g)", v)
		}
		c.d[i] = math.Sqrt(v)
	}
	if !(c.sigma > 0) || math.IsInf(c.sigma, 0) {
		return fmt.Errorf("cma-es: step size diverged (%g)", c.sigma)
	}
	return nil
}

// Stop reports why the search cannot go on usefully ("" while it can):
// the step is below pycma's tolx (10⁻¹¹) in every coordinate, or the
// covariance's condition number exceeds its 10¹⁴.
func (c *CMAES) Stop() string {
	lo, hi := slices.Min(c.d), slices.Max(c.d)
	switch {
	case c.sigma*hi < 1e-11:
		return "tolx"
	case hi*hi/(lo*lo) > 1e14:
		return "conditioncov"
	}
	return ""
}

// cmaesState is the JSON form of a CMAES; floats round-trip exactly.
type cmaesState struct {
	Lambda int       `json:"lambda"`
	Mean   []float64 `json:"mean"`
	Sigma  float64   `json:"sigma"`
	Cov    []float64 `json:"cov"` // upper triangle, row by row
	PC     []float64 `json:"pc"`
	PS     []float64 `json:"ps"`
	Gen    int       `json:"generation"`
	Evals  int       `json:"evals"`
	RNG    []byte    `json:"rng"`
}

// MarshalJSON saves the whole state: a CMAES unmarshalled from it asks
// and updates exactly as this one would.
func (c *CMAES) MarshalJSON() ([]byte, error) {
	rng, err := c.src.MarshalBinary()
	if err != nil {
		return nil, err
	}
	s := cmaesState{Lambda: c.lambda, Mean: c.mean, Sigma: c.sigma, PC: c.pc, PS: c.ps,
		Gen: c.gen, Evals: c.evals, RNG: rng}
	for i := range c.n {
		for j := i; j < c.n; j++ {
			s.Cov = append(s.Cov, c.cov.At(i, j))
		}
	}
	return json.Marshal(s)
}

// UnmarshalJSON restores a state saved by MarshalJSON.
func (c *CMAES) UnmarshalJSON(data []byte) error {
	var s cmaesState
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	n := len(s.Mean)
	if n == 0 || len(s.PC) != n || len(s.PS) != n || len(s.Cov) != n*(n+1)/2 || s.Lambda < 2 || !(s.Sigma > 0) {
		return errors.New("cma-es: inconsistent saved state")
	}
	*c = CMAES{n: n, lambda: s.Lambda, mean: s.Mean, sigma: s.Sigma, pc: s.PC, ps: s.PS, gen: s.Gen, evals: s.Evals}
	c.setConstants()
	c.cov = mat.NewSymDense(n, nil)
	k := 0
	for i := range n {
		for j := i; j < n; j++ {
			c.cov.SetSym(i, j, s.Cov[k])
			k++
		}
	}
	c.b = mat.NewDense(n, n, nil)
	c.d = make([]float64, n)
	c.src = &rand.PCG{}
	if err := c.src.UnmarshalBinary(s.RNG); err != nil {
		return fmt.Errorf("cma-es: saved random state: %w", err)
	}
	c.rng = rand.New(c.src)
	return c.decompose()
}
