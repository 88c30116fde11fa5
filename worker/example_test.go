package worker_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gomerge/gomerge/worker"
)

// A coordinator with two in-process evaluators that also lets `gomerge
// worker --nats URL` processes on other machines join.
func ExampleNewJetStream() {
	ctx := context.Background()
	pool, err := worker.NewJetStream(ctx, worker.JetStreamOptions{
		StoreDir:     "run/jetstream",
		Listen:       "127.0.0.1:4222",
		LocalWorkers: 2,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	job := worker.Job{
		ID:     "gen0-cand0",
		Config: []byte("merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 0.3}\n  - model: b\n    parameters: {weight: 0.7}\n"),
		Tasks:  []worker.Task{{Name: "de_xquad_mc", Metric: "acc,none", Weight: 1}},
		Limit:  100,
	}
	if err := pool.Submit(ctx, job); err != nil {
		log.Fatal(err)
	}
	r := <-pool.Results()
	fmt.Println(r.ID, r.Score, r.Err)
}
