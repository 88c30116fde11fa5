package evolve

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/merge"
)

func mustGenome(t *testing.T, src string) *Genome {
	t.Helper()
	c, err := ParseConfig([]byte(src+"tasks: [t]\n"), "genome.yml")
	if err != nil {
		t.Fatal(err)
	}
	return &c.Genome
}

// TestMergeConfig reproduces mergekit's genotype_merge_config on genomes
// that exercise each rule; every config must also parse as a merge config.
func TestMergeConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		genome string
		layers int
		x      []float64
		want   string
	}{{
		// One group, two models, weight only: scalars, |x|, normalize
		// true for linear.
		name:   "linear",
		genome: "genome: {models: [a, b], merge_method: linear}\n",
		layers: 4, x: []float64{0.5, -0.25},
		want: `merge_method: linear
slices:
    - sources:
        - model: a
          layer_range: [0, 4]
          parameters:
            weight: 0.5
        - model: b
          layer_range: [0, 4]
          parameters:
            weight: 0.25
parameters:
    normalize: true
    int8_mask: true
dtype: bfloat16
`,
	}, {
		// Two groups of 2 layers; density clamped to [0, 1]; a base model
		// outside models is a source without parameters.
		name:   "ties groups",
		genome: "genome: {models: [a, b], merge_method: ties, base_model: base, layer_granularity: 2}\n",
		layers: 4, x: []float64{0.5, -1.5, 1, 0.25, -0.5, 0.75, 2, -0.125},
		want: `merge_method: ties
slices:
    - sources:
        - model: a
          layer_range: [0, 2]
          parameters:
            weight: 0.5
            density: 1.0
        - model: b
          layer_range: [0, 2]
          parameters:
            weight: 1.0
            density: 0.25
        - model: base
          layer_range: [0, 2]
    - sources:
        - model: a
          layer_range: [2, 4]
          parameters:
            weight: 0.5
            density: 0.75
        - model: b
          layer_range: [2, 4]
          parameters:
            weight: 2.0
            density: 0.125
        - model: base
          layer_range: [2, 4]
parameters:
    normalize: true
    int8_mask: true
dtype: bfloat16
base_model: base
`,
	}, {
		// A base model among the models is not added again; negative
		// weights kept; normalize as given; tokenizer_source passed on.
		name: "task arithmetic negative",
		genome: "genome: {models: [base, b], merge_method: task_arithmetic, base_model: base," +
			" allow_negative_weights: true, normalize: true, tokenizer_source: union}\n",
		layers: 3, x: []float64{-0.5, 0.25},
		want: `merge_method: task_arithmetic
slices:
    - sources:
        - model: base
          layer_range: [0, 3]
          parameters:
            weight: -0.5
        - model: b
          layer_range: [0, 3]
          parameters:
            weight: 0.25
parameters:
    normalize: true
    int8_mask: true
dtype: bfloat16
base_model: base
tokenizer_source: union
`,
	}, {
		// Filters: each parameter a list of {filter, value}, the default
		// (filter null) last; genes in group, model, set, param order.
		name:   "filters",
		genome: "genome: {models: [a, b], merge_method: dare_ties, base_model: a, filters: [self_attn, mlp]}\n",
		layers: 2, x: []float64{0.5, 0.25, 1.5, -0.5, 0.125, 0.75, 1, 1, 2, 0, -3, 3},
		want: `merge_method: dare_ties
slices:
    - sources:
        - model: a
          layer_range: [0, 2]
          parameters:
            weight:
                - filter: self_attn
                  value: 0.5
                - filter: mlp
                  value: 1.5
                - filter: null
                  value: 0.125
            density:
                - filter: self_attn
                  value: 0.25
                - filter: mlp
                  value: 0.5
                - filter: null
                  value: 0.75
        - model: b
          layer_range: [0, 2]
          parameters:
            weight:
                - filter: self_attn
                  value: 1.0
                - filter: mlp
                  value: 2.0
                - filter: null
                  value: 3.0
            density:
                - filter: self_attn
                  value: 1.0
                - filter: mlp
                  value: 0.0
                - filter: null
                  value: 1.0
parameters:
    normalize: true
    int8_mask: true
dtype: bfloat16
base_model: a
`,
	}, {
		// Smooth: models: over all layers, each parameter the list of
		// its group values; the base model appended bare.
		name:   "smooth",
		genome: "genome: {models: [a, b], merge_method: task_arithmetic, base_model: base, layer_granularity: 2, smooth: true}\n",
		layers: 6, x: []float64{0.5, 0.25, 1, 2, 0.75, -0.125},
		want: `merge_method: task_arithmetic
models:
    - model: a
      layer_range: [0, 6]
      parameters:
        weight:
            - 0.5
            - 1.0
            - 0.75
    - model: b
      layer_range: [0, 6]
      parameters:
        weight:
            - 0.25
            - 2.0
            - 0.125
    - model: base
parameters:
    normalize: false
    int8_mask: true
dtype: bfloat16
base_model: base
`,
	}, {
		// Smooth with one group and filters: scalar values in the
		// conditional lists.
		name:   "smooth filters one group",
		genome: "genome: {models: [a], merge_method: linear, smooth: true, filters: [mlp]}\n",
		layers: 2, x: []float64{0.5, 0.25},
		want: `merge_method: linear
models:
    - model: a
      layer_range: [0, 2]
      parameters:
        weight:
            - filter: mlp
              value: 0.5
            - filter: null
              value: 0.25
parameters:
    normalize: true
    int8_mask: true
dtype: bfloat16
`,
	}, {
		// Slerp: per group the top two raw genes (sign kept: -0.5 beats
		// -2, so c and a are chosen in group 0), t = softmax[1], A is the
		// slice's base_model; the genome's base appended as a third
		// source.
		name:   "slerp",
		genome: "genome: {models: [a, b, c], merge_method: slerp, base_model: base, layer_granularity: 1}\n",
		layers: 2, x: []float64{-1, -2, -0.5, 1, 1, 0},
		want: `merge_method: slerp
slices:
    - sources:
        - model: c
          layer_range: [0, 1]
        - model: a
          layer_range: [0, 1]
        - model: base
          layer_range: [0, 1]
      parameters:
        t: 0.37754066879814546
      base_model: c
    - sources:
        - model: a
          layer_range: [1, 2]
        - model: b
          layer_range: [1, 2]
        - model: base
          layer_range: [1, 2]
      parameters:
        t: 0.5
      base_model: a
parameters:
    normalize: false
    int8_mask: true
dtype: bfloat16
base_model: base
`,
	}, {
		// Slerp with tokenizer_source: A weighs 1−t and B t.
		name:   "slerp tokenizer",
		genome: "genome: {models: [a, b], merge_method: slerp, tokenizer_source: union}\n",
		layers: 2, x: []float64{-1, 1},
		want: `merge_method: slerp
slices:
    - sources:
        - model: b
          layer_range: [0, 2]
          parameters:
            weight: 0.8807970779778824
        - model: a
          layer_range: [0, 2]
          parameters:
            weight: 0.11920292202211755
      parameters:
        t: 0.11920292202211755
      base_model: b
parameters:
    normalize: false
    int8_mask: true
dtype: bfloat16
tokenizer_source: union
`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := mustGenome(t, tc.genome)
			l, err := g.Layout(tc.layers)
			if err != nil {
				t.Fatal(err)
			}
			got, err := g.MergeConfig(l, tc.x)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			if _, err := merge.ParseConfig(got, "candidate"); err != nil {
				t.Errorf("not a merge config: %v", err)
			}
		})
	}
}

func TestSlerpTopTwoRounding(t *testing.T) {
	// softmax([va, vb])[1] = 1/(1+e^(va−vb)); t = 0.25 needs vb−va = −ln 3.
	g := mustGenome(t, "genome: {models: [a, b], merge_method: slerp}\n")
	l, _ := g.Layout(1)
	got, err := g.MergeConfig(l, []float64{math.Log(3), 0})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "t: 0.25\n") || !strings.Contains(string(got), "base_model: a\n") {
		t.Errorf("got\n%s", got)
	}
	// Equal genes: the earlier model is A.
	got, _ = g.MergeConfig(l, []float64{0.3, 0.3})
	if !strings.Contains(string(got), "t: 0.5\n") || !strings.Contains(string(got), "base_model: a\n") {
		t.Errorf("tie: got\n%s", got)
	}
}

func TestLayout(t *testing.T) {
	for _, tc := range []struct {
		genome string
		layers int
		want   [4]int // G, M, F+1, P
	}{
		{"genome: {models: [a, b, c], merge_method: dare_ties, base_model: a, layer_granularity: 8}\n", 32, [4]int{4, 3, 1, 2}},
		{"genome: {models: [a, b], merge_method: linear}\n", 32, [4]int{1, 2, 1, 1}},
		{"genome: {models: [a, b], merge_method: slerp, layer_granularity: 4}\n", 8, [4]int{2, 2, 1, 1}},
		{"genome: {models: [a, b], merge_method: ties, base_model: a, filters: [mlp, self_attn]}\n", 5, [4]int{1, 2, 3, 2}},
	} {
		g := mustGenome(t, tc.genome)
		l, err := g.Layout(tc.layers)
		if err != nil {
			t.Fatal(err)
		}
		got := [4]int{l.Groups, l.Models, l.Sets, len(l.Params)}
		if got != tc.want || l.Len() != tc.want[0]*tc.want[1]*tc.want[2]*tc.want[3] {
			t.Errorf("%s: layout %v (len %d), want %v", tc.genome, got, l.Len(), tc.want)
		}
	}
	// The spec's example: 3 models × dare_ties × granularity 8 on 32
	// layers is N = 24 and λ = 13.
	g := mustGenome(t, "genome: {models: [a, b, c], merge_method: dare_ties, base_model: a, layer_granularity: 8}\n")
	l, _ := g.Layout(32)
	if l.Len() != 24 || DefaultPopSize(l.Len()) != 13 {
		t.Errorf("N=%d λ=%d, want 24 and 13", l.Len(), DefaultPopSize(l.Len()))
	}
	if _, err := g.Layout(30); err == nil || !strings.Contains(err.Error(), "does not divide") {
		t.Errorf("granularity 8 on 30 layers: %v", err)
	}
}

func TestInitial(t *testing.T) {
	g := mustGenome(t, "genome: {models: [a, b, c, d], merge_method: ties, base_model: a, layer_granularity: 1, filters: [mlp]}\n")
	l, _ := g.Layout(2)
	x := l.Initial(false, nil)
	for gr := range l.Groups {
		for m := range l.Models {
			for s := range l.Sets {
				if w, d := x[l.Index(gr, m, s, 0)], x[l.Index(gr, m, s, 1)]; w != 0.25 || d != 1 {
					t.Fatalf("[%d %d %d]: weight %v density %v, want 0.25 and 1", gr, m, s, w, d)
				}
			}
		}
	}
}

func TestMergeConfigInvalid(t *testing.T) {
	g := mustGenome(t, "genome: {models: [a, b], merge_method: linear}\n")
	l, _ := g.Layout(2)
	for _, x := range [][]float64{{1}, {1, 2, 3}, {math.NaN(), 1}, {1, math.Inf(-1)}} {
		if _, err := g.MergeConfig(l, x); !errors.Is(err, ErrInvalidGenotype) {
			t.Errorf("%v: %v, want ErrInvalidGenotype", x, err)
		}
	}
}

func TestFloatYAML(t *testing.T) {
	for v, want := range map[float64]string{1: "1.0", 0.5: "0.5", 1e-05: "1.0e-05", -2: "-2.0", 1.5e+300: "1.5e+300", 0: "0.0"} {
		if got := float(v).Value; got != want {
			t.Errorf("%v: %q, want %q", v, got, want)
		}
	}
}
