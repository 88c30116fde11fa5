package tensor

import (
	"flag"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"testing"
)

var long = flag.Bool("long", false, "check F32ToF16 and F32ToBF16 on all 2^32 float32 bit patterns")

// f16Value is an independent decoder for binary16, from the format's
// definition, used as the reference for F16ToF32.
func f16Value(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, m := int(h>>10)&0x1f, float64(h&0x3ff)
	switch e {
	case 0:
		return sign * math.Ldexp(m, -24)
	case 31:
		if m != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	}
	return sign * math.Ldexp(1024+m, e-25)
}

// nearest is a slow but obviously correct rounding reference: the positive
// finite values of a 16-bit format in increasing order, with the infinity
// bit pattern standing for the next value the format would have had if its
// exponent went on (IEEE 754 overflow rounds as if it did).
type nearest struct {
	vals []float64
	bits []uint16
}

func newNearest(maxFinite, inf uint16, value func(uint16) float64, next float64) *nearest {
	t := &nearest{}
	for h := uint16(0); h <= maxFinite; h++ {
		t.vals = append(t.vals, value(h))
		t.bits = append(t.bits, h)
	}
	t.vals = append(t.vals, next)
	t.bits = append(t.bits, inf)
	return t
}

// round returns the bit pattern nearest to |f| (ties to the even pattern),
// with f's sign. NaN and Inf are the caller's business.
func (t *nearest) round(f float32) uint16 {
	a := math.Abs(float64(f))
	var sign uint16
	if math.Signbit(float64(f)) {
		sign = 0x8000
	}
	n := len(t.vals)
	if a >= t.vals[n-1] {
		return sign | t.bits[n-1]
	}
	i := sort.SearchFloat64s(t.vals, a) // first vals[i] >= a
	if t.vals[i] == a {
		return sign | t.bits[i]
	}
	lo, hi := t.vals[i-1], t.vals[i]
	switch {
	case a-lo < hi-a:
		return sign | t.bits[i-1]
	case a-lo > hi-a:
		return sign | t.bits[i]
	case t.bits[i-1]&1 == 0:
		return sign | t.bits[i-1]
	}
	return sign | t.bits[i]
}

var (
	refOnce        sync.Once
	refF16, refB16 *nearest
)

func refs() (f16, bf16 *nearest) {
	refOnce.Do(func() {
		refF16 = newNearest(0x7bff, 0x7c00, f16Value, 65536)
		refB16 = newNearest(0x7f7f, 0x7f80, func(h uint16) float64 {
			return float64(math.Float32frombits(uint32(h) << 16))
		}, math.Ldexp(1, 128))
	})
	return refF16, refB16
}

// mathF16 and mathBF16 are a second, fast reference: scale the magnitude so
// that one unit is the format's spacing there, round with math.RoundToEven,
// and assemble the bits from the rounded value.
func mathF16(f float32) uint16 {
	var sign uint16
	if math.Signbit(float64(f)) {
		sign = 0x8000
	}
	a := math.Abs(float64(f))
	_, e := math.Frexp(a) // a in [2^(e-1), 2^e)
	q := max(e-11, -24)   // 11 significant bits; subnormal spacing 2^-24
	v := math.Ldexp(math.RoundToEven(math.Ldexp(a, -q)), q)
	if v >= 65536 {
		return sign | 0x7c00
	}
	if v < 0x1p-14 {
		return sign | uint16(math.Ldexp(v, 24))
	}
	_, e = math.Frexp(v)
	m := math.Ldexp(v, 11-e) - 1024 // in [0, 1024)
	return sign | uint16(e-1+15)<<10 | uint16(m)
}

func mathBF16(f float32) uint16 {
	a := math.Abs(float64(f))
	_, e := math.Frexp(a)
	q := max(e-8, -133) // 8 significant bits; subnormal spacing 2^-133
	v := math.Ldexp(math.RoundToEven(math.Ldexp(a, -q)), q)
	if math.Signbit(float64(f)) {
		v = -v
	}
	if math.Abs(v) >= 0x1p128 {
		return uint16(math.Float32bits(float32(math.Inf(int(math.Copysign(1, v))))) >> 16)
	}
	return uint16(math.Float32bits(float32(v)) >> 16) // v is a bfloat16 value: exact
}

func isNaN32(f float32) bool { return f != f }

func TestF16ToF32AllPatterns(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		got, want := F16ToF32(h), f16Value(h)
		if math.IsNaN(want) {
			b := math.Float32bits(got)
			if !isNaN32(got) || uint16(b>>16)&0x8000 != h&0x8000 || b>>13&0x3ff != uint32(h&0x3ff) {
				t.Errorf("F16ToF32(%#04x) = %#08x, want NaN with sign and payload kept", h, b)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != (h&0x8000 != 0) {
			t.Errorf("F16ToF32(%#04x) = %v, want %v", h, got, want)
		}
	}
}

func TestDecodeF16Table(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		src := make([]uint16, 1<<16)
		for i := range src {
			src[i] = uint16(i)
		}
		dst := make([]float32, len(src))
		decodeF16(dst, src)
		for i, h := range src {
			if math.Float32bits(dst[i]) != math.Float32bits(F16ToF32(h)) {
				t.Fatalf("decodeF16(%#04x) = %#08x, F16ToF32 gives %#08x", h, math.Float32bits(dst[i]), math.Float32bits(F16ToF32(h)))
			}
		}
	})
}

func TestBF16ToF32AllPatterns(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		if got := math.Float32bits(BF16ToF32(h)); got != uint32(h)<<16 {
			t.Errorf("BF16ToF32(%#04x) = %#08x", h, got)
		}
	}
}

// TestRoundTrip16 checks that every 16-bit pattern survives the trip through
// float32 and back, NaNs coming back quiet with sign and payload.
func TestRoundTrip16(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		if got, want := F32ToF16(F16ToF32(h)), h; got != want {
			if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
				want |= 0x200 // NaN: quiet bit set
			}
			if got != want {
				t.Errorf("F32ToF16(F16ToF32(%#04x)) = %#04x, want %#04x", h, got, want)
			}
		}
		if got, want := F32ToBF16(BF16ToF32(h)), h; got != want {
			if h&0x7f80 == 0x7f80 && h&0x7f != 0 {
				want |= 0x40
			}
			if got != want {
				t.Errorf("F32ToBF16(BF16ToF32(%#04x)) = %#04x, want %#04x", h, got, want)
			}
		}
	}
}

// TestHalfway checks every float32 halfway between two adjacent 16-bit
// values (ties go to the even pattern) and the float32s either side of it.
func TestHalfway(t *testing.T) {
	type format struct {
		name      string
		maxFinite uint16
		value     func(uint16) float32
		conv      func(float32) uint16
	}
	formats := []format{
		{"F32ToF16", 0x7bff, F16ToF32, F32ToF16},
		{"F32ToBF16", 0x7f7f, BF16ToF32, F32ToBF16},
	}
	for _, f := range formats {
		for h := uint16(0); h <= f.maxFinite; h++ {
			lo := float64(f.value(h))
			var hi float64
			if h == f.maxFinite { // the value Inf stands for: one more step
				hi = 2*lo - float64(f.value(h-1))
			} else {
				hi = float64(f.value(h + 1))
			}
			mid := float32((lo + hi) / 2)
			if float64(mid) != (lo+hi)/2 {
				t.Fatalf("%s: midpoint of %#04x and next not a float32", f.name, h)
			}
			even := h
			if h&1 != 0 {
				even = h + 1
			}
			for _, sign := range []float32{1, -1} {
				s := uint16(0)
				if sign < 0 {
					s = 0x8000
				}
				m := sign * mid
				checks := []struct {
					x    float32
					want uint16
				}{
					{m, s | even},
					{math.Nextafter32(m, 0), s | h},
					{math.Nextafter32(m, sign*float32(math.Inf(1))), s | (h + 1)},
				}
				for _, c := range checks {
					if got := f.conv(c.x); got != c.want {
						t.Errorf("%s(%g = %#08x) = %#04x, want %#04x", f.name, c.x, math.Float32bits(c.x), got, c.want)
					}
				}
			}
		}
	}
}

func TestKnownValues(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	f16 := []struct {
		in   float32
		want uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.1, 0x2e66},
		{0.3, 0x34cd},
		{65504, 0x7bff},
		{65519.996, 0x7bff},
		{65520, 0x7c00},
		{-65520, 0xfc00},
		{1e6, 0x7c00},
		{math.MaxFloat32, 0x7c00},
		{inf, 0x7c00},
		{-inf, 0xfc00},
		{0x1p-14, 0x0400},        // smallest normal
		{0x1p-24, 0x0001},        // smallest subnormal
		{0x1p-25, 0x0000},        // tie between 0 and the smallest subnormal
		{0x1.000002p-25, 0x0001}, // just above it
		{0x3p-25, 0x0002},        // tie between 1 and 2 subnormal steps
		{0x1.ff8p-15, 0x03ff},    // largest subnormal
		{0x1.ffcp-15, 0x0400},    // tie between it and the smallest normal
		{math.SmallestNonzeroFloat32, 0x0000},
		{-math.SmallestNonzeroFloat32, 0x8000},
		{nan, 0x7e00},
	}
	for _, c := range f16 {
		if got := F32ToF16(c.in); got != c.want {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	bf16 := []struct {
		in   float32
		want uint16
	}{
		{0, 0x0000},
		{1, 0x3f80},
		{0.3, 0x3e9a},
		{-0.3, 0xbe9a},
		{3.3895314e38, 0x7f7f}, // largest finite bfloat16
		{math.MaxFloat32, 0x7f80},
		{-math.MaxFloat32, 0xff80},
		{inf, 0x7f80},
		{math.SmallestNonzeroFloat32, 0x0000},
		{0x1p-133, 0x0001}, // smallest subnormal bfloat16
		{nan, 0x7fc0},
		{math.Float32frombits(0xffc00001), 0xffc0}, // sign kept
		{math.Float32frombits(0x7f800001), 0x7fc0}, // signalling NaN quieted
		{math.Float32frombits(0x7f810000), 0x7fc1}, // payload kept
	}
	for _, c := range bf16 {
		if got := F32ToBF16(c.in); got != c.want {
			t.Errorf("F32ToBF16(%g) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	if got := BF16ToF32(F32ToBF16(0.3)); got != 0.30078125 {
		t.Errorf("bf16(0.3) = %v, want 0.30078125", got)
	}
	if got := F16ToF32(F32ToF16(0.1)); got != 0.099975586 {
		t.Errorf("f16(0.1) = %v, want 0.099975586", got)
	}
}

func TestMathReferences(t *testing.T) {
	// The fast references used by the long sweep must agree with the
	// table references they stand in for.
	f16, bf16 := refs()
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		f := math.Float32frombits(r.Uint32())
		if isNaN32(f) || math.IsInf(float64(f), 0) {
			continue
		}
		if a, b := mathF16(f), f16.round(f); a != b {
			t.Fatalf("mathF16(%g) = %#04x, table says %#04x", f, a, b)
		}
		if a, b := mathBF16(f), bf16.round(f); a != b {
			t.Fatalf("mathBF16(%g) = %#04x, table says %#04x", f, a, b)
		}
	}
}

// checkConv compares F32ToF16 and F32ToBF16 on bit pattern b with
// the references, and checks that RoundScalar agrees with the round trip.
func checkConv(t *testing.T, b uint32, table bool) bool {
	f := math.Float32frombits(b)
	if isNaN32(f) {
		want := uint16(b>>16)&0x8000 | 0x7e00 | uint16(b>>13)&0x3ff
		return F32ToF16(f) == want && F32ToBF16(f) == uint16(b>>16)|0x40
	}
	h, bh := F32ToF16(f), F32ToBF16(f)
	var wh, wbh uint16
	if math.IsInf(float64(f), 0) {
		wh, wbh = uint16(b>>16)&0x8000|0x7c00, uint16(b>>16)
	} else if table {
		f16, bf16 := refs()
		wh, wbh = f16.round(f), bf16.round(f)
	} else {
		wh, wbh = mathF16(f), mathBF16(f)
	}
	if h != wh || bh != wbh {
		t.Errorf("%#08x (%g): F32ToF16 = %#04x want %#04x; F32ToBF16 = %#04x want %#04x", b, f, h, wh, bh, wbh)
		return false
	}
	if math.Float32bits(RoundScalar(F16, f)) != math.Float32bits(F16ToF32(h)) ||
		math.Float32bits(RoundScalar(BF16, f)) != math.Float32bits(BF16ToF32(bh)) {
		t.Errorf("%#08x: RoundScalar disagrees with the round trip", b)
		return false
	}
	return true
}

func TestRandomAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	n := 1000000
	if testing.Short() {
		n = 100000
	}
	for i := range n {
		b := r.Uint32()
		if i%2 == 1 {
			// Half the samples in the magnitudes where binary16 lives,
			// 2^-26 to 2^17, where the interesting cases are.
			b = b&0x807fffff | (0x32+uint32(r.IntN(0x48-0x32)))<<23
		}
		if !checkConv(t, b, true) {
			return
		}
	}
}

// TestAllFloat32 sweeps all 2^32 bit patterns through the scalar and bulk
// conversions, against the math references:
// go test ./tensor -run AllFloat32 -long (about two minutes on two cores).
func TestAllFloat32(t *testing.T) {
	if !*long {
		t.Skip("needs -long")
	}
	forEachImpl(t, func(t *testing.T) {
		workers := runtime.GOMAXPROCS(0)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				x := make([]float32, 1<<16)
				h16, b16 := make([]uint16, len(x)), make([]uint16, len(x))
				r16, rb16 := make([]float32, len(x)), make([]float32, len(x))
				for hi := uint32(w); hi < 1<<16; hi += uint32(workers) {
					for lo := range x {
						x[lo] = math.Float32frombits(hi<<16 | uint32(lo))
					}
					encodeF16(h16, x)
					encodeBF16(b16, x)
					copy(r16, x)
					roundF16(r16)
					copy(rb16, x)
					roundBF16(rb16)
					for lo, f := range x {
						if !checkConv(t, hi<<16|uint32(lo), false) {
							return
						}
						if h16[lo] != F32ToF16(f) || b16[lo] != F32ToBF16(f) ||
							math.Float32bits(r16[lo]) != math.Float32bits(F16ToF32(h16[lo])) ||
							math.Float32bits(rb16[lo]) != math.Float32bits(BF16ToF32(b16[lo])) {
							t.Errorf("%#08x: bulk kernels disagree with the scalar conversions", hi<<16|uint32(lo))
							return
						}
					}
				}
			}()
		}
		wg.Wait()
	})
}

func FuzzF32To16(f *testing.F) {
	for _, b := range []uint32{0, 0x3f800000, 0x477ff000, 0x33000000, 0x7fc00000, 0xff800000} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b uint32) {
		checkConv(t, b, true)
	})
}
