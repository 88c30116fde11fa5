package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	nlp "github.com/nlpodyssey/safetensors"
)

// FuzzNewReader checks that NewReader never panics, that whatever it accepts
// can be read, written back with Writer and read again unchanged, and that it
// agrees with nlpodyssey/safetensors (itself a port of the Rust crate's
// parser) on which files are valid.
//
// Where the two parsers may disagree, by design:
//   - We reject duplicate JSON keys; nlpodyssey keeps the last one.
//   - We reject invalid UTF-8; Go's JSON decoder replaces it with U+FFFD.
//   - We reject a header not starting with '{' (as the Rust crate does);
//     nlpodyssey allows leading whitespace.
//   - We reject dimensions and element counts beyond int64 even when a zero
//     dimension makes the tensor empty; nlpodyssey computes in uint64.
//   - nlpodyssey knows fewer dtypes (no FP8), so files using them are only
//     checked one way.
func FuzzNewReader(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, data)
		// Random bytes rarely form a valid file. Also read the input as a
		// bare header and append the data section it asks for, so that the
		// fuzzer's header mutations reach the accepting paths.
		if len(data) > 0 && data[0] == '{' {
			if _, tensors, err := parseHeader(data); err == nil {
				var n int64
				for _, t := range tensors {
					n += t.Size
				}
				if n <= 1<<20 {
					checkParse(t, rawFile(string(data), bytes.Repeat([]byte{0x5a}, int(n))))
				}
			}
		}
	})
}

// checkParse runs the fuzz checks on data and reports whether we accept it.
func checkParse(t *testing.T, data []byte) bool {
	r, err := NewReader(bytes.NewReader(data), int64(len(data)))
	_, nlpErr := nlp.Deserialize(data)
	if err != nil {
		if !errors.Is(err, ErrFormat) {
			t.Fatalf("error does not wrap ErrFormat: %v", err)
		}
		if nlpErr == nil && !disagreementAllowed(data, err) {
			t.Fatalf("nlpodyssey accepts, we reject: %v", err)
		}
		return false
	}
	known := true
	for _, info := range r.Tensors() {
		known = known && nlpDTypes[info.DType]
	}
	if known {
		compareNLP(t, "input", data, r)
	}
	rewrite(t, r)
	return true
}

// disagreementAllowed reports whether we may reject data, which nlpodyssey
// accepts (so its header length is in range), with err.
func disagreementAllowed(data []byte, err error) bool {
	if errors.Is(err, errDuplicateKey) || errors.Is(err, errRange) {
		return true
	}
	hdr := data[8 : 8+binary.LittleEndian.Uint64(data)]
	return !utf8.Valid(hdr) || len(hdr) == 0 || hdr[0] != '{' || hasDuplicateKeys(hdr)
}

// hasDuplicateKeys reports whether some object in the JSON text hdr repeats a
// key. Our parser may report another problem first, in the value that a
// later duplicate replaces for nlpodyssey.
func hasDuplicateKeys(hdr []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	type object struct {
		keys      map[string]bool
		expectKey bool
	}
	var stack []*object
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *object
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.expectKey {
			if key, ok := tok.(string); ok {
				if top.keys[key] {
					return true
				}
				top.keys[key] = true
				top.expectKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &object{keys: map[string]bool{}, expectKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, nil)
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: the enclosing object expects a key next.
		if len(stack) > 0 && stack[len(stack)-1] != nil {
			stack[len(stack)-1].expectKey = true
		}
	}
}

// rewrite writes r's tensors with Writer, reads them back and compares.
func rewrite(t *testing.T, r *Reader) {
	dir := t.TempDir()
	var specs []TensorSpec
	bufs := make(map[string][]byte)
	for _, info := range r.Tensors() {
		specs = append(specs, TensorSpec{info.Name, info.DType, info.Shape})
		buf := make([]byte, info.Size)
		if err := r.ReadTensor(info.Name, buf); err != nil {
			t.Fatal(err)
		}
		bufs[info.Name] = buf
	}
	meta := r.Metadata()
	if meta == nil {
		meta = map[string]string{}
	}
	w, err := Create(dir, specs, WriterOptions{Metadata: meta})
	if err != nil {
		t.Fatalf("Create rejects what NewReader accepted: %v", err)
	}
	defer w.Abort()
	for name, buf := range bufs {
		if err := w.WriteTensor(name, buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, singleFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("cannot read back our own file: %v", err)
	}
	if !maps.Equal(r.Metadata(), r2.Metadata()) {
		t.Errorf("metadata %v, read back %v", r.Metadata(), r2.Metadata())
	}
	if len(r.Tensors()) != len(r2.Tensors()) {
		t.Fatalf("%d tensors, read back %d", len(r.Tensors()), len(r2.Tensors()))
	}
	for i, a := range r.Tensors() {
		b := r2.Tensors()[i]
		if a.Name != b.Name || a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) || a.Size != b.Size {
			t.Fatalf("tensor %d: %+v, read back %+v", i, a, b)
		}
		buf := make([]byte, b.Size)
		if err := r2.ReadTensorAt(b, buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, bufs[a.Name]) {
			t.Fatalf("tensor %q: data differs after rewrite", a.Name)
		}
	}
}

func fuzzSeeds() [][]byte {
	d := func(n int) []byte { return bytes.Repeat([]byte{0xab}, n) }
	return [][]byte{
		rawFile(`{}`, nil),
		rawFile(`{"__metadata__":{"format":"pt"}}      `, nil),
		rawFile(`{"__metadata__":null}`, nil),
		rawFile(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, d(8)),
		rawFile(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, d(8)),
		rawFile(`{"b":{"dtype":"BF16","shape":[1,3],"data_offsets":[2,8]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"s":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}`, d(16)),
		rawFile(`{"z":{"dtype":"F16","shape":[0],"data_offsets":[0,0]},"f":{"dtype":"F8_E4M3","shape":[3],"data_offsets":[0,3]}}`, d(3)),
		rawFile(`{"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}`, d(20)),
		rawFile(`{"t":{"dtype":"F32","shape":[18446744073709551615,0],"data_offsets":[0,0]}}`, nil),
		rawFile(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, d(8)),
		rawFile(`{"a\u00e9\"\\\n":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}}`, d(1)),
		rawFile(" {}", nil),
		rawFile("{\"\xff\":{}}", nil),
		rawFile(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, d(9)),
		{1, 0},
		// Bare headers, which the target completes with a data section.
		[]byte(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F8_E5M2","shape":[],"data_offsets":[16,17]}}`),
		[]byte(`{"x":{"dtype":"I16","shape":[3],"data_offsets":[0,6]},"y":{"dtype":"U64","shape":[0,5],"data_offsets":[6,6]}}`),
	}
}

// TestDifferentialRandom runs the fuzz checks on generated headers that are
// mostly valid, with one random flaw in some, so that both parsers' accepting
// paths are compared far more often than random bytes manage.
func TestDifferentialRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dtypes := []string{"BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64", "F8_E4M3", "F32 ", "f32"}
	accepted := 0
	for i := range 400 {
		n := rng.IntN(5)
		type ent struct {
			name, dtype string
			shape       []int64
			b, e        int64
		}
		var ents []ent
		var off int64
		for j := range n {
			dt := dtypes[rng.IntN(len(dtypes)-2)]
			shape := make([]int64, rng.IntN(4))
			for k := range shape {
				shape[k] = int64(rng.IntN(4))
			}
			size, _ := byteSize(DType(dt), shape)
			ents = append(ents, ent{fmt.Sprintf("t%d", j), dt, shape, off, off + size})
			off += size
		}
		rng.Shuffle(len(ents), func(a, b int) { ents[a], ents[b] = ents[b], ents[a] })
		dataLen := off
		flaw := rng.IntN(10)
		if n > 0 {
			e := &ents[rng.IntN(n)]
			switch flaw {
			case 1:
				e.e++
			case 2:
				e.b++
			case 3:
				e.dtype = dtypes[len(dtypes)-1-rng.IntN(2)]
			case 4:
				e.name = ents[0].name
			case 5:
				e.shape = append(e.shape, 1<<62)
			}
		}
		switch flaw {
		case 6:
			dataLen++
		case 7:
			dataLen--
		}
		var hdr strings.Builder
		hdr.WriteString("{")
		if rng.IntN(2) == 0 {
			hdr.WriteString(`"__metadata__":{"format":"pt"},`)
		}
		for j, e := range ents {
			if j > 0 {
				hdr.WriteString(",")
			}
			shape, _ := json.Marshal(e.shape)
			if e.shape == nil {
				shape = []byte("[]")
			}
			fmt.Fprintf(&hdr, `%q:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, e.name, e.dtype, shape, e.b, e.e)
		}
		hdr.WriteString("}")
		hdr.WriteString(strings.Repeat(" ", rng.IntN(8)))
		if dataLen < 0 {
			continue
		}
		data := rawFile(hdr.String(), fill(fmt.Sprint(i), dataLen))
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if checkParse(t, data) {
				accepted++
			}
		})
	}
	if accepted < 50 {
		t.Errorf("only %d of the generated files were valid", accepted)
	}
	t.Logf("%d of the generated files were valid", accepted)
}
