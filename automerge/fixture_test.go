package automerge

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/gomerge/gomerge/internal/storiestest"
	"github.com/gomerge/gomerge/worker"
)

type fixture = storiestest.Fixture

var storiesTmp string

var storiesModels = sync.OnceValues(func() (fixture, error) {
	tmp, err := os.MkdirTemp("", "automerge-stories-")
	if err != nil {
		return fixture{}, err
	}
	storiesTmp = tmp
	return storiestest.Build("..", tmp)
})

func TestMain(m *testing.M) {
	code := m.Run()
	if storiesTmp != "" {
		os.RemoveAll(storiesTmp)
	}
	os.Exit(code)
}
func stories(t *testing.T) fixture {
	t.Helper()
	fx, err := storiesModels()
	if err != nil {
		t.Fatalf("stories260K fixture: %v", err)
	}
	return fx
}

// heldOut is the word perplexity of a model directory on held-out stories.
func heldOut(t *testing.T, dir string) float64 {
	t.Helper()
	job := worker.Job{ID: "heldout", Model: dir,
		Tasks:          []worker.Task{{Name: "stories_heldout", Metric: "word_perplexity,none", Weight: 1}},
		TaskSearchPath: []string{"testdata"}}
	r := worker.Evaluate(context.Background(), job, worker.Options{})
	if r.Err != "" {
		t.Fatalf("held-out score of %s: %s", dir, r.Err)
	}
	return r.Score
}
