package worker

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gomerge/gomerge/eval"
	"github.com/gomerge/gomerge/eval/local"
	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/tensor"
)

// Options tune Evaluate, and the evaluators of a pool.
type Options struct {
	// Name names the evaluator in results; "" means host:pid.
	Name string
	// ModelDirs are where this machine keeps models: a model path of a
	// job that does not exist here as written is looked up as DIR/PATH and
	// DIR/BASENAME in each, before the hub.
	ModelDirs []string
	// Hub resolves models that are not local directories as Hugging Face
	// repositories, from its cache or by downloading; nil means local
	// directories only.
	Hub *hub.Client
	// Threads is how many goroutines one forward pass uses; 0 means
	// GOMAXPROCS.
	Threads int
	// BatchSize is how many requests go to the model at once (eval's
	// default when 0).
	BatchSize int
	// Backend runs the merge arithmetic of in-memory merges (see
	// merge.Options); nil means tensor.CPU.
	Backend tensor.Backend
	// Accelerator, when set, scores the candidates merged from job
	// configs on a device (see local.Options); models named by jobs,
	// which Cache may share between jobs, are scored on the CPU.
	Accelerator model.Accelerator
	// Cache keeps what jobs share on this machine (tasks, tokenizers,
	// opened models) between jobs; nil keeps nothing.
	Cache *Cache
	// Logger receives a line per job; nil discards.
	Logger *slog.Logger
}

func (o *Options) name() string {
	if o.Name != "" {
		return o.Name
	}
	return defaultName()
}

func defaultName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Evaluate scores one job: it merges job.Config in memory (or opens
// job.Model), scores every task and sums the weighted metrics. It never
// panics and never exits: a bad config, a failed merge, a missing task or
// metric, a NaN score all come back as Result.Err.
func Evaluate(ctx context.Context, job Job, opt Options) (res Result) {
	start := time.Now()
	res = Result{ID: job.ID, Worker: opt.name()}
	defer func() {
		if p := recover(); p != nil {
			opt.logger().Error("evaluator panic", "job", job.ID, "panic", p, "stack", string(debug.Stack()))
			res.Scores, res.Score = nil, 0
			res.Err = fmt.Sprintf("job %s: evaluator panic: %v", job.ID, p)
		}
		res.Seconds = time.Since(start).Seconds()
	}()
	scores, score, err := evaluate(ctx, job, &opt)
	if err != nil {
		res.Err = err.Error()
		opt.logger().Warn("job failed", "job", job.ID, "err", err)
		return res
	}
	res.Scores, res.Score = scores, score
	opt.logger().Info("job scored", "job", job.ID, "score", score, "seconds", time.Since(start).Seconds())
	return res
}

func evaluate(ctx context.Context, job Job, opt *Options) (map[string]map[string]float64, float64, error) {
	if (len(job.Config) == 0) == (job.Model == "") {
		return nil, 0, fmt.Errorf("job %s: want exactly one of config and model", job.ID)
	}
	if len(job.Tasks) == 0 {
		return nil, 0, fmt.Errorf("job %s: no tasks", job.ID)
	}
	tasks, err := opt.Cache.tasks(job)
	if err != nil {
		return nil, 0, fmt.Errorf("job %s: %w", job.ID, err)
	}
	m, err := openModel(ctx, job, opt)
	if err != nil {
		return nil, 0, fmt.Errorf("job %s: %w", job.ID, err)
	}
	if job.Model == "" {
		defer m.Close() // the merged candidate's device copy
	}
	tok, err := opt.Cache.tokenizer(m)
	if err != nil {
		return nil, 0, fmt.Errorf("job %s: %w", job.ID, err)
	}
	rep, err := eval.Score(ctx, m.LM, tok, tasks, eval.Options{Limit: job.Limit, BatchSize: opt.BatchSize})
	if err != nil {
		return nil, 0, fmt.Errorf("job %s: %w", job.ID, err)
	}
	return weigh(job.Tasks, rep)
}

// openModel merges the job's config in memory or opens its model.
func openModel(ctx context.Context, job Job, opt *Options) (*local.Model, error) {
	lo := local.Options{Threads: opt.Threads, BF16Dot: job.BF16Dot, Hub: opt.Hub, Seed: job.Seed, Backend: opt.Backend, Reuse: opt.Cache.reuseTensors()}
	if job.Model != "" {
		dir, err := opt.modelDir(ctx, job.Model)
		if err != nil {
			return nil, err
		}
		return opt.Cache.model(dir, job.BF16Dot, func() (*local.Model, error) { return local.Open(dir, lo) })
	}
	lo.Accelerator = opt.Accelerator
	lo.Notice = func(err error) { opt.logger().Info("job on the CPU", "job", job.ID, "why", err) }
	cfg, err := merge.ParseConfig(job.Config, "job "+job.ID+" config")
	if err != nil {
		return nil, err
	}
	if len(opt.ModelDirs) > 0 {
		relocate(cfg, opt.findLocal)
	}
	return local.Merge(ctx, cfg, lo)
}

// findLocal returns where path p is on this machine: p itself when it
// exists, else the first DIR/p or DIR/base(p) of ModelDirs that does, else
// p unchanged.
func (o *Options) findLocal(p string) string {
	if _, err := os.Stat(p); err == nil || p == "" {
		return p
	}
	for _, d := range o.ModelDirs {
		for _, c := range []string{filepath.Join(d, p), filepath.Join(d, filepath.Base(p))} {
			if st, err := os.Stat(c); err == nil && st.IsDir() {
				return c
			}
		}
	}
	return p
}

// modelDir resolves a job's model: a directory here or under ModelDirs,
// else a hub repository.
func (o *Options) modelDir(ctx context.Context, p string) (string, error) {
	d := o.findLocal(p)
	if st, err := os.Stat(d); err == nil && st.IsDir() {
		return d, nil
	}
	if o.Hub == nil || !hub.IsRepoID(p) {
		return "", fmt.Errorf("model %s: no such directory here (model dirs %q) and no hub", p, o.ModelDirs)
	}
	return o.Hub.Resolve(ctx, p, "", nil)
}

// relocate rewrites every model and adapter path of cfg through find.
func relocate(cfg *merge.Config, find func(string) string) {
	ref := func(r *merge.ModelRef) {
		if r == nil {
			return
		}
		r.Path = find(r.Path)
		if r.LoRA != nil {
			r.LoRA.Path = find(r.LoRA.Path)
		}
	}
	for i := range cfg.Models {
		ref(&cfg.Models[i].Model)
	}
	for i := range cfg.Slices {
		s := &cfg.Slices[i]
		ref(s.BaseModel)
		for j := range s.Sources {
			ref(&s.Sources[j].Model)
		}
	}
	ref(cfg.BaseModel)
	if cfg.TokenizerSource != nil {
		ref(cfg.TokenizerSource.Model)
	}
	if t := cfg.Tokenizer; t != nil {
		ref(t.Source.Model)
		for i := range t.Tokens {
			ref(t.Tokens[i].Source.Model)
		}
	}
}

// lmEvalMetrics maps lm-eval metric names to eval's where they differ.
// lm-eval's "perplexity" belongs to its loglikelihood tasks; the nearest
// gomerge reports is the per-token perplexity of a rolling task.
var lmEvalMetrics = map[string]string{"perplexity": "token_perplexity"}

// metricName turns "acc,none" into "acc"; a filter other than "none" is
// kept when the task reports it ("exact_match,flexible-extract").
func metricName(m string, tr *eval.TaskReport) (string, error) {
	name, filter, ok := strings.Cut(m, ",")
	if ok && filter != "none" {
		// A generate_until task reports each metric per filter
		// ("exact_match,flexible-extract").
		if _, has := tr.Metrics[m]; has {
			return m, nil
		}
		return "", fmt.Errorf("metric %q: filter %q (task %s has %s)", m, filter, tr.Name, strings.Join(reportFilters(tr), ", "))
	}
	if alias, ok := lmEvalMetrics[name]; ok {
		name = alias
	}
	return name, nil
}

// reportFilters lists the filters a task's metrics carry ("none" for
// metrics without one).
func reportFilters(tr *eval.TaskReport) []string {
	if len(tr.Filters) > 0 {
		return tr.Filters
	}
	return []string{"none"}
}

// resultKey is lm-eval's results key of a report metric: "acc,none", or
// the metric with its filter as the report holds it.
func resultKey(k string) string {
	if strings.Contains(k, ",") {
		return k
	}
	return k + ",none"
}

// weigh reads each task's metric from the report and sums the weighted
// values. Scores keep every metric of every task, under lm-eval's result
// keys ("acc,none"), and the metric the task asked for under its own
// spelling.
func weigh(want []Task, rep *eval.Report) (map[string]map[string]float64, float64, error) {
	scores := map[string]map[string]float64{}
	byName := map[string]*eval.TaskReport{}
	for i := range rep.Tasks {
		tr := &rep.Tasks[i]
		byName[tr.Name] = tr
		s := map[string]float64{}
		for k, v := range tr.Metrics {
			s[resultKey(k)] = v
		}
		scores[tr.Name] = s
	}
	var total float64
	for _, t := range want {
		tr := byName[t.Name]
		if tr == nil {
			return nil, 0, fmt.Errorf("task %s: not in the report", t.Name)
		}
		name, err := metricName(t.Metric, tr)
		if err != nil {
			return nil, 0, fmt.Errorf("task %s: %w", t.Name, err)
		}
		v, ok := tr.Metrics[name]
		if !ok {
			have := slices.Sorted(func(yield func(string) bool) {
				for k := range tr.Metrics {
					if !yield(resultKey(k)) {
						return
					}
				}
			})
			return nil, 0, fmt.Errorf("task %s: no metric %q (it reports %s)", t.Name, t.Metric, strings.Join(have, ", "))
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, 0, fmt.Errorf("task %s: metric %s is %v", t.Name, t.Metric, v)
		}
		scores[t.Name][t.Metric] = v
		total += v * t.Weight
	}
	if math.IsNaN(total) || math.IsInf(total, 0) {
		return nil, 0, fmt.Errorf("score is %v", total)
	}
	return scores, total, nil
}

// Cache keeps what jobs on one machine share: loaded tasks, tokenizers
// and, up to a count, opened models (jobs that name a model rather than a
// merge config). Its methods are safe for concurrent use; a nil Cache
// keeps nothing.
//
// Merge inputs are opened by each job's plan (merge has no way to hand a
// plan models opened before): their safetensors files are memory-mapped,
// so their bytes are read from disk once and then served from the page
// cache to every later candidate, and what a job repeats is opening the
// files and parsing their headers — 1.4 ms of a stories260K candidate's
// 47 ms (34 ms merge and load, 13 ms scoring).
type Cache struct {
	maxModels int
	reuse     *local.Reuse

	mu     sync.Mutex
	loaded map[string]*eval.Task
	toks   map[string]eval.Tokenizer
	models []cachedModel // most recently used last
}

type cachedModel struct {
	dir     string
	bf16Dot bool // opened with local.Options.BF16Dot
	m       *local.Model
}

// NewCache returns a cache that keeps up to maxModels opened models, and
// up to ReuseBudget bytes of merged tensors: a candidate whose tensor
// recipe did not change since an earlier job (see local.Reuse) does not
// merge, read or decode that tensor's inputs again.
func NewCache(maxModels int) *Cache {
	return &Cache{maxModels: maxModels, reuse: local.NewReuse(ReuseBudget), loaded: map[string]*eval.Task{}, toks: map[string]eval.Tokenizer{}}
}

// ReuseBudget is how many bytes of merged tensors a Cache keeps between
// candidates.
const ReuseBudget = 1 << 30

// reuseTensors returns the cache's merged-tensor store; nil for a nil
// Cache.
func (c *Cache) reuseTensors() *local.Reuse {
	if c == nil {
		return nil
	}
	return c.reuse
}

// tasks loads the job's tasks once each: a file NAME.yaml, NAME.yml,
// NAME.jsonl (or .zst of these) in the job's task search path, else a
// task file or built-in task of that name. NumFewshot applies to a copy.
func (c *Cache) tasks(job Job) ([]*eval.Task, error) {
	var out []*eval.Task
	seen := map[string]bool{}
	for _, t := range job.Tasks {
		if seen[t.Name] {
			continue
		}
		seen[t.Name] = true
		et, err := c.task(t.Name, job.TaskSearchPath)
		if err != nil {
			return nil, err
		}
		cp := *et
		cp.Name = t.Name
		if job.NumFewshot != nil {
			if n := *job.NumFewshot; n > 0 && cp.Type != eval.MultipleChoice {
				return nil, fmt.Errorf("task %s: num_fewshot %d needs a multiple-choice task", t.Name, n)
			}
			cp.NumFewshot = *job.NumFewshot
		}
		out = append(out, &cp)
	}
	return out, nil
}

var taskExts = []string{".yaml", ".yml", ".jsonl", ".yaml.zst", ".yml.zst", ".jsonl.zst"}

func (c *Cache) task(name string, searchPath []string) (*eval.Task, error) {
	file := ""
	if !strings.ContainsAny(name, `/\`) {
	search:
		for _, d := range searchPath {
			for _, ext := range taskExts {
				p := filepath.Join(d, name+ext)
				if _, err := os.Stat(p); err == nil {
					file = p
					break search
				}
			}
		}
	}
	key := file
	if key == "" {
		key = "find:" + name
	}
	if c != nil {
		c.mu.Lock()
		t := c.loaded[key]
		c.mu.Unlock()
		if t != nil {
			return t, nil
		}
	}
	var t *eval.Task
	var err error
	if file != "" {
		t, err = eval.LoadTask(file)
	} else {
		t, err = eval.FindTask(name)
	}
	if err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("task %s: %w", name, err)
	}
	if c != nil {
		c.mu.Lock()
		c.loaded[key] = t
		c.mu.Unlock()
	}
	return t, nil
}

func (c *Cache) tokenizer(m *local.Model) (eval.Tokenizer, error) {
	if c == nil {
		return m.Tokenizer()
	}
	c.mu.Lock()
	tok := c.toks[m.TokenizerDir]
	c.mu.Unlock()
	if tok != nil {
		return tok, nil
	}
	tok, err := m.Tokenizer()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.toks[m.TokenizerDir] = tok
	c.mu.Unlock()
	return tok, nil
}

// model returns the opened model of dir (with or without BF16Dot), opening
// it when the cache lacks it; the least recently used model goes when the
// cache is full.
func (c *Cache) model(dir string, bf16Dot bool, open func() (*local.Model, error)) (*local.Model, error) {
	if c == nil || c.maxModels <= 0 {
		return open()
	}
	c.mu.Lock()
	for i, cm := range c.models {
		if cm.dir == dir && cm.bf16Dot == bf16Dot {
			c.models = append(slices.Delete(c.models, i, i+1), cm)
			c.mu.Unlock()
			return cm.m, nil
		}
	}
	c.mu.Unlock()
	m, err := open()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.models) >= c.maxModels {
		c.models = slices.Delete(c.models, 0, 1)
	}
	c.models = append(c.models, cachedModel{dir, bf16Dot, m})
	return m, nil
}
