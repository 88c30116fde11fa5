package merge

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
				testHeldInputsAccess(t, dir, c.method, c.params, access, access)
			})
		}
		// accessAuto does what the probe found.
		for _, found := range []inputAccess{accessReread, accessMap} {
			t.Run(c.method+" auto "+found.String(), func(t *testing.T) {
				defer setProbed(true, found, safetensors.MapCost{}, nil)()
				testHeldInputsAccess(t, dir, c.method, c.params, accessAuto, found)
			})
		}
	}
}

// testHeldInputsAccess runs method with heldAccess set to access and
// checks that the inputs were served as want says.
func testHeldInputsAccess(t *testing.T, dir, method, params string, access, want inputAccess) {
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
			switch want {
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

// setProbed sets probeAccess's finding and returns a function that puts
// the old one back.
func setProbed(done bool, access inputAccess, cost safetensors.MapCost, err error) func() {
	probed.Lock()
	defer probed.Unlock()
	d, a, c, e := probed.done, probed.access, probed.cost, probed.err
	probed.done, probed.access, probed.cost, probed.err = done, access, cost, err
	return func() {
		probed.Lock()
		defer probed.Unlock()
		probed.done, probed.access, probed.cost, probed.err = d, a, c, e
	}
}

// probeSource is a model whose ProbeMap counts its calls and reports
// cost or err; mapper, when set, maps its tensors.
type probeSource struct {
	safetensors.Source
	mapper safetensors.Mapper
	cost   safetensors.MapCost
	err    error
	probes int
}

func (s *probeSource) MapTensor(name string) (*safetensors.Mapping, error) {
	return s.mapper.MapTensor(name)
}

func (s *probeSource) ProbeMap(name string, n int64) (safetensors.MapCost, error) {
	s.probes++
	return s.cost, s.err
}

// TestProbeAccess checks how probeAccess chooses between mapping and
// rereading the inputs of multi-pass tasks: mapped when mapping and
// touching the probed bytes costs less than 1.5 preads of them, once per
// process, and never decided on an input that cannot tell.
func TestProbeAccess(t *testing.T) {
	ms := time.Millisecond
	big := safetensors.TensorInfo{Name: "w", Size: 64 << 20}
	for _, c := range []struct {
		name     string
		tensor   safetensors.TensorInfo
		cost     safetensors.MapCost
		err      error
		prober   bool
		want     inputAccess
		decided  bool
		wantLogs string
	}{
		{"map cheaper", big, safetensors.MapCost{Bytes: 8 << 20, Map: ms / 2, Read: ms}, nil, true, accessMap, true, "access=mapped"},
		{"map a little dearer", big, safetensors.MapCost{Bytes: 8 << 20, Map: 14 * ms / 10, Read: ms}, nil, true, accessMap, true, "access=mapped"},
		{"map half again as dear", big, safetensors.MapCost{Bytes: 8 << 20, Map: 3 * ms / 2, Read: ms}, nil, true, accessReread, true, "access=reread"},
		{"map dearer", big, safetensors.MapCost{Bytes: 8 << 20, Map: 5 * ms, Read: ms}, nil, true, accessReread, true, "access=reread"},
		{"probe fails", big, safetensors.MapCost{}, errors.New("no mapping here"), true, accessReread, true, "no mapping here"},
		{"too small to tell", safetensors.TensorInfo{Name: "w", Size: minProbeBytes - 1}, safetensors.MapCost{Map: ms / 2, Read: ms}, nil, true, accessReread, false, ""},
		{"no prober", big, safetensors.MapCost{}, nil, false, accessReread, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer setProbed(false, accessReread, safetensors.MapCost{}, nil)()
			ps := &probeSource{cost: c.cost, err: c.err}
			var src safetensors.Source = ps
			if !c.prober {
				src = struct{ safetensors.Source }{ps}
			}
			in := TaskInput{Model: &SourceModel{Tensors: src}, Tensor: c.tensor}
			for range 3 {
				if got, _ := probeAccess(in); got != c.want {
					t.Fatalf("probeAccess = %v, want %v", got, c.want)
				}
			}
			if want := map[bool]int{true: 1}[c.decided]; ps.probes != want {
				t.Errorf("probed %d times, want %d", ps.probes, want)
			}
			var logs strings.Builder
			logAccess(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			if !strings.Contains(logs.String(), c.wantLogs) || (c.wantLogs == "") != (logs.Len() == 0) {
				t.Errorf("log %q, want it to say %q", logs.String(), c.wantLogs)
			}
			// Once decided, any input gets the same answer.
			other := TaskInput{Model: &SourceModel{Tensors: struct{ safetensors.Source }{ps}}, Tensor: big}
			if got, _ := probeAccess(other); c.decided && got != c.want {
				t.Errorf("after the probe another input gets %v, want %v", got, c.want)
			}
		})
	}
}

// TestPlanDoesNotProbe checks that costing a plan (PeakMemory, as `gomerge
// plan` does) reads no weights to probe, and counts multi-pass inputs as
// mapped until the probe has run; Execute probes once before it costs the
// tasks.
func TestPlanDoesNotProbe(t *testing.T) {
	dir := bf16Models(t)
	defer func(a inputAccess, m, n int64) { heldAccess, minProbeBytes, chunkElements = a, m, n }(heldAccess, minProbeBytes, chunkElements)
	defer setProbed(false, accessReread, safetensors.MapCost{}, nil)()
	heldAccess, minProbeBytes, chunkElements = accessAuto, 1, 100 // several pieces
	yml := "merge_method: ties\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: {weight: 0.6, density: 0.5}\n" +
		"  - model: ft2\n    parameters: {weight: 0.6, density: 0.5}\ndtype: bfloat16\n"
	plan, err := planYAML(t, dir, yml)
	if err != nil {
		t.Fatal(err)
	}
	var srcs []*probeSource
	for _, m := range plan.Models {
		s := &probeSource{Source: m.Tensors, mapper: m.Tensors.(safetensors.Mapper),
			cost: safetensors.MapCost{Bytes: 8 << 20, Map: time.Millisecond, Read: time.Millisecond}}
		m.Tensors = s
		srcs = append(srcs, s)
	}
	probes := func() (n int) {
		for _, s := range srcs {
			n += s.probes
		}
		return n
	}
	mapped := plan.PeakMemory(2, 0)
	if n := probes(); n != 0 {
		t.Fatalf("PeakMemory probed %d times", n)
	}
	heldAccess = accessReread
	reread := plan.PeakMemory(2, 0)
	heldAccess = accessAuto
	if mapped <= reread {
		t.Errorf("PeakMemory before the probe %d, reread %d: want the mapped estimate, the larger", mapped, reread)
	}
	if _, err := Execute(context.Background(), plan, filepath.Join(t.TempDir(), "out"), Options{Threads: 2, Seed: new(uint64(1))}); err != nil {
		t.Fatal(err)
	}
	if n := probes(); n != 1 {
		t.Errorf("Execute probed %d times, want once", n)
	}
	if a := costedAccess(); a != accessMap {
		t.Errorf("after the probe the tasks are costed as %v, want mapped", a)
	}
}
