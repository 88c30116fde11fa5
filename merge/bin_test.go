package merge

import (
	"os"
	"path/filepath"
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
