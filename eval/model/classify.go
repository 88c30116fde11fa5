package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// LastHidden returns the final normalized hidden state of the last of ids,
// [hidden size]: what a causal model's output layer, or a
// *ForSequenceClassification head, reads at that position.
func (m *Model) LastHidden(ids []int) ([]float32, error) {
	return m.HiddenAt(ids, len(ids)-1)
}

// HiddenAt returns the final normalized hidden state of ids at position
// pos, [hidden size].
func (m *Model) HiddenAt(ids []int, pos int) ([]float32, error) {
	if err := m.check(ids); err != nil {
		return nil, err
	}
	if pos < 0 || pos >= len(ids) {
		return nil, fmt.Errorf("%w: position %d is outside the %d tokens", ErrToken, pos, len(ids))
	}
	H := m.cfg.hidden
	hidden := m.forward([]seg{{ids: ids, c: m.newCache()}}, nil)
	return slices.Clone(hidden[pos*H : (pos+1)*H]), nil
}

// HiddenSize returns config.json's hidden_size.
func (m *Model) HiddenSize() int { return m.cfg.hidden }

// ScoreWeight is the tensor name of a *ForSequenceClassification head in
// Hugging Face's layout: [num_labels, hidden_size], no bias.
const ScoreWeight = "score.weight"

// A Classifier is a decoder-only model with a sequence-classification head,
// as transformers' LlamaForSequenceClassification and
// Qwen2ForSequenceClassification hold it: the head score.weight
// [num_labels, hidden] is applied to the final normalized hidden state of
// the last token that is not the padding token. Its methods are safe for
// concurrent use.
type Classifier struct {
	*Model
	score  []float32 // [labels, hidden]
	labels []string  // id2label, by id
	pad    int       // pad_token_id, -1 if none
}

// OpenClassifier loads the sequence classifier in dir: config.json (with
// id2label, or num_labels) and weights holding the base model's tensors
// and score.weight. A checkpoint without score.weight, or whose head does
// not match id2label, is refused.
func OpenClassifier(dir string, opts Options) (*Classifier, error) {
	data, err := regfile.ReadFile(filepath.Join(dir, "config.json"), regfile.ConfigLimit)
	if err != nil {
		return nil, fmt.Errorf("open classifier: %w", err)
	}
	src, err := safetensors.OpenModel(dir)
	if err != nil {
		return nil, fmt.Errorf("open classifier: %w", err)
	}
	defer src.Close()
	c, err := LoadClassifier(data, src, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return c, nil
}

// LoadClassifier is OpenClassifier on the bytes of a config.json and a
// source of weights.
func LoadClassifier(configJSON []byte, src safetensors.Source, opts Options) (*Classifier, error) {
	labels, pad, err := classifierLabels(configJSON)
	if err != nil {
		return nil, err
	}
	info, ok := src.Tensor(ScoreWeight)
	if !ok {
		return nil, fmt.Errorf("tensor %s is missing: not a sequence classifier", ScoreWeight)
	}
	// A classifier has no output layer: the body is loaded as if its
	// output layer were tied to the embeddings, and the head is read
	// apart.
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(configJSON))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	m["tie_word_embeddings"] = true
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	model, err := Load(body, bodySource{src}, opts)
	if err != nil {
		return nil, err
	}
	H := model.cfg.hidden
	if len(info.Shape) != 2 || info.Shape[0] != int64(len(labels)) || info.Shape[1] != int64(H) {
		return nil, fmt.Errorf("tensor %s has shape %v, config.json implies [%d %d] (%d labels)", ScoreWeight, info.Shape, len(labels), H, len(labels))
	}
	l := &loader{src: src, used: map[string]bool{}}
	score := l.floats(ScoreWeight, len(labels), H)
	if l.err != nil {
		return nil, l.err
	}
	return &Classifier{Model: model, score: score, labels: labels, pad: pad}, nil
}

// classifierLabels reads id2label (ids 0..n-1) or num_labels (names
// LABEL_i, as transformers makes them) and pad_token_id.
func classifierLabels(configJSON []byte) ([]string, int, error) {
	var c struct {
		ID2Label  map[string]string `json:"id2label"`
		NumLabels *int              `json:"num_labels"`
		Pad       any               `json:"pad_token_id"`
	}
	if err := json.Unmarshal(configJSON, &c); err != nil {
		return nil, -1, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	var labels []string
	switch {
	case len(c.ID2Label) > 0:
		labels = make([]string, len(c.ID2Label))
		for k, v := range c.ID2Label {
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(labels) || labels[i] != "" {
				return nil, -1, fmt.Errorf("%w: id2label: ids must be 0..%d, got %q", ErrConfig, len(labels)-1, k)
			}
			if v == "" {
				return nil, -1, fmt.Errorf("%w: id2label: id %s has an empty label", ErrConfig, k)
			}
			labels[i] = v
		}
	case c.NumLabels != nil && *c.NumLabels > 0 && *c.NumLabels <= 1<<16:
		for i := range *c.NumLabels {
			labels = append(labels, "LABEL_"+strconv.Itoa(i))
		}
	default:
		return nil, -1, fmt.Errorf("%w: a sequence classifier needs id2label or num_labels", ErrConfig)
	}
	pad := -1
	switch p := c.Pad.(type) {
	case float64:
		pad = int(p)
	case []any:
		if len(p) > 0 {
			if f, ok := p[0].(float64); ok {
				pad = int(f)
			}
		}
	}
	return labels, pad, nil
}

// bodySource hides a classifier's head from the body's loader.
type bodySource struct{ safetensors.Source }

func (b bodySource) Names() []string {
	return slices.DeleteFunc(slices.Clone(b.Source.Names()), func(n string) bool { return n == ScoreWeight })
}

func (b bodySource) Tensor(name string) (safetensors.TensorInfo, bool) {
	if name == ScoreWeight {
		return safetensors.TensorInfo{}, false
	}
	return b.Source.Tensor(name)
}

// Labels returns the classifier's labels by id (config.json's id2label).
func (c *Classifier) Labels() []string { return slices.Clone(c.labels) }

// Pad returns config.json's pad_token_id, or -1.
func (c *Classifier) Pad() int { return c.pad }

// Classify returns the logits of each label for ids: the head applied to
// the last token that is not the padding token (the last token when all
// are padding), as transformers picks it.
func (c *Classifier) Classify(ids []int) ([]float32, error) {
	pos := len(ids) - 1
	for pos > 0 && ids[pos] == c.pad {
		pos--
	}
	h, err := c.HiddenAt(ids, max(pos, 0))
	if err != nil {
		return nil, err
	}
	return HeadLogits(c.score, h), nil
}

// HeadLogits returns w·h for a head w [labels, len(h)], row-major.
func HeadLogits(w, h []float32) []float32 {
	out := make([]float32, len(w)/len(h))
	for i := range out {
		out[i] = float32(tensor.Dot(w[i*len(h):(i+1)*len(h)], h))
	}
	return out
}

// ClassifierArchitecture returns the *ForSequenceClassification class
// that goes with a causal model's architectures entry
// (LlamaForCausalLM → LlamaForSequenceClassification).
func ClassifierArchitecture(causal string) string {
	if base, ok := strings.CutSuffix(causal, "ForCausalLM"); ok {
		return base + "ForSequenceClassification"
	}
	return causal
}
