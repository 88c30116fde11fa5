package hub

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/gomerge/gomerge/hub/hubtest"
)

// safetensorsFile builds a safetensors file of F32 tensors with the given
// element counts and pseudo-random data.
func safetensorsFile(t testing.TB, seed uint64, tensors map[string]int) []byte {
	t.Helper()
	hdr := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var names []string
	for n := range tensors {
		names = append(names, n)
	}
	// Deterministic order.
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if names[j] < names[i] {
				names[i], names[j] = names[j], names[i]
			}
		}
	}
	var off int
	for _, n := range names {
		size := tensors[n] * 4
		hdr[n] = map[string]any{"dtype": "F32", "shape": []int{tensors[n]}, "data_offsets": []int{off, off + size}}
		off += size
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(js)))
	b.Write(js)
	r := rand.New(rand.NewPCG(seed, 1))
	data := make([]byte, off)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	b.Write(data)
	return b.Bytes()
}

// testModel is a small sharded model repository with the files a real one
// has, including some a merge does not need.
func testModel(t testing.TB) map[string][]byte {
	shard1 := safetensorsFile(t, 1, map[string]int{"model.embed_tokens.weight": 40000, "model.layers.0.mlp.weight": 30000})
	shard2 := safetensorsFile(t, 2, map[string]int{"model.layers.1.mlp.weight": 50000, "lm_head.weight": 1000})
	index := `{"metadata": {"total_size": 484000}, "weight_map": {
		"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
		"model.layers.0.mlp.weight": "model-00001-of-00002.safetensors",
		"model.layers.1.mlp.weight": "model-00002-of-00002.safetensors",
		"lm_head.weight": "model-00002-of-00002.safetensors"}}`
	return map[string][]byte{
		"config.json":                      []byte(`{"architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2}`),
		"generation_config.json":           []byte(`{"do_sample": true}`),
		"tokenizer.json":                   []byte(`{"version": "1.0"}`),
		"tokenizer_config.json":            []byte(`{"chat_template": "{{ messages }}"}`),
		"special_tokens_map.json":          []byte(`{}`),
		"tokenizer.model":                  bytes.Repeat([]byte("spm"), 1000),
		"model.safetensors.index.json":     []byte(index),
		"model-00001-of-00002.safetensors": shard1,
		"model-00002-of-00002.safetensors": shard2,
		"README.md":                        []byte("# model card\n"),
		".gitattributes":                   []byte("*.safetensors filter=lfs\n"),
		"consolidated.safetensors":         safetensorsFile(t, 3, map[string]int{"w": 100000}),
		"training_args.bin":                bytes.Repeat([]byte{1}, 5000),
		"original/params.json":             []byte(`{}`),
		"original/consolidated.00.pth":     bytes.Repeat([]byte{2}, 5000),
	}
}

// mergeNeeds lists what MergeFiles selects from testModel.
var mergeNeeds = []string{
	"config.json", "generation_config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
	"model.safetensors.index.json", "special_tokens_map.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json",
}

// testClient returns a client of the fake hub with a fresh cache, fast
// retries and a test logger.
func testClient(t testing.TB, s *hubtest.Server) *Client {
	return &Client{
		Endpoint:   s.URL,
		CacheDir:   t.TempDir(),
		HTTPClient: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		Logger:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RetryWait:  time.Millisecond,
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

var _ = fmt.Sprint
var _ = io.EOF
