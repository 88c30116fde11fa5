package automerge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomerge/gomerge/automerge/leaderboard"
	"github.com/gomerge/gomerge/automerge/poolfile"
	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/hub/hubtest"
	"github.com/gomerge/gomerge/internal/outdir"
	"github.com/gomerge/gomerge/worker"
)

// poolFile writes a pool over the fixture, the smallest form plus
// the unrelated model and extra keys.
func poolFile(t *testing.T, fx fixture, extra string) *poolfile.Pool {
	t.Helper()
	src := fmt.Sprintf(`base: %s
models: [%s, %s, %s, %s]
tasks:
  - name: stories_train
    metric: "word_perplexity,none"
    weight: -1.0
%s`, fx.Base, fx.FT[0], fx.FT[1], fx.FT[2], fx.Unrelated, extra)
	p, err := poolfile.ParsePool([]byte(src), filepath.Join(t.TempDir(), "pool.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func runOpts(state string, runs, keep int) Options {
	return Options{State: state, Runs: runs, Keep: keep, Seed: 1, TaskSearchPath: []string{"testdata"},
		Pool: worker.NewLocal(1, worker.Options{Cache: worker.NewCache(2)})}
}

// TestStoriesAutomerge is the check: N runs give N rows, no recipe
// repeats, the best child beats every parent on held-out text, and
// exactly K children keep their weights.
func TestStoriesAutomerge(t *testing.T) {
	fx := stories(t)
	p := poolFile(t, fx, "")
	state := t.TempDir()
	const runs, keep = 12, 2
	ctx := context.Background()
	// Two sessions, as two nights: the second goes on from the first.
	for _, n := range []int{7, runs - 7} {
		opt := runOpts(state, n, keep)
		sum, err := Run(ctx, p, opt)
		opt.Pool.Close()
		if err != nil {
			t.Fatal(err)
		}
		if sum.Done+sum.Failed != n {
			t.Fatalf("summary %+v, want %d runs", sum, n)
		}
	}
	db, err := leaderboard.Open(ctx, filepath.Join(state, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all, err := db.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != runs {
		t.Fatalf("%d rows, want %d", len(all), runs)
	}
	hashes := map[string]bool{}
	var weightDirs, withScores int
	for _, r := range all {
		t.Logf("run %2d %-22s %-15s %-6s score %v parents %v %s", r.ID, r.Name, r.Method, r.Status, deref(r.Score),
			[]string{filepath.Base(r.Parents[0]), filepath.Base(r.Parents[1])}, r.Error)
		if hashes[r.Hash] {
			t.Errorf("run %d repeats a recipe", r.ID)
		}
		hashes[r.Hash] = true
		if r.Status != leaderboard.StatusDone && r.Status != leaderboard.StatusFailed {
			t.Errorf("run %d status %s", r.ID, r.Status)
		}
		if len(r.Scores) > 0 {
			withScores++
		}
		if r.Model != nil {
			if _, err := os.Stat(filepath.Join(r.Model.Path, "README.md")); err != nil {
				t.Errorf("run %d: card: %v", r.ID, err)
			}
			if r.Model.Weights {
				weightDirs++
			}
		}
	}
	entries, _ := os.ReadDir(filepath.Join(state, ModelsDir))
	onDisk := 0
	for _, e := range entries {
		if weightBytes(filepath.Join(state, ModelsDir, e.Name())) > 0 {
			onDisk++
		}
	}
	if weightDirs != keep || onDisk != keep {
		t.Errorf("%d children recorded with weights, %d weight directories on disk, want %d", weightDirs, onDisk, keep)
	}
	best := all[0]
	if best.Model == nil || !best.Model.Weights {
		t.Fatalf("best run %d has no weights on disk", best.ID)
	}
	got := heldOut(t, best.Model.Path)
	for _, parent := range append(fx.FT[:], fx.Unrelated) {
		if pp := heldOut(t, parent); got >= pp {
			t.Errorf("best child %s: held-out perplexity %.3f, parent %s %.3f", best.Name, got, filepath.Base(parent), pp)
		} else {
			t.Logf("best child %s: held-out perplexity %.3f < parent %s %.3f", best.Name, got, filepath.Base(parent), pp)
		}
	}
	if ok, err := db.IntegrityCheck(ctx); err != nil || ok != "ok" {
		t.Errorf("integrity_check %q, %v", ok, err)
	}
	if _, err := os.Stat(filepath.Join(best.Model.Path, outdir.MarkerName)); err != nil {
		t.Errorf("child without the output marker: %v", err)
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// snapshotDir maps each file under dir to its size and modification time.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			fi, _ := d.Info()
			m[p] = fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
		}
		return nil
	})
	return m
}

// TestDiskFull: a child that enters the top K while the disk has no room
// for it is recorded failed with the reason; the database and the kept
// children stay as they were, and the session goes on.
func TestDiskFull(t *testing.T) {
	fx := stories(t)
	p := poolFile(t, fx, "")
	state := t.TempDir()
	ctx := context.Background()
	opt := runOpts(state, 4, 3)
	if _, err := Run(ctx, p, opt); err != nil {
		t.Fatal(err)
	}
	opt.Pool.Close()
	models := filepath.Join(state, ModelsDir)
	before := snapshotDir(t, models)
	opt = runOpts(state, 3, 3)
	opt.FreeSpace = func(string) (uint64, error) { return 1 << 20, nil }
	var events []Event
	opt.Events = func(e Event) { events = append(events, e) }
	sum, err := Run(ctx, p, opt)
	opt.Pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(before, snapshotDir(t, models)) {
		t.Error("a full disk changed the kept children")
	}
	db, err := leaderboard.Open(ctx, filepath.Join(state, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runs, _ := db.Runs(ctx)
	full := 0
	for _, r := range runs {
		if r.Status == leaderboard.StatusFailed && strings.Contains(r.Error, "not enough disk space to write the child") {
			full++
			if r.Score == nil || len(r.Scores) != 1 {
				t.Errorf("run %d: the scores of a child that could not be written are lost", r.ID)
			}
		}
	}
	if full == 0 || sum.Failed != full || len(runs) != 7 {
		t.Errorf("%d runs failed for disk space, summary %+v, %d runs", full, sum, len(runs))
	}
	if ok, err := db.IntegrityCheck(ctx); err != nil || ok != "ok" {
		t.Errorf("integrity_check %q, %v", ok, err)
	}
	failed := false
	for _, e := range events {
		failed = failed || (e.Event == "run_failed" && strings.Contains(e.Error, "disk space"))
	}
	if !failed {
		t.Error("no run_failed event for the full disk")
	}
}

// TestCancel: a session cancelled mid-run (SIGINT) records the run in
// progress as interrupted itself.
func TestCancel(t *testing.T) {
	fx := stories(t)
	p := poolFile(t, fx, "")
	state := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	opt := runOpts(state, 5, 2)
	opt.Events = func(e Event) {
		if e.Event == "run_start" && e.Run == 2 {
			cancel()
		}
	}
	_, err := Run(ctx, p, opt)
	opt.Pool.Close()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want cancelled", err)
	}
	db, err := leaderboard.Open(context.Background(), filepath.Join(state, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runs, _ := db.Runs(context.Background())
	st := map[string]int{}
	for _, r := range runs {
		st[r.Status]++
	}
	if len(runs) != 2 || st[leaderboard.StatusInterrupted] != 1 {
		t.Errorf("statuses %v", st)
	}
}

// TestExhausted: a pool whose every recipe was tried stops with
// "exhausted" instead of repeating one.
func TestExhausted(t *testing.T) {
	fx := stories(t)
	// Two models, slerp only: two recipes (a, b) and (b, a).
	src := fmt.Sprintf("models: [%s, %s]\ntasks: [{name: stories_train, metric: 'word_perplexity,none', weight: -1}]\nchildren_as_parents: false\nrecipes: [{method: slerp}]\n", fx.FT[0], fx.FT[1])
	p, err := poolfile.ParsePool([]byte(src), "pool.yml")
	if err != nil {
		t.Fatal(err)
	}
	opt := runOpts(t.TempDir(), 5, 2)
	sum, err := Run(context.Background(), p, opt)
	opt.Pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stop != "exhausted" || sum.Done != 2 {
		t.Errorf("summary %+v, want 2 runs then exhausted", sum)
	}
}

// TestWorkers scores a session's children on a JetStream queue served to
// two remote workers (what `gomerge worker --nats URL` runs on other
// machines), with two children in flight at once.
func TestWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded NATS server")
	}
	fx := stories(t)
	p := poolFile(t, fx, "")
	state := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	opt := Options{State: state, Runs: 6, Keep: 2, Seed: 2, TaskSearchPath: []string{"testdata"}, Parallel: 2}
	opt.OpenPool = func(ctx context.Context) (worker.Pool, error) {
		js, err := worker.NewJetStream(ctx, worker.JetStreamOptions{StoreDir: filepath.Join(state, "jetstream"),
			Listen: "127.0.0.1:0"})
		if err != nil {
			return nil, err
		}
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				worker.Serve(ctx, js.URL(), worker.ServeOptions{Options: worker.Options{Name: fmt.Sprintf("remote-%d", i), Threads: 1}})
			}()
		}
		return js, nil
	}
	sum, err := Run(ctx, p, opt)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done+sum.Failed != 6 {
		t.Fatalf("summary %+v", sum)
	}
	db, err := leaderboard.Open(ctx, filepath.Join(state, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runs, _ := db.Runs(ctx)
	for _, r := range runs {
		if !strings.HasPrefix(r.Worker, "remote-") {
			t.Errorf("run %d scored by %q", r.ID, r.Worker)
		}
	}
}

// TestPush uploads every child written to disk to the fake hub as
// ORG/NAME, card included, and records where.
func TestPush(t *testing.T) {
	fx := stories(t)
	p := poolFile(t, fx, "")
	srv := hubtest.NewServer(t)
	srv.AddWriter("hf_writer")
	c := &hub.Client{Endpoint: srv.URL, CacheDir: t.TempDir(), Token: "hf_writer"}
	state := t.TempDir()
	opt := runOpts(state, 3, 2)
	opt.Push, opt.Org, opt.Merge.Hub = true, "automerger", c
	ctx := context.Background()
	if _, err := Run(ctx, p, opt); err != nil {
		t.Fatal(err)
	}
	opt.Pool.Close()
	db, err := leaderboard.Open(ctx, filepath.Join(state, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runs, _ := db.Runs(ctx)
	pushed := 0
	for _, r := range runs {
		if r.Model == nil {
			continue
		}
		if r.Model.Pushed != "automerger/"+r.Name {
			t.Errorf("run %d pushed to %q", r.ID, r.Model.Pushed)
			continue
		}
		pushed++
		dir, err := c.Resolve(ctx, r.Model.Pushed, "main", hub.AllFiles)
		if err != nil {
			t.Fatal(err)
		}
		card, err := os.ReadFile(filepath.Join(dir, "README.md"))
		if err != nil || !strings.Contains(string(card), `model = "automerger/`+r.Name+`"`) {
			t.Errorf("card on the hub: %v\n%s", err, card)
		}
		if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
			t.Error(err)
		}
	}
	if pushed == 0 {
		t.Error("nothing was pushed")
	}
}

// TestPushRetry: a push that meets the hub's 503s is tried again and
// succeeds; one that keeps failing is given up after pushTries tries,
// logged, and the run stays done.
func TestPushRetry(t *testing.T) {
	defer func(w func(int) time.Duration) { pushWait = w }(pushWait)
	pushWait = func(int) time.Duration { return time.Millisecond }
	fx := stories(t)
	p := poolFile(t, fx, "")
	for _, tc := range []struct {
		fails          int
		retries        int
		pushed, failed bool
	}{
		{fails: 2, retries: 2, pushed: true},
		{fails: 1000, retries: pushTries - 1, failed: true},
	} {
		srv := hubtest.NewServer(t)
		srv.AddWriter("hf_writer")
		c := &hub.Client{Endpoint: srv.URL, CacheDir: t.TempDir(), Token: "hf_writer"}
		state := t.TempDir()
		opt := runOpts(state, 1, 2)
		opt.Push, opt.Org, opt.Merge.Hub = true, "automerger", c
		count := map[string]int{}
		opt.Events = func(e Event) { count[e.Event]++ }
		srv.Fail("", tc.fails, http.StatusServiceUnavailable)
		sum, err := Run(context.Background(), p, opt)
		opt.Pool.Close()
		if err != nil {
			t.Fatal(err)
		}
		if count["push_retry"] != tc.retries || (count["child_pushed"] == 1) != tc.pushed ||
			(count["push_failed"] == 1) != tc.failed || sum.Done != 1 {
			t.Errorf("%d hub failures: events %v, summary %+v", tc.fails, count, sum)
		}
	}
}

// TestOtherTaskSet reuses a state directory with a pool that scores on
// other terms (a document limit): the second session must rank, keep and
// prune only its own runs, leave the first pool's kept children their
// weights, say so once, and report its own best.
func TestOtherTaskSet(t *testing.T) {
	fx := stories(t)
	ctx := context.Background()
	state := t.TempDir()
	const keep = 2
	first := poolFile(t, fx, "")
	opt := runOpts(state, 3, keep)
	if _, err := Run(ctx, first, opt); err != nil {
		t.Fatal(err)
	}
	opt.Pool.Close()

	second := poolFile(t, fx, "limit: 8\n")
	var events []Event
	opt = runOpts(state, 3, keep)
	opt.Events = func(e Event) { events = append(events, e) }
	sum, err := Run(ctx, second, opt)
	opt.Pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	firstSet, secondSet := TaskSet(first.Tasks, first.Limit, first.NumFewshot), TaskSet(second.Tasks, second.Limit, second.NumFewshot)
	if firstSet == secondSet {
		t.Fatalf("both pools have task set %q", firstSet)
	}
	said := 0
	for _, e := range events {
		if e.Event == "other_task_sets" {
			said++
			if !strings.Contains(e.Detail, "3 scored runs") || !strings.Contains(e.Detail, firstSet) {
				t.Errorf("other_task_sets: %s", e.Detail)
			}
		}
		if e.Event == "child_pruned" {
			t.Logf("pruned %s", e.Name)
		}
	}
	if said != 1 {
		t.Errorf("other_task_sets said %d times, want once", said)
	}
	if sum.Best == nil || sum.Best.Tasks != secondSet {
		t.Errorf("best %+v, want a run of %q", sum.Best, secondSet)
	}

	db, err := leaderboard.Open(ctx, filepath.Join(state, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all, err := db.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kept := map[string]int{}
	for _, r := range all {
		t.Logf("run %d %-22s %-6s score %v tasks %q", r.ID, r.Name, r.Status, deref(r.Score), r.Tasks)
		want := firstSet
		if r.ID > 3 {
			want = secondSet
		}
		if r.Tasks != want {
			t.Errorf("run %d: tasks %q, want %q", r.ID, r.Tasks, want)
		}
		if r.Model != nil && r.Model.Weights {
			if weightBytes(r.Model.Path) == 0 {
				t.Errorf("run %d: recorded with weights, none on disk", r.ID)
			}
			kept[r.Tasks]++
		}
	}
	// Each session ran 3 scored runs and keeps its top 2: the second
	// must not have pruned the first's children to make room for its own.
	if kept[firstSet] != keep || kept[secondSet] != keep {
		t.Errorf("children with weights per task set %v, want %d each", kept, keep)
	}
}

// jobLog is a pool that records the jobs submitted to it.
type jobLog struct {
	worker.Pool
	mu   sync.Mutex
	jobs []worker.Job
}

func (p *jobLog) Submit(ctx context.Context, j worker.Job) error {
	p.mu.Lock()
	p.jobs = append(p.jobs, j)
	p.mu.Unlock()
	return p.Pool.Submit(ctx, j)
}

// TestBF16DotTaskSet: a session scoring with bfloat16 products sends it
// with every job and records its runs under a task set of their own, so
// that they rank apart from float32 scores of the same tasks.
func TestBF16DotTaskSet(t *testing.T) {
	fx := stories(t)
	ctx := context.Background()
	p := poolFile(t, fx, "")
	opt := runOpts(t.TempDir(), 2, 2)
	pool := &jobLog{Pool: opt.Pool}
	opt.Pool, opt.BF16Dot = pool, true
	sum, err := Run(ctx, p, opt)
	pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	plain := TaskSet(p.Tasks, p.Limit, p.NumFewshot)
	if sum.Best == nil || sum.Best.Tasks == plain || !strings.HasPrefix(sum.Best.Tasks, plain) {
		t.Errorf("best run's task set %q, want %q marked as bf16 products", bestTasks(sum.Best), plain)
	}
	if len(pool.jobs) == 0 {
		t.Fatal("no job submitted")
	}
	for _, j := range pool.jobs {
		if !j.BF16Dot {
			t.Errorf("job %s without BF16Dot", j.ID)
		}
	}
}

func bestTasks(r *leaderboard.Run) string {
	if r == nil {
		return "<no best run>"
	}
	return r.Tasks
}
