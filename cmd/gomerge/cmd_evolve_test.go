package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomerge/gomerge/evolve"
)

// With GOMERGE_TEST_EVOLVE=1 the test binary runs `gomerge evolve` with
// the newline-separated GOMERGE_TEST_ARGS, and kills itself with SIGKILL
// when its log has said "job scored" GOMERGE_KILL_AFTER times: a kill -9
// in the middle of a run, after a candidate is scored and before the run
// has recorded it.
func init() {
	if os.Getenv("GOMERGE_TEST_EVOLVE") != "1" {
		return
	}
	var n int
	fmt.Sscan(os.Getenv("GOMERGE_KILL_AFTER"), &n)
	stderr := &killAfter{w: os.Stderr, n: n}
	os.Exit(runEvolve(context.Background(), strings.Split(os.Getenv("GOMERGE_TEST_ARGS"), "\n"), os.Stdout, stderr))
}

type killAfter struct {
	w    io.Writer
	n    int
	seen int
}

func (k *killAfter) Write(p []byte) (int, error) {
	k.seen += bytes.Count(p, []byte("job scored"))
	if k.n > 0 && k.seen >= k.n {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	}
	return k.w.Write(p)
}

// evolveSetup converts stories260K, makes a second model from it (every
// weight × 0.8, a merge), and writes a genome over the two that tunes on
// stories text. It returns the genome's path.
func evolveSetup(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "stories"), filepath.Join(dir, "scaled")
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"convert-llama2c", filepath.Join(rootDir, "testdata/stories260K/stories260K.bin"), a}, io.Discard, &stderr); code != exitOK {
		t.Fatalf("convert: %s", stderr.String())
	}
	scale := filepath.Join(dir, "scale.yml")
	os.WriteFile(scale, fmt.Appendf(nil, "merge_method: linear\nparameters: {normalize: false}\nmodels:\n  - model: %s\n    parameters: {weight: 0.8}\n", a), 0o644)
	if code := run(context.Background(), []string{scale, b, "--quiet"}, io.Discard, &stderr); code != exitOK {
		t.Fatalf("scale: %s", stderr.String())
	}
	genome := filepath.Join(dir, "genome.yml")
	os.WriteFile(genome, fmt.Appendf(nil, `genome:
  models: [%s, %s]
  merge_method: linear
  layer_granularity: 1
tasks:
  - name: stories_tune
    metric: word_perplexity,none
    weight: -1
`, a, b), 0o644)
	return genome
}

func evolveArgs(genome, storage string, extra ...string) []string {
	return append([]string{genome, "--storage-path", storage, "--task-search-path", filepath.Join(rootDir, "evolve/testdata"),
		"--workers", "1", "--random-seed", "3"}, extra...)
}

func evolveJSON(t *testing.T, args []string) evolve.Summary {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := runEvolve(context.Background(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("gomerge evolve %q: exit %d\n%s", args, code, stderr.String())
	}
	var s evolve.Summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout.String())
	}
	return s
}

func evalLines(t *testing.T, storage string) []evolve.Eval {
	t.Helper()
	f, err := os.Open(filepath.Join(storage, evolve.EvalsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []evolve.Eval
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e evolve.Eval
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("evals.jsonl: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// TestEvolveCLI runs a short search on stories260K: the summary, the
// files of the storage path, a best_config.yaml that gomerge merges, and
// a second command that extends the run from its checkpoint.
func TestEvolveCLI(t *testing.T) {
	genome := evolveSetup(t)
	storage := filepath.Join(t.TempDir(), "run")
	s := evolveJSON(t, evolveArgs(genome, storage, "--json", "--max-fevals", "8", "--force-population-size", "4"))
	if s.Evals != 8 || s.Generations != 2 || s.Resumed || s.Best == nil || s.Stop != "maxfevals" {
		t.Fatalf("summary %+v", s)
	}
	if got := evalLines(t, storage); len(got) != 8 {
		t.Errorf("%d lines in evals.jsonl, want 8", len(got))
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.model"} {
		if _, err := os.Stat(filepath.Join(storage, evolve.FinalModelDir, f)); err != nil {
			t.Errorf("final model: %v", err)
		}
	}
	var stderr bytes.Buffer
	out := filepath.Join(t.TempDir(), "merged")
	if code := run(context.Background(), []string{filepath.Join(storage, evolve.BestConfigFile), out, "--quiet"}, io.Discard, &stderr); code != exitOK {
		t.Fatalf("gomerge best_config.yaml: exit %d: %s", code, stderr.String())
	}

	s = evolveJSON(t, evolveArgs(genome, storage, "--json", "--max-fevals", "12", "--force-population-size", "4", "--no-save-final-model"))
	if !s.Resumed || s.Evals != 12 || s.Generations != 3 || s.FinalModel != "" {
		t.Fatalf("extended run: %+v", s)
	}
	if got := evalLines(t, storage); len(got) != 12 {
		t.Errorf("%d lines in evals.jsonl after the extension, want 12", len(got))
	}

	// Without --json the best config goes to stdout; the final model of
	// the first run is replaced.
	var stdout bytes.Buffer
	if code := runEvolve(context.Background(), evolveArgs(genome, storage, "--max-fevals", "12"), &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	best, _ := os.ReadFile(filepath.Join(storage, evolve.BestConfigFile))
	if stdout.String() != string(best) {
		t.Errorf("stdout %q, want best_config.yaml", stdout.String())
	}
}

func TestEvolveUsage(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	good := write("good.yml", "genome: {models: [a, b], merge_method: linear}\ntasks: [de_ud_gsd_ppl]\n")
	naughty := write("naughty.yml", "genome: {models: [a, b], merge_method: linear}\ntasks: [hellaswag_de]\n")
	missing := write("missing.yml", "genome: {models: [a, b], merge_method: linear}\ntasks: [no_such_task]\n")
	bad := write("bad.yml", "genome: {models: [a, b], merge_method: slerp, smooth: true}\ntasks: [t]\n")
	storage := filepath.Join(dir, "run")
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{nil, "usage"},
		{[]string{good}, "usage"},
		{[]string{good, "--storage-path", storage, "--workers", "0"}, "0 only with --listen or --nats"},
		{[]string{good, "--storage-path", storage, "--listen", ":0", "--nats", "nats://x:4222"}, "give one"},
		{[]string{good, "--storage-path", storage, "--timeout", "soon"}, "timeout"},
		{[]string{good, "--storage-path", storage, "--sigma0", "0"}, "sigma0"},
		{[]string{naughty, "--storage-path", storage}, "i-understand-the-depths"},
		{[]string{naughty, "--storage-path", storage, "--i-understand-the-depths-of-the-evils-i-am-unleashing"}, "task hellaswag_de: not in --task-search-path"},
		{[]string{missing, "--storage-path", storage}, "no_such_task"},
		{[]string{bad, "--storage-path", storage}, "bad.yml:1: genome: smooth is not supported for slerp"},
	} {
		var stdout, stderr bytes.Buffer
		code := runEvolve(context.Background(), tc.args, &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 saying %q", tc.args, code, stderr.String(), tc.stderr)
		}
	}
	if _, err := os.Stat(storage); err == nil {
		t.Error("a refused run created its storage path")
	}
}

// TestEvolveLocked: a second run on a storage path in use is refused.
func TestEvolveLocked(t *testing.T) {
	dir := t.TempDir()
	genome := filepath.Join(dir, "g.yml")
	os.WriteFile(genome, []byte("genome: {models: [a, b], merge_method: linear}\ntasks: [de_ud_gsd_ppl]\n"), 0o644)
	storage := filepath.Join(dir, "run")
	os.MkdirAll(storage, 0o755)
	f, err := os.Create(filepath.Join(storage, evolve.LockFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := runEvolve(context.Background(), []string{genome, "--storage-path", storage}, io.Discard, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), "in use by another gomerge evolve") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

// TestEvolveKill9 kills `gomerge evolve` with SIGKILL at several moments
// of a run, then runs the same command again: it resumes, ends with as
// many evaluations as an uninterrupted run (each candidate scored once,
// re-used after the kill), and finds the same best.
func TestEvolveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gomerge evolve as a subprocess")
	}
	genome := evolveSetup(t)
	flags := []string{"--json", "--max-fevals", "24", "--force-population-size", "6", "--no-save-final-model", "-v"}
	refDir := filepath.Join(t.TempDir(), "ref")
	ref := evolveJSON(t, evolveArgs(genome, refDir, flags...))
	refScores := map[string]float64{}
	for _, e := range evalLines(t, refDir) {
		refScores[e.ID] = e.Score
	}
	for _, tc := range []struct {
		kill  int
		extra []string
	}{
		{2, nil}, {6, nil}, {7, nil}, {16, nil},
		// On the JetStream pool the queue outlives the kill: jobs of the
		// killed run are still queued, results it took may be lost.
		{9, []string{"--listen", "127.0.0.1:0"}},
	} {
		kill := tc.kill
		t.Run(fmt.Sprint(kill, tc.extra), func(t *testing.T) {
			storage := filepath.Join(t.TempDir(), "run")
			args := evolveArgs(genome, storage, append(flags[:len(flags):len(flags)], tc.extra...)...)
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "GOMERGE_TEST_EVOLVE=1", fmt.Sprintf("GOMERGE_KILL_AFTER=%d", kill),
				"GOMERGE_TEST_ARGS="+strings.Join(args, "\n"))
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the run was not killed: %v\n%s", err, out)
			}
			before := len(evalLines(t, storage))
			if before >= kill {
				t.Fatalf("%d candidates recorded before a kill at the %dth result", before, kill)
			}
			s := evolveJSON(t, args)
			if !s.Resumed && kill > 6 {
				t.Errorf("not resumed after a kill past the first generation")
			}
			lines := evalLines(t, storage)
			ids := map[string]bool{}
			for _, e := range lines {
				ids[e.ID] = true
				// The same seed and worker count: the same candidates,
				// scored the same.
				if want, ok := refScores[e.ID]; !ok || want != e.Score {
					t.Errorf("candidate %s scored %v; the uninterrupted run has %v (%v)", e.ID, e.Score, want, ok)
				}
			}
			if s.Evals != ref.Evals || len(lines) != ref.Evals || len(ids) != len(lines) {
				t.Errorf("%d evaluations, %d lines, %d distinct; the uninterrupted run has %d", s.Evals, len(lines), len(ids), ref.Evals)
			}
			if s.Best.ID != ref.Best.ID || s.Best.Score != ref.Best.Score {
				t.Errorf("best %s %v, the uninterrupted run's %s %v", s.Best.ID, s.Best.Score, ref.Best.ID, ref.Best.Score)
			}
		})
	}
}

func TestPrintGeneration(t *testing.T) {
	for _, tc := range []struct {
		p    evolve.Progress
		want string
	}{
		{evolve.Progress{Generation: 3, Evals: 40, MaxFevals: 100, Best: -35.5, Mean: -80.25, Sigma: 0.125, ETA: 90 * time.Second},
			"generation 3: best -35.5, mean -80.25, 40/100 evaluations, sigma 0.125, ETA 1m30s\n"},
		{evolve.Progress{Generation: 0, Evals: 10, MaxFevals: 10, Best: 0.5, Mean: 0.25, Failed: 2, Sigma: 0.2},
			"generation 0: best 0.5, mean 0.25, 10/10 evaluations (2 failed), sigma 0.2\n"},
	} {
		var b bytes.Buffer
		printGeneration(&b, tc.p)
		if b.String() != tc.want {
			t.Errorf("got %q, want %q", b.String(), tc.want)
		}
	}
}

// TestEvolveJetStream runs the search on the JetStream pool: an embedded
// server under the storage path, listening for remote workers, with one
// local evaluator; a second command resumes on the same queue.
func TestEvolveJetStream(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded NATS server")
	}
	genome := evolveSetup(t)
	storage := filepath.Join(t.TempDir(), "run")
	args := evolveArgs(genome, storage, "--json", "--listen", "127.0.0.1:0", "--max-fevals", "8",
		"--force-population-size", "4", "--no-save-final-model")
	var stdout, stderr bytes.Buffer
	if code := runEvolve(context.Background(), args, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "gomerge worker --nats nats://127.0.0.1:") {
		t.Errorf("stderr %q does not tell workers where to join", stderr.String())
	}
	var s evolve.Summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil || s.Evals != 8 || s.Best == nil {
		t.Fatalf("summary %s (%v)", stdout.String(), err)
	}
	for _, e := range evalLines(t, storage) {
		if e.Worker != "local" || e.Error != "" {
			t.Errorf("candidate %+v", e)
		}
	}
	s = evolveJSON(t, append(args[:len(args):len(args)], "--max-fevals", "12"))
	if !s.Resumed || s.Evals != 12 {
		t.Errorf("resumed on the queue: %+v", s)
	}
}
