package gguf

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// llamaConfig is the part of a Llama config.json that llama.cpp's "llama"
// architecture needs.
type llamaConfig struct {
	ModelType     string   `json:"model_type"`
	Vocab         int      `json:"vocab_size"`
	Hidden        int      `json:"hidden_size"`
	Intermediate  int      `json:"intermediate_size"`
	Layers        int      `json:"num_hidden_layers"`
	Heads         int      `json:"num_attention_heads"`
	KVHeads       int      `json:"num_key_value_heads"`
	HeadDim       int      `json:"head_dim"`
	MaxPos        int      `json:"max_position_embeddings"`
	Eps           *float64 `json:"rms_norm_eps"`
	Theta         *float64 `json:"rope_theta"`
	Tied          bool     `json:"tie_word_embeddings"`
	Act           string   `json:"hidden_act"`
	AttnBias      bool     `json:"attention_bias"`
	MLPBias       bool     `json:"mlp_bias"`
	RopeScaling   any      `json:"rope_scaling"`
	RopeParams    any      `json:"rope_parameters"`
	BOS           *int     `json:"bos_token_id"`
	EOS           any      `json:"eos_token_id"`
	Architectures []string `json:"architectures"`
}

func readLlamaConfig(dir string) (*llamaConfig, error) {
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	var c llamaConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s/config.json: %w", dir, err)
	}
	if c.ModelType != "llama" {
		return nil, fmt.Errorf("%s/config.json: model_type %q, want llama", dir, c.ModelType)
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.Vocab <= 0 || c.Hidden <= 0 || c.Intermediate <= 0 || c.Layers <= 0 || c.Heads <= 0 ||
		c.KVHeads <= 0 || c.Heads%c.KVHeads != 0 || (c.HeadDim == 0 && c.Hidden%c.Heads != 0) {
		return nil, fmt.Errorf("%s/config.json: bad shape: vocab %d hidden %d intermediate %d layers %d heads %d/%d",
			dir, c.Vocab, c.Hidden, c.Intermediate, c.Layers, c.Heads, c.KVHeads)
	}
	if c.HeadDim == 0 {
		c.HeadDim = c.Hidden / c.Heads
	}
	if c.HeadDim%2 != 0 {
		return nil, fmt.Errorf("%s/config.json: odd head_dim %d", dir, c.HeadDim)
	}
	// What the "llama" graph of llama.cpp does not do the way
	// transformers does is refused rather than converted wrongly.
	if c.Act != "" && c.Act != "silu" {
		return nil, fmt.Errorf("%s/config.json: hidden_act %q, want silu", dir, c.Act)
	}
	if c.AttnBias || c.MLPBias {
		return nil, fmt.Errorf("%s/config.json: attention or MLP biases are not converted", dir)
	}
	if c.RopeScaling != nil {
		return nil, fmt.Errorf("%s/config.json: rope_scaling is not converted", dir)
	}
	if p, ok := c.RopeParams.(map[string]any); ok {
		if t, _ := p["rope_type"].(string); t != "" && t != "default" {
			return nil, fmt.Errorf("%s/config.json: rope_type %q is not converted", dir, t)
		}
		if th, ok := p["rope_theta"].(float64); ok && c.Theta == nil {
			c.Theta = &th
		}
	}
	if c.Eps == nil {
		e := 1e-6
		c.Eps = &e
	}
	if c.Theta == nil {
		t := 10000.0
		c.Theta = &t
	}
	if c.MaxPos <= 0 {
		c.MaxPos = 2048
	}
	return &c, nil
}

// llamaLayer matches a Hugging Face Llama layer tensor name.
var llamaLayer = regexp.MustCompile(`^model\.layers\.(\d+)\.(.+)$`)

var llamaLayerNames = map[string]string{
	"input_layernorm.weight":          "attn_norm.weight",
	"self_attn.q_proj.weight":         "attn_q.weight",
	"self_attn.k_proj.weight":         "attn_k.weight",
	"self_attn.v_proj.weight":         "attn_v.weight",
	"self_attn.o_proj.weight":         "attn_output.weight",
	"post_attention_layernorm.weight": "ffn_norm.weight",
	"mlp.gate_proj.weight":            "ffn_gate.weight",
	"mlp.up_proj.weight":              "ffn_up.weight",
	"mlp.down_proj.weight":            "ffn_down.weight",
}

func llamaName(hf string, layers int) (string, bool) {
	switch hf {
	case "model.embed_tokens.weight":
		return "token_embd.weight", true
	case "model.norm.weight":
		return "output_norm.weight", true
	case "lm_head.weight":
		return "output.weight", true
	}
	m := llamaLayer.FindStringSubmatch(hf)
	if m == nil {
		return "", false
	}
	i, err := strconv.Atoi(m[1])
	if err != nil || i >= layers {
		return "", false
	}
	g, ok := llamaLayerNames[m[2]]
	if !ok {
		return "", false
	}
	return "blk." + m[1] + "." + g, true
}

// dummyVocab is a SentencePiece-style vocabulary of n tokens in Llama 2's
// layout: <unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF>, then
// placeholder pieces. llama.cpp needs a vocabulary to load a model (and
// the byte token of "\n"); llama-bench only feeds it token ids.
func dummyVocab(n int) (tokens []string, scores []float32, types []int32) {
	const (
		normal  = 1
		unknown = 2
		control = 3
		byteTok = 6
	)
	for i := range n {
		var s string
		t := int32(normal)
		switch {
		case i == 0:
			s, t = "<unk>", unknown
		case i == 1:
			s, t = "<s>", control
		case i == 2:
			s, t = "</s>", control
		case i < 3+256:
			s, t = fmt.Sprintf("<0x%02X>", i-3), byteTok
		default:
			s = fmt.Sprintf("▁t%d", i)
		}
		tokens = append(tokens, s)
		scores = append(scores, -float32(i))
		types = append(types, t)
	}
	return tokens, scores, types
}

// ConvertLlama writes the Llama model in the Hugging Face directory dir
// (config.json and safetensors) to w as a GGUF file for llama.cpp's
// "llama" architecture: the matrices as typ (F32, F16 or BF16), the norms
// as F32, the query and key rows reordered from transformers' rotary layout
// (halves) to ggml's (pairs) as llama.cpp's convert_hf_to_gguf.py does, and
// a placeholder vocabulary of the model's size (the model's own tokenizer
// is not converted). A tied model gets no output.weight; llama.cpp then
// uses token_embd.weight, as transformers does.
func ConvertLlama(dir string, w io.Writer, typ TensorType) error {
	if typ != F32 && typ != F16 && typ != BF16 {
		return fmt.Errorf("gguf: convert to %v: want F32, F16 or BF16", typ)
	}
	c, err := readLlamaConfig(dir)
	if err != nil {
		return err
	}
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		return err
	}
	defer m.Close()

	vocab := c.Vocab
	if vocab < 3+256 {
		return fmt.Errorf("gguf: vocab_size %d: the placeholder vocabulary needs at least 259 tokens", vocab)
	}
	tokens, scores, types := dummyVocab(vocab)
	bos, eos := uint32(1), uint32(2)
	if c.BOS != nil && *c.BOS >= 0 && *c.BOS < vocab {
		bos = uint32(*c.BOS)
	}
	if e, ok := c.EOS.(float64); ok && e >= 0 && int(e) < vocab {
		eos = uint32(e)
	}
	name := filepath.Base(filepath.Clean(dir))
	h := &Header{KV: []KV{
		{"general.architecture", "llama"},
		{"general.name", name},
		{"general.file_type", uint32(map[TensorType]uint32{F32: 0, F16: 1, BF16: 32}[typ])},
		{"llama.vocab_size", uint32(vocab)},
		{"llama.context_length", uint32(c.MaxPos)},
		{"llama.embedding_length", uint32(c.Hidden)},
		{"llama.block_count", uint32(c.Layers)},
		{"llama.feed_forward_length", uint32(c.Intermediate)},
		{"llama.attention.head_count", uint32(c.Heads)},
		{"llama.attention.head_count_kv", uint32(c.KVHeads)},
		{"llama.attention.key_length", uint32(c.HeadDim)},
		{"llama.attention.value_length", uint32(c.HeadDim)},
		{"llama.rope.dimension_count", uint32(c.HeadDim)},
		{"llama.rope.freq_base", float32(*c.Theta)},
		{"llama.attention.layer_norm_rms_epsilon", float32(*c.Eps)},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.scores", scores},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.bos_token_id", bos},
		{"tokenizer.ggml.eos_token_id", eos},
		{"tokenizer.ggml.unknown_token_id", uint32(0)},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_eos_token", false},
	}}

	type source struct {
		hf   string
		info safetensors.TensorInfo
	}
	var srcs []source
	seen := map[string]bool{}
	for _, hf := range m.Names() {
		g, ok := llamaName(hf, c.Layers)
		if !ok {
			if endsWith(hf, "rotary_emb.inv_freq") {
				continue // recomputed by llama.cpp
			}
			// Biases, extra norms, other layers: a model the "llama"
			// graph would run differently.
			return fmt.Errorf("gguf: %s: tensor %s has no place in a llama GGUF", dir, hf)
		}
		info, _ := m.Tensor(hf)
		switch info.DType {
		case safetensors.F32, safetensors.BF16, safetensors.F16:
		default:
			return fmt.Errorf("gguf: %s: tensor %s has dtype %s", dir, hf, info.DType)
		}
		tt := typ
		if len(info.Shape) == 1 {
			tt = F32
		} else if len(info.Shape) != 2 {
			return fmt.Errorf("gguf: %s: tensor %s has shape %v", dir, hf, info.Shape)
		}
		shape := make([]uint64, len(info.Shape))
		for i, d := range info.Shape {
			shape[len(shape)-1-i] = uint64(d)
		}
		if err := checkLlamaShape(c, g, info.Shape); err != nil {
			return fmt.Errorf("gguf: %s: tensor %s: %w", dir, hf, err)
		}
		seen[g] = true
		srcs = append(srcs, source{hf, info})
		h.Tensors = append(h.Tensors, Tensor{Name: g, Type: tt, Shape: shape})
	}
	want := []string{"token_embd.weight", "output_norm.weight"}
	for i := range c.Layers {
		for _, g := range llamaLayerNames {
			want = append(want, fmt.Sprintf("blk.%d.%s", i, g))
		}
	}
	if !c.Tied {
		want = append(want, "output.weight")
	}
	for _, g := range want {
		if !seen[g] {
			return fmt.Errorf("gguf: %s: no tensor for %s", dir, g)
		}
	}

	bw := bufio.NewWriterSize(w, 1<<20)
	if err := WriteHeader(bw, h); err != nil {
		return err
	}
	var raw []byte
	var f32 []float32
	for i, s := range srcs {
		t := h.Tensors[i]
		raw = grow(raw, int(s.info.Size))
		if err := m.ReadTensor(s.hf, raw); err != nil {
			return fmt.Errorf("gguf: read %s: %w", s.hf, err)
		}
		f32 = widen(f32, raw, s.info.DType)
		switch {
		case endsWith(t.Name, ".attn_q.weight"):
			f32 = permuteRope(f32, c.Heads, int(s.info.Shape[1]))
		case endsWith(t.Name, ".attn_k.weight"):
			f32 = permuteRope(f32, c.KVHeads, int(s.info.Shape[1]))
		}
		if err := writeAs(bw, f32, t.Type); err != nil {
			return err
		}
		if _, err := bw.Write(make([]byte, Padding(t.Bytes()))); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// checkLlamaShape checks the PyTorch shape of the tensor that becomes g.
func checkLlamaShape(c *llamaConfig, g string, shape []int64) error {
	h, m, v := int64(c.Hidden), int64(c.Intermediate), int64(c.Vocab)
	q, kv := int64(c.Heads*c.HeadDim), int64(c.KVHeads*c.HeadDim)
	var want []int64
	switch {
	case g == "token_embd.weight" || g == "output.weight":
		want = []int64{v, h}
	case g == "output_norm.weight" || endsWith(g, ".attn_norm.weight") || endsWith(g, ".ffn_norm.weight"):
		want = []int64{h}
	case endsWith(g, ".attn_q.weight"):
		want = []int64{q, h}
	case endsWith(g, ".attn_k.weight") || endsWith(g, ".attn_v.weight"):
		want = []int64{kv, h}
	case endsWith(g, ".attn_output.weight"):
		want = []int64{h, q}
	case endsWith(g, ".ffn_gate.weight") || endsWith(g, ".ffn_up.weight"):
		want = []int64{m, h}
	case endsWith(g, ".ffn_down.weight"):
		want = []int64{h, m}
	}
	if len(want) != len(shape) {
		return fmt.Errorf("shape %v, want %v", shape, want)
	}
	for i := range want {
		if want[i] != shape[i] {
			return fmt.Errorf("shape %v, want %v", shape, want)
		}
	}
	return nil
}

func endsWith(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}

func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// widen decodes raw safetensors data of dtype dt into float32s.
func widen(dst []float32, raw []byte, dt safetensors.DType) []float32 {
	n := len(raw) / dt.Size()
	dst = grow(dst, n)
	for i := range dst {
		switch dt {
		case safetensors.F32:
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		case safetensors.BF16:
			dst[i] = tensor.BF16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		case safetensors.F16:
			dst[i] = tensor.F16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	}
	return dst
}

// permuteRope reorders the rows of a query or key projection (heads ×
// headDim rows of cols) from transformers' rotary layout, where row j and
// row j+headDim/2 of a head form a rotated pair, to ggml's, where rows 2j
// and 2j+1 do: convert_hf_to_gguf.py's LlamaModel.permute.
func permuteRope(w []float32, heads, cols int) []float32 {
	rows := len(w) / cols
	hd := rows / heads
	out := make([]float32, len(w))
	for h := range heads {
		for i := range 2 {
			for j := range hd / 2 {
				src := h*hd + i*hd/2 + j
				dst := h*hd + 2*j + i
				copy(out[dst*cols:(dst+1)*cols], w[src*cols:(src+1)*cols])
			}
		}
	}
	return out
}

// writeAs writes x as little-endian elements of type t.
func writeAs(w io.Writer, x []float32, t TensorType) error {
	const chunk = 1 << 16
	buf := make([]byte, 0, chunk*4)
	for len(x) > 0 {
		n := min(len(x), chunk)
		buf = buf[:0]
		for _, v := range x[:n] {
			switch t {
			case F32:
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			case BF16:
				buf = binary.LittleEndian.AppendUint16(buf, tensor.F32ToBF16(v))
			case F16:
				buf = binary.LittleEndian.AppendUint16(buf, tensor.F32ToF16(v))
			}
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		x = x[n:]
	}
	return nil
}
