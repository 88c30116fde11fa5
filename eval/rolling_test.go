package eval

import (
	"reflect"
	"testing"
)

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// The cases are lm-evaluation-harness's tests/test_utils.py
// (test_get_rolling_token_windows_v1…v6, _empty, test_make_disjoint_window).
func TestRollingTokenWindowsHarness(t *testing.T) {
	w := func(in, pred []int) Window { return Window{in, pred} }
	tests := []struct {
		name              string
		n, maxLen, ctxLen int
		want              []Window
	}{
		{"v1", 34, 10, 1, []Window{
			w([]int{-100, 0, 1, 2, 3, 4, 5, 6, 7, 8}, seq(10)),
			w([]int{9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}),
			w([]int{19, 20, 21, 22, 23, 24, 25, 26, 27, 28}, []int{20, 21, 22, 23, 24, 25, 26, 27, 28, 29}),
			w([]int{23, 24, 25, 26, 27, 28, 29, 30, 31, 32}, []int{30, 31, 32, 33}),
		}},
		{"v2", 34, 10, 8, []Window{
			w([]int{-100, 0, 1, 2, 3, 4, 5, 6, 7, 8}, seq(10)),
			w([]int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, []int{10, 11, 12}),
			w([]int{5, 6, 7, 8, 9, 10, 11, 12, 13, 14}, []int{13, 14, 15}),
			w([]int{8, 9, 10, 11, 12, 13, 14, 15, 16, 17}, []int{16, 17, 18}),
			w([]int{11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, []int{19, 20, 21}),
			w([]int{14, 15, 16, 17, 18, 19, 20, 21, 22, 23}, []int{22, 23, 24}),
			w([]int{17, 18, 19, 20, 21, 22, 23, 24, 25, 26}, []int{25, 26, 27}),
			w([]int{20, 21, 22, 23, 24, 25, 26, 27, 28, 29}, []int{28, 29, 30}),
			w([]int{23, 24, 25, 26, 27, 28, 29, 30, 31, 32}, []int{31, 32, 33}),
		}},
		{"v5", 30, 10, 1, []Window{
			w([]int{-100, 0, 1, 2, 3, 4, 5, 6, 7, 8}, seq(10)),
			w([]int{9, 10, 11, 12, 13, 14, 15, 16, 17, 18}, []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}),
			w([]int{19, 20, 21, 22, 23, 24, 25, 26, 27, 28}, []int{20, 21, 22, 23, 24, 25, 26, 27, 28, 29}),
		}},
		{"v6", 9, 2, 1, []Window{
			w([]int{-100, 0}, []int{0, 1}),
			w([]int{1, 2}, []int{2, 3}),
			w([]int{3, 4}, []int{4, 5}),
			w([]int{5, 6}, []int{6, 7}),
			w([]int{6, 7}, []int{8}),
		}},
		{"empty", 0, 2, 1, nil},
	}
	// v3 and v4: context_len = max_seq_len, one prediction per later window.
	for _, n := range []int{34, 30} {
		want := []Window{w([]int{-100, 0, 1, 2, 3, 4, 5, 6, 7, 8}, seq(10))}
		for k := 10; k < n; k++ {
			want = append(want, w(seq(k)[k-10:], []int{k}))
		}
		name := map[int]string{34: "v3", 30: "v4"}[n]
		tests = append(tests, struct {
			name              string
			n, maxLen, ctxLen int
			want              []Window
		}{name, n, 10, 10, want})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RollingTokenWindows(seq(tt.n), -100, tt.maxLen, tt.ctxLen)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v\nwant %v", got, tt.want)
			}
			total := 0
			for _, w := range got {
				total += len(w.Pred)
			}
			if total != tt.n {
				t.Errorf("predicted %d tokens, want %d", total, tt.n)
			}
		})
	}
}

func TestDisjointWindowHarness(t *testing.T) {
	tests := []struct {
		in, pred, wantCtx []int
	}{
		{[]int{1, 2, 3, 4, 5}, []int{2, 3, 4, 5, 6}, []int{1}},
		{[]int{1, 2, 3, 4, 5}, []int{4, 5, 6}, []int{1, 2, 3}},
		{[]int{1, 2, 3, 4, 5}, []int{6}, []int{1, 2, 3, 4, 5}},
	}
	for _, tt := range tests {
		got := DisjointWindow(Window{tt.in, tt.pred})
		if !reflect.DeepEqual(got, Request{tt.wantCtx, tt.pred}) {
			t.Errorf("DisjointWindow(%v, %v) = %v, want context %v", tt.in, tt.pred, got, tt.wantCtx)
		}
	}
}

// With one-token context each disjoint window after the first is
// conditioned on exactly the token before it (the spec's "1-token context
// per window"), and the final partial window keeps max_len−n+1 tokens.
func TestRollingRequestsContext(t *testing.T) {
	reqs := RollingRequests(seq(25), 99, 10)
	want := []Request{
		{[]int{99}, seq(10)},
		{[]int{9}, seq(20)[10:]},
		{seq(20)[14:], seq(25)[20:]},
	}
	if !reflect.DeepEqual(reqs, want) {
		t.Fatalf("got %v, want %v", reqs, want)
	}
}
