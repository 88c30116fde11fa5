package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gomerge/gomerge/internal/outdir"
	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/moe"
)

// moeSubcommands are the `gomerge moe WORD ...` commands; any other first
// argument is a config file.
var moeSubcommands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) int{
	"route": runMoERoute,
}

const moeUsage = `usage: gomerge moe CONFIG.yml OUT [flags]
       gomerge moe route MODEL --prompt TEXT [--json]
       gomerge plan CONFIG.yml [flags]

Builds a mixture of experts from dense models of one base, as mergekit-moe
does: Mixtral (legacy per-expert tensors, or transformers v5's fused layout
with --moe-layout v5), Qwen2-MoE, Qwen3-MoE or DeepSeek-MoE, with router
gates from hidden states of prompts, cheap embeddings, random draws or a
--gate-vectors file. "moe route" shows which experts a MoE picks for a
prompt; "plan" describes a MoE config without reading weights.

examples:
  gomerge moe moe.yml ./my-moe --random-seed 42
  gomerge moe route ./my-moe --prompt "Wie spät ist es?"
`

// moeFlags are mergekit-moe's flags and gomerge's own.
type moeFlags struct {
	mergeFlags
	layout           string
	allowSame        bool
	gateVectors      string
	overwrite        bool
	quant4, quant8   bool
	modelCardIgnored bool
}

func newMoEFlags(stderr io.Writer, f *moeFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("gomerge moe", flag.ContinueOnError)
	setUsage(fs, stderr, moeUsage)
	f.stderr = stderr
	f.shardSize = 5e9
	f.copyTokenizer, f.writeModelCard = true, true
	fs.StringVar(&f.layout, "moe-layout", "legacy", "expert tensors of Mixtral and Qwen3-MoE: legacy (per expert, llama.cpp/vLLM) or v5 (fused, transformers v5, what mergekit v0.1.4 writes)")
	fs.BoolVar(&f.allowSame, "i-understand-this-is-not-useful-without-training", false, "allow every expert to be the same model")
	fs.BoolVar(&f.allowSame, "allow-all-same", false, "same as --i-understand-this-is-not-useful-without-training")
	fs.StringVar(&f.gateVectors, "gate-vectors", "", "safetensors file with a [layers, rows, hidden] tensor used as the routers instead of the gate mode")
	fs.BoolVar(&f.overwrite, "overwrite", false, "replace an existing OUT that gomerge did not write")
	fs.BoolVar(&f.copyTokenizer, "copy-tokenizer", true, "copy the base's tokenizer and write generation_config.json")
	fs.BoolVar(&f.writeModelCard, "write-model-card", true, "write mergekit_moe_config.yml")
	fs.Var(&f.shardSize, "out-shard-size", "largest output shard in bytes; suffixes k, m, b (×10³, ×10⁶, ×10⁹)")
	fs.Int64Var(&f.seed, "random-seed", -1, "seed for random gates and noise_scale (default: a random seed, logged)")
	fs.IntVar(&f.threads, "j", 0, "tensors written at once (default: number of CPUs); the output does not depend on it")
	fs.IntVar(&f.threads, "num-threads", 0, "same as -j")
	verbosity(fs, &f.verbose)
	fs.BoolVar(&f.quiet, "quiet", false, "no progress bar")
	fs.BoolVar(&f.jsonOut, "json", false, "print a JSON summary on stdout")
	fs.StringVar(&f.device, "device", "cpu", "math device: cpu or auto (the MoE merge and the hidden gates' forward pass run on the CPU)")
	fs.BoolVar(&f.cuda, "cuda", false, "same as --device cuda")
	fs.BoolVar(&f.quant4, "load-in-4bit", false, "mergekit's quantised forward pass; not available: the forward pass runs in float32")
	fs.BoolVar(&f.quant8, "load-in-8bit", false, "mergekit's quantised forward pass; not available: the forward pass runs in float32")
	f.mergekitFlags(fs, "allow-crimes")
	return fs
}

// runMoE is `gomerge moe CONFIG OUT`, and `gomerge plan CONFIG` for a
// mergekit-moe config when planOnly.
func runMoE(ctx context.Context, args []string, stdout, stderr io.Writer, planOnly bool) int {
	if len(args) > 0 {
		if sub, ok := moeSubcommands[args[0]]; ok {
			return sub(ctx, args[1:], stdout, stderr)
		}
	}
	var f moeFlags
	fs := newMoEFlags(stderr, &f)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if msg := checkArgs(pos, planOnly); msg != "" {
		fmt.Fprintf(stderr, "gomerge: %s (see gomerge moe -h)\n", msg)
		return exitUsage
	}
	if code := checkDeviceFlags(&f.mergeFlags, stderr); code != exitOK {
		return code
	}
	if f.device == "cuda" {
		fmt.Fprintln(stderr, "gomerge: moe has no CUDA path: the MoE merge and the hidden gates run on the CPU (use --device cpu or auto)")
		return exitUsage
	}
	layout, err := moe.ParseLayout(f.layout)
	if err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitUsage
	}
	log := newLogger(stderr, int(f.verbose))
	if f.quant4 || f.quant8 {
		log.Warn("--load-in-4bit/--load-in-8bit have no effect: the forward pass runs in float32 on the CPU")
	}
	cfg, err := moe.LoadConfig(pos[0])
	if err != nil {
		return configFailed(ctx, stdout, stderr, err, &f.mergeFlags, planOnly && f.jsonOut)
	}
	popt := moe.PlanOptions{PlanOptions: merge.PlanOptions{Hub: f.hubClient(log), HeadersOnly: planOnly}, Layout: layout, AllowAllSame: f.allowSame}
	if planOnly {
		popt.Hub.ReachTimeout = cmp.Or(popt.Hub.MetadataTimeout, planReachTimeout)
	}
	plan, err := moe.NewPlan(ctx, cfg, popt)
	if err != nil {
		return configFailed(ctx, stdout, stderr, err, &f.mergeFlags, planOnly && f.jsonOut)
	}
	defer plan.Close()
	for _, w := range plan.Warnings {
		log.Warn(w)
	}
	if planOnly {
		return printMoEPlan(plan, &f, stdout)
	}
	opt := moe.Options{Threads: spareProcs(f.threads), ShardSize: int64(f.shardSize), GateVectors: f.gateVectors,
		CopyTokenizer: f.copyTokenizer, WriteConfigYAML: f.writeModelCard, Logger: log}
	if f.seed >= 0 {
		opt.Seed = uint64(f.seed)
	} else {
		opt.Seed = randomSeed()
		if cfg.GateMode == moe.Random || cfg.GateMode == moe.UniformRandom {
			log.Warn("no --random-seed given; pass this one to repeat the build", "seed", opt.Seed)
		}
	}
	inputs := append(plan.ModelDirs(), pos[0])
	if f.gateVectors != "" {
		inputs = append(inputs, f.gateVectors)
	}
	out, err := outdir.Create(pos[1], outdir.Options{Inputs: inputs, Overwrite: f.overwrite, Tool: "gomerge moe", Version: versionString(), Logger: log})
	if err != nil {
		return failure(ctx, stderr, err, exitUsage)
	}
	if !f.quiet && !f.jsonOut && isTerminal(stderr) {
		bar := newProgress(stderr)
		opt.Progress = bar.update
		defer bar.finish()
	}
	res, err := moe.Build(ctx, plan, out.Tmp(), opt)
	if err == nil {
		err = out.Commit()
	}
	if err != nil {
		out.Abort()
		return failure(ctx, stderr, err, exitFailed)
	}
	res.Out = out.Final()
	if f.jsonOut {
		printJSON(stdout, res)
	} else if !f.quiet {
		fmt.Fprintf(stderr, "gomerge: wrote %s: %s, %d experts, %d tensors, %d shard(s), %.1f MB in %.1fs\n",
			res.Out, res.Architecture, res.Experts, res.Tensors, res.Shards, float64(res.Bytes)/1e6, res.Seconds)
	}
	return exitOK
}

// moePlanSummary is what `gomerge plan` reports for a MoE config.
type moePlanSummary struct {
	Kind         string   `json:"kind"`
	Architecture string   `json:"architecture"`
	Layout       string   `json:"layout"`
	GateMode     string   `json:"gate_mode"`
	Experts      int      `json:"experts"`
	Shared       int      `json:"shared_experts"`
	Tensors      int      `json:"tensors"`
	Bytes        int64    `json:"bytes"`
	Shards       int      `json:"shards"`
	PeakMemory   int64    `json:"peak_memory_bytes"`
	Warnings     []string `json:"warnings,omitempty"`
}

func printMoEPlan(plan *moe.Plan, f *moeFlags, stdout io.Writer) int {
	threads := f.threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	s := moePlanSummary{Kind: "moe", Architecture: plan.Class, Layout: plan.Layout.String(), GateMode: string(plan.Config.GateMode),
		Experts: len(plan.Config.Experts), Shared: len(plan.Config.SharedExperts), Tensors: len(plan.Tensors),
		Bytes: plan.OutputBytes(), Shards: plan.Shards(int64(f.shardSize)), PeakMemory: plan.PeakMemory(threads), Warnings: plan.Warnings}
	if f.jsonOut {
		printJSON(stdout, s)
		return exitOK
	}
	fmt.Fprintf(stdout, "moe:           %s (%s layout), gate_mode %s\nexperts:       %d routed, %d shared\n",
		s.Architecture, s.Layout, s.GateMode, s.Experts, s.Shared)
	fmt.Fprintf(stdout, "tensors:       %d\noutput bytes:  %d (%.2f GB)\nshards:        %d\npeak memory:   about %.0f MiB\n",
		s.Tensors, s.Bytes, float64(s.Bytes)/1e9, s.Shards, float64(s.PeakMemory)/(1<<20))
	for _, w := range s.Warnings {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	return exitOK
}

// isMoEConfig reports whether the first positional argument names a
// mergekit-moe config: a YAML mapping with experts: and no merge_method:.
func isMoEConfig(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			continue
		}
		// Bounded and regular files only: /dev/zero or a FIFO must not be
		// read here before the config reader refuses it.
		data, err := regfile.ReadFile(a, regfile.ConfigLimit)
		if err != nil {
			return false
		}
		// A node tree, so that a tag mergekit would refuse (!file) still
		// reaches the MoE parser and its line-numbered error.
		var doc yaml.Node
		if yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc) != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
			return false
		}
		experts, method := false, false
		m := doc.Content[0].Content
		for i := 0; i+1 < len(m); i += 2 {
			experts = experts || m[i].Value == "experts"
			method = method || m[i].Value == "merge_method"
		}
		return experts && !method
	}
	return false
}
