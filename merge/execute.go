package merge

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// MergekitVersion is the mergekit release whose behaviour gomerge follows;
// it is written into sharded output indexes as mergekit does.
const MergekitVersion = "0.1.4"

// minBudget is the smallest default memory budget.
const minBudget = 256 << 20

// defaultBudget is the memory budget when none is given: the buffers of
// the costliest tensor, at least minBudget. The largest tensor then runs
// alone, so peak memory stays within inputs × largest tensor plus a fixed
// overhead whatever the thread count; smaller tensors still run side by
// side.
func (pl *Plan) defaultBudget() int64 {
	var b int64 = minBudget
	for _, t := range pl.Tasks {
		b = max(b, taskCost(pl.Method, t))
	}
	return b
}

// Options control a merge run.
type Options struct {
	PlanOptions
	// ShardSize is the largest output shard in bytes (mergekit's
	// --out-shard-size, default 5e9); ≤ 0 writes one file.
	ShardSize int64
	// Threads bounds the tensors merged at once; 0 means GOMAXPROCS.
	Threads int
	// MemoryBudget bounds the bytes of tensor buffers in flight; 0 means
	// the costliest tensor's buffers (at least 256 MiB), so that it runs
	// alone. A tensor that alone needs more still runs, by itself.
	MemoryBudget int64
	// CopyTokenizer copies the donor's tokenizer files (mergekit's
	// --copy-tokenizer, on by default in the CLI).
	CopyTokenizer bool
	// WriteModelCard writes README.md and mergekit_config.yml.
	WriteModelCard bool
	// Seed seeds random methods. Every random mask is drawn from a
	// generator seeded by (Seed, output tensor name, model), so a seed
	// gives the same bytes whatever the thread count or order.
	Seed uint64
	// Logger receives warnings and progress lines; nil discards them.
	Logger *slog.Logger
	// Progress, when set, is called after each tensor with the output
	// bytes written so far and the total.
	Progress func(done, total int64)
}

// Result describes a finished merge.
type Result struct {
	Out      string        `json:"out"`
	Method   string        `json:"method"`
	Tensors  int           `json:"tensors"`
	Shards   int           `json:"shards"`
	Bytes    int64         `json:"bytes"`
	Seed     uint64        `json:"seed"`
	Elapsed  time.Duration `json:"-"`
	Seconds  float64       `json:"seconds"`
	Warnings []string      `json:"warnings,omitempty"`
}

// Run plans and executes the merge described by cfg into the directory out.
func Run(ctx context.Context, cfg *Config, out string, opt Options) (*Result, error) {
	plan, err := NewPlanContext(ctx, cfg, opt.PlanOptions)
	if err != nil {
		return nil, err
	}
	defer plan.Close()
	return Execute(ctx, plan, out, opt)
}

// Execute runs a plan. The model is written into a temporary directory
// beside out and renamed into place only when every file is complete; on
// any error or cancellation the temporary directory is removed.
func Execute(ctx context.Context, plan *Plan, out string, opt Options) (res *Result, err error) {
	start := time.Now()
	for _, m := range plan.Models {
		if _, remote := m.Tensors.(*hub.RemoteModel); remote {
			return nil, fmt.Errorf("model %s: the plan was made from headers only (HeadersOnly) and cannot be executed", m.Ref.String())
		}
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, w := range plan.Warnings {
		log.Warn(w)
	}
	o, err := newOutputDir(out, plan.Models)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			o.abort()
		}
	}()
	shards, err := writeTensors(ctx, plan, o.tmp, opt, log)
	if err != nil {
		return nil, err
	}
	if err := writeSideFiles(plan, o, opt, log); err != nil {
		return nil, err
	}
	if err := o.commit(); err != nil {
		return nil, err
	}
	res = &Result{Out: o.final, Method: plan.Method.Name, Tensors: len(plan.Tasks), Shards: shards,
		Seed: opt.Seed, Warnings: plan.Warnings, Elapsed: time.Since(start)}
	for _, t := range plan.Tasks {
		res.Bytes += t.Bytes()
	}
	res.Seconds = res.Elapsed.Seconds()
	return res, nil
}

func writeTensors(ctx context.Context, plan *Plan, dir string, opt Options, log *slog.Logger) (int, error) {
	total := plan.OutputBytes()
	w, err := safetensors.Create(dir, plan.specs(), safetensors.WriterOptions{
		MaxShardSize:  opt.ShardSize,
		IndexMetadata: map[string]any{"mergekit_version": MergekitVersion},
	})
	if err != nil {
		return 0, err
	}
	ex := &executor{plan: plan, opt: opt, w: w}
	threads := opt.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	budget := opt.MemoryBudget
	if budget <= 0 {
		budget = plan.defaultBudget()
	}
	sem := semaphore.NewWeighted(budget)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(threads)
	var done atomic.Int64
	for _, t := range plan.Tasks {
		cost := min(taskCost(plan.Method, t), budget)
		if err := sem.Acquire(gctx, cost); err != nil {
			break
		}
		g.Go(func() error {
			defer sem.Release(cost)
			if err := gctx.Err(); err != nil {
				return err
			}
			if err := ex.run(t); err != nil {
				return fmt.Errorf("tensor %s: %w", t.Name, err)
			}
			n := done.Add(t.Bytes())
			if opt.Progress != nil {
				opt.Progress(n, total)
			}
			log.Debug("merged", "tensor", t.Name, "bytes", t.Bytes())
			return nil
		})
	}
	err = g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		w.Abort()
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	return len(w.Shards()), nil
}

// chunkElements is how many elements of an element-wise tensor are merged
// at once: 4 MiB of float32 per input. Tests lower it.
var chunkElements int64 = 1 << 20

// chunk returns the number of elements the task is processed in at a time,
// and whether the inputs are held whole in their stored form meanwhile:
// pieces of chunkElements for element-wise merges (read piece by piece)
// and for methods with an Analyze pass (inputs held, read once) when no
// input needs cropping; otherwise the whole tensor.
func chunk(m *Method, t *Task) (c int64, hold bool) {
	n := t.NumElements()
	ts := &Tensors{Global: t.Global}
	for _, in := range t.Inputs {
		if !slices.Equal(in.Tensor.Shape, t.Shape) {
			return n, false
		}
		ts.Inputs = append(ts.Inputs, Input{Params: in.Params})
	}
	switch {
	case m.Elementwise != nil && m.Elementwise(ts):
		return min(n, chunkElements), false
	case m.Analyze != nil && (m.CanAnalyze == nil || m.CanAnalyze(ts)):
		// Held inputs already cost inputs × tensor: smaller pieces keep the
		// per-piece float32 scratch of many inputs small beside them.
		return min(n, chunkElements/4), true
	}
	return n, false
}

// taskCost estimates the bytes of buffers one task holds at its peak.
func taskCost(m *Method, t *Task) int64 {
	c, hold := chunk(m, t)
	n := t.NumElements()
	var cost int64
	for _, in := range t.Inputs {
		switch {
		case hold:
			cost += in.Tensor.Size + c*4
		case c < n:
			cost += c * int64(in.DType.Size()+4)
		default:
			cost += in.Tensor.Size + 4*numElements(in.Tensor.Shape)
		}
	}
	cost += c * int64(4+t.Out.Size())
	if c == n {
		// one float32 scratch per input (task vectors), plus one for selection
		cost += 4 * n * int64(len(t.Inputs)+1)
	}
	return cost
}

type executor struct {
	plan *Plan
	opt  Options
	w    tensorSink
	pool bufferPool
}

// tensorSink receives the output tensors' bytes: a safetensors.Writer, or
// memory for a plan read as a Source.
type tensorSink interface {
	WriteTensorPart(name string, off int64, b []byte) error
}

func (ex *executor) run(t *Task) error {
	m := ex.plan.Method
	if m == Passthrough && ex.rawCopy(t) {
		return ex.copyRaw(t)
	}
	// Scratch buffers live until the tensor is written, except those a
	// method takes during one piece, which go back after that piece.
	var scratch [][]float32
	release := func(mark int) {
		for _, b := range scratch[mark:] {
			ex.pool.putFloats(b)
		}
		scratch = scratch[:mark]
	}
	defer release(0)
	ts := &Tensors{Name: t.Name, Shape: t.Shape, Base: t.Base, Work: t.Work, Global: t.Global,
		IsEmbed: t.IsEmbed, Seed: tensorSeed(ex.opt.Seed, t.Name),
		alloc: func(n int) []float32 {
			b := ex.pool.floats(n)
			scratch = append(scratch, b)
			return b
		}}
	n := t.NumElements()
	c, hold := chunk(m, t)
	bufs := make([][]float32, len(t.Inputs))
	for i, in := range t.Inputs {
		size := c
		if c == n {
			size = numElements(in.Tensor.Shape) // whole tensor, cropped after decoding
		}
		bufs[i] = ts.Scratch(int(size))
		ts.Inputs = append(ts.Inputs, Input{Model: in.Model.Ref.String(), Params: in.Params})
	}
	load := func(off, k int64) error {
		for i, in := range t.Inputs {
			data, err := ex.load(in, t, bufs[i], off, k, c == n)
			if err != nil {
				return err
			}
			ts.Inputs[i].Data = data
		}
		ts.Offset = off
		return nil
	}
	if hold {
		// Read each input once, whole and in its stored form, and serve the
		// pieces of both passes from memory.
		for i := range t.Inputs {
			held := ex.pool.bytes(int(t.Inputs[i].Tensor.Size))
			defer func() {
				t.Inputs[i].held = nil
				ex.pool.putBytes(held)
			}()
			if err := t.Inputs[i].readRange(0, held); err != nil {
				return err
			}
			t.Inputs[i].held = held
		}
		for ts.Pass = 0; ; ts.Pass++ {
			ts.MorePasses = false
			for off := int64(0); off < n; off += c {
				if err := load(off, min(c, n-off)); err != nil {
					return err
				}
				mark := len(scratch)
				err := m.Analyze(ts)
				release(mark)
				if err != nil {
					return err
				}
			}
			if !ts.MorePasses {
				break
			}
		}
	}
	out := ts.Scratch(int(c))
	raw := ex.pool.bytes(int(c) * t.Out.Size())
	defer ex.pool.putBytes(raw)
	for off := int64(0); off < n; off += c {
		k := min(c, n-off)
		if err := load(off, k); err != nil {
			return err
		}
		mark := len(scratch)
		err := m.Merge(ts, out[:k])
		release(mark)
		if err != nil {
			return err
		}
		b := raw[:int(k)*t.Out.Size()]
		if err := tensor.Encode(b, out[:k], t.Out); err != nil {
			return err
		}
		if err := ex.w.WriteTensorPart(t.Name, off*int64(t.Out.Size()), b); err != nil {
			return err
		}
	}
	return nil
}

// rawCopy reports whether a passthrough tensor can be copied byte for byte:
// no scale and no dtype change.
func (ex *executor) rawCopy(t *Task) bool {
	in := t.Inputs[0]
	return math.IsNaN(in.Params["scale"]) && in.DType == t.Out && in.DType == t.Work && in.Tensor.Size == t.Bytes()
}

// copyRaw copies a tensor's bytes unchanged, in pieces.
func (ex *executor) copyRaw(t *Task) error {
	in := t.Inputs[0]
	const piece = 4 << 20
	size := in.Tensor.Size
	buf := ex.pool.bytes(int(min(size, piece)))
	defer ex.pool.putBytes(buf)
	for off := int64(0); ; off += piece {
		b := buf[:min(piece, size-off)]
		if err := in.readRange(off, b); err != nil {
			return err
		}
		if err := ex.w.WriteTensorPart(t.Name, off, b); err != nil {
			return err
		}
		if off+int64(len(b)) >= size {
			return nil
		}
	}
}

// load reads elements [off, off+k) of an input tensor into buf, decodes
// them to float32 and rounds them to the working dtype. whole loads the
// entire tensor and crops it to the task's shape.
func (ex *executor) load(in TaskInput, t *Task, buf []float32, off, k int64, whole bool) ([]float32, error) {
	es := int64(in.DType.Size())
	if whole {
		k = numElements(in.Tensor.Shape)
	}
	var raw []byte
	if in.held != nil {
		raw = in.held[off*es : (off+k)*es]
	} else {
		raw = ex.pool.bytes(int(k * es))
		defer ex.pool.putBytes(raw)
		if err := in.readRange(off*es, raw); err != nil {
			return nil, err
		}
	}
	data := buf[:k]
	if err := tensor.Decode(data, raw, in.DType); err != nil {
		return nil, fmt.Errorf("model %s: tensor %s: %w", in.Model.Ref.String(), in.Tensor.Name, err)
	}
	if in.DType != t.Work {
		tensor.Round(t.Work, data)
	}
	if whole && len(in.Tensor.Shape) == 2 && len(t.Shape) == 2 && (in.Tensor.Shape[0] != t.Shape[0] || in.Tensor.Shape[1] != t.Shape[1]) {
		cropRows(data, int(in.Tensor.Shape[1]), int(t.Shape[0]), int(t.Shape[1]))
		data = data[:t.NumElements()]
	}
	return data, nil
}

// cropRows keeps the top-left rows×cols block of a row-major matrix with
// inCols columns, in place.
func cropRows(data []float32, inCols, rows, cols int) {
	for r := 0; r < rows; r++ {
		copy(data[r*cols:(r+1)*cols], data[r*inCols:r*inCols+cols])
	}
}

// tensorSeed derives the seed of one output tensor from the run's seed.
func tensorSeed(seed uint64, name string) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d\x00%s", seed, name)
	return h.Sum64()
}

// bufferPool reuses tensor buffers between tasks: fresh memory is slow to
// touch, and tensors of one model come in a few sizes.
type bufferPool struct {
	mu sync.Mutex
	f  [][]float32
	b  [][]byte
}

func (p *bufferPool) floats(n int) []float32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := bestFit(p.f, n); i >= 0 {
		buf := p.f[i]
		p.f = append(p.f[:i], p.f[i+1:]...)
		return buf[:n]
	}
	if n >= 1<<20 {
		p.f = p.f[:0] // as for bytes: a larger tensor has come
	}
	return make([]float32, n)
}

func (p *bufferPool) putFloats(buf []float32) {
	p.mu.Lock()
	p.f = append(p.f, buf)
	p.mu.Unlock()
}

func (p *bufferPool) bytes(n int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := bestFit(p.b, n); i >= 0 {
		buf := p.b[i]
		p.b = append(p.b[:i], p.b[i+1:]...)
		return buf[:n]
	}
	// Nothing fits: a larger tensor has come. The smaller idle buffers go
	// back to the garbage collector instead of staying beside the new one,
	// so held inputs never exceed what the tensors in flight need.
	p.b = p.b[:0]
	return make([]byte, n)
}

func (p *bufferPool) putBytes(buf []byte) {
	p.mu.Lock()
	p.b = append(p.b, buf)
	p.mu.Unlock()
}

func bestFit[T any](free [][]T, n int) int {
	best := -1
	for i, b := range free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(free[best])) {
			best = i
		}
	}
	return best
}
