package merge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/hub/hubtest"
	"github.com/gomerge/gomerge/safetensors"
)

func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

// TestHubModels merges models named by hub ids through a fake hub: the
// result equals the merge of the local copies, a headers-only plan fetches
// no weight bytes, and a LoRA adapter repository works as "+org/adapter".
func TestHubModels(t *testing.T) {
	srv := hubtest.NewServer(t)
	golden := "../testdata/golden/models"
	srv.AddRepo("acme/base", dirFiles(t, filepath.Join(golden, "base_f32")))
	srv.AddRepo("acme/ft1", dirFiles(t, filepath.Join(golden, "ft1_f32")))
	client := &hub.Client{Endpoint: srv.URL, CacheDir: t.TempDir()}
	yml := "merge_method: task_arithmetic\nbase_model: acme/base\ndtype: float32\nmodels:\n  - model: acme/ft1\n    parameters: {weight: 0.5}\n"
	cfg, err := ParseConfig([]byte(yml), "hub.yml")
	if err != nil {
		t.Fatal(err)
	}

	plan, err := NewPlan(cfg, PlanOptions{Hub: client, HeadersOnly: true, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Tasks) == 0 {
		t.Fatal("no tasks")
	}
	plan.Close()
	if n := srv.BytesServed("model.safetensors"); n > 1<<17 {
		t.Errorf("headers-only plan fetched %d bytes of model.safetensors", n)
	}

	out := filepath.Join(t.TempDir(), "out")
	if _, err := runYAML(t, t.TempDir(), yml, out, Options{PlanOptions: PlanOptions{Hub: client}}); err != nil {
		t.Fatal(err)
	}
	localYML := strings.NewReplacer("acme/base", filepath.Join(mustAbs(t, golden), "base_f32"), "acme/ft1", filepath.Join(mustAbs(t, golden), "ft1_f32")).Replace(yml)
	want := filepath.Join(t.TempDir(), "want")
	if _, err := runYAML(t, t.TempDir(), localYML, want, Options{}); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(out, "model.safetensors"))
	b, _ := os.ReadFile(filepath.Join(want, "model.safetensors"))
	if len(a) == 0 || string(a) != string(b) {
		t.Error("merging hub models differs from merging their local copies")
	}

	// Without a client, a hub id is an error that says so.
	_, err = runYAML(t, t.TempDir(), yml, filepath.Join(t.TempDir(), "x"), Options{})
	if err == nil || !strings.Contains(err.Error(), "hub downloads are off") {
		t.Errorf("err = %v", err)
	}
	// A missing repository names the model.
	bad := strings.Replace(yml, "acme/ft1", "acme/nope", 1)
	_, err = runYAML(t, t.TempDir(), bad, filepath.Join(t.TempDir(), "x"), Options{PlanOptions: PlanOptions{Hub: client}})
	if err == nil || !strings.Contains(err.Error(), "acme/nope") {
		t.Errorf("err = %v", err)
	}

	// A LoRA adapter from the hub.
	srv.AddRepo("acme/llama", dirFiles(t, "../testdata/ref/eval/models/llama"))
	srv.AddRepo("acme/dora", dirFiles(t, "../testdata/ref/lora/dora/adapter"))
	lyml := "merge_method: passthrough\ndtype: float32\nmodels:\n  - model: acme/llama+acme/dora\n"
	lout := filepath.Join(t.TempDir(), "lora")
	if _, err := runYAML(t, t.TempDir(), lyml, lout, Options{PlanOptions: PlanOptions{Hub: client}}); err != nil {
		t.Fatal(err)
	}
	got, err := safetensors.OpenModel(lout)
	if err != nil {
		t.Fatal(err)
	}
	got.Close()
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
