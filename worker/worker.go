// Package worker scores merge candidates: a candidate (a mergekit config,
// merged in memory, or a model directory) is run through the embedded
// evaluation (package eval) on a set of weighted tasks, and its weighted
// score comes back.
//
// It is the one seam between the searches that breed candidates (package
// evolve, gomerge automerge) and the machines that score them. A [Pool]
// takes [Job]s and yields [Result]s. Two pools stand behind it: [NewLocal]
// runs evaluators in this process; [NewJetStream] puts jobs on a NATS
// JetStream work queue (a server embedded in the binary, or an external
// cluster) that in-process evaluators and `gomerge worker` processes
// ([Serve]) on any machine consume, with redelivery when a worker dies.
// [Evaluate] is what every worker runs for one job.
package worker

import "context"

// Task is one weighted evaluation task, as mergekit-evolve's tasks list
// has them: a built-in task name or a task file, the metric that counts
// ("acc,none", "word_perplexity,none"), and its weight (negative for a
// metric where lower is better).
type Task struct {
	Name   string  `json:"name" yaml:"name"`
	Metric string  `json:"metric" yaml:"metric"`
	Weight float64 `json:"weight" yaml:"weight"`
}

// Job is one candidate to score. Exactly one of Config and Model is set.
type Job struct {
	// ID names the job; results carry it back. Equal IDs are the same
	// work: a pool may drop a duplicate.
	ID string `json:"id"`
	// Config is a mergekit YAML config, merged in memory as it is scored.
	Config []byte `json:"config,omitempty"`
	// Model is a model directory or hub id scored as it is.
	Model string `json:"model,omitempty"`
	// Tasks are the weighted tasks; Score is the sum of metric × weight.
	Tasks []Task `json:"tasks"`
	// Limit caps the documents of each task (0: all).
	Limit int `json:"limit,omitempty"`
	// NumFewshot overrides the tasks' few-shot count when set.
	NumFewshot *int `json:"num_fewshot,omitempty"`
	// Seed seeds random merge methods (DARE) for this candidate.
	Seed uint64 `json:"seed"`
	// TaskSearchPath are directories where task files are looked up by
	// name (file name without extension) before the built-in tasks.
	TaskSearchPath []string `json:"task_search_path,omitempty"`
	// BF16Dot scores with bfloat16 products where the worker's CPU has
	// them (local.Options.BF16Dot). It is part of the job, not of the
	// worker, so that every worker of a pool scores alike.
	BF16Dot bool `json:"bf16_dot,omitempty"`
}

// Result is a scored job.
type Result struct {
	ID string `json:"id"`
	// Scores are the task results: task name → metric → value.
	Scores map[string]map[string]float64 `json:"scores,omitempty"`
	// Score is Σ Scores[task][metric] × weight; meaningless when Err is
	// set.
	Score float64 `json:"score"`
	// Err says why the job failed (bad config, merge error, a NaN
	// score); the caller decides the penalty.
	Err string `json:"error,omitempty"`
	// Worker names who scored it (host:pid or "local-N").
	Worker  string  `json:"worker"`
	Seconds float64 `json:"seconds"`
	// Attempt is which delivery of the job this result came from (1 for
	// the first) on a JetStream pool; more than 1 means a worker died or
	// stopped during an earlier one. 0 on a local pool.
	Attempt int `json:"attempt,omitempty"`
}

// Pool scores jobs, in any order, possibly elsewhere.
type Pool interface {
	// Submit queues a job; it returns once the job is durably queued.
	Submit(ctx context.Context, j Job) error
	// Results delivers each submitted job's result once (duplicates from
	// redelivery are dropped), until the pool is closed.
	Results() <-chan Result
	// Close stops the pool; jobs not yet scored stay queued where the
	// pool is durable.
	Close() error
}
