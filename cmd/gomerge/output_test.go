package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomerge/gomerge/internal/outdir"
	"github.com/gomerge/gomerge/internal/testmodel"
)

// TestMain lets the test binary stand in for gomerge: with
// GOMERGE_TEST_RUN_MAIN=1 it runs main on its own arguments (TestSignals);
// with GOMERGE_TEST_MAIN=1 on GOMERGE_TEST_ARGS, and GOMERGE_CRASH_AT=STEP
// kills it with SIGKILL at that step of the output's commit (crash tests).
func TestMain(m *testing.M) {
	if os.Getenv("GOMERGE_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(exitOK)
	}
	if os.Getenv("GOMERGE_TEST_MAIN") == "1" {
		if step := os.Getenv("GOMERGE_CRASH_AT"); step != "" {
			outdir.CrashHook = func(s string) {
				if s == step {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
		}
		os.Args = append([]string{"gomerge"}, strings.Fields(os.Getenv("GOMERGE_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	code := m.Run()
	if automergeTmp != "" {
		os.RemoveAll(automergeTmp)
	}
	os.Exit(code)
}

// sums maps every regular file under dir to its hash; links are listed
// by target.
func sums(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			m[p] = "-> " + target
		case d.Type().IsRegular():
			b, _ := os.ReadFile(p)
			m[p] = fmt.Sprintf("%x", sha256.Sum256(b))
		}
		return nil
	})
	return m
}

// TestNeverLoseAModel runs every command that writes a directory at
// outputs that are inputs (directly, through links) or models gomerge did
// not write: each is refused with exit 2, and no file anywhere changes.
func TestNeverLoseAModel(t *testing.T) {
	dir := models(t)
	if err := os.Symlink(".", "here"); err != nil {
		t.Skip(err)
	}
	if err := os.Symlink("ft", "ftlink"); err != nil {
		t.Fatal(err)
	}
	theirs := filepath.Join(dir, "theirs")
	testmodel.Must(t.Fatal, theirs, testmodel.Spec{Seed: 3})
	linear := "merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: 0.5}\n  - model: ft\n    parameters: {weight: 0.5}\n"
	viaLink := "merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: 0.5}\n  - model: ftlink\n    parameters: {weight: 0.5}\n"
	bin := filepath.Join(dir, "stories.bin")
	src, err := os.ReadFile(filepath.Join(rootDir, "testdata/stories260K/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bin, src, 0o644)
	for _, tc := range []struct {
		name   string
		config string
		args   []string
		stderr string
	}{
		{"merge into an input through a link", linear, []string{"config.yml", "here/ft"}, "overlaps input"},
		{"merge into a link's target", viaLink, []string{"config.yml", "ft"}, "overlaps input"},
		{"merge into a link to an input", linear, []string{"config.yml", "ftlink", "--overwrite"}, "overlaps input"},
		{"merge into a model gomerge did not write", linear, []string{"config.yml", "theirs"}, "--overwrite"},
		{"merge into the directory holding the inputs", linear, []string{"config.yml", dir, "--overwrite"}, "current directory"},
		{"merge into the config's directory", "merge_method: linear\nmodels:\n  - model: " + dir + "/base\n    parameters: {weight: 1}\n",
			[]string{"sub/config.yml", "sub", "--overwrite"}, "overlaps input"},
		{"merge into nothing", linear, []string{"config.yml", ""}, "output path is empty"},
		{"plan is not affected, extract-lora into an input", "", []string{"extract-lora", "--model", "ft", "--base-model", "base", "--out-path", "here/ft"}, "overlaps input"},
		{"extract-lora into a model", "", []string{"extract-lora", "--model", "ft", "--base-model", "base", "--out-path", "theirs"}, "--overwrite"},
		{"convert into a model", "", []string{"convert-llama2c", "stories.bin", "theirs"}, "--overwrite"},
		{"convert into its input's directory", "", []string{"convert-llama2c", "here/stories.bin", ".", "--overwrite"}, "current directory"},
		{"multi into an input", "", []string{"multi", "multi.yml", "-I", "here", "--out-path", "here/base", "--no-lazy"}, "overlaps input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.config != "" {
				writeConfig(t, tc.config)
				os.MkdirAll("sub", 0o755)
				os.WriteFile("sub/config.yml", []byte(tc.config), 0o644)
			}
			os.WriteFile("multi.yml", []byte(linear), 0o644)
			before := sums(t, dir)
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit 2 saying %q", code, stderr.String(), tc.stderr)
			}
			if after := sums(t, dir); !maps.Equal(before, after) {
				for p := range after {
					if before[p] != after[p] {
						t.Errorf("%s changed", p)
					}
				}
				for p := range before {
					if _, ok := after[p]; !ok {
						t.Errorf("%s removed", p)
					}
				}
			}
		})
	}
	// With --overwrite a model gomerge did not write is replaced.
	writeConfig(t, linear)
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"config.yml", "theirs", "--overwrite", "--quiet"}, &bytes.Buffer{}, &stderr); code != exitOK {
		t.Fatalf("--overwrite: exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(theirs, outdir.MarkerName)); err != nil {
		t.Error(err)
	}
}

// rootDir is the repository root, found before any test changes directory.
var rootDir = func() string {
	wd, _ := os.Getwd()
	return filepath.Dir(filepath.Dir(wd))
}()

// TestCrashRecovery kills gomerge with SIGKILL at seeded random moments
// of a merge that replaces an earlier one, and at each step of the
// commit. After every kill OUT is either absent or a complete merge (the
// old or the new), `gomerge clean` leaves OUT complete and nothing beside
// it, and a rerun gives the same bytes as an uninterrupted run.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gomerge as a subprocess many times")
	}
	dir := t.TempDir()
	for name, s := range map[string]testmodel.Spec{
		"base": {Seed: 1, Hidden: 128, Intermediate: 384, Vocab: 512},
		"ft1":  {Seed: 1, Delta: 0.01, DeltaSeed: 2, Hidden: 128, Intermediate: 384, Vocab: 512},
		"ft2":  {Seed: 1, Delta: 0.01, DeltaSeed: 3, Hidden: 128, Intermediate: 384, Vocab: 512},
	} {
		testmodel.Must(t.Fatal, filepath.Join(dir, name), s)
	}
	cfg := func(name string, w float64) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(fmt.Sprintf("merge_method: dare_ties\nbase_model: %[1]s/base\nmodels:\n"+
			"  - model: %[1]s/ft1\n    parameters: {weight: %[2]g, density: 0.5}\n"+
			"  - model: %[1]s/ft2\n    parameters: {weight: 0.5, density: 0.5}\n", dir, w)), 0o644)
		return p
	}
	oldCfg, newCfg := cfg("old.yml", 0.3), cfg("new.yml", 0.7)
	gomerge := func(crashAt string, args ...string) *exec.Cmd {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "GOMERGE_TEST_MAIN=1", "GOMERGE_CRASH_AT="+crashAt,
			"GOMERGE_TEST_ARGS="+strings.Join(args, " "))
		return cmd
	}
	merge := func(cfg, out string) {
		t.Helper()
		if b, err := gomerge("", cfg, out, "--random-seed", "7", "--out-shard-size", "1m", "--quiet").CombinedOutput(); err != nil {
			t.Fatalf("merge %s: %v\n%s", cfg, err, b)
		}
	}
	weights := func(out string) map[string]string {
		m := map[string]string{}
		for p, h := range sums(t, out) {
			// The card names the directory; the marker holds a time.
			if b := filepath.Base(p); b != outdir.MarkerName && b != "README.md" {
				m[b] = h
			}
		}
		return m
	}
	refDir := t.TempDir()
	start := time.Now()
	merge(oldCfg, filepath.Join(refDir, "old"))
	took := time.Since(start)
	merge(newCfg, filepath.Join(refDir, "new"))
	oldRef, newRef := weights(filepath.Join(refDir, "old")), weights(filepath.Join(refDir, "new"))
	if maps.Equal(oldRef, newRef) {
		t.Fatal("the two merges are the same")
	}
	rng := rand.New(rand.NewPCG(12, 34))
	kills := []string{"marked", "moved-aside", "renamed"}
	for i := 0; i < 8; i++ {
		kills = append(kills, fmt.Sprint(time.Duration(rng.Int64N(int64(took)*3/2))))
	}
	for _, kill := range kills {
		t.Run(kill, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "out")
			merge(oldCfg, out)
			cmd := gomerge("", newCfg, out, "--random-seed", "7", "--out-shard-size", "1m", "--quiet")
			if d, err := time.ParseDuration(kill); err == nil {
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.AfterFunc(d, func() { cmd.Process.Kill() })
				cmd.Wait()
			} else {
				cmd.Env = append(cmd.Env, "GOMERGE_CRASH_AT="+kill)
				if err := cmd.Run(); err == nil {
					t.Fatal("the run was not killed")
				}
			}
			if _, err := os.Stat(out); err == nil {
				if w := weights(out); !maps.Equal(w, oldRef) && !maps.Equal(w, newRef) {
					t.Fatalf("after the kill OUT is neither merge: %v", w)
				}
			}
			if b, err := gomerge("", "clean", out).CombinedOutput(); err != nil {
				t.Fatalf("clean: %v\n%s", err, b)
			}
			if w := weights(out); !maps.Equal(w, oldRef) && !maps.Equal(w, newRef) {
				t.Fatalf("after clean OUT is neither merge: %v", w)
			}
			if got := entryNames(t, parent); !slices.Equal(got, []string{"out"}) {
				t.Fatalf("after clean: %v", got)
			}
			merge(newCfg, out)
			if w := weights(out); !maps.Equal(w, newRef) {
				t.Fatalf("rerun differs from an uninterrupted run")
			}
			if got := entryNames(t, parent); !slices.Equal(got, []string{"out"}) {
				t.Fatalf("after the rerun: %v", got)
			}
		})
	}
}

func entryNames(t *testing.T, dir string) []string {
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
