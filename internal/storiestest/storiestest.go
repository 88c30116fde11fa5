// Package storiestest builds the test pool of gomerge automerge: the
// stories260K model of testdata/stories260K converted to a Hugging Face
// directory, copies of it damaged with noise on different layers, and an
// unrelated model of the same shapes. Tests only.
package storiestest

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/gomerge/gomerge/eval/model"
)

// Fixture is the pool of the tests: stories260K converted from
// testdata/stories260K (the base), three copies damaged with Gaussian
// noise on different layers (the fine-tunes), and an unrelated model of
// the same shapes (every weight redrawn at random).
type Fixture struct {
	Base      string
	FT        [3]string
	Unrelated string
}

// Build writes the fixture into tmp; root is the repository root (for
// testdata/stories260K).
func Build(root, tmp string) (Fixture, error) {
	var fx Fixture
	src := filepath.Join(root, "testdata/stories260K")
	fx.Base = filepath.Join(tmp, "stories")
	if err := model.ConvertLlama2C(filepath.Join(src, "stories260K.bin"), fx.Base); err != nil {
		return fx, err
	}
	raw, err := os.ReadFile(filepath.Join(fx.Base, "config.json"))
	if err != nil {
		return fx, err
	}
	var cfg struct {
		Vocab int `json:"vocab_size"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fx, err
	}
	if err := model.ConvertLlama2CTokenizer(filepath.Join(src, "tok512.bin"), fx.Base, cfg.Vocab); err != nil {
		return fx, err
	}
	// Noise levels that leave the three about equally damaged (held-out
	// word perplexity about 190, 200 and 250 against the original's 34).
	for i, d := range []struct {
		layers []int
		noise  float64
	}{{[]int{0, 1}, 0.2}, {[]int{2, 3}, 0.22}, {[]int{4}, 0.4}} {
		fx.FT[i] = filepath.Join(tmp, fmt.Sprintf("ft%c", 'A'+i))
		if err := Damage(fx.Base, fx.FT[i], func(name string) bool { return inLayers(name, d.layers) }, d.noise, false, uint64(i+1)); err != nil {
			return fx, err
		}
	}
	fx.Unrelated = filepath.Join(tmp, "unrelated")
	if err := Damage(fx.Base, fx.Unrelated, func(string) bool { return true }, 1, true, 99); err != nil {
		return fx, err
	}
	return fx, nil
}

// inLayers reports whether a tensor name is of one of the layers.
func inLayers(name string, layers []int) bool {
	var l int
	_, err := fmt.Sscanf(name, "model.layers.%d.", &l)
	return err == nil && slices.Contains(layers, l)
}

// Layers selects, for Damage, the tensors of the given decoder layers.
func Layers(layers ...int) func(string) bool {
	return func(name string) bool { return inLayers(name, layers) }
}

// Damage copies the model directory src to dst, adding Gaussian noise
// (scale × the tensor's RMS) to every float32 tensor pick selects, or
// replacing it by such noise when replace is set.
func Damage(src, dst string, pick func(string) bool, scale float64, replace bool, seed uint64) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if e.Name() == "model.safetensors" {
			if data, err = addNoise(data, pick, scale, replace, seed); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func addNoise(data []byte, pick func(string) bool, scale float64, replace bool, seed uint64) ([]byte, error) {
	n := binary.LittleEndian.Uint64(data)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &header); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	out := slices.Clone(data)
	body := out[8+n:]
	for _, name := range slices.Sorted(maps.Keys(header)) {
		if name == "__metadata__" || !pick(name) {
			continue
		}
		var info struct {
			DType   string   `json:"dtype"`
			Offsets [2]int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(header[name], &info); err != nil {
			return nil, err
		}
		if info.DType != "F32" {
			return nil, fmt.Errorf("%s: dtype %s, want F32", name, info.DType)
		}
		t := body[info.Offsets[0]:info.Offsets[1]]
		var ss float64
		for i := 0; i < len(t); i += 4 {
			v := float64(math.Float32frombits(binary.LittleEndian.Uint32(t[i:])))
			ss += v * v
		}
		sd := scale * math.Sqrt(ss/float64(len(t)/4))
		for i := 0; i < len(t); i += 4 {
			v := math.Float32frombits(binary.LittleEndian.Uint32(t[i:]))
			if replace {
				v = 0
			}
			v += float32(sd * rng.NormFloat64())
			binary.LittleEndian.PutUint32(t[i:], math.Float32bits(v))
		}
	}
	return out, nil
}
