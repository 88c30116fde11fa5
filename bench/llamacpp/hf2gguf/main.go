// Command hf2gguf writes a Hugging Face Llama directory as a GGUF file for
// llama.cpp (internal/gguf.ConvertLlama), so that llama-bench runs the
// same model as gomerge's forward pass:
//
//	go run ./bench/llamacpp/hf2gguf -type bf16 DIR OUT.gguf
//
// -type is the matrices' type (f32, f16 or bf16); norms are always f32.
// The vocabulary is a placeholder of the model's size: llama-bench feeds
// token ids, never text.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gomerge/gomerge/internal/gguf"
)

func main() {
	typ := flag.String("type", "bf16", "matrix type: f32, f16 or bf16")
	flag.Parse()
	types := map[string]gguf.TensorType{"f32": gguf.F32, "f16": gguf.F16, "bf16": gguf.BF16}
	t, ok := types[*typ]
	if !ok || flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: hf2gguf [-type f32|f16|bf16] DIR OUT.gguf")
		os.Exit(2)
	}
	if err := convert(flag.Arg(0), flag.Arg(1), t); err != nil {
		fmt.Fprintln(os.Stderr, "hf2gguf:", err)
		os.Exit(1)
	}
}

// convert writes OUT.gguf.tmp and renames it, so that an interrupted run
// leaves no truncated OUT.gguf for the next run to take as done.
func convert(dir, out string, t gguf.TensorType) error {
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	if err := gguf.ConvertLlama(dir, f, t); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), out)
}
