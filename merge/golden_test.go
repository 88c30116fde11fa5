package merge

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

// goldenDir holds mergekit's own outputs for tiny models (copied from the
// team's shared golden set; see its README).
const goldenDir = "../testdata/golden"

type goldenCase struct {
	Name          string   `json:"name"`
	Method        string   `json:"merge_method"`
	Config        string   `json:"config"`
	OutputDir     string   `json:"output_dir"`
	Command       []string `json:"command"`
	Deterministic bool     `json:"deterministic"`
	Compare       string   `json:"compare"`
	OutputDType   string   `json:"output_dtype"`
	Tolerance     struct {
		Atol, Rtol          float64
		MaxUlp              *int    `json:"max_ulp"`
		MaxMismatchFraction float64 `json:"max_mismatch_fraction"`
	} `json:"tolerance"`
}

func loadGoldenCases(t *testing.T) []goldenCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(goldenDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Cases []goldenCase }
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m.Cases
}

// runGolden merges a golden case's config with the case's flags.
func runGolden(t *testing.T, c goldenCase, threads int) string {
	t.Helper()
	cfg, err := LoadConfig(filepath.Join(goldenDir, c.Config))
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{PlanOptions: PlanOptions{Dir: goldenDir}, Seed: new(uint64(42)), Threads: threads, ShardSize: 5e9}
	if i := slices.Index(c.Command, "--out-shard-size"); i >= 0 {
		opt.ShardSize = 100e3 // the only value the manifest uses: 100K
		if c.Command[i+1] != "100K" {
			t.Fatalf("unexpected shard size %s", c.Command[i+1])
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Run(context.Background(), cfg, out, opt); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGolden(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		if !c.Deterministic {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			if _, ok := LookupMethod(c.Method); !ok {
				t.Skipf("method %s not implemented yet", c.Method)
			}
			out := runGolden(t, c, 2)
			compareModels(t, filepath.Join(goldenDir, c.OutputDir), out, c)
			// Element-wise and analysed methods stream tensors in pieces;
			// small pieces must give the same tensors within tolerance.
			defer func(n int64) { chunkElements = n }(chunkElements)
			chunkElements = 777
			pieces := runGolden(t, c, 1)
			if _, ok := LookupMethod(c.Method); ok && methods[c.Method].Analyze != nil {
				// Sums over pieces associate differently: compare with mergekit.
				compareModels(t, filepath.Join(goldenDir, c.OutputDir), pieces, c)
			} else {
				sameTensors(t, out, pieces)
			}
		})
	}
}

// readAll reads every tensor of a model directory as float64 values.
func readAll(t *testing.T, dir string) (map[string][]float64, map[string]safetensors.TensorInfo) {
	t.Helper()
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	vals := map[string][]float64{}
	infos := map[string]safetensors.TensorInfo{}
	for _, name := range m.Names() {
		info, _ := m.Tensor(name)
		raw := make([]byte, info.Size)
		if err := m.ReadTensor(name, raw); err != nil {
			t.Fatal(err)
		}
		dt, err := tensor.ParseDType(string(info.DType))
		if err != nil {
			t.Fatal(err)
		}
		f := make([]float32, info.NumElements())
		if err := tensor.Decode(f, raw, dt); err != nil {
			t.Fatal(err)
		}
		v := make([]float64, len(f))
		for i, x := range f {
			v[i] = float64(x)
		}
		vals[name], infos[name] = v, info
	}
	return vals, infos
}

// ulpDistance is the distance of two values in units of the last place of
// dtype dt.
func ulpDistance(a, b float64, dt tensor.DType) float64 {
	ord := func(x float64) int64 {
		var bits int64
		switch dt {
		case tensor.BF16:
			bits = int64(tensor.F32ToBF16(float32(x)))
			if bits&0x8000 != 0 {
				bits = -(bits & 0x7fff)
			}
		case tensor.F16:
			bits = int64(tensor.F32ToF16(float32(x)))
			if bits&0x8000 != 0 {
				bits = -(bits & 0x7fff)
			}
		default:
			u := int64(math.Float32bits(float32(x)))
			if u&0x80000000 != 0 {
				u = -(u & 0x7fffffff)
			}
			bits = u
		}
		return bits
	}
	return math.Abs(float64(ord(a) - ord(b)))
}

func compareModels(t *testing.T, wantDir, gotDir string, c goldenCase) {
	t.Helper()
	want, wantInfo := readAll(t, wantDir)
	got, gotInfo := readAll(t, gotDir)
	var wantNames, gotNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	for n := range got {
		gotNames = append(gotNames, n)
	}
	slices.Sort(wantNames)
	slices.Sort(gotNames)
	if !slices.Equal(wantNames, gotNames) {
		t.Fatalf("tensor names differ:\nwant %v\ngot  %v", wantNames, gotNames)
	}
	outDT, err := tensor.ParseTorchDType(c.OutputDType)
	if err != nil {
		t.Fatal(err)
	}
	tol := c.Tolerance
	var bad, total int
	for _, name := range wantNames {
		wi, gi := wantInfo[name], gotInfo[name]
		if !slices.Equal(wi.Shape, gi.Shape) {
			t.Errorf("%s: shape %v, want %v", name, gi.Shape, wi.Shape)
			continue
		}
		if string(gi.DType) != outDT.String() {
			t.Errorf("%s: dtype %s, want %s", name, gi.DType, outDT)
		}
		w, g := want[name], got[name]
		worst := ""
		for i := range w {
			total++
			ok := w[i] == g[i] || (c.Compare != "exact" && math.Abs(g[i]-w[i]) <= tol.Atol+tol.Rtol*math.Abs(w[i]))
			if ok && tol.MaxUlp != nil && ulpDistance(w[i], g[i], outDT) > float64(*tol.MaxUlp) {
				ok = false
			}
			if !ok {
				bad++
				if worst == "" {
					worst = fmt.Sprintf("%s[%d] = %g, want %g", name, i, g[i], w[i])
				}
			}
		}
		if worst != "" && tol.MaxMismatchFraction == 0 {
			t.Errorf("%s", worst)
		}
	}
	if frac := float64(bad) / float64(total); bad > 0 && frac > tol.MaxMismatchFraction {
		t.Errorf("%d of %d elements (%.4f%%) outside tolerance", bad, total, 100*frac)
	}
}

// sameTensors fails unless two model directories hold bit-identical tensors.
func sameTensors(t *testing.T, a, b string) {
	t.Helper()
	ma, err := safetensors.OpenModel(a)
	if err != nil {
		t.Fatal(err)
	}
	defer ma.Close()
	mb, err := safetensors.OpenModel(b)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	if !slices.Equal(ma.Names(), mb.Names()) {
		t.Fatalf("tensor names differ: %v vs %v", ma.Names(), mb.Names())
	}
	for _, name := range ma.Names() {
		ia, _ := ma.Tensor(name)
		ib, _ := mb.Tensor(name)
		ra, rb := make([]byte, ia.Size), make([]byte, ib.Size)
		if err := ma.ReadTensor(name, ra); err != nil {
			t.Fatal(err)
		}
		if err := mb.ReadTensor(name, rb); err != nil {
			t.Fatal(err)
		}
		if string(ra) != string(rb) || ia.DType != ib.DType {
			t.Errorf("%s differs between runs", name)
		}
	}
}
