package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"5B", 5e9, false}, {"100K", 100e3, false}, {"1m", 1e6, false}, {"123", 123, false},
		{"1.5b", 1.5e9, false}, {"", 0, true}, {"x", 0, true}, {"-1k", 0, true}, {"5GB", 0, true},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	var f mergeFlags
	fs := newMergeFlags(&bytes.Buffer{}, &f)
	pos, err := parseInterspersed(fs, []string{"--allow-crimes", "cfg.yml", "out", "--out-shard-size", "1B", "--no-copy-tokenizer", "-j", "3", "-v", "--random-seed=7"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pos, " ") != "cfg.yml out" {
		t.Errorf("positionals %v", pos)
	}
	if !f.allowCrimes || f.copyTokenizer || f.shardSize != 1e9 || f.threads != 3 || f.verbose != 1 || f.seed != 7 || !f.writeModelCard {
		t.Errorf("flags %+v", f)
	}
	fs = newMergeFlags(&bytes.Buffer{}, &f)
	if _, err := parseInterspersed(fs, []string{"cfg.yml", "--bogus"}); err == nil {
		t.Error("unknown flag accepted")
	}
	var _ = flag.ErrHelp
}

// models writes two tiny models and a config into a temporary directory
// and changes into it, as a user would run gomerge.
func models(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, s := range map[string]testmodel.Spec{
		"base": {Seed: 1},
		"ft":   {Seed: 1, Delta: 0.01, DeltaSeed: 2},
	} {
		if err := testmodel.Write(filepath.Join(dir, name), s); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	return dir
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	if err := os.WriteFile("config.yml", []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return "config.yml"
}

func TestRunExitCodes(t *testing.T) {
	models(t)
	good := "merge_method: ties\nbase_model: base\nmodels:\n  - model: ft\n    parameters: {weight: 1, density: 0.5}\n"
	tests := []struct {
		name   string
		config string
		args   []string
		code   int
		stderr string
	}{
		{"merge", good, []string{"config.yml", "out", "--quiet"}, exitOK, ""},
		{"flags first", good, []string{"--out-shard-size", "100k", "config.yml", "out2"}, exitOK, ""},
		{"no args", good, nil, exitUsage, "usage"},
		{"yaml typo", "merge_method: ties\nmodels\n", []string{"config.yml", "out3"}, exitUsage, "config.yml:"},
		{"unknown method", "merge_method: nope\nmodels: [{model: ft}]\n", []string{"config.yml", "out4"}, exitUsage, `config.yml:1:15: unknown merge_method "nope"`},
		{"missing config", good, []string{"nothere.yml", "out5"}, exitUsage, "nothere.yml"},
		{"config is a device", good, []string{os.DevNull, "out9"}, exitUsage, os.DevNull + ": not a regular file"},
		{"cuda", good, []string{"config.yml", "out6", "--cuda"}, exitUsage, "CUDA"},
		{"merge fails", "merge_method: ties\nbase_model: base\nmodels:\n  - model: ft\n    parameters: {weight: 1, density: 0.001}\n",
			[]string{"config.yml", "out7"}, exitFailed, "keeps no element"},
		{"interrupted", good, []string{"config.yml", "out8"}, exitInterrupted, "interrupted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writeConfig(t, tc.config)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.code == exitInterrupted {
				cancel()
			}
			var stdout, stderr bytes.Buffer
			code := run(ctx, tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.stderr)
			}
			if code != exitOK && len(tc.args) > 1 {
				if _, err := os.Stat(tc.args[1]); err == nil {
					t.Errorf("failed run left %s", tc.args[1])
				}
			}
		})
	}
}

func TestRunJSONAndPlan(t *testing.T) {
	models(t)
	writeConfig(t, "merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: 1}\n  - model: ft\n    parameters: {weight: 1}\n")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"config.yml", "out", "--json", "--out-shard-size", "200k"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res struct {
		Tensors, Shards int
		Bytes           int64
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
	}
	if res.Tensors != 39 || res.Shards < 2 {
		t.Errorf("result %+v", res)
	}
	for _, f := range []string{"config.json", "README.md", "mergekit_config.yml", "model.safetensors.index.json"} {
		if _, err := os.Stat(filepath.Join("out", f)); err != nil {
			t.Error(err)
		}
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"plan", "config.yml", "--json", "--out-shard-size", "200k"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("plan exit %d: %s", code, stderr.String())
	}
	var plan planSummary
	if err := json.Unmarshal(stdout.Bytes(), &plan); err != nil {
		t.Fatal(err)
	}
	if plan.Tensors != res.Tensors || plan.Bytes != res.Bytes || plan.Shards != res.Shards || plan.PeakMemory <= 0 {
		t.Errorf("plan %+v disagrees with run %+v", plan, res)
	}
}
