package kraken

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/internal/outdir"
	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/safetensors"
)

// tokenizerFiles are the side files a router or expert directory carries
// for its tokenizer, copied where present.
var tokenizerFiles = []string{
	"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
	"added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja", "generation_config.json",
}

// WriteOptions configure WriteRouter and Build.
type WriteOptions struct {
	// Overwrite lets the output replace a directory gomerge did not
	// write. Inputs are protected regardless.
	Overwrite bool
	// Tool and Version are recorded in the output's marker.
	Tool, Version string
	// Logger receives progress; nil means slog.Default().
	Logger *slog.Logger
}

func (o *WriteOptions) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}

// WriteRouter writes a *ForSequenceClassification checkpoint into out:
// the base's config.json with the classifier's architecture, id2label,
// label2id and pad_token_id; every base tensor except the output layer,
// plus score.weight (float32); and the base's tokenizer files. The
// directory loads with transformers' AutoModelForSequenceClassification
// and with model.OpenClassifier.
func WriteRouter(baseDir, out string, h *Head, opt WriteOptions) error {
	log := opt.logger()
	tool := opt.Tool
	if tool == "" {
		tool = "gomerge kraken train-router"
	}
	o, err := outdir.Create(out, outdir.Options{Inputs: []string{baseDir}, Overwrite: opt.Overwrite, Tool: tool, Version: opt.Version, Logger: log})
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			o.Abort()
		}
	}()
	cfg, err := routerConfig(baseDir, h)
	if err != nil {
		return err
	}
	if err := o.WriteFile("config.json", cfg); err != nil {
		return err
	}
	src, err := safetensors.OpenModel(baseDir)
	if err != nil {
		return err
	}
	defer src.Close()
	hidden := len(h.Weight) / len(h.Labels)
	extra := map[string]extraTensor{model.ScoreWeight: {shape: []int64{int64(len(h.Labels)), int64(hidden)}, data: f32Bytes(h.Weight)}}
	if err := copyTensors(o.Tmp(), src, "", func(n string) bool { return n != "lm_head.weight" }, extra); err != nil {
		return fmt.Errorf("write router weights: %w", err)
	}
	if err := copySide(baseDir, o.Tmp(), tokenizerFiles); err != nil {
		return err
	}
	if err := o.Commit(); err != nil {
		return err
	}
	committed = true
	log.Info("router written", "dir", out, "labels", len(h.Labels))
	return nil
}

// routerConfig is the base's config.json turned into a classifier's.
func routerConfig(baseDir string, h *Head) ([]byte, error) {
	p := filepath.Join(baseDir, "config.json")
	raw, err := regfile.ReadFile(p, regfile.ConfigLimit)
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	arch := "LlamaForCausalLM"
	if a, ok := cfg["architectures"].([]any); ok && len(a) > 0 {
		if s, ok := a[0].(string); ok {
			arch = s
		}
	}
	cfg["architectures"] = []string{model.ClassifierArchitecture(arch)}
	id2label, label2id := map[string]string{}, map[string]int{}
	for i, l := range h.Labels {
		id2label[strconv.Itoa(i)] = l
		label2id[l] = i
	}
	cfg["id2label"], cfg["label2id"] = id2label, label2id
	if h.Pad >= 0 {
		cfg["pad_token_id"] = h.Pad
	}
	// The head is float32 in the file; a tied output layer no longer
	// exists to tie.
	delete(cfg, "num_labels")
	return json.MarshalIndent(cfg, "", "  ")
}

func f32Bytes(w []float32) []byte {
	b := make([]byte, 4*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

type extraTensor struct {
	shape []int64
	data  []byte // F32
}

// copyTensors writes model.safetensors into dir: src's tensors that keep
// accepts, renamed with prefix, then the extra ones, streamed in chunks.
func copyTensors(dir string, src safetensors.Source, prefix string, keep func(string) bool, extra map[string]extraTensor) error {
	var specs []safetensors.TensorSpec
	var names []string
	for _, n := range src.Names() {
		if !keep(n) {
			continue
		}
		info, _ := src.Tensor(n)
		specs = append(specs, safetensors.TensorSpec{Name: prefix + n, DType: info.DType, Shape: info.Shape})
		names = append(names, n)
	}
	for _, n := range slices.Sorted(maps.Keys(extra)) {
		specs = append(specs, safetensors.TensorSpec{Name: prefix + n, DType: safetensors.F32, Shape: extra[n].shape})
	}
	w, err := safetensors.Create(dir, specs, safetensors.WriterOptions{})
	if err != nil {
		return err
	}
	buf := make([]byte, 4<<20)
	for _, n := range names {
		info, _ := src.Tensor(n)
		for off := int64(0); off < info.Size; off += int64(len(buf)) {
			chunk := buf[:min(int64(len(buf)), info.Size-off)]
			if err := src.ReadTensorRange(n, off, chunk); err != nil {
				w.Abort()
				return fmt.Errorf("read %s: %w", n, err)
			}
			if err := w.WriteTensorPart(prefix+n, off, chunk); err != nil {
				w.Abort()
				return fmt.Errorf("write %s: %w", prefix+n, err)
			}
		}
	}
	for n, e := range extra {
		if err := w.WriteTensor(prefix+n, e.data); err != nil {
			w.Abort()
			return fmt.Errorf("write %s: %w", prefix+n, err)
		}
	}
	return w.Close()
}

// copySide copies the listed files of src that exist into dst.
func copySide(src, dst string, names []string) error {
	for _, n := range names {
		p := filepath.Join(src, n)
		if _, err := os.Stat(p); err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return err
		}
		if err := outdir.CopyFile(p, filepath.Join(dst, n)); err != nil {
			return fmt.Errorf("copy %s: %w", p, err)
		}
	}
	return nil
}

// copyDir copies the regular files at the top of src into dst (created):
// a model or adapter directory, without subdirectories.
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == outdir.MarkerName {
			continue
		}
		if err := outdir.CopyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return fmt.Errorf("copy %s: %w", filepath.Join(src, e.Name()), err)
		}
	}
	return nil
}
