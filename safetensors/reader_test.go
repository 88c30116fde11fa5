package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const okTensor = `"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`

func TestMalformed(t *testing.T) {
	data8 := make([]byte, 8)
	withLen := func(n uint64, rest string) []byte {
		return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
	}
	tests := []struct {
		name   string
		file   []byte
		tensor string // tensor the message must name; "" for none
		want   string // substring of the message
	}{
		{"empty file", nil, "", "too short"},
		{"short file", []byte{1, 0, 0}, "", "too short"},
		{"header over 100MB", withLen(100_000_001, "{}"), "", "exceeds the limit"},
		{"header past EOF", withLen(3, "{}"), "", "exceeds the 2 bytes"},
		{"huge header length", withLen(1<<63, "{}"), "", "exceeds the limit"},
		{"empty header", withLen(0, ""), "", "does not start with '{'"},
		{"leading space", rawFile(` {}`, nil), "", "does not start with '{'"},
		{"array", rawFile(`[]`, nil), "", "does not start with '{'"},
		{"bad utf8", rawFile("{\"\xff\":1}", nil), "", "not valid UTF-8"},
		{"bad json", rawFile(`{"t":`, nil), "t", "header JSON"},
		{"bad json key", rawFile(`{"t"`, nil), "t", "header JSON"},
		{"non-string key", rawFile(`{1:2}`, nil), "", "header JSON"},
		{"unterminated", rawFile(`{"t":{"dtype":"F32"`, nil), "t", "header JSON"},
		{"trailing object", rawFile(`{} {}`, nil), "", "header JSON"},
		{"trailing junk", rawFile(`{}x`, nil), "", "header JSON"},
		{"nul padding", rawFile("{}\x00", nil), "", "header JSON"},
		{"duplicate tensor", rawFile(`{`+okTensor+`,`+okTensor+`}`, data8), "t", `duplicate key "t"`},
		{"duplicate metadata", rawFile(`{"__metadata__":{},"__metadata__":{}}`, nil), "__metadata__", "duplicate key"},
		{"duplicate metadata key", rawFile(`{"__metadata__":{"a":"b","a":"c"}}`, nil), "", `__metadata__: duplicate key "a"`},
		{"duplicate field", rawFile(`{"t":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data8), "t", `duplicate key "dtype"`},
		{"metadata number", rawFile(`{"__metadata__":{"a":1}}`, nil), "", "__metadata__: key \"a\": got number 1, want a string"},
		{"metadata string", rawFile(`{"__metadata__":"x"}`, nil), "", "__metadata__: got string"},
		{"metadata nested", rawFile(`{"__metadata__":{"a":{}}}`, nil), "", "__metadata__"},
		{"tensor not object", rawFile(`{"t":[1]}`, nil), "t", "want an object"},
		{"tensor null", rawFile(`{"t":null}`, nil), "t", "want an object"},
		{"unknown dtype", rawFile(`{"t":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}`, data8), "t", `unknown dtype "F33"`},
		{"dtype not string", rawFile(`{"t":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, data8), "t", "dtype: got number 4"},
		{"sub-byte dtype", rawFile(`{"t":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}`, data8[:1]), "t", `unknown dtype "F4"`},
		{"missing dtype", rawFile(`{"t":{"shape":[2],"data_offsets":[0,8]}}`, data8), "t", "missing dtype"},
		{"missing shape", rawFile(`{"t":{"dtype":"F32","data_offsets":[0,8]}}`, data8), "t", "missing shape"},
		{"missing offsets", rawFile(`{"t":{"dtype":"F32","shape":[2]}}`, data8), "t", "missing data_offsets"},
		{"unknown field", rawFile(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, data8), "t", `unknown field "x"`},
		{"negative dim", rawFile(`{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, data8), "t", "shape: got -2"},
		{"float dim", rawFile(`{"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}`, data8), "t", "shape: got 2.0"},
		{"exponent dim", rawFile(`{"t":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}`, data8), "t", "shape: got 2e0"},
		{"string dim", rawFile(`{"t":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}`, data8), "t", "shape: got string"},
		{"huge dim", rawFile(`{"t":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}`, data8), "t", "out of range"},
		{"dim over int64", rawFile(`{"t":{"dtype":"F32","shape":[9223372036854775808,0],"data_offsets":[0,0]}}`, nil), "t", "out of range"},
		{"element overflow", rawFile(`{"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, data8), "t", "element count out of range"},
		{"byte overflow", rawFile(`{"t":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}}`, data8), "t", "byte size out of range"},
		{"shape not array", rawFile(`{"t":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}`, data8), "t", "shape: header JSON: got number 2"},
		{"one offset", rawFile(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[8]}}`, data8), "t", "data_offsets has 1 values, want 2"},
		{"three offsets", rawFile(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}`, data8), "t", "data_offsets has 3 values"},
		{"reversed offsets", rawFile(`{"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, data8), "t", "end before they begin"},
		{"size mismatch", rawFile(`{"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}`, make([]byte, 20)), "t", "shape [2 3] × F32 is 24 bytes but data_offsets span 20"},
		{"gap at start", rawFile(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)), "t", "leave a gap after offset 0"},
		{"gap between", rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}`, make([]byte, 5)), "b", "gap after offset 2"},
		{"overlap", rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}`, make([]byte, 3)), "b", "overlap"},
		{"same offsets", rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, make([]byte, 4)), "b", "overlap"},
		{"trailing data", rawFile(`{`+okTensor+`}`, make([]byte, 9)), "", "tensors end at data offset 8 but the data section is 9 bytes"},
		{"truncated data", rawFile(`{`+okTensor+`}`, make([]byte, 7)), "", "data section is 7 bytes"},
		{"data without tensors", rawFile(`{}`, make([]byte, 1)), "", "data section is 1 bytes"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.file), int64(len(tt.file)))
			checkFormatError(t, err, "", tt.tensor, tt.want)

			path := filepath.Join(dir, "model.safetensors")
			if err := os.WriteFile(path, tt.file, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Open(path)
			checkFormatError(t, err, path, tt.tensor, tt.want)
			_, err = OpenModel(dir)
			checkFormatError(t, err, path, tt.tensor, tt.want)
		})
	}
}

func checkFormatError(t *testing.T, err error, file, tensor, want string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if !errors.Is(err, ErrFormat) {
		t.Errorf("error %q does not wrap ErrFormat", err)
	}
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %q is not a *FormatError", err)
	}
	if fe.File != file || fe.Tensor != tensor {
		t.Errorf("File, Tensor = %q, %q; want %q, %q", fe.File, fe.Tensor, file, tensor)
	}
	msg := err.Error()
	if !strings.Contains(msg, want) || !strings.HasSuffix(msg, ": "+ErrFormat.Error()) {
		t.Errorf("message %q does not contain %q and end with ErrFormat", msg, want)
	}
	if file != "" && !strings.HasPrefix(msg, file+": ") {
		t.Errorf("message %q does not start with the file name", msg)
	}
	if tensor != "" && !strings.Contains(msg, `tensor "`+tensor+`": `) {
		t.Errorf("message %q does not name tensor %q", msg, tensor)
	}
}

func TestFormatErrorMessage(t *testing.T) {
	err := &FormatError{File: "model.safetensors", Tensor: "x", Err: errors.New("shape [2 3] × F32 is 24 bytes but data_offsets span 20")}
	want := `model.safetensors: tensor "x": shape [2 3] × F32 is 24 bytes but data_offsets span 20: safetensors: invalid file`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	if got := (&FormatError{Err: ErrFormat}).Error(); got != ErrFormat.Error() {
		t.Errorf("got %q", got)
	}
}

// TestAccepted lists edge cases that valid files may contain.
func TestAccepted(t *testing.T) {
	tests := []struct {
		name string
		file []byte
		meta map[string]string
		want []string // tensor names in data order
	}{
		{"empty", rawFile(`{}`, nil), nil, nil},
		{"padded", rawFile("{} \t\r\n  ", nil), nil, nil},
		{"metadata null", rawFile(`{"__metadata__":null}`, nil), nil, nil},
		{"metadata empty", rawFile(`{"__metadata__":{}}`, nil), map[string]string{}, nil},
		{"metadata", rawFile(`{"__metadata__":{"format":"pt","x":"\u00e9\n"}}`, nil), map[string]string{"format": "pt", "x": "é\n"}, nil},
		{"scalar", rawFile(`{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}`, make([]byte, 8)), nil, []string{"s"}},
		{"zero-size", rawFile(`{"z":{"dtype":"F32","shape":[3,0],"data_offsets":[0,0]}}`, nil), nil, []string{"z"}},
		{"zero-size huge dims", rawFile(`{"z":{"dtype":"F32","shape":[0,9223372036854775807],"data_offsets":[0,0]}}`, nil), nil, []string{"z"}},
		{
			"out of order",
			rawFile(`{"b":{"data_offsets":[2,5],"shape":[3],"dtype":"U8"},"z":{"dtype":"U8","shape":[0],"data_offsets":[2,2]},"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}`, make([]byte, 5)),
			nil, []string{"a", "z", "b"},
		},
		{"escaped name", rawFile(`{"\u0061\"\\":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{7}), nil, []string{"a\"\\"}},
		{"empty name", rawFile(`{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{7}), nil, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tt.file), int64(len(tt.file)))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, info := range r.Tensors() {
				names = append(names, info.Name)
				dst := make([]byte, info.Size)
				if err := r.ReadTensor(info.Name, dst); err != nil {
					t.Fatal(err)
				}
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Errorf("tensors %q, want %q", names, tt.want)
			}
			if len(r.Metadata()) != len(tt.meta) || (r.Metadata() == nil) != (tt.meta == nil) {
				t.Errorf("metadata %#v, want %#v", r.Metadata(), tt.meta)
			}
			for k, v := range tt.meta {
				if r.Metadata()[k] != v {
					t.Errorf("metadata[%q] = %q, want %q", k, r.Metadata()[k], v)
				}
			}
		})
	}
}

func TestTensorInfo(t *testing.T) {
	file := rawFile(`{"__metadata__":{"format":"pt"},"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},"s":{"dtype":"I32","shape":[],"data_offsets":[12,16]}}`, []byte("0123456789abcdef"))
	hdrEnd := int64(len(file) - 16)
	r, err := NewReader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	w, ok := r.Tensor("w")
	if !ok || w.Offset != hdrEnd || w.Size != 12 || w.NumElements() != 6 || w.DType != BF16 || w.DType.Size() != 2 {
		t.Errorf("w = %+v", w)
	}
	s, _ := r.Tensor("s")
	if s.Offset != hdrEnd+12 || s.NumElements() != 1 || s.Shape == nil {
		t.Errorf("s = %+v", s)
	}
	dst := make([]byte, 4)
	if err := r.ReadTensor("s", dst); err != nil || string(dst) != "cdef" {
		t.Errorf("ReadTensor(s) = %q, %v", dst, err)
	}
	if err := r.ReadTensor("w", dst); err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("ReadTensor with a short buffer: %v", err)
	}
	if err := r.ReadTensor("nope", dst); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadTensor(nope) = %v", err)
	}
	if _, ok := r.Tensor("nope"); ok {
		t.Error(`Tensor("nope") found`)
	}
}

// TestTruncatedAfterOpen checks that a file shrinking under an open Reader
// gives an error naming the file and tensor, not a panic.
func TestTruncatedAfterOpen(t *testing.T) {
	dir := t.TempDir()
	writeModel(t, dir, []TensorSpec{spec("a", 100)}, WriterOptions{})
	path := filepath.Join(dir, "model.safetensors")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Name() != path {
		t.Errorf("Name() = %q", f.Name())
	}
	if err := os.Truncate(path, 100); err != nil {
		t.Fatal(err)
	}
	err = f.ReadTensor("a", make([]byte, 100))
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("ReadTensor of truncated file: %v", err)
	}
}
