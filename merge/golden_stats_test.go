package merge

import (
	"cmp"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The random methods (dare_*, della*) cannot reproduce mergekit's torch
// masks, so their golden cases are checked statistically: the structure of
// every element, kept fractions against density, DELLA's magnitude bias
// and per-tensor variances, with bounds sized by the manifest's
// acceptance bullets and its spread over eight other seeds.

type goldenStatsCase struct {
	Name        string   `json:"name"`
	Config      string   `json:"config"`
	Inputs      []string `json:"inputs"`
	RandomStats struct {
		Summary   map[string]float64 `json:"summary"`
		PerTensor map[string]struct {
			Numel           int     `json:"numel"`
			ZeroFraction    float64 `json:"zero_fraction"`
			Var             float64 `json:"out_minus_base_var"`
			KeptFraction    float64 `json:"kept_fraction"`
			ExpectedRescale float64 `json:"expected_rescale_l1"`
		} `json:"per_tensor"`
	} `json:"random_stats"`
	Spread struct {
		ZeroRange      [2]float64 `json:"overall_zero_fraction_range"`
		VarRelSpread   float64    `json:"max_var_rel_spread_tensors_ge_2048"`
		ZeroRangeWidth float64    `json:"max_zero_fraction_range_width_tensors_ge_2048"`
	} `json:"seed_spread_8_other_seeds"`
}

func loadGoldenStatsCase(t *testing.T, name string) (goldenCase, goldenStatsCase) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(goldenDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Cases []json.RawMessage }
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Cases {
		var gc goldenCase
		var sc goldenStatsCase
		if err := json.Unmarshal(c, &gc); err != nil {
			t.Fatal(err)
		}
		if gc.Name != name {
			continue
		}
		if err := json.Unmarshal(c, &sc); err != nil {
			t.Fatal(err)
		}
		return gc, sc
	}
	t.Fatalf("no golden case %s", name)
	return goldenCase{}, goldenStatsCase{}
}

// goldenStatsRun merges a golden case with a given seed and thread count.
func goldenStatsRun(t *testing.T, c goldenCase, threads int, seed uint64) string {
	t.Helper()
	cfg, err := LoadConfig(filepath.Join(goldenDir, c.Config))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	opt := Options{PlanOptions: PlanOptions{Dir: goldenDir}, Seed: &seed, Threads: threads}
	if _, err := Run(context.Background(), cfg, out, opt); err != nil {
		t.Fatal(err)
	}
	return out
}

// goldenStatsTensor holds one output tensor with its base and single
// fine-tuned input.
type goldenStatsTensor struct {
	name           string
	shape          []int64
	out, base, ft1 []float64
}

// kept reports whether element j took the delta (out ≠ base).
func (g *goldenStatsTensor) kept(j int) bool { return g.out[j] != g.base[j] }

func goldenStatsTensors(t *testing.T, out string, inputs []string) []goldenStatsTensor {
	t.Helper()
	got, infos := readAll(t, out)
	base, _ := readAll(t, filepath.Join(goldenDir, inputs[0]))
	ft1, _ := readAll(t, filepath.Join(goldenDir, inputs[1]))
	var res []goldenStatsTensor
	for name, v := range got {
		res = append(res, goldenStatsTensor{name: name, shape: infos[name].Shape, out: v, base: base[name], ft1: ft1[name]})
	}
	slices.SortFunc(res, func(a, b goldenStatsTensor) int { return cmp.Compare(a.name, b.name) })
	return res
}

// goldenStatsCheckStructure checks mergekit's acceptance bullet for one input
// with weight 1: every element is the base, or base + δ·s with
// s = L1(δ)/L1(kept δ) of the tensor, within 1e-6.
func goldenStatsCheckStructure(t *testing.T, g goldenStatsTensor) {
	t.Helper()
	var l1, l1Kept float64
	for j := range g.out {
		d := math.Abs(float64(float32(g.ft1[j]) - float32(g.base[j])))
		l1 += d
		if g.kept(j) {
			l1Kept += d
		}
	}
	if l1Kept == 0 {
		return
	}
	s := l1 / l1Kept
	for j := range g.out {
		if !g.kept(j) {
			continue
		}
		want := g.base[j] + (g.ft1[j]-g.base[j])*s
		if math.Abs(g.out[j]-want) > 1e-6 {
			t.Errorf("%s[%d] = %g, want base %g or base + δ·s = %g", g.name, j, g.out[j], g.base[j], want)
			return
		}
	}
}

func goldenStatsVariance(x []float64) float64 {
	var mean float64
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return ss / float64(len(x))
}

// goldenStatsCheckKept checks the overall and per-tensor kept fractions of
// (out − base) against density and the per-tensor variance of (out − base)
// against mergekit's for tensors of at least 2048 elements.
func goldenStatsCheckKept(t *testing.T, sc goldenStatsCase, tensors []goldenStatsTensor, wantKept float64) {
	t.Helper()
	var kept, total int
	varBound := max(0.25, 1.5*sc.Spread.VarRelSpread)
	keptBound := max(0.05, sc.Spread.ZeroRangeWidth)
	for _, g := range tensors {
		n, diff := 0, make([]float64, len(g.out))
		for j := range g.out {
			diff[j] = g.out[j] - g.base[j]
			if g.kept(j) {
				n++
			}
		}
		kept += n
		total += len(g.out)
		ref, ok := sc.RandomStats.PerTensor[g.name]
		if !ok {
			t.Errorf("%s: not in the golden statistics", g.name)
			continue
		}
		if len(g.out) < 2048 {
			continue
		}
		if frac := float64(n) / float64(len(g.out)); math.Abs(frac-wantKept) > keptBound {
			t.Errorf("%s: kept fraction %.4f, want %.2f ± %.3f", g.name, frac, wantKept, keptBound)
		}
		if v := goldenStatsVariance(diff); math.Abs(v-ref.Var) > varBound*ref.Var {
			t.Errorf("%s: var(out − base) = %.4g, mergekit %.4g (bound ±%.0f%%)", g.name, v, ref.Var, 100*varBound)
		}
	}
	frac := float64(kept) / float64(total)
	if math.Abs(frac-wantKept) > 0.01 {
		t.Errorf("overall kept fraction %.4f, want %.2f ± 0.01", frac, wantKept)
	}
	// The golden value itself must be within the same bound, or the
	// bound is mis-sized.
	if golden := 1 - sc.RandomStats.Summary["overall_zero_fraction"]; math.Abs(golden-wantKept) > 0.01 {
		t.Errorf("golden kept fraction %.4f is outside the bound", golden)
	}
	t.Logf("overall kept fraction %.4f (mergekit %.4f, other seeds %.4f–%.4f)", frac,
		1-sc.RandomStats.Summary["overall_zero_fraction"], 1-sc.Spread.ZeroRange[1], 1-sc.Spread.ZeroRange[0])
}

func TestGoldenStatsDARELinear(t *testing.T) {
	c, sc := loadGoldenStatsCase(t, "dare_linear_single_f32")
	tensors := goldenStatsTensors(t, goldenStatsRun(t, c, 2, 42), sc.Inputs)
	for _, g := range tensors {
		goldenStatsCheckStructure(t, g)
		ref := sc.RandomStats.PerTensor[g.name]
		if len(g.out) < 2048 {
			continue
		}
		var l1, l1Kept float64
		for j := range g.out {
			d := math.Abs(g.ft1[j] - g.base[j])
			l1 += d
			if g.kept(j) {
				l1Kept += d
			}
		}
		if s := l1 / l1Kept; math.Abs(s-ref.ExpectedRescale) > 0.2*ref.ExpectedRescale {
			t.Errorf("%s: L1 rescale %.3f, mergekit %.3f", g.name, s, ref.ExpectedRescale)
		}
	}
	goldenStatsCheckKept(t, sc, tensors, 0.3)
}

func TestGoldenStatsDARETIES(t *testing.T) {
	c, sc := loadGoldenStatsCase(t, "dare_ties_f32")
	tensors := goldenStatsTensors(t, goldenStatsRun(t, c, 2, 42), sc.Inputs)
	// An element stays the base only when all three deltas are dropped
	// (density 0.5 each): zero fraction (1 − 0.5)³.
	goldenStatsCheckKept(t, sc, tensors, 1-0.125)
}

func TestGoldenStatsDELLALinear(t *testing.T) {
	c, sc := loadGoldenStatsCase(t, "della_linear_single_f32")
	tensors := goldenStatsTensors(t, goldenStatsRun(t, c, 2, 42), sc.Inputs)
	var above, aboveKept, below, belowKept int
	for _, g := range tensors {
		goldenStatsCheckStructure(t, g)
		cols := len(g.out)
		if len(g.shape) == 2 {
			cols = int(g.shape[1])
		}
		for lo := 0; lo < len(g.out); lo += cols {
			mags := make([]float64, cols)
			for k := range mags {
				mags[k] = math.Abs(g.ft1[lo+k] - g.base[lo+k])
			}
			sorted := slices.Clone(mags)
			slices.Sort(sorted)
			med := (sorted[(cols-1)/2] + sorted[cols/2]) / 2
			for k, m := range mags {
				switch {
				case m > med:
					above++
					if g.kept(lo + k) {
						aboveKept++
					}
				case m < med:
					below++
					if g.kept(lo + k) {
						belowKept++
					}
				}
			}
		}
	}
	ab, be := float64(aboveKept)/float64(above), float64(belowKept)/float64(below)
	t.Logf("kept above the row median %.4f (mergekit %.4f), below %.4f (mergekit %.4f)", ab,
		sc.RandomStats.Summary["kept_fraction_above_row_median_magnitude"], be,
		sc.RandomStats.Summary["kept_fraction_below_row_median_magnitude"])
	if math.Abs(ab-0.55) > 0.02 || math.Abs(be-0.45) > 0.02 {
		t.Errorf("kept fractions above/below the row median %.4f/%.4f, want 0.55/0.45 ± 0.02", ab, be)
	}
	goldenStatsCheckKept(t, sc, tensors, 0.5)
}

// TestGoldenStatsSeed checks that a seed fixes the output whatever the
// thread count, and that another seed draws other masks.
func TestGoldenStatsSeed(t *testing.T) {
	for _, name := range []string{"dare_ties_f32", "della_linear_single_f32"} {
		t.Run(name, func(t *testing.T) {
			c, _ := loadGoldenStatsCase(t, name)
			one, _ := readAll(t, goldenStatsRun(t, c, 1, 7))
			two, _ := readAll(t, goldenStatsRun(t, c, 2, 7))
			other, _ := readAll(t, goldenStatsRun(t, c, 2, 8))
			for name, v := range one {
				if !slices.EqualFunc(v, two[name], func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }) {
					t.Errorf("%s differs between 1 and 2 threads with the same seed", name)
				}
				if len(v) >= 64 && slices.Equal(v, other[name]) {
					t.Errorf("%s is the same with seeds 7 and 8", name)
				}
			}
		})
	}
}
