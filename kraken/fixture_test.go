package kraken

import (
	"encoding/binary"
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
	"github.com/gomerge/gomerge/internal/outdir"
	"github.com/gomerge/gomerge/safetensors"
)

const storiesSrc = "../testdata/stories260K"

// fixtureTmp holds the converted models, removed by TestMain.
var fixtureTmp string

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureTmp != "" {
		os.RemoveAll(fixtureTmp)
	}
	os.Exit(code)
}

// stories converts testdata/stories260K (weights and tokenizer) once per
// test binary and makes three noisy copies of it, the experts.
var stories = sync.OnceValues(func() (storiesDirs, error) {
	var d storiesDirs
	tmp, err := os.MkdirTemp("", "kraken-stories-")
	if err != nil {
		return d, err
	}
	fixtureTmp = tmp
	d.base = filepath.Join(tmp, "stories260K")
	if err := model.ConvertLlama2C(filepath.Join(storiesSrc, "stories260K.bin"), d.base); err != nil {
		return d, err
	}
	if err := model.ConvertLlama2CTokenizer(filepath.Join(storiesSrc, "tok512.bin"), d.base, 512); err != nil {
		return d, err
	}
	for i := range d.experts {
		d.experts[i] = filepath.Join(tmp, fmt.Sprintf("noisy%d", i+1))
		if err := noisyCopy(d.base, d.experts[i], 0.05, uint64(i+1)); err != nil {
			return d, err
		}
	}
	return d, nil
})

type storiesDirs struct {
	base    string
	experts [3]string
}

func storiesFixture(t testing.TB) storiesDirs {
	t.Helper()
	if _, err := os.Stat(filepath.Join(storiesSrc, "stories260K.bin")); err != nil {
		t.Skipf("stories260K: %v", err)
	}
	d, err := stories()
	if err != nil {
		t.Fatalf("stories260K fixture: %v", err)
	}
	return d
}

// noisyCopy copies the model directory src to dst with Gaussian noise
// (scale × each tensor's RMS) added to every F32 weight: a stand-in for a
// fine-tune that generates differently from its base.
func noisyCopy(src, dst string, scale float64, seed uint64) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == "model.safetensors" || !e.Type().IsRegular() {
			continue
		}
		if err := outdir.CopyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	m, err := safetensors.OpenModel(src)
	if err != nil {
		return err
	}
	defer m.Close()
	var specs []safetensors.TensorSpec
	for _, n := range m.Names() {
		info, _ := m.Tensor(n)
		specs = append(specs, safetensors.TensorSpec{Name: n, DType: info.DType, Shape: info.Shape})
	}
	w, err := safetensors.Create(dst, specs, safetensors.WriterOptions{})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, n := range m.Names() {
		info, _ := m.Tensor(n)
		buf := make([]byte, info.Size)
		if err := m.ReadTensorRange(n, 0, buf); err != nil {
			w.Abort()
			return err
		}
		if info.DType == safetensors.F32 && strings.HasSuffix(n, ".weight") && !strings.Contains(n, "norm") {
			ss := 0.0
			for i := 0; i < len(buf); i += 4 {
				v := float64(math.Float32frombits(binary.LittleEndian.Uint32(buf[i:])))
				ss += v * v
			}
			sd := scale * math.Sqrt(ss/float64(len(buf)/4))
			for i := 0; i < len(buf); i += 4 {
				v := math.Float32frombits(binary.LittleEndian.Uint32(buf[i:])) + float32(sd*rng.NormFloat64())
				binary.LittleEndian.PutUint32(buf[i:], math.Float32bits(v))
			}
		}
		if err := w.WriteTensor(n, buf); err != nil {
			w.Abort()
			return err
		}
	}
	return w.Close()
}

// promptClasses makes n prompts of each of three clearly different kinds,
// deterministic for seed: children's stories, SQL queries and sums.
func promptClasses(n int, seed uint64) []Example {
	rng := rand.New(rand.NewPCG(seed, 3))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	var out []Example
	for range n {
		out = append(out,
			Example{Label: "expert1", Text: fmt.Sprintf("Once upon a time, there was a %s %s named %s. %s liked to %s in the %s.",
				pick("little", "big", "happy", "sad", "kind"), pick("girl", "boy", "cat", "dog", "bird"),
				pick("Lily", "Tom", "Sue", "Max", "Ben"), pick("She", "He", "It"), pick("play", "run", "jump", "sing"),
				pick("park", "garden", "forest", "house"))},
			Example{Label: "expert2", Text: fmt.Sprintf("SELECT %s, %s FROM %s WHERE %s > %d ORDER BY %s;",
				pick("id", "name", "price", "qty"), pick("city", "zip", "total"), pick("users", "orders", "items_tbl"),
				pick("price", "age", "qty"), rng.IntN(1000), pick("id", "name"))},
			Example{Label: "expert3", Text: fmt.Sprintf("%d + %d * %d = ? Compute %d / %d - %d.",
				rng.IntN(100), rng.IntN(100), rng.IntN(100), rng.IntN(1000), 1+rng.IntN(50), rng.IntN(10))},
		)
	}
	return out
}

// writeJSON writes v as JSON into path.
func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
