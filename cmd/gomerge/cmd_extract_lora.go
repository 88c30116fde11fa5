package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gomerge/gomerge/merge"
)

const extractUsage = `usage: gomerge extract-lora --model FT --base-model BASE --out-path DIR [flags]

Extract a PEFT LoRA adapter that turns BASE into (an approximation of) FT,
as mergekit-extract-lora does: a truncated SVD of every matrix FT - BASE.
Ranks up to 256 are found by a randomized range finder (Halko, Martinsson
and Tropp; deterministic for --random-seed), much faster than the full SVD
that --exact computes. Ctrl-C stops between matrices.
Embeddings and norms are saved whole (modules_to_save) unless told otherwise.

examples:
  gomerge extract-lora --model ./ft --base-model ./base --out-path ./lora --max-rank 64
  gomerge extract-lora --model ./ft --base-model ./base --out-path ./lora --json
`

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runExtractLoRA(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gomerge extract-lora", flag.ContinueOnError)
	setUsage(fs, stderr, extractUsage)
	opt := merge.ExtractOptions{MaxRank: 128, DistributeScale: true}
	var out string
	var save, include, exclude stringList
	var jsonOut bool
	var verbose counter
	fs.StringVar(&opt.Model, "model", "", "fine-tuned model (required)")
	fs.StringVar(&opt.BaseModel, "base-model", "", "base model (required)")
	fs.StringVar(&out, "out-path", "", "output directory for the adapter (required)")
	fs.IntVar(&opt.MaxRank, "max-rank", 128, "largest rank of a module")
	fs.BoolVar(&opt.DistributeScale, "distribute-scale", true, "split singular values between A and B as sqrt(s) each")
	fs.BoolVar(&opt.EmbedLoRA, "embed-lora", false, "decompose embeddings too instead of saving them whole")
	fs.Var(&save, "save-module", "module saved at full rank (repeatable)")
	fs.Var(&exclude, "exclude-regex", "skip modules matching this regex (repeatable)")
	fs.Var(&exclude, "e", "same as --exclude-regex")
	fs.Var(&include, "include-regex", "decompose only modules matching this regex (repeatable)")
	fs.Var(&include, "i", "same as --include-regex")
	fs.Float64Var(&opt.SVEpsilon, "sv-epsilon", 0, "drop singular values not above this")
	fs.BoolVar(&opt.SkipUndecomposable, "skip-undecomposable", false, "leave out modules that are not matrices instead of saving them whole")
	fs.IntVar(&opt.Threads, "j", 2, "decompositions at once")
	fs.BoolVar(&opt.Exact, "exact", false, "compute every module's full thin SVD instead of the randomized range finder used for ranks up to 256")
	fs.Uint64Var(&opt.Seed, "random-seed", 0, "seed of the randomized decompositions")
	fs.BoolVar(&jsonOut, "json", false, "print a JSON summary on stdout")
	fs.BoolVar(&opt.Overwrite, "overwrite", false, "replace an existing --out-path that gomerge did not write (inputs are never replaced)")
	verbosity(fs, &verbose)
	var ignored string
	var ignoredBool bool
	for _, name := range []string{"lora-merge-cache", "lora-merge-dtype", "device"} {
		fs.StringVar(&ignored, name, "", "accepted for mergekit compatibility; no effect")
	}
	var cacheDir string
	fs.StringVar(&cacheDir, "transformers-cache", "", "Hugging Face hub cache for downloaded models")
	for _, name := range []string{"trust-remote-code", "lazy-unpickle", "low-cpu-memory", "copy-tokenizer", "allow-crimes", "safe-serialization"} {
		fs.BoolVar(&ignoredBool, name, false, "accepted for mergekit compatibility; no effect")
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) != 0 || opt.Model == "" || opt.BaseModel == "" || out == "" {
		fmt.Fprint(stderr, extractUsage)
		return exitUsage
	}
	opt.SaveModules, opt.Include, opt.Exclude = save, include, exclude
	opt.Invocation = "gomerge extract-lora " + strings.Join(args, " ")
	opt.Logger = newLogger(stderr, int(verbose))
	mf := mergeFlags{cacheDir: cacheDir, quiet: jsonOut, stderr: stderr}
	opt.Hub = mf.hubClient(opt.Logger)
	if wd, err := os.Getwd(); err == nil {
		opt.Dir = wd
	}
	res, err := merge.ExtractLoRA(ctx, out, opt)
	if err != nil {
		return failure(ctx, stderr, err, exitFailed)
	}
	if jsonOut {
		printJSON(stdout, res)
		return exitOK
	}
	fmt.Fprintf(stderr, "gomerge: wrote %s: %d modules decomposed (rank up to %d), %d saved whole\n",
		out, len(res.Ranks), res.Rank, len(res.ModulesToSave))
	return exitOK
}
