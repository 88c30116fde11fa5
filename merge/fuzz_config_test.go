package merge

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseConfig checks that no input makes ParseConfig panic or return
// anything but a *ConfigError, and that what it accepts is usable.
func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/configs/*.yml")
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data, "f.yml")
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *ConfigError", err)
			}
			return
		}
		if cfg.MergeMethod == "" {
			t.Fatal("accepted a config without merge_method")
		}
		inputs := 0
		for _, present := range []bool{len(cfg.Models) > 0, len(cfg.Slices) > 0, len(cfg.Modules) > 0} {
			if present {
				inputs++
			}
		}
		if inputs != 1 {
			t.Fatalf("accepted %d kinds of inputs", inputs)
		}
		if cfg.Tokenizer != nil && cfg.TokenizerSource != nil {
			t.Fatal("accepted tokenizer and tokenizer_source")
		}
		all := []Params{cfg.Parameters}
		refs := []ModelRef{}
		models := func(ms []InputModel) {
			for _, m := range ms {
				all, refs = append(all, m.Parameters), append(refs, m.Model)
			}
		}
		slices := func(ss []OutputSlice) {
			for _, s := range ss {
				if len(s.Sources) == 0 {
					t.Fatal("accepted a slice without sources")
				}
				all = append(all, s.Parameters)
				for _, src := range s.Sources {
					all, refs = append(all, src.Parameters), append(refs, src.Model)
					if r := src.LayerRange; r != nil && (r[0] < 0 || r[1] <= r[0]) {
						t.Fatalf("accepted layer_range %v", *r)
					}
				}
			}
		}
		models(cfg.Models)
		slices(cfg.Slices)
		for _, m := range cfg.Modules {
			all = append(all, m.Parameters)
			models(m.Models)
			slices(m.Slices)
		}
		for _, ps := range all {
			for _, name := range ps.Names() {
				s, ok := ps.Get(name)
				if !ok {
					t.Fatalf("Names has %q, Get does not", name)
				}
				s.Eval("model.layers.0.mlp.up_proj.weight", 0.5)
				s.Eval("", 1)
			}
		}
		for _, r := range refs {
			if r.Path == "" {
				t.Fatal("accepted an empty model path")
			}
			if r.OverrideArchitecture == "" && !cfgHasSeparators(r) {
				if back, err := ParseModelRef(r.String()); err != nil || !back.Equal(r) {
					t.Fatalf("%+v does not round-trip: %v", r, err)
				}
			}
		}
	})
}

// cfgHasSeparators reports whether a dict-form reference holds '@' or '+'
// in a path, which its string form cannot say.
func cfgHasSeparators(r ModelRef) bool {
	s := r.Path + r.Revision
	if r.LoRA != nil {
		s += r.LoRA.Path + r.LoRA.Revision
	}
	for _, c := range s {
		if c == '@' || c == '+' {
			return true
		}
	}
	return false
}
