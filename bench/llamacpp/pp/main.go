// Command pp times gomerge's prompt processing the way llama-bench -p N
// times llama.cpp's: N token ids through every layer of the model and the
// output layer at the last position only (eval/model's Generate(ids, 1)),
// one warm-up run, then R timed runs, on T threads.
//
//	go run ./bench/llamacpp/pp -model DIR [-compact] [-bf16dot] [-t 1] [-p 512] [-r 3] [-cpuprofile F]
//
// -compact keeps 16-bit weights in their 16-bit form (model.Options.Compact,
// the "bf16" rows of bench/README.md); without it every weight is widened
// to float32 at load (the "f32" rows). -bf16dot multiplies bf16 matrices
// with VDPBF16PS, activations rounded to bf16, as llama.cpp does
// (model.Options.BF16Dot; only on CPUs with AVX512_BF16). It prints one line of key=value
// pairs: tok_s (the mean of the runs' tokens per second, as llama-bench's
// avg_ts), tok_s_sd (their standard deviation), and cpu_s and tokens, the
// CPU seconds (user+sys, getrusage) and tokens of the warm-up and timed runs
// together, for tokens per CPU-second. -cpuprofile writes a CPU profile of
// the timed runs (go tool pprof). bench/llamacpp/run.sh runs it next to
// llama-bench.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/gomerge/gomerge/eval/model"
)

func main() {
	dir := flag.String("model", "", "Hugging Face model directory")
	compact := flag.Bool("compact", false, "keep 16-bit weights 16-bit (model.Options.Compact)")
	bf16dot := flag.Bool("bf16dot", false, "bf16 matrices by VDPBF16PS, activations rounded to bf16 (model.Options.BF16Dot)")
	threads := flag.Int("t", 1, "threads (GOMAXPROCS and model.Options.Threads)")
	n := flag.Int("p", 512, "prompt tokens")
	reps := flag.Int("r", 3, "timed runs")
	prof := flag.String("cpuprofile", "", "write a CPU profile of the timed runs to this file")
	flag.Parse()
	if *dir == "" || *threads < 1 || *n < 1 || *reps < 1 || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*threads)
	m, err := model.Open(*dir, model.Options{Threads: *threads, Compact: *compact, BF16Dot: *bf16dot})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pp:", err)
		os.Exit(1)
	}
	// The ids of eval/model's BenchmarkLogits.
	ids := make([]int, *n)
	for i := range ids {
		ids[i] = (i*7919 + 1) % m.VocabSize()
	}
	cpu0 := cpuSeconds()
	if _, err := m.Generate(ids, 1); err != nil {
		fmt.Fprintln(os.Stderr, "pp:", err)
		os.Exit(1)
	}
	if *prof != "" {
		f, err := os.Create(*prof)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "pp:", err)
			os.Exit(1)
		}
		defer f.Close()
	}
	rates := make([]float64, *reps)
	for i := range rates {
		t0 := time.Now()
		if _, err := m.Generate(ids, 1); err != nil {
			fmt.Fprintln(os.Stderr, "pp:", err)
			os.Exit(1)
		}
		rates[i] = float64(*n) / time.Since(t0).Seconds()
	}
	cpu := cpuSeconds() - cpu0
	if *prof != "" {
		pprof.StopCPUProfile()
	}
	mean, sd := meanSD(rates)
	fmt.Printf("tok_s=%.3f tok_s_sd=%.3f cpu_s=%.3f tokens=%d\n", mean, sd, cpu, *n*(*reps+1))
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return math.NaN()
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// meanSD returns the mean and the sample standard deviation, as
// llama-bench reports them.
func meanSD(x []float64) (float64, float64) {
	var s float64
	for _, v := range x {
		s += v
	}
	mean := s / float64(len(x))
	if len(x) < 2 {
		return mean, 0
	}
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / float64(len(x)-1))
}
