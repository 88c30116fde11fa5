package merge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/internal/editdist"
	"github.com/gomerge/gomerge/merge/arch"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// PlanOptions control planning.
type PlanOptions struct {
	// Dir is the directory relative model paths resolve against; "" is the
	// current directory, as in mergekit.
	Dir string
	// AllowCrimes permits inputs of different architectures (mergekit's
	// --allow-crimes); the first model's tensor catalogue is used.
	AllowCrimes bool
	// Hub resolves references that are not local directories as Hugging
	// Face repositories, downloading into its cache; nil means local
	// directories only.
	Hub *hub.Client
	// HeadersOnly plans hub models from their config and safetensors
	// headers, read with range requests, without downloading weights
	// (gomerge plan). Such a plan cannot be executed.
	HeadersOnly bool
	// Virtual maps model paths (as the config names them, resolved
	// against Dir) to plans whose output stands in for a model directory
	// that was never written: multi-stage merges stream such
	// intermediates into the stage that reads them.
	Virtual map[string]*Plan
	// VirtualOptions are the options the virtual plans' tensors are
	// merged with (their seed).
	VirtualOptions *Options
	// AllowDegenerate plans tensors whose parameters make the output NaN
	// or infinite (see ErrDegenerate) with a warning instead of failing,
	// as mergekit does.
	AllowDegenerate bool
}

// Plan is a validated merge: every output tensor with its inputs, shapes,
// dtypes and parameters, decided from configs and safetensors headers
// before any weight is read.
type Plan struct {
	Config *Config
	Method *Method
	Arch   *arch.Arch
	// Models are the referenced models in config order.
	Models []*SourceModel
	// Donor is the model whose config.json and tokenizer the output takes:
	// base_model, else the first model of the config.
	Donor *SourceModel
	// Tasks are the output tensors in output order.
	Tasks []*Task
	// OutConfig is the output config.json.
	OutConfig map[string]any
	// Warnings are things the user should know; the merge goes on.
	Warnings []string

	// tokenizer is the built output vocabulary, nil in legacy mode.
	tokenizer *builtTokenizer
}

// Task is one output tensor.
type Task struct {
	Name  string
	Shape []int64
	// Work is the dtype the arithmetic is rounded to; Out the stored dtype.
	Work, Out tensor.DType
	IsEmbed   bool
	Inputs    []TaskInput
	// Base is the index of the base model in Inputs, or -1.
	Base   int
	Global map[string]float64
}

// TaskInput is one model's tensor feeding a task.
type TaskInput struct {
	Model *SourceModel
	// Tensor is the stored tensor, or for a tensor assembled from Parts a
	// description of the whole (its Name is the wanted name).
	Tensor safetensors.TensorInfo
	// Parts, when set, are stored tensors whose bytes, concatenated in
	// order, make up Tensor (per-expert weights of an older checkpoint that
	// the architecture stores fused).
	Parts  []safetensors.TensorInfo
	DType  tensor.DType
	Params map[string]float64

	// read, when set, produces the input's bytes instead of the model's
	// file (embeddings re-ordered to a built vocabulary).
	read func(off int64, dst []byte) error
}

// readRange reads len(dst) bytes of the input starting off bytes into it,
// across parts when it has them.
func (in TaskInput) readRange(off int64, dst []byte) error {
	if in.read != nil {
		return in.read(off, dst)
	}
	if len(in.Parts) == 0 {
		return in.Model.Tensors.ReadTensorRange(in.Tensor.Name, off, dst)
	}
	for _, p := range in.Parts {
		if len(dst) == 0 {
			return nil
		}
		if off >= p.Size {
			off -= p.Size
			continue
		}
		n := min(int64(len(dst)), p.Size-off)
		if err := in.Model.Tensors.ReadTensorRange(p.Name, off, dst[:n]); err != nil {
			return err
		}
		dst, off = dst[n:], 0
	}
	if len(dst) > 0 {
		return fmt.Errorf("model %s: %s: read past the end of its parts", in.Model.Ref.String(), in.Tensor.Name)
	}
	return nil
}

// NumElements is the element count of the output tensor.
func (t *Task) NumElements() int64 { return numElements(t.Shape) }

// Bytes is the stored size of the output tensor.
func (t *Task) Bytes() int64 { return t.NumElements() * int64(t.Out.Size()) }

func numElements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// planSlice is an output slice after normalisation of models: and slices:.
type planSlice struct {
	def     *OutputSlice
	params  Params
	base    *ModelRef
	sources []planSource
	pos     Pos
}

type planSource struct {
	model  *SourceModel
	start  int
	end    int
	params Params
	pos    Pos
}

type planner struct {
	cfg    *Config
	opt    PlanOptions
	res    resolver
	method *Method
	plan   *Plan
	byKey  map[string]*SourceModel
	slices []*planSlice
	work   tensor.DType
	out    tensor.DType

	// degenerate is the first degenerate tensor AllowDegenerate let
	// through, and degenerateCount how many there were.
	degenerate      string
	degenerateCount int
	// lacking counts the optional weights each model lacks.
	lacking      map[*SourceModel]*lackingCount
	lackingOrder []*SourceModel
	// densityWarned marks the models already warned about a density
	// above 1.
	densityWarned map[*SourceModel]bool
}

func (p *planner) errorf(pos Pos, format string, args ...any) error {
	return &ConfigError{File: p.cfg.File, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *planner) warnf(format string, args ...any) {
	p.plan.Warnings = append(p.plan.Warnings, fmt.Sprintf(format, args...))
}

// NewPlan validates cfg against the models' config.json files and
// safetensors headers and plans every output tensor. It reads no weights.
// Configuration mistakes come back as *ConfigError naming the YAML line.
func NewPlan(cfg *Config, opt PlanOptions) (*Plan, error) {
	return NewPlanContext(context.Background(), cfg, opt)
}

// NewPlanContext is NewPlan with a context that cancels hub downloads and
// the planning steps.
func NewPlanContext(ctx context.Context, cfg *Config, opt PlanOptions) (*Plan, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	p := &planner{cfg: cfg, opt: opt, res: newResolver(ctx, opt), byKey: map[string]*SourceModel{},
		plan: &Plan{Config: cfg, Warnings: slices.Clone(cfg.Warnings)}}
	steps := []func() error{p.lookupMethod, p.parseDTypes, p.openModels, p.checkModelConfigs, p.chooseArch,
		p.buildSlices, p.buildTokenizer, p.checkParams, p.planTensors, p.finishDegenerate, p.finishLacking, p.outputConfig}
	for i, step := range steps {
		err := ctx.Err()
		if err == nil {
			err = step()
		}
		// steps[3:7] are checkModelConfigs .. buildTokenizer: they run
		// after openModels (which joins the typos itself) and before
		// checkParams.
		if err != nil && i >= 3 && i < 7 && ctx.Err() == nil {
			// The parameter names need only the method, the tokenizer
			// source only the hub: report their problems with the one
			// that stopped the plan, not on the next run.
			errs := []error{err}
			if i < 6 { // buildTokenizer has not run
				errs = append(errs, p.checkTokenizerSource())
			}
			err = p.withTypos(errs)
		}
		if err != nil {
			p.plan.Close()
			return nil, err
		}
	}
	return p.plan, nil
}

// Close closes the input models' files.
func (pl *Plan) Close() error {
	var first error
	for _, m := range pl.Models {
		if m.Tensors != nil {
			if err := m.Tensors.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

func (p *planner) lookupMethod() error {
	m, ok := LookupMethod(p.cfg.MergeMethod)
	if !ok {
		best, bestD := "", 3
		for _, name := range MethodNames() {
			if d := editdist.Distance(strings.ToLower(p.cfg.MergeMethod), name); d < bestD && 2*d < len(name) {
				best, bestD = name, d
			}
		}
		if best != "" {
			return p.errorf(p.cfg.MergeMethodPos, "unknown merge_method %q; did you mean %q? (known: %s)",
				p.cfg.MergeMethod, best, strings.Join(MethodNames(), ", "))
		}
		return p.errorf(p.cfg.MergeMethodPos, "unknown merge_method %q (known: %s)",
			p.cfg.MergeMethod, strings.Join(MethodNames(), ", "))
	}
	p.method, p.plan.Method = m, m
	if len(p.cfg.Modules) > 0 {
		return p.errorf(p.cfg.Modules[0].Pos, "modules: configs are not supported yet")
	}
	return nil
}

func (p *planner) parseDTypes() error {
	if p.cfg.DType != "" {
		d, err := tensor.ParseTorchDType(p.cfg.DType)
		if err != nil {
			return p.errorf(p.cfg.DTypePos, "dtype: %v", err)
		}
		p.work = d
	}
	if p.cfg.OutDType != "" {
		d, err := tensor.ParseTorchDType(p.cfg.OutDType)
		if err != nil {
			return p.errorf(p.cfg.OutDTypePos, "out_dtype: %v", err)
		}
		p.out = d
	}
	return nil
}

// refs returns every referenced model in config order, the base last when
// it is not listed.
func (p *planner) refs() []ModelRef {
	var out []ModelRef
	seen := map[string]bool{}
	add := func(r ModelRef) {
		if !seen[r.Key()] {
			seen[r.Key()] = true
			out = append(out, r)
		}
	}
	for _, m := range p.cfg.Models {
		add(m.Model)
	}
	for _, s := range p.cfg.Slices {
		for _, src := range s.Sources {
			add(src.Model)
		}
		if s.BaseModel != nil {
			add(*s.BaseModel)
		}
	}
	if p.cfg.BaseModel != nil {
		add(*p.cfg.BaseModel)
	}
	return out
}

// openModels opens every model, and when some cannot be opened returns
// all of their errors (each a *ConfigError wrapping a *ModelError)
// together with those of the parameter names, the other checks that need
// no model.
func (p *planner) openModels() error {
	var errs []error
	for _, ref := range p.refs() {
		if err := p.res.ctx.Err(); err != nil {
			return err
		}
		m, err := p.res.openModel(ref)
		if err != nil {
			errs = append(errs, &ConfigError{File: p.cfg.File, Pos: ref.Pos, Msg: err.Error(), Err: err})
			continue
		}
		p.byKey[ref.Key()] = m
		p.plan.Models = append(p.plan.Models, m)
		if s, ok := m.Tensors.(interface{ Skipped() []string }); ok && len(s.Skipped()) > 0 {
			p.warnf("model %s: skipped state dict entries that are not tensors: %s", ref.String(), cfgList(s.Skipped(), 8))
		}
	}
	if len(errs) > 0 {
		return p.withTypos(errs)
	}
	if p.cfg.BaseModel != nil {
		p.plan.Donor = p.byKey[p.cfg.BaseModel.Key()]
	} else {
		p.plan.Donor = p.plan.Models[0]
	}
	return nil
}

func (p *planner) chooseArch() error {
	if !p.opt.AllowCrimes {
		// Compare what the configs declare before any architecture is
		// inferred: inference would give every model the same one.
		first := p.plan.Models[0]
		for _, m := range p.plan.Models[1:] {
			if first.Arch != nil && m.Arch != nil {
				continue // the tables decide, below
			}
			fa, ft := declaredArch(first.Config)
			ma, mt := declaredArch(m.Config)
			if fa != ma || ft != "" && mt != "" && ft != mt {
				return p.errorf(m.Ref.Pos, "model %s is %s (%s) but %s is %s (%s): mixing architectures needs --allow-crimes",
					m.Ref.String(), declaredString(ma, mt), m.configPath(), first.Ref.String(), declaredString(fa, ft), first.configPath())
			}
		}
	}
	for _, m := range p.plan.Models {
		if m.Arch == nil {
			p.warnf("no architecture table for %s: inferring one from the tensor names", m.Ref.String())
			if err := inferArch(p.plan.Models); err != nil {
				return p.errorf(m.Ref.Pos, "model %s: %v", m.Ref.String(), err)
			}
			break
		}
	}
	first := p.plan.Models[0]
	for _, m := range p.plan.Models[1:] {
		if m.Arch != first.Arch && !p.opt.AllowCrimes {
			return p.errorf(m.Ref.Pos, "model %s is %s but %s is %s: mixing architectures needs --allow-crimes",
				m.Ref.String(), m.Arch.Architectures[0], first.Ref.String(), first.Arch.Architectures[0])
		}
	}
	p.plan.Arch = first.Arch
	return nil
}

// declaredArch is a config.json's architectures[0] and model_type.
func declaredArch(cfg map[string]any) (architecture, modelType string) {
	if list, _ := cfg["architectures"].([]any); len(list) > 0 {
		architecture, _ = list[0].(string)
	}
	modelType, _ = cfg["model_type"].(string)
	return architecture, modelType
}

func declaredString(architecture, modelType string) string {
	if modelType == "" {
		return architecture
	}
	return architecture + ", model_type " + modelType
}

// cfgList joins the first n names, noting how many more there are.
func cfgList(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}

func (p *planner) model(r ModelRef) *SourceModel { return p.byKey[r.Key()] }

func (p *planner) buildSlices() error {
	var errs []error
	if len(p.cfg.Models) > 0 {
		s := &planSlice{params: Params{}, base: p.cfg.BaseModel}
		for _, im := range p.cfg.Models {
			m := p.model(im.Model)
			s.sources = append(s.sources, planSource{model: m, end: m.Layers, params: im.Parameters, pos: im.Pos})
		}
		if b := p.cfg.BaseModel; b != nil && !slices.ContainsFunc(p.cfg.Models, func(im InputModel) bool { return im.Model.Equal(*b) }) {
			m := p.model(*b)
			s.sources = append(s.sources, planSource{model: m, end: m.Layers, pos: b.Pos})
		}
		p.slices = []*planSlice{s}
	} else {
		for i := range p.cfg.Slices {
			def := &p.cfg.Slices[i]
			s := &planSlice{def: def, params: def.Parameters, base: p.cfg.BaseModel, pos: def.Pos}
			if def.BaseModel != nil {
				s.base = def.BaseModel
			}
			for _, src := range def.Sources {
				m := p.model(src.Model)
				ps := planSource{model: m, end: m.Layers, params: src.Parameters, pos: src.Pos}
				if src.LayerRange != nil {
					ps.start, ps.end = src.LayerRange[0], src.LayerRange[1]
					if ps.end > m.Layers {
						errs = append(errs, p.errorf(src.Pos, "layer_range [%d, %d] of %s goes beyond its %d layers",
							ps.start, ps.end, m.Ref.String(), m.Layers))
					}
				}
				s.sources = append(s.sources, ps)
			}
			p.slices = append(p.slices, s)
		}
	}
	// Every slice is checked, so that one run lists every bad range.
	for _, s := range p.slices {
		n := s.sources[0].end - s.sources[0].start
		for _, src := range s.sources[1:] {
			if src.end-src.start != n {
				errs = append(errs, p.errorf(src.pos, "all inputs to a slice must contain the same number of layers: %s has %d, %s has %d",
					s.sources[0].model.Ref.String(), n, src.model.Ref.String(), src.end-src.start))
			}
		}
	}
	return errors.Join(errs...)
}

// withTypos joins errs with the parameter-name typos (checkParams), one
// error per problem sorted by YAML line, so that a plan stopped by a
// missing model or a bad layer range still reports every typo.
func (p *planner) withTypos(errs []error) error {
	var flat []error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			flat = append(flat, j.Unwrap()...)
		} else {
			flat = append(flat, err)
		}
	}
	if typos, ok := p.checkParams().(interface{ Unwrap() []error }); ok {
		for _, t := range typos.Unwrap() {
			if !slices.ContainsFunc(flat, func(e error) bool { return e.Error() == t.Error() }) {
				flat = append(flat, t)
			}
		}
	}
	slices.SortStableFunc(flat, func(a, b error) int {
		var ca, cb *ConfigError
		if !errors.As(a, &ca) || !errors.As(b, &cb) {
			return 0
		}
		return cmp.Or(cmp.Compare(ca.Pos.Line, cb.Pos.Line), cmp.Compare(ca.Pos.Column, cb.Pos.Column))
	})
	return errors.Join(flat...)
}

// unionHint suggests a tokenizer merge when vocabulary rows of an
// embedding are cut off.
func unionHint(task *Task) string {
	if !task.IsEmbed {
		return ""
	}
	return ": the tokens past the cut lose their rows; tokenizer_source: union keeps every model's tokens"
}

// checkParams warns about parameters the method does not use, fails on
// names that are a typo of one of the method's parameters (densty for
// density: mergekit would ignore it and merge with the default), and on
// required parameters that are set nowhere. Every typo is reported at once.
func (p *planner) checkParams() error {
	var typos []error
	check := func(ps Params, perModel bool) {
		for _, name := range ps.Names() {
			s, _ := ps.Get(name)
			_, global, ok := p.method.param(name)
			switch {
			case !ok:
				if near := p.method.nearParam(name); near != "" && !anyMethodHasParam(name) {
					typos = append(typos, p.errorf(s.Pos, "parameter %q is not a parameter of %s; did you mean %q?", name, p.method.Name, near))
					continue
				}
				p.warnf("%s: parameter %q is not used by %s; ignored", p.posString(s.Pos), name, p.method.Name)
			case global && perModel:
				p.warnf("%s: %q is a global parameter of %s; a per-model value is ignored", p.posString(s.Pos), name, p.method.Name)
			}
		}
	}
	check(p.cfg.Parameters, false)
	for _, m := range p.cfg.Models {
		check(m.Parameters, true)
	}
	for _, s := range p.cfg.Slices {
		check(s.Parameters, false)
		for _, src := range s.Sources {
			check(src.Parameters, true)
		}
	}
	return errors.Join(typos...)
}

// nearParam is the method's parameter closest to name within two edits,
// "" if none.
func (m *Method) nearParam(name string) string {
	best, bestD := "", 3
	for _, ps := range [][]Param{m.Global, m.PerModel} {
		for _, prm := range ps {
			if d := editdist.Distance(strings.ToLower(name), prm.Name); d < bestD && d < len(prm.Name) {
				best, bestD = prm.Name, d
			}
		}
	}
	return best
}

// anyMethodHasParam reports whether some registered method takes name.
func anyMethodHasParam(name string) bool {
	for _, m := range methods {
		if _, _, ok := m.param(name); ok {
			return true
		}
	}
	return false
}

func (p *planner) posString(pos Pos) string {
	return strings.TrimSuffix((&ConfigError{File: p.cfg.File, Pos: pos}).Error(), ": ")
}

// evalFirst returns the first level that has a value for name.
func evalFirst(levels []Params, name, tensorName string, t float64) (float64, bool) {
	for _, ps := range levels {
		if s, ok := ps.Get(name); ok {
			if v, ok := s.Eval(tensorName, t); ok {
				return v, true
			}
		}
	}
	return 0, false
}

func (p *planner) globals(s *planSlice, outName string, t float64) (map[string]float64, error) {
	g := map[string]float64{}
	for _, prm := range p.method.Global {
		v, ok := evalFirst([]Params{s.params, p.cfg.Parameters}, prm.Name, outName, t)
		if !ok {
			if prm.Required {
				return nil, p.errorf(s.pos, "missing required parameter %q for %s", prm.Name, outName)
			}
			v = prm.Default
		}
		g[prm.Name] = v
	}
	return g, nil
}

func (p *planner) perModel(s *planSlice, src planSource, inName string, t float64, isBase bool) (map[string]float64, error) {
	params := map[string]float64{}
	for _, prm := range p.method.PerModel {
		v, ok := evalFirst([]Params{src.params, s.params, p.cfg.Parameters}, prm.Name, inName, t)
		if !ok {
			if prm.Required && !isBase {
				return nil, p.errorf(src.pos, "missing required parameter %q for %s tensor %s", prm.Name, src.model.Ref.String(), inName)
			}
			v = prm.Default
		}
		if prm.Name == "density" && !isBase {
			if err := p.checkDensity(src, inName, v); err != nil {
				return nil, err
			}
		}
		params[prm.Name] = v
	}
	return params, nil
}

// checkDensity refuses a negative density (mergekit fails on it: a
// negative number of entries to keep, a Bernoulli probability below 0)
// and warns, once per model, about one above 1, which keeps everything as
// 1 does.
func (p *planner) checkDensity(src planSource, inName string, v float64) error {
	switch {
	case v < 0:
		return p.errorf(src.pos, "density %g for %s (tensor %s) is not in [0, 1]: it is the fraction of each task vector kept", v, src.model.Ref.String(), inName)
	case v > 1:
		if p.densityWarned == nil {
			p.densityWarned = map[*SourceModel]bool{}
		}
		if !p.densityWarned[src.model] {
			p.densityWarned[src.model] = true
			p.warnf("%s: density %g for %s (tensor %s) is above 1; it keeps every entry, as 1 does", p.posString(src.pos), v, src.model.Ref.String(), inName)
		}
	}
	return nil
}

func (p *planner) planTensors() error {
	a := p.plan.Arch
	first, last := p.slices[0], p.slices[len(p.slices)-1]
	for _, w := range a.Pre {
		if err := p.planWeight(w, first, first.sources, nil, 0); err != nil {
			return err
		}
	}
	out := 0
	for _, s := range p.slices {
		n := s.sources[0].end - s.sources[0].start
		for j := 0; j < n; j++ {
			t := 1.0
			if n > 1 {
				t = float64(j) / float64(n-1)
			}
			for _, w := range a.Layer {
				idx := make([]int, len(s.sources))
				for k, src := range s.sources {
					idx[k] = src.start + j
				}
				if err := p.planWeight(w.Render(out), s, s.sources, func(k int) arch.Weight { return w.Render(idx[k]) }, t); err != nil {
					return err
				}
			}
			out++
		}
	}
	post := last.sources
	if len(post) > len(first.sources) {
		post = post[:len(first.sources)]
	}
	for _, w := range a.Post {
		if err := p.planWeight(w, last, post, nil, 0); err != nil {
			return err
		}
	}
	return nil
}

// planWeight plans one output weight. inWeight gives source k's weight
// (nil: the same as the output weight).
func (p *planner) planWeight(w arch.Weight, s *planSlice, sources []planSource, inWeight func(int) arch.Weight, t float64) error {
	task := &Task{Name: w.Name, IsEmbed: w.IsEmbed, Base: -1}
	var err error
	if task.Global, err = p.globals(s, w.Name, t); err != nil {
		return err
	}
	seen := map[string]bool{}
	origin := map[*SourceModel]paramOrigin{}
	var standIn, lacking []planSource // inputs read from tied names; inputs without the weight
	anyDirect := false
	for k, src := range sources {
		key := src.model.Ref.Key()
		if seen[key] {
			continue
		}
		seen[key] = true
		iw := w
		if inWeight != nil {
			iw = inWeight(k)
		}
		info, direct, found := findTensor(src.model, iw)
		var parts []safetensors.TensorInfo
		if !found {
			info, parts, err = findPieces(src.model, iw)
			if err != nil {
				return p.errorf(src.pos, "%v", err)
			}
			found, direct = parts != nil, parts != nil
		}
		anyDirect = anyDirect || direct
		if found && !direct && len(parts) == 0 {
			standIn = append(standIn, src)
		}
		if !found {
			if iw.Optional {
				lacking = append(lacking, src)
				continue
			}
			return p.errorf(src.pos, "tensor %s required but not present in model %s", iw.Name, src.model.Ref.String())
		}
		isBase := s.base != nil && src.model.Ref.Equal(*s.base)
		params, err := p.perModel(s, src, iw.Name, t, isBase)
		if err != nil {
			return err
		}
		dt, err := tensor.ParseDType(string(info.DType))
		if err != nil {
			return fmt.Errorf("model %s: tensor %s: %w", src.model.Ref.String(), info.Name, err)
		}
		if isBase {
			task.Base = len(task.Inputs)
		}
		origin[src.model] = paramOrigin{src: src, name: iw.Name}
		task.Inputs = append(task.Inputs, TaskInput{Model: src.model, Tensor: info, Parts: parts, DType: dt, Params: params})
	}
	if w.Optional && !anyDirect {
		return nil
	}
	if len(w.TiedNames) > 0 && p.outputTied() {
		// The output config ties lm_head to the embeddings; a separate
		// lm_head would be ignored or contradict it (mergekit #385, #632).
		if anyDirect {
			p.warnf("%s: left out because the output config sets tie_word_embeddings; inputs that store it separately lose it", w.Name)
		}
		return nil
	}
	if err := p.checkLacking(w, standIn, lacking); err != nil {
		return err
	}
	if len(task.Inputs) == 0 {
		return nil
	}
	if task.IsEmbed && p.plan.tokenizer != nil {
		if err := p.permuteEmbedding(task); err != nil {
			return p.errorf(s.pos, "%v", err)
		}
	}
	if err := p.checkTask(task, s); err != nil {
		return err
	}
	// Before the method's own checks, which may trip over a NaN.
	if err := p.checkDegenerate(task, s, origin, t); err != nil {
		return err
	}
	if hook := p.method.PlanTask; hook != nil {
		skip, err := hook(&TaskContext{Task: task, Optional: w.Optional, OutDTypeSet: p.out != tensor.Invalid, BaseSet: s.base != nil})
		if err != nil {
			return p.errorf(p.cfg.MergeMethodPos, "%v", err)
		}
		if skip {
			p.warnf("%s: left out: %s cannot merge it from %d input(s)", task.Name, p.method.Name, len(task.Inputs))
			return nil
		}
	}
	p.plan.Tasks = append(p.plan.Tasks, task)
	return nil
}

// checkLacking deals with inputs that do not store a weight other inputs
// store. An output embedding may be missing from a model that ties it to
// its input embedding; then that model's tied tensor stands in, as in
// mergekit (and the plan says so). A model whose config.json says
// tie_word_embeddings: false has no such excuse: it is an error, as
// nothing of its own can stand in. Other optional weights are merged from
// the models that have them, as in mergekit; the plan counts them and
// warns once per model.
func (p *planner) checkLacking(w arch.Weight, standIn, lacking []planSource) error {
	for _, src := range append(standIn, lacking...) {
		if w.IsEmbed && untied(src.model) {
			return p.errorf(src.pos, "model %s stores no %s, which other models store, and %s sets tie_word_embeddings: false, so its input embeddings cannot stand in",
				src.model.Ref.String(), w.Name, src.model.configPath())
		}
	}
	for _, src := range standIn {
		p.warnf("%s: model %s stores none; its tied %s stands in for it", w.Name, src.model.Ref.String(), w.TiedNames[0])
	}
	for _, src := range lacking {
		if p.lacking == nil {
			p.lacking = map[*SourceModel]*lackingCount{}
		}
		c := p.lacking[src.model]
		if c == nil {
			c = &lackingCount{first: w.Name}
			p.lacking[src.model] = c
			p.lackingOrder = append(p.lackingOrder, src.model)
		}
		c.n++
	}
	return nil
}

// lackingCount counts the optional weights a model lacks.
type lackingCount struct {
	first string
	n     int
}

// finishLacking warns about the optional weights each model lacks.
func (p *planner) finishLacking() error {
	for _, m := range p.lackingOrder {
		c := p.lacking[m]
		more := ""
		if c.n > 1 {
			more = fmt.Sprintf(" and %d more", c.n-1)
		}
		p.warnf("model %s lacks %s%s that other models have; they are merged from those models only", m.Ref.String(), c.first, more)
	}
	return nil
}

// untied reports whether a model's config.json says tie_word_embeddings:
// false (absent means the model class's default, which varies).
func untied(m *SourceModel) bool {
	v, ok := m.Config["tie_word_embeddings"].(bool)
	return ok && !v
}

// configPath is the model's config.json, for messages.
func (m *SourceModel) configPath() string {
	if m.Dir == "" {
		return "config.json"
	}
	return filepath.Join(m.Dir, "config.json")
}

// permuteEmbedding points every input of an embedding task at its rows
// re-ordered to the built vocabulary.
func (p *planner) permuteEmbedding(task *Task) error {
	var base *SourceModel
	if p.cfg.BaseModel != nil {
		base = p.byKey[p.cfg.BaseModel.Key()]
	}
	pe, err := newPermutedEmbed(p.plan.tokenizer, task, base)
	if err != nil {
		return err
	}
	for _, w := range pe.zeroRows() {
		p.warnf("%s", w)
	}
	for i := range task.Inputs {
		in := &task.Inputs[i]
		in.read = pe.reader(in.Model)
		in.Tensor = pe.info(in.Model)
	}
	return nil
}

// outputTied reports whether the output config ties the output embedding
// to the input embedding.
func (p *planner) outputTied() bool {
	v, ok := p.plan.Donor.Config["tie_word_embeddings"].(bool)
	return ok && v
}

// findTensor looks a weight up under its name, its aliases and then its
// tied names. direct reports a hit on the name or an alias.
func findTensor(m *SourceModel, w arch.Weight) (info safetensors.TensorInfo, direct, found bool) {
	for _, n := range append([]string{w.Name}, w.Aliases...) {
		if info, ok := m.Tensors.Tensor(n); ok {
			return info, true, true
		}
	}
	for _, n := range w.TiedNames {
		if info, ok := m.Tensors.Tensor(n); ok {
			return info, false, true
		}
	}
	return safetensors.TensorInfo{}, false, false
}

// findPieces assembles a fused weight from a checkpoint that stores it per
// expert (transformers v4 Mixtral and Qwen3-MoE): the first alternative of
// w.Pieces whose expert 0 is present, with experts counted up from 0 while
// every piece is present. The pieces must be 2-D with one dtype, and all
// experts alike; the fused shape is [experts, Σ piece rows, columns].
func findPieces(m *SourceModel, w arch.Weight) (safetensors.TensorInfo, []safetensors.TensorInfo, error) {
	for _, alt := range w.Pieces {
		var parts []safetensors.TensorInfo
		experts := 0
	expert:
		for ; ; experts++ {
			var these []safetensors.TensorInfo
			for _, name := range arch.ExpertNames(alt, experts) {
				info, ok := m.Tensors.Tensor(name)
				if !ok {
					break expert
				}
				these = append(these, info)
			}
			parts = append(parts, these...)
		}
		if experts == 0 {
			continue
		}
		first := parts[0]
		rows := int64(0)
		for i, p := range parts {
			if len(p.Shape) != 2 || p.DType != first.DType || p.Shape[1] != first.Shape[1] ||
				!slices.Equal(p.Shape, parts[i%len(alt)].Shape) {
				return safetensors.TensorInfo{}, nil, fmt.Errorf("model %s: %s cannot be assembled from %s: pieces differ in shape or dtype",
					m.Ref.String(), w.Name, p.Name)
			}
			if i < len(alt) {
				rows += p.Shape[0]
			}
		}
		info := safetensors.TensorInfo{Name: w.Name, DType: first.DType, Shape: []int64{int64(experts), rows, first.Shape[1]}}
		for _, p := range parts {
			info.Size += p.Size
		}
		return info, parts, nil
	}
	return safetensors.TensorInfo{}, nil, nil
}

// checkTask fixes the task's shape and dtypes and checks the method's
// input rules.
func (p *planner) checkTask(task *Task, s *planSlice) error {
	m := p.method
	if m.Base == BaseRequired && task.Base < 0 && len(task.Inputs) > 1 || m.Base == BaseRequired && s.base == nil {
		return p.errorf(s.pos, "%s needs base_model among the inputs of %s", m.Name, task.Name)
	}
	if err := p.reconcileShapes(task); err != nil {
		return err
	}
	if err := m.checkInputs(len(task.Inputs)); err != nil {
		names := make([]string, len(task.Inputs))
		for i, in := range task.Inputs {
			names[i] = in.Model.Ref.String()
		}
		hint := ""
		if m.Name == "passthrough" && p.cfg.BaseModel != nil && len(p.cfg.Models) > 0 {
			hint = " (with models: syntax base_model is added as an input)"
		}
		return p.errorf(s.pos, "%v for %s (models %s)%s", err, task.Name, strings.Join(names, ", "), hint)
	}
	ref := task.Inputs[0]
	if task.Base >= 0 {
		ref = task.Inputs[task.Base]
	}
	task.Work = p.work
	if task.Work == tensor.Invalid {
		task.Work = ref.DType
	}
	task.Out = p.out
	if task.Out == tensor.Invalid {
		task.Out = task.Work
	}
	for _, in := range task.Inputs {
		if !in.DType.Arithmetic() && !(m == Passthrough && in.DType == task.Out) {
			return fmt.Errorf("model %s: tensor %s has dtype %s, which %s cannot compute with",
				in.Model.Ref.String(), in.Tensor.Name, in.DType, m.Name)
		}
	}
	return nil
}

func (p *planner) reconcileShapes(task *Task) error {
	shape := task.Inputs[0].Tensor.Shape
	same := true
	for _, in := range task.Inputs[1:] {
		same = same && slices.Equal(in.Tensor.Shape, shape)
	}
	if same {
		task.Shape = slices.Clone(shape)
		return nil
	}
	desc := func() string {
		parts := make([]string, len(task.Inputs))
		for i, in := range task.Inputs {
			parts[i] = fmt.Sprintf("%s %v", in.Model.Ref.String(), in.Tensor.Shape)
		}
		return strings.Join(parts, ", ")
	}
	all2D := !slices.ContainsFunc(task.Inputs, func(in TaskInput) bool { return len(in.Tensor.Shape) != 2 })
	switch {
	case p.method.EmbedRule == EmbedCommon && task.IsEmbed && all2D:
		rows, cols := shape[0], shape[1]
		for _, in := range task.Inputs {
			rows, cols = min(rows, in.Tensor.Shape[0]), min(cols, in.Tensor.Shape[1])
		}
		task.Shape = []int64{rows, cols}
		p.warnf("%s: shapes differ (%s); using the common sub-matrix %v%s", task.Name, desc(), task.Shape, unionHint(task))
		return nil
	case p.method.EmbedRule == EmbedTruncateToBase && task.Base >= 0:
		base := task.Inputs[task.Base].Tensor.Shape
		kept := task.Inputs[:0:0]
		for i, in := range task.Inputs {
			switch {
			case slices.Equal(in.Tensor.Shape, base):
			case task.IsEmbed && all2D && in.Tensor.Shape[0] >= base[0] && in.Tensor.Shape[1] >= base[1]:
				p.warnf("%s: %s has shape %v; truncated to the base's %v%s", task.Name, in.Model.Ref.String(), in.Tensor.Shape, base, unionHint(task))
			case task.IsEmbed:
				return fmt.Errorf("%s: %s has shape %v, smaller than the base's %v", task.Name, in.Model.Ref.String(), in.Tensor.Shape, base)
			default:
				p.warnf("%s: %s has shape %v but the base has %v; that model is skipped for this tensor", task.Name, in.Model.Ref.String(), in.Tensor.Shape, base)
				continue
			}
			if i == task.Base {
				task.Base = len(kept)
			}
			kept = append(kept, in)
		}
		task.Inputs = kept
		task.Shape = slices.Clone(base)
		return nil
	}
	return fmt.Errorf("tensor size mismatch for %s: %s", task.Name, desc())
}

// outputConfig builds the output config.json from the donor's (mergekit's
// _model_out_config).
func (p *planner) outputConfig() error {
	cfg := maps.Clone(p.plan.Donor.Config)
	if cfg == nil {
		cfg = map[string]any{}
	}
	dt := p.out
	if dt == tensor.Invalid {
		dt = p.work
	}
	if dt != tensor.Invalid {
		_, hasNew := cfg["dtype"]
		_, hasOld := cfg["torch_dtype"]
		if hasNew {
			cfg["dtype"] = dt.TorchName()
		}
		if hasOld || !hasNew {
			cfg["torch_dtype"] = dt.TorchName()
		}
	}
	if len(p.cfg.Slices) > 0 {
		n := 0
		for _, s := range p.slices {
			n += s.sources[0].end - s.sources[0].start
		}
		_, key, err := p.plan.Arch.NumLayers(cfg)
		switch {
		case err != nil:
			p.warnf("could not set the layer count in the output config: %v", err)
		case key != "" && !configSet(cfg, key, n):
			p.warnf("could not set %s in the output config", key)
		}
	}
	if bt := p.plan.tokenizer; bt != nil {
		key := "vocab_size"
		if p.plan.Arch != nil && p.plan.Arch.VocabSizeKey != "" {
			key = p.plan.Arch.VocabSizeKey
		}
		if !configSet(cfg, key, bt.padded) {
			p.warnf("could not set %s in the output config", key)
		}
	}
	p.plan.OutConfig = cfg
	p.fixOutputVocab()
	return nil
}

// fixOutputVocab makes the output config's vocabulary size the row count
// of the output embeddings when they all have the same, other than the
// donor's: the common sub-matrix of inputs of different vocabularies is
// smaller than a donor with the larger one. mergekit keeps the donor's
// number, and transformers then refuses the model; the donor's tokenizer
// still has the tokens past the rows, which the warning says.
func (p *planner) fixOutputVocab() {
	a := p.plan.Arch
	if a == nil || a.VocabSizeKey == "" {
		return
	}
	vocab, ok := configInt(p.plan.OutConfig, a.VocabSizeKey)
	if !ok {
		return
	}
	rows := int64(-1)
	for _, t := range p.plan.Tasks {
		if !t.IsEmbed || len(t.Shape) != 2 {
			continue
		}
		if rows >= 0 && t.Shape[0] != rows {
			p.warnf("the output embeddings have different row counts (%s has %d); %s stays %d", t.Name, t.Shape[0], a.VocabSizeKey, vocab)
			return
		}
		rows = t.Shape[0]
	}
	if rows < 0 || rows == int64(vocab) {
		return
	}
	if !configSet(p.plan.OutConfig, a.VocabSizeKey, int(rows)) {
		p.warnf("could not set %s in the output config", a.VocabSizeKey)
		return
	}
	p.warnf("the output embeddings have %d rows but %s's config.json says %s %d: the output config says %d; token ids from %d up in the copied tokenizer have no embedding",
		rows, p.plan.Donor.Ref.String(), a.VocabSizeKey, vocab, rows, rows)
}

// OutputBytes is the size of the output tensors.
func (pl *Plan) OutputBytes() int64 {
	var n int64
	for _, t := range pl.Tasks {
		n += t.Bytes()
	}
	return n
}

// Shards is the number of output files for a shard size limit, read as
// Options.ShardSize is (0: DefaultShardSize, negative: one file).
func (pl *Plan) Shards(shardSize int64) int {
	return len(safetensors.PlanShards(pl.specs(), shardLimit(shardSize)))
}

func (pl *Plan) specs() []safetensors.TensorSpec {
	specs := make([]safetensors.TensorSpec, len(pl.Tasks))
	for i, t := range pl.Tasks {
		specs[i] = safetensors.TensorSpec{Name: t.Name, DType: safetensors.DType(t.Out.String()), Shape: t.Shape}
	}
	return specs
}

// PeakMemory estimates the memory a run holds at its peak with the given
// thread count and memory budget (0 = the default, see Options): the buffers of
// the costliest tasks that fit the budget together, plus the program's own
// 32 MiB.
func (pl *Plan) PeakMemory(threads int, budget int64) int64 {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if budget <= 0 {
		budget = pl.defaultBudget(threads)
	}
	costs := make([]int64, len(pl.Tasks))
	for i, t := range pl.Tasks {
		costs[i] = taskCost(pl.Method, t, threads)
	}
	slices.Sort(costs)
	var peak int64
	for i := len(costs) - 1; i >= 0 && len(costs)-i <= threads; i-- {
		if peak > 0 && peak+costs[i] > budget {
			break
		}
		peak += costs[i]
	}
	return peak + 32<<20
}
