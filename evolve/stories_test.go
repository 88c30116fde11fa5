package evolve

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gomerge/gomerge/eval/model"
	"github.com/gomerge/gomerge/internal/storiestest"
	"github.com/gomerge/gomerge/merge"
	"github.com/gomerge/gomerge/worker"
)

// storiesModels converts testdata/stories260K once per test binary and
// makes two damaged "fine-tunes" of it: Gaussian noise on the weights of
// layers 0-2 in one, of layers 3-4 in the other.
var storiesModels = sync.OnceValues(func() ([3]string, error) {
	var dirs [3]string
	tmp, err := os.MkdirTemp("", "evolve-stories-")
	if err != nil {
		return dirs, err
	}
	storiesTmp = tmp
	src := "../testdata/stories260K"
	orig := filepath.Join(tmp, "stories260K")
	if err := model.ConvertLlama2C(filepath.Join(src, "stories260K.bin"), orig); err != nil {
		return dirs, err
	}
	raw, err := os.ReadFile(filepath.Join(orig, "config.json"))
	if err != nil {
		return dirs, err
	}
	var cfg struct {
		Vocab int `json:"vocab_size"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return dirs, err
	}
	if err := model.ConvertLlama2CTokenizer(filepath.Join(src, "tok512.bin"), orig, cfg.Vocab); err != nil {
		return dirs, err
	}
	dirs[0] = orig
	for i, layers := range [][]int{{0, 1, 2}, {3, 4}} {
		dirs[i+1] = filepath.Join(tmp, fmt.Sprintf("damaged_%d", i))
		if err := storiestest.Damage(orig, dirs[i+1], storiestest.Layers(layers...), storiesNoise, false, uint64(i+1)); err != nil {
			return dirs, err
		}
	}
	return dirs, nil
})

var storiesTmp string

// storiesNoise is the noise's standard deviation relative to each
// tensor's RMS.
const storiesNoise = 0.2

func TestMain(m *testing.M) {
	code := m.Run()
	if storiesTmp != "" {
		os.RemoveAll(storiesTmp)
	}
	os.Exit(code)
}

func storiesDirs(t *testing.T) [3]string {
	t.Helper()
	d, err := storiesModels()
	if err != nil {
		t.Fatalf("stories260K fixture: %v", err)
	}
	return d
}

// heldOut scores a model directory or merge config on the held-out
// stories; it returns the word perplexity.
func heldOut(t *testing.T, modelDir string, config []byte) float64 {
	t.Helper()
	job := worker.Job{ID: "heldout", Model: modelDir, Config: config,
		Tasks:          []worker.Task{{Name: "stories_heldout", Metric: "word_perplexity,none", Weight: 1}},
		TaskSearchPath: []string{"testdata"}}
	r := worker.Evaluate(context.Background(), job, worker.Options{})
	if r.Err != "" {
		t.Fatalf("held-out score: %s", r.Err)
	}
	return r.Score
}

// TestStoriesEvolve is the check: a layer-wise linear evolve over
// two copies of stories260K damaged in different layers must find a recipe
// whose perplexity on held-out stories is far below each parent's and
// below the uniform 50/50 merge.
func TestStoriesEvolve(t *testing.T) {
	if testing.Short() {
		t.Skip("scores about 150 merged candidates")
	}
	d := storiesDirs(t)
	cfg := testConfig(t, fmt.Sprintf(`genome:
  models: [%s, %s]
  merge_method: linear
  layer_granularity: 1
tasks:
  - name: stories_tune
    metric: word_perplexity,none
    weight: -1.0
`, d[1], d[2]))
	pool := worker.NewLocal(1, worker.Options{Cache: worker.NewCache(2)})
	defer pool.Close()
	dir := t.TempDir()
	sum, err := Run(context.Background(), cfg, Options{StoragePath: dir, Pool: pool, MaxFevals: 150, Seed: 1,
		TaskSearchPath: []string{"testdata"}, SaveFinalModel: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Generations < 10 || sum.Best == nil {
		t.Fatalf("summary %+v", sum)
	}
	best, err := os.ReadFile(filepath.Join(dir, BestConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	evolved := heldOut(t, "", best)
	final := heldOut(t, sum.FinalModel, nil)
	parentA, parentB := heldOut(t, d[1], nil), heldOut(t, d[2], nil)
	half := heldOut(t, "", fmt.Appendf(nil, `merge_method: linear
dtype: bfloat16
slices:
  - sources:
    - {model: %s, layer_range: [0, 5], parameters: {weight: 0.5}}
    - {model: %s, layer_range: [0, 5], parameters: {weight: 0.5}}
`, d[1], d[2]))
	t.Logf("held-out word perplexity: original %.2f, parents %.2f and %.2f, 50/50 %.2f, evolved %.2f (final_model %.2f) after %d evaluations",
		heldOut(t, d[0], nil), parentA, parentB, half, evolved, final, sum.Evals)
	if evolved > min(parentA, parentB)/2 || evolved > 0.8*half {
		t.Errorf("evolved recipe: perplexity %.2f, want far below the parents' %.2f and %.2f and below 50/50's %.2f",
			evolved, parentA, parentB, half)
	}
	if math.Abs(final-evolved) > 1e-6*evolved {
		t.Errorf("final_model scores %.4f, best_config.yaml %.4f", final, evolved)
	}
}

// TestMergeConfigsMerge merges what the mapping emits for every method
// and layout on the stories260K models: the configs must run under gomerge,
// not only parse.
func TestMergeConfigsMerge(t *testing.T) {
	d := storiesDirs(t)
	for _, genome := range []string{
		"{models: [%[2]s, %[3]s], merge_method: linear, layer_granularity: 1}",
		"{models: [%[2]s, %[3]s], merge_method: linear, smooth: true, layer_granularity: 1, filters: [self_attn, mlp]}",
		"{models: [%[2]s, %[3]s], merge_method: ties, base_model: %[1]s, filters: [mlp]}",
		"{models: [%[1]s, %[2]s, %[3]s], merge_method: dare_ties, base_model: %[1]s, layer_granularity: 5}",
		"{models: [%[2]s, %[3]s], merge_method: task_arithmetic, base_model: %[1]s, smooth: true, layer_granularity: 1, allow_negative_weights: true}",
		"{models: [%[2]s, %[3]s], merge_method: slerp, layer_granularity: 1}",
		"{models: [%[1]s, %[2]s, %[3]s], merge_method: slerp, base_model: %[1]s}",
		// mergekit's quirk: a base outside the models is a third slerp
		// source, and the merge fails.
		"{models: [%[2]s, %[3]s], merge_method: slerp, base_model: %[1]s}",
	} {
		src := fmt.Sprintf("genome: "+genome+"\ntasks: [t]\n", d[0], d[1], d[2])
		thirdSource := genome == "{models: [%[2]s, %[3]s], merge_method: slerp, base_model: %[1]s}"
		t.Run(src, func(t *testing.T) {
			c := testConfig(t, src)
			n, err := NumLayers(context.Background(), &c.Genome, merge.PlanOptions{})
			if err != nil || n != 5 {
				t.Fatalf("layers %d, %v", n, err)
			}
			l, err := c.Genome.Layout(n)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for range 2 {
				x := l.Initial(false, nil)
				for i := range x {
					x[i] += 0.3 * rng.NormFloat64()
				}
				yml, err := c.Genome.MergeConfig(l, x)
				if err != nil {
					t.Fatal(err)
				}
				mc, err := merge.ParseConfig(yml, "candidate")
				if err != nil {
					t.Fatal(err)
				}
				_, err = merge.Run(context.Background(), mc, filepath.Join(t.TempDir(), "out"), merge.Options{Seed: new(uint64(1))})
				if thirdSource {
					if err == nil || !strings.Contains(err.Error(), "at most 2 inputs") || len(c.Warnings) != 1 {
						t.Fatalf("slerp with a third source: %v; warnings %q", err, c.Warnings)
					}
					continue
				}
				if err != nil {
					t.Fatalf("merge:\n%s\n%v", yml, err)
				}
			}
		})
	}
}
