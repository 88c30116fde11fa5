// Command gomerge merges large language models from mergekit YAML configs.
//
//	gomerge CONFIG.yml OUT [flags]     merge (same flags as mergekit-yaml)
//	gomerge plan CONFIG.yml [flags]    validate and describe a merge; read no weights
//	gomerge moe CONFIG.yml OUT [flags] build a mixture of experts (mergekit-moe)
//	gomerge multi CONFIG.yml -I DIR [--out-path DIR]
//	                                   run a multi-stage config (mergekit-multi)
//	gomerge extract-lora --model FT --base-model BASE --out-path DIR
//	                                   extract a LoRA adapter (mergekit-extract-lora)
//	gomerge doctor MODEL... [--json]   check special tokens, chat template, vocabulary
//	gomerge chat MODEL [--prompt TEXT] talk to a model with its chat template
//	gomerge tokensurgeon MODEL DONOR OUT [flags]
//	                                   move MODEL onto DONOR's tokenizer
//	gomerge tokensurgeon --align-special MODEL [DONOR] OUT
//	                                   make special-token ids agree across files
//	gomerge clean OUT... [--json]     recover the leftovers of interrupted runs into OUT
//	gomerge automerge --pool POOL.yml --state DIR
//	                                   breed, score and rank merges unattended
//	gomerge leaderboard --state DIR    automerge's ranking (table, JSON, HTML, PNG)
//	gomerge version
//
// Exit codes: 0 success, 1 merge failed, 2 usage or config error,
// 130 interrupted, 75 (automerge) state directory busy.
package main

import (
	"cmp"
	"context"
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
	"runtime/trace"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/internal/outdir"
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
	if path := os.Getenv("GOMERGE_TRACE"); path != "" {
		// An execution trace, for `go tool trace`: where goroutines wait.
		if f, err := os.Create(path); err == nil && trace.Start(f) == nil {
			defer func() { trace.Stop(); f.Close() }()
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if code != exitOK {
		pprof.StopCPUProfile()
		trace.Stop()
		os.Exit(code)
	}
}

const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

const usage = `usage: gomerge COMMAND [arguments] [flags]

Merge large language models: mergekit's YAML configs, the same models, one
static binary. Model paths in a config resolve against the current directory.

commands:
  gomerge CONFIG.yml OUT           run a mergekit-yaml config, write the model to OUT
                                   (also: gomerge merge CONFIG.yml OUT)
  gomerge plan CONFIG.yml          validate a config (merge or MoE) against the models' headers; read no weights
  gomerge moe CONFIG.yml OUT       build a mixture of experts (mergekit-moe)
  gomerge moe route MODEL --prompt TEXT
                                   show which experts each layer of a MoE picks
  gomerge kraken CONFIG.json OUT   build a Kraken: a router picks one expert model (or LoRA) per prompt
  gomerge kraken train-router --base MODEL --data FILE.jsonl --out DIR
                                   train a Kraken router (sequence classifier) on labelled prompts
  gomerge kraken route KRAKEN --prompt TEXT
                                   route a prompt through a Kraken and let the chosen expert answer
  gomerge multi CONFIG.yml -I DIR [--out-path OUT]
                                   run a multi-stage config (mergekit-multi)
  gomerge extract-lora --model FT --base-model BASE --out-path DIR
                                   extract a LoRA adapter (mergekit-extract-lora)
  gomerge eval MODEL --task NAME|FILE
                                   score a model or a config (merged in memory) with lm-eval semantics
  gomerge doctor MODEL...          check special tokens, chat template and vocabulary
  gomerge chat MODEL [--prompt TEXT]
                                   talk to a model or a config (merged in memory), with its chat template
  gomerge tokensurgeon MODEL DONOR OUT
                                   move MODEL onto DONOR's tokenizer (mergekit-tokensurgeon)
  gomerge tokensurgeon --align-special MODEL [DONOR] OUT
                                   make special-token ids agree across files
  gomerge tokenize --tokenizer DIR text lines on stdin -> JSON arrays of token ids
  gomerge convert-llama2c MODEL.bin OUT
                                   llama2.c checkpoint (+ tokenizer) to a Hugging Face directory
  gomerge clean OUT...             recover what interrupted runs into OUT left behind
  gomerge evolve GENOME.yml --storage-path DIR
                                   search merge recipes with CMA-ES (mergekit-evolve)
  gomerge worker --nats URL        score candidates from a search's NATS JetStream queue
  gomerge automerge --pool POOL.yml --state DIR
                                   breed, score and rank merges unattended (AutoMerger), for cron
  gomerge leaderboard --state DIR  automerge's ranking: table, --json, --html page, --plot PNG
  gomerge version                  module version, commit and Go version

Run "gomerge COMMAND -h" (or "gomerge help COMMAND") for a command's flags.
Exit codes: 0 done, 1 failed, 2 usage, config or refused output, 130 interrupted
(automerge: 75 when another automerge holds the state directory).
`

const mergeUsage = `usage: gomerge CONFIG.yml OUT [flags]
       gomerge merge CONFIG.yml OUT [flags]

Runs a mergekit-yaml config and writes the merged model to OUT: safetensors
shards, config.json, the tokenizer, a model card and mergekit_config.yml.
Tensors stream one at a time; OUT appears only when complete, never over an
input, and never over a directory gomerge did not write (see --overwrite).

examples:
  gomerge examples/ties.yml ./out
  gomerge config.yml ./out --random-seed 42 --out-shard-size 2B -j 2 --json
`

const planUsage = `usage: gomerge plan CONFIG.yml [flags]

Checks a config against the models' config.json and tensor headers without
reading a weight (hub models: headers only, by range requests), and prints
the output tensors, bytes, shards, peak memory and the tokenizer the merge
will write. Exit 2 names the YAML line of each problem, all at once.

Hub models come from the Hugging Face cache first; for one the cache lacks,
the hub is asked once, for at most 5 s (HF_HUB_ETAG_TIMEOUT), and once it
has not answered the other models are looked up in the cache alone. Every
model that was not found is listed at the end (--json: unresolved_models).

examples:
  gomerge plan config.yml
  gomerge plan config.yml --json
  HF_HUB_OFFLINE=1 gomerge plan config.yml   # the cache only, no network
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	if args[0] == "help" && len(args) > 1 {
		args = []string{args[1], "-h"}
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
	case "kraken":
		return runKraken(ctx, args[1:], stdout, stderr)
	case "moe":
		return runMoE(ctx, args[1:], stdout, stderr, false)
	case "plan":
		if isMoEConfig(args[1:]) {
			return runMoE(ctx, args[1:], stdout, stderr, true)
		}
		return runMerge(ctx, args[1:], stdout, stderr, true)
	case "extract-lora":
		return runExtractLoRA(ctx, args[1:], stdout, stderr)
	case "multi":
		return runMulti(ctx, args[1:], stdout, stderr)
	case "doctor":
		return runDoctor(ctx, args[1:], stdout, stderr)
	case "chat":
		return runChat(ctx, args[1:], os.Stdin, stdout, stderr)
	case "convert-llama2c":
		return runConvert(ctx, args[1:], stdout, stderr)
	case "tokensurgeon":
		return runTokensurgeon(ctx, args[1:], stdout, stderr)
	case "tokenize":
		return runTokenize(ctx, args[1:], stdout, stderr)
	case "clean":
		return runClean(ctx, args[1:], stdout, stderr)
	case "worker":
		return runWorker(ctx, args[1:], stdout, stderr)
	case "evolve":
		return runEvolve(ctx, args[1:], stdout, stderr)
	case "automerge":
		return runAutomerge(ctx, args[1:], stdout, stderr)
	case "leaderboard":
		return runLeaderboard(ctx, args[1:], stdout, stderr)
	case "merge":
		args = args[1:]
	default:
		if looksLikeCommand(args[0]) {
			fmt.Fprintf(stderr, "gomerge: unknown command %q; run \"gomerge help\" for the commands\n", args[0])
			return exitUsage
		}
	}
	if isMoEConfig(args) {
		fmt.Fprintln(stderr, "gomerge: this is a mergekit-moe config (experts:, no merge_method:); build it with: gomerge moe CONFIG.yml OUT")
		return exitUsage
	}
	return runMerge(ctx, args, stdout, stderr, false)
}

// looksLikeCommand tells a mistyped command from a config file: a word
// with no extension or path that names no file.
func looksLikeCommand(arg string) bool {
	if arg == "" || strings.HasPrefix(arg, "-") || strings.ContainsAny(arg, "./\\") {
		return false
	}
	_, err := os.Stat(arg)
	return err != nil
}

// versionString is the module version, the commit it was built from (with
// "+dirty" for a modified tree) and the Go version.
func versionString() string {
	v, commit, goVersion := version, "", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		goVersion = bi.GoVersion
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			commit = " commit " + rev
			if modified == "true" {
				commit += "+dirty"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return fmt.Sprintf("%s%s %s %s/%s", v, commit, goVersion, runtime.GOOS, runtime.GOARCH)
}

// mergeFlags are mergekit-yaml's flags that mean something here, the ones
// accepted for compatibility, and gomerge's own.
type mergeFlags struct {
	allowCrimes, copyTokenizer, writeModelCard, quiet, jsonOut bool
	allowDegenerate                                            bool
	shardSize, memory                                          byteSize
	seed                                                       int64
	threads                                                    int
	verbose                                                    counter
	device                                                     string
	cuda, gpu                                                  bool
	safeSerialization                                          bool
	cacheDir                                                   string
	offline, overwrite, alignSpecial                           bool
	stderr                                                     io.Writer
}

func newMergeFlags(stderr io.Writer, f *mergeFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("gomerge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.stderr = stderr
	f.shardSize = 5e9
	f.copyTokenizer, f.writeModelCard, f.safeSerialization, f.alignSpecial = true, true, true, true
	fs.BoolVar(&f.allowCrimes, "allow-crimes", false, "allow mixing architectures")
	fs.BoolVar(&f.allowDegenerate, "allow-degenerate", false, "merge tensors whose parameters are degenerate (NaN/Inf values, weights summing to 0 under normalize) with a warning, as mergekit does, instead of stopping")
	fs.BoolVar(&f.overwrite, "overwrite", false, "replace an existing output directory that gomerge did not write (inputs are never replaced)")
	fs.BoolVar(&f.copyTokenizer, "copy-tokenizer", true, "copy the tokenizer of the base (or first) model")
	fs.BoolVar(&f.writeModelCard, "write-model-card", true, "write README.md and mergekit_config.yml")
	fs.BoolVar(&f.alignSpecial, "align-special-tokens", true, "make config.json and generation_config.json EOS/BOS/PAD ids agree with the written tokenizer and chat template")
	fs.Var(&f.shardSize, "out-shard-size", "largest output shard in bytes; suffixes k, m, b (×10³, ×10⁶, ×10⁹)")
	fs.Int64Var(&f.seed, "random-seed", -1, "seed for random methods (default: a random seed, logged and written to the model card)")
	fs.IntVar(&f.threads, "j", 0, "threads: tensors, and pieces of a tensor, merged at once (default: number of CPUs)")
	fs.IntVar(&f.threads, "num-threads", 0, "same as -j")
	verbosity(fs, &f.verbose)
	fs.BoolVar(&f.quiet, "quiet", false, "no progress bar")
	fs.BoolVar(&f.jsonOut, "json", false, "print a JSON summary on stdout")
	fs.Var(&f.memory, "memory", "bytes of tensor buffers in flight (default: the largest tensor's, at least 256 MiB)")
	fs.StringVar(&f.device, "device", "cpu", deviceUsage)
	fs.BoolVar(&f.cuda, "cuda", false, "same as --device cuda (mergekit's flag)")
	f.mergekitFlags(fs)
	return fs
}

func runMerge(ctx context.Context, args []string, stdout, stderr io.Writer, planOnly bool) int {
	var f mergeFlags
	fs := newMergeFlags(stderr, &f)
	if planOnly {
		setUsage(fs, stderr, planUsage)
	} else {
		setUsage(fs, stderr, mergeUsage)
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if msg := checkArgs(pos, planOnly); msg != "" {
		fmt.Fprintf(stderr, "gomerge: %s (see gomerge %s-h)\n", msg, map[bool]string{true: "plan ", false: ""}[planOnly])
		return exitUsage
	}
	if code := checkDeviceFlags(&f, stderr); code != exitOK {
		return code
	}
	logw := &barWriter{w: stderr}
	log := newLogger(logw, int(f.verbose))
	cfg, err := merge.LoadConfig(pos[0])
	if err != nil {
		return configFailed(ctx, stdout, stderr, err, &f, planOnly && f.jsonOut)
	}
	opt := f.options(log)
	opt.HeadersOnly = planOnly
	if planOnly {
		opt.Hub.ReachTimeout = cmp.Or(opt.Hub.MetadataTimeout, planReachTimeout)
	}
	plan, err := merge.NewPlanContext(ctx, cfg, opt.PlanOptions)
	if err != nil {
		return configFailed(ctx, stdout, stderr, err, &f, planOnly && f.jsonOut)
	}
	defer plan.Close()
	if planOnly {
		return printPlan(plan, opt, stdout, f.jsonOut)
	}
	opt.Seed = new(seed(f.seed, plan, log))
	opt.Threads = spareProcs(opt.Threads)
	limitMemory(plan, opt)
	be, release, err := openDevice(f.device, stderr)
	if err != nil {
		return failure(ctx, stderr, err, exitFailed)
	}
	defer release()
	opt.Backend = be
	var bar *progress
	if !f.quiet && !f.jsonOut && isTerminal(stderr) {
		bar = newProgress(stderr)
		opt.Progress = bar.update
		logw.bar.Store(bar)
	}
	res, err := merge.Execute(ctx, plan, pos[1], opt)
	if bar != nil {
		bar.finish() // what follows starts on its own line
	}
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

// mergekitFlags adds the flags mergekit-yaml and mergekit-moe share that
// gomerge honours in one way only: safetensors output, the hub cache, GPU
// options (refused by checkDeviceFlags) and options accepted with no
// effect; compat names further ones accepted with no effect.
func (f *mergeFlags) mergekitFlags(fs *flag.FlagSet, compat ...string) {
	fs.BoolVar(&f.safeSerialization, "safe-serialization", true, "write safetensors (the only format gomerge writes)")
	for _, name := range []string{"multi-gpu", "gpu-rich", "low-cpu-memory", "read-to-gpu"} {
		fs.BoolVar(&f.gpu, name, false, "GPU option of mergekit; not supported (see --device)")
	}
	var ignoredBool bool
	var ignoredString string
	for _, name := range append([]string{"clone-tensors", "lazy-unpickle", "trust-remote-code", "async-write"}, compat...) {
		fs.BoolVar(&ignoredBool, name, false, "accepted for mergekit compatibility; no effect")
	}
	fs.StringVar(&ignoredString, "write-threads", "", "accepted for mergekit compatibility; no effect")
	for _, name := range []string{"lora-merge-cache", "lora-merge-dtype"} {
		fs.StringVar(&ignoredString, name, "", "accepted for mergekit compatibility; not needed: adapters are applied while tensors stream")
	}
	fs.StringVar(&f.cacheDir, "transformers-cache", "", "Hugging Face hub cache for downloaded models (default $HF_HUB_CACHE)")
	fs.BoolVar(&f.offline, "offline", false, "use only models already in the hub cache (HF_HUB_OFFLINE=1)")
}

// checkArgs says what is wrong with a merge's or plan's positional
// arguments, "" if nothing.
func checkArgs(pos []string, planOnly bool) string {
	switch {
	case len(pos) == 0:
		return "missing CONFIG.yml, the merge config"
	case planOnly && len(pos) > 1:
		return fmt.Sprintf("plan takes one config, got %d arguments: %s", len(pos), strings.Join(pos, " "))
	case !planOnly && len(pos) == 1:
		return "missing OUT, the directory to write the merged model to"
	case !planOnly && len(pos) > 2:
		return fmt.Sprintf("too many arguments after CONFIG.yml OUT: %s", strings.Join(pos[2:], " "))
	}
	return ""
}

// checkDeviceFlags refuses the flags this build cannot honour; --cuda is
// --device cuda.
func checkDeviceFlags(f *mergeFlags, stderr io.Writer) int {
	if f.cuda {
		f.device = "cuda"
	}
	if code := checkDevice(f.device, stderr); code != exitOK {
		return code
	}
	if f.gpu {
		fmt.Fprintln(stderr, "gomerge: mergekit's --multi-gpu, --gpu-rich, --low-cpu-memory and --read-to-gpu are not supported (use --device cuda: one GPU, inputs streamed to it)")
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
		PlanOptions:       merge.PlanOptions{AllowCrimes: f.allowCrimes, AllowDegenerate: f.allowDegenerate, Hub: f.hubClient(log)},
		ShardSize:         int64(f.shardSize),
		Threads:           f.threads,
		MemoryBudget:      int64(f.memory),
		Overwrite:         f.overwrite,
		KeepSpecialTokens: !f.alignSpecial,
		SkipTokenizer:     !f.copyTokenizer,
		SkipModelCard:     !f.writeModelCard,
		Logger:            log,
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

// spareProcs returns the thread count fixed (-j; ≤ 0: GOMAXPROCS) and,
// unless GOMAXPROCS is set, gives the Go scheduler one processor
// more than that for the output's writes. A goroutine blocked in a
// direct write of 2 MiB (about a millisecond) keeps its processor until
// the runtime's monitor takes it back, which can take up to 10 ms; with
// as many processors as merge threads a merge thread waits meanwhile.
// TIES of two 533 MB bf16 fine-tunes at -j 2 on 2 CPUs: 0.63 -> 0.55 s.
func spareProcs(threads int) int {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), threads+1))
	}
	return threads
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
func randomSeed() uint64 { return merge.RandomSeed() }

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
	// Tokenizer is what the merge will write of the tokenizer and its
	// special tokens.
	Tokenizer *merge.TokenizerOutcome `json:"tokenizer,omitempty"`
	Warnings  []string                `json:"warnings,omitempty"`
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
	tok, err := plan.Tokenizer(opt)
	if err != nil {
		s.Warnings = append(s.Warnings, fmt.Sprintf("the tokenizer's outcome cannot be told before merging: %v", err))
	}
	s.Tokenizer = tok
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
	if t := s.Tokenizer; t != nil {
		fmt.Fprintf(stdout, "tokenizer:     %s, %d tokens, %d embedding rows, chat template %s\n", t.Source, t.Tokens, t.EmbeddingRows, t.ChatTemplate)
		fmt.Fprintf(stdout, "special ids:   bos %s, eos %s, pad %s\n", idString(t.BOS), idsString(t.EOS), idString(t.PAD))
		for _, c := range t.Changes {
			fmt.Fprintf(stdout, "  %s: %s\n", changeLabel(c), c)
		}
	}
	for _, w := range s.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	return exitOK
}

func idString(id *int) string {
	if id == nil {
		return "unset"
	}
	return fmt.Sprint(*id)
}

func idsString(ids []int) string {
	switch len(ids) {
	case 0:
		return "unset"
	case 1:
		return fmt.Sprint(ids[0])
	}
	return fmt.Sprint(ids)
}

// failure reports a command's error and returns its exit code: 130 when
// the context was cancelled (Ctrl-C), else code.
func failure(ctx context.Context, stderr io.Writer, err error, code int) int {
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "gomerge: interrupted; no output written")
		return exitInterrupted
	}
	fmt.Fprintln(stderr, "gomerge:", err)
	if errors.Is(err, outdir.ErrRefused) {
		// Found before any weight was read, like a config error.
		return exitUsage
	}
	return code
}

// printJSON writes v indented, without HTML escaping, for --json.
func printJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// changeLabel heads a line of the tokenizer outcome's changes in plan's
// text: "file: key old -> new" is a change the merge will make, anything
// else a problem it cannot fix.
func changeLabel(c string) string {
	if strings.Contains(c, " -> ") {
		return "will align"
	}
	return "problem"
}
