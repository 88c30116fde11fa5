package eval

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"golang.org/x/sync/errgroup"
)

// Request is one loglikelihood request on token ids, lm-eval's
// (context_enc, continuation_enc) pair: the log-probability of
// Continuation given Context. Context must not be empty; an empty text
// context is replaced by the prefix token before a request is made.
type Request struct {
	Context      []int `json:"context"`
	Continuation []int `json:"continuation"`
}

// Result is the answer to one Request.
type Result struct {
	// LogLikelihood is Σ log p(continuation[j] | everything before it), in
	// float64.
	LogLikelihood float64 `json:"loglikelihood"`
	// Tokens is the number of continuation tokens scored.
	Tokens int `json:"tokens"`
	// IsGreedy is true when every continuation token is the argmax of its
	// distribution (lm-eval's is_greedy). LMs that only see log-probs of the
	// given tokens report false.
	IsGreedy bool `json:"is_greedy"`
}

// LM scores loglikelihood requests. It is the one interface the tasks need;
// an in-process forward pass (see FromLogits) and an OpenAI-compatible
// server (see Endpoint) both implement it.
type LM interface {
	// LogLikelihood answers reqs in order. It left-truncates each
	// context+continuation to MaxLength()+1 tokens, as lm-eval's HFLM does,
	// and fails when a continuation alone is longer than MaxLength().
	LogLikelihood(ctx context.Context, reqs []Request) ([]Result, error)
	// MaxLength is the number of positions one forward pass conditions on:
	// rolling perplexity windows score MaxLength() tokens each.
	MaxLength() int
}

// ErrTooLong reports a continuation longer than the model's MaxLength.
var ErrTooLong = errors.New("eval: continuation longer than the model's max length")

// ErrNotFinite is wrapped by the error Score returns when the model gives
// a log-likelihood that is NaN or infinite: its weights hold NaN or
// infinities, or its config.json makes the forward pass produce them. A
// score computed from it would mean nothing.
var ErrNotFinite = errors.New("eval: the model's log-likelihood is not a finite number (NaN or infinite weights, or a config.json that produces them)")

// FuncLM adapts a forward pass given as a function to the LM interface.
// Make one with FromLogits, FromLogProbs or their batched forms.
type FuncLM struct {
	logits   func(seqs [][]int) ([][]float32, error)
	logprobs func(seqs [][]int) ([][]float64, error)
	tails    func(seqs [][]int, tails []int) ([][]float64, [][]bool, error)
	batched  bool
	vocab    int
	maxLen   int
	// Parallel is how many forward-pass calls run at once (default 1: a
	// forward pass usually keeps every core busy on its own).
	Parallel int
	// BatchTokens bounds the ids handed to one call of a batched forward
	// pass (a sequence longer than that goes alone). The default keeps the
	// logits of one call under 256 MiB (2048 ids for log-prob functions,
	// 4096 for tail scorers, which hold no logits).
	BatchTokens int
}

// FromLogits returns an LM around a forward pass that maps ids to logits,
// row-major [len(ids), vocab], row i predicting ids[i+1]. The model is fed
// context+continuation[:-1], at most maxLen ids, exactly as lm-eval's HFLM
// feeds it; log-softmax is taken in float64, and IsGreedy compares each
// continuation token with its row's argmax (first maximum on ties, as
// torch.argmax). Requests that feed the same ids share one call.
func FromLogits(fn func(ids []int) ([]float32, error), vocab, maxLen int) *FuncLM {
	return &FuncLM{logits: each(fn), vocab: vocab, maxLen: maxLen}
}

// FromLogitsBatch is FromLogits for a forward pass that takes several
// sequences at once.
func FromLogitsBatch(fn func(seqs [][]int) ([][]float32, error), vocab, maxLen int) *FuncLM {
	return &FuncLM{logits: fn, batched: true, vocab: vocab, maxLen: maxLen}
}

// FromLogProbs returns an LM around a forward pass that returns
// log p(ids[i] | ids[:i]) for i = 1..len(ids)−1, either len(ids)−1 values
// (at index i−1) or len(ids) values with the first ignored. It is called
// with context+continuation, at most maxLen+1 ids. It cannot tell whether
// a continuation is greedy, so IsGreedy is always false and exact_match is
// meaningless with it.
func FromLogProbs(fn func(ids []int) ([]float64, error), maxLen int) *FuncLM {
	return &FuncLM{logprobs: each(fn), maxLen: maxLen}
}

// FromLogProbsBatch is FromLogProbs for a forward pass that takes several
// sequences at once.
func FromLogProbsBatch(fn func(seqs [][]int) ([][]float64, error), maxLen int) *FuncLM {
	return &FuncLM{logprobs: fn, batched: true, maxLen: maxLen}
}

// FromTailScores returns an LM around a forward pass that scores the
// last tokens of sequences itself, such as eval/model's
// Model.TailLogProbs: fn(seqs, tails) returns, for each sequence, the
// log-probabilities of its last tails[s] ids, each given every id before
// it, and whether each id was its distribution's first argmax. It is
// called with context+continuation (at most maxLen+1 ids, the last one
// only scored) and tails[s] = len(continuation), so the forward pass can
// run a context shared by several continuations once and skip the output
// layer wherever no continuation token is predicted. Sequences and tails
// are batched as FromLogProbsBatch batches them.
func FromTailScores(fn func(seqs [][]int, tails []int) ([][]float64, [][]bool, error), maxLen int) *FuncLM {
	return &FuncLM{tails: fn, batched: true, maxLen: maxLen}
}

func each[T any](fn func(ids []int) ([]T, error)) func([][]int) ([][]T, error) {
	return func(seqs [][]int) ([][]T, error) {
		out := make([][]T, len(seqs))
		for i, s := range seqs {
			var err error
			if out[i], err = fn(s); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
}

// MaxLength implements LM.
func (m *FuncLM) MaxLength() int { return m.maxLen }

// feedGroup is one sequence fed to the model and the requests it answers.
type feedGroup struct {
	feed []int
	tail int // continuation tokens scored, for a tail scorer
	reqs []int
}

// LogLikelihood implements LM. Requests that feed the model the same ids
// (one-token continuations of one context, as letter answers are) share
// one forward pass.
func (m *FuncLM) LogLikelihood(ctx context.Context, reqs []Request) ([]Result, error) {
	var groups []*feedGroup
	byFeed := map[string]*feedGroup{}
	for i, r := range reqs {
		inp, _, err := truncate(r, m.maxLen)
		if err != nil {
			return nil, fmt.Errorf("request %d: %w", i, err)
		}
		feed := inp
		if m.logits != nil {
			feed = inp[:len(inp)-1]
		}
		key := idsKey(feed)
		tail := 0
		if m.tails != nil {
			// One feed split in two places is two questions.
			tail = len(r.Continuation)
			key += "/" + strconv.Itoa(tail)
		}
		g := byFeed[key]
		if g == nil {
			g = &feedGroup{feed: feed, tail: tail}
			byFeed[key] = g
			groups = append(groups, g)
		}
		g.reqs = append(g.reqs, i)
	}
	// Calls: one group each, or as many as fit BatchTokens when batched.
	var calls [][]*feedGroup
	limit := m.BatchTokens
	if limit <= 0 {
		limit = 2048
		if m.tails != nil {
			limit = 4096
		}
		if m.logits != nil {
			limit = max(1, (64<<20)/max(1, m.vocab))
		}
	}
	n := 0
	for _, g := range groups {
		if len(calls) == 0 || !m.batched || n+len(g.feed) > limit {
			calls = append(calls, nil)
			n = 0
		}
		calls[len(calls)-1] = append(calls[len(calls)-1], g)
		n += len(g.feed)
	}
	out := make([]Result, len(reqs))
	eg, ctx := errgroup.WithContext(ctx)
	eg.SetLimit(max(1, m.Parallel))
	for _, call := range calls {
		eg.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return m.run(call, reqs, out)
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func idsKey(ids []int) string {
	b := make([]byte, 0, 3*len(ids))
	for _, id := range ids {
		b = binary.AppendVarint(b, int64(id))
	}
	return string(b)
}

// run makes one forward-pass call for groups and scores their requests.
func (m *FuncLM) run(groups []*feedGroup, reqs []Request, out []Result) error {
	feeds := make([][]int, len(groups))
	for i, g := range groups {
		feeds[i] = g.feed
	}
	first := groups[0].reqs[0]
	if m.tails != nil {
		return m.runTails(groups, feeds, reqs, out)
	}
	if m.logprobs != nil {
		lps, err := m.logprobs(feeds)
		if err == nil && len(lps) != len(feeds) {
			err = fmt.Errorf("eval: forward pass answered %d of %d sequences", len(lps), len(feeds))
		}
		if err != nil {
			return fmt.Errorf("request %d: %w", first, err)
		}
		for gi, g := range groups {
			if err := m.scoreLogProbs(g, lps[gi], reqs, out); err != nil {
				return err
			}
		}
		return nil
	}
	logits, err := m.logits(feeds)
	if err == nil && len(logits) != len(feeds) {
		err = fmt.Errorf("eval: forward pass answered %d of %d sequences", len(logits), len(feeds))
	}
	if err != nil {
		return fmt.Errorf("request %d: %w", first, err)
	}
	for gi, g := range groups {
		if err := m.scoreLogits(g, logits[gi], reqs, out); err != nil {
			return err
		}
	}
	return nil
}

// runTails makes one call of a tail scorer for groups.
func (m *FuncLM) runTails(groups []*feedGroup, feeds [][]int, reqs []Request, out []Result) error {
	tails := make([]int, len(groups))
	for i, g := range groups {
		tails[i] = g.tail
	}
	lps, greedy, err := m.tails(feeds, tails)
	if err == nil && (len(lps) != len(feeds) || len(greedy) != len(feeds)) {
		err = fmt.Errorf("eval: forward pass answered %d of %d sequences", min(len(lps), len(greedy)), len(feeds))
	}
	if err != nil {
		return fmt.Errorf("request %d: %w", groups[0].reqs[0], err)
	}
	for gi, g := range groups {
		if len(lps[gi]) != g.tail || len(greedy[gi]) != g.tail {
			return fmt.Errorf("request %d: eval: forward pass gave %d log-probs for a continuation of %d tokens", g.reqs[0], len(lps[gi]), g.tail)
		}
		res := Result{Tokens: g.tail, IsGreedy: true}
		for j, v := range lps[gi] {
			res.LogLikelihood += v
			res.IsGreedy = res.IsGreedy && greedy[gi][j]
		}
		for _, i := range g.reqs {
			out[i] = res
		}
	}
	return nil
}

func (m *FuncLM) scoreLogProbs(g *feedGroup, lp []float64, reqs []Request, out []Result) error {
	if len(lp) != len(g.feed) && len(lp) != len(g.feed)-1 {
		return fmt.Errorf("request %d: eval: forward pass gave %d log-probs for %d ids", g.reqs[0], len(lp), len(g.feed))
	}
	for _, i := range g.reqs {
		n := len(reqs[i].Continuation)
		var ll float64
		for _, v := range lp[len(lp)-n:] {
			ll += v
		}
		out[i] = Result{LogLikelihood: ll, Tokens: n}
	}
	return nil
}

func (m *FuncLM) scoreLogits(g *feedGroup, logits []float32, reqs []Request, out []Result) error {
	if len(logits) != len(g.feed)*m.vocab {
		return fmt.Errorf("request %d: eval: forward pass gave %d logits for %d ids × vocab %d", g.reqs[0], len(logits), len(g.feed), m.vocab)
	}
	for _, i := range g.reqs {
		cont := reqs[i].Continuation
		// The rows predicting the continuation are the last len(cont) ones.
		first := len(g.feed) - len(cont)
		res := Result{Tokens: len(cont), IsGreedy: true}
		for j, tok := range cont {
			if tok < 0 || tok >= m.vocab {
				return fmt.Errorf("request %d: eval: token id %d outside vocab %d", i, tok, m.vocab)
			}
			row := logits[(first+j)*m.vocab : (first+j+1)*m.vocab]
			lp, greedy := logSoftmaxAt(row, tok)
			res.LogLikelihood += lp
			res.IsGreedy = res.IsGreedy && greedy
		}
		out[i] = res
	}
	return nil
}

// truncate returns the model input context+continuation left-truncated to
// maxLen+1 tokens and the length of the context part kept.
func truncate(r Request, maxLen int) ([]int, int, error) {
	if len(r.Context) == 0 {
		return nil, 0, errors.New("eval: empty context (use the prefix token)")
	}
	if len(r.Continuation) == 0 {
		return nil, 0, errors.New("eval: empty continuation")
	}
	if len(r.Continuation) > maxLen {
		return nil, 0, fmt.Errorf("%w: %d > %d", ErrTooLong, len(r.Continuation), maxLen)
	}
	whole := make([]int, 0, len(r.Context)+len(r.Continuation))
	whole = append(append(whole, r.Context...), r.Continuation...)
	if len(whole) > maxLen+1 {
		whole = whole[len(whole)-(maxLen+1):]
	}
	return whole, len(whole) - len(r.Continuation), nil
}

// logSoftmaxAt returns log softmax(row)[tok] in float64 and whether tok is
// the row's first maximum.
func logSoftmaxAt(row []float32, tok int) (float64, bool) {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	mx := float64(row[best])
	var sum float64
	for _, v := range row {
		sum += math.Exp(float64(v) - mx)
	}
	return float64(row[tok]) - mx - math.Log(sum), best == tok
}
