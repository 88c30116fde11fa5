package merge

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
)

// TestExecuteInputTruncated cuts an input file after the plan has opened
// it: the merge must fail with an error, mapped, reread or held, and
// leave no output behind.
func TestExecuteInputTruncated(t *testing.T) {
	for _, method := range []string{"linear", "ties", "passthrough"} {
		for _, access := range []inputAccess{accessReread, accessMap, accessCopy} {
			t.Run(method+" "+access.String(), func(t *testing.T) {
				defer func(v bool, a inputAccess) { noMmap, heldAccess = v, a }(noMmap, heldAccess)
				noMmap, heldAccess = access == accessCopy, access
				dir := t.TempDir()
				testmodel.Must(t.Fatal, filepath.Join(dir, "base"), testmodel.Spec{Seed: 1})
				testmodel.Must(t.Fatal, filepath.Join(dir, "ft"), testmodel.Spec{Seed: 1, Delta: 0.01, DeltaSeed: 2})
				yml := "merge_method: " + method + "\nbase_model: base\nmodels:\n  - model: ft\n    parameters: {weight: 1, density: 0.5}\n  - model: base\n    parameters: {weight: 1}\ndtype: bfloat16\n"
				if method == "passthrough" {
					yml = "merge_method: passthrough\nslices:\n  - sources:\n      - model: ft\n        layer_range: [0, 4]\n"
				}
				cfg, err := ParseConfig([]byte(yml), "config.yml")
				if err != nil {
					t.Fatal(err)
				}
				plan, err := NewPlan(cfg, PlanOptions{Dir: dir})
				if err != nil {
					t.Fatal(err)
				}
				defer plan.Close()
				st := filepath.Join(dir, "ft", "model.safetensors")
				fi, err := os.Stat(st)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(st, fi.Size()/3); err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(dir, "out")
				_, err = Execute(context.Background(), plan, out, Options{Threads: 2, Seed: new(uint64(1))})
				if err == nil {
					t.Fatal("merge of a truncated input succeeded")
				}
				t.Log(err)
				if msg := err.Error(); !strings.Contains(msg, "ft") || !strings.Contains(msg, "truncated") && !strings.Contains(msg, "EOF") {
					t.Errorf("error does not name the file or the cause: %v", err)
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("output left behind: %v", err)
				}
			})
		}
	}
}
