package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// eraseMergeChain is EraseMergeBF16 as the calls it replaces.
func eraseMergeChain(out []float32, xs [][]byte, base []byte, mask []uint64, q []float32, eps float32) {
	n := len(out)
	sum, num, den := make([]float32, n), make([]float32, n), make([]float32, n)
	tvs := make([][]float32, len(xs))
	for i, x := range xs {
		tvs[i] = make([]float32, n)
		SubBF16Bytes(tvs[i], x, base)
		if mask != nil && n > 0 {
			KeepBits(tvs[i], mask)
		}
		Add(sum, tvs[i])
	}
	Round(BF16, sum)
	for i, tv := range tvs {
		AddElectedRound(BF16, num, den, tv, sum, q[i])
	}
	b := make([]float32, n)
	if err := Decode(b, base, BF16); err != nil {
		panic(err)
	}
	DivMaxAddRound(BF16, out, b, num, den, eps)
}

// eraseMergeWeights returns k weights as sce's are (bfloat16 values that
// sum to about 1), with a zero and a tiny one among them when k allows.
func eraseMergeWeights(r *rand.Rand, k int) []float32 {
	q := make([]float32, k)
	for i := range q {
		q[i] = RoundBF16(r.Float32() / float32(k))
	}
	if k > 2 {
		q[1] = 0
		q[2] = RoundBF16(1e-7)
	}
	return q
}

// TestEraseMergeBF16 checks the fused kernel, generic and AVX-512 (with
// AVX2 alone it is the generic), against the chain of calls it replaces:
// lengths around the 16 lanes, one to six inputs and more than the
// AVX-512 body takes, aligned bytes and not, with no mask, a random mask
// and one that drops everything, inputs with zeros, infinities and NaNs.
func TestEraseMergeBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	for _, n := range append(asmLengths, 1000, 2048) {
		for _, k := range []int{1, 2, 3, 5, 6, 33} {
			if k == 33 && n > 100 {
				continue
			}
			q := eraseMergeWeights(r, k)
			for _, off := range []int{0, 1} {
				base := bf16Bytes(r, n, off)
				xs := make([][]byte, k)
				for i := range xs {
					xs[i] = bf16Bytes(r, n, off)
					for j := range n {
						if r.IntN(4) == 0 { // the base's value: τ is 0
							copy(xs[i][2*j:2*j+2], base[2*j:2*j+2])
						}
					}
				}
				words := make([]uint64, (n+63)/64)
				for w := range words {
					words[w] = r.Uint64()
				}
				for mname, mask := range map[string][]uint64{"none": nil, "random": words, "empty": make([]uint64, len(words))} {
					want := make([]float32, n)
					eraseMergeChain(want, xs, base, mask, q, 1e-6)
					for _, impl := range fusedImpls {
						restore := impl.use()
						got := make([]float32, n)
						EraseMergeBF16(got, xs, base, mask, q, 1e-6)
						restore()
						sameOrBothNaN(t, fmt.Sprintf("%s n %d k %d off %d mask %s", impl.name, n, k, off, mname), got, want)
					}
				}
			}
		}
	}
}

// FuzzEraseMergeBF16 checks the assembly against the Go reference on
// inputs, mask and weights read from the fuzzer's bytes.
func FuzzEraseMergeBF16(f *testing.F) {
	f.Add([]byte("\x80\x3f\x00\x00\x80\x7f\x01\x00\x80\xbf\xc0\x7f\x00\x80\x10\x3c"+"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), uint8(2), uint64(0xf0f0f0f0f0f0f0f0), true)
	f.Fuzz(func(t *testing.T, raw []byte, k uint8, bits uint64, masked bool) {
		if !useAVX2 || !useAVX512BW {
			t.Skip("no AVX-512 kernel on this host")
		}
		inputs := 1 + int(k)%6
		n := len(raw) / (2 * (inputs + 1)) &^ 15
		if n == 0 {
			return
		}
		base := raw[:2*n]
		xs := make([][]byte, inputs)
		for i := range xs {
			xs[i] = raw[2*n*(i+1) : 2*n*(i+2)]
		}
		q := make([]float32, inputs)
		for i := range q {
			q[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
		var mask []uint64
		if masked {
			mask = make([]uint64, (n+63)/64)
			for w := range mask {
				mask[w] = bits * uint64(2*w+1)
			}
		}
		got, want := make([]float32, n), make([]float32, n)
		if m := eraseMerge(got, xs, base, mask, q, 1e-6); m != n {
			t.Fatalf("did %d of %d", m, n)
		}
		eraseMergeBF16Generic(want, xs, base, mask, q, 1e-6, 0)
		sameOrBothNaN(t, "out", got, want)
	})
}
