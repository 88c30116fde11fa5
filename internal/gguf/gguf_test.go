package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

func TestHeaderRoundTrip(t *testing.T) {
	h := &Header{
		KV: []KV{
			{"u8", uint8(7)}, {"i8", int8(-7)}, {"u16", uint16(700)}, {"i16", int16(-700)},
			{"u32", uint32(70000)}, {"i32", int32(-70000)}, {"f32", float32(1.5)}, {"bool", true},
			{"str", "héllo"}, {"u64", uint64(1 << 40)}, {"i64", int64(-1 << 40)}, {"f64", 2.25},
			{"strs", []string{"a", "", "<0x0A>"}}, {"f32s", []float32{1, -2}}, {"i32s", []int32{3, -4}},
			{"u32s", []uint32{5}}, {"u8s", []uint8{}}, {"i64s", []int64{-6}},
		},
		Tensors: []Tensor{
			{Name: "a", Type: F32, Shape: []uint64{3}},
			{Name: "b", Type: BF16, Shape: []uint64{5, 3}},
			{Name: "c", Type: F16, Shape: []uint64{32, 2}},
		},
	}
	var buf bytes.Buffer
	if err := WriteHeader(&buf, h); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%Alignment != 0 {
		t.Errorf("header of %d bytes is not padded to %d", buf.Len(), Alignment)
	}
	// a: 12 bytes at 0; b: 30 bytes at 32; c: 128 bytes at 64.
	for i, want := range []uint64{0, 32, 64} {
		if h.Tensors[i].Offset != want {
			t.Errorf("tensor %s at %d, want %d", h.Tensors[i].Name, h.Tensors[i].Offset, want)
		}
	}
	got, dataOff, err := ReadHeader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if dataOff != uint64(buf.Len()) {
		t.Errorf("data at %d, want %d", dataOff, buf.Len())
	}
	if !reflect.DeepEqual(got, h) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, h)
	}
}

func TestWriteHeaderRefuses(t *testing.T) {
	for _, h := range []*Header{
		{KV: []KV{{"x", struct{}{}}}},
		{KV: []KV{{"x", []bool{true}}}},
		{Tensors: []Tensor{{Name: "q", Type: 2, Shape: []uint64{32}}}},
	} {
		if err := WriteHeader(&bytes.Buffer{}, h); err == nil {
			t.Errorf("%+v: no error", h)
		}
	}
}

func TestReadHeaderBad(t *testing.T) {
	var good bytes.Buffer
	if err := WriteHeader(&good, &Header{KV: []KV{{"k", "v"}}, Tensors: []Tensor{{Name: "t", Type: F32, Shape: []uint64{1}}}}); err != nil {
		t.Fatal(err)
	}
	b := good.Bytes()
	for name, data := range map[string][]byte{
		"magic":     append([]byte("GGUG"), b[4:]...),
		"version":   append(append([]byte("GGUF"), 2, 0, 0, 0), b[8:]...),
		"truncated": b[:30],
		"empty":     nil,
		"value type": func() []byte {
			c := bytes.Clone(b)
			// magic, version, counts (24 bytes), key length and "k"
			// (9 bytes): then the value type.
			binary.LittleEndian.PutUint32(c[24+9:], 99)
			return c
		}(),
	} {
		if _, _, err := ReadHeader(bytes.NewReader(data)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: error %v, want ErrFormat", name, err)
		}
	}
}

func TestPermuteRope(t *testing.T) {
	for _, tc := range []struct {
		heads, cols int
		in, want    []float32
	}{
		{1, 1, []float32{0, 1, 2, 3}, []float32{0, 2, 1, 3}},
		{2, 1, []float32{0, 1, 2, 3, 4, 5, 6, 7}, []float32{0, 2, 1, 3, 4, 6, 5, 7}},
		{1, 2, []float32{0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5}, []float32{0, 0.5, 2, 2.5, 1, 1.5, 3, 3.5}},
		{1, 1, []float32{0, 1, 2, 3, 4, 5}, []float32{0, 3, 1, 4, 2, 5}},
	} {
		if got := permuteRope(tc.in, tc.heads, tc.cols); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("permuteRope(%v, %d, %d) = %v, want %v", tc.in, tc.heads, tc.cols, got, tc.want)
		}
	}
}

// gguf is a converted file read back.
type ggufFile struct {
	h    *Header
	data []byte
}

func (g *ggufFile) tensor(t *testing.T, name string) (Tensor, []byte) {
	t.Helper()
	for _, x := range g.h.Tensors {
		if x.Name == name {
			return x, g.data[x.Offset : x.Offset+x.Bytes()]
		}
	}
	t.Fatalf("no tensor %s", name)
	return Tensor{}, nil
}

func convert(t *testing.T, dir string, typ TensorType) *ggufFile {
	t.Helper()
	var buf bytes.Buffer
	if err := ConvertLlama(dir, &buf, typ); err != nil {
		t.Fatal(err)
	}
	h, off, err := ReadHeader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return &ggufFile{h, buf.Bytes()[off:]}
}

// hfRows reads a safetensors tensor as float32 rows.
func hfRows(t *testing.T, dir, name string) ([]float32, safetensors.TensorInfo) {
	t.Helper()
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	info, _ := m.Tensor(name)
	raw := make([]byte, info.Size)
	if err := m.ReadTensor(name, raw); err != nil {
		t.Fatal(err)
	}
	return widen(nil, raw, info.DType), info
}

func decode(b []byte, typ TensorType) []float32 {
	out := make([]float32, len(b)/typ.Size())
	for i := range out {
		switch typ {
		case F32:
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		case BF16:
			out[i] = tensor.BF16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		case F16:
			out[i] = tensor.F16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	}
	return out
}

func TestConvertLlama(t *testing.T) {
	const hidden, inter, heads, kvHeads, vocab, layers = 64, 96, 4, 2, 300, 2
	hd := hidden / heads
	for _, tc := range []struct {
		src  tensor.DType
		typ  TensorType
		tied bool
	}{
		{tensor.BF16, F32, false},
		{tensor.BF16, BF16, false},
		{tensor.F32, BF16, true},
		{tensor.F32, F16, false},
	} {
		t.Run(fmt.Sprintf("%v-to-%v-tied=%v", tc.src, tc.typ, tc.tied), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			s := testmodel.Spec{Hidden: hidden, Intermediate: inter, Layers: layers, Heads: heads, KVHeads: kvHeads,
				Vocab: vocab, DType: tc.src, Tied: tc.tied, Seed: 3}
			if err := testmodel.Write(dir, s); err != nil {
				t.Fatal(err)
			}
			g := convert(t, dir, tc.typ)
			for key, want := range map[string]any{
				"general.architecture":                   "llama",
				"llama.block_count":                      uint32(layers),
				"llama.embedding_length":                 uint32(hidden),
				"llama.feed_forward_length":              uint32(inter),
				"llama.attention.head_count":             uint32(heads),
				"llama.attention.head_count_kv":          uint32(kvHeads),
				"llama.rope.dimension_count":             uint32(hd),
				"llama.rope.freq_base":                   float32(10000),
				"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
				"llama.context_length":                   uint32(128),
				"tokenizer.ggml.model":                   "llama",
			} {
				if got := g.h.Get(key); got != want {
					t.Errorf("%s = %v (%T), want %v (%T)", key, got, got, want, want)
				}
			}
			toks, _ := g.h.Get("tokenizer.ggml.tokens").([]string)
			types, _ := g.h.Get("tokenizer.ggml.token_type").([]int32)
			if len(toks) != vocab || len(types) != vocab || toks[1] != "<s>" || toks[3+10] != "<0x0A>" || types[3+10] != 6 {
				t.Errorf("vocabulary: %d tokens, %d types", len(toks), len(types))
			}
			wantTensors := 2 + 9*layers
			if !tc.tied {
				wantTensors++
			}
			if len(g.h.Tensors) != wantTensors {
				t.Errorf("%d tensors, want %d", len(g.h.Tensors), wantTensors)
			}
			for _, x := range g.h.Tensors {
				if x.Offset%Alignment != 0 {
					t.Errorf("%s at %d, not aligned", x.Name, x.Offset)
				}
				if wantT := tc.typ; len(x.Shape) == 1 && x.Type != F32 || len(x.Shape) == 2 && x.Type != wantT {
					t.Errorf("%s: type %v", x.Name, x.Type)
				}
			}
			if x, _ := g.tensor(t, "blk.1.ffn_down.weight"); !reflect.DeepEqual(x.Shape, []uint64{inter, hidden}) {
				t.Errorf("ffn_down shape %v, want [%d %d]", x.Shape, inter, hidden)
			}

			// Unpermuted tensors carry the values (rounded to the
			// output type); q and k rows move from halves to pairs.
			round := func(v float32) float32 {
				switch tc.typ {
				case BF16:
					return tensor.BF16ToF32(tensor.F32ToBF16(v))
				case F16:
					return tensor.F16ToF32(tensor.F32ToF16(v))
				}
				return v
			}
			for _, c := range []struct {
				hf, g string
				heads int
			}{
				{"model.layers.1.mlp.up_proj.weight", "blk.1.ffn_up.weight", 0},
				{"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight", 0},
				{"model.embed_tokens.weight", "token_embd.weight", 0},
				{"model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight", heads},
				{"model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight", kvHeads},
			} {
				src, info := hfRows(t, dir, c.hf)
				x, b := g.tensor(t, c.g)
				got := decode(b, x.Type)
				cols := int(info.Shape[len(info.Shape)-1])
				for r := range len(src) / cols {
					dst := r
					if c.heads > 0 {
						h, i, j := r/hd, r%hd/(hd/2), r%(hd/2)
						dst = h*hd + 2*j + i
					}
					for k := range cols {
						want := src[r*cols+k]
						if len(info.Shape) == 2 {
							want = round(want)
						}
						if got[dst*cols+k] != want {
							t.Fatalf("%s row %d col %d = %v, want %v (HF row %d)", c.g, dst, k, got[dst*cols+k], want, r)
						}
					}
				}
			}
		})
	}
}

func TestConvertLlamaRefuses(t *testing.T) {
	for name, edit := range map[string]func(dir string) error{
		"mistral": func(dir string) error {
			return rewriteConfig(dir, `"model_type": "llama"`, `"model_type": "mistral"`)
		},
		"bias": func(dir string) error {
			return rewriteConfig(dir, `"model_type": "llama"`, `"model_type": "llama", "attention_bias": true`)
		},
		"gelu": func(dir string) error {
			return rewriteConfig(dir, `"hidden_act": "silu"`, `"hidden_act": "gelu"`)
		},
		"rope scaling": func(dir string) error {
			return rewriteConfig(dir, `"model_type": "llama"`, `"model_type": "llama", "rope_scaling": {"rope_type": "llama3", "factor": 8}`)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			if err := testmodel.Write(dir, testmodel.Spec{Vocab: 300}); err != nil {
				t.Fatal(err)
			}
			if err := edit(dir); err != nil {
				t.Fatal(err)
			}
			if err := ConvertLlama(dir, &bytes.Buffer{}, F32); err == nil {
				t.Error("no error")
			}
		})
	}
	if err := ConvertLlama(t.TempDir(), &bytes.Buffer{}, BF16); err == nil {
		t.Error("empty directory: no error")
	}
	small := filepath.Join(t.TempDir(), "m")
	if err := testmodel.Write(small, testmodel.Spec{Vocab: 200}); err != nil {
		t.Fatal(err)
	}
	if err := ConvertLlama(small, &bytes.Buffer{}, F32); err == nil || !strings.Contains(err.Error(), "placeholder") {
		t.Errorf("vocabulary of 200: error %v, want one about the placeholder vocabulary", err)
	}
}

func rewriteConfig(dir, old, new string) error {
	p := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if !bytes.Contains(b, []byte(old)) {
		return fmt.Errorf("config.json has no %s:\n%s", old, b)
	}
	return os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644)
}
