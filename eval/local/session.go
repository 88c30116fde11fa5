package local

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/gomerge/gomerge/eval"
	"github.com/gomerge/gomerge/eval/model"
)

// sessionLM is a local model as an eval.LM that keeps one model.Session
// between requests: a request whose context starts with what the session
// holds (Belebele's five-shot prefix, shared by every question after the
// fifth and by the four choices of each) runs only the tokens after the
// common prefix through the model. Requests that gain nothing from it — a
// long continuation, or a short context — go to the batched forward pass.
// It also generates (eval.TokenGenerator) on the same session, so that
// few-shot generation prompts share their examples too. Callers that find
// the session busy use the forward pass (or a fresh session) instead.
type sessionLM struct {
	*eval.FuncLM
	m  *model.Model
	mu sync.Mutex
	s  *model.Session
}

// Requests take the session path when their continuation is at most
// sessionMaxCont tokens and their context at least sessionMinContext.
const (
	sessionMaxCont    = 16
	sessionMinContext = 32
)

func newSessionLM(m *model.Model) *sessionLM {
	return &sessionLM{FuncLM: eval.FromTailScores(m.TailLogProbs, m.MaxPositions()), m: m}
}

// whole is context+continuation left-truncated to MaxLength()+1 tokens
// (as eval.FromLogits feeds them) and the length of its context part.
func (l *sessionLM) whole(r eval.Request) ([]int, int) {
	w := make([]int, 0, len(r.Context)+len(r.Continuation))
	w = append(append(w, r.Context...), r.Continuation...)
	if max := l.MaxLength() + 1; len(w) > max {
		w = w[len(w)-max:]
	}
	return w, len(w) - len(r.Continuation)
}

func (l *sessionLM) useSession(r eval.Request) bool {
	if l.m.OnDevice() { // the device's batched pass beats the CPU's cache
		return false
	}
	if len(r.Continuation) == 0 || len(r.Continuation) > sessionMaxCont || len(r.Continuation) > l.MaxLength() {
		return false
	}
	_, n := l.whole(r)
	return n >= sessionMinContext
}

// LogLikelihood implements eval.LM.
func (l *sessionLM) LogLikelihood(ctx context.Context, reqs []eval.Request) ([]eval.Result, error) {
	// Another caller holds the session (evaluators sharing a cached
	// model): this batch takes the forward pass rather than wait.
	if !l.mu.TryLock() {
		return l.FuncLM.LogLikelihood(ctx, reqs)
	}
	out := make([]eval.Result, len(reqs))
	var rest []int
	for i, r := range reqs {
		if !l.useSession(r) {
			rest = append(rest, i)
			continue
		}
		if err := ctx.Err(); err != nil {
			l.mu.Unlock()
			return nil, err
		}
		res, err := l.scoreOnSession(r)
		if err != nil {
			l.mu.Unlock()
			return nil, fmt.Errorf("request %d: %w", i, err)
		}
		out[i] = res
	}
	l.mu.Unlock()
	if len(rest) == 0 {
		return out, nil
	}
	sub := make([]eval.Request, len(rest))
	for j, i := range rest {
		sub[j] = reqs[i]
	}
	res, err := l.FuncLM.LogLikelihood(ctx, sub)
	if err != nil {
		return nil, err
	}
	for j, i := range rest {
		out[i] = res[j]
	}
	return out, nil
}

// prime leaves the session holding ids with the logits after the last
// one, feeding only what follows the common prefix.
func (l *sessionLM) prime(ids []int) error {
	if l.s == nil {
		l.s = l.m.NewSession()
	}
	p := l.s.CommonPrefix(ids)
	if p == len(ids) && l.s.Len() == p && l.s.Logits() != nil {
		return nil
	}
	p = min(p, len(ids)-1) // at least one token is fed, for its logits
	l.s.Rewind(p)
	return l.s.Feed(ids[p:])
}

// scoreOnSession scores one request: the context is primed, then each
// continuation token is read from the logits and fed in turn (the last
// one is not fed, so the session keeps the context for the next choice).
func (l *sessionLM) scoreOnSession(r eval.Request) (eval.Result, error) {
	w, n := l.whole(r)
	if err := l.prime(w[:n]); err != nil {
		return eval.Result{}, err
	}
	res := eval.Result{Tokens: len(w) - n, IsGreedy: true}
	for j, tok := range w[n:] {
		lg := l.s.Logits()
		if tok < 0 || tok >= len(lg) {
			return eval.Result{}, fmt.Errorf("eval: token id %d outside vocab %d", tok, len(lg))
		}
		lp, greedy := logSoftmaxAt(lg, tok)
		res.LogLikelihood += lp
		res.IsGreedy = res.IsGreedy && greedy
		if j < len(w)-n-1 {
			if err := l.s.Feed([]int{tok}); err != nil {
				return eval.Result{}, err
			}
		}
	}
	return res, nil
}

// GenerateGreedy implements eval.TokenGenerator on the session.
func (l *sessionLM) GenerateGreedy(ctx context.Context, prompt []int, maxNew int, stop []int, yield func(int) bool) ([]int, error) {
	if len(prompt) == 0 {
		return nil, fmt.Errorf("eval: empty prompt")
	}
	if !l.mu.TryLock() {
		// The shared session is busy: generate on a fresh one.
		s := l.m.NewSession()
		if err := s.Feed(prompt); err != nil {
			return nil, err
		}
		return s.Generate(ctx, model.GenerateOptions{MaxNewTokens: maxNew, MaxLen: l.m.MaxPositions(), Stop: stop}, yield)
	}
	defer l.mu.Unlock()
	if err := l.prime(prompt); err != nil {
		return nil, err
	}
	return l.s.Generate(ctx, model.GenerateOptions{MaxNewTokens: maxNew, MaxLen: l.m.MaxPositions(), Stop: stop}, yield)
}

// logSoftmaxAt is log softmax(row)[tok] in float64 and whether tok is the
// row's first maximum, as eval.FromLogits computes them.
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
