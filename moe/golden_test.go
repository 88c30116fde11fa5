package moe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

// goldenModels is where the golden configs' model paths resolve.
const goldenModels = "../testdata/golden"

type goldenManifest struct {
	Architecture string
	Tensors      []struct {
		Name   string
		Shape  []int64
		DType  string
		SHA256 string
		Kind   string
	}
}

// TestGolden builds each mergekit-moe reference case in the v5 layout and
// compares every tensor's name, shape and dtype, the bytes of every
// copied, fused and zero tensor, and the architecture's config.json
// fields with mergekit's output.
func TestGolden(t *testing.T) {
	cases, _ := filepath.Glob("testdata/golden/*/manifest.json")
	if len(cases) == 0 {
		t.Fatal("no golden cases")
	}
	for _, mpath := range cases {
		dir := filepath.Dir(mpath)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var man goldenManifest
			raw, err := os.ReadFile(mpath)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &man); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(filepath.Join(dir, "config.yml"))
			if err != nil {
				t.Fatal(err)
			}
			popt := PlanOptions{Layout: LayoutV5}
			popt.Dir = goldenModels
			pl, err := NewPlan(context.Background(), cfg, popt)
			if err != nil {
				t.Fatal(err)
			}
			defer pl.Close()
			out := t.TempDir()
			if _, err := Build(context.Background(), pl, out, Options{Seed: 42}); err != nil {
				t.Fatal(err)
			}
			data, infos := readAll(t, out)
			if len(data) != len(man.Tensors) {
				t.Errorf("%d tensors, mergekit wrote %d", len(data), len(man.Tensors))
			}
			for _, want := range man.Tensors {
				info, ok := infos[want.Name]
				if !ok {
					t.Errorf("missing %s", want.Name)
					continue
				}
				dt, _ := tensor.ParseDType(string(info.DType))
				if dt.TorchName() != want.DType || !shapeEq(info.Shape, want.Shape) {
					t.Errorf("%s: %s%v, want %s%v", want.Name, dt.TorchName(), info.Shape, want.DType, want.Shape)
					continue
				}
				if strings.HasPrefix(want.Kind, "copy") || strings.HasPrefix(want.Kind, "fused") || strings.HasPrefix(want.Kind, "zeros") {
					sum := sha256.Sum256(data[want.Name])
					if hex.EncodeToString(sum[:]) != want.SHA256 {
						t.Errorf("%s (%s): bytes differ from mergekit's", want.Name, want.Kind)
					}
				}
			}
			var ref map[string]any
			raw, err = os.ReadFile(filepath.Join(dir, "output_config.json"))
			if err != nil {
				t.Fatal(err)
			}
			json.Unmarshal(raw, &ref)
			got := readConfig(t, out)
			for k, v := range ref {
				if k == "transformers_version" {
					continue
				}
				if g, _ := json.Marshal(got[k]); string(g) != mustJSON(v) {
					t.Errorf("config.json %s = %s, mergekit wrote %s", k, g, mustJSON(v))
				}
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
