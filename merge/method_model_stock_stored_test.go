package merge

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gomerge/gomerge/internal/testmodel"
	"github.com/gomerge/gomerge/tensor"
)

// TestModelStockStoredMatchesUnstored checks that model_stock on stored
// bfloat16 inputs (Method.StoredBF16: task vectors computed segment by
// segment in each pass) writes the bytes of model_stock on the executor's
// float32 inputs: whole-tensor and filter_wise, pieces of one block and of
// several segments, rows longer than a block and longer than a segment
// (extra.long), two and three fine-tunes, inputs read, mapped and held, on
// one to three threads.
func TestModelStockStoredMatchesUnstored(t *testing.T) {
	dir := t.TempDir()
	extra := map[string][]int64{"extra.long": {3, 2100}, "extra.flat": {5000}}
	for name, s := range map[string]testmodel.Spec{
		"base": {Seed: 1, Layers: 1, DType: tensor.BF16, Extra: extra},
		"ft1":  {Seed: 1, Layers: 1, Delta: 0.01, DeltaSeed: 2, DType: tensor.BF16, Extra: extra},
		"ft2":  {Seed: 1, Layers: 1, Delta: 0.01, DeltaSeed: 3, DType: tensor.BF16, Extra: extra},
		"ft3":  {Seed: 1, Layers: 1, Delta: 0.02, DeltaSeed: 4, DType: tensor.BF16, Extra: extra},
	} {
		if err := testmodel.Write(filepath.Join(dir, name), s); err != nil {
			t.Fatal(err)
		}
	}
	if !ModelStock.StoredBF16 {
		t.Fatal("model_stock does not take stored inputs")
	}
	defer func(n int64) { chunkElements = n }(chunkElements)
	for _, models := range []string{"[{model: ft1}, {model: ft2}]", "[{model: ft1}, {model: ft2}, {model: ft3}]"} {
		for _, params := range []string{"{}", "{filter_wise: true}"} {
			for _, c := range []int64{50, 777, 5000, 1 << 20} {
				name := fmt.Sprintf("%s/%s/c%d", models, params, c)
				chunkElements = c
				yml := "merge_method: model_stock\nbase_model: base\ndtype: bfloat16\nparameters: " + params + "\nmodels: " + models + "\n"
				sameStoredUnstored(t, ModelStock, dir, yml, name)
			}
		}
	}
}
