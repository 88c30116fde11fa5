package arch

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestTables(t *testing.T) {
	for _, a := range registry {
		seen := map[string]bool{}
		all := append(append(append([]Weight{}, a.Pre...), a.LayerWeights(0)...), a.Post...)
		all = append(all, a.LayerWeights(1)...)
		for _, w := range all {
			if seen[w.Name] {
				t.Errorf("%s: %s listed twice", a.Name, w.Name)
			}
			seen[w.Name] = true
			for _, n := range append(append([]string{w.Name}, w.Aliases...), w.TiedNames...) {
				if strings.Contains(n, "${") {
					t.Errorf("%s: unrendered template %s", a.Name, n)
				}
			}
		}
		for _, w := range a.Layer {
			if !strings.Contains(w.Name, LayerIndex) {
				t.Errorf("%s: layer weight %s has no %s", a.Name, w.Name, LayerIndex)
			}
			for _, n := range w.Aliases {
				if !strings.Contains(n, LayerIndex) {
					t.Errorf("%s: alias %s of %s has no %s", a.Name, n, w.Name, LayerIndex)
				}
			}
		}
		for _, w := range append(append([]Weight{}, a.Pre...), a.Post...) {
			if len(w.TiedNames) > 0 && !w.Optional {
				t.Errorf("%s: %s has tied names but is not optional", a.Name, w.Name)
			}
		}
		for _, name := range a.Architectures {
			if got, ok := Lookup(name, a.ModelType); !ok || got != a {
				t.Errorf("Lookup(%s, %s) = %v", name, a.ModelType, got)
			}
		}
		if a.NumLayersKey == "" || a.VocabSizeKey == "" {
			t.Errorf("%s: config keys %q, %q", a.Name, a.NumLayersKey, a.VocabSizeKey)
		}
	}
	if _, ok := Lookup("NoSuchForCausalLM", ""); ok {
		t.Error("unknown architecture found")
	}
	if w := (Weight{Name: "model.layers.${layer_index}.x", TiedNames: []string{"a.${layer_index}"}}).Render(7); w.Name != "model.layers.7.x" || w.TiedNames[0] != "a.7" {
		t.Errorf("Render: %+v", w)
	}
	names := Names()
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("Names() not sorted and unique: %v", names)
	}
}

func TestLookupByModelType(t *testing.T) {
	for _, tc := range []struct{ architecture, modelType, want string }{
		{"PhiForCausalLM", "phi", "phi"},
		{"PhiForCausalLM", "phi-msft", "phi-msft"},
		{"PhiForCausalLM", "", "phi"},
		{"StableLmForCausalLM", "stablelm", "stablelm"},
		{"StableLMEpochForCausalLM", "stablelm_epoch", "stablelm_epoch"},
		{"Gemma3ForCausalLM", "gemma3_text", "gemma3_text"},
	} {
		a, ok := Lookup(tc.architecture, tc.modelType)
		if !ok || a.Name != tc.want {
			t.Errorf("Lookup(%s, %s) = %v, want %s", tc.architecture, tc.modelType, a, tc.want)
		}
	}
}

// TestGPT2Aliases checks that checkpoints without the "transformer."
// prefix resolve and that the tied head finds either spelling.
func TestGPT2Aliases(t *testing.T) {
	a, _ := Lookup("GPT2LMHeadModel", "gpt2")
	w := a.LayerWeights(3)[0]
	if w.Name != "transformer.h.3.ln_1.weight" || !slices.Equal(w.Aliases, []string{"h.3.ln_1.weight"}) {
		t.Errorf("layer weight %+v", w)
	}
	head := a.Post[len(a.Post)-1]
	if head.Name != "lm_head.weight" || !head.IsEmbed || !head.Optional || !slices.Contains(head.TiedNames, "wte.weight") || head.Aliases != nil {
		t.Errorf("lm_head %+v", head)
	}
}

func TestNumLayers(t *testing.T) {
	gpt2, _ := Lookup("GPT2LMHeadModel", "gpt2")
	llama, _ := Lookup("LlamaForCausalLM", "llama")
	fixed := &Arch{FixedLayers: 5}
	cfg := func(s string) map[string]any {
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, tc := range []struct {
		a       *Arch
		cfg     string
		n       int
		key     string
		wantErr bool
	}{
		{llama, `{"num_hidden_layers": 32}`, 32, "num_hidden_layers", false},
		{gpt2, `{"n_layer": 12}`, 12, "n_layer", false},
		{gpt2, `{"num_hidden_layers": 6}`, 6, "num_hidden_layers", false},
		{gpt2, `{"n_layer": 12, "num_hidden_layers": 6}`, 12, "n_layer", false},
		{gpt2, `{"n_embd": 768}`, 0, "", true},
		{llama, `{"num_hidden_layers": 2.5}`, 0, "num_hidden_layers", true},
		{llama, `{"num_hidden_layers": "32"}`, 0, "num_hidden_layers", true},
		{fixed, `{"num_hidden_layers": 32}`, 5, "", false},
		{&Arch{NumLayersKey: "text_config.num_hidden_layers"}, `{"text_config": {"num_hidden_layers": 26}}`, 26, "text_config.num_hidden_layers", false},
	} {
		n, key, err := tc.a.NumLayers(cfg(tc.cfg))
		if n != tc.n || key != tc.key || (err != nil) != tc.wantErr {
			t.Errorf("%s NumLayers(%s) = %d, %q, %v", tc.a.Name, tc.cfg, n, key, err)
		}
	}
	if n, _, err := llama.NumLayers(map[string]any{"num_hidden_layers": float64(4)}); n != 4 || err != nil {
		t.Errorf("float64 count: %d, %v", n, err)
	}
}
