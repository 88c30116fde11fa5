package merge

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
)

// TestRealConfigsNotDegenerate plans the example configs and the model-card
// configs of ../shared/testdata/configs on tiny stand-ins for their models
// and checks that none is refused as degenerate.
func TestRealConfigsNotDegenerate(t *testing.T) {
	var files []string
	for _, glob := range []string{"../examples/*.yml", "../../shared/testdata/configs/*.yml"} {
		m, _ := filepath.Glob(glob)
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no example configs")
	}
	planned := 0
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := ParseConfig(data, filepath.Base(f))
			if err != nil {
				t.Skipf("not a merge config: %v", err)
			}
			dir := t.TempDir()
			layers := 4
			for _, s := range cfg.Slices {
				for _, src := range s.Sources {
					if src.LayerRange != nil {
						layers = max(layers, src.LayerRange[1])
					}
				}
			}
			written := map[string]bool{}
			for _, r := range cfg.modelRefs() {
				r.LoRA, r.Revision = nil, ""
				r.Path = strings.NewReplacer("/", "_", ".", "_").Replace(r.Path)
				if !written[r.Path] {
					written[r.Path] = true
					seed := uint64(len(written))
					testmodel.Must(t.Fatal, filepath.Join(dir, r.Path), testmodel.Spec{Seed: 1, Delta: 0.01, DeltaSeed: seed, Layers: layers})
				}
			}
			cfg.Tokenizer, cfg.TokenizerSource = nil, nil
			p, err := NewPlan(cfg, PlanOptions{Dir: dir})
			if errors.Is(err, ErrDegenerate) {
				t.Fatal(err)
			}
			if err != nil {
				t.Skipf("cannot be planned on stand-ins: %v", err)
			}
			p.Close()
			planned++
		})
	}
	if planned == 0 {
		t.Error("no config could be planned")
	}
	t.Logf("%d of %d configs planned", planned, len(files))
}
