package pytorch

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// fuzzRecords are the storage records every fuzzed pickle may reference:
// keys "0" to "15", 256 bytes each, enough for the variants checkpoints.
func fuzzRecords() map[string][]byte {
	recs := map[string][]byte{}
	for i := range 16 {
		recs[strconv.Itoa(i)] = bytes.Repeat([]byte{byte(i)}, 256)
	}
	return recs
}

// FuzzPickle runs arbitrary bytes as a checkpoint's data.pkl, in the zip and
// legacy formats. It must never panic, and every tensor of an accepted file
// must read back at its announced size.
func FuzzPickle(f *testing.F) {
	for _, name := range []string{"variants/variants.bin", "variants/variants_proto4.bin", "statedict/pytorch_model.bin"} {
		data, err := os.ReadFile(filepath.Join(refDir, name))
		if err != nil {
			f.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			f.Fatal(err)
		}
		for _, zf := range zr.File {
			if filepath.Base(zf.Name) == "data.pkl" {
				b, err := readSmallN(zf)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(b)
			}
		}
	}
	f.Add(tensorPickle(6, 1, []int32{3, 2}, []int32{0, 1}))
	f.Add(tensorPickle(24, 1, []int32{2, 2, 2}, []int32{12, 4, 2}))
	f.Add(newPK(2).global("builtins", "eval").op(opEmptyTuple, opReduce).stop())
	recs := fuzzRecords()
	f.Fuzz(func(t *testing.T, pkl []byte) {
		data := zipCheckpoint(t, pkl, zip.Store, recs)
		checkFile(t, data)
		// The same pickle through the legacy loader's persistent ids.
		u, _, err := unpickle(bytes.NewReader(pkl), newLoader(true))
		if err == nil && u == nil {
			return
		}
		if err != nil && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsafe) {
			t.Fatalf("legacy: error wraps neither ErrFormat nor ErrUnsafe: %v", err)
		}
	})
}

// FuzzOpen runs arbitrary bytes as a whole checkpoint file.
func FuzzOpen(f *testing.F) {
	for _, name := range []string{"variants/variants.bin", "variants/variants_legacy.bin", "variants/variants_proto4.bin"} {
		data, err := os.ReadFile(filepath.Join(refDir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkFile(t, data) })
}

func checkFile(t *testing.T, data []byte) {
	pf, err := newFile(bytes.NewReader(data), int64(len(data)), "fuzz.bin")
	if err != nil {
		if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsafe) {
			t.Fatalf("error wraps neither ErrFormat nor ErrUnsafe: %v", err)
		}
		return
	}
	for _, name := range pf.Names() {
		ti, _ := pf.Tensor(name)
		if ti.Size > 1<<20 {
			continue
		}
		buf := make([]byte, ti.Size)
		if pf.tensors[name].data.zf != nil {
			continue // inflating may fail at read time: a deflate stream is checked as it is read
		}
		if err := pf.ReadTensor(name, buf); err != nil {
			t.Fatalf("accepted tensor %q does not read: %v", name, err)
		}
		if ti.Size > 2 {
			if err := pf.ReadTensorRange(name, 1, buf[:ti.Size-2]); err != nil {
				t.Fatalf("accepted tensor %q: range: %v", name, err)
			}
		}
	}
}

func readSmallN(zf *zip.File) ([]byte, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(rc)
	return b.Bytes(), err
}
