// Command gomerge merges large language models from mergekit YAML configs.
//
//	gomerge CONFIG.yml OUT [flags]     merge (same flags as mergekit-yaml)
//	gomerge plan CONFIG.yml [flags]    validate and describe a merge; read no weights
//	gomerge multi CONFIG.yml -I DIR [--out-path DIR]
//	                                   run a multi-stage config (mergekit-multi)
//	gomerge extract-lora --model FT --base-model BASE --out-path DIR
//	                                   extract a LoRA adapter (mergekit-extract-lora)
//	gomerge doctor MODEL... [--json]   check special tokens, chat template, vocabulary
//	gomerge tokensurgeon MODEL DONOR OUT [flags]
//	                                   move MODEL onto DONOR's tokenizer
//	gomerge tokensurgeon --align-special MODEL [DONOR] OUT
//	                                   make special-token ids agree across files
//	gomerge version
//
// Exit codes: 0 success, 1 merge failed, 2 usage or config error,
// 130 interrupted.
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"golang.org/x/term"

	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/merge"
)

// version is set with -ldflags "-X main.version=…"; otherwise it comes
// from the module's build info.
var version = ""

func main() {
	if path := os.Getenv("GOMERGE_CPUPROFILE"); path != "" {
		// A CPU profile of the whole run, for `go tool pprof`.
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if code != exitOK {
		pprof.StopCPUProfile()
		os.Exit(code)
	}
}

const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

const usage = `usage:
  gomerge CONFIG.yml OUT [flags]   run a mergekit-yaml config, write the model to OUT
  gomerge eval MODEL --task NAME|FILE [flags]  score a model with lm-eval semantics (--list for tasks)
  gomerge plan CONFIG.yml [flags]  validate a config against the models' headers; read no weights
  gomerge multi CONFIG.yml --intermediate-dir DIR [--out-path DIR] [flags]
                                   run a multi-stage config (mergekit-multi)
  gomerge extract-lora --model FT --base-model BASE --out-path DIR [flags]
                                   extract a LoRA adapter (mergekit-extract-lora)
  gomerge doctor MODEL... [--json] check special tokens, chat template and vocabulary
  gomerge convert-llama2c MODEL.bin OUT
                                   llama2.c checkpoint (+ tokenizer) to a Hugging Face directory
  gomerge tokensurgeon MODEL DONOR OUT [flags]
                                   move MODEL onto DONOR's tokenizer (mergekit-tokensurgeon)
  gomerge tokensurgeon --align-special MODEL [DONOR] OUT
                                   make special-token ids agree across files
  gomerge tokenize --tokenizer DIR [--no-special]  text lines on stdin -> JSON arrays of token ids
  gomerge version

Run "gomerge CONFIG.yml OUT -h" for the merge flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "gomerge", versionString())
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "eval":
		return runEval(ctx, args[1:], stdout, stderr)
	case "plan":
		return runMerge(ctx, args[1:], stdout, stderr, true)
	case "extract-lora":
		return runExtractLoRA(ctx, args[1:], stdout, stderr)
	case "multi":
		return runMulti(ctx, args[1:], stdout, stderr)
	case "doctor":
		return runDoctor(ctx, args[1:], stdout, stderr)
	case "convert-llama2c":
		return runConvert(ctx, args[1:], stdout, stderr)
	case "tokensurgeon":
		return runTokensurgeon(ctx, args[1:], stdout, stderr)
	case "tokenize":
		return runTokenize(ctx, args[1:], stdout, stderr)
	case "merge":
		args = args[1:]
	}
	return runMerge(ctx, args, stdout, stderr, false)
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// mergeFlags are mergekit-yaml's flags that mean something here, the ones
// accepted for compatibility, and gomerge's own.
type mergeFlags struct {
	allowCrimes, copyTokenizer, writeModelCard, quiet, jsonOut bool
	shardSize, memory                                          byteSize
	seed                                                       int64
	threads                                                    int
	verbose                                                    counter
	device                                                     string
	cuda, gpu                                                  bool
	safeSerialization                                          bool
	cacheDir                                                   string
	offline                                                    bool
	stderr                                                     io.Writer
}

func newMergeFlags(stderr io.Writer, f *mergeFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("gomerge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.stderr = stderr
	f.shardSize = 5e9
	f.copyTokenizer, f.writeModelCard, f.safeSerialization = true, true, true
	fs.BoolVar(&f.allowCrimes, "allow-crimes", false, "allow mixing architectures")
	fs.BoolVar(&f.copyTokenizer, "copy-tokenizer", true, "copy the tokenizer of the base (or first) model")
	fs.BoolVar(&f.writeModelCard, "write-model-card", true, "write README.md and mergekit_config.yml")
	fs.Var(&f.shardSize, "out-shard-size", "largest output shard in bytes; suffixes k, m, b (default 5B)")
	fs.Int64Var(&f.seed, "random-seed", -1, "seed for random methods (default: a random seed, logged and written to the model card)")
	fs.IntVar(&f.threads, "j", 0, "threads: tensors, and pieces of a tensor, merged at once (default: number of CPUs)")
	fs.IntVar(&f.threads, "num-threads", 0, "same as -j")
	fs.Var(&f.verbose, "v", "more logging (-v info, -v -v debug)")
	fs.Func("vv", "debug logging", func(string) error { f.verbose += 2; return nil })
	fs.BoolVar(&f.quiet, "quiet", false, "no progress bar")
	fs.BoolVar(&f.jsonOut, "json", false, "print a JSON summary on stdout")
	fs.Var(&f.memory, "memory", "bytes of tensor buffers in flight (default: the largest tensor's, at least 256 MiB)")
	fs.StringVar(&f.device, "device", "cpu", "math device: cpu (cuda needs a CUDA build)")
	fs.BoolVar(&f.cuda, "cuda", false, "same as --device cuda")
	fs.BoolVar(&f.safeSerialization, "safe-serialization", true, "write safetensors (the only format gomerge writes)")
	for _, name := range []string{"multi-gpu", "gpu-rich", "low-cpu-memory", "read-to-gpu"} {
		fs.BoolVar(&f.gpu, name, false, "GPU option of mergekit; not available in this build")
	}
	// Accepted for mergekit compatibility; they change nothing here.
	var ignoredBool bool
	var ignoredString string
	for _, name := range []string{"clone-tensors", "lazy-unpickle", "trust-remote-code", "async-write"} {
		fs.BoolVar(&ignoredBool, name, false, "accepted for mergekit compatibility; no effect")
	}
	fs.StringVar(&ignoredString, "write-threads", "", "accepted for mergekit compatibility; no effect")
	fs.StringVar(&f.cacheDir, "transformers-cache", "", "Hugging Face hub cache for downloaded models (default $HF_HUB_CACHE)")
	fs.BoolVar(&f.offline, "offline", false, "use only models already in the hub cache (HF_HUB_OFFLINE=1)")
	for _, name := range []string{"lora-merge-cache", "lora-merge-dtype"} {
		fs.StringVar(&ignoredString, name, "", "accepted for mergekit compatibility; not needed: adapters are applied while tensors stream")
	}
	return fs
}

func runMerge(ctx context.Context, args []string, stdout, stderr io.Writer, planOnly bool) int {
	var f mergeFlags
	fs := newMergeFlags(stderr, &f)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	want := 2
	if planOnly {
		want = 1
	}
	if len(pos) != want {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	if code := checkDeviceFlags(&f, stderr); code != exitOK {
		return code
	}
	log := newLogger(stderr, int(f.verbose))
	cfg, err := merge.LoadConfig(pos[0])
	if err != nil {
		return failure(ctx, stderr, err, exitUsage)
	}
	opt := f.options(log)
	opt.HeadersOnly = planOnly
	plan, err := merge.NewPlanContext(ctx, cfg, opt.PlanOptions)
	if err != nil {
		return failure(ctx, stderr, err, exitUsage)
	}
	defer plan.Close()
	if planOnly {
		return printPlan(plan, opt, stdout, f.jsonOut)
	}
	opt.Seed = seed(f.seed, plan, log)
	limitMemory(plan, opt)
	if !f.quiet && !f.jsonOut && isTerminal(stderr) {
		bar := newProgress(stderr)
		opt.Progress = bar.update
		defer bar.finish()
	}
	res, err := merge.Execute(ctx, plan, pos[1], opt)
	if err != nil {
		return failure(ctx, stderr, err, exitFailed)
	}
	if f.jsonOut {
		printJSON(stdout, res)
	} else if !f.quiet {
		fmt.Fprintf(stderr, "gomerge: wrote %s: %d tensors, %d shard(s), %.1f MB in %.1fs\n",
			res.Out, res.Tensors, res.Shards, float64(res.Bytes)/1e6, res.Seconds)
	}
	return exitOK
}

// checkDeviceFlags refuses the flags this build cannot honour.
func checkDeviceFlags(f *mergeFlags, stderr io.Writer) int {
	if f.cuda || f.device == "cuda" || f.gpu {
		fmt.Fprintln(stderr, "gomerge: built without CUDA support; merges run on the CPU (drop --cuda/--device/GPU flags)")
		return exitUsage
	}
	if f.device != "cpu" && f.device != "auto" {
		fmt.Fprintf(stderr, "gomerge: unknown --device %q (want cpu or auto)\n", f.device)
		return exitUsage
	}
	if !f.safeSerialization {
		fmt.Fprintln(stderr, "gomerge: --no-safe-serialization is not supported: gomerge writes safetensors only")
		return exitUsage
	}
	return exitOK
}

// hubClient is the Hugging Face hub client, configured from the
// environment and the flags; downloads draw a progress bar on a terminal.
func (f *mergeFlags) hubClient(log *slog.Logger) *hub.Client {
	c := hub.NewClient()
	c.Logger = log
	if f.cacheDir != "" {
		c.CacheDir = f.cacheDir
	}
	if f.offline {
		c.Offline = true
	}
	if !f.quiet && !f.jsonOut && isTerminal(f.stderr) {
		bar := newProgress(f.stderr)
		c.Progress = func(p hub.Progress) {
			bar.update(p.Done, p.Total)
			if p.Total > 0 && p.Done >= p.Total {
				bar.finish()
			}
		}
	}
	return c
}

// options are the merge options the flags ask for.
func (f *mergeFlags) options(log *slog.Logger) merge.Options {
	return merge.Options{
		PlanOptions:    merge.PlanOptions{AllowCrimes: f.allowCrimes, Hub: f.hubClient(log)},
		ShardSize:      int64(f.shardSize),
		Threads:        f.threads,
		MemoryBudget:   int64(f.memory),
		CopyTokenizer:  f.copyTokenizer,
		WriteModelCard: f.writeModelCard,
		Logger:         log,
	}
}

func newLogger(w io.Writer, verbose int) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case verbose >= 2:
		level = slog.LevelDebug
	case verbose == 1:
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// seed returns the seed for random methods: the flag's, or a fresh one
// that is logged so the merge can be repeated.
func seed(flagSeed int64, plan *merge.Plan, log *slog.Logger) uint64 {
	if flagSeed >= 0 {
		return uint64(flagSeed)
	}
	s := randomSeed()
	if merge.UsesRandomness(plan.Method) {
		log.Warn("no --random-seed given; pass this one to repeat the merge", "seed", s)
	}
	return s
}

// limitMemory sets the Go runtime's soft memory limit to the plan's peak
// estimate plus headroom, unless GOMEMLIMIT is set: the garbage collector
// then returns freed tensor buffers before the heap doubles, and the
// process stays near inputs × largest tensor.
func limitMemory(plan *merge.Plan, opt merge.Options) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	threads := opt.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	debug.SetMemoryLimit(plan.PeakMemory(threads, opt.MemoryBudget) + 128<<20)
}

// randomSeed is a fresh non-negative seed.
func randomSeed() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) >> 1
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// planSummary is what `gomerge plan` reports.
type planSummary struct {
	Method       string   `json:"method"`
	Architecture string   `json:"architecture"`
	Models       []string `json:"models"`
	Tensors      int      `json:"tensors"`
	Bytes        int64    `json:"bytes"`
	Shards       int      `json:"shards"`
	PeakMemory   int64    `json:"peak_memory_bytes"`
	Warnings     []string `json:"warnings,omitempty"`
}

func printPlan(plan *merge.Plan, opt merge.Options, stdout io.Writer, asJSON bool) int {
	threads := opt.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	s := planSummary{Method: plan.Method.Name, Architecture: plan.Arch.Architectures[0], Tensors: len(plan.Tasks),
		Bytes: plan.OutputBytes(), Shards: plan.Shards(opt.ShardSize), PeakMemory: plan.PeakMemory(threads, opt.MemoryBudget),
		Warnings: plan.Warnings}
	for _, m := range plan.Models {
		s.Models = append(s.Models, m.Ref.String())
	}
	if asJSON {
		printJSON(stdout, s)
		return exitOK
	}
	fmt.Fprintf(stdout, "method:        %s\narchitecture:  %s\nmodels:        %d\n", s.Method, s.Architecture, len(s.Models))
	for _, m := range s.Models {
		fmt.Fprintf(stdout, "  %s\n", m)
	}
	fmt.Fprintf(stdout, "tensors:       %d\noutput bytes:  %d (%.2f GB)\nshards:        %d\npeak memory:   about %.0f MiB\n",
		s.Tensors, s.Bytes, float64(s.Bytes)/1e9, s.Shards, float64(s.PeakMemory)/(1<<20))
	for _, w := range s.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	return exitOK
}

// failure reports a command's error and returns its exit code: 130 when
// the context was cancelled (Ctrl-C), else code.
func failure(ctx context.Context, stderr io.Writer, err error, code int) int {
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "gomerge: interrupted; no output written")
		return exitInterrupted
	}
	fmt.Fprintln(stderr, "gomerge:", err)
	return code
}

// printJSON writes v indented, without HTML escaping, for --json.
func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
