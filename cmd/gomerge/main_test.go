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
	"time"

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
		{"unknown device", good, []string{"config.yml", "out6", "--device", "gpu"}, exitUsage, `unknown --device "gpu"`},
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

func TestRunDegenerate(t *testing.T) {
	models(t)
	zero := "merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: 1}\n  - model: ft\n    parameters: {weight: -1}\n"
	nan := "merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: .nan}\n  - model: ft\n    parameters: {weight: 1}\n"
	tests := []struct {
		name, config string
		args         []string
		code         int
		out, stderr  string
	}{
		{"merge", zero, []string{"config.yml", "out"}, exitUsage, "", "config.yml:4:26: linear: degenerate merge parameters: the weights of tensor model.embed_tokens.weight sum to 0"},
		{"plan", nan, []string{"plan", "config.yml"}, exitUsage, "", `config.yml:4:26: linear: degenerate merge parameters: parameter "weight" of model base is NaN`},
		{"multi", nan, []string{"multi", "config.yml", "-I", "inter", "--out-path", "out"}, exitUsage, "", `parameter "weight" of model base is NaN`},
		{"plan allowed", nan, []string{"plan", "config.yml", "--allow-degenerate"}, exitOK, `warning: config.yml:4:26: linear: degenerate merge parameters: parameter "weight" of model base is NaN`, ""},
		{"merge allowed", zero, []string{"config.yml", "out", "--allow-degenerate", "--quiet"}, exitOK, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writeConfig(t, tc.config)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.out) || !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stdout %q, stderr %q; want %q, %q", stdout.String(), stderr.String(), tc.out, tc.stderr)
			}
		})
	}
}

func TestProgressLine(t *testing.T) {
	for _, tc := range []struct {
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{0, 4e9, 0, "[                              ]   0% 0.00/4.00 GB 0 MB/s"},
		{1e9, 4e9, 10 * time.Second, "[#######                       ]  25% 1.00/4.00 GB 100 MB/s ETA 30s"},
		{2e9, 4e9, 100 * time.Second, "[###############               ]  50% 2.00/4.00 GB 20 MB/s ETA 1m40s"},
		{1e9, 4e9, time.Hour, "[#######                       ]  25% 1.00/4.00 GB 0 MB/s ETA 3h00m"},
		{4e9, 4e9, 65 * time.Second, "[##############################] 100% 4.00/4.00 GB 62 MB/s in 1m05s"},
	} {
		if got := progressLine(tc.done, tc.total, tc.elapsed, bytesUnit); got != tc.want {
			t.Errorf("progressLine(%d, %d, %v)\n got %q\nwant %q", tc.done, tc.total, tc.elapsed, got, tc.want)
		}
	}
	var b strings.Builder
	p := newCountProgress(&b, "de_ud_gsd_ppl", "requests")
	p.update(3, 3)
	p.finish()
	p.update(3, 3)
	p.finish()
	if got := b.String(); !strings.HasPrefix(got, "\r[") || !strings.Contains(got, "de_ud_gsd_ppl 3/3 requests") || strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
		t.Errorf("eval progress %q", got)
	}
}

// TestHelpAndHabits: every command's -h is its own usage in one style;
// mergekit spellings work; mistakes say what is missing.
func TestHelpAndHabits(t *testing.T) {
	models(t)
	writeConfig(t, "merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: 1}\n")
	for _, cmd := range []string{"merge", "plan", "moe", "moe route", "kraken", "kraken train-router", "kraken route", "chat", "evolve", "worker",
		"multi", "extract-lora", "eval", "doctor", "tokensurgeon", "tokenize", "convert-llama2c", "clean"} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append(strings.Fields(cmd), "-h"), &stdout, &stderr); code != exitOK {
			t.Errorf("help %s: exit %d", cmd, code)
		}
		help := stderr.String()
		synopsis := "usage: gomerge " + cmd
		if cmd == "merge" {
			synopsis = "usage: gomerge CONFIG.yml OUT"
		}
		if !strings.HasPrefix(help, synopsis) || strings.Contains(help, "Usage of") {
			t.Errorf("help %s:\n%s", cmd, help)
		}
		// One style: synopsis, description, examples, flags.
		if i, j := strings.Index(help, "\nexamples:\n  "), strings.Index(help, "\nflags:\n  -"); i < 0 || j < i {
			t.Errorf("help %s lacks examples or flags, in that order:\n%s", cmd, help)
		}
		for _, line := range strings.Split(help, "\n") {
			if strings.Count(line, "(default") > 1 || strings.HasPrefix(line, "  -") && strings.Contains(line, " value") {
				t.Errorf("help %s: %q", cmd, line)
			}
		}
	}
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"config.yml"}, exitUsage, "missing OUT"},
		{[]string{"plan"}, exitUsage, "missing CONFIG.yml"},
		{[]string{"config.yml", "out", "extra"}, exitUsage, "too many arguments"},
		{[]string{"frobnicate", "--help"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"plan", "config.yml", "--verbose", "--vv", "-v"}, exitOK, ""},
		// click's short forms, as mergekit users type them.
		{[]string{"plan", "config.yml", "-vvv", "-j2"}, exitOK, ""},
		// A mistyped flag: the error and where the flags are, not 60 lines.
		{[]string{"config.yml", "out", "--frobnicate"}, exitUsage, "flag provided but not defined: -frobnicate\nrun \"gomerge merge -h\" for its flags\n"},
		// Every reader of the config, the MoE sniffing included, refuses
		// a device before reading it (it once read /dev/zero until OOM).
		{[]string{"/dev/zero", "out"}, exitUsage, "not a regular file"},
		{[]string{"plan", "/dev/zero"}, exitUsage, "not a regular file"},
		{[]string{"moe", "/dev/zero", "out"}, exitUsage, "not a regular file"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.stderr)
		}
	}
	var stdout bytes.Buffer
	run(context.Background(), []string{"version"}, &stdout, &bytes.Buffer{})
	if v := stdout.String(); !strings.HasPrefix(v, "gomerge ") || !strings.Contains(v, "go1.") || !strings.Contains(v, "linux/") && !strings.Contains(v, "darwin/") {
		t.Errorf("version: %q", v)
	}
}
