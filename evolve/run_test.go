package evolve

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gomerge/gomerge/internal/outdir"
	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/worker"
)

// fakePool scores a candidate config without merging: the score is
// −Σ (weight − target)² over its sources' weights, in config order. It
// delivers results from goroutines, in no particular order.
type fakePool struct {
	target  []float64
	fail    func(weights []float64) string // non-empty: the job fails
	results chan worker.Result
	mu      sync.Mutex
	jobs    []worker.Job
	wg      sync.WaitGroup
	// after, when set, is called with the count of results delivered.
	after func(n int)
	n     int
	// limit, when set, is the most results delivered: the run is
	// killed after them.
	limit, sending int
	// drop are job IDs a durable pool has seen before: it queues them
	// no more, and no result comes for them.
	drop map[string]bool
	// stale are results of an earlier session's jobs, delivered once
	// the first job is submitted.
	stale []worker.Result
}

func newFakePool(target []float64) *fakePool {
	return &fakePool{target: target, results: make(chan worker.Result)}
}

func (p *fakePool) Submit(ctx context.Context, j worker.Job) error {
	p.mu.Lock()
	p.jobs = append(p.jobs, j)
	stale := p.stale
	p.stale = nil
	p.mu.Unlock()
	for _, r := range stale {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			select {
			case p.results <- r:
			case <-ctx.Done():
			}
		}()
	}
	if p.drop[j.ID] {
		return nil
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		r := p.score(j)
		p.mu.Lock()
		if p.limit > 0 && p.sending >= p.limit {
			p.mu.Unlock()
			<-ctx.Done() // killed before this result came
			return
		}
		p.sending++
		p.mu.Unlock()
		select {
		case p.results <- r:
			p.mu.Lock()
			p.n++
			n := p.n
			p.mu.Unlock()
			if p.after != nil {
				p.after(n)
			}
		case <-ctx.Done():
		}
	}()
	return nil
}

func (p *fakePool) score(j worker.Job) worker.Result {
	r := worker.Result{ID: j.ID, Worker: "fake", Seconds: 0.001}
	w, err := configWeights(j.Config)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	if p.fail != nil {
		if r.Err = p.fail(w); r.Err != "" {
			return r
		}
	}
	if len(w) != len(p.target) {
		r.Err = fmt.Sprintf("%d weights, want %d", len(w), len(p.target))
		return r
	}
	for i, v := range w {
		r.Score -= (v - p.target[i]) * (v - p.target[i])
	}
	r.Scores = map[string]map[string]float64{"fake": {"acc,none": r.Score}}
	return r
}

func (p *fakePool) Results() <-chan worker.Result { return p.results }
func (p *fakePool) Close() error                  { return nil }

func (p *fakePool) submitted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.jobs)
}

// configWeights reads the weights of a discrete config's sources.
func configWeights(config []byte) ([]float64, error) {
	var c struct {
		Slices []struct {
			Sources []struct {
				Parameters struct {
					Weight *float64 `yaml:"weight"`
				} `yaml:"parameters"`
			} `yaml:"sources"`
		} `yaml:"slices"`
	}
	if err := yaml.Unmarshal(config, &c); err != nil {
		return nil, err
	}
	var w []float64
	for _, s := range c.Slices {
		for _, src := range s.Sources {
			if src.Parameters.Weight != nil {
				w = append(w, *src.Parameters.Weight)
			}
		}
	}
	return w, nil
}

// linearGenome is two models, one group per layer, on 4 layers: 8 genes.
const linearGenome = `genome:
  models: [model_a, model_b]
  merge_method: linear
  layer_granularity: 1
tasks:
  - name: fake
`

var linearTarget = []float64{0.9, 0.1, 0.8, 0.2, 0.1, 0.9, 0.3, 0.7}

func testConfig(t *testing.T, src string) *Config {
	t.Helper()
	c, err := ParseConfig([]byte(src), "evo.yml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readEvals(t *testing.T, dir string) []Eval {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, EvalsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Eval
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e Eval
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("evals.jsonl: %v", err)
		}
		out = append(out, e)
	}
	return out
}

func TestRunImproves(t *testing.T) {
	dir := t.TempDir()
	pool := newFakePool(linearTarget)
	var progress []Progress
	sum, err := Run(context.Background(), testConfig(t, linearGenome), Options{
		StoragePath: dir, Pool: pool, NumLayers: 4, MaxFevals: 300, Seed: 1,
		Progress: func(p Progress) { progress = append(progress, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	// x0 = 0.5 everywhere scores −Σ(0.5−target)² = −1.14.
	if sum.Best == nil || sum.Best.Score < -0.05 {
		t.Fatalf("best %+v, want a score above −0.05 (start −1.14)", sum.Best)
	}
	lambda := DefaultPopSize(8)
	if sum.Evals < 300 || sum.Evals >= 300+lambda || sum.Evals%lambda != 0 || sum.Stop != "maxfevals" {
		t.Errorf("evals %d stop %q, want the first multiple of λ=%d from 300", sum.Evals, sum.Stop, lambda)
	}
	evals := readEvals(t, dir)
	if len(evals) != sum.Evals || pool.submitted() != sum.Evals {
		t.Errorf("%d lines, %d submitted, %d evals", len(evals), pool.submitted(), sum.Evals)
	}
	for _, e := range evals {
		if e.ID == "" || len(e.Genotype) != 8 || e.Worker != "fake" || e.Scores["fake"] == nil {
			t.Fatalf("incomplete line %+v", e)
		}
	}
	if len(progress) != sum.Generations || progress[len(progress)-1].Best != sum.Best.Score {
		t.Errorf("%d progress calls for %d generations", len(progress), sum.Generations)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i].Best < progress[i-1].Best || progress[i].Evals != progress[i-1].Evals+lambda {
			t.Fatalf("progress %d: %+v after %+v", i, progress[i], progress[i-1])
		}
	}
	best, err := os.ReadFile(filepath.Join(dir, BestConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(best) != sum.BestConfig {
		t.Error("best_config.yaml is not the best candidate's config")
	}
	mc, err := merge.ParseConfig(best, BestConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if mc.MergeMethod != "linear" || len(mc.Slices) != 4 || mc.Slices[0].Sources[0].Model.Path != "model_a" {
		t.Errorf("best config %s", best)
	}
}

// strip leaves what a run must reproduce of its evals.
func strip(evals []Eval) []Eval {
	out := slices.Clone(evals)
	for i := range out {
		out[i].Seconds, out[i].Worker = 0, ""
	}
	return out
}

func TestRunSeed(t *testing.T) {
	run := func(seed uint64) []Eval {
		dir := t.TempDir()
		if _, err := Run(context.Background(), testConfig(t, linearGenome), Options{
			StoragePath: dir, Pool: newFakePool(linearTarget), NumLayers: 4, MaxFevals: 40, Seed: seed,
		}); err != nil {
			t.Fatal(err)
		}
		return strip(readEvals(t, dir))
	}
	a, b, c := run(5), run(5), run(6)
	// Results arrive in any order; lines are in arrival order, so compare
	// them as sets per generation by sorting on ID.
	sortEvals := func(e []Eval) {
		slices.SortFunc(e, func(x, y Eval) int {
			if x.Generation != y.Generation {
				return x.Generation - y.Generation
			}
			return strings.Compare(x.ID, y.ID)
		})
	}
	sortEvals(a)
	sortEvals(b)
	sortEvals(c)
	if !evalsEqual(a, b) {
		t.Error("seed 5 gave two different runs")
	}
	if evalsEqual(a, c) {
		t.Error("seeds 5 and 6 gave the same run")
	}
}

func evalsEqual(a, b []Eval) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestRunResume kills a run in the middle of a generation (its context
// cancelled, as kill -9 stops it between two fsyncs), tears the last line
// of evals.jsonl, and runs again: the second run goes on from the last
// checkpoint, re-uses the candidates already scored, and the whole ends
// as the uninterrupted run does.
func TestRunResume(t *testing.T) {
	cfg := testConfig(t, linearGenome)
	whole := t.TempDir()
	ref, err := Run(context.Background(), cfg, Options{StoragePath: whole, Pool: newFakePool(linearTarget),
		NumLayers: 4, MaxFevals: 100, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	lambda := DefaultPopSize(8)

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	first := newFakePool(linearTarget)
	stopAt := 3*lambda + 4 // four candidates into the fourth generation
	first.limit = stopAt
	first.after = func(n int) {
		if n == stopAt {
			cancel()
		}
	}
	_, err = Run(ctx, cfg, Options{StoragePath: dir, Pool: first, NumLayers: 4, MaxFevals: 100, Seed: 3})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	first.wg.Wait()
	scored := len(readEvals(t, dir))
	if scored != stopAt {
		t.Fatalf("%d candidates on disk after the interruption, want %d", scored, stopAt)
	}
	f, err := os.OpenFile(filepath.Join(dir, EvalsFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"id":"torn","genera`)
	f.Close()
	// A checkpoint write cut short leaves its temporary file.
	leftover := filepath.Join(dir, "."+CheckpointFile+".tmp-123")
	os.WriteFile(leftover, []byte(`{"key":`), 0o644)

	second := newFakePool(linearTarget)
	sum, err := Run(context.Background(), cfg, Options{StoragePath: dir, Pool: second, NumLayers: 4, MaxFevals: 100, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Resumed || sum.Evals != ref.Evals || sum.Generations != ref.Generations {
		t.Fatalf("resumed run: %+v, want %d evals in %d generations", sum, ref.Evals, ref.Generations)
	}
	if got, want := second.submitted(), ref.Evals-scored; got != want {
		t.Errorf("the resumed run scored %d candidates, want %d (%d re-used)", got, want, scored)
	}
	if _, err := os.Stat(leftover); err == nil {
		t.Error("the leftover temporary file is still there")
	}
	evals := readEvals(t, dir)
	if len(evals) != ref.Evals {
		t.Errorf("%d lines in evals.jsonl, want %d", len(evals), ref.Evals)
	}
	if sum.Best.ID != ref.Best.ID || sum.Best.Score != ref.Best.Score || sum.BestConfig != ref.BestConfig {
		t.Errorf("best %+v, the uninterrupted run's %+v", sum.Best, ref.Best)
	}
	// A finished run resumed again has nothing left to do.
	third := newFakePool(linearTarget)
	sum, err = Run(context.Background(), cfg, Options{StoragePath: dir, Pool: third, NumLayers: 4, MaxFevals: 100, Seed: 3})
	if err != nil || third.submitted() != 0 || sum.Best.ID != ref.Best.ID {
		t.Errorf("rerun of a finished run: %v, %d submitted", err, third.submitted())
	}
}

func TestRunLocked(t *testing.T) {
	dir := t.TempDir()
	l, err := lockStorage(filepath.Join(dir, LockFile))
	if err != nil {
		t.Fatal(err)
	}
	opened := 0
	open := func(context.Context) (worker.Pool, error) { opened++; return newFakePool(linearTarget), nil }
	_, err = Run(context.Background(), testConfig(t, linearGenome), Options{StoragePath: dir,
		OpenPool: open, NumLayers: 4, MaxFevals: 10})
	l.Close()
	if !errors.Is(err, ErrLocked) || opened != 0 {
		t.Fatalf("second run on a locked storage path: %v, pool opened %d times", err, opened)
	}
	if _, err := Run(context.Background(), testConfig(t, linearGenome), Options{StoragePath: dir,
		OpenPool: open, NumLayers: 4, MaxFevals: 10}); err != nil || opened != 1 {
		t.Fatalf("after the lock was released: %v, pool opened %d times", err, opened)
	}
}

func TestRunFailedCandidates(t *testing.T) {
	dir := t.TempDir()
	pool := newFakePool(linearTarget)
	pool.fail = func(w []float64) string {
		if w[0] > 0.55 {
			return "merge failed: out of luck"
		}
		return ""
	}
	sum, err := Run(context.Background(), testConfig(t, linearGenome), Options{StoragePath: dir, Pool: pool,
		NumLayers: 4, MaxFevals: 200, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	var failed int
	for _, e := range readEvals(t, dir) {
		if e.Error != "" {
			failed++
			if e.Score != PenaltyScore || !strings.Contains(e.Error, "out of luck") {
				t.Fatalf("failed line %+v", e)
			}
		}
	}
	if failed == 0 {
		t.Fatal("no candidate failed; the test does not test")
	}
	if w, _ := configWeights([]byte(sum.BestConfig)); sum.Best.Error != "" || w[0] > 0.55 {
		t.Errorf("best %+v is a failed candidate", sum.Best)
	}

	// A first generation that fails whole is a broken setup, not a search.
	pool = newFakePool(linearTarget)
	pool.fail = func([]float64) string { return "no such task" }
	_, err = Run(context.Background(), testConfig(t, linearGenome), Options{StoragePath: t.TempDir(), Pool: pool,
		NumLayers: 4, MaxFevals: 50})
	if err == nil || !strings.Contains(err.Error(), "no such task") {
		t.Errorf("all failed: %v", err)
	}
}

func TestRunRefusesOtherSearch(t *testing.T) {
	dir := t.TempDir()
	if _, err := Run(context.Background(), testConfig(t, linearGenome), Options{StoragePath: dir,
		Pool: newFakePool(linearTarget), NumLayers: 4, MaxFevals: 10}); err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(linearGenome, "model_b", "model_c", 1)
	_, err := Run(context.Background(), testConfig(t, other), Options{StoragePath: dir,
		Pool: newFakePool(linearTarget), NumLayers: 4, MaxFevals: 20})
	if err == nil || !strings.Contains(err.Error(), "another search") {
		t.Errorf("another genome on the same storage path: %v", err)
	}
	// Scores with bfloat16 products do not compare with float32 ones.
	_, err = Run(context.Background(), testConfig(t, linearGenome), Options{StoragePath: dir,
		Pool: newFakePool(linearTarget), NumLayers: 4, MaxFevals: 20, BF16Dot: true})
	if err == nil || !strings.Contains(err.Error(), "another search") {
		t.Errorf("the same search with bf16 products: %v", err)
	}
	if _, err := Run(context.Background(), testConfig(t, linearGenome), Options{StoragePath: dir,
		Pool: newFakePool(linearTarget), NumLayers: 4, MaxFevals: 20}); err != nil {
		t.Errorf("the same search resumed: %v", err)
	}
}

func TestRunTimeout(t *testing.T) {
	pool := newFakePool(linearTarget)
	sum, err := Run(context.Background(), testConfig(t, linearGenome), Options{StoragePath: t.TempDir(),
		Pool: pool, NumLayers: 4, MaxFevals: 1000, Timeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stop != "timeout" || sum.Generations != 1 {
		t.Errorf("stop %q after %d generations, want timeout after 1", sum.Stop, sum.Generations)
	}
}

func TestRunInvalidSigma(t *testing.T) {
	_, err := Run(context.Background(), testConfig(t, linearGenome), Options{StoragePath: t.TempDir(),
		Pool: newFakePool(linearTarget), NumLayers: 4, Sigma0: math.Inf(1)})
	if err == nil {
		t.Error("infinite sigma0 accepted")
	}
}

// TestRunFinalModelRefused: a final_model/ gomerge did not write is found
// before the search, not after it.
func TestRunFinalModelRefused(t *testing.T) {
	dir := t.TempDir()
	theirs := filepath.Join(dir, FinalModelDir)
	os.MkdirAll(theirs, 0o755)
	os.WriteFile(filepath.Join(theirs, "weights.bin"), []byte("precious"), 0o644)
	pool := newFakePool(linearTarget)
	_, err := Run(context.Background(), testConfig(t, linearGenome), Options{StoragePath: dir, Pool: pool,
		NumLayers: 4, MaxFevals: 10, SaveFinalModel: true})
	if !errors.Is(err, outdir.ErrRefused) || pool.submitted() != 0 {
		t.Fatalf("error %v after %d candidates; want a refusal before the search", err, pool.submitted())
	}
	if b, _ := os.ReadFile(filepath.Join(theirs, "weights.bin")); string(b) != "precious" {
		t.Fatal("the directory was touched")
	}
}

// TestRunDurablePool resumes on a pool that, like a JetStream queue,
// remembers every job ID it was given: jobs of the killed session are not
// queued again, and a result of one of them comes back from the queue.
// The resumed run must neither hang on the dropped jobs nor lose the
// stale result.
func TestRunDurablePool(t *testing.T) {
	cfg := testConfig(t, linearGenome)
	ref, err := Run(context.Background(), cfg, Options{StoragePath: t.TempDir(), Pool: newFakePool(linearTarget),
		NumLayers: 4, MaxFevals: 60, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	lambda := DefaultPopSize(8)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	first := newFakePool(linearTarget)
	first.limit = lambda + 2
	first.after = func(n int) {
		if n == lambda+2 {
			cancel()
		}
	}
	if _, err := Run(ctx, cfg, Options{StoragePath: dir, Pool: first, NumLayers: 4, MaxFevals: 60, Seed: 4}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	first.wg.Wait()
	recorded := map[string]bool{}
	for _, e := range readEvals(t, dir) {
		recorded[e.ID] = true
	}
	second := newFakePool(linearTarget)
	second.drop = map[string]bool{}
	var unscored []worker.Job
	for _, j := range first.jobs {
		second.drop[j.ID] = true
		if id, _, _ := strings.Cut(j.ID, "."); !recorded[id] {
			unscored = append(unscored, j)
		}
	}
	if len(unscored) < 2 {
		t.Fatalf("%d jobs of the killed session unscored; the test does not test", len(unscored))
	}
	second.stale = []worker.Result{first.score(unscored[0])}
	guard, stop := context.WithTimeout(context.Background(), time.Minute) // a hang fails instead of blocking
	defer stop()
	sum, err := Run(guard, cfg, Options{StoragePath: dir, Pool: second, NumLayers: 4, MaxFevals: 60, Seed: 4})
	if err != nil {
		t.Fatalf("resumed run on the durable pool: %v", err)
	}
	if sum.Evals != ref.Evals || sum.Best.ID != ref.Best.ID || sum.Best.Score != ref.Best.Score {
		t.Errorf("resumed: %d evals, best %s %v; uninterrupted: %d, %s %v", sum.Evals, sum.Best.ID, sum.Best.Score,
			ref.Evals, ref.Best.ID, ref.Best.Score)
	}
	if n := len(readEvals(t, dir)); n != ref.Evals {
		t.Errorf("%d lines in evals.jsonl, want %d", n, ref.Evals)
	}
}
