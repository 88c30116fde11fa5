package pytorch

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// pk builds pickles by hand.
type pk struct{ b []byte }

func newPK(proto byte) *pk { return &pk{b: []byte{opProto, proto}} }

func (p *pk) op(b ...byte) *pk { p.b = append(p.b, b...); return p }

func (p *pk) str(s string) *pk {
	p.b = append(p.b, opBinUnicode)
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(s)))
	p.b = append(p.b, s...)
	return p
}

func (p *pk) int(v int32) *pk {
	p.b = append(p.b, opBinInt)
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(v))
	return p
}

func (p *pk) global(module, name string) *pk {
	p.b = append(p.b, opGlobal)
	p.b = append(p.b, module+"\n"+name+"\n"...)
	return p
}

func (p *pk) ints(v ...int32) *pk {
	p.op(opMark)
	for _, x := range v {
		p.int(x)
	}
	return p.op(opTuple)
}

func (p *pk) stop() []byte { return append(p.b, opStop) }

// tensorPickle is a state dict {"w": tensor} of an f32 storage "0" with
// numel elements viewed with the given offset, size and stride.
func tensorPickle(numel, offset int32, size, stride []int32) []byte {
	p := newPK(2).op(opEmptyDict).str("w")
	p.global("torch._utils", "_rebuild_tensor_v2").op(opMark)
	p.op(opMark).str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(numel).op(opTuple, opBinPersID)
	p.int(offset).ints(size...).ints(stride...).op(opNewFalse)
	p.global("collections", "OrderedDict").op(opEmptyTuple, opReduce)
	p.op(opTuple, opReduce, opSetItem)
	return p.stop()
}

// zipCheckpoint is a zip-format checkpoint of pkl with storage records.
func zipCheckpoint(t testing.TB, pkl []byte, method uint16, records map[string][]byte) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	add := func(name string, data []byte) {
		f, err := w.CreateHeader(&zip.FileHeader{Name: "archive/" + name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		f.Write(data)
	}
	add("data.pkl", pkl)
	add("byteorder", []byte("little"))
	for k, v := range records {
		add("data/"+k, v)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func f32Bytes(n int) []byte {
	b := make([]byte, 4*n)
	for i := range n {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(i+1))
	}
	return b
}

// TestHandMadeViews reads views written by hand, stored and compressed.
func TestHandMadeViews(t *testing.T) {
	for _, tc := range []struct {
		name          string
		numel, offset int32
		size, stride  []int32
		want          []uint32
	}{
		{"contiguous", 6, 0, []int32{2, 3}, []int32{3, 1}, []uint32{1, 2, 3, 4, 5, 6}},
		{"offset", 6, 2, []int32{2, 2}, []int32{2, 1}, []uint32{3, 4, 5, 6}},
		{"transpose", 6, 0, []int32{3, 2}, []int32{1, 3}, []uint32{1, 4, 2, 5, 3, 6}},
		{"expand", 6, 1, []int32{3, 2}, []int32{0, 1}, []uint32{2, 3, 2, 3, 2, 3}},
		{"scalar", 6, 5, nil, nil, []uint32{6}},
		{"3d step", 24, 1, []int32{2, 2, 2}, []int32{12, 4, 2}, []uint32{2, 4, 6, 8, 14, 16, 18, 20}},
	} {
		for _, method := range []uint16{zip.Store, zip.Deflate} {
			data := zipCheckpoint(t, tensorPickle(tc.numel, tc.offset, tc.size, tc.stride), method,
				map[string][]byte{"0": f32Bytes(int(tc.numel))})
			f, err := newFile(bytes.NewReader(data), int64(len(data)), tc.name)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			ti, _ := f.Tensor("w")
			got := make([]byte, ti.Size)
			if err := f.ReadTensor("w", got); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			var want []byte
			for _, v := range tc.want {
				want = binary.LittleEndian.AppendUint32(want, v)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s (method %d): got % x, want % x", tc.name, method, got, want)
			}
		}
	}
}

// TestRefused feeds hostile and broken pickles; each must fail with the
// right kind of error and no panic.
func TestRefused(t *testing.T) {
	deep := newPK(2)
	for range maxMarks + 1 {
		deep.op(opMark)
	}
	nested := newPK(2)
	for range 100000 {
		nested.op(opEmptyList)
	}
	for range 99999 {
		nested.op(opAppend)
	}
	memoBomb := newPK(2).op(opEmptyList, opBinPut, 0)
	for range 10000 {
		memoBomb.op(opMark, opBinGet, 0, opBinGet, 0, opBinGet, 0, opAppends)
	}
	valueBomb := newPK(2).op(bytes.Repeat([]byte{opEmptyDict, opPop}, maxValues+1)...)
	hugeString := newPK(4).op(opBinUnicode8, 0, 0, 0, 0, 0, 0, 0, 0x40)
	longString := newPK(2).op(opBinUnicode, 0xff, 0xff, 0xff, 0x03, 'a', 'b')

	for _, tc := range []struct {
		name    string
		pickle  []byte
		records map[string][]byte
		unsafe  bool   // want ErrUnsafe, else ErrFormat
		msg     string // in the error
	}{
		{"builtins.eval", newPK(2).global("builtins", "eval").str("__import__('os').system('id')").op(opTuple1, opReduce).stop(), nil, true, `"builtins.eval"`},
		{"os.system via REDUCE", newPK(4).op(opShortBinUni, 2, 'o', 's', opShortBinUni, 6, 's', 'y', 's', 't', 'e', 'm', opStackGlobal).str("id").op(opTuple1, opReduce).stop(), nil, true, `"os.system"`},
		{"INST", newPK(2).op(opMark).op([]byte("i__builtin__\neval\n")...).stop(), nil, true, "INST"},
		{"OBJ", newPK(2).op(opMark, 'o').stop(), nil, true, "OBJ"},
		{"NEWOBJ", newPK(2).op(opEmptyTuple, opEmptyTuple, 0x81).stop(), nil, true, "NEWOBJ"},
		{"EXT1", newPK(2).op(0x82, 1).stop(), nil, true, "EXT1"},
		{"torch.load", newPK(2).global("torch", "load").stop(), nil, true, `"torch.load"`},
		{"torch other util", newPK(2).global("torch._utils", "_rebuild_device_tensor_from_numpy").stop(), nil, true, "_rebuild_device_tensor_from_numpy"},
		{"call a storage class", newPK(2).global("torch", "FloatStorage").op(opEmptyTuple, opReduce).stop(), nil, true, "torch.FloatStorage"},
		{"call a string", newPK(2).str("x").op(opEmptyTuple, opReduce).stop(), nil, true, "call of str"},
		{"BUILD on a list", newPK(2).op(opEmptyList, opEmptyDict, opBuild).stop(), nil, true, "BUILD of list"},
		{"deep nesting", deep.stop(), nil, false, "nested deeper"},
		{"nested lists", nested.stop(), nil, false, "want a state dict"},
		{"memo bomb", memoBomb.stop(), nil, false, "want a state dict"},
		{"nested _rebuild_from_type_v2", newPK(2).global("torch._tensor", "_rebuild_from_type_v2").op(opMark).
			global("torch._tensor", "_rebuild_from_type_v2").global("torch", "Tensor").op(opEmptyTuple, opEmptyDict, opTuple, opReduce).stop(),
			nil, true, "_rebuild_from_type_v2 with function"},
		{"value bomb", valueBomb.stop(), nil, false, "values"},
		{"missing memo", newPK(2).op(opBinGet, 7).stop(), nil, false, "memo entry 7"},
		{"huge string", hugeString.stop(), nil, false, "limit"},
		{"truncated string", longString.stop(), nil, false, "truncated"},
		{"huge long", newPK(2).op(opLong4, 0xff, 0xff, 0xff, 0x7f).stop(), nil, false, "integer of"},
		{"protocol 6", newPK(6).op(opNone).stop(), nil, false, "protocol 6"},
		{"no STOP", newPK(2).op(opNone).b, nil, false, "no STOP"},
		{"underflow", newPK(2).op(opReduce).stop(), nil, false, "underflow"},
		{"unhashable key", newPK(2).op(opEmptyDict, opEmptyTuple, opNone, opSetItem).stop(), nil, false, "dict key of type tuple"},
		{"bad persid", newPK(2).str("x").op(opBinPersID).stop(), nil, false, "persistent id"},
		{"huge tensor", tensorPickle(6, 0, []int32{1 << 30, 1 << 30, 1 << 30}, []int32{0, 0, 0}), map[string][]byte{"0": f32Bytes(6)}, false, "too many elements"},
		{"huge expand", tensorPickle(6, 0, []int32{1 << 20, 1 << 20}, []int32{0, 0}), map[string][]byte{"0": f32Bytes(6)}, false, "expands"},
		{"view past storage", tensorPickle(6, 4, []int32{2, 2}, []int32{2, 1}), map[string][]byte{"0": f32Bytes(6)}, false, "reaches element"},
		{"record too small", tensorPickle(6, 0, []int32{6}, []int32{1}), map[string][]byte{"0": f32Bytes(3)}, false, "needs 24 bytes"},
		{"record missing", tensorPickle(6, 0, []int32{6}, []int32{1}), nil, false, "no record archive/data/0"},
		{"negative stride", tensorPickle(6, 5, []int32{6}, []int32{-1}), map[string][]byte{"0": f32Bytes(6)}, false, "stride[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := zipCheckpoint(t, tc.pickle, zip.Store, tc.records)
			_, err := newFile(bytes.NewReader(data), int64(len(data)), "evil.bin")
			if err == nil {
				t.Fatal("accepted")
			}
			want := ErrFormat
			if tc.unsafe {
				want = ErrUnsafe
			}
			if !errors.Is(err, want) {
				t.Errorf("error %q does not wrap %v", err, want)
			}
			for _, s := range []string{"evil.bin", tc.msg} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %s", err, s)
				}
			}
		})
	}
}

func TestNotACheckpoint(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("hello"), {0x1f, 0x8b, 8, 0}, []byte("PK\x03\x04garbage")} {
		if _, err := newFile(bytes.NewReader(data), int64(len(data)), "x.bin"); !errors.Is(err, ErrFormat) {
			t.Errorf("%q: %v", data, err)
		}
	}
}

// TestLegacyRefused damages a legacy checkpoint in the ways that matter.
func TestLegacyRefused(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(refDir, "variants/variants_legacy.bin"))
	if err != nil {
		t.Fatal(err)
	}
	evilMagic := newPK(2).global("os", "system").stop()
	for _, tc := range []struct {
		name   string
		data   []byte
		unsafe bool
		msg    string
	}{
		{"truncated storages", src[:len(src)-10], false, "runs past the end"},
		{"truncated pickle", src[:200], false, "truncated"},
		{"global in magic", append(evilMagic, src[15:]...), true, `"os.system"`},
		{"wrong magic", append(newPK(2).int(7).stop(), src[15:]...), false, "magic number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newFile(bytes.NewReader(tc.data), int64(len(tc.data)), "old.bin")
			want := ErrFormat
			if tc.unsafe {
				want = ErrUnsafe
			}
			if !errors.Is(err, want) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "old.bin") {
				t.Errorf("error %v, want %v mentioning %s", err, want, tc.msg)
			}
		})
	}
}

// TestRebuildForms reads the less common ways torch pickles a tensor.
func TestRebuildForms(t *testing.T) {
	storage := func(p *pk) *pk {
		return p.op(opMark).str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(6).op(opTuple, opBinPersID)
	}
	v2 := func(p *pk) *pk {
		p.global("torch._utils", "_rebuild_tensor_v2").op(opMark)
		storage(p).int(0).ints(2, 3).ints(3, 1).op(opNewFalse)
		p.global("collections", "OrderedDict").op(opEmptyTuple, opReduce)
		return p.op(opTuple, opReduce)
	}
	parameter := newPK(2).global("collections", "OrderedDict").op(opEmptyTuple, opReduce).str("w")
	parameter.global("torch._utils", "_rebuild_parameter").op(opMark)
	v2(parameter).op(opNewTrue).global("collections", "OrderedDict").op(opEmptyTuple, opReduce).op(opTuple, opReduce, opSetItem)
	// A non-tensor entry is skipped; BUILD sets the OrderedDict's _metadata.
	parameter.str("step").op(opBinFloat, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, opSetItem)
	parameter.op(opEmptyDict).str("_metadata").op(opEmptyDict, opSetItem, opBuild)

	old := newPK(2).op(opEmptyDict).str("w").global("torch._utils", "_rebuild_tensor").op(opMark)
	storage(old).int(0).ints(2, 3).ints(3, 1).op(opTuple, opReduce, opSetItem)

	fromType := newPK(2).op(opEmptyDict).str("w").global("torch._tensor", "_rebuild_from_type_v2").op(opMark)
	fromType.global("torch._utils", "_rebuild_tensor").global("torch.nn.parameter", "Parameter").op(opMark)
	storage(fromType).int(0).ints(2, 3).ints(3, 1).op(opTuple).op(opEmptyDict, opTuple, opReduce, opSetItem)

	// OrderedDict([("w", tensor)]) with LONG_BINPUT/LONG_BINGET and MEMOIZE.
	pairs := newPK(4).global("collections", "OrderedDict").op(opMark, opEmptyList, opMemoize, opMark, opMark).str("w")
	v2(pairs).op(opLongBinPut, 9, 0, 0, 1, opTuple, opAppends, opTuple, opReduce)
	pairs.op(opEmptyDict).str("again").op(opLongBinGet, 9, 0, 0, 1, opSetItem, opPop)

	for _, tc := range []struct {
		name   string
		pickle []byte
	}{{"parameter", parameter.stop()}, {"_rebuild_tensor", old.stop()}, {"_rebuild_from_type_v2", fromType.stop()}, {"OrderedDict pairs", pairs.stop()}} {
		t.Run(tc.name, func(t *testing.T) {
			data := zipCheckpoint(t, tc.pickle, zip.Store, map[string][]byte{"0": f32Bytes(6)})
			f, err := newFile(bytes.NewReader(data), int64(len(data)), tc.name)
			if err != nil {
				t.Fatal(err)
			}
			ti, ok := f.Tensor("w")
			if !ok || len(f.Names()) != 1 {
				t.Fatalf("names %v", f.Names())
			}
			got := make([]byte, ti.Size)
			if err := f.ReadTensor("w", got); err != nil || !bytes.Equal(got, f32Bytes(6)) {
				t.Errorf("got % x, %v", got, err)
			}
		})
	}
}

// TestModelSkipped: entries that are not tensors are left out and listed,
// for the caller to report through its own logger.
func TestModelSkipped(t *testing.T) {
	p := newPK(2).op(opEmptyDict, opMark).str("w").global("torch._utils", "_rebuild_tensor").op(opMark)
	p.op(opMark).str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(6).op(opTuple, opBinPersID)
	p.int(0).ints(2, 3).ints(3, 1).op(opTuple, opReduce)
	p.str("step").int(7).str("lr").op(opBinFloat, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, opSetItems)
	dir := t.TempDir()
	data := zipCheckpoint(t, p.stop(), zip.Store, map[string][]byte{"0": f32Bytes(6)})
	if err := os.WriteFile(filepath.Join(dir, singleFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.Skipped(); !slices.Equal(got, []string{"step", "lr"}) || !slices.Equal(m.Names(), []string{"w"}) {
		t.Errorf("Skipped = %q, Names = %q", got, m.Names())
	}
}
