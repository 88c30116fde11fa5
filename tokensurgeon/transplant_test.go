package tokensurgeon

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
	"github.com/gomerge/gomerge/tokenizer"
	"github.com/gomerge/gomerge/tokenizer/tokfile"
)

const nShared, nNew = 150, 20

// surgeryPair builds a SentencePiece-style base (▁w0.. ids 3..) and a
// GPT-2-style donor (Ġw0.. in shuffled ids, 20 new tokens Ġnew0..,
// ChatML-style special tokens) whose embedding spaces are related by a
// random linear map, each new token being a 3-sparse combination of shared
// ones. truth holds the base-space rows the new tokens should get. The map
// is injective, so any exact representation of a new token's donor row by
// shared donor rows (k >= the base width) gives exactly its true base row.
func surgeryPair(t *testing.T) (base, donor string, truth map[int][]float64, shared map[int]int) {
	t.Helper()
	root := t.TempDir()
	base, donor = filepath.Join(root, "base"), filepath.Join(root, "donor")
	bRows := 3 + nShared
	testmodel.Must(t.Fatal, base, testmodel.Spec{Vocab: bRows, Hidden: 16, Intermediate: 32, Layers: 1, Heads: 2, KVHeads: 1, Seed: 1})
	dRows := 3 + nShared + nNew
	testmodel.Must(t.Fatal, donor, testmodel.Spec{Vocab: dRows, Hidden: 24, Intermediate: 32, Layers: 1, Heads: 2, KVHeads: 1, Seed: 2})
	rng := rand.New(rand.NewPCG(7, 7))
	// Base rows: random. Donor rows: W · base row.
	B := make([][]float64, bRows)
	for i := range B {
		B[i] = make([]float64, 16)
		for j := range B[i] {
			B[i][j] = rng.NormFloat64()
		}
	}
	W := make([][]float64, 24)
	for i := range W {
		W[i] = make([]float64, 16)
		for j := range W[i] {
			W[i][j] = rng.NormFloat64() / 4
		}
	}
	mapRow := func(b []float64) []float64 {
		out := make([]float64, 24)
		for i := range out {
			for j, v := range b {
				out[i] += W[i][j] * v
			}
		}
		return out
	}
	bVocab := map[string]int{"<unk>": 0, "<s>": 1, "</s>": 2}
	for i := range nShared {
		bVocab[fmt.Sprintf("▁w%d", i)] = 3 + i
	}
	perm := rng.Perm(nShared)
	dVocab := map[string]int{"<|unk|>": 0, "<|bos|>": 1, "<|im_end|>": 2}
	D := make([][]float64, dRows)
	shared = map[int]int{0: 0, 1: 1, 2: 2} // donor id → base id
	for i := range 3 {
		D[i] = mapRow(B[i])
	}
	for i := range nShared {
		did := 3 + perm[i]
		dVocab[fmt.Sprintf("Ġw%d", i)] = did
		D[did] = mapRow(B[3+i])
		shared[did] = 3 + i
	}
	truth = map[int][]float64{}
	for n := range nNew {
		did := 3 + nShared + n
		dVocab[fmt.Sprintf("Ġnew%d", n)] = did
		tb := make([]float64, 16)
		for range 3 {
			j, c := 3+rng.IntN(nShared), rng.NormFloat64()
			for k := range tb {
				tb[k] += c * B[j][k]
			}
		}
		truth[did] = tb
		D[did] = mapRow(tb)
	}
	setEmbeddings(t, base, B)
	setEmbeddings(t, donor, D)
	writeTok(t, base, bVocab, "LlamaTokenizer", map[string]any{"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"})
	writeTok(t, donor, dVocab, "Qwen2Tokenizer", map[string]any{"bos_token": "<|bos|>", "eos_token": "<|im_end|>", "unk_token": "<|unk|>"})
	return base, donor, truth, shared
}

func writeTok(t *testing.T, dir string, vocab map[string]int, class string, tc map[string]any) {
	t.Helper()
	var added []tokfile.AddedToken
	for tok, id := range vocab {
		if id < 3 {
			added = append(added, tokfile.AddedToken{ID: id, Content: tok, Special: true})
		}
	}
	write(t, filepath.Join(dir, "tokenizer.json"), map[string]any{"added_tokens": added,
		"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": []string{}}})
	tc["tokenizer_class"] = class
	write(t, filepath.Join(dir, "tokenizer_config.json"), tc)
}

// setEmbeddings sets embed_tokens and lm_head of a test model to rows.
func setEmbeddings(t *testing.T, dir string, rows [][]float64) {
	t.Helper()
	f := make([][]float32, len(rows))
	for i, r := range rows {
		f[i] = make([]float32, len(r))
		for j, v := range r {
			f[i][j] = float32(v)
		}
	}
	if err := testmodel.SetRows(dir, []string{"model.embed_tokens.weight", "lm_head.weight"}, f); err != nil {
		t.Fatal(err)
	}
}

func TestTransplant(t *testing.T) {
	base, donor, truth, shared := surgeryPair(t)
	bm, err := safetensors.OpenModel(base)
	if err != nil {
		t.Fatal(err)
	}
	defer bm.Close()
	for _, method := range []string{OMP, Mean, Zero, CommonInterpolation, LandmarkPCA, JohnHewitt} {
		t.Run(method, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			res, err := Transplant(context.Background(), base, donor, out, TransplantOptions{Method: method, K: 16, Threads: 2,
				WeightScheme: LeastSquares, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if res.VocabSize != 3+nShared+nNew || len(res.Matrices) != 2 {
				t.Fatalf("result %+v", res)
			}
			for _, st := range res.Matrices {
				if st.Exact != 3+nShared || st.Approximated != nNew {
					t.Errorf("%s: %d exact, %d approximated; want %d and %d", st.Tensor, st.Exact, st.Approximated, 3+nShared, nNew)
				}
			}
			om, err := safetensors.OpenModel(out)
			if err != nil {
				t.Fatal(err)
			}
			defer om.Close()
			for _, name := range []string{"model.embed_tokens.weight", "lm_head.weight"} {
				got := rawRows(t, om, name)
				orig := rawRows(t, bm, name)
				for did, bid := range shared {
					if !bytes.Equal(got[did], orig[bid]) {
						t.Fatalf("%s: shared token %d -> %d is not bit-identical", name, bid, did)
					}
				}
				for did, want := range truth {
					row := f32(t, got[did])
					var d, n float64
					for j := range want {
						switch method {
						case OMP, CommonInterpolation:
							d = max(d, math.Abs(float64(row[j])-want[j]))
						case Zero:
							d = max(d, math.Abs(float64(row[j])))
						}
						n = max(n, math.Abs(want[j]))
					}
					if d > 1e-4*n {
						t.Fatalf("%s: token %d: max error %.3g (scale %.3g)", name, did, d, n)
					}
				}
			}
			cfg, err := readJSONObject(filepath.Join(out, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(cfg["vocab_size"]) != fmt.Sprint(3+nShared+nNew) {
				t.Errorf("vocab_size %v", cfg["vocab_size"])
			}
			if r, _ := Diagnose(out); r.Errors() != 0 {
				t.Errorf("doctor on the result: %+v", r.Findings)
			}
		})
	}
}

func rawRows(t *testing.T, m *safetensors.Model, name string) [][]byte {
	t.Helper()
	info, _ := m.Tensor(name)
	raw := make([]byte, info.Size)
	if err := m.ReadTensor(name, raw); err != nil {
		t.Fatal(err)
	}
	w := int(info.Shape[1]) * 4
	var out [][]byte
	for i := 0; i < len(raw); i += w {
		out = append(out, raw[i:i+w])
	}
	return out
}

func f32(t *testing.T, raw []byte) []float32 {
	out := make([]float32, len(raw)/4)
	if err := tensor.Decode(out, raw, tensor.F32); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTransplantRealTokenizers moves a tiny model with Mistral-7B's
// tokenizer onto Qwen3's (both Apache-2.0, vendored in testdata): tokens
// the two share after normalisation ("▁Haus" = "ĠHaus", roles) keep their
// rows bit for bit.
func TestTransplantRealTokenizers(t *testing.T) {
	root := "../testdata/tokenizers"
	if testing.Short() {
		t.Skip("short")
	}
	tmp := t.TempDir()
	setup := func(name, src string, seed uint64, hidden int) (string, map[string]int) {
		dir := filepath.Join(tmp, name)
		copyGz(t, filepath.Join(root, src), dir)
		tf, err := tokfile.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		v := tf.Vocab()
		rows := 0
		for _, id := range v {
			rows = max(rows, id+1)
		}
		testmodel.Must(t.Fatal, dir, testmodel.Spec{Vocab: rows, Hidden: hidden, Intermediate: 16, Layers: 1, Heads: 2, KVHeads: 1, Seed: seed, Tied: true})
		return dir, v
	}
	base, bv := setup("mistral", "mistral-7b-v0.1", 1, 8)
	donor, _ := setup("qwen3", "qwen3", 2, 8)
	out := filepath.Join(tmp, "out")
	res, err := Transplant(context.Background(), base, donor, out, TransplantOptions{Method: Mean, Threads: 2, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	st := res.Matrices[0]
	t.Logf("%+v", st)
	if st.Exact < 5000 {
		t.Fatalf("only %d tokens matched", st.Exact)
	}
	bm, _ := safetensors.OpenModel(base)
	defer bm.Close()
	om, _ := safetensors.OpenModel(out)
	defer om.Close()
	got, orig := rawRows8(t, om), rawRows8(t, bm)
	dm, _ := LoadModelFiles(donor)
	checked := 0
	for tok, bid := range bv {
		if len(tok) < 4 || tok[:3] != "▁" {
			continue
		}
		did, ok := dm.Vocab["Ġ"+tok[3:]]
		if !ok {
			continue
		}
		if !bytes.Equal(got[did], orig[bid]) {
			t.Fatalf("%q: row %d of the output is not the base's row %d", tok, did, bid)
		}
		checked++
	}
	if checked < 5000 {
		t.Fatalf("only %d shared word-start tokens checked", checked)
	}

	// Subword: a new token's row is the mean of the base rows of the
	// pieces Mistral's tokenizer cuts its text into.
	sub := filepath.Join(tmp, "subword")
	if _, err := Transplant(context.Background(), base, donor, sub, TransplantOptions{Method: Subword, Threads: 2, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	sm, _ := safetensors.OpenModel(sub)
	defer sm.Close()
	srows := rawRows8(t, sm)
	btok, err := tokenizer.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	// Donor words the base lacks, ASCII letters only (byte-level Ġ tokens
	// are the text itself then).
	var words []string
	for tok := range dm.Vocab {
		w, ok := strings.CutPrefix(tok, "Ġ")
		if !ok || len(w) < 7 || strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") != "" {
			continue
		}
		if _, inBase := bv["▁"+w]; !inBase {
			words = append(words, w)
		}
	}
	slices.Sort(words)
	words = words[:min(len(words), 25)]
	found := 0
	for _, w := range words {
		did, ok := dm.Vocab["Ġ"+w]
		if !ok {
			continue
		}
		found++
		ids := btok.Encode(" "+w, false)
		want := make([]float64, 8)
		for _, id := range ids {
			for j, v := range f32(t, orig[id]) {
				want[j] += float64(v) / float64(len(ids))
			}
		}
		got := f32(t, srows[did])
		for j := range want {
			if math.Abs(float64(got[j])-want[j]) > 1e-5 {
				t.Fatalf("%s: subword row %v, want the mean of %v = %v", w, got, ids, want)
			}
		}
	}
	if found < 20 {
		t.Fatalf("subword checked on only %d words", found)
	}
}

func rawRows8(t *testing.T, m *safetensors.Model) [][]byte {
	t.Helper()
	info, _ := m.Tensor("model.embed_tokens.weight")
	raw := make([]byte, info.Size)
	if err := m.ReadTensor("model.embed_tokens.weight", raw); err != nil {
		t.Fatal(err)
	}
	w := int(info.Shape[1]) * int(info.DType.Size())
	var out [][]byte
	for i := 0; i < len(raw); i += w {
		out = append(out, raw[i:i+w])
	}
	return out
}

func copyGz(t *testing.T, src, dst string) {
	t.Helper()
	os.MkdirAll(dst, 0o755)
	entries, _ := os.ReadDir(src)
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		name := e.Name()
		if filepath.Ext(name) == ".gz" {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if raw, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
			name = name[:len(name)-3]
		}
		os.WriteFile(filepath.Join(dst, name), raw, 0o644)
	}
}

// TestTransplantRefusesShortEmbeddings: a base or donor whose tokenizer
// has ids beyond its embedding rows is refused with the tensor and the
// counts, not indexed past its rows (issue 12).
func TestTransplantRefusesShortEmbeddings(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good")
	chatModel(t, good, 66, nil)
	short := filepath.Join(t.TempDir(), "short")
	chatModel(t, short, 64, nil) // ids up to 65 in 64 rows
	for _, c := range []struct{ base, donor string }{{good, short}, {short, good}} {
		out := filepath.Join(t.TempDir(), "out")
		_, err := Transplant(context.Background(), c.base, c.donor, out, TransplantOptions{Method: Mean})
		if err == nil || !strings.Contains(err.Error(), "ids up to 65 but model.embed_tokens.weight has 64 rows") || !strings.Contains(err.Error(), short) {
			t.Errorf("Transplant(%s, %s): err = %v", c.base, c.donor, err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("a refused transplant wrote %s", out)
		}
	}
	if _, err := Transplant(context.Background(), good, good, filepath.Join(t.TempDir(), "out"), TransplantOptions{Method: Mean}); err != nil {
		t.Fatalf("good model: %v", err)
	}
}
