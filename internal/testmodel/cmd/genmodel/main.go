// Command genmodel writes a deterministic Llama-shaped model for
// benchmarks and demos:
//
//	go run ./internal/testmodel/cmd/genmodel -size 1.5e9 -seed 1 OUT
//	go run ./internal/testmodel/cmd/genmodel -size 1.5e9 -seed 1 -delta 0.002 -delta-seed 2 OUT
//
// -size picks the layer count of a model with hidden size 2048,
// intermediate size 5632 and a 32000-token vocabulary (TinyLlama's shape)
// so that the weights take about that many bytes.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/tensor"
)

func main() {
	size := flag.Float64("size", 1.5e9, "approximate weight bytes")
	dtype := flag.String("dtype", "bfloat16", "bfloat16, float16 or float32")
	seed := flag.Uint64("seed", 1, "seed of the weights")
	delta := flag.Float64("delta", 0, "std of a fine-tune delta (0: none)")
	deltaSeed := flag.Uint64("delta-seed", 2, "seed of the delta")
	shard := flag.Float64("shard-size", 2e9, "shard size in bytes")
	hidden := flag.Int("hidden", 2048, "hidden size")
	inter := flag.Int("intermediate", 5632, "intermediate size")
	vocab := flag.Int("vocab", 32000, "vocabulary size")
	heads := flag.Int("heads", 16, "attention heads")
	kvHeads := flag.Int("kv-heads", 4, "key/value heads (GQA)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: genmodel [flags] OUT")
		os.Exit(2)
	}
	dt, err := tensor.ParseTorchDType(*dtype)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	h, m, v := *hidden, *inter, *vocab
	if *heads < 1 || *kvHeads < 1 || h%*heads != 0 || *heads%*kvHeads != 0 {
		fmt.Fprintf(os.Stderr, "genmodel: -heads %d must divide -hidden %d, -kv-heads %d must divide -heads\n", *heads, h, *kvHeads)
		os.Exit(2)
	}
	kv := h / *heads * *kvHeads
	perLayer := 2*h + 2*h*h + 2*kv*h + 3*h*m
	fixed := 2*v*h + h
	layers := max(1, int((*size/float64(dt.Size())-float64(fixed))/float64(perLayer)))
	s := testmodel.Spec{Hidden: h, Intermediate: m, Layers: layers, Heads: *heads, KVHeads: *kvHeads, Vocab: v, DType: dt,
		Seed: *seed, Delta: *delta, DeltaSeed: *deltaSeed, ShardSize: int64(*shard)}
	if err := testmodel.Write(flag.Arg(0), s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%s: %d layers, %.2f GB\n", flag.Arg(0), layers, float64(fixed+layers*perLayer)*float64(dt.Size())/1e9)
}
