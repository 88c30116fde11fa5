package hub_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/hub/hubtest"
)

// fakeHub starts a fake hub holding a tiny model; real code uses
// hub.NewClient() and the real hub.
func fakeHub() (*hubtest.Server, func()) {
	s := hubtest.Start()
	header := []byte(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`)
	st := append([]byte{byte(len(header)), 0, 0, 0, 0, 0, 0, 0}, header...)
	st = append(st, make([]byte, 8)...)
	s.AddRepo("org/tiny", map[string][]byte{
		"config.json":       []byte(`{"architectures": ["LlamaForCausalLM"]}`),
		"model.safetensors": st,
		"README.md":         []byte("# tiny"),
	})
	return s, s.Close
}

func ExampleClient_Resolve() {
	s, stop := fakeHub()
	defer stop()
	cache, _ := os.MkdirTemp("", "hub")
	defer os.RemoveAll(cache)

	c := &hub.Client{Endpoint: s.URL, CacheDir: cache}
	dir, err := c.Resolve(context.Background(), "org/tiny", "main", hub.MergeFiles)
	if err != nil {
		fmt.Println(err)
		return
	}
	rel, _ := filepath.Rel(cache, dir)
	fmt.Println(filepath.Dir(filepath.Dir(rel)))
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		fmt.Println(e.Name())
	}
	// Output:
	// models--org--tiny
	// config.json
	// model.safetensors
}

func ExampleClient_Inspect() {
	s, stop := fakeHub()
	defer stop()
	cache, _ := os.MkdirTemp("", "hub")
	defer os.RemoveAll(cache)

	c := &hub.Client{Endpoint: s.URL, CacheDir: cache}
	m, err := c.Inspect(context.Background(), "org/tiny", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	for _, name := range m.Names() {
		t, _ := m.Tensor(name)
		fmt.Println(name, t.DType, t.Shape)
	}
	fmt.Println("to download:", m.DownloadSize(), "bytes")
	// Output:
	// w F32 [2]
	// to download: 70 bytes
}
