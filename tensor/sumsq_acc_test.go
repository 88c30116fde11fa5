package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// splitBlocks cuts n elements into pieces that are whole numbers of
// SumSquaresBlock elements, but for the last, drawing each piece's block
// count from r (zero included).
func splitBlocks(r *rand.Rand, n int) []int {
	var sizes []int
	for left := n; left > 0; {
		k := min(left, SumSquaresBlock*r.IntN(5))
		if left-k < SumSquaresBlock {
			k = left
		}
		sizes = append(sizes, k)
		left -= k
	}
	return sizes
}

// accSum feeds x to a SumSquaresAcc in the given pieces.
func accSum(x []float32, sizes []int) float64 {
	var a SumSquaresAcc
	for _, k := range sizes {
		a.Add(x[:k])
		x = x[k:]
	}
	return a.Sum()
}

// TestSumSquaresAccMatchesSumSquares checks that summing in pieces gives
// SumSquares' bits for the whole slice, with the assembly and without, on
// odd lengths, magnitudes far apart (where the order of the additions
// shows) and non-finite values.
func TestSumSquaresAccMatchesSumSquares(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(31, 32))
		lengths := append(asmLengths, 1<<12+3, 1<<16+13)
		for _, n := range lengths {
			x := shifted(randFloats(r, n), n%8)
			for i := range x { // magnitudes from 2^-30 to 2^30
				x[i] = float32(math.Ldexp(float64(x[i]), r.IntN(61)-30))
			}
			want := math.Float64bits(SumSquares(x))
			for try := range 4 {
				sizes := []int{n}
				if try > 0 {
					sizes = splitBlocks(r, n)
				}
				if got := math.Float64bits(accSum(x, sizes)); got != want {
					t.Fatalf("n=%d pieces %v: %#x, SumSquares %#x", n, sizes, got, want)
				}
			}
		}
		inf, nan := float32(math.Inf(1)), float32(math.NaN())
		for _, c := range []struct {
			name string
			at   map[int]float32
		}{
			{"+Inf", map[int]float32{3: inf}},
			{"NaN", map[int]float32{30: nan}},
			{"max", map[int]float32{0: math.MaxFloat32, 8: math.MaxFloat32, 35: math.MaxFloat32}},
		} {
			x := make([]float32, 37)
			for i := range x {
				x[i] = 1
			}
			for i, v := range c.at {
				x[i] = v
			}
			want := SumSquares(x)
			got := accSum(x, []int{16, 0, 16, 5})
			if math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
				t.Errorf("%s: %v, SumSquares %v", c.name, got, want)
			}
		}
	})
}

// TestSumSquaresAccAddAfterTail checks that a piece after one that is not
// a whole number of blocks is refused.
func TestSumSquaresAccAddAfterTail(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("Add after a 17-element piece did not panic")
			}
		}()
		var a SumSquaresAcc
		a.Add(make([]float32, 17))
		a.Add(make([]float32, 16))
	})
}

// FuzzSumSquaresLanes checks the assembly lane sums against their Go twin
// bit for bit, starting from lanes taken from the input, and SumSquaresAcc
// against SumSquares on the same floats cut at a fuzzed block count.
func FuzzSumSquaresLanes(f *testing.F) {
	f.Add([]byte("\x00\x00\x80\x7f\x01\x00\x80\x7f\x00\x80\x80\x3f\x00\x10\x80\x3f"+"0123456789abcdef0123456789abcdef"), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		n := len(b) / 4
		x := make([]float32, n)
		for i := range x {
			x[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
		}
		k := min(n, int(cut)*SumSquaresBlock)
		want := math.Float64bits(SumSquares(x))
		if got := math.Float64bits(accSum(x, []int{k, n - k})); got != want && !math.IsNaN(math.Float64frombits(want)) {
			t.Fatalf("SumSquaresAcc cut at %d of %d: %#x, SumSquares %#x", k, n, got, want)
		}
		if !useAVX2 {
			return
		}
		var got, ref [SumSquaresBlock]float64
		for j := range got {
			if j < n {
				got[j] = float64(x[j]) * 3
			}
			ref[j] = got[j]
		}
		m := n &^ (SumSquaresBlock - 1)
		sumSquaresLanes(&got, x[:m])
		sumSquaresLanesGeneric(&ref, x[:m])
		for j := range got {
			if math.Float64bits(got[j]) != math.Float64bits(ref[j]) && !(math.IsNaN(got[j]) && math.IsNaN(ref[j])) {
				t.Fatalf("lane %d of %d elements: %v, generic %v", j, m, got[j], ref[j])
			}
		}
	})
}

// TestSumSquaresColsMatchesSumSquares checks every column's sum against
// SumSquares of the gathered column, bit for bit, for matrices handed over
// in random runs of whole rows, with the assembly and without.
func TestSumSquaresColsMatchesSumSquares(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(33, 34))
		for _, rows := range []int{1, 3, 4, 15, 16, 17, 19, 35, 100, 333} {
			for _, cols := range []int{1, 3, 8} {
				x := randFloats(r, rows*cols)
				for i := range x {
					x[i] = float32(math.Ldexp(float64(x[i]), r.IntN(61)-30))
				}
				a := NewSumSquaresCols(rows, cols)
				for row := 0; row < rows; {
					k := min(rows-row, r.IntN(20))
					a.Add(x[row*cols : (row+k)*cols])
					row += k
				}
				col := make([]float32, rows)
				for k := range cols {
					for i := range col {
						col[i] = x[i*cols+k]
					}
					if got, want := a.Sum(k), SumSquares(col); math.Float64bits(got) != math.Float64bits(want) {
						t.Fatalf("%d×%d column %d: %v, SumSquares %v", rows, cols, k, got, want)
					}
				}
			}
		}
	})
}

// TestSumSquaresColsRefusesPartialRows checks Add's panics.
func TestSumSquaresColsRefusesPartialRows(t *testing.T) {
	for _, n := range []int{5, 12} { // not whole rows; past the last row
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Add of %d elements to a 3×4 matrix did not panic", n)
				}
			}()
			NewSumSquaresCols(3, 4).Add(make([]float32, n))
			NewSumSquaresCols(2, 4).Add(make([]float32, n))
		}()
	}
}
