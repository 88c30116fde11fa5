package eval

import (
	"context"
	"fmt"
	"math"
	"strings"
)

// byteTokenizer encodes UTF-8 bytes as ids byte+3; BOS is 1, EOS 2.
type byteTokenizer struct{ noBOS bool }

func (byteTokenizer) Encode(s string) ([]int, error) {
	ids := make([]int, len(s))
	for i := 0; i < len(s); i++ {
		ids[i] = int(s[i]) + 3
	}
	return ids, nil
}

func (t byteTokenizer) BOS() (int, bool) { return 1, !t.noBOS }
func (byteTokenizer) EOS() (int, bool)   { return 2, true }

func decodeBytes(ids []int) string {
	b := make([]byte, len(ids))
	for i, id := range ids {
		b[i] = byte(id - 3)
	}
	return string(b)
}

// bigramLogProbs is log p(tok | prev) = −(1 + (prev+tok) mod 4)/4: not a
// distribution, but a score that is easy to add up by hand and that does
// not depend on how far back the context reaches.
func bigramLogProbs(ids []int) ([]float64, error) {
	out := make([]float64, len(ids))
	for i := 1; i < len(ids); i++ {
		out[i] = -float64(1+(ids[i-1]+ids[i])%4) / 4
	}
	return out, nil
}

// choiceLM answers every request with the log-likelihood given for its
// continuation's text; IsGreedy is set for the continuations in greedy.
type choiceLM struct {
	ll     map[string]float64
	greedy map[string]bool
	seen   []Request
}

func (m *choiceLM) MaxLength() int { return 1024 }

func (m *choiceLM) LogLikelihood(_ context.Context, reqs []Request) ([]Result, error) {
	out := make([]Result, len(reqs))
	for i, r := range reqs {
		m.seen = append(m.seen, r)
		k := decodeBytes(r.Continuation)
		ll, ok := m.ll[k]
		if !ok {
			return nil, fmt.Errorf("no log-likelihood for %q", k)
		}
		out[i] = Result{LogLikelihood: ll, Tokens: len(r.Continuation), IsGreedy: m.greedy[k]}
	}
	return out, nil
}

// mergeTokenizer knows a, b, c and the merge "ab" (id 3), to show the
// harness's split of enc(context+continuation) at len(enc(context)).
type mergeTokenizer struct{}

func (mergeTokenizer) Encode(s string) ([]int, error) {
	var ids []int
	for len(s) > 0 {
		switch {
		case strings.HasPrefix(s, "ab"):
			ids, s = append(ids, 3), s[2:]
		case s[0] >= 'a' && s[0] <= 'c':
			ids, s = append(ids, int(s[0]-'a')), s[1:]
		default:
			return nil, fmt.Errorf("no token for %q", s[:1])
		}
	}
	return ids, nil
}
func (mergeTokenizer) BOS() (int, bool) { return 0, false }
func (mergeTokenizer) EOS() (int, bool) { return 9, true }

func approx(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }
