package tokensurgeon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"golang.org/x/sync/errgroup"
	"gonum.org/v1/gonum/floats"

	"github.com/gomerge/gomerge/internal/outdir"
	"github.com/gomerge/gomerge/merge/arch"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
	"github.com/gomerge/gomerge/tokenizer"
)

// Approximation methods for tokens the base model lacks.
const (
	OMP                 = "omp"
	CommonInterpolation = "common_interpolation"
	Mean                = "mean"
	Zero                = "zero"
	Randn               = "randn"
	Subword             = "subword"
	LandmarkPCA         = "landmark_pca"
	JohnHewitt          = "john_hewitt"
)

// Subword combinations: how the base rows of a new token's pieces combine.
const (
	SubwordMean         = "mean"
	SubwordSum          = "sum"
	SubwordWeightedMean = "weighted_mean"
	SubwordFirstLast    = "first_last"
)

// TransplantOptions are mergekit-tokensurgeon's settings.
type TransplantOptions struct {
	// Method approximates the rows of new tokens (default OMP).
	Method string
	// K is OMP's sparsity or common_interpolation's neighbour count
	// (default 64).
	K int
	// WeightScheme and Cosine configure common_interpolation.
	WeightScheme string
	Cosine       bool
	// SubwordMethod combines the pieces for Subword (default mean):
	// weighted_mean weighs later pieces more for the embedding and
	// earlier ones for the LM head (mergekit reverses the embedding's
	// weights against its own comment; gomerge does what the comment
	// says), first_last takes the last piece for the embedding and the
	// first for the LM head.
	SubwordMethod string
	// PrefixMatch and ByteMatch enable matching a new token to the base's
	// longest prefix or byte token: "no", "yes", "embed" or "lm_head"
	// (which matrix). mergekit wires embed and lm_head the other way
	// round; gomerge does what the names say.
	PrefixMatch, ByteMatch string
	// NewVocabNoise adds Gaussian noise of this standard deviation to
	// approximated rows; NewVocabScale multiplies them (0 = off).
	NewVocabNoise, NewVocabScale float64
	// Seed drives randn and the noise.
	Seed uint64
	// ShardSize is the output shard limit in bytes (<= 0: one file).
	ShardSize int64
	// Threads bounds the approximations running at once.
	Threads int
	// Overwrite lets out replace an existing directory gomerge did not
	// write; the input models are never replaced.
	Overwrite bool
	Logger    *slog.Logger

	baseTok *tokenizer.Tokenizer
}

// MatrixStats counts how the rows of one rebuilt matrix were filled.
type MatrixStats struct {
	Tensor       string `json:"tensor"`
	Rows         int    `json:"rows"`
	Exact        int    `json:"exact"`
	Byte         int    `json:"byte"`
	Prefix       int    `json:"prefix"`
	Approximated int    `json:"approximated"`
	Zeroed       int    `json:"zeroed"`
}

// TransplantResult describes the written model.
type TransplantResult struct {
	VocabSize int           `json:"vocab_size"`
	Matrices  []MatrixStats `json:"matrices"`
}

// Transplant writes to out the model in dir re-expressed on donor's
// tokenizer (mergekit-tokensurgeon): the input embedding and the LM head
// are rebuilt with one row per donor token — the base's own row where the
// normalised token exists in both vocabularies (bit for bit), else an
// approximation from the shared tokens — and every other tensor is copied.
// The config gets the new vocab_size and the donor's special-token ids;
// the tokenizer files are the donor's.
func Transplant(ctx context.Context, dir, donor, out string, opt TransplantOptions) (*TransplantResult, error) {
	if opt.Method == "" {
		opt.Method = OMP
	}
	if opt.K <= 0 {
		opt.K = 64
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	switch opt.Method {
	case OMP, CommonInterpolation, Mean, Zero, Randn, Subword, LandmarkPCA, JohnHewitt:
	default:
		return nil, fmt.Errorf("tokensurgeon: approximation method %q is not available (have %s, %s, %s, %s, %s, %s, %s, %s)",
			opt.Method, OMP, CommonInterpolation, Subword, LandmarkPCA, JohnHewitt, Mean, Zero, Randn)
	}
	switch opt.SubwordMethod {
	case "", SubwordMean, SubwordSum, SubwordWeightedMean, SubwordFirstLast:
	default:
		return nil, fmt.Errorf("tokensurgeon: subword method %q is not available (have mean, sum, weighted_mean, first_last)", opt.SubwordMethod)
	}
	bf, err := LoadModelFiles(dir)
	if err != nil {
		return nil, err
	}
	df, err := LoadModelFiles(donor)
	if err != nil {
		return nil, err
	}
	for _, m := range []*ModelFiles{bf, df} {
		if m.Tokenizer == nil {
			return nil, fmt.Errorf("tokensurgeon: %s has no tokenizer.json", m.Dir)
		}
		if m.Config == nil {
			return nil, fmt.Errorf("tokensurgeon: %s has no config.json", m.Dir)
		}
	}
	// The output is checked (and claimed) before any weight is read.
	o, err := outdir.Create(out, outdir.Options{Inputs: []string{dir, donor}, Overwrite: opt.Overwrite,
		Tool: "gomerge tokensurgeon", Logger: log})
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			o.Abort()
		}
	}()
	base, err := safetensors.OpenModel(dir)
	if err != nil {
		return nil, err
	}
	defer base.Close()
	dm, err := safetensors.OpenModel(donor)
	if err != nil {
		return nil, err
	}
	defer dm.Close()

	embed, head, vocabKey, err := embedNames(bf, base)
	if err != nil {
		return nil, err
	}
	dEmbed, dHead, _, err := embedNames(df, dm)
	if err != nil {
		return nil, err
	}
	if dHead == "" {
		dHead = dEmbed // the donor may be tied
	}
	for _, c := range []struct {
		m     *ModelFiles
		src   *safetensors.Model
		names []string
	}{{bf, base, []string{embed, head}}, {df, dm, []string{dEmbed, dHead}}} {
		if err := fitsVocab(c.m, c.src, c.names...); err != nil {
			return nil, err
		}
	}
	bv, dv := normalizedVocab(bf, log), normalizedVocab(df, log)
	if opt.Method == Subword {
		if opt.baseTok, err = tokenizer.Load(dir); err != nil {
			return nil, fmt.Errorf("tokensurgeon: the subword method needs the base model's tokenizer: %w", err)
		}
	}
	rows := len(dv)
	for _, id := range dv {
		rows = max(rows, id+1)
	}
	res := &TransplantResult{VocabSize: rows}
	built := map[string][]byte{}
	for _, mtx := range []struct {
		base, donor string
		isHead      bool
	}{{embed, dEmbed, false}, {head, dHead, true}} {
		if mtx.base == "" {
			continue
		}
		allowPrefix := opt.PrefixMatch == "yes" || opt.PrefixMatch == pick(mtx.isHead, "lm_head", "embed")
		allowByte := opt.ByteMatch == "yes" || opt.ByteMatch == pick(mtx.isHead, "lm_head", "embed")
		data, st, err := buildMatrix(ctx, base, dm, mtx.base, mtx.donor, bv, dv, rows, allowPrefix, allowByte, mtx.isHead, opt)
		if err != nil {
			return nil, err
		}
		built[mtx.base] = data
		res.Matrices = append(res.Matrices, st)
		log.Info("rebuilt", "tensor", mtx.base, "exact", st.Exact, "byte", st.Byte, "prefix", st.Prefix, "approximated", st.Approximated)
	}
	if err := writeTransplant(base, bf, df, built, rows, vocabKey, o, opt); err != nil {
		return nil, err
	}
	committed = true
	return res, nil
}

// fitsVocab checks that each named tensor of a model is a matrix with a
// row for every id of its tokenizer, so that rows can be read by id.
func fitsVocab(m *ModelFiles, src *safetensors.Model, names ...string) error {
	need := m.VocabRows()
	for _, n := range names {
		if n == "" {
			continue
		}
		info, _ := src.Tensor(n)
		if len(info.Shape) != 2 || info.Shape[0] <= 0 || info.Shape[1] <= 0 {
			return fmt.Errorf("tokensurgeon: %s: %s has shape %v, want [rows, hidden] with both above 0", m.Dir, n, info.Shape)
		}
		if info.Shape[0] < int64(need) {
			return fmt.Errorf("tokensurgeon: %s: the tokenizer has ids up to %d but %s has %d rows: resize the embeddings or fix the tokenizer first (gomerge doctor %s)",
				m.Dir, need-1, n, info.Shape[0], m.Dir)
		}
	}
	return nil
}

// embedNames finds a model's input embedding and (untied) LM head, and
// its config's vocabulary key.
func embedNames(m *ModelFiles, src *safetensors.Model) (embed, head, vocabKey string, err error) {
	vocabKey = "vocab_size"
	list, _ := m.Config["architectures"].([]any)
	mt, _ := m.Config["model_type"].(string)
	var a *arch.Arch
	if len(list) == 1 {
		name, _ := list[0].(string)
		a, _ = arch.Lookup(name, mt)
	}
	if a == nil {
		return "", "", "", fmt.Errorf("tokensurgeon: %s: no architecture table for %v", m.Dir, list)
	}
	if a.VocabSizeKey != "" {
		vocabKey = a.VocabSizeKey
	}
	find := func(ws []arch.Weight) string {
		for _, w := range ws {
			if !w.IsEmbed {
				continue
			}
			for _, n := range append([]string{w.Name}, w.Aliases...) {
				if _, ok := src.Tensor(n); ok {
					return n
				}
			}
		}
		return ""
	}
	embed, head = find(a.Pre), find(a.Post)
	if embed == "" {
		return "", "", "", fmt.Errorf("tokensurgeon: %s has no input embedding tensor", m.Dir)
	}
	return embed, head, vocabKey, nil
}

// buildMatrix rebuilds one embedding matrix for the donor's vocabulary, in
// the base tensor's dtype.
func buildMatrix(ctx context.Context, base, donor *safetensors.Model, bname, dname string, bv, dv map[string]int, rows int,
	allowPrefix, allowByte, isHead bool, opt TransplantOptions) ([]byte, MatrixStats, error) {
	st := MatrixStats{Tensor: bname, Rows: rows}
	bi, _ := base.Tensor(bname)
	di, ok := donor.Tensor(dname)
	if !ok {
		return nil, st, fmt.Errorf("tokensurgeon: donor has no tensor %s", dname)
	}
	bdt, err := tensor.ParseDType(string(bi.DType))
	if err != nil || !bdt.Arithmetic() {
		return nil, st, fmt.Errorf("tokensurgeon: %s has dtype %s", bname, bi.DType)
	}
	bRows, width := int(bi.Shape[0]), int(bi.Shape[1])
	dRows := int(di.Shape[0])
	braw := make([]byte, bi.Size)
	if err := base.ReadTensor(bname, braw); err != nil {
		return nil, st, err
	}
	es := bdt.Size()
	rowBytes := width * es
	out := make([]byte, rows*rowBytes)

	// Donor tokens in id order.
	type tok struct {
		key string
		id  int
	}
	var donorToks []tok
	for k, id := range dv {
		donorToks = append(donorToks, tok{k, id})
	}
	sort.Slice(donorToks, func(i, j int) bool { return donorToks[i].id < donorToks[j].id })
	safeBase := map[string]int{}
	for k, id := range bv {
		if id < bRows {
			safeBase[k] = id
		}
	}
	var pending []tok
	for _, t := range donorToks {
		if t.id >= dRows || t.id >= rows {
			st.Zeroed++
			continue
		}
		src, found := safeBase[t.key]
		switch {
		case found:
			st.Exact++
		case allowByte:
			if src, found = byteMatch(t.key, safeBase); found {
				st.Byte++
			}
		}
		if !found && allowPrefix {
			if src, found = prefixMatch(t.key, safeBase); found {
				st.Prefix++
			}
		}
		if found {
			copy(out[t.id*rowBytes:(t.id+1)*rowBytes], braw[src*rowBytes:(src+1)*rowBytes])
			continue
		}
		pending = append(pending, t)
	}
	st.Approximated = len(pending)
	if len(pending) == 0 {
		return out, st, nil
	}

	bf, err := decodeRows(braw, bdt, bRows, width)
	if err != nil {
		return nil, st, err
	}
	needDonor := opt.Method == OMP || opt.Method == CommonInterpolation || opt.Method == LandmarkPCA
	var df [][]float64
	var ap Approximator
	if needDonor {
		dt, err := tensor.ParseDType(string(di.DType))
		if err != nil || !dt.Arithmetic() {
			return nil, st, fmt.Errorf("tokensurgeon: donor %s has dtype %s", dname, di.DType)
		}
		draw := make([]byte, di.Size)
		if err := donor.ReadTensor(dname, draw); err != nil {
			return nil, st, err
		}
		if df, err = decodeRows(draw, dt, dRows, int(di.Shape[1])); err != nil {
			return nil, st, err
		}
		// Shared tokens, ordered by donor id.
		var shared []tok
		for _, t := range donorToks {
			if b, ok := safeBase[t.key]; ok && t.id < dRows {
				shared = append(shared, tok{t.key, t.id})
				ap.DonorShared = append(ap.DonorShared, df[t.id])
				ap.BaseShared = append(ap.BaseShared, bf[b])
			}
		}
		if len(shared) == 0 {
			return nil, st, fmt.Errorf("tokensurgeon: the two vocabularies share no token; %s needs shared tokens (try --approximation-method mean)", opt.Method)
		}
		if opt.Method == OMP && opt.K > len(shared) {
			return nil, st, fmt.Errorf("tokensurgeon: k = %d exceeds the %d shared tokens", opt.K, len(shared))
		}
	}
	var pca *landmarkPCA
	if opt.Method == LandmarkPCA {
		if pca, err = newLandmarkPCA(&ap); err != nil {
			return nil, st, fmt.Errorf("tokensurgeon: %s: %w", bname, err)
		}
	}
	var jh *johnHewitt
	if opt.Method == JohnHewitt {
		jh = newJohnHewitt(bf)
	}
	var mean []float64
	if opt.Method == Mean {
		mean = make([]float64, width)
		for _, r := range bf {
			for j, v := range r {
				mean[j] += v
			}
		}
		for j := range mean {
			mean[j] /= float64(len(bf))
		}
	}
	rowsOut := make([][]float64, len(pending))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(opt.Threads, 1))
	for i, t := range pending {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			var r []float64
			var err error
			switch opt.Method {
			case OMP:
				r, err = ap.OMP(gctx, df[t.id], opt.K)
			case CommonInterpolation:
				r, err = ap.Interpolate(df[t.id], opt.K, opt.Cosine, opt.WeightScheme)
			case Mean:
				r = slices.Clone(mean)
			case Zero:
				r = make([]float64, width)
			case Randn:
				rng := rand.New(rand.NewPCG(opt.Seed, uint64(t.id)))
				r = make([]float64, width)
				for j := range r {
					r[j] = rng.NormFloat64()
				}
			case Subword:
				r = subwordRow(opt.baseTok, t.key, bf, opt.SubwordMethod, isHead)
			case LandmarkPCA:
				r = pca.apply(df[t.id])
			case JohnHewitt:
				r = jh.sample(rand.New(rand.NewPCG(opt.Seed, uint64(t.id))))
			}
			if err != nil {
				return fmt.Errorf("token id %d: %w", t.id, err)
			}
			rowsOut[i] = r
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, st, err
	}
	noise := rand.New(rand.NewPCG(opt.Seed, 0x6e6f697365))
	f := make([]float32, width)
	for i, t := range pending {
		for j, v := range rowsOut[i] {
			if opt.NewVocabNoise > 0 {
				v += noise.NormFloat64() * opt.NewVocabNoise
			}
			if opt.NewVocabScale != 0 {
				v *= opt.NewVocabScale
			}
			f[j] = float32(v)
		}
		if err := tensor.Encode(out[t.id*rowBytes:(t.id+1)*rowBytes], f, bdt); err != nil {
			return nil, st, err
		}
	}
	return out, st, nil
}

func decodeRows(raw []byte, dt tensor.DType, rows, width int) ([][]float64, error) {
	f := make([]float32, rows*width)
	if err := tensor.Decode(f, raw, dt); err != nil {
		return nil, err
	}
	out := make([][]float64, rows)
	for i := range out {
		r := make([]float64, width)
		for j := range r {
			r[j] = float64(f[i*width+j])
		}
		out[i] = r
	}
	return out, nil
}

// writeTransplant writes the model: every base tensor, the rebuilt ones
// replaced; config.json with the new vocabulary size and the donor's
// special-token ids; the donor's tokenizer files. The output appears only
// when complete.
func writeTransplant(base *safetensors.Model, bf, df *ModelFiles, built map[string][]byte, rows int, vocabKey string, o *outdir.Dir, opt TransplantOptions) error {
	tmp := o.Tmp()
	var specs []safetensors.TensorSpec
	for _, n := range base.Names() {
		info, _ := base.Tensor(n)
		shape := info.Shape
		if _, rebuilt := built[n]; rebuilt {
			shape = []int64{int64(rows), info.Shape[1]}
		}
		specs = append(specs, safetensors.TensorSpec{Name: n, DType: info.DType, Shape: shape})
	}
	w, err := safetensors.Create(tmp, specs, safetensors.WriterOptions{MaxShardSize: opt.ShardSize})
	if err != nil {
		return err
	}
	for _, n := range base.Names() {
		data, rebuilt := built[n]
		if !rebuilt {
			info, _ := base.Tensor(n)
			data = make([]byte, info.Size)
			if err := base.ReadTensor(n, data); err != nil {
				w.Abort()
				return err
			}
		}
		if err := w.WriteTensor(n, data); err != nil {
			w.Abort()
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	cfg := bf.Config
	cfg[vocabKey] = rows
	for _, k := range []string{"pad_token_id", "eos_token_id", "bos_token_id", "unk_token_id", "mask_token_id", "padding_side"} {
		if v, ok := df.Config[k]; ok {
			cfg[k] = v
		}
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	if err := o.WriteFile("config.json", append(data, '\n')); err != nil {
		return err
	}
	for _, name := range tokenizerFiles {
		p := filepath.Join(df.Dir, name)
		if _, err := os.Stat(p); err == nil {
			if err := outdir.CopyFile(p, filepath.Join(tmp, name)); err != nil {
				return err
			}
		}
	}
	return o.Commit()
}

// subwordRow combines the base rows of the pieces the base tokenizer cuts
// a new token's text into (the word-start marker becomes a leading space);
// a token that encodes to nothing keeps a zero row.
func subwordRow(tok *tokenizer.Tokenizer, key string, rows [][]float64, method string, isHead bool) []float64 {
	out := make([]float64, len(rows[0]))
	var ids []int
	for _, id := range tok.Encode(unnormalize(key), false) {
		if id >= 0 && id < len(rows) {
			ids = append(ids, id)
		}
	}
	n := len(ids)
	if n == 0 {
		return out
	}
	switch method {
	case SubwordFirstLast:
		pick := ids[n-1]
		if isHead {
			pick = ids[0]
		}
		copy(out, rows[pick])
		return out
	case SubwordSum:
		for _, id := range ids {
			floats.Add(out, rows[id])
		}
		return out
	case SubwordWeightedMean:
		total := 0.0
		for i, id := range ids {
			w := float64(i + 1) // later pieces count more for the embedding
			if isHead {
				w = float64(n - i)
			}
			floats.AddScaled(out, w, rows[id])
			total += w
		}
		floats.Scale(1/total, out)
		return out
	}
	for _, id := range ids {
		floats.Add(out, rows[id])
	}
	floats.Scale(1/float64(n), out)
	return out
}
