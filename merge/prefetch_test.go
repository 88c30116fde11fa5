package merge

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gomerge/gomerge/safetensors"
)

// eventLog records, in order, the tensors a merge prefetches and reads.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(kind, model, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, kind+" "+model+" "+name)
}

// recordingSource is a Source and Prefetcher that logs the prefetches and
// reads of one model. It is not a Mapper, so the executor reads through
// ReadTensorRange.
type recordingSource struct {
	safetensors.Source
	model string
	log   *eventLog
	// delay holds each prefetch back before it is logged, so that a
	// prefetch issued concurrently with the task it should precede shows
	// up after that task's reads instead of winning the race by luck.
	delay time.Duration
}

func (s *recordingSource) PrefetchTensor(name string) {
	time.Sleep(s.delay)
	s.log.add("prefetch", s.model, name)
}

func (s *recordingSource) ReadTensorRange(name string, off int64, dst []byte) error {
	s.log.add("read", s.model, name)
	return s.Source.ReadTensorRange(name, off, dst)
}

// TestPrefetchTask checks which names prefetchTask asks a source for: a
// stored tensor by its name, a tensor assembled from parts by each part,
// nothing for an input produced by a read function or held by a source
// that cannot prefetch.
func TestPrefetchTask(t *testing.T) {
	log := &eventLog{}
	rec := &SourceModel{Tensors: &recordingSource{model: "m", log: log}}
	plain := &SourceModel{Tensors: nil} // not a Prefetcher
	info := func(name string) safetensors.TensorInfo { return safetensors.TensorInfo{Name: name} }
	for _, c := range []struct {
		name string
		in   []TaskInput
		want []string
	}{
		{"stored", []TaskInput{{Model: rec, Tensor: info("a")}}, []string{"prefetch m a"}},
		{"parts", []TaskInput{{Model: rec, Tensor: info("fused"), Parts: []safetensors.TensorInfo{info("p0"), info("p1")}}},
			[]string{"prefetch m p0", "prefetch m p1"}},
		{"read function", []TaskInput{{Model: rec, Tensor: info("embed"), read: func(int64, []byte) error { return nil }}}, nil},
		{"no prefetcher", []TaskInput{{Model: plain, Tensor: info("a")}}, nil},
		{"several inputs", []TaskInput{{Model: rec, Tensor: info("x")}, {Model: plain, Tensor: info("y")}, {Model: rec, Tensor: info("z")}},
			[]string{"prefetch m x", "prefetch m z"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			log.events = nil
			prefetchTask(&Task{Name: "t", Inputs: c.in})
			if !slices.Equal(log.events, c.want) {
				t.Errorf("prefetched %q, want %q", log.events, c.want)
			}
		})
	}
}

// TestExecuteReadsAhead runs merges over sources that log what they are
// asked for and checks the read-ahead: every input of every task is
// prefetched, and (one thread, so tasks run one after another, largest
// first) before its first read, and before the task before it begins (the executor issues it
// before starting that task, not concurrently with it).
func TestExecuteReadsAhead(t *testing.T) {
	dir := tinyModels(t)
	for _, method := range []string{"linear", "ties"} {
		t.Run(method, func(t *testing.T) {
			yml := "merge_method: " + method + "\nbase_model: base\nmodels:\n  - model: ft1\n    parameters: {weight: 0.6, density: 0.5}\n" +
				"  - model: ft2\n    parameters: {weight: 0.4, density: 0.5}\ndtype: bfloat16\n"
			plan, err := planYAML(t, dir, yml)
			if err != nil {
				t.Fatal(err)
			}
			defer plan.Close()
			log := &eventLog{}
			for _, m := range plan.Models {
				m.Tensors = &recordingSource{Source: m.Tensors, model: m.Ref.String(), log: log, delay: time.Millisecond}
			}
			if _, err := Execute(context.Background(), plan, filepath.Join(t.TempDir(), "out"), Options{Threads: 1, Seed: new(uint64(1))}); err != nil {
				t.Fatal(err)
			}
			at := map[string]int{}
			for i, e := range log.events {
				if _, ok := at[e]; !ok {
					at[e] = i
				}
			}
			inputs := 0
			tasks := largestFirst(plan.Tasks) // the order they run in
			for ti, task := range tasks {
				for _, in := range task.Inputs {
					if in.read != nil || len(in.Parts) > 0 {
						continue
					}
					inputs++
					key := in.Model.Ref.String() + " " + in.Tensor.Name
					p, ok := at["prefetch "+key]
					if !ok {
						t.Fatalf("task %d (%s): input %s never prefetched", ti, task.Name, key)
					}
					r, ok := at["read "+key]
					if !ok {
						continue // read by an earlier task, or not at all
					}
					if p > r {
						t.Errorf("task %d (%s): %s read (event %d) before its prefetch (event %d)", ti, task.Name, key, r, p)
					}
					if ti > 0 {
						// The prefetch comes before the previous task's first read.
						prev := tasks[ti-1].Inputs[0]
						if pr, ok := at["read "+prev.Model.Ref.String()+" "+prev.Tensor.Name]; ok && pr < p && !sharesInput(tasks[ti-1], task) {
							t.Errorf("task %d (%s): %s prefetched (event %d) only after task %d began reading (event %d)", ti, task.Name, key, p, ti-1, pr)
						}
					}
				}
			}
			if inputs == 0 {
				t.Fatal("no task inputs checked")
			}
			t.Log(fmt.Sprintf("%d inputs, %d events", inputs, len(log.events)))
		})
	}
}

// sharesInput says whether two tasks read a tensor in common (tied
// weights), which makes the first-read order ambiguous.
func sharesInput(a, b *Task) bool {
	for _, x := range a.Inputs {
		for _, y := range b.Inputs {
			if x.Model == y.Model && x.Tensor.Name == y.Tensor.Name {
				return true
			}
		}
	}
	return false
}

// TestLargestFirst checks the order tasks run in: by the bytes of their
// inputs, largest first, equal ones in plan order.
func TestLargestFirst(t *testing.T) {
	task := func(name string, sizes ...int64) *Task {
		tk := &Task{Name: name}
		for _, s := range sizes {
			tk.Inputs = append(tk.Inputs, TaskInput{Tensor: safetensors.TensorInfo{Size: s}})
		}
		return tk
	}
	tasks := []*Task{task("norm", 8, 8), task("embed", 100, 100), task("q", 40, 40), task("k", 40, 40), task("head", 100, 100), task("one", 90)}
	var got []string
	for _, tk := range largestFirst(tasks) {
		got = append(got, tk.Name)
	}
	if want := []string{"embed", "head", "one", "q", "k", "norm"}; !slices.Equal(got, want) {
		t.Errorf("order %q, want %q", got, want)
	}
	if tasks[0].Name != "norm" {
		t.Error("largestFirst reordered its argument")
	}
}
