package outdir

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var quiet = slog.New(slog.DiscardHandler)

// model makes a directory that looks like a Hugging Face model.
func model(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"config.json": "{}", "model.safetensors": "weights"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// write creates out through Create and commits it with one file.
func write(t *testing.T, out string, opt Options) error {
	t.Helper()
	opt.Logger = quiet
	d, err := Create(out, opt)
	if err != nil {
		return err
	}
	if err := d.WriteFile("model.safetensors", []byte("merged")); err != nil {
		t.Fatal(err)
	}
	return d.Commit()
}

func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	return link
}

func TestCreateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup returns OUT and the inputs, in root.
		setup     func(t *testing.T, root string) (string, []string)
		overwrite bool
		want      string
	}{
		{"output is an input", func(t *testing.T, root string) (string, []string) {
			in := model(t, filepath.Join(root, "ft1"))
			return in, []string{in}
		}, true, "overlaps input"},
		{"output inside an input", func(t *testing.T, root string) (string, []string) {
			in := model(t, filepath.Join(root, "ft1"))
			return filepath.Join(in, "sub", "out"), []string{in}
		}, true, "overlaps input"},
		{"output holds an input", func(t *testing.T, root string) (string, []string) {
			in := model(t, filepath.Join(root, "models", "ft1"))
			return filepath.Join(root, "models"), []string{in}
		}, true, "overlaps input"},
		{"output through a link to the parent", func(t *testing.T, root string) (string, []string) {
			in := model(t, filepath.Join(root, "ft1_bf16"))
			here := symlink(t, ".", filepath.Join(root, "here"))
			return filepath.Join(here, "ft1_bf16"), []string{in}
		}, true, "overlaps input"},
		{"input named through a link, output its target", func(t *testing.T, root string) (string, []string) {
			real := model(t, filepath.Join(root, "real"))
			link := symlink(t, real, filepath.Join(root, "link"))
			return real, []string{link}
		}, true, "overlaps input"},
		{"output a link to an input", func(t *testing.T, root string) (string, []string) {
			real := model(t, filepath.Join(root, "real"))
			return symlink(t, real, filepath.Join(root, "out")), []string{real}
		}, true, "overlaps input"},
		{"input file linked from inside the output", func(t *testing.T, root string) (string, []string) {
			blobs := model(t, filepath.Join(root, "blobs"))
			in := filepath.Join(root, "snapshot")
			os.Mkdir(in, 0o755)
			symlink(t, filepath.Join(blobs, "model.safetensors"), filepath.Join(in, "model.safetensors"))
			return blobs, []string{in}
		}, true, "reads through model.safetensors"},
		{"a model gomerge did not write", func(t *testing.T, root string) (string, []string) {
			return model(t, filepath.Join(root, "theirs")), nil
		}, false, "--overwrite"},
		{"a file, not a directory", func(t *testing.T, root string) (string, []string) {
			p := filepath.Join(root, "file")
			os.WriteFile(p, nil, 0o644)
			return p, nil
		}, true, "not a directory"},
		{"below a file", func(t *testing.T, root string) (string, []string) {
			p := filepath.Join(root, "file")
			os.WriteFile(p, nil, 0o644)
			return filepath.Join(p, "out"), nil
		}, true, "not a directory"},
		{"dangling link", func(t *testing.T, root string) (string, []string) {
			return symlink(t, filepath.Join(root, "gone"), filepath.Join(root, "out")), nil
		}, true, "cannot be reached"},
		{"empty path", func(t *testing.T, root string) (string, []string) { return "", nil }, true, "output path is empty"},
		{"blank path", func(t *testing.T, root string) (string, []string) { return "  ", nil }, true, "output path is empty"},
		{"the working directory's parent", func(t *testing.T, root string) (string, []string) {
			return filepath.Dir(mustGetwd(t)), nil
		}, true, "contains the current directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			out, inputs := tc.setup(t, root)
			before := snapshot(t, root)
			err := write(t, out, Options{Inputs: inputs, Overwrite: tc.overwrite})
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a refusal saying %q", err, tc.want)
			}
			if after := snapshot(t, root); !slices.Equal(before, after) {
				t.Errorf("files changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func mustGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// snapshot lists every path under root with its content or link target.
func snapshot(t *testing.T, root string) []string {
	t.Helper()
	var s []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		entry := p
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			entry += " -> " + target
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			entry += " = " + string(b)
		}
		s = append(s, entry)
		return nil
	})
	return s
}

func TestReplace(t *testing.T) {
	root := t.TempDir()
	out := filepath.Join(root, "out")
	for i := 0; i < 2; i++ {
		if err := write(t, out, Options{}); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if got := names(t, root); !slices.Equal(got, []string{"out"}) {
		t.Errorf("beside the output: %v", got)
	}
	if got := names(t, out); !slices.Equal(got, []string{MarkerName, "model.safetensors"}) {
		t.Errorf("output holds %v", got)
	}
	// A file of the user's in it stops the next run.
	os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
	if err := write(t, out, Options{}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "notes.txt") {
		t.Fatalf("err = %v", err)
	}
	if err := write(t, out, Options{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	// An empty directory may be used.
	empty := filepath.Join(root, "empty")
	os.Mkdir(empty, 0o755)
	if err := write(t, empty, Options{}); err != nil {
		t.Fatal(err)
	}
}

func TestReplaceThroughLink(t *testing.T) {
	root := t.TempDir()
	target := filepath.Join(root, "disk", "model")
	if err := write(t, target, Options{}); err != nil {
		t.Fatal(err)
	}
	link := symlink(t, target, filepath.Join(root, "out"))
	if err := write(t, link, Options{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi, err)
	}
	if got := names(t, filepath.Join(root, "disk")); !slices.Equal(got, []string{"model"}) {
		t.Errorf("beside the target: %v", got)
	}
}

func TestLegacyOutput(t *testing.T) {
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "model.safetensors"), nil, 0o644)
	card := "---\nlibrary_name: transformers\ntags:\n- mergekit\n- merge\n- gomerge\n\n---\n" +
		"This is a merge of pre-trained language models created using [gomerge](https://github.com/gomerge/gomerge)\n"
	os.WriteFile(filepath.Join(out, "README.md"), []byte(card), 0o644)
	if err := write(t, out, Options{}); err != nil {
		t.Fatalf("a merge of an earlier gomerge: %v", err)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range entries {
		n = append(n, e.Name())
	}
	return n
}

func TestAbort(t *testing.T) {
	root := t.TempDir()
	d, err := Create(filepath.Join(root, "out"), Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	d.WriteFile("x", []byte("x"))
	d.Abort()
	d.Abort()
	if got := names(t, root); len(got) != 0 {
		t.Errorf("left %v", got)
	}
	if err := d.Commit(); err == nil {
		t.Error("commit after abort succeeded")
	}
}

// staged leaves a staging directory as a run killed at a given point
// would: complete or not, the previous output moved aside or not.
func staged(t *testing.T, out string, complete, movedAside bool) (partial string) {
	t.Helper()
	d, err := Create(out, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	d.WriteFile("model.safetensors", []byte("new"))
	if complete {
		if err := d.writeMarker(); err != nil {
			t.Fatal(err)
		}
	}
	if movedAside {
		if err := os.Rename(out, d.tmp+oldSuffix); err != nil {
			t.Fatal(err)
		}
	}
	d.lock.release() // the writer dies
	return d.tmp
}

func TestRecover(t *testing.T) {
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	t.Run("incomplete staging removed, output kept", func(t *testing.T) {
		root := t.TempDir()
		out := filepath.Join(root, "out")
		write(t, out, Options{})
		partial := staged(t, out, false, false)
		os.WriteFile(filepath.Join(partial, "big"), make([]byte, 1<<20), 0o644)
		acts, err := Clean(out, quiet)
		if err != nil || len(acts) != 1 || acts[0].Did != "removed" || acts[0].Bytes < 1<<20 {
			t.Fatalf("acts %+v, err %v", acts, err)
		}
		if got := names(t, root); !slices.Equal(got, []string{"out"}) || read(filepath.Join(out, "model.safetensors")) != "merged" {
			t.Errorf("after: %v", got)
		}
	})
	t.Run("killed between the renames: commit finished", func(t *testing.T) {
		root := t.TempDir()
		out := filepath.Join(root, "out")
		write(t, out, Options{})
		staged(t, out, true, true)
		if _, err := os.Stat(out); err == nil {
			t.Fatal("setup: out still there")
		}
		acts, err := Clean(out, quiet)
		if err != nil || len(acts) != 2 || acts[0].Did != "finished commit" || acts[1].Did != "removed" {
			t.Fatalf("acts %+v, err %v", acts, err)
		}
		if got := names(t, root); !slices.Equal(got, []string{"out"}) || read(filepath.Join(out, "model.safetensors")) != "new" {
			t.Errorf("after: %v", got)
		}
	})
	t.Run("killed after the renames: old copy removed", func(t *testing.T) {
		root := t.TempDir()
		out := filepath.Join(root, "out")
		write(t, out, Options{})
		partial := staged(t, out, true, true)
		os.Rename(partial, out)
		acts, err := Clean(out, quiet)
		if err != nil || len(acts) != 1 || acts[0].Did != "removed" {
			t.Fatalf("acts %+v, err %v", acts, err)
		}
		if got := names(t, root); !slices.Equal(got, []string{"out"}) {
			t.Errorf("after: %v", got)
		}
	})
	t.Run("previous output put back when the new one is gone", func(t *testing.T) {
		root := t.TempDir()
		out := filepath.Join(root, "out")
		write(t, out, Options{})
		partial := staged(t, out, false, true)
		acts, err := Clean(out, quiet)
		if err != nil || len(acts) != 2 || acts[0].Did != "removed" || acts[1].Did != "restored" {
			t.Fatalf("acts %+v, err %v", acts, err)
		}
		_ = partial
		if got := names(t, root); !slices.Equal(got, []string{"out"}) || read(filepath.Join(out, "model.safetensors")) != "merged" {
			t.Errorf("after: %v", got)
		}
	})
	t.Run("a running writer is left alone", func(t *testing.T) {
		root := t.TempDir()
		out := filepath.Join(root, "out")
		d, err := Create(out, Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Abort()
		acts, err := Clean(out, quiet)
		if err != nil || len(acts) != 1 || acts[0].Did != "kept (writer running)" {
			t.Fatalf("acts %+v, err %v", acts, err)
		}
		if _, err := os.Stat(d.Tmp()); err != nil {
			t.Fatal(err)
		}
		d.WriteFile("model.safetensors", nil)
		if err := d.Commit(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the next Create recovers and logs", func(t *testing.T) {
		root := t.TempDir()
		out := filepath.Join(root, "out")
		staged(t, out, false, false)
		var logged strings.Builder
		d, err := Create(out, Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
		if err != nil {
			t.Fatal(err)
		}
		d.Abort()
		if !strings.Contains(logged.String(), "removed a staging directory") {
			t.Errorf("log: %q", logged.String())
		}
		if got := names(t, root); len(got) != 0 {
			t.Errorf("after: %v", got)
		}
	})
	t.Run("names that only look alike are not touched", func(t *testing.T) {
		root := t.TempDir()
		out := filepath.Join(root, "out")
		for _, n := range []string{".out.partial-abc", ".out.partial-", ".outx.partial-1", "out.partial-1"} {
			os.Mkdir(filepath.Join(root, n), 0o755)
		}
		acts, err := Clean(out, quiet)
		if err != nil || len(acts) != 0 || len(names(t, root)) != 4 {
			t.Fatalf("acts %+v, err %v, left %v", acts, err, names(t, root))
		}
	})
}

func ExampleCreate() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	d, err := Create(filepath.Join(dir, "merged"), Options{Tool: "example", Logger: quiet})
	if err != nil {
		panic(err)
	}
	defer d.Abort() // after Commit it does nothing
	if err := d.WriteFile("config.json", []byte("{}\n")); err != nil {
		panic(err)
	}
	if err := d.Commit(); err != nil {
		panic(err)
	}
	f, _ := os.Open(filepath.Join(dir, "merged", "config.json"))
	io.Copy(os.Stdout, f)
	f.Close()
	// Output: {}
}
