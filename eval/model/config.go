package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// ErrConfig is wrapped by every error about config.json: a missing or
// ill-typed field, an unknown architecture or an unsupported rope type.
var ErrConfig = errors.New("config.json")

// Layer types as transformers names them in config.json's layer_types.
const (
	fullAttention    = "full_attention"
	slidingAttention = "sliding_attention"
)

// rope describes the rotary embedding of one kind of layer: the inverse
// frequencies HF computes (in float32, as its rotary modules do) and the
// attention scaling some rope types apply to cos and sin.
type rope struct {
	theta   float64
	kind    string // default, linear, llama3
	invFreq []float32
}

// config is the part of config.json the forward pass needs, with every
// family's defaults filled in.
type config struct {
	family    string // model_type: llama, mistral, …, mixtral, qwen2_moe, qwen3_moe, deepseek
	base      string // the dense family whose attention and norms it uses
	vocab     int
	hidden    int
	inter     int
	layers    int
	heads     int
	kvHeads   int
	headDim   int
	eps       float64
	maxPos    int
	bos       int
	eos       []int
	tied      bool
	attnBias  bool // q, k, v, o biases (Llama's attention_bias)
	qkvBias   bool // q, k, v biases only (Qwen2)
	mlpBias   bool
	qkNorm    bool // per-head RMSNorm of q and k (Qwen3, Gemma3)
	gemmaNorm bool // RMSNorm scales by 1+w
	sandwich  bool // Gemma2/3: post-attention, pre- and post-feedforward norms
	embScale  bool // multiply embeddings by sqrt(hidden)
	act       string
	scaling   float64 // attention score scale
	attnCap   float64 // attention logit soft-capping, 0 = none
	finalCap  float64 // final logit soft-capping, 0 = none
	window    int     // sliding window size, 0 = none
	sliding   []bool  // per layer: uses the sliding window
	local     []bool  // per layer: layer type is sliding_attention
	ropes     []*rope // per layer
	moe       *moeConfig
}

// families maps model_type to the dense family whose attention, norms and
// embeddings it uses; the mixtures of experts add their MoE blocks (moe.go).
var families = map[string]string{
	"llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "qwen3": "qwen3",
	"gemma": "gemma", "gemma2": "gemma2", "gemma3_text": "gemma3_text",
	"mixtral": "mistral", "qwen2_moe": "qwen2", "qwen3_moe": "qwen3", "deepseek": "llama",
}

// architectures maps the architectures entry to a model_type when
// model_type is absent.
var architectures = map[string]string{
	"LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral", "Qwen2ForCausalLM": "qwen2",
	"Qwen3ForCausalLM": "qwen3", "GemmaForCausalLM": "gemma", "Gemma2ForCausalLM": "gemma2",
	"Gemma3ForCausalLM": "gemma3_text", "MixtralForCausalLM": "mixtral", "Qwen2MoeForCausalLM": "qwen2_moe",
	"Qwen3MoeForCausalLM": "qwen3_moe", "DeepseekForCausalLM": "deepseek",
}

// fields reads typed values out of a decoded config.json, remembering the
// first error.
type fields struct {
	m   map[string]any
	err error
}

func (f *fields) fail(key, format string, args ...any) {
	if f.err == nil {
		f.err = fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, args...))
	}
}

func (f *fields) has(key string) bool {
	v, ok := f.m[key]
	return ok && v != nil
}

func (f *fields) num(key string, def float64) float64 {
	v, ok := f.m[key]
	if !ok || v == nil {
		return def
	}
	n, ok := v.(json.Number)
	if !ok {
		f.fail(key, "want a number, got %v", v)
		return def
	}
	x, err := n.Float64()
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		f.fail(key, "bad number %s", n)
		return def
	}
	return x
}

func (f *fields) int(key string, def int) int {
	x := f.num(key, float64(def))
	if x != math.Trunc(x) || math.Abs(x) > 1<<40 {
		f.fail(key, "want an integer, got %v", x)
		return def
	}
	return int(x)
}

func (f *fields) bool(key string, def bool) bool {
	v, ok := f.m[key]
	if !ok || v == nil {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		f.fail(key, "want true or false, got %v", v)
		return def
	}
	return b
}

func (f *fields) str(key, def string) string {
	v, ok := f.m[key]
	if !ok || v == nil {
		return def
	}
	s, ok := v.(string)
	if !ok {
		f.fail(key, "want a string, got %v", v)
		return def
	}
	return s
}

func (f *fields) obj(key string) *fields {
	v, ok := f.m[key]
	if !ok || v == nil {
		return nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		f.fail(key, "want an object, got %v", v)
		return nil
	}
	return &fields{m: o}
}

// ids reads a token id or a list of them (eos_token_id may be either).
func (f *fields) ids(key string) []int {
	v, ok := f.m[key]
	if !ok || v == nil {
		return nil
	}
	var list []any
	switch v := v.(type) {
	case json.Number:
		list = []any{v}
	case []any:
		list = v
	default:
		f.fail(key, "want a token id or a list of them, got %v", v)
		return nil
	}
	var out []int
	for _, e := range list {
		n, ok := e.(json.Number)
		x, err := n.Int64()
		if !ok || err != nil || x < 0 || x > 1<<40 {
			f.fail(key, "bad token id %v", e)
			return nil
		}
		out = append(out, int(x))
	}
	return out
}

// parseConfig reads config.json in the form transformers 4 or 5 writes it.
func parseConfig(data []byte) (*config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrConfig)
	}
	f := &fields{m: m}
	c, err := fromFields(f)
	if err == nil {
		err = f.err
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func fromFields(f *fields) (*config, error) {
	mt := f.str("model_type", "")
	if mt == "" {
		if a, ok := f.m["architectures"].([]any); ok && len(a) > 0 {
			s, _ := a[0].(string)
			mt = architectures[s]
		}
	}
	fam, ok := families[mt]
	if !ok {
		return nil, fmt.Errorf("%w: model_type %q is not supported (want one of llama, mistral, qwen2, qwen3, gemma, gemma2, gemma3_text, mixtral, qwen2_moe, qwen3_moe, deepseek)", ErrConfig, mt)
	}
	gemma := fam == "gemma" || fam == "gemma2" || fam == "gemma3_text"
	c := &config{family: mt, base: fam}
	c.vocab = f.int("vocab_size", 0)
	c.hidden = f.int("hidden_size", 0)
	c.inter = f.int("intermediate_size", 0)
	c.layers = f.int("num_hidden_layers", 0)
	c.heads = f.int("num_attention_heads", 0)
	c.kvHeads = f.int("num_key_value_heads", c.heads)
	if c.heads > 0 {
		c.headDim = f.int("head_dim", c.hidden/c.heads)
	}
	c.eps = f.num("rms_norm_eps", 1e-6)
	c.maxPos = f.int("max_position_embeddings", 2048)
	c.bos = -1
	if b := f.ids("bos_token_id"); len(b) > 0 {
		c.bos = b[0]
	}
	c.eos = f.ids("eos_token_id")
	c.tied = f.bool("tie_word_embeddings", gemma)
	if f.err != nil {
		return nil, f.err
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"vocab_size", c.vocab}, {"hidden_size", c.hidden}, {"intermediate_size", c.inter},
		{"num_hidden_layers", c.layers}, {"num_attention_heads", c.heads}, {"num_key_value_heads", c.kvHeads},
		{"head_dim", c.headDim}, {"max_position_embeddings", c.maxPos}} {
		if v.n <= 0 || v.n > 1<<24 {
			return nil, fmt.Errorf("%w: %s must be a positive integer, got %d", ErrConfig, v.name, v.n)
		}
	}
	if !f.has("head_dim") && c.hidden%c.heads != 0 {
		return nil, fmt.Errorf("%w: hidden_size %d is not a multiple of num_attention_heads %d (and there is no head_dim)", ErrConfig, c.hidden, c.heads)
	}
	if c.eps < 0 {
		// 0 is legal (HF adds eps under the square root); a negative
		// eps makes the root of a small mean square NaN.
		return nil, fmt.Errorf("%w: rms_norm_eps %v must not be negative", ErrConfig, c.eps)
	}
	for _, id := range append([]int{c.bos}, c.eos...) {
		if id >= c.vocab {
			return nil, fmt.Errorf("%w: token id %d (bos_token_id or eos_token_id) is outside vocab_size %d", ErrConfig, id, c.vocab)
		}
	}
	if c.heads%c.kvHeads != 0 {
		return nil, fmt.Errorf("%w: num_attention_heads %d is not a multiple of num_key_value_heads %d", ErrConfig, c.heads, c.kvHeads)
	}
	if c.headDim%2 != 0 {
		return nil, fmt.Errorf("%w: head_dim %d must be even for rotary embeddings", ErrConfig, c.headDim)
	}
	if c.layers > 1<<12 {
		return nil, fmt.Errorf("%w: num_hidden_layers %d is too large", ErrConfig, c.layers)
	}
	if f.num("partial_rotary_factor", 1) != 1 {
		return nil, fmt.Errorf("%w: partial_rotary_factor other than 1 is not supported", ErrConfig)
	}

	c.act = "silu"
	if gemma {
		c.act = f.str("hidden_activation", "")
		if c.act == "" {
			c.act = "gelu_pytorch_tanh"
		}
	} else {
		c.act = f.str("hidden_act", "silu")
	}
	switch c.act {
	case "silu", "swish", "gelu_pytorch_tanh", "gelu_tanh", "gelu", "gelu_new":
	default:
		return nil, fmt.Errorf("%w: activation %q is not supported", ErrConfig, c.act)
	}

	c.scaling = 1 / math.Sqrt(float64(c.headDim))
	switch fam {
	case "llama":
		c.attnBias = f.bool("attention_bias", false)
		c.mlpBias = f.bool("mlp_bias", false)
	case "mistral":
	case "qwen2":
		// Qwen2-MoE's config has qkv_bias (transformers 5); Qwen2 always
		// has the biases.
		c.qkvBias = f.bool("qkv_bias", true)
	case "qwen3":
		c.attnBias = f.bool("attention_bias", false)
		c.qkNorm = true
	case "gemma":
		c.attnBias = f.bool("attention_bias", false)
		c.gemmaNorm, c.embScale = true, true
	case "gemma2", "gemma3_text":
		c.attnBias = f.bool("attention_bias", false)
		c.gemmaNorm, c.embScale, c.sandwich = true, true, true
		c.qkNorm = fam == "gemma3_text"
		qpas := f.num("query_pre_attn_scalar", 256)
		if qpas <= 0 {
			return nil, fmt.Errorf("%w: query_pre_attn_scalar %v must be positive", ErrConfig, qpas)
		}
		c.scaling = 1 / math.Sqrt(qpas)
		c.attnCap = f.num("attn_logit_softcapping", map[bool]float64{true: 50}[fam == "gemma2"])
		c.finalCap = f.num("final_logit_softcapping", map[bool]float64{true: 30}[fam == "gemma2"])
	}
	if f.err != nil {
		return nil, f.err
	}
	if c.attnCap < 0 || c.finalCap < 0 {
		return nil, fmt.Errorf("%w: soft-capping must not be negative", ErrConfig)
	}
	if err := c.layerTypes(f); err != nil {
		return nil, err
	}
	if err := c.ropeFor(f); err != nil {
		return nil, err
	}
	if err := c.moeFor(f); err != nil {
		return nil, err
	}
	return c, nil
}

// layerTypes decides which layers use the sliding window: layer_types when
// given, else each family's default pattern.
func (c *config) layerTypes(f *fields) error {
	c.window = f.int("sliding_window", 0)
	if f.err != nil {
		return f.err
	}
	if c.window < 0 {
		return fmt.Errorf("%w: sliding_window must not be negative", ErrConfig)
	}
	types := make([]string, c.layers)
	if lt, ok := f.m["layer_types"].([]any); ok {
		if len(lt) != c.layers {
			return fmt.Errorf("%w: layer_types has %d entries for %d layers", ErrConfig, len(lt), c.layers)
		}
		for i, v := range lt {
			s, _ := v.(string)
			if s != fullAttention && s != slidingAttention {
				return fmt.Errorf("%w: layer_types[%d] %v is not full_attention or sliding_attention", ErrConfig, i, v)
			}
			types[i] = s
		}
	} else if f.has("layer_types") {
		return fmt.Errorf("%w: layer_types must be a list", ErrConfig)
	} else {
		for i := range types {
			types[i] = fullAttention
			switch c.base {
			case "gemma2":
				if i%2 == 0 {
					types[i] = slidingAttention
				}
			case "gemma3_text":
				p := f.int("sliding_window_pattern", f.int("_sliding_window_pattern", 6))
				if p > 0 && (i+1)%p != 0 {
					types[i] = slidingAttention
				}
			case "mistral":
				if c.window > 0 {
					types[i] = slidingAttention
				}
			case "qwen2", "qwen3":
				if f.bool("use_sliding_window", false) && i >= f.int("max_window_layers", c.layers) {
					types[i] = slidingAttention
				}
			}
		}
	}
	if (c.base == "qwen2" || c.base == "qwen3") && !f.bool("use_sliding_window", false) {
		c.window = 0
	}
	c.sliding = make([]bool, c.layers)
	c.local = make([]bool, c.layers)
	for i, t := range types {
		c.local[i] = t == slidingAttention
		c.sliding[i] = c.local[i] && c.window > 0
	}
	return f.err
}

// ropeFor reads the rotary embedding parameters: rope_parameters
// (transformers 5; for Gemma3 one object per layer type) or rope_theta and
// rope_scaling (transformers 4; Gemma3's sliding layers use
// rope_local_base_freq).
func (c *config) ropeFor(f *fields) error {
	full, local := f.obj("rope_parameters"), (*fields)(nil)
	if full != nil {
		if sub := full.obj(fullAttention); sub != nil {
			local = full.obj(slidingAttention)
			full = sub
		}
		if full.err != nil {
			return full.err
		}
	} else {
		full = f.obj("rope_scaling")
		if full == nil {
			full = &fields{m: map[string]any{}}
		}
		if !full.has("rope_theta") {
			full.m["rope_theta"] = json.Number(fmt.Sprint(f.num("rope_theta", 10000)))
		}
		if c.base == "gemma3_text" {
			local = &fields{m: map[string]any{"rope_type": "default",
				"rope_theta": json.Number(fmt.Sprint(f.num("rope_local_base_freq", 10000)))}}
		}
	}
	if f.err != nil {
		return f.err
	}
	g, err := c.newRope(full)
	if err != nil {
		return err
	}
	l := g
	if local != nil {
		if l, err = c.newRope(local); err != nil {
			return err
		}
	}
	c.ropes = make([]*rope, c.layers)
	for i := range c.ropes {
		c.ropes[i] = g
		if c.local[i] {
			c.ropes[i] = l
		}
	}
	return nil
}

// newRope computes HF's inverse frequencies for one set of rope parameters.
func (c *config) newRope(p *fields) (*rope, error) {
	kind := p.str("rope_type", p.str("type", "default"))
	r := &rope{theta: p.num("rope_theta", 10000), kind: kind}
	if p.err != nil {
		return nil, p.err
	}
	if r.theta <= 0 {
		return nil, fmt.Errorf("%w: rope_theta must be positive", ErrConfig)
	}
	d := c.headDim
	inv := make([]float64, d/2)
	for i := range inv {
		// HF: 1 / base**(arange(0, d, 2).float() / d), in float32.
		e := float32(float32(2*i) / float32(d))
		inv[i] = float64(float32(1 / float32(math.Pow(r.theta, float64(e)))))
	}
	switch kind {
	case "default":
	case "linear":
		factor := p.num("factor", 1)
		if factor <= 0 {
			return nil, fmt.Errorf("%w: rope_scaling factor must be positive", ErrConfig)
		}
		for i := range inv {
			inv[i] /= factor
		}
	case "llama3":
		factor := p.num("factor", 8)
		lo := p.num("low_freq_factor", 1)
		hi := p.num("high_freq_factor", 4)
		old := p.num("original_max_position_embeddings", 8192)
		if p.err != nil {
			return nil, p.err
		}
		if factor <= 0 || lo <= 0 || hi <= lo || old <= 0 {
			return nil, fmt.Errorf("%w: llama3 rope scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0", ErrConfig)
		}
		loWave, hiWave := old/lo, old/hi
		for i, f := range inv {
			wave := 2 * math.Pi / f
			switch {
			case wave < hiWave:
			case wave > loWave:
				inv[i] = f / factor
			default:
				s := (old/wave - lo) / (hi - lo)
				inv[i] = (1-s)*f/factor + s*f
			}
		}
	default:
		return nil, fmt.Errorf("%w: rope type %q is not supported (want default, linear or llama3)", ErrConfig, kind)
	}
	if p.err != nil {
		return nil, p.err
	}
	r.invFreq = make([]float32, len(inv))
	for i, f := range inv {
		r.invFreq[i] = float32(f)
	}
	return r, nil
}
