package automerge

import (
	"math/rand/v2"
	"testing"

	"github.com/gomerge/gomerge/automerge/poolfile"
)

func TestPickParents(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cands := []candidate{{ref: "best", score: 10, scored: true}, {ref: "mid", score: 5, scored: true},
		{ref: "new"}, {ref: "worst", score: -100, scored: true}}
	for _, sel := range []string{poolfile.SelectUniform, poolfile.SelectTop} {
		count := map[string]int{}
		for range 4000 {
			a, b := pickParents(rng, cands, sel)
			if a == b {
				t.Fatalf("%s: the same parent twice", sel)
			}
			count[a]++
			count[b]++
		}
		t.Logf("%s: %v", sel, count)
		if sel == poolfile.SelectTop && !(count["best"] > count["mid"] && count["mid"] > count["worst"]) {
			t.Errorf("top selection not biased to the top: %v", count)
		}
		if sel == poolfile.SelectUniform && (count["best"] < 1700 || count["worst"] < 1700) {
			t.Errorf("uniform selection skewed: %v", count)
		}
	}
}

func TestChildName(t *testing.T) {
	taken := map[string]bool{}
	has := func(n string) bool { return taken[n] }
	for _, tc := range []struct{ a, b, want string }{
		{"mlabonne/Meliodas-7B", "automerger/Percival_01-7B", "MeliodasPercival-7B"},
		{"mlabonne/Meliodas-7B", "automerger/Percival_01-7B", "MeliodasPercival-7B_02"},
		{"/models/NeuralPipe-7B-slerp", "/models/Marcoro14-7B", "NeuralMarcoro-7B"},
		{"/x/stories", "/x/ftB", "StoriesB"},
		{"a/Mistral-7B-v0.1+lora/adapter", "b/Llama-3-8B", "MistralLlama"},
		{"/x/123", "/x/456", "Merge"},
	} {
		got := ChildName(tc.a, tc.b, has)
		taken[got] = true
		if got != tc.want {
			t.Errorf("ChildName(%s, %s) = %s, want %s", tc.a, tc.b, got, tc.want)
		}
	}
}
