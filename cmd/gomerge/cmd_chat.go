package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/gomerge/gomerge/chat"
	"github.com/gomerge/gomerge/eval/local"
	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/tensor"
	"github.com/gomerge/gomerge/tokenizer"
)

const chatUsage = `usage: gomerge chat MODEL [--system TEXT] [--prompt TEXT] [flags]

Talks to MODEL: a model directory (dense or a MoE gomerge built), a merge
config (.yml), merged in memory, or a Kraken directory (OUT of gomerge
kraken, or its kraken_model), whose router picks, per prompt, the expert
that answers (the expert's own chat template and EOS ids apply; the answer
says which expert, and --json records it as "expert"). The conversation is
rendered with the model's chat template (tokenizer_config.json or
chat_template.jinja) as transformers' apply_chat_template does, and the
answer is generated in this process. Generation stops on any EOS id of
generation_config.json, config.json and the tokenizer (gomerge doctor
reports a model whose rendered turn end Python's generate(), which reads
only the first of these that names one, would not stop on), at
--max-new-tokens, or at the model's context length. A model without a chat template gets the raw
text (with the tokenizer's BOS) as a completion.

On a terminal, chat is interactive: answers stream as they are generated,
the conversation is kept (and its key/value cache reused between turns),
Ctrl-C stops an answer and returns to the prompt, Ctrl-C at the prompt or
Ctrl-D quits; /reset starts over. With --prompt, or with stdin not a
terminal (its whole text is the prompt), chat answers once; --json then
prints {text, tokens, timings, ...} instead of the text.

examples:
  gomerge chat ./merged
  gomerge chat ./merged --prompt "Wie heißt die Hauptstadt von Österreich?" --temperature 0
  echo "Once upon a time" | gomerge chat ./stories --max-new-tokens 50 --json
  gomerge chat config.yml --system "Antworte auf Deutsch." --temperature 0.7 --top-p 0.9 --seed 1
  gomerge chat ./my-kraken --prompt "Write a SQL query for ..." --temperature 0 --json
`

// chatFlags are the options of one `gomerge chat` run.
type chatFlags struct {
	system, prompt string
	device         string
	maxNew         int
	temperature    float64
	topP           float64
	topK           int
	seed           uint64
	jsonOut        bool
	verbose        counter
}

// chatTurn is the --json output of a one-shot chat, and what each answer
// of an interactive one records.
type chatTurn struct {
	Model string `json:"model"`
	// Expert is the expert that answered, for a model that routes (Kraken).
	Expert       string `json:"expert,omitempty"`
	Text         string `json:"text"`
	Tokens       []int  `json:"tokens"`
	PromptTokens int    `json:"prompt_tokens"`
	// CachedTokens of the prompt were already in the key/value cache.
	CachedTokens int `json:"cached_tokens"`
	// StopReason is "eos", "length" (max-new-tokens or context) or
	// "interrupted".
	StopReason string      `json:"stop_reason"`
	Template   bool        `json:"chat_template"`
	Timings    chatTimings `json:"timings"`
}

type chatTimings struct {
	PromptSeconds         float64 `json:"prompt_s"`
	PromptTokensPerSec    float64 `json:"prompt_tokens_per_s"`
	GenerateSeconds       float64 `json:"generate_s"`
	GeneratedTokensPerSec float64 `json:"generated_tokens_per_s"`
}

// A chatBackend answers conversations: one model, or (a Kraken) a router
// that picks, per conversation, the expert that answers. openChatBackend
// chooses the backend for a MODEL argument.
type chatBackend interface {
	// Engine returns the engine that answers msgs and the name of the
	// expert it is ("" for a single model).
	Engine(ctx context.Context, msgs []chat.Message) (*chatEngine, string, error)
}

// singleModel is a backend of one model.
type singleModel struct{ e *chatEngine }

func (s singleModel) Engine(context.Context, []chat.Message) (*chatEngine, string, error) {
	return s.e, "", nil
}

// chatBackendOpeners are tried in order before the plain model directory;
// each returns ok false for a path it does not handle. A Kraken directory
// adds its opener here.
var chatBackendOpeners []func(ctx context.Context, path string) (b chatBackend, ok bool, err error)

// openChatBackend opens MODEL: a merge config merged in memory (its
// arithmetic on be; nil is the CPU), or a model directory.
func openChatBackend(ctx context.Context, path string, be tensor.Backend) (chatBackend, error) {
	for _, open := range chatBackendOpeners {
		if b, ok, err := open(ctx, path); ok || err != nil {
			return b, err
		}
	}
	var m *model.Model
	tokDir := path
	if isConfigPath(path) {
		cfg, err := merge.LoadConfig(path)
		if err != nil {
			return nil, err
		}
		lm, err := local.Merge(ctx, cfg, local.Options{Hub: hub.NewClient(), Backend: be})
		if err != nil {
			return nil, err
		}
		m, tokDir = lm.Forward(), lm.TokenizerDir
	} else {
		// model.Open, not local.Open: its errors would say "eval DIR".
		var err error
		if m, err = model.Open(path, model.Options{}); err != nil {
			return nil, err
		}
	}
	e, err := newChatEngine(m, tokDir)
	if err != nil {
		return nil, err
	}
	return singleModel{e}, nil
}

// A chatEngine is one model with its tokenizer, chat template and stop
// ids, and the session whose key/value cache successive turns reuse.
type chatEngine struct {
	m    *model.Model
	tok  *tokenizer.Tokenizer
	tmpl *chat.Template // nil: plain completion
	stop []int
	sess *model.Session
}

// newChatEngine loads the tokenizer and chat template of tokDir for m.
func newChatEngine(m *model.Model, tokDir string) (*chatEngine, error) {
	tok, err := tokenizer.Load(tokDir)
	if err != nil {
		return nil, fmt.Errorf("chat needs the model's tokenizer: %w", err)
	}
	e := &chatEngine{m: m, tok: tok, sess: m.NewSession()}
	e.tmpl, err = chat.Load(tokDir, "")
	if errors.Is(err, chat.ErrNoTemplate) {
		e.tmpl, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	// Any EOS id the model names; doctor checks the narrower set Python's
	// generate() stops on (tokenizer.StopIDsFor).
	e.stop = tok.AnyStopIDsFor(m.EOS())
	return e, nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Prompt renders and tokenizes msgs: with the chat template, the whole
// conversation and the opening of the assistant's turn, tokenized without
// adding special tokens (the template writes them), as
// apply_chat_template(tokenize=True) does; without one, the messages'
// text joined as one completion prompt with the tokenizer's own special
// tokens (its BOS).
func (e *chatEngine) Prompt(msgs []chat.Message) ([]int, error) {
	if e.tmpl == nil {
		var b strings.Builder
		for _, m := range msgs {
			b.WriteString(m.Content)
		}
		return e.tok.Encode(b.String(), true), nil
	}
	text, err := e.tmpl.Render(msgs, chat.Options{AddGenerationPrompt: true})
	if err != nil {
		return nil, err
	}
	return e.tok.Encode(text, false), nil
}

// genOptions say how an answer is sampled.
type genOptions struct {
	maxNew  int
	sampler *model.Sampler
}

// Answer generates the answer to msgs, passing its text to out as it
// grows. The session keeps what it already holds of the prompt. A
// cancelled ctx ends the answer early with StopReason "interrupted" and
// no error.
func (e *chatEngine) Answer(ctx context.Context, msgs []chat.Message, opt genOptions, out func(string)) (chatTurn, error) {
	var turn chatTurn
	ids, err := e.Prompt(msgs)
	if err != nil {
		return turn, err
	}
	if len(ids) == 0 {
		return turn, errors.New("the prompt has no tokens")
	}
	maxLen := e.m.MaxPositions()
	if maxLen > 0 && len(ids) >= maxLen {
		return turn, &promptTooLongError{Tokens: len(ids), Context: maxLen}
	}
	turn.Template, turn.PromptTokens = e.tmpl != nil, len(ids)
	// Keep the common prefix, but feed at least one token: the logits of
	// the last prompt token are needed.
	keep := min(e.sess.CommonPrefix(ids), len(ids)-1)
	e.sess.Rewind(keep)
	turn.CachedTokens = keep
	t0 := time.Now()
	if err := e.sess.Feed(ids[keep:]); err != nil {
		return turn, err
	}
	turn.Timings.PromptSeconds = time.Since(t0).Seconds()
	turn.Timings.PromptTokensPerSec = rate(len(ids)-keep, turn.Timings.PromptSeconds)
	stream := &textStream{tok: e.tok}
	t1 := time.Now()
	gen, err := e.sess.Generate(ctx, model.GenerateOptions{MaxNewTokens: opt.maxNew, MaxLen: maxLen, Stop: e.stop, Sampler: opt.sampler},
		func(tok int) bool {
			if out != nil {
				if s := stream.add(tok); s != "" {
					out(s)
				}
			}
			return true
		})
	turn.Timings.GenerateSeconds = time.Since(t1).Seconds()
	turn.Timings.GeneratedTokensPerSec = rate(len(gen), turn.Timings.GenerateSeconds)
	turn.Tokens = gen
	if turn.Tokens == nil {
		turn.Tokens = []int{}
	}
	switch {
	case err != nil && ctx.Err() != nil:
		turn.StopReason = "interrupted"
	case err != nil:
		return turn, err
	case len(gen) > 0 && containsInt(e.stop, gen[len(gen)-1]):
		turn.StopReason = "eos"
	default:
		turn.StopReason = "length"
	}
	turn.Text = e.tok.Decode(gen, true)
	if out != nil {
		if s := stream.flush(turn.Text); s != "" {
			out(s)
		}
	}
	return turn, nil
}

func rate(n int, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}

// textStream turns generated ids into text as they come, in time
// linear in the answer's length. Each new id is decoded together with the
// ids of the piece sent last (the window ids[prefix:]), and what that
// window adds to the decoding of ids[prefix:read] is the new text: the
// window starts at a token boundary, so a decoder that treats the first
// token differently (SentencePiece strips its leading space) treats both
// decodings alike, and the first window starts at the answer's start as
// the final Decode does (for text the model writes as valid UTF-8 the
// pieces add up to it). A new text that ends in U+FFFD is held back
// while the window is short: a character whose UTF-8 bytes
// (byte-fallback tokens) have not all come.
type textStream struct {
	tok *tokenizer.Tokenizer
	ids []int
	// prefix and read bound the ids of the last piece sent: ids[:read]
	// are sent, ids[prefix:read] start the next window.
	prefix, read int
	sent         strings.Builder
	// decoded counts the ids passed to Decode, for the tests.
	decoded int
}

// maxHeldBytes is how many ids a trailing U+FFFD is held back for: a
// UTF-8 character has at most 4 bytes; more is an invalid sequence,
// which is sent as U+FFFD as Decode writes it.
const maxHeldBytes = 4

func (s *textStream) decode(ids []int) string {
	s.decoded += len(ids)
	return s.tok.Decode(ids, true)
}

func (s *textStream) add(id int) string {
	s.ids = append(s.ids, id)
	before := s.decode(s.ids[s.prefix:s.read])
	text := s.decode(s.ids[s.prefix:])
	held := strings.HasSuffix(text, "\uFFFD") && len(s.ids)-s.read < maxHeldBytes
	if held || len(text) <= len(before) && strings.HasPrefix(before, text) {
		return ""
	}
	// A byte token can join bytes sent before as U+FFFD (an invalid
	// sequence the model went on to complete): what was sent stays sent,
	// the text from the first difference on follows.
	c := 0
	for c < len(before) && c < len(text) && before[c] == text[c] {
		c++
	}
	for c > 0 && c < len(text) && !utf8.RuneStart(text[c]) {
		c--
	}
	delta := text[c:]
	s.prefix, s.read = s.read, len(s.ids)
	s.sent.WriteString(delta)
	return delta
}

// flush returns what of the final text has not been sent.
func (s *textStream) flush(final string) string {
	sent := s.sent.String()
	if !strings.HasPrefix(final, sent) {
		return ""
	}
	delta := final[len(sent):]
	s.sent.WriteString(delta)
	return delta
}

// runChat is `gomerge chat`.
func runChat(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gomerge chat", flag.ContinueOnError)
	setUsage(fs, stderr, chatUsage)
	var f chatFlags
	fs.StringVar(&f.system, "system", "", "system message that starts the conversation")
	fs.StringVar(&f.prompt, "prompt", "", "answer this message once and exit (default: stdin, or interactive on a terminal)")
	fs.IntVar(&f.maxNew, "max-new-tokens", 512, "most tokens to generate per answer (0: until EOS or the context is full)")
	fs.Float64Var(&f.temperature, "temperature", 0.7, "sampling temperature; 0 is greedy")
	fs.Float64Var(&f.topP, "top-p", 1, "nucleus sampling: keep the most likely tokens up to this probability")
	fs.IntVar(&f.topK, "top-k", 0, "keep only the K most likely tokens (0: all)")
	fs.Uint64Var(&f.seed, "seed", 0, "sampling seed (default: random)")
	fs.BoolVar(&f.jsonOut, "json", false, "print the one-shot answer as JSON: text, tokens, timings")
	fs.StringVar(&f.device, "device", "cpu", deviceUsage+"; for merging a config in memory (the forward pass runs on the CPU)")
	verbosity(fs, &f.verbose)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	switch {
	case len(pos) == 0:
		fmt.Fprintln(stderr, "gomerge chat: missing MODEL, a model directory or a merge config")
		return exitUsage
	case len(pos) > 1:
		fmt.Fprintf(stderr, "gomerge chat: one MODEL only, got %d arguments: %s\n", len(pos), strings.Join(pos, " "))
		return exitUsage
	case f.maxNew < 0 || f.temperature < 0 || f.topP < 0 || f.topP > 1 || f.topK < 0:
		fmt.Fprintln(stderr, "gomerge chat: --max-new-tokens, --temperature and --top-k must not be negative, --top-p lies in [0, 1]")
		return exitUsage
	}
	if code := checkDevice(f.device, stderr); code != exitOK {
		return code
	}
	seedSet := false
	fs.Visit(func(fl *flag.Flag) { seedSet = seedSet || fl.Name == "seed" })
	if !seedSet {
		f.seed = randomSeed()
	}
	var dev tensor.Backend
	if isConfigPath(pos[0]) {
		be, release, err := openDevice(f.device, stderr)
		if err != nil {
			return failure(ctx, stderr, err, exitFailed)
		}
		defer release()
		dev = be
	}
	backend, err := openChatBackend(ctx, pos[0], dev)
	if err != nil {
		return failure(ctx, stderr, fmt.Errorf("chat %s: %w", pos[0], err), exitFailed)
	}
	opt := genOptions{maxNew: f.maxNew}
	if f.temperature > 0 {
		opt.sampler = model.NewSampler(f.temperature, f.topP, f.topK, f.seed)
	}
	var history []chat.Message
	if f.system != "" {
		history = append(history, chat.Message{Role: "system", Content: f.system})
	}
	inFile, inIsFile := stdin.(*os.File)
	interactive := f.prompt == "" && inIsFile && term.IsTerminal(int(inFile.Fd())) && !f.jsonOut
	if interactive {
		return chatInteractive(ctx, pos[0], backend, history, opt, stdin, stdout, stderr, newLogger(stderr, int(f.verbose)))
	}
	prompt := f.prompt
	if prompt == "" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return failure(ctx, stderr, fmt.Errorf("chat: read stdin: %w", err), exitFailed)
		}
		prompt = strings.TrimRight(string(b), "\n")
	}
	msgs := append(history, chat.Message{Role: "user", Content: prompt})
	e, expert, err := backend.Engine(ctx, msgs)
	if err != nil {
		return failure(ctx, stderr, fmt.Errorf("chat %s: %w", pos[0], err), exitFailed)
	}
	var out func(string)
	if !f.jsonOut {
		out = func(s string) { fmt.Fprint(stdout, s) }
		if expert != "" {
			// Which expert answers, on stderr: stdout stays the answer.
			fmt.Fprintf(stderr, "[%s]\n", expert)
		}
	}
	turn, err := e.Answer(ctx, msgs, opt, out)
	if err != nil {
		// A prompt the model cannot hold is the user's input, not a failure.
		code := exitFailed
		var long *promptTooLongError
		if errors.As(err, &long) {
			code = exitUsage
		}
		return failure(ctx, stderr, fmt.Errorf("chat %s: %w", pos[0], err), code)
	}
	turn.Model, turn.Expert = pos[0], expert
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(turn); err != nil {
			return exitFailed
		}
	} else {
		fmt.Fprintln(stdout)
	}
	if turn.StopReason == "interrupted" {
		return exitInterrupted
	}
	return exitOK
}

// promptTooLongError is a prompt with no room left in the model's context:
// an input error (exit 2), which says both lengths so the user knows how
// much to cut.
type promptTooLongError struct {
	Tokens, Context int
}

func (e *promptTooLongError) Error() string {
	return fmt.Sprintf("the prompt has %d tokens; the model's context is %d", e.Tokens, e.Context)
}

// chatInteractive is the terminal conversation. SIGINT is taken from the
// process-wide handler while it runs: during an answer it stops the
// answer, at the prompt it quits.
func chatInteractive(ctx context.Context, name string, backend chatBackend, history []chat.Message, opt genOptions,
	stdin io.Reader, stdout, stderr io.Writer, log *slog.Logger) int {
	signal.Reset(os.Interrupt)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	start := len(history)
	fmt.Fprintf(stderr, "chatting with %s — Ctrl-C stops an answer, Ctrl-D quits, /reset starts over\n", name)
	for {
		fmt.Fprint(stdout, "> ")
		var line string
		select {
		case l, ok := <-lines:
			if !ok {
				fmt.Fprintln(stdout)
				return exitOK
			}
			line = l
		case <-sigs:
			fmt.Fprintln(stdout)
			return exitOK
		case <-ctx.Done():
			return exitInterrupted
		}
		switch strings.TrimSpace(line) {
		case "":
			continue
		case "/reset":
			history = history[:start]
			continue
		case "/exit", "/quit":
			return exitOK
		}
		msgs := append(history, chat.Message{Role: "user", Content: line})
		e, expert, err := backend.Engine(ctx, msgs)
		if err != nil {
			fmt.Fprintln(stderr, "gomerge chat:", err)
			continue
		}
		if expert != "" {
			fmt.Fprintf(stderr, "[%s]\n", expert)
		}
		genCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			select {
			case <-sigs:
				cancel()
			case <-done:
			}
		}()
		turn, err := e.Answer(genCtx, msgs, opt, func(s string) { fmt.Fprint(stdout, s) })
		close(done)
		cancel()
		fmt.Fprintln(stdout)
		if err != nil {
			fmt.Fprintln(stderr, "gomerge chat:", err)
			continue
		}
		if turn.StopReason == "interrupted" {
			fmt.Fprintln(stderr, "[interrupted]")
		}
		history = append(msgs, chat.Message{Role: "assistant", Content: turn.Text})
		log.Info("answer", "expert", expert, "prompt_tokens", turn.PromptTokens, "cached_tokens", turn.CachedTokens,
			"generated", len(turn.Tokens), "prompt_tokens_per_s", turn.Timings.PromptTokensPerSec,
			"generated_tokens_per_s", turn.Timings.GeneratedTokensPerSec, "stop", turn.StopReason)
	}
}
