package local

import (
	"container/list"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/safetensors"
)

// Reuse keeps merged tensors from one candidate to the next, so that a
// search whose candidates differ in a few parameters (an evolve genome
// that moves one layer's weights) merges, and so reads and decodes the
// inputs of, only the tensors whose recipe changed. A tensor's recipe is
// everything its bytes depend on: the method, its global parameters, its
// seed, its output dtype and shape, and for each input the model
// directory, the stored tensor and its parameters (and for embeddings the
// tokenizer settings). Tensors fed by an in-memory stage of a multi-stage
// merge are never kept. Entries are the merged bytes, evicted least
// recently used beyond the budget. A Reuse is safe for concurrent use.
type Reuse struct {
	budget       int64
	hits, misses atomic.Int64

	mu    sync.Mutex
	used  int64
	lru   *list.List // of *reuseEntry, most recent first
	byKey map[string]*list.Element
}

type reuseEntry struct {
	key  string
	data []byte
}

// NewReuse returns a Reuse that keeps up to budget bytes of merged
// tensors.
func NewReuse(budget int64) *Reuse {
	return &Reuse{budget: budget, lru: list.New(), byKey: map[string]*list.Element{}}
}

// Stats returns how many tensor reads were served from kept tensors and
// how many were merged.
func (r *Reuse) Stats() (hits, misses int64) { return r.hits.Load(), r.misses.Load() }

func (r *Reuse) get(key string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byKey[key]
	if !ok {
		return nil, false
	}
	r.lru.MoveToFront(e)
	return e.Value.(*reuseEntry).data, true
}

func (r *Reuse) put(key string, data []byte) {
	if int64(len(data)) > r.budget {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byKey[key]; ok {
		return
	}
	r.byKey[key] = r.lru.PushFront(&reuseEntry{key, data})
	r.used += int64(len(data))
	for r.used > r.budget {
		old := r.lru.Back()
		e := old.Value.(*reuseEntry)
		r.lru.Remove(old)
		delete(r.byKey, e.key)
		r.used -= int64(len(e.data))
	}
}

// source wraps a plan's output so that whole-tensor reads go through r.
func (r *Reuse) source(plan *merge.Plan, src safetensors.Source, seed uint64) safetensors.Source {
	keys := map[string]string{}
	for _, t := range plan.Tasks {
		if k, ok := recipe(plan, t, seed); ok {
			keys[t.Name] = k
		}
	}
	return &reuseSource{Source: src, r: r, keys: keys}
}

// recipe returns the key of everything task t's bytes depend on, or false
// if they depend on something it cannot see.
func recipe(plan *merge.Plan, t *merge.Task, seed uint64) (string, bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%d|%v|%v|%v|%d|", plan.Method.Name, t.Name, seed, t.Shape, t.Work, t.Out, t.Base)
	writeParams(&b, t.Global)
	if t.IsEmbed {
		// Embedding rows may be re-ordered to a built vocabulary.
		tok, err := json.Marshal([]any{plan.Config.TokenizerSource, plan.Config.Tokenizer})
		if err != nil {
			return "", false
		}
		b.Write(tok)
	}
	for _, in := range t.Inputs {
		if _, virtual := in.Model.Tensors.(*merge.PlanSource); virtual || in.Model.Dir == "" {
			return "", false
		}
		fmt.Fprintf(&b, "|%s|%s|%d|%d|%v|", in.Model.Dir, in.Tensor.Name, in.Tensor.Offset, in.Tensor.Size, in.DType)
		for _, p := range in.Parts {
			fmt.Fprintf(&b, "%s@%d+%d,", p.Name, p.Offset, p.Size)
		}
		writeParams(&b, in.Params)
	}
	return b.String(), true
}

func writeParams(b *strings.Builder, p map[string]float64) {
	names := make([]string, 0, len(p))
	for k := range p {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(b, "%s=%v;", k, p[k])
	}
}

type reuseSource struct {
	safetensors.Source
	r    *Reuse
	keys map[string]string
}

// ReadTensorRange serves a whole-tensor read of a kept tensor from r, and
// keeps what it merges.
func (s *reuseSource) ReadTensorRange(name string, off int64, dst []byte) error {
	key, ok := s.keys[name]
	info, known := s.Tensor(name)
	if !ok || !known || off != 0 || int64(len(dst)) != info.Size {
		return s.Source.ReadTensorRange(name, off, dst)
	}
	if data, ok := s.r.get(key); ok {
		s.r.hits.Add(1)
		copy(dst, data)
		return nil
	}
	s.r.misses.Add(1)
	if err := s.Source.ReadTensorRange(name, off, dst); err != nil {
		return err
	}
	s.r.put(key, append([]byte(nil), dst...))
	return nil
}
