package moe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strings"

	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/merge/arch"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// PlanOptions configures NewPlan.
type PlanOptions struct {
	// PlanOptions says where models are found (Dir, Hub, HeadersOnly).
	merge.PlanOptions
	// Layout is the expert layout of Mixtral and Qwen3-MoE outputs.
	Layout Layout
	// AllowAllSame permits every routed expert to be the same model
	// (mergekit's --i-understand-this-is-not-useful-without-training).
	AllowAllSame bool
}

// Plan is a validated MoE build: the output architecture, config.json and
// every output tensor with its sources, decided from configs and
// safetensors headers before any weight is read.
type Plan struct {
	Config *Config
	// Class is the output's architectures entry ("MixtralForCausalLM").
	Class  string
	Layout Layout
	// DType is the output dtype.
	DType tensor.DType
	// Base is the donor of the non-MLP tensors, tokenizer and hidden states.
	Base *merge.SourceModel
	// Layers, Hidden and Intermediate are the base's sizes.
	Layers, Hidden, Intermediate int
	// GateRows is the number of router rows per layer: the routed experts,
	// then the shared experts when they are gated.
	GateRows int
	// Tensors are the output tensors in output order.
	Tensors []Tensor
	// OutConfig is the output config.json.
	OutConfig map[string]any
	// Warnings are non-fatal findings (config, power of two, ...).
	Warnings []string

	arch            *outputArch
	experts, shared []*source
	models          []*merge.SourceModel
}

// source is an expert: its config entry and its opened model.
type source struct {
	Expert
	model *merge.SourceModel
	// what names it in messages ("expert 2 (models/ft2)").
	what string
	// index is its position among the gated rows (routed experts first).
	index int
}

// Tensor is one output tensor: the concatenation of Pieces, zeros (no
// pieces, not Gate), or rows [Rows[0], Rows[1]) of layer Layer's gates.
type Tensor struct {
	Name   string
	Shape  []int64
	Pieces []Piece
	Gate   bool
	Layer  int
	Rows   [2]int
}

// Piece is one input tensor copied into an output tensor, converted to
// the output dtype, scaled (residual_scale) and perturbed (noise_scale).
type Piece struct {
	Model *merge.SourceModel
	Name  string
	Info  safetensors.TensorInfo
	// Scale multiplies the values when non-zero (residual_scale on
	// down_proj).
	Scale float64
	// Noise is the standard deviation of the Gaussian noise added.
	Noise float64
	// Expert is the gated row of the expert the piece comes from, -1 for
	// the base; it keys the noise stream.
	Expert int
}

// NewPlan opens the models a config names, picks the output architecture
// and lists every output tensor, reading headers only. Errors about the
// config or the models' shapes are *merge.ConfigError values naming the
// expert's YAML line. Call Close when done.
func NewPlan(ctx context.Context, cfg *Config, opt PlanOptions) (_ *Plan, err error) {
	pl := &Plan{Config: cfg, Layout: opt.Layout, Warnings: append([]string(nil), cfg.Warnings...)}
	defer func() {
		if err != nil {
			pl.Close()
		}
	}()
	if len(cfg.Experts) == 0 || cfg.ExpertsPerToken < 1 || cfg.ExpertsPerToken > len(cfg.Experts) {
		return nil, cfg.errorAt(merge.Pos{}, "need at least experts_per_token (%d, at least 1) experts, have %d", cfg.ExpertsPerToken, len(cfg.Experts))
	}
	if cfg.GateMode != Random && cfg.AllSameSource() && !opt.AllowAllSame {
		return nil, cfg.errorAt(cfg.Experts[0].Pos, "every expert is %s: the MoE would be no better than the model until it is trained; pass --i-understand-this-is-not-useful-without-training (or --allow-all-same) to build it anyway", cfg.Experts[0].SourceModel.String())
	}
	opened, err := pl.openModels(ctx, opt.PlanOptions)
	if err != nil {
		return nil, err
	}
	pl.Base = opened[cfg.BaseModel.Key()]
	for j, e := range cfg.Experts {
		pl.experts = append(pl.experts, &source{Expert: e, model: opened[e.SourceModel.Key()], index: j, what: fmt.Sprintf("expert %d (%s)", j, e.SourceModel.String())})
	}
	for j, e := range cfg.SharedExperts {
		m, ok := opened[e.SourceModel.Key()]
		if !ok {
			// mergekit opens only the base and the routed experts, and
			// crashes on any other shared expert.
			return nil, cfg.errorAt(e.Pos, "shared expert %s is neither the base model nor a routed expert; mergekit-moe cannot build that either: use one of those models", e.SourceModel.String())
		}
		pl.shared = append(pl.shared, &source{Expert: e, model: m, index: len(cfg.Experts) + j, what: fmt.Sprintf("shared expert %d (%s)", j, e.SourceModel.String())})
	}
	if err := pl.pickArch(); err != nil {
		return nil, err
	}
	if err := pl.sizes(); err != nil {
		return nil, err
	}
	pl.GateRows = len(pl.experts)
	if pl.arch.gatedShared != nil && pl.arch.gatedShared(cfg) {
		pl.GateRows += len(pl.shared)
	}
	if err := pl.listTensors(); err != nil {
		return nil, err
	}
	if pl.arch.powerOfTwo && bits.OnesCount(uint(len(pl.experts))) != 1 {
		pl.Warnings = append(pl.Warnings, fmt.Sprintf("%d experts is not a power of two: llama.cpp cannot use this model", len(pl.experts)))
	}
	pl.OutConfig = pl.outConfig()
	return pl, nil
}

// openModels opens the base and the routed experts, each once, by key;
// when some cannot be opened, the error names every one (each a
// *merge.ConfigError wrapping a *merge.ModelError).
func (pl *Plan) openModels(ctx context.Context, opt merge.PlanOptions) (map[string]*merge.SourceModel, error) {
	var refs []merge.ModelRef
	seen := map[string]bool{}
	for _, ref := range append([]merge.ModelRef{pl.Config.BaseModel}, expertRefs(pl.Config.Experts)...) {
		if !seen[ref.Key()] {
			seen[ref.Key()] = true
			refs = append(refs, ref)
		}
	}
	models, errs := merge.OpenModels(ctx, refs, opt)
	opened := map[string]*merge.SourceModel{}
	var failed []error
	for i, m := range models {
		if m != nil {
			opened[refs[i].Key()] = m
			pl.models = append(pl.models, m)
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		failed = append(failed, &merge.ConfigError{File: pl.Config.File, Pos: refs[i].Pos, Msg: errs[i].Error(), Err: errs[i]})
	}
	return opened, errors.Join(failed...)
}

func expertRefs(experts []Expert) []merge.ModelRef {
	refs := make([]merge.ModelRef, len(experts))
	for i, e := range experts {
		refs[i] = e.SourceModel
	}
	return refs
}

func (c *Config) errorAt(at merge.Pos, format string, args ...any) error {
	return &merge.ConfigError{File: c.File, Pos: at, Msg: fmt.Sprintf(format, args...)}
}

// Close closes the models' files.
func (pl *Plan) Close() error {
	var errs []error
	for _, m := range pl.models {
		if m.Tensors != nil {
			errs = append(errs, m.Tensors.Close())
		}
	}
	pl.models = nil
	return errors.Join(errs...)
}

// ModelDirs returns the directories of the models the plan reads.
func (pl *Plan) ModelDirs() []string {
	out := make([]string, len(pl.models))
	for i, m := range pl.models {
		out[i] = m.Dir
	}
	return out
}

// Architecture returns the output architecture's display name ("Mixtral").
func (pl *Plan) Architecture() string { return pl.arch.name }

func modelType(m *merge.SourceModel) string {
	s, _ := m.Config["model_type"].(string)
	return s
}

func (pl *Plan) pickArch() error {
	bt := modelType(pl.Base)
	for _, s := range append(append([]*source(nil), pl.experts...), pl.shared...) {
		// Every output architecture needs one model_type throughout.
		if t := modelType(s.model); t != bt {
			return pl.Config.errorAt(s.Pos, "%s has model_type %q, the base %q: every model of a MoE must share one model_type (and its shapes)", s.what, t, bt)
		}
	}
	a, warnings, err := pickArch(pl.Config, bt)
	if err != nil {
		var ce *merge.ConfigError
		if errors.As(err, &ce) {
			return err
		}
		at := pl.Config.ArchitecturePos
		if len(pl.Config.SharedExperts) > 0 && at.Line == 0 {
			at = pl.Config.SharedExperts[0].Pos
		}
		return pl.Config.errorAt(at, "%v", err)
	}
	pl.arch, pl.Class = a, a.class
	pl.Warnings = append(pl.Warnings, warnings...)
	return nil
}

// sizes reads the base's sizes and checks every expert's MLP against them.
func (pl *Plan) sizes() error {
	b := pl.Base
	var err error
	cfgInt := func(key string) int {
		v, ok := b.Config[key].(json.Number)
		if !ok {
			if err == nil {
				err = pl.Config.errorAt(pl.Config.BaseModel.Pos, "base model %s: config.json has no integer %s", b.Ref.String(), key)
			}
			return 0
		}
		n, e := v.Int64()
		if e != nil && err == nil {
			err = pl.Config.errorAt(pl.Config.BaseModel.Pos, "base model %s: config.json %s: %v", b.Ref.String(), key, e)
		}
		return int(n)
	}
	pl.Layers, pl.Hidden, pl.Intermediate = cfgInt("num_hidden_layers"), cfgInt("hidden_size"), cfgInt("intermediate_size")
	if err != nil {
		return err
	}
	pl.DType = pl.Config.DType
	if pl.DType == tensor.Invalid {
		for _, key := range []string{"torch_dtype", "dtype"} {
			if s, ok := b.Config[key].(string); ok {
				if dt, e := tensor.ParseTorchDType(s); e == nil && dt.IsFloat() {
					pl.DType = dt
					break
				}
			}
		}
		if pl.DType == tensor.Invalid {
			return pl.Config.errorAt(pl.Config.BaseModel.Pos, "base model %s: config.json has no torch_dtype; set dtype: in the config", b.Ref.String())
		}
	}
	want := map[string][]int64{
		"gate_proj": {int64(pl.Intermediate), int64(pl.Hidden)},
		"up_proj":   {int64(pl.Intermediate), int64(pl.Hidden)},
		"down_proj": {int64(pl.Hidden), int64(pl.Intermediate)},
	}
	for _, s := range append(append([]*source(nil), pl.experts...), pl.shared...) {
		for l := 0; l < pl.Layers; l++ {
			for _, proj := range mlpNames {
				name := mlpName(l, proj)
				info, ok := s.model.Tensors.Tensor(name)
				if !ok {
					return pl.Config.errorAt(s.Pos, "%s has no tensor %s (the base has %d layers)", s.what, name, pl.Layers)
				}
				if !shapeEq(info.Shape, want[proj]) {
					return pl.Config.errorAt(s.Pos, "%s: %s has shape %v, the base's hidden_size %d and intermediate_size %d need %v",
						s.what, name, info.Shape, pl.Hidden, pl.Intermediate, want[proj])
				}
				dt, e := tensor.ParseDType(string(info.DType))
				if e != nil || !dt.Arithmetic() && dt != pl.DType {
					return pl.Config.errorAt(s.Pos, "%s: %s has dtype %s, which cannot be converted to %s", s.what, name, info.DType, pl.DType)
				}
			}
		}
		if s.model.Layers != 0 && s.model.Layers != pl.Layers {
			return pl.Config.errorAt(s.Pos, "%s has %d layers, the base %d", s.what, s.model.Layers, pl.Layers)
		}
	}
	return nil
}

func shapeEq(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// piece is expert s's projection proj of layer l, with its perturbation.
func (pl *Plan) piece(s *source, l int, proj string) Piece {
	name := mlpName(l, proj)
	info, _ := s.model.Tensors.Tensor(name)
	p := Piece{Model: s.model, Name: name, Info: info, Noise: s.NoiseScale, Expert: s.index}
	if proj == "down_proj" && s.ResidualScale != nil {
		p.Scale = *s.ResidualScale
	}
	return p
}

// listTensors lists the output: the base's non-MLP weights in its
// architecture's order with each layer's MoE tensors after its own.
func (pl *Plan) listTensors() error {
	a := pl.Base.Arch
	if a == nil {
		return pl.Config.errorAt(pl.Config.BaseModel.Pos, "base model %s: unknown architecture (no tensor table)", pl.Base.Ref.String())
	}
	add := func(t Tensor) {
		if t.Shape == nil && len(t.Pieces) == 1 {
			t.Shape = t.Pieces[0].Info.Shape
		}
		pl.Tensors = append(pl.Tensors, t)
	}
	copyBase := func(ws []weight) error {
		for _, w := range ws {
			if strings.Contains(w.Name, ".mlp.") {
				continue
			}
			name, info, ok := w.find(pl.Base.Tensors)
			if !ok {
				if w.Optional || len(w.TiedNames) > 0 {
					continue
				}
				return pl.Config.errorAt(pl.Config.BaseModel.Pos, "base model %s has no tensor %s", pl.Base.Ref.String(), w.Name)
			}
			add(Tensor{Name: w.Name, Pieces: []Piece{{Model: pl.Base, Name: name, Info: info, Expert: -1}}})
		}
		return nil
	}
	if err := copyBase(weights(a.Pre)); err != nil {
		return err
	}
	for l := 0; l < pl.Layers; l++ {
		if err := copyBase(weights(a.LayerWeights(l))); err != nil {
			return err
		}
		if pl.arch.zeroQKVBias {
			pl.zeroBiases(l, add)
		}
		pl.arch.layer(pl, l, add)
	}
	return copyBase(weights(a.Post))
}

// zeroBiases adds zero q/k/v biases to layer l when the base has none.
func (pl *Plan) zeroBiases(l int, add func(Tensor)) {
	heads, kvHeads := pl.intOr("num_attention_heads", 0), pl.intOr("num_key_value_heads", 0)
	if kvHeads == 0 {
		kvHeads = heads
	}
	headDim := pl.intOr("head_dim", 0)
	if headDim == 0 && heads > 0 {
		headDim = pl.Hidden / heads
	}
	for _, p := range []struct {
		proj  string
		heads int
	}{{"q_proj", heads}, {"k_proj", kvHeads}, {"v_proj", kvHeads}} {
		name := fmt.Sprintf("model.layers.%d.self_attn.%s.bias", l, p.proj)
		if _, ok := pl.Base.Tensors.Tensor(name); ok {
			continue
		}
		add(Tensor{Name: name, Shape: []int64{int64(p.heads * headDim)}})
	}
}

func (pl *Plan) intOr(key string, def int) int {
	if v, ok := pl.Base.Config[key].(json.Number); ok {
		if n, err := v.Int64(); err == nil {
			return int(n)
		}
	}
	return def
}

// outConfig is the base's config.json with every field kept and the
// architecture's fields set (mergekit loses fields its config classes do
// not model, such as rope_scaling; gomerge keeps them).
func (pl *Plan) outConfig() map[string]any {
	out := make(map[string]any, len(pl.Base.Config)+16)
	for k, v := range pl.Base.Config {
		out[k] = v
	}
	pl.arch.config(pl, out)
	return out
}

// ConfigJSON returns the output config.json.
func (pl *Plan) ConfigJSON() ([]byte, error) {
	b, err := json.MarshalIndent(pl.OutConfig, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Specs returns the output tensors as the safetensors writer takes them.
func (pl *Plan) Specs() []safetensors.TensorSpec {
	dt := safetensors.DType(pl.DType.String())
	out := make([]safetensors.TensorSpec, len(pl.Tensors))
	for i, t := range pl.Tensors {
		out[i] = safetensors.TensorSpec{Name: t.Name, DType: dt, Shape: t.Shape}
	}
	return out
}

// OutputBytes returns the size of the output's tensor data.
func (pl *Plan) OutputBytes() int64 {
	var n int64
	for _, t := range pl.Tensors {
		n += numel(t.Shape) * int64(pl.DType.Size())
	}
	return n
}

// Shards returns the number of files the output is written in with
// shards of at most shardSize bytes.
func (pl *Plan) Shards(shardSize int64) int {
	return len(safetensors.PlanShards(pl.Specs(), shardSize))
}

// PeakMemory estimates the bytes of tensor data held at once by Build with
// the given number of threads: a chunk buffer per thread, the gates, and
// for the hidden modes the base model held for its forward pass (16-bit
// weights stay 16-bit).
func (pl *Plan) PeakMemory(threads int) int64 {
	if threads < 1 {
		threads = 1
	}
	// Each thread holds one chunk of input, its float32 values and its
	// output encoding.
	var piece int64
	for _, t := range pl.Tensors {
		for _, p := range t.Pieces {
			piece = max(piece, p.Info.NumElements())
		}
		if t.Gate || len(t.Pieces) == 0 {
			piece = max(piece, numel(t.Shape))
		}
	}
	piece = min(piece*4, chunkBytes)
	peak := int64(threads) * piece * 3
	peak += int64(pl.Layers*pl.GateRows*pl.Hidden) * 4
	if pl.Config.GateMode == Hidden || pl.Config.GateMode == HiddenAvg {
		var n int64
		for _, name := range pl.Base.Tensors.Names() {
			if info, ok := pl.Base.Tensors.Tensor(name); ok {
				n += info.NumElements() * int64(max(info.DType.Size(), 2))
			}
		}
		peak += n
	}
	return peak
}

// weight is a tensor of the base's architecture table.
type weight struct{ arch.Weight }

func weights(ws []arch.Weight) []weight {
	out := make([]weight, len(ws))
	for i, w := range ws {
		out[i] = weight{w}
	}
	return out
}

// find returns the name the weight is stored under in src: its own or an
// alias. A missing tied head is not looked up under the embeddings: the
// output then ties them too, as the base does.
func (w weight) find(src safetensors.Source) (string, safetensors.TensorInfo, bool) {
	for _, name := range append([]string{w.Name}, w.Aliases...) {
		if info, ok := src.Tensor(name); ok {
			return name, info, true
		}
	}
	return "", safetensors.TensorInfo{}, false
}

func numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}
