package merge

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tokenizer/tokfile"
)

// tokModels makes mergekit's tests/test_tokenizer.py fixtures: a base with
// 64 tokens, a "padded" model whose tokenizer has 4 unused tokens beyond
// its 64 embedding rows, and a ChatML model with <|im_start|> and
// <|im_end|> at 64 and 65 (66 rows). Each tokenizer.json is what
// LlamaTokenizerFast saves: <unk>, <s>, </s> registered as special added
// tokens, extra tokens as normal added tokens.
func tokModels(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	make := func(name string, rows int, added []string, seed uint64) {
		testmodel.Must(t.Fatal, filepath.Join(dir, name), testmodel.Spec{Vocab: rows, Layers: 2, Seed: seed})
		vocab := map[string]int{"<unk>": 0, "<s>": 1, "</s>": 2}
		for i := 3; i < 64; i++ {
			vocab[fmt.Sprintf("_tok_%d", i)] = i
		}
		var at []tokfile.AddedToken
		for i, s := range []string{"<unk>", "<s>", "</s>"} {
			at = append(at, tokfile.AddedToken{ID: i, Content: s, Special: true})
		}
		for i, s := range added {
			at = append(at, tokfile.AddedToken{ID: 64 + i, Content: s, Normalized: true})
		}
		doc := map[string]any{"version": "1.0", "truncation": nil, "padding": nil, "added_tokens": at,
			"normalizer": nil, "pre_tokenizer": nil, "post_processor": nil, "decoder": nil,
			"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "vocab": vocab, "merges": []string{}}}
		writeJSON(t, filepath.Join(dir, name, "tokenizer.json"), doc)
		writeJSON(t, filepath.Join(dir, name, "tokenizer_config.json"), map[string]any{
			"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"})
	}
	make("base", 64, nil, 1)
	make("padded", 64, []string{"<UNUSED_0>", "<UNUSED_1>", "<UNUSED_2>", "<UNUSED_3>"}, 2)
	make("chatml", 66, []string{"<|im_start|>", "<|im_end|>"}, 3)
	return dir
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// embeddings reads a model's embed_tokens rows and its vocabulary.
type embeddings struct {
	rows  [][]float32
	vocab map[string]int
	added int
}

func readEmbeddings(t *testing.T, dir string) embeddings {
	t.Helper()
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := floats(t, m, "model.embed_tokens.weight")
	info, _ := m.Tensor("model.embed_tokens.weight")
	h := int(info.Shape[1])
	var e embeddings
	for i := 0; i < len(f); i += h {
		e.rows = append(e.rows, f[i:i+h])
	}
	tok, err := tokfile.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	e.vocab, e.added = tok.Vocab(), len(tok.Added)
	return e
}

func (e embeddings) row(t *testing.T, tok string) []float32 {
	t.Helper()
	id, ok := e.vocab[tok]
	if !ok {
		t.Fatalf("no token %q", tok)
	}
	return e.rows[id]
}

func closeRows(a, b []float32, tol float64) bool {
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > tol*(1+math.Abs(float64(b[i]))) {
			return false
		}
	}
	return true
}

func TestTokenizerMerges(t *testing.T) {
	dir := tokModels(t)
	models := func(names ...string) string {
		var b strings.Builder
		b.WriteString("models:\n")
		for _, n := range names {
			b.WriteString("  - model: " + n + "\n    parameters: {weight: 1.0}\n")
		}
		return b.String()
	}
	all := models("base", "padded", "chatml")
	base, chatml := readEmbeddings(t, filepath.Join(dir, "base")), readEmbeddings(t, filepath.Join(dir, "chatml"))
	padded := readEmbeddings(t, filepath.Join(dir, "padded"))
	cases := []struct {
		name, yml   string
		size, added int // tokenizer size and added-token count; -1 = not checked
		rows        int
		check       func(t *testing.T, out embeddings, cfg map[string]any)
	}{
		{"legacy", "merge_method: linear\nbase_model: base\ndtype: float32\n" + all, 64, 3, 64, nil},
		{"source base", "merge_method: linear\nbase_model: base\ndtype: float32\ntokenizer_source: base\n" + all, 64, 3, 64, nil},
		{"source union", "merge_method: linear\nbase_model: base\ndtype: float32\ntokenizer_source: union\n" + all, 66, 5, 66,
			func(t *testing.T, out embeddings, _ map[string]any) {
				for i := range 4 {
					if _, ok := out.vocab[fmt.Sprintf("<UNUSED_%d>", i)]; ok {
						t.Errorf("<UNUSED_%d> kept", i)
					}
				}
				for _, tok := range []string{"<|im_start|>", "<|im_end|>"} {
					if !closeRows(out.row(t, tok), chatml.row(t, tok), 1e-6) {
						t.Errorf("%s should be model_chatml's row", tok)
					}
				}
				// A token all three share is their mean.
				want := make([]float32, len(base.rows[0]))
				for i := range want {
					want[i] = (base.row(t, "_tok_7")[i] + padded.row(t, "_tok_7")[i] + chatml.row(t, "_tok_7")[i]) / 3
				}
				if !closeRows(out.row(t, "_tok_7"), want, 1e-5) {
					t.Error("_tok_7 is not the mean of the three models")
				}
			}},
		{"source model", "merge_method: linear\nbase_model: base\ndtype: float32\ntokenizer_source: chatml\n" + all, 66, -1, 66, nil},
		{"slerp union", "merge_method: slerp\nbase_model: base\ndtype: float32\ntokenizer_source: union\nparameters: {t: 0.5}\n" + models("base", "chatml"), 66, 5, 66, nil},
		{"force token", "merge_method: linear\nbase_model: base\ndtype: float32\n" + models("base", "chatml") +
			"tokenizer:\n  source: union\n  tokens:\n    _tok_10: {source: chatml, force: true}\n    _tok_11: {source: base, force: true}\n", 66, 5, 66,
			func(t *testing.T, out embeddings, _ map[string]any) {
				if !closeRows(out.row(t, "_tok_10"), chatml.row(t, "_tok_10"), 1e-6) {
					t.Error("_tok_10 should be model_chatml's")
				}
				if !closeRows(out.row(t, "_tok_11"), base.row(t, "_tok_11"), 1e-6) {
					t.Error("_tok_11 should be model_base's")
				}
			}},
		{"model token id", "merge_method: linear\nbase_model: base\ndtype: float32\n" + models("base", "chatml") +
			"tokenizer:\n  source: base\n  tokens:\n    _tok_20: {source: {kind: model_token, model: chatml, token_id: 64}, force: true}\n" +
			"    _tok_21: {source: {kind: model_token, model: base, token: <s>}, force: true}\n", 64, 3, 64,
			func(t *testing.T, out embeddings, _ map[string]any) {
				if !closeRows(out.row(t, "_tok_20"), chatml.rows[64], 1e-6) {
					t.Error("_tok_20 should be model_chatml's row 64")
				}
				if !closeRows(out.row(t, "_tok_21"), base.row(t, "<s>"), 1e-6) {
					t.Error("_tok_21 should be model_base's <s>")
				}
			}},
		{"pad to multiple of", "merge_method: linear\nbase_model: chatml\ndtype: float32\n" + models("chatml") +
			"tokenizer:\n  source: base\n  pad_to_multiple_of: 16\n", 66, -1, 80,
			func(t *testing.T, out embeddings, cfg map[string]any) {
				if v := cfg["vocab_size"]; fmt.Sprint(v) != "80" {
					t.Errorf("config vocab_size %v, want 80", v)
				}
				mean := make([]float32, len(out.rows[0]))
				for _, r := range out.rows[:66] {
					for i, v := range r {
						mean[i] += v / 66
					}
				}
				if !closeRows(out.rows[79], mean, 1e-4) {
					t.Error("padding rows are not the mean of the real rows")
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if _, err := runYAML(t, dir, c.yml, out, Options{}); err != nil {
				t.Fatal(err)
			}
			e := readEmbeddings(t, out)
			if len(e.vocab) != c.size {
				t.Errorf("tokenizer has %d tokens, want %d", len(e.vocab), c.size)
			}
			if c.added >= 0 && e.added != c.added {
				t.Errorf("%d added tokens, want %d", e.added, c.added)
			}
			if len(e.rows) != c.rows {
				t.Errorf("embed_tokens has %d rows, want %d", len(e.rows), c.rows)
			}
			raw, err := os.ReadFile(filepath.Join(out, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := decodeJSONObject(raw)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(cfg["vocab_size"]) != fmt.Sprint(c.rows) {
				t.Errorf("config vocab_size %v, want %d", cfg["vocab_size"], c.rows)
			}
			if c.check != nil {
				c.check(t, e, cfg)
			}
		})
	}
}

// TestTokenizerSurgeryOnTheFly gives the base model rows for the ChatML
// tokens it lacks by OMP in its own embedding space (tokenizer: approximate:
// omp). The ChatML model's embeddings are an invertible linear map of the
// base's, and its new tokens are 3-sparse combinations of shared ones, so
// the base's approximated rows must be those combinations of its own rows.
func TestTokenizerSurgeryOnTheFly(t *testing.T) {
	dir := tokModels(t)
	rng := rand.New(rand.NewPCG(3, 4))
	baseRows := floatsOf(t, filepath.Join(dir, "base"), "model.embed_tokens.weight")
	h := 64
	W := make([]float64, h*h)
	for i := range W {
		W[i] = rng.NormFloat64() / 8
	}
	apply := func(b []float64) []float32 {
		out := make([]float32, h)
		for i := range h {
			var s float64
			for j := range h {
				s += W[i*h+j] * b[j]
			}
			out[i] = float32(s)
		}
		return out
	}
	chat := make([][]float32, 66)
	want := map[int][]float64{}
	for i := range 64 {
		chat[i] = apply(baseRows[i])
	}
	for _, id := range []int{64, 65} {
		comb := make([]float64, h)
		for range 3 {
			j, c := 3+rng.IntN(61), rng.NormFloat64()
			for k := range comb {
				comb[k] += c * baseRows[j][k]
			}
		}
		want[id] = comb
		chat[id] = apply(comb)
	}
	if err := testmodel.SetRows(filepath.Join(dir, "chatml"), []string{"model.embed_tokens.weight", "lm_head.weight"}, chat); err != nil {
		t.Fatal(err)
	}
	yml := "merge_method: linear\nbase_model: base\ndtype: float32\nmodels:\n  - model: base\n    parameters: {weight: 1}\n  - model: chatml\n    parameters: {weight: 1}\n" +
		"tokenizer:\n  source: union\n  approximate: omp\n  k: 64\n"
	cfg, err := ParseConfig([]byte(yml), "c.yml")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(cfg, PlanOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	for _, task := range plan.Tasks {
		if task.Name != "model.embed_tokens.weight" {
			continue
		}
		in := task.Inputs[0]
		if in.Model.Ref.Path != "base" {
			in = task.Inputs[1]
		}
		for _, id := range []int{64, 65} {
			row := make([]byte, 4*h)
			if err := in.readRange(int64(id*4*h), row); err != nil {
				t.Fatal(err)
			}
			got := bytesF32(t, row)
			for k := range got {
				if math.Abs(float64(got[k])-want[id][k]) > 1e-3*(1+math.Abs(want[id][k])) {
					t.Fatalf("token %d: base's approximated row differs at %d: %g vs %g", id, k, got[k], want[id][k])
				}
			}
		}
		return
	}
	t.Fatal("no embed_tokens task")
}

func floatsOf(t *testing.T, dir, name string) [][]float64 {
	t.Helper()
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := floats(t, m, name)
	info, _ := m.Tensor(name)
	h := int(info.Shape[1])
	var out [][]float64
	for i := 0; i < len(f); i += h {
		r := make([]float64, h)
		for j := range r {
			r[j] = float64(f[i+j])
		}
		out = append(out, r)
	}
	return out
}
