package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/worker"
)

func TestWorkerUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"--nats", "nats://127.0.0.1:1", "extra"}, {"--nats", "nats://127.0.0.1:1", "-j", "0"}} {
		var stdout, stderr bytes.Buffer
		if code := runWorker(context.Background(), args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
		if !strings.Contains(stderr.String(), "gomerge worker --nats") {
			t.Errorf("%q: no usage: %s", args, stderr.String())
		}
	}
}

// TestWorkerCommand: `gomerge worker` joins a coordinator listening on
// loopback, finds the job's model under --model-dir (the job names it by a
// path that does not exist here), scores it, and stops cleanly when its
// context ends.
func TestWorkerCommand(t *testing.T) {
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"convert-llama2c", "../../testdata/stories260K/stories260K.bin", filepath.Join(models, "stories")}, &stdout, &stderr); code != exitOK {
		t.Fatalf("convert: %s", stderr.String())
	}
	tasks := filepath.Join(dir, "tasks")
	os.MkdirAll(tasks, 0o755)
	os.WriteFile(filepath.Join(tasks, "tales.jsonl"), []byte(`{"text": "Once upon a time, there was a little girl."}`+"\n"), 0o644)

	pool, err := worker.NewJetStream(context.Background(), worker.JetStreamOptions{StoreDir: filepath.Join(dir, "store"), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	cfg := "merge_method: linear\ndtype: float32\nmodels:\n" +
		"  - model: /coordinator/models/stories\n    parameters: {weight: 0.6}\n" +
		"  - model: /coordinator/models/stories\n    parameters: {weight: 0.4}\n"
	tk := []worker.Task{{Name: "tales", Metric: "word_perplexity,none", Weight: -1}}
	for i := range 2 {
		j := worker.Job{ID: fmt.Sprint("c", i), Config: []byte(cfg), Tasks: tk, TaskSearchPath: []string{tasks}, Seed: uint64(i)}
		if err := pool.Submit(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	var wout, werr bytes.Buffer
	go func() {
		code <- runWorker(ctx, []string{"--nats", pool.URL(), "--model-dir", models, "--name", "w1"}, &wout, &werr)
	}()
	for range 2 {
		r := <-pool.Results()
		if r.Err != "" || r.Score >= -1 || r.Worker != "w1" {
			t.Errorf("result %+v", r)
		}
	}
	cancel()
	if c := <-code; c != exitOK {
		t.Errorf("worker exit %d: %s", c, werr.String())
	}
}
