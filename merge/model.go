package merge

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/internal/editdist"
	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/lora"
	"github.com/gomerge/gomerge/merge/arch"
	"github.com/gomerge/gomerge/pytorch"
	"github.com/gomerge/gomerge/safetensors"
)

// SourceModel is one input model: its directory, config.json and tensors.
type SourceModel struct {
	Ref ModelRef
	// Dir is the resolved model directory.
	Dir string
	// Config is the parsed config.json (numbers kept as json.Number).
	Config map[string]any
	// Arch is the tensor catalogue used for this model.
	Arch *arch.Arch
	// Layers is the model's decoder layer count.
	Layers int
	// Tensors are the model's weights: its safetensors files, or another
	// Source presenting itself the same way.
	Tensors safetensors.Source
	// Local is true when the reference named a local directory (not a
	// hub repository).
	Local bool
	// AdapterDir is the resolved directory of the LoRA adapter applied
	// to the model, "" if none.
	AdapterDir string
}

// ErrModelNotFound is matched (errors.Is) by the error for a model path
// that is no local directory and that no hub client could look up.
var ErrModelNotFound = errors.New("model not found")

// ModelError is a model of a config that could not be opened. Planning
// opens every model before it gives up, so that one run names each model
// that is missing or broken.
type ModelError struct {
	Ref ModelRef
	// NotFound: the model was not found at all (no such directory, not in
	// the Hugging Face cache and the hub did not answer, refused or has no
	// such repository), as opposed to found and unreadable.
	NotFound bool
	Err      error
}

// Error returns the cause's message, which names the model.
func (e *ModelError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *ModelError) Unwrap() error { return e.Err }

// notFoundError is a model path that names nothing; it matches
// ErrModelNotFound.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string        { return e.msg }
func (e *notFoundError) Is(target error) bool { return target == ErrModelNotFound }

// windowsPath matches paths such as D:/models/x or C:\models\x, common in
// configs copied from model cards.
var windowsPath = regexp.MustCompile(`^[A-Za-z]:[/\\]`)

// notFound reports whether err says a model is missing rather than broken.
func notFound(err error) bool {
	for _, target := range []error{ErrModelNotFound, hub.ErrNotCached, hub.ErrUnreachable, hub.ErrRepoNotFound,
		hub.ErrRevisionNotFound, hub.ErrUnauthorized} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// resolver finds model and adapter directories: local paths first, then
// Hugging Face repositories through the hub client when there is one.
type resolver struct {
	ctx context.Context
	opt PlanOptions
	// down records the first repository the hub did not answer for; the
	// models after it are looked up in the cache alone, so that a config
	// of many hub models fails in one timeout, not one per model.
	down *hubDown
}

type hubDown struct {
	repo string
	err  error
}

func newResolver(ctx context.Context, opt PlanOptions) resolver {
	if ctx == nil {
		ctx = context.Background()
	}
	return resolver{ctx: ctx, opt: opt, down: &hubDown{}}
}

// hub is the client to look repository repo up with: opt.Hub, or once the
// hub has not answered, a copy of it that uses the cache alone.
func (r resolver) hub() *hub.Client {
	if r.down.err == nil {
		return r.opt.Hub
	}
	c := *r.opt.Hub
	c.Offline = true
	return &c
}

// hubError notes a hub that did not answer and explains the errors of
// the lookups that skipped it.
func (r resolver) hubError(repo string, err error) error {
	switch {
	case r.down.err != nil && errors.Is(err, hub.ErrNotCached):
		cache := cmp.Or(r.opt.Hub.CacheDir, hub.DefaultCacheDir())
		return fmt.Errorf("not in the Hugging Face cache %s, and the hub was not asked again after it did not answer for %s: %w",
			cache, r.down.repo, hub.ErrUnreachable)
	case r.down.err == nil && errors.Is(err, hub.ErrUnreachable):
		r.down.repo, r.down.err = repo, err
	}
	return err
}

// resolveModelDir finds the directory of a model reference's model.
func (r resolver) resolveModelDir(ref ModelRef) (string, error) {
	return r.dir(ref, ref.Path, ref.Revision)
}

// dir finds the local directory of path p (a model or an adapter named in
// ref): an existing directory, relative to the planner's Dir when not
// absolute, else a hub repository at revision rev, downloaded into the
// cache.
func (r resolver) dir(ref ModelRef, p, rev string) (string, error) {
	local := r.localPath(p)
	st, err := os.Stat(local)
	switch {
	case err == nil && st.IsDir():
		return local, nil
	case err == nil:
		return "", fmt.Errorf("model %s: %s is not a directory", ref.String(), local)
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("model %s: %w", ref.String(), err)
	}
	hint, isLocal := r.localTypo(p, local)
	if isLocal {
		return "", &notFoundError{fmt.Sprintf("model %s: no such directory %s%s", ref.String(), local, hint)}
	}
	if r.opt.Hub == nil || !hub.IsRepoID(p) {
		why := "and it is not a Hugging Face repository id"
		switch {
		case hub.IsRepoID(p):
			why = "and hub downloads are off"
		case windowsPath.MatchString(p):
			why = "(a Windows path: give where the model is on this machine)"
		}
		return "", &notFoundError{fmt.Sprintf("model %s: no such directory %s %s", ref.String(), local, why)}
	}
	d, err := r.hub().Resolve(r.ctx, p, rev, nil)
	if err != nil {
		return "", fmt.Errorf("model %s: %w%s", ref.String(), r.hubError(p, err), hint)
	}
	return d, nil
}

// localTypo tells a misspelled local path from a hub repository id for a
// path p, resolved to local, that names nothing. p is taken as local when
// a model directory beside where it points has a name within two edits of
// its last element; the hint suggests it, and the lookup fails at once
// instead of waiting on the hub for a repository that was never meant.
// Otherwise, when p is owner/name and owner is a directory here
// (models/mistral-ft with models/ present), p still goes to the hub, and
// the hint, for the hub's error, says the local path does not exist.
func (r resolver) localTypo(p, local string) (hint string, isLocal bool) {
	parent, base := filepath.Split(local)
	if near := nearModelDir(parent, base); near != "" {
		return fmt.Sprintf("; did you mean %s?", filepath.Join(parent, near)), true
	}
	if owner, _, ok := strings.Cut(p, "/"); ok && hub.IsRepoID(p) {
		if st, err := os.Stat(r.localPath(owner)); err == nil && st.IsDir() {
			return fmt.Sprintf(" (%s is a directory here, but there is no %s in it: looked it up as a Hugging Face repository instead)", r.localPath(owner), base), false
		}
	}
	return "", false
}

// nearModelDir is the model directory (one with a config.json) in dir
// whose name is closest to name within two edits and less than half of
// name's length, "" if none.
func nearModelDir(dir, name string) string {
	entries, err := os.ReadDir(dir)
	if err != nil || name == "" {
		return ""
	}
	best, bestD := "", 3
	for _, e := range entries {
		d := editdist.Distance(strings.ToLower(name), strings.ToLower(e.Name()))
		if d >= bestD || 2*d >= len(name) {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "config.json")); err != nil {
			continue
		}
		best, bestD = e.Name(), d
	}
	return best
}

// OpenModel opens one model the way the planner opens its inputs: a local
// directory (relative to opt.Dir) or a hub repository through opt.Hub, with
// its LoRA adapter applied while tensors stream. It reads config.json and
// every tensor header, and no tensor data. The caller closes m.Tensors.
// The error is a *ModelError.
func OpenModel(ctx context.Context, ref ModelRef, opt PlanOptions) (*SourceModel, error) {
	return newResolver(ctx, opt).openModel(ref)
}

// OpenModels opens several models as OpenModel does, trying every one, so
// that one run names each model that is missing; once the hub has not
// answered for one, the rest are looked up in the cache alone. models[i]
// is refs[i] opened, or nil with errs[i] saying why (a *ModelError, or
// ctx's error once it is done).
func OpenModels(ctx context.Context, refs []ModelRef, opt PlanOptions) (models []*SourceModel, errs []error) {
	r := newResolver(ctx, opt)
	models, errs = make([]*SourceModel, len(refs)), make([]error, len(refs))
	for i, ref := range refs {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		models[i], errs[i] = r.openModel(ref)
	}
	return models, errs
}

// openModel is openSourceModel with its error a *ModelError.
func (r resolver) openModel(ref ModelRef) (*SourceModel, error) {
	m, err := r.openSourceModel(ref)
	if err != nil {
		return nil, &ModelError{Ref: ref, NotFound: notFound(err), Err: err}
	}
	return m, nil
}

// openSourceModel reads the config and validates every tensor header of a
// model; it reads no tensor data. With HeadersOnly, a hub model's headers
// are read over the network and its weights are not downloaded.
func (r resolver) openSourceModel(ref ModelRef) (*SourceModel, error) {
	if pl, ok := r.opt.Virtual[r.localPath(ref.Path)]; ok {
		return r.virtualModel(ref, pl)
	}
	m := &SourceModel{Ref: ref}
	var remote *hub.RemoteModel
	var d string
	var err error
	_, statErr := os.Stat(r.localPath(ref.Path))
	m.Local = statErr == nil
	if !m.Local && r.opt.HeadersOnly && r.opt.Hub != nil && hub.IsRepoID(ref.Path) {
		// Config, tokenizer files and shard headers only.
		if remote, err = r.hub().Inspect(r.ctx, ref.Path, ref.Revision); err != nil {
			return nil, fmt.Errorf("model %s: %w", ref.String(), r.hubError(ref.Path, err))
		}
		d = remote.Dir
	} else if d, err = r.resolveModelDir(ref); err != nil {
		return nil, err
	}
	m.Dir = d
	cfgPath := filepath.Join(d, "config.json")
	raw, err := regfile.ReadFile(cfgPath, regfile.ConfigLimit)
	if err != nil {
		if remote != nil {
			remote.Close()
		}
		return nil, fmt.Errorf("model %s: %w", ref.String(), err)
	}
	if err := m.readConfig(raw, cfgPath); err != nil {
		if remote != nil {
			remote.Close()
		}
		return nil, err
	}
	if remote != nil {
		m.Tensors = remote
	} else if m.Tensors, err = openTensors(d); err != nil {
		return nil, fmt.Errorf("model %s: %w", ref.String(), err)
	}
	if ref.LoRA != nil {
		if err := r.applyLoRA(m); err != nil {
			m.Tensors.Close()
			return nil, err
		}
	}
	return m, nil
}

// virtualModel is a model whose tensors a plan merges as they are read.
func (r resolver) virtualModel(ref ModelRef, pl *Plan) (*SourceModel, error) {
	var opt Options
	if r.opt.VirtualOptions != nil {
		opt = *r.opt.VirtualOptions
	}
	cfg, err := pl.ConfigJSON()
	if err != nil {
		return nil, err
	}
	m := &SourceModel{Ref: ref, Dir: pl.Donor.Dir, Local: true, Tensors: pl.Source(opt)}
	if err := m.readConfig(cfg, ref.Path+" (streamed stage)"); err != nil {
		return nil, err
	}
	if ref.LoRA != nil {
		if err := r.applyLoRA(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// localPath is where path p would be on this machine: ~/ expanded,
// relative paths against the planner's Dir.
func (r resolver) localPath(p string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[2:])
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(r.opt.Dir, p)
	}
	return p
}

// openTensors opens a model directory's weights: safetensors files, else
// a PyTorch checkpoint (pytorch_model.bin or its shards), read through a
// restricted unpickler that runs no code from the file — mergekit's
// lookup order.
func openTensors(dir string) (safetensors.Source, error) {
	m, err := safetensors.OpenModel(dir)
	if err == nil {
		return m, nil
	}
	if pytorch.HasCheckpoint(dir) {
		return pytorch.OpenModel(dir)
	}
	return nil, err
}

func (m *SourceModel) readConfig(raw []byte, cfgPath string) error {
	var err error
	if m.Config, err = decodeJSONObject(raw); err != nil {
		return fmt.Errorf("model %s: %s: %w", m.Ref.String(), cfgPath, err)
	}
	if m.Ref.OverrideArchitecture != "" {
		m.Config["architectures"] = []any{m.Ref.OverrideArchitecture}
	}
	if m.Arch, err = lookupArch(m.Config); err != nil {
		return fmt.Errorf("model %s: %s: %w", m.Ref.String(), cfgPath, err)
	}
	if m.Arch != nil {
		if m.Layers, _, err = m.Arch.NumLayers(m.Config); err != nil {
			return fmt.Errorf("model %s: %s: %w", m.Ref.String(), cfgPath, err)
		}
	}
	return nil
}

// applyLoRA puts the model's adapter over its tensors. The adapter is
// applied while tensors stream, so mergekit's --lora-merge-cache is not
// needed (and is ignored).
func (r resolver) applyLoRA(m *SourceModel) error {
	ad, err := r.dir(m.Ref, m.Ref.LoRA.Path, m.Ref.LoRA.Revision)
	if err != nil {
		return err
	}
	m.AdapterDir = ad
	a, err := lora.Open(ad)
	if err != nil {
		return fmt.Errorf("model %s: %w", m.Ref.String(), err)
	}
	lm, err := lora.Apply(m.Tensors, a)
	if err != nil {
		a.Close()
		return fmt.Errorf("model %s: %w", m.Ref.String(), err)
	}
	m.Tensors = lm
	return nil
}

// inferArch gives every model one architecture inferred from the tensor
// names of all of them; it is used when some model's architecture has no
// table (mergekit's architecture/auto.py).
func inferArch(models []*SourceModel) error {
	names := make([][]string, len(models))
	for i, m := range models {
		names[i] = m.Tensors.Names()
	}
	a, err := arch.Infer(names)
	if err != nil {
		return err
	}
	for _, m := range models {
		m.Arch, m.Layers = a, a.FixedLayers
	}
	return nil
}

func lookupArch(cfg map[string]any) (*arch.Arch, error) {
	list, _ := cfg["architectures"].([]any)
	if len(list) != 1 {
		return nil, fmt.Errorf("\"architectures\" must list exactly one architecture, found %d", len(list))
	}
	name, _ := list[0].(string)
	mt, _ := cfg["model_type"].(string)
	a, _ := arch.Lookup(name, mt)
	return a, nil
}

func decodeJSONObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// configSet sets a dotted key path, creating nothing: it reports false when
// a parent object is missing.
func configSet(cfg map[string]any, key string, v any) bool {
	parts := strings.Split(key, ".")
	m := cfg
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return false
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
	return true
}
