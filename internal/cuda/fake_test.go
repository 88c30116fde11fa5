//go:build cuda && linux && amd64

package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

// TestFakeDriver runs this package's device tests against
// testdata/fakecuda.cpp, a fake libcuda and libcublas that run kernels.cu
// on the host and hold every asynchronous copy and launch until its stream
// is synchronized. It checks the Go side without a GPU: the purego
// bindings, launch parameters, the chunked two-stream pipeline, counters,
// the GEMM's layout, and the kernels' source arithmetic against package
// tensor. It needs clang++-14 (apt-get install clang-14) and skips without.
func TestFakeDriver(t *testing.T) {
	if os.Getenv("GOMERGE_FAKE_CUDA") != "" {
		t.Skip("already running on the fake driver")
	}
	cxx, err := exec.LookPath("clang++-14")
	if err != nil {
		t.Skip("clang++-14 not installed")
	}
	// Read here so that go test's cache, which tracks the files the test
	// process opens, not clang's, reruns this test when they change.
	for _, f := range []string{"kernels.cu", "testdata/fakecuda.cpp"} {
		if _, err := os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	lib := filepath.Join(t.TempDir(), "libfakecuda.so")
	build := exec.Command(cxx, "-std=c++17", "-shared", "-fPIC", "-O1", "-ffp-contract=off", "-DGM_HOST_EMULATION",
		"-o", lib, "testdata/fakecuda.cpp")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the fake driver: %v\n%s", err, out)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^Test(Combine|Elementwise|AddInPlace|Bernoulli|PruneMagnitude|Convert)MatchesCPU$|^TestRMSNormMatchesReference$|^TestRoPEMatchesReference$|^Test(ActMul|Attention|LogProbs|Softcap)MatchesReference$|^Test(EmbedBF16|AddBias|ToBF16Dev)MatchesCPU$|^TestMatMulBF16$|^TestOutOfMemory$|^TestCheckFits$|^TestBLASMissing$", "-test.v")
	cmd.Env = append(os.Environ(), "GOMERGE_FAKE_CUDA="+lib, "GOMERGE_REQUIRE_CUDA=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("device tests on the fake driver: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "--- PASS"); n != 19 {
		t.Fatalf("%d device tests passed on the fake driver, want 19:\n%s", n, out)
	}
	t.Logf("%s", out)
}

// TestOutOfMemory asks for more device memory than the GPU has and checks
// the error names what it was for, the bytes needed and the bytes free.
func TestOutOfMemory(t *testing.T) {
	d := open(t, 0)
	var p uint64
	leave, err := d.enter()
	if err != nil {
		t.Fatal(err)
	}
	defer leave()
	err = d.alloc(&p, d.total*4, "tensor model.embed_tokens.weight")
	if err == nil {
		d.drv.cuMemFree(p)
		t.Fatal("allocating 4× the GPU's memory succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "not enough GPU memory for tensor model.embed_tokens.weight (needs ") || !strings.Contains(msg, "free ") {
		t.Errorf("error %q", msg)
	}
}

// TestCheckFits checks the pre-upload memory check: a size within the
// free memory passes, one beyond it fails naming what and the bytes.
func TestCheckFits(t *testing.T) {
	d := open(t, 0)
	if err := d.CheckFits("model tiny", 1<<20); err != nil {
		t.Fatalf("1 MiB: %v", err)
	}
	err := d.CheckFits("model big", d.total*4)
	if err == nil {
		t.Fatal("4× the GPU's memory fits")
	}
	if msg := err.Error(); !strings.Contains(msg, "model big does not fit in GPU memory (needs ") || !strings.Contains(msg, "free ") {
		t.Errorf("error %q", msg)
	}
}

// TestBLASMissing checks that a GEMM without cuBLAS fails with an error
// naming the library, and that the device still works afterwards.
func TestBLASMissing(t *testing.T) {
	d, err := Open(Config{Driver: os.Getenv("GOMERGE_FAKE_CUDA"), BLAS: "/nonexistent/libcublas.so.13"})
	if err != nil {
		if required() {
			t.Fatal(err)
		}
		t.Skipf("no CUDA device: %v", err)
	}
	defer d.Close()
	err = d.MatMulBF16(make([]float32, 1), []uint16{0x3f80}, []uint16{0x3f80}, 1, 1, 1)
	if err == nil || !strings.Contains(err.Error(), "cannot load cuBLAS") || !strings.Contains(err.Error(), "/nonexistent/libcublas.so.13") {
		t.Fatalf("MatMulBF16 without cuBLAS: %v", err)
	}
	x := []float32{1.5}
	if err := d.ScaleRound(tensor.BF16, x, 2); err != nil || x[0] != 3 {
		t.Fatalf("ScaleRound after the failed GEMM: %v, %v", x, err)
	}
}
