package tokensurgeon

import (
	"context"
	"errors"
	"math"
	"testing"
)

func TestOMP(t *testing.T) {
	a := &Approximator{
		DonorShared: [][]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
		BaseShared:  [][]float64{{2, 0}, {0, 3}, {1, 1}},
	}
	// t = 1·e0 + 2·e1: the base row is 1·(2,0) + 2·(0,3).
	got, err := a.OMP(context.Background(), []float64{1, 2, 0}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{2, 6}; math.Abs(got[0]-want[0]) > 1e-9 || math.Abs(got[1]-want[1]) > 1e-9 {
		t.Errorf("OMP = %v, want %v", got, want)
	}
	// k is as large as the shared tokens: a cancelled context stops it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.OMP(ctx, []float64{1, 2, 0}, 3); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want %v", err, context.Canceled)
	}
}
