package model

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// Options configures Open and Load.
type Options struct {
	// Threads is how many goroutines the matrix products and attention
	// use; 0 means runtime.GOMAXPROCS(0).
	Threads int
	// Compact keeps BF16 and F16 matrices in their 16-bit form in memory and
	// widens each row to float32 as it is used: half the memory of the
	// default, which widens every weight to float32 at load. The results
	// are identical; prompt scoring runs at about the same speed, single-token
	// generation somewhat slower (see the package documentation).
	Compact bool
	// BF16Dot multiplies the matrices stored in bfloat16 as llama.cpp does
	// on CPUs with AVX512_BF16: when scoring eight or more tokens at once,
	// the activations are rounded to bfloat16 and each pair of products is
	// added to a float32 sum by VDPBF16PS. Faster (about twice the
	// multiply-adds per instruction, half the weight bytes), but the results
	// differ from the float32 path in the low bits; the SiLU of those
	// layers takes a float32 exponential too. Those matrices are kept
	// 16-bit in memory (as with Compact). Where the CPU lacks AVX512_BF16
	// (golang.org/x/sys/cpu X86.HasAVX512BF16) it has no effect.
	BF16Dot bool
}

// HasBF16Dot reports whether Options.BF16Dot takes effect here: the CPU
// has AVX512_BF16 and the build has the kernel (not with -tags purego or
// off amd64).
func HasBF16Dot() bool { return hasBF16Dot }

// Model is a decoder-only language model held in memory, ready to score
// and generate. Its methods are safe for concurrent use.
type Model struct {
	cfg     *config
	threads int
	embed   *matrix
	head    *matrix // == embed when tied
	norm    []float32
	layers  []layer
	dev     DeviceModel // UseDevice: scoring runs there
}

type layer struct {
	inNorm, postAttnNorm, preFFNorm, postFFNorm []float32
	qNorm, kNorm                                []float32
	q, k, v, o                                  *matrix
	qb, kb, vb, ob                              []float32
	gate, up, down                              *matrix
	gateB, upB, downB                           []float32
	moe                                         *moeLayer // replaces gate, up, down in a sparse layer
}

// Open loads the model in dir: its config.json and its weights
// (model.safetensors or a sharded index), through safetensors.OpenModel.
func Open(dir string, opts Options) (*Model, error) {
	cfgPath := filepath.Join(dir, "config.json")
	data, err := regfile.ReadFile(cfgPath, regfile.ConfigLimit)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	src, err := safetensors.OpenModel(dir)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	defer src.Close()
	m, err := Load(data, src, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return m, nil
}

// Load builds a model from the bytes of a config.json and a source of
// weights, such as a merge result held in memory. It copies every weight it
// needs out of src, so src may be closed afterwards.
func Load(configJSON []byte, src safetensors.Source, opts Options) (*Model, error) {
	cfg, err := parseConfig(configJSON)
	if err != nil {
		return nil, err
	}
	m := &Model{cfg: cfg, threads: opts.Threads}
	if m.threads <= 0 {
		m.threads = runtime.GOMAXPROCS(0)
	}
	l := &loader{src: src, compact: opts.Compact, bf16dot: opts.BF16Dot && hasBF16Dot, gemma: cfg.gemmaNorm, used: map[string]bool{}}
	c := cfg
	m.embed = l.matrix("model.embed_tokens.weight", c.vocab, c.hidden)
	m.norm = l.norm("model.norm.weight", c.hidden)
	if !c.tied {
		// transformers would start an absent lm_head from random
		// weights; the embeddings do not stand in for it.
		m.head = l.matrix("lm_head.weight", c.vocab, c.hidden)
	} else {
		m.head = m.embed
	}
	qDim, kvDim := c.heads*c.headDim, c.kvHeads*c.headDim
	m.layers = make([]layer, c.layers)
	for i := range m.layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		y := &m.layers[i]
		y.inNorm = l.norm(p+"input_layernorm.weight", c.hidden)
		y.postAttnNorm = l.norm(p+"post_attention_layernorm.weight", c.hidden)
		if c.sandwich {
			y.preFFNorm = l.norm(p+"pre_feedforward_layernorm.weight", c.hidden)
			y.postFFNorm = l.norm(p+"post_feedforward_layernorm.weight", c.hidden)
		}
		if c.qkNorm {
			y.qNorm = l.norm(p+"self_attn.q_norm.weight", c.headDim)
			y.kNorm = l.norm(p+"self_attn.k_norm.weight", c.headDim)
		}
		a := p + "self_attn."
		y.q = l.matrix(a+"q_proj.weight", qDim, c.hidden)
		y.k = l.matrix(a+"k_proj.weight", kvDim, c.hidden)
		y.v = l.matrix(a+"v_proj.weight", kvDim, c.hidden)
		y.o = l.matrix(a+"o_proj.weight", c.hidden, qDim)
		qkv := c.attnBias || c.qkvBias
		y.qb = l.bias(a+"q_proj.bias", qDim, qkv)
		y.kb = l.bias(a+"k_proj.bias", kvDim, qkv)
		y.vb = l.bias(a+"v_proj.bias", kvDim, qkv)
		y.ob = l.bias(a+"o_proj.bias", c.hidden, c.attnBias)
		if c.moe != nil && c.moe.sparse[i] {
			if y.moe = l.moeLayer(c, p); l.err != nil {
				return nil, fmt.Errorf("sparse layer %d (config.json %s %d, %s %d): %w", i, c.moe.expertsKey, c.moe.experts, c.moe.interKey, c.moe.inter, l.err)
			}
			continue
		}
		if c.moe != nil && (l.has(p+"mlp.gate.weight") || l.has(p+"block_sparse_moe.gate.weight")) {
			return nil, fmt.Errorf("layer %d has a router, but config.json makes it dense (%s)", i, c.moe.denseWhy(i))
		}
		f := p + "mlp."
		y.gate = l.matrix(f+"gate_proj.weight", c.inter, c.hidden)
		y.up = l.matrix(f+"up_proj.weight", c.inter, c.hidden)
		y.down = l.matrix(f+"down_proj.weight", c.hidden, c.inter)
		y.gateB = l.bias(f+"gate_proj.bias", c.inter, c.mlpBias)
		y.upB = l.bias(f+"up_proj.bias", c.inter, c.mlpBias)
		y.downB = l.bias(f+"down_proj.bias", c.hidden, c.mlpBias)
	}
	if l.err != nil {
		return nil, l.err
	}
	if err := l.checkUnused(c); err != nil {
		return nil, err
	}
	return m, nil
}

// checkUnused refuses tensors the forward pass did not read: layers beyond
// num_hidden_layers, or weights of another family (q_norm under a Qwen2
// config). Scoring without them would score another model than the
// checkpoint holds. A stored lm_head under tie_word_embeddings (HF ties it
// to the embeddings too) and rotary inv_freq buffers of older checkpoints
// are not weights and pass.
func (l *loader) checkUnused(c *config) error {
	for _, name := range l.src.Names() {
		if l.used[name] || strings.HasSuffix(name, ".rotary_emb.inv_freq") || name == "lm_head.weight" && c.tied {
			continue
		}
		if rest, ok := strings.CutPrefix(name, "model.layers."); ok {
			idx, _, _ := strings.Cut(rest, ".")
			if i, err := strconv.Atoi(idx); err == nil && i >= c.layers {
				return fmt.Errorf("tensor %s is in layer %d, but config.json has num_hidden_layers %d", name, i, c.layers)
			}
		}
		return fmt.Errorf("tensor %s is not part of the %s model config.json describes", name, c.family)
	}
	return nil
}

// VocabSize returns the number of logits per position.
func (m *Model) VocabSize() int { return m.cfg.vocab }

// MaxPositions returns config.json's max_position_embeddings, the longest
// context the model was trained for.
func (m *Model) MaxPositions() int { return m.cfg.maxPos }

// BOS returns config.json's bos_token_id, or -1 if it has none.
func (m *Model) BOS() int { return m.cfg.bos }

// EOS returns config.json's eos_token_id as a list (it may be one id or
// several); nil if it has none.
func (m *Model) EOS() []int { return append([]int(nil), m.cfg.eos...) }

// Family returns config.json's model_type, the architecture family the
// forward pass follows: llama, mistral, qwen2, qwen3, gemma, gemma2,
// gemma3_text, or one of the mixtures of experts mixtral, qwen2_moe,
// qwen3_moe and deepseek.
func (m *Model) Family() string { return m.cfg.family }

// loader reads tensors from a Source, remembering the first error.
type loader struct {
	src     safetensors.Source
	compact bool
	bf16dot bool // Options.BF16Dot on a CPU that has it
	gemma   bool
	err     error
	used    map[string]bool // tensors read
}

func (l *loader) read(name string, shape ...int) ([]byte, tensor.DType, bool) {
	if l.err != nil {
		return nil, 0, false
	}
	info, ok := l.src.Tensor(name)
	if !ok {
		l.err = fmt.Errorf("tensor %s is missing", name)
		return nil, 0, false
	}
	l.used[name] = true
	want := int64(1)
	for _, s := range shape {
		want *= int64(s)
	}
	same := len(info.Shape) == len(shape)
	for i := 0; same && i < len(shape); i++ {
		same = info.Shape[i] == int64(shape[i])
	}
	if !same {
		l.err = fmt.Errorf("tensor %s has shape %v, config.json implies %v%s", name, info.Shape, shape, l.in(name))
		return nil, 0, false
	}
	dt, err := tensor.ParseDType(string(info.DType))
	if err != nil || !dt.IsFloat() || !dt.Arithmetic() {
		l.err = fmt.Errorf("tensor %s has dtype %s, want F32, BF16, F16 or F64%s", name, info.DType, l.in(name))
		return nil, 0, false
	}
	buf := make([]byte, want*int64(dt.Size()))
	if err := l.src.ReadTensorRange(name, 0, buf); err != nil {
		l.err = fmt.Errorf("read tensor %s: %w", name, err)
		return nil, 0, false
	}
	return buf, dt, true
}

func (l *loader) floats(name string, shape ...int) []float32 {
	buf, dt, ok := l.read(name, shape...)
	if !ok {
		return nil
	}
	out := make([]float32, len(buf)/dt.Size())
	if err := tensor.Decode(out, buf, dt); err != nil {
		l.err = fmt.Errorf("decode tensor %s: %w", name, err)
	}
	return out
}

// norm reads an RMSNorm weight; Gemma's norms scale by 1+w, computed here
// once in float32 as HF computes it on every call.
func (l *loader) norm(name string, n int) []float32 {
	w := l.floats(name, n)
	if l.gemma {
		for i := range w {
			w[i] = 1 + w[i]
		}
	}
	return w
}

// bias reads an optional bias: present in the file is enough to use it,
// and it is an error for it to be missing where config.json asks for it.
func (l *loader) bias(name string, n int, required bool) []float32 {
	if _, ok := l.src.Tensor(name); !ok && !required {
		return nil
	}
	return l.floats(name, n)
}

// in names the file holding a tensor, where the source knows it.
func (l *loader) in(name string) string {
	if f, ok := l.src.(interface{ File(string) string }); ok {
		if path := f.File(name); path != "" {
			return " (in " + filepath.Base(path) + ")"
		}
	}
	return ""
}

func (l *loader) matrix(name string, rows, cols int) *matrix {
	return l.matrixOf(name, rows, cols, rows, cols)
}

// stacked reads a 3-d tensor [n, rows, cols] as one matrix [n*rows, cols].
func (l *loader) stacked(name string, n, rows, cols int) *matrix {
	return l.matrixOf(name, n*rows, cols, n, rows, cols)
}

// matrixOf reads a tensor of the given shape as a matrix [rows, cols].
func (l *loader) matrixOf(name string, rows, cols int, shape ...int) *matrix {
	buf, dt, ok := l.read(name, shape...)
	if !ok {
		return nil
	}
	if l.bf16dot && dt == tensor.BF16 {
		return &matrix{rows: rows, cols: cols, dt: dt, raw: buf, bf16dot: true}
	}
	if l.compact && (dt == tensor.BF16 || dt == tensor.F16) {
		return &matrix{rows: rows, cols: cols, dt: dt, raw: buf}
	}
	f := make([]float32, rows*cols)
	if err := tensor.Decode(f, buf, dt); err != nil {
		l.err = fmt.Errorf("decode tensor %s: %w", name, err)
		return nil
	}
	return &matrix{rows: rows, cols: cols, dt: tensor.F32, f32: f}
}

// matrix is a weight [rows, cols], row-major, as float32 or as 16-bit
// stored bytes that are widened a row at a time.
type matrix struct {
	rows, cols int
	dt         tensor.DType
	f32        []float32
	raw        []byte
	bf16dot    bool // raw is bf16 and the packed path uses matmulBF16
}

// rowsInto returns rows [lo, hi) as float32, widening into buf if needed.
func (w *matrix) rowsInto(lo, hi int, buf []float32) []float32 {
	if w.f32 != nil {
		return w.f32[lo*w.cols : hi*w.cols]
	}
	n := (hi - lo) * w.cols
	sz := w.dt.Size()
	// The dtype and lengths were checked at load; Decode cannot fail here.
	_ = tensor.Decode(buf[:n], w.raw[lo*w.cols*sz:hi*w.cols*sz], w.dt)
	return buf[:n]
}

// invSqrt is 1/sqrt(x) in float32 as torch.rsqrt computes it on float32.
func invSqrt(x float64) float32 { return float32(1 / math.Sqrt(float64(float32(x)))) }
