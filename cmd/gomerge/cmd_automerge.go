package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gomerge/gomerge/automerge"
	"github.com/gomerge/gomerge/automerge/poolfile"
	"github.com/gomerge/gomerge/internal/outdir"
	"github.com/gomerge/gomerge/worker"
)

// exitBusy is automerge's exit code when another automerge holds the
// state directory: sysexits' EX_TEMPFAIL, "try again later", which a cron
// job can tell from a failure.
const exitBusy = 75

const automergeUsage = `usage: gomerge automerge --pool POOL.yml --state DIR [flags]

Breed, score and rank merges unattended, as mlabonne's AutoMerger does:
each run draws a recipe (slerp, dare_ties, model_stock, ties,
task_arithmetic, della, with the pool's probabilities and parameter
ranges) and two parents from the pool (kept children too: merges of
merges), skips a recipe already tried, merges the child in memory and
scores it on the pool's tasks, and writes it to DIR/models/NAME, with a
LazyMergekit-style model card, only if it enters the top --keep. DIR holds
leaderboard.db (SQLite; see gomerge leaderboard, or the sqlite3 CLI).

Meant for cron or a systemd timer: one automerge per DIR at a time (a
second one exits at once with code 75), a run killed at any point is
marked interrupted by the next start and leaves no complete-looking
half-written child. Exit codes: 0 done, 1 failed, 2 usage or pool error,
75 DIR busy, 130 interrupted.

examples:
  gomerge automerge --pool pool.yml --state /var/lib/automerge --runs 20
  gomerge automerge --pool pool.yml --state ./am --time-budget 6h --keep 5 --json
`

// automergeFlags are the flags of gomerge automerge.
type automergeFlags struct {
	pool, state    string
	runs, keep     int
	budget         seconds
	seed           uint64
	workers        int
	parallel       int
	threads        int
	batchSize      int
	listen, nats   string
	taskPath       stringList
	allowCrimes    bool
	cacheDir       string
	org, push      string
	jsonOut, quiet bool
	bf16Dot        bool
	verbose        counter
}

func newAutomergeFlags(stderr io.Writer, f *automergeFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("gomerge automerge", flag.ContinueOnError)
	setUsage(fs, stderr, automergeUsage)
	fs.StringVar(&f.pool, "pool", "", "pool FILE: models, base, tasks, recipes, selection, keep (required)")
	fs.StringVar(&f.state, "state", "", "state DIR: leaderboard.db, models/, the lock (required)")
	fs.IntVar(&f.runs, "runs", 0, "runs to make (default 1, or no limit with --time-budget)")
	fs.Var(&f.budget, "time-budget", "start no run after this much `TIME`: seconds or a duration such as 6h (default none)")
	fs.IntVar(&f.keep, "keep", 0, "children that keep their weights on disk (default: the pool's keep, else 3)")
	fs.Uint64Var(&f.seed, "random-seed", 0, "seed of the draws (with the runs already recorded) and of random merge methods")
	fs.IntVar(&f.workers, "workers", 1, "local evaluators (0: none, with --listen or --nats)")
	fs.IntVar(&f.parallel, "parallel", 0, "children scored at once (default: --workers, at least 1)")
	fs.IntVar(&f.threads, "j", 0, "threads of one evaluator's forward pass (default: CPUs / --workers)")
	fs.IntVar(&f.batchSize, "batch-size", 0, "requests per forward pass batch (default: the evaluator's)")
	fs.StringVar(&f.listen, "listen", "", "serve a JetStream work queue on HOST:PORT for gomerge worker processes")
	fs.StringVar(&f.nats, "nats", "", "URL of a NATS JetStream server whose workers score the children")
	fs.Var(&f.taskPath, "task-search-path", "`DIR` of task files NAME.yaml / NAME.jsonl (repeatable)")
	fs.BoolVar(&f.allowCrimes, "allow-crimes", false, "allow mixing architectures")
	fs.StringVar(&f.cacheDir, "transformers-cache", "", "Hugging Face hub cache DIR for downloaded models")
	fs.StringVar(&f.org, "org", "", "hub organisation (ORG) named in the model cards' usage snippet")
	fs.StringVar(&f.push, "push", "", "upload every child written to disk to the hub as `ORG`/NAME (token from HF_TOKEN; failed uploads tried 3 times); off by default")
	fs.BoolVar(&f.jsonOut, "json", false, "one JSON line per event on stdout, the summary last")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines")
	fs.BoolVar(&f.bf16Dot, "bf16-dot", false, "score bf16 weights with bfloat16 products on CPUs that have them (AVX512_BF16), as llama.cpp does: faster; scores differ from the float32 path in the low digits; part of the task set: runs scored without it rank apart")
	verbosity(fs, &f.verbose)
	return fs
}

func runAutomerge(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f automergeFlags
	fs := newAutomergeFlags(stderr, &f)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	switch {
	case len(pos) > 0:
		fmt.Fprintf(stderr, "gomerge: automerge takes no arguments, got %q; the pool is --pool POOL.yml\n", pos)
		return exitUsage
	case f.pool == "" || f.state == "":
		fs.Usage()
		return exitUsage
	}
	remote := f.listen != "" || f.nats != ""
	if f.runs < 0 || f.keep < 0 || f.parallel < 0 || f.workers < 0 || (f.workers == 0 && !remote) {
		fmt.Fprintln(stderr, "gomerge: --runs, --keep and --parallel must not be negative; --workers must be positive (0 only with --listen or --nats)")
		return exitUsage
	}
	if f.listen != "" && f.nats != "" {
		fmt.Fprintln(stderr, "gomerge: --listen serves an embedded NATS server, --nats uses another: give one")
		return exitUsage
	}
	if f.runs == 0 && f.budget == 0 {
		f.runs = 1
	}
	log := newLogger(stderr, int(f.verbose))
	pool, err := poolfile.LoadPool(f.pool)
	if err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitUsage
	}
	if err := checkEvolveTasks(pool.Tasks, f.taskPath); err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitUsage
	}
	// Children are written as AutoMerger wrote them (mergekit-yaml
	// --copy-tokenizer --out-shard-size 1B), special tokens aligned as
	// gomerge merge aligns them; the card is automerge's own.
	mf := mergeFlags{allowCrimes: f.allowCrimes, cacheDir: f.cacheDir, quiet: true, stderr: stderr,
		copyTokenizer: true, alignSpecial: true, shardSize: 1e9}
	mopt := mf.options(log)
	if wd, err := os.Getwd(); err == nil {
		mopt.Dir = wd
	}
	wopt := worker.Options{Name: "local", Hub: mopt.Hub, Threads: f.threads, BatchSize: f.batchSize,
		Cache: worker.NewCache(2), Logger: log}
	openPool := func(context.Context) (worker.Pool, error) { return worker.NewLocal(f.workers, wopt), nil }
	if remote {
		// The queue lives in the state directory, opened only once the
		// directory's lock is held.
		openPool = func(ctx context.Context) (worker.Pool, error) {
			p, err := worker.NewJetStream(ctx, worker.JetStreamOptions{StoreDir: filepath.Join(f.state, "jetstream"),
				Listen: f.listen, URL: f.nats, LocalWorkers: f.workers, Worker: wopt, Logger: log})
			if err != nil {
				return nil, err
			}
			if f.listen != "" {
				fmt.Fprintf(stderr, "gomerge: workers join with: gomerge worker --nats %s\n", p.URL())
			}
			return p, nil
		}
	}
	if f.push != "" {
		f.org = f.push
		if mopt.Hub == nil || mopt.Hub.Token == "" {
			fmt.Fprintln(stderr, "gomerge: --push needs a hub token: set HF_TOKEN")
			return exitUsage
		}
	}
	opt := automerge.Options{State: f.state, Push: f.push != "", Runs: f.runs, TimeBudget: time.Duration(f.budget), Keep: f.keep,
		Seed: f.seed, TaskSearchPath: f.taskPath, OpenPool: openPool, Parallel: max(f.parallel, f.workers, 1),
		Merge: mopt, Org: f.org, Logger: log, BF16Dot: f.bf16Dot}
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	switch {
	case f.jsonOut:
		opt.Events = func(e automerge.Event) {
			mu.Lock()
			defer mu.Unlock()
			enc.Encode(e)
		}
	case !f.quiet && isTerminal(stderr):
		opt.Events = func(e automerge.Event) { printAutomergeEvent(stderr, e) }
	}
	sum, err := automerge.Run(ctx, pool, opt)
	if err != nil {
		switch {
		case errors.Is(err, automerge.ErrLocked):
			fmt.Fprintf(stderr, "gomerge: another gomerge automerge is running on %s (it holds %s); try again later\n", f.state, filepath.Join(f.state, automerge.LockFile))
			return exitBusy
		case ctx.Err() != nil:
			fmt.Fprintf(stderr, "gomerge: interrupted; the runs in progress are recorded as interrupted in %s\n", filepath.Join(f.state, automerge.DBFile))
			return exitInterrupted
		}
		fmt.Fprintln(stderr, "gomerge:", err)
		if errors.Is(err, outdir.ErrRefused) {
			return exitUsage
		}
		return exitFailed
	}
	if f.jsonOut {
		enc.Encode(struct {
			Event string `json:"event"`
			*automerge.Summary
		}{"summary", sum})
		return exitOK
	}
	best := "none yet"
	if sum.Best != nil {
		best = fmt.Sprintf("%s (run %d, score %.6g)", sum.Best.Name, sum.Best.ID, *sum.Best.Score)
	}
	fmt.Fprintf(stderr, "gomerge: %d runs done, %d failed (%s), %d earlier runs marked interrupted; best %s; see gomerge leaderboard --state %s\n",
		sum.Done, sum.Failed, sum.Stop, sum.Interrupted, best, f.state)
	return exitOK
}

// printAutomergeEvent is the progress line of an event on a terminal.
func printAutomergeEvent(w io.Writer, e automerge.Event) {
	switch e.Event {
	case "run_start":
		fmt.Fprintf(w, "run %d: %s = %s of %v\n", e.Run, e.Name, e.Method, e.Parents)
	case "run_scored":
		fmt.Fprintf(w, "run %d: %s scored %.6g\n", e.Run, e.Name, *e.Score)
	case "run_failed":
		fmt.Fprintf(w, "run %d: %s failed: %s\n", e.Run, e.Name, e.Error)
	case "child_written":
		fmt.Fprintf(w, "run %d: %s enters the top; written to %s\n", e.Run, e.Name, e.Path)
	case "child_pruned":
		fmt.Fprintf(w, "run %d: %s %s; weights deleted, card kept\n", e.Run, e.Name, e.Detail)
	case "run_interrupted":
		fmt.Fprintf(w, "run %d: %s interrupted\n", e.Run, e.Name)
	}
}
