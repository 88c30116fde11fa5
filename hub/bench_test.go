package hub

import (
	"context"
	"os"
	"testing"

	"github.com/gomerge/gomerge/hub/hubtest"
)

// BenchmarkDownload measures a download through the fake hub and its CDN
// on loopback, including the sha256 check, the fsync and the move into
// blobs/. HUB_BENCH_CACHE puts the cache elsewhere, e.g. on /dev/shm.
func BenchmarkDownload(b *testing.B) {
	const size = 64 << 20
	s := hubtest.NewServer(b)
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	s.AddRepo(repoID, map[string][]byte{"config.json": []byte("{}"), "model.safetensors": data})
	b.SetBytes(size)
	cache := os.Getenv("HUB_BENCH_CACHE") // e.g. /dev/shm/hub, to leave the disk out
	for b.Loop() {
		c := testClient(b, s)
		c.Logger = nil
		if cache != "" {
			os.RemoveAll(cache)
			c.CacheDir = cache
		}
		if _, err := c.Resolve(context.Background(), repoID, "main", nil); err != nil {
			b.Fatal(err)
		}
	}
}
