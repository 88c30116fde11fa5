package merge

import (
	"strings"
	"testing"
)

// TestDensityRange checks the planner on densities outside [0, 1]: a
// negative one is a config error at the model's line (mergekit fails on
// it), one above 1 a single warning per model (it keeps everything, as 1
// does); 0 and 1 pass silently. Warnings carry one "file:line:col: "
// prefix.
func TestDensityRange(t *testing.T) {
	dir := tinyModels(t)
	for _, c := range []struct {
		name, method, d1, d2 string
		err                  string
		warnings             int
	}{
		{"negative", "ties", "-0.5", "0.5", "config.yml:4:5: density -0.5 for ft1", 0},
		{"negative dare second model", "dare_ties", "0.5", "-1e-9", "config.yml:6:5: density -1e-09 for ft2", 0},
		{"above 1", "dare_linear", "1.5", "0.5", "", 1},
		{"both above 1", "breadcrumbs_ties", "2", "1.01", "", 2},
		{"bounds", "ties", "0", "1", "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			yml := "merge_method: " + c.method + "\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: {weight: 0.5, density: " + c.d1 + "}\n" +
				"  - model: ft2\n    parameters: {weight: 0.5, density: " + c.d2 + "}\n"
			plan, err := planYAML(t, dir, yml)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want it to contain %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer plan.Close()
			n := 0
			for _, w := range plan.Warnings {
				if strings.Contains(w, "above 1") {
					n++
					if !strings.HasPrefix(w, "config.yml:") || strings.Contains(w, ": :") {
						t.Errorf("warning %q: want one file:line:col prefix", w)
					}
				}
			}
			if n != c.warnings {
				t.Errorf("%d density warnings, want %d: %q", n, c.warnings, plan.Warnings)
			}
		})
	}
}
