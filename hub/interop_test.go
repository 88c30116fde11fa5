package hub

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/hub/hubtest"
)

// TestPythonInterop checks that huggingface_hub and this package share a
// cache both ways, against the fake hub. It runs only when
// GOMERGE_HF_PYTHON names a Python that can import huggingface_hub, e.g.
//
//	GOMERGE_HF_PYTHON=python3 go test ./hub -run Interop -v
func TestPythonInterop(t *testing.T) {
	py := os.Getenv("GOMERGE_HF_PYTHON")
	if py == "" {
		t.Skip("GOMERGE_HF_PYTHON is not set")
	}
	s := hubtest.NewServer(t)
	files := testModel(t)
	commit := s.AddRepo(repoID, files)
	run := func(cache, code string) string {
		t.Helper()
		cmd := exec.Command(py, "-c", "import sys\nfrom huggingface_hub import snapshot_download, hf_hub_download\n"+
			"patterns = "+pyList(mergeNeeds)+"\n"+code)
		cmd.Env = append(os.Environ(), "HF_ENDPOINT="+s.URL, "HF_HUB_CACHE="+cache, "HF_HUB_DISABLE_TELEMETRY=1", "HF_TOKEN=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1]
	}

	// Python downloads; gomerge, offline, finds the snapshot.
	pyCache := t.TempDir()
	pyDir := run(pyCache, "print(snapshot_download('"+repoID+"', allow_patterns=patterns))")
	c := testClient(t, s)
	c.CacheDir, c.Offline = pyCache, true
	dir, err := c.Resolve(context.Background(), repoID, "main", nil)
	if err != nil || dir != pyDir {
		t.Fatalf("gomerge on Python's cache: %s, %v; Python said %s", dir, err, pyDir)
	}
	checkSnapshot(t, c, commit, dir, files, mergeNeeds)

	// gomerge downloads; Python finds it offline, and online downloads nothing.
	c = testClient(t, s)
	dir, err = c.Resolve(context.Background(), repoID, "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := run(c.CacheDir, "print(snapshot_download('"+repoID+"', allow_patterns=patterns, local_files_only=True))"); got != dir {
		t.Errorf("Python offline on gomerge's cache: %s, want %s", got, dir)
	}
	if got := run(c.CacheDir, "print(hf_hub_download('"+repoID+"', 'model-00001-of-00002.safetensors', local_files_only=True))"); !strings.HasPrefix(got, dir) {
		t.Errorf("hf_hub_download offline: %s", got)
	}
	s.ResetCounters()
	if got := run(c.CacheDir, "print(snapshot_download('"+repoID+"', allow_patterns=patterns))"); got != dir {
		t.Errorf("Python online on gomerge's cache: %s, want %s", got, dir)
	}
	for _, n := range mergeNeeds {
		if b := s.BytesServed(n); b != 0 {
			t.Errorf("Python downloaded %s again (%d bytes)", n, b)
		}
	}
}

func pyList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = "'" + x + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}
