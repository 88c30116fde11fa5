package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const moeConfig = "base_model: base\ngate_mode: random\ndtype: bfloat16\nexperts:\n  - source_model: ft\n  - source_model: base\n"

func TestMoEExitCodes(t *testing.T) {
	models(t)
	tests := []struct {
		name   string
		config string
		args   []string
		code   int
		stderr string
	}{
		{"build", moeConfig, []string{"moe", "config.yml", "out", "--random-seed", "1", "--quiet"}, exitOK, ""},
		{"v5", moeConfig, []string{"moe", "config.yml", "out-v5", "--moe-layout", "v5", "--random-seed", "1"}, exitOK, ""},
		{"no out", moeConfig, []string{"moe", "config.yml"}, exitUsage, "missing OUT"},
		{"bad layout", moeConfig, []string{"moe", "config.yml", "o1", "--moe-layout", "v6"}, exitUsage, `unknown MoE layout "v6"`},
		{"device", moeConfig, []string{"moe", "config.yml", "o2", "--device", "cuda"}, exitUsage, "CUDA"},
		{"yaml line", "base_model: base\ngate_mode: hidden\nexperts:\n  - source_model: ft\n  - source_model: base\n    positive_prompts: [x]\n",
			[]string{"moe", "config.yml", "o3"}, exitUsage, "config.yml:4:5: expert 0 (ft) has no positive_prompts"},
		{"shared expert elsewhere", "base_model: base\narchitecture: deepseek\ngate_mode: random\nexperts_per_token: 1\nexperts:\n  - source_model: ft\nshared_experts:\n  - source_model: other\n",
			[]string{"moe", "config.yml", "o4"}, exitUsage, "config.yml:8:5: shared expert other is neither"},
		{"all same", "base_model: base\ngate_mode: uniform_random\nexperts:\n  - source_model: ft\n  - source_model: ft\n",
			[]string{"moe", "config.yml", "o5"}, exitUsage, "--i-understand-this-is-not-useful-without-training"},
		{"all same allowed", "base_model: base\ngate_mode: uniform_random\nexperts:\n  - source_model: ft\n  - source_model: ft\n",
			[]string{"moe", "config.yml", "o6", "--i-understand-this-is-not-useful-without-training", "--quiet"}, exitOK, ""},
		{"plan of a bad MoE config", "base_model: base\nexperts:\n  - source_model: ft\n    positive_prompts: !file p.txt\n",
			[]string{"plan", "config.yml"}, exitUsage, "config.yml:4:23: YAML tag !file is not supported"},
		{"merge of a MoE config", moeConfig, []string{"config.yml", "o7"}, exitUsage, "gomerge moe CONFIG.yml OUT"},
		{"output over input", moeConfig, []string{"moe", "config.yml", "base"}, exitUsage, "base"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writeConfig(t, tc.config)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.stderr)
			}
			if code != exitOK && len(tc.args) > 2 && tc.args[2] != "base" {
				if _, err := os.Stat(tc.args[2]); err == nil {
					t.Errorf("failed run left %s", tc.args[2])
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join("base", "config.json")); err != nil {
		t.Errorf("the refused run harmed its input: %v", err)
	}
}

// TestMoEPlanMatchesBuild checks that `gomerge plan` reads a MoE config
// and agrees with the build's --json result.
func TestMoEPlanMatchesBuild(t *testing.T) {
	models(t)
	writeConfig(t, moeConfig)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"moe", "config.yml", "out", "--json", "--out-shard-size", "200k", "--random-seed", "3"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res struct {
		Architecture    string
		Tensors, Shards int
		Bytes           int64
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
	}
	if res.Architecture != "MixtralForCausalLM" || res.Tensors != 3+4*(6+2*3+1) || res.Shards < 2 {
		t.Errorf("result %+v", res)
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"plan", "config.yml", "--json", "--out-shard-size", "200k"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("plan exit %d: %s", code, stderr.String())
	}
	var plan moePlanSummary
	if err := json.Unmarshal(stdout.Bytes(), &plan); err != nil {
		t.Fatal(err)
	}
	if plan.Kind != "moe" || plan.Tensors != res.Tensors || plan.Bytes != res.Bytes || plan.Shards != res.Shards || plan.PeakMemory <= 0 {
		t.Errorf("plan %+v disagrees with build %+v", plan, res)
	}
}
