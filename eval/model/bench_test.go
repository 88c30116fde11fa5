package model

import (
	"fmt"
	"os"
	"testing"
)

// BenchmarkLogits measures prompt scoring on the model in the directory
// named by $GOMERGE_BENCH_MODEL, for example a ~100M-parameter bf16 Llama
// made with
//
//	go run ./internal/testmodel/cmd/genmodel -size 2e8 -hidden 768 -intermediate 2048 -vocab 32000 /tmp/m100
//	GOMERGE_BENCH_MODEL=/tmp/m100 go test ./eval/model -run '^$' -bench Logits -cpu 1,2
//
// The prompt=N cases run what llama-bench -p N measures (every layer, the
// output layer at the last position only); tokens=N cases score every
// position (LogProbs). bench/README.md has the figures, side by side with
// llama.cpp on the same models.
func BenchmarkLogits(b *testing.B) {
	dir := os.Getenv("GOMERGE_BENCH_MODEL")
	if dir == "" {
		b.Skip("set GOMERGE_BENCH_MODEL to a model directory")
	}
	for _, opts := range []Options{{}, {Compact: true}, {BF16Dot: true}} {
		compact := fmt.Sprint(opts.Compact)
		if opts.BF16Dot {
			compact = "bf16dot" // Options.BF16Dot
		}
		m, err := Open(dir, opts)
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range []int{128, 512} {
			ids := make([]int, n)
			for i := range ids {
				ids[i] = (i*7919 + 1) % m.VocabSize()
			}
			b.Run(fmt.Sprintf("compact=%s/tokens=%d", compact, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := m.LogProbs(ids); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tokens/s")
			})
			// What llama-bench -p N measures: the prompt through every
			// layer and the output layer at its last position only.
			b.Run(fmt.Sprintf("compact=%s/prompt=%d", compact, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := m.Generate(ids, 1); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tokens/s")
			})
		}
		b.Run(fmt.Sprintf("compact=%s/generate", compact), func(b *testing.B) {
			const n = 32
			for b.Loop() {
				if _, err := m.Generate([]int{1}, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkGenerateStories260K measures greedy generation of 200 tokens
// with stories260K.
func BenchmarkGenerateStories260K(b *testing.B) {
	m := storiesModel(b)
	for b.Loop() {
		if _, err := m.Generate([]int{1}, 200); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(200*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func init() {
	// GOMERGE_BENCH_BLOCKING=ROWS,TOKENS tries other matmul blockings.
	if s := os.Getenv("GOMERGE_BENCH_BLOCKING"); s != "" {
		fmt.Sscanf(s, "%d,%d", &rowBlock, &tokenTile)
	}
}
