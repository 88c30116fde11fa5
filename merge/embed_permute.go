package merge

import (
	"context"
	"fmt"
	"sync"

	"github.com/gomerge/gomerge/merge/arch"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
	"github.com/gomerge/gomerge/tokensurgeon"
)

// Sources of a token's default embedding row (mergekit's
// PermutedEmbeddings.assign_embedding_sources).
const (
	srcNone    = iota // no default: a model without the token logs an error and gets zeros
	srcRow            // row `row` of model `model`'s original matrix
	srcAverage        // mean of the rows of every considered model that has the token
	srcZero           // zeros
)

type tokenSource struct {
	kind uint8
	// explicit sources come from the tokenizer: block's tokens.
	explicit bool
	force    bool
	model    *SourceModel
	row      int
}

// permutedEmbed presents each model's embedding matrix (input embeddings
// or lm_head) re-ordered to the output vocabulary: [padded, hidden], row i
// being the model's own row for token i, or the token's default row, and
// padding rows the mean of the rows above them.
type permutedEmbed struct {
	bt      *builtTokenizer
	name    string
	models  []*SourceModel // inputs of the tensor and the base model
	infos   map[*SourceModel]safetensors.TensorInfo
	hidden  int64
	sources []tokenSource
	// dtype is the first model's: mergekit builds every default row and
	// average in it.
	dtype tensor.DType
	base  *SourceModel

	mu       sync.Mutex
	defaults map[int][]float32
	pads     map[*SourceModel][]float32
	// surgery holds, per (model, donor) pair, the shared rows OMP and
	// interpolation work from; approxRows the rows made.
	surgery    map[[2]*SourceModel]*tokensurgeon.Approximator
	approxRows map[approxKey][]float32
	means      map[*SourceModel][]float64
}

type approxKey struct {
	m  *SourceModel
	id int
}

// newPermutedEmbed plans the default rows of every output token for one
// embedding tensor.
func newPermutedEmbed(bt *builtTokenizer, task *Task, base *SourceModel) (*permutedEmbed, error) {
	pe := &permutedEmbed{bt: bt, name: task.Name, infos: map[*SourceModel]safetensors.TensorInfo{},
		defaults: map[int][]float32{}, pads: map[*SourceModel][]float32{},
		surgery: map[[2]*SourceModel]*tokensurgeon.Approximator{}, approxRows: map[approxKey][]float32{},
		means: map[*SourceModel][]float64{}}
	pe.base = base
	for _, in := range task.Inputs {
		if len(in.Tensor.Shape) != 2 || len(in.Parts) > 0 {
			return nil, fmt.Errorf("%s: model %s stores it as %v, not a [vocab, hidden] matrix", task.Name, in.Model.Ref.String(), in.Tensor.Shape)
		}
		pe.models = append(pe.models, in.Model)
		pe.infos[in.Model] = in.Tensor
	}
	if base != nil {
		if _, ok := pe.infos[base]; !ok {
			if info, _, found := findTensor(base, weightNamed(task.Name)); found && len(info.Shape) == 2 {
				pe.models = append(pe.models, base)
				pe.infos[base] = info
			}
		}
	}
	pe.hidden = pe.infos[pe.models[0]].Shape[1]
	for _, m := range pe.models {
		if h := pe.infos[m].Shape[1]; h != pe.hidden {
			return nil, fmt.Errorf("%s: embedding sizes differ: %s has %d, %s has %d", task.Name, pe.models[0].Ref.String(), pe.hidden, m.Ref.String(), h)
		}
	}
	pe.dtype, _ = tensor.ParseDType(string(pe.infos[pe.models[0]].DType))
	pe.sources = make([]tokenSource, bt.size)
	for id, tok := range bt.tokens {
		src := &pe.sources[id]
		if cfg, ok := bt.configs[tok]; ok {
			s, err := pe.explicit(cfg)
			if err != nil {
				return nil, err
			}
			s.force, s.explicit = cfg.Force, true
			*src = s
			if s.kind != srcNone {
				continue
			}
		}
		var have []*SourceModel
		for _, m := range pe.models {
			if bt.perm[m][id] >= 0 {
				have = append(have, m)
			}
		}
		switch {
		case len(have) == 1:
			src.kind, src.model, src.row = srcRow, have[0], bt.perm[have[0]][id]
		case len(have) == 0:
			src.kind = srcZero
		case base != nil && bt.perm[base][id] >= 0 && pe.infos[base].Name != "":
			src.kind, src.model, src.row = srcRow, base, bt.perm[base][id]
		default:
			src.kind = srcAverage
		}
	}
	return pe, nil
}

// weightNamed is a plain weight for findTensor.
func weightNamed(name string) arch.Weight { return arch.Weight{Name: name} }

// explicit is the source a tokens: entry names.
func (pe *permutedEmbed) explicit(cfg TokenConfig) (tokenSource, error) {
	s := cfg.Source
	switch s.Kind {
	case "zero":
		return tokenSource{kind: srcZero}, nil
	case "model":
		m := pe.modelFor(s.Model)
		if m == nil {
			return tokenSource{}, fmt.Errorf("token %q: model %s is not an input of %s", cfg.Token, s.Model.String(), pe.name)
		}
		id := pe.bt.ids[cfg.Token]
		return tokenSource{kind: srcRow, model: m, row: pe.bt.perm[m][id]}, nil
	case "model_token":
		m := pe.modelFor(s.Model)
		if m == nil {
			return tokenSource{}, fmt.Errorf("token %q: model %s is not an input of %s", cfg.Token, s.Model.String(), pe.name)
		}
		row := 0
		if s.TokenID != nil {
			row = *s.TokenID
		} else {
			row = pe.bt.vocab[m][s.Token]
		}
		if rows := int(pe.infos[m].Shape[0]); row < 0 || row >= rows {
			return tokenSource{}, fmt.Errorf("token %q: id %d out of range for %s of model %s (%d rows)", cfg.Token, row, pe.name, s.Model.String(), rows)
		}
		return tokenSource{kind: srcRow, model: m, row: row}, nil
	}
	return tokenSource{}, nil
}

func (pe *permutedEmbed) modelFor(r *ModelRef) *SourceModel {
	for _, m := range pe.models {
		if m.Ref.Equal(*r) {
			return m
		}
	}
	return nil
}

// info is the permuted tensor's description for model m.
func (pe *permutedEmbed) info(m *SourceModel) safetensors.TensorInfo {
	info := pe.infos[m]
	dt, _ := tensor.ParseDType(string(info.DType))
	info.Shape = []int64{int64(pe.bt.padded), pe.hidden}
	info.Size = int64(pe.bt.padded) * pe.hidden * int64(dt.Size())
	return info
}

// reader returns the byte reader of model m's permuted matrix.
func (pe *permutedEmbed) reader(m *SourceModel) func(off int64, dst []byte) error {
	info := pe.infos[m]
	dt, _ := tensor.ParseDType(string(info.DType))
	es := int64(dt.Size())
	rowBytes := pe.hidden * es
	return func(off int64, dst []byte) error {
		if len(dst) == 0 {
			return nil
		}
		first, last := off/rowBytes, (off+int64(len(dst))-1)/rowBytes
		row := make([]byte, rowBytes)
		for r := first; r <= last; r++ {
			if err := pe.row(m, dt, int(r), row); err != nil {
				return err
			}
			rs := r * rowBytes
			lo, hi := max(off, rs), min(off+int64(len(dst)), rs+rowBytes)
			copy(dst[lo-off:hi-off], row[lo-rs:hi-rs])
		}
		return nil
	}
}

// row fills dst with row id of model m's permuted matrix, stored as dt.
func (pe *permutedEmbed) row(m *SourceModel, dt tensor.DType, id int, dst []byte) error {
	if id >= pe.bt.size {
		pad, err := pe.padRow(m, dt)
		if err != nil {
			return err
		}
		return tensor.Encode(dst, pad, dt)
	}
	src := pe.sources[id]
	if own := pe.bt.perm[m][id]; own >= 0 && !src.force {
		return pe.readRow(m, own, dst)
	}
	if pe.bt.approx != "" && !src.explicit && src.kind != srcZero {
		row, err := pe.approxRow(m, id)
		if err != nil {
			return err
		}
		return tensor.Encode(dst, row, dt)
	}
	if src.kind == srcNone {
		clear(dst) // reported by zeroRows at plan time
		return nil
	}
	def, err := pe.defaultRow(id)
	if err != nil {
		return err
	}
	return tensor.Encode(dst, def, dt)
}

// readRow reads row r of model m's original matrix.
func (pe *permutedEmbed) readRow(m *SourceModel, r int, dst []byte) error {
	info := pe.infos[m]
	if err := m.Tensors.ReadTensorRange(info.Name, int64(r)*int64(len(dst)), dst); err != nil {
		return fmt.Errorf("model %s: %w", m.Ref.String(), err)
	}
	return nil
}

// readRowF32 reads row r of model m's original matrix as float32.
func (pe *permutedEmbed) readRowF32(m *SourceModel, r int) ([]float32, error) {
	dt, _ := tensor.ParseDType(string(pe.infos[m].DType))
	raw := make([]byte, pe.hidden*int64(dt.Size()))
	if err := pe.readRow(m, r, raw); err != nil {
		return nil, err
	}
	out := make([]float32, pe.hidden)
	return out, tensor.Decode(out, raw, dt)
}

// defaultRow computes (once) a token's default row, rounded to pe.dtype
// after every operation as mergekit's in-dtype arithmetic is.
func (pe *permutedEmbed) defaultRow(id int) ([]float32, error) {
	pe.mu.Lock()
	if d, ok := pe.defaults[id]; ok {
		pe.mu.Unlock()
		return d, nil
	}
	pe.mu.Unlock()
	src := pe.sources[id]
	var d []float32
	var err error
	switch src.kind {
	case srcZero:
		d = make([]float32, pe.hidden)
	case srcRow:
		if d, err = pe.readRowF32(src.model, src.row); err != nil {
			return nil, err
		}
		tensor.Round(pe.dtype, d)
	case srcAverage:
		d = make([]float32, pe.hidden)
		n := 0
		for _, m := range pe.models {
			r := pe.bt.perm[m][id]
			if r < 0 {
				continue
			}
			row, err := pe.readRowF32(m, r)
			if err != nil {
				return nil, err
			}
			tensor.Round(pe.dtype, row)
			tensor.Add(d, row)
			tensor.Round(pe.dtype, d)
			n++
		}
		tensor.Scale(d, 1/float32(n))
		tensor.Round(pe.dtype, d)
	}
	pe.mu.Lock()
	pe.defaults[id] = d
	pe.mu.Unlock()
	return d, nil
}

// padRow is the mean of model m's permuted rows 0..V-1 (the padding rows
// of pad_to_multiple_of), computed once.
func (pe *permutedEmbed) padRow(m *SourceModel, dt tensor.DType) ([]float32, error) {
	pe.mu.Lock()
	if p, ok := pe.pads[m]; ok {
		pe.mu.Unlock()
		return p, nil
	}
	pe.mu.Unlock()
	sum := make([]float64, pe.hidden)
	raw := make([]byte, pe.hidden*int64(dt.Size()))
	row := make([]float32, pe.hidden)
	for id := range pe.bt.size {
		if err := pe.row(m, dt, id, raw); err != nil {
			return nil, err
		}
		if err := tensor.Decode(row, raw, dt); err != nil {
			return nil, err
		}
		for j, v := range row {
			sum[j] += float64(v)
		}
	}
	p := make([]float32, pe.hidden)
	for j := range p {
		p[j] = float32(sum[j] / float64(pe.bt.size))
	}
	pe.mu.Lock()
	pe.pads[m] = p
	pe.mu.Unlock()
	return p, nil
}

// zeroRows describes the rows that get no embedding at all: a model lacks
// the token (or it is forced) and the token has no default source.
func (pe *permutedEmbed) zeroRows() []string {
	var out []string
	for _, m := range pe.models {
		n, first := 0, ""
		for id, src := range pe.sources {
			if src.kind == srcNone && (pe.bt.perm[m][id] < 0 || src.force) {
				if n == 0 {
					first = pe.bt.tokens[id]
				}
				n++
			}
		}
		if n > 0 {
			out = append(out, fmt.Sprintf("%s: model %s has no embedding for %d token(s) (first %q); their rows are zero", pe.name, m.Ref.String(), n, first))
		}
	}
	return out
}

// maxAtoms caps the shared tokens tokenizer surgery works from: the first
// ones by output id (BPE vocabularies put frequent tokens first).
const maxAtoms = 4096

// approxRow is model m's row for a token it lacks, made by tokenizer
// surgery in m's own space: the token's row in a donor model that has it
// (the base if it does) is expressed through the tokens m and the donor
// share, and the same combination of m's rows is taken.
func (pe *permutedEmbed) approxRow(m *SourceModel, id int) ([]float32, error) {
	key := approxKey{m, id}
	pe.mu.Lock()
	if r, ok := pe.approxRows[key]; ok {
		pe.mu.Unlock()
		return r, nil
	}
	pe.mu.Unlock()
	dt, _ := tensor.ParseDType(string(pe.infos[m].DType))
	out := make([]float32, pe.hidden)
	switch pe.bt.approx {
	case "zero":
	case "mean":
		mean, err := pe.ownMean(m)
		if err != nil {
			return nil, err
		}
		for j, v := range mean {
			out[j] = float32(v)
		}
	default:
		donor := pe.donorFor(id)
		if donor == nil {
			break
		}
		ap, err := pe.approximator(m, donor)
		if err != nil {
			return nil, err
		}
		t32, err := pe.readRowF32(donor, pe.bt.perm[donor][id])
		if err != nil {
			return nil, err
		}
		t := make([]float64, len(t32))
		for j, v := range t32 {
			t[j] = float64(v)
		}
		var r []float64
		if pe.bt.approx == "omp" {
			r, err = ap.OMP(context.Background(), t, pe.bt.k)
		} else {
			r, err = ap.Interpolate(t, pe.bt.k, false, tokensurgeon.DistanceProportional)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: token %q for model %s: %w", pe.name, pe.bt.tokens[id], m.Ref.String(), err)
		}
		for j, v := range r {
			out[j] = float32(v)
		}
	}
	tensor.Round(dt, out)
	pe.mu.Lock()
	pe.approxRows[key] = out
	pe.mu.Unlock()
	return out, nil
}

// donorFor is a model that has the token: the base if it does, else the
// first considered model.
func (pe *permutedEmbed) donorFor(id int) *SourceModel {
	if pe.base != nil && pe.infos[pe.base].Name != "" && pe.bt.perm[pe.base][id] >= 0 {
		return pe.base
	}
	for _, d := range pe.models {
		if pe.bt.perm[d][id] >= 0 {
			return d
		}
	}
	return nil
}

// approximator gathers the rows of the tokens m and donor share.
func (pe *permutedEmbed) approximator(m, donor *SourceModel) (*tokensurgeon.Approximator, error) {
	k := [2]*SourceModel{m, donor}
	pe.mu.Lock()
	if a, ok := pe.surgery[k]; ok {
		pe.mu.Unlock()
		return a, nil
	}
	pe.mu.Unlock()
	a := &tokensurgeon.Approximator{}
	for id := 0; id < pe.bt.size && len(a.DonorShared) < maxAtoms; id++ {
		mi, di := pe.bt.perm[m][id], pe.bt.perm[donor][id]
		if mi < 0 || di < 0 {
			continue
		}
		mr, err := pe.readRowF32(m, mi)
		if err != nil {
			return nil, err
		}
		dr, err := pe.readRowF32(donor, di)
		if err != nil {
			return nil, err
		}
		a.BaseShared = append(a.BaseShared, widen(mr))
		a.DonorShared = append(a.DonorShared, widen(dr))
	}
	if len(a.DonorShared) == 0 {
		return nil, fmt.Errorf("%s: models %s and %s share no token", pe.name, m.Ref.String(), donor.Ref.String())
	}
	pe.mu.Lock()
	pe.surgery[k] = a
	pe.mu.Unlock()
	return a, nil
}

// ownMean is the mean of model m's own rows.
func (pe *permutedEmbed) ownMean(m *SourceModel) ([]float64, error) {
	pe.mu.Lock()
	if r, ok := pe.means[m]; ok {
		pe.mu.Unlock()
		return r, nil
	}
	pe.mu.Unlock()
	rows := int(pe.infos[m].Shape[0])
	sum := make([]float64, pe.hidden)
	for r := range rows {
		row, err := pe.readRowF32(m, r)
		if err != nil {
			return nil, err
		}
		for j, v := range row {
			sum[j] += float64(v)
		}
	}
	for j := range sum {
		sum[j] /= float64(rows)
	}
	pe.mu.Lock()
	pe.means[m] = sum
	pe.mu.Unlock()
	return sum, nil
}

func widen(f []float32) []float64 {
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out
}
