package automerge_test

import (
	"fmt"

	"github.com/gomerge/gomerge/automerge"
)

func ExampleChildName() {
	taken := map[string]bool{}
	for range 2 {
		name := automerge.ChildName("mlabonne/Meliodas-7B", "automerger/Percival_01-7B", func(n string) bool { return taken[n] })
		taken[name] = true
		fmt.Println(name)
	}
	// Output:
	// MeliodasPercival-7B
	// MeliodasPercival-7B_02
}
