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
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/kraken"
	"github.com/gomerge/gomerge/tokenizer"
)

// krakenSubcommands are the `gomerge kraken WORD ...` commands; any other
// first argument is a config file.
var krakenSubcommands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) int{
	"train-router": runKrakenTrainRouter,
	"route":        runKrakenRoute,
}

const krakenUsage = `usage: gomerge kraken CONFIG.json|CONFIG.yml OUT [--copy-experts] [flags]
       gomerge kraken train-router --base MODEL --data FILE.jsonl --out DIR [flags]
       gomerge kraken route KRAKEN --prompt TEXT [--json]

Builds a Kraken (cognitivecomputations/kraken): a sequence-classification
router that picks, per prompt, one whole expert model (or, for Kraken-LoRA,
one LoRA adapter on a shared base) to answer. CONFIG.json is Kraken's source
config (or the same fields in YAML): models, tokenizers, class_indices,
router, model_type "kraken", optional lora_adapters (and models.base) for
Kraken-LoRA; quantization is kept for Python and ignored by gomerge. OUT gets kraken_model/ (config.json
with config_dict and auto_map, the router's weights) and kraken_router/;
experts are referenced (local directories by absolute path) or, with
--copy-experts, copied into OUT/experts. Relative paths in CONFIG.json
resolve against its directory. "train-router" trains the router, "route"
runs one prompt through a built Kraken; "gomerge chat KRAKEN" talks to it
(each answer by the expert the router picks, --json naming it).

examples:
  gomerge kraken train-router --base ./Qwen2.5-0.5B --data routes.jsonl --out ./router
  gomerge kraken kraken.json ./my-kraken --copy-experts
  gomerge kraken route ./my-kraken --prompt "SELECT * FROM t" --json
  gomerge chat ./my-kraken --prompt "SELECT * FROM t" --temperature 0 --json
`

// runKraken is `gomerge kraken CONFIG OUT` and its subcommands.
func runKraken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if sub, ok := krakenSubcommands[args[0]]; ok {
			return sub(ctx, args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("gomerge kraken", flag.ContinueOnError)
	setUsage(fs, stderr, krakenUsage)
	copyExperts := fs.Bool("copy-experts", false, "copy local experts (models, tokenizers, adapters) into OUT/experts instead of referencing them")
	overwrite := fs.Bool("overwrite", false, "replace an existing OUT that gomerge did not write")
	jsonOut := fs.Bool("json", false, "print a JSON summary on stdout")
	var verbose counter
	verbosity(fs, &verbose)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	switch {
	case len(pos) == 0:
		fmt.Fprintln(stderr, "gomerge: missing CONFIG.json, the Kraken config (see gomerge kraken -h)")
		return exitUsage
	case len(pos) == 1:
		fmt.Fprintln(stderr, "gomerge: missing OUT, the directory to write the Kraken to (see gomerge kraken -h)")
		return exitUsage
	case len(pos) > 2:
		fmt.Fprintf(stderr, "gomerge: too many arguments after CONFIG.json OUT: %s\n", strings.Join(pos[2:], " "))
		return exitUsage
	}
	log := newLogger(stderr, int(verbose))
	raw, err := regfile.ReadFile(pos[0], regfile.ConfigLimit)
	if err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitUsage
	}
	if ext := filepath.Ext(pos[0]); ext == ".yml" || ext == ".yaml" {
		// The same fields written as YAML.
		var v any
		if err := yaml.Unmarshal(raw, &v); err != nil {
			fmt.Fprintf(stderr, "gomerge: %s: %v\n", pos[0], err)
			return exitUsage
		}
		if raw, err = json.Marshal(v); err != nil {
			fmt.Fprintf(stderr, "gomerge: %s: %v\n", pos[0], err)
			return exitUsage
		}
	}
	cfg, err := kraken.Parse(raw)
	if err != nil {
		fmt.Fprintf(stderr, "gomerge: %s: %v\n", pos[0], err)
		return exitUsage
	}
	res, err := kraken.Build(cfg, pos[1], kraken.BuildOptions{CopyExperts: *copyExperts, Dir: filepath.Dir(pos[0]),
		WriteOptions: kraken.WriteOptions{Overwrite: *overwrite, Tool: "gomerge kraken", Version: versionString(), Logger: log}})
	if err != nil {
		if errors.Is(err, kraken.ErrConfig) {
			fmt.Fprintf(stderr, "gomerge: %s: %v\n", pos[0], err)
			return exitUsage
		}
		return failure(ctx, stderr, err, exitFailed)
	}
	if *jsonOut {
		printJSON(stdout, res)
		return exitOK
	}
	kind := "Kraken"
	if res.LoRA {
		kind = "Kraken-LoRA"
	}
	fmt.Fprintf(stderr, "gomerge: wrote %s: %s, router %s (%d labels), %d experts%s\n", pos[1], kind, res.Router, len(res.Labels),
		len(res.Experts), map[bool]string{true: " copied", false: " by reference"}[*copyExperts])
	return exitOK
}

const krakenTrainUsage = `usage: gomerge kraken train-router --base MODEL --data FILE.jsonl|DIR --out DIR [flags]

Trains a Kraken router: a sequence classifier made of the base model
(frozen) and a linear head on the final hidden state of each prompt's last
token, fitted by multinomial logistic regression. Each line of FILE.jsonl is
{"text": "...", "label": "expert1"} (an integer label k becomes LABEL_k); a
directory --data gives every *.jsonl file in it;
labels, sorted, become id2label. A share of each label's examples (--holdout)
is kept out, seeded, and the report gives held-out accuracy, per-label
precision and recall, and the confusion matrix. DIR is a transformers
*ForSequenceClassification checkpoint: the base's weights, score.weight,
id2label/label2id and the base's tokenizer.

examples:
  gomerge kraken train-router --base ./Qwen2.5-0.5B --data routes.jsonl --out ./router
  gomerge kraken train-router --base ./m --data d.jsonl --out ./r --seed 1 --holdout 0.2 --json
`

func runKrakenTrainRouter(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gomerge kraken train-router", flag.ContinueOnError)
	setUsage(fs, stderr, krakenTrainUsage)
	base := fs.String("base", "", "the base model directory (config.json, safetensors, tokenizer)")
	data := fs.String("data", "", "labelled prompts, JSON lines {\"text\", \"label\"}: a file, or a directory of *.jsonl files")
	out := fs.String("out", "", "the router directory to write")
	seedFlag := fs.Uint64("seed", 42, "seed of the held-out split")
	holdout := fs.Float64("holdout", 0.1, "share of each label's examples held out to measure accuracy (0: none)")
	iters := fs.Int("iterations", 3000, "most gradient steps")
	l2 := fs.Float64("l2", 1e-3, "weight decay of the head")
	maxTokens := fs.Int("max-tokens", 0, "truncate prompts to this many tokens (default: the base's context)")
	overwrite := fs.Bool("overwrite", false, "replace an existing DIR that gomerge did not write")
	jsonOut := fs.Bool("json", false, "print the report as JSON on stdout")
	var verbose counter
	verbosity(fs, &verbose)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) > 0 || *base == "" || *data == "" || *out == "" {
		fmt.Fprintln(stderr, "gomerge: kraken train-router needs --base MODEL --data FILE.jsonl --out DIR and no other arguments (see -h)")
		return exitUsage
	}
	if *holdout < 0 || *holdout >= 1 {
		fmt.Fprintf(stderr, "gomerge: --holdout %g: want 0 <= share < 1\n", *holdout)
		return exitUsage
	}
	log := newLogger(stderr, int(verbose))
	examples, err := readExampleFiles(*data)
	if err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitUsage
	}
	m, err := model.Open(*base, model.Options{})
	if err != nil {
		return failure(ctx, stderr, err, exitFailed)
	}
	tok, err := tokenizer.Load(*base)
	if err != nil {
		return failure(ctx, stderr, err, exitFailed)
	}
	opt := kraken.TrainOptions{Seed: *seedFlag, HoldOut: *holdout, Iterations: *iters, L2: *l2, MaxTokens: *maxTokens, Logger: log}
	if *holdout == 0 {
		opt.HoldOut = -1
	}
	var bar *progress
	if !*jsonOut && isTerminal(stderr) {
		bar = newCountProgress(stderr, "router features", "prompts")
		opt.Progress = func(done, total int) { bar.update(int64(done), int64(total)) }
	}
	start := time.Now()
	head, rep, err := kraken.TrainRouter(ctx, m, tok, examples, opt)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return failure(ctx, stderr, err, exitUsage)
	}
	if err := kraken.WriteRouter(*base, *out, head, kraken.WriteOptions{Overwrite: *overwrite, Tool: "gomerge kraken train-router",
		Version: versionString(), Logger: log}); err != nil {
		return failure(ctx, stderr, err, exitFailed)
	}
	if *jsonOut {
		printJSON(stdout, struct {
			Out string `json:"out"`
			*kraken.Report
			Seconds float64 `json:"seconds"`
		}{*out, rep, time.Since(start).Seconds()})
		return exitOK
	}
	if err := rep.WriteReport(stdout); err != nil {
		return failure(ctx, stderr, err, exitFailed)
	}
	fmt.Fprintf(stdout, "\nwrote %s (%s)\n", *out, strings.Join(rep.Labels, ", "))
	return exitOK
}

const krakenRouteUsage = `usage: gomerge kraken route KRAKEN --prompt TEXT [--system TEXT] [--max-new-tokens N] [--json]

Runs one prompt through a built Kraken (OUT of gomerge kraken, or its
kraken_model): the router classifies the conversation, class_indices maps
the top label to an expert, and that expert (for Kraken-LoRA, the base with
the chosen adapter applied in memory) answers the prompt rendered with its
own tokenizer's chat template (a model without one gets the raw prompt,
with its special tokens). With --rendered the prompt is a conversation
already rendered with the router's template, and the messages are recovered
from it as the original's generate does. The first line names the expert;
--json prints expert, label, probabilities, text and tokens.
--max-new-tokens 0 routes without generating. Experts must be local
directories.

examples:
  gomerge kraken route ./my-kraken --prompt "Once upon a time"
  gomerge kraken route ./my-kraken --prompt "SELECT 1" --max-new-tokens 64 --json
`

func runKrakenRoute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gomerge kraken route", flag.ContinueOnError)
	setUsage(fs, stderr, krakenRouteUsage)
	prompt := fs.String("prompt", "", "the user message (default: stdin)")
	system := fs.String("system", "", "a system message before it")
	maxNew := fs.Int("max-new-tokens", 128, "most tokens to generate; 0 only routes")
	temperature := fs.Float64("temperature", 0, "sampling temperature; 0 is greedy")
	topP := fs.Float64("top-p", 1, "nucleus sampling threshold")
	seedFlag := fs.Uint64("seed", 0, "sampling seed")
	rendered := fs.Bool("rendered", false, "the prompt is a conversation already rendered with the router's chat template, as the original's generate receives it: route the whole text and recover the messages from it")
	jsonOut := fs.Bool("json", false, "print one JSON object on stdout")
	var verbose counter
	verbosity(fs, &verbose)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 || *rendered && *system != "" {
		fmt.Fprint(stderr, krakenRouteUsage)
		return exitUsage
	}
	if *prompt == "" {
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 16<<20))
		if err != nil || len(strings.TrimSpace(string(b))) == 0 {
			fmt.Fprintln(stderr, "gomerge: kraken route needs --prompt TEXT or a prompt on stdin")
			return exitUsage
		}
		*prompt = strings.TrimRight(string(b), "\n")
	}
	log := newLogger(stderr, int(verbose))
	k, err := kraken.Open(pos[0], kraken.Options{Logger: log, Render: chatRenderer})
	if err != nil {
		return failure(ctx, stderr, err, exitFailed)
	}
	var msgs []kraken.Message
	if *system != "" {
		msgs = append(msgs, kraken.Message{Role: "system", Content: *system})
	}
	msgs = append(msgs, kraken.Message{Role: "user", Content: *prompt})
	if *maxNew <= 0 {
		route := k.RouteMessages
		if *rendered {
			route = func([]kraken.Message) (*kraken.Route, error) { return k.RouteText(*prompt) }
		}
		r, err := route(msgs)
		if err != nil {
			return failure(ctx, stderr, err, exitFailed)
		}
		if *jsonOut {
			printJSON(stdout, r)
		} else {
			fmt.Fprintf(stdout, "expert: %s (label %s, p=%.4f)\n", r.Expert, r.Label, r.Probs[indexOf(k.Labels(), r.Label)])
		}
		return exitOK
	}
	opt := kraken.GenerateOptions{GenerateOptions: model.GenerateOptions{MaxNewTokens: *maxNew}}
	if *temperature > 0 {
		opt.Sampler = model.NewSampler(*temperature, *topP, 0, *seedFlag)
	}
	start := time.Now()
	var a *kraken.Answer
	if *rendered {
		a, err = k.GenerateRendered(ctx, *prompt, opt)
	} else {
		a, err = k.Generate(ctx, msgs, opt)
	}
	if a == nil || err != nil && !errors.Is(err, context.Canceled) {
		return failure(ctx, stderr, err, exitFailed)
	}
	if *jsonOut {
		printJSON(stdout, struct {
			*kraken.Answer
			Seconds float64 `json:"seconds"`
		}{a, time.Since(start).Seconds()})
	} else {
		fmt.Fprintf(stdout, "expert: %s (label %s, p=%.4f)\n%s\n", a.Expert, a.Label, a.Probs[indexOf(k.Labels(), a.Label)], a.Text)
	}
	if ctx.Err() != nil {
		return exitInterrupted
	}
	return exitOK
}

// readExampleFiles reads training data from a JSONL file, or from every
// *.jsonl file of a directory in name order (Kraken's data comes as one
// file per expert).
func readExampleFiles(path string) ([]kraken.Example, error) {
	files := []string{path}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		if files, err = filepath.Glob(filepath.Join(path, "*.jsonl")); err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no *.jsonl files", path)
		}
	}
	var all []kraken.Example
	for _, name := range files {
		f, err := regfile.Open(name)
		if err != nil {
			return nil, err
		}
		ex, err := kraken.ReadExamples(f, name)
		f.Close()
		if err != nil {
			return nil, err
		}
		all = append(all, ex...)
	}
	return all, nil
}

func indexOf(xs []string, x string) int {
	for i, y := range xs {
		if y == x {
			return i
		}
	}
	return 0
}

// chatRenderer renders chat templates for Kraken experts; nil until the
// chat template package is wired in, so templated experts are refused.
var chatRenderer kraken.Renderer
