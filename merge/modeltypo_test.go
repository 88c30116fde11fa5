package merge

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gomerge/gomerge/hub"
)

// TestMisspelledLocalModel checks how a model path that names nothing is
// looked up: one within two edits of a model directory beside it fails at
// once with a did-you-mean and no hub request; owner/name whose owner is
// a local directory still asks the hub, and the hub's error says that the
// local path does not exist; other names go to the hub as before.
func TestMisspelledLocalModel(t *testing.T) {
	dir := tinyModels(t)
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "ft2"), filepath.Join(dir, "models", "ft2")); err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		http.Error(w, `{"error":"Repository not found"}`, http.StatusNotFound)
	}))
	defer srv.Close()
	client := &hub.Client{Endpoint: srv.URL, CacheDir: t.TempDir()}
	for _, c := range []struct {
		name, model string
		hubAsked    bool
		want        []string
	}{
		{"one edit", "ft11", false, []string{"no such directory", "did you mean " + filepath.Join(dir, "ft1") + "?"}},
		{"case and edit", "FT_1", false, []string{"did you mean " + filepath.Join(dir, "ft1") + "?"}},
		{"in a subdirectory", "models/ft3", false, []string{"did you mean " + filepath.Join(dir, "models", "ft2") + "?"}},
		{"owner is a directory", "models/qwenn-chat", true, []string{filepath.Join(dir, "models") + " is a directory here, but there is no qwenn-chat in it"}},
		{"hub id", "acme/ft1", true, []string{"acme/ft1"}},
		{"far from any model", "nowhere-at-all", true, []string{"nowhere-at-all"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			asked.Store(0)
			yml := "merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: 1}\n  - model: " + c.model + "\n    parameters: {weight: 1}\n"
			cfg, err := ParseConfig([]byte(yml), "config.yml")
			if err != nil {
				t.Fatal(err)
			}
			_, err = NewPlan(cfg, PlanOptions{Dir: dir, Hub: client})
			if err == nil {
				t.Fatal("plan of a missing model succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if got := asked.Load() > 0; got != c.hubAsked {
				t.Errorf("hub asked: %v, want %v (%d requests)", got, c.hubAsked, asked.Load())
			}
			if !c.hubAsked && strings.Contains(err.Error(), "did you mean") && strings.Count(err.Error(), "did you mean") != 1 {
				t.Errorf("several suggestions: %v", err)
			}
		})
	}
}
