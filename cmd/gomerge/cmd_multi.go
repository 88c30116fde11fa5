package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/merge"
)

const multiUsage = `usage: gomerge multi CONFIG.yml --intermediate-dir DIR [--out-path DIR] [flags]

Run a multi-stage config (mergekit-multi): YAML documents separated by ---,
each a merge config with an optional name:. A model reference naming another
stage reads that stage's output from DIR/NAME. Stages run in dependency
order; with --lazy (the default) stages whose output is already complete
are skipped. The unnamed stage, if any, is the final merge and goes to
--out-path. Every merge flag of "gomerge CONFIG OUT" applies to each stage.

examples:
  gomerge multi multi.yml -I ./stages --out-path ./final
  gomerge multi multi.yml --intermediate-dir ./stages --json
`

func runMulti(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f mergeFlags
	fs := newMergeFlags(stderr, &f)
	setUsage(fs, stderr, multiUsage)
	var mo merge.MultiOptions
	fs.StringVar(&mo.IntermediateDir, "intermediate-dir", "", "directory for the named stages' outputs (required)")
	fs.StringVar(&mo.IntermediateDir, "I", "", "same as --intermediate-dir")
	fs.StringVar(&mo.OutPath, "out-path", "", "output of the unnamed final stage")
	fs.BoolVar(&mo.Lazy, "lazy", true, "skip stages whose output is already complete")
	fs.BoolVar(&mo.Stream, "stream-intermediates", false, "do not write stages that one other stage reads; merge them as it reads them")
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 || mo.IntermediateDir == "" {
		fmt.Fprint(stderr, multiUsage)
		return exitUsage
	}
	if code := checkDeviceFlags(&f, stderr); code != exitOK {
		return code
	}
	log := newLogger(stderr, int(f.verbose))
	data, err := regfile.ReadFile(pos[0], regfile.ConfigLimit)
	if err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitUsage
	}
	stages, err := merge.ParseMultiConfig(data, pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitUsage
	}
	for _, s := range stages {
		for _, w := range s.Warnings {
			log.Warn(w)
		}
	}
	opt := f.options(log)
	opt.Threads = spareProcs(opt.Threads)
	opt.Seed = new(uint64(f.seed))
	if f.seed < 0 {
		opt.Seed = new(randomSeed())
		for _, s := range stages {
			if m, ok := merge.LookupMethod(s.MergeMethod); ok && merge.UsesRandomness(m) {
				log.Warn("no --random-seed given; pass this one to repeat the merge", "seed", *opt.Seed)
				break
			}
		}
	}
	be, release, err := openDevice(f.device, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitFailed
	}
	defer release()
	opt.Backend = be
	res, err := merge.RunMulti(ctx, stages, mo, opt)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "gomerge: interrupted; the stage in progress left no output")
			return exitInterrupted
		}
		code := exitFailed
		if _, ok := errors.AsType[*merge.ConfigError](err); ok {
			code = exitUsage
		}
		return failure(ctx, stderr, err, code)
	}
	if f.jsonOut {
		printJSON(stdout, res)
		return exitOK
	}
	if !f.quiet {
		for _, r := range res {
			if r.Skipped {
				fmt.Fprintf(stderr, "gomerge: %s: %s is complete, skipped\n", r.Name, r.Out)
			} else if r.Streamed {
				fmt.Fprintf(stderr, "gomerge: %s: streamed into the stage that reads it, not written\n", r.Name)
			} else {
				fmt.Fprintf(stderr, "gomerge: %s: wrote %s (%d tensors, %.1f MB in %.1fs)\n",
					r.Name, r.Out, r.Result.Tensors, float64(r.Result.Bytes)/1e6, r.Result.Seconds)
			}
		}
	}
	return exitOK
}
