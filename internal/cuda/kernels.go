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

func actMulArgs(g, u, n uint64, kind int32) launch {
	return launch{"gm_act_mul", []any{g, u, n, kind}}
}

func addBiasArgs(x, b, rows, dim uint64) launch {
	return launch{"gm_add_bias", []any{x, b, rows, dim}}
}

func embedArgs(dst, table, ids, n, hidden uint64, scale float32) launch {
	return launch{"gm_embed_bf16", []any{dst, table, ids, n, hidden, scale}}
}

func logProbsArgs(out, best, logits, targets, vocab uint64) launch {
	return launch{"gm_log_probs", []any{out, best, logits, targets, vocab}}
}

func softcapArgs(x, n uint64, cap float32) launch {
	return launch{"gm_softcap", []any{x, n, cap}}
}

func attentionArgs(out, q, k, v, tokens, past, heads, kvHeads, hd uint64, scale float32, window uint64, softcap float32, bq, bk uint64) launch {
	return launch{"gm_attention", []any{out, q, k, v, tokens, past, heads, kvHeads, hd, scale, window, softcap, bq, bk}}
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
		actMulArgs(0, 0, 0, 0),
		addBiasArgs(0, 0, 0, 0),
		embedArgs(0, 0, 0, 0, 0, 0),
		logProbsArgs(0, 0, 0, 0, 0),
		softcapArgs(0, 0, 0),
		attentionArgs(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
	}
}

// Forward-pass kernel launch shapes: gm_log_probs and gm_attention run
// blocks of fwdBlock threads (a power of two, for their reductions), and
// gm_attention's threads hold at most attnPerThread output elements each
// (ATTN_PER_THREAD in kernels.cu).
const (
	fwdBlock      = 256
	attnPerThread = 16
	maxHeadDim    = 512
)

// attnTiles returns gm_attention's query and key tile sizes for head size
// hd and the block's shared memory in bytes: the query tile holds at most
// 4096 floats (attnPerThread per thread) and a key tile 2048, so that the
// whole stays under the 48 KiB a launch gets without opting in.
func attnTiles(hd int) (bq, bk, shared int) {
	bq = min(64, attnPerThread*fwdBlock/hd)
	bk = min(32, 2048/hd)
	return bq, bk, 4 * (bq*hd + bk*(hd+1) + bq*bk + 3*bq)
}
