package merge

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const threeStages = `name: blend
merge_method: linear
dtype: float32
models:
  - model: MODELS/ft1_f32
    parameters: {weight: 0.5}
  - model: MODELS/ft2_f32
    parameters: {weight: 0.5}
---
merge_method: task_arithmetic
base_model: MODELS/base_f32
dtype: float32
models:
  - model: tuned
    parameters: {weight: 0.7}
  - model: blend
    parameters: {weight: 0.3}
---
name: tuned
merge_method: slerp
base_model: blend
dtype: float32
parameters: {t: 0.3}
models:
  - model: blend
  - model: MODELS/ft3_f32
`

func TestMultiStage(t *testing.T) {
	models, _ := filepath.Abs("../testdata/golden/models")
	stages, err := ParseMultiConfig([]byte(strings.ReplaceAll(threeStages, "MODELS", models)), "multi.yml")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	mo := MultiOptions{IntermediateDir: filepath.Join(tmp, "inter"), OutPath: filepath.Join(tmp, "final"), Lazy: true}
	res, err := RunMulti(context.Background(), stages, mo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range res {
		order = append(order, r.Name)
		if r.Skipped {
			t.Errorf("stage %s skipped on the first run", r.Name)
		}
	}
	if got := strings.Join(order, ","); got != "blend,tuned,final merge" {
		t.Fatalf("order %s", got)
	}
	for _, d := range []string{"inter/blend", "inter/tuned", "final"} {
		if !modelComplete(filepath.Join(tmp, d)) {
			t.Errorf("%s is not a complete model", d)
		}
	}
	// A second run redoes only what is missing.
	if err := os.RemoveAll(filepath.Join(tmp, "inter/tuned")); err != nil {
		t.Fatal(err)
	}
	stages, _ = ParseMultiConfig([]byte(strings.ReplaceAll(threeStages, "MODELS", models)), "multi.yml")
	res, err = RunMulti(context.Background(), stages, mo, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Skipped != (r.Name != "tuned") {
			t.Errorf("stage %s skipped=%v on the second run", r.Name, r.Skipped)
		}
	}
	// mergekit_config.yml holds the stage's own config, without name:.
	raw, err := os.ReadFile(filepath.Join(tmp, "inter/blend/mergekit_config.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "name:") || !strings.Contains(string(raw), "merge_method: linear") {
		t.Errorf("mergekit_config.yml:\n%s", raw)
	}
}

func TestMultiStageErrors(t *testing.T) {
	doc := func(name, model string) string {
		s := "merge_method: passthrough\nmodels: [{model: " + model + "}]\n"
		if name != "" {
			s = "name: " + name + "\n" + s
		}
		return s
	}
	cases := []struct {
		name, yml, out, want string
	}{
		{"cycle", doc("a", "b") + "---\n" + doc("b", "a"), "", "circular dependency: a -> b -> a"},
		{"self", doc("a", "a"), "", `stage "a" reads its own output`},
		{"duplicate", doc("a", "x") + "---\n" + doc("a", "y"), "", `two stages are named "a"`},
		{"two finals", doc("", "x") + "---\n" + doc("", "y"), "o", "more than one stage has no name"},
		{"no out path", doc("a", "x") + "---\n" + doc("", "a"), "", "--out-path is required"},
		{"bad name", doc("../x", "y"), "", "plain directory name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stages, err := ParseMultiConfig([]byte(c.yml), "m.yml")
			if err == nil {
				_, err = RunMulti(context.Background(), stages, MultiOptions{IntermediateDir: t.TempDir(), OutPath: c.out}, Options{})
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	// Errors inside a document name its line.
	_, err := ParseMultiConfig([]byte(doc("a", "x")+"---\nname: b\nmerge_method: linear\nmodels: 3\n"), "m.yml")
	if err == nil || !strings.Contains(err.Error(), "m.yml:7:") {
		t.Fatalf("err = %v, want one at m.yml:7", err)
	}
}

// TestMultiStream streams a stage read by one other stage instead of
// writing it: the final model is byte-identical, the stage's directory is
// never made.
func TestMultiStream(t *testing.T) {
	models, _ := filepath.Abs("../testdata/golden/models")
	run := func(stream bool) (string, []StageResult) {
		stages, err := ParseMultiConfig([]byte(strings.ReplaceAll(threeStages, "MODELS", models)), "multi.yml")
		if err != nil {
			t.Fatal(err)
		}
		tmp := t.TempDir()
		mo := MultiOptions{IntermediateDir: filepath.Join(tmp, "inter"), OutPath: filepath.Join(tmp, "final"), Lazy: true, Stream: stream}
		res, err := RunMulti(context.Background(), stages, mo, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return tmp, res
	}
	plain, _ := run(false)
	streamed, res := run(true)
	for _, r := range res {
		if r.Streamed != (r.Name == "tuned") {
			t.Errorf("stage %s streamed=%v", r.Name, r.Streamed)
		}
	}
	if _, err := os.Stat(filepath.Join(streamed, "inter/tuned")); err == nil {
		t.Error("the streamed stage was written")
	}
	a, _ := os.ReadFile(filepath.Join(plain, "final/model.safetensors"))
	b, _ := os.ReadFile(filepath.Join(streamed, "final/model.safetensors"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("streaming the intermediate changed the final model")
	}
}
