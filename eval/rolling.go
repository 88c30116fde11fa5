package eval

import (
	"context"
	"fmt"
)

// Window is one rolling window: the model reads Input and the last
// len(Pred) of its predictions are scored against Pred.
type Window struct {
	Input []int
	Pred  []int
}

// RollingTokenWindows splits tokens into windows exactly as lm-eval's
// utils.get_rolling_token_windows does. The first window feeds
// [prefix] + tokens[:maxSeqLen-1] and predicts tokens[:maxSeqLen]; each
// later window predicts the next maxSeqLen-contextLen+1 tokens (fewer in
// the last) from the maxSeqLen tokens before its last prediction. Every
// token is predicted exactly once. It returns nil for no tokens and
// panics unless 1 ≤ contextLen ≤ maxSeqLen (a programming error, as the
// harness's assert).
func RollingTokenWindows(tokens []int, prefix, maxSeqLen, contextLen int) []Window {
	if contextLen < 1 || contextLen > maxSeqLen {
		panic(fmt.Sprintf("eval: rolling windows need 1 <= contextLen (%d) <= maxSeqLen (%d)", contextLen, maxSeqLen))
	}
	if len(tokens) == 0 {
		return nil
	}
	predLen := maxSeqLen - contextLen + 1
	first := min(maxSeqLen, len(tokens))
	in := append([]int{prefix}, tokens[:first-1]...)
	out := []Window{{Input: in, Pred: tokens[:first]}}
	predicted := first
	for predicted < len(tokens) {
		n := min(len(tokens)-predicted, predLen)
		end := predicted + n
		// Python's tokens[end-maxSeqLen-1 : end-1] clamps a negative start
		// only when it is below -len; here end-maxSeqLen-1 ≥ 0 always holds
		// because the first window already predicted maxSeqLen tokens.
		out = append(out, Window{Input: tokens[end-maxSeqLen-1 : end-1], Pred: tokens[end-n : end]})
		predicted += n
	}
	return out
}

// DisjointWindow turns a Window into a Request whose context does not
// overlap its continuation, as lm-eval's utils.make_disjoint_window.
func DisjointWindow(w Window) Request {
	return Request{Context: w.Input[:len(w.Input)-(len(w.Pred)-1)], Continuation: w.Pred}
}

// RollingRequests returns the requests lm-eval's loglikelihood_rolling
// makes for one document: rolling windows of lm.MaxLength() tokens with a
// one-token context (context_len=1), made disjoint. Summing their
// results gives the document's log-likelihood.
func RollingRequests(tokens []int, prefix, maxLen int) []Request {
	ws := RollingTokenWindows(tokens, prefix, maxLen, 1)
	reqs := make([]Request, len(ws))
	for i, w := range ws {
		reqs[i] = DisjointWindow(w)
	}
	return reqs
}

// LogLikelihoodRolling scores a whole token sequence the way lm-eval's
// loglikelihood_rolling does: every token conditioned on prefix (BOS or
// EOS, or the first token of a pre-tokenized item) and the tokens before
// it inside its window. The result's Tokens is len(tokens).
func LogLikelihoodRolling(ctx context.Context, lm LM, tokens []int, prefix int) (Result, error) {
	reqs := RollingRequests(tokens, prefix, lm.MaxLength())
	res, err := lm.LogLikelihood(ctx, reqs)
	if err != nil {
		return Result{}, err
	}
	if err := checkFinite(res, "rolling window", 0); err != nil {
		return Result{}, err
	}
	return sumResults(res), nil
}

func sumResults(rs []Result) Result {
	out := Result{IsGreedy: true}
	for _, r := range rs {
		out.LogLikelihood += r.LogLikelihood
		out.Tokens += r.Tokens
		out.IsGreedy = out.IsGreedy && r.IsGreedy
	}
	return out
}
