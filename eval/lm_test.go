package eval

import (
	"context"
	"errors"
	"math"
	"reflect"
	"sync"
	"testing"
)

// tableLogits is a bigram model over 3 tokens whose logits are the
// log-probabilities themselves, so log-softmax gives them back:
//
//	after 0: p = .5 .25 .25    after 1: p = .2 .7 .1    after 2: p = ⅓ ⅓ ⅓
type tableLogits struct {
	mu    sync.Mutex
	calls [][]int
}

var bigramTable = [3][3]float64{{.5, .25, .25}, {.2, .7, .1}, {1.0 / 3, 1.0 / 3, 1.0 / 3}}

func (m *tableLogits) logits(ids []int) ([]float32, error) {
	m.mu.Lock()
	m.calls = append(m.calls, append([]int(nil), ids...))
	m.mu.Unlock()
	out := make([]float32, 0, 3*len(ids))
	for _, id := range ids {
		if id < 0 || id > 2 {
			return nil, errors.New("bad id")
		}
		for _, p := range bigramTable[id] {
			out = append(out, float32(math.Log(p)))
		}
	}
	return out, nil
}

func TestFromLogitsByHand(t *testing.T) {
	ln := math.Log
	tests := []struct {
		name   string
		maxLen int
		req    Request
		ll     float64
		greedy bool
		fed    []int
	}{
		{"one token", 8, Request{[]int{0}, []int{1}}, ln(.25), false, []int{0}},
		{"three tokens", 8, Request{[]int{0}, []int{1, 1, 2}}, ln(.25) + ln(.7) + ln(.1), false, []int{0, 1, 1}},
		{"greedy", 8, Request{[]int{2, 1}, []int{1, 1}}, 2 * ln(.7), true, []int{2, 1, 1}},
		// A three-way tie: the first maximum (token 0) is greedy.
		{"tie", 8, Request{[]int{2}, []int{0}}, ln(1.0 / 3), true, []int{2}},
		// Left truncation to maxLen+1 = 3 tokens: [0 2 1 1] → [2 1 1], fed [2 1].
		{"truncated", 2, Request{[]int{0, 2, 1}, []int{1}}, ln(.7), true, []int{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &tableLogits{}
			lm := FromLogits(m.logits, 3, tt.maxLen)
			res, err := lm.LogLikelihood(context.Background(), []Request{tt.req})
			if err != nil {
				t.Fatal(err)
			}
			r := res[0]
			// float32 logits: agreement to float32 rounding.
			if math.Abs(r.LogLikelihood-tt.ll) > 1e-6 || r.IsGreedy != tt.greedy || r.Tokens != len(tt.req.Continuation) {
				t.Errorf("got %+v, want ll %v greedy %v", r, tt.ll, tt.greedy)
			}
			if !reflect.DeepEqual(m.calls, [][]int{tt.fed}) {
				t.Errorf("model fed %v, want %v", m.calls, tt.fed)
			}
		})
	}
}

func TestFuncLMParallelOrder(t *testing.T) {
	m := &tableLogits{}
	lm := FromLogits(m.logits, 3, 16)
	lm.Parallel = 4
	var reqs []Request
	for i := 0; i < 40; i++ {
		reqs = append(reqs, Request{[]int{i % 3}, []int{(i + 1) % 3}})
	}
	res, err := lm.LogLikelihood(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		want := math.Log(bigramTable[i%3][(i+1)%3])
		if math.Abs(r.LogLikelihood-want) > 1e-6 {
			t.Fatalf("request %d: %v, want %v", i, r.LogLikelihood, want)
		}
	}
}

func TestFuncLMErrors(t *testing.T) {
	m := &tableLogits{}
	lm := FromLogits(m.logits, 3, 2)
	for _, r := range []Request{
		{nil, []int{1}},
		{[]int{0}, nil},
		{[]int{0}, []int{1, 1, 1}}, // longer than maxLen
		{[]int{0}, []int{7}},       // outside the vocab
	} {
		if _, err := lm.LogLikelihood(context.Background(), []Request{r}); err == nil {
			t.Errorf("%v: no error", r)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lm.LogLikelihood(ctx, []Request{{[]int{0}, []int{1}}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// One-token continuations of one context feed the model the same ids, and
// so does context [0] with continuation [1 2]: one forward pass serves all
// four, with the same results as separately.
func TestFromLogitsSharesForwardPass(t *testing.T) {
	m := &tableLogits{}
	lm := FromLogits(m.logits, 3, 8)
	reqs := []Request{{[]int{0, 1}, []int{0}}, {[]int{0, 1}, []int{1}}, {[]int{0, 1}, []int{2}}, {[]int{0}, []int{1, 2}}}
	res, err := lm.LogLikelihood(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.calls) != 1 {
		t.Errorf("%d forward passes for %v, want 1", len(m.calls), reqs)
	}
	for i, r := range reqs {
		alone, _ := FromLogits(m.logits, 3, 8).LogLikelihood(context.Background(), []Request{r})
		if res[i] != alone[0] {
			t.Errorf("request %d: %+v shared, %+v alone", i, res[i], alone[0])
		}
	}
	if !res[1].IsGreedy || res[0].IsGreedy || math.Abs(res[2].LogLikelihood-math.Log(.1)) > 1e-6 ||
		math.Abs(res[3].LogLikelihood-math.Log(.25*.1)) > 1e-6 {
		t.Errorf("results %+v", res)
	}
}

// The batched forms give the same results, in calls of at most
// BatchTokens ids; FromLogProbs takes both log-prob conventions.
func TestBatchedForms(t *testing.T) {
	m := &tableLogits{}
	var reqs []Request
	for i := 0; i < 12; i++ {
		reqs = append(reqs, Request{[]int{i % 3, (i + 1) % 3}, []int{(i * 2) % 3, i % 2}})
	}
	want, err := FromLogits(m.logits, 3, 8).LogLikelihood(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	var calls [][][]int
	batch := func(seqs [][]int) ([][]float32, error) {
		calls = append(calls, seqs)
		out := make([][]float32, len(seqs))
		for i, s := range seqs {
			out[i], _ = m.logits(s)
		}
		return out, nil
	}
	lm := FromLogitsBatch(batch, 3, 8)
	lm.BatchTokens = 7
	got, err := lm.LogLikelihood(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("batched %+v\nsingle %+v", got, want)
	}
	for _, c := range calls {
		n := 0
		for _, s := range c {
			n += len(s)
		}
		if n > 7 || len(c) == 0 {
			t.Errorf("call of %d ids: %v", n, c)
		}
	}
	if len(calls) < 2 {
		t.Errorf("%d calls", len(calls))
	}
	// Log-probs from the same table, as len(ids)−1 values (index i−1) and
	// as len(ids) values (index 0 ignored).
	short := func(ids []int) ([]float64, error) {
		out := make([]float64, len(ids)-1)
		for i := 1; i < len(ids); i++ {
			out[i-1] = math.Log(bigramTable[ids[i-1]][ids[i]])
		}
		return out, nil
	}
	long := func(ids []int) ([]float64, error) {
		s, _ := short(ids)
		return append([]float64{99}, s...), nil
	}
	for name, fn := range map[string]func([]int) ([]float64, error){"short": short, "long": long} {
		res, err := FromLogProbsBatch(each(fn), 8).LogLikelihood(context.Background(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range res {
			if math.Abs(res[i].LogLikelihood-want[i].LogLikelihood) > 1e-6 || res[i].IsGreedy {
				t.Errorf("%s %d: %+v, want ll %v", name, i, res[i], want[i].LogLikelihood)
			}
		}
	}
}

// A tail scorer gets context+continuation and the continuation's length,
// also when one feed is split in two places, and gives the results
// FromLogits computes from the same table, in calls of at most
// BatchTokens ids.
func TestFromTailScores(t *testing.T) {
	m := &tableLogits{}
	reqs := []Request{{[]int{0, 1}, []int{2}}, {[]int{0}, []int{1, 2}}, {[]int{0, 1}, []int{1}}, {[]int{2, 2, 2, 2, 2, 2, 2, 2, 0}, []int{1, 1}}}
	for i := 0; i < 12; i++ {
		reqs = append(reqs, Request{[]int{i % 3, (i + 1) % 3}, []int{(i * 2) % 3, i % 2}})
	}
	want, err := FromLogits(m.logits, 3, 8).LogLikelihood(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	var calls [][]int
	tails := func(seqs [][]int, tails []int) ([][]float64, [][]bool, error) {
		n := 0
		lps, greedy := make([][]float64, len(seqs)), make([][]bool, len(seqs))
		for s, ids := range seqs {
			n += len(ids)
			for k := len(ids) - tails[s]; k < len(ids); k++ {
				row := bigramTable[ids[k-1]]
				best := 0
				for j, p := range row {
					if p > row[best] {
						best = j
					}
				}
				lps[s] = append(lps[s], math.Log(row[ids[k]]))
				greedy[s] = append(greedy[s], best == ids[k])
			}
		}
		calls = append(calls, []int{len(seqs), n})
		return lps, greedy, nil
	}
	lm := FromTailScores(tails, 8)
	lm.BatchTokens = 10
	got, err := lm.LogLikelihood(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range reqs {
		if math.Abs(got[i].LogLikelihood-want[i].LogLikelihood) > 1e-6 || got[i].IsGreedy != want[i].IsGreedy || got[i].Tokens != want[i].Tokens {
			t.Errorf("request %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, c := range calls {
		if c[1] > 10 && c[0] > 1 {
			t.Errorf("call of %d sequences, %d ids", c[0], c[1])
		}
	}
	bad := func([][]int, []int) ([][]float64, [][]bool, error) { return [][]float64{{0}}, nil, nil }
	if _, err := FromTailScores(bad, 8).LogLikelihood(context.Background(), reqs[:1]); err == nil {
		t.Error("a scorer without greedy flags: no error")
	}
}
