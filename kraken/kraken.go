package kraken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gomerge/gomerge/chat"
	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/lora"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tokenizer"
)

// Message is one turn of a conversation, as package chat renders it.
type Message = chat.Message

// A Renderer renders messages with the chat template of the tokenizer in
// dir (add_generation_prompt as given). ok is false when the tokenizer
// has no chat template; the prompt is then used as a plain completion
// (PlainPrompt, tokenized with the tokenizer's special tokens).
type Renderer func(dir string, tok *tokenizer.Tokenizer, msgs []Message, addGenerationPrompt bool) (text string, ok bool, err error)

// ChatRenderer renders with package chat: the directory's
// chat_template.jinja or tokenizer_config.json's default template, as
// transformers' apply_chat_template(tokenize=False).
func ChatRenderer(dir string, _ *tokenizer.Tokenizer, msgs []Message, addGen bool) (string, bool, error) {
	t, err := chat.Load(dir, "")
	if errors.Is(err, chat.ErrNoTemplate) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	text, err := t.Render(msgs, chat.Options{AddGenerationPrompt: addGen})
	return text, err == nil, err
}

// Options configure Open.
type Options struct {
	// Model configures how the router and experts are loaded.
	Model model.Options
	// Render renders chat templates; nil is ChatRenderer.
	Render Renderer
	// Logger receives routing decisions and loads; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Kraken is a built Kraken opened for inference: the router classifier
// and its tokenizer are loaded at Open, experts when first chosen (and
// then kept, one model per expert; for Kraken-LoRA one adapted copy of the
// base per adapter). Its methods are safe for concurrent use.
type Kraken struct {
	// Root is the directory relative paths in the config resolve against
	// (the one holding kraken_model).
	Root   string
	Config *Config
	router *model.Classifier
	rtok   *tokenizer.Tokenizer
	rdir   string
	opt    Options
	log    *slog.Logger

	mu      sync.Mutex
	experts map[string]*expertSlot
}

type expertSlot struct {
	once sync.Once
	e    *Expert
	err  error
}

// Expert is a loaded expert: a model and the tokenizer its prompts are
// rendered and encoded with.
type Expert struct {
	Key      string
	Model    *model.Model
	Tok      *tokenizer.Tokenizer
	TokDir   string
	ModelDir string
	// Adapter is the LoRA adapter applied to the base (Kraken-LoRA).
	Adapter string
}

// IsKraken reports whether dir is a built Kraken: it holds
// kraken_model/config.json, or is kraken_model itself, with model_type
// kraken.
func IsKraken(dir string) bool {
	_, _, err := findConfig(dir)
	return err == nil
}

// findConfig returns the path of kraken_model/config.json and the root
// that relative config paths resolve against.
func findConfig(dir string) (cfgPath, root string, err error) {
	for _, c := range []struct{ cfg, root string }{
		{filepath.Join(dir, ModelDir, "config.json"), dir},
		{filepath.Join(dir, "config.json"), filepath.Dir(filepath.Clean(dir))},
	} {
		raw, err := regfile.ReadFile(c.cfg, regfile.ConfigLimit)
		if err != nil {
			continue
		}
		var head struct {
			ModelType  string          `json:"model_type"`
			ConfigDict json.RawMessage `json:"config_dict"`
		}
		if json.Unmarshal(raw, &head) == nil && head.ModelType == "kraken" && len(head.ConfigDict) > 0 {
			return c.cfg, c.root, nil
		}
	}
	return "", "", fmt.Errorf("%s is not a Kraken: no %s/config.json with model_type kraken and config_dict", dir, ModelDir)
}

// Open opens the Kraken in dir (OUT of Build, or its kraken_model):
// config_dict is validated, the router classifier and its tokenizer are
// loaded. Relative paths in config_dict resolve against OUT.
func Open(dir string, opt Options) (*Kraken, error) {
	cfgPath, root, err := findConfig(dir)
	if err != nil {
		return nil, err
	}
	raw, err := regfile.ReadFile(cfgPath, regfile.ConfigLimit)
	if err != nil {
		return nil, err
	}
	var outer struct {
		ConfigDict json.RawMessage `json:"config_dict"`
	}
	if err := json.Unmarshal(raw, &outer); err != nil {
		return nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	c, err := Parse(outer.ConfigDict)
	if err != nil {
		return nil, fmt.Errorf("%s: config_dict: %w", cfgPath, err)
	}
	if _, err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: config_dict: %w", cfgPath, err)
	}
	k := &Kraken{Root: root, Config: c, opt: opt, log: opt.Logger, experts: map[string]*expertSlot{}}
	if k.log == nil {
		k.log = slog.Default()
	}
	rdir, err := k.local("router", c.Router)
	if err != nil {
		return nil, err
	}
	k.rdir = rdir
	if k.router, err = model.OpenClassifier(rdir, opt.Model); err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	if k.rtok, err = tokenizer.Load(rdir); err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	for _, l := range k.router.Labels() {
		if _, ok := c.ClassIndices[l]; !ok {
			return nil, fmt.Errorf("%w: the router's label %q is not in class_indices", ErrConfig, l)
		}
	}
	return k, nil
}

// local resolves a config_dict path: relative to the Kraken's root, else
// as given; it must be a local directory (gomerge does not download).
func (k *Kraken) local(what, p string) (string, error) {
	if d, ok := localDir(k.Root, p); ok {
		return d, nil
	}
	if d, ok := localDir("", p); ok {
		return d, nil
	}
	return "", fmt.Errorf("%s %q is not a local directory under %s (gomerge runs only local models: download it, or rebuild with --copy-experts)", what, p, k.Root)
}

// Labels returns the router's labels by id.
func (k *Kraken) Labels() []string { return k.router.Labels() }

// Route is one routing decision.
type Route struct {
	// Expert is the chosen key (expert2, lora_expert1).
	Expert string `json:"expert"`
	// Label is the router's top label and Index its class index.
	Label string `json:"label"`
	Index int    `json:"index"`
	// Probs are the router's probabilities by label id.
	Probs []float64 `json:"probs"`
	// Text is what the router classified.
	Text string `json:"router_text"`
}

// RouteText classifies text with the router (its tokens with the router
// tokenizer's special tokens) and maps the top label through
// class_indices to an expert key.
func (k *Kraken) RouteText(text string) (*Route, error) {
	ids, err := encodeForRouter(k.rtok, text, k.router.MaxPositions())
	if err != nil {
		return nil, err
	}
	logits, err := k.router.Classify(ids)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	best := model.Argmax(logits)
	labels := k.router.Labels()
	idx := k.Config.ClassIndices[labels[best]]
	return &Route{Expert: k.Config.ExpertKey(idx), Label: labels[best], Index: idx, Probs: softmax(logits), Text: text}, nil
}

func softmax(x []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, float64(v))
	}
	out := make([]float64, len(x))
	s := 0.0
	for i, v := range x {
		out[i] = math.Exp(float64(v) - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

// RouteMessages routes a conversation as the original does: the text the
// router classifies is the conversation rendered with the router
// tokenizer's chat template (without a generation prompt, as the
// original's notebooks render it), or PlainPrompt when it has none.
func (k *Kraken) RouteMessages(msgs []Message) (*Route, error) {
	text, _, err := k.render(k.rdir, k.rtok, msgs, false)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	return k.RouteText(text)
}

// PlainPrompt is the prompt a model without a chat template gets: the
// messages' contents concatenated, as gomerge chat builds it (for a single
// message, its content).
func PlainPrompt(msgs []Message) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m.Content)
	}
	return b.String()
}

// render renders msgs for the tokenizer in dir and reports whether a chat
// template did it.
func (k *Kraken) render(dir string, tok *tokenizer.Tokenizer, msgs []Message, addGen bool) (string, bool, error) {
	r := k.opt.Render
	if r == nil {
		r = ChatRenderer
	}
	text, ok, err := r(dir, tok, msgs, addGen)
	if err != nil {
		return "", false, err
	}
	if !ok {
		return PlainPrompt(msgs), false, nil
	}
	return text, true, nil
}

// Expert returns the expert for key, loading it on first use: the model
// and tokenizer config_dict names (for Kraken-LoRA, the base with the
// adapter applied in memory).
func (k *Kraken) Expert(key string) (*Expert, error) {
	k.mu.Lock()
	s, ok := k.experts[key]
	if !ok {
		s = &expertSlot{}
		k.experts[key] = s
	}
	k.mu.Unlock()
	s.once.Do(func() { s.e, s.err = k.load(key) })
	return s.e, s.err
}

func (k *Kraken) load(key string) (*Expert, error) {
	c := k.Config
	tdir, err := k.local("tokenizers."+key, c.Tokenizers[key])
	if err != nil {
		return nil, err
	}
	e := &Expert{Key: key, TokDir: tdir}
	if e.Tok, err = tokenizer.Load(tdir); err != nil {
		return nil, fmt.Errorf("expert %s: %w", key, err)
	}
	if !c.IsLoRA() {
		if e.ModelDir, err = k.local("models."+key, c.Models[key]); err != nil {
			return nil, err
		}
		k.log.Info("loading expert", "expert", key, "model", e.ModelDir)
		if e.Model, err = model.Open(e.ModelDir, k.opt.Model); err != nil {
			return nil, fmt.Errorf("expert %s: %w", key, err)
		}
		return e, nil
	}
	if e.ModelDir, err = k.local("models.base", c.Models["base"]); err != nil {
		return nil, err
	}
	if e.Adapter, err = k.local("lora_adapters."+key, c.LoraAdapters[key]); err != nil {
		return nil, err
	}
	k.log.Info("loading expert", "expert", key, "base", e.ModelDir, "adapter", e.Adapter)
	if e.Model, err = openAdapted(e.ModelDir, e.Adapter, k.opt.Model); err != nil {
		return nil, fmt.Errorf("expert %s: %w", key, err)
	}
	return e, nil
}

// openAdapted loads base with the LoRA adapter in dir applied.
func openAdapted(base, adapter string, opts model.Options) (*model.Model, error) {
	cfg, err := regfile.ReadFile(filepath.Join(base, "config.json"), regfile.ConfigLimit)
	if err != nil {
		return nil, err
	}
	src, err := safetensors.OpenModel(base)
	if err != nil {
		return nil, err
	}
	a, err := lora.Open(adapter)
	if err != nil {
		src.Close()
		return nil, err
	}
	m, err := lora.Apply(src, a)
	if err != nil {
		a.Close()
		src.Close()
		return nil, err
	}
	defer m.Close()
	return model.Load(cfg, m, opts)
}

// GenerateOptions say how an expert answers.
type GenerateOptions struct {
	model.GenerateOptions
	// Stream receives each generated token as it is chosen.
	Stream func(tok int) bool
}

// Answer is an expert's reply to a conversation.
type Answer struct {
	Route
	// Prompt is the text the expert was given, rendered with its own chat
	// template (add_generation_prompt), and PromptIDs its tokens.
	Prompt    string `json:"prompt"`
	PromptIDs []int  `json:"prompt_ids"`
	// Tokens are the generated ids (a final stop token included) and
	// Text their decoding without special tokens.
	Tokens []int  `json:"tokens"`
	Text   string `json:"text"`
}

// StopIDs are the ids generation stops on for an expert, as gomerge chat
// chooses them (tokenizer.AnyStopIDsFor): every EOS id of its
// generation_config.json, its model's config.json and its tokenizer.
func (e *Expert) StopIDs() []int { return e.Tok.AnyStopIDsFor(e.Model.EOS()) }

// Generate routes the conversation (RouteMessages), renders it with the
// chosen expert's chat template and generation prompt, and generates the
// expert's answer. opt.Stop defaults to the expert's StopIDs.
func (k *Kraken) Generate(ctx context.Context, msgs []Message, opt GenerateOptions) (*Answer, error) {
	r, err := k.RouteMessages(msgs)
	if err != nil {
		return nil, err
	}
	return k.answer(ctx, r, msgs, opt)
}

// answer lets the expert r chose answer msgs.
func (k *Kraken) answer(ctx context.Context, r *Route, msgs []Message, opt GenerateOptions) (*Answer, error) {
	k.log.Info("routing", "expert", r.Expert, "label", r.Label, "p", r.Probs[k.labelID(r.Label)])
	e, err := k.Expert(r.Expert)
	if err != nil {
		return nil, err
	}
	prompt, templated, err := k.render(e.TokDir, e.Tok, msgs, true)
	if err != nil {
		return nil, fmt.Errorf("expert %s: %w", r.Expert, err)
	}
	// A rendered template writes its own BOS: the text is encoded without
	// special tokens, as apply_chat_template(tokenize=True) does (the
	// original's tokenizer(text) call would add a second BOS). A plain
	// completion gets them.
	ids := e.Tok.Encode(prompt, !templated)
	if len(ids) == 0 {
		return nil, fmt.Errorf("expert %s: the prompt has no tokens", r.Expert)
	}
	if len(opt.Stop) == 0 {
		opt.Stop = e.StopIDs()
	}
	if opt.MaxLen == 0 {
		opt.MaxLen = e.Model.MaxPositions()
	}
	s := e.Model.NewSession()
	if err := s.Feed(ids); err != nil {
		return nil, fmt.Errorf("expert %s: %w", r.Expert, err)
	}
	toks, err := s.Generate(ctx, opt.GenerateOptions, opt.Stream)
	a := &Answer{Route: *r, Prompt: prompt, PromptIDs: ids, Tokens: toks, Text: e.Tok.Decode(toks, true)}
	return a, err
}

func (k *Kraken) labelID(label string) int {
	for i, l := range k.router.Labels() {
		if l == label {
			return i
		}
	}
	return 0
}
