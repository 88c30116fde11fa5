package merge

import (
	"archive/zip"
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPyTorchCheckpointInput merges a model stored as pytorch_model.bin
// (saved by PyTorch 1.13) with its safetensors twin: equal models, so the
// linear merge must give the safetensors model's bytes back.
func TestPyTorchCheckpointInput(t *testing.T) {
	bin, _ := filepath.Abs("../testdata/torch/ft2_bin")
	st, _ := filepath.Abs("../testdata/golden/models/ft2_f32")
	out := filepath.Join(t.TempDir(), "out")
	yml := "merge_method: linear\ndtype: float32\nmodels:\n  - model: " + bin + "\n    parameters: {weight: 1}\n  - model: " + st + "\n    parameters: {weight: 1}\n"
	if _, err := runYAML(t, t.TempDir(), yml, out, Options{}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(out, "model.safetensors"))
	want := filepath.Join(t.TempDir(), "want")
	yml2 := "merge_method: passthrough\ndtype: float32\nmodels:\n  - model: " + st + "\n"
	if _, err := runYAML(t, t.TempDir(), yml2, want, Options{}); err != nil {
		t.Fatal(err)
	}
	exp, _ := os.ReadFile(filepath.Join(want, "model.safetensors"))
	if len(got) == 0 || string(got) != string(exp) {
		t.Error("merging the .bin with its safetensors twin did not give the model back")
	}
	// The malicious pickle is refused at plan time, naming the file.
	evil, _ := filepath.Abs("../testdata/torch/malicious_bin")
	yml3 := "merge_method: passthrough\nmodels:\n  - model: " + evil + "\n"
	_, err := runYAML(t, t.TempDir(), yml3, filepath.Join(t.TempDir(), "x"), Options{})
	if err == nil {
		t.Fatal("malicious checkpoint accepted")
	}
	if _, serr := os.Stat("/tmp/gomerge-pwned"); serr == nil {
		t.Fatal("/tmp/gomerge-pwned exists")
	}
	t.Log(err)
}

// TestPyTorchSkippedEntries: a checkpoint entry that is not a tensor (an
// optimizer step count) is left out, and the plan says so in a warning,
// which Execute logs through the caller's logger.
func TestPyTorchSkippedEntries(t *testing.T) {
	src := "../testdata/torch/ft2_bin"
	dir := filepath.Join(t.TempDir(), "ft2_bin")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	zr, err := zip.OpenReader(filepath.Join(src, "pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f.Name, "/data.pkl") {
			// Before STOP: state_dict["step"] = 7 (BINUNICODE, BININT1, SETITEM).
			if b[len(b)-1] != '.' {
				t.Fatalf("%s does not end in STOP", f.Name)
			}
			b = append(b[:len(b)-1:len(b)-1], 'X', 4, 0, 0, 0, 's', 't', 'e', 'p', 'K', 7, 's', '.')
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "pytorch_model.bin"), buf.Bytes(), 0o644)

	var log bytes.Buffer
	yml := "merge_method: passthrough\ndtype: float32\nmodels:\n  - model: " + dir + "\n"
	opt := Options{Logger: slog.New(slog.NewTextHandler(&log, nil))}
	if _, err := runYAML(t, t.TempDir(), yml, filepath.Join(t.TempDir(), "out"), opt); err != nil {
		t.Fatal(err)
	}
	want := "model " + dir + ": skipped state dict entries that are not tensors: step"
	if !strings.Contains(log.String(), want) {
		t.Errorf("log\n%s\nlacks %q", log.String(), want)
	}
}
