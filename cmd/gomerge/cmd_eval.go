package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gomerge/gomerge/eval"
	evalmodel "github.com/gomerge/gomerge/eval/model"
)

const evalUsage = `usage: gomerge eval MODEL_DIR --task NAME|FILE [--task …] [flags]
       gomerge eval MODEL_DIR --preset occiglot-de [--occiglot-prompt] [flags]
       gomerge eval --endpoint URL [SERVED_MODEL] --task NAME|FILE [flags]
       gomerge eval --list
       gomerge eval --license NAME

Scores a model on tasks with lm-evaluation-harness semantics: built-in German
sets (see --list: the harness's belebele_deu_Latn, paws_de, mgsm_direct_de and
mgsm_native_cot_de, and gomerge's own de_* sets) or task files (YAML or JSONL,
see "go doc github.com/gomerge/gomerge/eval"). Generation tasks (MGSM) decode
greedily until their stop strings. With --endpoint the model is served by an
OpenAI-compatible /v1/completions server that echoes prompt log-probs (vLLM,
llama-cpp-python); text is tokenized by its /tokenize endpoint (or, with
--text-prompts, sent as text).

--log-samples DIR writes the harness's per-sample JSONL for every task
(DIR/samples_TASK_DATE.jsonl), to diff against an lm_eval --log_samples run.
--preset occiglot-de runs the occiglot Euro LLM Leaderboard's German Belebele
column (5-shot, acc_norm); --occiglot-prompt reproduces the prompt that
leaderboard scored (a full-width colon in "Answer：", and the scored question
left among its own first-5 examples), which today's harness no longer uses.

examples:
  gomerge eval ./merged --task de_ud_gsd_ppl --limit 100
  gomerge eval config.yml --task de_ud_pud_order --json   # merged in memory, never written
  gomerge eval --endpoint http://localhost:8080 --task mytask.yaml
  gomerge eval ./merged --preset occiglot-de --log-samples samples/
  gomerge eval --list
`

// taskList is a repeatable flag whose values may also be comma-separated.
type taskList []string

func (s *taskList) String() string { return strings.Join(*s, ",") }
func (s *taskList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

type evalFlags struct {
	device                                string
	tasks                                 taskList
	limit, numFewshot, batchSize          int
	maxLength, concurrent, prefix         int
	jsonOut, perItem, list, addBOS, quiet bool
	textPrompts, occiglotPrompt, bf16Dot  bool
	endpoint, apiKey, license             string
	logSamples, preset                    string
	verbose                               counter
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f evalFlags
	fs := flag.NewFlagSet("gomerge eval", flag.ContinueOnError)
	setUsage(fs, stderr, evalUsage)
	fs.Var(&f.tasks, "task", "task name or file; repeat or separate with commas")
	fs.IntVar(&f.limit, "limit", 0, "score only the first N documents of each task")
	fs.IntVar(&f.numFewshot, "num-fewshot", -1, "override the tasks' num_fewshot")
	fs.BoolVar(&f.jsonOut, "json", false, "print the report as JSON")
	fs.BoolVar(&f.perItem, "per-item", false, "include every document's log-likelihood and token count")
	fs.BoolVar(&f.list, "list", false, "list the built-in tasks")
	fs.StringVar(&f.license, "license", "", "print the licence and attribution of a built-in task")
	fs.BoolVar(&f.addBOS, "add-bos", false, "put BOS before every text encoding (lm-eval's add_bos_token)")
	fs.IntVar(&f.prefix, "prefix-token", -1, "token id conditioning the first token and empty contexts (default BOS, else EOS)")
	fs.StringVar(&f.endpoint, "endpoint", "", "OpenAI-compatible completions URL, e.g. http://localhost:8000/v1/completions")
	fs.StringVar(&f.apiKey, "api-key", "", "bearer token for --endpoint (default $OPENAI_API_KEY)")
	fs.IntVar(&f.maxLength, "max-length", 2048, "the served model's context length (lm-eval's max_length)")
	fs.IntVar(&f.batchSize, "batch-size", 1, "prompts per request to --endpoint")
	fs.IntVar(&f.concurrent, "concurrent", 1, "requests to --endpoint in flight")
	fs.BoolVar(&f.textPrompts, "text-prompts", false, "send --endpoint text, tokenized by the server (multiple-choice tasks and pre-tokenized perplexity only; lm-eval's gguf model)")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress line")
	fs.BoolVar(&f.bf16Dot, "bf16-dot", false, "score bf16 weights with bfloat16 products on CPUs that have them (AVX512_BF16), as llama.cpp does: faster; scores differ from the float32 path in the low digits")
	fs.StringVar(&f.logSamples, "log-samples", "", "write lm-eval's per-sample JSONL of each task to `DIR`")
	fs.StringVar(&f.preset, "preset", "", "run the leaderboard tasks of preset `NAME`: "+strings.Join(eval.Presets(), ", "))
	fs.BoolVar(&f.occiglotPrompt, "occiglot-prompt", false, "score Belebele with the occiglot leaderboard's prompt (full-width colon, scored question among its examples)")
	fs.StringVar(&f.device, "device", "cpu", deviceUsage+"; for merging a config in memory and for the scoring forward pass of dense models (log-likelihood and perplexity; generation tasks and mixtures of experts stay on the CPU)")
	verbosity(fs, &f.verbose)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if f.list {
		return listEvalTasks(stdout, f.jsonOut)
	}
	if code := checkDevice(f.device, stderr); code != exitOK {
		return code
	}
	if f.license != "" {
		notice, err := eval.BuiltinNotice(f.license)
		if err != nil {
			fmt.Fprintln(stderr, "gomerge:", err)
			return exitUsage
		}
		fmt.Fprint(stdout, notice)
		return exitOK
	}
	if f.apiKey == "" {
		f.apiKey = os.Getenv("OPENAI_API_KEY")
	}
	switch {
	case len(pos) == 0 && f.endpoint == "":
		fmt.Fprintln(stderr, "gomerge eval: missing MODEL_DIR (a model directory or a merge config), or --endpoint URL (see gomerge eval -h)")
		return exitUsage
	case len(pos) > 1:
		fmt.Fprintf(stderr, "gomerge eval: one model at a time, got %d: %s (see gomerge eval -h)\n", len(pos), strings.Join(pos, " "))
		return exitUsage
	case len(f.tasks) == 0 && f.preset == "":
		fmt.Fprintln(stderr, "gomerge eval: missing --task NAME|FILE or --preset NAME (gomerge eval --list shows the built-in tasks)")
		return exitUsage
	case f.bf16Dot && f.endpoint != "":
		fmt.Fprintln(stderr, "gomerge eval: --bf16-dot picks how gomerge's own forward pass multiplies; the --endpoint server scores by itself")
		return exitUsage
	}
	if f.bf16Dot && !evalmodel.HasBF16Dot() {
		fmt.Fprintln(stderr, "gomerge: --bf16-dot: this CPU (or build) has no AVX512_BF16 products; scoring in float32")
	}
	tasks, code := evalTasks(&f, stderr)
	if code != exitOK {
		return code
	}
	log := newLogger(stderr, int(f.verbose))
	var (
		lm    eval.LM
		tok   eval.Tokenizer
		model string
	)
	if f.endpoint != "" {
		ep := &eval.Endpoint{URL: f.endpoint, ContextSize: f.maxLength, BatchSize: f.batchSize,
			Concurrent: f.concurrent, APIKey: f.apiKey}
		if len(pos) == 1 {
			ep.Model = pos[0]
		}
		lm, model = ep, f.endpoint
		if !f.textPrompts {
			rt, err := eval.NewRemoteTokenizer(ctx, ep)
			switch {
			case err == nil:
				tok = rt
			case evalNeedsTokenizer(tasks):
				fmt.Fprintf(stderr, "gomerge: %v\n(--text-prompts lets the server tokenize multiple-choice tasks)\n", err)
				return exitFailed
			}
		}
	} else {
		model = pos[0]
		// The device does the in-memory merge and the scoring forward pass.
		be, release, err := openDevice(f.device, stderr)
		if err != nil {
			return failure(ctx, stderr, err, exitFailed)
		}
		defer release()
		var closeLM func() error
		if lm, tok, closeLM, err = openLocalLM(ctx, pos[0], be, f.bf16Dot, stderr); err != nil {
			return failure(ctx, stderr, err, exitFailed)
		}
		defer closeLM()
	}
	opt := eval.Options{Limit: f.limit, PerItem: f.perItem, AddBOS: f.addBOS, Logger: log}
	var logs *sampleLogs
	if f.logSamples != "" {
		logs, err = newSampleLogs(f.logSamples)
		if err != nil {
			fmt.Fprintln(stderr, "gomerge:", err)
			return exitFailed
		}
		defer logs.close()
		opt.SampleLog = logs.open
	}
	if f.prefix >= 0 {
		opt.PrefixToken = &f.prefix
	}
	var bar *progress
	if !f.quiet && isTerminal(stderr) {
		current := ""
		opt.Progress = func(task string, done, total int) {
			if task != current {
				if bar != nil {
					bar.finish()
				}
				current, bar = task, newCountProgress(stderr, task, "requests")
			}
			bar.update(int64(done), int64(total))
		}
	}
	rep, err := eval.Score(ctx, lm, tok, tasks, opt)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitFailed
	}
	if opt.SampleLog != nil {
		if err := logs.close(); err != nil {
			fmt.Fprintln(stderr, "gomerge: --log-samples:", err)
			return exitFailed
		}
	}
	rep.Model = model
	rep.BF16Dot = f.bf16Dot && evalmodel.HasBF16Dot()
	if f.jsonOut {
		printJSON(stdout, rep)
		return exitOK
	}
	printEvalReport(stdout, rep)
	return exitOK
}

// evalTasks loads the tasks of --preset and --task, with --num-fewshot
// and --occiglot-prompt applied.
func evalTasks(f *evalFlags, stderr io.Writer) ([]*eval.Task, int) {
	var tasks []*eval.Task
	if f.preset != "" {
		pt, err := eval.Preset(f.preset)
		if err != nil {
			fmt.Fprintln(stderr, "gomerge:", err)
			return nil, exitUsage
		}
		tasks = append(tasks, pt...)
	}
	for _, name := range f.tasks {
		t, err := eval.FindTask(name)
		if err != nil {
			fmt.Fprintln(stderr, "gomerge:", err)
			return nil, exitUsage
		}
		tasks = append(tasks, t)
	}
	belebele := false
	for _, t := range tasks {
		if f.numFewshot >= 0 {
			if t.Type == eval.Perplexity && f.numFewshot > 0 {
				fmt.Fprintf(stderr, "gomerge: task %s: --num-fewshot needs a multiple-choice or generation task\n", t.Name)
				return nil, exitUsage
			}
			t.NumFewshot = f.numFewshot
		}
		if err := t.Validate(); err != nil {
			fmt.Fprintf(stderr, "gomerge: task %s: %v\n", t.Name, err)
			return nil, exitUsage
		}
		if f.occiglotPrompt && strings.HasPrefix(t.Name, "belebele_") {
			if err := eval.OcciglotPrompt(t); err != nil {
				fmt.Fprintln(stderr, "gomerge:", err)
				return nil, exitUsage
			}
			belebele = true
		}
	}
	if f.occiglotPrompt && !belebele {
		fmt.Fprintln(stderr, "gomerge eval: --occiglot-prompt applies to Belebele tasks (--task belebele_deu_Latn or --preset occiglot-de)")
		return nil, exitUsage
	}
	return tasks, exitOK
}

// sampleLogs are the --log-samples files, one per task, named as the
// harness names them: samples_TASK_DATE.jsonl.
type sampleLogs struct {
	dir, date string
	files     []*os.File
	bufs      []*bufio.Writer
}

func newSampleLogs(dir string) (*sampleLogs, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--log-samples: %w", err)
	}
	// The harness's date_id: datetime.now().isoformat() with "-" for ":".
	date := strings.ReplaceAll(time.Now().Format("2006-01-02T15:04:05.000000"), ":", "-")
	return &sampleLogs{dir: dir, date: date}, nil
}

func (l *sampleLogs) open(task string) (io.Writer, error) {
	name := filepath.Join(l.dir, "samples_"+strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, task)+"_"+l.date+".jsonl")
	f, err := os.Create(name)
	if err != nil {
		return nil, fmt.Errorf("--log-samples: %w", err)
	}
	w := bufio.NewWriter(f)
	l.files, l.bufs = append(l.files, f), append(l.bufs, w)
	return w, nil
}

// close flushes and closes the files; a second call does nothing.
func (l *sampleLogs) close() error {
	var errs []error
	for i, f := range l.files {
		errs = append(errs, l.bufs[i].Flush(), f.Close())
	}
	l.files, l.bufs = nil, nil
	return errors.Join(errs...)
}

// evalNeedsTokenizer reports whether any task has text to encode.
func evalNeedsTokenizer(tasks []*eval.Task) bool {
	for _, t := range tasks {
		if t.Type != eval.Perplexity {
			return true
		}
		for _, d := range t.Docs {
			if d.IDs == nil {
				return true
			}
		}
	}
	return false
}

func listEvalTasks(w io.Writer, asJSON bool) int {
	type entry struct {
		Name    string        `json:"name"`
		Type    eval.TaskType `json:"output_type"`
		Docs    int           `json:"docs"`
		Metrics []string      `json:"metrics"`
		License string        `json:"license"`
	}
	var list []entry
	for _, n := range eval.BuiltinTasks() {
		t, err := eval.Builtin(n)
		if err != nil {
			fmt.Fprintln(w, "gomerge:", err)
			return exitFailed
		}
		list = append(list, entry{n, t.Type, len(t.Docs), t.Metrics, t.License})
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(list)
		return exitOK
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "task\ttype\tdocs\tmetrics\tlicence")
	for _, e := range list {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", e.Name, e.Type, e.Docs, strings.Join(e.Metrics, ","), e.License)
	}
	tw.Flush()
	return exitOK
}

// metricString prints a metric with four decimals, as lm-eval's table
// does, or in scientific notation when that would be unreadable (the
// perplexity of an untrained model).
func metricString(v float64) string {
	if a := math.Abs(v); a >= 1e6 || a != 0 && a < 1e-4 {
		return fmt.Sprintf("%.4e", v)
	}
	return fmt.Sprintf("%.4f", v)
}

// printEvalReport prints lm-eval's results table: one line per metric.
func printEvalReport(w io.Writer, rep *eval.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "task\tdocs\tmetric\tvalue\tstderr")
	for _, t := range rep.Tasks {
		names := make([]string, 0, len(t.Metrics))
		for m := range t.Metrics {
			names = append(names, m)
		}
		sort.Strings(names)
		for _, m := range names {
			se := "± N/A"
			if v, ok := t.Stderr[m]; ok {
				se = "± " + metricString(v)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", t.Name, t.Docs, m, metricString(t.Metrics[m]), se)
		}
		for _, it := range t.Items {
			if it.LogLikelihood != nil {
				fmt.Fprintf(tw, "%s\tdoc %d\tloglikelihood\t%.6f\t%d tokens\n", t.Name, it.Doc, *it.LogLikelihood, it.Tokens)
			} else if it.Pred != nil {
				fmt.Fprintf(tw, "%s\tdoc %d\tpred\t%d\tgold %v\n", t.Name, it.Doc, *it.Pred, it.Gold)
			} else if it.Response != nil {
				r := *it.Response
				if len([]rune(r)) > 60 {
					r = string([]rune(r)[:60]) + "…"
				}
				fmt.Fprintf(tw, "%s\tdoc %d\tresponse\t%q\t\n", t.Name, it.Doc, r)
			}
		}
	}
	tw.Flush()
}
