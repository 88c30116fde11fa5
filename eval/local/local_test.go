package local

import (
	"context"
	"math"
	"testing"

	"github.com/gomerge/gomerge/eval"
	"github.com/gomerge/gomerge/eval/model"
)

// The LM of Open scores requests (continuations sharing a context, one
// feed split in two places, a context longer than the model's length) as
// the full logits of the same model do.
func TestOpenScoresAsLogits(t *testing.T) {
	const dir = "../../testdata/ref/eval/models/llama"
	m, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fm, err := model.Open(dir, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref := eval.FromLogitsBatch(fm.LogitsBatch, fm.VocabSize(), fm.MaxPositions())
	V := fm.VocabSize()
	long := make([]int, m.LM.MaxLength()+5)
	for i := range long {
		long[i] = (i*31 + 7) % V
	}
	reqs := []eval.Request{
		{Context: []int{1, 5, 9, 13}, Continuation: []int{17, 21}},
		{Context: []int{1, 5, 9, 13}, Continuation: []int{3}},
		{Context: []int{1, 5, 9}, Continuation: []int{13, 17, 21}},
		{Context: []int{1}, Continuation: []int{5, 9, 13, 17}},
		{Context: long, Continuation: []int{2, 4}},
	}
	want, err := ref.LogLikelihood(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.LM.LogLikelihood(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range reqs {
		if math.Abs(got[i].LogLikelihood-want[i].LogLikelihood) > 1e-5*max(1, math.Abs(want[i].LogLikelihood)) ||
			got[i].Tokens != want[i].Tokens || got[i].IsGreedy != want[i].IsGreedy {
			t.Errorf("request %d: %+v, full logits give %+v", i, got[i], want[i])
		}
	}
}
