package merge

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gomerge/gomerge/safetensors"
)

// accessSource counts how a model's tensors are read: mappings made and
// bytes read with ReadTensorRange, per tensor.
type accessSource struct {
	safetensors.Source
	mapper safetensors.Mapper
	mu     sync.Mutex
	maps   map[string]int
	read   map[string]int64
}

func (s *accessSource) MapTensor(name string) (*safetensors.Mapping, error) {
	s.mu.Lock()
	s.maps[name]++
	s.mu.Unlock()
	return s.mapper.MapTensor(name)
}

func (s *accessSource) ReadTensorRange(name string, off int64, dst []byte) error {
	s.mu.Lock()
	s.read[name] += int64(len(dst))
	s.mu.Unlock()
	return s.Source.ReadTensorRange(name, off, dst)
}

// TestHeldInputsAccess checks how the executor serves the inputs of tasks
// that go over them twice (ties and model_stock: an analysis pass, then
// the merge; ties on stored bytes, model_stock on float32 task vectors):
// by default each pass reads its pieces again (twice the tensor's bytes,
// the base's included, and the sample, no mapping); mapped, nothing is
// read; held, each input is read once.
func TestHeldInputsAccess(t *testing.T) {
	dir := bf16Models(t)
	defer func(n int64, a inputAccess) { chunkElements, heldAccess = n, a }(chunkElements, heldAccess)
	chunkElements = 100 // several pieces
	for _, c := range []struct{ method, params string }{{"ties", "{weight: 0.6, density: 0.5}"}, {"model_stock", "{}"}, {"breadcrumbs_ties", "{weight: 0.6, density: 0.5, gamma: 0.01}"}} {
		for _, access := range []inputAccess{accessReread, accessMap, accessCopy} {
			t.Run(c.method+" "+access.String(), func(t *testing.T) {
				testHeldInputsAccess(t, dir, c.method, c.params, access)
			})
		}
	}
}

func testHeldInputsAccess(t *testing.T, dir, method, params string, access inputAccess) {
	yml := "merge_method: " + method + "\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: " + params + "\n" +
		"  - model: ft2\n    parameters: " + params + "\ndtype: bfloat16\n"
	heldAccess = access
	plan, err := planYAML(t, dir, yml)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	srcs := map[*SourceModel]*accessSource{}
	for _, m := range plan.Models {
		mp, ok := m.Tensors.(safetensors.Mapper)
		if !ok {
			t.Fatalf("model %s cannot be mapped", m.Ref)
		}
		s := &accessSource{Source: m.Tensors, mapper: mp, maps: map[string]int{}, read: map[string]int64{}}
		m.Tensors, srcs[m] = s, s
	}
	if _, err := Execute(context.Background(), plan, filepath.Join(t.TempDir(), "out"), Options{Threads: 2, Seed: new(uint64(1))}); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, task := range plan.Tasks {
		if c, hold := chunk(plan.Method, task); !hold || c == task.NumElements() {
			continue // read once, or whole
		}
		for _, in := range task.Inputs {
			s, size := srcs[in.Model], in.Tensor.Size
			maps, read := s.maps[in.Tensor.Name], s.read[in.Tensor.Name]
			switch access {
			case accessReread:
				// Two passes, the base's pieces read once each, and the
				// sample (bfloat16 inputs).
				want := 2 * size
				if plan.Method.WantsSample {
					want += min(size, 2*sampleSize)
				}
				if maps != 0 || read != want {
					t.Errorf("%s %s: %d mappings, %d bytes read of %d, want none and %d", in.Model.Ref, in.Tensor.Name, maps, read, size, want)
				}
			case accessMap:
				if maps != 1 || read != 0 {
					t.Errorf("%s %s: %d mappings, %d bytes read, want one and none", in.Model.Ref, in.Tensor.Name, maps, read)
				}
			case accessCopy:
				if maps != 0 || read != size {
					t.Errorf("%s %s: %d mappings, %d bytes read of %d, want none and one copy", in.Model.Ref, in.Tensor.Name, maps, read, size)
				}
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no held task")
	}
}
