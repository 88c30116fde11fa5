package model

import (
	"slices"
	"testing"
)

// TestExtendRows checks that growing a cache layer keeps its rows, from a
// nil slice, within spare capacity, past it (a copy) and from a capped
// slice that shares its rows with another cache (fork), which must not
// be written; and that released buffers come back empty.
func TestExtendRows(t *testing.T) {
	shared := []float32{1, 2, 3, 4, 99}
	for _, tc := range []struct {
		name string
		s    []float32
		n    int
	}{
		{"nil", nil, 3},
		{"spare", append(make([]float32, 0, 8), 1, 2, 3), 4},
		{"full", []float32{1, 2, 3}, 2},
		{"fork", shared[:4:4], 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := slices.Clone(tc.s)
			all, tail := extendRows(tc.s, tc.n)
			if len(all) != len(old)+tc.n || len(tail) != tc.n {
				t.Fatalf("lengths %d, %d, want %d, %d", len(all), len(tail), len(old)+tc.n, tc.n)
			}
			if !slices.Equal(all[:len(old)], old) {
				t.Fatalf("rows %v, want %v", all[:len(old)], old)
			}
			for i := range tail {
				tail[i] = -1
			}
			if shared[4] != 99 {
				t.Fatal("extending a fork wrote into the cache it shares")
			}
		})
	}
	c := &cache{k: make([][]float32, 2), v: make([][]float32, 2)}
	k, v := c.extend(1, 3, 4)
	copy(k, []float32{1, 2, 3})
	copy(v, []float32{4, 5, 6})
	c.release()
	if c.k[1] != nil || c.v[1] != nil {
		t.Fatal("release left buffers in the cache")
	}
	if b := getKV(1); len(b) != 0 {
		t.Fatalf("getKV returned %d floats, want an empty slice", len(b))
	}
}

// TestGenerateReusesCaches checks that Model.Generate gives the same
// tokens when its cache buffers come from earlier calls (kvPool) of other
// lengths, and the same as a Session, which also feeds the last token.
func TestGenerateReusesCaches(t *testing.T) {
	m := storiesModel(t)
	ids := []int{1, 403, 407, 261, 378}
	first, err := m.Generate(ids, 6)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 30, 6} {
		if _, err := m.LogitsBatch([][]int{ids[:2], append(slices.Clone(ids), first...)}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Generate(ids[:3], n); err != nil {
			t.Fatal(err)
		}
		got, err := m.Generate(ids, 6)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, first) {
			t.Fatalf("after Generate(.., %d): %v, first call %v", n, got, first)
		}
	}
	s := m.NewSession()
	if err := s.Feed(ids); err != nil {
		t.Fatal(err)
	}
	want, err := s.Generate(t.Context(), GenerateOptions{MaxNewTokens: 6}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(first, want) || s.Len() != len(ids)+6 {
		t.Fatalf("Model.Generate %v, Session %v (%d tokens)", first, want, s.Len())
	}
}
