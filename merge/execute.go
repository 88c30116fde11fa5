package merge

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/trace"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

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
// the costliest tensor and an eighth more (the crew's slack, for small
// tensors beside it), at least minBudget. A tensor whose inputs are held
// whole then runs with none but small ones beside it, so peak memory
// stays within inputs × largest tensor plus a fixed overhead whatever the
// thread count; tensors streamed
// in pieces (element-wise, or reread on every pass) cost a few pieces per
// worker and run side by side.
func (pl *Plan) defaultBudget(workers int) int64 {
	var b int64
	for _, t := range pl.Tasks {
		b = max(b, taskCost(pl.Method, t, workers))
	}
	// An eighth more, for the crew's slack: small tensors merge beside
	// the costliest one.
	return max(minBudget, b+b/(crewSlack-1))
}

// Options control a merge run.
type Options struct {
	PlanOptions
	// ShardSize is the largest output shard in bytes (mergekit's
	// --out-shard-size); 0 means DefaultShardSize, as in the CLI, and a
	// negative size writes one file.
	ShardSize int64
	// Threads bounds the tensors merged at once and the goroutines that
	// merge the pieces of one tensor; 0 means GOMAXPROCS, as in the CLI.
	// The output's direct writes block their goroutine, which holds its
	// Go processor for up to 10 ms meanwhile: a merge to disk runs best
	// with GOMAXPROCS one above Threads (the CLI's default; 10% less
	// wall time for TIES on 2 CPUs).
	Threads int
	// MemoryBudget bounds the bytes of tensor buffers in flight; 0 means
	// the costliest tensor's buffers (at least 256 MiB), so that it runs
	// alone, as in the CLI. A tensor that alone needs more still runs, by
	// itself.
	MemoryBudget int64
	// SkipTokenizer leaves the donor's tokenizer files out of the output
	// (--no-copy-tokenizer). The zero value copies them, as the CLI and
	// mergekit do; a built vocabulary (tokenizer_source, tokenizer:) is
	// written either way.
	SkipTokenizer bool
	// SkipModelCard leaves README.md and mergekit_config.yml out
	// (--no-write-model-card); the zero value writes them, as the CLI
	// does.
	SkipModelCard bool
	// ExtraFiles are written into the output after everything else and
	// before it is committed, replacing a file of the same name: a caller's
	// own model card (README.md), a scores file. Names must be plain file
	// names.
	ExtraFiles map[string][]byte
	// Seed seeds random methods (--random-seed). Every random mask is
	// drawn from a generator seeded by (seed, output tensor name, model),
	// so a seed gives the same bytes whatever the thread count or order.
	// Nil picks a fresh seed, as the CLI does without --random-seed: it
	// is logged when the method is random, returned in Result.Seed and
	// written into the model card. Use new(uint64(42)) for a fixed one.
	Seed *uint64
	// KeepSpecialTokens leaves the special-token ids of config.json and
	// generation_config.json as the donor has them
	// (--no-align-special-tokens, mergekit's behaviour). The zero value
	// makes them agree with the written tokenizer and chat template, as
	// the CLI does: the EOS set holds the template's end-of-turn token, so
	// that the merge stops generating.
	KeepSpecialTokens bool
	// Overwrite lets the output replace an existing directory that
	// gomerge did not write (--overwrite). Inputs are never replaced.
	Overwrite bool
	// Logger receives warnings and progress lines; nil discards them (the
	// CLI logs warnings to stderr).
	Logger *slog.Logger
	// Backend runs the task-vector methods' arithmetic (linear,
	// task_arithmetic, ties, dare_ties, dare_linear: task vectors, DARE
	// masks, magnitude pruning, sums and sign consensus) piece by piece;
	// nil means tensor.CPU. Every backend gives the CPU's bytes.
	Backend tensor.Backend
	// Progress, when set, is called after each tensor with the output
	// bytes written so far and the total (the CLI draws its bar from it).
	Progress func(done, total int64)
}

// DefaultShardSize is the output shard limit a zero Options.ShardSize
// means: mergekit's default --out-shard-size, 5B.
const DefaultShardSize = 5_000_000_000

// shardLimit is ShardSize as safetensors.WriterOptions takes it: ≤ 0 is
// one file.
func shardLimit(size int64) int64 {
	if size == 0 {
		return DefaultShardSize
	}
	return size
}

// withSeed returns opt with Seed set: a fresh seed when it is nil, logged
// when the plan's method draws random numbers.
func (opt Options) withSeed(plan *Plan) Options {
	if opt.Seed != nil {
		return opt
	}
	seed := RandomSeed()
	opt.Seed = &seed
	if opt.Logger != nil && plan != nil && UsesRandomness(plan.Method) {
		opt.Logger.Warn("no seed given for a random method; pass this one to repeat the merge", "seed", seed)
	}
	return opt
}

// seed is the seed of options that went through withSeed.
func (opt Options) seed() uint64 {
	if opt.Seed == nil {
		return 0
	}
	return *opt.Seed
}

// RandomSeed returns a fresh non-negative seed from crypto/rand, the kind
// the CLI picks without --random-seed.
func RandomSeed() uint64 {
	var b [8]byte
	crand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) >> 1
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
	// SpecialTokens lists the special-token changes made so that the
	// output's config.json and generation_config.json agree with its
	// tokenizer and chat template (Options.KeepSpecialTokens turns this
	// off), and what could not be fixed.
	SpecialTokens []string `json:"special_tokens,omitempty"`
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
	opt = opt.withSeed(plan)
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
	var extra []string
	if plan.Config != nil && plan.Config.File != "" {
		extra = append(extra, plan.Config.File)
	}
	o, err := newOutputDir(out, "gomerge merge", plan.Models, extra, opt.Overwrite, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			o.abort()
		}
	}()
	// The side files do not depend on the tensors: written (and synced)
	// while the tensors merge, their fsyncs leave the end of the run,
	// where nothing else would overlap them.
	var (
		shards int
		fixes  []string
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		shards, err = writeTensors(gctx, plan, o.tmp, opt, log)
		return err
	})
	g.Go(func() (err error) {
		fixes, err = writeSideFiles(plan, o, opt, log)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := o.commit(); err != nil {
		return nil, err
	}
	res = &Result{Out: o.final, Method: plan.Method.Name, Tensors: len(plan.Tasks), Shards: shards,
		Seed: opt.seed(), Warnings: plan.Warnings, SpecialTokens: fixes, Elapsed: time.Since(start)}
	for _, t := range plan.Tasks {
		res.Bytes += t.Bytes()
	}
	res.Seconds = res.Elapsed.Seconds()
	return res, nil
}

func writeTensors(ctx context.Context, plan *Plan, dir string, opt Options, log *slog.Logger) (int, error) {
	total := plan.OutputBytes()
	w, err := safetensors.Create(dir, plan.specs(), safetensors.WriterOptions{
		MaxShardSize:  shardLimit(opt.ShardSize),
		IndexMetadata: map[string]any{"mergekit_version": MergekitVersion},
	})
	if err != nil {
		return 0, err
	}
	ex := &executor{plan: plan, opt: opt, w: w}
	probePlan(plan)
	threads := opt.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	budget := opt.MemoryBudget
	if budget <= 0 {
		budget = plan.defaultBudget(threads)
	}
	var done atomic.Int64
	tasks := largestFirst(plan.Tasks)
	costs := make([]int64, len(tasks))
	for i, t := range tasks {
		costs[i] = min(taskCost(plan.Method, t, threads), budget)
	}
	logAccess(log)
	if len(tasks) > 0 {
		prefetchTask(tasks[0])
	}
	ex.crew = newCrew(threads, budget, tasks, costs)
	err = ex.crew.run(ctx, func(ctx context.Context, t *Task, release func()) error {
		if err := ex.runTask(ctx, t, release); err != nil {
			return fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		n := done.Add(t.Bytes())
		if opt.Progress != nil {
			opt.Progress(n, total)
		}
		log.Debug("merged", "tensor", t.Name, "bytes", t.Bytes())
		return nil
	}, func(i int) {
		// Read ahead across tensors: while this one merges, the disk
		// brings in the next one's inputs.
		if i+1 < len(tasks) {
			prefetchTask(tasks[i+1])
		}
	})
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		w.Abort()
		return 0, err
	}
	mark(ctx, "close", "")
	if err := w.Close(); err != nil {
		return 0, err
	}
	return len(w.Shards()), nil
}

// largestFirst returns the tasks ordered by the bytes of their inputs,
// largest first, ties in plan order. Tasks run side by side, and a large
// one started last would run alone at the end, its serial moments (the
// sample, the end of each pass, pieces waiting for each other in order)
// leaving CPUs idle; started first, it runs beside the small ones. The
// writer takes tensors in any order.
func largestFirst(tasks []*Task) []*Task {
	size := func(t *Task) int64 {
		var n int64
		for _, in := range t.Inputs {
			n += in.Tensor.Size
		}
		return n
	}
	out := slices.Clone(tasks)
	slices.SortStableFunc(out, func(a, b *Task) int { return cmp.Compare(size(b), size(a)) })
	return out
}

// chunkElements is how many elements of a tensor are merged at once when
// it is streamed in pieces: 1 MiB of float32 per input, which stays in
// the CPU's caches from one kernel to the next. Tests lower it.
var chunkElements int64 = 1 << 18

// chunk returns the number of elements the task is processed in at a time,
// and whether the inputs are held whole in their stored form meanwhile:
// pieces of chunkElements for element-wise merges (read piece by piece)
// and for methods with an Analyze pass (inputs held, read once; rounded to
// whole PieceUnits) when no input needs cropping; otherwise the whole
// tensor.
func chunk(m *Method, t *Task) (c int64, hold bool) {
	n := t.NumElements()
	ts := &Tensors{Shape: t.Shape, Global: t.Global}
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
		c := chunkElements
		if m.PieceUnit != nil {
			if u := m.PieceUnit(ts); u > 0 {
				c = max(1, c/u) * u
			}
		}
		return min(n, c), true
	}
	return n, false
}

// numPieces is the number of pieces of c elements (the last one shorter)
// that hold n elements.
func numPieces(n, c int64) int64 {
	if n <= 0 {
		return 0
	}
	return (n + c - 1) / c
}

// taskCost estimates the bytes of buffers one task holds at its peak when
// workers goroutines merge its pieces.
func taskCost(m *Method, t *Task, workers int) int64 {
	c, hold := chunk(m, t)
	n := t.NumElements()
	if c == n {
		workers = 1
	}
	var cost, piece int64
	for _, in := range t.Inputs {
		switch {
		case hold && rereadable(in) && costedAccess() == accessReread:
			// Reread on every pass: a piece of stored bytes per worker,
			// nothing held, so that the task runs beside others.
			piece += c * int64(in.DType.Size()+4)
		case hold:
			cost += in.Tensor.Size
			piece += c * 4
		case c < n:
			piece += c * int64(in.DType.Size()+4)
		default:
			cost += in.Tensor.Size + 4*numElements(in.Tensor.Shape)
		}
	}
	piece += c * 4 // the merged piece
	// scratch: one float32 buffer per input (task vectors), plus one for
	// selection
	piece += 4 * c * int64(len(t.Inputs)+1)
	// The output buffers of the write-behind, shared by the workers.
	out := min(numPieces(n, c), int64(writeBehindBuffers(workers))) * c * int64(t.Out.Size())
	return cost + int64(workers)*piece + out
}

type executor struct {
	plan *Plan
	opt  Options
	w    tensorSink
	pool bufferPool
	crew *crew // the threads that help with a task's pieces; nil: the task starts its own
}

// workers is the number of goroutines that merge the pieces of one tensor.
func (ex *executor) workers() int {
	if ex.opt.Threads > 0 {
		return ex.opt.Threads
	}
	return runtime.GOMAXPROCS(0)
}

func (ex *executor) workersFor(pieces int) int { return max(1, min(pieces, ex.workers())) }

// tensorSink receives the output tensors' bytes: a safetensors.Writer, or
// memory for a plan read as a Source.
type tensorSink interface {
	WriteTensorPart(name string, off int64, b []byte) error
}

// pieceWorker is one goroutine's buffers for the pieces of a tensor.
type pieceWorker struct {
	ex      *executor
	ts      Tensors
	bufs    [][]float32
	out     []float32
	in      [][]byte // reread inputs' stored bytes of the current piece
	scratch [][]float32
}

func (w *pieceWorker) release(mark int) {
	for _, b := range w.scratch[mark:] {
		w.ex.pool.putFloats(b)
	}
	w.scratch = w.scratch[:mark]
}

func (ex *executor) run(ctx context.Context, t *Task) error { return ex.runTask(ctx, t, nil) }

// runTask merges task t; release, when set, is called as the last piece
// goes to the writer, whose direct writes the task then mostly waits for:
// its thread may go on with other work.
func (ex *executor) runTask(ctx context.Context, t *Task, release func()) error {
	m := ex.plan.Method
	mark(ctx, "start", t.Name)
	defer mark(ctx, "end", t.Name)
	if m == Passthrough && ex.rawCopy(t) {
		return ex.copyRaw(ctx, t)
	}
	n := t.NumElements()
	c, hold := chunk(m, t)
	whole := c == n
	pieces := int(numPieces(n, c))
	workers := ex.workersFor(pieces)
	tmpl := Tensors{ctx: ctx, Name: t.Name, Shape: t.Shape, Base: t.Base, Work: t.Work, Global: t.Global,
		IsEmbed: t.IsEmbed, Seed: tensorSeed(ex.opt.seed(), t.Name), Pieces: max(pieces, 1), Workers: workers,
		outRounds: t.Out == t.Work && (t.Work == tensor.BF16 || t.Work == tensor.F16 || t.Work == tensor.F32),
		backend:   ex.opt.Backend}
	for _, in := range t.Inputs {
		tmpl.Inputs = append(tmpl.Inputs, Input{Model: in.Model.Ref.String(), Params: in.Params})
	}
	// Held inputs have the task's shape (chunk holds no input that needs
	// cropping), so a tensor of one piece can be stored too. Streamed
	// element-wise tasks are stored when every input can be reread piece by
	// piece at the task's shape: the method then decodes each input in
	// blocks that stay in the L1 cache, instead of the executor writing a
	// piece of float32 per input that the method reads again.
	stored := storedTask(m, t, ex.opt.Backend, hold)
	ws := make([]*pieceWorker, workers)
	defer func() {
		for _, w := range ws {
			if w != nil {
				w.release(0)
				for _, b := range w.in {
					if b != nil {
						ex.pool.putBytes(b)
					}
				}
			}
		}
	}()
	worker := func(i int) *pieceWorker {
		if ws[i] != nil {
			ws[i].ts.State = tmpl.State
			ws[i].ts.order = tmpl.order
			return ws[i]
		}
		w := &pieceWorker{ex: ex, ts: tmpl}
		w.ts.Worker = i
		w.ts.Inputs = slices.Clone(tmpl.Inputs)
		w.ts.alloc = func(n int) []float32 {
			b := ex.pool.floats(n)
			w.scratch = append(w.scratch, b)
			return b
		}
		// With stored inputs load hands out the held bytes: no buffers to
		// decode into.
		if !stored {
			for _, in := range t.Inputs {
				size := c
				if whole {
					size = numElements(in.Tensor.Shape) // whole tensor, cropped after decoding
				}
				w.bufs = append(w.bufs, w.ts.Scratch(int(size)))
			}
		}
		w.out = w.ts.Scratch(int(c))
		ws[i] = w
		return w
	}
	src := make([]inputBytes, len(t.Inputs))
	defer func() {
		// Unmapping takes about 4 ms per 131 MB of pages touched, and
		// the task holds the memory budget until it is done: unmap the
		// inputs side by side.
		var wg sync.WaitGroup
		for _, s := range src {
			if s.mp != nil {
				wg.Go(func() { s.mp.Close() })
			}
		}
		wg.Wait()
	}()
	// Tasks that go over their inputs once read their pieces with pread
	// into reused buffers. Tasks that go over them several times either
	// map them or reread their pieces on every pass, whichever
	// probeAccess found cheaper on this machine (a page fault against a
	// copy from the page cache), or as GOMERGE_MMAP says; with
	// GOMERGE_NO_MMAP=1 they hold copies (fresh memory, the dearest).
	reread := make([]bool, len(t.Inputs))
	if stored && !hold {
		for i := range reread {
			reread[i] = true // streamable
		}
		tmpl.Stored = true
	}
	if hold {
		for i, in := range t.Inputs {
			switch {
			case rereadable(in) && multiPassAccess(in) == accessReread:
				reread[i] = true
			case heldAccess != accessCopy:
				if mp := mapInput(in); mp != nil {
					src[i] = inputBytes{data: mp.Data, mp: mp}
				}
			}
		}
	}
	// raw returns input i's stored bytes of elements [off, off+k): a slice
	// of the mapping or held copy, or read into the worker's buffer; nil
	// when the input has neither.
	raw := func(w *pieceWorker, i int, off, k int64) ([]byte, error) {
		es := int64(t.Inputs[i].DType.Size())
		if src[i].data != nil {
			return src[i].data[off*es : (off+k)*es], nil
		}
		if !reread[i] {
			return nil, nil
		}
		if w.in == nil {
			w.in = make([][]byte, len(t.Inputs))
		}
		if w.in[i] == nil {
			w.in[i] = ex.pool.bytes(int(c * es))
		}
		b := w.in[i][:k*es]
		return b, t.Inputs[i].readRange(off*es, b)
	}
	hasBytes := func(i int) bool { return src[i].data != nil || reread[i] }
	// subtract marks the inputs whose task vectors can be computed from the
	// stored bfloat16 bytes of the input and the base in one kernel.
	subtract := make([]bool, len(t.Inputs))
	for i, in := range t.Inputs {
		subtract[i] = m.TaskVectors && !whole && t.Base >= 0 && i != t.Base && t.Work == tensor.BF16 &&
			in.DType == tensor.BF16 && t.Inputs[t.Base].DType == tensor.BF16
	}
	load := func(w *pieceWorker, p int) (off, k int64, err error) {
		off = int64(p) * c
		k = min(c, n-off)
		if stored {
			for i := range t.Inputs {
				b, err := raw(w, i, off, k)
				if err != nil {
					return 0, 0, err
				}
				w.ts.Inputs[i].Data, w.ts.Inputs[i].BF16 = nil, b
			}
			w.ts.Offset, w.ts.Piece = off, p
			return off, k, nil
		}
		var base []byte // the base's bytes of the piece, read once
		pieceBytes := func(i int) ([]byte, error) {
			if i == t.Base && base != nil {
				return base, nil
			}
			b, err := raw(w, i, off, k)
			if i == t.Base {
				base = b
			}
			return b, err
		}
		for i, in := range t.Inputs {
			if subtract[i] && hasBytes(i) && hasBytes(t.Base) && !src[i].delta {
				// X − B straight from the stored bytes, in one pass.
				x, err := pieceBytes(i)
				if err != nil {
					return 0, 0, err
				}
				b, err := pieceBytes(t.Base)
				if err != nil {
					return 0, 0, err
				}
				data := w.bufs[i][:k]
				err = guardMapped(in, func() { tensor.SubBF16Bytes(data, x, b) })
				if err != nil {
					return 0, 0, err
				}
				w.ts.Inputs[i].Data = data
				continue
			}
			from, at := &src[i], off
			if reread[i] {
				b, err := pieceBytes(i)
				if err != nil {
					return 0, 0, err
				}
				from, at = &inputBytes{data: b}, 0 // b holds the piece
			}
			data, err := ex.load(in, from, t, w.bufs[i], at, k, whole)
			if err != nil {
				return 0, 0, err
			}
			w.ts.Inputs[i].Data = data
		}
		if m.TaskVectors {
			err := toTaskVectors(&w.ts, func(i int) bool { return src[i].delta || subtract[i] && hasBytes(i) && hasBytes(t.Base) })
			if err != nil {
				return 0, 0, err
			}
		}
		w.ts.Offset, w.ts.Piece = off, p
		return off, k, nil
	}
	abort := make(chan struct{})
	if hold {
		// Serve the pieces of every pass from memory: the mapped file, or
		// a copy read once, whole and in its stored form.
		var copied []int
		for i := range t.Inputs {
			if src[i].data != nil || reread[i] {
				continue
			}
			held := ex.pool.bytes(int(t.Inputs[i].Tensor.Size))
			defer ex.pool.putBytes(held)
			src[i].data = held
			copied = append(copied, i)
		}
		// Inputs but the base whose stored dtype holds task vectors exactly
		// keep them in place of their values once the first pass has
		// computed them, so that later passes decode instead of subtracting.
		var convert []int
		if m.TaskVectors && t.Base >= 0 && !stored {
			for _, i := range copied {
				if i != t.Base && holdsExactly(t.Inputs[i].DType, t.Work) {
					convert = append(convert, i)
				}
			}
		}
		if m.WantsSample && len(copied) == 0 {
			if err := ex.sample(t, &tmpl, src, reread, abort); err != nil {
				return err
			}
		}
		tmpl.Stored = stored
		mark(ctx, "analyze", t.Name)
		an, err := m.Analyze(&tmpl)
		for i := range tmpl.Inputs {
			tmpl.Inputs[i].Data = nil
		}
		tmpl.Sample = 0
		if err != nil {
			return err
		}
		tmpl.State = an
		ordered, _ := an.(OrderedAnalysis)
		for pass := 0; ; pass++ {
			tmpl.order = nil
			if ordered != nil && ordered.InOrderPass(pass) && pieces > 1 && workers > 1 {
				tmpl.order = newTurnstile(pieces, len(t.Inputs)+1, abort)
			}
			err := ex.crew.forPieces(ctx, pieces, workers, abort, func(wi, p int) error {
				w := worker(wi)
				if pass == 0 {
					// The first pass reads the copies as it goes.
					for _, i := range copied {
						in := t.Inputs[i]
						es := int64(in.DType.Size())
						lo, hi := int64(p)*c*es, min(int64(p+1)*c, n)*es
						if err := in.readRange(lo, src[i].data[lo:hi]); err != nil {
							return err
						}
					}
				}
				off, k, err := load(w, p)
				if err != nil {
					return err
				}
				if pass == 0 {
					for _, i := range convert {
						in := t.Inputs[i]
						es := int64(in.DType.Size())
						if err := tensor.Encode(src[i].data[off*es:(off+k)*es], w.ts.Inputs[i].Data, in.DType); err != nil {
							return err
						}
					}
				}
				w.ts.Pass = pass
				w.ts.stop = 0
				mark := len(w.scratch)
				err = an.Piece(&w.ts)
				w.release(mark)
				if err == nil && w.ts.order != nil {
					err = w.ts.order.finish(w.ts.stop, p) // the stops Piece did not use
				}
				return err
			})
			if err != nil {
				return err
			}
			if pass == 0 {
				for _, i := range convert {
					src[i].delta = true
				}
			}
			mark(ctx, "endpass", t.Name)
			more, err := an.EndPass(pass)
			if err != nil {
				return err
			}
			if !more {
				break
			}
		}
	}
	tmpl.order = nil
	if pieces > 1 && workers > 1 {
		tmpl.order = newTurnstile(pieces, len(t.Inputs)+1, abort)
	}
	mark(ctx, "merge", t.Name)
	wb := newWriteBehind(ex.w, t.Name, pieces, int(c)*t.Out.Size(), workers, abort)
	err := ex.crew.forPieces(ctx, pieces, workers, abort, func(wi, p int) error {
		w := worker(wi)
		_, k, err := load(w, p)
		if err != nil {
			return err
		}
		mark := len(w.scratch)
		w.ts.stop = 0
		err = m.Merge(&w.ts, w.out[:k])
		w.release(mark)
		if err == nil && w.ts.order != nil {
			err = w.ts.order.finish(w.ts.stop, p) // the stops Merge did not use
		}
		if err != nil {
			return err
		}
		// Pieces are written in order, as a sequential stream, by wb's
		// goroutine.
		b, err := wb.buffer(p, int(k)*t.Out.Size(), ex.pool.bytes)
		if err != nil {
			return err
		}
		if err := tensor.Encode(b, w.out[:k], t.Out); err != nil {
			return err
		}
		if p == pieces-1 && release != nil {
			release()
		}
		wb.put(p, b)
		return nil
	})
	// On error forPieces has closed abort, which stops the writer.
	werr := wb.wait()
	for _, b := range wb.buffers() {
		ex.pool.putBytes(b)
	}
	return cmp.Or(err, werr)
}

// storedBF16 reports whether a task's inputs can be handed to a
// Method.StoredBF16 method as stored bytes: bfloat16 work, stored
// inputs (and base, for task vectors), CPU arithmetic.
func storedBF16(t *Task, be tensor.Backend, taskVectors bool) bool {
	if t.Work != tensor.BF16 || taskVectors && t.Base < 0 || (be != nil && be != tensor.CPU) {
		return false
	}
	for _, in := range t.Inputs {
		if in.DType != tensor.BF16 {
			return false
		}
	}
	return true
}

// storedTask reports whether the executor hands a task's inputs to the
// method as stored bfloat16 bytes (Method.StoredBF16); hold says whether
// they are held for several passes.
func storedTask(m *Method, t *Task, be tensor.Backend, hold bool) bool {
	return m.StoredBF16 && storedBF16(t, be, m.TaskVectors) && (hold || streamable(t) && elementwise(m, t))
}

// elementwise reports whether the method merges the task element by
// element (Method.Elementwise).
func elementwise(m *Method, t *Task) bool {
	if m.Elementwise == nil {
		return false
	}
	ts := &Tensors{Shape: t.Shape, Global: t.Global}
	for _, in := range t.Inputs {
		ts.Inputs = append(ts.Inputs, Input{Params: in.Params})
	}
	return m.Elementwise(ts)
}

// streamable reports whether every input of a streamed task can be reread
// piece by piece in its stored form: a tensor of a local file with the
// task's shape, nothing to crop or compute.
func streamable(t *Task) bool {
	for _, in := range t.Inputs {
		if !rereadable(in) || !slices.Equal(in.Tensor.Shape, t.Shape) {
			return false
		}
	}
	return true
}

// sampleSize is about how many elements a sample holds: enough to place a
// quantile within a fraction of a percent.
const sampleSize = 1 << 16

// sampleRun is the length of the runs of consecutive elements a sample is
// made of: 512 bytes of bfloat16, so that the sample reads a few pages of
// each input instead of a cache line of every page (a sample of single
// elements at a stride touches all of them, and the first touch of a page
// of a mapped input costs a page fault).
const sampleRun = 256

// sampleRuns returns the runs of a sample of n elements: count runs of
// sampleRun consecutive elements, the first starting at 0 and the others
// every step elements; one run of n when n is at most sampleSize.
func sampleRuns(n int64) (count, step, run int64) {
	if n <= sampleSize {
		return 1, n, n
	}
	count = sampleSize / sampleRun
	return count, n / count, sampleRun
}

// sample puts a sample of each input (as loaded: decoded, rounded, task
// vectors where the method wants them) into ts.Inputs[i].Data for
// Analyze: runs of consecutive elements spread evenly over the tensor
// (sampleRuns). The inputs must be in memory.
func (ex *executor) sample(t *Task, ts *Tensors, src []inputBytes, reread []bool, abort chan struct{}) error {
	n := t.NumElements()
	count, step, run := sampleRuns(n)
	return forPieces(ts.Context(), 1, 1, abort, func(int, int) error {
		for i, in := range t.Inputs {
			es := int64(in.DType.Size())
			data := make([]float32, count*run)
			var decErr error
			var buf []byte
			if reread[i] {
				buf = make([]byte, run*es)
			}
			err := guardMapped(in, func() {
				for r := int64(0); r < count && decErr == nil; r++ {
					from := r * step * es
					b := buf
					if b == nil {
						b = src[i].data[from : from+run*es]
					} else if decErr = in.readRange(from, b); decErr != nil {
						break
					}
					decErr = tensor.Decode(data[r*run:(r+1)*run], b, in.DType)
				}
			})
			if err == nil {
				err = decErr
			}
			if err != nil {
				return err
			}
			if in.DType != t.Work {
				tensor.Round(t.Work, data)
			}
			ts.Inputs[i].Data = data
		}
		if ex.plan.Method.TaskVectors {
			if err := toTaskVectors(ts, nil); err != nil {
				return err
			}
		}
		ts.Sample = int(max(1, n/(count*run)))
		return nil
	})
}

// holdsExactly reports whether every value of the working dtype work is
// a value of the stored dtype stored.
func holdsExactly(stored, work tensor.DType) bool {
	switch work {
	case tensor.BF16, tensor.F16:
		return stored == work || stored == tensor.F32 || stored == tensor.F64
	case tensor.F32, tensor.F64:
		return stored == tensor.F32 || stored == tensor.F64
	}
	return false
}

// rawCopy reports whether a passthrough tensor can be copied byte for byte:
// no scale and no dtype change.
func (ex *executor) rawCopy(t *Task) bool {
	in := t.Inputs[0]
	return math.IsNaN(in.Params["scale"]) && in.DType == t.Out && in.DType == t.Work && in.Tensor.Size == t.Bytes()
}

// copyRaw copies a tensor's bytes unchanged, in pieces.
func (ex *executor) copyRaw(ctx context.Context, t *Task) error {
	in := t.Inputs[0]
	const piece = 4 << 20
	size := in.Tensor.Size
	mp := mapInput(in)
	var buf []byte
	if mp != nil {
		defer mp.Close()
	} else {
		buf = ex.pool.bytes(int(min(size, piece)))
		defer ex.pool.putBytes(buf)
	}
	return forPieces(ctx, 1, 1, make(chan struct{}), func(int, int) error {
		for off := int64(0); ; off += piece {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(piece, size-off)
			var b []byte
			if mp != nil {
				b = mp.Data[off : off+n] // written straight from the page cache
			} else {
				b = buf[:n]
				if err := in.readRange(off, b); err != nil {
					return err
				}
			}
			if err := ex.w.WriteTensorPart(t.Name, off, b); err != nil {
				if mp != nil && errors.Is(err, syscall.EFAULT) {
					return fmt.Errorf("%w (writing from the mapping of model %s failed: was it truncated during the merge?)", err, in.Model.Ref.String())
				}
				return err
			}
			if mp != nil {
				mp.Release(off, n)
			}
			if off+n >= size {
				return nil
			}
		}
	})
}

// inputBytes is one input's bytes in stored form while its task runs: the
// file mapped into memory, or a copy held for several passes, or nothing
// (pieces are read from the source as they are needed).
type inputBytes struct {
	data []byte
	mp   *safetensors.Mapping // set when data is mapped
	// delta is set when data holds the task vector X − B instead of X.
	delta bool
}

// mapInput maps an input's tensor when its source can and it is stored
// as one tensor.
func mapInput(in TaskInput) *safetensors.Mapping {
	mapper, ok := in.Model.Tensors.(safetensors.Mapper)
	if !ok || in.read != nil || len(in.Parts) > 0 || noMmap {
		return nil
	}
	mp, err := mapper.MapTensor(in.Tensor.Name)
	if err != nil {
		return nil // read it instead
	}
	return mp
}

// prefetchTask starts reading every input of t into the page cache, in the
// background. The pages go to the page cache, not to the process, so the
// read-ahead costs no resident memory.
func prefetchTask(t *Task) {
	for _, in := range t.Inputs {
		p, ok := in.Model.Tensors.(safetensors.Prefetcher)
		if !ok || in.read != nil {
			continue
		}
		if len(in.Parts) == 0 {
			p.PrefetchTensor(in.Tensor.Name)
		}
		for _, part := range in.Parts {
			p.PrefetchTensor(part.Name)
		}
	}
}

// mappedFault is the error for r, recovered while reading a mapped input:
// a memory fault (the file changed under us); any other panic goes on.
func mappedFault(in TaskInput, r any) error {
	if !isFault(r) {
		panic(r)
	}
	return fmt.Errorf("model %s: tensor %s: its file could not be read through its memory mapping: was it changed or truncated during the merge?",
		in.Model.Ref.String(), in.Tensor.Name)
}

// isFault reports whether a recovered value is a memory fault turned
// into a panic by debug.SetPanicOnFault.
func isFault(r any) bool {
	_, ok := r.(interface{ Addr() uintptr })
	return ok
}

// guardMapped runs fn, which reads in's mapping, turning a memory fault
// into an error naming the input; the goroutine must have
// debug.SetPanicOnFault set (forPieces does).
func guardMapped(in TaskInput, fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = mappedFault(in, r)
		}
	}()
	fn()
	return nil
}

// noMmap turns mapping off (GOMERGE_NO_MMAP=1), for comparison and for
// file systems where mapping is slow.
var noMmap = os.Getenv("GOMERGE_NO_MMAP") == "1"

// inputAccess is how the executor serves the inputs of a task that goes
// over them several times.
type inputAccess int

const (
	accessReread inputAccess = iota // each pass reads its pieces with pread
	accessMap                       // the tensors are mapped into memory
	accessCopy                      // a copy is read once and held
	accessAuto                      // reread or mapped, whichever probeAccess finds cheaper here
)

func (a inputAccess) String() string {
	return [...]string{"reread", "mapped", "held", "auto"}[a]
}

// heldAccess is the inputAccess of multi-pass tasks: by default
// (accessAuto) mapped or reread, whichever a probe of the first input
// finds cheaper on this machine; GOMERGE_MMAP=1 maps, GOMERGE_MMAP=0
// rereads, GOMERGE_NO_MMAP=1 holds copies. Inputs that cannot be reread
// or mapped are held.
var heldAccess = func() inputAccess {
	switch {
	case noMmap:
		return accessCopy
	case os.Getenv("GOMERGE_MMAP") == "1":
		return accessMap
	case os.Getenv("GOMERGE_MMAP") == "0":
		return accessReread
	}
	return accessAuto
}()

// costedAccess is the inputAccess that taskCost counts for multi-pass
// inputs: heldAccess, or probeAccess's finding; before the probe (which
// reads weights, and `gomerge plan` reads none) the dearer, mapped.
// writeTensors probes before it costs the tasks, so that the budget
// counts what the tasks will do.
func costedAccess() inputAccess {
	if a := heldAccess; a != accessAuto {
		return a
	}
	probed.Lock()
	defer probed.Unlock()
	if probed.done {
		return probed.access
	}
	return accessMap
}

// probePlan runs probeAccess on the first input of plan that can tell,
// when heldAccess is accessAuto and it has not run yet.
func probePlan(plan *Plan) {
	if heldAccess != accessAuto {
		return
	}
	for _, t := range plan.Tasks {
		if _, hold := chunk(plan.Method, t); !hold {
			continue
		}
		for _, in := range t.Inputs {
			if !rereadable(in) {
				continue
			}
			if _, decided := probeAccess(in); decided {
				return
			}
		}
	}
}

// multiPassAccess is heldAccess for a rereadable input, accessAuto
// resolved by probeAccess.
func multiPassAccess(in TaskInput) inputAccess {
	if a := heldAccess; a != accessAuto {
		return a
	}
	a, _ := probeAccess(in)
	return a
}

// probed is probeAccess's finding, made once per process.
var probed struct {
	sync.Mutex
	done   bool
	access inputAccess
	cost   safetensors.MapCost
	err    error
}

// logAccess logs probeAccess's finding, if it made one.
func logAccess(log *slog.Logger) {
	probed.Lock()
	defer probed.Unlock()
	switch {
	case !probed.done:
	case probed.err != nil:
		log.Debug("multi-pass inputs are reread", "probe", probed.err)
	default:
		c := probed.cost
		log.Debug("multi-pass inputs", "access", probed.access.String(), "probed_bytes", c.Bytes, "map_touch", c.Map, "pread", c.Read)
	}
}

// probeBytes is how much of a tensor probeAccess measures; tensors
// smaller than minProbeBytes are too small to tell, and are reread.
const probeBytes = 8 << 20

var minProbeBytes int64 = 1 << 20 // a variable for tests

// probeAccess decides, once per process on the first input large enough,
// whether multi-pass tasks map their inputs or reread their pieces on
// every pass. A mapped tensor costs a page fault per page once (its page
// tables are filled as it is mapped, but on some virtual machines the
// first touch of each page still costs 1.5-2 µs); a reread costs a copy
// from the page cache per pass, two or three passes. So inputs are
// mapped when mapping and touching 8 MiB costs less than 1.5 copies of
// it (safetensors.File.ProbeMap). On this project's VMs the two kinds
// of host came out 0.2 s against 0.05 s per 533 MB file first touched
// (2026-12-06, reread 2.25 -> 1.6 CPU s for TIES) and 0.03 s against
// 0.05 s (2026-12-07, mapped 2.22 -> 1.75 CPU s for TIES of five
// fine-tunes). Mapped inputs count toward the memory budget whole, as
// held copies do (taskCost). decided is false when this input could not
// tell and nothing was decided before: the input is then reread.
func probeAccess(in TaskInput) (a inputAccess, decided bool) {
	probed.Lock()
	defer probed.Unlock()
	if probed.done {
		return probed.access, true
	}
	p, ok := in.Model.Tensors.(safetensors.MapProber)
	if !ok || in.read != nil || len(in.Parts) > 0 || in.Tensor.Size < minProbeBytes {
		return accessReread, false
	}
	probed.done, probed.access = true, accessReread
	probed.cost, probed.err = p.ProbeMap(in.Tensor.Name, probeBytes)
	if c := probed.cost; probed.err == nil && c.Map < c.Read*3/2 {
		probed.access = accessMap
	}
	return probed.access, true
}

// rereadable reports whether pieces of an input can be read again on
// every pass at the cost of a copy: a tensor of a local file, not one
// computed on the fly (a permuted embedding).
func rereadable(in TaskInput) bool {
	_, ok := in.Model.Tensors.(safetensors.Mapper)
	return ok && in.read == nil
}

// load reads elements [off, off+k) of an input tensor into buf, decodes
// them to float32 and rounds them to the working dtype. whole loads the
// entire tensor and crops it to the task's shape.
func (ex *executor) load(in TaskInput, src *inputBytes, t *Task, buf []float32, off, k int64, whole bool) (_ []float32, err error) {
	es := int64(in.DType.Size())
	if src.mp != nil {
		defer func() {
			if r := recover(); r != nil {
				err = mappedFault(in, r)
			}
		}()
	}
	if whole {
		k = numElements(in.Tensor.Shape)
	}
	var raw []byte
	if src.data != nil {
		raw = src.data[off*es : (off+k)*es]
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

// mark logs a point of the run in an execution trace (GOMERGE_TRACE), for
// a timeline of where the workers wait; it costs nothing otherwise.
func mark(ctx context.Context, what, name string) {
	if trace.IsEnabled() {
		trace.Log(ctx, what, name)
	}
}
