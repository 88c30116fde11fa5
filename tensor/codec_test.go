package tensor

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

var arithmetic = []DType{Bool, U8, I8, I16, U16, I32, U32, I64, U64, F16, BF16, F32, F64}

func TestEncodeDecodeTable(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		nan := float32(math.NaN())
		inf := float32(math.Inf(1))
		cases := []struct {
			dt    DType
			in    []float32
			bytes []byte
			out   []float32 // Decode(Encode(in))
		}{
			{Bool, []float32{0, -0.0, 1, -2.5, nan}, []byte{0, 0, 1, 1, 1}, []float32{0, 0, 1, 1, 1}},
			{U8, []float32{0, 1.9, 255, 256, -3, nan, 77.7}, []byte{0, 1, 255, 255, 0, 0, 77}, []float32{0, 1, 255, 255, 0, 0, 77}},
			{I8, []float32{-1.7, 2.9, 300, -300, nan}, []byte{0xff, 2, 0x7f, 0x80, 0}, []float32{-1, 2, 127, -128, 0}},
			{I16, []float32{-2, 40000, -40000}, []byte{0xfe, 0xff, 0xff, 0x7f, 0x00, 0x80}, []float32{-2, 32767, -32768}},
			{U16, []float32{513, 70000, -1}, []byte{0x01, 0x02, 0xff, 0xff, 0, 0}, []float32{513, 65535, 0}},
			{I32, []float32{-1, 3e9, -inf}, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0x80}, []float32{-1, 2147483648, -2147483648}},
			{U32, []float32{16777217, 5e9, nan}, []byte{0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, []float32{16777216, 4294967296, 0}},
			{I64, []float32{-1, 1e19, inf}, []byte{
				0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
				0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
			}, []float32{-1, 0x1p63, 0x1p63}},
			{U64, []float32{0x1p63, 1e20, -1}, []byte{
				0, 0, 0, 0, 0, 0, 0, 0x80,
				0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				0, 0, 0, 0, 0, 0, 0, 0,
			}, []float32{0x1p63, 0x1p64, 0}},
			{F16, []float32{1, 0.1, -65520, 0x1p-24}, []byte{0x00, 0x3c, 0x66, 0x2e, 0x00, 0xfc, 0x01, 0x00}, []float32{1, 0.099975586, -inf, 0x1p-24}},
			{BF16, []float32{1, 0.3, -math.MaxFloat32}, []byte{0x80, 0x3f, 0x9a, 0x3e, 0x80, 0xff}, []float32{1, 0.30078125, -inf}},
			{F32, []float32{1, -0.1}, []byte{0, 0, 0x80, 0x3f, 0xcd, 0xcc, 0xcc, 0xbd}, []float32{1, -0.1}},
			{F64, []float32{1, 0.1}, []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0xa0, 0x99, 0x99, 0xb9, 0x3f}, []float32{1, 0.1}},
		}
		for _, c := range cases {
			got := make([]byte, len(c.bytes))
			if err := Encode(got, c.in, c.dt); err != nil {
				t.Errorf("Encode %v: %v", c.dt, err)
				continue
			}
			if !bytes.Equal(got, c.bytes) {
				t.Errorf("Encode %v %v = % x, want % x", c.dt, c.in, got, c.bytes)
			}
			dec := make([]float32, len(c.in))
			if err := Decode(dec, c.bytes, c.dt); err != nil {
				t.Errorf("Decode %v: %v", c.dt, err)
				continue
			}
			if !sameBits(dec, c.out) {
				t.Errorf("Decode %v % x = %v, want %v", c.dt, c.bytes, dec, c.out)
			}
			r := append([]float32(nil), c.in...)
			Round(c.dt, r)
			if !sameBits(r, c.out) {
				t.Errorf("Round %v %v = %v, want %v", c.dt, c.in, r, c.out)
			}
		}
	})
}

func TestDecodeWideIntegers(t *testing.T) {
	// Integers above 2^24 round to nearest even, like torch's static_cast.
	cases := []struct {
		dt   DType
		v    uint64
		want float32
	}{
		{I32, 16777217, 16777216},
		{I32, 16777219, 16777220},
		{U32, 0xffffffff, 0x1p32},
		{I64, 1<<53 + 1, 0x1p53},
		{U64, 1<<63 + 1<<39, 0x1p63},            // tie: to even
		{U64, 1<<63 + 1<<39 + 1, 0x1.000002p63}, // just above the tie
		{U64, math.MaxUint64, 0x1p64},
	}
	for _, c := range cases {
		src := make([]byte, 8)
		for i := range src {
			src[i] = byte(c.v >> (8 * i))
		}
		dst := make([]float32, 1)
		if err := Decode(dst, src[:c.dt.Size()], c.dt); err != nil {
			t.Fatal(err)
		}
		if dst[0] != c.want {
			t.Errorf("Decode %v %d = %g, want %g", c.dt, c.v, dst[0], c.want)
		}
	}
}

func TestDecodeEncodeErrors(t *testing.T) {
	for _, dt := range []DType{Invalid, F8E4M3, F8E5M2, DType(200)} {
		if err := Decode(make([]float32, 2), make([]byte, 2), dt); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Decode %v: err = %v, want ErrUnsupported", dt, err)
		}
		if err := Encode(make([]byte, 2), make([]float32, 2), dt); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Encode %v: err = %v, want ErrUnsupported", dt, err)
		}
	}
	for _, dt := range arithmetic {
		for _, n := range []int{0, 1, 3} {
			for _, nb := range []int{n*dt.Size() - 1, n*dt.Size() + 1, (n + 1) * dt.Size()} {
				if nb < 0 {
					continue
				}
				if err := Decode(make([]float32, n), make([]byte, nb), dt); !errors.Is(err, ErrLength) {
					t.Errorf("Decode %v %d bytes into %d: err = %v, want ErrLength", dt, nb, n, err)
				}
				if err := Encode(make([]byte, nb), make([]float32, n), dt); !errors.Is(err, ErrLength) {
					t.Errorf("Encode %v %d floats into %d bytes: err = %v, want ErrLength", dt, n, nb, err)
				}
			}
		}
	}
}

// testValues returns n float32s mixing weight-like values with the special
// cases: zeros, subnormals, overflow, Inf and NaN.
func testValues(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 5))
	specials := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0x1p-24, 0x1p-25, 65520, -70000,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, 3e9, -1e19, 300.7}
	x := make([]float32, n)
	for i := range x {
		switch r.IntN(4) {
		case 0:
			x[i] = specials[r.IntN(len(specials))]
		case 1:
			x[i] = math.Float32frombits(r.Uint32())
		default:
			x[i] = float32(r.NormFloat64() * 0.02)
		}
	}
	return x
}

// TestEncodeDecodeLayouts checks, for every dtype, that Decode(Encode(x))
// equals Round, on odd lengths, around the staging chunk size, on misaligned
// byte buffers and with the host treated as big-endian (the portable path).
func TestEncodeDecodeLayouts(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		lengths := []int{0, 1, 2, 3, 4, 5, 7, 9, 15, 17, chunk - 1, chunk, chunk + 1, 3*chunk + 5}
		for _, bigEndian := range []bool{false, true} {
			saved := littleEndian
			littleEndian = littleEndian && !bigEndian
			for _, dt := range arithmetic {
				for _, n := range lengths {
					x := testValues(n, uint64(n))
					want := append([]float32(nil), x...)
					Round(dt, want)
					var ref []byte
					for off := range 3 {
						buf := make([]byte, n*dt.Size()+off)
						raw := buf[off:]
						if err := Encode(raw, x, dt); err != nil {
							t.Fatal(err)
						}
						if ref == nil {
							ref = append([]byte(nil), raw...)
						} else if !bytes.Equal(raw, ref) {
							t.Errorf("big-endian=%v %v n=%d offset %d: Encode differs from offset 0", bigEndian, dt, n, off)
						}
						got := make([]float32, n)
						if err := Decode(got, raw, dt); err != nil {
							t.Fatal(err)
						}
						// Widening to float64 quiets signalling NaNs (CVTSS2SD does),
						// so F64 keeps NaN-ness but not every NaN bit pattern.
						if !sameBits(got, want) && !(dt == F64 && sameNaN(got, want)) {
							t.Errorf("big-endian=%v %v n=%d offset %d: Decode(Encode(x)) != Round(x)", bigEndian, dt, n, off)
						}
					}
				}
			}
			littleEndian = saved
		}
	})
}

func TestEncode16MatchesScalar(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		x := testValues(1001, 9)
		for _, c := range []struct {
			dt   DType
			conv func(float32) uint16
		}{{BF16, F32ToBF16}, {F16, F32ToF16}} {
			raw := make([]byte, 2*len(x))
			if err := Encode(raw, x, c.dt); err != nil {
				t.Fatal(err)
			}
			for i, v := range x {
				if got, want := uint16(raw[2*i])|uint16(raw[2*i+1])<<8, c.conv(v); got != want {
					t.Fatalf("Encode %v element %d (%g) = %#04x, want %#04x", c.dt, i, v, got, want)
				}
			}
		}
	})
}

func TestRoundUnchanged(t *testing.T) {
	x := testValues(100, 11)
	for _, dt := range []DType{F32, F64, F8E4M3, F8E5M2, Invalid} {
		y := append([]float32(nil), x...)
		Round(dt, y)
		if !sameBits(x, y) {
			t.Errorf("Round %v changed its input", dt)
		}
	}
}

func TestAsFloat32s(t *testing.T) {
	x := []float32{1, -2, 0.5}
	b := AsBytes(x)
	want := make([]byte, 12)
	if err := Encode(want, x, F32); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("AsBytes = % x, want % x", b, want)
	}
	y, ok := AsFloat32s(b)
	if !ok || !sameBits(x, y) {
		t.Fatalf("AsFloat32s(AsBytes(x)) = %v, %v", y, ok)
	}
	y[0] = 7
	if x[0] != 7 {
		t.Error("AsFloat32s copied")
	}
	if _, ok := AsFloat32s(b[1:5]); ok {
		t.Error("AsFloat32s accepted a misaligned slice")
	}
	if _, ok := AsFloat32s(b[:6]); ok {
		t.Error("AsFloat32s accepted a partial element")
	}
	if AsBytes(nil) != nil {
		t.Error("AsBytes(nil) != nil")
	}
}

// TestKernelsMatchGeneric compares the dispatched 16-bit kernels (assembly
// where the host has it) with their portable references and the scalar
// conversions.
func TestKernelsMatchGeneric(t *testing.T) {
	for _, n := range []int{0, 1, 3, 7, 8, 9, 31, 33, 1000} {
		x := testValues(n, uint64(n)+100)
		h1, h2 := make([]uint16, n), make([]uint16, n)
		f1, f2 := make([]float32, n), make([]float32, n)
		for _, k := range []struct {
			name   string
			enc    [2]func([]uint16, []float32)
			dec    [2]func([]float32, []uint16)
			round  [2]func([]float32)
			scalar func(float32) uint16
		}{
			{"BF16", [2]func([]uint16, []float32){encodeBF16, encodeBF16Generic}, [2]func([]float32, []uint16){decodeBF16, decodeBF16Generic}, [2]func([]float32){roundBF16, roundBF16Generic}, F32ToBF16},
			{"F16", [2]func([]uint16, []float32){encodeF16, encodeF16Generic}, [2]func([]float32, []uint16){decodeF16, decodeF16Generic}, [2]func([]float32){roundF16, roundF16Generic}, F32ToF16},
		} {
			k.enc[0](h1, x)
			k.enc[1](h2, x)
			for i := range h1 {
				if h1[i] != h2[i] || h1[i] != k.scalar(x[i]) {
					t.Fatalf("%s encode n=%d [%d]: %#04x vs generic %#04x", k.name, n, i, h1[i], h2[i])
				}
			}
			k.dec[0](f1, h1)
			k.dec[1](f2, h1)
			if !sameBits(f1, f2) {
				t.Fatalf("%s decode n=%d differs from generic", k.name, n)
			}
			copy(f2, x)
			k.round[0](f2)
			copy(f1, x)
			k.round[1](f1)
			if !sameBits(f1, f2) {
				t.Fatalf("%s round n=%d differs from generic", k.name, n)
			}
		}
	}
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// sameNaN is sameBits with every NaN equal to every other NaN.
func sameNaN(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(isNaN32(a[i]) && isNaN32(b[i])) {
			return false
		}
	}
	return true
}
