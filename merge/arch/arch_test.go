package arch

import (
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
			if strings.Contains(w.Name, "${") {
				t.Errorf("%s: unrendered template %s", a.Name, w.Name)
			}
		}
		for _, w := range a.Layer {
			if !strings.Contains(w.Name, LayerIndex) {
				t.Errorf("%s: layer weight %s has no %s", a.Name, w.Name, LayerIndex)
			}
		}
		for _, name := range a.Architectures {
			if got, ok := Lookup(name, a.ModelType); !ok || got != a {
				t.Errorf("Lookup(%s, %s) = %v", name, a.ModelType, got)
			}
		}
	}
	if _, ok := Lookup("NoSuchForCausalLM", ""); ok {
		t.Error("unknown architecture found")
	}
	if w := (Weight{Name: "model.layers.${layer_index}.x", TiedNames: []string{"a.${layer_index}"}}).Render(7); w.Name != "model.layers.7.x" || w.TiedNames[0] != "a.7" {
		t.Errorf("Render: %+v", w)
	}
}
