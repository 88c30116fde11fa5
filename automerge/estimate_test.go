package automerge

import (
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gomerge/gomerge/hub"
	"github.com/gomerge/gomerge/hub/hubtest"
	"github.com/gomerge/gomerge/merge"
)

// safetensorsOf is a safetensors file of one F32 tensor of n values.
func safetensorsOf(n int) []byte {
	hdr := []byte(`{"w":{"dtype":"F32","shape":[` + strconv.Itoa(n) + `],"data_offsets":[0,` + strconv.Itoa(4*n) + `]}}`)
	for len(hdr)%8 != 0 {
		hdr = append(hdr, ' ')
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(b, hdr...)
	return append(b, make([]byte, 4*n)...)
}

// TestParentBytes: the disk check counts a hub parent's weights as the hub
// lists them (it counted none: 1 MiB of slack for a 7B parent), a local
// parent's files, a model+lora reference's model, and 0 for what cannot
// be known.
func TestParentBytes(t *testing.T) {
	srv := hubtest.NewServer(t)
	st := safetensorsOf(3 << 18) // 3 MiB of weights
	srv.AddRepo("org/big", map[string][]byte{"config.json": []byte(`{"model_type":"llama"}`), "model.safetensors": st})
	local := t.TempDir()
	if err := os.WriteFile(filepath.Join(local, "model.safetensors"), safetensorsOf(1000), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &session{log: slog.New(slog.DiscardHandler),
		opt: Options{Merge: merge.Options{PlanOptions: merge.PlanOptions{Hub: &hub.Client{Endpoint: srv.URL, CacheDir: t.TempDir()}}}}}
	ctx := context.Background()
	for _, tc := range []struct {
		ref  string
		want int64
	}{
		{"org/big", int64(len(st))},
		{"org/big+org/lora", int64(len(st))},
		{local, int64(len(safetensorsOf(1000)))},
		{local + "+" + local, int64(len(safetensorsOf(1000)))},
		{"org/missing", 0},
		{filepath.Join(local, "nothing"), 0},
	} {
		if got := s.parentBytes(ctx, tc.ref); got != tc.want {
			t.Errorf("parentBytes(%s) = %d, want %d", tc.ref, got, tc.want)
		}
	}
	need := estimateBytes([]string{local, "org/big"}, func(r string) int64 { return s.parentBytes(ctx, r) })
	if want := uint64(len(st)) + uint64(len(st))/10 + 1<<20; need != want {
		t.Errorf("estimate %d, want %d", need, want)
	}
}
