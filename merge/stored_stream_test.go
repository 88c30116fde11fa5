package merge

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// TestStoredStreamMatchesUnstored checks that tasks merged from stored
// bfloat16 pieces give the bytes of the float32 path: element-wise ones
// (linear, and the task-vector methods when every density is 1) and
// slerp, with pieces that end inside a block and on one to three threads.
func TestStoredStreamMatchesUnstored(t *testing.T) {
	dir := bf16Models(t)
	defer func(n int64) { chunkElements = n }(chunkElements)
	models := "models:\n" +
		"  - model: ft1\n    parameters: {weight: 0.6}\n" +
		"  - model: ft2\n    parameters: {weight: -0.4}\n" +
		"  - model: ft3\n    parameters: {weight: 0.3}\n"
	for _, c := range []struct {
		m   *Method
		yml string
	}{
		{Linear, "merge_method: linear\ndtype: bfloat16\n" + models + "  - model: base\n    parameters: {weight: 0.2}\n"},
		{Linear, "merge_method: linear\ndtype: bfloat16\nparameters: {normalize: false}\n" + models},
		{TaskArithmetic, "merge_method: task_arithmetic\nbase_model: base\ndtype: bfloat16\n" + models},
		{TaskArithmetic, "merge_method: task_arithmetic\nbase_model: base\ndtype: bfloat16\nparameters: {normalize: true, lambda: 0.7}\n" + models},
		{TIES, "merge_method: ties\nbase_model: base\ndtype: bfloat16\n" + strings.ReplaceAll(models, "}", ", density: 1}")},
		{Slerp, "merge_method: slerp\nbase_model: base\ndtype: bfloat16\nparameters: {t: 0.3}\nmodels: [{model: base}, {model: ft1}]\n"},
		{Slerp, "merge_method: slerp\nbase_model: base\ndtype: bfloat16\nparameters: {t: 0.7}\nmodels: [{model: ft3}, {model: base}]\n"},
		{DARELinear, "merge_method: dare_linear\nbase_model: base\ndtype: bfloat16\n" + strings.ReplaceAll(models, "}", ", density: 1}")},
	} {
		for _, chunk := range []int64{1000, 1 << 18} {
			chunkElements = chunk
			run := func(name string, stored bool, threads int) string {
				t.Helper()
				c.m.StoredBF16 = stored
				defer func() { c.m.StoredBF16 = true }()
				out := filepath.Join(t.TempDir(), name)
				if _, err := runYAML(t, dir, c.yml, out, Options{Seed: new(uint64(5)), Threads: threads}); err != nil {
					t.Fatalf("%s %s: %v", c.m.Name, name, err)
				}
				return out
			}
			want := run("unstored", false, 2)
			for _, threads := range []int{1, 2, 3} {
				sameTensors(t, want, run("stored", true, threads))
			}
		}
	}
}

// TestStoredTask checks which tasks the executor hands stored bytes to.
func TestStoredTask(t *testing.T) {
	dir := bf16Models(t)
	f32 := filepath.Join(dir, "f32")
	if err := testmodel.Write(f32, testmodel.Spec{Seed: 1, Delta: 0.01, DeltaSeed: 7, DType: tensor.F32}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, yml string
		be        tensor.Backend
		want      bool
	}{
		{"linear bf16", "merge_method: linear\ndtype: bfloat16\nmodels: [{model: ft1, parameters: {weight: 1}}, {model: ft2, parameters: {weight: 1}}]\n", nil, true},
		{"linear float32 work", "merge_method: linear\ndtype: float32\nmodels: [{model: ft1, parameters: {weight: 1}}, {model: ft2, parameters: {weight: 1}}]\n", nil, false},
		{"linear float32 input", "merge_method: linear\ndtype: bfloat16\nmodels: [{model: ft1, parameters: {weight: 1}}, {model: f32, parameters: {weight: 1}}]\n", nil, false},
		{"linear another backend", "merge_method: linear\ndtype: bfloat16\nmodels: [{model: ft1, parameters: {weight: 1}}, {model: ft2, parameters: {weight: 1}}]\n", &countingBackend{}, false},
		{"task_arithmetic dense", "merge_method: task_arithmetic\nbase_model: base\ndtype: bfloat16\nmodels: [{model: ft1, parameters: {weight: 1}}]\n", nil, true},
		{"task_arithmetic sparse, whole", "merge_method: task_arithmetic\nbase_model: base\ndtype: bfloat16\nparameters: {rescale: true}\nmodels: [{model: ft1, parameters: {weight: 1, density: 0.5}}]\n", nil, false},
		{"slerp", "merge_method: slerp\nbase_model: base\ndtype: bfloat16\nparameters: {t: 0.3}\nmodels: [{model: base}, {model: ft1}]\n", nil, true},
		{"slerp float32 work", "merge_method: slerp\nbase_model: base\ndtype: float32\nparameters: {t: 0.3}\nmodels: [{model: base}, {model: ft1}]\n", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(c.yml), "config.yml")
			if err != nil {
				t.Fatal(err)
			}
			plan, err := NewPlanContext(context.Background(), cfg, PlanOptions{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer plan.Close()
			for _, task := range plan.Tasks {
				_, hold := chunk(plan.Method, task)
				if got := storedTask(plan.Method, task, c.be, hold); got != c.want {
					t.Fatalf("%s: stored = %v, want %v", task.Name, got, c.want)
				}
			}
		})
	}
}

// TestStreamedInputsAccess checks that stored element-wise tasks read
// every input once, piece by piece, without mapping it.
func TestStreamedInputsAccess(t *testing.T) {
	dir := bf16Models(t)
	defer func(n int64) { chunkElements = n }(chunkElements)
	chunkElements = 100 // several pieces
	for _, yml := range []string{
		"merge_method: linear\ndtype: bfloat16\nmodels: [{model: ft1, parameters: {weight: 0.6}}, {model: ft2, parameters: {weight: 0.4}}, {model: base, parameters: {weight: 0.1}}]\n",
		"merge_method: task_arithmetic\nbase_model: base\ndtype: bfloat16\nmodels: [{model: ft1, parameters: {weight: 0.6}}, {model: ft2, parameters: {weight: 0.4}}]\n",
	} {
		plan, err := planYAML(t, dir, yml)
		if err != nil {
			t.Fatal(err)
		}
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
		for _, task := range plan.Tasks {
			_, hold := chunk(plan.Method, task)
			if !storedTask(plan.Method, task, nil, hold) {
				t.Fatalf("%s %s: not stored", plan.Method.Name, task.Name)
			}
			for _, in := range task.Inputs {
				s := srcs[in.Model]
				if maps, read := s.maps[in.Tensor.Name], s.read[in.Tensor.Name]; maps != 0 || read != in.Tensor.Size {
					t.Errorf("%s %s %s: %d mappings, %d bytes read, want none and %d", plan.Method.Name, in.Model.Ref, in.Tensor.Name, maps, read, in.Tensor.Size)
				}
			}
		}
		plan.Close()
	}
}
