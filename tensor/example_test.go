package tensor_test

import (
	"fmt"

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
