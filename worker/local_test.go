package worker

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// collect reads n results, failing on a duplicate ID.
func collect(t *testing.T, p Pool, n int) map[string]Result {
	t.Helper()
	got := map[string]Result{}
	for len(got) < n {
		r, ok := <-p.Results()
		if !ok {
			t.Fatalf("results closed after %d of %d", len(got), n)
		}
		if _, dup := got[r.ID]; dup {
			t.Fatalf("job %s: two results", r.ID)
		}
		got[r.ID] = r
	}
	return got
}

// TestLocalPool scores real candidates on two evaluators, with a job
// submitted twice: every job has one result, equal to Evaluate's.
func TestLocalPool(t *testing.T) {
	dir := storiesDir(t)
	p := NewLocal(2, Options{})
	defer p.Close()
	weights := []string{"0.5", "0.7", "0.9", "1.1"}
	ctx := context.Background()
	var jobs []Job
	for i, w := range weights {
		j := Job{ID: fmt.Sprint("c", i), Config: linearSelf(dir, w, "0.3"), Tasks: storiesTasks,
			TaskSearchPath: []string{"testdata"}, Limit: 2}
		jobs = append(jobs, j)
		if err := p.Submit(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Submit(ctx, jobs[0]); err != nil {
		t.Fatal(err)
	}
	got := collect(t, p, len(jobs))
	for _, j := range jobs {
		want := Evaluate(ctx, j, Options{})
		r := got[j.ID]
		if r.Err != "" || r.Score != want.Score {
			t.Errorf("job %s: pool %v (err %q), Evaluate %v", j.ID, r.Score, r.Err, want.Score)
		}
		if !slices.Contains([]string{"local-0", "local-1"}, r.Worker) {
			t.Errorf("job %s: worker %q", j.ID, r.Worker)
		}
	}
	select {
	case r := <-p.Results():
		t.Errorf("extra result %+v", r)
	default:
	}
}

// TestLocalPoolClose: Close cancels the jobs in flight, returns, and
// closes Results; a later Submit fails.
func TestLocalPoolClose(t *testing.T) {
	started := make(chan string, 3)
	block := func(ctx context.Context, j Job, _ Options) Result {
		started <- j.ID
		<-ctx.Done()
		return Result{ID: j.ID, Err: ctx.Err().Error()}
	}
	p := newLocal(2, Options{}, block)
	for i := range 3 {
		p.Submit(context.Background(), Job{ID: fmt.Sprint(i)})
	}
	<-started
	<-started
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for r := range p.Results() {
		t.Errorf("result after Close: %+v", r)
	}
	if err := p.Submit(context.Background(), Job{ID: "late"}); err == nil {
		t.Error("Submit after Close succeeded")
	}
}

// BenchmarkLocalStories measures candidates per minute: linear merges of
// stories260K with itself, merged in memory and scored on both test tasks.
func BenchmarkLocalStories(b *testing.B) {
	dir := storiesDir(b)
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprint("j=", n), func(b *testing.B) {
			p := NewLocal(n, Options{})
			defer p.Close()
			start := time.Now()
			for i := range b.N {
				j := Job{ID: fmt.Sprint(i), Config: linearSelf(dir, fmt.Sprint(0.5+float64(i%7)/10), "0.5"),
					Tasks: storiesTasks, TaskSearchPath: []string{"testdata"}}
				p.Submit(context.Background(), j)
			}
			for range b.N {
				if r := <-p.Results(); r.Err != "" {
					b.Fatal(r.Err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Minutes(), "candidates/min")
		})
	}
}
