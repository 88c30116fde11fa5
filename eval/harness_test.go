package eval

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// testdata/harness/golden.json is the output of lm-evaluation-harness's own
// functions, run by testdata/harness/make_golden.py on random and edge
// cases: rolling windows, the tokenisation of (context, continuation)
// pairs, and word counts.
type harnessGolden struct {
	Commit  string `json:"harness_commit"`
	Windows []struct {
		Tokens     []int      `json:"tokens"`
		MaxLen     int        `json:"max_len"`
		ContextLen int        `json:"context_len"`
		Windows    [][2][]int `json:"windows"`
		Disjoint   [][2][]int `json:"disjoint"`
	} `json:"windows"`
	Pairs []struct {
		Context         string `json:"context"`
		Continuation    string `json:"continuation"`
		AddBOS          bool   `json:"add_bos"`
		Prefix          int    `json:"prefix"`
		ContextEnc      []int  `json:"context_enc"`
		ContinuationEnc []int  `json:"continuation_enc"`
	} `json:"pairs"`
	CountWords []struct {
		Text  string `json:"text"`
		Words int    `json:"words"`
	} `json:"count_words"`
}

func loadHarnessGolden(t *testing.T) *harnessGolden {
	b, err := os.ReadFile("testdata/harness/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g harnessGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return &g
}

func nonNil(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

func TestHarnessGoldenWindows(t *testing.T) {
	g := loadHarnessGolden(t)
	for i, c := range g.Windows {
		got := RollingTokenWindows(c.Tokens, -7, c.MaxLen, c.ContextLen)
		if len(got) != len(c.Windows) {
			t.Fatalf("case %d: %d windows, harness %d", i, len(got), len(c.Windows))
		}
		for j, w := range got {
			want := c.Windows[j]
			if !reflect.DeepEqual(nonNil(w.Input), nonNil(want[0])) || !reflect.DeepEqual(nonNil(w.Pred), nonNil(want[1])) {
				t.Fatalf("case %d window %d: %v, harness %v", i, j, w, want)
			}
			d := DisjointWindow(w)
			if !reflect.DeepEqual(nonNil(d.Context), nonNil(c.Disjoint[j][0])) || !reflect.DeepEqual(nonNil(d.Continuation), nonNil(c.Disjoint[j][1])) {
				t.Fatalf("case %d disjoint %d: %v, harness %v", i, j, d, c.Disjoint[j])
			}
		}
	}
}

func TestHarnessGoldenPairs(t *testing.T) {
	g := loadHarnessGolden(t)
	for _, c := range g.Pairs {
		enc, _ := newEncoder(byteTokenizer{}, c.AddBOS)
		got, err := enc.encodePair(c.Context, c.Continuation, c.Prefix)
		if err != nil {
			t.Errorf("%q + %q (bos %v, prefix %d): %v", c.Context, c.Continuation, c.AddBOS, c.Prefix, err)
			continue
		}
		if !reflect.DeepEqual(nonNil(got.Context), nonNil(c.ContextEnc)) || !reflect.DeepEqual(got.Continuation, c.ContinuationEnc) {
			t.Errorf("%q + %q (bos %v, prefix %d): %v, harness %v %v", c.Context, c.Continuation, c.AddBOS, c.Prefix, got, c.ContextEnc, c.ContinuationEnc)
		}
	}
}

func TestHarnessGoldenCountWords(t *testing.T) {
	for _, c := range loadHarnessGolden(t).CountWords {
		if got := countWords(c.Text); got != c.Words {
			t.Errorf("countWords(%q) = %d, harness %d", c.Text, got, c.Words)
		}
	}
}
