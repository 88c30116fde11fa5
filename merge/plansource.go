package merge

import (
	"context"
	"fmt"
	"sync"

	"github.com/gomerge/gomerge/safetensors"
)

// PlanSource is a plan's output read as a safetensors.Source, without
// writing a model: each tensor is merged when it is first read, kept while
// the reads of it go on, and dropped once every byte has been read. An
// evaluator can so score a merge candidate straight from its inputs.
// Its methods are safe for concurrent use.
type PlanSource struct {
	ctx   context.Context
	plan  *Plan
	opt   Options
	tasks map[string]*Task
	names []string

	mu     sync.Mutex
	cached map[string]*planTensor
}

type planTensor struct {
	once sync.Once
	data []byte
	err  error
	read int64 // bytes handed out so far
}

// memSink collects one tensor's bytes.
type memSink struct{ buf []byte }

func (s *memSink) WriteTensorPart(_ string, off int64, b []byte) error {
	copy(s.buf[off:], b)
	return nil
}

// Source returns the plan's output as a Source; opt gives the seed for
// random methods (nil: a fresh one, see Seed; Threads, MemoryBudget and
// Progress do not apply). The plan must stay open while the Source is
// used.
func (pl *Plan) Source(opt Options) *PlanSource {
	return pl.SourceContext(context.Background(), opt)
}

// SourceContext is Source with a context: once it is cancelled, merging a
// tensor on its first read stops and the read fails with its error.
func (pl *Plan) SourceContext(ctx context.Context, opt Options) *PlanSource {
	s := &PlanSource{ctx: ctx, plan: pl, opt: opt.withSeed(pl), tasks: map[string]*Task{}, cached: map[string]*planTensor{}}
	for _, t := range pl.Tasks {
		s.tasks[t.Name] = t
		s.names = append(s.names, t.Name)
	}
	return s
}

// Seed returns the seed random methods use: Options.Seed, or the one
// picked for it.
func (s *PlanSource) Seed() uint64 { return s.opt.seed() }

// ConfigJSON is the output config.json the merge would write.
func (pl *Plan) ConfigJSON() ([]byte, error) { return marshalJSON(pl.OutConfig) }

// Names returns the output tensor names in output order.
func (s *PlanSource) Names() []string { return s.names }

// Tensor describes an output tensor.
func (s *PlanSource) Tensor(name string) (safetensors.TensorInfo, bool) {
	t, ok := s.tasks[name]
	if !ok {
		return safetensors.TensorInfo{}, false
	}
	return safetensors.TensorInfo{Name: name, DType: safetensors.DType(t.Out.String()), Shape: t.Shape, Size: t.Bytes()}, true
}

// ReadTensorRange merges the tensor if needed and copies bytes of it.
func (s *PlanSource) ReadTensorRange(name string, off int64, dst []byte) error {
	t, ok := s.tasks[name]
	if !ok {
		return fmt.Errorf("merge: no output tensor %s", name)
	}
	if off < 0 || off+int64(len(dst)) > t.Bytes() {
		return fmt.Errorf("merge: tensor %s: range %d+%d outside its %d bytes", name, off, len(dst), t.Bytes())
	}
	s.mu.Lock()
	pt := s.cached[name]
	if pt == nil {
		pt = &planTensor{}
		s.cached[name] = pt
	}
	s.mu.Unlock()
	pt.once.Do(func() {
		sink := &memSink{buf: make([]byte, t.Bytes())}
		ex := &executor{plan: s.plan, opt: s.opt, w: sink}
		if err := ex.run(s.ctx, t); err != nil {
			pt.err = fmt.Errorf("tensor %s: %w", name, err)
			return
		}
		pt.data = sink.buf
	})
	if pt.err != nil {
		return pt.err
	}
	copy(dst, pt.data[off:])
	s.mu.Lock()
	pt.read += int64(len(dst))
	if pt.read >= t.Bytes() {
		delete(s.cached, name) // read through: a later read merges it again
	}
	s.mu.Unlock()
	return nil
}

// Close releases the cached tensors; the plan stays open.
func (s *PlanSource) Close() error {
	s.mu.Lock()
	s.cached = map[string]*planTensor{}
	s.mu.Unlock()
	return nil
}

var _ safetensors.Source = (*PlanSource)(nil)
