// Package lora reads PEFT LoRA adapters and applies them to a model's
// weights while the weights stream, so that a "model+adapter" reference
// needs no merged copy on disk.
//
// An adapter directory holds adapter_config.json and
// adapter_model.safetensors, as PEFT's save_pretrained writes them. For a
// targeted weight W, Apply presents
//
//	W' = W + s·B·A                      (Linear, [out, in])
//	W' = W + s·(B·A)ᵀ                   (fan_in_fan_out Conv1D, [in, out]; Embedding)
//	W' = m / ‖W + s·B·A‖_row ⊙ (W + s·B·A)   (DoRA, per output row)
//
// with s = lora_alpha/r, or lora_alpha/√r for rsLoRA, r and alpha taken
// from rank_pattern and alpha_pattern where a pattern matches the module.
// Bias deltas (lora_B.bias) add s·b to the module's bias. Tensors the
// adapter stores whole (modules_to_save, an embedding's base_layer) replace
// the model's, cast to the model's dtype. Arithmetic is float32 with
// float32 rounding of each product, as PyTorch does for float32 weights;
// bfloat16 and float16 weights are rounded once, at the end.
package lora

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/gomerge/gomerge/internal/regfile"
	"github.com/gomerge/gomerge/pytorch"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// Config is the part of PEFT's adapter_config.json that decides the
// arithmetic.
type Config struct {
	PeftType      string             `json:"peft_type"`
	R             int                `json:"r"`
	Alpha         float64            `json:"lora_alpha"`
	RankPattern   map[string]int     `json:"rank_pattern"`
	AlphaPattern  map[string]float64 `json:"alpha_pattern"`
	UseRSLoRA     bool               `json:"use_rslora"`
	UseDoRA       bool               `json:"use_dora"`
	FanInFanOut   bool               `json:"fan_in_fan_out"`
	ModulesToSave []string           `json:"modules_to_save"`
	BaseModel     string             `json:"base_model_name_or_path"`
}

// Kind says how a module's low-rank factors combine.
type Kind int

const (
	// Linear modules store W as [out, in]; A is [r, in], B is [out, r].
	Linear Kind = iota
	// Transposed modules store W as [in, out]: GPT-2's Conv1D under
	// fan_in_fan_out, and embeddings ([vocab, hidden], A [r, vocab],
	// B [hidden, r]).
	Transposed
)

// Module is one adapted module of the base model.
type Module struct {
	// Name is the module path in the base model, e.g.
	// "model.layers.0.self_attn.q_proj"; its weight is Name+".weight".
	Name string
	Kind Kind
	// A, B, Magnitude and Bias name tensors in the adapter file;
	// Magnitude (DoRA) and Bias may be empty.
	A, B, Magnitude, Bias string
	// Rank and Scale are r and s.
	Rank  int
	Scale float64
}

// Adapter is an opened LoRA adapter.
type Adapter struct {
	// Dir is the adapter directory.
	Dir    string
	Config Config
	// Modules are the adapted modules, keyed by base weight name
	// (Module.Name + ".weight").
	Modules map[string]*Module
	// Replace maps base tensor names to adapter tensors that replace them
	// whole (modules_to_save, base_layer copies).
	Replace map[string]string

	file adapterFile
}

// adapterFile is the adapter's tensor file: safetensors or a PyTorch pickle.
type adapterFile interface {
	Names() []string
	Tensor(name string) (safetensors.TensorInfo, bool)
	ReadTensorRange(name string, off int64, dst []byte) error
	Close() error
}

// fileSource presents one safetensors file as an adapterFile.
type fileSource struct{ *safetensors.File }

func (f fileSource) Names() []string {
	var out []string
	for _, t := range f.Tensors() {
		out = append(out, t.Name)
	}
	return out
}

func (f fileSource) ReadTensorRange(name string, off int64, dst []byte) error {
	info, ok := f.File.Tensor(name)
	if !ok {
		return fmt.Errorf("%s: no tensor %s", f.Name(), name)
	}
	return f.File.ReadTensorRange(info, off, dst)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Open reads an adapter directory: adapter_config.json and
// adapter_model.safetensors (or an older PEFT's adapter_model.bin, read
// with the restricted unpickler). It reads the tensors' headers, not their
// data.
func Open(dir string) (*Adapter, error) {
	cfgPath := filepath.Join(dir, "adapter_config.json")
	raw, err := regfile.ReadFile(cfgPath, regfile.ConfigLimit)
	if err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	a := &Adapter{Dir: dir, Modules: map[string]*Module{}, Replace: map[string]string{}}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&a.Config); err != nil {
		return nil, fmt.Errorf("lora: %s: %w", cfgPath, err)
	}
	if t := a.Config.PeftType; t != "" && !strings.EqualFold(t, "LORA") {
		return nil, fmt.Errorf("lora: %s: peft_type %q is not LORA", cfgPath, t)
	}
	if a.Config.R <= 0 {
		return nil, fmt.Errorf("lora: %s: r must be positive, got %d", cfgPath, a.Config.R)
	}
	wpath := filepath.Join(dir, "adapter_model.safetensors")
	if _, err := os.Stat(wpath); err == nil {
		f, err := safetensors.Open(wpath)
		if err != nil {
			return nil, fmt.Errorf("lora: %w", err)
		}
		a.file = fileSource{f}
	} else if bpath := filepath.Join(dir, "adapter_model.bin"); exists(bpath) {
		// Older PEFT saves pickles: read with the restricted unpickler.
		wpath = bpath
		if a.file, err = pytorch.Open(bpath); err != nil {
			return nil, fmt.Errorf("lora: %w", err)
		}
	} else {
		return nil, fmt.Errorf("lora: %s: no adapter_model.safetensors or adapter_model.bin", dir)
	}
	if err := a.index(); err != nil {
		a.file.Close()
		return nil, fmt.Errorf("lora: %s: %w", wpath, err)
	}
	if err := a.checkFinite(); err != nil {
		a.file.Close()
		return nil, fmt.Errorf("lora: %s: %w", wpath, err)
	}
	return a, nil
}

// checkFinite reads every low-rank factor, DoRA magnitude and bias delta of
// the adapter and fails on the first NaN or infinity: such a factor would
// turn whole rows of the adapted weights into NaN. Adapters are small, so
// reading them once at open is cheap; the read goes in bounded chunks.
func (a *Adapter) checkFinite() error {
	buf := make([]byte, 1<<20)
	vals := make([]float32, len(buf)/2)
	for _, wname := range keys(a.Modules) {
		mod := a.Modules[wname]
		for _, key := range []string{mod.A, mod.B, mod.Magnitude, mod.Bias} {
			if key == "" {
				continue
			}
			info, _ := a.file.Tensor(key)
			dt, err := tensor.ParseDType(string(info.DType))
			if err != nil || !floatDType(info.DType) {
				continue // refused with its dtype when the module is applied
			}
			size := int64(dt.Size())
			step := int64(len(buf)) / size * size
			for off := int64(0); off < info.Size; off += step {
				n := min(step, info.Size-off)
				if err := a.file.ReadTensorRange(key, off, buf[:n]); err != nil {
					return err
				}
				v := vals[:n/size]
				if err := tensor.Decode(v, buf[:n], dt); err != nil {
					return fmt.Errorf("tensor %s: %w", key, err)
				}
				for i, x := range v {
					if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
						return fmt.Errorf("module %s: tensor %s holds %v at element %d", mod.Name, key, x, off/size+int64(i))
					}
				}
			}
		}
	}
	return nil
}

// Close releases the adapter's file.
func (a *Adapter) Close() error { return a.file.Close() }

// Tensor returns an adapter tensor's description.
func (a *Adapter) Tensor(name string) (safetensors.TensorInfo, bool) { return a.file.Tensor(name) }

const peftPrefix = "base_model.model."

// index sorts the adapter's tensors into modules and replacements.
func (a *Adapter) index() error {
	type parts struct{ a, b, mag, bias, embA, embB string }
	mods := map[string]*parts{}
	get := func(m string) *parts {
		if mods[m] == nil {
			mods[m] = &parts{}
		}
		return mods[m]
	}
	for _, key := range a.file.Names() {
		name, ok := strings.CutPrefix(key, peftPrefix)
		if !ok {
			return fmt.Errorf("tensor %s: PEFT adapter keys start with %q", key, peftPrefix)
		}
		switch {
		case strings.HasSuffix(name, ".lora_A.weight"):
			get(strings.TrimSuffix(name, ".lora_A.weight")).a = key
		case strings.HasSuffix(name, ".lora_B.weight"):
			get(strings.TrimSuffix(name, ".lora_B.weight")).b = key
		case strings.HasSuffix(name, ".lora_B.bias"):
			get(strings.TrimSuffix(name, ".lora_B.bias")).bias = key
		case strings.HasSuffix(name, ".lora_embedding_A"):
			get(strings.TrimSuffix(name, ".lora_embedding_A")).embA = key
		case strings.HasSuffix(name, ".lora_embedding_B"):
			get(strings.TrimSuffix(name, ".lora_embedding_B")).embB = key
		case strings.HasSuffix(name, ".lora_magnitude_vector"):
			get(strings.TrimSuffix(name, ".lora_magnitude_vector")).mag = key
		case strings.HasSuffix(name, ".lora_magnitude_vector.weight"):
			get(strings.TrimSuffix(name, ".lora_magnitude_vector.weight")).mag = key
		case strings.Contains(name, ".lora_"):
			return fmt.Errorf("tensor %s: unknown LoRA tensor kind", key)
		case strings.HasSuffix(name, ".base_layer.weight"):
			a.Replace[strings.TrimSuffix(name, ".base_layer.weight")+".weight"] = key
		default:
			// modules_to_save: stored under the module's own name.
			a.Replace[strings.Replace(name, ".modules_to_save.", ".", 1)] = key
		}
	}
	names := make([]string, 0, len(mods))
	for m := range mods {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		p := mods[m]
		mod := &Module{Name: m, Magnitude: p.mag, Bias: p.bias}
		switch {
		case p.a != "" && p.b != "" && p.embA == "" && p.embB == "":
			mod.A, mod.B = p.a, p.b
			if a.Config.FanInFanOut {
				mod.Kind = Transposed
			}
		case p.embA != "" && p.embB != "" && p.a == "" && p.b == "":
			mod.A, mod.B, mod.Kind = p.embA, p.embB, Transposed
		default:
			return fmt.Errorf("module %s: needs both lora_A and lora_B (or lora_embedding_A and _B)", m)
		}
		ai, _ := a.file.Tensor(mod.A)
		bi, _ := a.file.Tensor(mod.B)
		if len(ai.Shape) != 2 || len(bi.Shape) != 2 {
			return fmt.Errorf("module %s: lora_A %v and lora_B %v must be matrices", m, ai.Shape, bi.Shape)
		}
		r := int(ai.Shape[0])
		if int(bi.Shape[1]) != r {
			return fmt.Errorf("module %s: lora_A %v and lora_B %v disagree on the rank", m, ai.Shape, bi.Shape)
		}
		rank, alpha, err := a.rankAlpha(m)
		if err != nil {
			return err
		}
		if rank != r {
			return fmt.Errorf("module %s: adapter_config.json gives rank %d, the tensors have rank %d", m, rank, r)
		}
		if a.Config.UseRSLoRA {
			mod.Scale = alpha / math.Sqrt(float64(r))
		} else {
			mod.Scale = alpha / float64(r)
		}
		switch {
		case a.Config.UseDoRA && mod.Magnitude == "":
			// Applied as plain LoRA it would give other weights than PEFT.
			return fmt.Errorf("module %s: adapter_config.json sets use_dora but the adapter has no lora_magnitude_vector for it", m)
		case !a.Config.UseDoRA && mod.Magnitude != "":
			return fmt.Errorf("module %s: the adapter has a DoRA magnitude vector %s but adapter_config.json does not set use_dora", m, mod.Magnitude)
		case mod.Magnitude != "" && mod.Kind != Linear:
			return fmt.Errorf("module %s: DoRA is supported for Linear modules only", m)
		}
		mod.Rank = r
		a.Modules[m+".weight"] = mod
	}
	return nil
}

// rankAlpha gives a module's r and lora_alpha, from rank_pattern and
// alpha_pattern when one of their keys matches (PEFT's get_pattern_key: the
// key, a regular expression, must match a dotted suffix of the module name).
func (a *Adapter) rankAlpha(module string) (int, float64, error) {
	r, alpha := a.Config.R, a.Config.Alpha
	if k, ok, err := patternKey(keys(a.Config.RankPattern), module); err != nil {
		return 0, 0, err
	} else if ok {
		r = a.Config.RankPattern[k]
	}
	if k, ok, err := patternKey(keys(a.Config.AlphaPattern), module); err != nil {
		return 0, 0, err
	} else if ok {
		alpha = a.Config.AlphaPattern[k]
	}
	return r, alpha, nil
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func patternKey(patterns []string, module string) (string, bool, error) {
	for _, p := range patterns {
		re, err := regexp.Compile(`^(?:.*\.)?(?:` + p + `)$`)
		if err != nil {
			return "", false, fmt.Errorf("pattern %q in adapter_config.json: %w", p, err)
		}
		if re.MatchString(module) {
			return p, true, nil
		}
	}
	return "", false, nil
}
