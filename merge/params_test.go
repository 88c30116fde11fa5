package merge

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestSettingEval(t *testing.T) {
	scalar := func(v float64) Setting { return Setting{Kind: Scalar, Scalar: v} }
	grad := func(v ...float64) Setting { return Setting{Kind: Gradient, Gradient: v} }
	cond := func(filter string, v Setting) Cond { return Cond{Filter: filter, HasFilter: true, Value: v} }
	// mergekit's examples/gradient-slerp.yml (spec 1.6).
	spec16 := Setting{Kind: Conditional, Conds: []Cond{
		cond("self_attn", grad(0, 0.5, 0.3, 0.7, 1)),
		cond("mlp", grad(1, 0.5, 0.7, 0.3, 0)),
		{Value: scalar(0.5)},
	}}
	const layer13 = 13.0 / 39
	tests := []struct {
		name    string
		s       Setting
		tensor  string
		t       float64
		want    float64
		wantNil bool
	}{
		{name: "scalar", s: scalar(0.3), t: 0.7, want: 0.3},
		{name: "gradient start", s: grad(0, 1), t: 0, want: 0},
		{name: "gradient end", s: grad(0, 1), t: 1, want: 1},
		{name: "gradient middle", s: grad(0, 1), t: 0.25, want: 0.25},
		{name: "gradient anchor", s: grad(1, 3, 2), t: 0.5, want: 3},
		{name: "gradient between anchors", s: grad(1, 3, 2), t: 0.75, want: 2.5},
		{name: "one-element gradient", s: grad(0.4), t: 0.9, want: 0.4},
		{name: "t below 0 clamps", s: grad(1, 2), t: -1, want: 1},
		{name: "t above 1 clamps", s: grad(1, 2), t: 2, want: 2},
		{name: "t NaN is 0", s: grad(1, 2), t: math.NaN(), want: 1},
		{name: "empty gradient", s: grad(), wantNil: true},
		{name: "zero setting", s: Setting{}, wantNil: true},
		{name: "spec 1.6 attention, layer 13 of 40", s: spec16, tensor: "model.layers.13.self_attn.q_proj.weight", t: layer13, want: 0.5*(1-1.0/3) + 0.3/3},
		{name: "spec 1.6 mlp, layer 13 of 40", s: spec16, tensor: "model.layers.13.mlp.down_proj.weight", t: layer13, want: 0.5*(2.0/3) + 0.7/3},
		{name: "spec 1.6 layer norm", s: spec16, tensor: "model.layers.13.input_layernorm.weight", t: layer13, want: 0.5},
		{name: "spec 1.6 embeddings (t = 0)", s: spec16, tensor: "model.embed_tokens.weight", t: 0, want: 0.5},
		{name: "spec 1.6 lm_head", s: spec16, tensor: "lm_head.weight", t: 0, want: 0.5},
		{name: "spec 1.6 last attention layer", s: spec16, tensor: "model.layers.39.self_attn.o_proj.weight", t: 1, want: 1},
		{name: "spec 1.6 last mlp layer", s: spec16, tensor: "model.layers.39.mlp.up_proj.weight", t: 1, want: 0},
		{name: "first match wins", s: Setting{Kind: Conditional, Conds: []Cond{cond("proj", scalar(1)), cond("o_proj", scalar(2))}},
			tensor: "self_attn.o_proj.weight", want: 1},
		{name: "star matches", s: Setting{Kind: Conditional, Conds: []Cond{cond("mlp", scalar(1)), cond("*", scalar(2))}},
			tensor: "self_attn.o_proj.weight", want: 2},
		{name: "filter is case-sensitive", s: Setting{Kind: Conditional, Conds: []Cond{cond("MLP", scalar(1))}},
			tensor: "mlp.up_proj", wantNil: true},
		{name: "filter is not a glob", s: Setting{Kind: Conditional, Conds: []Cond{cond("layers.*.mlp", scalar(1))}},
			tensor: "layers.0.mlp", wantNil: true},
		{name: "no match", s: Setting{Kind: Conditional, Conds: []Cond{cond("mlp", scalar(1))}},
			tensor: "self_attn", wantNil: true},
		{name: "empty filter matches a name", s: Setting{Kind: Conditional, Conds: []Cond{cond("", scalar(1))}},
			tensor: "x", want: 1},
		{name: "empty filter does not match an empty name", s: Setting{Kind: Conditional, Conds: []Cond{cond("", scalar(1))}},
			wantNil: true},
		{name: "absent filter matches an empty name", s: Setting{Kind: Conditional, Conds: []Cond{{Value: scalar(3)}}},
			want: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := tc.s.Eval(tc.tensor, tc.t)
			if ok == tc.wantNil {
				t.Fatalf("ok = %v", ok)
			}
			if ok && math.Abs(v-tc.want) > 1e-12 {
				t.Errorf("%v, want %v", v, tc.want)
			}
		})
	}
	// The spec's rounded numbers.
	a, _ := spec16.Eval("model.layers.13.self_attn.v_proj.weight", layer13)
	m, _ := spec16.Eval("model.layers.13.mlp.gate_proj.weight", layer13)
	if fmt.Sprintf("%.4f %.4f", a, m) != "0.4333 0.5667" {
		t.Errorf("spec 1.6: %.4f %.4f, want 0.4333 0.5667", a, m)
	}
}

// TestGradientMatchesMergekit checks the interpolation against mergekit's
// formula written out for every layer of a 40-layer slice.
func TestGradientMatchesMergekit(t *testing.T) {
	g := []float64{1, 0.5, 0.7, 0.3, 0}
	s := Setting{Kind: Gradient, Gradient: g}
	const layers = 40
	for i := range layers {
		frac := float64(i) / (layers - 1)
		scaled := frac * float64(len(g)-1)
		i0 := int(scaled) // Python's int() truncates; scaled >= 0
		i1 := min(len(g)-1, i0+1)
		f := scaled - float64(i0)
		want := (1-f)*g[i0] + f*g[i1]
		if got, _ := s.Eval("x", frac); got != want {
			t.Errorf("layer %d: %v, want %v", i, got, want)
		}
	}
}

func TestNewParams(t *testing.T) {
	grad := []float64{0, 1}
	cond := Setting{Kind: Conditional, Conds: []Cond{{Value: Setting{Kind: Scalar, Scalar: 7}}}}
	p := NewParams("weight", 0.5, "density", 1, "normalize", true, "int8_mask", false, "t", grad, "c", cond, "weight", 0.25)
	grad[1] = 9 // NewParams keeps its own copy
	if got := strings.Join(p.Names(), ","); got != "weight,density,normalize,int8_mask,t,c" || p.Len() != 6 {
		t.Errorf("names %s, len %d", got, p.Len())
	}
	want := map[string]float64{"weight": 0.25, "density": 1, "normalize": 1, "int8_mask": 0, "t": 0.5, "c": 7}
	for name, w := range want {
		s, ok := p.Get(name)
		if !ok {
			t.Fatalf("no %s", name)
		}
		if v, _ := s.Eval("x", 0.5); v != w {
			t.Errorf("%s = %v, want %v", name, v, w)
		}
	}
	if _, ok := p.Get("lambda"); ok {
		t.Error("lambda is set")
	}
	var empty Params
	if _, ok := empty.Get("x"); ok || empty.Len() != 0 || len(empty.Names()) != 0 {
		t.Error("zero Params is not empty")
	}
}

func TestNewParamsPanics(t *testing.T) {
	for _, args := range [][]any{{"weight"}, {"weight", "heavy"}, {1, 0.5}, {"w", float32(1)}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewParams%v did not panic", args)
				}
			}()
			NewParams(args...)
		}()
	}
}
