package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/gomerge/gomerge/eval"
	"github.com/gomerge/gomerge/evolve"
	"github.com/gomerge/gomerge/internal/outdir"
	"github.com/gomerge/gomerge/worker"
)

const evolveUsage = `usage: gomerge evolve GENOME.yml --storage-path DIR [flags]

Search merge recipes with CMA-ES, as mergekit-evolve does. GENOME.yml is a
mergekit-evolve config (genome and tasks). Each candidate is merged in
memory and scored on the tasks (built-in sets, or NAME.yaml / NAME.jsonl
files in --task-search-path directories). DIR holds best_config.yaml,
evals.jsonl, the optimizer's checkpoint and final_model/; running the same
command again resumes from the last completed generation.

examples:
  gomerge evolve genome.yml --storage-path ./search --max-fevals 200 --random-seed 1
  gomerge evolve genome.yml --storage-path ./search --task-search-path ./tasks --workers 2 --json
  gomerge evolve genome.yml --storage-path ./search --listen 0.0.0.0:4222   # workers join with gomerge worker
`

// evolveFlags are the flags of gomerge evolve.
type evolveFlags struct {
	device         string
	mergeCUDA      bool
	storage        string
	maxFevals      int
	popSize        int
	sigma0         float64
	timeout        seconds
	seed           uint64
	workers        int
	threads        int
	batchSize      int
	listen, nats   string
	taskPath       stringList
	saveFinal      bool
	naughty        bool
	allowCrimes    bool
	cacheDir       string
	jsonOut, quiet bool
	bf16Dot        bool
	verbose        counter
}

// seconds is a duration flag that also takes plain seconds, as pycma's
// timeout does.
type seconds time.Duration

func (s *seconds) String() string { return time.Duration(*s).String() }
func (s *seconds) Set(v string) error {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || math.IsNaN(f) || f > math.MaxInt64/1e9 {
			return fmt.Errorf("timeout %q out of range", v)
		}
		*s = seconds(f * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("timeout %q: seconds or a duration such as 2h30m", v)
	}
	*s = seconds(d)
	return nil
}

// defaultWorkers is one evaluator per 8 CPUs, at least one: each
// evaluator's forward pass already runs on GOMAXPROCS/n threads, and each
// holds a merged model in memory.
func defaultWorkers() int { return max(1, runtime.GOMAXPROCS(0)/8) }

func newEvolveFlags(stderr io.Writer, f *evolveFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("gomerge evolve", flag.ContinueOnError)
	setUsage(fs, stderr, evolveUsage)
	fs.StringVar(&f.storage, "storage-path", "", "run directory: checkpoint, evals.jsonl, best_config.yaml, final_model (required)")
	fs.IntVar(&f.maxFevals, "max-fevals", evolve.DefaultMaxFevals, "stop after this many scored candidates (the last generation may overshoot)")
	fs.IntVar(&f.popSize, "force-population-size", 0, "population size (default 4 + floor(3 ln N) for N genes)")
	fs.Float64Var(&f.sigma0, "sigma0", evolve.DefaultSigma0, "initial CMA-ES step size")
	fs.Var(&f.timeout, "timeout", "stop after this much run time, all sessions together: seconds or a duration (default none)")
	fs.Uint64Var(&f.seed, "random-seed", 0, "seed of the search and of random merge methods")
	fs.IntVar(&f.workers, "workers", defaultWorkers(), "local evaluators (0: none, with --listen or --nats)")
	fs.IntVar(&f.threads, "j", 0, "threads of one evaluator's forward pass (default: CPUs / --workers)")
	fs.IntVar(&f.batchSize, "batch-size", 0, "requests per forward pass batch (default: the evaluator's)")
	fs.StringVar(&f.listen, "listen", "", "HOST:PORT: serve a JetStream work queue for `gomerge worker` processes")
	fs.StringVar(&f.nats, "nats", "", "URL of a NATS JetStream server whose workers score the candidates")
	fs.Var(&f.taskPath, "task-search-path", "directory of task files NAME.yaml / NAME.jsonl (repeatable)")
	fs.BoolVar(&f.saveFinal, "save-final-model", true, "merge the best config into DIR/final_model at the end")
	fs.BoolVar(&f.naughty, "i-understand-the-depths-of-the-evils-i-am-unleashing", false, "allow common benchmark tasks (mmlu, arc_, hellaswag, ...)")
	fs.BoolVar(&f.allowCrimes, "allow-crimes", false, "allow mixing architectures")
	fs.StringVar(&f.cacheDir, "transformers-cache", "", "Hugging Face hub cache for downloaded models")
	fs.BoolVar(&f.jsonOut, "json", false, "print a JSON summary on stdout instead of the best config")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines")
	fs.BoolVar(&f.bf16Dot, "bf16-dot", false, "score bf16 weights with bfloat16 products on CPUs that have them (AVX512_BF16), as llama.cpp does: faster; scores differ from the float32 path in the low digits; part of the search: a run resumes only with the same choice")
	verbosity(fs, &f.verbose)
	var ignored bool
	var ignoredStr string
	fs.StringVar(&f.device, "device", "cpu", deviceUsage+"; for the local evaluators' in-memory merges and their scoring forward pass of dense models (mixtures of experts and generation stay on the CPU)")
	fs.BoolVar(&f.mergeCUDA, "merge-cuda", false, "same as --device cuda (mergekit-evolve's flag)")
	for _, name := range []string{"in-memory", "reshard", "trust-remote-code"} {
		fs.BoolVar(&ignored, name, false, "accepted for mergekit compatibility; no effect")
	}
	for _, name := range []string{"strategy", "num-gpus"} {
		fs.StringVar(&ignoredStr, name, "", "accepted for mergekit compatibility; no effect")
	}
	return fs
}

func runEvolve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f evolveFlags
	fs := newEvolveFlags(stderr, &f)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 || f.storage == "" {
		fs.Usage()
		return exitUsage
	}
	remote := f.listen != "" || f.nats != ""
	if f.workers < 0 || (f.workers == 0 && !remote) || f.maxFevals < 1 || f.popSize < 0 || !(f.sigma0 > 0) || math.IsInf(f.sigma0, 0) {
		fmt.Fprintln(stderr, "gomerge: --workers must be positive (0 only with --listen or --nats), --max-fevals positive, --force-population-size not negative, --sigma0 a positive number")
		return exitUsage
	}
	if f.listen != "" && f.nats != "" {
		fmt.Fprintln(stderr, "gomerge: --listen serves an embedded NATS server, --nats uses another: give one")
		return exitUsage
	}
	if f.mergeCUDA {
		f.device = "cuda"
	}
	if code := checkDevice(f.device, stderr); code != exitOK {
		return code
	}
	log := newLogger(stderr, int(f.verbose))
	cfg, err := evolve.LoadConfig(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitUsage
	}
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	if cfg.Shuffle {
		log.Warn("shuffle is ignored: tasks are scored in file order, so every candidate sees the same documents")
	}
	warnings, err := cfg.CheckTasks(f.naughty)
	if err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitUsage
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	if err := checkEvolveTasks(cfg.Tasks, f.taskPath); err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitUsage
	}

	// The final model is written as mergekit-evolve writes it: one
	// shard, the tokenizer, a model card.
	mf := mergeFlags{allowCrimes: f.allowCrimes, cacheDir: f.cacheDir, quiet: true, stderr: stderr,
		copyTokenizer: true, writeModelCard: true}
	mopt := mf.options(log)
	if wd, err := os.Getwd(); err == nil {
		mopt.Dir = wd
	}
	be, release, err := openDevice(f.device, stderr)
	if err != nil {
		return failure(ctx, stderr, err, exitFailed)
	}
	defer release()
	mopt.Backend = be
	wopt := worker.Options{Name: "local", Hub: mopt.Hub, Threads: f.threads, BatchSize: f.batchSize,
		Cache: worker.NewCache(1), Logger: log, Backend: be, Accelerator: accelerator(be)}
	openPool := func(context.Context) (worker.Pool, error) { return worker.NewLocal(f.workers, wopt), nil }
	if remote {
		// The queue lives under the storage path, so a resumed run finds
		// the jobs and results the killed one left; evolve opens it only
		// once it holds the storage path's lock.
		openPool = func(ctx context.Context) (worker.Pool, error) {
			p, err := worker.NewJetStream(ctx, worker.JetStreamOptions{StoreDir: filepath.Join(f.storage, "jetstream"),
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

	opt := evolve.Options{StoragePath: f.storage, OpenPool: openPool, MaxFevals: f.maxFevals, PopSize: f.popSize,
		Sigma0: f.sigma0, Timeout: time.Duration(f.timeout), Seed: f.seed, TaskSearchPath: f.taskPath,
		SaveFinalModel: f.saveFinal, Merge: mopt, Logger: log, BF16Dot: f.bf16Dot}
	if !f.quiet && !f.jsonOut && isTerminal(stderr) {
		opt.Progress = func(p evolve.Progress) { printGeneration(stderr, p) }
	}
	sum, err := evolve.Run(ctx, cfg, opt)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "gomerge: interrupted; the same command resumes from the last completed generation in %s\n", f.storage)
			return exitInterrupted
		}
		fmt.Fprintln(stderr, "gomerge:", err)
		if errors.Is(err, evolve.ErrLocked) || errors.Is(err, outdir.ErrRefused) {
			return exitUsage
		}
		return exitFailed
	}
	if f.jsonOut {
		printJSON(stdout, sum)
		return exitOK
	}
	fmt.Fprintf(stderr, "gomerge: best score %g after %d evaluations in %d generations (%s); %s\n", sum.Best.Score,
		sum.Evals, sum.Generations, sum.Stop, filepath.Join(f.storage, evolve.BestConfigFile))
	fmt.Fprint(stdout, sum.BestConfig)
	return exitOK
}

// printGeneration is the per-generation progress line on a terminal.
func printGeneration(w io.Writer, p evolve.Progress) {
	var b strings.Builder
	fmt.Fprintf(&b, "generation %d: best %.6g, mean %.6g, %d/%d evaluations", p.Generation, p.Best, p.Mean, p.Evals, p.MaxFevals)
	if p.Failed > 0 {
		fmt.Fprintf(&b, " (%d failed)", p.Failed)
	}
	fmt.Fprintf(&b, ", sigma %.3g", p.Sigma)
	if p.ETA > 0 {
		fmt.Fprintf(&b, ", ETA %s", p.ETA.Round(time.Second))
	}
	fmt.Fprintln(w, b.String())
}

// checkEvolveTasks finds every task before the search starts, as the
// evaluators will: NAME.yaml, NAME.yml or NAME.jsonl (or their .zst) in
// the search path, else a task file or a built-in task. A typo found only
// by the evaluators would fail every candidate.
func checkEvolveTasks(tasks []worker.Task, searchPath []string) error {
	exts := []string{".yaml", ".yml", ".jsonl", ".yaml.zst", ".yml.zst", ".jsonl.zst"}
next:
	for _, t := range tasks {
		if !strings.ContainsAny(t.Name, `/\`) {
			for _, d := range searchPath {
				for _, ext := range exts {
					p := filepath.Join(d, t.Name+ext)
					if _, err := os.Stat(p); err == nil {
						if _, err := eval.LoadTask(p); err != nil {
							return fmt.Errorf("task %s: %w", t.Name, err)
						}
						continue next
					}
				}
			}
		}
		if _, err := eval.FindTask(t.Name); err != nil {
			return fmt.Errorf("task %s: not in --task-search-path %q and not a built-in task (%v)", t.Name, searchPath, err)
		}
	}
	return nil
}
