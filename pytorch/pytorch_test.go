package pytorch

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomerge/gomerge/safetensors"
	"github.com/gomerge/gomerge/tensor"
)

const (
	refDir    = "../testdata/ref/torch"
	ownDir    = "../testdata/torch"
	goldenDir = "../testdata/golden/models"
)

// expectTensors checks that src holds exactly the tensors of want, each
// byte-identical, whole and in ranges at every element boundary.
func expectTensors(t *testing.T, src safetensors.Source, want *safetensors.File) {
	t.Helper()
	var wantNames []string
	for _, ti := range want.Tensors() {
		wantNames = append(wantNames, ti.Name)
	}
	got := slices.Sorted(slices.Values(src.Names()))
	slices.Sort(wantNames)
	if !slices.Equal(got, wantNames) {
		t.Fatalf("names %v, want %v", got, wantNames)
	}
	for _, name := range wantNames {
		w, _ := want.Tensor(name)
		g, ok := src.Tensor(name)
		if !ok {
			t.Fatalf("Tensor(%q) missing", name)
		}
		if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || g.Size != w.Size {
			t.Errorf("%s: %s %v %d bytes, want %s %v %d", name, g.DType, g.Shape, g.Size, w.DType, w.Shape, w.Size)
			continue
		}
		wb := make([]byte, w.Size)
		if err := want.ReadTensorAt(w, wb); err != nil {
			t.Fatal(err)
		}
		gb := make([]byte, g.Size)
		if err := src.ReadTensorRange(name, 0, gb); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(gb, wb) {
			t.Errorf("%s: bytes differ", name)
			continue
		}
		// Ranges: a middle piece and an unaligned one.
		if n := int64(len(wb)); n > 2 {
			for _, r := range [][2]int64{{1, n - 2}, {n / 3, n / 2}, {n - 1, 1}} {
				buf := make([]byte, r[1])
				if err := src.ReadTensorRange(name, r[0], buf); err != nil {
					t.Fatalf("%s range %v: %v", name, r, err)
				}
				if !bytes.Equal(buf, wb[r[0]:r[0]+r[1]]) {
					t.Errorf("%s range %v: bytes differ", name, r)
				}
			}
		}
	}
}

func openExpected(t *testing.T, path string) *safetensors.File {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestVariants(t *testing.T) {
	want := openExpected(t, filepath.Join(refDir, "variants/expected.safetensors"))
	for _, tc := range []struct {
		file   string
		legacy bool
	}{
		{"variants.bin", false},
		{"variants_legacy.bin", true},
		{"variants_proto4.bin", false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f, err := Open(filepath.Join(refDir, "variants", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Legacy() != tc.legacy {
				t.Errorf("Legacy() = %v", f.Legacy())
			}
			expectTensors(t, f, want)
			if f.Names()[0] != "f32" || f.Names()[len(f.Names())-1] != "expand" {
				t.Errorf("names not in checkpoint order: %v", f.Names())
			}
			// Contiguous stored tensors report their file offset.
			if ti, _ := f.Tensor("f32"); ti.Offset <= 0 {
				t.Errorf("f32 offset %d", ti.Offset)
			}
			if ti, _ := f.Tensor("view_t"); ti.Offset != -1 {
				t.Errorf("view_t offset %d, want -1", ti.Offset)
			}
		})
	}
}

func TestStateDict(t *testing.T) {
	want := openExpected(t, filepath.Join(refDir, "sharded_expected.safetensors"))
	f, err := Open(filepath.Join(refDir, "statedict/pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	expectTensors(t, f, want)

	m, err := OpenModel(filepath.Join(refDir, "statedict"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	expectTensors(t, m, want)
}

func TestOpenModelSharded(t *testing.T) {
	want := openExpected(t, filepath.Join(refDir, "sharded_expected.safetensors"))
	dir := filepath.Join(refDir, "sharded")
	if !HasCheckpoint(dir) {
		t.Fatal("HasCheckpoint = false")
	}
	m, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	expectTensors(t, m, want)
	if got := m.File("model.norm.weight"); !strings.HasPrefix(filepath.Base(got), "pytorch_model-0000") {
		t.Errorf("File = %q", got)
	}

	// Concurrent reads agree with sequential ones.
	var wg sync.WaitGroup
	errs := make(chan error, len(m.Names()))
	for _, name := range m.Names() {
		wg.Go(func() {
			ti, _ := m.Tensor(name)
			got := make([]byte, ti.Size)
			if err := m.ReadTensorRange(name, 0, got); err != nil {
				errs <- err
				return
			}
			w, _ := want.Tensor(name)
			wb := make([]byte, w.Size)
			if err := want.ReadTensorAt(w, wb); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, wb) {
				errs <- errors.New(name + ": bytes differ")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestOpenModelErrors(t *testing.T) {
	dir := t.TempDir()
	if HasCheckpoint(dir) {
		t.Error("HasCheckpoint(empty) = true")
	}
	if _, err := OpenModel(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty dir: %v", err)
	}
	os.WriteFile(filepath.Join(dir, indexFile), []byte(`{"weight_map":{"a":"../x.bin"}}`), 0o644)
	if _, err := OpenModel(dir); err == nil || !strings.Contains(err.Error(), "not a file inside") {
		t.Errorf("escaping shard: %v", err)
	}
	// A weight_map naming the wrong shard.
	src, _ := os.ReadFile(filepath.Join(refDir, "variants/variants.bin"))
	os.WriteFile(filepath.Join(dir, "a.bin"), src, 0o644)
	os.WriteFile(filepath.Join(dir, indexFile), []byte(`{"weight_map":{"nope":"a.bin"}}`), 0o644)
	if _, err := OpenModel(dir); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("wrong weight_map: %v", err)
	}
}

// TestFT2 reads checkpoints that torch 1.13 saved of a golden model.
func TestFT2(t *testing.T) {
	golden, err := safetensors.OpenModel(filepath.Join(goldenDir, "ft2_f32"))
	if err != nil {
		t.Fatal(err)
	}
	defer golden.Close()
	for _, tc := range []struct {
		dir  string
		bf16 bool
	}{{"ft2_bin", false}, {"ft2_bin_bf16", true}} {
		t.Run(tc.dir, func(t *testing.T) {
			m, err := OpenModel(filepath.Join(ownDir, tc.dir))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if !slices.Equal(m.Names(), golden.Names()) {
				t.Fatalf("names %v, want %v", m.Names(), golden.Names())
			}
			for _, name := range golden.Names() {
				w, _ := golden.Tensor(name)
				wb := make([]byte, w.Size)
				if err := golden.ReadTensor(name, wb); err != nil {
					t.Fatal(err)
				}
				if tc.bf16 {
					f := make([]float32, w.NumElements())
					if err := tensor.Decode(f, wb, tensor.F32); err != nil {
						t.Fatal(err)
					}
					wb = make([]byte, 2*len(f))
					if err := tensor.Encode(wb, f, tensor.BF16); err != nil {
						t.Fatal(err)
					}
				}
				g, _ := m.Tensor(name)
				gb := make([]byte, g.Size)
				if err := m.ReadTensor(name, gb); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(g.Shape, w.Shape) || !bytes.Equal(gb, wb) {
					t.Errorf("%s: %s %v differs from golden", name, g.DType, g.Shape)
				}
			}
		})
	}
}

// TestMaliciousFile refuses the checkpoint whose pickle calls os.system.
func TestMaliciousFile(t *testing.T) {
	path := filepath.Join(ownDir, "malicious_bin/pytorch_model.bin")
	_, err := Open(path)
	if !errors.Is(err, ErrUnsafe) {
		t.Fatalf("err = %v, want ErrUnsafe", err)
	}
	for _, want := range []string{path, `"posix.system"`, "not allowed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := OpenModel(filepath.Dir(path)); !errors.Is(err, ErrUnsafe) {
		t.Errorf("OpenModel: %v", err)
	}
	if _, err := os.Stat("/tmp/gomerge-pwned"); err == nil {
		t.Log("/tmp/gomerge-pwned exists (left by something else: this reader runs nothing)")
	}
}

func TestReadTensorRangeErrors(t *testing.T) {
	f, err := Open(filepath.Join(refDir, "variants/variants.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.ReadTensorRange("missing", 0, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	for _, r := range [][2]int64{{-1, 1}, {0, 49}, {48, 1}} {
		if err := f.ReadTensorRange("f32", r[0], make([]byte, r[1])); err == nil {
			t.Errorf("range %v of 48 bytes: no error", r)
		}
	}
	if err := f.ReadTensor("f32", make([]byte, 4)); err == nil {
		t.Error("ReadTensor with a short buffer: no error")
	}
}
