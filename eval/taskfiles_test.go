package eval

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gomerge/gomerge/internal/regfile"
)

// TestLoadTaskDatasetPath: a relative dataset_path is relative to the task
// file, an absolute one is used as it is, and errors name the path as it
// resolves, leading slash included.
func TestLoadTaskDatasetPath(t *testing.T) {
	items, err := os.ReadFile("testdata/wahr_falsch.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	data := filepath.Join(root, "data", "items.jsonl")
	tasks := filepath.Join(root, "tasks")
	for _, d := range []string{filepath.Dir(data), tasks, filepath.Join(root, "data", "dir.jsonl")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(data, items, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(root, "secret", "shadow")
	tests := []struct {
		name, ref string
		err       string // "" = loads the two documents
	}{
		{"absolute", data, ""},
		{"relative upwards", "../data/items.jsonl", ""},
		{"missing absolute", missing, "open " + missing + ": no such file"},
		{"missing relative", "nope.jsonl", "open " + filepath.Join(tasks, "nope.jsonl") + ": no such file"},
		{"directory", "../data/dir.jsonl", filepath.Join(root, "data", "dir.jsonl") + ": not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			yml := filepath.Join(tasks, "t.yaml")
			if err := os.WriteFile(yml, []byte("output_type: multiple_choice\ndataset_path: "+tc.ref+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			task, err := LoadTask(yml)
			if tc.err == "" {
				if err != nil || len(task.Docs) != 2 {
					t.Fatalf("LoadTask: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func TestLoadTaskFSDatasetPath(t *testing.T) {
	items, err := os.ReadFile("testdata/wahr_falsch.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{"data/items.jsonl": {Data: items}, "x/dir.jsonl/a": {}}
	tests := []struct{ ref, err string }{
		{"../data/items.jsonl", ""},
		{"/data/items.jsonl", `"/data/items.jsonl" is an absolute path`},
		{"../../data/items.jsonl", `"../../data/items.jsonl" leaves the task's file system`},
		{"dir.jsonl", "x/dir.jsonl: not a regular file"},
	}
	for _, tc := range tests {
		fsys["x/t.yaml"] = &fstest.MapFile{Data: []byte("output_type: multiple_choice\ndataset_path: " + tc.ref + "\n")}
		task, err := LoadTaskFS(fsys, "x/t.yaml")
		if tc.err == "" {
			if err != nil || len(task.Docs) != 2 {
				t.Errorf("%s: %v", tc.ref, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err = %v, want %q", tc.ref, err, tc.err)
		}
	}
}

// TestLoadTaskNotRegular: a task file that is a device is refused, not
// read without end.
func TestLoadTaskNotRegular(t *testing.T) {
	if _, err := os.Stat(os.DevNull); err != nil {
		t.Skip(err)
	}
	p := filepath.Join(t.TempDir(), "t.jsonl")
	if err := os.Symlink(os.DevNull, p); err != nil {
		t.Skip(err)
	}
	if _, err := LoadTask(p); !errors.Is(err, regfile.ErrNotRegular) {
		t.Errorf("err = %v, want %v", err, regfile.ErrNotRegular)
	}
}
