package regfile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789"), 1000)
	reg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(reg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(reg, link); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		path  string
		limit int64
		want  []byte
		err   error
	}{
		{"regular", reg, ConfigLimit, data, nil},
		{"at the limit", reg, int64(len(data)), data, nil},
		{"one byte over", reg, int64(len(data)) - 1, nil, ErrTooLarge},
		{"link to a regular file", link, ConfigLimit, data, nil},
		{"empty", empty, 0, []byte{}, nil},
		{"directory", dir, ConfigLimit, nil, ErrNotRegular},
		{"missing", filepath.Join(dir, "nope"), ConfigLimit, nil, fs.ErrNotExist},
	}
	if _, err := os.Stat(os.DevNull); err == nil {
		tests = append(tests, struct {
			name  string
			path  string
			limit int64
			want  []byte
			err   error
		}{"device", os.DevNull, ConfigLimit, nil, ErrNotRegular})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadFile(tc.path, tc.limit)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil && !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name %s", err, tc.path)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("read %d bytes, want %d", len(got), len(tc.want))
			}
		})
	}
}

// TestOpenFIFO: a FIFO with no writer must be refused, not block the open.
// A hang here is the failure (the test binary's timeout ends it).
func TestOpenFIFO(t *testing.T) {
	fifo := mkfifo(t)
	for _, fn := range []func() error{
		func() error { _, err := Open(fifo); return err },
		func() error { _, err := ReadFile(fifo, ConfigLimit); return err },
		func() error {
			_, err := ReadFileFS(os.DirFS(filepath.Dir(fifo)), filepath.Base(fifo), ConfigLimit)
			return err
		},
	} {
		err := fn()
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("err = %v, want %v", err, ErrNotRegular)
		}
	}
	// The open itself does not block either, for a FIFO that replaces a
	// file between the Stat and the open.
	f, err := open(fifo)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Mode().IsRegular() {
		t.Errorf("stat of the opened FIFO: %v, %v", fi.Mode(), err)
	}
}

// lyingFile reports fewer bytes than it holds, as a file that grows while
// it is read does.
type lyingFile struct {
	io.Reader
	size int64
}

func (f lyingFile) Stat() (fs.FileInfo, error) {
	return fstest.MapFS{"f": {Data: make([]byte, f.size)}}.Stat("f")
}
func (lyingFile) Close() error { return nil }

func TestReadFileFSLimit(t *testing.T) {
	fsys := fstest.MapFS{"task.yaml": {Data: []byte("task: x\n"), ModTime: time.Unix(0, 0)}, "d": {Mode: fs.ModeDir}}
	if b, err := ReadFileFS(fsys, "task.yaml", 8); err != nil || string(b) != "task: x\n" {
		t.Errorf("ReadFileFS = %q, %v", b, err)
	}
	if _, err := ReadFileFS(fsys, "task.yaml", 7); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: err = %v", err)
	}
	if _, err := ReadFileFS(fsys, "d", 7); !errors.Is(err, ErrNotRegular) {
		t.Errorf("directory: err = %v", err)
	}
	var se *SizeError
	if _, err := read(lyingFile{bytes.NewReader(make([]byte, 100)), 10}, "f", 50); !errors.As(err, &se) || se.Limit != 50 {
		t.Errorf("file larger than its size: err = %v", err)
	}
	if b, err := read(lyingFile{bytes.NewReader(make([]byte, 50)), 10}, "f", 50); err != nil || len(b) != 50 {
		t.Errorf("file larger than its size, within the limit: %d bytes, %v", len(b), err)
	}
}
