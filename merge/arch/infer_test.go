package arch

import (
	"errors"
	"fmt"
	"testing"
)

// names renders per-layer suffixes under prefix for layers 0..n-1, after
// the loose names before and followed by after.
func names(before []string, prefix string, n int, suffixes []string, after ...string) []string {
	out := append([]string{}, before...)
	for i := 0; i < n; i++ {
		for _, s := range suffixes {
			out = append(out, fmt.Sprintf("%s.%d.%s", prefix, i, s))
		}
	}
	return append(out, after...)
}

var gpt2Suffixes = []string{
	"ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
	"attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
	"mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
}

// brief is a compact view of an inferred weight: name, then "e" for
// IsEmbed and "?" for Optional.
func brief(w Weight) string {
	s := w.Name
	if w.IsEmbed {
		s += " e"
	}
	if w.Optional {
		s += " ?"
	}
	return s
}

func TestInfer(t *testing.T) {
	const L = "${layer_index}"
	llama := names([]string{"model.embed_tokens.weight"}, "model.layers", 2, llamaLayer, "model.norm.weight", "lm_head.weight")
	llamaTied := names([]string{"model.embed_tokens.weight"}, "model.layers", 2, llamaLayer, "model.norm.weight")
	llama3 := names([]string{"model.embed_tokens.weight"}, "model.layers", 3, llamaLayer, "model.norm.weight", "lm_head.weight")
	llamaBias := append(names(nil, "model.layers", 2, llamaLayer), "model.layers.1.self_attn.q_proj.bias")

	llamaTemplates := func(optional bool) []string {
		var out []string
		for _, s := range llamaLayer {
			w := "model.layers." + L + "." + s
			if optional {
				w += " ?"
			}
			out = append(out, w)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		models [][]string
		pre    []string
		layer  []string
		layers int
		err    error
	}{
		{
			name:   "llama, one model ties its head",
			models: [][]string{llama, llamaTied},
			pre:    []string{"model.embed_tokens.weight e", "model.norm.weight", "lm_head.weight e ?"},
			layer:  llamaTemplates(false),
			layers: 2,
		},
		{
			name:   "different depths make every template optional",
			models: [][]string{llama, llama3},
			pre:    []string{"model.embed_tokens.weight e", "model.norm.weight", "lm_head.weight e"},
			layer:  llamaTemplates(true),
			layers: 3,
		},
		{
			name:   "weight missing from some layers",
			models: [][]string{llamaBias},
			layer:  append(llamaTemplates(false), "model.layers."+L+".self_attn.q_proj.bias ?"),
			layers: 2,
		},
		{
			name: "gpt-2 without the transformer prefix",
			models: [][]string{
				names([]string{"wte.weight", "wpe.weight"}, "h", 2, gpt2Suffixes, "ln_f.weight", "ln_f.bias"),
			},
			pre: []string{"wte.weight e", "wpe.weight", "ln_f.weight", "ln_f.bias"},
			layer: func() []string {
				var out []string
				for _, s := range gpt2Suffixes {
					out = append(out, "h."+L+"."+s)
				}
				return out
			}(),
			layers: 2,
		},
		{
			name: "expert index after the layer index stays",
			models: [][]string{{
				"model.layers.0.mlp.experts.0.w1.weight", "model.layers.0.mlp.experts.1.w1.weight",
				"model.layers.1.mlp.experts.0.w1.weight", "model.layers.1.mlp.experts.1.w1.weight",
				"model.tok_embeddings.weight", "output.weight",
			}},
			pre:    []string{"model.tok_embeddings.weight e", "output.weight e"},
			layer:  []string{"model.layers." + L + ".mlp.experts.0.w1.weight", "model.layers." + L + ".mlp.experts.1.w1.weight"},
			layers: 2,
		},
		{
			name: "encoder and decoder of the same depth share the stack",
			models: [][]string{{
				"encoder.block.0.layer.0.weight", "encoder.block.1.layer.0.weight",
				"decoder.block.0.layer.0.weight", "decoder.block.1.layer.0.weight", "shared.weight",
			}},
			pre:    []string{"shared.weight"},
			layer:  []string{"encoder.block." + L + ".layer.0.weight", "decoder.block." + L + ".layer.0.weight"},
			layers: 2,
		},
		{
			name:   "no layers",
			models: [][]string{{"score.weight", "score.bias"}},
			pre:    []string{"score.weight", "score.bias"},
		},
		{
			name: "vision tower deeper than the decoder",
			models: [][]string{append(
				names([]string{"language_model.model.embed_tokens.weight"}, "language_model.model.layers", 2, llamaLayer),
				names([]string{"multi_modal_projector.linear_1.weight"}, "vision_tower.vision_model.encoder.layers", 3,
					[]string{"self_attn.q_proj.weight", "layer_norm1.weight"})...)},
			err: ErrLayerDepths,
		},
		{name: "no tensors", models: [][]string{{}}, err: errAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Infer(tc.models)
			if tc.err != nil {
				if err == nil || tc.err != errAny && !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			check := func(part string, got []Weight, want []string) {
				if len(got) != len(want) {
					t.Errorf("%s: %d weights, want %d", part, len(got), len(want))
				}
				for i := range min(len(got), len(want)) {
					if brief(got[i]) != want[i] {
						t.Errorf("%s[%d] = %q, want %q", part, i, brief(got[i]), want[i])
					}
				}
			}
			check("pre", a.Pre, tc.pre)
			check("layer", a.Layer, tc.layer)
			if len(a.Post) != 0 {
				t.Errorf("post weights %v", a.Post)
			}
			n, key, err := a.NumLayers(map[string]any{"num_hidden_layers": 99})
			if a.FixedLayers != tc.layers || n != tc.layers || key != "" || err != nil || a.NumLayersKey != "" {
				t.Errorf("layers: FixedLayers %d, NumLayers %d %q %v, want %d", a.FixedLayers, n, key, err, tc.layers)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestInferErrorNamesPrefixes(t *testing.T) {
	_, err := Infer([][]string{{"a.layers.0.w", "a.layers.1.w", "b.blocks.0.w"}})
	want := "arch: cannot infer one layer stack: layer stacks of different depths (a.layers: 2 layers, b.blocks: 1 layers); gomerge has no per-module layer counts yet"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}
