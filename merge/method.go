package merge

import (
	"context"
	"fmt"
	"sort"

	"github.com/gomerge/gomerge/tensor"
)

// BaseRule says what a method does with base_model.
type BaseRule uint8

// The base-model rules of the merge methods.
const (
	// BaseNotSpecial: the base is just one more input (linear, karcher).
	BaseNotSpecial BaseRule = iota
	// BaseRequired: the method needs base_model among its inputs.
	BaseRequired
	// BaseOptional: the method uses base_model when given.
	BaseOptional
	// BaseNone: the method takes no base (passthrough).
	BaseNone
)

// Param declares one parameter of a merge method.
type Param struct {
	Name     string
	Default  float64
	Required bool
}

// Method is a merge method: a name from mergekit's registry, its parameter
// schema and a function over the inputs of one output tensor.
type Method struct {
	// Name is the merge_method value in configs.
	Name string
	// Pretty and URL describe the method in model cards.
	Pretty, URL string
	Base        BaseRule
	// Global parameters take one value per output tensor; PerModel
	// parameters one value per input model and output tensor.
	Global, PerModel []Param
	// MinInputs and MaxInputs bound the number of inputs of one tensor
	// (0 = no bound), base included.
	MinInputs, MaxInputs int
	// EmbedRule says how vocabulary-size mismatches of embedding matrices
	// are resolved when no tokenizer is built.
	EmbedRule EmbedRule
	// Merge computes the output tensor into out (len = product of t.Shape).
	Merge func(t *Tensors, out []float32) error
	// Elementwise, when set and true for a tensor's parameters, says that
	// each output element depends only on the same element of the inputs,
	// so the executor may stream the tensor through Merge in pieces.
	Elementwise func(t *Tensors) bool
	// Analyze, when set, lets the executor stream a method that needs
	// whole-tensor statistics: it keeps each input in its stored form,
	// calls Analyze once for the tensor's Analysis, runs the Analysis's
	// passes over the pieces, and then calls Merge on every piece with
	// t.State set to the Analysis.
	Analyze func(t *Tensors) (Analysis, error)
	// WantsSample asks the executor to hand Analyze a sample of the tensor
	// when it has the inputs in memory (see Tensors.Sample).
	WantsSample bool
	// TaskVectors says that Merge and Analyze see every input but the base
	// as its task vector X_i − B rounded to the working dtype (the base
	// input stays as it is). The executor computes them once per tensor
	// and, where the stored dtype holds them exactly, keeps them in place
	// of the held inputs, so no pass subtracts again.
	TaskVectors bool
	// CanAnalyze, when set, says whether Analyze can stream this tensor
	// with its parameters; nil means always.
	CanAnalyze func(t *Tensors) bool
	// StoredBF16 says that Analyze's passes and Merge take the inputs of a
	// streamed tensor in their stored form when they can: when the working
	// dtype and every input's stored dtype are bfloat16, the tensor has a
	// base (for TaskVectors methods), the CPU runs the arithmetic and its
	// inputs are held in memory or, for an element-wise tensor, can be
	// reread piece by piece at the tensor's shape, the executor sets
	// Tensors.Stored and hands each piece as Input.BF16, the stored bytes
	// of the values (not task vectors), with Data nil. The method then
	// reads every input byte once per pass in blocks that stay in the L1
	// cache, instead of the executor writing float32 task vectors that the
	// method reads again.
	StoredBF16 bool
	// PieceUnit, when set, returns the number of elements (a row, say) that
	// Analyze and Merge need whole in one piece, or 0 for none: the pieces
	// of a streamed tensor are then whole multiples of it, one unit at
	// least. t holds the shape and the parameters, not the data.
	PieceUnit func(t *Tensors) int64
	// PlanTask, when set, checks or adjusts one planned output tensor
	// before any weight is read; skip leaves the tensor out.
	PlanTask func(c *TaskContext) (skip bool, err error)
	// WeightSum, when set, returns the inputs of a planned tensor whose
	// "weight" parameters Merge divides by the sum of with no guard
	// against zero (linear's normalize), or nil when its parameters turn
	// that off. The plan refuses a tensor whose such sum is zero: its
	// output would be NaN or infinite (ErrDegenerate).
	WeightSum func(t *Task) []int
}

// Analysis gathers a method's whole-tensor statistics over the pieces of
// one tensor. The executor may examine different pieces of a pass, and
// merge different pieces, at the same time, each with its own *Tensors:
// per-piece results belong in slots indexed by t.Piece, per-goroutine ones
// in slots indexed by t.Worker, state carried from piece to piece is
// updated in t.InOrder (see OrderedAnalysis), and Merge only reads the
// Analysis (or uses t.InOrder). Every result must be the same whatever the
// number of workers.
type Analysis interface {
	// Piece examines one piece of pass t.Pass.
	Piece(t *Tensors) error
	// EndPass is called once every piece of pass has been examined; more
	// asks for another pass.
	EndPass(pass int) (more bool, err error)
}

// OrderedAnalysis is an Analysis whose Piece calls t.InOrder in some
// passes, to carry state (a running sum whose rounding depends on the
// order of its terms, say) from piece to piece in index order. In other
// passes, and in an Analysis that is not an OrderedAnalysis, InOrder runs
// its function at once.
type OrderedAnalysis interface {
	Analysis
	// InOrderPass reports whether the pieces of pass call t.InOrder.
	InOrderPass(pass int) bool
}

// TaskContext is what a method's PlanTask hook sees of a planned tensor.
type TaskContext struct {
	Task *Task
	// Optional is set when the architecture marks the weight optional.
	Optional bool
	// OutDTypeSet is set when the config names an out_dtype.
	OutDTypeSet bool
	// BaseSet is set when the slice has a base model.
	BaseSet bool
}

func always(*Tensors) bool { return true }

// denseOnly is Elementwise for the task-arithmetic family: without
// pruning every step is element by element.
func denseOnly(t *Tensors) bool {
	for _, in := range t.Inputs {
		if in.Params["density"] < 1 {
			return false
		}
	}
	return true
}

// EmbedRule is how a method reconciles embedding matrices of different
// vocabulary sizes (mergekit's rectify_embed_sizes and task-vector rules).
type EmbedRule uint8

// The embedding rules.
const (
	// EmbedExact: shapes must agree.
	EmbedExact EmbedRule = iota
	// EmbedCommon: all inputs are cut to the largest common sub-matrix.
	EmbedCommon
	// EmbedTruncateToBase: inputs are cut to the base's shape; a smaller
	// input is an error; non-embedding mismatches drop that model.
	EmbedTruncateToBase
)

// Tensors is what a merge method sees for one output tensor: the decoded
// inputs in config order, rounded to the working dtype, and the resolved
// parameters.
type Tensors struct {
	// Name is the output tensor name.
	Name string
	// Shape is the output shape; every input has been brought to it.
	Shape []int64
	// Inputs are in slice-source order, base included where it sits.
	Inputs []Input
	// Base is the index of the base model in Inputs, or -1.
	Base int
	// Work is the working dtype: every intermediate result is rounded to
	// it, as PyTorch does when it computes in that dtype.
	Work tensor.DType
	// Global holds the method's global parameters.
	Global map[string]float64
	// IsEmbed marks vocabulary-sized matrices.
	IsEmbed bool
	// Seed seeds the random masks of this tensor (see Seed in Options).
	Seed uint64

	// Offset is the element offset of the current piece when the tensor is
	// streamed in pieces; 0 otherwise.
	Offset int64
	// Piece numbers the current piece from 0 of Pieces; a tensor merged
	// whole is piece 0 of 1.
	Piece, Pieces int
	// Worker numbers the goroutine handling the current piece, from 0 of
	// Workers.
	Worker, Workers int
	// State is the tensor's Analysis while it is merged in pieces; nil
	// unless the tensor is streamed through Analyze.
	State Analysis
	// Pass numbers the Analysis passes over the pieces from 0.
	Pass int
	// Stored is set when the inputs come as Input.BF16 (see
	// Method.StoredBF16), from Analyze on.
	Stored bool
	// Sample, when Analyze is called with a sample of the tensor, is about
	// how many of its elements each sampled one stands for:
	// Inputs[i].Data holds runs of consecutive elements spread evenly over
	// the tensor (task vectors for TaskVectors methods). 0 means no sample.
	Sample int

	// order passes pieces through InOrder one after another; nil when
	// pieces are merged one at a time.
	order *turnstile
	stop  int // InOrder calls made by the current piece
	// outRounds is set when the executor encodes the result in the working
	// dtype, which rounds it: a method's last rounding is then redundant.
	outRounds bool
	// backend runs the coarse arithmetic of the task-vector methods; nil
	// means tensor.CPU.
	backend tensor.Backend
	// alloc hands out scratch buffers that live until the tensor is
	// written; nil means plain allocation.
	alloc func(n int) []float32
	// ctx is the merge's context; nil means context.Background().
	ctx context.Context
}

// Context returns the merge's context. The executor checks it between
// pieces; a method whose work is not bounded by the size of the tensor
// (an iteration count from the config) checks it as it iterates and
// returns its Err once it is done.
func (t *Tensors) Context() context.Context {
	if t.ctx == nil {
		return context.Background()
	}
	return t.ctx
}

// Scratch returns a float32 buffer of length n for intermediate results.
// Its contents are undefined; the executor reuses it after the tensor is
// written, so methods must not keep it.
func (t *Tensors) Scratch(n int) []float32 {
	if t.alloc == nil {
		return make([]float32, n)
	}
	return t.alloc(n)
}

// InOrder runs fn for the current piece once every earlier piece of the
// tensor has run its fn at the same point, so that state carried from
// piece to piece (such as how many entries tied at a threshold are still
// to be kept) is used in index order while the rest of each piece is
// merged in parallel. The j-th call of a piece waits for the j-th call of
// the pieces before it: every piece must make the same calls, at most
// len(t.Inputs)+1 of them. It fails only when another piece has failed.
func (t *Tensors) InOrder(fn func()) error {
	if t.order == nil {
		fn()
		return nil
	}
	t.stop++
	return t.order.run(t.stop-1, t.Piece, func() error { fn(); return nil })
}

// Input is one model's tensor.
type Input struct {
	// Model is the model reference as written in the config.
	Model string
	// Data holds the values in the working dtype.
	Data []float32
	// BF16 holds the piece's values as stored, two little-endian bytes
	// each, when Tensors.Stored is set; Data is nil then.
	BF16 []byte
	// Params holds the method's per-model parameters for this model.
	Params map[string]float64
}

// toTaskVectors replaces the Data of every input but the base by its task
// vector, round(X_i − B), in place; skip lists inputs already converted.
func toTaskVectors(t *Tensors, skip func(i int) bool) error {
	if t.Base < 0 {
		return nil
	}
	base := t.Inputs[t.Base].Data
	for i, in := range t.Inputs {
		if i != t.Base && (skip == nil || !skip(i)) {
			if err := t.be().SubRound(t.Work, in.Data, in.Data, base); err != nil {
				return fmt.Errorf("task vector of %s for %s: %w", in.Model, t.Name, err)
			}
		}
	}
	return nil
}

// be returns the backend that runs the tensor's coarse arithmetic.
func (t *Tensors) be() tensor.Backend {
	if t.backend == nil {
		return tensor.CPU
	}
	return t.backend
}

// round rounds x to the working dtype in place.
func (t *Tensors) round(x []float32) { tensor.Round(t.Work, x) }

// roundOut rounds a method's result to the working dtype unless encoding
// it will (Encode rounds to nearest even exactly as Round does).
func (t *Tensors) roundOut(x []float32) {
	if !t.outRounds {
		t.round(x)
	}
}

// w returns a per-model parameter rounded to the working dtype, as torch
// does when it turns a Python float into a tensor of that dtype.
func (t *Tensors) w(i int, name string) float32 {
	return tensor.RoundScalar(t.Work, float32(t.Inputs[i].Params[name]))
}

var methods = map[string]*Method{}

// Register adds a merge method to the registry. It panics on a duplicate
// name; it is meant for init functions.
func Register(m *Method) {
	if _, dup := methods[m.Name]; dup {
		panic("merge: method registered twice: " + m.Name)
	}
	methods[m.Name] = m
}

// LookupMethod returns the method registered under name.
func LookupMethod(name string) (*Method, bool) {
	m, ok := methods[name]
	return m, ok
}

// MethodNames lists the registered method names, sorted.
func MethodNames() []string {
	out := make([]string, 0, len(methods))
	for n := range methods {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (m *Method) param(name string) (Param, bool, bool) {
	for _, p := range m.Global {
		if p.Name == name {
			return p, true, true
		}
	}
	for _, p := range m.PerModel {
		if p.Name == name {
			return p, false, true
		}
	}
	return Param{}, false, false
}

func (m *Method) checkInputs(n int) error {
	if m.MinInputs > 0 && n < m.MinInputs {
		return fmt.Errorf("%s needs at least %d inputs, got %d", m.Name, m.MinInputs, n)
	}
	if m.MaxInputs > 0 && n > m.MaxInputs {
		return fmt.Errorf("%s takes at most %d inputs, got %d", m.Name, m.MaxInputs, n)
	}
	return nil
}
