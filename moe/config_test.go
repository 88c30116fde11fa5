package moe

import (
	"errors"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/tensor"
)

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(`base_model: org/base@main
gate_mode: hidden_last
dtype: torch.bfloat16
experts_per_token: 1
architecture: Mixtral
common: &p [shared prompt]
experts:
  - source_model: a
    positive_prompts: *p
    negative_prompts: ["no"]
    noise_scale: 0.01
    residual_scale: 0.5
  - source_model: b+lora
    positive_prompts: [other]
`), "moe.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GateMode != Hidden || cfg.DType != tensor.BF16 || cfg.ExpertsPerToken != 1 || cfg.Architecture != "Mixtral" {
		t.Errorf("parsed %+v", cfg)
	}
	if cfg.BaseModel.Path != "org/base" || cfg.BaseModel.Revision != "main" {
		t.Errorf("base_model %+v", cfg.BaseModel)
	}
	e := cfg.Experts[0]
	if e.PositivePrompts[0] != "shared prompt" || e.NegativePrompts[0] != "no" || e.NoiseScale != 0.01 || *e.ResidualScale != 0.5 || e.Pos.Line != 8 {
		t.Errorf("expert 0 %+v", e)
	}
	if cfg.Experts[1].SourceModel.LoRA == nil || cfg.Experts[1].ResidualScale != nil {
		t.Errorf("expert 1 %+v", cfg.Experts[1])
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], `moe.yml:6:1: unknown key "common"`) {
		t.Errorf("warnings %q", cfg.Warnings)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct{ name, yml, want string }{
		{"no base", "experts:\n  - source_model: a\n  - source_model: b\n", "moe.yml:1:1: base_model is required"},
		{"no experts", "base_model: x\nexperts: []\n", "moe.yml:2:1: experts must list at least one expert"},
		{"unknown gate mode", "base_model: x\ngate_mode: learned\nexperts: [{source_model: a}, {source_model: b}]\n", `moe.yml:2:12: gate_mode "learned" is not one of`},
		{"bad dtype", "base_model: x\ndtype: int64\ngate_mode: random\nexperts: [{source_model: a}, {source_model: b}]\n", `moe.yml:2:8: dtype "int64"`},
		{"too few experts", "base_model: x\ngate_mode: random\nexperts_per_token: 3\nexperts: [{source_model: a}, {source_model: b}]\n", "moe.yml:3:20: experts_per_token is 3 but only 2 experts"},
		{"zero per token", "base_model: x\ngate_mode: random\nexperts_per_token: 0\nexperts: [{source_model: a}]\n", "moe.yml:3:20: experts_per_token must be at least 1"},
		{"missing prompts", "base_model: x\ngate_mode: cheap_embed\nexperts:\n  - source_model: a\n    positive_prompts: [p]\n  - source_model: b\n",
			"moe.yml:6:5: expert 1 (b) has no positive_prompts, which gate_mode cheap_embed needs"},
		{"default mode needs prompts", "base_model: x\nexperts:\n  - source_model: a\n  - source_model: b\n", "moe.yml:3:5: expert 0 (a) has no positive_prompts, which gate_mode hidden needs"},
		{"identical prompts", "base_model: x\nexperts:\n  - {source_model: a, positive_prompts: [p]}\n  - {source_model: b, positive_prompts: [p]}\n", "moe.yml:3:5: every expert has the same prompts"},
		{"no source", "base_model: x\ngate_mode: random\nexperts:\n  - positive_prompts: [p]\n", "moe.yml:4:5: experts[0] needs a source_model"},
		{"file tag", "base_model: x\nexperts:\n  - source_model: a\n    positive_prompts: !file prompts.txt\n", "moe.yml:4:23: YAML tag !file is not supported"},
		{"prompt not a list", "base_model: x\nexperts:\n  - source_model: a\n    positive_prompts: just one\n", "moe.yml:4:23: experts[0].positive_prompts must be a list of strings"},
		{"two shared", "base_model: x\ngate_mode: random\nexperts: [{source_model: a}, {source_model: b}]\nshared_experts:\n  - source_model: a\n  - source_model: b\n", "moe.yml:6:5: at most one shared expert"},
		{"bad yaml", "base_model: [x\n", "moe.yml:1: invalid YAML"},
		{"negative noise", "base_model: x\ngate_mode: random\nexperts:\n  - {source_model: a, noise_scale: -1}\n  - {source_model: b}\n", "noise_scale must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yml), "moe.yml")
			var ce *merge.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want a ConfigError containing %q", err, tt.want)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(threeExperts))
	f.Add([]byte("base_model: x\nexperts:\n  - {source_model: a, positive_prompts: [p], residual_scale: 2}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data, "fuzz.yml")
		if err == nil && (len(cfg.Experts) == 0 || cfg.ExpertsPerToken < 1) {
			t.Fatalf("accepted a config without experts: %+v", cfg)
		}
	})
}
