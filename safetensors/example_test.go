package safetensors_test

import (
	"fmt"
	"log"
	"os"

	"github.com/gomerge/gomerge/safetensors"
)

func ExampleCreate() {
	dir, err := os.MkdirTemp("", "model")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	tensors := []safetensors.TensorSpec{
		{Name: "embed.weight", DType: safetensors.F32, Shape: []int64{4, 2}},
		{Name: "norm.weight", DType: safetensors.BF16, Shape: []int64{2}},
		{Name: "lm_head.weight", DType: safetensors.F32, Shape: []int64{4, 2}},
	}
	w, err := safetensors.Create(dir, tensors, safetensors.WriterOptions{
		MaxShardSize:  40, // bytes; real models use gigabytes
		IndexMetadata: map[string]any{"mergekit_version": "0.1.4"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Abort() // removes the files unless Close succeeded
	for _, sh := range w.Shards() {
		fmt.Println(sh.File, sh.Size)
	}
	// Tensors may be written in any order, from any goroutine.
	for _, t := range []string{"lm_head.weight", "norm.weight", "embed.weight"} {
		info, _ := findSpec(tensors, t)
		if err := w.WriteTensor(t, make([]byte, info)); err != nil {
			log.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	index, err := os.ReadFile(dir + "/model.safetensors.index.json")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(index))
	// Output:
	// model-00001-of-00002.safetensors 36
	// model-00002-of-00002.safetensors 32
	// {
	//   "metadata": {
	//     "mergekit_version": "0.1.4",
	//     "total_size": 68
	//   },
	//   "weight_map": {
	//     "embed.weight": "model-00001-of-00002.safetensors",
	//     "lm_head.weight": "model-00002-of-00002.safetensors",
	//     "norm.weight": "model-00001-of-00002.safetensors"
	//   }
	// }
}

// findSpec returns the byte size of the tensor called name.
func findSpec(specs []safetensors.TensorSpec, name string) (int, bool) {
	for _, s := range specs {
		if s.Name == name {
			n := s.DType.Size()
			for _, d := range s.Shape {
				n *= int(d)
			}
			return n, true
		}
	}
	return 0, false
}

func ExampleOpenModel() {
	dir, err := os.MkdirTemp("", "model")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	w, err := safetensors.Create(dir, []safetensors.TensorSpec{
		{Name: "b", DType: safetensors.U8, Shape: []int64{2, 2}},
		{Name: "a", DType: safetensors.F32, Shape: []int64{}},
	}, safetensors.WriterOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Abort()
	if err := w.WriteTensor("b", []byte{1, 2, 3, 4}); err != nil {
		log.Fatal(err)
	}
	if err := w.WriteTensor("a", []byte{0, 0, 0x80, 0x3f}); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	m, err := safetensors.OpenModel(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	var buf []byte
	for _, name := range m.Names() {
		t, _ := m.Tensor(name)
		buf = append(buf[:0], make([]byte, t.Size)...) // reuse one buffer
		if err := m.ReadTensor(name, buf); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %s %v %d elements: % x\n", name, t.DType, t.Shape, t.NumElements(), buf)
	}
	fmt.Println("total", m.TotalSize(), "bytes")
	// Output:
	// a F32 [] 1 elements: 00 00 80 3f
	// b U8 [2 2] 4 elements: 01 02 03 04
	// total 8 bytes
}
