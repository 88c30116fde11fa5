package exampletest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// externalPackage matches the package clause of an external test package.
var externalPackage = regexp.MustCompile(`(?m)^package \w+_test$`)

// TestExamplesCompileInAnotherModule vets every external example file in
// a fresh module that imports gomerge as a user's would. It needs no
// network: GOPROXY=off, so gomerge's dependencies come from the module
// cache, which building gomerge filled; when they are not there the test
// skips.
func TestExamplesCompileInAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles every example package again")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	mod := t.TempDir()
	files := copyExamples(t, root, mod)
	if len(files) < 10 {
		t.Fatalf("found %d example files; the search lost some", len(files))
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(mod, "go.sum"), sum)
	write(t, filepath.Join(mod, "go.mod"), []byte("module example.com/gomergeuser\n\ngo 1.26\n\n"+
		"require github.com/gomerge/gomerge v0.0.0\n\nreplace github.com/gomerge/gomerge => "+root+"\n"))

	cmd := exec.Command(goBin, "vet", "./...")
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := out.String()
		if strings.Contains(msg, "GOPROXY=off") || strings.Contains(msg, "module lookup disabled") {
			t.Skipf("gomerge's dependencies are not in the module cache and the network is off:\n%s", msg)
		}
		t.Fatalf("go vet of the examples in a separate module: %v\n%s", err, msg)
	}
	t.Logf("vetted %d example files: %s", len(files), strings.Join(files, " "))
}

// copyExamples copies each example*_test.go file of an external test
// package under root into dst, one directory per package, and returns
// their paths relative to root.
func copyExamples(t *testing.T, root, dst string) []string {
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), "example") || !strings.HasSuffix(d.Name(), "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !externalPackage.Match(src) || strings.HasPrefix(rel, "internal"+string(filepath.Separator)) {
			return nil
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		files = append(files, rel)
		return os.WriteFile(filepath.Join(dst, rel), src, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
