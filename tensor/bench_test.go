package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// Benchmarks reuse buffers allocated and written before the timer starts:
// first touches of fresh memory would dominate otherwise. Every benchmark
// runs each kernel implementation as a sub-benchmark, impl=generic and, on
// hosts with AVX2, impl=avx2, so that
//
//	go test ./tensor -run '^$' -bench . -count 6 > bench.txt
//	benchstat -col /impl bench.txt
//
// prints the speed-up. SetBytes counts 4 bytes per element (the float32
// side) for every kernel, so MB/s compare across kernels.
//
// Medians of 6 runs (-benchtime 0.5s), generic → AVX2, measured 2026-11-26
// on an AMD EPYC with 2 cores shared with other work, go1.26.8. At 4K (16
// KiB per buffer) the data is in L1 or L2, at 1M (4 MiB) in L3, at 16M in
// DRAM, whose bandwidth bounds the AVX2 kernels. (Encode F16 at 4K is from
// a rerun: the shared machine disturbed half of the first runs.)
//
//	kernel                n=4K                      n=1M                      n=16M
//	Decode BF16           672 ns → 109 ns 6.2×      174 µs → 56.8 µs 3.1×     2.93 ms → 2.13 ms 1.4×
//	Decode F16            960 ns → 151 ns 6.4×      245 µs → 57.6 µs 4.3×     7.35 ms → 2.14 ms 3.4×
//	DecodeUnaligned BF16  798 ns → 229 ns 3.5×      206 µs → 67.2 µs 3.1×     3.83 ms → 2.63 ms 1.5×
//	DecodeUnaligned F16   1.07 µs → 273 ns 3.9×     274 µs → 80.6 µs 3.4×     8.31 ms → 2.72 ms 3.1×
//	Encode BF16           2.44 µs → 337 ns 7.2×     609 µs → 82.5 µs 7.4×     9.47 ms → 2.43 ms 3.9×
//	Encode F16            4.75 µs → 113 ns 42.1×    1.23 ms → 52 µs 23.7×     18.9 ms → 2.12 ms 8.9×
//	Round BF16            2.91 µs → 334 ns 8.7×     729 µs → 78.6 µs 9.3×     12.3 ms → 2.17 ms 5.7×
//	Round F16             6.33 µs → 175 ns 36.2×    1.52 ms → 47.1 µs 32.2×   24.1 ms → 1.82 ms 13.3×
//	Axpy                  1.15 µs → 154 ns 7.4×     284 µs → 76.9 µs 3.7×     7.41 ms → 2.85 ms 2.6×
//	Scale                 587 ns → 95 ns 6.2×       153 µs → 39.6 µs 3.9×     2.76 ms → 1.72 ms 1.6×
//	Add                   957 ns → 140 ns 6.8×      252 µs → 83.1 µs 3.0×     7.36 ms → 2.9 ms 2.5×
//	Sub                   1.09 µs → 149 ns 7.3×     270 µs → 111 µs 2.4×      8.28 ms → 4.53 ms 1.8×
//	Dot                   2.52 µs → 357 ns 7.1×     640 µs → 97 µs 6.6×       10.3 ms → 3.02 ms 3.4×
//	SumAbs                2.6 µs → 242 ns 10.8×     666 µs → 62.1 µs 10.7×    10.6 ms → 1.77 ms 6.0×
//	SumSquares            2.14 µs → 236 ns 9.1×     549 µs → 61 µs 9.0×       8.77 ms → 1.79 ms 4.9×

var benchSizes = []int{4 << 10, 1 << 20, 16 << 20}

// weights returns n values distributed like LLM weights (σ = 0.02), so the
// branches in the F16 paths see realistic data. Callers must not modify
// the slice: it is cached, because 16M normal deviates take a while.
func weights(n int) []float32 { return cachedWeights(n, 1) }

// weights2 is weights with another seed, for a second operand.
func weights2(n int) []float32 { return cachedWeights(n, 2) }

var weightCache sync.Map // [2]int{n, seed} -> []float32

func cachedWeights(n, seed int) []float32 {
	key := [2]int{n, seed}
	if x, ok := weightCache.Load(key); ok {
		return x.([]float32)
	}
	r := rand.New(rand.NewPCG(uint64(seed), 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.02)
	}
	weightCache.Store(key, x)
	return x
}

// benchKernel runs a kernel under every implementation and size, as
// impl=.../n=... sub-benchmarks; setup returns the operation to time,
// which it has already run once.
func benchKernel(b *testing.B, setup func(b *testing.B, n int) func()) {
	eachImpl(b, func(b *testing.B) {
		for _, n := range benchSizes {
			b.Run("n="+sizeName(n), func(b *testing.B) {
				op := setup(b, n)
				b.SetBytes(int64(4 * n))
				b.ResetTimer()
				for range b.N {
					op()
				}
			})
		}
	})
}

// eachImpl runs fn as an impl=generic sub-benchmark and, where the CPU has
// them, impl=avx2 with the assembly kernels on.
func eachImpl(b *testing.B, fn func(b *testing.B)) {
	avx2, f16c := useAVX2, useF16C
	defer func() { useAVX2, useF16C = avx2, f16c }()
	impls := []struct {
		name       string
		avx2, f16c bool
	}{{"generic", false, false}}
	if avx2 || f16c {
		impls = append(impls, struct {
			name       string
			avx2, f16c bool
		}{"avx2", avx2, f16c})
	}
	for _, impl := range impls {
		useAVX2, useF16C = impl.avx2, impl.f16c
		b.Run("impl="+impl.name, fn)
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dK", n>>10)
	}
	return fmt.Sprint(n)
}

func BenchmarkDecode(b *testing.B) {
	for _, dt := range []DType{BF16, F16} {
		b.Run(dt.String(), func(b *testing.B) {
			benchKernel(b, func(b *testing.B, n int) func() {
				src := make([]byte, n*dt.Size())
				if err := Encode(src, weights(n), dt); err != nil {
					b.Fatal(err)
				}
				dst := make([]float32, n)
				op := func() { Decode(dst, src, dt) }
				op()
				return op
			})
		})
	}
}

// BenchmarkDecodeUnaligned measures the staged path taken when the stored
// bytes are not 2-byte aligned.
func BenchmarkDecodeUnaligned(b *testing.B) {
	for _, dt := range []DType{BF16, F16} {
		b.Run(dt.String(), func(b *testing.B) {
			benchKernel(b, func(b *testing.B, n int) func() {
				buf := make([]byte, 2*n+1)
				src := buf[1:]
				if err := Encode(src, weights(n), dt); err != nil {
					b.Fatal(err)
				}
				dst := make([]float32, n)
				op := func() { Decode(dst, src, dt) }
				op()
				return op
			})
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, dt := range []DType{BF16, F16} {
		b.Run(dt.String(), func(b *testing.B) {
			benchKernel(b, func(b *testing.B, n int) func() {
				src := weights(n)
				dst := make([]byte, n*dt.Size())
				op := func() { Encode(dst, src, dt) }
				op()
				return op
			})
		})
	}
}

func BenchmarkRound(b *testing.B) {
	for _, dt := range []DType{BF16, F16} {
		b.Run(dt.String(), func(b *testing.B) {
			benchKernel(b, func(b *testing.B, n int) func() {
				x := append([]float32(nil), weights(n)...)
				op := func() { Round(dt, x) }
				op()
				return op
			})
		})
	}
}

func BenchmarkAxpy(b *testing.B) {
	benchKernel(b, func(b *testing.B, n int) func() {
		x, dst := weights(n), append([]float32(nil), weights2(n)...)
		op := func() { Axpy(dst, 1e-9, x) }
		op()
		return op
	})
}

func BenchmarkScale(b *testing.B) {
	benchKernel(b, func(b *testing.B, n int) func() {
		dst := append([]float32(nil), weights(n)...)
		op := func() { Scale(dst, -1) } // no drift towards subnormals or Inf
		op()
		return op
	})
}

func BenchmarkAdd(b *testing.B) {
	benchKernel(b, func(b *testing.B, n int) func() {
		x, dst := weights(n), append([]float32(nil), weights2(n)...)
		op := func() { Add(dst, x) }
		op()
		return op
	})
}

func BenchmarkSub(b *testing.B) {
	benchKernel(b, func(b *testing.B, n int) func() {
		x, y, dst := weights(n), weights2(n), make([]float32, n)
		op := func() { Sub(dst, x, y) }
		op()
		return op
	})
}

var sink float64

func BenchmarkDot(b *testing.B) {
	benchKernel(b, func(b *testing.B, n int) func() {
		x, y := weights(n), weights2(n)
		op := func() { sink += Dot(x, y) }
		op()
		return op
	})
}

func BenchmarkSumAbs(b *testing.B) {
	benchKernel(b, func(b *testing.B, n int) func() {
		x := weights(n)
		op := func() { sink += SumAbs(x) }
		op()
		return op
	})
}

func BenchmarkSumSquares(b *testing.B) {
	benchKernel(b, func(b *testing.B, n int) func() {
		x := weights(n)
		op := func() { sink += SumSquares(x) }
		op()
		return op
	})
}

// fusedSizes are the sizes of the fused and magnitude kernels' benchmarks:
// 256K elements (1 MiB per buffer) stay in cache, 16M come from DRAM.
//
// Medians of 3 runs in GB/s (4 bytes per element), measured 2026-11-27 on
// the same 2-core AMD EPYC, go1.26.8: the AVX2 chain of separate kernels
// (op=unfused) → the AVX2 fused kernel; for the magnitude kernels the scalar
// loop (impl=generic, merge's pruneBelow before) → AVX2, and for
// MagnitudeHistogram the plain loop → the unrolled one (σ = 0.002 weights
// rounded to bfloat16, shift 16).
//
//	kernel                n=256K                 n=16M
//	SubRound BF16         21.4 → 35.3 1.7×       9.7 → 13.8 1.4×
//	SubRound F16          26.5 → 35.0 1.3×       9.3 → 12.5 1.3×
//	ScaleRound BF16       40.2 → 47.3 1.2×       17.9 → 31.7 1.8×
//	ScaleRound F16        55.6 → 88.6 1.6×       18.8 → 35.5 1.9×
//	AxpyRound BF16        11.2 → 38.8 3.5×       6.9 → 22.3 3.2×
//	AxpyRound F16         11.5 → 58.4 5.1×       7.0 → 23.1 3.3×
//	DivScalarRound BF16   27.8 → 30.5 1.1×       18.0 → 28.7 1.6×
//	DivNonZeroRound BF16  26.6 → 26.0 1.0×       13.8 → 20.3 1.5×
//	PruneMagnitude        6.9 → 62.4 9.1×        6.9 → 33.3 4.9×
//	CountMagnitude        8.1 → 124.8 15×        8.0 → 42.5 5.3×
//	MagnitudeHistogram    7.4 → 9.9 1.3×         7.2 → 10.0 1.4×
//	CountAboveWindow      3.9 → 30.0 7.7×        4.9 → 19.2 3.9×
//
// CountAboveWindow (measured 2026-11-27 later, with a 2.2-2.4% window at
// the median magnitude of the σ = 0.002 weights) replaces a
// MagnitudeHistogram pass at shift 16 over the same data, which ran at 6.9
// (256K) and 6.1 (16M) GB/s in the same runs; CountMagnitude's AVX2 body
// ran at 114 and 36.9. The earlier AVX2 body, which branched per 16
// elements on window lanes, ran at 75 GB/s at 256K only because the
// branch predictor learnt the repeated data: on a different 256K slice
// each time it ran at 14, as at 16M.
//
// AxpyRound's chain is copy, Scale, Round and Add through a scratch buffer.
// SubRound at 16M is from a rerun of 5 (the 3 runs gave 8.8 → 10.8 and
// 10.9 → 10.5: DRAM-bound kernels on a shared machine).
var fusedSizes = []int{256 << 10, 16 << 20}

// benchFused runs a fused kernel and the chain of kernels it replaces, as
// impl=.../op=fused|unfused/n=... sub-benchmarks; setup returns both
// operations, which it has already run once.
func benchFused(b *testing.B, setup func(b *testing.B, n int) (fused, unfused func())) {
	eachImpl(b, func(b *testing.B) {
		for _, op := range []string{"fused", "unfused"} {
			b.Run("op="+op, func(b *testing.B) {
				for _, n := range fusedSizes {
					b.Run("n="+sizeName(n), func(b *testing.B) {
						fused, unfused := setup(b, n)
						f := fused
						if op == "unfused" {
							f = unfused
						}
						b.SetBytes(int64(4 * n))
						b.ResetTimer()
						for range b.N {
							f()
						}
					})
				}
			})
		}
	})
}

func BenchmarkSubRound(b *testing.B) {
	for _, dt := range []DType{BF16, F16} {
		b.Run(dt.String(), func(b *testing.B) {
			benchFused(b, func(b *testing.B, n int) (func(), func()) {
				x, y, dst := weights(n), weights2(n), make([]float32, n)
				fused := func() { SubRound(dt, dst, x, y) }
				unfused := func() { Sub(dst, x, y); Round(dt, dst) }
				fused()
				unfused()
				return fused, unfused
			})
		})
	}
}

func BenchmarkScaleRound(b *testing.B) {
	for _, dt := range []DType{BF16, F16} {
		b.Run(dt.String(), func(b *testing.B) {
			benchFused(b, func(b *testing.B, n int) (func(), func()) {
				x := append([]float32(nil), weights(n)...)
				fused := func() { ScaleRound(dt, x, -1) } // no drift
				unfused := func() { Scale(x, -1); Round(dt, x) }
				fused()
				unfused()
				return fused, unfused
			})
		})
	}
}

func BenchmarkAxpyRound(b *testing.B) {
	for _, dt := range []DType{BF16, F16} {
		b.Run(dt.String(), func(b *testing.B) {
			benchFused(b, func(b *testing.B, n int) (func(), func()) {
				x, acc := weights(n), append([]float32(nil), weights2(n)...)
				tmp := make([]float32, n)
				fused := func() { AxpyRound(dt, acc, 0.3, x) }
				// Without the fused kernel: the product rounded in a
				// scratch buffer, then added.
				unfused := func() { copy(tmp, x); Scale(tmp, 0.3); Round(dt, tmp); Add(acc, tmp) }
				fused()
				unfused()
				return fused, unfused
			})
		})
	}
}

func BenchmarkDivScalarRound(b *testing.B) {
	benchFused(b, func(b *testing.B, n int) (func(), func()) {
		x := append([]float32(nil), weights(n)...)
		fused := func() { DivScalarRound(BF16, x, -1) }
		unfused := func() { DivScalar(x, -1); Round(BF16, x) }
		fused()
		unfused()
		return fused, unfused
	})
}

func BenchmarkDivNonZeroRound(b *testing.B) {
	benchFused(b, func(b *testing.B, n int) (func(), func()) {
		x, div := append([]float32(nil), weights(n)...), make([]float32, n)
		for i := range div {
			div[i] = float32(1 - 2*(i&1)) // ±1, no drift
		}
		fused := func() { DivNonZeroRound(BF16, x, div) }
		unfused := func() { DivNonZero(x, div); Round(BF16, x) }
		fused()
		unfused()
		return fused, unfused
	})
}

// benchMagnitude runs a magnitude kernel as impl=generic (the scalar loop
// merge ran before) and impl=avx2 sub-benchmarks at fusedSizes.
func benchMagnitude(b *testing.B, setup func(b *testing.B, n int) func()) {
	sizes := benchSizes
	benchSizes = fusedSizes
	defer func() { benchSizes = sizes }()
	benchKernel(b, setup)
}

// magnitudeWeights returns weights rounded to bfloat16, as merge's task
// vectors are, and the magnitude bits of the median magnitude: pruning
// at it keeps half the elements, with ties.
func magnitudeWeights(n int) ([]float32, uint32) {
	x := append([]float32(nil), weights(n)...)
	Round(BF16, x)
	u := make([]uint32, 0, 4096)
	for _, v := range x[:min(n, 4096)] {
		u = append(u, magnitudeBits(v))
	}
	slices.Sort(u)
	return x, u[len(u)/2]
}

func magnitudeBits(v float32) uint32 { return math.Float32bits(v) &^ (1 << 31) }

func BenchmarkPruneMagnitude(b *testing.B) {
	benchMagnitude(b, func(b *testing.B, n int) func() {
		x, thr := magnitudeWeights(n)
		ties := CountMagnitude(x, thr) / 2
		// Pruning is idempotent, so every run does the same work.
		op := func() { PruneMagnitude(x, thr, ties) }
		op()
		return op
	})
}

func BenchmarkCountMagnitude(b *testing.B) {
	benchMagnitude(b, func(b *testing.B, n int) func() {
		x, thr := magnitudeWeights(n)
		op := func() { sink += float64(CountMagnitude(x, thr)) }
		op()
		return op
	})
}

// BenchmarkMagnitudeHistogram measures MagnitudeHistogram (impl=unrolled)
// and the plain loop (impl=naive) on weights of σ = 0.002 rounded to
// bfloat16, with shift 16 (32768 bins).
func BenchmarkMagnitudeHistogram(b *testing.B) {
	naive := func(hist []uint32, x []float32, shift uint) {
		for _, v := range x {
			hist[magnitudeBits(v)>>shift]++
		}
	}
	for _, impl := range []struct {
		name string
		f    func([]uint32, []float32, uint)
	}{{"naive", naive}, {"unrolled", MagnitudeHistogram}} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			for _, n := range fusedSizes {
				b.Run("n="+sizeName(n), func(b *testing.B) {
					x := append([]float32(nil), weights(n)...)
					Scale(x, 0.1)
					Round(BF16, x)
					hist := make([]uint32, 1<<15)
					b.SetBytes(int64(4 * n))
					b.ResetTimer()
					for range b.N {
						impl.f(hist, x, 16)
					}
				})
			}
		})
	}
}

// windowWeights returns weights of σ = 0.002 rounded to bfloat16, the data
// of BenchmarkMagnitudeHistogram, and a window [lo, hi] of magnitude bits
// around the median magnitude: the 49th and 51st percentiles of a sample,
// so that about 2% of the elements fall in it: with the ties at its ends,
// 2.4% at 256K and 2.2% at 16M (9 or 10 distinct bfloat16 values, 49% of
// the elements above).
func windowWeights(n int) (x []float32, lo, hi uint32) {
	x = append([]float32(nil), weights(n)...)
	Scale(x, 0.1)
	Round(BF16, x)
	u := make([]uint32, 0, 1<<16)
	for i := 0; i < n; i += max(1, n>>16) {
		u = append(u, magnitudeBits(x[i]))
	}
	slices.Sort(u)
	return x, u[len(u)*49/100], u[len(u)*51/100]
}

// BenchmarkCountAboveWindow measures CountAboveWindow on windowWeights;
// BenchmarkMagnitudeHistogram makes the pass it saves on the same data.
func BenchmarkCountAboveWindow(b *testing.B) {
	benchMagnitude(b, func(b *testing.B, n int) func() {
		x, lo, hi := windowWeights(n)
		hist := make([]uint32, hi-lo+1)
		op := func() { sink += float64(CountAboveWindow(hist, x, lo, hi)) }
		op()
		return op
	})
}

// splitMixStream is SplitMix64 one draw at a time, as merge's randomSource
// makes them: a method on a struct that holds the counter.
type splitMixStream struct {
	key, ctr uint64
}

func (s *splitMixStream) Uint64() uint64 {
	s.ctr++
	return splitMix64Mix(s.key + s.ctr*splitMixGolden)
}

// BenchmarkSplitMix64 measures SplitMix64 (impl=generic, impl=avx2 and,
// where the host has it, impl=avx512) and the per-draw method loop
// (impl=method) at 1K and 1M draws, 8 bytes each, and reports draws per
// nanosecond. Medians of 3 runs, measured 2026-11-27 on the 2-core AMD
// EPYC (Zen 5), go1.26.8, in draws/ns at 1K and 1M:
//
//	method   0.90   0.90
//	generic  1.22   1.26
//	avx2     2.60   2.61
//	avx512  11.8   11.7
func BenchmarkSplitMix64(b *testing.B) {
	avx2, avx512 := useAVX2, useAVX512
	defer func() { useAVX2, useAVX512 = avx2, avx512 }()
	type impl struct {
		name         string
		avx2, avx512 bool
		method       bool
	}
	impls := []impl{{"method", false, false, true}, {"generic", false, false, false}}
	if avx2 {
		impls = append(impls, impl{"avx2", true, false, false})
	}
	if avx2 && avx512 {
		impls = append(impls, impl{"avx512", true, true, false})
	}
	for _, impl := range impls {
		useAVX2, useAVX512 = impl.avx2, impl.avx512
		b.Run("impl="+impl.name, func(b *testing.B) {
			for _, n := range []int{1 << 10, 1 << 20} {
				b.Run("n="+sizeName(n), func(b *testing.B) {
					dst := make([]uint64, n)
					s := splitMixStream{key: 0x0123456789abcdef}
					op := func() {
						SplitMix64(dst, s.key, s.ctr)
						s.ctr += uint64(n)
					}
					if impl.method {
						op = func() {
							for i := range dst {
								dst[i] = s.Uint64()
							}
						}
					}
					op()
					b.SetBytes(int64(8 * n))
					b.ResetTimer()
					for range b.N {
						op()
					}
					b.ReportMetric(float64(n)*float64(b.N)/float64(b.Elapsed().Nanoseconds()), "draws/ns")
				})
			}
		})
	}
}

// BenchmarkDivMulRound and BenchmarkCombineDivRound compare nuslerp's fused
// steps with the per-element Go loops merge ran before them (op=unfused:
// RoundBF16 after every operation, inlined). One run of -benchtime 0.3s,
// 2026-12-06, same 2-core machine at load 12-15 (impl=avx2, op=unfused →
// fused, GB/s): DivMulRound 0.31 → 3.29 at 256K, 0.33 → 2.68 at 16M;
// CombineDivRound (with a base) 0.14 → 2.13 at 256K, 0.23 → 1.04 at 16M.
func BenchmarkDivMulRound(b *testing.B) {
	benchFused(b, func(b *testing.B, n int) (func(), func()) {
		x, y, dst := weights(n), weights2(n), make([]float32, n)
		fused := func() { DivMulRound(BF16, dst, x, y, 0.37, 0.53) }
		unfused := func() {
			for i := range dst {
				dst[i] = RoundBF16(RoundBF16(x[i]/0.37) * RoundBF16(y[i]/0.53))
			}
		}
		fused()
		unfused()
		return fused, unfused
	})
}

func BenchmarkCombineDivRound(b *testing.B) {
	benchFused(b, func(b *testing.B, n int) (func(), func()) {
		x, y, base, dst := weights(n), weights2(n), weights(n), make([]float32, n)
		fused := func() { CombineDivRound(BF16, dst, x, y, base, 0.3, 0.6, 0.9) }
		unfused := func() {
			for i := range dst {
				v := RoundBF16(RoundBF16(RoundBF16(0.3*x[i])+RoundBF16(0.6*y[i])) / 0.9)
				dst[i] = RoundBF16(v + base[i])
			}
		}
		fused()
		unfused()
		return fused, unfused
	})
}
