package moe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
	"github.com/gomerge/gomerge/tokenizer"
)

// Gates returns the router weights, one [GateRows, Hidden] row-major
// matrix per layer: read from opt.GateVectors when set, else made by the
// config's gate mode. Random gates depend only on opt.Seed and the layer,
// not on the order or number of threads; they are drawn with Go's PCG
// generator, so they match torch's draws in distribution, not in value.
func (pl *Plan) Gates(ctx context.Context, opt Options) ([][]float32, error) {
	if opt.GateVectors != "" {
		return pl.readGateVectors(opt.GateVectors)
	}
	switch pl.Config.GateMode {
	case Random, UniformRandom:
		return pl.randomGates(opt.Seed), nil
	case CheapEmbed:
		return pl.promptGates(ctx, opt, pl.embedVector)
	default:
		return pl.hiddenGates(ctx, opt)
	}
}

// randomGates draws standard normal values (random) or uniform values in
// ±1/√H, the default init of a torch Linear (uniform_random), from a PCG
// stream keyed by the seed and the layer.
func (pl *Plan) randomGates(seed uint64) [][]float32 {
	H := pl.Hidden
	out := make([][]float32, pl.Layers)
	lim := math.Sqrt(1 / float64(H))
	for l := range out {
		r := rand.New(rand.NewPCG(seed, 0x6d6f6567617465^uint64(l)))
		g := make([]float32, pl.GateRows*H)
		for i := range g {
			if pl.Config.GateMode == UniformRandom {
				g[i] = float32((r.Float64()*2 - 1) * lim)
			} else {
				g[i] = float32(r.NormFloat64())
			}
		}
		out[l] = g
	}
	return out
}

// readGateVectors reads precomputed gates: the file's only tensor, or the
// one named "gate_vectors", of shape [layers, rows, hidden].
func (pl *Plan) readGateVectors(path string) ([][]float32, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gate vectors: %w", err)
	}
	defer f.Close()
	name := "gate_vectors"
	if ts := f.Tensors(); len(ts) == 1 {
		name = ts[0].Name
	}
	info, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("gate vectors %s: want one tensor, or one named gate_vectors, of shape [%d, %d, %d]", path, pl.Layers, pl.GateRows, pl.Hidden)
	}
	want := []int64{int64(pl.Layers), int64(pl.GateRows), int64(pl.Hidden)}
	if !shapeEq(info.Shape, want) {
		return nil, fmt.Errorf("gate vectors %s: tensor %s has shape %v, want %v (layers, experts with router rows, hidden)", path, name, info.Shape, want)
	}
	dt, err := tensor.ParseDType(string(info.DType))
	if err != nil || !dt.IsFloat() {
		return nil, fmt.Errorf("gate vectors %s: tensor %s has dtype %s, want a float type", path, name, info.DType)
	}
	raw := make([]byte, info.Size)
	if err := f.ReadTensor(name, raw); err != nil {
		return nil, fmt.Errorf("gate vectors %s: %w", path, err)
	}
	all := make([]float32, info.NumElements())
	if err := tensor.Decode(all, raw, dt); err != nil {
		return nil, fmt.Errorf("gate vectors %s: %w", path, err)
	}
	out := make([][]float32, pl.Layers)
	n := pl.GateRows * pl.Hidden
	for l := range out {
		out[l] = all[l*n : (l+1)*n : (l+1)*n]
	}
	return out, nil
}

// prompts encodes prompts as mergekit does: the BOS token, then the text
// without special tokens. Pad is the padding id (BOS, else EOS).
type prompts struct {
	encode func(string) []int
	bos    int // -1: none
	pad    int
}

// promptEncoder loads the base's tokenizer. A base without tokenizer
// files whose vocabulary holds every byte is read as a byte tokenizer
// (id = byte value), with a warning: tiny test models are built that way.
func (pl *Plan) promptEncoder(log *slog.Logger) (*prompts, error) {
	bos, eos := pl.intOr("bos_token_id", -1), pl.intOr("eos_token_id", -1)
	tok, err := tokenizer.Load(pl.Base.Dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) || hasTokenizerFiles(pl.Base.Dir) {
			return nil, fmt.Errorf("base model %s: %w", pl.Base.Ref.String(), err)
		}
		if pl.intOr("vocab_size", 0) < 256 {
			return nil, fmt.Errorf("base model %s has no tokenizer (tokenizer.json or tokenizer.model), which gate_mode %s needs", pl.Base.Ref.String(), pl.Config.GateMode)
		}
		log.Warn("the base model has no tokenizer: prompts are encoded as BOS + their UTF-8 bytes (token id = byte value)", "model", pl.Base.Ref.String())
		p := &prompts{bos: bos, encode: func(s string) []int {
			ids := make([]int, len(s))
			for i := 0; i < len(s); i++ {
				ids[i] = int(s[i])
			}
			return ids
		}}
		p.pad = bos
		if bos < 0 {
			p.pad = eos
		}
		return p, nil
	}
	sp := tok.Special()
	p := &prompts{bos: -1, pad: -1, encode: func(s string) []int { return tok.Encode(s, false) }}
	switch {
	case sp.BOS.Found:
		p.bos = sp.BOS.ID
	case bos >= 0 && sp.BOS.Token == "":
		p.bos = bos
	}
	p.pad = p.bos
	if p.pad < 0 {
		p.pad = eos
		if sp.EOS.Found {
			p.pad = sp.EOS.ID
		}
	}
	return p, nil
}

func hasTokenizerFiles(dir string) bool {
	for _, name := range []string{"tokenizer.json", "tokenizer.json.gz", "tokenizer.model"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

func (p *prompts) ids(text string) []int {
	ids := p.encode(text)
	if p.bos >= 0 {
		ids = append([]int{p.bos}, ids...)
	}
	return ids
}

// vectorFunc returns the per-layer vectors ([layers][hidden]) of a list
// of prompts, before normalisation.
type vectorFunc func(ctx context.Context, enc *prompts, texts []string) ([][]float64, error)

// promptGates builds each gated expert's row from its prompts:
// v = f(positive) [- f(negative)], L2-normalised per layer.
func (pl *Plan) promptGates(ctx context.Context, opt Options, f vectorFunc) ([][]float32, error) {
	enc, err := pl.promptEncoder(opt.logger())
	if err != nil {
		return nil, err
	}
	H := pl.Hidden
	out := make([][]float32, pl.Layers)
	for l := range out {
		out[l] = make([]float32, pl.GateRows*H)
	}
	for _, s := range pl.gated() {
		if len(s.PositivePrompts) == 0 {
			return nil, pl.Config.errorAt(s.Pos, "%s has no positive_prompts, which gate_mode %s needs", s.what, pl.Config.GateMode)
		}
		pos, err := f(ctx, enc, s.PositivePrompts)
		if err != nil {
			return nil, fmt.Errorf("%s: positive_prompts: %w", s.what, err)
		}
		if len(s.NegativePrompts) > 0 {
			neg, err := f(ctx, enc, s.NegativePrompts)
			if err != nil {
				return nil, fmt.Errorf("%s: negative_prompts: %w", s.what, err)
			}
			for l := range pos {
				for i := range pos[l] {
					pos[l][i] -= neg[l][i]
				}
			}
		}
		for l := range out {
			normalize(pos[l])
			row := out[l][s.index*H : (s.index+1)*H]
			for i, v := range pos[l] {
				row[i] = float32(v)
			}
		}
	}
	return out, nil
}

// gated returns the experts with router rows, in row order.
func (pl *Plan) gated() []*source {
	out := append([]*source(nil), pl.experts...)
	if pl.GateRows > len(pl.experts) {
		out = append(out, pl.shared...)
	}
	return out
}

// normalize divides v by max(‖v‖, 1e-8), as torch's F.normalize does.
func normalize(v []float64) {
	var ss float64
	for _, x := range v {
		ss += x * x
	}
	n := max(math.Sqrt(ss), 1e-8)
	for i := range v {
		v[i] /= n
	}
}

// embedVector is cheap_embed: the sum of the prompts' token embeddings
// (BOS included, padding excluded), normalised, the same for every layer.
// Mergekit normalises the positive and negative sums apart before
// subtracting them, so the sum is normalised here already.
func (pl *Plan) embedVector(_ context.Context, enc *prompts, texts []string) ([][]float64, error) {
	const name = "model.embed_tokens.weight"
	info, ok := pl.Base.Tensors.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("base model %s has no %s, which cheap_embed reads", pl.Base.Ref.String(), name)
	}
	dt, err := tensor.ParseDType(string(info.DType))
	if err != nil || !dt.IsFloat() || len(info.Shape) != 2 || info.Shape[1] != int64(pl.Hidden) {
		return nil, fmt.Errorf("base model %s: %s is %s%v, want a float [vocab, %d] matrix", pl.Base.Ref.String(), name, info.DType, info.Shape, pl.Hidden)
	}
	H, vocab := pl.Hidden, int(info.Shape[0])
	raw := make([]byte, H*dt.Size())
	row := make([]float32, H)
	sum := make([]float64, H)
	for _, text := range texts {
		for _, id := range enc.ids(text) {
			if id < 0 || id >= vocab {
				return nil, fmt.Errorf("prompt %q: token id %d is outside the embedding's %d rows", text, id, vocab)
			}
			if err := pl.Base.Tensors.ReadTensorRange(name, int64(id*H*dt.Size()), raw); err != nil {
				return nil, fmt.Errorf("base model %s: read %s: %w", pl.Base.Ref.String(), name, err)
			}
			if err := tensor.Decode(row, raw, dt); err != nil {
				return nil, err
			}
			for i, v := range row {
				sum[i] += float64(v)
			}
		}
	}
	normalize(sum)
	out := make([][]float64, pl.Layers)
	for l := range out {
		out[l] = append([]float64(nil), sum...)
	}
	return out, nil
}

// hiddenGates runs the base model (float32 arithmetic, on the CPU) over
// each prompt.
// hidden takes each prompt's state at its last token; hidden_avg the mean
// over the list's padded length, the left padding (BOS tokens, attending
// only to padding) included as mergekit includes it. Each prompt runs
// alone: with left padding masked, its positions shift, which rotary
// attention does not see.
func (pl *Plan) hiddenGates(ctx context.Context, opt Options) ([][]float32, error) {
	raw, err := json.Marshal(pl.Base.Config)
	if err != nil {
		return nil, err
	}
	// Compact keeps 16-bit weights 16-bit in memory (same results, half
	// the memory of widening them).
	m, err := model.Load(raw, pl.Base.Tensors, model.Options{Threads: opt.Threads, Compact: true})
	if err != nil {
		return nil, fmt.Errorf("base model %s: forward pass for gate_mode %s: %w", pl.Base.Ref.String(), pl.Config.GateMode, err)
	}
	hs := m
	avg := pl.Config.GateMode == HiddenAvg
	H := pl.Hidden
	f := func(ctx context.Context, enc *prompts, texts []string) ([][]float64, error) {
		seqs := make([][]int, len(texts))
		longest := 0
		for i, t := range texts {
			seqs[i] = enc.ids(t)
			if len(seqs[i]) == 0 {
				return nil, fmt.Errorf("prompt %q has no tokens", t)
			}
			longest = max(longest, len(seqs[i]))
		}
		var padState [][]float32
		if avg && enc.pad >= 0 {
			if padState, err = hs.HiddenStates([]int{enc.pad}); err != nil {
				return nil, err
			}
		}
		sum := make([][]float64, pl.Layers)
		for l := range sum {
			sum[l] = make([]float64, H)
		}
		for i, ids := range seqs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			st, err := hs.HiddenStates(ids)
			if err != nil {
				return nil, fmt.Errorf("prompt %q: %w", texts[i], err)
			}
			if len(st) < pl.Layers {
				return nil, fmt.Errorf("forward pass gave %d hidden states, want %d", len(st), pl.Layers)
			}
			n := len(ids)
			for l := 0; l < pl.Layers; l++ {
				if !avg {
					for k, v := range st[l][(n-1)*H : n*H] {
						sum[l][k] += float64(v)
					}
					continue
				}
				pads := float64(longest - n)
				for t := 0; t < n; t++ {
					for k, v := range st[l][t*H : (t+1)*H] {
						sum[l][k] += float64(v) / float64(longest)
					}
				}
				if padState != nil && pads > 0 {
					for k, v := range padState[l][:H] {
						sum[l][k] += pads * float64(v) / float64(longest)
					}
				}
			}
		}
		for l := range sum {
			for k := range sum[l] {
				sum[l][k] /= float64(len(seqs))
			}
		}
		return sum, nil
	}
	return pl.promptGates(ctx, opt, f)
}

// degenerateLayers returns the layers whose gate matrix has a 2-norm
// condition number above 5 (mergekit's warning: the prompts may be too
// similar for the router to tell the experts apart).
func degenerateLayers(gates [][]float32, rows, hidden int) []int {
	var bad []int
	for l, g := range gates {
		d := make([]float64, len(g))
		for i, v := range g {
			d[i] = float64(v)
		}
		var svd mat.SVD
		if !svd.Factorize(mat.NewDense(rows, hidden, d), mat.SVDNone) {
			continue
		}
		s := svd.Values(nil)
		if len(s) == 0 {
			continue
		}
		lo := s[len(s)-1]
		if rows > hidden || lo == 0 || s[0]/lo > 5 {
			bad = append(bad, l)
		}
	}
	return bad
}

// layerList formats layer numbers for a warning.
func layerList(ls []int) string {
	var b strings.Builder
	for i, l := range ls {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, l)
	}
	return b.String()
}
