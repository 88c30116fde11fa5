package model

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/safetensors"
)

// storiesClassifier turns converted stories260K into a two-label
// classifier held in memory: its tensors plus a random score.weight.
func storiesClassifier(t *testing.T) (cfg map[string]any, src *memSource, m *Model) {
	t.Helper()
	m = storiesModel(t)
	dir := t.TempDir()
	if err := ConvertLlama2C(filepath.Join(storiesDir, "stories260K.bin"), dir); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src = newMem()
	l := &loader{src: st, used: map[string]bool{}}
	for _, n := range st.Names() {
		info, _ := st.Tensor(n)
		var shape []int
		for _, d := range info.Shape {
			shape = append(shape, int(d))
		}
		src.add(n, l.floats(n, shape...), info.Shape...)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	score := make([]float32, 2*64)
	for i := range score {
		score[i] = float32(rng.NormFloat64())
	}
	src.add(ScoreWeight, score, 2, 64)
	cfg["architectures"] = []string{"LlamaForSequenceClassification"}
	cfg["id2label"] = map[string]string{"0": "story", "1": "other"}
	cfg["pad_token_id"] = 2
	return cfg, src, m
}

// The classifier's logits are score.weight applied to the final
// normalized hidden state of the last non-padding token.
func TestClassifier(t *testing.T) {
	cfg, src, m := storiesClassifier(t)
	raw, _ := json.Marshal(cfg)
	c, err := LoadClassifier(raw, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Labels(), []string{"story", "other"}) || c.Pad() != 2 {
		t.Fatalf("labels %q pad %d", c.Labels(), c.Pad())
	}
	ids := []int{1, 403, 407, 261, 378}
	got, err := c.Classify(ids)
	if err != nil {
		t.Fatal(err)
	}
	// The same hidden state through the causal model: its logits are the
	// tied head applied to it, so LastHidden must reproduce them.
	h, err := m.LastHidden(ids)
	if err != nil {
		t.Fatal(err)
	}
	logits, _ := m.Logits(ids)
	V := m.VocabSize()
	head := HeadLogits(src.get("model.embed_tokens.weight"), h)
	for i, v := range head {
		if d := v - logits[(len(ids)-1)*V+i]; d > 1e-4 || d < -1e-4 {
			t.Fatalf("LastHidden·embed[%d] = %g, logits say %g", i, v, logits[(len(ids)-1)*V+i])
		}
	}
	want := HeadLogits(src.get(ScoreWeight), h)
	if !slices.Equal(got, want) {
		t.Errorf("Classify %v, want %v", got, want)
	}
	// Trailing padding is skipped, as transformers finds the last
	// non-pad token.
	padded, _ := c.Classify(append(slices.Clone(ids), 2, 2))
	if !slices.Equal(padded, want) {
		t.Errorf("with padding %v, want %v", padded, want)
	}
	if _, err := m.HiddenAt(ids, len(ids)); err == nil {
		t.Error("HiddenAt past the end")
	}
}

func TestClassifierRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(cfg map[string]any, src *memSource)
		want string
	}{
		{"no head", func(_ map[string]any, s *memSource) { s.del(ScoreWeight) }, "score.weight is missing"},
		{"head shape", func(c map[string]any, _ *memSource) {
			c["id2label"] = map[string]string{"0": "a", "1": "b", "2": "c"}
		}, "config.json implies [3 64]"},
		{"no labels", func(c map[string]any, _ *memSource) { delete(c, "id2label") }, "needs id2label or num_labels"},
		{"label ids", func(c map[string]any, _ *memSource) { c["id2label"] = map[string]string{"0": "a", "2": "b"} }, "ids must be 0..1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, src, _ := storiesClassifier(t)
			tt.edit(cfg, src)
			raw, _ := json.Marshal(cfg)
			if _, err := LoadClassifier(raw, src, Options{}); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	cfg, src, _ := storiesClassifier(t)
	delete(cfg, "id2label")
	cfg["num_labels"] = 2
	raw, _ := json.Marshal(cfg)
	c, err := LoadClassifier(raw, src, Options{})
	if err != nil || !slices.Equal(c.Labels(), []string{"LABEL_0", "LABEL_1"}) {
		t.Errorf("num_labels: %v %v", err, c)
	}
	if ClassifierArchitecture("Qwen2ForCausalLM") != "Qwen2ForSequenceClassification" {
		t.Error("ClassifierArchitecture")
	}
}
