package model

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// A Session is one growing token sequence with its key/value cache: the
// state of a conversation or of a generation. Feed appends tokens (running
// them through the model once), Generate samples new ones, Rewind forgets
// the tail so that a re-rendered prompt can reuse the common prefix. A
// Session is not safe for concurrent use; several Sessions of one Model are.
type Session struct {
	m      *Model
	c      *cache
	ids    []int
	logits []float32 // next-token logits after the last fed token; nil before any
}

// NewSession returns an empty Session on m.
func (m *Model) NewSession() *Session {
	return &Session{m: m, c: m.newCache()}
}

// Len is the number of tokens in the session.
func (s *Session) Len() int { return len(s.ids) }

// Tokens returns a copy of the session's tokens.
func (s *Session) Tokens() []int { return slices.Clone(s.ids) }

// Logits returns the logits for the token after the last one fed (nil
// before the first Feed). The slice is the session's own: read it before
// the next Feed, Generate or Rewind.
func (s *Session) Logits() []float32 { return s.logits }

// Feed runs ids through the model after the session's tokens, keeping
// their keys and values, and leaves the next token's logits in Logits.
func (s *Session) Feed(ids []int) error {
	if len(ids) == 0 {
		return nil
	}
	if err := s.m.check(ids); err != nil {
		return err
	}
	hidden := s.m.forward([]seg{{ids: ids, c: s.c}}, nil)
	if s.logits == nil {
		s.logits = make([]float32, s.m.cfg.vocab)
	}
	last := len(ids) - 1
	s.m.logitsOf(s.logits, hidden, last, last+1)
	putHidden(hidden)
	s.ids = append(s.ids, ids...)
	return nil
}

// CommonPrefix is the length of the longest common prefix of the
// session's tokens and ids: how much of a re-rendered prompt the session
// already holds.
func (s *Session) CommonPrefix(ids []int) int {
	n := 0
	for n < len(ids) && n < len(s.ids) && ids[n] == s.ids[n] {
		n++
	}
	return n
}

// Rewind keeps the first n tokens and forgets the rest, with their keys and
// values. Logits is then nil until the next Feed: at least one token must
// be fed again before Generate.
func (s *Session) Rewind(n int) {
	n = max(n, 0)
	if n >= len(s.ids) {
		return
	}
	kvDim := s.m.cfg.kvHeads * s.m.cfg.headDim
	for l := range s.c.k {
		s.c.k[l] = s.c.k[l][:n*kvDim]
		s.c.v[l] = s.c.v[l][:n*kvDim]
	}
	s.c.pos = n
	s.ids = s.ids[:n]
	s.logits = nil
}

// GenerateOptions says how Session.Generate picks tokens. The zero value
// is greedy decoding without a limit other than the model's context.
type GenerateOptions struct {
	// MaxNewTokens bounds the number of generated tokens; 0 means until a
	// stop token or MaxLen.
	MaxNewTokens int
	// MaxLen bounds the session's total length; 0 means no bound.
	MaxLen int
	// Stop holds token ids that end generation. The stop token is returned
	// (and passed to yield) as the last token but not fed to the model.
	Stop []int
	// Sampler picks each token from the logits; nil is greedy (Argmax).
	Sampler *Sampler
}

// Generate appends up to opt.MaxNewTokens tokens to the session and
// returns them. Each token is passed to yield (if not nil) as soon as it
// is chosen; yield returning false ends generation after that token.
// ctx is checked before every token: a cancelled generation returns the
// tokens so far with ctx's error. Every returned token except a final stop
// token has been fed, so the session holds the prompt and the answer.
func (s *Session) Generate(ctx context.Context, opt GenerateOptions, yield func(tok int) bool) ([]int, error) {
	return s.generate(ctx, opt, yield, true)
}

// generate is Generate; without feedLast, a last token that
// opt.MaxNewTokens allows no successor to is returned unfed (for callers
// that drop the session: Model.Generate).
func (s *Session) generate(ctx context.Context, opt GenerateOptions, yield func(tok int) bool, feedLast bool) ([]int, error) {
	if s.logits == nil {
		return nil, fmt.Errorf("%w: generate needs at least one token fed first", ErrToken)
	}
	var out []int
	for opt.MaxNewTokens <= 0 || len(out) < opt.MaxNewTokens {
		if opt.MaxLen > 0 && len(s.ids) >= opt.MaxLen {
			break
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		tok := opt.Sampler.Sample(s.logits)
		out = append(out, tok)
		more := yield == nil || yield(tok)
		if slices.Contains(opt.Stop, tok) {
			break
		}
		if !feedLast && len(out) == opt.MaxNewTokens {
			break
		}
		if err := s.Feed([]int{tok}); err != nil {
			return out, err
		}
		if !more {
			break
		}
	}
	return out, nil
}

// A Sampler picks the next token from logits: greedy when Temperature is 0,
// otherwise from softmax(logits/Temperature) restricted to the TopK most
// likely tokens (0: all) and then to the smallest set whose probability
// reaches TopP (0 or 1: all), in the order transformers applies them. A
// nil *Sampler is greedy. Sampling is deterministic for a seed.
type Sampler struct {
	Temperature float64
	TopK        int
	TopP        float64
	rng         *rand.Rand
	idx         []int
	p           []float64
}

// NewSampler returns a sampler seeded with seed.
func NewSampler(temperature, topP float64, topK int, seed uint64) *Sampler {
	return &Sampler{Temperature: temperature, TopP: topP, TopK: topK,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Argmax returns the index of the largest logit, the lowest on ties (the
// greedy choice of Model.Generate).
func Argmax(logits []float32) int {
	best := 0
	for i, v := range logits {
		if v > logits[best] {
			best = i
		}
	}
	return best
}

// Sample picks a token from logits.
func (s *Sampler) Sample(logits []float32) int {
	if s == nil || s.Temperature <= 0 {
		return Argmax(logits)
	}
	if s.rng == nil {
		s.rng = rand.New(rand.NewPCG(0, 0x9e3779b97f4a7c15))
	}
	// Candidates sorted by logit, descending (lowest id first on ties).
	s.idx = s.idx[:0]
	for i, v := range logits {
		if !math.IsNaN(float64(v)) && !math.IsInf(float64(v), -1) {
			s.idx = append(s.idx, i)
		}
	}
	if len(s.idx) == 0 {
		return Argmax(logits)
	}
	slices.SortStableFunc(s.idx, func(a, b int) int {
		switch {
		case logits[a] > logits[b]:
			return -1
		case logits[a] < logits[b]:
			return 1
		}
		return 0
	})
	if s.TopK > 0 && s.TopK < len(s.idx) {
		s.idx = s.idx[:s.TopK]
	}
	s.p = s.p[:0]
	top := float64(logits[s.idx[0]])
	sum := 0.0
	for _, i := range s.idx {
		e := math.Exp((float64(logits[i]) - top) / s.Temperature)
		s.p = append(s.p, e)
		sum += e
	}
	n := len(s.p)
	if s.TopP > 0 && s.TopP < 1 {
		cum := 0.0
		for j, e := range s.p {
			cum += e / sum
			if cum >= s.TopP {
				n = j + 1
				break
			}
		}
		sum = 0
		for _, e := range s.p[:n] {
			sum += e
		}
	}
	r := s.rng.Float64() * sum
	for j, e := range s.p[:n] {
		r -= e
		if r < 0 {
			return s.idx[j]
		}
	}
	return s.idx[n-1]
}
