package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeviceFlags runs a TIES merge with each --device choice. Without the
// cuda build tag, cuda is refused with exit 2 by every command that takes
// it; auto merges on the CPU with a one-line notice. In a cuda build,
// cuda and auto merge on the GPU when one opens (GOMERGE_REQUIRE_CUDA=1
// demands it) and every output has the CPU's bytes.
func TestDeviceFlags(t *testing.T) {
	models(t)
	writeConfig(t, "merge_method: ties\nbase_model: base\nmodels:\n  - model: ft\n    parameters: {weight: 0.7, density: 0.5}\n  - model: base\n    parameters: {weight: 0.3, density: 0.5}\n")
	merge := func(out string, flags ...string) (int, string) {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"config.yml", out, "--quiet", "--random-seed", "1"}, flags...), &stdout, &stderr)
		return code, stderr.String()
	}
	if code, errs := merge("cpu", "--device", "cpu"); code != exitOK {
		t.Fatalf("--device cpu: exit %d: %s", code, errs)
	}
	gpu := os.Getenv("GOMERGE_REQUIRE_CUDA") == "1"
	for _, flags := range [][]string{{"--device", "cuda"}, {"--cuda"}} {
		out := "out" + strings.Join(flags, "")
		code, errs := merge(out, flags...)
		switch {
		case !cudaBuilt:
			if code != exitUsage || !strings.Contains(errs, "gomerge: built without CUDA support (rebuild with -tags cuda)") {
				t.Errorf("%v: exit %d, stderr %q", flags, code, errs)
			}
		case gpu:
			if code != exitOK {
				t.Fatalf("%v on a GPU: exit %d: %s", flags, code, errs)
			}
			sameDir(t, "cpu", out)
		default: // a cuda build without a GPU
			if code != exitFailed || !strings.Contains(errs, "cuda") {
				t.Errorf("%v without a GPU: exit %d, stderr %q", flags, code, errs)
			}
		}
	}
	code, errs := merge("auto", "--device", "auto")
	if code != exitOK {
		t.Fatalf("--device auto: exit %d: %s", code, errs)
	}
	sameDir(t, "cpu", "auto")
	if notice := strings.Count(errs, "--device auto:"); gpu && notice != 0 || !gpu && notice != 1 {
		t.Errorf("--device auto printed %d notices: %q", notice, errs)
	}
	if !cudaBuilt {
		for _, args := range [][]string{
			{"eval", "--task", "x", "--device", "cuda", "model"},
			{"chat", "--device", "cuda", "config.yml"},
			{"evolve", "--storage-path", "s", "--merge-cuda", "evolve.yml"},
			{"worker", "--nats", "nats://127.0.0.1:1", "--device", "cuda"},
			{"moe", "config.yml", "o", "--device", "cuda"},
		} {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), args, &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "rebuild with -tags cuda") {
				t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
			}
		}
	}
}

// sameDir fails unless the model files of directories a and b are equal.
func sameDir(t *testing.T, a, b string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(a, "*.safetensors"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no safetensors in %s (%v)", a, err)
	}
	for _, f := range files {
		x, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, filepath.Base(f)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between %s and %s", filepath.Base(f), a, b)
		}
	}
}
