package cuda

import _ "embed"

// PTX is the kernels' PTX text (kernels.cu compiled by gen.sh), loaded by
// cuModuleLoadData.
//
//go:embed kernels.ptx
var PTX string

// paramKind is the type of one kernel parameter as the PTX declares it.
type paramKind string

const (
	pU64 paramKind = "u64" // device pointers and 64-bit integers
	pU32 paramKind = "u32" // int and unsigned int
	pF32 paramKind = "f32"
)

// kind returns the PTX parameter type of a launch argument.
func kind(v any) paramKind {
	switch v.(type) {
	case uint64:
		return pU64
	case int32, uint32:
		return pU32
	case float32:
		return pF32
	}
	return "?"
}

// Work dtype codes of the kernels.
const (
	workF32  int32 = 0
	workBF16 int32 = 1
	workF16  int32 = 2
)

// b2i is a kernel's int flag.
func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// launch is one kernel call: the entry name and its arguments in the
// order of the kernel's parameters. The argument lists are built here,
// outside the build tag, so that tests on any machine check them against
// the PTX.
type launch struct {
	name string
	args []any
}

func weightedSumArgs(out, xs, stride, ws uint64, k int32, n uint64, work, normalize int32, div float32) launch {
	return launch{"gm_weighted_sum", []any{out, xs, stride, ws, k, n, work, normalize, div}}
}

func tiesArgs(out, ds, stride, ws uint64, k int32, n uint64, work, normalize int32) launch {
	return launch{"gm_ties", []any{out, ds, stride, ws, k, n, work, normalize}}
}

func scaleRoundArgs(x, n uint64, a float32, work int32) launch {
	return launch{"gm_scale_round", []any{x, n, a, work}}
}

func subRoundArgs(dst, a, b, n uint64, work int32) launch {
	return launch{"gm_sub_round", []any{dst, a, b, n, work}}
}

func blendArgs(out, a, b, n uint64, s0, s1 float32, work int32) launch {
	return launch{"gm_blend", []any{out, a, b, n, s0, s1, work}}
}

func addInplaceArgs(x, y, n uint64) launch {
	return launch{"gm_add_inplace", []any{x, y, n}}
}

func rmsNormArgs(dst, x, w, rows, d, epsBits uint64) launch {
	return launch{"gm_rmsnorm", []any{dst, x, w, rows, d, epsBits}}
}

func ropeArgs(x, cos, sin, n, heads, d uint64) launch {
	return launch{"gm_rope", []any{x, cos, sin, n, heads, d}}
}

func bernoulliArgs(x, n, key, first, bound, kept uint64) launch {
	return launch{"gm_bernoulli", []any{x, n, key, first, bound, kept}}
}

func pruneMagnitudeArgs(x, n uint64, thr uint32, tieEnd uint64) launch {
	return launch{"gm_prune_magnitude", []any{x, n, thr, tieEnd}}
}

// convertArgs is one of the conversions gm_bf16_to_f32, gm_f32_to_bf16,
// gm_f16_to_f32 and gm_f32_to_f16.
func convertArgs(name string, dst, src, n uint64) launch {
	return launch{name, []any{dst, src, n}}
}

// allLaunches returns one launch of every kernel the Go code calls, with
// zero arguments: the list the PTX test checks.
func allLaunches() []launch {
	return []launch{
		weightedSumArgs(0, 0, 0, 0, 0, 0, 0, 0, 0),
		tiesArgs(0, 0, 0, 0, 0, 0, 0, 0),
		scaleRoundArgs(0, 0, 0, 0),
		subRoundArgs(0, 0, 0, 0, 0),
		blendArgs(0, 0, 0, 0, 0, 0, 0),
		addInplaceArgs(0, 0, 0),
		rmsNormArgs(0, 0, 0, 0, 0, 0),
		ropeArgs(0, 0, 0, 0, 0, 0),
		bernoulliArgs(0, 0, 0, 0, 0, 0),
		pruneMagnitudeArgs(0, 0, 0, 0),
		convertArgs("gm_bf16_to_f32", 0, 0, 0),
		convertArgs("gm_f32_to_bf16", 0, 0, 0),
		convertArgs("gm_f16_to_f32", 0, 0, 0),
		convertArgs("gm_f32_to_f16", 0, 0, 0),
	}
}
