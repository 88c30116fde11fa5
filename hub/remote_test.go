package hub

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomerge/gomerge/hub/hubtest"
	"github.com/gomerge/gomerge/safetensors"
)

func TestInspectFetchesOnlyHeaders(t *testing.T) {
	s := hubtest.NewServer(t)
	files := testModel(t)
	commit := s.AddRepo(repoID, files)
	c := testClient(t, s)
	m, err := c.Inspect(context.Background(), repoID, "main")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Commit != commit || !bytes.Equal(m.Config, files["config.json"]) || !bytes.Equal(m.Index, files["model.safetensors.index.json"]) {
		t.Errorf("commit %s, config %q, index %q", m.Commit, m.Config, m.Index)
	}
	shards := []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}
	var wantSize int64
	for i, sh := range shards {
		// Each shard's header came in one 64 KiB range request.
		if got := s.BytesServed(sh); got != readAhead {
			t.Errorf("%s: %d bytes fetched, want %d (one read-ahead)", sh, got, readAhead)
		}
		if w := m.Weights[i]; w.Name != sh || w.Size != int64(len(files[sh])) || w.Cached {
			t.Errorf("weight %d = %+v", i, w)
		}
		wantSize += int64(len(files[sh]))
		// The tensors are those a local read of the shard finds.
		r, err := safetensors.NewReader(bytes.NewReader(files[sh]), int64(len(files[sh])))
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range r.Tensors() {
			got, ok := m.Tensor(ti.Name)
			if !ok || got.DType != ti.DType || !slices.Equal(got.Shape, ti.Shape) || got.Size != ti.Size || m.File(ti.Name) != sh {
				t.Errorf("tensor %s = %+v in %s, want %+v in %s", ti.Name, got, m.File(ti.Name), ti, sh)
			}
		}
	}
	if m.DownloadSize() != wantSize || m.BytesFetched() != 2*readAhead {
		t.Errorf("DownloadSize %d (want %d), BytesFetched %d", m.DownloadSize(), wantSize, m.BytesFetched())
	}
	if len(m.Names()) != 4 {
		t.Errorf("names %v", m.Names())
	}
	// The small files are in the cache for the planner and later runs.
	for _, f := range []string{"config.json", "model.safetensors.index.json", "tokenizer.json"} {
		if s.BytesServed(f) != int64(len(files[f])) {
			t.Errorf("%s not fetched", f)
		}
	}
	// Reading a tensor through the Source works, over the network.
	ti, _ := m.Tensor("lm_head.weight")
	dst := make([]byte, ti.Size)
	if err := m.ReadTensorRange("lm_head.weight", 0, dst); err != nil {
		t.Fatal(err)
	}
	sh := files["model-00002-of-00002.safetensors"]
	local, _ := safetensors.NewReader(bytes.NewReader(sh), int64(len(sh)))
	want := make([]byte, ti.Size)
	lt, _ := local.Tensor("lm_head.weight")
	local.ReadTensorAt(lt, want)
	if !bytes.Equal(dst, want) {
		t.Error("tensor data read remotely differs")
	}

	// Once resolved, Inspect reads the headers from the cache.
	if _, err := c.Resolve(context.Background(), repoID, "main", nil); err != nil {
		t.Fatal(err)
	}
	s.ResetCounters()
	m2, err := c.Inspect(context.Background(), repoID, "main")
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if m2.DownloadSize() != 0 || m2.BytesFetched() != 0 || !m2.Weights[0].Cached || len(m2.Names()) != 4 {
		t.Errorf("cached Inspect: %+v, fetched %d", m2.Weights, m2.BytesFetched())
	}
	if reqs := s.Requests(); len(reqs) != 1 {
		t.Errorf("cached Inspect made requests %+v; want only the API call", reqs)
	}
}

func TestInspectBadIndex(t *testing.T) {
	s := hubtest.NewServer(t)
	files := testModel(t)
	files["model.safetensors.index.json"] = []byte(`{"weight_map": {"lm_head.weight": "model-00001-of-00002.safetensors",
		"model.embed_tokens.weight": "model-00001-of-00002.safetensors", "model.layers.1.mlp.weight": "model-00002-of-00002.safetensors"}}`)
	s.AddRepo(repoID, files)
	_, err := testClient(t, s).Inspect(context.Background(), repoID, "main")
	if err == nil {
		t.Fatal("an index that puts a tensor in the wrong shard was accepted")
	}
	t.Log(err)
}

func TestInspectBadHeader(t *testing.T) {
	s := hubtest.NewServer(t)
	s.AddRepo(repoID, map[string][]byte{"config.json": []byte("{}"), "model.safetensors": []byte("\xff\xff\xff\xff\xff\xff\xff\x00 not a header")})
	_, err := testClient(t, s).Inspect(context.Background(), repoID, "main")
	if !errors.Is(err, safetensors.ErrFormat) {
		t.Fatalf("err = %v, want a safetensors format error", err)
	}
}

func TestRemoteFileReadAt(t *testing.T) {
	s := hubtest.NewServer(t)
	data := safetensorsFile(t, 9, map[string]int{"a": 100_000})
	s.AddRepo(repoID, map[string][]byte{"model.safetensors": data, "config.json": []byte(`{"a": 1}`)})
	c := testClient(t, s)
	for _, name := range []string{"model.safetensors", "config.json"} { // via the CDN, and straight from the hub
		want := data
		if name == "config.json" {
			want = []byte(`{"a": 1}`)
		}
		f, err := c.OpenRemote(context.Background(), repoID, "main", name)
		if err != nil {
			t.Fatal(err)
		}
		if f.Size() != int64(len(want)) {
			t.Fatalf("Size = %d, want %d", f.Size(), len(want))
		}
		r := rand.New(rand.NewPCG(1, 2))
		for range 50 {
			off := r.Int64N(int64(len(want)) + 10)
			n := r.IntN(200_000)
			p := make([]byte, n)
			got, err := f.ReadAt(p, off)
			wantN := max(0, min(int64(n), int64(len(want))-off))
			if int64(got) != wantN || !bytes.Equal(p[:got], want[min(off, int64(len(want))):][:got]) {
				t.Fatalf("%s: ReadAt(%d bytes, %d) = %d, %v; want %d bytes", name, n, off, got, err, wantN)
			}
			if (wantN < int64(n)) != (err == io.EOF) {
				t.Fatalf("%s: ReadAt(%d bytes, %d): err = %v", name, n, off, err)
			}
		}
	}
	// A cut connection during a range read is resumed.
	f, err := c.OpenRemote(context.Background(), repoID, "main", "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	s.Cut("model.safetensors", 1000, 1)
	p := make([]byte, 300_000)
	if _, err := f.ReadAt(p, 0); err != nil || !bytes.Equal(p, data[:len(p)]) {
		t.Fatalf("ReadAt across a cut connection: %v", err)
	}
	if f.BytesFetched() != int64(len(p)) {
		t.Errorf("BytesFetched = %d, want %d", f.BytesFetched(), len(p))
	}
}

func TestRemoteFileRefreshesExpiredURL(t *testing.T) {
	s := hubtest.NewServer(t)
	data := safetensorsFile(t, 5, map[string]int{"a": 1000})
	s.AddRepo(repoID, map[string][]byte{"model.safetensors": data})
	c := testClient(t, s)
	f, err := c.OpenRemote(context.Background(), repoID, "main", "model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	s.Fail("model.safetensors", 1, 403) // the signed CDN URL expired
	p := make([]byte, 100)
	if _, err := f.ReadAt(p, 0); err != nil || !bytes.Equal(p, data[:100]) {
		t.Fatalf("ReadAt after a 403 from the CDN: %v", err)
	}
	heads := 0
	for _, r := range s.Requests() {
		if r.Method == "HEAD" {
			heads++
		}
	}
	if heads != 2 {
		t.Errorf("%d HEAD requests, want 2 (open, refresh)", heads)
	}
}

func TestInspectOffline(t *testing.T) {
	s := hubtest.NewServer(t)
	s.AddRepo(repoID, testModel(t))
	c := testClient(t, s)
	if _, err := c.Resolve(context.Background(), repoID, "main", nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	c.Offline = true
	m, err := c.Inspect(context.Background(), repoID, "main")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if len(m.Names()) != 4 || m.DownloadSize() != 0 {
		t.Errorf("offline Inspect: names %v, download %d", m.Names(), m.DownloadSize())
	}
	c.CacheDir = t.TempDir()
	if _, err := c.Inspect(context.Background(), repoID, "main"); !errors.Is(err, ErrNotCached) {
		t.Errorf("offline Inspect of an empty cache: err = %v", err)
	}
}
