package automerge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomerge/gomerge/automerge/leaderboard"
	"github.com/gomerge/gomerge/automerge/poolfile"
	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/internal/outdir"
	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/worker"
)

// Files of the state directory.
const (
	DBFile    = "leaderboard.db"
	LockFile  = "automerge.lock"
	ModelsDir = "models"
)

// ErrLocked is matched (errors.Is) by the error of a run whose state
// directory is held by another running automerge.
var ErrLocked = errors.New("state directory is in use by another gomerge automerge")

// ErrExhausted is matched (errors.Is) when no untried recipe could be
// drawn: every pair and method of the pool was tried.
var ErrExhausted = errors.New("no untried recipe left in the pool")

// minDBFree is the free space below which a failure to open the database
// is put down to a full disk.
const minDBFree = 64 << 10

// maxDraws is how many recipes are drawn, before giving up, to find one
// not tried yet.
const maxDraws = 200

// Options control [Run].
type Options struct {
	// State is the state directory: leaderboard.db, models/, the lock.
	// Required.
	State string
	// Runs is how many runs to start (0: no limit, until TimeBudget or
	// until no untried recipe is left).
	Runs int
	// TimeBudget stops starting runs once this much time has passed
	// (0: none). A run in progress is finished.
	TimeBudget time.Duration
	// Keep is how many children keep their weights on disk; 0 is the
	// pool's keep, else DefaultKeep.
	Keep int
	// Seed seeds the draws; with the number of runs already recorded, so
	// that each night draws differently.
	Seed uint64
	// TaskSearchPath is passed to the workers with every job.
	TaskSearchPath []string
	// BF16Dot has the workers score with bfloat16 products where their
	// CPU has them (worker.Job.BF16Dot). Its scores do not compare with
	// float32 ones, so it is part of the session's task set: runs scored
	// without it are ranked apart.
	BF16Dot bool
	// Pool scores the children; OpenPool, when Pool is nil, opens it once
	// the state directory is locked (Run closes it). One is required.
	Pool     worker.Pool
	OpenPool func(ctx context.Context) (worker.Pool, error)
	// Parallel is how many children are scored at once (default 1):
	// more than one keeps several workers of a JetStream pool busy.
	Parallel int
	// Merge are the options of writing a kept child (Hub, Dir, Threads).
	Merge merge.Options
	// Org is the hub organisation named in the cards' usage snippet.
	Org string
	// Push uploads every child written to disk to the hub repository
	// Org/NAME through Merge.Hub (its token from HF_TOKEN), trying a
	// failed upload up to three times (5 s, then 20 s apart). An upload
	// that still fails is logged and leaves the run done. Off by default.
	Push bool
	// Logger receives a line per event; nil discards.
	Logger *slog.Logger
	// Events, when set, receives every event (for --json).
	Events func(Event)
	// FreeSpace returns the bytes free where dir is; nil uses statfs.
	FreeSpace func(dir string) (uint64, error)
}

// Event is one thing that happened, as --json logs it.
type Event struct {
	Time    time.Time `json:"time"`
	Event   string    `json:"event"`
	Run     int64     `json:"run,omitempty"`
	Name    string    `json:"name,omitempty"`
	Method  string    `json:"method,omitempty"`
	Parents []string  `json:"parents,omitempty"`
	Score   *float64  `json:"score,omitempty"`
	Path    string    `json:"path,omitempty"`
	Error   string    `json:"error,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

// Summary is the outcome of a Run.
type Summary struct {
	State string `json:"state"`
	// Interrupted are the runs of earlier sessions marked interrupted at
	// the start.
	Interrupted int `json:"interrupted"`
	Done        int `json:"done"`
	Failed      int `json:"failed"`
	// Stop says why the session ended: "runs", "time-budget",
	// "exhausted".
	Stop string `json:"stop"`
	// Best is the best run of the leaderboard so far.
	Best    *leaderboard.Run `json:"best,omitempty"`
	Seconds float64          `json:"seconds"`
}

type session struct {
	pool  *poolfile.Pool
	opt   Options
	db    *leaderboard.DB
	log   *slog.Logger
	rng   *rand.Rand
	keep  int
	names map[string]bool
	// skipped maps the pool models left out (their shape differs from
	// their family's) to the reason.
	skipped map[string]string
	id      string
	dir     string // models directory
	// tasks is the pool's TaskSet: the session ranks, keeps and prunes
	// only runs scored on it.
	tasks string
}

type pending struct {
	run   leaderboard.Run
	cand  *poolfile.Candidate
	jobID string
}

// Run breeds, scores and ranks children of the pool's models until
// opt.Runs runs were made, the time budget is spent or no untried recipe
// is left. It holds the state directory's lock for its whole life (a
// second Run fails at once with ErrLocked), marks the runs of a killed
// session interrupted, and removes what they left half-written.
func Run(ctx context.Context, pool *poolfile.Pool, opt Options) (*Summary, error) {
	start := time.Now()
	if opt.State == "" || (opt.Pool == nil && opt.OpenPool == nil) {
		return nil, errors.New("automerge: a state directory and a worker pool are required")
	}
	// Children are parents of later runs, and the leaderboard names them
	// by path: absolute, whatever the directory automerge runs in.
	state, err := filepath.Abs(opt.State)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	opt.State = state
	s := &session{pool: pool, opt: opt, log: opt.Logger, names: map[string]bool{},
		id: strconv.FormatUint(rand.Uint64(), 36), dir: filepath.Join(opt.State, ModelsDir),
		tasks: scoringKey(TaskSet(pool.Tasks, pool.Limit, pool.NumFewshot), opt.BF16Dot)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.keep = firstPositive(opt.Keep, pool.Keep, poolfile.DefaultKeep)
	if opt.Push && (opt.Org == "" || opt.Merge.Hub == nil) {
		return nil, errors.New("automerge: pushing needs a hub organisation and a hub client")
	}
	if s.opt.Parallel < 1 {
		s.opt.Parallel = 1
	}
	if s.opt.FreeSpace == nil {
		s.opt.FreeSpace = freeSpace
	}
	if err = os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	lock, err := lockState(filepath.Join(opt.State, LockFile))
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if s.db, err = leaderboard.Open(ctx, filepath.Join(opt.State, DBFile)); err != nil {
		// SQLite says "disk I/O error" when it cannot grow its WAL index
		// on a full disk: name the cause.
		if free, ferr := s.opt.FreeSpace(opt.State); ferr == nil && free < minDBFree {
			return nil, fmt.Errorf("%w (the file system holding %s is full: %d bytes free)", err, opt.State, free)
		}
		return nil, err
	}
	defer s.db.Close()
	sum := &Summary{State: opt.State}
	if sum.Interrupted, err = s.recoverState(ctx); err != nil {
		return nil, err
	}
	n, err := s.db.Count(ctx)
	if err != nil {
		return nil, err
	}
	s.rng = rand.New(rand.NewPCG(opt.Seed, uint64(n)))
	if opt.Pool == nil {
		if s.opt.Pool, err = opt.OpenPool(ctx); err != nil {
			return nil, err
		}
		defer s.opt.Pool.Close()
	}
	s.event(Event{Event: "session_start", Detail: fmt.Sprintf("runs so far %d, keep %d", n, s.keep)})
	if err := s.otherTaskSets(ctx); err != nil {
		return nil, err
	}
	s.checkShapes()
	sum.Stop, err = s.loop(ctx, sum, start)
	sum.Seconds = time.Since(start).Seconds()
	if best, berr := s.db.Runs(context.WithoutCancel(ctx)); berr == nil {
		if best = s.ours(best); len(best) > 0 && best[0].Score != nil && best[0].Status == leaderboard.StatusDone {
			sum.Best = &best[0]
		}
	}
	s.event(Event{Event: "session_end", Detail: fmt.Sprintf("stop %s, done %d, failed %d", sum.Stop, sum.Done, sum.Failed)})
	return sum, err
}

// firstPositive returns the first positive value.
func firstPositive(v ...int) int {
	for _, x := range v {
		if x > 0 {
			return x
		}
	}
	return 0
}

func (s *session) event(e Event) {
	e.Time = time.Now().UTC()
	attrs := []any{"event", e.Event}
	if e.Run != 0 {
		attrs = append(attrs, "run", e.Run)
	}
	if e.Name != "" {
		attrs = append(attrs, "name", e.Name)
	}
	if e.Score != nil {
		attrs = append(attrs, "score", *e.Score)
	}
	if e.Error != "" {
		attrs = append(attrs, "error", e.Error)
	}
	if e.Detail != "" {
		attrs = append(attrs, "detail", e.Detail)
	}
	if e.Path != "" {
		attrs = append(attrs, "path", e.Path)
	}
	if e.Error != "" {
		s.log.Warn("automerge", attrs...)
	} else {
		s.log.Info("automerge", attrs...)
	}
	if s.opt.Events != nil {
		s.opt.Events(e)
	}
}

func (s *session) loop(ctx context.Context, sum *Summary, start time.Time) (string, error) {
	inflight := map[string]*pending{}
	started := 0
	stop := ""
	for {
		for stop == "" && len(inflight) < s.opt.Parallel {
			switch {
			case s.opt.Runs > 0 && started >= s.opt.Runs:
				stop = "runs"
				continue
			case s.opt.TimeBudget > 0 && time.Since(start) >= s.opt.TimeBudget:
				stop = "time-budget"
				continue
			}
			p, err := s.begin(ctx)
			if errors.Is(err, ErrExhausted) {
				stop = "exhausted"
				s.event(Event{Event: "exhausted", Detail: err.Error()})
				continue
			}
			if err != nil {
				s.interruptAll(inflight)
				return "", err
			}
			inflight[p.jobID] = p
			started++
		}
		if len(inflight) == 0 {
			return stop, nil
		}
		var res worker.Result
		select {
		case <-ctx.Done():
			s.interruptAll(inflight)
			return "", ctx.Err()
		case r, ok := <-s.opt.Pool.Results():
			if !ok {
				s.interruptAll(inflight)
				return "", errors.New("automerge: the worker pool closed")
			}
			res = r
		}
		p := inflight[res.ID]
		if p == nil {
			continue // a result of an earlier session's job
		}
		delete(inflight, res.ID)
		status, err := s.finish(ctx, p, res)
		if err != nil {
			if ctx.Err() != nil {
				s.interrupt(p)
				s.interruptAll(inflight)
				return "", ctx.Err()
			}
			s.interruptAll(inflight)
			return "", err
		}
		if status == leaderboard.StatusDone {
			sum.Done++
		} else {
			sum.Failed++
		}
	}
}

// otherTaskSets says, once per session, when the leaderboard holds runs
// scored on other task sets than the pool's (the pool's tasks, limit or
// few-shot count changed since): they are left out of this session's
// ranking, keeping and pruning.
func (s *session) otherTaskSets(ctx context.Context) error {
	runs, err := s.db.Runs(ctx)
	if err != nil {
		return err
	}
	other := map[string]int{}
	n := 0
	for _, r := range runs {
		if r.Score != nil && !s.sameTasks(r) {
			t := r.TaskKey()
			other[t]++
			n++
		}
	}
	if n == 0 {
		return nil
	}
	var sets []string
	for _, t := range slices.Sorted(maps.Keys(other)) {
		sets = append(sets, fmt.Sprintf("%d on %s", other[t], t))
	}
	s.event(Event{Event: "other_task_sets", Detail: fmt.Sprintf(
		"%d scored runs of this state directory were scored on other tasks (%s); this session scores on %s and ranks, keeps and prunes only its own runs",
		n, strings.Join(sets, "; "), s.tasks)})
	return nil
}

// interrupt records a run cut short by cancellation, for a session that
// is still alive to say so; a killed one is marked by the next start.
func (s *session) interrupt(p *pending) {
	ctx := context.Background()
	if err := s.db.Finish(ctx, p.run.ID, leaderboard.StatusInterrupted, "cancelled (signal) before the run finished", 0); err == nil {
		s.event(Event{Event: "run_interrupted", Run: p.run.ID, Name: p.run.Name})
	}
}

func (s *session) interruptAll(m map[string]*pending) {
	for _, p := range m {
		s.interrupt(p)
	}
}

// begin draws an untried recipe, records the run and submits its job.
func (s *session) begin(ctx context.Context) (*pending, error) {
	cand, err := s.draw(ctx)
	if err != nil {
		return nil, err
	}
	name := ChildName(cand.Parents[0], cand.Parents[1], func(n string) bool { return s.names[n] })
	s.names[name] = true
	p := &pending{cand: cand, run: leaderboard.Run{Name: name, Method: cand.Method, Config: string(cand.Config),
		Hash: cand.Hash, Parents: cand.Parents, Seed: s.rng.Uint64() >> 1, Tasks: s.tasks}}
	if _, err := s.db.Start(ctx, &p.run); err != nil {
		return nil, err
	}
	p.jobID = fmt.Sprintf("automerge-%d-%s", p.run.ID, s.id)
	s.event(Event{Event: "run_start", Run: p.run.ID, Name: name, Method: cand.Method, Parents: cand.Parents})
	job := worker.Job{ID: p.jobID, Config: cand.Config, Tasks: s.pool.Tasks, Limit: s.pool.Limit,
		NumFewshot: s.pool.NumFewshot, Seed: p.run.Seed, TaskSearchPath: s.opt.TaskSearchPath, BF16Dot: s.opt.BF16Dot}
	if err := s.opt.Pool.Submit(ctx, job); err != nil {
		s.interrupt(p)
		return nil, fmt.Errorf("run %d: submit: %w", p.run.ID, err)
	}
	return p, nil
}

// draw picks a family, a recipe the family can use and two parents of
// the family until it finds a config not tried yet.
func (s *session) draw(ctx context.Context) (*poolfile.Candidate, error) {
	fams, err := s.familyCandidates(ctx)
	if err != nil {
		return nil, err
	}
	var usable []int
	for fi, c := range fams {
		if len(c) >= 2 && len(usableRecipes(s.pool.Recipes, s.pool.Families[fi])) > 0 {
			usable = append(usable, fi)
		}
	}
	if len(usable) == 0 {
		var why []string
		for fi, f := range s.pool.Families {
			why = append(why, fmt.Sprintf("family %s: %d usable models", f.Name, len(fams[fi])))
		}
		for m, r := range s.skipped {
			why = append(why, fmt.Sprintf("%s skipped: %s", displayRef(m), r))
		}
		slices.Sort(why[len(s.pool.Families):])
		return nil, fmt.Errorf("automerge: no family has two models to merge with its recipes (%s)", strings.Join(why, "; "))
	}
	for range maxDraws {
		fi := usable[0]
		if len(usable) > 1 {
			fi = usable[s.rng.IntN(len(usable))]
		}
		f := s.pool.Families[fi]
		rec := pickRecipe(s.rng, usableRecipes(s.pool.Recipes, f))
		a, b := pickParents(s.rng, fams[fi], s.pool.Selection)
		c, err := rec.Build(s.rng, a, b, f.Base, s.pool.DType)
		if err != nil {
			return nil, err
		}
		sets, err := s.db.ConfigTaskSets(ctx, c.Hash)
		if err != nil {
			return nil, err
		}
		// Tried on this task set, or before task sets were recorded.
		if !slices.ContainsFunc(sets, func(t string) bool { return t == s.tasks || t == "" }) {
			return c, nil
		}
		s.log.Debug("recipe already tried; drawing again", "method", c.Method, "parents", c.Parents)
	}
	return nil, fmt.Errorf("%w (%d draws all tried before)", ErrExhausted, maxDraws)
}

// finish records a scored (or failed) job; a child entering the top K is
// written to disk and the children falling out of it lose their weights.
func (s *session) finish(ctx context.Context, p *pending, res worker.Result) (string, error) {
	id := p.run.ID
	fail := func(reason string, mergeSeconds float64) (string, error) {
		if err := s.db.Finish(ctx, id, leaderboard.StatusFailed, reason, mergeSeconds); err != nil {
			return "", err
		}
		s.event(Event{Event: "run_failed", Run: id, Name: p.run.Name, Error: reason})
		return leaderboard.StatusFailed, nil
	}
	if res.Err != "" {
		return fail(res.Err, 0)
	}
	var scores []leaderboard.Score
	for _, t := range s.pool.Tasks {
		v, ok := res.Scores[t.Name][t.Metric]
		if !ok {
			return fail(fmt.Sprintf("task %s has no metric %s", t.Name, t.Metric), 0)
		}
		scores = append(scores, leaderboard.Score{Task: t.Name, Metric: t.Metric, Value: v, Weight: t.Weight})
	}
	if math.IsNaN(res.Score) || math.IsInf(res.Score, 0) {
		return fail(fmt.Sprintf("score %v", res.Score), 0)
	}
	if err := s.db.Scored(ctx, id, res.Score, scores, res.Worker, res.Seconds); err != nil {
		return "", err
	}
	score := res.Score
	p.run.Score, p.run.Scores, p.run.Worker, p.run.EvalSeconds = &score, scores, res.Worker, res.Seconds
	s.event(Event{Event: "run_scored", Run: id, Name: p.run.Name, Score: &score, Detail: "worker " + res.Worker})

	kept, err := s.db.Kept(ctx)
	if err != nil {
		return "", err
	}
	kept = s.ours(kept)
	if len(kept) < s.keep || score > *kept[s.keep-1].Score {
		if reason, err := s.write(ctx, p); err != nil {
			return "", err
		} else if reason != "" {
			return fail(reason, 0)
		}
		if err := s.prune(ctx); err != nil {
			return "", err
		}
	} else if err := s.db.Finish(ctx, id, leaderboard.StatusDone, "", 0); err != nil {
		return "", err
	}
	s.event(Event{Event: "run_done", Run: id, Name: p.run.Name, Score: &score})
	return leaderboard.StatusDone, nil
}

// write merges the child into models/NAME (through package outdir: a
// staging directory renamed into place once complete) with its card.
// reason is why the child could not be written (disk space, a merge
// error); err is a failure of the leaderboard itself.
func (s *session) write(ctx context.Context, p *pending) (reason string, err error) {
	need := estimateBytes(p.cand.Parents, func(ref string) int64 { return s.parentBytes(ctx, ref) })
	free, ferr := s.opt.FreeSpace(s.dir)
	if ferr != nil {
		return fmt.Sprintf("check disk space: %v", ferr), nil
	}
	if free < need {
		return fmt.Sprintf("not enough disk space to write the child: need about %d bytes, %d free on %s", need, free, s.dir), nil
	}
	cfg, perr := merge.ParseConfig(p.cand.Config, p.run.Name+" config")
	if perr != nil {
		return perr.Error(), nil
	}
	all, err := s.db.Runs(ctx)
	if err != nil {
		return "", err
	}
	card := Card(p.run.Name, s.opt.Org, &p.run, Lineage(&p.run, byPath(all)))
	done := p.run
	done.Status = leaderboard.StatusDone
	record, _ := json.MarshalIndent(done, "", "  ")
	mopt := s.opt.Merge
	// The seed the child was scored with: the same random masks.
	seed := p.run.Seed
	mopt.Seed, mopt.SkipTokenizer, mopt.SkipModelCard = &seed, false, true
	mopt.ExtraFiles = map[string][]byte{"README.md": []byte(card), "mergekit_config.yml": p.cand.Config,
		"automerge.json": append(record, '\n')}
	out := filepath.Join(s.dir, p.run.Name)
	t0 := time.Now()
	if _, merr := merge.Run(ctx, cfg, out, mopt); merr != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return fmt.Sprintf("write child %s: %v", out, merr), nil
	}
	if err := s.db.DoneWithModel(ctx, p.run.ID, out, du(out), time.Since(t0).Seconds()); err != nil {
		return "", err
	}
	s.event(Event{Event: "child_written", Run: p.run.ID, Name: p.run.Name, Path: out})
	if s.opt.Push {
		s.push(ctx, p.run.ID, p.run.Name, out)
	}
	return "", nil
}

// pushTries is how many times a child's upload is tried before the run
// gives up on it (the hub client does not retry uploads itself).
const pushTries = 3

// pushWait is the wait before retry try (1-based): 5 s, 20 s.
var pushWait = func(try int) time.Duration { return 5 * time.Second << (2 * (try - 1)) }

// push uploads a written child to Org/NAME, trying again after a failure
// (a network error, the hub's 5xx) up to pushTries times.
func (s *session) push(ctx context.Context, id int64, name, dir string) {
	repo := s.opt.Org + "/" + name
	c := s.opt.Merge.Hub
	var err error
	for try := 1; ; try++ {
		var commit string
		if c == nil {
			err = errors.New("no hub client")
		} else if err = c.CreateRepo(ctx, repo, false); err == nil {
			commit, err = c.UploadFolder(ctx, repo, dir, "Upload "+name+" (gomerge automerge)")
		}
		if err == nil {
			err = s.db.SetPushed(ctx, id, repo)
			s.event(Event{Event: "child_pushed", Run: id, Name: name, Path: repo, Detail: "commit " + commit})
			break
		}
		if try >= pushTries || c == nil || errors.Is(err, hub.ErrNoToken) || ctx.Err() != nil {
			break
		}
		wait := pushWait(try)
		s.event(Event{Event: "push_retry", Run: id, Name: name, Path: repo, Error: err.Error(),
			Detail: fmt.Sprintf("try %d of %d failed; next in %s", try, pushTries, wait)})
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	if err != nil {
		s.event(Event{Event: "push_failed", Run: id, Name: name, Path: repo, Error: err.Error()})
	}
}

// byPath maps a child's directory to its run.
func byPath(runs []leaderboard.Run) map[string]*leaderboard.Run {
	m := map[string]*leaderboard.Run{}
	for i := range runs {
		if runs[i].Model != nil {
			m[runs[i].Model.Path] = &runs[i]
		}
	}
	return m
}

// estimateBytes is the room a child needs: its largest parent's weights,
// plus a tenth and 1 MiB for the tokenizer, card and slack. size gives a
// parent's weight bytes (0: unknown).
func estimateBytes(parents []string, size func(string) int64) uint64 {
	var most int64
	for _, p := range parents {
		most = max(most, size(p))
	}
	return uint64(most) + uint64(most)/10 + 1<<20
}

// parentBytes is the size of a parent's weights: a local directory's
// weight files, else, for a hub id, the weight files the hub (or, offline,
// its cache) lists; 0 when it cannot be known.
func (s *session) parentBytes(ctx context.Context, ref string) int64 {
	m := displayRef(ref)
	if n := weightBytes(m); n > 0 {
		return n
	}
	repo, rev, _ := strings.Cut(m, "@")
	if s.opt.Merge.Hub == nil || !hub.IsRepoID(repo) {
		return 0
	}
	if _, err := os.Stat(m); err == nil {
		return 0 // a local directory without weights
	}
	rm, err := s.opt.Merge.Hub.Inspect(ctx, repo, rev)
	if err != nil {
		s.log.Warn("automerge: size of a hub parent unknown; the disk check counts 1 MiB for it", "model", m, "err", err)
		return 0
	}
	defer rm.Close()
	var n int64
	for _, w := range rm.Weights {
		n += w.Size
	}
	return n
}

// weightFile says whether a file of a model directory holds weights (what
// --keep deletes).
func weightFile(name string) bool {
	for _, suf := range []string{".safetensors", ".safetensors.index.json", ".bin", ".bin.index.json", ".pt", ".pth", ".gguf"} {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
}

func weightBytes(dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		if weightFile(e.Name()) {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
	}
	return n
}

func du(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// prune deletes the weights of the kept children beyond the top K of the
// session's task set; their card, config and scores stay. Children scored
// on another task set keep theirs: their scores do not rank against these.
func (s *session) prune(ctx context.Context) error {
	kept, err := s.db.Kept(ctx)
	if err != nil {
		return err
	}
	kept = s.ours(kept)
	for i := s.keep; i < len(kept); i++ {
		r := kept[i]
		if err := removeWeights(r.Model.Path); err != nil {
			return fmt.Errorf("prune %s: %w", r.Model.Path, err)
		}
		if err := s.db.Pruned(ctx, r.ID); err != nil {
			return err
		}
		s.event(Event{Event: "child_pruned", Run: r.ID, Name: r.Name, Path: r.Model.Path,
			Detail: fmt.Sprintf("out of the top %d", s.keep)})
	}
	return nil
}

// removeWeights deletes the weight files of a child directory, the index
// first so that no reader sees an index naming missing shards.
func removeWeights(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, pass := range []func(string) bool{
		func(n string) bool { return strings.HasSuffix(n, ".index.json") },
		weightFile,
	} {
		for _, e := range entries {
			if pass(e.Name()) {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
		}
	}
	return nil
}

// recoverState makes the state directory consistent after a session that died:
// runs left "running" are marked interrupted; staging directories are
// removed and interrupted commits finished (package outdir); a child
// directory no run recorded (its session died between writing it and
// recording it) is removed; a kept child whose weights are gone is
// recorded as pruned; children beyond the top K lose their weights.
func (s *session) recoverState(ctx context.Context) (int, error) {
	interrupted, err := s.db.MarkInterrupted(ctx)
	if err != nil {
		return 0, err
	}
	for _, r := range interrupted {
		s.event(Event{Event: "run_interrupted", Run: r.ID, Name: r.Name,
			Detail: "marked interrupted: its session stopped before the run finished"})
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if name, _, ok := strings.Cut(strings.TrimPrefix(e.Name(), "."), ".partial-"); ok && strings.HasPrefix(e.Name(), ".") {
			if _, err := outdir.Clean(filepath.Join(s.dir, name), s.log); err != nil {
				return 0, err
			}
		}
	}
	runs, err := s.db.Runs(ctx)
	if err != nil {
		return 0, err
	}
	recorded := map[string]bool{}
	for _, r := range runs {
		s.names[r.Name] = true
		if r.Model != nil {
			recorded[filepath.Base(r.Model.Path)] = true
			if r.Model.Weights && weightBytes(r.Model.Path) == 0 {
				if err := s.db.Pruned(ctx, r.ID); err != nil {
					return 0, err
				}
			}
		}
	}
	if entries, err = os.ReadDir(s.dir); err != nil {
		return 0, err
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || recorded[e.Name()] {
			continue
		}
		dir := filepath.Join(s.dir, e.Name())
		if _, err := os.Stat(filepath.Join(dir, outdir.MarkerName)); err != nil {
			continue // not ours: left alone
		}
		if err := os.RemoveAll(dir); err != nil {
			return 0, fmt.Errorf("remove the unrecorded child %s: %w", dir, err)
		}
		s.event(Event{Event: "orphan_removed", Path: dir, Detail: "a child written by a session that stopped before recording it"})
	}
	return len(interrupted), s.prune(ctx)
}
