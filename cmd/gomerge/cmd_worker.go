package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/worker"
)

const workerUsage = `usage: gomerge worker --nats nats://HOST:PORT [--model-dir DIR]... [-j N] [-v]

Scores merge candidates for a search (gomerge evolve) whose coordinator
listens at the NATS URL: each job is merged in memory and evaluated here,
and its result goes back on the queue. Models are found as the job names
them, under each --model-dir, or in the Hugging Face cache (downloading
when needed). SIGINT or SIGTERM stops the worker; the job in hand goes
back to the queue at once. A worker that dies has its job redelivered to
another after the ack wait.


examples:
  gomerge worker --nats nats://searchhost:4222
  gomerge worker --nats nats://searchhost:4222 --model-dir /models -j 8 -v
`

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gomerge worker", flag.ContinueOnError)
	setUsage(fs, stderr, workerUsage)
	var (
		url, name, queue string
		device           string
		dirs             stringList
		jobs, threads    int
		verbose          counter
	)
	fs.StringVar(&url, "nats", "", "the coordinator's NATS server, nats://HOST:PORT")
	fs.Var(&dirs, "model-dir", "a `DIR` holding models (repeatable)")
	fs.IntVar(&jobs, "j", 1, "jobs scored at once")
	fs.IntVar(&threads, "threads", 0, "threads per forward pass (default: all CPUs divided by -j)")
	fs.StringVar(&name, "name", "", "the name results carry (default HOST:PID)")
	fs.StringVar(&queue, "queue", worker.DefaultQueue, "the coordinator's queue name")
	fs.StringVar(&device, "device", "cpu", deviceUsage+"; for in-memory merges and for scoring the merged candidates of dense models (generation and jobs naming a model directory stay on the CPU)")
	verbosity(fs, &verbose)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if url == "" || len(pos) > 0 || jobs < 1 || threads < 0 {
		fs.Usage()
		return exitUsage
	}
	if code := checkDevice(device, stderr); code != exitOK {
		return code
	}
	log := newLogger(stderr, int(verbose))
	be, release, err := openDevice(device, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitFailed
	}
	defer release()
	opt := worker.ServeOptions{Workers: jobs, Queue: queue, Options: worker.Options{
		Name: name, ModelDirs: dirs, Hub: hub.NewClient(), Threads: threads,
		Cache: worker.NewCache(1), Logger: log, Backend: be, Accelerator: accelerator(be)}}
	log.Info("worker started", "nats", url, "jobs", jobs)
	if err := worker.Serve(ctx, url, opt); err != nil {
		fmt.Fprintln(stderr, "gomerge:", err)
		return exitFailed
	}
	log.Info("worker stopped")
	return exitOK
}
