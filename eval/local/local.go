// Package local opens models for scoring in this process: a model
// directory, or a merge config merged in memory straight into the forward
// pass of package eval/model, with the tokenizer that goes with it. It is
// what `gomerge eval MODEL` and the evaluation workers (package worker)
// share.
package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/eval"
	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
	"github.com/gomerge/gomerge/tokenizer"
)

// Options tune Open and Merge.
type Options struct {
	// Threads is how many goroutines the forward pass uses; 0 means
	// GOMAXPROCS.
	Threads int
	// BF16Dot scores with bfloat16 products where the CPU has them
	// (model.Options.BF16Dot): faster, but scores differ from the float32
	// path's in the low digits, so scores taken with and without it do
	// not compare.
	BF16Dot bool
	// Hub resolves merge inputs that are not local directories as Hugging
	// Face repositories (downloading into its cache); nil means local
	// directories only.
	Hub *hub.Client
	// Dir is the directory relative model paths of a config resolve
	// against; "" is the current directory.
	Dir string
	// Seed seeds random merge methods (DARE); a fixed seed keeps a
	// candidate's score repeatable.
	Seed uint64
	// Backend runs the merge arithmetic of Merge (see merge.Options);
	// nil means tensor.CPU.
	Backend tensor.Backend
	// Accelerator, when set, runs the scoring forward pass of dense models
	// (model.Model.UseDevice); generation stays on the CPU. A model it
	// does not support stays on the CPU, and Notice (if set) gets the
	// reason. Close the Model to free the device's copy.
	Accelerator model.Accelerator
	Notice      func(error)
	// Reuse, when set, keeps Merge's merged tensors for later Merge calls
	// that share it: a tensor whose recipe did not change is not merged,
	// read or decoded again.
	Reuse *Reuse
}

// Model is a model ready to score: its forward pass as an eval.LM, and the
// directory whose tokenizer goes with it.
type Model struct {
	// LM scores requests with the in-process forward pass, reusing the keys
	// and values of a context it has just seen (few-shot prefixes, the
	// choices of one document); it also generates greedily
	// (eval.TokenGenerator) for generate_until tasks.
	LM eval.LM
	// TokenizerDir holds the tokenizer: the model directory, or for a
	// merge the donor's (base_model, else the first model), whose
	// tokenizer the merge would copy.
	TokenizerDir string
	m            *model.Model
}

func wrap(m *model.Model, tokDir string) *Model {
	return &Model{LM: newSessionLM(m), TokenizerDir: tokDir, m: m}
}

// useDevice uploads m to opt.Accelerator, if any; a model it does not run
// stays on the CPU with a notice.
func (opt *Options) useDevice(m *model.Model, name string) error {
	if opt.Accelerator == nil {
		return nil
	}
	err := m.UseDevice(opt.Accelerator, name)
	if errors.Is(err, model.ErrNotOnDevice) {
		if opt.Notice != nil {
			opt.Notice(fmt.Errorf("%s: %w; scoring on the CPU", name, err))
		}
		return nil
	}
	return err
}

// Close frees the device's copy of the model (Options.Accelerator); the
// model goes on scoring on the CPU.
func (m *Model) Close() error { return m.m.Close() }

// model is the forward pass's options.
func (opt *Options) model() model.Options {
	return model.Options{Threads: opt.Threads, BF16Dot: opt.BF16Dot}
}

// Open loads the model in dir.
func Open(dir string, opt Options) (*Model, error) {
	m, err := model.Open(dir, opt.model())
	if err != nil {
		return nil, fmt.Errorf("eval %s: %w", dir, err)
	}
	if err := opt.useDevice(m, dir); err != nil {
		return nil, fmt.Errorf("eval %s: %w", dir, err)
	}
	return wrap(m, dir), nil
}

// Merge plans cfg and loads its output straight into the forward pass:
// every output tensor is merged from the inputs as the model reads it, and
// no model is written.
func Merge(ctx context.Context, cfg *merge.Config, opt Options) (*Model, error) {
	plan, err := merge.NewPlanContext(ctx, cfg, merge.PlanOptions{Hub: opt.Hub, Dir: opt.Dir})
	if err != nil {
		return nil, err
	}
	defer plan.Close()
	cj, err := plan.ConfigJSON()
	if err != nil {
		return nil, err
	}
	src := plan.SourceContext(ctx, merge.Options{Seed: &opt.Seed, Backend: opt.Backend})
	defer src.Close()
	var weights safetensors.Source = src
	if opt.Reuse != nil {
		weights = opt.Reuse.source(plan, src, opt.Seed)
	}
	m, err := model.Load(cj, weights, opt.model())
	if err != nil {
		return nil, err
	}
	if err := opt.useDevice(m, "the merged model"); err != nil {
		return nil, err
	}
	return wrap(m, plan.Donor.Dir), nil
}

// Tokenizer loads the tokenizer of m's TokenizerDir (tokenizer.json or
// tokenizer.model). A directory without one still scores tasks given as
// token ids: the tokenizer returned then knows the model's BOS and EOS and
// refuses text.
func (m *Model) Tokenizer() (eval.Tokenizer, error) {
	dir := m.TokenizerDir
	t, err := tokenizer.Load(dir)
	if err == nil {
		return eval.FromTokenizer(t), nil
	}
	if !hasTokenizerFiles(dir) {
		eos := -1
		if e := m.m.EOS(); len(e) > 0 {
			eos = e[0]
		}
		return idsOnly{dir: dir, bos: m.m.BOS(), eos: eos}, nil
	}
	return nil, fmt.Errorf("eval %s: %w", dir, err)
}

// idsOnly serves tasks given as token ids ({"ids": [...]}): it knows the
// model's BOS and EOS, and refuses text.
type idsOnly struct {
	dir      string
	bos, eos int
}

func (t idsOnly) Encode(string) ([]int, error) {
	return nil, fmt.Errorf("eval %s: this task has text, but the model has no tokenizer.json or tokenizer.model; give the task as token ids", t.dir)
}

func (t idsOnly) BOS() (int, bool) { return t.bos, t.bos >= 0 }
func (t idsOnly) EOS() (int, bool) { return t.eos, t.eos >= 0 }

func hasTokenizerFiles(dir string) bool {
	for _, f := range []string{"tokenizer.json", "tokenizer.model"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// Forward returns the forward pass itself, for generation
// (model.Session).
func (m *Model) Forward() *model.Model { return m.m }
