package model

import (
	"errors"
	"math"
	"path/filepath"
	"testing"
)

// TestTailLogProbs checks, for every family, that TailLogProbs gives
// LogProbs' values for the tail of each sequence and marks exactly the
// tokens that are their row's argmax in Logits, for sequences that share
// heads (two continuations of one context, a duplicate), one-token tails
// and a tail that starts right after the first token.
func TestTailLogProbs(t *testing.T) {
	for _, name := range families7 {
		t.Run(name, func(t *testing.T) {
			ref := refTensors(t, filepath.Join(refDir, name+".safetensors"))
			ids := toInts(ref["input_ids"])
			m, err := Open(filepath.Join(refDir, "models", name), Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx := ids[:12]
			seqs := [][]int{
				append(append([]int(nil), ctx...), ids[12:20]...),
				append(append([]int(nil), ctx...), ids[25:28]...),
				append(append([]int(nil), ctx...), ids[12:20]...),
				ids[:13],
				ids[3:30],
			}
			tails := []int{8, 3, 8, 1, 26}
			lp, greedy, err := m.TailLogProbs(seqs, tails)
			if err != nil {
				t.Fatal(err)
			}
			V := m.VocabSize()
			for s, seq := range seqs {
				all, err := m.LogProbs(seq)
				if err != nil {
					t.Fatal(err)
				}
				logits, err := m.Logits(seq[:len(seq)-1])
				if err != nil {
					t.Fatal(err)
				}
				if len(lp[s]) != tails[s] || len(greedy[s]) != tails[s] {
					t.Fatalf("sequence %d: %d log-probs, %d greedy flags for a tail of %d", s, len(lp[s]), len(greedy[s]), tails[s])
				}
				for j := range tails[s] {
					k := len(seq) - tails[s] + j
					if want := all[k-1]; math.Abs(lp[s][j]-want) > 1e-5*max(1, math.Abs(want)) {
						t.Errorf("sequence %d token %d: log-prob %v, LogProbs %v", s, k, lp[s][j], want)
					}
					row := logits[(k-1)*V : k*V]
					best := 0
					for i, v := range row {
						if v > row[best] {
							best = i
						}
					}
					// A near-tie may fall either way between two forward passes.
					if (best == seq[k]) != greedy[s][j] && row[best]-row[seq[k]] > 1e-5*max(1, abs32(row[best])) {
						t.Errorf("sequence %d token %d: greedy %v, argmax %d", s, k, greedy[s][j], best)
					}
				}
			}
		})
	}
}

func TestTailLogProbsErrors(t *testing.T) {
	m, err := Open(filepath.Join(refDir, "models", "llama"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		seqs  [][]int
		tails []int
	}{
		{[][]int{{1, 2, 3}}, []int{3}},
		{[][]int{{1, 2, 3}}, []int{0}},
		{[][]int{{1, 2, 3}}, nil},
		{[][]int{{1, -2, 3}}, []int{1}},
		{[][]int{{}}, []int{1}},
	} {
		if _, _, err := m.TailLogProbs(tt.seqs, tt.tails); err == nil {
			t.Errorf("TailLogProbs(%v, %v): no error", tt.seqs, tt.tails)
		} else if tt.tails != nil && !errors.Is(err, ErrToken) {
			t.Errorf("TailLogProbs(%v, %v): %v, want ErrToken", tt.seqs, tt.tails, err)
		}
	}
}

// BenchmarkTailLogProbs scores four five-token continuations of one
// 200-token context with stories260K, as a multiple-choice question does.
func BenchmarkTailLogProbs(b *testing.B) {
	m := storiesModel(b)
	ctx := make([]int, 200)
	for i := range ctx {
		ctx[i] = (i*7 + 3) % m.VocabSize()
	}
	var seqs [][]int
	var tails []int
	for c := range 4 {
		seqs = append(seqs, append(append([]int(nil), ctx...), 10+c, 20+c, 30+c, 40+c, 50+c))
		tails = append(tails, 5)
	}
	for b.Loop() {
		if _, _, err := m.TailLogProbs(seqs, tails); err != nil {
			b.Fatal(err)
		}
	}
}
