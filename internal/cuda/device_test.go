//go:build cuda && linux && amd64

package cuda

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

// required says that this run is on a GPU machine (bench/gpu.sh): a device
// that cannot be opened fails the tests instead of skipping them.
func required() bool { return os.Getenv("GOMERGE_REQUIRE_CUDA") == "1" }

// open opens device 0 with small chunks, so that every operation streams
// several chunks through both slots, or skips without a GPU.
func open(t testing.TB, chunk int) *Device {
	t.Helper()
	fake := os.Getenv("GOMERGE_FAKE_CUDA") // set by TestFakeDriver
	d, err := Open(Config{Driver: fake, BLAS: fake, Chunk: chunk})
	if err != nil {
		if required() {
			t.Fatalf("GOMERGE_REQUIRE_CUDA=1 and Open: %v", err)
		}
		t.Skipf("no CUDA device: %v", err)
	}
	t.Logf("device: %s", d)
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

func TestOpenMissingDriver(t *testing.T) {
	_, err := Open(Config{Driver: "/nonexistent/libcuda.so.1"})
	if err == nil || !strings.Contains(err.Error(), "cannot load the CUDA driver") || !strings.Contains(err.Error(), "/nonexistent/libcuda.so.1") {
		t.Fatalf("Open with a missing driver: %v", err)
	}
}

// TestOpenDefault opens the default driver: on a machine without one the
// error names libcuda.so.1; with one the device must work.
func TestOpenDefault(t *testing.T) {
	d, err := Open(Config{Driver: os.Getenv("GOMERGE_FAKE_CUDA")})
	if err != nil {
		if required() {
			t.Fatal(err)
		}
		if !strings.Contains(err.Error(), "libcuda.so.1") && !errors.Is(err, ErrNoDevice) {
			t.Errorf("error does not name the library: %v", err)
		}
		return
	}
	defer d.Close()
	if d.Name() != "cuda" || !strings.Contains(d.String(), "sm_") {
		t.Errorf("Name %q String %q", d.Name(), d)
	}
}

// values returns n floats rounded to work: mostly normal values of a
// task vector's scale, with zeros of both signs, subnormals, huge values
// and infinities mixed in, and runs of repeated magnitudes.
func values(r *rand.Rand, work tensor.DType, n int) []float32 {
	x := make([]float32, n)
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-40, -3e-39, 6e-8, 3e38, -3e38, float32(math.Inf(1)), float32(math.Inf(-1)), 65504, 1e-5}
	for i := range x {
		switch v := r.IntN(100); {
		case v < 4:
			x[i] = special[r.IntN(len(special))]
		case v < 20:
			x[i] = float32(r.IntN(7)-3) * 0.0078125
		default:
			x[i] = float32(r.NormFloat64() * 0.01)
		}
	}
	tensor.Round(work, x)
	return x
}

// sameBits fails unless a and b agree bit for bit, NaNs agreeing with any
// NaN (only their payloads may differ).
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		g, w := math.Float32bits(got[i]), math.Float32bits(want[i])
		if g != w && !(got[i] != got[i] && want[i] != want[i]) {
			t.Fatalf("%s: element %d of %d: got %g (%#08x), CPU %g (%#08x)", what, i, len(want), got[i], g, want[i], w)
		}
	}
}

var (
	works = []tensor.DType{tensor.BF16, tensor.F16, tensor.F32}
	sizes = []int{0, 1, 31, 4095, 4096, 4097, 3*4096 + 5, 100_003}
)

func TestCombineMatchesCPU(t *testing.T) {
	d := open(t, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for _, work := range works {
		for _, n := range sizes {
			for _, k := range []int{1, 2, 5} {
				xs := make([][]float32, k)
				ws := make([]float32, k)
				for i := range xs {
					xs[i] = values(r, work, n)
					ws[i] = tensor.RoundScalar(work, float32(r.Float64()*1.5-0.25))
				}
				for _, normalize := range []bool{false, true} {
					div := tensor.RoundScalar(work, 0.7)
					got, want := make([]float32, n), make([]float32, n)
					if err := d.WeightedSum(work, got, xs, ws, normalize, div); err != nil {
						t.Fatal(err)
					}
					tensor.CPU.WeightedSum(work, want, xs, ws, normalize, div)
					sameBits(t, "WeightedSum "+work.String(), got, want)

					cp := make([][]float32, k)
					for i := range xs {
						cp[i] = slices.Clone(xs[i])
					}
					if err := d.SignConsensus(work, got, xs, ws, normalize); err != nil {
						t.Fatal(err)
					}
					tensor.CPU.SignConsensus(work, want, cp, ws, normalize)
					sameBits(t, "SignConsensus "+work.String(), got, want)
				}
			}
		}
	}
}

func TestElementwiseMatchesCPU(t *testing.T) {
	d := open(t, 4096)
	r := rand.New(rand.NewPCG(3, 4))
	for _, work := range works {
		for _, n := range sizes {
			a, b := values(r, work, n), values(r, work, n)
			got, want := make([]float32, n), make([]float32, n)
			if err := d.SubRound(work, got, a, b); err != nil {
				t.Fatal(err)
			}
			tensor.CPU.SubRound(work, want, a, b)
			sameBits(t, "SubRound "+work.String(), got, want)

			// in place, as the executor makes task vectors
			x := slices.Clone(a)
			if err := d.SubRound(work, x, x, b); err != nil {
				t.Fatal(err)
			}
			sameBits(t, "SubRound in place", x, want)

			s := tensor.RoundScalar(work, 1.37)
			got, want = slices.Clone(a), slices.Clone(a)
			if err := d.ScaleRound(work, got, s); err != nil {
				t.Fatal(err)
			}
			tensor.ScaleRound(work, want, s)
			sameBits(t, "ScaleRound "+work.String(), got, want)

			s0, s1 := tensor.RoundScalar(work, 0.3), tensor.RoundScalar(work, 0.7)
			if err := d.Blend(work, got, a, b, s0, s1); err != nil {
				t.Fatal(err)
			}
			p, q := slices.Clone(a), slices.Clone(b)
			tensor.ScaleRound(work, p, s0)
			tensor.ScaleRound(work, q, s1)
			tensor.Add(p, q)
			tensor.Round(work, p)
			sameBits(t, "Blend "+work.String(), got, p)
		}
	}
}

// TestAddInPlaceMatchesCPU checks the residual-add kernel against
// tensor.Add bit for bit, across the chunk boundaries of sizes.
func TestAddInPlaceMatchesCPU(t *testing.T) {
	d := open(t, 4096)
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range sizes {
		x, y := values(r, tensor.F32, n), values(r, tensor.F32, n)
		want := slices.Clone(x)
		tensor.Add(want, y)
		if err := d.AddInPlace(x, y); err != nil {
			t.Fatal(err)
		}
		sameBits(t, "AddInPlace", x, want)
	}
	if err := d.AddInPlace(make([]float32, 3), make([]float32, 2)); err == nil {
		t.Error("AddInPlace of lengths 3 and 2 succeeded")
	}
}

// TestRMSNormMatchesReference checks the RMSNorm kernel against a Go
// reference with eval/model's formula, on odd row lengths and row counts.
func TestRMSNormMatchesReference(t *testing.T) {
	d := open(t, 4096)
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct{ rows, n int }{{1, 1}, {3, 7}, {5, 64}, {2, 4097}} {
		x, w := make([]float32, c.rows*c.n), make([]float32, c.n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		for i := range w {
			w[i] = float32(1 + r.NormFloat64()/8)
		}
		got := make([]float32, len(x))
		if err := d.RMSNorm(got, x, w, 1e-5); err != nil {
			t.Fatal(err)
		}
		for row := range c.rows {
			xs := x[row*c.n : (row+1)*c.n]
			ss := 0.0
			for _, v := range xs {
				ss += float64(v) * float64(v)
			}
			s := float32(1 / math.Sqrt(float64(float32(ss/float64(c.n)+1e-5))))
			for i, v := range xs {
				want := float32(v*s) * w[i]
				if g := got[row*c.n+i]; g != want {
					t.Fatalf("%dx%d [%d,%d]: %g, want %g", c.rows, c.n, row, i, g, want)
				}
			}
		}
	}
	if err := d.RMSNorm(make([]float32, 5), make([]float32, 5), make([]float32, 2), 1e-5); err == nil {
		t.Error("RMSNorm of 5 floats in rows of 2 succeeded")
	}
}

// TestRoPEMatchesReference checks the RoPE kernel against eval/model's
// rotation written out in Go, bit for bit, with several heads and rows.
func TestRoPEMatchesReference(t *testing.T) {
	d := open(t, 4096)
	r := rand.New(rand.NewPCG(9, 10))
	for _, c := range []struct{ n, heads, dim int }{{1, 1, 2}, {3, 2, 8}, {7, 4, 64}} {
		half := c.dim / 2
		x := make([]float32, c.n*c.heads*c.dim)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		cos, sin := make([]float32, c.n*half), make([]float32, c.n*half)
		for i := range cos {
			a := r.Float64() * 100
			cos[i], sin[i] = float32(math.Cos(a)), float32(math.Sin(a))
		}
		want := slices.Clone(x)
		for th := range c.n * c.heads {
			v, tt := want[th*c.dim:(th+1)*c.dim], th/c.heads
			for i := range half {
				a, b := v[i], v[i+half]
				v[i] = a*cos[tt*half+i] - b*sin[tt*half+i]
				v[i+half] = b*cos[tt*half+i] + a*sin[tt*half+i]
			}
		}
		if err := d.RoPE(x, c.n, c.heads, c.dim, cos, sin); err != nil {
			t.Fatal(err)
		}
		sameBits(t, "RoPE", x, want)
	}
	if err := d.RoPE(make([]float32, 6), 1, 2, 3, make([]float32, 1), make([]float32, 1)); err == nil {
		t.Error("RoPE with an odd head size succeeded")
	}
}

func TestBernoulliMatchesCPU(t *testing.T) {
	d := open(t, 4096)
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range sizes {
		for _, first := range []uint64{0, 1, 4096, 12345, 1<<40 + 1} {
			for _, bound := range []uint64{0, 1 << 30, 3 << 30, 1 << 32} {
				x := values(r, tensor.BF16, n)
				want := slices.Clone(x)
				key := r.Uint64()
				kept, err := d.Bernoulli(x, key, first, bound)
				if err != nil {
					t.Fatal(err)
				}
				k := tensor.KeepBelowStream(want, key, first, bound)
				sameBits(t, "Bernoulli", x, want)
				if kept != k {
					t.Fatalf("Bernoulli n %d first %d bound %d: kept %d, CPU %d", n, first, bound, kept, k)
				}
			}
		}
	}
}

func TestPruneMagnitudeMatchesCPU(t *testing.T) {
	d := open(t, 4096)
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range sizes[1:] {
		x := values(r, tensor.BF16, n)
		thr := math.Float32bits(0.0078125) // a magnitude with many ties
		total := tensor.CountMagnitude(x, thr)
		for _, ties := range []int{0, 1, total / 2, total, total + 3} {
			got, want := slices.Clone(x), slices.Clone(x)
			left, err := d.PruneMagnitude(got, thr, ties)
			if err != nil {
				t.Fatal(err)
			}
			l := tensor.PruneMagnitude(want, thr, ties)
			sameBits(t, "PruneMagnitude", got, want)
			if left != l {
				t.Fatalf("PruneMagnitude n %d ties %d: %d left, CPU %d", n, ties, left, l)
			}
		}
	}
}

// TestConvertMatchesCPU decodes every 16-bit pattern and encodes float32s
// of every exponent, with NaN payloads compared bit for bit (integer
// arithmetic on both sides).
func TestConvertMatchesCPU(t *testing.T) {
	d := open(t, 1<<14)
	bits16 := make([]uint16, 1<<16)
	for i := range bits16 {
		bits16[i] = uint16(i)
	}
	got := make([]float32, len(bits16))
	if err := d.DecodeBF16(got, bits16); err != nil {
		t.Fatal(err)
	}
	for i, h := range bits16 {
		if math.Float32bits(got[i]) != math.Float32bits(tensor.BF16ToF32(h)) {
			t.Fatalf("DecodeBF16(%#04x) = %#08x", h, math.Float32bits(got[i]))
		}
	}
	if err := d.DecodeF16(got, bits16); err != nil {
		t.Fatal(err)
	}
	for i, h := range bits16 {
		if math.Float32bits(got[i]) != math.Float32bits(tensor.F16ToF32(h)) {
			t.Fatalf("DecodeF16(%#04x) = %#08x, CPU %#08x", h, math.Float32bits(got[i]), math.Float32bits(tensor.F16ToF32(h)))
		}
	}
	r := rand.New(rand.NewPCG(9, 10))
	src := make([]float32, 1<<20)
	for i := range src {
		src[i] = math.Float32frombits(r.Uint32())
	}
	for i := 0; i < 1<<16; i++ { // every bfloat16 and its neighbours: ties
		src[i] = math.Float32frombits(uint32(i)<<16 | uint32(i&3)<<14)
	}
	enc := make([]uint16, len(src))
	if err := d.EncodeBF16(enc, src); err != nil {
		t.Fatal(err)
	}
	for i, v := range src {
		if enc[i] != tensor.F32ToBF16(v) {
			t.Fatalf("EncodeBF16(%#08x) = %#04x, CPU %#04x", math.Float32bits(v), enc[i], tensor.F32ToBF16(v))
		}
	}
	if err := d.EncodeF16(enc, src); err != nil {
		t.Fatal(err)
	}
	for i, v := range src {
		if enc[i] != tensor.F32ToF16(v) {
			t.Fatalf("EncodeF16(%#08x) = %#04x, CPU %#04x", math.Float32bits(v), enc[i], tensor.F32ToF16(v))
		}
	}
}

func TestMatMulBF16(t *testing.T) {
	d := open(t, 0)
	r := rand.New(rand.NewPCG(11, 12))
	for _, s := range [][3]int{{1, 1, 1}, {3, 5, 7}, {64, 48, 96}, {257, 129, 513}} {
		m, n, k := s[0], s[1], s[2]
		a, b := make([]uint16, m*k), make([]uint16, k*n)
		for i := range a {
			a[i] = tensor.F32ToBF16(float32(r.NormFloat64()))
		}
		for i := range b {
			b[i] = tensor.F32ToBF16(float32(r.NormFloat64()))
		}
		c := make([]float32, m*n)
		if err := d.MatMulBF16(c, a, b, m, n, k); err != nil {
			t.Fatal(err)
		}
		for i := range m {
			for j := range n {
				var want, mag float64
				for l := range k {
					p := float64(tensor.BF16ToF32(a[i*k+l])) * float64(tensor.BF16ToF32(b[l*n+j]))
					want += p
					mag += math.Abs(p)
				}
				if math.Abs(float64(c[i*n+j])-want) > 1e-5*mag+1e-6 {
					t.Fatalf("%dx%dx%d: c[%d,%d] = %g, want %g", m, n, k, i, j, c[i*n+j], want)
				}
			}
		}
	}
	if err := d.MatMulBF16(make([]float32, 3), make([]uint16, 2), make([]uint16, 2), 1, 2, 2); err == nil {
		t.Error("MatMulBF16 with a short c succeeded")
	}
}

// BenchmarkGEMM measures cuBLAS's bfloat16 GEMM (float32 accumulation,
// bfloat16 output) on device-resident 4096² and 8192² matrices.
func BenchmarkGEMM(b *testing.B) {
	d := open(b, 0)
	for _, s := range []int{4096, 8192} {
		b.Run(strconv.Itoa(s), func(b *testing.B) {
			leave, err := d.enter()
			if err != nil {
				b.Fatal(err)
			}
			defer leave()
			var a, bb, c uint64
			for _, p := range []*uint64{&a, &bb, &c} {
				if err := d.alloc(p, uint64(2*s*s), "a benchmark matrix"); err != nil {
					b.Fatal(err)
				}
				defer d.drv.cuMemFree(*p)
			}
			if err := d.gemm(s, s, s, a, bb, c, cudaR16BF); err != nil { // warm up, load cuBLAS
				b.Fatal(err)
			}
			d.drv.cuStreamSynchronize(d.streams[0])
			b.ResetTimer()
			for range b.N {
				if err := d.gemm(s, s, s, a, bb, c, cudaR16BF); err != nil {
					b.Fatal(err)
				}
			}
			d.drv.cuStreamSynchronize(d.streams[0])
			b.ReportMetric(2*float64(s)*float64(s)*float64(s)*float64(b.N)/b.Elapsed().Seconds()/1e12, "TFLOP/s")
		})
	}
}

// BenchmarkSignConsensus measures the TIES combine of three 16 Mi-element
// task vectors from host memory to host memory, GPU against CPU.
func BenchmarkSignConsensus(b *testing.B) {
	const n = 1 << 24
	r := rand.New(rand.NewPCG(1, 1))
	ds := [][]float32{values(r, tensor.BF16, n), values(r, tensor.BF16, n), values(r, tensor.BF16, n)}
	ws := []float32{0.5, 0.3, 0.2}
	out := make([]float32, n)
	for _, be := range []string{"cpu", "cuda"} {
		b.Run(be, func(b *testing.B) {
			var backend tensor.Backend = tensor.CPU
			if be == "cuda" {
				backend = open(b, 0)
			}
			b.SetBytes(4 * n * 4) // three inputs in, one output out
			for range b.N {
				if err := backend.SignConsensus(tensor.BF16, out, ds, ws, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestPcopy(t *testing.T) {
	for _, n := range []int{0, 1, 1 << 20, 3<<20 + 7, 20 << 20} {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(i * 7)
		}
		dst := make([]byte, n+5)
		pcopy(dst, src)
		if !slices.Equal(dst[:n], src) || !slices.Equal(dst[n:], make([]byte, 5)) {
			t.Fatalf("pcopy of %d bytes", n)
		}
	}
}
