package evolve

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gomerge/gomerge/internal/outdir"
	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/worker"
)

// PenaltyScore is the score of a candidate that could not be scored (an
// invalid genotype, a failed merge, a NaN metric): below every real
// score, so CMA-ES ranks it last, and written as such to evals.jsonl with
// its reason.
const PenaltyScore = -math.MaxFloat64

// Defaults of mergekit-evolve's optimiser flags.
const (
	DefaultMaxFevals = 100
	DefaultSigma0    = 1.0 / 6
)

// Options control [Run].
type Options struct {
	// StoragePath is the run's directory: checkpoint, evals.jsonl,
	// best_config.yaml, final_model/. Required.
	StoragePath string
	// Pool scores the candidates. Either Pool or OpenPool is required.
	Pool worker.Pool
	// OpenPool, when Pool is nil, opens the pool once the storage path is
	// locked, so that a durable pool keeping its queue under StoragePath
	// is never opened by a run that is refused; Run closes it.
	OpenPool func(ctx context.Context) (worker.Pool, error)
	// NumLayers is num_hidden_layers of the genome's first model; 0
	// reads it with [NumLayers] through Merge.PlanOptions.
	NumLayers int
	// MaxFevals stops the search once this many candidates were scored
	// (default 100); the last generation may overshoot it.
	MaxFevals int
	// PopSize forces the population size; 0 is λ = 4 + ⌊3 ln N⌋.
	PopSize int
	// Sigma0 is the initial step size (default 1/6).
	Sigma0 float64
	// Timeout stops the search after this much run time, counted over
	// every session of the storage path (0: none). It is checked between
	// generations, after the first.
	Timeout time.Duration
	// Seed fixes the populations (and seeds random merge methods).
	Seed uint64
	// TaskSearchPath is passed to the workers with every job.
	TaskSearchPath []string
	// BF16Dot has the workers score with bfloat16 products where their
	// CPU has them (worker.Job.BF16Dot). Its scores do not compare with
	// float32 ones, so a checkpoint taken with it resumes only with it.
	BF16Dot bool
	// SaveFinalModel merges the best config into StoragePath/final_model
	// at the end.
	SaveFinalModel bool
	// Merge are the options of the final merge (and, through
	// PlanOptions, of reading the layer count).
	Merge merge.Options
	// Logger receives "New best score" lines and each failed candidate's
	// reason; nil discards them.
	Logger *slog.Logger
	// Progress, when set, is called after every generation.
	Progress func(Progress)
}

// Progress describes the search after a generation.
type Progress struct {
	Generation int `json:"generation"`
	// Evals are the candidates scored so far, of MaxFevals.
	Evals     int `json:"evals"`
	MaxFevals int `json:"max_fevals"`
	// Best is the best score so far; Mean the mean score of this
	// generation's candidates that did not fail.
	Best   float64 `json:"best"`
	Mean   float64 `json:"mean"`
	Failed int     `json:"failed"`
	Sigma  float64 `json:"sigma"`
	// ETA estimates the time to MaxFevals from this session's pace.
	ETA time.Duration `json:"-"`
}

// Summary is the outcome of a run.
type Summary struct {
	StoragePath string `json:"storage_path"`
	Generations int    `json:"generations"`
	Evals       int    `json:"evals"`
	// Resumed is set when the run went on from a checkpoint.
	Resumed bool `json:"resumed"`
	// Stop says why the search ended: "maxfevals", "timeout", or pycma's
	// "tolx" / "conditioncov".
	Stop string `json:"stop"`
	// Best is the best candidate; BestConfig its merge config.
	Best       *Eval  `json:"best,omitempty"`
	BestConfig string `json:"best_config,omitempty"`
	// FinalModel is the directory of the merged best model, "" when not
	// saved.
	FinalModel string  `json:"final_model,omitempty"`
	Seconds    float64 `json:"seconds"`
}

// checkpoint is the state saved after every generation.
type checkpoint struct {
	// Key identifies the search (genome, tasks, limits); a storage path
	// holding another search's state is refused.
	Key     string          `json:"key"`
	Seed    uint64          `json:"seed"`
	CMAES   json.RawMessage `json:"cmaes"`
	Best    *Eval           `json:"best,omitempty"`
	Seconds float64         `json:"seconds"`
}

// runState is one session of a run.
type runState struct {
	cfg    *Config
	opt    Options
	layout Layout
	key    string
	es     *CMAES
	best   *Eval
	log    *slog.Logger
	evals  *evalLog
	known  map[string]Eval
	prior  float64 // seconds of earlier sessions
	start  time.Time
	scored int // candidates scored by this session's pool
	// session tells this session's jobs from an earlier one's: a durable
	// pool drops a job whose ID it has seen, and its result may have been
	// taken by a run that died before recording it.
	session string
}

// Run searches cfg's genome with CMA-ES, scoring candidates on opt.Pool,
// and keeps its state in opt.StoragePath. It resumes the run found there
// from its last completed generation, re-using the candidates evals.jsonl
// already holds; a second Run on a storage path in use fails with
// ErrLocked. It returns when the search stops, after writing final_model
// if asked; on cancellation the checkpoint of the last completed
// generation stays for the next run.
func Run(ctx context.Context, cfg *Config, opt Options) (*Summary, error) {
	if opt.StoragePath == "" || (opt.Pool == nil && opt.OpenPool == nil) {
		return nil, errors.New("evolve: a storage path and a pool are required")
	}
	if opt.MaxFevals <= 0 {
		opt.MaxFevals = DefaultMaxFevals
	}
	if opt.Sigma0 == 0 {
		opt.Sigma0 = DefaultSigma0
	}
	s := &runState{cfg: cfg, opt: opt, log: opt.Logger, known: map[string]Eval{}, start: time.Now(),
		session: strconv.FormatUint(rand.Uint64(), 36)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opt.StoragePath, 0o755); err != nil {
		return nil, fmt.Errorf("storage path: %w", err)
	}
	lock, err := lockStorage(filepath.Join(opt.StoragePath, LockFile))
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	removeTemps(opt.StoragePath, s.log)
	if opt.NumLayers == 0 {
		if opt.NumLayers, err = NumLayers(ctx, &cfg.Genome, opt.Merge.PlanOptions); err != nil {
			return nil, err
		}
	}
	if s.layout, err = cfg.Genome.Layout(opt.NumLayers); err != nil {
		return nil, err
	}
	if s.key, err = s.searchKey(); err != nil {
		return nil, err
	}
	if opt.SaveFinalModel {
		// A final_model/ that cannot be replaced is found now, not after
		// the search.
		d, err := outdir.Create(filepath.Join(opt.StoragePath, FinalModelDir),
			outdir.Options{Overwrite: opt.Merge.Overwrite, Tool: "gomerge evolve", Logger: s.log})
		if err != nil {
			return nil, err
		}
		d.Abort()
	}
	if s.opt.Pool == nil {
		if s.opt.Pool, err = opt.OpenPool(ctx); err != nil {
			return nil, err
		}
		defer s.opt.Pool.Close()
	}
	sum := &Summary{StoragePath: opt.StoragePath}
	if sum.Resumed, err = s.restore(); err != nil {
		return nil, err
	}
	var evals []Eval
	if s.evals, evals, err = openEvalLog(filepath.Join(opt.StoragePath, EvalsFile)); err != nil {
		return nil, err
	}
	defer s.evals.close()
	for _, e := range evals {
		s.known[e.ID] = e
	}
	if sum.Resumed {
		s.log.Info("resuming", "storage", opt.StoragePath, "generation", s.es.Generation(), "evals", s.es.Evals(),
			"scored", len(evals))
	}
	for sum.Stop = s.stopReason(); sum.Stop == ""; sum.Stop = s.stopReason() {
		if err := s.generation(ctx); err != nil {
			return nil, err
		}
	}
	sum.Generations, sum.Evals, sum.Best = s.es.Generation(), s.es.Evals(), s.best
	sum.Seconds = s.elapsed()
	if s.best == nil {
		return sum, errors.New("evolve: no candidate could be scored")
	}
	best, err := s.config(s.best.Genotype)
	if err != nil {
		return sum, err
	}
	sum.BestConfig = string(best)
	if opt.SaveFinalModel {
		if sum.FinalModel, err = s.saveFinal(ctx, best); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// NumLayers reads num_hidden_layers of the genome's first model from its
// config.json, through the planner, without reading weights.
func NumLayers(ctx context.Context, g *Genome, opt merge.PlanOptions) (int, error) {
	doc := mapping("merge_method", str("passthrough"), "models", seq(mapping("model", g.Models[0].Node)))
	data, err := yaml.Marshal(doc)
	if err != nil {
		return 0, err
	}
	cfg, err := merge.ParseConfig(data, "genome models[0]")
	if err != nil {
		return 0, err
	}
	opt.HeadersOnly = true
	plan, err := merge.NewPlanContext(ctx, cfg, opt)
	if err != nil {
		return 0, fmt.Errorf("genome: read the layer count of %s: %w", g.Models[0].Ref, err)
	}
	defer plan.Close()
	if plan.Models[0].Layers <= 0 {
		return 0, fmt.Errorf("genome: %s has no decoder layers", g.Models[0].Ref)
	}
	return plan.Models[0].Layers, nil
}

// searchKey hashes what makes two runs the same search: the config the
// starting genotype decodes to (models, method, layout) and the scoring.
func (s *runState) searchKey() (string, error) {
	x0, err := s.cfg.Genome.MergeConfig(s.layout, s.layout.Initial(false, nil))
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write(x0)
	scoring := []any{s.cfg.Tasks, s.cfg.Limit, s.cfg.NumFewshot, s.cfg.RandomInit, s.layout.Len()}
	if s.opt.BF16Dot {
		scoring = append(scoring, "bf16 products") // keys without it stay as they were
	}
	json.NewEncoder(h).Encode(scoring)
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// restore loads the checkpoint, or starts a new search when there is
// none.
func (s *runState) restore() (bool, error) {
	path := filepath.Join(s.opt.StoragePath, CheckpointFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		rng := rand.New(rand.NewPCG(s.opt.Seed, 0x5eed))
		x0 := s.layout.Initial(s.cfg.RandomInit, rng)
		s.es, err = NewCMAES(x0, s.opt.Sigma0, s.opt.PopSize, s.opt.Seed)
		return false, err
	}
	if err != nil {
		return false, err
	}
	var cp checkpoint
	if err := json.Unmarshal(data, &cp); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	if cp.Key != s.key {
		return false, fmt.Errorf("%s holds the state of another search (a different genome, tasks, layer count or --bf16-dot); use a new --storage-path", s.opt.StoragePath)
	}
	s.es = new(CMAES)
	if err := s.es.UnmarshalJSON(cp.CMAES); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	if s.es.Dim() != s.layout.Len() {
		return false, fmt.Errorf("%s: %d genes, the genome has %d", path, s.es.Dim(), s.layout.Len())
	}
	if s.opt.PopSize > 0 && s.opt.PopSize != s.es.PopSize() {
		s.log.Warn("resuming with the checkpoint's population size", "checkpoint", s.es.PopSize(), "asked", s.opt.PopSize)
	}
	if cp.Seed != s.opt.Seed {
		s.log.Warn("resuming with the checkpoint's random state; --random-seed is ignored", "checkpoint_seed", cp.Seed, "seed", s.opt.Seed)
	}
	s.best, s.prior = cp.Best, cp.Seconds
	return true, nil
}

func (s *runState) elapsed() float64 { return s.prior + time.Since(s.start).Seconds() }

func (s *runState) stopReason() string {
	switch {
	case s.es.Evals() >= s.opt.MaxFevals:
		return "maxfevals"
	case s.opt.Timeout > 0 && s.es.Generation() > 0 && s.elapsed() >= s.opt.Timeout.Seconds():
		return "timeout"
	}
	return s.es.Stop()
}

// config decodes a genotype into its merge config.
func (s *runState) config(x []float64) ([]byte, error) {
	return s.cfg.Genome.MergeConfig(s.layout, x)
}

// candidateID names a candidate by what is scored: equal configs under
// equal scoring are the same candidate, in this run or a resumed one.
func (s *runState) candidateID(config []byte) string {
	h := sha256.New()
	h.Write([]byte(s.key))
	binary.Write(h, binary.LittleEndian, s.opt.Seed)
	h.Write(config)
	return hex.EncodeToString(h.Sum(nil))[:20]
}

// generation asks for a population, scores it and tells the optimiser.
func (s *runState) generation(ctx context.Context) error {
	gen := s.es.Generation()
	xs := s.es.Ask()
	evals := make([]*Eval, len(xs))
	waiting := map[string][]int{} // job ID → population indices
	for i, x := range xs {
		cfg, err := s.config(x)
		if err != nil {
			e := Eval{ID: fmt.Sprintf("invalid-%d-%d", gen, i), Generation: gen, Genotype: x, Score: PenaltyScore, Error: err.Error()}
			if _, ok := s.known[e.ID]; !ok {
				if err := s.record(e); err != nil {
					return err
				}
			}
			evals[i] = &e
			continue
		}
		id := s.candidateID(cfg)
		if e, ok := s.known[id]; ok {
			e.Genotype, e.Generation = x, gen
			evals[i] = &e
			continue
		}
		if _, ok := waiting[id]; !ok {
			job := worker.Job{ID: id + "." + s.session, Config: cfg, Tasks: s.cfg.Tasks, NumFewshot: s.cfg.NumFewshot,
				Seed: s.opt.Seed, TaskSearchPath: s.opt.TaskSearchPath, BF16Dot: s.opt.BF16Dot}
			if s.cfg.Limit != nil {
				job.Limit = *s.cfg.Limit
			}
			if err := s.opt.Pool.Submit(ctx, job); err != nil {
				return fmt.Errorf("submit candidate %s: %w", id, err)
			}
		}
		waiting[id] = append(waiting[id], i)
	}
	for len(waiting) > 0 {
		var r worker.Result
		select {
		case <-ctx.Done():
			return ctx.Err()
		case res, ok := <-s.opt.Pool.Results():
			if !ok {
				return errors.New("evolve: the pool closed before the generation was scored")
			}
			r = res
		}
		// A result of an earlier session's job for a candidate of this
		// generation counts as well.
		id, _, _ := strings.Cut(r.ID, ".")
		idx, ok := waiting[id]
		if !ok {
			continue
		}
		delete(waiting, id)
		e := Eval{ID: id, Generation: gen, Genotype: xs[idx[0]], Scores: r.Scores, Score: r.Score,
			Error: r.Err, Worker: r.Worker, Seconds: r.Seconds}
		if e.Error == "" && (math.IsNaN(e.Score) || math.IsInf(e.Score, 0)) {
			e.Error = fmt.Sprintf("score %v", e.Score)
		}
		if e.Error != "" {
			e.Score, e.Scores = PenaltyScore, nil
		}
		if err := s.record(e); err != nil {
			return err
		}
		s.scored++
		for _, i := range idx {
			c := e
			c.Genotype = xs[i]
			evals[i] = &c
		}
	}
	return s.tell(gen, xs, evals)
}

// record appends a candidate to evals.jsonl and remembers it.
func (s *runState) record(e Eval) error {
	if e.Error != "" {
		s.log.Warn("candidate failed", "id", e.ID, "generation", e.Generation, "reason", e.Error)
	}
	s.known[e.ID] = e
	return s.evals.append(e)
}

// tell feeds the generation's scores back, tracks the best, and
// checkpoints.
func (s *runState) tell(gen int, xs [][]float64, evals []*Eval) error {
	f := make([]float64, len(xs))
	var sum float64
	var ok, failed int
	improved := false
	for i, e := range evals {
		if e.Error != "" {
			f[i] = math.Inf(1)
			failed++
			continue
		}
		f[i] = -e.Score // pycma minimises
		sum += e.Score
		ok++
		if s.best == nil || e.Score > s.best.Score {
			s.best, improved = e, true
		}
	}
	if gen == 0 && ok == 0 {
		return fmt.Errorf("evolve: every candidate of the first generation failed; the first: %s", evals[0].Error)
	}
	if err := s.es.Tell(xs, f); err != nil {
		return err
	}
	if improved {
		cfg, err := s.config(s.best.Genotype)
		if err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(s.opt.StoragePath, BestConfigFile), cfg); err != nil {
			return err
		}
		s.log.Info(fmt.Sprintf("New best score: %g", s.best.Score), "id", s.best.ID, "generation", gen)
	}
	if err := s.checkpoint(); err != nil {
		return err
	}
	p := Progress{Generation: gen, Evals: s.es.Evals(), MaxFevals: s.opt.MaxFevals, Best: PenaltyScore,
		Mean: math.NaN(), Failed: failed, Sigma: s.es.Sigma()}
	if s.best != nil {
		p.Best = s.best.Score
	}
	if ok > 0 {
		p.Mean = sum / float64(ok)
	}
	if s.scored > 0 && p.Evals < p.MaxFevals {
		per := time.Since(s.start) / time.Duration(s.scored)
		p.ETA = per * time.Duration(p.MaxFevals-p.Evals)
	}
	s.log.Info("generation", "n", gen, "best", p.Best, "mean", p.Mean, "evals", p.Evals, "failed", failed,
		"sigma", p.Sigma, "eta", p.ETA.Round(time.Second))
	if s.opt.Progress != nil {
		s.opt.Progress(p)
	}
	return nil
}

func (s *runState) checkpoint() error {
	es, err := s.es.MarshalJSON()
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(checkpoint{Key: s.key, Seed: s.opt.Seed, CMAES: es, Best: s.best,
		Seconds: s.elapsed()}, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(s.opt.StoragePath, CheckpointFile), data)
}

// saveFinal merges the best config into final_model.
func (s *runState) saveFinal(ctx context.Context, config []byte) (string, error) {
	out := filepath.Join(s.opt.StoragePath, FinalModelDir)
	cfg, err := merge.ParseConfig(config, filepath.Join(s.opt.StoragePath, BestConfigFile))
	if err != nil {
		return "", err
	}
	opt := s.opt.Merge
	// mergekit-evolve copies the tokenizer into the final model always.
	opt.Seed, opt.SkipTokenizer = new(s.opt.Seed), false
	if _, err := merge.Run(ctx, cfg, out, opt); err != nil {
		return "", fmt.Errorf("final model: %w", err)
	}
	s.log.Info("wrote the final model", "dir", out)
	return out, nil
}
