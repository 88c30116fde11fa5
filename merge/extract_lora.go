package merge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
	"gonum.org/v1/gonum/mat"

	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/merge/arch"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// ExtractOptions are mergekit-extract-lora's settings.
type ExtractOptions struct {
	// Model is the fine-tuned model and BaseModel the model it was tuned
	// from, as model references (a "+adapter" suffix is allowed).
	Model, BaseModel string
	// MaxRank caps each module's rank (mergekit's default is 128).
	MaxRank int
	// DistributeScale splits the singular values between A and B as √s
	// each (mergekit's default); otherwise A carries them.
	DistributeScale bool
	// EmbedLoRA decomposes the embeddings too instead of saving them at
	// full rank; it is ignored when the vocabulary sizes differ.
	EmbedLoRA bool
	// SaveModules are modules saved at full rank (module names or their
	// last component).
	SaveModules []string
	// Include and Exclude are regular expressions over module names.
	Include, Exclude []string
	// SVEpsilon drops singular values not above it.
	SVEpsilon float64
	// SkipUndecomposable leaves out modules that are not matrices (norms)
	// instead of saving them at full rank.
	SkipUndecomposable bool
	// Dir resolves relative model paths.
	Dir string
	// Hub resolves hub repository ids; nil means local directories only.
	Hub *hub.Client
	// Threads bounds the decompositions running at once; <= 0 means 1.
	Threads int
	// Exact computes every module's full thin SVD. By default a module
	// whose rank is at most 256 and small against its shape is decomposed
	// by a randomized range finder (Halko, Martinsson and Tropp), which is
	// much faster and, in singular values, as good to a fraction of a
	// percent on fine-tune deltas (see randomizedSVD).
	Exact bool
	// Seed seeds the randomized decompositions: each module's sketch is
	// drawn from (Seed, module name), so a seed gives the same bytes
	// whatever Threads is.
	Seed uint64
	// Invocation is the command line, for the adapter's model card.
	Invocation string
	// Overwrite lets the output replace an existing directory that
	// gomerge did not write. Inputs are never replaced.
	Overwrite bool
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger
}

// ExtractResult describes a written adapter.
type ExtractResult struct {
	// Rank is the adapter's r: the largest module rank.
	Rank int
	// Ranks maps each decomposed module to its rank.
	Ranks map[string]int
	// ModulesToSave are the module names saved at full rank.
	ModulesToSave []string
}

// extractModule is one module of the fine-tuned model and what happens to it.
type extractModule struct {
	name      string // module path, without ".weight"
	weight    safetensors.TensorInfo
	bias      *safetensors.TensorInfo
	transpose bool // an input embedding decomposed as lora_embedding_A/B
	full      bool // saved at full rank
	a, b      []float32
	rank      int
}

// ExtractLoRA writes to out a PEFT LoRA adapter that turns the base model
// into (an approximation of) the fine-tuned one, as mergekit-extract-lora
// does: for every matrix Δ = FT − BASE it keeps the top r singular
// triplets of a thin SVD (r = min(MaxRank, rank), fewer where singular
// values are not above SVEpsilon) and writes lora_A = √s·Vᵀ and
// lora_B = U·√s. Embeddings, norms and the modules in SaveModules are
// saved whole (modules_to_save). The output is adapter_model.safetensors,
// adapter_config.json and a README.md card, written atomically.
func ExtractLoRA(ctx context.Context, out string, opt ExtractOptions) (*ExtractResult, error) {
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	if opt.MaxRank <= 0 {
		return nil, fmt.Errorf("extract-lora: max rank must be positive, got %d", opt.MaxRank)
	}
	include, err := compileAll(opt.Include)
	if err != nil {
		return nil, err
	}
	exclude, err := compileAll(opt.Exclude)
	if err != nil {
		return nil, err
	}
	baseRef, err := ParseModelRef(opt.BaseModel)
	if err != nil {
		return nil, err
	}
	ftRef, err := ParseModelRef(opt.Model)
	if err != nil {
		return nil, err
	}
	res := newResolver(ctx, PlanOptions{Dir: opt.Dir, Hub: opt.Hub})
	base, err := res.openSourceModel(baseRef)
	if err != nil {
		return nil, err
	}
	defer base.Tensors.Close()
	ft, err := res.openSourceModel(ftRef)
	if err != nil {
		return nil, err
	}
	defer ft.Tensors.Close()

	// The output is checked (and claimed) before any weight is read.
	dir, err := newOutputDir(out, "gomerge extract-lora", []*SourceModel{base, ft}, nil, opt.Overwrite, log)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			dir.abort()
		}
	}()
	mods, toSave, err := planExtraction(ft, base, opt, include, exclude, log)
	if err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(opt.Threads, 1))
	for _, m := range mods {
		if m.full {
			continue
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			return decompose(gctx, m, base, ft, opt)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	r, err := writeAdapter(dir, mods, toSave, base, ft, opt)
	ok = err == nil
	return r, err
}

func compileAll(res []string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, r := range res {
		re, err := regexp.Compile(r)
		if err != nil {
			return nil, fmt.Errorf("extract-lora: regex %q: %w", r, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func anyMatch(res []*regexp.Regexp, s string) bool {
	return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(s) })
}

// planExtraction lists the fine-tuned model's modules, in architecture
// order then any the architecture does not name, and decides for each
// whether it is decomposed, saved whole or skipped.
func planExtraction(ft, base *SourceModel, opt ExtractOptions, include, exclude []*regexp.Regexp, log *slog.Logger) ([]*extractModule, []string, error) {
	var entries []extractEntry
	seen := map[string]bool{}
	if ft.Arch != nil {
		for _, w := range ft.Arch.Pre {
			entries = append(entries, extractEntry{w: w, embedIn: w.IsEmbed})
		}
		for i := range ft.Layers {
			for _, w := range ft.Arch.LayerWeights(i) {
				entries = append(entries, extractEntry{w: w})
			}
		}
		for _, w := range ft.Arch.Post {
			entries = append(entries, extractEntry{w: w, embedOut: w.IsEmbed})
		}
	}
	var list []extractEntry
	for _, e := range entries {
		info, direct, found := findTensor(ft, e.w)
		if !found && !e.w.Optional && len(e.w.TiedNames) == 0 {
			return nil, nil, fmt.Errorf("extract-lora: model %s has no tensor %s", ft.Ref.String(), e.w.Name)
		}
		if !found || !direct {
			continue // optional, or tied to the input embeddings
		}
		seen[info.Name] = true
		e.w.Name = info.Name
		list = append(list, e)
	}
	for _, n := range ft.Tensors.Names() {
		if !seen[n] && strings.HasSuffix(n, ".weight") {
			log.Warn("tensor present in the model but not in its architecture's catalogue", "model", ft.Ref.String(), "tensor", n)
			seen[n] = true
			list = append(list, extractEntry{w: arch.Weight{Name: n}})
		}
	}

	embedLoRA := opt.EmbedLoRA
	if embedLoRA {
		fv, bv := vocabRows(ft, list), vocabRows(base, list)
		if fv != bv {
			log.Warn("vocabulary sizes differ; embeddings go to modules_to_save", "model", fv, "base", bv)
			embedLoRA = false
		}
	}
	toSave := slices.Clone(opt.SaveModules)
	addSave := func(key string) {
		if !slices.Contains(toSave, key) {
			toSave = append(toSave, key)
		}
	}
	warned := map[string]bool{}
	var mods []*extractModule
	for _, e := range list {
		name := strings.TrimSuffix(e.w.Name, ".weight")
		key := name[strings.LastIndex(name, ".")+1:]
		info, _ := ft.Tensors.Tensor(e.w.Name)
		m := &extractModule{name: name, weight: info}
		if b, ok := ft.Tensors.Tensor(name + ".bias"); ok {
			m.bias = &b
		}
		isEmbed := e.embedIn || e.embedOut || e.w.IsEmbed
		if !embedLoRA && isEmbed && !anyMatch(exclude, name) {
			addSave(key)
		}
		switch {
		case slices.Contains(toSave, name) || slices.Contains(toSave, key):
			m.full = true
		case len(include) > 0 && !anyMatch(include, name), anyMatch(exclude, name):
			continue
		case len(info.Shape) == 2:
			if _, ok := base.Tensors.Tensor(e.w.Name); !ok {
				return nil, nil, fmt.Errorf("extract-lora: base model %s has no tensor %s", base.Ref.String(), e.w.Name)
			}
			m.transpose = e.embedIn
		default:
			if !warned[key] {
				warned[key] = true
				action := "saving at full rank"
				if opt.SkipUndecomposable {
					action = "skipping"
				}
				log.Warn("module is not a matrix: "+action, "module", key, "shape", info.Shape)
			}
			if opt.SkipUndecomposable {
				continue
			}
			addSave(key)
			m.full = true
		}
		mods = append(mods, m)
	}
	return mods, toSave, nil
}

// extractEntry is a weight of the fine-tuned model during planning.
type extractEntry struct {
	w                 arch.Weight
	embedIn, embedOut bool
}

// vocabRows is the row count of the first input embedding in list.
func vocabRows(m *SourceModel, list []extractEntry) int64 {
	for _, e := range list {
		if e.embedIn {
			if info, ok := m.Tensors.Tensor(e.w.Name); ok && len(info.Shape) > 0 {
				return info.Shape[0]
			}
		}
	}
	return -1
}

// decompose computes a module's truncated SVD factors.
func decompose(ctx context.Context, m *extractModule, base, ft *SourceModel, opt ExtractOptions) error {
	bw, err := readFloat64(base, m.weight.Name)
	if err != nil {
		return err
	}
	fw, err := readFloat64(ft, m.weight.Name)
	if err != nil {
		return err
	}
	if len(bw) != len(fw) {
		bi, _ := base.Tensors.Tensor(m.weight.Name)
		return fmt.Errorf("extract-lora: %s: model shape %v, base shape %v", m.weight.Name, m.weight.Shape, bi.Shape)
	}
	rows, cols := int(m.weight.Shape[0]), int(m.weight.Shape[1])
	for i := range fw {
		fw[i] -= bw[i]
	}
	delta := mat.NewDense(rows, cols, fw)
	var d mat.Matrix = delta
	if m.transpose {
		d = delta.T()
	}
	u, v, s, err := truncatedSVD(ctx, d, opt.MaxRank, !opt.Exact, tensorSeed(opt.Seed, m.weight.Name))
	if err != nil {
		return fmt.Errorf("extract-lora: %s: %w", m.weight.Name, err)
	}
	r := min(opt.MaxRank, len(s))
	if opt.SVEpsilon > 0 {
		n := 0
		for _, v := range s {
			if v > opt.SVEpsilon {
				n++
			}
		}
		r = min(r, n)
	}
	ur, _ := u.Dims()
	vr, _ := v.Dims()
	// A = scaleA·Vᵀ[:r] ([r, vr]), B = U[:, :r]·scaleB ([ur, r]).
	m.a = make([]float32, r*vr)
	m.b = make([]float32, ur*r)
	for k := range r {
		sa, sb := s[k], 1.0
		if opt.DistributeScale {
			sa, sb = math.Sqrt(s[k]), math.Sqrt(s[k])
		}
		for j := range vr {
			m.a[k*vr+j] = float32(sa * v.At(j, k))
		}
		for i := range ur {
			m.b[i*r+k] = float32(u.At(i, k) * sb)
		}
	}
	m.rank = r
	return nil
}

// truncatedSVD returns singular values of d in decreasing order, at
// least min(r, rank) of them, with their left (u) and right (v) singular
// vectors as columns: by randomizedSVD when randomized is set and
// useRandomized allows, else the exact thin SVD.
func truncatedSVD(ctx context.Context, d mat.Matrix, r int, randomized bool, seed uint64) (u, v *mat.Dense, s []float64, err error) {
	rows, cols := d.Dims()
	if randomized && useRandomized(rows, cols, r) {
		return randomizedSVD(ctx, d, r, seed)
	}
	var svd mat.SVD
	if !svd.Factorize(d, mat.SVDThin) {
		return nil, nil, nil, fmt.Errorf("SVD did not converge")
	}
	u, v = &mat.Dense{}, &mat.Dense{}
	svd.UTo(u)
	svd.VTo(v)
	return u, v, svd.Values(nil), nil
}

func readFloat64(m *SourceModel, name string) ([]float64, error) {
	info, ok := m.Tensors.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("extract-lora: model %s has no tensor %s", m.Ref.String(), name)
	}
	f, err := readFloat32(m, info)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out, nil
}

func readFloat32(m *SourceModel, info safetensors.TensorInfo) ([]float32, error) {
	dt, err := tensor.ParseDType(string(info.DType))
	if err != nil {
		return nil, err
	}
	raw := make([]byte, info.Size)
	if err := m.Tensors.ReadTensorRange(info.Name, 0, raw); err != nil {
		return nil, fmt.Errorf("extract-lora: model %s: %w", m.Ref.String(), err)
	}
	f := make([]float32, info.NumElements())
	if err := tensor.Decode(f, raw, dt); err != nil {
		return nil, fmt.Errorf("extract-lora: model %s: %s: %w", m.Ref.String(), info.Name, err)
	}
	return f, nil
}

const peftPrefix = "base_model.model."

// writeAdapter writes the adapter files into a hidden directory and moves
// it into place.
func writeAdapter(dir *outputDir, mods []*extractModule, toSave []string, base, ft *SourceModel, opt ExtractOptions) (*ExtractResult, error) {
	res := &ExtractResult{Ranks: map[string]int{}, ModulesToSave: toSave}
	var specs []safetensors.TensorSpec
	for _, m := range mods {
		dt := m.weight.DType
		if m.full {
			specs = append(specs, safetensors.TensorSpec{Name: peftPrefix + m.weight.Name, DType: dt, Shape: m.weight.Shape})
			if m.bias != nil {
				specs = append(specs, safetensors.TensorSpec{Name: peftPrefix + m.bias.Name, DType: m.bias.DType, Shape: m.bias.Shape})
			}
			continue
		}
		kind, suffix := "lora", ".weight"
		if m.transpose {
			kind, suffix = "lora_embedding", ""
		}
		ac := int64(len(m.a) / max(m.rank, 1))
		br := int64(len(m.b) / max(m.rank, 1))
		specs = append(specs,
			safetensors.TensorSpec{Name: peftPrefix + m.name + "." + kind + "_A" + suffix, DType: dt, Shape: []int64{int64(m.rank), ac}},
			safetensors.TensorSpec{Name: peftPrefix + m.name + "." + kind + "_B" + suffix, DType: dt, Shape: []int64{br, int64(m.rank)}})
		if m.bias != nil {
			specs = append(specs, safetensors.TensorSpec{Name: peftPrefix + m.name + ".lora_B.bias", DType: m.bias.DType, Shape: m.bias.Shape})
		}
		res.Ranks[m.name] = m.rank
		res.Rank = max(res.Rank, m.rank)
	}
	if res.Rank == 0 {
		return nil, fmt.Errorf("extract-lora: no module to decompose (every module is saved whole, excluded or skipped)")
	}
	w, err := safetensors.Create(dir.tmp, specs, safetensors.WriterOptions{SingleFile: "adapter_model.safetensors"})
	if err != nil {
		return nil, err
	}
	for _, m := range mods {
		if err := writeModule(w, m, base, ft); err != nil {
			w.Abort()
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	cfg, err := adapterConfig(base, res, mods, toSave)
	if err != nil {
		return nil, err
	}
	if err := dir.writeFile("adapter_config.json", cfg); err != nil {
		return nil, err
	}
	if err := dir.writeFile("README.md", []byte(loraCard(base, ft, opt, configVocabSize(base), configVocabSize(ft)))); err != nil {
		return nil, err
	}
	if err := dir.commit(); err != nil {
		return nil, err
	}
	return res, nil
}

func writeModule(w *safetensors.Writer, m *extractModule, base, ft *SourceModel) error {
	if m.full {
		if err := copyTensor(w, ft, m.weight, peftPrefix+m.weight.Name); err != nil {
			return err
		}
		if m.bias != nil {
			return copyTensor(w, ft, *m.bias, peftPrefix+m.bias.Name)
		}
		return nil
	}
	dt, err := tensor.ParseDType(string(m.weight.DType))
	if err != nil {
		return err
	}
	kind, suffix := "lora", ".weight"
	if m.transpose {
		kind, suffix = "lora_embedding", ""
	}
	for _, part := range []struct {
		name string
		v    []float32
	}{{"_A", m.a}, {"_B", m.b}} {
		buf := make([]byte, len(part.v)*dt.Size())
		if err := tensor.Encode(buf, part.v, dt); err != nil {
			return err
		}
		if err := w.WriteTensor(peftPrefix+m.name+"."+kind+part.name+suffix, buf); err != nil {
			return err
		}
	}
	if m.bias != nil {
		fb, err := readFloat32(ft, *m.bias)
		if err != nil {
			return err
		}
		bb, err := readFloat32(base, *m.bias)
		if err != nil {
			return err
		}
		tensor.Sub(fb, fb, bb)
		bdt, _ := tensor.ParseDType(string(m.bias.DType))
		buf := make([]byte, len(fb)*bdt.Size())
		if err := tensor.Encode(buf, fb, bdt); err != nil {
			return err
		}
		return w.WriteTensor(peftPrefix+m.name+".lora_B.bias", buf)
	}
	return nil
}

func copyTensor(w *safetensors.Writer, m *SourceModel, info safetensors.TensorInfo, name string) error {
	raw := make([]byte, info.Size)
	if err := m.Tensors.ReadTensorRange(info.Name, 0, raw); err != nil {
		return fmt.Errorf("extract-lora: model %s: %w", m.Ref.String(), err)
	}
	return w.WriteTensor(name, raw)
}

// adapterConfig is mergekit's make_config_dict: r = lora_alpha = the
// largest rank, smaller modules in rank_pattern and alpha_pattern (so every
// module's scale is 1).
func adapterConfig(base *SourceModel, res *ExtractResult, mods []*extractModule, toSave []string) ([]byte, error) {
	pattern := map[string]int{}
	var targets []string
	for _, m := range mods {
		if m.full {
			continue
		}
		if r := res.Ranks[m.name]; r != res.Rank {
			pattern[m.name] = r
		}
		key := m.name[strings.LastIndex(m.name, ".")+1:]
		if !slices.Contains(targets, key) {
			targets = append(targets, key)
		}
	}
	slices.Sort(targets)
	if toSave == nil {
		toSave = []string{}
	}
	cfg := map[string]any{
		"base_model_name_or_path": base.Ref.Path,
		"peft_type":               "LORA",
		"use_rslora":              false,
		"target_modules":          targets,
		"modules_to_save":         toSave,
		"task_type":               "CAUSAL_LM",
		"r":                       res.Rank,
		"lora_alpha":              res.Rank,
		"rank_pattern":            pattern,
		"alpha_pattern":           pattern,
		"lora_dropout":            0.0,
		"fan_in_fan_out":          false,
		"inference_mode":          true,
	}
	b, err := json.MarshalIndent(cfg, "", "    ")
	return append(b, '\n'), err
}

// loraCard is the adapter's README, after mergekit's generate_card_lora.
func loraCard(base, ft *SourceModel, opt ExtractOptions, baseVocab, ftVocab int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "---\nbase_model: %s\nlibrary_name: peft\ntags:\n- mergekit\n- gomerge\n- peft\n---\n", base.Ref.Path)
	fmt.Fprintf(&b, "# %s\n\nThis is a LoRA extracted from a language model. It was extracted using gomerge (mergekit-compatible).\n\n", ft.Ref.Path)
	b.WriteString("## LoRA Details\n\n")
	fmt.Fprintf(&b, "This LoRA adapter was extracted from %s and uses %s as a base.\n\n", ft.Ref.String(), base.Ref.String())
	if baseVocab != ftVocab && baseVocab > 0 && ftVocab > 0 {
		fmt.Fprintf(&b, "> [!WARNING]\n> This LoRA adapter has an extended vocabulary. Make sure to call `model.resize_token_embeddings(%d)` before applying the adapter to %s\n\n", ftVocab, base.Ref.String())
	}
	b.WriteString("### Parameters\n\nThe following command was used to extract this LoRA adapter:\n\n```sh\n")
	b.WriteString(opt.Invocation)
	b.WriteString("\n```\n")
	return b.String()
}
