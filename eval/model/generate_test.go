package model

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
)

// TestSessionRewind checks that a session rewound to a prefix and fed a
// different tail has the logits of a fresh session fed the whole sequence.
func TestSessionRewind(t *testing.T) {
	m := storiesModel(t)
	a := []int{1, 403, 407, 261, 300, 10}
	b := []int{1, 403, 407, 70, 80}
	s := m.NewSession()
	if err := s.Feed(a[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.Feed(a[2:]); err != nil {
		t.Fatal(err)
	}
	if got := s.CommonPrefix(b); got != 3 {
		t.Fatalf("CommonPrefix = %d, want 3", got)
	}
	s.Rewind(s.CommonPrefix(b))
	if s.Logits() != nil || s.Len() != 3 {
		t.Fatalf("after Rewind(3): len %d, logits %v", s.Len(), s.Logits() != nil)
	}
	if _, err := s.Generate(context.Background(), GenerateOptions{MaxNewTokens: 1}, nil); !errors.Is(err, ErrToken) {
		t.Fatalf("Generate without logits: %v, want ErrToken", err)
	}
	if err := s.Feed(b[3:]); err != nil {
		t.Fatal(err)
	}
	fresh := m.NewSession()
	if err := fresh.Feed(b); err != nil {
		t.Fatal(err)
	}
	for i, v := range fresh.Logits() {
		if d := math.Abs(float64(v - s.Logits()[i])); d > 1e-4 {
			t.Fatalf("logit %d: rewound %g, fresh %g", i, s.Logits()[i], v)
		}
	}
	if !slices.Equal(s.Tokens(), b) {
		t.Fatalf("tokens %v, want %v", s.Tokens(), b)
	}
}

// TestSessionGenerate checks greedy generation through a session against
// Model.Generate, the stop token, yield ending early, and cancellation.
func TestSessionGenerate(t *testing.T) {
	m := storiesModel(t)
	prompt := []int{1, 403, 407, 261}
	want, err := m.Generate(prompt, 30)
	if err != nil {
		t.Fatal(err)
	}
	s := m.NewSession()
	if err := s.Feed(prompt); err != nil {
		t.Fatal(err)
	}
	var streamed []int
	got, err := s.Generate(context.Background(), GenerateOptions{MaxNewTokens: 10}, func(tok int) bool {
		streamed = append(streamed, tok)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	more, err := s.Generate(context.Background(), GenerateOptions{MaxNewTokens: 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if all := append(slices.Clone(got), more...); !slices.Equal(all, want) {
		t.Fatalf("two session generations %v, Model.Generate %v", all, want)
	}
	if !slices.Equal(streamed, got) {
		t.Errorf("yield saw %v, returned %v", streamed, got)
	}
	if s.Len() != len(prompt)+30 {
		t.Errorf("session holds %d tokens, want %d", s.Len(), len(prompt)+30)
	}

	// Stop: returned, not fed.
	s = m.NewSession()
	_ = s.Feed(prompt)
	stop, _ := s.Generate(context.Background(), GenerateOptions{MaxNewTokens: 30, Stop: []int{want[5]}}, nil)
	if i := slices.Index(want, want[5]); !slices.Equal(stop, want[:i+1]) {
		t.Errorf("stop at %d: got %v, want %v", want[5], stop, want[:i+1])
	}
	if s.Len() != len(prompt)+len(stop)-1 {
		t.Errorf("stop token fed: session len %d", s.Len())
	}

	// yield false ends after that token; MaxLen bounds the total.
	s = m.NewSession()
	_ = s.Feed(prompt)
	n := 0
	early, _ := s.Generate(context.Background(), GenerateOptions{}, func(int) bool { n++; return n < 3 })
	if len(early) != 3 {
		t.Errorf("yield false at the third token: got %d tokens", len(early))
	}
	s = m.NewSession()
	_ = s.Feed(prompt)
	capped, _ := s.Generate(context.Background(), GenerateOptions{MaxLen: 9}, nil)
	if len(capped) != 5 {
		t.Errorf("MaxLen 9 after 4 prompt tokens: %d new tokens, want 5", len(capped))
	}

	ctx, cancel := context.WithCancel(context.Background())
	s = m.NewSession()
	_ = s.Feed(prompt)
	part, err := s.Generate(ctx, GenerateOptions{MaxNewTokens: 30}, func(int) bool { cancel(); return true })
	if !errors.Is(err, context.Canceled) || len(part) != 1 {
		t.Errorf("cancelled after the first token: %d tokens, err %v", len(part), err)
	}
}

// TestSampler checks the sampler's limits and its determinism.
func TestSampler(t *testing.T) {
	logits := []float32{1, 3, 2, 3, float32(math.Inf(-1)), 0.5}
	if got := Argmax(logits); got != 1 {
		t.Fatalf("Argmax = %d, want 1 (lowest id on ties)", got)
	}
	var nilS *Sampler
	if got := nilS.Sample(logits); got != 1 {
		t.Errorf("nil sampler = %d, want greedy 1", got)
	}
	count := func(s *Sampler, n int) map[int]int {
		c := map[int]int{}
		for range n {
			c[s.Sample(logits)]++
		}
		return c
	}
	if c := count(NewSampler(1, 0, 1, 7), 200); c[1] != 200 {
		t.Errorf("top-k 1: %v, want only token 1", c)
	}
	if c := count(NewSampler(1, 0.01, 0, 7), 200); c[1] != 200 {
		t.Errorf("top-p 0.01: %v, want only token 1", c)
	}
	c := count(NewSampler(1, 0, 0, 7), 20000)
	if c[4] != 0 {
		t.Errorf("-inf logit sampled %d times", c[4])
	}
	// softmax(1,3,2,3,-,0.5): p(0) = e/(e+2e^3+e^2+e^0.5) ≈ 0.0539.
	z := math.E + 2*math.Exp(3) + math.Exp(2) + math.Exp(0.5)
	for tok, lg := range map[int]float64{0: 1, 1: 3, 2: 2, 5: 0.5} {
		p := math.Exp(lg) / z
		got := float64(c[tok]) / 20000
		if math.Abs(got-p) > 4*math.Sqrt(p*(1-p)/20000)+1e-3 {
			t.Errorf("token %d sampled with frequency %.4f, softmax %.4f", tok, got, p)
		}
	}
	// Top-p 0.8 keeps tokens 1 and 3 (≈0.79 together) and 2: never 0 or 5.
	c = count(NewSampler(1, 0.8, 0, 7), 5000)
	if c[0]+c[5] != 0 || c[2] == 0 {
		t.Errorf("top-p 0.8: %v", c)
	}
	a, b := NewSampler(0.7, 0.9, 0, 42), NewSampler(0.7, 0.9, 0, 42)
	for i := range 100 {
		if x, y := a.Sample(logits), b.Sample(logits); x != y {
			t.Fatalf("draw %d: same seed gave %d and %d", i, x, y)
		}
	}
}
