package merge

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/gomerge/gomerge/tensor"
)

func TestZZProbe(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		if !c.Deterministic {
			continue
		}
		out := runGolden(t, c, 2)
		want, _ := readAll(t, filepath.Join(goldenDir, c.OutputDir))
		got, _ := readAll(t, out)
		dt, _ := tensor.ParseTorchDType(c.OutputDType)
		var diff, maxAbs, maxUlp float64
		total := 0
		for n, w := range want {
			g := got[n]
			for i := range w {
				total++
				if w[i] != g[i] {
					diff++
					maxAbs = math.Max(maxAbs, math.Abs(w[i]-g[i]))
					maxUlp = math.Max(maxUlp, ulpDistance(w[i], g[i], dt))
				}
			}
		}
		t.Logf("%-45s nonidentical %6.0f/%d maxabs %.3g maxulp %.0f", c.Name, diff, total, maxAbs, maxUlp)
	}
}
