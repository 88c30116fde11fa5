package evolve

import (
	"encoding/json"
	"math"
	"slices"
	"testing"
)

// minimise runs c on f until f's best value is below target or budget
// evaluations are spent; it returns the best value and the evaluations.
func minimise(t *testing.T, c *CMAES, f func([]float64) float64, target float64, budget int) (float64, int) {
	t.Helper()
	best := math.Inf(1)
	for c.Evals() < budget && best > target {
		xs := c.Ask()
		fs := make([]float64, len(xs))
		for i, x := range xs {
			fs[i] = f(x)
			best = min(best, fs[i])
		}
		if err := c.Tell(xs, fs); err != nil {
			t.Fatal(err)
		}
	}
	return best, c.Evals()
}

func sphere(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return s
}

func ellipsoid(x []float64) float64 {
	var s float64
	n := float64(len(x))
	for i, v := range x {
		s += math.Pow(1e6, float64(i)/(n-1)) * v * v
	}
	return s
}

func rosenbrock(x []float64) float64 {
	var s float64
	for i := 0; i+1 < len(x); i++ {
		a, b := x[i+1]-x[i]*x[i], 1-x[i]
		s += 100*a*a + b*b
	}
	return s
}

// TestCMAESConverges checks convergence in 10 dimensions within budgets a
// correct CMA-ES meets with room: about 1500 evaluations for the sphere to
// 1e-10, 4000-6000 for the ellipsoid of condition 1e6 and 5000-7000 for
// Rosenbrock from 0 are typical of pycma with default settings.
func TestCMAESConverges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		f      func([]float64) float64
		x0     float64
		sigma0 float64
		target float64
		budget int
	}{
		{"sphere", sphere, 1, 0.5, 1e-10, 2500},
		{"ellipsoid", ellipsoid, 1, 0.5, 1e-10, 12000},
		{"rosenbrock", rosenbrock, 0, 0.5, 1e-10, 20000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x0 := make([]float64, 10)
			for i := range x0 {
				x0[i] = tc.x0
			}
			c, err := NewCMAES(x0, tc.sigma0, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			best, evals := minimise(t, c, tc.f, tc.target, tc.budget)
			if best > tc.target {
				t.Fatalf("best %g after %d evaluations, want ≤ %g", best, evals, tc.target)
			}
			t.Logf("%s: %g after %d evaluations", tc.name, best, evals)
		})
	}
}

func TestCMAESDefaults(t *testing.T) {
	for _, tc := range []struct{ n, lambda, mu int }{
		{1, 4, 2}, {2, 6, 3}, {10, 10, 5}, {24, 13, 6}, {100, 17, 8},
	} {
		c, err := NewCMAES(make([]float64, tc.n), 1.0/6, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if c.PopSize() != tc.lambda || c.mu != tc.mu {
			t.Errorf("N=%d: λ=%d μ=%d, want %d %d", tc.n, c.PopSize(), c.mu, tc.lambda, tc.mu)
		}
		if len(c.weights) != tc.lambda {
			t.Fatalf("N=%d: %d weights, want λ", tc.n, len(c.weights))
		}
		var pos, neg float64
		for i, w := range c.weights {
			if i > 0 && w >= c.weights[i-1] {
				t.Errorf("N=%d: weights not decreasing: %v", tc.n, c.weights)
			}
			switch {
			case i < c.mu && w <= 0, i >= c.mu && w > 0:
				t.Errorf("N=%d: weight %d is %v", tc.n, i, w)
			}
			if i < c.mu {
				pos += w
			} else {
				neg -= w
			}
		}
		// The negative weights sum to at most what keeps C positive
		// definite, (1 − c_1 − c_μ)/(n c_μ), and to at most 1 + c_1/c_μ.
		n := float64(tc.n)
		if math.Abs(pos-1) > 1e-12 || neg <= 0 || neg > (1-c.c1-c.cmu)/(n*c.cmu)+1e-12 || neg > 1+c.c1/c.cmu+1e-12 {
			t.Errorf("N=%d: positive weights sum to %v, negative to −%v", tc.n, pos, neg)
		}
	}
	c, _ := NewCMAES(make([]float64, 3), 1, 7, 0)
	if c.PopSize() != 7 {
		t.Errorf("forced population: λ=%d, want 7", c.PopSize())
	}
	for _, bad := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := NewCMAES([]float64{1}, bad, 0, 0); err == nil {
			t.Errorf("sigma0 %v accepted", bad)
		}
	}
}

// TestCMAESSeed checks that a seed fixes the run and different seeds
// differ.
func TestCMAESSeed(t *testing.T) {
	run := func(seed uint64) [][]float64 {
		c, _ := NewCMAES([]float64{1, 2, 3}, 0.3, 0, seed)
		var all [][]float64
		for range 5 {
			xs := c.Ask()
			fs := make([]float64, len(xs))
			for i, x := range xs {
				fs[i] = sphere(x)
			}
			if err := c.Tell(xs, fs); err != nil {
				t.Fatal(err)
			}
			all = append(all, xs...)
		}
		return all
	}
	a, b, other := run(7), run(7), run(8)
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Fatalf("seed 7 gave two different runs at point %d", i)
		}
	}
	if slices.Equal(a[0], other[0]) {
		t.Fatal("seeds 7 and 8 gave the same first point")
	}
}

// TestCMAESResume checks that a state saved and restored mid-run goes on
// exactly as the uninterrupted run.
func TestCMAESResume(t *testing.T) {
	step := func(c *CMAES) [][]float64 {
		xs := c.Ask()
		fs := make([]float64, len(xs))
		for i, x := range xs {
			fs[i] = rosenbrock(x)
		}
		if err := c.Tell(xs, fs); err != nil {
			t.Fatal(err)
		}
		return xs
	}
	a, _ := NewCMAES([]float64{0, 0, 0, 0}, 0.5, 0, 3)
	b, _ := NewCMAES([]float64{0, 0, 0, 0}, 0.5, 0, 3)
	for range 4 {
		step(a)
		step(b)
	}
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var r CMAES
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if r.Generation() != 4 || r.Evals() != 4*a.PopSize() {
		t.Fatalf("restored generation %d, evals %d", r.Generation(), r.Evals())
	}
	for g := range 6 {
		xa, xr := step(a), step(&r)
		for i := range xa {
			if !slices.Equal(xa[i], xr[i]) {
				t.Fatalf("generation %d after restore: point %d differs: %v vs %v", g, i, xr[i], xa[i])
			}
		}
	}
	if err := json.Unmarshal([]byte(`{"lambda":4,"mean":[1],"sigma":1,"cov":[],"pc":[0],"ps":[0]}`), &r); err == nil {
		t.Error("inconsistent state accepted")
	}
}

func TestCMAESTellChecks(t *testing.T) {
	c, _ := NewCMAES([]float64{0, 0}, 1, 0, 0)
	xs := c.Ask()
	if err := c.Tell(xs[:2], []float64{1, 2}); err == nil {
		t.Error("short population accepted")
	}
	fs := make([]float64, len(xs))
	fs[0] = math.NaN()
	if err := c.Tell(xs, fs); err != nil {
		t.Errorf("a NaN value: %v", err)
	}
}
