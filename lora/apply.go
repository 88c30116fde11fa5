package lora

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// Model is a base model with an adapter applied on the fly. It implements
// safetensors.Source: tensors the adapter does not touch read straight
// from the base; adapted ones are computed row by row as they are read.
// Its methods are safe for concurrent use.
type Model struct {
	base    safetensors.Source
	adapter *Adapter
	infos   map[string]safetensors.TensorInfo
	names   []string

	// biases maps bias tensor names to the modules whose lora_B.bias
	// adds to them.
	biases map[string]*Module

	mu      sync.Mutex
	factors map[string]*factors
}

// factors are a module's low-rank factors in float32, the scale folded
// into left: row p of the delta is Σ_k left[p·r+k] · right[k·cols:(k+1)·cols].
type factors struct {
	left, right []float32
	magnitude   []float32 // DoRA, one per row
}

// Apply checks that every adapted module matches a base tensor in shape and
// returns the base with the adapter applied. The Model owns both: closing
// it closes the adapter and the base.
func Apply(base safetensors.Source, a *Adapter) (*Model, error) {
	m := &Model{base: base, adapter: a, infos: map[string]safetensors.TensorInfo{}, factors: map[string]*factors{},
		biases: map[string]*Module{}}
	for _, n := range base.Names() {
		info, _ := base.Tensor(n)
		m.infos[n] = info
	}
	for _, wname := range keys(a.Modules) {
		mod := a.Modules[wname]
		w, ok := m.infos[wname]
		if !ok {
			return nil, fmt.Errorf("lora %s: module %s: the base model has no tensor %s", a.Dir, mod.Name, wname)
		}
		if err := checkModule(a, mod, w); err != nil {
			return nil, fmt.Errorf("lora %s: module %s: %w", a.Dir, mod.Name, err)
		}
		if mod.Bias != "" {
			bname := mod.Name + ".bias"
			bi, ok := m.infos[bname]
			if !ok {
				return nil, fmt.Errorf("lora %s: module %s: the adapter has a bias delta, the base model no tensor %s", a.Dir, mod.Name, bname)
			}
			ai, _ := a.Tensor(mod.Bias)
			if !slices.Equal(ai.Shape, bi.Shape) {
				return nil, fmt.Errorf("lora %s: %s: bias delta %v, base bias %v", a.Dir, mod.Bias, ai.Shape, bi.Shape)
			}
			m.biases[bname] = mod
		}
	}
	for _, bname := range keys(a.Replace) {
		key := a.Replace[bname]
		w, ok := m.infos[bname]
		ai, _ := a.Tensor(key)
		if !ok {
			return nil, fmt.Errorf("lora %s: tensor %s replaces %s, which the base model lacks", a.Dir, key, bname)
		}
		if !slices.Equal(ai.Shape, w.Shape) {
			return nil, fmt.Errorf("lora %s: tensor %s has shape %v, the base model's %s %v (resized vocabularies are not supported)", a.Dir, key, ai.Shape, bname, w.Shape)
		}
		if _, adapted := a.Modules[bname]; adapted && a.Config.UseDoRA {
			return nil, fmt.Errorf("lora %s: %s is both replaced and DoRA-adapted", a.Dir, bname)
		}
	}
	m.names = slices.Clone(base.Names())
	return m, nil
}

func checkModule(a *Adapter, mod *Module, w safetensors.TensorInfo) error {
	ai, _ := a.Tensor(mod.A)
	bi, _ := a.Tensor(mod.B)
	if len(w.Shape) != 2 {
		return fmt.Errorf("base weight %s has shape %v, not a matrix", w.Name, w.Shape)
	}
	if _, err := tensor.ParseDType(string(w.DType)); err != nil || !floatDType(w.DType) {
		return fmt.Errorf("base weight %s has dtype %s; LoRA needs a float type", w.Name, w.DType)
	}
	rows, cols := w.Shape[0], w.Shape[1]
	var wantA, wantB []int64
	if mod.Kind == Linear {
		wantA, wantB = []int64{int64(mod.Rank), cols}, []int64{rows, int64(mod.Rank)}
	} else {
		wantA, wantB = []int64{int64(mod.Rank), rows}, []int64{cols, int64(mod.Rank)}
	}
	if !slices.Equal(ai.Shape, wantA) || !slices.Equal(bi.Shape, wantB) {
		return fmt.Errorf("base weight %s %v needs A %v and B %v, the adapter has %v and %v", w.Name, w.Shape, wantA, wantB, ai.Shape, bi.Shape)
	}
	if mod.Magnitude != "" {
		mi, _ := a.Tensor(mod.Magnitude)
		if mi.NumElements() != rows {
			return fmt.Errorf("DoRA magnitude %v does not match %d output rows", mi.Shape, rows)
		}
	}
	return nil
}

func floatDType(d safetensors.DType) bool {
	switch d {
	case safetensors.F16, safetensors.BF16, safetensors.F32, safetensors.F64:
		return true
	}
	return false
}

// Names returns the base model's tensor names.
func (m *Model) Names() []string { return m.names }

// Tensor returns a tensor's description, the base model's.
func (m *Model) Tensor(name string) (safetensors.TensorInfo, bool) {
	info, ok := m.infos[name]
	return info, ok
}

// Close closes the adapter and the base.
func (m *Model) Close() error {
	err := m.adapter.Close()
	if berr := m.base.Close(); err == nil {
		err = berr
	}
	return err
}

// ReadTensorRange reads bytes of a tensor with the adapter applied.
func (m *Model) ReadTensorRange(name string, off int64, dst []byte) error {
	info, ok := m.infos[name]
	if !ok {
		return fmt.Errorf("lora: no tensor %s", name)
	}
	if off < 0 || off+int64(len(dst)) > info.Size {
		return fmt.Errorf("lora: tensor %s: range %d+%d outside its %d bytes", name, off, len(dst), info.Size)
	}
	if mod, ok := m.adapter.Modules[name]; ok {
		return m.readAdapted(info, mod, off, dst)
	}
	if bias := m.biases[name]; bias != nil {
		return m.readBias(info, bias, off, dst)
	}
	return m.readBase(info, off, dst)
}

// readBase reads a tensor before the low-rank update: the adapter's copy
// when it stores one (modules_to_save, base_layer), else the base model's.
func (m *Model) readBase(info safetensors.TensorInfo, off int64, dst []byte) error {
	if key, ok := m.adapter.Replace[info.Name]; ok {
		return m.readReplaced(info, key, off, dst)
	}
	return m.base.ReadTensorRange(info.Name, off, dst)
}

// readAdapted computes the rows of W' that cover [off, off+len(dst)).
func (m *Model) readAdapted(info safetensors.TensorInfo, mod *Module, off int64, dst []byte) error {
	f, err := m.factorsOf(info, mod)
	if err != nil {
		return err
	}
	dt, _ := tensor.ParseDType(string(info.DType))
	es := int64(dt.Size())
	cols := info.Shape[1]
	rowBytes := cols * es
	first, last := off/rowBytes, (off+int64(len(dst))-1)/rowBytes
	n := last - first + 1
	raw := make([]byte, n*rowBytes)
	if err := m.readBase(info, first*rowBytes, raw); err != nil {
		return err
	}
	row := make([]float32, cols)
	delta := make([]float32, cols)
	out := make([]byte, rowBytes)
	r := mod.Rank
	for i := range n {
		p := first + i
		if err := tensor.Decode(row, raw[i*rowBytes:(i+1)*rowBytes], dt); err != nil {
			return fmt.Errorf("lora: %s: %w", info.Name, err)
		}
		clear(delta)
		for k := range r {
			tensor.Axpy(delta, f.left[int(p)*r+k], f.right[k*int(cols):(k+1)*int(cols)])
		}
		tensor.Add(row, delta)
		if f.magnitude != nil {
			norm := math.Sqrt(tensor.SumSquares(row))
			tensor.Scale(row, float32(float64(f.magnitude[p])/norm))
		}
		if err := tensor.Encode(out, row, dt); err != nil {
			return fmt.Errorf("lora: %s: %w", info.Name, err)
		}
		// Copy the part of this row that the caller asked for.
		rs := p * rowBytes
		lo, hi := max(off, rs), min(off+int64(len(dst)), rs+rowBytes)
		copy(dst[lo-off:hi-off], out[lo-rs:hi-rs])
	}
	return nil
}

// factorsOf loads a module's factors once.
func (m *Model) factorsOf(info safetensors.TensorInfo, mod *Module) (*factors, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f, ok := m.factors[info.Name]; ok {
		return f, nil
	}
	a, err := m.readF32(mod.A)
	if err != nil {
		return nil, err
	}
	b, err := m.readF32(mod.B)
	if err != nil {
		return nil, err
	}
	ai, _ := m.adapter.Tensor(mod.A)
	bi, _ := m.adapter.Tensor(mod.B)
	r := mod.Rank
	f := &factors{}
	s := float32(mod.Scale)
	if mod.Kind == Linear {
		// delta[p, :] = Σ_k s·B[p,k] · A[k, :]
		f.left, f.right = b, a
		tensor.Scale(f.left, s)
	} else {
		// delta[p, :] = Σ_k s·A[k,p] · B[:, k]ᵀ: left = s·Aᵀ, right = Bᵀ.
		rows, cols := int(ai.Shape[1]), int(bi.Shape[0])
		f.left = make([]float32, rows*r)
		for k := range r {
			for p := range rows {
				f.left[p*r+k] = s * a[k*rows+p]
			}
		}
		f.right = make([]float32, r*cols)
		for c := range cols {
			for k := range r {
				f.right[k*cols+c] = b[c*r+k]
			}
		}
	}
	if mod.Magnitude != "" {
		if f.magnitude, err = m.readF32(mod.Magnitude); err != nil {
			return nil, err
		}
	}
	m.factors[info.Name] = f
	return f, nil
}

// readF32 reads a whole adapter tensor as float32.
func (m *Model) readF32(key string) ([]float32, error) {
	info, _ := m.adapter.Tensor(key)
	dt, err := tensor.ParseDType(string(info.DType))
	if err != nil || !floatDType(info.DType) {
		return nil, fmt.Errorf("lora %s: tensor %s has dtype %s, not a float type", m.adapter.Dir, key, info.DType)
	}
	raw := make([]byte, info.Size)
	if err := m.adapter.file.ReadTensorRange(key, 0, raw); err != nil {
		return nil, fmt.Errorf("lora %s: %w", m.adapter.Dir, err)
	}
	out := make([]float32, info.NumElements())
	if err := tensor.Decode(out, raw, dt); err != nil {
		return nil, fmt.Errorf("lora %s: tensor %s: %w", m.adapter.Dir, key, err)
	}
	return out, nil
}

// readReplaced reads a tensor the adapter stores whole, cast to the base
// tensor's dtype.
func (m *Model) readReplaced(info safetensors.TensorInfo, key string, off int64, dst []byte) error {
	ai, _ := m.adapter.Tensor(key)
	if ai.DType == info.DType {
		return m.adapter.file.ReadTensorRange(ai.Name, off, dst)
	}
	vals, err := m.readF32(key)
	if err != nil {
		return err
	}
	return encodeRange(info, vals, off, dst)
}

// readBias adds s·lora_B.bias to a module's bias.
func (m *Model) readBias(info safetensors.TensorInfo, mod *Module, off int64, dst []byte) error {
	dt, err := tensor.ParseDType(string(info.DType))
	if err != nil || !floatDType(info.DType) {
		return fmt.Errorf("lora: bias %s has dtype %s, not a float type", info.Name, info.DType)
	}
	raw := make([]byte, info.Size)
	if err := m.readBase(info, 0, raw); err != nil {
		return err
	}
	vals := make([]float32, info.NumElements())
	if err := tensor.Decode(vals, raw, dt); err != nil {
		return err
	}
	d, err := m.readF32(mod.Bias)
	if err != nil {
		return err
	}
	tensor.Axpy(vals, float32(mod.Scale), d)
	return encodeRange(info, vals, off, dst)
}

func encodeRange(info safetensors.TensorInfo, vals []float32, off int64, dst []byte) error {
	dt, _ := tensor.ParseDType(string(info.DType))
	out := make([]byte, info.Size)
	if err := tensor.Encode(out, vals, dt); err != nil {
		return fmt.Errorf("lora: %s: %w", info.Name, err)
	}
	copy(dst, out[off:])
	return nil
}

var _ safetensors.Source = (*Model)(nil)
