package hub

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomerge/gomerge/hub/hubtest"
)

// TestUploadFolder creates a repository on the fake hub, uploads a folder
// (an LFS weight file, small files, a hidden file left out) and reads it
// back through Resolve; a second upload of the same weights sends no LFS
// bytes again.
func TestUploadFolder(t *testing.T) {
	srv := hubtest.NewServer(t)
	srv.AddWriter("hf_writer")
	dir := t.TempDir()
	weights := bytes.Repeat([]byte{1, 2, 3, 4}, 100_000)
	files := map[string][]byte{"model.safetensors": weights, "config.json": []byte(`{"a": 1}`), "README.md": []byte("# card\n")}
	for n, d := range files {
		os.WriteFile(filepath.Join(dir, n), d, 0o644)
	}
	os.WriteFile(filepath.Join(dir, ".gomerge-output.json"), []byte("{}"), 0o644)
	ctx := context.Background()
	c := &Client{Endpoint: srv.URL, CacheDir: t.TempDir(), Token: "hf_writer"}
	if err := c.CreateRepo(ctx, "automerger/Child-7B", false); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateRepo(ctx, "automerger/Child-7B", false); err != nil {
		t.Fatalf("exist_ok: %v", err)
	}
	commit, err := c.UploadFolder(ctx, "automerger/Child-7B", dir, "Upload Child-7B")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Resolve(ctx, "automerger/Child-7B", commit, AllFiles)
	if err != nil {
		t.Fatal(err)
	}
	for n, d := range files {
		b, err := os.ReadFile(filepath.Join(got, n))
		if err != nil || !bytes.Equal(b, d) {
			t.Errorf("%s: %v, %d bytes, want %d", n, err, len(b), len(d))
		}
	}
	if _, err := os.Stat(filepath.Join(got, ".gomerge-output.json")); err == nil {
		t.Error("a hidden file was uploaded")
	}
	puts := func() int {
		n := 0
		for _, r := range srv.Requests() {
			if r.Method == "PUT" {
				n++
				if r.Auth {
					t.Error("the token went to the CDN with an LFS upload")
				}
			}
		}
		return n
	}
	if puts() != 1 {
		t.Errorf("%d LFS uploads, want 1", puts())
	}
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("# card v2\n"), 0o644)
	if _, err := c.UploadFolder(ctx, "automerger/Child-7B", dir, "Update card"); err != nil {
		t.Fatal(err)
	}
	if puts() != 1 {
		t.Errorf("the weights were sent again: %d LFS uploads", puts())
	}

	anon := &Client{Endpoint: srv.URL, CacheDir: t.TempDir()}
	if err := anon.CreateRepo(ctx, "automerger/X", false); !errors.Is(err, ErrNoToken) {
		t.Errorf("no token: %v", err)
	}
	reader := &Client{Endpoint: srv.URL, CacheDir: t.TempDir(), Token: "hf_reader"}
	if err := reader.CreateRepo(ctx, "automerger/X", false); err == nil {
		t.Error("a token without write access created a repository")
	}
	if _, err := c.UploadFolder(ctx, "automerger/Missing", dir, "x"); err == nil {
		t.Error("uploaded to a repository that does not exist")
	}
}
