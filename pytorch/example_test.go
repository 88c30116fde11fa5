package pytorch_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/gomerge/gomerge/pytorch"
	"github.com/gomerge/gomerge/tensor"
)

func ExampleOpenModel() {
	dir := "../testdata/ref/torch/sharded" // pytorch_model-0000N-of-00003.bin + index
	if !pytorch.HasCheckpoint(dir) {
		log.Fatal("no PyTorch checkpoint in ", dir)
	}
	m, err := pytorch.OpenModel(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	info, _ := m.Tensor("model.norm.weight")
	fmt.Println(info.Name, info.DType, info.Shape)

	// Bytes come back contiguous and little-endian in the stored dtype.
	raw := make([]byte, info.Size)
	if err := m.ReadTensorRange(info.Name, 0, raw); err != nil {
		log.Fatal(err)
	}
	vals := make([]float32, info.NumElements())
	if err := tensor.Decode(vals, raw, tensor.BF16); err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(vals))
	// Output:
	// model.norm.weight BF16 [64]
	// 64
}

func ExampleOpen_refused() {
	// This file's pickle calls os.system when Python unpickles it.
	_, err := pytorch.Open("../testdata/torch/malicious_bin/pytorch_model.bin")
	fmt.Println(errors.Is(err, pytorch.ErrUnsafe))
	// Output:
	// true
}
