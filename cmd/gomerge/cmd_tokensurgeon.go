package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gomerge/gomerge/tokensurgeon"
)

const surgeonUsage = `usage: gomerge tokensurgeon MODEL DONOR OUT [flags]
       gomerge tokensurgeon --align-special MODEL [DONOR] OUT [--json]

Without --align-special (mergekit-tokensurgeon): re-express MODEL on DONOR's
tokenizer. Its input embedding and LM head get one row per donor token: the
model's own row where the (normalised) token exists in both vocabularies,
else an approximation from the shared tokens (omp, common_interpolation,
mean, zero, randn). Every other tensor is copied; config.json gets the new
vocab_size and the donor's special-token ids; the tokenizer is the donor's.

--align-special writes a copy of MODEL whose special tokens agree across
config.json, generation_config.json and the tokenizer files (the EOS set
includes the chat template's end-of-turn token), without touching a weight.
With DONOR, the donor's tokenizer files are taken first; this is refused (exit 2)
when the donor's vocabulary would need other embedding rows or lacks some of
MODEL's tokens, and, when the chat templates differ, unless
--take-template-from donor|model says whose template to keep ("model"
also keeps the model's bos_token and eos_token, which its template writes).
MODEL's own EOS stays in the EOS set: its weights end answers with it.

examples:
  gomerge tokensurgeon ./leo-mistral ./llama3-donor ./leo-on-llama3 -a omp -k 64
  gomerge tokensurgeon --align-special ./ft-chatml ./ft-chatml-fixed
  gomerge tokensurgeon --align-special ./ft-inst ./ft-chatml OUT --take-template-from donor
`

func runTokensurgeon(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gomerge tokensurgeon", flag.ContinueOnError)
	setUsage(fs, stderr, surgeonUsage)
	align := fs.Bool("align-special", false, "align special tokens across files; weights untouched")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	takeTemplate := fs.String("take-template-from", "", "with --align-special and a DONOR whose chat template differs: donor or model (unset: refused)")
	overwrite := fs.Bool("overwrite", false, "replace an existing OUT that gomerge did not write (inputs are never replaced)")
	opt := tokensurgeon.TransplantOptions{Method: tokensurgeon.OMP, K: 64, WeightScheme: tokensurgeon.DistanceProportional,
		PrefixMatch: "no", ByteMatch: "no", ShardSize: 5e9, Threads: 2}
	for _, name := range []string{"k"} {
		fs.IntVar(&opt.K, name, 64, "OMP sparsity / common_interpolation neighbours")
	}
	for _, name := range []string{"approximation-method", "a"} {
		fs.StringVar(&opt.Method, name, tokensurgeon.OMP, "omp, common_interpolation, subword, landmark_pca, john_hewitt, mean, zero or randn")
	}
	for _, name := range []string{"weight-scheme", "w"} {
		fs.StringVar(&opt.WeightScheme, name, tokensurgeon.DistanceProportional, "common_interpolation weights: distance_proportional, barycentric, least_squares")
	}
	for _, name := range []string{"cosine-similarity", "c"} {
		fs.BoolVar(&opt.Cosine, name, false, "cosine distance for common_interpolation")
	}
	for _, name := range []string{"prefix-match", "pm"} {
		fs.StringVar(&opt.PrefixMatch, name, "no", "match new tokens to the longest base prefix: yes, no, embed, lm_head")
	}
	for _, name := range []string{"byte-match", "bm"} {
		fs.StringVar(&opt.ByteMatch, name, "no", "match single characters and <0xHH> byte tokens: yes, no, embed, lm_head")
	}
	for _, name := range []string{"new-vocab-noise", "nvn"} {
		fs.Float64Var(&opt.NewVocabNoise, name, 0, "Gaussian noise std added to approximated rows")
	}
	for _, name := range []string{"new-vocab-scale", "nvs"} {
		fs.Float64Var(&opt.NewVocabScale, name, 0, "scale of approximated rows")
	}
	var seed int64
	fs.Int64Var(&seed, "random-seed", 0, "seed for randn and noise")
	var shard byteSize = 5e9
	fs.Var(&shard, "out-shard-size", "largest output shard in bytes; suffixes k, m, b (×10³, ×10⁶, ×10⁹)")
	fs.IntVar(&opt.Threads, "j", 2, "approximations at once")
	var batch int
	fs.IntVar(&batch, "batch-size", 512, "accepted for mergekit compatibility; no effect")
	for _, name := range []string{"subword-method", "s"} {
		fs.StringVar(&opt.SubwordMethod, name, "mean", "subword combination: mean, sum, weighted_mean, first_last")
	}
	var magikarp bool
	fs.BoolVar(&magikarp, "magikarp", false, "filter badly trained tokens (not available in this build)")
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if magikarp {
		fmt.Fprintln(stderr, "gomerge tokensurgeon: --magikarp is not available in this build")
		return exitUsage
	}
	if !*align {
		if len(pos) != 3 {
			fmt.Fprint(stderr, surgeonUsage)
			return exitUsage
		}
		opt.Seed, opt.ShardSize, opt.Overwrite = uint64(seed), int64(shard), *overwrite
		opt.Logger = newLogger(stderr, 1)
		res, err := tokensurgeon.Transplant(ctx, pos[0], pos[1], pos[2], opt)
		if err != nil {
			return failure(ctx, stderr, err, exitFailed)
		}
		if *jsonOut {
			printJSON(stdout, res)
		} else {
			fmt.Fprintf(stderr, "gomerge: wrote %s with vocabulary size %d\n", pos[2], res.VocabSize)
		}
		return exitOK
	}
	var model, donor, out string
	switch len(pos) {
	case 2:
		model, out = pos[0], pos[1]
	case 3:
		model, donor, out = pos[0], pos[1], pos[2]
	default:
		fmt.Fprint(stderr, surgeonUsage)
		return exitUsage
	}
	res, err := tokensurgeon.AlignSpecial(model, donor, out, tokensurgeon.AlignOptions{Overwrite: *overwrite, TakeTemplateFrom: *takeTemplate, Logger: newLogger(stderr, 0)})
	if err != nil {
		code := exitFailed
		if errors.Is(err, tokensurgeon.ErrRefused) {
			code = exitUsage // refused before anything was written
		}
		return failure(ctx, stderr, err, code)
	}
	if *jsonOut {
		printJSON(stdout, res)
		return exitOK
	}
	for _, c := range res.Changes {
		fmt.Fprintln(stdout, c)
	}
	fmt.Fprintf(stderr, "gomerge: wrote %s (%d change(s))\n", out, len(res.Changes))
	return exitOK
}
