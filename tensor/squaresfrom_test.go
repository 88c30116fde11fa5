package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// squaresFromRef is SquaresFromBF16 as RoundedDotsBF16 over copies of
// the vectors zeroed where v is below from[s].
func squaresFromRef(sums [][8]float64, xs [][]float32, v []float32, from *[8]uint32) {
	for s, f := range from {
		for i, x := range xs {
			z := slices.Clone(x)
			for j, a := range v {
				if math.Float32bits(a)&^(1<<31) < f {
					z[j] = 0
				}
			}
			sum := []float64{sums[i][s]}
			RoundedDotsBF16(sum, [][]float32{z}, [][2]int{{0, 0}})
			sums[i][s] = sum[0]
		}
	}
}

// TestSquaresFromBF16 compares SquaresFromBF16, in Go, AVX2 and AVX-512,
// with RoundedDotsBF16 over zeroed copies, bit for bit: one to nine
// vectors (groups of four and the rows after the last), lengths across
// the block of 256, values of every magnitude (the sums round) with zeros
// and infinities, variances that are negative, zero, NaN and equal to the
// bounds, bounds of 0, 2^31 and above, from non-zero sums.
func TestSquaresFromBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, models := range []int{1, 2, 3, 4, 5, 9} {
		for _, n := range []int{1, 7, 255, 256, 257, 1000} {
			xs := make([][]float32, models)
			for i := range xs {
				xs[i] = make([]float32, n)
				for j := range xs[i] {
					x := float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(60)-40)))
					switch rng.IntN(40) {
					case 0:
						x = 0
					case 1:
						x = float32(math.Inf(1))
					}
					xs[i][j] = RoundBF16(x)
				}
			}
			levels := []float32{0.5, 0.75, 1, 1.5, 2}
			v := make([]float32, n)
			for j := range v {
				v[j] = levels[rng.IntN(len(levels))]
				switch rng.IntN(30) {
				case 0:
					v[j] = 0
				case 1:
					v[j] = -v[j]
				case 2:
					v[j] = float32(math.NaN())
				}
			}
			from := &[8]uint32{0, math.Float32bits(0.5), math.Float32bits(0.75), math.Float32bits(1),
				math.Float32bits(1) + 1, math.Float32bits(2), 1 << 31, math.MaxUint32}
			switch n {
			case 7:
				from = &[8]uint32{math.Float32bits(1), 0, math.Float32bits(0.5), 1, math.MaxUint32, 0x7fffffff, 3, 0}
			case 257, 1000:
				// No bound of 0: positions below them all are dropped
				// before the sums (compressSquares).
				from = &[8]uint32{math.Float32bits(1), math.Float32bits(0.75), math.Float32bits(1) + 1,
					math.Float32bits(2), math.Float32bits(1.5), 1 << 31, math.MaxUint32, math.Float32bits(0.75) - 1}
			}
			want := make([][8]float64, models)
			for i := range want {
				for s := range want[i] {
					want[i][s] = float64(i*8+s) * 1e-3
				}
			}
			start := slices.Clone(want)
			squaresFromRef(want, xs, v, from)
			for _, impl := range []struct{ avx2, avx512 bool }{{false, false}, {true, false}, {true, true}} {
				name := fmt.Sprintf("models %d n %d avx2 %v avx512 %v", models, n, impl.avx2, impl.avx512)
				avx2, avx512 := useAVX2, useAVX512VL
				useAVX2, useAVX512VL = avx2 && impl.avx2, avx512 && impl.avx512
				got := slices.Clone(start)
				SquaresFromBF16(got, xs, v, from)
				useAVX2, useAVX512VL = avx2, avx512
				for i := range got {
					for s := range got[i] {
						if math.Float64bits(got[i][s]) != math.Float64bits(want[i][s]) {
							t.Fatalf("%s: sum %d/%d = %v, want %v", name, i, s, got[i][s], want[i][s])
						}
					}
				}
			}
		}
	}
}

// TestCompressAbove compares the compressing kernels, in Go and AVX-512,
// with plain loops: every length up to 70 and blocks of 256, bounds below
// 0, at 0, between the values and above them all, variances of both signs
// with zeros, NaNs and infinities.
func TestCompressAbove(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range append(asmLengths, 255, 256) {
		v, x := make([]float32, n), make([]float32, n)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
			x[j] = float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(60)-30)))
			switch rng.IntN(12) {
			case 0:
				v[j] = 0
			case 1:
				v[j] = float32(math.NaN())
			case 2:
				v[j] = float32(math.Inf(-1))
			case 3:
				x[j] = float32(math.Inf(1))
			}
		}
		for _, gt := range []int32{-1, 0, int32(math.Float32bits(0.5)), int32(math.Float32bits(1)), 0x7f800000, math.MaxInt32} {
			var wantV []float32
			var wantSq []float64
			for j, a := range v {
				if int32(math.Float32bits(a)&^(1<<31)) > gt {
					wantV = append(wantV, a)
					wantSq = append(wantSq, float64(RoundBF16(x[j]*x[j])))
				}
			}
			for _, avx512 := range []bool{false, true} {
				name := fmt.Sprintf("n %d gt %#x avx512 %v", n, gt, avx512)
				gotV, gotSq := make([]float32, n), make([]float64, n)
				var kv, ksq int
				if avx512 && compressSquares() {
					kv, ksq = compressAbove(gotV, v, gt), squaresAbove(gotSq, x, v, gt)
				} else {
					kv, ksq = compressAboveGeneric(gotV, v, gt, 0, 0), squaresAboveGeneric(gotSq, x, v, gt, 0, 0)
				}
				if kv != len(wantV) || ksq != len(wantSq) {
					t.Fatalf("%s: kept %d and %d, want %d", name, kv, ksq, len(wantV))
				}
				if !slices.EqualFunc(gotV[:kv], wantV, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
					t.Fatalf("%s: v %v, want %v", name, gotV[:kv], wantV)
				}
				if !slices.EqualFunc(gotSq[:ksq], wantSq, func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }) {
					t.Fatalf("%s: squares %v, want %v", name, gotSq[:ksq], wantSq)
				}
			}
		}
	}
}

// FuzzCompressAbove checks the compressing kernels' assembly against the
// Go references on vectors and a bound read from the fuzzer's bytes.
func FuzzCompressAbove(f *testing.F) {
	f.Add([]byte("\x00\x00\x80\x3f\x00\x00\x80\x7f\x01\x00\x80\xbf\xc0\x7f\x00\x80\x10\x3c"+"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), int32(0x3f000000))
	f.Fuzz(func(t *testing.T, raw []byte, gt int32) {
		if !compressSquares() {
			t.Skip("no AVX-512 kernel on this host")
		}
		n := len(raw) / 8
		v, x := make([]float32, n), make([]float32, n)
		for j := range n {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
			x[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(n+j):]))
		}
		gotV, wantV := make([]float32, n), make([]float32, n)
		gotSq, wantSq := make([]float64, n), make([]float64, n)
		kv, ksq := compressAbove(gotV, v, gt), squaresAbove(gotSq, x, v, gt)
		wv, wsq := compressAboveGeneric(wantV, v, gt, 0, 0), squaresAboveGeneric(wantSq, x, v, gt, 0, 0)
		if kv != wv || ksq != wsq {
			t.Fatalf("kept %d and %d, want %d and %d", kv, ksq, wv, wsq)
		}
		for j := range kv {
			if math.Float32bits(gotV[j]) != math.Float32bits(wantV[j]) {
				t.Fatalf("v[%d] = %#x, want %#x", j, math.Float32bits(gotV[j]), math.Float32bits(wantV[j]))
			}
		}
		for j := range ksq {
			if math.Float64bits(gotSq[j]) != math.Float64bits(wantSq[j]) {
				t.Fatalf("square %d = %#x, want %#x", j, math.Float64bits(gotSq[j]), math.Float64bits(wantSq[j]))
			}
		}
	})
}

// TestMinMagnitude compares MinMagnitude, with and without AVX2, with a
// plain loop: every length up to 40, the minimum at every position,
// negative entries, all zeros (0) and NaNs.
func TestMinMagnitude(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ref := func(x []float32) uint32 {
		m := uint32(0)
		for _, a := range x {
			if u := math.Float32bits(a) &^ (1 << 31); u != 0 && (m == 0 || u < m) {
				m = u
			}
		}
		return m
	}
	for n := 0; n <= 40; n++ {
		for at := -1; at < n; at++ {
			x := make([]float32, n)
			for j := range x {
				switch rng.IntN(4) {
				case 0:
					x[j] = float32(math.Copysign(0, rng.NormFloat64()))
				case 1:
					x[j] = float32(math.NaN())
				default:
					x[j] = float32(rng.NormFloat64() + 3)
				}
			}
			if at >= 0 {
				x[at] = -1e-30
			}
			want := ref(x)
			for _, avx := range []bool{false, true} {
				saved := useAVX2
				useAVX2 = useAVX2 && avx
				got := MinMagnitude(x)
				useAVX2 = saved
				if got != want {
					t.Fatalf("n %d at %d avx %v: got %#x, want %#x", n, at, avx, got, want)
				}
			}
		}
	}
	if got := MinMagnitude(make([]float32, 17)); got != 0 {
		t.Errorf("zeros: got %#x, want 0", got)
	}
}

// BenchmarkSquaresFromBF16 sums two and five vectors' squares for eight
// bounds, next to RoundedDotsBF16 summing them for one.
func BenchmarkSquaresFromBF16(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	v := make([]float32, 2048)
	for j := range v {
		v[j] = RoundBF16(float32(r.ExpFloat64() * 1e-6))
	}
	from := &[8]uint32{math.Float32bits(0.5e-6), math.Float32bits(0.6e-6), math.Float32bits(0.7e-6),
		math.Float32bits(0.8e-6), math.Float32bits(0.9e-6), math.Float32bits(1e-6), math.MaxUint32, math.MaxUint32}
	for _, models := range []int{2, 5} {
		xs := make([][]float32, models)
		pairs := make([][2]int, models)
		for i := range xs {
			xs[i] = make([]float32, len(v))
			for j := range xs[i] {
				xs[i][j] = RoundBF16(float32(r.NormFloat64() * 1e-3))
			}
			pairs[i] = [2]int{i, i}
		}
		sums := make([][8]float64, models)
		for _, avx512 := range []bool{false, true} {
			b.Run(fmt.Sprintf("from/%d/avx512=%v", models, avx512), func(b *testing.B) {
				defer func(u bool) { useAVX512VL = u }(useAVX512VL)
				useAVX512VL = useAVX512VL && avx512
				b.SetBytes(int64(4 * models * len(v)))
				for range b.N {
					SquaresFromBF16(sums, xs, v, from)
				}
			})
		}
		dots := make([]float64, models)
		b.Run(fmt.Sprintf("dots/%d", models), func(b *testing.B) {
			b.SetBytes(int64(4 * models * len(v)))
			for range b.N {
				RoundedDotsBF16(dots, xs, pairs)
			}
		})
	}
}
