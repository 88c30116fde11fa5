package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

func bf16Bits(f float32) uint32 { return uint32(toBF16(f)) }

// TestDpBF16 checks the Go reference of one VDPBF16PS lane against hand
// worked cases of the SDM definition: high halves first, each step
// rounded to nearest even, denormals in and out read and written as zero.
func TestDpBF16(t *testing.T) {
	one, two24 := bf16Bits(1), bf16Bits(1<<24)
	neg24 := bf16Bits(-(1 << 24))
	tiny := bf16Bits(0x1p-65) // normal, but its square is denormal
	for _, c := range []struct {
		name string
		acc  float32
		a, b uint32
		want float32
	}{
		{"pair", 0.5, bf16Bits(2)<<16 | bf16Bits(3), bf16Bits(5)<<16 | bf16Bits(7), 0.5 + 10 + 21},
		// 2^24 + 1 ties to 2^24, then 2^24 - 2^24 = 0; low half first would give 1.
		{"high first", 1 << 24, one<<16 | neg24, one<<16 | one, 0},
		{"tie to even", 0, two24<<16 | one, one<<16 | one, 1 << 24},
		{"step rounding", 1, bf16Bits(0x1p-24)<<16 | bf16Bits(0x1p-24), one<<16 | one, 1},
		{"ftz out", 0, tiny, tiny, 0},
		{"daz in", 0, 0x0001, bf16Bits(0x1p100), 0},
		{"daz acc", math.Float32frombits(1), 0, 0, 0},
	} {
		if got := dpBF16(c.acc, c.a, c.b); got != c.want || math.Signbit(float64(got)) != math.Signbit(float64(c.want)) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestToBF16(t *testing.T) {
	for _, c := range []struct {
		in   uint32
		want uint16
	}{
		{0x3f800000, 0x3f80}, {0x3f808000, 0x3f80}, {0x3f818000, 0x3f82}, {0x3f808001, 0x3f81},
		{0x7f7fffff, 0x7f80}, {0xff800000, 0xff80}, {0x7fa00000, 0x7fe0}, {0x80000000, 0x8000},
	} {
		if got := toBF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("toBF16(%#x) = %#x, want %#x", c.in, got, c.want)
		}
	}
	// It agrees with tensor's bf16 encoding on finite values.
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 2)
	for range 10000 {
		f := math.Float32frombits(rng.Uint32())
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			continue
		}
		tensor.Encode(buf, []float32{f}, tensor.BF16)
		if got, want := toBF16(f), uint16(buf[0])|uint16(buf[1])<<8; got != want {
			t.Fatalf("toBF16(%v) = %#x, tensor encodes %#x", f, got, want)
		}
	}
}

// TestGemm8x32BF16 compares the kernel (VDPBF16PS where the CPU has it)
// bit for bit with the Go reference on random pairs, for short and full
// k-blocks.
func TestGemm8x32BF16(t *testing.T) {
	if !hasBF16Dot {
		t.Skip("no AVX512_BF16")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{1, 2, 7, 33, kPairs} {
		var xs [8][]uint32
		for i := range xs {
			xs[i] = make([]uint32, k)
			for l := range xs[i] {
				xs[i][l] = bf16Bits(float32(rng.NormFloat64()))<<16 | bf16Bits(float32(rng.NormFloat64()))
			}
		}
		panel := make([]uint32, panelRows*k)
		for i := range panel {
			panel[i] = bf16Bits(float32(rng.NormFloat64()*3))<<16 | bf16Bits(float32(rng.NormFloat64()))
		}
		var got, want [256]float32
		gemm8x32BF16(&xs, panel, k, &got)
		gemm8x32BF16Generic(&xs, panel, k, &want)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("k=%d out[%d]: %v, reference %v", k, i, got[i], want[i])
			}
		}
	}
}

// TestMatmulBF16 compares the bf16 product (kernel and Go reference, 1 and
// 3 threads) with sums built from dpBF16 per k-block, for odd and even
// column counts, columns above kBlock, short last panels and tiles, and a
// bias: the result must not depend on threads or kernel.
func TestMatmulBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, sz := range [][3]int{{8, 1, 1}, {9, 33, 5}, {17, 64, 100}, {8, 95, kBlock + 3}, {40, 70, 2*kBlock + 2}} {
		n, rows, cols := sz[0], sz[1], sz[2]
		x := make([]float32, n*cols)
		w := make([]float32, rows*cols)
		bias := make([]float32, rows)
		for _, s := range [][]float32{x, w, bias} {
			for i := range s {
				s[i] = float32(rng.NormFloat64())
			}
		}
		m := &matrix{rows: rows, cols: cols, dt: tensor.BF16, raw: make([]byte, 2*rows*cols), bf16dot: true}
		tensor.Encode(m.raw, w, tensor.BF16)
		pair := func(s []float32, c int) uint32 {
			v := bf16Bits(s[c])
			if c+1 < cols {
				v |= bf16Bits(s[c+1]) << 16
			}
			return v
		}
		want := make([]float32, n*rows)
		for tk := range n {
			for r := range rows {
				var sum float32
				for c0 := 0; c0 < cols; c0 += kBlock {
					var blk float32
					for c := c0; c < min(cols, c0+kBlock); c += 2 {
						blk = dpBF16(blk, pair(x[tk*cols:], c), pair(w[r*cols:], c))
					}
					if c0 == 0 {
						sum = blk
					} else {
						sum += blk
					}
				}
				want[tk*rows+r] = sum + bias[r]
			}
		}
		for _, fast := range []bool{true, false} {
			for _, threads := range []int{1, 3} {
				t.Run(fmt.Sprintf("%dx%dx%d/fast=%v/t%d", n, rows, cols, fast, threads), func(t *testing.T) {
					saved := hasBF16Dot
					hasBF16Dot = hasBF16Dot && fast
					defer func() { hasBF16Dot = saved }()
					got := make([]float32, n*rows)
					matmulBF16(threads, got, x, n, m, bias)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("token %d row %d: %v, want %v", i/rows, i%rows, got[i], want[i])
						}
					}
				})
			}
		}
	}
}

// TestBF16DotLogits: with BF16Dot, the bf16 reference models' logits stay
// within a tolerance of the float32 path (the activations are rounded to
// bfloat16, so not within tol); without AVX512_BF16 the option is a no-op.
func TestBF16DotLogits(t *testing.T) {
	for _, name := range families7 {
		t.Run(name, func(t *testing.T) {
			ref := refTensors(t, filepath.Join(refDir, name+".safetensors"))
			dir := copyAs(t, filepath.Join(refDir, "models", name), tensor.BF16, nil)
			ids := toInts(ref["input_ids"])
			if len(ids) < tileToks {
				t.Fatalf("%d ids: the packed path needs %d", len(ids), tileToks)
			}
			var logits [2][]float32
			for i, dot := range []bool{false, true} {
				m, err := Open(dir, Options{BF16Dot: dot})
				if err != nil {
					t.Fatal(err)
				}
				if logits[i], err = m.Logits(ids); err != nil {
					t.Fatal(err)
				}
			}
			e := relErr(logits[1], logits[0])
			t.Logf("%s: BF16Dot logits relative error %.3g (AVX512_BF16 %v)", name, e, hasBF16Dot)
			if !hasBF16Dot && e != 0 {
				t.Errorf("no AVX512_BF16, yet BF16Dot changed the logits (%.3g)", e)
			}
			if e > 3e-2 {
				t.Errorf("relative error %.3g > 3e-2", e)
			}
		})
	}
}

// BenchmarkMatmulBF16 times one prompt-sized product (512 tokens, a
// 2048x768 bf16 matrix, one thread) widened to float32 while packed
// (Compact) and by VDPBF16PS (BF16Dot).
func BenchmarkMatmulBF16(b *testing.B) {
	const n, rows, cols = 512, 2048, 768
	rng := rand.New(rand.NewPCG(9, 10))
	x := make([]float32, n*cols)
	w := make([]float32, rows*cols)
	for _, s := range [][]float32{x, w} {
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
	}
	raw := make([]byte, 2*rows*cols)
	tensor.Encode(raw, w, tensor.BF16)
	dst := make([]float32, n*rows)
	for _, dot := range []bool{false, true} {
		b.Run(fmt.Sprintf("bf16dot=%v", dot), func(b *testing.B) {
			if dot && !hasBF16Dot {
				b.Skip("no AVX512_BF16")
			}
			m := &matrix{rows: rows, cols: cols, dt: tensor.BF16, raw: raw, bf16dot: dot}
			for b.Loop() {
				matmul(1, dst, x, n, m, nil)
			}
			b.ReportMetric(float64(2*n*rows*cols)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestPairRow compares the conversion of x to bf16 pairs (VCVTNE2PS2BF16
// where the CPU has it) with toBF16 on random bits, lengths around the
// 32-float blocks: equal, but for denormals, which the instruction may
// flush to zero (VDPBF16PS reads them as zero either way).
func TestPairRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range []int{1, 2, 31, 32, 33, 64, 95, 768, 769} {
		x := make([]float32, n)
		for i := range x {
			switch i % 3 {
			case 0:
				x[i] = math.Float32frombits(rng.Uint32())
			default:
				x[i] = float32(rng.NormFloat64())
			}
		}
		got := make([]uint32, (n+1)/2)
		want := make([]uint32, (n+1)/2)
		pairRow(got, x)
		pairRowGeneric(want, x)
		for l := range got {
			for h := range 2 {
				g, w := uint16(got[l]>>(16*h)), uint16(want[l]>>(16*h))
				if g != w && !(w&0x7f80 == 0 && g&0x7fff == 0 && g&0x8000 == w&0x8000) {
					t.Fatalf("n=%d pair %d half %d: %#x, want %#x (x %v)", n, l, h, g, w, x[2*l+h])
				}
			}
		}
	}
}

// TestBF16DotMoE: the mixtures of experts (expert matrices are views of
// stacked tensors) in bf16 score batches with BF16Dot within a tolerance
// of the float32 path.
func TestBF16DotMoE(t *testing.T) {
	for _, name := range moeRefCases {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(refMoEDir, name)
			if _, err := os.Stat(src); err != nil {
				t.Skipf("no reference data: %v", err)
			}
			ref := refTensors(t, filepath.Join(src, "ref.safetensors"))
			var seqs [][]int
			for s := 0; ref[fmt.Sprintf("ids_%d", s)] != nil; s++ {
				seqs = append(seqs, toInts(ref[fmt.Sprintf("ids_%d", s)]))
			}
			dir := copyAs(t, src, tensor.BF16, nil)
			var logits [2][][]float32
			for i, dot := range []bool{false, true} {
				m, err := Open(dir, Options{BF16Dot: dot})
				if err != nil {
					t.Fatal(err)
				}
				if logits[i], err = m.LogitsBatch(seqs); err != nil {
					t.Fatal(err)
				}
			}
			for s := range seqs {
				e := relErr(logits[1][s], logits[0][s])
				t.Logf("%s sequence %d (%d ids): BF16Dot logits relative error %.3g", name, s, len(seqs[s]), e)
				if !hasBF16Dot && e != 0 || e > 3e-2 {
					t.Errorf("sequence %d: relative error %.3g", s, e)
				}
			}
		})
	}
}
