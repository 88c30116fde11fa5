package model

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// ErrLlama2C is wrapped by errors about a malformed llama2.c checkpoint.
var ErrLlama2C = errors.New("invalid llama2.c checkpoint")

// llama2c is a llama2.c checkpoint (the legacy format of run.c): a header
// of seven int32s and float32 weights.
type llama2c struct {
	dim, hidden, layers, heads, kvHeads, vocab, seqLen int
	shared                                             bool
	tensors                                            map[string][]float32
	order                                              []string
	shapes                                             map[string][]int64
}

// ConvertLlama2C converts the llama2.c checkpoint at binPath (the format of
// Karpathy's run.c: dim, hidden_dim, n_layers, n_heads, n_kv_heads,
// vocab_size — negative when the classifier is not shared with the
// embedding — and seq_len as int32, then float32 weights) into a Hugging
// Face Llama directory outDir (created if needed): config.json and an F32
// model.safetensors. The rows of the query and key projections are
// permuted from llama2.c's interleaved rotary pairs to HF's rotate-half
// layout, as llama2.c's export.py does; rms_norm_eps is 1e-5 and rope_theta
// 10000, the values run.c uses.
func ConvertLlama2C(binPath, outDir string) error {
	f, err := regfile.Open(binPath)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	ck, err := readLlama2C(f, st.Size())
	if err != nil {
		return fmt.Errorf("%s: %w", binPath, err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	if err := ck.write(outDir); err != nil {
		return fmt.Errorf("convert %s: %w", binPath, err)
	}
	return nil
}

// readLlama2C reads and checks a checkpoint of size bytes.
func readLlama2C(r io.ReaderAt, size int64) (*llama2c, error) {
	var hdr [7]int32
	if err := binary.Read(io.NewSectionReader(r, 0, 28), binary.LittleEndian, &hdr); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrLlama2C, err)
	}
	ck := &llama2c{dim: int(hdr[0]), hidden: int(hdr[1]), layers: int(hdr[2]), heads: int(hdr[3]),
		kvHeads: int(hdr[4]), vocab: int(hdr[5]), seqLen: int(hdr[6])}
	ck.shared = ck.vocab > 0
	if ck.vocab < 0 {
		ck.vocab = -ck.vocab
	}
	for _, v := range []int{ck.dim, ck.hidden, ck.layers, ck.heads, ck.kvHeads, ck.vocab, ck.seqLen} {
		if v <= 0 || v > 1<<20 {
			return nil, fmt.Errorf("%w: header %v has a value out of range", ErrLlama2C, hdr)
		}
	}
	if ck.dim%ck.heads != 0 || ck.heads%ck.kvHeads != 0 || (ck.dim/ck.heads)%2 != 0 {
		return nil, fmt.Errorf("%w: header %v: dim, n_heads and n_kv_heads do not fit together", ErrLlama2C, hdr)
	}
	hd := ck.dim / ck.heads
	kv := ck.kvHeads * hd
	L, D, F := int64(ck.layers), int64(ck.dim), int64(ck.hidden)
	want := int64(ck.vocab)*D + L*(2*D+D*D+2*int64(kv)*D+D*D+3*D*F) + D + int64(ck.seqLen)*int64(hd)
	if !ck.shared {
		want += int64(ck.vocab) * D
	}
	if size != 28+4*want {
		return nil, fmt.Errorf("%w: header %v implies %d bytes, the file has %d", ErrLlama2C, hdr, 28+4*want, size)
	}
	data := make([]byte, 4*want)
	if _, err := r.ReadAt(data, 28); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLlama2C, err)
	}
	all := make([]float32, want)
	if err := tensor.Decode(all, data, tensor.F32); err != nil {
		return nil, err
	}
	ck.tensors, ck.shapes = map[string][]float32{}, map[string][]int64{}
	take := func(n int64) []float32 { v := all[:n:n]; all = all[n:]; return v }
	add := func(name string, v []float32, shape ...int64) {
		ck.tensors[name], ck.shapes[name] = v, shape
		ck.order = append(ck.order, name)
	}
	layerName := func(i int64, s string) string { return fmt.Sprintf("model.layers.%d.%s", i, s) }
	perLayer := func(suffix string, rows, cols int64, permute int) {
		block := take(L * rows * cols)
		for i := range L {
			w := block[i*rows*cols : (i+1)*rows*cols]
			if permute > 0 {
				w = permuteRotary(w, int(rows), int(cols), permute)
			}
			if cols == 1 {
				add(layerName(i, suffix), w, rows)
			} else {
				add(layerName(i, suffix), w, rows, cols)
			}
		}
	}
	add("model.embed_tokens.weight", take(int64(ck.vocab)*D), int64(ck.vocab), D)
	perLayer("input_layernorm.weight", D, 1, 0)
	perLayer("self_attn.q_proj.weight", D, D, ck.heads)
	perLayer("self_attn.k_proj.weight", int64(kv), D, ck.kvHeads)
	perLayer("self_attn.v_proj.weight", int64(kv), D, 0)
	perLayer("self_attn.o_proj.weight", D, D, 0)
	perLayer("post_attention_layernorm.weight", D, 1, 0)
	perLayer("mlp.gate_proj.weight", F, D, 0)
	perLayer("mlp.down_proj.weight", D, F, 0)
	perLayer("mlp.up_proj.weight", F, D, 0)
	add("model.norm.weight", take(D), D)
	take(int64(ck.seqLen) * int64(hd)) // freq_cis_real and freq_cis_imag
	if !ck.shared {
		add("lm_head.weight", take(int64(ck.vocab)*D), int64(ck.vocab), D)
	}
	return ck, nil
}

// permuteRotary reorders the rows of a [rows, cols] projection for heads
// heads from llama2.c's interleaved rotary pairs (2i, 2i+1) to HF's halves
// (i, i+d/2): HF row h*d + a*d/2 + i is llama2.c row h*d + 2i + a.
func permuteRotary(w []float32, rows, cols, heads int) []float32 {
	d := rows / heads
	out := make([]float32, len(w))
	for h := range heads {
		for a := range 2 {
			for i := range d / 2 {
				dst := h*d + a*d/2 + i
				src := h*d + 2*i + a
				copy(out[dst*cols:(dst+1)*cols], w[src*cols:(src+1)*cols])
			}
		}
	}
	return out
}

func (ck *llama2c) config() map[string]any {
	return map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"vocab_size":              ck.vocab,
		"hidden_size":             ck.dim,
		"intermediate_size":       ck.hidden,
		"num_hidden_layers":       ck.layers,
		"num_attention_heads":     ck.heads,
		"num_key_value_heads":     ck.kvHeads,
		"head_dim":                ck.dim / ck.heads,
		"max_position_embeddings": ck.seqLen,
		"rms_norm_eps":            1e-5,
		"rope_theta":              10000.0,
		"hidden_act":              "silu",
		"tie_word_embeddings":     ck.shared,
		"bos_token_id":            1,
		"eos_token_id":            2,
		"torch_dtype":             "float32",
	}
}

func (ck *llama2c) write(dir string) error {
	cfg, err := json.MarshalIndent(ck.config(), "", "  ")
	if err != nil {
		return err
	}
	var specs []safetensors.TensorSpec
	for _, name := range ck.order {
		specs = append(specs, safetensors.TensorSpec{Name: name, DType: "F32", Shape: ck.shapes[name]})
	}
	w, err := safetensors.Create(dir, specs, safetensors.WriterOptions{})
	if err != nil {
		return err
	}
	defer w.Abort()
	for _, name := range ck.order {
		v := ck.tensors[name]
		buf := make([]byte, 4*len(v))
		if err := tensor.Encode(buf, v, tensor.F32); err != nil {
			return err
		}
		if err := w.WriteTensor(name, buf); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), append(cfg, '\n'), 0o644)
}
