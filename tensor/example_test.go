package tensor_test

import (
	"fmt"
	"math"

	"github.com/gomerge/gomerge/tensor"
)

func ExampleF32ToBF16() {
	h := tensor.F32ToBF16(0.3)
	fmt.Printf("%#04x %v\n", h, tensor.BF16ToF32(h))

	// Rounding a working buffer to bfloat16, as after each merge operation.
	x := []float32{0.3, 1.0 / 3, 3.4e38}
	tensor.Round(tensor.BF16, x)
	fmt.Println(x)
	// Output:
	// 0x3e9a 0.30078125
	// [0.30078125 0.33398438 +Inf]
}

func ExampleRoundBF16() {
	// A product rounded to bfloat16 inside a per-element loop, as torch
	// rounds each operation's result in that dtype.
	x, y := float32(0.3), float32(1.0/3)
	fmt.Println(tensor.RoundBF16(x*y), tensor.RoundBF16(x*y) == tensor.RoundScalar(tensor.BF16, x*y))
	// Output:
	// 0.100097656 true
}

func ExampleSubRound() {
	// A task vector in bfloat16: the difference, rounded as torch rounds it.
	model := []float32{0.5, 0.25, -1}
	base := []float32{0.3, 0.25, 1.0 / 3}
	delta := make([]float32, len(model))
	tensor.SubRound(tensor.BF16, delta, model, base)
	fmt.Println(delta)
	// Output:
	// [0.20019531 0 -1.3359375]
}

func ExamplePruneMagnitude() {
	// Keep the 3 entries of largest magnitude: 0.5 is the 3rd largest and
	// two entries have it, of which the first is kept.
	x := []float32{0.1, -0.5, 0.9, 0.5, -0.2, 0.5}
	thr := math.Float32bits(0.5)
	ties := 1
	left := tensor.PruneMagnitude(x, thr, ties)
	fmt.Println(x, left)
	// Output:
	// [0 -0.5 0.9 0 0 0] 0
}

func ExampleSplitMix64() {
	// The first draws of Vigna's splitmix64.c from state 0, made in two
	// pieces: the second starts after the 2 draws of the first.
	draws := make([]uint64, 4)
	tensor.SplitMix64(draws[:2], 0, 0)
	tensor.SplitMix64(draws[2:], 0, 2)
	for _, d := range draws {
		fmt.Printf("%#016x\n", d)
	}
	// Output:
	// 0xe220a8397b1dcdaf
	// 0x6e789e6aa1b965f4
	// 0x06c45d188009454f
	// 0xf88bb8a8724c81ec
}

func ExampleKeepBelowStream() {
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	// Keep each element with probability 1/2, drawing from the stream of
	// key 42 from its third 32-bit draw on, as the piece of a tensor that
	// starts at element 2 does.
	kept := tensor.KeepBelowStream(x, 42, 2, 1<<31)
	fmt.Println(kept, x)
	// Output: 7 [0 2 3 4 5 6 7 8]
}

func ExampleBackend() {
	// The TIES combine of two task vectors with weights 1 and 0.5: the
	// first element's signs agree, the second's disagree (the sum elects
	// +, so only the first vector counts there).
	ds := [][]float32{{0.25, 0.5}, {0.5, -0.5}}
	out := make([]float32, 2)
	var be tensor.Backend = tensor.CPU // or a GPU: see internal/cuda
	if err := be.SignConsensus(tensor.BF16, out, ds, []float32{1, 0.5}, true); err != nil {
		panic(err)
	}
	fmt.Println(out) // 0.5/1.5 in bfloat16, and 0.5
	// Output: [0.33398438 0.5]
}
