package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/hub/hubtest"
)

func TestExtractLoRACommand(t *testing.T) {
	models, _ := filepath.Abs("../../testdata/golden/models")
	out := filepath.Join(t.TempDir(), "adapter")
	var stdout, stderr bytes.Buffer
	args := []string{"extract-lora", "--model", filepath.Join(models, "ft1_bf16"), "--base-model", filepath.Join(models, "base_bf16"),
		"--out-path", out, "--max-rank", "8", "--no-distribute-scale", "-e", "mlp", "--json", "--lora-merge-cache", "/tmp/x"}
	if code := run(context.Background(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var res struct {
		Rank  int
		Ranks map[string]int
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if res.Rank != 8 || len(res.Ranks) != 4*4 {
		t.Errorf("rank %d, %d modules; want 8 and 16 (attention only, mlp excluded)", res.Rank, len(res.Ranks))
	}
	for name := range res.Ranks {
		if strings.Contains(name, "mlp") {
			t.Errorf("excluded module %s was decomposed", name)
		}
	}
	for _, f := range []string{"adapter_model.safetensors", "adapter_config.json", "README.md"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	// Missing required flags are a usage error.
	stderr.Reset()
	if code := run(context.Background(), []string{"extract-lora", "--model", "x"}, &stdout, &stderr); code != exitUsage {
		t.Errorf("exit %d for missing flags, want %d", code, exitUsage)
	}
}

func TestMultiCommandUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"multi", "config.yml"}, &stdout, &stderr); code != exitUsage {
		t.Errorf("exit %d without --intermediate-dir, want %d", code, exitUsage)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "m.yml")
	os.WriteFile(cfg, []byte("name: a\nmerge_method: passthrough\nmodels: [{model: b}]\n---\nname: b\nmerge_method: passthrough\nmodels: [{model: a}]\n"), 0o644)
	stderr.Reset()
	if code := run(context.Background(), []string{"multi", cfg, "-I", dir}, &stdout, &stderr); code != exitFailed || !strings.Contains(stderr.String(), "circular") {
		t.Errorf("exit %d, stderr %q; want a circular-dependency failure", code, stderr.String())
	}
}

// TestHubPlanAndMerge runs `gomerge plan` and a merge on models named by
// hub ids, served by a fake hub through HF_ENDPOINT, into HF_HUB_CACHE.
func TestHubPlanAndMerge(t *testing.T) {
	srv := hubtest.NewServer(t)
	models, _ := filepath.Abs("../../testdata/golden/models")
	for _, m := range []string{"base_f32", "ft1_f32"} {
		files := map[string][]byte{}
		entries, _ := os.ReadDir(filepath.Join(models, m))
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(models, m, e.Name()))
			files[e.Name()] = b
		}
		srv.AddRepo("acme/"+m, files)
	}
	t.Setenv("HF_ENDPOINT", srv.URL)
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_TOKEN", "")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yml")
	os.WriteFile(cfg, []byte("merge_method: linear\ndtype: float32\nmodels:\n  - model: acme/base_f32\n    parameters: {weight: 1}\n  - model: acme/ft1_f32\n    parameters: {weight: 1}\n"), 0o644)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"plan", cfg, "--json"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("plan: exit %d: %s", code, stderr.String())
	}
	if n := srv.BytesServed("model.safetensors"); n > 1<<17 {
		t.Errorf("plan fetched %d weight bytes", n)
	}
	out := filepath.Join(dir, "out")
	if code := run(context.Background(), []string{cfg, out, "--quiet"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("merge: exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	// Offline, the cache serves the same merge without the hub.
	srv.Close()
	out2 := filepath.Join(dir, "out2")
	if code := run(context.Background(), []string{cfg, out2, "--quiet", "--offline"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("offline merge: exit %d: %s", code, stderr.String())
	}
}
